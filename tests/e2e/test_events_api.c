// SPDX-License-Identifier: Apache-2.0
/*
 * Flow events through the API, with real traffic whose every packet the test knows. A rule
 * selects the server (B) and allows ingress from the client (A) on TCP 80 only.
 *  - One HTTP request A -> B:80 (IPv4, then IPv6 read through microseg_events_fd() in the
 *    test's own poll loop): exactly one "new" event at A's egress (rule 0: A is open) and one
 *    at B's ingress (the rule's id) for that connection, none for its replies or later packets.
 *  - Five TCP SYNs crafted on a raw socket (no retransmissions) from the intruder (C) to B:80:
 *    five drops at B's ingress, reason policy, and one "new" at C's open egress for each.
 *  - ping -c 5 from C to B, IPv4 and IPv6: five drops each, with the echo id as ports.
 *  - Every event also goes through microseg_event_to_json() and a JSON parser; the event
 *    counters agree with what the callback saw; B's drop counter grew by the drops reported.
 *  - A deny rule (UDP 5353 from the intruder): its drops carry reason policy_deny and its id.
 *  - Reporting off (rate 0/0): drops are still counted, no event is written, none refused;
 *    back on, events come again.
 */
#include "test_events.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#define K 5

static struct ev_log log_all = { .store = true };

/* Reads events the way a caller with its own event loop would: poll the fd, then process
 * without waiting. */
static void pump_with_fd(struct e2e *t, int quiet_ms)
{
	long long last = topo_now_ms(), start = last;
	int fd = microseg_events_fd(t->ctx);

	E2E_CHECK(fd >= 0, "microseg_events_fd = %d (%s)", fd, microseg_strerror(fd));
	while (topo_now_ms() - last < quiet_ms && topo_now_ms() - start < 5000) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 50);

		E2E_CHECK(r >= 0 || errno == EINTR, "poll on the events fd: %s", strerror(errno));
		if (r <= 0)
			continue;
		r = microseg_events_process(t->ctx, 0);
		E2E_CHECK(r >= 0, "microseg_events_process(0) = %d", r);
		if (r > 0)
			last = topo_now_ms();
	}
}

static void http_flow(struct ev_setup *s, enum pol_fam fam, uint16_t lp, bool again)
{
	const char *a = pol_addr(s->a, fam), *b = pol_addr(s->b, fam);
	const struct microseg_event *eg, *in;
	struct ev_tuple tu;
	uint64_t since = ev_realtime_ns();
	size_t mark = log_all.n;
	struct ev_log view;

	e2e_log("phase: http-ipv%d%s", fam, again ? "-same-tuple" : "");
	ev_tuple_set(&tu, a, lp, b, EV_HTTP_PORT, MICROSEG_PROTO_TCP);
	ev_http_ok(s->a, b, EV_HTTP_PORT, lp, "server");
	if (fam == POL_V4)
		ev_pump(&s->t, 300, 5000);
	else
		pump_with_fd(&s->t, 300);

	/* Only this phase's events. */
	view = log_all;
	view.v += mark;
	view.n -= mark;
	eg = ev_find(&view, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->a->ep),
		     MICROSEG_DIR_EGRESS, &tu);
	in = ev_find(&view, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->b->ep),
		     MICROSEG_DIR_INGRESS, &tu);
	if (!eg || !in)
		ev_dump(&view, "an event of the HTTP connection is missing");
	ev_expect_event(eg, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->a,
						 .direction = MICROSEG_DIR_EGRESS, .rule_id = 0,
						 .src_identity = s->id_a, .dst_identity = s->id_b,
						 .tuple = &tu, .icmp_type = -1, .since_ns = since });
	ev_expect_event(in, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->b,
						 .direction = MICROSEG_DIR_INGRESS,
						 .rule_id = s->rule_id, .src_identity = s->id_a,
						 .dst_identity = s->id_b, .tuple = &tu, .icmp_type = -1,
						 .since_ns = since });
	/* Both report the same packet, the SYN. */
	E2E_CHECK(eg->bytes == in->bytes, "the SYN is %u bytes at A's egress, %u at B's ingress",
		  eg->bytes, in->bytes);
	if (ev_count_tuple(&view, MICROSEG_EVENT_FLOW_NEW, &tu) != 2 ||
	    ev_count_tuple(&view, MICROSEG_EVENT_DROP, &tu) != 0) {
		ev_dump(&view, "more events than the two 'new' for the connection");
		E2E_CHECK(false, "events for %s:%u <-> %s:%u besides the two 'new'", a, lp, b,
			  EV_HTTP_PORT);
	}
	e2e_log("  ok: one 'new' at A egress (rule 0) and one at B ingress (rule %u), %zu event(s) "
		"in all", s->rule_id, view.n);
}

