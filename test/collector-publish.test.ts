/**
 * The collector from recorded probe batches to Kafka, on the real broker: a replay source feeds simulated
 * connections (exact inputs), the collector builds flows and publishes them as Avro; a consumer reads the topic
 * back and decodes every record. Checks: the topic is created with the configured partitions, exactly the
 * expected flows arrive (no loss, no duplicate uuid), both directions of a connection share a key and a
 * partition, and each compression codec (lz4, zstd, gzip) round-trips.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import kafkajs from 'kafkajs';
import { parseConfig } from '../common/config.js';
import { collectorSpec } from '../collector/config.js';
import { createCollector } from '../collector/index.js';
import { createReplaySource } from '../collector/replay-source.js';
import { ProbeSim } from '../collector/testing.js';
import { createFlowCodec, type FlowCodec } from '../schemas/avro-codec.js';
import { formatUuid } from '../schemas/flow-types.js';
import { consumeFlows, type Consumed } from './collector-consume.js';
import { ensureStack, uniqueName } from './helpers.js';

describe('collector -> Kafka (replayed probe batches, real broker)', () => {
  let brokers: string[];
  let codec: FlowCodec;

  before(async () => {
    brokers = (await ensureStack({ kafka: true })).kafkaBrokers;
    codec = await createFlowCodec({ framing: 'single-object' });
  });

  after(() => undefined);

  for (const compression of ['lz4', 'zstd', 'gzip'] as const) {
    test(`300 connections, ${compression}: exactly the expected flows, one partition per connection`, async () => {
      const topic = uniqueName(`lookback-collector-${compression}`).replace(/_/g, '-');
      const sim = new ProbeSim({ payloadPorts: [8080] });
      const batches = [];
      const N = 300;
      for (let i = 0; i < N; i++) {
        const c = sim.tcp({ ip: '10.9.0.10', port: 30000 + i, ifindex: 21 }, { ip: '10.9.0.20', port: 8080, ifindex: 22 });
        c.handshake();
        c.send('client', { payload: `GET /item/${i} HTTP/1.1\r\nHost: b\r\n\r\n`, seq: 1 });
        c.send('server', { payload: 'HTTP/1.1 200 OK\r\n\r\n', seq: 1 });
        c.close();
        c.end();
        if (i % 50 === 49) batches.push(sim.take());
      }
      // Per connection: NEW, ESTABLISHED, HTTP request, HTTP response, UPDATE (first FIN), CLOSED, UPDATE (last ACK).
      const expected = N * 7;
      const cfg = parseConfig(collectorSpec, {
        node: { name: 'node-t', cluster: 'test' },
        kafka: { brokers, topic, compression, partitions: 4, batchSize: 500, linger: '20ms' },
        observer: { enabled: false },
        metrics: { enabled: false },
        l7: { httpPorts: [8080] },
      });
      const source = createReplaySource({ batches, interfaces: { 21: 'lxc-a', 22: 'lxc-b' }, bootTimeMs: sim.bootTimeMs });
      const collector = createCollector(cfg, { source });
      await collector.start();
      await source.done;
      assert.equal(await collector.publisher!.flush(30_000), true, 'the queue drained');
      const stats = collector.publisher!.stats();
      await collector.stop();
      assert.equal(stats.sent, expected);
      assert.equal(stats.lost, 0);

      const admin = new kafkajs.Kafka({ clientId: 't', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.disconnect();
      assert.equal(meta.topics[0]!.partitions.length, 4, 'created with the configured partitions');

      const got = await consumeFlows(brokers, topic, expected, codec);
      assert.equal(got.length, expected);
      assert.equal(new Set(got.map((g) => formatUuid(g.flow.uuid))).size, expected, 'no duplicates');
      const byPort = new Map<number, Consumed[]>();
      for (const g of got) {
        const clientPort = g.flow.is_reply ? g.flow.destination_port : g.flow.source_port;
        byPort.set(clientPort, [...(byPort.get(clientPort) ?? []), g]);
      }
      assert.equal(byPort.size, N);
      for (const [port, list] of byPort) {
        assert.equal(list.length, 7, `connection from port ${port}`);
        assert.equal(new Set(list.map((g) => g.key)).size, 1, 'one key for both directions');
        assert.equal(new Set(list.map((g) => g.partition)).size, 1, 'one partition');
        assert.deepEqual(list.map((g) => (g.flow.l7 ? g.flow.l7.type : g.flow.flow_event)).sort(),
          ['CLOSED', 'ESTABLISHED', 'NEW', 'REQUEST', 'RESPONSE', 'UPDATE', 'UPDATE']);
      }
      const sample = got.find((g) => g.flow.l7?.type === 'RESPONSE')!.flow;
      assert.equal(sample.l7!.http!.code, 200);
      assert.equal(sample.node_name, 'node-t');
      assert.equal(sample.emitter.name, 'lookback');
      assert.equal(new Set(got.map((g) => g.partition)).size > 1, true, 'connections spread over partitions');

      // An independent client (librdkafka, via kcat) decompresses the same batches: the codecs are standard.
      const lines = execFileSync('kcat', ['-C', '-b', brokers[0]!, '-t', topic, '-e', '-q', '-f', '%p %S\n'], { encoding: 'utf8', timeout: 60_000 })
        .trim().split('\n');
      assert.equal(lines.length, expected);
      assert.ok(lines.every((l) => Number(l.split(' ')[1]) > 100), 'every value is a full Avro record');
    });
  }
});
