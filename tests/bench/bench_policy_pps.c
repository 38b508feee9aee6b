// SPDX-License-Identifier: Apache-2.0
/*
 * Part 2: packets per second through a router namespace with a 10,000-entry allow-list, the
 * same list enforced by libmicroseg, by an iptables linear chain (legacy and nft back ends) and
 * by an nftables set, against no filtering at all.
 *
 *                  +-- veth -- router ns R0 (no filter)       -- veth --+
 *   client ns A ---+-- veth -- router ns R1 (libmicroseg, open)-- veth --+--- server ns B
 *   (raw sender)   +-- ...  -- router ns R5 (iptables-legacy) -- veth --+    (UDP receiver)
 *
 * Every variant forwards the same frames over the same kind of path: its router namespace
 * routes them (ip_forward=1) from ra to rb, and only the filter at that hop differs: iptables
 * FORWARD / nftables forward hook in R, or libmicroseg's TC program on rb, the host side of the
 * server endpoint, as its ingress policy. Each variant has a router namespace of its own, all
 * present at once, so the sender can switch between them: the variants are measured
 * interleaved, round after round, and a change in machine load hits all of them alike (the
 * figure is the median over rounds). Nothing of one variant (x_tables hooks, qdiscs) can slow
 * another down, and iptables/nftables never touch the host's tables.
 *
 * Path v: A a<v> 10.200.X.(32v+2) -- R ra .(32v+1) | R rb .(32v+17) -- B b<v> .(32v+18).
 * The allow-list is 10,000 source addresses (/32) allowed to UDP port PPS_PORT; the client's
 * address is the last entry, everything else is dropped.
 *
 * A sender thread in A writes 64-byte UDP datagrams as ready-made Ethernet frames to an
 * AF_PACKET socket (sendmmsg, 64 a call, qdisc bypassed), so building packets costs the same
 * in every variant; veth hands each frame on within the sender's softirq, so the sender's CPU
 * carries the whole path and its rate is the path's rate. A receiver thread in B counts
 * datagrams with recvmmsg; the figure is datagrams received per second. Two traffic shapes:
 *   1 flow   one 5-tuple (libmicroseg: connection tracking hit after the first packet)
 *   new/pkt  the source port changes with every packet over 64,512 values while the library's
 *            connection table holds 1,024 entries: every packet is a new connection to it
 *            (policy lookup + CT insert with LRU eviction). Stateless iptables/nftables do
 *            the same work for both shapes.
 * Before the rounds a short burst from an address not on the list checks that each variant
 * really filters (nothing may arrive).
 */
#include "bench_policy.h"

#include "pktbuild.h"
#include "topo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/ethernet.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PPS_PORT 5201
#define PAYLOAD 64
#define BATCH 64
#define WARMUP_MS 300
#define CHECK_MS 300
#define CT_ENTRIES 1024

enum variant { V_NONE, V_LIB_OPEN, V_LIB, V_NFT_SET, V_IPT_NFT, V_IPT_LEGACY, V_COUNT };
static const char *const variant_name[V_COUNT] = {
	"no filter (baseline)", "libmicroseg, endpoint, no rules", "libmicroseg, N rules",
	"nftables set", "iptables-nft linear chain", "iptables-legacy linear chain",
};
enum shape { S_ONE, S_NEW, S_COUNT };

#define MAX_ROUNDS 16

struct pps {
	struct pbench *b;
	const char *ns_a, *ns_b, *ns_r[V_COUNT];
	char path_a[128], path_b[128], path_r[V_COUNT][128];
	uint8_t mac_a[V_COUNT][6], mac_ra[V_COUNT][6], mac_b[V_COUNT][6];

	atomic_ullong rx;
	atomic_int rx_stop;
	pthread_t rx_thread, tx_thread;
	bool rx_started, tx_started;
	int rx_err;

	/* Sender configuration: written by the main thread, then published by bumping tx_gen. */
	atomic_int tx_stop, tx_gen;
	atomic_ullong tx;
	int tx_path; /* -1: idle */
	enum shape tx_shape;
	bool tx_bad_src;
	int tx_err;

