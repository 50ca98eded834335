/**
 * avsc types for lookback's schemas, with what plain avsc lacks for them:
 * - `timestamp-nanos` longs as exact bigints (avsc reads longs as numbers and refuses values above 2^53, and a
 *   nanosecond timestamp is about 2^60). Only fields annotated timestamp-nanos become bigint; every other long
 *   stays a fast number.
 * - plain longs that are exact over the whole safe-integer range (see avro-longs.ts).
 * - encoded bytes remembered for frozen values: a producer that reuses deep-frozen sub-values (the collector's
 *   endpoint cache hands out the same frozen Endpoint for every flow of a pod) pays for encoding them once, then a
 *   copy. Freezing is permanent, so the remembered bytes cannot go stale. Applies to arrays and to the Endpoint,
 *   Emitter, Service and Workload records.
 * - decoded Endpoint records shared: flows of one pod carry byte-identical endpoints, and decoding their ~11
 *   strings is most of a flow's decode time. The reader keys a bounded cache by the record's bytes and returns the
 *   same deep-frozen Endpoint for the same bytes. Decoded endpoints are therefore immutable and may be shared.
 * - arrays and maps that refuse a block count larger than the bytes left. avsc allocates and loops `count` times,
 *   so a corrupted count in garbage bytes could exhaust memory or spin for minutes instead of failing.
 * The overrides use avsc 5.7.x's internal Tap (`buf`, `pos`) and `_read/_write/_skip/_update` hooks; the version is
 * pinned in package.json and avro-codec.test.ts exercises every path.
 */
import avro from 'avsc';
import { readBigLong, readSafeLong, writeBigLong, writeSafeLong } from './avro-longs.js';

export type AvroType = avro.Type;

interface Tap {
  buf: Buffer & { latin1Slice(start: number, end: number): string };
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
  writeString(s: string): void;
}
interface AvscType {
  typeName: string;
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}
interface AvscWriter {
  _write(tap: Tap, v: unknown): void;
}
interface AvscResolver {
  _read?: (tap: Tap) => unknown;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isInt64(v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX;
}

function invalid(v: unknown, type: unknown): never {
  const shown = typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
  throw new Error(`invalid ${String(type)}: ${shown} (expected a bigint of nanoseconds)`);
}

// avsc's typings do not declare the protected hooks a logical type implements; this is the class with them.
const LogicalTypeBase = avro.types.LogicalType as unknown as new (schema: unknown, opts?: unknown) => object;
const ArrayTypeBase = avro.types.ArrayType as unknown as new (schema: unknown, opts?: unknown) => object;
const MapTypeBase = avro.types.MapType as unknown as new (schema: unknown, opts?: unknown) => object;

class TimestampNanosType extends LogicalTypeBase {
  _fromValue(v: unknown): bigint {
    return typeof v === 'bigint' ? v : BigInt(v as number);
  }
  _toValue(v: unknown): unknown {
    return v;
  }
  _resolve(): undefined {
    return undefined; // _update below handles resolution.
  }
  _read(tap: Tap): bigint {
    return readBigLong(tap);
  }
  _write(tap: Tap, v: unknown): void {
    if (!isInt64(v)) invalid(v, 'timestamp-nanos');
    writeBigLong(tap, v);
  }
  _check(v: unknown, _flags: unknown, hook?: (v: unknown, t: unknown) => void): boolean {
    const ok = isInt64(v);
    if (!ok && hook) hook(v, this);
    return ok;
  }
  _copy(v: unknown, opts?: { coerce?: number }): unknown {
    if (opts?.coerce === 2) return BigInt(v as number | string | bigint); // from JSON, e.g. a field default
    if (!isInt64(v)) invalid(v, 'timestamp-nanos');
    if (opts?.coerce === 3) return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString(); // to JSON
    return v;
  }
  _update(resolver: AvscResolver, writer: AvscType): void {
    if (writer.typeName === 'int') resolver._read = (tap) => BigInt(tap.readLong());
    else if (['long', 'abstract:long', 'logical:timestamp-nanos'].includes(writer.typeName)) resolver._read = readBigLong;
  }
  compare(a: bigint, b: bigint): number {
    return a === b ? 0 : a < b ? -1 : 1;
  }
}

const LongTypeBase = avro.types.LongType as unknown as new () => object;

class SafeLongType extends LongTypeBase {
  _read(tap: Tap): number {
    return readSafeLong(tap);
  }
  _write(tap: Tap, v: unknown): void {
    if (!Number.isSafeInteger(v)) throw new Error(`invalid "long": ${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)} (expected a safe integer)`);
    writeSafeLong(tap, v as number);
  }
  _check(v: unknown, _flags: unknown, hook?: (v: unknown, t: unknown) => void): boolean {
    const ok = Number.isSafeInteger(v);
    if (!ok && hook) hook(v, this);
    return ok;
  }
}

/** Refuses a block count that cannot fit in what is left of the buffer (every item takes at least one byte). */
function checkCount(n: number, tap: Tap, what: string): void {
  if (n > tap.buf.length - tap.pos) {
    throw new Error(`${what} block of ${n} items does not fit in the ${Math.max(0, tap.buf.length - tap.pos)} bytes left`);
  }
}

/** Reads the next block count; negative counts are followed by the block's byte size, which reading ignores. */
function blockCount(tap: Tap, what: string): number {
  let n = tap.readLong();
  if (tap.pos > tap.buf.length) return 0; // truncated: stop here, the caller's isValid() reports it
  if (n < 0) {
    n = -n;
    tap.skipLong();
  }
  checkCount(n, tap, what);
  return n;
}

/** Skips whole blocks by their byte size where the writer gave one; returns the item count to skip otherwise. */
function skipCount(tap: Tap, what: string): number {
  for (;;) {
    const n = tap.readLong();
    if (tap.pos > tap.buf.length) return 0;
    if (n >= 0) {
      checkCount(n, tap, what);
      return n;
    }
    const size = tap.readLong();
    if (size < 0 || size > tap.buf.length - tap.pos) throw new Error(`${what} block of ${size} bytes overruns the buffer`);
    tap.pos += size;
  }
}

/** True when `v` and everything inside it is frozen, so that its encoding can never change. */
function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (!Object.isFrozen(v) || ArrayBuffer.isView(v)) return false; // a non-empty Buffer cannot be frozen
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (!deepFrozen(x)) return false;
  return true;
}

