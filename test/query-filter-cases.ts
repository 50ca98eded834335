/**
 * The FlowFilter case table: every case names the fixture flows (test/query-fixture.ts) it must return. The same
 * table runs against the in-memory predicate and against ClickHouse SQL; both must give exactly these answers.
 */
import type { FlowFilter } from '../common/flow-filter/index.js';

export interface FilterCase {
  name: string;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
  /** Fixture flow names, or a function of all names (for "everything but ..."). */
  expect: string[] | ((all: string[]) => string[]);
}

const XWING_OUT = ['xwing_dns_query', 'disney_syn', 'disney_fin', 'deathstar_drop'];
const SHOP = ['cart_503', 'cart_404', 'frontend_v6_udp', 'icmp6_encrypted', 'kafka_produce', 'sctp_forward'];
const KIND_WORKER = [
  'xwing_dns_query', 'xwing_dns_answer', 'disney_syn', 'disney_synack', 'disney_fin', 'disney_rst', 'deathstar_drop',
  'tiefighter_post', 'tiefighter_ok', 'arp_frame', 'unknown_drop', 'policy_audit',
];
const except = (...names: string[]) => (all: string[]) => all.filter((n) => !names.includes(n));

export function filterCases(uuidOf: (name: string) => string): FilterCase[] {
  return [
    // pods, services: prefixes with and without namespace
    { name: 'source_pod with namespace', whitelist: [{ source_pod: ['default/xwing'] }], expect: XWING_OUT },
    { name: 'source_pod without namespace means default', whitelist: [{ source_pod: ['xwing'] }], expect: XWING_OUT },
    { name: 'source_pod namespace only', whitelist: [{ source_pod: ['kube-system/'] }], expect: ['xwing_dns_answer'] },
    { name: 'source_pod prefix in any namespace', whitelist: [{ source_pod: ['/cart'] }], expect: ['cart_503', 'cart_404'] },
    { name: 'source_pod bare name outside default matches nothing', whitelist: [{ source_pod: ['cart'] }], expect: [] },
    { name: 'source_pod "/" matches named endpoints', whitelist: [{ source_pod: ['/'] }], expect: except('disney_synack', 'disney_rst', 'host_to_apiserver', 'arp_frame', 'unknown_drop') },
    { name: 'destination_pod prefix', whitelist: [{ destination_pod: ['default/death'] }], expect: ['deathstar_drop', 'tiefighter_post'] },
    { name: 'destination_service with namespace', whitelist: [{ destination_service: ['kube-system/kube-dns'] }], expect: ['xwing_dns_query'] },
    { name: 'source_service prefix in any namespace', whitelist: [{ source_service: ['/ca'] }], expect: ['cart_503'] },
    { name: 'destination_service names in default', whitelist: [{ destination_service: ['deathstar', 'kubernetes'] }], expect: ['deathstar_drop', 'tiefighter_post', 'host_to_apiserver'] },
    // IPs and CIDRs
    { name: 'source_ip exact', whitelist: [{ source_ip: ['10.244.1.10'] }], expect: XWING_OUT },
    { name: 'destination_ip IPv4 CIDR', whitelist: [{ destination_ip: ['104.18.0.0/16'] }], expect: ['disney_syn', 'disney_fin'] },
    { name: 'source_ip IPv6 CIDR', whitelist: [{ source_ip: ['fd00::/8'] }], expect: ['frontend_v6_udp', 'icmp6_encrypted'] },
    { name: 'destination_ip 0.0.0.0/0 is every IPv4 flow', whitelist: [{ destination_ip: ['0.0.0.0/0'] }], expect: except('frontend_v6_udp', 'icmp6_encrypted', 'arp_frame') },
    { name: 'destination_ip ::/0 is every IPv6 flow, not IPv4', whitelist: [{ destination_ip: ['::/0'] }], expect: ['frontend_v6_udp', 'icmp6_encrypted'] },
    { name: 'source_ip_xlated address and CIDR', whitelist: [{ source_ip_xlated: ['2001:db8::1', '192.0.2.0/24'] }], expect: ['icmp6_encrypted', 'sctp_forward'] },
    // label selectors
    { name: 'source_label with source prefix', whitelist: [{ source_label: ['k8s:org=empire'] }], expect: ['tiefighter_post', 'tiefighter_ok', 'policy_audit'] },
    { name: 'source_label without source prefix', whitelist: [{ source_label: ['class=xwing'] }], expect: XWING_OUT },
    { name: 'destination_label set', whitelist: [{ destination_label: ['k8s:app in (deathstar, kafka)'] }], expect: ['deathstar_drop', 'tiefighter_post', 'kafka_produce'] },
    { name: 'source_label does not exist', whitelist: [{ source_label: ['!k8s:org'] }], expect: except(...XWING_OUT, 'tiefighter_post', 'tiefighter_ok', 'policy_audit') },
    { name: 'source_label != also matches a missing label', whitelist: [{ source_label: ['org!=alliance'] }], expect: except(...XWING_OUT) },
    { name: 'source_label requirements are ANDed', whitelist: [{ source_label: ['class=tiefighter,org=empire'] }], expect: ['tiefighter_post', 'policy_audit'] },
    { name: 'destination_label numeric comparison', whitelist: [{ destination_label: ['replicas>5'] }], expect: ['frontend_v6_udp', 'sctp_forward'] },
    { name: 'source_label reserved identity label', whitelist: [{ source_label: ['reserved:world'] }], expect: ['disney_synack', 'disney_rst', 'unknown_drop'] },
    // FQDN wildcards
    { name: 'destination_fqdn wildcard', whitelist: [{ destination_fqdn: ['*.disney.com'] }], expect: ['disney_syn', 'disney_fin'] },
    { name: 'source_fqdn with trailing dot', whitelist: [{ source_fqdn: ['WWW.Disney.com.'] }], expect: ['disney_synack', 'disney_rst'] },
    // ports
    { name: 'destination_port', whitelist: [{ destination_port: ['53'] }], expect: ['xwing_dns_query'] },
    { name: 'destination_port several', whitelist: [{ destination_port: ['80', '443'] }], expect: ['disney_syn', 'disney_fin', 'deathstar_drop', 'tiefighter_post', 'host_to_apiserver'] },
    { name: 'source_port', whitelist: [{ source_port: ['53'] }], expect: ['xwing_dns_answer'] },
    { name: 'destination_port on SCTP', whitelist: [{ destination_port: ['38412'] }], expect: ['sctp_forward'] },
    // verdicts, drop reasons
    { name: 'verdict DROPPED', whitelist: [{ verdict: ['DROPPED'] }], expect: ['deathstar_drop', 'unknown_drop'] },
    { name: 'verdict by number', whitelist: [{ verdict: [4] }], expect: ['policy_audit'] },
    { name: 'drop_reason_desc', whitelist: [{ drop_reason_desc: ['POLICY_DENIED'] }], expect: ['deathstar_drop'] },
    { name: 'drop_reason_desc unknown reason', whitelist: [{ drop_reason_desc: ['DROP_REASON_UNKNOWN'] }], expect: ['unknown_drop'] },
    // TCP flags
    { name: 'tcp_flags SYN', whitelist: [{ tcp_flags: [{ SYN: true }] }], expect: ['disney_syn', 'disney_synack', 'deathstar_drop', 'policy_audit'] },
    { name: 'tcp_flags SYN and ACK', whitelist: [{ tcp_flags: [{ SYN: true, ACK: true }] }], expect: ['disney_synack'] },
    { name: 'tcp_flags FIN or RST', whitelist: [{ tcp_flags: [{ FIN: true }, { RST: true }] }], expect: ['disney_fin', 'disney_rst'] },
    // HTTP
    { name: 'http_status_code 5+', whitelist: [{ http_status_code: ['5+'] }], expect: ['cart_503'] },
    { name: 'http_status_code exact and prefix', whitelist: [{ http_status_code: ['404', '20+'] }], expect: ['tiefighter_ok', 'cart_404'] },
    { name: 'http_status_code with the L7 event type', whitelist: [{ event_type: [{ type: 129 }], http_status_code: ['2+'] }], expect: ['tiefighter_ok'] },
    { name: 'http_method is case-insensitive', whitelist: [{ http_method: ['get'] }], expect: ['cart_503', 'cart_404'] },
    { name: 'http_method POST', whitelist: [{ http_method: ['POST'] }], expect: ['tiefighter_post', 'tiefighter_ok'] },
    { name: 'http_path regex', whitelist: [{ http_path: ['^/v1/'] }], expect: ['tiefighter_post', 'tiefighter_ok'] },
    { name: 'http_path of a path-only URL, query cut off', whitelist: [{ http_path: ['^/missing/item$'] }], expect: ['cart_404'] },
    { name: 'http_url regex', whitelist: [{ http_url: ['cart\\?id=[0-9]+$'] }], expect: ['cart_503'] },
    { name: 'http_header', whitelist: [{ http_header: [{ key: 'x-request-id', value: 'r-42' }] }], expect: ['cart_503'] },
    // DNS
    { name: 'dns_query regex', whitelist: [{ dns_query: ['disney'] }], expect: ['xwing_dns_query', 'xwing_dns_answer'] },
    { name: 'dns_query anchored, no match', whitelist: [{ dns_query: ['^disney'] }], expect: [] },
    { name: 'dns_query full name', whitelist: [{ dns_query: ['^www\\.disney\\.com\\.$'] }], expect: ['xwing_dns_query', 'xwing_dns_answer'] },
    // nodes
    { name: 'node_name wildcard', whitelist: [{ node_name: ['kind-*'] }], expect: KIND_WORKER },
    { name: 'node_name with cluster', whitelist: [{ node_name: ['prod-eu1/worker-2'] }], expect: SHOP },
    { name: 'node_name cluster and wildcard', whitelist: [{ node_name: ['default/k8s*'] }], expect: ['host_to_apiserver'] },
    { name: 'node_labels', whitelist: [{ node_labels: ['topology.kubernetes.io/zone=eu1-c'] }], expect: SHOP },
    // IP version, protocols, event types, directions
    { name: 'ip_version IPv6', whitelist: [{ ip_version: ['IPv6'] }], expect: ['frontend_v6_udp', 'icmp6_encrypted'] },
    { name: 'ip_version IP_NOT_USED is a non-IP frame', whitelist: [{ ip_version: ['IP_NOT_USED'] }], expect: ['arp_frame'] },
    { name: 'protocol udp', whitelist: [{ protocol: ['udp'] }], expect: ['xwing_dns_query', 'xwing_dns_answer', 'frontend_v6_udp'] },
    { name: 'protocol dns or http', whitelist: [{ protocol: ['DNS', 'http'] }], expect: ['xwing_dns_query', 'xwing_dns_answer', 'tiefighter_post', 'tiefighter_ok', 'cart_503', 'cart_404'] },
    { name: 'protocol icmp or sctp', whitelist: [{ protocol: ['icmp', 'sctp'] }], expect: ['icmp6_encrypted', 'sctp_forward'] },
    { name: 'event_type drop', whitelist: [{ event_type: [{ type: 1 }] }], expect: ['deathstar_drop', 'unknown_drop'] },
    { name: 'event_type trace with sub-type to-endpoint', whitelist: [{ event_type: [{ type: 4, match_sub_type: true, sub_type: 0 }] }], expect: ['disney_synack', 'disney_rst'] },
    { name: 'traffic_direction INGRESS', whitelist: [{ traffic_direction: ['INGRESS'] }], expect: ['xwing_dns_answer', 'deathstar_drop', 'tiefighter_ok', 'cart_503', 'cart_404', 'unknown_drop', 'policy_audit'] },
    { name: 'reply true', whitelist: [{ reply: [true] }], expect: ['xwing_dns_answer', 'disney_synack', 'disney_rst', 'tiefighter_ok', 'cart_503', 'cart_404'] },
    { name: 'reply false counts unknown direction only on drops', whitelist: [{ reply: [false] }], expect: except('xwing_dns_answer', 'disney_synack', 'disney_rst', 'tiefighter_ok', 'cart_503', 'cart_404', 'host_to_apiserver', 'arp_frame') },
    { name: 'encrypted', whitelist: [{ encrypted: [true] }], expect: ['icmp6_encrypted'] },
    // identities, workloads, clusters, interfaces, uuids, trace ids
    { name: 'source_identity world', whitelist: [{ source_identity: [2] }], expect: ['disney_synack', 'disney_rst', 'unknown_drop'] },
    { name: 'destination_identity several', whitelist: [{ destination_identity: [102, 7] }], expect: ['xwing_dns_query', 'host_to_apiserver'] },
    { name: 'source_workload name and kind', whitelist: [{ source_workload: [{ kind: 'Deployment', name: 'cart' }] }], expect: ['cart_503', 'cart_404'] },
    { name: 'destination_workload kind only', whitelist: [{ destination_workload: [{ kind: 'Deployment' }] }], expect: ['xwing_dns_query', 'deathstar_drop', 'tiefighter_post', 'cart_503', 'cart_404', 'frontend_v6_udp', 'kafka_produce', 'sctp_forward'] },
    { name: 'source_cluster_name', whitelist: [{ source_cluster_name: ['prod-eu1'] }], expect: SHOP },
    { name: 'interface by name', whitelist: [{ interface: [{ name: 'lxc-xwing' }] }], expect: ['xwing_dns_query', 'xwing_dns_answer', 'disney_syn'] },
    { name: 'interface by index', whitelist: [{ interface: [{ index: 14 }] }], expect: ['deathstar_drop'] },
    { name: 'uuid', whitelist: [{ uuid: [uuidOf('disney_rst'), 'not-a-uuid'] }], expect: ['disney_rst'] },
    { name: 'trace_id empty matches flows without a trace', whitelist: [{ trace_id: [''] }], expect: (all) => all },
    { name: 'trace_id value matches nothing here', whitelist: [{ trace_id: ['4bf92f3577b34da6a3ce929d0e0e4736'] }], expect: [] },
    // combinations
    { name: 'AND inside one filter', whitelist: [{ source_pod: ['default/xwing'], destination_port: ['443'], protocol: ['tcp'] }], expect: ['disney_syn', 'disney_fin'] },
    { name: 'several whitelist filters are ORed', whitelist: [{ source_pod: ['default/tiefighter'] }, { verdict: ['DROPPED'] }], expect: ['deathstar_drop', 'tiefighter_post', 'unknown_drop', 'policy_audit'] },
    { name: 'hubble --namespace default --verdict DROPPED', whitelist: [{ source_pod: ['default/'], verdict: ['DROPPED'] }, { destination_pod: ['default/'], verdict: ['DROPPED'] }], expect: ['deathstar_drop', 'unknown_drop'] },
    { name: 'blacklist only', blacklist: [{ verdict: ['FORWARDED'] }], expect: ['deathstar_drop', 'unknown_drop', 'policy_audit'] },
    { name: 'whitelist and blacklist', whitelist: [{ source_pod: ['default/xwing'] }], blacklist: [{ destination_port: ['53'] }], expect: ['disney_syn', 'disney_fin', 'deathstar_drop'] },
    { name: 'several blacklist filters', blacklist: [{ protocol: ['tcp'] }, { protocol: ['udp'] }], expect: ['icmp6_encrypted', 'sctp_forward', 'arp_frame'] },
    { name: 'blacklist by label', blacklist: [{ source_label: ['k8s:org=empire'] }, { destination_label: ['k8s:org=empire'] }], expect: except('deathstar_drop', 'tiefighter_post', 'tiefighter_ok', 'policy_audit') },
    { name: 'an empty filter matches everything', whitelist: [{}], expect: (all) => all },
    { name: 'no filter at all', expect: (all) => all },
  ];
}
