// SPDX-License-Identifier: Apache-2.0
/* Endpoints: validation, datapath entries (endpoint map, ipcache, TC), records, handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "policy_internal.h"

/* A validated request, the same for endpoint_add and endpoint_add_veth. */
struct ep_spec {
	uint32_t ifindex;
	char ifname[IF_NAMESIZE];
	char name[MICROSEG_ENDPOINT_NAME_MAX + 1];
	struct microseg_identity *identity;
	struct ms_addr addrs[MICROSEG_ENDPOINT_ADDRS_MAX];
	size_t naddrs;
	uint8_t mac[6];
};

int ms_endpoints_init(struct microseg_ctx *ctx, uint32_t max_endpoints)
{
	struct ms_endpoints *e = &ctx->eps;
	ms_hmap_init(&e->by_ptr);
	ms_hmap_init(&e->by_ifindex);
	e->max = max_endpoints;
	e->count = 0;
	e->by_id = calloc(max_endpoints, sizeof(*e->by_id));
	return e->by_id ? 0 : -ENOMEM;
}

static bool id_used(struct ms_endpoints *e, uint32_t id)
{
	return id < e->max && e->by_id[id];
}

/* ep NULL frees the id. */
static void id_set(struct ms_endpoints *e, uint32_t id, struct microseg_endpoint *ep)
{
	if (id < e->max)
		e->by_id[id] = ep;
}

/* Lowest free id: ids index the per-CPU stats array, so keep them dense. Id 0 means "none". */
static int alloc_ep_id(struct ms_endpoints *e, struct microseg_endpoint *ep)
{
	for (uint32_t id = 1; id < e->max; id++)
		if (!id_used(e, id)) {
			id_set(e, id, ep);
			ep->ep_id = id;
			return 0;
		}
	return -ENOSPC;
}

static struct microseg_endpoint *checked(struct microseg_ctx *ctx, const struct microseg_endpoint *ep)
{
	for (struct ms_hnode *n = ms_hmap_first(&ctx->eps.by_ptr, ms_hash_u64((uintptr_t)ep)); n; n = ms_hmap_next(n)) {
		struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ptr);
		if (e == ep)
			return e;
	}
	return NULL;
}

static struct microseg_endpoint *by_ifindex(struct microseg_ctx *ctx, uint32_t ifindex)
{
	for (struct ms_hnode *n = ms_hmap_first(&ctx->eps.by_ifindex, ms_hash_u64(ifindex)); n; n = ms_hmap_next(n)) {
		struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ifindex);
		if (e->ifindex == ifindex)
			return e;
	}
	return NULL;
}

/* Calls fn on every endpoint; fn may free the endpoint it is given. */
static void each_endpoint(struct microseg_ctx *ctx, void (*fn)(struct microseg_ctx *, struct microseg_endpoint *))
{
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++) {
		struct ms_hnode *n = m->buckets[b];
		while (n) {
			struct ms_hnode *next = n->next;
			fn(ctx, ms_container_of(n, struct microseg_endpoint, by_ptr));
			n = next;
		}
	}
}

/* Linear in the number of endpoints: a few microseconds at thousands of endpoints, far below
 * the cost of the TC attach that follows. */
static struct microseg_endpoint *addr_owner(struct microseg_ctx *ctx, const struct ms_addr *a)
{
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++)
		for (struct ms_hnode *n = m->buckets[b]; n; n = n->next) {
			struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ptr);
			for (size_t i = 0; i < e->naddrs; i++)
				if (ms_addr_equal(&e->addrs[i], a))
					return e;
		}
	return NULL;
}

