/**
 * The mapping between a decoded `Flow` (schemas/flow-types.ts) and a row of the ClickHouse `flows` table
 * (schemas/clickhouse/0001_flows.sql + 0002), in both directions:
 * - `flowToRow(flow)`: the row as ClickHouse's JSON input formats read it (JSONEachRow), for tests and small tools.
 *   Ingest itself writes RowBinary (ingest/flow-row-binary.ts), in `FLOW_INSERT_COLUMNS` order.
 * - `rowToFlow(row)`: a row read back with `SELECT ${FLOW_SELECT} FROM flows ... FORMAT JSONEachRow` (the query
 *   API's hot path; also accepts ClickHouse's default JSON output of the plain columns).
 *
 * What a row cannot tell apart, and how it is read back (the table stores absent values as '' / 0 / '::'):
 * - `ethernet` null <-> both MACs 0; `ip` null <-> ip_version 0 (IP_NOT_USED); `source_xlated` null <-> '::';
 *   `interface` null <-> index 0 and name ''; a service null <-> name and namespace ''; `drop_reason_desc` and
 *   `drop_reason_kernel` null <-> ''; `socket_cookie`, `cgroup_id`, `tcp_srtt_us` null <-> 0; `l7` null <->
 *   l7_protocol '' (the column 0002 adds, so that a DNS, HTTP or Kafka record is known without guessing).
 * - IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) and come back as 4 bytes.
 * - HTTP headers are a Map column: order and repeated keys survive in the table, but a JSON object keeps only the
 *   last value of a repeated key.
 */
import type {
  DropReason, Endpoint, Flow, FlowEvent, FlowType, IPVersion, L7FlowType, TraceObservationPoint, TraceReason,
  TrafficDirection, Verdict,
} from '../schemas/flow-types.js';
import { IP_VERSIONS } from '../schemas/flow-types.js';

/** One column of the insert: name and ClickHouse type (the raw table's type). */
export interface FlowColumn {
  name: string;
  type: string;
}

/**
 * The columns ingest writes, in the order it writes them: the order of the Avro record's fields (so that a
 * transcoder can copy a record front to back), which is not the table's order. `l7_protocol` is derived.
 */