static void syn_drops(struct ev_setup *s)
{
	uint16_t sport0 = ev_next_port();
	uint64_t since = ev_realtime_ns();
	size_t mark = log_all.n;
	struct ev_log view;

	for (int i = 1; i < K; i++)
		ev_next_port();
	e2e_log("phase: syn-drops");
	ev_raw_syns(s->c, s->b->v4, EV_HTTP_PORT, K, sport0);
	ev_pump(&s->t, 300, 5000);
	view = log_all;
	view.v += mark;
	view.n -= mark;
	for (int i = 0; i < K; i++) {
		struct ev_tuple tu;
		const struct microseg_event *d, *n;

		ev_tuple_set(&tu, s->c->v4, (uint16_t)(sport0 + i), s->b->v4, EV_HTTP_PORT,
			     MICROSEG_PROTO_TCP);
		d = ev_find(&view, MICROSEG_EVENT_DROP, microseg_endpoint_id(s->b->ep),
			    MICROSEG_DIR_INGRESS, &tu);
		n = ev_find(&view, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->c->ep),
			    MICROSEG_DIR_EGRESS, &tu);
		if (!d || !n)
			ev_dump(&view, "an event of a SYN is missing");
		/* 54 bytes: Ethernet, IPv4 and a TCP header without options. */
		ev_expect_event(d, &(struct ev_expect){ .type = MICROSEG_EVENT_DROP, .ep = s->b,
							.direction = MICROSEG_DIR_INGRESS,
							.drop_reason = MICROSEG_DROP_POLICY,
							.src_identity = s->id_c, .dst_identity = s->id_b,
							.tuple = &tu, .bytes = 54, .icmp_type = -1,
							.since_ns = since });
		ev_expect_event(n, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->c,
							.direction = MICROSEG_DIR_EGRESS,
							.src_identity = s->id_c, .dst_identity = s->id_b,
							.tuple = &tu, .bytes = 54, .icmp_type = -1,
							.since_ns = since });
		E2E_CHECK(ev_count_tuple(&view, 0, &tu) == 2, "%zu events for SYN %d, want 2",
			  ev_count_tuple(&view, 0, &tu), i);
	}
	e2e_log("  ok: %d SYNs, %d drops at B ingress (policy), %d 'new' at C egress", K, K, K);
}