static int parse_addrs(struct microseg_ctx *ctx, const char *const *addrs, size_t n, bool allow_prefix,
		       struct ep_spec *s)
{
	if (n && !addrs)
		return ms_err(ctx, -EINVAL, "endpoint: addrs is NULL but n_addrs is %zu", n);
	if (n > MICROSEG_ENDPOINT_ADDRS_MAX)
		return ms_err(ctx, -E2BIG, "endpoint: %zu addresses, at most %d", n, MICROSEG_ENDPOINT_ADDRS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct ms_addr *a = &s->addrs[i];
		if (ms_addr_parse(addrs[i], a))
			return ms_err(ctx, -EINVAL, "endpoint: address %zu (\"%.64s\") is not an IPv4 or IPv6 address",
				      i, addrs[i] ? addrs[i] : "(null)");
		unsigned full = a->family == MS_FAMILY_IPV4 ? 32 : 128;
		if (!allow_prefix && a->prefixlen != full)
			return ms_err(ctx, -EINVAL, "endpoint: address \"%s\" must be a single host (/%u)", addrs[i], full);
		a->prefixlen = (uint8_t)full; /* the endpoint owns exactly this address */
		for (size_t j = 0; j < i; j++)
			if (ms_addr_equal(&s->addrs[j], a))
				return ms_err(ctx, -EEXIST, "endpoint: address \"%s\" given twice", addrs[i]);
		struct microseg_endpoint *owner = addr_owner(ctx, a);
		if (owner)
			return ms_err(ctx, -EEXIST, "endpoint: address \"%s\" belongs to endpoint %u (%s)",
				      addrs[i], owner->ep_id, owner->ifname);
	}
	s->naddrs = n;
	return 0;
}

static int parse_common(struct microseg_ctx *ctx, struct microseg_identity *identity, const char *name,
			uint32_t flags, struct ep_spec *s)
{
	if (ctx->purged)
		return ms_err(ctx, -ESHUTDOWN, "endpoint: instance %s was purged", ctx->instance);
	if (flags)
		return ms_err(ctx, -EINVAL, "endpoint: unknown flags 0x%x", flags);
	if (!identity)
		return ms_err(ctx, -EINVAL, "endpoint: an identity is required");
	if (!(s->identity = ms_identity_checked(ctx, identity)))
		return ms_err(ctx, -ENOENT, "endpoint: identity handle is not live in this context");
	if (name) {
		size_t len = strnlen(name, MICROSEG_ENDPOINT_NAME_MAX + 1);
		if (len > MICROSEG_ENDPOINT_NAME_MAX)
			return ms_err(ctx, -ENAMETOOLONG, "endpoint: name longer than %d bytes", MICROSEG_ENDPOINT_NAME_MAX);
		for (size_t i = 0; i < len; i++)
			if (name[i] <= ' ' || name[i] >= 0x7f)
				return ms_err(ctx, -EINVAL, "endpoint: name may hold printable ASCII without spaces only");
		memcpy(s->name, name, len + 1);
	}
	return 0;
}

static int check_ifname(struct microseg_ctx *ctx, const char *ifname)
{
	size_t len = strnlen(ifname, IF_NAMESIZE);
	if (len >= IF_NAMESIZE)
		return ms_err(ctx, -ENAMETOOLONG, "endpoint: interface name longer than %d bytes", IF_NAMESIZE - 1);
	if (!len || strchr(ifname, '/') || strchr(ifname, ' '))
		return ms_err(ctx, -EINVAL, "endpoint: bad interface name \"%s\"", ifname);
	return 0;
}

static void free_endpoint(struct microseg_ctx *ctx, struct microseg_endpoint *ep)
{
	ms_hmap_remove(&ctx->eps.by_ptr, &ep->by_ptr);
	ms_hmap_remove(&ctx->eps.by_ifindex, &ep->by_ifindex);
	id_set(&ctx->eps, ep->ep_id, NULL);
	ctx->eps.count--;
	ep->magic = 0;
	free(ep);
}

static struct ms_ipcache_value ipcache_value(const struct microseg_endpoint *ep)
{
	return (struct ms_ipcache_value){
		.identity = ep->identity->id,
		.ifindex = ep->ifindex,
		.ep_id = ep->ep_id,
		.flags = MS_IPC_F_LOCAL_EP,
	};
}

static struct ms_endpoint_info endpoint_info(const struct microseg_endpoint *ep)
{
	struct ms_endpoint_info info = {
		.ep_id = ep->ep_id,
		.identity = ep->identity->id,
		.flags = MS_EP_F_ACTIVE,
	};
	memcpy(info.mac, ep->mac, 6);
	return info;
}

