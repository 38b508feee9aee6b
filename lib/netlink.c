// SPDX-License-Identifier: Apache-2.0
/*
 * Links, addresses and routes through libnl-route-3 (no shelling out to ip/tc). libnl returns
 * -NLE_* codes: nl_to_errno() is the one place that turns them into errno.
 */
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <linux/fib_rules.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "internal.h"

static int nl_to_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0: return 0;
	case NLE_EXIST: return -EEXIST;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_INVAL: return -EINVAL;
	case NLE_BUSY: return -EBUSY;
	case NLE_RANGE: return -ERANGE;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_NOATTR: return -EINVAL;
	default: return -EIO;
	}
}

static int nl_fail(struct microseg_ctx *ctx, int nlerr, const char *what)
{
	return ms_err(ctx, nl_to_errno(nlerr), "netlink: %s: %s", what, nl_geterror(nlerr));
}

int ms_nl_ifindex(const char *name, uint32_t *ifindex, char ifname[IF_NAMESIZE])
{
	if (name) {
		unsigned idx = if_nametoindex(name);
		if (!idx)
			return -ENODEV;
		*ifindex = idx;
		snprintf(ifname, IF_NAMESIZE, "%s", name);
		return 0;
	}
	if (!if_indextoname(*ifindex, ifname))
		return -ENODEV;
	return 0;
}

static struct nl_sock *open_sock(struct microseg_ctx *ctx, int *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk) {
		*err = -ENOMEM;
		return NULL;
	}
	int e = nl_connect(sk, NETLINK_ROUTE);
	if (e < 0) {
		*err = nl_fail(ctx, e, "connect");
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* A route socket inside another network namespace: the namespace a socket lives in is fixed
 * when it is created, so switch this thread in, create, and switch back. */
static struct nl_sock *open_sock_in(struct microseg_ctx *ctx, int nsfd, int *err)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		*err = ms_err(ctx, -errno, "cannot open own network namespace");
		return NULL;
	}
	struct nl_sock *sk = NULL;
	if (setns(nsfd, CLONE_NEWNET)) {
		*err = ms_err(ctx, -errno, "cannot enter the container's network namespace");
		goto out;
	}
	sk = open_sock(ctx, err);
	if (setns(self, CLONE_NEWNET)) {
		/* Cannot happen with a valid fd; a thread left in the wrong namespace would be worse
		 * than a failed call, so say it loudly. */
		ms_log(ctx, MICROSEG_LOG_ERROR, "cannot return to the original network namespace");
	}
out:
	close(self);
	return sk;
}

static struct nl_addr *build_addr(const struct ms_addr *a, unsigned prefixlen)
{
	struct nl_addr *na = nl_addr_build(a->family == MS_FAMILY_IPV4 ? AF_INET : AF_INET6, a->bytes,
					   a->family == MS_FAMILY_IPV4 ? 4 : 16);
	if (na)
		nl_addr_set_prefixlen(na, (int)prefixlen);
	return na;
}

static int add_addr(struct microseg_ctx *ctx, struct nl_sock *sk, int ifindex, const struct ms_addr *a,
		    unsigned prefixlen, int scope)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local = build_addr(a, prefixlen);
	int err = -ENOMEM;
	if (!ra || !local)
		goto out;
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_local(ra, local);
	/* No duplicate address detection: the address is ours by construction, and a tentative
	 * IPv6 address would make the first seconds of the container's life unroutable. */
	rtnl_addr_set_flags(ra, IFA_F_NODAD);
	if (scope >= 0)
		rtnl_addr_set_scope(ra, scope);
	err = rtnl_addr_add(sk, ra, 0);
	if (err < 0) {
		char txt[MS_ADDR_STRLEN];
		ms_addr_format(a, txt, sizeof(txt));
		err = nl_fail(ctx, err, txt);
	}
out:
	nl_addr_put(local);
	rtnl_addr_put(ra);
	return err;
}

/* dst/dst_len via gw (gw NULL: on-link) out of ifindex. */
static int add_route(struct microseg_ctx *ctx, struct nl_sock *sk, int ifindex, const struct ms_addr *dst,
		     unsigned dst_len, const struct ms_addr *gw)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *d = build_addr(dst, dst_len), *g = gw ? build_addr(gw, gw->prefixlen) : NULL;
	int err = -ENOMEM;
	if (!r || !nh || !d || (gw && !g))
		goto out;
	rtnl_route_set_family(r, dst->family == MS_FAMILY_IPV4 ? AF_INET : AF_INET6);
	rtnl_route_set_dst(r, d);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_protocol(r, RTPROT_BOOT);
	rtnl_route_set_scope(r, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (g)
		rtnl_route_nh_set_gateway(nh, g);
	rtnl_route_add_nexthop(r, nh);
	nh = NULL; /* owned by the route now */
	err = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
	if (err < 0)
		err = nl_fail(ctx, err, "route");
out:
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(d);
	nl_addr_put(g);
	rtnl_route_put(r);
	return err;
}

