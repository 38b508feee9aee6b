// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 proxy's connection engine (lib/proxy_engine.h): one epoll instance, level-triggered,
 * and per client connection a state machine over two buffers.
 *
 *   in:  client -> upstream. [start, start + in_ready) is approved and waits for the upstream
 *        socket; after it, bytes not parsed yet (the rest of a body, pipelined requests).
 *   out: upstream -> client, and the proxy's own answers. [start, start + out_ready) goes to
 *        the client; after it, response bytes not parsed yet.
 *
 * Parsing decides what becomes "ready", so nothing reaches the other side before the parser
 * has seen it: a request that turns out malformed has had none of its bytes past the error
 * forwarded. Every event ends in conn_progress(), which advances both directions until
 * nothing changes and then sets the epoll interest from what each buffer can take.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"
#include "proxy_engine.h"

#define BUF_INITIAL 4096
#define BUF_SLACK 16384        /* a buffer holds a full head plus this much */
#define LINGER_MAX_MS 2000     /* draining a client after our last answer */
#define LINGER_MAX_BYTES 65536
#define EVENTS_PER_RUN 64

struct pe_buf {
	char *data;
	size_t start, end, cap, max;
};

struct pe_sock {
	int fd;
	uint32_t events; /* registered interest; 0: not in the epoll set */
	struct pe_conn *conn;
};

enum req_state {
	REQ_HEAD,    /* reading the next request's head */
	REQ_FORWARD, /* allowed: the body goes upstream as it is parsed */
	REQ_DISCARD, /* denied: the body is dropped as it is parsed */
	REQ_WAIT,    /* the request is complete; its response is not */
	REQ_TUNNEL,  /* after an upgrade: bytes relayed unparsed */
	REQ_CLOSING, /* flushing the last answer, then draining, then closed */
};

struct pe_conn {
	struct ms_proxy_engine *pe;
	struct pe_conn *prev, *next;
	void *user;
	struct pe_sock client, upstream;
	struct sockaddr_storage up_addr, bind_addr;
	socklen_t up_len, bind_len;
	uint32_t mark;

	enum req_state state;
	struct pe_buf in, out;
	size_t in_ready, out_ready;
	struct ms_http_parser req, resp;

	bool connecting;     /* upstream connect() in progress */
	bool client_eof, upstream_eof;
	bool upstream_shut;  /* tunnel: our write side to the upstream is shut */
	bool draining;       /* CLOSING: answer sent, write side shut, reading until EOF */
	bool dead;           /* closed; freed at the end of the current ms_pe_run() */
	size_t drained;

	/* the request whose response is awaited */
	bool resp_pending;   /* sent (or being sent) upstream, response not complete */
	bool resp_head_seen; /* a final response head was relayed to the client */
	bool req_keep_alive;
	bool req_upgrade;
	unsigned status;
	uint64_t req_done_us, latency_us;
	char *head_copy;     /* the request's head, for record() */
	size_t head_copy_cap;

	uint64_t last_active_ms;
};

/* A descriptor of the owner's (a listener, a stop signal) in the engine's epoll set: one
 * epoll_wait per round serves both, instead of an outer set waiting on the engine's. */
struct pe_watch {
	struct pe_sock tag; /* first: the epoll tag; tag.conn is NULL */
	ms_pe_watch_fn fn;
	void *arg;
};

struct ms_proxy_engine {
	int epfd, timerfd;
	struct pe_sock timer_sock; /* epoll tag of timerfd */
	struct pe_watch watches[MS_PE_MAX_WATCHES];
	unsigned n_watches;
	bool timer_armed;
	struct ms_pe_opts opts;
	struct ms_pe_ops ops;
	void *owner;
	struct pe_conn *conns, *dead;
	uint32_t n_conns;
	struct ms_pe_stats stats; /* updated with __atomic builtins */
	struct ms_http_header scratch[MS_HTTP_MAX_HEADERS];
};

