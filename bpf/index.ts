/**
 * The probe: lookback's kernel capture as a small interface. openProbe() loads the BPF programs (flows at TC,
 * drops from kfree_skb, TCP lifecycle from inet_sock_set_state), attach() puts the flow programs on interfaces,
 * and onBatch() handlers receive decoded records in batches. No policy here: the collector decides what a flow
 * means.
 *
 *   const probe = openProbe({ payloadPorts: { tcp: [80], udp: [53] } });
 *   probe.onBatch((records) => { for (const r of records) ... });
 *   probe.attach('veth1234');
 *   ...
 *   probe.close();
 */
import fs from 'node:fs';
import path from 'node:path';
import { LookbackError } from '../common/errors.js';
import { resolveProbeConfig, tcpStateMask, type Direction, type ProbeConfig, type ProbeConfigInput } from './config.js';
import { createDecoder, monotonicBootTimeMs, type ProbeRecord } from './decode.js';
import { defaultObjectDir, fromNative, loadNative, type NativeAttachment, type NativeBenchStatus, type NativeProbe, type NativeProgramStat, type NativeProbeOptions } from './native.js';

export * from './decode.js';
export { resolveProbeConfig, defaultProbeConfig, type ProbeConfig, type ProbeConfigInput, type AttachMode, type Direction } from './config.js';
export { formatIPv6 } from './addresses.js';

/**
 * records: decoded, safe to keep. raw: the batch as the kernel wrote it (for recording and replay through
 * decodeRecords); it is a view of a buffer reused for the next batch, so copy it to keep it.
 */
export type BatchHandler = (records: ProbeRecord[], raw: Buffer) => void;

export type AttachmentInfo = NativeAttachment;
export type ProgramStat = NativeProgramStat;

export interface ProbeStats {
  /** Kernel counters summed over CPUs (packets, flowsCreated, ringFull*, ...). */
  kernel: Record<string, number>;
  /** Ring buffer reservations that failed: records lost in the kernel. */
  ringReserveFailed: number;
  recordsDelivered: number;
  batchesDelivered: number;
  bytesDelivered: number;
  /** Flow table entries after the last sweep, and its size. */
  flowEntries: number;
  flowCapacity: number;
}

export interface BenchControl {
  /** Writes `total` synthetic flow records from a native thread, at ratePerSecond (0 = as fast as possible). */
  start(total: number, ratePerSecond: number, recordsPerRun?: number): void;
  status(): NativeBenchStatus;
  stop(): void;
}

export interface Probe {
  readonly config: ProbeConfig;
  /** Attaches the flow programs to an interface (both directions by default). Idempotent. */
  attach(ifname: string, directions?: Direction[]): AttachmentInfo[];
  detach(ifname: string, directions?: Direction[]): void;
  attachments(): AttachmentInfo[];
  /** Adds a batch handler; returns a function that removes it. */
  onBatch(handler: BatchHandler): () => void;
  /** Delivers every record queued in the kernel now (normally they come every coalesceMs). */
  flush(): void;
  /** Runs the idle sweep now: idle flows are removed and their final counters delivered. */
  sweep(): { entries: number; removed: number };
  /** Removes every flow and delivers its final counters (LB_FLOW_END_FLUSH). */
  flushFlows(): { entries: number; removed: number };
  stats(): ProbeStats;
  /** Per program: run count and run time, when kernel.bpf_stats_enabled (or enableBpfStats()) is on. */
  programStats(): ProgramStat[];
  dropReasonName(value: number): string;
  /** Present when opened with bench: true. */
  readonly bench?: BenchControl;
  /** Detaches everything and frees the programs. Records still queued are delivered first. */
  close(): void;
}

const reasonTables = new Map<string, Map<number, string>>();

/** The kernel's drop reason names, read from its BTF (enum skb_drop_reason), by value. */
export function dropReasons(btfPath = '/sys/kernel/btf/vmlinux'): Map<number, string> {
  let table = reasonTables.get(btfPath);
  if (!table) {
    if (!fs.existsSync(btfPath)) throw noBtf(btfPath);
    try {
      table = new Map(loadNative().dropReasons(btfPath));
    } catch (err) {
      throw fromNative(err);
    }
    reasonTables.set(btfPath, table);
  }
  return table;
}

