/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow visibility and metrics.
 *
 * The datapath reports through one ring buffer per instance: a "new" event once per allowed
 * connection (at its first packet), a "drop" event per dropped packet, each with identities,
 * addresses, ports, protocol, direction, verdict, drop reason and the deciding rule. Events are
 * rate limited per CPU in the datapath (a token bucket, microseg_events_set_rate()); what the
 * limit or a full ring refuses is counted, never queued in userspace.
 *
 * Consuming: register a callback with microseg_events_subscribe(), then either wait on
 * microseg_events_fd() in your own loop and call microseg_events_process(ctx, 0) when it is
 * readable, or call microseg_events_process(ctx, timeout_ms) to wait inside the library.
 * A ring buffer has one reader: two processes consuming the same instance's events split
 * them between them (msegctl observe is meant to be that one reader).
 */
#ifndef MICROSEG_EVENTS_H
#define MICROSEG_EVENTS_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;

enum microseg_event_type {
	MICROSEG_EVENT_FLOW_NEW = 1, /* a new connection was allowed */
	MICROSEG_EVENT_DROP = 2,     /* a packet was dropped */
	MICROSEG_EVENT_L7 = 3,       /* an HTTP request judged by the L7 proxy */
	MICROSEG_EVENT_SERVICE = 4,  /* a connection to a service address was translated */
};

enum microseg_verdict_kind {
	MICROSEG_FORWARDED = 0,
	MICROSEG_DROPPED = 1,
};

#define MICROSEG_ADDR_STRLEN 46

/* One event, decoded. Direction is the endpoint's: MICROSEG_DIR_INGRESS / _EGRESS (policy.h).
 * Fields appended in later versions go at the end; sz says how many the library filled. */
struct microseg_event {
	size_t sz;
	uint32_t type;           /* enum microseg_event_type */
	uint32_t version;        /* datapath event version */
	uint64_t time_ns;        /* CLOCK_REALTIME, nanoseconds */
	uint32_t endpoint_id;
	uint32_t ifindex;
	uint32_t direction;      /* MICROSEG_DIR_INGRESS or MICROSEG_DIR_EGRESS */
	uint32_t verdict;        /* enum microseg_verdict_kind */
	uint32_t drop_reason;    /* enum microseg_drop_reason (endpoint.h), 0 if forwarded */
	uint32_t rule_id;        /* deciding rule, 0 = none or default */
	uint32_t src_identity;
	uint32_t dst_identity;
	char src_addr[MICROSEG_ADDR_STRLEN];
	char dst_addr[MICROSEG_ADDR_STRLEN];
	uint16_t src_port;       /* host order; 0 for port-less protocols */
	uint16_t dst_port;
	uint32_t proto;          /* IP protocol number */
	uint32_t icmp_type;
	uint32_t bytes;          /* packet length */
	char endpoint_name[MICROSEG_ENDPOINT_NAME_MAX + 1]; /* "" if the endpoint is not known here */
	/* MICROSEG_EVENT_L7: the request (method and path cut at 15 and 127 bytes), the status the
	 * client got (403 denied, 400 invalid, else the server's), and the time from the request
	 * to the response's first byte. verdict FORWARDED or DROPPED; drop_reason 0. */
	char http_method[16];
	char http_path[128];
	uint32_t http_status;
	uint32_t latency_us;
	/* MICROSEG_EVENT_SERVICE: the frontend and the backend picked (backend "" and port 0:
	 * no active backend, refused); hook 1 = socket, 2 = per packet. src_* is the client
	 * (unknown at the socket hook: ""), dst_* the backend. */
	uint32_t service_id;
	char service_addr[MICROSEG_ADDR_STRLEN];
	uint16_t service_port;
	uint16_t service_hook;
};

/* Callback for each event that passes the filter. Runs inside microseg_events_process(), with
 * the context's mutex held: it must not call into the same context. */
typedef void (*microseg_event_fn)(void *user, const struct microseg_event *ev);

/* Which events reach the callback. Zero fields match everything. */
#define MICROSEG_EVENT_F_FORWARDED (1u << 0)
#define MICROSEG_EVENT_F_DROPPED (1u << 1)
struct microseg_event_filter {
	size_t sz;
	uint32_t endpoint_id; /* 0: any */
	uint32_t identity;    /* 0: any; else source or destination identity */
	uint32_t verdicts;    /* MICROSEG_EVENT_F_*; 0: both */
};

