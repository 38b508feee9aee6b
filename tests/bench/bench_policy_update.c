// SPDX-License-Identifier: Apache-2.0
/*
 * Part 3: how long one rule change takes to reach many endpoints.
 *
 * E veth pairs (host ends here, peers in one scratch namespace), each an endpoint with its own
 * address; one base rule selects all of them. Timed: microseg_rule_add of one more rule that
 * also selects all of them (every endpoint's table changes), then microseg_rule_remove of it,
 * each a transaction of its own, as a caller would make them. Two cases:
 *   shared    every endpoint has the same identity
 *   distinct  every endpoint has an identity of its own
 * The same steps on a context opened with MICROSEG_CTX_F_NO_DATAPATH (same interfaces, nothing
 * attached, no kernel maps) give the library's userspace share of each change; the rest is
 * kernel work. A probe on maps of our own times the kernel operation the publish step repeats
 * per endpoint: a map-in-map slot update, alone and batched.
 */
#include "bench_policy.h"

#include "topo.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define EP_LABEL "k8s:app=p3"
#define BASE_PORT 80
#define EXTRA_PORT 8443

enum { C_SHARED, C_DISTINCT, C_UNIQUE, C_COUNT };
static const char *const case_name[C_COUNT] = { "shared identity", "distinct identities",
						"distinct tables" };

struct result {
	unsigned runs;
	double add_ms[16], del_ms[16];
	double add_cpu_ms[16]; /* user + system time of this process during the add */
	double setup_ms;       /* the base rule over all endpoints */
	double eps_ms;         /* adding the endpoints (no rule yet) */
	double purge_ms;
	int err, done, crashed;
};

struct update {
	struct pbench *b;
	unsigned n;
};

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int add_rule(struct microseg_ctx *ctx, uint16_t port, struct microseg_rule **r)
{
	const char *pl[] = { EP_LABEL };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
				      .selector = { .match_labels = pl, .n_match_labels = 1 } };

	return bp_rule_ingress(ctx, EP_LABEL, &peer, 1, MICROSEG_PROTO_TCP, &port, 1, r);
}

/* Timed add/remove pairs until runs or the time budget is used up (at least one). */
static int measure(struct update *u, struct microseg_ctx *ctx, unsigned max_runs, double budget_s,
		   struct result *res)
{
	uint64_t start = bp_now_ns();
	int err = 0;

	res->runs = 0;
	while (res->runs < max_runs && res->runs < 16 && !err) {
		struct microseg_rule *r;
		double c0 = cpu_ms();
		uint64_t t0 = bp_now_ns();
		err = add_rule(ctx, EXTRA_PORT, &r);
		uint64_t t1 = bp_now_ns();
		double c1 = cpu_ms();
		if (err)
			break;
		err = microseg_rule_remove(ctx, r);
		uint64_t t2 = bp_now_ns();
		if (err) {
			fprintf(stderr, "bench-policy: rule remove: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(ctx));
			break;
		}
		res->add_ms[res->runs] = bp_ms(t1 - t0);
		res->del_ms[res->runs] = bp_ms(t2 - t1);
		res->add_cpu_ms[res->runs] = c1 - c0;
		bp_log(u->b, 1, "  add %.1f ms, remove %.1f ms", res->add_ms[res->runs], res->del_ms[res->runs]);
		res->runs++;
		if ((double)(bp_now_ns() - start) / 1e9 > budget_s)
			break;
	}
	return err;
}

/* One case on one context: endpoints first (with no rule an endpoint add compiles nothing),
 * then the base rule, then the timed changes. */
static int run_case(struct update *u, struct microseg_ctx *ctx, int c, bool offline, char (*ifname)[16],
		    struct result *res)
{
	struct pbench *b = u->b;
	struct microseg_endpoint **eps = calloc(u->n, sizeof(*eps));
	struct microseg_identity **ids = calloc(u->n, sizeof(*ids));
	struct microseg_rule *base = NULL;
	int err = eps && ids ? 0 : -ENOMEM;

