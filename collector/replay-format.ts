/**
 * Recorded probe batches. A batch is the bytes the kernel wrote (bpf/records.h layout, decoded by bpf/decode.ts);
 * encodeRecords() writes the same bytes from records, so tests and benchmarks can make exact inputs and replay
 * them through the real decoder.
 *
 * File format (little-endian):
 *   "LBREPLAY1\n"  then one JSON line: { bootTimeMs, interfaces: {ifindex: name}, hostNetns, dropReasons: {value: name} }
 *   then frames: u32 length, u32 reserved (0), `length` bytes of one raw batch
 */
import fs from 'node:fs';
import { createDecoder, type ProbeRecord } from '../bpf/decode.js';
import { CONSTANTS as C, LAYOUT } from '../bpf/layout.js';
import { LookbackError } from '../common/errors.js';
import { parseIp } from '../common/ip.js';

const MAGIC = 'LBREPLAY1\n';
const HDR = LAYOUT.lb_rec_hdr.fields;
const T = LAYOUT.lb_tuple.fields;

export interface ReplayHeader {
  bootTimeMs: number;
  interfaces: Record<string, string>;
  hostNetns: number;
  dropReasons: Record<string, string>;
}

const pad8 = (n: number): number => (n + 7) & ~7;

function recordSize(r: ProbeRecord): number {
  switch (r.kind) {
    case 'flow': return LAYOUT.lb_flow_rec.size;
    case 'payload': return pad8(LAYOUT.lb_payload_rec.size + r.data.length);
    case 'drop': return LAYOUT.lb_drop_rec.size;
    case 'tcp': return LAYOUT.lb_tcp_rec.size;
    case 'overflow': return LAYOUT.lb_overflow_rec.size;
    case 'lost': return LAYOUT.lb_lost_rec.size;
  }
}

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeBigUInt64LE(BigInt(Math.max(0, Math.trunc(v))), off);
}

function writeAddr(buf: Buffer, off: number, text: string): void {
  const b = parseIp(text);
  if (b) b.copy(buf, off);
}

function writeTuple(buf: Buffer, base: number, r: { family: number; proto: number; src: string; dst: string; sport: number; dport: number }): void {
  const at = base + LAYOUT.lb_flow_rec.fields.tuple[0];
  writeAddr(buf, at + T.src[0], r.src);
  writeAddr(buf, at + T.dst[0], r.dst);
  buf.writeUInt16LE(r.sport, at + T.sport[0]);
  buf.writeUInt16LE(r.dport, at + T.dport[0]);
  buf[at + T.family[0]] = r.family;
  buf[at + T.proto[0]] = r.proto;
}

const KIND: Record<ProbeRecord['kind'], number> = {
  flow: C.LB_REC_FLOW, payload: C.LB_REC_PAYLOAD, drop: C.LB_REC_DROP, tcp: C.LB_REC_TCP, overflow: C.LB_REC_OVERFLOW, lost: C.LB_REC_LOST,
};

const TCP_STATE_INDEX = [
  'UNKNOWN', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT',
  'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE',
];

