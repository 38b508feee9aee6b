// SPDX-License-Identifier: Apache-2.0
/*
 * bench-policy: how libmicroseg's policy behaves as it grows. Three parts, each printing a
 * table with ratios against a baseline measured in the same run (see README.md):
 *   1 verdict  ns/packet of ms_to_container via BPF_PROG_TEST_RUN at 10, 1k and 100k entries
 *   2 pps      forwarded packets/s with a 10k allow-list: libmicroseg vs iptables vs nftables
 *   3 update   time to apply one rule change to 1000 endpoints
 *
 * Needs root (exits 77 otherwise). Names carry the PID; namespaces, links, pins, state and
 * scratch files are removed at exit, on failure and on signals (tests/lib/topo).
 */
#include "bench_policy.h"

#include "bench_nl.h"
#include "topo.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int orig_netns = -1;

uint64_t bp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bp_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bp_median_u64(uint64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

double bp_median_dbl(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

void bp_log(const struct pbench *b, int level, const char *fmt, ...)
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

void bp_loadavg(char *buf, size_t len)
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

static void lib_log(void *user, int level, const char *line)
{
	(void)user;
	fprintf(stderr, "  microseg[%d]: %s\n", level, line);
}

int bp_ctx_open(struct pbench *b, const char *suffix, uint32_t flags, uint32_t max_endpoints,
		uint32_t max_policy_entries, uint32_t max_connections, struct microseg_ctx **ctx)
{
	char inst[MICROSEG_INSTANCE_NAME_MAX + 1], path[128];
	int err;

	snprintf(inst, sizeof(inst), "pb%d%s", (int)b->pid, suffix);
	if (!(flags & MICROSEG_CTX_F_NO_DATAPATH)) {
		/* Recorded before they exist: a crash half-way through open leaves nothing. */
		snprintf(path, sizeof(path), "/sys/fs/bpf/microseg/%s", inst);
		if ((err = topo_track_dir(path)))
			return err;
		snprintf(path, sizeof(path), "/run/microseg/%s", inst);
		if ((err = topo_track_dir(path)))
			return err;
	}
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = inst, .flags = flags,
		      .max_endpoints = max_endpoints, .max_policy_entries = max_policy_entries,
		      .max_connections = max_connections,
		      .log_fn = lib_log, /* errors at least: a failed open has no ctx to ask */
		      .log_level = b->verbose >= 2 ? MICROSEG_LOG_INFO : MICROSEG_LOG_ERROR);
	err = microseg_ctx_open(&o, ctx);
	if (err)
		fprintf(stderr, "bench-policy: microseg_ctx_open(%s): %s\n", inst, microseg_strerror(err));
	return err;
}

/* Best-effort recursive removal of a directory we created (pins, state). */
static void rm_tree(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--one-file-system", path, NULL };

	topo_run(NULL, 30000, NULL, 0, argv);
}

void bp_instance_rm(struct pbench *b, const char *suffix)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/fs/bpf/microseg/pb%d%s", (int)b->pid, suffix);
	rm_tree(path);
	snprintf(path, sizeof(path), "/run/microseg/pb%d%s", (int)b->pid, suffix);
	rm_tree(path);
}

int bp_identity(struct microseg_ctx *ctx, struct microseg_identity **id, const char *label, ...)
{
	const char *labels[8];
	size_t n = 0;
	va_list ap;

	va_start(ap, label);
	for (const char *l = label; l && n < 8; l = va_arg(ap, const char *))
		labels[n++] = l;
	va_end(ap);
	int err = microseg_identity_get(ctx, labels, n, id);
	if (err)
		fprintf(stderr, "bench-policy: identity %s: %s (%s)\n", label, microseg_strerror(err),
			microseg_ctx_last_error(ctx));
	return err;
}

int bp_rule_ingress(struct microseg_ctx *ctx, const char *ep_label, const struct microseg_peer *peers,
		    size_t n_peers, uint32_t proto, const uint16_t *ports, size_t n_ports,
		    struct microseg_rule **rule)
{
	struct microseg_port *pv = calloc(n_ports ? n_ports : 1, sizeof(*pv));
	const char *ep_labels[] = { ep_label };

	if (!pv)
		return -ENOMEM;
	for (size_t i = 0; i < n_ports; i++)
		pv[i] = (struct microseg_port){ .proto = proto, .port = ports[i] };
	struct microseg_rule_section sec = {
		.direction = MICROSEG_DIR_INGRESS,
		.action = MICROSEG_ACTION_ALLOW,
		.peers = peers,
		.n_peers = n_peers,
		.ports = pv,
		.n_ports = n_ports,
	};
	MICROSEG_OPTS(microseg_rule_spec, spec,
		      .endpoints = { .match_labels = ep_labels, .n_match_labels = 1 },
		      .sections = &sec, .n_sections = 1);
	int err = microseg_rule_add(ctx, &spec, rule);
	if (err)
		fprintf(stderr, "bench-policy: rule add: %s (%s)\n", microseg_strerror(err),
			microseg_ctx_last_error(ctx));
	free(pv);
	return err;
}

int bp_veth(const char *host_if, const char *peer_if, const char *netns_path)
{
	int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	int nl = bnl_open();
	int err = nl < 0 ? nl : bnl_veth_create(nl, host_if, peer_if, nsfd);
	if (nl >= 0)
		close(nl);
	close(nsfd);
	if (err) {
		fprintf(stderr, "bench-policy: veth %s/%s: %s\n", host_if, peer_if, strerror(-err));
		return err;
	}
	int ifindex = (int)if_nametoindex(host_if);
	return ifindex > 0 ? ifindex : -ENODEV;
}

int bp_ns_enter(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return err;
}

