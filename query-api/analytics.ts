/**
 * Aggregates over a time window: the service dependency graph, top talkers, drops by reason over time. Each is
 * served from the coarsest roll-up (flows_1h, flows_5m, flows_1m; schemas/clickhouse/0002_ingest.sql) that covers
 * the window with enough buckets, the window rounded out to that table's step, and from the raw table when no
 * roll-up fits (short windows). L7 error rates and latency percentiles come from the L7 roll-up of the same step
 * (flows_l7_1m, _5m, _1h: responses, errors and a quantiles state per edge; 0003_l7_rollups.sql) when it covers the
 * window, and otherwise (short windows; a database upgraded to 0003 for windows older than the upgrade) from the
 * raw table's L7 responses, which costs a scan of the window's rows.
 *
 * Graph nodes are workloads (`workload:ns/name`), services (`service:ns/name`), external names
 * (`external:www.disney.com`), namespaces for pods without an owner (`namespace:ns`) and `world`. An edge goes from
 * the side that opened the connection to the side that accepted it: reply events are left out, and L7 responses
 * (sent by the server) count for the edge of their request.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { LookbackError } from '../common/errors.js';
import { ParamBag } from '../common/flow-filter/index.js';

export interface TimeWindow {
  /** Nanoseconds; since inclusive, until exclusive. */
  since: bigint;
  until: bigint;
}

export interface Source {
  table: 'flows' | 'flows_1m' | 'flows_5m' | 'flows_1h';
  /** Bucket width in seconds (0 for the raw table). */
  stepSeconds: number;
  since: bigint;
  until: bigint;
}

const ROLLUPS = [
  { table: 'flows_1h', stepSeconds: 3600 },
  { table: 'flows_5m', stepSeconds: 300 },
  { table: 'flows_1m', stepSeconds: 60 },
] as const;

const NS = 1_000_000_000n;

// Aggregation runs in two levels: first by the stored dimensions (cheap: LowCardinality columns, no strings built),
// then by node key, computed once per group. The inner queries name the dimensions alike: s* for the source side,
// d* for the destination side (ns namespace, w first workload, sns/sn service, name DNS name outside the cluster).
const SRC_KEY = "if(sw != '', concat('workload:', sns_, '/', sw), if(sns_ != '', concat('namespace:', sns_), 'world'))";
const DST_KEY =
  "multiIf(dw != '', concat('workload:', dns_, '/', dw), dsn != '', concat('service:', dsns, '/', dsn), " +
  "dname != '', concat('external:', dname), dns_ != '', concat('namespace:', dns_), 'world')";
// For a reply (an L7 response), the client is the destination and the server the source.
const CLIENT_FROM_DST = "if(dw != '', concat('workload:', dns_, '/', dw), if(dns_ != '', concat('namespace:', dns_), 'world'))";
const SERVER_FROM_SRC =
  "multiIf(sw != '', concat('workload:', sns_, '/', sw), ssn != '', concat('service:', ssns, '/', ssn), " +
  "sname != '', concat('external:', sname), sns_ != '', concat('namespace:', sns_), 'world')";
const ROLLUP_DIMS =
  'source_namespace AS sns_, source_workload AS sw, destination_namespace AS dns_, destination_workload AS dw, ' +
  'destination_service_namespace AS dsns, destination_service_name AS dsn, destination_name AS dname';
// A pod without an owner (a bare pod, like the demo's xwing) is its own workload, as the roll-ups store it.
const RAW_SW = 'if(notEmpty(source_workload_names), source_workload_names[1], source_pod)';
const RAW_DW = 'if(notEmpty(destination_workload_names), destination_workload_names[1], destination_pod)';
const RAW_DIMS =
  `source_namespace AS sns_, ${RAW_SW} AS sw, destination_namespace AS dns_, ${RAW_DW} AS dw, ` +
  "destination_service_namespace AS dsns, destination_service_name AS dsn, if(destination_namespace = '', destination_names[1], '') AS dname";
const RAW_L7_DIMS =
  `toUInt8(ifNull(is_reply, false)) AS r, ${RAW_DIMS}, source_service_namespace AS ssns, source_service_name AS ssn, ` +
  "if(source_namespace = '', source_names[1], '') AS sname";
