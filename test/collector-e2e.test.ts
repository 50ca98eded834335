/**
 * End to end on the real kernel and the real broker: three network-namespace "pods" (test/netns.ts) described in
 * an inventory file, the collector with the eBPF probe on their host-side interfaces, publishing to Kafka. The
 * client pod looks up web.demo.test at the DNS pod, fetches a page from the web pod, and tries a port the web
 * pod drops with iptables. Consumed back from Kafka and decoded: exactly the expected flows, with the right pods,
 * namespaces, labels, workloads, is_reply, verdicts and drop reason, DNS L7 with latency, HTTP L7 with method,
 * URL, status and latency, and destination_names filled after the DNS answer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../common/config.js';
import { collectorSpec } from '../collector/config.js';
import { createCollector, type Collector } from '../collector/index.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import { formatIpBytes } from '../collector/summary.js';
import { consumeFlows } from './collector-consume.js';
import { ensureStack, uniqueName } from './helpers.js';
import { createPodNetwork, type Pod, type PodNetwork } from './netns.js';

const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A tiny DNS server: answers A queries for the names it was given, NXDOMAIN otherwise. */
const DNS_SERVER = `
const dgram = require('node:dgram');
const names = JSON.parse(process.argv[1]);
const s = dgram.createSocket('udp4');
s.on('message', (msg, rinfo) => {
  let o = 12; const labels = [];
  while (msg[o] !== 0) { labels.push(msg.toString('latin1', o + 1, o + 1 + msg[o])); o += msg[o] + 1; }
  o += 5;
  const ip = names[labels.join('.').toLowerCase()];
  const qtype = msg.readUInt16BE(o - 4);
  const hdr = Buffer.alloc(12);
  hdr.writeUInt16BE(msg.readUInt16BE(0), 0);
  hdr.writeUInt16BE(ip ? 0x8180 : 0x8183, 2);
  hdr.writeUInt16BE(1, 4);
  const answer = ip && qtype === 1 ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, ...ip.split('.').map(Number)]) : Buffer.alloc(0);
  hdr.writeUInt16BE(answer.length ? 1 : 0, 6);
  s.send(Buffer.concat([hdr, msg.subarray(12, o), answer]), rinfo.port, rinfo.address);
});
s.bind(53, '0.0.0.0');
`;

