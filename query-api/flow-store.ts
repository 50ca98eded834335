/**
 * Flow history from ClickHouse, with Hubble's GetFlows semantics:
 * - the window is [since, until], both inclusive, until defaulting to now and since to until minus the widest
 *   allowed range;
 * - `number` N with `first`: the oldest N of the window; without `first`: the newest N, streamed oldest to newest;
 *   N = 0: every flow of the window.
 * Flows are read in time windows that grow while they come back sparse, so "the last 20 flows of a pod" reads
 * the last hour, not the last month, and a long window streams with bounded memory. Every query carries the
 * configured time and memory limits; ties on time are broken by uuid so that paging never skips or repeats.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { LookbackError } from '../common/errors.js';
import { ParamBag, type CompiledFlowFilters } from '../common/flow-filter/index.js';
import { FLOW_SELECT, rowToFlow, type FlowRow } from '../common/flow-row.js';
import { DEFAULT_ROW, selectList } from './columns.js';
import type { Flow } from '../schemas/flow-types.js';

export interface FlowQuery {
  filters: CompiledFlowFilters;
  /** Inclusive bounds in nanoseconds since the epoch; null for open. */
  sinceNs: bigint | null;
  untilNs: bigint | null;
  /** 0n: all flows of the window. */
  number: bigint;
  first: boolean;
  /** Columns to read (query-api/columns.ts); null or absent: all of them. */
  columns?: readonly string[] | null;
}

export interface StoreLimits {
  maxTimeRangeMs: number;
  maxFlowsPerStream: number;
  maxNewest: number;
  queryTimeoutMs: number;
  maxMemoryUsage: number;
}

export interface StreamResult {
  count: number;
  /** Time of the newest flow streamed (null when none). */
  lastTimeNs: bigint | null;
}

export type FlowSink = (flow: Flow) => void | Promise<void>;

/** A position in (time, uuid) order: the last flow a page returned. */
export interface FlowCursor {
  time: bigint;
  uuid: string;
}

const NS_PER_MS = 1_000_000n;
const HOUR_NS = 3_600_000_000_000n;
/** Below this many newest flows, collect them newest-first in memory; above, find the boundary and stream. */
const IN_MEMORY_NEWEST = 10_000;
/** Rows per window the adaptive reader aims at (a window is one query). */
const TARGET_ROWS = 50_000;

export interface FlowStore {
  /** Resolves the effective window of a request (throws InvalidArgument when it is too wide). */
  window(q: Pick<FlowQuery, 'sinceNs' | 'untilNs'>, nowNs?: bigint): { since: bigint; until: bigint };
  /** Streams a query's flows, oldest to newest, into `sink` (awaited: a slow client slows the reading). */
  stream(q: FlowQuery, sink: FlowSink, signal?: AbortSignal): Promise<StreamResult>;
  /**
   * One page of a flow search: up to `limit` flows after `cursor` (exclusive), newest first (`desc`) or oldest
   * first (`asc`), within [since, until].
   */
  page(q: { filters: CompiledFlowFilters; since: bigint; until: bigint }, limit: number, order: 'asc' | 'desc', cursor: FlowCursor | null, signal?: AbortSignal): Promise<Flow[]>;
  /** The settings every query of this store runs with. */
  readonly settings: ClickHouseSettings;
  readonly client: ClickHouseClient;
}

