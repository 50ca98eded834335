/**
 * A hand-written Avro binary encoder for lookback.flow.Flow version 1 (schemas/flow.avsc): the same bytes as avsc
 * with avro-types.ts writes, several times faster. avsc goes through generic type objects per field (a call, a
 * check and a Tap update per value); here each record is one function over the primitives of avro-write.ts, and
 * the encodings of what the collector shares between flows (deep-frozen endpoints, string arrays, emitter,
 * services, interfaces) are remembered and copied, as are repeated L3/L4 summaries.
 *
 * The writer is tied to this schema: createFlowWriter() returns undefined for any other fingerprint, and the codec
 * then uses avsc. flow-encoder.test.ts compares the two byte for byte. What it mirrors from avsc:
 * - record fields are read by property access, and an undefined field is written as its default (avsc's
 *   generated record writers do the same); null where a record is required throws;
 * - values avsc refuses throw (the codec then asks avsc which field is wrong);
 * - strings are written as avsc writes them, lone surrogates included (see avro-write.ts).
 */
// Imported, not the global: globalThis.Buffer is an accessor in Node, a getter call on every use (view() runs per flow).
import { Buffer } from 'node:buffer';
import {
  array, boolean, bytes, copy, enumeration, fixed16, int, invalid, long, string, SymbolIndex, timestamp, zeros,
} from './avro-write.js';
import { schemaFingerprint } from './fingerprint.js';
import type { Flow } from './flow-types.js';

/** CRC-64-AVRO of flow.v1.avsc, the schema this file encodes. */
export const FLOW_ENCODER_FINGERPRINT = 'fb5d86986d56923f';

/** Enum symbol -> index, per enum of the schema (see enumIndex()). */
interface Enums {
  flowType: SymbolIndex;
  verdict: SymbolIndex;
  dropReason: SymbolIndex;
  flowEvent: SymbolIndex;
  ipVersion: SymbolIndex;
  l7Type: SymbolIndex;
  direction: SymbolIndex;
  point: SymbolIndex;
  traceReason: SymbolIndex;
}

// A value as the encoder sees it: any field may be undefined (then its default is written) or of the wrong type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

/** How many distinct strings the summary cache keeps (it starts over when full). */
const STRING_CACHE_SIZE = 4096;

/** The encoding of the fields emitter .. cluster_name for these values. */
interface NodeRun { emitter: object; labels: object; name: string; cluster: string; bytes: Uint8Array }

export class FlowWriter {
  buf: Buffer;
  pos = 0;
  /**
   * Bytes of buf before this offset belong to someone else (views the codec handed out): they are never written
   * again, and a grown buffer does not take them along. Bytes from here to pos are the work in progress.
   */
  keepFrom = 0;
  /** Encodings of deep-frozen values; null marks a frozen value that is not deep-frozen (never remembered). */
  readonly remembered = new WeakMap<object, Uint8Array | null>();
  /** Encodings of repeated strings (L3/L4 summaries), by value. */
  readonly strings = new Map<string, Uint8Array>();
  /** See nodeBlock(). */
  node: NodeRun | null = null;
  /** The last two runs source .. destination_names written, and which of them was used last (see peerFields()). */
  readonly peerA = new PeerRun();
  readonly peerB = new PeerRun();
  peerLast: PeerRun = this.peerA;
  /** Cleared by shared() and strings() when they write a value whose encoding could change (see peerFields()). */
  runFixed = true;

  /** Size of each new buffer (more when one flow needs more). */
  readonly slabSize: number;

  /** buf's ArrayBuffer, read once per buffer: the `buffer` getter of a typed array is a call into C++. */
  private memory: ArrayBuffer;

  constructor(readonly enums: Enums, initialSize = 64 * 1024) {
    this.slabSize = initialSize;
    this.buf = Buffer.allocUnsafeSlow(initialSize);
    this.memory = this.buf.buffer as ArrayBuffer;
  }

  /**
   * A Buffer over buf[from, to). Buffer.from(arrayBuffer, ...) makes the view directly, where buf.subarray() looks
   * up the species constructor and reads buf.buffer again: ~35 vs ~57 ns in a micro-benchmark (too little to see
   * on its own in bench/collector), once per flow.
   */
  view(from: number, to: number): Buffer {
    return Buffer.from(this.memory, this.buf.byteOffset + from, to - from);
  }

