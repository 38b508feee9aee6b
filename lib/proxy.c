// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 proxy of a context: its listening sockets, its routing, who may use it, and how it
 * runs (the caller's loop or worker threads). Relaying and HTTP are proxy_engine.c's; the
 * per-request verdict comes from the live policy (l7_policy.c).
 *
 * The datapath hands connections to the listeners (127.0.0.1 and ::1, IP_TRANSPARENT) with
 * bpf_sk_assign; an accepted socket's local address is the original destination. A connection
 * is served only if the datapath recorded it in ms_proxy_conns (key: client and original
 * destination), and the identities come from that record alone.
 *
 * Threads: in loop mode everything runs in microseg_proxy_process() on the caller's thread.
 * With N workers, each has its own engine and epoll set; the listeners sit in every set with
 * EPOLLEXCLUSIVE, so one worker wakes per connection. Workers take ctx->lock only to judge a
 * request (and to resolve the rules when the policy revision moved), never across I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "policy_internal.h"
#include "proxy_engine.h"

#define PROXY_THREADS_MAX 64
#define DEFAULT_MAX_CONNS 4096
#define DEFAULT_MAX_HEADER 16384
#define DEFAULT_IDLE_MS 60000
/* Policy routing: priority below the main table's (32766), table and mark per instance. */
#define RULE_PREF_BASE 9000
#define TABLE_BASE 0x4d5000
#define MARK_BASE 0x4d500000u

struct proxy_worker {
	struct ms_proxy *px;
	struct ms_proxy_engine *pe;
	pthread_t thread;
	bool started;
	bool stop; /* the stop eventfd was seen (worker threads) */
	struct ms_l7_emit_batch records; /* L7 records waiting for one ms_l7_emit run */
};

struct ms_proxy {
	struct microseg_ctx *ctx;
	int lfd[2];  /* IPv4, IPv6 listeners */
	int stopfd;  /* eventfd: workers leave their loop when it is readable */
	uint16_t port;
	uint32_t mark, upstream_mark, table, pref;
	bool routing;
	uint32_t threads;
	struct proxy_worker *workers; /* threads or 1 (loop mode) */
	size_t n_workers;
	_Atomic uint64_t accepted, rejected;
};

/* What the proxy knows of one connection: the datapath's record and the rules resolved
 * from it (per side whose rules have HTTP on the port). */
struct proxy_conn {
	struct ms_proxy *px;
	struct proxy_worker *w;
	struct ms_proxy_key key;
	struct ms_proxy_value rec;
	uint16_t port; /* original destination port, host order */
	struct ms_l7_verdict side[2]; /* [MS_DIR_EGRESS] client's rules, [MS_DIR_INGRESS] server's */
	bool resolved[2];
};

/* The instance's policy routing: the same for every process that runs its proxy, so a
 * leftover of one that died can be found (and is replaced, or removed at purge). */
static void routing_of(const struct microseg_ctx *ctx, uint32_t *mark, uint32_t *table, uint32_t *pref)
{
	uint32_t h = (uint32_t)ms_hash_str(ctx->instance);
	*mark = MARK_BASE | ((h & 0xffff) << 1);
	*table = TABLE_BASE + (h & 0xffff);
	*pref = RULE_PREF_BASE + (h % 1000);
}

void ms_proxy_purge_routing(struct microseg_ctx *ctx)
{
	uint32_t mark, table, pref;
	routing_of(ctx, &mark, &table, &pref);
	ms_nl_tproxy_routing(ctx, false, mark, table, pref);
}

/* ---- verdicts ---- */

static bool side_allows(struct microseg_ctx *ctx, struct proxy_conn *c, uint8_t dir,
			const struct ms_http_request_view *req)
{
	uint32_t ep = dir == MS_DIR_EGRESS ? c->rec.egress_ep : c->rec.ingress_ep;
	if (!ep)
		return true;
	struct ms_l7_verdict *v = &c->side[dir];
	/* The lock only when the policy moved since this connection last looked: the resolved
	 * sets are references, safe to match against without it. */
	if (!c->resolved[dir] || v->gen != atomic_load(&ctx->pol->l7_gen)) {
		uint32_t peer = dir == MS_DIR_EGRESS ? c->rec.dst_identity : c->rec.src_identity;
		MS_LOCK(ctx);
		c->resolved[dir] = ms_l7_resolve(ctx, ep, dir, peer, c->port, v) == 0;
		MS_UNLOCK(ctx);
		if (!c->resolved[dir])
			return false; /* out of memory: refuse rather than guess */
	}
	return ms_l7_allows(v, req);
}

static int judge(void *owner, void *conn_user, const struct ms_http_request_view *req)
{
	struct ms_proxy *px = owner;
	struct proxy_conn *c = conn_user;
	bool ok = side_allows(px->ctx, c, MS_DIR_EGRESS, req) && side_allows(px->ctx, c, MS_DIR_INGRESS, req);
	return ok ? MS_PE_ALLOW : MS_PE_DENY;
}

static void copy_view(char *dst, size_t cap, const char *src, size_t len)
{
	if (!src)
		len = 0;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

/* The worker's waiting L7 records into the event ring: one program run for the batch. */
static void flush_records(struct proxy_worker *w)
{
	int fd = w->px->ctx->dp.prog_fd[MS_P_L7_EMIT];
	if (!w->records.n)
		return;
	if (fd >= 0) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &w->records, .ctx_size_in = sizeof(w->records));
		bpf_prog_test_run_opts(fd, &o);
	}
	w->records.n = 0;
}

