/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint TC programs (bpf/endpoint.bpf.c) run on crafted packets through
 * BPF_PROG_TEST_RUN, loaded from the same skeleton the library embeds.
 *
 * Each case is one row: which program, which packet, on which interface, optional map changes,
 * the verdict and the counter changes expected. Maps are reset to a base state before every
 * case; all counters of all endpoint slots are compared before and after, so a packet counted
 * in the wrong place fails as surely as one not counted.
 *
 * How test_run builds the skb from the __sk_buff given as ctx_in (checked on Linux 6.18):
 *  - ctx.ifindex picks skb->dev: the kernel looks the device up in the caller's network
 *    namespace and fails with -ENODEV if there is none; 0 or 1 (or no ctx) means loopback.
 *    ms_to_container keys on skb->ifindex, so its endpoints must be real devices: the test
 *    runs in a private namespace with a veth pair.
 *  - ctx.ingress_ifindex is copied unchecked into skb->skb_iif (read back as
 *    skb->ingress_ifindex), which ms_from_container keys on. At a real TC ingress both fields
 *    hold the same interface; the rows set both, and one row sets only ingress_ifindex to show
 *    which one the program uses.
 *  - gso_size is honoured (skb_shinfo); fields outside mark, priority, ingress_ifindex,
 *    ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp make the call fail -EINVAL.
 *  - The program's return value comes back as retval; a redirect is reported as
 *    TC_ACT_REDIRECT but not carried out.
 *  - A frame whose ethertype is IPv4 (IPv6) but that holds fewer than 20 (40) bytes after the
 *    Ethernet header is refused with -EINVAL before the program runs (net/bpf/test_run.c,
 *    a 2026 fix backported to stable kernels). Rows marked .live therefore run with the
 *    programs attached to real TC hooks of the veth in the test's namespace, the frame sent
 *    through an AF_PACKET socket: ms_from_container on the ingress of msdpb (endpoint B),
 *    frames sent from its peer msdpa; ms_to_container on the egress of msdpb, frames sent
 *    from msdpb. At TC egress a TC_ACT_SHOT makes send() fail with ENOBUFS, so those rows
 *    check the verdict too; at the peer's ingress it is not visible and only counters are
 *    checked. Live rows also show that on a real hook the byte counts are whole frames.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "microseg_abi.h"
#include "endpoint.skel.h"
#include "pktbuild.h"
#include "dp_util.h"

/* Small maps, as the library sizes them before load. */
#define T_MAX_ENDPOINTS 64
#define T_MAX_IPCACHE 1024
#define T_POLICY_ENTRIES 128
#define T_MAX_CT 1024

/* Base state: two endpoints on the veth pair, an address range elsewhere, the host. */
#define EP_A 1
#define EP_B 2
#define ID_A 1001
#define ID_B 1002
#define ID_REMOTE 5000
#define IP4_A "10.200.0.1"
#define IP4_B "10.200.0.2"
#define IP4_NOIF "10.200.0.3"    /* local endpoint address without an ifindex */
#define IP4_HOST "10.200.255.254"
#define IP4_REMOTE "10.201.3.4"  /* in 10.201.0.0/16 */
#define IP4_WORLD "198.51.100.7" /* no ipcache entry */
#define IP6_A "fd00:200::1"
#define IP6_B "fd00:200::2"
#define IP6_REMOTE "fd00:201::5" /* in fd00:201::/64 */
#define IP6_WORLD "2001:db8::7"
#define MAC_A "02:00:0a:c8:00:01"
#define MAC_GW "02:00:0a:c8:ff:fe"

enum dp_prog { FROM, TO };
/* Interfaces a row can name; resolved at run time. */
enum dp_dev { DEV_NONE = 0, DEV_LO, DEV_A, DEV_B, DEV_ABSENT };

struct dp_case {
	const char *name;
	enum dp_prog prog;
	int (*build)(struct pb *p);
	enum dp_dev ifindex;         /* ctx.ifindex */
	enum dp_dev ingress_ifindex; /* ctx.ingress_ifindex */
	uint32_t gso_size;
	uint32_t repeat;
	int live;                    /* through the attached programs, see above */
	int (*setup)(void);
	int run_err;                 /* expected bpf_prog_test_run_opts() error, 0 normally */
	int verdict;
	struct dp_count counts[3];
};

/* TC ingress of the host veth: both fields name it. TC egress: the packet was made by the
 * host (ingress_ifindex 0) unless a row says otherwise. */
#define AT_INGRESS(d) .prog = FROM, .ifindex = (d), .ingress_ifindex = (d)
#define AT_EGRESS(d) .prog = TO, .ifindex = (d), .ingress_ifindex = DEV_NONE
#define FWD(ep, dir, n) { (ep), (dir), MS_DROP_NONE, (n) }
#define DROP(ep, dir, why, n) { (ep), (dir), (why), (n) }
#define NONE {{ 0 }}

static struct dp_env env;
static struct endpoint_bpf *skel;
static int sock_a, sock_b; /* AF_PACKET, bound to msdpa / msdpb */

