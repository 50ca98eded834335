/**
 * The collector's view of connections, keyed by the 5-tuple oriented from the initiator (no interface in the key).
 * The probe keeps one flow entry per connection and interface, so a connection between two pods of this node is
 * reported at both pods' host-side interfaces; the first interface to report it owns it and the other's records
 * are duplicates (one packet, one observation). Per connection it keeps what turns the probe's cumulative
 * counters into deltas, who opened it (traffic direction), its lifecycle and the L7 requests awaiting a response.
 */

import type { IP } from '../schemas/flow-types.js';

export type ConnState = 'open' | 'closed' | 'reset';

export interface PendingL7 {
  timeNs: number;
  /** What the response copies from its request. */
  data: unknown;
}

export interface Conn {
  /** The 5-tuple oriented from the initiator. */
  readonly proto: number;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** Interface whose records are used. */
  owner: number;
  /** The local side (pod or node at the owner interface) opened the connection; null when not seen. */
  localInitiator: boolean | null;
  /** Cumulative counters already reported (initiator -> responder, and back). */
  bytesOrig: number;
  bytesReply: number;
  packetsOrig: number;
  packetsReply: number;
  state: ConnState;
  /** The owner interface reported the end of the connection. */
  ended: boolean;
  lastSeenMs: number;
  srttUs: number | null;
  /** first_seen_ns as an epoch bigint, kept so it is converted once (firstMonoNs is what it was made from). */
  firstMonoNs: number;
  firstSeen: bigint;
  /** Flow.ip of the initiator's packets and of the replies: frozen, built once per connection (see flow-builder). */
  ipOrig: IP | null;
  ipReply: IP | null;
  /** Last TCP sequence number of a payload per direction (retransmissions are not parsed twice). */
  seqOrig: number;
  seqReply: number;
  /** Where the next Kafka message starts per direction (a segment before that is inside a message). */
  nextOrig: number;
  nextReply: number;
  /** Requests awaiting a response, by protocol-specific id (DNS id, Kafka correlation id, HTTP sequence). */
  pending: Map<number, PendingL7> | null;
  httpNext: number;
  httpDone: number;
}

export interface ConnectionTableOptions {
  maxEntries: number;
  /** How long an ended connection is remembered (its other interface's records are still duplicates). */
  endedGraceMs: number;
  /** A connection not heard of for this long is forgotten (the probe would have ended it long before). */
  idleMs: number;
}

type ByPorts = Map<number, Conn>;
type ByDst = Map<string, ByPorts>;

/**
 * Lookups by nested Maps (protocol, source address, destination address, ports) rather than one string key:
 * the decoder hands out the same string object for an address every time, so these lookups hash nothing new and
 * allocate nothing, where a concatenated key would be built, flattened and hashed for every record.
 */
export class ConnectionTable {
  private readonly byProto = new Map<number, Map<string, ByDst>>();
  /** Every connection in creation order (eviction takes the oldest). */
  private readonly all = new Set<Conn>();
  evicted = 0;

  constructor(private readonly opts: ConnectionTableOptions) {}

  get size(): number {
    return this.all.size;
  }

  get(proto: number, src: string, sport: number, dst: string, dport: number): Conn | undefined {
    return this.byProto.get(proto)?.get(src)?.get(dst)?.get(sport * 65536 + dport);
  }

  /**
   * Finds the connection a packet belongs to; `lastReply` then tells which way it went (true: from the responder).
   * A field rather than a { conn, reply } pair: this runs for most records, and the pair would be garbage at once.
   */
  lookupPacket(proto: number, src: string, sport: number, dst: string, dport: number): Conn | undefined {
    const bySrc = this.byProto.get(proto);
    if (bySrc === undefined) return undefined;
    const fwd = bySrc.get(src)?.get(dst)?.get(sport * 65536 + dport);
    if (fwd !== undefined) {
      this.lastReply = false;
      return fwd;
    }
    const rev = bySrc.get(dst)?.get(src)?.get(dport * 65536 + sport);
    if (rev !== undefined) this.lastReply = true;
    return rev;
  }

  /** Which way the packet of the last lookupPacket() that found a connection went. */
  lastReply = false;

  create(proto: number, src: string, sport: number, dst: string, dport: number, owner: number, nowMs: number): Conn {
    const conn: Conn = {
      proto, src, sport, dst, dport, owner, localInitiator: null, bytesOrig: 0, bytesReply: 0, packetsOrig: 0,
      packetsReply: 0, state: 'open', ended: false, lastSeenMs: nowMs, srttUs: null, firstMonoNs: -1, firstSeen: 0n,
      ipOrig: null, ipReply: null, seqOrig: -1, seqReply: -1, nextOrig: -1, nextReply: -1, pending: null, httpNext: 0, httpDone: 0,
    };
    let bySrc = this.byProto.get(proto);
    if (bySrc === undefined) this.byProto.set(proto, (bySrc = new Map()));
    let byDst = bySrc.get(src);
    if (byDst === undefined) bySrc.set(src, (byDst = new Map()));
    let byPorts = byDst.get(dst);
    if (byPorts === undefined) byDst.set(dst, (byPorts = new Map()));
    const k = sport * 65536 + dport;
    const old = byPorts.get(k);
    if (old !== undefined) this.all.delete(old);
    byPorts.set(k, conn);
    this.all.add(conn);
    if (this.all.size > this.opts.maxEntries) this.evictOne();
    return conn;
  }

  /** Starts a connection over on the same tuple (a new one with the same 5-tuple, or the kernel entry restarted). */
  reset(conn: Conn, owner: number, nowMs: number): void {
    Object.assign(conn, {
      owner, localInitiator: null, bytesOrig: 0, bytesReply: 0, packetsOrig: 0, packetsReply: 0, state: 'open',
      ended: false, lastSeenMs: nowMs, srttUs: null, firstMonoNs: -1, firstSeen: 0n, seqOrig: -1, seqReply: -1,
      nextOrig: -1, nextReply: -1, pending: null, httpNext: 0, httpDone: 0,
    });
  }

  delete(conn: Conn): void {
    if (!this.all.delete(conn)) return;
    const bySrc = this.byProto.get(conn.proto);
    const byDst = bySrc?.get(conn.src);
    const byPorts = byDst?.get(conn.dst);
    if (!bySrc || !byDst || !byPorts) return;
    const k = conn.sport * 65536 + conn.dport;
    if (byPorts.get(k) === conn) byPorts.delete(k);
    if (byPorts.size === 0) byDst.delete(conn.dst);
    if (byDst.size === 0) bySrc.delete(conn.src);
  }

  /** Forgets ended connections past their grace period and connections idle too long. Returns how many. */
  gc(nowMs: number): number {
    let removed = 0;
    for (const c of this.all) {
      const idle = nowMs - c.lastSeenMs;
      if ((c.ended && idle >= this.opts.endedGraceMs) || idle >= this.opts.idleMs) {
        this.delete(c);
        removed++;
      }
    }
    return removed;
  }

  /** Connections with requests awaiting a response (for their expiry). */
  *withPending(): IterableIterator<Conn> {
    for (const c of this.all) if (c.pending !== null && c.pending.size > 0) yield c;
  }

  private evictOne(): void {
    // The oldest created first; prefer one of the oldest that already ended.
    let scanned = 0;
    let victim: Conn | undefined;
    for (const c of this.all) {
      victim ??= c;
      if (c.ended) {
        victim = c;
        break;
      }
      if (++scanned >= 64) break;
    }
    if (victim) {
      this.delete(victim);
      this.evicted++;
    }
  }
}