/* K pings from C to B over fam: K drops at B's ingress and one 'new' at C's egress. */
static void ping_drops(struct ev_setup *s, enum pol_fam fam)
{
	const char *c = pol_addr(s->c, fam), *b = pol_addr(s->b, fam);
	uint32_t proto = fam == POL_V6 ? MICROSEG_PROTO_ICMPV6 : MICROSEG_PROTO_ICMP;
	int echo = fam == POL_V6 ? 128 : 8;
	/* Ethernet + IP + ICMP header + ping's 56 bytes. */
	uint32_t frame = (fam == POL_V6 ? 14 + 40 : 14 + 20) + 8 + 56;
	uint64_t since = ev_realtime_ns();
	size_t mark = log_all.n, drops = 0, news = 0;
	const struct microseg_event *first = NULL;
	struct ev_log view;
	struct ev_tuple tu;
	int r;

	memset(&tu, 0, sizeof(tu));
	e2e_log("phase: ping-drops-ipv%d", fam);
	r = ev_ping(s->c, b, K);
	E2E_CHECK(r == 1, "ping -c %d from C to B %s exited %d, want 1 (no answer)", K, b, r);
	ev_pump(&s->t, 300, 5000);
	view = log_all;
	view.v += mark;
	view.n -= mark;
	for (size_t i = 0; i < view.n; i++) {
		const struct microseg_event *ev = &view.v[i];

		if (ev->proto != proto || ev->icmp_type != (uint32_t)echo)
			continue;
		if (!first) {
			first = ev;
			/* The echo id stands for both ports. */
			ev_tuple_set(&tu, c, ev->src_port, b, ev->src_port, proto);
		}
		if (ev->type == MICROSEG_EVENT_DROP) {
			drops++;
			ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_DROP, .ep = s->b,
								 .direction = MICROSEG_DIR_INGRESS,
								 .drop_reason = MICROSEG_DROP_POLICY,
								 .src_identity = s->id_c,
								 .dst_identity = s->id_b, .tuple = &tu,
								 .bytes = frame, .icmp_type = echo,
								 .since_ns = since });
		} else {
			news++;
			ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW,
								 .ep = s->c,
								 .direction = MICROSEG_DIR_EGRESS,
								 .src_identity = s->id_c,
								 .dst_identity = s->id_b, .tuple = &tu,
								 .bytes = frame, .icmp_type = echo,
								 .since_ns = since });
		}
	}
	if (drops != K || news != 1) {
		ev_dump(&view, "wrong number of ping events");
		E2E_CHECK(false, "%zu drops and %zu 'new' for %d echo requests, want %d and 1", drops,
			  news, K, K);
	}
	e2e_log("  ok: %d echo requests (id %u), %d drops at B ingress, one 'new' at C egress", K,
		tu.sport, K);
}

static void get_stats(struct e2e *t, struct microseg_event_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	E2E_OK(t, microseg_events_get_stats(t->ctx, st));
}

/*
 * What real traffic does not show: names that need escaping (endpoint names may hold any
 * printable ASCII but spaces), no name, a protocol without a name, a reason without one, and
 * the longest object there is, which must still fit the 1024 bytes the header promises.
 */
static void json_edges(const struct microseg_event *real)
{
	struct microseg_event v[4];

	for (int i = 0; i < 4; i++)
		v[i] = *real;
	snprintf(v[0].endpoint_name, sizeof(v[0].endpoint_name), "we\"ird\\name");
	v[1].endpoint_name[0] = '\0';
	v[1].proto = 47; /* GRE: no ports */
	v[1].src_port = v[1].dst_port = 0;
	v[2].type = MICROSEG_EVENT_DROP;
	v[2].verdict = MICROSEG_DROPPED;
	v[2].drop_reason = 13; /* not a known reason: "other" */
	memset(v[3].endpoint_name, '"', MICROSEG_ENDPOINT_NAME_MAX);
	v[3].endpoint_name[MICROSEG_ENDPOINT_NAME_MAX] = '\0';
	snprintf(v[3].src_addr, sizeof(v[3].src_addr), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	snprintf(v[3].dst_addr, sizeof(v[3].dst_addr), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	v[3].type = MICROSEG_EVENT_DROP;
	v[3].verdict = MICROSEG_DROPPED;
	v[3].drop_reason = MICROSEG_DROP_SPOOFED_SOURCE;
	v[3].proto = MICROSEG_PROTO_ICMPV6;
	v[3].icmp_type = 255;
	v[3].version = v[3].endpoint_id = v[3].ifindex = v[3].rule_id = UINT32_MAX;
	v[3].src_identity = v[3].dst_identity = v[3].bytes = UINT32_MAX;
	v[3].src_port = v[3].dst_port = UINT16_MAX;
	v[3].time_ns = 4102444799999999999ull; /* 2099-12-31T23:59:59.999999999Z */
	ev_check_json(v, 4);
	e2e_log("  ok: escaped and empty names, unnamed protocol and reason, the longest object");
}

/* A ping from the client to the host: one 'new' at A's egress, towards the host identity. */
static void host_flow(struct ev_setup *s)
{
	size_t mark = log_all.n, n = 0;
	uint64_t since = ev_realtime_ns();
	struct ev_log view;
	struct ev_tuple tu;
	int r;

	e2e_log("phase: to-host");
	r = ev_ping(s->a, s->t.host_v4, 1);
	E2E_CHECK(r == 0, "ping from A to the host %s exited %d", s->t.host_v4, r);
	ev_pump(&s->t, 300, 3000);
	view = log_all;
	view.v += mark;
	view.n -= mark;
	for (size_t i = 0; i < view.n; i++) {
		const struct microseg_event *ev = &view.v[i];

		if (ev->proto != MICROSEG_PROTO_ICMP)
			continue;
		n++;
		ev_tuple_set(&tu, s->a->v4, ev->src_port, s->t.host_v4, ev->src_port,
			     MICROSEG_PROTO_ICMP);
		ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->a,
							 .direction = MICROSEG_DIR_EGRESS,
							 .src_identity = s->id_a,
							 .dst_identity = MICROSEG_IDENTITY_HOST,
							 .tuple = &tu, .bytes = 98, .icmp_type = 8,
							 .since_ns = since });
	}
	if (n != 1) {
		ev_dump(&view, "ping to the host");
		E2E_CHECK(false, "%zu ICMP events for one ping to the host, want 1", n);
	}
	e2e_log("  ok: one 'new' at A's egress towards identity %u (host)", MICROSEG_IDENTITY_HOST);
}

