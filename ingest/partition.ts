/**
 * What ingest holds for one Kafka partition: the open batch that records are encoded into, the sealed batches
 * waiting for ClickHouse (in offset order, one in flight at a time), and where to resume.
 *
 * Batch boundaries are what makes retries idempotent: a batch's dedup token is its offset range, so a batch
 * inserted again must cover exactly the same records. A batch is sealed by size, bytes or age, which are not
 * deterministic; so before a batch is inserted, its range is recorded in Kafka as the commit metadata of its
 * first offset (the "intent", offsets.ts). A worker that takes the partition over after a crash finds the intent
 * and rebuilds that batch exactly (`replayEnd`), whatever its own size and age settings say.
 */
import type { RowBinaryWriter } from './row-binary.js';
import type { DeadLetterKind } from './record-encoder.js';

export interface DeadLetter {
  offset: number;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | undefined>;
  kind: DeadLetterKind;
  reason: string;
}

export interface Batch {
  topic: string;
  partition: number;
  /** Offsets of the first and last record taken into the batch, stored or dead-lettered. */
  firstOffset: number;
  lastOffset: number;
  /** Kafka timestamps of those records: with the range, they make the dedup token (offsets restart if a topic is recreated). */
  firstTimestamp: string;
  lastTimestamp: string;
  rows: number;
  /** RowBinary rows; `rowStarts[i]` is where row i begins, `rowOffsets[i]` its Kafka offset. */
  writer: RowBinaryWriter;
  rowStarts: number[];
  rowOffsets: number[];
  deadLetters: DeadLetter[];
  /** When the first record arrived (ms), for the age limit. */
  openedAt: number;
  /** Rebuilt from an intent: its range is already recorded in Kafka. */
  replayed: boolean;
}

/** Bytes a batch holds: its buffer's resident part (allocated at full size, mapped as written) and dead letters. */
export function batchBytes(b: Batch): number {
  let n = b.writer.residentBytes();
  for (const d of b.deadLetters) n += (d.value?.length ?? 0) + (d.key?.length ?? 0) + d.reason.length;
  return n;
}

/** The dedup token of a batch (or of rows [from, to) of it, when a rejected batch is split to find a bad row). */
export function dedupToken(b: Batch, from = 0, to = b.rows): string {
  const base = `lookback:${b.topic}:${b.partition}:${b.firstOffset}-${b.lastOffset}:${b.firstTimestamp}-${b.lastTimestamp}`;
  return from === 0 && to === b.rows ? base : `${base}:rows${from}-${to}`;
}

export class PartitionState {
  /** The next offset expected; records below it were taken already (redelivered after a rebalance). */
  nextOffset = -1;
  /** Last offset of the batch recorded as in flight by a previous owner: rebuild exactly up to it. */
  replayEnd: number | undefined;
  open: Batch | undefined;
  readonly sealed: Batch[] = [];
  inFlight: Batch | undefined;
  /** Latest high watermark seen in a fetch, and the offset committed last (the next to read). */
  highWatermark = -1;
  committed = -1;
  /** Set when the partition went to another worker: what it holds is dropped, nothing more is committed. */
  revoked = false;

  constructor(readonly topic: string, readonly partition: number) {}

  /** Whether the open batch must be sealed before the record at `offset` joins it (an intent's end passed). */
  mustSealBefore(offset: number): boolean {
    return this.replayEnd !== undefined && offset > this.replayEnd;
  }

  /** Whether the open batch is complete after a record joined it. */
  isFull(maxRows: number, maxBytes: number): boolean {
    const b = this.open;
    if (!b) return false;
    if (this.replayEnd !== undefined) return b.lastOffset >= this.replayEnd;
    return b.rows + b.deadLetters.length >= maxRows || b.writer.pos >= maxBytes;
  }

  isOld(now: number, maxAge: number): boolean {
    return this.open !== undefined && this.replayEnd === undefined && now - this.open.openedAt >= maxAge;
  }

  /** Moves the open batch to the sealed queue; a replay ends with it. */
  seal(): Batch | undefined {
    const b = this.open;
    if (!b) return undefined;
    this.open = undefined;
    if (this.replayEnd !== undefined) {
      b.replayed = true;
      this.replayEnd = undefined;
    }
    this.sealed.push(b);
    return b;
  }

  /** Everything held, for the memory bound. */
  heldBytes(): number {
    let n = this.open ? batchBytes(this.open) : 0;
    for (const b of this.sealed) n += batchBytes(b);
    if (this.inFlight) n += batchBytes(this.inFlight);
    return n;
  }

  /** Nothing open, waiting or in flight. */
  idle(): boolean {
    return !this.open && this.sealed.length === 0 && !this.inFlight;
  }
}
