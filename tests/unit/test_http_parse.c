/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's HTTP framing (lib/http_parse.h) on its own: where heads and bodies end in a
 * stream of pieces and pipelined messages, what a head says, responses without bodies, and
 * the refusals that keep the proxy from being a request-smuggling gap. The refusal cases
 * live in http_corpus/ (one malformed request per file, shared with test_proxy_engine.c);
 * adding a case is adding a file.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http_parse.h"

#ifndef HTTP_CORPUS_DIR
#error "HTTP_CORPUS_DIR must name tests/unit/http_corpus"
#endif

#define MAX_HEAD 4096 /* the corpus's oversize case is sized against this */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One parsed message: where its head and body ended in the stream. */
struct framed {
	size_t head_end, msg_end;
	unsigned status;
	char target[256];
	enum ms_http_body body;
	bool keep_alive, upgrade;
};

/*
 * Feeds stream[0, len) to p the way the proxy does: `step` bytes at a time (0: all at once),
 * keeping an incomplete head's bytes and passing them again. Fills up to max messages; returns
 * how many completed, or -1 on MS_HTTP_ERR (*before_err: how many had completed before it).
 */
static int frame_stream(struct ms_http_parser *p, const char *stream, size_t len, size_t step, struct framed *out,
			int max, int *before_err)
{
	size_t pos = 0, avail = 0; /* stream[pos, avail) is given and not used yet */
	int n = 0;

	while (pos < len || avail > pos) {
		size_t used = 0;
		int rc;
		char *copy;

		if (avail < len)
			avail = step && avail + step < len ? avail + step : len;
		/* an exact-size copy, so reading past what was given shows under ASan */
		copy = malloc(avail - pos + 1);
		if (!copy)
			abort();
		memcpy(copy, stream + pos, avail - pos);
		rc = ms_http_parse(p, copy, avail - pos, &used);
		if (rc == MS_HTTP_ERR) {
			free(copy);
			if (before_err)
				*before_err = n;
			return -1;
		}
		if ((rc & MS_HTTP_HEAD) && n < max) {
			struct ms_http_header hdrs[MS_HTTP_MAX_HEADERS];
			struct ms_http_request_view v;

			memset(&out[n], 0, sizeof(out[n]));
			out[n].head_end = pos + used;
			out[n].status = p->status;
			out[n].body = p->body;
			out[n].keep_alive = p->keep_alive;
			out[n].upgrade = p->upgrade;
			if (p->kind == MS_HTTP_REQUEST) {
				ms_http_request_view(p, copy, hdrs, &v);
				snprintf(out[n].target, sizeof(out[n].target), "%.*s", (int)v.path_len, v.path);
			}
		}
		free(copy);
		pos += used;
		if (rc & MS_HTTP_DONE) {
			if (n < max)
				out[n].msg_end = pos;
			n++;
			continue;
		}
		if (used == 0 && avail == len)
			break; /* everything given, message incomplete */
	}
	return n;
}

static void test_simple_get_view(void)
{
	static const char req[] = "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\n"
				  "X-Token:   secret value  \r\nAccept: */*\r\nX-Empty:\r\n\r\n";
	struct ms_http_parser p;
	struct ms_http_header hdrs[MS_HTTP_MAX_HEADERS];
	struct ms_http_request_view v;
	size_t used = 0;

	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, req, sizeof(req) - 1, &used), MS_HTTP_HEAD | MS_HTTP_DONE);
	CHECK_EQ(used, sizeof(req) - 1);
	CHECK_EQ(p.body, MS_HTTP_BODY_NONE);
	CHECK(p.keep_alive);
	CHECK(!p.upgrade);
	ms_http_request_view(&p, req, hdrs, &v);
	CHECK(v.method_len == 3 && memcmp(v.method, "GET", 3) == 0);
	CHECK(v.path_len == strlen("/a/b?x=1&y=%20") && memcmp(v.path, "/a/b?x=1&y=%20", v.path_len) == 0);
	REQUIRE(v.host != NULL);
	CHECK(v.host_len == strlen("example.com:8080") && memcmp(v.host, "example.com:8080", v.host_len) == 0);
	REQUIRE(v.n_headers == 4);
	CHECK(v.headers[1].name_len == 7 && memcmp(v.headers[1].name, "X-Token", 7) == 0);
	/* the value without the whitespace around it, inner spaces kept */
	CHECK(v.headers[1].value_len == 12 && memcmp(v.headers[1].value, "secret value", 12) == 0);
	CHECK(v.headers[3].name_len == 7 && v.headers[3].value_len == 0);
}

