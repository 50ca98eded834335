import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ensureStack, uniqueName } from '../../test/helpers.js';
import { migrate } from './migrate.js';
import { applyRetention, DEFAULT_RETENTION, liveTtlDays, RETENTION_TABLES, retentionVars } from './retention.js';

let ch: ClickHouseClient;

before(async () => {
  ch = createClient({ url: (await ensureStack({ clickhouse: true })).clickhouseUrl, log: { level: ClickHouseLogLevel.OFF } });
});

after(async () => {
  await ch?.close();
});

/** Every table of the database that has a TTL (listed in RETENTION_TABLES or not, so a forgotten one shows). */
async function ttls(db: string): Promise<Record<string, number | undefined>> {
  const rows = await (await ch.query({ query: 'SELECT name, create_table_query AS q FROM system.tables WHERE database = {db:String}', query_params: { db }, format: 'JSONEachRow' })).json<{ name: string; q: string }>();
  return Object.fromEntries(rows.filter((r) => liveTtlDays(r.q) !== undefined).map((r) => [r.name, liveTtlDays(r.q)]));
}

test('the migrations create each table with its retention, and a changed config alters only what differs', async () => {
  const db = uniqueName('retention');
  await migrate(ch, { database: db, vars: retentionVars(DEFAULT_RETENTION) });
  assert.deepEqual(await ttls(db), {
    flows: 15, flows_1m: 7, flows_5m: 90, flows_1h: 365, flows_l7_1m: 7, flows_l7_5m: 90, flows_l7_1h: 365,
    inventory_namespaces: 365, inventory_workloads: 365, inventory_nodes: 365,
  });
  assert.deepEqual(Object.keys(await ttls(db)).sort(), RETENTION_TABLES.map((t) => t.table).sort(), 'every table with a TTL follows the retention config');
  assert.deepEqual(await applyRetention(ch, db, DEFAULT_RETENTION), [], 'nothing to change');
  const changes = await applyRetention(ch, db, { ...DEFAULT_RETENTION, rawDays: 30, fiveMinuteDays: 60 });
  assert.deepEqual(changes, [{ table: 'flows', fromDays: 15, toDays: 30 }, { table: 'flows_5m', fromDays: 90, toDays: 60 }, { table: 'flows_l7_5m', fromDays: 90, toDays: 60 }]);
  const after = await ttls(db);
  assert.equal(after['flows'], 30);
  assert.equal(after['flows_5m'], 60);
  assert.equal(after['flows_1m'], 7);
});

test('reads the days of a TTL clause', () => {
  assert.equal(liveTtlDays('CREATE TABLE x (t DateTime) ENGINE = MergeTree ORDER BY t TTL toDateTime(time) + toIntervalDay(15) SETTINGS a = 1'), 15);
  assert.equal(liveTtlDays('CREATE TABLE x (t DateTime) ENGINE = MergeTree ORDER BY t'), undefined);
});
