/**
 * Kafka offsets and the in-flight intent. Offsets are committed only after ClickHouse acknowledged a batch.
 * Before a batch is inserted, its first offset is committed again with metadata `lookback-ingest:v1:<last>`:
 * the intent. The committed position does not move, but whoever resumes the partition (this worker after a
 * crash, or another) learns which range was possibly inserted, rebuilds exactly that batch, and its insert is
 * dropped by ClickHouse's deduplication if the first one had landed.
 *
 * kafkajs drops a commit silently when its consumer is not running (stopping, or restarting after a crash), so
 * a commit counts only when kafkajs reports it done (its COMMIT_OFFSETS event).
 */
import type { Admin, Consumer } from 'kafkajs';
import { LookbackError } from '../common/errors.js';

const INTENT_PREFIX = 'lookback-ingest:v1:';

export function intentMetadata(lastOffset: number): string {
  return `${INTENT_PREFIX}${lastOffset}`;
}

/** The last offset of the batch an intent describes, or undefined for other (or no) metadata. */
export function parseIntent(metadata: string | null | undefined): number | undefined {
  if (!metadata || !metadata.startsWith(INTENT_PREFIX)) return undefined;
  const n = Number(metadata.slice(INTENT_PREFIX.length));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export interface CommittedOffset {
  /** The next offset to read, -1 when the group has none for the partition. */
  offset: number;
  /** The in-flight batch's last offset, when the previous owner recorded one. */
  intentEnd: number | undefined;
}

/** The group's committed offsets and intents for `topic`. */
export async function fetchCommitted(admin: Admin, groupId: string, topic: string): Promise<Map<number, CommittedOffset>> {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const out = new Map<number, CommittedOffset>();
  for (const t of res) {
    for (const p of t.partitions) {
      out.set(p.partition, { offset: Number(p.offset), intentEnd: parseIntent(p.metadata) });
    }
  }
  return out;
}

/** Confirms commits through kafkajs's COMMIT_OFFSETS event; see the module comment. */
export class CommitTracker {
  private readonly seen = new Map<string, { offset: string; metadata: string | null }>();

  constructor(consumer: Consumer) {
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics) {
        for (const p of t.partitions as Array<{ partition: number; offset: string; metadata?: string | null }>) {
          this.seen.set(`${t.topic}\u0000${p.partition}`, { offset: String(p.offset), metadata: p.metadata ?? null });
        }
      }
    });
  }

  /**
   * Commits `offset` (the next to read) for one partition, with metadata, and checks that it happened.
   * Throws a retriable LookbackError when it did not (rebalance, coordinator moved, consumer restarting).
   */
  async commit(consumer: Consumer, topic: string, partition: number, offset: number, metadata: string | null): Promise<void> {
    const key = `${topic}\u0000${partition}`;
    this.seen.delete(key);
    try {
      await consumer.commitOffsets([{ topic, partition, offset: String(offset), metadata }]);
    } catch (err) {
      throw new LookbackError('unavailable', `committing offset ${offset} of ${topic}[${partition}] failed: ${(err as Error).message}`, { cause: err });
    }
    const done = this.seen.get(key);
    if (!done || done.offset !== String(offset)) {
      throw new LookbackError('unavailable', `committing offset ${offset} of ${topic}[${partition}] did not happen (the consumer is rebalancing or restarting)`);
    }
  }
}
