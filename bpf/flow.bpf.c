/*
 * Flow capture at TC ingress and egress (TCX links, or cls_bpf where the kernel has no TCX).
 * Parses Ethernet (+VLAN), IPv4, IPv6 (+extension headers), TCP, UDP, ICMP, ICMPv6; keeps one entry per connection
 * in an LRU hash, owned by the interface that saw it first (a packet seen again at a second interface of the node is
 * not counted twice, and not reported twice); sends a record on a new flow, on TCP flag transitions, on active-timeout exports,
 * and payload snippets on chosen ports. It only observes: every path returns TC_ACT_UNSPEC (= TCX_NEXT).
 *
 * Cost: this runs for every packet on every attached interface, so the common case (a packet of a flow already in
 * the table, no new TCP flag, no payload wanted) is kept short: one clock read, one per-CPU counter, header reads
 * straight from the packet, one hash lookup, two atomic adds on a cache line of its own. Everything else (making a
 * flow, records) lives in separate subprograms so its code does not sit in the common path's instruction cache.
 * bench/capture.ts measures it (kernel BPF run-time statistics over real traffic).
 */
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>

#define TC_ACT_UNSPEC (-1)
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_ICMPV6_ 58
#define EEXIST_ 17

/*
 * Records from this program never wake the reader. A ring buffer wakeup (the first record after the reader drained
 * the ring) queues an irq_work: a self-interrupt and a task wakeup that run inside this program, several
 * microseconds on a VM, charged to one packet in a few hundred. The addon's reader collects these records on a
 * timer every coalesceMs instead (bpf/addon/addon.cc), the same delay a wakeup led to before.
 */
#define LB_SUBMIT_FLAGS BPF_RB_NO_WAKEUP

/* The verifier needs a bound on variable packet offsets; headers never start this far in. */
#define LB_HDR_OFF_MAX 1024

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* set by the addon from the configuration */
	__type(key, struct lb_flow_key);
	__type(value, struct lb_flow_val);
} lb_flows SEC(".maps");

/* What the parser learns about one packet. */
struct lb_pkt {
	struct lb_tuple t;
	__u32 l3_off;   /* offset of the IP header */
	__u32 l3_len;   /* IP header including IPv6 extension headers */
	__u32 l4_len;   /* L4 header length; 0 when the packet carries no L4 header (fragment, unknown proto) */
	__u32 ip_len;   /* datagram length from the IP header; 0 when unknown (jumbogram, BIG TCP) */
	__u32 tcp_seq;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 has_l4;
};

/* One packet's state, handed by pointer to the subprograms (a BPF call takes at most five arguments). */
struct lb_ctx {
	struct lb_pkt p;
	struct lb_flow_key key;
	__u64 now;
	__u64 bytes;       /* IP bytes, GSO super-packets counted per segment */
	__u32 segs;        /* packets on the wire */
	__u32 payload_len; /* L4 payload bytes */
	__u32 payload_off; /* where the L4 payload starts */
	__u8 src_is_hi;    /* the sender is the key's hi endpoint */
	__u8 egress;
	__u8 dir;          /* 1 when the packet goes responder -> initiator */
};

/*
 * A pointer to len bytes at off: into the packet itself when they are in its linear part (almost always for
 * headers), so fields are read with plain loads and nothing is copied; otherwise into buf, filled by
 * bpf_skb_load_bytes. NULL when the packet is too short. (Inlined: the verifier follows the two kinds of pointer
 * separately.)
 */
static __always_inline const void *lb_hdr_ptr(struct __sk_buff *skb, __u32 off, void *buf, const __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (off < LB_HDR_OFF_MAX) {
		void *p = data + off;
		if (p + len <= end)
			return p;
	}
	if (bpf_skb_load_bytes(skb, off, buf, len))
		return NULL;
	return buf;
}

/*
 * Header fields are read through byte pointers, or as 16/32-bit words where that saves instructions: the verifier
 * allows unaligned packet reads where the CPU does them well (x86, arm64), and the stack copy is 8-byte aligned.
 */
