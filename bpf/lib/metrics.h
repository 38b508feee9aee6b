/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-endpoint counters. Bytes are skb->len at TC: whole frames, Ethernet header included. */
#ifndef MS_BPF_METRICS_H
#define MS_BPF_METRICS_H

#include "common.h"
#include "maps.h"

/* The map is per-CPU and TC programs do not migrate while running: plain adds suffice. */
static __always_inline void ms_counter_add(struct ms_counter *c, __u32 bytes)
{
	c->packets += 1;
	c->bytes += bytes;
}

static __always_inline void ms_count_fwd(__u32 ep_id, enum ms_dir dir, __u32 bytes)
{
	struct ms_ep_stats *st;

	if (dir >= MS_DIR_MAX)
		return;
	/* ep_id 0 is never given out; an id past the map size finds nothing. */
	st = bpf_map_lookup_elem(&ms_ep_stats, &ep_id);
	if (st)
		ms_counter_add(&st->fwd[dir], bytes);
}

static __always_inline void ms_count_drop(__u32 ep_id, enum ms_dir dir, __u32 reason, __u32 bytes)
{
	struct ms_ep_stats *st;

	if (dir >= MS_DIR_MAX || reason >= MS_DROP_MAX)
		return;
	st = bpf_map_lookup_elem(&ms_ep_stats, &ep_id);
	if (st)
		ms_counter_add(&st->drop[dir][reason], bytes);
}

#endif
