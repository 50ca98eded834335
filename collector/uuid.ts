/**
 * Flow uuids: RFC 9562 version 7 (time-ordered). The first 48 bits are the Unix time in milliseconds, so uuids
 * sort by time, which keeps ClickHouse's and Kafka's indexes of them local; a 12-bit counter (rand_a) orders the
 * uuids made in the same millisecond, and 62 random bits (rand_b) make them unique across collectors. Random bits
 * come from a pool refilled in bulk, and uuids are views into shared slabs: one allocation per 1024 uuids.
 */
import crypto from 'node:crypto';

const SLAB = 1024;
const POOL = 8 * 4096;

export class UuidV7 {
  private slab = Buffer.allocUnsafeSlow(16 * SLAB);
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
      this.slabAt = 0;
    }
    if (this.poolAt + 8 > POOL) {
      crypto.randomFillSync(this.pool);
      this.poolAt = 0;
    }
    const b = this.slab.subarray(this.slabAt * 16, this.slabAt * 16 + 16);
    this.slabAt++;
    const hi = Math.floor(t / 0x10000);
    b.writeUInt32BE(hi >>> 0, 0);
    b.writeUInt16BE(t & 0xffff, 4);
    b.writeUInt16BE(0x7000 | this.counter, 6);
    this.pool.copy(b, 8, this.poolAt, this.poolAt + 8);
    this.poolAt += 8;
    b[8] = (b[8]! & 0x3f) | 0x80;
    return b;
  }
}
