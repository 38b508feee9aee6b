/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-packet service translation in the endpoint programs. Placeholder until the service
 * datapath lands. */
#ifndef MS_BPF_LB_H
#define MS_BPF_LB_H

#include "common.h"
#include "parse.h"
#include "events.h"

/* At the client's egress (ms_from_container), before the policy: a packet to a service
 * frontend is translated to a backend, and pkt updated to match. Returns MS_DROP_NONE,
 * MS_DROP_NO_BACKEND or MS_DROP_INVALID. */
static __always_inline __u32 ms_lb_egress(struct __sk_buff *skb, struct ms_pkt *pkt,
					  const struct ms_flow *f)
{
	return MS_DROP_NONE;
}

/* At the client's ingress (ms_to_container), after the policy: a reply from a backend of a
 * translated connection gets the frontend back as its source. 0, or < 0 on a failed
 * rewrite. */
static __always_inline int ms_lb_ingress_revnat(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	return 0;
}

#endif
