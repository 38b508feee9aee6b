/* SPDX-License-Identifier: Apache-2.0 */
/* Context options, error reporting helpers, version, and isolation between contexts. */
#include <limits.h>
#include <stddef.h>

#include "util.h"

/* Opens with the given options; on success closes again. Returns the code of the open. */
static int try_open(const struct microseg_ctx_opts *o)
{
	struct microseg_ctx *ctx = (struct microseg_ctx *)&ctx;
	int rc = microseg_ctx_open(o, &ctx);

	if (rc == 0)
		microseg_ctx_close(ctx);
	else if (ctx != (struct microseg_ctx *)&ctx)
		return 1000; /* out parameter written on failure: never a valid return code */
	return rc;
}

static int open_instance(const char *name)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = name, .flags = MICROSEG_CTX_F_NO_DATAPATH);
	return try_open(&o);
}

static void test_defaults(void)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .flags = MICROSEG_CTX_F_NO_DATAPATH);
	struct microseg_ctx *ctx = NULL;

	REQUIRE_OK(microseg_ctx_open(&o, &ctx));
	REQUIRE(ctx);
	CHECK_STREQ(microseg_ctx_instance(ctx), "default");
	CHECK_EQ(microseg_ctx_restored(ctx), 0);
	CHECK_STREQ(microseg_ctx_last_error(ctx), "");
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	microseg_ctx_close(ctx);
	microseg_ctx_close(NULL); /* no-op */
}

static void test_instance_names(void)
{
	char longest[MICROSEG_INSTANCE_NAME_MAX + 1], toolong[MICROSEG_INSTANCE_NAME_MAX + 2];
	static const char *const bad[] = {
		"",  ".", "..", ".hidden", "a/b", "/abs", "a b", "tab\there", "new\nline",
		"caf\xc3\xa9", "semi;colon", "star*", "dollar$", "back\\slash", "q\"uote",
	};
	static const char *const good[] = { "a", "A-Z_0.9", "x.", "my-inst_01", "a..b" };

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int rc = open_instance(bad[i]);
		if (rc != -EINVAL)
			h_fail(__FILE__, __LINE__, "instance \"%s\": got %d, expected -EINVAL", bad[i], rc);
		h_checks++;
	}
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		int rc = open_instance(good[i]);
		if (rc != 0)
			h_fail(__FILE__, __LINE__, "instance \"%s\": got %d, expected 0", good[i], rc);
		h_checks++;
	}
	memset(longest, 'n', MICROSEG_INSTANCE_NAME_MAX);
	longest[MICROSEG_INSTANCE_NAME_MAX] = '\0';
	memset(toolong, 'n', MICROSEG_INSTANCE_NAME_MAX + 1);
	toolong[MICROSEG_INSTANCE_NAME_MAX + 1] = '\0';
	CHECK_OK(open_instance(longest));
	CHECK_RC(open_instance(toolong), -ENAMETOOLONG);
	{
		MICROSEG_OPTS(microseg_ctx_opts, o, .instance = longest,
			      .flags = MICROSEG_CTX_F_NO_DATAPATH);
		struct microseg_ctx *ctx = NULL;
		CHECK_OK(microseg_ctx_open(&o, &ctx));
		if (ctx)
			CHECK_STREQ(microseg_ctx_instance(ctx), longest);
		microseg_ctx_close(ctx);
	}
}

static void test_flags_and_out(void)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .flags = MICROSEG_CTX_F_NO_DATAPATH);
	struct microseg_ctx *ctx = NULL;

	CHECK_RC(microseg_ctx_open(&o, NULL), -EINVAL);
	o.flags = MICROSEG_CTX_F_NO_DATAPATH | (1u << 31);
	CHECK_RC(try_open(&o), -EINVAL);
	o.flags = MICROSEG_CTX_F_NO_DATAPATH | (1u << 1);
	CHECK_RC(try_open(&o), -EINVAL);
	o.flags = MICROSEG_CTX_F_NO_DATAPATH;
	CHECK_OK(microseg_ctx_open(&o, &ctx));
	microseg_ctx_close(ctx);
}

static void test_capacity_options(void)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = "cap", .flags = MICROSEG_CTX_F_NO_DATAPATH);

	o.max_endpoints = 65535;
	CHECK_OK(try_open(&o));
	o.max_endpoints = 65536;
	CHECK_RC(try_open(&o), -EINVAL);
	o.max_endpoints = UINT32_MAX;
	CHECK_RC(try_open(&o), -EINVAL);
}

static void test_path_options(void)
{
	char longpath[MICROSEG_PATH_MAX + 16];
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = "paths", .flags = MICROSEG_CTX_F_NO_DATAPATH);

	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	o.bpffs_dir = longpath;
	CHECK_RC(try_open(&o), -ENAMETOOLONG);
	o.bpffs_dir = NULL;
	o.state_dir = longpath;
	CHECK_RC(try_open(&o), -ENAMETOOLONG);
}

