/**
 * Which columns of the flows table a request needs. The hubble CLI masks its compact, dict and table output to
 * about twenty Flow fields, and a row read for "the last 20 flows of a pod" costs mostly the columns it reads (each
 * one a granule to decompress): reading only the masked fields' columns is about twice as fast. Unread columns
 * come back as their defaults, which the field mask then drops anyway.
 */
import { FLOW_INSERT_COLUMNS, flowToRow, type FlowRow } from '../common/flow-row.js';
import { emptyFlow } from '../schemas/flow-types.js';

const ENDPOINT_PARTS: Record<string, string[]> = {
  identity: ['identity'], cluster_name: ['cluster'], namespace: ['namespace'], pod_name: ['pod'], labels: ['labels'],
  workloads: ['workload_names', 'workload_kinds'],
};

const L7_COLUMNS = FLOW_INSERT_COLUMNS.map((c) => c.name).filter((n) => /^(l7_|dns_|http_|kafka_)/.test(n));

/** Columns behind each top-level flow.Flow field (fields lookback never fills map to nothing). */
const BY_FIELD: Record<string, string[]> = {
  time: ['time'], uuid: ['uuid'], emitter: ['emitter_name', 'emitter_version'], verdict: ['verdict'],
  drop_reason: ['verdict', 'drop_reason_desc'], drop_reason_desc: ['verdict', 'drop_reason_desc'],
  ethernet: ['ethernet_source', 'ethernet_destination'],
  IP: ['ip_source', 'ip_destination', 'ip_source_xlated', 'ip_version', 'ip_encrypted'],
  l4: ['l4_protocol', 'source_port', 'destination_port', 'tcp_flags', 'icmp_type', 'icmp_code'],
  Type: ['flow_type'], node_name: ['node_name', 'cluster_name'], node_labels: ['node_labels'],
  source_names: ['source_names'], destination_names: ['destination_names'], l7: L7_COLUMNS,
  reply: ['is_reply'], is_reply: ['is_reply'], event_type: ['event_type', 'event_sub_type'],
  source_service: ['source_service_name', 'source_service_namespace'],
  destination_service: ['destination_service_name', 'destination_service_namespace'],
  traffic_direction: ['traffic_direction'], trace_observation_point: ['trace_observation_point'], trace_reason: ['trace_reason'],
  interface: ['interface_index', 'interface_name'], socket_cookie: ['socket_cookie'], cgroup_id: ['cgroup_id'], Summary: ['summary'],
};

/** The columns for a field mask's paths; null means every column (no mask). */
export function columnsForMask(paths: readonly string[] | null): string[] | null {
  if (!paths || paths.length === 0) return null;
  // Always: the order and de-duplication keys, and what every response carries (node name, time).
  const out = new Set<string>(['time', 'uuid', 'node_name', 'cluster_name']);
  const all = new Set(FLOW_INSERT_COLUMNS.map((c) => c.name));
  for (const path of paths) {
    const [field, sub] = path.split('.', 2) as [string, string | undefined];
    if (field === 'source' || field === 'destination') {
      const parts = sub === undefined ? Object.values(ENDPOINT_PARTS).flat() : ENDPOINT_PARTS[sub] ?? [];
      for (const p of parts) out.add(`${field}_${p}`);
    } else {
      for (const c of BY_FIELD[field] ?? []) out.add(c);
    }
  }
  // Keep DNS names with IP (see createFieldMask in common/hubble-flow.ts).
  if (out.has('ip_source')) { out.add('source_names'); out.add('destination_names'); }
  return [...out].filter((c) => all.has(c));
}

/** SELECT list for some columns (times as exact nanosecond strings, as FLOW_SELECT reads them). */
export function selectList(columns: readonly string[]): string {
  const types = new Map(FLOW_INSERT_COLUMNS.map((c) => [c.name, c.type]));
  return columns.map((c) => (types.get(c)?.startsWith('DateTime64') ? `toString(toUnixTimestamp64Nano(${c})) AS ${c}` : c)).join(', ');
}

/** A row with every column at its default, to complete rows read with fewer columns. */
export const DEFAULT_ROW: FlowRow = { ...flowToRow(emptyFlow()), first_seen: '0', last_seen: '0' };
