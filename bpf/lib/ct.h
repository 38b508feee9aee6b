/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: packets of a connection the policy allowed, and its replies, pass
 * without a policy lookup (until the policy revision changes, see ms_policy_conn).
 *
 * Entries live per enforcement point (struct ms_ct_key): at a hook working for direction dir,
 * a packet looks up its own tuple with dir (the original direction of a connection this side
 * saw opened), then its reversed tuple with the other direction (a reply).
 *
 * What is tracked:
 *  - TCP, UDP, SCTP with their ports; any other protocol (GRE, ESP, ...) with ports 0;
 *  - ICMP/ICMPv6 echo, keyed on the echo identifier: a request may open a connection and only
 *    matches it in the original direction, a reply only matches it reversed and never opens
 *    one (so a connection's first packet is always a request, which ms_policy_recheck relies
 *    on);
 *  - ICMP/ICMPv6 errors (destination unreachable, packet too big, time exceeded, parameter
 *    problem) pass as related to the connection of the packet they quote, without touching
 *    its state; the quoted packet must start right after the error header (no IPv6 extension
 *    headers, not a non-first fragment), otherwise the error is judged by policy like any
 *    untracked packet.
 * Not tracked, judged by policy packet by packet: other ICMP types, non-first fragments (no
 * ports to find the connection with; TODO: remember the ports of first fragments by IP id, as
 * Cilium does, which needs a map of its own), headers cut short, too many IPv6 extension
 * headers.
 *
 * Timeouts are idle times (last_seen_ns). TCP: 60 s until the connection is established (the
 * handshake completed, or, for a connection picked up in the middle, both sides were seen),
 * then 6 h, and 10 s once it is closing (RST, or FIN from both sides; a half-close keeps 6 h).
 * A SYN of the opener on a closing entry starts the connection over. An expired entry is a
 * miss; it is deleted when found. A lone RST opens no connection.
 */
#ifndef MS_BPF_CT_H
#define MS_BPF_CT_H

#include "common.h"
#include "maps.h"
#include "parse.h"

#define MS_NSEC_PER_SEC 1000000000ULL

enum ms_ct_class {
	MS_CTC_NONE = 0,       /* not tracked */
	MS_CTC_CONN = 1,       /* own tuple, then reversed; may open a connection */
	MS_CTC_ECHO_REQ = 2,   /* own tuple only; may open a connection */
	MS_CTC_ECHO_REPLY = 3, /* reversed tuple only */
	MS_CTC_RELATED = 4,    /* an ICMP error: the quoted packet's connection, read only */
};

struct ms_ct {
	struct ms_ct_key key;      /* on a hit the entry's key, else the packet's own tuple */
	struct ms_ct_value *entry; /* NULL: no live connection */
	__u8 cls;                  /* enum ms_ct_class */
	__u8 reply;                /* the packet travels against the connection's direction */
};

static __always_inline int ms_icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == MS_ICMP_DEST_UNREACH || type == MS_ICMP_TIME_EXCEEDED ||
		       type == MS_ICMP_PARAM_PROBLEM;
	return type == MS_ICMPV6_DEST_UNREACH || type == MS_ICMPV6_PKT_TOOBIG ||
	       type == MS_ICMPV6_TIME_EXCEEDED || type == MS_ICMPV6_PARAM_PROBLEM;
}

