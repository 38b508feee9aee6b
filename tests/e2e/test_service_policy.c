// SPDX-License-Identifier: Apache-2.0
/*
 * Policy judges the translated connection: the backends' ingress allows only app=trusted on
 * the backend port (8080; the frontend's port is 80). Through the frontend, app=client gets
 * nothing (its SYNs are dropped at the backends' ingress and counted there) and app=trusted is
 * served by every backend, both at the socket level and per packet (clients started outside
 * the load balancer's cgroup). Without the rule app=client is served again.
 */
#include "test_policy.h"
#include "test_service.h"

#include <stdio.h>

#define ALLOWED 30
#define DENIED 2

static uint64_t backend_drops(struct svc_test *s, struct e2e_ep *const *b)
{
	uint64_t sum = 0;

	for (int i = 0; i < 3; i++)
		sum += pol_drops(&s->t, b[i], MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	return sum;
}

static void expect_served(const struct e2e_ep *cl, const char *vip, int n,
			  struct e2e_ep *const *b, const char *what)
{
	struct svc_tally tl;

	svc_http(cl, vip, SVC_HTTP_PORT, n, 0, &tl);
	svc_tally_log(what, &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == n, "%s: %d of %d answered (%s)", what,
		  tl.answered, n, tl.first_error);
	for (int i = 0; i < 3; i++)
		E2E_CHECK(svc_count(&tl, b[i]) > 0, "%s: %s served none", what, b[i]->name);
}

static void expect_refused(const struct e2e_ep *cl, const char *vip, const char *what)
{
	struct svc_tally tl;

	svc_http(cl, vip, SVC_HTTP_PORT, DENIED, 0, &tl);
	svc_tally_log(what, &tl);
	E2E_CHECK(tl.answered == 0 && tl.errors == DENIED, "%s: %d of %d answered", what,
		  tl.answered, DENIED);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl, *tr;
	struct microseg_service *svc;
	struct microseg_rule *rule;
	static const uint16_t backend_port[] = { SVC_BACKEND_PORT };
	char vip[48];
	uint64_t d0, d1;

	svc_init(&s, "svcpol");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "backend");
	cl = svc_add_client(&s, "client");
	tr = svc_add_client(&s, "trusted");
	svc_vip(&s, 0, false, vip, sizeof(vip));
	svc = svc_add_service(&s, "web", vip, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_RANDOM);
	for (int i = 0; i < 3; i++)
		svc_add_backend_to(&s, svc, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);

	/* Both are served without the rule: a refusal later is the policy's. */
	e2e_log("phase: baseline");
	expect_served(cl, vip, ALLOWED, b, "client, no rule");
	expect_served(tr, vip, ALLOWED, b, "trusted, no rule");

	e2e_log("phase: policy");
	rule = pol_rule_app(&s.t, "backend-from-trusted", "backend", MICROSEG_DIR_INGRESS,
			    "trusted", MICROSEG_PROTO_TCP, backend_port, 1);
	d0 = backend_drops(&s, b);
	expect_refused(cl, vip, "client, socket level");
	expect_served(tr, vip, ALLOWED, b, "trusted, socket level");
	svc_leave_cgroup(&s);
	expect_refused(cl, vip, "client, per packet");
	expect_served(tr, vip, ALLOWED, b, "trusted, per packet");
	svc_enter_cgroup(&s);
	d1 = backend_drops(&s, b);
	e2e_log("policy drops at the backends' ingress: %llu -> %llu", (unsigned long long)d0,
		(unsigned long long)d1);
	/* Each refused request is at least its SYN, dropped once. */
	E2E_CHECK(d1 >= d0 + 2 * DENIED, "backends' MICROSEG_DROP_POLICY grew by %llu, want >= %d",
		  (unsigned long long)(d1 - d0), 2 * DENIED);

	e2e_log("phase: removed");
	E2E_OK(&s.t, microseg_rule_remove(s.t.ctx, rule));
	expect_served(cl, vip, ALLOWED, b, "client, rule removed");

	e2e_finish(&s.t);
	return 0;
}
