import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LookbackError, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { spawnSupervised, type SupervisedChild } from './child.js';

/**
 * The local real ClickHouse: the ClickHouse 26.7 HTTP server that lives inside clickhouse-local in the npm
 * package below, run as a child process (clickhouse-server.ts) on 127.0.0.1. It is the real server code
 * (MergeTree, query parameters, settings, errors), with clickhouse-local's differences: the `default`
 * database is special (create your own), no Keeper, inserts are never queued asynchronously.
 */
export const CHDB_PACKAGE = '@chdb/lib-linux-x64-gnu';
/** Pinned: 26.5.x rejects --listen_host, and the tests expect 26.x behaviour. */
export const CHDB_VERSION = '26.7.3-stable.1';

export interface LocalClickHouse {
  /** http://127.0.0.1:PORT */
  url: string;
  httpPort: number;
  pid: number;
  rssBytes(): number;
  /** Clean stop: KILL QUERY on the serving query, wait for the process to end; SIGKILL if it does not. */
  stop(): Promise<void>;
}

export interface ClickHouseOptions {
  /** ClickHouse's --path. Data in it survives a restart. */
  dataDir: string;
  /** HTTP port; 0 or absent lets the OS pick. */
  port?: number;
  log?: Logger;
  startTimeoutMs?: number;
  /** Write a config file that turns on system.query_log and system.part_log (off by default: background writes). */
  systemLogs?: boolean;
  /**
   * ClickHouse's own log, into the log file at this level. Absent: only what clickhouse-local prints on stderr
   * (start-up failures, the error of a failed query of its own), which keeps the file short.
   */
  logLevel?: 'error' | 'warning' | 'information' | 'debug' | 'trace';
}

/** Longer than clickhouse-local's own 5 s wait for kept-alive client connections. */
const STOP_GRACE_MS = 10_000;

/** Finds libchdb.so in the optional npm package, or says exactly what to install. */
export function locateChdbLibrary(resolveFrom: string = import.meta.url): string {
  const install = `npm install --save-exact ${CHDB_PACKAGE}@${CHDB_VERSION}`;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new LookbackError('missing_dependency', `the local ClickHouse needs ${CHDB_PACKAGE}, which exists for Linux x86-64 (glibc) only; this is ${process.platform}/${process.arch}: point lookback at an external ClickHouse server instead`);
  }
  const require = createRequire(resolveFrom);
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${CHDB_PACKAGE}/package.json`);
  } catch {
    throw new LookbackError('missing_dependency', `the local ClickHouse needs the optional npm package ${CHDB_PACKAGE}@${CHDB_VERSION}, which is not installed: run \`${install}\` (or \`bash scripts/setup.sh\`), or point lookback at an external ClickHouse server`);
  }
  const version = (JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { version?: string }).version;
  if (version !== CHDB_VERSION) {
    throw new LookbackError('missing_dependency', `the local ClickHouse needs ${CHDB_PACKAGE}@${CHDB_VERSION}, but ${version ?? 'an unknown version'} is installed: run \`${install}\``);
  }
  const lib = path.join(path.dirname(manifestPath), 'libchdb.so');
  if (!fs.existsSync(lib)) {
    throw new LookbackError('missing_dependency', `${CHDB_PACKAGE}@${CHDB_VERSION} is installed but has no libchdb.so (${lib}): reinstall it with \`${install}\``);
  }
  try {
    require.resolve('ffi-rs');
  } catch {
    throw new LookbackError('missing_dependency', 'the local ClickHouse needs the npm package ffi-rs@1.3.7, which is not installed: run `npm install`');
  }
  return lib;
}

