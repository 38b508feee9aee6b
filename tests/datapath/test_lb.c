/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Services in the datapath (bpf/lib/lb.h, nat.h, sock_lb.h).
 *
 * Per packet: crafted packets through ms_from_container (the client endpoint A sends to a
 * frontend: DNAT) and ms_to_container (the backend's reply to A: reverse NAT), with
 * BPF_PROG_TEST_RUN. The output frame must be the input with exactly the translated address
 * and port changed, and its checksums must verify when summed from scratch here.
 *
 * Per socket: the cgroup programs attached to a child cgroup of the cgroup v2 root that this
 * process moves into; real sockets on the loopback of the test's private network namespace
 * connect and send to frontends whose backends are listeners of the test.
 *
 * The maps are filled as microseg_abi.h describes them: a service entry naming the live half
 * of its slots ({svc_id, half << 31 | index} -> backend id), backends by id. The idle half
 * always holds a decoy backend: choosing it means the wrong half was read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "microseg_abi.h"
#include "endpoint.skel.h"
#include "lb_pick.h"
#include "pktbuild.h"
#include "dp_util.h"

#define T_MAX_ENDPOINTS 64
#define T_MAX_IPCACHE 1024
#define T_POLICY_ENTRIES 256
#define T_MAX_CT 4096
#define T_MAX_BACKENDS 1024
#define T_RING_BYTES (256 * 1024)

#define EP_A 1
#define ID_A 1001
#define ID_REMOTE 5000
#define IP4_A "10.200.0.1"
#define IP6_A "fd00:200::1"
#define IP4_REMOTE "10.201.3.4" /* in 10.201.0.0/16, a remote prefix */
#define MAC_A "02:00:0a:c8:00:01"
#define MAC_GW "02:00:0a:c8:ff:fe"

#define VIP4 "10.96.0.10"
#define VIP6 "fd00:96::10"
#define BE4_1 "10.201.5.1"
#define BE4_2 "10.201.5.2"
#define BE4_3 "10.201.5.3"
#define BE6_1 "fd00:201::51"
#define BE6_2 "fd00:201::52"
#define DECOY_ID 999
#define DECOY4 "10.201.99.99"
#define DECOY6 "fd00:201::99"

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SYN PB_TCP_SYN
#define ACK PB_TCP_ACK
#define SA (PB_TCP_SYN | PB_TCP_ACK)

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			printf("#   line %d: %s\n", __LINE__, #cond);                      \
			return -1;                                                     \
		}                                                                      \
	} while (0)

enum prog { FROM, TO };

static struct dp_env env;
static struct endpoint_bpf *skel;
static struct ring_buffer *rb;
static int m_svc, m_be, m_slots, m_aff, m_revsk, m_nat, m_bstats;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns() */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int family_of(const char *addr, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, addr, out) == 1)
		return MS_FAMILY_IPV4;
	if (inet_pton(AF_INET6, addr, out) == 1)
		return MS_FAMILY_IPV6;
	return -1;
}

/* ---- service events --------------------------------------------------------------------- */

#define MAX_EV 64
static struct ms_event_svc evs[MAX_EV];
static int nev;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct ms_event_hdr *h = data;

	if (h->type != MS_EVENT_SERVICE)
		return 0;
	if (size == sizeof(struct ms_event_svc) && nev < MAX_EV)
		memcpy(&evs[nev++], data, size);
	return 0;
}

/* Reads the ring; the service events since the last call are in evs[0..nev). */
static int drain(void)
{
	nev = 0;
	return ring_buffer__consume(rb) < 0 ? -1 : nev;
}

/* The one service event since the last drain must say this. backend NULL: a refusal. */
static int check_event(uint8_t hook, uint32_t svc_id, const char *vip, uint16_t vport,
		       uint8_t proto, uint32_t backend_id, const char *backend, uint16_t bport,
		       uint32_t ep_id, uint64_t netns)
{
	uint8_t a[16], b[16] = { 0 };
	int fam = family_of(vip, a);
	const struct ms_event_svc *e = &evs[0];

	if (backend)
		family_of(backend, b);
	if (drain() != 1) {
		printf("#   %d service events, want 1\n", nev);
		return -1;
	}
	CHECK(e->hdr.version == MS_EVENT_VERSION && e->hdr.len == sizeof(*e));
	CHECK(e->hook == hook && e->svc_id == svc_id && e->backend_id == backend_id);
	CHECK(!memcmp(e->vip, a, 16) && e->vip_port == htons(vport));
	CHECK(!memcmp(e->backend, b, 16) && e->backend_port == htons(backend ? bport : 0));
	CHECK(e->family == fam && e->proto == proto);
	CHECK(e->ep_id == ep_id && e->netns_cookie == netns);
	return 0;
}

/* ---- map state -------------------------------------------------------------------------- */

static int put_backend(uint32_t id, const char *addr, uint16_t port, uint32_t svc_id,
		       uint8_t state)
{
	struct ms_lb_backend b = { .port = htons(port), .state = state, .svc_id = svc_id };
	int fam = family_of(addr, b.addr);

	if (fam < 0)
		return -1;
	b.family = (uint8_t)fam;
	return bpf_map_update_elem(m_be, &id, &b, BPF_ANY) ? -1 : 0;
}

struct svc_def {
	const char *addr;
	uint16_t port;
	uint8_t proto;
	uint32_t id;
	uint8_t algo;
	uint32_t affinity_s;
	uint8_t half;
};

static int put_slots(uint32_t svc_id, int half, const uint32_t *ids, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct ms_lb_slot_key k = { .svc_id = svc_id,
					    .slot = (half ? MS_LB_SLOT_HALF : 0) | i };

		if (bpf_map_update_elem(m_slots, &k, &ids[i], BPF_ANY))
			return -1;
	}
	return 0;
}

/* The service with n slots in its live half, and the decoy in as many slots of the other. */
static int put_service(const struct svc_def *s, const uint32_t *ids, uint32_t n)
{
	struct ms_lb_key k = { .port = htons(s->port), .proto = s->proto };
	struct ms_lb_service v = { .svc_id = s->id, .n_slots = n, .half = s->half, .algo = s->algo,
				   .affinity_timeout_s = s->affinity_s };
	uint32_t decoys[256], i, nd = n ? n : 8;
	int fam = family_of(s->addr, k.addr);

	if (fam < 0 || nd > 256)
		return -1;
	k.family = (uint8_t)fam;
	for (i = 0; i < nd; i++)
		decoys[i] = DECOY_ID;
	if (put_backend(DECOY_ID, fam == MS_FAMILY_IPV4 ? DECOY4 : DECOY6, 9999, s->id,
			MS_LB_BACKEND_ACTIVE) ||
	    put_slots(s->id, !s->half, decoys, nd) || put_slots(s->id, s->half, ids, n))
		return -1;
	return bpf_map_update_elem(m_svc, &k, &v, BPF_ANY) ? -1 : 0;
}

static uint64_t backend_conns(uint32_t id)
{
	struct ms_lb_backend_stats *v = calloc(env.ncpus, sizeof(*v));
	uint64_t sum = 0;
	int c;

	if (!v || bpf_map_lookup_elem(m_bstats, &id, v)) {
		free(v);
		return ~0ull;
	}
	for (c = 0; c < env.ncpus; c++)
		sum += v[c].connections;
	free(v);
	return sum;
}

static int count_entries(int fd, size_t key_size)
{
	uint8_t k[64], next[64];
	int n = 0;

	if (bpf_map_get_next_key(fd, NULL, next))
		return 0;
	do {
		memcpy(k, next, key_size);
		n++;
	} while (bpf_map_get_next_key(fd, k, next) == 0);
	return n;
}

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

