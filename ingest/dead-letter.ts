/**
 * The dead-letter topic: records ingest cannot store, byte for byte as they arrived (key, value, headers), plus
 * headers that say why and where they came from:
 *   lookback.dlq.reason      the reason, a sentence ("l7.http.code = 70000 is out of range 0..65535")
 *   lookback.dlq.kind        empty | oversized | undecodable | unknown_schema | invalid_value | rejected
 *   lookback.dlq.topic, lookback.dlq.partition, lookback.dlq.offset, lookback.dlq.timestamp   the origin
 *   lookback.dlq.group       the consumer group that gave up on it
 * A batch's dead letters are produced (acks from all replicas) before its offsets are committed: at least once,
 * so a crash in between can produce some twice; their origin headers tell duplicates apart.
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
} as const;

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
  try {
    await producer.send({ topic: dlqTopic, acks: -1, messages });
  } catch (err) {
    throw new LookbackError('unavailable', `writing ${letters.length} record(s) to the dead-letter topic ${dlqTopic} failed: ${(err as Error).message}`, { cause: err });
  }
}
