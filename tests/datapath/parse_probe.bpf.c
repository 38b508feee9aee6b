/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test-only program: runs the datapath's parser (bpf/lib/parse.h) on a packet and leaves the
 * result in globals, so that fields no verdict or counter shows yet (L4 protocol, ports,
 * ICMP type, fragment flags, L4 offset) can be checked from userspace.
 */
#include "common.h"
#include "parse.h"

/* The parser's constants, read by the test from the object rather than copied. */
const volatile __u32 c_parse_ip = MS_PARSE_IP;
const volatile __u32 c_parse_other = MS_PARSE_OTHER;
const volatile __u32 c_parse_invalid = MS_PARSE_INVALID;
const volatile __u32 c_f_l4 = MS_PKT_F_L4;
const volatile __u32 c_f_fragment = MS_PKT_F_FRAGMENT;
const volatile __u32 c_f_ext_limit = MS_PKT_F_EXT_LIMIT;
const volatile __u32 c_ipv6_max_ext = MS_IPV6_MAX_EXT;

__u32 r_ret;
__u32 r_family;
__u32 r_l4_proto;
__u32 r_flags;
__u32 r_sport; /* host order */
__u32 r_dport;
__u32 r_icmp_type;
__u32 r_icmp_code;
__u32 r_tcp_flags;
__u32 r_l3_off;
__u32 r_l4_off;
__u8 r_saddr[16];
__u8 r_daddr[16];

SEC("tc")
int parse_probe(struct __sk_buff *skb)
{
	struct ms_pkt pkt;

	r_ret = ms_parse(skb, &pkt);
	r_family = pkt.family;
	r_l4_proto = pkt.l4_proto;
	r_flags = pkt.flags;
	r_sport = bpf_ntohs(pkt.sport);
	r_dport = bpf_ntohs(pkt.dport);
	r_icmp_type = pkt.icmp_type;
	r_icmp_code = pkt.icmp_code;
	r_tcp_flags = pkt.tcp_flags;
	r_l3_off = pkt.l3_off;
	r_l4_off = pkt.l4_off;
	__builtin_memcpy(r_saddr, pkt.saddr, 16);
	__builtin_memcpy(r_daddr, pkt.daddr, 16);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
