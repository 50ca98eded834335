/**
 * The ingest worker: Kafka batches in, ClickHouse inserts out, offsets committed after ClickHouse acknowledged.
 *
 * - eachBatch encodes records into the open batch of their partition (partition.ts), dead-letters the bad ones,
 *   and returns at once; it never waits for ClickHouse.
 * - Sealed batches are written by `pump`: per partition strictly in offset order, one at a time; across partitions
 *   up to insert.concurrency at once. Each batch: intent commit (offsets.ts), dead letters (dead-letter.ts), the
 *   insert with its dedup token (clickhouse-writer.ts), then the commit of its end.
 * - Back-pressure: fetching is paused while ClickHouse is failing, or while more than limits.maxBufferedBytes are
 *   held, and resumed by itself when inserts succeed again and memory is below half the limit.
 * - A rebalance drops what the worker holds for partitions it lost (their new owner reads them again from the
 *   committed offset, and rebuilds an in-flight batch from its intent); partitions it kept carry on.
 */
import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import { LookbackError, describeError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { BatchWriter, RejectedRow } from './clickhouse-writer.js';
import { sendDeadLetters } from './dead-letter.js';
import { timeWindowLimits, type FlowLimits } from './limits.js';
import type { IngestMetrics } from './metrics.js';
import { CommitTracker, fetchCommitted, intentMetadata, type CommittedOffset } from './offsets.js';
import { PartitionState, batchBytes, type Batch, type DeadLetter } from './partition.js';
import { BadRecord, type RecordEncoder } from './record-encoder.js';
import { RowBinaryWriter } from './row-binary.js';

export interface WorkerOptions {
  topic: string;
  groupId: string;
  deadLetterTopic: string;
  maxRows: number;
  maxAgeMs: number;
  maxBatchBytes: number;
  concurrency: number;
  retryMinMs: number;
  retryMaxMs: number;
  maxBufferedBytes: number;
  /** Flows older than this (the raw table's retention) or later than now + maxFutureSkewMs are dead-lettered. */
  maxPastMs: number;
  maxFutureSkewMs: number;
  maxStringBytes: number;
}

export interface WorkerDeps {
  consumer: Consumer;
  producer: Producer;
  admin: Admin;
  encoder: RecordEncoder;
  writer: BatchWriter;
  metrics: IngestMetrics;
  log: Logger;
}

export interface WorkerStats {
  recordsTaken: number;
  rowsStored: number;
  deadLetters: number;
  batchesStored: number;
  commits: number;
  insertRetries: number;
  pauses: number;
  bufferedBytes: number;
  paused: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Idle batch buffers kept for reuse. */
const WRITER_POOL = 2;

export class IngestWorker {
  private readonly states = new Map<number, PartitionState>();
  private committedCache: Promise<Map<number, CommittedOffset>> | undefined;
  private readonly tracker: CommitTracker;
  private limits: FlowLimits;
  private active = 0;
  private paused = false;
  private failing = new Set<number>();
  private stopping = false;
  private stopDeadline = Infinity;
  private readonly writerPool: RowBinaryWriter[] = [];
  private timers: NodeJS.Timeout[] = [];
  private idleWaiters: Array<() => void> = [];
  readonly stats: WorkerStats = { recordsTaken: 0, rowsStored: 0, deadLetters: 0, batchesStored: 0, commits: 0, insertRetries: 0, pauses: 0, bufferedBytes: 0, paused: false };

  constructor(private readonly opts: WorkerOptions, private readonly deps: WorkerDeps) {
    this.tracker = new CommitTracker(deps.consumer);
    this.limits = this.currentLimits();
    const { consumer } = deps;
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberAssignment));
  }

  /** Starts the timers (age limit, time window); the consumer is run by the caller with `eachBatch`. */
  startTimers(): void {
    const tick = Math.max(10, Math.min(100, Math.floor(this.opts.maxAgeMs / 4)));
    this.timers.push(setInterval(() => this.sealOld(), tick));
    this.timers.push(setInterval(() => { this.limits = this.currentLimits(); }, 1000));
    for (const t of this.timers) t.unref();
  }

  private currentLimits(): FlowLimits {
    return timeWindowLimits(Date.now(), this.opts.maxPastMs, this.opts.maxFutureSkewMs, this.opts.maxStringBytes);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Records in

  readonly eachBatch = async ({ batch, resolveOffset }: EachBatchPayload): Promise<void> => {
    if (this.stopping) return; // not resolved: read again by whoever has the partition next
    const st = await this.stateFor(batch.partition);
    if (st.revoked) return;
    const hw = Number(batch.highWatermark);
    if (hw > st.highWatermark) st.highWatermark = hw;
    const messages = batch.messages;
    if (messages.length > 0) {
      try {
        await this.deps.encoder.prefetch(messages.map((m) => m.value));
      } catch (err) {
        // The registry is down: leave this batch unresolved and fetch it again after a pause.
        this.deps.log.warn('schema registry unavailable; retrying the batch later', { partition: batch.partition, error: describeError(err) });
        this.pauseFor(batch.partition, this.opts.retryMaxMs);
        return;
      }
    }
    const { maxRows, maxBatchBytes } = this.opts;
    const limits = this.limits;
    const encoder = this.deps.encoder;
    let taken = 0;
    for (const m of messages) {
      const off = Number(m.offset);
      if (off < st.nextOffset) continue;
      if (st.replayEnd !== undefined && !st.open && off > st.replayEnd) st.replayEnd = undefined; // its records are gone
      if (st.open && st.mustSealBefore(off)) this.seal(st);
      let b = st.open;
      if (!b) b = st.open = this.newBatch(st.partition, off, m.timestamp);
      const rowStart = b.writer.pos;
      try {
        encoder.encode(m.value, b.writer, limits);
        b.rowStarts.push(rowStart);
        b.rowOffsets.push(off);
        b.rows++;
      } catch (err) {
        if (!(err instanceof BadRecord)) throw err;
        b.deadLetters.push(deadLetterOf(m, off, err));
      }
      b.lastOffset = off;
      b.lastTimestamp = m.timestamp;
      st.nextOffset = off + 1;
      taken++;
      if (st.isFull(maxRows, maxBatchBytes)) this.seal(st);
    }
    this.stats.recordsTaken += taken;
    this.deps.metrics.decoded(encoder.counts.transcoded, encoder.counts.resolved);
    resolveOffset(batch.lastOffset());
    if (st.committed >= 0) this.deps.metrics.lag(st.partition, Math.max(0, st.highWatermark - st.committed));
    this.pump();
    this.updateBackpressure();
  };

  private newBatch(partition: number, firstOffset: number, timestamp: string): Batch {
    // Sized for a full batch at once: growing by doubling would copy it several times, and a large allocUnsafe only
    // maps pages as they are written. Writers are reused (their pages stay mapped: no page faults next time).
    const writer = this.writerPool.pop() ?? new RowBinaryWriter(Math.min(this.opts.maxBatchBytes, this.opts.maxRows * 1536) + (1 << 20));
    writer.reset();
    return {
      topic: this.opts.topic, partition, firstOffset, lastOffset: firstOffset, firstTimestamp: timestamp, lastTimestamp: timestamp,
      rows: 0, writer, rowStarts: [], rowOffsets: [], deadLetters: [], openedAt: Date.now(), replayed: false,
    };
  }

  private release(b: Batch): void {
    if (this.writerPool.length < WRITER_POOL && b.writer.buf.length <= 2 * this.opts.maxBatchBytes) this.writerPool.push(b.writer);
  }

  private async stateFor(partition: number): Promise<PartitionState> {
    let st = this.states.get(partition);
    if (st) return st;
    this.committedCache ??= fetchCommitted(this.deps.admin, this.opts.groupId, this.opts.topic).catch((err) => {
      this.committedCache = undefined;
      throw err;
    });
    const committed = (await this.committedCache).get(partition);
    st = this.states.get(partition); // another batch of the partition may have created it meanwhile
    if (st) return st;
    st = new PartitionState(this.opts.topic, partition);
    st.committed = committed?.offset ?? -1;
    if (committed && committed.intentEnd !== undefined && committed.offset >= 0 && committed.intentEnd >= committed.offset) {
      st.replayEnd = committed.intentEnd;
      this.deps.log.info('rebuilding the batch a previous owner was inserting', { partition, from: committed.offset, to: committed.intentEnd });
    }
    this.states.set(partition, st);
    return st;
  }

  private seal(st: PartitionState): void {
    st.seal();
    this.pump();
  }

  private sealOld(): void {
    const now = Date.now();
    for (const st of this.states.values()) if (st.isOld(now, this.opts.maxAgeMs)) this.seal(st);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Batches out

  private pump(): void {
    if (this.active >= this.opts.concurrency) return;
    // Oldest waiting batch first, so that no partition starves behind busier ones.
    const ready = [...this.states.values()].filter((st) => !st.inFlight && st.sealed.length > 0 && !st.revoked);
    ready.sort((a, b) => (a.sealed[0] as Batch).openedAt - (b.sealed[0] as Batch).openedAt);
    for (const st of ready) {
      if (this.active >= this.opts.concurrency) return;
      const b = st.sealed.shift() as Batch;
      st.inFlight = b;
      this.active++;
      void this.store(st, b).finally(() => {
        st.inFlight = undefined;
        this.active--;
        this.release(b);
        this.updateBackpressure();
        this.pump();
        this.notifyIdle();
      });
    }
  }

  private keepTrying(st: PartitionState): boolean {
    return !st.revoked && Date.now() < this.stopDeadline;
  }

  /** Retries `fn` with backoff while the partition is ours (and the stop deadline has not passed). */
  private async retrying(st: PartitionState, what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (!this.keepTrying(st)) throw new LookbackError('unavailable', `${what}: abandoned (partition revoked or stopping)`);
      try {
        await fn();
        return;
      } catch (err) {
        const delay = Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.min(attempt - 1, 20));
        this.deps.log.warn(`${what} failed, retrying`, { partition: st.partition, attempt, delayMs: delay, error: describeError(err) });
        await sleep(delay);
      }
    }
  }

  private async store(st: PartitionState, b: Batch): Promise<void> {
    const { topic, groupId, deadLetterTopic } = this.opts;
    const { consumer, producer, writer, metrics, log } = this.deps;
    try {
      if (b.rows > 0 && !b.replayed) {
        await this.retrying(st, `recording the intent for offsets ${b.firstOffset}-${b.lastOffset}`, () =>
          this.tracker.commit(consumer, topic, st.partition, b.firstOffset, intentMetadata(b.lastOffset)));
      }
      if (b.deadLetters.length > 0) {
        await this.retrying(st, 'writing dead letters', () => sendDeadLetters(producer, deadLetterTopic, { topic, partition: st.partition, groupId }, b.deadLetters));
      }
      const rejected = await writer.write(b, {
        keepTrying: () => this.keepTrying(st),
        onRetry: (err, attempt, delayMs) => {
          this.stats.insertRetries++;
          metrics.retried();
          if (!this.failing.has(st.partition)) {
            this.failing.add(st.partition);
            this.updateBackpressure();
          }
          log.warn('ClickHouse insert failed, retrying', { partition: st.partition, offsets: `${b.firstOffset}-${b.lastOffset}`, attempt, delayMs, error: describeError(err) });
        },
        onRecovered: () => {
          this.failing.delete(st.partition);
          log.info('ClickHouse insert succeeded again', { partition: st.partition });
          this.updateBackpressure();
        },
      });
      this.failing.delete(st.partition);
      if (rejected.length > 0) {
        const letters = rejected.map((r) => rejectedLetter(b, r));
        await this.retrying(st, 'writing dead letters', () => sendDeadLetters(producer, deadLetterTopic, { topic, partition: st.partition, groupId }, letters));
        for (const l of letters) b.deadLetters.push(l);
      }
      await this.retrying(st, `committing offset ${b.lastOffset + 1}`, () => this.tracker.commit(consumer, topic, st.partition, b.lastOffset + 1, null));
      st.committed = b.lastOffset + 1;
      const stored = b.rows - rejected.length;
      this.stats.rowsStored += stored;
      this.stats.deadLetters += b.deadLetters.length;
      this.stats.batchesStored++;
      this.stats.commits++;
      metrics.stored(stored);
      for (const d of b.deadLetters) metrics.deadLettered(d.kind);
      metrics.committed();
      metrics.lag(st.partition, Math.max(0, st.highWatermark - st.committed));
    } catch (err) {
      this.failing.delete(st.partition);
      // Abandoned (revoked, or stopping past the deadline): nothing after this batch may be committed either.
      // What was not committed is read again from the committed offset, by this worker or the next owner.
      if (!st.revoked) log.warn('giving up on a batch; its records will be read again', { partition: st.partition, offsets: `${b.firstOffset}-${b.lastOffset}`, error: describeError(err) });
      this.dropHeld(st);
      if (!st.revoked && !this.stopping) this.forget(st);
    }
  }

  /** Drops the open and sealed batches of a partition. */
  private dropHeld(st: PartitionState): void {
    for (const b of st.sealed.splice(0)) this.release(b);
    if (st.open) this.release(st.open);
    st.open = undefined;
  }

  /** Forgets a partition's state so that it starts again from the committed offset (seeking kafkajs there). */
  private forget(st: PartitionState): void {
    st.revoked = true;
    this.states.delete(st.partition);
    this.committedCache = undefined;
    if (st.committed >= 0) this.deps.consumer.seek({ topic: st.topic, partition: st.partition, offset: String(st.committed) });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Rebalances, back-pressure, stop

  private onAssignment(assignment: Record<string, number[]>): void {
    const mine = new Set(assignment[this.opts.topic] ?? []);
    for (const st of [...this.states.values()]) {
      if (mine.has(st.partition)) continue;
      st.revoked = true;
      this.dropHeld(st);
      this.states.delete(st.partition);
      this.failing.delete(st.partition);
    }
    this.committedCache = undefined;
    this.deps.metrics.forgetPartitions();
    this.deps.log.info('partitions assigned', { topic: this.opts.topic, partitions: [...mine].sort((a, b) => a - b).join(',') || 'none' });
    if (this.paused) this.deps.consumer.pause([{ topic: this.opts.topic }]);
    this.updateBackpressure();
    this.notifyIdle();
  }

  private heldBytes(): number {
    let n = 0;
    for (const st of this.states.values()) n += st.heldBytes();
    return n;
  }

  private updateBackpressure(): void {
    const held = this.heldBytes();
    this.stats.bufferedBytes = held;
    const { consumer, metrics, log } = this.deps;
    const overMemory = held > this.opts.maxBufferedBytes;
    // Paused for memory, fetching resumes below half the limit; batches opened since the last sealing (from records
    // fetched before the pause took effect) can hold more than that, and would then wait for batch.maxAge with
    // nothing fetched: seal them too.
    const stuck = this.paused && this.failing.size === 0 && held >= this.opts.maxBufferedBytes / 2;
    if ((overMemory || stuck) && !this.stopping) this.sealForMemory();
    const wantPause = this.stopping || this.failing.size > 0 || overMemory;
    if (wantPause && !this.paused) {
      this.paused = true;
      this.stats.pauses++;
      consumer.pause([{ topic: this.opts.topic }]);
      if (!this.stopping) log.info('pausing fetches', { reason: this.failing.size > 0 ? 'ClickHouse inserts failing' : 'memory limit', heldBytes: held });
    } else if (!wantPause && this.paused && held < this.opts.maxBufferedBytes / 2) {
      this.paused = false;
      consumer.resume([{ topic: this.opts.topic }]);
      log.info('resuming fetches', { heldBytes: held });
    }
    this.stats.paused = this.paused;
    metrics.buffered(held, this.paused);
  }

  /**
   * At the memory limit fetching pauses, so the open batches cannot grow until memory is freed: they are sealed
   * and queued for ClickHouse now instead of waiting for batch.maxAge, during which nothing would be inserted and
   * nothing fetched (the pipeline stalled for up to maxAge each time). A batch being rebuilt from an intent is left
   * open: it must end exactly where its intent says.
   */
  private sealForMemory(): void {
    for (const st of this.states.values()) {
      if (st.open && st.replayEnd === undefined && !st.revoked) st.seal();
    }
    this.pump();
  }

  /** Stops taking records from one partition for a while (registry down); the batch is fetched again after. */
  private pauseFor(partition: number, ms: number): void {
    const { consumer } = this.deps;
    consumer.pause([{ topic: this.opts.topic, partitions: [partition] }]);
    const t = setTimeout(() => {
      if (!this.paused) consumer.resume([{ topic: this.opts.topic, partitions: [partition] }]);
    }, ms);
    t.unref();
  }

  private allIdle(): boolean {
    for (const st of this.states.values()) if (!st.idle()) return false;
    return this.active === 0;
  }

  private notifyIdle(): void {
    if (!this.allIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Graceful stop: no more fetching; open batches are sealed, stored and committed (until `timeoutMs`; what is
   * left after it is read again on the next start). The caller disconnects the consumer afterwards.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + timeoutMs;
    this.updateBackpressure();
    for (const st of this.states.values()) this.seal(st);
    if (!this.allIdle()) {
      // The deadline timer must not outlive the drain: it would keep the process alive after a quick stop.
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => { deadline = setTimeout(resolve, timeoutMs + 1000); }),
      ]);
      clearTimeout(deadline);
    }
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Offsets committed per partition (tests and logs). */
  committedOffsets(): Map<number, number> {
    return new Map([...this.states.values()].map((s) => [s.partition, s.committed]));
  }
}

function copyHeaders(h: KafkaMessage['headers']): Record<string, Buffer | string | undefined> {
  const out: Record<string, Buffer | string | undefined> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? (v[v.length - 1] !== undefined ? Buffer.from(v[v.length - 1] as Buffer) : undefined) : Buffer.isBuffer(v) ? Buffer.from(v) : String(v);
  }
  return out;
}

function deadLetterOf(m: KafkaMessage, offset: number, err: BadRecord): DeadLetter {
  // Copies: the message's buffers are views into the whole fetch response, which must not stay in memory.
  return {
    offset, timestamp: m.timestamp, key: m.key ? Buffer.from(m.key) : null, value: m.value ? Buffer.from(m.value) : null,
    headers: copyHeaders(m.headers), kind: err.kind, reason: err.message,
  };
}

function rejectedLetter(b: Batch, r: RejectedRow): DeadLetter {
  // The original record is not kept once encoded: the dead letter carries the row ClickHouse refused.
  return {
    offset: r.offset, timestamp: b.lastTimestamp, key: null, value: r.row,
    headers: { 'lookback.row-format': 'clickhouse-rowbinary' }, kind: 'rejected', reason: r.reason,
  };
}

export { batchBytes };
