/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deliberately tiny test harness for the unit tier: checks that report file:line and the
 * failed expression, a table of test functions, a final tally, exit status 1 on any failure
 * (77 if everything was skipped). No framework so the unit tests build anywhere the library does.
 *
 * A test is `static void name(void)`. CHECK* record a failure and go on; REQUIRE* record a
 * failure and return from the test (for preconditions whose failure would make the rest of the
 * test dereference garbage).
 */
#ifndef MS_UNIT_HARNESS_H
#define MS_UNIT_HARNESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long h_checks;
static unsigned long h_failures;
static unsigned h_tests_failed;
static unsigned h_tests_skipped;
static const char *h_test_name = "";
static int h_test_failed;
static int h_test_skipped;

__attribute__((format(printf, 3, 4)))
static inline void h_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	h_failures++;
	h_test_failed = 1;
	fprintf(stderr, "%s:%d: [%s] FAIL: ", file, line, h_test_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Name of an errno value for messages ("-EINVAL"), falling back to the number. */
static inline const char *h_errname(int rc, char *buf, size_t len)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{ 0, "0" },
		{ EINVAL, "EINVAL" },     { ENOENT, "ENOENT" },   { EEXIST, "EEXIST" },
		{ E2BIG, "E2BIG" },       { ENOSPC, "ENOSPC" },   { ENOMEM, "ENOMEM" },
		{ ERANGE, "ERANGE" },     { ENODEV, "ENODEV" },   { EBUSY, "EBUSY" },
		{ EPERM, "EPERM" },       { EACCES, "EACCES" },   { EPROTO, "EPROTO" },
		{ ESHUTDOWN, "ESHUTDOWN" }, { ENAMETOOLONG, "ENAMETOOLONG" },
		{ EOPNOTSUPP, "EOPNOTSUPP" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (rc == -names[i].e) {
			snprintf(buf, len, "%s%s", rc ? "-" : "", names[i].n);
			return buf;
		}
	}
	snprintf(buf, len, "%d", rc);
	return buf;
}

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		h_checks++;                                                                        \
		if (!(expr))                                                                       \
			h_fail(__FILE__, __LINE__, "%s", #expr);                                   \
	} while (0)

#define REQUIRE(expr)                                                                              \
	do {                                                                                       \
		h_checks++;                                                                        \
		if (!(expr)) {                                                                     \
			h_fail(__FILE__, __LINE__, "required: %s", #expr);                         \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* Integer equality, printing both values. */
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long h_a_ = (long long)(a), h_b_ = (long long)(b);                            \
		h_checks++;                                                                        \
		if (h_a_ != h_b_)                                                                  \
			h_fail(__FILE__, __LINE__, "%s == %s: got %lld, expected %lld", #a, #b,    \
			       h_a_, h_b_);                                                        \
	} while (0)

/* A call returning 0/-errno returns exactly `want` (0 or a negative errno). */
#define CHECK_RC(call, want)                                                                       \
	do {                                                                                       \
		int h_rc_ = (call), h_want_ = (want);                                              \
		char h_b1_[32], h_b2_[32];                                                         \
		h_checks++;                                                                        \
		if (h_rc_ != h_want_)                                                              \
			h_fail(__FILE__, __LINE__, "%s: got %s, expected %s", #call,               \
			       h_errname(h_rc_, h_b1_, sizeof(h_b1_)),                             \
			       h_errname(h_want_, h_b2_, sizeof(h_b2_)));                          \
	} while (0)

#define REQUIRE_RC(call, want)                                                                     \
	do {                                                                                       \
		int h_rc_ = (call), h_want_ = (want);                                              \
		char h_b1_[32], h_b2_[32];                                                         \
		h_checks++;                                                                        \
		if (h_rc_ != h_want_) {                                                            \
			h_fail(__FILE__, __LINE__, "required %s: got %s, expected %s", #call,      \
			       h_errname(h_rc_, h_b1_, sizeof(h_b1_)),                             \
			       h_errname(h_want_, h_b2_, sizeof(h_b2_)));                          \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)
#define REQUIRE_OK(call) REQUIRE_RC(call, 0)

/* The call fails with one of two codes (where the contract allows either). */
#define CHECK_RC2(call, want1, want2)                                                              \
	do {                                                                                       \
		int h_rc_ = (call);                                                                \
		char h_b1_[32];                                                                    \
		h_checks++;                                                                        \
		if (h_rc_ != (want1) && h_rc_ != (want2))                                          \
			h_fail(__FILE__, __LINE__, "%s: got %s, expected %s or %s", #call,         \
			       h_errname(h_rc_, h_b1_, sizeof(h_b1_)), #want1, #want2);            \
	} while (0)

/* The call fails with one of three codes (where the contract allows any). */
#define CHECK_RC3(call, want1, want2, want3)                                                       \
	do {                                                                                       \
		int h_rc_ = (call);                                                                \
		char h_b1_[32];                                                                    \
		h_checks++;                                                                        \
		if (h_rc_ != (want1) && h_rc_ != (want2) && h_rc_ != (want3))                      \
			h_fail(__FILE__, __LINE__, "%s: got %s, expected %s, %s or %s", #call,     \
			       h_errname(h_rc_, h_b1_, sizeof(h_b1_)), #want1, #want2, #want3);    \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *h_a_ = (a), *h_b_ = (b);                                               \
		h_checks++;                                                                        \
		if (!h_a_ || !h_b_ || strcmp(h_a_, h_b_) != 0)                                     \
			h_fail(__FILE__, __LINE__, "%s == %s: got \"%s\", expected \"%s\"", #a,    \
			       #b, h_a_ ? h_a_ : "(null)", h_b_ ? h_b_ : "(null)");                \
	} while (0)

/* Marks the running test as skipped (with a reason) and returns from it. */
#define SKIP(reason)                                                                               \
	do {                                                                                       \
		h_test_skipped = 1;                                                                \
		fprintf(stderr, "[%s] SKIP: %s\n", h_test_name, reason);                           \
		return;                                                                            \
	} while (0)

/* The whole of a file (corpus entries), NUL-terminated, its length in *len; NULL if it cannot
 * be read. The caller frees it. */
static inline char *h_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

struct h_test {
	const char *name;
	void (*fn)(void);
};

#define TEST_ENTRY(fn) { #fn, fn }

/* Runs every test (or only those named on the command line) and returns the exit status. */
static inline int h_run(const struct h_test *tests, size_t n, int argc, char **argv)
{
	unsigned ran = 0;

	for (size_t i = 0; i < n; i++) {
		if (argc > 1) {
			int wanted = 0;
			for (int a = 1; a < argc; a++)
				wanted |= strcmp(argv[a], tests[i].name) == 0;
			if (!wanted)
				continue;
		}
		h_test_name = tests[i].name;
		h_test_failed = 0;
		h_test_skipped = 0;
		tests[i].fn();
		ran++;
		if (h_test_failed)
			h_tests_failed++;
		else if (h_test_skipped)
			h_tests_skipped++;
		fprintf(stderr, "%-4s %s\n",
			h_test_failed ? "FAIL" : h_test_skipped ? "SKIP" : "ok", tests[i].name);
	}
	fprintf(stderr, "%u tests, %lu checks, %lu failed checks, %u failed tests, %u skipped\n",
		ran, h_checks, h_failures, h_tests_failed, h_tests_skipped);
	if (h_failures)
		return 1;
	if (ran > 0 && h_tests_skipped == ran)
		return 77;
	return 0;
}

#define HARNESS_MAIN(table)                                                                        \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return h_run(table, sizeof(table) / sizeof(table[0]), argc, argv);                 \
	}

#endif
