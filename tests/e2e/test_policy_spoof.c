// SPDX-License-Identifier: Apache-2.0
/*
 * Anti-spoofing with real traffic. The backend takes TCP 80 from app=frontend only. The
 * 'other' endpoint puts the frontend's address on its own eth0 and connects from it: were the
 * source believed, it would get the frontend's identity and be let in. It must be dropped at
 * the other endpoint's egress and counted as MICROSEG_DROP_SPOOFED_SOURCE, over IPv4 and IPv6,
 * while the real frontend keeps working.
 */
#include "test_policy.h"

#include <stdio.h>

static void spoof(struct e2e *t, const struct e2e_ep *fe, const struct e2e_ep *be,
		  const struct e2e_ep *ot, enum pol_fam fam)
{
	char pfx[INET6_ADDRSTRLEN + 5];
	uint64_t s0, s1, b0, b1;

	snprintf(pfx, sizeof(pfx), "%s/%d", pol_addr(fe, fam), fam == POL_V6 ? 128 : 32);
	if (fam == POL_V6)
		e2e_run_ok(ot->ns, "ip", "-6", "addr", "add", pfx, "dev", "eth0", "nodad", NULL);
	else
		e2e_run_ok(ot->ns, "ip", "addr", "add", pfx, "dev", "eth0", NULL);
	e2e_log("%s now also holds %s", ot->name, pfx);

	s0 = pol_drops(t, ot, MICROSEG_DIR_EGRESS, MICROSEG_DROP_SPOOFED_SOURCE);
	b0 = pol_drops(t, be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	pol_expect_http_raw(ot, pol_addr(be, fam), 80, pol_addr(fe, fam), be->app, false);
	s1 = pol_drops(t, ot, MICROSEG_DIR_EGRESS, MICROSEG_DROP_SPOOFED_SOURCE);
	b1 = pol_drops(t, be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	e2e_log("IPv%d: other's egress spoofed-source drops %llu -> %llu; backend's ingress policy "
		"drops %llu -> %llu",
		fam, (unsigned long long)s0, (unsigned long long)s1, (unsigned long long)b0,
		(unsigned long long)b1);
	/* Believed, the SYNs would be let in and answered to the real frontend, so the attempt
	 * fails either way: the counter is what tells. */
	if (s1 <= s0)
		pol_mismatch("IPv%d: other's egress MICROSEG_DROP_SPOOFED_SOURCE did not grow", fam);
	/* Stopped at the source: the spoofed packets never reached the backend. */
	if (b1 != b0)
		pol_mismatch("IPv%d: spoofed packets reached the backend's policy (%llu drops)", fam,
			     (unsigned long long)(b1 - b0));
	/* The real frontend is not affected by another namespace holding its address. */
	pol_expect_tcp(t, fe, be, fam, 80, true);
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *fe, *be, *ot;
	static const uint16_t http[] = { 80 };

	e2e_init(&t, "polspoof");
	fe = pol_add_ep(&t, "frontend", "frontend", "prod", NULL, NULL, NULL);
	be = pol_add_ep(&t, "backend", "backend", "prod", NULL, "80", NULL);
	ot = pol_add_ep(&t, "other", "other", "prod", NULL, NULL, NULL);

	/* Before the policy the other endpoint reaches the backend from its own address. */
	pol_expect_tcp(&t, ot, be, POL_V4, 80, true);
	pol_rule_app(&t, "backend-from-frontend-http", "backend", MICROSEG_DIR_INGRESS, "frontend",
		     MICROSEG_PROTO_TCP, http, 1);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V6, 80, true);
	E2E_CHECK(pol_failures() == 0, "the allowed connection does not work: nothing to test");

	e2e_log("phase: spoof-ipv4");
	spoof(&t, fe, be, ot, POL_V4);
	e2e_log("phase: spoof-ipv6");
	spoof(&t, fe, be, ot, POL_V6);

	pol_finish(&t);
	return 0;
}