/* ---- packets ---------------------------------------------------------------------------- */

static int eth(struct pb *p)
{
	pb_init(p);
	pb_eth(p, MAC_A, MAC_GW, 0);
	return p->err;
}

static int v4(struct pb *p, const char *src, const char *dst)
{
	eth(p);
	pb_ipv4(p, src, dst);
	return p->err;
}

static int v6(struct pb *p, const char *src, const char *dst)
{
	eth(p);
	pb_ipv6(p, src, dst);
	return p->err;
}

static int pkt_arp_request(struct pb *p)
{
	pb_init(p);
	pb_eth(p, MAC_A, "ff:ff:ff:ff:ff:ff", 0);
	pb_arp(p, PB_ARP_REQUEST, MAC_A, IP4_A, NULL, "169.254.1.1");
	return pb_finish(p);
}

static int pkt_vlan(struct pb *p)
{
	/* 802.1Q tag around IPv4: not parsed, so not ours to judge. */
	static const uint8_t tag_then_ipv4[] = { 0x00, 0x05, 0x08, 0x00 };

	pb_init(p);
	pb_eth(p, MAC_A, MAC_GW, 0x8100);
	pb_payload(p, tag_then_ipv4, sizeof(tag_then_ipv4));
	pb_payload(p, NULL, 46);
	return pb_finish(p);
}

static int pkt_lldp(struct pb *p)
{
	pb_init(p);
	pb_eth(p, MAC_A, "01:80:c2:00:00:0e", 0x88cc);
	pb_payload(p, NULL, 46);
	return pb_finish(p);
}

