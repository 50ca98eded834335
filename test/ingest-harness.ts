/**
 * What the ingest tests share: topics, a migrated database, publishing flows fast, an ingest config, the worker
 * as a child process (`node bin/lookback.js ingest --config FILE`), and the checks (exact counts, roll-ups).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs, { type Kafka, type KafkaMessage } from 'kafkajs';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { parseConfig } from '../common/config.js';
import { migrate } from '../common/clickhouse/migrate.js';
import { retentionVars } from '../common/clickhouse/retention.js';
import { compressionType, registerKafkaCodecs, type Compression } from '../common/kafka-codecs.js';
import { spawnSupervised, type SupervisedChild } from '../common/stack/child.js';
import { ingestSpec, type IngestConfig } from '../ingest/config.js';
import type { FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function kafkaClient(brokers: string[]): Kafka {
  return new kafkajs.Kafka({ brokers, clientId: 'lookback-test', logLevel: kafkajs.logLevel.NOTHING });
}

export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** A fresh database with every migration applied; retention long enough for any test data. */
export async function migratedDatabase(client: ClickHouseClient, database: string, days = 3650): Promise<void> {
  await migrate(client, { database, vars: retentionVars({ rawDays: days, minuteDays: days, fiveMinuteDays: days, hourDays: days }) });
}

export interface Publication {
  /** Record values in order, to be spread round-robin over the partitions in runs of `run` records. */
  values: Buffer[];
  partitions: number;
  run?: number;
  headers?: (i: number) => Record<string, string> | undefined;
  /** Batch compression, as the collector may use (default none). */
  compression?: Compression;
}

/** Publishes values quickly: batches of up to 500 per partition, all partitions at once. */
export async function publish(kafka: Kafka, topic: string, pub: Publication): Promise<void> {
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const run = pub.run ?? 500;
    const perPartition: Array<Array<{ value: Buffer; headers?: Record<string, string> }>> = Array.from({ length: pub.partitions }, () => []);
    pub.values.forEach((value, i) => {
      const h = pub.headers?.(i);
      perPartition[Math.floor(i / run) % pub.partitions]!.push(h ? { value, headers: h } : { value });
    });
    if (pub.compression && pub.compression !== 'none') await registerKafkaCodecs();
    const compression = compressionType(pub.compression ?? 'none');
    const sends = perPartition.map(async (msgs, partition) => {
      for (let i = 0; i < msgs.length; i += 500) {
        await producer.send({ topic, acks: -1, compression, messages: msgs.slice(i, i + 500).map((m) => ({ ...m, partition })) });
      }
    });
    await Promise.all(sends);
  } finally {
    await producer.disconnect();
  }
}

export function encodeAll(codec: FlowCodec, flows: readonly Flow[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < flows.length; i += 1000) out.push(...codec.encodeBatch(flows.slice(i, i + 1000)));
  return out;
}

export interface IngestSetup {
  brokers: string[];
  topic: string;
  groupId: string;
  clickhouseUrl: string;
  database: string;
  registryUrl?: string;
}

/** A validated ingest config for tests: short session timeout (fast rebalances), small batches, no metrics port. */
export function ingestConfig(s: IngestSetup, overrides: Record<string, unknown> = {}): IngestConfig {
  return parseConfig(ingestSpec, configTree(s, overrides));
}

export function configTree(s: IngestSetup, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const days = 3650;
  const tree: Record<string, Record<string, unknown>> = {
    kafka: { brokers: s.brokers, topic: s.topic, groupId: s.groupId, sessionTimeout: '6s', heartbeatInterval: '1s', maxWaitTime: '100ms', createTopics: true },
    clickhouse: { url: s.clickhouseUrl, database: s.database, requestTimeout: '30s' },
    retention: { rawDays: days, minuteDays: days, fiveMinuteDays: days, hourDays: days },
    batch: { maxRows: 20_000, maxAge: '300ms' },
    insert: { retryMin: '100ms', retryMax: '1s' },
    metrics: { enabled: false },
    registry: s.registryUrl ? { url: s.registryUrl } : {},
  };
  for (const [k, v] of Object.entries(overrides)) {
    const [sec, key] = k.split('.') as [string, string | undefined];
    if (key === undefined) tree[sec] = v as Record<string, unknown>;
    else tree[sec] = { ...(tree[sec] ?? {}), [key]: v };
  }
  return tree;
}

