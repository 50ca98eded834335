import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { LookbackError } from '../common/errors.js';
import { deepFreeze, emptyFlow, type Flow } from './flow-types.js';
import * as types from './flow-types.js';
import { createFlowCodec, detectFraming } from './avro-codec.js';
import { avroTypeFor } from './avro-types.js';
import { canonicalForm, crc64Avro, schemaFingerprint } from './fingerprint.js';
import { flowSchemaDir, loadFlowSchemas, type FlowSchemas } from './flow-schema.js';
import { DEFAULT_FLOW_DLQ_TOPIC, DEFAULT_FLOW_TOPIC, deadLetterTopic, valueSubject } from './topics.js';
import { sampleFlows, typicalFlow, typicalSharedFlow } from '../test/fixtures/sample-flows.js';
import { prng } from '../test/fixtures/prng.js';

type Json = Record<string, unknown>;

/** Decoded records are avsc record instances; compare them as plain data. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

function expectInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LookbackError, `expected a LookbackError, got ${String(err)}`);
    assert.equal(err.code, 'invalid_argument');
    assert.match(err.message, message);
    return true;
  });
}

const schemas = loadFlowSchemas();
const v1 = schemas.current.schema as Json;

/** The flow.v2 candidate of the compatibility tests: v1 plus one field with a default. Never released. */
function v2Candidate(): Json {
  const v2 = structuredClone(v1);
  (v2['fields'] as Json[]).push({
    name: 'tcp_retransmits',
    type: 'long',
    default: 0,
    doc: 'Candidate v2 field: TCP retransmissions counted by this event.',
  });
  return v2;
}

function enumSymbols(schema: unknown, name: string): string[] {
  let found: string[] | undefined;
  JSON.stringify(schema, (key, value: unknown) => {
    if (value && typeof value === 'object' && (value as Json)['type'] === 'enum' && (value as Json)['name'] === name) {
      found = (value as Json)['symbols'] as string[];
    }
    return value;
  });
  assert.ok(found, `enum ${name} in flow.avsc`);
  return found;
}

describe('CRC-64-AVRO and the Parsing Canonical Form', () => {
  it('match the known vectors of the Avro implementations', () => {
    // Vectors used by Avro's own test suites (Ruby, Go): "int" and "string".
    assert.equal(crc64Avro(Buffer.from('"int"')), 0x7275d51a3f395c8fn);
    assert.equal(crc64Avro(Buffer.from('"string"')), 0x8f014872634503c7n);
    assert.equal(schemaFingerprint({ type: 'int' }).toString('hex'), '8f5c393f1ad57572');
  });

  it('agree with avsc on the canonical form of the flow schema and of tricky schemas', () => {
    const cases: unknown[] = [
      v1,
      v2Candidate(),
      { type: 'long', logicalType: 'timestamp-nanos' },
      {
        type: 'record', name: 'A', namespace: 'x.y', doc: 'strip me', aliases: ['B'],
        fields: [
          { name: 'f', type: { type: 'fixed', name: 'F', size: 4 }, default: 'abcd', order: 'descending' },
          { name: 'g', type: 'F' },
          { name: 'h', type: ['null', { type: 'enum', name: 'z.E', symbols: ['P', 'Q'], default: 'P' }] },
          { name: 'i', type: { type: 'map', values: { type: 'array', items: 'x.y.A' } } },
          { name: 'j', type: { type: 'string' } },
        ],
      },
    ];
    for (const schema of cases) {
      const viaAvsc = JSON.stringify(avro.Type.forSchema(schema as avro.Schema, { wrapUnions: true }).schema());
      assert.equal(canonicalForm(schema), viaAvsc);
    }
  });

  it('is what the single-object header carries', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const bytes = codec.encode(typicalFlow());
    assert.deepEqual([...bytes.subarray(0, 2)], [0xc3, 0x01]);
    assert.deepEqual(bytes.subarray(2, 10), schemaFingerprint(v1));
    assert.equal(detectFraming(bytes), 'single-object');
  });
});