/* Endpoint A with no policy (open), a remote prefix, no services, zeroed backend counters,
 * events on with a limit no test reaches. */
static int base_state(void)
{
	struct ms_config cfg = { .flags = MS_CFG_F_EVENTS | MS_CFG_F_SERVICES, .event_rate = 1000000000,
				 .event_burst = 1000000000 };
	struct ms_lb_backend_stats *zero = calloc(env.ncpus, sizeof(*zero));
	uint32_t k0 = 0, id;
	int err = 0;

	if (!zero)
		return -1;
	err |= dp_map_clear(env.eps, sizeof(uint32_t));
	err |= dp_map_clear(env.ipc, sizeof(struct ms_ipcache_key));
	err |= dp_map_clear(env.ct, sizeof(struct ms_ct_key));
	err |= dp_map_clear(m_svc, sizeof(struct ms_lb_key));
	err |= dp_map_clear(m_be, sizeof(uint32_t));
	err |= dp_map_clear(m_slots, sizeof(struct ms_lb_slot_key));
	err |= dp_map_clear(m_aff, sizeof(struct ms_lb_affinity_key));
	err |= dp_map_clear(m_revsk, sizeof(struct ms_lb_revsk_key));
	err |= dp_map_clear(m_nat, sizeof(struct ms_ct_key));
	for (id = 0; id < T_MAX_BACKENDS; id++)
		err |= bpf_map_update_elem(m_bstats, &id, zero, BPF_ANY);
	free(zero);
	err |= bpf_map_update_elem(env.cfg, &k0, &cfg, BPF_ANY);
	err |= put_ep(env.if_a, EP_A, ID_A, MAC_A);
	err |= dp_ipc_put(env.ipc, IP4_A, 32, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, IP6_A, 128, ID_A, env.if_a, EP_A, MS_IPC_F_LOCAL_EP);
	err |= dp_ipc_put(env.ipc, "10.201.0.0", 16, ID_REMOTE, 0, 0, 0);
	err |= dp_ipc_put(env.ipc, "fd00:201::", 64, ID_REMOTE, 0, 0, 0);
	if (drain() < 0)
		err = -1;
	return err ? -1 : 0;
}

/* ---- packets ---------------------------------------------------------------------------- */

struct frame {
	uint8_t d[PB_MAX_LEN + 256];
	uint32_t len;
	int verdict;
};

/* Builds k as sent by A (from A's MAC) or as delivered to A. */
static int build(struct frame *f, const struct dp_pkt *k, enum prog dir)
{
	static struct pb p;
	int n = dp_pkt_build(&p, k, dir == FROM ? MAC_A : MAC_GW, dir == FROM ? MAC_GW : MAC_A);

	if (n < 0)
		return -1;
	memcpy(f->d, p.data, (size_t)n);
	f->len = (uint32_t)n;
	return 0;
}

