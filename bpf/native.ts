/**
 * Loading the N-API addon (bpf/build/Release/lookback_bpf.node) and the paths of the compiled BPF objects.
 * Both are built by scripts/setup-bpf.sh; when they are missing the error says how to build them.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LookbackError, type ErrorCode } from '../common/errors.js';

export interface NativeAttachment {
  ifname: string;
  ifindex: number;
  direction: 'ingress' | 'egress';
  mode: 'tcx' | 'tc';
  progId: number;
  linkId: number;
}

export interface NativeProgramStat {
  name: string;
  id: number;
  runTimeNs: number;
  runCount: number;
}

export interface NativeBenchStatus {
  running: boolean;
  produced: number;
  sent: number;
  ringFull: number;
  elapsedNs: number;
  /** CPU time the producer thread used (set when it has finished). */
  cpuNs: number;
  error?: string;
}

export interface NativeProbeOptions {
  objects: { role: 'flow' | 'drop' | 'tcp' | 'bench'; path: string }[];
  btfPath: string;
  ringBytes: number;
  flowCapacity: number;
  config: {
    activeTimeoutNs: number;
    sampleEvery: number;
    snapLen: number;
    tcpStateMask: number;
    /** SKB_DROP_REASON_NO_SOCKET's value on this kernel (0: unknown). */
    noSocketReason?: number;
    payloadPortsTcp: number[];
    payloadPortsUdp: number[];
    dropIgnore: number[];
  };
}

export interface NativeProbe {
  attach(ifname: string, direction: 'ingress' | 'egress', mode: string): NativeAttachment;
  detach(ifname: string, direction: 'ingress' | 'egress'): boolean;
  attachments(): NativeAttachment[];
  start(buffer: Buffer, onBatch: (count: number, bytes: number) => void, coalesceMs: number): void;
  stop(): void;
  drain(): void;
  sweep(idleNs: number, closedIdleNs: number, flushAll: boolean): { entries: number; removed: number };
  counters(): Record<string, number>;
  programStats(): NativeProgramStat[];
  benchStart(total: number, ratePerSecond: number, recordsPerRun: number): void;
  benchStatus(): NativeBenchStatus;
  benchStop(): void;
  close(): void;
}

export interface NativeAddon {
  Probe: new (opts: NativeProbeOptions) => NativeProbe;
  dropReasons(btfPath: string): [number, string][];
  threadCpuNs(): number;
  monotonicNs(): number;
  /** Kernel BPF run-time statistics on while the returned fd is open (negative: failed). */
  enableStats(): number;
  closeFd(fd: number): void;
}

/** stat, not existsSync: access(2) ignores capabilities, and a process may read the checkout through
 * CAP_DAC_READ_SEARCH alone (the unprivileged-user test does). */
function exists(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false }) !== undefined;
}

/** The repository root: the nearest ancestor of this module that holds bpf/binding.gyp. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (exists(path.join(dir, 'bpf', 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  throw new LookbackError('internal', 'cannot find the lookback repository root (bpf/binding.gyp) above ' + fileURLToPath(import.meta.url));
}

export function buildDir(): string {
  return process.env['LOOKBACK_BPF_BUILD'] ?? path.join(repoRoot(), 'bpf', 'build');
}

export function defaultObjectDir(): string {
  return path.join(buildDir(), 'obj');
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const file = path.join(buildDir(), 'Release', 'lookback_bpf.node');
  if (!exists(file)) {
    throw new LookbackError('missing_dependency', `the eBPF addon ${file} is not built: run \`bash scripts/setup-bpf.sh\` (part of \`npm run setup\`), which needs clang, libbpf-dev and bpftool`);
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(file) as NativeAddon;
  } catch (err) {
    throw new LookbackError('missing_dependency', `the eBPF addon ${file} could not be loaded (${(err as Error).message}): rebuild it with \`bash scripts/setup-bpf.sh\``, { cause: err });
  }
  return cached;
}

const CODES: Record<string, ErrorCode> = {
  permission: 'permission',
  missing_dependency: 'missing_dependency',
  not_found: 'not_found',
  invalid_argument: 'invalid_argument',
};

/** Native errors carry a code (permission, missing_dependency, not_found, verifier, ...): map it once. */
export function fromNative(err: unknown): LookbackError {
  if (err instanceof LookbackError) return err;
  const e = err as { message?: string; code?: string };
  return new LookbackError(CODES[e.code ?? ''] ?? 'internal', e.message ?? String(err), { cause: err });
}
