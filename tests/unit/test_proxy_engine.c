/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 proxy's connection engine (lib/proxy_engine.h) end to end on 127.0.0.1, without
 * privileges: a client socket, the engine in its own thread behind a listener (as proxy.c runs
 * it), and a small HTTP server thread as the upstream that logs every byte it receives.
 *
 * The server answers by path: most paths echo "METHOD TARGET body-length body-checksum";
 * /close, /eof, /chunked, /204, /continue, /early, /garbage, /drop, /big and /ws exercise
 * response framing and failures. The judge is an ms_http_ruleset (the same code proxy.c uses) that
 * allows the paths above and /public..., so /private... is what gets denied.
 *
 * Every request in http_corpus/ must get a 400 and close the connection with zero bytes at
 * the server: the proxy must not be a request-smuggling gap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "harness.h"
#include "http_rules.h"
#include "proxy_engine.h"

#ifndef HTTP_CORPUS_DIR
#error "HTTP_CORPUS_DIR must name tests/unit/http_corpus"
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_HEAD 4096 /* the corpus's oversize case is sized against this */
#define IO_TIMEOUT_S 5
#define BIG_RESPONSE (2u << 20)
#define BIG_REQUEST (1u << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint32_t checksum(uint32_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int listen_local(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		perror("listen_local");
		abort();
	}
	return fd;
}

/* ======================= the upstream server ======================= */

#define SRV_CONNS 512
#define SRV_LOG 65536

struct srv_conn {
	int fd;
	llhttp_t ll;
	bool raw;         /* after a 101: echo */
	bool discard;     /* answered before the body: read and drop the rest */
	bool close_after; /* close once the current answer is written */
	char method[16], path[256];
	size_t method_len, path_len, body_len;
	uint32_t body_sum;
	struct server *srv;
};

struct server {
	int lfd, stop_fd;
	pthread_t thread;
	struct sockaddr_in addr;
	llhttp_settings_t settings;
	struct srv_conn *conns[SRV_CONNS];
	pthread_mutex_t mu; /* guards what follows */
	uint64_t bytes;     /* every byte received, on every connection */
	char log[SRV_LOG];  /* the first of them */
	size_t log_len;
	char paths[64][128];
	unsigned n_paths, accepted, open;
};

static void srv_write(struct srv_conn *c, const char *s, size_t n)
{
	if (!send_all(c->fd, s, n))
		c->close_after = true;
}

static void srv_printf(struct srv_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void srv_printf(struct srv_conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	srv_write(c, buf, (size_t)n);
}

static struct srv_conn *srv_of(llhttp_t *ll)
{
	return ll->data;
}

static int srv_on_message_begin(llhttp_t *ll)
{
	struct srv_conn *c = srv_of(ll);

	c->method_len = c->path_len = c->body_len = 0;
	c->body_sum = 2166136261u;
	return 0;
}

static int srv_on_method(llhttp_t *ll, const char *at, size_t n)
{
	struct srv_conn *c = srv_of(ll);

	if (c->method_len + n < sizeof(c->method)) {
		memcpy(c->method + c->method_len, at, n);
		c->method_len += n;
	}
	return 0;
}

static int srv_on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct srv_conn *c = srv_of(ll);

	if (c->path_len + n < sizeof(c->path)) {
		memcpy(c->path + c->path_len, at, n);
		c->path_len += n;
	}
	return 0;
}

static bool path_is(const struct srv_conn *c, const char *p)
{
	size_t n = strlen(p);

	return c->path_len >= n && memcmp(c->path, p, n) == 0 && (c->path_len == n || c->path[n] == '?');
}

static int srv_on_headers_complete(llhttp_t *ll)
{
	struct srv_conn *c = srv_of(ll);

	if (path_is(c, "/continue"))
		srv_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	if (path_is(c, "/early")) {
		/* refuses the body before reading it, as servers do with 413, and then reads it
		 * to the end rather than resetting the connection */
		srv_printf(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		c->discard = true;
	}
	return 0;
}

static int srv_on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct srv_conn *c = srv_of(ll);

	c->body_len += n;
	c->body_sum = checksum(c->body_sum, at, n);
	return 0;
}

static int srv_on_message_complete(llhttp_t *ll)
{
	struct srv_conn *c = srv_of(ll);
	struct server *s = c->srv;
	bool head = ll->method == HTTP_HEAD;
	char body[512];
	int n;

	if (c->discard)
		return 0;
	pthread_mutex_lock(&s->mu);
	if (s->n_paths < ARRAY_LEN(s->paths))
		snprintf(s->paths[s->n_paths++], sizeof(s->paths[0]), "%.*s", (int)c->path_len, c->path);
	pthread_mutex_unlock(&s->mu);

	if (path_is(c, "/drop")) {
		c->close_after = true;
	} else if (path_is(c, "/eof")) {
		srv_printf(c, "HTTP/1.1 200 OK\r\n\r\nuntil close");
		c->close_after = true;
	} else if (path_is(c, "/chunked")) {
		srv_printf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n");
	} else if (path_is(c, "/204")) {
		srv_printf(c, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
	} else if (path_is(c, "/garbage")) {
		srv_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc");
	} else if (path_is(c, "/ws") && ll->upgrade) {
		srv_printf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
		c->raw = true;
	} else if (path_is(c, "/big")) {
		char *big = malloc(BIG_RESPONSE);
		for (size_t i = 0; big && i < BIG_RESPONSE; i++)
			big[i] = (char)('a' + i % 26);
		srv_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BIG_RESPONSE);
		if (big && !head)
			srv_write(c, big, BIG_RESPONSE);
		free(big);
	} else {
		bool close_it = path_is(c, "/close");
		n = snprintf(body, sizeof(body), "%.*s %.*s %zu %08x\n", (int)c->method_len, c->method,
			     (int)c->path_len, c->path, c->body_len, c->body_sum);
		srv_printf(c, "HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n", path_is(c, "/continue") ? "201 Created" : "200 OK",
			   n, close_it ? "Connection: close\r\n" : "");
		if (!head)
			srv_write(c, body, (size_t)n);
		c->close_after |= close_it;
	}
	return 0;
}

