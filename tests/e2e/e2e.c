// SPDX-License-Identifier: Apache-2.0
/* Shared pieces of the end-to-end tests: see e2e.h. */
#include "e2e.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef E2E_PEER_PY
#define E2E_PEER_PY "peer.py"
#endif

#define RUN_TIMEOUT_MS 15000

static long long start_ms;

const char *e2e_python(void)
{
	/* The distribution's interpreter: no user-level shims between us and the namespace. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static const char *peer_script(void)
{
	const char *p = getenv("MICROSEG_E2E_PEER");

	return p && *p ? p : E2E_PEER_PY;
}

void e2e_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void e2e_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: check failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void e2e_log(const char *fmt, ...)
{
	const char *fail_at = getenv("MICROSEG_E2E_FAIL_AT");
	char line[1024];
	va_list ap;

	if (!start_ms)
		start_ms = topo_now_ms();
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("[%6.2f] %s\n", (topo_now_ms() - start_ms) / 1000.0, line);
	/* A developer's pause to look at a live setup (tc, bpftool, tcpdump) at a phase. */
	{
		const char *hold = getenv("MICROSEG_E2E_HOLD");

		if (hold && *hold && !strncmp(line, "phase: ", 7) && !strcmp(line + 7, hold)) {
			printf("holding for 120 s at phase '%s' (pid %d)\n", hold, (int)getpid());
			topo_sleep_ms(120000);
		}
	}
	/* test_cleanup makes a test fail halfway on purpose, to see the exit path clean up. */
	if (fail_at && *fail_at && !strncmp(line, "phase: ", 7) && !strcmp(line + 7, fail_at))
		e2e_fail_at(__FILE__, __LINE__, "failing at phase '%s' as MICROSEG_E2E_FAIL_AT asks",
			    fail_at);
}

static void lib_log(void *user, int level, const char *line)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)user;
	fprintf(stderr, "[lib %s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", line);
}

static int lib_log_level(void)
{
	const char *l = getenv("MICROSEG_E2E_LOG");

	if (l && !strcmp(l, "debug"))
		return MICROSEG_LOG_DEBUG;
	return MICROSEG_LOG_INFO;
}

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The run's state for the exit handler. A test usually keeps its struct e2e on main's stack,
 * which is gone once main has returned: e2e_finish() (the passing path) forgets it here, so the
 * handler only ever reads it from inside a failing call (exit() keeps main's frame). */
static struct e2e *active;

/* At exit, passing or not: leave no instance behind. */
static void purge_at_exit(void *arg)
{
	struct e2e *t = active;
	int r;

	(void)arg;
	if (!t || t->finished)
		return;
	if (!t->ctx) {
		/* Closed mid-test (the reopen test): reopen only if something is left to purge. */
		if (!dir_exists(t->bpffs_dir) && !dir_exists(t->state_dir))
			return;
		MICROSEG_OPTS(microseg_ctx_opts, o, .instance = t->instance,
			      .bpffs_dir = t->bpffs_dir, .state_dir = t->state_dir,
			      .log_fn = lib_log, .log_level = MICROSEG_LOG_WARN);
		r = microseg_ctx_open(&o, &t->ctx);
		if (r < 0) {
			fprintf(stderr, "cleanup: reopen of %s for purge: %s (removing pins by hand)\n",
				t->instance, microseg_strerror(r));
			return;
		}
	}
	r = microseg_ctx_purge(t->ctx);
	if (r < 0)
		fprintf(stderr, "cleanup: purge of %s: %s [%s]\n", t->instance, microseg_strerror(r),
			microseg_ctx_last_error(t->ctx));
	else
		fprintf(stderr, "cleanup: instance %s purged at exit\n", t->instance);
	microseg_ctx_close(t->ctx);
	t->ctx = NULL;
}

int e2e_open(struct e2e *t)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = t->instance, .bpffs_dir = t->bpffs_dir,
		      .state_dir = t->state_dir, .log_fn = lib_log, .log_level = lib_log_level());
	int r;

	E2E_CHECK(!t->ctx, "context already open");
	r = microseg_ctx_open(&o, &t->ctx);
	if (r < 0)
		e2e_fail_at(__FILE__, __LINE__, "microseg_ctx_open(%s) = %d (%s)", t->instance, r,
			    microseg_strerror(r));
	E2E_CHECK(!strcmp(microseg_ctx_instance(t->ctx), t->instance), "instance name %s",
		  microseg_ctx_instance(t->ctx));
	return microseg_ctx_restored(t->ctx);
}

