/**
 * L7 from payload snippets: picks the parser by the server's port, pairs responses with their requests per
 * connection (DNS by id, Kafka by correlation id, HTTP/1.x in order), measures latency from the packets' kernel
 * timestamps, and teaches the DNS cache the answers. Malformed and truncated payloads are counted and skipped.
 */
import type { PayloadRecord } from '../../bpf/decode.js';
import type { DNS, Layer7 } from '../../schemas/flow-types.js';
import type { Conn, ConnectionTable } from '../connections.js';
import type { DnsCache } from '../enrich/dns-cache.js';
import { formatIpBytes } from '../summary.js';
import { dnsTypeName, parseDns, type DnsMessage } from './dns.js';
import { parseHttp, requestUrl } from './http.js';
import { kafkaApiName, parseKafka } from './kafka.js';

export type L7Protocol = 'dns' | 'http' | 'kafka';

export interface L7Config {
  dnsPorts: number[];
  httpPorts: number[];
  kafkaPorts: number[];
  httpHeaders: string[];
  pendingTimeoutMs: number;
  maxPending: number;
}

/** An L7 event is the flow's Layer7 record itself (made once, in the field order of Layer7: one object shape). */
export type L7Event = Layer7;

export interface L7Stats {
  /** Messages turned into events, by protocol. */
  parsed: Record<L7Protocol, number>;
  malformed: Record<L7Protocol, number>;
  truncated: Record<L7Protocol, number>;
  /** Responses whose request was not seen (or expired). */
  unmatched: number;
  /** Requests whose response never came within pendingTimeout. */
  expired: number;
  /** Requests not kept for pairing because maxPending was reached. */
  pendingOverflow: number;
  retransmits: number;
}

export function newL7Stats(): L7Stats {
  const z = (): Record<L7Protocol, number> => ({ dns: 0, http: 0, kafka: 0 });
  return { parsed: z(), malformed: z(), truncated: z(), unmatched: 0, expired: 0, pendingOverflow: 0, retransmits: 0 };
}

interface HttpPending { method: string; url: string }
interface KafkaPending { apiKey: string; apiVersion: number; topic: string; clientId: string }
interface DnsPending { query: string }

const OBSERVATION_SOURCE = 'lookback';
const U32 = 0x100000000;

export class L7Tracker {
  readonly stats: L7Stats = newL7Stats();
  private readonly dnsPorts: Set<number>;
  private readonly httpPorts: Set<number>;
  private readonly kafkaPorts: Set<number>;
  private readonly headers: Set<string>;
  private pendingCount = 0;

  constructor(private readonly cfg: L7Config, private readonly dnsCache: DnsCache) {
    this.dnsPorts = new Set(cfg.dnsPorts);
    this.httpPorts = new Set(cfg.httpPorts);
    this.kafkaPorts = new Set(cfg.kafkaPorts);
    this.headers = new Set(cfg.httpHeaders.map((h) => h.toLowerCase()));
  }

  /** Which parser a connection's payloads go to, by protocol and the responder's port. */
  protocolFor(proto: number, serverPort: number): L7Protocol | null {
    if (this.dnsPorts.has(serverPort) && (proto === 17 || proto === 6)) return 'dns';
    if (proto !== 6) return null;
    if (this.httpPorts.has(serverPort)) return 'http';
    if (this.kafkaPorts.has(serverPort)) return 'kafka';
    return null;
  }

  /**
   * One payload seen at the connection's owner interface. reply: it went from the responder to the initiator.
   * Returns the L7 event it makes, or null.
   */
  onPayload(p: PayloadRecord, conn: Conn, reply: boolean, nowMs: number): L7Event | null {
    const serverPort = reply ? p.sport : p.dport;
    const protocol = this.protocolFor(p.proto, serverPort);
    if (protocol === null || p.data.length === 0) return null;
    if (p.proto === 6) {
      // A segment sent again carries the same sequence number: parse it once.
      if ((reply ? conn.seqReply : conn.seqOrig) === p.seq) {
        this.stats.retransmits++;
        return null;
      }
      if (reply) conn.seqReply = p.seq;
      else conn.seqOrig = p.seq;
    }
    switch (protocol) {
      case 'dns': return this.dns(p, conn, nowMs);
      case 'http': return this.http(p, conn, reply, nowMs);
      case 'kafka': return this.kafka(p, conn, reply, nowMs);
    }
  }