/* Runs one frame through A's program. */
static int run(enum prog dir, const struct frame *in, struct frame *out)
{
	struct __sk_buff ctx = { .ifindex = env.if_a,
				 .ingress_ifindex = dir == FROM ? env.if_a : 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = in->len,
		    .data_out = out->d, .data_size_out = sizeof(out->d), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	if (bpf_prog_test_run_opts(env.prog[dir], &o)) {
		printf("#   test_run: %s\n", strerror(errno));
		return -1;
	}
	out->len = o.data_size_out;
	out->verdict = (int)o.retval;
	return 0;
}

/* Where things are in a frame built by pktbuild (no options, no extension headers). */
struct layout {
	int v6;
	size_t l3, l4, end;
	uint8_t proto;
	size_t src, dst, csum; /* offsets of the addresses and of the L4 checksum */
	size_t alen;
};

static void layout_of(const struct frame *f, struct layout *l)
{
	l->v6 = f->d[12] == 0x86;
	l->l3 = PB_ETH_HLEN;
	if (l->v6) {
		l->l4 = l->l3 + 40;
		l->proto = f->d[l->l3 + 6];
		l->src = l->l3 + 8;
		l->dst = l->l3 + 24;
		l->alen = 16;
		l->end = l->l4 + ((size_t)f->d[l->l3 + 4] << 8 | f->d[l->l3 + 5]);
	} else {
		l->l4 = l->l3 + (size_t)(f->d[l->l3] & 0x0f) * 4;
		l->proto = f->d[l->l3 + 9];
		l->src = l->l3 + 12;
		l->dst = l->l3 + 16;
		l->alen = 4;
		l->end = l->l3 + ((size_t)f->d[l->l3 + 2] << 8 | f->d[l->l3 + 3]);
	}
	l->csum = l->l4 + (l->proto == TCP ? 16 : 6);
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* The checksums of the frame, summed from scratch (RFC 1071): the IPv4 header's, and the
 * TCP/UDP one over the pseudo header (RFC 793, RFC 8200 8.1). An IPv4 UDP checksum of 0
 * means none. */
static int checksums_ok(const struct frame *f)
{
	struct layout l;
	uint32_t pseudo = 0;
	size_t i, l4len;

	layout_of(f, &l);
	if (l.end > f->len || l.end < l.l4 + 8)
		return 0;
	if (!l.v6 && pb_csum(f->d + l.l3, l.l4 - l.l3, 0) != 0)
		return 0;
	l4len = l.end - l.l4;
	for (i = 0; i < l.alen; i += 2)
		pseudo += get16(f->d + l.src + i) + get16(f->d + l.dst + i);
	pseudo += l.proto + (uint32_t)l4len;
	if (!l.v6 && l.proto == UDP && get16(f->d + l.csum) == 0)
		return 1;
	return pb_csum(f->d + l.l4, l4len, pseudo) == 0;
}

/*
 * out must be in with the destination (dst 1) or the source address and port set to
 * addr:port, every other byte the same but the checksums, which must verify.
 */
static int check_rewrite(const struct frame *in, const struct frame *out, int dst,
			 const char *addr, uint16_t port)
{
	static struct frame want;
	struct layout l;
	uint8_t a[16];
	size_t i;

	layout_of(in, &l);
	family_of(addr, a);
	want = *in;
	memcpy(want.d + (dst ? l.dst : l.src), a, l.alen);
	want.d[l.l4 + (dst ? 2 : 0)] = (uint8_t)(port >> 8);
	want.d[l.l4 + (dst ? 3 : 1)] = (uint8_t)port;
	if (out->len != in->len) {
		printf("#   length %u, want %u\n", out->len, in->len);
		return -1;
	}
	for (i = 0; i < in->len; i++) {
		int is_csum = i == l.csum || i == l.csum + 1 ||
			      (!l.v6 && (i == l.l3 + 10 || i == l.l3 + 11));

		if (!is_csum && out->d[i] != want.d[i]) {
			printf("#   byte %zu is %#x, want %#x\n", i, out->d[i], want.d[i]);
			return -1;
		}
	}
	if (!checksums_ok(out)) {
		printf("#   checksums do not verify\n");
		return -1;
	}
	return 0;
}

/* Sends k from A and checks it leaves translated to addr:port. */
static int send_expect(const struct dp_pkt *k, const char *addr, uint16_t port)
{
	static struct frame in, out;

	CHECK(build(&in, k, FROM) == 0);
	CHECK(run(FROM, &in, &out) == 0);
	if (out.verdict != TC_ACT_OK) {
		printf("#   verdict %d\n", out.verdict);
		return -1;
	}
	return check_rewrite(&in, &out, 1, addr, port);
}

/* Delivers k to A and checks it arrives with its source translated to addr:port. */
static int recv_expect(const struct dp_pkt *k, const char *addr, uint16_t port)
{
	static struct frame in, out;

	CHECK(build(&in, k, TO) == 0);
	CHECK(run(TO, &in, &out) == 0);
	if (out.verdict != TC_ACT_OK) {
		printf("#   verdict %d\n", out.verdict);
		return -1;
	}
	return check_rewrite(&in, &out, 0, addr, port);
}

/* The backend k was sent to (the one of ids whose address the frame leaves with). */
static int sent_to(const struct dp_pkt *k, const uint32_t *ids, const char *const *addrs,
		   int n, uint32_t *id)
{
	static struct frame in, out;
	struct layout l;
	uint8_t a[16];
	int i;

	if (build(&in, k, FROM) || run(FROM, &in, &out) || out.verdict != TC_ACT_OK ||
	    !checksums_ok(&out))
		return -1;
	layout_of(&out, &l);
	for (i = 0; i < n; i++) {
		family_of(addrs[i], a);
		if (!memcmp(out.d + l.dst, a, l.alen)) {
			*id = ids[i];
			return 0;
		}
	}
	printf("#   sent to none of the backends\n");
	return -1;
}

/* ---- per-packet cases ------------------------------------------------------------------- */

static const struct svc_def web4 = { VIP4, 80, TCP, 10, MS_LB_ALGO_RANDOM, 0, 1 };
static const struct svc_def web6 = { VIP6, 80, TCP, 11, MS_LB_ALGO_RANDOM, 0, 0 };
static const struct svc_def dns4 = { VIP4, 53, UDP, 12, MS_LB_ALGO_RANDOM, 0, 0 };
static const struct svc_def dns6 = { VIP6, 53, UDP, 13, MS_LB_ALGO_RANDOM, 0, 1 };

static int tc_tcp4(void)
{
	static const struct dp_pkt syn = TCP4(IP4_A, VIP4, 40000, 80, SYN);
	static const struct dp_pkt ack = TCP4(IP4_A, VIP4, 40000, 80, ACK);
	static const struct dp_pkt reply = TCP4(BE4_1, IP4_A, 8080, 40000, SA);
	const uint32_t one[] = { 1 };
	struct ms_ct_key ct = { .sport = htons(40000), .dport = htons(8080), .proto = TCP,
				.family = MS_FAMILY_IPV4, .dir = MS_DIR_EGRESS };
	struct ms_ct_value cv;

	CHECK(put_backend(1, BE4_1, 8080, web4.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&web4, one, 1) == 0);
	CHECK(send_expect(&syn, BE4_1, 8080) == 0);
	CHECK(check_event(MS_SVC_HOOK_TC, web4.id, VIP4, 80, TCP, 1, BE4_1, 8080, EP_A, 0) == 0);
	CHECK(backend_conns(1) == 1);
	/* Policy and connection tracking saw the backend. */
	family_of(IP4_A, ct.saddr);
	family_of(BE4_1, ct.daddr);
	CHECK(bpf_map_lookup_elem(env.ct, &ct, &cv) == 0);
	CHECK(send_expect(&ack, BE4_1, 8080) == 0);
	CHECK(drain() == 0 && backend_conns(1) == 1);
	CHECK(recv_expect(&reply, VIP4, 80) == 0);
	CHECK(count_entries(m_nat, sizeof(struct ms_ct_key)) == 2);
	return 0;
}

static int tc_tcp6(void)
{
	static const struct dp_pkt syn = TCP6(IP6_A, VIP6, 40000, 80, SYN);
	static const struct dp_pkt ack = TCP6(IP6_A, VIP6, 40000, 80, ACK);
	static const struct dp_pkt reply = TCP6(BE6_1, IP6_A, 8080, 40000, SA);
	const uint32_t one[] = { 1 };

	CHECK(put_backend(1, BE6_1, 8080, web6.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&web6, one, 1) == 0);
	CHECK(send_expect(&syn, BE6_1, 8080) == 0);
	CHECK(check_event(MS_SVC_HOOK_TC, web6.id, VIP6, 80, TCP, 1, BE6_1, 8080, EP_A, 0) == 0);
	CHECK(send_expect(&ack, BE6_1, 8080) == 0);
	CHECK(recv_expect(&reply, VIP6, 80) == 0);
	CHECK(backend_conns(1) == 1);
	return 0;
}

/* Three backends behind weighted-random slots: every packet of a connection goes where its
 * first one went, and the connection is counted once. */
static int tc_same_backend(void)
{
	const uint32_t ids[] = { 1, 2, 3 };
	const char *const addrs[] = { BE4_1, BE4_2, BE4_3 };
	uint32_t slots[48], first, id, sport;
	int i, used = 0;

	for (i = 0; i < 48; i++)
		slots[i] = ids[i % 3];
	for (i = 0; i < 3; i++)
		CHECK(put_backend(ids[i], addrs[i], 8080, web4.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&web4, slots, 48) == 0);
	for (sport = 41000; sport < 41016; sport++) {
		struct dp_pkt syn = TCP4(IP4_A, VIP4, sport, 80, SYN);
		struct dp_pkt ack = TCP4(IP4_A, VIP4, sport, 80, ACK);

		CHECK(sent_to(&syn, ids, addrs, 3, &first) == 0);
		used |= 1 << first;
		for (i = 0; i < 3; i++) {
			CHECK(sent_to(&ack, ids, addrs, 3, &id) == 0);
			CHECK(id == first);
		}
	}
	CHECK(backend_conns(1) + backend_conns(2) + backend_conns(3) == 16);
	/* 16 random draws from 3 backends all landing on one: p = 3 / 3^16. */
	CHECK(used != 2 && used != 4 && used != 8);
	return 0;
}

static int tc_udp4(void)
{
	static const struct dp_pkt q = UDP4(IP4_A, VIP4, 5300, 53);
	static const struct dp_pkt a = UDP4(BE4_2, IP4_A, 5353, 5300);
	const uint32_t two[] = { 2 };

	CHECK(put_backend(2, BE4_2, 5353, dns4.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&dns4, two, 1) == 0);
	CHECK(send_expect(&q, BE4_2, 5353) == 0);
	CHECK(check_event(MS_SVC_HOOK_TC, dns4.id, VIP4, 53, UDP, 2, BE4_2, 5353, EP_A, 0) == 0);
	CHECK(send_expect(&q, BE4_2, 5353) == 0);
	CHECK(drain() == 0 && backend_conns(2) == 1);
	CHECK(recv_expect(&a, VIP4, 53) == 0);
	return 0;
}

/* IPv4 UDP without a checksum (0) keeps none, both ways. */
static int tc_udp4_no_csum(void)
{
	static const struct dp_pkt q = UDP4(IP4_A, VIP4, 5301, 53);
	static const struct dp_pkt a = UDP4(BE4_2, IP4_A, 5353, 5301);
	static struct frame in, out;
	const uint32_t two[] = { 2 };
	struct layout l;

	CHECK(put_backend(2, BE4_2, 5353, dns4.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&dns4, two, 1) == 0);

	CHECK(build(&in, &q, FROM) == 0);
	layout_of(&in, &l);
	in.d[l.csum] = in.d[l.csum + 1] = 0;
	CHECK(run(FROM, &in, &out) == 0 && out.verdict == TC_ACT_OK);
	CHECK(check_rewrite(&in, &out, 1, BE4_2, 5353) == 0);
	CHECK(out.d[l.csum] == 0 && out.d[l.csum + 1] == 0);

	CHECK(build(&in, &a, TO) == 0);
	in.d[l.csum] = in.d[l.csum + 1] = 0;
	CHECK(run(TO, &in, &out) == 0 && out.verdict == TC_ACT_OK);
	CHECK(check_rewrite(&in, &out, 0, VIP4, 53) == 0);
	CHECK(out.d[l.csum] == 0 && out.d[l.csum + 1] == 0);
	return 0;
}

static int tc_udp6(void)
{
	static const struct dp_pkt q = UDP6(IP6_A, VIP6, 5300, 53);
	static const struct dp_pkt a = UDP6(BE6_2, IP6_A, 5353, 5300);
	const uint32_t two[] = { 2 };

	CHECK(put_backend(2, BE6_2, 5353, dns6.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&dns6, two, 1) == 0);
	CHECK(send_expect(&q, BE6_2, 5353) == 0);
	CHECK(check_event(MS_SVC_HOOK_TC, dns6.id, VIP6, 53, UDP, 2, BE6_2, 5353, EP_A, 0) == 0);
	CHECK(recv_expect(&a, VIP6, 53) == 0);
	return 0;
}

/* out must be the RST+ACK answering the SYN in: from the frontend to the client, MACs and
 * ports swapped, ack = the SYN's seq + 1, no payload, checksums that verify. */
static int is_reset_for(const struct frame *in, const struct frame *out)
{
	struct layout li, lo;
	layout_of(in, &li);
	layout_of(out, &lo);
	uint32_t seq = (uint32_t)in->d[li.l4 + 4] << 24 | (uint32_t)in->d[li.l4 + 5] << 16 |
		       (uint32_t)in->d[li.l4 + 6] << 8 | in->d[li.l4 + 7];
	uint32_t ack = (uint32_t)out->d[lo.l4 + 8] << 24 | (uint32_t)out->d[lo.l4 + 9] << 16 |
		       (uint32_t)out->d[lo.l4 + 10] << 8 | out->d[lo.l4 + 11];
	int ok = out->len == lo.l4 + 20 && lo.end == out->len && lo.proto == TCP && lo.v6 == li.v6 &&
		 !memcmp(out->d, in->d + 6, 6) && !memcmp(out->d + 6, in->d, 6) &&
		 !memcmp(out->d + lo.src, in->d + li.dst, lo.alen) && !memcmp(out->d + lo.dst, in->d + li.src, lo.alen) &&
		 !memcmp(out->d + lo.l4, in->d + li.l4 + 2, 2) && !memcmp(out->d + lo.l4 + 2, in->d + li.l4, 2) &&
		 ack == seq + 1 && out->d[lo.l4 + 13] == 0x14 && checksums_ok(out);
	if (!ok)
		printf("#   not the expected RST (len %u)\n", out->len);
	return ok ? 0 : -1;
}

/* out must be the ICMP (v6) port unreachable answering the datagram in: from the frontend to
 * the client, MACs swapped, quoting in's IP header and UDP header byte for byte, checksums
 * that verify (ICMPv4 over its own bytes, ICMPv6 over the pseudo header too). */
static int is_unreachable_for(const struct frame *in, const struct frame *out)
{
	struct layout li, lo;
	layout_of(in, &li);
	layout_of(out, &lo);
	size_t quote = li.l4 + 8 - li.l3;
	int icmp_ok = lo.v6 ? out->d[lo.l4] == 1 && out->d[lo.l4 + 1] == 4 && checksums_ok(out)
			    : out->d[lo.l4] == 3 && out->d[lo.l4 + 1] == 3 &&
				      pb_csum(out->d + lo.l3, lo.l4 - lo.l3, 0) == 0 &&
				      pb_csum(out->d + lo.l4, lo.end - lo.l4, 0) == 0;
	int ok = out->len == lo.l4 + 8 + quote && lo.end == out->len && lo.v6 == li.v6 &&
		 lo.proto == (lo.v6 ? 58 : 1) && !memcmp(out->d, in->d + 6, 6) && !memcmp(out->d + 6, in->d, 6) &&
		 !memcmp(out->d + lo.src, in->d + li.dst, lo.alen) && !memcmp(out->d + lo.dst, in->d + li.src, lo.alen) &&
		 !memcmp(out->d + lo.l4 + 8, in->d + li.l3, quote) && icmp_ok;
	if (!ok)
		printf("#   not the expected port unreachable (len %u)\n", out->len);
	return ok ? 0 : -1;
}

/* No active backend per packet: the SYN is counted as a no_backend drop and answered with a
 * RST (the client is refused at once, as at the socket hook); other packets are dropped. */
static int tc_no_backend(void)
{
	static struct ms_ep_stats before[T_MAX_ENDPOINTS], after[T_MAX_ENDPOINTS];
	static const struct dp_pkt syn = TCP4(IP4_A, VIP4, 40000, 80, SYN);
	static const struct dp_pkt syn6 = TCP6(IP6_A, VIP6, 40000, 80, SYN);
	static const struct dp_pkt udp = UDP4(IP4_A, VIP4, 40000, 53);
	static const struct dp_pkt udp6 = UDP6(IP6_A, VIP6, 40000, 53);
	static const struct dp_count want[] = { { EP_A, MS_DIR_EGRESS, MS_DROP_NO_BACKEND, 1 } };
	static struct frame in, out;

	CHECK(put_service(&web4, NULL, 0) == 0);
	CHECK(build(&in, &syn, FROM) == 0);
	CHECK(dp_stats_snapshot(env.stats, env.ncpus, T_MAX_ENDPOINTS, before) == 0);
	CHECK(run(FROM, &in, &out) == 0);
	CHECK(dp_stats_snapshot(env.stats, env.ncpus, T_MAX_ENDPOINTS, after) == 0);
	CHECK(out.verdict == TC_ACT_REDIRECT);
	CHECK(is_reset_for(&in, &out) == 0);
	CHECK(dp_stats_check(before, after, T_MAX_ENDPOINTS, want, 1, in.len) == 0);
	CHECK(check_event(MS_SVC_HOOK_TC, web4.id, VIP4, 80, TCP, 0, NULL, 0, EP_A, 0) == 0);
	CHECK(count_entries(m_nat, sizeof(struct ms_ct_key)) == 0);

	CHECK(put_service(&web6, NULL, 0) == 0);
	CHECK(build(&in, &syn6, FROM) == 0);
	CHECK(run(FROM, &in, &out) == 0);
	CHECK(out.verdict == TC_ACT_REDIRECT);
	CHECK(is_reset_for(&in, &out) == 0);
	drain();

	/* A datagram gets a port unreachable quoting it. */
	CHECK(put_service(&dns4, NULL, 0) == 0);
	CHECK(build(&in, &udp, FROM) == 0);
	CHECK(run(FROM, &in, &out) == 0);
	CHECK(out.verdict == TC_ACT_REDIRECT);
	CHECK(is_unreachable_for(&in, &out) == 0);
	CHECK(put_service(&dns6, NULL, 0) == 0);
	CHECK(build(&in, &udp6, FROM) == 0);
	CHECK(run(FROM, &in, &out) == 0);
	CHECK(out.verdict == TC_ACT_REDIRECT);
	CHECK(is_unreachable_for(&in, &out) == 0);
	drain();
	return 0;
}

/* Packets to no frontend leave exactly as they came: another address, the frontend's address
 * with another port or protocol. */
static int tc_not_service(void)
{
	static const struct dp_pkt pkts[] = {
		TCP4(IP4_A, IP4_REMOTE, 40000, 80, SYN),
		TCP4(IP4_A, VIP4, 40000, 81, SYN),
		UDP4(IP4_A, VIP4, 40000, 80),
		TCP6(IP6_A, VIP6, 40000, 53, SYN),
	};
	static struct frame in, out;
	const uint32_t one[] = { 1 };
	size_t i;

	CHECK(put_backend(1, BE4_1, 8080, web4.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&web4, one, 1) == 0);
	CHECK(put_service(&dns6, one, 1) == 0);
	for (i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++) {
		CHECK(build(&in, &pkts[i], FROM) == 0);
		CHECK(run(FROM, &in, &out) == 0 && out.verdict == TC_ACT_OK);
		CHECK(out.len == in.len && !memcmp(out.d, in.d, in.len));
	}
	CHECK(count_entries(m_nat, sizeof(struct ms_ct_key)) == 0 && drain() == 0);
	return 0;
}

/* The Maglev table decides by the connection's hash: the backend of each tuple is the one in
 * slot hash % n, computed here with the datapath's own hash (lb_pick.h), and stays so for
 * the same tuple once its translation is forgotten. */
static int tc_maglev(void)
{
	static const struct svc_def mag = { VIP4, 80, TCP, 20, MS_LB_ALGO_MAGLEV, 0, 1 };
	const uint32_t ids[] = { 1, 2, 3 };
	const char *const addrs[] = { BE4_1, BE4_2, BE4_3 };
	__u64 sa[2] = { 0 }, da[2] = { 0 };
	uint32_t slots[251], id, again, sport;
	int i, used = 0;

	for (i = 0; i < 251; i++)
		slots[i] = ids[(i * 7 + i / 5) % 3];
	for (i = 0; i < 3; i++)
		CHECK(put_backend(ids[i], addrs[i], 8080, mag.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&mag, slots, 251) == 0);
	inet_pton(AF_INET, IP4_A, sa);
	inet_pton(AF_INET, VIP4, da);
	for (sport = 42000; sport < 42032; sport++) {
		struct dp_pkt syn = TCP4(IP4_A, VIP4, sport, 80, SYN);
		uint32_t h = ms_lb_hash_tuple(sa, da, htons(sport), htons(80), TCP);

		CHECK(sent_to(&syn, ids, addrs, 3, &id) == 0);
		CHECK(id == slots[ms_lb_slot_index(h, 251)]);
		CHECK(dp_map_clear(m_nat, sizeof(struct ms_ct_key)) == 0);
		CHECK(sent_to(&syn, ids, addrs, 3, &again) == 0 && again == id);
		used |= 1 << id;
	}
	CHECK(used == (1 << 1 | 1 << 2 | 1 << 3));
	return 0;
}

/* A TCP packet of no known connection (its entry evicted) chooses like a new one: with Maglev
 * it finds its backend again. A SYN on an entry whose backend is no longer active starts a
 * new connection; other packets stay with their backend. */
static int tc_lost_entry_and_draining(void)
{
	static const struct svc_def mag = { VIP4, 80, TCP, 21, MS_LB_ALGO_MAGLEV, 0, 0 };
	static const struct dp_pkt syn = TCP4(IP4_A, VIP4, 43000, 80, SYN);
	static const struct dp_pkt ack = TCP4(IP4_A, VIP4, 43000, 80, ACK);
	const uint32_t ids[] = { 1, 2 };
	const char *const addrs[] = { BE4_1, BE4_2 };
	struct ms_lb_key fe = { .port = htons(80), .proto = TCP, .family = MS_FAMILY_IPV4 };
	struct ms_lb_service flipped = { .svc_id = mag.id, .n_slots = 1, .half = !mag.half,
					 .algo = mag.algo };
	uint32_t slots[7], first, id, other, i;

	for (i = 0; i < 7; i++)
		slots[i] = ids[i % 2];
	CHECK(put_backend(1, BE4_1, 8080, mag.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_backend(2, BE4_2, 8080, mag.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&mag, slots, 7) == 0);
	CHECK(sent_to(&syn, ids, addrs, 2, &first) == 0);
	CHECK(dp_map_clear(m_nat, sizeof(struct ms_ct_key)) == 0);
	CHECK(sent_to(&ack, ids, addrs, 2, &id) == 0 && id == first);

	/* The backend drains as userspace does it: a slot set without it goes live in the
	 * other half, then the backend is marked terminating. */
	other = first == 1 ? 2 : 1;
	CHECK(put_slots(mag.id, !mag.half, &other, 1) == 0);
	family_of(VIP4, fe.addr);
	CHECK(bpf_map_update_elem(m_svc, &fe, &flipped, BPF_ANY) == 0);
	CHECK(put_backend(first, first == 1 ? BE4_1 : BE4_2, 8080, mag.id,
			  MS_LB_BACKEND_TERMINATING) == 0);
	CHECK(sent_to(&ack, ids, addrs, 2, &id) == 0 && id == first);
	CHECK(sent_to(&syn, ids, addrs, 2, &id) == 0 && id == other);
	CHECK(sent_to(&ack, ids, addrs, 2, &id) == 0 && id == other);
	return 0;
}

static int put_affinity(uint32_t svc_id, const char *client, uint32_t backend_id, int age_s)
{
	struct ms_lb_affinity_key k = { .svc_id = svc_id };
	struct ms_lb_affinity_value v = { .backend_id = backend_id,
					  .last_ns = mono_ns() - (uint64_t)age_s * 1000000000ull };
	int fam = family_of(client, k.client);

	k.family = (uint8_t)fam;
	return bpf_map_update_elem(m_aff, &k, &v, BPF_ANY) ? -1 : 0;
}

static int get_affinity(uint32_t svc_id, const char *client, uint32_t *backend_id)
{
	struct ms_lb_affinity_key k = { .svc_id = svc_id };
	struct ms_lb_affinity_value v;

	k.family = (uint8_t)family_of(client, k.client);
	if (bpf_map_lookup_elem(m_aff, &k, &v))
		return -1;
	*backend_id = v.backend_id;
	return 0;
}

/*
 * Client affinity (60 s) on Maglev: a client keeps the backend its entry names while the entry
 * is younger than the timeout and the backend active; an expired entry, or one naming a
 * backend no longer active or gone, is replaced by the table's choice.
 */
static int tc_affinity(void)
{
	static const struct svc_def aff = { VIP4, 80, TCP, 22, MS_LB_ALGO_MAGLEV, 60, 0 };
	const uint32_t ids[] = { 1, 2, 3 };
	const char *const addrs[] = { BE4_1, BE4_2, BE4_3 };
	__u64 sa[2] = { 0 }, da[2] = { 0 };
	uint32_t slots[13], id, pinned, table, sport;
	int i;

	for (i = 0; i < 13; i++)
		slots[i] = ids[i % 2]; /* backends 1 and 2; 3 is active but in no slot */
	for (i = 0; i < 3; i++)
		CHECK(put_backend(ids[i], addrs[i], 8080, aff.id, MS_LB_BACKEND_ACTIVE) == 0);
	CHECK(put_service(&aff, slots, 13) == 0);
	inet_pton(AF_INET, IP4_A, sa);
	inet_pton(AF_INET, VIP4, da);

	/* The first connection records the table's choice; later ones from the client follow it
	 * whatever the table says for them. */
	sport = 44000;
	{
		struct dp_pkt syn = TCP4(IP4_A, VIP4, sport, 80, SYN);

		CHECK(sent_to(&syn, ids, addrs, 3, &pinned) == 0);
	}
	CHECK(get_affinity(aff.id, IP4_A, &id) == 0 && id == pinned);
	for (sport = 44001; sport < 44017; sport++) {
		struct dp_pkt syn = TCP4(IP4_A, VIP4, sport, 80, SYN);

		CHECK(sent_to(&syn, ids, addrs, 3, &id) == 0 && id == pinned);
	}

	/* A live entry even beats the table: backend 3 is in no slot. */
	CHECK(put_affinity(aff.id, IP4_A, 3, 30) == 0);
	{
		struct dp_pkt syn = TCP4(IP4_A, VIP4, 44100, 80, SYN);

		CHECK(sent_to(&syn, ids, addrs, 3, &id) == 0 && id == 3);
	}
	/* Expired (61 s > 60 s), terminating, gone: the table decides and the entry follows. */
	for (i = 0; i < 3; i++) {
		struct dp_pkt syn = TCP4(IP4_A, VIP4, (uint16_t)(44200 + i), 80, SYN);
		uint32_t h = ms_lb_hash_tuple(sa, da, htons((uint16_t)(44200 + i)), htons(80), TCP);

		table = slots[ms_lb_slot_index(h, 13)];
		if (i == 0) {
			CHECK(put_affinity(aff.id, IP4_A, 3, 61) == 0);
		} else if (i == 1) {
			CHECK(put_backend(3, BE4_3, 8080, aff.id, MS_LB_BACKEND_TERMINATING) == 0);
			CHECK(put_affinity(aff.id, IP4_A, 3, 0) == 0);
		} else {
			CHECK(bpf_map_delete_elem(m_be, &ids[2]) == 0);
			CHECK(put_affinity(aff.id, IP4_A, 3, 0) == 0);
		}
		CHECK(sent_to(&syn, ids, addrs, 3, &id) == 0 && id == table);
		CHECK(get_affinity(aff.id, IP4_A, &id) == 0 && id == table);
	}
	return 0;
}

/* ---- socket hooks ----------------------------------------------------------------------- */

#define CG_ROOT "/sys/fs/cgroup/unified"

static char cg_path[64];
static char cg_home[600];
static int cg_fd = -1;

static const struct {
	const char *prog;
	enum bpf_attach_type type;
} sock_hooks[] = {
	{ MS_PROG_SOCK_CONNECT4, BPF_CGROUP_INET4_CONNECT },
	{ MS_PROG_SOCK_CONNECT6, BPF_CGROUP_INET6_CONNECT },
	{ MS_PROG_SOCK_SENDMSG4, BPF_CGROUP_UDP4_SENDMSG },
	{ MS_PROG_SOCK_SENDMSG6, BPF_CGROUP_UDP6_SENDMSG },
	{ MS_PROG_SOCK_RECVMSG4, BPF_CGROUP_UDP4_RECVMSG },
	{ MS_PROG_SOCK_RECVMSG6, BPF_CGROUP_UDP6_RECVMSG },
	{ MS_PROG_SOCK_GETPEERNAME4, BPF_CGROUP_INET4_GETPEERNAME },
	{ MS_PROG_SOCK_GETPEERNAME6, BPF_CGROUP_INET6_GETPEERNAME },
};
#define N_HOOKS (sizeof(sock_hooks) / sizeof(sock_hooks[0]))
static int attached[N_HOOKS];

static int write_pid(const char *dir)
{
	char path[640];
	int fd, n, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = dprintf(fd, "%d\n", (int)getpid());
	ok = n > 0;
	close(fd);
	return ok ? 0 : -1;
}

/* The cgroup v2 directory this process is in. */
static int cg_current(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, len, "%s%s", CG_ROOT, strcmp(line + 3, "/") ? line + 3 : "");
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/*
 * Whatever way this process ends, a watchdog forked before it moves into the test cgroup (so
 * the watchdog stays outside) removes the cgroup once the process is gone, and with it the
 * programs attached there: it waits for the end of a pipe only this process holds.
 */
static int cg_watchdog(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char c;
		int i, fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Out of the test's process group: a timeout killing the group spares it. */
		setsid();
		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		for (i = 0; i < 50; i++) {
			if (rmdir(cg_path) == 0 || errno == ENOENT)
				_exit(0);
			usleep(100000);
		}
		_exit(1);
	}
	close(p[0]); /* p[1] stays open until this process exits */
	return 0;
}

static int cg_enter(void)
{
	size_t i;

	if (cg_current(cg_home, sizeof(cg_home))) {
		printf("# no cgroup v2 membership in /proc/self/cgroup\n");
		return -1;
	}
	snprintf(cg_path, sizeof(cg_path), CG_ROOT "/mslb%d", (int)getpid());
	if (mkdir(cg_path, 0755)) {
		printf("# mkdir %s: %s\n", cg_path, strerror(errno));
		return -1;
	}
	if (cg_watchdog() || write_pid(cg_path)) {
		printf("# entering %s: %s\n", cg_path, strerror(errno));
		return -1;
	}
	cg_fd = open(cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return -1;
	for (i = 0; i < N_HOOKS; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(skel->obj,
									 sock_hooks[i].prog);

		if (!p || bpf_prog_attach(bpf_program__fd(p), cg_fd, sock_hooks[i].type,
					  BPF_F_ALLOW_MULTI)) {
			printf("# attaching %s: %s\n", sock_hooks[i].prog, strerror(errno));
			return -1;
		}
		attached[i] = 1;
	}
	return 0;
}

static void cg_leave(void)
{
	size_t i;

	for (i = 0; i < N_HOOKS; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(skel->obj,
									 sock_hooks[i].prog);

		if (attached[i] && p)
			bpf_prog_detach2(bpf_program__fd(p), cg_fd, sock_hooks[i].type);
		attached[i] = 0;
	}
	if (cg_fd >= 0)
		close(cg_fd);
	cg_fd = -1;
	if (cg_path[0]) {
		if (write_pid(cg_home))
			printf("# could not move back to %s: %s\n", cg_home, strerror(errno));
		if (rmdir(cg_path))
			printf("# rmdir %s: %s\n", cg_path, strerror(errno));
		cg_path[0] = 0;
	}
}

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static socklen_t sa_make(union sa *a, const char *addr, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, addr, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port);
		return sizeof(a->in);
	}
	inet_pton(AF_INET6, addr, &a->in6.sin6_addr);
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_port = htons(port);
	return sizeof(a->in6);
}

static int sa_is(const union sa *a, const char *addr, uint16_t port)
{
	union sa want;

	sa_make(&want, addr, port);
	if (a->sa.sa_family != want.sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == want.in.sin_port &&
		       a->in.sin_addr.s_addr == want.in.sin_addr.s_addr;
	return a->in6.sin6_port == want.in6.sin6_port &&
	       !memcmp(&a->in6.sin6_addr, &want.in6.sin6_addr, 16);
}

/* A socket bound to addr port 0 (listening if TCP); its port in *port. */
static int server(const char *addr, int type, uint16_t *port)
{
	union sa a;
	socklen_t len = sa_make(&a, addr, 0);
	int fd = socket(a.sa.sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, &a.sa, len) || (type == SOCK_STREAM && listen(fd, 16)) ||
	    getsockname(fd, &a.sa, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
	return fd;
}

static int wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 2000) == 1 ? 0 : -1;
}

/* connect() to addr:port; 0 or -errno. */
static int connect_to(int fd, const char *addr, uint16_t port)
{
	union sa a;
	socklen_t len = sa_make(&a, addr, port);

	return connect(fd, &a.sa, len) ? -errno : 0;
}

static uint64_t sockopt64(int fd, int opt)
{
	uint64_t v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, opt, &v, &len) ? 0 : v;
}

