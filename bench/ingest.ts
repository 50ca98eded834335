/**
 * Ingest figures, with a real Kafka broker and a real ClickHouse on this machine (a stack of its own, started
 * here). Run: `npx tsc -p tsconfig.json && node dist/bench/ingest.js` (or `npm run bench ingest`).
 *
 *   1. Encoding cost per flow: the Avro transcoder (the hot path) against decode + encode.
 *   2. Insert formats @clickhouse/client can send, same rows into the landing table: JSONEachRow and
 *      JSONCompactEachRow (client.insert) against RowBinary (a raw body through client.exec); client CPU,
 *      ClickHouse CPU (from /proc of the local server) and wall time per row, checked for the same stored sums.
 *      Also the landing table (Null engine, plain strings) against inserting into the raw table directly.
 *   3. End to end: INGEST_BENCH_FLOWS (default 1,000,000) flows published to 8 partitions first (in batches
 *      compressed with INGEST_BENCH_COMPRESSION, default lz4 like the collector), then drained by
 *      one worker, `lookback ingest` in a process of its own (batch.maxAge INGEST_BENCH_MAX_AGE, default 5s):
 *      sustained rows/s, CPU per flow of the worker, of ClickHouse and of the broker (all from /proc), and the
 *      worker's peak RSS. The machine's load average is printed with it: other work on the machine shows up.
 *      Before it, the floor under the worker: a bare kafkajs consumer reading the same records (kafkajsFloor).
 *   4. Bytes on disk per flow in the raw table for DISK_BENCH_FLOWS (default 10,000,000) generated flows at
 *      3,000 flows/s (about 55 minutes of one cluster), inserted straight into ClickHouse, merged.
 * Set DISK_BENCH_FLOWS=0 or INGEST_BENCH_FLOWS=0 to skip a part; INGEST_BENCH_MAX_ROWS and INGEST_BENCH_CONCURRENCY
 * set the worker's batch.maxRows and insert.concurrency, INGEST_BENCH_FETCH_BYTES its Kafka fetch sizes; INGEST_BENCH_WORKER_NODE_ARGS passes node flags to
 * the worker (`--cpu-prof --cpu-prof-dir=DIR` profiles it). Prints figures; asserts nothing about time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { FLOW_INSERT_COLUMN_LIST, flowToRow, FLOW_INSERT_COLUMNS } from '../common/flow-row.js';
import { parseConfig } from '../common/config.js';
import { compressionType, registerKafkaCodecs, type Compression } from '../common/kafka-codecs.js';
import { procStat } from '../common/proc.js';
import { spawnSupervised } from '../common/stack/child.js';
import { startLocalStack } from '../common/stack/index.js';
import { ingestSpec } from '../ingest/config.js';
import { AvroRowTranscoder } from '../ingest/avro-transcoder.js';
import { insertBody } from '../ingest/clickhouse-insert.js';
import { writeFlowRow } from '../ingest/flow-row-binary.js';
import { PERMISSIVE_LIMITS } from '../ingest/limits.js';
import { RowBinaryWriter } from '../ingest/row-binary.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { loadFlowSchemas } from '../schemas/flow-schema.js';
import type { Flow } from '../schemas/flow-types.js';
import { createFlowGenerator, generateFlows, insertGeneratedFlows } from './flowgen.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const INGEST_FLOWS = Number(process.env['INGEST_BENCH_FLOWS'] ?? 1_000_000);
const DISK_FLOWS = Number(process.env['DISK_BENCH_FLOWS'] ?? 10_000_000);
const FORMAT_ROWS = Number(process.env['FORMAT_BENCH_ROWS'] ?? 200_000);
const MAX_AGE = process.env['INGEST_BENCH_MAX_AGE'] ?? '5s';
const CONCURRENCY = Number(process.env['INGEST_BENCH_CONCURRENCY'] ?? 2);
/** batch.maxRows of the worker (default: ingest's own default). */
const MAX_ROWS = process.env['INGEST_BENCH_MAX_ROWS'] ? Number(process.env['INGEST_BENCH_MAX_ROWS']) : undefined;
/**
 * The worker's kafka.maxBytesPerPartition and kafka.maxBytes as "PER_PARTITION,TOTAL" bytes (default: ingest's own
 * defaults); the kafkajs floor consumer uses the same.
 */