void e2e_close(struct e2e *t)
{
	microseg_ctx_close(t->ctx);
	t->ctx = NULL;
	for (int i = 0; i < t->n_eps; i++)
		t->eps[i].ep = NULL;
}

/* Reads ap's NULL-terminated arguments into argv[n...] (32 slots in all) and ends it. */
static void collect_args(const char **argv, int n, va_list ap)
{
	while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	argv[n] = NULL;
}

void e2e_run_ok(const char *ns, const char *arg0, ...)
{
	const char *argv[32];
	va_list ap;
	char out[1024];
	int r;

	argv[0] = arg0;
	va_start(ap, arg0);
	collect_args(argv, 1, ap);
	va_end(ap);
	r = topo_run(ns, RUN_TIMEOUT_MS, out, sizeof(out), argv);
	if (r != 0) {
		char cmd[512] = "";

		for (int i = 0; argv[i]; i++)
			snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "",
				 argv[i]);
		e2e_fail_at(__FILE__, __LINE__, "`%s` in %s exited %d: %s", cmd, ns ? ns : "host",
			    r, out);
	}
}

void e2e_init(struct e2e *t, const char *tag)
{
	int r;

	memset(t, 0, sizeof(*t));
	start_ms = topo_now_ms();
	topo_require_root();
	r = topo_init(tag);
	E2E_CHECK(r == 0, "topo_init: %s", strerror(-r));
	snprintf(t->tag, sizeof(t->tag), "%s", tag);
	t->subnet = topo_subnet();
	E2E_CHECK(t->subnet > 0, "no free test subnet: %s", strerror(-t->subnet));
	E2E_CHECK(access(peer_script(), R_OK) == 0, "traffic peer %s not readable", peer_script());

	snprintf(t->instance, sizeof(t->instance), "e2e-%s-%d", tag, (int)topo_owner());
	snprintf(t->bpffs_dir, sizeof(t->bpffs_dir), "/sys/fs/bpf/microseg/%s", t->instance);
	snprintf(t->state_dir, sizeof(t->state_dir), "/run/microseg/%s", t->instance);
	E2E_CHECK(!dir_exists(t->bpffs_dir) && !dir_exists(t->state_dir),
		  "%s is left over from an earlier run with this PID", t->instance);
	E2E_CHECK(topo_track_dir(t->bpffs_dir) == 0, "track %s", t->bpffs_dir);
	E2E_CHECK(topo_track_dir(t->state_dir) == 0, "track %s", t->state_dir);
	active = t;
	E2E_CHECK(topo_on_exit(purge_at_exit, NULL) == 0, "topo_on_exit");

	/* "The host": addresses of the run's subnet on a link of the host namespace. The kernel
	 * here has no dummy driver, so it is one end of a veth pair whose ends both stay. */
	{
		struct in_addr a4 = { htonl(0x0ac80000u | (uint32_t)t->subnet << 8 | 254) };
		struct in6_addr a6 = { 0 };
		char p4[INET_ADDRSTRLEN + 4], p6[INET6_ADDRSTRLEN + 5];
		const char *ifn = topo_ifname(), *peer = topo_ifname();

		E2E_CHECK(ifn && peer, "topo_ifname");
		snprintf(t->host_if, sizeof(t->host_if), "%s", ifn);
		a6.s6_addr[0] = 0xfd;
		a6.s6_addr[2] = 0x02;
		a6.s6_addr[5] = (uint8_t)t->subnet;
		a6.s6_addr[15] = 0xfe;
		inet_ntop(AF_INET, &a4, t->host_v4, sizeof(t->host_v4));
		inet_ntop(AF_INET6, &a6, t->host_v6, sizeof(t->host_v6));
		snprintf(p4, sizeof(p4), "%s/32", t->host_v4);
		snprintf(p6, sizeof(p6), "%s/128", t->host_v6);
		e2e_run_ok(NULL, "ip", "link", "add", t->host_if, "type", "veth", "peer", "name",
			   peer, NULL);
		e2e_run_ok(NULL, "ip", "addr", "add", p4, "dev", t->host_if, NULL);
		e2e_run_ok(NULL, "ip", "addr", "add", p6, "dev", t->host_if, "nodad", NULL);
		e2e_run_ok(NULL, "ip", "link", "set", peer, "up", NULL);
		e2e_run_ok(NULL, "ip", "link", "set", t->host_if, "up", NULL);
	}

	r = e2e_open(t);
	E2E_CHECK(r == 0, "a new instance reports restored=%d", r);
	e2e_log("instance %s, subnet 10.200.%d.0/24 fd00:200:%x::/64, host %s %s on %s",
		t->instance, t->subnet, t->subnet, t->host_v4, t->host_v6, t->host_if);
}

