/**
 * Writes a sealed batch to ClickHouse: one RowBinary INSERT into the landing table, with the batch's dedup token,
 * retried with exponential backoff until ClickHouse acknowledges it. A retry is harmless: the token makes every
 * table (raw, roll-ups, inventory) drop a block it already has.
 *
 * ClickHouse refusing the data itself (a value it cannot parse) is not retried: the batch is split in halves,
 * each with a token of its own, until the refused rows are isolated; those are returned to be dead-lettered
 * and the rest is stored. Splitting is deterministic, so a redelivered batch splits the same way.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { FLOW_INSERT_COLUMN_LIST } from '../common/flow-row.js';
import { LookbackError, describeError } from '../common/errors.js';
import { insertBody } from './clickhouse-insert.js';
import { dedupToken, type Batch } from './partition.js';

/** ClickHouse error codes that mean "this data is wrong", as opposed to "try again later". */
const DATA_ERRORS = new Set([6, 26, 27, 33, 38, 41, 53, 69, 70, 72, 117, 131, 190]);

export interface RejectedRow {
  index: number;
  offset: number;
  row: Buffer;
  reason: string;
}

export interface WriterOptions {
  client: ClickHouseClient;
  database: string;
  table?: string;
  retryMinMs: number;
  retryMaxMs: number;
  /** Partitions (days) one insert may touch; the raw table's retention plus a margin. */
  maxPartitionsPerInsert: number;
  /** Called once an insert is acknowledged, with its duration. */
  onInsert?: (rows: number, bytes: number, seconds: number) => void;
}

export interface WriteControl {
  /** Retrying goes on while this is true; when it turns false the write throws LookbackError('unavailable'). */
  keepTrying(): boolean;
  /** Called before each wait after a failed attempt (metrics, logs, back-pressure). */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  /** Called when an attempt succeeded after failures. */
  onRecovered?(): void;
}

export interface BatchWriter {
  /**
   * Stores the batch's rows; resolves with the rows ClickHouse refused (usually none). Keeps retrying while
   * `control.keepTrying()` is true; throws LookbackError('unavailable') when it became false first.
   */
  write(batch: Batch, control: WriteControl): Promise<RejectedRow[]>;
}

export function classifyInsertError(err: unknown): 'data' | 'retry' {
  const code = Number((err as { code?: string }).code);
  return Number.isFinite(code) && DATA_ERRORS.has(code) ? 'data' : 'retry';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createBatchWriter(opts: WriterOptions): BatchWriter {
  const query = `INSERT INTO ${opts.database}.${opts.table ?? 'flows_ingest'} ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`;
  const baseSettings: ClickHouseSettings = {
    insert_deduplicate: 1,
    deduplicate_blocks_in_dependent_materialized_views: 1,
    max_partitions_per_insert_block: String(opts.maxPartitionsPerInsert),
    async_insert: 0,
    // The landing table feeds several materialized views (raw table, roll-ups, inventory, L7); one thread each
    // instead of one after the other: the same CPU, an insert acknowledged in about two thirds of the time
    // (bench/ingest.ts), so fewer batches wait behind insert.concurrency.
    parallel_view_processing: 1,
  };

  /** Inserts rows [from, to) until acknowledged; throws only data errors (and 'unavailable' when told to stop). */
  async function insertRange(batch: Batch, from: number, to: number, control: WriteControl): Promise<void> {
    const start = batch.rowStarts[from] as number;
    const end = to < batch.rows ? (batch.rowStarts[to] as number) : batch.writer.pos;
    const body = batch.writer.buf.subarray(start, end);
    const settings = { ...baseSettings, insert_deduplication_token: dedupToken(batch, from, to) };
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now();
      try {
        await insertBody(opts.client, query, body, settings);
        opts.onInsert?.(to - from, body.length, (performance.now() - t0) / 1000);
        if (attempt > 1) control.onRecovered?.();
        return;
      } catch (err) {
        if (classifyInsertError(err) === 'data') throw err;
        if (!control.keepTrying()) throw new LookbackError('unavailable', `insert of ${batch.topic}[${batch.partition}] offsets ${batch.firstOffset}-${batch.lastOffset} abandoned: ${describeError(err)}`, { cause: err });
        const delay = Math.min(opts.retryMaxMs, opts.retryMinMs * 2 ** Math.min(attempt - 1, 20));
        control.onRetry?.(err, attempt, delay);
        await sleep(delay);
        if (!control.keepTrying()) throw new LookbackError('unavailable', `insert of ${batch.topic}[${batch.partition}] offsets ${batch.firstOffset}-${batch.lastOffset} abandoned: ${describeError(err)}`, { cause: err });
      }
    }
  }

  async function writeRange(batch: Batch, from: number, to: number, control: WriteControl, rejected: RejectedRow[]): Promise<void> {
    try {
      await insertRange(batch, from, to, control);
    } catch (err) {
      if (classifyInsertError(err) !== 'data') throw err;
      if (to - from === 1) {
        const start = batch.rowStarts[from] as number;
        const end = to < batch.rows ? (batch.rowStarts[to] as number) : batch.writer.pos;
        rejected.push({ index: from, offset: batch.rowOffsets[from] as number, row: Buffer.from(batch.writer.buf.subarray(start, end)), reason: `ClickHouse refused the row: ${describeError(err)}` });
        return;
      }
      const mid = from + Math.floor((to - from) / 2);
      await writeRange(batch, from, mid, control, rejected);
      await writeRange(batch, mid, to, control, rejected);
    }
  }

  return {
    async write(batch, control) {
      const rejected: RejectedRow[] = [];
      if (batch.rows > 0) await writeRange(batch, 0, batch.rows, control, rejected);
      return rejected;
    },
  };
}
