// SPDX-License-Identifier: Apache-2.0
/*
 * Request smuggling through the real path: requests that the proxy and the server could read
 * two ways are answered 400 by the proxy, the connection is closed, and the server receives
 * nothing of them. The server takes GET and POST of /public/.* from the client on port 80.
 *  - Content-Length together with Transfer-Encoding (a denied request hidden in the body);
 *  - two different Content-Lengths; obsolete line folding; a malformed request line;
 *  - an allowed request followed, in the same write, by a smuggling one: 200, then 400; the
 *    server sees the first only.
 * And a body is never read as requests: a denied POST whose body holds a request line gets
 * 403, its body is dropped, and the next real request on the connection is served.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

#define HOST "Host: s\\r\\n"

/* One raw request on a new connection: 400, closed, nothing at the server. */
static void refused(struct l7 *s, const char *what, const char *raw)
{
	struct microseg_proxy_stats a, b;
	char step[1024];
	const char *steps[] = { step, "eof", NULL };
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: %s", what);
	l7_stats(s, &a);
	snprintf(step, sizeof(step), "raw:%s", raw);
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	l7_expect_resp(&ss, 0, 400, NULL);
	E2E_CHECK(!strcmp(ss.eof, "closed") || !strcmp(ss.eof, "reset"),
		  "%s: after the 400 the connection is '%s'", what, ss.eof);
	l7_srv_drain(s, 300);
	if (s->srv_n != mark) {
		l7_srv_dump(s, mark, "the server received something of a smuggling request");
		E2E_CHECK(false, "%s reached the server", what);
	}
	l7_stats(s, &b);
	E2E_CHECK(b.requests_invalid == a.requests_invalid + 1 && b.requests_allowed == a.requests_allowed,
		  "%s: invalid +%llu, allowed +%llu", what,
		  (unsigned long long)(b.requests_invalid - a.requests_invalid),
		  (unsigned long long)(b.requests_allowed - a.requests_allowed));
	e2e_log("  ok: %s: 400, closed, nothing at the server", what);
}

static void after_allowed(struct l7 *s)
{
	static const char *const steps[] = {
		"raw:GET /public/first HTTP/1.1\\r\\n" HOST "\\r\\n"
		"POST /public/x HTTP/1.1\\r\\n" HOST "Content-Length: 46\\r\\n"
		"Transfer-Encoding: chunked\\r\\n\\r\\n"
		"0\\r\\n\\r\\nGET /private/hidden HTTP/1.1\\r\\n" HOST "\\r\\n",
		"read", "eof", NULL
	};
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: after-allowed");
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "GET /public/first");
	l7_expect_resp(&ss, 1, 400, NULL);
	E2E_CHECK(!strcmp(ss.eof, "closed") || !strcmp(ss.eof, "reset"),
		  "after the 400 the connection is '%s'", ss.eof);
	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 1 || !l7_srv_find(s, mark, "GET", "/public/first") ||
	    l7_srv_junk(s, mark)) {
		l7_srv_dump(s, mark, "the server saw more than the first request");
		E2E_CHECK(false, "smuggled bytes reached the server");
	}
	e2e_log("  ok: 200 for the first, 400 for the smuggling one, the server saw the first");
}

static void body_is_not_requests(struct l7 *s)
{
	static const char *const steps[] = {
		"raw:POST /private/upload HTTP/1.1\\r\\n" HOST "Content-Length: 39\\r\\n\\r\\n"
		"GET /public/inner HTTP/1.1\\r\\n" HOST "\\r\\n",
		"GET /public/after", "eof", NULL
	};
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: denied-body");
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	l7_expect_resp(&ss, 0, 403, "Access denied");
	l7_expect_resp(&ss, 1, 200, "GET /public/after");
	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 1 || !l7_srv_find(s, mark, "GET", "/public/after")) {
		l7_srv_dump(s, mark, "a denied request's body was read as a request");
		E2E_CHECK(false, "server requests");
	}
	e2e_log("  ok: 403, body dropped (its request line never reached the server), next "
		"request served");
}

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7smug", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: 'GET|POST', path: '/public/.*'}]");
	l7_proxy_start(&s, 1);

	/* CL.TE: a server reading Content-Length sees "0\r\n\r\n" and then a second request. */
	refused(&s, "cl-and-te",
		"POST /public/x HTTP/1.1\\r\\n" HOST "Content-Length: 46\\r\\n"
		"Transfer-Encoding: chunked\\r\\n\\r\\n"
		"0\\r\\n\\r\\nGET /private/hidden HTTP/1.1\\r\\n" HOST "\\r\\n");
	refused(&s, "te-and-cl",
		"POST /public/x HTTP/1.1\\r\\n" HOST "Transfer-Encoding: chunked\\r\\n"
		"Content-Length: 4\\r\\n\\r\\n"
		"5c\\r\\nGPOST /private/hidden HTTP/1.1\\r\\n\\r\\n0\\r\\n\\r\\n");
	refused(&s, "two-content-lengths",
		"POST /public/x HTTP/1.1\\r\\n" HOST "Content-Length: 3\\r\\n"
		"Content-Length: 40\\r\\n\\r\\nabcGET /private/hidden HTTP/1.1\\r\\n\\r\\n");
	refused(&s, "obs-fold",
		"GET /public/x HTTP/1.1\\r\\n" HOST "X-Folded: a\\r\\n  b\\r\\n\\r\\n");
	refused(&s, "bad-request-line", "GET /public/x HTTP/1.1 extra\\r\\n" HOST "\\r\\n");
	after_allowed(&s);
	body_is_not_requests(&s);
	e2e_finish(&s.t);
	return 0;
}
