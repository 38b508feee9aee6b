// SPDX-License-Identifier: Apache-2.0
/*
 * Endpoint add/remove latency of libmicroseg next to the Debian CNI bridge plugin.
 *
 * For each N it times, one call at a time with CLOCK_MONOTONIC:
 *   (a) microseg_endpoint_add on a veth pair created beforehand (untimed): the datapath cost
 *       alone, TC attach plus map updates; removed with microseg_endpoint_remove(flags 0).
 *   (b) microseg_endpoint_add_veth: veth pair, move to the namespace, addresses, routes, links
 *       up, then the same attach; removed with MICROSEG_ENDPOINT_REMOVE_DELETE_LINK.
 *   (c) the bridge plugin, CNI ADD / DEL by fork+exec with the config on stdin, the way a
 *       runtime calls it: veth pair, namespace move, bridge port, host-local IPAM, address,
 *       default route.
 * (b) vs (c) is the like-for-like comparison (both hand a namespace a working interface);
 * (a) shows how much of (b) the datapath itself costs. See README.md next to this file.
 *
 * Needs root; exits 77 without it. Everything it creates carries its PID in the name and is
 * removed on exit, also after a failure or SIGINT/SIGTERM.
 */
#include "bench_nl.h"

#include <microseg/microseg.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns"
#define MAX_N 4000
#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

enum method { M_ADD, M_ADD_VETH, M_CNI, M_COUNT };

static const char *const method_label[M_COUNT] = { "(a) microseg add", "(b) microseg add_veth",
						   "(c) bridge ADD" };
static const char *const remove_label[M_COUNT] = { "(a) microseg remove", "(b) remove+del_link",
						   "(c) bridge DEL" };

struct samples {
	uint64_t *ns;
	size_t n;
};

struct row {
	size_t n_endpoints;
	size_t rounds;
	struct samples add[M_COUNT];
	struct samples del[M_COUNT];
	struct samples veth_create; /* the untimed set-up of (a), reported for reference */
};

struct bench {
	pid_t pid;
	char instance[MICROSEG_INSTANCE_NAME_MAX + 1];
	char workdir[64];
	char ipam_dir[80];
	char bridge[16];
	char cni_dir[PATH_MAX];
	char cni_plugin[PATH_MAX + 16];
	char cni_conf[1024];
	size_t cni_conf_len;
	bool run[M_COUNT]; /* methods selected with -m */
	int verbose; /* 1: progress, 2: also the library's INFO log */
	char state_dir[64]; /* empty: the library's default under /run/microseg */
	unsigned settle_ms; /* pause between methods for N >= 100 */
	char ip_forward_saved[8];

	size_t max_n;
	size_t n_ns;     /* namespaces created so far */
	bool *cni_added; /* containers the plugin may still hold (for clean-up) */

	struct microseg_ctx *ctx;
	struct microseg_identity *id;
	struct microseg_endpoint **eps;
	int nl; /* host-namespace rtnetlink socket */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ns_path(const struct bench *b, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, NETNS_DIR "/msb%d-%zu", (int)b->pid, i);
}

/* Host-side names: "mb<pid>a<i>" for (a), "mb<pid>v<i>" for (b). The letter keeps the names of
 * two runs apart even when one PID is a prefix of the other. At most 15 bytes for 7-digit PIDs
 * and i < 10000. */
static void host_ifname(const struct bench *b, char kind, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "mb%u%c%u", (unsigned)b->pid % 10000000u, kind, (unsigned)(i % 10000));
}

static void container_id(const struct bench *b, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "msbench-%d-%zu", (int)b->pid, i);
}

/* 10.202.0.0/16 for the library's endpoints, 10.201.0.0/16 for the bridge plugin: private,
 * apart from each other and from the 10.200/16 range the e2e tests use. */
static void endpoint_addr(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "10.202.%zu.%zu", i / 250, i % 250 + 2);
}

static void log_cb(void *user, int level, const char *line)
{
	(void)user;
	fprintf(stderr, "microseg[%d]: %s\n", level, line);
}

