/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP rules compiled for the proxy (lib/http_rules.h): anchored regular expressions for
 * method, path (request-target with its query) and host, header presence and exact values,
 * any-rule-matches, and what compilation refuses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http_rules.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A request view built from strings; headers as "Name: value" (split at the first ':'). */
struct req {
	struct ms_http_request_view v;
	struct ms_http_header h[8];
};

static const struct ms_http_request_view *mkreq(struct req *r, const char *method, const char *path,
						 const char *host, const char *const *headers)
{
	memset(r, 0, sizeof(*r));
	r->v.method = method;
	r->v.method_len = strlen(method);
	r->v.path = path;
	r->v.path_len = strlen(path);
	if (host) {
		r->v.host = host;
		r->v.host_len = strlen(host);
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		const char *colon = strchr(headers[i], ':');
		const char *val = colon + 1;

		while (*val == ' ')
			val++;
		r->h[i].name = headers[i];
		r->h[i].name_len = (size_t)(colon - headers[i]);
		r->h[i].value = val;
		r->h[i].value_len = strlen(val);
		r->v.n_headers = i + 1;
	}
	r->v.headers = r->h;
	return &r->v;
}

static struct ms_http_ruleset *compile1(const struct microseg_http_rule *rule)
{
	struct ms_http_ruleset *set = NULL;
	char err[256] = "";
	int rc = ms_http_ruleset_compile(rule, 1, &set, err, sizeof(err));

	if (rc)
		fprintf(stderr, "compile: %d %s\n", rc, err);
	return set;
}

static void test_method_and_path_are_anchored(void)
{
	struct microseg_http_rule rule = { .method = "GET|HEAD", .path = "/public" };
	struct ms_http_ruleset *set = compile1(&rule);
	struct req r;

	REQUIRE(set != NULL);
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", "/public", "a", NULL)));
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "HEAD", "/public", "a", NULL)));
	/* both alternatives anchored at both ends */
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GETX", "/public", "a", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "XHEAD", "/public", "a", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "POST", "/public", "a", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/public/x", "a", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/x/public", "a", NULL)));
	/* methods are case-sensitive, as on the wire */
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "get", "/public", "a", NULL)));
	ms_http_ruleset_free(set);
}

/* The path is the request-target as sent, query included (as Cilium's Envoy matches :path). */
static void test_path_includes_query(void)
{
	struct microseg_http_rule exact = { .path = "/v1/ships" };
	struct microseg_http_rule with_query = { .path = "/v1/ships(\\?.*)?" };
	struct ms_http_ruleset *a = compile1(&exact), *b = compile1(&with_query);
	struct req r;

	REQUIRE(a && b);
	CHECK(ms_http_ruleset_match(a, mkreq(&r, "GET", "/v1/ships", NULL, NULL)));
	CHECK(!ms_http_ruleset_match(a, mkreq(&r, "GET", "/v1/ships?id=3", NULL, NULL)));
	CHECK(ms_http_ruleset_match(b, mkreq(&r, "GET", "/v1/ships?id=3", NULL, NULL)));
	CHECK(ms_http_ruleset_match(b, mkreq(&r, "GET", "/v1/ships", NULL, NULL)));
	CHECK(!ms_http_ruleset_match(b, mkreq(&r, "GET", "/v1/shipsX", NULL, NULL)));
	ms_http_ruleset_free(a);
	ms_http_ruleset_free(b);
}

static void test_host(void)
{
	struct microseg_http_rule rule = { .host = "api\\.example\\.com(:[0-9]+)?" };
	struct ms_http_ruleset *set = compile1(&rule);
	struct req r;

	REQUIRE(set != NULL);
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "api.example.com", NULL)));
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "api.example.com:8080", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "apiXexample.com", NULL)));
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "evil.api.example.com", NULL)));
	/* no Host header (HTTP/1.0): a host rule cannot match */
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", NULL, NULL)));
	ms_http_ruleset_free(set);
}