export async function startClickHouse(opts: ClickHouseOptions): Promise<LocalClickHouse> {
  const log = opts.log ?? silentLogger;
  const lib = locateChdbLibrary();
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const portFile = path.join(dataDir, 'lookback-http-port');
  fs.rmSync(portFile, { force: true }); // a stale one would look like readiness
  const queryId = `lookback-serve-${randomUUID()}`;
  const args = [
    fileURLToPath(new URL('./clickhouse-server.js', import.meta.url)),
    `--lib=${lib}`,
    `--data-dir=${dataDir}`,
    `--http-port=${opts.port ?? 0}`,
    `--port-file=${portFile}`,
    `--query-id=${queryId}`,
    ...(opts.logLevel ? [`--log-level=${opts.logLevel}`] : []),
    '--watch-stdin',
  ];
  if (opts.systemLogs) args.push(`--config-file=${writeSystemLogsConfig(dataDir)}`);

  const started = Date.now();
  const child = spawnSupervised({
    name: 'clickhouse',
    command: process.execPath,
    args,
    logFile: path.join(dataDir, 'clickhouse.log'),
    stdinPipe: true,
  });
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let httpPort: number;
  try {
    httpPort = await waitUntilServing(child, portFile, started + timeoutMs, timeoutMs);
  } catch (err) {
    await child.stop(1000);
    throw err;
  }
  const url = `http://127.0.0.1:${httpPort}`;
  log.info('clickhouse ready', { url, pid: child.pid, ms: Date.now() - started, dataDir });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopServer(child, url, queryId, !!opts.systemLogs, log));
  return { url, httpPort, pid: child.pid, rssBytes: () => child.rssBytes(), stop };
}

/**
 * KILL QUERY ends the serving query and clickhouse-local shuts down. It waits up to 5 s for HTTP connections that
 * clients keep alive and then exits on its own (code 1), so the grace period must be longer than that.
 */
async function stopServer(child: SupervisedChild, url: string, queryId: string, flushLogs: boolean, log: Logger): Promise<void> {
  if (!child.isRunning()) return;
  try {
    // A forced exit skips the system log flush: do it first, so query_log keeps the last queries.
    if (flushLogs) await httpQuery(url, 'SYSTEM FLUSH LOGS', 10_000);
    await httpQuery(url, `KILL QUERY WHERE query_id = '${queryId}' ASYNC`, 5000);
  } catch (err) {
    log.warn('clickhouse: KILL QUERY failed, killing the process', { error: describeError(err) });
    await child.stop(0);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    child.exited.then(() => true),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), STOP_GRACE_MS); }),
  ]);
  clearTimeout(timer);
  if (!inTime) {
    log.warn('clickhouse did not stop in time, killing it', { graceMs: STOP_GRACE_MS });
    await child.stop(0);
  }
  log.info('clickhouse stopped', { pid: child.pid });
}

async function waitUntilServing(child: SupervisedChild, portFile: string, deadline: number, timeoutMs: number): Promise<number> {
  for (;;) {
    if (!child.isRunning()) {
      throw new LookbackError('unavailable', `ClickHouse exited at start-up (log ${child.logFile}):\n${child.tail(20)}`, { retriable: false });
    }
    const port = readPortFile(portFile);
    if (port) {
      try {
        if ((await httpQuery(`http://127.0.0.1:${port}`, 'SELECT 1', 2000)).trim() === '1') return port;
      } catch {
        // Not answering yet.
      }
    }
    if (Date.now() > deadline) {
      throw new LookbackError('unavailable', `ClickHouse did not answer SELECT 1 within ${timeoutMs} ms (log ${child.logFile}):\n${child.tail(20)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function readPortFile(file: string): number {
  try {
    const text = fs.readFileSync(file, 'utf8');
    // Only a complete line counts: the server may be halfway through writing it.
    return text.endsWith('\n') ? Number.parseInt(text, 10) || 0 : 0;
  } catch {
    return 0;
  }
}

async function httpQuery(url: string, sql: string, timeoutMs: number): Promise<string> {
  // Connection: close: an idle kept-alive connection of ours would delay the server's shutdown by 5 s.
  const res = await fetch(`${url}/`, { method: 'POST', body: sql, headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.trim()}`);
  return text;
}

/** clickhouse-local creates the system.*_log tables only when a config file asks for them. */
function writeSystemLogsConfig(dataDir: string): string {
  const table = (name: string): string =>
    `  <${name}>\n    <database>system</database>\n    <table>${name}</table>\n` +
    `    <flush_interval_milliseconds>7500</flush_interval_milliseconds>\n` +
    `    <ttl>event_date + INTERVAL 7 DAY DELETE</ttl>\n  </${name}>\n`;
  const file = path.join(dataDir, 'lookback-clickhouse.xml');
  fs.writeFileSync(file, `<clickhouse>\n${table('query_log')}${table('part_log')}</clickhouse>\n`);
  return file;
}
