import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Flow } from '../schemas/flow-types.js';
import { DnsCache } from './enrich/dns-cache.js';
import { createEndpointStore } from './enrich/store.js';
import { FlowBuilder } from './flow-builder.js';
import { InterfaceTable } from './interfaces.js';
import { dnsMessage, ProbeSim, TCP } from './testing.js';

const A = { ip: '10.1.0.10', ifindex: 11 };
const B = { ip: '10.1.0.20', ifindex: 12 };
const DNS = { ip: '10.1.0.53', ifindex: 13 };

function setup(opts: { endpointIfs?: Record<number, string> } = {}) {
  const store = createEndpointStore({ nodeName: 'node-1', cluster: 'test', hostIps: ['10.1.0.1'] });
  store.upsertNamespace({ name: 'shop', labels: { team: 'web' } });
  store.upsertPod({ namespace: 'shop', name: 'a-1', ips: [A.ip], labels: { app: 'a' }, node: 'node-1', workloads: [{ name: 'a', kind: 'Deployment' }] });
  store.upsertPod({ namespace: 'shop', name: 'b-1', ips: [B.ip], labels: { app: 'b' }, node: 'node-1', workloads: [] });
  store.upsertPod({ namespace: 'kube-system', name: 'dns-1', ips: [DNS.ip], labels: { app: 'dns' }, node: 'node-1', workloads: [] });
  store.upsertService({ namespace: 'shop', name: 'b', ips: ['10.96.0.20'], ports: [{ port: 80, proto: 6, targetPort: 8080 }], selector: { app: 'b' } });
  const names = opts.endpointIfs ?? { 11: 'lxc-a', 12: 'lxc-b', 13: 'lxc-dns', 2: 'eth0' };
  const dnsCache = new DnsCache({ maxEntries: 100, maxNamesPerIp: 4, minTtlMs: 0, maxTtlMs: 3_600_000 });
  const sim = new ProbeSim({ payloadPorts: [53, 8080, 9092] });
  const builder = new FlowBuilder({
    nodeName: 'node-1', cluster: 'test', nodeLabels: ['zone=a'], emitterVersion: '0.1.0',
    l7: { dnsPorts: [53], httpPorts: [8080], kafkaPorts: [9092], httpHeaders: ['User-Agent'], pendingTimeoutMs: 30_000, maxPending: 1000 },
    connectionTableSize: 1024, endedGraceMs: 15_000, connectionIdleMs: 600_000,
  }, {
    interfaces: new InterfaceTable((i) => names[i] ?? '', ['eth*']),
    resolver: store,
    dnsCache,
    bootTimeNs: BigInt(sim.bootTimeMs) * 1_000_000n,
    hostNetns: 4026531840,
  });
  const run = (): Flow[] => {
    const out: Flow[] = [];
    builder.process(sim.take(), out, sim.time());
    return out;
  };
  return { store, sim, builder, run, dnsCache };
}

const l34 = (flows: Flow[]): Flow[] => flows.filter((f) => f.flow_type === 'L3_L4');
const sum = (flows: Flow[], k: 'bytes_fwd' | 'bytes_rev' | 'packets_fwd' | 'packets_rev'): number => flows.reduce((n, f) => n + f[k], 0);

