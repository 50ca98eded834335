/**
 * GetFlows follow over the real pipeline: the fixture published to Kafka and stored by ingest, a query API tailing
 * the same topic. History first, then flows published afterwards, none missing and none twice: with ingest
 * keeping up, with ingest stopped (flows only in Kafka), and with a seam the tail must de-duplicate (flows both
 * stored and re-read from Kafka). N here: 19 fixture flows, then batches of 150 to 400.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { formatUuid, type Flow } from '../schemas/flow-types.js';
import { timestampFromNanos } from '../schemas/proto-loader.js';
import type { QueryApi } from '../query-api/index.js';
import { freshDatabase, type TestDatabase } from './query-db.js';
import { queryFixture } from './query-fixture.js';
import { COMPACT_LINE, observerClient, startTestApi } from './query-helpers.js';
import { startIngestPipeline, type IngestPipeline } from './query-ingest.js';
import { waitFor } from './ingest-harness.js';

type Obj = Record<string, unknown>;
const LOOKBACK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/lookback.js');

/** Where the next batch starts: batches never overlap in time, so `since` = a batch's first flow selects it alone. */
let nextTime = 0n;

/** `n` new flows (fixture shapes), 10 ms apart, ending about now (after every earlier batch). */
function batch(n: number): Flow[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  let start = now - BigInt(n) * 10_000_000n;
  if (start < nextTime) start = nextTime;
  nextTime = start + BigInt(n) * 10_000_000n;
  const out: Flow[] = [];
  for (let k = 0; out.length < n; k++) {
    for (const f of queryFixture(start + BigInt(k) * 19n * 10_000_000n)) {
      if (out.length === n) break;
      f.flow.time_ns = start + BigInt(out.length) * 10_000_000n;
      out.push(f.flow);
    }
  }
  return out;
}

interface Follower {
  uuids: string[];
  times: bigint[];
  error: grpc.ServiceError | null;
  cancel(): void;
}

function follow(port: number, req: Obj): Follower {
  const client = observerClient(port);
  const f: Follower = { uuids: [], times: [], error: null, cancel: () => { stream.cancel(); client.close(); } };
  const stream = client['GetFlows']!({ follow: true, ...req }) as grpc.ClientReadableStream<Obj>;
  stream.on('data', (r: Obj) => {
    const flow = r['flow'] as Obj;
    f.uuids.push(flow['uuid'] as string);
    const t = flow['time'] as { seconds: string; nanos: number };
    f.times.push(BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos));
  });
  stream.on('error', (e: grpc.ServiceError) => { if (e.code !== 1) f.error = e; });
  return f;
}

const uuidsOf = (flows: readonly Flow[]): string[] => flows.map((f) => formatUuid(f.uuid));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function receive(f: Follower, n: number, what: string): Promise<void> {
  await waitFor(`${what}: ${n} flows (have ${f.uuids.length})`, async () => (f.error ? Promise.reject(f.error) : f.uuids.length >= n), 60_000, 50);
  // Anything extra (a duplicate) would arrive right behind.
  await sleep(1000);
}

function assertExactlyOnce(f: Follower, expected: string[], what: string): void {
  assert.equal(f.error, null);
  assert.equal(new Set(f.uuids).size, f.uuids.length, `${what}: a flow arrived twice`);
  assert.deepEqual([...f.uuids].sort(), [...expected].sort(), `${what}: the flows received`);
}

