/**
 * Proof that lookback's Avro is standard Avro: Debian's python3-avro, an independent implementation, reads the
 * bytes we write (both framings) into the same values, writes bytes we read back, and computes the same
 * canonical form and fingerprint. Needs /usr/bin/python3 with python3-avro (`apt-get install -y python3-avro`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { canonicalForm } from '../schemas/fingerprint.js';
import { flowSchemaDir, loadFlowSchemas } from '../schemas/flow-schema.js';
import type { Flow } from '../schemas/flow-types.js';
import type { RegistryClient } from '../schemas/registry-client.js';
import { sampleFlows } from './fixtures/sample-flows.js';

const PYTHON = '/usr/bin/python3';
const here = path.dirname(fileURLToPath(import.meta.url));
// The script sits in test/fixtures of the source tree (tsc does not copy it to dist/).
const SCRIPT = [path.join(here, 'fixtures', 'avro_interop.py'), path.resolve(here, '../../test/fixtures/avro_interop.py')].find((p) => fs.existsSync(p)) ?? 'test/fixtures/avro_interop.py';
const SCHEMA = path.join(flowSchemaDir(), 'flow.avsc');

function python(mode: string, input = ''): string {
  const check = spawnSync(PYTHON, ['-c', 'import avro.io'], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new Error(`${PYTHON} cannot import avro (${check.stderr.trim() || check.error?.message}): install Debian's python3-avro with \`apt-get install -y python3-avro\``);
  }
  const res = spawnSync(PYTHON, [SCRIPT, mode, SCHEMA], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(res.status, 0, `avro_interop.py ${mode} failed: ${res.stderr}`);
  return res.stdout;
}

/** The JSON form both sides agree on: bytes as "hex:...", integers beyond 2^53 as decimal strings. */
function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** Only the fields a flow has, so that record instances and plain objects compare equal. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

function lines(out: string): Array<Record<string, unknown>> {
  return out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('python3-avro interop', () => {
  it('computes the same canonical form and CRC-64-AVRO fingerprint', () => {
    const fromPython = JSON.parse(python('fingerprint')) as { canonical: string; canonical_python: string; fingerprint: string };
    const ours = loadFlowSchemas().current;
    assert.equal(fromPython.canonical, canonicalForm(ours.schema));
    assert.equal(fromPython.fingerprint, ours.fingerprint.toString('hex'));
    // python3-avro 1.11.1's own form differs only where it keeps {"type":"long"} for annotated longs.
    assert.equal(fromPython.canonical_python.replaceAll('{"type":"long"}', '"long"'), fromPython.canonical);
  });

  it('decodes our single-object and Confluent-framed bytes into the same values', async () => {
    const flows = sampleFlows();
    const single = await createFlowCodec({ framing: 'single-object' });
    // Python is given the schema itself, so the id only has to be consistent: a registry that answers 42.
    const fixedId: RegistryClient = {
      url: 'memory:', register: async () => 42, lookup: async () => ({ id: 42, version: 1 }), getSchema: async () => '',
      setCompatibility: async () => {}, isCompatible: async () => true,
    };
    const confluent = await createFlowCodec({ framing: 'confluent', registry: fixedId });
    const encoded = [...flows.map((f) => single.encode(f)), ...flows.map((f) => confluent.encode(f))];
    assert.equal(encoded[flows.length]?.[0], 0x00);
    assert.equal(encoded[flows.length]?.readUInt32BE(1), 42);
    const input = encoded.map((b) => JSON.stringify({ hex: b.toString('hex') })).join('\n');
    const out = lines(python('decode', input));
    assert.equal(out.length, encoded.length);
    out.forEach((rec, i) => {
      assert.equal(rec['error'], undefined, `record ${i}: ${String(rec['error'])}`);
      assert.deepStrictEqual(rec['value'], toJson(flows[i % flows.length]), `record ${i}`);
    });
  });

  it('refuses a record whose fingerprint is not the schema\'s (python checks the header itself)', async () => {
    const single = await createFlowCodec({ framing: 'single-object' });
    const bytes = single.encode(sampleFlows()[0] as Flow);
    bytes[9] = (bytes[9] as number) ^ 1;
    const [rec] = lines(python('decode', JSON.stringify({ hex: bytes.toString('hex') })));
    assert.match(String(rec?.['error']), /single-object header .* is not this schema's/);
  });

  it('writes single-object bytes that we decode into the same values', async () => {
    const flows = sampleFlows();
    const out = lines(python('encode', flows.map((f) => JSON.stringify(toJson(f))).join('\n')));
    assert.equal(out.length, flows.length);
    const codec = await createFlowCodec({ framing: 'single-object' });
    out.forEach((rec, i) => {
      assert.equal(rec['error'], undefined, `record ${i}: ${String(rec['error'])}`);
      const bytes = Buffer.from(String(rec['hex']), 'hex');
      assert.deepStrictEqual(plain(codec.decode(bytes)), flows[i]);
      // Avro binary is deterministic: python's bytes are ours, byte for byte.
      assert.deepEqual(bytes, codec.encode(flows[i] as Flow), `record ${i} bytes`);
    });
  });
});
