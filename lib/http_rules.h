/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP rules (struct microseg_http_rule) compiled for matching: method, path and host as POSIX
 * extended regular expressions anchored to the whole value, header presence or exact value.
 * A request matches a rule set if any rule matches it; every given field of a rule must match.
 */
#ifndef MICROSEG_HTTP_RULES_H
#define MICROSEG_HTTP_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <microseg/policy.h>

/* A request as the parser saw it: pointers into the connection's buffer, not NUL-terminated.
 * The path is the request-target as sent (origin form "/a/b?q", or absolute form). */
struct ms_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading/trailing whitespace removed */
	size_t value_len;
};
struct ms_http_request_view {
	const char *method;
	size_t method_len;
	const char *path;
	size_t path_len;
	const char *host; /* the Host header's value, NULL if absent */
	size_t host_len;
	const struct ms_http_header *headers;
	size_t n_headers;
};

struct ms_http_ruleset;

/* Compiles n rules (n >= 1). Returns 0, -EINVAL (err names the rule and field: a regex that
 * does not compile, a header without a name, control characters), -E2BIG (too many rules or
 * headers, a field over 4096 bytes) or -ENOMEM. err may be NULL. */
int ms_http_ruleset_compile(const struct microseg_http_rule *rules, size_t n, struct ms_http_ruleset **out,
			    char *err, size_t errlen);
/* Whether any rule matches. Safe to call from several threads at once on one set. */
bool ms_http_ruleset_match(const struct ms_http_ruleset *set, const struct ms_http_request_view *req);
void ms_http_ruleset_free(struct ms_http_ruleset *set);

#endif