/* A TCP connect() to the frontend reaches the backend's listener, getpeername() shows the
 * frontend, and the translation is remembered for the socket. */
static int sock_tcp(const char *vip, const char *lo, uint32_t svc_id)
{
	const struct svc_def s = { vip, 80, TCP, svc_id, MS_LB_ALGO_MAGLEV, 0, 1 };
	struct ms_lb_revsk_key rk = { .port = 0 };
	struct ms_lb_revsk_value rv;
	const uint32_t one[] = { 1 };
	uint16_t port;
	union sa peer;
	socklen_t len = sizeof(peer);
	int l, c = -1, a = -1, err = -1;
	char ch = 0;

	l = server(lo, SOCK_STREAM, &port);
	CHECK(l >= 0);
	if (put_backend(1, lo, port, svc_id, MS_LB_BACKEND_ACTIVE) || put_service(&s, one, 1))
		goto out;
	c = socket(strchr(vip, ':') ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect_to(c, vip, 80) != 0) {
		printf("#   connect to the frontend: %s\n", strerror(errno));
		goto out;
	}
	if (wait_readable(l) || (a = accept(l, NULL, NULL)) < 0) {
		printf("#   the backend's listener got no connection\n");
		goto out;
	}
	if (write(c, "x", 1) != 1 || wait_readable(a) || read(a, &ch, 1) != 1 || ch != 'x')
		goto out;
	if (getpeername(c, &peer.sa, &len) || !sa_is(&peer, vip, 80)) {
		printf("#   getpeername does not show the frontend\n");
		goto out;
	}
	rk.cookie = sockopt64(c, SO_COOKIE);
	rk.family = strchr(vip, ':') ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
	family_of(lo, rk.addr);
	rk.port = htons(port);
	if (bpf_map_lookup_elem(m_revsk, &rk, &rv) || rv.svc_id != svc_id ||
	    rv.port != htons(80)) {
		printf("#   no translation entry for the socket\n");
		goto out;
	}
	if (backend_conns(1) != 1 ||
	    check_event(MS_SVC_HOOK_SOCK, svc_id, vip, 80, TCP, 1, lo, port, 0,
			sockopt64(c, SO_NETNS_COOKIE)))
		goto out;
	err = 0;
out:
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	close(l);
	return err;
}