static __always_inline __u16 rd16(const __u8 *b)
{
	return ((__u16)b[0] << 8) | b[1];
}

static __always_inline void parse_l4(struct __sk_buff *skb, struct lb_pkt *p, __u8 proto, __u32 off)
{
	__u8 buf[20] __attribute__((aligned(8)));
	const __u8 *h;

	p->t.proto = proto;
	if (proto == IPPROTO_TCP) {
		h = lb_hdr_ptr(skb, off, buf, 20);
		if (!h)
			return;
		p->t.sport = rd16(h);
		p->t.dport = rd16(h + 2);
		p->tcp_seq = bpf_ntohl(*(const __u32 *)(h + 4));
		p->l4_len = (h[12] >> 4) * 4;
		p->tcp_flags = h[13];
		p->has_l4 = p->l4_len >= 20;
	} else if (proto == IPPROTO_UDP) {
		h = lb_hdr_ptr(skb, off, buf, 8);
		if (!h)
			return;
		p->t.sport = rd16(h);
		p->t.dport = rd16(h + 2);
		p->l4_len = 8;
		p->has_l4 = 1;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
		h = lb_hdr_ptr(skb, off, buf, 8);
		if (!h)
			return;
		__u8 type = h[0];
		p->icmp_type = type;
		p->icmp_code = h[1];
		/* Echo request and reply share the identifier: use it as both "ports" so they form one flow. */
		if ((proto == IPPROTO_ICMP && (type == 8 || type == 0)) ||
		    (proto == IPPROTO_ICMPV6_ && (type == 128 || type == 129))) {
			__u16 id = rd16(h + 4);
			p->t.sport = id;
			p->t.dport = id;
		}
		p->l4_len = 8;
		p->has_l4 = 1;
	}
}

/* Returns 0 for IP packets, 1 for anything else, -1 when truncated. */
static __always_inline int parse(struct __sk_buff *skb, struct lb_pkt *p)
{
	__u8 buf[40] __attribute__((aligned(8))); /* aligned: the verifier wants aligned stack reads */
	const __u8 *h;
	__u32 off = 14;
	__u16 proto;

	h = lb_hdr_ptr(skb, 0, buf, 14);
	if (!h)
		return -1;
	proto = *(const __u16 *)(h + 12); /* network order, compared with bpf_htons constants */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			h = lb_hdr_ptr(skb, off, buf, 4);
			if (!h)
				return -1;
			proto = *(const __u16 *)(h + 2);
			off += 4;
		}
	}
	p->l3_off = off;

	if (proto == bpf_htons(ETH_P_IP)) {
		h = lb_hdr_ptr(skb, off, buf, 20);
		if (!h)
			return -1;
		__u32 ihl = (h[0] & 0xf) * 4;
		if (ihl < 20)
			return -1;
		p->t.family = 4;
		*(__u32 *)p->t.src = *(const __u32 *)(h + 12);
		*(__u32 *)p->t.dst = *(const __u32 *)(h + 16);
		p->ip_len = rd16(h + 2);
		p->l3_len = ihl;
		__u8 l4 = h[9];
		p->t.proto = l4;
		if (rd16(h + 6) & 0x1fff)
			return 0; /* a later fragment: no L4 header */
		parse_l4(skb, p, l4, off + ihl);
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		h = lb_hdr_ptr(skb, off, buf, 40);
		if (!h)
			return -1;
		p->t.family = 6;
		/* Word loads (a byte-wise memcpy would be 32 loads and as many shifts). */
		const __u32 *a = (const __u32 *)(h + 8);
		__u32 *src = (__u32 *)p->t.src, *dst = (__u32 *)p->t.dst;
		src[0] = a[0];
		src[1] = a[1];
		src[2] = a[2];
		src[3] = a[3];
		dst[0] = a[4];
		dst[1] = a[5];
		dst[2] = a[6];
		dst[3] = a[7];
		__u32 plen = rd16(h + 4);
		p->ip_len = plen ? plen + 40 : 0;
		__u32 l3 = 40;
		__u8 nh = h[6];
#pragma unroll
		for (int i = 0; i < 6; i++) {
			if (nh == 0 || nh == 43 || nh == 60 || nh == 51) {
				h = lb_hdr_ptr(skb, off + l3, buf, 2);
				if (!h)
					return -1;
				l3 += nh == 51 ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
				nh = h[0];
			} else if (nh == 44) {
				h = lb_hdr_ptr(skb, off + l3, buf, 8);
				if (!h)
					return -1;
				l3 += 8;
				nh = h[0];
				if (rd16(h + 2) & 0xfff8) {
					p->l3_len = l3;
					p->t.proto = nh;
					return 0; /* a later fragment */
				}
			} else {
				break;
			}
		}
		p->l3_len = l3;
		parse_l4(skb, p, nh, off + l3);
		return 0;
	}
	return 1;
}

