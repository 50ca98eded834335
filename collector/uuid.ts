/**
 * Flow uuids: RFC 9562 version 7 (time-ordered). The first 48 bits are the Unix time in milliseconds, so uuids
 * sort by time, which keeps ClickHouse's and Kafka's indexes of them local; a 12-bit counter (rand_a) orders the
 * uuids made in the same millisecond, and 62 random bits (rand_b) make them unique across collectors. Random bits
 * come from a pool refilled in bulk, and uuids are views into shared slabs: one allocation per 1024 uuids.
 */
// Imported, not the global: globalThis.Buffer is an accessor in Node, a getter call on every use.
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';

const SLAB = 1024;
const POOL = 8 * 4096;

export class UuidV7 {
  private slab = Buffer.allocUnsafeSlow(16 * SLAB);
  /** The slab's ArrayBuffer, for making views without subarray() (see next()). */
  private slabMemory = this.slab.buffer as ArrayBuffer;
  private slabAt = 0;
  private pool = crypto.randomBytes(POOL);
  private poolAt = 0;
  private lastMs = -1;
  private counter = 0;

  /** A new uuid for an event at `ms` (Unix ms); monotonic within this generator even if the clock steps back. */
  next(ms: number): Buffer {
    let t = Math.floor(ms);
    if (t <= this.lastMs) {
      t = this.lastMs;
      if (++this.counter > 0xfff) {
        // 4096 uuids in one millisecond: borrow the next millisecond rather than repeat a value.
        t = ++this.lastMs;
        this.counter = 0;
      }
    } else {
      this.lastMs = t;
      this.counter = 0;
    }
    if (this.slabAt === SLAB) {
      this.slab = Buffer.allocUnsafeSlow(16 * SLAB);
      this.slabMemory = this.slab.buffer as ArrayBuffer;
      this.slabAt = 0;
    }
    if (this.poolAt + 8 > POOL) {
      crypto.randomFillSync(this.pool);
      this.poolAt = 0;
    }
    // Written into the slab by plain stores (Buffer#writeUInt32BE and #copy check their arguments, a native copy
    // costs more than 8 stores), then viewed: the view is the one allocation per uuid.
    const slab = this.slab;
    const pool = this.pool;
    const at = this.slabAt * 16;
    const p = this.poolAt;
    this.slabAt++;
    this.poolAt = p + 8;
    const hi = Math.floor(t / 0x10000);
    slab[at] = hi >>> 24;
    slab[at + 1] = hi >>> 16;
    slab[at + 2] = hi >>> 8;
    slab[at + 3] = hi;
    slab[at + 4] = t >>> 8;
    slab[at + 5] = t;
    slab[at + 6] = 0x70 | (this.counter >>> 8);
    slab[at + 7] = this.counter;
    slab[at + 8] = (pool[p]! & 0x3f) | 0x80;
    for (let i = 1; i < 8; i++) slab[at + 8 + i] = pool[p + i]!;
    // Buffer.from(arrayBuffer, ...) makes the view directly; subarray() also looks up the species constructor and
    // reads slab.buffer (a call into C++): ~35 vs ~57 ns in a micro-benchmark.
    return Buffer.from(this.slabMemory, slab.byteOffset + at, 16);
  }
}
