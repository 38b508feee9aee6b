// SPDX-License-Identifier: Apache-2.0
/* Shared pieces of the service end-to-end tests: see test_service.h. */
#include "test_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SVC_PEER_PY
#define SVC_PEER_PY "service_peer.py"
#endif

#define RUN_TIMEOUT_MS 30000

static const char *peer_script(void)
{
	const char *p = getenv("MICROSEG_E2E_SERVICE_PEER");

	return p && *p ? p : SVC_PEER_PY;
}

/* ---- the cgroup ---- */

void svc_leave_cgroup(struct svc_test *s)
{
	int r = svc_cgroup_leave(&s->cg);

	E2E_CHECK(r == 0, "move back to %s: %s", s->cg.orig, strerror(-r));
}

void svc_enter_cgroup(struct svc_test *s)
{
	int r = svc_cgroup_enter(&s->cg);

	E2E_CHECK(r == 0, "move into %s: %s", s->cg.path, strerror(-r));
}

/* A copy for the exit handler: the test's struct lives on main's stack, gone once main has
 * returned. It says "inside", so the handler always moves the process back (harmless if it
 * already is). */
static struct svc_cgroup cg_at_exit;

/* At normal exit, before the topology teardown kills the clients and removes the (tracked)
 * directory: the test process must be out of it for the rmdir to work. */
static void leave_at_exit(void *arg)
{
	(void)arg;
	svc_cgroup_leave(&cg_at_exit);
}

static void lib_log(void *user, int level, const char *line)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)user;
	fprintf(stderr, "[lib %s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", line);
}

void svc_init(struct svc_test *s, const char *tag)
{
	char prefix[32];
	int r, prep;

	memset(s, 0, sizeof(*s));
	/* The cgroup's reaper is forked first: forked after e2e_init it would inherit the
	 * instance's lock. The name carries this PID, the topology owner's. */
	snprintf(prefix, sizeof(prefix), "microseg-e2e-%.8s", tag);
	prep = geteuid() == 0 ? svc_cgroup_prepare(&s->cg, prefix) : 0;
	e2e_init(&s->t, tag);
	E2E_CHECK(access(peer_script(), R_OK) == 0, "service peer %s not readable", peer_script());
	E2E_CHECK(prep == 0, "no cgroup v2 for the load balancer: %s", strerror(-prep));
	E2E_CHECK(topo_owner() == getpid(), "topology owner %d", (int)topo_owner());
	r = svc_cgroup_create(&s->cg);
	E2E_CHECK(r == 0, "mkdir %s: %s", s->cg.path, strerror(-r));
	E2E_CHECK(topo_track_dir(s->cg.path) == 0, "track %s", s->cg.path);
	svc_enter_cgroup(s);
	cg_at_exit = s->cg;
	E2E_CHECK(topo_on_exit(leave_at_exit, NULL) == 0, "topo_on_exit");

	/* The socket programs attach to lb_cgroup when the first service is added: reopen the
	 * instance with it set (e2e_open knows no such option). */
	svc_reopen(s);
	e2e_log("cgroup %s (from %s), instance reopened with it as lb_cgroup", s->cg.path,
		s->cg.orig);
}

void svc_reopen(struct svc_test *s)
{
	const char *lvl = getenv("MICROSEG_E2E_LOG");
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = s->t.instance, .bpffs_dir = s->t.bpffs_dir,
		      .state_dir = s->t.state_dir, .log_fn = lib_log,
		      .log_level = lvl && !strcmp(lvl, "debug") ? MICROSEG_LOG_DEBUG : MICROSEG_LOG_INFO,
		      .lb_cgroup = s->cg.path);
	int r;

	e2e_close(&s->t);
	r = microseg_ctx_open(&o, &s->t.ctx);
	E2E_CHECK(r == 0, "microseg_ctx_open(%s) with lb_cgroup: %s", s->t.instance, microseg_strerror(r));
}

