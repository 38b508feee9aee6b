/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints: a container's network interface under the datapath.
 *
 * An endpoint is the host side of a container's link (usually a veth), its addresses and its
 * identity. Adding one attaches the instance's shared TC programs to the host-side interface
 * (ingress: packets from the container; egress: packets to it) and records its addresses in
 * the ipcache, so every endpoint sees every other endpoint's identity. The programs are loaded
 * once per instance; adding an endpoint is a TC attach and a few map updates.
 *
 * Handles are owned by the context: valid until microseg_endpoint_remove() or
 * microseg_ctx_close(). Calls that take ctx and a handle check that the handle is a live
 * endpoint of ctx before using it (-ENOENT otherwise), so a stale handle is an error, not a
 * crash.
 *
 * Directions follow the container's point of view: egress = sent by the container,
 * ingress = delivered to it.
 */
#ifndef MICROSEG_ENDPOINT_H
#define MICROSEG_ENDPOINT_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;
struct microseg_identity;
struct microseg_endpoint;

struct microseg_endpoint_opts {
	size_t sz;
	/* Host-side interface: by name, or by ifindex (one of the two; if both, they must agree). */
	const char *ifname;
	uint32_t ifindex;
	/* The container's addresses: IPv4 or IPv6 literals, "/32" or "/128" allowed, at most
	 * MICROSEG_ENDPOINT_ADDRS_MAX, no duplicates, none held by another endpoint. */
	const char *const *addrs;
	size_t n_addrs;
	/* Identity of the endpoint (required). The endpoint takes its own reference. */
	struct microseg_identity *identity;
	/* Optional caller name (container id), up to MICROSEG_ENDPOINT_NAME_MAX bytes of printable
	 * ASCII without spaces. */
	const char *name;
	/* Optional MAC of the container side, "aa:bb:cc:dd:ee:ff". */
	const char *mac;
	uint32_t flags; /* reserved, must be 0 */
};

/*
 * Puts an existing host-side interface under the datapath. Errors: -EINVAL NULL/bad option
 * (bad address, bad MAC, no identity, flags); -ENOENT the identity is not a live identity of
 * ctx; -ENODEV no such interface; -EEXIST the interface
 * or an address already belongs to an endpoint; -E2BIG too many addresses; -ENAMETOOLONG name;
 * -ENOSPC endpoint or ipcache map full; -ESHUTDOWN the instance was purged; kernel -errno from
 * the TC attach. On failure nothing is left attached or recorded. Thread-safe.
 */
MICROSEG_API int microseg_endpoint_add(struct microseg_ctx *ctx,
				       const struct microseg_endpoint_opts *opts,
				       struct microseg_endpoint **ep);

struct microseg_veth_opts {
	size_t sz;
	/* Name of the host-side veth to create (required, at most 15 bytes). */
	const char *host_ifname;
	/* Name of the container-side peer, default "eth0". */
	const char *peer_ifname;
	/* Network namespace to move the peer into: a path such as /var/run/netns/NAME or
	 * /proc/PID/ns/net (required). */
	const char *netns_path;
	/* Container addresses with optional prefix length ("10.1.0.2/32", "fd00::2"); the
	 * container gets each as a host route-only address, a default route through the
	 * library's link-local gateways (169.254.1.1 and fe80::1, answered by the host side), and
	 * the host gets a route to each address through the host-side veth. */
	const char *const *addrs;
	size_t n_addrs;
	struct microseg_identity *identity; /* required */
	const char *name;                   /* optional endpoint name */
	uint32_t mtu;                       /* 0: the kernel default */
	uint32_t flags;                     /* reserved, must be 0 */
};

/* Gateway addresses the container side routes through (see microseg_veth_opts). Anti-spoofing
 * lets a container send only from its own addresses: an echo to fe80::1 from the container's
 * link-local address is dropped (ping -I <its own address> fe80::1%eth0 works); only
 * neighbour and router discovery may use link-local sources. */
#define MICROSEG_GATEWAY_IPV4 "169.254.1.1"
#define MICROSEG_GATEWAY_IPV6 "fe80::1"

/*
 * Does what a CNI plugin does, then microseg_endpoint_add(): creates the veth pair through
 * netlink, moves the peer into the namespace, sets its addresses and routes, brings both ends
 * up, adds host routes. Errors: as microseg_endpoint_add(), plus -EEXIST the host interface
 * name exists, -ENOENT no such namespace, -EOPNOTSUPP on a context opened with
 * MICROSEG_CTX_F_NO_DATAPATH (after every argument was checked). On failure the veth pair is
 * deleted. Thread-safe.
 */
MICROSEG_API int microseg_endpoint_add_veth(struct microseg_ctx *ctx,
					    const struct microseg_veth_opts *opts,
					    struct microseg_endpoint **ep);

