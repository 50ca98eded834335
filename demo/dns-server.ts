/**
 * The demo's coredns: a small authoritative DNS server over UDP and TCP (RFC 1035 wire format) for a fixed zone.
 * A and AAAA questions for names in the zone get their addresses, other types of a known name an empty answer
 * (NODATA), unknown names NXDOMAIN. Enough for real resolvers (c-ares, glibc, dig) and for the collector's DNS
 * parser, which sees real packets.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface DnsQuestion {
  id: number;
  flags: number;
  name: string;
  type: number;
  cls: number;
  /** The question section as received (copied into the answer). */
  raw: Buffer;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

/** The first question of a query, or null when the message is not a query we can read. */
export function parseQuery(msg: Buffer): DnsQuestion | null {
  if (msg.length < 12) return null;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || msg.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    const len = msg[off];
    if (len === undefined || len > 63) return null;
    off++;
    if (len === 0) break;
    if (off + len > msg.length) return null;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return null;
  return {
    id: msg.readUInt16BE(0),
    flags,
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(off),
    cls: msg.readUInt16BE(off + 2),
    raw: msg.subarray(12, off + 4),
  };
}

function ipv4Bytes(ip: string): Buffer | null {
  return net.isIPv4(ip) ? Buffer.from(ip.split('.').map(Number)) : null;
}

function ipv6Bytes(ip: string): Buffer | null {
  if (!net.isIPv6(ip)) return null;
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g as string, 16), i * 2));
  return out;
}

/** The response to a query: answers from the zone, with this TTL. */
export function answer(q: DnsQuestion, zone: Record<string, string[]>, ttl: number): Buffer {
  const addrs = zone[q.name];
  const rdatas = (addrs ?? [])
    .map((ip) => (q.type === TYPE_A ? ipv4Bytes(ip) : q.type === TYPE_AAAA ? ipv6Bytes(ip) : null))
    .filter((b): b is Buffer => b !== null);
  const rcode = addrs === undefined ? RCODE_NXDOMAIN : 0;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, AA (we are the authority for the zone), RA (the demo's coredns recurses for nobody, but says it can).
  header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdatas.length, 6);
  const records = rdatas.map((rdata) => {
    const rr = Buffer.alloc(12 + rdata.length);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(q.type, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    rdata.copy(rr, 12);
    return rr;
  });
  return Buffer.concat([header, q.raw, ...records]);
}

function formErr(msg: Buffer): Buffer | null {
  if (msg.length < 12) return null;
  const h = Buffer.alloc(12);
  h.writeUInt16BE(msg.readUInt16BE(0), 0);
  h.writeUInt16BE(0x8000 | RCODE_FORMERR, 2);
  return h;
}

export interface DnsServer {
  port: number;
  stop(): Promise<void>;
}

/** Serves the zone on UDP and TCP at host:port (port 0: any free port, the same for both). */
export async function startDnsServer(opts: { host: string; port: number; zone: Record<string, string[]>; ttl?: number; onQuery?: (q: DnsQuestion) => void }): Promise<DnsServer> {
  const ttl = opts.ttl ?? 30;
  const reply = (msg: Buffer): Buffer | null => {
    const q = parseQuery(msg);
    if (!q) return formErr(msg);
    opts.onQuery?.(q);
    return answer(q, opts.zone, ttl);
  };
  const udp = dgram.createSocket(net.isIPv6(opts.host) ? 'udp6' : 'udp4');
  udp.on('message', (msg, rinfo) => {
    const out = reply(msg);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(opts.port, opts.host, () => resolve());
  });
  const port = udp.address().port;
  // DNS over TCP: each message is prefixed by its 2-byte length.
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const out = reply(msg);
        if (out) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        }
      }
    });
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, opts.host, () => resolve());
  });
  return {
    port,
    stop: async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
