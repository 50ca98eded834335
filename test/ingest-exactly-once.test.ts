/**
 * Ingest against the real broker and ClickHouse: N flows with unique uuids published across partitions become
 * exactly N rows with N distinct uuids (N = 1,000,000 in the first test, as issue 5 asks), including when the worker is SIGKILLed mid-run (twice) and restarted;
 * a graceful stop commits everything it stored; the roll-ups hold the raw table's sums.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { ClickHouseClient } from '@clickhouse/client';
import { createIngest } from '../ingest/index.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { generateFlows } from '../bench/flowgen.js';
import { ensureStack, uniqueName } from './helpers.js';
import {
  assertRollupsMatchRaw, chClient, committedTotal, configTree, createTopic, encodeAll, ingestConfig, kafkaClient, migratedDatabase, publish,
  rowCounts, startWorker, waitFor, writeConfigFile,
} from './ingest-harness.js';

let kafka: Kafka;
let ch: ClickHouseClient;
let brokers: string[];
let clickhouseUrl: string;

before(async () => {
  const env = await ensureStack({ clickhouse: true, kafka: true });
  brokers = env.kafkaBrokers;
  clickhouseUrl = env.clickhouseUrl;
  kafka = kafkaClient(brokers);
  ch = chClient(clickhouseUrl);
});

after(async () => {
  await ch?.close();
});

async function flowsFor(seed: number, n: number): Promise<Buffer[]> {
  const codec = await createFlowCodec({ framing: 'single-object' });
  const end = Date.now();
  return encodeAll(codec, [...generateFlows({ seed, count: n, start: end - 10 * 60_000, end })]);
}

describe('ingest: exactly the published flows', () => {
  it('stores 1,000,000 flows from 4 partitions as exactly 1,000,000 rows, commits all of them on a graceful stop, and the roll-ups agree', async () => {
    const N = 1_000_000;
    const topic = uniqueName('ingest_once');
    const database = uniqueName('ingest_once');
    await createTopic(kafka, topic, 4);
    await migratedDatabase(ch, database);
    // Generated, encoded and published 50,000 at a time (a million flows at once would hold gigabytes here).
    const CHUNK = 50_000;
    for (let i = 0; i < N; i += CHUNK) await publish(kafka, topic, { values: await flowsFor(1100 + i / CHUNK, CHUNK), partitions: 4 });

    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database }));
    await ingest.start();
    try {
      await waitFor('all rows', async () => (await rowCounts(ch, database)).rows >= N, 600_000);
    } finally {
      await ingest.stop();
    }
    const counts = await rowCounts(ch, database);
    assert.deepEqual(counts, { rows: N, distinct: N });
    const stats = ingest.stats();
    assert.equal(stats.rowsStored, N);
    assert.equal(stats.deadLetters, 0);
    assert.ok(stats.fastPath, 'current-schema records take the transcoder path');
    assert.equal(stats.transcoded, N);
    assert.equal(await committedTotal(kafka, topic, topic), N, 'every stored record is committed');
    await assertRollupsMatchRaw(ch, database);
  });

  it('two workers of one group share the partitions: a second joining mid-run takes some over, and exactly N rows are stored', async () => {
    const N = 80_000;
    const topic = uniqueName('ingest_share');
    const database = uniqueName('ingest_share');
    await createTopic(kafka, topic, 4);
    await migratedDatabase(ch, database);
    await publish(kafka, topic, { values: await flowsFor(14, N), partitions: 4 });
    const cfg = ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database }, { 'batch.maxRows': 3000, 'insert.concurrency': 1 });
    const first = createIngest(cfg);
    const second = createIngest(cfg);
    await first.start();
    try {
      await waitFor('the first rows', async () => (await rowCounts(ch, database)).rows >= 10_000, 60_000, 50);
      await second.start(); // a rebalance: the first worker drops what it holds for the partitions it loses
      await waitFor('all records committed', async () => (await committedTotal(kafka, topic, topic)) >= N, 90_000);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
    assert.deepEqual(await rowCounts(ch, database), { rows: N, distinct: N });
    assert.ok(second.stats().rowsStored > 0, 'the second worker stored rows of the partitions it took over');
    assert.ok(first.stats().rowsStored + second.stats().rowsStored >= N);
    await assertRollupsMatchRaw(ch, database);
  });

  it('a graceful stop stores and commits the batches it still holds open', async () => {
    const N = 20_000;
    const topic = uniqueName('ingest_stop');
    const database = uniqueName('ingest_stop');
    await createTopic(kafka, topic, 2);
    await migratedDatabase(ch, database);
    await publish(kafka, topic, { values: await flowsFor(13, N), partitions: 2 });
    // Batches that never fill and never age: only the stop can send them.
    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database }, { 'batch.maxRows': 1_000_000, 'batch.maxAge': '10m' }));
    await ingest.start();
    try {
      await waitFor('every record taken', async () => ingest.stats().recordsTaken >= N, 60_000);
      assert.equal((await rowCounts(ch, database)).rows, 0, 'nothing stored before the stop');
      assert.equal(await committedTotal(kafka, topic, topic), 0, 'nothing committed before the stop');
    } finally {
      await ingest.stop();
    }
    assert.deepEqual(await rowCounts(ch, database), { rows: N, distinct: N });
    assert.equal(await committedTotal(kafka, topic, topic), N);
  });

  it('at the memory limit the open batches are sent at once, not when they age: every record is stored and committed', async () => {
    const N = 20_000;
    const topic = uniqueName('ingest_memory');
    const database = uniqueName('ingest_memory');
    await createTopic(kafka, topic, 2);
    await migratedDatabase(ch, database);
    await publish(kafka, topic, { values: await flowsFor(14, N), partitions: 2 });
    // Batches that never fill and never age (as in the graceful stop test), and room for about 3,000 rows: only
    // the memory limit can send them. Before it sealed them, fetching paused and nothing moved until batch.maxAge.
    const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl, database }, {
      'batch.maxRows': 1_000_000, 'batch.maxAge': '10m', 'limits.maxBufferedBytes': 4 * 1024 * 1024,
    }));
    await ingest.start();
    try {
      await waitFor('every row stored', async () => (await rowCounts(ch, database)).rows >= N, 90_000, 500);
      await waitFor('every record committed', async () => (await committedTotal(kafka, topic, topic)) >= N, 30_000, 500);
      assert.ok(ingest.stats().pauses > 0, 'the worker did reach the memory limit');
      assert.ok(ingest.stats().batchesStored > 2, `batches were cut by the memory limit (${ingest.stats().batchesStored} stored)`);
    } finally {
      await ingest.stop();
    }
    assert.deepEqual(await rowCounts(ch, database), { rows: N, distinct: N });
    assert.equal(await committedTotal(kafka, topic, topic), N);
  });

  it('stores exactly N rows when the worker process is SIGKILLed twice mid-run and restarted', async () => {
    const N = 150_000;
    const topic = uniqueName('ingest_kill');
    const database = uniqueName('ingest_kill');
    await createTopic(kafka, topic, 4);
    await migratedDatabase(ch, database);
    await publish(kafka, topic, { values: await flowsFor(12, N), partitions: 4 });

    // Small batches: many inserts and commits, so a kill lands between an insert and its commit.
    const file = writeConfigFile(configTree({ brokers, topic, groupId: topic, clickhouseUrl, database }, { 'batch.maxRows': 4000, 'batch.maxAge': '200ms' }));
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-ingest-kill-'));
    const logFile = path.join(logDir, 'worker.log');
    let worker = startWorker(file, logFile);
    try {
      for (const fraction of [0.2, 0.5]) {
        await waitFor(`${fraction * 100}% of the rows`, async () => (await rowCounts(ch, database)).rows >= N * fraction, 90_000, 50);
        assert.ok(worker.isRunning(), `the worker is running (log ${logFile}):\n${worker.tail(30)}`);
        process.kill(worker.pid, 'SIGKILL');
        // Polled: the supervised child does not keep the event loop alive, so awaiting its exit alone could leave
        // the loop empty.
        await waitFor('the killed worker to exit', async () => !worker.isRunning(), 10_000, 20);
        worker = startWorker(file, logFile);
      }
      await waitFor('all records committed', async () => (await committedTotal(kafka, topic, topic)) >= N, 120_000);
      await waitFor('all rows', async () => (await rowCounts(ch, database)).rows >= N, 30_000);
    } finally {
      await worker.stop(15_000);
    }
    assert.equal(await worker.exited, 0, 'SIGTERM stops the worker cleanly (exit 0)');
    const counts = await rowCounts(ch, database);
    assert.deepEqual(counts, { rows: N, distinct: N }, `exactly N rows, no duplicates (worker log: ${logFile})`);
    await assertRollupsMatchRaw(ch, database);
    const log = fs.readFileSync(logFile, 'utf8');
    assert.equal((log.match(/ingest started/g) ?? []).length, 3, 'three worker runs');
    fs.rmSync(logDir, { recursive: true, force: true });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