/* Removes the kernel side of an endpoint; continues past errors, returns the first. */
static int datapath_remove(struct microseg_ctx *ctx, const struct microseg_endpoint *ep, size_t naddrs)
{
	if (ms_ctx_offline(ctx))
		return 0;
	int first = ms_tc_detach(ctx, ep->ifindex);
	for (size_t i = 0; i < naddrs; i++) {
		int err = ms_dp_ipcache_del(ctx, &ep->addrs[i]);
		if (!first)
			first = err;
	}
	int err = ms_dp_endpoint_del(ctx, ep->ifindex);
	return first ? first : err;
}

/* Kernel side: counters zeroed, endpoint entry and ipcache before the programs, so the very
 * first packet the programs see finds its endpoint. Rolls back on failure. */
static int datapath_add(struct microseg_ctx *ctx, struct microseg_endpoint *ep)
{
	if (ms_ctx_offline(ctx))
		return ms_policy_sync(ctx);
	int err = ms_dp_stats_reset(ctx, ep->ep_id);
	if (err)
		return err;
	struct ms_endpoint_info info = endpoint_info(ep);
	err = ms_dp_endpoint_set(ctx, ep->ifindex, &info);
	if (err)
		return err;
	struct ms_ipcache_value v = ipcache_value(ep);
	size_t done = 0;
	for (; done < ep->naddrs; done++) {
		err = ms_dp_ipcache_set(ctx, &ep->addrs[done], &v);
		if (err)
			goto rollback;
	}
	/* Its policy (and its identity in every peer's policy) is in place before the first
	 * packet can reach the programs: an endpoint under policy is never open, not even
	 * for a moment. */
	err = ms_policy_sync(ctx);
	if (!err)
		err = ms_tc_attach(ctx, ep->ifindex);
	if (!err)
		return 0;
rollback:;
	char saved[sizeof(ctx->last_error)];
	memcpy(saved, ctx->last_error, sizeof(saved));
	datapath_remove(ctx, ep, done);
	memcpy(ctx->last_error, saved, sizeof(saved));
	return err;
}

static int endpoint_add_locked(struct microseg_ctx *ctx, const struct ep_spec *s, struct microseg_endpoint **out)
{
	if (by_ifindex(ctx, s->ifindex))
		return ms_err(ctx, -EEXIST, "endpoint: interface %s (ifindex %u) already is an endpoint",
			      s->ifname, s->ifindex);
	struct microseg_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->magic = MS_ENDPOINT_MAGIC;
	ep->ifindex = s->ifindex;
	memcpy(ep->ifname, s->ifname, sizeof(ep->ifname));
	memcpy(ep->name, s->name, sizeof(ep->name));
	ep->identity = s->identity;
	ep->naddrs = s->naddrs;
	memcpy(ep->mac, s->mac, 6);
	for (size_t i = 0; i < s->naddrs; i++) {
		ep->addrs[i] = s->addrs[i];
		ms_addr_format(&s->addrs[i], ep->addr_text[i], MS_ADDR_STRLEN);
	}
	int err = alloc_ep_id(&ctx->eps, ep);
	if (err) {
		free(ep);
		return ms_err(ctx, err, "endpoint: all %u endpoint slots are in use", ctx->eps.max - 1);
	}
	if (ms_hmap_insert(&ctx->eps.by_ptr, &ep->by_ptr, ms_hash_u64((uintptr_t)ep)) ||
	    ms_hmap_insert(&ctx->eps.by_ifindex, &ep->by_ifindex, ms_hash_u64(ep->ifindex))) {
		ctx->eps.count++;
		free_endpoint(ctx, ep);
		return -ENOMEM;
	}
	ctx->eps.count++;
	err = datapath_add(ctx, ep);
	if (!err) {
		err = ms_state_save_endpoint(ctx, ep);
		if (err)
			datapath_remove(ctx, ep, ep->naddrs);
	}
	if (err) {
		free_endpoint(ctx, ep);
		/* The failed endpoint's identity may have reached peers' tables: publish them
		 * without it (keeping the error that explains the failure). */
		char saved[sizeof(ctx->last_error)];
		memcpy(saved, ctx->last_error, sizeof(saved));
		ms_policy_sync(ctx);
		memcpy(ctx->last_error, saved, sizeof(saved));
		return err;
	}
	ms_identity_ref(ep->identity);
	ms_log(ctx, MICROSEG_LOG_INFO, "endpoint %u added on %s (ifindex %u), identity %u", ep->ep_id,
	       ep->ifname, ep->ifindex, ep->identity->id);
	*out = ep;
	return 0;
}

