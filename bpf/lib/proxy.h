/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Handing a TCP connection to the L7 proxy (ms_config.proxy_port), at the TC ingress of the
 * client's host-side veth: the packet is assigned to the proxy's socket (bpf_sk_assign) and
 * marked, and an ip rule for that mark routes it to the local table, so the host stack
 * delivers it to the proxy although it is addressed to the server. The proxy's socket then
 * answers with the server's address (IP_TRANSPARENT): the client never sees the proxy.
 *
 * The first packet (SYN) goes to the listener and leaves a record of the connection
 * (ms_proxy_conns) with the identities: the proxy serves nothing without one. Later packets go
 * to the connection's own socket. Anything else (no proxy running, a packet of a proxied
 * connection whose socket is gone) fails: the caller drops it (MS_DROP_PROXY).
 */
#ifndef MS_BPF_PROXY_H
#define MS_BPF_PROXY_H

#include "common.h"
#include "maps.h"
#include "parse.h"

#define MS_BPF_TCP_LISTEN 10 /* enum bpf_tcp_state: BPF_TCP_LISTEN */

/* The proxy's settings, or NULL if it is not running. */
static __always_inline const struct ms_config *ms_proxy_config(void)
{
	__u32 zero = 0;
	const struct ms_config *cfg = bpf_map_lookup_elem(&ms_config, &zero);

	return cfg && cfg->proxy_port ? cfg : NULL;
}

static __always_inline __u32 ms_proxy_tuple(const struct ms_pkt *pkt, struct bpf_sock_tuple *t)
{
	if (pkt->family == MS_FAMILY_IPV4) {
		__builtin_memcpy(&t->ipv4.saddr, pkt->saddr, 4);
		__builtin_memcpy(&t->ipv4.daddr, pkt->daddr, 4);
		t->ipv4.sport = pkt->sport;
		t->ipv4.dport = pkt->dport;
		return sizeof(t->ipv4);
	}
	__builtin_memcpy(t->ipv6.saddr, pkt->saddr, 16);
	__builtin_memcpy(t->ipv6.daddr, pkt->daddr, 16);
	t->ipv6.sport = pkt->sport;
	t->ipv6.dport = pkt->dport;
	return sizeof(t->ipv6);
}

/* Points the tuple at the proxy's listener: 127.0.0.1 or ::1, proxy_port. */
static __always_inline void ms_proxy_tuple_listener(const struct ms_pkt *pkt, struct bpf_sock_tuple *t,
						    __u16 port)
{
	if (pkt->family == MS_FAMILY_IPV4) {
		t->ipv4.daddr = bpf_htonl(0x7f000001);
		t->ipv4.dport = bpf_htons(port);
		return;
	}
	__builtin_memset(t->ipv6.daddr, 0, 16);
	((__u8 *)t->ipv6.daddr)[15] = 1;
	t->ipv6.dport = bpf_htons(port);
}

static __always_inline void ms_proxy_record(const struct ms_pkt *pkt, const struct ms_proxy_value *v)
{
	struct ms_proxy_key k = {};

	__builtin_memcpy(k.saddr, pkt->saddr, 16);
	__builtin_memcpy(k.daddr, pkt->daddr, 16);
	k.sport = pkt->sport;
	k.dport = pkt->dport;
	k.family = pkt->family;
	bpf_map_update_elem(&ms_proxy_conns, &k, v, BPF_ANY);
}

/*
 * Hands the packet to the proxy. rec: the identities and endpoints whose rules apply, written
 * when the packet opens the connection. 0 on success (the caller passes the packet to the
 * stack), non-zero if the proxy cannot take it.
 */
static __always_inline int ms_proxy_redirect(struct __sk_buff *skb, const struct ms_pkt *pkt,
					     const struct ms_proxy_value *rec)
{
	const struct ms_config *cfg = ms_proxy_config();
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 len;
	long ret;

	if (!cfg)
		return -1;
	len = ms_proxy_tuple(pkt, &t);
	sk = bpf_skc_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != MS_BPF_TCP_LISTEN)
			goto assign;
		bpf_sk_release(sk);
	}
	/* No socket of its own yet: only an opening SYN may reach the listener. */
	if ((pkt->tcp_flags & (MS_TCP_SYN | MS_TCP_ACK)) != MS_TCP_SYN)
		return -1;
	ms_proxy_record(pkt, rec);
	ms_proxy_tuple_listener(pkt, &t, cfg->proxy_port);
	sk = bpf_sk_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return -1;
assign:
	ret = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (ret)
		return -1;
	skb->mark = cfg->proxy_mark;
	return 0;
}

#endif