export const FLOW_INSERT_COLUMNS: readonly FlowColumn[] = [
  { name: 'time', type: "DateTime64(9, 'UTC')" },
  { name: 'uuid', type: 'UUID' },
  { name: 'emitter_name', type: 'LowCardinality(String)' },
  { name: 'emitter_version', type: 'LowCardinality(String)' },
  { name: 'node_name', type: 'LowCardinality(String)' },
  { name: 'node_labels', type: 'Array(LowCardinality(String))' },
  { name: 'cluster_name', type: 'LowCardinality(String)' },
  { name: 'flow_type', type: 'LowCardinality(String)' },
  { name: 'verdict', type: 'LowCardinality(String)' },
  { name: 'drop_reason_desc', type: 'LowCardinality(String)' },
  { name: 'drop_reason_kernel', type: 'LowCardinality(String)' },
  { name: 'flow_event', type: 'LowCardinality(String)' },
  { name: 'ethernet_source', type: 'UInt64' },
  { name: 'ethernet_destination', type: 'UInt64' },
  { name: 'ip_source', type: 'IPv6' },
  { name: 'ip_destination', type: 'IPv6' },
  { name: 'ip_source_xlated', type: 'IPv6' },
  { name: 'ip_version', type: 'UInt8' },
  { name: 'ip_encrypted', type: 'Bool' },
  { name: 'l4_protocol', type: 'UInt8' },
  { name: 'source_port', type: 'UInt16' },
  { name: 'destination_port', type: 'UInt16' },
  { name: 'tcp_flags', type: 'UInt16' },
  { name: 'icmp_type', type: 'UInt8' },
  { name: 'icmp_code', type: 'UInt8' },
  ...endpointColumns('source'),
  ...endpointColumns('destination'),
  { name: 'source_service_name', type: 'LowCardinality(String)' },
  { name: 'source_service_namespace', type: 'LowCardinality(String)' },
  { name: 'destination_service_name', type: 'LowCardinality(String)' },
  { name: 'destination_service_namespace', type: 'LowCardinality(String)' },
  { name: 'source_names', type: 'Array(LowCardinality(String))' },
  { name: 'destination_names', type: 'Array(LowCardinality(String))' },
  { name: 'l7_type', type: 'LowCardinality(String)' },
  { name: 'l7_latency_ns', type: 'UInt64' },
  { name: 'dns_query', type: 'LowCardinality(String)' },
  { name: 'dns_ips', type: 'Array(IPv6)' },
  { name: 'dns_ttl', type: 'UInt32' },
  { name: 'dns_cnames', type: 'Array(LowCardinality(String))' },
  { name: 'dns_observation_source', type: 'LowCardinality(String)' },
  { name: 'dns_rcode', type: 'UInt16' },
  { name: 'dns_qtypes', type: 'Array(LowCardinality(String))' },
  { name: 'dns_rrtypes', type: 'Array(LowCardinality(String))' },
  { name: 'http_code', type: 'UInt16' },
  { name: 'http_method', type: 'LowCardinality(String)' },
  { name: 'http_url', type: 'String' },
  { name: 'http_protocol', type: 'LowCardinality(String)' },
  { name: 'http_headers', type: 'Map(LowCardinality(String), String)' },
  { name: 'kafka_error_code', type: 'Int16' },
  { name: 'kafka_api_version', type: 'Int16' },
  { name: 'kafka_api_key', type: 'LowCardinality(String)' },
  { name: 'kafka_correlation_id', type: 'Int32' },
  { name: 'kafka_topic', type: 'LowCardinality(String)' },
  { name: 'kafka_client_id', type: 'LowCardinality(String)' },
  { name: 'l7_protocol', type: 'LowCardinality(String)' },
  { name: 'traffic_direction', type: 'LowCardinality(String)' },
  { name: 'is_reply', type: 'Nullable(Bool)' },
  { name: 'trace_observation_point', type: 'LowCardinality(String)' },
  { name: 'trace_reason', type: 'LowCardinality(String)' },
  { name: 'interface_index', type: 'UInt32' },
  { name: 'interface_name', type: 'LowCardinality(String)' },
  { name: 'event_type', type: 'UInt8' },
  { name: 'event_sub_type', type: 'UInt16' },
  { name: 'summary', type: 'LowCardinality(String)' },
  { name: 'first_seen', type: "DateTime64(9, 'UTC')" },
  { name: 'last_seen', type: "DateTime64(9, 'UTC')" },
  { name: 'bytes_fwd', type: 'UInt64' },
  { name: 'packets_fwd', type: 'UInt64' },
  { name: 'bytes_rev', type: 'UInt64' },
  { name: 'packets_rev', type: 'UInt64' },
  { name: 'sampling_rate', type: 'UInt32' },
  { name: 'socket_cookie', type: 'UInt64' },
  { name: 'cgroup_id', type: 'UInt64' },
  { name: 'tcp_srtt_us', type: 'UInt32' },
];

function endpointColumns(side: 'source' | 'destination'): FlowColumn[] {
  return [
    { name: `${side}_identity`, type: 'UInt32' },
    { name: `${side}_cluster`, type: 'LowCardinality(String)' },
    { name: `${side}_namespace`, type: 'LowCardinality(String)' },
    { name: `${side}_pod`, type: 'LowCardinality(String)' },
    { name: `${side}_labels`, type: 'Array(LowCardinality(String))' },
    { name: `${side}_workload_names`, type: 'Array(LowCardinality(String))' },
    { name: `${side}_workload_kinds`, type: 'Array(LowCardinality(String))' },
  ];
}

/** The column list of an INSERT in FLOW_INSERT_COLUMNS order: `(time, uuid, ...)`. */
export const FLOW_INSERT_COLUMN_LIST = `(${FLOW_INSERT_COLUMNS.map((c) => c.name).join(', ')})`;

/**
 * What to SELECT for `rowToFlow`: every column, with the three times as exact nanosecond integers (a DateTime64
 * string would need parsing, and JSON numbers lose nanoseconds) and 64-bit counters as strings (ClickHouse's
 * JSON default). Use it as `SELECT ${FLOW_SELECT} FROM flows WHERE ...`.
 */
