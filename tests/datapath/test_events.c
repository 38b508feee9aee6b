/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events of the endpoint programs (bpf/endpoint.bpf.c): crafted packets through
 * BPF_PROG_TEST_RUN, the ms_events ring buffer read back with libbpf's ring_buffer API, as the
 * library reads it.
 *
 * Endpoints A and B sit on a veth pair (the to-container program keys on a real device), with
 * a remote prefix in the ipcache. Each case starts from no policy table, revision 0, an empty
 * connection table, zeroed event counters and an empty ring, sets the event configuration it
 * needs, and checks, packet by packet, exactly which events each one caused (none, or one with
 * every field). The process stays on one CPU: the rate limiter is per CPU.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "microseg_abi.h"
#include "endpoint.skel.h"
#include "token_probe.skel.h"
#include "pktbuild.h"
#include "dp_util.h"

#define T_MAX_ENDPOINTS 64
#define T_MAX_IPCACHE 1024
#define T_POLICY_ENTRIES 256
#define T_MAX_CT 4096
#define T_RING_BYTES (256 * 1024)
#define T_TINY_RING_BYTES 4096

#define EP_A 1
#define EP_B 2
#define ID_A 1001
#define ID_B 1002
#define ID_REMOTE 5000
#define IP4_A "10.200.0.1"
#define IP4_B "10.200.0.2"
#define IP4_REMOTE "10.201.3.4" /* in 10.201.0.0/16, ID_REMOTE */
#define IP4_WORLD "198.51.100.7"
#define IP6_A "fd00:200::1"
#define IP6_REMOTE "fd00:201::5" /* in fd00:201::/64, ID_REMOTE */
#define MAC_A "02:00:0a:c8:00:01"
#define MAC_B "02:00:0a:c8:00:02"
#define MAC_GW "02:00:0a:c8:ff:fe"

#define EG MS_DIR_EGRESS
#define IN MS_DIR_INGRESS
#define SYN PB_TCP_SYN
#define ACK PB_TCP_ACK
#define RST PB_TCP_RST
#define SA (PB_TCP_SYN | PB_TCP_ACK)

#define NEW MS_EVENT_FLOW_NEW
#define DROP MS_EVENT_DROP

enum prog { FROM, TO };

static struct dp_env env;
static struct endpoint_bpf *skel;
static struct ring_buffer *rb;

/* Events read from the ring by the last drain(). */
#define MAX_GOT 64
static struct ms_event_flow got[MAX_GOT];
static int ngot;  /* records read, even past MAX_GOT */
static int nbad;  /* records of the wrong size */

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			printf("#   line %d: %s\n", __LINE__, #cond);                      \
			return -1;                                                     \
		}                                                                      \
	} while (0)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns() */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- ring and counters ------------------------------------------------------------------ */

static int on_event(void *ctx, void *data, size_t size)
{
	if (size != sizeof(struct ms_event_flow))
		nbad++;
	else if (ngot < MAX_GOT)
		memcpy(&got[ngot], data, size);
	ngot++;
	return 0;
}

/* Reads everything waiting in the ring into got[]; the number of records, or -1. */
static int drain(void)
{
	ngot = nbad = 0;
	if (ring_buffer__consume(rb) < 0)
		return -1;
	if (nbad)
		printf("#   %d records of the wrong size\n", nbad);
	return nbad ? -1 : ngot;
}

struct ev_totals {
	uint64_t emitted, limited, lost;
};

static int totals(struct ev_totals *t)
{
	struct ms_event_state *v = calloc(env.ncpus, sizeof(*v));
	uint32_t zero = 0;
	int c;

	memset(t, 0, sizeof(*t));
	if (!v || bpf_map_lookup_elem(env.evstate, &zero, v)) {
		free(v);
		return -1;
	}
	for (c = 0; c < env.ncpus; c++) {
		t->emitted += v[c].emitted;
		t->limited += v[c].limited;
		t->lost += v[c].lost;
	}
	free(v);
	return 0;
}

/* Counters and buckets of every CPU back to zero (an empty bucket that last filled at boot:
 * the next event finds it full). */
