/**
 * What ingest does with each kind of record, against the real broker, registry and ClickHouse:
 * - poison records interleaved with good ones (garbage, empty, truncated, unknown schema fingerprint, unknown
 *   registry id, out-of-range values, a time outside the window, oversized): each lands in the dead-letter topic
 *   with its reason, kind and origin (topic, partition, offset) in headers and its bytes unchanged; every good
 *   record around them is stored, in both framings, from LZ4-compressed batches (the collector's default).
 * - schema evolution: records written by a newer schema (v1 plus a field, registered under FULL compatibility)
 *   are read by this ingest (v1) through the registry and stored with exactly their v1 values (zstd batches).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { ClickHouseClient } from '@clickhouse/client';
import { FLOW_SELECT, rowToFlow, type FlowRow } from '../common/flow-row.js';
import { createMetrics } from '../common/metrics.js';
import { createIngest } from '../ingest/index.js';
import { DLQ_HEADERS } from '../ingest/dead-letter.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { schemaFingerprint } from '../schemas/fingerprint.js';
import { loadFlowSchemas, type FlowSchemas } from '../schemas/flow-schema.js';
import { formatUuid, type Flow } from '../schemas/flow-types.js';
import { createRegistryClient } from '../schemas/registry-client.js';
import { valueSubject } from '../schemas/topics.js';
import { generateFlows } from '../bench/flowgen.js';
import { ensureStack, uniqueName } from './helpers.js';
import { chClient, committedTotal, createTopic, encodeAll, ingestConfig, kafkaClient, migratedDatabase, publish, readTopic, waitFor } from './ingest-harness.js';

let kafka: Kafka;
let ch: ClickHouseClient;
let brokers: string[];
let clickhouseUrl: string;
let registryUrl: string;

before(async () => {
  const env = await ensureStack({ clickhouse: true, kafka: true, registry: true });
  ({ kafkaBrokers: brokers, clickhouseUrl, registryUrl } = env);
  kafka = kafkaClient(brokers);
  ch = chClient(clickhouseUrl);
});

after(async () => {
  await ch?.close();
});

function recentFlows(seed: number, n: number): Flow[] {
  const end = Date.now();
  return [...generateFlows({ seed, count: n, start: end - 5 * 60_000, end })];
}

async function storedUuids(database: string): Promise<Set<string>> {
  const rs = await ch.query({ query: `SELECT toString(uuid) AS u FROM ${database}.flows`, format: 'JSONEachRow' });
  return new Set((await rs.json<{ u: string }>()).map((r) => r.u));
}

describe('ingest: records', () => {
  it('dead-letters each poison record with its reason and origin, and stores every good record around them', async () => {
    const topic = uniqueName('ingest_poison');
    const database = uniqueName('ingest_poison');
    await createTopic(kafka, topic, 2);
    await migratedDatabase(ch, database);
    const registry = createRegistryClient({ url: registryUrl });
    const single = await createFlowCodec({ framing: 'single-object' });
    const confluent = await createFlowCodec({ framing: 'confluent', registry, subject: valueSubject(topic) });

    const good = recentFlows(31, 4000);
    const goodValues = [...encodeAll(single, good.slice(0, 3000)), ...encodeAll(confluent, good.slice(3000))];
    const base = good[0] as Flow;
    const variant = (change: (f: Flow) => void): Buffer => {
      const f: Flow = { ...base };
      f.uuid = Buffer.alloc(16, 0xee);
      change(f);
      return single.encode(f);
    };
    const body = single.encode(base).subarray(10);
    const poison: Array<{ value: Buffer | null; kind: string; reason: RegExp }> = [
      { value: Buffer.from('hello, I am not a flow'), kind: 'undecodable', reason: /not a flow record/ },
      { value: null, kind: 'empty', reason: /empty record value/ },
      { value: single.encode(base).subarray(0, 200), kind: 'undecodable', reason: /ends|truncated|corrupt/ },
      { value: Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0x42), body]), kind: 'unknown_schema', reason: /unknown schema fingerprint 4242424242424242/ },
      { value: Buffer.concat([Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xf0]), body]), kind: 'unknown_schema', reason: /unknown schema id 2147483632/ },
      { value: variant((f) => { f.time_ns = 631_152_000_000_000_000n; }), kind: 'invalid_value', reason: /time_ns = 631152000000000000 .*outside the accepted window/ },
      { value: variant((f) => { f.time_ns = BigInt(Date.now() + 2 * 86_400_000) * 1_000_000n; }), kind: 'invalid_value', reason: /outside the accepted window/ },
      { value: variant((f) => { f.summary = 'x'.repeat(10_000); }), kind: 'oversized', reason: /larger than limits.maxRecordBytes \(8192\)/ },
      { value: variant((f) => { f.summary = 'y'.repeat(3000); }), kind: 'invalid_value', reason: /summary is 3000 bytes long, more than the 2048 allowed/ },
      { value: variant((f) => { f.ip = { ...f.ip!, source: Buffer.from([1, 2, 3, 4, 5]) }; }), kind: 'invalid_value', reason: /ip.source has 5 bytes/ },
      { value: variant((f) => { f.bytes_fwd = -5; }), kind: 'invalid_value', reason: /bytes_fwd = -5 is out of range/ },
      { value: variant((f) => { f.source_port = 70_000; }), kind: 'invalid_value', reason: /source_port = 70000 is out of range 0..65535/ },
    ];
    // Poison spread through the stream, in both partitions.
    const values: Array<Buffer | null> = [...goodValues];
    const positions = poison.map((_, i) => Math.floor(((i + 1) * values.length) / (poison.length + 1)) + i);
    positions.forEach((pos, i) => values.splice(pos, 0, poison[i]!.value));
    const ids = values.map((v) => (poison.some((p) => p.value === v) ? `poison-${poison.findIndex((p) => p.value === v)}` : 'good'));
    // LZ4 batches, as the collector publishes them by default.
    await publish(kafka, topic, { values: values as Buffer[], partitions: 2, run: 700, headers: (i) => ({ 'test-id': ids[i]! }), compression: 'lz4' });

    const metrics = createMetrics();
    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database, registryUrl }, { 'limits.maxRecordBytes': 8192, 'limits.maxStringBytes': 2048 }), { metrics });
    await ingest.start();
    try {
      await waitFor('every record committed', async () => (await committedTotal(kafka, topic, topic)) >= values.length, 60_000);
    } finally {
      await ingest.stop();
    }

    const uuids = await storedUuids(database);
    assert.equal(uuids.size, good.length);
    for (const f of good) assert.ok(uuids.has(formatUuid(f.uuid)), 'every good flow is stored');
    const [{ c }] = await (await ch.query({ query: `SELECT count() AS c FROM ${database}.flows`, format: 'JSONEachRow' })).json<{ c: string }>() as [{ c: string }];
    assert.equal(Number(c), good.length, 'and nothing else');

    const letters = await readTopic(kafka, `${topic}.dlq`, poison.length);
    assert.equal(letters.length, poison.length);
    const source = await readTopic(kafka, topic, values.length);
    const byOrigin = new Map(source.map((m) => [`${String(m.headers?.['test-id'])}`, m]));
    for (const letter of letters) {
      const h = (k: string): string => String(letter.headers?.[k] ?? '');
      const id = h('test-id');
      const p = poison[Number(id.replace('poison-', ''))];
      assert.ok(p, `a dead letter for a poison record (${id})`);
      assert.equal(h(DLQ_HEADERS.kind), p.kind, `kind of ${id}: ${h(DLQ_HEADERS.reason)}`);
      assert.match(h(DLQ_HEADERS.reason), p.reason);
      assert.equal(h(DLQ_HEADERS.topic), topic);
      assert.equal(h(DLQ_HEADERS.group), topic);
      const original = byOrigin.get(id);
      assert.ok(original);
      assert.equal(h(DLQ_HEADERS.offset), original.offset, 'origin offset');
      assert.deepEqual(letter.value, p.value === null ? null : p.value, 'the record bytes, unchanged');
    }
    const stats = ingest.stats();
    assert.equal(stats.deadLetters, poison.length);
    assert.equal(stats.rowsStored, good.length);
    assert.equal(stats.transcoded, good.length, 'both framings of the current schema take the fast path');
    const text = metrics.text();
    assert.match(text, new RegExp(`lookback_ingest_dead_letters_total\\{topic="${topic}",kind="invalid_value"\\} 6`));
    assert.match(text, new RegExp(`lookback_ingest_records_total\\{topic="${topic}",result="dead_letter"\\} ${poison.length}`));
  });

  it('dead-letters a flood of poison (more than one produce request holds) in chunks, and a letter too large for the broker without its value', async () => {
    const topic = uniqueName('ingest_flood');
    const database = uniqueName('ingest_flood');
    await createTopic(kafka, topic, 1);
    await migratedDatabase(ch, database);
    const single = await createFlowCodec({ framing: 'single-object' });
    const good = recentFlows(51, 500);
    // 3,000 undecodable records of 1,000 bytes: about 3 MB of dead letters in one batch, three times what the
    // broker takes in one record batch (message.max.bytes, 1 MiB by default).
    const garbage = Array.from({ length: 3000 }, (_, i) => Buffer.alloc(1000, `garbage ${i} `));
    const values = [...encodeAll(single, good.slice(0, 250)), ...garbage, ...encodeAll(single, good.slice(250))];
    await publish(kafka, topic, { values, partitions: 1, run: values.length });
    // A record just under the broker's limit: its dead letter (value plus our headers) is over it.
    const huge = Buffer.alloc(1_048_400, 'h');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: huge }] });
    await producer.disconnect();
    const total = values.length + 1;

    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database, registryUrl }, { 'batch.maxRows': 100_000 }));
    await ingest.start();
    try {
      await waitFor('every record committed', async () => (await committedTotal(kafka, topic, topic)) >= total, 90_000);
    } finally {
      await ingest.stop();
    }
    assert.equal((await storedUuids(database)).size, good.length, 'every good flow is stored');
    const letters = await readTopic(kafka, `${topic}.dlq`, garbage.length + 1, 60_000);
    assert.equal(letters.length, garbage.length + 1);
    const offsets = new Set(letters.map((l) => String(l.headers?.[DLQ_HEADERS.offset])));
    assert.equal(offsets.size, garbage.length + 1, 'each poison record once');
    const big = letters.find((l) => String(l.headers?.[DLQ_HEADERS.offset]) === String(values.length));
    assert.ok(big, 'the huge record has a dead letter');
    assert.equal(big.value, null, 'without its value');
    assert.match(String(big.headers?.[DLQ_HEADERS.valueDropped]), /^1048400 bytes: more than the broker accepts/);
    assert.equal(String(big.headers?.[DLQ_HEADERS.kind]), 'undecodable', 'under limits.maxRecordBytes (1 MiB), so read, and not a flow');
    assert.equal(ingest.stats().deadLetters, garbage.length + 1);
  });

  it('stores records of a newer writer schema (v1 plus a field) read through the registry, with their exact values', async () => {
    const topic = uniqueName('ingest_evolve');
    const database = uniqueName('ingest_evolve');
    await createTopic(kafka, topic, 2);
    await migratedDatabase(ch, database);
    const schemas = loadFlowSchemas();
    const v2 = structuredClone(schemas.current.schema) as { fields: unknown[] };
    v2.fields.push({ name: 'tcp_retransmits', type: 'long', default: 0, doc: 'Candidate v2 field.' });
    const v2Version = { version: 2, file: 'flow.v2.avsc (test candidate)', text: JSON.stringify(v2), schema: v2, fingerprint: schemaFingerprint(v2) };
    const withV2: FlowSchemas = { current: v2Version, released: [...schemas.released, v2Version] };
    const registry = createRegistryClient({ url: registryUrl });
    const subject = valueSubject(topic);
    await createFlowCodec({ framing: 'confluent', registry, subject }); // v1 first, as a real rollout would
    await registry.setCompatibility(subject, 'FULL');
    const newer = await createFlowCodec({ framing: 'confluent', registry, subject, schemas: withV2 });

    const flows = recentFlows(41, 3000);
    const values = flows.map((f) => newer.encode({ ...f, tcp_retransmits: 3 } as Flow));
    await publish(kafka, topic, { values, partitions: 2, compression: 'zstd' });

    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database, registryUrl }));
    await ingest.start();
    try {
      await waitFor('every record committed', async () => (await committedTotal(kafka, topic, topic)) >= values.length, 60_000);
    } finally {
      await ingest.stop();
    }
    const stats = ingest.stats();
    assert.equal(stats.rowsStored, flows.length);
    assert.equal(stats.resolved, flows.length, 'a v2 writer is read through schema resolution');
    const rs = await ch.query({ query: `SELECT ${FLOW_SELECT} FROM ${database}.flows ORDER BY time, uuid`, format: 'JSONEachRow' });
    const back = (await rs.json<FlowRow>()).map(rowToFlow);
    const byUuid = new Map(back.map((f) => [formatUuid(f.uuid), f]));
    for (const f of flows) {
      const got = byUuid.get(formatUuid(f.uuid));
      assert.ok(got, 'stored');
      assert.deepEqual(comparable(got), comparable(f));
    }
  });
});

/** A flow as plain data, with what a row cannot tell apart mapped as rowToFlow maps it (common/flow-row.ts). */
function comparable(f: Flow): unknown {
  const plain = JSON.parse(JSON.stringify(f, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
  return plain;
}
