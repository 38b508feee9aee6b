/* SPDX-License-Identifier: Apache-2.0 */
/* Identity allocation, reference counting, reserved and explicit ids, listing. */
#include <pthread.h>

#include "util.h"

static void test_same_set_same_id(void)
{
	const char *labels[] = { "k8s:app=web" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *a = NULL, *b = NULL, *l = NULL;
	size_t base;
	uint32_t num;

	REQUIRE(ctx);
	base = ut_identity_count(ctx);
	REQUIRE_OK(microseg_identity_get(ctx, labels, 1, &a));
	num = microseg_identity_id(a);
	CHECK(num >= MICROSEG_IDENTITY_LOCAL_MIN && num <= MICROSEG_IDENTITY_LOCAL_MAX);
	CHECK_EQ(ut_identity_count(ctx), base + 1);

	REQUIRE_OK(microseg_identity_get(ctx, labels, 1, &b));
	CHECK_EQ(microseg_identity_id(b), num);
	/* a second reference is not a second identity */
	CHECK_EQ(ut_identity_count(ctx), base + 1);

	/* lookup gives a third reference to the same identity */
	REQUIRE_OK(microseg_identity_lookup(ctx, num, &l));
	CHECK_EQ(microseg_identity_id(l), num);
	CHECK_STREQ(microseg_identity_label(l, 0), "k8s:app=web");

	CHECK_REFS_AND_DROP(ctx, a, 3);
	CHECK_EQ(ut_identity_count(ctx), base);
	{
		struct microseg_identity *gone = (struct microseg_identity *)&num;
		CHECK_RC(microseg_identity_lookup(ctx, num, &gone), -ENOENT);
		CHECK(gone == (struct microseg_identity *)&num);
	}
	microseg_ctx_close(ctx);
}

static void test_local_ids_distinct_and_listed(void)
{
	enum { N = 40 };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *ids[N] = { 0 };
	uint32_t listed[N + 16];
	size_t base, count = 0;

	REQUIRE(ctx);
	base = ut_identity_count(ctx);
	REQUIRE(base + N <= ARRAY_LEN(listed));
	for (int i = 0; i < N; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "n%d", i);
		ids[i] = ut_ident(ctx, tag);
		REQUIRE(ids[i]);
		uint32_t num = microseg_identity_id(ids[i]);
		CHECK(num >= MICROSEG_IDENTITY_LOCAL_MIN && num <= MICROSEG_IDENTITY_LOCAL_MAX);
		for (int j = 0; j < i; j++)
			CHECK(microseg_identity_id(ids[j]) != num);
	}
	CHECK_OK(microseg_identity_list(ctx, listed, ARRAY_LEN(listed), &count));
	CHECK_EQ(count, base + N);
	for (size_t i = 1; i < count; i++)
		CHECK(listed[i - 1] < listed[i]); /* ascending, no repeats */
	for (int i = 0; i < N; i++) {
		int found = 0;
		for (size_t j = 0; j < count; j++)
			found |= listed[j] == microseg_identity_id(ids[i]);
		CHECK(found);
	}
	for (int i = 0; i < N; i++)
		CHECK_OK(microseg_identity_put(ctx, ids[i]));
	CHECK_EQ(ut_identity_count(ctx), base);
	microseg_ctx_close(ctx);
}

