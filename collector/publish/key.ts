/**
 * The Kafka record key of a flow: 8 bytes hashed from the protocol and the two (address, port) ends, combined
 * symmetrically, so both directions of a connection (and its drops and L7 events) share a key, hence a
 * partition, hence an order. Not an identifier: collisions only put two connections in the same partition.
 * Keys are views into shared slabs (one allocation per 1024 keys), and a key already made recently is handed out
 * again (the flows of a connection come close together): Kafka only reads keys, and a view costs more to make
 * (an object of ~100 bytes, then garbage) than the hash.
 */
import type { Flow } from '../../schemas/flow-types.js';

function hashEnd(seed: number, addr: Buffer, port: number): number {
  let h = seed;
  for (let i = 0; i < addr.length; i++) h = Math.imul(h ^ addr[i]!, 0x01000193);
  h = Math.imul(h ^ (port >>> 8), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  // A final avalanche so that nearby ports spread.
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

const SLAB = 1024;
let slab = Buffer.allocUnsafeSlow(8 * SLAB);
let slabAt = 0;
const EMPTY = Buffer.alloc(0);
/** Recent keys, direct-mapped by their bytes: the two 32-bit halves of each, and its view. */
const RECENT = 4096;
const recentLo = new Int32Array(RECENT);
const recentHi = new Int32Array(RECENT);
const recentKeys: (Buffer | undefined)[] = new Array<Buffer | undefined>(RECENT).fill(undefined);

export function flowKey(f: Flow): Buffer {
  const src = f.ip?.source ?? EMPTY;
  const dst = f.ip?.destination ?? EMPTY;
  const proto = f.l4_protocol;
  // ICMP echo flows have no ports here; their identifier is not in the record, so they key by addresses.
  const a = hashEnd(0x811c9dc5 ^ proto, src, f.source_port);
  const b = hashEnd(0x811c9dc5 ^ proto, dst, f.destination_port);
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  const mix = Math.imul(hi ^ lo, 0x9e3779b1) ^ proto;
  const r = (mix ^ (mix >>> 12)) & (RECENT - 1);
  const known = recentKeys[r];
  if (known !== undefined && recentLo[r] === (lo | 0) && recentHi[r] === mix) return known;
  if (slabAt === SLAB) {
    slab = Buffer.allocUnsafeSlow(8 * SLAB);
    slabAt = 0;
  }
  const key = slab.subarray(slabAt * 8, slabAt * 8 + 8);
  slabAt++;
  recentLo[r] = lo;
  recentHi[r] = mix;
  recentKeys[r] = key;
  // Big-endian by hand: Buffer#writeUInt32BE checks its arguments, which costs more than the stores.
  key[0] = lo >>> 24;
  key[1] = lo >>> 16;
  key[2] = lo >>> 8;
  key[3] = lo;
  key[4] = mix >>> 24;
  key[5] = mix >>> 16;
  key[6] = mix >>> 8;
  key[7] = mix;
  return key;
}
