/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level load balancing: cgroup sock_addr programs on the library's cgroup.
 *
 *   connect4/6   a connect() to a frontend goes to a chosen backend instead: TCP then runs
 *                without per-packet translation; a connected UDP socket keeps the backend
 *   sendmsg4/6   likewise for each datagram of an unconnected UDP socket
 *   recvmsg4/6   a datagram from a backend shows the frontend as its source
 *   getpeername4/6  the peer of a translated socket is the frontend
 *
 * The translation of a socket is remembered in ms_lb_revsk ({socket cookie, backend} ->
 * frontend), which the last two read. These run for every process in the cgroup on every
 * call: a destination that is no frontend costs one hash lookup and is left alone.
 *
 * A frontend with no usable backend refuses: connect() and sendmsg() fail with ECONNREFUSED
 * (bpf_set_retval, then "reject"), as a closed port would answer.
 *
 * The client of affinity is the socket's network namespace (a container). Maglev hashes the
 * socket cookie: an unconnected UDP socket keeps its backend for all its datagrams while the
 * table is unchanged. Not handled: IPv4-mapped IPv6 destinations on dual-stack sockets
 * (looked up as IPv6, so not found; the per-packet path still translates them if the
 * process runs in an endpoint).
 *
 * Included once, by the program file.
 */
#ifndef MS_BPF_SOCK_LB_H
#define MS_BPF_SOCK_LB_H

#include <linux/errno.h>

#include "common.h"
#include "maps.h"
#include "lb.h"

/* The address the call names: destination (connect, sendmsg), source (recvmsg), peer
 * (getpeername). family is a constant at every call: only its branch is compiled, and the
 * verifier rejects user_ip6 in IPv4 programs and user_ip4 in IPv6 ones. */
static __always_inline void ms_sock_addr_get(const struct bpf_sock_addr *ctx, __u8 family,
					     __u8 addr[16])
{
	__u32 w;

	__builtin_memset(addr, 0, 16);
	if (family == MS_FAMILY_IPV4) {
		w = ctx->user_ip4;
		__builtin_memcpy(addr, &w, 4);
		return;
	}
	w = ctx->user_ip6[0];
	__builtin_memcpy(addr, &w, 4);
	w = ctx->user_ip6[1];
	__builtin_memcpy(addr + 4, &w, 4);
	w = ctx->user_ip6[2];
	__builtin_memcpy(addr + 8, &w, 4);
	w = ctx->user_ip6[3];
	__builtin_memcpy(addr + 12, &w, 4);
}

/* user_port holds the network-order port in its low 16 bits. */
static __always_inline void ms_sock_addr_set(struct bpf_sock_addr *ctx, __u8 family,
					     const __u8 *addr, __be16 port)
{
	__u32 w;

	if (family == MS_FAMILY_IPV4) {
		__builtin_memcpy(&w, addr, 4);
		ctx->user_ip4 = w;
	} else {
		__builtin_memcpy(&w, addr, 4);
		ctx->user_ip6[0] = w;
		__builtin_memcpy(&w, addr + 4, 4);
		ctx->user_ip6[1] = w;
		__builtin_memcpy(&w, addr + 8, 4);
		ctx->user_ip6[2] = w;
		__builtin_memcpy(&w, addr + 12, 4);
		ctx->user_ip6[3] = w;
	}
	ctx->user_port = (__u32)port;
}

/* Whether the socket already has this translation (a UDP socket's later datagrams). */
static __always_inline int ms_sock_known(const struct ms_lb_revsk_key *rk,
					 const struct ms_lb_revsk_value *rv)
{
	const struct ms_lb_revsk_value *old = bpf_map_lookup_elem(&ms_lb_revsk, rk);

	return old && old->svc_id == rv->svc_id && old->port == rv->port &&
	       ms_lb_addr_eq(old->addr, rv->addr);
}

/* connect() or sendmsg() to the frontend c->fe of service found. family repeats
 * c->fe.family as a constant (see ms_sock_addr_get). Returns the program's verdict. */
