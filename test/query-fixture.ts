/**
 * The query API's fixture: flows with known answers, starting with the seed scenario of Cilium's Star Wars demo
 * (xwing asks coredns for www.disney.com, talks to it over TLS, and is dropped by policy at the deathstar), plus one
 * flow for each kind of field the filter table tests (HTTP statuses, methods, paths and headers, IPv6, ICMP, SCTP,
 * Kafka, host and world endpoints, a non-IP frame, another cluster and node). Flows are one second apart, in the
 * order listed, so tests can reason about time ranges by position.
 */
import crypto from 'node:crypto';
import { TCP_FLAG, emptyEndpoint, emptyFlow, type Endpoint, type Flow } from '../schemas/flow-types.js';

export interface NamedFlow {
  name: string;
  flow: Flow;
}

function ip4(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

function ip6(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

function pod(namespace: string, name: string, labels: string[], workload: string, identity: number, cluster = 'default'): Endpoint {
  return {
    identity,
    cluster_name: cluster,
    namespace,
    pod_name: name,
    labels: [...labels, `k8s:io.kubernetes.pod.namespace=${namespace}`, `k8s:io.cilium.k8s.policy.cluster=${cluster}`],
    workloads: workload ? [{ name: workload, kind: 'Deployment' }] : [],
  };
}

const XWING = pod('default', 'xwing', ['k8s:class=xwing', 'k8s:org=alliance', 'k8s:app.kubernetes.io/name=xwing'], '', 12_001);
const COREDNS = pod('kube-system', 'coredns-6d4b75cb6d-8kq2v', ['k8s:k8s-app=kube-dns'], 'coredns', 102);
const DEATHSTAR = pod('default', 'deathstar-6f87c5c8d4-zt6wc', ['k8s:class=deathstar', 'k8s:org=empire', 'k8s:app=deathstar'], 'deathstar', 12_002);
const TIEFIGHTER = pod('default', 'tiefighter', ['k8s:class=tiefighter', 'k8s:org=empire'], '', 12_003);
const FRONTEND = pod('shop', 'frontend-7d9c8b6f5-x2x7k', ['k8s:app=frontend', 'k8s:tier=web', 'k8s:replicas=3'], 'frontend', 48_213, 'prod-eu1');
const CART = pod('shop', 'cart-5f6d7c8b9-9qv2m', ['k8s:app=cart', 'k8s:replicas=12'], 'cart', 31_007, 'prod-eu1');
const KAFKA_POD = pod('data', 'kafka-0', ['k8s:app=kafka'], 'kafka', 40_100, 'prod-eu1');
const WORLD: Endpoint = { ...emptyEndpoint(), identity: 2, labels: ['reserved:world'] };
const HOST: Endpoint = { ...emptyEndpoint(), identity: 1, labels: ['reserved:host', 'reserved:kube-apiserver'] };

const NODE_LABELS = ['kubernetes.io/hostname=kind-worker', 'topology.kubernetes.io/zone=eu1-b'];

function base(name: string, t: bigint): Flow {
  const f = emptyFlow();
  f.time_ns = t;
  f.uuid = crypto.createHash('sha256').update(`${name}/${t}`).digest().subarray(0, 16);
  f.uuid[6] = (f.uuid[6]! & 0x0f) | 0x40;
  f.uuid[8] = (f.uuid[8]! & 0x3f) | 0x80;
  f.emitter = { name: 'lookback', version: '0.1.0' };
  f.node_name = 'kind-worker';
  f.node_labels = NODE_LABELS;
  f.cluster_name = 'default';
  f.flow_type = 'L3_L4';
  f.verdict = 'FORWARDED';
  f.ethernet = { source: 0x0a580af40117, destination: 0x0a580af40201 };
  f.traffic_direction = 'EGRESS';
  f.is_reply = false;
  f.trace_observation_point = 'TO_STACK';
  f.trace_reason = 'NEW';
  f.event_type = { type: 4, sub_type: 3 };
  f.first_seen_ns = t;
  f.last_seen_ns = t;
  f.bytes_fwd = 60;
  f.packets_fwd = 1;
  return f;
}

function tcp(f: Flow, src: [string, number], dst: [string, number], flags: number): void {
  f.ip = { source: ip4(src[0]), destination: ip4(dst[0]), source_xlated: null, ip_version: 'IPv4', encrypted: false };
  f.l4_protocol = 6;
  f.source_port = src[1];
  f.destination_port = dst[1];
  f.tcp_flags = flags;
  const names = (Object.keys(TCP_FLAG) as (keyof typeof TCP_FLAG)[]).filter((k) => (flags & TCP_FLAG[k]) !== 0);
  f.summary = `TCP Flags: ${names.join(', ')}`;
}

const XWING_IP = '10.244.1.10';
const COREDNS_IP = '10.244.0.3';
const DEATHSTAR_IP = '10.244.1.20';
const TIEFIGHTER_IP = '10.244.1.30';
const DISNEY_IP = '104.18.22.45';

/** The fixture, oldest first; `t0` is the first flow's time in nanoseconds, the others follow one second apart. */
export function queryFixture(t0: bigint): NamedFlow[] {
  const out: NamedFlow[] = [];
  const add = (name: string, build: (f: Flow) => void): void => {
    const f = base(name, t0 + BigInt(out.length) * 1_000_000_000n);
    build(f);
    out.push({ name, flow: f });
  };

  // --- the Star Wars seed
  add('xwing_dns_query', (f) => {
    f.flow_type = 'L7';
    f.ip = { source: ip4(XWING_IP), destination: ip4(COREDNS_IP), source_xlated: null, ip_version: 'IPv4', encrypted: false };
    f.l4_protocol = 17;
    f.source_port = 41_234;
    f.destination_port = 53;
    f.source = XWING;
    f.destination = COREDNS;
    f.destination_service = { name: 'kube-dns', namespace: 'kube-system' };
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'DNS Query www.disney.com. A';
    f.interface = { index: 12, name: 'lxc-xwing' };
    f.l7 = {
      type: 'REQUEST', latency_ns: 0, http: null, kafka: null,
      dns: { query: 'www.disney.com.', ips: [], ttl: 0, cnames: [], observation_source: 'lookback', rcode: 0, qtypes: ['A'], rrtypes: [] },
    };
  });
  add('xwing_dns_answer', (f) => {
    f.flow_type = 'L7';
    f.ip = { source: ip4(COREDNS_IP), destination: ip4(XWING_IP), source_xlated: null, ip_version: 'IPv4', encrypted: false };
    f.l4_protocol = 17;
    f.source_port = 53;
    f.destination_port = 41_234;
    f.source = COREDNS;
    f.destination = XWING;
    f.source_service = { name: 'kube-dns', namespace: 'kube-system' };
    f.is_reply = true;
    f.traffic_direction = 'INGRESS';
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'DNS Answer "104.18.22.45" TTL: 300 (Proxy www.disney.com. A)';
    f.interface = { index: 12, name: 'lxc-xwing' };
    f.l7 = {
      type: 'RESPONSE', latency_ns: 1_400_000, http: null, kafka: null,
      dns: { query: 'www.disney.com.', ips: [ip4(DISNEY_IP)], ttl: 300, cnames: [], observation_source: 'lookback', rcode: 0, qtypes: ['A'], rrtypes: ['A'] },
    };
  });
  add('disney_syn', (f) => {
    tcp(f, [XWING_IP, 51_000], [DISNEY_IP, 443], TCP_FLAG.SYN);
    f.source = XWING;
    f.destination = WORLD;
    f.destination_names = ['www.disney.com'];
    f.interface = { index: 12, name: 'lxc-xwing' };
  });
  add('disney_synack', (f) => {
    tcp(f, [DISNEY_IP, 443], [XWING_IP, 51_000], TCP_FLAG.SYN | TCP_FLAG.ACK);
    f.source = WORLD;
    f.destination = XWING;
    f.source_names = ['www.disney.com'];
    f.is_reply = true;
    f.trace_observation_point = 'TO_ENDPOINT';
    f.event_type = { type: 4, sub_type: 0 };
    f.trace_reason = 'REPLY';
  });
  add('disney_fin', (f) => {
    tcp(f, [XWING_IP, 51_000], [DISNEY_IP, 443], TCP_FLAG.FIN | TCP_FLAG.ACK);
    f.source = XWING;
    f.destination = WORLD;
    f.destination_names = ['www.disney.com'];
    f.trace_reason = 'ESTABLISHED';
    f.flow_event = 'CLOSED';
  });
  add('disney_rst', (f) => {
    tcp(f, [DISNEY_IP, 443], [XWING_IP, 51_000], TCP_FLAG.RST);
    f.source = WORLD;
    f.destination = XWING;
    f.source_names = ['www.disney.com'];
    f.is_reply = true;
    f.trace_observation_point = 'TO_ENDPOINT';
    f.event_type = { type: 4, sub_type: 0 };
    f.flow_event = 'RESET';
  });
  add('deathstar_drop', (f) => {
    tcp(f, [XWING_IP, 52_000], [DEATHSTAR_IP, 80], TCP_FLAG.SYN);
    f.source = XWING;
    f.destination = DEATHSTAR;
    f.destination_service = { name: 'deathstar', namespace: 'default' };
    f.verdict = 'DROPPED';
    f.drop_reason_desc = 'POLICY_DENIED';
    f.drop_reason_kernel = 'NETFILTER_DROP';
    f.event_type = { type: 1, sub_type: 133 };
    f.is_reply = null;
    f.traffic_direction = 'INGRESS';
    f.interface = { index: 14, name: 'lxc-deathstar' };
  });

  // --- the empire lands, over HTTP
  add('tiefighter_post', (f) => {
    tcp(f, [TIEFIGHTER_IP, 43_000], [DEATHSTAR_IP, 80], TCP_FLAG.PSH | TCP_FLAG.ACK);
    f.flow_type = 'L7';
    f.source = TIEFIGHTER;
    f.destination = DEATHSTAR;
    f.destination_service = { name: 'deathstar', namespace: 'default' };
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'HTTP/1.1 POST http://deathstar.default.svc.cluster.local/v1/request-landing';
    f.l7 = {
      type: 'REQUEST', latency_ns: 0, dns: null, kafka: null,
      http: { code: 0, method: 'POST', url: 'http://deathstar.default.svc.cluster.local/v1/request-landing', protocol: 'HTTP/1.1', headers: [{ key: 'user-agent', value: 'curl/8.5.0' }] },
    };
  });
  add('tiefighter_ok', (f) => {
    tcp(f, [DEATHSTAR_IP, 80], [TIEFIGHTER_IP, 43_000], TCP_FLAG.PSH | TCP_FLAG.ACK);
    f.flow_type = 'L7';
    f.source = DEATHSTAR;
    f.destination = TIEFIGHTER;
    f.source_service = { name: 'deathstar', namespace: 'default' };
    f.is_reply = true;
    f.traffic_direction = 'INGRESS';
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'HTTP/1.1 200 3ms (POST http://deathstar.default.svc.cluster.local/v1/request-landing)';
    f.l7 = {
      type: 'RESPONSE', latency_ns: 3_000_000, dns: null, kafka: null,
      http: { code: 200, method: 'POST', url: 'http://deathstar.default.svc.cluster.local/v1/request-landing', protocol: 'HTTP/1.1', headers: [] },
    };
  });

  // --- a shop in another cluster, on another node
  const shopNode = (f: Flow): void => {
    f.cluster_name = 'prod-eu1';
    f.node_name = 'worker-2';
    f.node_labels = ['kubernetes.io/hostname=worker-2', 'topology.kubernetes.io/zone=eu1-c'];
  };
  add('cart_503', (f) => {
    shopNode(f);
    tcp(f, ['10.8.2.7', 8080], ['10.8.1.23', 40_100], TCP_FLAG.PSH | TCP_FLAG.ACK);
    f.flow_type = 'L7';
    f.source = CART;
    f.destination = FRONTEND;
    f.source_service = { name: 'cart', namespace: 'shop' };
    f.is_reply = true;
    f.traffic_direction = 'INGRESS';
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'HTTP/1.1 503 5ms (GET http://cart.shop:8080/api/v1/cart?id=42)';
    f.l7 = {
      type: 'RESPONSE', latency_ns: 5_000_000, dns: null, kafka: null,
      http: { code: 503, method: 'GET', url: 'http://cart.shop:8080/api/v1/cart?id=42', protocol: 'HTTP/1.1', headers: [{ key: 'x-request-id', value: 'r-42' }] },
    };
  });
  add('cart_404', (f) => {
    shopNode(f);
    tcp(f, ['10.8.2.7', 8080], ['10.8.1.23', 40_101], TCP_FLAG.PSH | TCP_FLAG.ACK);
    f.flow_type = 'L7';
    f.source = CART;
    f.destination = FRONTEND;
    f.is_reply = true;
    f.traffic_direction = 'INGRESS';
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'HTTP/2 404 1ms (GET /missing/item)';
    f.l7 = {
      type: 'RESPONSE', latency_ns: 1_000_000, dns: null, kafka: null,
      http: { code: 404, method: 'get', url: '/missing/item?x=1', protocol: 'HTTP/2', headers: [] },
    };
  });
  add('frontend_v6_udp', (f) => {
    shopNode(f);
    f.ip = { source: ip6('fd000000000000000000000000000017'), destination: ip6('fd000000000000000000000000000201'), source_xlated: null, ip_version: 'IPv6', encrypted: false };
    f.l4_protocol = 17;
    f.source_port = 5353;
    f.destination_port = 5353;
    f.source = FRONTEND;
    f.destination = CART;
    f.summary = 'UDP';
  });
  add('icmp6_encrypted', (f) => {
    shopNode(f);
    f.ip = {
      source: ip6('fd000000000000000000000000000017'), destination: ip6('2a00145040010000000000000000200e'),
      source_xlated: ip6('20010db8000000000000000000000001'), ip_version: 'IPv6', encrypted: true,
    };
    f.l4_protocol = 58;
    f.icmp_type = 128;
    f.source = FRONTEND;
    f.destination = WORLD;
    f.summary = 'ICMPv6 EchoRequest';
    f.trace_observation_point = 'TO_NETWORK';
    f.event_type = { type: 4, sub_type: 11 };
  });
  add('kafka_produce', (f) => {
    shopNode(f);
    tcp(f, ['10.8.1.23', 46_000], ['10.8.3.4', 9092], TCP_FLAG.PSH | TCP_FLAG.ACK);
    f.flow_type = 'L7';
    f.source = FRONTEND;
    f.destination = KAFKA_POD;
    f.event_type = { type: 129, sub_type: 0 };
    f.summary = 'Kafka request produce correlation id 7 topic orders';
    f.l7 = {
      type: 'REQUEST', latency_ns: 0, dns: null, http: null,
      kafka: { error_code: 0, api_version: 9, api_key: 'produce', correlation_id: 7, topic: 'orders', client_id: 'checkout' },
    };
  });
  add('sctp_forward', (f) => {
    shopNode(f);
    f.ip = { source: ip4('10.8.1.23'), destination: ip4('10.8.3.9'), source_xlated: ip4('192.0.2.10'), ip_version: 'IPv4', encrypted: false };
    f.l4_protocol = 132;
    f.source_port = 36_412;
    f.destination_port = 38_412;
    f.source = FRONTEND;
    f.destination = CART;
    f.summary = 'SCTP';
  });
  add('host_to_apiserver', (f) => {
    tcp(f, ['172.18.0.2', 60_000], ['10.96.0.1', 443], TCP_FLAG.ACK);
    f.source = HOST;
    f.destination = { ...emptyEndpoint(), identity: 7, labels: ['reserved:kube-apiserver'] };
    f.destination_service = { name: 'kubernetes', namespace: 'default' };
    f.traffic_direction = 'TRAFFIC_DIRECTION_UNKNOWN';
    f.is_reply = null;
    f.node_name = 'k8s-node-1';
    f.event_type = { type: 4, sub_type: 2 };
    f.interface = null;
  });
  add('arp_frame', (f) => {
    f.ip = null;
    f.summary = 'ARP';
    f.is_reply = null;
    f.event_type = { type: 4, sub_type: 10 };
    f.trace_observation_point = 'FROM_NETWORK';
    f.interface = { index: 2, name: 'eth0' };
  });
  add('unknown_drop', (f) => {
    tcp(f, [DISNEY_IP, 443], [XWING_IP, 51_001], TCP_FLAG.ACK);
    f.source = WORLD;
    f.destination = XWING;
    f.verdict = 'DROPPED';
    f.drop_reason_desc = null;
    f.drop_reason_kernel = 'NO_SOCKET';
    f.event_type = { type: 1, sub_type: 0 };
    f.is_reply = null;
    f.traffic_direction = 'INGRESS';
  });
  add('policy_audit', (f) => {
    tcp(f, [TIEFIGHTER_IP, 43_100], [XWING_IP, 8080], TCP_FLAG.SYN);
    f.source = TIEFIGHTER;
    f.destination = XWING;
    f.verdict = 'AUDIT';
    f.event_type = { type: 5, sub_type: 0 };
    f.traffic_direction = 'INGRESS';
  });
  return out;
}

/** Names of the fixture flows, in order. */
export function fixtureNames(flows: readonly NamedFlow[]): string[] {
  return flows.map((f) => f.name);
}
