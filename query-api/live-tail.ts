/**
 * GetFlows `follow`: the stored history, then the live tail read from the flow topic, with no gap and no duplicate
 * at the seam.
 *
 * The seam. Before reading history, fix where the tail will start in each partition: ingest's committed offset
 * (everything before it is durably in ClickHouse, so history has it), but not earlier than the first record of
 * the last `seamWindow` (bounds the catch-up read when ingest lags far behind). Records between that point and the
 * end may or may not be in ClickHouse when history is read, so the tail re-reads them and drops the ones history
 * already sent: history remembers the uuids of the flows it sent that are recent enough to be in that range.
 * A Kafka record's timestamp is when it was published, after the flow happened, so "recent enough" is the seam
 * window plus a publishing delay. The one case not covered: a flow ingest had not stored after more than
 * `seamWindow`, stored in the instant between the offset check and the history read; widen seamWindow if ingest
 * lags that much.
 *
 * With "the newest N" instead of since, a record published before the request that ingest had not stored yet
 * continues the history only when it is newer than the history's newest flow (older ones fall inside the span the
 * N flows cover); every record published after the request is delivered.
 *
 * Each follow stream reads with a consumer group of its own, started at the seam offsets (set on the group before
 * it joins, so there is no seek race) and removed when the stream ends; within the stream a (partition, offset)
 * high-water mark drops any record delivered twice by a rebalance.
 */