void e2e_finish(struct e2e *t)
{
	int r;

	E2E_CHECK(t->ctx, "no context to purge");
	r = microseg_ctx_purge(t->ctx);
	E2E_CHECK(r == 0, "microseg_ctx_purge = %d (%s) [%s]", r, microseg_strerror(r),
		  microseg_ctx_last_error(t->ctx));
	t->finished = true;
	active = NULL;
	microseg_ctx_close(t->ctx);
	t->ctx = NULL;
	E2E_CHECK(!dir_exists(t->bpffs_dir), "%s still exists after purge", t->bpffs_dir);
	E2E_CHECK(!dir_exists(t->state_dir), "%s still exists after purge", t->state_dir);
	for (int i = 0; i < t->n_eps; i++) {
		const struct e2e_ep *e = &t->eps[i];

		if (!if_nametoindex(e->host_if))
			continue;
		E2E_CHECK(e2e_tc_bpf_filters(e->host_if, "ingress") <= 0 &&
				  e2e_tc_bpf_filters(e->host_if, "egress") <= 0,
			  "BPF filters left on %s after purge", e->host_if);
	}
	e2e_log("PASS (instance purged)");
}

struct microseg_identity *e2e_identity(struct e2e *t, const char *app)
{
	char l_app[64], l_test[64];
	const char *labels[2] = { l_app, l_test };
	struct microseg_identity *id = NULL;

	snprintf(l_app, sizeof(l_app), "k8s:app=%s", app);
	snprintf(l_test, sizeof(l_test), "k8s:e2e-test=%s", t->tag);
	E2E_OK(t, microseg_identity_get(t->ctx, labels, 2, &id));
	return id;
}

