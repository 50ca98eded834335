/**
 * Throwaway "pods" for tests and demos: network namespaces joined to a bridge in the root namespace by veth pairs,
 * with IPv4 and IPv6 (nodad) addresses. The probe attaches to the host-side veths, as it would on a node.
 *
 *   const net = await createPodNetwork({ pods: ['client', 'server'] });
 *   const srv = net.pod('server').spawn('http', 'python3', ['-m', 'http.server', '8080']);
 *   await net.pod('client').run('curl', ['-s', `http://${net.pod('server').ipv4}:8080/`]);
 *   await net.destroy();
 *
 * Everything a network creates is named lbn<id>... and recorded in /run/lookback-netns/<id>.json with the owning
 * process; createPodNetwork() first removes networks whose owner is gone (a crashed or SIGKILLed earlier run), and
 * destroy() (or process exit) removes this one. Processes started in a pod die with the owner (pdeathsig).
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { processStart } from './proc.js';
import { spawnSupervised, type SupervisedChild } from './stack/child.js';

const run = promisify(execFile);
const STATE_DIR = '/run/lookback-netns';
const PREFIX = 'lbn';
const ID_RE = /^lbn([0-9a-z]{5})/;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Pod {
  /** The name given to createPodNetwork. */
  readonly name: string;
  /** The network namespace (for `ip netns exec`). */
  readonly netns: string;
  /** Host-side veth in the root namespace: where a node agent would attach. */
  readonly hostIf: string;
  /** The pod's interface inside its namespace. */
  readonly podIf: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Runs a command inside the pod; never rejects for a non-zero exit. */
  exec(cmd: string, args?: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Runs a command inside the pod and returns stdout; rejects with its stderr when it fails. */
  run(cmd: string, args?: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Starts a long-running process inside the pod (killed with us; stop() it or destroy the network). */
  spawn(name: string, cmd: string, args?: string[]): SupervisedChild;
  /** Index of hostIf in the root namespace. */
  hostIfIndex(): number;
}

export interface PodNetwork {
  readonly id: string;
  readonly bridge: string;
  /** The bridge's addresses, the pods' default gateway (the root namespace is reachable there). */
  readonly gateway4: string;
  readonly gateway6: string;
  readonly pods: readonly Pod[];
  pod(name: string): Pod;
  /** Stops every process started in the pods and removes namespaces, veths and the bridge. Idempotent. */
  destroy(): Promise<void>;
}

export interface PodNetworkOptions {
  pods: string[];
  /** Where the pods' processes log (kept after destroy). Default: a temporary folder removed with the network. */
  logDir?: string;
}

interface State {
  pid: number;
  start: string;
}

function ownerAlive(id: string): boolean {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(STATE_DIR, `${id}.json`), 'utf8')) as State;
    return processStart(s.pid) === s.start;
  } catch {
    return false;
  }
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Removes everything belonging to network `id` (synchronous, so it also works from an exit handler). */
function removeNetwork(id: string): void {
  const nsNames = listNetns().filter((n) => n.startsWith(id));
  for (const ns of nsNames) {
    let pids: string[] = [];
    try {
      pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean);
    } catch {
      pids = [];
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
  for (const link of listLinks().filter((l) => l.startsWith(id))) quiet('ip', ['link', 'del', link]);
  for (const ns of nsNames) quiet('ip', ['netns', 'del', ns]);
  fs.rmSync(path.join(STATE_DIR, `${id}.json`), { force: true });
  fs.rmSync(path.join(os.tmpdir(), `lookback-${id}`), { recursive: true, force: true });
}

function listNetns(): string[] {
  try {
    return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(PREFIX));
  } catch {
    return [];
  }
}

function listLinks(): string[] {
  const links = JSON.parse(sh('ip', ['-j', 'link', 'show'])) as { ifname: string }[];
  return links.map((l) => l.ifname.split('@')[0] ?? '').filter((n) => n.startsWith(PREFIX));
}

