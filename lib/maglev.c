// SPDX-License-Identifier: Apache-2.0
/*
 * Maglev lookup tables with weights, and weighted lists for random selection (lib/maglev.h).
 *
 * The table follows section 3.4 of the Maglev paper: every member has a preference list, a
 * permutation of the table's slots given by an offset and a skip derived from two hashes of its
 * key (the table size is prime, so any skip in [1, m) visits every slot once); members take
 * turns, each turn claiming the member's most preferred slot still free, until the table is full.
 *
 * Weights change who takes the turns. Member i's t-th turn (t = 0, 1, ...) happens at virtual
 * time (t + 1/2) / w_i, and turns are played in time order (ties in key order). Equal weights
 * give the paper's plain round robin; weight w means w turns per unit of time, spread evenly
 * rather than w turns in a row, so heavy members do not grab a run of preferred slots first.
 * A member's times depend only on its own weight, so removing a member leaves the relative order
 * of everyone else's turns unchanged, which is what keeps disruption near 1/N.
 *
 * Counts are fixed before the fill, by largest remainder: member i gets floor(m w_i / W) or one
 * more (W = sum of weights), and stops taking turns once it has them. Each turn fills exactly
 * one slot, so every share is within one entry of m w_i / W. A member whose share would round
 * to zero still gets one slot (taken from the largest share): m > n makes that possible, and a
 * backend that is listed but never chosen would be surprising.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

/*
 * A 64-bit finaliser (murmur3's fmix64) of our own rather than the hash map's: table layouts
 * must stay the same across library versions, or an upgrade would reshuffle every service's
 * connections, so this hash must never change for unrelated reasons.
 */