static int reset_event_state(void)
{
	struct ms_event_state *v = calloc(env.ncpus, sizeof(*v));
	uint32_t zero = 0;
	int err;

	if (!v)
		return -1;
	err = bpf_map_update_elem(env.evstate, &zero, v, BPF_ANY);
	free(v);
	return err ? -1 : 0;
}

static int set_config(uint32_t rev, uint32_t flags, uint32_t rate, uint32_t burst)
{
	struct ms_config c = { .policy_rev = rev, .flags = flags, .event_rate = rate,
			       .event_burst = burst };
	uint32_t zero = 0;

	return bpf_map_update_elem(env.cfg, &zero, &c, BPF_ANY) ? -1 : 0;
}

/* Events on, and a limit no test reaches. */
static int events_on(uint32_t rev)
{
	return set_config(rev, MS_CFG_F_EVENTS, 1000000000, 1000000000);
}

/* ---- map state -------------------------------------------------------------------------- */

static int put_ep(uint32_t ifindex, uint32_t ep_id, uint32_t identity, const char *mac)
{
	struct ms_endpoint_info v = { .ep_id = ep_id, .identity = identity,
				      .flags = MS_EP_F_ACTIVE };
	unsigned int m[6];
	int i;

	if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		v.mac[i] = (uint8_t)m[i];
	return bpf_map_update_elem(env.eps, &ifindex, &v, BPF_ANY) ? -1 : 0;
}

static int install(uint32_t ep, int half, const struct dp_rule *rules, size_t n)
{
	return dp_policy_install(env.pol, (uint32_t)half * T_MAX_ENDPOINTS + ep, rules, n,
				 T_POLICY_ENTRIES);
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
	err |= set_config(0, 0, 0, 0);
	err |= reset_event_state();
	err |= put_ep(env.if_a, EP_A, ID_A, MAC_A);
	err |= put_ep(env.if_b, EP_B, ID_B, MAC_B);
	err |= dp_ipc_put(env.ipc, IP4_A, 32, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP6_A, 128, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP4_B, 32, ID_B, env.if_b, EP_B, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, "10.201.0.0", 16, ID_REMOTE, 0, 0, 0);
	err |= dp_ipc_put(env.ipc, "fd00:201::", 64, ID_REMOTE, 0, 0, 0);
	if (err || drain() < 0)
		return -1;
	return 0;
}

/* ---- packets ---------------------------------------------------------------------------- */

/* Runs a frame through one program repeat times for the host veth of ep. */
static int run_frame(int prog, int ep, const void *data, uint32_t len, uint32_t repeat,
		     int verdict)
{
	static uint8_t out[PB_MAX_LEN + 256];
	uint32_t ifindex = ep == EP_A ? env.if_a : env.if_b;
	struct __sk_buff ctx = { 0 };

	ctx.ifindex = ifindex;
	ctx.ingress_ifindex = prog == FROM ? ifindex : 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);
	if (bpf_prog_test_run_opts(env.prog[prog], &opts)) {
		printf("#   test_run: %s\n", strerror(errno));
		return -1;
	}
	if ((int)opts.retval != verdict) {
		printf("#   verdict %d, want %d\n", (int)opts.retval, verdict);
		return -1;
	}
	return 0;
}

/* Builds k as sent by ep (FROM) or delivered to it (TO); the frame length or -1. */
static int build(struct pb *p, int prog, int ep, const struct dp_pkt *k)
{
	const char *mac = ep == EP_A ? MAC_A : MAC_B;
	int len = prog == FROM ? dp_pkt_build(p, k, mac, MAC_GW) : dp_pkt_build(p, k, MAC_GW, mac);

	if (len < 0)
		printf("#   packet builder failed: %d\n", len);
	return len;
}

/* ---- expected events -------------------------------------------------------------------- */

/* What one event must say besides what the packet and the hook already tell. */
struct want {
	uint8_t type;  /* NEW or DROP */
	uint32_t src_id, dst_id;
	uint8_t reason;
	uint32_t rule_id;
	int l3_only;   /* only the addresses were parsed: protocol and ports 0 */
};

static int is_echo(uint8_t proto, uint8_t type)
{
	return (proto == IPPROTO_ICMP && (type == 8 || type == 0)) ||
	       (proto == IPPROTO_ICMPV6 && (type == 128 || type == 129));
}

