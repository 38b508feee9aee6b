// SPDX-License-Identifier: Apache-2.0
/*
 * Part 2: packets per second through a router namespace with a 10,000-entry allow-list, the
 * same list enforced by libmicroseg, by an iptables linear chain (legacy and nft back ends) and
 * by an nftables set, against no filtering at all.
 *
 *   client ns A --veth-- router ns R --veth-- server ns B
 *   10.200.X.18    .17 [ra]        [rb] .33     10.200.X.34
 *
 * Every variant forwards the same frames over the same path: R routes them (ip_forward=1) from
 * ra to rb, and only the filter at that hop changes: iptables FORWARD / nftables forward hook
 * in R, or libmicroseg's TC program on rb, the host side of the server endpoint, as its
 * ingress policy. The allow-list is 10,000 source addresses (/32) allowed to UDP port
 * PPS_PORT; the client's own address is the last entry, everything else is dropped. iptables
 * and nftables run inside R, so the host's tables are never touched.
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
 * Before each measurement a short burst from an address not on the list checks that the
 * variant really filters (nothing may arrive).
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
#define WARMUP_MS 500
#define CHECK_MS 300
#define CT_ENTRIES 1024

enum variant { V_NONE, V_LIB_OPEN, V_LIB, V_NFT_SET, V_IPT_NFT, V_IPT_LEGACY, V_COUNT };
static const char *const variant_name[V_COUNT] = {
	"no filter (baseline)", "libmicroseg, endpoint, no rules", "libmicroseg, N rules",
	"nftables set", "iptables-nft linear chain", "iptables-legacy linear chain",
};
enum shape { S_ONE, S_NEW, S_COUNT };

struct pps {
	struct pbench *b;
	const char *ns_a, *ns_r, *ns_b;
	char path_a[128], path_r[128], path_b[128];
	char addr_a[32], addr_ra[32], addr_rb[32], addr_b[32], addr_bad[32];
	uint8_t mac_a[6], mac_ra[6], mac_b[6];

	atomic_ullong rx;
	atomic_int rx_stop;
	pthread_t rx_thread;
	bool rx_started;
	int rx_err;

	/* sender */
	atomic_int tx_stop;
	atomic_ullong tx;
	enum shape shape;
	const char *src;
	int tx_err;

	double pps[V_COUNT][S_COUNT];
	double tx_pps[V_COUNT][S_COUNT];
	int filters[V_COUNT]; /* 1: the burst from outside the list was dropped, 0: it passed, -1: not run */
	bool ran[V_COUNT];

	struct microseg_ctx *ctx;
	struct microseg_endpoint *ep;
	struct microseg_identity *id;
	double commit_ms, purge_ms;
	struct microseg_endpoint_stats stats[2]; /* library variants */
};

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
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PPS_PORT) };
	inet_pton(AF_INET, p->addr_b, &sa.sin_addr);
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

