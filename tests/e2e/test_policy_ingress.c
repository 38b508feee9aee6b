// SPDX-License-Identifier: Apache-2.0
/*
 * Ingress policy with real traffic, IPv4 and IPv6: a rule selecting app=backend allows ingress
 * from app=frontend on TCP 80 and nothing else. The frontend's own ingress is closed by a
 * second rule, so the HTTP answers it gets can only come back through connection tracking.
 * Every verdict seen on the wire is also asked of microseg_policy_explain(), and the
 * backend's policy drop counter must grow with the denied attempts.
 */
#include "test_policy.h"

#include <stdio.h>

static void matrix(struct e2e *t, const struct e2e_ep *fe, const struct e2e_ep *be,
		   const struct e2e_ep *ot, enum pol_fam fam, bool policy)
{
	/* The rule's own flow; its 200 also proves the reply passed the closed frontend. */
	pol_expect_tcp(t, fe, be, fam, 80, true);
	/* Another identity, another port of the allowed one, another protocol. */
	pol_expect_tcp(t, ot, be, fam, 80, !policy);
	pol_expect_tcp(t, fe, be, fam, 81, !policy);
	pol_expect_ping(t, ot, be, fam, !policy);
	/* Egress of the backend is not selected: it still reaches an open endpoint. */
	pol_expect_tcp(t, be, ot, fam, 80, true);
	/* The frontend's ingress is selected with nothing allowed. */
	pol_expect_tcp(t, be, fe, fam, 80, !policy);
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *fe, *be, *ot;
	struct microseg_rule *allow, *closed;
	static const uint16_t http[] = { 80 };

	e2e_init(&t, "polin");
	fe = pol_add_ep(&t, "frontend", "frontend", "prod", NULL, "80", NULL);
	be = pol_add_ep(&t, "backend", "backend", "prod", NULL, "80,81", NULL);
	ot = pol_add_ep(&t, "other", "other", "prod", NULL, "80", NULL);

	/* Everything the policy will deny works without it: a denial later is the policy's. */
	e2e_log("phase: baseline");
	for (int f = 0; f < 2; f++)
		matrix(&t, fe, be, ot, f ? POL_V6 : POL_V4, false);
	E2E_CHECK(pol_failures() == 0, "baseline traffic does not work: nothing to test");

	e2e_log("phase: policy");
	allow = pol_rule_app(&t, "backend-from-frontend-http", "backend", MICROSEG_DIR_INGRESS,
			     "frontend", MICROSEG_PROTO_TCP, http, 1);
	closed = pol_rule_closed(&t, "frontend-ingress-closed", "frontend",
				 MICROSEG_RULE_F_INGRESS);
	for (int f = 0; f < 2; f++) {
		enum pol_fam fam = f ? POL_V6 : POL_V4;
		uint64_t be0 = pol_drops(&t, be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
		uint64_t fe0 = pol_drops(&t, fe, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
		uint64_t be1, fe1;

		e2e_log("phase: policy-ipv%d", fam);
		matrix(&t, fe, be, ot, fam, true);
		be1 = pol_drops(&t, be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
		fe1 = pol_drops(&t, fe, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
		e2e_log("IPv%d: policy drops at ingress: backend %llu -> %llu, frontend %llu -> %llu",
			fam, (unsigned long long)be0, (unsigned long long)be1,
			(unsigned long long)fe0, (unsigned long long)fe1);
		/* Three denied attempts (tcp/80 from other, tcp/81, ping), each at least once. */
		if (be1 < be0 + 3)
			pol_mismatch("IPv%d: backend ingress MICROSEG_DROP_POLICY grew by %llu, want >= 3",
				     fam, (unsigned long long)(be1 - be0));
		if (fe1 < fe0 + 1)
			pol_mismatch("IPv%d: frontend ingress MICROSEG_DROP_POLICY grew by %llu, want >= 1",
				     fam, (unsigned long long)(fe1 - fe0));
	}

	/* Without the rules everything is open again. */
	e2e_log("phase: removed");
	E2E_OK(&t, microseg_rule_remove(t.ctx, allow));
	E2E_OK(&t, microseg_rule_remove(t.ctx, closed));
	pol_expect_tcp(&t, ot, be, POL_V4, 80, true);
	pol_expect_tcp(&t, be, fe, POL_V6, 80, true);

	pol_finish(&t);
	return 0;
}
