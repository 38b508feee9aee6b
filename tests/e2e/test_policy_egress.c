// SPDX-License-Identifier: Apache-2.0
/*
 * Egress policy with real traffic. Once a rule selects the frontend's egress, the frontend may
 * only send what some rule allows: first UDP 53 to app=dns, then also TCP 80 to app=backend,
 * then addresses outside the endpoints by CIDR (198.18.0.0/16 except one /32).
 *
 * "Outside" is a plain network namespace (not an endpoint) with two addresses in 198.18.<X>.0/24
 * (the benchmark range, X the run's subnet byte), joined to the host by its own veth and a
 * host route. The host routes between the frontend's veth and that veth; forwarding is turned
 * on for those two interfaces only (both made by this test), never machine-wide.
 * Every verdict seen on the wire is also asked of microseg_policy_explain().
 */
#include "test_policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct outside {
	const char *ns;
	char host_if[16];
	char ok_addr[32];  /* allowed by the CIDR rule */
	char bad_addr[32]; /* the rule's except */
};

static void set_forwarding(const char *ifname)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	f = fopen(path, "we");
	E2E_CHECK(f && fputs("1\n", f) >= 0 && fclose(f) == 0, "enable forwarding on %s: %s",
		  ifname, strerror(errno));
}

static void make_outside(struct e2e *t, struct outside *o, const struct e2e_ep *via)
{
	char gw[32], gw_pfx[40], ok_pfx[40], bad_pfx[40], route[40];
	const char *peer;

	o->ns = topo_netns_add("x");
	E2E_CHECK(o->ns, "netns x: %s", strerror(errno));
	snprintf(o->host_if, sizeof(o->host_if), "%s", topo_ifname());
	peer = topo_ifname();
	E2E_CHECK(o->host_if[0] && peer, "topo_ifname");
	snprintf(o->ok_addr, sizeof(o->ok_addr), "198.18.%d.1", t->subnet);
	snprintf(o->bad_addr, sizeof(o->bad_addr), "198.18.%d.2", t->subnet);
	snprintf(ok_pfx, sizeof(ok_pfx), "%s/32", o->ok_addr);
	snprintf(bad_pfx, sizeof(bad_pfx), "%s/32", o->bad_addr);
	/* The host end's own address, the outside's gateway back. */
	snprintf(gw, sizeof(gw), "10.200.%d.253", t->subnet);
	snprintf(gw_pfx, sizeof(gw_pfx), "%s/32", gw);
	snprintf(route, sizeof(route), "198.18.%d.0/24", t->subnet);

	e2e_run_ok(NULL, "ip", "link", "add", o->host_if, "type", "veth", "peer", "name", peer,
		   NULL);
	e2e_run_ok(NULL, "ip", "link", "set", peer, "netns", o->ns, NULL);
	e2e_run_ok(o->ns, "ip", "addr", "add", ok_pfx, "dev", peer, NULL);
	e2e_run_ok(o->ns, "ip", "addr", "add", bad_pfx, "dev", peer, NULL);
	e2e_run_ok(o->ns, "ip", "link", "set", peer, "up", NULL);
	e2e_run_ok(NULL, "ip", "addr", "add", gw_pfx, "dev", o->host_if, NULL);
	e2e_run_ok(NULL, "ip", "link", "set", o->host_if, "up", NULL);
	e2e_run_ok(o->ns, "ip", "route", "add", gw_pfx, "dev", peer, NULL);
	e2e_run_ok(o->ns, "ip", "route", "add", "default", "via", gw, "dev", peer, NULL);
	/* Goes away with the link at teardown. */
	e2e_run_ok(NULL, "ip", "route", "add", route, "dev", o->host_if, NULL);
	set_forwarding(o->host_if);
	set_forwarding(via->host_if);
	pol_serve(o->ns, "outside", "80", NULL);
	e2e_log("outside: namespace %s, %s and %s behind %s (route %s)", o->ns, o->ok_addr,
		o->bad_addr, o->host_if, route);
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *fe, *be, *dns, *ot;
	struct outside out;
	static const uint16_t dns_port[] = { 53 }, http[] = { 80 };
	uint64_t d0, d1;

	e2e_init(&t, "poleg");
	fe = pol_add_ep(&t, "frontend", "frontend", "prod", NULL, NULL, NULL);
	be = pol_add_ep(&t, "backend", "backend", "prod", NULL, "80", NULL);
	dns = pol_add_ep(&t, "dns", "dns", "prod", NULL, NULL, "53,5353");
	ot = pol_add_ep(&t, "other", "other", "prod", NULL, "80", NULL);
	make_outside(&t, &out, fe);

	e2e_log("phase: baseline");
	pol_expect_udp(&t, fe, dns, POL_V4, 53, true);
	pol_expect_udp(&t, fe, dns, POL_V4, 5353, true);
	pol_expect_tcp(&t, fe, ot, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp_addr(&t, fe, out.ok_addr, "outside", 80, true);
	pol_expect_tcp_addr(&t, fe, out.bad_addr, "outside", 80, true);
	E2E_CHECK(pol_failures() == 0, "baseline traffic does not work: nothing to test");

	/* Selected for egress: only DNS to the dns endpoint. */
	e2e_log("phase: dns-only");
	pol_rule_app(&t, "frontend-to-dns", "frontend", MICROSEG_DIR_EGRESS, "dns",
		     MICROSEG_PROTO_UDP, dns_port, 1);
	d0 = pol_drops(&t, fe, MICROSEG_DIR_EGRESS, MICROSEG_DROP_POLICY);
	pol_expect_udp(&t, fe, dns, POL_V4, 53, true);
	pol_expect_udp(&t, fe, dns, POL_V6, 53, true);
	/* The frontend's first IPv6 packets since it was selected: the gateway's neighbour
	 * discovery (solicitations from the container's own global address) must pass. */
	pol_check_gateway_neigh(fe);
	pol_expect_udp(&t, fe, dns, POL_V4, 5353, false);
	pol_expect_tcp(&t, fe, ot, POL_V4, 80, false);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, false);
	/* Others' egress is not selected. */
	pol_expect_tcp(&t, be, ot, POL_V4, 80, true);
	d1 = pol_drops(&t, fe, MICROSEG_DIR_EGRESS, MICROSEG_DROP_POLICY);
	e2e_log("frontend egress policy drops: %llu -> %llu", (unsigned long long)d0,
		(unsigned long long)d1);
	if (d1 < d0 + 3)
		pol_mismatch("frontend egress MICROSEG_DROP_POLICY grew by %llu, want >= 3",
			     (unsigned long long)(d1 - d0));

	/* Allowing the backend too: the union of the rules. */
	e2e_log("phase: dns-and-backend");
	pol_rule_app(&t, "frontend-to-backend-http", "frontend", MICROSEG_DIR_EGRESS, "backend",
		     MICROSEG_PROTO_TCP, http, 1);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V6, 80, true);
	pol_expect_udp(&t, fe, dns, POL_V4, 53, true);
	pol_expect_tcp(&t, fe, ot, POL_V4, 80, false);
	/* The world is denied as well, until a CIDR rule allows part of it. */
	pol_expect_tcp_addr(&t, fe, out.ok_addr, "outside", 80, false);

	e2e_log("phase: cidr");
	{
		char cidr[] = "198.18.0.0/16", except[40];
		const char *excepts[1] = { except };
		const char *sel[1] = { "k8s:app=frontend" };
		struct microseg_peer peer = { .kind = MICROSEG_PEER_CIDR, .cidr = cidr,
					      .except = excepts, .n_except = 1 };
		struct microseg_rule_section sec = { .direction = MICROSEG_DIR_EGRESS,
						     .action = MICROSEG_ACTION_ALLOW,
						     .peers = &peer, .n_peers = 1 };
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = "frontend-to-benchmark-net",
			      .endpoints = { .match_labels = sel, .n_match_labels = 1 },
			      .sections = &sec, .n_sections = 1);
		struct microseg_rule *r = NULL;

		snprintf(except, sizeof(except), "%s/32", out.bad_addr);
		E2E_OK(&t, microseg_rule_add(t.ctx, &spec, &r));
		e2e_log("rule %u: frontend egress to %s except %s", microseg_rule_id(r), cidr,
			except);
	}
	pol_expect_tcp_addr(&t, fe, out.ok_addr, "outside", 80, true);
	pol_expect_tcp_addr(&t, fe, out.bad_addr, "outside", 80, false);
	/* The CIDR rule opened no endpoint. */
	pol_expect_tcp(&t, fe, ot, POL_V6, 80, false);

	pol_finish(&t);
	return 0;
}
