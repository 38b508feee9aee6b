/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet, then IPv4 or IPv6 (with its extension headers), then just enough
 * of L4 for policy (ports, ICMP type/code).
 */
#ifndef MS_BPF_PARSE_H
#define MS_BPF_PARSE_H

#include "common.h"

/* The L4 fields (ports or ICMP type/code) were read. */
#define MS_PKT_F_L4 (1u << 0)
/* Non-first fragment: there is no L4 header in this packet. */
#define MS_PKT_F_FRAGMENT (1u << 1)
/* More IPv6 extension headers than we walk: l4_proto is the first one left unread. */
#define MS_PKT_F_EXT_LIMIT (1u << 2)

/* IPv6 extension headers walked before giving up (MS_PKT_F_EXT_LIMIT). */
#define MS_IPV6_MAX_EXT 6

/* ICMP and ICMPv6 types the datapath treats specially. */
#define MS_ICMP_ECHO_REPLY 0
#define MS_ICMP_DEST_UNREACH 3
#define MS_ICMP_ECHO_REQUEST 8
#define MS_ICMP_TIME_EXCEEDED 11
#define MS_ICMP_PARAM_PROBLEM 12
#define MS_ICMPV6_DEST_UNREACH 1
#define MS_ICMPV6_PKT_TOOBIG 2
#define MS_ICMPV6_TIME_EXCEEDED 3
#define MS_ICMPV6_PARAM_PROBLEM 4
#define MS_ICMPV6_ECHO_REQUEST 128
#define MS_ICMPV6_ECHO_REPLY 129

/* TCP header flags (byte 13 of the header). */
#define MS_TCP_FIN 0x01
#define MS_TCP_SYN 0x02
#define MS_TCP_RST 0x04
#define MS_TCP_ACK 0x10

/* The addresses come first and 8-byte aligned: copied and compared as whole words, they keep
 * the verifier's view of the stack simple (unaligned, they are tracked piecewise, and the
 * IPv4 and IPv6 paths through the rest of the program stop looking alike). */
struct ms_pkt {
	__u8 saddr[16] __attribute__((aligned(8))); /* IPv4 in the first 4 bytes, network order */
	__u8 daddr[16];
	__u8 family;   /* MS_FAMILY_IPV4 or MS_FAMILY_IPV6 */
	__u8 l4_proto; /* IPPROTO_*; for IPv6 the header after the extension headers */
	__u8 flags;    /* MS_PKT_F_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags; /* MS_TCP_*, valid with MS_PKT_F_L4 for TCP (0 if the header is cut) */
	/* Network order, valid with MS_PKT_F_L4: TCP, UDP, SCTP ports; for ICMP/ICMPv6 echo
	 * request and reply both hold the echo identifier (connection tracking keys on it). */
	__be16 sport;
	__be16 dport;
	__u16 l3_off;
	__u16 l4_off;
};

enum ms_parse_result {
	MS_PARSE_IP = 0,      /* IPv4 or IPv6, pkt filled in */
	MS_PARSE_OTHER = 1,   /* ARP or any other non-IP frame: not ours to judge */
	MS_PARSE_INVALID = 2, /* IP, but truncated or malformed */
};

/*
 * Pointer to len bytes at off in the linear part of the packet. Headers sent by a local stack
 * are nearly always linear; if not, pull them in once. NULL if the packet is shorter.
 * Pulling invalidates earlier packet pointers: callers keep none across this call.
 */
static __always_inline void *ms_hdr(struct __sk_buff *skb, __u32 off, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + off + len <= data_end)
		return data + off;
	if ((__u64)off + len > skb->len || bpf_skb_pull_data(skb, off + len) != 0)
		return NULL;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + off + len > data_end)
		return NULL;
	return data + off;
}

static __always_inline int ms_icmp_is_echo(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == MS_ICMP_ECHO_REQUEST || type == MS_ICMP_ECHO_REPLY;
	return type == MS_ICMPV6_ECHO_REQUEST || type == MS_ICMPV6_ECHO_REPLY;
}

/* Ports or ICMP type/code. A missing L4 header is not an error here: the packet is still
 * forwarded as IP, just without MS_PKT_F_L4 (policy decides what that means). */
static __always_inline void ms_parse_l4(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	__u8 b[8];

	if (pkt->flags & (MS_PKT_F_FRAGMENT | MS_PKT_F_EXT_LIMIT))
		return;
	switch (pkt->l4_proto) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, pkt->l4_off + 13, &pkt->tcp_flags, 1) != 0)
			pkt->tcp_flags = 0;
		/* fall through */
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (bpf_skb_load_bytes(skb, pkt->l4_off, b, 4) == 0) {
			__builtin_memcpy(&pkt->sport, &b[0], 2);
			__builtin_memcpy(&pkt->dport, &b[2], 2);
			pkt->flags |= MS_PKT_F_L4;
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Every ICMP message has an 8-byte header (type, code, checksum, 4 more bytes). */
		if (bpf_skb_load_bytes(skb, pkt->l4_off, b, 8) == 0) {
			pkt->icmp_type = b[0];
			pkt->icmp_code = b[1];
			if (ms_icmp_is_echo(pkt->l4_proto, b[0])) {
				__builtin_memcpy(&pkt->sport, &b[4], 2);
				__builtin_memcpy(&pkt->dport, &b[4], 2);
			}
			pkt->flags |= MS_PKT_F_L4;
		}
		break;
	}
}

