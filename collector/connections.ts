/**
 * The collector's view of connections, keyed by the 5-tuple oriented from the initiator (no interface in the key).
 * The probe reports a connection between two pods of this node at one interface only, the first to see it (the
 * owner; bpf/flow.bpf.c). A record from another interface is a duplicate (one packet, one observation), unless it
 * is a NEW record: the probe's entry was evicted and made again there, which then owns it. Per connection it keeps what turns the probe's cumulative
 * counters into deltas, who opened it (traffic direction), its lifecycle and the L7 requests awaiting a response.
 */

import type { Endpoint, IP, Service } from '../schemas/flow-types.js';

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
  /**
   * Requests awaiting a response, by protocol-specific id (DNS id, Kafka correlation id, HTTP sequence): the first
   * in these fields (a connection mostly has one request at a time), any more in the Map. A Map per connection
   * was a Map made, filled and emptied for almost every request. l7/tracker.ts keeps both.
   */
  firstPending: boolean;
  firstPendingId: number;
  firstPendingTimeNs: number;
  firstPendingData: unknown;
  pending: Map<number, PendingL7> | null;
  httpNext: number;
  httpDone: number;
  /**
   * Enrichment of the initiator (src) and responder (dst) ends, kept by the flow builder: valid while the resolver's
   * generation is enrichGen (-1: none yet) ...
   */
  enrichGen: number;
  srcEndpoint: Endpoint | null;
  dstEndpoint: Endpoint | null;
  srcService: Service | null;
  dstService: Service | null;
  /** ... and the DNS names while the DNS cache's generation is namesGen (-1: none yet) and before namesUntil (ms). */
  namesGen: number;
  namesUntil: number;
  srcNames: string[];
  dstNames: string[];
}

export interface ConnectionTableOptions {
  maxEntries: number;
  /** How long an ended connection is remembered (late records of it are still recognised). */
  endedGraceMs: number;
  /** A connection not heard of for this long is forgotten (the probe would have ended it long before). */
  idleMs: number;
}

/**
 * Small integer ids for the addresses of tracked connections, counted by use: an address leaves when its last
 * connection does, and its id is used again.
 */
class AddressIds {
  readonly ids = new Map<string, number>();
  private readonly uses: number[] = [];
  private readonly free: number[] = [];

  acquire(addr: string): number {
    let id = this.ids.get(addr);
    if (id === undefined) {
      id = this.free.pop() ?? this.uses.length;
      this.ids.set(addr, id);
      this.uses[id] = 0;
    }
    this.uses[id]!++;
    return id;
  }

  release(addr: string): void {
    const id = this.ids.get(addr);
    if (id === undefined) return;
    if (--this.uses[id]! === 0) {
      this.ids.delete(addr);
      this.free.push(id);
      this.lastA = this.lastB = null; // its id is free now: forget what idOf() remembered
    }
  }

  /**
   * The last two addresses idOf() found and their ids: a record's two ends, and the next record is mostly about
   * the same connection (the other interface's copy, the payload of the same packet): two comparisons instead of
   * two Map lookups.
   */
  private lastA: string | null = null;
  private lastAId = 0;
  private lastB: string | null = null;
  private lastBId = 0;

  /** The id of a tracked address, or undefined. */
  idOf(addr: string): number | undefined {
    if (addr === this.lastA) return this.lastAId;
    if (addr === this.lastB) return this.lastBId;
    const id = this.ids.get(addr);
    if (id !== undefined) {
      this.lastB = this.lastA;
      this.lastBId = this.lastAId;
      this.lastA = addr;
      this.lastAId = id;
    }
    return id;
  }
}

const NO_NAMES: string[] = Object.freeze([]) as unknown as string[];

/** Slot states in ConnectionTable.keys (the protocol word of a slot; a protocol is 0..255). */
const EMPTY = -1;
const DELETED = -2;
const MIN_SLOTS = 1024;

