/**
 * The live capture source: the eBPF probe (bpf/) attached to this node's pod interfaces and uplinks. Interfaces
 * whose names match the configured patterns are attached when they appear (a rescan every few seconds: pods come
 * and go); TCX links vanish with their interface. Optionally records the raw batches to a replay file.
 */
import fs from 'node:fs';
import { monotonicBootTimeMs, openProbe, dropReasons, type Probe } from '../bpf/index.js';
import { describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { globToRegExp, matchesAny } from './interfaces.js';
import { createReplayWriter, type ReplayWriter } from './replay-format.js';
import type { BatchHandler, CaptureSource, SourceStats } from './source.js';

export interface ProbeSourceConfig {
  endpointInterfaces: string[];
  networkInterfaces: string[];
  rescanIntervalMs: number;
  attachMode: 'auto' | 'tcx' | 'tc';
  ringBytes: number;
  flowTableSize: number;
  snapLength: number;
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  closedIdleTimeoutMs: number;
  sweepIntervalMs: number;
  coalesceMs: number;
  dropIgnoreReasons: string[];
  payloadPorts: { tcp: number[]; udp: number[] };
  /** Write the raw batches here (a replay file), '' for none. */
  recordFile: string;
}

const SYS_NET = '/sys/class/net';

function listInterfaces(): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(SYS_NET);
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      out.set(name, Number(fs.readFileSync(`${SYS_NET}/${name}/ifindex`, 'utf8').trim()));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function hostNetnsInode(): number {
  try {
    return fs.statSync('/proc/self/ns/net').ino;
  } catch {
    return 0;
  }
}

export function createProbeSource(cfg: ProbeSourceConfig, deps: { log?: Logger } = {}): CaptureSource {
  const log = deps.log ?? silentLogger;
  const patterns = [...cfg.endpointInterfaces, ...cfg.networkInterfaces].map(globToRegExp);
  const bootTimeMs = monotonicBootTimeMs();
  const names = new Map<number, string>();
  let lastRefresh = 0;
  let probe: Probe | undefined;
  let handler: BatchHandler | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writer: ReplayWriter | undefined;
  const attached = new Set<string>();
  const stats: SourceStats = { kernelLost: 0, recordsDelivered: 0, batchesDelivered: 0, interfaces: 0 };

  function refreshNames(): void {
    lastRefresh = Date.now();
    names.clear();
    for (const [name, index] of listInterfaces()) names.set(index, name);
  }

  function rescan(): void {
    if (!probe) return;
    const present = listInterfaces();
    for (const [name] of present) {
      if (attached.has(name) || !matchesAny(name, patterns)) continue;
      try {
        probe.attach(name);
        attached.add(name);
        log.info('attached', { interface: name });
      } catch (err) {
        log.warn('attaching failed', { interface: name, error: describeError(err) });
      }
    }
    for (const name of attached) if (!present.has(name)) attached.delete(name);
    stats.interfaces = attached.size;
    refreshNames();
  }

  return {
    kind: 'probe',
    hostNetns: hostNetnsInode(),
    bootTimeNs: BigInt(Math.round(bootTimeMs * 1000)) * 1000n,
    onBatch(h) {
      handler = h;
    },
    async start() {
      probe = openProbe({
        attachMode: cfg.attachMode,
        ringBytes: cfg.ringBytes,
        flowTableSize: cfg.flowTableSize,
        snapLength: cfg.snapLength,
        payloadPorts: cfg.payloadPorts,
        activeTimeoutMs: cfg.activeTimeoutMs,
        idleTimeoutMs: cfg.idleTimeoutMs,
        closedIdleTimeoutMs: cfg.closedIdleTimeoutMs,
        sweepIntervalMs: cfg.sweepIntervalMs,
        coalesceMs: cfg.coalesceMs,
        drops: { enabled: true, ignoreReasons: cfg.dropIgnoreReasons },
      });
      if (cfg.recordFile) {
        const interfaces: Record<string, string> = {};
        for (const [name, index] of listInterfaces()) interfaces[String(index)] = name;
        writer = createReplayWriter(cfg.recordFile, {
          bootTimeMs, interfaces, hostNetns: hostNetnsInode(),
          dropReasons: Object.fromEntries([...dropReasons()].map(([v, n]) => [String(v), n])),
        });
      }
      probe.onBatch((records, raw) => {
        writer?.write(raw);
        for (const r of records) if (r.kind === 'lost') stats.kernelLost += r.lost;
        stats.recordsDelivered += records.length;
        stats.batchesDelivered++;
        handler?.(records);
      });
      rescan();
      timer = setInterval(rescan, cfg.rescanIntervalMs);
      timer.unref();
    },
    async stop(opts = {}) {
      if (timer) clearInterval(timer);
      if (!probe) return;
      try {
        if (opts.flush) probe.flushFlows();
        probe.flush();
      } catch (err) {
        log.warn('flushing the probe failed', { error: describeError(err) });
      }
      probe.close();
      probe = undefined;
      writer?.close();
      writer = undefined;
    },
    interfaceName(ifindex) {
      let name = names.get(ifindex);
      // An interface created since the last scan: look again, at most every 200 ms.
      if (name === undefined && Date.now() - lastRefresh > 200) {
        refreshNames();
        name = names.get(ifindex);
      }
      return name ?? '';
    },
    stats: () => ({ ...stats }),
    flush() {
      probe?.flush();
    },
  };
}
