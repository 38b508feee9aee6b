/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events through the ms_events ring buffer: a FLOW_NEW record when a connection is
 * allowed and tracked, a DROP record for every dropped packet (struct ms_event_flow).
 *
 * Reporting costs a call and one array lookup when it is off (ms_config.flags). When on, a token
 * bucket per CPU (ms_config.event_rate tokens a second, at most event_burst) bounds what a
 * flood can push into the ring; what the bucket refuses is counted in `limited`, what the full
 * ring refuses in `lost`, what is written in `emitted` (ms_event_state, per CPU: a TC program
 * does not migrate while it runs, so plain read-modify-write is safe).
 */
#ifndef MS_BPF_EVENTS_H
#define MS_BPF_EVENTS_H

#include "common.h"
#include "maps.h"
#include "parse.h"

#define MS_EV_NSEC_PER_SEC 1000000000ULL

/* What the pipeline has learnt about the packet it is judging, for the packet's event. */
struct ms_flow {
	__u32 ep_id;
	__u32 ifindex;       /* the endpoint's host-side interface */
	__u32 ep_identity;
	__u32 peer_identity; /* the other side's; MS_ID_UNKNOWN until looked up */
	__u32 rule_id;       /* deciding rule: the allowing one, or the deny rule; else 0 */
	__u8 dir;            /* enum ms_dir, of the endpoint */
	__u8 proxy;          /* the connection goes through the L7 proxy */
	__u8 dnat;           /* egress: the packet was translated to a backend; ingress: it
			      * replies to such a connection */
	__u8 pad;
};

static __always_inline void ms_flow_init(struct ms_flow *f, const struct ms_endpoint_info *ep,
					 __u32 ifindex, __u8 dir)
{
	f->ep_id = ep->ep_id;
	f->ifindex = ifindex;
	f->ep_identity = ep->identity;
	f->peer_identity = MS_ID_UNKNOWN;
	f->rule_id = 0;
	f->dir = dir;
	f->proxy = 0;
	f->dnat = 0;
	f->pad = 0;
}

/*
 * Refills this CPU's bucket for the time since its last refill and takes a token. Integer
 * math only: the whole seconds and the rest are scaled apart, so that nothing overflows for
 * any rate, burst or idle time; the refill stamp advances by the time the added tokens are
 * worth, so the fractions of a token left over are not lost between two packets.
 */
static __always_inline int ms_event_take_token(struct ms_event_state *st, __u32 rate,
					       __u32 burst, __u64 now)
{
	__u64 elapsed, secs, add, tokens = st->tokens;

	elapsed = now > st->tokens_ts_ns ? now - st->tokens_ts_ns : 0;
	secs = elapsed / MS_EV_NSEC_PER_SEC;
	if (secs >= burst) {
		/* rate >= 1 (0 never gets here): that long refills any bucket. */
		tokens = burst;
		st->tokens_ts_ns = now;
	} else {
		/* secs < 2^32 and rate < 2^32; the rest < 2^30. */
		add = secs * rate + (elapsed % MS_EV_NSEC_PER_SEC) * rate / MS_EV_NSEC_PER_SEC;
		if (add) {
			tokens += add;
			if (tokens >= burst) {
				tokens = burst;
				st->tokens_ts_ns = now;
			} else {
				/* add < burst here, so add * 1e9 < 2^62. */
				st->tokens_ts_ns += add * MS_EV_NSEC_PER_SEC / rate;
			}
		}
	}
	if (!tokens) {
		st->tokens = 0;
		return 0;
	}
	st->tokens = tokens - 1;
	return 1;
}

/* What every event passes before it is written: events on, and a token from this CPU's bucket
 * (a refusal is counted as rate limited). The CPU's state to count the outcome in, or NULL;
 * *now gets the time the event carries. */
