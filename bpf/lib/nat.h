/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rewriting an address or a port of a parsed TCP/UDP packet in place, checksums kept right:
 * the IPv4 header checksum for an IPv4 address, the TCP/UDP checksum for both (the addresses
 * are in its pseudo header). The csum helpers also keep skb->csum right for CHECKSUM_COMPLETE
 * packets and touch only the pseudo-header part for CHECKSUM_PARTIAL ones (offloaded sends
 * from a container), so the bytes can be stored without BPF_F_RECOMPUTE_CSUM.
 *
 * Each returns 0 or a negative error, and updates pkt to match the packet.
 * Only for TCP and UDP packets with their L4 header (MS_PKT_F_L4).
 */
#ifndef MS_BPF_NAT_H
#define MS_BPF_NAT_H

#include "common.h"
#include "parse.h"

enum ms_nat_side {
	MS_NAT_SRC = 0,
	MS_NAT_DST = 1,
};

/* Header offsets (RFC 791, RFC 8200, RFC 793, RFC 768). Ports are at 0 and 2 in both. */
#define MS_NAT_IP4_CHECK 10
#define MS_NAT_IP4_SADDR 12
#define MS_NAT_IP4_DADDR 16
#define MS_NAT_IP6_SADDR 8
#define MS_NAT_IP6_DADDR 24
#define MS_NAT_TCP_CHECK 16
#define MS_NAT_UDP_CHECK 6

/* Where the L4 checksum is; only called for TCP and UDP. */
static __always_inline __u32 ms_nat_l4_csum_off(const struct ms_pkt *pkt)
{
	return pkt->l4_off + (pkt->l4_proto == IPPROTO_TCP ? MS_NAT_TCP_CHECK : MS_NAT_UDP_CHECK);
}

/* UDP: a zero checksum (IPv4 "none") stays zero, and a result of zero is written as 0xffff,
 * which means zero in one's complement but not "none". */
static __always_inline __u64 ms_nat_l4_flags(const struct ms_pkt *pkt)
{
	return pkt->l4_proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* Where a translated packet goes to (DNAT) or comes from (reverse NAT). */
struct ms_nat_target {
	__u8 addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
	__be16 port;
	__u16 pad;
};

static __always_inline int ms_nat_set_addr(struct __sk_buff *skb, struct ms_pkt *pkt, __u32 side,
					   const __u8 *to)
{
	__u32 csum_off = ms_nat_l4_csum_off(pkt);
	__u64 l4_flags = ms_nat_l4_flags(pkt) | BPF_F_PSEUDO_HDR;
	__u8 *cur = side == MS_NAT_DST ? pkt->daddr : pkt->saddr;
	__u32 off;

	if (pkt->family == MS_FAMILY_IPV4) {
		__be32 from, new;

		__builtin_memcpy(&from, cur, 4);
		__builtin_memcpy(&new, to, 4);
		off = pkt->l3_off + (side == MS_NAT_DST ? MS_NAT_IP4_DADDR : MS_NAT_IP4_SADDR);
		if (bpf_l4_csum_replace(skb, csum_off, from, new, l4_flags | sizeof(new)) ||
		    bpf_l3_csum_replace(skb, pkt->l3_off + MS_NAT_IP4_CHECK, from, new,
					sizeof(new)) ||
		    bpf_skb_store_bytes(skb, off, &new, sizeof(new), 0))
			return -1;
		__builtin_memcpy(cur, &new, 4);
		return 0;
	}

	__be32 from6[4], new6[4];
	__s64 diff;

	__builtin_memcpy(from6, cur, 16);
	__builtin_memcpy(new6, to, 16);
	off = pkt->l3_off + (side == MS_NAT_DST ? MS_NAT_IP6_DADDR : MS_NAT_IP6_SADDR);
	/* 16 bytes do not fit the helper's from/to: pass their checksum difference (size 0). */
	diff = bpf_csum_diff(from6, sizeof(from6), new6, sizeof(new6), 0);
	if (diff < 0 || bpf_l4_csum_replace(skb, csum_off, 0, diff, l4_flags) ||
	    bpf_skb_store_bytes(skb, off, new6, sizeof(new6), 0))
		return -1;
	__builtin_memcpy(cur, new6, 16);
	return 0;
}

static __always_inline int ms_nat_set_port(struct __sk_buff *skb, struct ms_pkt *pkt, __u32 side,
					   __be16 to)
{
	__be16 *cur = side == MS_NAT_DST ? &pkt->dport : &pkt->sport;
	__u32 off = pkt->l4_off + (side == MS_NAT_DST ? 2 : 0);

	if (bpf_l4_csum_replace(skb, ms_nat_l4_csum_off(pkt), *cur, to,
				ms_nat_l4_flags(pkt) | sizeof(to)) ||
	    bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0))
		return -1;
	*cur = to;
	return 0;
}

/*
 * Rewrites the destination (side MS_NAT_DST) or the source (MS_NAT_SRC) address and port of
 * a TCP/UDP packet to `to`. A global function: one copy, checked once by the verifier, its
 * locals in a frame of their own (the endpoint programs are near the stack limit).
 */
__noinline int ms_nat_rewrite(struct __sk_buff *skb, struct ms_pkt *pkt, __u32 side,
			      const struct ms_nat_target *to)
{
	__u8 addr[16];

	if (!skb || !pkt || !to)
		return -1;
	__builtin_memcpy(addr, to->addr, 16);
	if (ms_nat_set_addr(skb, pkt, side, addr) || ms_nat_set_port(skb, pkt, side, to->port))
		return -1;
	return 0;
}

#endif