static __always_inline int ms_icmp_proto_of(__u8 family)
{
	return family == MS_FAMILY_IPV4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

static __always_inline __u8 ms_ct_classify(const struct ms_pkt *pkt)
{
	if (pkt->flags & (MS_PKT_F_FRAGMENT | MS_PKT_F_EXT_LIMIT))
		return MS_CTC_NONE;
	switch (pkt->l4_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return (pkt->flags & MS_PKT_F_L4) ? MS_CTC_CONN : MS_CTC_NONE;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* ICMP of the other IP version is nonsense: policy alone judges it. */
		if (!(pkt->flags & MS_PKT_F_L4) || pkt->l4_proto != ms_icmp_proto_of(pkt->family))
			return MS_CTC_NONE;
		if (pkt->icmp_type == (pkt->l4_proto == IPPROTO_ICMP ? MS_ICMP_ECHO_REQUEST :
								      MS_ICMPV6_ECHO_REQUEST))
			return MS_CTC_ECHO_REQ;
		if (ms_icmp_is_echo(pkt->l4_proto, pkt->icmp_type))
			return MS_CTC_ECHO_REPLY;
		if (ms_icmp_is_error(pkt->l4_proto, pkt->icmp_type))
			return MS_CTC_RELATED;
		return MS_CTC_NONE;
	default:
		return MS_CTC_CONN;
	}
}

static __always_inline void ms_ct_key_reverse(struct ms_ct_key *k)
{
	__u8 tmp[16];
	__be16 port;

	__builtin_memcpy(tmp, k->saddr, 16);
	__builtin_memcpy(k->saddr, k->daddr, 16);
	__builtin_memcpy(k->daddr, tmp, 16);
	port = k->sport;
	k->sport = k->dport;
	k->dport = port;
	k->dir ^= 1;
}

/* The packet's own tuple. Addresses are zero past the 4 bytes of IPv4 (ms_parse clears pkt);
 * sport/dport are zero for protocols without ports. */
static __always_inline void ms_ct_key_from_pkt(struct ms_ct_key *k, const struct ms_pkt *pkt,
					       __u8 dir)
{
	__builtin_memcpy(k->saddr, pkt->saddr, 16);
	__builtin_memcpy(k->daddr, pkt->daddr, 16);
	k->sport = pkt->sport;
	k->dport = pkt->dport;
	k->proto = pkt->l4_proto;
	k->family = pkt->family;
	k->dir = dir;
	k->pad = 0;
}

/*
 * For an ICMP error: the tuple of the packet it quotes, reversed, i.e. the tuple a packet of
 * the quoted connection would have if it travelled the way the error does. The normal own /
 * reversed lookups then find the connection whichever side opened it. Non-zero if the quoted
 * packet cannot be read as one we track.
 */
static __always_inline int ms_ct_key_from_icmp_error(struct __sk_buff *skb,
						     const struct ms_pkt *pkt, __u8 dir,
						     struct ms_ct_key *k)
{
	__u32 off = pkt->l4_off + 8;
	__u8 l4[8];
	__u8 proto;

	__builtin_memset(k, 0, sizeof(*k));
	if (pkt->family == MS_FAMILY_IPV4) {
		struct iphdr ip4;
		__u8 vihl;

		if (bpf_skb_load_bytes(skb, off, &ip4, sizeof(ip4)) != 0)
			return -1;
		vihl = *(__u8 *)&ip4;
		if ((vihl >> 4) != 4 || (vihl & 0x0f) < 5 || (ip4.frag_off & bpf_htons(0x1fff)))
			return -1;
		proto = ip4.protocol;
		__builtin_memcpy(k->saddr, &ip4.saddr, 4);
		__builtin_memcpy(k->daddr, &ip4.daddr, 4);
		off += (vihl & 0x0f) * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) != 0)
			return -1;
		if ((*(__u8 *)&ip6 >> 4) != 6)
			return -1;
		proto = ip6.nexthdr;
		__builtin_memcpy(k->saddr, &ip6.saddr, 16);
		__builtin_memcpy(k->daddr, &ip6.daddr, 16);
		off += sizeof(ip6);
	}

	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		/* Errors quote at least 8 bytes past the IP header: the ports are there. */
		if (bpf_skb_load_bytes(skb, off, l4, 4) != 0)
			return -1;
		__builtin_memcpy(&k->sport, &l4[0], 2);
		__builtin_memcpy(&k->dport, &l4[2], 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Only a quoted echo belongs to a connection (an error about an error does not). */
		if (proto != ms_icmp_proto_of(pkt->family) ||
		    bpf_skb_load_bytes(skb, off, l4, 8) != 0 || !ms_icmp_is_echo(proto, l4[0]))
			return -1;
		__builtin_memcpy(&k->sport, &l4[4], 2);
		__builtin_memcpy(&k->dport, &l4[4], 2);
		break;
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
		if (pkt->family == MS_FAMILY_IPV6)
			return -1; /* not walked in quoted packets */
		break;
	}
	k->proto = proto;
	k->family = pkt->family;
	/* Built as the quoted packet travelled (the other way), then turned around. */
	k->dir = dir ^ 1;
	ms_ct_key_reverse(k);
	return 0;
}