/** Decoded records are avsc class instances: compare their plain data. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const label = (f: Flow): string => (f.l7 ? `${f.l7.dns ? 'dns' : 'http'}-${f.l7.type.toLowerCase()}` : f.verdict === 'DROPPED' ? 'DROPPED' : f.flow_event);

describe('collector end to end: real kernel, real broker', () => {
  let net: PodNetwork;
  let client: Pod, web: Pod, dns: Pod;
  let collector: Collector;
  let brokers: string[];
  let topic: string;
  let dir: string;
  let flows: Flow[] = [];

  before(async () => {
    brokers = (await ensureStack({ kafka: true })).kafkaBrokers;
    topic = uniqueName('lookback-e2e').replace(/_/g, '-');
    net = await createPodNetwork({ pods: ['client', 'web', 'dns'] });
    client = net.pod('client');
    web = net.pod('web');
    dns = net.pod('dns');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-e2e-'));
    fs.writeFileSync(path.join(dir, 'index.html'), 'hello from the web pod\n');
    fs.chmodSync(dir, 0o755);
    const inventory = path.join(dir, 'inventory.yaml');
    fs.writeFileSync(inventory, [
      'cluster: e2e',
      'namespaces:',
      '  - {name: demo, labels: {env: test}}',
      'pods:',
      `  - {namespace: demo, name: client-5f6d7c8b9-q2v9m, ips: [${client.ipv4}, "${client.ipv6}"], node: node-e2e, labels: {app: client, pod-template-hash: 5f6d7c8b9}, serviceAccount: client, owner: {kind: ReplicaSet, name: client-5f6d7c8b9}}`,
      `  - {namespace: demo, name: web-0, ips: [${web.ipv4}, "${web.ipv6}"], node: node-e2e, labels: {app: web}, workloads: [{kind: StatefulSet, name: web}]}`,
      `  - {namespace: kube-system, name: dns-1, ips: [${dns.ipv4}], node: node-e2e, labels: {k8s-app: dns}}`,
      'services:',
      `  - {namespace: demo, name: web, ips: [10.96.7.7], ports: [{port: 80, protocol: TCP, targetPort: 8080}], selector: {app: web}}`,
    ].join('\n'));

    web.spawn('http', PY, ['-m', 'http.server', '8080', '--bind', '0.0.0.0', '--directory', dir]);
    dns.spawn('dns', process.execPath, ['-e', DNS_SERVER, JSON.stringify({ 'web.demo.test': web.ipv4 })]);
    await web.run('iptables', ['-I', 'INPUT', '-p', 'tcp', '--dport', '9999', '-j', 'DROP']);
    // Servers up before capture starts: the warm-up traffic is not part of what we check.
    for (let i = 0; i < 100; i++) {
      const r = await client.exec('curl', ['-s', '-o', '/dev/null', '--max-time', '1', `http://${web.ipv4}:8080/index.html`]);
      if (r.code === 0) break;
      await sleep(100);
    }

    const cfg = parseConfig(collectorSpec, {
      node: { name: 'node-e2e', cluster: 'e2e' },
      capture: { endpointInterfaces: [`${net.id}h*`], idleTimeout: '2s', closedIdleTimeout: '300ms', sweepInterval: '300ms', activeTimeout: '0s', rescanInterval: '200ms' },
      enrichment: { source: 'inventory', inventoryFile: inventory },
      l7: { httpPorts: [8080] },
      kafka: { brokers, topic, partitions: 3, linger: '10ms' },
      observer: { port: 0 },
      metrics: { port: 0 },
    });
    collector = createCollector(cfg);
    await collector.start();
    assert.equal(collector.source.stats().interfaces, 3, 'attached to the three pods');

    // The traffic: a DNS lookup, then HTTP to the address it returned, then a blocked port.
    const answer = (await client.run('dig', ['+short', '+tries=1', '+time=2', `@${dns.ipv4}`, 'web.demo.test', 'A'])).trim();
    assert.equal(answer, web.ipv4);
    await sleep(50);
    const code = (await client.run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: web.demo.test:8080', '-A', 'lookback-e2e', `http://${answer}:8080/index.html?from=client`])).trim();
    assert.equal(code, '200');
    const blocked = await client.exec('curl', ['-sS', '--connect-timeout', '0.5', `http://${web.ipv4}:9999/`]);
    assert.notEqual(blocked.code, 0, 'the DROP rule blocks the connection');
    // Let the probe's sweeps end the connections (closed TCP after 300 ms, idle ones after 2 s).
    await sleep(3500);
    await collector.publisher!.flush(20_000);
    const sent = collector.publisher!.stats().sent;
    await collector.stop();

    const codec = await createFlowCodec({ framing: 'single-object' });
    const ours = new Set([client.ipv4, web.ipv4, dns.ipv4]);
    const all = await consumeFlows(brokers, topic, sent, codec);
    assert.equal(all.length, sent, 'everything published was consumed');
    flows = all.map((c) => c.flow).filter((f) => f.ip && ours.has(formatIpBytes(f.ip.source)) && ours.has(formatIpBytes(f.ip.destination)));
  });

  after(async () => {
    await collector?.stop();
    await net?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const between = (a: string, b: string, port: number): Flow[] => flows.filter((f) => {
    const s = formatIpBytes(f.ip!.source), d = formatIpBytes(f.ip!.destination);
    return ((s === a && d === b && f.destination_port === port) || (s === b && d === a && f.source_port === port));
  });

  test('the DNS lookup: NEW, query, answer with latency, EXPIRED; pods and labels', () => {
    const q = between(client.ipv4, dns.ipv4, 53);
    assert.deepEqual(q.map(label), ['NEW', 'dns-request', 'dns-response', 'EXPIRED'], JSON.stringify(q.map((f) => f.summary)));
    const [first, req, resp, end] = q as [Flow, Flow, Flow, Flow];
    assert.equal(first.source.pod_name, 'client-5f6d7c8b9-q2v9m');
    assert.equal(first.source.namespace, 'demo');
    assert.deepEqual(plain(first.source.workloads), [{ name: 'client', kind: 'Deployment' }]);
    assert.ok(first.source.labels.includes('k8s:app=client'));
    assert.ok(first.source.labels.includes('k8s:io.cilium.k8s.namespace.labels.env=test'));
    assert.ok(first.source.labels.includes('k8s:io.cilium.k8s.policy.cluster=e2e'));
    assert.equal(first.destination.pod_name, 'dns-1');
    assert.equal(first.destination.namespace, 'kube-system');
    assert.equal(first.is_reply, false);
    assert.equal(first.traffic_direction, 'EGRESS');
    assert.equal(first.trace_observation_point, 'FROM_ENDPOINT');
    assert.equal(first.interface?.name, client.hostIf);
    assert.equal(req.l7!.dns!.query, 'web.demo.test.');
    assert.deepEqual(req.l7!.dns!.qtypes, ['A']);
    assert.equal(req.is_reply, false);
    assert.equal(resp.is_reply, true);
    assert.equal(resp.source.pod_name, 'dns-1');
    assert.deepEqual(resp.l7!.dns!.ips.map(formatIpBytes), [web.ipv4]);
    assert.equal(resp.l7!.dns!.ttl, 30);
    assert.equal(resp.l7!.dns!.rcode, 0);
    assert.ok(resp.l7!.latency_ns > 0, 'DNS latency measured');
    assert.equal(end.packets_fwd + end.packets_rev + first.packets_fwd, 2, 'the query and the answer, each counted once');
  });

  test('the HTTP request: lifecycle, method, URL, status and latency; names from the DNS answer; the service', () => {
    const h = between(client.ipv4, web.ipv4, 8080);
    const labels = h.map(label);
    assert.deepEqual(labels.slice(0, 2), ['NEW', 'ESTABLISHED'], labels.join(','));
    assert.equal(labels.filter((l) => l === 'http-request').length, 1, labels.join(','));
    assert.equal(labels.filter((l) => l === 'http-response').length, 1, labels.join(','));
    assert.equal(labels.filter((l) => l === 'CLOSED').length, 1, labels.join(','));
    assert.ok(labels.every((l) => ['NEW', 'ESTABLISHED', 'http-request', 'http-response', 'UPDATE', 'CLOSED'].includes(l)), labels.join(','));
    const req = h.find((f) => f.l7?.type === 'REQUEST')!;
    const resp = h.find((f) => f.l7?.type === 'RESPONSE')!;
    assert.equal(req.l7!.http!.method, 'GET');
    assert.equal(req.l7!.http!.url, 'http://web.demo.test:8080/index.html?from=client');
    assert.equal(req.l7!.http!.protocol, 'HTTP/1.1');
    assert.equal(resp.l7!.http!.code, 200);
    assert.equal(resp.l7!.http!.url, req.l7!.http!.url);
    assert.ok(resp.l7!.latency_ns > 0, 'HTTP latency measured');
    assert.equal(resp.is_reply, true);
    assert.equal(resp.source.pod_name, 'web-0');
    assert.deepEqual(plain(resp.source.workloads), [{ name: 'web', kind: 'StatefulSet' }]);
    const syn = h[0]!;
    assert.equal(syn.summary, 'TCP Flags: SYN');
    assert.equal(syn.is_reply, false);
    assert.deepEqual(syn.destination_names, ['web.demo.test'], 'learnt from the DNS answer');
    assert.deepEqual(plain(syn.destination_service), { name: 'web', namespace: 'demo' });
    const synAck = h[1]!;
    assert.equal(synAck.summary, 'TCP Flags: SYN, ACK');
    assert.equal(synAck.is_reply, true);
    assert.deepEqual(synAck.source_names, ['web.demo.test']);
    assert.equal(synAck.trace_observation_point, 'TO_ENDPOINT');
    // One observation per packet although both pods' interfaces saw each: all from the client's interface.
    assert.ok(h.every((f) => f.interface?.name === client.hostIf));
    assert.ok(h.filter((f) => !f.l7).reduce((n, f) => n + f.packets_fwd + f.packets_rev, 0) >= 8);
  });

  test('the blocked connection: the SYN forwarded by the client, dropped in the web pod by policy', () => {
    const b = between(client.ipv4, web.ipv4, 9999);
    assert.deepEqual(b.map(label), ['NEW', 'DROPPED', 'EXPIRED'], JSON.stringify(b.map((f) => f.summary)));
    const drop = b[1]!;
    assert.equal(drop.verdict, 'DROPPED');
    assert.equal(drop.drop_reason_desc, 'POLICY_DENIED');
    assert.equal(drop.drop_reason_kernel, 'NETFILTER_DROP');
    assert.deepEqual(plain(drop.event_type), { type: 1, sub_type: 133 });
    assert.equal(drop.is_reply, false);
    assert.equal(drop.traffic_direction, 'INGRESS');
    assert.equal(drop.source.pod_name, 'client-5f6d7c8b9-q2v9m');
    assert.equal(drop.destination.pod_name, 'web-0');
    assert.equal(drop.summary, 'TCP Flags: SYN');
    assert.equal(b[0]!.verdict, 'FORWARDED');
  });

  test('nothing else between the pods', () => {
    assert.equal(flows.length, between(client.ipv4, dns.ipv4, 53).length + between(client.ipv4, web.ipv4, 8080).length + between(client.ipv4, web.ipv4, 9999).length);
  });
});
