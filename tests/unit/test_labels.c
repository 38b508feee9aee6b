/* SPDX-License-Identifier: Apache-2.0 */
/* Label syntax and canonical form, through microseg_labels_canonical() and identity_get(). */
#include "util.h"

#define BUFSZ 32768

/* Canonical string of a set, or the negative errno as text for comparison in messages. */
static int canon(const char *const *labels, size_t n, char *buf)
{
	return microseg_labels_canonical(labels, n, buf, BUFSZ);
}

/*
 * A malformed set must be refused by both entry points with the same code, and identity_get
 * must leave the context as it was and record a message.
 */
#define CHECK_SET_REJECTED(ctx, labels, n, err)                                                    \
	do {                                                                                       \
		static char h_buf_[BUFSZ];                                                         \
		struct ut_snap *h_before_ = malloc(sizeof(struct ut_snap));                        \
		struct microseg_identity *h_id_ = (struct microseg_identity *)&h_buf_;            \
		REQUIRE(h_before_);                                                                \
		ut_snap_take((ctx), h_before_);                                                    \
		CHECK_RC(microseg_labels_canonical((labels), (n), h_buf_, BUFSZ), (err));          \
		CHECK_RC(microseg_identity_get((ctx), (labels), (n), &h_id_), (err));              \
		/* output parameters are written only on success */                               \
		CHECK(h_id_ == (struct microseg_identity *)&h_buf_);                              \
		CHECK(microseg_ctx_last_error(ctx)[0] != '\0');                                    \
		CHECK_UNCHANGED((ctx), h_before_);                                                 \
		free(h_before_);                                                                   \
	} while (0)

