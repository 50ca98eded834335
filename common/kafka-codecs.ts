/**
 * LZ4 and Zstandard for kafkajs, which ships only gzip. kafkajs keeps codecs in one process-wide table, so this
 * registers them once for every producer and consumer in the process. Both packages need no download at install:
 * lz4-napi brings a prebuilt binary as a platform package from npm (LZ4 frame format, which Kafka uses since
 * KIP-57) and compresses; lz4-frame.ts decompresses; @hpcc-js/wasm-zstd is a WebAssembly build of zstd.
 */
import kafkajs from 'kafkajs';
import { LookbackError } from './errors.js';
import { decompressLz4Frame } from './lz4-frame.js';

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';

let registered: Promise<void> | undefined;

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

async function register(): Promise<void> {
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  let lz4: typeof import('lz4-napi');
  let zstdModule: typeof import('@hpcc-js/wasm-zstd');
  try {
    lz4 = await import('lz4-napi');
    zstdModule = await import('@hpcc-js/wasm-zstd');
  } catch (err) {
    throw new LookbackError('missing_dependency', `the Kafka compression codecs are not installed (${(err as Error).message}); run \`npm install\` in the lookback checkout`, { cause: err });
  }
  const zstd = await zstdModule.Zstd.load();
  const lz4Codec: Codec = {
    compress: async (encoder) => lz4.compressFrameSync(encoder.buffer),
    // lz4-napi 2.10's decompressFrameSync never frees its output (RSS grew by GBs in ingest's runs): decode
    // frames with our own JavaScript reader instead.
    decompress: async (buffer) => decompressLz4Frame(buffer),
  };
  const zstdCodec: Codec = {
    compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
    decompress: async (buffer) => Buffer.from(zstd.decompress(buffer)),
  };
  (CompressionCodecs as Record<number, () => Codec>)[CompressionTypes.LZ4] = () => lz4Codec;
  (CompressionCodecs as Record<number, () => Codec>)[CompressionTypes.ZSTD] = () => zstdCodec;
}

/** Registers LZ4 and ZSTD with kafkajs (idempotent; consumers of compressed topics need it too). */
export function registerKafkaCodecs(): Promise<void> {
  registered ??= register().catch((err: unknown) => {
    registered = undefined;
    throw err;
  });
  return registered;
}

export function compressionType(c: Compression): kafkajs.CompressionTypes {
  const T = kafkajs.CompressionTypes;
  return c === 'gzip' ? T.GZIP : c === 'lz4' ? T.LZ4 : c === 'zstd' ? T.ZSTD : T.None;
}
