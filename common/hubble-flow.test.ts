import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageCodec } from '../schemas/proto-loader.js';
import { TCP_FLAG } from '../schemas/flow-types.js';
import { sampleFlows, typicalFlow } from '../test/fixtures/sample-flows.js';
import { createFieldMask, nodeNameOf, toHubbleFlow } from './hubble-flow.js';

type Obj = Record<string, unknown>;
const codec = messageCodec('flow.Flow');
const roundTrip = (o: object): Obj => codec.decode(codec.encode(o));

test('a TCP flow becomes Hubble’s flow.Flow: time, endpoints, l4 oneof, flags, is_reply, Summary', () => {
  const f = typicalFlow(7);
  f.tcp_flags = TCP_FLAG.SYN | TCP_FLAG.ACK;
  const h = roundTrip(toHubbleFlow(f));
  assert.deepEqual(h['time'], { seconds: String(f.time_ns / 1_000_000_000n), nanos: Number(f.time_ns % 1_000_000_000n) });
  assert.match(h['uuid'] as string, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(h['verdict'], 'FORWARDED');
  assert.equal(h['Type'], 'L3_L4');
  assert.equal(h['node_name'], 'prod-eu1/worker-3');
  assert.deepEqual(h['IP'], { source: '10.244.1.23', source_xlated: '', destination: '10.244.2.1', ipVersion: 'IPv4', encrypted: false });
  const l4 = h['l4'] as Obj;
  assert.equal(l4['protocol'], 'TCP');
  const tcp = l4['TCP'] as Obj;
  assert.equal(tcp['destination_port'], 8080);
  assert.equal((tcp['flags'] as Obj)['SYN'], true);
  assert.equal((tcp['flags'] as Obj)['ACK'], true);
  assert.equal((tcp['flags'] as Obj)['FIN'], false);
  assert.deepEqual(h['is_reply'], { value: false });
  assert.equal((h['source'] as Obj)['pod_name'], 'frontend-7d9c8b6f5-x2x7k');
  assert.deepEqual((h['source'] as Obj)['workloads'], [{ name: 'frontend', kind: 'Deployment' }]);
  assert.deepEqual(h['destination_service'], { name: 'cart', namespace: 'shop' });
  assert.deepEqual(h['event_type'], { type: 4, sub_type: 3 });
  assert.equal(h['trace_observation_point'], 'TO_STACK');
  assert.deepEqual(h['interface'], { index: 17, name: 'lxc5a3e1f2b9c' });
  assert.equal(h['socket_cookie'], '81237');
  assert.equal(h['Summary'], f.summary);
  assert.equal((h['ethernet'] as Obj)['source'], '0a:58:0a:f4:01:17');
});

test('drops, DNS, HTTP, Kafka and ICMPv6 records keep their Hubble shape', () => {
  const [, drop, dns, http, kafka, icmp6] = sampleFlows();
  const d = roundTrip(toHubbleFlow(drop!));
  assert.equal(d['verdict'], 'DROPPED');
  assert.equal(d['drop_reason_desc'], 'POLICY_DENIED');
  assert.equal(d['drop_reason'], 133);
  assert.equal(d['is_reply'], null, 'an unknown direction stays absent, not false');
  const n = roundTrip(toHubbleFlow(dns!));
  const l7 = n['l7'] as Obj;
  assert.equal(l7['record'], 'dns');
  assert.equal(l7['type'], 'RESPONSE');
  assert.equal(l7['latency_ns'], '812345');
  assert.deepEqual((l7['dns'] as Obj)['ips'], ['93.184.216.34', '2606:2800:220:1:248:1893:1925:c946']);
  assert.equal((n['l4'] as Obj)['protocol'], 'UDP');
  const h = roundTrip(toHubbleFlow(http!));
  assert.equal(((h['l7'] as Obj)['http'] as Obj)['code'], 200);
  assert.deepEqual(((h['l7'] as Obj)['http'] as Obj)['headers'], [{ key: 'user-agent', value: 'curl/8.5.0' }, { key: 'x-request-id', value: 'zß水🚀' }]);
  assert.equal(((roundTrip(toHubbleFlow(kafka!))['l7'] as Obj)['kafka'] as Obj)['api_key'], 'produce');
  const i = roundTrip(toHubbleFlow(icmp6!));
  assert.equal((i['l4'] as Obj)['protocol'], 'ICMPv6');
  assert.deepEqual((i['IP'] as Obj)['source_xlated'], '2001:db8::1');
  assert.equal((i['IP'] as Obj)['encrypted'], true);
});

test('a flow without IP header has no IP and no l4', () => {
  const f = typicalFlow(1);
  f.ip = null;
  f.l4_protocol = 0;
  const h = roundTrip(toHubbleFlow(f));
  assert.equal(h['IP'], null);
  assert.equal(h['l4'], null);
});

test('node names are cluster/node when the cluster is known', () => {
  assert.equal(nodeNameOf({ node_name: 'n1', cluster_name: 'c' }), 'c/n1');
  assert.equal(nodeNameOf({ node_name: 'n1', cluster_name: '' }), 'n1');
  assert.equal(nodeNameOf({ node_name: 'c2/n1', cluster_name: 'c' }), 'c2/n1');
});

test('field masks keep what is asked, ignore unknown paths, and keep DNS names with IP', () => {
  const h = toHubbleFlow(typicalFlow(2));
  assert.equal(createFieldMask([]).active, false);
  assert.equal(createFieldMask(null).apply(h), h);
  const m = createFieldMask(['Summary', 'source.pod_name', 'l4', 'bogus', 'source.bogus.deeper', 'IP']);
  const out = roundTrip(m.apply(h));
  assert.equal(out['Summary'], h.Summary);
  assert.equal((out['source'] as Obj)['pod_name'], h.source.pod_name);
  assert.equal((out['source'] as Obj)['namespace'], '');
  assert.equal(out['verdict'], 'VERDICT_UNKNOWN');
  assert.equal(((out['l4'] as Obj)['TCP'] as Obj)['destination_port'], 8080);
  assert.ok(Object.hasOwn(m.apply(h), 'destination_names'));
});