/* The sz protocol: a bigger struct is fine while its unknown tail is zero. */
struct opts_plus {
	struct microseg_ctx_opts o;
	uint64_t future[3];
};

static void test_opts_size(void)
{
	struct opts_plus p;

	memset(&p, 0, sizeof(p));
	p.o.sz = sizeof(p);
	p.o.flags = MICROSEG_CTX_F_NO_DATAPATH;
	p.o.instance = "sz";
	CHECK_OK(try_open(&p.o));
	p.future[2] = 1;
	CHECK_RC(try_open(&p.o), -EINVAL);
	p.future[2] = 0;
	p.future[0] = 1ull << 63;
	CHECK_RC(try_open(&p.o), -EINVAL);
	p.future[0] = 0;
	/* a single non-zero byte just past the known struct */
	((unsigned char *)&p)[sizeof(struct microseg_ctx_opts)] = 1;
	CHECK_RC(try_open(&p.o), -EINVAL);
	((unsigned char *)&p)[sizeof(struct microseg_ctx_opts)] = 0;
	CHECK_OK(try_open(&p.o));

	/* an older caller whose struct ended after `flags` */
	memset(&p, 0, sizeof(p));
	p.o.sz = offsetof(struct microseg_ctx_opts, max_endpoints);
	p.o.flags = MICROSEG_CTX_F_NO_DATAPATH;
	p.o.instance = "old";
	/* garbage beyond sz must not be read */
	p.o.max_endpoints = UINT32_MAX;
	p.o.max_ipcache = UINT32_MAX;
	p.future[0] = ~0ull;
	CHECK_OK(try_open(&p.o));
}

static void test_strerror(void)
{
	static const int samples[] = { INT_MIN, INT_MIN + 1, -100000, -4096, -1, 0, 1, 4095, 4096,
				       100000, INT_MAX };
	static const int documented[] = { EINVAL, ENOENT, EEXIST, E2BIG, ENOSPC, ENOMEM, ERANGE,
					  ENODEV, EBUSY, EPERM, EACCES, EPROTO, ESHUTDOWN,
					  ENAMETOOLONG };

	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		const char *s = microseg_strerror(samples[i]);
		h_checks++;
		if (!s || !s[0])
			h_fail(__FILE__, __LINE__, "microseg_strerror(%d) is %s", samples[i],
			       s ? "empty" : "NULL");
	}
	for (int e = -300; e <= 300; e++) {
		const char *s = microseg_strerror(e);
		h_checks++;
		if (!s || !s[0])
			h_fail(__FILE__, __LINE__, "microseg_strerror(%d) is %s", e,
			       s ? "empty" : "NULL");
	}
	/* either sign gives the same text; documented codes have distinct texts */
	for (size_t i = 0; i < ARRAY_LEN(documented); i++) {
		int e = documented[i];
		CHECK_STREQ(microseg_strerror(-e), microseg_strerror(e));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(microseg_strerror(-e), microseg_strerror(-documented[j])) != 0);
	}
}

static void test_version(void)
{
	CHECK_EQ(microseg_version(), MICROSEG_VERSION_MAJOR * 10000 + MICROSEG_VERSION_MINOR * 100 +
					     MICROSEG_VERSION_PATCH);
}

static void test_null_ctx_calls(void)
{
	CHECK_RC(microseg_ctx_purge(NULL), -EINVAL);
	CHECK_RC(microseg_ctx_set_log(NULL, NULL, NULL, MICROSEG_LOG_DEBUG), -EINVAL);
}

struct log_capture {
	int lines;
	int above_level;
	int level;
};

static void capture(void *user, int level, const char *line)
{
	struct log_capture *c = user;

	c->lines++;
	if (level > c->level || level < MICROSEG_LOG_ERROR)
		c->above_level++;
	if (!line)
		c->above_level += 1000;
}

static void test_last_error_and_log(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct log_capture cap = { .level = MICROSEG_LOG_ERROR };
	struct microseg_identity *id = NULL;
	const char *bad[] = { "not-a-label" };

	REQUIRE(ctx);
	CHECK_STREQ(microseg_ctx_last_error(ctx), "");
	CHECK_OK(microseg_ctx_set_log(ctx, capture, &cap, MICROSEG_LOG_ERROR));
	CHECK_RC(microseg_identity_get(ctx, bad, 1, &id), -EINVAL);
	CHECK(microseg_ctx_last_error(ctx)[0] != '\0');
	/* nothing above the chosen level is delivered */
	CHECK_EQ(cap.above_level, 0);
	CHECK_OK(microseg_ctx_set_log(ctx, NULL, NULL, MICROSEG_LOG_DEBUG));
	microseg_ctx_close(ctx);
}