static int sock_tcp4(void)
{
	return sock_tcp("127.0.0.42", "127.0.0.1", 30);
}

static int sock_tcp6(void)
{
	return sock_tcp("fd00:96::42", "::1", 31);
}

/* Datagrams sent to the frontend reach the backend; its answer shows the frontend as its
 * source. Counted once per socket and backend. A connected UDP socket likewise. */
static int sock_udp(const char *vip, const char *lo, uint32_t svc_id)
{
	const struct svc_def s = { vip, 53, UDP, svc_id, MS_LB_ALGO_RANDOM, 0, 0 };
	const uint32_t two[] = { 2 };
	union sa to, from;
	socklen_t tolen = sa_make(&to, vip, 53), len;
	uint16_t port;
	int srv, c = -1, k = -1, i, err = -1;
	char buf[8];

	srv = server(lo, SOCK_DGRAM, &port);
	CHECK(srv >= 0);
	if (put_backend(2, lo, port, svc_id, MS_LB_BACKEND_ACTIVE) || put_service(&s, two, 1))
		goto out;
	c = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		goto out;
	for (i = 0; i < 2; i++) {
		if (sendto(c, "q", 1, 0, &to.sa, tolen) != 1) {
			printf("#   sendto the frontend: %s\n", strerror(errno));
			goto out;
		}
		len = sizeof(from);
		if (wait_readable(srv) ||
		    recvfrom(srv, buf, sizeof(buf), 0, &from.sa, &len) != 1) {
			printf("#   the backend got no datagram\n");
			goto out;
		}
	}
	if (sendto(srv, "a", 1, 0, &from.sa, len) != 1 || wait_readable(c))
		goto out;
	len = sizeof(from);
	if (recvfrom(c, buf, sizeof(buf), 0, &from.sa, &len) != 1 || !sa_is(&from, vip, 53)) {
		printf("#   the answer does not come from the frontend\n");
		goto out;
	}
	if (backend_conns(2) != 1 ||
	    check_event(MS_SVC_HOOK_SOCK, svc_id, vip, 53, UDP, 2, lo, port, 0,
			sockopt64(c, SO_NETNS_COOKIE)))
		goto out;

	/* Connected: connect() translates, send() then needs no hook. */
	k = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (k < 0 || connect_to(k, vip, 53) || send(k, "q", 1, 0) != 1 || wait_readable(srv))
		goto out;
	len = sizeof(from);
	if (recvfrom(srv, buf, sizeof(buf), 0, &from.sa, &len) != 1 ||
	    sendto(srv, "a", 1, 0, &from.sa, len) != 1 || wait_readable(k))
		goto out;
	len = sizeof(from);
	if (recvfrom(k, buf, sizeof(buf), 0, &from.sa, &len) != 1 || !sa_is(&from, vip, 53))
		goto out;
	len = sizeof(from);
	if (getpeername(k, &from.sa, &len) || !sa_is(&from, vip, 53))
		goto out;
	err = backend_conns(2) == 2 ? 0 : -1;
out:
	if (k >= 0)
		close(k);
	if (c >= 0)
		close(c);
	close(srv);
	drain();
	return err;
}

