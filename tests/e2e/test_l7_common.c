// SPDX-License-Identifier: Apache-2.0
/* Shared pieces of the L7 proxy end-to-end tests: see test_l7.h. */
#include "test_l7.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef L7_PEER_PY
#define L7_PEER_PY "http_peer.py"
#endif

#define SESSION_TIMEOUT_MS 30000

const char *l7_peer_script(void)
{
	return L7_PEER_PY;
}

/* ---- setup ---- */

static void free_srv_log(void *arg)
{
	struct l7 *s = arg;

	free(s->srv_log);
	s->srv_log = NULL;
	s->srv_n = s->srv_cap = 0;
}

void l7_setup(struct l7 *s, const char *tag, bool with_other)
{
	struct microseg_identity *id;

	memset(s, 0, sizeof(*s));
	e2e_init(&s->t, tag);
	E2E_CHECK(access(l7_peer_script(), R_OK) == 0, "%s not readable", l7_peer_script());
	snprintf(s->signal_dir, sizeof(s->signal_dir), "/tmp/microseg-e2e-%s-%d", tag,
		 (int)topo_owner());
	E2E_CHECK(mkdir(s->signal_dir, 0700) == 0, "mkdir %s: %s", s->signal_dir, strerror(errno));
	E2E_CHECK(topo_track_dir(s->signal_dir) == 0, "track %s", s->signal_dir);
	E2E_CHECK(topo_on_exit(free_srv_log, s) == 0, "topo_on_exit");

	s->client = pol_add_ep(&s->t, "client", "client", L7_K8S_NS, NULL, NULL, NULL);
	s->server = pol_add_ep(&s->t, "server", "server", L7_K8S_NS, NULL, NULL, NULL);
	if (with_other)
		s->other = pol_add_ep(&s->t, "other", "other", L7_K8S_NS, NULL, NULL, NULL);
	id = microseg_endpoint_identity(s->client->ep);
	s->id_client = microseg_identity_id(id);
	s->id_server = microseg_identity_id(microseg_endpoint_identity(s->server->ep));
	s->id_other = s->other ? microseg_identity_id(microseg_endpoint_identity(s->other->ep)) : 0;
	{
		char ports[32];
		const char *argv[] = { e2e_python(), l7_peer_script(), "serve", "server", ports,
				       NULL };

		snprintf(ports, sizeof(ports), "%d,%d", L7_PORT, L7_PLAIN_PORT);
		s->srv_pid = e2e_spawn_ready(s->server->ns, argv, &s->srv_fd, "http_peer serve");
	}
	e2e_log("identities: client %u, server %u, other %u", s->id_client, s->id_server,
		s->id_other);
}

void l7_apply(struct l7 *s, const char *yaml)
{
	E2E_OK(&s->t, microseg_policy_apply_yaml(s->t.ctx, yaml, strlen(yaml), 0));
}

void l7_apply_http_policy(struct l7 *s, const char *name, const char *sel, const char *dir,
			  const char *peer, const char *http)
{
	char doc[2048];
	bool ingress = !strcmp(dir, "ingress");

	E2E_CHECK(ingress || !strcmp(dir, "egress"), "direction %s", dir);
	snprintf(doc, sizeof(doc),
		 "apiVersion: cilium.io/v2\n"
		 "kind: CiliumNetworkPolicy\n"
		 "metadata:\n"
		 "  name: %s\n"
		 "  namespace: " L7_K8S_NS "\n"
		 "spec:\n"
		 "  endpointSelector:\n"
		 "    matchLabels:\n"
		 "      app: %s\n"
		 "  %s:\n"
		 "  - %s:\n"
		 "    - matchLabels:\n"
		 "        app: %s\n"
		 "    toPorts:\n"
		 "    - ports:\n"
		 "      - port: \"%d\"\n"
		 "        protocol: TCP\n"
		 "      rules:\n"
		 "        http: %s\n"
		 "    - ports:\n"
		 "      - port: \"%d\"\n"
		 "        protocol: TCP\n",
		 name, sel, dir, ingress ? "fromEndpoints" : "toEndpoints", peer, L7_PORT, http,
		 L7_PLAIN_PORT);
	l7_apply(s, doc);
	e2e_log("policy %s: app=%s %s %s app=%s, port %d http %s, port %d plain", name, sel, dir,
		ingress ? "from" : "to", peer, L7_PORT, http, L7_PLAIN_PORT);
}

