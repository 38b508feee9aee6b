/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TC programs on the host-side interface of an endpoint. One pair serves every endpoint:
 * which endpoint a packet belongs to comes from the ifindex, everything else from maps.
 *
 *   ms_from_container  TC ingress of the host veth: packets sent by the container (egress)
 *   ms_to_container    TC egress of the host veth: packets delivered to it (ingress)
 *
 * From the container: endpoint -> parse -> anti-spoofing -> service translation (DNAT) ->
 * connection tracking -> (new connection: egress policy, connection created) -> the L7 proxy
 * if HTTP rules apply (the sender's egress or a local receiver's ingress), else redirect to a
 * local endpoint or pass to the host stack -> count. To the container: endpoint -> parse ->
 * connection tracking -> (new connection: ingress policy) -> reverse translation -> count. A new connection and every drop are also reported as
 * events. A packet between two local endpoints is judged twice, by the sender's egress and
 * the receiver's ingress policy, each with its own connection entry (and its own event), as
 * two hosts would.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/endpoint.h"
#include "lib/ipcache.h"
#include "lib/spoof.h"
#include "lib/ct.h"
#include "lib/policy.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/forward.h"
#include "lib/lb.h"
#include "lib/proxy.h"
#include "lib/reject.h"
#include "lib/sock_lb.h"
#include "lib/l7_emit.h"

/*
 * The verdict of the endpoint's policy for the packet, f->peer_identity being the identity of
 * the other side: a packet of a live connection passes on connection tracking alone
 * (re-judged only if the policy revision changed); any other packet is looked up in the
 * policy, and, if allowed, may open a connection whose replies then pass. A connection is
 * reported (FLOW_NEW) once, by its first packet. MS_DROP_NONE or a drop reason; f->rule_id
 * gets the deciding rule, f->proxy whether the connection goes through the L7 proxy. Only the
 * sender's hook can hand a connection to the proxy (can_proxy): a new connection that needs it
 * anywhere else is dropped, never let through unchecked.
 */
static __always_inline __u32 ms_enforce(struct __sk_buff *skb, const struct ms_pkt *pkt,
					struct ms_flow *f, int can_proxy)
{
	struct ms_policy_query q;
	__u32 rev, reason;
	struct ms_ct ct;
	__u8 flags;
	__u64 now;

	now = bpf_ktime_get_ns();
	rev = ms_policy_rev();

	if (ms_ct_lookup(skb, pkt, f->dir, now, &ct)) {
		reason = ms_policy_conn(f->ep_id, rev, &ct, &f->rule_id);
		if (reason != MS_DROP_NONE)
			return reason;
		if (ct.entry && !ct.reply && (ct.entry->flags & MS_CT_F_PROXY))
			f->proxy = 1;
		/* Translation is per connection: what the opening packet had, its replies get. */
		if (ct.entry && ct.reply && (ct.entry->flags & MS_CT_F_DNAT))
			f->dnat = 1;
		if (ms_ct_refresh(&ct, pkt, skb->len, now))
			ms_event_flow_new(skb, pkt, f);
		/* After the refresh: a connection started over on its tuple keeps no old flag. */
		if (ct.entry && !ct.reply && f->dnat)
			ct.entry->flags |= MS_CT_F_DNAT;
		return MS_DROP_NONE;
	}

	ms_policy_query_pkt(&q, f->dir, f->peer_identity, pkt);
	reason = ms_policy_decide(f->ep_id, rev, &q, &f->rule_id, &flags);
	if (reason != MS_DROP_NONE)
		return reason;
	if (flags & MS_POLICY_F_L7) {
		if (!can_proxy || pkt->l4_proto != IPPROTO_TCP)
			return MS_DROP_PROXY;
		f->proxy = 1;
	}
	if (!ms_ct_opens(&ct, pkt))
		return MS_DROP_NONE;
	if (ms_ct_create(&ct, pkt, rev, f->rule_id, f->peer_identity, skb->len, now,
			 (f->proxy ? MS_CT_F_PROXY : 0) | (f->dnat ? MS_CT_F_DNAT : 0)) != 0)
		return MS_DROP_CT_FULL;
	ms_event_flow_new(skb, pkt, f);
	return MS_DROP_NONE;
}

