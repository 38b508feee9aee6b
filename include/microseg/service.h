/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Services: load balancing from a frontend (virtual address, port, protocol) to backends.
 *
 * Two datapaths share one service table:
 *   - socket level: cgroup v2 connect4/6, sendmsg4/6, recvmsg4/6 and getpeername4/6 programs
 *     (attached to ctx_opts.lb_cgroup when the first service is added) rewrite the destination
 *     when a process connects, so an established TCP connection pays no per-packet NAT; for
 *     UDP each datagram is translated and replies show the frontend as their source;
 *   - per packet: the endpoint programs translate connections from endpoints whose process
 *     did not go through a socket hook (DNAT on the way out, reverse NAT on replies, tracked
 *     per connection).
 * Policy judges the connection as translated: against the backend's identity and port, as in
 * Kubernetes.
 *
 * Backend selection per service: weighted random, or Maglev consistent hashing (same client
 * tuple -> same backend while the backend set allows; removing one of N backends moves about
 * 1/N of the table). Optional client affinity: a client keeps its backend while it keeps
 * connecting within the timeout (the client is its address per packet, its network namespace
 * at the socket hooks).
 *
 * Backend states: ACTIVE backends get new connections; TERMINATING and MAINTENANCE backends
 * get none but keep the connections they have; removing a backend never disturbs connections
 * to the others. A service with no ACTIVE backend refuses connections at once (connect()
 * fails with ECONNREFUSED; per packet the SYN is counted as a no_backend drop and answered
 * with a RST, a UDP datagram with an ICMP port unreachable, so the client fails the same way).
 *
 * A change to one service (add/remove a backend, change a state) is written to an idle half of
 * its selection slots and made live by one atomic update of the service entry: a connection
 * sees either the old or the new backend set, never a mix. It costs one map write per slot of
 * the new set (microseconds for weighted random; Maglev rewrites its table).
 */
#ifndef MICROSEG_SERVICE_H
#define MICROSEG_SERVICE_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;
struct microseg_service;

enum microseg_lb_algorithm {
	MICROSEG_LB_RANDOM = 0, /* weighted random */
	MICROSEG_LB_MAGLEV = 1, /* Maglev consistent hashing */
};

enum microseg_backend_state {
	MICROSEG_BACKEND_ACTIVE = 0,
	MICROSEG_BACKEND_TERMINATING = 1,
	MICROSEG_BACKEND_MAINTENANCE = 2,
};

#define MICROSEG_MAGLEV_DEFAULT_SIZE 16381u /* a prime, as Maglev wants */
#define MICROSEG_SERVICE_NAME_MAX 253
#define MICROSEG_BACKEND_WEIGHT_MAX 1000

struct microseg_service_opts {
	size_t sz;
	const char *name;            /* optional, for listings ("" if NULL) */
	const char *address;         /* frontend: an IPv4 or IPv6 address */
	uint16_t port;               /* 1..65535 */
	uint16_t pad;
	uint32_t proto;              /* MICROSEG_PROTO_TCP or MICROSEG_PROTO_UDP (policy.h) */
	uint32_t algorithm;          /* enum microseg_lb_algorithm */
	uint32_t maglev_table_size;  /* a prime, 251..131071; 0: MICROSEG_MAGLEV_DEFAULT_SIZE */
	uint32_t affinity_timeout_s; /* client affinity; 0: none */
};

/*
 * Adds a service with no backend (it refuses connections until one is added and active).
 * Errors: -EINVAL (NULL, bad address, port 0, protocol not TCP/UDP, unknown algorithm, table
 * size not a prime in range); -EEXIST a service has that address, port and protocol;
 * -ENOSPC the service map or the slot map is full; -EROFS read-only context; -EPERM/-EBUSY
 * from the kernel when the socket programs cannot be attached to the cgroup. Thread-safe.
 */
MICROSEG_API int microseg_service_add(struct microseg_ctx *ctx, const struct microseg_service_opts *opts,
				      struct microseg_service **svc);