static __always_inline int ms_ct_tcp_closing(__u32 flags)
{
	return (flags & MS_CT_F_RST) ||
	       (flags & (MS_CT_F_FIN_ORIG | MS_CT_F_FIN_REPLY)) ==
		       (MS_CT_F_FIN_ORIG | MS_CT_F_FIN_REPLY);
}

static __always_inline __u64 ms_ct_timeout_ns(__u8 proto, __u32 flags)
{
	__u64 s;

	switch (proto) {
	case IPPROTO_TCP:
		if (ms_ct_tcp_closing(flags))
			s = MS_CT_TIMEOUT_TCP_CLOSE;
		else if (flags & MS_CT_F_ESTABLISHED)
			s = MS_CT_TIMEOUT_TCP_EST;
		else
			s = MS_CT_TIMEOUT_TCP_SYN;
		break;
	case IPPROTO_UDP:
		s = MS_CT_TIMEOUT_UDP;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		s = MS_CT_TIMEOUT_ICMP;
		break;
	default:
		s = MS_CT_TIMEOUT_OTHER;
	}
	return s * MS_NSEC_PER_SEC;
}

/* Signed: another CPU may have stamped the entry after this packet read the clock. */
static __always_inline int ms_ct_expired(const struct ms_ct_key *k, const struct ms_ct_value *v,
					 __u64 now)
{
	return (__s64)(now - v->last_seen_ns) > (__s64)ms_ct_timeout_ns(k->proto, v->flags);
}

/* The live entry under ct->key, or NULL; an expired one is removed on the way. */
static __always_inline struct ms_ct_value *ms_ct_find(struct ms_ct *ct, __u64 now)
{
	struct ms_ct_value *v = bpf_map_lookup_elem(&ms_ct, &ct->key);

	if (v && ms_ct_expired(&ct->key, v, now)) {
		bpf_map_delete_elem(&ms_ct, &ct->key);
		v = NULL;
	}
	return v;
}

/*
 * Finds the connection of the packet at a hook working for direction dir. Returns non-zero on
 * a hit (ct->entry, ct->key the entry's key, ct->reply). On a miss ct->key holds the packet's
 * own tuple, ready for ms_ct_create.
 */
static __always_inline int ms_ct_lookup(struct __sk_buff *skb, const struct ms_pkt *pkt,
					__u8 dir, __u64 now, struct ms_ct *ct)
{
	ct->entry = NULL;
	ct->reply = 0;
	ct->cls = ms_ct_classify(pkt);
	if (ct->cls == MS_CTC_NONE)
		return 0;
	if (ct->cls == MS_CTC_RELATED) {
		if (ms_ct_key_from_icmp_error(skb, pkt, dir, &ct->key) != 0)
			return 0;
	} else {
		ms_ct_key_from_pkt(&ct->key, pkt, dir);
	}

	if (ct->cls != MS_CTC_ECHO_REPLY) {
		ct->entry = ms_ct_find(ct, now);
		if (ct->entry)
			return 1;
		if (ct->cls == MS_CTC_ECHO_REQ)
			return 0;
	}
	ms_ct_key_reverse(&ct->key);
	ct->entry = ms_ct_find(ct, now);
	if (ct->entry) {
		ct->reply = 1;
		return 1;
	}
	ms_ct_key_reverse(&ct->key);
	return 0;
}

