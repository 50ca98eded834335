/**
 * Query API figures over QUERY_BENCH_FLOWS (default 50,000,000) synthetic flows spread over QUERY_BENCH_DAYS
 * (default 7) days, inserted through ingest's landing table (so the roll-ups and the inventory fill as in
 * production), in a ClickHouse of its own on this machine. bench/flowgen.ts makes the first day; ClickHouse copies
 * it to the other days with new uuids (QUERY_BENCH_FULL_GEN=1 generates every day instead, about 7 times slower).
 * Prints p50 and p95 of:
 *   1. the last 20 flows of one pod in a 24 h window, through the Observer gRPC API with the field mask the hubble
 *      CLI's compact output sends (target p50 <= 50 ms);
 *   2. the dependency graph of a 24 h window, through the HTTP API (target p50 <= 100 ms);
 *   3. drops by reason over 7 days, through the HTTP API (target p50 <= 200 ms);
 * The graph's L7 figures come from the L7 roll-ups (schemas/clickhouse/0003_l7_rollups.sql).
 * The seeded database is kept in the machine cache ($LOOKBACK_CACHE/bench-query) and reused by the next run with
 * the same size and schema (migration checksums), so only the first run pays for seeding. Run: `npx tsc -p tsconfig.json && node dist/bench/query.js`
 * (or `npm run bench query`). QUERY_BENCH_RUNS sets the runs per query (default 40). Prints figures; asserts nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import * as grpc from '@grpc/grpc-js';
import { loadMigrations, migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { parseConfig } from '../common/config.js';
import { FLOW_INSERT_COLUMN_LIST, FLOW_INSERT_COLUMNS } from '../common/flow-row.js';
import { silentLogger } from '../common/log.js';
import { startClickHouse } from '../common/stack/clickhouse.js';
import { insertBody } from '../ingest/clickhouse-insert.js';
import { queryApiSpec } from '../query-api/config.js';
import { startQueryApi } from '../query-api/index.js';
import { HUBBLE_PRINT_MASK } from '../query-api/client/printer.js';
import { loadHubbleGrpc, timestampFromNanos } from '../schemas/proto-loader.js';
import { createTopology, generateRowBinary } from './flowgen.js';

const FLOWS = Number(process.env['QUERY_BENCH_FLOWS'] ?? 50_000_000);
const DAYS = Number(process.env['QUERY_BENCH_DAYS'] ?? 7);
const RUNS = Number(process.env['QUERY_BENCH_RUNS'] ?? 40);
const FULL_GEN = process.env['QUERY_BENCH_FULL_GEN'] === '1';
const SEED = 7;
const DAY_MS = 86_400_000;
const NS_PER_MS = 1_000_000n;

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function cacheDir(): string {
  const base = process.env['LOOKBACK_CACHE'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'lookback');
  return path.join(base, 'bench-query');
}

interface Seeded { database: string; endMs: number; flows: number }

/** The bench database: reused when a previous run seeded the same size, else made now. */
async function seed(ch: ClickHouseClient): Promise<Seeded> {
  // The name carries the migrations' checksums: a database seeded under another schema is not measured again.
  const schema = crypto.createHash('sha256').update(loadMigrations().map((m) => m.checksum).join(',')).digest('hex').slice(0, 8);
  const database = `bench_query_${FLOWS}_${DAYS}d_${FULL_GEN ? 'full' : 'gen'}_${schema}`;
  // Databases of other schemas (or sizes) are dropped: each holds gigabytes.
  const others = await (await ch.query({ query: "SELECT name FROM system.databases WHERE name LIKE 'bench\\_query\\_%' AND name != {db:String}", query_params: { db: database }, format: 'JSONEachRow' })).json<{ name: string }>();
  for (const o of others) {
    console.log(`seed: dropping ${o.name} (another schema or size)`);
    await ch.command({ query: `DROP DATABASE ${o.name} SYNC` });
  }
  const exists = await (await ch.query({ query: 'SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = \'bench_meta\'', query_params: { db: database }, format: 'JSONEachRow' })).json<{ n: number }>();
  if (Number(exists[0]?.n ?? 0) > 0) {
    const [meta] = await (await ch.query({ query: `SELECT flows, end_ms FROM ${database}.bench_meta`, format: 'JSONEachRow' })).json<{ flows: string; end_ms: string }>();
    if (meta && Number(meta.flows) === FLOWS) {
      console.log(`seed: reusing ${fmt(FLOWS)} flows in ${database} (seeded earlier)`);
      return { database, endMs: Number(meta.end_ms), flows: FLOWS };
    }
  }
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await migrate(ch, { database, vars: retentionVars({ rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 }) });
  const endMs = Math.floor(Date.now() / 60_000) * 60_000;
  const startMs = endMs - DAYS * DAY_MS;
  const t0 = Date.now();
  // flowgen makes the first day (or every day with QUERY_BENCH_FULL_GEN=1); ClickHouse copies it to the other days
  // with new uuids, which is many times faster than generating and parsing every row in JavaScript.
  const genDays = FULL_GEN ? DAYS : 1;
  const genCount = Math.round((FLOWS * genDays) / DAYS);
  let done = 0;
  let last = t0;
  let pending: Promise<unknown> | null = null;
  // Generate the next batch while ClickHouse inserts the previous one (the generator reuses its buffer: copy).
  for (const b of generateRowBinary({ seed: SEED, count: genCount, start: startMs, end: startMs + genDays * DAY_MS, batchRows: 50_000 })) {
    const body = Buffer.from(b.body);
    if (pending) await pending;
    pending = insertBody(ch, `INSERT INTO ${database}.flows_ingest ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, body, { max_partitions_per_insert_block: '1000' });
    done += b.rows;
    if (Date.now() - last > 15_000) {
      last = Date.now();
      console.log(`seed: ${fmt(done)} / ${fmt(genCount)} generated flows, ${fmt(done / ((last - t0) / 1000))} flows/s`);
    }
  }
  if (pending) await pending;
  const genSecs = (Date.now() - t0) / 1000;
  console.log(`seed: ${fmt(genCount)} flows of ${genDays} day(s) generated and inserted in ${fmt(genSecs, 1)} s (${fmt((genSecs * 1e6) / genCount, 1)} us/flow)`);
  const columns = FLOW_INSERT_COLUMNS.map((c) => c.name);
  for (let day = genDays; day < DAYS; day++) {
    const shifted = columns.map((c) => (c === 'uuid' ? 'generateUUIDv4()' : ['time', 'first_seen', 'last_seen'].includes(c) ? `${c} + toIntervalDay(${day})` : c)).join(', ');
    const c0 = Date.now();
    await ch.command({
      query: `INSERT INTO ${database}.flows_ingest (${columns.join(', ')}) SELECT ${shifted} FROM ${database}.flows WHERE time < toDateTime64(${startMs / 1000 + DAY_MS / 1000}, 9, 'UTC')`,
      clickhouse_settings: { max_partitions_per_insert_block: '1000', max_execution_time: 3600, max_insert_threads: '2' },
    });
    console.log(`seed: day ${day + 1} copied in ${fmt((Date.now() - c0) / 1000, 1)} s`);
  }
  const secs = (Date.now() - t0) / 1000;
  console.log(`seed: ${fmt(FLOWS)} flows over ${DAYS} days in ${fmt(secs, 1)} s`);
  const m0 = Date.now();
  await ch.command({ query: `OPTIMIZE TABLE ${database}.flows FINAL`, clickhouse_settings: { max_execution_time: 3600 } }).catch(() => {});
  for (const t of ['flows_1m', 'flows_5m', 'flows_1h', 'flows_l7_1m', 'flows_l7_5m', 'flows_l7_1h']) await ch.command({ query: `OPTIMIZE TABLE ${database}.${t} FINAL` }).catch(() => {});
  console.log(`seed: merged in ${fmt((Date.now() - m0) / 1000, 1)} s`);
  await ch.command({ query: `CREATE TABLE ${database}.bench_meta (flows UInt64, end_ms UInt64) ENGINE = TinyLog` });
  await ch.insert({ table: `${database}.bench_meta`, values: [{ flows: FLOWS, end_ms: endMs }], format: 'JSONEachRow' });
  return { database, endMs, flows: FLOWS };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function measure(name: string, target: number, runs: number, once: (i: number) => Promise<string>): Promise<void> {
  let detail = '';
  for (let i = 0; i < 3; i++) detail = await once(-1 - i); // warm-up: connections, page cache
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    detail = await once(i);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const p50 = percentile(ms, 50);
  console.log(`${name}: p50 ${fmt(p50, 1)} ms, p95 ${fmt(percentile(ms, 95), 1)} ms, max ${fmt(ms.at(-1)!, 1)} ms over ${runs} runs (target p50 <= ${target} ms: ${p50 <= target ? 'met' : 'NOT met'}); ${detail}`);
}

async function main(): Promise<void> {
  const dir = cacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const server = await startClickHouse({ dataDir: path.join(dir, 'clickhouse'), log: silentLogger });
  const ch = createClient({ url: server.url, request_timeout: 3_600_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const s = await seed(ch);
    const [size] = await (await ch.query({ query: `SELECT count() AS rows, sum(data_compressed_bytes) AS bytes FROM system.parts WHERE database = {db:String} AND table = 'flows' AND active`, query_params: { db: s.database }, format: 'JSONEachRow' })).json<{ rows: string; bytes: string }>();
    console.log(`data: ${fmt(s.flows)} flows, ${DAYS} days ending ${new Date(s.endMs).toISOString()}, ${fmt(Number(size?.bytes ?? 0) / 2 ** 20)} MiB compressed raw (${fmt(Number(size?.bytes ?? 0) / s.flows, 1)} B/flow), ${size?.rows} parts`);

    const apiConfig = parseConfig(queryApiSpec, {
      clickhouse: { url: server.url, database: s.database },
      grpc: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
      follow: { enabled: false },
    });
    const endNs = BigInt(s.endMs) * NS_PER_MS;
    // Windows end at different points of the last day, so repeated runs do not read the same rows.
    const windowEnd = (i: number): bigint => endNs - BigInt(Math.abs(i) % 24) * 3_600_000n * NS_PER_MS;
    const graph = (http: string, label: string) => measure(label, 100, RUNS, async (i) => {
      const until = Number(windowEnd(i) / NS_PER_MS);
      const res = await fetch(`${http}/v1/graph?since=${new Date(until - DAY_MS).toISOString()}&until=${new Date(until).toISOString()}`);
      const g = (await res.json()) as { nodes: unknown[]; edges: unknown[]; window: { table: string; l7_table?: string } };
      if (!res.ok) throw new Error(JSON.stringify(g));
      return `${g.nodes.length} nodes, ${g.edges.length} edges from ${g.window.table}, L7 from ${g.window.l7_table}`;
    });

    const api = await startQueryApi(apiConfig, { log: silentLogger });
    const { ObserverClient } = loadHubbleGrpc();
    const client = new ObserverClient(`127.0.0.1:${api.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { GetFlows(req: object): grpc.ClientReadableStream<Record<string, unknown>> };
    const http = `http://127.0.0.1:${api.httpPort}`;
    try {
      // Pods to ask about: every workload's first pod, cycled through, so that no run reuses the last one's answer.
      const topology = createTopology({ seed: SEED });
      const pods = topology.workloads.map((w) => `${w.namespace}/${w.pods[0]!.name}`);

      await measure('last 20 flows of one pod, 24 h window (gRPC GetFlows)', 50, RUNS, async (i) => {
        const until = windowEnd(i);
        const pod = pods[Math.abs(i) % pods.length]!;
        const got = await new Promise<number>((resolve, reject) => {
          let n = 0;
          const st = client.GetFlows({ number: 20, since: timestampFromNanos(until - 86_400_000n * NS_PER_MS), until: timestampFromNanos(until), whitelist: [{ source_pod: [pod] }], field_mask: { paths: HUBBLE_PRINT_MASK } });
          st.on('data', () => n++);
          st.on('error', reject);
          st.on('end', () => resolve(n));
        });
        return `${got} flows of ${pod}`;
      });

      await graph(http, 'dependency graph, 24 h window (HTTP /v1/graph)');

      await measure(`drops by reason over ${DAYS} days (HTTP /v1/drops)`, 200, RUNS, async (i) => {
        const until = s.endMs - (Math.abs(i) % 12) * 60_000;
        const res = await fetch(`${http}/v1/drops?since=${new Date(until - DAYS * DAY_MS).toISOString()}&until=${new Date(until).toISOString()}`);
        const d = (await res.json()) as { series: Array<{ total: number }>; step_seconds: number; window: { table: string } };
        if (!res.ok) throw new Error(JSON.stringify(d));
        return `${d.series.length} reasons, ${fmt(d.series.reduce((a, x) => a + x.total, 0))} drops, ${d.step_seconds} s steps from ${d.window.table}`;
      });
    } finally {
      client.close();
      await api.stop();
    }

  } finally {
    await ch.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench/query failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