/* Removes the endpoint from the datapath: its TC programs are detached, its map entries and
 * ipcache entries removed; the interface itself stays (delete_link below removes it too).
 * Errors: -EINVAL NULL; -ENOENT ep is not a live endpoint of ctx. Thread-safe. */
#define MICROSEG_ENDPOINT_REMOVE_DELETE_LINK (1u << 0)
MICROSEG_API int microseg_endpoint_remove(struct microseg_ctx *ctx, struct microseg_endpoint *ep,
					  uint32_t flags);

/* Changes the identity of a live endpoint (its labels changed); the datapath sees the new id
 * for packets from now on. The endpoint takes a reference to id and drops the old one.
 * Errors: -EINVAL NULL; -ENOENT ep or id not live in ctx. Thread-safe. */
MICROSEG_API int microseg_endpoint_set_identity(struct microseg_ctx *ctx,
						struct microseg_endpoint *ep,
						struct microseg_identity *id);

/*
 * Finds an endpoint by host-side interface name or by endpoint name (tried in that order).
 * Errors: -EINVAL NULL; -ENOENT none. Thread-safe.
 */
MICROSEG_API int microseg_endpoint_lookup(struct microseg_ctx *ctx, const char *name,
					  struct microseg_endpoint **ep);

/*
 * Writes up to cap endpoint handles (ordered by endpoint id) to eps and their total number
 * to *count. Returns 0 or -ENOSPC if cap < *count. Errors: -EINVAL ctx or count NULL.
 * Thread-safe (the handles stay valid until removed).
 */
MICROSEG_API int microseg_endpoint_list(struct microseg_ctx *ctx, struct microseg_endpoint **eps,
					size_t cap, size_t *count);

/* Getters on a live handle; NULL handle gives 0 / NULL. Thread-safe while the handle lives. */
MICROSEG_API uint32_t microseg_endpoint_id(const struct microseg_endpoint *ep);
MICROSEG_API uint32_t microseg_endpoint_ifindex(const struct microseg_endpoint *ep);
MICROSEG_API const char *microseg_endpoint_ifname(const struct microseg_endpoint *ep);
MICROSEG_API const char *microseg_endpoint_name(const struct microseg_endpoint *ep); /* "" if none */
MICROSEG_API struct microseg_identity *microseg_endpoint_identity(const struct microseg_endpoint *ep);
MICROSEG_API size_t microseg_endpoint_addr_count(const struct microseg_endpoint *ep);
/* The i-th address as text (canonical form, no prefix), or NULL if out of range. */
MICROSEG_API const char *microseg_endpoint_addr(const struct microseg_endpoint *ep, size_t i);

/* Why the datapath dropped a packet (index into the *_drops_by_reason arrays). */
enum microseg_drop_reason {
	MICROSEG_DROP_INVALID = 1,        /* malformed or truncated header */
	MICROSEG_DROP_POLICY = 3,         /* selected, and no rule allows it */
	MICROSEG_DROP_POLICY_DENY = 4,    /* a deny rule matched */
	MICROSEG_DROP_SPOOFED_SOURCE = 5, /* source address or MAC not the endpoint's own */
	MICROSEG_DROP_CT_FULL = 6,        /* connection tracking table refused the entry */
	MICROSEG_DROP_REDIRECT_FAIL = 7,  /* delivery to a local endpoint failed */
	MICROSEG_DROP_PROXY = 8,          /* HTTP rules on the port and the L7 proxy cannot take it */
	MICROSEG_DROP_NO_BACKEND = 9,     /* a service address with no active backend */
	MICROSEG_DROP_REASONS = 16,       /* size of the arrays; unused slots stay 0 */
};

/* Per-direction traffic counters of an endpoint, summed over CPUs. Bytes count whole frames
 * (Ethernet header included) of IPv4 and IPv6 packets; a GSO super-packet counts once. */
struct microseg_endpoint_stats {
	size_t sz; /* set by the caller to sizeof(struct microseg_endpoint_stats) */
	uint64_t egress_packets;
	uint64_t egress_bytes;
	uint64_t ingress_packets;
	uint64_t ingress_bytes;
	uint64_t egress_dropped;  /* all drop reasons */
	uint64_t ingress_dropped;
	uint64_t egress_drops_by_reason[MICROSEG_DROP_REASONS];  /* packets, by enum microseg_drop_reason */
	uint64_t ingress_drops_by_reason[MICROSEG_DROP_REASONS];
};

/* Reads the counters. Fields past stats->sz are not written. Errors: -EINVAL NULL or sz too
 * small for the first field; -ENOENT ep not live; kernel -errno. Thread-safe. */
MICROSEG_API int microseg_endpoint_get_stats(struct microseg_ctx *ctx,
					     const struct microseg_endpoint *ep,
					     struct microseg_endpoint_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
