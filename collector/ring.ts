/**
 * Hubble's ring: the last `capacity` events (capacity = 2^n - 1) for the live Observer. Writers never wait;
 * readers keep a position (a sequence number) and, when the writer has lapped them, learn how many events they
 * lost (Hubble's LostEvent from HUBBLE_RING_BUFFER) instead of reading overwritten slots. Loss is data, not an
 * error. Followers wait for the next write without polling.
 *
 * The collector's flows are kept as their Avro record values (pushEncoded: the very bytes queued for Kafka, views
 * into the encoder's slabs) and decoded when read. A ring of 4095 flow objects kept every flow alive through a few
 * young-generation collections, each copying it (the flow, its uuid, L7 record, timestamps) and at last promoting
 * it: about 200 ns per flow in bench/collector, paid whether anyone reads the live view or not. A reader now pays
 * the decoding instead, only for what it reads.
 */
import { Buffer } from 'node:buffer';
import type { Flow } from '../schemas/flow-types.js';

export type LostEventSource = 'PERF_EVENT_RING_BUFFER' | 'OBSERVER_EVENTS_QUEUE' | 'HUBBLE_RING_BUFFER';

export interface LostEventData {
  source: LostEventSource;
  count: number;
  firstNs: bigint;
  lastNs: bigint;
}

export type RingEntry = { kind: 'flow'; flow: Flow; timeNs: bigint } | { kind: 'lost'; lost: LostEventData; timeNs: bigint };

export type ReadResult = { entry: RingEntry } | { lost: number; next: number } | null;

export class Ring {
  readonly capacity: number;
  /**
   * Flows as encoded values (pushEncoded) or as they are (pushFlow): no wrapper per flow on the hot path;
   * LostEvents as their entry.
   */
  private readonly slots: (Buffer | Flow | RingEntry | undefined)[];
  /** Turns an encoded value back into its flow (see decodeWith). */
  private decode: ((value: Buffer) => Flow) | null = null;
  private readonly mask: number;
  /** Sequence number of the next write = events written so far. */
  private written = 0;
  private waiters: (() => void)[] = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || ((capacity + 1) & capacity) !== 0) {
      throw new Error(`ring capacity must be 2^n - 1, got ${capacity}`);
    }
    this.capacity = capacity;
    this.slots = new Array<Buffer | Flow | RingEntry | undefined>(capacity + 1).fill(undefined);
    this.mask = capacity;
  }

  /** Events ever written (Hubble's seen_flows counts these). */
  get total(): number {
    return this.written;
  }

  /** Events readable now. */
  get length(): number {
    return Math.min(this.written, this.capacity);
  }

  /** Sequence number of the oldest readable event. */
  get oldest(): number {
    return Math.max(0, this.written - this.capacity);
  }

  /** Sequence number the next write will get. */
  get next(): number {
    return this.written;
  }

  push(entry: RingEntry): void {
    this.slots[this.written & this.mask] = entry.kind === 'flow' && entry.timeNs === entry.flow.time_ns ? entry.flow : entry;
    this.written++;
  }

  /** push({ kind: 'flow', flow, timeNs: flow.time_ns }) without making the entry (read() makes it). */
  pushFlow(flow: Flow): void {
    this.slots[this.written & this.mask] = flow;
    this.written++;
  }

  /** How values given to pushEncoded() are read back (the codec that encoded them). */
  decodeWith(decode: (value: Buffer) => Flow): void {
    this.decode = decode;
  }

  /** A flow as its encoded record value (decodeWith() says how to read it back). */
  pushEncoded(value: Buffer): void {
    if (this.decode === null) throw new Error('Ring.pushEncoded needs decodeWith() first');
    this.slots[this.written & this.mask] = value;
    this.written++;
  }

  /** Wakes the followers once after a batch of pushes. */
  notify(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * The event at `seq`: the entry; or, when it was overwritten, how many were lost and where reading resumes;
   * or null when it is not written yet.
   */
  read(seq: number): ReadResult {
    if (seq >= this.written) return null;
    const oldest = this.oldest;
    if (seq < oldest) return { lost: oldest - seq, next: oldest };
    const slot = this.slots[seq & this.mask]!;
    if (isValue(slot)) {
      const flow = this.decode!(slot);
      return { entry: { kind: 'flow', flow, timeNs: flow.time_ns } };
    }
    return { entry: isEntry(slot) ? slot : { kind: 'flow', flow: slot, timeNs: slot.time_ns } };
  }

  /** Resolves when an event with sequence number >= seq exists (or at once if one does). */
  waitFor(seq: number, signal?: AbortSignal): Promise<void> {
    if (seq < this.written || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      };
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function isValue(slot: Buffer | Flow | RingEntry): slot is Buffer {
  return slot instanceof Buffer;
}

function isEntry(slot: Flow | RingEntry): slot is RingEntry {
  return (slot as Partial<RingEntry>).kind !== undefined;
}
