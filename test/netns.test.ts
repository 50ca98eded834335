/**
 * The pod-network helper: pods reach each other over IPv4 and IPv6, destroy() removes everything, and a network
 * left behind by a SIGKILLed process is swept by the next run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPodNetwork, sweepStaleNetworks } from './netns.js';

const leftovers = (id: string): string[] => {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(id));
  const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(id));
  return [...ns, ...links];
};

test('pods talk over IPv4 and IPv6; destroy() removes namespaces, veths, bridge and processes', async () => {
  const net = await createPodNetwork({ pods: ['a', 'b'] });
  const a = net.pod('a');
  const b = net.pod('b');
  try {
    await a.run('ping', ['-c', '1', '-W', '2', b.ipv4]);
    await a.run('ping', ['-6', '-c', '1', '-W', '2', b.ipv6]);
    assert.match(await b.run('ip', ['-br', 'addr', 'show', 'eth0']), new RegExp(b.ipv4.replaceAll('.', '\\.')));
    const sleeper = b.spawn('sleeper', 'sleep', ['600']);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(sleeper.isRunning());
    assert.ok(a.hostIfIndex() > 0);
    assert.equal(leftovers(net.id).length, 2 + 3, 'two namespaces, two host veths, one bridge');
    await net.destroy();
    assert.equal(sleeper.isRunning(), false);
  } finally {
    await net.destroy();
  }
  assert.deepEqual(leftovers(net.id), []);
});

test('a network whose owner was SIGKILLed is swept by the next run', async () => {
  const helper = path.join(path.dirname(fileURLToPath(import.meta.url)), 'netns.js');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { createPodNetwork } = await import(${JSON.stringify(helper)});
    const net = await createPodNetwork({ pods: ['x'] });
    net.pod('x').spawn('sleeper', 'sleep', ['600']);
    console.log(net.id);
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const id = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`helper exited ${code}`)));
  });
  assert.ok(leftovers(id).length > 0);
  assert.ok(!sweepStaleNetworks().includes(id), 'a live owner keeps its network');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(leftovers(id).length > 0, 'SIGKILL leaves it behind');
  assert.ok(sweepStaleNetworks().includes(id));
  assert.deepEqual(leftovers(id), []);
});