/* Removes a service and its backends. Connections already made keep working (socket level:
 * they were connected to the backend itself; per packet: until their translation entry
 * expires). Errors: -EINVAL; -ENOENT not a live service of ctx. Thread-safe. */
MICROSEG_API int microseg_service_remove(struct microseg_ctx *ctx, struct microseg_service *svc);

struct microseg_backend_opts {
	size_t sz;
	const char *address; /* same IP family as the frontend */
	uint16_t port;       /* 1..65535 */
	uint16_t weight;     /* 1..MICROSEG_BACKEND_WEIGHT_MAX; 0 means 1 */
	uint32_t state;      /* enum microseg_backend_state */
};

/* Adds a backend. Errors: -EINVAL (bad address or family, port 0, weight or state out of
 * range); -EEXIST the service has that backend; -ENOENT stale svc; -ENOSPC. Thread-safe. */
MICROSEG_API int microseg_service_backend_add(struct microseg_ctx *ctx, struct microseg_service *svc,
					      const struct microseg_backend_opts *opts);
/* Adds n backends at once: all of them or (on any error) none, with one change of the
 * selection table instead of n. Adding N backends one by one to a Maglev service rebuilds and
 * rewrites its table N times (measured: 11 ms per call at 100 backends before the rewrite
 * became a diff, ~2 ms after); an orchestrator that learns of many endpoints at once should
 * hand them over in one call. opts: an array of n elements, opts[i].sz all equal (the stride
 * is opts[0].sz, so a program built against an older header still passes a valid array).
 * Errors as microseg_service_backend_add (-EEXIST also for one backend named twice in opts,
 * -ENOSPC if n would pass the per-service limit). n == 0: 0, nothing changes. Thread-safe. */
MICROSEG_API int microseg_service_backend_add_many(struct microseg_ctx *ctx, struct microseg_service *svc,
						   const struct microseg_backend_opts *opts, size_t n);
/* Removes the backend address:port. Errors: -EINVAL; -ENOENT no such service or backend. */
MICROSEG_API int microseg_service_backend_remove(struct microseg_ctx *ctx, struct microseg_service *svc,
						 const char *address, uint16_t port);
/* Changes a backend's state (enum microseg_backend_state). Errors: -EINVAL; -ENOENT. */
MICROSEG_API int microseg_service_backend_set_state(struct microseg_ctx *ctx, struct microseg_service *svc,
						    const char *address, uint16_t port, uint32_t state);

/* One service, for listings. */
struct microseg_service_info {
	size_t sz;
	uint32_t id;
	char name[MICROSEG_SERVICE_NAME_MAX + 1];
	char address[46];
	uint16_t port;
	uint16_t pad;
	uint32_t proto;
	uint32_t algorithm;
	uint32_t maglev_table_size;
	uint32_t affinity_timeout_s;
	uint32_t n_backends;
	uint32_t n_active;
};
struct microseg_backend_info {
	size_t sz;
	char address[46];
	uint16_t port;
	uint16_t weight;
	uint32_t state;
	uint64_t connections; /* connections the datapath sent to it (both paths) */
};

MICROSEG_API int microseg_service_get_info(struct microseg_ctx *ctx, const struct microseg_service *svc,
					   struct microseg_service_info *info);
/* Writes up to cap backends of svc (in the order added) and their count. Returns 0 or -ENOSPC
 * if cap < *count. Thread-safe. */
MICROSEG_API int microseg_service_backends(struct microseg_ctx *ctx, const struct microseg_service *svc,
					   struct microseg_backend_info *out, size_t cap, size_t *count);
/* Writes up to cap live services (ordered by id) and their count. Returns 0 or -ENOSPC. */
MICROSEG_API int microseg_service_list(struct microseg_ctx *ctx, struct microseg_service **out, size_t cap,
				       size_t *count);
/* The service with this frontend, or -ENOENT. proto: MICROSEG_PROTO_TCP/UDP. */
MICROSEG_API int microseg_service_find(struct microseg_ctx *ctx, const char *address, uint16_t port,
				       uint32_t proto, struct microseg_service **svc);

#ifdef __cplusplus
}
#endif
#endif
