// SPDX-License-Identifier: Apache-2.0
/*
 * Keep-alive through the L7 proxy, with the proxy driven by the test's own loop (threads = 0,
 * microseg_proxy_fd + microseg_proxy_process). The server takes GET /public/.* from the client
 * on port 80 and nothing else of it. On one TCP connection, IPv4 then IPv6: an allowed, a
 * denied, an allowed request get 200, 403 "Access denied", 200, with the connection kept open
 * throughout (the client never reconnects: one socket, still open at the end). The server
 * sees the two allowed requests only. Then three requests pipelined in one write: answered in
 * order, the denied one in the middle never reaching the server. The proxy's counters move by
 * exactly what was sent.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

static void expect_counts(struct l7 *s, const struct microseg_proxy_stats *a, uint64_t conns,
			  uint64_t allowed, uint64_t denied)
{
	struct microseg_proxy_stats b;

	l7_stats(s, &b);
	e2e_log("  proxy: connections +%llu, allowed +%llu, denied +%llu, invalid +%llu, 2xx +%llu, "
		"4xx +%llu, rejected %llu",
		(unsigned long long)(b.connections - a->connections),
		(unsigned long long)(b.requests_allowed - a->requests_allowed),
		(unsigned long long)(b.requests_denied - a->requests_denied),
		(unsigned long long)(b.requests_invalid - a->requests_invalid),
		(unsigned long long)(b.status[2] - a->status[2]),
		(unsigned long long)(b.status[4] - a->status[4]), (unsigned long long)b.rejected);
	E2E_CHECK(b.connections - a->connections == conns, "connections +%llu, want %llu",
		  (unsigned long long)(b.connections - a->connections), (unsigned long long)conns);
	E2E_CHECK(b.requests_allowed - a->requests_allowed == allowed &&
			  b.status[2] - a->status[2] == allowed,
		  "allowed +%llu, 2xx +%llu, want %llu",
		  (unsigned long long)(b.requests_allowed - a->requests_allowed),
		  (unsigned long long)(b.status[2] - a->status[2]), (unsigned long long)allowed);
	E2E_CHECK(b.requests_denied - a->requests_denied == denied &&
			  b.status[4] - a->status[4] == denied,
		  "denied +%llu, 4xx +%llu, want %llu",
		  (unsigned long long)(b.requests_denied - a->requests_denied),
		  (unsigned long long)(b.status[4] - a->status[4]), (unsigned long long)denied);
	E2E_CHECK(b.requests_invalid == a->requests_invalid && b.rejected == a->rejected,
		  "invalid or rejected moved");
}

static void one_connection(struct l7 *s, enum pol_fam fam)
{
	static const char *const steps[] = { "GET /public/one", "GET /private/two",
					     "GET /public/three", "eof", NULL };
	struct microseg_proxy_stats before;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: keepalive-ipv%d", fam);
	l7_stats(s, &before);
	l7_session(s, &ss, s->client, pol_addr(s->server, fam), L7_PORT, steps);
	E2E_CHECK(ss.local_port, "the client could not connect (%s)", ss.connect_err);
	l7_expect_resp(&ss, 0, 200, "l7-e2e server GET /public/one");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	l7_expect_resp(&ss, 2, 200, "l7-e2e server GET /public/three");
	E2E_CHECK(!ss.closed && ss.n_resp == 3, "the connection ended early");
	for (int i = 0; i < 3; i++)
		E2E_CHECK(!ss.resp[i].close, "response %d asks to close the connection", i + 1);
	/* Still usable after three requests: a keep-alive connection, not one per request. */
	E2E_CHECK(!strcmp(ss.eof, "open"), "after the third response the connection is '%s'",
		  ss.eof);

	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 2 ||
	    l7_srv_requests(s, mark, "GET", "/public/one") != 1 ||
	    l7_srv_requests(s, mark, "GET", "/public/three") != 1) {
		l7_srv_dump(s, mark, "the server did not see exactly the two allowed requests");
		E2E_CHECK(false, "server requests");
	}
	e2e_log("  ok: 200, 403, 200 on one connection (local port %d), still open; the server "
		"saw 2 requests over %zu connection(s)",
		ss.local_port, l7_srv_conns(s, mark));
	expect_counts(s, &before, 1, 2, 1);
}

static void pipelined(struct l7 *s)
{
	/* Three requests in one write; the client then reads three responses. */
	static const char *const steps[] = {
		"raw:GET /public/p1 HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n"
		"GET /private/p2 HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n"
		"GET /public/p3 HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n",
		"read", "read", "eof", NULL
	};
	struct microseg_proxy_stats before;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: pipelined");
	l7_stats(s, &before);
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "GET /public/p1");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	l7_expect_resp(&ss, 2, 200, "GET /public/p3");
	E2E_CHECK(!strcmp(ss.eof, "open"), "after pipelined requests the connection is '%s'",
		  ss.eof);
	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 2 ||
	    l7_srv_requests(s, mark, "GET", "/private/p2") != 0) {
		l7_srv_dump(s, mark, "pipelined: the server saw something else than p1 and p3");
		E2E_CHECK(false, "server requests");
	}
	e2e_log("  ok: pipelined 200, 403, 200 in order; the server saw p1 and p3 only");
	expect_counts(s, &before, 1, 2, 1);
}

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7keep", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");
	l7_proxy_start(&s, 0);

	one_connection(&s, POL_V4);
	one_connection(&s, POL_V6);
	pipelined(&s);

	E2E_OK(&s.t, microseg_proxy_stop(s.t.ctx));
	e2e_finish(&s.t);
	return 0;
}