static void test_headers(void)
{
	static const char *const hdrs[] = { "X-Has-Force", "x-mode:  on ", "X-Empty:" };
	struct microseg_http_rule rule = { .headers = hdrs, .n_headers = 3 };
	struct ms_http_ruleset *set = compile1(&rule);
	struct req r;

	REQUIRE(set != NULL);
	{
		const char *const h[] = { "X-HAS-FORCE: anything", "X-Mode: on", "x-empty: ", NULL };
		CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
	}
	{
		/* values compare exactly (case included) */
		const char *const h[] = { "X-Has-Force: 1", "X-Mode: On", "X-Empty: ", NULL };
		CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
	}
	{
		const char *const h[] = { "X-Mode: on", "X-Empty: ", NULL };
		CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
	}
	{
		/* the empty-value rule wants the header present and empty */
		const char *const h[] = { "X-Has-Force: 1", "X-Mode: on", "X-Empty: x", NULL };
		CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
	}
	{
		/* a repeated header with a value rule: every copy must have the value (a server
		 * may read the other one) */
		const char *const h[] = { "X-Has-Force: 1", "X-Mode: off", "X-Mode: on", "X-Empty: ", NULL };
		CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
		const char *const same[] = { "X-Has-Force: 1", "X-Mode: on", "X-Mode: on", "X-Empty: ", NULL };
		CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", same)));
	}
	{
		/* a prefix of the name is another header */
		const char *const h[] = { "X-Has-Forces: 1", "X-Mode: on", "X-Empty: ", NULL };
		CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", "/", "a", h)));
	}
	ms_http_ruleset_free(set);
}

/* Every field given must match; any rule of the set is enough; NULL and "" match anything. */
static void test_rule_combination(void)
{
	static const char *const force[] = { "X-Has-Force: true" };
	const struct microseg_http_rule rules[] = {
		{ .method = "POST", .path = "/v1/request-landing" },
		{ .method = "PUT", .path = "/v1/exhaust-port", .headers = force, .n_headers = 1 },
		{ .method = "", .path = NULL, .host = "" },
	};
	struct ms_http_ruleset *set = NULL, *two = NULL;
	struct req r;

	REQUIRE_OK(ms_http_ruleset_compile(rules, 2, &two, NULL, 0));
	CHECK(ms_http_ruleset_match(two, mkreq(&r, "POST", "/v1/request-landing", "deathstar", NULL)));
	CHECK(!ms_http_ruleset_match(two, mkreq(&r, "PUT", "/v1/request-landing", "deathstar", NULL)));
	CHECK(!ms_http_ruleset_match(two, mkreq(&r, "PUT", "/v1/exhaust-port", "deathstar", NULL)));
	{
		const char *const h[] = { "X-Has-Force: true", NULL };
		CHECK(ms_http_ruleset_match(two, mkreq(&r, "PUT", "/v1/exhaust-port", "deathstar", h)));
	}
	REQUIRE_OK(ms_http_ruleset_compile(rules, 3, &set, NULL, 0));
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "DELETE", "/anything?at=all", NULL, NULL)));
	ms_http_ruleset_free(set);
	ms_http_ruleset_free(two);
	CHECK(!ms_http_ruleset_match(NULL, mkreq(&r, "GET", "/", NULL, NULL)));
}

/* A request field holding a NUL never matches a prefix of itself. */
static void test_embedded_nul_never_matches(void)
{
	struct microseg_http_rule rule = { .path = "/public" };
	struct ms_http_ruleset *set = compile1(&rule);
	struct req r;

	REQUIRE(set != NULL);
	mkreq(&r, "GET", "/public", NULL, NULL);
	r.v.path = "/public\0/private";
	r.v.path_len = 15;
	CHECK(!ms_http_ruleset_match(set, &r.v));
	ms_http_ruleset_free(set);
}