/**
 * Encodings of frozen values, with the type that wrote them (one value could in principle be valid for two types
 * with different encodings). A WeakMap: entries go with their values.
 */
const frozenEncodings = new WeakMap<object, { owner: object; bytes: Buffer }>();

/** Copies the remembered encoding of frozen `v` by `owner`; false when there is none (v not frozen, or new). */
function copyKnown(owner: object, tap: Tap, v: unknown): boolean {
  if (typeof v !== 'object' || v === null || !Object.isFrozen(v)) return false;
  const known = frozenEncodings.get(v);
  if (known === undefined || known.owner !== owner) return false;
  const bytes = known.bytes;
  const end = tap.pos + bytes.length;
  if (end <= tap.buf.length) tap.buf.set(bytes, tap.pos);
  tap.pos = end; // past the end: avsc retries with a larger buffer
  return true;
}

/** After `v` was written from `start`: remembers its encoding if it is deep-frozen. */
function remember(owner: object, tap: Tap, start: number, v: unknown): void {
  if (typeof v === 'object' && v !== null && Object.isFrozen(v) && tap.pos <= tap.buf.length && deepFrozen(v)) {
    frozenEncodings.set(v, { owner, bytes: Buffer.from(tap.buf.subarray(start, tap.pos)) });
  }
}

const RecordTypeBase = avro.types.RecordType as unknown as new (schema: unknown, opts?: unknown) => object;
const CACHED_RECORDS = new Set(['Endpoint', 'Emitter', 'Service', 'Workload']);

/** How many distinct decoded endpoints a reader keeps (a few hundred bytes each); the cache restarts when full. */
const DECODED_CACHE_SIZE = 4096;

/**
 * A cache key for a byte range: every byte of the first 48 (where an Endpoint's identity, cluster, namespace and
 * pod name are), then every 8th, and the length. Collisions are fine: entries are compared in full.
 * Hashing every byte, or V8 hashing a string of them, costs several times more than the decode it saves.
 */
