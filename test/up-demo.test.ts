/**
 * The main job, end to end and headless: `lookback up --demo` brings up the stack, the services and Hubble's Star
 * Wars demo; the commands its ready block suggests show what the issue promises (xwing's DNS exchange with
 * coredns, its landing request DROPPED by policy, its HTTPS-like connection to www.disney.com; a dependency graph
 * with xwing, tiefighter, the deathstar, coredns and the external names); the flows are in ClickHouse and on the
 * Kafka topic; and after SIGTERM nothing it made is left: processes, BPF links, namespaces, interfaces, nftables
 * rules. One run, checked step by step (the tests below run in order and share it).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import kafkajs from 'kafkajs';
import { registerKafkaCodecs } from '../common/kafka-codecs.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { DEFAULT_FLOW_TOPIC } from '../schemas/topics.js';
import { eventually, exitOf, footprint, FREE_PORTS, leftovers, lookback, startUp, type Footprint, type UpRun } from './up-harness.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-up-demo-'));
let up: UpRun | undefined;
let fp: Footprint | undefined;
after(async () => {
  await up?.child.stop(60_000);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function running(): UpRun {
  assert.ok(up, 'lookback up --demo is running (see the first test)');
  return up;
}

/** The command the ready block suggests that matches. */
function suggested(match: (cmd: string) => boolean): string {
  const cmd = running().ready.tries.find(match);
  assert.ok(cmd, `the ready block suggests it:\n${running().ready.tries.join('\n')}`);
  return cmd;
}

async function clickhouse(sql: string): Promise<string> {
  const res = await fetch(`${running().ready.clickhouseUrl}/?database=lookback`, { method: 'POST', body: sql });
  const text = await res.text();
  assert.ok(res.ok, `ClickHouse: ${text}`);
  return text.trim();
}

const POD = String.raw`[a-z0-9]+-[a-z0-9]+`;

interface Edge { source: string; target: string; flows: number; drops: number }

/** `lookback deps` text: a header line, a column line, then SOURCE -> TARGET FLOWS BYTES DROPS ... */
function parseDeps(text: string): Edge[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)).filter((w) => w[1] === '->')
    .map((w) => ({ source: w[0]!, target: w[2]!, flows: Number(w[3]), drops: Number(w[5]) }));
}

test('lookback up --demo starts everything and says where to look', { timeout: 180_000 }, async () => {
  up = await startUp(['--demo', '--data-dir', dataDir, '--set', 'demo.interval=2s', ...FREE_PORTS.flatMap((s) => ['--set', s])], path.join(os.tmpdir(), 'lookback-up-demo.log'));
  fp = footprint(up);
  assert.ok(fp.bpfLinks.length >= 2, `the collector holds its BPF links (got ${fp.bpfLinks.length})`);
  const { ready } = up;
  assert.ok(suggested((t) => t.startsWith('lookback observe') && t.includes('--from-pod default/xwing')).includes(`--server ${ready.grpc}`), 'observe is pointed at the port it took');
  assert.ok(suggested((t) => t.startsWith('lookback deps')).includes(`--server ${ready.http}`), 'deps is pointed at the port it took');
});