/** Removes networks left behind by runs that died without cleaning up. Returns the ids removed. */
export function sweepStaleNetworks(): string[] {
  const ids = new Set<string>();
  for (const name of [...listNetns(), ...listLinks()]) {
    const m = ID_RE.exec(name);
    if (m) ids.add(`${PREFIX}${m[1]}`);
  }
  try {
    for (const f of fs.readdirSync(STATE_DIR)) if (f.endsWith('.json')) ids.add(f.slice(0, -5));
  } catch {
    // no state yet
  }
  // Log folders (older versions named them lookback-<id><random>): removed once their network's owner is gone.
  const logDirs = new Map<string, string[]>();
  try {
    for (const f of fs.readdirSync(os.tmpdir())) {
      const m = /^lookback-(lbn[0-9a-z]{5})/.exec(f);
      if (!m) continue;
      const id = m[1]!;
      ids.add(id);
      logDirs.set(id, [...(logDirs.get(id) ?? []), path.join(os.tmpdir(), f)]);
    }
  } catch {
    // no temporary folder
  }
  const removed: string[] = [];
  for (const id of ids) {
    if (ownerAlive(id)) continue;
    removeNetwork(id);
    for (const dir of logDirs.get(id) ?? []) fs.rmSync(dir, { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}

/** A /24 and /64 not used by another network on this host. */
function freeSubnet(): number {
  const used = sh('ip', ['-4', '-o', 'addr', 'show']);
  for (let tries = 0; tries < 64; tries++) {
    const n = crypto.randomInt(1, 255);
    if (!used.includes(`10.213.${n}.`)) return n;
  }
  throw new Error('no free 10.213.x.0/24 subnet for a pod network');
}

export async function createPodNetwork(opts: PodNetworkOptions): Promise<PodNetwork> {
  if (process.geteuid?.() !== 0) throw new Error('pod networks need root (network namespaces, veths, bridges)');
  if (opts.pods.length === 0 || opts.pods.length > 200) throw new Error('a pod network has 1 to 200 pods');
  sweepStaleNetworks();

  const id = `${PREFIX}${crypto.randomBytes(8).readBigUInt64LE().toString(36).slice(0, 5).padStart(5, '0')}`;
  const net = freeSubnet();
  const hex = net.toString(16);
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const state: State = { pid: process.pid, start: processStart(process.pid) ?? '' };
  fs.writeFileSync(path.join(STATE_DIR, `${id}.json`), JSON.stringify(state));
  // The default folder's name is exactly what removeNetwork() deletes, so a swept network takes its logs along.
  const logDir = opts.logDir ?? path.join(os.tmpdir(), `lookback-${id}`);
  fs.mkdirSync(logDir, { recursive: true });
  const children: SupervisedChild[] = [];
  let destroyed = false;
  const onExit = (): void => { if (!destroyed) removeNetwork(id); };
  process.once('exit', onExit);

  const bridge = `${id}br`;
  const gateway4 = `10.213.${net}.1`;
  const gateway6 = `fd6c:6b:${hex}::1`;
  const ip = async (...args: string[]): Promise<void> => { await run('ip', args); };

  const pods: Pod[] = [];
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('link', 'set', bridge, 'addrgenmode', 'none');
    await ip('addr', 'add', `${gateway4}/24`, 'dev', bridge);
    await ip('addr', 'add', `${gateway6}/64`, 'dev', bridge, 'nodad');
    await ip('link', 'set', bridge, 'up');

    for (const [i, name] of opts.pods.entries()) {
      if (!/^[a-z0-9-]{1,20}$/.test(name)) throw new Error(`pod name ${JSON.stringify(name)}: use 1-20 of a-z, 0-9, -`);
      const netns = `${id}-${name}`;
      const hostIf = `${id}h${i}`;
      const host = 10 + i;
      const ipv4 = `10.213.${net}.${host}`;
      const ipv6 = `fd6c:6b:${hex}::${host.toString(16)}`;
      await ip('netns', 'add', netns);
      await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      // No IPv6 link-local address on the bridge port: it would send router solicitations and MLD reports.
      await ip('link', 'set', hostIf, 'addrgenmode', 'none');
      await ip('link', 'set', hostIf, 'master', bridge);
      await ip('link', 'set', hostIf, 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      await ip('-n', netns, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'route', 'add', 'default', 'via', gateway4);
      await ip('-n', netns, '-6', 'route', 'add', 'default', 'via', gateway6);
      pods.push(makePod({ name, netns, hostIf, ipv4, ipv6, logDir, children }));
    }
  } catch (err) {
    destroyed = true;
    process.removeListener('exit', onExit);
    removeNetwork(id);
    throw err;
  }

  return {
    id,
    bridge,
    gateway4,
    gateway6,
    pods,
    pod(name) {
      const p = pods.find((x) => x.name === name);
      if (!p) throw new Error(`no pod named ${name} in ${id} (pods: ${pods.map((x) => x.name).join(', ')})`);
      return p;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', onExit);
      await Promise.all(children.map((c) => c.stop(2000)));
      removeNetwork(id);
    },
  };
}

function makePod(p: { name: string; netns: string; hostIf: string; ipv4: string; ipv6: string; logDir: string; children: SupervisedChild[] }): Pod {
  const exec = async (cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}): Promise<ExecResult> => {
    try {
      const { stdout, stderr } = await run('ip', ['netns', 'exec', p.netns, cmd, ...args], {
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 << 20,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
    }
  };
  return {
    name: p.name,
    netns: p.netns,
    hostIf: p.hostIf,
    podIf: 'eth0',
    ipv4: p.ipv4,
    ipv6: p.ipv6,
    exec,
    async run(cmd, args = [], opts = {}) {
      const r = await exec(cmd, args, opts);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in pod ${p.name} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    },
    spawn(name, cmd, args = []) {
      const child = spawnSupervised({
        name: `${p.name}/${name}`,
        command: 'ip',
        args: ['netns', 'exec', p.netns, cmd, ...args],
        logFile: path.join(p.logDir, `${p.name}-${name}.log`),
      });
      p.children.push(child);
      return child;
    },
    hostIfIndex() {
      return Number(fs.readFileSync(`/sys/class/net/${p.hostIf}/ifindex`, 'utf8').trim());
    },
  };
}
