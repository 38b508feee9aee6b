/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the L7 proxy's HTTP framing (lib/http_parse.h) and rule matching
 * (lib/http_rules.h). The first input byte chooses how the stream arrives (piece size) and the
 * head limit; the rest is what a client sends. It is fed the way the proxy feeds it: an
 * incomplete head is passed again with what arrived since, each call on an exact-size heap copy
 * so that a read past the given bytes shows. Every head the parser accepts is matched against
 * a fixed rule set. Besides "no crash, no leak, no out-of-bounds read", for any input:
 *  - used never exceeds what was given, and a head never exceeds the limit;
 *  - the request view lies within the head's bytes;
 *  - an accepted head holds no CR or LF outside CRLF pairs and no NUL;
 *  - the stream is framed identically whole and in pieces (same messages at the same offsets,
 *    refused or not alike): framing must not depend on how TCP cut the bytes.
 * The same bytes then go through a response parser, for the same properties minus the view.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "http_rules.h"

#define MAX_MSGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct framing {
	size_t heads[MAX_MSGS], ends[MAX_MSGS];
	int n;
	bool refused;
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_http_request: property violated: %s\n", what);
	abort();
}

static const struct ms_http_ruleset *rules(void)
{
	static struct ms_http_ruleset *set;
	static const char *const force[] = { "X-Has-Force: true", "Authorization" };
	static const struct microseg_http_rule r[] = {
		{ .method = "GET|HEAD", .path = "/public(/.*)?(\\?.*)?" },
		{ .method = "POST", .path = "/v1/request-landing", .host = "deathstar(:[0-9]+)?" },
		{ .method = "PUT", .path = "/v1/exhaust-port", .headers = force, .n_headers = 2 },
	};

	if (!set && ms_http_ruleset_compile(r, sizeof(r) / sizeof(r[0]), &set, NULL, 0) != 0)
		fail("the fixed rule set does not compile");
	return set;
}

static bool within(const char *p, size_t n, const char *lo, size_t len)
{
	return n == 0 || (p >= lo && p + n <= lo + len);
}

static void check_request_head(const struct ms_http_parser *p, const char *head, size_t len)
{
	struct ms_http_header hdrs[MS_HTTP_MAX_HEADERS];
	struct ms_http_request_view v;

	for (size_t i = 0; i < len; i++) {
		if (head[i] == '\0')
			fail("NUL in an accepted head");
		if (head[i] == '\r' && (i + 1 == len || head[i + 1] != '\n'))
			fail("bare CR in an accepted head");
		if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r'))
			fail("bare LF in an accepted head");
	}
	ms_http_request_view(p, head, hdrs, &v);
	if (!within(v.method, v.method_len, head, len) || !within(v.path, v.path_len, head, len) ||
	    (v.host && !within(v.host, v.host_len, head, len)) || v.n_headers > MS_HTTP_MAX_HEADERS)
		fail("request view outside the head");
	for (size_t i = 0; i < v.n_headers; i++) {
		if (!within(v.headers[i].name, v.headers[i].name_len, head, len) ||
		    !within(v.headers[i].value, v.headers[i].value_len, head, len))
			fail("header outside the head");
	}
	(void)ms_http_ruleset_match(rules(), &v);
}

/* Frames s[0, len) arriving `step` bytes at a time (0: whole). */
static void frame(enum ms_http_kind kind, uint8_t method, uint32_t max_head, const char *s, size_t len, size_t step,
		  struct framing *out)
{
	struct ms_http_parser p;
	size_t pos = 0, avail = 0;

	memset(out, 0, sizeof(*out));
	ms_http_parser_init(&p, kind, max_head);
	if (kind == MS_HTTP_RESPONSE)
		ms_http_parser_expect(&p, method);
	while (out->n < MAX_MSGS) {
		size_t used = 0, given;
		char *copy;
		int rc;

		if (avail < len)
			avail = step && avail + step < len ? avail + step : len;
		given = avail - pos;
		copy = malloc(given ? given : 1);
		if (!copy)
			return;
		memcpy(copy, s + pos, given);
		rc = ms_http_parse(&p, copy, given, &used);
		if (rc == MS_HTTP_ERR) {
			free(copy);
			out->refused = true;
			return;
		}
		if (used > given)
			fail("used more than given");
		if (rc & MS_HTTP_HEAD) {
			if (p.head_len > max_head || p.head_len != used)
				fail("head length");
			out->heads[out->n] = pos + used;
			if (kind == MS_HTTP_REQUEST)
				check_request_head(&p, copy, used);
		}
		free(copy);
		pos += used;
		if (rc & MS_HTTP_DONE) {
			out->ends[out->n++] = pos;
			continue;
		}
		if (avail == len && (used == 0 || pos == len))
			break;
	}
	/* the peer closes: ends a response read until the close, refuses a cut message */
	if (out->n < MAX_MSGS) {
		int rc = ms_http_parse_eof(&p);
		if (rc == MS_HTTP_DONE)
			out->ends[out->n++] = pos;
		else if (rc == MS_HTTP_ERR)
			out->refused = true;
	}
}

static void compare(const struct framing *a, const struct framing *b)
{
	if (a->n != b->n || a->refused != b->refused)
		fail("framing depends on how the stream was cut");
	for (int i = 0; i < a->n; i++) {
		if (a->heads[i] != b->heads[i] || a->ends[i] != b->ends[i])
			fail("message boundaries depend on how the stream was cut");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t limits[] = { 64, 256, 4096, 16384 };
	static const uint8_t methods[] = { HTTP_GET, HTTP_HEAD, HTTP_CONNECT, HTTP_POST };
	struct framing whole, pieces;
	const char *s;
	size_t len, step;
	uint32_t max_head;

	if (size < 1 || size > 65536)
		return 0;
	step = (size_t)(data[0] & 0x0f) + 1;
	max_head = limits[(data[0] >> 4) & 3];
	s = (const char *)data + 1;
	len = size - 1;

	frame(MS_HTTP_REQUEST, 0, max_head, s, len, 0, &whole);
	frame(MS_HTTP_REQUEST, 0, max_head, s, len, step, &pieces);
	compare(&whole, &pieces);

	frame(MS_HTTP_RESPONSE, methods[data[0] >> 6], max_head, s, len, 0, &whole);
	frame(MS_HTTP_RESPONSE, methods[data[0] >> 6], max_head, s, len, step, &pieces);
	compare(&whole, &pieces);
	return 0;
}