test("observe --from-pod default/xwing: DNS with coredns, the landing DROPPED by policy, www.disney.com by name", { timeout: 90_000 }, async () => {
  const cmd = suggested((t) => t.startsWith('lookback observe') && t.includes('--from-pod default/xwing'));
  const lines = await eventually(async () => {
    const out = (await lookback(cmd)).split('\n').filter(Boolean);
    const has = (re: RegExp, what: string): void => assert.ok(out.some((l) => re.test(l)), `observe shows ${what}:\n${out.join('\n')}`);
    has(new RegExp(String.raw`default/xwing:\d+ \(ID:\d+\) -> kube-system/coredns-${POD}:53 \(ID:\d+\) dns-request .*FORWARDED \(DNS Query deathstar\.default\.svc\.cluster\.local\. A\)$`), "xwing's DNS query to coredns");
    has(new RegExp(String.raw`default/xwing:\d+ \(ID:\d+\) -> default/deathstar-${POD}:80 \(ID:\d+\) Policy denied DROPPED \(TCP Flags: SYN\)$`), 'the landing request dropped by policy');
    has(/default\/xwing:\d+ \(ID:\d+\) -> www\.disney\.com:443 \(world\) .*FORWARDED \(TCP Flags: SYN/, 'the connection to www.disney.com by name');
    return out;
  }, 60_000);
  assert.deepEqual(lines.filter((l) => !/ default\/xwing:\d+ /.test(l)), [], '--from-pod default/xwing shows only flows from xwing');
  assert.ok(!lines.some((l) => /deathstar.* FORWARDED \(HTTP/.test(l)), 'xwing never lands');

  const { grpc } = running().ready;
  // The other half of the DNS exchange. Hubble prints a reply from the client's side: client <- server.
  const answers = await lookback(`lookback observe --server ${grpc} --since 1m --to-pod default/xwing --type l7`);
  assert.match(answers, new RegExp(String.raw`default/xwing:\d+ \(ID:\d+\) <- kube-system/coredns-${POD}:53 \(ID:\d+\) dns-response .*FORWARDED \(DNS Answer "10\.96\.0\.20" TTL: 30 \(Query deathstar\.default\.svc\.cluster\.local\. A\)\)`));
  // tiefighter (org=empire) may land.
  const landed = await lookback(`lookback observe --server ${grpc} --since 1m --from-pod default/tiefighter --type l7`);
  assert.match(landed, /default\/tiefighter:\d+ \(ID:\d+\) -> default\/deathstar-\S+:80 \(ID:\d+\) http-request FORWARDED \(HTTP\/1\.1 POST http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/request-landing\)/);
});

test('deps --since 5m: the deathstar (with the drops), coredns and the external names', { timeout: 60_000 }, async () => {
  const graph = parseDeps(await lookback(suggested((t) => t.startsWith('lookback deps'))));
  const into = (target: string): Edge[] => graph.filter((e) => e.target === target);
  for (const node of ['workload:default/deathstar', 'workload:kube-system/coredns', 'external:www.disney.com', 'external:api.twitter.com']) {
    assert.ok(into(node).length > 0, `deps shows an edge into ${node}:\n${JSON.stringify(graph, null, 1)}`);
  }
  assert.ok(into('workload:default/deathstar').some((e) => e.drops > 0), 'the edge to the deathstar counts the drops');
  assert.ok(into('workload:kube-system/coredns').every((e) => e.drops === 0), 'DNS is never dropped');
});

test('deps --since 5m names the bare pods xwing and tiefighter (not just their namespace)', { timeout: 60_000 }, async () => {
  // xwing and tiefighter are pods without an owner, as in Hubble's demo. A graph node per namespace merges them.
  const graph = parseDeps(await lookback(suggested((t) => t.startsWith('lookback deps'))));
  const sources = [...new Set(graph.map((e) => e.source))];
  for (const pod of ['xwing', 'tiefighter']) {
    assert.ok(sources.some((s) => s.endsWith(`default/${pod}`)), `deps shows ${pod} as a node of its own (sources: ${sources.join(', ')})`);
  }
});

test('the flows are in ClickHouse and on the Kafka topic (Avro)', { timeout: 60_000 }, async () => {
  const drops = Number(await clickhouse("SELECT count() FROM flows WHERE source_pod = 'xwing' AND verdict = 'DROPPED' AND drop_reason_desc = 'POLICY_DENIED' AND drop_reason_kernel = 'NETFILTER_DROP'"));
  assert.ok(drops > 0, 'the policy drops are stored with both drop reasons');
  const total = Number(await clickhouse('SELECT count() FROM flows'));
  await registerKafkaCodecs(); // the collector publishes lz4
  const kafka = new kafkajs.Kafka({ clientId: 'up-demo-test', brokers: running().ready.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(DEFAULT_FLOW_TOPIC);
  await admin.disconnect();
  const onTopic = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  assert.ok(onTopic >= total && total > 0, `every stored flow is on the topic (topic ${onTopic}, stored ${total})`);

  const consumer = kafka.consumer({ groupId: `up-demo-test-${process.pid}` });
  const codec = await createFlowCodec({ framing: 'single-object' });
  await consumer.connect();
  await consumer.subscribe({ topics: [DEFAULT_FLOW_TOPIC], fromBeginning: true });
  const pods = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no flow of xwing on the topic (pods seen: ${[...pods].join(', ')})`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const f = codec.decode(message.value!);
          pods.add(`${f.source.namespace}/${f.source.pod_name}`);
          if (f.source.namespace === 'default' && f.source.pod_name === 'xwing') {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
});

test('Ctrl-C stops everything in order; no process, BPF link, namespace, interface or nftables rule is left', { timeout: 90_000 }, async () => {
  const r = running();
  assert.ok(fp);
  // What a Ctrl-C at a terminal does: SIGINT to the whole process group of lookback up (the test is not in it).
  process.kill(-r.child.pid, 'SIGINT');
  const code = await exitOf(r.child);
  assert.equal(code, 0, `lookback up exits 0 after a Ctrl-C:\n${r.output().slice(-3000)}`);
  assert.match(r.output(), /up: stopped reason=SIGINT/);
  // Only lookback up got the signal; it stopped its services itself (SIGTERM), the collector before ingest and
  // ingest while Kafka and ClickHouse still ran, so ingest stored what it held instead of retrying against them.
  for (const svc of ['collector', 'ingest']) {
    const log = fs.readFileSync(path.join(dataDir, 'logs', `${svc}.log`), 'utf8');
    const stops = [...log.matchAll(/stopping signal=(\w+)/g)].map((m) => m[1]);
    assert.equal(stops.at(-1), 'SIGTERM', `${svc} was stopped by lookback up, not by the Ctrl-C itself`);
  }
  const ingestLog = fs.readFileSync(path.join(dataDir, 'logs', 'ingest.log'), 'utf8');
  const stopping = ingestLog.slice(ingestLog.lastIndexOf('stopping signal='));
  assert.doesNotMatch(stopping, /insert failed|giving up on a batch/, 'ingest drained with ClickHouse and Kafka up');
  assert.match(stopping, /ingest stopped/);
  assert.deepEqual(leftovers(fp), [], 'nothing is left');
  assert.ok(!fs.existsSync(path.join(dataDir, 'up.pid')), 'the data directory is unlocked');
  up = undefined;
});
