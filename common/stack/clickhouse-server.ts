/**
 * Child process entry: a real ClickHouse 26.7 HTTP server from the clickhouse-local inside libchdb.so.
 *
 * `chdb_query_cmdline` is clickhouse-local's main(). Its query opens the real HTTP handler in this process
 * (`SYSTEM START LISTEN HTTP`), writes the port the OS picked to a file, then runs a cheap query that sleeps
 * forever, because the server only serves while that call is running. `KILL QUERY` on that query id ends the
 * call cleanly, and then this process exits.
 *
 * The call blocks the main thread (it must run there: ClickHouse's stack checks fail on other threads), so the
 * watch on our stdin runs in a worker thread: when the parent's end of the pipe closes, the parent is gone, and
 * the worker stops the server (KILL QUERY, then SIGKILL). The parent also starts us under `setpriv --pdeathsig`;
 * this watch is the second line of defence.
 *
 * Started by clickhouse.ts; not a public command. Exit code 0 after serving, 1 if the server never came up
 * (ClickHouse prints its error on stderr, which the parent keeps in the log file). If clients still hold kept-alive
 * HTTP connections at shutdown, clickhouse-local waits 5 s for them and then exits by itself with code 1.
 */
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

interface WatchData {
  portFile: string;
  queryId: string;
}

/** How long the watchdog waits for a clean end before it SIGKILLs its own process. */
const WATCHDOG_GRACE_MS = 10_000;

function say(line: string): void {
  // Direct writes: the main thread is blocked inside ClickHouse, so anything routed through it never arrives.
  fs.writeSync(2, `clickhouse-server[${process.pid}]: ${line}\n`);
}

/** SQL string literal for a path we chose ourselves (still escaped, paths may hold quotes). */
function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lib: { type: 'string' },
      'data-dir': { type: 'string' },
      'http-port': { type: 'string', default: '0' },
      'port-file': { type: 'string' },
      'query-id': { type: 'string' },
      'config-file': { type: 'string' },
      'log-level': { type: 'string' },
      'watch-stdin': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const lib = values.lib;
  const dataDir = values['data-dir'];
  const portFile = values['port-file'];
  const queryId = values['query-id'];
  if (!lib || !dataDir || !portFile || !queryId) {
    say('usage: clickhouse-server --lib=libchdb.so --data-dir=DIR --port-file=FILE --query-id=ID [--http-port=P] [--config-file=F] [--log-level=L] [--watch-stdin]');
    process.exit(2);
  }

  if (values['watch-stdin']) {
    const watchdog = new Worker(new URL(import.meta.url), { workerData: { portFile, queryId } satisfies WatchData, stdout: true, stderr: true });
    // Wait until the worker watches stdin: once the main thread blocks, it can no longer start anything.
    await new Promise<void>((resolve, reject) => {
      watchdog.once('message', () => resolve());
      watchdog.once('error', reject);
    });
  }

  const args = [
    'clickhouse',
    `--path=${dataDir}`,
    '--listen_host=127.0.0.1',
    `--http_port=${values['http-port']}`,
    `--query_id=${queryId}`,
    // Without a level, clickhouse-local logs nothing but still prints failures of its queries on stderr.
    ...(values['log-level'] ? [`--log-level=${values['log-level']}`, '--logger.console=1'] : []),
    ...(values['config-file'] ? [`--config-file=${values['config-file']}`] : []),
    '--query=' + [
      'SYSTEM START LISTEN HTTP',
      `INSERT INTO FUNCTION file(${sqlString(portFile)}, 'TSV', 'http_port UInt16') SELECT getServerPort('http_port') SETTINGS engine_file_truncate_on_insert = 1`,
      // One row per half second, one row per block: idle, and a KILL QUERY lands within half a second.
      'SELECT sleepEachRow(0.5) FROM numbers(1000000000000) FORMAT Null SETTINGS max_block_size = 1, max_execution_time = 0',
    ].join(';\n'),
  ];

  const require = createRequire(import.meta.url);
  const ffi = require('ffi-rs') as typeof import('ffi-rs');
  ffi.open({ library: 'chdb', path: lib });
  say(`starting ClickHouse on ${dataDir}`);
  const result = ffi.load({
    library: 'chdb',
    funcName: 'chdb_query_cmdline',
    retType: ffi.DataType.External,
    paramsType: [ffi.DataType.I32, ffi.DataType.StringArray],
    paramsValue: [args.length, args],
  });
  // Reading a NULL char* as a string crashes ffi-rs: look at the pointer first.
  const errorPointer = ffi.load({
    library: 'chdb',
    funcName: 'chdb_result_error',
    retType: ffi.DataType.External,
    paramsType: [ffi.DataType.External],
    paramsValue: [result],
  });
  if (!ffi.isNullPointer(errorPointer)) {
    const message = ffi.load({
      library: 'chdb',
      funcName: 'chdb_result_error',
      retType: ffi.DataType.String,
      paramsType: [ffi.DataType.External],
      paramsValue: [result],
    });
    say(`ClickHouse returned an error: ${message}`);
  }
  // clickhouse-local reports most failures only on stderr, not in the result: the port file says whether we served.
  const served = fs.existsSync(portFile);
  fs.rmSync(portFile, { force: true });
  say(served ? 'stopped' : 'ClickHouse ended before it served (see the lines above)');
  process.exit(served ? 0 : 1);
}

function readPort(file: string): number {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.endsWith('\n') ? Number.parseInt(text, 10) || 0 : 0;
  } catch {
    return 0;
  }
}

/** Worker thread: ends the server when stdin reaches EOF, i.e. when the parent process is gone. */
function watchParent(data: WatchData): void {
  // Remember the port as soon as the server reports it: the file may be gone by the time the parent is.
  let port = 0;
  const poll = setInterval(() => {
    port = readPort(data.portFile);
    if (port) clearInterval(poll);
  }, 100);
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(poll);
    say(`${why}: stopping`);
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), WATCHDOG_GRACE_MS);
    port ||= readPort(data.portFile);
    if (!port) {
      // Not serving yet: there is nothing to end cleanly.
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    const body = `KILL QUERY WHERE query_id = ${sqlString(data.queryId)} ASYNC`;
    fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) })
      .then(async (res) => { if (!res.ok) throw new Error(await res.text()); })
      .catch((err: unknown) => {
        say(`KILL QUERY failed (${err instanceof Error ? err.message : String(err)}): SIGKILL`);
        process.kill(process.pid, 'SIGKILL');
      });
  };
  const stdin = new net.Socket({ fd: 0, readable: true, writable: false });
  stdin.on('data', () => {});
  stdin.once('end', () => stop('stdin closed (parent gone)'));
  stdin.once('close', () => stop('stdin closed (parent gone)'));
  stdin.once('error', (err) => stop(`stdin error ${err.message}`));
  parentPort?.postMessage('watching');
}

if (isMainThread) {
  await main();
} else {
  watchParent(workerData as WatchData);
}
