import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

/** The reference lz4 tool (Debian package lz4, installed by setup) compressing `input` with `flags`. */
function lz4Tool(input: Buffer, flags: string[]): Buffer {
  const r = spawnSync('lz4', [...flags, '-c'], { input, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `lz4 ${flags.join(' ')}: ${String(r.stderr)}`);
  return r.stdout;
}

test('decodes the reference lz4 tool\'s frames: linked blocks (JavaScript decoder), 64 KiB blocks with checksums, content size', async () => {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const flows = Buffer.concat(codec.encodeBatch(Array.from({ length: 3000 }, (_, i) => sampleFlows()[i % 6]!)));
  for (const flags of [['-BD', '-B4'], ['-B4', '-BX', '--content-size'], ['-B5'], ['-B7', '--content-size'], ['-BD', '-B5', '-9']]) {
    const out = decompressLz4Frame(lz4Tool(flows, flags));
    assert.ok(out.equals(flows), `lz4 ${flags.join(' ')}: ${flows.length} bytes round-trip`);
  }
  // A block that compresses far better than the first capacity guess (12 times) is decoded on the second try.
  const zeros = Buffer.alloc(3 << 20);
  assert.ok(decompressLz4Frame(lz4Tool(zeros, ['-B7'])).equals(zeros));
});

test('native block decoding does not leak: 400 decompressions of a 4 MiB frame keep memory flat', async () => {
  const { compressFrameSync } = await lz4();
  const input = Buffer.alloc(4 << 20);
  for (let i = 0; i < input.length; i++) input[i] = (i * 31 + (i >> 11)) & 0xff;
  const frame = compressFrameSync(input);
  for (let i = 0; i < 20; i++) decompressLz4Frame(frame);
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 400; i++) decompressLz4Frame(frame);
  const grown = process.memoryUsage().rss - before;
  // lz4-napi's leaking frame decoder grows by the output each time: 400 x 4 MiB = 1.6 GiB.
  assert.ok(grown < 400 << 20, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
});