/* The event ev, for packet k (NULL: nothing parsed) of len bytes at the hook (prog, ep),
 * written between t0 and t1, must be exactly w. */
static int check_event(const struct ms_event_flow *ev, int prog, int ep, const struct dp_pkt *k,
		       uint32_t len, const struct want *w, uint64_t t0, uint64_t t1)
{
	struct ms_event_flow e = { 0 };
	int af, bad = 0;

	e.hdr.version = MS_EVENT_VERSION;
	e.hdr.len = sizeof(e);
	e.hdr.type = w->type;
	e.ep_id = ep;
	e.ifindex = ep == EP_A ? env.if_a : env.if_b;
	e.src_identity = w->src_id;
	e.dst_identity = w->dst_id;
	e.dir = prog == FROM ? EG : IN;
	e.verdict = w->type == DROP ? MS_VERDICT_DROPPED : MS_VERDICT_FORWARDED;
	e.reason = w->reason;
	e.rule_id = w->rule_id;
	e.bytes = len;
	if (k) {
		af = k->v6 ? AF_INET6 : AF_INET;
		e.family = k->v6 ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
		inet_pton(af, k->src, e.saddr);
		inet_pton(af, k->dst, e.daddr);
	}
	if (k && !w->l3_only) {
		e.proto = k->proto;
		if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP) {
			e.sport = htons(k->sport);
			e.dport = htons(k->dport);
		}
		if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
			e.icmp_type = k->type;
			if (is_echo(k->proto, k->type))
				e.sport = e.dport = htons(k->sport);
		}
	}
	if (ev->hdr.ts_ns < t0 || ev->hdr.ts_ns > t1) {
		printf("#   timestamp %llu outside [%llu, %llu]\n", (unsigned long long)ev->hdr.ts_ns,
		       (unsigned long long)t0, (unsigned long long)t1);
		bad = 1;
	}
	e.hdr.ts_ns = ev->hdr.ts_ns;
	if (memcmp(&e, ev, sizeof(e)) == 0)
		return bad ? -1 : 0;

#define FIELD(f)                                                                       \
	if (e.f != ev->f) {                                                            \
		printf("#   %s: got %u, want %u\n", #f, (unsigned)ev->f, (unsigned)e.f);   \
	}
	FIELD(hdr.version) FIELD(hdr.len) FIELD(hdr.type) FIELD(ep_id) FIELD(ifindex)
	FIELD(src_identity) FIELD(dst_identity) FIELD(sport) FIELD(dport) FIELD(family)
	FIELD(proto) FIELD(dir) FIELD(verdict) FIELD(reason) FIELD(icmp_type) FIELD(rule_id)
	FIELD(bytes)
#undef FIELD
	if (memcmp(e.saddr, ev->saddr, 16) || memcmp(e.daddr, ev->daddr, 16))
		printf("#   addresses differ\n");
	printf("#   (or padding not zero)\n");
	return -1;
}

/*
 * Sends k through the hook (prog, ep), expects the verdict, then exactly the event w, or no
 * event at all if w is NULL.
 */
static int step(int prog, int ep, const struct dp_pkt *k, int verdict, const struct want *w)
{
	static struct pb p;
	uint64_t t0, t1;
	int len, n;

	len = build(&p, prog, ep, k);
	if (len < 0)
		return -1;
	t0 = mono_ns();
	if (run_frame(prog, ep, p.data, (uint32_t)len, 1, verdict))
		return -1;
	t1 = mono_ns();
	n = drain();
	if (n != (w ? 1 : 0)) {
		printf("#   %d events, want %d\n", n, w ? 1 : 0);
		return -1;
	}
	return w ? check_event(&got[0], prog, ep, k, (uint32_t)len, w, t0, t1) : 0;
}

#define STEP(prog, ep, verdict, w, ...)                                                 \
	do {                                                                           \
		const struct dp_pkt k_ = __VA_ARGS__;                                  \
		if (step(prog, ep, &k_, verdict, w)) {                                 \
			printf("#   ^ line %d\n", __LINE__);                               \
			return -1;                                                     \
		}                                                                      \
	} while (0)

#define W(t, s, d, why, rule)                                                           \
	(&(const struct want){ .type = t, .src_id = s, .dst_id = d, .reason = why, .rule_id = rule })

