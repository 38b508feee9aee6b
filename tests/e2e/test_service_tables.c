// SPDX-License-Identifier: Apache-2.0
/*
 * The selection tables the datapath reads, after every change. A Maglev service (table size
 * 1021) and a weighted-random one go through a scripted series of calls: backends added one
 * by one, removed, drained (terminating, maintenance), brought back, re-added with another
 * weight, and the instance reopened in the middle. After each call the live half of
 * ms_lb_slots (the half and slot count ms_lb_services names) must hold exactly what a model
 * computes from the service's backends as the API lists them:
 *   Maglev: the table ms_maglev_build() gives for the active backends (it depends on their
 *           address keys, not on ids or order), ids mapped through ms_lb_backends;
 *   random: each active backend weight/g times (g the weights' gcd), nothing else;
 * (backends added one at a time and six in one microseg_service_backend_add_many() call)
 * and no slot past the count. A change writes only the slots that differ from what the idle
 * half held before (and every slot after a reopen, when that is not known): a slot it forgot
 * shows here as a mismatch.
 */
#include "test_service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "maglev.h"
#include "microseg_abi.h"

#define MAGLEV_SIZE 1021u
#define MAX_BE 32

struct tables {
	struct svc_test s;
	int fd_svc, fd_slots, fd_be;
};

static int open_pin(struct tables *tb, const char *map)
{
	char pin[MICROSEG_PATH_MAX + 32];
	int fd = bpf_obj_get(e2e_pin(&tb->s.t, map, pin, sizeof(pin)));

	E2E_CHECK(fd >= 0, "open %s: %s", pin, strerror(errno));
	return fd;
}

static void open_maps(struct tables *tb)
{
	tb->fd_svc = open_pin(tb, MS_MAP_LB_SERVICES);
	tb->fd_slots = open_pin(tb, MS_MAP_LB_SLOTS);
	tb->fd_be = open_pin(tb, MS_MAP_LB_BACKENDS);
}

static void close_maps(struct tables *tb)
{
	close(tb->fd_svc);
	close(tb->fd_slots);
	close(tb->fd_be);
}

/* The datapath's backend id for addr:port of service svc_id (0 if none). */
static uint32_t backend_id(struct tables *tb, uint32_t svc_id, const char *addr, uint16_t port)
{
	struct ms_lb_backend v;
	uint8_t want[16] = { 0 };
	uint32_t key, next;
	int have = bpf_map_get_next_key(tb->fd_be, NULL, &next);

	E2E_CHECK(inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, want) == 1, "address %s", addr);
	while (have == 0) {
		key = next;
		if (bpf_map_lookup_elem(tb->fd_be, &key, &v) == 0 && v.svc_id == svc_id &&
		    ntohs(v.port) == port && !memcmp(v.addr, want, 16))
			return key;
		have = bpf_map_get_next_key(tb->fd_be, &key, &next);
	}
	return 0;
}