  /** A request awaiting its response: in the connection's first-pending fields when free, else in its Map. */
  private remember(conn: Conn, id: number, timeNs: number, data: unknown): void {
    if (this.pendingCount >= this.cfg.maxPending) {
      this.stats.pendingOverflow++;
      return;
    }
    if (conn.firstPending && conn.firstPendingId === id) {
      // The same id again replaces its request, as Map#set would.
      conn.firstPendingTimeNs = timeNs;
      conn.firstPendingData = data;
      return;
    }
    const map = conn.pending;
    if (!conn.firstPending && (map === null || !map.has(id))) {
      conn.firstPending = true;
      conn.firstPendingId = id;
      conn.firstPendingTimeNs = timeNs;
      conn.firstPendingData = data;
      this.pendingCount++;
      return;
    }
    conn.pending ??= new Map();
    if (!conn.pending.has(id)) this.pendingCount++;
    conn.pending.set(id, { timeNs, data });
  }

  /** Empties the connection's first-pending fields (the data goes, so the request can be collected). */
  private forgetFirst(conn: Conn): void {
    conn.firstPending = false;
    conn.firstPendingData = null;
    this.pendingCount--;
  }

  /** The time of the request take() returned last (a field: a { timeNs, data } pair per response would be garbage). */
  private takenTimeNs = 0;

  /** Removes and returns the data of the request `id` (its time in takenTimeNs), or undefined when none. */
  private take(conn: Conn, id: number): unknown {
    if (conn.firstPending && conn.firstPendingId === id) {
      const data = conn.firstPendingData;
      this.takenTimeNs = conn.firstPendingTimeNs;
      this.forgetFirst(conn);
      return data;
    }
    const hit = conn.pending?.get(id);
    if (hit === undefined) return undefined;
    conn.pending!.delete(id);
    this.pendingCount--;
    this.takenTimeNs = hit.timeNs;
    return hit.data;
  }

  private dns(p: PayloadRecord, conn: Conn, nowMs: number): L7Event | null {
    let body = p.data;
    if (p.proto === 6) {
      // DNS over TCP: a 2-byte length before each message.
      if (body.length < 2) return this.fail('dns', 'truncated');
      body = body.subarray(2);
    }
    const msg = parseDns(body);
    if (msg === 'malformed' || msg === 'truncated') return this.fail('dns', msg);
    if (msg.truncated) this.stats.truncated.dns++;
    this.stats.parsed.dns++;
    if (!msg.response) {
      this.remember(conn, msg.id, p.timeNs, { query: msg.query } satisfies DnsPending);
      return { type: 'REQUEST', latency_ns: 0, dns: dnsRecord(msg, false), http: null, kafka: null };
    }
    const req = this.take(conn, msg.id);
    if (req === undefined) this.stats.unmatched++;
    const latency = req !== undefined ? Math.max(0, p.timeNs - this.takenTimeNs) : 0;
    const record = dnsRecord(msg, true);
    if (msg.rcode === 0 && msg.query) {
      for (const a of msg.answers) if (a.ip) this.dnsCache.learn(formatIpBytes(a.ip), msg.query, a.ttl, nowMs);
    }
    return { type: 'RESPONSE', latency_ns: latency, dns: record, http: null, kafka: null };
  }

  private http(p: PayloadRecord, conn: Conn, reply: boolean, _nowMs: number): L7Event | null {
    const parsed = parseHttp(p.data, this.headers);
    if (parsed === 'skip') return null;
    if (parsed === 'malformed' || parsed === 'truncated') return this.fail('http', parsed);
    if (parsed.kind === 'request' && !reply) {
      this.stats.parsed.http++;
      const url = requestUrl(parsed, p.dst, p.dport);
      this.remember(conn, conn.httpNext++, p.timeNs, { method: parsed.method, url } satisfies HttpPending);
      return { type: 'REQUEST', latency_ns: 0, dns: null, http: { code: 0, method: parsed.method, url, protocol: parsed.protocol, headers: parsed.headers }, kafka: null };
    }
    if (parsed.kind === 'response' && reply) {
      // 1xx responses are interim: the final one answers the request.
      if (parsed.code < 200) return null;
      this.stats.parsed.http++;
      let r: HttpPending | undefined;
      while (conn.httpDone < conn.httpNext && r === undefined) r = this.take(conn, conn.httpDone++) as HttpPending | undefined;
      if (r === undefined) this.stats.unmatched++;
      return {
        type: 'RESPONSE', latency_ns: r !== undefined ? Math.max(0, p.timeNs - this.takenTimeNs) : 0, dns: null,
        http: { code: parsed.code, method: r?.method ?? '', url: r?.url ?? '', protocol: parsed.protocol, headers: parsed.headers }, kafka: null,
      };
    }
    return this.fail('http', 'malformed');
  }

