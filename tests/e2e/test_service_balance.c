// SPDX-License-Identifier: Apache-2.0
/*
 * The death star: three backend endpoints (app=deathstar) each serving HTTP that names its
 * replica, one client endpoint in the load balancer's cgroup, and a frontend address nobody
 * owns (10.96.X.10:80). 300 requests, each a new connection, must reach every replica at
 * least 20% of the time, with weighted random and with Maglev (a new connection is a new
 * socket, so Maglev spreads them too), and the client's socket must show the frontend as its
 * peer. The service events say the socket hook made every translation. Maglev also keeps one
 * UDP socket on one backend while datagrams from new sockets spread.
 */
#include "test_service.h"

#include <stdio.h>

#define REQUESTS 300
#define MIN_SHARE (REQUESTS / 5)
#define UDP_ONE 20
#define UDP_MANY 90

static void spread(struct svc_test *s, const char *what, struct microseg_service *svc,
		   const struct e2e_ep *cl, const char *vip, struct e2e_ep *const *b)
{
	struct svc_events ev;
	struct svc_tally tl;
	char label[96];

	e2e_log("phase: %s", what);
	svc_events_begin(s, &ev, svc);
	svc_http(cl, vip, SVC_HTTP_PORT, REQUESTS, 0, &tl);
	snprintf(label, sizeof(label), "%s: %d requests to %s:%d", what, REQUESTS, vip,
		 SVC_HTTP_PORT);
	svc_tally_log(label, &tl);
	svc_events_end(s, &ev);
	E2E_CHECK(tl.errors == 0 && tl.answered == REQUESTS, "%d of %d answered (%s)",
		  tl.answered, REQUESTS, tl.first_error);
	E2E_CHECK(tl.mismatches == 0, "%d connections had a peer other than %s", tl.mismatches,
		  vip);
	E2E_CHECK(tl.n == 3, "%d backends answered, want the 3 replicas", tl.n);
	for (int i = 0; i < 3; i++)
		E2E_CHECK(svc_count(&tl, b[i]) >= MIN_SHARE, "%s served %d of %d, want >= %d",
			  b[i]->name, svc_count(&tl, b[i]), REQUESTS, MIN_SHARE);
	E2E_CHECK(ev.socket == REQUESTS && ev.packet == 0 && ev.refused == 0,
		  "service events: socket %llu, per packet %llu, refused %llu; want %d at the "
		  "socket hook only", (unsigned long long)ev.socket,
		  (unsigned long long)ev.packet, (unsigned long long)ev.refused, REQUESTS);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl;
	struct microseg_service *rnd, *mag, *udp;
	struct svc_tally tl;
	char vip_r[48], vip_m[48], vip_u[48];

	svc_init(&s, "svcbal");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "deathstar");
	cl = svc_add_client(&s, "tiefighter");

	/* Each replica answers directly: a failure later is the load balancer's. */
	e2e_log("phase: baseline");
	for (int i = 0; i < 3; i++) {
		svc_http(cl, b[i]->v4, SVC_BACKEND_PORT, 1, 0, &tl);
		E2E_CHECK(svc_count(&tl, b[i]) == 1, "%s does not answer directly", b[i]->name);
	}

	svc_vip(&s, 0, false, vip_r, sizeof(vip_r));
	svc_vip(&s, 1, false, vip_m, sizeof(vip_m));
	svc_vip(&s, 2, false, vip_u, sizeof(vip_u));
	rnd = svc_add_service(&s, "deathstar", vip_r, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_RANDOM);
	mag = svc_add_service(&s, "deathstar-maglev", vip_m, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_MAGLEV);
	udp = svc_add_service(&s, "deathstar-udp", vip_u, SVC_UDP_PORT, MICROSEG_PROTO_UDP,
			      MICROSEG_LB_MAGLEV);
	for (int i = 0; i < 3; i++) {
		svc_add_backend_to(&s, rnd, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, mag, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, udp, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
	}

	spread(&s, "random", rnd, cl, vip_r, b);
	spread(&s, "maglev", mag, cl, vip_m, b);

	/* Maglev at the socket hooks hashes the socket: one socket, one backend. */
	e2e_log("phase: maglev-udp");
	svc_udp_one_socket(cl, vip_u, SVC_UDP_PORT, UDP_ONE, &tl);
	svc_tally_log("maglev, one UDP socket", &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == UDP_ONE && tl.mismatches == 0,
		  "%d of %d answered, %d not from the frontend (%s)", tl.answered, UDP_ONE,
		  tl.mismatches, tl.first_error);
	E2E_CHECK(tl.n == 1, "one socket's datagrams went to %d backends, want 1", tl.n);
	svc_udp(cl, vip_u, SVC_UDP_PORT, UDP_MANY, "sendto", &tl);
	svc_tally_log("maglev, a new UDP socket per datagram", &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == UDP_MANY && tl.mismatches == 0,
		  "%d of %d answered, %d not from the frontend (%s)", tl.answered, UDP_MANY,
		  tl.mismatches, tl.first_error);
	/* Each share's expectation is 30 of 90: 10 is more than 4 standard deviations off. */
	for (int i = 0; i < 3; i++)
		E2E_CHECK(svc_count(&tl, b[i]) >= 10, "%s answered %d of %d sockets", b[i]->name,
			  svc_count(&tl, b[i]), UDP_MANY);

	e2e_finish(&s.t);
	return 0;
}