static int samples_init(struct samples *s, size_t cap)
{
	s->ns = calloc(cap ? cap : 1, sizeof(*s->ns));
	s->n = 0;
	return s->ns ? 0 : -ENOMEM;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct summary {
	double median_ms, p99_ms, first_ms, last_ms, total_s;
	bool valid;
};

static double median_of(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

/* Median and nearest-rank p99 of all samples; also the medians of the first and the last tenth
 * of one round (the call order within a round), which show whether the cost grows with the
 * number of endpoints already present. */
static struct summary summarize(const struct samples *s, size_t per_round)
{
	struct summary r = { .valid = s->n > 0 };
	if (!s->n)
		return r;
	uint64_t *v = malloc(s->n * sizeof(*v));
	if (!v)
		return (struct summary){ 0 };
	uint64_t total = 0;
	for (size_t i = 0; i < s->n; i++)
		total += s->ns[i];
	r.total_s = (double)total / 1e9;

	memcpy(v, s->ns, s->n * sizeof(*v));
	r.median_ms = median_of(v, s->n) / 1e6;
	size_t rank = (s->n * 99 + 99) / 100; /* ceil(0.99 n), 1-based */
	r.p99_ms = (double)v[rank - 1] / 1e6;

	size_t tenth = per_round / 10 ? per_round / 10 : 1;
	if (tenth > s->n)
		tenth = s->n;
	memcpy(v, s->ns, tenth * sizeof(*v));
	r.first_ms = median_of(v, tenth) / 1e6;
	/* The last tenth of the first round (every round has the same shape). */
	size_t end = per_round < s->n ? per_round : s->n;
	memcpy(v, s->ns + end - tenth, tenth * sizeof(*v));
	r.last_ms = median_of(v, tenth) / 1e6;
	free(v);
	return r;
}

/* ---- CNI plugin driver ---------------------------------------------------------------------- */

/* Runs the plugin once, the way a runtime does: env + config on stdin, result on stdout.
 * Returns the exit status (0 = success) or -errno; *elapsed gets the wall time of the whole
 * exchange, spawn to reaped child. */
static int cni_exec(struct bench *b, const char *command, const char *netns, const char *cid,
		    uint64_t *elapsed, char *out, size_t out_cap)
{
	char e_cmd[64], e_netns[PATH_MAX + 16], e_cid[96], e_path[PATH_MAX + 16];
	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", command);
	snprintf(e_netns, sizeof(e_netns), "CNI_NETNS=%s", netns ? netns : "");
	snprintf(e_cid, sizeof(e_cid), "CNI_CONTAINERID=%s", cid ? cid : "");
	snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", b->cni_dir);
	char *envp[] = { e_cmd, e_netns, "CNI_IFNAME=eth0", e_cid, e_path,
			 "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char *argv[] = { b->cni_plugin, NULL };
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t deflt;
	size_t got = 0;
	int status = 0, err = 0;
	pid_t child;

	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

	uint64_t t0 = now_ns();
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		err = -errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	err = -posix_spawn(&child, b->cni_plugin, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	if (err)
		goto out;

	/* The config (< 1 KiB) fits in the pipe buffer, so this cannot block on the child. */
	if (write(in[1], b->cni_conf, b->cni_conf_len) != (ssize_t)b->cni_conf_len)
		err = -EIO;
	close(in[1]);
	in[1] = -1;
	for (;;) {
		char sink[4096];
		char *dst = got + 1 < out_cap ? out + got : sink;
		size_t room = got + 1 < out_cap ? out_cap - 1 - got : sizeof(sink);
		ssize_t n = read(outp[0], dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			got += (size_t)n;
	}
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			err = -errno;
			break;
		}
	}
	*elapsed = now_ns() - t0;
	if (!err)
		err = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	if (out_cap)
		out[got < out_cap ? got : out_cap - 1] = '\0';
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	posix_spawnattr_destroy(&attr);
	return err;
}

static int cni_call(struct bench *b, const char *command, size_t i, uint64_t *elapsed)
{
	char netns[PATH_MAX], cid[64], out[8192];
	ns_path(b, i, netns, sizeof(netns));
	container_id(b, i, cid, sizeof(cid));
	bool add = !strcmp(command, "ADD");
	if (add)
		b->cni_added[i] = true; /* before the call: a failed ADD may have left half a setup */
	int rc = cni_exec(b, command, netns, cid, elapsed, out, sizeof(out));
	if (rc) {
		fprintf(stderr, "bench: bridge plugin %s for %s failed (%d): %s\n", command, cid, rc,
			out);
		return rc < 0 ? rc : -EIO;
	}
	if (!add)
		b->cni_added[i] = false;
	return 0;
}

/* ---- libmicroseg calls ---------------------------------------------------------------------- */

static int report_ms(struct bench *b, const char *what, size_t i, int err)
{
	fprintf(stderr, "bench: %s #%zu failed: %s (%s)\n", what, i, microseg_strerror(err),
		microseg_ctx_last_error(b->ctx));
	return err;
}

static int ms_add(struct bench *b, size_t i, uint64_t *elapsed)
{
	char ifname[16], addr[32], name[64];
	host_ifname(b, 'a', i, ifname, sizeof(ifname));
	endpoint_addr(i, addr, sizeof(addr));
	container_id(b, i, name, sizeof(name));
	const char *addrs[] = { addr };
	MICROSEG_OPTS(microseg_endpoint_opts, opts, .ifname = ifname, .addrs = addrs, .n_addrs = 1,
		      .identity = b->id, .name = name);

	uint64_t t0 = now_ns();
	int err = microseg_endpoint_add(b->ctx, &opts, &b->eps[i]);
	*elapsed = now_ns() - t0;
	if (err) {
		b->eps[i] = NULL;
		return report_ms(b, "microseg_endpoint_add", i, err);
	}
	return 0;
}

static int ms_add_veth(struct bench *b, size_t i, uint64_t *elapsed)
{
	char ifname[16], addr[40], name[64], netns[PATH_MAX];
	host_ifname(b, 'v', i, ifname, sizeof(ifname));
	endpoint_addr(i, addr, sizeof(addr));
	strcat(addr, "/32");
	container_id(b, i, name, sizeof(name));
	ns_path(b, i, netns, sizeof(netns));
	const char *addrs[] = { addr };
	MICROSEG_OPTS(microseg_veth_opts, opts, .host_ifname = ifname, .peer_ifname = "eth0",
		      .netns_path = netns, .addrs = addrs, .n_addrs = 1, .identity = b->id,
		      .name = name);

	uint64_t t0 = now_ns();
	int err = microseg_endpoint_add_veth(b->ctx, &opts, &b->eps[i]);
	*elapsed = now_ns() - t0;
	if (err) {
		b->eps[i] = NULL;
		return report_ms(b, "microseg_endpoint_add_veth", i, err);
	}
	return 0;
}

static int ms_remove(struct bench *b, size_t i, uint32_t flags, uint64_t *elapsed)
{
	uint64_t t0 = now_ns();
	int err = microseg_endpoint_remove(b->ctx, b->eps[i], flags);
	*elapsed = now_ns() - t0;
	if (err)
		return report_ms(b, "microseg_endpoint_remove", i, err);
	b->eps[i] = NULL;
	return 0;
}

/* ---- one round of each method ---------------------------------------------------------------- */

static void record(struct samples *s, uint64_t v)
{
	if (s)
		s->ns[s->n++] = v;
}

#define CHECK_STOP()                                                                               \
	do {                                                                                       \
		if (stop_requested)                                                                \
			return -EINTR;                                                             \
	} while (0)

/* After hundreds of link deletions the kernel still has deferred work queued (RCU callbacks,
 * IPv6 address and route clean-up, all under the RTNL lock); a pause keeps that from being
 * billed to whichever method runs next. */
static void settle(const struct bench *b, size_t n)
{
	if (n >= 100 && b->settle_ms && !stop_requested) {
		struct timespec ts = { b->settle_ms / 1000, (long)(b->settle_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* (a): veth pairs made here (untimed but recorded apart), then N adds, then N removes. */
static int round_add(struct bench *b, size_t n, struct samples *add, struct samples *del,
		     struct samples *create)
{
	char ifname[16], netns[PATH_MAX];
	uint64_t t;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		CHECK_STOP();
		ns_path(b, i, netns, sizeof(netns));
		int fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		host_ifname(b, 'a', i, ifname, sizeof(ifname));
		uint64_t t0 = now_ns();
		err = bnl_veth_create(b->nl, ifname, "eth0", fd);
		t = now_ns() - t0;
		close(fd);
		if (err) {
			fprintf(stderr, "bench: creating veth %s: %s\n", ifname, strerror(-err));
			return err;
		}
		record(create, t);
	}
	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = ms_add(b, i, &t);
		if (!err)
			record(add, t);
	}
	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = ms_remove(b, i, 0, &t);
		if (!err)
			record(del, t);
	}
	for (size_t i = 0; i < n; i++) {
		host_ifname(b, 'a', i, ifname, sizeof(ifname));
		int e = bnl_link_del(b->nl, ifname);
		if (e && e != -ENODEV && !err)
			err = e;
	}
	return err;
}

/* (b): N add_veth, then N removes that delete the link. */
static int round_add_veth(struct bench *b, size_t n, struct samples *add, struct samples *del)
{
	uint64_t t;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = ms_add_veth(b, i, &t);
		if (!err)
			record(add, t);
	}
	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = ms_remove(b, i, MICROSEG_ENDPOINT_REMOVE_DELETE_LINK, &t);
		if (!err)
			record(del, t);
	}
	return err;
}

/* (c): N plugin ADDs, then N DELs. */
static int round_cni(struct bench *b, size_t n, struct samples *add, struct samples *del)
{
	uint64_t t;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = cni_call(b, "ADD", i, &t);
		if (!err)
			record(add, t);
	}
	for (size_t i = 0; i < n && !err; i++) {
		CHECK_STOP();
		err = cni_call(b, "DEL", i, &t);
		if (!err)
			record(del, t);
	}
	return err;
}

/* ---- set-up and tear-down ------------------------------------------------------------------- */

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void write_small(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, value, strlen(value)) < 0)
		fprintf(stderr, "bench: restoring %s: %s\n", path, strerror(errno));
	close(fd);
}