export function createFlowStore(client: ClickHouseClient, limits: StoreLimits): FlowStore {
  const settings: ClickHouseSettings = {
    max_execution_time: Math.max(1, Math.ceil(limits.queryTimeoutMs / 1000)),
    max_memory_usage: String(limits.maxMemoryUsage),
    // FLOW_SELECT reads `time` back as an aliased string: WHERE and ORDER BY must mean the column.
    prefer_column_name_to_alias: 1,
  };

  function window(q: Pick<FlowQuery, 'sinceNs' | 'untilNs'>, nowNs = BigInt(Date.now()) * NS_PER_MS): { since: bigint; until: bigint } {
    const maxRange = BigInt(limits.maxTimeRangeMs) * NS_PER_MS;
    const until = q.untilNs ?? nowNs;
    const since = q.sinceNs ?? until - maxRange;
    if (until - since > maxRange) {
      const days = (Number(until - since) / 86_400e9).toFixed(1);
      throw new LookbackError('invalid_argument', `the time range since..until spans ${days} days; at most ${(limits.maxTimeRangeMs / 86_400_000).toFixed(1)} days are allowed (narrow since/until)`);
    }
    return { since, until };
  }

  async function rows(where: string, params: ParamBag, order: 'ASC' | 'DESC', limit: number | null, signal: AbortSignal | undefined, each: (f: Flow) => void | Promise<void>, columns?: readonly string[] | null): Promise<number> {
    const limitSql = limit === null ? '' : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    const partial = columns !== undefined && columns !== null;
    const rs = await client.query({
      query: `SELECT ${partial ? selectList(columns) : FLOW_SELECT} FROM flows WHERE ${where} ORDER BY time ${order}, uuid ${order}${limitSql}`,
      query_params: params.values,
      format: 'JSONEachRow',
      clickhouse_settings: settings,
      ...(signal ? { abort_signal: signal } : {}),
    });
    let n = 0;
    for await (const batch of rs.stream()) {
      for (const row of batch) {
        n++;
        const r = each(rowToFlow(partial ? { ...DEFAULT_ROW, ...row.json<Partial<FlowRow>>() } : row.json<FlowRow>()));
        if (r) await r;
      }
    }
    return n;
  }

  function rangeWhere(filters: CompiledFlowFilters, p: ParamBag, from: bigint, to: bigint, toInclusive: boolean): string {
    const lo = `time >= fromUnixTimestamp64Nano(${p.add(from.toString(), 'Int64')}, 'UTC')`;
    const hi = `time ${toInclusive ? '<=' : '<'} fromUnixTimestamp64Nano(${p.add(to.toString(), 'Int64')}, 'UTC')`;
    return `${lo} AND ${hi} AND (${filters.sql(p)})`;
  }

  /** Like rangeWhere, for ascending pages: `from` inclusive only on the first window, `to` always inclusive. */
  function rangeWhereFrom(filters: CompiledFlowFilters, p: ParamBag, from: bigint, to: bigint, fromInclusive: boolean): string {
    const lo = `time ${fromInclusive ? '>=' : '>'} fromUnixTimestamp64Nano(${p.add(from.toString(), 'Int64')}, 'UTC')`;
    const hi = `time <= fromUnixTimestamp64Nano(${p.add(to.toString(), 'Int64')}, 'UTC')`;
    return `${lo} AND ${hi} AND (${filters.sql(p)})`;
  }

  /** Windows from `since` up to `until`, ascending; `limit` null means all. */
  async function ascending(filters: CompiledFlowFilters, since: bigint, until: bigint, limit: number | null, sink: FlowSink, signal?: AbortSignal, startAfter?: { time: bigint; uuid: string }, columns?: readonly string[] | null): Promise<StreamResult> {
    let count = 0;
    let last: bigint | null = null;
    let from = since;
    let width = HOUR_NS;
    while (from <= until && (limit === null || count < limit)) {
      if (signal?.aborted) break;
      const to = from + width > until ? until : from + width;
      const last_ = to === until;
      const p = new ParamBag('w');
      let where = rangeWhere(filters, p, from, to, last_);
      if (startAfter) {
        where += ` AND (time > fromUnixTimestamp64Nano(${p.add(startAfter.time.toString(), 'Int64')}, 'UTC') OR (time = fromUnixTimestamp64Nano(${p.add(startAfter.time.toString(), 'Int64')}, 'UTC') AND uuid >= ${p.add(startAfter.uuid, 'UUID')}))`;
      }
      const n = await rows(where, p, 'ASC', limit === null ? null : limit - count, signal, async (f) => {
        count++;
        last = f.time_ns;
        if (count > limits.maxFlowsPerStream) {
          throw new LookbackError('resource_exhausted', `stopped after ${limits.maxFlowsPerStream} flows (limits.maxFlowsPerStream): narrow the time range or the filters, or ask for a number of flows`);
        }
        await sink(f);
      }, columns);
      if (last_) break;
      from = to;
      if (n < TARGET_ROWS / 8 && width < 32n * 24n * HOUR_NS) width *= 4n;
      else if (n > TARGET_ROWS && width > 60_000_000_000n) width /= 2n;
    }
    return { count, lastTimeNs: last };
  }

  /** The newest `n` flows: small n newest-first in memory, large n by finding the oldest of them first. */
  async function newest(filters: CompiledFlowFilters, since: bigint, until: bigint, n: bigint, sink: FlowSink, signal?: AbortSignal, columns?: readonly string[] | null): Promise<StreamResult> {
    if (n <= BigInt(Math.min(IN_MEMORY_NEWEST, limits.maxNewest))) {
      const want = Number(n);
      const got: Flow[] = [];
      let to = until;
      let width = HOUR_NS;
      let toInclusive = true;
      while (got.length < want && to >= since) {
        if (signal?.aborted) break;
        const from = to - width < since ? since : to - width;
        const p = new ParamBag('w');
        await rows(rangeWhere(filters, p, from, to, toInclusive), p, 'DESC', want - got.length, signal, (f) => { got.push(f); }, columns);
        if (from === since) break;
        to = from;
        toInclusive = false;
        width *= 4n;
      }
      got.reverse();
      for (const f of got) {
        if (signal?.aborted) break;
        await sink(f);
      }
      return { count: got.length, lastTimeNs: got.at(-1)?.time_ns ?? null };
    }
    // Large n: walk back counting, then stream forward from the n-th newest flow.
    let remaining = n;
    let to = until;
    let width = HOUR_NS;
    let toInclusive = true;
    for (;;) {
      const from = to - width < since ? since : to - width;
      const p = new ParamBag('w');
      const rs = await client.query({ query: `SELECT count() AS c FROM flows WHERE ${rangeWhere(filters, p, from, to, toInclusive)}`, query_params: p.values, format: 'JSONEachRow', clickhouse_settings: settings });
      const c = BigInt((await rs.json<{ c: string }>())[0]?.c ?? '0');
      if (c >= remaining) {
        if (n > BigInt(limits.maxNewest)) {
          throw new LookbackError('invalid_argument', `the newest ${n} flows were asked for and more match; at most ${limits.maxNewest} can be selected this way (limits.maxNewest): narrow since/until or ask for all flows of a window`);
        }
        const q = new ParamBag('w');
        const b = await client.query({
          query: `SELECT toString(toUnixTimestamp64Nano(time)) AS t, toString(uuid) AS u FROM flows WHERE ${rangeWhere(filters, q, from, to, toInclusive)} ORDER BY time DESC, uuid DESC LIMIT 1 OFFSET ${remaining - 1n}`,
          query_params: q.values, format: 'JSONEachRow', clickhouse_settings: settings,
        });
        const boundary = (await b.json<{ t: string; u: string }>())[0];
        if (!boundary) return ascending(filters, from, until, null, sink, signal, undefined, columns);
        return ascending(filters, BigInt(boundary.t), until, null, sink, signal, { time: BigInt(boundary.t), uuid: boundary.u }, columns);
      }
      remaining -= c;
      if (from === since) return ascending(filters, since, until, null, sink, signal, undefined, columns);
      to = from;
      toInclusive = false;
      width *= 4n;
    }
  }

  /** Up to `limit` flows in `order`, window by window, strictly after `cursor`. */
  async function page(q: { filters: CompiledFlowFilters; since: bigint; until: bigint }, limit: number, order: 'asc' | 'desc', cursor: FlowCursor | null, signal?: AbortSignal): Promise<Flow[]> {
    const got: Flow[] = [];
    const desc = order === 'desc';
    let lo = q.since;
    let hi = q.until;
    if (cursor) {
      if (desc && cursor.time < hi) hi = cursor.time;
      if (!desc && cursor.time > lo) lo = cursor.time;
    }
    let width = HOUR_NS;
    let edge = desc ? hi : lo;
    let first = true;
    while (got.length < limit && lo <= hi) {
      if (signal?.aborted) break;
      const from = desc ? (edge - width < lo ? lo : edge - width) : edge;
      const to = desc ? edge : (edge + width > hi ? hi : edge + width);
      const p = new ParamBag('w');
      // Inclusive at the outer edge on the first window only; every later window ends where the previous began.
      const where = desc ? rangeWhere(q.filters, p, from, to, first) : rangeWhereFrom(q.filters, p, from, to, first);
      const keyset = cursor
        ? ` AND (time ${desc ? '<' : '>'} fromUnixTimestamp64Nano(${p.add(cursor.time.toString(), 'Int64')}, 'UTC') OR (time = fromUnixTimestamp64Nano(${p.add(cursor.time.toString(), 'Int64')}, 'UTC') AND uuid ${desc ? '<' : '>'} ${p.add(cursor.uuid, 'UUID')}))`
        : '';
      await rows(where + keyset, p, desc ? 'DESC' : 'ASC', limit - got.length, signal, (f) => { got.push(f); });
      if (desc ? from === lo : to === hi) break;
      edge = desc ? from : to;
      first = false;
      width *= 4n;
    }
    return got;
  }

  return {
    window,
    settings,
    client,
    page,
    async stream(q, sink, signal) {
      const { since, until } = window(q);
      if (since > until) return { count: 0, lastTimeNs: null };
      if (q.number === 0n) return ascending(q.filters, since, until, null, sink, signal, undefined, q.columns);
      if (q.first) {
        const limit = q.number > BigInt(limits.maxFlowsPerStream) ? null : Number(q.number);
        return ascending(q.filters, since, until, limit, sink, signal, undefined, q.columns);
      }
      return newest(q.filters, since, until, q.number, sink, signal, q.columns);
    },
  };
}
