// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP rules on the server's ingress: it takes GET /public/.* from the client on port 80
 * (through the proxy, worker thread) and anything from the client on port 81 (L3/L4 only).
 * IPv4 and IPv6: an allowed request reaches the server (which sees it, from the host's
 * address: the proxy's upstream connection) and gets the server's answer; a denied path, a
 * denied method (POST and HEAD on an allowed path) get 403 from the proxy and never reach
 * the server. Port 81 carries any request straight from the client, never through the proxy.
 * A third endpoint that the policy does not name is refused at L3 on both ports, and reaches
 * neither the proxy nor the server.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

#include "microseg_abi.h"

static void l7_port(struct l7 *s, enum pol_fam fam)
{
	static const char *const steps[] = { "GET /public/a", "GET /private/b", "POST /public/c",
					     "HEAD /public/d", "GET /public/e?x=1", NULL };
	const struct l7_srv_event *seen;
	struct microseg_proxy_stats a, b;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: l7-port-ipv%d", fam);
	l7_stats(s, &a);
	l7_session(s, &ss, s->client, pol_addr(s->server, fam), L7_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "l7-e2e server GET /public/a");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	l7_expect_resp(&ss, 2, 403, "Access denied");
	l7_expect_resp(&ss, 3, 403, NULL); /* HEAD: no body */
	l7_expect_resp(&ss, 4, 200, "GET /public/e?x=1");
	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 2 || !l7_srv_find(s, mark, "GET", "/public/a") ||
	    !l7_srv_find(s, mark, "GET", "/public/e?x=1")) {
		l7_srv_dump(s, mark, "the server did not see exactly the allowed requests");
		E2E_CHECK(false, "server requests");
	}
	/* The proxy connected from the host, not with the client's address. */
	for (size_t i = mark; i < s->srv_n; i++)
		if (!s->srv_log[i].is_req && !s->srv_log[i].junk)
			E2E_CHECK(strcmp(s->srv_log[i].peer, pol_addr(s->client, fam)),
				  "the server saw the client's own address on port %d: not proxied",
				  L7_PORT);
	seen = l7_srv_find(s, mark, "GET", "/public/a");
	E2E_CHECK(seen->port == L7_PORT, "request on port %d", seen->port);
	l7_stats(s, &b);
	E2E_CHECK(b.connections == a.connections + 1 && b.requests_allowed == a.requests_allowed + 2 &&
			  b.requests_denied == a.requests_denied + 3,
		  "proxy counters: connections +%llu allowed +%llu denied +%llu, want 1 2 3",
		  (unsigned long long)(b.connections - a.connections),
		  (unsigned long long)(b.requests_allowed - a.requests_allowed),
		  (unsigned long long)(b.requests_denied - a.requests_denied));
	e2e_log("  ok: 2 allowed requests reached the server, 3 denied ones got 403 and did not");
}

static void plain_port(struct l7 *s, enum pol_fam fam)
{
	static const char *const steps[] = { "GET /private/b", "POST /anything", NULL };
	struct microseg_proxy_stats a, b;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: plain-port-ipv%d", fam);
	l7_stats(s, &a);
	l7_session(s, &ss, s->client, pol_addr(s->server, fam), L7_PLAIN_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "GET /private/b");
	l7_expect_resp(&ss, 1, 200, "POST /anything");
	l7_srv_drain(s, 300);
	E2E_CHECK(l7_srv_requests(s, mark, NULL, NULL) == 2, "server saw %zu requests on port %d",
		  l7_srv_requests(s, mark, NULL, NULL), L7_PLAIN_PORT);
	/* Straight from the client: its own address, and the proxy saw nothing. */
	for (size_t i = mark; i < s->srv_n; i++)
		if (!s->srv_log[i].is_req && !s->srv_log[i].junk)
			E2E_CHECK(!strcmp(s->srv_log[i].peer, pol_addr(s->client, fam)),
				  "port %d: the server saw %s, not the client", L7_PLAIN_PORT,
				  s->srv_log[i].peer);
	l7_stats(s, &b);
	E2E_CHECK(b.connections == a.connections, "a connection to port %d went through the proxy",
		  L7_PLAIN_PORT);
	e2e_log("  ok: any request on port %d, straight from the client", L7_PLAIN_PORT);
}

static void outsider(struct l7 *s, enum pol_fam fam)
{
	static const char *const steps[] = { "GET /public/a", NULL };
	struct microseg_proxy_stats a, b;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: outsider-ipv%d", fam);
	l7_stats(s, &a);
	for (int port = L7_PORT; port <= L7_PLAIN_PORT; port++) {
		l7_session(s, &ss, s->other, pol_addr(s->server, fam), port, steps);
		E2E_CHECK(ss.connect_err[0] && ss.n_resp == 0,
			  "app=other reached port %d (%d responses)", port, ss.n_resp);
	}
	l7_srv_drain(s, 300);
	E2E_CHECK(s->srv_n == mark, "the server heard from app=other");
	l7_stats(s, &b);
	E2E_CHECK(b.connections == a.connections, "app=other's connection reached the proxy");
	e2e_log("  ok: app=other refused at L3 on ports %d and %d", L7_PORT, L7_PLAIN_PORT);
}

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7in", true);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");
	l7_proxy_start(&s, 1);
	E2E_CHECK(e2e_config_flags(&s.t) & MS_CFG_F_INGRESS_L7,
		  "ingress HTTP rules published without the receiver check");
	for (int f = 0; f < 2; f++) {
		enum pol_fam fam = f ? POL_V6 : POL_V4;

		l7_port(&s, fam);
		plain_port(&s, fam);
		outsider(&s, fam);
	}
	/* The last ingress HTTP rule gone: local senders stop looking the receiver up. */
	E2E_OK(&s.t, microseg_policy_delete(s.t.ctx, L7_K8S_NS "/server-http"));
	E2E_CHECK(!(e2e_config_flags(&s.t) & MS_CFG_F_INGRESS_L7),
		  "the receiver check stayed on without ingress HTTP rules");
	e2e_finish(&s.t);
	return 0;
}