static int sock_udp4(void)
{
	return sock_udp("127.0.0.43", "127.0.0.1", 32);
}

static int sock_udp6(void)
{
	return sock_udp("fd00:96::43", "::1", 33);
}

/* No active backend: connect() and sendto() fail with ECONNREFUSED, reported with backend
 * 0. */
static int sock_refused(void)
{
	static const struct svc_def t = { "127.0.0.44", 80, TCP, 34, MS_LB_ALGO_RANDOM, 0, 0 };
	static const struct svc_def u = { "fd00:96::44", 53, UDP, 35, MS_LB_ALGO_MAGLEV, 0, 1 };
	union sa to;
	socklen_t tolen = sa_make(&to, u.addr, 53);
	int c, r, e;

	uint64_t netns;

	CHECK(put_service(&t, NULL, 0) == 0 && put_service(&u, NULL, 0) == 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0);
	r = connect_to(c, t.addr, 80);
	netns = sockopt64(c, SO_NETNS_COOKIE);
	close(c);
	if (r != -ECONNREFUSED) {
		printf("#   connect: %s, want ECONNREFUSED\n", strerror(-r));
		return -1;
	}
	CHECK(check_event(MS_SVC_HOOK_SOCK, t.id, t.addr, 80, TCP, 0, NULL, 0, 0, netns) == 0);
	c = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0);
	r = sendto(c, "q", 1, 0, &to.sa, tolen);
	e = errno;
	close(c);
	if (r >= 0 || e != ECONNREFUSED) {
		printf("#   sendto: %s, want ECONNREFUSED\n", r >= 0 ? "sent" : strerror(e));
		return -1;
	}
	CHECK(drain() == 1 && evs[0].backend_id == 0 && evs[0].svc_id == u.id);
	return 0;
}

