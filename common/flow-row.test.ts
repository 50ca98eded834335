/**
 * The Flow <-> flows-row mapping, both directions, through real ClickHouse and the real migrations: rows written
 * as JSON (flowToRow) and as RowBinary (ingest's encoder), read back with FLOW_SELECT and with ClickHouse's default
 * JSON output, come back as the same flows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { migrate } from './clickhouse/migrate.js';
import { retentionVars } from './clickhouse/retention.js';
import { FLOW_INSERT_COLUMN_LIST, FLOW_INSERT_COLUMNS, FLOW_SELECT, flowToRow, formatDateTime64, formatIPv6, parseDateTime64, parseIP, rowToFlow, type FlowRow } from './flow-row.js';
import type { Flow } from '../schemas/flow-types.js';
import { insertBody } from '../ingest/clickhouse-insert.js';
import { writeFlowRow } from '../ingest/flow-row-binary.js';
import { PERMISSIVE_LIMITS } from '../ingest/limits.js';
import { RowBinaryWriter } from '../ingest/row-binary.js';
import { generateFlows } from '../bench/flowgen.js';
import { sampleFlows } from '../test/fixtures/sample-flows.js';
import { ensureStack, uniqueName } from '../test/helpers.js';

let ch: ClickHouseClient;
let database: string;

before(async () => {
  ch = createClient({ url: (await ensureStack({ clickhouse: true })).clickhouseUrl, log: { level: ClickHouseLogLevel.OFF } });
  database = uniqueName('flow_row');
  await migrate(ch, { database, vars: retentionVars({ rawDays: 3650, minuteDays: 3650, fiveMinuteDays: 3650, hourDays: 3650 }) });
});

after(async () => {
  await ch?.close();
});

/** Flows as plain data (Buffers as hex, bigints as strings), for deepEqual. */
function plain(f: Flow): unknown {
  return JSON.parse(JSON.stringify(f, function (this: unknown, _k, v: unknown) {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data).toString('hex');
    return v;
  }));
}

function storable(): Flow[] {
  const samples = sampleFlows().slice(0, 6); // extremes and the empty flow hold values no column takes (negative counters, 1970)
  const end = Date.UTC(2026, 0, 1);
  return [...samples, ...generateFlows({ seed: 3, count: 300, start: end - 60_000, end })];
}

async function readBack(where: string, select = FLOW_SELECT): Promise<Flow[]> {
  const rs = await ch.query({ query: `SELECT ${select} FROM ${database}.flows WHERE ${where} ORDER BY time, uuid`, format: 'JSONEachRow' });
  return (await rs.json<FlowRow>()).map(rowToFlow);
}

function byTime(a: Flow, b: Flow): number {
  return a.time_ns < b.time_ns ? -1 : a.time_ns > b.time_ns ? 1 : Buffer.compare(a.uuid, b.uuid);
}

test('the insert columns are the landing table\'s, in order, and every one exists in the raw table', async () => {
  const cols = async (table: string): Promise<Array<{ name: string; type: string }>> =>
    (await ch.query({ query: `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position`, query_params: { db: database, t: table }, format: 'JSONEachRow' })).json();
  const landing = await cols('flows_ingest');
  assert.deepEqual(landing.map((c) => c.name), FLOW_INSERT_COLUMNS.map((c) => c.name));
  assert.deepEqual(landing.map((c) => c.type), FLOW_INSERT_COLUMNS.map((c) => c.type.replace(/LowCardinality\((String)\)/g, '$1')));
  const raw = new Map((await cols('flows')).map((c) => [c.name, c.type]));
  for (const c of FLOW_INSERT_COLUMNS) assert.equal(raw.get(c.name), c.type, `flows.${c.name}`);
});

test('flows written as JSON rows come back the same, read with FLOW_SELECT or as plain columns', async () => {
  const flows = storable().map((f) => ({ ...f, cluster_name: 'json-path' }));
  await ch.insert({ table: `${database}.flows`, values: flows.map(flowToRow), format: 'JSONEachRow' });
  const expected = flows.sort(byTime).map(plain);
  assert.deepEqual((await readBack("cluster_name = 'json-path'")).map(plain), expected);
  assert.deepEqual((await readBack("cluster_name = 'json-path'", '*')).map(plain), expected);
});

test('flows written as RowBinary through the landing table come back the same', async () => {
  const flows = storable().map((f) => ({ ...f, cluster_name: 'rowbinary-path' }));
  const w = new RowBinaryWriter();
  for (const f of flows) writeFlowRow(w, f, PERMISSIVE_LIMITS);
  await insertBody(ch, `INSERT INTO ${database}.flows_ingest ${FLOW_INSERT_COLUMN_LIST} FORMAT RowBinary`, w.finish());
  assert.deepEqual((await readBack("cluster_name = 'rowbinary-path'")).map(plain), flows.sort(byTime).map(plain));
});

test('times and addresses in both text forms', () => {
  for (const ns of [0n, 1n, 1_764_140_000_123_456_789n, -1n, 9_223_372_036_854_775_807n]) {
    assert.equal(parseDateTime64(formatDateTime64(ns)), ns);
    assert.equal(parseDateTime64(String(ns)), ns);
  }
  assert.equal(formatDateTime64(1_764_140_000_123_456_789n), '2025-11-26 06:53:20.123456789');
  assert.equal(parseDateTime64('2025-11-26 06:53:20.5'), 1_764_140_000_500_000_000n);
  assert.equal(formatIPv6(Buffer.from([10, 0, 0, 1])), '::ffff:10.0.0.1');
  assert.deepEqual(parseIP('::ffff:10.0.0.1'), Buffer.from([10, 0, 0, 1]));
  assert.deepEqual(parseIP('10.0.0.1'), Buffer.from([10, 0, 0, 1]));
  assert.equal(parseIP('::'), null);
  assert.deepEqual(parseIP('2001:db8::1'), Buffer.from('20010db8000000000000000000000001', 'hex'));
  assert.deepEqual(parseIP('fd00::ffff:1.2.3.4'), Buffer.from('fd000000000000000000ffff01020304', 'hex'));
  assert.equal(formatIPv6(Buffer.from('20010db8000000000000000000000001', 'hex')), '2001:db8:0:0:0:0:0:1');
  assert.throws(() => formatIPv6(Buffer.alloc(5)), /4 or 16 bytes/);
});
