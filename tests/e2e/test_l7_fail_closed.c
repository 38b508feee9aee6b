// SPDX-License-Identifier: Apache-2.0
/*
 * Fail closed: HTTP rules are never skipped because the proxy is not there. The server takes
 * GET /public/.* from the client on port 80 and anything on port 81 (L3/L4 only).
 *  - No proxy yet: a connection to port 80 fails (no connection, nothing at the server) and
 *    is counted as a "proxy" drop at the client's egress; port 81 works.
 *  - Proxy started (worker thread): port 80 serves allowed requests and refuses denied ones.
 *  - Proxy stopped while a keep-alive connection is open: that connection ends (its next
 *    request gets no answer from the server), new connections to port 80 fail again, port 81
 *    still works, and microseg_proxy_port / a second stop say -ENOENT.
 *  - Started again: port 80 works again.
 */
#include "test_l7.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const one_get[] = { "GET /public/a", NULL };

static uint64_t proxy_drops(struct l7 *s)
{
	return pol_drops(&s->t, s->client, MICROSEG_DIR_EGRESS, MICROSEG_DROP_PROXY);
}

static void expect_l7_port_closed(struct l7 *s, const char *when)
{
	uint64_t d0 = proxy_drops(s), d1;
	size_t mark = l7_srv_mark(s);
	struct l7_session ss;

	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, one_get);
	d1 = proxy_drops(s);
	l7_srv_drain(s, 300);
	e2e_log("  %s: port %d: connect %s, %d response(s); proxy drops +%llu", when, L7_PORT,
		ss.connect_err[0] ? ss.connect_err : "succeeded", ss.n_resp,
		(unsigned long long)(d1 - d0));
	E2E_CHECK(ss.connect_err[0] && ss.n_resp == 0, "%s: port %d is open without the proxy",
		  when, L7_PORT);
	E2E_CHECK(l7_srv_conns(s, mark) == 0 && l7_srv_requests(s, mark, NULL, NULL) == 0,
		  "%s: the server heard from the client", when);
	E2E_CHECK(d1 > d0, "%s: no MICROSEG_DROP_PROXY counted at the client's egress", when);
}

static void expect_plain_port_open(struct l7 *s, const char *when)
{
	static const char *const steps[] = { "GET /private/b", NULL };
	struct l7_session ss;

	l7_session(s, &ss, s->client, s->server->v4, L7_PLAIN_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "GET /private/b");
	e2e_log("  %s: port %d works", when, L7_PLAIN_PORT);
}

static void expect_l7_port_served(struct l7 *s)
{
	static const char *const steps[] = { "GET /public/a", "GET /private/b", NULL };
	struct l7_session ss;

	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "GET /public/a");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	e2e_log("  port %d served: 200 and 403", L7_PORT);
}

int main(void)
{
	char go[160], wait_go[170];
	const char *steps[] = { "GET /public/a", wait_go, "GET /public/again", NULL };
	struct l7_session ss;
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */
	size_t mark;
	int r;

	l7_setup(&s, "l7fail", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");

	e2e_log("phase: no-proxy");
	E2E_CHECK(microseg_proxy_port(s.t.ctx) == -ENOENT, "proxy port before start: %d",
		  microseg_proxy_port(s.t.ctx));
	expect_l7_port_closed(&s, "before start");
	expect_plain_port_open(&s, "before start");

	e2e_log("phase: started");
	l7_proxy_start(&s, 1);
	expect_l7_port_served(&s);

	e2e_log("phase: stopped");
	snprintf(wait_go, sizeof(wait_go), "wait:%s", l7_signal_path(&s, "go", go, sizeof(go)));
	l7_session_start(&s, &ss, s.client, s.server->v4, L7_PORT, steps);
	E2E_CHECK(l7_session_until(&s, &ss, "waiting"), "the session ended early");
	l7_expect_resp(&ss, 0, 200, "GET /public/a");
	E2E_OK(&s.t, microseg_proxy_stop(s.t.ctx));
	mark = l7_srv_mark(&s);
	l7_signal(go);
	l7_session_finish(&s, &ss);
	E2E_CHECK(ss.n_resp == 1 && (ss.closed || ss.timeout),
		  "the open connection survived the stop (%d responses)", ss.n_resp);
	l7_srv_drain(&s, 300);
	E2E_CHECK(l7_srv_requests(&s, mark, NULL, NULL) == 0,
		  "a request reached the server after the proxy stopped");
	e2e_log("  the open connection ended at the stop (%s)", ss.closed ? "closed" : "no answer");
	r = microseg_proxy_stop(s.t.ctx);
	E2E_CHECK(r == -ENOENT, "second stop = %d, want -ENOENT", r);
	E2E_CHECK(microseg_proxy_port(s.t.ctx) == -ENOENT, "proxy port after stop: %d",
		  microseg_proxy_port(s.t.ctx));
	expect_l7_port_closed(&s, "after stop");
	expect_plain_port_open(&s, "after stop");

	e2e_log("phase: restarted");
	l7_proxy_start(&s, 1);
	expect_l7_port_served(&s);
	e2e_finish(&s.t);
	return 0;
}
