/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy, connection tracking and anti-spoofing of the endpoint programs (bpf/endpoint.bpf.c)
 * through BPF_PROG_TEST_RUN: a verdict matrix.
 *
 * Every scenario starts from the same base state: endpoints A and B on a veth pair (the
 * to-container program keys on a real device), a remote prefix, the host, no policy table,
 * revision 0, an empty connection table. It installs its policy tables, then runs its steps in
 * order: packets through one program (verdict and every counter of every endpoint checked),
 * map changes (tables, revision bumps, identities) and checks of the connection table.
 * Connection tracking makes order matter within a scenario, never across scenarios.
 *
 * Tables are built as the library must build them (microseg_abi.h): an LPM trie per endpoint
 * and half of ms_policy, keys {48 + port prefix bits, identity, direction, protocol, port in
 * network order}. "A sends" runs ms_from_container for A's host veth (A's egress), "A receives"
 * ms_to_container (A's ingress).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "microseg_abi.h"
#include "endpoint.skel.h"
#include "pktbuild.h"
#include "dp_util.h"

#define T_MAX_ENDPOINTS 64
#define T_MAX_IPCACHE 1024
#define T_POLICY_ENTRIES 256
#define T_MAX_CT 4096

#define EP_A 1
#define EP_B 2
#define ID_A 1001
#define ID_B 1002
#define ID_REMOTE 5000
#define ID_REMOTE_NEW 6000
#define IP4_A "10.200.0.1"
#define IP4_B "10.200.0.2"
#define IP4_HOST "10.200.255.254"
#define IP4_REMOTE "10.201.3.4"  /* in 10.201.0.0/16, ID_REMOTE */
#define IP4_ROUTER "10.201.0.1"  /* same prefix */
#define IP4_WORLD "198.51.100.7" /* no ipcache entry */
#define IP4_STRAY "10.200.9.9"   /* no ipcache entry, next to the endpoints */
#define IP6_A "fd00:200::1"
#define IP6_B "fd00:200::2"
#define IP6_REMOTE "fd00:201::5" /* in fd00:201::/64, ID_REMOTE */
#define IP6_ROUTER "fd00:201::1"
#define IP6_WORLD "2001:db8::7"
#define IP6_LL_A "fe80::a"
#define IP6_LL_GW "fe80::1"
#define MAC_A "02:00:0a:c8:00:01"
#define MAC_B "02:00:0a:c8:00:02"
#define MAC_GW "02:00:0a:c8:ff:fe"

#define EG MS_DIR_EGRESS
#define IN MS_DIR_INGRESS
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define ICMP IPPROTO_ICMP
#define ICMP6 IPPROTO_ICMPV6
#define GRE 47
#define ANYP 0
#define ANYID MS_POLICY_ANY_ID

#define SYN PB_TCP_SYN
#define ACK PB_TCP_ACK
#define FIN PB_TCP_FIN
#define RST PB_TCP_RST
#define SA (PB_TCP_SYN | PB_TCP_ACK)
#define FA (PB_TCP_FIN | PB_TCP_ACK)

/* ---- packets ---------------------------------------------------------------------------- */

/* Packets quoted by ICMP errors. */
static const struct dp_pkt q_a_syn_443 = TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN);
static const struct dp_pkt q_a_syn_443_other = TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN);
static const struct dp_pkt q_remote_udp_53 = UDP4(IP4_REMOTE, IP4_A, 5353, 53);
static const struct dp_pkt q_remote_udp_53_other = UDP4(IP4_REMOTE, IP4_A, 5354, 53);
static const struct dp_pkt q_a6_syn_443 = TCP6(IP6_A, IP6_REMOTE, 40000, 443, SYN);
static const struct dp_pkt q_a6_syn_443_other = TCP6(IP6_A, IP6_REMOTE, 40009, 443, SYN);
static const struct dp_pkt q_a6_echo = ICMPV6(IP6_A, IP6_REMOTE, 128, 0x1111);
static const struct dp_pkt q_a6_echo_other = ICMPV6(IP6_A, IP6_REMOTE, 128, 0x2222);
static const struct dp_pkt q_a_echo = ICMP4(IP4_A, IP4_REMOTE, 8, 0x1111);

/* ---- policy tables ---------------------------------------------------------------------- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct table {
	uint32_t ep;   /* 0 ends a list */
	int half;
	const struct dp_rule *rules;
	size_t n;      /* 0: an empty table, i.e. both directions selected, nothing allowed */
};

#define TABLE(ep, half, arr) { ep, half, arr, N(arr) }
#define EMPTY(ep, half) { ep, half, NULL, 0 }

/* ---- steps and scenarios ---------------------------------------------------------------- */

enum kind { S_END = 0, S_PKT, S_CT_HAS, S_CT_GONE, S_CT_COUNT, S_CT_PUT, S_TABLE, S_REV, S_DO };
enum prog { FROM, TO };

struct step {
	int kind;
	/* S_PKT */
	int prog;
	int ep;             /* EP_A or EP_B: whose host veth */
	struct dp_pkt p;       /* also the connection for the S_CT_* steps */
	int verdict;
	struct dp_count counts[2];
	uint32_t repeat;
	/* S_CT_HAS / S_CT_PUT: the entry of connection p, opened in direction dir */
	int dir;
	uint32_t ct_flags;
	uint32_t rev;       /* S_CT_HAS, S_CT_PUT; S_REV: the new revision */
	uint64_t packets;   /* S_CT_HAS: checked if non-zero */
	int rule_id;        /* S_CT_HAS: checked if >= 0 ... see CT_HAS */
	uint32_t peer;      /* S_CT_HAS: checked if non-zero */
	int age_s;          /* S_CT_PUT: last seen that many seconds ago */
	int n;              /* S_CT_COUNT */
	struct table table; /* S_TABLE */
	int (*fn)(void);    /* S_DO: 0 or -1 */
};

#define FWD(X, d) { EP_##X, d, MS_DROP_NONE, 1 }
#define DROP(X, d, why) { EP_##X, d, why, 1 }

