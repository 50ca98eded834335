/**
 * Prometheus metrics for lookback's services: counters, gauges and histograms with labels, the text exposition
 * format, and an HTTP endpoint on 127.0.0.1.
 *
 *   const metrics = createMetrics();
 *   const rows = metrics.counter('lookback_ingest_rows_total', 'Rows written to ClickHouse.', ['topic']);
 *   rows.labels('lookback.flows.v1').inc(50_000);        // a series is found once, then updated cheaply
 *   const lag = metrics.gauge('lookback_ingest_lag_records', 'Records not yet stored.', ['topic', 'partition']);
 *   lag.labels('t', '3').set(120);
 *   const latency = metrics.histogram('lookback_ingest_insert_seconds', 'Insert latency.', [], [0.01, 0.1, 1]);
 *   latency.labels().observe(0.042);
 *   metrics.onCollect(() => { ...set gauges from current state just before a scrape... });
 *   const server = await serveMetrics(metrics, { port: 9466 });   // GET /metrics; server.url, server.stop()
 *
 * Cardinality is bounded: a metric holds at most `maxSeries` label combinations (default 1000). Past that, new
 * combinations share one overflow series whose labels are all "_overflow", and lookback_metrics_overflow_total
 * counts the updates that went there, so a label explosion shows up instead of eating memory.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Counter { inc(by?: number): void; readonly value: number }
export interface Gauge { set(v: number): void; inc(by?: number): void; readonly value: number }
export interface Histogram { observe(v: number): void; readonly count: number; readonly sum: number }

export interface Metric<S> {
  /** The series for these label values (in the order the labels were declared). */
  labels(...values: string[]): S;
  /** Forgets every series (a gauge whose label set changed, such as partitions after a rebalance). */
  reset(): void;
}

export interface Metrics {
  counter(name: string, help: string, labelNames?: readonly string[], opts?: { maxSeries?: number }): Metric<Counter>;
  gauge(name: string, help: string, labelNames?: readonly string[], opts?: { maxSeries?: number }): Metric<Gauge>;
  histogram(name: string, help: string, labelNames?: readonly string[], buckets?: readonly number[], opts?: { maxSeries?: number }): Metric<Histogram>;
  /** Runs before each exposition: set gauges from current state here. */
  onCollect(fn: () => void): void;
  /** The text exposition format (version 0.0.4). */
  text(): string;
}

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const OVERFLOW = '_overflow';
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labelNames: readonly string[];
  series: Map<string, { values: string[]; s: unknown }>;
  render(out: string[]): void;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

export function createMetrics(opts: { maxSeries?: number } = {}): Metrics {
  const families: Family[] = [];
  const collectors: Array<() => void> = [];
  const defaultMax = opts.maxSeries ?? 1000;
  let overflowCount = 0;

  function family<S>(name: string, help: string, type: Family['type'], labelNames: readonly string[], maxSeries: number, make: () => S, render: (f: Family, out: string[]) => void): Metric<S> {
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    if (families.some((f) => f.name === name)) throw new Error(`metric ${name} is registered twice`);
    const f: Family = { name, help, type, labelNames, series: new Map(), render: (out) => render(f, out) };
    families.push(f);
    let overflow: S | undefined;
    return {
      labels(...values: string[]): S {
        const key = values.join('\u0000');
        const found = f.series.get(key);
        if (found) return found.s as S;
        if (f.series.size >= maxSeries) {
          overflowCount++;
          if (!overflow) {
            overflow = make();
            f.series.set(OVERFLOW, { values: labelNames.map(() => OVERFLOW), s: overflow });
          }
          return overflow;
        }
        const s = make();
        f.series.set(key, { values, s });
        return s;
      },
      reset() {
        f.series.clear();
        overflow = undefined;
      },
    };
  }

  const metrics: Metrics = {
    counter(name, help, labelNames = [], o = {}) {
      return family<Counter>(name, help, 'counter', labelNames, o.maxSeries ?? defaultMax, () => {
        let value = 0;
        return { inc(by = 1) { value += by; }, get value() { return value; } };
      }, (f, out) => {
        for (const { values, s } of f.series.values()) out.push(`${f.name}${labelText(f.labelNames, values)} ${num((s as Counter).value)}`);
      });
    },
    gauge(name, help, labelNames = [], o = {}) {
      return family<Gauge>(name, help, 'gauge', labelNames, o.maxSeries ?? defaultMax, () => {
        let value = 0;
        return { set(v) { value = v; }, inc(by = 1) { value += by; }, get value() { return value; } };
      }, (f, out) => {
        for (const { values, s } of f.series.values()) out.push(`${f.name}${labelText(f.labelNames, values)} ${num((s as Gauge).value)}`);
      });
    },
    histogram(name, help, labelNames = [], buckets = DEFAULT_BUCKETS, o = {}) {
      const bounds = [...buckets].sort((a, b) => a - b);
      return family<Histogram & { counts: number[] }>(name, help, 'histogram', labelNames, o.maxSeries ?? defaultMax, () => {
        const counts = new Array<number>(bounds.length).fill(0);
        let count = 0;
        let sum = 0;
        return {
          counts,
          observe(v) {
            count++;
            sum += v;
            for (let i = 0; i < bounds.length; i++) if (v <= (bounds[i] as number)) counts[i]!++;
          },
          get count() { return count; },
          get sum() { return sum; },
        };
      }, (f, out) => {
        for (const { values, s } of f.series.values()) {
          const h = s as Histogram & { counts: number[] };
          bounds.forEach((b, i) => out.push(`${f.name}_bucket${labelText(f.labelNames, values, `le="${num(b)}"`)} ${h.counts[i]}`));
          out.push(`${f.name}_bucket${labelText(f.labelNames, values, 'le="+Inf"')} ${h.count}`);
          out.push(`${f.name}_sum${labelText(f.labelNames, values)} ${num(h.sum)}`);
          out.push(`${f.name}_count${labelText(f.labelNames, values)} ${h.count}`);
        }
      });
    },
    onCollect(fn) {
      collectors.push(fn);
    },
    text() {
      for (const c of collectors) c();
      const out: string[] = [];
      for (const f of families) {
        out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
        out.push(`# TYPE ${f.name} ${f.type}`);
        f.render(out);
      }
      out.push('# HELP lookback_metrics_overflow_total Updates that went to a metric\'s overflow series because it had too many label combinations.');
      out.push('# TYPE lookback_metrics_overflow_total counter');
      out.push(`lookback_metrics_overflow_total ${overflowCount}`);
      return out.join('\n') + '\n';
    },
  };
  return metrics;
}

export interface MetricsServer {
  /** http://127.0.0.1:PORT/metrics */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Serves `GET /metrics` (any other path is 404) on 127.0.0.1 unless `host` says otherwise. Port 0 picks one. */
export async function serveMetrics(metrics: Metrics, opts: { port: number; host?: string }): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    let body: string;
    try {
      body = metrics.text();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/metrics`,
    port,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