function noBtf(btfPath: string): LookbackError {
  return new LookbackError('missing_dependency', `the kernel's BTF type information was not found at ${btfPath}: lookback needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (which provides /sys/kernel/btf/vmlinux)`);
}

/** Root, or the capabilities BPF programs and TC links need. Checked before touching the kernel for a clear error. */
function checkPrivileges(): void {
  if (process.geteuid?.() === 0) return;
  let eff = 0n;
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) eff = BigInt('0x' + m[1]);
  } catch {
    // no /proc: let the kernel answer
    return;
  }
  const has = (bit: number): boolean => (eff & (1n << BigInt(bit))) !== 0n;
  const CAP_NET_ADMIN = 12, CAP_SYS_ADMIN = 21, CAP_PERFMON = 38, CAP_BPF = 39;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON) && has(CAP_NET_ADMIN))) return;
  throw new LookbackError('permission', `the eBPF probe needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN; this process runs as uid ${process.geteuid?.() ?? '?'} without them (run lookback as root, or grant them with setcap/systemd AmbientCapabilities)`);
}

export function openProbe(input: ProbeConfigInput = {}): Probe {
  const config = resolveProbeConfig(input);
  checkPrivileges();
  if (!fs.existsSync(config.btfPath)) throw noBtf(config.btfPath);
  const native = loadNative();
  const reasons = dropReasons(config.btfPath);
  const byName = new Map<string, number>();
  for (const [value, name] of reasons) byName.set(name, value);
  const dropIgnore = config.drops.ignoreReasons.map((name) => {
    const v = byName.get(name);
    if (v === undefined) {
      throw new LookbackError('config', `probe config: drops.ignoreReasons has ${JSON.stringify(name)}, which this kernel does not know; known reasons: ${[...byName.keys()].join(', ')}`);
    }
    return v;
  });

  const dir = config.objectDir || defaultObjectDir();
  const objects: NativeProbeOptions['objects'] = [];
  if (config.flows) objects.push({ role: 'flow', path: path.join(dir, 'flow.bpf.o') });
  if (config.drops.enabled) objects.push({ role: 'drop', path: path.join(dir, 'drop.bpf.o') });
  if (config.tcp.enabled) objects.push({ role: 'tcp', path: path.join(dir, 'tcp.bpf.o') });
  if (config.bench) objects.push({ role: 'bench', path: path.join(dir, 'bench.bpf.o') });

  let probe: NativeProbe;
  try {
    probe = new native.Probe({
      objects,
      btfPath: config.btfPath,
      ringBytes: config.ringBytes,
      flowCapacity: config.flowTableSize,
      config: {
        activeTimeoutNs: config.activeTimeoutMs * 1e6,
        sampleEvery: config.sampleEvery,
        snapLen: config.snapLength,
        tcpStateMask: config.tcp.enabled ? tcpStateMask(config.tcp.states) : 0,
        noSocketReason: byName.get('NO_SOCKET') ?? 0,
        payloadPortsTcp: config.payloadPorts.tcp,
        payloadPortsUdp: config.payloadPorts.udp,
        dropIgnore,
      },
    });
  } catch (err) {
    throw fromNative(err);
  }
  return wrap(probe, config, reasons);
}

