/**
 * The transcoder (Avro bytes to RowBinary) and the general path (codec decode, then the Flow encoder) must write
 * the same bytes for every record, and agree on which records are bad.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { loadFlowSchemas } from '../schemas/flow-schema.js';
import type { Flow } from '../schemas/flow-types.js';
import { sampleFlows } from '../test/fixtures/sample-flows.js';
import { generateFlows } from '../bench/flowgen.js';
import { AvroRowTranscoder, createTranscoder, FLOW_V1_SHAPE, shapeOf, TRANSCODER_SCHEMA_VERSION } from './avro-transcoder.js';
import { writeFlowRow } from './flow-row-binary.js';
import { PERMISSIVE_LIMITS, timeWindowLimits, type FlowLimits } from './limits.js';
import { RowBinaryWriter } from './row-binary.js';

const schemas = loadFlowSchemas();

function both(value: Buffer, decode: (v: Buffer) => Flow, tc: AvroRowTranscoder, limits: FlowLimits): { fast: Buffer | string; general: Buffer | string } {
  const a = new RowBinaryWriter(1024);
  const b = new RowBinaryWriter(1024);
  let fast: Buffer | string;
  let general: Buffer | string;
  try {
    tc.transcode(value, 10, value.length, a, limits);
    fast = Buffer.from(a.finish());
  } catch (err) {
    fast = `error: ${(err as Error).message}`;
  }
  try {
    writeFlowRow(b, decode(value), limits);
    general = Buffer.from(b.finish());
  } catch (err) {
    general = `error: ${(err as Error).message}`;
  }
  return { fast, general };
}

test('reads the current schema (the test fails when flow.avsc changes shape: update the transcoder with it)', () => {
  assert.equal(schemas.current.version, TRANSCODER_SCHEMA_VERSION);
  assert.equal(shapeOf(schemas.current.schema), FLOW_V1_SHAPE);
  assert.ok(createTranscoder(schemas.current.schema));
  const other = structuredClone(schemas.current.schema) as { fields: unknown[] };
  other.fields.push({ name: 'extra', type: 'long', default: 0 });
  assert.equal(createTranscoder(other), undefined, 'another shape is refused');
});

test('writes the same bytes as decode + encode for samples and 20,000 generated flows', async () => {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const tc = new AvroRowTranscoder(schemas.current.schema);
  const end = Date.UTC(2026, 0, 1);
  const flows = [...sampleFlows(), ...generateFlows({ seed: 9, count: 20_000, start: end - 600_000, end })];
  let same = 0;
  let refused = 0;
  for (const value of codec.encodeBatch(flows)) {
    const { fast, general } = both(value, codec.decode, tc, PERMISSIVE_LIMITS);
    if (typeof fast === 'string' || typeof general === 'string') {
      // The samples' "extremes" record holds a negative counter: both paths must refuse it.
      assert.ok(typeof fast === 'string' && typeof general === 'string', `both refuse or both accept (${String(fast)} / ${String(general)})`);
      refused++;
      continue;
    }
    assert.ok(fast.equals(general), 'same bytes');
    same++;
  }
  assert.equal(refused, 1);
  assert.equal(same, flows.length - 1);
});

test('agrees with the general path on bad values and refuses corrupt bytes', async () => {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const tc = new AvroRowTranscoder(schemas.current.schema);
  const base = sampleFlows()[0] as Flow;
  const now = Date.UTC(2025, 10, 26, 7);
  const window = timeWindowLimits(now, 86_400_000, 3_600_000, 100);
  const cases: Array<[string, Partial<Flow>, RegExp]> = [
    ['port', { source_port: 70_000 }, /source_port = 70000 is out of range 0\.\.65535/],
    ['negative counter', { bytes_rev: -2 }, /bytes_rev = -2 is out of range/],
    ['identity', { source: { ...base.source, identity: -1 } }, /source\.identity = -1 is out of range/],
    ['ip length', { ip: { ...base.ip!, destination: Buffer.alloc(7) } }, /ip\.destination has 7 bytes/],
    ['long string', { summary: 'z'.repeat(101) }, /summary is 101 bytes long, more than the 100 allowed/],
    ['old time', { time_ns: BigInt(now - 2 * 86_400_000) * 1_000_000n }, /time_ns = \d+ .*outside the accepted window/],
    ['future time', { time_ns: BigInt(now + 2 * 3_600_000) * 1_000_000n }, /time_ns = \d+ .*outside the accepted window/],
    ['mac', { ethernet: { source: 2 ** 49, destination: 1 } }, /ethernet\.source = \d+ is out of range/],
  ];
  for (const [name, change, reason] of cases) {
    const value = codec.encode({ ...base, time_ns: BigInt(now) * 1_000_000n, summary: 'ok', ...change });
    const { fast, general } = both(value, codec.decode, tc, window);
    assert.equal(typeof fast, 'string', `${name}: the transcoder refuses it`);
    assert.equal(typeof general, 'string', `${name}: the general path refuses it`);
    assert.match(fast as string, reason, name);
    assert.match(general as string, reason, name);
  }
  const good = codec.encode(base);
  for (const bad of [good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([0])]), Buffer.concat([good.subarray(0, 40), Buffer.alloc(30, 0xff)])]) {
    const { fast } = both(bad, codec.decode, tc, PERMISSIVE_LIMITS);
    assert.match(String(fast), /^error: /, 'corrupt bytes are refused, never half-read');
  }
});
