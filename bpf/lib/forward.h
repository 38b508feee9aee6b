/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Where an allowed packet goes. */
#ifndef MS_BPF_FORWARD_H
#define MS_BPF_FORWARD_H

#include "common.h"

/*
 * Hands the packet to the host-side interface of a local endpoint. bpf_redirect_neigh fills
 * the L2 header from the neighbour table of that interface, so the container's MAC need not
 * be known here, and the packet leaves through that veth: its TC egress program sees it as
 * ingress of the destination endpoint. Returns TC_ACT_REDIRECT, or something else if the
 * helper refused.
 */
static __always_inline int ms_redirect_local(__u32 ifindex)
{
	return bpf_redirect_neigh(ifindex, NULL, 0, 0);
}

#endif
