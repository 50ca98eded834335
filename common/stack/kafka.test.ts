import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { isLookbackError } from '../errors.js';
import { KAFKA_VERSION, kafkaLibsDir, startKafka, type LocalKafka } from './kafka.js';
import { classArchive, findJava } from './jvm.js';

const { Kafka, logLevel, Partitioners } = kafkajs;

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

function client(brokers: string[], clientId: string): kafkajs.Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
}

function topicName(what: string): string {
  return `lookback-test-${what}-${crypto.randomBytes(4).toString('hex')}`;
}

function hasKcat(): boolean {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('local Kafka broker', () => {
  let brokers: string[];
  let own: LocalKafka | undefined;
  let ownDir: string | undefined;

  before(async () => {
    const fromEnv = process.env['LOOKBACK_TEST_KAFKA_BROKERS'];
    if (fromEnv) {
      brokers = fromEnv.split(',').map((b) => b.trim()).filter(Boolean);
      return;
    }
    ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-kafka-test-'));
    own = await startKafka({ dataDir: ownDir });
    brokers = own.brokers;
  });

  after(async () => {
    await own?.stop();
    if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
  });

  test('the pinned version matches scripts/kafka-pom.xml', () => {
    const pom = fs.readFileSync(path.join(repoRoot, 'scripts', 'kafka-pom.xml'), 'utf8');
    assert.equal(/<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1], KAFKA_VERSION);
  });

  test('6 partitions, 10,000 keyed messages, a 2-member group reads each exactly once', async () => {
    const kafka = client(brokers, 'lookback-kafka-test');
    const topic = topicName('group');
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true }), true);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(meta.topics[0]?.partitions.length, 6);
    } finally {
      await admin.disconnect();
    }

    // Both members join before anything is produced: a rebalance mid-stream would legitimately redeliver
    // uncommitted messages, and this test is about each message arriving once.
    const groupId = `${topic}-group`;
    // Per member, every delivery as [partition:offset, key]: a duplicate is the same partition:offset twice.
    const seen: Array<Array<[string, string]>> = [[], []];
    const assigned: number[][] = [[], []];
    let received = 0;
    const consumers = [0, 1].map((member) => {
      // Short fetch waits: kafkajs heartbeats (and so notices a rebalance) only between fetches.
      const consumer = kafka.consumer({ groupId, heartbeatInterval: 500, sessionTimeout: 10_000, maxWaitTimeInMs: 500 });
      consumer.on(consumer.events.GROUP_JOIN, (e) => { assigned[member] = e.payload.memberAssignment[topic] ?? []; });
      return consumer;
    });
    try {
      for (const [member, consumer] of consumers.entries()) {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            seen[member]!.push([`${partition}:${message.offset}`, message.key?.toString() ?? '']);
            received++;
          },
        });
      }
      await waitFor(() => {
        const a = assigned[0]!;
        const b = assigned[1]!;
        return a.length > 0 && b.length > 0 && new Set([...a, ...b]).size === 6 && a.length + b.length === 6;
      }, 60_000, 'both group members to hold partitions');

      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      try {
        for (let batch = 0; batch < 10; batch++) {
          const messages = Array.from({ length: 1000 }, (_, i) => {
            const n = batch * 1000 + i;
            return { key: `key-${n}`, value: `value-${n}` };
          });
          await producer.send({ topic, acks: -1, messages });
        }
      } finally {
        await producer.disconnect();
      }

      await waitFor(() => received >= 10_000, 60_000, '10,000 messages to be consumed');
      // Give a late duplicate the chance to show up before counting.
      await new Promise((r) => setTimeout(r, 1_000));

      const all = [...seen[0]!, ...seen[1]!];
      const offsets = new Set(all.map(([id]) => id));
      const keys = new Set(all.map(([, key]) => key));
      assert.equal(received, 10_000, 'messages delivered');
      assert.equal(offsets.size, 10_000, 'distinct partition:offset pairs: none delivered twice');
      assert.equal(keys.size, 10_000, 'distinct keys');
      assert.ok(seen[0]!.length > 0 && seen[1]!.length > 0, `both members consumed (${seen[0]!.length} + ${seen[1]!.length})`);
      // Partitioning is by key: each key lives in exactly one partition.
      const partitionOfKey = new Map<string, string>();
      for (const [id, key] of all) {
        const partition = id.split(':')[0]!;
        assert.equal(partitionOfKey.get(key) ?? partition, partition);
        partitionOfKey.set(key, partition);
      }
      assert.equal(new Set(partitionOfKey.values()).size, 6, 'keys spread over all 6 partitions');
    } finally {
      for (const consumer of consumers) await consumer.disconnect();
    }
  });

  test('kcat (librdkafka) lists the broker', { skip: !hasKcat() && 'kcat is not installed (apt-get install -y kcat)' }, () => {
    const out = execFileSync('kcat', ['-b', brokers.join(','), '-L', '-m', '10'], { encoding: 'utf8' });
    assert.match(out, /1 brokers?:/);
    assert.match(out, new RegExp(`broker 1 at ${brokers[0]!.replace(/\./g, '\\.')}`));
  });
});

