/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend selection tables for services (pure functions, no kernel): the Maglev lookup table
 * (Eisenbud et al., NSDI 2016) with weights, and the weighted list random selection draws
 * from. The datapath picks table[hash % size] or list[random % count].
 */
#ifndef MICROSEG_MAGLEV_H
#define MICROSEG_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_lb_member {
	uint32_t id;     /* what goes into the table (backend id) */
	uint32_t weight; /* >= 1 */
	uint64_t key;    /* stable identity of the backend (a hash of its address and port): the
			  * table depends on keys, not on ids or the order given */
};

bool ms_is_prime(uint32_t n);
/* Greatest common divisor (0 with 0 gives 0): the weighted list's unit of weight. */
uint64_t ms_gcd64(uint64_t a, uint64_t b);

/* A stable 64-bit key for a backend address (16 bytes, IPv4 in the first 4) and port. */
uint64_t ms_lb_backend_key(const uint8_t addr[16], uint16_t port);

/*
 * Fills table[0..m) with member ids, each member getting a share of entries proportional to
 * its weight (within 1% for m >= 100 x members), and removing one of N members moving about
 * 1/N of the entries. m must be a prime > n. Returns 0, -EINVAL (n == 0, m not prime or <= n,
 * a zero weight) or -ENOMEM.
 */
int ms_maglev_build(const struct ms_lb_member *members, size_t n, uint32_t *table, uint32_t m);

/*
 * The weighted list for random selection: each member appears weight/g times (g: the weights'
 * greatest common divisor); if that is more than cap entries, shares are scaled down to fit
 * (each member at least once). Writes *count <= cap entries. Returns 0 or -EINVAL (n == 0, a
 * zero weight, cap < n).
 */
int ms_lb_weighted_list(const struct ms_lb_member *members, size_t n, uint32_t *list, size_t cap, size_t *count);

#endif