static int pkt_v4_tcp_world(struct pb *p)
{
	v4(p, IP4_A, IP4_WORLD);
	pb_tcp(p, 40000, 443, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v4_udp_remote(struct pb *p)
{
	v4(p, IP4_A, IP4_REMOTE);
	pb_udp(p, 40000, 53);
	pb_payload(p, NULL, 32);
	return pb_finish(p);
}

static int pkt_v4_icmp_host(struct pb *p)
{
	v4(p, IP4_A, IP4_HOST);
	pb_icmp(p, 8, 0);
	pb_payload(p, NULL, 56);
	return pb_finish(p);
}

static int pkt_v4_tcp_big(struct pb *p)
{
	v4(p, IP4_A, IP4_WORLD);
	pb_tcp(p, 40000, 443, PB_TCP_ACK | PB_TCP_PSH);
	pb_payload(p, NULL, 1448);
	return pb_finish(p);
}

/* The live rows send from endpoint B: its own source address, or it is spoofing. */
static int pkt_v4_udp_remote_from_b(struct pb *p)
{
	v4(p, IP4_B, IP4_REMOTE);
	pb_udp(p, 40000, 53);
	pb_payload(p, NULL, 32);
	return pb_finish(p);
}

static int pkt_v6_tcp_world_from_b(struct pb *p)
{
	v6(p, IP6_B, IP6_WORLD);
	pb_tcp(p, 40000, 443, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v4_udp_padded(struct pb *p)
{
	/* 44 bytes of frame padded to the Ethernet minimum: the padding is counted (it is on the
	 * wire) and must not look like a length error. */
	v4(p, IP4_A, IP4_REMOTE);
	pb_udp(p, 40000, 53);
	pb_payload(p, "hi", 2);
	pb_finish(p);
	pb_pad_to(p, PB_ETH_MIN_FRAME);
	return p->err ? p->err : (int)p->len;
}

static int pkt_v4_frag_later(struct pb *p)
{
	/* Non-first fragment: no UDP header in it, still forwarded. */
	v4(p, IP4_A, IP4_REMOTE);
	pb_set_next(p, IPPROTO_UDP);
	pb_ipv4_frag(p, 185, 0);
	pb_payload(p, NULL, 100);
	return pb_finish(p);
}

static int pkt_v4_udp_to_b(struct pb *p)
{
	v4(p, IP4_A, IP4_B);
	pb_udp(p, 40000, 8080);
	pb_payload(p, NULL, 64);
	return pb_finish(p);
}

static int pkt_v4_tcp_to_b(struct pb *p)
{
	v4(p, IP4_A, IP4_B);
	pb_tcp(p, 40000, 80, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v4_tcp_to_noif(struct pb *p)
{
	v4(p, IP4_A, IP4_NOIF);
	pb_tcp(p, 40000, 80, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v4_tcp_from_world(struct pb *p)
{
	v4(p, IP4_WORLD, IP4_A);
	pb_tcp(p, 443, 40000, PB_TCP_SYN | PB_TCP_ACK);
	pb_payload(p, NULL, 10);
	return pb_finish(p);
}

/* Broken IPv4 headers. Each starts from a good UDP packet and breaks one thing. */
static int v4_good_udp(struct pb *p)
{
	v4(p, IP4_A, IP4_REMOTE);
	pb_udp(p, 40000, 53);
	pb_payload(p, NULL, 20);
	return pb_finish(p);
}

static int pkt_v4_truncated(struct pb *p)
{
	v4_good_udp(p);
	pb_truncate(p, PB_ETH_HLEN + 10);
	return p->err ? p->err : (int)p->len;
}

static int poke_v4(struct pb *p, size_t at, uint8_t hi, uint8_t lo, int two)
{
	int n = v4_good_udp(p);

	if (n < 0)
		return n;
	p->data[p->l3_off + at] = hi;
	if (two)
		p->data[p->l3_off + at + 1] = lo;
	return pb_fix_checksums(p);
}

static int pkt_v4_ihl4(struct pb *p)
{
	return poke_v4(p, 0, 0x44, 0, 0);
}

static int pkt_v4_version6(struct pb *p)
{
	return poke_v4(p, 0, 0x65, 0, 0);
}

static int pkt_v4_options_cut(struct pb *p)
{
	/* IHL 15 = 60 bytes of header, but the frame holds 48 after Ethernet. */
	return poke_v4(p, 0, 0x4f, 0, 0);
}

static int pkt_v4_totlen_long(struct pb *p)
{
	return poke_v4(p, 2, 0x05, 0xdc, 1); /* 1500 */
}

static int pkt_v4_totlen_short(struct pb *p)
{
	return poke_v4(p, 2, 0x00, 0x0a, 1); /* 10 < 20 */
}

static int pkt_v4_totlen_zero(struct pb *p)
{
	return poke_v4(p, 2, 0x00, 0x00, 1);
}

static int pkt_v6_tcp_world(struct pb *p)
{
	v6(p, IP6_A, IP6_WORLD);
	pb_tcp(p, 40000, 443, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v6_udp_remote(struct pb *p)
{
	v6(p, IP6_A, IP6_REMOTE);
	pb_udp(p, 40000, 53);
	pb_payload(p, NULL, 40);
	return pb_finish(p);
}

static int pkt_v6_icmp_echo(struct pb *p)
{
	v6(p, IP6_A, IP6_WORLD);
	pb_icmp6(p, 128, 0);
	pb_payload(p, NULL, 56);
	return pb_finish(p);
}

static int pkt_v6_neigh_solicit(struct pb *p)
{
	/* Neighbour solicitation for the gateway, to its solicited-node multicast group. */
	static const uint8_t target[16] = { 0xfe, 0x80, [15] = 0x01 };

	pb_init(p);
	pb_eth(p, MAC_A, "33:33:ff:00:00:01", 0);
	pb_ipv6(p, "fe80::a", "ff02::1:ff00:1");
	pb_icmp6(p, 135, 0);
	pb_payload(p, target, sizeof(target));
	return pb_finish(p);
}

static int pkt_v6_udp_to_b(struct pb *p)
{
	v6(p, IP6_A, IP6_B);
	pb_udp(p, 40000, 8080);
	pb_payload(p, NULL, 64);
	return pb_finish(p);
}

static int pkt_v6_ext_chain_to_b(struct pb *p)
{
	/* Hop-by-hop, destination options, routing, first fragment, then UDP. */
	v6(p, IP6_A, IP6_B);
	pb_ipv6_ext(p, IPPROTO_HOPOPTS, 8);
	pb_ipv6_ext(p, IPPROTO_DSTOPTS, 24);
	pb_ipv6_ext(p, IPPROTO_ROUTING, 16);
	pb_ipv6_frag(p, 0, 1, 0x4d53);
	pb_udp(p, 40000, 8080);
	pb_payload(p, NULL, 64);
	return pb_finish(p);
}

static int pkt_v6_frag_later(struct pb *p)
{
	v6(p, IP6_A, IP6_REMOTE);
	pb_ipv6_frag(p, 185, 0, 0x4d53);
	pb_set_next(p, IPPROTO_UDP);
	pb_payload(p, NULL, 100);
	return pb_finish(p);
}

static int pkt_v6_ext_many(struct pb *p)
{
	/* More extension headers than the parser walks: forwarded, not judged malformed. */
	int i;

	v6(p, IP6_A, IP6_REMOTE);
	for (i = 0; i < 8; i++)
		pb_ipv6_ext(p, IPPROTO_DSTOPTS, 8);
	pb_udp(p, 40000, 53);
	return pb_finish(p);
}

static int pkt_v6_from_a_tcp(struct pb *p)
{
	v6(p, IP6_A, IP6_B);
	pb_tcp(p, 40000, 80, PB_TCP_SYN);
	return pb_finish(p);
}

static int pkt_v6_truncated(struct pb *p)
{
	v6(p, IP6_A, IP6_REMOTE);
	pb_udp(p, 40000, 53);
	pb_finish(p);
	pb_truncate(p, PB_ETH_HLEN + 20);
	return p->err ? p->err : (int)p->len;
}

static int pkt_v6_version4(struct pb *p)
{
	int n = pkt_v6_udp_remote(p);

	if (n >= 0)
		p->data[p->l3_off] = 0x40;
	return n;
}

static int pkt_v6_plen_long(struct pb *p)
{
	int n = pkt_v6_udp_remote(p);

	if (n >= 0)
		p->data[p->l3_off + 4] = 0x05; /* payload length 1280 + 48 */
	return n;
}

static int pkt_v6_ext_cut(struct pb *p)
{
	/* A hop-by-hop header that claims 248 bytes in a 64-byte packet. */
	int n;

	v6(p, IP6_A, IP6_REMOTE);
	pb_ipv6_ext(p, IPPROTO_HOPOPTS, 8);
	pb_udp(p, 40000, 53);
	n = pb_finish(p);
	if (n >= 0)
		p->data[p->l3_off + 40 + 1] = 30;
	return n;
}

static int pkt_v6_truncated_30(struct pb *p)
{
	v6(p, IP6_A, IP6_REMOTE);
	pb_udp(p, 40000, 53);
	pb_finish(p);
	pb_truncate(p, PB_ETH_HLEN + 30);
	return p->err ? p->err : (int)p->len;
}

/* ---- map state ------------------------------------------------------------------------- */

static int put_ep(uint32_t ifindex, uint32_t ep_id, uint32_t identity)
{
	struct ms_endpoint_info v = { .ep_id = ep_id, .identity = identity, .flags = MS_EP_F_ACTIVE };

	return bpf_map_update_elem(env.eps, &ifindex, &v, BPF_ANY);
}

static int put_ipc(const char *addr, uint32_t plen, uint32_t identity, uint32_t ifindex,
		   uint32_t ep_id, uint32_t flags)
{
	return dp_ipc_put(env.ipc, addr, plen, identity, ifindex, ep_id, flags);
}

static int base_state(void)
{
	int err = 0;

	err |= dp_map_clear(env.eps, sizeof(uint32_t));
	err |= dp_map_clear(env.ipc, sizeof(struct ms_ipcache_key));
	err |= dp_map_clear(env.ct, sizeof(struct ms_ct_key));
	err |= put_ep(env.if_a, EP_A, ID_A);
	err |= put_ep(env.if_b, EP_B, ID_B);
	err |= put_ipc(IP4_A, 32, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= put_ipc(IP4_B, 32, ID_B, env.if_b, EP_B, MS_IPC_F_LOCAL_EP);
	err |= put_ipc(IP6_A, 128, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= put_ipc(IP6_B, 128, ID_B, env.if_b, EP_B, MS_IPC_F_LOCAL_EP);
	err |= put_ipc(IP4_NOIF, 32, 1003, 0, 3, MS_IPC_F_LOCAL_EP);
	err |= put_ipc(IP4_HOST, 32, MS_ID_HOST, 0, 0, MS_IPC_F_HOST);
	err |= put_ipc("10.201.0.0", 16, ID_REMOTE, 0, 0, 0);
	err |= put_ipc("fd00:201::", 64, ID_REMOTE, 0, 0, 0);
	return err ? -1 : 0;
}

static int setup_remove_a(void)
{
	return bpf_map_delete_elem(env.eps, &env.if_a);
}

static int setup_a_id_past_stats(void)
{
	/* An ep_id past the slots of the (resized) maps, its address included so that it is no
	 * spoofing: it has no policy slot, so it is dropped (fail closed), and no stats slot,
	 * so that is counted nowhere. */
	return put_ep(env.if_a, T_MAX_ENDPOINTS + 5, ID_A) ||
	       put_ipc(IP4_A, 32, ID_A, env.if_a, T_MAX_ENDPOINTS + 5, MS_IPC_F_LOCAL_EP);
}

/* ---- counters -------------------------------------------------------------------------- */

static int snapshot(struct ms_ep_stats *out)
{
	return dp_stats_snapshot(env.stats, env.ncpus, T_MAX_ENDPOINTS, out);
}

static int check_counts(const struct dp_case *tc, struct ms_ep_stats *before,
			struct ms_ep_stats *after, uint64_t len)
{
	return dp_stats_check(before, after, T_MAX_ENDPOINTS, tc->counts, 3, len);
}

/* ---- the cases ------------------------------------------------------------------------- */

static const struct dp_case cases[] = {
	/* Which interface selects the endpoint. */
	{ "unmanaged interface: IPv4 passes, nothing counted", AT_INGRESS(DEV_LO),
	  .build = pkt_v4_tcp_world, .verdict = TC_ACT_OK, .counts = NONE },
	{ "test_run: ctx.ifindex must be a real device (-ENODEV)", AT_INGRESS(DEV_ABSENT),
	  .build = pkt_v4_tcp_world, .run_err = -ENODEV, .counts = NONE },
	{ "from_container keys on ingress_ifindex (ifindex = lo)", .prog = FROM,
	  .ifindex = DEV_LO, .ingress_ifindex = DEV_A, .build = pkt_v4_tcp_world,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "from_container ignores ifindex (ingress_ifindex = 0)", .prog = FROM,
	  .ifindex = DEV_A, .ingress_ifindex = DEV_NONE, .build = pkt_v4_tcp_world,
	  .verdict = TC_ACT_OK, .counts = NONE },
	{ "endpoint removed from the map: passes uncounted", AT_INGRESS(DEV_A),
	  .setup = setup_remove_a, .build = pkt_v4_tcp_world, .verdict = TC_ACT_OK,
	  .counts = NONE },
	{ "ep_id without a slot: dropped, counted nowhere", AT_INGRESS(DEV_A),
	  .setup = setup_a_id_past_stats, .build = pkt_v4_tcp_world, .verdict = TC_ACT_SHOT,
	  .counts = NONE },

	/* Non-IP: untouched, uncounted. */
	{ "ARP request passes untouched", AT_INGRESS(DEV_A), .build = pkt_arp_request,
	  .verdict = TC_ACT_OK, .counts = NONE },
	{ "802.1Q frame passes untouched", AT_INGRESS(DEV_A), .build = pkt_vlan,
	  .verdict = TC_ACT_OK, .counts = NONE },
	{ "LLDP frame passes untouched", AT_INGRESS(DEV_A), .build = pkt_lldp,
	  .verdict = TC_ACT_OK, .counts = NONE },

	/* IPv4 from A. */
	{ "IPv4 TCP to the world", AT_INGRESS(DEV_A), .build = pkt_v4_tcp_world,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 UDP to a remote prefix", AT_INGRESS(DEV_A), .build = pkt_v4_udp_remote,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 ICMP echo to the host", AT_INGRESS(DEV_A), .build = pkt_v4_icmp_host,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 TCP full-size segment", AT_INGRESS(DEV_A), .build = pkt_v4_tcp_big,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 with Ethernet padding (60-byte frame)", AT_INGRESS(DEV_A),
	  .build = pkt_v4_udp_padded, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 non-first fragment", AT_INGRESS(DEV_A), .build = pkt_v4_frag_later,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 UDP x1000 (test_run repeat)", AT_INGRESS(DEV_A), .repeat = 1000,
	  .build = pkt_v4_udp_remote, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1000) } },
	{ "IPv4 BIG TCP: tot_len 0 on a GSO packet", AT_INGRESS(DEV_A), .gso_size = 1448,
	  .build = pkt_v4_totlen_zero, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },

	/* To a local endpoint: redirected to its host veth. */
	{ "IPv4 UDP to local endpoint B: redirect", AT_INGRESS(DEV_A), .build = pkt_v4_udp_to_b,
	  .verdict = TC_ACT_REDIRECT, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 TCP to local endpoint B: redirect", AT_INGRESS(DEV_A), .build = pkt_v4_tcp_to_b,
	  .verdict = TC_ACT_REDIRECT, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv4 to a local endpoint without ifindex: host stack", AT_INGRESS(DEV_A),
	  .build = pkt_v4_tcp_to_noif, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },

	/* Malformed IPv4: dropped and counted as invalid. */
	{ "IPv4 IHL 4", AT_INGRESS(DEV_A), .build = pkt_v4_ihl4, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv4 ethertype with version 6", AT_INGRESS(DEV_A), .build = pkt_v4_version6,
	  .verdict = TC_ACT_SHOT, .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv4 options past the end of the frame", AT_INGRESS(DEV_A),
	  .build = pkt_v4_options_cut, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv4 total length past the end of the frame", AT_INGRESS(DEV_A),
	  .build = pkt_v4_totlen_long, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv4 total length shorter than the header", AT_INGRESS(DEV_A),
	  .build = pkt_v4_totlen_short, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv4 total length 0 without GSO", AT_INGRESS(DEV_A), .build = pkt_v4_totlen_zero,
	  .verdict = TC_ACT_SHOT, .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },

	/* IPv6 from A. */
	{ "IPv6 TCP to the world", AT_INGRESS(DEV_A), .build = pkt_v6_tcp_world,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 UDP to a remote prefix", AT_INGRESS(DEV_A), .build = pkt_v6_udp_remote,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 ICMPv6 echo", AT_INGRESS(DEV_A), .build = pkt_v6_icmp_echo,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 neighbour solicitation (multicast)", AT_INGRESS(DEV_A),
	  .build = pkt_v6_neigh_solicit, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 non-first fragment", AT_INGRESS(DEV_A), .build = pkt_v6_frag_later,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 with 8 extension headers: forwarded", AT_INGRESS(DEV_A),
	  .build = pkt_v6_ext_many, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 UDP to local endpoint B: redirect", AT_INGRESS(DEV_A), .build = pkt_v6_udp_to_b,
	  .verdict = TC_ACT_REDIRECT, .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },
	{ "IPv6 HBH+DSTOPTS+RH+FRAG+UDP to B: redirect", AT_INGRESS(DEV_A),
	  .build = pkt_v6_ext_chain_to_b, .verdict = TC_ACT_REDIRECT,
	  .counts = { FWD(EP_A, MS_DIR_EGRESS, 1) } },

	/* Malformed IPv6. */
	{ "IPv6 ethertype with version 4", AT_INGRESS(DEV_A), .build = pkt_v6_version4,
	  .verdict = TC_ACT_SHOT, .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv6 payload length past the end of the frame", AT_INGRESS(DEV_A),
	  .build = pkt_v6_plen_long, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "IPv6 extension header past the end of the frame", AT_INGRESS(DEV_A),
	  .build = pkt_v6_ext_cut, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_A, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },

	/* ms_to_container: delivered to the endpoint. */
	{ "to A: IPv4 TCP from the world", AT_EGRESS(DEV_A), .build = pkt_v4_tcp_from_world,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_A, MS_DIR_INGRESS, 1) } },
	{ "to B: IPv4 UDP from A (after the redirect)", .prog = TO, .ifindex = DEV_B,
	  .ingress_ifindex = DEV_A, .build = pkt_v4_udp_to_b, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_B, MS_DIR_INGRESS, 1) } },
	{ "to B: IPv6 UDP from A", AT_EGRESS(DEV_B), .build = pkt_v6_udp_to_b,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_B, MS_DIR_INGRESS, 1) } },
	{ "to B: IPv6 UDP through the extension chain", AT_EGRESS(DEV_B),
	  .build = pkt_v6_ext_chain_to_b, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_B, MS_DIR_INGRESS, 1) } },
	{ "to B: IPv6 TCP SYN", AT_EGRESS(DEV_B), .build = pkt_v6_from_a_tcp,
	  .verdict = TC_ACT_OK, .counts = { FWD(EP_B, MS_DIR_INGRESS, 1) } },
	{ "to_container keys on ifindex, not ingress_ifindex", .prog = TO, .ifindex = DEV_LO,
	  .ingress_ifindex = DEV_A, .build = pkt_v4_tcp_from_world, .verdict = TC_ACT_OK,
	  .counts = NONE },
	{ "to an unmanaged interface: nothing counted", AT_EGRESS(DEV_LO),
	  .build = pkt_v4_tcp_from_world, .verdict = TC_ACT_OK, .counts = NONE },
	{ "to A: ARP passes untouched", AT_EGRESS(DEV_A), .build = pkt_arp_request,
	  .verdict = TC_ACT_OK, .counts = NONE },
	{ "to A: IPv6 ICMPv6 echo, x50", AT_EGRESS(DEV_A), .repeat = 50,
	  .build = pkt_v6_icmp_echo, .verdict = TC_ACT_OK,
	  .counts = { FWD(EP_A, MS_DIR_INGRESS, 50) } },

	/* Attached for real (test_run refuses these frames, see the top of the file). */
	{ "live from B: IPv4 header truncated to 10 bytes", .live = 1, .prog = FROM,
	  .build = pkt_v4_truncated,
	  .counts = { DROP(EP_B, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "live from B: IPv6 header truncated to 20 bytes", .live = 1, .prog = FROM,
	  .build = pkt_v6_truncated,
	  .counts = { DROP(EP_B, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "live from B: IPv6 header truncated to 30 bytes", .live = 1, .prog = FROM,
	  .build = pkt_v6_truncated_30,
	  .counts = { DROP(EP_B, MS_DIR_EGRESS, MS_DROP_INVALID, 1) } },
	{ "live from B: IPv4 UDP counted as the whole frame", .live = 1, .prog = FROM,
	  .build = pkt_v4_udp_remote_from_b, .counts = { FWD(EP_B, MS_DIR_EGRESS, 1) } },
	{ "live from B: IPv6 TCP counted as the whole frame", .live = 1, .prog = FROM,
	  .build = pkt_v6_tcp_world_from_b, .counts = { FWD(EP_B, MS_DIR_EGRESS, 1) } },
	{ "live to B: IPv4 header truncated to 10 bytes", .live = 1, .prog = TO,
	  .build = pkt_v4_truncated, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_B, MS_DIR_INGRESS, MS_DROP_INVALID, 1) } },
	{ "live to B: IPv6 header truncated to 20 bytes", .live = 1, .prog = TO,
	  .build = pkt_v6_truncated, .verdict = TC_ACT_SHOT,
	  .counts = { DROP(EP_B, MS_DIR_INGRESS, MS_DROP_INVALID, 1) } },
	{ "live to B: IPv4 TCP counted as the whole frame", .live = 1, .prog = TO,
	  .build = pkt_v4_tcp_from_world, .verdict = TC_ACT_OK, .counts = { FWD(EP_B, MS_DIR_INGRESS, 1) } },
};

static uint32_t dev_ifindex(enum dp_dev d)
{
	switch (d) {
	case DEV_LO:
		return 1;
	case DEV_A:
		return env.if_a;
	case DEV_B:
		return env.if_b;
	case DEV_ABSENT:
		return 0x7ffffff0; /* no device has this index in our fresh namespace */
	default:
		return 0;
	}
}

static int same_stats(const struct ms_ep_stats *a, const struct ms_ep_stats *b)
{
	return memcmp(a, b, sizeof(*a) * T_MAX_ENDPOINTS) == 0;
}

/*
 * Sends the frame where the row's program is attached and waits for the counters to move:
 * TC egress runs inside send(), TC ingress of the peer a little later, from the backlog.
 */
static int send_live(const struct dp_case *tc, const struct pb *p, struct ms_ep_stats *before,
		     struct ms_ep_stats *after)
{
	int sock = tc->prog == FROM ? sock_a : sock_b;
	struct timespec ts = { 0, 1000000 };
	int i, err;

	err = send(sock, p->data, p->len, 0) == (ssize_t)p->len ? 0 : -errno;
	/* A drop at TC egress comes back to the sender as NET_XMIT_DROP, i.e. ENOBUFS. */
	if (tc->prog == TO && tc->verdict == TC_ACT_SHOT ? err != -ENOBUFS : err != 0) {
		printf("#   send: %d (%s)\n", err, strerror(-err));
		return -1;
	}
	for (i = 0; i < 2000; i++) {
		if (snapshot(after))
			return -1;
		if (!same_stats(before, after))
			break;
		nanosleep(&ts, NULL);
	}
	/* Anything else arriving late would show up as an extra count. */
	nanosleep(&ts, NULL);
	return snapshot(after);
}

static int run_case(const struct dp_case *tc)
{
	static struct ms_ep_stats before[T_MAX_ENDPOINTS], after[T_MAX_ENDPOINTS];
	static uint8_t out[PB_MAX_LEN + 256];
	static struct pb p;
	struct __sk_buff ctx = { 0 };
	int len, err;

	len = tc->build(&p);
	if (len < 0) {
		printf("#   packet builder failed: %d\n", len);
		return -1;
	}
	if (base_state() || (tc->setup && tc->setup())) {
		printf("#   map setup failed: %s\n", strerror(errno));
		return -1;
	}
	if (snapshot(before))
		return -1;
	if (tc->live) {
		if (send_live(tc, &p, before, after))
			return -1;
		return check_counts(tc, before, after, (uint64_t)len);
	}

	ctx.ifindex = dev_ifindex(tc->ifindex);
	ctx.ingress_ifindex = dev_ifindex(tc->ingress_ifindex);
	ctx.gso_size = tc->gso_size;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = tc->repeat ? tc->repeat : 1);
	err = bpf_prog_test_run_opts(env.prog[tc->prog], &opts) ? -errno : 0;
	if (err != tc->run_err) {
		printf("#   test_run returned %d (%s), want %d\n", err, strerror(-err), tc->run_err);
		return -1;
	}
	if (snapshot(after))
		return -1;
	if (err == 0) {
		if ((int)opts.retval != tc->verdict) {
			printf("#   verdict %d, want %d\n", (int)opts.retval, tc->verdict);
			return -1;
		}
		/* Nothing in this datapath rewrites packets yet. */
		if (opts.data_size_out != (uint32_t)len || memcmp(out, p.data, len) != 0) {
			printf("#   packet modified (%u bytes out of %d)\n", opts.data_size_out, len);
			return -1;
		}
	}
	return check_counts(tc, before, after, (uint64_t)len);
}

/* ---- map layout vs the ABI header -------------------------------------------------------- */

static int check_map(const struct bpf_map *m, const char *name, enum bpf_map_type type,
		     uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags)
{
	struct bpf_map_info info = { 0 };
	uint32_t info_len = sizeof(info);

	if (strcmp(bpf_map__name(m), name) != 0) {
		printf("#   map %s, want %s\n", bpf_map__name(m), name);
		return -1;
	}
	/* What the kernel created, not what the object file asked for. */
	if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &info_len))
		return -1;
	if (info.type != type || info.key_size != key_size || info.value_size != value_size ||
	    info.max_entries != max_entries || info.map_flags != flags) {
		printf("#   %s: type %u key %u value %u max %u flags %#x\n", name, info.type,
		       info.key_size, info.value_size, info.max_entries, info.map_flags);
		return -1;
	}
	return 0;
}

static int check_maps_match_abi(void)
{
	struct endpoint_bpf *s = skel;
	int err = 0;

	err |= check_map(s->maps.ms_meta, MS_MAP_META, BPF_MAP_TYPE_ARRAY, 4,
			 sizeof(struct ms_meta), 1, 0);
	err |= check_map(s->maps.ms_endpoints, MS_MAP_ENDPOINTS, BPF_MAP_TYPE_HASH, 4,
			 sizeof(struct ms_endpoint_info), T_MAX_ENDPOINTS, 0);
	err |= check_map(s->maps.ms_ipcache, MS_MAP_IPCACHE, BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct ms_ipcache_key), sizeof(struct ms_ipcache_value),
			 T_MAX_IPCACHE, BPF_F_NO_PREALLOC);
	err |= check_map(s->maps.ms_ep_stats, MS_MAP_EP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			 sizeof(struct ms_ep_stats), T_MAX_ENDPOINTS, 0);
	err |= check_map(s->maps.ms_config, MS_MAP_CONFIG, BPF_MAP_TYPE_ARRAY, 4,
			 sizeof(struct ms_config), 1, 0);
	err |= check_map(s->maps.ms_policy, MS_MAP_POLICY, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4,
			 2 * T_MAX_ENDPOINTS, 0);
	err |= check_map(s->maps.ms_ct, MS_MAP_CT, BPF_MAP_TYPE_LRU_HASH,
			 sizeof(struct ms_ct_key), sizeof(struct ms_ct_value), T_MAX_CT, 0);
	if (s->rodata->ms_max_endpoints != T_MAX_ENDPOINTS) {
		printf("#   ms_max_endpoints %u\n", s->rodata->ms_max_endpoints);
		err = -1;
	}
	if (strcmp(bpf_program__name(s->progs.ms_from_container), MS_PROG_FROM_CONTAINER) ||
	    strcmp(bpf_program__name(s->progs.ms_to_container), MS_PROG_TO_CONTAINER) ||
	    bpf_program__type(s->progs.ms_from_container) != BPF_PROG_TYPE_SCHED_CLS ||
	    bpf_program__type(s->progs.ms_to_container) != BPF_PROG_TYPE_SCHED_CLS) {
		printf("#   program names or types differ from the ABI header\n");
		err = -1;
	}
	return err ? -1 : 0;
}

