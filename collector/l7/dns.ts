/**
 * DNS messages (RFC 1035) from payload snippets: header, question and the answer section, with name
 * compression. Every read is bounds-checked; a snippet cut short inside the answers keeps the answers read so far
 * (`truncated`), one cut inside the header or question is an error. Nothing here throws on hostile input.
 */

export interface DnsAnswer {
  type: number;
  ttl: number;
  /** A/AAAA: the address bytes. */
  ip?: Buffer;
  /** CNAME: the target with its trailing dot. */
  cname?: string;
}

export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  rcode: number;
  /** The first question's name with a trailing dot ('example.com.'); '' when there is none. */
  query: string;
  qtypes: number[];
  answers: DnsAnswer[];
  /** The snippet ended inside the answer section. */
  truncated: boolean;
}

export type ParseFailure = 'malformed' | 'truncated';

const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR',
  39: 'DNAME', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 64: 'SVCB', 65: 'HTTPS',
  99: 'SPF', 252: 'AXFR', 255: 'ANY', 257: 'CAA',
};

/** Record type names as Hubble prints them ('A', 'AAAA'); unknown types as their number. */
export function dnsTypeName(type: number): string {
  return TYPE_NAMES[type] ?? String(type);
}

class Truncated extends Error {}
class Malformed extends Error {}

/** Reads a possibly compressed name at `off`; returns the name (with trailing dot) and the offset after it. */
function readName(buf: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let pos = off;
  let end = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (pos >= buf.length) throw new Truncated();
    const len = buf[pos]!;
    if (len === 0) {
      pos++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Truncated();
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      // A pointer must point backwards; a bounded number of jumps rules out loops.
      if (target >= pos || ++jumps > 32) throw new Malformed();
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed();
    if (pos + 1 + len > buf.length) throw new Truncated();
    length += len + 1;
    if (length > 255) throw new Malformed();
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return [labels.length === 0 ? '.' : `${labels.join('.')}.`, end >= 0 ? end : pos];
}

/** Parses a DNS message (for DNS over TCP, without its 2-byte length prefix). */
export function parseDns(buf: Buffer): DnsMessage | ParseFailure {
  if (buf.length < 12) return 'truncated';
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const opcode = (flags >> 11) & 0xf;
  if (opcode > 6 || qd > 16) return 'malformed';
  const msg: DnsMessage = { id, response: (flags & 0x8000) !== 0, opcode, rcode: flags & 0xf, query: '', qtypes: [], answers: [], truncated: false };
  let off = 12;
  try {
    for (let i = 0; i < qd; i++) {
      const [name, next] = readName(buf, off);
      if (next + 4 > buf.length) throw new Truncated();
      if (i === 0) msg.query = name;
      msg.qtypes.push(buf.readUInt16BE(next));
      off = next + 4;
    }
  } catch (err) {
    return err instanceof Truncated ? 'truncated' : 'malformed';
  }
  if (!msg.response) return msg;
  try {
    for (let i = 0; i < an; i++) {
      const [, next] = readName(buf, off);
      if (next + 10 > buf.length) throw new Truncated();
      const type = buf.readUInt16BE(next);
      const ttl = buf.readUInt32BE(next + 4);
      const rdlen = buf.readUInt16BE(next + 8);
      const rdata = next + 10;
      if (rdata + rdlen > buf.length) throw new Truncated();
      const answer: DnsAnswer = { type, ttl };
      if (type === 1) {
        if (rdlen !== 4) throw new Malformed();
        answer.ip = Buffer.from(buf.subarray(rdata, rdata + 4));
      } else if (type === 28) {
        if (rdlen !== 16) throw new Malformed();
        answer.ip = Buffer.from(buf.subarray(rdata, rdata + 16));
      } else if (type === 5) {
        answer.cname = readName(buf, rdata)[0];
      }
      msg.answers.push(answer);
      off = rdata + rdlen;
    }
  } catch (err) {
    if (err instanceof Malformed) return 'malformed';
    msg.truncated = true;
  }
  return msg;
}
