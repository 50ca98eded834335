/*
 * Flow capture at TC ingress and egress (TCX links, or cls_bpf where the kernel has no TCX).
 * Parses Ethernet (+VLAN), IPv4, IPv6 (+extension headers), TCP, UDP, ICMP, ICMPv6; keeps one entry per connection
 * and interface in an LRU hash; sends a record on a new flow, on TCP flag transitions, on active-timeout exports,
 * and payload snippets on chosen ports. It only observes: every path returns TC_ACT_UNSPEC (= TCX_NEXT).
 */
#include "common.bpf.h"

#define TC_ACT_UNSPEC (-1)
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_ICMPV6_ 58
#define EEXIST_ 17

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

/*
 * Copies len bytes at off: straight from the packet when they are in the linear part (almost always: headers),
 * through bpf_skb_load_bytes otherwise. Half the cost of calling the helper for every header.
 */
static __always_inline int lb_load(struct __sk_buff *skb, __u32 off, void *to, const __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (off < 1024) {
		void *p = data + off;
		if (p + len <= end) {
			__builtin_memcpy(to, p, len);
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline int parse_l4(struct __sk_buff *skb, struct lb_pkt *p, __u8 proto, __u32 off)
{
	p->t.proto = proto;
	if (proto == IPPROTO_TCP) {
		__u8 th[20];
		if (lb_load(skb, off, th, sizeof(th)))
			return 0;
		p->t.sport = ((__u16)th[0] << 8) | th[1];
		p->t.dport = ((__u16)th[2] << 8) | th[3];
		p->tcp_seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
		p->l4_len = (th[12] >> 4) * 4;
		p->tcp_flags = th[13];
		p->has_l4 = p->l4_len >= 20;
	} else if (proto == IPPROTO_UDP) {
		__u8 uh[8];
		if (lb_load(skb, off, uh, sizeof(uh)))
			return 0;
		p->t.sport = ((__u16)uh[0] << 8) | uh[1];
		p->t.dport = ((__u16)uh[2] << 8) | uh[3];
		p->l4_len = 8;
		p->has_l4 = 1;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
		__u8 ih[8];
		if (lb_load(skb, off, ih, sizeof(ih)))
			return 0;
		p->icmp_type = ih[0];
		p->icmp_code = ih[1];
		/* Echo request and reply share the identifier: use it as both "ports" so they form one flow. */
		if ((proto == IPPROTO_ICMP && (ih[0] == 8 || ih[0] == 0)) ||
		    (proto == IPPROTO_ICMPV6_ && (ih[0] == 128 || ih[0] == 129))) {
			__u16 id = ((__u16)ih[4] << 8) | ih[5];
			p->t.sport = id;
			p->t.dport = id;
		}
		p->l4_len = 8;
		p->has_l4 = 1;
	}
	return 0;
}

/* Returns 0 for IP packets, 1 for anything else, -1 when truncated. */
static __always_inline int parse(struct __sk_buff *skb, struct lb_pkt *p)
{
	struct ethhdr eth;
	__u32 off = sizeof(eth);
	__u16 proto;

	if (lb_load(skb, 0, &eth, sizeof(eth)))
		return -1;
	proto = eth.h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			__be16 vh[2];
			if (lb_load(skb, off, vh, sizeof(vh)))
				return -1;
			proto = vh[1];
			off += 4;
		}
	}
	p->l3_off = off;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (lb_load(skb, off, &ip, sizeof(ip)))
			return -1;
		__u32 ihl = ip.ihl * 4;
		if (ihl < 20)
			return -1;
		p->t.family = 4;
		__builtin_memcpy(p->t.src, &ip.saddr, 4);
		__builtin_memcpy(p->t.dst, &ip.daddr, 4);
		p->ip_len = bpf_ntohs(ip.tot_len);
		p->l3_len = ihl;
		p->t.proto = ip.protocol;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 0; /* a later fragment: no L4 header */
		return parse_l4(skb, p, ip.protocol, off + ihl);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (lb_load(skb, off, &ip6, sizeof(ip6)))
			return -1;
		p->t.family = 6;
		__builtin_memcpy(p->t.src, &ip6.saddr, 16);
		__builtin_memcpy(p->t.dst, &ip6.daddr, 16);
		__u32 plen = bpf_ntohs(ip6.payload_len);
		p->ip_len = plen ? plen + 40 : 0;
		__u32 l3 = 40;
		__u8 nh = ip6.nexthdr;
#pragma unroll
		for (int i = 0; i < 6; i++) {
			if (nh == 0 || nh == 43 || nh == 60 || nh == 51) {
				__u8 ext[2];
				if (lb_load(skb, off + l3, ext, sizeof(ext)))
					return -1;
				l3 += nh == 51 ? ((__u32)ext[1] + 2) * 4 : ((__u32)ext[1] + 1) * 8;
				nh = ext[0];
			} else if (nh == 44) {
				__u8 frag[8];
				if (lb_load(skb, off + l3, frag, sizeof(frag)))
					return -1;
				l3 += 8;
				nh = frag[0];
				if ((((__u16)frag[2] << 8) | frag[3]) & 0xfff8) {
					p->l3_len = l3;
					p->t.proto = nh;
					return 0; /* a later fragment */
				}
			} else {
				break;
			}
		}
		p->l3_len = l3;
		return parse_l4(skb, p, nh, off + l3);
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

static __always_inline void emit_flow(const struct lb_flow_key *k, const struct lb_flow_val *v, __u32 events,
				      const struct lb_pkt *p, __u8 dir, __u8 egress, __u64 now)
{
	struct lb_flow_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_FLOW, 1);
		return;
	}
	lb_hdr(&r->hdr, LB_REC_FLOW, sizeof(*r), k->ifindex, now);
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
	r->pkt_reply = dir;
	r->pkt_egress = egress;
	r->icmp_type = p->icmp_type;
	r->icmp_code = p->icmp_code;
	r->orig_egress = v->orig_egress;
	__builtin_memset(r->_pad, 0, sizeof(r->_pad));
	bpf_ringbuf_submit(r, 0);
	lb_count(LB_CTR_FLOW_RECORDS, 1);
}

