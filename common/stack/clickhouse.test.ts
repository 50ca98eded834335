import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { isLookbackError } from '../errors.js';
import { procStat } from '../proc.js';
import { CHDB_PACKAGE, CHDB_VERSION, locateChdbLibrary, startClickHouse, type LocalClickHouse } from './clickhouse.js';

// These tests are about the launcher itself (restart, parent death), so they start their own servers rather
// than use LOOKBACK_TEST_CLICKHOUSE_URL.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-clickhouse-test-'));
const running: LocalClickHouse[] = [];
after(async () => {
  for (const ch of running) await ch.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function start(dataDir: string, systemLogs = false): Promise<LocalClickHouse> {
  const ch = await startClickHouse({ dataDir, systemLogs });
  running.push(ch);
  return ch;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Alive means a process that is not a zombie: a reparented child may wait a moment to be reaped. */
function isAlive(pid: number): boolean {
  const f = procStat(pid);
  return f !== undefined && f[0] !== 'Z';
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a missing npm package is reported with the exact package and version to install', () => {
  const nowhere = pathToFileURL(path.join(root, 'no-node-modules-here', 'x.js')).href;
  assert.throws(() => locateChdbLibrary(nowhere), (err: unknown) => {
    assert.ok(isLookbackError(err));
    assert.equal(err.code, 'missing_dependency');
    assert.match(err.message, new RegExp(`npm install --save-exact ${CHDB_PACKAGE}@${CHDB_VERSION}`));
    return true;
  });
  assert.ok(locateChdbLibrary().endsWith('/libchdb.so'));
});

const dataDir = path.join(root, 'main');
const database = `t_${randomUUID().replace(/-/g, '')}`;
const insertedRows = 100_000;

test('a real ClickHouse 26.x answers @clickhouse/client: version, query parameters, insert and select', async (t) => {
  const t0 = Date.now();
  const ch = await start(dataDir);
  const startMs = Date.now() - t0;
  assert.match(ch.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(ch.url, `http://127.0.0.1:${ch.httpPort}`);
  // Quiet: the client logs every rejected request, and one rejection below is expected.
  const client: ClickHouseClient = createClient({ url: ch.url, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const version = (await (await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>())[0]?.v;
    assert.match(version ?? '', /^26\./);
    const idleRss = ch.rssBytes();
    assert.ok(idleRss > 0);

    const params = await (await client.query({
      query: 'SELECT {n:UInt32} + 1 AS next, upper({s:String}) AS shout',
      query_params: { n: 41, s: "it's" },
      format: 'JSONEachRow',
    })).json<{ next: number; shout: string }>();
    assert.deepEqual(params, [{ next: 42, shout: "IT'S" }]);

    await client.command({ query: `CREATE DATABASE ${database}` });
    await client.command({ query: `CREATE TABLE ${database}.events (id UInt64, name LowCardinality(String), at DateTime64(9)) ENGINE = MergeTree ORDER BY id` });
    const rows = Array.from({ length: insertedRows }, (_, i) => ({ id: i, name: `n${i % 7}`, at: '2026-01-02 03:04:05.123456789' }));
    await client.insert({ table: `${database}.events`, values: rows, format: 'JSONEachRow' });
    const [agg] = await (await client.query({
      query: `SELECT count() AS c, sum(id) AS s, uniqExact(name) AS names, toString(max(at)) AS at FROM ${database}.events`,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })).json<{ c: number; s: number; names: number; at: string }>();
    assert.deepEqual(agg, { c: insertedRows, s: (insertedRows * (insertedRows - 1)) / 2, names: 7, at: '2026-01-02 03:04:05.123456789' });

    // The query API's read-only mode will rely on this: `readonly=1` sent per query is enforced by the server.
    await assert.rejects(
      client.insert({ table: `${database}.events`, values: [{ id: 1, name: 'x', at: '2026-01-01 00:00:00' }], format: 'JSONEachRow', clickhouse_settings: { readonly: '1' } }),
      /readonly mode/,
    );
    t.diagnostic(`start-to-ready ${startMs} ms; RSS idle ${mb(idleRss)}, after inserting ${insertedRows} rows ${mb(ch.rssBytes())}`);
  } finally {
    await client.close();
  }
  await ch.stop();
  assert.equal(isAlive(ch.pid), false);
});

test('data survives a restart on the same data directory', async (t) => {
  const t0 = Date.now();
  const ch = await start(dataDir);
  t.diagnostic(`start-to-ready with data ${Date.now() - t0} ms`);
  const client = createClient({ url: ch.url });
  try {
    const [row] = await (await client.query({ query: `SELECT count() AS c FROM ${database}.events`, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<{ c: number }>();
    assert.equal(row?.c, insertedRows);
  } finally {
    await client.close();
  }
  await ch.stop();
});

test('a second server on a data directory in use fails with the last lines of its log', async () => {
  const ch = await start(path.join(root, 'shared'));
  await assert.rejects(startClickHouse({ dataDir: path.join(root, 'shared'), startTimeoutMs: 20_000 }), (err: unknown) => {
    assert.ok(isLookbackError(err));
    assert.equal(err.code, 'unavailable');
    assert.match(err.message, /exited at start-up/);
    assert.match(err.message, /Cannot lock file .*status/);
    return true;
  });
  // The failed start did not disturb the running server.
  const res = await fetch(`${ch.url}/?query=SELECT%202`, { headers: { connection: 'close' } });
  assert.equal((await res.text()).trim(), '2');
  await ch.stop();
});

test('with systemLogs, system.query_log and system.part_log are filled', async () => {
  const ch = await start(path.join(root, 'logs'), true);
  const q = async (sql: string): Promise<string> => {
    const res = await fetch(`${ch.url}/`, { method: 'POST', body: sql, headers: { connection: 'close' } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return text.trim();
  };
  await q('CREATE DATABASE logs_db');
  await q('CREATE TABLE logs_db.t (a UInt8) ENGINE = MergeTree ORDER BY a');
  await q('INSERT INTO logs_db.t VALUES (1), (2)');
  await q('SELECT 12345 AS marker FORMAT Null');
  await q('SYSTEM FLUSH LOGS');
  assert.equal(await q("SELECT count() FROM system.query_log WHERE type = 'QueryFinish' AND query LIKE 'SELECT 12345 AS marker%'"), '1');
  assert.equal(await q("SELECT count() FROM system.part_log WHERE database = 'logs_db' AND event_type = 'NewPart'"), '1');
  await ch.stop();
});

test('the server stops itself when its stdin closes (the parent is gone)', async () => {
  const dir = path.join(root, 'stdin');
  fs.mkdirSync(dir);
  const portFile = path.join(dir, 'port');
  const script = fileURLToPath(new URL('./clickhouse-server.js', import.meta.url));
  // Started directly, without setpriv's parent-death signal: only the stdin watch can stop it.
  const child = spawn(process.execPath, [script, `--lib=${locateChdbLibrary()}`, `--data-dir=${dir}`, `--port-file=${portFile}`, `--query-id=stdin-${randomUUID()}`, '--watch-stdin'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  try {
    await waitFor('the server reports its port', () => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').endsWith('\n'), 30_000);
    child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const [code] = await Promise.race([
      exited,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`still running 15 s after stdin closed:\n${stderr}`)), 15_000); }),
    ]);
    clearTimeout(timer);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /stdin closed/);
    assert.match(stderr, /stopped/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('SIGKILL of the parent leaves no ClickHouse process behind', async () => {
  const dir = path.join(root, 'orphan');
  const parentScript = path.join(root, 'parent.mjs');
  const moduleUrl = new URL('./clickhouse.js', import.meta.url).href;
  fs.writeFileSync(parentScript, [
    `import { startClickHouse } from ${JSON.stringify(moduleUrl)};`,
    'const ch = await startClickHouse({ dataDir: process.argv[2] });',
    "process.stdout.write(JSON.stringify({ pid: ch.pid, url: ch.url }) + '\\n');",
    'setInterval(() => {}, 60_000);',
  ].join('\n'));
  const parent = spawn(process.execPath, [parentScript, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    parent.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor('the parent prints the server pid', () => out.includes('\n') || parent.exitCode !== null, 60_000);
    const { pid, url } = JSON.parse(out) as { pid: number; url: string };
    assert.ok(isAlive(pid));
    assert.equal((await (await fetch(`${url}/?query=SELECT%201`, { headers: { connection: 'close' } })).text()).trim(), '1');
    parent.kill('SIGKILL');
    await waitFor(`ClickHouse pid ${pid} is gone after its parent was SIGKILLed`, () => !isAlive(pid), 5000);
  } finally {
    parent.kill('SIGKILL');
  }
  // The data directory is usable again at once: the dead server holds no lock.
  const again = await start(dir);
  await again.stop();
});