/* ---- time, counters ---- */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void count(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static void count_status(struct ms_proxy_engine *pe, unsigned status)
{
	if (status >= 100 && status < 600)
		count(&pe->stats.status[status / 100]);
}

/* ---- buffers ---- */

static size_t buf_len(const struct pe_buf *b)
{
	return b->end - b->start;
}

static char *buf_at(const struct pe_buf *b, size_t off)
{
	return b->data + b->start + off;
}

static void buf_consume(struct pe_buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

static bool buf_has_room(const struct pe_buf *b)
{
	return buf_len(b) < b->max;
}

/* Room for at least `want` more bytes at the end (moving the bytes to the front, then
 * growing, at most to b->max unless `force`). Returns the room, 0 when full. */
static size_t buf_make_room(struct pe_buf *b, size_t want, bool force)
{
	size_t len = buf_len(b), limit = force ? len + want : b->max;

	if (b->cap - b->end >= want)
		return b->cap - b->end;
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		if (b->cap - b->end >= want)
			return b->cap - b->end;
	}
	if (b->cap < limit) {
		size_t cap = b->cap ? b->cap : BUF_INITIAL;
		char *data;

		while (cap < len + want && cap < limit)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		data = realloc(b->data, cap);
		if (data) {
			b->data = data;
			b->cap = cap;
		}
	}
	return b->cap - b->end;
}

static bool buf_append(struct pe_buf *b, const char *s, size_t n)
{
	if (buf_make_room(b, n, true) < n)
		return false;
	memcpy(b->data + b->end, s, n);
	b->end += n;
	return true;
}

/* ---- epoll ---- */

static void sock_want(struct ms_proxy_engine *pe, struct pe_sock *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	int op;

	if (s->fd < 0 || s->events == events)
		return;
	/* A socket with no interest leaves the set: a hung-up peer would otherwise report
	 * EPOLLHUP on every wait while we are not ready to look at it. */
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else
		op = s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(pe->epfd, op, s->fd, &ev) == 0 || op == EPOLL_CTL_DEL)
		s->events = events;
}

static void sock_close(struct ms_proxy_engine *pe, struct pe_sock *s)
{
	if (s->fd < 0)
		return;
	if (s->events)
		epoll_ctl(pe->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	s->events = 0;
}

static void timer_arm(struct ms_proxy_engine *pe, bool on)
{
	struct itimerspec its = { 0 };

	if (pe->timer_armed == on)
		return;
	if (on) {
		/* a tick of a quarter of the timeout: connections close within 1.25 timeouts */
		uint32_t tick = pe->opts.idle_timeout_ms / 4;
		if (tick < 10)
			tick = 10;
		if (tick > 1000)
			tick = 1000;
		its.it_interval.tv_sec = tick / 1000;
		its.it_interval.tv_nsec = (long)(tick % 1000) * 1000000L;
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(pe->timerfd, 0, &its, NULL) == 0)
		pe->timer_armed = on;
}

/* ---- connection lifetime ---- */

static void conn_destroy(struct pe_conn *c)
{
	struct ms_proxy_engine *pe = c->pe;

	if (c->dead)
		return;
	c->dead = true;
	sock_close(pe, &c->client);
	sock_close(pe, &c->upstream);
	if (c->prev)
		c->prev->next = c->next;
	else
		pe->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = pe->dead;
	c->prev = NULL;
	pe->dead = c;
	pe->n_conns--;
	__atomic_fetch_sub(&pe->stats.conns_active, 1, __ATOMIC_RELAXED);
	if (pe->ops.closed)
		pe->ops.closed(pe->owner, c->user);
	if (pe->n_conns == 0)
		timer_arm(pe, false);
}

static void conn_free(struct pe_conn *c)
{
	free(c->in.data);
	free(c->out.data);
	free(c->head_copy);
	free(c);
}

static void free_dead(struct ms_proxy_engine *pe)
{
	while (pe->dead) {
		struct pe_conn *c = pe->dead;
		pe->dead = c->next;
		conn_free(c);
	}
}

/* No more requests on this connection: the upstream goes now, the client once the answers
 * queued for it are written (conn_progress() then drains and closes it). */
static void conn_begin_close(struct pe_conn *c)
{
	c->state = REQ_CLOSING;
	c->resp_pending = false;
	sock_close(c->pe, &c->upstream);
	/* response bytes not parsed yet belong to no answer the client will see */
	c->out.end = c->out.start + c->out_ready;
	c->in_ready = 0;
}

/* ---- answers of the proxy's own ---- */

static void send_local(struct pe_conn *c, unsigned status, bool close_after, bool with_body)
{
	static const struct {
		unsigned status;
		const char *line, *body;
	} answers[] = {
		{ 400, "400 Bad Request", "Bad Request\n" },
		{ 403, "403 Forbidden", "Access denied\n" },
		{ 502, "502 Bad Gateway", "Bad Gateway\n" },
	};
	char msg[256];
	size_t i = 0;
	int n;

	while (answers[i].status != status)
		i++;
	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %s\r\ncontent-length: %zu\r\ncontent-type: text/plain\r\n%s\r\n%s",
		     answers[i].line, strlen(answers[i].body), close_after ? "connection: close\r\n" : "",
		     with_body ? answers[i].body : "");
	/* whatever the upstream sent past the ready bytes cannot be relayed after this */
	c->out.end = c->out.start + c->out_ready;
	if (!buf_append(&c->out, msg, (size_t)n)) {
		conn_destroy(c);
		return;
	}
	c->out_ready += (size_t)n;
	count_status(c->pe, status);
}

