/*
 * The one definition of what lookback's kernel programs hand to user space: record layouts, the flow table's
 * key and value, the counters and the load-time configuration. Included by the BPF programs (the .bpf.c files, with
 * vmlinux.h) and by the addon (bpf/addon, with linux/types.h). The TypeScript decoder (bpf/layout.ts) is
 * checked against this file by bpf/layout.test.ts (it compiles a program printing every offset, size and
 * constant), so a change here that is not mirrored there fails a test instead of corrupting data.
 *
 * Every record starts with struct lb_rec_hdr and has a size that is a multiple of 8, so records can be copied
 * back to back into one buffer and read with aligned typed-array views.
 * Addresses are in network byte order (IPv4 in the first 4 bytes, the rest zero); ports are in host order.
 */
#ifndef LOOKBACK_RECORDS_H
#define LOOKBACK_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Record kinds. */
#define LB_REC_FLOW 1     /* flow state change or counter export (struct lb_flow_rec) */
#define LB_REC_PAYLOAD 2  /* first bytes of an L4 payload (struct lb_payload_rec + data) */
#define LB_REC_DROP 3     /* kernel dropped a packet (struct lb_drop_rec) */
#define LB_REC_TCP 4      /* TCP socket state change (struct lb_tcp_rec) */
#define LB_REC_OVERFLOW 5 /* the flow table is full and evicts live flows (struct lb_overflow_rec) */
#define LB_REC_LOST 6     /* written by the addon: records the kernel could not queue (struct lb_lost_rec) */

/* Why a flow record was sent (lb_flow_rec.events, a bit set). */
#define LB_FLOW_NEW 0x01       /* first packet of the flow at this interface */
#define LB_FLOW_SYN 0x02       /* first SYN from the initiator */
#define LB_FLOW_SYNACK 0x04    /* first SYN from the responder */
#define LB_FLOW_FIN 0x08       /* first FIN in a direction */
#define LB_FLOW_RST 0x10       /* first RST in a direction */
#define LB_FLOW_ACTIVE 0x20    /* periodic export of a long-lived flow (active timeout) */
#define LB_FLOW_END_IDLE 0x40  /* removed by the idle sweep (final counters) */
#define LB_FLOW_END_FLUSH 0x80 /* removed by an explicit flush (final counters) */

/* TCP flag bits as on the wire (lb_flow_rec.tcp_flags, pkt_flags). */
#define LB_TCP_FIN 0x01
#define LB_TCP_SYN 0x02
#define LB_TCP_RST 0x04
#define LB_TCP_PSH 0x08
#define LB_TCP_ACK 0x10