#define SEND_OK(X, ...) { .kind = S_PKT, .prog = FROM, .ep = EP_##X, .p = __VA_ARGS__, .verdict = TC_ACT_OK, .counts = { FWD(X, EG) } }
#define SEND_REDIR(X, ...) { .kind = S_PKT, .prog = FROM, .ep = EP_##X, .p = __VA_ARGS__, .verdict = TC_ACT_REDIRECT, .counts = { FWD(X, EG) } }
#define SEND_DROP(X, why, ...) { .kind = S_PKT, .prog = FROM, .ep = EP_##X, .p = __VA_ARGS__, .verdict = TC_ACT_SHOT, .counts = { DROP(X, EG, why) } }
#define RECV_OK(X, ...) { .kind = S_PKT, .prog = TO, .ep = EP_##X, .p = __VA_ARGS__, .verdict = TC_ACT_OK, .counts = { FWD(X, IN) } }
#define RECV_DROP(X, why, ...) { .kind = S_PKT, .prog = TO, .ep = EP_##X, .p = __VA_ARGS__, .verdict = TC_ACT_SHOT, .counts = { DROP(X, IN, why) } }
#define CT_HAS(d, fl, rv, np, ...) { .kind = S_CT_HAS, .dir = d, .ct_flags = fl, .rev = rv, .packets = np, .rule_id = -1, .p = __VA_ARGS__ }
#define CT_RULE(d, rv, rid, pe, ...) { .kind = S_CT_HAS, .dir = d, .ct_flags = ~0u, .rev = rv, .rule_id = rid, .peer = pe, .p = __VA_ARGS__ }
#define CT_GONE(d, ...) { .kind = S_CT_GONE, .dir = d, .p = __VA_ARGS__ }
#define CT_COUNT(k) { .kind = S_CT_COUNT, .n = k }
#define CT_PUT(d, fl, age, ...) { .kind = S_CT_PUT, .dir = d, .ct_flags = fl, .age_s = age, .p = __VA_ARGS__ }
#define SET_TABLE(ep, half, arr) { .kind = S_TABLE, .table = TABLE(ep, half, arr) }
#define SET_EMPTY(ep, half) { .kind = S_TABLE, .table = EMPTY(ep, half) }
#define REV(r) { .kind = S_REV, .rev = r }
#define DO(f) { .kind = S_DO, .fn = f }

#define MAX_TABLES 4
#define MAX_STEPS 24

struct scenario {
	const char *name;
	struct table tables[MAX_TABLES];
	int (*setup)(void);
	struct step steps[MAX_STEPS];
};

static struct dp_env env;
static struct endpoint_bpf *skel;

/* ---- map state -------------------------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static int put_ep(uint32_t ifindex, uint32_t ep_id, uint32_t identity, const char *mac)
{
	struct ms_endpoint_info v = { .ep_id = ep_id, .identity = identity,
				      .flags = MS_EP_F_ACTIVE };

	if (mac && parse_mac(mac, v.mac))
		return -1;
	return bpf_map_update_elem(env.eps, &ifindex, &v, BPF_ANY);
}

static int set_rev(uint32_t rev)
{
	struct ms_config c = { .policy_rev = rev };
	uint32_t zero = 0;

	return bpf_map_update_elem(env.cfg, &zero, &c, BPF_ANY);
}

/* Builds a table and puts it in slot (half, ep) of ms_policy. */
static int install(const struct table *t)
{
	return dp_policy_install(env.pol, (uint32_t)t->half * T_MAX_ENDPOINTS + t->ep, t->rules,
				 t->n, T_POLICY_ENTRIES);
}

static int base_state(void)
{
	uint32_t slot;
	int err = 0;

	err |= dp_map_clear(env.eps, sizeof(uint32_t));
	err |= dp_map_clear(env.ipc, sizeof(struct ms_ipcache_key));
	err |= dp_map_clear(env.ct, sizeof(struct ms_ct_key));
	for (slot = 0; slot < 2 * T_MAX_ENDPOINTS; slot++)
		if (bpf_map_delete_elem(env.pol, &slot) && errno != ENOENT)
			err = -1;
	err |= set_rev(0);
	err |= put_ep(env.if_a, EP_A, ID_A, MAC_A);
	err |= put_ep(env.if_b, EP_B, ID_B, MAC_B);
	err |= dp_ipc_put(env.ipc, IP4_A, 32, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP6_A, 128, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP4_B, 32, ID_B, env.if_b, EP_B, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP6_B, 128, ID_B, env.if_b, EP_B, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP4_HOST, 32, MS_ID_HOST, 0, 0, MS_IPC_F_HOST);
	err |= dp_ipc_put(env.ipc, "10.201.0.0", 16, ID_REMOTE, 0, 0, 0);
	err |= dp_ipc_put(env.ipc, "fd00:201::", 64, ID_REMOTE, 0, 0, 0);
	return err ? -1 : 0;
}

