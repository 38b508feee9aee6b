/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services: choosing a backend (shared with the socket hooks, sock_lb.h) and the per-packet
 * translation in the endpoint programs.
 *
 * Choosing: a live affinity entry of the client, if the service has affinity and the backend
 * it names is still ACTIVE in this service; else the slot picked by the hash (Maglev) or a
 * random number (weighted random) in the live half of the service's slots. The slot's backend
 * must be ACTIVE too: userspace takes a backend out of the slots (and flips the half) before
 * it marks it anything else or deletes it, so a non-active one in a slot is a bug or a race,
 * and refusing is the safe answer.
 *
 * Per packet, at the client's egress (before policy, so that policy judges the backend): a
 * TCP or UDP packet whose tuple has a translation entry (ms_lb_nat, MS_LB_NAT_FWD) goes to
 * that entry's backend; one to a frontend without an entry chooses a backend, and records the
 * forward entry and the reverse one (the backend's reply tuple -> frontend) that the client's
 * ingress uses to put the frontend back as the source of replies.
 *
 * Decisions:
 *  - Any TCP packet without an entry chooses, not only a SYN: an entry is lost only to LRU
 *    eviction, and then Maglev (or affinity) finds the same backend again while the backend
 *    set is unchanged, so the connection survives; if the choice differs, the new backend
 *    answers with a RST and the client fails at once. Dropping instead would leave the client
 *    retransmitting into a hole until it times out.
 *  - A SYN (without ACK) on an entry whose backend is no longer ACTIVE chooses again: that is
 *    a new connection reusing a tuple, or a retransmitted SYN of one that never got going.
 *    Every other packet keeps its backend whatever its state (draining backends keep their
 *    connections).
 *  - The forward entry is looked up before the service: connections keep working after their
 *    service is removed, until their entries are evicted. The price: every TCP/UDP packet
 *    a container sends pays a miss in ms_lb_nat besides the one in ms_lb_services (about
 *    35 and 20 ns with BPF_PROG_TEST_RUN; the service lookup alone would be the 20).
 *  - Not translated: non-first fragments (no ports), ICMP errors quoting a translated packet
 *    (the client sees them from the backend's address), a client that picks itself as the
 *    backend (hairpin; needs source NAT).
 */
#ifndef MS_BPF_LB_H
#define MS_BPF_LB_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "ct.h"
#include "events.h"
#include "lb_pick.h"
#include "nat.h"

/* A connection to frontend fe and the backend chosen for it (id 0: none). */
struct ms_lb_choice {
	struct ms_lb_key fe;
	__u32 id;
	__u32 svc_id;
	struct ms_nat_target to; /* the backend's address and port */
};

/*
 * Chooses a backend of svc (a copy of the service entry) for c->fe: ak is the client's
 * affinity key (used only if the service has affinity), hash its Maglev hash. Returns
 * non-zero with c->id and c->to set, or 0 (c->id 0) if the service has no usable backend.
 */
static __always_inline int ms_lb_choose(const struct ms_lb_service *svc,
					const struct ms_lb_affinity_key *ak, __u32 hash, __u64 now,
					struct ms_lb_choice *c)
{
	struct ms_lb_affinity_value *av;
	const struct ms_lb_backend *b;
	struct ms_lb_slot_key sk;
	__u8 family = c->fe.family;
	__u32 *id, bid;

	c->id = 0;
	c->svc_id = svc->svc_id;
	if (svc->n_slots == 0)
		return 0;
	if (svc->affinity_timeout_s) {
		av = bpf_map_lookup_elem(&ms_lb_affinity, ak);
		if (ms_lb_affinity_live(av, now, svc->affinity_timeout_s)) {
			bid = av->backend_id;
			b = bpf_map_lookup_elem(&ms_lb_backends, &bid);
			if (ms_lb_backend_usable(b, svc->svc_id, family)) {
				av->last_ns = now;
				goto found;
			}
		}
	}

	if (svc->algo != MS_LB_ALGO_MAGLEV)
		hash = bpf_get_prandom_u32();
	ms_lb_slot_key(&sk, svc, ms_lb_slot_index(hash, svc->n_slots));
	id = bpf_map_lookup_elem(&ms_lb_slots, &sk);
	if (!id)
		return 0;
	bid = *id;
	b = bpf_map_lookup_elem(&ms_lb_backends, &bid);
	if (!ms_lb_backend_usable(b, svc->svc_id, family))
		return 0;
	if (svc->affinity_timeout_s) {
		struct ms_lb_affinity_value nv = { .backend_id = bid, .last_ns = now };

		/* Best effort: without the entry the next connection just chooses afresh. */
		bpf_map_update_elem(&ms_lb_affinity, ak, &nv, BPF_ANY);
	}
found:
	c->id = bid;
	__builtin_memset(&c->to, 0, sizeof(c->to));
	if (family == MS_FAMILY_IPV4)
		__builtin_memcpy(c->to.addr, b->addr, 4);
	else
		__builtin_memcpy(c->to.addr, b->addr, 16);
	c->to.port = b->port;
	return 1;
}

/* One more connection sent to the backend. Per-CPU, but the socket hooks can be preempted
 * on their CPU: an atomic add costs little there. */
static __always_inline void ms_lb_count(__u32 backend_id)
{
	struct ms_lb_backend_stats *st = bpf_map_lookup_elem(&ms_lb_backend_stats, &backend_id);

	if (st)
		__sync_fetch_and_add(&st->connections, 1);
}

/*
 * Reports a translation, or its refusal (c->id 0). hook: MS_SVC_HOOK_*; ep_id and pkt the
 * client endpoint and its packet (TC), netns_cookie the client's namespace (socket hooks). A global function: the
 * record is built in a frame of its own, not in the caller's.
 */
__noinline int ms_lb_report(const struct ms_lb_choice *c, const struct ms_pkt *pkt, __u32 hook,
			    __u32 ep_id, __u64 netns_cookie)
{
	struct ms_event_svc ev = {};

	if (!c)
		return 0;
	ev.hdr.version = MS_EVENT_VERSION;
	ev.hdr.len = sizeof(ev);
	ev.hdr.type = MS_EVENT_SERVICE;
	ev.svc_id = c->svc_id;
	ev.backend_id = c->id;
	__builtin_memcpy(ev.vip, c->fe.addr, 16);
	ev.vip_port = c->fe.port;
	if (c->id) {
		__builtin_memcpy(ev.backend, c->to.addr, 16);
		ev.backend_port = c->to.port;
	}
	ev.family = c->fe.family;
	ev.proto = c->fe.proto;
	ev.hook = hook;
	ev.ep_id = ep_id;
	ev.netns_cookie = netns_cookie;
	if (pkt) {
		__builtin_memcpy(ev.client, pkt->saddr, 16);
		ev.client_port = pkt->sport;
	}
	return ms_event_output(&ev, sizeof(ev));
}

/* ---- per packet ------------------------------------------------------------------------ */

/* Packets with a tuple to translate by. */
static __always_inline int ms_lb_translatable(const struct ms_pkt *pkt)
{
	return (pkt->l4_proto == IPPROTO_TCP || pkt->l4_proto == IPPROTO_UDP) &&
	       (pkt->flags & MS_PKT_F_L4) && !(pkt->flags & MS_PKT_F_FRAGMENT);
}

/* The packet's tuple in connection-tracking layout, dir MS_LB_NAT_FWD or _REV. */
static __always_inline void ms_lb_nat_key(struct ms_ct_key *k, const struct ms_pkt *pkt,
					  __u8 dir)
{
	ms_ct_key_from_pkt(k, pkt, dir);
}

static __always_inline void ms_lb_target_of(struct ms_nat_target *to,
					    const struct ms_lb_nat_value *nat)
{
	__builtin_memcpy(to->addr, nat->addr, 16);
	to->port = nat->port;
	to->pad = 0;
}

/* Whether a packet with a forward entry starts over with a new backend (see the top). */
static __always_inline int ms_lb_rechoose(const struct ms_pkt *pkt,
					  const struct ms_lb_nat_value *nat)
{
	const struct ms_lb_backend *b;
	__u32 id = nat->backend_id;

	if (pkt->l4_proto != IPPROTO_TCP ||
	    (pkt->tcp_flags & (MS_TCP_SYN | MS_TCP_ACK)) != MS_TCP_SYN)
		return 0;
	b = bpf_map_lookup_elem(&ms_lb_backends, &id);
	return !ms_lb_backend_usable(b, nat->svc_id, pkt->family);
}

/* Records both directions of a translated connection: the client's tuple -> backend, the
 * backend's reply tuple -> frontend; and counts it for the backend. Non-zero if the map
 * refused an entry. Global, for its frame (see ms_lb_open). */
__noinline int ms_lb_record(const struct ms_pkt *pkt, const struct ms_lb_choice *c)
{
	struct ms_lb_nat_value nat = {};
	struct ms_ct_key key;

	if (!pkt || !c)
		return -1;
	__builtin_memcpy(nat.addr, c->to.addr, 16);
	nat.port = c->to.port;
	nat.backend_id = c->id;
	nat.svc_id = c->svc_id;
	ms_lb_nat_key(&key, pkt, MS_LB_NAT_FWD);
	if (bpf_map_update_elem(&ms_lb_nat, &key, &nat, BPF_ANY))
		return -1;

	__builtin_memcpy(key.saddr, c->to.addr, 16);
	__builtin_memcpy(key.daddr, pkt->saddr, 16);
	key.sport = c->to.port;
	key.dport = pkt->sport;
	key.dir = MS_LB_NAT_REV;
	__builtin_memcpy(nat.addr, c->fe.addr, 16);
	nat.port = c->fe.port;
	if (bpf_map_update_elem(&ms_lb_nat, &key, &nat, BPF_ANY))
		return -1;
	ms_lb_count(c->id);
	return 0;
}

/*
 * Chooses a backend of the service found (its entry in ms_lb_services) for a packet to
 * c->fe without a usable translation. hash: the packet's Maglev hash. Returns non-zero with
 * c filled in, or 0 (c->id 0) if the service has no usable backend.
 *
 * Global functions here and in nat.h: each is checked once by the verifier and keeps its
 * locals in a frame of its own. The endpoint program calls them one after the other, never
 * one inside another: its own frame is large, and the verifier adds up the frames of a chain
 * of calls against the 512-byte limit (which is also why the caller computes the hash).
 */
__noinline int ms_lb_open(const struct ms_pkt *pkt, const struct ms_lb_service *found,
			  __u32 hash, struct ms_lb_choice *c)
{
	struct ms_lb_affinity_key ak;
	struct ms_lb_service svc;

	if (!pkt || !found || !c)
		return 0;
	/* One read of the entry userspace replaces as a whole: half and count agree. */
	svc = *found;
	ms_lb_affinity_key_addr(&ak, svc.svc_id, pkt->family, pkt->saddr);
	return ms_lb_choose(&svc, &ak, hash, bpf_ktime_get_ns(), c);
}

/* At the client's egress (ms_from_container), before the policy: a packet to a service
 * frontend is translated to a backend, and pkt updated to match. Returns MS_DROP_NONE,
 * MS_DROP_NO_BACKEND, MS_DROP_CT_FULL (the translation map refused the entry) or
 * MS_DROP_INVALID (the packet could not be rewritten). */
/* Whether the instance ever had a service: if not, nothing here can apply. */
static __always_inline int ms_lb_in_use(void)
{
	return ms_config_has(MS_CFG_F_SERVICES);
}

static __always_inline __u32 ms_lb_egress(struct __sk_buff *skb, struct ms_pkt *pkt,
					  struct ms_flow *f)
{
	const struct ms_lb_service *svc;
	const struct ms_lb_nat_value *nat;
	struct ms_lb_choice c;
	struct ms_ct_key fwd;
	__u32 hash;

	if (!ms_lb_translatable(pkt) || !ms_lb_in_use())
		return MS_DROP_NONE;
	ms_lb_nat_key(&fwd, pkt, MS_LB_NAT_FWD);
	nat = bpf_map_lookup_elem(&ms_lb_nat, &fwd);
	if (nat && !ms_lb_rechoose(pkt, nat)) {
		/* Copied: the entry may be evicted and reused while the packet is rewritten. */
		ms_lb_target_of(&c.to, nat);
	} else {
		__builtin_memcpy(c.fe.addr, pkt->daddr, 16);
		c.fe.port = pkt->dport;
		c.fe.proto = pkt->l4_proto;
		c.fe.family = pkt->family;
		svc = bpf_map_lookup_elem(&ms_lb_services, &c.fe);
		if (!svc)
			return MS_DROP_NONE;
		/* ms_pkt keeps its addresses 8-aligned. */
		hash = ms_lb_hash_tuple((const __u64 *)pkt->saddr, (const __u64 *)pkt->daddr,
					pkt->sport, pkt->dport, pkt->l4_proto);
		if (!ms_lb_open(pkt, svc, hash, &c)) {
			ms_lb_report(&c, pkt, MS_SVC_HOOK_TC, f->ep_id, 0);
			return MS_DROP_NO_BACKEND;
		}
		if (ms_lb_record(pkt, &c))
			return MS_DROP_CT_FULL;
		ms_lb_report(&c, pkt, MS_SVC_HOOK_TC, f->ep_id, 0);
	}
	if (ms_nat_rewrite(skb, pkt, MS_NAT_DST, &c.to))
		return MS_DROP_INVALID;
	f->dnat = 1; /* the connection's entry remembers it: its replies are translated back */
	return MS_DROP_NONE;
}

/* At the client's ingress (ms_to_container), after the policy: a reply from a backend of a
 * translated connection gets the frontend back as its source. 0, or < 0 on a failed
 * rewrite. */
static __always_inline int ms_lb_ingress_revnat(struct __sk_buff *skb, struct ms_pkt *pkt,
						const struct ms_flow *f)
{
	const struct ms_lb_nat_value *nat;
	struct ms_nat_target to;
	struct ms_ct_key rev;

	/* Only replies of a connection that was translated: a later direct connection on the
	 * same tuple must not inherit a stale reverse entry. */
	if (!f->dnat || !ms_lb_translatable(pkt) || !ms_lb_in_use())
		return 0;
	ms_lb_nat_key(&rev, pkt, MS_LB_NAT_REV);
	nat = bpf_map_lookup_elem(&ms_lb_nat, &rev);
	if (!nat)
		return 0;
	ms_lb_target_of(&to, nat);
	return ms_nat_rewrite(skb, pkt, MS_NAT_SRC, &to);
}

#endif
