import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { AddressCache, formatIPv6 } from './addresses.js';
import { createDecoder, FLOW_EVENTS, type DropRecord, type FlowRecord, type PayloadRecord, type TcpRecord } from './decode.js';
import { CONSTANTS as C, LAYOUT, tupleField } from './layout.js';

/** Writes records the way the kernel programs do, at the offsets of layout.ts. */
class Writer {
  buf = Buffer.alloc(1 << 16);
  len = 0;
  record(kind: number, size: number, fill: (at: number) => void): this {
    const at = this.len;
    this.buf.fill(0, at, at + size);
    this.buf.writeUInt16LE(kind, at);
    this.buf.writeUInt16LE(size, at + 2);
    this.buf.writeUInt32LE(7, at + 4);
    this.buf.writeBigUInt64LE(5_000_000_000n, at + 8);
    fill(at);
    this.len += size;
    return this;
  }
  tuple(at: number, src: string, dst: string, sport: number, dport: number, proto: number): void {
    const R = LAYOUT.lb_flow_rec;
    const v6 = src.includes(':');
    const put = (a: string, off: number): void => {
      if (v6) Buffer.from(expand6(a), 'hex').copy(this.buf, at + off);
      else Buffer.from(a.split('.').map(Number)).copy(this.buf, at + off);
    };
    put(src, tupleField(R, 'src'));
    put(dst, tupleField(R, 'dst'));
    this.buf.writeUInt16LE(sport, at + tupleField(R, 'sport'));
    this.buf.writeUInt16LE(dport, at + tupleField(R, 'dport'));
    this.buf.writeUInt8(v6 ? 6 : 4, at + tupleField(R, 'family'));
    this.buf.writeUInt8(proto, at + tupleField(R, 'proto'));
  }
}