#define DENY_PORT 5353

static void deny_rule_drops(struct ev_setup *s)
{
	const char *sel[1] = { "k8s:app=server" }, *peer_l[1] = { "k8s:app=intruder" };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR };
	struct microseg_port port = { .proto = MICROSEG_PROTO_UDP, .port = DENY_PORT };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS,
					     .action = MICROSEG_ACTION_DENY, .peers = &peer,
					     .n_peers = 1, .ports = &port, .n_ports = 1 };
	struct microseg_rule *rule = NULL;
	const struct microseg_event *first = NULL;
	size_t mark, drops = 0, others = 0;
	struct ev_tuple tu;
	struct ev_log view;
	uint64_t since, d0, d1;
	char p[16], n[16];

	e2e_log("phase: deny-rule");
	peer.selector.match_labels = peer_l;
	peer.selector.n_match_labels = 1;
	{
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = "server-deny-intruder-udp",
			      .endpoints = { .match_labels = sel, .n_match_labels = 1 },
			      .sections = &sec, .n_sections = 1);

		E2E_OK(&s->t, microseg_rule_add(s->t.ctx, &spec, &rule));
	}
	ev_pump(&s->t, 200, 2000);
	mark = log_all.n;
	since = ev_realtime_ns();
	d0 = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY_DENY);
	snprintf(p, sizeof(p), "%d", DENY_PORT);
	snprintf(n, sizeof(n), "%d", K);
	/* K datagrams of 100 bytes from one socket: one flow. */
	e2e_peer(s->c->ns, NULL, 0, 15000, "udp-send", s->b->v4, p, n, "100", NULL);
	ev_pump(&s->t, 300, 5000);
	d1 = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY_DENY);
	view = log_all;
	view.v += mark;
	view.n -= mark;
	memset(&tu, 0, sizeof(tu));
	for (size_t i = 0; i < view.n; i++) {
		const struct microseg_event *ev = &view.v[i];

		if (ev->proto != MICROSEG_PROTO_UDP || ev->dst_port != DENY_PORT)
			continue;
		if (!first) {
			first = ev;
			ev_tuple_set(&tu, s->c->v4, ev->src_port, s->b->v4, DENY_PORT,
				     MICROSEG_PROTO_UDP);
		}
		if (ev->type != MICROSEG_EVENT_DROP) {
			others++;
			continue;
		}
		drops++;
		ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_DROP, .ep = s->b,
							 .direction = MICROSEG_DIR_INGRESS,
							 .drop_reason = MICROSEG_DROP_POLICY_DENY,
							 .rule_id = microseg_rule_id(rule),
							 .src_identity = s->id_c,
							 .dst_identity = s->id_b, .tuple = &tu,
							 .bytes = 14 + 20 + 8 + 100, .icmp_type = -1,
							 .since_ns = since });
	}
	if (drops != K || others != 1) {
		ev_dump(&view, "wrong events for the denied datagrams");
		E2E_CHECK(false, "%zu policy_deny drops and %zu other events for %d datagrams, want "
			  "%d and one 'new' at C's egress", drops, others, K, K);
	}
	E2E_CHECK(d1 - d0 == K, "B's policy_deny counter grew by %llu for %d datagrams",
		  (unsigned long long)(d1 - d0), K);
	ev_check_json(view.v, view.n);
	uint32_t rule_id = microseg_rule_id(rule); /* the handle dies with the removal */
	E2E_OK(&s->t, microseg_rule_remove(s->t.ctx, rule));
	e2e_log("  ok: %d drops with reason policy_deny and rule %u", K, rule_id);
}

