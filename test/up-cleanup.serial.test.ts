/**
 * A `lookback up --demo` that is killed (SIGKILL: no handler runs) takes its processes and BPF links along (every
 * child has a parent-death signal; TCX and tracing links belong to the collector process), but its network
 * namespaces stay. The next start removes them, finds the data of the killed run, and stops cleanly itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { alive, eventually, exitOf, footprint, FREE_PORTS, leftovers, linksWithPrefix, netnsWithPrefix, startUp, type UpRun } from './up-harness.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-up-cleanup-'));
const args = ['--demo', '--data-dir', dataDir, '--set', 'demo.interval=2s', ...FREE_PORTS.flatMap((s) => ['--set', s])];
const runs: UpRun[] = [];
after(async () => {
  for (const r of runs) await r.child.stop(60_000);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function clickhouseCount(url: string, where: string): Promise<number> {
  const res = await fetch(`${url}/?database=lookback`, { method: 'POST', body: `SELECT count() FROM flows WHERE ${where}` });
  const text = await res.text();
  assert.ok(res.ok, text);
  return Number(text.trim());
}

test('after a SIGKILLed run, the next start removes what it left and keeps its data', { timeout: 300_000 }, async () => {
  const first = await startUp(args, path.join(os.tmpdir(), 'lookback-up-cleanup-1.log'));
  runs.push(first);
  const killed = footprint(first);
  const stored = await eventually(async () => {
    const n = await clickhouseCount(first.ready.clickhouseUrl, "source_pod = 'xwing'");
    assert.ok(n > 0, 'xwing flows are stored');
    return n;
  }, 30_000);

  process.kill(first.child.pid, 'SIGKILL');
  await exitOf(first.child);
  // Children get SIGKILL from the kernel (pdeathsig) when their parent dies; give them a moment to go.
  const processes = await eventually(async () => {
    const live = killed.processes.filter(alive);
    assert.deepEqual(live.map((p) => p.cmd), [], 'no process of the killed run survives it');
    return live;
  }, 15_000);
  assert.equal(processes.length, 0);
  const left = leftovers(killed);
  assert.ok(left.some((l) => l.startsWith('network namespace')), `a killed run leaves its namespaces:\n${left.join('\n')}`);
  assert.ok(!left.some((l) => l.startsWith('BPF link') || l.startsWith('process')), `but no process or BPF link:\n${left.join('\n')}`);

  const startedAt = Date.now();
  const second = await startUp(args, path.join(os.tmpdir(), 'lookback-up-cleanup-2.log'));
  runs.push(second);
  assert.match(second.output(), new RegExp(`removed pod networks left by runs that were killed networks=\\S*${killed.netId}`));
  assert.deepEqual([...netnsWithPrefix(killed.netId), ...linksWithPrefix(killed.netId)], [], "the killed run's namespaces and interfaces are gone");
  assert.notEqual(second.ready.netId, killed.netId);
  const kept = await clickhouseCount(second.ready.clickhouseUrl, `source_pod = 'xwing' AND time < fromUnixTimestamp64Milli(${startedAt})`);
  assert.ok(kept >= stored, `the killed run's flows are still there (${kept} >= ${stored})`);

  const fp = footprint(second);
  await second.child.stop(60_000);
  assert.equal(await second.child.exited, 0, second.output().slice(-3000));
  assert.deepEqual([...leftovers(fp), ...leftovers(killed)], [], 'nothing is left of either run');
});