static void srv_close(struct server *s, int i)
{
	close(s->conns[i]->fd);
	free(s->conns[i]);
	s->conns[i] = NULL;
	pthread_mutex_lock(&s->mu);
	s->open--;
	pthread_mutex_unlock(&s->mu);
}

static void srv_read(struct server *s, int i)
{
	struct srv_conn *c = s->conns[i];
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n <= 0) {
		srv_close(s, i);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->bytes += (uint64_t)n;
	if (s->log_len < SRV_LOG) {
		size_t k = (size_t)n < SRV_LOG - s->log_len ? (size_t)n : SRV_LOG - s->log_len;
		memcpy(s->log + s->log_len, buf, k);
		s->log_len += k;
	}
	pthread_mutex_unlock(&s->mu);
	if (c->raw) {
		srv_write(c, buf, (size_t)n);
	} else if (c->discard) {
		/* nothing */
	} else {
		llhttp_errno_t e = llhttp_execute(&c->ll, buf, (size_t)n);
		if (e == HPE_PAUSED_UPGRADE && c->raw) {
			const char *rest = llhttp_get_error_pos(&c->ll);
			srv_write(c, rest, (size_t)(buf + n - rest));
		} else if (e != HPE_OK) {
			c->close_after = true;
		}
	}
	if (c->close_after)
		srv_close(s, i);
}

static void *srv_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd pf[SRV_CONNS + 2];
		int idx[SRV_CONNS + 2], n = 0;

		pf[n++] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (int i = 0; i < SRV_CONNS; i++) {
			if (s->conns[i]) {
				idx[n] = i;
				pf[n++] = (struct pollfd){ .fd = s->conns[i]->fd, .events = POLLIN };
			}
		}
		if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN) {
			int fd;
			while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				int slot = 0;
				while (slot < SRV_CONNS && s->conns[slot])
					slot++;
				if (slot == SRV_CONNS) {
					close(fd);
					continue;
				}
				/* heads and bodies go in separate writes: without this, Nagle and
				 * delayed ACKs add 40 ms to each answer */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
				s->conns[slot] = calloc(1, sizeof(struct srv_conn));
				s->conns[slot]->fd = fd;
				s->conns[slot]->srv = s;
				llhttp_init(&s->conns[slot]->ll, HTTP_REQUEST, &s->settings);
				s->conns[slot]->ll.data = s->conns[slot];
				pthread_mutex_lock(&s->mu);
				s->accepted++;
				s->open++;
				pthread_mutex_unlock(&s->mu);
			}
		}
		for (int k = 2; k < n; k++) {
			if (pf[k].revents && s->conns[idx[k]])
				srv_read(s, idx[k]);
		}
	}
	for (int i = 0; i < SRV_CONNS; i++) {
		if (s->conns[i])
			srv_close(s, i);
	}
	return NULL;
}

static struct server *server_start(void)
{
	struct server *s = calloc(1, sizeof(*s));

	s->lfd = listen_local(&s->addr);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&s->mu, NULL);
	llhttp_settings_init(&s->settings);
	s->settings.on_message_begin = srv_on_message_begin;
	s->settings.on_method = srv_on_method;
	s->settings.on_url = srv_on_url;
	s->settings.on_headers_complete = srv_on_headers_complete;
	s->settings.on_body = srv_on_body;
	s->settings.on_message_complete = srv_on_message_complete;
	if (pthread_create(&s->thread, NULL, srv_main, s) != 0)
		abort();
	return s;
}

