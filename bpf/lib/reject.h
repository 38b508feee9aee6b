/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Refusing at once, on the per-packet path, what a service with no active backend cannot take:
 * a TCP SYN is turned, in place, into the RST+ACK the destination would send; a UDP datagram
 * into the ICMP (v6) "port unreachable" that quotes it. Either goes back out of the interface
 * it came in on (the client's host-side veth, towards the container), so the client's
 * connect() or connected socket fails with ECONNREFUSED right away, as at the socket hooks,
 * instead of retrying until a timeout.
 *
 * The RST leaves marked (MS_REJECT_MARK) so that the container's own ingress hook lets it in
 * whatever its policy: it answers the container's own packet. The mark does not cross into
 * the container's namespace, and packets from containers arrive without one.
 */
#ifndef MS_BPF_REJECT_H
#define MS_BPF_REJECT_H

#include "common.h"
#include "parse.h"

#define MS_REJECT_MARK 0x4d53ee01u
#define MS_TCPHDR_LEN 20

static __always_inline __u16 ms_csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* The RST's TCP header (checksum left 0): ports swapped, ack = the SYN's seq + 1. */
static __always_inline int ms_reject_tcp_header(struct __sk_buff *skb, __u32 l4, __u8 *tcp)
{
	__u8 syn[MS_TCPHDR_LEN];
	__u32 seq;

	if (bpf_skb_load_bytes(skb, l4, syn, sizeof(syn)))
		return -1;
	__builtin_memset(tcp, 0, MS_TCPHDR_LEN);
	__builtin_memcpy(tcp, syn + 2, 2); /* source port = the SYN's destination */
	__builtin_memcpy(tcp + 2, syn, 2);
	__builtin_memcpy(&seq, syn + 4, 4);
	seq = bpf_htonl(bpf_ntohl(seq) + 1);
	__builtin_memcpy(tcp + 8, &seq, 4); /* ack */
	tcp[12] = 5 << 4;                   /* data offset: no options */
	tcp[13] = MS_TCP_RST | MS_TCP_ACK;
	return 0;
}

/* Ethernet: back to where the frame came from. */
static __always_inline int ms_reject_swap_mac(struct __sk_buff *skb)
{
	__u8 mac[12], swapped[12];

	if (bpf_skb_load_bytes(skb, 0, mac, sizeof(mac)))
		return -1;
	__builtin_memcpy(swapped, mac + 6, 6);
	__builtin_memcpy(swapped + 6, mac, 6);
	return bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0);
}

/*
 * Rewrites a TCP SYN (IPv4 without options, or IPv6 without extension headers, behind an
 * Ethernet header) into its RST and sends it back. TC_ACT_REDIRECT, or TC_ACT_SHOT for
 * anything else (the packet is then just dropped). A global function: its frame is its own.
 */
__noinline int ms_reject_syn(struct __sk_buff *skb, const struct ms_pkt *pkt)
{
	struct {
		__u8 saddr[16];
		__u8 daddr[16];
		__be32 len;
		__u8 zero[3];
		__u8 proto;
	} ph6 = {};
	__u8 tcp[MS_TCPHDR_LEN], ip[40] = {};
	__u32 l3, l4, iplen;
	__u16 csum;
	__s64 sum;

	if (!skb || !pkt || pkt->l4_proto != IPPROTO_TCP ||
	    (pkt->tcp_flags & (MS_TCP_SYN | MS_TCP_ACK)) != MS_TCP_SYN)
		return TC_ACT_SHOT;
	l3 = pkt->l3_off;
	l4 = pkt->l4_off;
	iplen = pkt->family == MS_FAMILY_IPV4 ? 20 : 40;
	if (l3 != 14 || l4 != l3 + iplen || ms_reject_tcp_header(skb, l4, tcp))
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, l4 + MS_TCPHDR_LEN, 0) || ms_reject_swap_mac(skb))
		return TC_ACT_SHOT;

	if (pkt->family == MS_FAMILY_IPV4) {
		__u16 tot = bpf_htons(20 + MS_TCPHDR_LEN), df = bpf_htons(0x4000);

		ip[0] = 0x45;
		__builtin_memcpy(ip + 2, &tot, 2);
		__builtin_memcpy(ip + 6, &df, 2);
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		__builtin_memcpy(ip + 12, pkt->daddr, 4);
		__builtin_memcpy(ip + 16, pkt->saddr, 4);
		csum = ms_csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)ip, 20, 0));
		__builtin_memcpy(ip + 10, &csum, 2);
		/* Pseudo header: addresses, zero, protocol, TCP length (12 bytes). */
		__builtin_memcpy(ph6.saddr, pkt->daddr, 4);
		__builtin_memcpy(ph6.saddr + 4, pkt->saddr, 4);
		ph6.saddr[9] = IPPROTO_TCP;
		ph6.saddr[11] = MS_TCPHDR_LEN;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)ph6.saddr, 12, 0);
	} else {
		__u16 plen = bpf_htons(MS_TCPHDR_LEN);

		ip[0] = 0x60;
		__builtin_memcpy(ip + 4, &plen, 2);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		__builtin_memcpy(ip + 8, pkt->daddr, 16);
		__builtin_memcpy(ip + 24, pkt->saddr, 16);
		__builtin_memcpy(ph6.saddr, pkt->daddr, 16);
		__builtin_memcpy(ph6.daddr, pkt->saddr, 16);
		ph6.len = bpf_htonl(MS_TCPHDR_LEN);
		ph6.proto = IPPROTO_TCP;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&ph6, sizeof(ph6), 0);
	}
	sum = bpf_csum_diff(NULL, 0, (__be32 *)tcp, MS_TCPHDR_LEN, (__wsum)sum);
	csum = ms_csum_fold(sum);
	__builtin_memcpy(tcp + 16, &csum, 2);
	if (bpf_skb_store_bytes(skb, l3, ip, iplen, 0) ||
	    bpf_skb_store_bytes(skb, l4, tcp, MS_TCPHDR_LEN, 0))
		return TC_ACT_SHOT;
	skb->mark = MS_REJECT_MARK;
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * Rewrites a UDP datagram (IPv4 without options, or IPv6 without extension headers, behind an
 * Ethernet header) into the port-unreachable error quoting its IP and UDP headers, and sends
 * it back. TC_ACT_REDIRECT, or TC_ACT_SHOT.
 */