static int rm_tree(const char *path)
{
	/* Only our own work directory, whose name carries the PID; no shell, no globbing. */
	pid_t child;
	char *argv[] = { "rm", "-rf", "--one-file-system", (char *)path, NULL };
	extern char **environ;
	int status;
	if (posix_spawnp(&child, "rm", NULL, NULL, argv, environ))
		return -1;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* tmpfs or not: the library's state files cost ~20 us on tmpfs, several times more on a disk. */
static const char *fs_kind(const char *path)
{
	struct statfs st;
	if (statfs(path, &st) < 0)
		return "file system unknown";
	return st.f_type == TMPFS_MAGIC ? "tmpfs" : "not tmpfs";
}

static int setup(struct bench *b)
{
	char path[PATH_MAX];
	int err;

	b->nl = bnl_open();
	if (b->nl < 0)
		return b->nl;
	b->eps = calloc(b->max_n, sizeof(*b->eps));
	b->cni_added = calloc(b->max_n, sizeof(*b->cni_added));
	if (!b->eps || !b->cni_added)
		return -ENOMEM;

	snprintf(b->workdir, sizeof(b->workdir), "/tmp/msbench-%d", (int)b->pid);
	snprintf(b->ipam_dir, sizeof(b->ipam_dir), "%s/ipam", b->workdir);
	if (mkdir(b->workdir, 0700) < 0)
		return -errno;
	if (read_small(IP_FORWARD, b->ip_forward_saved, sizeof(b->ip_forward_saved)))
		b->ip_forward_saved[0] = '\0';

	/* isGateway gives the container a default route and the bridge an address, the closest
	 * match to what add_veth sets up; ipMasq stays off (no iptables: the library does no NAT).
	 * The plugin turns on net.ipv4.ip_forward for a gateway; the old value is restored. */
	snprintf(b->bridge, sizeof(b->bridge), "mbbr%d", (int)b->pid);
	int len = snprintf(b->cni_conf, sizeof(b->cni_conf),
			   "{\"cniVersion\":\"1.0.0\",\"name\":\"msbench%d\",\"type\":\"bridge\","
			   "\"bridge\":\"%s\",\"isGateway\":true,\"ipMasq\":false,"
			   "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":"
			   "\"10.201.0.0/16\"}]],\"dataDir\":\"%s\"}}",
			   (int)b->pid, b->bridge, b->ipam_dir);
	if (len < 0 || (size_t)len >= sizeof(b->cni_conf))
		return -ENAMETOOLONG;
	b->cni_conf_len = (size_t)len;

	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < b->max_n; i++) {
		if (stop_requested)
			return -EINTR;
		ns_path(b, i, path, sizeof(path));
		err = bns_create(path);
		if (err) {
			fprintf(stderr, "bench: creating namespace %s: %s\n", path, strerror(-err));
			return err;
		}
		b->n_ns = i + 1;
	}
	if (b->verbose)
		fprintf(stderr, "bench: %zu namespaces in %.2f s\n", b->max_n,
			(double)(now_ns() - t0) / 1e9);

	snprintf(b->instance, sizeof(b->instance), "bench%d", (int)b->pid);
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = b->instance, .log_fn = log_cb,
		      .state_dir = b->state_dir[0] ? b->state_dir : NULL,
		      .log_level = b->verbose > 1 ? MICROSEG_LOG_INFO : MICROSEG_LOG_WARN);
	err = microseg_ctx_open(&copts, &b->ctx);
	if (err) {
		fprintf(stderr, "bench: microseg_ctx_open(%s): %s\n", b->instance,
			microseg_strerror(err));
		b->ctx = NULL;
		return err;
	}
	const char *labels[] = { "bench:app=endpoint-bench" };
	err = microseg_identity_get(b->ctx, labels, 1, &b->id);
	if (err) {
		b->id = NULL;
		return report_ms(b, "microseg_identity_get", 0, err);
	}
	return 0;
}