static void *sender(void *arg)
{
	struct pps *p = arg;
	static struct pb pkt;
	static uint8_t frames[BATCH][128];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	char smac[24], dmac[24];

	pin_cpu(0);
	int err = bp_ns_enter(p->path_a);
	int fd = err ? -1 : socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		p->tx_err = err ?: -errno;
		return NULL;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex("eth0") };
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		p->tx_err = -errno;
		close(fd);
		return NULL;
	}
	snprintf(smac, sizeof(smac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac_a[0], p->mac_a[1], p->mac_a[2],
		 p->mac_a[3], p->mac_a[4], p->mac_a[5]);
	snprintf(dmac, sizeof(dmac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac_ra[0], p->mac_ra[1],
		 p->mac_ra[2], p->mac_ra[3], p->mac_ra[4], p->mac_ra[5]);
	pb_init(&pkt);
	pb_eth(&pkt, smac, dmac, 0);
	pb_ipv4(&pkt, p->src, p->addr_b);
	pb_udp(&pkt, 40000, PPS_PORT);
	pb_payload(&pkt, NULL, PAYLOAD);
	int len = pb_finish(&pkt);
	if (len <= 0 || len > (int)sizeof(frames[0])) {
		p->tx_err = -EINVAL;
		close(fd);
		return NULL;
	}
	size_t l4 = pkt.l4_off;
	/* No UDP checksum (allowed for IPv4): the source port can change without recomputing. */
	pkt.data[l4 + 6] = pkt.data[l4 + 7] = 0;
	for (int i = 0; i < BATCH; i++) {
		memcpy(frames[i], pkt.data, (size_t)len);
		iov[i] = (struct iovec){ .iov_base = frames[i], .iov_len = (size_t)len };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	uint32_t seq = 0;
	while (!atomic_load(&p->tx_stop)) {
		if (p->shape == S_NEW)
			for (int i = 0; i < BATCH; i++, seq++) {
				uint16_t sport = htons((uint16_t)(1024 + seq % 64512));
				memcpy(&frames[i][l4], &sport, 2);
			}
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			atomic_fetch_add(&p->tx, (unsigned long long)n);
		else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			p->tx_err = -errno;
			break;
		}
	}
	close(fd);
	return NULL;
}

/* Sends for warm-up + ms; returns datagrams received (and sent) per second over ms. */
static int blast(struct pps *p, enum shape shape, const char *src, int warm_ms, int ms, double *rx_pps,
		 double *tx_pps)
{
	pthread_t t;

	p->shape = shape;
	p->src = src;
	p->tx_err = 0;
	atomic_store(&p->tx_stop, 0);
	if (pthread_create(&t, NULL, sender, p))
		return -EAGAIN;
	topo_sleep_ms(warm_ms);
	unsigned long long rx0 = atomic_load(&p->rx), tx0 = atomic_load(&p->tx);
	uint64_t t0 = bp_now_ns();
	topo_sleep_ms(ms);
	unsigned long long rx1 = atomic_load(&p->rx), tx1 = atomic_load(&p->tx);
	double secs = (double)(bp_now_ns() - t0) / 1e9;
	atomic_store(&p->tx_stop, 1);
	pthread_join(t, NULL);
	/* Let what is in flight land before the next measurement starts counting. */
	topo_sleep_ms(100);
	*rx_pps = (double)(rx1 - rx0) / secs;
	*tx_pps = (double)(tx1 - tx0) / secs;
	if (p->tx_err)
		fprintf(stderr, "bench-policy: sender: %s\n", strerror(-p->tx_err));
	return p->tx_err;
}

static int measure_variant(struct pps *p, enum variant v)
{
	struct pbench *b = p->b;
	double rx, tx;
	int err;

	/* A burst from outside the allow-list: a filtering variant must drop all of it. */
	unsigned long long before = atomic_load(&p->rx);
	err = blast(p, S_ONE, p->addr_bad, 0, CHECK_MS, &rx, &tx);
	if (err)
		return err;
	p->filters[v] = atomic_load(&p->rx) == before;
	for (int s = 0; s < S_COUNT && !err; s++) {
		err = blast(p, (enum shape)s, p->addr_a, WARMUP_MS, (int)(b->pps_seconds * 1000), &p->pps[v][s],
			    &p->tx_pps[v][s]);
		bp_log(b, 1, "%s, %s: %.0f pps received, %.0f sent", variant_name[v], s ? "new/pkt" : "1 flow",
		       p->pps[v][s], p->tx_pps[v][s]);
	}
	p->ran[v] = !err;
	return err;
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

static void list_addr(struct pps *p, unsigned i, char *buf, size_t len)
{
	/* The last entry is the client; the others are match-only values, never assigned. */
	if (i == p->b->pps_rules - 1)
		snprintf(buf, len, "%s", p->addr_a);
	else
		snprintf(buf, len, "10.203.%u.%u", i / 250, i % 250 + 1);
}

static int setup_topology(struct pps *p)
{
	struct pbench *b = p->b;
	int x = b->subnet, err;

	if (!(p->ns_a = topo_netns_add("a")) || !(p->ns_r = topo_netns_add("r")) ||
	    !(p->ns_b = topo_netns_add("b")))
		return -errno;
	snprintf(p->path_a, sizeof(p->path_a), "%s", topo_netns_path(p->ns_a));
	snprintf(p->path_r, sizeof(p->path_r), "%s", topo_netns_path(p->ns_r));
	snprintf(p->path_b, sizeof(p->path_b), "%s", topo_netns_path(p->ns_b));
	snprintf(p->addr_ra, sizeof(p->addr_ra), "10.200.%d.17", x);
	snprintf(p->addr_a, sizeof(p->addr_a), "10.200.%d.18", x);
	snprintf(p->addr_bad, sizeof(p->addr_bad), "10.200.%d.19", x);
	snprintf(p->addr_rb, sizeof(p->addr_rb), "10.200.%d.33", x);
	snprintf(p->addr_b, sizeof(p->addr_b), "10.200.%d.34", x);

	/* Both pairs are made from inside R, so their R ends never exist in the host. */
	if ((err = bp_ns_enter(p->path_r)))
		return err;
	int e1 = bp_veth("ra", "eth0", p->path_a);
	int e2 = e1 < 0 ? e1 : bp_veth("rb", "eth0", p->path_b);
	if ((err = bp_ns_leave()))
		return err;
	if (e1 < 0 || e2 < 0)
		return e1 < 0 ? e1 : e2;

	char cidr[48], gw[32];
	struct {
		const char *ns, *dev, *addr, *gw;
	} ifs[] = {
		{ p->ns_r, "ra", p->addr_ra, NULL },
		{ p->ns_r, "rb", p->addr_rb, NULL },
		{ p->ns_a, "eth0", p->addr_a, p->addr_ra },
		{ p->ns_b, "eth0", p->addr_b, p->addr_rb },
	};
	const char *nss[] = { p->ns_a, p->ns_r, p->ns_b };
	for (int i = 0; i < 3 && !err; i++)
		err = run_in(p, nss[i], 10000, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", NULL) ?:
		      run_in(p, nss[i], 10000, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", NULL);
	for (size_t i = 0; i < sizeof(ifs) / sizeof(ifs[0]) && !err; i++) {
		snprintf(cidr, sizeof(cidr), "%s/28", ifs[i].addr);
		err = run_in(p, ifs[i].ns, 10000, "ip", "addr", "add", cidr, "dev", ifs[i].dev, NULL) ?:
		      run_in(p, ifs[i].ns, 10000, "ip", "link", "set", ifs[i].dev, "up", NULL);
		if (!err && ifs[i].gw) {
			snprintf(gw, sizeof(gw), "%s", ifs[i].gw);
			err = run_in(p, ifs[i].ns, 10000, "ip", "route", "add", "default", "via", gw, NULL);
		}
	}
	err = err ?: run_in(p, p->ns_r, 10000, "sysctl", "-qw", "net.ipv4.ip_forward=1", NULL);
	err = err ?: get_mac(p->path_a, "eth0", p->mac_a);
	err = err ?: get_mac(p->path_r, "ra", p->mac_ra);
	err = err ?: get_mac(p->path_b, "eth0", p->mac_b);
	if (err)
		return err;
	/* No ARP on the measured path: R knows B's MAC for good. */
	char mac[24];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac_b[0], p->mac_b[1], p->mac_b[2],
		 p->mac_b[3], p->mac_b[4], p->mac_b[5]);
	return run_in(p, p->ns_r, 10000, "ip", "neigh", "replace", p->addr_b, "lladdr", mac, "dev", "rb",
		      "nud", "permanent", NULL);
}

/* ---- the filters ---- */

static int iptables_file(struct pps *p, char *path, size_t pathlen)
{
	unsigned n = p->b->pps_rules;
	size_t cap = 200 + (size_t)n * 96, len = 0;
	char *buf = malloc(cap), a[32];
	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n"
						      ":OUTPUT ACCEPT [0:0]\n");
	for (unsigned i = 0; i < n; i++) {
		list_addr(p, i, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len,
					"-A FORWARD -s %s/32 -p udp -m udp --dport %d -j ACCEPT\n", a, PPS_PORT);
	}
	len += (size_t)snprintf(buf + len, cap - len, "COMMIT\n");
	int err = bp_write_file(p->b, "iptables.rules", buf, len, path, pathlen);
	free(buf);
	return err;
}

static int nft_file(struct pps *p, char *path, size_t pathlen)
{
	unsigned n = p->b->pps_rules;
	size_t cap = 400 + (size_t)n * 24, len = 0;
	char *buf = malloc(cap), a[32];
	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len,
				"table ip pbench {\n\tset allow {\n\t\ttype ipv4_addr\n\t\telements = { ");
	for (unsigned i = 0; i < n; i++) {
		list_addr(p, i, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", a);
	}
	len += (size_t)snprintf(buf + len, cap - len,
				" }\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
				"\t\tip saddr @allow udp dport %d accept\n\t}\n}\n", PPS_PORT);
	int err = bp_write_file(p->b, "nft.rules", buf, len, path, pathlen);
	free(buf);
	return err;
}

static int lib_open(struct pps *p)
{
	struct pbench *b = p->b;
	int err = bp_ns_enter(p->path_r);
	if (err)
		return err;
	err = bp_ctx_open(b, "p", 0, 0, 0, CT_ENTRIES, &p->ctx);
	err = err ?: bp_identity(p->ctx, &p->id, "k8s:role=p2server", NULL);
	if (!err) {
		const char *addrs[] = { p->addr_b };
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "rb", .addrs = addrs, .n_addrs = 1,
			      .identity = p->id);
		err = microseg_endpoint_add(p->ctx, &eo, &p->ep);
		if (err)
			fprintf(stderr, "bench-policy: endpoint rb: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(p->ctx));
	}
	int e2 = bp_ns_leave();
	return err ?: e2;
}

static int lib_rules(struct pps *p)
{
	struct pbench *b = p->b;
	char a[48];
	uint16_t port = PPS_PORT;
	int err = bp_ns_enter(p->path_r);
	if (err)
		return err;
	uint64_t t = bp_now_ns();
	err = microseg_policy_begin(p->ctx);
	for (unsigned i = 0; i < b->pps_rules && !err; i++) {
		char addr[32];
		struct microseg_rule *r;
		list_addr(p, i, addr, sizeof(addr));
		snprintf(a, sizeof(a), "%s/32", addr);
		struct microseg_peer peer = { .kind = MICROSEG_PEER_CIDR, .cidr = a };
		err = bp_rule_ingress(p->ctx, "k8s:role=p2server", &peer, 1, MICROSEG_PROTO_UDP, &port, 1, &r);
	}
	if (!err) {
		err = microseg_policy_commit(p->ctx);
		if (err)
			fprintf(stderr, "bench-policy: commit: %s (%s)\n", microseg_strerror(err),
				microseg_ctx_last_error(p->ctx));
	} else {
		microseg_policy_abort(p->ctx);
	}
	p->commit_ms = bp_ms(bp_now_ns() - t);
	int e2 = bp_ns_leave();
	return err ?: e2;
}

static void lib_close(struct pps *p)
{
	if (!p->ctx)
		return;
	if (bp_ns_enter(p->path_r) == 0) {
		if (p->id)
			microseg_identity_put(p->ctx, p->id);
		uint64_t t = bp_now_ns();
		microseg_ctx_purge(p->ctx);
		p->purge_ms = bp_ms(bp_now_ns() - t);
		microseg_ctx_close(p->ctx);
		bp_ns_leave();
	} else {
		microseg_ctx_close(p->ctx);
	}
	p->ctx = NULL;
	bp_instance_rm(p->b, "p");
}

static void lib_stats(struct pps *p, int i)
{
	p->stats[i].sz = sizeof(p->stats[i]);
	if (p->ctx && p->ep)
		microseg_endpoint_get_stats(p->ctx, p->ep, &p->stats[i]);
}

static void print_results(struct pps *p)
{
	struct pbench *b = p->b;

	printf("forwarded datagrams/s (%d-byte UDP payload), %.0f s per cell after %d ms warm-up;\n"
	       "allow-list of %u source addresses, the traffic matching the last one\n\n",
	       PAYLOAD, b->pps_seconds, WARMUP_MS, b->pps_rules);
	printf("%-32s %-8s | %11s %9s %9s | %11s %9s %9s\n", "variant", "filters", "1 flow pps", "vs none",
	       "vs ipt", "new/pkt pps", "vs none", "vs ipt");
	for (int v = 0; v < V_COUNT; v++) {
		char name[64];
		snprintf(name, sizeof(name), "%s", variant_name[v]);
		if (v == V_LIB)
			snprintf(name, sizeof(name), "libmicroseg, %u rules", b->pps_rules);
		if (!p->ran[v]) {
			printf("%-32s %-8s | %11s\n", name, "-", "not run");
			continue;
		}
		printf("%-32s %-8s", name, v == V_NONE || v == V_LIB_OPEN ? (p->filters[v] ? "DROPS?" : "no")
									      : (p->filters[v] ? "yes" : "NO!"));
		for (int s = 0; s < S_COUNT; s++) {
			double base = p->pps[V_NONE][s], ipt = p->pps[V_IPT_LEGACY][s];
			printf(" | %11.0f %8.2fx ", p->pps[v][s], base > 0 ? p->pps[v][s] / base : 0);
			if (p->ran[V_IPT_LEGACY] && ipt > 0)
				printf("%8.1fx", p->pps[v][s] / ipt);
			else
				printf("%9s", "-");
		}
		printf("\n");
	}
	printf("\n(filters: a burst from %s, not on the list, was entirely dropped. vs ipt: ratio\n"
	       " to the iptables-legacy linear chain)\n", p->addr_bad);
	if (p->ran[V_LIB] && p->ran[V_IPT_LEGACY])
		printf("target: libmicroseg at %u rules >= 10x the iptables linear chain: 1 flow %.1fx, new/pkt %.1fx\n",
		       b->pps_rules, p->pps[V_LIB][S_ONE] / p->pps[V_IPT_LEGACY][S_ONE],
		       p->pps[V_LIB][S_NEW] / p->pps[V_IPT_LEGACY][S_NEW]);
	if (p->ran[V_LIB]) {
		const struct microseg_endpoint_stats *s0 = &p->stats[0], *s1 = &p->stats[1];
		printf("libmicroseg: %u rules committed in %.0f ms, purge %.0f ms; server endpoint during its\n"
		       "measurements: %llu delivered, %llu dropped (policy %llu, CT full %llu)\n",
		       b->pps_rules, p->commit_ms, p->purge_ms,
		       (unsigned long long)(s1->ingress_packets - s0->ingress_packets),
		       (unsigned long long)(s1->ingress_dropped - s0->ingress_dropped),
		       (unsigned long long)(s1->ingress_drops_by_reason[MICROSEG_DROP_POLICY] -
					    s0->ingress_drops_by_reason[MICROSEG_DROP_POLICY]),
		       (unsigned long long)(s1->ingress_drops_by_reason[MICROSEG_DROP_CT_FULL] -
					    s0->ingress_drops_by_reason[MICROSEG_DROP_CT_FULL]));
	}
	fflush(stdout);
}

int bp_run_pps(struct pbench *b)
{
	struct pps *p = calloc(1, sizeof(*p));
	char path[256];
	int err;

	if (!p)
		return -ENOMEM;
	p->b = b;
	printf("\n== part 2: forwarding rate with a %u-entry allow-list ==\n", b->pps_rules);
	fflush(stdout);
	uint64_t t = bp_now_ns();
	err = setup_topology(p);
	if (err)
		goto out;
	if (pthread_create(&p->rx_thread, NULL, receiver, p)) {
		err = -EAGAIN;
		goto out;
	}
	p->rx_started = true;
	topo_sleep_ms(100);
	if (p->rx_err) {
		err = p->rx_err;
		goto out;
	}
	bp_log(b, 1, "topology up in %.0f ms", bp_ms(bp_now_ns() - t));

	/* Order: the variants that leave nothing behind first; iptables-legacy last, because
	 * x_tables keep their hooks registered in a namespace once used. */
	err = measure_variant(p, V_NONE);

	err = err ?: lib_open(p);
	err = err ?: measure_variant(p, V_LIB_OPEN);
	err = err ?: lib_rules(p);
	bp_log(b, 1, "libmicroseg: %u rules committed in %.0f ms", b->pps_rules, p->commit_ms);
	if (!err)
		lib_stats(p, 0);
	err = err ?: measure_variant(p, V_LIB);
	if (!err)
		lib_stats(p, 1);
	lib_close(p);

	if (!err) {
		t = bp_now_ns();
		err = nft_file(p, path, sizeof(path)) ?: run_in(p, p->ns_r, 60000, "nft", "-f", path, NULL);
		bp_log(b, 1, "nft set loaded in %.0f ms", bp_ms(bp_now_ns() - t));
	}
	err = err ?: measure_variant(p, V_NFT_SET);
	if (!err)
		err = run_in(p, p->ns_r, 30000, "nft", "flush", "ruleset", NULL);

	if (!err) {
		t = bp_now_ns();
		err = iptables_file(p, path, sizeof(path)) ?:
		      run_in(p, p->ns_r, 120000, "iptables-nft-restore", path, NULL);
		bp_log(b, 1, "iptables-nft rules loaded in %.0f ms", bp_ms(bp_now_ns() - t));
	}
	err = err ?: measure_variant(p, V_IPT_NFT);
	if (!err)
		err = run_in(p, p->ns_r, 30000, "nft", "flush", "ruleset", NULL);

	if (!err) {
		t = bp_now_ns();
		err = run_in(p, p->ns_r, 120000, "iptables-legacy-restore", path, NULL);
		bp_log(b, 1, "iptables-legacy rules loaded in %.0f ms", bp_ms(bp_now_ns() - t));
	}
	err = err ?: measure_variant(p, V_IPT_LEGACY);

	if (!err)
		print_results(p);
out:
	if (p->rx_started) {
		atomic_store(&p->rx_stop, 1);
		pthread_join(p->rx_thread, NULL);
	}
	lib_close(p);
	/* Everything else (iptables, nft, sysctls, links) lives and dies with the namespaces. */
	const char *nss[] = { p->ns_a, p->ns_r, p->ns_b };
	for (int i = 0; i < 3; i++)
		if (nss[i]) {
			const char *argv[] = { "ip", "netns", "del", nss[i], NULL };
			topo_run(NULL, 30000, NULL, 0, argv);
		}
	free(p);
	return err;
}
