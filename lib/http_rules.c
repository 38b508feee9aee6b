// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP rules compiled for matching (lib/http_rules.h).
 *
 * method, path and host are POSIX extended regular expressions matched against the whole
 * value, as Cilium does: "GET" does not match "GETX", "/public" does not match "/public/x".
 * The path is the request-target exactly as sent, query included ("/a?b=c"), which is what
 * Cilium's Envoy matches its path regex against (the :path pseudo-header). The host is the
 * Host header's value as sent, port included if the client gave one. An empty or NULL field
 * matches anything, as an omitted field does in Cilium.
 *
 * Anchoring wraps the expression as "^(" re ")$". glibc takes an unmatched ')' in an ERE as a
 * literal, so "a)|(b" would compile wrapped as "^(a)|(b)$", anchored at one end only; such
 * expressions are refused before wrapping (paren_balanced()).
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_rules.h"

#define RULES_MAX 1024
#define HEADERS_MAX 64
#define FIELD_MAX 4096

struct header_match {
	char *name;
	size_t name_len;
	char *value; /* NULL: presence is enough */
	size_t value_len;
};

/*
 * Most rules are plain words ("GET", "POST|PUT") or a plain prefix ("/v1/.*"): those are
 * matched by comparing bytes, which is what a busy proxy spends its time on otherwise (a
 * regexec per field per rule per request). Anything else goes to the regex, which is always
 * compiled, so both paths accept exactly the same patterns.
 */
enum fast_kind { FAST_NONE, FAST_WORDS, FAST_PREFIX };
struct fast_form {
	enum fast_kind kind;
	char *text; /* FAST_WORDS: the alternatives, '|'-separated; FAST_PREFIX: the prefix */
	size_t len;
};

struct compiled_rule {
	regex_t method, path, host;
	bool has_method, has_path, has_host;
	struct fast_form fast_method, fast_path, fast_host;
	struct header_match *headers;
	size_t n_headers;
};

struct ms_http_ruleset {
	size_t n;
	struct compiled_rule rules[];
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/*
 * Whether every ')' outside bracket expressions and escapes closes a '(' of the expression
 * itself. Unbalanced '(' need no check here: regcomp() refuses them.
 */
static bool paren_balanced(const char *re)
{
	int depth = 0;

	for (const char *c = re; *c; c++) {
		if (*c == '\\') {
			if (!*++c)
				return true; /* trailing backslash: regcomp() refuses it */
		} else if (*c == '[') {
			/* a bracket expression: a leading '^', then a leading ']' is literal;
			 * "[:", "[." and "[=" open classes that end at ":]", ".]", "=]" */
			c++;
			if (*c == '^')
				c++;
			if (*c == ']')
				c++;
			while (*c && *c != ']') {
				if (*c == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
					char end = c[1];
					for (c += 2; *c && !(*c == end && c[1] == ']'); c++)
						;
					if (!*c)
						return true; /* unterminated: regcomp() refuses it */
					c++;
				}
				c++;
			}
			if (!*c)
				return true;
		} else if (*c == '(') {
			depth++;
		} else if (*c == ')') {
			if (--depth < 0)
				return false;
		}
	}
	return true;
}

static int compile_regex(regex_t *re, const char *src, size_t rule, const char *field, char *err, size_t errlen)
{
	size_t n = strlen(src);
	char *wrapped;
	int rc;

	if (n > FIELD_MAX) {
		set_err(err, errlen, "http rule %zu: %s longer than %d bytes", rule, field, FIELD_MAX);
		return -E2BIG;
	}
	if (has_control(src)) {
		set_err(err, errlen, "http rule %zu: control character in %s", rule, field);
		return -EINVAL;
	}
	if (!paren_balanced(src)) {
		set_err(err, errlen, "http rule %zu: %s \"%s\": unmatched ')'", rule, field, src);
		return -EINVAL;
	}
	wrapped = malloc(n + 5);
	if (!wrapped)
		return -ENOMEM;
	memcpy(wrapped, "^(", 2);
	memcpy(wrapped + 2, src, n);
	memcpy(wrapped + 2 + n, ")$", 3);
	rc = regcomp(re, wrapped, REG_EXTENDED | REG_NOSUB);
	free(wrapped);
	if (rc == REG_ESPACE)
		return -ENOMEM;
	if (rc) {
		char msg[128];
		regerror(rc, re, msg, sizeof(msg));
		set_err(err, errlen, "http rule %zu: %s \"%s\": %s", rule, field, src, msg);
		return -EINVAL;
	}
	return 0;
}

static bool is_token_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* "Name" or "Name: value". */
static int compile_header(struct header_match *h, const char *src, size_t rule, char *err, size_t errlen)
{
	const char *colon, *nb = src, *ne, *vb, *ve;

	if (!src) {
		set_err(err, errlen, "http rule %zu: NULL header", rule);
		return -EINVAL;
	}
	if (strlen(src) > FIELD_MAX) {
		set_err(err, errlen, "http rule %zu: header longer than %d bytes", rule, FIELD_MAX);
		return -E2BIG;
	}
	/* HTAB aside: it is valid within a value */
	for (const char *c = src; *c; c++) {
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			set_err(err, errlen, "http rule %zu: control character in header \"%s\"", rule, src);
			return -EINVAL;
		}
	}
	colon = strchr(src, ':');
	ne = colon ? colon : src + strlen(src);
	trim(&nb, &ne);
	if (nb == ne) {
		set_err(err, errlen, "http rule %zu: header \"%s\" without a name", rule, src);
		return -EINVAL;
	}
	for (const char *c = nb; c < ne; c++) {
		if (!is_token_char(*c)) {
			set_err(err, errlen, "http rule %zu: header name \"%.*s\" is not a token", rule,
				(int)(ne - nb), nb);
			return -EINVAL;
		}
	}
	h->name_len = (size_t)(ne - nb);
	h->name = strndup(nb, h->name_len);
	if (!h->name)
		return -ENOMEM;
	if (colon) {
		vb = colon + 1;
		ve = vb + strlen(vb);
		trim(&vb, &ve);
		h->value_len = (size_t)(ve - vb);
		h->value = strndup(vb, h->value_len);
		if (!h->value)
			return -ENOMEM;
	}
	return 0;
}