static void test_reuse_after_free(void)
{
	const char *labels[] = { "k8s:app=cycle" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	size_t base;

	REQUIRE(ctx);
	base = ut_identity_count(ctx);
	/* getting and dropping a set many times must not leak ids or entries */
	for (int i = 0; i < 1000; i++) {
		REQUIRE_OK(microseg_identity_get(ctx, labels, 1, &id));
		uint32_t num = microseg_identity_id(id);
		REQUIRE(num >= MICROSEG_IDENTITY_LOCAL_MIN);
		REQUIRE_OK(microseg_identity_put(ctx, id));
		REQUIRE(!ut_id_live(ctx, num));
	}
	CHECK_EQ(ut_identity_count(ctx), base);
	microseg_ctx_close(ctx);
}

static void test_reserved(void)
{
	static const struct {
		const char *label;
		uint32_t id;
	} reserved[] = {
		{ "reserved:host", MICROSEG_IDENTITY_HOST },
		{ "reserved:world", MICROSEG_IDENTITY_WORLD },
		{ "reserved:unmanaged", MICROSEG_IDENTITY_UNMANAGED },
	};
	struct microseg_ctx *ctx = ut_open();
	size_t base;

	REQUIRE(ctx);
	base = ut_identity_count(ctx);
	for (size_t i = 0; i < ARRAY_LEN(reserved); i++) {
		const char *labels[] = { reserved[i].label };
		struct microseg_identity *a = NULL, *b = NULL;

		/* reserved ids exist from the start */
		CHECK(ut_id_live(ctx, reserved[i].id));
		CHECK_OK(microseg_identity_get(ctx, labels, 1, &a));
		CHECK_EQ(microseg_identity_id(a), reserved[i].id);
		CHECK_OK(microseg_identity_lookup(ctx, reserved[i].id, &b));
		CHECK_EQ(microseg_identity_id(b), reserved[i].id);
		CHECK_EQ(microseg_identity_label_count(b), 1);
		{
			/* the label comes back canonical ("reserved:host" may gain its empty value) */
			char canon[64];
			CHECK(microseg_labels_canonical(labels, 1, canon, sizeof(canon)) > 0);
			CHECK_STREQ(microseg_identity_label(b, 0), canon);
		}
		if (a)
			CHECK_OK(microseg_identity_put(ctx, a));
		if (b)
			CHECK_OK(microseg_identity_put(ctx, b));
		/* dropping every reference we took does not free a reserved id */
		CHECK(ut_id_live(ctx, reserved[i].id));
		/* an explicit id for a reserved set conflicts with its reserved id */
		{
			struct microseg_identity *e = NULL;
			CHECK_RC(microseg_identity_get_explicit(ctx, labels, 1, 4000 + (uint32_t)i, &e),
				 -EEXIST);
		}
	}
	CHECK_EQ(ut_identity_count(ctx), base);
	/* the reserved ids are among the listed ones */
	{
		uint32_t ids[64];
		size_t n = 0;
		CHECK_OK(microseg_identity_list(ctx, ids, ARRAY_LEN(ids), &n));
		for (size_t i = 0; i < ARRAY_LEN(reserved); i++) {
			int found = 0;
			for (size_t j = 0; j < n && j < ARRAY_LEN(ids); j++)
				found |= ids[j] == reserved[i].id;
			CHECK(found);
		}
	}
	/* id 0 means "no identity" and is never bound */
	{
		struct microseg_identity *z = NULL;
		CHECK_RC(microseg_identity_lookup(ctx, MICROSEG_IDENTITY_UNKNOWN, &z), -ENOENT);
		CHECK_RC(microseg_identity_lookup(ctx, 200, &z), -ENOENT);
		CHECK_RC(microseg_identity_lookup(ctx, MICROSEG_IDENTITY_LOCAL_MAX + 1, &z), -ENOENT);
		CHECK_RC(microseg_identity_lookup(ctx, UINT32_MAX, &z), -ENOENT);
		CHECK(z == NULL);
	}
	microseg_ctx_close(ctx);
}

static void test_explicit(void)
{
	const char *a[] = { "k8s:app=a" };
	const char *b[] = { "k8s:app=b" };
	const char *c[] = { "k8s:app=c" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *ea = NULL, *ea2 = NULL, *ga = NULL, *lc = NULL, *x = NULL;
	struct ut_snap before;

	REQUIRE(ctx);
	/* range */
	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, 0, &x), -ERANGE);
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, MICROSEG_IDENTITY_HOST, &x), -ERANGE);
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, MICROSEG_IDENTITY_EXPLICIT_MIN - 1, &x),
		 -ERANGE);
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, MICROSEG_IDENTITY_EXPLICIT_MAX + 1, &x),
		 -ERANGE);
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, UINT32_MAX, &x), -ERANGE);
	CHECK(x == NULL);
	CHECK_UNCHANGED(ctx, &before);

	/* both ends of the range are usable */
	CHECK_OK(microseg_identity_get_explicit(ctx, a, 1, MICROSEG_IDENTITY_EXPLICIT_MIN, &ea));
	CHECK_EQ(microseg_identity_id(ea), MICROSEG_IDENTITY_EXPLICIT_MIN);
	CHECK_OK(microseg_identity_get_explicit(ctx, b, 1, MICROSEG_IDENTITY_EXPLICIT_MAX, &x));
	CHECK_EQ(microseg_identity_id(x), MICROSEG_IDENTITY_EXPLICIT_MAX);
	if (x)
		CHECK_REFS_AND_DROP(ctx, x, 1);
	x = NULL;
	REQUIRE(ea);

	/* same set, same id: another reference */
	CHECK_OK(microseg_identity_get_explicit(ctx, a, 1, MICROSEG_IDENTITY_EXPLICIT_MIN, &ea2));
	CHECK_EQ(microseg_identity_id(ea2), MICROSEG_IDENTITY_EXPLICIT_MIN);
	/* a plain get of the set finds the explicit binding */
	CHECK_OK(microseg_identity_get(ctx, a, 1, &ga));
	CHECK_EQ(microseg_identity_id(ga), MICROSEG_IDENTITY_EXPLICIT_MIN);

	ut_snap_take(ctx, &before);
	/* the id is bound to another set */
	CHECK_RC(microseg_identity_get_explicit(ctx, b, 1, MICROSEG_IDENTITY_EXPLICIT_MIN, &x),
		 -EEXIST);
	/* the set already has another id */
	CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, 300, &x), -EEXIST);
	CHECK_UNCHANGED(ctx, &before);
	/* a set with a local id cannot also get an explicit one */
	CHECK_OK(microseg_identity_get(ctx, c, 1, &lc));
	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_identity_get_explicit(ctx, c, 1, 301, &x), -EEXIST);
	/* errors of the label set come first, as in identity_get */
	{
		const char *bad[] = { "k8s:app=a", "k8s:app=z" };
		CHECK_RC(microseg_identity_get_explicit(ctx, bad, 2, 302, &x), -EINVAL);
		CHECK_RC(microseg_identity_get_explicit(NULL, a, 1, 302, &x), -EINVAL);
		CHECK_RC(microseg_identity_get_explicit(ctx, NULL, 1, 302, &x), -EINVAL);
		CHECK_RC(microseg_identity_get_explicit(ctx, a, 0, 302, &x), -EINVAL);
		CHECK_RC(microseg_identity_get_explicit(ctx, a, 1, 302, NULL), -EINVAL);
	}
	CHECK(x == NULL);
	CHECK_UNCHANGED(ctx, &before);
	CHECK(!ut_id_live(ctx, 300));
	CHECK(!ut_id_live(ctx, 301));
	CHECK(!ut_id_live(ctx, 302));

	/* three references on the explicit identity; dropping them frees the id */
	CHECK_REFS_AND_DROP(ctx, ea, 3);
	/* and the freed explicit id can now be bound to another set */
	CHECK_OK(microseg_identity_get_explicit(ctx, b, 1, MICROSEG_IDENTITY_EXPLICIT_MIN, &x));
	CHECK_EQ(microseg_identity_id(x), MICROSEG_IDENTITY_EXPLICIT_MIN);
	if (x)
		CHECK_REFS_AND_DROP(ctx, x, 1);
	if (lc)
		CHECK_REFS_AND_DROP(ctx, lc, 1);
	microseg_ctx_close(ctx);
}

