/**
 * Flow objects to RowBinary rows in FLOW_INSERT_COLUMNS order (common/flow-row.ts). Ingest's general path (records
 * whose writer schema is not the current one go through the codec's schema resolution, then here) and the fast
 * way to load synthetic flows (bench/flowgen.ts). The Avro transcoder writes the same bytes without building a
 * Flow; flow-row-binary.test.ts holds the two to that.
 */
import { IP_VERSIONS, type Endpoint, type Flow } from '../schemas/flow-types.js';
import { l7ProtocolOf } from '../common/flow-row.js';
import { invalidFlow, MAC_MAX, outOfRange, U16, U32, U8, type FlowLimits } from './limits.js';
import { RowBinaryWriter } from './row-binary.js';

function int(field: string, v: number, min: number, max: number): number {
  if (!(v >= min && v <= max)) throw outOfRange(field, v, min, max);
  return v;
}

function str(w: RowBinaryWriter, field: string, s: string, limits: FlowLimits): void {
  // A UTF-8 string is at most 3 bytes per UTF-16 unit: only long strings need their byte length counted.
  if (s.length * 3 > limits.maxStringBytes && Buffer.byteLength(s) > limits.maxStringBytes) {
    throw invalidFlow(`${field} is ${Buffer.byteLength(s)} bytes long, more than the ${limits.maxStringBytes} allowed`);
  }
  w.string(s);
}

function strings(w: RowBinaryWriter, field: string, arr: readonly string[], limits: FlowLimits): void {
  if (arr.length > 0 && Object.isFrozen(arr)) {
    const cache = cacheFor(limits);
    let bytes = cache.get(arr);
    if (!bytes) {
      bytes = encodeApart((s) => writeStrings(s, field, arr, limits));
      cache.set(arr, bytes);
    }
    w.raw(bytes);
    return;
  }
  writeStrings(w, field, arr, limits);
}

function writeStrings(w: RowBinaryWriter, field: string, arr: readonly string[], limits: FlowLimits): void {
  w.varuint(arr.length);
  for (let i = 0; i < arr.length; i++) str(w, field, arr[i] as string, limits);
}

/**
 * Encodings of deep-frozen values (the collector's shared endpoints and label arrays, and the codec's decoded
 * endpoints, which it shares between flows with identical bytes): frozen values cannot change, so their bytes
 * are computed once. Keyed by the string limit, the only limit they are checked against.
 */
const frozenCaches = new Map<number, WeakMap<object, Buffer>>();

function cacheFor(limits: FlowLimits): WeakMap<object, Buffer> {
  let cache = frozenCaches.get(limits.maxStringBytes);
  if (!cache) {
    cache = new WeakMap();
    frozenCaches.set(limits.maxStringBytes, cache);
  }
  return cache;
}

function encodeApart(write: (w: RowBinaryWriter) => void): Buffer {
  // A writer of its own: encodings nest (an endpoint's frozen label array), and this runs once per frozen value.
  const apart = new RowBinaryWriter(1024);
  write(apart);
  return Buffer.from(apart.finish());
}

function ip(w: RowBinaryWriter, field: string, addr: Uint8Array | null): void {
  if (addr && addr.length !== 4 && addr.length !== 16) throw invalidFlow(`${field} has ${addr.length} bytes: an IP address has 4 or 16`);
  w.ipv6(addr);
}

function endpoint(w: RowBinaryWriter, side: string, e: Endpoint, limits: FlowLimits): void {
  if (Object.isFrozen(e)) {
    const cache = cacheFor(limits);
    let bytes = cache.get(e);
    if (!bytes) {
      bytes = encodeApart((s) => writeEndpoint(s, side, e, limits));
      cache.set(e, bytes);
    }
    w.raw(bytes);
    return;
  }
  writeEndpoint(w, side, e, limits);
}

function writeEndpoint(w: RowBinaryWriter, side: string, e: Endpoint, limits: FlowLimits): void {
  w.u32(int(`${side}.identity`, e.identity, 0, U32));
  str(w, `${side}.cluster_name`, e.cluster_name, limits);
  str(w, `${side}.namespace`, e.namespace, limits);
  str(w, `${side}.pod_name`, e.pod_name, limits);
  strings(w, `${side}.labels`, e.labels, limits);
  const ws = e.workloads;
  w.varuint(ws.length);
  for (let i = 0; i < ws.length; i++) str(w, `${side}.workloads.name`, ws[i]!.name, limits);
  w.varuint(ws.length);
  for (let i = 0; i < ws.length; i++) str(w, `${side}.workloads.kind`, ws[i]!.kind, limits);
}