/* One flow record per request; they leave in batches, at the latest at the end of the
 * worker's round (a few microseconds later). */
static void record(void *owner, void *conn_user, const struct ms_pe_record *r)
{
	(void)owner;
	struct proxy_conn *c = conn_user;
	struct proxy_worker *w = c->w;
	if (w->records.n == MS_L7_EMIT_BATCH)
		flush_records(w);
	struct ms_event_l7 *evp = &w->records.recs[w->records.n++];
	struct ms_event_l7 ev;
	memset(&ev, 0, sizeof(ev));
	bool ingress = c->rec.ingress_ep != 0;
	ev.ep_id = ingress ? c->rec.ingress_ep : c->rec.egress_ep;
	ev.dir = ingress ? MS_DIR_INGRESS : MS_DIR_EGRESS;
	ev.src_identity = c->rec.src_identity;
	ev.dst_identity = c->rec.dst_identity;
	ev.latency_us = r->latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)r->latency_us;
	memcpy(ev.saddr, c->key.saddr, 16);
	memcpy(ev.daddr, c->key.daddr, 16);
	ev.sport = c->key.sport;
	ev.dport = c->key.dport;
	ev.family = c->key.family;
	ev.verdict = r->verdict == MS_PE_ALLOW ? MS_VERDICT_FORWARDED : MS_VERDICT_DROPPED;
	ev.status = (uint16_t)r->status;
	if (r->req) {
		copy_view(ev.method, sizeof(ev.method), r->req->method, r->req->method_len);
		copy_view(ev.path, sizeof(ev.path), r->req->path, r->req->path_len);
	}
	*evp = ev;
}

static void conn_closed(void *owner, void *conn_user)
{
	struct ms_proxy *px = owner;
	struct proxy_conn *c = conn_user;
	bpf_map_delete_elem(px->ctx->dp.map_fd[MS_M_PROXY_CONNS], &c->key);
	ms_l7_verdict_release(&c->side[0]);
	ms_l7_verdict_release(&c->side[1]);
	free(c);
}

static const struct ms_pe_ops engine_ops = { .judge = judge, .record = record, .closed = conn_closed };

/* ---- accepting ---- */

static void key_from_addrs(struct ms_proxy_key *k, const struct sockaddr_storage *peer,
			   const struct sockaddr_storage *local)
{
	memset(k, 0, sizeof(*k));
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)peer, *l = (const void *)local;
		memcpy(k->saddr, &p->sin_addr, 4);
		memcpy(k->daddr, &l->sin_addr, 4);
		k->sport = p->sin_port;
		k->dport = l->sin_port;
		k->family = MS_FAMILY_IPV4;
	} else {
		const struct sockaddr_in6 *p = (const void *)peer, *l = (const void *)local;
		memcpy(k->saddr, &p->sin6_addr, 16);
		memcpy(k->daddr, &l->sin6_addr, 16);
		k->sport = p->sin6_port;
		k->dport = l->sin6_port;
		k->family = MS_FAMILY_IPV6;
	}
}