describe('startKafka on its own data directory', () => {
  test('a restart on the same dataDir keeps topics and messages', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-kafka-restart-'));
    const topic = topicName('restart');
    let broker: LocalKafka | undefined = await startKafka({ dataDir });
    try {
      const admin = client(broker.brokers, 'restart-1').admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
      await admin.disconnect();
      // Idempotent: on a loaded machine a request can time out and be retried, which must not write twice.
      const producer = client(broker.brokers, 'restart-1').producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
      await producer.disconnect();
      await broker.stop();

      broker = await startKafka({ dataDir });
      const admin2 = client(broker.brokers, 'restart-2').admin();
      await admin2.connect();
      try {
        assert.ok((await admin2.listTopics()).includes(topic), 'the topic survived the restart');
        const offsets = await admin2.fetchTopicOffsets(topic);
        const total = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
        assert.equal(total, 100, 'all 100 messages survived the restart');
      } finally {
        await admin2.disconnect();
      }
    } finally {
      await broker?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('a damaged class archive costs one retry, not a failed start', async () => {
    // A private cache that shares the jars, so the machine-wide archive is never touched.
    const saved = process.env['LOOKBACK_CACHE'];
    const realLibs = kafkaLibsDir();
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-cds-cache-'));
    fs.mkdirSync(path.join(cache, `kafka-${KAFKA_VERSION}`));
    fs.symlinkSync(realLibs, path.join(cache, `kafka-${KAFKA_VERSION}`, 'libs'));
    process.env['LOOKBACK_CACHE'] = cache;
    const dataDir = path.join(cache, 'data');
    let broker: LocalKafka | undefined;
    try {
      const archiveFile = classArchive(path.join(cache, `kafka-${KAFKA_VERSION}`), 'broker', findJava(17, 'the test')).file;
      broker = await startKafka({ dataDir });
      await broker.stop(); // a normal exit dumps the archive
      assert.ok(fs.existsSync(archiveFile), 'the first start and stop left a class archive');
      // A truncated archive makes JDK 17 die with SIGBUS while mapping it.
      const whole = fs.readFileSync(archiveFile);
      fs.chmodSync(archiveFile, 0o644);
      fs.writeFileSync(archiveFile, whole.subarray(0, Math.floor(whole.length / 4)));
      broker = await startKafka({ dataDir });
      const admin = client(broker.brokers, 'cds').admin();
      await admin.connect();
      assert.equal((await admin.describeCluster()).brokers.length, 1);
      await admin.disconnect();
      assert.equal(fs.existsSync(archiveFile), false, 'the damaged archive was deleted');
    } finally {
      await broker?.stop();
      if (saved === undefined) delete process.env['LOOKBACK_CACHE'];
      else process.env['LOOKBACK_CACHE'] = saved;
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  test('missing jars are a missing_dependency error that names the setup step', async () => {
    const saved = process.env['LOOKBACK_CACHE'];
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-empty-cache-'));
    process.env['LOOKBACK_CACHE'] = empty;
    try {
      await assert.rejects(startKafka({ dataDir: path.join(empty, 'data') }), (err: unknown) => {
        assert.ok(isLookbackError(err));
        assert.equal(err.code, 'missing_dependency');
        assert.match(err.message, /bash scripts\/setup\.sh/);
        assert.match(err.message, new RegExp(`Kafka ${KAFKA_VERSION.replace(/\./g, '\\.')}`));
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env['LOOKBACK_CACHE'];
      else process.env['LOOKBACK_CACHE'] = saved;
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