static bool same_addr(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;

	if (fa != fb || inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
		return false;
	return !memcmp(x, y, fa == AF_INET ? 4 : 16);
}

pid_t e2e_spawn_ready(const char *ns, const char *const argv[], int *out_fd, const char *what)
{
	char line[64] = "";
	int fd = -1, r;
	pid_t pid;

	pid = topo_spawn(ns, &fd, argv);
	E2E_CHECK(pid > 0, "spawn %s in %s: %s", what, ns ? ns : "host", strerror(-pid));
	r = topo_read_line(fd, line, sizeof(line), 15000);
	if (out_fd)
		*out_fd = fd;
	else
		close(fd);
	E2E_CHECK(r > 0 && !strcmp(line, "ready"), "%s in %s did not start (%d '%s')", what,
		  ns ? ns : "host", r, line);
	return pid;
}

static void start_server(struct e2e_ep *e)
{
	char port[16];
	const char *argv[] = { e2e_python(), peer_script(), "serve", port, e->name, NULL };

	snprintf(port, sizeof(port), "%d", E2E_PORT);
	e->server = e2e_spawn_ready(e->ns, argv, NULL, "peer");
}

struct e2e_ep *e2e_add_ep_ex(struct e2e *t, const char *nick, const char *app,
			     struct microseg_identity *id)
{
	int idx = t->n_eps;
	struct e2e_ep *e = &t->eps[idx];
	char suffix[2] = { (char)('a' + idx), 0 };
	char v4p[INET_ADDRSTRLEN + 3], labels[256] = "";
	const char *addrs[2] = { v4p, NULL };
	struct microseg_endpoint *ep = NULL;
	const char *s;
	long long t0;

	E2E_CHECK(idx < E2E_MAX_EPS, "too many endpoints");
	memset(e, 0, sizeof(*e));
	s = topo_netns_add(suffix);
	E2E_CHECK(s, "netns %s: %s", suffix, strerror(errno));
	snprintf(e->ns, sizeof(e->ns), "%s", s);
	s = topo_ifname();
	E2E_CHECK(s, "topo_ifname");
	snprintf(e->host_if, sizeof(e->host_if), "%s", s);
	snprintf(e->name, sizeof(e->name), "e2e-%s-%d-%s", topo_tag(), (int)topo_owner(),
		 nick ? nick : suffix);
	snprintf(e->app, sizeof(e->app), "%s", app);
	{
		struct in_addr a4 = { htonl(0x0ac80000u | (uint32_t)t->subnet << 8 |
					    (uint32_t)(idx + 1)) };
		struct in6_addr a6 = { 0 };

		a6.s6_addr[0] = 0xfd;
		a6.s6_addr[2] = 0x02;
		a6.s6_addr[5] = (uint8_t)t->subnet;
		a6.s6_addr[15] = (uint8_t)(idx + 1);
		inet_ntop(AF_INET, &a4, e->v4, sizeof(e->v4));
		inet_ntop(AF_INET6, &a6, e->v6, sizeof(e->v6));
	}
	snprintf(v4p, sizeof(v4p), "%s/32", e->v4);
	addrs[1] = e->v6;

	{
		MICROSEG_OPTS(microseg_veth_opts, vo, .host_ifname = e->host_if,
			      .netns_path = topo_netns_path(e->ns), .addrs = addrs, .n_addrs = 2,
			      .identity = id, .name = e->name);

		t0 = topo_now_ms();
		E2E_OK(t, microseg_endpoint_add_veth(t->ctx, &vo, &ep));
	}
	e->ep = ep;
	t->n_eps++;
	e->ifindex = if_nametoindex(e->host_if);
	for (size_t i = 0; i < microseg_identity_label_count(id); i++)
		snprintf(labels + strlen(labels), sizeof(labels) - strlen(labels), "%s%s",
			 i ? " " : "", microseg_identity_label(id, i));
	e2e_log("endpoint %s: id %u ifindex %u ns %s %s %s identity %u {%s} (%lld ms)", e->name,
		microseg_endpoint_id(ep), e->ifindex, e->ns, e->v4, e->v6,
		microseg_identity_id(id), labels, topo_now_ms() - t0);
	E2E_CHECK(e->ifindex != 0, "host veth %s does not exist", e->host_if);
	return e;
}

/* What the handle of a new endpoint reports is what e2e_add_ep() asked for. */
static void check_new_handle(const struct e2e_ep *e, const struct microseg_identity *id)
{
	const struct microseg_endpoint *ep = e->ep;
	const char *x, *y;

	E2E_CHECK(microseg_endpoint_id(ep) != 0, "endpoint id 0");
	E2E_CHECK(microseg_endpoint_ifindex(ep) == e->ifindex, "ifindex %u, want %u",
		  microseg_endpoint_ifindex(ep), e->ifindex);
	E2E_CHECK(!strcmp(microseg_endpoint_ifname(ep), e->host_if), "ifname %s",
		  microseg_endpoint_ifname(ep));
	E2E_CHECK(!strcmp(microseg_endpoint_name(ep), e->name), "name %s",
		  microseg_endpoint_name(ep));
	E2E_CHECK(microseg_endpoint_identity(ep) &&
			  microseg_identity_id(microseg_endpoint_identity(ep)) ==
				  microseg_identity_id(id),
		  "identity of the new endpoint");
	E2E_CHECK(microseg_endpoint_addr_count(ep) == 2, "%zu addresses",
		  microseg_endpoint_addr_count(ep));
	x = microseg_endpoint_addr(ep, 0);
	y = microseg_endpoint_addr(ep, 1);
	E2E_CHECK(x && y &&
			  ((same_addr(x, e->v4) && same_addr(y, e->v6)) ||
			   (same_addr(x, e->v6) && same_addr(y, e->v4))),
		  "addresses %s %s, want %s %s", x ? x : "(null)", y ? y : "(null)", e->v4, e->v6);
	E2E_CHECK(!strchr(x, '/') && !strchr(y, '/'), "address with a prefix: %s %s", x, y);
}

struct e2e_ep *e2e_add_ep(struct e2e *t, const char *app, bool no_server)
{
	struct microseg_identity *id = e2e_identity(t, app);
	struct e2e_ep *e = e2e_add_ep_ex(t, NULL, app, id);

	check_new_handle(e, id);
	/* The endpoint holds its own reference. */
	E2E_OK(t, microseg_identity_put(t->ctx, id));
	if (!no_server)
		start_server(e);
	return e;
}

void e2e_refresh_handles(struct e2e *t)
{
	for (int i = 0; i < t->n_eps; i++) {
		struct e2e_ep *e = &t->eps[i];

		e->ep = NULL;
		E2E_OK(t, microseg_endpoint_lookup(t->ctx, e->name, &e->ep));
	}
}

/* ---- traffic ---- */

bool e2e_tcp(const struct e2e_ep *from, const char *addr, const char *expect_name)
{
	char url[96], out[256], want[96];
	int r;

	if (strchr(addr, ':'))
		snprintf(url, sizeof(url), "http://[%s]:%d/", addr, E2E_PORT);
	else
		snprintf(url, sizeof(url), "http://%s:%d/", addr, E2E_PORT);
	snprintf(want, sizeof(want), "microseg-e2e %s\n", expect_name);
	r = topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), "curl", "-sS", "-g", "--noproxy",
		      "*", "--connect-timeout", "5", "--max-time", "8", url, NULL);
	if (r != 0 || strcmp(out, want)) {
		e2e_log("  tcp %s -> %s: curl exit %d, body '%s'", from->name, url, r, out);
		return false;
	}
	return true;
}

