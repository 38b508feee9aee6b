/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 proxy: enforces the HTTP rules of a policy (struct microseg_http_rule, policy.h).
 *
 * Connections to a port that has HTTP rules (in the client's egress or the server's ingress
 * policy) are handed by the datapath to a transparent proxy that runs inside the process
 * owning the context: the TC program assigns the connection's packets to the proxy's
 * listening socket (bpf_sk_assign), so the client still talks to the server's address and
 * never sees the proxy. Connections to ports without HTTP rules never touch it.
 *
 * Per request (keep-alive and pipelined requests are each judged, in order): allowed requests
 * go to the original destination, denied ones get "403 Forbidden" from the proxy and the
 * connection stays usable; requests that could be read two ways (Content-Length together
 * with Transfer-Encoding, conflicting Content-Lengths, obsolete line folding, headers over
 * the size limit, a malformed request line) get "400 Bad Request" and the connection is
 * closed, so the proxy is never a request-smuggling gap between the policy and the server.
 * The rules in force are those of the request's arrival: a policy change applies to the next
 * request of an existing connection.
 *
 * The proxy's connection to the server comes from the host (the gateway address 169.254.1.1 or
 * fe80::1 on the server's link): the server's ingress policy sees the host identity, which
 * endpoints always accept (the client's identity was judged, at L3/L4 and per request, before
 * the proxy connected), and the server's logs show that address, not the client's.
 *
 * Trust: the proxy serves only connections the datapath handed to it, and takes the client's
 * identity from the datapath's record of that connection, never from the request. Anything
 * else that reaches its socket is closed without a byte.
 *
 * Until the proxy runs, connections to ports with HTTP rules are dropped (fail closed, drop
 * reason "proxy"). Every request produces an L7 event (MICROSEG_EVENT_L7, events.h): method,
 * path, verdict, status, latency, identities.
 *
 * Running it, the caller's choice:
 *   - threads = 0: in the caller's event loop. Poll microseg_proxy_fd() for readability and
 *     call microseg_proxy_process(ctx, 0); or call microseg_proxy_process(ctx, timeout_ms) in
 *     a loop. No thread is started.
 *   - threads = N: the library starts N worker threads that serve connections until
 *     microseg_proxy_stop() (or microseg_ctx_close()). The caller's thread is not used.
 * The host needs an ip rule routing packets with the proxy's mark to the local table; the
 * library installs it (priority 9000 + n, table and mark derived from the instance name) and
 * removes it at stop.
 */
#ifndef MICROSEG_PROXY_H
#define MICROSEG_PROXY_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;

struct microseg_proxy_opts {
	size_t sz;
	uint32_t threads;          /* 0: caller's loop; 1..64 worker threads */
	uint16_t port;             /* listening port on 127.0.0.1 and ::1; 0: any free port */
	uint16_t pad;
	uint32_t max_connections;  /* concurrent client connections; 0: 4096 */
	uint32_t max_header_bytes; /* request line + headers; 0: 16384; 1024..1048576 */
	uint32_t idle_timeout_ms;  /* a connection with no request in progress; 0: 60000 */
};

/* Starts the proxy for ctx. Errors: -EINVAL bad opts; -EALREADY running; -EROFS read-only;
 * -EOPNOTSUPP no datapath; -EADDRINUSE port taken; kernel -errno. Thread-safe. */
MICROSEG_API int microseg_proxy_start(struct microseg_ctx *ctx, const struct microseg_proxy_opts *opts);

/* Closes every proxied connection, stops the workers, removes the listener and the ip rules;
 * connections to ports with HTTP rules are dropped again. -ENOENT if not running. */
MICROSEG_API int microseg_proxy_stop(struct microseg_ctx *ctx);

/* threads = 0 mode: a file descriptor that is readable when the proxy has work. -ENOENT not
 * running, -EINVAL running with threads. */
MICROSEG_API int microseg_proxy_fd(struct microseg_ctx *ctx);

/* threads = 0 mode: does the proxy's pending work, waiting up to timeout_ms for some (0: no
 * wait, -1: forever). Returns the number of I/O events handled or -errno. Call it from one
 * thread at a time. */
MICROSEG_API int microseg_proxy_process(struct microseg_ctx *ctx, int timeout_ms);

/* The listening port (host order), or -ENOENT. */
MICROSEG_API int microseg_proxy_port(struct microseg_ctx *ctx);

struct microseg_proxy_stats {
	size_t sz;
	uint64_t connections;      /* accepted from the datapath */
	uint64_t rejected;         /* reached the socket without a datapath record: closed */
	uint64_t active;           /* open now */
	uint64_t requests_allowed;
	uint64_t requests_denied;  /* answered 403 */
	uint64_t requests_invalid; /* answered 400 */
	uint64_t upstream_errors;  /* the server could not be reached: 502 */
	uint64_t status[6];        /* responses sent to clients by class: [1] 1xx .. [5] 5xx */
};
MICROSEG_API int microseg_proxy_get_stats(struct microseg_ctx *ctx, struct microseg_proxy_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
