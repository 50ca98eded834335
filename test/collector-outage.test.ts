/**
 * Kafka goes away for 30 s while traffic continues (real kernel: a client pod fetching from a web pod in a loop;
 * a PRIVATE broker started here on its own data directory, never the shared one). Capture goes on, the bounded
 * publish queue overflows and the losses are counted (publisher stats, metrics, a LostEvent in the Observer's
 * ring); the broker comes back on the same directory and port and publishing resumes by itself. Every flow is
 * accounted for exactly: consumed = sent, sent + lost = built, no uuid twice.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../common/config.js';
import { startKafka, type LocalKafka } from '../common/stack/kafka.js';
import { freePort } from '../common/stack/ports.js';
import { collectorSpec } from '../collector/config.js';
import { createCollector, type Collector } from '../collector/index.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { formatUuid } from '../schemas/flow-types.js';
import { consumeFlows } from './collector-consume.js';
import { createPodNetwork, type PodNetwork } from './netns.js';

const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const OUTAGE_MS = 30_000;

async function metric(port: number, re: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('the broker stops for 30 s while traffic continues', () => {
  let kafka: LocalKafka | undefined;
  let kafkaDir: string;
  let net: PodNetwork;
  let collector: Collector;
  let port: number;

  before(async () => {
    kafkaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-outage-kafka-'));
    port = await freePort();
    kafka = await startKafka({ dataDir: kafkaDir, port, heapMb: 384 });
    net = await createPodNetwork({ pods: ['client', 'web'] });
  });

  after(async () => {
    await collector?.stop();
    await net?.destroy();
    await kafka?.stop();
    fs.rmSync(kafkaDir, { recursive: true, force: true });
  });

  test('capture goes on, losses are counted, publishing resumes by itself, every flow accounted for', async (t) => {
    const client = net.pod('client');
    const web = net.pod('web');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-outage-web-'));
    fs.writeFileSync(path.join(root, 'index.html'), 'ok\n');
    fs.chmodSync(root, 0o755);
    web.spawn('http', PY, ['-m', 'http.server', '8080', '--bind', '0.0.0.0', '--directory', root]);
    for (let i = 0; i < 100; i++) {
      if ((await client.exec('curl', ['-s', '-o', '/dev/null', '--max-time', '1', `http://${web.ipv4}:8080/`])).code === 0) break;
      await sleep(100);
    }
    const topic = 'lookback.outage.test';
    const cfg = parseConfig(collectorSpec, {
      node: { name: 'node-outage', cluster: 'o' },
      capture: { endpointInterfaces: [`${net.id}h*`], idleTimeout: '2s', closedIdleTimeout: '200ms', sweepInterval: '200ms', activeTimeout: '0s' },
      l7: { httpPorts: [8080] },
      kafka: { brokers: kafka!.brokers, topic, partitions: 2, queueCapacity: 300, linger: '20ms', retryBackoffMin: '100ms', retryBackoffMax: '2s', requestTimeout: '5s' },
      observer: { port: 0 },
      metrics: { port: 0 },
    });
    collector = createCollector(cfg);
    await collector.start();
    // Traffic that does not stop: about 10 HTTP exchanges a second, ~7 flows each.
    const loop = client.spawn('curl-loop', 'sh', ['-c', `while true; do curl -s -o /dev/null --max-time 1 http://${web.ipv4}:8080/; sleep 0.1; done`]);
    await sleep(3000);
    const pub = collector.publisher!;
    assert.ok(pub.stats().sent > 0, 'publishing before the outage');
    assert.equal(pub.stats().lost, 0);

    await kafka!.stop();
    kafka = undefined;
    const ringBefore = collector.ring.total;
    await sleep(OUTAGE_MS);
    const during = pub.stats();
    const captured = collector.ring.total - ringBefore;
    assert.ok(captured > 500, `capture went on during the outage (${captured} events)`);
    assert.ok(during.sendErrors > 0, 'sends failed');
    assert.ok(during.lost > 0, 'the bounded queue overflowed and counted its losses');
    assert.ok(during.queued <= 300, `the queue stayed bounded (${during.queued})`);
    const mport = collector.metrics!.port;
    // Traffic goes on while we look: the metric lies between the two snapshots of the publisher's count.
    const lostMetric = await metric(mport, /^lookback_collector_publish_lost_total (\d+)$/m);
    assert.ok(lostMetric >= during.lost && lostMetric <= pub.stats().lost, `lost metric ${lostMetric}, publisher ${during.lost}..${pub.stats().lost}`);
    assert.ok(await metric(mport, /^hubble_lost_events_total\{source="OBSERVER_EVENTS_QUEUE"\} (\d+)$/m) > 0);
    assert.ok(await metric(mport, /^lookback_collector_publish_errors_total (\d+)$/m) > 0);
    let lostEvents = 0;
    for (let s = collector.ring.oldest; s < collector.ring.next; s++) {
      const r = collector.ring.read(s);
      if (r && 'entry' in r && r.entry.kind === 'lost' && r.entry.lost.source === 'OBSERVER_EVENTS_QUEUE') lostEvents++;
    }
    assert.ok(lostEvents > 0, 'LostEvents in the Observer ring');

    // The broker returns on the same directory and port; nothing is restarted on our side.
    kafka = await startKafka({ dataDir: kafkaDir, port, heapMb: 384 });
    const sentBefore = pub.stats().sent;
    const backAt = Date.now();
    const deadline = backAt + 60_000;
    while (pub.stats().sent <= sentBefore && Date.now() < deadline) await sleep(200);
    assert.ok(pub.stats().sent > sentBefore, 'publishing resumed by itself');
    const resumeMs = Date.now() - backAt;
    await sleep(2000);
    await loop.stop();
    await sleep(1000);
    await collector.stop();
    const end = pub.stats();
    assert.equal(end.sent + end.lost, collector.builder.stats.flows, 'every flow built was sent or counted as lost');

    const got = await consumeFlows(kafka.brokers, topic, end.sent, await createFlowCodec({ framing: 'single-object' }), 90_000);
    assert.equal(got.length, end.sent, 'consumed = sent');
    assert.equal(new Set(got.map((g) => formatUuid(g.flow.uuid))).size, got.length, 'no flow written twice');
    t.diagnostic(`built ${collector.builder.stats.flows}, sent ${end.sent}, lost ${end.lost} (queue of 300), send errors ${end.sendErrors}, ` +
      `${captured} events in the ring during the outage, first send ${resumeMs} ms after the broker was ready`);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
