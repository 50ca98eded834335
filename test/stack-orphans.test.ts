import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ping } from '../common/stack/redis.js';
import { ensureStack } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); read its state to count it as gone.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) && alive(Number(pid))) out.push(`${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      // gone while we looked
    }
  }
  return out;
}

test('Redis from the local stack answers PING', async () => {
  const { redisUrl } = await ensureStack({ redis: true });
  const port = Number(new URL(redisUrl).port);
  assert.equal(await ping(port), true);
});

test('after SIGKILL of the parent, no child of the local stack remains', { timeout: 180_000 }, async () => {
  const parent = spawn(process.execPath, [path.join(here, 'fixtures/stack-parent.js'), '--registry'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    parent.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    parent.once('exit', (code) => reject(new Error(`stack parent exited early with ${code}`)));
  });
  const { dataDir, parts } = JSON.parse(line) as { dataDir: string; parts: Array<{ name: string; pid: number }> };
  assert.deepEqual(parts.map((p) => p.name).sort(), ['clickhouse', 'kafka', 'redis', 'registry']);
  for (const p of parts) assert.ok(alive(p.pid), `${p.name} (pid ${p.pid}) runs before the kill`);

  parent.kill('SIGKILL');
  const deadline = Date.now() + 30_000;
  let remaining = parts;
  while (remaining.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    remaining = remaining.filter((p) => alive(p.pid));
  }
  assert.deepEqual(remaining, [], 'every child of the killed parent is gone');
  // Grandchildren too: no process anywhere still names the stack's data directory on its command line.
  const strays = processesMentioning(dataDir);
  fs.rmSync(dataDir, { recursive: true, force: true });
  assert.deepEqual(strays, [], 'no process refers to the killed stack');
});
