/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datapath's backend selection arithmetic (bpf/lib/lb_pick.h), compiled here as it is in
 * the BPF programs: slot indexes and keys, affinity expiry, which backends may take new
 * connections, and how evenly the hashes spread connections over a Maglev table.
 */
#include <arpa/inet.h>
#include <stdint.h>

#include "harness.h"
#include "lb_pick.h"

#define SEC_NS 1000000000ull

static void slot_index_in_range(void)
{
	static const __u32 sizes[] = { 1, 2, 7, 251, 16381, 65537, 131071 };
	static const __u32 hashes[] = { 0, 1, 250, 251, 0x7fffffff, 0x80000000, 0xfffffffe,
					0xffffffff };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(hashes) / sizeof(hashes[0]); j++)
			CHECK(ms_lb_slot_index(hashes[j], sizes[i]) < sizes[i]);
		for (__u32 h = 0; h < 100000; h++)
			CHECK(ms_lb_slot_index(ms_lb_hash_cookie(h), sizes[i]) < sizes[i]);
	}
	/* No slots: never a division by zero. */
	CHECK_EQ(ms_lb_slot_index(12345, 0), 0);
}

static void slot_key_names_the_live_half(void)
{
	struct ms_lb_service svc = { .svc_id = 42, .n_slots = 10 };
	struct ms_lb_slot_key k;

	ms_lb_slot_key(&k, &svc, 7);
	CHECK_EQ(k.svc_id, 42);
	CHECK_EQ(k.slot, 7);
	svc.half = 1;
	ms_lb_slot_key(&k, &svc, 7);
	CHECK_EQ(k.slot, MS_LB_SLOT_HALF | 7);
	/* An index never reaches into the other half. */
	svc.half = 0;
	ms_lb_slot_key(&k, &svc, MS_LB_SLOT_HALF | 3);
	CHECK_EQ(k.slot, 3);
}

static void affinity_expiry(void)
{
	const __u64 now = 1000 * SEC_NS;
	struct ms_lb_affinity_value a = { .backend_id = 5, .last_ns = now };

	CHECK(ms_lb_affinity_live(&a, now, 60));
	CHECK(!ms_lb_affinity_live(NULL, now, 60));
	/* Affinity off: an entry left from when it was on binds nobody. */
	CHECK(!ms_lb_affinity_live(&a, now, 0));
	a.last_ns = now - 60 * SEC_NS;
	CHECK(ms_lb_affinity_live(&a, now, 60));
	a.last_ns = now - 60 * SEC_NS - 1;
	CHECK(!ms_lb_affinity_live(&a, now, 60));
	/* Stamped by another CPU after this one read the clock. */
	a.last_ns = now + 5000;
	CHECK(ms_lb_affinity_live(&a, now, 1));
	/* The longest timeout the ABI can carry does not overflow. */
	a.last_ns = now - 3600 * SEC_NS;
	CHECK(ms_lb_affinity_live(&a, now, UINT32_MAX));
	CHECK(!ms_lb_affinity_live(&a, now, 3599));
	/* An entry from the first second after boot. */
	a.last_ns = 0;
	CHECK(!ms_lb_affinity_live(&a, 61 * SEC_NS, 60));
}

static void only_active_backends_of_the_service(void)
{
	struct ms_lb_backend b = { .port = htons(80), .family = MS_FAMILY_IPV4,
				   .state = MS_LB_BACKEND_ACTIVE, .svc_id = 7 };

	CHECK(ms_lb_backend_usable(&b, 7, MS_FAMILY_IPV4));
	CHECK(!ms_lb_backend_usable(NULL, 7, MS_FAMILY_IPV4));
	CHECK(!ms_lb_backend_usable(&b, 8, MS_FAMILY_IPV4));
	CHECK(!ms_lb_backend_usable(&b, 7, MS_FAMILY_IPV6));
	b.state = MS_LB_BACKEND_TERMINATING;
	CHECK(!ms_lb_backend_usable(&b, 7, MS_FAMILY_IPV4));
	b.state = MS_LB_BACKEND_MAINTENANCE;
	CHECK(!ms_lb_backend_usable(&b, 7, MS_FAMILY_IPV4));
}

static void affinity_keys(void)
{
	struct ms_lb_affinity_key k;
	__u8 v6[16], v4[16], zero[16] = { 0 };
	__u64 cookie = 0x1122334455667788ull;

	memset(v4, 0xee, sizeof(v4)); /* bytes past an IPv4 address must not leak in */
	inet_pton(AF_INET, "10.0.0.1", v4);
	inet_pton(AF_INET6, "fd00::1", v6);

	memset(&k, 0xaa, sizeof(k));
	ms_lb_affinity_key_addr(&k, 3, MS_FAMILY_IPV4, v4);
	CHECK_EQ(k.svc_id, 3);
	CHECK_EQ(k.family, MS_FAMILY_IPV4);
	CHECK(!memcmp(k.client, v4, 4) && !memcmp(k.client + 4, zero, 12));
	CHECK(!memcmp(k.pad, zero, sizeof(k.pad)));

	ms_lb_affinity_key_addr(&k, 3, MS_FAMILY_IPV6, v6);
	CHECK_EQ(k.family, MS_FAMILY_IPV6);
	CHECK(!memcmp(k.client, v6, 16));

	memset(&k, 0xaa, sizeof(k));
	ms_lb_affinity_key_netns(&k, 4, cookie);
	CHECK_EQ(k.svc_id, 4);
	CHECK_EQ(k.family, 0);
	CHECK(!memcmp(k.client, &cookie, 8) && !memcmp(k.client + 8, zero, 8));
	CHECK(!memcmp(k.pad, zero, sizeof(k.pad)));
}