describe('flow builder', () => {
  test('an HTTP connection between two pods of the node: one observation per packet, state changes, L7, exact deltas', () => {
    const { sim, run, builder } = setup();
    const c = sim.tcp({ ...A, port: 40000 }, { ...B, port: 8080 });
    c.handshake();
    sim.tick(2);
    c.send('client', { payload: 'GET /cart?id=7 HTTP/1.1\r\nHost: b.shop\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n', seq: 1 });
    sim.tick(5);
    c.send('server', { payload: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', seq: 1 });
    const totals = c.totals()!;
    c.close();
    const final = { ...c.totals()! };
    c.end('idle');
    const flows = run();

    const events = flows.map((f) => (f.l7 ? `L7:${f.l7.type}` : f.flow_event));
    assert.deepEqual(events, ['NEW', 'ESTABLISHED', 'L7:REQUEST', 'L7:RESPONSE', 'UPDATE', 'CLOSED', 'UPDATE']);
    assert.ok(sim.secondInterface > 0, 'the server pod interface saw the same packets (the probe does not report them again)');
    assert.equal(builder.stats.duplicates, 0);
    assert.ok(totals.bytesOrig > 0);

    const [syn, synAck, req, resp, fin1, fin2, last] = flows as [Flow, Flow, Flow, Flow, Flow, Flow, Flow];
    assert.equal(syn.summary, 'TCP Flags: SYN');
    assert.equal(syn.is_reply, false);
    assert.equal(syn.trace_observation_point, 'FROM_ENDPOINT');
    assert.deepEqual({ ...syn.event_type }, { type: 4, sub_type: 5 });
    assert.equal(syn.traffic_direction, 'EGRESS');
    assert.equal(syn.trace_reason, 'NEW');
    assert.equal(syn.source.pod_name, 'a-1');
    assert.equal(syn.destination.pod_name, 'b-1');
    assert.equal(syn.source.namespace, 'shop');
    assert.ok(syn.source.labels.includes('k8s:app=a'));
    assert.ok(syn.source.labels.includes('k8s:io.cilium.k8s.namespace.labels.team=web'));
    assert.deepEqual(syn.source.workloads, [{ name: 'a', kind: 'Deployment' }]);
    assert.deepEqual(syn.destination_service, { name: 'b', namespace: 'shop' }, 'a backend of service b (selector, targetPort)');
    assert.equal(syn.interface?.name, 'lxc-a');
    assert.equal(syn.node_name, 'node-1');
    assert.deepEqual(syn.node_labels, ['zone=a']);
    assert.equal(syn.verdict, 'FORWARDED');
    assert.equal(syn.uuid.length, 16);
    assert.equal(syn.uuid[6]! >> 4, 7, 'uuid v7');

    assert.equal(synAck.summary, 'TCP Flags: SYN, ACK');
    assert.equal(synAck.is_reply, true);
    assert.equal(synAck.trace_reason, 'REPLY');
    assert.equal(synAck.source.pod_name, 'b-1', 'a reply is oriented like its packet');
    assert.equal(synAck.trace_observation_point, 'TO_ENDPOINT');
    assert.deepEqual({ ...synAck.event_type }, { type: 4, sub_type: 0 });
    assert.equal(synAck.traffic_direction, 'EGRESS', 'the connection direction, from the local initiator');

    assert.equal(req.l7?.http?.method, 'GET');
    assert.equal(req.l7?.http?.url, 'http://b.shop/cart?id=7');
    assert.equal(req.l7?.http?.protocol, 'HTTP/1.1');
    assert.deepEqual(req.l7?.http?.headers, [{ key: 'User-Agent', value: 'curl/8' }]);
    assert.equal(req.summary, 'HTTP/1.1 GET http://b.shop/cart?id=7');
    assert.deepEqual({ ...req.event_type }, { type: 129, sub_type: 0 });
    assert.equal(req.flow_type, 'L7');
    assert.equal(resp.l7?.http?.code, 200);
    assert.equal(resp.l7?.http?.method, 'GET');
    assert.equal(resp.is_reply, true);
    assert.equal(resp.l7?.latency_ns, 5_050_000, 'from the request packet to the response packet');
    assert.equal(resp.summary, 'HTTP/1.1 200 5ms (GET http://b.shop/cart?id=7)');

    assert.equal(fin1.summary, 'TCP Flags: ACK, FIN');
    assert.equal(fin2.flow_event, 'CLOSED');
    assert.equal(fin2.is_reply, true);
    assert.equal(last.packets_fwd + last.packets_rev, 1, 'the final ACK, counted once at the end');

    // Every packet counted exactly once over the connection's events (fwd/rev follow each event's orientation).
    const orig = l34(flows).reduce((n, f) => n + (f.is_reply ? f.bytes_rev : f.bytes_fwd), 0);
    const reply = l34(flows).reduce((n, f) => n + (f.is_reply ? f.bytes_fwd : f.bytes_rev), 0);
    assert.deepEqual([orig, reply], [final.bytesOrig, final.bytesReply]);
    assert.equal(sum(l34(flows), 'packets_fwd') + sum(l34(flows), 'packets_rev'), final.packetsOrig + final.packetsReply);
    assert.equal(builder.conns.get(6, A.ip, 40000, B.ip, 8080)?.ended, true);
  });

  test('DNS over UDP: request and response paired with latency; the answer names the address in later flows', () => {
    const { sim, run, dnsCache } = setup();
    const q = sim.udp({ ...A, port: 51000 }, { ...DNS, port: 53 });
    q.send('client', { payload: dnsMessage({ id: 7, name: 'b.shop.svc' }) });
    sim.tick(3);
    q.send('server', { payload: dnsMessage({ id: 7, name: 'b.shop.svc', response: true, answers: [{ cname: 'b-real.shop.svc', ttl: 300 }, { ip: B.ip, ttl: 30 }] }) });
    q.end('idle');
    const flows = run();
    assert.deepEqual(flows.map((f) => (f.l7 ? `L7:${f.l7.type}` : f.flow_event)), ['NEW', 'L7:REQUEST', 'L7:RESPONSE', 'EXPIRED']);
    const [newFlow, req, resp, expired] = flows as [Flow, Flow, Flow, Flow];
    assert.equal(newFlow.summary, 'UDP');
    assert.equal(req.l7?.dns?.query, 'b.shop.svc.');
    assert.deepEqual(req.l7?.dns?.qtypes, ['A']);
    assert.equal(req.summary, 'DNS Query b.shop.svc. A');
    const dns = resp.l7!.dns!;
    assert.equal(dns.rcode, 0);
    assert.equal(dns.ttl, 30);
    assert.deepEqual(dns.cnames, ['b-real.shop.svc.']);
    assert.deepEqual(dns.rrtypes, ['CNAME', 'A']);
    assert.deepEqual(dns.ips.map((b) => [...b].join('.')), [B.ip]);
    assert.equal(dns.observation_source, 'lookback');
    assert.equal(resp.l7!.latency_ns, 3_050_000);
    assert.equal(resp.summary, `DNS Answer "${B.ip}" CNAMEs: "b-real.shop.svc." TTL: 30 (Query b.shop.svc. A)`);
    assert.equal(resp.source.pod_name, 'dns-1');
    assert.equal(newFlow.packets_fwd, 1);
    assert.equal(expired.packets_fwd, 0);
    assert.equal(expired.packets_rev, 1, 'the answer is counted in the final event of a connectionless flow');
    assert.deepEqual(dnsCache.names(B.ip, sim.time()), ['b.shop.svc']);

    const c = sim.tcp({ ...A, port: 40001 }, { ...B, port: 8080 });
    c.send('client', { flags: TCP.SYN });
    const [after] = run();
    assert.deepEqual(after!.destination_names, ['b.shop.svc']);
    assert.deepEqual(after!.source_names, []);
    sim.tick(31_000);
    c.send('client', { flags: TCP.RST });
    const [late] = run();
    assert.equal(late!.flow_event, 'RESET');
    assert.deepEqual(late!.destination_names, [], 'the name expired with its TTL');
  });

  test('several requests in flight on one connection: paired by id in any order, a repeated id replaced, the rest expire', () => {
    const { sim, run, builder } = setup();
    const q = sim.udp({ ...A, port: 51001 }, { ...DNS, port: 53 });
    const ask = (id: number): void => q.send('client', { payload: dnsMessage({ id, name: `n${id}.shop.svc` }) });
    const answer = (id: number): void => q.send('server', { payload: dnsMessage({ id, name: `n${id}.shop.svc`, response: true, answers: [{ ip: B.ip, ttl: 30 }] }) });
    ask(1);
    sim.tick(1);
    ask(2);
    sim.tick(1);
    ask(3);
    sim.tick(1);
    ask(2); // asked again: the later request is the one answered
    assert.equal(builder.l7.pending, 0, 'nothing is remembered before the batch is processed');
    run();
    assert.equal(builder.l7.pending, 3);
    sim.tick(1);
    answer(3);
    answer(1);
    answer(2);
    answer(2); // its request was taken already
    const responses = run().filter((f) => f.l7?.type === 'RESPONSE');
    assert.deepEqual(responses.map((f) => f.l7!.dns!.query), ['n3.shop.svc.', 'n1.shop.svc.', 'n2.shop.svc.', 'n2.shop.svc.']);
    const ms = responses.map((f) => Math.round(f.l7!.latency_ns / 1e6));
    assert.deepEqual(ms, [2, 4, 1, 0]);
    assert.equal(builder.l7.stats.unmatched, 1);
    assert.equal(builder.l7.pending, 0);

    ask(4);
    ask(5);
    run();
    assert.equal(builder.l7.pending, 2);
    sim.tick(31_000);
    builder.maintain(sim.time());
    assert.equal(builder.l7.pending, 0, 'both expired');
    assert.equal(builder.l7.stats.expired, 2);
    answer(5);
    assert.equal(run().find((f) => f.l7?.type === 'RESPONSE')!.l7!.latency_ns, 0, 'the request expired: unmatched');
    ask(6);
    ask(7);
    run();
    assert.equal(builder.l7.pending, 2);
    q.end('idle');
    run();
    assert.equal(builder.l7.pending, 0, 'the connection ended: its requests went with it');
  });

  test('a drop in the destination pod: DROPPED with the Cilium reason, the kernel reason and Hubble\'s drop event type', () => {
    const { sim, run } = setup();
    const c = sim.tcp({ ...A, port: 40002 }, { ...B, port: 9999 });
    c.send('client', { flags: TCP.SYN });
    sim.drop({ src: A.ip, dst: B.ip, sport: 40002, dport: 9999, reasonName: 'NETFILTER_DROP', netns: 4026532999, ifindex: 2, pktLen: 60 });
    const [syn, drop] = run() as [Flow, Flow];
    assert.equal(syn.flow_event, 'NEW');
    assert.equal(drop.verdict, 'DROPPED');
    assert.equal(drop.drop_reason_desc, 'POLICY_DENIED');
    assert.equal(drop.drop_reason_kernel, 'NETFILTER_DROP');
    assert.deepEqual({ ...drop.event_type }, { type: 1, sub_type: 133 });
    assert.equal(drop.is_reply, false);
    assert.equal(drop.traffic_direction, 'INGRESS');
    assert.equal(drop.interface, null, 'the device was inside the pod');
    assert.equal(drop.summary, 'TCP Flags: SYN');
    assert.equal(drop.bytes_fwd, 60);
    assert.equal(drop.packets_fwd, 1);
    assert.equal(drop.trace_observation_point, 'UNKNOWN_POINT');
    assert.equal(drop.destination.pod_name, 'b-1');
  });

  test('a client outside the node: the pod accepted it (INGRESS), seen at to-endpoint first', () => {
    const { sim, run } = setup();
    const c = sim.tcp({ ip: '192.0.2.7', port: 50000 }, { ...B, port: 8080 });
    c.handshake();
    const [syn, synAck] = run() as [Flow, Flow];
    assert.equal(syn.traffic_direction, 'INGRESS');
    assert.equal(syn.trace_observation_point, 'TO_ENDPOINT');
    assert.deepEqual(syn.source.labels, ['reserved:world']);
    assert.equal(syn.source.identity, 2);
    assert.equal(synAck.trace_observation_point, 'FROM_ENDPOINT');
    assert.equal(synAck.is_reply, true);
  });

  test('an uplink interface: from-network and to-network observation points', () => {
    const { sim, run } = setup();
    const c = sim.tcp({ ip: '192.0.2.7', port: 50001, ifindex: 2 }, { ip: '10.1.0.1', port: 22 });
    c.handshake();
    const [syn, synAck] = run() as [Flow, Flow];
    assert.equal(syn.trace_observation_point, 'FROM_NETWORK');
    assert.deepEqual({ ...syn.event_type }, { type: 4, sub_type: 10 });
    assert.equal(syn.traffic_direction, 'INGRESS');
    assert.deepEqual(syn.destination.labels, ['reserved:host']);
    assert.equal(synAck.trace_observation_point, 'TO_NETWORK');
  });

  test('periodic updates carry deltas; a restarted kernel entry starts counting from zero', () => {
    const { sim, run } = setup();
    const c = sim.tcp({ ...A, port: 40003 }, { ip: '192.0.2.9', port: 443 });
    c.handshake();
    run();
    for (let i = 0; i < 10; i++) c.send('client', { payload: 'x'.repeat(100), payloadLength: 1000 });
    c.active();
    const [u1] = run();
    assert.equal(u1!.flow_event, 'UPDATE');
    assert.equal(u1!.packets_fwd, 11, "the handshake's last ACK and 10 data segments");
    assert.equal(u1!.bytes_fwd, 52 + 10 * (1000 + 52));
    c.send('server', { payload: 'y', payloadLength: 500 });
    c.active('server');
    const [u2] = run();
    assert.equal(u2!.is_reply, true);
    assert.equal(u2!.packets_fwd, 1);
    assert.equal(u2!.bytes_fwd, 552);
    assert.equal(u2!.packets_rev, 0);
    // The kernel entry was evicted and created again mid-connection: NEW with counters from zero.
    c.end('flush');
    run();
    c.send('client', { payload: 'z', payloadLength: 10 });
    const [again] = run();
    assert.equal(again!.flow_event, 'NEW');
    assert.equal(again!.bytes_fwd, 62);
  });

  test("a kernel entry made again at the other pod's interface takes the connection over; a late report of a non-owner is ignored", () => {
    const { sim, run, builder } = setup();
    const c = sim.tcp({ ...A, port: 40009 }, { ...B, port: 8080 });
    c.handshake();
    const first = run();
    assert.deepEqual(first.map((f) => [f.flow_event, f.interface?.name]), [['NEW', 'lxc-a'], ['ESTABLISHED', 'lxc-a']]);
    // The owner's entry (lxc-a) was evicted; the next packet, the server's, reached lxc-b first: a new entry there,
    // counting from zero.
    const again = sim.tcp({ ip: A.ip, port: 40009 }, { ...B, port: 8080 });
    again.send('server', { payloadLength: 300 });
    const [taken] = run() as [Flow];
    assert.equal(taken.flow_event, 'NEW');
    assert.equal(taken.interface?.name, 'lxc-b');
    assert.equal(taken.is_reply, true);
    assert.equal(taken.bytes_fwd, 300 + 52);
    assert.equal(builder.conns.get(6, A.ip, 40009, B.ip, 8080)?.owner, B.ifindex);
    // A report from lxc-a (no longer the owner) that is not a new entry: not a flow, counted.
    const before = builder.stats.duplicates;
    c.active();
    assert.deepEqual(run(), []);
    assert.equal(builder.stats.duplicates, before + 1);
    again.send('client', { payloadLength: 10 });
    again.active();
    const [upd] = run() as [Flow];
    assert.equal(upd.interface?.name, 'lxc-b');
    assert.equal(upd.packets_fwd, 1, 'counted from the new entry only');
  });

  test('Kafka: request header and topic, response paired by correlation id; segments inside a message are not parsed', () => {
    const { sim, run, builder } = setup();
    const c = sim.tcp({ ...A, port: 40005 }, { ...B, port: 9092 });
    c.handshake();
    run();
    const str16 = (s: string): Buffer => Buffer.concat([Buffer.from([0, s.length]), Buffer.from(s)]);
    const body = Buffer.concat([Buffer.from([0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 1]), str16('orders'), Buffer.alloc(200, 1)]);
    const head = Buffer.concat([Buffer.from([0, 0, 0, 7, 0, 0, 0, 42]), str16('app-1')]);
    const req = Buffer.concat([Buffer.alloc(4), head, body]);
    req.writeInt32BE(1196, 0); // a 1200-byte request in two segments
    c.send('client', { payload: req.subarray(0, 120), payloadLength: 600, seq: 1000 });
    // The second segment starts inside the request, yet begins like a plausible header: not parsed.
    c.send('client', { payload: Buffer.concat([Buffer.from([0, 0, 0, 50, 0, 3, 0, 1]), Buffer.alloc(60)]), payloadLength: 600, seq: 1600 });
    sim.tick(4);
    c.send('server', { payload: Buffer.from([0, 0, 0, 20, 0, 0, 0, 42, 0, 0]), seq: 500 });
    const l7 = run().filter((f) => f.l7);
    assert.equal(l7.length, 2);
    const [rq, rs] = l7 as [Flow, Flow];
    assert.deepEqual({ ...rq.l7!.kafka! }, { error_code: 0, api_version: 7, api_key: 'produce', correlation_id: 42, topic: 'orders', client_id: 'app-1' });
    assert.equal(rq.summary, "Kafka request produce correlation id 42 topic 'orders'");
    assert.equal(rs.l7!.type, 'RESPONSE');
    assert.equal(rs.l7!.kafka!.topic, 'orders');
    assert.equal(rs.l7!.latency_ns, 4_100_000);
    assert.equal(builder.l7.stats.malformed.kafka + builder.l7.stats.truncated.kafka, 0);
  });

  test('kernel losses become notices; unknown and truncated L7 payloads are counted, not fatal', () => {
    const { sim, run, builder } = setup();
    sim.emit({ kind: 'lost', timeNs: sim.nowNs, lost: 42 });
    const c = sim.tcp({ ...A, port: 40004 }, { ...B, port: 8080 });
    c.handshake();
    c.send('client', { payload: 'GET /a-very-long-url-without-end', seq: 5 });
    c.send('client', { payload: 'GET /a-very-long-url-without-end', seq: 5 });
    c.send('client', { payload: 'binary\x00body', seq: 99 });
    run();
    assert.equal(builder.stats.kernelLost, 42);
    assert.equal(builder.lost.length, 1);
    assert.equal(builder.lost[0]!.count, 42);
    assert.equal(builder.l7.stats.truncated.http, 1);
    assert.equal(builder.l7.stats.retransmits, 1);
    assert.equal(builder.l7.stats.parsed.http, 0);
  });
});