static int get_link(struct microseg_ctx *ctx, struct nl_sock *sk, const char *name, struct rtnl_link **out)
{
	int err = rtnl_link_get_kernel(sk, 0, name, out);
	return err < 0 ? nl_fail(ctx, err, name) : 0;
}

static int link_up(struct microseg_ctx *ctx, struct nl_sock *sk, struct rtnl_link *link)
{
	struct rtnl_link *change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	int err = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	return err < 0 ? nl_fail(ctx, err, "link up") : 0;
}

/* Writes a per-interface sysctl of the calling thread's namespace; best effort. */
static void set_ipv6_conf(const char *ifname, const char *knob, const char *val)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, knob);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0) {
		/* IPv6 disabled: IPv4 still works, nothing to do. */
	}
	close(fd);
}

static int gateway(int family, struct ms_addr *gw)
{
	return ms_addr_parse(family == MS_FAMILY_IPV4 ? MICROSEG_GATEWAY_IPV4 : MICROSEG_GATEWAY_IPV6, gw);
}

/* Container side: addresses as host routes, default routes through the gateways, links up. */
static int config_peer(struct microseg_ctx *ctx, int nsfd, const struct ms_veth_req *req, uint8_t mac[6])
{
	int err;
	struct nl_sock *sk = open_sock_in(ctx, nsfd, &err);
	if (!sk)
		return err;
	struct rtnl_link *peer = NULL, *lo = NULL;
	err = get_link(ctx, sk, req->peer_ifname, &peer);
	if (err)
		goto out;
	struct nl_addr *ll = rtnl_link_get_addr(peer);
	if (ll && nl_addr_get_len(ll) == 6)
		memcpy(mac, nl_addr_get_binary_addr(ll), 6);
	int idx = rtnl_link_get_ifindex(peer);
	bool has4 = false, has6 = false;
	for (size_t i = 0; i < req->naddrs; i++) {
		const struct ms_addr *a = &req->addrs[i];
		bool v4 = a->family == MS_FAMILY_IPV4;
		err = add_addr(ctx, sk, idx, a, v4 ? 32 : 128, -1);
		if (err)
			goto out;
		has4 |= v4;
		has6 |= !v4;
	}
	if (!get_link(ctx, sk, "lo", &lo))
		link_up(ctx, sk, lo);
	err = link_up(ctx, sk, peer);
	if (err)
		goto out;
	struct ms_addr gw, any = { 0 };
	if (has4) {
		gateway(MS_FAMILY_IPV4, &gw);
		any.family = MS_FAMILY_IPV4;
		err = add_route(ctx, sk, idx, &gw, 32, NULL);
		if (!err)
			err = add_route(ctx, sk, idx, &any, 0, &gw);
		if (err)
			goto out;
	}
	if (has6) {
		gateway(MS_FAMILY_IPV6, &gw);
		any.family = MS_FAMILY_IPV6;
		err = add_route(ctx, sk, idx, &any, 0, &gw);
	}
out:
	if (lo)
		rtnl_link_put(lo);
	if (peer)
		rtnl_link_put(peer);
	nl_socket_free(sk);
	return err;
}

/* Host side: the gateway addresses (so the kernel answers ARP/ND for them), routes to the
 * container's addresses, link up. */
static int config_host(struct microseg_ctx *ctx, struct nl_sock *sk, const struct ms_veth_req *req,
		       struct rtnl_link *host)
{
	int idx = rtnl_link_get_ifindex(host);
	struct ms_addr gw4, gw6;
	gateway(MS_FAMILY_IPV4, &gw4);
	gateway(MS_FAMILY_IPV6, &gw6);
	set_ipv6_conf(req->host_ifname, "accept_dad", "0");
	int err = add_addr(ctx, sk, idx, &gw4, 32, RT_SCOPE_LINK);
	if (!err)
		err = add_addr(ctx, sk, idx, &gw6, 64, -1);
	if (!err)
		err = link_up(ctx, sk, host);
	for (size_t i = 0; !err && i < req->naddrs; i++) {
		const struct ms_addr *a = &req->addrs[i];
		err = add_route(ctx, sk, idx, a, a->family == MS_FAMILY_IPV4 ? 32 : 128, NULL);
	}
	return err;
}