/**
 * Lookups in one open-addressing hash table over typed arrays: each slot is four int32 words (protocol, source
 * address id, destination address id, the two ports), its Conn in a parallel array. A lookup is two Map lookups of
 * the decoder's address strings (the same string objects every time: their hashes are cached; none when they are
 * the addresses of the previous lookup, see AddressIds.idOf()) and a probe of a few words, and a new connection
 * allocates nothing but itself. (Nested Maps by protocol, source, destination and ports, as before, took four Map
 * lookups per direction and a Map per new address pair.)
 */
export class ConnectionTable {
  private readonly addrs = new AddressIds();
  /** 4 words per slot: protocol (or EMPTY / DELETED), source id, destination id, sport << 16 | dport. */
  private keys = new Int32Array(MIN_SLOTS * 4).fill(EMPTY);
  private conns: (Conn | undefined)[] = new Array<Conn | undefined>(MIN_SLOTS).fill(undefined);
  private mask = MIN_SLOTS - 1;
  /** Slots not EMPTY (live and DELETED): probing needs some EMPTY ones, so the table is rebuilt at half full. */
  private used = 0;
  /** Every connection in creation order (eviction takes the oldest). */
  private readonly all = new Set<Conn>();
  evicted = 0;

  constructor(private readonly opts: ConnectionTableOptions) {}

  get size(): number {
    return this.all.size;
  }

  get(proto: number, src: string, sport: number, dst: string, dport: number): Conn | undefined {
    const s = this.addrs.idOf(src);
    if (s === undefined) return undefined;
    const d = this.addrs.idOf(dst);
    if (d === undefined) return undefined;
    const slot = this.find(proto, s, d, (sport << 16) | dport);
    return slot < 0 ? undefined : this.conns[slot];
  }

  /**
   * Finds the connection a packet belongs to; `lastReply` then tells which way it went (true: from the responder).
   * A field rather than a { conn, reply } pair: this runs for most records, and the pair would be garbage at once.
   */
  lookupPacket(proto: number, src: string, sport: number, dst: string, dport: number): Conn | undefined {
    const s = this.addrs.idOf(src);
    if (s === undefined) return undefined;
    const d = this.addrs.idOf(dst);
    if (d === undefined) return undefined;
    let slot = this.find(proto, s, d, (sport << 16) | dport);
    if (slot >= 0) {
      this.lastReply = false;
      return this.conns[slot];
    }
    slot = this.find(proto, d, s, (dport << 16) | sport);
    if (slot < 0) return undefined;
    this.lastReply = true;
    return this.conns[slot];
  }

  /** Which way the packet of the last lookupPacket() that found a connection went. */
  lastReply = false;

  create(proto: number, src: string, sport: number, dst: string, dport: number, owner: number, nowMs: number): Conn {
    const conn: Conn = {
      proto, src, sport, dst, dport, owner, localInitiator: null, bytesOrig: 0, bytesReply: 0, packetsOrig: 0,
      packetsReply: 0, state: 'open', ended: false, lastSeenMs: nowMs, srttUs: null, firstMonoNs: -1, firstSeen: 0n,
      ipOrig: null, ipReply: null, seqOrig: -1, seqReply: -1, nextOrig: -1, nextReply: -1,
      firstPending: false, firstPendingId: 0, firstPendingTimeNs: 0, firstPendingData: null, pending: null, httpNext: 0, httpDone: 0,
      enrichGen: -1, srcEndpoint: null, dstEndpoint: null, srcService: null, dstService: null,
      namesGen: -1, namesUntil: 0, srcNames: NO_NAMES, dstNames: NO_NAMES,
    };
    const s = this.addrs.acquire(src);
    const d = this.addrs.acquire(dst);
    const ports = (sport << 16) | dport;
    const slot = this.find(proto, s, d, ports);
    if (slot >= 0) {
      // The same tuple again: the new connection takes the old one's place (and its uses of the addresses).
      const old = this.conns[slot]!;
      this.all.delete(old);
      this.addrs.release(src);
      this.addrs.release(dst);
      this.conns[slot] = conn;
    } else {
      this.insert(proto, s, d, ports, conn);
    }
    this.all.add(conn);
    if (this.all.size > this.opts.maxEntries) this.evictOne();
    return conn;
  }

