// SPDX-License-Identifier: Apache-2.0
/*
 * A service with no usable backend refuses at once.
 *  - socket level (client in the load balancer's cgroup): connect() to a service without
 *    backends fails with ECONNREFUSED in well under a second (measured, the slowest of 5),
 *    and so does sendto() to a UDP one; the same for a service whose only backend is in
 *    MAINTENANCE. Set ACTIVE, the backend answers; back in MAINTENANCE, refused again.
 *  - per packet (client started outside the cgroup): the SYN is counted at the client's
 *    egress as MICROSEG_DROP_NO_BACKEND and answered with a RST, so connect() fails with
 *    ECONNREFUSED at once too; a datagram gets an ICMP port unreachable, which a connected
 *    UDP socket reports as ECONNREFUSED.
 */
#include "test_policy.h"
#include "test_service.h"

#include <stdio.h>
#include <string.h>

#define TRIES 5
#define REFUSE_MS 250.0

static void expect_refused(const struct e2e_ep *cl, const char *vip, int port, bool udp,
			   const char *what)
{
	double worst = 0;
	char word[32];

	for (int i = 0; i < TRIES; i++) {
		double ms = udp ? svc_udp_send(cl, vip, port, word, sizeof(word))
				: svc_connect(cl, vip, port, 3.0, word, sizeof(word));

		E2E_CHECK(!strcmp(word, "ECONNREFUSED"), "%s: %s to %s:%d gave %s after %.1f ms",
			  what, udp ? "sendto" : "connect", vip, port, word, ms);
		worst = ms > worst ? ms : worst;
	}
	e2e_log("%s: %s refused with ECONNREFUSED %d times, slowest %.2f ms", what,
		udp ? "sendto" : "connect", TRIES, worst);
	E2E_CHECK(worst < REFUSE_MS, "%s: refusal took %.1f ms, want < %.0f", what, worst,
		  REFUSE_MS);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b, *cl;
	struct microseg_service *empty, *empty_udp, *maint;
	struct microseg_service_info info = { .sz = sizeof(info) };
	struct svc_tally tl;
	char vip0[48], vip1[48], word[32];
	uint64_t drops0, drops1;
	double ms;

	svc_init(&s, "svcref");
	b = svc_add_backend(&s, "backend");
	cl = svc_add_client(&s, "client");
	svc_vip(&s, 0, false, vip0, sizeof(vip0));
	svc_vip(&s, 1, false, vip1, sizeof(vip1));
	empty = svc_add_service(&s, "empty", vip0, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
				MICROSEG_LB_RANDOM);
	empty_udp = svc_add_service(&s, "empty-udp", vip0, SVC_UDP_PORT, MICROSEG_PROTO_UDP,
				    MICROSEG_LB_RANDOM);
	maint = svc_add_service(&s, "maintenance", vip1, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
				MICROSEG_LB_MAGLEV);
	svc_add_backend_to(&s, maint, b->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_MAINTENANCE);
	E2E_OK(&s.t, microseg_service_get_info(s.t.ctx, maint, &info));
	E2E_CHECK(info.n_backends == 1 && info.n_active == 0, "info: %u backends, %u active",
		  info.n_backends, info.n_active);
	(void)empty;
	(void)empty_udp;

	e2e_log("phase: no-backend");
	expect_refused(cl, vip0, SVC_HTTP_PORT, false, "no backend");
	expect_refused(cl, vip0, SVC_UDP_PORT, true, "no backend (UDP)");

	e2e_log("phase: maintenance");
	expect_refused(cl, vip1, SVC_HTTP_PORT, false, "only backend in maintenance");

	/* The refusal was the backend's state: active, it answers. */
	e2e_log("phase: active");
	E2E_OK(&s.t, microseg_service_backend_set_state(s.t.ctx, maint, b->v4, SVC_BACKEND_PORT,
							MICROSEG_BACKEND_ACTIVE));
	svc_http(cl, vip1, SVC_HTTP_PORT, 5, 0, &tl);
	svc_tally_log("backend active again", &tl);
	E2E_CHECK(tl.errors == 0 && svc_count(&tl, b) == 5, "%d of 5 reached %s (%s)",
		  svc_count(&tl, b), b->name, tl.first_error);
	E2E_OK(&s.t, microseg_service_backend_set_state(s.t.ctx, maint, b->v4, SVC_BACKEND_PORT,
							MICROSEG_BACKEND_MAINTENANCE));
	expect_refused(cl, vip1, SVC_HTTP_PORT, false, "back in maintenance");

	/* Outside the cgroup only the endpoint program sees the connection. */
	e2e_log("phase: per-packet");
	drops0 = pol_drops(&s.t, cl, MICROSEG_DIR_EGRESS, MICROSEG_DROP_NO_BACKEND);
	svc_leave_cgroup(&s);
	ms = svc_connect(cl, vip0, SVC_HTTP_PORT, 1.5, word, sizeof(word));
	char uword[32];
	double ums = svc_udp_connected(cl, vip0, SVC_UDP_PORT, uword, sizeof(uword));
	svc_enter_cgroup(&s);
	drops1 = pol_drops(&s.t, cl, MICROSEG_DIR_EGRESS, MICROSEG_DROP_NO_BACKEND);
	e2e_log("per packet: connect gave %s after %.0f ms; no_backend drops at the client's "
		"egress %llu -> %llu", word, ms, (unsigned long long)drops0,
		(unsigned long long)drops1);
	/* The endpoint program answers the SYN with a RST: refused at once here too. */
	E2E_CHECK(!strcmp(word, "ECONNREFUSED") && ms < 250, "per-packet connect to an empty service gave %s after %.0f ms",
		  word, ms);
	E2E_CHECK(drops1 > drops0, "no MICROSEG_DROP_NO_BACKEND counted at the client's egress");
	e2e_log("per packet, UDP: a connected socket gave %s after %.0f ms", uword, ums);
	E2E_CHECK(!strcmp(uword, "ECONNREFUSED") && ums < 250,
		  "per-packet UDP to an empty service gave %s after %.0f ms (want the port unreachable)", uword, ums);

	e2e_finish(&s.t);
	return 0;
}
