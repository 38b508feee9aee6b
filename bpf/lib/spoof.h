/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Anti-spoofing: an endpoint sends only from its own addresses (and its own MAC, when known).
 * Identity is derived from the source address on the receiving side, so a container that
 * could pick its source address could pick its identity.
 */
#ifndef MS_BPF_SPOOF_H
#define MS_BPF_SPOOF_H

#include "common.h"
#include "parse.h"
#include "ipcache.h"

enum ms_spoof_result {
	MS_SPOOF_OK = 0,         /* the endpoint's own address and MAC */
	MS_SPOOF_LINK_LOCAL = 1, /* link-local ICMPv6 control: for the host stack, no policy */
	MS_SPOOF_BAD = 2,        /* drop: MS_DROP_SPOOFED_SOURCE */
};

/*
 * ICMPv6 that must work on the link before (and regardless of) any policy: router and
 * neighbour discovery (133-137) and MLD (130-132, 143), from a link-local or the unspecified
 * address (duplicate address detection). Its scope is the veth: the host answers it, the
 * host never routes it, so it cannot reach another endpoint. Anything else from a link-local
 * source, echo included, is not exempt.
 */
static __always_inline int ms_is_link_local_control(const struct ms_pkt *pkt)
{
	const __u8 *s = pkt->saddr;
	__u8 t = pkt->icmp_type;
	__u32 any = 0;
	int i;

	if (pkt->family != MS_FAMILY_IPV6 || pkt->l4_proto != IPPROTO_ICMPV6 ||
	    !(pkt->flags & MS_PKT_F_L4))
		return 0;
	if (!((t >= 130 && t <= 137) || t == 143))
		return 0;
	if (s[0] == 0xfe && (s[1] & 0xc0) == 0x80)
		return 1; /* fe80::/10 */
	for (i = 0; i < 16; i++)
		any |= s[i];
	return any == 0;
}

/*
 * Neighbour discovery and MLD addressed to the link itself (fe80::/10 or ff02::/16). Linux
 * solicits from a global source when the packet that needs the neighbour has one, and answers
 * the host's solicitations from it too; these never leave the veth, so they are link control
 * like the link-local ones, once the source has been checked.
 */
static __always_inline int ms_is_link_scoped_control(const struct ms_pkt *pkt)
{
	const __u8 *d = pkt->daddr;
	__u8 t = pkt->icmp_type;

	if (pkt->family != MS_FAMILY_IPV6 || pkt->l4_proto != IPPROTO_ICMPV6 ||
	    !(pkt->flags & MS_PKT_F_L4))
		return 0;
	if (!((t >= 130 && t <= 137) || t == 143))
		return 0;
	return (d[0] == 0xfe && (d[1] & 0xc0) == 0x80) || (d[0] == 0xff && (d[1] & 0x0f) == 0x02);
}

/* The Ethernet source must be the endpoint's MAC, unless the library does not know it. */
static __always_inline int ms_spoof_mac_ok(struct __sk_buff *skb,
					   const struct ms_endpoint_info *ep)
{
	__u8 src[6];

	if (!(ep->mac[0] | ep->mac[1] | ep->mac[2] | ep->mac[3] | ep->mac[4] | ep->mac[5]))
		return 1;
	if (bpf_skb_load_bytes(skb, ETH_ALEN, src, ETH_ALEN) != 0)
		return 0;
	return src[0] == ep->mac[0] && src[1] == ep->mac[1] && src[2] == ep->mac[2] &&
	       src[3] == ep->mac[3] && src[4] == ep->mac[4] && src[5] == ep->mac[5];
}

/*
 * A packet the endpoint ep sent. The source address must be one the ipcache lists as this
 * endpoint's (MS_IPC_F_LOCAL_EP with its ep_id): an endpoint without addresses sends no IP at
 * all. The MAC is checked for every IP packet, the link-local control messages included.
 */
static __always_inline int ms_spoof_check(struct __sk_buff *skb,
					  const struct ms_endpoint_info *ep,
					  const struct ms_pkt *pkt)
{
	const struct ms_ipcache_value *src;

	if (!ms_spoof_mac_ok(skb, ep))
		return MS_SPOOF_BAD;
	if (ms_is_link_local_control(pkt))
		return MS_SPOOF_LINK_LOCAL;
	src = ms_ipcache_lookup(pkt->family, pkt->saddr);
	if (!src || !(src->flags & MS_IPC_F_LOCAL_EP) || src->ep_id != ep->ep_id)
		return MS_SPOOF_BAD;
	if (ms_is_link_scoped_control(pkt))
		return MS_SPOOF_LINK_LOCAL;
	return MS_SPOOF_OK;
}

#endif
