/**
 * A lookback Flow record as Hubble's `flow.Flow` message, in the object shape of schemas/proto-loader.ts (keepCase,
 * enums by name, 64-bit values as decimal strings, oneofs as the member that is set). The query API's Observer and
 * the collector's live Observer both answer with it, so a Hubble client prints the line Hubble would print: TYPE
 * from event_type or l7, Summary verbatim, endpoints with namespace/pod, DNS names of external peers.
 *
 * Also here: `createFieldMask`, the GetFlowsRequest.field_mask a Hubble client sends (paths it does not know are
 * ignored, as a server must), and `nodeNameOf`, Hubble's `cluster/node` naming.
 */
import { DROP_REASON_CODES, L4_PROTOCOL, TCP_FLAG, formatMac, formatUuid, type Endpoint, type Flow, type TcpFlagName } from '../schemas/flow-types.js';
import { timestampFromNanos, type TimestampObject } from '../schemas/proto-loader.js';
import { formatAddress } from './flow-filter/ip.js';

export type HubbleEndpoint = {
  ID: number;
  identity: number;
  cluster_name: string;
  namespace: string;
  labels: string[];
  pod_name: string;
  workloads: { name: string; kind: string }[];
};

/** The flow.Flow fields lookback fills; the rest stay at their defaults on the wire. */
export interface HubbleFlow {
  time: TimestampObject;
  uuid: string;
  emitter: { name: string; version: string };
  verdict: string;
  drop_reason: number;
  auth_type: string;
  ethernet: { source: string; destination: string } | null;
  IP: { source: string; source_xlated: string; destination: string; ipVersion: string; encrypted: boolean } | null;
  l4: Record<string, unknown> | null;
  source: HubbleEndpoint;
  destination: HubbleEndpoint;
  Type: string;
  node_name: string;
  node_labels: string[];
  source_names: string[];
  destination_names: string[];
  l7: Record<string, unknown> | null;
  reply: boolean;
  event_type: { type: number; sub_type: number };
  source_service: { name: string; namespace: string } | null;
  destination_service: { name: string; namespace: string } | null;
  traffic_direction: string;
  trace_observation_point: string;
  trace_reason: string;
  drop_reason_desc: string;
  is_reply: { value: boolean } | null;
  interface: { index: number; name: string } | null;
  socket_cookie: string;
  cgroup_id: string;
  Summary: string;
}

/** Hubble's node name: `cluster/node` when the cluster is known (the name the CLI prints and filters match). */
export function nodeNameOf(flow: Pick<Flow, 'node_name' | 'cluster_name'>): string {
  if (flow.node_name === '' || flow.node_name.includes('/') || flow.cluster_name === '') return flow.node_name;
  return `${flow.cluster_name}/${flow.node_name}`;
}

function endpoint(ep: Endpoint): HubbleEndpoint {
  return {
    ID: 0,
    identity: ep.identity,
    cluster_name: ep.cluster_name,
    namespace: ep.namespace,
    labels: [...ep.labels],
    pod_name: ep.pod_name,
    workloads: ep.workloads.map((w) => ({ name: w.name, kind: w.kind })),
  };
}

function tcpFlags(bits: number): Record<TcpFlagName, boolean> {
  const out = {} as Record<TcpFlagName, boolean>;
  for (const [name, bit] of Object.entries(TCP_FLAG)) out[name as TcpFlagName] = (bits & bit) !== 0;
  return out;
}

function layer4(flow: Flow): Record<string, unknown> | null {
  const ports = { source_port: flow.source_port, destination_port: flow.destination_port };
  switch (flow.l4_protocol) {
    case L4_PROTOCOL.TCP: return { TCP: { ...ports, flags: tcpFlags(flow.tcp_flags) }, protocol: 'TCP' };
    case L4_PROTOCOL.UDP: return { UDP: ports, protocol: 'UDP' };
    case L4_PROTOCOL.SCTP: return { SCTP: ports, protocol: 'SCTP' };
    case L4_PROTOCOL.ICMPv4: return { ICMPv4: { type: flow.icmp_type, code: flow.icmp_code }, protocol: 'ICMPv4' };
    case L4_PROTOCOL.ICMPv6: return { ICMPv6: { type: flow.icmp_type, code: flow.icmp_code }, protocol: 'ICMPv6' };
    case L4_PROTOCOL.VRRP: return { VRRP: {}, protocol: 'VRRP' };
    case L4_PROTOCOL.IGMP: return { IGMP: {}, protocol: 'IGMP' };
    default: return null;
  }
}

