// SPDX-License-Identifier: Apache-2.0
/*
 * Closing the context and opening the instance again while TCP streams run: the streams
 * finish with every byte delivered, the reopened context restores the same endpoints and
 * identities, the counters keep counting across the reopen, the restored instance takes
 * a new endpoint, and an ipcache entry of a local endpoint it does not have (planted while it
 * was closed) is gone after the reopen.
 */
#include "e2e.h"

#include <stdio.h>
#include <string.h>

#define MAX_IDS 32

struct ep_snap {
	uint32_t id, ifindex, identity;
	char ifname[16];
	char name[MICROSEG_ENDPOINT_NAME_MAX + 1];
	char addrs[MICROSEG_ENDPOINT_ADDRS_MAX][64];
	size_t n_addrs;
	int filters_in, filters_out;
};

struct id_snap {
	uint32_t id;
	char labels[1024];
};

struct snap {
	struct ep_snap eps[E2E_MAX_EPS];
	size_t n_eps;
	struct id_snap ids[MAX_IDS];
	size_t n_ids;
};

static void take_snapshot(struct e2e *t, struct snap *s)
{
	struct microseg_endpoint *list[E2E_MAX_EPS];
	uint32_t ids[MAX_IDS];

	memset(s, 0, sizeof(*s));
	E2E_OK(t, microseg_endpoint_list(t->ctx, list, E2E_MAX_EPS, &s->n_eps));
	for (size_t i = 0; i < s->n_eps; i++) {
		struct ep_snap *e = &s->eps[i];

		e->id = microseg_endpoint_id(list[i]);
		e->ifindex = microseg_endpoint_ifindex(list[i]);
		e->identity = microseg_identity_id(microseg_endpoint_identity(list[i]));
		snprintf(e->ifname, sizeof(e->ifname), "%s", microseg_endpoint_ifname(list[i]));
		snprintf(e->name, sizeof(e->name), "%s", microseg_endpoint_name(list[i]));
		e->n_addrs = microseg_endpoint_addr_count(list[i]);
		E2E_CHECK(e->n_addrs <= MICROSEG_ENDPOINT_ADDRS_MAX, "%zu addresses", e->n_addrs);
		for (size_t j = 0; j < e->n_addrs; j++)
			snprintf(e->addrs[j], sizeof(e->addrs[j]), "%s",
				 microseg_endpoint_addr(list[i], j));
		e->filters_in = e2e_tc_bpf_filters(e->ifname, "ingress");
		e->filters_out = e2e_tc_bpf_filters(e->ifname, "egress");
	}
	E2E_OK(t, microseg_identity_list(t->ctx, ids, MAX_IDS, &s->n_ids));
	for (size_t i = 0; i < s->n_ids; i++) {
		struct microseg_identity *id = NULL;
		size_t used = 0;

		s->ids[i].id = ids[i];
		E2E_OK(t, microseg_identity_lookup(t->ctx, ids[i], &id));
		for (size_t j = 0; j < microseg_identity_label_count(id); j++)
			used += snprintf(s->ids[i].labels + used, sizeof(s->ids[i].labels) - used,
					 "%s%s", j ? "," : "", microseg_identity_label(id, j));
		E2E_OK(t, microseg_identity_put(t->ctx, id));
	}
}

static void compare_snapshots(const struct snap *x, const struct snap *y)
{
	E2E_CHECK(x->n_eps == y->n_eps, "%zu endpoints before close, %zu after reopen", x->n_eps,
		  y->n_eps);
	for (size_t i = 0; i < x->n_eps; i++) {
		const struct ep_snap *a = &x->eps[i], *b = &y->eps[i];

		E2E_CHECK(a->id == b->id && a->ifindex == b->ifindex && a->identity == b->identity,
			  "endpoint %zu: id/ifindex/identity %u/%u/%u before, %u/%u/%u after", i,
			  a->id, a->ifindex, a->identity, b->id, b->ifindex, b->identity);
		E2E_CHECK(!strcmp(a->ifname, b->ifname) && !strcmp(a->name, b->name),
			  "endpoint %u: '%s' '%s' before, '%s' '%s' after", a->id, a->ifname,
			  a->name, b->ifname, b->name);
		E2E_CHECK(a->n_addrs == b->n_addrs, "endpoint %u: %zu addresses before, %zu after",
			  a->id, a->n_addrs, b->n_addrs);
		for (size_t j = 0; j < a->n_addrs; j++)
			E2E_CHECK(!strcmp(a->addrs[j], b->addrs[j]),
				  "endpoint %u address %zu: %s before, %s after", a->id, j,
				  a->addrs[j], b->addrs[j]);
		/* Reopening must neither detach nor attach a second copy. */
		E2E_CHECK(a->filters_in == b->filters_in && a->filters_out == b->filters_out,
			  "%s: filters in/out %d/%d before, %d/%d after", a->ifname, a->filters_in,
			  a->filters_out, b->filters_in, b->filters_out);
	}
	E2E_CHECK(x->n_ids == y->n_ids, "%zu identities before close, %zu after reopen", x->n_ids,
		  y->n_ids);
	for (size_t i = 0; i < x->n_ids; i++)
		E2E_CHECK(x->ids[i].id == y->ids[i].id &&
				  !strcmp(x->ids[i].labels, y->ids[i].labels),
			  "identity %zu: %u {%s} before, %u {%s} after", i, x->ids[i].id,
			  x->ids[i].labels, y->ids[i].id, y->ids[i].labels);
}

