/**
 * The collector's cost per flow from a probe batch (the raw bytes the kernel writes) to an encoded Kafka batch
 * (Avro values and keys, ready for a produce request; the broker excluded), by stage: decoding the batch,
 * building flows (dedupe, deltas, direction, L7 parsing, enrichment, DNS names), the ring, metrics, the partition
 * key and the Avro encoding. And the enrichment lookups alone. Targets (issue 4): <= 2 us per flow, <= 0.3 us per
 * lookup. Run: `npx tsc -p tsconfig.json && node dist/bench/collector.js`. Prints figures; asserts nothing.
 * The pipeline figure is the best of COLLECTOR_BENCH_RUNS runs (default 5, after a warm-up run): on a shared 2-core
 * machine single runs vary by +-10%. Then, apart: the Avro encoder alone on the same flows, and what kafkajs does
 * with the encoded messages before the socket (its code, not lookback's; the broker excluded).
 *
 * Workload: a node with 200 pods and 20 services; connections between random pods, most pairs on this node (both
 * pods' interfaces report every packet, as on a real node), each an HTTP exchange with payload snippets
 * (7 flows), plus DNS lookups (4 flows) and drops. About 2.3 records per flow.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { createDecoder } from '../bpf/decode.js';
import { threadCpuNs } from '../bpf/index.js';
import { parseConfig } from '../common/config.js';
import { collectorSpec } from '../collector/config.js';
import { DnsCache } from '../collector/enrich/dns-cache.js';
import { createEndpointStore } from '../collector/enrich/store.js';
import { FlowBuilder } from '../collector/flow-builder.js';
import { InterfaceTable } from '../collector/interfaces.js';
import { createCollectorMetrics } from '../collector/metrics.js';
import { flowKey } from '../collector/publish/key.js';
import { encodeRecords } from '../collector/replay-format.js';
import { Ring } from '../collector/ring.js';
import { dnsMessage, ProbeSim } from '../collector/testing.js';
import { applyCollectorV8Flags, COLLECTOR_V8_FLAGS } from '../collector/v8-flags.js';
import { compressionType, registerKafkaCodecs } from '../common/kafka-codecs.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import type { Flow } from '../schemas/flow-types.js';

// As `lookback collector` runs (cli/collector.ts), before anything here is compiled hot.
applyCollectorV8Flags();

const requireCjs = createRequire(import.meta.url);
const ALONE_ROUNDS = Number(process.env['COLLECTOR_BENCH_ALONE_ROUNDS'] ?? 5);
const PODS = 200;
const CONNECTIONS = Number(process.env['CONNECTIONS'] ?? 12_000);
const podIp = (i: number): string => `10.42.${i >> 8}.${(i & 255) + 1}`;

function workload(): { batches: Buffer[]; bootTimeMs: number } {
  const sim = new ProbeSim({ payloadPorts: [53, 8080] });
  const batches: Buffer[] = [];
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed % n) | 0; // a small integer, as the kernel's ifindex and ports are (seed is a uint32: % alone gives a heap number)
  };
  for (let i = 0; i < CONNECTIONS; i++) {
    const a = rnd(PODS), b = (a + 1 + rnd(PODS - 1)) % PODS;
    const remote = rnd(10) === 0; // 10% to a pod on another node: one interface only
    const client = { ip: podIp(a), port: 20000 + (i % 40000), ifindex: 100 + a };
    if (i % 5 === 0) {
      const q = sim.udp(client, { ip: podIp(0), port: 53, ifindex: 100 });
      const name = `svc-${b % 20}.ns-${b % 5}.svc.cluster.local`;
      q.send('client', { payload: dnsMessage({ id: i & 0xffff, name }) });
      q.send('server', { payload: dnsMessage({ id: i & 0xffff, name, response: true, answers: [{ ip: podIp(b), ttl: 30 }] }) });
      q.end();
    }
    const c = sim.tcp(client, { ip: podIp(b), port: 8080, ...(remote ? {} : { ifindex: 100 + b }) });
    c.handshake();
    c.send('client', { payload: `GET /api/items/${i} HTTP/1.1\r\nHost: svc-${b % 20}\r\nUser-Agent: bench\r\n\r\n`, seq: 1 });
    c.send('server', { payload: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', seq: 1 });
    c.close();
    c.end();
    if (i % 50 === 0) sim.drop({ src: client.ip, dst: podIp(b), sport: client.port + 1, dport: 9999, netns: 7 });
    if (i % 40 === 39) batches.push(encodeRecords(sim.take()));
  }
  batches.push(encodeRecords(sim.take()));
  return { batches, bootTimeMs: sim.bootTimeMs };
}

function setup(bootTimeMs: number) {
  const store = createEndpointStore({ nodeName: 'node-1', cluster: 'bench', hostIps: ['192.168.0.1'] });
  for (let ns = 0; ns < 5; ns++) store.upsertNamespace({ name: `ns-${ns}`, labels: { team: `t${ns}`, 'kubernetes.io/metadata.name': `ns-${ns}` } });
  for (let i = 0; i < PODS; i++) {
    store.upsertPod({
      namespace: `ns-${i % 5}`, name: `svc-${i % 20}-7d9c8b6f5-${i}`, ips: [podIp(i)], node: 'node-1', serviceAccount: `svc-${i % 20}`,
      labels: { app: `svc-${i % 20}`, version: 'v1', 'pod-template-hash': '7d9c8b6f5' }, workloads: [{ name: `svc-${i % 20}`, kind: 'Deployment' }],
    });
  }
  for (let s = 0; s < 20; s++) {
    store.upsertService({ namespace: `ns-${s % 5}`, name: `svc-${s}`, ips: [`10.96.0.${s + 1}`], ports: [{ port: 80, proto: 6, targetPort: 8080 }], selector: { app: `svc-${s}` } });
  }
  const dnsCache = new DnsCache({ maxEntries: 65536, maxNamesPerIp: 8, minTtlMs: 0, maxTtlMs: 3_600_000 });
  const builder = new FlowBuilder({
    nodeName: 'node-1', cluster: 'bench', nodeLabels: ['kubernetes.io/hostname=node-1', 'topology.kubernetes.io/zone=z1'], emitterVersion: '0.1.0',
    l7: { dnsPorts: [53], httpPorts: [8080], kafkaPorts: [9092], httpHeaders: [], pendingTimeoutMs: 30_000, maxPending: 65536 },
    connectionTableSize: 1 << 20, endedGraceMs: 15_000, connectionIdleMs: 600_000,
  }, {
    interfaces: new InterfaceTable((i) => `lxc${i}`, []), resolver: store, dnsCache,
    bootTimeNs: BigInt(bootTimeMs) * 1_000_000n, hostNetns: 1,
  });
  const metrics = createCollectorMetrics({ address: '127.0.0.1', port: 0, contextLabels: ['source_namespace', 'destination_namespace'], seriesTtlMs: 600_000, maxSeriesPerFamily: 5000 }, {
    health: () => { throw new Error('not scraped'); },
  });
  return { store, dnsCache, builder, ring: new Ring(4095), metrics, decoder: createDecoder({ bootTimeMs }) };
}

/** Thread CPU time in ns (the probe addon's clock), or wall time where the addon is not built. */
function cpuClock(): () => number {
  try {
    threadCpuNs();
    return threadCpuNs;
  } catch {
    console.log('(the bpf addon is not built: wall-clock times, inflated on a busy machine)');
    return () => Number(process.hrtime.bigint());
  }
}
const clock = cpuClock();

