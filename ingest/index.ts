/**
 * `createIngest(config, deps)`: the ingest service, built from its config. `start()` checks the ClickHouse schema
 * (migrations applied), brings table TTLs in line with `retention`, makes sure the topics exist, and joins the
 * consumer group; `stop()` stores and commits what it holds, then leaves the group. See worker.ts for the flow.
 */
import kafkajs, { type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConfig } from '../common/clickhouse/client.js';
import { verifySchema } from '../common/clickhouse/migrate.js';
import { applyRetention, retentionVars } from '../common/clickhouse/retention.js';
import { LookbackError, describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { registerKafkaCodecs } from '../common/kafka-codecs.js';
import { createMetrics, serveMetrics, type Metrics, type MetricsServer } from '../common/metrics.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { loadFlowSchemas } from '../schemas/flow-schema.js';
import { createRegistryClient } from '../schemas/registry-client.js';
import { deadLetterTopic } from '../schemas/topics.js';
import { createBatchWriter } from './clickhouse-writer.js';
import type { IngestConfig } from './config.js';
import { createIngestMetrics } from './metrics.js';
import { createRecordEncoder, type RecordEncoder } from './record-encoder.js';
import { IngestWorker, type WorkerStats } from './worker.js';

export interface IngestDeps {
  log?: Logger;
  /** Metrics registry to add ingest's metrics to (default: a new one, served when config.metrics.enabled). */
  metrics?: Metrics;
  /** Called when the consumer crashed for good (kafkajs gave up); the process should exit. */
  onFatal?: (err: Error) => void;
}

export interface Ingest {
  start(): Promise<void>;
  /** Graceful: stores and commits what is held (up to config.shutdownTimeout), then leaves the group. */
  stop(): Promise<void>;
  stats(): WorkerStats & { fastPath: boolean; rowsPerSecond: number; transcoded: number; resolved: number };
  /** The Prometheus endpoint, once started (when enabled). */
  readonly metricsUrl: string | undefined;
}

/**
 * common/clickhouse/client.ts's client, without the library's own error logging: failed inserts are retried and
 * logged once per attempt by the worker, and the library would print a stack trace for each.
 */
function quietClickHouse(cfg: ClickHouseConfig): ClickHouseClient {
  return createClient({
    url: cfg.url, username: cfg.username, password: cfg.password, database: cfg.database,
    request_timeout: cfg.requestTimeout, max_open_connections: cfg.maxOpenConnections, application: 'lookback-ingest',
    log: { level: ClickHouseLogLevel.OFF },
  });
}

function kafkaLogCreator(log: Logger) {
  return () => ({ level, log: entry }: { level: number; log: { message: string; [k: string]: unknown } }) => {
    const { message, timestamp: _t, logger: _l, ...rest } = entry;
    const fields = { kafkajs: true, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => typeof v !== 'object' || v === null)) };
    if (level <= kafkajs.logLevel.WARN) log.warn(message, fields);
    else log.debug(message, fields);
  };
}

async function ensureTopics(admin: Admin, topics: Array<{ topic: string; numPartitions: number }>, log: Logger): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
    log.info('created topics', { topics: missing.map((t) => `${t.topic}(${t.numPartitions})`).join(',') });
  } catch (err) {
    // Another worker may have created them at the same moment.
    const now = new Set(await admin.listTopics());
    if (missing.some((t) => !now.has(t.topic))) throw new LookbackError('unavailable', `cannot create Kafka topics ${missing.map((t) => t.topic).join(', ')}: ${describeError(err)}`, { cause: err });
  }
}

