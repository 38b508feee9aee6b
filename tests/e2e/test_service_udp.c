// SPDX-License-Identifier: Apache-2.0
/*
 * UDP through a frontend, IPv4 and IPv6, at the socket level: each query from a new socket,
 * unconnected (sendto/recvfrom: the answer's source must be the frontend address and port)
 * and connected (getpeername() must be the frontend); every backend answers some. TCP over an
 * IPv6 frontend as well.
 */
#include "test_service.h"

#include <stdio.h>

#define QUERIES 60
#define REQUESTS 60

static void check_tally(const char *what, const struct svc_tally *tl, int n,
			struct e2e_ep *const *b)
{
	svc_tally_log(what, tl);
	E2E_CHECK(tl->errors == 0 && tl->answered == n, "%s: %d of %d answered (%s)", what,
		  tl->answered, n, tl->first_error);
	E2E_CHECK(tl->mismatches == 0, "%s: %d answers did not come from the frontend", what,
		  tl->mismatches);
	/* Each share expects n/3 = 20: 4 is more than 4 standard deviations off. */
	for (int i = 0; i < 3; i++)
		E2E_CHECK(svc_count(tl, b[i]) >= 4, "%s: %s answered %d of %d", what, b[i]->name,
			  svc_count(tl, b[i]), n);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl;
	struct microseg_service *udp[2], *tcp6;
	struct svc_tally tl;
	char vip[2][48], what[96];

	svc_init(&s, "svcudp");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "dns");
	cl = svc_add_client(&s, "client");
	for (int f = 0; f < 2; f++) {
		svc_vip(&s, 0, f == 1, vip[f], sizeof(vip[f]));
		udp[f] = svc_add_service(&s, f ? "dns6" : "dns4", vip[f], SVC_UDP_PORT,
					 MICROSEG_PROTO_UDP, MICROSEG_LB_RANDOM);
		for (int i = 0; i < 3; i++)
			svc_add_backend_to(&s, udp[f], f ? b[i]->v6 : b[i]->v4, SVC_BACKEND_PORT,
					   MICROSEG_BACKEND_ACTIVE);
	}
	tcp6 = svc_add_service(&s, "web6", vip[1], SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			       MICROSEG_LB_RANDOM);
	for (int i = 0; i < 3; i++)
		svc_add_backend_to(&s, tcp6, b[i]->v6, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);

	for (int f = 0; f < 2; f++) {
		e2e_log("phase: udp-ipv%d", f ? 6 : 4);
		snprintf(what, sizeof(what), "IPv%d UDP, sendto/recvfrom", f ? 6 : 4);
		svc_udp(cl, vip[f], SVC_UDP_PORT, QUERIES, "sendto", &tl);
		check_tally(what, &tl, QUERIES, b);
		snprintf(what, sizeof(what), "IPv%d UDP, connected sockets", f ? 6 : 4);
		svc_udp(cl, vip[f], SVC_UDP_PORT, QUERIES, "connect", &tl);
		check_tally(what, &tl, QUERIES, b);
	}

	e2e_log("phase: tcp-ipv6");
	svc_http(cl, vip[1], SVC_HTTP_PORT, REQUESTS, 0, &tl);
	check_tally("IPv6 TCP", &tl, REQUESTS, b);

	e2e_finish(&s.t);
	return 0;
}
