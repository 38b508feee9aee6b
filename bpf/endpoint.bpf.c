/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TC programs on the host-side interface of an endpoint. One pair serves every endpoint:
 * which endpoint a packet belongs to comes from the ifindex, everything else from maps.
 *
 *   ms_from_container  TC ingress of the host veth: packets sent by the container (egress)
 *   ms_to_container    TC egress of the host veth: packets delivered to it (ingress)
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/endpoint.h"
#include "lib/ipcache.h"
#include "lib/policy.h"
#include "lib/metrics.h"
#include "lib/forward.h"

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
	struct ms_pkt pkt;
	__u32 ep_id, reason;
	int ret;

	ep = ms_endpoint_lookup(skb->ingress_ifindex);
	if (!ep)
		return TC_ACT_OK;
	ep_id = ep->ep_id;

	ret = ms_parse(skb, &pkt);
	if (ret == MS_PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != MS_PARSE_IP)
		return ms_drop(skb, ep_id, MS_DIR_EGRESS, MS_DROP_INVALID);

	dst = ms_ipcache_lookup(pkt.family, pkt.daddr);

	reason = ms_policy_egress(ep, ms_ipcache_identity(dst), &pkt);
	if (reason != MS_DROP_NONE)
		return ms_drop(skb, ep_id, MS_DIR_EGRESS, reason);

	if (ms_ipcache_is_local_ep(dst)) {
		/* Counted as forwarded only once the redirect is accepted: each packet lands in
		 * exactly one counter. */
		ret = ms_redirect_local(dst->ifindex);
		if (ret != TC_ACT_REDIRECT)
			return ms_drop(skb, ep_id, MS_DIR_EGRESS, MS_DROP_REDIRECT_FAIL);
		ms_count_fwd(ep_id, MS_DIR_EGRESS, skb->len);
		return TC_ACT_REDIRECT;
	}

	/* The host itself or the world: the host stack routes it. */
	ms_count_fwd(ep_id, MS_DIR_EGRESS, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int ms_to_container(struct __sk_buff *skb)
{
	const struct ms_endpoint_info *ep;
	const struct ms_ipcache_value *src;
	struct ms_pkt pkt;
	__u32 ep_id, reason;
	int ret;

	/* At TC egress ingress_ifindex is where the packet entered the host (or 0): the
	 * endpoint is the interface it is leaving by. */
	ep = ms_endpoint_lookup(skb->ifindex);
	if (!ep)
		return TC_ACT_OK;
	ep_id = ep->ep_id;

	ret = ms_parse(skb, &pkt);
	if (ret == MS_PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != MS_PARSE_IP)
		return ms_drop(skb, ep_id, MS_DIR_INGRESS, MS_DROP_INVALID);

	src = ms_ipcache_lookup(pkt.family, pkt.saddr);

	reason = ms_policy_ingress(ep, ms_ipcache_identity(src), &pkt);
	if (reason != MS_DROP_NONE)
		return ms_drop(skb, ep_id, MS_DIR_INGRESS, reason);

	ms_count_fwd(ep_id, MS_DIR_INGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