  /** The slot of a key, or -1. */
  private find(proto: number, s: number, d: number, ports: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let i = slotHash(proto, s, d, ports) & mask; ; i = (i + 1) & mask) {
      const k = i * 4;
      const p = keys[k]!;
      if (p === EMPTY) return -1;
      if (p === proto && keys[k + 1] === s && keys[k + 2] === d && keys[k + 3] === ports) return i;
    }
  }

  /** Adds a key that is not in the table (the first DELETED or EMPTY slot of its probe sequence). */
  private insert(proto: number, s: number, d: number, ports: number, conn: Conn): void {
    if ((this.used + 1) * 2 > this.conns.length) this.rebuild();
    const keys = this.keys;
    const mask = this.mask;
    let i = slotHash(proto, s, d, ports) & mask;
    while (keys[i * 4]! >= 0) i = (i + 1) & mask;
    const k = i * 4;
    if (keys[k] === EMPTY) this.used++;
    keys[k] = proto;
    keys[k + 1] = s;
    keys[k + 2] = d;
    keys[k + 3] = ports;
    this.conns[i] = conn;
  }

  /** Rehashes the live slots into a table a quarter full (DELETED slots go away). */
  private rebuild(): void {
    const oldKeys = this.keys;
    const oldConns = this.conns;
    let slots = MIN_SLOTS;
    while (slots < this.all.size * 4) slots *= 2;
    this.keys = new Int32Array(slots * 4).fill(EMPTY);
    this.conns = new Array<Conn | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
    this.used = 0;
    for (let i = 0; i < oldConns.length; i++) {
      const c = oldConns[i];
      if (c !== undefined) this.insert(oldKeys[i * 4]!, oldKeys[i * 4 + 1]!, oldKeys[i * 4 + 2]!, oldKeys[i * 4 + 3]!, c);
    }
  }

  /** Starts a connection over on the same tuple (a new one with the same 5-tuple, or the kernel entry restarted). */
  reset(conn: Conn, owner: number, nowMs: number): void {
    Object.assign(conn, {
      owner, localInitiator: null, bytesOrig: 0, bytesReply: 0, packetsOrig: 0, packetsReply: 0, state: 'open',
      ended: false, lastSeenMs: nowMs, srttUs: null, firstMonoNs: -1, firstSeen: 0n, seqOrig: -1, seqReply: -1,
      nextOrig: -1, nextReply: -1, firstPending: false, firstPendingData: null, pending: null, httpNext: 0, httpDone: 0,
    });
  }

  delete(conn: Conn): void {
    if (!this.all.delete(conn)) return;
    const ids = this.addrs.ids;
    const slot = this.find(conn.proto, ids.get(conn.src)!, ids.get(conn.dst)!, (conn.sport << 16) | conn.dport);
    if (slot >= 0 && this.conns[slot] === conn) {
      this.keys[slot * 4] = DELETED;
      this.conns[slot] = undefined;
    }
    this.addrs.release(conn.src);
    this.addrs.release(conn.dst);
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
    for (const c of this.all) if (c.firstPending || (c.pending !== null && c.pending.size > 0)) yield c;
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

/** Spreads a key over the slots (a multiply-xorshift mix of its four words). */
function slotHash(proto: number, s: number, d: number, ports: number): number {
  let h = Math.imul(s, 0x9e3779b1) ^ Math.imul(d ^ 0x7f4a7c15, 0x85ebca6b) ^ Math.imul(ports ^ proto, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 13);
}
