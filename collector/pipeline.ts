/**
 * The collector's hot path, one call per probe batch: records -> flows (flow-builder: dedupe, deltas, direction,
 * L7, enrichment, DNS names) -> Avro record values, encoded once -> ring (live Observer; it keeps the values and
 * decodes what it is asked for) -> metrics -> publish queue (never blocks; the same values). Losses become
 * LostEvents in the ring: the kernel's (PERF_EVENT_RING_BUFFER) as the probe reports them, the publish queue's
 * (OBSERVER_EVENTS_QUEUE) folded into at most one event per second. Without a codec (no publisher, not started
 * yet: tests) the ring keeps the flow objects.
 */
import type { ProbeRecord } from '../bpf/decode.js';
import { describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import type { FlowBuilder } from './flow-builder.js';
import type { Publisher } from './publish/kafka-publisher.js';
import type { LostEventSource, Ring } from './ring.js';
import type { CaptureSource } from './source.js';

/** What the pipeline tells metrics (metrics.ts implements it). */
export interface PipelineMetrics {
  observeFlows(flows: readonly Flow[]): void;
  lostEvents(source: LostEventSource, count: number): void;
}

export interface Pipeline {
  /** Processes one batch now (the source calls it; tests may too). */
  handle(records: ProbeRecord[]): void;
  /** Publish-queue losses reported by the publisher (count and time range). */
  publishLoss(count: number, firstNs: bigint, lastNs: bigint): void;
  /**
   * Starts taking batches from the source; flows go to `publisher` when given, encoded with `codec` (default: the
   * publisher's).
   */
  start(publisher?: Publisher, codec?: FlowCodec): void;
  stop(): void;
  /** errors: batches whose building failed; encodeErrors: flows that could not be encoded (dropped, logged). */
  stats(): { batches: number; flows: number; errors: number; encodeErrors: number; lastBatchRecords: number };
}

export interface PipelineDeps {
  source: CaptureSource;
  builder: FlowBuilder;
  ring: Ring;
  publisher?: Publisher;
  metrics?: PipelineMetrics;
  log?: Logger;
  /** How often connections and pending L7 requests are cleaned up, and publish losses reported. */
  maintainIntervalMs?: number;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const log = deps.log ?? silentLogger;
  const { builder, ring } = deps;
  let publisher = deps.publisher;
  let codec: FlowCodec | null = null;
  const useCodec = (c: FlowCodec | null): void => {
    codec = c;
    if (c) ring.decodeWith(c.decode);
  };
  useCodec(deps.publisher?.codec ?? null);
  const stats = { batches: 0, flows: 0, errors: 0, encodeErrors: 0, lastBatchRecords: 0 };
  let pendingLoss: { count: number; first: bigint; last: bigint } | null = null;
  let timer: NodeJS.Timeout | undefined;
  let errorsLogged = 0;

  function handle(records: ProbeRecord[]): void {
    const flows: Flow[] = [];
    try {
      builder.process(records, flows);
    } catch (err) {
      // A bug on one record must not stop capture: count it, keep the flows built so far.
      stats.errors++;
      if (errorsLogged++ < 10) log.error('building flows failed for a batch', { error: describeError(err), stack: (err as Error).stack });
    }
    stats.batches++;
    stats.lastBatchRecords = records.length;
    stats.flows += flows.length;
    if (builder.lost.length > 0) {
      for (const l of builder.lost) {
        ring.push({ kind: 'lost', lost: { source: l.source, count: l.count, firstNs: l.timeNs, lastNs: l.timeNs }, timeNs: l.timeNs });
        deps.metrics?.lostEvents(l.source, l.count);
      }
      builder.lost = [];
    }
    // Without a codec there is no publisher either: the ring keeps the flow objects.
    const values = codec === null ? null : encode(codec, flows);
    if (values === null) for (let i = 0; i < flows.length; i++) ring.pushFlow(flows[i]!);
    else for (let i = 0; i < values.length; i++) ring.pushEncoded(values[i]!);
    ring.notify();
    deps.metrics?.observeFlows(flows);
    if (values !== null && flows.length > 0) publisher?.publishEncoded(flows, values);
  }

  /**
   * The record values of flows. A flow the codec refuses (a bug: the builder made a value the schema does not
   * allow) is taken out of `flows`, counted and logged; the others go on.
   */
  function encode(c: FlowCodec, flows: Flow[]): Buffer[] {
    try {
      return c.encodeBatch(flows);
    } catch {
      const values: Buffer[] = [];
      let kept = 0;
      for (const f of flows) {
        try {
          values.push(c.encode(f));
          flows[kept++] = f;
        } catch (err) {
          stats.encodeErrors++;
          if (errorsLogged++ < 10) log.error('a flow could not be encoded; dropped', { error: describeError(err) });
        }
      }
      flows.length = kept;
      return values;
    }
  }

  function reportLoss(): void {
    if (pendingLoss === null) return;
    const l = pendingLoss;
    pendingLoss = null;
    const now = BigInt(Date.now()) * 1_000_000n;
    ring.push({ kind: 'lost', lost: { source: 'OBSERVER_EVENTS_QUEUE', count: l.count, firstNs: l.first, lastNs: l.last }, timeNs: now });
    ring.notify();
  }

  return {
    handle,
    publishLoss(count, first, last) {
      deps.metrics?.lostEvents('OBSERVER_EVENTS_QUEUE', count);
      if (pendingLoss === null) pendingLoss = { count, first, last };
      else {
        pendingLoss.count += count;
        if (first < pendingLoss.first) pendingLoss.first = first;
        if (last > pendingLoss.last) pendingLoss.last = last;
      }
    },
    start(p, c) {
      if (p) publisher = p;
      useCodec(c ?? publisher?.codec ?? codec);
      deps.source.onBatch(handle);
      timer = setInterval(() => {
        try {
          builder.maintain();
          reportLoss();
        } catch (err) {
          log.error('maintenance failed', { error: describeError(err) });
        }
      }, deps.maintainIntervalMs ?? 1000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      reportLoss();
    },
    stats: () => ({ ...stats }),
  };
}