  /**
   * Gives back the room after keepFrom (the work in progress is abandoned, or was copied out): those bytes will be
   * written again, so no remembered run may point there.
   */
  rewind(): void {
    this.pos = this.keepFrom;
    if (this.peerA.end > this.keepFrom) this.peerA.forget();
    if (this.peerB.end > this.keepFrom) this.peerB.forget();
  }

  /** Appends raw bytes (a framing header). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.pos = copy(this.buf, this.pos, bytes);
  }

  /** Appends one flow, growing the buffer as needed. Throws a plain Error on values the schema does not allow. */
  writeFlow(flow: Flow): void {
    this.ensure(4096);
    for (;;) {
      const end = flowRecord(this, this.buf, this.pos, flow);
      if (end <= this.buf.length) {
        this.pos = end;
        return;
      }
      // It did not fit: what went past the end was dropped. Grow, then write the flow again.
      this.ensure(end - this.pos + 4096);
    }
  }

  /**
   * Makes room for `n` more bytes after pos. When buf is full, the work in progress (keepFrom .. pos) moves to the
   * start of a new buffer and the old one is left to the views into it: positions then shift by keepFrom.
   */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const kept = this.pos - this.keepFrom;
    const next = Buffer.allocUnsafeSlow(Math.max(this.slabSize, kept + n));
    if (kept > 0) this.buf.copy(next, 0, this.keepFrom, this.pos);
    this.buf = next;
    this.memory = next.buffer as ArrayBuffer;
    this.keepFrom = 0;
    this.pos = kept;
  }
}

/** A writer for flows of `schema` (parsed flow.avsc), or undefined when it is not the schema this file encodes. */
export function createFlowWriter(schema: unknown, initialSize?: number): FlowWriter | undefined {
  if (schemaFingerprint(schema).toString('hex') !== FLOW_ENCODER_FINGERPRINT) return undefined;
  const e = (name: string): SymbolIndex => enumIndex(enumSymbols(schema, name));
  return new FlowWriter({
    flowType: e('FlowType'), verdict: e('Verdict'), dropReason: e('DropReason'), flowEvent: e('FlowEvent'),
    ipVersion: e('IPVersion'), l7Type: e('L7FlowType'), direction: e('TrafficDirection'),
    point: e('TraceObservationPoint'), traceReason: e('TraceReason'),
  }, initialSize);
}

/**
 * Symbol -> index for one enum (see SymbolIndex). The schema's symbols come from JSON.parse, which does not intern
 * them, so each comparison with them would compare characters; used as property keys they are interned (and
 * Object.keys returns those).
 */
function enumIndex(symbols: readonly string[]): SymbolIndex {
  const keys: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const s of symbols) keys[s] = 0;
  const interned = Object.keys(keys);
  if (interned.length !== symbols.length || interned.some((s, i) => s !== symbols[i])) throw new Error('enum symbols out of order');
  return new SymbolIndex(interned);
}

/** The symbols of the enum named `name` anywhere in the schema. */
function enumSymbols(schema: unknown, name: string): string[] {
  let found: string[] | undefined;
  const visit = (v: unknown): void => {
    if (found || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as Record<string, unknown>;
    if (o['type'] === 'enum' && o['name'] === name) found = o['symbols'] as string[];
    else Object.values(o).forEach(visit);
  };
  visit(schema);
  if (!found) throw new Error(`enum ${name} not in the flow schema`);
  return found;
}

// ---- what is shared between flows ------------------------------------------------------------------------------

type Write = (w: FlowWriter, buf: Buffer, pos: number, v: Loose) => number;

/**
 * Copies the remembered encoding of `v`, or writes it with `write` and remembers it when it is deep-frozen (its
 * encoding can then never change). The collector's endpoints, DNS names, node labels and interfaces are.
 */
function shared(w: FlowWriter, buf: Buffer, pos: number, v: Loose, write: Write): number {
  if (v === null || typeof v !== 'object') return write(w, buf, pos, v); // not an object: avsc reads undefined fields
  // The lookup first: a hit is the common case, and Object.isFrozen costs about two lookups.
  const known = w.remembered.get(v);
  if (known) return copy(buf, pos, known);
  const end = write(w, buf, pos, v);
  if (known === undefined && end <= buf.length && Object.isFrozen(v)) {
    const fixed = deepFrozen(v);
    w.remembered.set(v, fixed ? new Uint8Array(buf.subarray(pos, end)) : null);
    if (!fixed) w.runFixed = false;
  } else {
    w.runFixed = false; // not frozen, or known not to be deep-frozen (or did not fit: written again anyway)
  }
  return end;
}

function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (!Object.isFrozen(v) || ArrayBuffer.isView(v)) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (!deepFrozen(x)) return false;
  return true;
}