function expand6(a: string): string {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

const F = LAYOUT.lb_flow_rec.fields;

test('flow records decode every field, with 64-bit counters beyond 2^32', () => {
  const w = new Writer();
  w.record(C.LB_REC_FLOW, LAYOUT.lb_flow_rec.size, (at) => {
    w.tuple(at, '10.0.0.1', '10.0.0.2', 40000, 8080, 6);
    w.buf.writeBigUInt64LE(4_000_000_000n, at + F.first_ns[0]);
    w.buf.writeBigUInt64LE(4_900_000_000n, at + F.last_ns[0]);
    w.buf.writeBigUInt64LE(123_456_789_012n, at + F.bytes[0]);
    w.buf.writeBigUInt64LE(99n, at + F.bytes[0] + 8);
    w.buf.writeBigUInt64LE(5_000_000_000n, at + F.packets[0]);
    w.buf.writeBigUInt64LE(3n, at + F.packets[0] + 8);
    w.buf.writeUInt32LE(C.LB_FLOW_NEW | C.LB_FLOW_SYN, at + F.events[0]);
    w.buf.writeUInt8(C.LB_TCP_SYN, at + F.tcp_flags[0]);
    w.buf.writeUInt8(C.LB_TCP_SYN | C.LB_TCP_ACK, at + F.tcp_flags[0] + 1);
    w.buf.writeUInt8(C.LB_TCP_SYN, at + F.pkt_flags[0]);
    w.buf.writeUInt8(1, at + F.pkt_egress[0]);
    w.buf.writeUInt8(1, at + F.orig_egress[0]);
  });
  const decoder = createDecoder({ bootTimeMs: 1_000_000 });
  assert.equal(decoder.bootTimeMs, 1_000_000);
  const [r] = decoder.decode(w.buf, w.len) as [FlowRecord];
  assert.deepEqual(r, {
    kind: 'flow', timeNs: 5_000_000_000, ifindex: 7, family: 4, proto: 6, src: '10.0.0.1', dst: '10.0.0.2',
    sport: 40000, dport: 8080, events: FLOW_EVENTS.new | FLOW_EVENTS.syn, firstNs: 4_000_000_000, lastNs: 4_900_000_000,
    bytesOrig: 123_456_789_012, bytesReply: 99, packetsOrig: 5_000_000_000, packetsReply: 3, tcpFlagsOrig: 2, tcpFlagsReply: 18,
    pktFlags: 2, pktReply: false, pktEgress: true, icmpType: 0, icmpCode: 0, origEgress: true,
  });
});

test('payload, drop, tcp, overflow and lost records; unknown kinds are skipped by size', () => {
  const w = new Writer();
  const P = LAYOUT.lb_payload_rec;
  const request = Buffer.from('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
  const psize = (P.size + 64 + 7) & ~7;
  w.record(C.LB_REC_PAYLOAD, psize, (at) => {
    w.tuple(at, 'fd00::1', 'fd00::2', 5555, 80, 6);
    w.buf.writeUInt32LE(0xdeadbeef, at + P.fields.seq[0]);
    w.buf.writeUInt32LE(request.length, at + P.fields.payload_len[0]);
    w.buf.writeUInt16LE(request.length, at + P.fields.cap_len[0]);
    request.copy(w.buf, at + P.size);
  });
  w.record(99, 32, () => {});
  const D = LAYOUT.lb_drop_rec;
  w.record(C.LB_REC_DROP, D.size, (at) => {
    w.tuple(at, '10.0.0.1', '10.0.0.2', 1, 9999, 6);
    w.buf.writeUInt32LE(12, at + D.fields.reason[0]);
    w.buf.writeUInt32LE(4026531840, at + D.fields.netns[0]);
    w.buf.writeBigUInt64LE(0xffffffff81234567n, at + D.fields.location[0]);
  });
  const T = LAYOUT.lb_tcp_rec;
  w.record(C.LB_REC_TCP, T.size, (at) => {
    w.tuple(at, '10.0.0.1', '10.0.0.2', 40000, 80, 6);
    w.buf.writeUInt8(2, at + T.fields.old_state[0]);
    w.buf.writeUInt8(1, at + T.fields.new_state[0]);
    w.buf.writeUInt32LE(250, at + T.fields.srtt_us[0]);
    w.buf.writeBigUInt64LE(42n, at + T.fields.sock_cookie[0]);
  });
  w.record(C.LB_REC_OVERFLOW, LAYOUT.lb_overflow_rec.size, (at) => {
    w.buf.writeBigUInt64LE(70000n, at + LAYOUT.lb_overflow_rec.fields.flows_created[0]);
    w.buf.writeUInt32LE(65536, at + LAYOUT.lb_overflow_rec.fields.capacity[0]);
  });
  w.record(C.LB_REC_LOST, LAYOUT.lb_lost_rec.size, (at) => { w.buf.writeBigUInt64LE(17n, at + LAYOUT.lb_lost_rec.fields.lost[0]); });

  const recs = createDecoder({ dropReasonName: (v) => (v === 12 ? 'NETFILTER_DROP' : '?') }).decode(w.buf, w.len);
  assert.deepEqual(recs.map((r) => r.kind), ['payload', 'drop', 'tcp', 'overflow', 'lost']);
  const p = recs[0] as PayloadRecord;
  assert.equal(p.src, 'fd00::1');
  assert.equal(p.seq, 0xdeadbeef);
  assert.equal(p.data.toString(), request.toString());
  w.buf.fill(0); // the batch buffer is reused: decoded payloads must not change with it
  assert.equal(p.data.toString(), request.toString());
  const d = recs[1] as DropRecord;
  assert.deepEqual([d.reasonName, d.netns, d.location, d.dport], ['NETFILTER_DROP', 4026531840, '0xffffffff81234567', 9999]);
  const t = recs[2] as TcpRecord;
  assert.deepEqual([t.oldState, t.newState, t.srttUs, t.cookie], ['SYN_SENT', 'ESTABLISHED', 250, 42]);
  assert.deepEqual(recs[3], { kind: 'overflow', timeNs: 5e9, flowsCreated: 70000, capacity: 65536, liveEstimate: 0 });
  assert.equal((recs[4] as { lost: number }).lost, 17);
});

test('a truncated last record is not decoded; unaligned input is copied and decoded', () => {
  const w = new Writer();
  for (let i = 0; i < 3; i++) w.record(C.LB_REC_FLOW, LAYOUT.lb_flow_rec.size, (at) => w.tuple(at, '1.2.3.4', '5.6.7.8', i, 80, 17));
  const dec = createDecoder();
  assert.equal(dec.decode(w.buf, w.len - 8).length, 2);
  const unaligned = Buffer.alloc(w.len + 3).subarray(3);
  w.buf.copy(unaligned, 0, 0, w.len);
  assert.deepEqual(dec.decode(unaligned).map((r) => (r as FlowRecord).sport), [0, 1, 2]);
});

test('64-bit values at the word boundaries; the output array is dense whatever the mix of record sizes', () => {
  const w = new Writer();
  const LO = LAYOUT.lb_lost_rec;
  const counts = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 5n, 2n ** 53n - 1n];
  // Lost records are the smallest kind: more records than the decoder's first guess from the byte count.
  for (let i = 0; i < 200; i++) {
    w.record(C.LB_REC_LOST, LO.size, (at) => w.buf.writeBigUInt64LE(counts[i % counts.length]!, at + LO.fields.lost[0]));
  }
  const dec = createDecoder();
  const lost = dec.decode(w.buf, w.len);
  assert.equal(lost.length, 200);
  assert.equal(Object.keys(lost).length, 200); // no holes
  assert.deepEqual(lost.map((r) => (r as { lost: number }).lost), lost.map((_, i) => Number(counts[i % counts.length])));

  // More records than the decoder makes slots for up front, however large the batch.
  const many = Buffer.alloc(20_000 * LO.size);
  for (let i = 0; i < 20_000; i++) {
    many.writeUInt16LE(C.LB_REC_LOST, i * LO.size);
    many.writeUInt16LE(LO.size, i * LO.size + 2);
    many.writeUInt32LE(i, i * LO.size + LO.fields.lost[0]);
  }
  const manyLost = dec.decode(many);
  assert.equal(manyLost.length, 20_000);
  assert.ok(manyLost.every((r, i) => r.kind === 'lost' && r.lost === i));

  // Payload records are larger than the guess assumes: the surplus is trimmed.
  const big = new Writer();
  const P = LAYOUT.lb_payload_rec;
  for (let i = 0; i < 5; i++) {
    big.record(C.LB_REC_PAYLOAD, P.size + 1024, (at) => {
      big.tuple(at, '10.0.0.1', '10.0.0.2', 1000 + i, 53, 17);
      big.buf.writeUInt16LE(1024, at + P.fields.cap_len[0]);
      big.buf.fill(i, at + P.size, at + P.size + 1024);
    });
  }
  const payloads = dec.decode(big.buf, big.len) as PayloadRecord[];
  assert.equal(payloads.length, 5);
  assert.deepEqual(payloads.map((p) => [p.sport, p.data.length, p.data[1023]]), [0, 1, 2, 3, 4].map((i) => [1000 + i, 1024, i]));
});

test('drop locations are right when consecutive drops alternate between places', () => {
  const w = new Writer();
  const D = LAYOUT.lb_drop_rec;
  const places = [0xffffffff81234567n, 0xffffffff81234567n, 0xffffffffa0000010n, 0x1n, 0xffffffff81234567n];
  for (const at of places) w.record(C.LB_REC_DROP, D.size, (o) => w.buf.writeBigUInt64LE(at, o + D.fields.location[0]));
  const recs = createDecoder().decode(w.buf, w.len) as DropRecord[];
  assert.deepEqual(recs.map((r) => r.location), places.map((p) => `0x${p.toString(16).padStart(16, '0')}`));
});

test('IPv6 text is RFC 5952 (as the WHATWG URL serializer writes it)', () => {
  const samples = ['::', '::1', 'fd6c:6b:c2::a', '2001:db8::1:0:0:1', '2001:db8:0:0:1::', '1:0:0:2:0:0:0:3', 'fe80::1:2:3:4', '2001:db8:1:2:3:4:5:6'];
  for (let i = 0; i < 200; i++) {
    const b = crypto.randomBytes(16);
    for (let j = 0; j < 16; j++) if (crypto.randomInt(3) === 0) b[j] = 0;
    samples.push(formatIPv6(b, 0));
  }
  for (const s of samples) {
    const bytes = Buffer.from(expand6(s), 'hex');
    const ours = formatIPv6(bytes, 0);
    if (bytes.subarray(0, 10).every((x) => x === 0) && bytes.readUInt16BE(10) === 0xffff) continue;
    assert.equal(ours, new URL(`http://[${ours}]/`).hostname.slice(1, -1), s);
    assert.equal(expand6(ours), bytes.toString('hex'));
  }
  assert.equal(formatIPv6(Buffer.from('00000000000000000000ffff0a000001', 'hex'), 0), '::ffff:10.0.0.1');
});

test('the address cache answers right when many addresses share slots', () => {
  const cache = new AddressCache();
  const words = new Uint32Array(4);
  const bytes = new Uint8Array(words.buffer);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 20000; i++) {
      words[0] = i;
      assert.equal(cache.v4(i), `${i & 255}.${(i >>> 8) & 255}.${(i >>> 16) & 255}.0`);
      words[0] = 0xfd; words[1] = 0; words[2] = 0; words[3] = i;
      assert.equal(cache.v6(words, 0, bytes, 0), formatIPv6(bytes, 0));
    }
  }
});