/* The same requests framed the same way whatever the pieces they arrive in. */
static void test_pieces_and_pipelining(void)
{
	static const char stream[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
				     "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
				     "POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
				     "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
				     "\r\nGET /four HTTP/1.0\r\n\r\n";
	const size_t len = sizeof(stream) - 1;
	const char *four = strstr(stream, "\r\nGET /four");
	static const size_t steps[] = { 0, 1, 2, 3, 7, 64 };

	for (size_t s = 0; s < ARRAY_LEN(steps); s++) {
		struct ms_http_parser p;
		struct framed f[8];
		int n;

		ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
		n = frame_stream(&p, stream, len, steps[s], f, 8, NULL);
		REQUIRE(n == 4);
		CHECK_STREQ(f[0].target, "/one");
		CHECK_EQ(f[0].msg_end, f[0].head_end);
		CHECK_STREQ(f[1].target, "/two");
		CHECK_EQ(f[1].body, MS_HTTP_BODY_LENGTH);
		CHECK_EQ(f[1].msg_end - f[1].head_end, 5);
		CHECK_STREQ(f[2].target, "/three");
		CHECK_EQ(f[2].body, MS_HTTP_BODY_CHUNKED);
		/* the chunked body ends right where the next message starts */
		CHECK_EQ(f[2].msg_end, (size_t)(four - stream));
		CHECK_STREQ(f[3].target, "/four");
		CHECK(!f[3].keep_alive); /* HTTP/1.0 without keep-alive */
		CHECK_EQ(f[3].msg_end, len);
	}
}

static void test_head_size_limit(void)
{
	char req[MAX_HEAD + 64];
	const char *start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	struct ms_http_parser p;
	size_t used, pad;

	/* exactly MAX_HEAD bytes: accepted */
	pad = MAX_HEAD - strlen(start) - 4;
	snprintf(req, sizeof(req), "%s%*s\r\n\r\n", start, (int)pad, "");
	memset(req + strlen(start), 'x', pad);
	REQUIRE(strlen(req) == MAX_HEAD);
	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, req, MAX_HEAD, &used), MS_HTTP_HEAD | MS_HTTP_DONE);

	/* one more: refused, whether it arrives whole or as an endless head */
	snprintf(req, sizeof(req), "%s%*s\r\n\r\n", start, (int)pad + 1, "");
	memset(req + strlen(start), 'x', pad + 1);
	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, req, MAX_HEAD + 1, &used), MS_HTTP_ERR);
	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, req, MAX_HEAD - 10, &used), 0);
	CHECK_EQ(used, 0);
	CHECK_EQ(ms_http_parse(&p, req, MAX_HEAD, &used), MS_HTTP_ERR);
	CHECK(p.error != NULL);
}

/* Requests that must pass: the hardening is not allowed to refuse valid HTTP. */
static void test_valid_requests_accepted(void)
{
	static const char *const ok[] = {
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Tab: a\tb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Trailing-Space: v  \r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"DELETE /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	};

	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		struct ms_http_parser p;
		struct framed f[2];
		int n;

		ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
		n = frame_stream(&p, ok[i], strlen(ok[i]), 0, f, 2, NULL);
		if (n != 1)
			h_fail(__FILE__, __LINE__, "valid request %zu refused (%s): %s", i,
			       p.error ? p.error : "incomplete", ok[i]);
		h_checks++;
	}
}