	for (unsigned i = 0; i < u->n && !err; i++) {
		char l[32];
		if (c == C_SHARED && i > 0) {
			ids[i] = NULL; /* the endpoints take their own references to ids[0] */
			continue;
		}
		snprintf(l, sizeof(l), "k8s:pod=%u", c == C_SHARED ? 999999 : i);
		err = bp_identity(ctx, &ids[i], EP_LABEL, l, NULL);
	}
	uint64_t t = bp_now_ns();
	for (unsigned i = 0; i < u->n && !err; i++) {
		char addr[48];
		snprintf(addr, sizeof(addr), "fd00:200:%x::%x", b->subnet, i + 16);
		const char *addrs[] = { addr };
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = ifname[i], .addrs = addrs,
			      .n_addrs = 1, .identity = ids[c == C_SHARED ? 0 : i]);
		err = microseg_endpoint_add(ctx, &eo, &eps[i]);
		if (err)
			fprintf(stderr, "bench-policy: endpoint %s: %s (%s)\n", ifname[i],
				microseg_strerror(err), microseg_ctx_last_error(ctx));
	}
	res->eps_ms = bp_ms(bp_now_ns() - t);
	bp_log(b, 1, "%s, %s: %u endpoints added in %.0f ms", case_name[c], offline ? "no-dp" : "datapath",
	       u->n, res->eps_ms);
	if (!err) {
		t = bp_now_ns();
		if (c == C_UNIQUE) {
			/* Each endpoint also accepts from itself on one port: no two tables are
			 * equal, so nothing is shared and every change builds every table. */
			err = microseg_policy_begin(ctx);
			for (unsigned i = 0; i < u->n && !err; i++) {
				char l[32];
				uint16_t port = 9000;
				struct microseg_rule *r;
				snprintf(l, sizeof(l), "k8s:pod=%u", i);
				const char *pl[] = { l };
				struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
							      .selector = { .match_labels = pl, .n_match_labels = 1 } };
				err = bp_rule_ingress(ctx, l, &peer, 1, MICROSEG_PROTO_TCP, &port, 1, &r);
			}
			err = err ?: add_rule(ctx, BASE_PORT, &base);
			err = err ?: microseg_policy_commit(ctx);
		} else {
			err = add_rule(ctx, BASE_PORT, &base);
		}
		res->setup_ms = bp_ms(bp_now_ns() - t);
		bp_log(b, 1, "%s, %s: base rule: %.0f ms", case_name[c], offline ? "no-dp" : "datapath",
		       res->setup_ms);
	}
	if (!err)
		err = measure(u, ctx, offline ? 5 : b->upd_runs, offline ? 1e9 : b->upd_budget_s, res);
	for (unsigned i = 0; i < u->n && ids; i++)
		if (ids[i])
			microseg_identity_put(ctx, ids[i]);
	free(ids);
	free(eps);
	return err;
}

/*
 * Runs a case in a child process, so that a library crash costs one cell of the table and
 * not the run. The child reports through shared memory and never purges (the parent removes
 * the pins and deletes the links with their namespace).
 */
static int run_case_child(struct update *u, const char *suffix, int c, bool offline, char (*ifname)[16],
			  struct result *res)
{
	struct result *shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return -errno;
	memset(shm, 0, sizeof(*shm));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		munmap(shm, sizeof(*shm));
		return -errno;
	}
	if (pid == 0) {
		struct microseg_ctx *ctx;
		/* Never outlive the parent: its clean-up (or its reaper) removes what we use. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int err = bp_ctx_open(u->b, suffix, offline ? MICROSEG_CTX_F_NO_DATAPATH : 0, 0, 0, 0, &ctx);
		if (!err) {
			err = run_case(u, ctx, c, offline, ifname, shm);
			uint64_t t = bp_now_ns();
			if (u->b->upd_purge && !offline)
				microseg_ctx_purge(ctx);
			shm->purge_ms = bp_ms(bp_now_ns() - t);
			microseg_ctx_close(ctx);
		}
		shm->err = err;
		shm->done = 1;
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*res = *shm;
	munmap(shm, sizeof(*shm));
	if (!res->done) {
		/* Signal deaths show up as 128 + signal: the topo handler exits that way. */
		res->crashed = WIFSIGNALED(st) ? WTERMSIG(st) : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (res->crashed > 128)
			res->crashed -= 128;
		fprintf(stderr, "bench-policy: %s case (%s) died (signal %d); see README (library bug)\n",
			case_name[c], offline ? "no-dp" : "datapath", res->crashed);
		return 0;
	}
	return res->err;
}

