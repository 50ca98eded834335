import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { migrate, verifySchema, loadMigrations, LEDGER } from './migrate.js';
import { LookbackError } from '../errors.js';
import { retentionVars } from './retention.js';
import { ensureStack, uniqueName } from '../../test/helpers.js';

let client: ClickHouseClient;
let dir: string;

before(async () => {
  const { clickhouseUrl } = await ensureStack({ clickhouse: true });
  client = createClient({ url: clickhouseUrl });
  // A small migration set of our own, so the test does not depend on the real schema's evolution.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-mig-'));
  fs.writeFileSync(path.join(dir, '0001_first.sql'), `-- the first\nCREATE TABLE IF NOT EXISTS {{db}}.a (x UInt32) ENGINE = MergeTree ORDER BY x TTL toDateTime(x) + INTERVAL {{ttl}} DAY;\nCREATE TABLE IF NOT EXISTS {{db}}.b (y String) ENGINE = MergeTree ORDER BY y;\n`);
  fs.writeFileSync(path.join(dir, '0002_second.sql'), `ALTER TABLE {{db}}.a ADD COLUMN IF NOT EXISTS z String;\n`);
});

after(async () => {
  await client?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function schemaError(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof LookbackError, `a LookbackError, got ${String(err)}`);
    assert.equal(err.code, 'schema');
    return err.message;
  }
  assert.fail('expected a schema error');
}

test('applying twice changes nothing, and the ledger records each version', async () => {
  const db = uniqueName('mig');
  const first = await migrate(client, { database: db, dir, vars: { ttl: 3 } });
  assert.deepEqual(first.applied, ['0001_first', '0002_second']);
  const second = await migrate(client, { database: db, dir, vars: { ttl: 3 } });
  assert.deepEqual(second.applied, []);
  assert.equal(second.alreadyApplied, 2);
  const ledger = await (await client.query({ query: `SELECT version, state FROM ${db}.${LEDGER} ORDER BY version, at`, format: 'JSONEachRow' })).json();
  assert.deepEqual(ledger, [{ version: 1, state: 'started' }, { version: 1, state: 'done' }, { version: 2, state: 'started' }, { version: 2, state: 'done' }]);
  const cols = await (await client.query({ query: `SELECT name FROM system.columns WHERE database = {db:String} AND table = 'a' ORDER BY position`, query_params: { db }, format: 'JSONEachRow' })).json();
  assert.deepEqual(cols, [{ name: 'x' }, { name: 'z' }]);
  await verifySchema(client, { database: db, dir });
});

test('a foreign schema is refused and left untouched', async () => {
  const db = uniqueName('foreign');
  await client.command({ query: `CREATE DATABASE ${db}` });
  await client.command({ query: `CREATE TABLE ${db}.customers (id UInt64) ENGINE = MergeTree ORDER BY id` });
  const msg = await schemaError(() => migrate(client, { database: db, dir, vars: { ttl: 3 } }));
  assert.match(msg, new RegExp(`database ${db} holds tables \\(customers\\) but no ${LEDGER} ledger`));
  const tables = await (await client.query({ query: `SHOW TABLES FROM ${db}`, format: 'JSONEachRow' })).json();
  assert.deepEqual(tables, [{ name: 'customers' }]);
});

test('a missing schema and a dropped table are named at start-up', async () => {
  const empty = uniqueName('empty');
  assert.match(await schemaError(() => verifySchema(client, { database: empty, dir })), /has no lookback schema .* run `lookback migrate` first/);
  const db = uniqueName('dropped');
  await migrate(client, { database: db, dir, vars: { ttl: 3 } });
  await client.command({ query: `DROP TABLE ${db}.b` });
  assert.match(await schemaError(() => verifySchema(client, { database: db, dir })), new RegExp(`database ${db} is missing b, created by migration 0001_first`));
});

test('a half-applied migration is refused until --resume', async () => {
  const db = uniqueName('half');
  await migrate(client, { database: db, dir, vars: { ttl: 3 } });
  // Simulate a crash in the middle of a third migration: its `started` row exists, `done` never came.
  const more = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-mig-'));
  for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(more, f));
  fs.writeFileSync(path.join(more, '0003_third.sql'), `CREATE TABLE IF NOT EXISTS {{db}}.c (w UInt8) ENGINE = MergeTree ORDER BY w;\n`);
  const third = loadMigrations(more).find((m) => m.version === 3)!;
  await client.insert({ table: `${db}.${LEDGER}`, values: [{ version: 3, name: third.name, checksum: third.checksum, state: 'started' }], format: 'JSONEachRow' });
  assert.match(await schemaError(() => migrate(client, { database: db, dir: more, vars: { ttl: 3 } })), /migration 0003_third was half-applied .* `lookback migrate --resume`/);
  const resumed = await migrate(client, { database: db, dir: more, vars: { ttl: 3 }, resume: true });
  assert.deepEqual(resumed.applied, ['0003_third']);
  fs.rmSync(more, { recursive: true, force: true });
});

test('an applied migration edited afterwards, and a newer ledger, are refused', async () => {
  const db = uniqueName('edited');
  await migrate(client, { database: db, dir, vars: { ttl: 3 } });
  const edited = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-mig-'));
  fs.writeFileSync(path.join(edited, '0001_first.sql'), fs.readFileSync(path.join(dir, '0001_first.sql'), 'utf8') + '-- edited\n');
  fs.copyFileSync(path.join(dir, '0002_second.sql'), path.join(edited, '0002_second.sql'));
  assert.match(await schemaError(() => migrate(client, { database: db, dir: edited, vars: { ttl: 3 } })), /migration 0001_first changed after it was applied/);
  fs.rmSync(edited, { recursive: true, force: true });
  await client.insert({ table: `${db}.${LEDGER}`, values: [{ version: 9, name: '0009_future', checksum: 'x', state: 'done' }], format: 'JSONEachRow' });
  assert.match(await schemaError(() => migrate(client, { database: db, dir, vars: { ttl: 3 } })), /migrated to version 9 \(0009_future\) by a newer lookback/);
});

test('the real migrations apply, apply again as a no-op, and verify', async () => {
  const db = uniqueName('real');
  const first = await migrate(client, { database: db, vars: retentionVars() });
  assert.ok(first.applied.length >= 1);
  const again = await migrate(client, { database: db, vars: retentionVars() });
  assert.deepEqual(again.applied, []);
  await verifySchema(client, { database: db });
});