static void record(struct pe_conn *c, const struct ms_http_request_view *req, int verdict, unsigned status,
		   uint64_t latency_us)
{
	struct ms_pe_record rec = { .req = req, .verdict = verdict, .status = status, .latency_us = latency_us };

	if (c->pe->ops.record)
		c->pe->ops.record(c->pe->owner, c->user, &rec);
}

/* The allowed request in flight as record() shows it: from the copy of its head. */
static void record_forwarded(struct pe_conn *c, unsigned status, uint64_t latency_us)
{
	struct ms_http_request_view view;

	if (!c->pe->ops.record)
		return;
	ms_http_request_view(&c->req, c->head_copy, c->pe->scratch, &view);
	record(c, &view, MS_PE_ALLOW, status, latency_us);
}

static void reject_invalid(struct pe_conn *c)
{
	count(&c->pe->stats.requests_invalid);
	conn_begin_close(c);
	send_local(c, 400, true, true);
	if (!c->dead)
		record(c, NULL, MS_PE_DENY, 400, 0);
}

/* The upstream could not be reached or failed before answering. */
static void upstream_failed(struct pe_conn *c)
{
	bool pending = c->resp_pending, answered = c->resp_head_seen;
	uint64_t latency = c->req_done_us ? now_us() - c->req_done_us : 0;

	if (c->state == REQ_TUNNEL) {
		conn_begin_close(c);
		return;
	}
	sock_close(c->pe, &c->upstream);
	c->connecting = false;
	if (!pending)
		return; /* an idle connection the server closed: the next request reconnects */
	count(&c->pe->stats.upstream_errors);
	conn_begin_close(c);
	if (answered)
		return; /* part of a response went out: only closing can tell the client */
	send_local(c, 502, true, true);
	if (!c->dead)
		record_forwarded(c, 502, latency);
}

/* ---- upstream connection ---- */

static int upstream_connect(struct pe_conn *c)
{
	int fd, one = 1;

	fd = socket(c->up_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (c->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &c->mark, sizeof(c->mark)) < 0)
		goto fail;
	if (c->bind_len) {
		/* best effort: only needed for an address that is not local */
		if (c->bind_addr.ss_family == AF_INET6)
			setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
		else
			setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&c->bind_addr, c->bind_len) < 0)
			goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&c->up_addr, c->up_len) < 0 && errno != EINPROGRESS)
		goto fail;
	c->upstream.fd = fd;
	c->upstream.events = 0;
	c->connecting = true; /* completion is reported by EPOLLOUT either way */
	c->upstream_eof = false;
	c->upstream_shut = false;
	return 0;
fail:
	{
		int err = -errno;
		close(fd);
		return err;
	}
}

static void connect_done(struct pe_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		upstream_failed(c);
		return;
	}
	c->connecting = false;
}

/* ---- requests ---- */

static bool header_equals(const struct ms_http_request_view *v, const char *name, const char *value)
{
	for (size_t i = 0; i < v->n_headers; i++) {
		const struct ms_http_header *h = &v->headers[i];
		if (h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0)
			return h->value_len == strlen(value) && strncasecmp(h->value, value, h->value_len) == 0;
	}
	return false;
}

static bool is_method(const struct ms_http_request_view *v, const char *m)
{
	return v->method_len == strlen(m) && memcmp(v->method, m, v->method_len) == 0;
}