describe('the flow schema files', () => {
  it('flow.avsc is the newest released version and every version has a file', () => {
    const dir = flowSchemaDir();
    const released = fs.readdirSync(path.join(dir, 'avro')).filter((f) => f.endsWith('.avsc'));
    assert.deepEqual(released, schemas.released.map((v) => `flow.v${v.version}.avsc`));
    assert.deepEqual(schemas.released.map((v) => v.version), schemas.released.map((_, i) => i + 1));
    assert.deepEqual(schemas.current.fingerprint, schemas.released.at(-1)?.fingerprint);
  });

  it('documents every field and gives it a default (so fields can be added and removed under FULL compatibility)', () => {
    const seen = new Set<string>();
    let fields = 0;
    const walk = (t: unknown): void => {
      if (Array.isArray(t)) return t.forEach(walk);
      if (!t || typeof t !== 'object') return;
      const o = t as Json;
      if (o['type'] === 'array') return walk(o['items']);
      if (o['type'] === 'record' && !seen.has(String(o['name']))) {
        seen.add(String(o['name']));
        assert.ok(typeof o['doc'] === 'string' && o['doc'].length > 0, `record ${String(o['name'])} has a doc`);
        for (const f of o['fields'] as Json[]) {
          fields++;
          assert.ok(typeof f['doc'] === 'string' && f['doc'].length > 0, `${String(o['name'])}.${String(f['name'])} has a doc`);
          assert.ok('default' in f, `${String(o['name'])}.${String(f['name'])} has a default`);
          walk(f['type']);
        }
      }
      if (o['type'] === 'enum') assert.ok('default' in o, `enum ${String(o['name'])} has a default`);
    };
    walk(v1);
    assert.ok(fields > 60, `walked ${fields} fields`);
  });

  it("the TypeScript tables match the schema's enums", () => {
    assert.deepEqual(enumSymbols(v1, 'Verdict'), [...types.VERDICTS]);
    assert.deepEqual(enumSymbols(v1, 'FlowType'), [...types.FLOW_TYPES]);
    assert.deepEqual(enumSymbols(v1, 'IPVersion'), [...types.IP_VERSIONS]);
    assert.deepEqual(enumSymbols(v1, 'TrafficDirection'), [...types.TRAFFIC_DIRECTIONS]);
    assert.deepEqual(enumSymbols(v1, 'L7FlowType'), [...types.L7_FLOW_TYPES]);
    assert.deepEqual(enumSymbols(v1, 'TraceReason'), [...types.TRACE_REASONS]);
    assert.deepEqual(enumSymbols(v1, 'FlowEvent'), [...types.FLOW_EVENTS]);
    assert.deepEqual(enumSymbols(v1, 'TraceObservationPoint'), Object.keys(types.TRACE_OBSERVATION_POINTS));
    assert.deepEqual(enumSymbols(v1, 'DropReason'), Object.keys(types.DROP_REASON_CODES));
    const codes = Object.values(types.DROP_REASON_CODES);
    assert.deepEqual(codes, [...codes].sort((a, b) => a - b), 'drop reasons in code order');
    const points = Object.values(types.TRACE_OBSERVATION_POINTS);
    assert.deepEqual(points, [...points].sort((a, b) => a - b), 'observation points in number order');
  });

  it('topic and subject names', () => {
    assert.equal(DEFAULT_FLOW_TOPIC, 'lookback.flows.v1');
    assert.equal(DEFAULT_FLOW_DLQ_TOPIC, 'lookback.flows.v1.dlq');
    assert.equal(deadLetterTopic(DEFAULT_FLOW_TOPIC), DEFAULT_FLOW_DLQ_TOPIC);
    assert.equal(valueSubject(DEFAULT_FLOW_TOPIC), 'lookback.flows.v1-value');
  });
});

