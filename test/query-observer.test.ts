/**
 * Hubble's Observer API over history stored the production way (Kafka, then ingest): GetFlows semantics (number with and without first, since, until,
 * filters, field masks, node_name and time on every response), ServerStatus, GetNodes, GetNamespaces, the health
 * service; hostile requests and the error each one gets; and the unmodified hubble CLI against our server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadHubbleGrpc, timestampFromNanos } from '../schemas/proto-loader.js';
import { formatUuid } from '../schemas/flow-types.js';
import { freshDatabase, insertFlows, type TestDatabase } from './query-db.js';
import { storeThroughIngest } from './query-ingest.js';
import { queryFixture, type NamedFlow } from './query-fixture.js';
import { COMPACT_LINE, HUBBLE_MISSING, collectFlows, hubbleBinary, observerClient, startTestApi, unaryCall } from './query-helpers.js';
import { startQueryApi, type QueryApi } from '../query-api/index.js';
import { queryApiSpec } from '../query-api/config.js';
import { parseConfig } from '../common/config.js';
import { silentLogger } from '../common/log.js';

const run = promisify(execFile);
type Obj = Record<string, unknown>;

describe('Observer gRPC over history', () => {
  let db: TestDatabase;
  let api: QueryApi;
  let client: ReturnType<typeof observerClient>;
  // Twenty minutes ago, on a whole second: `--since 1h` covers the fixture, and times are easy to reason about.
  const t0 = (BigInt(Math.floor(Date.now() / 1000)) - 1200n) * 1_000_000_000n;
  const fixture: NamedFlow[] = queryFixture(t0);
  const names = fixture.map((f) => f.name);
  const nameOf = new Map(fixture.map((f) => [formatUuid(f.flow.uuid), f.name]));
  const at = (i: number): Obj => timestampFromNanos(t0 + BigInt(i) * 1_000_000_000n) as unknown as Obj;
  const flowNames = (responses: Obj[]): string[] => responses.map((r) => nameOf.get((r['flow'] as Obj)['uuid'] as string) ?? '?');

  before(async () => {
    db = await freshDatabase('lookback_observer');
    await storeThroughIngest(db, fixture.map((f) => f.flow));
    ({ api } = await startTestApi(db));
    client = observerClient(api.grpcPort);
  });
  after(async () => {
    client?.close();
    await api?.stop();
    await db?.close();
  });

  test('health: hubble.server.Observer is SERVING, an unknown service is NOT_FOUND', async () => {
    const { HealthClient } = loadHubbleGrpc();
    const health = new HealthClient(`127.0.0.1:${api.grpcPort}`, grpc.credentials.createInsecure()) as unknown as ReturnType<typeof observerClient>;
    assert.deepEqual(await unaryCall(health, 'Check', { service: 'hubble.server.Observer' }), { status: 'SERVING' });
    await assert.rejects(unaryCall(health, 'Check', { service: 'nope' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    health.close();
  });

  test('ServerStatus counts stored flows and nodes', async () => {
    const s = await unaryCall(client, 'ServerStatus');
    assert.equal(s['num_flows'], String(fixture.length));
    assert.equal(s['max_flows'], '0');
    assert.equal(s['seen_flows'], String(fixture.length));
    assert.deepEqual(s['num_connected_nodes'], { value: 3 });
    assert.match(s['version'] as string, /^lookback-/);
    assert.ok(Number(s['uptime_ns']) > 0);
  });

  test('GetNodes and GetNamespaces list what the stored flows saw', async () => {
    const nodes = (await unaryCall(client, 'GetNodes'))['nodes'] as Obj[];
    assert.deepEqual(nodes.map((n) => [n['name'], n['state'], n['num_flows']]), [
      ['default/k8s-node-1', 'NODE_CONNECTED', '1'],
      ['default/kind-worker', 'NODE_CONNECTED', '12'],
      ['prod-eu1/worker-2', 'NODE_CONNECTED', '6'],
    ]);
    const namespaces = (await unaryCall(client, 'GetNamespaces'))['namespaces'] as Obj[];
    assert.deepEqual(namespaces.map((n) => `${n['cluster']}/${n['namespace']}`), ['default/default', 'default/kube-system', 'prod-eu1/data', 'prod-eu1/shop']);
  });

  test('number without first: the newest N, streamed oldest to newest', async () => {
    const { responses, error } = await collectFlows(client, { number: 3 });
    assert.equal(error, null);
    assert.deepEqual(flowNames(responses), names.slice(-3));
  });

  test('number with first: the oldest N', async () => {
    const { responses } = await collectFlows(client, { number: 4, first: true, since: at(0) });
    assert.deepEqual(flowNames(responses), names.slice(0, 4));
  });

  test('since and until are inclusive bounds', async () => {
    const { responses } = await collectFlows(client, { since: at(2), until: at(6) });
    assert.deepEqual(flowNames(responses), names.slice(2, 7));
  });

  test('since with number: the newest N of the window', async () => {
    const { responses } = await collectFlows(client, { since: at(2), until: at(10), number: 2 });
    assert.deepEqual(flowNames(responses), names.slice(9, 11));
  });

  test('until alone: the newest N before it', async () => {
    const { responses } = await collectFlows(client, { until: at(5), number: 2 });
    assert.deepEqual(flowNames(responses), names.slice(4, 6));
  });

  test('number 0 with since: every flow of the window; 2^64-1 (hubble --all): every flow', async () => {
    assert.equal((await collectFlows(client, { since: at(0) })).responses.length, fixture.length);
    const all = await collectFlows(client, { number: '18446744073709551615' });
    assert.equal(all.error, null);
    assert.deepEqual(flowNames(all.responses), names);
  });

  test('each response carries node_name and time, and the flow reads like Hubble’s', async () => {
    const { responses } = await collectFlows(client, { since: at(6), until: at(6) });
    assert.equal(responses.length, 1);
    const r = responses[0]!;
    assert.equal(r['node_name'], 'default/kind-worker');
    assert.deepEqual(r['time'], at(6));
    const f = r['flow'] as Obj;
    assert.equal(f['verdict'], 'DROPPED');
    assert.equal(f['drop_reason_desc'], 'POLICY_DENIED');
    assert.equal(f['drop_reason'], 133);
    assert.equal(f['Type'], 'L3_L4');
    assert.equal(f['Summary'], 'TCP Flags: SYN');
    assert.deepEqual(f['event_type'], { type: 1, sub_type: 133 });
    assert.equal(f['is_reply'], null);
    assert.equal((f['l4'] as Obj)['protocol'], 'TCP');
    assert.deepEqual(((f['l4'] as Obj)['TCP'] as Obj)['destination_port'], 80);
    assert.equal((f['IP'] as Obj)['source'], '10.244.1.10');
    assert.equal((f['destination'] as Obj)['pod_name'], 'deathstar-6f87c5c8d4-zt6wc');
  });

  test('filters travel as Hubble sends them', async () => {
    const ns = await collectFlows(client, { since: at(0), whitelist: [{ source_pod: ['default/'], verdict: ['DROPPED'] }, { destination_pod: ['default/'], verdict: ['DROPPED'] }] });
    assert.deepEqual(flowNames(ns.responses), ['deathstar_drop', 'unknown_drop']);
    const not = await collectFlows(client, { since: at(0), whitelist: [{ source_pod: ['default/xwing'] }], blacklist: [{ destination_port: ['53'] }] });
    assert.deepEqual(flowNames(not.responses), ['disney_syn', 'disney_fin', 'deathstar_drop']);
  });

  test('a field mask is applied, and paths flow.Flow does not have are ignored', async () => {
    const { responses, error } = await collectFlows(client, { number: 1, field_mask: { paths: ['Summary', 'source.pod_name', 'no_such_field', 'source.nope.deeper', 'l4'] } });
    assert.equal(error, null);
    const f = responses[0]!['flow'] as Obj;
    assert.equal(f['Summary'], 'TCP Flags: SYN');
    assert.equal((f['source'] as Obj)['pod_name'], 'tiefighter');
    assert.equal((f['source'] as Obj)['identity'], 0, 'identity was not in the mask');
    assert.equal(f['verdict'], 'VERDICT_UNKNOWN', 'verdict was not in the mask');
    assert.equal(((f['l4'] as Obj)['TCP'] as Obj)['destination_port'], 8080);
  });

  // ---- hostile and malformed requests: the status and message a user sees
  const refused = async (req: Obj, code: grpc.status, message: RegExp): Promise<void> => {
    const { responses, error } = await collectFlows(client, req);
    assert.equal(responses.length, 0);
    assert.ok(error, 'an error');
    assert.equal(error.code, code, `${grpc.status[error.code]}: ${error.details}`);
    assert.match(error.details, message);
  };

  test('first with follow is InvalidArgument', () => refused({ first: true, follow: true }, grpc.status.INVALID_ARGUMENT, /first cannot be specified with follow/));
  test('a bad filter is InvalidArgument naming the field', () => refused({ whitelist: [{ source_ip: ['999.1.1.1'] }] }, grpc.status.INVALID_ARGUMENT, /whitelist\[0\]\.source_ip\[0\]: "999\.1\.1\.1" is not an IP address/));
  test('thousands of filters are InvalidArgument', () => refused({ whitelist: Array.from({ length: 3000 }, () => ({ source_pod: ['a/'] })) }, grpc.status.INVALID_ARGUMENT, /3000 filters; at most 64/));
  test('a catastrophic regex is just a regex', async () => {
    const { error, responses } = await collectFlows(client, { since: at(0), whitelist: [{ http_url: ['^(a+)+$'] }] });
    assert.equal(error, null);
    assert.equal(responses.length, 0);
  });
  test('a timestamp out of range is InvalidArgument', () => refused({ since: { seconds: '9223372036854775807', nanos: 0 } }, grpc.status.INVALID_ARGUMENT, /since\.seconds = 9223372036854775807 is outside the valid range/));
  test('negative nanos are InvalidArgument', () => refused({ until: { seconds: '1', nanos: -5 } }, grpc.status.INVALID_ARGUMENT, /until\.nanos = -5 is outside/));
  test('a window wider than the limit is InvalidArgument', () => refused({ since: { seconds: '0', nanos: 0 } }, grpc.status.INVALID_ARGUMENT, /spans .* days; at most 93\.0 days/));

  test('malformed protobuf is InvalidArgument, and the server keeps serving', async () => {
    const raw = new grpc.Client(`127.0.0.1:${api.grpcPort}`, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // field 1, length 2^32-1, then 1 byte
    const result = await new Promise<{ error: grpc.ServiceError | null }>((resolve) => {
      const s = raw.makeServerStreamRequest('/observer.Observer/GetFlows', (b: Buffer) => b, (b: Buffer) => b, garbage);
      s.on('data', () => {});
      s.on('error', (error: grpc.ServiceError) => resolve({ error }));
      s.on('end', () => resolve({ error: null }));
    });
    raw.close();
    assert.ok(result.error);
    assert.equal(result.error.code, grpc.status.INVALID_ARGUMENT);
    assert.match(result.error.details, /GetFlows request is not valid protobuf/);
    assert.equal((await collectFlows(client, { number: 1 })).responses.length, 1);
  });

  // ---- the real hubble CLI
  test('hubble observe --since 1h prints every stored flow in compact form', async (t) => {
    const hubble = hubbleBinary();
    if (!hubble) return t.skip(HUBBLE_MISSING);
    const { stdout } = await run(hubble, ['observe', '--server', `127.0.0.1:${api.grpcPort}`, '--since', '1h']);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, fixture.length);
    for (const line of lines) assert.match(line, COMPACT_LINE);
    assert.match(lines[0]!, /: default\/xwing:41234 \(ID:12001\) -> kube-system\/coredns-6d4b75cb6d-8kq2v:53 \(ID:102\) dns-request lookback FORWARDED \(DNS Query www\.disney\.com\. A\)$/);
    assert.match(lines[2]!, /: default\/xwing:51000 \(ID:12001\) -> www\.disney\.com:443 \(world\) to-stack FORWARDED \(TCP Flags: SYN\)$/);
    assert.match(lines[3]!, /: default\/xwing:51000 \(ID:12001\) <- www\.disney\.com:443 \(world\) to-endpoint FORWARDED \(TCP Flags: SYN, ACK\)$/);
    assert.match(lines[6]!, /: default\/xwing:52000 \(ID:12001\) <> default\/deathstar-6f87c5c8d4-zt6wc:80 \(ID:12002\) Policy denied DROPPED \(TCP Flags: SYN\)$/);
  });

  test('hubble observe filters and status work against lookback', async (t) => {
    const hubble = hubbleBinary();
    if (!hubble) return t.skip(HUBBLE_MISSING);
    const server = ['--server', `127.0.0.1:${api.grpcPort}`];
    const xwing = await run(hubble, ['observe', ...server, '--since', '1h', '--from-pod', 'default/xwing']);
    assert.equal(xwing.stdout.trim().split('\n').length, 4);
    const drops = await run(hubble, ['observe', ...server, '--since', '1h', '--namespace', 'default', '--verdict', 'DROPPED']);
    assert.equal(drops.stdout.trim().split('\n').length, 2);
    const last = await run(hubble, ['observe', ...server, '--last', '2', '-o', 'json']);
    const objs = last.stdout.trim().split('\n').map((l) => JSON.parse(l) as Obj);
    assert.deepEqual(objs.map((o) => nameOf.get((o['flow'] as Obj)['uuid'] as string)), names.slice(-2));
    const status = await run(hubble, ['status', ...server]);
    assert.match(status.stdout, /Healthcheck \(via .*\): Ok/);
    assert.match(status.stdout, new RegExp(`Current/Max Flows: ${fixture.length}/0`));
    const bad = await run(hubble, ['observe', ...server, '--since', '1h', '--http-status', '6xx']).catch((e: { stderr: string; code: number }) => e);
    assert.match((bad as { stderr: string }).stderr, /6xx/);
  });
});

describe('Observer gRPC: every request is bounded', () => {
  let db: TestDatabase;
  let api: QueryApi;
  let tiny: QueryApi;
  let client: ReturnType<typeof observerClient>;
  let tinyClient: ReturnType<typeof observerClient>;
  const t0 = (BigInt(Math.floor(Date.now() / 1000)) - 1200n) * 1_000_000_000n;
  const fixture = queryFixture(t0);

  before(async () => {
    db = await freshDatabase('lookback_bounded');
    await insertFlows(db.client, fixture.map((f) => f.flow));
    ({ api } = await startTestApi(db, { limits: { maxNewest: 5, maxFlowsPerStream: 8, maxTimeRange: '1d' } }));
    // A query API whose ClickHouse is gone (a port nobody listens on).
    const cfg = parseConfig(queryApiSpec, { clickhouse: { url: 'http://127.0.0.1:1', database: db.database }, grpc: { listen: '127.0.0.1:0' }, http: { enabled: false }, follow: { enabled: false } });
    tiny = await startQueryApi(cfg, { skipSchemaCheck: true, log: silentLogger });
    client = observerClient(api.grpcPort);
    tinyClient = observerClient(tiny.grpcPort);
  });
  after(async () => {
    client?.close();
    tinyClient?.close();
    await api?.stop();
    await tiny?.stop();
    await db?.close();
  });

  test('more flows than limits.maxFlowsPerStream: RESOURCE_EXHAUSTED after the limit, with what to do', async () => {
    const { responses, error } = await collectFlows(client, { since: timestampFromNanos(t0) as unknown as Obj });
    assert.equal(responses.length, 8);
    assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(error!.details, /stopped after 8 flows \(limits\.maxFlowsPerStream\): narrow the time range or the filters/);
  });

  test('a newest-N larger than limits.maxNewest is refused when more flows match, served when fewer do', async () => {
    const many = await collectFlows(client, { number: 10 });
    assert.equal(many.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(many.error!.details, /the newest 10 flows were asked for and more match; at most 5/);
    const all = await collectFlows(client, { number: 50, whitelist: [{ source_pod: ['default/'] }] });
    assert.equal(all.error, null);
    assert.equal(all.responses.length, 7);
  });

  test('a window wider than limits.maxTimeRange is InvalidArgument', async () => {
    const { error } = await collectFlows(client, { since: timestampFromNanos(t0 - 2n * 86_400_000_000_000n) as unknown as Obj });
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /at most 1\.0 days are allowed/);
  });

  test('ClickHouse out of reach is UNAVAILABLE with a clear message, not a crash', async () => {
    const { responses, error } = await collectFlows(tinyClient, { number: 5 });
    assert.equal(responses.length, 0);
    assert.equal(error?.code, grpc.status.UNAVAILABLE, error?.details);
    assert.match(error!.details, /ClickHouse is not reachable: .*ECONNREFUSED/);
    const status = await unaryCall(tinyClient, 'ServerStatus').catch((e: grpc.ServiceError) => e);
    assert.equal((status as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    assert.equal((await collectFlows(client, { number: 1 })).responses.length, 1);
  });
});
