/**
 * Probe records -> flows with Hubble's meaning (Hubble's parser/threefour and parser/seven, for our records).
 *
 * Emission follows Hubble with monitor aggregation: one event per connection state change seen at the owning
 * interface (NEW on the first packet, ESTABLISHED on the responder's SYN, an UPDATE on the first FIN, CLOSED when
 * both sides sent FIN, RESET on a RST), a periodic UPDATE for long-lived connections (the probe's active timeout),
 * a final event when the probe forgets the connection (EXPIRED, or an UPDATE carrying the last packets of a
 * connection already closed), every drop, and every L7 request and response. Events caused by a packet are
 * oriented like that packet (source = its sender, is_reply when it goes from the side that accepted the
 * connection); final events are oriented from the initiator. Counters are deltas since the previous event of the
 * connection, so every packet is counted in exactly one event.
 */
import { FLOW_EVENTS, type DropRecord, type FlowRecord, type PayloadRecord, type ProbeRecord, type TcpRecord } from '../bpf/decode.js';
import {
  deepFreeze, type CiliumEventType, type Endpoint, type Flow, type FlowEvent, type IP,
  type NetworkInterface, type Service, type TraceReason, type TrafficDirection,
} from '../schemas/flow-types.js';
import { ConnectionTable, type Conn } from './connections.js';
import { ciliumDropCode, ciliumDropReason } from './drop-reasons.js';
import type { DnsCache } from './enrich/dns-cache.js';
import type { EndpointResolver } from './enrich/types.js';
import { observationPoint, senderIsLocal, traceSubType, type InterfaceTable } from './interfaces.js';
import { IpBytesCache } from './ip.js';
import { L7Tracker, type L7Config, type L7Event } from './l7/tracker.js';
import { dnsSummary, httpSummary, kafkaSummary, l4Summary } from './summary.js';
import { UuidV7 } from './uuid.js';

export interface FlowBuilderOptions {
  nodeName: string;
  cluster: string;
  nodeLabels: string[];
  emitterVersion: string;
  l7: L7Config;
  connectionTableSize: number;
  endedGraceMs: number;
  /** Connections not heard of this long are forgotten (longer than the probe's idle timeout). */
  connectionIdleMs: number;
}

export interface FlowBuilderDeps {
  interfaces: InterfaceTable;
  resolver: EndpointResolver;
  dnsCache: DnsCache;
  /** Epoch ns at CLOCK_MONOTONIC 0 (the records' clock). */
  bootTimeNs: bigint;
  /** Network namespace of the node's interfaces: drops elsewhere happened inside a pod. */
  hostNetns: number;
}

export interface BuilderStats {
  records: Record<ProbeRecord['kind'], number>;
  /** Records of a connection seen at a second interface (one packet, one observation). */
  duplicates: number;
  flows: number;
  kernelLost: number;
  overflows: number;
  /** Drop records about neither a tracked connection nor a local pod (other namespaces, loopback). */
  dropsIgnored: number;
}

export interface LostNotice {
  source: 'PERF_EVENT_RING_BUFFER';
  count: number;
  timeNs: bigint;
}

/** Frozen event types by type and sub_type (arrays for the usual small numbers, a Map for any other). */
const EVENT_TYPES: (CiliumEventType | undefined)[][] = [];
const OTHER_EVENT_TYPES = new Map<number, CiliumEventType>();
function eventType(type: number, sub: number): CiliumEventType {
  if (type >= 0 && type < 256 && sub >= 0 && sub < 256 && (type | 0) === type && (sub | 0) === sub) {
    const subs = (EVENT_TYPES[type] ??= []);
    return (subs[sub] ??= Object.freeze({ type, sub_type: sub }));
  }
  const k = type * 65536 + sub;
  let e = OTHER_EVENT_TYPES.get(k);
  if (e === undefined) OTHER_EVENT_TYPES.set(k, (e = Object.freeze({ type, sub_type: sub })));
  return e;
}