/* The live table of svc against the model; fails the test on any difference. */
static void check_table(struct tables *tb, struct microseg_service *svc, const char *after)
{
	struct microseg_ctx *ctx = tb->s.t.ctx;
	struct microseg_service_info info = { .sz = sizeof(info) };
	struct microseg_backend_info be[MAX_BE];
	struct ms_lb_member m[MAX_BE];
	uint32_t ids[MAX_BE], expect[MAGLEV_SIZE], got[MAGLEV_SIZE];
	size_t n_be = 0, n = 0;
	struct ms_lb_key k = { 0 };
	struct ms_lb_service sv;

	for (size_t i = 0; i < MAX_BE; i++)
		be[i].sz = sizeof(be[i]);
	E2E_OK(&tb->s.t, microseg_service_get_info(ctx, svc, &info));
	E2E_OK(&tb->s.t, microseg_service_backends(ctx, svc, be, MAX_BE, &n_be));
	for (size_t i = 0; i < n_be; i++) {
		if (be[i].state != MICROSEG_BACKEND_ACTIVE)
			continue;
		uint8_t a[16] = { 0 };
		inet_pton(strchr(be[i].address, ':') ? AF_INET6 : AF_INET, be[i].address, a);
		ids[n] = backend_id(tb, info.id, be[i].address, be[i].port);
		E2E_CHECK(ids[n], "%s: backend %s:%u has no datapath entry", after, be[i].address, be[i].port);
		m[n] = (struct ms_lb_member){ .id = ids[n], .weight = be[i].weight,
					      .key = ms_lb_backend_key(a, be[i].port) };
		n++;
	}

	/* ms_lb_services: the frontend's live half and slot count. */
	inet_pton(strchr(info.address, ':') ? AF_INET6 : AF_INET, info.address, k.addr);
	k.port = htons(info.port);
	k.proto = info.proto == MICROSEG_PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
	k.family = strchr(info.address, ':') ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
	E2E_CHECK(bpf_map_lookup_elem(tb->fd_svc, &k, &sv) == 0, "%s: no ms_lb_services entry for %s:%u",
		  after, info.address, info.port);
	E2E_CHECK(sv.svc_id == info.id, "%s: svc_id %u, want %u", after, sv.svc_id, info.id);
	E2E_CHECK(sv.n_slots <= MAGLEV_SIZE, "%s: %u slots", after, sv.n_slots);
	for (uint32_t i = 0; i <= sv.n_slots; i++) {
		struct ms_lb_slot_key sk = { .svc_id = info.id, .slot = (sv.half ? MS_LB_SLOT_HALF : 0) | i };
		int r = bpf_map_lookup_elem(tb->fd_slots, &sk, i < sv.n_slots ? &got[i] : &got[0]);
		if (i < sv.n_slots)
			E2E_CHECK(r == 0, "%s: live slot %u of %u missing", after, i, sv.n_slots);
		else
			E2E_CHECK(r != 0, "%s: a slot past the count (%u) is live", after, sv.n_slots);
	}

	if (n == 0) {
		E2E_CHECK(sv.n_slots == 0, "%s: no active backend, %u slots", after, sv.n_slots);
		return;
	}
	if (info.algorithm == MICROSEG_LB_MAGLEV) {
		E2E_CHECK(sv.n_slots == MAGLEV_SIZE, "%s: %u slots, want %u", after, sv.n_slots, MAGLEV_SIZE);
		E2E_CHECK(ms_maglev_build(m, n, expect, MAGLEV_SIZE) == 0, "model");
		size_t bad = 0, first = 0;
		for (uint32_t i = 0; i < MAGLEV_SIZE; i++)
			if (got[i] != expect[i] && bad++ == 0)
				first = i;
		E2E_CHECK(bad == 0, "%s: %zu of %u Maglev slots differ from the model (first: slot %zu holds %u, want %u)",
			  after, bad, MAGLEV_SIZE, first, got[first], expect[first]);
	} else {
		uint64_t g = 0, total = 0;
		for (size_t i = 0; i < n; i++)
			g = ms_gcd64(g, m[i].weight);
		for (size_t i = 0; i < n; i++) {
			size_t seen = 0;
			for (uint32_t j = 0; j < sv.n_slots; j++)
				seen += got[j] == m[i].id;
			E2E_CHECK(seen == m[i].weight / g, "%s: backend %u in %zu slots, want %llu", after, m[i].id,
				  seen, (unsigned long long)(m[i].weight / g));
			total += seen;
		}
		E2E_CHECK(total == sv.n_slots, "%s: %u slots hold %llu active backends' ids", after, sv.n_slots,
			  (unsigned long long)total);
	}
}

static void be_addr(char *buf, size_t len, const struct tables *tb, int i)
{
	snprintf(buf, len, "10.97.%d.%d", tb->s.t.subnet, 10 + i);
}

static void add(struct tables *tb, struct microseg_service *svc, int i, uint16_t weight)
{
	char a[32];

	be_addr(a, sizeof(a), tb, i);
	MICROSEG_OPTS(microseg_backend_opts, bo, .address = a, .port = SVC_BACKEND_PORT, .weight = weight);
	E2E_OK(&tb->s.t, microseg_service_backend_add(tb->s.t.ctx, svc, &bo));
}

/* Backends first..first+n-1 in one microseg_service_backend_add_many() call, weights 1..n. */
static void add_many(struct tables *tb, struct microseg_service *svc, int first, int n)
{
	struct microseg_backend_opts bo[8];
	char a[8][32];

	for (int i = 0; i < n && i < 8; i++) {
		be_addr(a[i], sizeof(a[i]), tb, first + i);
		bo[i] = (struct microseg_backend_opts){ .sz = sizeof(bo[i]), .address = a[i],
							.port = SVC_BACKEND_PORT, .weight = (uint16_t)(i + 1) };
	}
	E2E_OK(&tb->s.t, microseg_service_backend_add_many(tb->s.t.ctx, svc, bo, (size_t)n));
}

