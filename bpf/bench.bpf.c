/*
 * Benchmark source: writes synthetic flow records into the same ring buffer the real programs use, so the
 * delivery path (ring -> addon -> one Buffer -> JavaScript decode) can be measured at rates that real traffic on
 * a small machine cannot reach. Run with BPF_PROG_TEST_RUN from a native thread (Probe.benchProduce); it is
 * never attached to anything. Addresses cycle over 1024 IPv4 and 256 IPv6 endpoints, like a busy node.
 */
#include "common.bpf.h"

static long emit_one(__u32 i, void *ctx)
{
	struct lb_bench_args *a = ctx;
	__u32 n = a->seq + i;
	struct lb_flow_rec *r = bpf_ringbuf_reserve(&lb_events, sizeof(*r), 0);
	if (!r) {
		a->full++;
		lb_count(LB_CTR_RING_FULL_FLOW, 1);
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	lb_hdr(&r->hdr, LB_REC_FLOW, sizeof(*r), 2 + (n & 7), now);
	__builtin_memset(&r->tuple, 0, sizeof(r->tuple));
	if ((n & 7) == 7) {
		r->tuple.family = 6;
		r->tuple.src[0] = 0xfd;
		r->tuple.src[15] = n & 0xff;
		r->tuple.dst[0] = 0xfd;
		r->tuple.dst[14] = 1;
		r->tuple.dst[15] = (n >> 8) & 0xff;
	} else {
		r->tuple.family = 4;
		r->tuple.src[0] = 10;
		r->tuple.src[2] = (n >> 8) & 3;
		r->tuple.src[3] = n & 0xff;
		r->tuple.dst[0] = 10;
		r->tuple.dst[1] = 1;
		r->tuple.dst[3] = (n >> 4) & 0xff;
	}
	r->tuple.proto = IPPROTO_TCP;
	r->tuple.sport = 32768 + (n & 0x3fff);
	r->tuple.dport = 8080;
	r->first_ns = now - 1000;
	r->last_ns = now;
	r->bytes[0] = 74 + n % 1500;
	r->bytes[1] = 60;
	r->packets[0] = 1;
	r->packets[1] = 1;
	r->events = LB_FLOW_NEW | LB_FLOW_SYN;
	r->tcp_flags[0] = LB_TCP_SYN;
	r->tcp_flags[1] = 0;
	r->pkt_flags = LB_TCP_SYN;
	r->pkt_reply = 0;
	r->pkt_egress = 0;
	r->icmp_type = 0;
	r->icmp_code = 0;
	__builtin_memset(r->_pad, 0, sizeof(r->_pad));
	bpf_ringbuf_submit(r, 0);
	a->sent++;
	return 0;
}

SEC("syscall")
int lb_bench_emit(struct lb_bench_args *args)
{
	struct lb_bench_args a = {.count = args->count, .seq = args->seq};
	bpf_loop(a.count, emit_one, &a, 0); /* the loop context must live on the stack */
	args->sent = a.sent;
	args->full = a.full;
	return 0;
}