static __always_inline void emit_payload(struct __sk_buff *skb, const struct lb_pkt *p, __u32 off, __u32 plen,
					 __u8 egress, __u64 now)
{
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
	if (cap > 0 && bpf_skb_load_bytes(skb, off, (void *)(r + 1), cap))
		cap = 0;
	lb_hdr(&r->hdr, LB_REC_PAYLOAD, lb_cfg.payload_rec_size, skb->ifindex, now);
	r->tuple = p->t;
	r->seq = p->tcp_seq;
	r->payload_len = plen;
	r->cap_len = cap;
	r->egress = egress;
	__builtin_memset(r->_pad, 0, sizeof(r->_pad));
	bpf_ringbuf_submit(r, 0);
	lb_count(LB_CTR_PAYLOAD_RECORDS, 1);
}

static __always_inline void note_flow_created(__u64 now)
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
	bpf_ringbuf_submit(r, 0);
	lb_count(LB_CTR_OVERFLOW_RECORDS, 1);
}

static __always_inline int handle(struct __sk_buff *skb, __u8 egress)
{
	struct lb_pkt p = {};
	__u64 now = bpf_ktime_get_ns();

	lb_count(LB_CTR_PACKETS, 1);
#ifdef LB_TEST_REJECT
	{
		/* Built only for the verifier-rejection test: a hash map value used without its NULL check. */
		struct lb_flow_key k = {};
		struct lb_flow_val *v = bpf_map_lookup_elem(&lb_flows, &k);
		v->first_ns = 1;
	}
#endif
	if (parse(skb, &p) != 0) {
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
	__u32 l3_total = (segs > 1 || p.ip_len == 0) ? skb->len - p.l3_off : p.ip_len;
	__u32 hdrs = p.l3_len + p.l4_len;
	__u64 bytes = (__u64)l3_total + (__u64)(segs - 1) * hdrs;
	__u32 payload_len = p.has_l4 && l3_total > hdrs ? l3_total - hdrs : 0;

	struct lb_flow_key key = {};
	int src_is_hi = endpoint_cmp(p.t.src, p.t.sport, p.t.dst, p.t.dport) > 0;
	if (src_is_hi) {
		__builtin_memcpy(key.lo_addr, p.t.dst, 16);
		__builtin_memcpy(key.hi_addr, p.t.src, 16);
		key.lo_port = p.t.dport;
		key.hi_port = p.t.sport;
	} else {
		__builtin_memcpy(key.lo_addr, p.t.src, 16);
		__builtin_memcpy(key.hi_addr, p.t.dst, 16);
		key.lo_port = p.t.sport;
		key.hi_port = p.t.dport;
	}
	key.ifindex = skb->ifindex;
	key.family = p.t.family;
	key.proto = p.t.proto;

	if (lb_cfg.sample_every > 1 && flow_hash(&key) % lb_cfg.sample_every) {
		lb_count(LB_CTR_SAMPLED_OUT, 1);
		return TC_ACT_UNSPEC;
	}

	__u32 events = 0;
	struct lb_flow_val *v = bpf_map_lookup_elem(&lb_flows, &key);
	if (!v) {
		/* A SYN-ACK or an echo reply seen first: the receiver opened the connection. */
		int reversed = (p.t.proto == IPPROTO_TCP && (p.tcp_flags & (LB_TCP_SYN | LB_TCP_ACK)) == (LB_TCP_SYN | LB_TCP_ACK)) ||
			       (p.t.proto == IPPROTO_ICMP && p.icmp_type == 0) ||
			       (p.t.proto == IPPROTO_ICMPV6_ && p.icmp_type == 129);
		struct lb_flow_val nv = {};
		nv.first_ns = now;
		nv.export_ns = now;
		nv.init_is_hi = reversed ? !src_is_hi : src_is_hi;
		nv.orig_egress = reversed ? !egress : egress;
		nv.icmp_type = p.icmp_type;
		nv.icmp_code = p.icmp_code;
		int err = bpf_map_update_elem(&lb_flows, &key, &nv, BPF_NOEXIST);
		if (err == 0) {
			events |= LB_FLOW_NEW;
			lb_count(LB_CTR_FLOWS_CREATED, 1);
			note_flow_created(now);
		} else if (err != -EEXIST_) {
			lb_count(LB_CTR_FLOW_INSERT_FAILED, 1);
			return TC_ACT_UNSPEC;
		}
		v = bpf_map_lookup_elem(&lb_flows, &key);
		if (!v)
			return TC_ACT_UNSPEC;
	}

	__u8 dir = (src_is_hi == v->init_is_hi) ? 0 : 1;
	struct lb_flow_dir *d = &v->dir[dir ? 1 : 0];
	__sync_fetch_and_add(&d->bytes, bytes);
	__sync_fetch_and_add(&d->packets, segs);
	d->last_ns = now;

	if (p.tcp_flags) {
		__u32 shift = dir ? 8 : 0;
		__u32 bits = (__u32)p.tcp_flags << shift;
		/* Read first: the locked OR only runs when this packet brings a flag not seen yet. */
		if (bits & ~v->tcp_flags) {
			__u32 old = __sync_fetch_and_or(&v->tcp_flags, bits);
			__u32 fresh = (bits & ~old) >> shift;
			if (fresh & LB_TCP_SYN)
				events |= dir ? LB_FLOW_SYNACK : LB_FLOW_SYN;
			if (fresh & LB_TCP_FIN)
				events |= LB_FLOW_FIN;
			if (fresh & LB_TCP_RST)
				events |= LB_FLOW_RST;
		}
	}

	if (lb_cfg.active_timeout_ns && !(events & LB_FLOW_NEW)) {
		__u64 last = v->export_ns;
		if (now - last >= lb_cfg.active_timeout_ns &&
		    __sync_val_compare_and_swap(&v->export_ns, last, now) == last)
			events |= LB_FLOW_ACTIVE;
	}

	if (events)
		emit_flow(&key, v, events, &p, dir, egress, now);

	if (lb_cfg.snap_len && payload_len && (p.t.proto == IPPROTO_TCP || p.t.proto == IPPROTO_UDP)) {
		const volatile __u8 *ports = p.t.proto == IPPROTO_TCP ? lb_cfg.payload_ports_tcp : lb_cfg.payload_ports_udp;
		if (port_selected(ports, p.t.sport) || port_selected(ports, p.t.dport))
			emit_payload(skb, &p, p.l3_off + hdrs, payload_len, egress, now);
	}
	return TC_ACT_UNSPEC;
}

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