/* Kernel-only: what a slot update of an array of maps costs, one by one and as one batch. */
static int probe_slots(unsigned n, double *single_ms, double *batch_ms)
{
	LIBBPF_OPTS(bpf_map_create_opts, io, .map_flags = BPF_F_NO_PREALLOC);
	int inner = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "pb_probe_in", 12, 8, 16, &io);
	if (inner < 0)
		return -errno;
	LIBBPF_OPTS(bpf_map_create_opts, oo, .inner_map_fd = inner);
	int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "pb_probe_out", 4, 4, n, &oo);
	if (outer < 0) {
		close(inner);
		return -errno;
	}
	int err = 0;
	unsigned singles = n < 20 ? n : 20;
	uint64_t t = bp_now_ns();
	for (uint32_t k = 0; k < singles && !err; k++)
		if (bpf_map_update_elem(outer, &k, &inner, BPF_ANY))
			err = -errno;
	*single_ms = bp_ms(bp_now_ns() - t) / singles;

	uint32_t *keys = calloc(n, sizeof(*keys));
	int *vals = calloc(n, sizeof(*vals));
	if (!keys || !vals)
		err = err ?: -ENOMEM;
	for (uint32_t k = 0; !err && k < n; k++) {
		keys[k] = k;
		vals[k] = inner;
	}
	uint32_t count = n;
	t = bp_now_ns();
	if (!err && bpf_map_update_batch(outer, keys, vals, &count, NULL))
		err = -errno;
	*batch_ms = bp_ms(bp_now_ns() - t);
	free(keys);
	free(vals);
	close(outer);
	close(inner);
	return err;
}

static double med(const double *v, unsigned n)
{
	double tmp[16];

	memcpy(tmp, v, n * sizeof(*v));
	return bp_median_dbl(tmp, n);
}

