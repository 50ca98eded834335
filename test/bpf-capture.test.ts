/**
 * The probe on the real kernel: two pods on a bridge (test/netns.ts), the probe attached to the client pod's
 * host-side veth (both directions), real HTTP (python3 http.server + curl), DNS over UDP (a small responder +
 * dig), ping, over IPv4 and IPv6, and DROP rules with iptables and nftables.
 *
 * Header accounting used by the byte checks: the probe counts IP bytes (IP header + L4 header + payload, no
 * Ethernet), and a GSO super-packet as gso_segs packets each with its own IP and L4 header. Linux TCP uses
 * timestamps by default, so on these veths every TCP segment has a 32-byte TCP header except SYN and SYN-ACK (40:
 * MSS, SACK-permitted, timestamps, NOP, window scale). Hence, per direction of a connection,
 *   bytes = payload + (ip + 40) + (packets - 1) * (ip + 32)      with ip = 20 (IPv4) or 40 (IPv6)
 * where payload is what curl reports having sent (request) or received (headers + body).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FLOW_EVENTS, openProbe, TCP_FLAGS, type DropRecord, type FlowRecord, type PayloadRecord, type Probe, type ProbeRecord, type TcpRecord } from '../bpf/index.js';
import { createPodNetwork, type Pod, type PodNetwork } from './netns.js';

const HTTP_PORT = 8080;
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** A DNS responder: answers every A query with 10.1.2.3 (TTL 60), everything else with no answers. */
const DNS_SERVER = `
const dgram = require('node:dgram');
for (const type of ['udp4', 'udp6']) {
  const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  s.on('message', (msg, rinfo) => {
    let o = 12;
    while (msg[o] !== 0) o += msg[o] + 1;
    o += 5;
    const qtype = msg.readUInt16BE(o - 4);
    const hdr = Buffer.alloc(12);
    hdr.writeUInt16BE(msg.readUInt16BE(0), 0);
    hdr.writeUInt16BE(0x8180, 2);
    hdr.writeUInt16BE(1, 4);
    hdr.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
    const answer = qtype === 1 ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]) : Buffer.alloc(0);
    s.send(Buffer.concat([hdr, msg.subarray(12, o), answer]), rinfo.port, rinfo.address);
  });
  s.bind(53, type === 'udp4' ? '0.0.0.0' : '::');
}
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('probe on the real kernel (pods on a bridge)', () => {
  let net: PodNetwork;
  let client: Pod;
  let server: Pod;
  let probe: Probe;
  let clientIf: number;
  const records: ProbeRecord[] = [];
  let webRoot: string;

  /** Lets the last packets land, then delivers everything queued in the ring. */
  async function settle(): Promise<void> {
    await sleep(100);
    probe.flush();
  }

  const flowsAtClient = (pred: (f: FlowRecord) => boolean): FlowRecord[] =>
    records.filter((r): r is FlowRecord => r.kind === 'flow' && r.ifindex === clientIf && pred(r));

  /** The final counters of each flow (one END_FLUSH record per flow), after flushFlows(). */
  async function finalFlows(pred: (f: FlowRecord) => boolean): Promise<FlowRecord[]> {
    await settle();
    const from = records.length;
    probe.flushFlows();
    return records
      .slice(from)
      .filter((r): r is FlowRecord => r.kind === 'flow' && r.ifindex === clientIf && (r.events & FLOW_EVENTS.endFlush) !== 0 && pred(r))
      .sort((a, b) => a.firstNs - b.firstNs);
  }

  async function waitForHttp(url: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const r = await client.exec('curl', ['-s', '-o', '/dev/null', '--max-time', '1', url]);
      if (r.code === 0) return;
      await sleep(100);
    }
    throw new Error(`the HTTP server at ${url} did not answer`);
  }

  async function curl(url: string): Promise<{ request: number; header: number; body: number }> {
    const out = await client.run('curl', ['-sS', '-g', '-o', '/dev/null', '--max-time', '5', '-w', '%{size_request} %{size_header} %{size_download}', url]);
    const [request, header, body] = out.trim().split(' ').map(Number);
    return { request: request!, header: header!, body: body! };
  }

  before(async () => {
    net = await createPodNetwork({ pods: ['client', 'server'] });
    client = net.pod('client');
    server = net.pod('server');
    webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-web-'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), 'hello from the server pod\n'.repeat(20));
    fs.writeFileSync(path.join(webRoot, 'big.bin'), Buffer.alloc(1 << 20, 7));
    fs.chmodSync(webRoot, 0o755);
    server.spawn('http', PY, ['-m', 'http.server', String(HTTP_PORT), '--bind', '::', '--directory', webRoot]);
    server.spawn('dns', process.execPath, ['-e', DNS_SERVER]);
    await waitForHttp(`http://${server.ipv4}:${HTTP_PORT}/index.html`);

    probe = openProbe({
      payloadPorts: { tcp: [HTTP_PORT], udp: [53] },
      snapLength: 256,
      sweepIntervalMs: 0,
      activeTimeoutMs: 0,
    });
    probe.onBatch((batch) => { records.push(...batch); });
    const attached = probe.attach(client.hostIf);
    assert.equal(attached.length, 2);
    clientIf = client.hostIfIndex();
    // Forget the warm-up traffic: every test below starts from an empty flow table.
    await settle();
    probe.flushFlows();
    records.length = 0;
  });

  after(async () => {
    probe?.close();
    await net?.destroy();
    if (webRoot) fs.rmSync(webRoot, { recursive: true, force: true });
  });

  test('attaches with TCX links', () => {
    const a = probe.attachments();
    assert.deepEqual(a.map((x) => [x.ifname, x.direction, x.mode]).sort(), [
      [client.hostIf, 'egress', 'tcx'],
      [client.hostIf, 'ingress', 'tcx'],
    ]);
  });

  test('N short HTTP connections are exactly N flows, each with SYN, SYN-ACK and FIN both ways', async () => {
    const N = 5;
    for (let i = 0; i < N; i++) await curl(`http://${server.ipv4}:${HTTP_PORT}/index.html`);
    await settle();
    const isHttp = (f: FlowRecord): boolean => f.proto === 6 && f.dport === HTTP_PORT && f.src === client.ipv4 && f.dst === server.ipv4;
    const flows = flowsAtClient(isHttp);
    const byConn = new Map<number, FlowRecord[]>();
    for (const f of flows) byConn.set(f.sport, [...(byConn.get(f.sport) ?? []), f]);
    assert.equal(byConn.size, N, `expected ${N} connections, got ports ${[...byConn.keys()].join(',')}`);
    for (const [sport, recs] of byConn) {
      const events = recs.reduce((a, r) => a | r.events, 0);
      assert.equal(recs.filter((r) => r.events & FLOW_EVENTS.new).length, 1, `one NEW for port ${sport}`);
      assert.ok(events & FLOW_EVENTS.syn, `SYN for ${sport}`);
      assert.ok(events & FLOW_EVENTS.synAck, `SYN-ACK for ${sport}`);
      assert.ok(events & FLOW_EVENTS.fin, `FIN for ${sport}`);
      const last = recs.at(-1)!;
      assert.ok(last.tcpFlagsOrig & TCP_FLAGS.syn && last.tcpFlagsOrig & TCP_FLAGS.fin, 'client sent SYN and FIN');
      assert.ok(last.tcpFlagsReply & TCP_FLAGS.syn && last.tcpFlagsReply & TCP_FLAGS.fin, 'server sent SYN and FIN');
      const newRec = recs.find((r) => r.events & FLOW_EVENTS.new)!;
      assert.equal(newRec.pktEgress, false, 'the SYN leaves the client pod: ingress at its host-side veth');
      assert.equal(newRec.pktReply, false);
      assert.ok(recs.every((r) => !r.origEgress), 'the client pod opened it: its packets arrive at ingress');
    }
    const finals = await finalFlows(isHttp);
    assert.equal(finals.length, N, 'flushFlows ends each flow exactly once');
  });

  for (const family of [4, 6] as const) {
    test(`byte and packet counters match what was sent (HTTP over IPv${family}, small and 1 MiB responses)`, async () => {
      const host = family === 4 ? server.ipv4 : `[${server.ipv6}]`;
      const small = await curl(`http://${host}:${HTTP_PORT}/index.html`);
      const big = await curl(`http://${host}:${HTTP_PORT}/big.bin`);
      assert.equal(big.body, 1 << 20);
      const srv = family === 4 ? server.ipv4 : server.ipv6;
      const finals = await finalFlows((f) => f.family === family && f.proto === 6 && f.dport === HTTP_PORT && f.dst === srv);
      assert.equal(finals.length, 2);
      const ip = family === 4 ? 20 : 40;
      const expectBytes = (payload: number, packets: number): number => payload + (ip + 40) + (packets - 1) * (ip + 32);
      for (const [f, sizes] of [[finals[0]!, small], [finals[1]!, big]] as const) {
        assert.equal(f.bytesOrig, expectBytes(sizes.request, f.packetsOrig), `request bytes (${JSON.stringify(f)})`);
        assert.equal(f.bytesReply, expectBytes(sizes.header + sizes.body, f.packetsReply), `response bytes (${JSON.stringify(f)})`);
      }
      // 1 MiB cannot fit in fewer than 1 MiB / MSS segments: GSO super-packets were counted per segment.
      const mss = 1500 - ip - 32;
      assert.ok(finals[1]!.packetsReply >= Math.ceil((1 << 20) / mss), `packets ${finals[1]!.packetsReply}`);
    });
  }

  test('payload snippets carry the HTTP request line', async () => {
    records.length = 0;
    await curl(`http://${server.ipv4}:${HTTP_PORT}/index.html?from=probe`);
    await curl(`http://[${server.ipv6}]:${HTTP_PORT}/index.html?v=6`);
    await settle();
    const payloads = records.filter((r): r is PayloadRecord => r.kind === 'payload' && r.ifindex === clientIf && r.dport === HTTP_PORT);
    const lines = payloads.map((p) => p.data.toString('latin1').split('\r\n')[0]);
    assert.ok(lines.includes('GET /index.html?from=probe HTTP/1.1'), lines.join(' | '));
    assert.ok(lines.includes('GET /index.html?v=6 HTTP/1.1'), lines.join(' | '));
    const req = payloads.find((p) => p.data.toString('latin1').startsWith('GET /index.html?from=probe'))!;
    assert.equal(req.src, client.ipv4);
    assert.equal(req.dst, server.ipv4);
    assert.equal(req.egress, false);
    assert.equal(req.data.length, Math.min(req.payloadLength, 256));
    const responses = records.filter((r): r is PayloadRecord => r.kind === 'payload' && r.sport === HTTP_PORT);
    assert.ok(responses.some((p) => p.data.toString('latin1').startsWith('HTTP/1.0 200 OK')), 'response snippets too');
  });

  for (const family of [4, 6] as const) {
    test(`DNS over UDP (IPv${family}): the query and answer as payload snippets, counters exact`, async () => {
      records.length = 0;
      const dnsIp = family === 4 ? server.ipv4 : server.ipv6;
      const name = `probe-v${family}.example.test`;
      const out = await client.run('dig', ['+short', '+tries=1', '+time=2', `@${dnsIp}`, name, 'A']);
      assert.equal(out.trim(), '10.1.2.3');
      await settle();
      const wire = Buffer.concat(name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
      const snippets = records.filter((r): r is PayloadRecord => r.kind === 'payload' && r.ifindex === clientIf && r.proto === 17 && r.family === family);
      const query = snippets.find((p) => p.dport === 53 && p.data.includes(wire));
      const answer = snippets.find((p) => p.sport === 53 && p.data.includes(wire));
      assert.ok(query, 'the query with its name in wire format');
      assert.ok(answer, 'the answer');
      assert.equal(query.src, family === 4 ? client.ipv4 : client.ipv6);
      assert.equal(query.data.readUInt16BE(0), answer.data.readUInt16BE(0), 'same DNS id');
      const finals = await finalFlows((f) => f.proto === 17 && f.family === family && f.dport === 53);
      assert.equal(finals.length, 1);
      const f = finals[0]!;
      const ip = family === 4 ? 20 : 40;
      assert.deepEqual([f.packetsOrig, f.packetsReply], [1, 1]);
      assert.equal(f.bytesOrig, ip + 8 + query.payloadLength);
      assert.equal(f.bytesReply, ip + 8 + answer.payloadLength);
    });

    test(`ICMP${family === 6 ? 'v6' : ''} ping (IPv${family}): one flow, exact packets and bytes`, async () => {
      const target = family === 4 ? server.ipv4 : server.ipv6;
      records.length = 0;
      await client.run('ping', [`-${family}`, '-c', '3', '-i', '0.2', '-s', '100', target]);
      const proto = family === 4 ? 1 : 58;
      const echo = family === 4 ? 8 : 128;
      const finals = await finalFlows((f) => f.proto === proto && f.icmpType === echo && f.dst === target);
      assert.equal(finals.length, 1, JSON.stringify(finals));
      const f = finals[0]!;
      const ip = family === 4 ? 20 : 40;
      assert.deepEqual([f.packetsOrig, f.packetsReply], [3, 3]);
      assert.equal(f.bytesOrig, 3 * (ip + 8 + 100));
      assert.equal(f.bytesReply, 3 * (ip + 8 + 100));
      assert.equal(f.src, family === 4 ? client.ipv4 : client.ipv6);
      // ping (as root) reads replies on a raw socket; the kernel then frees them as NO_SOCKET: not a drop.
      assert.ok(!records.some((r) => r.kind === 'drop' && r.proto === proto), 'echo replies are not reported as drops');
    });
  }

  test('IPv6 extension headers are walked to find the ports (and counted in the bytes)', async () => {
    // A destination-options header (8 bytes: PadN) on every datagram, set as a sticky socket option.
    const send = `import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ns.bind(('::', 40001))\n` +
      `s.setsockopt(socket.IPPROTO_IPV6, 59, bytes([0, 0, 1, 4, 0, 0, 0, 0]))\n` +
      `for _ in range(3):\n    s.sendto(b'x' * 20, ('${server.ipv6}', 5353))\n`;
    await client.run(PY, ['-c', send]);
    const finals = await finalFlows((f) => f.proto === 17 && f.family === 6 && f.sport === 40001);
    assert.equal(finals.length, 1, JSON.stringify(finals));
    const f = finals[0]!;
    assert.equal(f.dport, 5353);
    assert.equal(f.packetsOrig, 3);
    assert.equal(f.bytesOrig, 3 * (40 + 8 + 8 + 20), 'IPv6 header + destination options + UDP header + payload');
  });

  test('TCP lifecycle from the socket: SYN_SENT, ESTABLISHED and CLOSE with a smoothed RTT', async () => {
    records.length = 0;
    await curl(`http://${server.ipv4}:${HTTP_PORT}/index.html`);
    await settle();
    const mine = records.filter((r): r is TcpRecord => r.kind === 'tcp' && r.src === client.ipv4 && r.dst === server.ipv4 && r.dport === HTTP_PORT);
    const states = mine.map((r) => r.newState);
    assert.deepEqual(states, ['SYN_SENT', 'ESTABLISHED', 'CLOSE'], JSON.stringify(mine));
    const established = mine[1]!;
    assert.ok(established.srttUs > 0, 'srtt measured from the handshake');
    assert.equal(new Set(mine.map((r) => r.cookie)).size, 1, 'one socket');
    const closed = mine[2]!;
    assert.ok(closed.bytesReceived > 0 && closed.bytesAcked > 0);
    const serverSide = records.filter((r): r is TcpRecord => r.kind === 'tcp' && r.src === server.ipv4 && r.sport === HTTP_PORT && r.dst === client.ipv4);
    assert.ok(serverSide.some((r) => r.oldState === 'SYN_RECV' && r.newState === 'ESTABLISHED'), 'the server socket too');
  });

  test('an iptables DROP rule yields drop records with the netfilter drop reason (IPv4)', async () => {
    const port = 9999;
    await server.run('iptables', ['-I', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP']);
    records.length = 0;
    const r = await client.exec('curl', ['-sS', '--connect-timeout', '1.5', `http://${server.ipv4}:${port}/`]);
    assert.notEqual(r.code, 0, 'the connection is blocked');
    await settle();
    const drops = records.filter((x): x is DropRecord => x.kind === 'drop' && x.dst === server.ipv4 && x.dport === port);
    assert.ok(drops.length >= 1, 'at least the SYN was dropped');
    for (const d of drops) {
      assert.equal(d.reasonName, 'NETFILTER_DROP');
      assert.equal(d.src, client.ipv4);
      assert.equal(d.proto, 6);
      assert.ok(d.tcpFlags & TCP_FLAGS.syn);
    }
    assert.equal(probe.dropReasonName(drops[0]!.reason), 'NETFILTER_DROP');
  });

  test('an nftables drop rule yields drop records with the netfilter drop reason (IPv6)', async () => {
    const port = 9998;
    await server.run('nft', ['add table inet lbtest; add chain inet lbtest input { type filter hook input priority 0 ; } ; add rule inet lbtest input tcp dport 9998 drop']);
    records.length = 0;
    const r = await client.exec('curl', ['-sS', '-g', '--connect-timeout', '1.5', `http://[${server.ipv6}]:${port}/`]);
    assert.notEqual(r.code, 0);
    await settle();
    const drops = records.filter((x): x is DropRecord => x.kind === 'drop' && x.dst === server.ipv6 && x.dport === port);
    assert.ok(drops.length >= 1);
    assert.ok(drops.every((d) => d.reasonName === 'NETFILTER_DROP' && d.src === client.ipv6 && d.family === 6));
  });

  test('a closed port is a NO_SOCKET drop, and the counters report no kernel-side loss', async () => {
    records.length = 0;
    await client.exec('curl', ['-sS', '--connect-timeout', '1', `http://${server.ipv4}:9997/`]);
    await settle();
    const drops = records.filter((x): x is DropRecord => x.kind === 'drop' && x.dst === server.ipv4 && x.dport === 9997);
    assert.ok(drops.some((d) => d.reasonName === 'NO_SOCKET'), JSON.stringify(drops.map((d) => d.reasonName)));
    const s = probe.stats();
    assert.equal(s.ringReserveFailed, 0);
    assert.ok(s.kernel['packets']! > 0 && s.recordsDelivered > 0);
    assert.ok(!records.some((x) => x.kind === 'lost'));
  });
});