static void cleanup(struct bench *b)
{
	char path[PATH_MAX], name[16];

	if (b->ctx) {
		/* Purge detaches every program and drops every pin and the state directory. */
		int err = microseg_ctx_purge(b->ctx);
		if (err)
			fprintf(stderr, "bench: microseg_ctx_purge: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(b->ctx));
		microseg_ctx_close(b->ctx);
		b->ctx = NULL;
	}
	/* Ask the plugin to release what it may still hold (it deletes its veth), then make sure
	 * by deleting eth0 inside every namespace: that takes the whole veth pair with it. */
	for (size_t i = 0; b->cni_added && i < b->n_ns; i++) {
		uint64_t t;
		if (b->cni_added[i])
			cni_call(b, "DEL", i, &t);
	}
	for (size_t i = 0; i < b->n_ns; i++) {
		ns_path(b, i, path, sizeof(path));
		int nl = bnl_open_in(path);
		if (nl >= 0) {
			bnl_link_del(nl, "eth0");
			close(nl);
		}
		if (b->nl >= 0) {
			host_ifname(b, 'a', i, name, sizeof(name));
			bnl_link_del(b->nl, name);
			host_ifname(b, 'v', i, name, sizeof(name));
			bnl_link_del(b->nl, name);
		}
		int err = bns_destroy(path);
		if (err)
			fprintf(stderr, "bench: removing %s: %s\n", path, strerror(-err));
	}
	b->n_ns = 0;
	if (b->nl >= 0 && b->bridge[0])
		bnl_link_del(b->nl, b->bridge);
	if (b->ip_forward_saved[0])
		write_small(IP_FORWARD, b->ip_forward_saved);
	if (b->workdir[0])
		rm_tree(b->workdir);
	if (b->nl >= 0)
		close(b->nl);
	b->nl = -1;
	free(b->eps);
	free(b->cni_added);
	b->eps = NULL;
	b->cni_added = NULL;
}

/* ---- output --------------------------------------------------------------------------------- */

#define CELL_W 21

static void cell(char *buf, size_t len, const struct summary *s)
{
	if (s->valid)
		snprintf(buf, len, "%9.3f / %-9.3f", s->median_ms, s->p99_ms);
	else
		snprintf(buf, len, "%9s", "n/a");
}

static void ratio(char *buf, size_t len, const struct summary *num, const struct summary *den)
{
	double r = num->valid && den->valid && den->median_ms > 0 ? num->median_ms / den->median_ms
								 : -1;
	if (r < 0)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, r < 100 ? "%.2fx" : "%.0fx", r);
}