/* Every counter of s1 is at least its value in s0. */
static void check_monotonic(const char *who, const struct microseg_endpoint_stats *s0,
			    const struct microseg_endpoint_stats *s1)
{
	E2E_CHECK(s1->egress_packets >= s0->egress_packets &&
			  s1->egress_bytes >= s0->egress_bytes &&
			  s1->ingress_packets >= s0->ingress_packets &&
			  s1->ingress_bytes >= s0->ingress_bytes &&
			  s1->egress_dropped >= s0->egress_dropped &&
			  s1->ingress_dropped >= s0->ingress_dropped,
		  "%s: counters went back across the reopen (ingress bytes %llu -> %llu, egress "
		  "bytes %llu -> %llu)",
		  who, (unsigned long long)s0->ingress_bytes, (unsigned long long)s1->ingress_bytes,
		  (unsigned long long)s0->egress_bytes, (unsigned long long)s1->egress_bytes);
}

/* Counted bytes cover the payload (plus headers) and are not counted twice. */
static void check_bytes(const char *what, uint64_t counted, uint64_t payload)
{
	e2e_log("%s: counted %llu bytes for %llu payload bytes", what,
		(unsigned long long)counted, (unsigned long long)payload);
	E2E_CHECK(counted >= payload, "%s: counted %llu bytes < %llu payload bytes", what,
		  (unsigned long long)counted, (unsigned long long)payload);
	E2E_CHECK(counted <= payload + payload / 5 + (2u << 20),
		  "%s: counted %llu bytes, far more than %llu payload bytes", what,
		  (unsigned long long)counted, (unsigned long long)payload);
}

/* A local endpoint's ipcache entry that no endpoint of the instance owns (as a crash between
 * two writes could leave): written into the pinned map while no context is open. */
