/**
 * Decoder for probe batches: records laid out back to back as in bpf/records.h (offsets from bpf/layout.ts).
 * Reads through aligned typed-array views created once per buffer, resolves addresses through AddressCache, and
 * builds one plain object per record with a fixed shape. Records are safe to keep: payload bytes are copied out
 * of the reused batch buffer.
 *
 * Allocation is most of the cost here and in every stage after (the objects are written once and read by the
 * collector while still young), so the loop allocates the record objects and little else:
 * - 64-bit counters that fit a small integer are returned as one (see u64()), so V8 stores them unboxed in the
 *   object instead of a separate 16-byte heap number per field per record;
 * - Buffer is the imported binding, not the global (an accessor call per payload record);
 * - the drop location string is remembered for the next drop at the same location (drop floods repeat it).
 * What is left per record is the object itself, the time stamps (doubles, so boxed), and for payloads the Buffer:
 * the floor for these fields and types.
 */
// Imported, not the global: globalThis.Buffer is an accessor in Node, a getter call on every use in the loop.
import { Buffer } from 'node:buffer';
import { AddressCache } from './addresses.js';
import { CONSTANTS as C, LAYOUT, tupleField } from './layout.js';

export interface Tuple {
  family: 4 | 6;
  /** IPPROTO_* (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6). */
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/**
 * Records carry the kernel's CLOCK_MONOTONIC time only; the decoder's bootTimeMs turns it into epoch time (an
 * epoch field per record was a boxed double allocated per record that only one fallback read).
 */
interface RecordBase extends Tuple {
  /** CLOCK_MONOTONIC nanoseconds, as the kernel stamped it. */
  timeNs: number;
  ifindex: number;
}

/** A connection at one interface, oriented from its initiator; index 0 = initiator -> responder. */
export interface FlowRecord extends RecordBase {
  kind: 'flow';
  /** Why this record was sent: FLOW_EVENTS bits. */
  events: number;
  firstNs: number;
  lastNs: number;
  bytesOrig: number;
  bytesReply: number;
  packetsOrig: number;
  packetsReply: number;
  tcpFlagsOrig: number;
  tcpFlagsReply: number;
  /** TCP flags, direction and side of the packet that caused the record (0/false for sweep records). */
  pktFlags: number;
  pktReply: boolean;
  pktEgress: boolean;
  icmpType: number;
  icmpCode: number;
  /** Initiator -> responder packets pass this interface at egress (on a pod's host-side veth: false = the pod
   *  opened the connection, its packets arrive from the pod). */
  origEgress: boolean;
}

export interface PayloadRecord extends RecordBase {
  kind: 'payload';
  /** Oriented as the packet: src is the sender. */
  seq: number;
  payloadLength: number;
  egress: boolean;
  data: Buffer;
}

export interface DropRecord extends RecordBase {
  kind: 'drop';
  reason: number;
  /** The kernel's name for the reason, from its BTF, without the SKB_DROP_REASON_ prefix. */
  reasonName: string;
  netns: number;
  pktLen: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  location: string;
}

/** src is the socket's local end. */
export interface TcpRecord extends RecordBase {
  kind: 'tcp';
  netns: number;
  oldState: TcpState;
  newState: TcpState;
  srttUs: number;
  totalRetrans: number;
  bytesAcked: number;
  bytesReceived: number;
  segsIn: number;
  segsOut: number;
  cookie: number;
}

export interface OverflowRecord {
  kind: 'overflow';
  timeNs: number;
  flowsCreated: number;
  capacity: number;
  liveEstimate: number;
}

/** Records the kernel could not queue (ring buffer full) since the previous lost record. */
export interface LostRecord {
  kind: 'lost';
  timeNs: number;
  lost: number;
}

export type ProbeRecord = FlowRecord | PayloadRecord | DropRecord | TcpRecord | OverflowRecord | LostRecord;

export const FLOW_EVENTS = {
  new: C.LB_FLOW_NEW,
  syn: C.LB_FLOW_SYN,
  synAck: C.LB_FLOW_SYNACK,
  fin: C.LB_FLOW_FIN,
  rst: C.LB_FLOW_RST,
  active: C.LB_FLOW_ACTIVE,
  endIdle: C.LB_FLOW_END_IDLE,
  endFlush: C.LB_FLOW_END_FLUSH,
} as const;

export const TCP_FLAGS = { fin: C.LB_TCP_FIN, syn: C.LB_TCP_SYN, rst: C.LB_TCP_RST, psh: C.LB_TCP_PSH, ack: C.LB_TCP_ACK } as const;

/** include/net/tcp_states.h; stable kernel ABI. */
export const TCP_STATES = [
  'UNKNOWN', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT',
  'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE',
] as const;
export type TcpState = (typeof TCP_STATES)[number];

export interface DecoderOptions {
  /** Name of a drop reason value (from the kernel's BTF). */
  dropReasonName?: (value: number) => string;
  /** Unix epoch ms at CLOCK_MONOTONIC 0; defaults to now minus process.hrtime (same clock as the kernel's). */
  bootTimeMs?: number;
}

export interface Decoder {
  /** Decodes the first `bytes` bytes of buf (default: all of it). */
  decode(buf: Buffer, bytes?: number): ProbeRecord[];
  /** Unix epoch ms at CLOCK_MONOTONIC 0: a record's epoch ms is bootTimeMs + timeNs / 1e6. */
  readonly bootTimeMs: number;
}

export function monotonicBootTimeMs(): number {
  return Date.now() - Number(process.hrtime.bigint()) / 1e6;
}

const TWO32 = 4294967296;
const HDR = LAYOUT.lb_rec_hdr.fields;
const FL = LAYOUT.lb_flow_rec;
const PL = LAYOUT.lb_payload_rec;
const DR = LAYOUT.lb_drop_rec;
const TC = LAYOUT.lb_tcp_rec;
const OV = LAYOUT.lb_overflow_rec;
const LO = LAYOUT.lb_lost_rec;
// Tuple members sit at the same offsets in every record that has one (all put it right after the header).
const T_SRC = tupleField(FL, 'src');
const T_DST = tupleField(FL, 'dst');
const T_SPORT = tupleField(FL, 'sport');
const T_DPORT = tupleField(FL, 'dport');
const T_FAMILY = tupleField(FL, 'family');
const T_PROTO = tupleField(FL, 'proto');
for (const r of [PL, DR, TC]) {
  if (r.fields.tuple[0] !== FL.fields.tuple[0]) throw new Error('records.h: every tuple must follow the header');
}

interface Views {
  buf: Buffer;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
}

function viewsOf(buf: Buffer): Views {
  const len = buf.length & ~7;
  return {
    buf,
    u8: new Uint8Array(buf.buffer, buf.byteOffset, len),
    u16: new Uint16Array(buf.buffer, buf.byteOffset, len >>> 1),
    u32: new Uint32Array(buf.buffer, buf.byteOffset, len >>> 2),
  };
}

export function createDecoder(opts: DecoderOptions = {}): Decoder {
  const addrs = new AddressCache();
  const reasonName = opts.dropReasonName ?? ((v: number) => String(v));
  const boot = opts.bootTimeMs ?? monotonicBootTimeMs();
  let cached: Views | undefined;

  // The last drop location and its text: a drop flood comes from one place in the kernel, record after record.
  let lastLocLo = -1, lastLocHi = -1, lastLocText = '';
  const locationText = (lo: number, hi: number): string => {
    if (lo !== lastLocLo || hi !== lastLocHi) {
      lastLocLo = lo;
      lastLocHi = hi;
      lastLocText = '0x' + hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
    }
    return lastLocText;
  };

  const addr = (v: Views, family: number, at: number): string =>
    family === 4 ? addrs.v4(v.u32[at >>> 2]!) : addrs.v6(v.u32, at >>> 2, v.u8, at);

  function decode(input: Buffer, bytes = input.length): ProbeRecord[] {
    let buf = input;
    if (buf.byteOffset % 8 !== 0) {
      // Typed-array views need alignment; copy the rare unaligned input (e.g. a slice of a file).
      buf = Buffer.allocUnsafeSlow(bytes);
      input.copy(buf, 0, 0, bytes);
    }
    let v = cached;
    if (v === undefined || v.buf !== buf) {
      v = viewsOf(buf);
      if (buf === input) cached = v;
    }
    const { u8, u16, u32 } = v;
    const end = Math.min(bytes, u8.length);
    // Grown by push(), not made at a guessed size with new Array(n), which measured slower, not faster: decode
    // 30-50% slower in bench/collector and 2-3x slower on 2 MiB batches in bench/capture. The arrays outlive the
    // scavenges that run while the collector works through a batch, so V8 pretenures that allocation site (old
    // generation) and every young record stored into one is a remembered-set entry; with
    // --no-allocation-site-pretenuring the sized array was the faster one.
    const out: ProbeRecord[] = [];
    let off = 0;
    while (off + 16 <= end) {
      const kind = u16[off >>> 1]!;
      const size = u16[(off >>> 1) + 1]!;
      if (size < 16 || off + size > end) break;
      const w = off >>> 2;
      const timeNs = u32[w + 2]! + u32[w + 3]! * TWO32;
      if (kind === C.LB_REC_FLOW) {
        const family = u8[off + T_FAMILY] as 4 | 6;
        out.push({
          kind: 'flow',
          timeNs,
          ifindex: u32[w + 1]!,
          family,
          proto: u8[off + T_PROTO]!,
          src: addr(v, family, off + T_SRC),
          dst: addr(v, family, off + T_DST),
          sport: u16[(off + T_SPORT) >>> 1]!,
          dport: u16[(off + T_DPORT) >>> 1]!,
          events: u32[(off + FL.fields.events[0]) >>> 2]!,
          firstNs: u64(u32, off + FL.fields.first_ns[0]),
          lastNs: u64(u32, off + FL.fields.last_ns[0]),
          bytesOrig: u64(u32, off + FL.fields.bytes[0]),
          bytesReply: u64(u32, off + FL.fields.bytes[0] + 8),
          packetsOrig: u64(u32, off + FL.fields.packets[0]),
          packetsReply: u64(u32, off + FL.fields.packets[0] + 8),
          tcpFlagsOrig: u8[off + FL.fields.tcp_flags[0]]!,
          tcpFlagsReply: u8[off + FL.fields.tcp_flags[0] + 1]!,
          pktFlags: u8[off + FL.fields.pkt_flags[0]]!,
          pktReply: u8[off + FL.fields.pkt_reply[0]] === 1,
          pktEgress: u8[off + FL.fields.pkt_egress[0]] === 1,
          icmpType: u8[off + FL.fields.icmp_type[0]]!,
          icmpCode: u8[off + FL.fields.icmp_code[0]]!,
          origEgress: u8[off + FL.fields.orig_egress[0]] === 1,
        });
      } else if (kind === C.LB_REC_PAYLOAD) {
        const family = u8[off + T_FAMILY] as 4 | 6;
        const cap = Math.min(u16[(off + PL.fields.cap_len[0]) >>> 1]!, size - PL.size);
        // A slice of Node's shared pool, so a kept payload pins at most one pool chunk, never the batch. (A copy
        // through set() and a plain Uint8Array source measured no faster than copy().)
        const data = Buffer.allocUnsafe(cap);
        buf.copy(data, 0, off + PL.size, off + PL.size + cap);
        out.push({
          kind: 'payload',
          timeNs,
          ifindex: u32[w + 1]!,
          family,
          proto: u8[off + T_PROTO]!,
          src: addr(v, family, off + T_SRC),
          dst: addr(v, family, off + T_DST),
          sport: u16[(off + T_SPORT) >>> 1]!,
          dport: u16[(off + T_DPORT) >>> 1]!,
          seq: u32[(off + PL.fields.seq[0]) >>> 2]!,
          payloadLength: u32[(off + PL.fields.payload_len[0]) >>> 2]!,
          egress: u8[off + PL.fields.egress[0]] === 1,
          data,
        });
      } else if (kind === C.LB_REC_DROP) {
        const family = (u8[off + T_FAMILY] || 4) as 4 | 6;
        const reason = u32[(off + DR.fields.reason[0]) >>> 2]!;
        const loc = off + DR.fields.location[0];
        out.push({
          kind: 'drop',
          timeNs,
          ifindex: u32[w + 1]!,
          family,
          proto: u8[off + T_PROTO]!,
          src: addr(v, family, off + T_SRC),
          dst: addr(v, family, off + T_DST),
          sport: u16[(off + T_SPORT) >>> 1]!,
          dport: u16[(off + T_DPORT) >>> 1]!,
          reason,
          reasonName: reasonName(reason),
          netns: u32[(off + DR.fields.netns[0]) >>> 2]!,
          pktLen: u32[(off + DR.fields.pkt_len[0]) >>> 2]!,
          tcpFlags: u8[off + DR.fields.tcp_flags[0]]!,
          icmpType: u8[off + DR.fields.icmp_type[0]]!,
          icmpCode: u8[off + DR.fields.icmp_code[0]]!,
          location: locationText(u32[loc >>> 2]!, u32[(loc >>> 2) + 1]!),
        });
      } else if (kind === C.LB_REC_TCP) {
        const family = (u8[off + T_FAMILY] || 4) as 4 | 6;
        out.push({
          kind: 'tcp',
          timeNs,
          ifindex: u32[w + 1]!,
          family,
          proto: u8[off + T_PROTO]!,
          src: addr(v, family, off + T_SRC),
          dst: addr(v, family, off + T_DST),
          sport: u16[(off + T_SPORT) >>> 1]!,
          dport: u16[(off + T_DPORT) >>> 1]!,
          netns: u32[(off + TC.fields.netns[0]) >>> 2]!,
          oldState: TCP_STATES[u8[off + TC.fields.old_state[0]]!] ?? 'UNKNOWN',
          newState: TCP_STATES[u8[off + TC.fields.new_state[0]]!] ?? 'UNKNOWN',
          srttUs: u32[(off + TC.fields.srtt_us[0]) >>> 2]!,
          totalRetrans: u32[(off + TC.fields.total_retrans[0]) >>> 2]!,
          bytesAcked: u64(u32, off + TC.fields.bytes_acked[0]),
          bytesReceived: u64(u32, off + TC.fields.bytes_received[0]),
          segsIn: u32[(off + TC.fields.segs_in[0]) >>> 2]!,
          segsOut: u32[(off + TC.fields.segs_out[0]) >>> 2]!,
          cookie: u64(u32, off + TC.fields.sock_cookie[0]),
        });
      } else if (kind === C.LB_REC_OVERFLOW) {
        out.push({
          kind: 'overflow',
          timeNs,
          flowsCreated: u64(u32, off + OV.fields.flows_created[0]),
          capacity: u32[(off + OV.fields.capacity[0]) >>> 2]!,
          liveEstimate: u32[(off + OV.fields.live_estimate[0]) >>> 2]!,
        });
      } else if (kind === C.LB_REC_LOST) {
        out.push({ kind: 'lost', timeNs, lost: u64(u32, off + LO.fields.lost[0]) });
      }
      // Unknown kinds are skipped by their size: newer programs stay readable by older decoders.
      off += size;
    }
    return out;
  }

  return { decode, bootTimeMs: boot };
}

/** Headers checked once: the header layout the loop above hard-codes (kind, size, ifindex, time). */
if (HDR.kind[0] !== 0 || HDR.size[0] !== 2 || HDR.ifindex[0] !== 4 || HDR.time_ns[0] !== 8) {
  throw new Error('records.h: the record header layout changed; update decode.ts');
}

/**
 * A little-endian u64 as a number (exact below 2^53). When the high word is 0 the low word is returned as is:
 * `lo + hi * 2^32` is a heap number even when it is small (2^32 is not a small integer, so the first records,
 * decoded before the optimizer runs, compute in doubles), and once a field of an object shape has held a double,
 * V8 keeps that field as a boxed double for every object of the shape: a 16-byte heap number per field per
 * record. Byte and packet counters, cookies and loss counts are nearly always small; a record with one above 2^31
 * turns that field back into a boxed double from then on (still correct, just as costly as before). Time stamps
 * are never small and stay doubles.
 */
function u64(u32: Uint32Array, byteOff: number): number {
  const i = byteOff >>> 2;
  const hi = u32[i + 1]!;
  return hi === 0 ? u32[i]! : u32[i]! + hi * TWO32;
}