static void free_rule(struct compiled_rule *r)
{
	free(r->fast_method.text);
	free(r->fast_path.text);
	free(r->fast_host.text);
	if (r->has_method)
		regfree(&r->method);
	if (r->has_path)
		regfree(&r->path);
	if (r->has_host)
		regfree(&r->host);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
}

static bool plain(const char *s, size_t n, bool bar_ok)
{
	for (size_t i = 0; i < n; i++)
		if (strchr("\\.[](){}*+?^$", s[i]) || (s[i] == '|' && !bar_ok))
			return false;
	return true;
}

/* The byte-compare form of a pattern, if it has one (else kind FAST_NONE). */
static int classify(const char *src, struct fast_form *f)
{
	size_t n = strlen(src);
	f->kind = FAST_NONE;
	if (plain(src, n, true))
		f->kind = FAST_WORDS;
	else if (n >= 2 && !strcmp(src + n - 2, ".*") && plain(src, n - 2, false))
		f->kind = FAST_PREFIX, n -= 2;
	if (f->kind == FAST_NONE)
		return 0;
	if (!(f->text = strndup(src, n)))
		return -ENOMEM;
	f->len = n;
	return 0;
}

static int compile_field(regex_t *re, struct fast_form *f, const char *src, size_t idx, const char *field,
			 char *err, size_t errlen)
{
	int rc = compile_regex(re, src, idx, field, err, errlen);
	if (rc)
		return rc;
	if ((rc = classify(src, f)))
		regfree(re);
	return rc;
}

static int compile_rule(struct compiled_rule *c, const struct microseg_http_rule *r, size_t idx, char *err,
			size_t errlen)
{
	int rc;

	if (r->method && *r->method) {
		rc = compile_field(&c->method, &c->fast_method, r->method, idx, "method", err, errlen);
		if (rc)
			return rc;
		c->has_method = true;
	}
	if (r->path && *r->path) {
		rc = compile_field(&c->path, &c->fast_path, r->path, idx, "path", err, errlen);
		if (rc)
			return rc;
		c->has_path = true;
	}
	if (r->host && *r->host) {
		rc = compile_field(&c->host, &c->fast_host, r->host, idx, "host", err, errlen);
		if (rc)
			return rc;
		c->has_host = true;
	}
	if (r->n_headers == 0)
		return 0;
	if (!r->headers) {
		set_err(err, errlen, "http rule %zu: n_headers %zu with NULL headers", idx, r->n_headers);
		return -EINVAL;
	}
	if (r->n_headers > HEADERS_MAX) {
		set_err(err, errlen, "http rule %zu: more than %d headers", idx, HEADERS_MAX);
		return -E2BIG;
	}
	c->headers = calloc(r->n_headers, sizeof(*c->headers));
	if (!c->headers)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_headers; i++) {
		rc = compile_header(&c->headers[i], r->headers[i], idx, err, errlen);
		c->n_headers = i + 1; /* freed by free_rule() even when half done */
		if (rc)
			return rc;
	}
	return 0;
}