static void test_put_errors(void)
{
	struct microseg_ctx *ctx = ut_open(), *other = ut_open_named("unit-other");
	struct microseg_identity *mine = NULL, *foreign = NULL, *reserved_foreign = NULL;
	struct ut_snap before;

	REQUIRE(ctx && other);
	mine = ut_ident(ctx, "mine");
	foreign = ut_ident(other, "foreign");
	REQUIRE(mine && foreign);
	REQUIRE_OK(microseg_identity_lookup(other, MICROSEG_IDENTITY_WORLD, &reserved_foreign));

	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_identity_put(NULL, mine), -EINVAL);
	CHECK_RC(microseg_identity_put(ctx, NULL), -EINVAL);
	/* a handle of another context is not a live identity of ctx */
	CHECK_RC(microseg_identity_put(ctx, foreign), -ENOENT);
	CHECK_RC(microseg_identity_put(ctx, reserved_foreign), -ENOENT);
	CHECK_UNCHANGED(ctx, &before);
	{
		struct microseg_identity *x = NULL;
		CHECK_RC(microseg_identity_lookup(NULL, 1, &x), -EINVAL);
		CHECK_RC(microseg_identity_lookup(ctx, 1, NULL), -EINVAL);
	}
	/* neither context lost a reference */
	CHECK_REFS_AND_DROP(ctx, mine, 1);
	CHECK_REFS_AND_DROP(other, foreign, 1);
	CHECK_OK(microseg_identity_put(other, reserved_foreign));
	microseg_ctx_close(other);
	microseg_ctx_close(ctx);
}