const MAX_BUFFERED = process.env['INGEST_BENCH_MAX_BUFFERED'] ? Number(process.env['INGEST_BENCH_MAX_BUFFERED']) : undefined;
const FETCH_BYTES = process.env['INGEST_BENCH_FETCH_BYTES']?.split(',').map(Number);
/** What the collector publishes by default. */
const COMPRESSION = (process.env['INGEST_BENCH_COMPRESSION'] ?? 'lz4') as Compression;
/** Extra node flags for the worker process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it. */
const WORKER_NODE_ARGS = (process.env['INGEST_BENCH_WORKER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const LONG_DAYS = { rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 };

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** CPU seconds (user + system) of a process, from /proc. */
function procCpuSeconds(pid: number): number {
  const fields = procStat(pid);
  if (!fields) throw new Error(`process ${pid} is gone`);
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

function recentFlows(seed: number, n: number): Flow[] {
  const end = Date.now();
  return [...generateFlows({ seed, count: n, start: end - 30 * 60_000, end })];
}

async function encodingCost(): Promise<void> {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const flows = recentFlows(1, 50_000);
  const values = codec.encodeBatch(flows);
  const tc = new AvroRowTranscoder(loadFlowSchemas().current.schema);
  const w = new RowBinaryWriter(128 << 20);
  const time = (fn: () => void): number => {
    let best = Infinity;
    for (let r = 0; r < 4; r++) {
      w.reset();
      const t0 = process.hrtime.bigint();
      fn();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / values.length);
    }
    return best;
  };
  const transcode = time(() => { for (const v of values) tc.transcode(v, 10, v.length, w, PERMISSIVE_LIMITS); });
  const general = time(() => { for (const v of values) writeFlowRow(w, codec.decode(v), PERMISSIVE_LIMITS); });
  const avroBytes = values.reduce((s, v) => s + v.length, 0) / values.length;
  console.log(`encoding: Avro -> RowBinary transcoder ${fmt(transcode)} ns/flow; decode + encode ${fmt(general)} ns/flow (Avro ${fmt(avroBytes)} B/flow, RowBinary ${fmt(w.pos / values.length)} B/flow)`);
}

async function freshDb(ch: ClickHouseClient, name: string): Promise<string> {
  const db = `${name}_${Date.now().toString(36)}`;
  await migrate(ch, { database: db, vars: retentionVars(LONG_DAYS) });
  return db;
}

async function sums(ch: ClickHouseClient, db: string): Promise<string> {
  const rs = await ch.query({ query: `SELECT count() AS n, uniqExact(uuid) AS u, sum(bytes_fwd) AS b, sum(packets_rev) AS p, cityHash64(groupArray(source_pod)) AS h FROM (SELECT * FROM ${db}.flows ORDER BY uuid)`, format: 'JSONEachRow' });
  return JSON.stringify(await rs.json());
}

async function insertFormats(ch: ClickHouseClient, chPid: number): Promise<void> {
  const flows = recentFlows(2, FORMAT_ROWS);
  const BATCH = 50_000;
  const results: string[] = [];
  const reference: string[] = [];
  const run = async (label: string, table: string, send: (db: string, part: Flow[]) => Promise<void>): Promise<void> => {
    const db = await freshDb(ch, 'bench_fmt');
    const c0 = process.cpuUsage();
    const s0 = procCpuSeconds(chPid);
    const t0 = performance.now();
    for (let i = 0; i < flows.length; i += BATCH) await send(db, flows.slice(i, i + BATCH));
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const server = procCpuSeconds(chPid) - s0;
    const check = await sums(ch, db);
    reference.push(check);
    results.push(`  ${label.padEnd(44)} ${fmt(flows.length / wall).padStart(9)} rows/s   client ${fmt((cpu.user + cpu.system) / flows.length, 2).padStart(5)} us/row   ClickHouse ${fmt((server * 1e6) / flows.length, 2).padStart(5)} us/row   (${table})`);
    await ch.command({ query: `DROP DATABASE ${db}` });
  };
  const names = FLOW_INSERT_COLUMNS.map((c) => c.name);
  await run('JSONEachRow (client.insert)', 'flows_ingest', async (db, part) => {
    await ch.insert({ table: `${db}.flows_ingest`, values: part.map(flowToRow), format: 'JSONEachRow' });
  });
  await run('JSONCompactEachRow (client.insert)', 'flows_ingest', async (db, part) => {
    await ch.insert({ table: `${db}.flows_ingest`, columns: names as [string, ...string[]], values: part.map((f) => { const r = flowToRow(f) as unknown as Record<string, unknown>; return names.map((n) => r[n]); }), format: 'JSONCompactEachRow' });
  });
  const rowBinary = (table: string) => async (db: string, part: Flow[]): Promise<void> => {
    const w = new RowBinaryWriter(part.length * 1400);
    for (const f of part) writeFlowRow(w, f, PERMISSIVE_LIMITS);
    await insertBody(ch, `INSERT INTO ${db}.${table} ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, w.finish());
  };
  await run('RowBinary (client.exec, raw body)', 'flows_ingest', rowBinary('flows_ingest'));
  await run('RowBinary straight into the raw table', 'flows, no roll-ups', rowBinary('flows'));
  console.log(`insert formats, ${fmt(flows.length)} flows in batches of ${fmt(BATCH)} (client CPU includes building the rows from Flow objects):`);
  for (const r of results) console.log(r);
  const same = reference.slice(0, 3).every((r) => r === reference[0]);
  console.log(`  stored rows identical across the three formats (count, distinct uuids, sums, pods): ${same ? 'yes' : `NO: ${reference.join(' | ')}`}`);
}

async function endToEnd(ch: ClickHouseClient, url: string, brokers: string[], chPid: number, kafkaPid: number): Promise<void> {
  const topic = `bench.flows.${Date.now().toString(36)}`;
  const kafka = new kafkajs.Kafka({ brokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 8 }], waitForLeaders: true });
  await admin.disconnect();
  const codec = await createFlowCodec({ framing: 'single-object' });
  const end = Date.now();
  const gen = createFlowGenerator({ seed: 3, count: INGEST_FLOWS, start: end - 60 * 60_000, end });
  await registerKafkaCodecs();
  const compression = compressionType(COMPRESSION);
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = performance.now();
  let avroBytes = 0;
  for (let i = 0; i < INGEST_FLOWS; i += 8 * 500) {
    const sends: Promise<unknown>[] = [];
    for (let p = 0; p < 8; p++) {
      const flows: Flow[] = [];
      for (let j = 0; j < 500 && i + p * 500 + j < INGEST_FLOWS; j++) flows.push(gen.next());
      if (flows.length === 0) break;
      const values = codec.encodeBatch(flows);
      for (const v of values) avroBytes += v.length;
      sends.push(producer.send({ topic, acks: 1, compression, messages: values.map((value) => ({ partition: p, value })) }));
    }
    await Promise.all(sends);
  }
  await producer.disconnect();
  console.log(`end to end: published ${fmt(INGEST_FLOWS)} flows (${fmt(avroBytes / INGEST_FLOWS)} B each, ${COMPRESSION} batches of 500) to 8 partitions in ${fmt((performance.now() - t0) / 1000, 1)} s`);

  await kafkajsFloor(kafka, topic);

  const db = await freshDb(ch, 'bench_e2e');
  const config = {
    kafka: { brokers, topic, groupId: topic, sessionTimeout: '10s', ...(FETCH_BYTES ? { maxBytesPerPartition: FETCH_BYTES[0], maxBytes: FETCH_BYTES[1] } : {}) },
    clickhouse: { url, database: db },
    retention: LONG_DAYS,
    // Batches are per partition: with 8 partitions, 1 s would make 8 inserts (56 parts over 7 tables) a second.
    batch: { maxAge: MAX_AGE, ...(MAX_ROWS ? { maxRows: MAX_ROWS } : {}) },
    insert: { concurrency: CONCURRENCY },
    ...(MAX_BUFFERED ? { limits: { maxBufferedBytes: MAX_BUFFERED } } : {}),
    metrics: { enabled: false },
  };
  parseConfig(ingestSpec, config); // fail here, not in the child, on a bad config
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-bench-worker-'));
  const configFile = path.join(dir, 'ingest.yaml');
  fs.writeFileSync(configFile, JSON.stringify(config));
  // The worker in a process of its own (`lookback ingest`), so that its CPU and memory are its own.
  const s0 = procCpuSeconds(chPid);
  const k0 = procCpuSeconds(kafkaPid);
  const t1 = performance.now();
  const worker = spawnSupervised({
    name: 'ingest', command: process.execPath, args: [...WORKER_NODE_ARGS, path.join(ROOT, 'bin/lookback.js'), 'ingest', '--config', configFile],
    logFile: path.join(dir, 'worker.log'), env: { ...process.env, LOOKBACK_LOG: 'info' },
  });
  let startMs = 0;
  let firstRowAt = 0;
  let stored = 0;
  let cpuAtEnd = 0;
  let peakRss = 0;
  try {
    for (;;) {
      if (!worker.isRunning()) throw new Error(`the worker exited: ${worker.tail(20)}`);
      if (!startMs && fs.readFileSync(path.join(dir, 'worker.log'), 'utf8').includes('ingest started')) startMs = performance.now() - t1;
      stored = await count(ch, db);
      if (!firstRowAt && stored > 0) firstRowAt = performance.now();
      if (stored >= INGEST_FLOWS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    cpuAtEnd = procCpuSeconds(worker.pid);
    peakRss = peakRssBytes(worker.pid);
  } finally {
    await worker.stop(30_000);
  }
  const wall = (performance.now() - t1) / 1000;
  const server = procCpuSeconds(chPid) - s0;
  const broker = procCpuSeconds(kafkaPid) - k0;
  const [{ n, u }] = await (await ch.query({ query: `SELECT count() AS n, uniqExact(uuid) AS u FROM ${db}.flows`, format: 'JSONEachRow' })).json<{ n: string; u: string }>() as [{ n: string; u: string }];
  const log = fs.readFileSync(path.join(dir, 'worker.log'), 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`end to end: one worker (lookback ingest) drained ${fmt(INGEST_FLOWS)} flows in ${fmt(wall, 1)} s = ${fmt(INGEST_FLOWS / wall)} flows/s sustained, process start included (batch.maxAge ${MAX_AGE}, batch.maxRows ${MAX_ROWS ?? 'default'}, insert.concurrency ${CONCURRENCY}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.log(`end to end: worker CPU ${fmt((cpuAtEnd * 1e6) / INGEST_FLOWS, 2)} us/flow (${fmt(cpuAtEnd, 1)} s, node start-up included); ClickHouse ${fmt((server * 1e6) / INGEST_FLOWS, 2)} us/flow; Kafka broker ${fmt((broker * 1e6) / INGEST_FLOWS, 2)} us/flow`);
  console.log(`end to end: worker ready ${fmt(startMs)} ms after spawn (node, schema check, topics, group join), first rows stored after ${fmt(firstRowAt - t1)} ms, peak RSS ${fmt(peakRss / 2 ** 20)} MiB`);
  console.log(`end to end: stored ${fmt(Number(n))} rows, ${fmt(Number(u))} distinct uuids (expected ${fmt(INGEST_FLOWS)}); ${/fastPath=true/.test(log) ? 'transcoder on' : 'transcoder OFF'}`);
}

/**
 * What kafkajs alone costs: a consumer in this process that reads every published record (fetch, decompression,
 * record decoding) and does nothing with it. The floor under the worker's CPU per flow.
 */
async function kafkajsFloor(kafka: kafkajs.Kafka, topic: string): Promise<void> {
  // The worker's fetch sizes (ingest's defaults, ingest/config.ts, unless INGEST_BENCH_FETCH_BYTES sets them).
  const { kafka: fetch } = parseConfig(ingestSpec, { kafka: FETCH_BYTES ? { maxBytesPerPartition: FETCH_BYTES[0], maxBytes: FETCH_BYTES[1] } : {} });
  const consumer = kafka.consumer({ groupId: `${topic}.floor`, maxBytesPerPartition: fetch.maxBytesPerPartition, maxBytes: fetch.maxBytes, maxWaitTimeInMs: fetch.maxWaitTime });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let n = 0;
  let bytes = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  let t0 = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!cpu0) {
          cpu0 = process.cpuUsage();
          t0 = performance.now();
        }
        for (const m of batch.messages) bytes += m.value?.length ?? 0;
        n += batch.messages.length;
        if (n >= INGEST_FLOWS) resolve();
      },
    });
  });
  await done;
  const cpu = process.cpuUsage(cpu0);
  const secs = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  console.log(`kafkajs alone (consume, ${COMPRESSION} decompression, record decoding; nothing else): ${fmt(((cpu.user + cpu.system) / n), 2)} us CPU/flow, ${fmt(n / secs)} flows/s in this process (${fmt(bytes / n)} B each; fetch ${fmt(fetch.maxBytesPerPartition)} B/partition, ${fmt(fetch.maxBytes)} B/request)`);
}