function sampledHash(buf: Buffer, start: number, end: number): number {
  let h = Math.imul(2166136261 ^ (end - start), 16777619);
  const dense = Math.min(end, start + 48);
  let i = start;
  for (; i < dense; i++) h = Math.imul(h ^ (buf[i] as number), 16777619);
  for (; i < end; i += 8) h = Math.imul(h ^ (buf[i] as number), 16777619);
  return h;
}

/** Freezes a freshly decoded value and everything in it (avsc's decoded records are plain objects and arrays). */
function freezeDecoded<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    for (const inner of Object.values(v)) freezeDecoded(inner);
    Object.freeze(v);
  }
  return v;
}

/**
 * A record type whose writer remembers the encoding of frozen values (see copyKnown), and, for Endpoint, whose
 * reader shares decoded values by their bytes.
 */
class CachedRecordType extends RecordTypeBase {
  declare name: string;
  declare _skip: (tap: Tap) => void;
  _createReader(): (tap: Tap) => unknown {
    const generated = (RecordTypeBase.prototype as unknown as { _createReader(): (tap: Tap) => unknown })._createReader.call(this);
    if (this.name !== 'lookback.flow.Endpoint') return generated;
    let cache = new Map<number, Array<{ bytes: Buffer; value: unknown }>>();
    let size = 0;
    return (tap) => {
      const start = tap.pos;
      this._skip(tap); // cheaper than decoding: no strings are made
      const end = tap.pos;
      const buf = tap.buf;
      if (end > buf.length) return undefined; // truncated: the caller's isValid() reports it
      const h = sampledHash(buf, start, end);
      const bucket = cache.get(h);
      if (bucket !== undefined) {
        for (const e of bucket) {
          if (e.bytes.length === end - start && buf.compare(e.bytes, 0, e.bytes.length, start, end) === 0) return e.value;
        }
      }
      tap.pos = start;
      const value = freezeDecoded(generated(tap));
      if (size >= DECODED_CACHE_SIZE) {
        cache = new Map();
        size = 0;
      }
      const entry = { bytes: Buffer.from(buf.subarray(start, end)), value };
      if (bucket === undefined) cache.set(h, [entry]);
      else if (bucket.length < 4) bucket.push(entry); // a full bucket: decode such values every time
      size++;
      return value;
    };
  }

  _createWriter(): (tap: Tap, v: unknown) => void {
    const generated = (RecordTypeBase.prototype as unknown as { _createWriter(): (tap: Tap, v: unknown) => void })._createWriter.call(this);
    return (tap, v) => {
      if (copyKnown(this, tap, v)) return;
      const start = tap.pos;
      generated(tap, v);
      remember(this, tap, start, v);
    };
  }
}

function writeArray(items: AvscWriter, tap: Tap, v: unknown): void {
  if (!Array.isArray(v)) throw new Error(`invalid "array": ${JSON.stringify(v)}`);
  const n = v.length;
  if (n) {
    (tap as unknown as { writeLong(n: number): void }).writeLong(n);
    for (let i = 0; i < n; i++) items._write(tap, v[i]);
  }
  tap.buf[tap.pos++] = 0; // end of blocks (past the end a no-op, as avsc expects)
}

class GuardedArrayType extends ArrayTypeBase {
  declare itemsType: AvscType & AvscWriter;
  _write(tap: Tap, v: unknown): void {
    if (copyKnown(this, tap, v)) return;
    const start = tap.pos;
    writeArray(this.itemsType, tap, v);
    remember(this, tap, start, v);
  }
  _read(tap: Tap): unknown[] {
    // `this` can also be a resolver: avsc copies _read onto it, with its own itemsType.
    const items = this.itemsType;
    const out: unknown[] = [];
    let n: number;
    // A truncated buffer stops the loop (pos past the end); the caller's isValid() reports it.
    while ((n = blockCount(tap, 'array')) && tap.pos <= tap.buf.length) {
      while (n--) out.push(items._read(tap));
    }
    return out;
  }
  _skip(tap: Tap): void {
    const items = this.itemsType;
    let n: number;
    while ((n = skipCount(tap, 'array')) && tap.pos <= tap.buf.length) {
      while (n--) items._skip(tap);
    }
  }
}