static void test_order_insensitive(void)
{
	const char *a[] = { "k8s:app=web", "k8s:tier=frontend", "container:env=prod" };
	const char *b[] = { "container:env=prod", "k8s:app=web", "k8s:tier=frontend" };
	const char *c[] = { "k8s:tier=frontend", "container:env=prod", "k8s:app=web" };
	static char ca[BUFSZ], cb[BUFSZ], cc[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *ia = NULL, *ib = NULL, *ic = NULL;
	int la, lb, lc;

	REQUIRE(ctx);
	la = canon(a, 3, ca);
	lb = canon(b, 3, cb);
	lc = canon(c, 3, cc);
	CHECK(la > 0);
	CHECK_EQ(la, (int)strlen(ca));
	CHECK_EQ(la, lb);
	CHECK_EQ(la, lc);
	CHECK_STREQ(ca, cb);
	CHECK_STREQ(ca, cc);
	/* sorted and joined by ',' */
	CHECK_STREQ(ca, "container:env=prod,k8s:app=web,k8s:tier=frontend");

	CHECK_OK(microseg_identity_get(ctx, a, 3, &ia));
	CHECK_OK(microseg_identity_get(ctx, b, 3, &ib));
	CHECK_OK(microseg_identity_get(ctx, c, 3, &ic));
	REQUIRE(ia && ib && ic);
	CHECK(microseg_identity_id(ia) != 0);
	CHECK_EQ(microseg_identity_id(ia), microseg_identity_id(ib));
	CHECK_EQ(microseg_identity_id(ia), microseg_identity_id(ic));

	/* the identity's labels come back in canonical order */
	CHECK_EQ(microseg_identity_label_count(ia), 3);
	CHECK_STREQ(microseg_identity_label(ia, 0), "container:env=prod");
	CHECK_STREQ(microseg_identity_label(ia, 1), "k8s:app=web");
	CHECK_STREQ(microseg_identity_label(ia, 2), "k8s:tier=frontend");
	CHECK(microseg_identity_label(ia, 3) == NULL);
	CHECK(microseg_identity_label(ia, (size_t)-1) == NULL);

	/* a different set is a different identity */
	{
		const char *d[] = { "k8s:app=web", "k8s:tier=backend", "container:env=prod" };
		struct microseg_identity *id = NULL;
		CHECK_OK(microseg_identity_get(ctx, d, 3, &id));
		CHECK(id && microseg_identity_id(id) != microseg_identity_id(ia));
		if (id)
			CHECK_OK(microseg_identity_put(ctx, id));
	}
	CHECK_REFS_AND_DROP(ctx, ia, 3);
	microseg_ctx_close(ctx);
}

static void test_single_label_and_getters(void)
{
	const char *one[] = { "k8s:app=db" };
	static char buf[BUFSZ];

	CHECK_EQ(canon(one, 1, buf), (int)strlen("k8s:app=db"));
	CHECK_STREQ(buf, "k8s:app=db");
	/* NULL handle getters */
	CHECK_EQ(microseg_identity_id(NULL), 0);
	CHECK_EQ(microseg_identity_label_count(NULL), 0);
}

static void test_empty_value_forms(void)
{
	const char *bare[] = { "k8s:app" };
	const char *eq[] = { "k8s:app=" };
	const char *val[] = { "k8s:app=x" };
	static char cbare[BUFSZ], ceq[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *ib = NULL, *ie = NULL, *iv = NULL;

	REQUIRE(ctx);
	CHECK(canon(bare, 1, cbare) > 0);
	CHECK(canon(eq, 1, ceq) > 0);
	CHECK_STREQ(cbare, ceq);

	CHECK_OK(microseg_identity_get(ctx, bare, 1, &ib));
	CHECK_OK(microseg_identity_get(ctx, eq, 1, &ie));
	CHECK_OK(microseg_identity_get(ctx, val, 1, &iv));
	REQUIRE(ib && ie && iv);
	CHECK_EQ(microseg_identity_id(ib), microseg_identity_id(ie));
	CHECK(microseg_identity_id(ib) != microseg_identity_id(iv));
	CHECK_STREQ(microseg_identity_label(ib, 0), microseg_identity_label(ie, 0));

	/* "k8s:app" and "k8s:app=" are the same key: both in one set is a duplicate */
	{
		const char *both[] = { "k8s:app", "k8s:app=" };
		CHECK_SET_REJECTED(ctx, both, 2, -EINVAL);
	}
	CHECK_OK(microseg_identity_put(ctx, iv));
	CHECK_REFS_AND_DROP(ctx, ib, 2);
	microseg_ctx_close(ctx);
}

static void test_duplicates(void)
{
	const char *same_key[] = { "k8s:app=a", "k8s:app=b" };
	const char *exact[] = { "k8s:app=a", "k8s:app=a" };
	const char *far[] = { "k8s:app=a", "k8s:x=1", "k8s:y=2", "k8s:app=c" };
	const char *other_source[] = { "k8s:app=a", "container:app=a" };
	static char buf[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;

	REQUIRE(ctx);
	CHECK_SET_REJECTED(ctx, same_key, 2, -EINVAL);
	CHECK_SET_REJECTED(ctx, exact, 2, -EINVAL);
	CHECK_SET_REJECTED(ctx, far, 4, -EINVAL);
	/* the key is (source, key): the same key under another source is fine */
	CHECK(canon(other_source, 2, buf) > 0);
	CHECK_OK(microseg_identity_get(ctx, other_source, 2, &id));
	CHECK_EQ(microseg_identity_label_count(id), 2);
	if (id)
		CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"",                /* empty */
		"app=web",         /* no source */
		":app=web",        /* empty source */
		"k8s:",            /* no key */
		"k8s:=web",        /* empty key */
		"k8s",             /* neither ':' nor key */
		"k8s:app=we b",    /* space in value */
		" k8s:app=web",    /* leading space */
		"k8s :app=web",    /* space in source */
		"k8s:app=web\n",   /* control char */
		"k8s:ap\tp=web",   /* tab */
		"k8s:app=\x01",    /* control char in value */
		"k8s:app=\x7f",    /* DEL is not printable */
		"k8s:app=caf\xc3\xa9", /* not ASCII */
		"\xff:app=web",
	};
	struct microseg_ctx *ctx = ut_open();

	REQUIRE(ctx);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const char *set[] = { "k8s:ok=1", bad[i] };
		const char *alone[] = { bad[i] };
		CHECK_SET_REJECTED(ctx, alone, 1, -EINVAL);
		/* a bad label anywhere in the set spoils the whole set */
		CHECK_SET_REJECTED(ctx, set, 2, -EINVAL);
	}
	{
		const char *with_null[] = { "k8s:app=web", NULL };
		CHECK_SET_REJECTED(ctx, with_null, 2, -EINVAL);
	}
	microseg_ctx_close(ctx);
}

static void test_last_error_names_label(void)
{
	const char *labels[] = { "k8s:fine=1", "nocolonlabel" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;

	REQUIRE(ctx);
	CHECK_STREQ(microseg_ctx_last_error(ctx), "");
	CHECK_RC(microseg_identity_get(ctx, labels, 2, &id), -EINVAL);
	CHECK(strstr(microseg_ctx_last_error(ctx), "nocolonlabel") != NULL);
	microseg_ctx_close(ctx);
}

static void test_bad_arguments(void)
{
	const char *labels[] = { "k8s:app=web" };
	static char buf[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct ut_snap before;

	REQUIRE(ctx);
	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_labels_canonical(NULL, 1, buf, sizeof(buf)), -EINVAL);
	CHECK_RC(microseg_labels_canonical(labels, 0, buf, sizeof(buf)), -EINVAL);
	CHECK_RC(microseg_identity_get(NULL, labels, 1, &id), -EINVAL);
	CHECK_RC(microseg_identity_get(ctx, NULL, 1, &id), -EINVAL);
	CHECK_RC(microseg_identity_get(ctx, labels, 0, &id), -EINVAL);
	CHECK_RC(microseg_identity_get(ctx, labels, 1, NULL), -EINVAL);
	CHECK(id == NULL);
	CHECK_UNCHANGED(ctx, &before);
	microseg_ctx_close(ctx);
}

static void test_buffer_size(void)
{
	const char *labels[] = { "b:y=2", "a:x=1" };
	const char *want = "a:x=1,b:y=2";
	size_t len = strlen(want);
	char buf[64];

	/* exactly enough room for the string and its NUL */
	memset(buf, 'Z', sizeof(buf));
	CHECK_EQ(microseg_labels_canonical(labels, 2, buf, len + 1), (int)len);
	CHECK_STREQ(buf, want);
	/* one byte short: -ENOSPC, and nothing past buflen is written */
	memset(buf, 'Z', sizeof(buf));
	CHECK_RC(microseg_labels_canonical(labels, 2, buf, len), -ENOSPC);
	CHECK(buf[len] == 'Z');
	CHECK_RC(microseg_labels_canonical(labels, 2, buf, 1), -ENOSPC);
	CHECK(buf[1] == 'Z');
	CHECK_RC(microseg_labels_canonical(labels, 2, buf, 0), -ENOSPC);
	CHECK(buf[0] == 'Z');
	/* a bad set is reported as bad even with a small buffer */
	{
		const char *badset[] = { "a:x=1", "bad" };
		CHECK_RC(microseg_labels_canonical(badset, 2, buf, 1), -EINVAL);
	}
}

static void test_label_length(void)
{
	static char label255[MICROSEG_LABEL_MAX + 1], label256[MICROSEG_LABEL_MAX + 2];
	static char buf[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;

	REQUIRE(ctx);
	/* "k8s:app=" then value bytes up to the limit */
	memset(label255, 'v', MICROSEG_LABEL_MAX);
	memcpy(label255, "k8s:app=", 8);
	label255[MICROSEG_LABEL_MAX] = '\0';
	memset(label256, 'v', MICROSEG_LABEL_MAX + 1);
	memcpy(label256, "k8s:app=", 8);
	label256[MICROSEG_LABEL_MAX + 1] = '\0';
	{
		const char *ok[] = { label255 };
		const char *toolong[] = { label256 };
		const char *toolong_in_set[] = { "a:b=c", label256 };
		CHECK_EQ(canon(ok, 1, buf), MICROSEG_LABEL_MAX);
		CHECK_OK(microseg_identity_get(ctx, ok, 1, &id));
		CHECK_STREQ(microseg_identity_label(id, 0), label255);
		CHECK_SET_REJECTED(ctx, toolong, 1, -ENAMETOOLONG);
		CHECK_SET_REJECTED(ctx, toolong_in_set, 2, -ENAMETOOLONG);
	}
	if (id)
		CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

static void test_label_count(void)
{
	static char store[MICROSEG_LABELS_MAX + 1][32];
	const char *labels[MICROSEG_LABELS_MAX + 1];
	static char buf[BUFSZ];
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;

	REQUIRE(ctx);
	for (size_t i = 0; i <= MICROSEG_LABELS_MAX; i++) {
		snprintf(store[i], sizeof(store[i]), "unit:k%03zu=v", i);
		labels[i] = store[i];
	}
	CHECK(canon(labels, MICROSEG_LABELS_MAX, buf) > 0);
	CHECK_OK(microseg_identity_get(ctx, labels, MICROSEG_LABELS_MAX, &id));
	CHECK_EQ(microseg_identity_label_count(id), MICROSEG_LABELS_MAX);
	CHECK_SET_REJECTED(ctx, labels, MICROSEG_LABELS_MAX + 1, -E2BIG);
	if (id)
		CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

/*
 * ',' is printable ASCII, so a label may contain it; the set {"a:b=x,c:d=y"} must then not be
 * confused with {"a:b=x", "c:d=y"} even though both would join to the same text.
 */
static void test_comma_is_not_a_separator(void)
{
	const char *one[] = { "a:b=x,c:d=y" };
	const char *two[] = { "a:b=x", "c:d=y" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *i1 = NULL, *i2 = NULL;
	int rc;

	REQUIRE(ctx);
	CHECK_OK(microseg_identity_get(ctx, two, 2, &i2));
	rc = microseg_identity_get(ctx, one, 1, &i1);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		CHECK_EQ(microseg_identity_label_count(i1), 1);
		CHECK(microseg_identity_id(i1) != microseg_identity_id(i2));
		CHECK_REFS_AND_DROP(ctx, i1, 1);
	}
	if (i2)
		CHECK_REFS_AND_DROP(ctx, i2, 1);
	microseg_ctx_close(ctx);
}

static const struct h_test tests[] = {
	TEST_ENTRY(test_order_insensitive),
	TEST_ENTRY(test_single_label_and_getters),
	TEST_ENTRY(test_empty_value_forms),
	TEST_ENTRY(test_duplicates),
	TEST_ENTRY(test_malformed),
	TEST_ENTRY(test_last_error_names_label),
	TEST_ENTRY(test_bad_arguments),
	TEST_ENTRY(test_buffer_size),
	TEST_ENTRY(test_label_length),
	TEST_ENTRY(test_label_count),
	TEST_ENTRY(test_comma_is_not_a_separator),
};

HARNESS_MAIN(tests)