void l7_proxy_start(struct l7 *s, uint32_t threads)
{
	MICROSEG_OPTS(microseg_proxy_opts, o, .threads = threads);

	E2E_OK(&s->t, microseg_proxy_start(s->t.ctx, &o));
	s->loop_mode = threads == 0;
	e2e_log("proxy on port %d, %s", microseg_proxy_port(s->t.ctx),
		threads ? "worker threads" : "driven by the test (threads = 0)");
	if (s->loop_mode)
		E2E_CHECK(microseg_proxy_fd(s->t.ctx) >= 0, "microseg_proxy_fd = %d",
			  microseg_proxy_fd(s->t.ctx));
}

void l7_stats(struct l7 *s, struct microseg_proxy_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	E2E_OK(&s->t, microseg_proxy_get_stats(s->t.ctx, st));
}

/* Waits up to ms for fd to be readable, driving the proxy meanwhile in loop mode. */
static bool wait_readable(struct l7 *s, int fd, int ms)
{
	long long end = topo_now_ms() + ms;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = -1 } };
		long long left = end - topo_now_ms();
		int r;

		if (left < 0)
			left = 0;
		if (s->loop_mode && s->t.ctx && microseg_proxy_port(s->t.ctx) > 0) {
			p[1].fd = microseg_proxy_fd(s->t.ctx);
			p[1].events = POLLIN;
		}
		r = poll(p, 2, (int)(left < 20 ? left : 20));
		E2E_CHECK(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		if (p[1].fd >= 0 && (r == 0 || (p[1].revents & POLLIN))) {
			/* Also with nothing readable: the proxy's idle timers need a turn. */
			int n = microseg_proxy_process(s->t.ctx, 0);

			E2E_CHECK(n >= 0, "microseg_proxy_process = %d (%s)", n, microseg_strerror(n));
		}
		if (r > 0 && p[0].revents)
			return true;
		if (left == 0)
			return false;
	}
}

void l7_pump(struct l7 *s, int ms)
{
	long long end = topo_now_ms() + ms;

	while (topo_now_ms() < end) {
		if (s->loop_mode) {
			int n = microseg_proxy_process(s->t.ctx, 20);

			E2E_CHECK(n >= 0, "microseg_proxy_process = %d (%s)", n, microseg_strerror(n));
		} else {
			topo_sleep_ms(20);
		}
	}
}

/* Reads one line from fd (driving the proxy): its length, 0 at EOF, -ETIMEDOUT. */
static int read_line(struct l7 *s, int fd, char *buf, size_t len, int timeout_ms)
{
	long long end = topo_now_ms() + timeout_ms;
	size_t used = 0;

	buf[0] = '\0';
	for (;;) {
		long long left = end - topo_now_ms();
		char c;
		ssize_t n;

		if (left <= 0 || !wait_readable(s, fd, (int)left))
			return -ETIMEDOUT;
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return used ? (int)used : 0;
		if (c == '\n')
			return used ? (int)used : 1;
		if (used + 1 < len) {
			buf[used++] = c;
			buf[used] = '\0';
		}
	}
}

/* ---- sessions ---- */

void l7_session_start(struct l7 *s, struct l7_session *ss, const struct e2e_ep *from,
		      const char *addr, int port, const char *const *steps)
{
	const char *argv[32];
	char p[16];
	int n = 0;

	(void)s; /* the same first argument as every session call; starting drives nothing */
	memset(ss, 0, sizeof(*ss));
	snprintf(p, sizeof(p), "%d", port);
	argv[n++] = e2e_python();
	argv[n++] = l7_peer_script();
	argv[n++] = "session";
	argv[n++] = addr;
	argv[n++] = p;
	for (int i = 0; steps[i] && n < 31; i++)
		argv[n++] = steps[i];
	argv[n] = NULL;
	ss->pid = topo_spawn(from->ns, &ss->fd, argv);
	E2E_CHECK(ss->pid > 0, "spawn session in %s", from->ns);
}

