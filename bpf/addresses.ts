/**
 * IP address strings for decoded records without formatting every address of every record: a node talks to a
 * small set of addresses, so a direct-mapped cache keyed by the raw words answers almost every lookup with a few
 * integer compares and no allocation. Misses format and overwrite the slot.
 */

const SLOTS = 4096; // power of two
const SHIFT = 32 - 12;

export class AddressCache {
  private readonly v4Keys = new Uint32Array(SLOTS);
  private readonly v4Strings: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);
  private readonly v6Keys = new Uint32Array(SLOTS * 4);
  private readonly v6Strings: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

  /** word: the 4 address bytes read as one little-endian u32 (network byte order in memory). */
  v4(word: number): string {
    const slot = Math.imul(word, 0x9e3779b1) >>> SHIFT;
    const hit = this.v4Strings[slot];
    if (hit !== undefined && this.v4Keys[slot] === word) return hit;
    const s = `${word & 255}.${(word >>> 8) & 255}.${(word >>> 16) & 255}.${word >>> 24}`;
    this.v4Keys[slot] = word;
    this.v4Strings[slot] = s;
    return s;
  }

  /** words[at..at+3] are the 16 address bytes as u32s; bytes[byteAt..] the same bytes. */
  v6(words: Uint32Array, at: number, bytes: Uint8Array, byteAt: number): string {
    const a = words[at]!, b = words[at + 1]!, c = words[at + 2]!, d = words[at + 3]!;
    const slot = Math.imul(a ^ Math.imul(b, 31) ^ Math.imul(c, 961) ^ Math.imul(d, 29791), 0x9e3779b1) >>> SHIFT;
    const k = slot * 4;
    const hit = this.v6Strings[slot];
    const keys = this.v6Keys;
    if (hit !== undefined && keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return hit;
    const s = formatIPv6(bytes, byteAt);
    keys[k] = a;
    keys[k + 1] = b;
    keys[k + 2] = c;
    keys[k + 3] = d;
    this.v6Strings[slot] = s;
    return s;
  }
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIPv6(bytes: Uint8Array, at: number): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = (bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!;
  // IPv4-mapped addresses print their IPv4 part in dotted form, as Node and most tools do.
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
  }
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}