function layer7(flow: Flow): Record<string, unknown> | null {
  const l7 = flow.l7;
  if (!l7) return null;
  const out: Record<string, unknown> = { type: l7.type, latency_ns: String(l7.latency_ns) };
  if (l7.dns) {
    const d = l7.dns;
    out['dns'] = {
      query: d.query, ips: d.ips.map((ip) => formatAddress(ip)), ttl: d.ttl, cnames: [...d.cnames],
      observation_source: d.observation_source, rcode: d.rcode, qtypes: [...d.qtypes], rrtypes: [...d.rrtypes],
    };
    out['record'] = 'dns';
  } else if (l7.http) {
    const h = l7.http;
    out['http'] = { code: h.code, method: h.method, url: h.url, protocol: h.protocol, headers: h.headers.map((x) => ({ key: x.key, value: x.value })) };
    out['record'] = 'http';
  } else if (l7.kafka) {
    const k = l7.kafka;
    out['kafka'] = { error_code: k.error_code, api_version: k.api_version, api_key: k.api_key, correlation_id: k.correlation_id, topic: k.topic };
    out['record'] = 'kafka';
  }
  return out;
}

export function toHubbleFlow(flow: Flow): HubbleFlow {
  const dropped = flow.verdict === 'DROPPED';
  const dropReason = dropped ? flow.drop_reason_desc ?? 'DROP_REASON_UNKNOWN' : 'DROP_REASON_UNKNOWN';
  return {
    time: timestampFromNanos(flow.time_ns),
    uuid: formatUuid(flow.uuid),
    emitter: { name: flow.emitter.name, version: flow.emitter.version },
    verdict: flow.verdict,
    drop_reason: DROP_REASON_CODES[dropReason],
    auth_type: 'DISABLED',
    ethernet: flow.ethernet ? { source: formatMac(flow.ethernet.source), destination: formatMac(flow.ethernet.destination) } : null,
    IP: flow.ip
      ? {
          source: formatAddress(flow.ip.source),
          source_xlated: formatAddress(flow.ip.source_xlated),
          destination: formatAddress(flow.ip.destination),
          ipVersion: flow.ip.ip_version,
          encrypted: flow.ip.encrypted,
        }
      : null,
    l4: layer4(flow),
    source: endpoint(flow.source),
    destination: endpoint(flow.destination),
    Type: flow.flow_type,
    node_name: nodeNameOf(flow),
    node_labels: [...flow.node_labels],
    source_names: [...flow.source_names],
    destination_names: [...flow.destination_names],
    l7: layer7(flow),
    reply: flow.is_reply === true,
    event_type: { type: flow.event_type.type, sub_type: flow.event_type.sub_type },
    source_service: flow.source_service ? { name: flow.source_service.name, namespace: flow.source_service.namespace } : null,
    destination_service: flow.destination_service ? { name: flow.destination_service.name, namespace: flow.destination_service.namespace } : null,
    traffic_direction: flow.traffic_direction,
    trace_observation_point: flow.trace_observation_point,
    trace_reason: flow.trace_reason,
    drop_reason_desc: dropReason,
    is_reply: flow.is_reply === null ? null : { value: flow.is_reply },
    interface: flow.interface ? { index: flow.interface.index, name: flow.interface.name } : null,
    socket_cookie: String(flow.socket_cookie ?? 0),
    cgroup_id: String(flow.cgroup_id ?? 0),
    Summary: flow.summary,
  };
}

/** A tree of field-mask paths: a leaf (true) keeps the whole field, a node keeps only the listed sub-fields. */
type MaskTree = { [field: string]: MaskTree | true };

export interface FieldMask {
  /** False when the request had no mask: keep everything. */
  readonly active: boolean;
  /** A copy of `flow` holding only the masked fields (oneof markers of kept messages come along). */
  apply(flow: HubbleFlow): Partial<HubbleFlow>;
}

/**
 * GetFlowsRequest.field_mask. Paths are field names joined by dots (`source.pod_name`, `l4`, `Summary`); a path
 * naming a field flow.Flow does not have is ignored, never an error (a known failure of other servers).
 */
export function createFieldMask(paths: readonly string[] | null | undefined, maxPaths = 512): FieldMask {
  const tree: MaskTree = {};
  for (const path of (paths ?? []).slice(0, maxPaths)) {
    if (typeof path !== 'string' || path === '') continue;
    let node = tree;
    const parts = path.split('.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1) node[part] = true;
      else {
        const next = node[part];
        if (next === true) break;
        node = node[part] = next ?? {};
      }
    }
  }
  // The CLI's compact mask asks for IP but not for the DNS names, so it would print 104.18.22.45:443 where the
  // peer is www.disney.com:443. Names are small and only shown when there is no pod or service: keep them with IP.
  if (tree['IP'] !== undefined) {
    tree['source_names'] = true;
    tree['destination_names'] = true;
  }
  const active = Object.keys(tree).length > 0;
  return {
    active,
    apply: (flow) => (active ? (prune(flow as unknown as Record<string, unknown>, tree) as Partial<HubbleFlow>) : flow),
  };
}

function prune(obj: Record<string, unknown>, tree: MaskTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(tree)) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const value = obj[key];
    if (sub === true || value === null || typeof value !== 'object' || Array.isArray(value)) out[key] = value;
    else out[key] = prune(value as Record<string, unknown>, sub);
  }
  // Keep the oneof markers ('protocol', 'record') so that an encoder knows which member a pruned message holds.
  for (const marker of ['protocol', 'record']) {
    if (typeof obj[marker] === 'string' && out[obj[marker] as string] !== undefined) out[marker] = obj[marker];
  }
  return out;
}
