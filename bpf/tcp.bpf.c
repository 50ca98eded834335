/*
 * TCP connection lifecycle from the socket's point of view (tp_btf/inet_sock_set_state): what the packet view
 * cannot tell, such as which side connected, when the kernel considers the connection established or closed, and
 * the smoothed RTT and totals the socket kept. lb_cfg.tcp_state_mask picks the states reported (by new state).
 */
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define AF_INET 2
#define AF_INET6 10

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lb_sock_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate < 0 || newstate > 31 || !(lb_cfg.tcp_state_mask & (1u << newstate)))
		return 0;

	struct lb_tcp_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		lb_count(LB_CTR_RING_FULL_TCP, 1);
		return 0;
	}
	__builtin_memset(&r->tuple, 0, sizeof(r->tuple));
	lb_hdr(&r->hdr, LB_REC_TCP, sizeof(*r), sk->__sk_common.skc_bound_dev_if, bpf_ktime_get_ns());

	__u16 family = sk->__sk_common.skc_family;
	if (family == AF_INET6) {
		/* A dual-stack socket talking IPv4 (::ffff:a.b.c.d) is an IPv4 connection on the wire: report it so. */
		__u32 w[3];
		BPF_CORE_READ_INTO(&w, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
		if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff))
			family = AF_INET;
	}
	if (family == AF_INET) {
		r->tuple.family = 4;
		__u32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;
		__builtin_memcpy(r->tuple.src, &s, 4);
		__builtin_memcpy(r->tuple.dst, &d, 4);
	} else if (family == AF_INET6) {
		r->tuple.family = 6;
		BPF_CORE_READ_INTO(&r->tuple.src, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r->tuple.dst, sk, __sk_common.skc_v6_daddr);
	}
	r->tuple.proto = IPPROTO_TCP;
	r->tuple.sport = sk->__sk_common.skc_num;
	r->tuple.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	r->netns = sk->__sk_common.skc_net.net->ns.inum;
	r->old_state = oldstate;
	r->new_state = newstate;
	r->_pad[0] = 0;
	r->_pad[1] = 0;

	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	r->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	r->total_retrans = BPF_CORE_READ(tp, total_retrans);
	r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	r->segs_in = BPF_CORE_READ(tp, segs_in);
	r->segs_out = BPF_CORE_READ(tp, segs_out);
	r->sock_cookie = bpf_get_socket_cookie(sk);
	bpf_ringbuf_submit(r, 0);
	lb_count(LB_CTR_TCP_RECORDS, 1);
	return 0;
}
