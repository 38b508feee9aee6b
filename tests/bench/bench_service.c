// SPDX-License-Identifier: Apache-2.0
/*
 * bench-service: what a service frontend costs a client, and what installing many services
 * costs, against kube-proxy's iptables mode (see README.md, "Service benchmark").
 *
 *   part 1  connect() + a 64-byte request and its 64-byte answer, one new TCP connection per
 *           sample, with 10, 1,000 and 10,000 services installed: straight to the backend,
 *           to a frontend translated by the socket load balancer, to a frontend translated
 *           per packet by the client endpoint's program, and to a frontend DNATed by
 *           kube-proxy-style iptables rules (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-*) with
 *           as many services, the one measured last in the chain;
 *   part 2  installing 10,000 services of 10 backends each through the API, against
 *           iptables-restore of the equivalent kube-proxy rules (legacy and nft back ends).
 *
 * Topology (part 1): four endpoints of one instance, each in its own namespace: the server
 * S (a C accept loop: read 64 bytes, write 64, close), the client CM (direct connections and
 * the socket load balancer), the client CP (per-packet translation; a namespace of its own
 * because a translated connection's reverse entry outlives it and would capture a later direct
 * connection from the same port) and the client CI (the same path, with the iptables rules in
 * its namespace).
 * The bench process is the client: it enters CM or CI for each batch and runs in a child
 * cgroup v2, the socket load balancer's lb_cgroup; for the per-packet variant it steps out of
 * that cgroup for the batch. Variants are interleaved in rounds, so a change of load hits
 * them alike.
 *
 * Needs root (exits 77 otherwise). Every name carries the PID; namespaces, the server, pins,
 * state, scratch files and the cgroup go at exit, on failure and on signals (tests/lib/topo,
 * svc_cgroup's reaper). iptables only ever runs inside the bench's own namespaces.
 */
#include "svc_cgroup.h"
#include "topo.h"

#include <microseg/microseg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SERVER_PORT 8080
#define VIP_PORT 80
#define MSG 64
#define MAX_COUNTS 8
#define WARMUP 200

enum variant { V_DIRECT, V_VIP_SOCK, V_VIP_TC, V_IPT, V_N };

static const char *const variant_names[V_N] = { "direct", "VIP socket LB", "VIP per packet",
						 "iptables DNAT" };

struct sbench {
	pid_t pid;
	int subnet;
	int verbose;
	unsigned iters;  /* connections per variant and service count */
	unsigned rounds; /* interleaved rounds they are split into */
	unsigned counts[MAX_COUNTS];
	size_t n_counts;
	unsigned inst_services, inst_backends;
	bool inst_maglev; /* part 2 services use Maglev (default table size) */
	bool inst_batch;  /* part 2 adds a service's backends in one add_many call */
	bool part[3];
	bool nft_latency; /* iptables-nft instead of iptables-legacy for part 1 */
	bool state_tmpfs; /* the instances' state directory on /dev/shm */
	char workdir[64];
	struct svc_cgroup cg;

