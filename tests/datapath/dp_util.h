/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the datapath tests: root check, a private network namespace, TAP-style output. */
#ifndef MS_DP_UTIL_H
#define MS_DP_UTIL_H

#include <stdint.h>

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

#endif
