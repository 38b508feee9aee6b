/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the datapath tests: root check, a private network namespace, TAP-style output. */
#ifndef MS_DP_UTIL_H
#define MS_DP_UTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "microseg_abi.h"
#include "pktbuild.h"

#define DP_SKIP 77

/* Exits with 77 (skipped) unless running as root. */
void dp_require_root(const char *test);

/* Moves the process into a new, empty network namespace: every device the test creates
 * there disappears with the process, whatever way it exits. */
int dp_private_netns(void);

/* Creates a veth pair named a/b in the current namespace, brings both up if up != 0, and
 * returns their ifindexes. */
int dp_veth_pair(const char *a, const char *b, int up, uint32_t *ia, uint32_t *ib);

/* Runs a shell command built from fmt; 0 if it exited with 0. */
int dp_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Deletes every entry of a hash or LPM map (keys up to 64 bytes). 0 or -errno. */
int dp_map_clear(int fd, size_t key_size);

/* Puts an ipcache entry for addr/plen (an IPv4 or IPv6 literal). 0 or -errno. */
int dp_ipc_put(int fd, const char *addr, uint32_t plen, uint32_t identity, uint32_t ifindex,
	       uint32_t ep_id, uint32_t flags);

/*
 * A new, empty policy table as the datapath expects it (the inner template of ms_policy): LPM
 * trie, ms_policy_key -> ms_policy_value, BPF_F_NO_PREALLOC. Also serves as the template
 * itself, through bpf_map__set_inner_map_fd(): libbpf 1.1 crashes in
 * bpf_map__set_max_entries(bpf_map__inner_map(m)) (the inner map has no object). fd or -errno.
 */
int dp_policy_table_create(uint32_t max_entries);

/* A test packet, described; dp_pkt_build() turns it into a frame. */
struct dp_pkt {
	int v6;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;      /* TCP/UDP ports; ICMP: sport is the echo identifier */
	uint8_t tcp;                /* TCP flags */
	uint8_t type, code;         /* ICMP/ICMPv6 */
	const char *smac;           /* Ethernet source, NULL: the sender's own */
	int later_frag;             /* a non-first fragment (no L4 header) */
	const struct dp_pkt *quote; /* ICMP error: the packet it quotes */
};

#define TCP4(s, d, sp, dp, f) { .src = s, .dst = d, .proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp = f }
#define TCP6(s, d, sp, dp, f) { .v6 = 1, .src = s, .dst = d, .proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp = f }
#define UDP4(s, d, sp, dp) { .src = s, .dst = d, .proto = IPPROTO_UDP, .sport = sp, .dport = dp }
#define UDP6(s, d, sp, dp) { .v6 = 1, .src = s, .dst = d, .proto = IPPROTO_UDP, .sport = sp, .dport = dp }
#define ICMP4(s, d, t, id) { .src = s, .dst = d, .proto = IPPROTO_ICMP, .type = t, .sport = id }
#define ICMPV6(s, d, t, id) { .v6 = 1, .src = s, .dst = d, .proto = IPPROTO_ICMPV6, .type = t, .sport = id }
#define ERR4(s, d, t, c, q) { .src = s, .dst = d, .proto = IPPROTO_ICMP, .type = t, .code = c, .quote = q }
#define ERR6(s, d, t, c, q) { .v6 = 1, .src = s, .dst = d, .proto = IPPROTO_ICMPV6, .type = t, .code = c, .quote = q }
#define RAW4(s, d, pr) { .src = s, .dst = d, .proto = pr }

/* Builds the frame of k into p, from Ethernet address smac (unless k->smac) to dmac. Returns
 * its length or -errno. */
int dp_pkt_build(struct pb *p, const struct dp_pkt *k, const char *smac, const char *dmac);

/* One entry of a policy table: peer identity, direction, protocol, port/bits (bits 0: every
 * port), action, rule id. */
struct dp_rule {
	uint32_t id;
	uint8_t dir, proto;
	uint16_t port;
	uint8_t bits;
	uint8_t action;
	uint32_t rule_id;
};