static int expect_totals(uint64_t emitted, uint64_t limited, uint64_t lost)
{
	struct ev_totals t;

	if (totals(&t))
		return -1;
	if (t.emitted == emitted && t.limited == limited && t.lost == lost)
		return 0;
	printf("#   emitted %llu limited %llu lost %llu, want %llu %llu %llu\n",
	       (unsigned long long)t.emitted, (unsigned long long)t.limited,
	       (unsigned long long)t.lost, (unsigned long long)emitted,
	       (unsigned long long)limited, (unsigned long long)lost);
	return -1;
}

/* ---- cases ------------------------------------------------------------------------------ */

static const struct dp_rule t_https[] = {
	ALLOW(ID_REMOTE, EG, IPPROTO_TCP, 443, 16, 11),
	DENY(ID_REMOTE, EG, IPPROTO_TCP, 22, 16, 7),
};
static const struct dp_rule t_revoke[] = { DENY(ID_REMOTE, EG, IPPROTO_TCP, 443, 16, 9) };
static const struct dp_rule t_v6[] = {
	ALLOW(ID_REMOTE, EG, IPPROTO_TCP, 443, 16, 21),
	DENY(MS_POLICY_ANY_ID, EG, IPPROTO_UDP, 0, 0, 22),
	OPEN(IN),
};

static int case_off(void)
{
	/* Off by the flag, whatever the rate; then on, but with rate 0. */
	CHECK(set_config(0, 0, 1000000, 1000000) == 0);
	CHECK(install(EP_A, 0, t_https, 2) == 0);
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	STEP(FROM, EP_A, TC_ACT_SHOT, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 22, SYN));
	STEP(FROM, EP_A, TC_ACT_SHOT, NULL, UDP4(IP4_B, IP4_REMOTE, 40000, 53));
	CHECK(set_config(0, MS_CFG_F_EVENTS, 0, 1000) == 0);
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN));
	STEP(FROM, EP_A, TC_ACT_SHOT, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN));
	return expect_totals(0, 0, 0);
}

static int case_new_connection(void)
{
	CHECK(events_on(0) == 0);
	CHECK(install(EP_A, 0, t_https, 2) == 0);
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 11),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	/* Connection tracking hits: the original direction, the replies, the rest. */
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	STEP(TO, EP_A, TC_ACT_OK, NULL, TCP4(IP4_REMOTE, IP4_A, 443, 40000, SA));
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 443, ACK));
	STEP(TO, EP_A, TC_ACT_OK, NULL, TCP4(IP4_REMOTE, IP4_A, 443, 40000, ACK));
	/* Another source port is another connection. */
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 11),
	     TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN));
	return expect_totals(2, 0, 0);
}

static int case_open_and_local(void)
{
	CHECK(events_on(0) == 0);
	/* A to B: each hook opens its own connection and reports it for its endpoint. */
	STEP(FROM, EP_A, TC_ACT_REDIRECT, W(NEW, ID_A, ID_B, 0, 0),
	     TCP4(IP4_A, IP4_B, 40000, 80, SYN));
	STEP(TO, EP_B, TC_ACT_OK, W(NEW, ID_A, ID_B, 0, 0), TCP4(IP4_A, IP4_B, 40000, 80, SYN));
	STEP(FROM, EP_B, TC_ACT_REDIRECT, NULL, TCP4(IP4_B, IP4_A, 80, 40000, SA));
	STEP(TO, EP_A, TC_ACT_OK, NULL, TCP4(IP4_B, IP4_A, 80, 40000, SA));
	/* Echo: the identifier stands for both ports; the reply is no connection. */
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 0),
	     ICMP4(IP4_A, IP4_REMOTE, 8, 0x1234));
	STEP(TO, EP_A, TC_ACT_OK, NULL, ICMP4(IP4_REMOTE, IP4_A, 0, 0x1234));
	/* Into A from outside the ipcache: the world. */
	STEP(TO, EP_A, TC_ACT_OK, W(NEW, MS_ID_WORLD, ID_A, 0, 0),
	     UDP4(IP4_WORLD, IP4_A, 5353, 53));
	STEP(FROM, EP_A, TC_ACT_OK, NULL, UDP4(IP4_A, IP4_WORLD, 53, 5353));
	/* A lone RST is allowed but opens nothing: nothing to report. */
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40002, 443, RST));
	return expect_totals(4, 0, 0);
}

