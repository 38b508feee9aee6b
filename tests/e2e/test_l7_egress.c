// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP rules on the client's egress: it may send GET /public/.* to the server on port 80
 * (through the proxy, worker thread), anything to the server on port 81 and to app=other on
 * port 80 (L3/L4 only); the server itself has no policy. IPv4 and IPv6: the allowed request
 * reaches the server, the denied one gets 403 and does not; ports without HTTP rules never
 * touch the proxy; app=other, whose egress has no HTTP rules, reaches the same server port
 * with any request, unproxied: the rule is the client's, not the server's.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

#include "microseg_abi.h"

static const char other_policy[] =
	"apiVersion: cilium.io/v2\n"
	"kind: CiliumNetworkPolicy\n"
	"metadata:\n"
	"  name: client-to-other\n"
	"  namespace: " L7_K8S_NS "\n"
	"spec:\n"
	"  endpointSelector:\n"
	"    matchLabels:\n"
	"      app: client\n"
	"  egress:\n"
	"  - toEndpoints:\n"
	"    - matchLabels:\n"
	"        app: other\n"
	"    toPorts:\n"
	"    - ports:\n"
	"      - port: \"80\"\n"
	"        protocol: TCP\n";

static uint64_t proxy_conns(struct l7 *s)
{
	struct microseg_proxy_stats st;

	l7_stats(s, &st);
	return st.connections;
}

/* One request on a port without HTTP rules: answered by the server, not through the proxy. */
static void unproxied(struct l7 *s, const struct e2e_ep *from, const struct e2e_ep *to,
		      enum pol_fam fam, int port, const char *want_body)
{
	static const char *const steps[] = { "GET /private/any", NULL };
	uint64_t c0 = proxy_conns(s);
	struct l7_session ss;

	l7_session(s, &ss, from, pol_addr(to, fam), port, steps);
	l7_expect_resp(&ss, 0, 200, want_body);
	E2E_CHECK(proxy_conns(s) == c0, "%s -> %s port %d went through the proxy", from->app,
		  to->app, port);
	e2e_log("  ok: %s -> %s port %d: any request, not proxied", from->app, to->app, port);
}

static void run(struct l7 *s, enum pol_fam fam)
{
	static const char *const steps[] = { "GET /public/a", "GET /private/b", "PUT /public/c",
					     "GET /public/d", NULL };
	struct microseg_proxy_stats a, b;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: egress-ipv%d", fam);
	l7_stats(s, &a);
	l7_session(s, &ss, s->client, pol_addr(s->server, fam), L7_PORT, steps);
	l7_expect_resp(&ss, 0, 200, "l7-e2e server GET /public/a");
	l7_expect_resp(&ss, 1, 403, "Access denied");
	l7_expect_resp(&ss, 2, 403, "Access denied");
	l7_expect_resp(&ss, 3, 200, "l7-e2e server GET /public/d");
	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 2 || !l7_srv_find(s, mark, "GET", "/public/a") ||
	    !l7_srv_find(s, mark, "GET", "/public/d")) {
		l7_srv_dump(s, mark, "the server did not see exactly the allowed requests");
		E2E_CHECK(false, "server requests");
	}
	l7_stats(s, &b);
	E2E_CHECK(b.connections == a.connections + 1 && b.requests_allowed == a.requests_allowed + 2 &&
			  b.requests_denied == a.requests_denied + 2,
		  "proxy counters: connections +%llu allowed +%llu denied +%llu, want 1 2 2",
		  (unsigned long long)(b.connections - a.connections),
		  (unsigned long long)(b.requests_allowed - a.requests_allowed),
		  (unsigned long long)(b.requests_denied - a.requests_denied));
	e2e_log("  ok: the client's egress rule: 2 allowed reached the server, 2 denied got 403");

	unproxied(s, s->client, s->server, fam, L7_PLAIN_PORT, "l7-e2e server GET /private/any");
	unproxied(s, s->client, s->other, fam, L7_PORT, "l7-e2e other GET /private/any");
	unproxied(s, s->other, s->server, fam, L7_PORT, "l7-e2e server GET /private/any");
}

int main(void)
{
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7eg", true);
	{
		char port[16];
		const char *argv[] = { e2e_python(), l7_peer_script(), "serve", "other", port,
				       NULL };

		int log_fd; /* kept open for the server's log lines, which this test does not read */

		snprintf(port, sizeof(port), "%d", L7_PORT);
		e2e_spawn_ready(s.other->ns, argv, &log_fd, "http_peer serve (other)");
	}
	l7_apply_http_policy(&s, "client-http", "client", "egress", "server",
			     "[{method: GET, path: '/public/.*'}]");
	l7_apply(&s, other_policy);
	l7_proxy_start(&s, 1);
	/* Egress rules are judged at the sender's own hook: no receiver lookups needed. */
	E2E_CHECK(!(e2e_config_flags(&s.t) & MS_CFG_F_INGRESS_L7),
		  "egress-only HTTP rules turned the receiver check on");
	for (int f = 0; f < 2; f++)
		run(&s, f ? POL_V6 : POL_V4);
	e2e_finish(&s.t);
	return 0;
}