static __always_inline int ms_sock_translate(struct bpf_sock_addr *ctx, __u8 family,
					     struct ms_lb_choice *c,
					     const struct ms_lb_service *found, int per_datagram)
{
	struct ms_lb_affinity_key ak;
	struct ms_lb_revsk_value rv = {};
	struct ms_lb_revsk_key rk = {};
	struct ms_lb_service svc = *found;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u64 netns = bpf_get_netns_cookie(ctx);

	ms_lb_affinity_key_netns(&ak, svc.svc_id, netns);
	if (!ms_lb_choose(&svc, &ak, ms_lb_hash_cookie(cookie), bpf_ktime_get_ns(), c)) {
		ms_lb_report(c, NULL, MS_SVC_HOOK_SOCK, 0, netns);
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}

	rk.cookie = cookie;
	__builtin_memcpy(rk.addr, c->to.addr, 16);
	rk.port = c->to.port;
	rk.family = family;
	__builtin_memcpy(rv.addr, c->fe.addr, 16);
	rv.port = c->fe.port;
	rv.svc_id = svc.svc_id;
	/* A connection is counted per connect(); datagrams once per socket and backend. */
	if (!per_datagram || !ms_sock_known(&rk, &rv)) {
		bpf_map_update_elem(&ms_lb_revsk, &rk, &rv, BPF_ANY);
		ms_lb_count(c->id);
		ms_lb_report(c, NULL, MS_SVC_HOOK_SOCK, 0, netns);
	}
	ms_sock_addr_set(ctx, family, c->to.addr, c->to.port);
	return 1;
}

static __always_inline int ms_sock_forward(struct bpf_sock_addr *ctx, __u8 family,
					   int per_datagram)
{
	const struct ms_lb_service *found;
	struct ms_lb_choice c;

	ms_sock_addr_get(ctx, family, c.fe.addr);
	c.fe.port = (__be16)ctx->user_port;
	c.fe.proto = (__u8)ctx->protocol;
	c.fe.family = family;
	found = bpf_map_lookup_elem(&ms_lb_services, &c.fe);
	if (!found)
		return 1;
	return ms_sock_translate(ctx, family, &c, found, per_datagram);
}

/* recvmsg() source, getpeername() peer: a backend this socket was sent to shows as the
 * frontend. Never refuses. */
static __always_inline int ms_sock_reverse(struct bpf_sock_addr *ctx, __u8 family)
{
	const struct ms_lb_revsk_value *rv;
	struct ms_lb_revsk_key rk = {};
	__u8 addr[16];
	__be16 port;

	rk.cookie = bpf_get_socket_cookie(ctx);
	ms_sock_addr_get(ctx, family, rk.addr);
	rk.port = (__be16)ctx->user_port;
	rk.family = family;
	rv = bpf_map_lookup_elem(&ms_lb_revsk, &rk);
	if (!rv)
		return 1;
	__builtin_memcpy(addr, rv->addr, 16);
	port = rv->port;
	ms_sock_addr_set(ctx, family, addr, port);
	return 1;
}

SEC("cgroup/connect4")
int ms_sock_connect4(struct bpf_sock_addr *ctx)
{
	return ms_sock_forward(ctx, MS_FAMILY_IPV4, 0);
}

SEC("cgroup/connect6")
int ms_sock_connect6(struct bpf_sock_addr *ctx)
{
	return ms_sock_forward(ctx, MS_FAMILY_IPV6, 0);
}

SEC("cgroup/sendmsg4")
int ms_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return ms_sock_forward(ctx, MS_FAMILY_IPV4, 1);
}

SEC("cgroup/sendmsg6")
int ms_sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	return ms_sock_forward(ctx, MS_FAMILY_IPV6, 1);
}

SEC("cgroup/recvmsg4")
int ms_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return ms_sock_reverse(ctx, MS_FAMILY_IPV4);
}

SEC("cgroup/recvmsg6")
int ms_sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	return ms_sock_reverse(ctx, MS_FAMILY_IPV6);
}

SEC("cgroup/getpeername4")
int ms_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return ms_sock_reverse(ctx, MS_FAMILY_IPV4);
}

SEC("cgroup/getpeername6")
int ms_sock_getpeername6(struct bpf_sock_addr *ctx)
{
	return ms_sock_reverse(ctx, MS_FAMILY_IPV6);
}

#endif