/* Takes one accepted socket: served if the datapath recorded it, else closed unheard. */
static void take_conn(struct proxy_worker *w, int fd)
{
	struct ms_proxy *px = w->px;
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	struct proxy_conn *c = NULL;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) || getsockname(fd, (struct sockaddr *)&local, &ll))
		goto refuse;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto refuse;
	c->px = px;
	c->w = w;
	key_from_addrs(&c->key, &peer, &local);
	if (bpf_map_lookup_elem(px->ctx->dp.map_fd[MS_M_PROXY_CONNS], &c->key, &c->rec))
		goto refuse; /* not handed over by the datapath: a direct connection to the proxy */
	c->port = ntohs(c->key.dport);
	atomic_fetch_add(&px->accepted, 1);
	/* The engine owns fd from here, even on failure (then without calling closed()). */
	if (ms_pe_add_conn(w->pe, fd, (struct sockaddr *)&local, ll, px->upstream_mark, NULL, 0, c))
		free(c);
	return;
refuse:
	atomic_fetch_add(&px->rejected, 1);
	free(c);
	close(fd);
}

static void accept_all(struct proxy_worker *w, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or another worker took it */
		take_conn(w, fd);
	}
}

static void on_listener(void *arg, int fd, uint32_t events)
{
	(void)events;
	accept_all(arg, fd);
}

static void on_stop(void *arg, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	((struct proxy_worker *)arg)->stop = true;
}

/* One round of a worker's loop: one wait on the engine's epoll set, which also holds the
 * listeners and the stop eventfd, then the round's flow records in one batch. */
static int worker_round(struct proxy_worker *w, int timeout_ms)
{
	int r = ms_pe_run(w->pe, timeout_ms);
	flush_records(w);
	return r == -EINTR ? 0 : r;
}

static void *worker_main(void *arg)
{
	struct proxy_worker *w = arg;
	while (!w->stop)
		if (worker_round(w, 100) < 0)
			break;
	return NULL;
}

/* ---- setup ---- */

static int listen_on(struct microseg_ctx *ctx, int family, uint16_t port, int *out)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ms_err(ctx, -errno, "proxy: socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Transparent: its accepted sockets answer with the original destination's address. */
	int err = family == AF_INET ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))
				    : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	if (err) {
		err = ms_err(ctx, -errno, "proxy: IP_TRANSPARENT needs CAP_NET_ADMIN");
		close(fd);
		return err;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024)) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

/* Both listeners on one port (the datapath knows one port): the IPv4 one picks it when the
 * caller did not, and another pick is tried if that port is taken on ::1. */
static int open_listeners(struct ms_proxy *px, uint16_t want)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int err = listen_on(px->ctx, AF_INET, want, &px->lfd[0]);
		if (err)
			return err == -EADDRINUSE ? ms_err(px->ctx, err, "proxy: port %u is in use", want) : err;
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		getsockname(px->lfd[0], (struct sockaddr *)&a, &al);
		px->port = ntohs(a.sin_port);
		err = listen_on(px->ctx, AF_INET6, px->port, &px->lfd[1]);
		if (!err)
			return 0;
		close(px->lfd[0]);
		px->lfd[0] = -1;
		if (err != -EADDRINUSE || want)
			return ms_err(px->ctx, err, "proxy: cannot listen on [::1]:%u", px->port);
	}
	return ms_err(px->ctx, -EADDRINUSE, "proxy: no port free on both 127.0.0.1 and ::1");
}

static int worker_init(struct ms_proxy *px, struct proxy_worker *w, const struct ms_pe_opts *eo)
{
	w->px = px;
	w->pe = ms_pe_new(eo, &engine_ops, px);
	if (!w->pe)
		return -ENOMEM;
	/* With several workers, one of them is woken per new connection, not all. */
	uint32_t lev = EPOLLIN | (px->threads > 1 ? EPOLLEXCLUSIVE : 0);
	int err = ms_pe_watch(w->pe, px->lfd[0], lev, on_listener, w);
	if (!err)
		err = ms_pe_watch(w->pe, px->lfd[1], lev, on_listener, w);
	if (!err)
		err = ms_pe_watch(w->pe, px->stopfd, EPOLLIN, on_stop, w);
	return err;
}