/* Default sizes in the object file, before anyone resizes them. */
static int check_default_sizes(void)
{
	struct endpoint_bpf *s = endpoint_bpf__open();
	int err = 0;

	if (!s)
		return -1;
	if (bpf_map__max_entries(s->maps.ms_endpoints) != MS_DEFAULT_MAX_ENDPOINTS ||
	    bpf_map__max_entries(s->maps.ms_ep_stats) != MS_DEFAULT_MAX_ENDPOINTS ||
	    bpf_map__max_entries(s->maps.ms_ipcache) != MS_DEFAULT_MAX_IPCACHE ||
	    bpf_map__max_entries(s->maps.ms_meta) != 1 ||
	    bpf_map__max_entries(s->maps.ms_config) != 1 ||
	    bpf_map__max_entries(s->maps.ms_policy) != 2 * MS_DEFAULT_MAX_ENDPOINTS ||
	    bpf_map__max_entries(bpf_map__inner_map(s->maps.ms_policy)) !=
		    MS_DEFAULT_POLICY_ENTRIES ||
	    bpf_map__max_entries(s->maps.ms_ct) != MS_DEFAULT_CT_ENTRIES ||
	    s->rodata->ms_max_endpoints != MS_DEFAULT_MAX_ENDPOINTS) {
		printf("#   default max_entries differ from MS_DEFAULT_MAX_*\n");
		err = -1;
	}
	/* The library pins the maps itself: the object must not ask libbpf to. */
	if (bpf_map__pin_path(s->maps.ms_endpoints) || bpf_map__pin_path(s->maps.ms_ipcache) ||
	    bpf_map__pin_path(s->maps.ms_ep_stats) || bpf_map__pin_path(s->maps.ms_meta) ||
	    bpf_map__pin_path(s->maps.ms_config) || bpf_map__pin_path(s->maps.ms_policy) ||
	    bpf_map__pin_path(s->maps.ms_ct)) {
		printf("#   a map carries a pinning attribute\n");
		err = -1;
	}
	endpoint_bpf__destroy(s);
	return err;
}