static double minv(const double *v, unsigned n)
{
	double m = n ? v[0] : 0;

	for (unsigned i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

/* A namespace holding the peers of n veth pairs whose host ends are named "mp<pid>e<set>x<i>". */
static int make_links(struct update *u, int set, const char **ns, char (**names)[16])
{
	char suffix[8];

	snprintf(suffix, sizeof(suffix), "p3s%d", set);
	*names = calloc(u->n, sizeof(**names));
	if (!*names)
		return -ENOMEM;
	/* The peers live in the scratch namespace: deleting it takes every pair with it, in one
	 * batch, much faster than deleting a thousand links one by one. */
	*ns = topo_netns_add(suffix);
	if (!*ns)
		return -errno;
	const char *nspath = topo_netns_path(*ns);
	uint64_t t = bp_now_ns();
	for (unsigned i = 0; i < u->n; i++) {
		char peer[16];
		snprintf((*names)[i], sizeof((*names)[i]), "mp%ue%dx%u", (unsigned)u->b->pid % 100000u, set,
			 i % 10000u);
		snprintf(peer, sizeof(peer), "p%u", i);
		int ifx = bp_veth((*names)[i], peer, nspath);
		if (ifx < 0)
			return ifx;
	}
	bp_log(u->b, 1, "%u veth pairs in %.0f ms", u->n, bp_ms(bp_now_ns() - t));
	return 0;
}

static void drop_links(const char *ns)
{
	const char *argv[] = { "ip", "netns", "del", ns, NULL };

	if (ns)
		topo_run(NULL, 60000, NULL, 0, argv);
}

static void cell(char *buf, size_t len, const struct result *r, const double *v)
{
	if (r->crashed)
		snprintf(buf, len, "crash(%d)", r->crashed);
	else if (!r->runs)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", med(v, r->runs));
}

int bp_run_update(struct pbench *b)
{
	struct update u = { .b = b, .n = b->upd_endpoints };
	struct result dp[C_COUNT] = { 0 }, off[C_COUNT] = { 0 };
	const char *ns[C_COUNT] = { NULL };
	char (*names[C_COUNT])[16] = { NULL };
	double single_ms = 0, batch_ms = 0;
	int err;

	printf("\n== part 3: time to apply one rule change to %u endpoints ==\n", u.n);
	fflush(stdout);

	err = probe_slots(u.n, &single_ms, &batch_ms);
	static const char *const sfx[C_COUNT][2] = { { "us", "os" }, { "ud", "od" }, { "ut", "ot" } };
	for (int c = 0; c < C_COUNT && !err; c++) {
		if (!b->upd_case[c])
			continue;
		/* Links of its own per case: a crashed case may leave its filters attached. */
		err = make_links(&u, c, &ns[c], &names[c]);
		if (!err)
			err = run_case_child(&u, sfx[c][1], c, true, names[c], &off[c]);
		if (!err)
			err = run_case_child(&u, sfx[c][0], c, false, names[c], &dp[c]);
		bp_instance_rm(b, sfx[c][0]);
		drop_links(ns[c]);
		ns[c] = NULL;
	}
	if (err)
		goto out;

	printf("one more rule (selecting all %u endpoints, so every table changes) added and removed\n"
	       "next to a base rule that selects all of them; each call its own transaction. Median of\n"
	       "the runs; a case stops repeating after %.0f s.\n\n", u.n, b->upd_budget_s);
	printf("%-20s %-9s %5s %11s %11s %11s %11s %11s %12s\n", "case", "context", "runs", "add ms",
	       "remove ms", "add min ms", "add CPU ms", "base rule", "endpoints");
	for (int c = 0; c < C_COUNT; c++) {
		for (int o = 0; o < 2 && b->upd_case[c]; o++) {
			struct result *r = o ? &off[c] : &dp[c];
			char a[24], d[24], m[24], cpu[24];
			cell(a, sizeof(a), r, r->add_ms);
			cell(d, sizeof(d), r, r->del_ms);
			snprintf(m, sizeof(m), "%.1f", minv(r->add_ms, r->runs));
			cell(cpu, sizeof(cpu), r, r->add_cpu_ms);
			printf("%-20s %-9s %5u %11s %11s %11s %11s %11.0f %12.0f\n", case_name[c],
			       o ? "no-dp" : "datapath", r->runs, a, d, r->crashed ? "-" : m, cpu, r->setup_ms,
			       r->eps_ms);
		}
	}
	printf("\n(shared: one identity; distinct: one identity per endpoint, but all compile to the\n"
	       " same table, which the library shares; distinct tables: each endpoint also has a rule of\n"
	       " its own, so every table differs.\n"
	       " no-dp: the same calls on a MICROSEG_CTX_F_NO_DATAPATH context: compiler and bookkeeping\n"
	       " only. add CPU ms: user+system CPU of the process during the add; wall time far above it\n"
	       " is time spent waiting in the kernel. base rule: the first rule over all endpoints, ms.\n"
	       " base rule for distinct tables: it and the %u per-endpoint rules in one transaction.\n"
	       " endpoints: adding all endpoints before any rule, ms.)\n", u.n);
	printf("kernel probe: one ARRAY_OF_MAPS slot update %.2f ms (the syscall waits for an RCU grace\n"
	       "period); %u slots in one bpf_map_update_batch %.1f ms. Publishing to %u endpoints slot by\n"
	       "slot, both halves: ~%.0f ms\n",
	       single_ms, u.n, batch_ms, u.n, 2.0 * u.n * single_ms);
	for (int c = 0; c < C_COUNT; c++) {
		if (!b->upd_case[c])
			continue;
		if (dp[c].crashed || !dp[c].runs) {
			printf("target <= 50 ms: %s: not measured (the library crashed)\n", case_name[c]);
			continue;
		}
		printf("target <= 50 ms: %s: add %.1f ms (%.1fx the target), remove %.1f ms\n", case_name[c],
		       med(dp[c].add_ms, dp[c].runs), med(dp[c].add_ms, dp[c].runs) / 50.0,
		       med(dp[c].del_ms, dp[c].runs));
	}
	for (int c = 0; c < C_COUNT && b->upd_purge && b->upd_case[c]; c++)
		printf("purge, %s: %.0f ms\n", case_name[c], dp[c].purge_ms);
	fflush(stdout);
out:
	for (int c = 0; c < C_COUNT; c++) {
		drop_links(ns[c]);
		free(names[c]);
	}
	return err;
}
