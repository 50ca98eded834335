/**
 * IP address text <-> bytes. Flows carry addresses as bytes in network order (4 for IPv4, 16 for IPv6); the probe
 * hands them over as text. A node talks to a bounded set of addresses, so conversions are cached and the same
 * Buffer is shared by every flow with that address (flows never mutate it).
 */

export function parseIPv4(text: string): Buffer | null {
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3 || value > 255) return null;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      digits++;
    } else {
      return null;
    }
  }
  return part === 4 ? out : null;
}

export function parseIPv6(text: string): Buffer | null {
  if (text.length < 2 || text.length > 45) return null;
  let head = text;
  let tail4: Buffer | null = null;
  if (text.includes('.')) {
    const at = text.lastIndexOf(':');
    tail4 = parseIPv4(text.slice(at + 1));
    if (!tail4) return null;
    head = `${text.slice(0, at + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const left = halves[0] === '' ? [] : halves[0]!.split(':');
  const right = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const total = left.length + right.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const words = [...left, ...new Array<string>(8 - total).fill('0'), ...right];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return null;
    out.writeUInt16BE(parseInt(w, 16), i * 2);
  }
  if (tail4) tail4.copy(out, 12);
  return out;
}

export function parseIp(text: string): Buffer | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

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