static void reporting_off(struct ev_setup *s)
{
	struct microseg_event_stats a, b;
	struct microseg_status st;
	uint64_t d0, d1;
	size_t mark;
	int r;

	e2e_log("phase: reporting-off");
	E2E_CHECK(microseg_events_set_rate(s->t.ctx, 5, 0) == -EINVAL,
		  "a rate with a zero burst was accepted");
	E2E_OK(&s->t, microseg_events_set_rate(s->t.ctx, 0, 0));
	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	E2E_OK(&s->t, microseg_ctx_status(s->t.ctx, &st));
	E2E_CHECK(st.event_rate == 0 && st.event_burst == 0, "status says rate %u burst %u when off",
		  st.event_rate, st.event_burst);
	ev_pump(&s->t, 200, 2000);
	mark = log_all.n;
	get_stats(&s->t, &a);
	d0 = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	r = ev_ping(s->c, s->b->v4, 2);
	E2E_CHECK(r == 1, "ping from C exited %d, want 1", r);
	ev_pump(&s->t, 300, 3000);
	get_stats(&s->t, &b);
	d1 = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	E2E_CHECK(d1 - d0 == 2, "B's policy drops grew by %llu for 2 pings",
		  (unsigned long long)(d1 - d0));
	if (log_all.n != mark) {
		struct ev_log view = log_all;

		view.v += mark;
		view.n -= mark;
		ev_dump(&view, "events with reporting off");
		E2E_CHECK(false, "%zu events arrived with reporting off", view.n);
	}
	E2E_CHECK(a.emitted == b.emitted && a.rate_limited == b.rate_limited && a.lost == b.lost,
		  "with reporting off: emitted +%llu, rate limited +%llu, lost +%llu",
		  (unsigned long long)(b.emitted - a.emitted),
		  (unsigned long long)(b.rate_limited - a.rate_limited),
		  (unsigned long long)(b.lost - a.lost));

	E2E_OK(&s->t, microseg_events_set_rate(s->t.ctx, 1000, 2000));
	r = ev_ping(s->c, s->b->v4, 1);
	E2E_CHECK(r == 1, "ping from C exited %d, want 1", r);
	ev_pump(&s->t, 300, 3000);
	E2E_CHECK(log_all.n == mark + 2, "%zu events for one denied ping with reporting back on, "
		  "want 2 (new at C, drop at B)", log_all.n - mark);
	e2e_log("  ok: off: 2 drops counted, no event; on again: events");
}

