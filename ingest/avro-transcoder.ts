/**
 * Avro record bytes (flow schema v1) straight to a RowBinary row in FLOW_INSERT_COLUMNS order, without building a
 * Flow: strings and addresses are copied byte for byte, varints become fixed-width integers. It is ingest's hot
 * path: decoding into objects and encoding them again cost about 4 us per flow here, this about a fifth of it.
 *
 * It reads exactly one writer schema, the one it was written for (FLOW_V1), and is used only when that is also the
 * current schema (the reader): records of any other writer go through the codec's schema resolution and
 * flow-row-binary.ts. The value checks are those of flow-row-binary.ts (limits.ts); avro-transcoder.test.ts holds
 * the two paths to the same bytes and the same verdicts. When flow.avsc gets a v2, this file is updated with it
 * (the test fails until then, and until then the fast path is off: correct, slower).
 */
import { FLOW_SCHEMA_NAME } from '../schemas/flow-schema.js';
import { invalidFlow, outOfRange, MAC_MAX, U16, U32, U8, type FlowLimits } from './limits.js';
import { encodeRowBinaryString, RowBinaryWriter } from './row-binary.js';
import { DNS_DEFAULTS, HTTP_DEFAULTS, KAFKA_DEFAULTS } from './flow-row-binary.js';

/** The schema version this transcoder reads. */
export const TRANSCODER_SCHEMA_VERSION = 1;

type Json = Record<string, unknown>;

/** The symbols of every enum in a schema, by name. */
function enumSymbols(schema: unknown, out = new Map<string, string[]>()): Map<string, string[]> {
  if (Array.isArray(schema)) {
    for (const s of schema) enumSymbols(s, out);
  } else if (schema && typeof schema === 'object') {
    const s = schema as Json;
    if (s['type'] === 'enum') out.set(String(s['name']), s['symbols'] as string[]);
    if (s['type'] === 'record') for (const f of s['fields'] as Json[]) enumSymbols(f['type'], out);
    if (s['type'] === 'array') enumSymbols(s['items'], out);
  }
  return out;
}

/**
 * The shape this transcoder was written for: field names and types in order, as `shapeOf` prints them. A schema
 * of another shape is refused at construction.
 */
export const FLOW_V1_SHAPE =
  'record Flow{time_ns:long;uuid:fixed16;emitter:record Emitter{name:string;version:string};node_name:string;' +
  'node_labels:array<string>;cluster_name:string;flow_type:enum FlowType;verdict:enum Verdict;' +
  'drop_reason_desc:[null,enum DropReason];drop_reason_kernel:[null,string];flow_event:enum FlowEvent;' +
  'ethernet:[null,record Ethernet{source:long;destination:long}];' +
  'ip:[null,record IP{source:bytes;destination:bytes;source_xlated:[null,bytes];ip_version:enum IPVersion;encrypted:boolean}];' +
  'l4_protocol:int;source_port:int;destination_port:int;tcp_flags:int;icmp_type:int;icmp_code:int;' +
  'source:record Endpoint{identity:int;cluster_name:string;namespace:string;pod_name:string;labels:array<string>;' +
  'workloads:array<record Workload{name:string;kind:string}>};destination:Endpoint;' +
  'source_service:[null,record Service{name:string;namespace:string}];destination_service:[null,Service];' +
  'source_names:array<string>;destination_names:array<string>;' +
  'l7:[null,record Layer7{type:enum L7FlowType;latency_ns:long;' +
  'dns:[null,record DNS{query:string;ips:array<bytes>;ttl:long;cnames:array<string>;observation_source:string;rcode:int;qtypes:array<string>;rrtypes:array<string>}];' +
  'http:[null,record HTTP{code:int;method:string;url:string;protocol:string;headers:array<record HTTPHeader{key:string;value:string}>}];' +
  'kafka:[null,record Kafka{error_code:int;api_version:int;api_key:string;correlation_id:int;topic:string;client_id:string}]}];' +
  'traffic_direction:enum TrafficDirection;is_reply:[null,boolean];trace_observation_point:enum TraceObservationPoint;' +
  'trace_reason:enum TraceReason;interface:[null,record NetworkInterface{index:int;name:string}];' +
  'event_type:record CiliumEventType{type:int;sub_type:int};summary:string;first_seen_ns:long;last_seen_ns:long;' +
  'bytes_fwd:long;packets_fwd:long;bytes_rev:long;packets_rev:long;sampling_rate:int;socket_cookie:[null,long];' +
  'cgroup_id:[null,long];tcp_srtt_us:[null,int]}';

