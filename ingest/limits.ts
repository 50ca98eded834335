import { LookbackError } from '../common/errors.js';

/**
 * What a flow must satisfy to be stored: every value fits its ClickHouse column (a port in UInt16, an identity in
 * UInt32, no negative counter), strings are not absurdly long, and the event time lies in the window the raw
 * table keeps (an ancient or far-future time would be dropped by TTL at once, or create a partition per day).
 * The Flow encoder (flow-row-binary.ts) and the Avro transcoder (avro-transcoder.ts) apply the same rules;
 * a record that breaks one is dead-lettered with the reason.
 */
export interface FlowLimits {
  /** Oldest accepted time_ns (inclusive). */
  minTimeNs: bigint;
  /** Newest accepted time_ns (inclusive). */
  maxTimeNs: bigint;
  /** Longest accepted string, in UTF-8 bytes. */
  maxStringBytes: number;
}

export const DEFAULT_MAX_STRING_BYTES = 64 * 1024;

/** Accepts any time: for tools that load history (benchmarks, seeding). */
export const PERMISSIVE_LIMITS: FlowLimits = {
  minTimeNs: -(2n ** 63n),
  maxTimeNs: 2n ** 63n - 1n,
  maxStringBytes: DEFAULT_MAX_STRING_BYTES,
};

/** The window `now - pastMs .. now + futureMs`, recomputed by the caller (ingest refreshes it every second). */
export function timeWindowLimits(nowMs: number, pastMs: number, futureMs: number, maxStringBytes = DEFAULT_MAX_STRING_BYTES): FlowLimits {
  return {
    minTimeNs: BigInt(Math.floor(nowMs - pastMs)) * 1_000_000n,
    maxTimeNs: BigInt(Math.floor(nowMs + futureMs)) * 1_000_000n,
    maxStringBytes,
  };
}

/** A record that cannot be stored. `reason` goes into the dead-letter headers. */
export function invalidFlow(reason: string): LookbackError {
  return new LookbackError('invalid_argument', reason);
}

export function outOfRange(field: string, value: number | bigint, min: number | bigint, max: number | bigint): LookbackError {
  return invalidFlow(`${field} = ${value} is out of range ${min}..${max}`);
}

export const U8 = 0xff;
export const U16 = 0xffff;
export const U32 = 0xffff_ffff;
export const MAC_MAX = 0xffff_ffff_ffff;