static int judge(struct pe_conn *c, const struct ms_http_request_view *view)
{
	/* A judged upgrade lets the bytes after it through unjudged: only to protocols that
	 * cannot carry more HTTP requests past us (h2c could). */
	if (c->req.upgrade && !is_method(view, "CONNECT") && !header_equals(view, "upgrade", "websocket"))
		return MS_PE_DENY;
	return c->pe->ops.judge(c->pe->owner, c->user, view) == MS_PE_ALLOW ? MS_PE_ALLOW : MS_PE_DENY;
}

static void deny(struct pe_conn *c, const struct ms_http_request_view *view, size_t head, bool done)
{
	const struct ms_http_parser *r = &c->req;
	/* a denied body is read and dropped, but a client waiting for 100 Continue never sends
	 * it, and the bytes after an upgrade request are not HTTP */
	bool close_after = !r->keep_alive || r->upgrade || (!done && r->expect_continue);

	count(&c->pe->stats.requests_denied);
	send_local(c, 403, close_after, r->method != HTTP_HEAD);
	if (c->dead)
		return;
	record(c, view, MS_PE_DENY, 403, 0);
	buf_consume(&c->in, head);
	if (close_after)
		conn_begin_close(c);
	else
		c->state = done ? REQ_HEAD : REQ_DISCARD;
}

static void request_complete(struct pe_conn *c)
{
	c->state = REQ_WAIT;
	c->req_done_us = now_us();
}

static void allow(struct pe_conn *c, size_t head, bool done)
{
	struct ms_proxy_engine *pe = c->pe;

	count(&pe->stats.requests_allowed);
	if (pe->ops.record) {
		if (c->head_copy_cap < head) {
			char *copy = realloc(c->head_copy, head);
			if (!copy) {
				conn_destroy(c);
				return;
			}
			c->head_copy = copy;
			c->head_copy_cap = head;
		}
		memcpy(c->head_copy, buf_at(&c->in, 0), head);
	}
	c->in_ready = head;
	c->state = REQ_FORWARD;
	c->resp_pending = true;
	c->resp_head_seen = false;
	c->req_keep_alive = c->req.keep_alive;
	c->req_upgrade = c->req.upgrade;
	c->req_done_us = 0;
	c->latency_us = 0;
	c->status = 0;
	ms_http_parser_expect(&c->resp, c->req.method);
	if (done)
		request_complete(c);
	if (c->upstream_eof)
		sock_close(pe, &c->upstream); /* closed by the server since the last response */
	if (c->upstream.fd < 0 && upstream_connect(c) < 0)
		upstream_failed(c);
}

static void head_done(struct pe_conn *c, size_t head, bool done)
{
	struct ms_http_request_view view;

	ms_http_request_view(&c->req, buf_at(&c->in, 0), c->pe->scratch, &view);
	if (judge(c, &view) == MS_PE_ALLOW)
		allow(c, head, done);
	else
		deny(c, &view, head, done);
}

/* Advances the client -> upstream direction by parsing; true if anything changed. */
static bool client_advance(struct pe_conn *c)
{
	size_t used, avail;
	int rc;

	switch (c->state) {
	case REQ_HEAD:
		/* the previous request is out, and the client reads its answers */
		if (c->in_ready || c->out_ready > c->out.max / 2)
			return false;
		if (buf_len(&c->in) == 0) {
			if (c->client_eof) {
				conn_begin_close(c);
				return true;
			}
			return false;
		}
		rc = ms_http_parse(&c->req, buf_at(&c->in, 0), buf_len(&c->in), &used);
		if (rc == MS_HTTP_ERR) {
			reject_invalid(c);
			return true;
		}
		if (rc == 0) {
			if (c->client_eof) {
				conn_begin_close(c); /* a head cut short */
				return true;
			}
			return false;
		}
		head_done(c, used, rc & MS_HTTP_DONE);
		return true;
	case REQ_FORWARD:
	case REQ_DISCARD:
		avail = buf_len(&c->in) - c->in_ready;
		if (avail == 0) {
			if (c->client_eof) {
				conn_begin_close(c); /* a body cut short */
				return true;
			}
			return false;
		}
		rc = ms_http_parse(&c->req, buf_at(&c->in, c->in_ready), avail, &used);
		if (rc == MS_HTTP_ERR) {
			/* Malformed body (a bad chunk line): nothing past the error was sent, and
			 * the server gets no more. Denied requests had their answer already. */
			if (c->state == REQ_FORWARD && !c->resp_head_seen)
				reject_invalid(c);
			else
				conn_begin_close(c);
			return true;
		}
		if (c->state == REQ_FORWARD)
			c->in_ready += used;
		else
			buf_consume(&c->in, used);
		if (rc & MS_HTTP_DONE) {
			if (c->state == REQ_FORWARD)
				request_complete(c);
			else
				c->state = REQ_HEAD;
		}
		return used > 0 || rc != 0;
	case REQ_TUNNEL:
		if (c->in_ready == buf_len(&c->in))
			return false;
		c->in_ready = buf_len(&c->in);
		return true;
	case REQ_WAIT:
	case REQ_CLOSING:
		return false;
	}
	return false;
}

