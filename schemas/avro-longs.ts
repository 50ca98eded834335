/**
 * Avro longs (zigzag varints) as exact JavaScript values, on avsc's Tap (`buf`, `pos`). avsc's own long reads and
 * writes through float arithmetic: it refuses values beyond 2^53 and flips the sign of negative values below
 * -2^52. Here a long is either an exact bigint (any 64-bit value) or an exact number (any safe integer).
 * Like avsc's Tap, reads and writes past the end of the buffer do not throw: they move `pos` past the end, which
 * the caller detects (a truncated record, or a buffer to grow and retry).
 */

/** The part of avsc's Tap these functions use. */
export interface VarintTap {
  buf: Buffer;
  pos: number;
}

/** Reads a zigzag varint long as an exact bigint, in two 32-bit halves so that only the last step is BigInt. */
export function readBigLong(tap: VarintTap): bigint {
  const buf = tap.buf;
  let pos = tap.pos;
  let lo = 0;
  let hi = 0;
  let b = 0;
  let shift = 0;
  // Past the end buf[pos] is undefined, which reads as 0 and ends the varint; the caller's isValid() catches it.
  do {
    b = buf[pos++] as number;
    lo |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80 && shift < 28);
  if (b & 0x80) {
    b = buf[pos++] as number;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >>> 4;
    shift = 3;
    while (b & 0x80 && shift < 32) {
      b = buf[pos++] as number;
      hi |= (b & 0x7f) << shift;
      shift += 7;
    }
    // A well-formed long has at most 10 bytes; skip any further continuation bytes of a malformed one.
    while (b & 0x80) b = buf[pos++] as number;
  }
  tap.pos = pos;
  lo >>>= 0;
  hi >>>= 0;
  // Undo zigzag on the 64-bit (hi, lo) pair.
  let rlo = ((lo >>> 1) | (hi << 31)) >>> 0;
  let rhi = hi >>> 1;
  if (lo & 1) {
    rlo = ~rlo >>> 0;
    rhi = ~rhi >>> 0;
  }
  const shi = rhi | 0;
  if (shi >= -0x200000 && shi < 0x200000) return BigInt(shi * 4294967296 + rlo); // |v| < 2^53: one conversion
  return (BigInt(shi) << 32n) | BigInt(rlo);
}

export function writeBigLong(tap: VarintTap, v: bigint): void {
  const lo = Number(v & 0xffffffffn);
  const hi = Number(BigInt.asIntN(32, v >> 32n));
  const sign = hi >> 31;
  let zlo = ((lo << 1) ^ sign) >>> 0;
  let zhi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
  const buf = tap.buf;
  let pos = tap.pos;
  // Writes past the end are no-ops on a Buffer; avsc sees pos > length and retries with a larger buffer.
  while (zhi !== 0 || zlo > 0x7f) {
    buf[pos++] = (zlo & 0x7f) | 0x80;
    zlo = ((zlo >>> 7) | (zhi << 25)) >>> 0;
    zhi >>>= 7;
  }
  buf[pos++] = zlo;
  tap.pos = pos;
}

/** Reads a zigzag varint long as a number, exactly for every safe integer. */
export function readSafeLong(tap: VarintTap): number {
  const buf = tap.buf;
  let pos = tap.pos;
  let b = buf[pos++] as number;
  if (!(b & 0x80)) {
    tap.pos = pos;
    return (b >> 1) ^ -(b & 1);
  }
  let n = b & 0x7f;
  let k = 7;
  do {
    b = buf[pos++] as number;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (b & 0x80 && k < 28);
  if (!(b & 0x80)) {
    tap.pos = pos;
    return (n >>> 1) ^ -(n & 1);
  }
  // More than 28 bits: the rest in float arithmetic, halved before it is combined so that it stays exact.
  let rest = 0;
  let scale = 1;
  do {
    b = buf[pos++] as number;
    rest += (b & 0x7f) * scale;
    scale *= 128;
  } while (b & 0x80);
  tap.pos = pos;
  const magnitude = rest * 134217728 + (n >>> 1); // (rest * 2^28 + n) / 2, n's low bit being the sign
  if (magnitude > Number.MAX_SAFE_INTEGER) throw new Error('long beyond 2^53 (precision loss): not a value lookback writes');
  return n & 1 ? -magnitude - 1 : magnitude;
}

export function writeSafeLong(tap: VarintTap, v: number): void {
  const buf = tap.buf;
  let pos = tap.pos;
  if (v >= -0x40000000 && v < 0x40000000) {
    let m = v >= 0 ? v << 1 : (~v << 1) | 1;
    while (m > 0x7f) {
      buf[pos++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    buf[pos++] = m;
  } else {
    // zigzag(v) = 2a + sign with a = v or -v - 1 (< 2^53), formed in two 32-bit halves to stay exact.
    const sign = v < 0 ? 1 : 0;
    const a = sign ? -v - 1 : v;
    const aHi = Math.floor(a / 4294967296);
    const aLo = a >>> 0;
    let zlo = ((aLo << 1) | sign) >>> 0;
    let zhi = ((aHi << 1) | (aLo >>> 31)) >>> 0;
    while (zhi !== 0 || zlo > 0x7f) {
      buf[pos++] = (zlo & 0x7f) | 0x80;
      zlo = ((zlo >>> 7) | (zhi << 25)) >>> 0;
      zhi >>>= 7;
    }
    buf[pos++] = zlo;
  }
  tap.pos = pos;
}