struct lb_rec_hdr {
	__u16 kind;    /* LB_REC_* */
	__u16 size;    /* whole record in bytes, a multiple of 8 */
	__u32 ifindex; /* interface the packet was seen on (0 when unknown) */
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

struct lb_tuple {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* ICMP echo: the identifier in both ports */
	__u16 dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_* */
	__u8 _pad[2];
};

/*
 * A flow is one connection seen at one interface: both directions share an entry. The tuple is oriented from the
 * initiator (sender of the first packet, or the receiver when the first packet seen is a SYN-ACK or an echo reply).
 * Index 0 of the per-direction arrays is initiator -> responder, index 1 the reply direction.
 */
struct lb_flow_rec {
	struct lb_rec_hdr hdr;
	struct lb_tuple tuple;
	__u64 first_ns;
	__u64 last_ns;
	__u64 bytes[2];   /* IP bytes (IP header + L4), GSO super-packets counted per segment */
	__u64 packets[2]; /* packets on the wire: a GSO super-packet counts gso_segs */
	__u32 events;     /* LB_FLOW_* */
	__u8 tcp_flags[2]; /* OR of TCP flags seen per direction */
	__u8 pkt_flags;    /* TCP flags of the packet that caused this record */
	__u8 pkt_reply;    /* 1 when that packet went responder -> initiator */
	__u8 pkt_egress;   /* 1 when that packet was seen at egress */
	__u8 icmp_type;    /* ICMP/ICMPv6 type and code of that packet */
	__u8 icmp_code;
	__u8 orig_egress;  /* 1 when initiator -> responder packets pass this interface at egress */
	__u8 _pad[4];
};

/* Followed by cap_len bytes of payload, then unspecified bytes up to hdr.size (not zeroed: whatever the ring held;
 * readers use cap_len). */
struct lb_payload_rec {
	struct lb_rec_hdr hdr;
	struct lb_tuple tuple; /* as on the packet: src is the sender */
	__u32 seq;             /* TCP sequence number of the first payload byte (0 for UDP) */
	__u32 payload_len;     /* L4 payload bytes in the packet (GSO: the whole super-packet) */
	__u16 cap_len;         /* bytes captured */
	__u8 egress;           /* 1 when seen at egress */
	__u8 _pad[5];
};

struct lb_drop_rec {
	struct lb_rec_hdr hdr; /* ifindex: the device the packet was on, in netns */
	struct lb_tuple tuple;
	__u32 reason;  /* enum skb_drop_reason value; names come from the kernel's BTF */
	__u32 netns;   /* network namespace inode number of the device (or socket) */
	__u32 pkt_len; /* skb->len */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 _pad;
	__u64 location; /* kernel address of the code that dropped it */
};

/* tuple.src is the socket's local address and port, dst the remote one. */
struct lb_tcp_rec {
	struct lb_rec_hdr hdr;
	struct lb_tuple tuple;
	__u32 netns;
	__u8 old_state; /* TCP_ESTABLISHED = 1 ... as in include/net/tcp_states.h */
	__u8 new_state;
	__u8 _pad[2];
	__u32 srtt_us; /* smoothed RTT in microseconds */
	__u32 total_retrans;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 segs_in;
	__u32 segs_out;
	__u64 sock_cookie; /* stable socket identity (bpf_get_socket_cookie) */
};

struct lb_overflow_rec {
	struct lb_rec_hdr hdr;
	__u64 flows_created; /* flows created since load */
	__u32 capacity;      /* flow table size */
	__u32 live_estimate; /* estimated entries: created minus removed */
};

struct lb_lost_rec {
	struct lb_rec_hdr hdr;
	__u64 lost; /* records dropped because the ring buffer was full since the previous LOST record */
};

/* The context of the benchmark program (bench.bpf.c), run through BPF_PROG_TEST_RUN. */
struct lb_bench_args {
	__u32 count; /* records to write in this run */
	__u32 seq;   /* sequence number of the first one */
	__u32 sent;  /* out: records written */
	__u32 full;  /* out: reservations that failed */
};

/* Payload records reserve room for up to this many bytes. */
#define LB_SNAP_MAX 1024

/*
 * The flow table (an LRU hash): one entry per connection on the node. The key is canonical: the lower (address, port)
 * endpoint first. It holds no interface: a packet between two pods of this node crosses both pods' host-side
 * interfaces, and is one observation, counted and reported at the interface that saw the connection first (the
 * entry's owner); the other interface's programs find the entry and stop there.
 */
struct lb_flow_key {
	__u8 lo_addr[16];
	__u8 hi_addr[16];
	__u16 lo_port;
	__u16 hi_port;
	__u32 _zero;  /* always 0 (keeps the key, hence the table entry, at the size the value's layout counts on) */
	__u8 family;
	__u8 proto;
	__u8 _pad[2];
};

/*
 * The flow table's value. Every packet reads the header and writes one direction; the layout keeps that to as few
 * cache lines as possible and keeps the two directions apart.
 *
 * Per direction on its own cache line: the two directions of a busy connection are often updated by two CPUs at
 * once (data one way, ACKs the other); with both in one line every atomic add would pull the line over from the
 * other CPU. 64 bytes apart = never the same 64-byte line.
 *
 * Sizes: the kernel stores an LRU hash entry as a 48-byte header, the key rounded up to 8 (48) and the value, in
 * one preallocated array. With a 160-byte value an entry is 256 bytes, so entries start on cache-line boundaries:
 * the 32-byte header below shares the key's second line, and each direction fills a line of its own (3 lines per
 * packet; the earlier 192-byte value made 288-byte entries, every second one straddling an extra line). Only a
 * matter of speed: nothing depends on it for correctness.
 */
struct lb_flow_dir {
	__u64 bytes;
	__u64 packets;
	__u64 last_ns;
	__u64 _pad[5];
};

struct lb_flow_val {
	/* Read by every packet, written rarely. */
	__u64 first_ns;
	__u64 export_due_ns; /* next active-timeout export: last one (or first packet) + timeout; ~0 = never */
	__u32 tcp_flags;   /* direction 0 in bits 0-7, direction 1 in bits 8-15 (one word for atomic OR) */
	__u8 init_is_hi;   /* 1 when the initiator is the key's hi endpoint */
	__u8 orig_egress;  /* initiator -> responder packets pass this interface at egress */
	__u8 icmp_type;    /* of the first packet */
	__u8 icmp_code;
	__u8 want_payload; /* payload records wanted (TCP/UDP on a chosen port): decided once, when the flow is made */
	__u8 _pad[3];
	__u32 ifindex;     /* the owner: the interface that saw the first packet; only its packets are counted */
	struct lb_flow_dir dir[2]; /* [0] initiator -> responder, [1] reply */
};

/* Per-CPU counters (map lb_counters, index = LB_CTR_*). */
enum lb_counter {
	LB_CTR_PACKETS = 0,      /* packets seen by the flow programs */
	LB_CTR_NOT_IP,           /* skipped: not IPv4/IPv6 */
	LB_CTR_SAMPLED_OUT,      /* skipped by flow sampling */
	LB_CTR_FLOWS_CREATED,
	LB_CTR_FLOW_INSERT_FAILED,
	LB_CTR_FLOW_RECORDS,
	LB_CTR_PAYLOAD_RECORDS,
	LB_CTR_DROP_RECORDS,
	LB_CTR_DROPS_IGNORED,    /* drop reasons filtered out as noise, or not IP */
	LB_CTR_TCP_RECORDS,
	LB_CTR_OVERFLOW_RECORDS,
	LB_CTR_RING_FULL_FLOW,   /* ring buffer reservations that failed, per record kind */
	LB_CTR_RING_FULL_PAYLOAD,
	LB_CTR_RING_FULL_DROP,
	LB_CTR_RING_FULL_TCP,
	LB_CTR_RING_FULL_OTHER,
	LB_CTR_SECOND_INTERFACE, /* packets of a connection owned by another interface (already counted there) */
	LB_CTR_MAX
};
#define LB_COUNTER_SLOTS 32

/* Shared, non-per-CPU state (map lb_global, index = LB_G_*). */
enum lb_global_slot {
	LB_G_FLOWS_CREATED = 0, /* atomically incremented by the kernel */
	LB_G_REMOVED_BASE,      /* written by user space: created - live entries, at the last sweep */
	LB_G_OVERFLOW_NS,       /* last overflow record (rate limit: one per second) */
	LB_G_MAX
};
#define LB_GLOBAL_SLOTS 8

/* Load-time configuration, in each object's .rodata.lbcfg section (read-only once loaded). */
struct lb_config {
	__u64 active_timeout_ns; /* 0: never export live flows */
	__u32 sample_every;      /* keep 1 in N flows (by hash of the flow); 0 and 1 keep all */
	__u32 flow_capacity;     /* entries in the flow table, for overflow detection */
	__u32 snap_len;          /* payload bytes captured, 0 disables payload records */
	__u32 payload_rec_size;  /* sizeof(struct lb_payload_rec) + snap_len rounded up to 8 */
	__u32 tcp_state_mask;    /* report TCP state changes into these states (bit = state) */
	__u32 no_socket_reason;  /* value of SKB_DROP_REASON_NO_SOCKET on this kernel (from BTF), 0 if unknown */
	__u8 payload_ports_tcp[8192]; /* bit set: capture payloads to or from this TCP port */
	__u8 payload_ports_udp[8192];
	__u8 drop_ignore[128];   /* bit set: ignore this drop reason (values 0..1023) */
};

#endif
