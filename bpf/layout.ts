/**
 * The record layout as TypeScript sees it: a mirror of bpf/records.h, which stays the source of truth.
 * bpf/layout.test.ts compiles a C program against records.h that prints every offset, size and constant listed
 * here and compares, and checks the member lists against the BTF of the compiled BPF objects, so the two cannot
 * drift apart silently. Field names are the C names.
 */

/** [byte offset, byte size] of a struct member. */
export type FieldSpec = readonly [offset: number, size: number];
export interface StructSpec {
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

export const LAYOUT = {
  lb_rec_hdr: { size: 16, fields: { kind: [0, 2], size: [2, 2], ifindex: [4, 4], time_ns: [8, 8] } },
  lb_tuple: {
    size: 40,
    fields: { src: [0, 16], dst: [16, 16], sport: [32, 2], dport: [34, 2], family: [36, 1], proto: [37, 1], _pad: [38, 2] },
  },
  lb_flow_rec: {
    size: 120,
    fields: {
      hdr: [0, 16], tuple: [16, 40], first_ns: [56, 8], last_ns: [64, 8], bytes: [72, 16], packets: [88, 16],
      events: [104, 4], tcp_flags: [108, 2], pkt_flags: [110, 1], pkt_reply: [111, 1], pkt_egress: [112, 1],
      icmp_type: [113, 1], icmp_code: [114, 1], orig_egress: [115, 1], _pad: [116, 4],
    },
  },
  lb_payload_rec: {
    size: 72,
    fields: {
      hdr: [0, 16], tuple: [16, 40], seq: [56, 4], payload_len: [60, 4], cap_len: [64, 2], egress: [66, 1], _pad: [67, 5],
    },
  },
  lb_drop_rec: {
    size: 80,
    fields: {
      hdr: [0, 16], tuple: [16, 40], reason: [56, 4], netns: [60, 4], pkt_len: [64, 4], tcp_flags: [68, 1],
      icmp_type: [69, 1], icmp_code: [70, 1], _pad: [71, 1], location: [72, 8],
    },
  },
  lb_tcp_rec: {
    size: 104,
    fields: {
      hdr: [0, 16], tuple: [16, 40], netns: [56, 4], old_state: [60, 1], new_state: [61, 1], _pad: [62, 2],
      srtt_us: [64, 4], total_retrans: [68, 4], bytes_acked: [72, 8], bytes_received: [80, 8], segs_in: [88, 4],
      segs_out: [92, 4], sock_cookie: [96, 8],
    },
  },
  lb_overflow_rec: {
    size: 32,
    fields: { hdr: [0, 16], flows_created: [16, 8], capacity: [24, 4], live_estimate: [28, 4] },
  },
  lb_lost_rec: { size: 24, fields: { hdr: [0, 16], lost: [16, 8] } },
} as const satisfies Record<string, StructSpec>;

/** #define values from records.h that TypeScript relies on. */
export const CONSTANTS = {
  LB_REC_FLOW: 1,
  LB_REC_PAYLOAD: 2,
  LB_REC_DROP: 3,
  LB_REC_TCP: 4,
  LB_REC_OVERFLOW: 5,
  LB_REC_LOST: 6,
  LB_FLOW_NEW: 0x01,
  LB_FLOW_SYN: 0x02,
  LB_FLOW_SYNACK: 0x04,
  LB_FLOW_FIN: 0x08,
  LB_FLOW_RST: 0x10,
  LB_FLOW_ACTIVE: 0x20,
  LB_FLOW_END_IDLE: 0x40,
  LB_FLOW_END_FLUSH: 0x80,
  LB_TCP_FIN: 0x01,
  LB_TCP_SYN: 0x02,
  LB_TCP_RST: 0x04,
  LB_TCP_PSH: 0x08,
  LB_TCP_ACK: 0x10,
  LB_SNAP_MAX: 1024,
} as const;

/** Absolute offset of a tuple member inside a record that embeds `struct lb_tuple tuple`. */
export function tupleField(record: { fields: { tuple: FieldSpec } }, name: keyof typeof LAYOUT.lb_tuple.fields): number {
  return record.fields.tuple[0] + LAYOUT.lb_tuple.fields[name][0];
}
