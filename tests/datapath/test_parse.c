/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet parser of the datapath (bpf/lib/parse.h), run through BPF_PROG_TEST_RUN inside
 * a test-only program (parse_probe.bpf.c) that leaves its result in globals. Covers what the
 * endpoint programs cannot show directly: L4 protocol, ports, ICMP type/code, the ICMP echo
 * identifier, TCP flags, fragment handling, the IPv6 extension header walk and its limit, and
 * the L4 offset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "microseg_abi.h"
#include "parse_probe.skel.h"
#include "pktbuild.h"
#include "dp_util.h"

/* Parse results and flags in the test's own terms, mapped to the object's values. */
enum { R_IP, R_OTHER, R_INVALID };
#define T_L4 1u
#define T_FRAG 2u
#define T_EXT 4u

struct parse_case {
	const char *name;
	int (*build)(struct pb *p);
	int ret;
	int family; /* MS_FAMILY_*, checked when ret is R_IP */
	int l4_proto;
	unsigned int flags;
	int sport, dport;          /* checked with T_L4 for TCP/UDP */
	int icmp_type, icmp_code;  /* checked with T_L4 for ICMP/ICMPv6 */
	int l4_off;
	const char *src, *dst;     /* checked when set */
	int tcp_flags;             /* checked with T_L4 for TCP */
};

static struct parse_probe_bpf *skel;

#define S4 "10.200.0.1"
#define D4 "10.200.0.2"
#define S6 "fd00:200::1"
#define D6 "fd00:200::2"

static int start4(struct pb *p)
{
	pb_init(p);
	pb_eth(p, NULL, NULL, 0);
	pb_ipv4(p, S4, D4);
	return p->err;
}

static int start6(struct pb *p)
{
	pb_init(p);
	pb_eth(p, NULL, NULL, 0);
	pb_ipv6(p, S6, D6);
	return p->err;
}

static int v4_tcp(struct pb *p)
{
	start4(p);
	pb_tcp(p, 40000, 443, PB_TCP_SYN);
	return pb_finish(p);
}

static int v4_udp_opts(struct pb *p)
{
	start4(p);
	pb_ipv4_opts(p, NULL, 8);
	pb_udp(p, 5353, 53);
	pb_payload(p, NULL, 12);
	return pb_finish(p);
}

static int v4_icmp(struct pb *p)
{
	start4(p);
	pb_icmp(p, 8, 0);
	return pb_finish(p);
}

static int v4_icmp_unreach(struct pb *p)
{
	start4(p);
	pb_icmp(p, 3, 4);
	return pb_finish(p);
}

static int v4_first_frag(struct pb *p)
{
	start4(p);
	pb_ipv4_frag(p, 0, 1);
	pb_udp(p, 1000, 2000);
	pb_payload(p, NULL, 64);
	return pb_finish(p);
}

static int v4_later_frag(struct pb *p)
{
	start4(p);
	pb_ipv4_frag(p, 9, 0);
	pb_set_next(p, IPPROTO_UDP);
	pb_payload(p, NULL, 64);
	return pb_finish(p);
}

static int v4_tcp_cut(struct pb *p)
{
	/* Two bytes of a TCP header: still IP, but no ports. */
	start4(p);
	pb_set_next(p, IPPROTO_TCP);
	pb_payload(p, "\x9c\x40", 2);
	return pb_finish(p);
}

static int v4_gre(struct pb *p)
{
	start4(p);
	pb_set_next(p, 47);
	pb_payload(p, NULL, 8);
	return pb_finish(p);
}

static int v6_tcp(struct pb *p)
{
	start6(p);
	pb_tcp(p, 40001, 8443, PB_TCP_SYN);
	return pb_finish(p);
}

static int v6_icmp(struct pb *p)
{
	start6(p);
	pb_icmp6(p, 128, 0);
	return pb_finish(p);
}

static int v6_chain(struct pb *p)
{
	start6(p);
	pb_ipv6_ext(p, IPPROTO_HOPOPTS, 8);
	pb_ipv6_ext(p, IPPROTO_DSTOPTS, 24);
	pb_ipv6_ext(p, IPPROTO_ROUTING, 16);
	pb_ipv6_frag(p, 0, 1, 7);
	pb_udp(p, 1000, 2000);
	pb_payload(p, NULL, 16);
	return pb_finish(p);
}

static int v6_ah(struct pb *p)
{
	start6(p);
	pb_ipv6_ext(p, IPPROTO_AH, 24);
	pb_tcp(p, 1234, 22, PB_TCP_ACK | PB_TCP_PSH);
	return pb_finish(p);
}

static int v6_later_frag(struct pb *p)
{
	start6(p);
	pb_ipv6_frag(p, 100, 1, 7);
	pb_set_next(p, IPPROTO_TCP);
	pb_payload(p, NULL, 32);
	return pb_finish(p);
}