const L7_ROLLUP_DIMS =
  `is_reply AS r, ${ROLLUP_DIMS}, source_service_namespace AS ssns, source_service_name AS ssn, source_name AS sname`;
const DIM_NAMES = 'sns_, sw, dns_, dw, dsns, dsn, dname';
const L7_DIM_NAMES = `r, ${DIM_NAMES}, ssns, ssn, sname`;
// Node keys for top talkers (one level: few groups there).
const ROLLUP_SRC = "if(source_workload != '', concat('workload:', source_namespace, '/', source_workload), if(source_namespace != '', concat('namespace:', source_namespace), 'world'))";
const ROLLUP_DST =
  "multiIf(destination_workload != '', concat('workload:', destination_namespace, '/', destination_workload), " +
  "destination_service_name != '', concat('service:', destination_service_namespace, '/', destination_service_name), " +
  "destination_name != '', concat('external:', destination_name), destination_namespace != '', concat('namespace:', destination_namespace), 'world')";
const RAW_SRC = `if(${RAW_SW} != '', concat('workload:', source_namespace, '/', ${RAW_SW}), if(source_namespace != '', concat('namespace:', source_namespace), 'world'))`;
const RAW_DST =
  `multiIf(${RAW_DW} != '', concat('workload:', destination_namespace, '/', ${RAW_DW}), ` +
  "destination_service_name != '', concat('service:', destination_service_namespace, '/', destination_service_name), " +
  "destination_namespace = '' AND notEmpty(destination_names), concat('external:', destination_names[1]), destination_namespace != '', concat('namespace:', destination_namespace), 'world')";
/** L7 roll-up tables (when the schema has them) by the flow roll-up of the same step. */
const L7_ROLLUPS: Record<string, string> = { flows_1m: 'flows_l7_1m', flows_5m: 'flows_l7_5m', flows_1h: 'flows_l7_1h' };
const L7_ERROR = "(l7_protocol = 'http' AND http_code >= 500) OR (l7_protocol = 'dns' AND dns_rcode != 0) OR (l7_protocol = 'kafka' AND kafka_error_code != 0)";

export interface GraphNode { id: string; kind: string; name: string; namespace: string }
export interface GraphEdge {
  source: string;
  target: string;
  flows: number;
  bytes: number;
  packets: number;
  drops: number;
  l7: { responses: number; errors: number; error_rate: number; latency_ms: { p50: number; p95: number; p99: number } } | null;
}
export interface Graph {
  window: { since: string; until: string; table: string; step_seconds: number; l7_table?: string };
  nodes: GraphNode[];
  edges: GraphEdge[];
  truncated: boolean;
}

export interface Analytics {
  chooseSource(win: TimeWindow, minBuckets: number): Promise<Source>;
  graph(win: TimeWindow, opts: { namespace?: string; maxEdges: number }): Promise<Graph>;
  topTalkers(win: TimeWindow, opts: { by: 'workload' | 'pair' | 'namespace'; metric: 'bytes' | 'flows' | 'packets' | 'drops'; limit: number }): Promise<{ window: Graph['window']; talkers: Array<{ source: string; target?: string; value: number }> }>;
  drops(win: TimeWindow, opts: { stepSeconds?: number }): Promise<{ window: Graph['window']; step_seconds: number; series: Array<{ reason: string; total: number; points: Array<[string, number]> }> }>;
}

function iso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function parseNode(id: string): GraphNode {
  const colon = id.indexOf(':');
  if (colon < 0) return { id, kind: id, name: id, namespace: '' };
  const kind = id.slice(0, colon);
  const rest = id.slice(colon + 1);
  if (kind === 'workload' || kind === 'service') {
    const slash = rest.indexOf('/');
    return { id, kind, namespace: rest.slice(0, slash), name: rest.slice(slash + 1) };
  }
  if (kind === 'namespace') return { id, kind, namespace: rest, name: rest };
  return { id, kind, namespace: '', name: rest };
}