MICROSEG_API int microseg_endpoint_add(struct microseg_ctx *ctx, const struct microseg_endpoint_opts *opts,
				       struct microseg_endpoint **ep)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "endpoint add");
	struct ep_spec s = { 0 };
	int err;
	if (!opts || !ep) {
		err = ms_err(ctx, -EINVAL, "endpoint: opts and ep are required");
		goto out;
	}
	if (!MS_OPTS_OK(opts, struct microseg_endpoint_opts)) {
		err = ms_err(ctx, -EINVAL, "endpoint: opts->sz is wrong or unknown fields are set");
		goto out;
	}
	err = parse_common(ctx, MS_OPT(opts, identity, NULL), MS_OPT(opts, name, NULL), MS_OPT(opts, flags, 0), &s);
	if (err)
		goto out;
	const char *ifname = MS_OPT(opts, ifname, NULL);
	uint32_t ifindex = MS_OPT(opts, ifindex, 0);
	if (!ifname && !ifindex) {
		err = ms_err(ctx, -EINVAL, "endpoint: ifname or ifindex is required");
		goto out;
	}
	if (ifname && (err = check_ifname(ctx, ifname)))
		goto out;
	s.ifindex = ifindex;
	err = ms_nl_ifindex(ifname, &s.ifindex, s.ifname);
	if (err) {
		err = ms_err(ctx, err, "endpoint: no interface %s", ifname ? ifname : "with that ifindex");
		goto out;
	}
	if (ifname && ifindex && s.ifindex != ifindex) {
		err = ms_err(ctx, -EINVAL, "endpoint: %s has ifindex %u, not %u", ifname, s.ifindex, ifindex);
		goto out;
	}
	const char *mac = MS_OPT(opts, mac, NULL);
	if (mac && ms_mac_parse(mac, s.mac)) {
		err = ms_err(ctx, -EINVAL, "endpoint: bad MAC \"%.32s\" (want aa:bb:cc:dd:ee:ff)", mac);
		goto out;
	}
	err = parse_addrs(ctx, MS_OPT(opts, addrs, NULL), MS_OPT(opts, n_addrs, 0), false, &s);
	if (!err)
		err = endpoint_add_locked(ctx, &s, ep);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_endpoint_add_veth(struct microseg_ctx *ctx, const struct microseg_veth_opts *opts,
					    struct microseg_endpoint **ep)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "veth");
	struct ep_spec s = { 0 };
	int err;
	if (!opts || !ep) {
		err = ms_err(ctx, -EINVAL, "veth: opts and ep are required");
		goto out;
	}
	if (!MS_OPTS_OK(opts, struct microseg_veth_opts)) {
		err = ms_err(ctx, -EINVAL, "veth: opts->sz is wrong or unknown fields are set");
		goto out;
	}
	err = parse_common(ctx, MS_OPT(opts, identity, NULL), MS_OPT(opts, name, NULL), MS_OPT(opts, flags, 0), &s);
	if (err)
		goto out;
	const char *host = MS_OPT(opts, host_ifname, NULL);
	const char *peer = MS_OPT(opts, peer_ifname, NULL);
	const char *netns = MS_OPT(opts, netns_path, NULL);
	if (!peer)
		peer = "eth0";
	if (!host || !netns) {
		err = ms_err(ctx, -EINVAL, "veth: host_ifname and netns_path are required");
		goto out;
	}
	if ((err = check_ifname(ctx, host)) || (err = check_ifname(ctx, peer)))
		goto out;
	if (if_nametoindex(host)) {
		err = ms_err(ctx, -EEXIST, "veth: interface %s already exists", host);
		goto out;
	}
	err = parse_addrs(ctx, MS_OPT(opts, addrs, NULL), MS_OPT(opts, n_addrs, 0), true, &s);
	if (err)
		goto out;
	if (ms_ctx_offline(ctx)) {
		err = ms_err(ctx, -EOPNOTSUPP, "veth: a context without datapath creates no interfaces");
		goto out;
	}
	struct ms_veth_req req = {
		.host_ifname = host,
		.peer_ifname = peer,
		.netns_path = netns,
		.addrs = s.addrs,
		.naddrs = s.naddrs,
		.mtu = MS_OPT(opts, mtu, 0),
	};
	err = ms_nl_veth_create(ctx, &req, &s.ifindex, s.mac);
	if (err)
		goto out;
	snprintf(s.ifname, sizeof(s.ifname), "%s", host);
	err = endpoint_add_locked(ctx, &s, ep);
	if (err) {
		char saved[sizeof(ctx->last_error)];
		memcpy(saved, ctx->last_error, sizeof(saved));
		ms_nl_link_delete(ctx, s.ifindex);
		memcpy(ctx->last_error, saved, sizeof(saved));
	}
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_endpoint_remove(struct microseg_ctx *ctx, struct microseg_endpoint *ep, uint32_t flags)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "endpoint remove");
	int err = 0;
	struct microseg_endpoint *e = ep ? checked(ctx, ep) : NULL;
	if (!ep)
		err = ms_err(ctx, -EINVAL, "endpoint remove: handle is NULL");
	else if (!e)
		err = ms_err(ctx, -ENOENT, "endpoint remove: handle is not a live endpoint of this context");
	else if (flags & ~MICROSEG_ENDPOINT_REMOVE_DELETE_LINK)
		err = ms_err(ctx, -EINVAL, "endpoint remove: unknown flags 0x%x", flags);
	if (err)
		goto out;
	/* Kernel errors here leave nothing half-attached worth keeping: report them, but the
	 * endpoint is gone either way. */
	err = datapath_remove(ctx, e, e->naddrs);
	ms_state_drop_endpoint(ctx, e->ep_id);
	if ((flags & MICROSEG_ENDPOINT_REMOVE_DELETE_LINK) && !ms_ctx_offline(ctx)) {
		int lerr = ms_nl_link_delete(ctx, e->ifindex);
		if (!err)
			err = lerr;
	}
	ms_log(ctx, MICROSEG_LOG_INFO, "endpoint %u removed from %s", e->ep_id, e->ifname);
	ms_identity_unref(ctx, e->identity);
	free_endpoint(ctx, e);
	/* Peers' tables may name an identity nobody holds any more. */
	int perr = ms_policy_sync(ctx);
	if (perr)
		ms_log(ctx, MICROSEG_LOG_WARN, "policy resync after endpoint removal failed: %s", microseg_strerror(perr));