async function pipelineCost(): Promise<void> {
  const { batches, bootTimeMs } = workload();
  const codec = await createFlowCodec({ framing: 'single-object' });
  type Stage = 'decode' | 'build' | 'ring' | 'metrics' | 'key' | 'avro';
  const kept: Flow[][] = [];
  const run = (keep = false): { flows: number; records: number; ns: Record<Stage, number> } => {
    const s = setup(bootTimeMs);
    s.ring.decodeWith(codec.decode);
    const ns: Record<Stage, number> = { decode: 0, build: 0, ring: 0, metrics: 0, key: 0, avro: 0 };
    let flows = 0, records = 0;
    // CPU time of this thread, not wall time: the machine is shared, and a stage's cost is what it burns.
    let t = clock();
    const lap = (k: Stage): void => {
      const now = clock();
      ns[k] += now - t;
      t = now;
    };
    for (const raw of batches) {
      t = clock();
      const recs = s.decoder.decode(raw);
      lap('decode');
      const out: Flow[] = [];
      s.builder.process(recs, out, bootTimeMs + 10_000);
      lap('build');
      // What pipeline.ts does: encode once, the ring keeps the values, metrics, then the publisher's keys.
      const values = codec.encodeBatch(out);
      lap('avro');
      for (const v of values) s.ring.pushEncoded(v);
      s.ring.notify();
      lap('ring');
      s.metrics.observeFlows(out);
      lap('metrics');
      const keys = out.map(flowKey);
      lap('key');
      if (keys.length !== values.length) throw new Error('mismatch');
      if (keep) kept.push(out);
      flows += out.length;
      records += recs.length;
    }
    return { flows, records, ns };
  };
  run(); // warm-up: JIT
  const runs = Array.from({ length: Math.max(1, Number(process.env['COLLECTOR_BENCH_RUNS'] ?? 5)) }, () => run());
  const best = runs.reduce((a, b) => (Object.values(a.ns).reduce((x, y) => x + y) <= Object.values(b.ns).reduce((x, y) => x + y) ? a : b));
  const per = (v: number): string => (v / best.flows).toFixed(0);
  const total = Object.values(best.ns).reduce((a, b) => a + b, 0);
  console.log(`V8 flags as the collector runs: ${COLLECTOR_V8_FLAGS.join(' ')}`);
  console.log(`workload: ${CONNECTIONS} connections, ${best.records} probe records -> ${best.flows} flows (${(best.records / best.flows).toFixed(2)} records per flow)`);
  console.log(`probe batch -> encoded Kafka batch: ${(total / best.flows).toFixed(0)} ns/flow = ${(1e9 / (total / best.flows)).toFixed(0)} flows/s on one core (target <= 2000 ns)`);
  console.log(`  decode ${per(best.ns.decode)}, build (dedupe, deltas, L7, enrichment, names) ${per(best.ns.build)}, ring ${per(best.ns.ring)}, metrics ${per(best.ns.metrics)}, key ${per(best.ns.key)}, avro ${per(best.ns.avro)} ns/flow`);
  const noAvro = total - best.ns.avro;
  console.log(`  without the Avro encoding: ${(noAvro / best.flows).toFixed(0)} ns/flow; the codec is ${((best.ns.avro / total) * 100).toFixed(0)}% of the cost`);
  // The encoder alone, on the same flows (built once, encoded again batch by batch): no other stage's garbage or
  // cache misses in between, so differences of a few tens of ns show here that the pipeline figure hides.
  run(true);
  let alone = Infinity;
  const keptFlows = kept.reduce((n, b) => n + b.length, 0);
  for (let round = 0; round < ALONE_ROUNDS; round++) {
    const t0 = clock();
    for (const b of kept) codec.encodeBatch(b);
    alone = Math.min(alone, (clock() - t0) / keptFlows);
  }
  console.log(`  the Avro encoder alone, the same flows again (best of ${ALONE_ROUNDS}): ${alone.toFixed(0)} ns/flow`);

  // What kafkajs then does with those messages before the socket (not lookback's code, outside the figure above).
  const messages = kept.flatMap((b) => { const v = codec.encodeBatch(b); return b.map((f, i) => ({ key: flowKey(f), value: v[i]! })); });
  const kafkaNs = await kafkajsProduceCost(messages);
  console.log(`kafkajs, producing those messages (its partitioner, grouping by partition, produce request encoding with ${PUBLISH.compression}, in requests of ${PUBLISH.batchSize} messages over ${PUBLISH.partitions} partitions as the collector's defaults; broker excluded): ${kafkaNs.toFixed(0)} ns/flow`);
  console.log(`  probe batch -> produce request bytes: ${((total / best.flows) + kafkaNs).toFixed(0)} ns/flow = ${(1e9 / ((total / best.flows) + kafkaNs)).toFixed(0)} flows/s on one core`);
}