/** A string whose values repeat (an L3/L4 summary from a small table), from a bounded cache by value. */
function repeatedString(w: FlowWriter, buf: Buffer, pos: number, v: unknown): number {
  if (typeof v !== 'string' || v.length > 128) return string(buf, pos, v);
  const known = w.strings.get(v);
  if (known !== undefined) return copy(buf, pos, known);
  const end = string(buf, pos, v);
  if (end > buf.length) return end;
  if (w.strings.size >= STRING_CACHE_SIZE) w.strings.clear();
  w.strings.set(v, new Uint8Array(buf.subarray(pos, end)));
  return end;
}

const stringArray = (_w: FlowWriter, buf: Buffer, pos: number, v: Loose): number => array(buf, pos, v, string);

/** An array of strings, possibly shared (node labels, DNS names); an undefined field is the default, []. */
function strings(w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) {
    if (v !== undefined && !Object.isFrozen(v)) w.runFixed = false; // an empty array that may be filled later
    buf[pos] = 0;
    return pos + 1;
  }
  if (!Array.isArray(v)) throw invalid(v, 'array');
  return shared(w, buf, pos, v, stringArray);
}

// ---- records -----------------------------------------------------------------------------------------------------
// ["null", X] unions are written inline: byte 0 for null (and for undefined, the default), else some() and X.

/*
 * The record is written by a few functions of about ten fields each rather than one: V8 inlines small callees
 * (int, enumeration, some, ...) only up to a budget per optimized function, which one 43-field function exhausts
 * early, leaving most of its field writes as calls.
 */
function flowRecord(w: FlowWriter, buf: Buffer, pos: number, f: Loose): number {
  let v: Loose;
  const time = f.time_ns === undefined ? 0n : f.time_ns;
  const timeAt = pos;
  pos = timestamp(buf, pos, time);
  const timeEnd = pos;
  pos = (v = f.uuid) === undefined ? zeros(buf, pos, 16) : fixed16(buf, pos, v);
  pos = nodeBlock(w, buf, pos, f);
  pos = packetFields(w, buf, pos, f);
  pos = peerFields(w, buf, pos, f);
  const l7 = f.l7;
  if (l7 == null) buf[pos++] = 0;
  else pos = layer7(w, buf, some(buf, pos), l7);
  pos = traceFields(w, buf, pos, f, l7 == null);
  // first_seen and last_seen are often the event's own time: copy its bytes.
  pos = (v = f.first_seen_ns === undefined ? 0n : f.first_seen_ns) === time ? copyWithin(buf, pos, timeAt, timeEnd) : timestamp(buf, pos, v);
  pos = (v = f.last_seen_ns === undefined ? 0n : f.last_seen_ns) === time ? copyWithin(buf, pos, timeAt, timeEnd) : timestamp(buf, pos, v);
  return counterFields(buf, pos, f);
}

/** flow_type .. icmp_code. */
function packetFields(w: FlowWriter, buf: Buffer, pos: number, f: Loose): number {
  const en = w.enums;
  let v: Loose;
  pos = enumeration(buf, pos, en.flowType, f.flow_type, 0);
  pos = enumeration(buf, pos, en.verdict, f.verdict, 0);
  if ((v = f.drop_reason_desc) == null) buf[pos++] = 0;
  else pos = enumeration(buf, some(buf, pos), en.dropReason, v, 0);
  if ((v = f.drop_reason_kernel) == null) buf[pos++] = 0;
  else pos = string(buf, some(buf, pos), v);
  pos = enumeration(buf, pos, en.flowEvent, f.flow_event, 0);
  if ((v = f.ethernet) == null) buf[pos++] = 0;
  else pos = ethernet(buf, some(buf, pos), v);
  if ((v = f.ip) == null) buf[pos++] = 0;
  else pos = ip(w, buf, some(buf, pos), v);
  pos = int(buf, pos, (v = f.l4_protocol) === undefined ? 0 : v);
  pos = int(buf, pos, (v = f.source_port) === undefined ? 0 : v);
  pos = int(buf, pos, (v = f.destination_port) === undefined ? 0 : v);
  pos = int(buf, pos, (v = f.tcp_flags) === undefined ? 0 : v);
  pos = int(buf, pos, (v = f.icmp_type) === undefined ? 0 : v);
  return int(buf, pos, (v = f.icmp_code) === undefined ? 0 : v);
}