static void server_stop(struct server *s)
{
	uint64_t one = 1;

	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stop_fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Waits until the server has no connection open (the proxy closed its side and the server saw
 * it), so every byte the proxy ever sent has been counted. */
static bool server_quiet(struct server *s)
{
	uint64_t end = now_ms() + IO_TIMEOUT_S * 1000;

	for (;;) {
		unsigned open;
		pthread_mutex_lock(&s->mu);
		open = s->open;
		pthread_mutex_unlock(&s->mu);
		if (open == 0)
			return true;
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
}

static uint64_t server_bytes(struct server *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	n = s->bytes;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ======================= the proxy under test ======================= */

struct seen_request {
	char method[16], path[128], host[128];
	bool has_host;
	size_t n_headers;
	char header_names[8][32], header_values[8][64];
};

struct proxy {
	int lfd, stop_fd;
	pthread_t thread;
	struct sockaddr_in addr;
	struct ms_proxy_engine *pe;
	struct ms_http_ruleset *rules;
	pthread_mutex_t mu; /* guards what follows */
	struct sockaddr_in upstream;
	unsigned judged, closed, records, add_refused;
	char judged_paths[64][128];
	struct seen_request last;
	struct {
		int verdict;
		unsigned status;
		uint64_t latency_us;
		bool has_req;
		char path[128];
	} rec[512];
};

static void copy_span(char *dst, size_t cap, const char *s, size_t n)
{
	snprintf(dst, cap, "%.*s", (int)n, s ? s : "");
}

static int px_judge(void *owner, void *conn_user, const struct ms_http_request_view *req)
{
	struct proxy *p = owner;
	struct seen_request *l = &p->last;

	pthread_mutex_lock(&p->mu);
	if (p->judged < ARRAY_LEN(p->judged_paths))
		copy_span(p->judged_paths[p->judged], sizeof(p->judged_paths[0]), req->path, req->path_len);
	p->judged++;
	memset(l, 0, sizeof(*l));
	copy_span(l->method, sizeof(l->method), req->method, req->method_len);
	copy_span(l->path, sizeof(l->path), req->path, req->path_len);
	l->has_host = req->host != NULL;
	copy_span(l->host, sizeof(l->host), req->host, req->host_len);
	l->n_headers = req->n_headers;
	for (size_t i = 0; i < req->n_headers && i < 8; i++) {
		copy_span(l->header_names[i], sizeof(l->header_names[i]), req->headers[i].name,
			  req->headers[i].name_len);
		copy_span(l->header_values[i], sizeof(l->header_values[i]), req->headers[i].value,
			  req->headers[i].value_len);
	}
	pthread_mutex_unlock(&p->mu);
	return ms_http_ruleset_match(p->rules, req) ? MS_PE_ALLOW : MS_PE_DENY;
}

static void px_record(void *owner, void *conn_user, const struct ms_pe_record *r)
{
	struct proxy *p = owner;

	pthread_mutex_lock(&p->mu);
	if (p->records < ARRAY_LEN(p->rec)) {
		p->rec[p->records].verdict = r->verdict;
		p->rec[p->records].status = r->status;
		p->rec[p->records].latency_us = r->latency_us;
		p->rec[p->records].has_req = r->req != NULL;
		if (r->req)
			copy_span(p->rec[p->records].path, sizeof(p->rec[0].path), r->req->path, r->req->path_len);
	}
	p->records++;
	pthread_mutex_unlock(&p->mu);
}

static void px_closed(void *owner, void *conn_user)
{
	struct proxy *p = owner;

	pthread_mutex_lock(&p->mu);
	p->closed++;
	pthread_mutex_unlock(&p->mu);
}

/* The engine's thread, as proxy.c would run it: its own listener and the engine's fd. */
static void *px_main(void *arg)
{
	struct proxy *p = arg;
	struct pollfd pf[3] = {
		{ .fd = p->stop_fd, .events = POLLIN },
		{ .fd = p->lfd, .events = POLLIN },
		{ .fd = ms_pe_fd(p->pe), .events = POLLIN },
	};

	for (;;) {
		if (poll(pf, 3, -1) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN) {
			int fd;
			while ((fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				struct sockaddr_in up;
				pthread_mutex_lock(&p->mu);
				up = p->upstream;
				pthread_mutex_unlock(&p->mu);
				if (ms_pe_add_conn(p->pe, fd, (struct sockaddr *)&up, sizeof(up), 0, NULL, 0, NULL) < 0) {
					pthread_mutex_lock(&p->mu);
					p->add_refused++;
					pthread_mutex_unlock(&p->mu);
				}
			}
		}
		if (pf[2].revents & POLLIN)
			ms_pe_run(p->pe, 0);
	}
	ms_pe_free(p->pe);
	return NULL;
}

static struct proxy *proxy_start(const struct ms_pe_opts *opts, const struct sockaddr_in *upstream)
{
	static const struct microseg_http_rule allowed[] = {
		{ .path = "/(public|close|eof|chunked|204|continue|garbage|drop|big|ws|upload|early)[^ ]*" },
	};
	static const struct ms_pe_ops ops = { .judge = px_judge, .record = px_record, .closed = px_closed };
	struct proxy *p = calloc(1, sizeof(*p));

	if (ms_http_ruleset_compile(allowed, ARRAY_LEN(allowed), &p->rules, NULL, 0) != 0)
		abort();
	p->pe = ms_pe_new(opts, &ops, p);
	if (!p->pe)
		abort();
	pthread_mutex_init(&p->mu, NULL);
	p->upstream = *upstream;
	p->lfd = listen_local(&p->addr);
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (pthread_create(&p->thread, NULL, px_main, p) != 0)
		abort();
	return p;
}

static void proxy_stop(struct proxy *p)
{
	uint64_t one = 1;

	if (write(p->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(p->thread, NULL);
	close(p->lfd);
	close(p->stop_fd);
	ms_http_ruleset_free(p->rules);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void proxy_set_upstream(struct proxy *p, const struct sockaddr_in *up)
{
	pthread_mutex_lock(&p->mu);
	p->upstream = *up;
	pthread_mutex_unlock(&p->mu);
}

static unsigned proxy_count(struct proxy *p, const unsigned *field)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	n = *field;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* Waits for a counter of the proxy (under its lock) to reach want. */
static bool proxy_wait_count(struct proxy *p, const unsigned *field, unsigned want)
{
	uint64_t end = now_ms() + IO_TIMEOUT_S * 1000;

	while (proxy_count(p, field) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* ======================= the client ======================= */

struct response {
	unsigned status;
	char body[4096];
	size_t body_len;      /* all of it, even past what body[] keeps */
	uint32_t body_sum;
	bool connection_close;
};

struct client {
	int fd;
	llhttp_t ll;
	llhttp_settings_t settings;
	char left[65536]; /* read past the last response asked for */
	size_t left_len;
	struct response *cur;
	bool head_next;   /* the next response answers a HEAD */
	bool last_field_connection;
	bool complete;
};

static struct client *cl_of(llhttp_t *ll)
{
	return ll->data;
}

static int cl_on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	cl_of(ll)->last_field_connection = n == 10 && strncasecmp(at, "connection", 10) == 0;
	return 0;
}

static int cl_on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct client *c = cl_of(ll);

	if (c->last_field_connection && n >= 5 && strncasecmp(at, "close", 5) == 0)
		c->cur->connection_close = true;
	return 0;
}

static int cl_on_headers_complete(llhttp_t *ll)
{
	struct client *c = cl_of(ll);

	unsigned st = (unsigned)llhttp_get_status_code(ll);

	c->cur->status = st;
	/* llhttp alone would read a body announced by a 204's or 304's Content-Length */
	return (c->head_next && st >= 200) || st == 204 || st == 304 ? 1 : 0;
}

static int cl_on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct response *r = cl_of(ll)->cur;
	size_t keep = r->body_len < sizeof(r->body) ? sizeof(r->body) - r->body_len : 0;

	if (keep)
		memcpy(r->body + r->body_len, at, n < keep ? n : keep);
	r->body_len += n;
	r->body_sum = checksum(r->body_sum, at, n);
	return 0;
}

static int cl_on_message_complete(llhttp_t *ll)
{
	cl_of(ll)->complete = true;
	return HPE_PAUSED;
}

static struct client *client_open(const struct proxy *p)
{
	struct client *c = calloc(1, sizeof(*c));
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&p->addr, sizeof(p->addr)) < 0) {
		perror("client connect");
		abort();
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	llhttp_settings_init(&c->settings);
	c->settings.on_header_field = cl_on_header_field;
	c->settings.on_header_value = cl_on_header_value;
	c->settings.on_headers_complete = cl_on_headers_complete;
	c->settings.on_body = cl_on_body;
	c->settings.on_message_complete = cl_on_message_complete;
	llhttp_init(&c->ll, HTTP_RESPONSE, &c->settings);
	c->ll.data = c;
	return c;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static bool client_send(struct client *c, const char *s)
{
	return send_all(c->fd, s, strlen(s));
}

/* Reads one response (to a HEAD if `head`). false on EOF, timeout or a malformed response. */
static bool client_read(struct client *c, struct response *r, bool head)
{
	memset(r, 0, sizeof(*r));
	r->body_sum = 2166136261u;
	c->cur = r;
	c->head_next = head;
	c->complete = false;
	if (llhttp_get_errno(&c->ll) == HPE_PAUSED)
		llhttp_resume(&c->ll);
	for (;;) {
		char buf[65536];
		const char *data = buf;
		size_t len;
		llhttp_errno_t e;

		if (c->left_len) {
			memcpy(buf, c->left, c->left_len);
			len = c->left_len;
			c->left_len = 0;
		} else {
			ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
			if (n <= 0)
				return false;
			len = (size_t)n;
		}
		e = llhttp_execute(&c->ll, data, len);
		if (e == HPE_PAUSED && c->complete) {
			const char *end = llhttp_get_error_pos(&c->ll);
			c->left_len = (size_t)(data + len - end);
			memcpy(c->left, end, c->left_len);
			return true;
		}
		if (e != HPE_OK)
			return false;
	}
}

/* The proxy closed the connection, with nothing more sent. */
static bool client_sees_eof(struct client *c)
{
	char b;

	return c->left_len == 0 && recv(c->fd, &b, 1, 0) == 0;
}

static bool body_has(const struct response *r, const char *s)
{
	return memmem(r->body, r->body_len < sizeof(r->body) ? r->body_len : sizeof(r->body), s, strlen(s)) != NULL;
}

/* ======================= fixtures ======================= */

struct fixture {
	struct server *srv;
	struct proxy *px;
};

static void fx_start(struct fixture *fx, const struct ms_pe_opts *opts)
{
	struct ms_pe_opts defaults = { .max_header_bytes = MAX_HEAD };

	fx->srv = server_start();
	fx->px = proxy_start(opts ? opts : &defaults, &fx->srv->addr);
}

static void fx_stop(struct fixture *fx)
{
	proxy_stop(fx->px);
	server_stop(fx->srv);
}

static struct ms_pe_stats fx_stats(const struct fixture *fx)
{
	struct ms_pe_stats st;

	ms_pe_stats(fx->px->pe, &st);
	return st;
}

#define REQ(method, path, extra) method " " path " HTTP/1.1\r\nHost: backend\r\n" extra "\r\n"

/* ======================= tests ======================= */

static void test_allowed_request_relayed(void)
{
	const char *req = REQ("GET", "/public/a?x=1", "Accept: */*\r\n");
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, req));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	CHECK(body_has(&r, "GET /public/a?x=1 0 "));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	/* the server got the request exactly as the client sent it */
	CHECK_EQ(fx.srv->log_len, strlen(req));
	CHECK(memcmp(fx.srv->log, req, strlen(req)) == 0);
	{
		struct ms_pe_stats st = fx_stats(&fx);
		CHECK_EQ(st.requests_allowed, 1);
		CHECK_EQ(st.requests_denied, 0);
		CHECK_EQ(st.status[2], 1);
		CHECK_EQ(st.conns_accepted, 1);
	}
	fx_stop(&fx);
}

static void test_denied_gets_403_and_connection_stays(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/private/plans", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 403);
	CHECK_EQ(r.body_len, strlen("Access denied\n"));
	CHECK(body_has(&r, "Access denied\n"));
	CHECK(!r.connection_close);
	/* idle past a timer tick: the engine lets go of the connection's buffers meanwhile */
	sleep_ms(1300);
	REQUIRE(client_send(c, REQ("GET", "/public", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	client_close(c);
	CHECK(server_quiet(fx.srv));
	CHECK_EQ(fx.srv->n_paths, 1);
	CHECK(memmem(fx.srv->log, fx.srv->log_len, "private", 7) == NULL);
	{
		struct ms_pe_stats st = fx_stats(&fx);
		CHECK_EQ(st.requests_denied, 1);
		CHECK_EQ(st.requests_allowed, 1);
		CHECK_EQ(st.status[4], 1);
		CHECK_EQ(st.status[2], 1);
	}
	fx_stop(&fx);
}

static void test_keepalive_allow_deny_allow(void)
{
	static const char *const paths[] = { "/public/1", "/private", "/public/2", "/private/2", "/public/3" };
	struct fixture fx;
	struct client *c;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		char req[256];
		struct response r;

		snprintf(req, sizeof(req), REQ("GET", "%s", ""), paths[i]);
		REQUIRE(client_send(c, req));
		REQUIRE(client_read(c, &r, false));
		CHECK_EQ(r.status, strncmp(paths[i], "/private", 8) == 0 ? 403 : 200);
		if (r.status == 200)
			CHECK(body_has(&r, paths[i]));
	}
	client_close(c);
	CHECK(server_quiet(fx.srv));
	/* one client connection, one upstream connection, the three allowed requests in order */
	CHECK_EQ(fx.srv->accepted, 1);
	REQUIRE(fx.srv->n_paths == 3);
	CHECK_STREQ(fx.srv->paths[0], "/public/1");
	CHECK_STREQ(fx.srv->paths[1], "/public/2");
	CHECK_STREQ(fx.srv->paths[2], "/public/3");
	fx_stop(&fx);
}

static void test_pipelined_judged_in_order(void)
{
	const char *batch = REQ("GET", "/public/1", "") REQ("POST", "/private", "Content-Length: 4\r\n") "abcd"
		REQ("POST", "/upload/3", "Content-Length: 5\r\n") "hello" REQ("HEAD", "/public/4", "")
			REQ("GET", "/public/5", "");
	static const unsigned want[] = { 200, 403, 200, 200, 200 };
	struct fixture fx;
	struct client *c;
	struct response r[5];

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, batch)); /* one write */
	for (int i = 0; i < 5; i++) {
		REQUIRE(client_read(c, &r[i], i == 3));
		CHECK_EQ(r[i].status, want[i]);
	}
	CHECK(body_has(&r[0], "GET /public/1 0"));
	CHECK(body_has(&r[1], "Access denied"));
	CHECK(body_has(&r[2], "POST /upload/3 5"));
	CHECK_EQ(r[3].body_len, 0);
	CHECK(body_has(&r[4], "GET /public/5 0"));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	pthread_mutex_lock(&fx.px->mu);
	REQUIRE(fx.px->judged == 5);
	CHECK_STREQ(fx.px->judged_paths[0], "/public/1");
	CHECK_STREQ(fx.px->judged_paths[1], "/private");
	CHECK_STREQ(fx.px->judged_paths[2], "/upload/3");
	CHECK_STREQ(fx.px->judged_paths[3], "/public/4");
	CHECK_STREQ(fx.px->judged_paths[4], "/public/5");
	REQUIRE(fx.px->records == 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(fx.px->rec[i].status, want[i]);
		CHECK_STREQ(fx.px->rec[i].path, fx.px->judged_paths[i]);
	}
	pthread_mutex_unlock(&fx.px->mu);
	/* the denied request's body never reached the server */
	CHECK(memmem(fx.srv->log, fx.srv->log_len, "abcd", 4) == NULL);
	CHECK_EQ(fx.srv->n_paths, 4);
	fx_stop(&fx);
}

static void test_chunked_body_relayed_as_framed(void)
{
	const char *parts[] = {
		REQ("POST", "/upload", "Transfer-Encoding: chunked\r\n"),
		"5\r\nhel",
		"lo\r\n6;ext=1\r\n worl",
		"d\r\n0\r\n\r\n",
	};
	char sent[1024] = "";
	struct fixture fx;
	struct client *c;
	struct response r;
	char want[64];

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	for (size_t i = 0; i < ARRAY_LEN(parts); i++) {
		REQUIRE(client_send(c, parts[i]));
		strcat(sent, parts[i]);
		sleep_ms(20); /* separate reads at the proxy */
	}
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	snprintf(want, sizeof(want), "POST /upload 11 %08x", checksum(2166136261u, "hello world", 11));
	CHECK(body_has(&r, want));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	/* byte for byte, chunk lines included */
	CHECK_EQ(fx.srv->log_len, strlen(sent));
	CHECK(memcmp(fx.srv->log, sent, strlen(sent)) == 0);
	fx_stop(&fx);
}

static void test_upstream_unreachable_502(void)
{
	struct sockaddr_in dead;
	struct fixture fx;
	struct client *c;
	struct response r;
	int fd;

	/* a port nobody listens on: bound, then closed */
	fd = listen_local(&dead);
	close(fd);
	fx_start(&fx, NULL);
	proxy_set_upstream(fx.px, &dead);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/public", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 502);
	CHECK(r.connection_close);
	CHECK(client_sees_eof(c));
	client_close(c);
	{
		struct ms_pe_stats st = fx_stats(&fx);
		CHECK_EQ(st.upstream_errors, 1);
		CHECK_EQ(st.status[5], 1);
	}
	pthread_mutex_lock(&fx.px->mu);
	CHECK_EQ(fx.px->records, 1);
	CHECK_EQ(fx.px->rec[0].status, 502);
	CHECK_EQ(fx.px->rec[0].verdict, MS_PE_ALLOW);
	CHECK_STREQ(fx.px->rec[0].path, "/public");
	pthread_mutex_unlock(&fx.px->mu);
	fx_stop(&fx);
}

/* A server that fails to answer, or answers in a way that cannot be framed: 502. */
static void test_bad_upstream_answers_502(void)
{
	static const char *const paths[] = { "/drop", "/garbage" };
	struct fixture fx;

	fx_start(&fx, NULL);
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		char req[128];
		struct client *c = client_open(fx.px);
		struct response r;

		snprintf(req, sizeof(req), REQ("GET", "%s", ""), paths[i]);
		REQUIRE(client_send(c, req));
		REQUIRE(client_read(c, &r, false));
		CHECK_EQ(r.status, 502);
		CHECK(client_sees_eof(c));
		client_close(c);
	}
	CHECK_EQ(fx_stats(&fx).upstream_errors, 2);
	fx_stop(&fx);
}

static void test_judge_sees_request(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;
	struct seen_request l;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, "PUT /public/x?y=%20z&w HTTP/1.1\r\nHost: deathstar.local:8080\r\n"
			       "X-Has-Force:  true \r\nContent-Length: 2\r\n\r\nhi"));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	client_close(c);
	pthread_mutex_lock(&fx.px->mu);
	l = fx.px->last;
	pthread_mutex_unlock(&fx.px->mu);
	CHECK_STREQ(l.method, "PUT");
	CHECK_STREQ(l.path, "/public/x?y=%20z&w");
	CHECK(l.has_host);
	CHECK_STREQ(l.host, "deathstar.local:8080");
	REQUIRE(l.n_headers == 3);
	CHECK_STREQ(l.header_names[1], "X-Has-Force");
	CHECK_STREQ(l.header_values[1], "true");
	CHECK_STREQ(l.header_names[2], "Content-Length");
	CHECK_STREQ(l.header_values[2], "2");
	fx_stop(&fx);
}

/* One record per request with its verdict, status and path; closed() once per connection. */
static void test_records_and_close_callbacks(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/public/r1", "")));
	REQUIRE(client_read(c, &r, false));
	REQUIRE(client_send(c, REQ("DELETE", "/private/r2", "")));
	REQUIRE(client_read(c, &r, false));
	REQUIRE(client_send(c, REQ("GET", "/204", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 204);
	REQUIRE(client_send(c, "GET /public HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")); /* 400 */
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 400);
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK(proxy_wait_count(fx.px, &fx.px->closed, 1));
	pthread_mutex_lock(&fx.px->mu);
	REQUIRE(fx.px->records == 4);
	CHECK_EQ(fx.px->rec[0].status, 200);
	CHECK_EQ(fx.px->rec[0].verdict, MS_PE_ALLOW);
	CHECK_STREQ(fx.px->rec[0].path, "/public/r1");
	CHECK(fx.px->rec[0].latency_us < IO_TIMEOUT_S * 1000000ull);
	CHECK_EQ(fx.px->rec[1].status, 403);
	CHECK_EQ(fx.px->rec[1].verdict, MS_PE_DENY);
	CHECK_STREQ(fx.px->rec[1].path, "/private/r2");
	CHECK_EQ(fx.px->rec[2].status, 204);
	CHECK_STREQ(fx.px->rec[2].path, "/204");
	CHECK_EQ(fx.px->rec[3].status, 400);
	CHECK_EQ(fx.px->rec[3].verdict, MS_PE_DENY);
	CHECK(!fx.px->rec[3].has_req);
	CHECK_EQ(fx.px->closed, 1);
	pthread_mutex_unlock(&fx.px->mu);
	CHECK_EQ(fx_stats(&fx).conns_active, 0);
	fx_stop(&fx);
}

/* Response framing the proxy must get right to find the next response: HEAD, 204 with a
 * Content-Length, chunked, 100 Continue, all on one connection. */
static void test_response_framing_on_one_connection(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("HEAD", "/big", "")));
	REQUIRE(client_read(c, &r, true));
	CHECK_EQ(r.status, 200);
	REQUIRE(client_send(c, REQ("GET", "/204", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 204);
	REQUIRE(client_send(c, REQ("GET", "/chunked", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	CHECK(r.body_len == 7 && memcmp(r.body, "chunked", 7) == 0);
	REQUIRE(client_send(c, REQ("POST", "/continue", "Content-Length: 3\r\nExpect: 100-continue\r\n")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 100);
	REQUIRE(client_send(c, "abc"));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 201);
	CHECK(body_has(&r, "POST /continue 3"));
	REQUIRE(client_send(c, REQ("GET", "/public/last", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK(body_has(&r, "GET /public/last"));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	CHECK_EQ(fx.srv->accepted, 1);
	fx_stop(&fx);
}

static void test_connection_endings(void)
{
	struct fixture fx;
	struct response r;
	struct client *c;

	fx_start(&fx, NULL);
	/* a response that lasts until the server closes */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/eof", "")));
	CHECK(!client_read(c, &r, false)); /* llhttp needs the close to end it ... */
	CHECK_EQ(r.status, 200);
	CHECK(r.body_len == 11 && memcmp(r.body, "until close", 11) == 0); /* ... and it all came */
	client_close(c);
	/* the server closes after its answer */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/close", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK(r.connection_close);
	CHECK(client_sees_eof(c));
	client_close(c);
	/* the client asks to close */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/public", "Connection: close\r\n") REQ("GET", "/public/ignored", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	CHECK(client_sees_eof(c));
	client_close(c);
	/* a denied request whose client waits for 100 Continue before its body */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("POST", "/private", "Content-Length: 5\r\nExpect: 100-continue\r\n")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 403);
	CHECK(r.connection_close);
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	CHECK(memmem(fx.srv->log, fx.srv->log_len, "/public/ignored", 15) == NULL);
	fx_stop(&fx);
}

/* A server that answers before the request's body is in (413): the answer reaches the
 * client, and the connection ends since its request was never finished. */
static void test_early_response(void)
{
	enum { BODY = 10000 };
	char *req = malloc(BODY + 256);
	struct fixture fx;
	struct client *c;
	struct response r;
	int n;

	REQUIRE(req != NULL);
	n = snprintf(req, 256, REQ("POST", "/early", "Content-Length: %d\r\n"), BODY);
	memset(req + n, 'b', BODY);
	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(send_all(c->fd, req, (size_t)n + BODY));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 413);
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK(proxy_wait_count(fx.px, &fx.px->closed, 1));
	pthread_mutex_lock(&fx.px->mu);
	CHECK_EQ(fx.px->records, 1);
	CHECK_EQ(fx.px->rec[0].status, 413);
	pthread_mutex_unlock(&fx.px->mu);
	free(req);
	fx_stop(&fx);
}

/* A denied request's body is read and dropped; the next request on the connection works. */
static void test_denied_body_dropped(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("POST", "/private", "Content-Length: 10\r\n")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 403);
	REQUIRE(client_send(c, "0123456789"));
	REQUIRE(client_send(c, REQ("POST", "/private", "Transfer-Encoding: chunked\r\n") "4\r\nGET \r\n0\r\n\r\n"));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 403);
	REQUIRE(client_send(c, REQ("GET", "/public", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	client_close(c);
	CHECK(server_quiet(fx.srv));
	CHECK_EQ(fx.srv->n_paths, 1);
	CHECK(memmem(fx.srv->log, fx.srv->log_len, "0123", 4) == NULL);
	fx_stop(&fx);
}

/* A chunk line gone bad after the head went upstream: the client gets 400 and the server
 * nothing past the last good byte. */
static void test_body_error_after_forwarding(void)
{
	const char *head = REQ("POST", "/upload", "Transfer-Encoding: chunked\r\n");
	const char *good = "3\r\nabc\r\n";
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	c = client_open(fx.px);
	REQUIRE(client_send(c, head));
	REQUIRE(client_send(c, good));
	/* wait until the server has the good part, so the bad one arrives in a later read */
	for (uint64_t end = now_ms() + 2000; server_bytes(fx.srv) < strlen(head) + strlen(good) && now_ms() < end;)
		sleep_ms(2);
	REQUIRE(client_send(c, "zz\r\nGET /smuggled HTTP/1.1\r\nHost: backend\r\n\r\n"));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 400);
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK(server_quiet(fx.srv));
	CHECK_EQ(server_bytes(fx.srv), strlen(head) + strlen(good));
	CHECK_EQ(fx.srv->n_paths, 0);
	fx_stop(&fx);
}

static void test_corpus_400_nothing_forwarded(void)
{
	DIR *d = opendir(HTTP_CORPUS_DIR);
	struct dirent *e;
	struct fixture fx;
	unsigned files = 0;

	REQUIRE(d != NULL);
	fx_start(&fx, NULL);
	while ((e = readdir(d))) {
		char path[512];
		struct client *c;
		struct response r;
		size_t len = 0;
		uint64_t before = server_bytes(fx.srv);
		char *data;

		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", HTTP_CORPUS_DIR, e->d_name);
		data = h_read_file(path, &len);
		REQUIRE(data != NULL);
		files++;
		c = client_open(fx.px);
		h_checks++;
		if (!send_all(c->fd, data, len) || !client_read(c, &r, false) || r.status != 400 ||
		    !client_sees_eof(c))
			h_fail(__FILE__, __LINE__, "%s: expected 400 and close, got status %u", e->d_name, r.status);
		client_close(c);
		free(data);
		h_checks++;
		if (!server_quiet(fx.srv) || server_bytes(fx.srv) != before)
			h_fail(__FILE__, __LINE__, "%s: the server received %llu bytes", e->d_name,
			       (unsigned long long)(server_bytes(fx.srv) - before));
	}
	closedir(d);
	CHECK(files >= 40);
	CHECK_EQ(fx_stats(&fx).requests_invalid, files);
	CHECK_EQ(fx_stats(&fx).status[4], files);
	fx_stop(&fx);
}

static void test_200_concurrent_connections(void)
{
	enum { N = 200 };
	struct client *c[N];
	struct fixture fx;
	unsigned ok = 0;

	fx_start(&fx, NULL);
	for (int i = 0; i < N; i++)
		c[i] = client_open(fx.px);
	for (int i = 0; i < N; i++) {
		char req[128];
		snprintf(req, sizeof(req), REQ("GET", "/public/%d", ""), i);
		REQUIRE(client_send(c[i], req));
	}
	for (int i = 0; i < N; i++) {
		struct response r;
		char want[64];
		snprintf(want, sizeof(want), "GET /public/%d 0", i);
		if (client_read(c[i], &r, false) && r.status == 200 && body_has(&r, want))
			ok++;
	}
	CHECK_EQ(ok, N);
	{
		struct ms_pe_stats st = fx_stats(&fx);
		CHECK_EQ(st.conns_active, N);
		CHECK_EQ(st.conns_accepted, N);
		CHECK_EQ(st.requests_allowed, N);
	}
	CHECK_EQ(fx.srv->accepted, N);
	for (int i = 0; i < N; i++)
		client_close(c[i]);
	CHECK(proxy_wait_count(fx.px, &fx.px->closed, N));
	CHECK_EQ(fx_stats(&fx).conns_active, 0);
	fx_stop(&fx);
}

/* Bodies larger than the buffers both ways: backpressure, not loss. */
static void test_large_bodies(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;
	char head[256], want[64];
	char *body = malloc(BIG_REQUEST);
	uint32_t sum = 2166136261u;

	REQUIRE(body != NULL);
	for (size_t i = 0; i < BIG_REQUEST; i++)
		body[i] = (char)(i * 7);
	fx_start(&fx, NULL);
	c = client_open(fx.px);
	snprintf(head, sizeof(head), REQ("POST", "/upload", "Content-Length: %u\r\n"), BIG_REQUEST);
	REQUIRE(client_send(c, head));
	REQUIRE(send_all(c->fd, body, BIG_REQUEST));
	REQUIRE(client_read(c, &r, false));
	snprintf(want, sizeof(want), "POST /upload %u %08x", BIG_REQUEST, checksum(sum, body, BIG_REQUEST));
	CHECK(body_has(&r, want));
	REQUIRE(client_send(c, REQ("GET", "/big", "")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 200);
	CHECK_EQ(r.body_len, BIG_RESPONSE);
	sum = 2166136261u;
	for (size_t i = 0; i < BIG_RESPONSE; i++) {
		char ch = (char)('a' + i % 26);
		sum = checksum(sum, &ch, 1);
	}
	CHECK_EQ(r.body_sum, sum);
	client_close(c);
	free(body);
	fx_stop(&fx);
}

static void test_upgrades(void)
{
	struct fixture fx;
	struct client *c;
	struct response r;

	fx_start(&fx, NULL);
	/* websocket: judged, then the bytes go both ways unparsed */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 101);
	REQUIRE(client_send(c, "\x81\x04ping GET /private HTTP/1.1\r\n\r\n"));
	{
		size_t got = 0, want = strlen("\x81\x04ping GET /private HTTP/1.1\r\n\r\n");
		char echo[64];
		while (got < want) {
			ssize_t n = c->left_len ? 0 : recv(c->fd, echo + got, sizeof(echo) - got, 0);
			if (c->left_len) {
				memcpy(echo, c->left, c->left_len);
				n = (ssize_t)c->left_len;
				c->left_len = 0;
			}
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		CHECK_EQ(got, want);
		CHECK(memcmp(echo, "\x81\x04ping", 6) == 0);
	}
	client_close(c);
	CHECK_EQ(proxy_count(fx.px, &fx.px->judged), 1);
	/* h2c would carry requests past the judge: refused without asking it */
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/public", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
						     "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")));
	REQUIRE(client_read(c, &r, false));
	CHECK_EQ(r.status, 403);
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK_EQ(proxy_count(fx.px, &fx.px->judged), 1);
	fx_stop(&fx);
}

static void test_idle_timeout(void)
{
	struct ms_pe_opts opts = { .max_header_bytes = MAX_HEAD, .idle_timeout_ms = 200 };
	struct fixture fx;
	struct client *c;
	struct response r;
	uint64_t t0;

	fx_start(&fx, &opts);
	c = client_open(fx.px);
	REQUIRE(client_send(c, REQ("GET", "/public", "")));
	REQUIRE(client_read(c, &r, false));
	t0 = now_ms();
	CHECK(client_sees_eof(c));
	CHECK(now_ms() - t0 >= 150);
	CHECK(now_ms() - t0 < 2000);
	client_close(c);
	/* a head that never ends times out the same way */
	c = client_open(fx.px);
	REQUIRE(client_send(c, "GET /public HTTP/1.1\r\nHost: slow"));
	CHECK(client_sees_eof(c));
	client_close(c);
	CHECK(proxy_wait_count(fx.px, &fx.px->closed, 2));
	CHECK(server_quiet(fx.srv));
	fx_stop(&fx);
}

static void test_max_conns(void)
{
	struct ms_pe_opts opts = { .max_header_bytes = MAX_HEAD, .max_conns = 2 };
	struct fixture fx;
	struct client *c[3];
	struct response r;

	fx_start(&fx, &opts);
	for (int i = 0; i < 2; i++) {
		c[i] = client_open(fx.px);
		REQUIRE(client_send(c[i], REQ("GET", "/public", "")));
		REQUIRE(client_read(c[i], &r, false));
	}
	c[2] = client_open(fx.px);
	CHECK(client_sees_eof(c[2]));
	CHECK_EQ(fx_stats(&fx).conns_refused_full, 1);
	CHECK(proxy_wait_count(fx.px, &fx.px->add_refused, 1));
	/* the two admitted ones still work */
	REQUIRE(client_send(c[1], REQ("GET", "/public/again", "")));
	REQUIRE(client_read(c[1], &r, false));
	CHECK_EQ(r.status, 200);
	for (int i = 0; i < 3; i++)
		client_close(c[i]);
	fx_stop(&fx);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(test_allowed_request_relayed),
		TEST_ENTRY(test_denied_gets_403_and_connection_stays),
		TEST_ENTRY(test_keepalive_allow_deny_allow),
		TEST_ENTRY(test_pipelined_judged_in_order),
		TEST_ENTRY(test_chunked_body_relayed_as_framed),
		TEST_ENTRY(test_upstream_unreachable_502),
		TEST_ENTRY(test_bad_upstream_answers_502),
		TEST_ENTRY(test_judge_sees_request),
		TEST_ENTRY(test_records_and_close_callbacks),
		TEST_ENTRY(test_response_framing_on_one_connection),
		TEST_ENTRY(test_connection_endings),
		TEST_ENTRY(test_early_response),
		TEST_ENTRY(test_denied_body_dropped),
		TEST_ENTRY(test_body_error_after_forwarding),
		TEST_ENTRY(test_corpus_400_nothing_forwarded),
		TEST_ENTRY(test_200_concurrent_connections),
		TEST_ENTRY(test_large_bodies),
		TEST_ENTRY(test_upgrades),
		TEST_ENTRY(test_idle_timeout),
		TEST_ENTRY(test_max_conns),
	};

	raise_fd_limit();
	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