describe('single-object codec', () => {
  it('round-trips every sample flow exactly', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    for (const flow of sampleFlows()) {
      assert.deepStrictEqual(plain(codec.decode(codec.encode(flow))), flow);
    }
  });

  it('encodeBatch writes the same bytes as encode, as views into shared slabs', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const flows = [...sampleFlows(), ...Array.from({ length: 300 }, (_, i) => typicalFlow(i))];
    const batch = codec.encodeBatch(flows);
    assert.equal(batch.length, flows.length);
    const shared = new Set(batch.map((b) => b.buffer));
    assert.ok(shared.size <= 2, `views of a slab or two, not a buffer per value (${shared.size})`);
    const copies = flows.map((f) => codec.encode(f));
    flows.forEach((f, i) => assert.deepEqual(batch[i], copies[i]));
    // Values are never written again: later batches (enough to fill several slabs, so that a flow in progress
    // moves to a new slab) and encode() calls leave the earlier ones intact.
    const big = typicalFlow();
    big.destination_names = Array.from({ length: 5000 }, (_, i) => `host-${i}.example.com.`);
    const later: Buffer[] = [];
    for (let r = 0; r < 12; r++) later.push(...codec.encodeBatch([...flows, big, emptyFlow()]), codec.encode(big));
    assert.ok(new Set(later.map((b) => b.buffer)).size > 3, 'several slabs filled');
    batch.forEach((b, i) => assert.deepEqual(b, copies[i], `value ${i} intact`));
    assert.deepStrictEqual(plain(codec.decode(batch[0] as Buffer)), flows[0]);
    for (let r = 0; r < 12; r++) {
      const at = r * (flows.length + 3);
      assert.deepStrictEqual(plain(codec.decode(later[at + flows.length] as Buffer)), big);
      assert.deepStrictEqual(plain(codec.decode(later[at + flows.length + 1] as Buffer)), emptyFlow());
      assert.deepEqual(later[at + 5], copies[5]);
    }
  });

  it('grows its buffer for a record larger than it', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const big = typicalFlow();
    big.destination_names = Array.from({ length: 5000 }, (_, i) => `host-${i}.example.com.`);
    const bytes = codec.encode(big);
    assert.ok(bytes.length > 100_000);
    assert.deepStrictEqual(plain(codec.decode(bytes)), big);
  });

  it('carries exact longs across the whole range', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const rand = prng(7);
    const edges = [0, 1, -1, 63, 64, -64, -65, 2 ** 30 - 1, 2 ** 30, -(2 ** 30), -(2 ** 30) - 1, 2 ** 31, 2 ** 52, -(2 ** 52), 2 ** 52 + 1, -(2 ** 52) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const numbers = [...edges, ...Array.from({ length: 200 }, () => Math.round((rand() - 0.5) * 2 * Number.MAX_SAFE_INTEGER))];
    const bigEdges = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 32n, -(2n ** 32n), 2n ** 31n - 1n];
    const bigs = [...bigEdges, ...Array.from({ length: 200 }, () => BigInt.asIntN(64, BigInt(Math.floor(rand() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(rand() * 2 ** 32))))];
    const reference = avro.Type.forSchema('long');
    for (const n of numbers) {
      const f = emptyFlow();
      f.bytes_fwd = n;
      f.socket_cookie = n;
      const back = codec.decode(codec.encode(f));
      assert.equal(back.bytes_fwd, n);
      assert.equal(back.socket_cookie, n);
      // Where avsc's own long is exact (|n| <= 2^52) the bytes must be the same as avsc's.
      if (Math.abs(n) <= 2 ** 52) assert.deepEqual(avroTypeFor('long').toBuffer(n), reference.toBuffer(n), `varint of ${n}`);
    }
    for (const n of bigs) {
      const f = emptyFlow();
      f.time_ns = n;
      const back = codec.decode(codec.encode(f));
      assert.equal(back.time_ns, n);
      // A safe value encodes to the same varint whether it is a bigint timestamp or a number.
      if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
        assert.deepEqual(avroTypeFor({ type: 'long', logicalType: 'timestamp-nanos' }).toBuffer(n), avroTypeFor('long').toBuffer(Number(n)));
      }
    }
  });

  it('encodes deep-frozen shared values once, and never serves stale bytes', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const fresh = codec.encode(typicalFlow(3));
    const shared = typicalSharedFlow(3);
    assert.ok(Object.isFrozen(shared.source));
    assert.deepEqual(codec.encode(shared), fresh, 'first encoding of the frozen values');
    assert.deepEqual(codec.encode(shared), fresh, 'from the remembered encoding');
    // Frozen at the top only: the labels array can change, so its encoding must not be remembered.
    const endpoint = Object.freeze({ ...typicalFlow().source, labels: ['k8s:app=a'] });
    const f = typicalFlow();
    f.source = endpoint;
    assert.deepEqual(codec.decode(codec.encode(f)).source.labels, ['k8s:app=a']);
    endpoint.labels.push('k8s:tier=b');
    assert.deepEqual(codec.decode(codec.encode(f)).source.labels, ['k8s:app=a', 'k8s:tier=b']);
    // The same frozen value in two flows and in a batch.
    const node = deepFreeze(['a=1', 'b=2']);
    const g = emptyFlow();
    g.node_labels = node;
    g.source_names = node;
    const batch = codec.encodeBatch([g, g]);
    for (const b of batch) {
      const back = codec.decode(b);
      assert.deepEqual(back.node_labels, ['a=1', 'b=2']);
      assert.deepEqual(back.source_names, ['a=1', 'b=2']);
    }
  });

  it('shares decoded endpoints by their bytes, frozen, and tells apart endpoints that differ late in their bytes', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const a = codec.decode(codec.encode(typicalFlow(1)));
    const b = codec.decode(codec.encode(typicalFlow(2)));
    assert.equal(a.source, b.source, 'the same object for the same bytes');
    assert.ok(Object.isFrozen(a.source) && Object.isFrozen(a.source.labels) && Object.isFrozen(a.source.workloads[0]));
    // Differences only after the first 48 bytes and off the sampling stride still decode as themselves.
    for (let i = 0; i < 40; i++) {
      const f = typicalFlow();
      f.source = { ...f.source, labels: [...f.source.labels.slice(0, 4), `k8s:io.kubernetes.pod.namespace=sho${String.fromCharCode(97 + i)}`] };
      assert.equal(codec.decode(codec.encode(f)).source.labels[4], f.source.labels[4]);
    }
  });
});