out:
	MS_UNLOCK(ctx);
	return err;
}

/* Rewrites the endpoint entry and every ipcache entry with ep->identity; on failure restores
 * what it changed from `old`. */
static int datapath_set_identity(struct microseg_ctx *ctx, struct microseg_endpoint *ep,
				 struct microseg_identity *old)
{
	if (ms_ctx_offline(ctx))
		return 0;
	struct ms_endpoint_info info = endpoint_info(ep);
	int err = ms_dp_endpoint_set(ctx, ep->ifindex, &info);
	size_t done = 0;
	struct ms_ipcache_value v = ipcache_value(ep);
	for (; !err && done < ep->naddrs; done++)
		err = ms_dp_ipcache_set(ctx, &ep->addrs[done], &v);
	if (!err)
		return 0;
	ep->identity = old;
	info = endpoint_info(ep);
	v = ipcache_value(ep);
	ms_dp_endpoint_set(ctx, ep->ifindex, &info);
	for (size_t i = 0; i < done; i++)
		ms_dp_ipcache_set(ctx, &ep->addrs[i], &v);
	return err;
}

MICROSEG_API int microseg_endpoint_set_identity(struct microseg_ctx *ctx, struct microseg_endpoint *ep,
						struct microseg_identity *id)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "endpoint set_identity");
	int err = 0;
	struct microseg_endpoint *e = ep ? checked(ctx, ep) : NULL;
	struct microseg_identity *i = id ? ms_identity_checked(ctx, id) : NULL;
	if (!ep || !id)
		err = ms_err(ctx, -EINVAL, "endpoint set_identity: NULL handle");
	else if (!e)
		err = ms_err(ctx, -ENOENT, "endpoint set_identity: not a live endpoint of this context");
	else if (!i)
		err = ms_err(ctx, -ENOENT, "endpoint set_identity: not a live identity of this context");
	if (err || e->identity == i)
		goto out;
	struct microseg_identity *old = e->identity;
	e->identity = i;
	err = datapath_set_identity(ctx, e, old);
	if (!err && (err = ms_state_save_endpoint(ctx, e))) {
		e->identity = old;
		datapath_set_identity(ctx, e, i);
		e->identity = old;
	}
	if (!err && (err = ms_policy_sync(ctx))) {
		/* The new identity's policy cannot be published: keep the old one in force. */
		char saved[sizeof(ctx->last_error)];
		memcpy(saved, ctx->last_error, sizeof(saved));
		e->identity = old;
		datapath_set_identity(ctx, e, i);
		e->identity = old;
		ms_state_save_endpoint(ctx, e);
		memcpy(ctx->last_error, saved, sizeof(saved));
	}
	if (err) {
		e->identity = old;
		goto out;
	}
	ms_identity_ref(i);
	ms_identity_unref(ctx, old);
	ms_log(ctx, MICROSEG_LOG_INFO, "endpoint %u now has identity %u", e->ep_id, i->id);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_endpoint_lookup(struct microseg_ctx *ctx, const char *name, struct microseg_endpoint **ep)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = -ENOENT;
	if (!name || !ep) {
		err = ms_err(ctx, -EINVAL, "endpoint lookup: NULL argument");
		goto out;
	}
	/* An interface name wins over an endpoint name: look for one before the other. */
	struct microseg_endpoint *found = NULL, *by_name = NULL;
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets && !found; b++)
		for (struct ms_hnode *n = m->buckets[b]; n && !found; n = n->next) {
			struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ptr);
			if (!strcmp(e->ifname, name))
				found = e;
			else if (!by_name && e->name[0] && !strcmp(e->name, name))
				by_name = e;
		}
	if (!found)
		found = by_name;
	if (found) {
		*ep = found;
		err = 0;
	} else {
		err = ms_err(ctx, -ENOENT, "endpoint lookup: no endpoint \"%.64s\"", name);
	}