/* The connection table key of the connection whose first packet is k, seen in dir. */
static void ct_key(const struct dp_pkt *k, int dir, struct ms_ct_key *key)
{
	int af = k->v6 ? AF_INET6 : AF_INET;

	memset(key, 0, sizeof(*key));
	inet_pton(af, k->src, key->saddr);
	inet_pton(af, k->dst, key->daddr);
	key->family = k->v6 ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
	key->proto = k->proto;
	key->dir = (uint8_t)dir;
	if (k->proto == TCP || k->proto == UDP) {
		key->sport = htons(k->sport);
		key->dport = htons(k->dport);
	} else if (k->proto == ICMP || k->proto == ICMP6) {
		key->sport = htons(k->sport);
		key->dport = htons(k->sport);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns() */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ct_count(void)
{
	struct ms_ct_key k, next;
	int n = 0;

	if (bpf_map_get_next_key(env.ct, NULL, &next))
		return 0;
	do {
		k = next;
		n++;
	} while (bpf_map_get_next_key(env.ct, &k, &next) == 0);
	return n;
}

/* ---- running ---------------------------------------------------------------------------- */

static int run_packet(const struct step *st)
{
	static struct ms_ep_stats before[T_MAX_ENDPOINTS], after[T_MAX_ENDPOINTS];
	static uint8_t out[PB_MAX_LEN + 256];
	static struct pb p;
	struct dp_count want[2];
	struct __sk_buff ctx = { 0 };
	uint32_t ifindex = st->ep == EP_A ? env.if_a : env.if_b;
	uint32_t repeat = st->repeat ? st->repeat : 1;
	const char *mac = st->prog == TO ? MAC_GW : st->ep == EP_A ? MAC_A : MAC_B;
	int len, i;

	len = dp_pkt_build(&p, &st->p, mac, MAC_GW);
	if (len < 0) {
		printf("#   packet builder failed: %d\n", len);
		return -1;
	}
	if (dp_stats_snapshot(env.stats, env.ncpus, T_MAX_ENDPOINTS, before))
		return -1;
	ctx.ifindex = ifindex;
	ctx.ingress_ifindex = st->prog == FROM ? ifindex : 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);
	if (bpf_prog_test_run_opts(env.prog[st->prog], &opts)) {
		printf("#   test_run: %s\n", strerror(errno));
		return -1;
	}
	if (dp_stats_snapshot(env.stats, env.ncpus, T_MAX_ENDPOINTS, after))
		return -1;
	if ((int)opts.retval != st->verdict) {
		printf("#   verdict %d, want %d\n", (int)opts.retval, st->verdict);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		want[i] = st->counts[i];
		want[i].packets *= repeat;
	}
	return dp_stats_check(before, after, T_MAX_ENDPOINTS, want, 2, (uint64_t)len);
}

static int check_ct(const struct step *st)
{
	struct ms_ct_value v;
	struct ms_ct_key k;
	int found, bad = 0;

	ct_key(&st->p, st->dir, &k);
	found = bpf_map_lookup_elem(env.ct, &k, &v) == 0;
	if (st->kind == S_CT_GONE) {
		if (found)
			printf("#   connection entry still there\n");
		return found ? -1 : 0;
	}
	if (!found) {
		printf("#   no connection entry\n");
		return -1;
	}
	if (st->ct_flags != ~0u && v.flags != st->ct_flags) {
		printf("#   flags %#x, want %#x\n", v.flags, st->ct_flags);
		bad = 1;
	}
	if (v.policy_rev != st->rev) {
		printf("#   policy_rev %u, want %u\n", v.policy_rev, st->rev);
		bad = 1;
	}
	if (st->packets && v.packets != st->packets) {
		printf("#   packets %llu, want %llu\n", (unsigned long long)v.packets,
		       (unsigned long long)st->packets);
		bad = 1;
	}
	if (st->rule_id >= 0 && v.rule_id != (uint32_t)st->rule_id) {
		printf("#   rule_id %u, want %d\n", v.rule_id, st->rule_id);
		bad = 1;
	}
	if (st->peer && v.peer_identity != st->peer) {
		printf("#   peer_identity %u, want %u\n", v.peer_identity, st->peer);
		bad = 1;
	}
	if (v.last_seen_ns < v.created_ns || v.last_seen_ns > mono_ns()) {
		printf("#   timestamps out of order\n");
		bad = 1;
	}
	return bad ? -1 : 0;
}

static int put_ct(const struct step *st)
{
	uint64_t then = mono_ns() - (uint64_t)st->age_s * 1000000000ull;
	struct ms_ct_value v = { .last_seen_ns = then, .created_ns = then, .policy_rev = st->rev,
				 .flags = st->ct_flags, .packets = 1, .bytes = 60 };
	struct ms_ct_key k;

	ct_key(&st->p, st->dir, &k);
	return bpf_map_update_elem(env.ct, &k, &v, BPF_ANY) ? -1 : 0;
}

static int run_step(const struct step *st)
{
	int n;

	switch (st->kind) {
	case S_PKT:
		return run_packet(st);
	case S_CT_HAS:
	case S_CT_GONE:
		return check_ct(st);
	case S_CT_COUNT:
		n = ct_count();
		if (n != st->n)
			printf("#   %d connection entries, want %d\n", n, st->n);
		return n == st->n ? 0 : -1;
	case S_CT_PUT:
		return put_ct(st);
	case S_TABLE:
		return install(&st->table);
	case S_REV:
		return set_rev(st->rev);
	case S_DO:
		return st->fn();
	}
	return -1;
}

static const char *step_name(const struct step *st)
{
	static char buf[160];
	const char *what[] = { "", "packet", "CT entry", "CT entry gone", "CT count", "CT put",
			       "table", "revision", "action" };

	if (st->kind == S_PKT || st->kind == S_CT_HAS || st->kind == S_CT_GONE ||
	    st->kind == S_CT_PUT) {
		snprintf(buf, sizeof(buf), "%s %s %s %s -> %s proto %u %u/%u", what[st->kind],
			 st->kind == S_PKT ? (st->prog == FROM ? "sent by" : "to") : "",
			 st->kind == S_PKT ? (st->ep == EP_A ? "A" : "B") : "", st->p.src,
			 st->p.dst, st->p.proto, st->p.sport, st->p.dport ? st->p.dport :
			 st->p.type);
		return buf;
	}
	return what[st->kind];
}

static int run_scenario(const struct scenario *sc, int *steps_run)
{
	const struct table *t;
	const struct step *st;
	int bad = 0;

	if (base_state()) {
		printf("#   base state: %s\n", strerror(errno));
		return -1;
	}
	for (t = sc->tables; t < sc->tables + MAX_TABLES && t->ep; t++) {
		if (install(t)) {
			printf("#   installing the table of endpoint %u failed\n", t->ep);
			return -1;
		}
	}
	if (sc->setup && sc->setup()) {
		printf("#   setup failed\n");
		return -1;
	}
	for (st = sc->steps; st < sc->steps + MAX_STEPS && st->kind != S_END; st++) {
		(*steps_run)++;
		if (run_step(st)) {
			printf("#   ^ step %d: %s\n", (int)(st - sc->steps) + 1, step_name(st));
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* ---- tables ----------------------------------------------------------------------------- */

static const struct dp_rule t_https_remote[] = { ALLOW(ID_REMOTE, EG, TCP, 443, 16, 11) };
static const struct dp_rule t_https_any[] = { ALLOW(ANYID, EG, TCP, 443, 16, 22) };
static const struct dp_rule t_8443_remote[] = { ALLOW(ID_REMOTE, EG, TCP, 8443, 16, 12) };
static const struct dp_rule t_deny22[] = {
	ALLOW(ANYID, EG, TCP, 0, 0, 1),
	DENY(ID_REMOTE, EG, TCP, 22, 16, 2),
};
/* 8000-8191 is two prefixes: 8000/10 (8000-8063) and 8064/9 (8064-8191). */
static const struct dp_rule t_ranges[] = {
	ALLOW(ID_REMOTE, EG, TCP, 8080, 16, 1),
	ALLOW(ID_REMOTE, EG, TCP, 8000, 10, 2),
	DENY(ANYID, EG, TCP, 8064, 9, 3),
	ALLOW(ID_REMOTE, EG, TCP, 9000, 16, 4),
	DENY(ID_REMOTE, EG, ANYP, 9000, 16, 5),
};
/* 8192-8447 is one prefix: 8192/8. */
static const struct dp_rule t_range_one[] = { ALLOW(ID_REMOTE, EG, UDP, 8192, 8, 1) };
static const struct dp_rule t_dns_anyone[] = { ALLOW(ANYID, EG, UDP, 53, 16, 1) };
static const struct dp_rule t_remote_anything[] = { ALLOW(ID_REMOTE, EG, ANYP, 0, 0, 1) };
static const struct dp_rule t_remote_port_any_proto[] = { ALLOW(ID_REMOTE, EG, ANYP, 5000, 16, 1) };
static const struct dp_rule t_remote_tcp_any_port[] = { ALLOW(ID_REMOTE, EG, TCP, 0, 0, 1) };
static const struct dp_rule t_world_host[] = {
	ALLOW(MS_ID_WORLD, EG, TCP, 443, 16, 1),
	ALLOW(MS_ID_HOST, EG, TCP, 22, 16, 2),
};
static const struct dp_rule t_egress_only[] = { ALLOW(ID_REMOTE, EG, TCP, 443, 16, 1), OPEN(IN) };
static const struct dp_rule t_a_to_b_80[] = { ALLOW(ID_B, EG, TCP, 80, 16, 1) };
static const struct dp_rule t_b_from_a_80[] = { ALLOW(ID_A, IN, TCP, 80, 16, 1) };
static const struct dp_rule t_dns_world[] = { ALLOW(MS_ID_WORLD, EG, UDP, 53, 16, 1) };
static const struct dp_rule t_web_in[] = { ALLOW(ID_REMOTE, IN, TCP, 80, 16, 1) };
static const struct dp_rule t_web_in_denied[] = { DENY(ID_REMOTE, IN, TCP, 80, 16, 7), OPEN(EG) };
static const struct dp_rule t_ping[] = { ALLOW(ID_REMOTE, EG, ICMP, 8, 16, 1) };
static const struct dp_rule t_ping6[] = { ALLOW(ID_REMOTE, EG, ICMP6, 128, 16, 1) };
static const struct dp_rule t_v6[] = {
	ALLOW(ID_REMOTE, EG, TCP, 443, 16, 1),
	DENY(ANYID, EG, UDP, 0, 0, 2),
	OPEN(IN),
	DENY(ID_REMOTE, IN, TCP, 22, 16, 3),
};
static const struct dp_rule t_frag_port[] = {
	ALLOW(ID_REMOTE, EG, UDP, 53, 16, 1),
	ALLOW(ID_REMOTE, EG, UDP, 0, 1, 2), /* 0-32767: contains 0, still not "every port" */
	ALLOW(ID_REMOTE, EG, GRE, 0, 0, 3),
};
static const struct dp_rule t_frag_wild[] = { ALLOW(ID_REMOTE, EG, UDP, 0, 0, 1) };
static const struct dp_rule t_related[] = {
	ALLOW(ID_REMOTE, EG, TCP, 443, 16, 1),
	ALLOW(ID_REMOTE, IN, UDP, 53, 16, 2),
	ALLOW(ID_REMOTE, EG, ICMP, 8, 16, 3),
};
static const struct dp_rule t_related6[] = {
	ALLOW(ID_REMOTE, EG, TCP, 443, 16, 1),
	ALLOW(ID_REMOTE, EG, ICMP6, 128, 16, 2),
};
static const struct dp_rule t_tcp_remote_443[] = { ALLOW(ID_REMOTE, EG, TCP, 443, 16, 1) };
static const struct dp_rule t_open_both[] = { OPEN(IN), OPEN(EG) };

/* ---- actions ---------------------------------------------------------------------------- */

static int remote_changes_identity(void)
{
	/* The remote prefix now maps to another identity; the policy text did not change, but
	 * the revision is bumped (as the library does for identity changes) with a table that
	 * still names the old one. */
	static const struct table t = TABLE(EP_A, 1, t_https_remote);

	return dp_ipc_put(env.ipc, "10.201.0.0", 16, ID_REMOTE_NEW, 0, 0, 0) || install(&t) ||
	       set_rev(1);
}

static int a_loses_addresses(void)
{
	struct ms_ipcache_key k = { .prefixlen = 64, .family = MS_FAMILY_IPV4 };

	inet_pton(AF_INET, IP4_A, k.addr);
	if (bpf_map_delete_elem(env.ipc, &k))
		return -1;
	k.prefixlen = 160;
	k.family = MS_FAMILY_IPV6;
	memset(k.addr, 0, sizeof(k.addr));
	inet_pton(AF_INET6, IP6_A, k.addr);
	return bpf_map_delete_elem(env.ipc, &k) ? -1 : 0;
}

static int a_mac_unknown(void)
{
	return put_ep(env.if_a, EP_A, ID_A, NULL);
}

static int a_id_past_slots(void)
{
	/* An ep_id past the policy slots (and the stats slots): no table can be its own. */
	return put_ep(env.if_a, T_MAX_ENDPOINTS + 3, ID_A, MAC_A) ||
	       dp_ipc_put(env.ipc, IP4_A, 32, ID_A, env.if_a, T_MAX_ENDPOINTS + 3,
			  MS_IPC_F_LOCAL_EP);
}

/* ---- the matrix ------------------------------------------------------------------------- */

/* Neighbour solicitation to a solicited-node group. */
#define NS(from, mac) { .v6 = 1, .src = from, .dst = "ff02::1:ff00:1", .proto = ICMP6, .type = 135, .smac = mac }

static const struct scenario scenarios[] = {
	{ "no table: open both ways, connections tracked",
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_WORLD, 40000, 443, SYN)),
		CT_HAS(EG, MS_CT_F_SYN, 0, 1, TCP4(IP4_A, IP4_WORLD, 40000, 443, SYN)),
		RECV_OK(A, TCP4(IP4_WORLD, IP4_A, 5555, 8080, SYN)),
		CT_HAS(IN, MS_CT_F_SYN, 0, 1, TCP4(IP4_WORLD, IP4_A, 5555, 8080, SYN)),
		SEND_REDIR(A, UDP4(IP4_A, IP4_B, 40000, 53)),
		RECV_OK(B, UDP4(IP4_A, IP4_B, 40000, 53)),
		CT_COUNT(4),
	} },
	{ "allow (peer, proto, port); the rest of the selected direction is denied",
	  .tables = { TABLE(EP_A, 0, t_https_remote) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		CT_RULE(EG, 0, 11, ID_REMOTE, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 444, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_REMOTE, 40000, 443)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_WORLD, 40000, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_HOST, 40000, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_B, 40000, 443, SYN)),
		/* An empty ingress: selected, nothing allowed. */
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_REMOTE, IP4_A, 5555, 443, SYN)),
		CT_COUNT(1),
	} },
	{ "explicit deny",
	  .tables = { TABLE(EP_A, 0, t_deny22) },
	  .steps = {
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 40000, 22, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 23, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_WORLD, 40000, 22, SYN)),
		CT_GONE(EG, TCP4(IP4_A, IP4_REMOTE, 40000, 22, SYN)),
		CT_COUNT(2),
	} },
	{ "deny beats allow across tables; port ranges as several prefixes",
	  .tables = { TABLE(EP_A, 0, t_ranges) },
	  .steps = {
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 40000, 8080, SYN)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 40000, 8064, SYN)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 40000, 8191, SYN)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_WORLD, 40000, 8100, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 8000, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 8063, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 7999, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 8192, SYN)),
		/* A deny for any protocol beats the TCP allow of the same port. */
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 40000, 9000, SYN)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, UDP4(IP4_A, IP4_REMOTE, 40000, 9000)),
	} },
	{ "an aligned range is one prefix",
	  .tables = { TABLE(EP_A, 0, t_range_one) },
	  .steps = {
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 8192)),
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 8447)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_REMOTE, 40000, 8448)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_REMOTE, 40000, 8191)),
	} },
	{ "wildcard peer",
	  .tables = { TABLE(EP_A, 0, t_dns_anyone) },
	  .steps = {
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 53)),
		SEND_OK(A, UDP4(IP4_A, IP4_WORLD, 40000, 53)),
		SEND_OK(A, UDP4(IP4_A, IP4_HOST, 40000, 53)),
		SEND_REDIR(A, UDP4(IP4_A, IP4_B, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_WORLD, 40000, 54)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_WORLD, 40000, 53, SYN)),
	} },
	{ "wildcard protocol and port",
	  .tables = { TABLE(EP_A, 0, t_remote_anything) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 1, SYN)),
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 9)),
		SEND_OK(A, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1111)),
		SEND_OK(A, RAW4(IP4_A, IP4_REMOTE, GRE)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_WORLD, 40000, 1, SYN)),
	} },
	{ "wildcard protocol, one port: port-less protocols do not match",
	  .tables = { TABLE(EP_A, 0, t_remote_port_any_proto) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 5000, SYN)),
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 5000)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 5001, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, RAW4(IP4_A, IP4_REMOTE, GRE)),
	} },
	{ "wildcard port",
	  .tables = { TABLE(EP_A, 0, t_remote_tcp_any_port) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 1, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 65535, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_REMOTE, 40000, 1)),
	} },
	{ "world (ipcache miss) and host identities",
	  .tables = { TABLE(EP_A, 0, t_world_host) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_WORLD, 40000, 443, SYN)),
		SEND_OK(A, TCP6(IP6_A, IP6_WORLD, 40000, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_HOST, 40000, 22, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_HOST, 40000, 443, SYN)),
	} },
	{ "egress selected, ingress open through its default entry",
	  .tables = { TABLE(EP_A, 0, t_egress_only) },
	  .steps = {
		RECV_OK(A, TCP4(IP4_WORLD, IP4_A, 5555, 80, SYN)),
		RECV_OK(A, UDP6(IP6_WORLD, IP6_A, 5555, 53)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_WORLD, 40000, 80, SYN)),
	} },
	{ "an endpoint without a table stays open next to one with",
	  .tables = { EMPTY(EP_A, 0) },
	  .steps = {
		SEND_OK(B, UDP4(IP4_B, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY, UDP4(IP4_A, IP4_B, 40000, 8080)),
		SEND_REDIR(B, UDP4(IP4_B, IP4_A, 40000, 8080)),
		RECV_DROP(A, MS_DROP_POLICY, UDP4(IP4_B, IP4_A, 40000, 8080)),
	} },
	{ "TCP between local endpoints: both hooks, replies pass default-deny directions",
	  .tables = { TABLE(EP_A, 0, t_a_to_b_80), TABLE(EP_B, 0, t_b_from_a_80) },
	  .steps = {
		SEND_REDIR(A, TCP4(IP4_A, IP4_B, 40000, 80, SYN)),
		RECV_OK(B, TCP4(IP4_A, IP4_B, 40000, 80, SYN)),
		SEND_REDIR(B, TCP4(IP4_B, IP4_A, 80, 40000, SA)),
		RECV_OK(A, TCP4(IP4_B, IP4_A, 80, 40000, SA)),
		SEND_REDIR(A, TCP4(IP4_A, IP4_B, 40000, 80, ACK)),
		RECV_OK(B, TCP4(IP4_A, IP4_B, 40000, 80, ACK)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK | MS_CT_F_ESTABLISHED, 0, 3,
		       TCP4(IP4_A, IP4_B, 40000, 80, SYN)),
		CT_HAS(IN, MS_CT_F_SYN | MS_CT_F_SYNACK | MS_CT_F_ESTABLISHED, 0, 3,
		       TCP4(IP4_A, IP4_B, 40000, 80, SYN)),
		/* B opening a connection of its own, or answering one that does not exist. */
		SEND_DROP(B, MS_DROP_POLICY, TCP4(IP4_B, IP4_A, 40001, 80, SYN)),
		SEND_DROP(B, MS_DROP_POLICY, TCP4(IP4_B, IP4_A, 80, 40001, SA)),
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_B, IP4_A, 80, 40002, SA)),
		CT_COUNT(2),
	} },
	{ "UDP replies from the world, and only those",
	  .tables = { TABLE(EP_A, 0, t_dns_world) },
	  .steps = {
		SEND_OK(A, UDP4(IP4_A, IP4_WORLD, 40000, 53)),
		RECV_OK(A, UDP4(IP4_WORLD, IP4_A, 53, 40000)),
		{ .kind = S_PKT, .prog = TO, .ep = EP_A, .repeat = 100,
		  .p = UDP4(IP4_WORLD, IP4_A, 53, 40000), .verdict = TC_ACT_OK,
		  .counts = { FWD(A, IN) } },
		CT_HAS(EG, 0, 0, 102, UDP4(IP4_A, IP4_WORLD, 40000, 53)),
		RECV_DROP(A, MS_DROP_POLICY, UDP4(IP4_WORLD, IP4_A, 53, 40001)),
		RECV_DROP(A, MS_DROP_POLICY, UDP4(IP4_WORLD, IP4_A, 54, 40000)),
		RECV_DROP(A, MS_DROP_POLICY, UDP4(IP4_REMOTE, IP4_A, 53, 40000)),
	} },
	{ "a connection into A: its replies pass A's default-deny egress",
	  .tables = { TABLE(EP_A, 0, t_web_in) },
	  .steps = {
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 5555, 80, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 80, 5555, SA)),
		CT_HAS(IN, MS_CT_F_SYN | MS_CT_F_SYNACK, 0, 2, TCP4(IP4_REMOTE, IP4_A, 5555, 80, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 80, 5556, SA)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 5555, 80, SYN)),
	} },
	{ "ICMP echo: the reply passes, a request never rides on it",
	  .tables = { TABLE(EP_A, 0, t_ping) },
	  .steps = {
		SEND_OK(A, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1111)),
		RECV_OK(A, ICMP4(IP4_REMOTE, IP4_A, 0, 0x1111)),
		CT_HAS(EG, 0, 0, 2, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1111)),
		RECV_DROP(A, MS_DROP_POLICY, ICMP4(IP4_REMOTE, IP4_A, 0, 0x2222)),
		RECV_DROP(A, MS_DROP_POLICY, ICMP4(IP4_REMOTE, IP4_A, 8, 0x1111)),
		SEND_DROP(A, MS_DROP_POLICY, ICMP4(IP4_A, IP4_REMOTE, 13, 0x1111)),
		/* An unsolicited reply is judged by policy (type 0 is not allowed), opens nothing. */
		SEND_DROP(A, MS_DROP_POLICY, ICMP4(IP4_A, IP4_REMOTE, 0, 0x3333)),
		CT_COUNT(1),
	} },
	{ "ICMPv6 echo",
	  .tables = { TABLE(EP_A, 0, t_ping6) },
	  .steps = {
		SEND_OK(A, ICMPV6(IP6_A, IP6_REMOTE, 128, 0x1111)),
		RECV_OK(A, ICMPV6(IP6_REMOTE, IP6_A, 129, 0x1111)),
		RECV_DROP(A, MS_DROP_POLICY, ICMPV6(IP6_REMOTE, IP6_A, 129, 0x2222)),
		RECV_DROP(A, MS_DROP_POLICY, ICMPV6(IP6_REMOTE, IP6_A, 128, 0x1111)),
		SEND_DROP(A, MS_DROP_POLICY, ICMPV6(IP6_A, IP6_WORLD, 128, 0x1111)),
	} },
	{ "revocation: an established connection stops at its next packet",
	  .tables = { TABLE(EP_A, 0, t_https_remote) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, SA)),
		SET_EMPTY(EP_A, 1),
		REV(1),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		CT_GONE(EG, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_REMOTE, IP4_A, 443, 40000, ACK)),
		CT_COUNT(0),
	} },
	{ "revocation seen from the reply side, by an explicit deny",
	  .tables = { TABLE(EP_A, 0, t_web_in) },
	  .steps = {
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 5555, 80, SYN)),
		SET_TABLE(EP_A, 1, t_web_in_denied),
		REV(1),
		SEND_DROP(A, MS_DROP_POLICY_DENY, TCP4(IP4_A, IP4_REMOTE, 80, 5555, SA)),
		CT_GONE(IN, TCP4(IP4_REMOTE, IP4_A, 5555, 80, SYN)),
	} },
	{ "a new revision that still allows: the connection goes on, re-stamped",
	  .tables = { TABLE(EP_A, 0, t_https_remote), TABLE(EP_A, 1, t_https_any) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		CT_RULE(EG, 0, 11, ID_REMOTE, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		REV(1),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, SA)),
		CT_RULE(EG, 1, 22, ID_REMOTE, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		REV(2),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		CT_RULE(EG, 2, 11, ID_REMOTE, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK | MS_CT_F_ESTABLISHED, 2, 3,
		       TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
	} },
	{ "an identity change revokes what the old identity was allowed",
	  .tables = { TABLE(EP_A, 0, t_https_remote) },
	  .setup = NULL,
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		DO(remote_changes_identity),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		CT_COUNT(0),
	} },
	{ "the revision's low bit picks the half of ms_policy",
	  .tables = { TABLE(EP_A, 0, t_https_remote), TABLE(EP_A, 1, t_8443_remote) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40001, 8443, SYN)),
		REV(1),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40002, 443, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40003, 8443, SYN)),
		REV(2),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40004, 443, SYN)),
		SEND_DROP(A, MS_DROP_POLICY, TCP4(IP4_A, IP4_REMOTE, 40005, 8443, SYN)),
		REV(7),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40006, 8443, SYN)),
	} },
	{ "IPv6: allow, deny, replies",
	  .tables = { TABLE(EP_A, 0, t_v6) },
	  .steps = {
		SEND_OK(A, TCP6(IP6_A, IP6_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, TCP6(IP6_REMOTE, IP6_A, 443, 40000, SA)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, UDP6(IP6_A, IP6_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY_DENY, UDP6(IP6_A, IP6_WORLD, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY, TCP6(IP6_A, IP6_WORLD, 40000, 443, SYN)),
		RECV_OK(A, TCP6(IP6_WORLD, IP6_A, 5555, 22, SYN)),
		RECV_DROP(A, MS_DROP_POLICY_DENY, TCP6(IP6_REMOTE, IP6_A, 5555, 22, SYN)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK, 0, 2, TCP6(IP6_A, IP6_REMOTE, 40000, 443, SYN)),
	} },
	{ "spoofed IPv4 sources and MACs are dropped before CT and policy",
	  .steps = {
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_B, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_STRAY, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_REMOTE, IP4_WORLD, 40000, 53)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_HOST, IP4_WORLD, 40000, 53)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, { .src = IP4_A, .dst = IP4_REMOTE, .proto = UDP,
		  .sport = 40000, .dport = 53, .smac = MAC_B }),
		SEND_DROP(B, MS_DROP_SPOOFED_SOURCE, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		CT_COUNT(0),
		/* The same flows from their real owners. */
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 53)),
		SEND_OK(B, UDP4(IP4_B, IP4_REMOTE, 40000, 53)),
		CT_COUNT(2),
	} },
	{ "spoofed IPv6; link-local ND and MLD pass a default-deny endpoint",
	  .tables = { EMPTY(EP_A, 0) },
	  .steps = {
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP6(IP6_B, IP6_REMOTE, 40000, 53)),
		SEND_OK(A, NS(IP6_LL_A, NULL)),
		SEND_OK(A, NS("::", NULL)),
		SEND_OK(A, ICMPV6(IP6_LL_A, "ff02::2", 133, 0)),
		SEND_OK(A, ICMPV6("::", "ff02::16", 143, 0)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, NS(IP6_LL_A, MAC_B)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, ICMPV6(IP6_LL_A, IP6_LL_GW, 128, 0x1111)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP6(IP6_LL_A, IP6_LL_GW, 40000, 53)),
		/* From its own global address, ND to the link (solicited-node group, link-local
		 * target) is link control too: Linux solicits the gateway that way. */
		SEND_OK(A, NS(IP6_A, NULL)),
		SEND_OK(A, ICMPV6(IP6_A, IP6_LL_GW, 136, 0)),
		/* ...but from another endpoint's address it is spoofed, and ND to a routed
		 * (global) destination is ordinary traffic, subject to policy. */
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, NS(IP6_B, NULL)),
		SEND_DROP(A, MS_DROP_POLICY, ICMPV6(IP6_A, IP6_REMOTE, 135, 0)),
		RECV_OK(A, ICMPV6(IP6_LL_GW, IP6_LL_A, 136, 0)),
		RECV_OK(A, ICMPV6(IP6_LL_GW, "ff02::1", 134, 0)),
		RECV_DROP(A, MS_DROP_POLICY, ICMPV6(IP6_LL_GW, IP6_LL_A, 128, 0x1111)),
		CT_COUNT(0),
	} },
	{ "an endpoint without addresses sends no IP (but still ND)",
	  .setup = a_loses_addresses,
	  .steps = {
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_A, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP6(IP6_A, IP6_REMOTE, 40000, 53)),
		SEND_OK(A, NS(IP6_LL_A, NULL)),
	} },
	{ "MAC not known: not checked",
	  .setup = a_mac_unknown,
	  .steps = {
		SEND_OK(A, { .src = IP4_A, .dst = IP4_REMOTE, .proto = UDP, .sport = 40000,
			     .dport = 53, .smac = MAC_B }),
		SEND_DROP(A, MS_DROP_SPOOFED_SOURCE, UDP4(IP4_B, IP4_REMOTE, 40000, 53)),
	} },
	{ "non-first fragments: only entries for every port can allow them",
	  .tables = { TABLE(EP_A, 0, t_frag_port) },
	  .steps = {
		SEND_OK(A, UDP4(IP4_A, IP4_REMOTE, 40000, 53)),
		SEND_DROP(A, MS_DROP_POLICY, { .src = IP4_A, .dst = IP4_REMOTE, .proto = UDP,
		  .later_frag = 1 }),
		SEND_DROP(A, MS_DROP_POLICY, { .v6 = 1, .src = IP6_A, .dst = IP6_REMOTE,
		  .proto = UDP, .later_frag = 1 }),
		SEND_OK(A, RAW4(IP4_A, IP4_REMOTE, GRE)),
		SEND_OK(A, { .src = IP4_A, .dst = IP4_REMOTE, .proto = GRE, .later_frag = 1 }),
		/* Port-less protocols are tracked with ports 0: the reply passes. */
		RECV_OK(A, RAW4(IP4_REMOTE, IP4_A, GRE)),
		RECV_DROP(A, MS_DROP_POLICY, RAW4(IP4_WORLD, IP4_A, GRE)),
		CT_COUNT(2),
	} },
	{ "non-first fragments pass a rule for every port",
	  .tables = { TABLE(EP_A, 0, t_frag_wild) },
	  .steps = {
		SEND_OK(A, { .src = IP4_A, .dst = IP4_REMOTE, .proto = UDP, .later_frag = 1 }),
		SEND_OK(A, { .v6 = 1, .src = IP6_A, .dst = IP6_REMOTE, .proto = UDP,
			     .later_frag = 1 }),
		CT_COUNT(0),
	} },
	{ "ICMP errors about tracked connections pass, others are policy's",
	  .tables = { TABLE(EP_A, 0, t_related) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, ERR4(IP4_ROUTER, IP4_A, 3, 1, &q_a_syn_443)),
		RECV_OK(A, ERR4(IP4_ROUTER, IP4_A, 11, 0, &q_a_syn_443)),
		RECV_DROP(A, MS_DROP_POLICY, ERR4(IP4_ROUTER, IP4_A, 3, 1, &q_a_syn_443_other)),
		/* Errors neither refresh nor count on the connection. */
		CT_HAS(EG, MS_CT_F_SYN, 0, 1, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, UDP4(IP4_REMOTE, IP4_A, 5353, 53)),
		SEND_OK(A, ERR4(IP4_A, IP4_REMOTE, 3, 3, &q_remote_udp_53)),
		SEND_DROP(A, MS_DROP_POLICY, ERR4(IP4_A, IP4_REMOTE, 3, 3, &q_remote_udp_53_other)),
		SEND_OK(A, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1111)),
		RECV_OK(A, ERR4(IP4_ROUTER, IP4_A, 3, 0, &q_a_echo)),
		CT_COUNT(3),
	} },
	{ "ICMPv6 errors (packet too big) about tracked connections",
	  .tables = { TABLE(EP_A, 0, t_related6) },
	  .steps = {
		SEND_OK(A, TCP6(IP6_A, IP6_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, ERR6(IP6_ROUTER, IP6_A, 2, 0, &q_a6_syn_443)),
		RECV_OK(A, ERR6(IP6_ROUTER, IP6_A, 1, 4, &q_a6_syn_443)),
		RECV_DROP(A, MS_DROP_POLICY, ERR6(IP6_ROUTER, IP6_A, 2, 0, &q_a6_syn_443_other)),
		SEND_OK(A, ICMPV6(IP6_A, IP6_REMOTE, 128, 0x1111)),
		RECV_OK(A, ERR6(IP6_ROUTER, IP6_A, 3, 0, &q_a6_echo)),
		RECV_DROP(A, MS_DROP_POLICY, ERR6(IP6_ROUTER, IP6_A, 3, 0, &q_a6_echo_other)),
	} },
	{ "TCP states: handshake, close, reuse of the tuple",
	  .tables = { TABLE(EP_A, 0, t_tcp_remote_443) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, SA)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK, 0, 2, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, FA)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK | MS_CT_F_ESTABLISHED | MS_CT_F_FIN_ORIG,
		       0, 4, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, FA)),
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_SYNACK | MS_CT_F_ESTABLISHED | MS_CT_F_FIN_ORIG |
		       MS_CT_F_FIN_REPLY, 0, 6, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		/* A new SYN on the closing tuple starts over. */
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		CT_HAS(EG, MS_CT_F_SYN, 0, 7, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, RST)),
		CT_HAS(EG, MS_CT_F_SYN | MS_CT_F_RST, 0, 8, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN)),
		/* A lone RST is allowed by policy but opens nothing. */
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40001, 443, RST)),
		CT_GONE(EG, TCP4(IP4_A, IP4_REMOTE, 40001, 443, RST)),
	} },
	{ "TCP picked up in the middle: established once both sides were seen",
	  .tables = { TABLE(EP_A, 0, t_tcp_remote_443) },
	  .steps = {
		SEND_OK(A, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		CT_HAS(EG, 0, 0, 1, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40000, ACK)),
		CT_HAS(EG, MS_CT_F_ESTABLISHED, 0, 2, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK)),
	} },
	{ "idle timeouts: TCP by state, UDP, ICMP",
	  .tables = { EMPTY(EP_A, 0) },
	  .steps = {
		CT_PUT(EG, MS_CT_F_SYN, 61, TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN)),
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_REMOTE, IP4_A, 443, 40001, SA)),
		CT_GONE(EG, TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN)),
		CT_PUT(EG, MS_CT_F_SYN, 55, TCP4(IP4_A, IP4_REMOTE, 40002, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40002, SA)),
		CT_PUT(EG, MS_CT_F_ESTABLISHED, 3600, TCP4(IP4_A, IP4_REMOTE, 40003, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40003, ACK)),
		CT_PUT(EG, MS_CT_F_ESTABLISHED | MS_CT_F_FIN_ORIG, 3600,
		       TCP4(IP4_A, IP4_REMOTE, 40004, 443, SYN)),
		RECV_OK(A, TCP4(IP4_REMOTE, IP4_A, 443, 40004, ACK)),
		CT_PUT(EG, MS_CT_F_ESTABLISHED | MS_CT_F_RST, 11,
		       TCP4(IP4_A, IP4_REMOTE, 40005, 443, SYN)),
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_REMOTE, IP4_A, 443, 40005, ACK)),
		CT_PUT(EG, MS_CT_F_ESTABLISHED | MS_CT_F_FIN_ORIG | MS_CT_F_FIN_REPLY, 11,
		       TCP4(IP4_A, IP4_REMOTE, 40006, 443, SYN)),
		RECV_DROP(A, MS_DROP_POLICY, TCP4(IP4_REMOTE, IP4_A, 443, 40006, ACK)),
		CT_PUT(EG, 0, 61, UDP4(IP4_A, IP4_REMOTE, 40007, 53)),
		RECV_DROP(A, MS_DROP_POLICY, UDP4(IP4_REMOTE, IP4_A, 53, 40007)),
		CT_PUT(EG, 0, 55, UDP4(IP4_A, IP4_REMOTE, 40008, 53)),
		RECV_OK(A, UDP4(IP4_REMOTE, IP4_A, 53, 40008)),
		CT_PUT(EG, 0, 31, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1234)),
		RECV_DROP(A, MS_DROP_POLICY, ICMP4(IP4_REMOTE, IP4_A, 0, 0x1234)),
		CT_PUT(EG, 0, 25, ICMP4(IP4_A, IP4_REMOTE, 8, 0x1235)),
		RECV_OK(A, ICMP4(IP4_REMOTE, IP4_A, 0, 0x1235)),
	} },
	{ "an ep_id outside the policy slots fails closed",
	  .tables = { TABLE(EP_A, 0, t_open_both) },
	  .setup = a_id_past_slots,
	  .steps = {
		/* No stats slot either: nothing to count. */
		{ .kind = S_PKT, .prog = FROM, .ep = EP_A, .p = UDP4(IP4_A, IP4_REMOTE, 40000, 53),
		  .verdict = TC_ACT_SHOT },
		CT_COUNT(0),
	} },
};