/* Takes one line of the session into ss. */
static void session_line(struct l7_session *ss, const char *line)
{
	struct l7_resp *r;
	char close_s[16];
	int off = 0;

	if (!strncmp(line, "conn ", 5)) {
		E2E_CHECK(!ss->local_port, "the session connected twice: '%s'", line);
		E2E_CHECK(sscanf(line + 5, "%63s %d", ss->local_addr, &ss->local_port) == 2,
			  "session said '%s'", line);
	} else if (!strncmp(line, "connect ", 8)) {
		snprintf(ss->connect_err, sizeof(ss->connect_err), "%s", line + 8);
	} else if (!strncmp(line, "resp ", 5)) {
		E2E_CHECK(ss->n_resp < L7_MAX_RESP, "too many responses");
		r = &ss->resp[ss->n_resp++];
		E2E_CHECK(sscanf(line + 5, "%d %15s %n", &r->status, close_s, &off) >= 2,
			  "session said '%s'", line);
		r->close = !strcmp(close_s, "close=1");
		snprintf(r->body, sizeof(r->body), "%s", off ? line + 5 + off : "");
	} else if (!strcmp(line, "closed")) {
		ss->closed = true;
	} else if (!strcmp(line, "timeout")) {
		ss->timeout = true;
	} else if (!strncmp(line, "eof ", 4)) {
		snprintf(ss->eof, sizeof(ss->eof), "%s", line + 4);
	} else if (!strcmp(line, "end")) {
		ss->ended = true;
	}
}

bool l7_session_until(struct l7 *s, struct l7_session *ss, const char *prefix)
{
	while (!ss->ended) {
		int r = read_line(s, ss->fd, ss->line, sizeof(ss->line), SESSION_TIMEOUT_MS);

		E2E_CHECK(r != -ETIMEDOUT, "the session said nothing for %d s (it hangs)",
			  SESSION_TIMEOUT_MS / 1000);
		E2E_CHECK(r > 0, "the session's output ended without 'end' (%d)", r);
		e2e_log("    session: %s", ss->line);
		session_line(ss, ss->line);
		if (prefix && !strncmp(ss->line, prefix, strlen(prefix)))
			return true;
	}
	return false;
}

void l7_session_finish(struct l7 *s, struct l7_session *ss)
{
	int r;

	l7_session_until(s, ss, NULL);
	/* EOF on its output: the session is exiting (the proxy driven until then). */
	do
		r = read_line(s, ss->fd, ss->line, sizeof(ss->line), 10000);
	while (r > 0);
	close(ss->fd);
	E2E_CHECK(r == 0, "the session did not exit after 'end' (%d)", r);
	r = topo_wait(ss->pid, 10000);
	E2E_CHECK(r == 0, "the session exited %d", r);
}

void l7_session(struct l7 *s, struct l7_session *ss, const struct e2e_ep *from,
		const char *addr, int port, const char *const *steps)
{
	l7_session_start(s, ss, from, addr, port, steps);
	l7_session_finish(s, ss);
}

void l7_expect_resp(const struct l7_session *ss, int i, int status, const char *body_has)
{
	E2E_CHECK(i < ss->n_resp, "response %d missing: %d response(s)%s%s", i + 1, ss->n_resp,
		  ss->closed ? ", then the connection closed" : "",
		  ss->connect_err[0] ? ", could not connect" : "");
	E2E_CHECK(ss->resp[i].status == status, "response %d: status %d, want %d (body '%s')",
		  i + 1, ss->resp[i].status, status, ss->resp[i].body);
	E2E_CHECK(!body_has || strstr(ss->resp[i].body, body_has),
		  "response %d: body '%s' does not contain '%s'", i + 1, ss->resp[i].body, body_has);
}

const char *l7_signal_path(struct l7 *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->signal_dir, name);
	return buf;
}

void l7_signal(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	E2E_CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
	close(fd);
}

void l7_peer_run(struct l7 *s, const struct e2e_ep *from, int timeout_ms, char *out,
		 size_t outlen, const char *arg, ...)
{
	const char *argv[32];
	va_list ap;
	int n = 0, fd = -1, r;
	pid_t pid;

	argv[n++] = e2e_python();
	argv[n++] = l7_peer_script();
	argv[n++] = arg;
	va_start(ap, arg);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	pid = topo_spawn(from ? from->ns : NULL, &fd, argv);
	E2E_CHECK(pid > 0, "spawn http_peer %s", arg);
	r = read_line(s, fd, out, outlen, timeout_ms);
	E2E_CHECK(r > 0, "http_peer %s in %s printed nothing within %d ms (%d)", arg,
		  from ? from->ns : "the host", timeout_ms, r);
	{
		char rest[256];

		do
			r = read_line(s, fd, rest, sizeof(rest), 10000);
		while (r > 0);
	}
	close(fd);
	E2E_CHECK(r == 0, "http_peer %s did not exit after its answer (%d)", arg, r);
	r = topo_wait(pid, 10000);
	E2E_CHECK(r == 0, "http_peer %s exited %d", arg, r);
}