bool e2e_udp(const struct e2e_ep *from, const char *addr)
{
	char port[16];
	int r;

	snprintf(port, sizeof(port), "%d", E2E_PORT);
	r = topo_runl(from->ns, RUN_TIMEOUT_MS, NULL, 0, e2e_python(), peer_script(), "udp-ping",
		      addr, port, NULL);
	if (r != 0) {
		e2e_log("  udp %s -> %s: exit %d", from->name, addr, r);
		return false;
	}
	return true;
}

bool e2e_ping_src(const struct e2e_ep *from, const char *src, const char *addr)
{
	const char *argv[16];
	char out[1024];
	int n = 0, r;

	argv[n++] = "ping";
	argv[n++] = "-n";
	argv[n++] = "-q";
	argv[n++] = "-c";
	argv[n++] = "1";
	argv[n++] = "-W";
	argv[n++] = "3";
	if (src) {
		argv[n++] = "-I";
		argv[n++] = src;
	}
	argv[n++] = addr;
	argv[n] = NULL;
	r = topo_run(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), argv);
	if (r != 0) {
		e2e_log("  ping %s -> %s%s%s: exit %d: %s", from->name, addr, src ? " from " : "",
			src ? src : "", r, out);
		return false;
	}
	return true;
}

bool e2e_ping(const struct e2e_ep *from, const char *addr)
{
	return e2e_ping_src(from, NULL, addr);
}