/*
 * The receiver's side of the L7 decision, for a connection between two local endpoints: a
 * receiver whose ingress rules put HTTP rules on the port cannot take the connection from
 * the proxy at its own hook (TC egress has no socket assignment), so the sender's hook hands
 * it over. Asked on the opening SYN only; the connection's entry then remembers it.
 */
static __always_inline int ms_receiver_wants_proxy(const struct ms_pkt *pkt, const struct ms_flow *f,
						   const struct ms_ipcache_value *dst)
{
	struct ms_policy_query q;
	__u32 rule_id;
	__u8 flags;

	if (pkt->l4_proto != IPPROTO_TCP || (pkt->tcp_flags & (MS_TCP_SYN | MS_TCP_ACK)) != MS_TCP_SYN ||
	    !ms_config_has(MS_CFG_F_INGRESS_L7) || !ms_ipcache_is_local_ep(dst))
		return 0;
	ms_policy_query_pkt(&q, MS_DIR_INGRESS, f->ep_identity, pkt);
	if (ms_policy_decide(dst->ep_id, ms_policy_rev(), &q, &rule_id, &flags) != MS_DROP_NONE)
		return 0; /* the receiver's hook drops it */
	return (flags & MS_POLICY_F_L7) != 0;
}

/* Marks the sender's connection entry (own tuple, egress) as proxied. */
static __always_inline void ms_ct_mark_proxy(const struct ms_pkt *pkt)
{
	struct ms_ct_value *v;
	struct ms_ct_key k;

	ms_ct_key_from_pkt(&k, pkt, MS_DIR_EGRESS);
	v = bpf_map_lookup_elem(&ms_ct, &k);
	if (v)
		v->flags |= MS_CT_F_PROXY;
}

/* Every drop goes through here: counted, and reported. A drop names a rule only when a deny
 * rule decided it. */
static __always_inline int ms_drop(struct __sk_buff *skb, const struct ms_pkt *pkt,
				   struct ms_flow *f, __u32 reason)
{
	if (reason != MS_DROP_POLICY_DENY)
		f->rule_id = 0;
	ms_count_drop(f->ep_id, f->dir, reason, skb->len);
	ms_event_drop(skb, pkt, f, reason);
	return TC_ACT_SHOT;
}

/*
 * The endpoint is looked up before the packet is parsed: a packet on an interface we do not
 * manage passes untouched whatever it contains, and a malformed one on an interface we do
 * manage can be counted against its endpoint.
 */