out:
	MS_UNLOCK(ctx);
	return err;
}

static int cmp_ep(const void *a, const void *b)
{
	uint32_t x = (*(struct microseg_endpoint *const *)a)->ep_id;
	uint32_t y = (*(struct microseg_endpoint *const *)b)->ep_id;
	return x < y ? -1 : x > y;
}

MICROSEG_API int microseg_endpoint_list(struct microseg_ctx *ctx, struct microseg_endpoint **eps, size_t cap,
					size_t *count)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!count || (!eps && cap)) {
		err = ms_err(ctx, -EINVAL, "endpoint list: NULL count or buffer");
		goto out;
	}
	size_t total = ctx->eps.count;
	struct microseg_endpoint **all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		err = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++)
		for (struct ms_hnode *n = m->buckets[b]; n; n = n->next)
			all[k++] = ms_container_of(n, struct microseg_endpoint, by_ptr);
	err = ms_list_out(all, k, sizeof(*all), cmp_ep, eps, cap, count);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API uint32_t microseg_endpoint_id(const struct microseg_endpoint *ep)
{
	return ep ? ep->ep_id : 0;
}

MICROSEG_API uint32_t microseg_endpoint_ifindex(const struct microseg_endpoint *ep)
{
	return ep ? ep->ifindex : 0;
}

MICROSEG_API const char *microseg_endpoint_ifname(const struct microseg_endpoint *ep)
{
	return ep ? ep->ifname : NULL;
}

MICROSEG_API const char *microseg_endpoint_name(const struct microseg_endpoint *ep)
{
	return ep ? ep->name : NULL;
}

