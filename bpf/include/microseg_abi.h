/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys, values and enums shared by the BPF programs and the userspace library.
 * Fixed-width fields, explicit padding, sizes checked on both sides. Bump MS_ABI_VERSION
 * whenever a layout here changes: a pinned instance with another version is refused.
 */
#ifndef MICROSEG_ABI_H
#define MICROSEG_ABI_H

#include <linux/types.h>

#define MS_ABI_VERSION 1

/* Map names (also their pin file names under the instance's bpffs directory). */
#define MS_MAP_META "ms_meta"
#define MS_MAP_ENDPOINTS "ms_endpoints"
#define MS_MAP_IPCACHE "ms_ipcache"
#define MS_MAP_EP_STATS "ms_ep_stats"
/* Program pin names. */
#define MS_PROG_FROM_CONTAINER "ms_from_container"
#define MS_PROG_TO_CONTAINER "ms_to_container"

#define MS_DEFAULT_MAX_ENDPOINTS 4096
#define MS_DEFAULT_MAX_IPCACHE 65536

/* Reserved identities (mirror MICROSEG_IDENTITY_* of the public header). */
#define MS_ID_UNKNOWN 0
#define MS_ID_HOST 1
#define MS_ID_WORLD 2
#define MS_ID_UNMANAGED 3

/* ms_meta: array, one entry at key 0. Written once when an instance is created. */
struct ms_meta {
	__u32 abi_version;
	__u32 max_endpoints;
	__u32 max_ipcache;
	__u32 pad;
	__u64 created_ns; /* CLOCK_REALTIME at creation */
};

/* ms_endpoints: hash, key = host-side ifindex (__u32). */
#define MS_EP_F_ACTIVE (1u << 0)
struct ms_endpoint_info {
	__u32 ep_id;    /* 1..max_endpoints-1, index into ms_ep_stats */
	__u32 identity; /* numeric identity of the endpoint */
	__u32 flags;    /* MS_EP_F_* */
	__u8 mac[6];    /* container-side MAC, zero if unknown */
	__u8 pad[2];
};

/* ms_ipcache: LPM trie, address prefix -> identity and, for local endpoints, where it lives.
 * prefixlen counts bits from `family` on: 32 (family + pad) + address prefix bits. */
#define MS_FAMILY_IPV4 4
#define MS_FAMILY_IPV6 6
struct ms_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* MS_FAMILY_* */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

#define MS_IPC_F_LOCAL_EP (1u << 0) /* address of an endpoint on this host */
#define MS_IPC_F_HOST (1u << 1)     /* address of this host */
struct ms_ipcache_value {
	__u32 identity;
	__u32 ifindex; /* host-side ifindex of the local endpoint, else 0 */
	__u32 ep_id;   /* local endpoint id, else 0 */
	__u32 flags;   /* MS_IPC_F_* */
};

/* Directions, from the container's point of view. */
enum ms_dir {
	MS_DIR_EGRESS = 0,  /* sent by the container */
	MS_DIR_INGRESS = 1, /* delivered to the container */
	MS_DIR_MAX = 2,
};

/* Why a packet was dropped. Append only; MS_DROP_MAX slots are reserved in the stats. */
enum ms_drop_reason {
	MS_DROP_NONE = 0,
	MS_DROP_INVALID = 1,        /* malformed or truncated header */
	MS_DROP_UNKNOWN_L3 = 2,     /* reserved: unsupported L3 under policy */
	MS_DROP_POLICY = 3,         /* reserved: policy denied */
	MS_DROP_POLICY_DENY = 4,    /* reserved: explicit deny rule */
	MS_DROP_SPOOFED_SOURCE = 5, /* reserved: source address not the endpoint's */
	MS_DROP_CT_FULL = 6,        /* reserved: connection tracking map full */
	MS_DROP_REDIRECT_FAIL = 7,  /* redirect to a local endpoint failed */
	MS_DROP_MAX = 16,
};

struct ms_counter {
	__u64 packets;
	__u64 bytes;
};

/* ms_ep_stats: per-CPU array, key = ep_id. Userspace zeroes a slot when it gives out an id. */
struct ms_ep_stats {
	struct ms_counter fwd[MS_DIR_MAX];
	struct ms_counter drop[MS_DIR_MAX][MS_DROP_MAX];
};

_Static_assert(sizeof(struct ms_meta) == 24, "ms_meta layout");
_Static_assert(sizeof(struct ms_endpoint_info) == 20, "ms_endpoint_info layout");
_Static_assert(sizeof(struct ms_ipcache_key) == 24, "ms_ipcache_key layout");
_Static_assert(sizeof(struct ms_ipcache_value) == 16, "ms_ipcache_value layout");
_Static_assert(sizeof(struct ms_ep_stats) == 16 * 2 + 16 * 2 * 16, "ms_ep_stats layout");

#endif