static void print_table(const struct row *rows, size_t n_rows, bool removes)
{
	const char *const *labels = removes ? remove_label : method_label;
	printf("\n%s: ms per call, median / p99\n", removes ? "REMOVE" : "ADD");
	printf("%5s %7s  %-*s  %-*s  %-*s  %8s  %8s\n", "N", "samples", CELL_W, labels[M_ADD],
	       CELL_W, labels[M_ADD_VETH], CELL_W, labels[M_CNI], "(c)/(a)", "(c)/(b)");
	for (size_t r = 0; r < n_rows; r++) {
		const struct row *row = &rows[r];
		const struct samples *set = removes ? row->del : row->add;
		struct summary s[M_COUNT];
		char c[M_COUNT][48], r1[16], r2[16];
		for (int m = 0; m < M_COUNT; m++) {
			s[m] = summarize(&set[m], row->n_endpoints);
			cell(c[m], sizeof(c[m]), &s[m]);
		}
		ratio(r1, sizeof(r1), &s[M_CNI], &s[M_ADD]);
		ratio(r2, sizeof(r2), &s[M_CNI], &s[M_ADD_VETH]);
		size_t n_samples = 0;
		for (int m = 0; m < M_COUNT; m++)
			n_samples = set[m].n > n_samples ? set[m].n : n_samples;
		printf("%5zu %7zu  %-*s  %-*s  %-*s  %8s  %8s\n", row->n_endpoints, n_samples,
		       CELL_W, c[M_ADD], CELL_W, c[M_ADD_VETH], CELL_W, c[M_CNI], r1, r2);
	}
}

