/**
 * The FlowFilter model as it travels: Hubble's `flow.FlowFilter` message, in the object shape our proto loader
 * produces (schemas/proto-loader.ts: keepCase, enums as names, 64-bit as decimal strings, absent lists as []).
 * The HTTP API accepts the same JSON. Every field is optional here so that hand-written filters stay short.
 */
import type { Flow } from '../../schemas/flow-types.js';

export interface WorkloadFilter { name?: string; kind?: string }
export interface EventTypeFilter { type?: number; match_sub_type?: boolean; sub_type?: number }
export interface TCPFlagsFilter {
  FIN?: boolean; SYN?: boolean; RST?: boolean; PSH?: boolean; ACK?: boolean;
  URG?: boolean; ECE?: boolean; CWR?: boolean; NS?: boolean;
}
export interface HTTPHeaderFilter { key?: string; value?: string }
export interface InterfaceFilter { index?: number; name?: string }

/** Enum-typed fields accept Hubble's names or their numbers (a number we do not know matches nothing). */
export type EnumValue = string | number;

export interface FlowFilter {
  uuid?: string[];
  source_ip?: string[];
  source_ip_xlated?: string[];
  source_pod?: string[];
  source_fqdn?: string[];
  source_label?: string[];
  source_service?: string[];
  source_workload?: WorkloadFilter[];
  source_cluster_name?: string[];
  destination_ip?: string[];
  destination_pod?: string[];
  destination_fqdn?: string[];
  destination_label?: string[];
  destination_service?: string[];
  destination_workload?: WorkloadFilter[];
  destination_cluster_name?: string[];
  traffic_direction?: EnumValue[];
  verdict?: EnumValue[];
  drop_reason_desc?: EnumValue[];
  interface?: InterfaceFilter[];
  event_type?: EventTypeFilter[];
  http_status_code?: string[];
  protocol?: string[];
  source_port?: string[];
  destination_port?: string[];
  reply?: boolean[];
  dns_query?: string[];
  source_identity?: number[];
  destination_identity?: number[];
  http_method?: string[];
  http_path?: string[];
  http_url?: string[];
  http_header?: HTTPHeaderFilter[];
  tcp_flags?: TCPFlagsFilter[];
  node_name?: string[];
  node_labels?: string[];
  ip_version?: EnumValue[];
  trace_id?: string[];
  /** uint64: decimal strings (the proto loader's form) or safe integers. */
  ip_trace_id?: (string | number)[];
  encrypted?: boolean[];
  experimental?: { cel_expression?: string[] } | null;
}

/** Where a flow is tested: both back-ends build their half of one condition from the same validated values. */
export interface Condition {
  /** The in-memory predicate over a Flow record. */
  match(flow: Flow): boolean;
  /** The same test as a ClickHouse boolean expression over the `flows` table; every value goes through `params`. */
  sql(params: SqlParams): string;
}

/** Collects query parameters: `add(value, 'Array(String)')` returns the `{name:Type}` placeholder to write. */
export interface SqlParams {
  add(value: unknown, type: string): string;
}

/** A compiled request: the predicate and the SQL of "matches any whitelist filter and no blacklist filter". */
export interface CompiledFlowFilters {
  /** True when the request has no filter at all (every flow matches). */
  readonly empty: boolean;
  /** The in-memory predicate: for the collector's ring and for `follow`. */
  matches(flow: Flow): boolean;
  /** The SQL of the same predicate, writing its values into `params`. `1` when there is no filter. */
  sql(params: SqlParams): string;
}
