/**
 * The TypeScript shape of one flow record, exactly as schemas/flow.avsc describes it and as the Avro codec
 * encodes and decodes it. Field meanings are in the schema's `doc` strings; this file only adds the tables that
 * Avro cannot carry (Hubble's enum numbers where they are not the symbol index, TCP flag bits, protocol numbers).
 * avro-codec.test.ts checks that every table here matches the schema.
 */

export const FLOW_TYPES = ['UNKNOWN_TYPE', 'L3_L4', 'L7', 'SOCK'] as const;
export type FlowType = (typeof FLOW_TYPES)[number];

export const VERDICTS = ['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const IP_VERSIONS = ['IP_NOT_USED', 'IPv4', 'IPv6'] as const;
export type IPVersion = (typeof IP_VERSIONS)[number];

export const TRAFFIC_DIRECTIONS = ['TRAFFIC_DIRECTION_UNKNOWN', 'INGRESS', 'EGRESS'] as const;
export type TrafficDirection = (typeof TRAFFIC_DIRECTIONS)[number];

export const L7_FLOW_TYPES = ['UNKNOWN_L7_TYPE', 'REQUEST', 'RESPONSE', 'SAMPLE'] as const;
export type L7FlowType = (typeof L7_FLOW_TYPES)[number];

export const TRACE_REASONS = [
  'TRACE_REASON_UNKNOWN', 'NEW', 'ESTABLISHED', 'REPLY', 'RELATED', 'REOPENED', 'SRV6_ENCAP', 'SRV6_DECAP', 'ENCRYPT_OVERLAY',
] as const;
export type TraceReason = (typeof TRACE_REASONS)[number];

export const FLOW_EVENTS = ['FLOW_EVENT_UNKNOWN', 'NEW', 'ESTABLISHED', 'UPDATE', 'CLOSED', 'RESET', 'EXPIRED'] as const;
export type FlowEvent = (typeof FLOW_EVENTS)[number];

/** Hubble's TraceObservationPoint numbers. The Avro symbol order is the number order, TO_ENDPOINT (101) last. */
export const TRACE_OBSERVATION_POINTS = {
  UNKNOWN_POINT: 0, TO_PROXY: 1, TO_HOST: 2, TO_STACK: 3, TO_OVERLAY: 4, FROM_ENDPOINT: 5, FROM_PROXY: 6, FROM_HOST: 7,
  FROM_STACK: 8, FROM_OVERLAY: 9, FROM_NETWORK: 10, TO_NETWORK: 11, FROM_CRYPTO: 12, TO_CRYPTO: 13, TO_ENDPOINT: 101,
} as const;
export type TraceObservationPoint = keyof typeof TRACE_OBSERVATION_POINTS;

/** Hubble's DropReason codes (Cilium's drop codes). In Avro the symbol index is NOT the code: use this table. */
export const DROP_REASON_CODES = {
  DROP_REASON_UNKNOWN: 0, INVALID_SOURCE_MAC: 130, INVALID_DESTINATION_MAC: 131, INVALID_SOURCE_IP: 132,
  POLICY_DENIED: 133, INVALID_PACKET_DROPPED: 134, CT_TRUNCATED_OR_INVALID_HEADER: 135, CT_MISSING_TCP_ACK_FLAG: 136,
  CT_UNKNOWN_L4_PROTOCOL: 137, CT_CANNOT_CREATE_ENTRY_FROM_PACKET: 138, UNSUPPORTED_L3_PROTOCOL: 139, MISSED_TAIL_CALL: 140,
  ERROR_WRITING_TO_PACKET: 141, UNKNOWN_L4_PROTOCOL: 142, UNKNOWN_ICMPV4_CODE: 143, UNKNOWN_ICMPV4_TYPE: 144,
  UNKNOWN_ICMPV6_CODE: 145, UNKNOWN_ICMPV6_TYPE: 146, ERROR_RETRIEVING_TUNNEL_KEY: 147, ERROR_RETRIEVING_TUNNEL_OPTIONS: 148,
  INVALID_GENEVE_OPTION: 149, UNKNOWN_L3_TARGET_ADDRESS: 150, STALE_OR_UNROUTABLE_IP: 151,
  NO_MATCHING_LOCAL_CONTAINER_FOUND: 152, ERROR_WHILE_CORRECTING_L3_CHECKSUM: 153, ERROR_WHILE_CORRECTING_L4_CHECKSUM: 154,
  CT_MAP_INSERTION_FAILED: 155, INVALID_IPV6_EXTENSION_HEADER: 156, IP_FRAGMENTATION_NOT_SUPPORTED: 157,
  SERVICE_BACKEND_NOT_FOUND: 158, NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT: 160, FAILED_TO_INSERT_INTO_PROXYMAP: 161,
  REACHED_EDT_RATE_LIMITING_DROP_HORIZON: 162, UNKNOWN_CONNECTION_TRACKING_STATE: 163, LOCAL_HOST_IS_UNREACHABLE: 164,
  NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION: 165, UNSUPPORTED_L2_PROTOCOL: 166,
  NO_MAPPING_FOR_NAT_MASQUERADE: 167, UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE: 168, FIB_LOOKUP_FAILED: 169,
  ENCAPSULATION_TRAFFIC_IS_PROHIBITED: 170, INVALID_IDENTITY: 171, UNKNOWN_SENDER: 172, NAT_NOT_NEEDED: 173,
  IS_A_CLUSTERIP: 174, FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND: 175, FORBIDDEN_ICMPV6_MESSAGE: 176,
  DENIED_BY_LB_SRC_RANGE_CHECK: 177, SOCKET_LOOKUP_FAILED: 178, SOCKET_ASSIGN_FAILED: 179,
  PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL: 180, POLICY_DENY: 181, VLAN_FILTERED: 182, INVALID_VNI: 183,
  INVALID_TC_BUFFER: 184, NO_SID: 185, MISSING_SRV6_STATE: 186, NAT46: 187, NAT64: 188, AUTH_REQUIRED: 189,
  CT_NO_MAP_FOUND: 190, SNAT_NO_MAP_FOUND: 191, INVALID_CLUSTER_ID: 192, UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP: 193,
  NO_EGRESS_GATEWAY: 194, UNENCRYPTED_TRAFFIC: 195, TTL_EXCEEDED: 196, NO_NODE_ID: 197, DROP_RATE_LIMITED: 198,
  IGMP_HANDLED: 199, IGMP_SUBSCRIBED: 200, MULTICAST_HANDLED: 201, DROP_HOST_NOT_READY: 202, DROP_EP_NOT_READY: 203,
  DROP_NO_EGRESS_IP: 204, DROP_PUNT_PROXY: 205,
} as const;
export type DropReason = keyof typeof DROP_REASON_CODES;

/** Bits of Flow.tcp_flags, in TCP header order (NS is the ninth flag bit). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, NS: 0x100 } as const;
export type TcpFlagName = keyof typeof TCP_FLAG;

/** Flow.l4_protocol values: IANA IP protocol numbers for the branches of Hubble's Layer4. */
export const L4_PROTOCOL = { NONE: 0, ICMPv4: 1, IGMP: 2, TCP: 6, UDP: 17, ICMPv6: 58, VRRP: 112, SCTP: 132 } as const;

export interface Emitter { name: string; version: string }
/** MACs as 48-bit integers, first octet most significant. */
export interface Ethernet { source: number; destination: number }
/** Addresses are 4 (IPv4) or 16 (IPv6) bytes in network order. */
export interface IP {
  source: Buffer;
  destination: Buffer;
  source_xlated: Buffer | null;
  ip_version: IPVersion;
  encrypted: boolean;
}
export interface Workload { name: string; kind: string }
export interface Endpoint {
  identity: number;
  cluster_name: string;
  namespace: string;
  pod_name: string;
  /** 'key=value' with Cilium's source prefix, e.g. 'k8s:app=frontend'. */
  labels: string[];
  workloads: Workload[];
}
export interface Service { name: string; namespace: string }
export interface DNS {
  query: string;
  ips: Buffer[];
  ttl: number;
  cnames: string[];
  observation_source: string;
  rcode: number;
  qtypes: string[];
  rrtypes: string[];
}
export interface HTTPHeader { key: string; value: string }
export interface HTTP { code: number; method: string; url: string; protocol: string; headers: HTTPHeader[] }
export interface Kafka {
  error_code: number;
  api_version: number;
  api_key: string;
  correlation_id: number;
  topic: string;
  client_id: string;
}
/** Exactly one of dns, http, kafka is set. */
export interface Layer7 { type: L7FlowType; latency_ns: number; dns: DNS | null; http: HTTP | null; kafka: Kafka | null }
export interface NetworkInterface { index: number; name: string }
export interface CiliumEventType { type: number; sub_type: number }

/**
 * One flow record. Times are bigint nanoseconds since the epoch (a number cannot hold them exactly); every other
 * long in the schema is a number (a safe integer; see schemas/avro-types.ts).
 */
export interface Flow {
  time_ns: bigint;
  /** 16 bytes. */
  uuid: Buffer;
  emitter: Emitter;
  node_name: string;
  node_labels: string[];
  cluster_name: string;
  flow_type: FlowType;
  verdict: Verdict;
  drop_reason_desc: DropReason | null;
  drop_reason_kernel: string | null;
  flow_event: FlowEvent;
  ethernet: Ethernet | null;
  ip: IP | null;
  l4_protocol: number;
  source_port: number;
  destination_port: number;
  tcp_flags: number;
  icmp_type: number;
  icmp_code: number;
  source: Endpoint;
  destination: Endpoint;
  source_service: Service | null;
  destination_service: Service | null;
  source_names: string[];
  destination_names: string[];
  l7: Layer7 | null;
  traffic_direction: TrafficDirection;
  is_reply: boolean | null;
  trace_observation_point: TraceObservationPoint;
  trace_reason: TraceReason;
  interface: NetworkInterface | null;
  event_type: CiliumEventType;
  summary: string;
  first_seen_ns: bigint;
  last_seen_ns: bigint;
  bytes_fwd: number;
  packets_fwd: number;
  bytes_rev: number;
  packets_rev: number;
  sampling_rate: number;
  socket_cookie: number | null;
  cgroup_id: number | null;
  tcp_srtt_us: number | null;
}

export function emptyEndpoint(): Endpoint {
  return { identity: 0, cluster_name: '', namespace: '', pod_name: '', labels: [], workloads: [] };
}

/** A flow with every field at the schema's default: a starting point for producers and tests. */
export function emptyFlow(): Flow {
  return {
    time_ns: 0n, uuid: Buffer.alloc(16), emitter: { name: '', version: '' }, node_name: '', node_labels: [],
    cluster_name: '', flow_type: 'UNKNOWN_TYPE', verdict: 'VERDICT_UNKNOWN', drop_reason_desc: null,
    drop_reason_kernel: null, flow_event: 'FLOW_EVENT_UNKNOWN', ethernet: null, ip: null, l4_protocol: 0,
    source_port: 0, destination_port: 0, tcp_flags: 0, icmp_type: 0, icmp_code: 0, source: emptyEndpoint(),
    destination: emptyEndpoint(), source_service: null, destination_service: null, source_names: [],
    destination_names: [], l7: null, traffic_direction: 'TRAFFIC_DIRECTION_UNKNOWN', is_reply: null,
    trace_observation_point: 'UNKNOWN_POINT', trace_reason: 'TRACE_REASON_UNKNOWN', interface: null,
    event_type: { type: 0, sub_type: 0 }, summary: '', first_seen_ns: 0n, last_seen_ns: 0n, bytes_fwd: 0,
    packets_fwd: 0, bytes_rev: 0, packets_rev: 0, sampling_rate: 1, socket_cookie: null, cgroup_id: null,
    tcp_srtt_us: null,
  };
}

/** Formats Flow.uuid the way Hubble writes it (8-4-4-4-12 lowercase hex). */
export function formatUuid(uuid: Uint8Array): string {
  const h = Buffer.from(uuid.buffer, uuid.byteOffset, uuid.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Parses a uuid string (with or without dashes) into Flow.uuid's 16 bytes. */
export function parseUuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a uuid: ${JSON.stringify(text)}`);
  return Buffer.from(hex, 'hex');
}

/** Formats a 48-bit MAC integer as aa:bb:cc:dd:ee:ff. */
export function formatMac(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

/**
 * Deep-freezes a value that producers reuse across many flows (an Endpoint from an enrichment cache, the node's
 * labels, the emitter). The codec remembers the encoding of deep-frozen arrays and Endpoint, Emitter, Service and
 * Workload records, and copies it instead of encoding them again. Returns the same value, now immutable.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