export function createAnalytics(client: ClickHouseClient, settings: ClickHouseSettings): Analytics {
  // The earliest row of each table, cached: a roll-up covers a window when it holds data from its start on (or
  // from when the raw data starts, on a young installation).
  let earliest: { at: number; p: Promise<Map<string, bigint | null>> } | undefined;
  const earliestRows = (): Promise<Map<string, bigint | null>> => {
    if (!earliest || Date.now() - earliest.at > 60_000) {
      const p = (async () => {
        const parts = ['flows', ...ROLLUPS.map((r) => r.table), ...Object.values(L7_ROLLUPS)].map((t) => `SELECT '${t}' AS t, toString(toUnixTimestamp(min(time))) AS m, count() > 0 AS any FROM ${t}`);
        const rs = await client.query({ query: parts.join(' UNION ALL '), format: 'JSONEachRow', clickhouse_settings: settings });
        const rows = await rs.json<{ t: string; m: string; any: number | boolean }>();
        return new Map(rows.map((r) => [r.t, r.any ? BigInt(r.m) * NS : null]));
      })();
      earliest = { at: Date.now(), p };
      p.catch(() => { earliest = undefined; });
    }
    return earliest.p;
  };

  /**
   * A table covers a window from `since` when it holds data from then on (within one step), or from when the raw
   * data starts on a young installation; an empty table covers only an empty raw table.
   */
  function covers(mins: Map<string, bigint | null>, table: string, since: bigint, step: bigint): boolean {
    const m = mins.get(table) ?? null;
    const rawMin = mins.get('flows') ?? null;
    const startsBy = rawMin === null || since > rawMin ? since : rawMin;
    return m === null ? rawMin === null : m <= startsBy + step;
  }

  async function chooseSource(win: TimeWindow, minBuckets: number): Promise<Source> {
    const mins = await earliestRows();
    for (const r of ROLLUPS) {
      const step = BigInt(r.stepSeconds) * NS;
      if (win.until - win.since < BigInt(minBuckets) * step) continue;
      const since = (win.since / step) * step;
      const until = ((win.until + step - 1n) / step) * step;
      if (covers(mins, r.table, since, step)) return { table: r.table, stepSeconds: r.stepSeconds, since, until };
    }
    return { table: 'flows', stepSeconds: 0, since: win.since, until: win.until };
  }

  /** An L7 roll-up answers when it covers the window chosen for the flow roll-up of the same step. */
  async function l7RollupCovers(table: string, src: Source): Promise<boolean> {
    return covers(await earliestRows(), table, src.since, BigInt(src.stepSeconds) * NS);
  }

  async function rows<T>(query: string, params: ParamBag): Promise<T[]> {
    const rs = await client.query({ query, query_params: params.values, format: 'JSONEachRow', clickhouse_settings: settings });
    return rs.json<T>();
  }

  function range(src: Source, p: ParamBag): string {
    if (src.table === 'flows') {
      return `time >= fromUnixTimestamp64Nano(${p.add(src.since.toString(), 'Int64')}, 'UTC') AND time < fromUnixTimestamp64Nano(${p.add(src.until.toString(), 'Int64')}, 'UTC')`;
    }
    return `time >= toDateTime(${p.add((src.since / NS).toString(), 'Int64')}, 'UTC') AND time < toDateTime(${p.add((src.until / NS).toString(), 'Int64')}, 'UTC')`;
  }

  const windowOf = (src: Source): Graph['window'] => ({ since: iso(src.since), until: iso(src.until), table: src.table, step_seconds: src.stepSeconds });

  return {
    chooseSource,

    async graph(win, opts) {
      const src = await chooseSource(win, 20);
      const raw = src.table === 'flows';
      const p = new ParamBag('g');
      const nsCond = opts.namespace ? ` AND (source_namespace = ${p.add(opts.namespace, 'String')} OR destination_namespace = ${p.add(opts.namespace, 'String')})` : '';
      const inner = raw
        ? `SELECT ${RAW_DIMS}, count() AS f_, sum(bytes_fwd + bytes_rev) AS b_, sum(packets_fwd + packets_rev) AS p_, countIf(verdict = 'DROPPED') AS d_
           FROM flows WHERE ${range(src, p)} AND NOT ifNull(is_reply, false)${nsCond} GROUP BY ${DIM_NAMES}`
        : `SELECT ${ROLLUP_DIMS}, sum(flows) AS f_, sum(bytes_fwd + bytes_rev) AS b_, sum(packets_fwd + packets_rev) AS p_, sum(drops) AS d_
           FROM ${src.table} WHERE ${range(src, p)} AND is_reply = 0${nsCond} GROUP BY ${DIM_NAMES}`;
      const flowsSql = `SELECT ${SRC_KEY} AS s, ${DST_KEY} AS d, sum(f_) AS n_flows, sum(b_) AS n_bytes, sum(p_) AS n_packets, sum(d_) AS n_drops
           FROM (${inner}) GROUP BY s, d ORDER BY n_flows DESC, s, d LIMIT ${opts.maxEdges + 1}`;
      // L7 responses: from the L7 roll-up of the same step when it covers the window, else from the raw table.
      const q = new ParamBag('l');
      const l7Table = raw ? undefined : L7_ROLLUPS[src.table];
      const useL7Rollup = l7Table !== undefined && (await l7RollupCovers(l7Table, src));
      const l7NsCond = opts.namespace ? ` AND (source_namespace = ${q.add(opts.namespace, 'String')} OR destination_namespace = ${q.add(opts.namespace, 'String')})` : '';
      const l7Inner = useL7Rollup
        ? `SELECT ${L7_ROLLUP_DIMS}, sum(responses) AS c_, sum(errors) AS e_, quantilesIfMergeState(0.5, 0.95, 0.99)(latency) AS q_
           FROM ${l7Table} WHERE ${range(src, q)}${l7NsCond} GROUP BY ${L7_DIM_NAMES}`
        : `SELECT ${RAW_L7_DIMS}, count() AS c_, countIf(${L7_ERROR}) AS e_, quantilesIfState(0.5, 0.95, 0.99)(l7_latency_ns, toUInt8(l7_latency_ns > 0)) AS q_
           FROM flows WHERE ${range({ ...src, table: 'flows' }, q)} AND l7_type = 'RESPONSE'${l7NsCond} GROUP BY ${L7_DIM_NAMES}`;
      const l7Sql = `SELECT if(r = 1, ${CLIENT_FROM_DST}, ${SRC_KEY}) AS s, if(r = 1, ${SERVER_FROM_SRC}, ${DST_KEY}) AS d,
             sum(c_) AS n_responses, sum(e_) AS n_errors, quantilesIfMerge(0.5, 0.95, 0.99)(q_) AS q
           FROM (${l7Inner}) GROUP BY s, d ORDER BY n_responses DESC, s, d LIMIT ${opts.maxEdges + 1}`;
      const [edgeRows, l7Rows] = await Promise.all([
        rows<{ s: string; d: string; n_flows: string; n_bytes: string; n_packets: string; n_drops: string }>(flowsSql, p),
        rows<{ s: string; d: string; n_responses: string; n_errors: string; q: number[] }>(l7Sql, q),
      ]);
      const edges = new Map<string, GraphEdge>();
      const key = (s: string, d: string): string => `${s}\u0000${d}`;
      for (const r of edgeRows.slice(0, opts.maxEdges)) {
        edges.set(key(r.s, r.d), { source: r.s, target: r.d, flows: Number(r.n_flows), bytes: Number(r.n_bytes), packets: Number(r.n_packets), drops: Number(r.n_drops), l7: null });
      }
      for (const r of l7Rows.slice(0, opts.maxEdges)) {
        let e = edges.get(key(r.s, r.d));
        if (!e) {
          if (edges.size >= opts.maxEdges) continue;
          e = { source: r.s, target: r.d, flows: 0, bytes: 0, packets: 0, drops: 0, l7: null };
          edges.set(key(r.s, r.d), e);
        }
        const responses = Number(r.n_responses);
        const errors = Number(r.n_errors);
        const ms = (ns: number | undefined): number => Math.round(((ns ?? 0) / 1e6) * 1000) / 1000;
        e.l7 = { responses, errors, error_rate: responses > 0 ? errors / responses : 0, latency_ms: { p50: ms(r.q[0]), p95: ms(r.q[1]), p99: ms(r.q[2]) } };
      }
      const ids = new Set<string>();
      for (const e of edges.values()) { ids.add(e.source); ids.add(e.target); }
      return {
        window: { ...windowOf(src), l7_table: useL7Rollup ? l7Table! : 'flows' },
        nodes: [...ids].sort().map(parseNode),
        edges: [...edges.values()].sort((a, b) => b.flows - a.flows || b.bytes - a.bytes || a.source.localeCompare(b.source) || a.target.localeCompare(b.target)),
        truncated: edgeRows.length > opts.maxEdges || l7Rows.length > opts.maxEdges,
      };
    },

    async topTalkers(win, opts) {
      const src = await chooseSource(win, 20);
      const raw = src.table === 'flows';
      const p = new ParamBag('t');
      const s = raw ? RAW_SRC : ROLLUP_SRC;
      const d = raw ? RAW_DST : ROLLUP_DST;
      const metric = raw
        ? { bytes: 'sum(bytes_fwd + bytes_rev)', flows: 'count()', packets: 'sum(packets_fwd + packets_rev)', drops: "countIf(verdict = 'DROPPED')" }[opts.metric]
        : { bytes: 'sum(bytes_fwd + bytes_rev)', flows: 'sum(flows)', packets: 'sum(packets_fwd + packets_rev)', drops: 'sum(drops)' }[opts.metric];
      const group = opts.by === 'pair' ? `${s} AS s, ${d} AS d` : opts.by === 'namespace' ? "if(source_namespace = '', 'world', concat('namespace:', source_namespace)) AS s" : `${s} AS s`;
      const groupBy = opts.by === 'pair' ? 's, d' : 's';
      const replies = raw ? 'NOT ifNull(is_reply, false)' : 'is_reply = 0';
      const result = await rows<{ s: string; d?: string; metric_value: string }>(
        `SELECT ${group}, ${metric} AS metric_value FROM ${src.table} WHERE ${range(src, p)} AND ${replies} GROUP BY ${groupBy} HAVING metric_value > 0 ORDER BY metric_value DESC LIMIT ${opts.limit}`,
        p,
      );
      return { window: windowOf(src), talkers: result.map((r) => ({ source: r.s, ...(r.d !== undefined ? { target: r.d } : {}), value: Number(r.metric_value) })) };
    },

    async drops(win, opts) {
      const src = await chooseSource(win, 20);
      const span = Number((src.until - src.since) / NS);
      const minStep = Math.max(src.stepSeconds, 1);
      let step = opts.stepSeconds ?? Math.max(minStep, Math.ceil(span / 100));
      step = Math.ceil(step / minStep) * minStep;
      if (span / step > 10_000) throw new LookbackError('invalid_argument', `step ${step}s makes ${Math.ceil(span / step)} points; at most 10000 (use a larger step)`);
      const p = new ParamBag('d');
      const raw = src.table === 'flows';
      const bucket = raw
        ? `toStartOfInterval(toDateTime(time, 'UTC'), toIntervalSecond(${p.add(step, 'UInt32')}))`
        : `toStartOfInterval(time, toIntervalSecond(${p.add(step, 'UInt32')}))`;
      const count = raw ? 'count()' : 'sum(drops)';
      const result = await rows<{ t: string; reason: string; n_drops: string }>(
        `SELECT toString(toUnixTimestamp(${bucket})) AS t, if(drop_reason_desc = '', 'DROP_REASON_UNKNOWN', drop_reason_desc) AS reason, ${count} AS n_drops
         FROM ${src.table} WHERE ${range(src, p)} AND verdict = 'DROPPED' GROUP BY t, reason ORDER BY t, reason`,
        p,
      );
      const series = new Map<string, { reason: string; total: number; points: Array<[string, number]> }>();
      for (const r of result) {
        let s = series.get(r.reason);
        if (!s) series.set(r.reason, (s = { reason: r.reason, total: 0, points: [] }));
        const n = Number(r.n_drops);
        s.total += n;
        s.points.push([new Date(Number(r.t) * 1000).toISOString(), n]);
      }
      return { window: windowOf(src), step_seconds: step, series: [...series.values()].sort((a, b) => b.total - a.total) };
    },
  };
}
