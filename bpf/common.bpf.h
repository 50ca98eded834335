/*
 * Maps and helpers shared by every lookback BPF object. Each object declares the same shared maps; the addon
 * creates them once (with the first object) and hands the same map to the others (bpf_map__reuse_fd), so all
 * programs write into one ring buffer and one set of counters.
 */
#ifndef LOOKBACK_COMMON_BPF_H
#define LOOKBACK_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "records.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The ring buffer every record goes through; its size is set by the addon before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} lb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lb_counters SEC(".maps");

/* Key 0 is written by the kernel (atomics), key 1 by user space; never both on one value. */
struct lb_global_val {
	__u64 slot[LB_GLOBAL_SLOTS];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct lb_global_val);
} lb_global SEC(".maps");

/* Filled in by the addon before load; read-only afterwards, so the verifier folds it into constants. */
const volatile struct lb_config lb_cfg SEC(".rodata.lbcfg") = {};

static __always_inline void lb_count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&lb_counters, &idx);
	/* Per-CPU slot: a plain add is enough, these programs do not nest on one CPU for the same counter. */
	if (c)
		*c += n;
}

static __always_inline void lb_hdr(struct lb_rec_hdr *h, __u16 kind, __u16 size, __u32 ifindex, __u64 now)
{
	h->kind = kind;
	h->size = size;
	h->ifindex = ifindex;
	h->time_ns = now;
}

#endif