static void print_growth(const struct row *rows, size_t n_rows)
{
	printf("\nGrowth within one round (ADD), ms: median of the first tenth -> last tenth of the "
	       "calls; total s for all N\n");
	printf("%5s  %-28s  %-28s  %-28s\n", "N", method_label[M_ADD], method_label[M_ADD_VETH],
	       method_label[M_CNI]);
	for (size_t r = 0; r < n_rows; r++) {
		const struct row *row = &rows[r];
		if (row->n_endpoints < 10)
			continue;
		char c[M_COUNT][64];
		for (int m = 0; m < M_COUNT; m++) {
			struct summary s = summarize(&row->add[m], row->n_endpoints);
			if (s.valid)
				snprintf(c[m], sizeof(c[m]), "%6.3f -> %6.3f  (%6.2f s)", s.first_ms,
					 s.last_ms, s.total_s / (double)row->rounds);
			else
				snprintf(c[m], sizeof(c[m]), "n/a");
		}
		printf("%5zu  %-28s  %-28s  %-28s\n", row->n_endpoints, c[M_ADD], c[M_ADD_VETH],
		       c[M_CNI]);
	}
}

static void print_notes(const struct bench *b, const struct row *rows, size_t n_rows,
			const struct samples *exec_floor)
{
	printf("\nWhat is timed (CLOCK_MONOTONIC around each single call, one call at a time):\n"
	       "  (a) microseg_endpoint_add on a veth pair made beforehand (untimed): TC attach and map\n"
	       "      updates only. Removed with microseg_endpoint_remove(flags 0); the link stays.\n"
	       "  (b) microseg_endpoint_add_veth: veth pair, peer into the netns, address, routes, links\n"
	       "      up, then (a). Removed with MICROSEG_ENDPOINT_REMOVE_DELETE_LINK.\n"
	       "  (c) %s, fork+exec per call, CNI 1.0.0 config on stdin, host-local\n"
	       "      IPAM, isGateway (bridge address, default route), no ipMasq. Includes process start.\n"
	       "  (b) vs (c) is the like-for-like comparison; (a) is the datapath's own share.\n"
	       "  One namespace per endpoint, made before timing; call k of a round runs with k-1\n"
	       "  endpoints present; one untimed warm-up cycle per method first; for N >= 100 a\n"
	       "  %.1f s pause after each method lets the kernel finish deferred link clean-up.\n",
	       b->run[M_CNI] ? b->cni_plugin : "bridge plugin (skipped)", b->settle_ms / 1000.0);
	if (exec_floor && exec_floor->n) {
		struct summary s = summarize(exec_floor, exec_floor->n);
		printf("  Plugin process floor (CNI_COMMAND=VERSION, no work): median %.3f ms, p99 %.3f"
		       " ms.\n",
		       s.median_ms, s.p99_ms);
	}
	for (size_t r = n_rows; r-- > 0;) {
		struct summary s = summarize(&rows[r].veth_create, rows[r].n_endpoints);
		if (s.valid) {
			printf("  Bare veth pair creation, one RTM_NEWLINK (set-up of (a), N=%zu): median"
			       " %.3f ms, p99 %.3f ms.\n",
			       rows[r].n_endpoints, s.median_ms, s.p99_ms);
			break;
		}
	}
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-endpoint [-n 1,100,1000] [-s MIN_SAMPLES] [-m abc] [--cni-dir DIR] "
		"[--no-cni]\n                      [--settle SEC] [--state-tmpfs] [-v]\n"
		"  -n LIST        endpoint counts (default 1,100,1000, each <= %d)\n"
		"  -m METHODS     which of (a) add, (b) add_veth, (c) bridge plugin to run (default abc)\n"
		"  -s SAMPLES     repeat a count until at least this many calls were timed (default 200)\n"
		"  --cni-dir DIR  where the CNI plugins live (default /usr/lib/cni)\n"
		"  --no-cni       same as leaving c out of -m\n"
		"  --settle SEC   pause between methods when N >= 100 (default 2)\n"
		"  --state-tmpfs  state directory in /dev/shm instead of the default /run/microseg\n"
		"                 (shows the cost of the state files when /run is not a tmpfs)\n"
		"  -v             progress on stderr; -v -v also the library's INFO log\n",
		MAX_N);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cni-dir", required_argument, NULL, 'C' },
		{ "no-cni", no_argument, NULL, 'N' },
		{ "state-tmpfs", no_argument, NULL, 'T' },
		{ "settle", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .pid = getpid(), .nl = -1, .settle_ms = 2000 };
	size_t counts[16], n_counts = 0, min_samples = 200;
	const char *count_list = "1,100,1000", *methods = "abc";
	int opt, err = 0;

	snprintf(b.cni_dir, sizeof(b.cni_dir), "/usr/lib/cni");
	bool no_cni = false;
	while ((opt = getopt_long(argc, argv, "n:s:m:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': count_list = optarg; break;
		case 'm': methods = optarg; break;
		case 's': min_samples = strtoul(optarg, NULL, 10); break;
		case 'C': snprintf(b.cni_dir, sizeof(b.cni_dir), "%s", optarg); break;
		case 'N': no_cni = true; break;
		case 'S': b.settle_ms = (unsigned)(strtod(optarg, NULL) * 1000); break;
		case 'T':
			snprintf(b.state_dir, sizeof(b.state_dir), "/dev/shm/microseg-bench%d",
				 (int)b.pid);
			break;
		case 'v': b.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (const char *p = count_list; *p && n_counts < 16;) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || v == 0 || v > MAX_N) {
			usage(stderr);
			return 2;
		}
		counts[n_counts++] = v;
		if (v > b.max_n)
			b.max_n = v;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',') {
			usage(stderr);
			return 2;
		}
	}
	if (!min_samples)
		min_samples = 1;
	for (const char *m = methods; *m; m++) {
		if (*m < 'a' || *m >= 'a' + M_COUNT) {
			usage(stderr);
			return 2;
		}
		b.run[*m - 'a'] = true;
	}
	if (no_cni)
		b.run[M_CNI] = false;

	if (geteuid() != 0) {
		fprintf(stderr, "bench-endpoint: needs root (netns, veth, BPF); skipping\n");
		return 77;
	}
	snprintf(b.cni_plugin, sizeof(b.cni_plugin), "%s/bridge", b.cni_dir);
	if (b.run[M_CNI] && access(b.cni_plugin, X_OK) < 0) {
		fprintf(stderr, "bench: %s not found; the bridge column is skipped\n", b.cni_plugin);
		b.run[M_CNI] = false;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct row rows[16] = { 0 };
	struct samples exec_floor = { 0 };
	size_t n_rows = 0;
	uint64_t t_start = now_ns();
	char load_before[64] = "?", load_after[64] = "?";
	read_small("/proc/loadavg", load_before, sizeof(load_before));

	err = setup(&b);
	if (err)
		goto out;

	/* One untimed cycle of each method first: page faults, the first clsact qdisc and the
	 * plugin's bridge creation are start-up costs, not per-endpoint costs. */
	if (b.run[M_ADD])
		err = round_add(&b, 1, NULL, NULL, NULL);
	if (!err && b.run[M_ADD_VETH])
		err = round_add_veth(&b, 1, NULL, NULL);
	if (!err && b.run[M_CNI])
		err = round_cni(&b, 1, NULL, NULL);
	if (!err && b.run[M_CNI]) {
		err = samples_init(&exec_floor, 20);
		for (int i = 0; i < 20 && !err; i++) {
			uint64_t t;
			char out[512];
			if (cni_exec(&b, "VERSION", NULL, NULL, &t, out, sizeof(out)) == 0)
				record(&exec_floor, t);
		}
	}

	for (size_t c = 0; c < n_counts && !err; c++) {
		struct row *row = &rows[n_rows++];
		size_t n = counts[c];
		row->n_endpoints = n;
		row->rounds = (min_samples + n - 1) / n;
		size_t cap = row->rounds * n;
		for (int m = 0; m < M_COUNT && !err; m++)
			err = samples_init(&row->add[m], cap) ?: samples_init(&row->del[m], cap);
		if (!err)
			err = samples_init(&row->veth_create, cap);
		uint64_t t0 = now_ns();
		for (size_t r = 0; r < row->rounds && !err; r++) {
			if (b.run[M_ADD])
				err = round_add(&b, n, &row->add[M_ADD], &row->del[M_ADD],
						&row->veth_create);
			settle(&b, n);
			if (!err && b.run[M_ADD_VETH])
				err = round_add_veth(&b, n, &row->add[M_ADD_VETH],
						     &row->del[M_ADD_VETH]);
			settle(&b, n);
			if (!err && b.run[M_CNI])
				err = round_cni(&b, n, &row->add[M_CNI], &row->del[M_CNI]);
			settle(&b, n);
		}
		if (b.verbose || !err)
			fprintf(stderr, "bench: N=%zu done (%zu round%s, %.1f s)\n", n, row->rounds,
				row->rounds == 1 ? "" : "s", (double)(now_ns() - t0) / 1e9);
	}
	if (err == -EINTR)
		fprintf(stderr, "bench: interrupted\n");

	if (!err) {
		char host[64] = "";
		read_small("/proc/loadavg", load_after, sizeof(load_after));
		const char *state_fs = fs_kind(b.state_dir[0] ? b.state_dir : "/run/microseg");
		gethostname(host, sizeof(host) - 1);
		uint32_t v = microseg_version();
		printf("libmicroseg %u.%u.%u endpoint benchmark on %s, %ld CPUs, instance %s\n",
		       v / 10000, v / 100 % 100, v % 100, host, sysconf(_SC_NPROCESSORS_ONLN),
		       b.instance);
		print_table(rows, n_rows, false);
		print_table(rows, n_rows, true);
		print_growth(rows, n_rows);
		print_notes(&b, rows, n_rows, &exec_floor);
		printf("  Library state directory: %s (%s).\n",
		       b.state_dir[0] ? b.state_dir : "/run/microseg/<instance>", state_fs);
		printf("  Wall time of the whole run: %.1f s. /proc/loadavg before: %s; after: %s.\n",
		       (double)(now_ns() - t_start) / 1e9, load_before, load_after);
		fflush(stdout);
	}
out:
	cleanup(&b);
	for (size_t r = 0; r < n_rows; r++) {
		for (int m = 0; m < M_COUNT; m++) {
			free(rows[r].add[m].ns);
			free(rows[r].del[m].ns);
		}
		free(rows[r].veth_create.ns);
	}
	free(exec_floor.ns);
	if (err == -EPERM || err == -EACCES) {
		fprintf(stderr, "bench-endpoint: not permitted (%s); skipping\n", strerror(-err));
		return 77;
	}
	return err ? 1 : 0;
}
