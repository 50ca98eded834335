/**
 * IP -> DNS names, learnt from the DNS answers the collector sees (Hubble's DNSGetter, fed by its DNS proxy;
 * here by the payload parser). A name stays for its TTL (clamped to [minTtl, maxTtl]); the cache holds at most
 * maxEntries addresses, dropping the least recently learnt. Lookups return frozen arrays shared by every flow.
 */

export interface DnsCacheOptions {
  maxEntries: number;
  maxNamesPerIp: number;
  minTtlMs: number;
  maxTtlMs: number;
}

interface Entry {
  names: string[];
  expires: number[];
  /** The earliest expiry: until then `frozen` is valid without looking at each name. */
  soonest: number;
  frozen: readonly string[];
}

const EMPTY: readonly string[] = Object.freeze([]);

export class DnsCache {
  private readonly map = new Map<string, Entry>();
  evicted = 0;
  /** Bumped by every change to the names the cache answers (a new name, an eviction, an expiry): see names(). */
  generation = 0;
  /**
   * Until when (ms) the last names() answer stays valid if `generation` does not change: the earliest expiry of its
   * names (Infinity for an address without names: only learn() gives it some).
   */
  lastValidUntil = Infinity;

  constructor(private readonly opts: DnsCacheOptions) {}

  get size(): number {
    return this.map.size;
  }

  /** Remembers that `ip` is `name` for ttlSeconds from nowMs. Names are stored without the trailing dot. */
  learn(ip: string, name: string, ttlSeconds: number, nowMs: number): void {
    const clean = name.endsWith('.') ? name.slice(0, -1) : name;
    if (!clean) return;
    const ttlMs = Math.min(Math.max(ttlSeconds * 1000, this.opts.minTtlMs), this.opts.maxTtlMs);
    const expiry = nowMs + ttlMs;
    let e = this.map.get(ip);
    if (e === undefined) {
      e = { names: [], expires: [], soonest: Infinity, frozen: EMPTY };
    } else {
      this.map.delete(ip); // re-inserted below: most recently learnt last
    }
    const at = e.names.indexOf(clean);
    if (at >= 0) {
      e.expires[at] = Math.max(e.expires[at]!, expiry);
      // Only an expiry moved (later): the names and their frozen array stay, so the generation does not change.
      // A reader holding the old expiry (lastValidUntil) asks again then and gets the same array back; bumping
      // here made every connection on the node look its names up again after each repeated DNS answer.
      e.soonest = Math.min(...e.expires);
    } else {
      this.generation++;
      if (e.names.length >= this.opts.maxNamesPerIp) {
        // Drop the name that expires first.
        let victim = 0;
        for (let i = 1; i < e.expires.length; i++) if (e.expires[i]! < e.expires[victim]!) victim = i;
        e.names.splice(victim, 1);
        e.expires.splice(victim, 1);
      }
      e.names.push(clean);
      e.expires.push(expiry);
      this.refresh(e, nowMs);
    }
    this.map.set(ip, e);
    while (this.map.size > this.opts.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.evicted++;
      this.generation++;
    }
  }

  /** The names `ip` had in answers still within their TTL at nowMs (sorted; a shared frozen array). */
  names(ip: string, nowMs: number): readonly string[] {
    const e = this.map.get(ip);
    if (e === undefined) {
      this.lastValidUntil = Infinity;
      return EMPTY;
    }
    if (nowMs < e.soonest) {
      this.lastValidUntil = e.soonest;
      return e.frozen;
    }
    this.generation++;
    for (let i = e.names.length - 1; i >= 0; i--) {
      if (e.expires[i]! <= nowMs) {
        e.names.splice(i, 1);
        e.expires.splice(i, 1);
      }
    }
    if (e.names.length === 0) {
      this.map.delete(ip);
      this.lastValidUntil = Infinity;
      return EMPTY;
    }
    this.refresh(e, nowMs);
    this.lastValidUntil = e.soonest;
    return e.frozen;
  }

  private refresh(e: Entry, _nowMs: number): void {
    e.soonest = Math.min(...e.expires);
    e.frozen = Object.freeze([...e.names].sort());
  }
}
