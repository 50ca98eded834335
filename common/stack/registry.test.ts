import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isLookbackError } from '../errors.js';
import { startKafka, type LocalKafka } from './kafka.js';
import { APICURIO_VERSION, startRegistry, type LocalRegistry } from './registry.js';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

const sampleSchema = {
  type: 'record',
  name: 'Sample',
  namespace: 'dev.lookback.test',
  fields: [
    { name: 'time_ns', type: 'long' },
    { name: 'verdict', type: { type: 'enum', name: 'Verdict', symbols: ['UNKNOWN', 'FORWARDED', 'DROPPED'] } },
    { name: 'labels', type: { type: 'map', values: 'string' } },
    { name: 'dns', type: ['null', 'string'], default: null },
  ],
};

function subjectName(what: string): string {
  return `lookback-test-${what}-${crypto.randomBytes(4).toString('hex')}-value`;
}

/** The registry's JSON answer, loosely typed: the tests assert on the fields they read. */
type Json = Record<string, unknown>;

async function call(url: string, init?: RequestInit): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { ...init, headers: { 'Content-Type': CONTENT_TYPE, Accept: CONTENT_TYPE, ...init?.headers } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function register(base: string, subject: string, schema: object): Promise<number> {
  const res = await call(`${base}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    body: JSON.stringify({ schemaType: 'AVRO', schema: JSON.stringify(schema) }),
  });
  assert.equal(res.status, 200, `register: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.id, 'number');
  return res.body.id as number;
}

async function schemaById(base: string, id: number): Promise<unknown> {
  const res = await call(`${base}/schemas/ids/${id}`);
  assert.equal(res.status, 200, `get by id: ${JSON.stringify(res.body)}`);
  return JSON.parse(res.body.schema as string);
}

describe('schema registry (Confluent API)', () => {
  let base: string;
  let own: LocalRegistry | undefined;
  let ownDir: string | undefined;

  before(async () => {
    const fromEnv = process.env['LOOKBACK_TEST_REGISTRY_URL'];
    if (fromEnv) {
      base = fromEnv.replace(/\/+$/, '');
      return;
    }
    ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-registry-test-'));
    own = await startRegistry({ dataDir: ownDir });
    base = own.url;
  });

  after(async () => {
    await own?.stop();
    if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
  });

  test('the pinned version matches scripts/setup-registry.sh', () => {
    const script = fs.readFileSync(path.join(repoRoot, 'scripts', 'setup-registry.sh'), 'utf8');
    assert.equal(/APICURIO_VERSION="\$\{APICURIO_VERSION:-([^}]+)\}"/.exec(script)?.[1], APICURIO_VERSION);
  });

  test('registers an Avro schema under a subject and returns it by id', async () => {
    const subject = subjectName('sample');
    const id = await register(base, subject, sampleSchema);
    assert.deepEqual(await schemaById(base, id), sampleSchema);

    const latest = await call(`${base}/subjects/${subject}/versions/latest`);
    assert.equal(latest.status, 200);
    assert.equal(latest.body.id, id);
    assert.equal(latest.body.version, 1);
    assert.equal(latest.body.subject, subject);

    // Registering the same schema again is idempotent, as with Confluent's registry.
    assert.equal(await register(base, subject, sampleSchema), id);

    // A backward-compatible evolution (a new field with a default) becomes version 2 with a new id.
    const evolved = { ...sampleSchema, fields: [...sampleSchema.fields, { name: 'bytes', type: 'long', default: 0 }] };
    const id2 = await register(base, subject, evolved);
    assert.notEqual(id2, id);
    assert.deepEqual(await schemaById(base, id2), evolved);
    const versions = await call(`${base}/subjects/${subject}/versions`);
    assert.deepEqual(versions.body as unknown, [1, 2]);

    const subjects = await call(`${base}/subjects`);
    assert.ok((subjects.body as unknown as string[]).includes(subject));
  });

  test('an unknown id is a 404 with a Confluent error code', async () => {
    const res = await call(`${base}/schemas/ids/987654321`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error_code, 40403);
  });
});

describe('startRegistry on its own data directory', () => {
  test('a restart on the same dataDir keeps the schemas (H2 file storage)', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-registry-restart-'));
    let registry: LocalRegistry | undefined = await startRegistry({ dataDir });
    try {
      const subject = subjectName('restart');
      const id = await register(registry.url, subject, sampleSchema);
      await registry.stop();
      registry = await startRegistry({ dataDir });
      assert.deepEqual(await schemaById(registry.url, id), sampleSchema);
    } finally {
      await registry?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('kafkasql storage keeps schemas in Kafka', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-registry-kafkasql-'));
    let kafka: LocalKafka | undefined;
    let registry: LocalRegistry | undefined;
    try {
      const fromEnv = process.env['LOOKBACK_TEST_KAFKA_BROKERS'];
      let brokers = fromEnv?.split(',').map((b) => b.trim()).filter(Boolean);
      if (!brokers?.length) {
        kafka = await startKafka({ dataDir: path.join(dir, 'kafka') });
        brokers = kafka.brokers;
      }
      registry = await startRegistry({ dataDir: path.join(dir, 'registry'), storage: 'kafkasql', kafkaBrokers: brokers });
      const id = await register(registry.url, subjectName('kafkasql'), sampleSchema);
      assert.deepEqual(await schemaById(registry.url, id), sampleSchema);
    } finally {
      await registry?.stop();
      await kafka?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('kafkasql storage without brokers is a config error', async () => {
    await assert.rejects(startRegistry({ dataDir: os.tmpdir(), storage: 'kafkasql' }), (err: unknown) => {
      assert.ok(isLookbackError(err));
      assert.equal(err.code, 'config');
      assert.match(err.message, /kafkaBrokers/);
      return true;
    });
  });

  test('a missing installation is a missing_dependency error that names the setup step', async () => {
    const saved = process.env['LOOKBACK_CACHE'];
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-empty-cache-'));
    process.env['LOOKBACK_CACHE'] = empty;
    try {
      await assert.rejects(startRegistry({ dataDir: path.join(empty, 'data') }), (err: unknown) => {
        assert.ok(isLookbackError(err));
        assert.equal(err.code, 'missing_dependency');
        assert.match(err.message, /bash scripts\/setup\.sh/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env['LOOKBACK_CACHE'];
      else process.env['LOOKBACK_CACHE'] = saved;
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
