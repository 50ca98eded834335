/**
 * A small Prometheus metrics registry: counters, gauges and histograms with labels, the text exposition format
 * (0.0.4), and an HTTP server on 127.0.0.1. Label sets are bounded per family (beyond maxSeries, new label sets
 * are counted in one series whose labels all read "overflow"), and series can be expired (not updated for a
 * while) or deleted by label (a deleted pod's series), the usual complaint about Hubble's metrics.
 *
 *   const reg = new Registry();
 *   const requests = reg.counter('http_requests_total', 'HTTP requests', ['method']);
 *   requests.child(['GET']).inc();
 *   reg.gauge('queue_depth', 'Messages waiting', [], () => queue.length);   // read at scrape time
 *   const server = await serveMetrics(reg, { address: '127.0.0.1', port: 9965 });
 */
import http from 'node:http';
import { LookbackError } from '../../common/errors.js';

export interface Series {
  readonly values: readonly string[];
  /** Time (ms, to the second) of the last update, for expiry. */
  updatedAt: number;
  /** Set when the registry dropped this series: a cached reference must fetch a new one. */
  removed: boolean;
}

export interface CounterSeries extends Series {
  value: number;
  inc(by?: number): void;
}

export interface GaugeSeries extends Series {
  value: number;
  set(v: number): void;
}

export interface HistogramSeries extends Series {
  readonly bounds: readonly number[];
  counts: Float64Array;
  sum: number;
  count: number;
  observe(v: number): void;
}

type Kind = 'counter' | 'gauge' | 'histogram';

/**
 * A clock for series' last-update times, read on every increment: Date.now() costs more than the increment
 * itself, and expiry needs only seconds. Ticks once a second (an unref'd timer).
 */
let coarseNow = Date.now();
setInterval(() => { coarseNow = Date.now(); }, 1000).unref();
const now = (): number => coarseNow;
const OVERFLOW = 'overflow';

