/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test-only program: one step of the event rate limiter (bpf/lib/events.h) with a clock the
 * test chooses, so that refills, fractions of tokens and large values can be checked exactly
 * rather than against the time a test happens to take.
 */
#include "common.h"
#include "events.h"

__u64 in_now;
__u32 in_rate;
__u32 in_burst;
struct ms_event_state state;
__u32 r_taken;

SEC("tc")
int token_probe(struct __sk_buff *skb)
{
	r_taken = ms_event_take_token(&state, in_rate, in_burst, in_now);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
