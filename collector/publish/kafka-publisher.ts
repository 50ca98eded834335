/**
 * Flows to Kafka, without ever blocking capture. publishEncoded() takes a batch of flows encoded by the pipeline
 * (Avro, views into the codec's shared slabs) into a bounded queue and returns; a single sender loop takes up to batchSize messages (waiting at most
 * linger for a batch to fill), sends them with an idempotent kafkajs producer (acks=all), and on failure retries
 * the same batch with exponential backoff, recreating the producer after repeated failures, so the collector
 * recovers by itself when the broker comes back. While Kafka is slow or down the queue fills; beyond its bounds
 * new flows are dropped and counted (stats.lost, onLoss -> metric and LostEvent), never waited for.
 * The topic is created with the admin API when absent (brokers run with auto-create off).
 */
import kafkajs from 'kafkajs';
import { describeError, LookbackError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { FlowCodec } from '../../schemas/avro-codec.js';
import type { Flow } from '../../schemas/flow-types.js';
import { compressionType, registerKafkaCodecs, type Compression } from '../../common/kafka-codecs.js';
import { flowKey } from './key.js';

export interface KafkaPublisherConfig {
  brokers: string[];
  clientId: string;
  topic: string;
  createTopic: boolean;
  partitions: number;
  replicationFactor: number;
  compression: Compression;
  batchSize: number;
  lingerMs: number;
  queueCapacity: number;
  queueMaxBytes: number;
  idempotent: boolean;
  retryBackoffMinMs: number;
  retryBackoffMaxMs: number;
  requestTimeoutMs: number;
}

export interface PublisherHooks {
  /** A send finished: how long it took, how many messages, whether it succeeded. */
  onSend?(seconds: number, messages: number, ok: boolean): void;
  /** Flows dropped because the queue was full (time range of the dropped flows). */
  onLoss?(count: number, firstNs: bigint, lastNs: bigint): void;
}

export interface PublisherStats {
  /** Messages waiting, including the batch being sent. */
  queued: number;
  queuedBytes: number;
  sent: number;
  batches: number;
  lost: number;
  sendErrors: number;
  producerRestarts: number;
  lastError: string;
  topicReady: boolean;
  idempotent: boolean;
}

export interface Publisher {
  /**
   * Queues flows, already encoded with `codec` (values[i] is the record value of flows[i]), for sending; never
   * waits. Returns how many were accepted (the rest are counted as lost).
   */
  publishEncoded(flows: readonly Flow[], values: readonly Buffer[]): number;
  /** The codec the record values are written with. */
  readonly codec: FlowCodec;
  start(): Promise<void>;
  /** Resolves when everything queued so far has been sent (true) or the timeout passed (false). */
  flush(timeoutMs: number): Promise<boolean>;
  /** Sends what is queued (up to timeoutMs), then disconnects; what is left is counted as lost. */
  stop(timeoutMs?: number): Promise<void>;
  stats(): PublisherStats;
}

interface Message {
  key: Buffer;
  value: Buffer;
}

/** A FIFO of messages with O(1) take from the head. */
class Queue {
  private items: Message[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: Message): void {
    this.items.push(m);
    this.bytes += m.value.length + m.key.length;
  }

  take(n: number): Message[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    for (const m of out) this.bytes -= m.value.length + m.key.length;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}

export function createKafkaPublisher(cfg: KafkaPublisherConfig, deps: { codec: FlowCodec; log?: Logger; hooks?: PublisherHooks }): Publisher {
  const log = deps.log ?? silentLogger;
  const hooks = deps.hooks ?? {};
  const queue = new Queue();
  const stats: PublisherStats = {
    queued: 0, queuedBytes: 0, sent: 0, batches: 0, lost: 0, sendErrors: 0, producerRestarts: 0, lastError: '',
    topicReady: !cfg.createTopic, idempotent: cfg.idempotent,
  };
  let inFlight: Message[] = [];
  let inFlightBytes = 0;
  let stopping = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  /** What the sender loop waits for: publishEncoded() wakes it when idle, or in linger once a batch is full. */
  let waiting: 'idle' | 'linger' | 'backoff' | null = null;
  let loop: Promise<void> | undefined;
  const drained: (() => void)[] = [];

  const kafka = new kafkajs.Kafka({
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    connectionTimeout: Math.min(cfg.requestTimeoutMs, 5000),
    requestTimeout: cfg.requestTimeoutMs,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logCreator: () => ({ level, log: entry }) => {
      const msg = `kafkajs: ${entry.message}`;
      if (level === kafkajs.logLevel.ERROR) log.debug(msg, { broker: entry.broker, error: entry.error });
    },
  });
  let producer: kafkajs.Producer | undefined;

  function newProducer(): kafkajs.Producer {
    return kafka.producer({
      idempotent: stats.idempotent,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Our loop retries with its own backoff; kafkajs retries briefly inside one send.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
  }

  async function dropProducer(): Promise<void> {
    const p = producer;
    producer = undefined;
    if (p) await p.disconnect().catch(() => undefined);
  }

  async function ensureTopic(): Promise<void> {
    if (stats.topicReady) return;
    const admin = kafka.admin();
    try {
      await admin.connect();
      const existing = await admin.listTopics();
      if (!existing.includes(cfg.topic)) {
        await admin.createTopics({
          topics: [{ topic: cfg.topic, numPartitions: cfg.partitions, replicationFactor: cfg.replicationFactor }],
          waitForLeaders: true,
        });
        log.info('created topic', { topic: cfg.topic, partitions: cfg.partitions });
      }
      stats.topicReady = true;
    } catch (err) {
      // Another collector may have created it at the same moment.
      if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') stats.topicReady = true;
      else throw err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  const sleep = (ms: number, why: 'idle' | 'linger' | 'backoff'): Promise<void> => new Promise((resolve) => {
    waiting = why;
    const done = (): void => { clearTimeout(t); wake = undefined; waiting = null; resolve(); };
    const t = setTimeout(done, ms);
    wake = done;
  });

  function notifyDrained(): void {
    if (queue.length === 0 && inFlight.length === 0) for (const d of drained.splice(0)) d();
  }

  async function sendLoop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      if (inFlight.length === 0) {
        if (queue.length === 0) {
          notifyDrained();
          if (stopping) break;
          await sleep(2 ** 30, 'idle');
          continue;
        }
        if (queue.length < cfg.batchSize && !stopping && drained.length === 0) await sleep(cfg.lingerMs, 'linger');
        inFlight = queue.take(cfg.batchSize);
        inFlightBytes = inFlight.reduce((n, m) => n + m.value.length + m.key.length, 0);
      }
      const t0 = process.hrtime.bigint();
      try {
        await ensureTopic();
        if (!producer) {
          producer = newProducer();
          await producer.connect();
        }
        await producer.send({ topic: cfg.topic, acks: -1, timeout: cfg.requestTimeoutMs, compression: compressionType(cfg.compression), messages: inFlight });
        stats.sent += inFlight.length;
        stats.batches++;
        hooks.onSend?.(Number(process.hrtime.bigint() - t0) / 1e9, inFlight.length, true);
        inFlight = [];
        inFlightBytes = 0;
        if (failures > 0) log.info('publishing again', { afterFailures: failures });
        failures = 0;
      } catch (err) {
        failures++;
        stats.sendErrors++;
        stats.lastError = describeError(err);
        hooks.onSend?.(Number(process.hrtime.bigint() - t0) / 1e9, inFlight.length, false);
        const type = (err as { type?: string }).type ?? '';
        if (stats.idempotent && (type === 'CLUSTER_AUTHORIZATION_FAILED' || type === 'UNSUPPORTED_VERSION')) {
          log.warn('the broker does not allow an idempotent producer; continuing without', { error: stats.lastError });
          stats.idempotent = false;
        }
        if (type === 'UNKNOWN_TOPIC_OR_PARTITION' && cfg.createTopic) stats.topicReady = false;
        if (failures === 1 || failures % 10 === 0) log.warn('sending to Kafka failed; retrying', { failures, queued: queue.length + inFlight.length, error: stats.lastError });
        // kafkajs reconnects by itself, and keeping the producer keeps its id and sequence numbers, so a batch
        // that reached the broker before an error is not written twice. A producer whose sequence numbers the
        // broker no longer accepts (or one failing for minutes) is replaced: a new one gets a fresh producer id.
        if (failures % 30 === 0 || /SEQUENCE|PRODUCER_ID|PRODUCER_FENCED/.test(type)) {
          stats.producerRestarts++;
          await dropProducer();
        }
        if (stopping) break;
        const backoff = Math.min(cfg.retryBackoffMaxMs, cfg.retryBackoffMinMs * 2 ** Math.min(failures - 1, 20));
        await sleep(backoff * (0.8 + Math.random() * 0.4), 'backoff');
      }
    }
  }

  /** Queues what fits of flows; counts and reports the rest as lost. */
  function accept(flows: readonly Flow[], values: readonly Buffer[]): number {
    const room = Math.min(cfg.queueCapacity - queue.length - inFlight.length, flows.length);
    let accepted = 0;
    if (room > 0 && queue.bytes + inFlightBytes < cfg.queueMaxBytes) {
      for (let i = 0; i < room; i++) queue.push({ key: flowKey(flows[i]!), value: values[i]! });
      accepted = room;
    }
    if (accepted < flows.length) {
      const lost = flows.length - accepted;
      stats.lost += lost;
      let first = flows[accepted]!.time_ns;
      let last = first;
      for (let i = accepted; i < flows.length; i++) {
        const t = flows[i]!.time_ns;
        if (t < first) first = t;
        if (t > last) last = t;
      }
      hooks.onLoss?.(lost, first, last);
    }
    if (accepted > 0 && (waiting === 'idle' || (waiting === 'linger' && queue.length >= cfg.batchSize))) wake?.();
    return accepted;
  }

  return {
    codec: deps.codec,
    publishEncoded(flows, values) {
      if (values.length !== flows.length) throw new Error(`publishEncoded: ${flows.length} flows but ${values.length} values`);
      return accept(flows, values);
    },
    async start() {
      await registerKafkaCodecs();
      if (loop) return;
      loop = sendLoop().catch((err: unknown) => {
        log.error('the Kafka sender stopped', { error: describeError(err) });
      });
    },
    flush(timeoutMs) {
      if (queue.length === 0 && inFlight.length === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          const i = drained.indexOf(done);
          if (i >= 0) drained.splice(i, 1);
          resolve(false);
        }, timeoutMs);
        const done = (): void => { clearTimeout(t); resolve(true); };
        drained.push(done);
        if (waiting !== 'backoff') wake?.();
      });
    },
    async stop(timeoutMs = 10_000) {
      if (stopped) return;
      stopping = true;
      wake?.();
      if (loop) {
        const finished = await Promise.race([loop.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
        if (!finished) log.warn('Kafka did not take the last flows in time', { left: queue.length + inFlight.length });
      }
      stopped = true;
      wake?.();
      const left = queue.length + inFlight.length;
      if (left > 0) {
        stats.lost += left;
        queue.take(queue.length);
        inFlight = [];
      }
      await dropProducer();
    },
    stats() {
      return { ...stats, queued: queue.length + inFlight.length, queuedBytes: queue.bytes + inFlightBytes };
    },
  };
}

export function assertPublisherConfig(cfg: KafkaPublisherConfig): void {
  if (cfg.retryBackoffMaxMs < cfg.retryBackoffMinMs) {
    throw new LookbackError('config', `config: kafka.retryBackoffMax (${cfg.retryBackoffMaxMs} ms) must not be below kafka.retryBackoffMin (${cfg.retryBackoffMinMs} ms)`);
  }
}