static int case_tuple_reuse(void)
{
	CHECK(events_on(0) == 0);
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 0),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	STEP(TO, EP_A, TC_ACT_OK, NULL, TCP4(IP4_REMOTE, IP4_A, 443, 40000, RST));
	/* The closing connection's tuple opened again: a new connection. */
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 0),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	STEP(FROM, EP_A, TC_ACT_OK, NULL, TCP4(IP4_A, IP4_REMOTE, 40000, 443, SYN));
	return expect_totals(2, 0, 0);
}

static int case_drops(void)
{
	CHECK(events_on(0) == 0);
	CHECK(install(EP_A, 0, t_https, 2) == 0);
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY, 0),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN));
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY_DENY, 7),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 22, SYN));
	/* The sender is A whatever address it claims; the destination was not looked up. */
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, MS_ID_UNKNOWN, MS_DROP_SPOOFED_SOURCE, 0),
	     UDP4(IP4_B, IP4_REMOTE, 40000, 53));
	/* A's ingress is selected (no entry for it): default deny, the peer is the source. */
	STEP(TO, EP_A, TC_ACT_SHOT, W(DROP, ID_REMOTE, ID_A, MS_DROP_POLICY, 0),
	     UDP4(IP4_REMOTE, IP4_A, 5353, 53));
	STEP(TO, EP_A, TC_ACT_SHOT, W(DROP, ID_REMOTE, ID_A, MS_DROP_POLICY, 0),
	     ICMP4(IP4_REMOTE, IP4_A, 8, 0x4242));
	/* Revoked at the next packet, by a deny rule of the new revision. */
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 11),
	     TCP4(IP4_A, IP4_REMOTE, 40001, 443, SYN));
	CHECK(install(EP_A, 1, t_revoke, 1) == 0);
	CHECK(events_on(1) == 0);
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY_DENY, 9),
	     TCP4(IP4_A, IP4_REMOTE, 40001, 443, ACK));
	return expect_totals(7, 0, 0);
}

/* Malformed packets: the event carries what the parser got to. */
static int case_invalid(void)
{
	static const struct dp_pkt k4 = UDP4(IP4_A, IP4_REMOTE, 40000, 53);
	static const struct dp_pkt k6 = UDP6(IP6_A, IP6_REMOTE, 40000, 53);
	static const struct want w4 = { .type = DROP, .src_id = ID_A, .dst_id = MS_ID_UNKNOWN,
					.reason = MS_DROP_INVALID };
	static const struct want w6 = { .type = DROP, .src_id = ID_A, .dst_id = MS_ID_UNKNOWN,
					.reason = MS_DROP_INVALID, .l3_only = 1 };
	static struct pb p;
	uint64_t t0, t1;
	int len;

	CHECK(events_on(0) == 0);
	/* IPv4 whose total length claims more than the frame holds: refused before anything
	 * is taken from the header. (BPF_PROG_TEST_RUN refuses frames shorter than the IP
	 * header itself.) */
	len = build(&p, FROM, EP_A, &k4);
	CHECK(len > 0);
	p.data[p.l3_off + 2] = 0x05;
	p.data[p.l3_off + 3] = 0xdc;
	t0 = mono_ns();
	CHECK(run_frame(FROM, EP_A, p.data, (uint32_t)len, 1, TC_ACT_SHOT) == 0);
	t1 = mono_ns();
	CHECK(drain() == 1);
	CHECK(check_event(&got[0], FROM, EP_A, NULL, (uint32_t)len, &w4, t0, t1) == 0);

	/* IPv6 whose hop-by-hop header claims more than the packet holds: the addresses were
	 * read, the upper-layer protocol never reached. */
	pb_init(&p);
	pb_eth(&p, MAC_A, MAC_GW, 0);
	pb_ipv6(&p, IP6_A, IP6_REMOTE);
	pb_ipv6_ext(&p, IPPROTO_HOPOPTS, 8);
	pb_udp(&p, 40000, 53);
	len = pb_finish(&p);
	CHECK(len > 0);
	p.data[p.l3_off + 40 + 1] = 200;
	t0 = mono_ns();
	CHECK(run_frame(FROM, EP_A, p.data, (uint32_t)len, 1, TC_ACT_SHOT) == 0);
	t1 = mono_ns();
	CHECK(drain() == 1);
	CHECK(check_event(&got[0], FROM, EP_A, &k6, (uint32_t)len, &w6, t0, t1) == 0);
	return expect_totals(2, 0, 0);
}

