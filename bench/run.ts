import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: runs every benchmark script in bench/ in its own process, one after the other (so they do not
 * share a CPU or a JIT), and prints what each prints. `node dist/bench/run.js NAME...` runs only those.
 * Benchmarks print figures (cost per flow, throughput); they never pass or fail on time.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const scripts = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('lib-'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();

let failed = 0;
for (const script of scripts) {
  process.stdout.write(`\n=== bench/${script.replace(/\.js$/, '.ts')}\n`);
  const t0 = Date.now();
  const res = spawnSync(process.execPath, [path.join(here, script)], { stdio: 'inherit', env: { ...process.env, LOOKBACK_LOG: process.env['LOOKBACK_LOG'] ?? 'warn' } });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (res.status !== 0) {
    failed++;
    process.stdout.write(`=== bench/${script}: FAILED (exit ${res.status ?? res.signal}) after ${secs} s\n`);
  } else {
    process.stdout.write(`=== done in ${secs} s\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