static void test_list(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *h[3] = { 0 };
	uint32_t ids[64], small[2];
	size_t count = 0, base;

	REQUIRE(ctx);
	CHECK_RC(microseg_identity_list(NULL, ids, ARRAY_LEN(ids), &count), -EINVAL);
	CHECK_RC(microseg_identity_list(ctx, ids, ARRAY_LEN(ids), NULL), -EINVAL);
	base = ut_identity_count(ctx);
	for (int i = 0; i < 3; i++) {
		char tag[8];
		snprintf(tag, sizeof(tag), "l%d", i);
		h[i] = ut_ident(ctx, tag);
		REQUIRE(h[i]);
	}
	CHECK_OK(microseg_identity_list(ctx, ids, ARRAY_LEN(ids), &count));
	CHECK_EQ(count, base + 3);
	/* exactly enough room */
	count = 0;
	CHECK_OK(microseg_identity_list(ctx, ids, base + 3, &count));
	CHECK_EQ(count, base + 3);
	/* cap 0 with NULL ids reports the number */
	count = 0;
	CHECK_RC(microseg_identity_list(ctx, NULL, 0, &count), -ENOSPC);
	CHECK_EQ(count, base + 3);
	/* a short array holds the first (smallest) ids; nothing is written past it */
	count = 0;
	CHECK_RC(microseg_identity_list(ctx, small, ARRAY_LEN(small), &count), -ENOSPC);
	CHECK_EQ(count, base + 3);
	CHECK_EQ(small[0], ids[0]);
	CHECK_EQ(small[1], ids[1]);
	{
		uint32_t buf[4] = { 7, 7, 7, 7 };
		count = 0;
		CHECK_RC(microseg_identity_list(ctx, buf, 1, &count), -ENOSPC);
		CHECK_EQ(buf[0], ids[0]);
		CHECK_EQ(buf[1], 7);
	}
	for (int i = 0; i < 3; i++)
		CHECK_OK(microseg_identity_put(ctx, h[i]));
	CHECK_EQ(ut_identity_count(ctx), base);
	microseg_ctx_close(ctx);
}

/* Many threads taking and dropping references on shared and private sets of one context. */
struct worker_arg {
	struct microseg_ctx *ctx;
	int index;
	int errors;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char mine[64];
	const char *shared[] = { "k8s:app=shared" };
	const char *priv[] = { mine };

	snprintf(mine, sizeof(mine), "k8s:app=private-%d", w->index);
	for (int i = 0; i < 2000; i++) {
		struct microseg_identity *s = NULL, *p2 = NULL;
		if (microseg_identity_get(w->ctx, shared, 1, &s) != 0)
			w->errors++;
		if (microseg_identity_get(w->ctx, priv, 1, &p2) != 0)
			w->errors++;
		if (s && microseg_identity_put(w->ctx, s) != 0)
			w->errors++;
		if (p2 && microseg_identity_put(w->ctx, p2) != 0)
			w->errors++;
	}
	return NULL;
}

static void test_threads(void)
{
	enum { T = 4 };
	struct microseg_ctx *ctx = ut_open();
	struct worker_arg args[T];
	pthread_t th[T];
	struct microseg_identity *hold = NULL;
	size_t base;
	int started = 0;

	REQUIRE(ctx);
	base = ut_identity_count(ctx);
	/* one long-lived reference on the shared set so its id must stay stable throughout */
	{
		const char *shared[] = { "k8s:app=shared" };
		REQUIRE_OK(microseg_identity_get(ctx, shared, 1, &hold));
	}
	for (int i = 0; i < T; i++) {
		args[i] = (struct worker_arg){ .ctx = ctx, .index = i };
		if (pthread_create(&th[i], NULL, worker, &args[i]) == 0)
			started++;
	}
	REQUIRE(started == T);
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(args[i].errors, 0);
	}
	CHECK_EQ(ut_identity_count(ctx), base + 1);
	CHECK_REFS_AND_DROP(ctx, hold, 1);
	CHECK_EQ(ut_identity_count(ctx), base);
	microseg_ctx_close(ctx);
}

static const struct h_test tests[] = {
	TEST_ENTRY(test_same_set_same_id),
	TEST_ENTRY(test_local_ids_distinct_and_listed),
	TEST_ENTRY(test_reuse_after_free),
	TEST_ENTRY(test_reserved),
	TEST_ENTRY(test_explicit),
	TEST_ENTRY(test_put_errors),
	TEST_ENTRY(test_list),
	TEST_ENTRY(test_threads),
};

HARNESS_MAIN(tests)
