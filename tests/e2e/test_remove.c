// SPDX-License-Identifier: Apache-2.0
/*
 * Removing an endpoint: its TC filters and its map entries go, the library forgets it (and
 * its handle becomes an error, not a crash), and the remaining endpoints keep talking.
 * Then removal with MICROSEG_ENDPOINT_REMOVE_DELETE_LINK also deletes the host link.
 */
#include "e2e.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

static void check_in_maps(struct e2e *t, const struct e2e_ep *e, bool present)
{
	uint32_t identity = 0, ifindex = 0, ep_id = 0;
	uint32_t want_id = present ? microseg_endpoint_id(e->ep) : 0;
	bool got;

	got = e2e_endpoint_map_get(t, e->ifindex, &ep_id, &identity);
	E2E_CHECK(got == present, "%s: endpoints map entry for ifindex %u %s", e->name,
		  e->ifindex, got ? "still there" : "missing");
	if (present)
		E2E_CHECK(ep_id == want_id, "%s: endpoints map ep_id %u, want %u", e->name, ep_id,
			  want_id);
	for (int i = 0; i < 2; i++) {
		const char *addr = i ? e->v6 : e->v4;

		got = e2e_ipcache_get(t, addr, &identity, &ifindex, &ep_id);
		E2E_CHECK(got == present, "%s: ipcache entry for %s %s", e->name, addr,
			  got ? "still there" : "missing");
		if (present)
			E2E_CHECK(ifindex == e->ifindex && ep_id == want_id,
				  "%s: ipcache %s -> ifindex %u ep %u, want %u %u", e->name, addr,
				  ifindex, ep_id, e->ifindex, want_id);
	}
}

static void check_list(struct e2e *t, struct e2e_ep *const *want, size_t n)
{
	struct microseg_endpoint *list[E2E_MAX_EPS];
	size_t count = 0;

	E2E_OK(t, microseg_endpoint_list(t->ctx, list, E2E_MAX_EPS, &count));
	E2E_CHECK(count == n, "endpoint_list count %zu, want %zu", count, n);
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < count; j++)
			found |= microseg_endpoint_id(list[j]) == microseg_endpoint_id(want[i]->ep);
		E2E_CHECK(found, "%s missing from endpoint_list", want[i]->name);
	}
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *a, *b, *c;
	struct microseg_endpoint *found = NULL, *stale;
	struct microseg_endpoint_stats st = { .sz = sizeof(st) };
	struct microseg_identity *id;
	int r, failed;

	e2e_init(&t, "remove");
	a = e2e_add_ep(&t, "alpha", false);
	b = e2e_add_ep(&t, "beta", false);
	c = e2e_add_ep(&t, "gamma", false);
	e2e_log("phase: endpoints");

	/* Positive controls: what must disappear is there first. */
	E2E_CHECK(e2e_tc_bpf_filters(c->host_if, "ingress") > 0, "no filter on %s ingress",
		  c->host_if);
	E2E_CHECK(e2e_tc_bpf_filters(c->host_if, "egress") > 0, "no filter on %s egress",
		  c->host_if);
	check_in_maps(&t, c, true);
	failed = e2e_check_pair(a, c) + e2e_check_pair(c, b);
	E2E_CHECK(failed == 0, "%d traffic checks with %s failed before removal", failed, c->name);

	e2e_log("phase: remove %s (link kept)", c->name);
	stale = c->ep;
	E2E_OK(&t, microseg_endpoint_remove(t.ctx, c->ep, 0));
	c->ep = NULL;

	E2E_CHECK(if_nametoindex(c->host_if) == c->ifindex, "%s was deleted without DELETE_LINK",
		  c->host_if);
	r = e2e_tc_bpf_filters(c->host_if, "ingress");
	E2E_CHECK(r == 0, "%s ingress: %d BPF filters after removal", c->host_if, r);
	r = e2e_tc_bpf_filters(c->host_if, "egress");
	E2E_CHECK(r == 0, "%s egress: %d BPF filters after removal", c->host_if, r);

	r = microseg_endpoint_lookup(t.ctx, c->host_if, &found);
	E2E_CHECK(r == -ENOENT, "lookup by ifname after removal = %d", r);
	r = microseg_endpoint_lookup(t.ctx, c->name, &found);
	E2E_CHECK(r == -ENOENT, "lookup by name after removal = %d", r);
	{
		struct e2e_ep *left[] = { a, b };

		check_list(&t, left, 2);
	}
	check_in_maps(&t, c, false);
	check_in_maps(&t, a, true);
	check_in_maps(&t, b, true);

	/* The removed endpoint's handle is stale: every call says so. */
	r = microseg_endpoint_get_stats(t.ctx, stale, &st);
	E2E_CHECK(r == -ENOENT, "get_stats on a removed endpoint = %d", r);
	r = microseg_endpoint_remove(t.ctx, stale, 0);
	E2E_CHECK(r == -ENOENT, "second remove = %d", r);
	id = e2e_identity(&t, "delta");
	r = microseg_endpoint_set_identity(t.ctx, stale, id);
	E2E_CHECK(r == -ENOENT, "set_identity on a removed endpoint = %d", r);
	E2E_OK(&t, microseg_identity_put(t.ctx, id));

	/* The others are untouched. */
	for (int i = 0; i < 2; i++) {
		const struct e2e_ep *e = i ? b : a;

		E2E_CHECK(e2e_tc_bpf_filters(e->host_if, "ingress") > 0 &&
				  e2e_tc_bpf_filters(e->host_if, "egress") > 0,
			  "filters of %s gone with %s", e->name, c->name);
	}
	failed = e2e_check_pair(a, b) + e2e_check_pair(b, a);
	failed += !e2e_ping(a, t.host_v4) + !e2e_ping(b, t.host_v6);
	E2E_CHECK(failed == 0, "%d traffic checks between remaining endpoints failed", failed);
	e2e_log("traffic between %s and %s ok after removing %s", a->name, b->name, c->name);

	/* Removing with DELETE_LINK takes the host link (and so the pair) away too. */
	e2e_log("phase: remove %s (DELETE_LINK)", b->name);
	E2E_OK(&t, microseg_endpoint_remove(t.ctx, b->ep, MICROSEG_ENDPOINT_REMOVE_DELETE_LINK));
	b->ep = NULL;
	E2E_CHECK(if_nametoindex(b->host_if) == 0, "%s still exists", b->host_if);
	{
		struct e2e_ep *left[] = { a };

		check_list(&t, left, 1);
	}
	check_in_maps(&t, b, false);
	failed = !e2e_ping(a, t.host_v4) + !e2e_ping(a, t.host_v6);
	E2E_CHECK(failed == 0, "%s lost connectivity after removing %s", a->name, b->name);

	e2e_finish(&t);
	return 0;
}
