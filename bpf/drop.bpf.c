/*
 * Packet drops with the kernel's own reason, from the kfree_skb tracepoint (tp_btf: no tracefs, no kprobes).
 * Reasons listed in lb_cfg.drop_ignore (noise such as "not specified") are counted and skipped. The reason is the
 * raw enum skb_drop_reason value: its names are read from the kernel's BTF in user space, because the numbers
 * change between kernels.
 */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

static __always_inline void read_l4(struct lb_drop_rec *r, const unsigned char *l4)
{
	__u8 h[14] = {};
	if (r->tuple.proto == IPPROTO_TCP) {
		if (bpf_probe_read_kernel(h, 14, l4))
			return;
		r->tcp_flags = h[13];
	} else if (r->tuple.proto == IPPROTO_UDP || r->tuple.proto == IPPROTO_ICMP || r->tuple.proto == 58) {
		if (bpf_probe_read_kernel(h, 8, l4))
			return;
	} else {
		return;
	}
	if (r->tuple.proto == IPPROTO_TCP || r->tuple.proto == IPPROTO_UDP) {
		r->tuple.sport = ((__u16)h[0] << 8) | h[1];
		r->tuple.dport = ((__u16)h[2] << 8) | h[3];
	} else {
		r->icmp_type = h[0];
		r->icmp_code = h[1];
	}
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(lb_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u32 why = (__u32)reason;
	/* The empty asm hides the range from clang so it keeps the mask the verifier needs to see. */
	__u32 idx = why >> 3;
	asm volatile("" : "+r"(idx));
	idx &= 127;
	if (why < 1024 && (lb_cfg.drop_ignore[idx] & (1 << (why & 7)))) {
		lb_count(LB_CTR_DROPS_IGNORED, 1);
		return 0;
	}
	__u16 proto = skb->protocol;
	__u16 nh = skb->network_header;
	if ((proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6)) || nh == (__u16)~0U) {
		lb_count(LB_CTR_DROPS_IGNORED, 1);
		return 0;
	}
	const unsigned char *l3 = skb->head + nh;

	struct lb_drop_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_DROP, 1);
		return 0;
	}
	__builtin_memset(&r->tuple, 0, sizeof(r->tuple));
	r->tcp_flags = 0;
	r->icmp_type = 0;
	r->icmp_code = 0;
	r->_pad = 0;

	struct net_device *dev = skb->dev;
	__u32 ifindex = 0, netns = 0;
	if (dev) {
		ifindex = dev->ifindex;
		netns = dev->nd_net.net->ns.inum;
	} else {
		ifindex = skb->skb_iif;
		struct sock *sk = skb->sk;
		if (sk)
			netns = sk->__sk_common.skc_net.net->ns.inum;
	}
	lb_hdr(&r->hdr, LB_REC_DROP, sizeof(*r), ifindex, bpf_ktime_get_ns());
	r->reason = why;
	r->netns = netns;
	r->pkt_len = skb->len;
	r->location = (__u64)location;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3) == 0) {
			r->tuple.family = 4;
			r->tuple.proto = ip.protocol;
			__builtin_memcpy(r->tuple.src, &ip.saddr, 4);
			__builtin_memcpy(r->tuple.dst, &ip.daddr, 4);
			if (!(ip.frag_off & bpf_htons(0x1fff)))
				read_l4(r, l3 + ip.ihl * 4);
		}
	} else {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3) == 0) {
			r->tuple.family = 6;
			r->tuple.proto = ip6.nexthdr;
			__builtin_memcpy(r->tuple.src, &ip6.saddr, 16);
			__builtin_memcpy(r->tuple.dst, &ip6.daddr, 16);
			read_l4(r, l3 + 40);
		}
	}
	/*
	 * An echo reply that a raw socket (ping run as root) already received is then freed by the ICMP layer as
	 * NO_SOCKET because no ping socket wanted it: not a drop, and one per ping reply. Skip it.
	 */
	if (why == lb_cfg.no_socket_reason && why &&
	    ((r->tuple.proto == IPPROTO_ICMP && r->icmp_type == 0) || (r->tuple.proto == 58 && r->icmp_type == 129))) {
		bpf_ringbuf_discard(r, 0);
		lb_count(LB_CTR_DROPS_IGNORED, 1);
		return 0;
	}
	bpf_ringbuf_submit(r, 0);
	lb_count(LB_CTR_DROP_RECORDS, 1);
	return 0;
}