const char *svc_vip(const struct svc_test *s, int k, bool v6, char *buf, size_t len)
{
	if (v6)
		snprintf(buf, len, "fd00:96:%x::%x", s->t.subnet, 0x10 + k);
	else
		snprintf(buf, len, "10.96.%d.%d", s->t.subnet, 10 + k);
	return buf;
}

/* ---- endpoints ---- */

static void no_forwarding(const char *ifname)
{
	static const char *const fmt[] = { "/proc/sys/net/ipv4/conf/%s/forwarding",
					   "/proc/sys/net/ipv6/conf/%s/forwarding" };

	for (int i = 0; i < 2; i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), fmt[i], ifname);
		f = fopen(path, "we");
		E2E_CHECK(f && fputs("0\n", f) >= 0 && fclose(f) == 0, "%s: %s", path,
			  strerror(errno));
	}
}

struct e2e_ep *svc_add_client(struct svc_test *s, const char *app)
{
	struct e2e_ep *e = e2e_add_ep(&s->t, app, true);

	no_forwarding(e->host_if);
	return e;
}

struct e2e_ep *svc_add_backend(struct svc_test *s, const char *app)
{
	struct e2e_ep *e = svc_add_client(s, app);
	char port[16];
	const char *argv[] = { e2e_python(), peer_script(), "serve", e->name, port, NULL };

	snprintf(port, sizeof(port), "%d", SVC_BACKEND_PORT);
	e->server = e2e_spawn_ready(e->ns, argv, NULL, "service_peer serve");
	return e;
}

/* ---- services ---- */

struct microseg_service *svc_add_service(struct svc_test *s, const char *name, const char *addr,
					 uint16_t port, uint32_t proto, uint32_t algorithm)
{
	struct microseg_service *svc = NULL;
	MICROSEG_OPTS(microseg_service_opts, o, .name = name, .address = addr, .port = port,
		      .proto = proto, .algorithm = algorithm);

	E2E_OK(&s->t, microseg_service_add(s->t.ctx, &o, &svc));
	e2e_log("service %s %s%s%s:%u/%s (%s)", name, strchr(addr, ':') ? "[" : "", addr,
		strchr(addr, ':') ? "]" : "", port, proto == MICROSEG_PROTO_UDP ? "udp" : "tcp",
		algorithm == MICROSEG_LB_MAGLEV ? "maglev" : "random");
	return svc;
}

void svc_add_backend_to(struct svc_test *s, struct microseg_service *svc, const char *addr,
			uint16_t port, uint32_t state)
{
	MICROSEG_OPTS(microseg_backend_opts, o, .address = addr, .port = port, .state = state);

	E2E_OK(&s->t, microseg_service_backend_add(s->t.ctx, svc, &o));
}

uint64_t svc_connections(struct svc_test *s, struct microseg_service *svc, const char *addr,
			 uint16_t port)
{
	struct microseg_backend_info b[SVC_TALLY_MAX];
	size_t n = 0;

	E2E_OK(&s->t, microseg_service_backends(s->t.ctx, svc, b, SVC_TALLY_MAX, &n));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(b[i].address, addr) && b[i].port == port)
			return b[i].connections;
	E2E_CHECK(false, "service has no backend %s:%u", addr, port);
	return 0;
}

/* ---- clients ---- */

/* Runs service_peer.py in ns and returns its stdout; fails the test if it fails. */
static void run_peer(const char *ns, char *out, size_t len, const char *const *args)
{
	const char *argv[16];
	int n = 0, r;

	argv[n++] = e2e_python();
	argv[n++] = peer_script();
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	r = topo_run(ns, RUN_TIMEOUT_MS, out, len, argv);
	E2E_CHECK(r == 0, "service_peer.py %s in %s exited %d: %s", args[0], ns, r, out);
}

