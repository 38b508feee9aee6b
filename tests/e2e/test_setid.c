// SPDX-License-Identifier: Apache-2.0
/*
 * Changing the identity of a live endpoint: a TCP stream through it survives the change,
 * the handle and lookups report the new identity, the datapath's maps carry the new numeric
 * id, the old identity is released once nothing holds it, and traffic keeps flowing (no
 * policy yet, so nothing may change for packets).
 */
#include "e2e.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The new id is where the datapath looks: the endpoints map and both addresses' ipcache
 * entries. */
static void check_datapath_identity(struct e2e *t, const struct e2e_ep *e, uint32_t want)
{
	uint32_t identity = 0;

	E2E_CHECK(e2e_endpoint_map_get(t, e->ifindex, NULL, &identity), "%s not in endpoints map",
		  e->name);
	E2E_CHECK(identity == want, "%s: endpoints map identity %u, want %u", e->name, identity,
		  want);
	for (int i = 0; i < 2; i++) {
		const char *addr = i ? e->v6 : e->v4;

		E2E_CHECK(e2e_ipcache_get(t, addr, &identity, NULL, NULL), "%s not in ipcache", addr);
		E2E_CHECK(identity == want, "ipcache %s: identity %u, want %u", addr, identity, want);
	}
}

static void check_reported_identity(struct e2e *t, const struct e2e_ep *e, uint32_t want)
{
	struct microseg_endpoint *found = NULL;

	E2E_CHECK(microseg_identity_id(microseg_endpoint_identity(e->ep)) == want,
		  "endpoint_identity %u, want %u",
		  microseg_identity_id(microseg_endpoint_identity(e->ep)), want);
	E2E_OK(t, microseg_endpoint_lookup(t->ctx, e->host_if, &found));
	E2E_CHECK(found == e->ep || microseg_endpoint_id(found) == microseg_endpoint_id(e->ep),
		  "lookup of %s found another endpoint", e->host_if);
	E2E_CHECK(microseg_identity_id(microseg_endpoint_identity(found)) == want,
		  "looked-up endpoint identity %u, want %u",
		  microseg_identity_id(microseg_endpoint_identity(found)), want);
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *a, *b;
	struct e2e_stream s;
	struct microseg_identity *new_id, *explicit_id, *probe = NULL;
	static const char *const explicit_labels[] = { "k8s:app=alpha-pinned", "k8s:tier=e2e" };
	uint32_t old_num, new_num, b_num;
	uint64_t sent, received;
	int r, failed;

	e2e_init(&t, "setid");
	a = e2e_add_ep(&t, "alpha", false);
	b = e2e_add_ep(&t, "beta", false);
	e2e_log("phase: endpoints");
	old_num = microseg_identity_id(microseg_endpoint_identity(a->ep));
	b_num = microseg_identity_id(microseg_endpoint_identity(b->ep));
	E2E_CHECK(old_num != b_num, "different label sets share identity %u", old_num);
	check_datapath_identity(&t, a, old_num);

	/* Change it in the middle of a stream through the endpoint. */
	e2e_stream_start(&s, b, a, a->v4, 9000, 2.5);
	topo_sleep_ms(800);
	new_id = e2e_identity(&t, "alpha-v2");
	new_num = microseg_identity_id(new_id);
	E2E_CHECK(new_num != old_num && new_num != b_num, "new label set got a used id %u",
		  new_num);
	e2e_log("phase: set_identity %u -> %u", old_num, new_num);
	E2E_OK(&t, microseg_endpoint_set_identity(t.ctx, a->ep, new_id));
	/* The endpoint holds its own reference now. */
	E2E_OK(&t, microseg_identity_put(t.ctx, new_id));
	check_reported_identity(&t, a, new_num);
	check_datapath_identity(&t, a, new_num);
	check_datapath_identity(&t, b, b_num);

	/* Nothing holds the old identity any more: it is gone. */
	r = microseg_identity_lookup(t.ctx, old_num, &probe);
	E2E_CHECK(r == -ENOENT, "old identity %u still looked up (%d) after its last user left",
		  old_num, r);

	e2e_stream_finish(&s, &sent, &received);
	e2e_log("stream across set_identity: sent %llu received %llu", (unsigned long long)sent,
		(unsigned long long)received);
	E2E_CHECK(sent == received && sent > 0, "stream lost bytes across set_identity");

	failed = e2e_check_pair(a, b) + e2e_check_pair(b, a);
	failed += !e2e_ping(a, t.host_v4) + !e2e_ping(a, t.host_v6);
	E2E_CHECK(failed == 0, "%d traffic checks failed after set_identity", failed);

	/* Once more, to an orchestrator-pinned (explicit) id. */
	E2E_OK(&t, microseg_identity_get_explicit(t.ctx, explicit_labels, 2, 4242, &explicit_id));
	E2E_CHECK(microseg_identity_id(explicit_id) == 4242, "explicit id %u",
		  microseg_identity_id(explicit_id));
	E2E_OK(&t, microseg_endpoint_set_identity(t.ctx, a->ep, explicit_id));
	E2E_OK(&t, microseg_identity_put(t.ctx, explicit_id));
	check_reported_identity(&t, a, 4242);
	check_datapath_identity(&t, a, 4242);
	r = microseg_identity_lookup(t.ctx, new_num, &probe);
	E2E_CHECK(r == -ENOENT, "identity %u still looked up (%d) after its last user left",
		  new_num, r);
	failed = e2e_check_pair(b, a) + e2e_check_pair(a, b);
	E2E_CHECK(failed == 0, "%d traffic checks failed after the second set_identity", failed);

	e2e_finish(&t);
	return 0;
}