class GuardedMapType extends MapTypeBase {
  declare valuesType: AvscType;
  _read(tap: Tap): Record<string, unknown> {
    const values = this.valuesType;
    const out: Record<string, unknown> = {};
    let n: number;
    while ((n = blockCount(tap, 'map')) && tap.pos <= tap.buf.length) {
      while (n--) {
        const key = tap.readString();
        out[key] = values._read(tap);
      }
    }
    return out;
  }
  _skip(tap: Tap): void {
    const values = this.valuesType;
    let n: number;
    while ((n = skipCount(tap, 'map')) && tap.pos <= tap.buf.length) {
      while (n--) {
        tap.skipString();
        values._skip(tap);
      }
    }
  }
}

const StringTypeBase = avro.types.StringType as unknown as new () => object;

/**
 * Strings written in one pass when they are short and ASCII (pod names, namespaces, labels): no Buffer.byteLength
 * and utf8Write calls, which cost more than the copy itself for strings this short. Others take avsc's path.
 */
class FastStringType extends StringTypeBase {
  _write(tap: Tap, v: unknown): void {
    if (typeof v !== 'string') throw new Error(`invalid "string": ${JSON.stringify(v)}`);
    const n = v.length;
    if (n < 128) {
      // An ASCII string of n chars is n bytes, so its zigzag length prefix is 1 byte below 64 and 2 from 64.
      const buf = tap.buf;
      const head = n < 64 ? 1 : 2;
      const start = tap.pos + head;
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c; // past the end a no-op; avsc then retries with a larger buffer
      }
      if (i === n) {
        const z = n << 1;
        if (head === 1) {
          buf[tap.pos] = z;
        } else {
          buf[tap.pos] = (z & 0x7f) | 0x80;
          buf[tap.pos + 1] = z >>> 7;
        }
        tap.pos = start + n;
        return;
      }
    }
    tap.writeString(v); // not ASCII or long: avsc's path (what was copied so far is overwritten)
  }
}

const UnwrappedUnionTypeBase = avro.types.UnwrappedUnionType as unknown as new (schema: unknown, opts?: unknown) => object;

/** ["null", X], the only union lookback's schemas use: written without avsc's generic branch search. */
class NullableUnionType extends UnwrappedUnionTypeBase {
  declare types: readonly AvscWriter[];
  _write(tap: Tap, v: unknown): void {
    if (v === null) {
      tap.buf[tap.pos++] = 0; // branch 0 (past the end a no-op, as avsc expects)
      return;
    }
    tap.buf[tap.pos++] = 2; // zigzag(1): branch 1
    (this.types[1] as AvscWriter)._write(tap, v);
  }
}

const typeOptions = (): Record<string, unknown> => ({
  logicalTypes: { 'timestamp-nanos': TimestampNanosType },
  // All our unions are [null, X]: unwrapped, a value is X or null, as in the TypeScript types.
  wrapUnions: false,
  // Plain data objects, no generated clone/toBuffer methods on every decoded record.
  omitRecordMethods: true,
  typeHook(schema: unknown, opts: unknown): unknown {
    if (schema === 'long') return new SafeLongType();
    if (schema === 'string') return new FastStringType();
    if (Array.isArray(schema)) return schema.length === 2 && schema[0] === 'null' ? new NullableUnionType(schema, opts) : undefined;
    if (schema === null || typeof schema !== 'object') return undefined;
    const type = (schema as { type?: unknown }).type;
    if (type === 'array') return new GuardedArrayType(schema, opts);
    if (type === 'record' && CACHED_RECORDS.has(String((schema as { name?: unknown }).name).split('.').pop() as string)) return new CachedRecordType(schema, opts);
    if (type === 'map') return new GuardedMapType(schema, opts);
    if (type === 'long' && !('logicalType' in schema)) return new SafeLongType();
    if (type === 'string' && !('logicalType' in schema)) return new FastStringType();
    return undefined;
  },
});

/** An avsc type for a lookback schema (parsed JSON), with the behaviour described at the top of this file. */
export function avroTypeFor(schema: unknown): AvroType {
  return avro.Type.forSchema(schema as avro.Schema, typeOptions() as unknown as Partial<avro.ForSchemaOptions>);
}
