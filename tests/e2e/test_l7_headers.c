// SPDX-License-Identifier: Apache-2.0
/*
 * A header rule, as in the Star Wars demo: the server takes GET of anything from the client
 * on port 80, and PUT only with the header "X-Has-Force: true". Given first through the C API
 * (struct microseg_l7_rules in microseg_rule_add), then as a CiliumNetworkPolicy with
 * `headers:` after the API rule is removed; both must behave the same. On one connection:
 * PUT without the header or with "X-Has-Force: false" gets 403 and does not reach the
 * server; PUT with it (also with the name in lower case) gets 200 and reaches the server with
 * its body; GET needs no header. The header given twice (true, then false) must not pass.
 */
#include "test_l7.h"

#include <stdio.h>
#include <string.h>

static struct microseg_rule *api_rule(struct l7 *s)
{
	static const char *const force[] = { "X-Has-Force: true" };
	static const struct microseg_http_rule http[] = {
		{ .method = "GET" },
		{ .method = "PUT", .path = "/.*", .headers = force, .n_headers = 1 },
	};
	const char *sel[] = { "k8s:app=server" }, *peer_l[] = { "k8s:app=client" };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
				      .selector = { .match_labels = peer_l, .n_match_labels = 1 } };
	struct microseg_port port = { .proto = MICROSEG_PROTO_TCP, .port = L7_PORT };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS,
					     .action = MICROSEG_ACTION_ALLOW, .peers = &peer,
					     .n_peers = 1, .ports = &port, .n_ports = 1 };
	struct microseg_l7_rules l7 = { .section = 0, .port = 0, .http = http, .n_http = 2 };
	struct microseg_rule *rule = NULL;
	MICROSEG_OPTS(microseg_rule_spec, spec, .name = "server-force",
		      .endpoints = { .match_labels = sel, .n_match_labels = 1 }, .sections = &sec,
		      .n_sections = 1, .l7 = &l7, .n_l7 = 1);

	E2E_OK(&s->t, microseg_rule_add(s->t.ctx, &spec, &rule));
	e2e_log("rule %u: server from client port %d: GET, PUT with X-Has-Force: true (C API)",
		microseg_rule_id(rule), L7_PORT);
	return rule;
}

static void run(struct l7 *s, const char *how)
{
	static const char *const steps[] = {
		"PUT /deathstar",
		"PUT /deathstar|X-Has-Force: false",
		"PUT /deathstar|X-Has-Force: true",
		"PUT /xwing|x-has-force: true",
		"GET /anything",
		NULL
	};
	static const char *const twice[] = { "PUT /deathstar|X-Has-Force: true|X-Has-Force: false",
					     NULL };
	static const int want[] = { 403, 403, 200, 200, 200 };
	const struct l7_srv_event *e;
	struct l7_session ss;
	size_t mark = l7_srv_mark(s);

	e2e_log("phase: headers-%s", how);
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, steps);
	for (int i = 0; i < 5; i++)
		l7_expect_resp(&ss, i, want[i], want[i] == 403 ? "Access denied" : NULL);
	l7_srv_drain(s, 300);
	e = l7_srv_find(s, mark, "PUT", "/deathstar");
	if (l7_srv_requests(s, mark, NULL, NULL) != 3 || l7_srv_requests(s, mark, "PUT", "/deathstar") != 1 ||
	    !e || strcmp(e->force, "true") || e->body != 7 || !l7_srv_find(s, mark, "PUT", "/xwing") ||
	    !l7_srv_find(s, mark, "GET", "/anything")) {
		l7_srv_dump(s, mark, "the server did not see exactly the allowed requests");
		E2E_CHECK(false, "server requests (%s)", how);
	}
	e2e_log("  ok (%s): PUT only with X-Has-Force: true (the body arrived), GET always", how);

	/* Two values, one of them the allowed one: the server might read either, so the
	 * request must not pass (403, or 400 as an ambiguous request). */
	mark = l7_srv_mark(s);
	l7_session(s, &ss, s->client, s->server->v4, L7_PORT, twice);
	E2E_CHECK(ss.n_resp == 1 && (ss.resp[0].status == 403 || ss.resp[0].status == 400),
		  "PUT with X-Has-Force true and false: %d response(s), status %d", ss.n_resp,
		  ss.n_resp ? ss.resp[0].status : 0);
	l7_srv_drain(s, 300);
	E2E_CHECK(l7_srv_requests(s, mark, NULL, NULL) == 0,
		  "PUT with X-Has-Force true and false reached the server");
	e2e_log("  ok (%s): X-Has-Force given twice (true, false): %d, not forwarded", how,
		ss.resp[0].status);
}

int main(void)
{
	static const char *const put_http =
		"[{method: GET}, {method: PUT, path: '/.*', headers: ['X-Has-Force: true']}]";
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */
	struct microseg_rule *rule;

	l7_setup(&s, "l7hdr", false);
	l7_proxy_start(&s, 1);
	rule = api_rule(&s);
	run(&s, "api");
	E2E_OK(&s.t, microseg_rule_remove(s.t.ctx, rule));
	l7_apply_http_policy(&s, "server-force", "server", "ingress", "client", put_http);
	run(&s, "yaml");
	e2e_finish(&s.t);
	return 0;
}