/* ---- the server's log ---- */

static void srv_add(struct l7 *s, const char *line)
{
	struct l7_srv_event *e;

	if (s->srv_n == s->srv_cap) {
		size_t cap = s->srv_cap ? s->srv_cap * 2 : 256;
		struct l7_srv_event *v = realloc(s->srv_log, cap * sizeof(*v));

		E2E_CHECK(v, "out of memory");
		s->srv_log = v;
		s->srv_cap = cap;
	}
	e = &s->srv_log[s->srv_n];
	memset(e, 0, sizeof(*e));
	if (!strncmp(line, "req ", 4)) {
		e->is_req = true;
		E2E_CHECK(sscanf(line + 4, "%d %15s %127s force=%31s body=%d", &e->port, e->method,
				 e->path, e->force, &e->body) == 5,
			  "server said '%s'", line);
	} else if (!strncmp(line, "conn ", 5)) {
		E2E_CHECK(sscanf(line + 5, "%d %63s", &e->port, e->peer) == 2, "server said '%s'",
			  line);
	} else if (!strncmp(line, "junk ", 5)) {
		e->junk = true;
		E2E_CHECK(sscanf(line + 5, "%d %d", &e->port, &e->body) == 2, "server said '%s'",
			  line);
	} else {
		E2E_CHECK(false, "server said '%s'", line);
	}
	s->srv_n++;
}

void l7_srv_drain(struct l7 *s, int quiet_ms)
{
	char line[512];

	for (;;) {
		int r = read_line(s, s->srv_fd, line, sizeof(line), quiet_ms);

		if (r == -ETIMEDOUT)
			return;
		E2E_CHECK(r > 0, "the server's output ended: it died (%d)", r);
		srv_add(s, line);
	}
}

size_t l7_srv_mark(struct l7 *s)
{
	l7_srv_drain(s, 100);
	return s->srv_n;
}

size_t l7_srv_requests(struct l7 *s, size_t mark, const char *method, const char *path)
{
	size_t n = 0;

	for (size_t i = mark; i < s->srv_n; i++) {
		const struct l7_srv_event *e = &s->srv_log[i];

		n += e->is_req && (!method || !strcmp(e->method, method)) &&
		     (!path || !strcmp(e->path, path));
	}
	return n;
}

size_t l7_srv_conns(struct l7 *s, size_t mark)
{
	size_t n = 0;

	for (size_t i = mark; i < s->srv_n; i++)
		n += !s->srv_log[i].is_req && !s->srv_log[i].junk;
	return n;
}

size_t l7_srv_junk(struct l7 *s, size_t mark)
{
	size_t n = 0;

	for (size_t i = mark; i < s->srv_n; i++)
		n += s->srv_log[i].junk;
	return n;
}

const struct l7_srv_event *l7_srv_find(struct l7 *s, size_t mark, const char *method,
				       const char *path)
{
	const struct l7_srv_event *found = NULL;

	for (size_t i = mark; i < s->srv_n; i++) {
		const struct l7_srv_event *e = &s->srv_log[i];

		if (e->is_req && !strcmp(e->method, method) && !strcmp(e->path, path))
			found = e;
	}
	return found;
}

void l7_srv_dump(struct l7 *s, size_t mark, const char *why)
{
	e2e_log("%s; the server logged %zu line(s) since:", why, s->srv_n - mark);
	for (size_t i = mark; i < s->srv_n; i++) {
		const struct l7_srv_event *e = &s->srv_log[i];

		if (e->is_req)
			e2e_log("  req %d %s %s force=%s body=%d", e->port, e->method, e->path,
				e->force, e->body);
		else if (e->junk)
			e2e_log("  junk %d %d bytes", e->port, e->body);
		else
			e2e_log("  conn %d from %s", e->port, e->peer);
	}
}
