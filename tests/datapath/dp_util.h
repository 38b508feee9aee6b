/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the datapath tests: root check, a private network namespace, TAP-style output. */
#ifndef MS_DP_UTIL_H
#define MS_DP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "microseg_abi.h"

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