/** traffic_direction .. summary. */
function traceFields(w: FlowWriter, buf: Buffer, pos: number, f: Loose, noL7: boolean): number {
  const en = w.enums;
  let v: Loose;
  pos = enumeration(buf, pos, en.direction, f.traffic_direction, 0);
  if ((v = f.is_reply) == null) buf[pos++] = 0;
  else pos = boolean(buf, some(buf, pos), v);
  pos = enumeration(buf, pos, en.point, f.trace_observation_point, 0);
  pos = enumeration(buf, pos, en.traceReason, f.trace_reason, 0);
  if ((v = f.interface) == null) buf[pos++] = 0;
  else pos = shared(w, buf, some(buf, pos), v, networkInterface);
  pos = (v = f.event_type) === undefined ? zeros(buf, pos, 2) : ciliumEventType(buf, pos, v);
  // L3/L4 summaries come from small tables; L7 ones are new text every time, not worth remembering.
  v = f.summary === undefined ? '' : f.summary;
  return noL7 ? repeatedString(w, buf, pos, v) : string(buf, pos, v);
}

/** bytes_fwd .. tcp_srtt_us. */
function counterFields(buf: Buffer, pos: number, f: Loose): number {
  let v: Loose;
  pos = long(buf, pos, (v = f.bytes_fwd) === undefined ? 0 : v);
  pos = long(buf, pos, (v = f.packets_fwd) === undefined ? 0 : v);
  pos = long(buf, pos, (v = f.bytes_rev) === undefined ? 0 : v);
  pos = long(buf, pos, (v = f.packets_rev) === undefined ? 0 : v);
  pos = int(buf, pos, (v = f.sampling_rate) === undefined ? 1 : v);
  if ((v = f.socket_cookie) == null) buf[pos++] = 0;
  else pos = long(buf, some(buf, pos), v);
  if ((v = f.cgroup_id) == null) buf[pos++] = 0;
  else pos = long(buf, some(buf, pos), v);
  if ((v = f.tcp_srtt_us) == null) buf[pos++] = 0;
  else pos = int(buf, some(buf, pos), v);
  return pos;
}

// ---- runs of fields that repeat together ------------------------------------------------------------------------
// emitter, node_name, node_labels, cluster_name are the same in every flow of a collector. When the emitter and the
// labels are deep-frozen, the run's bytes are a function of the four values: they are remembered and copied after
// four comparisons, instead of a lookup per field. source .. destination_names: see peerFields(). (Tried before
// for that run and measured slower: a copy per entry, remembered per source endpoint and peer, or keyed by the flow's
// ip record through a WeakMap. What made it pay: no copy and no lookup, only the last two runs' places in the slab,
// compared by identity, and a miss that costs no more than writing the six values: 69% hits on the bench's flows,
// the encoder alone 1097-1169 vs 1183-1236 ns/flow, interleaved runs of bench/collector at 30 rounds.)

/** The run emitter .. cluster_name, from the writer's one remembered run when the values are the same. */
function nodeBlock(w: FlowWriter, buf: Buffer, pos: number, f: Loose): number {
  const e = f.emitter, name = f.node_name, labels = f.node_labels, cluster = f.cluster_name;
  const known = w.node;
  if (known !== null && e === known.emitter && labels === known.labels && name === known.name && cluster === known.cluster) {
    return copy(buf, pos, known.bytes);
  }
  const start = pos;
  pos = e === undefined ? zeros(buf, pos, 2) : shared(w, buf, pos, e, emitter);
  pos = string(buf, pos, name === undefined ? '' : name);
  pos = strings(w, buf, pos, labels);
  pos = string(buf, pos, cluster === undefined ? '' : cluster);
  if (pos <= buf.length && typeof name === 'string' && typeof cluster === 'string' && isRemembered(w, e) && isRemembered(w, labels)) {
    w.node = { emitter: e, labels, name, cluster, bytes: new Uint8Array(buf.subarray(start, pos)) };
  }
  return pos;
}

/** Matches no flow's field. */
const NO_VALUE = Symbol('no value');

/**
 * Where the run source .. destination_names of some six values was written: bytes of the writer's current buffer
 * before keepFrom, which are never written again (see FlowWriter.keepFrom), so they can be copied from there.
 */