	/* part 1 */
	struct microseg_ctx *ctx;
	const char *ns_srv, *ns_cm, *ns_cp, *ns_ci;
	int fd_cm, fd_cp, fd_ci, fd_orig;
	char srv_addr[INET_ADDRSTRLEN];
	unsigned installed; /* services in the part-1 instance */
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vlog(const struct sbench *b, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void vlog(const struct sbench *b, int level, const char *fmt, ...)
{
	va_list ap;

	if (b->verbose < level)
		return;
	va_start(ap, fmt);
	fputs("  .. ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-service: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "re");
	double a = 0, c = 0, d = 0;

	if (!f || fscanf(f, "%lf %lf %lf", &a, &c, &d) != 3)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%.2f %.2f %.2f", a, c, d);
	if (f)
		fclose(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median and nearest-rank p99 of v[0..n) in microseconds (sorts v). */
static void stats_us(uint64_t *v, size_t n, double *median, double *p99)
{
	size_t r;

	*median = *p99 = 0;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	*median = (n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0) / 1e3;
	r = (n * 99 + 99) / 100; /* ceil(0.99 n) */
	*p99 = (double)v[(r ? r : 1) - 1] / 1e3;
}

/* Frontend k of a range: 10.<net>.<k / 256>.<k % 256> (k < 65536). */
static void addr_of(char *buf, size_t len, unsigned net, unsigned k)
{
	snprintf(buf, len, "10.%hhu.%hhu.%hhu", (uint8_t)(net + k / 65536), (uint8_t)(k / 256),
		 (uint8_t)k);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");
	size_t w;

	if (!f)
		return -errno;
	w = fwrite(data, 1, len, f);
	return fclose(f) == 0 && w == len ? 0 : -EIO;
}

static int enter_ns(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

static int open_ns(const char *ns)
{
	const char *path = topo_netns_path(ns);

	return path ? open(path, O_RDONLY | O_CLOEXEC) : -ENOENT;
}

/* ---- the server (this binary again, inside S) ---- */

static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[MSG];

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4096)) {
		perror("bench-service serve");
		return 1;
	}
	memset(buf, 'r', sizeof(buf));
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (read_full(c, buf, MSG) == 0)
			(void)!write(c, buf, MSG);
		close(c);
	}
}

/* ---- the client ---- */

/*
 * One sample: socket(), connect(), 64 bytes out, 64 back; the time of all that. The socket is
 * then reset (SO_LINGER 0) rather than left in TIME_WAIT, so thousands of samples never run
 * out of ports. If peer is given, getpeername() must equal it (the frontend).
 */
static int one_request(const struct sockaddr_in *dst, const struct sockaddr_in *peer,
		       uint64_t *ns)
{
	static const struct timeval io_timeout = { .tv_sec = 3 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[MSG];
	uint64_t t0 = now_ns();
	int one = 1, err = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(buf, 'q', sizeof(buf));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A lost connection fails the run in seconds, not after the kernel's SYN retries. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 ||
	    write(fd, buf, MSG) != MSG || read_full(fd, buf, MSG) < 0)
		err = errno ? -errno : -EIO;
	if (!err)
		*ns = now_ns() - t0;
	if (!err && peer) {
		struct sockaddr_in got;
		socklen_t len = sizeof(got);

		if (getpeername(fd, (struct sockaddr *)&got, &len) < 0 ||
		    got.sin_addr.s_addr != peer->sin_addr.s_addr || got.sin_port != peer->sin_port)
			err = -EADDRNOTAVAIL;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return err;
}

struct target {
	struct sockaddr_in dst;
	bool check_peer; /* getpeername() must be dst */
	int ns_fd;
	bool outside_cgroup;
};

/* n samples of one variant into out[]; 0 or -errno (the first failure). */
static int batch(struct sbench *b, const struct target *tg, uint64_t *out, unsigned n)
{
	int err = enter_ns(tg->ns_fd);

	if (!err && tg->outside_cgroup)
		err = svc_cgroup_leave(&b->cg);
	for (unsigned i = 0; !err && i < n; i++) {
		uint64_t scratch;

		err = one_request(&tg->dst, tg->check_peer ? &tg->dst : NULL, out ? &out[i] : &scratch);
	}
	if (tg->outside_cgroup) {
		int e = svc_cgroup_enter(&b->cg);

		err = err ? err : e;
	}
	enter_ns(b->fd_orig);
	return err;
}

/* ---- part 1 set-up ---- */

static void lib_log(void *user, int level, const char *line)
{
	(void)user;
	fprintf(stderr, "  microseg[%d]: %s\n", level, line);
}

static int open_instance(struct sbench *b, const char *suffix, uint32_t max_services,
			 uint32_t max_backends, uint32_t max_lb_slots, struct microseg_ctx **ctx)
{
	char inst[MICROSEG_INSTANCE_NAME_MAX + 1], path[128], state[128];
	int err;

	snprintf(inst, sizeof(inst), "sb%d%s", (int)b->pid, suffix);
	/* Recorded before they exist: a crash half-way through open leaves nothing. */
	snprintf(path, sizeof(path), "/sys/fs/bpf/microseg/%s", inst);
	if ((err = topo_track_dir(path)))
		return err;
	snprintf(state, sizeof(state), "%s/%s", b->state_tmpfs ? "/dev/shm" : "/run/microseg", inst);
	if ((err = topo_track_dir(state)))
		return err;
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = inst, .state_dir = state,
		      .lb_cgroup = b->cg.path,
		      .max_services = max_services, .max_backends = max_backends,
		      .max_lb_slots = max_lb_slots, .log_fn = lib_log,
		      .log_level = b->verbose >= 2 ? MICROSEG_LOG_INFO : MICROSEG_LOG_ERROR);
	err = microseg_ctx_open(&o, ctx);
	if (err)
		fail("microseg_ctx_open(%s): %s", inst, microseg_strerror(err));
	return err;
}

/* Forwarding off on the host end: a frontend packet left untranslated dies in the host. */
static void no_forwarding(const char *ifname)
{
	static const char *const fmt[] = { "/proc/sys/net/ipv4/conf/%s/forwarding",
					   "/proc/sys/net/ipv6/conf/%s/forwarding" };

	for (int i = 0; i < 2; i++) {
		char path[128];

		snprintf(path, sizeof(path), fmt[i], ifname);
		write_file(path, "0\n", 2);
	}
}

static int add_endpoint(struct sbench *b, struct microseg_identity *id, const char *ns, int host)
{
	char addr[INET_ADDRSTRLEN + 3], name[48];
	const char *addrs[1] = { addr };
	const char *ifname = topo_ifname();
	struct microseg_endpoint *ep = NULL;
	int err;

	if (!ifname)
		return -ENOSPC;
	snprintf(addr, sizeof(addr), "10.200.%d.%d/32", b->subnet, host);
	snprintf(name, sizeof(name), "svcbench-%d-%d", (int)b->pid, host);
	MICROSEG_OPTS(microseg_veth_opts, vo, .host_ifname = ifname,
		      .netns_path = topo_netns_path(ns), .addrs = addrs, .n_addrs = 1,
		      .identity = id, .name = name);
	err = microseg_endpoint_add_veth(b->ctx, &vo, &ep);
	if (err)
		return fail("endpoint %s: %s (%s)", addr, microseg_strerror(err),
			    microseg_ctx_last_error(b->ctx));
	no_forwarding(ifname);
	return 0;
}

static int setup_topology(struct sbench *b)
{
	char port[16];
	const char *argv[] = { "/proc/self/exe", "--serve", port, NULL };
	const char *labels[] = { "k8s:app=svcbench" };
	struct microseg_identity *id = NULL;
	int err, fd = -1;
	char line[32] = "";
	pid_t srv;

	b->ns_srv = topo_netns_add("s");
	b->ns_cm = b->ns_srv ? topo_netns_add("cm") : NULL;
	b->ns_cp = b->ns_cm ? topo_netns_add("cp") : NULL;
	b->ns_ci = b->ns_cp ? topo_netns_add("ci") : NULL;
	if (!b->ns_ci)
		return fail("netns: %s", strerror(errno));
	/* The server before the instance exists: it must not inherit the instance's lock. */
	snprintf(port, sizeof(port), "%d", SERVER_PORT);
	srv = topo_spawn(b->ns_srv, &fd, argv);
	if (srv < 0 || topo_read_line(fd, line, sizeof(line), 10000) <= 0 || strcmp(line, "ready"))
		return fail("server did not start ('%s')", line);
	close(fd);
	if ((err = open_instance(b, "", 0, 0, 0, &b->ctx)))
		return err;
	if ((err = microseg_identity_get(b->ctx, labels, 1, &id)))
		return fail("identity: %s", microseg_strerror(err));
	err = add_endpoint(b, id, b->ns_srv, 1) ?: add_endpoint(b, id, b->ns_cm, 2) ?:
	      add_endpoint(b, id, b->ns_cp, 3) ?: add_endpoint(b, id, b->ns_ci, 4);
	microseg_identity_put(b->ctx, id);
	if (err)
		return err;
	snprintf(b->srv_addr, sizeof(b->srv_addr), "10.200.%d.1", b->subnet);
	b->fd_cm = open_ns(b->ns_cm);
	b->fd_cp = open_ns(b->ns_cp);
	b->fd_ci = open_ns(b->ns_ci);
	b->fd_orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (b->fd_cm < 0 || b->fd_cp < 0 || b->fd_ci < 0 || b->fd_orig < 0)
		return fail("namespace fds: %s", strerror(errno));
	return 0;
}

/* Services up to n: frontend k is 10.96.x.y:80; the last of every measured count goes to the
 * server, the others to addresses nobody has (10.98.x.y). One backend each. */
static int grow_services(struct sbench *b, unsigned n)
{
	char vip[INET_ADDRSTRLEN], be[INET_ADDRSTRLEN];

	for (unsigned k = b->installed; k < n; k++) {
		struct microseg_service *svc = NULL;
		bool measured = false;
		int err;

		for (size_t i = 0; i < b->n_counts; i++)
			measured |= k + 1 == b->counts[i];
		addr_of(vip, sizeof(vip), 96, k);
		addr_of(be, sizeof(be), 98, k);
		MICROSEG_OPTS(microseg_service_opts, so, .address = vip, .port = VIP_PORT,
			      .proto = MICROSEG_PROTO_TCP, .algorithm = MICROSEG_LB_RANDOM);
		MICROSEG_OPTS(microseg_backend_opts, bo, .address = measured ? b->srv_addr : be,
			      .port = SERVER_PORT);
		err = microseg_service_add(b->ctx, &so, &svc) ?:
		      microseg_service_backend_add(b->ctx, svc, &bo);
		if (err)
			return fail("service %u (%s): %s (%s)", k, vip, microseg_strerror(err),
				    microseg_ctx_last_error(b->ctx));
	}
	b->installed = n;
	return 0;
}

/*
 * kube-proxy's iptables mode for services 0..n-1 (frontends 10.97.x.y:80), each with
 * `backends` endpoints: KUBE-SERVICES matches each frontend and jumps to its KUBE-SVC chain,
 * which picks an endpoint with statistic --mode random (probability 1/remaining) and jumps to
 * its KUBE-SEP chain, which DNATs. Endpoints are 10.98.x.y:8080 nobody has, except that
 * service `to_server` (if < n) has the server as its only endpoint. Returns a malloc()ed
 * nat table for iptables-restore.
 */
static char *kube_proxy_rules(unsigned n, unsigned backends, unsigned to_server,
			      const char *server, size_t *len)
{
	char *text = NULL, vip[INET_ADDRSTRLEN], be[INET_ADDRSTRLEN];
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	fprintf(f, "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		   ":POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n");
	for (unsigned k = 0; k < n; k++) {
		unsigned nb = k == to_server ? 1 : backends;

		fprintf(f, ":KUBE-SVC-%06u - [0:0]\n", k);
		for (unsigned j = 0; j < nb; j++)
			fprintf(f, ":KUBE-SEP-%06u-%03u - [0:0]\n", k, j);
	}
	fprintf(f, "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n");
	for (unsigned k = 0; k < n; k++) {
		unsigned nb = k == to_server ? 1 : backends;

		addr_of(vip, sizeof(vip), 97, k);
		fprintf(f, "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport %d -j KUBE-SVC-%06u\n", vip,
			VIP_PORT, k);
		for (unsigned j = 0; j < nb; j++) {
			if (j + 1 < nb)
				fprintf(f, "-A KUBE-SVC-%06u -m statistic --mode random --probability "
					   "%.11f -j KUBE-SEP-%06u-%03u\n",
					k, 1.0 / (double)(nb - j), k, j);
			else
				fprintf(f, "-A KUBE-SVC-%06u -j KUBE-SEP-%06u-%03u\n", k, k, j);
			addr_of(be, sizeof(be), 98, k * backends + j);
			fprintf(f, "-A KUBE-SEP-%06u-%03u -p tcp -m tcp -j DNAT --to-destination %s:%d\n",
				k, j, k == to_server ? server : be, SERVER_PORT);
		}
	}
	fprintf(f, "COMMIT\n");
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* iptables-restore (legacy or nft) of a rules text inside ns; its wall time in *ms. */
static int ipt_restore(struct sbench *b, const char *ns, bool nft, const char *text, size_t len,
		       double *ms)
{
	char path[128], out[512];
	const char *argv[] = { nft ? "iptables-nft-restore" : "iptables-legacy-restore", path, NULL };
	uint64_t t0;
	int r;

	snprintf(path, sizeof(path), "%s/nat-%s.rules", b->workdir, nft ? "nft" : "legacy");
	if ((r = write_file(path, text, len)))
		return fail("%s: %s", path, strerror(-r));
	t0 = now_ns();
	r = topo_run(ns, 600000, out, sizeof(out), argv);
	*ms = (double)(now_ns() - t0) / 1e6;
	unlink(path);
	if (r != 0)
		return fail("%s in %s exited %d: %s", argv[0], ns, r, out);
	return 0;
}

/* ---- part 1 ---- */

struct cell {
	double med[V_N], p99[V_N];
	double ipt_load_ms;
};

static int measure_count(struct sbench *b, unsigned n, struct cell *c)
{
	struct target tg[V_N];
	uint64_t *s[V_N] = { NULL };
	unsigned per = b->iters / b->rounds, got = 0;
	char vip[INET_ADDRSTRLEN];
	size_t len;
	char *rules;
	int err = 0;

	if ((err = grow_services(b, n)))
		return err;
	rules = kube_proxy_rules(n, 1, n - 1, b->srv_addr, &len);
	if (!rules)
		return fail("out of memory");
	err = ipt_restore(b, b->ns_ci, b->nft_latency, rules, len, &c->ipt_load_ms);
	free(rules);
	if (err)
		return err;

	memset(tg, 0, sizeof(tg));
	for (int v = 0; v < V_N; v++) {
		tg[v].dst.sin_family = AF_INET;
		tg[v].ns_fd = b->fd_cm;
	}
	inet_pton(AF_INET, b->srv_addr, &tg[V_DIRECT].dst.sin_addr);
	tg[V_DIRECT].dst.sin_port = htons(SERVER_PORT);
	addr_of(vip, sizeof(vip), 96, n - 1);
	for (int v = V_VIP_SOCK; v <= V_VIP_TC; v++) {
		inet_pton(AF_INET, vip, &tg[v].dst.sin_addr);
		tg[v].dst.sin_port = htons(VIP_PORT);
		tg[v].check_peer = true;
	}
	tg[V_VIP_TC].outside_cgroup = true;
	tg[V_VIP_TC].ns_fd = b->fd_cp;
	addr_of(vip, sizeof(vip), 97, n - 1);
	inet_pton(AF_INET, vip, &tg[V_IPT].dst.sin_addr);
	tg[V_IPT].dst.sin_port = htons(VIP_PORT);
	tg[V_IPT].ns_fd = b->fd_ci;

	/* Warm-up, untimed: caches, the first connection entries, the frontend's path. */
	for (int v = 0; v < V_N && !err; v++)
		if ((err = batch(b, &tg[v], NULL, WARMUP)))
			fail("%u services, %s: warm-up connection failed: %s", n, variant_names[v],
			     strerror(-err));
	for (int v = 0; v < V_N && !err; v++)
		if (!(s[v] = calloc(per * b->rounds, sizeof(uint64_t))))
			err = -ENOMEM;
	for (unsigned r = 0; r < b->rounds && !err; r++) {
		for (int v = 0; v < V_N && !err; v++)
			if ((err = batch(b, &tg[v], s[v] + got, per)))
				fail("%u services, %s: %s", n, variant_names[v], strerror(-err));
		got += per;
		vlog(b, 1, "%u services: round %u of %u done", n, r + 1, b->rounds);
	}
	for (int v = 0; v < V_N; v++) {
		if (!err)
			stats_us(s[v], got, &c->med[v], &c->p99[v]);
		free(s[v]);
	}
	return err;
}

static int run_latency(struct sbench *b)
{
	struct cell cells[MAX_COUNTS];
	char la0[64], la1[64];
	uint64_t t0 = now_ns();
	int err;

	loadavg(la0, sizeof(la0));
	printf("== part 1: connect() + 64-byte request/response, us per connection (median / p99) ==\n");
	fflush(stdout);
	if ((err = setup_topology(b)))
		return err;
	for (size_t i = 0; i < b->n_counts; i++) {
		vlog(b, 1, "measuring with %u services", b->counts[i]);
		if ((err = measure_count(b, b->counts[i], &cells[i])))
			return err;
	}
	loadavg(la1, sizeof(la1));

	printf("%-9s| %-17s| %-17s %-8s| %-17s %-8s| %-17s %-8s| %s\n", "services", "direct",
	       "VIP socket LB", "/direct", "VIP per packet", "/direct",
	       b->nft_latency ? "iptables-nft" : "iptables-legacy", "/direct", "rules load ms");
	for (size_t i = 0; i < b->n_counts; i++) {
		const struct cell *c = &cells[i];

		printf("%-9u| %7.1f / %7.1f | %7.1f / %7.1f %6.2fx | %7.1f / %7.1f %6.2fx | "
		       "%7.1f / %7.1f %6.2fx | %.0f\n",
		       b->counts[i], c->med[V_DIRECT], c->p99[V_DIRECT], c->med[V_VIP_SOCK],
		       c->p99[V_VIP_SOCK], c->med[V_VIP_SOCK] / c->med[V_DIRECT], c->med[V_VIP_TC],
		       c->p99[V_VIP_TC], c->med[V_VIP_TC] / c->med[V_DIRECT], c->med[V_IPT],
		       c->p99[V_IPT], c->med[V_IPT] / c->med[V_DIRECT], c->ipt_load_ms);
	}
	printf("(%u connections per cell in %u interleaved rounds after %d warm-up ones; ratios "
	       "of medians; the frontend measured is the last of the N services, for iptables the "
	       "last rule of KUBE-SERVICES; loadavg %s -> %s; %.0f s)\n",
	       (b->iters / b->rounds) * b->rounds, b->rounds, WARMUP, la0, la1,
	       (double)(now_ns() - t0) / 1e9);
	for (size_t i = 0; i < b->n_counts; i++)
		if (b->counts[i] == 10000) {
			double r = cells[i].med[V_VIP_SOCK] / cells[i].med[V_DIRECT];

			printf("target: VIP connect within 1.05x of direct at 10,000 services: %.3fx (%s)\n",
			       r, r <= 1.05 ? "met" : "not met");
		}

	{
		uint64_t p0 = now_ns();

		err = microseg_ctx_purge(b->ctx);
		printf("(instance with %u services purged in %.0f ms)\n\n", b->installed,
		       (double)(now_ns() - p0) / 1e6);
		microseg_ctx_close(b->ctx);
		b->ctx = NULL;
	}
	fflush(stdout);
	return err ? fail("purge: %s", microseg_strerror(err)) : 0;
}

/* ---- part 2 ---- */

static int run_install(struct sbench *b)
{
	unsigned ns = b->inst_services, nb = b->inst_backends;
	struct microseg_ctx *ctx = NULL;
	char vip[INET_ADDRSTRLEN], be[INET_ADDRSTRLEN], la0[64], la1[64];
	double api_ms, purge_ms, ipt_ms[2] = { -1, -1 };
	uint64_t t0;
	size_t len;
	char *rules;
	int err;

	loadavg(la0, sizeof(la0));
	printf("== part 2: installing %u services with %u backends each (%s, %s) ==\n", ns, nb,
	       b->inst_maglev ? "Maglev" : "weighted random",
	       b->inst_batch ? "backends in one call per service" : "one call per backend");
	fflush(stdout);
	/* Room for all of it where the defaults are short: two slot halves per backend, or per
	 * Maglev table entry. */
	unsigned slots = b->inst_maglev ? 2 * ns * MICROSEG_MAGLEV_DEFAULT_SIZE + 16 : 4 * ns * nb;
	if ((err = open_instance(b, "i", ns > 65536 ? ns : 0, ns * nb + 16 > 262144 ? ns * nb + 16 : 0,
				 slots > (1u << 21) ? slots : 0, &ctx)))
		return err;
	t0 = now_ns();
	for (unsigned k = 0; k < ns && !err; k++) {
		struct microseg_service *svc = NULL;

		addr_of(vip, sizeof(vip), 96, k);
		MICROSEG_OPTS(microseg_service_opts, so, .address = vip, .port = VIP_PORT,
			      .proto = MICROSEG_PROTO_TCP,
			      .algorithm = b->inst_maglev ? MICROSEG_LB_MAGLEV : MICROSEG_LB_RANDOM);
		err = microseg_service_add(ctx, &so, &svc);
		if (b->inst_batch && !err) {
			struct microseg_backend_opts bo[100];
			char addrs[100][INET_ADDRSTRLEN];

			for (unsigned j = 0; j < nb; j++) {
				addr_of(addrs[j], sizeof(addrs[j]), 98, k * nb + j);
				bo[j] = (struct microseg_backend_opts){ .sz = sizeof(bo[j]), .address = addrs[j],
									.port = SERVER_PORT };
			}
			err = microseg_service_backend_add_many(ctx, svc, bo, nb);
		}
		for (unsigned j = 0; j < nb && !err && !b->inst_batch; j++) {
			addr_of(be, sizeof(be), 98, k * nb + j);
			MICROSEG_OPTS(microseg_backend_opts, bo, .address = be, .port = SERVER_PORT);
			err = microseg_service_backend_add(ctx, svc, &bo);
		}
		if (!err && k % 1000 == 999)
			vlog(b, 1, "%u services installed, %.1f s", k + 1, (double)(now_ns() - t0) / 1e9);
	}
	api_ms = (double)(now_ns() - t0) / 1e6;
	if (err) {
		fail("service install: %s (%s)", microseg_strerror(err), microseg_ctx_last_error(ctx));
		microseg_ctx_close(ctx);
		return err;
	}
	t0 = now_ns();
	err = microseg_ctx_purge(ctx);
	purge_ms = (double)(now_ns() - t0) / 1e6;
	microseg_ctx_close(ctx);
	if (err)
		return fail("purge: %s", microseg_strerror(err));

	rules = kube_proxy_rules(ns, nb, ns, NULL, &len);
	if (!rules)
		return fail("out of memory");
	for (int nft = 0; nft < 2 && !err; nft++) {
		const char *n = topo_netns_add(nft ? "in" : "il");

		err = n ? ipt_restore(b, n, nft, rules, len, &ipt_ms[nft]) : fail("netns: %s", strerror(errno));
		vlog(b, 1, "iptables-%s-restore: %.0f ms", nft ? "nft" : "legacy", ipt_ms[nft]);
	}
	free(rules);
	if (err)
		return err;
	loadavg(la1, sizeof(la1));

	printf("%-52s %10s %14s %10s\n", "method", "seconds", "ms/service", "vs API");
	printf("%-52s %10.2f %14.3f %9.2fx\n",
	       b->inst_batch ? "libmicroseg API (service_add + backend_add_many)"
			     : "libmicroseg API (service_add + backend_add each)",
	       api_ms / 1e3, api_ms / ns, 1.0);
	printf("%-52s %10.2f %14.3f %9.2fx\n", "iptables-legacy-restore, kube-proxy rules",
	       ipt_ms[0] / 1e3, ipt_ms[0] / ns, ipt_ms[0] / api_ms);
	printf("%-52s %10.2f %14.3f %9.2fx\n", "iptables-nft-restore, kube-proxy rules",
	       ipt_ms[1] / 1e3, ipt_ms[1] / ns, ipt_ms[1] / api_ms);
	printf("(API: %u calls, %s, state directory on %s; iptables: %u "
	       "chains and %u rules in one restore, process start included; the instance was purged "
	       "in %.0f ms; loadavg %s -> %s)\n",
	       b->inst_batch ? 2 * ns : ns + ns * nb,
	       b->inst_batch ? "a service or its backends each" : "one service or backend each", b->state_tmpfs ? "/dev/shm" : "/run", 1 + ns + ns * nb,
	       2 + ns + 2 * ns * nb, purge_ms, la0, la1);
	printf("install time ratio, API / iptables-restore: %.2fx legacy, %.2fx nft\n\n",
	       api_ms / ipt_ms[0], api_ms / ipt_ms[1]);
	fflush(stdout);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-service [-p PARTS] [-v] [options]\n"
		"  -p, --parts LIST      1 (connection latency), 2 (install time); default 1,2\n"
		"  -n, --services LIST   service counts for part 1 (default 10,1000,10000)\n"
		"  -i, --iters N         connections per variant and count (part 1, default 20000)\n"
		"  --rounds N            interleaved rounds (part 1, default 20)\n"
		"  --nft                 part 1's iptables variant through iptables-nft (default legacy)\n"
		"  --install N           services to install (part 2, default 10000)\n"
		"  --backends N          backends per service (part 2, default 10)\n"
		"  --maglev              part 2's services use Maglev (default weighted random)\n"
		"  --batch               part 2 adds each service's backends in one call\n"
		"  --state-tmpfs         the library's state directory on /dev/shm (default /run)\n"
		"  -v                    progress; -v -v also the library's INFO log\n");
}

static int parse_counts(struct sbench *b, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	b->n_counts = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(t, NULL, 10);

		if (v < 1 || v > 60000 || b->n_counts == MAX_COUNTS ||
		    (b->n_counts && v <= b->counts[b->n_counts - 1])) {
			free(copy);
			return -1;
		}
		b->counts[b->n_counts++] = (unsigned)v;
	}
	free(copy);
	return b->n_counts ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "parts", required_argument, NULL, 'p' },
		{ "services", required_argument, NULL, 'n' },
		{ "iters", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "nft", no_argument, NULL, 'N' },
		{ "install", required_argument, NULL, 'I' },
		{ "backends", required_argument, NULL, 'B' },
		{ "maglev", no_argument, NULL, 'M' },
		{ "batch", no_argument, NULL, 'A' },
		{ "state-tmpfs", no_argument, NULL, 'T' },
		{ "serve", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sbench b = {
		.pid = getpid(),
		.iters = 20000,
		.rounds = 20,
		.inst_services = 10000,
		.inst_backends = 10,
		.fd_cm = -1,
		.fd_cp = -1,
		.fd_ci = -1,
		.fd_orig = -1,
	};
	const char *parts = "1,2", *counts = "10,1000,10000";
	char prefix[32];
	int opt, err = 0;

	while ((opt = getopt_long(argc, argv, "p:n:i:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': parts = optarg; break;
		case 'n': counts = optarg; break;
		case 'i': b.iters = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': b.rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'N': b.nft_latency = true; break;
		case 'I': b.inst_services = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'B': b.inst_backends = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'M': b.inst_maglev = true; break;
		case 'A': b.inst_batch = true; break;
		case 'T': b.state_tmpfs = true; break;
		case 'S': return serve(atoi(optarg));
		case 'v': b.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (const char *p = parts; *p; p++) {
		if (*p == '1' || *p == '2')
			b.part[*p - '0'] = true;
		else if (*p != ',') {
			usage(stderr);
			return 2;
		}
	}
	if (parse_counts(&b, counts) || !b.rounds || b.iters < b.rounds || !b.inst_services ||
	    b.inst_services > 60000 || !b.inst_backends || b.inst_backends > 100 ||
	    (uint64_t)b.inst_services * b.inst_backends > 1000000) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench-service: needs root (netns, veth, BPF, cgroups); skipping\n");
		return 77;
	}

	/* The cgroup's reaper first, before anything a child must not inherit. */
	snprintf(prefix, sizeof(prefix), "microseg-bench");
	if ((err = svc_cgroup_prepare(&b.cg, prefix))) {
		fprintf(stderr, "bench-service: no cgroup v2: %s\n", strerror(-err));
		return 1;
	}
	if ((err = topo_init("svcb"))) {
		fprintf(stderr, "bench-service: topo_init: %s\n", strerror(-err));
		return 1;
	}
	b.subnet = topo_subnet();
	snprintf(b.workdir, sizeof(b.workdir), "/tmp/sbench-%d", (int)b.pid);
	if (b.subnet <= 0 || mkdir(b.workdir, 0700) < 0 || topo_track_dir(b.workdir) ||
	    svc_cgroup_create(&b.cg) || topo_track_dir(b.cg.path) || svc_cgroup_enter(&b.cg)) {
		fprintf(stderr, "bench-service: set-up: %s\n", strerror(errno));
		return 1;
	}
	printf("bench-service: pid %d, cgroup %s, subnet 10.200.%d.0/24\n\n", (int)b.pid, b.cg.path,
	       b.subnet);
	fflush(stdout);

	if (b.part[1])
		err = run_latency(&b);
	if (!err && b.part[2])
		err = run_install(&b);

	if (b.ctx)
		microseg_ctx_close(b.ctx);
	/* Out of the cgroup and the server gone, so the teardown's rmdir of it works. */
	svc_cgroup_leave(&b.cg);
	topo_teardown();
	svc_cgroup_remove(&b.cg);
	return err ? 1 : 0;
}
