import type { Metrics } from '../common/metrics.js';
import type { DeadLetterKind } from './record-encoder.js';

/**
 * Ingest's metrics (Prometheus names):
 *   lookback_ingest_records_total{result}            records taken from Kafka: stored | dead_letter
 *   lookback_ingest_rows_inserted_total              rows ClickHouse acknowledged (a retried insert counts once)
 *   lookback_ingest_rows_per_second                  rows acknowledged per second, over the last 10 s
 *   lookback_ingest_dead_letters_total{kind}         records sent to the dead-letter topic, by kind
 *   lookback_ingest_batch_rows, _batch_bytes         size of each insert
 *   lookback_ingest_insert_seconds                   insert latency (acknowledged inserts)
 *   lookback_ingest_insert_retries_total             failed insert attempts that were retried
 *   lookback_ingest_commits_total                    offset commits after a stored batch
 *   lookback_ingest_lag_records{partition}           high watermark minus committed offset: records not yet durable
 *   lookback_ingest_buffered_bytes, _paused          memory held, and whether fetching is paused (back-pressure)
 *   lookback_ingest_decode_total{path}               transcoded (fast path) | resolved (schema resolution)
 */
export interface IngestMetrics {
  stored(n: number): void;
  deadLettered(kind: DeadLetterKind, n?: number): void;
  inserted(rows: number, bytes: number, seconds: number): void;
  retried(): void;
  committed(): void;
  lag(partition: number, records: number): void;
  forgetPartitions(): void;
  buffered(bytes: number, paused: boolean): void;
  decoded(transcoded: number, resolved: number): void;
  /** Rows acknowledged per second over the last 10 s. */
  rowsPerSecond(): number;
}

export function createIngestMetrics(m: Metrics, topic: string): IngestMetrics {
  const records = m.counter('lookback_ingest_records_total', 'Records taken from Kafka, by what became of them.', ['topic', 'result']);
  const stored = records.labels(topic, 'stored');
  const dlqRecords = records.labels(topic, 'dead_letter');
  const rowsInserted = m.counter('lookback_ingest_rows_inserted_total', 'Rows ClickHouse acknowledged.', ['topic']).labels(topic);
  const rate = m.gauge('lookback_ingest_rows_per_second', 'Rows acknowledged per second over the last 10 seconds.', ['topic']).labels(topic);
  const dlq = m.counter('lookback_ingest_dead_letters_total', 'Records sent to the dead-letter topic, by kind.', ['topic', 'kind'], { maxSeries: 16 });
  const batchRows = m.histogram('lookback_ingest_batch_rows', 'Rows per insert.', [], [100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 250_000]).labels();
  const batchBytes = m.histogram('lookback_ingest_batch_bytes', 'Bytes per insert body.', [], [65_536, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20]).labels();
  const latency = m.histogram('lookback_ingest_insert_seconds', 'Insert latency until ClickHouse acknowledged.', [], [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]).labels();
  const retries = m.counter('lookback_ingest_insert_retries_total', 'Failed insert attempts that were retried.', ['topic']).labels(topic);
  const commits = m.counter('lookback_ingest_commits_total', 'Offset commits after a stored batch.', ['topic']).labels(topic);
  const lag = m.gauge('lookback_ingest_lag_records', 'High watermark minus committed offset: records not yet stored durably.', ['topic', 'partition'], { maxSeries: 4096 });
  const bufferedBytes = m.gauge('lookback_ingest_buffered_bytes', 'Bytes held in open and unacknowledged batches.').labels();
  const paused = m.gauge('lookback_ingest_paused', '1 while fetching is paused by back-pressure.').labels();
  const decode = m.counter('lookback_ingest_decode_total', 'Records by decoding path: transcoded (current schema) or resolved (another writer schema).', ['path']);
  const transcodedC = decode.labels('transcoded');
  const resolvedC = decode.labels('resolved');
  let lastT = 0;
  let lastR = 0;

  // Rows/s: acknowledged rows in one-second slots over a 10-second window.
  const slots = new Float64Array(10);
  let slotSec = Math.floor(Date.now() / 1000);
  const advance = (): void => {
    const now = Math.floor(Date.now() / 1000);
    for (let s = slotSec + 1; s <= now && s - slotSec <= 10; s++) slots[s % 10] = 0;
    if (now - slotSec > 10) slots.fill(0);
    slotSec = now;
  };
  const rowsPerSecond = (): number => {
    advance();
    let sum = 0;
    for (const v of slots) sum += v;
    return sum / 10;
  };
  m.onCollect(() => rate.set(rowsPerSecond()));

  return {
    stored: (n) => stored.inc(n),
    deadLettered(kind, n = 1) {
      dlqRecords.inc(n);
      dlq.labels(topic, kind).inc(n);
    },
    inserted(rows, bytes, seconds) {
      rowsInserted.inc(rows);
      batchRows.observe(rows);
      batchBytes.observe(bytes);
      latency.observe(seconds);
      advance();
      slots[slotSec % 10] = (slots[slotSec % 10] as number) + rows;
    },
    retried: () => retries.inc(),
    committed: () => commits.inc(),
    lag: (partition, n) => lag.labels(topic, String(partition)).set(n),
    forgetPartitions: () => lag.reset(),
    buffered(bytes, isPaused) {
      bufferedBytes.set(bytes);
      paused.set(isPaused ? 1 : 0);
    },
    decoded(transcoded, resolved) {
      transcodedC.inc(transcoded - lastT);
      resolvedC.inc(resolved - lastR);
      lastT = transcoded;
      lastR = resolved;
    },
    rowsPerSecond,
  };
}
