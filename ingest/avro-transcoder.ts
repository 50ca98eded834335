/**
 * Avro record bytes (flow schema v1) straight to a RowBinary row in FLOW_INSERT_COLUMNS order, without building a
 * Flow: strings and addresses are copied byte for byte, varints become fixed-width integers. It is ingest's hot
 * path: decoding into objects and encoding them again costs about 6 us per flow (bench/ingest.ts, "encoding"), this
 * under 2 us. Endpoints are transcoded every time: remembering their rows (a hash, a native compare and a native
 * copy per endpoint) cost about as much as transcoding them with the word copies below.
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
import { FLOW_INSERT_COLUMNS } from '../common/flow-row.js';

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
/** Largest `hi` (upper 32 bits) of a long in 0 .. Number.MAX_SAFE_INTEGER, 0 .. MAC_MAX. */
const SAFE_HI = Math.floor(Number.MAX_SAFE_INTEGER / TWO32);
const MAC_HI = Math.floor(MAC_MAX / TWO32);
/**
 * Copies shorter than this go 4 bytes at a time through DataViews; longer ones through Buffer#copy. In Node 20 a
 * native copy costs 60-70 ns a call whatever the length (argument checks and a view allocated per call), a JS byte
 * loop about 1.1 ns a byte, a DataView word loop about 0.35 ns a byte: the word loop wins up to about 200 bytes,
 * which is nearly every string a flow holds.
 */
const NATIVE_COPY_MIN = 192;
const EMPTY = Buffer.alloc(0);

/** Thrown for bytes that end inside the record or hold an impossible length or count. */
function corrupt(what: string): Error {
  return invalidFlow(`corrupt flow record (schema v1): ${what}`);
}

/**
 * The transcoder reads the record at `p` in `src` and writes the row at `q` in `out` (the writer's buffer),
 * keeping both positions in fields rather than going through RowBinaryWriter's methods: a row is about 70
 * values, and a method call with its own capacity check per value cost more than the bytes themselves. Room is
 * reserved once per record for every fixed-size value (`fixedRoom`), and per string or array for its bytes.
 */
export class AvroRowTranscoder {
  private src: Buffer = EMPTY;
  private p = 0;
  private end = 0;
  private w: RowBinaryWriter | undefined;
  private out: Buffer = EMPTY;
  private q = 0;
  /** DataViews over the whole ArrayBuffers of `src` and `out` (made again only when those change), and the offsets of the Buffers in them. */
  private srcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private srcBase = 0;
  private outView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private outBase = 0;
  private limits!: FlowLimits;
  private maxStr = 0;
  /** The time window of `windowOf` as numbers (a bigint conversion per record costs more than the check). */
  private windowOf: FlowLimits | undefined;
  private minTime = 0;
  private maxTime = 0;
  /** The long read last by `readLong`, zigzag-decoded: low 32 bits unsigned, high 32 bits signed. */
  private lo = 0;
  private hi = 0;
  /** Start and length of the strings of one array (positions into src), reused. */
  private starts = new Int32Array(256);
  private lens = new Int32Array(256);
  private readonly sym: Record<string, Buffer[]>;
  /** Bytes a row takes at most besides the contents of its strings and arrays (which reserve their own). */
  private readonly fixedRoom: number;

  constructor(schema: unknown) {
    const shape = shapeOf(schema);
    if (shape !== FLOW_V1_SHAPE || (schema as Json)['namespace'] !== 'lookback.flow' || `lookback.flow.${String((schema as Json)['name'])}` !== FLOW_SCHEMA_NAME) {
      throw new Error('the Avro transcoder reads flow schema v1 only; this schema has another shape');
    }
    const enums = enumSymbols(schema);
    this.sym = {};
    let symbolBytes = 0;
    for (const [name, symbols] of enums) {
      this.sym[name] = symbols.map(encodeRowBinaryString);
      symbolBytes += Math.max(...this.sym[name].map((b) => b.length));
    }
    // Every column is a value of at most 16 bytes (UUID, IPv6, integers, the Nullable flag and value, a string's
    // or array's length), an enum symbol, or the contents of a string or array (reserved apart).
    this.fixedRoom = FLOW_INSERT_COLUMNS.length * 16 + symbolBytes;
  }