/* ---- responses ---- */

static void response_head(struct pe_conn *c)
{
	unsigned status = c->resp.status;

	count_status(c->pe, status);
	if (status >= 200 || status == 101) {
		c->status = status;
		c->resp_head_seen = true;
		c->latency_us = c->req_done_us ? now_us() - c->req_done_us : 0;
	}
}

static void response_complete(struct pe_conn *c)
{
	bool leftover = buf_len(&c->out) > c->out_ready;

	c->resp_pending = false;
	record_forwarded(c, c->status, c->latency_us);
	if (c->dead)
		return;
	if (c->resp.upgrade) {
		if (c->state == REQ_WAIT && c->req_upgrade) {
			/* what follows, both ways, is the new protocol's */
			c->state = REQ_TUNNEL;
			c->in_ready = buf_len(&c->in);
			c->out_ready = buf_len(&c->out);
			return;
		}
		conn_begin_close(c);
		return;
	}
	/* An answer before the request's end (the server gave up on its body), a closing side,
	 * or an upgrade the server declined: the connection cannot carry another request. */
	if (c->state != REQ_WAIT || !c->resp.keep_alive || !c->req_keep_alive || c->req_upgrade) {
		conn_begin_close(c);
		return;
	}
	if (leftover) {
		/* bytes no request asked for: a confused server, not the next answer */
		c->out.end = c->out.start + c->out_ready;
		sock_close(c->pe, &c->upstream);
	}
	c->state = REQ_HEAD;
}

static void response_invalid(struct pe_conn *c)
{
	if (c->resp_head_seen) {
		conn_begin_close(c);
		return;
	}
	upstream_failed(c);
}

/* Advances the upstream -> client direction by parsing; true if anything changed. */
static bool upstream_advance(struct pe_conn *c)
{
	size_t avail = buf_len(&c->out) - c->out_ready, used;
	int rc;

	if (c->state == REQ_TUNNEL) {
		c->out_ready += avail;
		return avail > 0;
	}
	if (c->state == REQ_CLOSING)
		return false;
	if (avail > 0 && !c->resp_pending) {
		c->out.end = c->out.start + c->out_ready;
		sock_close(c->pe, &c->upstream);
		return true;
	}
	if (avail == 0) {
		if (!c->upstream_eof || c->upstream.fd < 0)
			return false;
		if (!c->resp_pending) {
			sock_close(c->pe, &c->upstream); /* the server closed an idle connection */
			return true;
		}
		rc = ms_http_parse_eof(&c->resp);
		if (rc == MS_HTTP_DONE) {
			response_complete(c);
			if (!c->dead && c->state != REQ_CLOSING)
				conn_begin_close(c);
		} else if (rc == MS_HTTP_ERR) {
			response_invalid(c);
		} else {
			upstream_failed(c); /* closed without a byte of response */
		}
		return true;
	}
	rc = ms_http_parse(&c->resp, buf_at(&c->out, c->out_ready), avail, &used);
	if (rc == MS_HTTP_ERR) {
		response_invalid(c);
		return true;
	}
	c->out_ready += used;
	if (rc & MS_HTTP_HEAD)
		response_head(c);
	if ((rc & MS_HTTP_DONE) && (c->resp.status >= 200 || c->resp.status == 101))
		response_complete(c);
	return used > 0 || rc != 0;
}