/* A tuple of client 10.1.x.y (or fd00::x:y) port sport to 10.96.0.1:80. */
struct tuple {
	__u64 s[2], d[2];
	__be16 sport, dport;
	__u8 proto;
};

static void tuple_init(struct tuple *t, int v6, __u32 client, __u16 sport)
{
	__u8 *s = (__u8 *)t->s, *d = (__u8 *)t->d;

	memset(t, 0, sizeof(*t));
	if (v6) {
		inet_pton(AF_INET6, "fd00::", s);
		inet_pton(AF_INET6, "fd00:96::1", d);
		s[12] = (__u8)(client >> 24);
		s[13] = (__u8)(client >> 16);
		s[14] = (__u8)(client >> 8);
		s[15] = (__u8)client;
	} else {
		s[0] = 10;
		s[1] = 1;
		s[2] = (__u8)(client >> 8);
		s[3] = (__u8)client;
		inet_pton(AF_INET, "10.96.0.1", d);
	}
	t->sport = htons(sport);
	t->dport = htons(80);
	t->proto = IPPROTO_TCP;
}

static __u32 tuple_hash(const struct tuple *t)
{
	return ms_lb_hash_tuple(t->s, t->d, t->sport, t->dport, t->proto);
}

/*
 * Pearson's chi-squared statistic of n draws into m slots. For uniform draws it averages
 * m - 1 with a standard deviation of sqrt(2(m - 1)); the tests allow 6 of them.
 */
static int spread_ok(const __u32 *counts, __u32 m, __u32 n)
{
	double expect = (double)n / m, chi2 = 0, dof = m - 1;

	for (__u32 i = 0; i < m; i++)
		chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
	/* chi2 - dof > 6 sqrt(2 dof), squared to do without libm. */
	if (chi2 > dof && (chi2 - dof) * (chi2 - dof) > 36 * 2 * dof) {
		fprintf(stderr, "chi2 %.1f over %u slots\n", chi2, m);
		return 0;
	}
	return 1;
}

/* What clients vary in practice: consecutive source ports, consecutive addresses, socket
 * cookies counting up. Each must fill a Maglev table evenly. */
static void hash_spread(void)
{
	static __u32 counts[251];
	const __u32 m = 251, n = 251 * 400;
	struct tuple t;

	for (int v6 = 0; v6 < 2; v6++) {
		memset(counts, 0, sizeof(counts));
		for (__u32 i = 0; i < n; i++) {
			tuple_init(&t, v6, 7, (__u16)(1024 + i % 64000));
			t.proto = i / 64000 ? IPPROTO_UDP : IPPROTO_TCP;
			counts[ms_lb_slot_index(tuple_hash(&t), m)]++;
		}
		CHECK(spread_ok(counts, m, n));

		memset(counts, 0, sizeof(counts));
		for (__u32 i = 0; i < n; i++) {
			tuple_init(&t, v6, i, 40000);
			counts[ms_lb_slot_index(tuple_hash(&t), m)]++;
		}
		CHECK(spread_ok(counts, m, n));
	}

	memset(counts, 0, sizeof(counts));
	for (__u32 i = 0; i < n; i++)
		counts[ms_lb_slot_index(ms_lb_hash_cookie(4096 + i), m)]++;
	CHECK(spread_ok(counts, m, n));
}

/* Every field counts, and in its place: one more port, the ports swapped, the addresses
 * swapped, another protocol each give another hash; and a one-bit change flips about half of
 * the hash's bits. */
static void hash_depends_on_every_field(void)
{
	struct tuple a, b;
	double flipped = 0;
	int samples = 0;
	__u64 tmp;

	tuple_init(&a, 1, 1, 40000);
	b = a;
	b.sport = htons(40001);
	CHECK(tuple_hash(&a) != tuple_hash(&b));
	b = a;
	b.sport = a.dport;
	b.dport = a.sport;
	CHECK(tuple_hash(&a) != tuple_hash(&b));
	b = a;
	b.proto = IPPROTO_UDP;
	CHECK(tuple_hash(&a) != tuple_hash(&b));
	b = a;
	for (int i = 0; i < 2; i++) {
		tmp = b.s[i];
		b.s[i] = b.d[i];
		b.d[i] = tmp;
	}
	CHECK(tuple_hash(&a) != tuple_hash(&b));

	for (__u32 c = 0; c < 64; c++) {
		tuple_init(&a, 1, c, (__u16)(30000 + c));
		for (int byte = 0; byte < 32; byte++) {
			for (int bit = 0; bit < 8; bit++) {
				b = a;
				((__u8 *)(byte < 16 ? b.s : b.d))[byte % 16] ^= (__u8)(1 << bit);
				flipped += __builtin_popcount(tuple_hash(&a) ^ tuple_hash(&b));
				samples++;
			}
		}
	}
	flipped /= samples;
	if (flipped < 15.5 || flipped > 16.5)
		fprintf(stderr, "an input bit flips %.2f of 32 output bits on average\n", flipped);
	CHECK(flipped > 15.5 && flipped < 16.5);
}

static const struct h_test tests[] = {
	TEST_ENTRY(slot_index_in_range),
	TEST_ENTRY(slot_key_names_the_live_half),
	TEST_ENTRY(affinity_expiry),
	TEST_ENTRY(only_active_backends_of_the_service),
	TEST_ENTRY(affinity_keys),
	TEST_ENTRY(hash_spread),
	TEST_ENTRY(hash_depends_on_every_field),
};

HARNESS_MAIN(tests)