  /**
   * Appends the row of the record in `buf[start, end)` to `w`. On a bad record throws LookbackError
   * ('invalid_argument') with the reason; `w.pos` is then anywhere after where it was: the caller rewinds it.
   */
  transcode(buf: Buffer, start: number, end: number, w: RowBinaryWriter, limits: FlowLimits): void {
    if (buf.buffer !== this.srcView.buffer) this.srcView = new DataView(buf.buffer);
    this.src = buf;
    this.srcBase = buf.byteOffset;
    this.p = start;
    this.end = end;
    this.limits = limits;
    this.maxStr = limits.maxStringBytes;
    this.w = w;
    w.reserve(this.fixedRoom);
    this.setOut(w);
    const sym = this.sym;

    this.time('time_ns', true);
    this.uuid();
    this.str('emitter.name');
    this.str('emitter.version');
    this.str('node_name');
    this.strArray('node_labels');
    this.str('cluster_name');
    this.enumSym(sym['FlowType']!, 'flow_type');
    this.enumSym(sym['Verdict']!, 'verdict');
    if (this.union('drop_reason_desc')) this.enumSym(sym['DropReason']!, 'drop_reason_desc');
    else this.u8(0);
    if (this.union('drop_reason_kernel')) this.str('drop_reason_kernel');
    else this.u8(0);
    this.enumSym(sym['FlowEvent']!, 'flow_event');
    if (this.union('ethernet')) {
      this.long('ethernet.source', MAC_HI, MAC_MAX);
      this.long('ethernet.destination', MAC_HI, MAC_MAX);
    } else {
      this.zeros(16);
    }
    if (this.union('ip')) {
      this.ip('ip.source');
      this.ip('ip.destination');
      if (this.union('ip.source_xlated')) this.ip('ip.source_xlated');
      else this.zeros(16);
      this.u8(this.enumIndex(3, 'ip.ip_version'));
      this.u8(this.bool('ip.encrypted'));
    } else {
      this.zeros(16 * 3 + 2);
    }
    this.u8(this.int('l4_protocol', 0, U8));
    this.u16(this.int('source_port', 0, U16));
    this.u16(this.int('destination_port', 0, U16));
    this.u16(this.int('tcp_flags', 0, U16));
    this.u8(this.int('icmp_type', 0, U8));
    this.u8(this.int('icmp_code', 0, U8));
    this.endpoint(SOURCE);
    this.endpoint(DESTINATION);
    this.service(SOURCE_SERVICE);
    this.service(DESTINATION_SERVICE);
    this.strArray('source_names');
    this.strArray('destination_names');
    let l7p: Buffer = L7_NONE;
    if (this.union('l7')) {
      this.enumSym(sym['L7FlowType']!, 'l7.type');
      this.long('l7.latency_ns', SAFE_HI, Number.MAX_SAFE_INTEGER);
      if (this.union('l7.dns')) {
        l7p = L7_DNS;
        this.str('l7.dns.query');
        this.ipArray('l7.dns.ips');
        this.longU32('l7.dns.ttl');
        this.strArray('l7.dns.cnames');
        this.str('l7.dns.observation_source');
        this.u16(this.int('l7.dns.rcode', 0, U16));
        this.strArray('l7.dns.qtypes');
        this.strArray('l7.dns.rrtypes');
      } else {
        this.bytes(DNS_DEFAULTS);
      }
      if (this.union('l7.http')) {
        if (l7p === L7_NONE) l7p = L7_HTTP;
        this.u16(this.int('l7.http.code', 0, U16));
        this.str('l7.http.method');
        this.str('l7.http.url');
        this.str('l7.http.protocol');
        this.pairMap('l7.http.headers');
      } else {
        this.bytes(HTTP_DEFAULTS);
      }
      if (this.union('l7.kafka')) {
        if (l7p === L7_NONE) l7p = L7_KAFKA;
        this.u16(this.int('l7.kafka.error_code', -32768, 32767) & 0xffff);
        this.u16(this.int('l7.kafka.api_version', -32768, 32767) & 0xffff);
        this.str('l7.kafka.api_key');
        this.u32(this.int('l7.kafka.correlation_id', -2147483648, 2147483647));
        this.str('l7.kafka.topic');
        this.str('l7.kafka.client_id');
      } else {
        this.bytes(KAFKA_DEFAULTS);
      }
    } else {
      this.zeros(1 + 8); // l7_type '', l7_latency_ns 0
      this.bytes(DNS_DEFAULTS);
      this.bytes(HTTP_DEFAULTS);
      this.bytes(KAFKA_DEFAULTS);
    }
    this.bytes(l7p);
    this.enumSym(sym['TrafficDirection']!, 'traffic_direction');
    if (this.union('is_reply')) {
      this.u8(0);
      this.u8(this.bool('is_reply'));
    } else {
      this.u8(1);
    }
    this.enumSym(sym['TraceObservationPoint']!, 'trace_observation_point');
    this.enumSym(sym['TraceReason']!, 'trace_reason');
    if (this.union('interface')) {
      this.u32(this.int('interface.index', 0, U32));
      this.str('interface.name');
    } else {
      this.zeros(4 + 1);
    }
    this.u8(this.int('event_type.type', 0, U8));
    this.u16(this.int('event_type.sub_type', 0, U16));
    this.str('summary');
    this.time('first_seen_ns', false);
    this.time('last_seen_ns', false);
    this.long('bytes_fwd', SAFE_HI, Number.MAX_SAFE_INTEGER);
    this.long('packets_fwd', SAFE_HI, Number.MAX_SAFE_INTEGER);
    this.long('bytes_rev', SAFE_HI, Number.MAX_SAFE_INTEGER);
    this.long('packets_rev', SAFE_HI, Number.MAX_SAFE_INTEGER);
    this.u32(this.int('sampling_rate', 0, U32));
    if (this.union('socket_cookie')) this.long('socket_cookie', SAFE_HI, Number.MAX_SAFE_INTEGER);
    else this.zeros(8);
    if (this.union('cgroup_id')) this.long('cgroup_id', SAFE_HI, Number.MAX_SAFE_INTEGER);
    else this.zeros(8);
    this.u32(this.union('tcp_srtt_us') ? this.int('tcp_srtt_us', 0, U32) : 0);
    if (this.p !== this.end) {
      throw this.p > this.end ? corrupt(`the record ends ${this.p - this.end} bytes early`) : corrupt(`${this.end - this.p} bytes left over after the record`);
    }
    w.pos = this.q;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Output

  private setOut(w: RowBinaryWriter): void {
    const out = w.buf;
    if (out.buffer !== this.outView.buffer) this.outView = new DataView(out.buffer);
    this.out = out;
    this.outBase = out.byteOffset;
    this.q = w.pos;
  }

  /** Makes room for `n` more bytes besides the fixed-size values (reserved at the record's start). */
  private room(n: number): void {
    if (this.q + n + this.fixedRoom <= this.out.length) return;
    const w = this.w as RowBinaryWriter;
    w.pos = this.q;
    w.reserve(n + this.fixedRoom);
    this.setOut(w);
  }

  private u8(v: number): void {
    this.out[this.q++] = v;
  }

  private u16(v: number): void {
    const out = this.out;
    const q = this.q;
    out[q] = v;
    out[q + 1] = v >>> 8;
    this.q = q + 2;
  }

  private u32(v: number): void {
    this.outView.setUint32(this.outBase + this.q, v >>> 0, true);
    this.q += 4;
  }

  private zeros(n: number): void {
    const out = this.out;
    const q = this.q;
    for (let i = 0; i < n; i++) out[q + i] = 0;
    this.q = q + n;
  }

  /** Pre-encoded bytes (enum symbols, defaults: all short). */
  private bytes(b: Buffer): void {
    const out = this.out;
    const q = this.q;
    const n = b.length;
    for (let i = 0; i < n; i++) out[q + i] = b[i] as number;
    this.q = q + n;
  }

  /** LEB128 unsigned (string lengths, array sizes); the caller made room. */
  private leb(v: number): void {
    const out = this.out;
    let q = this.q;
    while (v >= 0x80) {
      out[q++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    out[q++] = v;
    this.q = q;
  }

  /** Copies `n` bytes from the record to the row; the caller made room. */
  private copy(n: number): void {
    const p = this.p;
    const q = this.q;
    if (n < 8) {
      const src = this.src;
      const out = this.out;
      for (let i = 0; i < n; i++) out[q + i] = src[p + i] as number;
    } else if (n < NATIVE_COPY_MIN) {
      const sv = this.srcView;
      const ov = this.outView;
      const a = this.srcBase + p;
      const b = this.outBase + q;
      const last = n - 4;
      for (let i = 0; i < last; i += 4) ov.setInt32(b + i, sv.getInt32(a + i, true), true);
      // The last word may overlap the one before: fewer branches than a byte tail.
      ov.setInt32(b + last, sv.getInt32(a + last, true), true);
    } else {
      this.src.copy(this.out, q, p, p + n);
    }
    this.p = p + n;
    this.q = q + n;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Input

  /** An unsigned varint up to 2^53 as a number (lengths, counts and the zigzag of ints and safe longs). */
  private varint(): number {
    const buf = this.src;
    let p = this.p;
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
    this.p = p;
    return v;
  }

  /** The next byte when it is a whole varint (below 0x80) inside the record, else -1. */
  private byteVarint(): number {
    const p = this.p;
    const b = this.src[p] as number;
    if (b < 0x80 && p < this.end) {
      this.p = p + 1;
      return b;
    }
    return -1;
  }

  /** A zigzag int in [min, max]. */
  private int(field: string, min: number, max: number): number {
    const b = this.byteVarint();
    const z = b >= 0 ? b : this.varint();
    const v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    if (!(v >= min && v <= max)) throw outOfRange(field, v, min, max);
    return v;
  }

  /**
   * A zigzag long, exactly, into `lo` (unsigned) and `hi` (signed) 32-bit halves; returns how many bytes its varint
   * took. Ten bytes hold values beyond any range checked here: long() and longU32() send them the slow way, which
   * refuses them as before; times take them as they are.
   */
  private readLong(): number {
    const buf = this.src;
    const at = this.p;
    let p = at;
    let b = buf[p++] as number;
    let lo = b & 0x7f;
    let hi = 0;
    let shift = 7;
    while (b & 0x80 && shift < 28) {
      b = buf[p++] as number;
      lo |= (b & 0x7f) << shift;
      shift += 7;
    }
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
    this.p = p;
    // Zigzag on the two halves: v = (raw >>> 1) ^ -(raw & 1).
    const neg = -(lo & 1);
    this.lo = (((lo >>> 1) | (hi << 31)) ^ neg) >>> 0;
    this.hi = (hi >>> 1) ^ neg;
    return p - at;
  }

  /** A long in 0 .. max (whose upper half is at most maxHi) written as UInt64. */
  private long(field: string, maxHi: number, max: number): void {
    const at = this.p;
    if (this.readLong() >= 10 || this.hi < 0 || this.hi > maxHi || (this.hi === maxHi && this.lo > max % TWO32)) this.longError(field, at, max);
    const ov = this.outView;
    const o = this.outBase + this.q;
    ov.setUint32(o, this.lo, true);
    ov.setUint32(o + 4, this.hi, true);
    this.q += 8;
  }

  /** A long in 0 .. U32 written as UInt32. */
  private longU32(field: string): void {
    const at = this.p;
    if (this.readLong() >= 10 || this.hi !== 0) this.longError(field, at, U32);
    this.u32(this.lo);
  }

  /** Throws what the number-based reading always said about a long out of 0 .. max (or a corrupt varint). */
  private longError(field: string, at: number, max: number): never {
    this.p = at;
    const z = this.varint();
    const v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    // Doubles hold every even zigzag up to 2^54, so v is exact for any safe integer; beyond, it is out of range.
    throw outOfRange(field, z > 2 ** 54 ? zigzagBig(z) : v, 0, max);
  }

  /** A zigzag long copied exactly as Int64 (times), checked against the window when `checked`. */
  private time(field: string, checked: boolean): void {
    this.readLong();
    const vlo = this.lo;
    const vhi = this.hi;
    if (checked) {
      // Signed value, exact to about 256 ns at today's times: enough to check a window of days.
      const approx = vhi * TWO32 + vlo;
      const lim = this.limits;
      if (lim !== this.windowOf) {
        this.windowOf = lim;
        this.minTime = Number(lim.minTimeNs);
        this.maxTime = Number(lim.maxTimeNs);
      }
      if (approx < this.minTime || approx > this.maxTime) {
        const exact = (BigInt(vhi) << 32n) | BigInt(vlo);
        if (exact < lim.minTimeNs || exact > lim.maxTimeNs) {
          throw invalidFlow(`${field} = ${exact} is outside the accepted window ${lim.minTimeNs} .. ${lim.maxTimeNs}`);
        }
      }
    }
    const ov = this.outView;
    const o = this.outBase + this.q;
    ov.setUint32(o, vlo, true);
    ov.setInt32(o + 4, vhi, true);
    this.q += 8;
  }

  /** The 16 bytes of the uuid as ClickHouse's UUID: each 8-byte half reversed. */
  private uuid(): void {
    const p = this.p;
    if (p + 16 > this.end) throw corrupt('the record ends early');
    const src = this.src;
    const out = this.out;
    const q = this.q;
    for (let i = 0; i < 8; i++) {
      out[q + i] = src[p + 7 - i] as number;
      out[q + 8 + i] = src[p + 15 - i] as number;
    }
    this.p = p + 16;
    this.q = q + 16;
  }

  private bool(field: string): number {
    if (this.p >= this.end) throw corrupt('the record ends early');
    const b = this.src[this.p++] as number;
    if (b > 1) throw corrupt(`${field} is a boolean byte ${b}`);
    return b;
  }

  /** A ["null", T] union: false for null, true when T follows. */
  private union(field: string): boolean {
    if (this.p >= this.end) throw corrupt('the record ends early');
    const b = this.src[this.p++] as number;
    if (b === 0) return false;
    if (b === 2) return true;
    throw corrupt(`${field} has union branch byte ${b}`);
  }

  private enumIndex(count: number, field: string): number {
    const b = this.byteVarint();
    const z = b >= 0 ? b : this.varint();
    const i = z / 2;
    if (z % 2 !== 0 || i >= count) throw corrupt(`${field} has enum index ${z % 2 ? -(z + 1) / 2 : i} of ${count}`);
    return i;
  }

  private enumSym(symbols: Buffer[], field: string): void {
    this.bytes(symbols[this.enumIndex(symbols.length, field)] as Buffer);
  }

  /** Length of a string or bytes value, checked against what is left. */
  private len(field: string): number {
    const b = this.byteVarint();
    const z = b >= 0 ? b : this.varint();
    if (z % 2 !== 0) throw corrupt(`${field} has a negative length`);
    const n = z / 2;
    if (this.p + n > this.end) throw corrupt(`${field} is ${n} bytes long but the record ends before`);
    return n;
  }

  /** Length of a string, checked against the string limit too. */
  private strLen(field: string): number {
    const n = this.len(field);
    if (n > this.maxStr) throw invalidFlow(`${field} is ${n} bytes long, more than the ${this.maxStr} allowed`);
    return n;
  }

  private str(field: string): void {
    const n = this.strLen(field);
    this.room(n + 5);
    this.leb(n);
    this.copy(n);
  }

  /** A string whose position `readPairs` noted (index `at` of starts/lens). */
  private strAt(at: number): void {
    const n = this.lens[at] as number;
    const p = this.p;
    this.room(n + 5);
    this.leb(n);
    this.p = this.starts[at] as number;
    this.copy(n);
    this.p = p;
  }

  private ip(field: string): void {
    const n = this.len(field);
    if (n !== 4 && n !== 16) throw invalidFlow(`${field} has ${n} bytes: an IP address has 4 or 16`);
    this.ipBytes(n);
  }

  /** A 4- or 16-byte address at `p` as IPv6 (IPv4 mapped); the caller made room. */
  private ipBytes(n: number): void {
    const src = this.src;
    const out = this.out;
    const p = this.p;
    const q = this.q;
    if (n === 16) {
      for (let i = 0; i < 16; i++) out[q + i] = src[p + i] as number;
    } else {
      for (let i = 0; i < 10; i++) out[q + i] = 0;
      out[q + 10] = 0xff;
      out[q + 11] = 0xff;
      out[q + 12] = src[p] as number;
      out[q + 13] = src[p + 1] as number;
      out[q + 14] = src[p + 2] as number;
      out[q + 15] = src[p + 3] as number;
    }
    this.p = p + n;
    this.q = q + 16;
  }

  /**
   * The element count of the next block of an array, 0 at its end. Avro writes arrays as blocks (count, items)
   * ending with 0; a negative count is followed by the block's size in bytes.
   */
  private block(field: string): number {
    const b = this.byteVarint();
    const z = b >= 0 ? b : this.varint();
    if (z === 0) return 0;
    const count = z % 2 === 0 ? z / 2 : (z + 1) / 2;
    if (z % 2 !== 0) this.varint(); // the block's byte size, not needed
    // Every element takes at least one byte: a larger count is garbage, not a reason to loop for minutes.
    if (count > this.end - this.p) throw corrupt(`${field} claims ${count} elements in ${this.end - this.p} bytes`);
    return count;
  }

  /**
   * An array of strings. Writers put a whole array in one block, whose count comes first as RowBinary wants:
   * each string is copied as it is read. An array of several blocks is read again from its start, counting first.
   */
  private strArray(field: string): void {
    const p0 = this.p;
    const q0 = this.q;
    const c = this.block(field);
    this.room(5);
    this.leb(c);
    if (c === 0) return;
    for (let i = 0; i < c; i++) this.str(field);
    if (this.block(field) === 0) return;
    this.p = p0;
    this.q = q0;
    const n = this.readStrings(field, 1);
    this.room(5);
    this.leb(n);
    for (let i = 0; i < n; i++) this.strAt(i);
  }

  /** Notes the positions of an array's strings (`per` strings per element) in starts/lens; returns the element count. */
  private readStrings(field: string, per: number): number {
    let n = 0;
    for (let c = this.block(field); c > 0; c = this.block(field)) {
      for (; c > 0; c--, n++) {
        this.grow(per * (n + 1));
        for (let k = 0; k < per; k++) {
          const len = this.strLen(field);
          this.starts[per * n + k] = this.p;
          this.lens[per * n + k] = len;
          this.p += len;
        }
      }
    }
    return n;
  }

  private grow(n: number): void {
    if (n <= this.starts.length) return;
    const size = Math.max(n, this.starts.length * 2);
    const s = new Int32Array(size);
    const l = new Int32Array(size);
    s.set(this.starts);
    l.set(this.lens);
    this.starts = s;
    this.lens = l;
  }

  private ipArray(field: string): void {
    let n = 0;
    for (let c = this.block(field); c > 0; c = this.block(field)) {
      for (; c > 0; c--, n++) {
        const len = this.len(field);
        if (len !== 4 && len !== 16) throw invalidFlow(`${field} has ${len} bytes: an IP address has 4 or 16`);
        this.grow(n + 1);
        this.starts[n] = this.p;
        this.lens[n] = len;
        this.p += len;
      }
    }
    this.room(5 + 16 * n);
    this.leb(n);
    const p = this.p;
    for (let i = 0; i < n; i++) {
      this.p = this.starts[i] as number;
      this.ipBytes(this.lens[i] as number);
    }
    this.p = p;
  }

  /** An array of two-string records as a Map (HTTP headers): key, value pairs in order. */
  private pairMap(field: string): void {
    const n = this.readStrings(field, 2);
    const p = this.p;
    this.room(5);
    this.leb(n);
    for (let i = 0; i < 2 * n; i++) this.strAt(i);
    this.p = p;
  }

  private endpoint(f: EndpointFields): void {
    this.u32(this.int(f.identity, 0, U32));
    this.str(f.cluster);
    this.str(f.namespace);
    this.str(f.pod);
    this.strArray(f.labels);
    // Workloads become two arrays: names, then kinds.
    const n = this.readStrings(f.workloads, 2);
    const p = this.p;
    this.room(5);
    this.leb(n);
    for (let i = 0; i < n; i++) this.strAt(2 * i);
    this.room(5);
    this.leb(n);
    for (let i = 0; i < n; i++) this.strAt(2 * i + 1);
    this.p = p;
  }

  private service(f: ServiceFields): void {
    if (this.union(f.self)) {
      this.str(f.name);
      this.str(f.namespace);
    } else {
      this.zeros(2);
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