/* Starts delivering events to fn (replacing this context's earlier subscription). The
 * datapath reports events from the instance's creation on (see microseg_events_set_rate());
 * subscribing only starts reading them. filter may be NULL. Errors: -EINVAL (NULL fn, bad sz,
 * unknown verdict bits); -EOPNOTSUPP on a context without datapath. Thread-safe. */
MICROSEG_API int microseg_events_subscribe(struct microseg_ctx *ctx, const struct microseg_event_filter *filter,
					   microseg_event_fn fn, void *user);
/* Stops reading; the datapath goes on reporting (another reader, e.g. msegctl observe, may
 * take the events) and counting. -ENOENT if not subscribed. */
MICROSEG_API int microseg_events_unsubscribe(struct microseg_ctx *ctx);

/* A file descriptor that becomes readable when events wait (epoll/poll it). Valid while the
 * subscription lasts. Errors: -EINVAL; -ENOENT not subscribed. Thread-safe. */
MICROSEG_API int microseg_events_fd(struct microseg_ctx *ctx);

/* Delivers waiting events to the callback, waiting up to timeout_ms (0: do not wait, -1:
 * forever) if none wait. Returns the number of events read (passed to the filter), or -errno
 * (-ENOENT not subscribed, -EINTR). Thread-safe. */
MICROSEG_API int microseg_events_process(struct microseg_ctx *ctx, int timeout_ms);

/* Datapath event reporting: rate events per second per CPU, bursts up to burst. 0/0 turns
 * reporting off. Errors: -EINVAL; -EROFS read-only context. Thread-safe. */
MICROSEG_API int microseg_events_set_rate(struct microseg_ctx *ctx, uint32_t rate, uint32_t burst);

struct microseg_event_stats {
	size_t sz;
	uint64_t emitted;      /* written to the ring */
	uint64_t rate_limited; /* refused by the per-CPU rate limit */
	uint64_t lost;         /* refused because the ring was full (nobody read fast enough) */
	uint64_t delivered;    /* passed to this context's callback */
	uint64_t filtered;     /* read by this context and filtered out */
};
MICROSEG_API int microseg_events_get_stats(struct microseg_ctx *ctx, struct microseg_event_stats *stats);

/* A short stable name of a drop reason ("policy", "policy_deny", "spoofed_source", "invalid",
 * "ct_full", "redirect_fail", "proxy", "no_backend", "other"), as used in JSON and metrics. Never NULL. Thread-safe. */
MICROSEG_API const char *microseg_drop_reason_name(uint32_t reason);

/* Writes ev as one JSON object (no newline, NUL-terminated) into buf and returns its length;
 * 2048 bytes always suffice. Errors: -EINVAL NULL; -ENOSPC buf too small. Field names are
 * stable and documented in the README. Thread-safe. */
MICROSEG_API int microseg_event_to_json(const struct microseg_event *ev, char *buf, size_t len);

/*
 * The instance's metrics in the Prometheus text exposition format (version 0.0.4): per
 * endpoint and direction, packets and bytes forwarded and packets dropped by reason; event
 * counters; policy revision. *text is malloc()ed: free() it. Errors: -EINVAL; -ENOMEM; kernel
 * -errno. Thread-safe.
 */
MICROSEG_API int microseg_metrics_prometheus(struct microseg_ctx *ctx, char **text);

/* Instance status, for tools. */
struct microseg_status {
	size_t sz;
	uint32_t endpoints;
	uint32_t endpoints_attached; /* endpoints whose two TC filters are in place */
	uint32_t identities;
	uint32_t rules;
	uint32_t policies;
	uint32_t policy_revision;
	uint32_t max_endpoints;
	uint32_t ipcache_entries, max_ipcache;
	uint32_t connections, max_connections; /* tracked connections (may lag for an LRU) */
	uint64_t events_emitted, events_rate_limited, events_lost;
	uint32_t event_rate, event_burst;
	uint32_t prog_from_container_id; /* kernel program ids of the shared programs */
	uint32_t prog_to_container_id;
	/* Services and the L7 proxy (appended; sz tells whether the library filled them). */
	uint32_t services, max_services;
	uint32_t backends, max_backends;
	uint32_t lb_slots, max_lb_slots;  /* selection slots in the map, both halves */
	uint32_t socket_lb_attached;      /* 1: the socket programs are attached to their cgroup */
	uint32_t proxy_port;              /* the L7 proxy's port if one runs (any process), else 0 */
	uint32_t proxy_connections;       /* connections handed to the proxy, still recorded */
};
MICROSEG_API int microseg_ctx_status(struct microseg_ctx *ctx, struct microseg_status *status);

#ifdef __cplusplus
}
#endif
#endif