class PeerRun {
  source: unknown = NO_VALUE;
  destination: unknown = undefined;
  sourceService: unknown = undefined;
  destinationService: unknown = undefined;
  sourceNames: unknown = undefined;
  destinationNames: unknown = undefined;
  buf: Buffer | null = null;
  start = 0;
  end = 0;
  forget(): void {
    this.source = NO_VALUE;
    this.buf = null;
  }
}

/** Whether run holds the six values of f in buf, finished (before keepFrom). */
function sameRun(run: PeerRun, w: FlowWriter, buf: Buffer, f: Loose): boolean {
  return run.source === f.source && run.destination === f.destination && run.sourceService === f.source_service &&
    run.destinationService === f.destination_service && run.sourceNames === f.source_names &&
    run.destinationNames === f.destination_names && run.buf === buf && run.end <= w.keepFrom;
}

/**
 * source .. destination_names, about 600 of a flow's ~1000 bytes. Consecutive flows are mostly of a few
 * connections, both ways, so the run is mostly one of the last two written: then it is copied in one piece from
 * where it was written (one copyWithin, where six remembered blocks cost a lookup and a copy each: about 250 ns of
 * the encoder's ~1200 per flow, measured in bench/collector by writing a fixed 600 bytes instead). Otherwise each
 * endpoint, service and name list is written from its own remembered encoding, and where the run went is
 * remembered when all six are deep-frozen (their bytes can never change; undefined and null are values too):
 * shared() and strings() clear w.runFixed when they write one that is not.
 */
function peerFields(w: FlowWriter, buf: Buffer, pos: number, f: Loose): number {
  let run: PeerRun | null = w.peerLast;
  if (!sameRun(run, w, buf, f)) {
    run = run === w.peerA ? w.peerB : w.peerA;
    if (!sameRun(run, w, buf, f)) run = null;
  }
  if (run !== null) {
    w.peerLast = run;
    const n = run.end - run.start;
    if (pos + n <= buf.length) buf.copyWithin(pos, run.start, run.end);
    return pos + n;
  }
  const start = pos;
  w.runFixed = true;
  let v: Loose;
  pos = (v = f.source) === undefined ? zeros(buf, pos, 6) : shared(w, buf, pos, v, endpoint);
  pos = (v = f.destination) === undefined ? zeros(buf, pos, 6) : shared(w, buf, pos, v, endpoint);
  if ((v = f.source_service) == null) buf[pos++] = 0;
  else pos = shared(w, buf, some(buf, pos), v, service);
  if ((v = f.destination_service) == null) buf[pos++] = 0;
  else pos = shared(w, buf, some(buf, pos), v, service);
  pos = strings(w, buf, pos, f.source_names);
  pos = strings(w, buf, pos, f.destination_names);
  if (pos <= buf.length && w.runFixed) {
    // Into the entry not used last.
    const into = w.peerLast === w.peerA ? w.peerB : w.peerA;
    into.source = f.source;
    into.destination = f.destination;
    into.sourceService = f.source_service;
    into.destinationService = f.destination_service;
    into.sourceNames = f.source_names;
    into.destinationNames = f.destination_names;
    into.buf = buf;
    into.start = start;
    into.end = pos;
    w.peerLast = into;
  }
  return pos;
}


/**
 * Whether the encoding of `v` can never change: a deep-frozen object (or array) the writer has encoded and
 * remembered, or a frozen empty array (strings() writes those without remembering them).
 */
function isRemembered(w: FlowWriter, v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  if ((w.remembered.get(v) ?? null) !== null) return true;
  return Array.isArray(v) && v.length === 0 && Object.isFrozen(v);
}

/** The branch byte of a non-null ["null", X] value (zigzag 1); returns where X goes. */
function some(buf: Buffer, pos: number): number {
  buf[pos] = 2;
  return pos + 1;
}

/** Copies buf[from, to) to pos (a few bytes written earlier in the same flow). */
function copyWithin(buf: Buffer, pos: number, from: number, to: number): number {
  for (let i = from; i < to; i++) buf[pos++] = buf[i] as number;
  return pos;
}

function emitter(_w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = string(buf, pos, (x = v.name) === undefined ? '' : x);
  return string(buf, pos, (x = v.version) === undefined ? '' : x);
}

function ethernet(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = long(buf, pos, (x = v.source) === undefined ? 0 : x);
  return long(buf, pos, (x = v.destination) === undefined ? 0 : x);
}