MICROSEG_API struct microseg_identity *microseg_endpoint_identity(const struct microseg_endpoint *ep)
{
	return ep ? ep->identity : NULL;
}

MICROSEG_API size_t microseg_endpoint_addr_count(const struct microseg_endpoint *ep)
{
	return ep ? ep->naddrs : 0;
}

MICROSEG_API const char *microseg_endpoint_addr(const struct microseg_endpoint *ep, size_t i)
{
	return ep && i < ep->naddrs ? ep->addr_text[i] : NULL;
}

MICROSEG_API int microseg_endpoint_get_stats(struct microseg_ctx *ctx, const struct microseg_endpoint *ep,
					     struct microseg_endpoint_stats *stats)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	const struct microseg_endpoint *e = ep ? checked(ctx, ep) : NULL;
	if (!ep || !stats || stats->sz < offsetof(struct microseg_endpoint_stats, egress_packets) + sizeof(uint64_t))
		err = ms_err(ctx, -EINVAL, "endpoint stats: NULL argument or stats->sz too small");
	else if (!e)
		err = ms_err(ctx, -ENOENT, "endpoint stats: not a live endpoint of this context");
	if (err)
		goto out;
	struct ms_ep_stats sum = { 0 };
	if (!ms_ctx_offline(ctx) && (err = ms_dp_stats_read(ctx, e->ep_id, &sum)))
		goto out;
	struct microseg_endpoint_stats out = { .sz = sizeof(out) };
	out.egress_packets = sum.fwd[MS_DIR_EGRESS].packets;
	out.egress_bytes = sum.fwd[MS_DIR_EGRESS].bytes;
	out.ingress_packets = sum.fwd[MS_DIR_INGRESS].packets;
	out.ingress_bytes = sum.fwd[MS_DIR_INGRESS].bytes;
	for (int r = 0; r < MS_DROP_MAX; r++) {
		out.egress_dropped += sum.drop[MS_DIR_EGRESS][r].packets;
		out.ingress_dropped += sum.drop[MS_DIR_INGRESS][r].packets;
		out.egress_drops_by_reason[r] = sum.drop[MS_DIR_EGRESS][r].packets;
		out.ingress_drops_by_reason[r] = sum.drop[MS_DIR_INGRESS][r].packets;
	}
	size_t n = stats->sz < sizeof(out) ? stats->sz : sizeof(out);
	size_t keep = stats->sz;
	memcpy(stats, &out, n);
	stats->sz = keep;
out:
	MS_UNLOCK(ctx);
	return err;
}

/* ---- restore, reconcile, purge ---- */

/* An endpoint record is live if its interface still has its name and the kernel endpoint map
 * still points at the same endpoint id; otherwise its kernel leftovers are removed. */
int ms_endpoint_restore(struct microseg_ctx *ctx, const struct microseg_endpoint *rec, uint32_t identity)
{
	struct microseg_identity *id = ms_identity_by_id(ctx, identity);
	char now[IF_NAMESIZE] = "";
	struct ms_endpoint_info info;
	bool iface_ok = if_indextoname(rec->ifindex, now) && !strcmp(now, rec->ifname);
	bool map_ok = !bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_ENDPOINTS], &rec->ifindex, &info) &&
		      info.ep_id == rec->ep_id;
	if (!id || !iface_ok || !map_ok || rec->ep_id == 0 || rec->ep_id >= ctx->eps.max ||
	    id_used(&ctx->eps, rec->ep_id) || by_ifindex(ctx, rec->ifindex)) {
		if (ms_ctx_read_only(ctx))
			return 0; /* a looker leaves the cleaning to the manager */
		ms_log(ctx, MICROSEG_LOG_WARN, "state: endpoint %u on %s is gone, cleaning up its entries",
		       rec->ep_id, rec->ifname);
		for (size_t i = 0; i < rec->naddrs; i++)
			ms_dp_ipcache_del(ctx, &rec->addrs[i]);
		if (map_ok) {
			if (iface_ok)
				ms_tc_detach(ctx, rec->ifindex);
			ms_dp_endpoint_del(ctx, rec->ifindex);
		}
		ctx->restoring = false;
		ms_state_drop_endpoint(ctx, rec->ep_id);
		ctx->restoring = true;
		return 0;
	}
	struct microseg_endpoint *ep = malloc(sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	*ep = *rec;
	ep->magic = MS_ENDPOINT_MAGIC;
	ep->identity = id;
	if (ms_hmap_insert(&ctx->eps.by_ptr, &ep->by_ptr, ms_hash_u64((uintptr_t)ep))) {
		free(ep);
		return -ENOMEM;
	}
	if (ms_hmap_insert(&ctx->eps.by_ifindex, &ep->by_ifindex, ms_hash_u64(ep->ifindex))) {
		ms_hmap_remove(&ctx->eps.by_ptr, &ep->by_ptr);
		free(ep);
		return -ENOMEM;
	}
	id_set(&ctx->eps, ep->ep_id, ep);
	ctx->eps.count++;
	ms_identity_ref(id);
	return 0;
}