int ms_nl_veth_create(struct microseg_ctx *ctx, const struct ms_veth_req *req, uint32_t *host_ifindex,
		      uint8_t peer_mac[6])
{
	int err;
	int nsfd = open(req->netns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return ms_err(ctx, errno == ENOENT ? -ENOENT : -errno, "netns %s: %s", req->netns_path,
			      microseg_strerror(-errno));
	struct nl_sock *sk = open_sock(ctx, &err);
	if (!sk) {
		close(nsfd);
		return err;
	}
	struct rtnl_link *veth = rtnl_link_veth_alloc(), *host = NULL;
	if (!veth) {
		err = -ENOMEM;
		goto out;
	}
	struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(veth, req->host_ifname);
	rtnl_link_set_name(peer, req->peer_ifname);
	rtnl_link_set_ns_fd(peer, nsfd);
	if (req->mtu) {
		rtnl_link_set_mtu(veth, req->mtu);
		rtnl_link_set_mtu(peer, req->mtu);
	}
	rtnl_link_put(peer);
	err = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		err = nl_fail(ctx, err, req->host_ifname);
		goto out;
	}
	err = get_link(ctx, sk, req->host_ifname, &host);
	if (err)
		goto out;
	*host_ifindex = (uint32_t)rtnl_link_get_ifindex(host);
	err = config_peer(ctx, nsfd, req, peer_mac);
	if (!err)
		err = config_host(ctx, sk, req, host);
	if (err) {
		/* Deleting one end deletes the pair, peer included. */
		rtnl_link_delete(sk, host);
	}
out:
	if (host)
		rtnl_link_put(host);
	if (veth)
		rtnl_link_put(veth);
	nl_socket_free(sk);
	close(nsfd);
	return err;
}

int ms_nl_link_delete(struct microseg_ctx *ctx, uint32_t ifindex)
{
	int err;
	struct nl_sock *sk = open_sock(ctx, &err);
	if (!sk)
		return err;
	struct rtnl_link *l = rtnl_link_alloc();
	if (!l) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	rtnl_link_set_ifindex(l, (int)ifindex);
	err = rtnl_link_delete(sk, l);
	if (err < 0 && err != -NLE_NODEV && err != -NLE_OBJ_NOTFOUND)
		err = nl_fail(ctx, err, "link delete");
	else
		err = 0;
	rtnl_link_put(l);
	nl_socket_free(sk);
	return err;
}

struct host_addr_walk {
	struct microseg_ctx *ctx;
	int (*fn)(struct microseg_ctx *, const struct ms_addr *);
	int err;
};

static void host_addr_one(struct nl_object *obj, void *arg)
{
	struct host_addr_walk *w = arg;
	struct nl_addr *local = rtnl_addr_get_local((struct rtnl_addr *)obj);
	if (!local || w->err)
		return;
	struct ms_addr a = { 0 };
	int fam = nl_addr_get_family(local);
	unsigned len = nl_addr_get_len(local);
	if (fam == AF_INET && len == 4) {
		a.family = MS_FAMILY_IPV4;
		a.prefixlen = 32;
	} else if (fam == AF_INET6 && len == 16) {
		a.family = MS_FAMILY_IPV6;
		a.prefixlen = 128;
	} else {
		return;
	}
	memcpy(a.bytes, nl_addr_get_binary_addr(local), len);
	w->err = w->fn(w->ctx, &a);
}

int ms_nl_host_addrs(struct microseg_ctx *ctx, int (*fn)(struct microseg_ctx *, const struct ms_addr *))
{
	int err;
	struct nl_sock *sk = open_sock(ctx, &err);
	if (!sk)
		return err;
	struct nl_cache *cache = NULL;
	err = rtnl_addr_alloc_cache(sk, &cache);
	if (err < 0) {
		err = nl_fail(ctx, err, "address dump");
	} else {
		struct host_addr_walk w = { ctx, fn, 0 };
		nl_cache_foreach(cache, host_addr_one, &w);
		err = w.err;
		nl_cache_free(cache);
	}
	nl_socket_free(sk);
	return err;
}