function ip(w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = (x = v.source) === undefined ? zeros(buf, pos, 1) : bytes(buf, pos, x);
  pos = (x = v.destination) === undefined ? zeros(buf, pos, 1) : bytes(buf, pos, x);
  if ((x = v.source_xlated) == null) buf[pos++] = 0;
  else pos = bytes(buf, some(buf, pos), x);
  pos = enumeration(buf, pos, w.enums.ipVersion, v.ip_version, 0);
  return boolean(buf, pos, (x = v.encrypted) === undefined ? false : x);
}

function endpoint(_w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = int(buf, pos, (x = v.identity) === undefined ? 0 : x);
  pos = string(buf, pos, (x = v.cluster_name) === undefined ? '' : x);
  pos = string(buf, pos, (x = v.namespace) === undefined ? '' : x);
  pos = string(buf, pos, (x = v.pod_name) === undefined ? '' : x);
  pos = (x = v.labels) === undefined ? zeros(buf, pos, 1) : array(buf, pos, x, string);
  return (x = v.workloads) === undefined ? zeros(buf, pos, 1) : array(buf, pos, x, workload);
}

function workload(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = string(buf, pos, (x = v.name) === undefined ? '' : x);
  return string(buf, pos, (x = v.kind) === undefined ? '' : x);
}

function service(_w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = string(buf, pos, (x = v.name) === undefined ? '' : x);
  return string(buf, pos, (x = v.namespace) === undefined ? '' : x);
}

function networkInterface(_w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = int(buf, pos, (x = v.index) === undefined ? 0 : x);
  return string(buf, pos, (x = v.name) === undefined ? '' : x);
}

function ciliumEventType(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = int(buf, pos, (x = v.type) === undefined ? 0 : x);
  return int(buf, pos, (x = v.sub_type) === undefined ? 0 : x);
}

function layer7(w: FlowWriter, buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = enumeration(buf, pos, w.enums.l7Type, v.type, 0);
  pos = long(buf, pos, (x = v.latency_ns) === undefined ? 0 : x);
  if ((x = v.dns) == null) buf[pos++] = 0;
  else pos = dns(buf, some(buf, pos), x);
  if ((x = v.http) == null) buf[pos++] = 0;
  else pos = http(buf, some(buf, pos), x);
  if ((x = v.kafka) == null) buf[pos++] = 0;
  else pos = kafka(buf, some(buf, pos), x);
  return pos;
}

/** An array field whose default is []. */
function arrayField(buf: Buffer, pos: number, v: unknown, item: (buf: Buffer, pos: number, x: unknown) => number): number {
  return v === undefined ? zeros(buf, pos, 1) : array(buf, pos, v, item);
}

function dns(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = string(buf, pos, (x = v.query) === undefined ? '' : x);
  pos = arrayField(buf, pos, v.ips, bytes);
  pos = long(buf, pos, (x = v.ttl) === undefined ? 0 : x);
  pos = arrayField(buf, pos, v.cnames, string);
  pos = string(buf, pos, (x = v.observation_source) === undefined ? '' : x);
  pos = int(buf, pos, (x = v.rcode) === undefined ? 0 : x);
  pos = arrayField(buf, pos, v.qtypes, string);
  return arrayField(buf, pos, v.rrtypes, string);
}

function http(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = int(buf, pos, (x = v.code) === undefined ? 0 : x);
  pos = string(buf, pos, (x = v.method) === undefined ? '' : x);
  pos = string(buf, pos, (x = v.url) === undefined ? '' : x);
  pos = string(buf, pos, (x = v.protocol) === undefined ? '' : x);
  return arrayField(buf, pos, v.headers, header);
}

function header(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = string(buf, pos, (x = v.key) === undefined ? '' : x);
  return string(buf, pos, (x = v.value) === undefined ? '' : x);
}

function kafka(buf: Buffer, pos: number, v: Loose): number {
  let x: Loose;
  pos = int(buf, pos, (x = v.error_code) === undefined ? 0 : x);
  pos = int(buf, pos, (x = v.api_version) === undefined ? 0 : x);
  pos = string(buf, pos, (x = v.api_key) === undefined ? '' : x);
  pos = int(buf, pos, (x = v.correlation_id) === undefined ? 0 : x);
  pos = string(buf, pos, (x = v.topic) === undefined ? '' : x);
  return string(buf, pos, (x = v.client_id) === undefined ? '' : x);
}
