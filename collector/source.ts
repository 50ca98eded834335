/**
 * Where probe records come from: the eBPF probe on this kernel (probe-source.ts) or recorded batches
 * (replay-source.ts). The pipeline sees only this interface.
 */
import type { ProbeRecord } from '../bpf/decode.js';

export type BatchHandler = (records: ProbeRecord[]) => void;

export interface SourceStats {
  /** Records the kernel could not queue (ring buffer full), as reported so far. */
  kernelLost: number;
  recordsDelivered: number;
  batchesDelivered: number;
  /** Interfaces the probe is attached to (0 for replay). */
  interfaces: number;
}

export interface CaptureSource {
  readonly kind: 'probe' | 'replay';
  /** Only one handler: the pipeline. */
  onBatch(handler: BatchHandler): void;
  start(): Promise<void>;
  /**
   * Stops delivering. With flush, the probe first ends every live connection (final counters) so that what was
   * counted is published.
   */
  stop(opts?: { flush?: boolean }): Promise<void>;
  /** Interface name by index in the node's network namespace ('' when unknown). */
  interfaceName(ifindex: number): string;
  /** Network namespace inode of the interfaces the source reports (drops elsewhere happened inside a pod). */
  readonly hostNetns: number;
  /** Unix epoch nanoseconds at CLOCK_MONOTONIC 0, as the records' times were converted with. */
  readonly bootTimeNs: bigint;
  stats(): SourceStats;
  /** Delivers what is queued now (tests and shutdown). */
  flush(): void;
}