static void test_request_flags(void)
{
	struct ms_http_parser p;
	size_t used;
	static const char ws[] = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	static const char expect[] = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
	static const char close_req[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	static const char ka10[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";

	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, ws, sizeof(ws) - 1, &used), MS_HTTP_HEAD | MS_HTTP_DONE);
	CHECK(p.upgrade);
	/* nothing may follow an upgrade as HTTP */
	CHECK_EQ(ms_http_parse(&p, "GET", 3, &used), MS_HTTP_ERR);

	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, expect, sizeof(expect) - 1, &used), MS_HTTP_HEAD);
	CHECK(p.expect_continue);
	CHECK_EQ(p.method, HTTP_PUT);
	CHECK_EQ(ms_http_parse(&p, "abcdGET", 7, &used), MS_HTTP_DONE);
	CHECK_EQ(used, 4);

	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, close_req, sizeof(close_req) - 1, &used), MS_HTTP_HEAD | MS_HTTP_DONE);
	CHECK(!p.keep_alive);
	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	CHECK_EQ(ms_http_parse(&p, ka10, sizeof(ka10) - 1, &used), MS_HTTP_HEAD | MS_HTTP_DONE);
	CHECK(p.keep_alive);
}

/* The request's spans stay readable after its end, until the next head starts. */
static void test_view_survives_message_end(void)
{
	static const char stream[] = "POST /first HTTP/1.1\r\nHost: h1\r\nContent-Length: 2\r\n\r\nokGET /second HTTP/1.1\r\nHost: h2\r\n\r\n";
	struct ms_http_parser p;
	struct ms_http_header hdrs[MS_HTTP_MAX_HEADERS];
	struct ms_http_request_view v;
	size_t used, head;

	ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
	REQUIRE(ms_http_parse(&p, stream, sizeof(stream) - 1, &head) == MS_HTTP_HEAD);
	REQUIRE(ms_http_parse(&p, stream + head, sizeof(stream) - 1 - head, &used) == MS_HTTP_DONE);
	ms_http_request_view(&p, stream, hdrs, &v);
	CHECK(v.path_len == 6 && memcmp(v.path, "/first", 6) == 0);
	CHECK(v.host_len == 2 && memcmp(v.host, "h1", 2) == 0);
	REQUIRE(ms_http_parse(&p, stream + head + used, sizeof(stream) - 1 - head - used, &used) ==
		(MS_HTTP_HEAD | MS_HTTP_DONE));
	ms_http_request_view(&p, strstr(stream, "GET /second"), hdrs, &v);
	CHECK(v.path_len == 7 && memcmp(v.path, "/second", 7) == 0);
}

struct resp_case {
	const char *name;
	uint8_t request_method;
	const char *stream;
	bool eof;             /* the server closes after the stream */
	int messages;         /* messages completed */
	size_t last_body;     /* body bytes of the last message */
	unsigned last_status;
};