/** The collector's publishing defaults (request size, partitions, compression), from its config spec. */
const PUBLISH = parseConfig(collectorSpec, {}).kafka;

/**
 * CPU per message of kafkajs's send path up to the bytes of the produce request, through its own modules: the
 * default partitioner and groupMessagesPerPartition (producer/sendMessages.js), then the Produce request's encode()
 * (RecordBatch v2 records, compressed through the codecs lookback registers). Read from kafkajs's sources, not changed.
 */
async function kafkajsProduceCost(messages: { key: Buffer; value: Buffer }[]): Promise<number> {
  await registerKafkaCodecs();
  const groupMessagesPerPartition = requireCjs('kafkajs/src/producer/groupMessagesPerPartition.js') as (a: object) => Record<string, unknown[]>;
  const produceRequest = requireCjs('kafkajs/src/protocol/requests/produce/v3/request.js') as (a: object) => { encode(): Promise<{ buffer: Buffer }> };
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PUBLISH.partitions }, (_, i) => ({ partitionId: i, leader: 0 }));
  const send = async (batch: typeof messages): Promise<number> => {
    const byPartition = groupMessagesPerPartition({ topic: 'lookback.flows', partitionMetadata, messages: batch, partitioner });
    const partitions = Object.keys(byPartition).map((p) => ({ partition: Number(p), firstSequence: 0, messages: byPartition[p] }));
    const req = produceRequest({ acks: -1, timeout: 30_000, compression: compressionType(PUBLISH.compression), topicData: [{ topic: 'lookback.flows', partitions }] });
    return (await req.encode()).buffer.length;
  };
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = clock();
    let bytes = 0;
    for (let i = 0; i < messages.length; i += PUBLISH.batchSize) bytes += await send(messages.slice(i, i + PUBLISH.batchSize));
    if (bytes <= 0) throw new Error('no request bytes');
    best = Math.min(best, (clock() - t0) / messages.length);
  }
  return best;
}

