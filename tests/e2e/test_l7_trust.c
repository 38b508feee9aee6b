// SPDX-License-Identifier: Apache-2.0
/*
 * Who the proxy serves and whom it believes. The server takes GET /public/.* from the client
 * and GET /other/.* from app=other on port 80 (worker thread).
 *  - Identity comes from the datapath, never from the request: app=other asking for
 *    /public/ with headers that claim the client's identity or address gets 403 (and its own
 *    path still passes); the client asking for a denied path while claiming the host's
 *    identity gets 403 as well. None of it reaches the server.
 *  - Only connections the datapath hands over are served: a container connecting to the
 *    proxy's port on the host (its gateways 169.254.1.1 and fe80::1, the host's address) gets
 *    no HTTP answer; a process on the host connecting to the listener itself (127.0.0.1, ::1)
 *    is closed without a byte and counted in `rejected`.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

static void spoofed_headers(struct l7 *s)
{
	char claim_client[96], claim_addr[96], claim_host[64];
	const char *other_steps[] = { "GET /other/ok", "", NULL };
	const char *client_steps[] = { "", NULL };
	char other_req[400], client_req[300];
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: spoofed-headers");
	snprintf(claim_client, sizeof(claim_client), "X-Microseg-Identity: %u", s->id_client);
	snprintf(claim_addr, sizeof(claim_addr), "X-Forwarded-For: %s", s->client->v4);
	snprintf(claim_host, sizeof(claim_host), "X-Microseg-Identity: 1");
	snprintf(other_req, sizeof(other_req),
		 "GET /public/secret|%s|%s|X-Real-IP: %s|Forwarded: for=%s|X-Envoy-Peer-Metadata-Id: "
		 "client",
		 claim_client, claim_addr, s->client->v4, s->client->v4);
	other_steps[1] = other_req;
	l7_session(s, &ss, s->other, s->server->v4, L7_PORT, other_steps);
	l7_expect_resp(&ss, 0, 200, "GET /other/ok");
	l7_expect_resp(&ss, 1, 403, "Access denied");

	snprintf(client_req, sizeof(client_req), "GET /private/x|%s|X-Forwarded-For: 127.0.0.1",
		 claim_host);
	client_steps[0] = client_req;
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, client_steps);
	l7_expect_resp(&ss, 0, 403, "Access denied");

	l7_srv_drain(s, 300);
	if (l7_srv_requests(s, mark, NULL, NULL) != 1 || !l7_srv_find(s, mark, "GET", "/other/ok")) {
		l7_srv_dump(s, mark, "spoofed identity headers changed what reached the server");
		E2E_CHECK(false, "server requests");
	}
	e2e_log("  ok: identity and address headers change nothing");
}

/* No HTTP answer, whatever else happened. */
static void expect_no_answer(struct l7 *s, const struct e2e_ep *from, const char *addr,
			     int port, bool want_rejected)
{
	struct microseg_proxy_stats a, b;
	char p[16], out[256];

	snprintf(p, sizeof(p), "%d", port);
	l7_stats(s, &a);
	l7_peer_run(s, from, 20000, out, sizeof(out), "direct", addr, p, NULL);
	l7_pump(s, 200);
	l7_stats(s, &b);
	e2e_log("  %s -> [%s]:%d: %s; rejected +%llu, connections +%llu", from ? from->app : "host",
		addr, port, out, (unsigned long long)(b.rejected - a.rejected),
		(unsigned long long)(b.connections - a.connections));
	E2E_CHECK(strncmp(out, "answer", 6), "a direct connection to the proxy was answered: %s",
		  out);
	E2E_CHECK(b.connections == a.connections, "a direct connection was served");
	E2E_CHECK(b.requests_allowed == a.requests_allowed && b.requests_denied == a.requests_denied,
		  "a direct connection's request was judged");
	if (want_rejected)
		E2E_CHECK(b.rejected == a.rejected + 1 && (!strcmp(out, "closed") || !strcmp(out, "reset")),
			  "the listener's own connection: '%s', rejected +%llu (want closed, +1)", out,
			  (unsigned long long)(b.rejected - a.rejected));
}

static void direct_connections(struct l7 *s)
{
	int port = microseg_proxy_port(s->t.ctx);
	char gw6[64];

	e2e_log("phase: direct");
	E2E_CHECK(port > 0, "microseg_proxy_port = %d", port);
	snprintf(gw6, sizeof(gw6), "%s%%eth0", MICROSEG_GATEWAY_IPV6);
	expect_no_answer(s, s->client, MICROSEG_GATEWAY_IPV4, port, false);
	expect_no_answer(s, s->client, gw6, port, false);
	expect_no_answer(s, s->client, s->t.host_v4, port, false);
	expect_no_answer(s, s->other, MICROSEG_GATEWAY_IPV4, port, false);
	/* A local process reaching the listener itself: accepted by the kernel, then closed. */
	expect_no_answer(s, NULL, "127.0.0.1", port, true);
	expect_no_answer(s, NULL, "::1", port, true);
	e2e_log("  ok: only connections handed over by the datapath are served");
}

int main(void)
{
	static const char policy[] =
		"apiVersion: cilium.io/v2\n"
		"kind: CiliumNetworkPolicy\n"
		"metadata:\n"
		"  name: server-http\n"
		"  namespace: " L7_K8S_NS "\n"
		"spec:\n"
		"  endpointSelector:\n"
		"    matchLabels:\n"
		"      app: server\n"
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchLabels:\n"
		"        app: client\n"
		"    toPorts:\n"
		"    - ports:\n"
		"      - port: \"80\"\n"
		"        protocol: TCP\n"
		"      rules:\n"
		"        http:\n"
		"        - method: GET\n"
		"          path: /public/.*\n"
		"  - fromEndpoints:\n"
		"    - matchLabels:\n"
		"        app: other\n"
		"    toPorts:\n"
		"    - ports:\n"
		"      - port: \"80\"\n"
		"        protocol: TCP\n"
		"      rules:\n"
		"        http:\n"
		"        - method: GET\n"
		"          path: /other/.*\n";
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7trust", true);
	l7_apply(&s, policy);
	l7_proxy_start(&s, 1);
	spoofed_headers(&s);
	direct_connections(&s);
	e2e_finish(&s.t);
	return 0;
}