/* ---- main ------------------------------------------------------------------------------- */

static int setup_env(void)
{
	static const struct dp_sizes sizes = {
		.endpoints = T_MAX_ENDPOINTS, .ipcache = T_MAX_IPCACHE, .ct = T_MAX_CT,
	};

	if (dp_env_init(&env, "mspol", 0, T_POLICY_ENTRIES))
		return -1;
	skel = endpoint_bpf__open();
	if (!skel || dp_env_load(&env, skel->obj, &skel->rodata->ms_max_endpoints, &sizes))
		return -1;
	dp_print_insns(MS_PROG_FROM_CONTAINER, env.prog[FROM]);
	dp_print_insns(MS_PROG_TO_CONTAINER, env.prog[TO]);
	return 0;
}

/*
 * ms_policy takes tables like the template and refuses others (here: a wider key). The size
 * is not part of the match for LPM tries (the kernel compares type, key and value sizes and
 * flags): a table may be sized to what it holds.
 */
static int check_template_enforced(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	uint32_t slot = EP_A;
	int good = dp_policy_table_create(T_POLICY_ENTRIES);
	int bigger = dp_policy_table_create(T_POLICY_ENTRIES * 8);
	int bad = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "ms_pol_bad",
				 sizeof(struct ms_policy_key) + 4, sizeof(struct ms_policy_value),
				 T_POLICY_ENTRIES, &o);
	int err = -1;

	if (good >= 0 && bigger >= 0 && bad >= 0 &&
	    bpf_map_update_elem(env.pol, &slot, &good, BPF_ANY) == 0 &&
	    bpf_map_update_elem(env.pol, &slot, &bigger, BPF_ANY) == 0 &&
	    bpf_map_update_elem(env.pol, &slot, &bad, BPF_ANY) != 0)
		err = 0;
	bpf_map_delete_elem(env.pol, &slot);
	if (good >= 0)
		close(good);
	if (bigger >= 0)
		close(bigger);
	if (bad >= 0)
		close(bad);
	return err;
}

int main(void)
{
	size_t n = sizeof(scenarios) / sizeof(scenarios[0]), i;
	int steps = 0, status;
	char note[32];

	dp_tap_start("test_policy", setup_env, (int)n + 1);
	dp_tap_ok(check_template_enforced() != 0,
		  "ms_policy takes tables like its template (any size), no others");
	for (i = 0; i < n; i++)
		dp_tap_ok(run_scenario(&scenarios[i], &steps) != 0, scenarios[i].name);
	snprintf(note, sizeof(note), "(%d steps)", steps);
	status = dp_tap_done(note);
	endpoint_bpf__destroy(skel);
	close(env.template_fd);
	return status;
}