static __always_inline struct ms_event_state *ms_event_admit(__u64 *now)
{
	struct ms_event_state *st;
	struct ms_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&ms_config, &zero);
	if (!cfg || !(cfg->flags & MS_CFG_F_EVENTS) || cfg->event_rate == 0)
		return NULL;
	st = bpf_map_lookup_elem(&ms_event_state, &zero);
	if (!st)
		return NULL;
	*now = bpf_ktime_get_ns();
	if (!ms_event_take_token(st, cfg->event_rate, cfg->event_burst, *now)) {
		st->limited++;
		return NULL;
	}
	return st;
}

/*
 * Writes one event for the packet pkt (as far as it was parsed: zeros otherwise) judged for
 * the endpoint of f. type: MS_EVENT_FLOW_NEW or MS_EVENT_DROP (reason: its drop reason).
 * A global function: the verifier checks it once, not once per drop site; the price is that
 * it knows nothing of its arguments (hence the NULL checks).
 */
__noinline int ms_event_emit(struct __sk_buff *skb, const struct ms_pkt *pkt,
			     const struct ms_flow *f, __u32 type, __u32 reason)
{
	struct ms_event_state *st;
	struct ms_event_flow *ev;
	__u64 now;

	if (!skb || !pkt || !f)
		return 0;
	st = ms_event_admit(&now);
	if (!st)
		return 0;
	ev = bpf_ringbuf_reserve(&ms_events, sizeof(*ev), 0);
	if (!ev) {
		st->lost++;
		return 0;
	}

	ev->hdr.version = MS_EVENT_VERSION;
	ev->hdr.len = sizeof(*ev);
	ev->hdr.type = type;
	ev->hdr.pad[0] = ev->hdr.pad[1] = ev->hdr.pad[2] = 0;
	ev->hdr.ts_ns = now;
	ev->ep_id = f->ep_id;
	ev->ifindex = f->ifindex;
	/* The endpoint sends on egress and receives on ingress; the peer is the other end. */
	if (f->dir == MS_DIR_EGRESS) {
		ev->src_identity = f->ep_identity;
		ev->dst_identity = f->peer_identity;
	} else {
		ev->src_identity = f->peer_identity;
		ev->dst_identity = f->ep_identity;
	}
	__builtin_memcpy(ev->saddr, pkt->saddr, 16);
	__builtin_memcpy(ev->daddr, pkt->daddr, 16);
	ev->sport = pkt->sport;
	ev->dport = pkt->dport;
	ev->family = pkt->family;
	ev->proto = pkt->l4_proto;
	ev->dir = f->dir;
	ev->verdict = type == MS_EVENT_DROP ? MS_VERDICT_DROPPED : MS_VERDICT_FORWARDED;
	ev->reason = reason;
	ev->icmp_type = (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) ?
				pkt->icmp_type : 0;
	ev->pad[0] = ev->pad[1] = 0;
	ev->rule_id = f->rule_id;
	ev->bytes = skb->len;
	ev->pad2 = 0;
	bpf_ringbuf_submit(ev, 0);
	st->emitted++;
	return 1;
}

/*
 * Writes a ready record (starting with struct ms_event_hdr, len bytes) under the same switch,
 * rate limit and counters as the packet events. For records built elsewhere: service
 * translations at the socket hooks, L7 records from the proxy. The caller fills the header
 * but ts_ns, which is set here. Returns 1 if written.
 */
static __always_inline int ms_event_output(void *rec, __u32 len)
{
	struct ms_event_state *st;
	__u64 now;

	st = ms_event_admit(&now);
	if (!st)
		return 0;
	((struct ms_event_hdr *)rec)->ts_ns = now;
	if (bpf_ringbuf_output(&ms_events, rec, len, 0)) {
		st->lost++;
		return 0;
	}
	st->emitted++;
	return 1;
}

static __always_inline void ms_event_flow_new(struct __sk_buff *skb, const struct ms_pkt *pkt,
					      const struct ms_flow *f)
{
	ms_event_emit(skb, pkt, f, MS_EVENT_FLOW_NEW, MS_DROP_NONE);
}

static __always_inline void ms_event_drop(struct __sk_buff *skb, const struct ms_pkt *pkt,
					  const struct ms_flow *f, __u32 reason)
{
	ms_event_emit(skb, pkt, f, MS_EVENT_DROP, reason);
}

#endif