__noinline int ms_reject_udp(struct __sk_buff *skb, const struct ms_pkt *pkt)
{
	__u8 quote[48], ip[40] = {}, icmp[8] = {}, ph[40] = {};
	__u32 l3, iplen, qlen;
	__u16 csum;
	__s64 sum;

	if (!skb || !pkt || pkt->l4_proto != IPPROTO_UDP)
		return TC_ACT_SHOT;
	l3 = pkt->l3_off;
	iplen = pkt->family == MS_FAMILY_IPV4 ? 20 : 40;
	qlen = iplen + 8;
	if (l3 != 14 || pkt->l4_off != l3 + iplen)
		return TC_ACT_SHOT;
	if (pkt->family == MS_FAMILY_IPV4) {
		if (bpf_skb_load_bytes(skb, l3, quote, 28))
			return TC_ACT_SHOT;
	} else if (bpf_skb_load_bytes(skb, l3, quote, 48)) {
		return TC_ACT_SHOT;
	}
	/* Room for the error's own IP and ICMP headers in front of the quote: the frame
	 * becomes Ethernet | IP | ICMP | quoted IP | quoted UDP header. */
	if (bpf_skb_adjust_room(skb, 8 + iplen, BPF_ADJ_ROOM_NET, 0) ||
	    bpf_skb_change_tail(skb, l3 + iplen + 8 + qlen, 0) || ms_reject_swap_mac(skb))
		return TC_ACT_SHOT;

	if (pkt->family == MS_FAMILY_IPV4) {
		__u16 tot = bpf_htons(20 + 8 + 28);

		ip[0] = 0x45;
		__builtin_memcpy(ip + 2, &tot, 2);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		__builtin_memcpy(ip + 12, pkt->daddr, 4);
		__builtin_memcpy(ip + 16, pkt->saddr, 4);
		csum = ms_csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)ip, 20, 0));
		__builtin_memcpy(ip + 10, &csum, 2);
		icmp[0] = MS_ICMP_DEST_UNREACH;
		icmp[1] = 3; /* port unreachable */
		sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, 8, 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)quote, 28, (__wsum)sum);
		csum = ms_csum_fold(sum);
		__builtin_memcpy(icmp + 2, &csum, 2);
		if (bpf_skb_store_bytes(skb, l3, ip, 20, 0) || bpf_skb_store_bytes(skb, l3 + 20, icmp, 8, 0) ||
		    bpf_skb_store_bytes(skb, l3 + 28, quote, 28, 0))
			return TC_ACT_SHOT;
	} else {
		__u16 plen = bpf_htons(8 + 48);
		__be32 len32 = bpf_htonl(8 + 48);

		ip[0] = 0x60;
		__builtin_memcpy(ip + 4, &plen, 2);
		ip[6] = IPPROTO_ICMPV6;
		ip[7] = 64;
		__builtin_memcpy(ip + 8, pkt->daddr, 16);
		__builtin_memcpy(ip + 24, pkt->saddr, 16);
		icmp[0] = MS_ICMPV6_DEST_UNREACH;
		icmp[1] = 4; /* port unreachable */
		/* Pseudo header: source, destination, upper-layer length, next header. */
		__builtin_memcpy(ph, pkt->daddr, 16);
		__builtin_memcpy(ph + 16, pkt->saddr, 16);
		__builtin_memcpy(ph + 32, &len32, 4);
		ph[39] = IPPROTO_ICMPV6;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)ph, 40, 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, 8, (__wsum)sum);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)quote, 48, (__wsum)sum);
		csum = ms_csum_fold(sum);
		__builtin_memcpy(icmp + 2, &csum, 2);
		if (bpf_skb_store_bytes(skb, l3, ip, 40, 0) || bpf_skb_store_bytes(skb, l3 + 40, icmp, 8, 0) ||
		    bpf_skb_store_bytes(skb, l3 + 48, quote, 48, 0))
			return TC_ACT_SHOT;
	}
	skb->mark = MS_REJECT_MARK;
	return bpf_redirect(skb->ifindex, 0);
}

#endif
