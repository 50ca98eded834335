/**
 * A growable buffer that writes ClickHouse's RowBinary values: fixed-width little-endian integers, LEB128 lengths,
 * strings as length + UTF-8 bytes, UUIDs as two byte-reversed halves, IPv6 as 16 bytes in network order.
 * One writer holds one batch; `finish()` hands out the bytes written (a view, no copy).
 */
const COPY_LOOP_MAX = 48;
const I64 = new BigInt64Array(1);
const I64_BYTES = new Uint8Array(I64.buffer);

export class RowBinaryWriter {
  buf: Buffer;
  pos = 0;
  /** Highest position ever written: the buffer's pages up to it are resident (a reused writer keeps them). */
  private touched = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Makes room for `n` more bytes. Callers that write several fixed-size values reserve once. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.touched = this.pos;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    const b = this.buf;
    b[this.pos++] = v;
    b[this.pos++] = v >>> 8;
  }

  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  i32(v: number): void {
    this.reserve(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  /** A non-negative safe integer as UInt64 (or a negative one as two's complement Int64). */
  u64(v: number): void {
    this.reserve(8);
    const b = this.buf;
    const p = this.pos;
    if (v >= 0 && v <= 0xffff_ffff) {
      b[p] = v;
      b[p + 1] = v >>> 8;
      b[p + 2] = v >>> 16;
      b[p + 3] = v >>> 24;
      b[p + 4] = 0;
      b[p + 5] = 0;
      b[p + 6] = 0;
      b[p + 7] = 0;
    } else if (v >= 0) {
      const lo = v % 0x1_0000_0000;
      b.writeUInt32LE(lo, p);
      b.writeUInt32LE((v - lo) / 0x1_0000_0000, p + 4);
    } else {
      b.writeBigInt64LE(BigInt(v), p);
    }
    this.pos = p + 8;
  }

  i64big(v: bigint): void {
    this.reserve(8);
    // A typed-array store converts a bigint natively, far cheaper than Buffer's BigInt arithmetic.
    I64[0] = v;
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) b[p + i] = I64_BYTES[i] as number;
    this.pos = p + 8;
  }

  /** LEB128 unsigned: string lengths and array sizes. */
  varuint(v: number): void {
    this.reserve(10);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
  }

  string(s: string): void {
    const len = s.length;
    // Short ASCII strings (almost every label and name) are written byte by byte; the rest through utf8Write.
    if (len < 128) {
      this.reserve(len * 3 + 2);
      const b = this.buf;
      const start = this.pos;
      let p = start + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        b[start] = len;
        this.pos = p;
        return;
      }
      // Non-ASCII: the byte length may need two LEB128 bytes; fall through to the general case.
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varuint(bytes);
    this.reserve(bytes);
    this.buf.write(s, this.pos, bytes, 'utf8');
    this.pos += bytes;
  }

  /** Pre-encoded bytes (a string's length + bytes, a default block). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.reserve(n);
    // A native copy costs 60-80 ns a call in Node 20 whatever the length, a loop about 1.5 ns a byte: loops win
    // below about 48 bytes, which is most of the strings rows are made of.
    if (n < COPY_LOOP_MAX) {
      const b = this.buf;
      for (let i = 0; i < n; i++) b[this.pos + i] = bytes[i] as number;
    } else {
      this.buf.set(bytes, this.pos);
    }
    this.pos += n;
  }

  /** Copies `len` bytes of `src` from `start`. */
  copyFrom(src: Buffer, start: number, len: number): void {
    this.reserve(len);
    if (len < COPY_LOOP_MAX) {
      const b = this.buf;
      const p = this.pos;
      for (let i = 0; i < len; i++) b[p + i] = src[start + i] as number;
    } else {
      src.copy(this.buf, this.pos, start, start + len);
    }
    this.pos += len;
  }

  /** RFC 9562 bytes (network order) as ClickHouse's UUID: each 8-byte half reversed. */
  uuid(u: Uint8Array, off = 0): void {
    this.reserve(16);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) {
      b[p + i] = u[off + 7 - i] as number;
      b[p + 8 + i] = u[off + 15 - i] as number;
    }
    this.pos += 16;
  }

  /** A 4- or 16-byte address (IPv4 mapped into IPv6), or :: for null/empty. Other lengths throw RangeError. */
  ipv6(addr: Uint8Array | null, off = 0, len = addr ? addr.length - off : 0): void {
    this.reserve(16);
    const b = this.buf;
    const p = this.pos;
    if (len === 16 && addr) {
      for (let i = 0; i < 16; i++) b[p + i] = addr[off + i] as number;
    } else if (len === 4 && addr) {
      // A loop: Buffer.fill costs about 100 ns a call in argument checks alone.
      for (let i = 0; i < 10; i++) b[p + i] = 0;
      b[p + 10] = 0xff;
      b[p + 11] = 0xff;
      b[p + 12] = addr[off] as number;
      b[p + 13] = addr[off + 1] as number;
      b[p + 14] = addr[off + 2] as number;
      b[p + 15] = addr[off + 3] as number;
    } else if (len === 0) {
      for (let i = 0; i < 16; i++) b[p + i] = 0;
    } else {
      throw new RangeError(`an IP address has 4 or 16 bytes, not ${len}`);
    }
    this.pos += 16;
  }

  /** The bytes written so far (a view into the buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Forgets everything written; keeps the buffer. */
  reset(): void {
    if (this.pos > this.touched) this.touched = this.pos;
    this.pos = 0;
  }

  /** Memory the writer holds in practice: its buffer is allocated at full size but mapped only as written. */
  residentBytes(): number {
    return this.pos > this.touched ? this.pos : this.touched;
  }
}

/** A string as RowBinary bytes (LEB128 length + UTF-8), for tables of pre-encoded enum symbols. */
export function encodeRowBinaryString(s: string): Buffer {
  const w = new RowBinaryWriter(64);
  w.string(s);
  return Buffer.from(w.finish());
}