/** base()'s placeholder, replaced by every caller. */
const NO_EVENT_TYPE = eventType(0, 0);
const TRACE = 4;
const DROP = 1;
const L7_ACCESS_LOG = 129;
const EMPTY_NAMES: string[] = deepFreeze([]);
const END = FLOW_EVENTS.endIdle | FLOW_EVENTS.endFlush;
const TCP_FIN = 0x01;
/** epochNs()'s scratch: a 64-bit value as its two 32-bit halves (little-endian, as every platform Node runs on). */
const EPOCH = new BigUint64Array(1);
const EPOCH_HALVES = new Uint32Array(EPOCH.buffer);

export class FlowBuilder {
  readonly conns: ConnectionTable;
  readonly l7: L7Tracker;
  readonly stats: BuilderStats = {
    records: { flow: 0, payload: 0, drop: 0, tcp: 0, overflow: 0, lost: 0 },
    duplicates: 0, flows: 0, kernelLost: 0, overflows: 0, dropsIgnored: 0,
  };
  private readonly ips = new IpBytesCache();
  private readonly uuids = new UuidV7();
  private readonly emitter: Flow['emitter'];
  private readonly nodeLabels: string[];
  private readonly bootMs: number;
  /** bootTimeNs in 32-bit halves, for epochNs(). */
  private readonly bootLo: number;
  private readonly bootHi: number;
  private nowMs = 0;
  /** The resolver tells when its answers change: each connection keeps its ends' enrichment (see base()). */
  private readonly cacheEnrichment: boolean;
  /** Kernel-loss notices since the last take (the pipeline turns them into LostEvents). */
  lost: LostNotice[] = [];

  constructor(private readonly opts: FlowBuilderOptions, private readonly deps: FlowBuilderDeps) {
    this.conns = new ConnectionTable({ maxEntries: opts.connectionTableSize, endedGraceMs: opts.endedGraceMs, idleMs: opts.connectionIdleMs });
    this.l7 = new L7Tracker(opts.l7, deps.dnsCache);
    this.emitter = deepFreeze({ name: 'lookback', version: opts.emitterVersion });
    this.nodeLabels = deepFreeze([...opts.nodeLabels]);
    this.cacheEnrichment = typeof deps.resolver.generation === 'function';
    this.bootMs = Number(deps.bootTimeNs / 1_000_000n);
    if (deps.bootTimeNs < 0n || deps.bootTimeNs >= 2n ** 63n) throw new Error(`bootTimeNs out of range: ${deps.bootTimeNs}`);
    this.bootLo = Number(deps.bootTimeNs & 0xffffffffn);
    this.bootHi = Number(deps.bootTimeNs >> 32n);
  }