#define ALLOW(i, d, pr, po, b, r) { i, d, pr, po, b, MS_POLICY_ALLOW, r }
#define DENY(i, d, pr, po, b, r) { i, d, pr, po, b, MS_POLICY_DENY, r }
/* What the compiler puts in for a direction no rule selects. */
#define OPEN(d) ALLOW(MS_POLICY_ANY_ID, d, 0, 0, 0, 0)

/* Builds a table of the n rules (n 0: an empty table, both directions selected, nothing
 * allowed) and puts it in slot of the ms_policy map pol_fd, which keeps it alive. 0 or
 * -errno. */
int dp_policy_install(int pol_fd, uint32_t slot, const struct dp_rule *rules, size_t n,
		      uint32_t max_entries);

/* Prints the size of a loaded program and the verifier's work on it, as a TAP comment. */
void dp_print_insns(const char *name, int prog_fd);

/*
 * What the endpoint/policy/events tests share: a private namespace with one veth pair, the
 * ms_policy template, and the fds of the datapath object (endpoint.bpf.o) once loaded.
 */
struct dp_env {
	int prog[2];                /* [0] ms_from_container, [1] ms_to_container */
	int eps, ipc, stats, ct, cfg, pol, evstate, events;
	int template_fd;            /* inner map template of ms_policy */
	int ncpus;
	uint32_t if_a, if_b;
};

#define DP_LINKS_UP 1u   /* bring the veth pair up */
#define DP_NO_IPV6 2u    /* no IPv6 on new links: no router solicitations or MLD on them */

/* Moves into a private namespace, creates the veth pair <prefix>a<pid> / <prefix>b<pid>,
 * and a policy template of policy_entries. 0 or -1. */
int dp_env_init(struct dp_env *e, const char *prefix, unsigned int flags,
		uint32_t policy_entries);

/* Sizes for the datapath object; 0 leaves the object's own. */
struct dp_sizes {
	uint32_t endpoints;         /* ms_endpoints, ms_ep_stats; ms_policy gets twice */
	uint32_t ipcache, ct;
	uint32_t policy_exact;      /* ms_policy_exact */
	uint32_t ring_bytes;        /* ms_events */
};

struct bpf_object;

/* Sizes the maps of obj (endpoint.bpf.o, opened) and its ms_max_endpoints (max_endpoints,
 * the skeleton's rodata field; left alone if s->endpoints is 0), gives ms_policy the
 * template of e, loads it and fills in the fds of e. 0 or -1. */
int dp_env_load(struct dp_env *e, struct bpf_object *obj, uint32_t *max_endpoints,
		const struct dp_sizes *s);

/*
 * TAP output, one plan per process. dp_tap_start() skips unless root, runs setup (bails out
 * with exit 1 if it fails) and prints the plan; dp_tap_ok() prints one result and returns
 * bad; dp_tap_done() prints the summary, with note after it if not NULL, and returns the
 * exit status.
 */
void dp_tap_start(const char *test, int (*setup)(void), int planned);
int dp_tap_ok(int bad, const char *name);
int dp_tap_done(const char *note);

/* One expected counter change: ep_id 0 ends a list. */
struct dp_count {
	uint32_t ep_id;
	int dir;
	int reason;     /* MS_DROP_NONE: forwarded counter, else drop[dir][reason] */
	uint64_t packets;
};

/* Per-endpoint counters of slots 0..n-1 of ms_ep_stats, summed over the CPUs. */
int dp_stats_snapshot(int fd, int ncpus, uint32_t n, struct ms_ep_stats *out);

/*
 * after - before must equal exactly the changes in want (at most n_want, up to the first
 * ep_id 0), each packet of len bytes, in every counter of every slot: a packet counted in the
 * wrong place fails as surely as one not counted. Prints the differences; 0 if none.
 */
int dp_stats_check(const struct ms_ep_stats *before, const struct ms_ep_stats *after,
		   uint32_t n, const struct dp_count *want, size_t n_want, uint64_t len);

#endif
