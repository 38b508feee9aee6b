// SPDX-License-Identifier: Apache-2.0
/*
 * The host's own addresses in the ipcache, as identity HOST (flag MS_IPC_F_HOST): policy lets
 * the host into its endpoints by default, so an address must count as the host's exactly while
 * the host holds it. A sync reads what the host's interfaces hold (one netlink dump), adds the
 * gateways (the host's by construction), and applies the difference to what it recorded last
 * time: new ones set, gone ones deleted. At open the recorded set is seeded from the pinned
 * ipcache's HOST entries, so addresses an earlier process recorded and the host has since
 * dropped are forgotten too.
 *
 * No thread watches for changes: a netlink socket subscribed to the address groups is opened
 * with the context (microseg_host_addrs_fd()); it turns readable when the host's addresses
 * change, and the caller then calls microseg_host_addrs_sync(), which drains it first.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static int addr_cmp(const void *pa, const void *pb)
{
	const struct ms_addr *a = pa, *b = pb;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

static int scan_add(struct ms_host_addrs *h, const struct ms_addr *a)
{
	if (h->n_scan == h->cap_scan) {
		size_t cap = h->cap_scan ? h->cap_scan * 2 : 16;
		struct ms_addr *p = realloc(h->scan, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		h->scan = p;
		h->cap_scan = cap;
	}
	struct ms_addr *d = &h->scan[h->n_scan++];
	*d = *a;
	memset(d->pad, 0, sizeof(d->pad));
	if (d->family == MS_FAMILY_IPV4)
		memset(d->bytes + 4, 0, 12);
	return 0;
}

static int collect(struct microseg_ctx *ctx, const struct ms_addr *a)
{
	return scan_add(&ctx->host, a);
}

static int seed_one(void *user, const struct ms_addr *a, const struct ms_ipcache_value *v)
{
	bool full = a->prefixlen == (a->family == MS_FAMILY_IPV4 ? 32 : 128);
	return full && (v->flags & MS_IPC_F_HOST) ? scan_add(user, a) : 0;
}

/* Sorted, without repeats (every host-side veth holds the same gateway addresses). */
static size_t sort_unique(struct ms_addr *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), addr_cmp);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (addr_cmp(&v[i], &v[k - 1]))
			v[k++] = v[i];
	return k;
}

/* Empties the change notifications: whatever came before this sync's dump is in it. */
static void drain_watch(struct ms_host_addrs *h)
{
	char buf[8192];
	if (h->watch_fd < 0)
		return;
	while (recv(h->watch_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static int host_value(struct microseg_ctx *ctx, const struct ms_addr *a)
{
	struct ms_ipcache_value v = { .identity = MS_ID_HOST, .flags = MS_IPC_F_HOST };
	return ms_dp_ipcache_set(ctx, a, &v);
}

/* Forgets a. Only a HOST entry: an endpoint may hold the address since. */
static void forget(struct microseg_ctx *ctx, const struct ms_addr *a)
{
	struct ms_ipcache_value v;
	if (ms_dp_ipcache_get(ctx, a, &v) == 0 && (v.flags & MS_IPC_F_HOST))
		ms_dp_ipcache_del(ctx, a);
}

/* With ctx->lock held. Returns the number of addresses recorded, or -errno. */
static int sync_locked(struct microseg_ctx *ctx)
{
	struct ms_host_addrs *h = &ctx->host;
	int err = 0;
	if (!h->seeded) {
		h->n_scan = 0;
		if ((err = ms_dp_ipcache_walk(ctx, seed_one, h)))
			return err;
		h->n_rec = sort_unique(h->scan, h->n_scan);
		struct ms_addr *rec = malloc((h->n_rec ? h->n_rec : 1) * sizeof(*rec));
		if (!rec)
			return -ENOMEM;
		memcpy(rec, h->scan, h->n_rec * sizeof(*rec));
		free(h->rec);
		h->rec = rec;
		h->seeded = true;
	}

	drain_watch(h);
	h->n_scan = 0;
	/* The gateways are the host's too, held or not yet: the first veth brings them, and the
	 * host speaks from them to its endpoints (the L7 proxy's connections to servers). */
	static const char *const gateways[] = { MICROSEG_GATEWAY_IPV4, MICROSEG_GATEWAY_IPV6 };
	for (size_t i = 0; i < MS_ARRAY_SIZE(gateways) && !err; i++) {
		struct ms_addr a;
		if (!(err = ms_addr_parse(gateways[i], &a)))
			err = scan_add(h, &a);
	}
	if (!err)
		err = ms_nl_host_addrs(ctx, collect);
	if (err)
		return err;
	size_t n = sort_unique(h->scan, h->n_scan);

	/* Both sorted: one merge finds what came and what went. */
	size_t i = 0, j = 0;
	while ((i < n || j < h->n_rec) && !err) {
		int c = i == n ? 1 : j == h->n_rec ? -1 : addr_cmp(&h->scan[i], &h->rec[j]);
		if (c < 0)
			err = host_value(ctx, &h->scan[i++]);
		else if (c > 0)
			forget(ctx, &h->rec[j++]);
		else
			i++, j++;
	}
	if (err)
		return ms_err(ctx, err, "host addresses: cannot record them in the ipcache");
	/* The scan becomes the record; the old record's memory becomes the next scratch. */
	struct ms_addr *old = h->rec;
	size_t old_cap = h->n_rec;
	h->rec = h->scan;
	h->n_rec = n;
	h->scan = old;
	h->cap_scan = old_cap;
	h->n_scan = 0;
	ms_log(ctx, MICROSEG_LOG_DEBUG, "host addresses: %zu recorded", n);
	return (int)n;
}

static int open_watch(struct microseg_ctx *ctx)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		return ms_err(ctx, err, "host addresses: cannot subscribe to address changes");
	}
	ctx->host.watch_fd = fd;
	return 0;
}

int ms_host_addrs_open(struct microseg_ctx *ctx)
{
	/* Subscribed before the first dump: a change during it still wakes the caller. */
	int err = open_watch(ctx);
	int n = sync_locked(ctx);
	return err ? err : n < 0 ? n : 0;
}

void ms_host_addrs_free(struct microseg_ctx *ctx)
{
	struct ms_host_addrs *h = &ctx->host;
	if (h->watch_fd >= 0)
		close(h->watch_fd);
	free(h->rec);
	free(h->scan);
	memset(h, 0, sizeof(*h));
	h->watch_fd = -1;
}

/* Host-address calls need a context that writes the kernel; the reason if not. */
static int refuse(struct microseg_ctx *ctx, const char *what)
{
	if (ms_ctx_offline(ctx))
		return ms_err(ctx, -EOPNOTSUPP, "%s: the context has no datapath", what);
	if (ms_ctx_read_only(ctx))
		return ms_err(ctx, -EROFS, "%s: the context is read-only", what);
	if (ctx->purged)
		return ms_err(ctx, -ESHUTDOWN, "%s: the instance was purged", what);
	return 0;
}

MICROSEG_API int microseg_host_addrs_sync(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = refuse(ctx, "host addresses sync");
	if (!err)
		err = sync_locked(ctx);
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_host_addrs_fd(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = refuse(ctx, "host addresses fd");
	if (!err && ctx->host.watch_fd < 0)
		err = ms_err(ctx, -ENOTCONN, "host addresses fd: no subscription (it failed at open)");
	int fd = err ? err : ctx->host.watch_fd;
	MS_UNLOCK(ctx);
	return fd;
}