static __always_inline int ms_parse_ipv4(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	const __u32 off = ETH_HLEN;
	struct iphdr *ip4;
	__u32 hlen, tot;
	__u8 vihl;

	ip4 = ms_hdr(skb, off, sizeof(*ip4));
	if (!ip4)
		return MS_PARSE_INVALID;
	/* Read version/IHL as a byte: no dependence on the bitfield order of struct iphdr. */
	vihl = *(__u8 *)ip4;
	hlen = (vihl & 0x0f) * 4;
	if ((vihl >> 4) != 4 || hlen < sizeof(*ip4))
		return MS_PARSE_INVALID;
	if (off + hlen > skb->len)
		return MS_PARSE_INVALID; /* options cut off */
	tot = bpf_ntohs(ip4->tot_len);
	if (tot < hlen) {
		/* IPv4 BIG TCP: a GSO packet over 64k carries tot_len 0. */
		if (!(tot == 0 && skb->gso_size != 0))
			return MS_PARSE_INVALID;
	} else if (off + tot > skb->len) {
		return MS_PARSE_INVALID; /* Ethernet padding past tot_len is fine, the reverse not */
	}

	pkt->family = MS_FAMILY_IPV4;
	pkt->l3_off = off;
	pkt->l4_off = off + hlen;
	pkt->l4_proto = ip4->protocol;
	__builtin_memcpy(pkt->saddr, &ip4->saddr, 4);
	__builtin_memcpy(pkt->daddr, &ip4->daddr, 4);
	if (ip4->frag_off & bpf_htons(0x1fff))
		pkt->flags |= MS_PKT_F_FRAGMENT;
	return MS_PARSE_IP;
}

/* The generic extension header: next header, then length in 8-byte units minus one
 * (AH: 4-byte units minus two). */
struct ms_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ms_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in the upper 13 bits, M flag in bit 0 */
	__be32 id;
};

static __always_inline int ms_parse_ipv6(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	const __u32 off = ETH_HLEN;
	struct ipv6hdr *ip6;
	__u32 plen, nh_off;
	__u8 nexthdr;
	int i;

	ip6 = ms_hdr(skb, off, sizeof(*ip6));
	if (!ip6)
		return MS_PARSE_INVALID;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return MS_PARSE_INVALID;
	/* payload_len 0 is a jumbogram / BIG TCP GSO packet: nothing to check against. */
	plen = bpf_ntohs(ip6->payload_len);
	if (plen != 0 && off + sizeof(*ip6) + plen > skb->len)
		return MS_PARSE_INVALID;

	pkt->family = MS_FAMILY_IPV6;
	pkt->l3_off = off;
	__builtin_memcpy(pkt->saddr, &ip6->saddr, 16);
	__builtin_memcpy(pkt->daddr, &ip6->daddr, 16);
	nexthdr = ip6->nexthdr;
	nh_off = off + sizeof(*ip6);

	for (i = 0; i < MS_IPV6_MAX_EXT; i++) {
		struct ms_ipv6_opt_hdr opt;
		struct ms_ipv6_frag_hdr frag;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (bpf_skb_load_bytes(skb, nh_off, &opt, sizeof(opt)) != 0)
				return MS_PARSE_INVALID;
			nexthdr = opt.nexthdr;
			nh_off += ((__u32)opt.hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, nh_off, &opt, sizeof(opt)) != 0)
				return MS_PARSE_INVALID;
			nexthdr = opt.nexthdr;
			nh_off += ((__u32)opt.hdrlen + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (bpf_skb_load_bytes(skb, nh_off, &frag, sizeof(frag)) != 0)
				return MS_PARSE_INVALID;
			nexthdr = frag.nexthdr;
			nh_off += sizeof(frag);
			if (frag.frag_off & bpf_htons(0xfff8)) {
				pkt->flags |= MS_PKT_F_FRAGMENT;
				goto done;
			}
			break;
		default:
			goto done;
		}
	}
	/* Still an extension header after MS_IPV6_MAX_EXT of them. */
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_AH || nexthdr == IPPROTO_FRAGMENT)
		pkt->flags |= MS_PKT_F_EXT_LIMIT;
done:
	/* An extension header claiming more bytes than the packet has. */
	if (nh_off > skb->len)
		return MS_PARSE_INVALID;
	pkt->l4_proto = nexthdr;
	pkt->l4_off = nh_off;
	return MS_PARSE_IP;
}

/* Fills pkt for IPv4/IPv6 frames (see enum ms_parse_result). */
static __always_inline int ms_parse(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	struct ethhdr *eth;
	__u16 proto;
	int ret;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	eth = ms_hdr(skb, 0, sizeof(*eth));
	if (!eth)
		return MS_PARSE_OTHER; /* cannot happen at TC: every frame has its L2 header */
	proto = eth->h_proto;

	if (proto == bpf_htons(ETH_P_IP))
		ret = ms_parse_ipv4(skb, pkt);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = ms_parse_ipv6(skb, pkt);
	else
		return MS_PARSE_OTHER;
	if (ret == MS_PARSE_IP)
		ms_parse_l4(skb, pkt);
	return ret;
}

#endif
