/**
 * IP address text <-> bytes. Flows carry addresses as bytes in network order (4 for IPv4, 16 for IPv6); the probe
 * hands them over as text. A node talks to a bounded set of addresses, so conversions are cached and the same
 * Buffer is shared by every flow with that address (flows never mutate it).
 */

import { parseIp } from '../common/ip.js';

/** Bytes of an address, from a bounded cache: the returned Buffer is shared, never write into it. */
export class IpBytesCache {
  private map = new Map<string, Buffer>();
  constructor(private readonly max = 65_536) {}

  get(text: string): Buffer {
    let b = this.map.get(text);
    if (b === undefined) {
      b = parseIp(text) ?? Buffer.alloc(0);
      if (this.map.size >= this.max) this.map.clear();
      this.map.set(text, b);
    }
    return b;
  }
}