int e2e_check_pair(const struct e2e_ep *from, const struct e2e_ep *to)
{
	int failed = 0;
	const char *addrs[2] = { to->v4, to->v6 };

	for (int i = 0; i < 2; i++) {
		failed += !e2e_tcp(from, addrs[i], to->name);
		failed += !e2e_udp(from, addrs[i]);
		failed += !e2e_ping(from, addrs[i]);
	}
	return failed;
}

/* ---- counters and maps ---- */

void e2e_stats(struct e2e *t, const struct e2e_ep *e, struct microseg_endpoint_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->sz = sizeof(*s);
	E2E_OK(t, microseg_endpoint_get_stats(t->ctx, e->ep, s));
}

void e2e_peer(const char *ns, char *out, size_t outlen, int timeout_ms, const char *arg, ...)
{
	const char *argv[32];
	va_list ap;
	int n = 0, r;

	argv[n++] = e2e_python();
	argv[n++] = peer_script();
	argv[n++] = arg;
	va_start(ap, arg);
	collect_args(argv, n, ap);
	va_end(ap);
	r = topo_run(ns, timeout_ms, out, outlen, argv);
	if (r != 0)
		e2e_fail_at(__FILE__, __LINE__, "peer.py %s in %s exited %d", arg, ns ? ns : "host",
			    r);
	if (out) {
		char *nl = strchr(out, '\n');

		if (nl)
			*nl = '\0';
	}
}

const char *e2e_pin(struct e2e *t, const char *map_name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", t->bpffs_dir, map_name);
	return buf;
}

bool e2e_ipcache_get(struct e2e *t, const char *addr, uint32_t *identity, uint32_t *ifindex,
		     uint32_t *ep_id)
{
	char pin[MICROSEG_PATH_MAX + 32], out[128];
	unsigned a, b, c, d;

	e2e_peer(NULL, out, sizeof(out), RUN_TIMEOUT_MS, "ipcache-get",
		 e2e_pin(t, "ms_ipcache", pin, sizeof(pin)), addr, NULL);
	if (!strcmp(out, "none"))
		return false;
	E2E_CHECK(sscanf(out, "%u %u %u %u", &a, &b, &c, &d) == 4, "ipcache-get said '%s'", out);
	if (identity)
		*identity = a;
	if (ifindex)
		*ifindex = b;
	if (ep_id)
		*ep_id = c;
	return true;
}

uint32_t e2e_config_flags(struct e2e *t)
{
	char pin[MICROSEG_PATH_MAX + 32], out[64];
	unsigned flags;

	e2e_peer(NULL, out, sizeof(out), RUN_TIMEOUT_MS, "config-flags",
		 e2e_pin(t, "ms_config", pin, sizeof(pin)), NULL);
	E2E_CHECK(sscanf(out, "%u", &flags) == 1, "config-flags said '%s'", out);
	return flags;
}

