/**
 * The dead-letter topic: records ingest cannot store, byte for byte as they arrived (key, value, headers), plus
 * headers that say why and where they came from:
 *   lookback.dlq.reason      the reason, a sentence ("l7.http.code = 70000 is out of range 0..65535")
 *   lookback.dlq.kind        empty | oversized | undecodable | unknown_schema | invalid_value | rejected
 *   lookback.dlq.topic, lookback.dlq.partition, lookback.dlq.offset, lookback.dlq.timestamp   the origin
 *   lookback.dlq.group       the consumer group that gave up on it
 * A batch's dead letters are produced (acks from all replicas) before its offsets are committed: at least once,
 * so a crash in between can produce some twice; their origin headers tell duplicates apart.
 *
 * A batch can hold thousands of dead letters (a producer gone wrong), more than one produce request may carry
 * (the broker's message.max.bytes, 1 MiB by default, bounds a whole record batch): they are sent in chunks of at
 * most DLQ_CHUNK_BYTES. A single letter the broker still refuses as too large (its value plus our headers over the
 * limit) is sent without its value, with lookback.dlq.value-dropped saying how many bytes it had: its origin
 * headers point at the original, still in the source topic. Without this, the batch would be retried forever.
 */
import type { IHeaders, Producer } from 'kafkajs';
import { LookbackError } from '../common/errors.js';
import type { DeadLetter } from './partition.js';

export const DLQ_HEADERS = {
  reason: 'lookback.dlq.reason',
  kind: 'lookback.dlq.kind',
  topic: 'lookback.dlq.topic',
  partition: 'lookback.dlq.partition',
  offset: 'lookback.dlq.offset',
  timestamp: 'lookback.dlq.timestamp',
  group: 'lookback.dlq.group',
  valueDropped: 'lookback.dlq.value-dropped',
} as const;

/** The most bytes (values, keys, headers) one produce request to the dead-letter topic carries. */
export const DLQ_CHUNK_BYTES = 256 * 1024;

type Letter = { key: Buffer | null; value: Buffer | null; headers: IHeaders; timestamp: string };

function letterBytes(m: Letter): number {
  let n = 64 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers)) n += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
  return n;
}

/** The letters in order, in chunks of at most `maxBytes` (a larger letter is a chunk of its own). */
export function chunkLetters<T extends Letter>(messages: readonly T[], maxBytes = DLQ_CHUNK_BYTES): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const m of messages) {
    const n = letterBytes(m);
    if (chunk.length > 0 && bytes + n > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

const tooLarge = (err: unknown): boolean => {
  for (let e = err as { type?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
  }
  return false;
};

export async function sendDeadLetters(producer: Producer, dlqTopic: string, origin: { topic: string; partition: number; groupId: string }, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const messages = letters.map((d) => {
    const headers: IHeaders = {};
    for (const [k, v] of Object.entries(d.headers)) if (v !== undefined && !k.startsWith('lookback.dlq.')) headers[k] = v;
    headers[DLQ_HEADERS.reason] = d.reason;
    headers[DLQ_HEADERS.kind] = d.kind;
    headers[DLQ_HEADERS.topic] = origin.topic;
    headers[DLQ_HEADERS.partition] = String(origin.partition);
    headers[DLQ_HEADERS.offset] = String(d.offset);
    headers[DLQ_HEADERS.timestamp] = d.timestamp;
    headers[DLQ_HEADERS.group] = origin.groupId;
    return { key: d.key, value: d.value, headers, timestamp: d.timestamp };
  });
  let sent = 0;
  for (const chunk of chunkLetters(messages)) {
    try {
      try {
        await producer.send({ topic: dlqTopic, acks: -1, messages: chunk });
      } catch (err) {
        if (!(chunk.length === 1 && tooLarge(err))) throw err;
        const m = chunk[0]!;
        const headers = { ...m.headers, [DLQ_HEADERS.valueDropped]: `${m.value?.length ?? 0} bytes: more than the broker accepts; the original is at the origin offset` };
        await producer.send({ topic: dlqTopic, acks: -1, messages: [{ ...m, value: null, headers }] });
      }
    } catch (err) {
      throw new LookbackError('unavailable', `writing ${letters.length} record(s) to the dead-letter topic ${dlqTopic} failed after ${sent}: ${(err as Error).message}`, { cause: err });
    }
    sent += chunk.length;
  }
}
