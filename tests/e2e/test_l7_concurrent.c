// SPDX-License-Identifier: Apache-2.0
/*
 * 200 connections through the proxy at once (two worker threads): the client opens them all
 * before sending the first request, then one GET on each. Allowed paths: 200 answers, all of
 * them, none hung or reset, every request seen by the server; denied paths: 200 answers of 403
 * and nothing at the server. The proxy's counters grow by exactly 200 connections and 200
 * requests of each kind, and no connection stays open once the clients are gone.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

#define N_CONNS 200

static void burst(struct l7 *s, const char *path, int want_status)
{
	struct microseg_proxy_stats a, b;
	char out[512], n[16], want[64];
	size_t mark = l7_srv_mark(s);
	long long t0;

	e2e_log("phase: burst-%d", want_status);
	l7_stats(s, &a);
	snprintf(n, sizeof(n), "%d", N_CONNS);
	t0 = topo_now_ms();
	l7_peer_run(s, s->client, 60000, out, sizeof(out), "parallel", s->server->v4, "80", n,
		    path, NULL);
	e2e_log("  %s (%lld ms)", out, topo_now_ms() - t0);
	snprintf(want, sizeof(want), "statuses=%d:%d errors=-", want_status, N_CONNS);
	E2E_CHECK(strstr(out, want), "not every connection got %d: %s", want_status, out);

	l7_srv_drain(s, 500);
	if (want_status == 200)
		E2E_CHECK(l7_srv_requests(s, mark, "GET", path) == N_CONNS,
			  "the server saw %zu of the %d requests", l7_srv_requests(s, mark, "GET", path),
			  N_CONNS);
	else
		E2E_CHECK(l7_srv_requests(s, mark, NULL, NULL) == 0 && l7_srv_conns(s, mark) == 0,
			  "denied requests reached the server (%zu requests, %zu connections)",
			  l7_srv_requests(s, mark, NULL, NULL), l7_srv_conns(s, mark));

	l7_stats(s, &b);
	e2e_log("  proxy: connections +%llu, allowed +%llu, denied +%llu, 2xx +%llu, 4xx +%llu, "
		"5xx +%llu, upstream errors +%llu",
		(unsigned long long)(b.connections - a.connections),
		(unsigned long long)(b.requests_allowed - a.requests_allowed),
		(unsigned long long)(b.requests_denied - a.requests_denied),
		(unsigned long long)(b.status[2] - a.status[2]),
		(unsigned long long)(b.status[4] - a.status[4]),
		(unsigned long long)(b.status[5] - a.status[5]),
		(unsigned long long)(b.upstream_errors - a.upstream_errors));
	E2E_CHECK(b.connections - a.connections == N_CONNS, "connections +%llu",
		  (unsigned long long)(b.connections - a.connections));
	if (want_status == 200)
		E2E_CHECK(b.requests_allowed - a.requests_allowed == N_CONNS &&
				  b.status[2] - a.status[2] == N_CONNS &&
				  b.requests_denied == a.requests_denied,
			  "allowed +%llu", (unsigned long long)(b.requests_allowed - a.requests_allowed));
	else
		E2E_CHECK(b.requests_denied - a.requests_denied == N_CONNS &&
				  b.status[4] - a.status[4] == N_CONNS &&
				  b.requests_allowed == a.requests_allowed,
			  "denied +%llu", (unsigned long long)(b.requests_denied - a.requests_denied));
	E2E_CHECK(b.upstream_errors == a.upstream_errors && b.status[5] == a.status[5],
		  "upstream errors");

	/* The clients closed: the proxy lets go of every connection. */
	for (int i = 0; i < 100 && b.active; i++) {
		l7_pump(s, 50);
		l7_stats(s, &b);
	}
	E2E_CHECK(b.active == 0, "%llu connections still open 5 s after the clients left",
		  (unsigned long long)b.active);
	e2e_log("  ok: %d x %d, nothing left open", N_CONNS, want_status);
}

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7conc", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");
	l7_proxy_start(&s, 2);
	burst(&s, "/public/many", 200);
	burst(&s, "/private/many", 403);
	e2e_finish(&s.t);
	return 0;
}