describe('bad input', () => {
  it('refuses a flow that does not match the schema, naming the field', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const f = typicalFlow();
    (f.source as { pod_name: unknown }).pod_name = 42;
    expectInvalid(() => codec.encode(f), /source\.pod_name: 42 is not a valid string/);
    const g = typicalFlow();
    (g as { time_ns: unknown }).time_ns = 1.5;
    expectInvalid(() => codec.encode(g), /time_ns/);
    const h = typicalFlow();
    (h as { verdict: unknown }).verdict = 'MAYBE';
    expectInvalid(() => codec.encode(h), /verdict: "MAYBE"/);
  });

  it('reports garbage, truncation, leftovers and unknown schemas as invalid_argument', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const good = codec.encode(typicalFlow());
    expectInvalid(() => codec.decode(Buffer.alloc(0)), /not a flow record: 0 bytes/);
    expectInvalid(() => codec.decode(Buffer.from('{"json":true}')), /not a flow record: 13 bytes starting 0x7b 0x22/);
    expectInvalid(() => codec.decode(good.subarray(0, 9)), /not a flow record/);
    expectInvalid(() => codec.decode(good.subarray(0, good.length - 1)), /truncated single-object flow record/);
    expectInvalid(() => codec.decode(Buffer.concat([good, Buffer.from([0])])), /1 bytes left over/);
    const otherFp = Buffer.from(good);
    otherFp[5] = (otherFp[5] as number) ^ 0xff;
    expectInvalid(() => codec.decode(otherFp), /unknown schema fingerprint [0-9a-f]{16} .*released flow schemas \(v1\)/);
    const confluent = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), good.subarray(10)]);
    expectInvalid(() => codec.decode(confluent), /schema id 7 but no schema registry is configured/);
  });

  it('refuses a block count larger than the record instead of allocating it', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const f = emptyFlow();
    f.node_labels = ['x'];
    const good = codec.encode(f);
    // node_labels is the 5th field: time_ns (1 byte for 0), uuid (16), emitter (2), node_name (1), then its count.
    const at = 10 + 1 + 16 + 2 + 1;
    assert.equal(good[at], 2, 'zigzag count 1 where expected');
    const huge = Buffer.concat([good.subarray(0, at), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]), good.subarray(at + 1)]);
    expectInvalid(() => codec.decode(huge), /array block of 2147483647 items does not fit/);
  });

  it('never crashes or hangs on random bodies behind a valid header', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const good = codec.encode(typicalFlow());
    const rand = prng(42);
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      let body: Buffer;
      if (i % 3 === 0) {
        // A good record with a few bytes flipped: the hard case, mostly valid structure.
        body = Buffer.from(good);
        for (let k = 0; k < 1 + (i % 5); k++) body[10 + Math.floor(rand() * (good.length - 10))] = Math.floor(rand() * 256);
      } else {
        body = Buffer.concat([good.subarray(0, 10), Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)))]);
      }
      try {
        codec.decode(body);
        decoded++;
      } catch (err) {
        assert.ok(err instanceof LookbackError && err.code === 'invalid_argument', `case ${i}: ${String(err)}`);
        refused++;
      }
    }
    assert.equal(decoded + refused, 3000);
    assert.ok(refused > 2000, `${refused} refused`);
  });

  it('needs a registry for the confluent framing', async () => {
    await assert.rejects(createFlowCodec({ framing: 'confluent' }), (err: unknown) => err instanceof LookbackError && err.code === 'config');
  });
});

