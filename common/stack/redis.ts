import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { LookbackError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { spawnSupervised } from './child.js';
import { freePort } from './ports.js';

/** Debian's redis-server, for BullMQ's job queues. No persistence: jobs are re-creatable, results live in ClickHouse. */
export interface LocalRedis {
  url: string;
  port: number;
  pid: number;
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function startRedis(opts: { dataDir: string; port?: number; log?: Logger }): Promise<LocalRedis> {
  const log = opts.log ?? silentLogger;
  const bin = findRedis();
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const port = opts.port || (await freePort());
  const child = spawnSupervised({
    name: 'redis',
    command: bin,
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', opts.dataDir],
    logFile: path.join(opts.dataDir, 'redis.log'),
  });
  const started = Date.now();
  const deadline = started + 10_000;
  while (!(await ping(port))) {
    if (!child.isRunning()) throw new LookbackError('unavailable', `redis-server exited at start-up:\n${child.tail()}`);
    if (Date.now() > deadline) {
      await child.stop(1000);
      throw new LookbackError('unavailable', `redis-server did not answer PING on 127.0.0.1:${port} within 10 s:\n${child.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  log.info('redis ready', { port, ms: Date.now() - started });
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, rssBytes: child.rssBytes, stop: () => child.stop(5000) };
}

function findRedis(): string {
  for (const candidate of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new LookbackError('missing_dependency', 'redis-server is not installed: run `bash scripts/setup.sh` (or `apt-get install redis-server`)');
  }
}

/** Sends an inline PING and waits for +PONG. */
export function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { buf += d.toString(); if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
    sock.once('error', () => done(false));
  });
}