/* TCP state from the flags of one more packet of the connection. */
static __always_inline __u32 ms_ct_tcp_next(__u32 flags, __u8 tcp, int reply)
{
	/* A fresh SYN reusing the tuple of a closing connection starts a new one. */
	if (!reply && (tcp & (MS_TCP_SYN | MS_TCP_ACK)) == MS_TCP_SYN && ms_ct_tcp_closing(flags))
		return MS_CT_F_SYN;
	if (tcp & MS_TCP_RST)
		flags |= MS_CT_F_RST;
	if (tcp & MS_TCP_FIN)
		flags |= reply ? MS_CT_F_FIN_REPLY : MS_CT_F_FIN_ORIG;
	if (reply && (tcp & (MS_TCP_SYN | MS_TCP_ACK)) == (MS_TCP_SYN | MS_TCP_ACK))
		flags |= MS_CT_F_SYNACK;
	/* Established: the opener acknowledged the SYN+ACK; or, for a connection first seen in
	 * the middle (no SYN), the other side answered. */
	if (!(tcp & (MS_TCP_SYN | MS_TCP_RST)) && (tcp & MS_TCP_ACK) &&
	    ((!reply && (flags & MS_CT_F_SYNACK)) || (reply && !(flags & MS_CT_F_SYN))))
		flags |= MS_CT_F_ESTABLISHED;
	return flags;
}

/*
 * One more packet of a live connection: timestamps, TCP state, counters. Returns non-zero if
 * the packet started the connection over (a SYN reusing the tuple of a closing one), i.e. it
 * is the first packet of a new connection.
 */
static __always_inline int ms_ct_refresh(struct ms_ct *ct, const struct ms_pkt *pkt,
					 __u32 bytes, __u64 now)
{
	struct ms_ct_value *v = ct->entry;
	int restarted = 0;

	/* An ICMP error says nothing about the connection being alive. */
	if (!v || ct->cls == MS_CTC_RELATED)
		return 0;
	if (ct->key.proto == IPPROTO_TCP) {
		__u32 flags = ms_ct_tcp_next(v->flags, pkt->tcp_flags, ct->reply);

		if (flags != v->flags) {
			if (flags == MS_CT_F_SYN) {
				v->created_ns = now;
				restarted = 1;
				/* Same tuple, same policy: a proxied connection stays proxied. */
				flags |= v->flags & MS_CT_F_PROXY;
			}
			v->flags = flags;
		}
	}
	v->last_seen_ns = now;
	/* Both directions of a connection may run on different CPUs at once. */
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, bytes);
	return restarted;
}

/* Whether an allowed packet without a connection opens one. */
static __always_inline int ms_ct_opens(const struct ms_ct *ct, const struct ms_pkt *pkt)
{
	if (ct->cls != MS_CTC_CONN && ct->cls != MS_CTC_ECHO_REQ)
		return 0;
	/* A lone RST has no replies to let through. */
	return !(pkt->l4_proto == IPPROTO_TCP && (pkt->tcp_flags & MS_TCP_RST));
}

/* Records the connection the packet opens. Non-zero if the map refused it. */
static __always_inline int ms_ct_create(const struct ms_ct *ct, const struct ms_pkt *pkt,
					__u32 rev, __u32 rule_id, __u32 peer_id, __u32 bytes,
					__u64 now, __u32 flags)
{
	struct ms_ct_value v = {
		.last_seen_ns = now,
		.created_ns = now,
		.policy_rev = rev,
		.rule_id = rule_id,
		.peer_identity = peer_id,
		.packets = 1,
		.bytes = bytes,
	};

	v.flags = flags;
	if (pkt->l4_proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & (MS_TCP_SYN | MS_TCP_ACK)) == MS_TCP_SYN)
		v.flags |= MS_CT_F_SYN;
	return bpf_map_update_elem(&ms_ct, &ct->key, &v, BPF_ANY);
}

#endif
