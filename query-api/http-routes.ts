/**
 * The HTTP API's endpoints: request parameters checked here (each refusal a 400 naming the parameter), the work
 * done by the flow store, the analytics and the SQL endpoint. Times are RFC 3339 or a duration before now
 * (`since=24h`), as on the command line.
 */
import crypto from 'node:crypto';
import { LookbackError } from '../common/errors.js';
import { compileFlowFilters, type FlowFilter } from '../common/flow-filter/index.js';
import { toHubbleFlow } from '../common/hubble-flow.js';
import { formatUuid } from '../schemas/flow-types.js';
import type { Analytics, TimeWindow } from './analytics.js';
import { parseCliTime } from './client/time.js';
import type { QueryApiConfig } from './config.js';
import type { FlowCursor, FlowStore } from './flow-store.js';
import type { Inventory } from './inventory.js';
import { OPENAPI } from './openapi.js';
import { toProtoJson } from './proto-json.js';
import type { SqlEndpoint } from './sql-endpoint.js';

export interface RouteRequest {
  query: URLSearchParams;
  body: unknown;
  signal: AbortSignal;
}

export interface Route {
  path: string;
  methods: string[];
  /** No token needed (health, the API description). */
  public?: boolean;
  handle(req: RouteRequest): Promise<unknown>;
}

export interface RouteDeps {
  cfg: QueryApiConfig;
  store: FlowStore;
  inventory: Inventory;
  analytics: Analytics;
  sql: SqlEndpoint | null;
}

function bad(message: string): LookbackError {
  return new LookbackError('invalid_argument', message);
}

type Params = Record<string, unknown>;

/** Query string and JSON body read alike: body fields win, query strings are strings. */
function params(req: RouteRequest): Params {
  const out: Params = {};
  for (const [k, v] of req.query) out[k] = v;
  if (req.body !== undefined) {
    if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw bad('the request body must be a JSON object');
    Object.assign(out, req.body);
  }
  return out;
}

function intParam(p: Params, name: string, def: number, min: number, max: number): number {
  const v = p[name];
  if (v === undefined || v === '') return def;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(`${name}: ${JSON.stringify(v)} is not an integer from ${min} to ${max}`);
  return n;
}

