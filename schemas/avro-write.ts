/**
 * Avro binary primitives for the hand-written flow encoder (flow-encoder.ts), written the way avsc with
 * avro-types.ts writes them, byte for byte. Each takes the buffer and the position and returns the next position:
 * no object holds the position, so the JIT keeps it in a register across a record's fields.
 * Writes past the end of the buffer are dropped (typed arrays ignore them; native writes are skipped) and only
 * move the position: the caller sees a position past the end, grows the buffer and writes again.
 * Values the schema does not allow throw a plain Error, as avsc does.
 */
// Imported, not the global: globalThis.Buffer is an accessor in Node, a getter call on every use.
import { Buffer } from 'node:buffer';

/**
 * Splits a bigint into two 32-bit halves without BigInt arithmetic (which allocates): stored as an int64, read back
 * as two 32-bit words (little-endian, as every platform Node runs on). Typed-array element accesses are inlined
 * where DataView's getters were not always (bench/collector: timestamp() was 9% of the encoder's samples).
 */
const I64 = new BigInt64Array(1);
const I64_HI = new Int32Array(I64.buffer);
const I64_LO = new Uint32Array(I64.buffer);

/** Node's Buffer#utf8Write and #latin1Write (Buffer#write without its argument juggling), untyped in @types/node. */
type NativeWrites = Buffer & {
  utf8Write(s: string, offset: number, length: number): number;
  latin1Write(s: string, offset: number, length: number): number;
};

export function invalid(v: unknown, type: string): Error {
  const shown = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v);
  return new Error(`invalid "${type}": ${shown}`);
}

/** An unsigned 32-bit value as a varint (a zigzag-encoded value, or a small length). */
export function varint32(buf: Buffer, pos: number, m: number): number {
  while (m > 0x7f) {
    buf[pos++] = (m & 0x7f) | 0x80;
    m >>>= 7;
  }
  buf[pos++] = m;
  return pos;
}

/** Avro int: a 32-bit integer (avsc refuses anything else). */
export function int(buf: Buffer, pos: number, v: unknown): number {
  // Most ints of a flow (protocol, flags, ICMP fields, small ports and codes) are in [0, 63]: one byte. Only such a
  // number satisfies (v & 63) === v (a fraction or a negative number does not).
  if (typeof v === 'number' && (v & 63) === v) {
    buf[pos] = v << 1;
    return pos + 1;
  }
  if (v !== ((v as number) | 0)) throw invalid(v, 'int');
  const n = v as number;
  return varint32(buf, pos, ((n << 1) ^ (n >> 31)) >>> 0);
}

/** Avro long as lookback's numbers: any safe integer (avro-types.ts's SafeLongType). */
export function long(buf: Buffer, pos: number, v: unknown): number {
  if (typeof v === 'number' && (v & 63) === v) {
    buf[pos] = v << 1; // [0, 63], as in int()
    return pos + 1;
  }
  if (!Number.isSafeInteger(v)) throw invalid(v, 'long');
  const n = v as number;
  if (n >= -0x40000000 && n < 0x40000000) return varint32(buf, pos, n >= 0 ? n << 1 : ((~n << 1) | 1) >>> 0);
  // Two exact 32-bit halves: lo is n modulo 2^32, hi the rest (|hi| < 2^21 for a safe integer).
  const lo = n >>> 0;
  return zigzag64(buf, pos, (n - lo) / 4294967296, lo);
}

/** Avro long with the timestamp-nanos annotation: any int64 bigint (avro-types.ts's TimestampNanosType). */
export function timestamp(buf: Buffer, pos: number, v: unknown): number {
  // In range when wrapping it to 64 bits changes nothing: one builtin call instead of two BigInt comparisons.
  if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw invalid(v, 'timestamp-nanos');
  I64[0] = v;
  return zigzag64(buf, pos, I64_HI[1]!, I64_LO[0]!);
}

/** The zigzag varint of the 64-bit integer hi * 2^32 + lo (hi signed, lo unsigned). */
function zigzag64(buf: Buffer, pos: number, hi: number, lo: number): number {
  const sign = hi >> 31;
  let zlo = ((lo << 1) ^ sign) >>> 0;
  let zhi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
  while (zhi !== 0 || zlo > 0x7f) {
    buf[pos++] = (zlo & 0x7f) | 0x80;
    zlo = ((zlo >>> 7) | (zhi << 25)) >>> 0;
    zhi >>>= 7;
  }
  buf[pos++] = zlo;
  return pos;
}

export function boolean(buf: Buffer, pos: number, v: unknown): number {
  if (typeof v !== 'boolean') throw invalid(v, 'boolean');
  buf[pos] = v ? 1 : 0;
  return pos + 1;
}

/**
 * Symbol -> index for one enum, by identity first. Flows carry the symbols as string literals, which V8 interns: two
 * interned strings are equal only when they are the same pointer. `symbols` must be interned (see the encoder's
 * enumIndex()). Consecutive flows mostly repeat a field's symbol (FORWARDED, TRACE_REASON_UNKNOWN, ...), so the
 * last hit is compared first; then the small enums are scanned by pointer comparisons, which cost less than hashing
 * into a Map, and the large ones (DropReason, rare) use a Map. An object rather than a closure: enumeration() reads
 * its fields inline, where a closure per enum made every field a call.
 */
