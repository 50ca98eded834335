/**
 * Running `lookback up` as a user does, for the end-to-end tests: a child process (that dies with the test),
 * its ready block parsed into addresses, the commands it suggests run as written, and an inventory of everything
 * it made (process tree, namespaces, interfaces, BPF links) to check that nothing is left after it stops.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { procStat } from '../common/proc.js';
import { spawnSupervised, type SupervisedChild } from '../common/stack/child.js';

const run = promisify(execFile);
export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'lookback.js');

export interface ReadyInfo {
  grpc: string;
  http: string;
  clickhouseUrl: string;
  kafkaBrokers: string[];
  /** The demo network's id (its namespaces and interfaces are named after it). */
  netId: string;
  /** The commands the ready block suggests, with `lookback` as written. */
  tries: string[];
  startSeconds: number;
}

export interface UpRun {
  child: SupervisedChild;
  ready: ReadyInfo;
  output(): string;
}

/** Ports 0 everywhere: the test must not depend on (or take) 4245, 4244, 9965, 8090 or 9466. */
export const FREE_PORTS = ['ports.grpc=0', 'ports.http=0', 'ports.observer=0', 'ports.collectorMetrics=0', 'ports.ingestMetrics=0'];

export function parseReady(text: string): ReadyInfo {
  const m = (re: RegExp, what: string): string => {
    const hit = re.exec(text);
    assert.ok(hit, `the ready block names ${what}:\n${text}`);
    return hit[1]!;
  };
  return {
    grpc: m(/Hubble API\s+(127\.0\.0\.1:\d+)/, 'the Hubble API'),
    http: m(/HTTP API\s+(http:\/\/127\.0\.0\.1:\d+)/, 'the HTTP API'),
    clickhouseUrl: m(/ClickHouse\s+(http:\/\/127\.0\.0\.1:\d+)/, 'ClickHouse'),
    kafkaBrokers: m(/Kafka (\S+) \(topic/, 'Kafka').split(','),
    netId: m(/\((lbn[0-9a-z]{5})-\*\)/, "the demo's namespaces"),
    tries: [...text.matchAll(/^ {2}(lookback .+)$/gm)].map((x) => x[1]!),
    startSeconds: Number(m(/lookback is up in ([\d.]+) s/, 'the start-up time')),
  };
}

export async function startUp(args: string[], logFile: string, timeoutMs = 150_000): Promise<UpRun> {
  fs.rmSync(logFile, { force: true });
  const child = spawnSupervised({ name: 'lookback up', command: process.execPath, args: [BIN, 'up', ...args], logFile, env: { ...process.env, LOOKBACK_LOG: 'info' } });
  const output = (): string => fs.readFileSync(logFile, 'utf8');
  const deadline = Date.now() + timeoutMs;
  while (!output().includes('Ctrl-C stops everything.')) {
    if (!child.isRunning()) assert.fail(`lookback up exited before it was ready (${String(await child.exited)}):\n${output()}`);
    if (Date.now() > deadline) {
      await child.stop(5000);
      assert.fail(`lookback up was not ready within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, ready: parseReady(output()), output };
}

/** The exit of a run (supervised children are unref'd: keep the test's event loop alive while waiting). */
export async function exitOf(child: SupervisedChild): Promise<number | string> {
  const keep = setInterval(() => {}, 1000);
  try {
    return await child.exited;
  } finally {
    clearInterval(keep);
  }
}

/** Runs one suggested command (`lookback observe ...`) with this checkout's lookback. */
export async function lookback(command: string): Promise<string> {
  const words = command.split(/\s+/).filter(Boolean);
  assert.equal(words[0], 'lookback');
  const { stdout } = await run(process.execPath, [BIN, ...words.slice(1)], { timeout: 60_000, maxBuffer: 64 << 20 });
  return stdout;
}

/** Retries fn until it stops throwing (traffic runs on a loop: some lines need a round or two). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

// --- what a run leaves on the machine

export interface ProcessRef { pid: number; start: string; cmd: string }

function stat(pid: number): { ppid: number; start: string } | undefined {
  const f = procStat(pid);
  return f ? { ppid: Number(f[1]), start: f[19] ?? '' } : undefined;
}

/** The process and all its descendants, now. */
export function processTree(root: number): ProcessRef[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = stat(Number(d));
    if (st) children.set(st.ppid, [...(children.get(st.ppid) ?? []), Number(d)]);
  }
  const out: ProcessRef[] = [];
  const walk = (pid: number): void => {
    const st = stat(pid);
    if (!st) return;
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      // gone
    }
    out.push({ pid, start: st.start, cmd });
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

export function alive(p: ProcessRef): boolean {
  return stat(p.pid)?.start === p.start;
}

/** BPF link ids held by a process (its bpf-link fds). */
export function bpfLinkIds(pid: number): number[] {
  const ids: number[] = [];
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return ids;
  }
  for (const fd of fds) {
    try {
      const m = /^link_id:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

export function liveBpfLinkIds(): number[] {
  return (JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as Array<{ id: number }>).map((l) => l.id);
}

export function netnsWithPrefix(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
}

export function linksWithPrefix(prefix: string): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

/** Tables the demo would have made in the root namespace (it makes its rules inside the pods' namespaces only). */
export function rootNftDemoTables(): string[] {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('lookback'));
}

/** A snapshot, taken while the run is up, of what must be gone after it stops. */
export interface Footprint {
  processes: ProcessRef[];
  bpfLinks: number[];
  netId: string;
}

export function footprint(r: UpRun): Footprint {
  const processes = processTree(r.child.pid);
  const collector = processes.find((p) => / collector --config /.test(p.cmd));
  assert.ok(collector, `the collector runs under lookback up:\n${processes.map((p) => p.cmd).join('\n')}`);
  return { processes, bpfLinks: bpfLinkIds(collector.pid), netId: r.ready.netId };
}

/** Everything in the footprint that still exists. */
export function leftovers(f: Footprint): string[] {
  const live = new Set(liveBpfLinkIds());
  return [
    ...f.processes.filter(alive).map((p) => `process ${p.pid}: ${p.cmd}`),
    ...f.bpfLinks.filter((id) => live.has(id)).map((id) => `BPF link ${id}`),
    ...netnsWithPrefix(f.netId).map((n) => `network namespace ${n}`),
    ...linksWithPrefix(f.netId).map((n) => `interface ${n}`),
    ...rootNftDemoTables().map((t) => `nftables ${t}`),
  ];
}