function time(field: string, ns: bigint, limits: FlowLimits | null): bigint {
  if (limits && (ns < limits.minTimeNs || ns > limits.maxTimeNs)) {
    throw invalidFlow(`${field} = ${ns} (${describeNs(ns)}) is outside the accepted window ${describeNs(limits.minTimeNs)} .. ${describeNs(limits.maxTimeNs)}`);
  }
  return ns;
}

export function describeNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ns} ns` : d.toISOString();
}

/**
 * Appends one row. Throws LookbackError('invalid_argument') naming the field when a value does not fit; the
 * writer then holds a partial row, so callers remember `w.pos` first and rewind on error.
 */
export function writeFlowRow(w: RowBinaryWriter, f: Flow, limits: FlowLimits): void {
  w.i64big(time('time_ns', f.time_ns, limits));
  if (f.uuid.length !== 16) throw invalidFlow(`uuid has ${f.uuid.length} bytes, not 16`);
  w.uuid(f.uuid);
  str(w, 'emitter.name', f.emitter.name, limits);
  str(w, 'emitter.version', f.emitter.version, limits);
  str(w, 'node_name', f.node_name, limits);
  strings(w, 'node_labels', f.node_labels, limits);
  str(w, 'cluster_name', f.cluster_name, limits);
  w.string(f.flow_type);
  w.string(f.verdict);
  w.string(f.drop_reason_desc ?? '');
  str(w, 'drop_reason_kernel', f.drop_reason_kernel ?? '', limits);
  w.string(f.flow_event);
  const eth = f.ethernet;
  w.u64(eth ? int('ethernet.source', eth.source, 0, MAC_MAX) : 0);
  w.u64(eth ? int('ethernet.destination', eth.destination, 0, MAC_MAX) : 0);
  const a = f.ip;
  ip(w, 'ip.source', a ? a.source : null);
  ip(w, 'ip.destination', a ? a.destination : null);
  ip(w, 'ip.source_xlated', a ? a.source_xlated : null);
  w.u8(a ? IP_VERSIONS.indexOf(a.ip_version) : 0);
  w.u8(a && a.encrypted ? 1 : 0);
  w.u8(int('l4_protocol', f.l4_protocol, 0, U8));
  w.u16(int('source_port', f.source_port, 0, U16));
  w.u16(int('destination_port', f.destination_port, 0, U16));
  w.u16(int('tcp_flags', f.tcp_flags, 0, U16));
  w.u8(int('icmp_type', f.icmp_type, 0, U8));
  w.u8(int('icmp_code', f.icmp_code, 0, U8));
  endpoint(w, 'source', f.source, limits);
  endpoint(w, 'destination', f.destination, limits);
  str(w, 'source_service.name', f.source_service?.name ?? '', limits);
  str(w, 'source_service.namespace', f.source_service?.namespace ?? '', limits);
  str(w, 'destination_service.name', f.destination_service?.name ?? '', limits);
  str(w, 'destination_service.namespace', f.destination_service?.namespace ?? '', limits);
  strings(w, 'source_names', f.source_names, limits);
  strings(w, 'destination_names', f.destination_names, limits);
  const l7 = f.l7;
  w.string(l7 ? l7.type : '');
  w.u64(l7 ? int('l7.latency_ns', l7.latency_ns, 0, Number.MAX_SAFE_INTEGER) : 0);
  const dns = l7 ? l7.dns : null;
  if (dns) {
    str(w, 'l7.dns.query', dns.query, limits);
    w.varuint(dns.ips.length);
    for (let i = 0; i < dns.ips.length; i++) ip(w, 'l7.dns.ips', dns.ips[i] as Buffer);
    w.u32(int('l7.dns.ttl', dns.ttl, 0, U32));
    strings(w, 'l7.dns.cnames', dns.cnames, limits);
    str(w, 'l7.dns.observation_source', dns.observation_source, limits);
    w.u16(int('l7.dns.rcode', dns.rcode, 0, U16));
    strings(w, 'l7.dns.qtypes', dns.qtypes, limits);
    strings(w, 'l7.dns.rrtypes', dns.rrtypes, limits);
  } else {
    w.raw(DNS_DEFAULTS);
  }
  const http = l7 ? l7.http : null;
  if (http) {
    w.u16(int('l7.http.code', http.code, 0, U16));
    str(w, 'l7.http.method', http.method, limits);
    str(w, 'l7.http.url', http.url, limits);
    str(w, 'l7.http.protocol', http.protocol, limits);
    w.varuint(http.headers.length);
    for (let i = 0; i < http.headers.length; i++) {
      str(w, 'l7.http.headers.key', http.headers[i]!.key, limits);
      str(w, 'l7.http.headers.value', http.headers[i]!.value, limits);
    }
  } else {
    w.raw(HTTP_DEFAULTS);
  }
  const kafka = l7 ? l7.kafka : null;
  if (kafka) {
    w.u16(int('l7.kafka.error_code', kafka.error_code, -32768, 32767) & 0xffff);
    w.u16(int('l7.kafka.api_version', kafka.api_version, -32768, 32767) & 0xffff);
    str(w, 'l7.kafka.api_key', kafka.api_key, limits);
    w.i32(kafka.correlation_id);
    str(w, 'l7.kafka.topic', kafka.topic, limits);
    str(w, 'l7.kafka.client_id', kafka.client_id, limits);
  } else {
    w.raw(KAFKA_DEFAULTS);
  }
  w.string(l7ProtocolOf(f));
  w.string(f.traffic_direction);
  if (f.is_reply === null) {
    w.u8(1);
  } else {
    w.u8(0);
    w.u8(f.is_reply ? 1 : 0);
  }
  w.string(f.trace_observation_point);
  w.string(f.trace_reason);
  const itf = f.interface;
  w.u32(itf ? int('interface.index', itf.index, 0, U32) : 0);
  str(w, 'interface.name', itf ? itf.name : '', limits);
  w.u8(int('event_type.type', f.event_type.type, 0, U8));
  w.u16(int('event_type.sub_type', f.event_type.sub_type, 0, U16));
  str(w, 'summary', f.summary, limits);
  w.i64big(time('first_seen_ns', f.first_seen_ns, null));
  w.i64big(time('last_seen_ns', f.last_seen_ns, null));
  w.u64(int('bytes_fwd', f.bytes_fwd, 0, Number.MAX_SAFE_INTEGER));
  w.u64(int('packets_fwd', f.packets_fwd, 0, Number.MAX_SAFE_INTEGER));
  w.u64(int('bytes_rev', f.bytes_rev, 0, Number.MAX_SAFE_INTEGER));
  w.u64(int('packets_rev', f.packets_rev, 0, Number.MAX_SAFE_INTEGER));
  w.u32(int('sampling_rate', f.sampling_rate, 0, U32));
  w.u64(f.socket_cookie === null ? 0 : int('socket_cookie', f.socket_cookie, 0, Number.MAX_SAFE_INTEGER));
  w.u64(f.cgroup_id === null ? 0 : int('cgroup_id', f.cgroup_id, 0, Number.MAX_SAFE_INTEGER));
  w.u32(f.tcp_srtt_us === null ? 0 : int('tcp_srtt_us', f.tcp_srtt_us, 0, U32));
}

/** Column defaults of an absent l7.dns: query '', ips [], ttl 0, cnames [], source '', rcode 0, qtypes [], rrtypes []. */
export const DNS_DEFAULTS = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
/** Absent l7.http: code 0, method '', url '', protocol '', headers {}. */
export const HTTP_DEFAULTS = Buffer.from([0, 0, 0, 0, 0, 0]);
/** Absent l7.kafka: error_code 0, api_version 0, api_key '', correlation_id 0, topic '', client_id ''. */
export const KAFKA_DEFAULTS = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** Encodes many flows into one RowBinary body, skipping none (throws on the first invalid one). */
export function encodeFlowsRowBinary(w: RowBinaryWriter, flows: Iterable<Flow>, limits: FlowLimits): number {
  let n = 0;
  for (const f of flows) {
    writeFlowRow(w, f, limits);
    n++;
  }
  return n;
}
