/**
 * LZ4 frame decompression for reading the collector's LZ4-compressed Kafka batches: the frame is parsed here, and
 * each block is decompressed by lz4-napi's block decoder (native), or by the JavaScript decoder below for frames
 * whose blocks depend on earlier ones (linked blocks; Kafka's and lz4-napi's producers write independent blocks).
 *
 * Why not lz4-napi's decompressFrameSync (common/kafka-codecs.ts): in lz4-napi 2.10.0 it leaks the decompressed
 * output. Measured through the kafkajs codec: 1,000 decompressions of a 4 MiB frame grew the process by 4.3 GB
 * (80 MB -> 4,352 MB RSS, garbage collection or not). Ingest decompresses every fetched batch, so it would grow
 * without bound. Its block decoder (uncompressSync, a 4-byte output capacity before the block) does not leak
 * (lz4-frame.test.ts checks), and costs 0.38 us of CPU per 1.2 KB flow against 1.75 us for the JavaScript decoder
 * (a 586 KB batch of 500 flows). The capacity is zero-filled, so it is guessed from the compressed size first
 * (a too-small guess is an error, and the block is decoded again with the frame's block size).
 *
 * The frame format (lz4.org/lz4_Frame_format.html): magic 0x184D2204, a descriptor (flags, block size, optional
 * content size and dictionary id, header checksum), blocks (4-byte size, high bit = stored uncompressed) up to an
 * end mark, optional block and content checksums (skipped, not verified: Kafka's batch CRC covers the bytes).
 * Concatenated frames and skippable frames are read too. Dictionaries are refused.
 */
import lz4 from 'lz4-napi';

const MAGIC = 0x184d2204;
/** Block maximum sizes by the BD byte's bits 4-6. */
const BLOCK_MAX: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };
const SKIPPABLE_MIN = 0x184d2a50;
const SKIPPABLE_MAX = 0x184d2a5f;

function fail(what: string): never {
  throw new Error(`LZ4 frame: ${what}`);
}

/** The output buffer, grown as decoding goes. */
interface Output {
  buf: Buffer;
}

/** Makes room for `n` more bytes after `op`; returns the (possibly new) buffer. */
function grow(o: Output, op: number, n: number): Buffer {
  if (op + n <= o.buf.length) return o.buf;
  let size = o.buf.length * 2;
  while (size < op + n) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  o.buf.copy(grown, 0, 0, op);
  o.buf = grown;
  return grown;
}

/** Decompresses one or more concatenated LZ4 frames. */
export function decompressLz4Frame(src: Buffer): Buffer {
  const parts: Buffer[] = [];
  let ip = 0;
  while (ip < src.length) {
    if (ip + 4 > src.length) fail('truncated magic number');
    const magic = src.readUInt32LE(ip);
    ip += 4;
    if (magic >= SKIPPABLE_MIN && magic <= SKIPPABLE_MAX) {
      if (ip + 4 > src.length) fail('truncated skippable frame');
      ip += 4 + src.readUInt32LE(ip);
      continue;
    }
    if (magic !== MAGIC) fail(`bad magic number 0x${magic.toString(16)}`);
    if (ip + 3 > src.length) fail('truncated frame descriptor');
    const flg = src[ip++] as number;
    const blockMax = BLOCK_MAX[((src[ip++] as number) >> 4) & 7];
    if (flg >> 6 !== 1) fail(`unsupported version ${flg >> 6}`);
    if (blockMax === undefined) fail('bad block maximum size');
    const frame: Frame = { independent: (flg & 0x20) !== 0, blockChecksum: (flg & 0x10) !== 0, blockMax, contentSize: -1 };
    if (flg & 0x08) {
      const size = Number(src.readBigUInt64LE(ip));
      ip += 8;
      if (size <= 2 ** 31) frame.contentSize = size;
    }
    if (flg & 0x01) fail('frames with a dictionary are not supported');
    ip++; // header checksum
    ip = frame.independent ? independentBlocks(src, ip, frame, parts) : linkedBlocks(src, ip, frame, parts);
    if (flg & 0x04) ip += 4; // content checksum
  }
  return parts.length === 1 && parts[0]!.buffer !== src.buffer ? parts[0]! : Buffer.concat(parts);
}