export class Family<S extends Series> {
  private readonly series = new Map<string, S>();
  overflowed = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly labelNames: readonly string[],
    private readonly make: (values: readonly string[]) => S,
    private readonly maxSeries: number,
    /** For gauges read at scrape time. */
    readonly collect?: () => number | [readonly string[], number][],
  ) {}

  /** The series for these label values (created on first use). */
  child(values: readonly string[]): S {
    const key = values.length === 1 ? values[0]! : values.join('\u0001');
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.maxSeries) {
        this.overflowed++;
        return this.child(this.labelNames.map(() => OVERFLOW));
      }
      s = this.make(values);
      this.series.set(key, s);
    }
    return s;
  }

  /** Removes series not updated since `before` (ms). */
  expire(before: number): number {
    let n = 0;
    for (const [k, s] of this.series) {
      if (s.updatedAt < before) {
        s.removed = true;
        this.series.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Removes the series whose labels match (label name -> value; all must match). */
  deleteWhere(match: Record<string, string>): number {
    const idx = Object.entries(match).map(([name, v]) => [this.labelNames.indexOf(name), v] as const);
    if (idx.length === 0 || idx.some(([i]) => i < 0)) return 0;
    let n = 0;
    for (const [k, s] of this.series) {
      if (idx.every(([i, v]) => s.values[i] === v)) {
        s.removed = true;
        this.series.delete(k);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.series.size;
  }

  all(): IterableIterator<S> {
    return this.series.values();
  }
}

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class Registry {
  private readonly families: Family<Series>[] = [];

  constructor(private readonly defaults: { maxSeries: number } = { maxSeries: 10_000 }) {}

  private add<S extends Series>(f: Family<S>): Family<S> {
    if (!NAME_RE.test(f.name)) throw new LookbackError('internal', `bad metric name ${f.name}`);
    for (const l of f.labelNames) if (!LABEL_RE.test(l)) throw new LookbackError('internal', `bad label name ${l} on ${f.name}`);
    if (this.families.some((x) => x.name === f.name)) throw new LookbackError('internal', `metric ${f.name} is registered twice`);
    this.families.push(f as unknown as Family<Series>);
    return f;
  }

  counter(name: string, help: string, labelNames: readonly string[] = [], opts: { maxSeries?: number } = {}): Family<CounterSeries> {
    return this.add(new Family<CounterSeries>(name, help, 'counter', labelNames, (values) => ({
      values, updatedAt: now(), removed: false, value: 0,
      inc(by = 1) { this.value += by; this.updatedAt = coarseNow; },
    }), opts.maxSeries ?? this.defaults.maxSeries));
  }

  /** A gauge; with `collect`, its value(s) are read at scrape time instead of set. */
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: () => number | [readonly string[], number][]): Family<GaugeSeries> {
    return this.add(new Family<GaugeSeries>(name, help, 'gauge', labelNames, (values) => ({
      values, updatedAt: now(), removed: false, value: 0,
      set(v) { this.value = v; this.updatedAt = coarseNow; },
    }), this.defaults.maxSeries, collect));
  }

  /** A counter whose value is read at scrape time (a total kept elsewhere). */
  counterFunc(name: string, help: string, labelNames: readonly string[], collect: () => number | [readonly string[], number][]): void {
    this.add(new Family<CounterSeries>(name, help, 'counter', labelNames, () => { throw new Error('read-only'); }, 1, collect));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets = DEFAULT_BUCKETS, opts: { maxSeries?: number } = {}): Family<HistogramSeries> {
    const bounds = [...buckets].sort((a, b) => a - b);
    return this.add(new Family<HistogramSeries>(name, help, 'histogram', labelNames, (values) => ({
      values, updatedAt: now(), removed: false, bounds, counts: new Float64Array(bounds.length), sum: 0, count: 0,
      observe(v) {
        for (let i = 0; i < bounds.length; i++) if (v <= bounds[i]!) this.counts[i]!++;
        this.sum += v;
        this.count++;
        this.updatedAt = coarseNow;
      },
    }), opts.maxSeries ?? this.defaults.maxSeries));
  }

  /** Expires series of every family not updated since `before` (ms since the epoch). */
  expire(before: number): number {
    let n = 0;
    for (const f of this.families) if (!f.collect) n += f.expire(before);
    return n;
  }

  deleteWhere(match: Record<string, string>): number {
    let n = 0;
    for (const f of this.families) n += f.deleteWhere(match);
    return n;
  }

  /** The text exposition format. */
  text(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.kind}`);
      if (f.collect) {
        const v = f.collect();
        if (typeof v === 'number') out.push(`${f.name} ${num(v)}`);
        else for (const [values, x] of v) out.push(`${f.name}${labelText(f.labelNames, values)} ${num(x)}`);
        continue;
      }
      for (const s of f.all()) {
        if (f.kind === 'histogram') {
          const h = s as unknown as HistogramSeries;
          const bounds = h.bounds;
          for (let i = 0; i < bounds.length; i++) out.push(`${f.name}_bucket${labelText(f.labelNames, s.values, ['le', num(bounds[i]!)])} ${h.counts[i]}`);
          out.push(`${f.name}_bucket${labelText(f.labelNames, s.values, ['le', '+Inf'])} ${h.count}`);
          out.push(`${f.name}_sum${labelText(f.labelNames, s.values)} ${num(h.sum)}`);
          out.push(`${f.name}_count${labelText(f.labelNames, s.values)} ${h.count}`);
        } else {
          out.push(`${f.name}${labelText(f.labelNames, s.values)} ${num((s as unknown as CounterSeries).value)}`);
        }
      }
    }
    return out.join('\n') + '\n';
  }
}

export interface MetricsServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Serves GET /metrics on address:port (127.0.0.1 by default; port 0 picks a free one). */
export async function serveMetrics(reg: Registry, opts: { address?: string; port: number; beforeScrape?: () => void }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    try {
      opts.beforeScrape?.();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(reg.text());
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
    }
  });
  const address = opts.address ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new LookbackError('unavailable', `the metrics server cannot listen on ${address}:${opts.port}: ${err.message}${err.code === 'EADDRINUSE' ? ' (the port is in use: set metrics.port)' : ''}`, { cause: err })));
    server.listen(opts.port, address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
