/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address -> identity, longest prefix match. */
#ifndef MS_BPF_IPCACHE_H
#define MS_BPF_IPCACHE_H

#include "common.h"
#include "maps.h"

/* Bits of the key before the address: family and pad (see struct ms_ipcache_key). */
#define MS_IPC_KEY_HDR_BITS 32

/* addr holds 4 (IPv4) or 16 (IPv6) bytes in network order. NULL: no prefix covers it. */
static __always_inline const struct ms_ipcache_value *ms_ipcache_lookup(__u8 family,
									 const __u8 *addr)
{
	struct ms_ipcache_key key = {};

	key.family = family;
	if (family == MS_FAMILY_IPV4) {
		key.prefixlen = MS_IPC_KEY_HDR_BITS + 32;
		__builtin_memcpy(key.addr, addr, 4);
	} else {
		key.prefixlen = MS_IPC_KEY_HDR_BITS + 128;
		__builtin_memcpy(key.addr, addr, 16);
	}
	return bpf_map_lookup_elem(&ms_ipcache, &key);
}

/* Anything the ipcache does not know is outside the managed world. */
static __always_inline __u32 ms_ipcache_identity(const struct ms_ipcache_value *v)
{
	return v ? v->identity : MS_ID_WORLD;
}

/* Non-zero if the address belongs to an endpoint on this host that we can redirect to. */
static __always_inline int ms_ipcache_is_local_ep(const struct ms_ipcache_value *v)
{
	return v && (v->flags & MS_IPC_F_LOCAL_EP) && v->ifindex != 0;
}

#endif