#define STALE_ADDR "10.199.0.9"
static void plant_stale_entry(struct e2e *t)
{
	/* key {prefixlen 64, family 4, pad, 10.199.0.9}; value {identity 65599, ifindex 999999,
	 * ep_id 77, flags LOCAL_EP}, little-endian */
	static const uint8_t key[24] = { 64, 0, 0, 0, 4, 0, 0, 0, 10, 199, 0, 9 };
	static const uint8_t value[16] = { 0x3f, 0, 1, 0, 0x3f, 0x42, 0x0f, 0, 77, 0, 0, 0, 1, 0, 0, 0 };
	char pin[MICROSEG_PATH_MAX + 32], bytes[40][4], out[512];
	const char *argv[64];
	int n = 0, b = 0, r;

	argv[n++] = "bpftool";
	argv[n++] = "map";
	argv[n++] = "update";
	argv[n++] = "pinned";
	argv[n++] = e2e_pin(t, "ms_ipcache", pin, sizeof(pin));
	argv[n++] = "key";
	for (size_t i = 0; i < sizeof(key); i++, b++) {
		snprintf(bytes[b], sizeof(bytes[b]), "%u", key[i]);
		argv[n++] = bytes[b];
	}
	argv[n++] = "value";
	for (size_t i = 0; i < sizeof(value); i++, b++) {
		snprintf(bytes[b], sizeof(bytes[b]), "%u", value[i]);
		argv[n++] = bytes[b];
	}
	argv[n] = NULL;
	r = topo_run(NULL, 10000, out, sizeof(out), argv);
	E2E_CHECK(r == 0, "bpftool map update: exit %d: %s", r, out);
	E2E_CHECK(e2e_ipcache_get(t, STALE_ADDR, NULL, NULL, NULL), "the planted entry is not there");
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *a, *b, *c;
	struct e2e_stream s_ba, s_ab;
	struct microseg_endpoint_stats a0, b0, a1, b1, a2, b2, a3, b3;
	struct snap before, after;
	uint64_t sent_ba, recv_ba, sent_ab, recv_ab;
	int r, failed;

	e2e_init(&t, "reopen");
	a = e2e_add_ep(&t, "alpha", false);
	b = e2e_add_ep(&t, "beta", false);
	e2e_log("phase: endpoints");
	failed = e2e_check_pair(a, b) + e2e_check_pair(b, a);
	E2E_CHECK(failed == 0, "%d traffic checks failed before the streams", failed);

	e2e_stats(&t, a, &a0);
	e2e_stats(&t, b, &b0);
	/* One stream each way, one per address family, for about four seconds. */
	e2e_stream_start(&s_ba, b, a, a->v4, 9000, 4.0);
	e2e_stream_start(&s_ab, a, b, b->v6, 9001, 4.0);
	e2e_log("phase: stream");
	topo_sleep_ms(1200);

	e2e_stats(&t, a, &a1);
	e2e_stats(&t, b, &b1);
	take_snapshot(&t, &before);
	E2E_CHECK(before.n_eps == 2, "%zu endpoints listed", before.n_eps);
	e2e_close(&t);
	e2e_log("phase: closed");
	plant_stale_entry(&t);
	topo_sleep_ms(700); /* the streams run with no context at all */

	r = e2e_open(&t);
	E2E_CHECK(r == 1, "reopen reports restored=%d", r);
	e2e_log("phase: reopened");
	e2e_refresh_handles(&t);
	E2E_CHECK(!e2e_ipcache_get(&t, STALE_ADDR, NULL, NULL, NULL),
		  "the ipcache entry of an endpoint the instance does not have survived the reopen");
	take_snapshot(&t, &after);
	compare_snapshots(&before, &after);

	e2e_stats(&t, a, &a2);
	e2e_stats(&t, b, &b2);
	check_monotonic(a->name, &a1, &a2);
	check_monotonic(b->name, &b1, &b2);
	E2E_CHECK(a2.ingress_bytes > a1.ingress_bytes && b2.ingress_bytes > b1.ingress_bytes,
		  "no bytes counted while the context was closed (a %llu -> %llu, b %llu -> %llu)",
		  (unsigned long long)a1.ingress_bytes, (unsigned long long)a2.ingress_bytes,
		  (unsigned long long)b1.ingress_bytes, (unsigned long long)b2.ingress_bytes);

	/* The restored instance keeps working: a new endpoint gets a fresh id and traffic. */
	c = e2e_add_ep(&t, "gamma", false);
	E2E_CHECK(microseg_endpoint_id(c->ep) != before.eps[0].id &&
			  microseg_endpoint_id(c->ep) != before.eps[1].id,
		  "new endpoint reuses id %u", microseg_endpoint_id(c->ep));
	failed = e2e_check_pair(c, a) + e2e_check_pair(b, c);
	E2E_CHECK(failed == 0, "%d traffic checks with the endpoint added after reopen failed",
		  failed);

	e2e_stream_finish(&s_ba, &sent_ba, &recv_ba);
	e2e_stream_finish(&s_ab, &sent_ab, &recv_ab);
	e2e_log("stream %s -> %s: sent %llu received %llu", b->name, a->name,
		(unsigned long long)sent_ba, (unsigned long long)recv_ba);
	e2e_log("stream %s -> %s: sent %llu received %llu", a->name, b->name,
		(unsigned long long)sent_ab, (unsigned long long)recv_ab);
	E2E_CHECK(sent_ba == recv_ba && sent_ab == recv_ab, "bytes lost in a stream");
	E2E_CHECK(sent_ba > (8u << 20) && sent_ab > (8u << 20), "streams too short to mean anything");

	e2e_stats(&t, a, &a3);
	e2e_stats(&t, b, &b3);
	check_monotonic(a->name, &a2, &a3);
	check_monotonic(b->name, &b2, &b3);
	check_bytes("receiver ingress (v4 stream)", a3.ingress_bytes - a0.ingress_bytes, recv_ba);
	check_bytes("sender egress (v4 stream)", b3.egress_bytes - b0.egress_bytes, sent_ba);
	check_bytes("receiver ingress (v6 stream)", b3.ingress_bytes - b0.ingress_bytes, recv_ab);
	check_bytes("sender egress (v6 stream)", a3.egress_bytes - a0.egress_bytes, sent_ab);

	e2e_finish(&t);
	return 0;
}