	unsigned rounds;
	double pps[V_COUNT][S_COUNT][MAX_ROUNDS];
	int filters[V_COUNT]; /* 1: the burst from outside the list was dropped */
	bool ready[V_COUNT];

	struct microseg_ctx *ctx[V_COUNT];
	struct microseg_endpoint *ep[V_COUNT];
	double commit_ms, purge_ms, load_ms[V_COUNT];
	struct microseg_endpoint_stats stats[2]; /* V_LIB, before and after the rounds */
};

static void path_addr(struct pbench *b, int v, int host, char *buf, size_t len)
{
	snprintf(buf, len, "10.200.%d.%d", b->subnet, 32 * v + host);
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int get_mac(const char *nspath, const char *ifname, uint8_t mac[6])
{
	int err = bp_ns_enter(nspath);
	if (err)
		return err;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (fd >= 0)
		close(fd);
	int e2 = bp_ns_leave();
	return err ?: e2;
}

static void *receiver(void *arg)
{
	struct pps *p = arg;
	struct mmsghdr msgs[256];
	struct iovec iov[256];
	static char bufs[256][128];

	pin_cpu(1);
	int err = bp_ns_enter(p->path_b);
	int fd = err ? -1 : socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		p->rx_err = err ?: -errno;
		return NULL;
	}
	int big = 64 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	struct timeval tv = { .tv_usec = 50000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PPS_PORT),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		p->rx_err = -errno;
		close(fd);
		return NULL;
	}
	for (int i = 0; i < 256; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	while (!atomic_load(&p->rx_stop)) {
		int n = recvmmsg(fd, msgs, 256, 0, NULL);
		if (n > 0)
			atomic_fetch_add(&p->rx, (unsigned long long)n);
	}
	close(fd);
	return NULL;
}

/* Frames for path v: client (or the address off the list) to server, shape by caller. */
static int build_frames(struct pps *p, int v, bool bad_src, uint8_t (*frames)[128], size_t *l4)
{
	static struct pb pkt;
	char smac[24], dmac[24], src[32], dst[32];
	const uint8_t *s = p->mac_a[v], *d = p->mac_ra[v];

	snprintf(smac, sizeof(smac), "%02x:%02x:%02x:%02x:%02x:%02x", s[0], s[1], s[2], s[3], s[4], s[5]);
	snprintf(dmac, sizeof(dmac), "%02x:%02x:%02x:%02x:%02x:%02x", d[0], d[1], d[2], d[3], d[4], d[5]);
	path_addr(p->b, v, bad_src ? 3 : 2, src, sizeof(src));
	path_addr(p->b, v, 18, dst, sizeof(dst));
	pb_init(&pkt);
	pb_eth(&pkt, smac, dmac, 0);
	pb_ipv4(&pkt, src, dst);
	pb_udp(&pkt, 40000, PPS_PORT);
	pb_payload(&pkt, NULL, PAYLOAD);
	int len = pb_finish(&pkt);
	if (len <= 0 || len > 128)
		return -EINVAL;
	*l4 = pkt.l4_off;
	/* No UDP checksum (allowed for IPv4): the source port can change without recomputing. */
	pkt.data[*l4 + 6] = pkt.data[*l4 + 7] = 0;
	for (int i = 0; i < BATCH; i++)
		memcpy(frames[i], pkt.data, (size_t)len);
	return len;
}