bool e2e_endpoint_map_get(struct e2e *t, uint32_t ifindex, uint32_t *ep_id, uint32_t *identity)
{
	char pin[MICROSEG_PATH_MAX + 32], out[128], idx[16];
	unsigned a, b, c;

	snprintf(idx, sizeof(idx), "%u", ifindex);
	e2e_peer(NULL, out, sizeof(out), RUN_TIMEOUT_MS, "endpoint-get",
		 e2e_pin(t, "ms_endpoints", pin, sizeof(pin)), idx, NULL);
	if (!strcmp(out, "none"))
		return false;
	E2E_CHECK(sscanf(out, "%u %u %u", &a, &b, &c) == 3, "endpoint-get said '%s'", out);
	if (ep_id)
		*ep_id = a;
	if (identity)
		*identity = b;
	return true;
}

static int count_bpf_filters(char *out)
{
	int n = 0;

	/* tc prints a chain line and then one line per filter, with its handle. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		n += strstr(line, " bpf ") && strstr(line, " handle ");
	return n;
}

int e2e_tc_bpf_filters(const char *ifname, const char *dir)
{
	char out[8192], cmd[128];
	int r, n = -1, same = 0;

	/*
	 * A dump that races with link changes anywhere on the machine (other tests create and
	 * delete links all the time) is flagged as interrupted and may be incomplete. Take the
	 * first whole dump, or the answer three interrupted dumps in a row agree on.
	 */
	snprintf(cmd, sizeof(cmd), "tc filter show dev %s %s 2>&1", ifname, dir);
	for (int attempt = 0; attempt < 40; attempt++) {
		bool interrupted;
		int c;

		r = topo_runl(NULL, RUN_TIMEOUT_MS, out, sizeof(out), "sh", "-c", cmd, NULL);
		if (r != 0)
			return -1;
		if (getenv("MICROSEG_E2E_DEBUG"))
			fprintf(stderr, "tc filter show dev %s %s:\n%s", ifname, dir, out);
		interrupted = strstr(out, "Dump was interrupted") != NULL;
		c = count_bpf_filters(out);
		if (!interrupted)
			return c;
		same = c == n ? same + 1 : 1;
		n = c;
		if (same >= 3)
			return c;
		topo_sleep_ms(20 + attempt * 5);
	}
	e2e_fail_at(__FILE__, __LINE__, "tc dumps of %s %s kept being interrupted", ifname, dir);
}

void e2e_stream_start(struct e2e_stream *s, const struct e2e_ep *from, const struct e2e_ep *to,
		      const char *to_addr, int port, double seconds)
{
	char p[16], secs[16];
	const char *sink[] = { e2e_python(), peer_script(), "tcp-sink", p, NULL };
	/* 64 KiB every 5 ms: about 13 MB/s, enough to span every step of a test without
	 * saturating two cores. */
	const char *source[] = { e2e_python(), peer_script(), "tcp-source", to_addr, p, secs,
				 "65536", "5", NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(secs, sizeof(secs), "%.2f", seconds);
	memset(s, 0, sizeof(*s));
	s->sink = e2e_spawn_ready(to->ns, sink, &s->sink_fd, "tcp-sink");
	s->source = topo_spawn(from->ns, &s->source_fd, source);
	E2E_CHECK(s->source > 0, "spawn tcp-source");
}

void e2e_stream_finish(struct e2e_stream *s, uint64_t *sent, uint64_t *received)
{
	char out[128];
	int r;

	r = topo_read_all(s->source_fd, out, sizeof(out), 60000);
	close(s->source_fd);
	E2E_CHECK(r >= 0, "tcp-source output: %s", strerror(-r));
	r = topo_wait(s->source, 10000);
	E2E_CHECK(r == 0, "tcp-source exited %d (output '%s')", r, out);
	*sent = strtoull(out, NULL, 10);

	r = topo_read_all(s->sink_fd, out, sizeof(out), 30000);
	close(s->sink_fd);
	E2E_CHECK(r >= 0, "tcp-sink output: %s", strerror(-r));
	r = topo_wait(s->sink, 10000);
	E2E_CHECK(r == 0, "tcp-sink exited %d (output '%s')", r, out);
	*received = strtoull(out, NULL, 10);
}