function wrap(native: NativeProbe, config: ProbeConfig, reasons: Map<number, string>): Probe {
  const reasonName = (v: number): string => reasons.get(v) ?? `UNKNOWN_${v}`;
  const decoder = createDecoder({ dropReasonName: reasonName, bootTimeMs: monotonicBootTimeMs() });
  const handlers = new Set<BatchHandler>();
  const buffer = Buffer.allocUnsafeSlow(config.batchBytes);
  let closed = false;

  native.start(buffer, (_count, bytes) => {
    if (handlers.size === 0) return;
    const records = decoder.decode(buffer, bytes);
    const raw = buffer.subarray(0, bytes);
    for (const h of handlers) h(records, raw);
  }, config.coalesceMs);

  const idleNs = config.idleTimeoutMs * 1e6;
  const closedIdleNs = config.closedIdleTimeoutMs * 1e6;
  const sweepTimer = config.sweepIntervalMs > 0
    ? setInterval(() => { if (!closed) native.sweep(idleNs, closedIdleNs, false); }, config.sweepIntervalMs)
    : undefined;
  sweepTimer?.unref();

  // cls_bpf filters outlive the process (TCX links do not): remove them on a normal exit at least.
  const onExit = (): void => { if (!closed) native.close(); };
  process.once('exit', onExit);

  const call = <T>(fn: () => T): T => {
    if (closed) throw new LookbackError('invalid_argument', 'the probe is closed');
    try {
      return fn();
    } catch (err) {
      throw fromNative(err);
    }
  };

  const bench: BenchControl | undefined = config.bench
    ? {
        start: (total, rate, perRun = 256) => call(() => native.benchStart(total, rate, perRun)),
        status: () => native.benchStatus(),
        stop: () => native.benchStop(),
      }
    : undefined;

  return {
    config,
    attach(ifname, directions = ['ingress', 'egress']) {
      return directions.map((d) => call(() => native.attach(ifname, d, config.attachMode)));
    },
    detach(ifname, directions = ['ingress', 'egress']) {
      for (const d of directions) call(() => native.detach(ifname, d));
    },
    attachments: () => (closed ? [] : native.attachments()),
    onBatch(handler) {
      handlers.add(handler);
      return () => { handlers.delete(handler); };
    },
    flush: () => call(() => native.drain()),
    sweep: () => call(() => native.sweep(idleNs, closedIdleNs, false)),
    flushFlows: () => call(() => native.sweep(0, 0, true)),
    stats() {
      const k = closed ? {} : native.counters();
      const n = (key: string): number => k[key] ?? 0;
      return {
        kernel: k,
        ringReserveFailed: n('ringFullFlow') + n('ringFullPayload') + n('ringFullDrop') + n('ringFullTcp') + n('ringFullOther'),
        recordsDelivered: n('recordsDelivered'),
        batchesDelivered: n('batchesDelivered'),
        bytesDelivered: n('bytesDelivered'),
        flowEntries: n('flowEntries'),
        flowCapacity: n('flowCapacity'),
      };
    },
    programStats: () => (closed ? [] : native.programStats()),
    dropReasonName: reasonName,
    ...(bench ? { bench } : {}),
    close() {
      if (closed) return;
      if (sweepTimer) clearInterval(sweepTimer);
      process.removeListener('exit', onExit);
      try {
        native.stop();
      } finally {
        closed = true;
        native.close();
      }
    },
  };
}

/** Decodes a recorded raw batch (the `raw` argument of a batch handler) into records. */
export function decodeRecords(raw: Buffer, opts: { btfPath?: string; bootTimeMs?: number } = {}): ProbeRecord[] {
  let names: Map<number, string> | undefined;
  try {
    names = dropReasons(opts.btfPath);
  } catch {
    names = undefined; // replay on a machine without BTF: numeric reasons
  }
  const decoder = createDecoder({
    dropReasonName: (v) => names?.get(v) ?? `UNKNOWN_${v}`,
    ...(opts.bootTimeMs !== undefined ? { bootTimeMs: opts.bootTimeMs } : {}),
  });
  return decoder.decode(raw);
}

/**
 * Turns on the kernel's BPF run-time statistics (run_time_ns, run_cnt) until the returned function is called or
 * the process exits (BPF_ENABLE_STATS: nothing to restore after a crash, unlike the kernel.bpf_stats_enabled sysctl).
 */
export function enableBpfStats(): () => void {
  const native = loadNative();
  const fd = native.enableStats();
  if (fd < 0) throw new LookbackError('permission', `enabling BPF run-time statistics failed (errno ${-fd}); it needs root`);
  return () => native.closeFd(fd);
}

/** CPU time of the calling thread in nanoseconds (for benchmarks). */
export function threadCpuNs(): number {
  return loadNative().threadCpuNs();
}