/* Long fields go through a heap copy rather than the stack buffer. */
static void test_long_path(void)
{
	struct microseg_http_rule rule = { .path = "/a/x*" };
	struct ms_http_ruleset *set = compile1(&rule);
	char *path = malloc(5000);
	struct req r;

	REQUIRE(set && path);
	memcpy(path, "/a/", 3);
	memset(path + 3, 'x', 4996);
	path[4999] = '\0';
	CHECK(ms_http_ruleset_match(set, mkreq(&r, "GET", path, NULL, NULL)));
	path[4000] = 'y';
	CHECK(!ms_http_ruleset_match(set, mkreq(&r, "GET", path, NULL, NULL)));
	free(path);
	ms_http_ruleset_free(set);
}

static void test_compile_errors(void)
{
	static const char *const no_name[] = { ": value" };
	static const char *const bad_name[] = { "X Bad: v" };
	static const char *const ctl[] = { "X-A: b\nc" };
	static const char *const null_hdr[] = { NULL };
	char long_re[5000];
	const struct {
		struct microseg_http_rule rule;
		int rc;
		const char *msg; /* substring of the error text */
	} cases[] = {
		{ { .path = "/a(" }, -EINVAL, "path" },
		{ { .method = "[" }, -EINVAL, "method" },
		{ { .host = "a{1" }, -EINVAL, "host" },
		/* a lone ')' would end the anchoring group early: "^(a)|(b)$" */
		{ { .path = "/a)|(/b" }, -EINVAL, "unmatched ')'" },
		{ { .path = "/a)|(.*)" }, -EINVAL, "unmatched ')'" },
		{ { .path = "/tab\there" }, -EINVAL, "control character" },
		{ { .headers = no_name, .n_headers = 1 }, -EINVAL, "without a name" },
		{ { .headers = bad_name, .n_headers = 1 }, -EINVAL, "not a token" },
		{ { .headers = ctl, .n_headers = 1 }, -EINVAL, "control character" },
		{ { .headers = null_hdr, .n_headers = 1 }, -EINVAL, "NULL header" },
		{ { .headers = NULL, .n_headers = 2 }, -EINVAL, "NULL headers" },
		{ { .path = long_re }, -E2BIG, "longer than" },
	};

	memset(long_re, 'a', sizeof(long_re) - 1);
	long_re[sizeof(long_re) - 1] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct ms_http_ruleset *set = NULL;
		char err[256] = "";
		int rc = ms_http_ruleset_compile(&cases[i].rule, 1, &set, err, sizeof(err));

		if (rc != cases[i].rc || set != NULL || !strstr(err, cases[i].msg))
			h_fail(__FILE__, __LINE__, "case %zu: rc %d, error \"%s\" (expected %d, \"%s\")", i, rc, err,
			       cases[i].rc, cases[i].msg);
		h_checks++;
	}
	{
		struct ms_http_ruleset *set = NULL;
		struct microseg_http_rule r = { 0 };
		CHECK_RC(ms_http_ruleset_compile(&r, 0, &set, NULL, 0), -EINVAL);
		CHECK_RC(ms_http_ruleset_compile(NULL, 1, &set, NULL, 0), -EINVAL);
		CHECK(set == NULL);
	}
	/* balanced parentheses, escaped or bracketed ones, are fine */
	{
		const char *ok[] = { "/a(b|c)", "/a\\)", "/a[)]", "/a[]x)]", "/a[^]x)]", "/a[[:alpha:])]+", "()" };
		for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
			struct microseg_http_rule r = { .path = ok[i] };
			struct ms_http_ruleset *set = compile1(&r);
			if (!set)
				h_fail(__FILE__, __LINE__, "valid path regex \"%s\" refused", ok[i]);
			h_checks++;
			ms_http_ruleset_free(set);
		}
	}
	{
		/* and a literal ')' inside a bracket still anchors */
		struct microseg_http_rule r = { .path = "/a[)]" };
		struct ms_http_ruleset *set = compile1(&r);
		struct req q;
		REQUIRE(set != NULL);
		CHECK(ms_http_ruleset_match(set, mkreq(&q, "GET", "/a)", NULL, NULL)));
		CHECK(!ms_http_ruleset_match(set, mkreq(&q, "GET", "/a)x", NULL, NULL)));
		ms_http_ruleset_free(set);
	}
}