interface Frame {
  independent: boolean;
  blockChecksum: boolean;
  blockMax: number;
  /** The uncompressed size when the frame says it, else -1. */
  contentSize: number;
}

/** Calls `each(block, size, stored)` for each block of a frame from `ip`; returns the position after the end mark. */
function blocks(src: Buffer, ip: number, frame: Frame, each: (start: number, size: number, stored: boolean) => void): number {
  for (;;) {
    if (ip + 4 > src.length) fail('truncated block size');
    const word = src.readUInt32LE(ip);
    ip += 4;
    if (word === 0) return ip; // end mark
    const size = word & 0x7fffffff;
    if (ip + size > src.length) fail('truncated block');
    each(ip, size, (word & 0x80000000) !== 0);
    ip += size;
    if (frame.blockChecksum) ip += 4;
  }
}

/** Independent blocks: each decompressed natively into a Buffer of its own. */
function independentBlocks(src: Buffer, ip: number, frame: Frame, parts: Buffer[]): number {
  return blocks(src, ip, frame, (start, size, stored) => {
    if (stored) {
      parts.push(src.subarray(start, start + size));
      return;
    }
    // Kafka batches of flows compress 5-10 times: 12 times the compressed size (at least 64 KiB) is rarely short.
    const guess = frame.contentSize >= 0 ? Math.min(frame.contentSize, frame.blockMax) : Math.min(frame.blockMax, Math.max(64 << 10, size * 12));
    const input = Buffer.allocUnsafe(4 + size);
    src.copy(input, 4, start, start + size);
    input.writeUInt32LE(guess, 0);
    try {
      parts.push(lz4.uncompressSync(input));
    } catch (err) {
      if (guess >= frame.blockMax) fail(`corrupt block (${(err as Error).message})`);
      input.writeUInt32LE(frame.blockMax, 0);
      try {
        parts.push(lz4.uncompressSync(input));
      } catch (err2) {
        fail(`corrupt block (${(err2 as Error).message})`);
      }
    }
  });
}

/** Linked blocks (matches may reach into earlier blocks): decoded in JavaScript into one output. */
function linkedBlocks(src: Buffer, ip: number, frame: Frame, parts: Buffer[]): number {
  const o: Output = { buf: Buffer.allocUnsafe(Math.max(1024, frame.contentSize >= 0 ? frame.contentSize : src.length * 4)) };
  let op = 0;
  const end = blocks(src, ip, frame, (start, size, stored) => {
    if (stored) {
      grow(o, op, size);
      src.copy(o.buf, op, start, start + size);
      op += size;
    } else {
      op = decodeBlock(src, start, start + size, o, op);
    }
  });
  parts.push(o.buf.subarray(0, op));
  return end;
}

/** Decodes one LZ4 block `src[start, end)` into the output at `op`; returns the new output position. */
function decodeBlock(src: Buffer, start: number, end: number, o: Output, op: number): number {
  let ip = start;
  let out = o.buf;
  while (ip < end) {
    const token = src[ip++] as number;
    let lit = token >> 4;
    if (lit === 15) {
      let b: number;
      do {
        b = src[ip++] as number;
        lit += b;
      } while (b === 255 && ip < end);
    }
    if (lit > 0) {
      if (ip + lit > end) fail('literals run past the block');
      if (op + lit > out.length) out = grow(o, op, lit);
      if (lit < 32) {
        for (let i = 0; i < lit; i++) out[op + i] = src[ip + i] as number;
      } else {
        src.copy(out, op, ip, ip + lit);
      }
      ip += lit;
      op += lit;
    }
    if (ip >= end) break; // the last sequence has literals only
    const offset = (src[ip] as number) | ((src[ip + 1] as number) << 8);
    ip += 2;
    if (offset === 0 || offset > op) fail(`match offset ${offset} outside the output`);
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        b = src[ip++] as number;
        len += b;
      } while (b === 255 && ip < end);
    }
    len += 4;
    if (op + len > out.length) out = grow(o, op, len);
    let from = op - offset;
    if (offset >= len && len >= 32) {
      out.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Overlapping (a run): byte by byte repeats the pattern, as the format intends.
      const stop = op + len;
      while (op < stop) out[op++] = out[from++] as number;
    }
  }
  return op;
}