static int v6_n_dstopts(struct pb *p, unsigned int n)
{
	unsigned int i;

	start6(p);
	for (i = 0; i < n; i++)
		pb_ipv6_ext(p, IPPROTO_DSTOPTS, 8);
	pb_udp(p, 1000, 2000);
	return pb_finish(p);
}

/* Exactly as many extension headers as the parser walks, then one more. */
static int v6_ext_at_limit(struct pb *p)
{
	return v6_n_dstopts(p, skel->rodata->c_ipv6_max_ext);
}

static int v6_ext_over_limit(struct pb *p)
{
	return v6_n_dstopts(p, skel->rodata->c_ipv6_max_ext + 1);
}

static int v6_no_next(struct pb *p)
{
	start6(p);
	pb_set_next(p, IPPROTO_NONE);
	return pb_finish(p);
}

static int v6_ext_cut(struct pb *p)
{
	/* Destination options claiming 64 bytes with 8 present. */
	int n;

	start6(p);
	pb_ipv6_ext(p, IPPROTO_DSTOPTS, 8);
	n = pb_finish(p);
	if (n >= 0)
		p->data[p->l3_off + 40 + 1] = 7;
	return n;
}

static int arp(struct pb *p)
{
	pb_init(p);
	pb_eth(p, NULL, "ff:ff:ff:ff:ff:ff", 0);
	pb_arp(p, PB_ARP_REQUEST, "02:00:00:00:00:01", S4, NULL, D4);
	return pb_finish(p);
}

static const struct parse_case cases[] = {
	{ "IPv4 TCP: ports and addresses", v4_tcp, R_IP, MS_FAMILY_IPV4, IPPROTO_TCP, T_L4,
	  40000, 443, 0, 0, 34, S4, D4, PB_TCP_SYN },
	{ "IPv4 with 8 bytes of options: L4 after them", v4_udp_opts, R_IP, MS_FAMILY_IPV4,
	  IPPROTO_UDP, T_L4, 5353, 53, 0, 0, 42, S4, D4, 0 },
	{ "IPv4 ICMP echo request", v4_icmp, R_IP, MS_FAMILY_IPV4, IPPROTO_ICMP, T_L4, 0, 0, 8, 0,
	  34, NULL, NULL, 0 },
	{ "IPv4 ICMP destination unreachable, code 4", v4_icmp_unreach, R_IP, MS_FAMILY_IPV4,
	  IPPROTO_ICMP, T_L4, 0, 0, 3, 4, 34, NULL, NULL, 0 },
	{ "IPv4 first fragment keeps its ports", v4_first_frag, R_IP, MS_FAMILY_IPV4, IPPROTO_UDP,
	  T_L4, 1000, 2000, 0, 0, 34, NULL, NULL, 0 },
	{ "IPv4 later fragment: no ports", v4_later_frag, R_IP, MS_FAMILY_IPV4, IPPROTO_UDP,
	  T_FRAG, 0, 0, 0, 0, 34, NULL, NULL, 0 },
	{ "IPv4 TCP header cut short: IP without ports", v4_tcp_cut, R_IP, MS_FAMILY_IPV4,
	  IPPROTO_TCP, 0, 0, 0, 0, 0, 34, NULL, NULL, 0 },
	{ "IPv4 GRE: protocol only", v4_gre, R_IP, MS_FAMILY_IPV4, 47, 0, 0, 0, 0, 0, 34, NULL,
	  NULL, 0 },
	{ "IPv6 TCP: ports and addresses", v6_tcp, R_IP, MS_FAMILY_IPV6, IPPROTO_TCP, T_L4, 40001,
	  8443, 0, 0, 54, S6, D6, PB_TCP_SYN },
	{ "IPv6 ICMPv6 echo request", v6_icmp, R_IP, MS_FAMILY_IPV6, IPPROTO_ICMPV6, T_L4, 0, 0,
	  128, 0, 54, NULL, NULL, 0 },
	{ "IPv6 HBH, DSTOPTS, RH, first fragment, UDP", v6_chain, R_IP, MS_FAMILY_IPV6,
	  IPPROTO_UDP, T_L4, 1000, 2000, 0, 0, 54 + 8 + 24 + 16 + 8, S6, D6, 0 },
	{ "IPv6 AH then TCP", v6_ah, R_IP, MS_FAMILY_IPV6, IPPROTO_TCP, T_L4, 1234, 22, 0, 0,
	  54 + 24, NULL, NULL, PB_TCP_ACK | PB_TCP_PSH },
	{ "IPv6 later fragment: no ports", v6_later_frag, R_IP, MS_FAMILY_IPV6, IPPROTO_TCP,
	  T_FRAG, 0, 0, 0, 0, 62, NULL, NULL, 0 },
	{ "IPv6 extension headers up to the walk limit", v6_ext_at_limit, R_IP, MS_FAMILY_IPV6,
	  IPPROTO_UDP, T_L4, 1000, 2000, 0, 0, -1, NULL, NULL, 0 },
	{ "IPv6 one extension header past the limit", v6_ext_over_limit, R_IP, MS_FAMILY_IPV6,
	  IPPROTO_DSTOPTS, T_EXT, 0, 0, 0, 0, -1, NULL, NULL, 0 },
	{ "IPv6 no next header", v6_no_next, R_IP, MS_FAMILY_IPV6, IPPROTO_NONE, 0, 0, 0, 0, 0,
	  54, NULL, NULL, 0 },
	{ .name = "IPv6 extension header longer than the packet", .build = v6_ext_cut,
	  .ret = R_INVALID },
	{ .name = "ARP is not IP", .build = arp, .ret = R_OTHER },
};