/* A connect() to no frontend is left alone: no translation, no count, no event. */
static int sock_not_service(void)
{
	const uint32_t one[] = { 1 };
	const struct svc_def s = { "127.0.0.42", 80, TCP, 36, MS_LB_ALGO_RANDOM, 0, 0 };
	uint16_t port;
	union sa peer;
	socklen_t len = sizeof(peer);
	int l, c, a, err = -1;

	l = server("127.0.0.1", SOCK_STREAM, &port);
	CHECK(l >= 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || put_backend(1, "127.0.0.1", port, s.id, MS_LB_BACKEND_ACTIVE) ||
	    put_service(&s, one, 1) || connect_to(c, "127.0.0.1", port))
		goto out;
	if (wait_readable(l) || (a = accept(l, NULL, NULL)) < 0)
		goto out;
	close(a);
	if (getpeername(c, &peer.sa, &len) || !sa_is(&peer, "127.0.0.1", port))
		goto out;
	if (backend_conns(1) != 0 || count_entries(m_revsk, sizeof(struct ms_lb_revsk_key)) ||
	    drain() != 0)
		goto out;
	err = 0;
out:
	if (c >= 0)
		close(c);
	close(l);
	return err;
}

/* Affinity at the socket hooks: the client is the network namespace. Every connection of
 * this process goes to one of two listeners, and the entry names the namespace cookie. */
