/**
 * The probe's configuration: one typed object with defaults, validated once with errors that name the key, the
 * bad value and what is allowed.
 */
import { LookbackError } from '../common/errors.js';
import { CONSTANTS } from './layout.js';
import { TCP_STATES, type TcpState } from './decode.js';

export type AttachMode = 'auto' | 'tcx' | 'tc';
export type Direction = 'ingress' | 'egress';

export interface ProbeConfig {
  /** The kernel's BTF (CO-RE relocations, drop reason names). */
  btfPath: string;
  /** Where setup put the compiled BPF objects; empty = <repo>/bpf/build/obj. */
  objectDir: string;
  /** Load the TC flow programs (attach() needs them). */
  flows: boolean;
  drops: {
    enabled: boolean;
    /** Kernel drop reason names (without SKB_DROP_REASON_) that are noise, not worth a record. */
    ignoreReasons: string[];
  };
  tcp: {
    enabled: boolean;
    /** Report TCP socket state changes into these states. */
    states: TcpState[];
  };
  /** Ring buffer size in bytes: a power of two, at least one page. */
  ringBytes: number;
  /** Flow table entries (an LRU: when full, the least recently seen flow is evicted and an overflow reported). */
  flowTableSize: number;
  /** Keep 1 flow in N, chosen by a hash of the connection so both directions agree. 1 keeps all. */
  sampleEvery: number;
  /** Payload bytes captured per packet on payloadPorts; 0 disables payload records. */
  snapLength: number;
  payloadPorts: { tcp: number[]; udp: number[] };
  /** A flow still active after this long is exported again (and then every activeTimeoutMs); 0 = never. */
  activeTimeoutMs: number;
  /** The sweep removes flows idle this long and reports their final counters. */
  idleTimeoutMs: number;
  /** ... and TCP flows that saw FIN both ways or a RST once idle this long. */
  closedIdleTimeoutMs: number;
  /** How often the sweep runs; 0 = only when sweep() is called. */
  sweepIntervalMs: number;
  /** Wait this long after a wakeup so one batch carries many records. Flow and payload records, which the kernel
   *  queues without a wakeup, are collected this often (every 1 ms when 0). */
  coalesceMs: number;
  /** Size of the one reused batch buffer handed to onBatch. */
  batchBytes: number;
  /** TCX links (die with the process), cls_bpf filters (kernels without TCX), or TCX falling back to cls_bpf. */
  attachMode: AttachMode;
  /** Load the synthetic record source used by bench/capture.ts. */
  bench: boolean;
}

export function defaultProbeConfig(): ProbeConfig {
  return {
    btfPath: '/sys/kernel/btf/vmlinux',
    objectDir: '',
    flows: true,
    drops: { enabled: true, ignoreReasons: ['NOT_SPECIFIED'] },
    tcp: { enabled: true, states: ['SYN_SENT', 'ESTABLISHED', 'CLOSE'] },
    ringBytes: 8 << 20,
    flowTableSize: 65536,
    sampleEvery: 1,
    snapLength: 256,
    payloadPorts: { tcp: [53, 80, 8080, 9092], udp: [53] },
    activeTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    closedIdleTimeoutMs: 5_000,
    sweepIntervalMs: 5_000,
    coalesceMs: 5,
    batchBytes: 1 << 20,
    attachMode: 'auto',
    bench: false,
  };
}

export type ProbeConfigInput = Partial<Omit<ProbeConfig, 'drops' | 'tcp' | 'payloadPorts'>> & {
  drops?: Partial<ProbeConfig['drops']>;
  tcp?: Partial<ProbeConfig['tcp']>;
  payloadPorts?: Partial<ProbeConfig['payloadPorts']>;
};

function bad(key: string, value: unknown, allowed: string): LookbackError {
  return new LookbackError('config', `probe config: ${key} = ${JSON.stringify(value)} is not allowed: ${allowed}`);
}

function int(key: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw bad(key, value, `an integer from ${min} to ${max}`);
}

export function resolveProbeConfig(input: ProbeConfigInput = {}): ProbeConfig {
  const d = defaultProbeConfig();
  const c: ProbeConfig = {
    ...d,
    ...input,
    drops: { ...d.drops, ...input.drops },
    tcp: { ...d.tcp, ...input.tcp },
    payloadPorts: { ...d.payloadPorts, ...input.payloadPorts },
  };
  if (!c.btfPath) throw bad('btfPath', c.btfPath, 'a path to the kernel BTF, normally /sys/kernel/btf/vmlinux');
  int('ringBytes', c.ringBytes, 4096, 1 << 30);
  if ((c.ringBytes & (c.ringBytes - 1)) !== 0) throw bad('ringBytes', c.ringBytes, 'a power of two');
  int('flowTableSize', c.flowTableSize, 64, 1 << 24);
  int('sampleEvery', c.sampleEvery, 1, 1 << 20);
  int('snapLength', c.snapLength, 0, CONSTANTS.LB_SNAP_MAX);
  for (const proto of ['tcp', 'udp'] as const) {
    for (const p of c.payloadPorts[proto]) int(`payloadPorts.${proto}[]`, p, 1, 65535);
  }
  int('activeTimeoutMs', c.activeTimeoutMs, 0, 86_400_000);
  int('idleTimeoutMs', c.idleTimeoutMs, 1, 86_400_000);
  int('closedIdleTimeoutMs', c.closedIdleTimeoutMs, 0, 86_400_000);
  int('sweepIntervalMs', c.sweepIntervalMs, 0, 86_400_000);
  int('coalesceMs', c.coalesceMs, 0, 1000);
  int('batchBytes', c.batchBytes, 64 * 1024, 64 << 20);
  if (!['auto', 'tcx', 'tc'].includes(c.attachMode)) throw bad('attachMode', c.attachMode, "'auto', 'tcx' or 'tc'");
  for (const s of c.tcp.states) {
    if (!TCP_STATES.includes(s) || s === 'UNKNOWN') throw bad('tcp.states[]', s, `one of ${TCP_STATES.slice(1).join(', ')}`);
  }
  if (!c.flows && !c.drops.enabled && !c.tcp.enabled && !c.bench) {
    throw bad('flows', c.flows, 'at least one of flows, drops.enabled, tcp.enabled must be true');
  }
  return c;
}

export function tcpStateMask(states: readonly TcpState[]): number {
  let mask = 0;
  for (const s of states) mask |= 1 << TCP_STATES.indexOf(s);
  return mask >>> 0;
}
