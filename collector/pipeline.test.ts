/**
 * The pipeline: flows are encoded once, the ring keeps the values and the publisher gets the same ones; a flow the
 * codec refuses is dropped and counted, the rest of its batch goes on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { emptyFlow, type Flow } from '../schemas/flow-types.js';
import type { FlowBuilder } from './flow-builder.js';
import { createPipeline } from './pipeline.js';
import type { Publisher } from './publish/kafka-publisher.js';
import { Ring } from './ring.js';
import type { CaptureSource } from './source.js';

const flow = (i: number, summary: unknown = `flow ${i}`): Flow => ({ ...emptyFlow(), time_ns: BigInt(1000 + i), summary } as Flow);

describe('pipeline', () => {
  test('encodes once for the ring and the publisher; a flow the codec refuses is dropped and counted', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    let next: Flow[] = [];
    // Stand-ins for the parts around the pipeline (the builder's output is what this test is about).
    const builder = { lost: [], process: (_r: unknown, out: Flow[]) => { out.push(...next); }, maintain: () => {} } as unknown as FlowBuilder;
    const published: { flows: Flow[]; values: Buffer[] }[] = [];
    const publisher = {
      codec,
      publishEncoded: (flows: Flow[], values: Buffer[]) => { published.push({ flows: [...flows], values: [...values] }); return flows.length; },
    } as unknown as Publisher;
    const source = { onBatch: () => {} } as unknown as CaptureSource;
    const ring = new Ring(7);
    const pipeline = createPipeline({ source, builder, ring });
    pipeline.start(publisher);
    try {
      next = [flow(1), flow(2, 42), flow(3)]; // the second has a number where the schema wants a string
      pipeline.handle([]);
      assert.equal(pipeline.stats().encodeErrors, 1);
      assert.equal(ring.total, 2);
      const read = [0, 1].map((s) => { const r = ring.read(s); assert.ok(r && 'entry' in r && r.entry.kind === 'flow'); return r.entry.flow.summary; });
      assert.deepEqual(read, ['flow 1', 'flow 3']);
      assert.equal(published.length, 1);
      assert.deepEqual(published[0]!.flows.map((f) => f.summary), ['flow 1', 'flow 3']);
      // The values the ring keeps are the ones published (no second encoding).
      const kept = [0, 1].map((s) => (ring as unknown as { slots: Buffer[] }).slots[s]);
      assert.deepEqual(published[0]!.values, kept);
      next = [flow(4)];
      pipeline.handle([]);
      assert.equal(pipeline.stats().encodeErrors, 1);
      assert.equal(ring.total, 3);
    } finally {
      pipeline.stop();
    }
  });
});
