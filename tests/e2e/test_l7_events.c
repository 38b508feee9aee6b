// SPDX-License-Identifier: Apache-2.0
/*
 * L7 events through the API (microseg_events_subscribe): exactly one MICROSEG_EVENT_L7 per
 * request the proxy judged, in order, with the request's method and path, the status the
 * client got (200 from the server, 403 from the proxy), the verdict (forwarded / dropped, no
 * drop reason), the datapath's identities, the client's address and port as the client saw
 * them, the server's address and port, the endpoint whose rule applied and its direction:
 *  - the server's ingress rule (IPv4, then IPv6): the server's endpoint, ingress;
 *  - the client's egress rule (the ingress one deleted): the client's endpoint, egress.
 * Every event is also rendered by microseg_event_to_json, which names it "http".
 */
#include "test_events.h"
#include "test_l7.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static struct ev_log evlog = { .store = true };

struct want {
	const char *method, *path;
	int status;
};

static bool same_addr(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;

	return fa == fb && inet_pton(fa, a, x) == 1 && inet_pton(fb, b, y) == 1 &&
	       !memcmp(x, y, fa == AF_INET ? 4 : 16);
}

static const char *l7_str(const struct microseg_event *e, char *buf, size_t len)
{
	snprintf(buf, len,
		 "L7 ep %u '%s' dir %u verdict %u reason %u ids %u->%u %s:%u -> %s:%u proto %u "
		 "%s %s status %u latency %u us",
		 e->endpoint_id, e->endpoint_name, e->direction, e->verdict, e->drop_reason,
		 e->src_identity, e->dst_identity, e->src_addr, e->src_port, e->dst_addr,
		 e->dst_port, e->proto, e->http_method, e->http_path, e->http_status, e->latency_us);
	return buf;
}

/* One session of requests; then its L7 events, checked one by one. */
static void run(struct l7 *s, enum pol_fam fam, const struct e2e_ep *rule_ep, uint32_t dir,
		const char *const *steps, const struct want *want, size_t n_want)
{
	const struct microseg_event *l7[16];
	size_t mark = evlog.n, n = 0;
	uint64_t since = ev_realtime_ns();
	struct l7_session ss;
	char buf[512];

	e2e_log("phase: events-%s-ipv%d", dir == MICROSEG_DIR_INGRESS ? "ingress" : "egress", fam);
	l7_session(s, &ss, s->client, pol_addr(s->server, fam), L7_PORT, steps);
	for (size_t i = 0; i < n_want; i++)
		l7_expect_resp(&ss, (int)i, want[i].status, NULL);
	ev_pump(&s->t, 300, 5000);

	for (size_t i = mark; i < evlog.n; i++)
		if (evlog.v[i].type == MICROSEG_EVENT_L7) {
			E2E_CHECK(n < 16, "too many L7 events");
			l7[n++] = &evlog.v[i];
			e2e_log("    %s", l7_str(&evlog.v[i], buf, sizeof(buf)));
		}
	E2E_CHECK(n == n_want, "%zu L7 events for %zu requests", n, n_want);
	for (size_t i = 0; i < n; i++) {
		const struct microseg_event *e = l7[i];
		bool allowed = want[i].status == 200;
		char json[2048];
		int r;

		l7_str(e, buf, sizeof(buf));
		E2E_CHECK(!strcmp(e->http_method, want[i].method) && !strcmp(e->http_path, want[i].path),
			  "event %zu is for %s %s, want %s %s: %s", i + 1, e->http_method,
			  e->http_path, want[i].method, want[i].path, buf);
		E2E_CHECK(e->http_status == (uint32_t)want[i].status, "event %zu: status: %s", i + 1,
			  buf);
		E2E_CHECK(e->verdict == (allowed ? MICROSEG_FORWARDED : MICROSEG_DROPPED) &&
				  e->drop_reason == 0,
			  "event %zu: verdict / reason: %s", i + 1, buf);
		E2E_CHECK(e->src_identity == s->id_client && e->dst_identity == s->id_server,
			  "event %zu: identities (want %u -> %u): %s", i + 1, s->id_client,
			  s->id_server, buf);
		E2E_CHECK(e->endpoint_id == microseg_endpoint_id(rule_ep->ep) && e->direction == dir &&
				  !strcmp(e->endpoint_name, rule_ep->name),
			  "event %zu: endpoint / direction (want %u '%s' %u): %s", i + 1,
			  microseg_endpoint_id(rule_ep->ep), rule_ep->name, dir, buf);
		E2E_CHECK(same_addr(e->src_addr, pol_addr(s->client, fam)) &&
				  e->src_port == ss.local_port &&
				  same_addr(e->dst_addr, pol_addr(s->server, fam)) &&
				  e->dst_port == L7_PORT && e->proto == 6,
			  "event %zu: tuple (want %s:%d -> %s:%d tcp): %s", i + 1,
			  pol_addr(s->client, fam), ss.local_port, pol_addr(s->server, fam), L7_PORT,
			  buf);
		E2E_CHECK(e->time_ns + 1000000000ull >= since && e->time_ns <= ev_realtime_ns() + 1000000000ull,
			  "event %zu: time %llu outside the test's", i + 1,
			  (unsigned long long)e->time_ns);
		/* The server's answer took a round trip: some latency; none is capped at 2^32. */
		E2E_CHECK(!allowed || (e->latency_us > 0 && e->latency_us < 10000000),
			  "event %zu: latency %u us", i + 1, e->latency_us);
		r = microseg_event_to_json(e, json, sizeof(json));
		E2E_CHECK(r > 0, "microseg_event_to_json = %d", r);
		E2E_CHECK(strstr(json, "\"http\"") && strstr(json, want[i].path),
			  "JSON of an L7 event: %s", json);
	}
	e2e_log("  ok: %zu L7 events, one per request, fields as sent", n);
}

int main(void)
{
	static const char *const steps[] = { "GET /public/a", "GET /private/b", "POST /public/c",
					     "GET /public/d", NULL };
	static const struct want want[] = {
		{ "GET", "/public/a", 200 },
		{ "GET", "/private/b", 403 },
		{ "POST", "/public/c", 403 },
		{ "GET", "/public/d", 200 },
	};
	static const char *const steps6[] = { "GET /public/six", "DELETE /public/six", NULL };
	static const struct want want6[] = {
		{ "GET", "/public/six", 200 },
		{ "DELETE", "/public/six", 403 },
	};
	static struct l7 s; /* static: the exit handlers registered on it run after main returns */

	l7_setup(&s, "l7ev", false);
	l7_apply_http_policy(&s, "server-http", "server", "ingress", "client",
			     "[{method: GET, path: '/public/.*'}]");
	l7_proxy_start(&s, 1);
	ev_subscribe(&s.t, &evlog, NULL);

	run(&s, POL_V4, s.server, MICROSEG_DIR_INGRESS, steps, want, 4);
	run(&s, POL_V6, s.server, MICROSEG_DIR_INGRESS, steps6, want6, 2);

	E2E_OK(&s.t, microseg_policy_delete(s.t.ctx, L7_K8S_NS "/server-http"));
	l7_apply_http_policy(&s, "client-http", "client", "egress", "server",
			     "[{method: GET, path: '/public/.*'}]");
	run(&s, POL_V4, s.client, MICROSEG_DIR_EGRESS, steps, want, 4);

	E2E_OK(&s.t, microseg_events_unsubscribe(s.t.ctx));
	e2e_finish(&s.t);
	return 0;
}
