/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 proxy's connection engine: non-blocking HTTP/1.1 relaying between accepted client
 * connections and their upstream servers, request by request, on one epoll instance. It knows
 * nothing of BPF or contexts: its owner (proxy.c) accepts connections, tells the engine where
 * each one goes, and judges each request through a callback.
 *
 * Per client connection: read a request (llhttp through http_parse.h, hardened: ambiguous
 * framing, obsolete line folding, oversize headers, bad request line -> 400 and close; nothing
 * of such a request reaches the server); ask judge(); allowed: connect to the upstream (at the
 * first allowed request, non-blocking, with the given socket mark; again later if the server
 * closed an idle connection), send the request (head and body, chunked bodies passed through
 * as framed), relay the response (parsed to know its end) back; denied: answer 403 with the
 * body "Access denied\n" (no body to HEAD) and keep the connection, dropping the request's
 * body as it arrives; upstream unreachable, or closed before any response: 502 and close.
 * Pipelined requests are handled strictly one after the other (the next is read from the
 * buffer once the previous response is complete), so responses keep the order of requests.
 * "Connection: close" from either side, HTTP/1.0 without keep-alive, a denied request with
 * "Expect: 100-continue" and a body, or an upgrade request end the connection after the
 * response. Upgrades: only to "websocket" (others get 403 without asking judge()) and CONNECT;
 * judged like any request; relayed raw once the server answers 101 (2xx to CONNECT).
 * Bytes are never copied between the sockets' buffers: each direction has one bounded buffer
 * that the parser reads in place and the other socket is written from; a side is not read
 * while its buffer is full (backpressure). Only the head of an allowed request is copied, and
 * only when a record() callback is set (it is shown the request after the response).
 *
 * Thread-safety: one engine per thread; every call on an engine from its own thread only,
 * except ms_pe_stats() (atomic counters).
 */
#ifndef MICROSEG_PROXY_ENGINE_H
#define MICROSEG_PROXY_ENGINE_H

#include <stdint.h>
#include <sys/socket.h>

#include "http_rules.h"

struct ms_proxy_engine;

enum ms_pe_verdict {
	MS_PE_ALLOW = 0,
	MS_PE_DENY = 1,
};

/* One request's outcome, for flow records. */
struct ms_pe_record {
	const struct ms_http_request_view *req; /* valid during the callback only; NULL for a
						 * request too malformed to read (status 400) */
	int verdict;          /* enum ms_pe_verdict (400s: DENY) */
	unsigned status;      /* status sent to the client */
	uint64_t latency_us;  /* request complete -> response head sent to the client */
};

struct ms_pe_ops {
	/* Judges a complete request head (the body, if any, follows only if allowed). Called on
	 * the engine's thread. conn_user: what ms_pe_add_conn() was given. */
	int (*judge)(void *owner, void *conn_user, const struct ms_http_request_view *req);
	/* After each request's response (or 403/400/502) went out (queued to the client). A
	 * request whose connection ends before its response gets no record. May be NULL. */
	void (*record)(void *owner, void *conn_user, const struct ms_pe_record *rec);
	/* The connection is gone (both sockets closed); conn_user may be freed. May be NULL. */
	void (*closed)(void *owner, void *conn_user);
};

struct ms_pe_opts {
	uint32_t max_conns;        /* client connections at once; more are closed at once */
	uint32_t max_header_bytes; /* request line + headers (and response head) */
	uint32_t idle_timeout_ms;  /* no byte moved on either socket for this long: close */
};
/* 0 in an opts field (or opts NULL): these. */
#define MS_PE_DEFAULT_MAX_CONNS 4096
#define MS_PE_DEFAULT_MAX_HEADER_BYTES 16384
#define MS_PE_DEFAULT_IDLE_TIMEOUT_MS 60000

struct ms_pe_stats {
	uint64_t conns_accepted, conns_active, conns_refused_full;
	uint64_t requests_allowed, requests_denied, requests_invalid, upstream_errors;
	uint64_t status[6]; /* responses to clients by class [1]..[5] */
};

/* NULL on allocation or epoll failure (errno set). */
struct ms_proxy_engine *ms_pe_new(const struct ms_pe_opts *opts, const struct ms_pe_ops *ops, void *owner);
/* Closes every connection (calling closed() for each) and frees the engine. NULL: no-op. */
void ms_pe_free(struct ms_proxy_engine *pe);
/* The engine's epoll fd: readable when ms_pe_run() has work. */
int ms_pe_fd(const struct ms_proxy_engine *pe);

/* Takes over an accepted client socket (made non-blocking here): its requests go to upstream
 * (the original destination), the engine's connection to it marked with upstream_mark
 * (SO_MARK, 0 = none; needs CAP_NET_ADMIN) and, if bind_addr is non-NULL, bound to it first
 * (with IP_TRANSPARENT tried, so a non-local address such as the client's own can be used).
 * On error the socket is closed, closed() is not called, and -errno returned: -EBUSY
 * max_conns reached (counted in conns_refused_full), -EINVAL bad arguments, -ENOMEM. */
int ms_pe_add_conn(struct ms_proxy_engine *pe, int client_fd, const struct sockaddr *upstream,
		   socklen_t upstream_len, uint32_t upstream_mark, const struct sockaddr *bind_addr,
		   socklen_t bind_len, void *conn_user);

/* Adds one of the owner's descriptors (at most MS_PE_MAX_WATCHES, for the engine's life; the
 * owner closes them after ms_pe_free()) to the engine's epoll set with these epoll events:
 * ms_pe_run() calls fn(arg, fd, events) when it is ready. 0, -EINVAL, -ENOSPC, or -errno of
 * epoll_ctl. */
#define MS_PE_MAX_WATCHES 4
typedef void (*ms_pe_watch_fn)(void *arg, int fd, uint32_t events);
int ms_pe_watch(struct ms_proxy_engine *pe, int fd, uint32_t events, ms_pe_watch_fn fn, void *arg);

/* Handles ready I/O and timeouts, waiting up to timeout_ms (0: no wait, -1: forever) for some.
 * Returns the number of events handled, or -errno (-EINTR included). */
int ms_pe_run(struct ms_proxy_engine *pe, int timeout_ms);

void ms_pe_stats(const struct ms_proxy_engine *pe, struct ms_pe_stats *out);

#endif
