/**
 * A capture source that replays recorded probe batches: from a replay file (replay-format.ts, written by the
 * recorder from a live probe) or from records made in memory. Tests use it to feed exact inputs; push() delivers
 * more at any time.
 */
import { monotonicBootTimeMs, type ProbeRecord } from '../bpf/decode.js';
import { decodeReplayBatches, readReplayFile } from './replay-format.js';
import type { BatchHandler, CaptureSource, SourceStats } from './source.js';

export interface ReplaySourceOptions {
  /** Records made in memory, one array per batch. */
  batches?: ProbeRecord[][];
  /** A replay file; its batches come after `batches`. */
  file?: string;
  /** Interface names by index (a file's header provides its own). */
  interfaces?: Record<number, string>;
  hostNetns?: number;
  /** Epoch ms at CLOCK_MONOTONIC 0; default: the file's, else this machine's (records carry only monotonic time). */
  bootTimeMs?: number;
}

export interface ReplaySource extends CaptureSource {
  /** Delivers a batch now (or when started, if not yet). */
  push(records: ProbeRecord[]): void;
  /** Resolves when the initial batches have been delivered. */
  readonly done: Promise<void>;
}

export function createReplaySource(opts: ReplaySourceOptions = {}): ReplaySource {
  const initial: ProbeRecord[][] = [...(opts.batches ?? [])];
  const interfaces = new Map<number, string>(Object.entries(opts.interfaces ?? {}).map(([k, v]) => [Number(k), v]));
  let hostNetns = opts.hostNetns ?? 0;
  let bootTimeMs = opts.bootTimeMs;
  if (opts.file) {
    const file = readReplayFile(opts.file);
    initial.push(...decodeReplayBatches(file));
    for (const [k, v] of Object.entries(file.header.interfaces)) if (!interfaces.has(Number(k))) interfaces.set(Number(k), v);
    if (opts.hostNetns === undefined) hostNetns = file.header.hostNetns;
    bootTimeMs ??= file.header.bootTimeMs;
  }
  bootTimeMs ??= monotonicBootTimeMs();
  const bootTimeNs = BigInt(Math.round(bootTimeMs * 1000)) * 1000n;

  let handler: BatchHandler | undefined;
  let started = false;
  let replaying = false;
  let stopped = false;
  const waiting: ProbeRecord[][] = [];
  const stats: SourceStats = { kernelLost: 0, recordsDelivered: 0, batchesDelivered: 0, interfaces: 0 };
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });

  const deliver = (records: ProbeRecord[]): void => {
    if (stopped || !handler) return;
    for (const r of records) if (r.kind === 'lost') stats.kernelLost += r.lost;
    stats.recordsDelivered += records.length;
    stats.batchesDelivered++;
    handler(records);
  };

  return {
    kind: 'replay',
    hostNetns,
    bootTimeNs,
    done,
    onBatch(h) {
      handler = h;
    },
    async start() {
      started = true;
      replaying = true;
      // One batch per macrotask, as the probe delivers them: timers and I/O run in between.
      void (async () => {
        for (const batch of [...initial, ...waiting.splice(0)]) {
          if (stopped) break;
          deliver(batch);
          await new Promise((r) => setImmediate(r));
        }
        replaying = false;
        for (const batch of waiting.splice(0)) deliver(batch);
        resolveDone();
      })();
    },
    async stop() {
      stopped = true;
      resolveDone();
    },
    push(records) {
      if (!started || replaying) waiting.push(records);
      else deliver(records);
    },
    interfaceName: (ifindex) => interfaces.get(ifindex) ?? '',
    stats: () => ({ ...stats }),
    flush() {},
  };
}
