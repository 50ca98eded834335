/**
 * Addresses for the IP filters. Both back-ends compare 16-byte addresses: the flows table stores IPv4 as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), so an IPv4 value or CIDR becomes a range inside ::ffff:0:0/96 and an IPv6 one
 * a range outside it. A 16-byte IPv4-mapped address in a Flow counts as IPv4 for the same reason: after a trip
 * through the table nobody can tell the two apart.
 */

import { parseIPv4, parseIPv6 } from '../ip.js';

export type Family = 4 | 6;

export interface AddressRange {
  family: Family;
  /** Lowest and highest address of the range, 16 bytes each (IPv4 mapped). */
  lo: Buffer;
  hi: Buffer;
}

const MAPPED_PREFIX = Buffer.from('00000000000000000000ffff', 'hex');

/** A textual address to its family and 16-byte form; null when it is not an address. */
export function parseAddress(text: string): { family: Family; bytes: Buffer } | null {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: Buffer.concat([MAPPED_PREFIX, v4]) };
  if (!text.includes(':')) return null;
  const v6 = parseIPv6(text);
  if (!v6) return null;
  return { family: isMapped(v6) ? 4 : 6, bytes: v6 };
}

function isMapped(bytes: Buffer): boolean {
  return bytes.length === 16 && bytes.subarray(0, 12).equals(MAPPED_PREFIX);
}

/** An address or CIDR (`10.0.0.1`, `10.0.0.0/8`, `fd00::/64`) to the range it covers; null when malformed. */
export function parseAddressOrPrefix(text: string): AddressRange | null {
  const slash = text.indexOf('/');
  if (slash < 0) {
    const a = parseAddress(text);
    return a ? { family: a.family, lo: a.bytes, hi: a.bytes } : null;
  }
  const a = parseAddress(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!a || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  // An IPv4 prefix written as such counts its bits from the IPv4 part; ::ffff:a.b.c.d/n is an IPv6 prefix.
  const writtenAsV4 = parseIPv4(text.slice(0, slash)) !== null;
  if (bits > (writtenAsV4 ? 32 : 128)) return null;
  const total = writtenAsV4 ? 96 + bits : bits;
  const lo = Buffer.from(a.bytes);
  const hi = Buffer.from(a.bytes);
  for (let bit = total; bit < 128; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    lo[byte]! &= ~mask;
    hi[byte]! |= mask;
  }
  if (writtenAsV4) return { family: 4, lo, hi };
  // An IPv6 prefix never contains IPv4 flows (Go's netip.Prefix.Contains is per family).
  return { family: 6, lo, hi };
}

/** A Flow address (4 or 16 bytes) in the 16-byte form with its family; null for an absent address. */
export function flowAddress(bytes: Buffer | null | undefined): { family: Family; bytes: Buffer } | null {
  if (!bytes || bytes.length === 0) return null;
  if (bytes.length === 4) return { family: 4, bytes: Buffer.concat([MAPPED_PREFIX, bytes]) };
  if (bytes.length === 16) return { family: isMapped(bytes) ? 4 : 6, bytes };
  return null;
}

export function inRange(range: AddressRange, addr: { family: Family; bytes: Buffer }): boolean {
  return range.family === addr.family && Buffer.compare(range.lo, addr.bytes) <= 0 && Buffer.compare(addr.bytes, range.hi) <= 0;
}

/** The text ClickHouse parses as an IPv6 value. */
export function ipv6Text(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  return words.join(':');
}

/** Hubble's textual form: dotted quad for IPv4 (also when stored mapped), RFC 5952 for IPv6. */
export function formatAddress(bytes: Buffer | null | undefined): string {
  const a = flowAddress(bytes);
  if (!a) return '';
  if (a.family === 4) return Array.from(a.bytes.subarray(12)).join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(a.bytes.readUInt16BE(i));
  // The longest run of two or more zero words becomes '::' (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
