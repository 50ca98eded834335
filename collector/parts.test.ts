/**
 * Unit tests of the collector's small parts: the ring, the DNS cache, the partition key, uuids, summaries, the
 * replay format and source, the publish key's symmetry.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createDecoder } from '../bpf/decode.js';
import { createFlowCodec } from '../schemas/avro-codec.js';
import { emptyFlow, type Flow } from '../schemas/flow-types.js';
import { ConnectionTable, type Conn } from './connections.js';
import { DnsCache } from './enrich/dns-cache.js';
import { parseIp } from '../common/ip.js';
import { flowKey } from './publish/key.js';
import { createReplayWriter, decodeReplayBatches, encodeRecords, readReplayFile } from './replay-format.js';
import { createReplaySource } from './replay-source.js';
import { Ring } from './ring.js';
import { icmpSummary, tcpSummary } from './summary.js';
import { dnsMessage, ProbeSim, TCP } from './testing.js';
import { UuidV7 } from './uuid.js';

const flow = (i: number): Flow => ({ ...emptyFlow(), time_ns: BigInt(i) });

describe('ring', () => {
  test('capacity 2^n - 1; a lapped reader learns how many it lost', () => {
    assert.throws(() => new Ring(4096));
    const ring = new Ring(7);
    for (let i = 0; i < 20; i++) ring.push({ kind: 'flow', flow: flow(i), timeNs: BigInt(i) });
    assert.equal(ring.length, 7);
    assert.equal(ring.total, 20);
    assert.equal(ring.oldest, 13);
    const lost = ring.read(5);
    assert.deepEqual(lost, { lost: 8, next: 13 });
    const r = ring.read(13);
    assert.ok(r && 'entry' in r && r.entry.timeNs === 13n);
    assert.equal(ring.read(20), null);
    // pushFlow keeps the flow alone; read() gives the same entry as push().
    ring.pushFlow(flow(20));
    const lostEntry = { kind: 'lost', lost: { source: 'HUBBLE_RING_BUFFER', count: 2, firstNs: 1n, lastNs: 2n }, timeNs: 21n } as const;
    ring.push(lostEntry);
    const f = ring.read(20);
    assert.ok(f && 'entry' in f && f.entry.kind === 'flow' && f.entry.timeNs === 20n && f.entry.flow.time_ns === 20n);
    assert.deepEqual(ring.read(21), { entry: lostEntry });
  });

  test('flows kept as their encoded values are decoded when read, equal to what was written', async () => {
    const codec = await createFlowCodec({ framing: 'single-object' });
    const ring = new Ring(3);
    assert.throws(() => ring.pushEncoded(codec.encode(flow(1))), /decodeWith/);
    ring.decodeWith(codec.decode);
    const sim = new ProbeSim();
    const flows = [flow(1), { ...flow(2), uuid: new UuidV7().next(sim.time()), summary: 'TCP Flags: SYN', l4_protocol: 6 }];
    for (const v of codec.encodeBatch(flows)) ring.pushEncoded(v);
    ring.push({ kind: 'lost', lost: { source: 'PERF_EVENT_RING_BUFFER', count: 1, firstNs: 3n, lastNs: 3n }, timeNs: 3n });
    const a = ring.read(0), b = ring.read(1), c = ring.read(2);
    assert.ok(a && 'entry' in a && a.entry.kind === 'flow' && a.entry.timeNs === 1n);
    // Decoded records are avsc's record classes: compared by their encoding and a few fields.
    assert.deepEqual(codec.encode(a.entry.flow), codec.encode(flows[0]!));
    assert.ok(b && 'entry' in b && b.entry.kind === 'flow');
    assert.deepEqual(codec.encode(b.entry.flow), codec.encode(flows[1]!));
    assert.deepEqual([b.entry.flow.summary, b.entry.flow.l4_protocol], [flows[1]!.summary, 6]);
    assert.ok(b.entry.flow.uuid.equals(flows[1]!.uuid));
    assert.ok(c && 'entry' in c && c.entry.kind === 'lost');
  });

  test('followers wake on notify, and abort', async () => {
    const ring = new Ring(3);
    const waiting = ring.waitFor(0);
    ring.push({ kind: 'flow', flow: flow(0), timeNs: 0n });
    ring.notify();
    await waiting;
    const ac = new AbortController();
    const w2 = ring.waitFor(5, ac.signal);
    ac.abort();
    await w2;
    assert.equal(ring.total, 1);
  });
});

describe('connection table', () => {
  test('agrees with a Map of tuples through creates, replacements, deletes, gc and rebuilds', () => {
    const table = new ConnectionTable({ maxEntries: 1 << 20, endedGraceMs: 10, idleMs: 1000 });
    const ref = new Map<string, Conn>();
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    // Few addresses and ports: tuples repeat (replacements), both orientations occur, ids are freed and reused.
    const addrs = Array.from({ length: 40 }, (_, i) => (i % 7 === 0 ? `fd00::${i}` : `10.0.${i >> 4}.${i & 15}`));
    const tuple = (): [number, string, number, string, number] => [[6, 17, 1][rnd(3)]!, addrs[rnd(40)]!, 30000 + rnd(300), addrs[rnd(40)]!, [53, 80, 65535][rnd(3)]!];
    const key = (t: readonly unknown[]): string => t.join('|');
    for (let i = 0; i < 20_000; i++) {
      const t = tuple();
      const op = rnd(10);
      if (op < 5) {
        const c = table.create(...t, 1, i);
        ref.set(key(t), c);
      } else if (op < 7) {
        const c = ref.get(key(t));
        if (c) {
          table.delete(c);
          ref.delete(key(t));
        }
      } else if (op < 8 && i % 50 === 0) {
        for (const c of ref.values()) if (rnd(3) === 0) c.lastSeenMs = -10_000;
        table.gc(i);
        for (const [k, c] of ref) if (i - c.lastSeenMs >= 1000) ref.delete(k);
      }
      assert.equal(table.get(...t), ref.get(key(t)));
      const [p, s, sp, d, dp] = t;
      const fwd = ref.get(key(t));
      const rev = ref.get(key([p, d, dp, s, sp]));
      const hit = table.lookupPacket(p, s, sp, d, dp);
      assert.equal(hit, fwd ?? rev);
      if (hit) assert.equal(table.lastReply, fwd === undefined);
    }
    assert.equal(table.size, ref.size);
    for (const [k, c] of ref) assert.equal(table.get(c.proto, c.src, c.sport, c.dst, c.dport), c, k);
    for (const c of [...ref.values()]) table.delete(c);
    assert.equal(table.size, 0);
    assert.equal(table.get(6, addrs[1]!, 30001, addrs[2]!, 80), undefined);
  });
});

describe('DNS cache', () => {
  const opts = { maxEntries: 3, maxNamesPerIp: 2, minTtlMs: 1000, maxTtlMs: 60_000 };
  test('TTL respected and clamped; names without the trailing dot; sorted', () => {
    const c = new DnsCache(opts);
    c.learn('10.0.0.1', 'b.example.', 30, 0);
    c.learn('10.0.0.1', 'a.example.', 0, 0);
    assert.deepEqual(c.names('10.0.0.1', 500), ['a.example', 'b.example']);
    assert.deepEqual(c.names('10.0.0.1', 1500), ['b.example'], 'TTL 0 is kept minTtl');
    assert.deepEqual(c.names('10.0.0.1', 30_001), []);
    c.learn('10.0.0.2', 'c.example', 86_400, 0);
    assert.deepEqual(c.names('10.0.0.2', 59_999), ['c.example']);
    assert.deepEqual(c.names('10.0.0.2', 60_000), [], 'clamped to maxTtl');
  });

  test('the generation moves when the answers change, not when a known name is learnt again', () => {
    const c = new DnsCache(opts);
    c.learn('10.0.3.1', 'web.example', 10, 0);
    const g0 = c.generation;
    const first = c.names('10.0.3.1', 1);
    assert.equal(c.lastValidUntil, 10_000);
    c.learn('10.0.3.1', 'web.example.', 30, 5_000); // the same answer again, later: only its expiry moves
    assert.equal(c.generation, g0, 'a repeated answer changes no name');
    // A reader that cached until the old expiry asks again then, and gets the same names, now valid for longer.
    assert.equal(c.names('10.0.3.1', 10_000), first);
    assert.equal(c.lastValidUntil, 35_000);
    c.learn('10.0.3.1', 'api.example', 30, 6_000);
    assert.notEqual(c.generation, g0, 'a new name is a change');
    assert.deepEqual(c.names('10.0.3.1', 10_000), ['api.example', 'web.example']);
    const g1 = c.generation;
    for (let i = 0; i < 3; i++) c.learn(`10.0.4.${i}`, `n${i}`, 60, 6_000); // evicts 10.0.3.1 (3 addresses at most)
    assert.notEqual(c.generation, g1, 'an eviction is a change');
    assert.deepEqual(c.names('10.0.3.1', 10_000), []);
  });

  test('bounded: addresses and names per address', () => {
    const c = new DnsCache(opts);
    for (let i = 0; i < 10; i++) c.learn(`10.0.1.${i}`, `n${i}`, 60, 0);
    assert.equal(c.size, 3);
    assert.equal(c.evicted, 7);
    assert.deepEqual(c.names('10.0.1.9', 1), ['n9']);
    assert.deepEqual(c.names('10.0.1.0', 1), []);
    c.learn('10.0.2.1', 'x', 10, 0);
    c.learn('10.0.2.1', 'y', 50, 0);
    c.learn('10.0.2.1', 'z', 40, 0);
    assert.deepEqual(c.names('10.0.2.1', 1), ['y', 'z'], 'the name expiring first made room');
    assert.ok(Object.isFrozen(c.names('10.0.2.1', 1)));
  });
});

describe('partition key', () => {
  test('both directions of a connection share a key; other connections do not', () => {
    const f = emptyFlow();
    f.ip = { source: parseIp('10.0.0.1')!, destination: parseIp('10.0.0.2')!, source_xlated: null, ip_version: 'IPv4', encrypted: false };
    f.l4_protocol = 6;
    f.source_port = 40000;
    f.destination_port = 80;
    const r = { ...f, ip: { ...f.ip, source: f.ip.destination, destination: f.ip.source }, source_port: 80, destination_port: 40000 };
    assert.deepEqual(flowKey(f), flowKey(r));
    assert.notDeepEqual(flowKey(f), flowKey({ ...f, source_port: 40001 }));
    assert.notDeepEqual(flowKey(f), flowKey({ ...f, l4_protocol: 17 }));
    assert.equal(flowKey(f).length, 8);
  });
});

describe('uuid v7', () => {
  test('version, variant, time prefix, strictly increasing within a millisecond', () => {
    const g = new UuidV7();
    const ms = 1_764_140_000_123;
    const ids = Array.from({ length: 5000 }, () => Buffer.from(g.next(ms)));
    for (const id of ids) {
      assert.equal(id[6]! >> 4, 7);
      assert.equal(id[8]! >> 6, 2);
    }
    assert.equal(ids[0]!.readUIntBE(0, 6), ms);
    for (let i = 1; i < ids.length; i++) assert.ok(Buffer.compare(ids[i - 1]!, ids[i]!) < 0, `uuid ${i} sorts after ${i - 1}`);
    assert.equal(new Set(ids.map((b) => b.toString('hex'))).size, 5000);
  });
});

describe('summaries', () => {
  test("Hubble's TCP flag order and ICMP names", () => {
    assert.equal(tcpSummary(TCP.SYN | TCP.ACK), 'TCP Flags: SYN, ACK');
    assert.equal(tcpSummary(TCP.FIN | TCP.ACK | TCP.PSH), 'TCP Flags: ACK, FIN, PSH');
    assert.equal(tcpSummary(TCP.RST), 'TCP Flags: RST');
    assert.equal(icmpSummary(false, 8, 0), 'ICMPv4 EchoRequest');
    assert.equal(icmpSummary(false, 3, 3), 'ICMPv4 DestinationUnreachable(Port)');
    assert.equal(icmpSummary(true, 1, 4), 'ICMPv6 DestinationUnreachable(PortUnreachable)');
  });
});

describe('replay format', () => {
  test('records -> raw batch -> the probe decoder gives the same records; a file round-trips', async () => {
    const sim = new ProbeSim();
    const c = sim.tcp({ ip: 'fd00::1', port: 40000, ifindex: 3 }, { ip: 'fd00::2', port: 53, ifindex: 4 }, 6);
    c.handshake();
    c.send('client', { payload: dnsMessage({ id: 1, name: 'x.y' }) });
    sim.drop({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });
    sim.emit({ kind: 'lost', timeNs: sim.nowNs, lost: 3 });
    c.end();
    const records = sim.take().map((r) => (r.kind === 'drop' ? { ...r, reasonName: String(r.reason) } : r));
    const raw = encodeRecords(records);
    const decoded = createDecoder({ bootTimeMs: sim.bootTimeMs }).decode(raw);
    assert.equal(decoded.length, records.length);
    for (let i = 0; i < records.length; i++) {
      const a = records[i]!, b = decoded[i]!;
      assert.deepEqual(b, a, `record ${i} (${a.kind})`);
    }

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-replay-'));
    const file = path.join(dir, 'batches.lbr');
    const w = createReplayWriter(file, { bootTimeMs: sim.bootTimeMs, interfaces: { 3: 'lxc-a' }, hostNetns: 77, dropReasons: { 12: 'NETFILTER_DROP' } });
    w.write(raw);
    w.write(encodeRecords(records.slice(0, 2)));
    w.close();
    const back = readReplayFile(file);
    assert.equal(back.batches.length, 2);
    const batches = decodeReplayBatches(back);
    assert.equal(batches[0]!.length, records.length);
    const drop = batches[0]!.find((r) => r.kind === 'drop');
    assert.ok(drop && drop.kind === 'drop' && drop.reasonName === 'NETFILTER_DROP', 'names from the file header');

    const src = createReplaySource({ file });
    assert.equal(src.hostNetns, 77);
    assert.equal(src.interfaceName(3), 'lxc-a');
    const seen: number[] = [];
    src.onBatch((b) => seen.push(b.length));
    await src.start();
    src.push(records.slice(0, 1));
    await src.done;
    assert.deepEqual(seen, [records.length, 2, 1]);
    assert.equal(src.stats().kernelLost, 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a file that is not a replay file is refused with a clear error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-replay-'));
    const file = path.join(dir, 'junk');
    fs.writeFileSync(file, 'hello');
    assert.throws(() => readReplayFile(file), /not a lookback replay file/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