static int case_ipv6(void)
{
	CHECK(events_on(0) == 0);
	CHECK(install(EP_A, 0, t_v6, 3) == 0);
	STEP(FROM, EP_A, TC_ACT_OK, W(NEW, ID_A, ID_REMOTE, 0, 21),
	     TCP6(IP6_A, IP6_REMOTE, 40000, 443, SYN));
	STEP(TO, EP_A, TC_ACT_OK, NULL, TCP6(IP6_REMOTE, IP6_A, 443, 40000, SA));
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY_DENY, 22),
	     UDP6(IP6_A, IP6_REMOTE, 40000, 53));
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY, 0),
	     ICMPV6(IP6_A, IP6_REMOTE, 128, 0x77));
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, MS_ID_UNKNOWN, MS_DROP_SPOOFED_SOURCE, 0),
	     TCP6("fd00:200::99", IP6_REMOTE, 40000, 443, SYN));
	/* Open ingress: a connection from the remote prefix. */
	STEP(TO, EP_A, TC_ACT_OK, W(NEW, ID_REMOTE, ID_A, 0, 0),
	     TCP6(IP6_REMOTE, IP6_A, 5555, 8080, SYN));
	return expect_totals(5, 0, 0);
}

/* Runs n copies of a denied packet in one test run; the events read back, or -1. */
static int flood(uint32_t n)
{
	static const struct dp_pkt k = TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN);
	static struct pb p;
	int len = build(&p, FROM, EP_A, &k);

	if (len < 0 || run_frame(FROM, EP_A, p.data, (uint32_t)len, n, TC_ACT_SHOT))
		return -1;
	return drain();
}

static int case_rate_limit(void)
{
	const uint32_t rate = 100, burst = 20, n = 10 * burst;
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	struct ev_totals t;
	uint64_t t0, t1, most;
	int got1, got2;

	CHECK(install(EP_A, 0, t_https, 2) == 0);
	CHECK(set_config(0, MS_CFG_F_EVENTS, rate, burst) == 0);
	/* A full bucket, then next to nothing: 200 packets take far less than the 10 ms a
	 * token takes to come back. */
	t0 = mono_ns();
	got1 = flood(n);
	CHECK(got1 >= (int)burst && got1 <= (int)burst + 2);
	CHECK(totals(&t) == 0);
	CHECK(t.emitted == (uint64_t)got1 && t.limited == n - (uint64_t)got1 && t.lost == 0);

	/* 100 ms later: at least 10 tokens back (rate 100/s), never more than the time since
	 * the bucket was full allows, nor more than the bucket holds. */
	nanosleep(&nap, NULL);
	got2 = flood(n);
	t1 = mono_ns();
	most = burst + (t1 - t0) * rate / 1000000000ull + 1;
	CHECK(got2 >= 10 && got2 <= (int)burst);
	CHECK((uint64_t)(got1 + got2) <= most);
	CHECK(totals(&t) == 0);
	CHECK(t.emitted == (uint64_t)(got1 + got2) && t.limited == 2 * n - t.emitted);
	printf("#   rate %u/s, burst %u: %d then %d of %u events\n", rate, burst, got1, got2, n);
	return 0;
}

/* ---- the rate limiter's arithmetic, on a clock the test sets ------------------------------ */

#define SEC_NS 1000000000ull

static struct token_probe_bpf *tp;

/* One step of the limiter at time now; 1 if it gave a token, -1 if the run failed. */
static int take(uint64_t now, uint32_t rate, uint32_t burst)
{
	static const struct dp_pkt k = UDP4(IP4_A, IP4_REMOTE, 40000, 53);
	static struct pb p;
	static int len;

	if (!len)
		len = dp_pkt_build(&p, &k, MAC_A, MAC_GW);
	tp->bss->in_now = now;
	tp->bss->in_rate = rate;
	tp->bss->in_burst = burst;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = (uint32_t)len);
	if (len <= 0 || bpf_prog_test_run_opts(bpf_program__fd(tp->progs.token_probe), &opts))
		return -1;
	return (int)tp->bss->r_taken;
}