static int packet_socket(uint32_t ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: send only */

	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		printf("# AF_PACKET socket: %s\n", strerror(errno));
		return -1;
	}
	return fd;
}

/* From_container on the ingress of msdpb, to_container on its egress. Filters and links go
 * away with the namespace. */
static int attach_live(void)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)env.if_b,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, in, .prog_fd = env.prog[FROM]);
	LIBBPF_OPTS(bpf_tc_opts, out, .prog_fd = env.prog[TO]);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	hook.attach_point = BPF_TC_INGRESS;
	err = bpf_tc_attach(&hook, &in);
	if (err)
		return err;
	hook.attach_point = BPF_TC_EGRESS;
	err = bpf_tc_attach(&hook, &out);
	if (err)
		return err;
	sock_a = packet_socket(env.if_a);
	sock_b = packet_socket(env.if_b);
	return (sock_a < 0 || sock_b < 0) ? -1 : 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static int setup_env(void)
{
	static const struct dp_sizes sizes = {
		.endpoints = T_MAX_ENDPOINTS, .ipcache = T_MAX_IPCACHE, .ct = T_MAX_CT,
	};

	/* No IPv6 on the test links: router solicitations and MLD reports would go through the
	 * attached programs and show up in the counters. Nothing else talks on them. */
	if (dp_env_init(&env, "msdp", DP_LINKS_UP | DP_NO_IPV6, T_POLICY_ENTRIES))
		return -1;
	skel = endpoint_bpf__open();
	if (!skel || dp_env_load(&env, skel->obj, &skel->rodata->ms_max_endpoints, &sizes))
		return -1;
	return attach_live();
}

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	int status;

	dp_tap_start("test_endpoint", setup_env, (int)n + 2);
	dp_tap_ok(check_default_sizes() != 0, "object defaults: max_entries, no pinning");
	dp_tap_ok(check_maps_match_abi() != 0, "maps and programs match microseg_abi.h");
	for (i = 0; i < n; i++)
		dp_tap_ok(run_case(&cases[i]) != 0, cases[i].name);
	status = dp_tap_done(NULL);
	endpoint_bpf__destroy(skel);
	return status;
}