/* Collects the ipcache entries of local endpoints this context does not have. */
struct stale_addrs {
	struct microseg_ctx *ctx;
	struct ms_addr *v;
	size_t n, cap;
};

static int stale_ipcache_one(void *user, const struct ms_addr *a, const struct ms_ipcache_value *v)
{
	struct stale_addrs *g = user;
	if (!(v->flags & MS_IPC_F_LOCAL_EP))
		return 0;
	struct microseg_endpoint *e = by_ifindex(g->ctx, v->ifindex);
	if (e && e->ep_id == v->ep_id)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct ms_addr *p = realloc(g->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM; /* what was found is still removed */
		g->v = p;
		g->cap = cap;
	}
	g->v[g->n++] = *a;
	return 0;
}

int ms_endpoints_reconcile(struct microseg_ctx *ctx)
{
	uint32_t key, next;
	uint32_t *stale = NULL;
	size_t nstale = 0, cap = 0;
	int fd = ctx->dp.map_fd[MS_M_ENDPOINTS];
	for (int err = bpf_map_get_next_key(fd, NULL, &next); !err; err = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		if (by_ifindex(ctx, key))
			continue;
		if (nstale == cap) {
			cap = cap ? cap * 2 : 16;
			uint32_t *v = realloc(stale, cap * sizeof(*v));
			if (!v)
				break;
			stale = v;
		}
		stale[nstale++] = key;
	}
	for (size_t i = 0; i < nstale; i++) {
		ms_log(ctx, MICROSEG_LOG_WARN, "ifindex %u has datapath entries but no record: detaching", stale[i]);
		ms_tc_detach(ctx, stale[i]);
		ms_dp_endpoint_del(ctx, stale[i]);
	}
	free(stale);

	/* ipcache entries of local endpoints that are not ours any more. */
	struct stale_addrs gone = { ctx, NULL, 0, 0 };
	ms_dp_ipcache_walk(ctx, stale_ipcache_one, &gone);
	for (size_t i = 0; i < gone.n; i++)
		ms_dp_ipcache_del(ctx, &gone.v[i]);
	free(gone.v);
	return 0;
}

static void detach_one(struct microseg_ctx *ctx, struct microseg_endpoint *ep)
{
	datapath_remove(ctx, ep, ep->naddrs);
	ms_identity_unref(ctx, ep->identity);
	free_endpoint(ctx, ep);
}

int ms_endpoints_detach_all(struct microseg_ctx *ctx)
{
	each_endpoint(ctx, detach_one);
	return 0;
}

static void free_one(struct microseg_ctx *ctx, struct microseg_endpoint *ep)
{
	free_endpoint(ctx, ep);
}

void ms_endpoints_free(struct microseg_ctx *ctx)
{
	each_endpoint(ctx, free_one);
	ms_hmap_free(&ctx->eps.by_ptr);
	ms_hmap_free(&ctx->eps.by_ifindex);
	free(ctx->eps.by_id);
	ctx->eps.by_id = NULL;
}

struct microseg_endpoint *ms_endpoint_by_id(struct microseg_ctx *ctx, uint32_t ep_id)
{
	return ctx->eps.by_id && ep_id < ctx->eps.max ? ctx->eps.by_id[ep_id] : NULL;
}

