/**
 * A probe simulator for tests and benchmarks: scripted conversations between endpoints become the records the
 * real probe would emit (a NEW record on a flow's first packet, SYN/SYN-ACK/FIN/RST transitions, cumulative
 * counters, payload snippets on chosen ports, final records on end), in the order the packets cross the
 * interfaces. As in the kernel (bpf/flow.bpf.c), a connection is counted and reported at one interface only, the
 * first to see it; its packets at the other pod's interface are counted in `secondInterface` and nothing more.
 * Feed the records to the collector through a replay source.
 *
 *   const sim = new ProbeSim({ payloadPorts: [80] });
 *   const c = sim.tcp({ ip: '10.0.0.1', port: 40000, ifindex: 11 }, { ip: '10.0.0.2', port: 80, ifindex: 12 });
 *   c.handshake(); c.send('client', { payload: 'GET / HTTP/1.1\r\nHost: b\r\n\r\n' }); c.close();
 *   const records = sim.take();
 */
import { FLOW_EVENTS, type DropRecord, type FlowRecord, type PayloadRecord, type ProbeRecord } from '../bpf/decode.js';

export interface SimEndpoint {
  ip: string;
  port: number;
  /** The host-side interface of this endpoint's pod on this node; undefined when it is elsewhere. */
  ifindex?: number;
}

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
export const TCP = { FIN, SYN, RST, PSH, ACK } as const;

interface IfState {
  ifindex: number;
  /** The initiator's packets pass here at egress. */
  origEgress: boolean;
  firstNs: number;
  lastNs: number;
  bytes: [number, number];
  packets: [number, number];
  flags: [number, number];
}

export class ProbeSim {
  /** CLOCK_MONOTONIC of the next packet. */
  nowNs: number;
  readonly bootTimeMs: number;
  private out: ProbeRecord[] = [];
  /** Packets seen at a connection's second interface (the kernel's secondInterface counter). */
  secondInterface = 0;
  private readonly payloadPorts: Set<number>;
  readonly snapLength: number;

  constructor(opts: { bootTimeMs?: number; startNs?: number; payloadPorts?: number[]; snapLength?: number } = {}) {
    this.bootTimeMs = opts.bootTimeMs ?? 1_764_140_000_000;
    this.nowNs = opts.startNs ?? 5_000_000_000;
    this.payloadPorts = new Set(opts.payloadPorts ?? [53, 80, 8080, 9092]);
    this.snapLength = opts.snapLength ?? 256;
  }

  tick(ms: number): void {
    this.nowNs += Math.round(ms * 1e6);
  }

  emit(r: ProbeRecord): void {
    this.out.push(r);
  }

  /** The records emitted since the last take. */
  take(): ProbeRecord[] {
    const r = this.out;
    this.out = [];
    return r;
  }

  time(ns = this.nowNs): number {
    return this.bootTimeMs + ns / 1e6;
  }

  tcp(client: SimEndpoint, server: SimEndpoint, family: 4 | 6 = 4): SimConn {
    return new SimConn(this, 6, client, server, family);
  }

  udp(client: SimEndpoint, server: SimEndpoint, family: 4 | 6 = 4): SimConn {
    return new SimConn(this, 17, client, server, family);
  }

  capturesPayload(port: number): boolean {
    return this.payloadPorts.has(port);
  }

  drop(p: { src: string; dst: string; sport: number; dport: number; proto?: number; family?: 4 | 6; reason?: number; reasonName?: string; netns?: number; ifindex?: number; pktLen?: number; tcpFlags?: number }): DropRecord {
    const r: DropRecord = {
      kind: 'drop', timeNs: this.nowNs, ifindex: p.ifindex ?? 2, family: p.family ?? 4, proto: p.proto ?? 6,
      src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, reason: p.reason ?? 12, reasonName: p.reasonName ?? 'NETFILTER_DROP',
      netns: p.netns ?? 4026532000, pktLen: p.pktLen ?? 60, tcpFlags: p.tcpFlags ?? SYN, icmpType: 0, icmpCode: 0, location: '0xffffffff81000000',
    };
    this.emit(r);
    this.tick(0.01);
    return r;
  }
}

export class SimConn {
  /** The probe's entry for this connection, at the interface that saw it first (its owner). */
  private entry: IfState | undefined;
  constructor(readonly sim: ProbeSim, readonly proto: number, readonly client: SimEndpoint, readonly server: SimEndpoint, readonly family: 4 | 6) {}