/* Canonical order of the two endpoints: negative when a < b. */
static __always_inline int endpoint_cmp(const __u8 *a, __u16 ap, const __u8 *b, __u16 bp)
{
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	if (a0 != b0)
		return a0 < b0 ? -1 : 1;
	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	if (ap != bp)
		return ap < bp ? -1 : 1;
	return 0;
}

static __always_inline __u32 flow_hash(const struct lb_flow_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0x9747b28c;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 4); i++) {
		h ^= w[i];
		h *= 0x5bd1e995;
		h ^= h >> 15;
	}
	return h;
}

static __always_inline int port_selected(const volatile __u8 *bitmap, __u16 port)
{
	return bitmap[port >> 3] & (1 << (port & 7));
}

/* Flow record events a packet's TCP flags bring, given the flags of its direction not seen before it. */
static __always_inline __u32 flag_events(__u32 fresh, __u8 dir)
{
	__u32 events = 0;
	if (fresh & LB_TCP_SYN)
		events |= dir ? LB_FLOW_SYNACK : LB_FLOW_SYN;
	if (fresh & LB_TCP_FIN)
		events |= LB_FLOW_FIN;
	if (fresh & LB_TCP_RST)
		events |= LB_FLOW_RST;
	return events;
}

/*
 * The subprograms below run for a minority of packets (new flows, records). __noinline makes them BPF-to-BPF calls:
 * their code is laid out apart from the common path, and a call costs a few instructions.
 */

static __noinline void emit_flow(const struct lb_ctx *c, const struct lb_flow_val *v, __u32 events)
{
	const struct lb_flow_key *k = &c->key;
	const struct lb_pkt *p = &c->p;
	__u64 now = c->now;

	struct lb_flow_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_FLOW, 1);
		return;
	}
	lb_hdr(&r->hdr, LB_REC_FLOW, sizeof(*r), v->ifindex, now);
	if (v->init_is_hi) {
		__builtin_memcpy(r->tuple.src, k->hi_addr, 16);
		__builtin_memcpy(r->tuple.dst, k->lo_addr, 16);
		r->tuple.sport = k->hi_port;
		r->tuple.dport = k->lo_port;
	} else {
		__builtin_memcpy(r->tuple.src, k->lo_addr, 16);
		__builtin_memcpy(r->tuple.dst, k->hi_addr, 16);
		r->tuple.sport = k->lo_port;
		r->tuple.dport = k->hi_port;
	}
	r->tuple.family = k->family;
	r->tuple.proto = k->proto;
	r->tuple._pad[0] = 0;
	r->tuple._pad[1] = 0;
	r->first_ns = v->first_ns;
	r->last_ns = now;
	r->bytes[0] = v->dir[0].bytes;
	r->bytes[1] = v->dir[1].bytes;
	r->packets[0] = v->dir[0].packets;
	r->packets[1] = v->dir[1].packets;
	r->events = events;
	__u32 f = v->tcp_flags;
	r->tcp_flags[0] = f & 0xff;
	r->tcp_flags[1] = (f >> 8) & 0xff;
	r->pkt_flags = p->tcp_flags;
	r->pkt_reply = c->dir;
	r->pkt_egress = c->egress;
	r->icmp_type = p->icmp_type;
	r->icmp_code = p->icmp_code;
	r->orig_egress = v->orig_egress;
	__builtin_memset(r->_pad, 0, sizeof(r->_pad));
	bpf_ringbuf_submit(r, LB_SUBMIT_FLAGS);
	lb_count(LB_CTR_FLOW_RECORDS, 1);
}

