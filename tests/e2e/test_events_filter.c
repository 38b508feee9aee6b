// SPDX-License-Identifier: Apache-2.0
/*
 * Subscription filters. The same traffic runs under each filter: one HTTP request from the
 * client (A) to the server (B), allowed by the rule, and three TCP SYNs from the intruder (C)
 * to B, dropped at B's ingress. That is eight known events: "new" at A's egress and at B's
 * ingress, "new" at C's egress and a drop at B's ingress for each SYN. Under each filter the
 * known events it matches (as events.h defines the filter) must arrive exactly once, the
 * others never, every event that arrives must match it, and the stats must count the rest as
 * filtered.
 */
#include "test_events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SYNS 3

/* One recorder for every subscription: each run replaces the previous subscription, which
 * must never call back into a recorder that is gone. */
static struct ev_log recorded = { .store = true };

struct known {
	uint32_t type, ep_id, dir, src_id, dst_id, verdict;
	struct ev_tuple tu;
};

/* What events.h says a filter lets through. */
static void known_set(struct known *k, uint32_t type, uint32_t ep_id, uint32_t dir,
		      uint32_t src_id, uint32_t dst_id, const char *src, uint16_t sport,
		      const char *dst)
{
	memset(k, 0, sizeof(*k));
	k->type = type;
	k->ep_id = ep_id;
	k->dir = dir;
	k->src_id = src_id;
	k->dst_id = dst_id;
	k->verdict = type == MICROSEG_EVENT_DROP ? MICROSEG_DROPPED : MICROSEG_FORWARDED;
	/* Every known flow goes to the server's HTTP port. */
	ev_tuple_set(&k->tu, src, sport, dst, EV_HTTP_PORT, MICROSEG_PROTO_TCP);
}

static bool filter_passes(const struct microseg_event_filter *f, uint32_t ep_id,
			  uint32_t src_id, uint32_t dst_id, uint32_t verdict)
{
	uint32_t bit = verdict == MICROSEG_DROPPED ? MICROSEG_EVENT_F_DROPPED : MICROSEG_EVENT_F_FORWARDED;

	return (!f->endpoint_id || f->endpoint_id == ep_id) &&
	       (!f->identity || f->identity == src_id || f->identity == dst_id) &&
	       (!f->verdicts || (f->verdicts & bit));
}