async function count(ch: ClickHouseClient, db: string): Promise<number> {
  const [r] = await (await ch.query({ query: `SELECT count() AS n FROM ${db}.flows`, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(r?.n ?? 0);
}

/** VmHWM: the process's peak resident memory. */
function peakRssBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function diskSize(ch: ClickHouseClient): Promise<void> {
  const db = await freshDb(ch, 'bench_disk');
  const rate = 3000;
  const end = Date.now();
  const start = end - Math.ceil((DISK_FLOWS / rate) * 1000);
  const t0 = performance.now();
  let next = 1_000_000;
  await insertGeneratedFlows(ch, db, {
    seed: 10, count: DISK_FLOWS, start, end, batchRows: 100_000, table: 'flows_ingest',
    onBatch: (rows) => {
      if (rows >= next) {
        process.stdout.write(`  disk: ${fmt(rows)} flows inserted (${fmt((performance.now() - t0) / 1000)} s)\n`);
        next += 1_000_000;
      }
    },
  });
  const insertSecs = (performance.now() - t0) / 1000;
  await ch.command({ query: `OPTIMIZE TABLE ${db}.flows FINAL`, clickhouse_settings: { optimize_throw_if_noop: 0 } });
  const q = async <T>(sql: string): Promise<T[]> => (await ch.query({ query: sql, query_params: { db }, format: 'JSONEachRow' })).json<T>();
  const [t] = await q<{ rows: string; disk: string; comp: string; unc: string; parts: string }>(`SELECT sum(rows) AS rows, sum(bytes_on_disk) AS disk, sum(data_compressed_bytes) AS comp, sum(data_uncompressed_bytes) AS unc, count() AS parts FROM system.parts WHERE database = {db:String} AND table = 'flows' AND active`);
  const rows = Number(t!.rows);
  console.log(`disk: ${fmt(rows)} flows (${fmt(DISK_FLOWS / rate / 60)} min at ${fmt(rate)} flows/s, inserted in ${fmt(insertSecs)} s through the landing table), ${t!.parts} part(s) after OPTIMIZE FINAL`);
  console.log(`disk: raw table ${fmt(Number(t!.disk) / rows, 1)} bytes/flow on disk (compressed ${fmt(Number(t!.comp) / rows, 1)}, uncompressed ${fmt(Number(t!.unc) / rows, 1)}); target <= 40`);
  const cols = await q<{ column: string; c: string }>(`SELECT column, sum(column_data_compressed_bytes) AS c FROM system.parts_columns WHERE database = {db:String} AND table = 'flows' AND active GROUP BY column ORDER BY c DESC LIMIT 8`);
  console.log(`disk: widest columns (bytes/flow): ${cols.map((c) => `${c.column} ${fmt(Number(c.c) / rows, 2)}`).join(', ')}`);
  const others = await q<{ table: string; disk: string; rows: string }>(`SELECT table, sum(bytes_on_disk) AS disk, sum(rows) AS rows FROM system.parts WHERE database = {db:String} AND active AND table != 'flows' GROUP BY table ORDER BY table`);
  console.log(`disk: other tables: ${others.map((o) => `${o.table} ${fmt(Number(o.disk) / 2 ** 20, 1)} MiB (${fmt(Number(o.rows))} rows)`).join(', ')}`);
  await ch.command({ query: `DROP DATABASE ${db}` });
}

async function main(): Promise<void> {
  await encodingCost();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-bench-ingest-'));
  const stack = await startLocalStack({ dataDir, clickhouse: true, kafka: INGEST_FLOWS > 0, registry: false, redis: false });
  try {
    const url = stack.endpoints.clickhouseUrl!;
    const ch = createClient({ url, request_timeout: 1_800_000, log: { level: ClickHouseLogLevel.OFF } });
    const chPid = stack.parts.find((p) => p.name === 'clickhouse')!.pid;
    // The server is a node parent with the ClickHouse thread pool in it: its /proc CPU is the server's.
    if (FORMAT_ROWS > 0) await insertFormats(ch, chPid);
    if (INGEST_FLOWS > 0) await endToEnd(ch, url, stack.endpoints.kafkaBrokers!, chPid, stack.parts.find((p) => p.name === 'kafka')!.pid);
    if (DISK_FLOWS > 0) await diskSize(ch);
    await ch.close();
  } finally {
    await stack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