describe('GetFlows follow: history from ClickHouse, then the live tail from Kafka', () => {
  let db: TestDatabase;
  let pipe: IngestPipeline;
  let api: QueryApi;
  let timeSeamApi: QueryApi;
  const t0 = (BigInt(Date.now()) - 1_200_000n) * 1_000_000n;
  const fixture = queryFixture(t0).map((f) => f.flow);

  before(async () => {
    db = await freshDatabase('lookback_follow');
    pipe = await startIngestPipeline(db, 3);
    await pipe.publish(fixture);
    await pipe.waitStored(fixture.length);
    const follow = { enabled: true, brokers: pipe.brokers, topic: pipe.topic, ingestGroup: pipe.groupId, seamWindow: '3m' };
    ({ api } = await startTestApi(db, { follow }));
    // A second API whose seam comes from time alone (no ingest group to read): the tail re-reads stored flows.
    ({ api: timeSeamApi } = await startTestApi(db, { follow: { ...follow, ingestGroup: 'no-such-group' } }));
  });
  after(async () => {
    await api?.stop();
    await timeSeamApi?.stop();
    await pipe?.stop();
    await db?.close();
  });

  test('the fixture is stored through ingest', async () => {
    const rs = await db.client.query({ query: 'SELECT count() AS n, uniqExact(uuid) AS u FROM flows', format: 'JSONEachRow' });
    assert.deepEqual(await rs.json(), [{ n: fixture.length, u: fixture.length }]);
  });

  test('history, then flows published afterwards: none missing, none twice', async () => {
    const f = follow(api.grpcPort, { since: timestampFromNanos(t0 - 1_000_000_000n) });
    await receive(f, fixture.length, 'history');
    assert.deepEqual(f.uuids.slice(0, fixture.length), uuidsOf(fixture), 'history in time order');
    const live = batch(300);
    await pipe.publish(live);
    await receive(f, fixture.length + live.length, 'live');
    f.cancel();
    assertExactlyOnce(f, [...uuidsOf(fixture), ...uuidsOf(live)], 'history + live');
  });

  test('a seam over flows that are both stored and still in the tail: each once', async () => {
    const stored = batch(250);
    const start = stored[0]!.time_ns;
    await pipe.publish(stored);
    await pipe.waitStored(fixture.length + 300 + stored.length);
    const f = follow(timeSeamApi.grpcPort, { since: timestampFromNanos(start) });
    await receive(f, stored.length, 'stored flows, from history and again from Kafka');
    const live = batch(150);
    await pipe.publish(live);
    await receive(f, stored.length + live.length, 'live');
    f.cancel();
    assertExactlyOnce(f, [...uuidsOf(stored), ...uuidsOf(live)], 'seam by time');
  });

  test('flows that ingest has not stored yet come from the tail: none missing, none twice', async () => {
    await pipe.pause();
    try {
      const pending = batch(400);
      const start = pending[0]!.time_ns;
      await pipe.publish(pending);
      const f = follow(api.grpcPort, { since: timestampFromNanos(start) });
      await receive(f, pending.length, 'pending flows');
      const live = batch(150);
      await pipe.publish(live);
      await receive(f, pending.length + live.length, 'live');
      f.cancel();
      assertExactlyOnce(f, [...uuidsOf(pending), ...uuidsOf(live)], 'not yet stored');
    } finally {
      pipe.resume();
    }
  });

  test('follow with filters and number: the newest N that match, then matching live flows', async () => {
    await pipe.waitStored(fixture.length + 300 + 250 + 150 + 400 + 150);
    const f = follow(api.grpcPort, { number: 2, whitelist: [{ source_pod: ['default/xwing'] }] });
    await waitFor('the newest 2 xwing flows', async () => f.uuids.length >= 2, 30_000, 50);
    const live = batch(190);
    await pipe.publish(live);
    const xwing = live.filter((x) => x.source.pod_name === 'xwing');
    await receive(f, 2 + xwing.length, 'live xwing flows');
    f.cancel();
    assert.equal(f.error, null);
    assert.equal(f.uuids.length, 2 + xwing.length);
    assert.deepEqual(f.uuids.slice(2).sort(), uuidsOf(xwing).sort());
    assert.equal(new Set(f.uuids).size, f.uuids.length);
  });

  test('lookback observe -f prints history, then new flows as they come, until interrupted', async () => {
    const child = spawn(process.execPath, [LOOKBACK, 'observe', '--server', `127.0.0.1:${api.grpcPort}`, '-f', '--last', '3', '--from-pod', 'default/xwing'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
    });
    try {
      await waitFor('3 history lines', async () => lines.length >= 3, 30_000, 50);
      const live = batch(38);
      await pipe.publish(live);
      const xwing = live.filter((x) => x.source.pod_name === 'xwing').length;
      await waitFor(`${3 + xwing} lines`, async () => lines.length >= 3 + xwing, 30_000, 50);
      await sleep(500);
      assert.equal(lines.length, 3 + xwing);
      for (const l of lines) assert.match(l, COMPACT_LINE);
    } finally {
      child.kill('SIGINT');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 0, 'Ctrl-C ends observe cleanly');
  });

  test('follow without since or number starts at now', async () => {
    const f = follow(api.grpcPort, {});
    await sleep(1500);
    assert.equal(f.uuids.length, 0, 'nothing from before the request');
    const live = batch(40);
    await pipe.publish(live);
    await receive(f, live.length, 'new flows');
    f.cancel();
    assertExactlyOnce(f, uuidsOf(live), 'tail only');
  });
});
