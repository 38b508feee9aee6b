// SPDX-License-Identifier: Apache-2.0
/*
 * Three endpoints in three namespaces: TCP, UDP and ICMP over IPv4 and IPv6 between every
 * ordered pair, each endpoint reaches the host, and the per-endpoint counters match the
 * traffic a test sends.
 */
#include "e2e.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Besides the test's datagrams an endpoint's counters see neighbour discovery, router
 * solicitations and MLD reports of the container's own stack. A second of test traffic
 * carries at most a few of those; this is the allowance, per direction.
 */
#define NOISE_PACKETS 10
#define NOISE_BYTES (NOISE_PACKETS * 200)

static void check_udp_counters(struct e2e *t, struct e2e_ep *a, struct e2e_ep *b, bool v6)
{
	const int k = 40, size = 300;
	/* Ethernet 14 + IPv4 20 / IPv6 40 + UDP 8. */
	const uint64_t frame = (uint64_t)size + (v6 ? 62 : 42);
	struct microseg_endpoint_stats a0, a1, b0, b1;
	char port[16], n[16], sz[16], out[128], before[128];
	const char *dst = v6 ? b->v6 : b->v4;
	unsigned long long got0, got1;
	uint64_t d;

	snprintf(port, sizeof(port), "%d", E2E_SINK_PORT);
	snprintf(n, sizeof(n), "%d", k);
	snprintf(sz, sizeof(sz), "%d", size);
	{
		char echo[16];

		snprintf(echo, sizeof(echo), "%d", E2E_PORT);
		e2e_peer(a->ns, before, sizeof(before), 15000, "udp-count", dst, echo, NULL);
	}
	got0 = strtoull(before, NULL, 10);

	e2e_stats(t, a, &a0);
	e2e_stats(t, b, &b0);
	e2e_peer(a->ns, NULL, 0, 15000, "udp-send", dst, port, n, sz, NULL);
	topo_sleep_ms(300); /* let the last datagrams land */
	e2e_stats(t, a, &a1);
	e2e_stats(t, b, &b1);

	{
		char echo[16];

		snprintf(echo, sizeof(echo), "%d", E2E_PORT);
		e2e_peer(a->ns, out, sizeof(out), 15000, "udp-count", dst, echo, NULL);
	}
	got1 = strtoull(out, NULL, 10);
	e2e_log("udp counters %s: %d x %d bytes %s -> %s; receiver got %llu; "
		"%s egress +%llu pkts +%llu bytes, ingress +%llu; %s ingress +%llu pkts +%llu "
		"bytes, egress +%llu",
		v6 ? "v6" : "v4", k, size, a->name, b->name, got1 - got0, a->name,
		(unsigned long long)(a1.egress_packets - a0.egress_packets),
		(unsigned long long)(a1.egress_bytes - a0.egress_bytes),
		(unsigned long long)(a1.ingress_packets - a0.ingress_packets), b->name,
		(unsigned long long)(b1.ingress_packets - b0.ingress_packets),
		(unsigned long long)(b1.ingress_bytes - b0.ingress_bytes),
		(unsigned long long)(b1.egress_packets - b0.egress_packets));

	E2E_CHECK(got1 - got0 == (unsigned long long)k, "receiver got %llu of %d datagrams",
		  got1 - got0, k);

	d = b1.ingress_packets - b0.ingress_packets;
	E2E_CHECK(d >= (uint64_t)k && d <= (uint64_t)k + NOISE_PACKETS,
		  "receiver ingress packets +%llu, want %d..%d", (unsigned long long)d, k,
		  k + NOISE_PACKETS);
	d = b1.ingress_bytes - b0.ingress_bytes;
	E2E_CHECK(d >= k * frame && d <= k * frame + NOISE_BYTES,
		  "receiver ingress bytes +%llu, want %llu..%llu", (unsigned long long)d,
		  (unsigned long long)(k * frame), (unsigned long long)(k * frame + NOISE_BYTES));
	d = a1.egress_packets - a0.egress_packets;
	E2E_CHECK(d >= (uint64_t)k && d <= (uint64_t)k + NOISE_PACKETS,
		  "sender egress packets +%llu, want %d..%d", (unsigned long long)d, k,
		  k + NOISE_PACKETS);
	d = a1.egress_bytes - a0.egress_bytes;
	E2E_CHECK(d >= k * frame && d <= k * frame + NOISE_BYTES,
		  "sender egress bytes +%llu, want %llu..%llu", (unsigned long long)d,
		  (unsigned long long)(k * frame), (unsigned long long)(k * frame + NOISE_BYTES));
	/* The sink never answers: the other directions see noise only, so the counters are
	 * not swapped or shared between endpoints. */
	d = a1.ingress_packets - a0.ingress_packets;
	E2E_CHECK(d <= NOISE_PACKETS, "sender ingress packets +%llu while only sending",
		  (unsigned long long)d);
	d = b1.egress_packets - b0.egress_packets;
	E2E_CHECK(d <= NOISE_PACKETS, "receiver egress packets +%llu while only receiving",
		  (unsigned long long)d);
	E2E_CHECK(a1.egress_dropped == a0.egress_dropped && a1.ingress_dropped == a0.ingress_dropped &&
			  b1.egress_dropped == b0.egress_dropped &&
			  b1.ingress_dropped == b0.ingress_dropped,
		  "drops counted with no policy in place");
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *ep[3];
	size_t count = 0;
	int failed = 0;

	e2e_init(&t, "traffic");
	ep[0] = e2e_add_ep(&t, "alpha", false);
	ep[1] = e2e_add_ep(&t, "beta", false);
	ep[2] = e2e_add_ep(&t, "gamma", false);
	e2e_log("phase: endpoints");

	{
		struct microseg_endpoint *list[E2E_MAX_EPS];

		E2E_OK(&t, microseg_endpoint_list(t.ctx, list, E2E_MAX_EPS, &count));
		E2E_CHECK(count == 3, "endpoint_list count %zu", count);
	}
	for (int i = 0; i < 3; i++) {
		E2E_CHECK(e2e_tc_bpf_filters(ep[i]->host_if, "ingress") > 0,
			  "no BPF filter on %s ingress", ep[i]->host_if);
		E2E_CHECK(e2e_tc_bpf_filters(ep[i]->host_if, "egress") > 0,
			  "no BPF filter on %s egress", ep[i]->host_if);
	}

	e2e_log("phase: traffic");
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 3; j++) {
			int f;

			if (i == j)
				continue;
			f = e2e_check_pair(ep[i], ep[j]);
			e2e_log("%s -> %s: %s", ep[i]->name, ep[j]->name,
				f ? "FAILED" : "tcp udp icmp v4 v6 ok");
			failed += f;
		}
	}
	for (int i = 0; i < 3; i++) {
		/*
		 * The host's own address, and the gateways the host side of the veth holds.
		 * fe80::1 is link-local, so scoped to the container's interface, and pinged from
		 * the endpoint's own address: the datapath takes from an endpoint only packets
		 * with its addresses as source (link-local sources only for neighbour discovery
		 * and MLD).
		 */
		int f = !e2e_ping(ep[i], t.host_v4) + !e2e_ping(ep[i], t.host_v6) +
			!e2e_ping(ep[i], MICROSEG_GATEWAY_IPV4) +
			!e2e_ping_src(ep[i], ep[i]->v6, MICROSEG_GATEWAY_IPV6 "%eth0");

		e2e_log("%s -> host %s %s, gateways %s %s: %s", ep[i]->name, t.host_v4, t.host_v6,
			MICROSEG_GATEWAY_IPV4, MICROSEG_GATEWAY_IPV6, f ? "FAILED" : "icmp ok");
		failed += f;
	}
	E2E_CHECK(failed == 0, "%d traffic checks failed (see above)", failed);

	e2e_log("phase: counters");
	check_udp_counters(&t, ep[0], ep[1], false);
	check_udp_counters(&t, ep[0], ep[1], true);
	check_udp_counters(&t, ep[2], ep[0], false);

	e2e_finish(&t);
	return 0;
}