function enrichmentCost(): void {
  const s = setup(Date.now());
  const ips = Array.from({ length: 4096 }, (_, i) => (i % 8 === 7 ? `203.0.113.${i % 250}` : podIp(i % PODS)));
  for (let i = 0; i < PODS; i++) s.dnsCache.learn(podIp(i), `svc-${i % 20}.ns.svc.cluster.local`, 300, 0);
  const measure = (fn: (ip: string) => unknown): number => {
    let sink = 0;
    const rounds = 500;
    for (let r = 0; r < 50; r++) for (const ip of ips) sink += fn(ip) ? 1 : 0;
    const t0 = clock();
    for (let r = 0; r < rounds; r++) for (const ip of ips) sink += fn(ip) ? 1 : 0;
    const ns = (clock() - t0) / (rounds * ips.length);
    return sink >= 0 ? ns : -1;
  };
  const ep = measure((ip) => s.store.endpoint(ip));
  const svc = measure((ip) => s.store.service(ip, 8080, 6));
  const names = measure((ip) => s.dnsCache.names(ip, 1000));
  console.log(`enrichment per lookup: endpoint ${ep.toFixed(0)} ns, service ${svc.toFixed(0)} ns, DNS names ${names.toFixed(0)} ns (target <= 300 ns; a flow does 2 + 2 + 2)`);
}

export async function main(): Promise<void> {
  await pipelineCost();
  enrichmentCost();
}

await main();