static void *sender(void *arg)
{
	struct pps *p = arg;
	static uint8_t frames[BATCH][128];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int fds[V_COUNT];
	char ifname[16];

	pin_cpu(0);
	for (int v = 0; v < V_COUNT; v++)
		fds[v] = -1;
	int err = bp_ns_enter(p->path_a);
	for (int v = 0; v < V_COUNT && !err; v++) {
		fds[v] = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (fds[v] < 0) {
			err = -errno;
			break;
		}
		int one = 1;
		setsockopt(fds[v], SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
		snprintf(ifname, sizeof(ifname), "a%d", v);
		struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(ifname) };
		if (bind(fds[v], (struct sockaddr *)&ll, sizeof(ll)) < 0)
			err = -errno;
	}
	int gen = -1, path = -1, len = 0;
	enum shape shape = S_ONE;
	size_t l4 = 0;
	uint32_t seq = 0;
	while (!err && !atomic_load(&p->tx_stop)) {
		int g = atomic_load(&p->tx_gen);
		if (g != gen) {
			gen = g;
			path = p->tx_path;
			shape = p->tx_shape;
			if (path >= 0) {
				len = build_frames(p, path, p->tx_bad_src, frames, &l4);
				if (len < 0) {
					err = len;
					break;
				}
				for (int i = 0; i < BATCH; i++) {
					iov[i] = (struct iovec){ .iov_base = frames[i], .iov_len = (size_t)len };
					msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
				}
			}
		}
		if (path < 0) {
			topo_sleep_ms(1);
			continue;
		}
		if (shape == S_NEW)
			for (int i = 0; i < BATCH; i++, seq++) {
				uint16_t sport = htons((uint16_t)(1024 + seq % 64512));
				memcpy(&frames[i][l4], &sport, 2);
			}
		int n = sendmmsg(fds[path], msgs, BATCH, 0);
		if (n > 0)
			atomic_fetch_add(&p->tx, (unsigned long long)n);
		else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			err = -errno;
	}
	for (int v = 0; v < V_COUNT; v++)
		if (fds[v] >= 0)
			close(fds[v]);
	p->tx_err = err;
	return NULL;
}

static void tx_config(struct pps *p, int path, enum shape shape, bool bad_src)
{
	p->tx_path = path;
	p->tx_shape = shape;
	p->tx_bad_src = bad_src;
	atomic_fetch_add(&p->tx_gen, 1);
}

/* Sends over path v for warm_ms + ms; returns datagrams received per second over ms. */
static int blast(struct pps *p, int v, enum shape shape, bool bad_src, int warm_ms, int ms, double *rx_pps)
{
	tx_config(p, v, shape, bad_src);
	topo_sleep_ms(warm_ms);
	unsigned long long rx0 = atomic_load(&p->rx);
	uint64_t t0 = bp_now_ns();
	topo_sleep_ms(ms);
	unsigned long long rx1 = atomic_load(&p->rx);
	double secs = (double)(bp_now_ns() - t0) / 1e9;
	tx_config(p, -1, S_ONE, false);
	/* Let what is in flight land before the next cell starts counting. */
	topo_sleep_ms(100);
	*rx_pps = (double)(rx1 - rx0) / secs;
	if (p->tx_err)
		fprintf(stderr, "bench-policy: sender: %s\n", strerror(-p->tx_err));
	return p->tx_err;
}

static int run_in(struct pps *p, const char *ns, int timeout_ms, const char *arg0, ...)
{
	const char *argv[16];
	int n = 0;
	va_list ap;

	va_start(ap, arg0);
	for (const char *a = arg0; a && n < 15; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int r = topo_run(ns, timeout_ms, NULL, 0, argv);
	if (r != 0) {
		fprintf(stderr, "bench-policy: in %s:", ns ? ns : "host");
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, ": status %d\n", r);
		return r < 0 ? r : -EIO;
	}
	(void)p;
	return 0;
}

static void list_addr(struct pps *p, int v, unsigned i, char *buf, size_t len)
{
	/* The last entry is the client; the others are match-only values, never assigned. */
	if (i == p->b->pps_rules - 1)
		path_addr(p->b, v, 2, buf, len);
	else
		snprintf(buf, len, "10.203.%u.%u", i / 250, i % 250 + 1);
}