export class SymbolIndex {
  last: unknown;
  lastIndex = 0;
  private readonly map: Map<string, number> | null;

  constructor(private readonly symbols: readonly string[]) {
    this.last = symbols[0];
    this.map = symbols.length > 16 ? new Map(symbols.map((sym, i) => [sym, i])) : null;
  }

  /** The index of `v` (not the last symbol), or undefined when it is not a symbol of the enum. */
  find(v: unknown): number | undefined {
    if (this.map !== null) return this.map.get(v as string);
    const symbols = this.symbols;
    for (let i = 0; i < symbols.length; i++) {
      if (symbols[i] === v) {
        this.last = v;
        this.lastIndex = i;
        return i;
      }
    }
    return undefined;
  }
}

/** An enum by symbol; `dflt` is written for undefined (the field's default). */
export function enumeration(buf: Buffer, pos: number, index: SymbolIndex, v: unknown, dflt: number): number {
  const i = v === undefined ? dflt : v === index.last ? index.lastIndex : index.find(v);
  if (i === undefined) throw invalid(v, 'enum');
  if (i < 64) {
    buf[pos] = i << 1;
    return pos + 1;
  }
  return varint32(buf, pos, i << 1);
}

/**
 * Avro string. Short ASCII strings (names, labels) are copied by a loop after their one-byte length, which costs
 * less than a native call; longer ones are measured then written natively. Non-ASCII strings of at most 64 bytes go
 * through avsc's own UTF-8 loop (utf8Short), longer ones through Buffer#utf8Write, as avsc does: the two differ on
 * lone surrogates, and the bytes must match avsc's.
 */
export function string(buf: Buffer, pos: number, v: unknown): number {
  if (typeof v !== 'string') throw invalid(v, 'string');
  const n = v.length;
  if (n < 24) {
    const start = pos + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    if (i === n) {
      buf[pos] = n << 1;
      return start + n;
    }
  }
  const len = Buffer.byteLength(v);
  pos = varint32(buf, pos, len << 1);
  const end = pos + len;
  if (end > buf.length) return end; // the caller grows the buffer and starts over
  if (len === n) (buf as NativeWrites).latin1Write(v, pos, len); // as many bytes as characters: ASCII
  else if (len > 64) (buf as NativeWrites).utf8Write(v, pos, len);
  else utf8Short(buf, pos, v);
  return end;
}

/** avsc's UTF-8 loop (Tap#writeString): a lone surrogate becomes three bytes (CESU-8), not U+FFFD. */
function utf8Short(buf: Buffer, pos: number, s: string): void {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    let c2: number;
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = (c >> 6) | 0xc0;
      buf[pos++] = (c & 0x3f) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x03ff) << 10) + (c2 & 0x03ff);
      i++;
      buf[pos++] = (c >> 18) | 0xf0;
      buf[pos++] = ((c >> 12) & 0x3f) | 0x80;
      buf[pos++] = ((c >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c & 0x3f) | 0x80;
    } else {
      buf[pos++] = (c >> 12) | 0xe0;
      buf[pos++] = ((c >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c & 0x3f) | 0x80;
    }
  }
}

/**
 * Buffer.isBuffer (what avsc checks), which is `v instanceof Buffer`, written out so the JIT inlines it: for the
 * receiver maps it has seen, a map check. (Object.getPrototypeOf(v) === Buffer.prototype, the fast path this
 * replaced, became a runtime call for Buffers in optimized code.)
 */
function isBuffer(v: unknown): v is Buffer {
  return v instanceof Buffer;
}

/** Avro bytes: the length, then the bytes. */
export function bytes(buf: Buffer, pos: number, v: unknown): number {
  if (!isBuffer(v)) throw invalid(v, 'bytes');
  return copy(buf, varint32(buf, pos, v.length << 1), v);
}

/** Avro fixed of 16 bytes (the uuid). */
export function fixed16(buf: Buffer, pos: number, v: unknown): number {
  if (!isBuffer(v) || v.length !== 16) throw invalid(v, 'fixed');
  return copy(buf, pos, v);
}

/** Copies bytes: a loop for the few bytes of an address or a uuid, a native copy beyond. */
export function copy(buf: Buffer, pos: number, v: Uint8Array): number {
  const n = v.length;
  if (n <= 16) {
    for (let i = 0; i < n; i++) buf[pos++] = v[i] as number;
    return pos;
  }
  if (pos + n <= buf.length) buf.set(v, pos);
  return pos + n;
}

/** `n` zero bytes: the encoding of a record whose fields are all 0, "" or empty arrays. */
export function zeros(buf: Buffer, pos: number, n: number): number {
  for (let i = 0; i < n; i++) buf[pos++] = 0;
  return pos;
}

/** An array: one block with its count, then the end marker, as avsc writes it. */
export function array(buf: Buffer, pos: number, v: unknown, item: (buf: Buffer, pos: number, x: unknown) => number): number {
  if (!Array.isArray(v)) throw invalid(v, 'array');
  const n = v.length;
  if (n > 0) {
    pos = varint32(buf, pos, n << 1);
    for (let i = 0; i < n; i++) pos = item(buf, pos, v[i]);
  }
  buf[pos] = 0;
  return pos + 1;
}
