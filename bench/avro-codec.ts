/**
 * Cost of the flow codec per record: encode and decode ns/flow for the typical record (a TCP connection update
 * between two labelled pods), in both framings, batch encode included; plus its encoded size and what per-batch
 * compression makes of it. Run: `npx tsc -p tsconfig.json && node dist/bench/avro-codec.js`.
 * Prints figures; asserts nothing about time (measurements are not tests).
 */
import zlib from 'node:zlib';
import { createFlowCodec, type FlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';
import type { RegistryClient } from '../schemas/registry-client.js';
import { typicalFlow, typicalSharedFlow } from '../test/fixtures/sample-flows.js';

const BATCH = 1000;
const ROUNDS = Number(process.env['ROUNDS'] ?? 200);

function nsPer(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

function measure(label: string, codec: FlowCodec, flows: Flow[]): void {
  let sink = 0;
  const run = (): { enc: number; batch: number; dec: number } => ({
    enc: nsPer(flows.length * ROUNDS, () => {
      for (let r = 0; r < ROUNDS; r++) for (const f of flows) sink += codec.encode(f).length;
    }),
    batch: nsPer(flows.length * ROUNDS, () => {
      for (let r = 0; r < ROUNDS; r++) sink += codec.encodeBatch(flows).length;
    }),
    dec: nsPer(flows.length * ROUNDS, () => {
      const bufs = codec.encodeBatch(flows);
      for (let r = 0; r < ROUNDS; r++) for (const b of bufs) sink += codec.decode(b).l4_protocol;
    }),
  });
  run(); // warm-up: JIT and buffer sizes
  const best = [run(), run(), run()].reduce((a, b) => ({ enc: Math.min(a.enc, b.enc), batch: Math.min(a.batch, b.batch), dec: Math.min(a.dec, b.dec) }));
  console.log(`${label}: encode ${best.enc.toFixed(0)} ns/flow, encodeBatch ${best.batch.toFixed(0)} ns/flow, decode ${best.dec.toFixed(0)} ns/flow${sink < 0 ? '' : ''}`);
}

async function main(): Promise<void> {
  const flows = Array.from({ length: BATCH }, (_, i) => typicalFlow(i));
  const single = await createFlowCodec({ framing: 'single-object' });
  // The Confluent framing costs the same once the id is known; a registry that hands out id 1 is enough here.
  const registry: RegistryClient = {
    url: 'memory:', register: async () => 1, lookup: async () => ({ id: 1, version: 1 }), getSchema: async () => '',
    setCompatibility: async () => {}, isCompatible: async () => true,
  };
  const confluent = await createFlowCodec({ framing: 'confluent', registry });
  const shared = Array.from({ length: BATCH }, (_, i) => typicalSharedFlow(i));
  measure('single-object, fresh objects    ', single, flows);
  measure('single-object, frozen endpoints ', single, shared);
  measure('confluent, fresh objects        ', confluent, flows);
  measure('confluent, frozen endpoints     ', confluent, shared);

  const one = single.encode(typicalFlow(0));
  const lean = typicalFlow(0);
  lean.source.labels = lean.source.labels.slice(0, 1);
  lean.destination.labels = lean.destination.labels.slice(0, 1);
  lean.node_labels = [];
  const batch = Buffer.concat(single.encodeBatch(flows));
  console.log(`typical flow: ${one.length} bytes single-object (${one.length - 5} confluent); with one label per pod and no node labels: ${single.encode(lean).length} bytes`);
  console.log(`a batch of ${BATCH}: ${batch.length} bytes raw, gzip ${(zlib.gzipSync(batch).length / BATCH).toFixed(1)} bytes/flow, brotli-1 ${(zlib.brotliCompressSync(batch, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }).length / BATCH).toFixed(1)} bytes/flow`);
}

await main();