import crypto from 'node:crypto';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { registerKafkaCodecs } from '../common/kafka-codecs.js';
import { LookbackError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { createFlowCodec, type FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import { createRegistryClient } from '../schemas/registry-client.js';
import type { FlowStore } from './flow-store.js';
import type { FlowsRequest } from './flows-request.js';

export interface LiveTail {
  /** History (per the request's number/since) then live flows, each once, until `signal` aborts. */
  follow(req: FlowsRequest, sink: (flow: Flow) => Promise<void>, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface LiveTailOptions {
  brokers: string[];
  topic: string;
  registryUrl: string;
  ingestGroup: string;
  seamWindow: number;
  maxStreams: number;
  store: FlowStore;
  log: Logger;
}

/** How long after a flow happened its record may be published (collector batching and retries). */
const PUBLISH_DELAY_NS = 60_000_000_000n;

function unavailable(what: string, err: unknown): LookbackError {
  return new LookbackError('unavailable', `follow: ${what}: ${(err as Error).message ?? String(err)}`, { cause: err });
}

export async function createLiveTail(opts: LiveTailOptions): Promise<LiveTail> {
  // The collector publishes lz4 by default; kafkajs only knows gzip until the codecs are registered.
  await registerKafkaCodecs();
  const kafka: Kafka = new kafkajs.Kafka({ brokers: opts.brokers, clientId: 'lookback-query-follow', logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 3 } });
  let codec: FlowCodec | undefined;
  const getCodec = async (): Promise<FlowCodec> => {
    codec ??= await createFlowCodec({
      framing: 'single-object',
      ...(opts.registryUrl ? { registry: createRegistryClient({ url: opts.registryUrl }) } : {}),
    });
    return codec;
  };
  let admin: Admin | undefined;
  const getAdmin = async (): Promise<Admin> => {
    if (!admin) {
      const a = kafka.admin();
      try {
        await a.connect();
      } catch (err) {
        throw unavailable(`cannot reach Kafka at ${opts.brokers.join(',')}`, err);
      }
      admin = a;
    }
    return admin;
  };
  let active = 0;
  /** Streams in progress, so that close() can wait for them to release their consumers and groups. */
  const running = new Set<Promise<void>>();

  /** Where the tail starts in each partition (see the seam above); the end of each partition when no history. */
  async function startOffsets(a: Admin, withHistory: boolean, nowMs: number): Promise<Array<{ partition: number; offset: string }>> {
    const ends = await a.fetchTopicOffsets(opts.topic);
    if (!withHistory) return ends.map((e) => ({ partition: e.partition, offset: e.high }));
    const committed = new Map<number, bigint>();
    try {
      const [t] = await a.fetchOffsets({ groupId: opts.ingestGroup, topics: [opts.topic] });
      for (const p of t?.partitions ?? []) if (BigInt(p.offset) >= 0n) committed.set(p.partition, BigInt(p.offset));
    } catch {
      // No such group: fall back to time.
    }
    const byTime = new Map((await a.fetchTopicOffsetsByTimestamp(opts.topic, nowMs - opts.seamWindow)).map((e) => [e.partition, BigInt(e.offset)]));
    return ends.map((e) => {
      const high = BigInt(e.high);
      const low = BigInt(e.low);
      let timeOffset = byTime.get(e.partition) ?? high;
      if (timeOffset < 0n) timeOffset = high;
      const c = committed.get(e.partition);
      let offset = c === undefined ? timeOffset : c > timeOffset ? c : timeOffset;
      if (offset < low) offset = low;
      if (offset > high) offset = high;
      return { partition: e.partition, offset: offset.toString() };
    });
  }

  function follow(req: FlowsRequest, sink: (flow: Flow) => Promise<void>, signal: AbortSignal): Promise<void> {
    const p = followStream(req, sink, signal);
    running.add(p);
    const forget = (): void => { running.delete(p); };
    p.then(forget, forget);
    return p;
  }

  async function followStream(req: FlowsRequest, sink: (flow: Flow) => Promise<void>, signal: AbortSignal): Promise<void> {
    if (active >= opts.maxStreams) throw new LookbackError('resource_exhausted', `too many follow streams (${active}; follow.maxStreams = ${opts.maxStreams}); retry later`);
    active++;
    const groupId = `lookback-query-follow-${crypto.randomBytes(6).toString('hex')}`;
    let consumer: kafkajs.Consumer | undefined;
    try {
      const a = await getAdmin();
      const c = await getCodec();
      const withHistory = req.number > 0n || req.sinceNs !== null;
      const nowMs = Date.now();
      let starts: Array<{ partition: number; offset: string }>;
      let ends: Map<number, bigint>;
      try {
        ends = new Map((await a.fetchTopicOffsets(opts.topic)).map((e) => [e.partition, BigInt(e.high)]));
        starts = await startOffsets(a, withHistory, nowMs);
      } catch (err) {
        throw unavailable(`cannot read the offsets of ${opts.topic}`, err);
      }

      // History, remembering what the tail may deliver again.
      const seamFloor = BigInt(nowMs - opts.seamWindow) * 1_000_000n - PUBLISH_DELAY_NS;
      const sent = new Set<string>();
      let lastSent: bigint | null = null;
      if (withHistory) {
        await opts.store.stream(req, async (flow) => {
          lastSent = flow.time_ns;
          if (flow.time_ns >= seamFloor) sent.add(flow.uuid.toString('hex'));
          await sink(flow);
        }, signal);
      }
      if (signal.aborted) return;
      // With "the newest N", a record published before the request (the backlog up to `ends`) that ingest had not
      // stored yet continues the history only if it is newer than the history's newest flow: older ones fall
      // inside the span history already covered with its N flows. With since, every such record is part of it.
      const backlogFloor: bigint | null = req.number > 0n && req.sinceNs === null && lastSent !== null ? lastSent : null;

      await a.setOffsets({ groupId, topic: opts.topic, partitions: starts });
      consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000, heartbeatInterval: 3000, retry: { retries: 3 } });
      await consumer.connect();
      await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
      const highWater = new Map<number, bigint>();
      await new Promise<void>((resolve, reject) => {
        const done = (): void => resolve();
        signal.addEventListener('abort', done, { once: true });
        consumer!.on(consumer!.events.CRASH, (e) => {
          if (!signal.aborted) reject(unavailable('the Kafka consumer stopped', e.payload.error));
        });
        consumer!.run({
          autoCommit: true,
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
            await c.prefetch(batch.messages.map((m) => m.value).filter((v): v is Buffer => v !== null));
            let i = 0;
            for (const m of batch.messages) {
              if (signal.aborted || !isRunning() || isStale()) return;
              const offset = BigInt(m.offset);
              const seen = highWater.get(batch.partition);
              if (seen !== undefined && offset <= seen) continue;
              highWater.set(batch.partition, offset);
              if (!m.value) continue;
              let flow: Flow;
              try {
                flow = c.decode(m.value);
              } catch {
                continue; // not a flow: ingest dead-letters it; a viewer just skips it
              }
              if (req.sinceNs !== null && flow.time_ns < req.sinceNs) continue;
              if (backlogFloor !== null && flow.time_ns <= backlogFloor && offset < (ends.get(batch.partition) ?? 0n)) continue;
              if (req.untilNs !== null && flow.time_ns > req.untilNs) continue;
              if (!req.filters.matches(flow)) continue;
              if (sent.size > 0 && sent.has(flow.uuid.toString('hex'))) continue;
              try {
                await sink(flow);
              } catch {
                return; // the client went away
              }
              if (++i % 200 === 0) await heartbeat();
            }
          },
        }).catch((err: unknown) => reject(unavailable('the Kafka consumer failed', err)));
      });
    } finally {
      active--;
      if (consumer) {
        await consumer.disconnect().catch(() => {});
        await admin?.deleteGroups([groupId]).catch(() => {});
      }
    }
  }

  return {
    follow,
    async close() {
      // Streams end when their calls are cancelled (the gRPC server stops first); give them time to clean up.
      await Promise.race([Promise.allSettled([...running]), new Promise((r) => setTimeout(r, 5000).unref())]);
      await admin?.disconnect().catch(() => {});
    },
  };
}