function enumParam<T extends string>(p: Params, name: string, def: T, allowed: readonly T[]): T {
  const v = p[name];
  if (v === undefined || v === '') return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw bad(`${name}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

function timeParam(p: Params, name: string, nowNs: bigint): bigint | null {
  const v = p[name];
  if (v === undefined || v === '' || v === null) return null;
  if (typeof v !== 'string') throw bad(`${name} must be an RFC 3339 time or a duration before now (like 24h)`);
  try {
    return parseCliTime(v, name, nowNs);
  } catch {
    throw bad(`${name}: ${JSON.stringify(v.slice(0, 60))} is not an RFC 3339 time or a duration before now (like 24h or 90m)`);
  }
}

function filterList(p: Params, name: string): FlowFilter[] | undefined {
  let v = p[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw bad(`${name} must be a JSON list of FlowFilter objects`);
    }
  }
  if (!Array.isArray(v)) throw bad(`${name} must be a list of FlowFilter objects`);
  return v as FlowFilter[];
}

/** A window for the aggregate endpoints: default the last hour, at most limits.maxRollupRange. */
function aggregateWindow(p: Params, cfg: QueryApiConfig): TimeWindow {
  const now = BigInt(Date.now()) * 1_000_000n;
  const until = timeParam(p, 'until', now) ?? now;
  const since = timeParam(p, 'since', now) ?? until - 3_600_000_000_000n;
  if (since >= until) throw bad('since must be before until');
  if (until - since > BigInt(cfg.limits.maxRollupRange) * 1_000_000n) {
    throw bad(`the window spans ${(Number(until - since) / 86_400e9).toFixed(1)} days; at most ${(cfg.limits.maxRollupRange / 86_400_000).toFixed(1)} days are allowed`);
  }
  return { since, until };
}

interface CursorState extends FlowCursor { since: bigint; until: bigint; order: 'asc' | 'desc'; filters: string }

function encodeCursor(c: CursorState): string {
  return Buffer.from(JSON.stringify({ t: c.time.toString(), u: c.uuid, s: c.since.toString(), e: c.until.toString(), o: c.order, f: c.filters })).toString('base64url');
}

function decodeCursor(text: unknown): CursorState | null {
  if (text === undefined || text === '' || text === null) return null;
  try {
    const j = JSON.parse(Buffer.from(String(text), 'base64url').toString('utf8')) as Record<string, string>;
    if (!/^\d{1,20}$/.test(j['t'] ?? '') || !/^[0-9a-f-]{36}$/.test(j['u'] ?? '') || !/^-?\d{1,20}$/.test(j['s'] ?? '') || !/^-?\d{1,20}$/.test(j['e'] ?? '') || (j['o'] !== 'asc' && j['o'] !== 'desc')) throw new Error('shape');
    return { time: BigInt(j['t']!), uuid: j['u']!, since: BigInt(j['s']!), until: BigInt(j['e']!), order: j['o'], filters: String(j['f'] ?? '') };
  } catch {
    throw bad('cursor is not a cursor this API returned');
  }
}

export function createHttpRoutes(deps: RouteDeps): Route[] {
  const { cfg, store, analytics } = deps;

  const searchFlows = async (req: RouteRequest): Promise<unknown> => {
    const p = params(req);
    const whitelist = filterList(p, 'whitelist');
    const blacklist = filterList(p, 'blacklist');
    const filters = compileFlowFilters({ whitelist, blacklist });
    const filterKey = crypto.createHash('sha256').update(JSON.stringify([whitelist ?? [], blacklist ?? []])).digest('base64url').slice(0, 16);
    const limit = intParam(p, 'limit', 100, 1, cfg.limits.maxPageSize);
    const cursor = decodeCursor(p['cursor']);
    let since: bigint;
    let until: bigint;
    let order: 'asc' | 'desc';
    if (cursor) {
      if (cursor.filters !== filterKey) throw bad('cursor belongs to a search with other filters: send the same whitelist and blacklist, or start again without a cursor');
      ({ since, until, order } = cursor);
    } else {
      const now = BigInt(Date.now()) * 1_000_000n;
      ({ since, until } = store.window({ sinceNs: timeParam(p, 'since', now), untilNs: timeParam(p, 'until', now) }, now));
      order = enumParam(p, 'order', 'desc', ['desc', 'asc'] as const);
    }
    const flows = await store.page({ filters, since, until }, limit + 1, order, cursor, req.signal);
    const more = flows.length > limit;
    const pageFlows = flows.slice(0, limit);
    const last = pageFlows.at(-1);
    return {
      window: { since: new Date(Number(since / 1_000_000n)).toISOString(), until: new Date(Number(until / 1_000_000n)).toISOString() },
      flows: pageFlows.map((f) => toProtoJson(toHubbleFlow(f))),
      next_cursor: more && last ? encodeCursor({ time: last.time_ns, uuid: formatUuid(last.uuid), since, until, order, filters: filterKey }) : null,
    };
  };

  return [
    { path: '/openapi.json', methods: ['GET'], public: true, handle: async () => OPENAPI },
    { path: '/healthz', methods: ['GET'], public: true, handle: async () => ({ status: 'ok' }) },
    { path: '/v1/flows/search', methods: ['POST'], handle: searchFlows },
    { path: '/v1/flows', methods: ['GET'], handle: searchFlows },
    {
      path: '/v1/graph', methods: ['GET', 'POST'],
      handle: async (req) => {
        const p = params(req);
        const ns = p['namespace'];
        if (ns !== undefined && (typeof ns !== 'string' || ns.length > 253)) throw bad('namespace must be a namespace name');
        return analytics.graph(aggregateWindow(p, cfg), { ...(ns ? { namespace: ns as string } : {}), maxEdges: intParam(p, 'max_edges', cfg.limits.maxGraphEdges, 1, cfg.limits.maxGraphEdges) });
      },
    },
    {
      path: '/v1/top-talkers', methods: ['GET', 'POST'],
      handle: async (req) => {
        const p = params(req);
        return analytics.topTalkers(aggregateWindow(p, cfg), {
          by: enumParam(p, 'by', 'workload', ['workload', 'pair', 'namespace'] as const),
          metric: enumParam(p, 'metric', 'bytes', ['bytes', 'flows', 'packets', 'drops'] as const),
          limit: intParam(p, 'limit', 10, 1, 1000),
        });
      },
    },
    {
      path: '/v1/drops', methods: ['GET', 'POST'],
      handle: async (req) => {
        const p = params(req);
        const step = p['step'];
        const stepSeconds = step === undefined || step === '' ? undefined : intParam(p, 'step', 60, 1, 366 * 86_400);
        return analytics.drops(aggregateWindow(p, cfg), stepSeconds === undefined ? {} : { stepSeconds });
      },
    },
    {
      path: '/v1/sql', methods: ['POST'],
      handle: async (req) => {
        if (!deps.sql) throw new LookbackError('not_found', 'the SQL endpoint is disabled on this server (sql.enabled)');
        const p = params(req);
        if (typeof p['query'] !== 'string') throw bad('query must be a string of SQL');
        return deps.sql.run(p['query'], req.signal);
      },
    },
    { path: '/v1/status', methods: ['GET'], handle: async () => deps.inventory.status() },
    { path: '/v1/nodes', methods: ['GET'], handle: async () => ({ nodes: await deps.inventory.nodes() }) },
    { path: '/v1/namespaces', methods: ['GET'], handle: async () => ({ namespaces: await deps.inventory.namespaces() }) },
  ];
}
