/**
 * ClickHouse stopped for 20 s in the middle of ingesting: the worker pauses fetching, retries with backoff, and
 * resumes by itself when ClickHouse is back (same data directory, same port); nothing is lost or doubled. Uses a
 * ClickHouse of its own: the shared stack's must keep running for the other tests.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { startClickHouse, type LocalClickHouse } from '../common/stack/clickhouse.js';
import { freePort } from '../common/stack/ports.js';
import { createIngest } from '../ingest/index.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { generateFlows } from '../bench/flowgen.js';
import { ensureStack, uniqueName } from './helpers.js';
import { assertRollupsMatchRaw, chClient, createTopic, encodeAll, ingestConfig, kafkaClient, migratedDatabase, publish, rowCounts, waitFor } from './ingest-harness.js';

let kafka: Kafka;
let brokers: string[];
let dataDir: string;
let clickhouse: LocalClickHouse | undefined;

before(async () => {
  brokers = (await ensureStack({ kafka: true })).kafkaBrokers;
  kafka = kafkaClient(brokers);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-ingest-outage-'));
});

after(async () => {
  await clickhouse?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('pauses while ClickHouse is down for 20 s, resumes by itself, and stores exactly N rows', async () => {
  const N = 60_000;
  const port = await freePort();
  clickhouse = await startClickHouse({ dataDir, port });
  const url = clickhouse.url;
  const topic = uniqueName('ingest_outage');
  const database = uniqueName('ingest_outage');
  const admin = chClient(url);
  await migratedDatabase(admin, database);
  await admin.close();
  await createTopic(kafka, topic, 3);
  const codec = await createFlowCodec({ framing: 'single-object' });
  const end = Date.now();
  const values = encodeAll(codec, [...generateFlows({ seed: 21, count: N, start: end - 10 * 60_000, end })]);
  const half = N / 2;
  await publish(kafka, topic, { values: values.slice(0, half), partitions: 3 });

  const ingest = createIngest(ingestConfig({ brokers, topic, groupId: topic, clickhouseUrl: url, database }, { 'batch.maxRows': 5000, 'insert.retryMax': '2s' }));
  await ingest.start();
  let ch = chClient(url);
  try {
    await waitFor('the first rows', async () => (await rowCounts(ch, database)).rows >= 10_000, 60_000);
    await ch.close();
    await clickhouse.stop();
    // Records keep arriving while ClickHouse is down.
    await publish(kafka, topic, { values: values.slice(half), partitions: 3 });
    await waitFor('the worker to pause fetching', async () => ingest.stats().paused && ingest.stats().insertRetries > 0, 20_000);
    await new Promise((r) => setTimeout(r, 20_000));
    const during = ingest.stats();
    assert.ok(during.paused, 'still paused while ClickHouse is down');
    assert.ok(during.bufferedBytes > 0, 'holding what it could not store');

    clickhouse = await startClickHouse({ dataDir, port });
    ch = chClient(url);
    await waitFor('all rows after the outage', async () => (await rowCounts(ch, database)).rows >= N, 90_000);
    await waitFor('fetching resumed', async () => !ingest.stats().paused, 10_000);
  } finally {
    await ingest.stop();
  }
  assert.deepEqual(await rowCounts(ch, database), { rows: N, distinct: N });
  await assertRollupsMatchRaw(ch, database);
  const stats = ingest.stats();
  assert.equal(stats.rowsStored, N);
  assert.ok(stats.insertRetries > 0 && stats.pauses > 0, `retried (${stats.insertRetries}) and paused (${stats.pauses})`);
  await ch.close();
});