/* Tokens given by n steps at t0 + i * step (i = 1..n), or by n steps at t0 if step is 0. */
static int take_n(uint64_t t0, uint64_t step, int n, uint32_t rate, uint32_t burst)
{
	int i, r, got_n = 0;

	for (i = 1; i <= n; i++) {
		r = take(t0 + (uint64_t)i * step, rate, burst);
		if (r < 0)
			return -1;
		got_n += r;
	}
	return got_n;
}

static int case_token_bucket(void)
{
	const uint64_t t0 = 1000 * SEC_NS, big = 1ull << 62;
	const uint32_t max = 0xffffffffu;
	struct ms_event_state *st = &tp->bss->state;

	/* A bucket that has never been used is full: burst tokens at once, then none. */
	memset(st, 0, sizeof(*st));
	CHECK(take_n(t0, 0, 25, 100, 20) == 20);
	/* 100/s is a token every 10 ms: steps of 1 ms for a second give exactly 100, and
	 * steps of 3 ms for three seconds exactly 300: the fractions are carried over. */
	CHECK(take_n(t0, 1000000, 1000, 100, 20) == 100);
	CHECK(take_n(t0 + SEC_NS, 3000000, 1000, 100, 20) == 300);
	/* Idle for long: the bucket holds burst, never more. */
	CHECK(take_n(t0 + 100 * SEC_NS, 0, 30, 100, 20) == 20);
	/* Rate 1: the token comes after a whole second, not a nanosecond before. */
	st->tokens_ts_ns = t0;
	st->tokens = 0;
	CHECK(take(t0 + SEC_NS - 1, 1, 5) == 0);
	CHECK(take(t0 + SEC_NS, 1, 5) == 1);
	/* A clock behind the last refill (cannot happen on one CPU): nothing, and no wrap. */
	CHECK(take(t0, 1, 5) == 0 && st->tokens == 0 && st->tokens_ts_ns == t0 + SEC_NS);
	/* Burst 0 holds nothing. */
	CHECK(take(t0 + 50 * SEC_NS, 100, 0) == 0);
	/* Largest rate and burst. elapsed * rate in 64 bits would wrap to 2^32 - 2 after
	 * 2^32 + 2 ns here (4 tokens instead of a full bucket). */
	memset(st, 0, sizeof(*st));
	CHECK(take(big, max, max) == 1 && st->tokens == max - 1ull);
	CHECK(take_n(big, 0, 1000, max, max) == 1000);
	st->tokens_ts_ns = big;
	st->tokens = 0;
	CHECK(take(big + (1ull << 32) + 2, max, max) == 1 && st->tokens == max - 1ull);
	/* Whole seconds times rate would wrap to exactly 0 after 2^33 s at 2^31/s. */
	memset(st, 0, sizeof(*st));
	CHECK(take((1ull << 33) * SEC_NS, 1u << 31, 10) == 1 && st->tokens == 9);
	/* A small rate over a long idle: secs * rate tokens, below the burst. */
	st->tokens_ts_ns = big;
	st->tokens = 0;
	CHECK(take(big + (1ull << 40), 1, max) == 1 && st->tokens == (1ull << 40) / SEC_NS - 1);
	return 0;
}

/* ---- setup ------------------------------------------------------------------------------ */

static void env_close(void)
{
	ring_buffer__free(rb);
	rb = NULL;
	endpoint_bpf__destroy(skel);
	skel = NULL;
}

static int env_open(uint32_t ring_bytes, int verbose)
{
	const struct dp_sizes sizes = {
		.endpoints = T_MAX_ENDPOINTS, .ipcache = T_MAX_IPCACHE, .ct = T_MAX_CT,
		.policy_exact = 2 * T_MAX_ENDPOINTS, .ring_bytes = ring_bytes,
	};

	skel = endpoint_bpf__open();
	if (!skel || dp_env_load(&env, skel->obj, &skel->rodata->ms_max_endpoints, &sizes))
		return -1;
	rb = ring_buffer__new(env.events, on_event, NULL, NULL);
	if (!rb)
		return -1;
	if (verbose) {
		dp_print_insns(MS_PROG_FROM_CONTAINER, env.prog[FROM]);
		dp_print_insns(MS_PROG_TO_CONTAINER, env.prog[TO]);
	}
	return 0;
}