static int config_proxy(struct microseg_ctx *ctx, uint16_t port, uint32_t mark, uint32_t upstream_mark)
{
	struct ms_config cfg;
	int err = ms_dp_config_get(ctx, &cfg);
	if (err)
		return err;
	cfg.proxy_port = port;
	cfg.proxy_mark = mark;
	cfg.proxy_upstream_mark = upstream_mark;
	return ms_dp_config_set(ctx, &cfg);
}

/* Frees everything of a proxy no longer reachable from its context. */
static void proxy_destroy(struct ms_proxy *px)
{
	if (px->stopfd >= 0) {
		uint64_t one = 1;
		if (write(px->stopfd, &one, sizeof(one)) < 0) {
			/* an eventfd write cannot fail short of overflow; workers also stop on close */
		}
	}
	for (size_t i = 0; i < px->n_workers; i++)
		if (px->workers[i].started)
			pthread_join(px->workers[i].thread, NULL);
	for (size_t i = 0; i < px->n_workers; i++) {
		ms_pe_free(px->workers[i].pe);
		flush_records(&px->workers[i]);
	}
	free(px->workers);
	for (int i = 0; i < 2; i++)
		if (px->lfd[i] >= 0)
			close(px->lfd[i]);
	if (px->stopfd >= 0)
		close(px->stopfd);
	if (px->routing)
		ms_nl_tproxy_routing(px->ctx, false, px->mark, px->table, px->pref);
	free(px);
}

MICROSEG_API int microseg_proxy_start(struct microseg_ctx *ctx, const struct microseg_proxy_opts *opts)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "proxy start");
	int err = 0;
	if (opts && !MS_OPTS_OK(opts, struct microseg_proxy_opts))
		err = ms_err(ctx, -EINVAL, "proxy: opts->sz is wrong or unknown fields are set");
	uint32_t threads = MS_OPT(opts, threads, 0);
	struct ms_pe_opts eo = {
		.max_conns = MS_OPT(opts, max_connections, 0),
		.max_header_bytes = MS_OPT(opts, max_header_bytes, 0),
		.idle_timeout_ms = MS_OPT(opts, idle_timeout_ms, 0),
	};
	eo.max_conns = eo.max_conns ? eo.max_conns : DEFAULT_MAX_CONNS;
	eo.max_header_bytes = eo.max_header_bytes ? eo.max_header_bytes : DEFAULT_MAX_HEADER;
	eo.idle_timeout_ms = eo.idle_timeout_ms ? eo.idle_timeout_ms : DEFAULT_IDLE_MS;
	if (!err && threads > PROXY_THREADS_MAX)
		err = ms_err(ctx, -EINVAL, "proxy: threads %u, at most %d", threads, PROXY_THREADS_MAX);
	if (!err && (eo.max_header_bytes < 1024 || eo.max_header_bytes > (1u << 20)))
		err = ms_err(ctx, -EINVAL, "proxy: max_header_bytes must be 1024..1048576");
	if (!err && ms_ctx_offline(ctx))
		err = ms_err(ctx, -EOPNOTSUPP, "proxy: the context has no datapath");
	if (!err && ctx->purged)
		err = ms_err(ctx, -ESHUTDOWN, "proxy: the instance was purged");
	if (!err && ctx->proxy)
		err = ms_err(ctx, -EALREADY, "proxy: already running");
	struct ms_proxy *px = err ? NULL : calloc(1, sizeof(*px));
	if (!err && !px)
		err = -ENOMEM;
	if (err) {
		MS_UNLOCK(ctx);
		return err;
	}
	px->ctx = ctx;
	px->lfd[0] = px->lfd[1] = -1;
	px->threads = threads;
	routing_of(ctx, &px->mark, &px->table, &px->pref);
	px->upstream_mark = px->mark | 1; /* never matches the routing rule's exact mark */
	px->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	px->n_workers = threads ? threads : 1;
	px->workers = calloc(px->n_workers, sizeof(*px->workers));
	if (px->stopfd < 0 || !px->workers) {
		err = -ENOMEM;
		goto fail;
	}
	if ((err = open_listeners(px, MS_OPT(opts, port, 0))))
		goto fail;
	if ((err = ms_nl_tproxy_routing(ctx, true, px->mark, px->table, px->pref)))
		goto fail;
	px->routing = true;
	for (size_t i = 0; i < px->n_workers && !err; i++)
		err = worker_init(px, &px->workers[i], &eo);
	if (err) {
		err = ms_err(ctx, err, "proxy: cannot set up its event loop");
		goto fail;
	}
	for (size_t i = 0; threads && i < px->n_workers; i++) {
		if ((err = -pthread_create(&px->workers[i].thread, NULL, worker_main, &px->workers[i]))) {
			err = ms_err(ctx, err, "proxy: cannot start worker thread");
			goto fail;
		}
		px->workers[i].started = true;
	}
	/* Last: from here on the datapath hands connections over. */
	if ((err = config_proxy(ctx, px->port, px->mark, px->upstream_mark)))
		goto fail;
	ctx->proxy = px;
	ms_log(ctx, MICROSEG_LOG_INFO, "L7 proxy listening on port %u (%u threads)", px->port, threads);
	MS_UNLOCK(ctx);
	return 0;