/* ---- socket I/O ---- */

/* Reads what fits into b; 0 on EOF, -1 on error, 1 otherwise (EAGAIN included). */
static int sock_read(struct pe_conn *c, struct pe_sock *s, struct pe_buf *b)
{
	size_t want = b->max - buf_len(b), room;
	ssize_t n;

	/* grow or compact only when less than this is left at the end */
	if (want > BUF_INITIAL / 2)
		want = BUF_INITIAL / 2;
	room = buf_make_room(b, want, false);
	if (room > b->max - buf_len(b))
		room = b->max - buf_len(b);

	if (room == 0)
		return 1;
	n = recv(s->fd, b->data + b->end, room, 0);
	if (n > 0) {
		b->end += (size_t)n;
		c->last_active_ms = now_us() / 1000;
		return 1;
	}
	if (n == 0)
		return 0;
	return errno == EAGAIN || errno == EINTR ? 1 : -1;
}

/* Writes up to *ready bytes from the front of b: 1 if some went, 0 if none could, -1 on a
 * socket error. */
static int sock_write(struct pe_conn *c, struct pe_sock *s, struct pe_buf *b, size_t *ready)
{
	int wrote = 0;

	while (*ready > 0) {
		ssize_t n = send(s->fd, buf_at(b, 0), *ready, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? wrote : -1;
		buf_consume(b, (size_t)n);
		*ready -= (size_t)n;
		c->last_active_ms = now_us() / 1000;
		wrote = 1;
	}
	return wrote;
}

/* Both flushes: true if something changed (bytes left, or the connection's state). */
static bool flush_upstream(struct pe_conn *c)
{
	int rc;

	if (c->upstream.fd < 0 || c->connecting)
		return false;
	rc = sock_write(c, &c->upstream, &c->in, &c->in_ready);
	if (rc < 0) {
		upstream_failed(c);
		return true;
	}
	if (c->state == REQ_TUNNEL && c->client_eof && c->in_ready == 0 && !c->upstream_shut) {
		shutdown(c->upstream.fd, SHUT_WR);
		c->upstream_shut = true;
	}
	return rc > 0;
}

static bool flush_client(struct pe_conn *c)
{
	int rc = sock_write(c, &c->client, &c->out, &c->out_ready);

	if (rc < 0) {
		conn_destroy(c);
		return true;
	}
	if (c->state == REQ_CLOSING && c->out_ready == 0 && !c->draining) {
		/* Closing now with unread bytes from the client would reset the connection and
		 * could destroy our answer before the client reads it: shut our side, then read
		 * until the client closes (bounded in time and bytes). */
		shutdown(c->client.fd, SHUT_WR);
		c->draining = true;
		c->drained = 0;
		c->in.start = c->in.end = 0;
	}
	return rc > 0;
}

static void update_interest(struct pe_conn *c)
{
	struct ms_proxy_engine *pe = c->pe;
	uint32_t ev = 0;

	if (c->state == REQ_CLOSING)
		ev = c->draining ? EPOLLIN : 0;
	else if (!c->client_eof && buf_has_room(&c->in))
		ev = EPOLLIN;
	if (c->out_ready > 0)
		ev |= EPOLLOUT;
	sock_want(pe, &c->client, ev);

	if (c->upstream.fd < 0)
		return;
	if (c->connecting) {
		ev = EPOLLOUT;
	} else {
		ev = !c->upstream_eof && buf_has_room(&c->out) ? EPOLLIN : 0;
		if (c->in_ready > 0)
			ev |= EPOLLOUT;
	}
	sock_want(pe, &c->upstream, ev);
}

static void conn_progress(struct pe_conn *c)
{
	bool more = true;

	while (more && !c->dead) {
		/* parse all that is buffered before sending: a malformed body found in the same
		 * read as its head stops the request before any of it leaves */
		more = false;
		while (client_advance(c) && !c->dead)
			more = true;
		if (c->dead)
			return;
		more |= flush_upstream(c);
		if (c->dead)
			return;
		/* The whole response that is buffered, head and body, before one send: otherwise a
		 * response costs a send (and a client wake-up) per part. */
		while (upstream_advance(c) && !c->dead)
			more = true;
		if (c->dead)
			return;
		more |= flush_client(c);
	}
	if (!c->dead)
		update_interest(c);
}

static void client_event(struct pe_conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->draining) {
			char sink[4096];
			ssize_t n = recv(c->client.fd, sink, sizeof(sink), 0);
			if (n > 0)
				c->drained += (size_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
			    c->drained > LINGER_MAX_BYTES) {
				conn_destroy(c);
				return;
			}
		} else if (c->state != REQ_CLOSING && !c->client_eof) {
			int rc = sock_read(c, &c->client, &c->in);
			if (rc < 0) {
				conn_destroy(c);
				return;
			}
			if (rc == 0)
				c->client_eof = true;
		} else if (events & (EPOLLHUP | EPOLLERR)) {
			conn_destroy(c);
			return;
		}
	}
	conn_progress(c);
}