static uint64_t lb_mix(uint64_t x, uint64_t seed)
{
	x ^= seed;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#define SEED_OFFSET 0x5851f42d4c957f2dULL
#define SEED_SKIP 0x14057b7ef767814fULL
#define SEED_ADDR_LO 0x9e3779b97f4a7c15ULL
#define SEED_ADDR_HI 0xd1b54a32d192ed03ULL
#define SEED_PORT 0x8cb92ba72f3d8dd7ULL

bool ms_is_prime(uint32_t n)
{
	if (n < 4)
		return n >= 2;
	if (n % 2 == 0 || n % 3 == 0)
		return false;
	/* Trial division by 6k +- 1 up to sqrt(n) < 2^16: at most ~22000 steps, exact. */
	for (uint64_t d = 5; d * d <= n; d += 6)
		if (n % d == 0 || n % (d + 2) == 0)
			return false;
	return true;
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t ms_lb_backend_key(const uint8_t addr[16], uint16_t port)
{
	/* Bytes read in a fixed order so the key (and the table) is the same on any host. */
	uint64_t h = lb_mix(load_le64(addr), SEED_ADDR_LO);

	h = lb_mix(h ^ load_le64(addr + 8), SEED_ADDR_HI);
	return lb_mix(h ^ port, SEED_PORT);
}

/* A member in key order, with what the fill needs. */
struct slotter {
	uint64_t key;
	uint32_t weight;
	uint32_t id;
	uint32_t next;  /* the next slot of its preference list to try */
	uint32_t skip;
	uint32_t turns; /* turns taken so far */
	uint64_t when;  /* the next turn's time, see turn_before() */
	uint64_t when_rem;
	uint32_t quota; /* entries it gets */
	uint64_t rem;   /* m * weight mod W, for the largest-remainder rounding */
};

static int slotter_by_key(const void *a, const void *b)
{
	const struct slotter *x = a, *y = b;

	/* Weight and id only decide between equal keys, so the input order never matters. */
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

/*
 * Whether a's next turn comes before b's (equal times: lower key order first). The time
 * (2t + 1) / (2w) is kept as the integer part and remainder of (2t + 1) / w, so the comparison
 * is exact and needs no division: remainders are below the weights (< 2^32), so the cross
 * products fit in 64 bits.
 */
static bool turn_before(const struct slotter *s, uint32_t a, uint32_t b)
{
	if (s[a].when != s[b].when)
		return s[a].when < s[b].when;
	uint64_t fa = s[a].when_rem * s[b].weight, fb = s[b].when_rem * s[a].weight;
	if (fa != fb)
		return fa < fb;
	return a < b;
}

/* The next turn is 2 / w later. */
static void advance_turn(struct slotter *t)
{
	t->turns++;
	t->when_rem += 2;
	while (t->when_rem >= t->weight) {
		t->when_rem -= t->weight;
		t->when++;
	}
}

static void heap_down(uint32_t *heap, size_t len, size_t i, const struct slotter *s)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;

		if (l < len && turn_before(s, heap[l], heap[top]))
			top = l;
		if (r < len && turn_before(s, heap[r], heap[top]))
			top = r;
		if (top == i)
			return;
		uint32_t t = heap[i];
		heap[i] = heap[top];
		heap[top] = t;
		i = top;
	}
}

static int rem_desc(const void *a, const void *b, void *arg)
{
	const struct slotter *s = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (s[x].rem != s[y].rem)
		return s[x].rem > s[y].rem ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Largest-remainder shares of m over s[0..n) (key order), each at least 1. */
static void set_quotas(struct slotter *s, size_t n, uint32_t m, uint32_t *order)
{
	uint64_t total = 0, given = 0;

	for (size_t i = 0; i < n; i++)
		total += s[i].weight;
	for (size_t i = 0; i < n; i++) {
		/* m * w < 2^64, and the quotient is at most m. */
		uint64_t share = (uint64_t)m * s[i].weight;
		s[i].quota = (uint32_t)(share / total);
		s[i].rem = share % total;
		given += s[i].quota;
		order[i] = (uint32_t)i;
	}
	qsort_r(order, n, sizeof(order[0]), rem_desc, s);
	for (size_t k = 0; given < m; k++, given++) /* fewer than n entries left over */
		s[order[k]].quota++;
	for (size_t i = 0; i < n; i++) {
		if (s[i].quota)
			continue;
		size_t big = 0;
		for (size_t j = 1; j < n; j++)
			if (s[j].quota > s[big].quota)
				big = j;
		s[big].quota--; /* >= 2: m > n entries shared among n members */
		s[i].quota = 1;
	}
}

int ms_maglev_build(const struct ms_lb_member *members, size_t n, uint32_t *table, uint32_t m)
{
	if (!members || !table || n == 0 || m <= n || !ms_is_prime(m))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (members[i].weight == 0)
			return -EINVAL;

	struct slotter *s = calloc(n, sizeof(*s));
	uint32_t *heap = calloc(n, sizeof(*heap));
	uint8_t *taken = calloc(m, 1);
	if (!s || !heap || !taken) {
		free(s);
		free(heap);
		free(taken);
		return -ENOMEM;
	}

	for (size_t i = 0; i < n; i++) {
		s[i].key = members[i].key;
		s[i].weight = members[i].weight;
		s[i].id = members[i].id;
		s[i].next = (uint32_t)(lb_mix(s[i].key, SEED_OFFSET) % m);
		s[i].skip = (uint32_t)(lb_mix(s[i].key, SEED_SKIP) % (m - 1) + 1);
	}
	qsort(s, n, sizeof(*s), slotter_by_key);
	set_quotas(s, n, m, heap); /* heap doubles as scratch here */

	for (size_t i = 0; i < n; i++) {
		s[i].when = 1 / s[i].weight; /* turn 0 at 1 / (2w) */
		s[i].when_rem = 1 % s[i].weight;
		heap[i] = (uint32_t)i;
	}
	for (size_t i = n / 2; i-- > 0;)
		heap_down(heap, n, i, s);

	/* m turns in all: each fills one slot, and the quotas add up to m. */
	size_t live = n;
	for (uint32_t filled = 0; filled < m; filled++) {
		struct slotter *t = &s[heap[0]];

		while (taken[t->next]) {
			uint64_t pos = (uint64_t)t->next + t->skip; /* < 2m: one subtraction, no division */
			t->next = (uint32_t)(pos >= m ? pos - m : pos);
		}
		taken[t->next] = 1;
		table[t->next] = t->id;
		advance_turn(t);
		if (t->turns == t->quota) {
			heap[0] = heap[--live];
			if (!live)
				break;
		}
		heap_down(heap, live, 0, s);
	}

	free(s);
	free(heap);
	free(taken);
	return 0;
}

uint64_t ms_gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Entries for reduced weight r at scale k/top: floor(r k / top), at least 1. */
static uint64_t scaled(uint64_t r, uint64_t k, uint64_t top)
{
	uint64_t c = r * k / top;

	return c ? c : 1;
}

int ms_lb_weighted_list(const struct ms_lb_member *members, size_t n, uint32_t *list, size_t cap, size_t *count)
{
	uint64_t g = 0, top = 0, total = 0;

	if (!members || !list || !count || n == 0 || cap < n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (members[i].weight == 0)
			return -EINVAL;
		g = ms_gcd64(g, members[i].weight);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t r = members[i].weight / g;
		total += r;
		if (r > top)
			top = r;
	}

	/*
	 * Too many entries: find the largest k for which floor(r_i k / top) entries each (at
	 * least one) still fit. At k = top everything is exact and does not fit, so k < top <
	 * 2^32 and r_i k cannot overflow; at k = 1 every member gets one entry, which fits.
	 * A search over k, not a rounding with a sorted remainder list, so no allocation.
	 */
	uint64_t k = top;
	if (total > cap) {
		uint64_t lo = 1, hi = top - 1;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo + 1) / 2, sum = 0;
			for (size_t i = 0; i < n && sum <= cap; i++)
				sum += scaled(members[i].weight / g, mid, top);
			if (sum <= cap)
				lo = mid;
			else
				hi = mid - 1;
		}
		k = lo;
	}

	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t c = scaled(members[i].weight / g, k, top);
		for (uint64_t j = 0; j < c; j++)
			list[w++] = members[i].id;
	}
	*count = w;
	return 0;
}