static int setup_path(struct pps *p, int v)
{
	struct pbench *b = p->b;
	char suffix[8], a_if[8], b_if[8], cidr[48], addr[32], mac[24];
	int err;

	snprintf(suffix, sizeof(suffix), "r%d", v);
	if (!(p->ns_r[v] = topo_netns_add(suffix)))
		return -errno;
	snprintf(p->path_r[v], sizeof(p->path_r[v]), "%s", topo_netns_path(p->ns_r[v]));
	snprintf(a_if, sizeof(a_if), "a%d", v);
	snprintf(b_if, sizeof(b_if), "b%d", v);
	/* Both pairs are made from inside R, so their R ends never exist in the host. */
	if ((err = bp_ns_enter(p->path_r[v])))
		return err;
	int e1 = bp_veth("ra", a_if, p->path_a);
	int e2 = e1 < 0 ? e1 : bp_veth("rb", b_if, p->path_b);
	if ((err = bp_ns_leave()))
		return err;
	if (e1 < 0 || e2 < 0)
		return e1 < 0 ? e1 : e2;

	struct {
		const char *ns, *dev;
		int host;
	} ifs[] = {
		{ p->ns_r[v], "ra", 1 }, { p->ns_r[v], "rb", 17 }, { p->ns_a, a_if, 2 }, { p->ns_b, b_if, 18 },
	};
	err = run_in(p, p->ns_r[v], 10000, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", NULL) ?:
	      run_in(p, p->ns_r[v], 10000, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", NULL) ?:
	      run_in(p, p->ns_r[v], 10000, "sysctl", "-qw", "net.ipv4.ip_forward=1", NULL);
	for (size_t i = 0; i < sizeof(ifs) / sizeof(ifs[0]) && !err; i++) {
		path_addr(b, v, ifs[i].host, addr, sizeof(addr));
		snprintf(cidr, sizeof(cidr), "%s/28", addr);
		err = run_in(p, ifs[i].ns, 10000, "ip", "addr", "add", cidr, "dev", ifs[i].dev, NULL) ?:
		      run_in(p, ifs[i].ns, 10000, "ip", "link", "set", ifs[i].dev, "up", NULL);
	}
	err = err ?: get_mac(p->path_a, a_if, p->mac_a[v]);
	err = err ?: get_mac(p->path_r[v], "ra", p->mac_ra[v]);
	err = err ?: get_mac(p->path_b, b_if, p->mac_b[v]);
	if (err)
		return err;
	/* No ARP on the measured path: R knows B's MAC for good. */
	const uint8_t *m = p->mac_b[v];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	path_addr(b, v, 18, addr, sizeof(addr));
	return run_in(p, p->ns_r[v], 10000, "ip", "neigh", "replace", addr, "lladdr", mac, "dev", "rb",
		      "nud", "permanent", NULL);
}

static int setup_topology(struct pps *p)
{
	int err;

	if (!(p->ns_a = topo_netns_add("a")) || !(p->ns_b = topo_netns_add("b")))
		return -errno;
	snprintf(p->path_a, sizeof(p->path_a), "%s", topo_netns_path(p->ns_a));
	snprintf(p->path_b, sizeof(p->path_b), "%s", topo_netns_path(p->ns_b));
	err = run_in(p, p->ns_a, 10000, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", NULL) ?:
	      run_in(p, p->ns_a, 10000, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", NULL) ?:
	      run_in(p, p->ns_b, 10000, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", NULL) ?:
	      run_in(p, p->ns_b, 10000, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", NULL);
	for (int v = 0; v < V_COUNT && !err; v++)
		err = setup_path(p, v);
	return err;
}

/* ---- the filters ---- */

static int iptables_file(struct pps *p, int v, const char *name, char *path, size_t pathlen)
{
	unsigned n = p->b->pps_rules;
	size_t cap = 200 + (size_t)n * 96, len = 0;
	char *buf = malloc(cap), a[32];
	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n"
						      ":OUTPUT ACCEPT [0:0]\n");
	for (unsigned i = 0; i < n; i++) {
		list_addr(p, v, i, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len,
					"-A FORWARD -s %s/32 -p udp -m udp --dport %d -j ACCEPT\n", a, PPS_PORT);
	}
	len += (size_t)snprintf(buf + len, cap - len, "COMMIT\n");
	int err = bp_write_file(p->b, name, buf, len, path, pathlen);
	free(buf);
	return err;
}

static int nft_file(struct pps *p, int v, char *path, size_t pathlen)
{
	unsigned n = p->b->pps_rules;
	size_t cap = 400 + (size_t)n * 24, len = 0;
	char *buf = malloc(cap), a[32];
	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len,
				"table ip pbench {\n\tset allow {\n\t\ttype ipv4_addr\n\t\telements = { ");
	for (unsigned i = 0; i < n; i++) {
		list_addr(p, v, i, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", a);
	}
	len += (size_t)snprintf(buf + len, cap - len,
				" }\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
				"\t\tip saddr @allow udp dport %d accept\n\t}\n}\n", PPS_PORT);
	int err = bp_write_file(p->b, "nft.rules", buf, len, path, pathlen);
	free(buf);
	return err;
}

/* A library instance in R_v with the server endpoint on rb (its ingress policy filters). */
static int lib_open(struct pps *p, int v, const char *suffix)
{
	struct pbench *b = p->b;
	struct microseg_identity *id = NULL;
	char addr[32];
	int err = bp_ns_enter(p->path_r[v]);
	if (err)
		return err;
	err = bp_ctx_open(b, suffix, 0, 0, 0, CT_ENTRIES, &p->ctx[v]);
	err = err ?: bp_identity(p->ctx[v], &id, "k8s:role=p2server", NULL);
	if (!err) {
		path_addr(b, v, 18, addr, sizeof(addr));
		const char *addrs[] = { addr };
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "rb", .addrs = addrs, .n_addrs = 1,
			      .identity = id);
		err = microseg_endpoint_add(p->ctx[v], &eo, &p->ep[v]);
		if (err)
			fprintf(stderr, "bench-policy: endpoint rb: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(p->ctx[v]));
	}
	if (id)
		microseg_identity_put(p->ctx[v], id);
	int e2 = bp_ns_leave();
	return err ?: e2;
}

static int lib_rules(struct pps *p, int v)
{
	struct pbench *b = p->b;
	struct microseg_ctx *ctx = p->ctx[v];
	char a[48];
	uint16_t port = PPS_PORT;
	int err = bp_ns_enter(p->path_r[v]);
	if (err)
		return err;
	uint64_t t = bp_now_ns();
	err = microseg_policy_begin(ctx);
	for (unsigned i = 0; i < b->pps_rules && !err; i++) {
		char addr[32];
		struct microseg_rule *r;
		list_addr(p, v, i, addr, sizeof(addr));
		snprintf(a, sizeof(a), "%s/32", addr);
		struct microseg_peer peer = { .kind = MICROSEG_PEER_CIDR, .cidr = a };
		err = bp_rule_ingress(ctx, "k8s:role=p2server", &peer, 1, MICROSEG_PROTO_UDP, &port, 1, &r);
	}
	if (!err) {
		err = microseg_policy_commit(ctx);
		if (err)
			fprintf(stderr, "bench-policy: commit: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(ctx));
	} else {
		microseg_policy_abort(ctx);
	}
	p->commit_ms = bp_ms(bp_now_ns() - t);
	int e2 = bp_ns_leave();
	return err ?: e2;
}

static void lib_close(struct pps *p, int v, const char *suffix)
{
	if (!p->ctx[v])
		return;
	if (bp_ns_enter(p->path_r[v]) == 0) {
		uint64_t t = bp_now_ns();
		microseg_ctx_purge(p->ctx[v]);
		if (v == V_LIB)
			p->purge_ms = bp_ms(bp_now_ns() - t);
		microseg_ctx_close(p->ctx[v]);
		bp_ns_leave();
	} else {
		microseg_ctx_close(p->ctx[v]);
	}
	p->ctx[v] = NULL;
	bp_instance_rm(p->b, suffix);
}

static void lib_stats(struct pps *p, int i)
{
	p->stats[i].sz = sizeof(p->stats[i]);
	if (p->ctx[V_LIB] && p->ep[V_LIB])
		microseg_endpoint_get_stats(p->ctx[V_LIB], p->ep[V_LIB], &p->stats[i]);
}

static int load_filters(struct pps *p)
{
	struct pbench *b = p->b;
	char path[256];
	uint64_t t;
	int err;

	err = lib_open(p, V_LIB_OPEN, "p0");
	t = bp_now_ns();
	err = err ?: lib_open(p, V_LIB, "p1");
	err = err ?: lib_rules(p, V_LIB);
	p->load_ms[V_LIB] = bp_ms(bp_now_ns() - t);
	bp_log(b, 1, "libmicroseg: %u rules committed in %.0f ms", b->pps_rules, p->commit_ms);

	if (!err) {
		t = bp_now_ns();
		err = nft_file(p, V_NFT_SET, path, sizeof(path)) ?:
		      run_in(p, p->ns_r[V_NFT_SET], 60000, "nft", "-f", path, NULL);
		p->load_ms[V_NFT_SET] = bp_ms(bp_now_ns() - t);
	}
	if (!err) {
		t = bp_now_ns();
		err = iptables_file(p, V_IPT_NFT, "ipt-nft.rules", path, sizeof(path)) ?:
		      run_in(p, p->ns_r[V_IPT_NFT], 120000, "iptables-nft-restore", path, NULL);
		p->load_ms[V_IPT_NFT] = bp_ms(bp_now_ns() - t);
	}
	if (!err) {
		t = bp_now_ns();
		err = iptables_file(p, V_IPT_LEGACY, "ipt-legacy.rules", path, sizeof(path)) ?:
		      run_in(p, p->ns_r[V_IPT_LEGACY], 120000, "iptables-legacy-restore", path, NULL);
		p->load_ms[V_IPT_LEGACY] = bp_ms(bp_now_ns() - t);
	}
	return err;
}

static double med_of(struct pps *p, int v, int s)
{
	double tmp[MAX_ROUNDS];

	memcpy(tmp, p->pps[v][s], p->rounds * sizeof(double));
	return bp_median_dbl(tmp, p->rounds);
}

static void print_results(struct pps *p)
{
	struct pbench *b = p->b;
	double m[V_COUNT][S_COUNT];

	for (int v = 0; v < V_COUNT; v++)
		for (int s = 0; s < S_COUNT; s++)
			m[v][s] = med_of(p, v, s);
	printf("forwarded datagrams/s (%d-byte UDP payload); median of %u interleaved rounds of %.1f s per\n"
	       "cell; allow-list of %u source addresses, the traffic matching the last one\n\n",
	       PAYLOAD, p->rounds, b->pps_seconds, b->pps_rules);
	printf("%-32s %-7s | %11s %8s %8s | %11s %8s %8s | %9s\n", "variant", "filters", "1 flow pps",
	       "vs none", "vs ipt", "new/pkt pps", "vs none", "vs ipt", "load ms");
	for (int v = 0; v < V_COUNT; v++) {
		char name[64];
		snprintf(name, sizeof(name), "%s", variant_name[v]);
		if (v == V_LIB)
			snprintf(name, sizeof(name), "libmicroseg, %u rules", b->pps_rules);
		printf("%-32s %-7s", name, v == V_NONE || v == V_LIB_OPEN ? (p->filters[v] ? "DROPS?" : "no")
									     : (p->filters[v] ? "yes" : "NO!"));
		for (int s = 0; s < S_COUNT; s++) {
			double base = m[V_NONE][s], ipt = m[V_IPT_LEGACY][s];
			printf(" | %11.0f %7.2fx %7.1fx", m[v][s], base > 0 ? m[v][s] / base : 0,
			       ipt > 0 ? m[v][s] / ipt : 0);
		}
		if (v >= V_LIB)
			printf(" | %9.0f", p->load_ms[v]);
		printf("\n");
	}
	if (b->verbose)
		for (int v = 0; v < V_COUNT; v++)
			for (int s = 0; s < S_COUNT; s++) {
				printf("  rounds %-30s %-8s:", variant_name[v], s ? "new/pkt" : "1 flow");
				for (unsigned r = 0; r < p->rounds; r++)
					printf(" %.0f", p->pps[v][s][r]);
				printf("\n");
			}
	printf("\n(filters: a burst from an address not on the list was entirely dropped. vs ipt: ratio to\n"
	       " the iptables-legacy linear chain. load ms: time to install the rule set)\n");
	printf("target: libmicroseg at %u rules >= 10x the iptables linear chain: 1 flow %.1fx, new/pkt %.1fx\n",
	       b->pps_rules, m[V_LIB][S_ONE] / m[V_IPT_LEGACY][S_ONE], m[V_LIB][S_NEW] / m[V_IPT_LEGACY][S_NEW]);
	const struct microseg_endpoint_stats *s0 = &p->stats[0], *s1 = &p->stats[1];
	printf("libmicroseg: %u rules committed in %.0f ms, purge %.0f ms; its server endpoint during the\n"
	       "rounds: %llu delivered, %llu dropped (policy %llu, CT full %llu)\n",
	       b->pps_rules, p->commit_ms, p->purge_ms,
	       (unsigned long long)(s1->ingress_packets - s0->ingress_packets),
	       (unsigned long long)(s1->ingress_dropped - s0->ingress_dropped),
	       (unsigned long long)(s1->ingress_drops_by_reason[MICROSEG_DROP_POLICY] -
				    s0->ingress_drops_by_reason[MICROSEG_DROP_POLICY]),
	       (unsigned long long)(s1->ingress_drops_by_reason[MICROSEG_DROP_CT_FULL] -
				    s0->ingress_drops_by_reason[MICROSEG_DROP_CT_FULL]));
	fflush(stdout);
}

int bp_run_pps(struct pbench *b)
{
	struct pps *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->b = b;
	p->rounds = b->rounds > MAX_ROUNDS ? MAX_ROUNDS : b->rounds;
	p->tx_path = -1;
	printf("\n== part 2: forwarding rate with a %u-entry allow-list ==\n", b->pps_rules);
	fflush(stdout);
	uint64_t t = bp_now_ns();
	err = setup_topology(p);
	bp_log(b, 1, "topology up in %.0f ms", bp_ms(bp_now_ns() - t));
	err = err ?: load_filters(p);
	if (err)
		goto out;
	if (pthread_create(&p->rx_thread, NULL, receiver, p)) {
		err = -EAGAIN;
		goto out;
	}
	p->rx_started = true;
	if (pthread_create(&p->tx_thread, NULL, sender, p)) {
		err = -EAGAIN;
		goto out;
	}
	p->tx_started = true;
	topo_sleep_ms(100);
	if ((err = p->rx_err ?: p->tx_err))
		goto out;

	/* A burst from outside the list, per variant: a filter must drop all of it. */
	for (int v = 0; v < V_COUNT && !err; v++) {
		double rx;
		unsigned long long before = atomic_load(&p->rx);
		err = blast(p, v, S_ONE, true, 0, CHECK_MS, &rx);
		p->filters[v] = atomic_load(&p->rx) == before;
	}
	lib_stats(p, 0);
	for (unsigned r = 0; r < p->rounds && !err; r++) {
		for (int v = 0; v < V_COUNT && !err; v++)
			for (int s = 0; s < S_COUNT && !err; s++)
				err = blast(p, v, (enum shape)s, false, WARMUP_MS, (int)(b->pps_seconds * 1000),
					    &p->pps[v][s][r]);
		bp_log(b, 1, "round %u done", r + 1);
	}
	lib_stats(p, 1);
	if (!err) {
		lib_close(p, V_LIB, "p1"); /* timed purge */
		print_results(p);
	}
out:
	if (p->tx_started) {
		atomic_store(&p->tx_stop, 1);
		pthread_join(p->tx_thread, NULL);
	}
	if (p->rx_started) {
		atomic_store(&p->rx_stop, 1);
		pthread_join(p->rx_thread, NULL);
	}
	lib_close(p, V_LIB_OPEN, "p0");
	lib_close(p, V_LIB, "p1");
	/* Everything else (iptables, nft, sysctls, links) lives and dies with the namespaces. */
	const char *nss[V_COUNT + 2] = { p->ns_a, p->ns_b };
	for (int v = 0; v < V_COUNT; v++)
		nss[v + 2] = p->ns_r[v];
	for (int i = 0; i < V_COUNT + 2; i++)
		if (nss[i]) {
			const char *argv[] = { "ip", "netns", "del", nss[i], NULL };
			topo_run(NULL, 30000, NULL, 0, argv);
		}
	free(p);
	return err;
}