static __noinline void emit_payload(struct __sk_buff *skb, const struct lb_ctx *c)
{
	const struct lb_pkt *p = &c->p;
	__u32 plen = c->payload_len;

	struct lb_payload_rec *r = bpf_ringbuf_reserve(&lb_events, lb_cfg.payload_rec_size, 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_PAYLOAD, 1);
		return;
	}
	__u32 cap = plen;
	if (cap > lb_cfg.snap_len)
		cap = lb_cfg.snap_len;
	if (cap > LB_SNAP_MAX)
		cap = LB_SNAP_MAX;
	if (cap > 0 && bpf_skb_load_bytes(skb, c->payload_off, (void *)(r + 1), cap))
		cap = 0;
	lb_hdr(&r->hdr, LB_REC_PAYLOAD, lb_cfg.payload_rec_size, skb->ifindex, c->now);
	r->tuple = p->t;
	r->seq = p->tcp_seq;
	r->payload_len = plen;
	r->cap_len = cap;
	r->egress = c->egress;
	__builtin_memset(r->_pad, 0, sizeof(r->_pad));
	bpf_ringbuf_submit(r, LB_SUBMIT_FLAGS);
	lb_count(LB_CTR_PAYLOAD_RECORDS, 1);
}

static __noinline void note_flow_created(__u64 now)
{
	__u32 k0 = 0, k1 = 1;
	struct lb_global_val *g = bpf_map_lookup_elem(&lb_global, &k0);
	struct lb_global_val *u = bpf_map_lookup_elem(&lb_global, &k1);
	if (!g || !u)
		return;
	__u64 created = __sync_fetch_and_add(&g->slot[LB_G_FLOWS_CREATED], 1) + 1;
	__u64 live = created - u->slot[LB_G_REMOVED_BASE];
	if (!lb_cfg.flow_capacity || live <= lb_cfg.flow_capacity)
		return;
	/* The LRU table is evicting live flows. Say so, at most once a second. */
	__u64 last = g->slot[LB_G_OVERFLOW_NS];
	if (now - last < 1000000000ULL || __sync_val_compare_and_swap(&g->slot[LB_G_OVERFLOW_NS], last, now) != last)
		return;
	struct lb_overflow_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_OTHER, 1);
		return;
	}
	lb_hdr(&r->hdr, LB_REC_OVERFLOW, sizeof(*r), 0, now);
	r->flows_created = created;
	r->capacity = lb_cfg.flow_capacity;
	r->live_estimate = live;
	bpf_ringbuf_submit(r, LB_SUBMIT_FLAGS);
	lb_count(LB_CTR_OVERFLOW_RECORDS, 1);
}

/*
 * The first packet of a flow (none in the table for its key). The new entry is written with this packet already
 * counted, so the packet needs no second lookup and no atomics; the record is filled from that same copy, which
 * holds exactly what the entry held right after the packet. Returns 1 when the entry was made, 0 when another CPU
 * made it first (the caller goes on as for a known flow), -1 when it could not be made.
 */