int ms_http_ruleset_compile(const struct microseg_http_rule *rules, size_t n, struct ms_http_ruleset **out,
			    char *err, size_t errlen)
{
	struct ms_http_ruleset *set;

	if (!rules || n == 0 || !out) {
		set_err(err, errlen, "no http rules");
		return -EINVAL;
	}
	if (n > RULES_MAX) {
		set_err(err, errlen, "more than %d http rules", RULES_MAX);
		return -E2BIG;
	}
	set = calloc(1, sizeof(*set) + n * sizeof(set->rules[0]));
	if (!set)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = compile_rule(&set->rules[i], &rules[i], i, err, errlen);
		set->n = i + 1;
		if (rc) {
			ms_http_ruleset_free(set);
			return rc;
		}
	}
	*out = set;
	return 0;
}

/* regexec() wants a NUL-terminated string; the request's fields lie in a buffer. A field with
 * a NUL inside (the parser refuses those) never matches rather than matching its prefix. */
static bool regex_full_match(const regex_t *re, const char *s, size_t n)
{
	char small[256], *copy = small;
	bool match;

	if (!s || memchr(s, '\0', n))
		return false;
	if (n >= sizeof(small)) {
		copy = malloc(n + 1);
		if (!copy)
			return false; /* fail closed */
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	match = regexec(re, copy, 0, NULL, 0) == 0;
	if (copy != small)
		free(copy);
	return match;
}

/* "Name": some copy is present. "Name: value": present, and every copy has that value: a
 * server that reads another copy than the one checked must not act on an unapproved value. */
static bool header_matches(const struct header_match *h, const struct ms_http_request_view *req)
{
	bool seen = false;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct ms_http_header *f = &req->headers[i];

		if (f->name_len != h->name_len || strncasecmp(f->name, h->name, h->name_len) != 0)
			continue;
		if (h->value && (f->value_len != h->value_len || memcmp(f->value, h->value, h->value_len) != 0))
			return false;
		seen = true;
	}
	return seen;
}

/* The whole value s[0..n) against a field: byte compare when the pattern allows, else the
 * regex. */
static bool field_matches(const regex_t *re, const struct fast_form *f, const char *s, size_t n)
{
	if (!s || memchr(s, '\0', n))
		return false;
	if (f->kind == FAST_PREFIX)
		return n >= f->len && !memcmp(s, f->text, f->len);
	if (f->kind == FAST_WORDS) {
		for (const char *w = f->text, *end = f->text + f->len; w <= end;) {
			const char *bar = memchr(w, '|', (size_t)(end - w));
			size_t wl = (size_t)((bar ? bar : end) - w);
			if (wl == n && !memcmp(w, s, n))
				return true;
			if (!bar)
				break;
			w = bar + 1;
		}
		return false;
	}
	return regex_full_match(re, s, n);
}

static bool rule_matches(const struct compiled_rule *r, const struct ms_http_request_view *req)
{
	if (r->has_method && !field_matches(&r->method, &r->fast_method, req->method, req->method_len))
		return false;
	if (r->has_path && !field_matches(&r->path, &r->fast_path, req->path, req->path_len))
		return false;
	if (r->has_host && !field_matches(&r->host, &r->fast_host, req->host, req->host_len))
		return false;
	for (size_t i = 0; i < r->n_headers; i++) {
		if (!header_matches(&r->headers[i], req))
			return false;
	}
	return true;
}

bool ms_http_ruleset_match(const struct ms_http_ruleset *set, const struct ms_http_request_view *req)
{
	if (!set || !req)
		return false;
	for (size_t i = 0; i < set->n; i++) {
		if (rule_matches(&set->rules[i], req))
			return true;
	}
	return false;
}

void ms_http_ruleset_free(struct ms_http_ruleset *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		free_rule(&set->rules[i]);
	free(set);
}
