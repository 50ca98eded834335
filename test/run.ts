import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../common/log.js';
import { startLocalStack } from '../common/stack/index.js';

/**
 * The test command: starts ONE local real stack (ClickHouse, Kafka, the schema registry, Redis) for the whole
 * run, hands its endpoints to every test process through LOOKBACK_TEST_* variables, runs node's test runner over
 * the compiled test files, and stops the stack. Each test makes its own database and topic names
 * (test/helpers.ts), so files can run in parallel against one stack.
 *
 * `node dist/test/run.js [substring...]` runs only the test files whose path contains one of the substrings.
 *
 * Files named `*.serial.test.ts` run afterwards, one at a time, with nothing else running: they watch what a
 * killed run leaves on the machine, which another test's start-up sweep would otherwise remove under them.
 * A last line sums up both phases.
 */
const log = createLogger('test');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function findTests(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findTests(full, out);
    else if (entry.name.endsWith('.test.js')) out.push(full);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = findTests(root).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  if (files.length === 0) {
    log.error('no test files matched', { filters });
    return 1;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-test-'));
  log.info('starting the local stack for this run', { dataDir, files: files.length });
  const stack = await startLocalStack({ dataDir, registry: true, log });
  for (const p of stack.parts) log.info('stack part ready', { name: p.name, pid: p.pid, ms: p.startMs, rssMiB: Math.round(p.rssBytes() / 2 ** 20) });
  const e = stack.endpoints;
  const env = {
    ...process.env,
    LOOKBACK_TEST_CLICKHOUSE_URL: e.clickhouseUrl ?? '',
    LOOKBACK_TEST_KAFKA_BROKERS: (e.kafkaBrokers ?? []).join(','),
    LOOKBACK_TEST_REGISTRY_URL: e.registryUrl ?? '',
    LOOKBACK_TEST_REDIS_URL: e.redisUrl ?? '',
    LOOKBACK_LOG: process.env['LOOKBACK_LOG'] ?? 'warn',
  };
  const concurrency = process.env['LOOKBACK_TEST_CONCURRENCY'] ?? '2';
  const serial = files.filter((f) => f.endsWith('.serial.test.js'));
  const parallel = files.filter((f) => !serial.includes(f));
  const totals = { pass: 0, fail: 0, skipped: 0 };
  let code = 0;
  for (const [batch, n] of [[parallel, concurrency], [serial, '1']] as const) {
    if (batch.length === 0) continue;
    const tap = path.join(dataDir, `results-${n}.tap`);
    code = Math.max(code, await new Promise<number>((resolve) => {
      const args = ['--test', `--test-concurrency=${n}`, '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...batch];
      const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
      child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    }));
    const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
    for (const key of ['pass', 'fail', 'skipped'] as const) {
      const m = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text);
      totals[key] += m ? Number(m[1]) : 0;
    }
  }
  await stack.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`\ntests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log.error('test run failed before the tests', { error: (err as Error).message });
    process.exit(1);
  },
);