describe('schema evolution', () => {
  const v2 = v2Candidate();
  const readerV1 = avroTypeFor(v1);
  const readerV2 = avroTypeFor(v2);

  it('new reads old: a v2 reader fills the added field with its default', () => {
    const bytes = readerV1.toBuffer(typicalFlow());
    const back = readerV2.fromBuffer(bytes, readerV2.createResolver(readerV1)) as Flow & { tcp_retransmits: number };
    assert.equal(back.tcp_retransmits, 0);
    assert.deepStrictEqual({ ...(plain(back) as Json), tcp_retransmits: undefined }, { ...typicalFlow(), tcp_retransmits: undefined });
  });

  it('old reads new: a v1 reader skips the added field', () => {
    const bytes = readerV2.toBuffer({ ...typicalFlow(), tcp_retransmits: 12 });
    const back = readerV1.fromBuffer(bytes, readerV1.createResolver(readerV2));
    assert.deepStrictEqual(plain(back), typicalFlow());
  });

  it('a codec whose current schema is v2 decodes single-object records written with v1, and v1 refuses v2 records by fingerprint', async () => {
    const v2Version = { version: 2, file: 'flow.v2.avsc (test candidate)', text: JSON.stringify(v2), schema: v2, fingerprint: schemaFingerprint(v2) };
    const withV2: FlowSchemas = { current: v2Version, released: [...schemas.released, v2Version] };
    const codecV2 = await createFlowCodec({ framing: 'single-object', schemas: withV2 });
    const codecV1 = await createFlowCodec({ framing: 'single-object' });
    for (const flow of sampleFlows()) {
      const back = codecV2.decode(codecV1.encode(flow)) as Flow & { tcp_retransmits?: number };
      assert.equal(back.tcp_retransmits, 0);
      delete back.tcp_retransmits;
      assert.deepStrictEqual(plain(back), flow);
    }
    // Without a registry, a reader knows only the schemas it ships: readers are deployed before writers.
    const newer = codecV2.encode({ ...typicalFlow(), tcp_retransmits: 3 } as Flow);
    expectInvalid(() => codecV1.decode(newer), /unknown schema fingerprint/);
  });

  it('the current schema reads every released version', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    for (const version of schemas.released) {
      const writer = avroTypeFor(version.schema);
      for (let i = 0; i < 20; i++) {
        // avsc's random values of the writer schema, plus a realistic record where v1's shape still fits.
        const value = i === 0 ? typicalFlow() : writer.random();
        const bytes = Buffer.concat([Buffer.from([0xc3, 0x01]), version.fingerprint, writer.toBuffer(value)]);
        const back = codec.decode(bytes);
        assert.equal(typeof back.time_ns, 'bigint', `v${version.version} sample ${i}`);
      }
    }
  });
});
