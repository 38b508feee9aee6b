// SPDX-License-Identifier: Apache-2.0
/*
 * The host's addresses follow the host. The server endpoint takes ingress only from app=client,
 * and the host (always let in, as in Cilium). An address the host gains after open is "world"
 * until the caller syncs: a ping from it is dropped; microseg_host_addrs_fd() turns readable
 * with the change, microseg_host_addrs_sync() records the address (ipcache: identity HOST) and
 * empties the fd, and the same ping gets through. Dropped again by the host, the address is
 * forgotten at the next sync (no ipcache entry), IPv4 and IPv6 alike; an address recorded at
 * open stays throughout. One recorded by a process and dropped while the instance was closed is
 * forgotten when the next process opens it.
 */
#include "e2e.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

static bool host_ping(const char *src, const char *dst)
{
	char out[512];
	int r = topo_runl(NULL, 8000, out, sizeof(out), "ping", "-n", "-q", "-c", "1", "-W", "2", "-I", src,
			  dst, NULL);
	return r == 0;
}

/* Whether fd turns readable within ms. */
static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

static bool recorded_as_host(struct e2e *t, const char *addr)
{
	uint32_t identity = 0;
	return e2e_ipcache_get(t, addr, &identity, NULL, NULL) && identity == MICROSEG_IDENTITY_HOST;
}

/* ip addr add/del of addr on the test's host link, then the fd wakes and a sync follows. */
static void change(struct e2e *t, int fd, const char *verb, const char *addr, bool v6)
{
	char pfx[64];
	snprintf(pfx, sizeof(pfx), "%s/%d", addr, v6 ? 128 : 32);
	if (v6 && !strcmp(verb, "add"))
		e2e_run_ok(NULL, "ip", "addr", verb, pfx, "dev", t->host_if, "nodad", NULL);
	else
		e2e_run_ok(NULL, "ip", "addr", verb, pfx, "dev", t->host_if, NULL);
	E2E_CHECK(readable_within(fd, 3000), "the fd did not wake for ip addr %s %s", verb, addr);
}

/* A sync; with quiet, the fd must be empty after it. Only where no notification can still be
 * on its way: an IPv6 address added without DAD is announced from a kernel work item, after
 * `ip addr add` has returned, so it may land after the sync's drain. Deletions are announced
 * before `ip addr del` returns. */
static void sync_now(struct e2e *t, int fd, bool quiet)
{
	int n = microseg_host_addrs_sync(t->ctx);
	E2E_CHECK(n >= 3, "sync: %d (%s)", n, microseg_ctx_last_error(t->ctx)); /* 2 gateways + ours */
	E2E_CHECK(!quiet || !readable_within(fd, 0), "the fd is still readable after a sync");
}

int main(void)
{
	static struct e2e t; /* static: the exit handlers registered on it run after main returns */
	char new4[INET_ADDRSTRLEN], new6[INET6_ADDRSTRLEN];

	e2e_init(&t, "hostaddr");
	struct e2e_ep *server = e2e_add_ep(&t, "server", false);
	e2e_add_ep(&t, "client", true);
	{
		static const char *srv[] = { "app=server" }, *cli[] = { "app=client" };
		struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
					      .selector = { .match_labels = cli, .n_match_labels = 1 } };
		struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS,
						     .action = MICROSEG_ACTION_ALLOW, .peers = &peer,
						     .n_peers = 1 };
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = "server-from-client",
			      .endpoints = { .match_labels = srv, .n_match_labels = 1 }, .sections = &sec,
			      .n_sections = 1);
		struct microseg_rule *r;
		E2E_OK(&t, microseg_rule_add(t.ctx, &spec, &r));
	}
	snprintf(new4, sizeof(new4), "10.200.%d.253", t.subnet);
	snprintf(new6, sizeof(new6), "fd00:200:%x::fd", t.subnet);
	int fd = microseg_host_addrs_fd(t.ctx);
	E2E_CHECK(fd >= 0, "microseg_host_addrs_fd: %d (%s)", fd, microseg_ctx_last_error(t.ctx));
	sync_now(&t, fd, false); /* whatever came before the test's changes */

	e2e_log("phase: an address recorded at open is the host's");
	E2E_CHECK(recorded_as_host(&t, t.host_v4), "%s (held at open) is not HOST", t.host_v4);
	E2E_CHECK(host_ping(t.host_v4, server->v4), "the host (%s) cannot reach the server", t.host_v4);

	e2e_log("phase: a new address is world until the sync");
	change(&t, fd, "add", new4, false);
	change(&t, fd, "add", new6, true);
	E2E_CHECK(!recorded_as_host(&t, new4), "%s recorded before any sync", new4);
	E2E_CHECK(!host_ping(new4, server->v4), "%s reached the server as world", new4);
	sync_now(&t, fd, false);
	E2E_CHECK(recorded_as_host(&t, new4) && recorded_as_host(&t, new6), "%s / %s not HOST after the sync",
		  new4, new6);
	E2E_CHECK(host_ping(new4, server->v4), "%s cannot reach the server after the sync", new4);
	e2e_log("  ok: %s dropped as world, then let in as the host", new4);

	e2e_log("phase: a dropped address is forgotten");
	change(&t, fd, "del", new4, false);
	change(&t, fd, "del", new6, true);
	sync_now(&t, fd, true);
	E2E_CHECK(!e2e_ipcache_get(&t, new4, NULL, NULL, NULL), "%s still in the ipcache", new4);
	E2E_CHECK(!e2e_ipcache_get(&t, new6, NULL, NULL, NULL), "%s still in the ipcache", new6);
	E2E_CHECK(recorded_as_host(&t, t.host_v4) && recorded_as_host(&t, t.host_v6),
		  "the addresses held since open were forgotten");
	E2E_CHECK(host_ping(t.host_v4, server->v4), "the host (%s) cannot reach the server", t.host_v4);
	e2e_log("  ok: both forgotten, the others kept");

	e2e_log("phase: an address dropped while no process had the instance open");
	change(&t, fd, "add", new4, false);
	sync_now(&t, fd, true);
	E2E_CHECK(recorded_as_host(&t, new4), "%s not HOST after the sync", new4);
	e2e_close(&t);
	char pfx[64];
	snprintf(pfx, sizeof(pfx), "%s/32", new4);
	e2e_run_ok(NULL, "ip", "addr", "del", pfx, "dev", t.host_if, NULL);
	E2E_CHECK(e2e_open(&t) == 1, "the instance was not restored");
	e2e_refresh_handles(&t);
	E2E_CHECK(!e2e_ipcache_get(&t, new4, NULL, NULL, NULL), "%s, left by the previous process, still in the ipcache",
		  new4);
	E2E_CHECK(recorded_as_host(&t, t.host_v4), "%s lost at reopen", t.host_v4);
	e2e_log("  ok: forgotten at open");
	e2e_finish(&t);
	return 0;
}