/*
 * With a ring of one page and nobody reading, the ring fills and the rest is counted as lost
 * (never blocks, never fails the packet); once read, it takes events again.
 */
static int case_full_ring(void)
{
	const uint32_t n = 100, per_record = sizeof(struct ms_event_flow) + BPF_RINGBUF_HDR_SZ;
	const uint32_t room = T_TINY_RING_BYTES / per_record;
	static const struct dp_pkt k = TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN);
	static struct pb p;
	struct ev_totals t;
	int len, read;

	env_close();
	CHECK(env_open(T_TINY_RING_BYTES, 0) == 0);
	CHECK(base_state() == 0);
	CHECK(install(EP_A, 0, t_https, 2) == 0);
	CHECK(events_on(0) == 0);
	len = build(&p, FROM, EP_A, &k);
	CHECK(len > 0);
	CHECK(run_frame(FROM, EP_A, p.data, (uint32_t)len, n, TC_ACT_SHOT) == 0);
	CHECK(totals(&t) == 0);
	printf("#   ring of %u bytes: %llu emitted, %llu lost (room for %u)\n", T_TINY_RING_BYTES,
	       (unsigned long long)t.emitted, (unsigned long long)t.lost, room);
	CHECK(t.emitted + t.lost == n && t.limited == 0);
	CHECK(t.emitted <= room && t.emitted >= room / 2);
	read = drain();
	CHECK(read == (int)t.emitted);
	STEP(FROM, EP_A, TC_ACT_SHOT, W(DROP, ID_A, ID_REMOTE, MS_DROP_POLICY, 0),
	     TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN));
	return expect_totals(t.emitted + 1, 0, t.lost);
}

static int setup_env(void)
{
	struct bpf_map *m;
	cpu_set_t cpus;
	int cpu = sched_getcpu();

	/* One CPU, one bucket: the rate limit is per CPU. */
	CPU_ZERO(&cpus);
	CPU_SET(cpu < 0 ? 0 : cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		return -1;
	if (dp_env_init(&env, "msev", 0, T_POLICY_ENTRIES))
		return -1;
	/* The probe uses none of the datapath's maps that come with events.h: create none. */
	tp = token_probe_bpf__open();
	if (!tp)
		return -1;
	bpf_object__for_each_map(m, tp->obj)
		if (!bpf_map__is_internal(m) && bpf_map__set_autocreate(m, false))
			return -1;
	if (token_probe_bpf__load(tp))
		return -1;
	return env_open(T_RING_BYTES, 1);
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "events off, or rate 0: no event, nothing counted", case_off },
	{ "a new connection: one FLOW_NEW, none for its later packets or replies", case_new_connection },
	{ "open endpoints: a local connection is reported by both hooks; echo; from the world", case_open_and_local },
	{ "a SYN reusing a closing connection's tuple is a new connection", case_tuple_reuse },
	{ "drops: policy, deny rule, spoofed source, ingress, revocation", case_drops },
	{ "malformed packets: what was parsed", case_invalid },
	{ "IPv6: FLOW_NEW and drops", case_ipv6 },
	{ "rate limiter arithmetic: refills, carried fractions, limits, no overflow", case_token_bucket },
	{ "rate limit: a burst, then what the rate refills; the rest counted", case_rate_limit },
	/* Last: it reopens the programs with a tiny ring. */
	{ "a full ring: the rest counted as lost, events again once read", case_full_ring },
};

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	int status;

	dp_tap_start("test_events", setup_env, (int)n);
	for (i = 0; i < n; i++) {
		int bad = base_state() != 0;

		if (bad)
			printf("#   base state failed\n");
		else
			bad = cases[i].fn() != 0;
		dp_tap_ok(bad, cases[i].name);
	}
	status = dp_tap_done(NULL);
	env_close();
	token_probe_bpf__destroy(tp);
	close(env.template_fd);
	return status;
}