static void upstream_event(struct pe_conn *c, uint32_t events)
{
	if (c->connecting) {
		connect_done(c);
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* on a reset or a close, whatever was read before is still parsed first */
		if (sock_read(c, &c->upstream, &c->out) <= 0) {
			c->upstream_eof = true;
			if (c->state == REQ_TUNNEL) {
				c->out_ready = buf_len(&c->out);
				conn_begin_close(c);
			}
		}
	}
	conn_progress(c);
}

/* A keep-alive connection between requests holds no memory for its buffers. */
static void release_idle_buffers(struct pe_conn *c)
{
	struct pe_buf *bufs[] = { &c->in, &c->out };

	if (c->state != REQ_HEAD)
		return;
	for (size_t i = 0; i < 2; i++) {
		if (bufs[i]->data && buf_len(bufs[i]) == 0) {
			free(bufs[i]->data);
			bufs[i]->data = NULL;
			bufs[i]->start = bufs[i]->end = bufs[i]->cap = 0;
		}
	}
}

static void timer_event(struct ms_proxy_engine *pe)
{
	uint64_t ticks, now = now_us() / 1000;
	struct pe_conn *c, *next;

	if (read(pe->timerfd, &ticks, sizeof(ticks)) < 0)
		return;
	for (c = pe->conns; c; c = next) {
		uint64_t limit = pe->opts.idle_timeout_ms;
		next = c->next;
		if (c->draining && limit > LINGER_MAX_MS)
			limit = LINGER_MAX_MS;
		if (now - c->last_active_ms >= limit)
			conn_destroy(c);
		else if (now - c->last_active_ms >= 1000)
			release_idle_buffers(c);
	}
}

/* ---- API ---- */

struct ms_proxy_engine *ms_pe_new(const struct ms_pe_opts *opts, const struct ms_pe_ops *ops, void *owner)
{
	struct ms_proxy_engine *pe;
	struct epoll_event ev = { .events = EPOLLIN };

	if (!ops || !ops->judge) {
		errno = EINVAL;
		return NULL;
	}
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return NULL;
	if (opts)
		pe->opts = *opts;
	if (!pe->opts.max_conns)
		pe->opts.max_conns = MS_PE_DEFAULT_MAX_CONNS;
	if (!pe->opts.max_header_bytes)
		pe->opts.max_header_bytes = MS_PE_DEFAULT_MAX_HEADER_BYTES;
	if (!pe->opts.idle_timeout_ms)
		pe->opts.idle_timeout_ms = MS_PE_DEFAULT_IDLE_TIMEOUT_MS;
	pe->ops = *ops;
	pe->owner = owner;
	pe->timer_sock.fd = -1;
	pe->epfd = epoll_create1(EPOLL_CLOEXEC);
	pe->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = &pe->timer_sock;
	if (pe->epfd < 0 || pe->timerfd < 0 || epoll_ctl(pe->epfd, EPOLL_CTL_ADD, pe->timerfd, &ev) < 0) {
		int err = errno;
		if (pe->epfd >= 0)
			close(pe->epfd);
		if (pe->timerfd >= 0)
			close(pe->timerfd);
		free(pe);
		errno = err;
		return NULL;
	}
	return pe;
}

void ms_pe_free(struct ms_proxy_engine *pe)
{
	if (!pe)
		return;
	while (pe->conns)
		conn_destroy(pe->conns);
	free_dead(pe);
	close(pe->timerfd);
	close(pe->epfd);
	free(pe);
}

