// SPDX-License-Identifier: Apache-2.0
/*
 * A policy change reaches the next request of an open connection. One keep-alive connection
 * from the client to the server's port 80 (worker thread): GET /public/a is allowed; the
 * policy is replaced (microseg_policy_apply_yaml, same name) so that only /other/.* is
 * allowed; the same request on the same connection now gets 403 and does not reach the
 * server, while GET /other/b passes. The policy deleted (microseg_policy_delete), the server
 * is no longer selected and every request passes again, still on the same connection.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */
	struct l7_session ss;
	char go1[160], go2[160], w1[170], w2[170];
	const char *steps[] = { "GET /public/a", w1, "GET /public/a", "GET /other/b", w2,
				"GET /private/c", "eof", NULL };
	size_t mark;

	l7_setup(&s, "l7chg", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");
	l7_proxy_start(&s, 1);
	snprintf(w1, sizeof(w1), "wait:%s", l7_signal_path(&s, "go1", go1, sizeof(go1)));
	snprintf(w2, sizeof(w2), "wait:%s", l7_signal_path(&s, "go2", go2, sizeof(go2)));

	mark = l7_srv_mark(&s);
	e2e_log("phase: before");
	l7_session_start(&s, &ss, s.client, s.server->v4, L7_PORT, steps);
	E2E_CHECK(l7_session_until(&s, &ss, "waiting"), "the session ended early");
	l7_expect_resp(&ss, 0, 200, "GET /public/a");

	e2e_log("phase: replaced");
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/other/.*'}]");
	l7_signal(go1);
	E2E_CHECK(l7_session_until(&s, &ss, "waiting"), "the session ended early");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	l7_expect_resp(&ss, 2, 200, "GET /other/b");

	e2e_log("phase: deleted");
	E2E_OK(&s.t, microseg_policy_delete(s.t.ctx, L7_K8S_NS "/server-http"));
	l7_signal(go2);
	l7_session_finish(&s, &ss);
	l7_expect_resp(&ss, 3, 200, "GET /private/c");
	E2E_CHECK(ss.n_resp == 4 && !ss.closed && !strcmp(ss.eof, "open"),
		  "the connection did not stay open (%d responses, eof '%s')", ss.n_resp, ss.eof);

	l7_srv_drain(&s, 300);
	if (l7_srv_requests(&s, mark, NULL, NULL) != 3 ||
	    l7_srv_requests(&s, mark, "GET", "/public/a") != 1 ||
	    !l7_srv_find(&s, mark, "GET", "/other/b") || !l7_srv_find(&s, mark, "GET", "/private/c")) {
		l7_srv_dump(&s, mark, "the server saw other requests than the allowed ones");
		E2E_CHECK(false, "server requests");
	}
	e2e_log("  ok: on one connection (local port %d): 200, then 403 after the change, 200 for "
		"the new path, 200 for anything after the delete",
		ss.local_port);
	e2e_finish(&s.t);
	return 0;
}