int main(void)
{
	struct ev_setup s;
	struct microseg_event_stats st0, st1;
	struct microseg_status status;
	uint64_t drops0, drops1;
	size_t total_drops = 0;

	ev_setup(&s, "evapi");
	e2e_log("phase: subscribe");
	ev_subscribe(&s.t, &log_all, NULL);
	get_stats(&s.t, &st0);
	drops0 = pol_drops(&s.t, s.b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);

	{
		uint16_t lp = ev_next_port();

		http_flow(&s, POL_V4, lp, false);
		/* A new connection on the tuple of the closed one is a new connection: reported
		 * again, once. */
		http_flow(&s, POL_V4, lp, true);
	}
	http_flow(&s, POL_V6, ev_next_port(), false);
	syn_drops(&s);
	ping_drops(&s, POL_V4);
	ping_drops(&s, POL_V6);

	e2e_log("phase: accounting");
	for (size_t i = 0; i < log_all.n; i++)
		total_drops += log_all.v[i].type == MICROSEG_EVENT_DROP;
	if (total_drops != 3 * K)
		ev_dump(&log_all, "drops besides the test's");
	E2E_CHECK(total_drops == 3 * K, "%zu drop events, the test caused %d", total_drops, 3 * K);
	drops1 = pol_drops(&s.t, s.b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	E2E_CHECK(drops1 - drops0 == 3 * K, "B's ingress policy drop counter grew by %llu, %d drops "
		  "were reported", (unsigned long long)(drops1 - drops0), 3 * K);
	E2E_CHECK(!log_all.bad_sz, "an event arrived with a short sz");

	/* Everything the datapath wrote reached the callback, nothing was refused. An event
	 * written between the last read and the counters' read is picked up by one more try. */
	for (int attempt = 0;; attempt++) {
		ev_pump(&s.t, 200, 2000);
		get_stats(&s.t, &st1);
		if (st1.emitted - st0.emitted == st1.delivered - st0.delivered || attempt == 3)
			break;
	}
	e2e_log("event counters: emitted +%llu, delivered +%llu (callback calls %llu), filtered "
		"+%llu, rate limited +%llu, lost +%llu",
		(unsigned long long)(st1.emitted - st0.emitted),
		(unsigned long long)(st1.delivered - st0.delivered),
		(unsigned long long)log_all.calls, (unsigned long long)(st1.filtered - st0.filtered),
		(unsigned long long)(st1.rate_limited - st0.rate_limited),
		(unsigned long long)(st1.lost - st0.lost));
	E2E_CHECK(st1.delivered - st0.delivered == log_all.calls,
		  "delivered +%llu, the callback ran %llu times",
		  (unsigned long long)(st1.delivered - st0.delivered),
		  (unsigned long long)log_all.calls);
	E2E_CHECK(st1.emitted - st0.emitted == st1.delivered - st0.delivered,
		  "emitted +%llu, delivered +%llu",
		  (unsigned long long)(st1.emitted - st0.emitted),
		  (unsigned long long)(st1.delivered - st0.delivered));
	E2E_CHECK(st1.filtered == st0.filtered && st1.rate_limited == st0.rate_limited &&
			  st1.lost == st0.lost,
		  "events filtered, rate limited or lost without filter, flood or full ring");
	memset(&status, 0, sizeof(status));
	status.sz = sizeof(status);
	E2E_OK(&s.t, microseg_ctx_status(s.t.ctx, &status));
	E2E_CHECK(status.events_emitted == st1.emitted && status.events_lost == st1.lost &&
			  status.events_rate_limited == st1.rate_limited,
		  "status and event stats disagree: emitted %llu/%llu",
		  (unsigned long long)status.events_emitted, (unsigned long long)st1.emitted);

	e2e_log("phase: json");
	ev_check_json(log_all.v, log_all.n);
	e2e_log("  ok: %zu events rendered by microseg_event_to_json parse and carry every "
		"documented field", log_all.n);
	json_edges(&log_all.v[0]);

	host_flow(&s);
	deny_rule_drops(&s);
	reporting_off(&s);

	e2e_log("phase: unsubscribe");
	E2E_OK(&s.t, microseg_events_unsubscribe(s.t.ctx));
	E2E_CHECK(microseg_events_fd(s.t.ctx) == -ENOENT, "events fd after unsubscribe");
	E2E_CHECK(microseg_events_process(s.t.ctx, 0) == -ENOENT, "process after unsubscribe");
	E2E_CHECK(microseg_events_unsubscribe(s.t.ctx) == -ENOENT, "second unsubscribe");

	pol_finish(&s.t);
	return 0;
}