int ms_pe_fd(const struct ms_proxy_engine *pe)
{
	return pe ? pe->epfd : -EINVAL;
}

int ms_pe_watch(struct ms_proxy_engine *pe, int fd, uint32_t events, ms_pe_watch_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct pe_watch *w;

	if (!pe || fd < 0 || !fn || !events)
		return -EINVAL;
	if (pe->n_watches == MS_PE_MAX_WATCHES)
		return -ENOSPC;
	w = &pe->watches[pe->n_watches];
	*w = (struct pe_watch){ .tag = { .fd = fd, .events = events }, .fn = fn, .arg = arg };
	ev.data.ptr = &w->tag;
	if (epoll_ctl(pe->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	pe->n_watches++;
	return 0;
}

int ms_pe_add_conn(struct ms_proxy_engine *pe, int client_fd, const struct sockaddr *upstream,
		   socklen_t upstream_len, uint32_t upstream_mark, const struct sockaddr *bind_addr,
		   socklen_t bind_len, void *conn_user)
{
	struct pe_conn *c;
	int one = 1, flags;

	if (!pe || client_fd < 0 || !upstream || upstream_len == 0 ||
	    upstream_len > sizeof(struct sockaddr_storage) || bind_len > sizeof(struct sockaddr_storage) ||
	    (bind_addr && bind_len == 0)) {
		if (client_fd >= 0)
			close(client_fd);
		return -EINVAL;
	}
	if (pe->n_conns >= pe->opts.max_conns) {
		count(&pe->stats.conns_refused_full);
		close(client_fd);
		return -EBUSY;
	}
	flags = fcntl(client_fd, F_GETFL);
	c = calloc(1, sizeof(*c));
	if (!c || flags < 0 || fcntl(client_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int err = c ? -errno : -ENOMEM;
		free(c);
		close(client_fd);
		return err;
	}
	setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->pe = pe;
	c->user = conn_user;
	c->client.fd = client_fd;
	c->client.conn = c;
	c->upstream.fd = -1;
	c->upstream.conn = c;
	memcpy(&c->up_addr, upstream, upstream_len);
	c->up_len = upstream_len;
	if (bind_addr) {
		memcpy(&c->bind_addr, bind_addr, bind_len);
		c->bind_len = bind_len;
	}
	c->mark = upstream_mark;
	c->in.max = c->out.max = pe->opts.max_header_bytes + BUF_SLACK;
	ms_http_parser_init(&c->req, MS_HTTP_REQUEST, pe->opts.max_header_bytes);
	ms_http_parser_init(&c->resp, MS_HTTP_RESPONSE, pe->opts.max_header_bytes);
	c->last_active_ms = now_us() / 1000;
	sock_want(pe, &c->client, EPOLLIN);
	if (c->client.events == 0) {
		int err = -errno;
		free(c);
		close(client_fd);
		return err;
	}
	c->next = pe->conns;
	if (pe->conns)
		pe->conns->prev = c;
	pe->conns = c;
	pe->n_conns++;
	count(&pe->stats.conns_accepted);
	count(&pe->stats.conns_active);
	timer_arm(pe, true);
	return 0;
}

int ms_pe_run(struct ms_proxy_engine *pe, int timeout_ms)
{
	struct epoll_event ev[EVENTS_PER_RUN];
	int n;

	if (!pe)
		return -EINVAL;
	n = epoll_wait(pe->epfd, ev, EVENTS_PER_RUN, timeout_ms);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct pe_sock *s = ev[i].data.ptr;

		if (s == &pe->timer_sock) {
			timer_event(pe);
			continue;
		}
		if (!s->conn) {
			struct pe_watch *w = (struct pe_watch *)s;
			w->fn(w->arg, s->fd, ev[i].events);
			continue;
		}
		if (s->conn->dead)
			continue;
		if (s == &s->conn->client)
			client_event(s->conn, ev[i].events);
		else
			upstream_event(s->conn, ev[i].events);
	}
	free_dead(pe);
	return n;
}

void ms_pe_stats(const struct ms_proxy_engine *pe, struct ms_pe_stats *out)
{
	const uint64_t *src = (const uint64_t *)&pe->stats;
	uint64_t *dst = (uint64_t *)out;

	/* the struct is nothing but uint64_t counters */
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
