/**
 * bench/flowgen.ts, the synthetic corpus the benchmarks and the query API's seeding use: deterministic for a
 * seed, in time order within the range, unique uuids (UUIDv7 like the collector's), and the mix it promises.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { createFlowGenerator, generateFlows, generateRowBinary } from '../bench/flowgen.js';
import { writeFlowRow } from '../ingest/flow-row-binary.js';
import { PERMISSIVE_LIMITS } from '../ingest/limits.js';
import { RowBinaryWriter } from '../ingest/row-binary.js';

const end = Date.UTC(2026, 0, 1);
const opts = { seed: 7, count: 50_000, start: end - 3_600_000, end };

test('the same seed gives the same flows, byte for byte; another seed does not', async () => {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const a = Buffer.concat(codec.encodeBatch([...generateFlows({ ...opts, count: 5000 })]));
  const b = Buffer.concat(codec.encodeBatch([...generateFlows({ ...opts, count: 5000 })]));
  const c = Buffer.concat(codec.encodeBatch([...generateFlows({ ...opts, count: 5000, seed: 8 })]));
  assert.ok(a.equals(b));
  assert.ok(!a.equals(c));
});

test('flows are in time order inside the range, with unique version-7 uuids and a realistic mix', () => {
  const uuids = new Set<string>();
  let last = -1n;
  const tally = { dns: 0, http: 0, kafka: 0, drops: 0, v6: 0, world: 0 };
  const namespaces = new Set<string>();
  for (const f of generateFlows(opts)) {
    assert.ok(f.time_ns >= last && f.time_ns >= BigInt(opts.start) * 1_000_000n && f.time_ns < BigInt(end) * 1_000_000n);
    last = f.time_ns;
    assert.equal((f.uuid[6] as number) >> 4, 7);
    uuids.add(f.uuid.toString('hex'));
    if (f.l7?.dns) tally.dns++;
    if (f.l7?.http) tally.http++;
    if (f.l7?.kafka) tally.kafka++;
    if (f.verdict === 'DROPPED') tally.drops++;
    if (f.ip?.ip_version === 'IPv6') tally.v6++;
    if (f.destination.identity === 2) tally.world++;
    namespaces.add(f.source.namespace);
    assert.ok(f.first_seen_ns <= f.time_ns && f.last_seen_ns <= f.time_ns);
  }
  assert.equal(uuids.size, opts.count);
  const share = (n: number): number => n / opts.count;
  assert.ok(share(tally.dns) > 0.04 && share(tally.dns) < 0.25, `DNS share ${share(tally.dns)}`);
  assert.ok(share(tally.http) > 0.01 && share(tally.http) < 0.2, `HTTP share ${share(tally.http)}`);
  assert.ok(share(tally.kafka) > 0.005 && share(tally.kafka) < 0.1, `Kafka share ${share(tally.kafka)}`);
  assert.ok(share(tally.drops) > 0.003 && share(tally.drops) < 0.05, `drop share ${share(tally.drops)}`);
  assert.ok(tally.v6 > 0 && tally.world > 0);
  assert.ok(namespaces.size >= 15, `${namespaces.size} source namespaces`);
});

test('the RowBinary fast path holds the same rows as encoding the generated flows', () => {
  const small = { ...opts, count: 3000 };
  const w = new RowBinaryWriter();
  for (const f of generateFlows(small)) writeFlowRow(w, f, PERMISSIVE_LIMITS);
  const bodies = [...generateRowBinary({ ...small, batchRows: 1000 })];
  assert.equal(bodies.length, 3);
  assert.ok(Buffer.concat(bodies.map((b) => b.body)).equals(w.finish()));
  assert.equal(createFlowGenerator(small).topology.workloads.length > 20, true);
});
