import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decompressLz4Frame } from './lz4-frame.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { sampleFlows } from '../test/fixtures/sample-flows.js';

async function lz4(): Promise<typeof import('lz4-napi')> {
  return import('lz4-napi');
}

test('decodes what lz4-napi (the collector\'s encoder) writes: random, repetitive, mixed and Kafka-batch-like data', async () => {
  const { compressFrameSync } = await lz4();
  const codec = await createFlowCodec({ framing: 'single-object' });
  const flows = Buffer.concat(codec.encodeBatch(Array.from({ length: 2000 }, (_, i) => sampleFlows()[i % 6]!)));
  let seed = 7;
  const random = Buffer.alloc(300_000);
  for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const inputs = [
    Buffer.alloc(0), Buffer.from('a'), Buffer.from('abcabcabcabcabcabcabcabcabcabcabcabc'), Buffer.alloc(5_000_000, 0x41),
    random, flows, Buffer.concat([random.subarray(0, 70_000), flows, Buffer.alloc(100_000, 1), random]),
  ];
  for (const input of inputs) {
    const out = decompressLz4Frame(compressFrameSync(input));
    assert.ok(out.equals(input), `${input.length} bytes round-trip`);
  }
  // Concatenated frames decode to the concatenation.
  const two = Buffer.concat([compressFrameSync(Buffer.from('first ')), compressFrameSync(Buffer.from('second'))]);
  assert.equal(decompressLz4Frame(two).toString(), 'first second');
});

test('reads stored (uncompressed) blocks and skippable frames, and refuses what is not a frame', () => {
  // magic, FLG (version 1, independent blocks), BD (64 KiB blocks), header checksum, one stored block, end mark.
  const stored = Buffer.concat([
    Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0xaa, 0xbb]), // a skippable frame of 2 bytes
    Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]),
    Buffer.from([5, 0, 0, 0x80]), Buffer.from('hello'), Buffer.from([0, 0, 0, 0]),
  ]);
  assert.equal(decompressLz4Frame(stored).toString(), 'hello');
  assert.throws(() => decompressLz4Frame(Buffer.from('not lz4 at all')), /bad magic number/);
  assert.throws(() => decompressLz4Frame(stored.subarray(0, stored.length - 6)), /truncated/);
});