/** Field names and types in order (enum symbols and docs left out: symbols are read from the schema itself). */
export function shapeOf(schema: unknown): string {
  if (Array.isArray(schema)) return `[${schema.map(shapeOf).join(',')}]`;
  if (typeof schema === 'string') return schema;
  const s = schema as Json;
  switch (s['type']) {
    case 'record': return `record ${String(s['name'])}{${(s['fields'] as Json[]).map((f) => `${String(f['name'])}:${shapeOf(f['type'])}`).join(';')}}`;
    case 'enum': return `enum ${String(s['name'])}`;
    case 'array': return `array<${shapeOf(s['items'])}>`;
    case 'fixed': return `fixed${String(s['size'])}`;
    default: return String(s['type']);
  }
}

const TWO32 = 0x1_0000_0000;
/** Distinct endpoints (and node label sets) remembered; a cluster has a few thousand pods. */
const CACHE_MAX = 20_000;

interface Run {
  avro: Buffer;
  row: Buffer;
}

/** Rows of byte runs seen before, by a hash of the run's first 64 bytes; bounded (cleared when full). */
class RunCache {
  private readonly byHash = new Map<number, Run[]>();
  private size = 0;

  private static hash(buf: Buffer, start: number, end: number): number {
    const stop = Math.min(end, start + 64);
    let h = 0x811c9dc5 ^ (stop - start);
    let p = start;
    for (; p + 4 <= stop; p += 4) {
      h = Math.imul(h ^ ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16) | ((buf[p + 3] as number) << 24)), 0x01000193);
    }
    for (; p < stop; p++) h = Math.imul(h ^ (buf[p] as number), 0x01000193);
    return h;
  }

  find(buf: Buffer, start: number, end: number): Run | undefined {
    const list = this.byHash.get(RunCache.hash(buf, start, end));
    if (!list) return undefined;
    for (const run of list) {
      const n = run.avro.length;
      if (start + n <= end && buf.compare(run.avro, 0, n, start, start + n) === 0) return run;
    }
    return undefined;
  }

  /** Remembers the run `buf[start, end)` (of a record ending at `recordEnd`) and its row `out[from, to)`. */
  add(buf: Buffer, start: number, end: number, recordEnd: number, out: Buffer, from: number, to: number): void {
    if (this.size >= CACHE_MAX) this.clear();
    // The same hash find() computes: the first 64 bytes from the run's start, what follows the run included.
    const h = RunCache.hash(buf, start, recordEnd);
    const run = { avro: Buffer.from(buf.subarray(start, end)), row: Buffer.from(out.subarray(from, to)) };
    const list = this.byHash.get(h);
    if (list) list.push(run);
    else this.byHash.set(h, [run]);
    this.size++;
  }

  clear(): void {
    this.byHash.clear();
    this.size = 0;
  }
}

/** Thrown for bytes that end inside the record or hold an impossible length or count. */
function corrupt(what: string): Error {
  return invalidFlow(`corrupt flow record (schema v1): ${what}`);
}

export class AvroRowTranscoder {
  private buf: Buffer = Buffer.alloc(0);
  private readonly endpoints = new RunCache();
  private readonly labelArrays = new RunCache();
  private cachedLimit = -1;
  /** The time window of `windowOf` as numbers (a bigint conversion per record costs more than the check). */
  private windowOf: FlowLimits | undefined;
  private minTime = 0;
  private maxTime = 0;
  private pos = 0;
  private end = 0;
  private limits!: FlowLimits;
  /** Start and length of the strings of one array (positions into buf), reused. */
  private starts = new Int32Array(256);
  private lens = new Int32Array(256);
  private readonly sym: Record<string, Buffer[]>;

  constructor(schema: unknown) {
    const shape = shapeOf(schema);
    if (shape !== FLOW_V1_SHAPE || (schema as Json)['namespace'] !== 'lookback.flow' || `lookback.flow.${String((schema as Json)['name'])}` !== FLOW_SCHEMA_NAME) {
      throw new Error('the Avro transcoder reads flow schema v1 only; this schema has another shape');
    }
    const enums = enumSymbols(schema);
    this.sym = {};
    for (const [name, symbols] of enums) this.sym[name] = symbols.map(encodeRowBinaryString);
  }