export const FLOW_SELECT = FLOW_INSERT_COLUMNS.map((c) =>
  c.type.startsWith('DateTime64') ? `toString(toUnixTimestamp64Nano(${c.name})) AS ${c.name}` : c.name,
).join(', ');

/** L7 record kinds as stored in l7_protocol. */
export type L7Protocol = '' | 'dns' | 'http' | 'kafka';

/**
 * A flows row as ClickHouse's JSON formats write it (JSONEachRow). On input ClickHouse also accepts numbers for
 * the UInt64 columns; on output they are strings (output_format_json_quote_64bit_integers, the default), and the
 * times are nanosecond strings when read with FLOW_SELECT or 'YYYY-MM-DD hh:mm:ss.nnnnnnnnn' otherwise.
 */
export interface FlowRow {
  time: string;
  uuid: string;
  emitter_name: string;
  emitter_version: string;
  node_name: string;
  node_labels: string[];
  cluster_name: string;
  flow_type: string;
  verdict: string;
  drop_reason_desc: string;
  drop_reason_kernel: string;
  flow_event: string;
  ethernet_source: number | string;
  ethernet_destination: number | string;
  ip_source: string;
  ip_destination: string;
  ip_source_xlated: string;
  ip_version: number;
  ip_encrypted: boolean;
  l4_protocol: number;
  source_port: number;
  destination_port: number;
  tcp_flags: number;
  icmp_type: number;
  icmp_code: number;
  source_identity: number;
  source_cluster: string;
  source_namespace: string;
  source_pod: string;
  source_labels: string[];
  source_workload_names: string[];
  source_workload_kinds: string[];
  destination_identity: number;
  destination_cluster: string;
  destination_namespace: string;
  destination_pod: string;
  destination_labels: string[];
  destination_workload_names: string[];
  destination_workload_kinds: string[];
  source_service_name: string;
  source_service_namespace: string;
  destination_service_name: string;
  destination_service_namespace: string;
  source_names: string[];
  destination_names: string[];
  l7_type: string;
  l7_latency_ns: number | string;
  dns_query: string;
  dns_ips: string[];
  dns_ttl: number;
  dns_cnames: string[];
  dns_observation_source: string;
  dns_rcode: number;
  dns_qtypes: string[];
  dns_rrtypes: string[];
  http_code: number;
  http_method: string;
  http_url: string;
  http_protocol: string;
  http_headers: Record<string, string>;
  kafka_error_code: number;
  kafka_api_version: number;
  kafka_api_key: string;
  kafka_correlation_id: number;
  kafka_topic: string;
  kafka_client_id: string;
  l7_protocol: L7Protocol;
  traffic_direction: string;
  is_reply: boolean | null;
  trace_observation_point: string;
  trace_reason: string;
  interface_index: number;
  interface_name: string;
  event_type: number;
  event_sub_type: number;
  summary: string;
  first_seen: string;
  last_seen: string;
  bytes_fwd: number | string;
  packets_fwd: number | string;
  bytes_rev: number | string;
  packets_rev: number | string;
  sampling_rate: number;
  socket_cookie: number | string;
  cgroup_id: number | string;
  tcp_srtt_us: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Flow -> row

/** Nanoseconds since the epoch as ClickHouse's DateTime64(9) text, 'YYYY-MM-DD hh:mm:ss.nnnnnnnnn' (UTC). */
export function formatDateTime64(ns: bigint): string {
  let secs = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  if (frac < 0n) {
    frac += 1_000_000_000n;
    secs -= 1n;
  }
  const iso = new Date(Number(secs) * 1000).toISOString(); // 'YYYY-MM-DDThh:mm:ss.000Z'
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac.toString().padStart(9, '0')}`;
}

/** An address of 4 or 16 bytes as ClickHouse's IPv6 text (IPv4 as ::ffff:a.b.c.d). */
export function formatIPv6(addr: Uint8Array | null): string {
  if (!addr || addr.length === 0) return '::';
  if (addr.length === 4) return `::ffff:${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (addr.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${addr.length}`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((addr[i] as number) << 8) | (addr[i + 1] as number)).toString(16));
  // ClickHouse parses any valid form; the uncompressed one is enough (and exact).
  return groups.join(':');
}

function uuidText(u: Uint8Array): string {
  const h = Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function l7ProtocolOf(flow: Flow): L7Protocol {
  const l7 = flow.l7;
  if (!l7) return '';
  return l7.dns ? 'dns' : l7.http ? 'http' : l7.kafka ? 'kafka' : '';
}

export function flowToRow(flow: Flow): FlowRow {
  const l7 = flow.l7;
  const dns = l7?.dns ?? null;
  const http = l7?.http ?? null;
  const kafka = l7?.kafka ?? null;
  const headers: Record<string, string> = {};
  if (http) for (const h of http.headers) headers[h.key] = h.value;
  const s = flow.source;
  const d = flow.destination;
  return {
    time: formatDateTime64(flow.time_ns),
    uuid: uuidText(flow.uuid),
    emitter_name: flow.emitter.name,
    emitter_version: flow.emitter.version,
    node_name: flow.node_name,
    node_labels: flow.node_labels,
    cluster_name: flow.cluster_name,
    flow_type: flow.flow_type,
    verdict: flow.verdict,
    drop_reason_desc: flow.drop_reason_desc ?? '',
    drop_reason_kernel: flow.drop_reason_kernel ?? '',
    flow_event: flow.flow_event,
    ethernet_source: flow.ethernet?.source ?? 0,
    ethernet_destination: flow.ethernet?.destination ?? 0,
    ip_source: formatIPv6(flow.ip?.source ?? null),
    ip_destination: formatIPv6(flow.ip?.destination ?? null),
    ip_source_xlated: formatIPv6(flow.ip?.source_xlated ?? null),
    ip_version: flow.ip ? IP_VERSIONS.indexOf(flow.ip.ip_version) : 0,
    ip_encrypted: flow.ip?.encrypted ?? false,
    l4_protocol: flow.l4_protocol,
    source_port: flow.source_port,
    destination_port: flow.destination_port,
    tcp_flags: flow.tcp_flags,
    icmp_type: flow.icmp_type,
    icmp_code: flow.icmp_code,
    source_identity: s.identity,
    source_cluster: s.cluster_name,
    source_namespace: s.namespace,
    source_pod: s.pod_name,
    source_labels: s.labels,
    source_workload_names: s.workloads.map((w) => w.name),
    source_workload_kinds: s.workloads.map((w) => w.kind),
    destination_identity: d.identity,
    destination_cluster: d.cluster_name,
    destination_namespace: d.namespace,
    destination_pod: d.pod_name,
    destination_labels: d.labels,
    destination_workload_names: d.workloads.map((w) => w.name),
    destination_workload_kinds: d.workloads.map((w) => w.kind),
    source_service_name: flow.source_service?.name ?? '',
    source_service_namespace: flow.source_service?.namespace ?? '',
    destination_service_name: flow.destination_service?.name ?? '',
    destination_service_namespace: flow.destination_service?.namespace ?? '',
    source_names: flow.source_names,
    destination_names: flow.destination_names,
    l7_type: l7 ? l7.type : '',
    l7_latency_ns: l7?.latency_ns ?? 0,
    dns_query: dns?.query ?? '',
    dns_ips: dns ? dns.ips.map((ip) => formatIPv6(ip)) : [],
    dns_ttl: dns?.ttl ?? 0,
    dns_cnames: dns?.cnames ?? [],
    dns_observation_source: dns?.observation_source ?? '',
    dns_rcode: dns?.rcode ?? 0,
    dns_qtypes: dns?.qtypes ?? [],
    dns_rrtypes: dns?.rrtypes ?? [],
    http_code: http?.code ?? 0,
    http_method: http?.method ?? '',
    http_url: http?.url ?? '',
    http_protocol: http?.protocol ?? '',
    http_headers: headers,
    kafka_error_code: kafka?.error_code ?? 0,
    kafka_api_version: kafka?.api_version ?? 0,
    kafka_api_key: kafka?.api_key ?? '',
    kafka_correlation_id: kafka?.correlation_id ?? 0,
    kafka_topic: kafka?.topic ?? '',
    kafka_client_id: kafka?.client_id ?? '',
    l7_protocol: l7ProtocolOf(flow),
    traffic_direction: flow.traffic_direction,
    is_reply: flow.is_reply,
    trace_observation_point: flow.trace_observation_point,
    trace_reason: flow.trace_reason,
    interface_index: flow.interface?.index ?? 0,
    interface_name: flow.interface?.name ?? '',
    event_type: flow.event_type.type,
    event_sub_type: flow.event_type.sub_type,
    summary: flow.summary,
    first_seen: formatDateTime64(flow.first_seen_ns),
    last_seen: formatDateTime64(flow.last_seen_ns),
    bytes_fwd: flow.bytes_fwd,
    packets_fwd: flow.packets_fwd,
    bytes_rev: flow.bytes_rev,
    packets_rev: flow.packets_rev,
    sampling_rate: flow.sampling_rate,
    socket_cookie: flow.socket_cookie ?? 0,
    cgroup_id: flow.cgroup_id ?? 0,
    tcp_srtt_us: flow.tcp_srtt_us ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// row -> Flow

const SECOND_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/** A DateTime64 value read back: a nanosecond integer string (FLOW_SELECT) or ClickHouse's text form (UTC). */
export function parseDateTime64(text: string | number): bigint {
  if (typeof text === 'number') return BigInt(text);
  const first = text.charCodeAt(0);
  if ((first >= 48 && first <= 57 && text.length > 0 && !text.includes(' ')) || first === 45) return BigInt(text);
  const m = SECOND_RE.exec(text);
  if (!m) throw new RangeError(`not a DateTime64 value: ${JSON.stringify(text)}`);
  const secs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
  const frac = m[7] ? BigInt(m[7].padEnd(9, '0')) : 0n;
  return BigInt(secs) * 1_000_000_000n + frac;
}

/**
 * ClickHouse's IPv6 text to Flow bytes: IPv4-mapped addresses become 4 bytes, '::' becomes null (absent).
 * Accepts any textual IPv6 form, and plain dotted IPv4.
 */
export function parseIP(text: string): Buffer | null {
  if (text === '::' || text === '') return null;
  if (text.startsWith('::ffff:') && text.indexOf('.') > 0) return parseIPv4(text.slice(7));
  if (text.indexOf(':') < 0) return parseIPv4(text);
  const out = Buffer.alloc(16);
  const dbl = text.indexOf('::');
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const tail = dbl >= 0 ? text.slice(dbl + 2) : '';
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  // An embedded dotted IPv4 at the end counts as two groups.
  const expand = (parts: string[]): number[] => {
    const words: number[] = [];
    for (const p of parts) {
      if (p.includes('.')) {
        const v4 = parseIPv4(p);
        words.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        words.push(Number.parseInt(p, 16));
      }
    }
    return words;
  };
  const hw = expand(hs);
  const tw = expand(ts);
  const words = [...hw, ...new Array<number>(8 - hw.length - tw.length).fill(0), ...tw];
  if (words.length !== 8 || words.some((w) => !(w >= 0 && w <= 0xffff))) throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i] as number, i * 2);
  return out;
}

function parseIPv4(text: string): Buffer {
  const parts = text.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  return Buffer.from(parts.map((p) => Number(p)));
}

function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

function endpoint(identity: number, cluster: string, namespace: string, pod: string, labels: string[], names: string[], kinds: string[]): Endpoint {
  const workloads = new Array<{ name: string; kind: string }>(names.length);
  for (let i = 0; i < names.length; i++) workloads[i] = { name: names[i] as string, kind: kinds[i] ?? '' };
  return { identity, cluster_name: cluster, namespace, pod_name: pod, labels, workloads };
}

export function rowToFlow(row: FlowRow): Flow {
  const ipVersion = row.ip_version;
  const l7p = row.l7_protocol;
  let l7: Flow['l7'] = null;
  if (l7p) {
    l7 = { type: row.l7_type as L7FlowType, latency_ns: num(row.l7_latency_ns), dns: null, http: null, kafka: null };
    if (l7p === 'dns') {
      const ips: Buffer[] = new Array<Buffer>(row.dns_ips.length);
      for (let i = 0; i < ips.length; i++) ips[i] = parseIP(row.dns_ips[i] as string) ?? Buffer.alloc(16);
      l7.dns = {
        query: row.dns_query, ips, ttl: row.dns_ttl, cnames: row.dns_cnames, observation_source: row.dns_observation_source,
        rcode: row.dns_rcode, qtypes: row.dns_qtypes, rrtypes: row.dns_rrtypes,
      };
    } else if (l7p === 'http') {
      const headers = Object.entries(row.http_headers).map(([key, value]) => ({ key, value }));
      l7.http = { code: row.http_code, method: row.http_method, url: row.http_url, protocol: row.http_protocol, headers };
    } else if (l7p === 'kafka') {
      l7.kafka = {
        error_code: row.kafka_error_code, api_version: row.kafka_api_version, api_key: row.kafka_api_key,
        correlation_id: row.kafka_correlation_id, topic: row.kafka_topic, client_id: row.kafka_client_id,
      };
    }
  }
  const ethSrc = num(row.ethernet_source);
  const ethDst = num(row.ethernet_destination);
  const cookie = num(row.socket_cookie);
  const cgroup = num(row.cgroup_id);
  return {
    time_ns: parseDateTime64(row.time),
    uuid: Buffer.from(row.uuid.replace(/-/g, ''), 'hex'),
    emitter: { name: row.emitter_name, version: row.emitter_version },
    node_name: row.node_name,
    node_labels: row.node_labels,
    cluster_name: row.cluster_name,
    flow_type: row.flow_type as FlowType,
    verdict: row.verdict as Verdict,
    drop_reason_desc: row.drop_reason_desc ? (row.drop_reason_desc as DropReason) : null,
    drop_reason_kernel: row.drop_reason_kernel || null,
    flow_event: row.flow_event as FlowEvent,
    ethernet: ethSrc === 0 && ethDst === 0 ? null : { source: ethSrc, destination: ethDst },
    ip: ipVersion === 0 ? null : {
      source: parseIP(row.ip_source) ?? Buffer.alloc(ipVersion === 1 ? 4 : 16),
      destination: parseIP(row.ip_destination) ?? Buffer.alloc(ipVersion === 1 ? 4 : 16),
      source_xlated: parseIP(row.ip_source_xlated),
      ip_version: (IP_VERSIONS[ipVersion] ?? 'IP_NOT_USED') as IPVersion,
      encrypted: row.ip_encrypted,
    },
    l4_protocol: row.l4_protocol,
    source_port: row.source_port,
    destination_port: row.destination_port,
    tcp_flags: row.tcp_flags,
    icmp_type: row.icmp_type,
    icmp_code: row.icmp_code,
    source: endpoint(row.source_identity, row.source_cluster, row.source_namespace, row.source_pod, row.source_labels, row.source_workload_names, row.source_workload_kinds),
    destination: endpoint(row.destination_identity, row.destination_cluster, row.destination_namespace, row.destination_pod, row.destination_labels, row.destination_workload_names, row.destination_workload_kinds),
    source_service: row.source_service_name || row.source_service_namespace ? { name: row.source_service_name, namespace: row.source_service_namespace } : null,
    destination_service: row.destination_service_name || row.destination_service_namespace ? { name: row.destination_service_name, namespace: row.destination_service_namespace } : null,
    source_names: row.source_names,
    destination_names: row.destination_names,
    l7,
    traffic_direction: row.traffic_direction as TrafficDirection,
    is_reply: row.is_reply,
    trace_observation_point: row.trace_observation_point as TraceObservationPoint,
    trace_reason: row.trace_reason as TraceReason,
    interface: row.interface_index === 0 && row.interface_name === '' ? null : { index: row.interface_index, name: row.interface_name },
    event_type: { type: row.event_type, sub_type: row.event_sub_type },
    summary: row.summary,
    first_seen_ns: parseDateTime64(row.first_seen),
    last_seen_ns: parseDateTime64(row.last_seen),
    bytes_fwd: num(row.bytes_fwd),
    packets_fwd: num(row.packets_fwd),
    bytes_rev: num(row.bytes_rev),
    packets_rev: num(row.packets_rev),
    sampling_rate: row.sampling_rate,
    socket_cookie: cookie === 0 ? null : cookie,
    cgroup_id: cgroup === 0 ? null : cgroup,
    tcp_srtt_us: row.tcp_srtt_us === 0 ? null : row.tcp_srtt_us,
  };
}