static int sock_affinity(void)
{
	const struct svc_def s = { "127.0.0.45", 80, TCP, 37, MS_LB_ALGO_RANDOM, 60, 1 };
	struct ms_lb_affinity_key k = { .svc_id = 37 };
	struct ms_lb_affinity_value v;
	uint32_t slots[32];
	uint16_t p1, p2;
	int l1, l2, i, err = -1, got1 = 0, got2 = 0;
	uint64_t netns = 0;

	l1 = server("127.0.0.1", SOCK_STREAM, &p1);
	l2 = server("127.0.0.1", SOCK_STREAM, &p2);
	for (i = 0; i < 32; i++)
		slots[i] = 1 + (i & 1);
	if (l1 < 0 || l2 < 0 || put_backend(1, "127.0.0.1", p1, s.id, MS_LB_BACKEND_ACTIVE) ||
	    put_backend(2, "127.0.0.1", p2, s.id, MS_LB_BACKEND_ACTIVE) ||
	    put_service(&s, slots, 32))
		goto out;
	for (i = 0; i < 12; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a;

		if (c < 0 || connect_to(c, s.addr, 80)) {
			if (c >= 0)
				close(c);
			goto out;
		}
		netns = sockopt64(c, SO_NETNS_COOKIE);
		close(c);
		usleep(1000);
		while ((a = accept(l1, NULL, NULL)) >= 0) {
			got1++;
			close(a);
		}
		while ((a = accept(l2, NULL, NULL)) >= 0) {
			got2++;
			close(a);
		}
	}
	memcpy(k.client, &netns, 8);
	if (got1 + got2 != 12 || (got1 && got2)) {
		printf("#   connections: %d and %d, want all on one listener\n", got1, got2);
		goto out;
	}
	if (bpf_map_lookup_elem(m_aff, &k, &v) || v.backend_id != (got1 ? 1u : 2u)) {
		printf("#   no affinity entry for the namespace\n");
		goto out;
	}
	err = 0;
out:
	if (l1 >= 0)
		close(l1);
	if (l2 >= 0)
		close(l2);
	drain();
	return err;
}

/* ---- main ------------------------------------------------------------------------------- */

static int setup_env(void)
{
	static const struct dp_sizes sizes = {
		.endpoints = T_MAX_ENDPOINTS, .ipcache = T_MAX_IPCACHE, .ct = T_MAX_CT,
		.ring_bytes = T_RING_BYTES,
	};

	if (dp_env_init(&env, "mslb", 0, T_POLICY_ENTRIES) || dp_sh("ip link set lo up"))
		return -1;
	skel = endpoint_bpf__open();
	if (!skel ||
	    bpf_map__set_max_entries(skel->maps.ms_lb_backend_stats, T_MAX_BACKENDS) ||
	    dp_env_load(&env, skel->obj, &skel->rodata->ms_max_endpoints, &sizes))
		return -1;
	m_svc = bpf_map__fd(skel->maps.ms_lb_services);
	m_be = bpf_map__fd(skel->maps.ms_lb_backends);
	m_slots = bpf_map__fd(skel->maps.ms_lb_slots);
	m_aff = bpf_map__fd(skel->maps.ms_lb_affinity);
	m_revsk = bpf_map__fd(skel->maps.ms_lb_revsk);
	m_nat = bpf_map__fd(skel->maps.ms_lb_nat);
	m_bstats = bpf_map__fd(skel->maps.ms_lb_backend_stats);
	rb = ring_buffer__new(env.events, on_event, NULL, NULL);
	if (!rb)
		return -1;
	dp_print_insns(MS_PROG_FROM_CONTAINER, env.prog[FROM]);
	dp_print_insns(MS_PROG_TO_CONTAINER, env.prog[TO]);
	dp_print_insns(MS_PROG_SOCK_CONNECT4,
		       bpf_program__fd(skel->progs.ms_sock_connect4));
	return 0;
}

struct lb_case {
	const char *name;
	int (*fn)(void);
	int sock; /* needs the socket programs attached */
};

static const struct lb_case cases[] = {
	{ "TCP/IPv4 to a frontend: DNAT to the backend, replies from the frontend", tc_tcp4, 0 },
	{ "TCP/IPv6 to a frontend: DNAT to the backend, replies from the frontend", tc_tcp6, 0 },
	{ "every packet of a connection goes to its first packet's backend", tc_same_backend, 0 },
	{ "UDP/IPv4 to a frontend and back", tc_udp4, 0 },
	{ "UDP/IPv4 without a checksum keeps none", tc_udp4_no_csum, 0 },
	{ "UDP/IPv6 to a frontend and back", tc_udp6, 0 },
	{ "no active backend: a SYN gets a RST, a datagram a port unreachable; counted as no_backend",
	  tc_no_backend, 0 },
	{ "packets to no frontend leave byte for byte unchanged", tc_not_service, 0 },
	{ "Maglev: the table slot of the tuple's hash, stable for the tuple", tc_maglev, 0 },
	{ "a lost entry finds its backend again; a SYN leaves a draining one",
	  tc_lost_entry_and_draining, 0 },
	{ "affinity: kept within the timeout, dropped when expired or not active", tc_affinity, 0 },
	{ "socket: TCP/IPv4 connect to a frontend, getpeername shows it", sock_tcp4, 1 },
	{ "socket: TCP/IPv6 connect to a frontend, getpeername shows it", sock_tcp6, 1 },
	{ "socket: UDP/IPv4 through a frontend shows it as the source", sock_udp4, 1 },
	{ "socket: UDP/IPv6 through a frontend shows it as the source", sock_udp6, 1 },
	{ "socket: no active backend refuses with ECONNREFUSED", sock_refused, 1 },
	{ "socket: connect to no frontend is left alone", sock_not_service, 1 },
	{ "socket: affinity per network namespace", sock_affinity, 1 },
};

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	int in_cg = 0, status;

	dp_tap_start("test_lb", setup_env, (int)n);
	for (i = 0; i < n; i++) {
		int bad;

		if (cases[i].sock && !in_cg) {
			if (cg_enter()) {
				cg_leave();
				printf("Bail out! cannot attach the socket programs\n");
				return 1;
			}
			in_cg = 1;
		}
		bad = base_state() || cases[i].fn();
		dp_tap_ok(bad, cases[i].name);
	}
	if (in_cg)
		cg_leave();
	status = dp_tap_done(NULL);
	ring_buffer__free(rb);
	endpoint_bpf__destroy(skel);
	close(env.template_fd);
	return status;
}
