import { parseArgs } from 'node:util';
import { LookbackError } from '../common/errors.js';

/**
 * `lookback deps`: the service dependency graph of a time window, from the query API's HTTP endpoint /v1/graph,
 * as a text table (default) or JSON (`-o json`).
 */
const USAGE = `usage: lookback deps [--server URL] [--since T] [--until T] [--namespace NS] [--max-edges N] [-o text|json] [--token TOKEN]

  --server URL      the query API's HTTP address (default $LOOKBACK_HTTP_SERVER or http://127.0.0.1:8090)
  --since, --until  a duration before now (24h, 90m) or a time (2025-11-26T08:00:00Z); default the last hour
  --namespace NS    only edges touching this namespace
`;

interface Edge {
  source: string; target: string; flows: number; bytes: number; drops: number;
  l7: { responses: number; errors: number; error_rate: number; latency_ms: { p50: number; p95: number; p99: number } } | null;
}
interface Graph {
  window: { since: string; until: string; table: string; step_seconds: number };
  nodes: Array<{ id: string; kind: string }>;
  edges: Edge[];
  truncated: boolean;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${v}B` : `${v.toFixed(1)}${units[u]}`;
}

export function formatGraph(g: Graph): string {
  const step = g.window.table === 'flows' ? 'raw flows' : `${g.window.table}, ${g.window.step_seconds} s buckets`;
  const head = `window ${g.window.since} .. ${g.window.until} (${step}): ${g.nodes.length} nodes, ${g.edges.length} edges${g.truncated ? ' (truncated to the busiest)' : ''}`;
  const rows: string[][] = [['SOURCE', '', 'TARGET', 'FLOWS', 'BYTES', 'DROPS', 'L7', 'ERRORS', 'P50', 'P95', 'P99']];
  for (const e of g.edges) {
    const l = e.l7;
    rows.push([
      e.source, '->', e.target, String(e.flows), bytes(e.bytes), String(e.drops),
      l ? String(l.responses) : '-', l ? `${(l.error_rate * 100).toFixed(1)}%` : '-',
      l ? `${l.latency_ms.p50}ms` : '-', l ? `${l.latency_ms.p95}ms` : '-', l ? `${l.latency_ms.p99}ms` : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const right = new Set([3, 4, 5, 6, 7, 8, 9, 10]);
  const lines = rows.map((r) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd());
  return `${head}\n${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, namespace: { type: 'string' },
        'max-edges': { type: 'string' }, output: { type: 'string', short: 'o' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new LookbackError('invalid_argument', `${(err as Error).message}\n\n${USAGE}`);
  }
  if (values['help']) {
    process.stdout.write(USAGE);
    return 0;
  }
  const output = (values['output'] as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') throw new LookbackError('invalid_argument', `-o ${JSON.stringify(output)}: allowed text, json`);
  const server = ((values['server'] as string | undefined) ?? process.env['LOOKBACK_HTTP_SERVER'] ?? 'http://127.0.0.1:8090').replace(/\/+$/, '');
  const q = new URLSearchParams();
  for (const k of ['since', 'until', 'namespace'] as const) if (values[k]) q.set(k, values[k] as string);
  if (values['max-edges']) q.set('max_edges', values['max-edges'] as string);
  const url = `${server}/v1/graph?${q.toString()}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: values['token'] ? { authorization: `Bearer ${values['token'] as string}` } : {} });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new LookbackError('unavailable', `cannot reach the query API at ${server}: ${cause}`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } } & Graph;
  if (!res.ok) {
    const message = body.error?.message ?? `HTTP ${res.status}`;
    const code = res.status === 400 ? 'invalid_argument' : res.status === 401 ? 'permission' : res.status >= 500 ? 'unavailable' : 'internal';
    throw new LookbackError(code, `the query API refused the request: ${message}`);
  }
  process.stdout.write(output === 'json' ? `${JSON.stringify(body, null, 2)}\n` : formatGraph(body));
  return 0;
}