int bp_ns_leave(void)
{
	return setns(orig_netns, CLONE_NEWNET) < 0 ? -errno : 0;
}

int bp_write_file(struct pbench *b, const char *name, const char *data, size_t len, char *path,
		  size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s", b->workdir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	size_t w = fwrite(data, 1, len, f);
	int err = fclose(f);
	return w == len && !err ? 0 : -EIO;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-policy [-p PARTS] [-v] [options]\n"
		"  -p, --parts LIST      parts to run, any of 1 (verdict), 2 (pps), 3 (update); default 1,2,3\n"
		"  --repeat N            BPF_PROG_TEST_RUN repeat count (part 1, default 1000000)\n"
		"  --rounds N            interleaved rounds (parts 1 and 2, default 3)\n"
		"  --pps-rules N         allow-list size (part 2, default 10000)\n"
		"  --seconds S           measured seconds per variant, traffic shape and round (part 2, default 1)\n"
		"  --endpoints N         endpoints (part 3, default 1000)\n"
		"  --runs N              at most N add/remove pairs per case (part 3, default 5)\n"
		"  --budget S            stop repeating a case after S seconds (part 3, default 25)\n"
		"  --cases LIST          part-3 cases: s (shared identity), d (distinct identities),\n"
		"                        t (distinct tables); default sd\n"
		"  --purge               purge the part-3 instance instead of removing its pins (slow)\n"
		"  -v                    progress; -v -v also the library's INFO log\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "parts", required_argument, NULL, 'p' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "pps-rules", required_argument, NULL, 'P' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "endpoints", required_argument, NULL, 'E' },
		{ "runs", required_argument, NULL, 'U' },
		{ "budget", required_argument, NULL, 'B' },
		{ "purge", no_argument, NULL, 'X' },
		{ "cases", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pbench b = {
		.pid = getpid(),
		.repeat = 1000000,
		.rounds = 3,
		.new_samples = 3000,
		.pps_rules = 10000,
		.pps_seconds = 1.0,
		.upd_endpoints = 1000,
		.upd_runs = 5,
		.upd_budget_s = 25.0,
	};
	const char *parts = "1,2,3", *cases = "sd";
	int opt;

	while ((opt = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': parts = optarg; break;
		case 'R': b.repeat = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': b.rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': b.pps_rules = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': b.pps_seconds = strtod(optarg, NULL); break;
		case 'E': b.upd_endpoints = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'U': b.upd_runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'B': b.upd_budget_s = strtod(optarg, NULL); break;
		case 'X': b.upd_purge = true; break;
		case 'C': cases = optarg; break;
		case 'v': b.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	bool run[4] = { false };
	for (const char *p = parts; *p; p++) {
		if (*p >= '1' && *p <= '3')
			run[*p - '0'] = true;
		else if (*p != ',') {
			usage(stderr);
			return 2;
		}
	}
	for (const char *c = cases; *c; c++) {
		const char *at = strchr("sdt", *c);
		if (!at || !*c) {
			usage(stderr);
			return 2;
		}
		b.upd_case[at - "sdt"] = true;
	}
	if (!b.repeat || !b.rounds || b.pps_rules < 1 || b.pps_rules > 60000 || b.pps_seconds <= 0 ||
	    b.upd_endpoints < 1 || b.upd_endpoints > 4000 || !b.upd_runs) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench-policy: needs root (netns, veth, BPF); skipping\n");
		return 77;
	}
	orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_netns < 0) {
		perror("bench-policy: /proc/self/ns/net");
		return 1;
	}
	int err = topo_init("pbench");
	if (!err)
		err = topo_subnet() < 0 ? -EADDRINUSE : 0;
	if (err) {
		fprintf(stderr, "bench-policy: topology helper: %s\n", strerror(-err));
		return 1;
	}
	b.subnet = topo_subnet();
	snprintf(b.workdir, sizeof(b.workdir), "/tmp/pbench-%d", (int)b.pid);
	if (topo_track_dir(b.workdir) || mkdir(b.workdir, 0700)) {
		perror("bench-policy: work directory");
		return 1;
	}

	char load[64], cpu[128] = "?";
	bp_loadavg(load, sizeof(load));
	FILE *ci = fopen("/proc/cpuinfo", "re");
	if (ci) {
		char line[256];
		while (fgets(line, sizeof(line), ci))
			if (!strncmp(line, "model name", 10)) {
				char *c = strchr(line, ':');
				snprintf(cpu, sizeof(cpu), "%.100s", c ? c + 2 : line);
				cpu[strcspn(cpu, "\n")] = 0;
				break;
			}
		fclose(ci);
	}
	printf("bench-policy: pid %d, %ld CPUs (%s), loadavg %s, subnet 10.200.%d.0/24\n", (int)b.pid,
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, load, b.subnet);
	printf("reproduce: sudo tests/bench/run-policy-bench.sh BUILD_DIR");
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);

	uint64_t t0 = bp_now_ns();
	int rc = 0;
	if (run[1] && (err = bp_run_verdict(&b))) {
		fprintf(stderr, "bench-policy: part 1 failed: %s\n", strerror(-err));
		rc = 1;
	}
	if (run[2] && (err = bp_run_pps(&b))) {
		fprintf(stderr, "bench-policy: part 2 failed: %s\n", strerror(-err));
		rc = 1;
	}
	if (run[3] && (err = bp_run_update(&b))) {
		fprintf(stderr, "bench-policy: part 3 failed: %s\n", strerror(-err));
		rc = 1;
	}
	bp_loadavg(load, sizeof(load));
	printf("\nbench-policy: done in %.0f s, loadavg %s\n", (double)(bp_now_ns() - t0) / 1e9, load);
	topo_teardown();
	return rc;
}
