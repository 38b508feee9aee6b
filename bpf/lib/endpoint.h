/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which endpoint a packet belongs to, from the interface it crossed. */
#ifndef MS_BPF_ENDPOINT_H
#define MS_BPF_ENDPOINT_H

#include "common.h"
#include "maps.h"

/* NULL means the interface is not one of ours (the programs may still be attached for a
 * moment while an endpoint is being removed): such traffic passes untouched. */
static __always_inline const struct ms_endpoint_info *ms_endpoint_lookup(__u32 ifindex)
{
	return bpf_map_lookup_elem(&ms_endpoints, &ifindex);
}

#endif