/** The raw batch the kernel would have written for these records (8-byte aligned buffer). */
export function encodeRecords(records: readonly ProbeRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += recordSize(r);
  const buf = Buffer.alloc(total);
  let off = 0;
  for (const r of records) {
    const size = recordSize(r);
    buf.writeUInt16LE(KIND[r.kind], off + HDR.kind[0]);
    buf.writeUInt16LE(size, off + HDR.size[0]);
    buf.writeUInt32LE('ifindex' in r ? r.ifindex : 0, off + HDR.ifindex[0]);
    writeU64(buf, off + HDR.time_ns[0], r.timeNs);
    if (r.kind === 'flow') {
      const F = LAYOUT.lb_flow_rec.fields;
      writeTuple(buf, off, r);
      writeU64(buf, off + F.first_ns[0], r.firstNs);
      writeU64(buf, off + F.last_ns[0], r.lastNs);
      writeU64(buf, off + F.bytes[0], r.bytesOrig);
      writeU64(buf, off + F.bytes[0] + 8, r.bytesReply);
      writeU64(buf, off + F.packets[0], r.packetsOrig);
      writeU64(buf, off + F.packets[0] + 8, r.packetsReply);
      buf.writeUInt32LE(r.events >>> 0, off + F.events[0]);
      buf[off + F.tcp_flags[0]] = r.tcpFlagsOrig;
      buf[off + F.tcp_flags[0] + 1] = r.tcpFlagsReply;
      buf[off + F.pkt_flags[0]] = r.pktFlags;
      buf[off + F.pkt_reply[0]] = r.pktReply ? 1 : 0;
      buf[off + F.pkt_egress[0]] = r.pktEgress ? 1 : 0;
      buf[off + F.icmp_type[0]] = r.icmpType;
      buf[off + F.icmp_code[0]] = r.icmpCode;
      buf[off + F.orig_egress[0]] = r.origEgress ? 1 : 0;
    } else if (r.kind === 'payload') {
      const P = LAYOUT.lb_payload_rec.fields;
      writeTuple(buf, off, r);
      buf.writeUInt32LE(r.seq >>> 0, off + P.seq[0]);
      buf.writeUInt32LE(r.payloadLength >>> 0, off + P.payload_len[0]);
      buf.writeUInt16LE(r.data.length, off + P.cap_len[0]);
      buf[off + P.egress[0]] = r.egress ? 1 : 0;
      r.data.copy(buf, off + LAYOUT.lb_payload_rec.size);
    } else if (r.kind === 'drop') {
      const D = LAYOUT.lb_drop_rec.fields;
      writeTuple(buf, off, r);
      buf.writeUInt32LE(r.reason >>> 0, off + D.reason[0]);
      buf.writeUInt32LE(r.netns >>> 0, off + D.netns[0]);
      buf.writeUInt32LE(r.pktLen >>> 0, off + D.pkt_len[0]);
      buf[off + D.tcp_flags[0]] = r.tcpFlags;
      buf[off + D.icmp_type[0]] = r.icmpType;
      buf[off + D.icmp_code[0]] = r.icmpCode;
      buf.writeBigUInt64LE(BigInt(r.location.startsWith('0x') ? r.location : '0'), off + D.location[0]);
    } else if (r.kind === 'tcp') {
      const S = LAYOUT.lb_tcp_rec.fields;
      writeTuple(buf, off, r);
      buf.writeUInt32LE(r.netns >>> 0, off + S.netns[0]);
      buf[off + S.old_state[0]] = Math.max(0, TCP_STATE_INDEX.indexOf(r.oldState));
      buf[off + S.new_state[0]] = Math.max(0, TCP_STATE_INDEX.indexOf(r.newState));
      buf.writeUInt32LE(r.srttUs >>> 0, off + S.srtt_us[0]);
      buf.writeUInt32LE(r.totalRetrans >>> 0, off + S.total_retrans[0]);
      writeU64(buf, off + S.bytes_acked[0], r.bytesAcked);
      writeU64(buf, off + S.bytes_received[0], r.bytesReceived);
      buf.writeUInt32LE(r.segsIn >>> 0, off + S.segs_in[0]);
      buf.writeUInt32LE(r.segsOut >>> 0, off + S.segs_out[0]);
      writeU64(buf, off + S.sock_cookie[0], r.cookie);
    } else if (r.kind === 'overflow') {
      const O = LAYOUT.lb_overflow_rec.fields;
      writeU64(buf, off + O.flows_created[0], r.flowsCreated);
      buf.writeUInt32LE(r.capacity >>> 0, off + O.capacity[0]);
      buf.writeUInt32LE(r.liveEstimate >>> 0, off + O.live_estimate[0]);
    } else {
      writeU64(buf, off + LAYOUT.lb_lost_rec.fields.lost[0], r.lost);
    }
    off += size;
  }
  return buf;
}

/** Writes a replay file incrementally (the recorder keeps one open while the probe runs). */
export interface ReplayWriter {
  write(rawBatch: Buffer): void;
  close(): void;
}

export function createReplayWriter(file: string, header: ReplayHeader): ReplayWriter {
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, MAGIC + JSON.stringify(header) + '\n');
  const frame = Buffer.alloc(8);
  return {
    write(raw) {
      frame.writeUInt32LE(raw.length, 0);
      fs.writeSync(fd, frame);
      fs.writeSync(fd, raw);
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

export interface ReplayFile {
  header: ReplayHeader;
  /** Raw batches, each in an 8-byte aligned buffer of its own. */
  batches: Buffer[];
}

export function readReplayFile(file: string): ReplayFile {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new LookbackError('config', `replay file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const bad = (why: string): LookbackError => new LookbackError('invalid_argument', `replay file ${file} is not a lookback replay file: ${why}`);
  if (data.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw bad('it does not start with LBREPLAY1');
  const eol = data.indexOf(10, MAGIC.length);
  if (eol < 0) throw bad('no header line');
  let header: ReplayHeader;
  try {
    header = JSON.parse(data.subarray(MAGIC.length, eol).toString('utf8')) as ReplayHeader;
  } catch {
    throw bad('the header line is not JSON');
  }
  const batches: Buffer[] = [];
  let off = eol + 1;
  while (off + 8 <= data.length) {
    const len = data.readUInt32LE(off);
    off += 8;
    if (off + len > data.length) throw bad(`a batch of ${len} bytes at offset ${off - 8} runs past the end`);
    const copy = Buffer.allocUnsafeSlow(len);
    data.copy(copy, 0, off, off + len);
    batches.push(copy);
    off += len;
  }
  return { header: { bootTimeMs: header.bootTimeMs ?? 0, interfaces: header.interfaces ?? {}, hostNetns: header.hostNetns ?? 0, dropReasons: header.dropReasons ?? {} }, batches };
}

/** Decodes raw batches with the header's clock and drop reason names. */
export function decodeReplayBatches(file: ReplayFile): ProbeRecord[][] {
  const decoder = createDecoder({
    bootTimeMs: file.header.bootTimeMs,
    dropReasonName: (v) => file.header.dropReasons[String(v)] ?? `UNKNOWN_${v}`,
  });
  return file.batches.map((b) => decoder.decode(b));
}
