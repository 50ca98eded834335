import { bool, duration, int, list, section, str, type ConfigOf } from '../common/config.js';
import { clickhouseSection } from '../common/clickhouse/client.js';
import { retentionSection } from '../common/clickhouse/retention.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';

const MiB = 1024 * 1024;
const IDENT = /^[A-Za-z0-9._-]+$/;

/**
 * `lookback ingest` configuration: one typed object of component sections with defaults. Validated once at
 * start-up (`--check` validates and exits); `--help-config` prints every key.
 */
export const ingestSpec = {
  kafka: section({
    brokers: list(str('', { pattern: /^[^\s:,]+:\d+$/, describe: 'host:port' }), ['127.0.0.1:9092'], { minItems: 1, doc: 'bootstrap brokers' }),
    topic: str(DEFAULT_FLOW_TOPIC, { pattern: IDENT, describe: 'a Kafka topic name', doc: 'the flow topic to consume' }),
    groupId: str('lookback-ingest', { pattern: IDENT, describe: 'a consumer group id', doc: 'consumer group: run more workers with the same id to share the partitions' }),
    clientId: str('lookback-ingest', { pattern: IDENT, describe: 'a client id' }),
    deadLetterTopic: str('', { pattern: /^$|^[A-Za-z0-9._-]+$/, describe: 'a Kafka topic name, or empty for <topic>.dlq', doc: 'where records that cannot be stored go, with the reason in headers' }),
    createTopics: bool(true, { doc: 'create the flow topic and the dead-letter topic if missing' }),
    topicPartitions: int(8, { min: 1, max: 10_000, doc: 'partitions of the flow topic when ingest creates it' }),
    fromBeginning: bool(true, { doc: 'a new consumer group starts at the oldest record (false: at new records only)' }),
    sessionTimeout: duration('30s', { min: 6000, max: 300_000, doc: 'how long the group waits for a silent worker before moving its partitions' }),
    heartbeatInterval: duration('3s', { min: 100, max: 60_000 }),
    // kafkajs decodes and decompresses a whole fetch response before the first of its batches is handed over, so
    // every record of a fetch is in memory at once (about 8 times the compressed size for flows). 1 MiB / 8 MiB
    // (room for one fetch of each of the default 8 partitions) instead of 4 / 32: kafkajs alone cost 2.7-3.3 us of
    // CPU per flow against 3.1-4.1 (bench/ingest.ts, INGEST_BENCH_FETCH_BYTES), and while ClickHouse was slow the
    // worker peaked at 0.6-0.7 GiB RSS against 1.1-1.2 GiB; still far more than 100,000 flows/s per consumer.
    maxBytesPerPartition: int(1 * MiB, { min: 64 * 1024, max: 256 * MiB, doc: 'fetch size per partition' }),
    maxBytes: int(8 * MiB, { min: 1 * MiB, max: 1024 * MiB, doc: 'fetch size per request (compressed: a fetch can hold several times more once decompressed, all in memory at once)' }),
    maxWaitTime: duration('250ms', { min: 10, max: 10_000, doc: 'how long a fetch waits for data' }),
  }, { doc: 'Kafka consumer group' }),
  registry: section({
    url: str('', { pattern: /^$|^https?:\/\/\S+$/, describe: 'an http(s) URL or empty', doc: 'Confluent-compatible schema registry, to read Confluent-framed records; empty: single-object records only' }),
    timeout: duration('10s', { min: 100, max: 120_000 }),
  }, { doc: 'schema registry (optional)' }),
  batch: section({
    maxRows: int(50_000, { min: 1, max: 1_000_000, doc: 'rows per insert (per partition)' }),
    maxAge: duration('1s', { min: 10, max: 600_000, doc: 'longest a row waits for its batch to fill' }),
    maxBytes: int(64 * MiB, { min: 64 * 1024, max: 1024 * MiB, doc: 'largest insert body' }),
  }, { doc: 'when a partition\'s open batch is sent to ClickHouse' }),
  insert: section({
    concurrency: int(2, { min: 1, max: 64, doc: 'inserts in flight (one per partition at a time)' }),
    retryMin: duration('200ms', { min: 10, max: 60_000, doc: 'first retry delay after a failed insert' }),
    retryMax: duration('10s', { min: 100, max: 600_000, doc: 'longest retry delay (exponential backoff)' }),
  }, { doc: 'ClickHouse inserts' }),
  limits: section({
    maxBufferedBytes: int(256 * MiB, { min: 4 * MiB, max: 64 * 1024 * MiB, doc: 'rows held in memory (open and unacknowledged batches) before fetching pauses and the open batches are sent without waiting for batch.maxAge' }),
    maxRecordBytes: int(1 * MiB, { min: 1024, max: 64 * MiB, doc: 'larger records are dead-lettered' }),
    maxStringBytes: int(64 * 1024, { min: 256, max: 16 * MiB, doc: 'a longer string value dead-letters its record' }),
    maxFutureSkew: duration('1h', { min: 0, max: 30 * 86_400_000, doc: 'flows timed later than now + this are dead-lettered (older than retention.rawDays too)' }),
  }, { doc: 'memory and record limits' }),
  retention: retentionSection,
  clickhouse: clickhouseSection,
  metrics: section({
    enabled: bool(true),
    host: str('127.0.0.1', { doc: 'address of the Prometheus endpoint' }),
    port: int(9466, { min: 0, max: 65535, doc: 'port of GET /metrics (0: any free port)' }),
  }, { doc: 'Prometheus endpoint' }),
  shutdownTimeout: duration('30s', { min: 0, max: 600_000, doc: 'how long a graceful stop waits to store and commit what it holds' }),
};

export type IngestConfig = ConfigOf<typeof ingestSpec>;