static void rm(struct tables *tb, struct microseg_service *svc, int i)
{
	char a[32];

	be_addr(a, sizeof(a), tb, i);
	E2E_OK(&tb->s.t, microseg_service_backend_remove(tb->s.t.ctx, svc, a, SVC_BACKEND_PORT));
}

static void state(struct tables *tb, struct microseg_service *svc, int i, uint32_t st)
{
	char a[32];

	be_addr(a, sizeof(a), tb, i);
	E2E_OK(&tb->s.t, microseg_service_backend_set_state(tb->s.t.ctx, svc, a, SVC_BACKEND_PORT, st));
}

/* The same script on one service, checked after every call. */
static void script(struct tables *tb, struct microseg_service **svc, const char *vip, const char *what)
{
	char after[96];
	int checks = 0;

#define STEP(call, fmt, ...)                                                         \
	do {                                                                         \
		call;                                                                \
		snprintf(after, sizeof(after), "%s, after " fmt, what, __VA_ARGS__); \
		check_table(tb, *svc, after);                                        \
		checks++;                                                            \
	} while (0)

	for (int i = 0; i < 12; i++)
		STEP(add(tb, *svc, i, (uint16_t)(1 + i % 3)), "adding backend %d", i);
	STEP(rm(tb, *svc, 3), "removing backend %d", 3);
	STEP(state(tb, *svc, 5, MICROSEG_BACKEND_TERMINATING), "draining backend %d", 5);
	STEP(state(tb, *svc, 7, MICROSEG_BACKEND_MAINTENANCE), "maintenance of backend %d", 7);
	STEP(rm(tb, *svc, 0), "removing backend %d", 0);
	STEP(state(tb, *svc, 5, MICROSEG_BACKEND_ACTIVE), "reactivating backend %d", 5);
	STEP(add_many(tb, *svc, 12, 6), "adding backends %d..%d in one call", 12, 17);

	/* A reopen: the library no longer knows what either half holds. */
	close_maps(tb);
	svc_reopen(&tb->s);
	open_maps(tb);
	E2E_OK(&tb->s.t, microseg_service_find(tb->s.t.ctx, vip, SVC_HTTP_PORT, MICROSEG_PROTO_TCP, svc));
	STEP((void)0, "reopening (%s)", "no change");
	STEP(add(tb, *svc, 3, 5), "re-adding backend %d with weight 5", 3);
	STEP(rm(tb, *svc, 11), "removing backend %d", 11);
	STEP(state(tb, *svc, 7, MICROSEG_BACKEND_ACTIVE), "reactivating backend %d", 7);
	for (int i = 1; i < 12; i++)
		if (i != 3 && i != 11)
			STEP(state(tb, *svc, i, MICROSEG_BACKEND_MAINTENANCE), "maintenance of backend %d", i);
	STEP(rm(tb, *svc, 3), "removing backend %d (the last active one)", 3);
	STEP(state(tb, *svc, 4, MICROSEG_BACKEND_ACTIVE), "reactivating backend %d", 4);
#undef STEP
	e2e_log("  ok: %s: the live table matched the model after each of %d changes", what, checks);
}

int main(void)
{
	static struct tables tb; /* static: the exit handlers registered on it run after main returns */
	struct microseg_service *maglev, *random;
	char vip0[64], vip1[64];

	svc_init(&tb.s, "svctab");
	svc_vip(&tb.s, 0, false, vip0, sizeof(vip0));
	svc_vip(&tb.s, 1, false, vip1, sizeof(vip1));
	{
		MICROSEG_OPTS(microseg_service_opts, so, .name = "maglev", .address = vip0, .port = SVC_HTTP_PORT,
			      .proto = MICROSEG_PROTO_TCP, .algorithm = MICROSEG_LB_MAGLEV,
			      .maglev_table_size = MAGLEV_SIZE);
		E2E_OK(&tb.s.t, microseg_service_add(tb.s.t.ctx, &so, &maglev));
	}
	random = svc_add_service(&tb.s, "random", vip1, SVC_HTTP_PORT, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM);
	open_maps(&tb);
	e2e_log("phase: maglev");
	script(&tb, &maglev, vip0, "maglev");
	e2e_log("phase: random");
	E2E_OK(&tb.s.t, microseg_service_find(tb.s.t.ctx, vip1, SVC_HTTP_PORT, MICROSEG_PROTO_TCP, &random));
	script(&tb, &random, vip1, "random");
	close_maps(&tb);
	e2e_finish(&tb.s.t);
	return 0;
}