static unsigned int map_flags(unsigned int t)
{
	const struct parse_probe_bpf__rodata *c = skel->rodata;

	return ((t & T_L4) ? c->c_f_l4 : 0) | ((t & T_FRAG) ? c->c_f_fragment : 0) |
	       ((t & T_EXT) ? c->c_f_ext_limit : 0);
}

static int check_addr(const char *what, const char *want, int family, const uint8_t *got)
{
	uint8_t w[16] = { 0 };

	if (!want)
		return 0;
	inet_pton(family == MS_FAMILY_IPV4 ? AF_INET : AF_INET6, want, w);
	if (memcmp(w, got, 16) != 0) {
		printf("#   %s address differs from %s\n", what, want);
		return -1;
	}
	return 0;
}

#define EXPECT(field, want)                                                                \
	do {                                                                               \
		if ((long long)(b->field) != (long long)(want)) {                           \
			printf("#   %s = %lld, want %lld\n", #field, (long long)(b->field),   \
			       (long long)(want));                                         \
			bad = 1;                                                           \
		}                                                                          \
	} while (0)

static int run_case(const struct parse_case *tc)
{
	const struct parse_probe_bpf__rodata *c = skel->rodata;
	struct parse_probe_bpf__bss *b = skel->bss;
	static struct pb p;
	uint32_t want_ret;
	int len, bad = 0;

	len = tc->build(&p);
	if (len < 0) {
		printf("#   packet builder failed: %d\n", len);
		return -1;
	}
	memset(b, 0xff, sizeof(*b));
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = (uint32_t)len,
		    .repeat = 1);
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.parse_probe), &opts)) {
		printf("#   test_run: %s\n", strerror(errno));
		return -1;
	}
	want_ret = tc->ret == R_IP ? c->c_parse_ip :
		   tc->ret == R_OTHER ? c->c_parse_other : c->c_parse_invalid;
	EXPECT(r_ret, want_ret);
	if (tc->ret != R_IP)
		return bad ? -1 : 0;

	EXPECT(r_family, tc->family);
	EXPECT(r_l4_proto, tc->l4_proto);
	EXPECT(r_flags, map_flags(tc->flags));
	EXPECT(r_l3_off, PB_ETH_HLEN);
	if (tc->l4_off >= 0)
		EXPECT(r_l4_off, tc->l4_off);
	if (tc->flags & T_L4) {
		if (tc->l4_proto == IPPROTO_ICMP || tc->l4_proto == IPPROTO_ICMPV6) {
			/* Echo request/reply: both ports hold the identifier (the builder's
			 * 0x4d53), the key connection tracking needs; other types: none. */
			int echo = tc->icmp_type == 8 || tc->icmp_type == 0 ||
				   tc->icmp_type == 128 || tc->icmp_type == 129;

			EXPECT(r_icmp_type, tc->icmp_type);
			EXPECT(r_icmp_code, tc->icmp_code);
			EXPECT(r_sport, echo ? 0x4d53 : 0);
			EXPECT(r_dport, echo ? 0x4d53 : 0);
		} else {
			EXPECT(r_sport, tc->sport);
			EXPECT(r_dport, tc->dport);
		}
		if (tc->l4_proto == IPPROTO_TCP)
			EXPECT(r_tcp_flags, tc->tcp_flags);
	} else {
		/* Without T_L4 nothing may pretend to be a port. */
		EXPECT(r_sport, 0);
		EXPECT(r_dport, 0);
	}
	if (check_addr("source", tc->src, tc->family, b->r_saddr) ||
	    check_addr("destination", tc->dst, tc->family, b->r_daddr))
		bad = 1;
	return bad ? -1 : 0;
}

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	int failed = 0;

	dp_require_root("test_parse");
	setvbuf(stdout, NULL, _IOLBF, 0);
	skel = parse_probe_bpf__open_and_load();
	if (!skel) {
		printf("Bail out! loading parse_probe failed\n");
		return 1;
	}
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		int bad = run_case(&cases[i]) != 0;

		printf("%s %zu - %s\n", bad ? "not ok" : "ok", i + 1, cases[i].name);
		failed += bad;
	}
	printf("# %zu of %zu passed\n", n - failed, n);
	parse_probe_bpf__destroy(skel);
	return failed ? 1 : 0;
}
