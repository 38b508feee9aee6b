// SPDX-License-Identifier: Apache-2.0
/*
 * The per-packet path: the client processes are started outside the load balancer's cgroup,
 * so only the client endpoint's TC programs can translate (DNAT on the way out, the frontend
 * put back as the source of replies). Checked:
 *  - 300 HTTP requests reach all three backends (>= 20% each); TCP works at all only if the
 *    replies carry the frontend address; the service events all come from the packet hook;
 *  - UDP answers show the frontend as their source (recvfrom);
 *  - Maglev: one client tuple (a fixed source port) always gets the same backend;
 *  - draining: a stream keeps its TERMINATING backend to the last byte, new connections
 *    avoid it.
 */
#include "test_service.h"

#include <string.h>

#define REQUESTS 300
#define SAME_TUPLE 20
#define QUERIES 60
#define STREAM_S 5.0
#define SPORT 41234

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl, *x = NULL;
	struct microseg_service *web, *sink, *mag, *udp;
	struct svc_events ev;
	struct svc_tally tl;
	struct svc_stream st;
	char vip0[48], vip1[48];
	uint64_t sent, received;

	svc_init(&s, "svcpkt");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "backend");
	cl = svc_add_client(&s, "client");
	svc_vip(&s, 0, false, vip0, sizeof(vip0));
	svc_vip(&s, 1, false, vip1, sizeof(vip1));
	web = svc_add_service(&s, "web", vip0, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_RANDOM);
	sink = svc_add_service(&s, "sink", vip0, SVC_SINK_VIP_PORT, MICROSEG_PROTO_TCP,
			       MICROSEG_LB_RANDOM);
	udp = svc_add_service(&s, "dns", vip0, SVC_UDP_PORT, MICROSEG_PROTO_UDP,
			      MICROSEG_LB_RANDOM);
	mag = svc_add_service(&s, "web-maglev", vip1, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_MAGLEV);
	for (int i = 0; i < 3; i++) {
		svc_add_backend_to(&s, web, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, sink, b[i]->v4, SVC_SINK_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, udp, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, mag, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
	}
	svc_leave_cgroup(&s);

	e2e_log("phase: tcp");
	svc_events_begin(&s, &ev, web);
	svc_http(cl, vip0, SVC_HTTP_PORT, REQUESTS, 0, &tl);
	svc_tally_log("per packet, 300 requests", &tl);
	svc_events_end(&s, &ev);
	E2E_CHECK(tl.errors == 0 && tl.answered == REQUESTS, "%d of %d answered (%s)",
		  tl.answered, REQUESTS, tl.first_error);
	for (int i = 0; i < 3; i++)
		E2E_CHECK(svc_count(&tl, b[i]) >= REQUESTS / 5, "%s served %d of %d", b[i]->name,
			  svc_count(&tl, b[i]), REQUESTS);
	E2E_CHECK(ev.packet == REQUESTS && ev.socket == 0 && ev.refused == 0,
		  "service events: per packet %llu, socket %llu, refused %llu; want %d per packet",
		  (unsigned long long)ev.packet, (unsigned long long)ev.socket,
		  (unsigned long long)ev.refused, REQUESTS);

	e2e_log("phase: udp");
	svc_udp(cl, vip0, SVC_UDP_PORT, QUERIES, "sendto", &tl);
	svc_tally_log("per packet, UDP", &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == QUERIES, "%d of %d answered (%s)", tl.answered,
		  QUERIES, tl.first_error);
	E2E_CHECK(tl.mismatches == 0, "%d UDP answers did not come from %s", tl.mismatches, vip0);
	E2E_CHECK(tl.n == 3, "%d backends answered UDP", tl.n);

	e2e_log("phase: maglev-tuple");
	svc_http(cl, vip1, SVC_HTTP_PORT, SAME_TUPLE, SPORT, &tl);
	svc_tally_log("maglev, one source port", &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == SAME_TUPLE, "%d of %d answered (%s)",
		  tl.answered, SAME_TUPLE, tl.first_error);
	E2E_CHECK(tl.n == 1, "one client tuple reached %d backends, want 1", tl.n);
	for (int i = 0; i < 3; i++)
		if (svc_count(&tl, b[i]))
			x = b[i];
	svc_http(cl, vip1, SVC_HTTP_PORT, 60, 0, &tl);
	svc_tally_log("maglev, new source ports", &tl);
	E2E_CHECK(tl.errors == 0 && tl.n == 3, "%d answered by %d backends (%s)", tl.answered,
		  tl.n, tl.first_error);

	/* The same client port, straight to that backend this time: nothing is translated, and
	 * the answers must not be made to look as if they came from the frontend. */
	e2e_log("phase: direct-after-translation");
	{
		struct e2e_ep *other = b[0] == x ? b[1] : b[0];

		/* A backend that port never reached through the frontend, for contrast. */
		svc_http(cl, other->v4, SVC_BACKEND_PORT, 3, SPORT, &tl);
		svc_tally_log("direct to another backend from that port", &tl);
		E2E_CHECK(tl.errors == 0 && svc_count(&tl, other) == 3, "%d of 3 answered (%s)",
			  tl.answered, tl.first_error);
	}
	svc_http(cl, x->v4, SVC_BACKEND_PORT, 3, SPORT, &tl);
	svc_tally_log("direct to the backend from the translated connections' port", &tl);
	E2E_CHECK(tl.errors == 0 && svc_count(&tl, x) == 3,
		  "%d of 3 direct requests from port %d answered (%s): the replies were taken for "
		  "replies of the earlier translated connections", tl.answered, SPORT,
		  tl.first_error);
	x = NULL;

	e2e_log("phase: drain");
	svc_stream_start(&st, cl, vip0, SVC_SINK_VIP_PORT, STREAM_S);
	for (int i = 0; i < 3; i++)
		if (!strcmp(b[i]->name, st.backend))
			x = b[i];
	E2E_CHECK(x, "the stream went to '%s', not a backend", st.backend);
	e2e_log("stream runs to %s; setting it TERMINATING", x->name);
	E2E_OK(&s.t, microseg_service_backend_set_state(s.t.ctx, web, x->v4, SVC_BACKEND_PORT,
							MICROSEG_BACKEND_TERMINATING));
	E2E_OK(&s.t, microseg_service_backend_set_state(s.t.ctx, sink, x->v4, SVC_SINK_PORT,
							MICROSEG_BACKEND_TERMINATING));
	svc_http(cl, vip0, SVC_HTTP_PORT, 60, 0, &tl);
	svc_tally_log("per packet, X terminating", &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == 60, "%d of 60 answered (%s)", tl.answered,
		  tl.first_error);
	E2E_CHECK(svc_count(&tl, x) == 0, "the terminating backend got %d new connections",
		  svc_count(&tl, x));
	svc_stream_finish(&st, &sent, &received);
	e2e_log("stream to %s: %llu bytes sent, %llu received", st.backend,
		(unsigned long long)sent, (unsigned long long)received);
	E2E_CHECK(sent > 0 && received == sent, "stream: sent %llu, the sink counted %llu",
		  (unsigned long long)sent, (unsigned long long)received);

	svc_enter_cgroup(&s);
	e2e_finish(&s.t);
	return 0;
}