static void test_responses(void)
{
	static const struct resp_case cases[] = {
		{ "length", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false, 1, 3, 200 },
		/* HEAD: a Content-Length but no body; the next bytes are the next response (to
		 * another HEAD: the expectation holds until the caller sets another) */
		{ "head", HTTP_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
		  false, 2, 0, 404 },
		{ "204 with length", HTTP_GET, "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false, 1, 0, 204 },
		{ "304 with length", HTTP_GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, 1, 0, 304 },
		{ "100 then 200", HTTP_POST, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
		  false, 2, 2, 201 },
		{ "chunked", HTTP_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		  false, 1, 23, 200 },
		{ "until close", HTTP_GET, "HTTP/1.1 200 OK\r\n\r\nall of this", true, 1, 11, 200 },
		{ "1.0 until close", HTTP_GET, "HTTP/1.0 200 OK\r\n\r\nabc", true, 1, 3, 200 },
		{ "switching", HTTP_GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		  false, 1, 0, 101 },
		{ "connect 200", HTTP_CONNECT, "HTTP/1.1 200 Connection established\r\n\r\n", false, 1, 0, 200 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct resp_case *rc = &cases[i];
		struct ms_http_parser p;
		struct framed f[4];
		size_t len = strlen(rc->stream);
		int n;

		ms_http_parser_init(&p, MS_HTTP_RESPONSE, MAX_HEAD);
		ms_http_parser_expect(&p, rc->request_method);
		n = frame_stream(&p, rc->stream, len, 0, f, 4, NULL);
		if (n < 0) {
			h_fail(__FILE__, __LINE__, "response case \"%s\" refused: %s", rc->name, p.error);
			continue;
		}
		if (rc->eof && ms_http_parse_eof(&p) == MS_HTTP_DONE) {
			f[n].msg_end = len;
			n++;
		}
		if (n != rc->messages || n == 0) {
			h_fail(__FILE__, __LINE__, "response case \"%s\": %d messages, expected %d (%s)", rc->name, n,
			       rc->messages, p.error ? p.error : "");
			continue;
		}
		h_checks++;
		CHECK_EQ(f[n - 1].msg_end, len);
		CHECK_EQ(f[n - 1].msg_end - f[n - 1].head_end, rc->last_body);
		CHECK_EQ(f[n - 1].status, rc->last_status);
		if (rc->last_status == 101 || rc->request_method == HTTP_CONNECT)
			CHECK(f[n - 1].upgrade);
	}
}

static void test_response_refusals(void)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTX/1.1 200 OK\r\n\r\n",
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct ms_http_parser p;
		struct framed f[2];

		ms_http_parser_init(&p, MS_HTTP_RESPONSE, MAX_HEAD);
		ms_http_parser_expect(&p, HTTP_GET);
		if (frame_stream(&p, bad[i], strlen(bad[i]), 0, f, 2, NULL) != -1)
			h_fail(__FILE__, __LINE__, "malformed response %zu accepted", i);
		h_checks++;
	}
	/* a response cut short by the close */
	{
		struct ms_http_parser p;
		size_t used;

		ms_http_parser_init(&p, MS_HTTP_RESPONSE, MAX_HEAD);
		ms_http_parser_expect(&p, HTTP_GET);
		CHECK_EQ(ms_http_parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 41, &used), MS_HTTP_HEAD);
		CHECK_EQ(ms_http_parse(&p, "abc", 3, &used), 0);
		CHECK_EQ(ms_http_parse_eof(&p), MS_HTTP_ERR);
	}
}

/* Every corpus request is refused, arriving whole or byte by byte, before any message of it
 * is complete (a completed one is what the proxy would have forwarded whole). */
static void test_corpus_refused(void)
{
	DIR *d = opendir(HTTP_CORPUS_DIR);
	struct dirent *e;
	unsigned files = 0;

	REQUIRE(d != NULL);
	while ((e = readdir(d))) {
		char path[512];
		char *data;
		size_t len = 0;

		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", HTTP_CORPUS_DIR, e->d_name);
		data = h_read_file(path, &len);
		REQUIRE(data != NULL);
		files++;
		for (size_t step = 0; step <= 1; step++) {
			struct ms_http_parser p;
			struct framed f[4];
			int n, before_err = -1;

			ms_http_parser_init(&p, MS_HTTP_REQUEST, MAX_HEAD);
			n = frame_stream(&p, data, len, step, f, 4, &before_err);
			h_checks++;
			if (n != -1) {
				h_fail(__FILE__, __LINE__, "%s (step %zu): not refused, %d message(s)", e->d_name, step,
				       n);
				continue;
			}
			CHECK(p.error != NULL && p.error[0] != '\0');
			if (before_err != 0)
				h_fail(__FILE__, __LINE__, "%s (step %zu): %d message(s) complete before the refusal",
				       e->d_name, step, before_err);
		}
		free(data);
	}
	closedir(d);
	CHECK(files >= 40);
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(test_simple_get_view),
		TEST_ENTRY(test_pieces_and_pipelining),
		TEST_ENTRY(test_head_size_limit),
		TEST_ENTRY(test_valid_requests_accepted),
		TEST_ENTRY(test_request_flags),
		TEST_ENTRY(test_view_survives_message_end),
		TEST_ENTRY(test_responses),
		TEST_ENTRY(test_response_refusals),
		TEST_ENTRY(test_corpus_refused),
	};

	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