/* ctx_open has no context to hold a message: its details go to the log callback. */
static void test_open_error_logged(void)
{
	struct log_capture cap = { .level = MICROSEG_LOG_ERROR };
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = "bad/name", .flags = MICROSEG_CTX_F_NO_DATAPATH,
		      .log_fn = capture, .log_user = &cap, .log_level = MICROSEG_LOG_ERROR);

	CHECK_RC(try_open(&o), -EINVAL);
	CHECK(cap.lines >= 1);
	CHECK_EQ(cap.above_level, 0);
	cap.lines = 0;
	o.instance = "fine";
	o.flags = MICROSEG_CTX_F_NO_DATAPATH | (1u << 7);
	CHECK_RC(try_open(&o), -EINVAL);
	CHECK(cap.lines >= 1);
}

/* A failure in one context leaves the other's state and last error alone. */
static void test_two_contexts(void)
{
	const char *labels[] = { "k8s:app=shared-name" };
	struct microseg_ctx *a = ut_open_named("iso-a"), *b = ut_open_named("iso-b");
	struct microseg_ctx *c = NULL;
	struct microseg_identity *ia = NULL, *ib = NULL;
	size_t base_a, base_b;

	REQUIRE(a && b);
	/* in-memory contexts take no lock, so the same instance name can be opened twice */
	c = ut_open_named("iso-a");
	CHECK(c != NULL);
	base_a = ut_identity_count(a);
	base_b = ut_identity_count(b);
	REQUIRE_OK(microseg_identity_get(a, labels, 1, &ia));
	CHECK_EQ(ut_identity_count(a), base_a + 1);
	CHECK_EQ(ut_identity_count(b), base_b);
	if (c)
		CHECK_EQ(ut_identity_count(c), base_b);
	REQUIRE_OK(microseg_identity_get(b, labels, 1, &ib));
	/* a failure in a leaves b's last error empty */
	{
		const char *bad[] = { "bad" };
		struct microseg_identity *x = NULL;
		CHECK_RC(microseg_identity_get(a, bad, 1, &x), -EINVAL);
		CHECK(microseg_ctx_last_error(a)[0] != '\0');
		CHECK_STREQ(microseg_ctx_last_error(b), "");
	}
	/* b's handle is not a's identity even where the numbers happen to match */
	CHECK(ia != ib);
	CHECK_RC(microseg_identity_put(a, ib), -ENOENT);
	CHECK_RC(microseg_identity_put(b, ia), -ENOENT);

	/* dropping b's identity leaves a's alone, and the reverse */
	CHECK_REFS_AND_DROP(b, ib, 1);
	CHECK(ut_id_live(a, microseg_identity_id(ia)));
	CHECK_REFS_AND_DROP(a, ia, 1);
	microseg_ctx_close(c);
	microseg_ctx_close(b);
	microseg_ctx_close(a);
}

static void test_purge_in_memory(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;
	const char *labels[] = { "k8s:app=after-purge" };
	int rc;

	REQUIRE(ctx);
	id = ut_ident(ctx, "purge");
	REQUIRE(id);
	{
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "lo", .identity = id);
		CHECK_OK(microseg_endpoint_add(ctx, &eo, &ep));
	}
	/* handles given out before the purge are not touched again */
	CHECK_OK(microseg_ctx_purge(ctx));
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	id = NULL;
	rc = microseg_identity_get(ctx, labels, 1, &id);
	CHECK(rc == 0 || rc == -ESHUTDOWN);
	if (rc == 0) {
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "lo", .identity = id);
		struct microseg_endpoint *ep2 = NULL;
		CHECK_RC(microseg_endpoint_add(ctx, &eo, &ep2), -ESHUTDOWN);
		CHECK(ep2 == NULL);
		CHECK_OK(microseg_identity_put(ctx, id));
	}
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	microseg_ctx_close(ctx);
}

static const struct h_test tests[] = {
	TEST_ENTRY(test_defaults),
	TEST_ENTRY(test_instance_names),
	TEST_ENTRY(test_flags_and_out),
	TEST_ENTRY(test_capacity_options),
	TEST_ENTRY(test_path_options),
	TEST_ENTRY(test_opts_size),
	TEST_ENTRY(test_strerror),
	TEST_ENTRY(test_version),
	TEST_ENTRY(test_null_ctx_calls),
	TEST_ENTRY(test_last_error_and_log),
	TEST_ENTRY(test_open_error_logged),
	TEST_ENTRY(test_two_contexts),
	TEST_ENTRY(test_purge_in_memory),
};

HARNESS_MAIN(tests)