export function createIngest(cfg: IngestConfig, deps: IngestDeps = {}): Ingest {
  const log = deps.log ?? silentLogger;
  const metrics = deps.metrics ?? createMetrics();
  const topic = cfg.kafka.topic;
  const dlqTopic = cfg.kafka.deadLetterTopic || deadLetterTopic(topic);
  const ingestMetrics = createIngestMetrics(metrics, topic);
  let kafka: Kafka | undefined;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let clickhouse: ClickHouseClient | undefined;
  let worker: IngestWorker | undefined;
  let encoder: RecordEncoder | undefined;
  let server: MetricsServer | undefined;
  let started = false;
  let stopped = false;

  const emptyStats: WorkerStats = { recordsTaken: 0, rowsStored: 0, deadLetters: 0, batchesStored: 0, commits: 0, insertRetries: 0, pauses: 0, bufferedBytes: 0, paused: false };

  async function start(): Promise<void> {
    if (started) throw new Error('ingest: start() called twice');
    started = true;
    const db = cfg.clickhouse.database;
    clickhouse = quietClickHouse(cfg.clickhouse);
    try {
      await verifySchema(clickhouse, { database: db, vars: retentionVars(cfg.retention) });
    } catch (err) {
      if (err instanceof LookbackError) throw err;
      throw new LookbackError('unavailable', `ClickHouse at ${cfg.clickhouse.url} did not answer: ${describeError(err)}`, { cause: err });
    }
    const changes = await applyRetention(clickhouse, db, cfg.retention, log.child('retention'));
    if (changes.length) log.info('retention changed', { tables: changes.map((c) => `${c.table}:${c.fromDays ?? '?'}->${c.toDays}d`).join(',') });

    const schemas = loadFlowSchemas();
    const registry = cfg.registry.url ? createRegistryClient({ url: cfg.registry.url, timeoutMs: cfg.registry.timeout }) : undefined;
    const codec = await createFlowCodec({ framing: 'single-object', schemas, ...(registry ? { registry } : {}) });
    encoder = createRecordEncoder({ codec, schemas, ...(registry ? { registry } : {}), maxRecordBytes: cfg.limits.maxRecordBytes });
    if (!encoder.fastPath) log.warn('the Avro transcoder does not read the current flow schema: every record is decoded (slower)', { schemaVersion: schemas.current.version });

    // The collector publishes LZ4 (or zstd) batches; kafkajs ships only gzip.
    await registerKafkaCodecs();
    kafka = new kafkajs.Kafka({
      clientId: cfg.kafka.clientId,
      brokers: cfg.kafka.brokers,
      logLevel: kafkajs.logLevel.WARN,
      logCreator: kafkaLogCreator(log.child('kafka')),
      retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
    });
    admin = kafka.admin();
    await admin.connect();
    if (cfg.kafka.createTopics) {
      await ensureTopics(admin, [{ topic, numPartitions: cfg.kafka.topicPartitions }, { topic: dlqTopic, numPartitions: 1 }], log);
    }
    producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    consumer = kafka.consumer({
      groupId: cfg.kafka.groupId,
      sessionTimeout: cfg.kafka.sessionTimeout,
      heartbeatInterval: cfg.kafka.heartbeatInterval,
      rebalanceTimeout: Math.max(cfg.kafka.sessionTimeout * 2, 60_000),
      maxBytesPerPartition: cfg.kafka.maxBytesPerPartition,
      maxBytes: cfg.kafka.maxBytes,
      maxWaitTimeInMs: cfg.kafka.maxWaitTime,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    const writer = createBatchWriter({
      client: clickhouse,
      database: db,
      retryMinMs: cfg.insert.retryMin,
      retryMaxMs: cfg.insert.retryMax,
      maxPartitionsPerInsert: Math.max(100, cfg.retention.rawDays + 2),
      onInsert: (rows, bytes, seconds) => ingestMetrics.inserted(rows, bytes, seconds),
    });
    worker = new IngestWorker({
      topic, groupId: cfg.kafka.groupId, deadLetterTopic: dlqTopic,
      maxRows: cfg.batch.maxRows, maxAgeMs: cfg.batch.maxAge, maxBatchBytes: cfg.batch.maxBytes,
      concurrency: cfg.insert.concurrency, retryMinMs: cfg.insert.retryMin, retryMaxMs: cfg.insert.retryMax,
      maxBufferedBytes: cfg.limits.maxBufferedBytes, maxPastMs: cfg.retention.rawDays * 86_400_000,
      maxFutureSkewMs: cfg.limits.maxFutureSkew, maxStringBytes: cfg.limits.maxStringBytes,
    }, { consumer, producer, admin, encoder, writer, metrics: ingestMetrics, log });
    consumer.on(consumer.events.CRASH, (e) => {
      const err = e.payload.error;
      log.error('Kafka consumer crashed', { error: describeError(err), restart: e.payload.restart });
      if (!e.payload.restart && !stopped) deps.onFatal?.(err);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: cfg.kafka.fromBeginning });
    worker.startTimers();
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: worker.eachBatch });
    if (cfg.metrics.enabled && !deps.metrics) {
      server = await serveMetrics(metrics, { port: cfg.metrics.port, host: cfg.metrics.host });
      log.info('metrics', { url: server.url });
    }
    log.info('ingest started', { topic, group: cfg.kafka.groupId, deadLetterTopic: dlqTopic, database: db, fastPath: encoder.fastPath });
  }

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    if (worker) await worker.drain(cfg.shutdownTimeout);
    const steps: Array<[string, () => Promise<void> | undefined]> = [
      ['consumer', () => consumer?.disconnect()],
      ['producer', () => producer?.disconnect()],
      ['admin', () => admin?.disconnect()],
      ['metrics', () => server?.stop()],
      ['clickhouse', () => clickhouse?.close()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        log.warn(`stopping ${name} failed`, { error: describeError(err) });
      }
    }
    log.info('ingest stopped', worker ? { rowsStored: worker.stats.rowsStored, deadLetters: worker.stats.deadLetters } : {});
  }

  return {
    start,
    stop,
    stats: () => ({
      ...(worker?.stats ?? emptyStats), fastPath: encoder?.fastPath ?? false, rowsPerSecond: ingestMetrics.rowsPerSecond(),
      transcoded: encoder?.counts.transcoded ?? 0, resolved: encoder?.counts.resolved ?? 0,
    }),
    get metricsUrl() {
      return server?.url;
    },
  };
}

export { ingestSpec } from './config.js';
export type { IngestConfig } from './config.js';