static __noinline int new_flow(struct __sk_buff *skb, struct lb_ctx *c)
{
	const struct lb_pkt *p = &c->p;
	/* A SYN-ACK or an echo reply seen first: the receiver opened the connection. */
	int reversed = (p->t.proto == IPPROTO_TCP && (p->tcp_flags & (LB_TCP_SYN | LB_TCP_ACK)) == (LB_TCP_SYN | LB_TCP_ACK)) ||
		       (p->t.proto == IPPROTO_ICMP && p->icmp_type == 0) ||
		       (p->t.proto == IPPROTO_ICMPV6_ && p->icmp_type == 129);
	struct lb_flow_val nv = {};
	nv.first_ns = c->now;
	nv.export_due_ns = lb_cfg.active_timeout_ns ? c->now + lb_cfg.active_timeout_ns : ~0ULL;
	nv.init_is_hi = reversed ? !c->src_is_hi : c->src_is_hi;
	nv.orig_egress = reversed ? !c->egress : c->egress;
	nv.icmp_type = p->icmp_type;
	nv.icmp_code = p->icmp_code;
	nv.ifindex = skb->ifindex;
	/* Payload ports are load-time configuration and a flow's ports never change: decide once, here. */
	if (lb_cfg.snap_len && (p->t.proto == IPPROTO_TCP || p->t.proto == IPPROTO_UDP)) {
		const volatile __u8 *ports = p->t.proto == IPPROTO_TCP ? lb_cfg.payload_ports_tcp : lb_cfg.payload_ports_udp;
		nv.want_payload = port_selected(ports, p->t.sport) || port_selected(ports, p->t.dport);
	}
	/* This packet travels initiator -> responder unless the flow was opened by its receiver. */
	__u8 dir = reversed ? 1 : 0;
	c->dir = dir;
	nv.dir[dir].bytes = c->bytes;
	nv.dir[dir].packets = c->segs;
	nv.dir[dir].last_ns = c->now;
	nv.tcp_flags = (__u32)p->tcp_flags << (dir ? 8 : 0);

	int err = bpf_map_update_elem(&lb_flows, &c->key, &nv, BPF_NOEXIST);
	if (err == -EEXIST_)
		return 0;
	if (err) {
		lb_count(LB_CTR_FLOW_INSERT_FAILED, 1);
		return -1;
	}
	lb_count(LB_CTR_FLOWS_CREATED, 1);
	note_flow_created(c->now);
	emit_flow(c, &nv, LB_FLOW_NEW | flag_events(p->tcp_flags, dir));
	if (nv.want_payload && c->payload_len)
		emit_payload(skb, c);
	return 1;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 egress)
{
	struct lb_ctx c = {};
	struct lb_pkt *pp = &c.p;
	c.now = bpf_ktime_get_ns();
	c.egress = egress;

	lb_count(LB_CTR_PACKETS, 1);
#ifdef LB_TEST_REJECT
	{
		/* Built only for the verifier-rejection test: a hash map value used without its NULL check. */
		struct lb_flow_key k = {};
		struct lb_flow_val *v = bpf_map_lookup_elem(&lb_flows, &k);
		v->first_ns = 1;
	}
#endif
	if (parse(skb, pp) != 0) {
		lb_count(LB_CTR_NOT_IP, 1);
		return TC_ACT_UNSPEC;
	}

	/*
	 * Header accounting. Bytes are IP bytes: the IP header (with IPv6 extension headers), the L4 header and the
	 * payload, without the Ethernet header. A GSO super-packet (TC sees the unsegmented skb) becomes gso_segs
	 * packets on the wire, each with its own copy of the IP and L4 headers: count those copies too, so the
	 * totals are what a capture on the wire would add up to.
	 */
	__u32 segs = skb->gso_size ? skb->gso_segs : 1;
	if (segs == 0)
		segs = 1;
	__u32 l3_total = (segs > 1 || pp->ip_len == 0) ? skb->len - pp->l3_off : pp->ip_len;
	__u32 hdrs = pp->l3_len + pp->l4_len;
	c.segs = segs;
	c.bytes = (__u64)l3_total + (__u64)(segs - 1) * hdrs;
	c.payload_len = pp->has_l4 && l3_total > hdrs ? l3_total - hdrs : 0;
	c.payload_off = pp->l3_off + hdrs;

	struct lb_flow_key *key = &c.key;
	int src_is_hi = endpoint_cmp(pp->t.src, pp->t.sport, pp->t.dst, pp->t.dport) > 0;
	if (src_is_hi) {
		__builtin_memcpy(key->lo_addr, pp->t.dst, 16);
		__builtin_memcpy(key->hi_addr, pp->t.src, 16);
		key->lo_port = pp->t.dport;
		key->hi_port = pp->t.sport;
	} else {
		__builtin_memcpy(key->lo_addr, pp->t.src, 16);
		__builtin_memcpy(key->hi_addr, pp->t.dst, 16);
		key->lo_port = pp->t.sport;
		key->hi_port = pp->t.dport;
	}
	key->family = pp->t.family;
	key->proto = pp->t.proto;
	c.src_is_hi = src_is_hi;

	/*
	 * The common packet reads no configuration: lb_cfg is a map value like any other, and a cache line of it
	 * touched per packet is one more line to miss. Sampling is decided per flow by the hash of its key, so a flow
	 * found in the table passed it when it was made: only packets that find none need the check.
	 */
	struct lb_flow_val *v = bpf_map_lookup_elem(&lb_flows, key);
	if (!v) {
		if (lb_cfg.sample_every > 1 && flow_hash(key) % lb_cfg.sample_every) {
			lb_count(LB_CTR_SAMPLED_OUT, 1);
			return TC_ACT_UNSPEC;
		}
		if (new_flow(skb, &c) != 0)
			return TC_ACT_UNSPEC; /* made and reported, or failed */
		/* Another CPU made it between our lookup and insert: count this packet into that entry. */
		v = bpf_map_lookup_elem(&lb_flows, key);
		if (!v)
			return TC_ACT_UNSPEC;
	}

	/* The same packet at the connection's second interface (the other pod's, on this node): already counted. */
	if (v->ifindex != skb->ifindex) {
		lb_count(LB_CTR_SECOND_INTERFACE, 1);
		return TC_ACT_UNSPEC;
	}

	__u32 events = 0;
	__u8 dir = (src_is_hi == v->init_is_hi) ? 0 : 1;
	c.dir = dir;
	struct lb_flow_dir *d = &v->dir[dir ? 1 : 0];
	__sync_fetch_and_add(&d->bytes, c.bytes);
	__sync_fetch_and_add(&d->packets, segs);
	d->last_ns = c.now;

	if (pp->tcp_flags) {
		__u32 shift = dir ? 8 : 0;
		__u32 bits = (__u32)pp->tcp_flags << shift;
		/* Read first: the locked OR only runs when this packet brings a flag not seen yet. */
		if (bits & ~v->tcp_flags) {
			__u32 old = __sync_fetch_and_or(&v->tcp_flags, bits);
			events = flag_events((bits & ~old) >> shift, dir);
		}
	}

	/* Active timeout: the entry holds when the next export is due (never, when the timeout is off). */
	__u64 due = v->export_due_ns;
	if (c.now >= due &&
	    __sync_val_compare_and_swap(&v->export_due_ns, due, c.now + lb_cfg.active_timeout_ns) == due)
		events |= LB_FLOW_ACTIVE;

	if (events)
		emit_flow(&c, v, events);

	/* Only set for TCP and UDP flows on a chosen port, and only when payloads are captured (snap_len > 0). */
	if (v->want_payload && c.payload_len)
		emit_payload(skb, &c);
	return TC_ACT_UNSPEC;
}

/*
 * A program per direction: for cls_bpf filters (kernels without TCX, or attachMode 'tc'), where the attach point
 * says the direction. (They come first in the object, so libbpf loads, and reports a rejection by, these first.)
 */
SEC("tc")
int lb_tc_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

SEC("tc")
int lb_tc_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

/*
 * One program for both directions, used for TCX links: when a packet passes two attached interfaces on its way
 * (pod to pod on one node: ingress at one host-side veth, egress at the other, back to back in one softirq), the
 * second run finds the code already in the instruction cache; with a program per direction it had to fetch a
 * second copy. The direction comes from the sk_buff itself (tc_at_ingress, set by the kernel before it runs TC
 * programs), reached through bpf_cast_to_kern_ctx: Linux 6.2 and later, so every kernel with TCX. The addon loads
 * it only where the kernel has that kfunc.
 */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

SEC("tc")
int lb_tc(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	return handle(skb, BPF_CORE_READ_BITFIELD(kskb, tc_at_ingress) ? 0 : 1);
}