static void parse_tally(char *out, struct svc_tally *tl)
{
	memset(tl, 0, sizeof(*tl));
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[48];
		int v;

		if (sscanf(line, "backend %47s %d", name, &v) == 2) {
			E2E_CHECK(tl->n < SVC_TALLY_MAX, "more than %d backends answered",
				  SVC_TALLY_MAX);
			snprintf(tl->name[tl->n], sizeof(tl->name[0]), "%s", name);
			tl->count[tl->n++] = v;
			tl->answered += v;
		} else if (sscanf(line, "errors %d", &v) == 1) {
			tl->errors = v;
		} else if (sscanf(line, "peer_mismatch %d", &v) == 1 ||
			   sscanf(line, "from_mismatch %d", &v) == 1) {
			tl->mismatches = v;
		} else if (!strncmp(line, "first_error ", 12)) {
			snprintf(tl->first_error, sizeof(tl->first_error), "%s", line + 12);
		}
	}
}

void svc_http(const struct e2e_ep *from, const char *addr, int port, int n, int sport,
	      struct svc_tally *out)
{
	char p[16], cnt[16], sp[16], buf[4096];
	const char *args[] = { "http", addr, p, cnt, sport ? sp : NULL, NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(cnt, sizeof(cnt), "%d", n);
	snprintf(sp, sizeof(sp), "%d", sport);
	run_peer(from->ns, buf, sizeof(buf), args);
	parse_tally(buf, out);
}

void svc_udp(const struct e2e_ep *from, const char *addr, int port, int n, const char *mode,
	     struct svc_tally *out)
{
	char p[16], cnt[16], buf[4096];
	const char *args[] = { "udp", addr, p, cnt, mode, NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(cnt, sizeof(cnt), "%d", n);
	run_peer(from->ns, buf, sizeof(buf), args);
	parse_tally(buf, out);
}

void svc_udp_one_socket(const struct e2e_ep *from, const char *addr, int port, int n,
			struct svc_tally *out)
{
	char p[16], cnt[16], buf[4096];
	const char *args[] = { "udp-one-socket", addr, p, cnt, NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(cnt, sizeof(cnt), "%d", n);
	run_peer(from->ns, buf, sizeof(buf), args);
	parse_tally(buf, out);
}

int svc_count(const struct svc_tally *tl, const struct e2e_ep *e)
{
	for (int i = 0; i < tl->n; i++)
		if (!strcmp(tl->name[i], e->name))
			return tl->count[i];
	return 0;
}

void svc_tally_log(const char *what, const struct svc_tally *tl)
{
	char line[512] = "";

	for (int i = 0; i < tl->n; i++) {
		const char *dash = strrchr(tl->name[i], '-');

		/* The endpoint's letter is enough in a log line. */
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s %d", i ? ", " : "",
			 dash ? dash + 1 : tl->name[i], tl->count[i]);
	}
	e2e_log("%s: %s; errors %d, answers not from the frontend %d%s%s", what,
		tl->n ? line : "(no answer)", tl->errors, tl->mismatches,
		tl->first_error[0] ? "; first error: " : "", tl->first_error);
}

static double word_and_ms(char *out, char *what, size_t len)
{
	char w[32] = "";
	double ms = -1;

	E2E_CHECK(sscanf(out, "%31s %lf", w, &ms) == 2, "service_peer said '%s'", out);
	snprintf(what, len, "%s", w);
	return ms;
}

double svc_connect(const struct e2e_ep *from, const char *addr, int port, double timeout_s,
		   char *what, size_t len)
{
	char p[16], to[16], buf[256];
	const char *args[] = { "connect", addr, p, to, NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(to, sizeof(to), "%.2f", timeout_s);
	run_peer(from->ns, buf, sizeof(buf), args);
	return word_and_ms(buf, what, len);
}

double svc_udp_send(const struct e2e_ep *from, const char *addr, int port, char *what,
		    size_t len)
{
	char p[16], buf[256];
	const char *args[] = { "udp-refused", addr, p, NULL };

	snprintf(p, sizeof(p), "%d", port);
	run_peer(from->ns, buf, sizeof(buf), args);
	return word_and_ms(buf, what, len);
}

double svc_udp_connected(const struct e2e_ep *from, const char *addr, int port, char *what, size_t len)
{
	char p[16], buf[256];
	const char *args[] = { "udp-refused-connected", addr, p, NULL };

	snprintf(p, sizeof(p), "%d", port);
	run_peer(from->ns, buf, sizeof(buf), args);
	return word_and_ms(buf, what, len);
}

/* ---- streams ---- */

void svc_stream_start(struct svc_stream *st, const struct e2e_ep *from, const char *addr,
		      int port, double seconds)
{
	char p[16], secs[16], line[128] = "";
	const char *argv[] = { e2e_python(), peer_script(), "stream", addr, p, secs, NULL };
	int r;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(secs, sizeof(secs), "%.2f", seconds);
	memset(st, 0, sizeof(*st));
	st->pid = topo_spawn(from->ns, &st->fd, argv);
	E2E_CHECK(st->pid > 0, "spawn stream in %s: %s", from->ns, strerror(-st->pid));
	r = topo_read_line(st->fd, line, sizeof(line), 10000);
	E2E_CHECK(r > 0 && sscanf(line, "connected %63s", st->backend) == 1,
		  "stream to %s:%d did not connect (%d '%s')", addr, port, r, line);
}

void svc_stream_finish(struct svc_stream *st, uint64_t *sent, uint64_t *received)
{
	char out[256] = "";
	unsigned long long a = 0;
	long long b = -1;
	int r;

	r = topo_read_all(st->fd, out, sizeof(out), 60000);
	close(st->fd);
	E2E_CHECK(r >= 0, "stream output: %s", strerror(-r));
	r = topo_wait(st->pid, 10000);
	E2E_CHECK(r == 0, "stream exited %d (output '%s')", r, out);
	E2E_CHECK(sscanf(out, "sent %llu received %lld", &a, &b) == 2, "stream said '%s'", out);
	*sent = a;
	*received = b < 0 ? 0 : (uint64_t)b;
}

/* ---- events ---- */

static void count_event(void *user, const struct microseg_event *ev)
{
	struct svc_events *e = user;

	if (ev->type != MICROSEG_EVENT_SERVICE || ev->service_id != e->svc_id)
		return;
	if (!ev->dst_addr[0])
		e->refused++;
	else if (ev->service_hook == 1)
		e->socket++;
	else if (ev->service_hook == 2)
		e->packet++;
	else
		e->other++;
}

static void pump(struct svc_test *s, int quiet_ms)
{
	long long last = topo_now_ms(), end = last + 10000;

	while (topo_now_ms() < end && topo_now_ms() - last < quiet_ms) {
		int r = microseg_events_process(s->t.ctx, 50);

		E2E_CHECK(r >= 0, "microseg_events_process: %s", microseg_strerror(r));
		if (r > 0)
			last = topo_now_ms();
	}
}

void svc_events_begin(struct svc_test *s, struct svc_events *ev, struct microseg_service *svc)
{
	struct microseg_service_info info = { .sz = sizeof(info) };
	struct svc_events scratch = { .svc_id = 0 };

	E2E_OK(&s->t, microseg_service_get_info(s->t.ctx, svc, &info));
	E2E_OK(&s->t, microseg_events_set_rate(s->t.ctx, 1000000, 1000000));
	/* Whatever earlier traffic left in the ring goes to a tally nobody reads. */
	E2E_OK(&s->t, microseg_events_subscribe(s->t.ctx, NULL, count_event, &scratch));
	pump(s, 200);
	memset(ev, 0, sizeof(*ev));
	ev->svc_id = info.id;
	E2E_OK(&s->t, microseg_events_subscribe(s->t.ctx, NULL, count_event, ev));
}

void svc_events_end(struct svc_test *s, struct svc_events *ev)
{
	pump(s, 300);
	E2E_OK(&s->t, microseg_events_unsubscribe(s->t.ctx));
	e2e_log("service %u events: socket hook %llu, per packet %llu, refused %llu, other %llu",
		ev->svc_id, (unsigned long long)ev->socket, (unsigned long long)ev->packet,
		(unsigned long long)ev->refused, (unsigned long long)ev->other);
}