  /** One packet from `from`. payload: the bytes (the snippet is cut to snapLength); payloadLength: its full length. */
  send(from: 'client' | 'server', opts: { flags?: number; payload?: Buffer | string; payloadLength?: number; seq?: number; segments?: number } = {}): void {
    const sim = this.sim;
    const dir = from === 'client' ? 0 : 1;
    const src = from === 'client' ? this.client : this.server;
    const dst = from === 'client' ? this.server : this.client;
    const payload = typeof opts.payload === 'string' ? Buffer.from(opts.payload, 'latin1') : opts.payload;
    const plen = opts.payloadLength ?? payload?.length ?? 0;
    const flags = this.proto === 6 ? opts.flags ?? (plen > 0 ? PSH | ACK : ACK) : 0;
    const segs = opts.segments ?? 1;
    const ip = this.family === 6 ? 40 : 20;
    const l4 = this.proto === 6 ? (flags & SYN ? 40 : 32) : 8;
    const bytes = plen + segs * (ip + l4);
    // The sender's interface sees it at ingress first, then the receiver's at egress.
    const path: [number | undefined, boolean][] = [[src.ifindex, false], [dst.ifindex, true]];
    for (const [ifindex, egress] of path) {
      if (ifindex === undefined) continue;
      let st = this.entry;
      if (st !== undefined && st.ifindex !== ifindex) {
        sim.secondInterface++; // counted at the owner already
        continue;
      }
      let events = 0;
      if (!st) {
        st = { ifindex, origEgress: dir === 0 ? egress : !egress, firstNs: sim.nowNs, lastNs: sim.nowNs, bytes: [0, 0], packets: [0, 0], flags: [0, 0] };
        this.entry = st;
        events |= FLOW_EVENTS.new;
      }
      st.bytes[dir] += bytes;
      st.packets[dir] += segs;
      st.lastNs = sim.nowNs;
      const fresh = flags & ~st.flags[dir];
      st.flags[dir] |= flags;
      if (fresh & SYN) events |= dir ? FLOW_EVENTS.synAck : FLOW_EVENTS.syn;
      if (fresh & FIN) events |= FLOW_EVENTS.fin;
      if (fresh & RST) events |= FLOW_EVENTS.rst;
      if (events) sim.emit(this.flowRecord(st, events, { flags, reply: dir === 1, egress }));
      if (plen > 0 && payload && (sim.capturesPayload(src.port) || sim.capturesPayload(dst.port))) {
        const data = Buffer.from(payload.subarray(0, sim.snapLength));
        const rec: PayloadRecord = {
          kind: 'payload', timeNs: sim.nowNs, ifindex, family: this.family, proto: this.proto,
          src: src.ip, dst: dst.ip, sport: src.port, dport: dst.port, seq: opts.seq ?? 0, payloadLength: plen, egress, data,
        };
        sim.emit(rec);
      }
    }
    sim.tick(0.05);
  }

  /** A periodic export (the probe's active timeout), caused by a packet from `from`. */
  active(from: 'client' | 'server' = 'client'): void {
    if (this.entry) this.sim.emit(this.flowRecord(this.entry, FLOW_EVENTS.active, { flags: ACK, reply: from === 'server', egress: false }));
  }

  handshake(): void {
    this.send('client', { flags: SYN });
    this.send('server', { flags: SYN | ACK });
    this.send('client', { flags: ACK });
  }

  close(): void {
    this.send('client', { flags: FIN | ACK });
    this.send('server', { flags: FIN | ACK });
    this.send('client', { flags: ACK });
  }

  /** The probe forgets the flow (idle sweep, or flush). */
  end(kind: 'idle' | 'flush' = 'idle'): void {
    if (this.entry) this.sim.emit(this.flowRecord(this.entry, kind === 'idle' ? FLOW_EVENTS.endIdle : FLOW_EVENTS.endFlush, { flags: 0, reply: false, egress: false }));
    this.entry = undefined;
  }

  private flowRecord(st: IfState, events: number, pkt: { flags: number; reply: boolean; egress: boolean }): FlowRecord {
    const sim = this.sim;
    return {
      kind: 'flow', timeNs: sim.nowNs, ifindex: st.ifindex, family: this.family, proto: this.proto,
      src: this.client.ip, dst: this.server.ip, sport: this.client.port, dport: this.server.port, events,
      firstNs: st.firstNs, lastNs: st.lastNs, bytesOrig: st.bytes[0], bytesReply: st.bytes[1], packetsOrig: st.packets[0],
      packetsReply: st.packets[1], tcpFlagsOrig: st.flags[0], tcpFlagsReply: st.flags[1], pktFlags: pkt.flags,
      pktReply: pkt.reply, pktEgress: pkt.egress, icmpType: 0, icmpCode: 0, origEgress: st.origEgress,
    };
  }

  /** Totals at the interface that owns the connection (what the collector should have counted). */
  totals(): { bytesOrig: number; bytesReply: number; packetsOrig: number; packetsReply: number } | undefined {
    const st = this.entry;
    return st && { bytesOrig: st.bytes[0], bytesReply: st.bytes[1], packetsOrig: st.packets[0], packetsReply: st.packets[1] };
  }
}

/** A DNS message for tests: a query, or an answer with A/AAAA records and CNAMEs. */
export function dnsMessage(opts: { id: number; name: string; qtype?: number; response?: boolean; rcode?: number; answers?: { ip?: string; cname?: string; ttl?: number }[] }): Buffer {
  const labels = (name: string): Buffer => Buffer.concat([...name.replace(/\.$/, '').split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const hdr = Buffer.alloc(12);
  hdr.writeUInt16BE(opts.id, 0);
  hdr.writeUInt16BE(opts.response ? 0x8180 | (opts.rcode ?? 0) : 0x0100, 2);
  hdr.writeUInt16BE(1, 4);
  hdr.writeUInt16BE(opts.response ? opts.answers?.length ?? 0 : 0, 6);
  const q = Buffer.concat([labels(opts.name), Buffer.from([0, opts.qtype ?? 1, 0, 1])]);
  const answers = (opts.response ? opts.answers ?? [] : []).map((a) => {
    let type = 5;
    let rdata: Buffer;
    if (a.ip) {
      const v6 = a.ip.includes(':');
      type = v6 ? 28 : 1;
      rdata = v6 ? ipv6Bytes(a.ip) : Buffer.from(a.ip.split('.').map(Number));
    } else {
      rdata = labels(a.cname ?? '');
    }
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(a.ttl ?? 60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([hdr, q, ...answers]);
}

function ipv6Bytes(text: string): Buffer {
  const [head = '', tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}