/** Writes a config file (JSON is YAML) for a worker child process. */
export function writeConfigFile(tree: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-ingest-cfg-'));
  const file = path.join(dir, 'ingest.yaml');
  fs.writeFileSync(file, JSON.stringify(tree, null, 2));
  return file;
}

/** `node bin/lookback.js ingest --config FILE` as a supervised child (dies with the test process). */
export function startWorker(configFile: string, logFile: string): SupervisedChild {
  return spawnSupervised({
    name: 'ingest',
    command: process.execPath,
    args: [path.join(root, 'bin/lookback.js'), 'ingest', '--config', configFile],
    logFile,
    env: { ...process.env, LOOKBACK_LOG: 'info' },
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The offsets a consumer group has committed on a topic, summed over its partitions. */
export async function committedTotal(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function rowCounts(client: ClickHouseClient, database: string): Promise<{ rows: number; distinct: number }> {
  const rs = await client.query({ query: `SELECT count() AS rows, uniqExact(uuid) AS distinct FROM ${database}.flows`, format: 'JSONEachRow' });
  const [r] = await rs.json<{ rows: string; distinct: string }>();
  return { rows: Number(r?.rows ?? 0), distinct: Number(r?.distinct ?? 0) };
}

/** Every roll-up holds the same sums as the raw table (all time: the tests' data sits in one window). */
export async function assertRollupsMatchRaw(client: ClickHouseClient, database: string): Promise<void> {
  const q = async (sql: string): Promise<Record<string, string>> => {
    const [r] = await (await client.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, string>>();
    return r ?? {};
  };
  const raw = await q(`SELECT sum(bytes_fwd) AS bytes_fwd, sum(packets_fwd) AS packets_fwd, sum(bytes_rev) AS bytes_rev, sum(packets_rev) AS packets_rev, count() AS flows, countIf(verdict = 'DROPPED') AS drops FROM ${database}.flows`);
  assert.ok(Number(raw['flows']) > 0, 'the raw table has rows');
  for (const t of ['flows_1m', 'flows_5m', 'flows_1h']) {
    const r = await q(`SELECT sum(bytes_fwd) AS bytes_fwd, sum(packets_fwd) AS packets_fwd, sum(bytes_rev) AS bytes_rev, sum(packets_rev) AS packets_rev, sum(flows) AS flows, sum(drops) AS drops FROM ${database}.${t}`);
    assert.deepEqual(r, raw, `${t} sums equal the raw table's`);
  }
  // Per minute and namespace too: the roll-up keeps the breakdown, not just the total.
  const perMinute = async (sql: string): Promise<string> => JSON.stringify(await (await client.query({ query: sql, format: 'JSONCompactEachRow' })).json());
  const a = await perMinute(`SELECT toStartOfMinute(time) AS m, source_namespace, sum(bytes_fwd), count() FROM ${database}.flows GROUP BY m, source_namespace ORDER BY m, source_namespace`);
  const b = await perMinute(`SELECT time AS m, source_namespace, sum(bytes_fwd), sum(flows) FROM ${database}.flows_1m GROUP BY m, source_namespace ORDER BY m, source_namespace`);
  assert.equal(b, a, 'flows_1m per minute and source namespace equals the raw table');
}

/** Reads `n` records of a topic from the beginning (a throwaway group). */
export async function readTopic(kafka: Kafka, topic: string, n: number, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const got: KafkaMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${n} records from ${topic} in ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message);
          if (got.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

export function chClient(url: string): ClickHouseClient {
  // Quiet: the outage and refused-row tests expect errors, which the library would print with stack traces.
  return createClient({ url, request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
}