static void run_filter(struct ev_setup *s, const char *what, const struct microseg_event_filter *f)
{
	struct known k[2 + 2 * SYNS];
	struct microseg_event_stats st0, st1;
	uint32_t ep_a = microseg_endpoint_id(s->a->ep), ep_b = microseg_endpoint_id(s->b->ep),
		 ep_c = microseg_endpoint_id(s->c->ep);
	uint16_t lp = ev_next_port(), sport0 = ev_next_port();
	size_t nk = 0, want_pass = 0, want_filtered = 0;

	for (int i = 1; i < SYNS; i++)
		ev_next_port();
	e2e_log("phase: filter %s (endpoint %u, identity %u, verdicts %#x)", what, f->endpoint_id,
		f->identity, f->verdicts);
	ev_subscribe(&s->t, &recorded, f);
	memset(&st0, 0, sizeof(st0));
	st0.sz = sizeof(st0);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &st0));

	/* The known events of the traffic below. */
	known_set(&k[nk++], MICROSEG_EVENT_FLOW_NEW, ep_a, MICROSEG_DIR_EGRESS, s->id_a, s->id_b,
		  s->a->v4, lp, s->b->v4);
	known_set(&k[nk++], MICROSEG_EVENT_FLOW_NEW, ep_b, MICROSEG_DIR_INGRESS, s->id_a, s->id_b,
		  s->a->v4, lp, s->b->v4);
	for (int i = 0; i < SYNS; i++) {
		known_set(&k[nk++], MICROSEG_EVENT_FLOW_NEW, ep_c, MICROSEG_DIR_EGRESS, s->id_c,
			  s->id_b, s->c->v4, (uint16_t)(sport0 + i), s->b->v4);
		known_set(&k[nk++], MICROSEG_EVENT_DROP, ep_b, MICROSEG_DIR_INGRESS, s->id_c, s->id_b,
			  s->c->v4, (uint16_t)(sport0 + i), s->b->v4);
	}

	ev_http_ok(s->a, s->b->v4, EV_HTTP_PORT, lp, "server");
	ev_raw_syns(s->c, s->b->v4, EV_HTTP_PORT, SYNS, sport0);
	ev_pump(&s->t, 300, 5000);
	memset(&st1, 0, sizeof(st1));
	st1.sz = sizeof(st1);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &st1));

	/* Nothing that does not match the filter reaches the callback. */
	for (size_t i = 0; i < recorded.n; i++) {
		const struct microseg_event *ev = &recorded.v[i];
		char b[512];

		E2E_CHECK(filter_passes(f, ev->endpoint_id, ev->src_identity, ev->dst_identity,
					ev->verdict),
			  "filter %s let through: %s", what, ev_str(ev, b, sizeof(b)));
	}
	/* What matches arrives, once; what does not, never. */
	for (size_t i = 0; i < nk; i++) {
		bool pass = filter_passes(f, k[i].ep_id, k[i].src_id, k[i].dst_id, k[i].verdict);
		const struct microseg_event *ev = ev_find(&recorded, k[i].type, k[i].ep_id, k[i].dir,
							  &k[i].tu);

		if (!!ev != pass) {
			ev_dump(&recorded, "a known event is missing or got through");
			E2E_CHECK(false, "filter %s: %s event at endpoint %u for %s:%u -> %s:%u %s",
				  what, k[i].type == MICROSEG_EVENT_DROP ? "drop" : "new",
				  k[i].ep_id, k[i].tu.src, k[i].tu.sport, k[i].tu.dst, k[i].tu.dport,
				  pass ? "did not arrive" : "arrived");
		}
		want_pass += pass;
		want_filtered += !pass;
	}
	E2E_CHECK(st1.delivered - st0.delivered == recorded.calls,
		  "delivered +%llu, callback calls %llu",
		  (unsigned long long)(st1.delivered - st0.delivered), (unsigned long long)recorded.calls);
	E2E_CHECK(st1.filtered - st0.filtered >= want_filtered,
		  "filtered +%llu, but %zu known events did not match",
		  (unsigned long long)(st1.filtered - st0.filtered), want_filtered);
	e2e_log("  ok: %zu of the %zu known events arrived, %zu filtered out (filtered +%llu, "
		"delivered +%llu)", want_pass, nk, want_filtered,
		(unsigned long long)(st1.filtered - st0.filtered),
		(unsigned long long)(st1.delivered - st0.delivered));
}

int main(void)
{
	struct ev_setup s;

	ev_setup(&s, "evflt");
	{
		MICROSEG_OPTS(microseg_event_filter, f, .verdicts = MICROSEG_EVENT_F_DROPPED);
		run_filter(&s, "dropped", &f);
	}
	{
		MICROSEG_OPTS(microseg_event_filter, f, .verdicts = MICROSEG_EVENT_F_FORWARDED);
		run_filter(&s, "forwarded", &f);
	}
	{
		MICROSEG_OPTS(microseg_event_filter, f,
			      .verdicts = MICROSEG_EVENT_F_FORWARDED | MICROSEG_EVENT_F_DROPPED);
		run_filter(&s, "both-verdicts", &f);
	}
	{
		MICROSEG_OPTS(microseg_event_filter, f, .endpoint_id = microseg_endpoint_id(s.a->ep));
		run_filter(&s, "endpoint-client", &f);
	}
	{
		MICROSEG_OPTS(microseg_event_filter, f, .identity = s.id_c);
		run_filter(&s, "identity-intruder", &f);
	}
	{
		MICROSEG_OPTS(microseg_event_filter, f, .endpoint_id = microseg_endpoint_id(s.b->ep),
			      .verdicts = MICROSEG_EVENT_F_FORWARDED);
		run_filter(&s, "server-forwarded", &f);
	}
	{
		/* An identity nobody has: nothing at all. */
		MICROSEG_OPTS(microseg_event_filter, f, .identity = 0xfffff0u);
		run_filter(&s, "identity-unused", &f);
	}
	{
		/* A filter struct from a newer header with a non-zero unknown tail is refused. */
		struct {
			struct microseg_event_filter f;
			uint64_t tail;
		} big = { .f = { .sz = sizeof(big) }, .tail = 1 };
		struct ev_log l = { 0 };

		E2E_CHECK(microseg_events_subscribe(s.t.ctx, &big.f, ev_record, &l) == -EINVAL,
			  "a filter with an unknown non-zero tail was accepted");
	}
	E2E_OK(&s.t, microseg_events_unsubscribe(s.t.ctx));
	pol_finish(&s.t);
	return 0;
}
