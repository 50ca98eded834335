/**
 * The ClickHouse side of exactly-once, against real ClickHouse and the real migrations: a batch inserted twice
 * with its dedup token is stored once in the raw table and counted once in every roll-up and inventory table
 * (deduplicate_blocks_in_dependent_materialized_views); a batch ClickHouse refuses because of one row is split
 * until that row is isolated, and the rest is stored.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { createBatchWriter } from '../ingest/clickhouse-writer.js';
import { writeFlowRow } from '../ingest/flow-row-binary.js';
import { PERMISSIVE_LIMITS } from '../ingest/limits.js';
import type { Batch } from '../ingest/partition.js';
import { RowBinaryWriter } from '../ingest/row-binary.js';
import { generateFlows } from '../bench/flowgen.js';
import { ensureStack, uniqueName } from './helpers.js';
import { assertRollupsMatchRaw, chClient, migratedDatabase, rowCounts } from './ingest-harness.js';

let ch: ClickHouseClient;

before(async () => {
  ch = chClient((await ensureStack({ clickhouse: true })).clickhouseUrl);
});

after(async () => {
  await ch?.close();
});

function batchOf(n: number, seed: number, firstOffset: number): Batch {
  const writer = new RowBinaryWriter();
  const rowStarts: number[] = [];
  const rowOffsets: number[] = [];
  const end = Date.now();
  let i = 0;
  for (const f of generateFlows({ seed, count: n, start: end - 120_000, end })) {
    rowStarts.push(writer.pos);
    rowOffsets.push(firstOffset + i++);
    writeFlowRow(writer, f, PERMISSIVE_LIMITS);
  }
  return {
    topic: 'lookback.flows.v1', partition: 3, firstOffset, lastOffset: firstOffset + n - 1, firstTimestamp: '1', lastTimestamp: '2',
    rows: n, writer, rowStarts, rowOffsets, deadLetters: [], openedAt: 0, replayed: false,
  };
}

async function sum(sql: string): Promise<number> {
  const [r] = await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<{ s: string }>();
  return Number(r?.s);
}

it('a batch inserted twice with its token is stored once, and counted once by every roll-up and inventory table', async () => {
  const database = uniqueName('ingest_dedup');
  await migratedDatabase(ch, database);
  const writer = createBatchWriter({ client: ch, database, retryMinMs: 10, retryMaxMs: 100, maxPartitionsPerInsert: 100 });
  const batch = batchOf(5000, 51, 1000);
  const control = { keepTrying: () => true };
  const inventory = async (): Promise<number[]> => Promise.all(['inventory_namespaces', 'inventory_workloads', 'inventory_nodes'].map((t) => sum(`SELECT sum(flows) AS s FROM ${database}.${t}`)));
  assert.deepEqual(await writer.write(batch, control), []);
  const once = await inventory();
  assert.deepEqual(await writer.write(batch, control), [], 'the retry is acknowledged too');
  assert.deepEqual(await rowCounts(ch, database), { rows: 5000, distinct: 5000 });
  await assertRollupsMatchRaw(ch, database);
  assert.equal(once[2], 5000, 'every flow counted once for its node');
  assert.ok((once[0] as number) > 5000 && (once[1] as number) > 5000, 'both ends of flows counted for namespaces and workloads');
  assert.deepEqual(await inventory(), once, 'the retry changed no inventory count');
  // Another range of the same partition is another batch: stored.
  const next = batchOf(3000, 52, 6000);
  await writer.write(next, control);
  assert.deepEqual(await rowCounts(ch, database), { rows: 8000, distinct: 8000 });
  await assertRollupsMatchRaw(ch, database);
});

it('isolates a row ClickHouse refuses, stores the others, and reports the refused row with its offset', async () => {
  const database = uniqueName('ingest_bisect');
  await migratedDatabase(ch, database);
  const writer = createBatchWriter({ client: ch, database, retryMinMs: 10, retryMaxMs: 100, maxPartitionsPerInsert: 100 });
  const good = batchOf(10, 53, 500);
  // Row 6 replaced by bytes that are not a row: a time, a uuid, then a string length of 4 GiB.
  const w = new RowBinaryWriter();
  const rowStarts: number[] = [];
  for (let i = 0; i < 10; i++) {
    rowStarts.push(w.pos);
    if (i === 6) {
      w.raw(Buffer.alloc(24));
      w.raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      continue;
    }
    const start = good.rowStarts[i] as number;
    const end = i + 1 < 10 ? (good.rowStarts[i + 1] as number) : good.writer.pos;
    w.copyFrom(good.writer.buf, start, end - start);
  }
  const batch: Batch = { ...good, writer: w, rowStarts };
  const rejected = await writer.write(batch, { keepTrying: () => true });
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.index, 6);
  assert.equal(rejected[0]!.offset, 506);
  assert.match(rejected[0]!.reason, /ClickHouse refused the row/);
  assert.deepEqual(await rowCounts(ch, database), { rows: 9, distinct: 9 });
});
