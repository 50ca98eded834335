/**
 * V8 settings for the collector's process. Set by `lookback collector` (cli/collector.ts) before the hot path is
 * compiled, and by bench/collector.ts, which measures the collector as it runs.
 *
 * --max-inlined-bytecode-size-cumulative: how much bytecode TurboFan may inline into one optimized function (920 by
 * default). The Avro encoder writes a flow's 43 fields through small helpers (int, long, enumeration, string,
 * copy); with the default budget most of them stay calls, each re-checking its buffer and arguments. At 6000
 * they are inlined: bench/collector, 6 interleaved runs each, 1887-2227 (median ~2050) -> 1825-1929 (~1910) ns/flow,
 * the encoder of a repeated flow alone ~750 -> ~610 ns. Larger optimized code is the only cost.
 */
import v8 from 'node:v8';

export const COLLECTOR_V8_FLAGS: readonly string[] = ['--max-inlined-bytecode-size-cumulative=6000'];

/** Applies COLLECTOR_V8_FLAGS to this process: call it before the collector's code runs hot. */
export function applyCollectorV8Flags(): void {
  for (const flag of COLLECTOR_V8_FLAGS) v8.setFlagsFromString(flag);
}