SEC("tc")
int ms_from_container(struct __sk_buff *skb)
{
	const struct ms_endpoint_info *ep;
	const struct ms_ipcache_value *dst;
	struct ms_flow f;
	struct ms_pkt pkt;
	__u32 reason;
	int ret;

	ep = ms_endpoint_lookup(skb->ingress_ifindex);
	if (!ep)
		return TC_ACT_OK;
	ms_flow_init(&f, ep, skb->ingress_ifindex, MS_DIR_EGRESS);

	ret = ms_parse(skb, &pkt);
	if (ret == MS_PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != MS_PARSE_IP)
		return ms_drop(skb, &pkt, &f, MS_DROP_INVALID);

	/* Before anything else looks at the addresses: the source decides the identity. */
	ret = ms_spoof_check(skb, ep, &pkt);
	if (ret == MS_SPOOF_BAD)
		return ms_drop(skb, &pkt, &f, MS_DROP_SPOOFED_SOURCE);
	if (ret == MS_SPOOF_LINK_LOCAL) {
		ms_count_fwd(f.ep_id, MS_DIR_EGRESS, skb->len);
		return TC_ACT_OK;
	}

	/* A service address becomes a backend before anything judges the packet: policy sees
	 * the backend, as in Kubernetes. */
	reason = ms_lb_egress(skb, &pkt, &f);
	if (reason == MS_DROP_NO_BACKEND) {
		/* Counted as the drop it is, and answered (a SYN with a RST, a datagram with a
		 * port unreachable), so the client is refused at once. */
		ms_drop(skb, &pkt, &f, reason);
		if (pkt.l4_proto == IPPROTO_UDP)
			return ms_reject_udp(skb, &pkt);
		return ms_reject_syn(skb, &pkt);
	}
	if (reason != MS_DROP_NONE)
		return ms_drop(skb, &pkt, &f, reason);

	dst = ms_ipcache_lookup(pkt.family, pkt.daddr);
	f.peer_identity = ms_ipcache_identity(dst);

	reason = ms_enforce(skb, &pkt, &f, 1);
	if (reason != MS_DROP_NONE)
		return ms_drop(skb, &pkt, &f, reason);

	if (pkt.l4_proto == IPPROTO_TCP) {
		struct ms_proxy_value rec = {
			.src_identity = f.ep_identity,
			.dst_identity = f.peer_identity,
			.egress_ep = f.proxy ? f.ep_id : 0,
		};

		if (ms_receiver_wants_proxy(&pkt, &f, dst)) {
			rec.ingress_ep = dst->ep_id;
			if (!f.proxy)
				ms_ct_mark_proxy(&pkt);
			f.proxy = 1;
		}
		if (f.proxy) {
			rec.created_ns = bpf_ktime_get_ns();
			if (ms_proxy_redirect(skb, &pkt, &rec))
				return ms_drop(skb, &pkt, &f, MS_DROP_PROXY);
			ms_count_fwd(f.ep_id, MS_DIR_EGRESS, skb->len);
			return TC_ACT_OK;
		}
	}

	if (ms_ipcache_is_local_ep(dst)) {
		/* Counted as forwarded only once the redirect is accepted: each packet lands in
		 * exactly one counter. */
		ret = ms_redirect_local(dst->ifindex);
		if (ret != TC_ACT_REDIRECT)
			return ms_drop(skb, &pkt, &f, MS_DROP_REDIRECT_FAIL);
		ms_count_fwd(f.ep_id, MS_DIR_EGRESS, skb->len);
		return TC_ACT_REDIRECT;
	}

	/* The host itself or the world: the host stack routes it. */
	ms_count_fwd(f.ep_id, MS_DIR_EGRESS, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int ms_to_container(struct __sk_buff *skb)
{
	const struct ms_endpoint_info *ep;
	const struct ms_ipcache_value *src;
	struct ms_flow f;
	struct ms_pkt pkt;
	__u32 reason;
	int ret;

	/* At TC egress ingress_ifindex is where the packet entered the host (or 0): the
	 * endpoint is the interface it is leaving by. */
	ep = ms_endpoint_lookup(skb->ifindex);
	if (!ep)
		return TC_ACT_OK;
	ms_flow_init(&f, ep, skb->ifindex, MS_DIR_INGRESS);

	ret = ms_parse(skb, &pkt);
	if (ret == MS_PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != MS_PARSE_IP)
		return ms_drop(skb, &pkt, &f, MS_DROP_INVALID);

	/* The library's own answer to the container's SYN (a refused service): see reject.h. */
	if (skb->mark == MS_REJECT_MARK) {
		ms_count_fwd(f.ep_id, MS_DIR_INGRESS, skb->len);
		return TC_ACT_OK;
	}

	/* The host's neighbour and router discovery must reach the container whatever its
	 * ingress policy says (the container's default route is a link-local gateway). */
	if (ms_is_link_local_control(&pkt) || ms_is_link_scoped_control(&pkt)) {
		ms_count_fwd(f.ep_id, MS_DIR_INGRESS, skb->len);
		return TC_ACT_OK;
	}

	src = ms_ipcache_lookup(pkt.family, pkt.saddr);
	f.peer_identity = ms_ipcache_identity(src);

	reason = ms_enforce(skb, &pkt, &f, 0);
	if (reason != MS_DROP_NONE)
		return ms_drop(skb, &pkt, &f, reason);

	/* A reply of a translated connection shows the service address it was sent to. */
	if (ms_lb_ingress_revnat(skb, &pkt, &f) < 0)
		return ms_drop(skb, &pkt, &f, MS_DROP_INVALID);

	ms_count_fwd(f.ep_id, MS_DIR_INGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
