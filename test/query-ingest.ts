/**
 * The real write path for the query API's tests: flows published to a Kafka topic, stored by an ingest worker
 * (`lookback ingest`, a child process) into a fresh database. Built from ingest's own test harness.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { SupervisedChild } from '../common/stack/child.js';
import { createFlowCodec, type FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import { ensureStack, uniqueName } from './helpers.js';
import { configTree, createTopic, encodeAll, kafkaClient, publish, rowCounts, startWorker, waitFor, writeConfigFile } from './ingest-harness.js';
import type { TestDatabase } from './query-db.js';

export interface IngestPipeline {
  brokers: string[];
  topic: string;
  /** Ingest's consumer group (the live tail starts at its committed offsets). */
  groupId: string;
  kafka: Kafka;
  codec: FlowCodec;
  partitions: number;
  /** Publishes flows to the topic (round-robin over partitions), acknowledged by every replica. */
  publish(flows: readonly Flow[]): Promise<void>;
  /** Waits until the raw table holds `rows` rows. */
  waitStored(rows: number, timeoutMs?: number): Promise<void>;
  /** Stops the ingest worker (records then wait in Kafka), and starts it again. */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

export async function startIngestPipeline(db: TestDatabase, partitions = 3): Promise<IngestPipeline> {
  const { kafkaBrokers: brokers } = await ensureStack({ clickhouse: true, kafka: true });
  const kafka = kafkaClient(brokers);
  const topic = uniqueName('query_flows');
  const groupId = `${topic}-ingest`;
  await createTopic(kafka, topic, partitions);
  const codec = await createFlowCodec({ framing: 'single-object' });
  const file = writeConfigFile(configTree({ brokers, topic, groupId, clickhouseUrl: db.url, database: db.database }, { 'batch.maxAge': '100ms' }));
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-query-ingest-')), 'ingest.log');
  let worker: SupervisedChild = startWorker(file, logFile);
  return {
    brokers, topic, groupId, kafka, codec, partitions,
    publish: (flows) => publish(kafka, topic, { values: encodeAll(codec, flows), partitions, run: 1 }),
    async waitStored(rows, timeoutMs = 60_000) {
      try {
        await waitFor(`${rows} rows stored by ingest`, async () => (await rowCounts(db.client, db.database)).rows >= rows, timeoutMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}\ningest log:\n${worker.tail(30)}`);
      }
    },
    async pause() {
      const keepAlive = setInterval(() => {}, 1000);
      try {
        await worker.stop();
      } finally {
        clearInterval(keepAlive);
      }
    },
    resume() {
      worker = startWorker(file, logFile);
    },
    async stop() {
      // The worker's process handle is unref'd (common/stack/child.ts): hold the event loop open while it exits.
      const keepAlive = setInterval(() => {}, 1000);
      try {
        await worker.stop();
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

/** Stores flows the way production does (Kafka, then ingest), then stops the worker. */
export async function storeThroughIngest(db: TestDatabase, flows: readonly Flow[]): Promise<void> {
  const pipe = await startIngestPipeline(db, 2);
  try {
    await pipe.publish(flows);
    await pipe.waitStored(flows.length);
  } finally {
    await pipe.stop();
  }
}