  /**
   * Appends the row of the record in `buf[start, end)` to `w`. On a bad record throws LookbackError
   * ('invalid_argument') with the reason; `w` then holds a partial row: the caller rewinds `w.pos`.
   */
  transcode(buf: Buffer, start: number, end: number, w: RowBinaryWriter, limits: FlowLimits): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.limits = limits;
    const sym = this.sym;

    this.time(w, 'time_ns', true);
    this.need(16);
    w.uuid(buf, this.pos);
    this.pos += 16;
    this.str(w, 'emitter.name');
    this.str(w, 'emitter.version');
    this.str(w, 'node_name');
    this.nodeLabels(w);
    this.str(w, 'cluster_name');
    this.enumSym(w, sym['FlowType']!, 'flow_type');
    this.enumSym(w, sym['Verdict']!, 'verdict');
    if (this.union('drop_reason_desc')) this.enumSym(w, sym['DropReason']!, 'drop_reason_desc');
    else w.u8(0);
    if (this.union('drop_reason_kernel')) this.str(w, 'drop_reason_kernel');
    else w.u8(0);
    this.enumSym(w, sym['FlowEvent']!, 'flow_event');
    if (this.union('ethernet')) {
      w.u64(this.long('ethernet.source', 0, MAC_MAX));
      w.u64(this.long('ethernet.destination', 0, MAC_MAX));
    } else {
      w.u64(0);
      w.u64(0);
    }
    if (this.union('ip')) {
      this.ip(w, 'ip.source');
      this.ip(w, 'ip.destination');
      if (this.union('ip.source_xlated')) this.ip(w, 'ip.source_xlated');
      else w.ipv6(null);
      w.u8(this.enumIndex(3, 'ip.ip_version'));
      w.u8(this.bool('ip.encrypted'));
    } else {
      w.ipv6(null);
      w.ipv6(null);
      w.ipv6(null);
      w.u8(0);
      w.u8(0);
    }
    w.u8(this.int('l4_protocol', 0, U8));
    w.u16(this.int('source_port', 0, U16));
    w.u16(this.int('destination_port', 0, U16));
    w.u16(this.int('tcp_flags', 0, U16));
    w.u8(this.int('icmp_type', 0, U8));
    w.u8(this.int('icmp_code', 0, U8));
    this.endpoint(w, SOURCE);
    this.endpoint(w, DESTINATION);
    this.service(w, SOURCE_SERVICE);
    this.service(w, DESTINATION_SERVICE);
    this.strArray(w, 'source_names');
    this.strArray(w, 'destination_names');
    let l7p: Buffer = L7_NONE;
    if (this.union('l7')) {
      this.enumSym(w, sym['L7FlowType']!, 'l7.type');
      w.u64(this.long('l7.latency_ns', 0, Number.MAX_SAFE_INTEGER));
      if (this.union('l7.dns')) {
        l7p = L7_DNS;
        this.str(w, 'l7.dns.query');
        this.ipArray(w, 'l7.dns.ips');
        w.u32(this.long('l7.dns.ttl', 0, U32));
        this.strArray(w, 'l7.dns.cnames');
        this.str(w, 'l7.dns.observation_source');
        w.u16(this.int('l7.dns.rcode', 0, U16));
        this.strArray(w, 'l7.dns.qtypes');
        this.strArray(w, 'l7.dns.rrtypes');
      } else {
        w.raw(DNS_DEFAULTS);
      }
      if (this.union('l7.http')) {
        if (l7p === L7_NONE) l7p = L7_HTTP;
        w.u16(this.int('l7.http.code', 0, U16));
        this.str(w, 'l7.http.method');
        this.str(w, 'l7.http.url');
        this.str(w, 'l7.http.protocol');
        this.pairArray(w, 'l7.http.headers');
      } else {
        w.raw(HTTP_DEFAULTS);
      }
      if (this.union('l7.kafka')) {
        if (l7p === L7_NONE) l7p = L7_KAFKA;
        w.u16(this.int('l7.kafka.error_code', -32768, 32767) & 0xffff);
        w.u16(this.int('l7.kafka.api_version', -32768, 32767) & 0xffff);
        this.str(w, 'l7.kafka.api_key');
        w.i32(this.int('l7.kafka.correlation_id', -2147483648, 2147483647));
        this.str(w, 'l7.kafka.topic');
        this.str(w, 'l7.kafka.client_id');
      } else {
        w.raw(KAFKA_DEFAULTS);
      }
    } else {
      w.u8(0); // l7_type ''
      w.u64(0); // l7_latency_ns
      w.raw(DNS_DEFAULTS);
      w.raw(HTTP_DEFAULTS);
      w.raw(KAFKA_DEFAULTS);
    }
    w.raw(l7p);
    this.enumSym(w, sym['TrafficDirection']!, 'traffic_direction');
    if (this.union('is_reply')) {
      w.u8(0);
      w.u8(this.bool('is_reply'));
    } else {
      w.u8(1);
    }
    this.enumSym(w, sym['TraceObservationPoint']!, 'trace_observation_point');
    this.enumSym(w, sym['TraceReason']!, 'trace_reason');
    if (this.union('interface')) {
      w.u32(this.int('interface.index', 0, U32));
      this.str(w, 'interface.name');
    } else {
      w.u32(0);
      w.u8(0);
    }
    w.u8(this.int('event_type.type', 0, U8));
    w.u16(this.int('event_type.sub_type', 0, U16));
    this.str(w, 'summary');
    this.time(w, 'first_seen_ns', false);
    this.time(w, 'last_seen_ns', false);
    w.u64(this.long('bytes_fwd', 0, Number.MAX_SAFE_INTEGER));
    w.u64(this.long('packets_fwd', 0, Number.MAX_SAFE_INTEGER));
    w.u64(this.long('bytes_rev', 0, Number.MAX_SAFE_INTEGER));
    w.u64(this.long('packets_rev', 0, Number.MAX_SAFE_INTEGER));
    w.u32(this.int('sampling_rate', 0, U32));
    w.u64(this.union('socket_cookie') ? this.long('socket_cookie', 0, Number.MAX_SAFE_INTEGER) : 0);
    w.u64(this.union('cgroup_id') ? this.long('cgroup_id', 0, Number.MAX_SAFE_INTEGER) : 0);
    w.u32(this.union('tcp_srtt_us') ? this.int('tcp_srtt_us', 0, U32) : 0);
    if (this.pos !== this.end) {
      throw this.pos > this.end ? corrupt(`the record ends ${this.pos - this.end} bytes early`) : corrupt(`${this.end - this.pos} bytes left over after the record`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw corrupt('the record ends early');
  }

  /** An unsigned varint up to 2^53 as a number (lengths, counts and the zigzag of ints and safe longs). */
  private varint(): number {
    const buf = this.buf;
    let p = this.pos;
    let b = buf[p++] as number;
    let v = b & 0x7f;
    if (b & 0x80) {
      b = buf[p++] as number;
      v |= (b & 0x7f) << 7;
      if (b & 0x80) {
        b = buf[p++] as number;
        v |= (b & 0x7f) << 14;
        if (b & 0x80) {
          b = buf[p++] as number;
          v |= (b & 0x7f) << 21;
          if (b & 0x80) {
            // Past 28 bits: continue in floating point, exact up to 2^53.
            let mul = 268435456;
            do {
              b = buf[p++] as number;
              v += (b & 0x7f) * mul;
              mul *= 128;
            } while (b & 0x80 && mul < 2 ** 63);
            if (b & 0x80) throw corrupt('a varint longer than 10 bytes');
          }
        }
      }
    }
    if (p > this.end) throw corrupt('the record ends inside a number');
    this.pos = p;
    return v;
  }

  /** A zigzag long that must be a safe integer in [min, max]. */
  private long(field: string, min: number, max: number): number {
    const z = this.varint();
    const v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    // Doubles hold every even zigzag up to 2^54, so v is exact for any safe integer; beyond, it is out of range.
    if (!(v >= min && v <= max) || z > 2 ** 54) throw outOfRange(field, z > 2 ** 54 ? zigzagBig(z) : v, min, max);
    return v;
  }

  private int(field: string, min: number, max: number): number {
    const z = this.varint();
    const v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    if (!(v >= min && v <= max)) throw outOfRange(field, v, min, max);
    return v;
  }

  /** A zigzag long copied exactly as Int64 (times), checked against the window when `checked`. */
  private time(w: RowBinaryWriter, field: string, checked: boolean): void {
    const buf = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let shift = 0;
    do {
      b = buf[p++] as number;
      lo |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && shift < 28);
    if (b & 0x80) {
      b = buf[p++] as number;
      lo |= (b & 0x0f) << 28;
      hi = (b & 0x7f) >>> 4;
      shift = 3;
      while (b & 0x80 && shift < 32) {
        b = buf[p++] as number;
        hi |= (b & 0x7f) << shift;
        shift += 7;
      }
      if (b & 0x80) throw corrupt('a varint longer than 10 bytes');
    }
    if (p > this.end) throw corrupt('the record ends inside a number');
    this.pos = p;
    // Zigzag on the two halves: v = (raw >>> 1) ^ -(raw & 1).
    const neg = lo & 1;
    let vlo = ((lo >>> 1) | (hi << 31)) >>> 0;
    let vhi = hi >>> 1;
    if (neg) {
      vlo = ~vlo >>> 0;
      vhi = ~vhi >>> 0;
    }
    if (checked) {
      // Signed value, exact to about 256 ns at today's times: enough to check a window of days.
      const approx = (vhi | 0) * TWO32 + vlo;
      const lim = this.limits;
      if (lim !== this.windowOf) {
        this.windowOf = lim;
        this.minTime = Number(lim.minTimeNs);
        this.maxTime = Number(lim.maxTimeNs);
      }
      if (approx < this.minTime || approx > this.maxTime) {
        const exact = (BigInt(vhi | 0) << 32n) | BigInt(vlo);
        if (exact < lim.minTimeNs || exact > lim.maxTimeNs) {
          throw invalidFlow(`${field} = ${exact} is outside the accepted window ${lim.minTimeNs} .. ${lim.maxTimeNs}`);
        }
      }
    }
    w.reserve(8);
    const o = w.buf;
    const q = w.pos;
    o[q] = vlo;
    o[q + 1] = vlo >>> 8;
    o[q + 2] = vlo >>> 16;
    o[q + 3] = vlo >>> 24;
    o[q + 4] = vhi;
    o[q + 5] = vhi >>> 8;
    o[q + 6] = vhi >>> 16;
    o[q + 7] = vhi >>> 24;
    w.pos = q + 8;
  }

  private bool(field: string): number {
    this.need(1);
    const b = this.buf[this.pos++] as number;
    if (b > 1) throw corrupt(`${field} is a boolean byte ${b}`);
    return b;
  }

  /** A ["null", T] union: false for null, true when T follows. */
  private union(field: string): boolean {
    this.need(1);
    const b = this.buf[this.pos++] as number;
    if (b === 0) return false;
    if (b === 2) return true;
    throw corrupt(`${field} has union branch byte ${b}`);
  }

  private enumIndex(count: number, field: string): number {
    const z = this.varint();
    const i = z / 2;
    if (z % 2 !== 0 || i >= count) throw corrupt(`${field} has enum index ${z % 2 ? -(z + 1) / 2 : i} of ${count}`);
    return i;
  }

  private enumSym(w: RowBinaryWriter, symbols: Buffer[], field: string): void {
    w.raw(symbols[this.enumIndex(symbols.length, field)] as Buffer);
  }

  /** Length of a string or bytes value, checked against what is left. */
  private len(field: string): number {
    const z = this.varint();
    if (z % 2 !== 0) throw corrupt(`${field} has a negative length`);
    const n = z / 2;
    if (this.pos + n > this.end) throw corrupt(`${field} is ${n} bytes long but the record ends before`);
    return n;
  }

  private str(w: RowBinaryWriter, field: string): void {
    const n = this.len(field);
    if (n > this.limits.maxStringBytes) throw invalidFlow(`${field} is ${n} bytes long, more than the ${this.limits.maxStringBytes} allowed`);
    w.varuint(n);
    w.copyFrom(this.buf, this.pos, n);
    this.pos += n;
  }

  private ip(w: RowBinaryWriter, field: string): void {
    const n = this.len(field);
    if (n !== 4 && n !== 16) throw invalidFlow(`${field} has ${n} bytes: an IP address has 4 or 16`);
    w.ipv6(this.buf, this.pos, n);
    this.pos += n;
  }

  /**
   * The element count of the next block of an array, 0 at its end. Avro writes arrays as blocks (count, items)
   * ending with 0; a negative count is followed by the block's size in bytes.
   */
  private block(field: string): number {
    const z = this.varint();
    if (z === 0) return 0;
    const count = z % 2 === 0 ? z / 2 : (z + 1) / 2;
    if (z % 2 !== 0) this.varint(); // the block's byte size, not needed
    // Every element takes at least one byte: a larger count is garbage, not a reason to loop for minutes.
    if (count > this.end - this.pos) throw corrupt(`${field} claims ${count} elements in ${this.end - this.pos} bytes`);
    return count;
  }

  private grow(n: number): void {
    if (n < this.starts.length) return;
    const size = Math.max(n + 1, this.starts.length * 2);
    const s = new Int32Array(size);
    const l = new Int32Array(size);
    s.set(this.starts);
    l.set(this.lens);
    this.starts = s;
    this.lens = l;
  }

  /**
   * An array of strings. The usual case, one block of strings shorter than 64 bytes, has the same layout in Avro
   * and RowBinary except the length bytes (zigzag 2n vs n): one copy of the whole run, then each length byte
   * halved. Otherwise positions first (the count must precede the elements), then a copy per string.
   */
  private strArray(w: RowBinaryWriter, field: string): void {
    let n = 0;
    let blocks = 0;
    let short = true;
    let runStart = -1;
    for (let c = this.block(field); c > 0; c = this.block(field)) {
      blocks++;
      if (runStart < 0) runStart = this.pos;
      for (; c > 0; c--, n++) {
        const len = this.len(field);
        if (len > this.limits.maxStringBytes) throw invalidFlow(`${field} is ${len} bytes long, more than the ${this.limits.maxStringBytes} allowed`);
        if (len >= 64) short = false;
        this.grow(n);
        this.starts[n] = this.pos;
        this.lens[n] = len;
        this.pos += len;
      }
    }
    w.varuint(n);
    if (n === 0) return;
    if (blocks === 1 && short) {
      // The run ends where the last string ends (the closing 0 block is after it).
      const last = n - 1;
      const runEnd = (this.starts[last] as number) + (this.lens[last] as number);
      const at = w.pos;
      w.copyFrom(this.buf, runStart, runEnd - runStart);
      const o = w.buf;
      let q = at;
      for (let i = 0; i < n; i++) {
        o[q] = this.lens[i] as number;
        q += 1 + (this.lens[i] as number);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const len = this.lens[i] as number;
      w.varuint(len);
      w.copyFrom(this.buf, this.starts[i] as number, len);
    }
  }

  private ipArray(w: RowBinaryWriter, field: string): void {
    let n = 0;
    for (let c = this.block(field); c > 0; c = this.block(field)) {
      for (; c > 0; c--, n++) {
        const len = this.len(field);
        if (len !== 4 && len !== 16) throw invalidFlow(`${field} has ${len} bytes: an IP address has 4 or 16`);
        this.grow(n);
        this.starts[n] = this.pos;
        this.lens[n] = len;
        this.pos += len;
      }
    }
    w.varuint(n);
    for (let i = 0; i < n; i++) w.ipv6(this.buf, this.starts[i] as number, this.lens[i] as number);
  }

  /**
   * An array of two-string records. Workloads become two arrays (names, then kinds); headers a Map (pairs).
   * Positions are kept in `starts`/`lens` as (first, second) pairs.
   */
  private readPairs(field: string): number {
    let n = 0;
    for (let c = this.block(field); c > 0; c = this.block(field)) {
      for (; c > 0; c--, n++) {
        this.grow(2 * n + 1);
        for (let k = 0; k < 2; k++) {
          const len = this.len(field);
          if (len > this.limits.maxStringBytes) throw invalidFlow(`${field} is ${len} bytes long, more than the ${this.limits.maxStringBytes} allowed`);
          this.starts[2 * n + k] = this.pos;
          this.lens[2 * n + k] = len;
          this.pos += len;
        }
      }
    }
    return n;
  }

  private copyString(w: RowBinaryWriter, at: number): void {
    const len = this.lens[at] as number;
    w.varuint(len);
    w.copyFrom(this.buf, this.starts[at] as number, len);
  }

  private pairArray(w: RowBinaryWriter, field: string): void {
    const n = this.readPairs(field);
    w.varuint(n);
    for (let i = 0; i < 2 * n; i++) this.copyString(w, i);
  }

  /**
   * Endpoints repeat: every flow of a pod carries the same bytes. Their rows are remembered with their Avro bytes:
   * a hash of the first 64 bytes finds candidates, a native compare of the whole run confirms one, and the row is
   * copied instead of made again (about a third of the cost).
   */
  private endpoint(w: RowBinaryWriter, f: EndpointFields): void {
    const start = this.pos;
    const cache = this.cacheFor(this.endpoints);
    const hit = cache.find(this.buf, start, this.end);
    if (hit) {
      this.pos = start + hit.avro.length;
      w.raw(hit.row);
      return;
    }
    const at = w.pos;
    this.writeEndpoint(w, f);
    cache.add(this.buf, start, this.pos, this.end, w.buf, at, w.pos);
  }

  /** The same for node_labels, the same for every flow of a node. */
  private nodeLabels(w: RowBinaryWriter): void {
    const start = this.pos;
    const cache = this.cacheFor(this.labelArrays);
    const hit = cache.find(this.buf, start, this.end);
    if (hit) {
      this.pos = start + hit.avro.length;
      w.raw(hit.row);
      return;
    }
    const at = w.pos;
    this.strArray(w, 'node_labels');
    cache.add(this.buf, start, this.pos, this.end, w.buf, at, w.pos);
  }

  private cacheFor(cache: RunCache): RunCache {
    // Rows were checked against the string limit when first made: a new limit starts the caches over.
    if (this.cachedLimit !== this.limits.maxStringBytes) {
      this.endpoints.clear();
      this.labelArrays.clear();
      this.cachedLimit = this.limits.maxStringBytes;
    }
    return cache;
  }

  private writeEndpoint(w: RowBinaryWriter, f: EndpointFields): void {
    w.u32(this.int(f.identity, 0, U32));
    this.str(w, f.cluster);
    this.str(w, f.namespace);
    this.str(w, f.pod);
    this.strArray(w, f.labels);
    const n = this.readPairs(f.workloads);
    w.varuint(n);
    for (let i = 0; i < n; i++) this.copyString(w, 2 * i);
    w.varuint(n);
    for (let i = 0; i < n; i++) this.copyString(w, 2 * i + 1);
  }

  private service(w: RowBinaryWriter, f: ServiceFields): void {
    if (this.union(f.self)) {
      this.str(w, f.name);
      this.str(w, f.namespace);
    } else {
      w.u8(0);
      w.u8(0);
    }
  }
}

/** Field names for error messages, made once (a template string per record would cost an allocation each). */
interface EndpointFields { identity: string; cluster: string; namespace: string; pod: string; labels: string; workloads: string }
interface ServiceFields { self: string; name: string; namespace: string }
const endpointFields = (side: string): EndpointFields => ({
  identity: `${side}.identity`, cluster: `${side}.cluster_name`, namespace: `${side}.namespace`, pod: `${side}.pod_name`,
  labels: `${side}.labels`, workloads: `${side}.workloads`,
});
const serviceFields = (self: string): ServiceFields => ({ self, name: `${self}.name`, namespace: `${self}.namespace` });
const SOURCE = endpointFields('source');
const DESTINATION = endpointFields('destination');
const SOURCE_SERVICE = serviceFields('source_service');
const DESTINATION_SERVICE = serviceFields('destination_service');

function zigzagBig(z: number): bigint {
  const b = BigInt(Math.round(z));
  return (b >> 1n) ^ -(b & 1n);
}

const L7_NONE = encodeRowBinaryString('');
const L7_DNS = encodeRowBinaryString('dns');
const L7_HTTP = encodeRowBinaryString('http');
const L7_KAFKA = encodeRowBinaryString('kafka');

/** A transcoder for `schema` when it is the one this file reads, else undefined (ingest then decodes every record). */
export function createTranscoder(schema: unknown): AvroRowTranscoder | undefined {
  try {
    return new AvroRowTranscoder(schema);
  } catch {
    return undefined;
  }
}

export { RowBinaryWriter };
