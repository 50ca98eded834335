/**
 * The Confluent framing against a real Confluent-compatible schema registry (the stack's Apicurio, or the one
 * at LOOKBACK_TEST_REGISTRY_URL): registration, round trips through a decoder that learns ids from the registry,
 * schema evolution both ways with a v2 candidate registered under FULL compatibility, and the errors for unknown
 * ids, foreign schemas and an unreachable registry.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LookbackError } from '../common/errors.js';
import { freePort } from '../common/stack/ports.js';
import { startRegistry, type LocalRegistry } from '../common/stack/registry.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { canonicalForm, schemaFingerprint } from '../schemas/fingerprint.js';
import { loadFlowSchemas, type FlowSchemas } from '../schemas/flow-schema.js';
import type { Flow } from '../schemas/flow-types.js';
import { createRegistryClient, type RegistryClient } from '../schemas/registry-client.js';
import { valueSubject } from '../schemas/topics.js';
import { sampleFlows, typicalFlow } from './fixtures/sample-flows.js';
import { uniqueName } from './helpers.js';

type Json = Record<string, unknown>;

function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

function isError(code: string, message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof LookbackError, `expected a LookbackError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  };
}

const schemas = loadFlowSchemas();

/** The flow.v2 candidate: v1 plus a field with a default. Lives only in this test. */
function v2Schemas(): FlowSchemas {
  const v2 = structuredClone(schemas.current.schema) as Json;
  (v2['fields'] as Json[]).push({ name: 'tcp_retransmits', type: 'long', default: 0, doc: 'Candidate v2 field.' });
  const version = { version: 2, file: 'flow.v2.avsc (test candidate)', text: JSON.stringify(v2), schema: v2, fingerprint: schemaFingerprint(v2) };
  return { current: version, released: [...schemas.released, version] };
}

