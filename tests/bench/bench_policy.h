/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy benchmarks (bench-policy), shared between its three parts:
 *   verdict  per-packet cost of ms_to_container through BPF_PROG_TEST_RUN vs table size
 *   pps      packets per second through a router namespace: libmicroseg vs iptables vs nft
 *   update   time to apply one rule change to many endpoints
 * Every part prints its own table; none of them passes or fails.
 */
#ifndef BENCH_POLICY_H
#define BENCH_POLICY_H

#include <microseg/microseg.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pbench {
	pid_t pid;
	int subnet;  /* X of 10.200.X.0/24 and fd00:200:X::/64, unique to this run */
	int verbose; /* 1: progress, 2: also the library's INFO log */
	char workdir[64]; /* scratch files (rule sets), removed at exit */

	/* verdict */
	uint32_t repeat;       /* BPF_PROG_TEST_RUN repeat count */
	unsigned rounds;       /* interleaved rounds over the table sizes */
	unsigned new_samples;  /* single runs per size and round for the new-flow column */

	/* pps */
	unsigned pps_rules;
	double pps_seconds; /* measured window per variant, traffic shape and round */

	/* update */
	unsigned upd_endpoints;
	unsigned upd_runs;     /* at most this many add/remove pairs per case */
	double upd_budget_s;   /* stop repeating a case once it has used this much time */
	bool upd_purge;        /* purge the instance at the end (slow, see README) */
	bool upd_case[3];      /* shared identity, distinct identities, distinct tables */
};

/* ---- bench_policy.c: shared helpers ---- */
uint64_t bp_now_ns(void);
double bp_ms(uint64_t ns);
/* Median of v[0..n) (sorts v). */
double bp_median_u64(uint64_t *v, size_t n);
double bp_median_dbl(double *v, size_t n);
void bp_log(const struct pbench *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "/proc/loadavg" first three fields, for the notes under each table. */
void bp_loadavg(char *buf, size_t len);

/* Opens an instance named "pb<pid><suffix>" with the given capacities (0: default) and
 * flags; its pin and state directories are recorded for removal at exit. */
int bp_ctx_open(struct pbench *b, const char *suffix, uint32_t flags, uint32_t max_endpoints,
		uint32_t max_policy_entries, uint32_t max_connections, struct microseg_ctx **ctx);
/* Removes what bp_ctx_open recorded for suffix without the library (after close). */
void bp_instance_rm(struct pbench *b, const char *suffix);

/* Identity of the given labels (NULL-terminated list). */
int bp_identity(struct microseg_ctx *ctx, struct microseg_identity **id, const char *label, ...);

/* An ingress allow rule: endpoints matching ep_label accept from peers on ports (proto). */
int bp_rule_ingress(struct microseg_ctx *ctx, const char *ep_label, const struct microseg_peer *peers,
		    size_t n_peers, uint32_t proto, const uint16_t *ports, size_t n_ports,
		    struct microseg_rule **rule);

/* A veth pair: host_if in the current namespace, peer_if created directly in the namespace
 * at netns_path. Returns the host-side ifindex (> 0) or -errno. */
int bp_veth(const char *host_if, const char *peer_if, const char *netns_path);

/* Enters the network namespace at path (this thread only); bp_ns_leave returns to the one
 * the process started in. */
int bp_ns_enter(const char *path);
int bp_ns_leave(void);

/* Writes a file in b->workdir; the full path goes to path. */
int bp_write_file(struct pbench *b, const char *name, const char *data, size_t len, char *path,
		  size_t pathlen);

/* ---- the parts ---- */
int bp_run_verdict(struct pbench *b);
int bp_run_pps(struct pbench *b);
int bp_run_update(struct pbench *b);

#endif