fail:
	MS_UNLOCK(ctx);
	proxy_destroy(px); /* workers take the lock to judge: join them unlocked */
	return err;
}

void ms_proxy_shutdown(struct microseg_ctx *ctx)
{
	MS_LOCK(ctx);
	struct ms_proxy *px = ctx->proxy;
	ctx->proxy = NULL;
	/* The datapath first: new connections to L7 ports are dropped from now on. */
	if (px && !ctx->purged)
		config_proxy(ctx, 0, 0, 0);
	MS_UNLOCK(ctx);
	if (px)
		proxy_destroy(px);
}

MICROSEG_API int microseg_proxy_stop(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	bool running = ctx->proxy != NULL;
	MS_UNLOCK(ctx);
	if (!running)
		return -ENOENT;
	ms_proxy_shutdown(ctx);
	return 0;
}

/* Loop mode only: the proxy of ctx, or an error. */
static int loop_proxy(struct microseg_ctx *ctx, struct ms_proxy **out)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	struct ms_proxy *px = ctx->proxy;
	int err = !px ? -ENOENT : px->threads ? -EINVAL : 0;
	MS_UNLOCK(ctx);
	*out = px;
	return err;
}

MICROSEG_API int microseg_proxy_fd(struct microseg_ctx *ctx)
{
	struct ms_proxy *px;
	int err = loop_proxy(ctx, &px);
	return err ? err : ms_pe_fd(px->workers[0].pe);
}

MICROSEG_API int microseg_proxy_process(struct microseg_ctx *ctx, int timeout_ms)
{
	struct ms_proxy *px;
	int err = loop_proxy(ctx, &px);
	if (err)
		return err;
	return worker_round(&px->workers[0], timeout_ms);
}

MICROSEG_API int microseg_proxy_port(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int port = ctx->proxy ? ctx->proxy->port : -ENOENT;
	MS_UNLOCK(ctx);
	return port;
}

void ms_proxy_stats_locked(struct microseg_ctx *ctx, struct microseg_proxy_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->sz = sizeof(*out);
	struct ms_proxy *px = ctx->proxy;
	if (!px)
		return;
	out->connections = atomic_load(&px->accepted);
	out->rejected = atomic_load(&px->rejected);
	for (size_t i = 0; i < px->n_workers; i++) {
		struct ms_pe_stats s;
		ms_pe_stats(px->workers[i].pe, &s);
		out->active += s.conns_active;
		out->requests_allowed += s.requests_allowed;
		out->requests_denied += s.requests_denied;
		out->requests_invalid += s.requests_invalid;
		out->upstream_errors += s.upstream_errors;
		for (int k = 0; k < 6; k++)
			out->status[k] += s.status[k];
	}
}

MICROSEG_API int microseg_proxy_get_stats(struct microseg_ctx *ctx, struct microseg_proxy_stats *stats)
{
	if (!ctx || !stats || stats->sz < offsetof(struct microseg_proxy_stats, connections) + sizeof(uint64_t))
		return -EINVAL;
	struct microseg_proxy_stats out;
	MS_LOCK(ctx);
	bool running = ctx->proxy != NULL;
	ms_proxy_stats_locked(ctx, &out);
	MS_UNLOCK(ctx);
	if (!running)
		return -ENOENT;
	size_t keep = stats->sz;
	memcpy(stats, &out, keep < sizeof(out) ? keep : sizeof(out));
	stats->sz = keep;
	return 0;
}