/*
 * Makes sure the interface has a clsact qdisc, as `tc qdisc replace dev X clsact` does: an
 * existing one is kept with its filters. Done here rather than with bpf_tc_hook_create(),
 * whose "exists" answer libbpf prints on stderr through its process-wide print callback.
 */
int ms_nl_clsact_ensure(struct microseg_ctx *ctx, uint32_t ifindex)
{
	int err;
	struct nl_sock *sk = open_sock(ctx, &err);
	if (!sk)
		return err;
	struct tcmsg tc = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = (int)ifindex,
		.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0),
		.tcm_parent = TC_H_CLSACT,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
	err = -ENOMEM;
	if (msg && nlmsg_append(msg, &tc, sizeof(tc), NLMSG_ALIGNTO) >= 0 && nla_put_string(msg, TCA_KIND, "clsact") >= 0) {
		err = nl_send_auto(sk, msg);
		if (err >= 0)
			err = nl_wait_for_ack(sk);
		err = err < 0 ? nl_fail(ctx, err, "clsact qdisc") : 0;
	}
	nlmsg_free(msg);
	nl_socket_free(sk);
	return err;
}

/*
 * The routing the L7 proxy needs: packets carrying `mark` (set by the datapath when it hands
 * a packet to the proxy's socket) look up `table`, which delivers everything locally, so the
 * host stack accepts packets addressed to a container for the proxy. Both families. add=false
 * removes what add=true made (missing pieces are not an error).
 */
static int tproxy_rule(struct microseg_ctx *ctx, struct nl_sock *sk, int family, bool add, uint32_t mark,
		       uint32_t table, uint32_t pref)
{
	struct rtnl_rule *r = rtnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	rtnl_rule_set_family(r, family);
	rtnl_rule_set_mark(r, mark);
	rtnl_rule_set_mask(r, 0xffffffff);
	rtnl_rule_set_table(r, table);
	rtnl_rule_set_prio(r, pref);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	int err = add ? rtnl_rule_add(sk, r, NLM_F_CREATE | NLM_F_EXCL) : rtnl_rule_delete(sk, r, 0);
	rtnl_rule_put(r);
	if (err == -NLE_EXIST && add)
		return 0;
	if (err == -NLE_OBJ_NOTFOUND && !add)
		return 0;
	return err < 0 ? nl_fail(ctx, err, "proxy ip rule") : 0;
}

static int tproxy_route(struct microseg_ctx *ctx, struct nl_sock *sk, int family, bool add, uint32_t table)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	static const uint8_t zero[16];
	struct nl_addr *d = nl_addr_build(family, zero, family == AF_INET ? 4 : 16);
	int err = -ENOMEM;
	if (!r || !nh || !d)
		goto out;
	nl_addr_set_prefixlen(d, 0);
	rtnl_route_set_family(r, (uint8_t)family);
	rtnl_route_set_dst(r, d);
	rtnl_route_set_table(r, table);
	rtnl_route_set_type(r, RTN_LOCAL);
	rtnl_route_set_scope(r, RT_SCOPE_HOST);
	rtnl_route_set_protocol(r, RTPROT_BOOT);
	rtnl_route_nh_set_ifindex(nh, (int)if_nametoindex("lo"));
	rtnl_route_add_nexthop(r, nh);
	nh = NULL;
	err = add ? rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE) : rtnl_route_delete(sk, r, 0);
	if (!add && err == -NLE_OBJ_NOTFOUND)
		err = 0;
	if (err < 0)
		err = nl_fail(ctx, err, "proxy local route");
out:
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(d);
	rtnl_route_put(r);
	return err;
}

int ms_nl_tproxy_routing(struct microseg_ctx *ctx, bool add, uint32_t mark, uint32_t table, uint32_t pref)
{
	int err = 0;
	struct nl_sock *sk = open_sock(ctx, &err);
	if (!sk)
		return err;
	static const int families[] = { AF_INET, AF_INET6 };
	for (size_t i = 0; i < 2; i++) {
		int e = add ? tproxy_route(ctx, sk, families[i], true, table) : tproxy_rule(ctx, sk, families[i], false, mark, table, pref);
		if (!e)
			e = add ? tproxy_rule(ctx, sk, families[i], true, mark, table, pref) : tproxy_route(ctx, sk, families[i], false, table);
		if (e && !err)
			err = e;
		if (e && add)
			break;
	}
	nl_socket_free(sk);
	if (err && add)
		ms_nl_tproxy_routing(ctx, false, mark, table, pref);
	return err;
}
