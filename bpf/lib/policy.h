/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy decisions. POLICY GOES HERE: for now everything is allowed.
 *
 * Contract for the policy work: return MS_DROP_NONE to let the packet through, or the
 * ms_drop_reason to count it under; the caller drops and counts. The parse result carries the
 * L4 protocol, ports (network order) and ICMP type/code; pkt->flags says which are valid.
 */
#ifndef MS_BPF_POLICY_H
#define MS_BPF_POLICY_H

#include "common.h"
#include "parse.h"

/* Packet sent by the endpoint ep towards a peer with identity peer_id. */
static __always_inline __u32 ms_policy_egress(const struct ms_endpoint_info *ep, __u32 peer_id,
					      const struct ms_pkt *pkt)
{
	return MS_DROP_NONE;
}

/* Packet from a peer with identity peer_id, to be delivered to ep. */
static __always_inline __u32 ms_policy_ingress(const struct ms_endpoint_info *ep, __u32 peer_id,
					       const struct ms_pkt *pkt)
{
	return MS_DROP_NONE;
}

#endif