  /** Turns one batch of records into flows, appended to `out`. */
  process(records: readonly ProbeRecord[], out: Flow[], nowMs = Date.now()): void {
    this.nowMs = nowMs;
    const n = this.stats.records;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      switch (r.kind) {
        case 'flow': n.flow++; this.onFlow(r, out); break;
        case 'payload': n.payload++; this.onPayload(r, out); break;
        case 'drop': n.drop++; this.onDrop(r, out); break;
        case 'tcp': n.tcp++; this.onTcp(r); break;
        case 'lost':
          n.lost++;
          this.stats.kernelLost += r.lost;
          this.lost.push({ source: 'PERF_EVENT_RING_BUFFER', count: r.lost, timeNs: this.epochNs(r.timeNs) });
          break;
        case 'overflow': n.overflow++; this.stats.overflows++; break;
      }
    }
  }

  /** Housekeeping: forget ended and idle connections, expire L7 requests. */
  maintain(nowMs = Date.now()): void {
    this.conns.gc(nowMs);
    const monoNowNs = (nowMs - this.bootMs) * 1e6;
    this.l7.expire(this.conns, monoNowNs);
  }

  /**
   * Epoch ns of a CLOCK_MONOTONIC time, as Flow's bigint. Added as two 32-bit halves in number arithmetic and read
   * back through a BigUint64Array: one BigInt allocated, where bootTimeNs + BigInt(monoNs) makes two and adds them
   * in BigInt arithmetic. Exact for any epoch time after 1970 (monoNs is a safe integer, >= 0).
   */
  private epochNs(monoNs: number): bigint {
    // monoNs % 2^32 by a multiply and a subtraction (exact here) rather than fmod.
    const hi = Math.floor(monoNs / 4294967296);
    const lo = this.bootLo + (monoNs - hi * 4294967296);
    const carry = lo >= 4294967296 ? 1 : 0;
    EPOCH_HALVES[0] = lo - carry * 4294967296;
    EPOCH_HALVES[1] = this.bootHi + hi + carry;
    return EPOCH[0] as bigint;
  }

  private onFlow(r: FlowRecord, out: Flow[]): void {
    const isNew = (r.events & FLOW_EVENTS.new) !== 0;
    let conn = this.conns.get(r.proto, r.src, r.sport, r.dst, r.dport);
    if (conn === undefined) {
      conn = this.conns.create(r.proto, r.src, r.sport, r.dst, r.dport, r.ifindex, this.nowMs);
    } else if (r.ifindex !== conn.owner && !isNew) {
      // Another interface's record of a connection it does not own: the probe counts each connection at one
      // interface, so this is a late or repeated report; the owner's records already hold its packets.
      this.stats.duplicates++;
      return;
    } else if (conn.ended || isNew) {
      // The same 5-tuple again after its end, or the kernel's entry started over (evicted and made again, perhaps
      // at the other interface, which then owns it): count from zero.
      this.l7.dropConnection(conn);
      this.conns.reset(conn, r.ifindex, this.nowMs);
    }
    conn.lastSeenMs = this.nowMs;
    const iface = this.deps.interfaces.get(r.ifindex);
    const isEnd = (r.events & END) !== 0;
    // Who opened it: the initiator's packets pass this interface at egress or ingress (the probe remembers).
    conn.localInitiator = senderIsLocal(iface.cls, r.origEgress);

    // Deltas since the previous event of this connection; a counter that went back means the kernel entry restarted.
    let dBytesOrig = r.bytesOrig - conn.bytesOrig;
    let dBytesReply = r.bytesReply - conn.bytesReply;
    let dPktsOrig = r.packetsOrig - conn.packetsOrig;
    let dPktsReply = r.packetsReply - conn.packetsReply;
    if (dBytesOrig < 0 || dBytesReply < 0 || dPktsOrig < 0 || dPktsReply < 0) {
      dBytesOrig = r.bytesOrig; dBytesReply = r.bytesReply; dPktsOrig = r.packetsOrig; dPktsReply = r.packetsReply;
    }
    conn.bytesOrig = r.bytesOrig;
    conn.bytesReply = r.bytesReply;
    conn.packetsOrig = r.packetsOrig;
    conn.packetsReply = r.packetsReply;

    let event: FlowEvent;
    const ev = r.events;
    if (ev & FLOW_EVENTS.new) {
      event = 'NEW';
    } else if (ev & FLOW_EVENTS.rst) {
      event = 'RESET';
      conn.state = 'reset';
    } else if (ev & FLOW_EVENTS.fin) {
      if (r.tcpFlagsOrig & r.tcpFlagsReply & TCP_FIN) {
        event = 'CLOSED';
        conn.state = 'closed';
      } else {
        event = 'UPDATE';
      }
    } else if (ev & FLOW_EVENTS.synAck) {
      event = 'ESTABLISHED';
    } else if (isEnd) {
      conn.ended = true;
      this.l7.dropConnection(conn);
      const moved = dPktsOrig + dPktsReply > 0;
      if (conn.state !== 'open' || (ev & FLOW_EVENTS.endFlush)) {
        // Closed already: only the last packets (the final ACK) are left to count.
        if (!moved) return;
        event = 'UPDATE';
      } else {
        event = 'EXPIRED';
      }
    } else {
      event = 'UPDATE';
    }
    if (isEnd) conn.ended = true;

    // Orientation: a packet event like its packet, a final event from the initiator.
    const reply = !isEnd && r.pktReply;
    // A final event has no packet: it is observed where the initiator's packets are.
    const pktEgress = isEnd ? r.origEgress : r.pktEgress;
    const point = observationPoint(iface.cls, pktEgress);
    const tcpFlags = isEnd ? r.tcpFlagsOrig | r.tcpFlagsReply : r.pktFlags;
    const f = this.base(
      r.timeNs, r.proto, this.connIp(conn, reply, r.family),
      reply ? r.dst : r.src, reply ? r.dport : r.sport, reply ? r.src : r.dst, reply ? r.sport : r.dport, conn, reply,
    );
    f.flow_type = 'L3_L4';
    f.verdict = 'FORWARDED';
    f.flow_event = event;
    f.tcp_flags = r.proto === 6 ? tcpFlags : 0;
    f.icmp_type = r.icmpType;
    f.icmp_code = r.icmpCode;
    f.traffic_direction = direction(conn.localInitiator);
    f.is_reply = reply;
    f.trace_observation_point = point;
    f.trace_reason = traceReason(isEnd, reply, event);
    f.interface = iface.flowInterface;
    f.event_type = eventType(TRACE, traceSubType(point));
    f.summary = l4Summary(r.proto, r.family, f.tcp_flags, r.icmpType, r.icmpCode);
    if (conn.firstMonoNs !== r.firstNs) {
      conn.firstMonoNs = r.firstNs;
      conn.firstSeen = this.epochNs(r.firstNs);
    }
    f.first_seen_ns = conn.firstSeen;
    f.last_seen_ns = r.lastNs === r.timeNs ? f.time_ns : this.epochNs(r.lastNs);
    f.bytes_fwd = reply ? dBytesReply : dBytesOrig;
    f.packets_fwd = reply ? dPktsReply : dPktsOrig;
    f.bytes_rev = reply ? dBytesOrig : dBytesReply;
    f.packets_rev = reply ? dPktsOrig : dPktsReply;
    f.tcp_srtt_us = conn.srttUs;
    out.push(f);
    this.stats.flows++;
  }

  private onPayload(p: PayloadRecord, out: Flow[]): void {
    let conn = this.conns.lookupPacket(p.proto, p.src, p.sport, p.dst, p.dport);
    let reply = this.conns.lastReply;
    if (conn === undefined) {
      // No flow record yet (it was lost): the receiver of a packet to an L7 server port is the responder.
      const toServer = this.l7.protocolFor(p.proto, p.dport) !== null;
      conn = toServer
        ? this.conns.create(p.proto, p.src, p.sport, p.dst, p.dport, p.ifindex, this.nowMs)
        : this.conns.create(p.proto, p.dst, p.dport, p.src, p.sport, p.ifindex, this.nowMs);
      reply = !toServer;
    } else if (conn.owner !== p.ifindex) {
      this.stats.duplicates++;
      return;
    }
    const l7 = this.l7.onPayload(p, conn, reply, this.nowMs);
    if (l7 === null) return;
    out.push(this.l7Flow(p, conn, reply, l7));
  }

  private l7Flow(p: PayloadRecord, conn: Conn, reply: boolean, e: L7Event): Flow {
    const f = this.base(p.timeNs, p.proto, this.connIp(conn, reply, p.family), p.src, p.sport, p.dst, p.dport, conn, reply);
    f.flow_type = 'L7';
    f.verdict = 'FORWARDED';
    f.l7 = e;
    f.traffic_direction = direction(conn.localInitiator);
    f.is_reply = e.type === 'RESPONSE';
    f.event_type = eventType(L7_ACCESS_LOG, 0);
    f.interface = this.deps.interfaces.get(p.ifindex).flowInterface;
    f.summary = e.dns ? dnsSummary(e.type, e.dns) : e.http ? httpSummary(e.type, e.http, e.latency_ns) : e.kafka ? kafkaSummary(e.type, e.kafka) : '';
    f.tcp_srtt_us = conn.srttUs;
    this.stats.flows++;
    return f;
  }

  private onDrop(d: DropRecord, out: Flow[]): void {
    const hit = d.proto === 6 || d.proto === 17 || d.proto === 132 || d.proto === 1 || d.proto === 58
      ? this.conns.lookupPacket(d.proto, d.src, d.sport, d.dst, d.dport)
      : undefined;
    const hitReply = this.conns.lastReply;
    // The kernel reports every drop on the machine: loopback, other containers' namespaces, the host's own
    // sockets. Hubble sees only its endpoints' traffic, so keep a drop when it concerns a connection we track or
    // an address of this node's pods; count the rest.
    if (!hit && !this.deps.resolver.isLocal(d.src) && !this.deps.resolver.isLocal(d.dst)) {
      this.stats.dropsIgnored++;
      return;
    }
    const f = this.base(d.timeNs, d.proto, hit ? this.connIp(hit, hitReply, d.family) : this.newIp(d.src, d.dst, d.family), d.src, d.sport, d.dst, d.dport, hit ?? null, hitReply);
    const reason = ciliumDropReason(d.reasonName);
    f.flow_type = 'L3_L4';
    f.verdict = 'DROPPED';
    f.drop_reason_desc = reason;
    f.drop_reason_kernel = d.reasonName;
    f.tcp_flags = d.proto === 6 ? d.tcpFlags : 0;
    f.icmp_type = d.icmpType;
    f.icmp_code = d.icmpCode;
    // Hubble: the packet left the endpoint where it was dropped (egress) or was on its way into it (ingress).
    f.traffic_direction = this.deps.resolver.isLocal(d.dst) ? 'INGRESS' : this.deps.resolver.isLocal(d.src) ? 'EGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN';
    f.is_reply = hit ? hitReply : d.proto === 6 && (d.tcpFlags & 0x12) === 0x02 ? false : null;
    f.interface = d.netns === this.deps.hostNetns && d.ifindex > 0 ? this.deps.interfaces.get(d.ifindex).flowInterface : null;
    f.event_type = eventType(DROP, ciliumDropCode(reason));
    f.summary = l4Summary(d.proto, d.family, f.tcp_flags, d.icmpType, d.icmpCode);
    f.bytes_fwd = d.pktLen;
    f.packets_fwd = 1;
    if (hit) f.tcp_srtt_us = hit.srttUs;
    out.push(f);
    this.stats.flows++;
  }

  private onTcp(t: TcpRecord): void {
    if (t.srttUs <= 0) return;
    const conn = this.conns.lookupPacket(t.proto || 6, t.src, t.sport, t.dst, t.dport);
    if (conn) conn.srttUs = t.srttUs;
  }

  /**
   * Flow.ip of a connection's packets one way (reply: from the responder), made once per connection and direction
   * and shared by its flows: frozen, so no consumer can change it under another flow.
   */
  private connIp(conn: Conn, reply: boolean, family: 4 | 6): IP {
    if (reply) return (conn.ipReply ??= this.newIp(conn.dst, conn.src, family));
    return (conn.ipOrig ??= this.newIp(conn.src, conn.dst, family));
  }

  private newIp(src: string, dst: string, family: 4 | 6): IP {
    return Object.freeze({ source: this.ips.get(src), destination: this.ips.get(dst), source_xlated: null, ip_version: family === 6 ? 'IPv6' : 'IPv4', encrypted: false });
  }

  /**
   * The fields every event has, for a packet from src to dst. conn: the connection it belongs to (src is its
   * responder when reply), whose cached enrichment is used while still valid; null for none.
   */
  private base(
    timeNs: number, proto: number, ip: IP, src: string, sport: number, dst: string, dport: number, conn: Conn | null, reply: boolean,
  ): Flow {
    const r = this.deps.resolver;
    const dns = this.deps.dnsCache;
    const t = this.epochNs(timeNs);
    const ms = this.bootMs + timeNs / 1e6;
    const hasPorts = proto === 6 || proto === 17 || proto === 132;
    let source: Endpoint, destination: Endpoint, sourceService: Service | null, destinationService: Service | null;
    let sourceNames: string[], destinationNames: string[];
    if (conn !== null && hasPorts && this.cacheEnrichment) {
      // The connection's ends are src and dst (or dst and src for a reply): the same answers flow after flow,
      // looked up again only when the store or the DNS cache changed (or a DNS name expired).
      const gen = r.generation!();
      if (conn.enrichGen !== gen) {
        conn.srcEndpoint = r.endpoint(conn.src);
        conn.dstEndpoint = r.endpoint(conn.dst);
        conn.srcService = r.service(conn.src, conn.sport, conn.proto);
        conn.dstService = r.service(conn.dst, conn.dport, conn.proto);
        conn.enrichGen = gen;
      }
      const nowMs = this.nowMs;
      if (conn.namesGen !== dns.generation || nowMs >= conn.namesUntil) {
        const a = dns.names(conn.src, nowMs);
        const aUntil = dns.lastValidUntil;
        const b = dns.names(conn.dst, nowMs);
        conn.srcNames = a.length ? (a as string[]) : EMPTY_NAMES;
        conn.dstNames = b.length ? (b as string[]) : EMPTY_NAMES;
        conn.namesUntil = Math.min(aUntil, dns.lastValidUntil);
        conn.namesGen = dns.generation;
      }
      source = reply ? conn.dstEndpoint! : conn.srcEndpoint!;
      destination = reply ? conn.srcEndpoint! : conn.dstEndpoint!;
      sourceService = reply ? conn.dstService : conn.srcService;
      destinationService = reply ? conn.srcService : conn.dstService;
      sourceNames = reply ? conn.dstNames : conn.srcNames;
      destinationNames = reply ? conn.srcNames : conn.dstNames;
    } else {
      source = r.endpoint(src);
      destination = r.endpoint(dst);
      const srcNames = dns.names(src, this.nowMs);
      const dstNames = dns.names(dst, this.nowMs);
      sourceService = hasPorts ? r.service(src, sport, proto) : null;
      destinationService = hasPorts ? r.service(dst, dport, proto) : null;
      sourceNames = srcNames.length ? (srcNames as string[]) : EMPTY_NAMES;
      destinationNames = dstNames.length ? (dstNames as string[]) : EMPTY_NAMES;
    }
    return {
      time_ns: t,
      uuid: this.uuids.next(ms),
      emitter: this.emitter,
      node_name: this.opts.nodeName,
      node_labels: this.nodeLabels,
      cluster_name: this.opts.cluster,
      flow_type: 'L3_L4',
      verdict: 'FORWARDED',
      drop_reason_desc: null,
      drop_reason_kernel: null,
      flow_event: 'FLOW_EVENT_UNKNOWN',
      ethernet: null,
      ip,
      l4_protocol: proto,
      source_port: hasPorts ? sport : 0,
      destination_port: hasPorts ? dport : 0,
      tcp_flags: 0,
      icmp_type: 0,
      icmp_code: 0,
      source,
      destination,
      source_service: sourceService,
      destination_service: destinationService,
      source_names: sourceNames,
      destination_names: destinationNames,
      l7: null,
      traffic_direction: 'TRAFFIC_DIRECTION_UNKNOWN',
      is_reply: null,
      trace_observation_point: 'UNKNOWN_POINT',
      trace_reason: 'TRACE_REASON_UNKNOWN',
      interface: null as NetworkInterface | null,
      event_type: NO_EVENT_TYPE,
      summary: '',
      first_seen_ns: t,
      last_seen_ns: t,
      bytes_fwd: 0,
      packets_fwd: 0,
      bytes_rev: 0,
      packets_rev: 0,
      sampling_rate: 1,
      socket_cookie: null,
      cgroup_id: null,
      tcp_srtt_us: null,
    };
  }
}

function direction(localInitiator: boolean | null): TrafficDirection {
  return localInitiator === null ? 'TRAFFIC_DIRECTION_UNKNOWN' : localInitiator ? 'EGRESS' : 'INGRESS';
}

function traceReason(isEnd: boolean, reply: boolean, event: FlowEvent): TraceReason {
  if (isEnd) return 'TRACE_REASON_UNKNOWN';
  if (reply) return 'REPLY';
  return event === 'NEW' ? 'NEW' : 'ESTABLISHED';
}