describe('Confluent framing with a real schema registry', () => {
  let url: string;
  let own: LocalRegistry | undefined;
  let ownDir: string | undefined;
  let registry: RegistryClient;

  before(async () => {
    const fromEnv = process.env['LOOKBACK_TEST_REGISTRY_URL'];
    if (fromEnv) {
      url = fromEnv;
    } else {
      ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-avro-registry-'));
      own = await startRegistry({ dataDir: ownDir });
      url = own.url;
    }
    registry = createRegistryClient({ url });
  });

  after(async () => {
    await own?.stop();
    if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
  });

  it('registers the flow schema under <topic>-value and returns it by id', async () => {
    const subject = valueSubject(uniqueName('lookback.flows'));
    const codec = await createFlowCodec({ framing: 'confluent', registry, subject });
    assert.ok(Number.isInteger(codec.schemaId) && (codec.schemaId as number) >= 0);
    // Registration is idempotent, and a fresh client finds the same id.
    const again = createRegistryClient({ url });
    assert.equal(await again.register(subject, schemas.current.text), codec.schemaId);
    assert.deepEqual(await again.lookup(subject, schemas.current.text), { id: codec.schemaId, version: 1 });
    const text = await again.getSchema(codec.schemaId as number);
    assert.equal(canonicalForm(JSON.parse(text)), canonicalForm(schemas.current.schema));
    assert.equal(await again.lookup(valueSubject(uniqueName('absent')), schemas.current.text), undefined);
  });

  it('round-trips every sample flow through a decoder that learns the id from the registry', async () => {
    const subject = valueSubject(uniqueName('lookback.flows'));
    const producer = await createFlowCodec({ framing: 'confluent', registry, subject });
    const flows = sampleFlows();
    const values = producer.encodeBatch(flows);
    for (const v of values) {
      assert.equal(v[0], 0x00);
      assert.equal(v.readUInt32BE(1), producer.schemaId);
    }
    // A consumer with its own registry client has never seen the id: decode() says so, prefetch() fixes it.
    const consumer = await createFlowCodec({ framing: 'single-object', registry: createRegistryClient({ url }) });
    assert.throws(() => consumer.decode(values[0] as Buffer), isError('not_found', /has not been fetched/));
    await consumer.prefetch(values);
    values.forEach((v, i) => assert.deepStrictEqual(plain(consumer.decode(v)), flows[i]));
    // decodeAsync does the same for one record; the single-object codec reads both framings.
    const fresh = await createFlowCodec({ framing: 'single-object', registry: createRegistryClient({ url }) });
    assert.deepStrictEqual(plain(await fresh.decodeAsync(values[2] as Buffer)), flows[2]);
    assert.deepStrictEqual(plain(fresh.decode(consumer.encode(flows[3] as Flow))), flows[3]);
  });

  it('evolves under FULL compatibility: v2 is accepted, and old and new readers read each other through the registry', async () => {
    const subject = valueSubject(uniqueName('lookback.flows'));
    await registry.setCompatibility(subject, 'FULL');
    const oldWriter = await createFlowCodec({ framing: 'confluent', registry, subject });
    const withV2 = v2Schemas();
    assert.equal(await registry.isCompatible(subject, withV2.current.text), true);
    const newWriter = await createFlowCodec({ framing: 'confluent', registry, subject, schemas: withV2 });
    assert.notEqual(newWriter.schemaId, oldWriter.schemaId);

    const flow = typicalFlow();
    const fromOld = oldWriter.encode(flow);
    const fromNew = newWriter.encode({ ...flow, tcp_retransmits: 5 } as Flow);

    // Old reads new: a v1 consumer fetches v2 by id and resolves it into v1, skipping the new field.
    const oldReader = await createFlowCodec({ framing: 'confluent', registry: createRegistryClient({ url }), subject });
    assert.deepStrictEqual(plain(await oldReader.decodeAsync(fromNew)), flow);
    // New reads old: a v2 consumer reads v1 records with the field's default.
    const newReader = await createFlowCodec({ framing: 'confluent', registry: createRegistryClient({ url }), subject, schemas: withV2 });
    assert.deepStrictEqual(plain(await newReader.decodeAsync(fromOld)), { ...flow, tcp_retransmits: 0 });
    assert.deepStrictEqual(plain(await newReader.decodeAsync(fromNew)), { ...flow, tcp_retransmits: 5 });
  });

  it('refuses an incompatible change', async () => {
    const subject = valueSubject(uniqueName('lookback.flows'));
    await registry.setCompatibility(subject, 'FULL');
    await registry.register(subject, schemas.current.text);
    // A new field without a default: new readers could not read old records.
    const bad = structuredClone(schemas.current.schema) as Json;
    (bad['fields'] as Json[]).push({ name: 'must_have', type: 'string', doc: 'no default' });
    assert.equal(await registry.isCompatible(subject, JSON.stringify(bad)), false);
    await assert.rejects(registry.register(subject, JSON.stringify(bad)), isError('schema', /not compatible/));
  });

  it('reports unknown ids and schemas that are not flows as bad records', async () => {
    const consumer = await createFlowCodec({ framing: 'single-object', registry: createRegistryClient({ url }) });
    const body = (await createFlowCodec({ framing: 'single-object' })).encode(typicalFlow()).subarray(10);
    const unknownId = Buffer.concat([Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xf0]), body]);
    await assert.rejects(consumer.decodeAsync(unknownId), isError('invalid_argument', /unknown schema id 2147483632: the registry at .* does not have it/));
    // The verdict is remembered: decode() now reports it without asking the registry again.
    assert.throws(() => consumer.decode(unknownId), isError('invalid_argument', /unknown schema id 2147483632/));

    const otherSubject = valueSubject(uniqueName('other'));
    const otherId = await registry.register(otherSubject, JSON.stringify({ type: 'record', name: 'Other', namespace: 'x', fields: [{ name: 'a', type: 'string' }] }));
    const foreign = Buffer.concat([Buffer.from([0x00, 0, 0, 0, 0]), Buffer.from([0x02, 0x41])]);
    foreign.writeUInt32BE(otherId, 1);
    await assert.rejects(consumer.decodeAsync(foreign), isError('invalid_argument', /is x\.Other, not lookback\.flow\.Flow/));
  });

  it('reports an unreachable registry as unavailable and retriable', async () => {
    const port = await freePort();
    const down = createRegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2_000 });
    await assert.rejects(createFlowCodec({ framing: 'confluent', registry: down }), (err: unknown) => {
      assert.ok(err instanceof LookbackError && err.code === 'unavailable' && err.retriable, String(err));
      assert.match(err.message, new RegExp(`schema registry at http://127.0.0.1:${port} did not answer`));
      return true;
    });
    const consumer = await createFlowCodec({ framing: 'single-object', registry: down });
    await assert.rejects(consumer.prefetch([Buffer.from([0, 0, 0, 0, 1, 0])]), isError('unavailable', /did not answer GET \/schemas\/ids\/1/));
  });
});
