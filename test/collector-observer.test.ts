/**
 * The collector's live Observer over its ring, through gRPC: GetFlows with number, first, filters and follow;
 * a reader that stops reading while the ring laps it gets a LostEvent (HUBBLE_RING_BUFFER) whose count makes the
 * books balance exactly (flows received + lost = flows written); ServerStatus, GetNodes, GetNamespaces, the
 * health service; the metrics endpoint; and the real `hubble` CLI (when scripts/setup-hubble.sh built it)
 * printing our flows with Hubble's TYPE words.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../common/config.js';
import { lookbackCacheDir } from '../common/stack/jvm.js';
import { collectorSpec } from '../collector/config.js';
import { createCollector, type Collector } from '../collector/index.js';
import { createReplaySource, type ReplaySource } from '../collector/replay-source.js';
import { ProbeSim } from '../collector/testing.js';
import { loadHubbleGrpc } from '../schemas/proto-loader.js';

const run = promisify(execFile);
type Msg = Record<string, unknown> & { flow?: Record<string, unknown>; lost_events?: Record<string, unknown> };

const A = { ip: '10.8.0.10', ifindex: 41 };
const B = { ip: '10.8.0.20', ifindex: 42 };

function hubbleBin(): string | undefined {
  const dir = lookbackCacheDir();
  try {
    for (const d of fs.readdirSync(dir).filter((x) => x.startsWith('hubble-')).sort().reverse()) {
      const bin = path.join(dir, d, 'hubble');
      if (fs.existsSync(bin)) return bin;
    }
  } catch {
    // no cache
  }
  return undefined;
}

describe('live Observer over the ring (gRPC)', () => {
  let collector: Collector;
  let source: ReplaySource;
  let sim: ProbeSim;
  let client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  let health: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  let target: string;

  /** One HTTP exchange between A and B (7 flows), and a drop. */
  function traffic(i: number): void {
    const c = sim.tcp({ ...A, port: 20000 + i }, { ...B, port: 8080 });
    c.handshake();
    c.send('client', { payload: `GET /x/${i} HTTP/1.1\r\nHost: b\r\n\r\n`, seq: 1 });
    c.send('server', { payload: 'HTTP/1.1 404 Not Found\r\n\r\n', seq: 1 });
    c.close();
    c.end();
    sim.drop({ src: A.ip, dst: B.ip, sport: 30000 + i, dport: 9999, netns: 1 });
    source.push(sim.take());
  }

  const collect = (call: grpc.ClientReadableStream<Msg>): Promise<Msg[]> => new Promise((resolve, reject) => {
    const out: Msg[] = [];
    call.on('data', (m: Msg) => out.push(m));
    call.on('end', () => resolve(out));
    call.on('error', reject);
  });
  const getFlows = (req: Record<string, unknown>): Promise<Msg[]> => collect((client['GetFlows'] as (r: unknown) => grpc.ClientReadableStream<Msg>)(req));
  const unary = <T>(c: Record<string, (...a: unknown[]) => unknown>, method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => { c[method]!(req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))); });

  before(async () => {
    sim = new ProbeSim({ payloadPorts: [8080] });
    source = createReplaySource({ interfaces: { 41: 'lxc-a', 42: 'lxc-b' }, bootTimeMs: sim.bootTimeMs, hostNetns: 99 });
    const cfg = parseConfig(collectorSpec, {
      node: { name: 'node-o', cluster: 'obs' },
      ring: { capacity: 63 },
      observer: { port: 0 },
      metrics: { port: 0, contextLabels: ['source_namespace', 'source_pod', 'destination_namespace', 'destination_pod'] },
      kafka: { enabled: false },
      l7: { httpPorts: [8080] },
      enrichment: { source: 'inventory', inventoryFile: writeInventory() },
    });
    collector = createCollector(cfg, { source });
    await collector.start();
    target = `127.0.0.1:${collector.observer!.port}`;
    const { ObserverClient, HealthClient } = loadHubbleGrpc();
    client = new ObserverClient(target, grpc.credentials.createInsecure()) as never;
    health = new HealthClient(target, grpc.credentials.createInsecure()) as never;
    for (let i = 0; i < 4; i++) traffic(i); // 4 x 8 = 32 flows
  });

  after(async () => {
    client?.close();
    health?.close();
    await collector?.stop();
  });

  test('number: the newest N, oldest first; first: the oldest N', async () => {
    const last5 = await getFlows({ number: 5 });
    assert.equal(last5.length, 5);
    const all = await getFlows({ number: 1000 });
    assert.equal(all.length, 32);
    assert.deepEqual(last5.map((m) => m.flow!['uuid']), all.slice(-5).map((m) => m.flow!['uuid']));
    const first3 = await getFlows({ number: 3, first: true });
    assert.deepEqual(first3.map((m) => m.flow!['uuid']), all.slice(0, 3).map((m) => m.flow!['uuid']));
    const since = all[20]!['time'] as { seconds: string; nanos: number };
    const ns = (t: { seconds: string; nanos: number }): bigint => BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos);
    const recent = await getFlows({ since });
    assert.ok(recent.length >= 12 && recent.length < 32, `${recent.length} flows since the 21st`);
    assert.ok(recent.every((m) => ns(m['time'] as { seconds: string; nanos: number }) >= ns(since)));
    const f = all[0]!.flow!;
    assert.equal(all[0]!['node_name'], 'obs/node-o');
    assert.equal((f['source'] as Record<string, unknown>)['pod_name'], 'a-pod');
    assert.equal(f['Summary'], 'TCP Flags: SYN');
    assert.deepEqual(f['event_type'], { type: 4, sub_type: 5 });
  });

  test('filters: whitelist OR, fields AND, blacklist NOR; field masks', async () => {
    const drops = await getFlows({ number: 100, whitelist: [{ verdict: ['DROPPED'] }] });
    assert.equal(drops.length, 4);
    assert.ok(drops.every((m) => m.flow!['verdict'] === 'DROPPED' && m.flow!['drop_reason_desc'] === 'POLICY_DENIED'));
    const l7 = await getFlows({ number: 100, whitelist: [{ event_type: [{ type: 129 }], http_status_code: ['4+'] }] });
    assert.equal(l7.length, 4, 'the 404 responses');
    const fromA = await getFlows({ number: 100, whitelist: [{ source_pod: ['shop/a-'] }], blacklist: [{ protocol: ['tcp'], tcp_flags: [{ SYN: true }] }] });
    assert.ok(fromA.length > 0 && fromA.every((m) => (m.flow!['source'] as Record<string, unknown>)['pod_name'] === 'a-pod'));
    assert.ok(fromA.every((m) => !(m.flow!['Summary'] as string).includes('SYN')));
    const masked = await getFlows({ number: 2, field_mask: { paths: ['time', 'verdict', 'Summary', 'no.such.field'] } });
    assert.equal(masked.length, 2);
    assert.equal(masked[0]!.flow!['source'], null, 'fields outside the mask are left out');
    assert.ok(masked[0]!.flow!['Summary']);
    await assert.rejects(getFlows({ whitelist: [{ http_path: ['(unclosed'] }] }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT);
  });

  test('follow: history then live flows as they come', async () => {
    const call = (client['GetFlows'] as (r: unknown) => grpc.ClientReadableStream<Msg>)({ number: 2, follow: true, whitelist: [{ source_port: ['20100'] }, { verdict: ['DROPPED'] }] });
    const got: Msg[] = [];
    call.on('data', (m: Msg) => got.push(m));
    call.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got.length, 2, 'the 2 newest matching (drops)');
    traffic(100);
    for (let i = 0; i < 100 && got.length < 2 + 5; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    call.cancel();
    // New: the events of connection 100 oriented from its client port (NEW, REQUEST, first FIN, the final
    // counters) and the drop.
    assert.equal(got.length, 7, JSON.stringify(got.map((m) => m.flow?.['Summary'])));
  });

  test('a reader that stops reading gets a LostEvent, and received + lost = written', async () => {
    const startSeq = collector.ring.next;
    const call = (client['GetFlows'] as (r: unknown) => grpc.ClientReadableStream<Msg>)({ follow: true });
    const got: Msg[] = [];
    call.on('data', (m: Msg) => got.push(m));
    call.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    call.pause();
    const N = 400;
    for (let i = 0; i < N; i++) traffic(1000 + i); // 3200 flows with big labels: far beyond the window and the ring
    const written = collector.ring.next - startSeq;
    await new Promise((r) => setTimeout(r, 300));
    call.resume();
    const deadline = Date.now() + 10_000;
    const count = (): { flows: number; lost: number } => ({
      flows: got.filter((m) => m.flow).length,
      lost: got.filter((m) => m.lost_events).reduce((n, m) => n + Number(m.lost_events!['num_events_lost']), 0),
    });
    while (Date.now() < deadline && count().flows + count().lost < written) await new Promise((r) => setTimeout(r, 50));
    call.cancel();
    const lostMsgs = got.filter((m) => m.lost_events);
    assert.ok(lostMsgs.length >= 1, 'at least one LostEvent');
    assert.equal(lostMsgs[0]!.lost_events!['source'], 'HUBBLE_RING_BUFFER');
    assert.equal(count().flows + count().lost, written, `received ${count().flows} + lost ${count().lost} = written ${written}`);
  });

  test('ServerStatus, GetNodes, GetNamespaces and the health check hubble status needs', async () => {
    const st = await unary<Record<string, unknown>>(client, 'ServerStatus', {});
    assert.equal(st['max_flows'], '63');
    assert.equal(st['num_flows'], '63');
    assert.equal(Number(st['seen_flows']), collector.ring.total);
    assert.deepEqual(st['num_connected_nodes'], { value: 1 });
    const nodes = await unary<{ nodes: Record<string, unknown>[] }>(client, 'GetNodes', {});
    assert.equal(nodes.nodes[0]!['name'], 'obs/node-o');
    assert.equal(nodes.nodes[0]!['state'], 'NODE_CONNECTED');
    const ns = await unary<{ namespaces: Record<string, unknown>[] }>(client, 'GetNamespaces', {});
    assert.deepEqual(ns.namespaces.map((n) => n['namespace']), ['shop']);
    const h = await unary<Record<string, unknown>>(health, 'Check', { service: 'hubble.server.Observer' });
    assert.equal(h['status'], 'SERVING');
  });

  test('metrics: Hubble families with context labels and the collector health', async () => {
    const text = await (await fetch(`http://127.0.0.1:${collector.metrics!.port}/metrics`)).text();
    assert.match(text, /hubble_flows_processed_total\{type="Trace",subtype="from-endpoint",verdict="FORWARDED",source_namespace="shop",source_pod="a-pod",destination_namespace="shop",destination_pod="b-pod"\} \d+/);
    assert.match(text, /hubble_drop_total\{reason="POLICY_DENIED",protocol="TCP",source_namespace="shop",source_pod="a-pod",destination_namespace="shop",destination_pod="b-pod"\} 405/);
    assert.match(text, /hubble_http_responses_total\{method="GET",protocol="HTTP\/1.1",status="404",reporter="client",/);
    assert.match(text, /hubble_http_request_duration_seconds_bucket\{method="GET",reporter="client",.*le="\+Inf"\} 405/);
    assert.match(text, /hubble_tcp_flags_total\{flag="SYN-ACK",family="IPv4"\} 405/);
    assert.match(text, /hubble_tcp_flags_total\{flag="SYN",family="IPv4"\} 810/, 'the SYNs forwarded and the SYNs dropped');
    assert.match(text, /hubble_port_distribution_total\{protocol="TCP",port="8080"\} \d+/);
    assert.match(text, /lookback_collector_queue_depth 0/);
    assert.match(text, /lookback_collector_kernel_lost_total 0/);
    assert.match(text, /lookback_collector_duplicate_observations_total \d+/);
    // A deleted pod's series go away at once.
    collector.store.deletePod('shop', 'a-pod');
    const after = await (await fetch(`http://127.0.0.1:${collector.metrics!.port}/metrics`)).text();
    assert.doesNotMatch(after, /source_pod="a-pod"/);
    assert.match(after, /hubble_tcp_flags_total/);
  });

  test('the real hubble CLI prints our flows with Hubble\'s TYPE words', async (t) => {
    const bin = hubbleBin();
    if (!bin) {
      t.skip('the hubble CLI is not built (bash scripts/setup-hubble.sh)');
      return;
    }
    const status = await run(bin, ['status', '--server', target], { timeout: 20_000 });
    assert.match(status.stdout, /Healthcheck \(via .*\): Ok/);
    assert.match(status.stdout, /Current\/Max Flows: 63\/63/);
    traffic(5000);
    const out = await run(bin, ['observe', '--server', target, '--last', '8', '-o', 'compact'], { timeout: 20_000 });
    const lines = out.stdout.trim().split('\n');
    assert.equal(lines.length, 8, out.stdout);
    assert.ok(lines.some((l) => / from-endpoint FORWARDED \(TCP Flags: SYN\)$/.test(l)), out.stdout);
    assert.ok(lines.some((l) => / to-endpoint FORWARDED \(TCP Flags: SYN, ACK\)$/.test(l)), out.stdout);
    assert.ok(lines.some((l) => /http-request FORWARDED \(HTTP\/1.1 GET http:\/\/b\/x\/5000\)/.test(l)), out.stdout);
    assert.ok(lines.some((l) => /http-response FORWARDED \(HTTP\/1.1 404 \d+ms \(GET http:\/\/b\/x\/5000\)\)/.test(l)), out.stdout);
    assert.ok(lines.some((l) => /Policy denied DROPPED \(TCP Flags: SYN\)/.test(l)), out.stdout);
    assert.ok(lines.some((l) => l.includes('-> shop/b-pod:8080') && l.includes('from-endpoint')), `endpoint text: ${out.stdout}`);
    assert.ok(lines.some((l) => l.includes('<- shop/b-pod:8080') && l.includes('to-endpoint')), 'replies print as <-');
    const dropped = await run(bin, ['observe', '--server', target, '--last', '100', '--verdict', 'DROPPED', '-o', 'json'], { timeout: 20_000 });
    assert.ok(dropped.stdout.trim().split('\n').every((l) => JSON.parse(l).flow.verdict === 'DROPPED'));
  });
});

function writeInventory(): string {
  const file = path.join(fs.mkdtempSync(path.join(process.env['TMPDIR'] ?? '/tmp', 'lookback-obs-')), 'inventory.yaml');
  fs.writeFileSync(file, [
    'pods:',
    `  - {namespace: shop, name: a-pod, ips: [${A.ip}], node: node-o, labels: {app: a}}`,
    `  - {namespace: shop, name: b-pod, ips: [${B.ip}], node: node-o, labels: {app: b}}`,
  ].join('\n'));
  return file;
}