  private kafka(p: PayloadRecord, conn: Conn, reply: boolean, _nowMs: number): L7Event | null {
    // Only a segment that starts where the previous message ended can start a message.
    const next = reply ? conn.nextReply : conn.nextOrig;
    if (next >= 0 && p.seq !== next) {
      const ahead = (p.seq - next + U32) % U32;
      if (ahead >= U32 / 2) return null; // before `next`: inside a message already seen starting
    }
    const parsed = parseKafka(p.data, !reply);
    if (parsed === 'skip') return null;
    if (parsed === 'malformed' || parsed === 'truncated') return this.fail('kafka', parsed);
    const end = (p.seq + parsed.size) % U32;
    if (reply) conn.nextReply = end;
    else conn.nextOrig = end;
    this.stats.parsed.kafka++;
    if (parsed.kind === 'request') {
      const apiKey = kafkaApiName(parsed.apiKey);
      this.remember(conn, parsed.correlationId, p.timeNs, { apiKey, apiVersion: parsed.apiVersion, topic: parsed.topic, clientId: parsed.clientId } satisfies KafkaPending);
      return {
        type: 'REQUEST', latency_ns: 0, dns: null, http: null,
        kafka: { error_code: 0, api_version: parsed.apiVersion, api_key: apiKey, correlation_id: parsed.correlationId, topic: parsed.topic, client_id: parsed.clientId },
      };
    }
    const r = this.take(conn, parsed.correlationId) as KafkaPending | undefined;
    if (r === undefined) {
      // Without its request a response says nothing useful (not even its API): count it, make no event.
      this.stats.unmatched++;
      return null;
    }
    return {
      type: 'RESPONSE', latency_ns: Math.max(0, p.timeNs - this.takenTimeNs), dns: null, http: null,
      kafka: { error_code: 0, api_version: r.apiVersion, api_key: r.apiKey, correlation_id: parsed.correlationId, topic: r.topic, client_id: r.clientId },
    };
  }

  private fail(protocol: L7Protocol, why: 'malformed' | 'truncated'): null {
    this.stats[why][protocol]++;
    return null;
  }

  /** Forgets requests older than pendingTimeout (their responses will not come). */
  expire(table: ConnectionTable, nowMonoNs: number): void {
    const limit = nowMonoNs - this.cfg.pendingTimeoutMs * 1e6;
    for (const conn of table.withPending()) {
      if (conn.firstPending && conn.firstPendingTimeNs < limit) {
        this.forgetFirst(conn);
        this.stats.expired++;
      }
      if (conn.pending === null) continue;
      for (const [id, p] of conn.pending) {
        if (p.timeNs < limit) {
          conn.pending!.delete(id);
          this.pendingCount--;
          this.stats.expired++;
        }
      }
    }
  }

  /** A connection went away: its pending requests with it. */
  dropConnection(conn: Conn): void {
    if (conn.firstPending) this.forgetFirst(conn);
    if (conn.pending) {
      this.pendingCount -= conn.pending.size;
      conn.pending = null;
    }
  }

  get pending(): number {
    return this.pendingCount;
  }
}

function dnsRecord(msg: DnsMessage, response: boolean): DNS {
  const qtypes = msg.qtypes.map(dnsTypeName);
  if (!response) {
    return { query: msg.query, ips: [], ttl: 0, cnames: [], observation_source: OBSERVATION_SOURCE, rcode: 0, qtypes, rrtypes: [] };
  }
  const ips: Buffer[] = [];
  const cnames: string[] = [];
  const rrtypes: string[] = [];
  let ttl = -1;
  for (const a of msg.answers) {
    rrtypes.push(dnsTypeName(a.type));
    if (a.ip) ips.push(a.ip);
    if (a.cname) cnames.push(a.cname);
    if (ttl < 0 || a.ttl < ttl) ttl = a.ttl;
  }
  return { query: msg.query, ips, ttl: Math.max(ttl, 0), cnames, observation_source: OBSERVATION_SOURCE, rcode: msg.rcode, qtypes, rrtypes };
}