struct match_job {
	const struct ms_http_ruleset *set;
	unsigned matched, missed;
};

static void *match_many(void *arg)
{
	struct match_job *job = arg;
	struct req r;

	for (unsigned i = 0; i < 20000; i++) {
		bool want = i % 2 == 0;
		if (ms_http_ruleset_match(job->set, mkreq(&r, "GET", want ? "/v1/ok" : "/v1/no", NULL, NULL)) == want)
			job->matched++;
		else
			job->missed++;
	}
	return NULL;
}

/* One set, several threads matching at once (the proxy's workers share it). */
static void test_concurrent_match(void)
{
	struct microseg_http_rule rule = { .method = "GET", .path = "/v1/ok" };
	struct ms_http_ruleset *set = compile1(&rule);
	struct match_job jobs[4];
	pthread_t t[4];

	REQUIRE(set != NULL);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct match_job){ .set = set };
		REQUIRE(pthread_create(&t[i], NULL, match_many, &jobs[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(jobs[i].matched, 20000);
		CHECK_EQ(jobs[i].missed, 0);
	}
	ms_http_ruleset_free(set);
}

/* Plain words and plain prefixes are matched by byte compares: they must answer exactly as the
 * same pattern forced through the regex (parentheses make it one). */
static void test_fast_forms_agree_with_regex(void)
{
	static const struct {
		const char *fast, *slow;
	} pats[] = {
		{ "GET", "(GET)" },           { "GET|HEAD", "(GET|HEAD)" },   { "GET|", "(GET|)" },
		{ "/v1/.*", "/v1/(.*)" },     { ".*", "(.*)" },               { "/a|/b", "(/a|/b)" },
		{ "/bench/private/.*", "/bench/private/(.*)" },
	};
	static const char *const inputs[] = { "GET", "GETX", "XGET", "HEAD", "", "get", "/v1/", "/v1/x/y",
					      "/v1", "/v2/", "/a", "/b", "/a/b", "/ab", "/bench/private/k",
					      "/bench/private", "GET|HEAD" };
	for (size_t p = 0; p < ARRAY_LEN(pats); p++) {
		struct microseg_http_rule fast = { .path = pats[p].fast }, slow = { .path = pats[p].slow };
		struct ms_http_ruleset *a = NULL, *b = NULL;
		REQUIRE_OK(ms_http_ruleset_compile(&fast, 1, &a, NULL, 0));
		REQUIRE_OK(ms_http_ruleset_compile(&slow, 1, &b, NULL, 0));
		for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
			struct req r;
			bool x = ms_http_ruleset_match(a, mkreq(&r, "GET", inputs[i], "h", NULL));
			bool y = ms_http_ruleset_match(b, mkreq(&r, "GET", inputs[i], "h", NULL));
			if (x != y)
				fprintf(stderr, "pattern %s on \"%s\": fast %d regex %d\n", pats[p].fast, inputs[i], x, y);
			CHECK_EQ(x, y);
		}
		ms_http_ruleset_free(a);
		ms_http_ruleset_free(b);
	}
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(test_method_and_path_are_anchored),
		TEST_ENTRY(test_path_includes_query),
		TEST_ENTRY(test_host),
		TEST_ENTRY(test_headers),
		TEST_ENTRY(test_rule_combination),
		TEST_ENTRY(test_embedded_nul_never_matches),
		TEST_ENTRY(test_long_path),
		TEST_ENTRY(test_compile_errors),
		TEST_ENTRY(test_concurrent_match),
		TEST_ENTRY(test_fast_forms_agree_with_regex),
	};

	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
