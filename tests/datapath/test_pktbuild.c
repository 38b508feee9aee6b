/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet builder (tests/lib/pktbuild) gets its checksums right: one published vector, and
 * the kernel as referee. Frames are sent through a veth pair in a private namespace to an
 * address of the peer; the kernel verifies every checksum on receive (a frame from an
 * AF_PACKET socket carries no checksum offload), so a UDP datagram that arrives, a RST sent
 * back for a SYN or an echo request counted means the frame was right. Frames broken on
 * purpose show that the kernel does check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pktbuild.h"
#include "dp_util.h"

#define PEER4 "10.200.0.2"
#define PEER6 "fd00:200::2"
#define SRC4 "10.200.0.9" /* not local: the kernel drops packets from its own addresses */
#define SRC6 "fd00:200::9"
#define UDP_PORT 9999
#define CLOSED_PORT 9

static struct {
	int tx;        /* AF_PACKET on the sending end */
	int udp4, udp6;
	char peer_mac[18];
} env;

static int failed, tests;

static void report(int ok, const char *name)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tests, name);
	failed += !ok;
}

/* ---- without the kernel -------------------------------------------------------------- */

static int ipv4_vector(void)
{
	/* The IPv4 header of the worked example in the Wikipedia article "Internet checksum". */
	static const uint8_t want[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40,
					  0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
					  0x00, 0xc7 };
	static struct pb p;

	pb_init(&p);
	pb_eth(&p, NULL, NULL, 0);
	pb_ipv4(&p, "192.168.0.1", "192.168.0.199");
	pb_udp(&p, 1, 2);
	pb_payload(&p, NULL, 0x73 - 28);
	if (pb_finish(&p) < 0)
		return -1;
	p.data[p.l3_off + 4] = 0; /* identification 0, as in the example */
	p.data[p.l3_off + 5] = 0;
	if (pb_fix_checksums(&p) < 0)
		return -1;
	return memcmp(p.data + p.l3_off, want, sizeof(want)) == 0 ? 0 : -1;
}

static int misuse_is_reported(void)
{
	static struct pb p;

	pb_init(&p);
	pb_eth(&p, NULL, NULL, 0);
	pb_tcp(&p, 1, 2, 0); /* no L3 yet */
	if (pb_finish(&p) != -EINVAL)
		return -1;
	pb_init(&p);
	pb_eth(&p, NULL, NULL, 0);
	pb_ipv4(&p, "10.0.0.300", "10.0.0.1");
	if (pb_finish(&p) != -EINVAL)
		return -1;
	pb_init(&p);
	pb_eth(&p, NULL, NULL, 0);
	pb_ipv4(&p, "10.0.0.1", "10.0.0.2");
	pb_payload(&p, NULL, PB_MAX_LEN);
	if (pb_finish(&p) != -E2BIG)
		return -1;
	pb_init(&p);
	pb_eth(&p, "02:00:00:00:00:zz", NULL, 0);
	return pb_finish(&p) == -EINVAL ? 0 : -1;
}

/* ---- the kernel as referee ------------------------------------------------------------ */

/* A counter from /proc/net/snmp or /proc/net/netstat ("Udp", "InCsumErrors"): a header line
 * of names, then a line of values, both prefixed with the group. */
static long long snmp(const char *file, const char *group, const char *name)
{
	char names[4096], values[4096], *sn, *sv, *n, *v;
	size_t glen = strlen(group);
	long long found = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (found < 0 && fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, group, glen) != 0 || names[glen] != ':')
			continue;
		n = strtok_r(names + glen + 1, " \n", &sn);
		v = strtok_r(values + glen + 1, " \n", &sv);
		while (n && v) {
			if (strcmp(n, name) == 0) {
				found = atoll(v);
				break;
			}
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
	return found;
}

/* A counter from /proc/net/snmp6: "Icmp6InEchos   3". */
static long long snmp6(const char *name)
{
	char line[256], key[128];
	long long val, found = -1;
	FILE *f = fopen("/proc/net/snmp6", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %lld", key, &val) == 2 && strcmp(key, name) == 0) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

struct counters {
	long long udp_csum, tcp_csum, tcp_rsts, icmp_csum, icmp_echos, ip_csum;
	long long icmp6_csum, icmp6_echos;
};

static void read_counters(struct counters *c)
{
	c->udp_csum = snmp("/proc/net/snmp", "Udp", "InCsumErrors") +
		      snmp6("Udp6InCsumErrors");
	c->tcp_csum = snmp("/proc/net/snmp", "Tcp", "InCsumErrors");
	c->tcp_rsts = snmp("/proc/net/snmp", "Tcp", "OutRsts");
	c->icmp_csum = snmp("/proc/net/snmp", "Icmp", "InCsumErrors");
	c->icmp_echos = snmp("/proc/net/snmp", "Icmp", "InEchos");
	c->ip_csum = snmp("/proc/net/netstat", "IpExt", "InCsumErrors");
	c->icmp6_csum = snmp6("Icmp6InCsumErrors");
	c->icmp6_echos = snmp6("Icmp6InEchos");
}

static void settle(void)
{
	struct timespec ts = { 0, 20 * 1000000 };

	nanosleep(&ts, NULL);
}

static int send_frame(const struct pb *p)
{
	return send(env.tx, p->data, p->len, 0) == (ssize_t)p->len ? 0 : -1;
}

/* Waits for a datagram on fd; returns its length, -1 if none came within 1 s. */
static int recv_within(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return (int)recv(fd, buf, cap, MSG_DONTWAIT);
}

static void drain(int fd)
{
	uint8_t buf[2048];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static const uint8_t payload[] = "microseg pktbuild payload, odd length!";

static void start(struct pb *p, int v6)
{
	pb_init(p);
	pb_eth(p, "02:00:00:00:00:09", env.peer_mac, 0);
	if (v6)
		pb_ipv6(p, SRC6, PEER6);
	else
		pb_ipv4(p, SRC4, PEER4);
}

enum { UDP_PLAIN, UDP_IPV4_OPTS, UDP_IPV6_EXT };

/* A UDP datagram the kernel delivers to our socket, payload intact. */
static int udp_arrives(int v6, int shape)
{
	static struct pb p;
	uint8_t buf[2048];
	int fd = v6 ? env.udp6 : env.udp4, n;

	start(&p, v6);
	if (shape == UDP_IPV4_OPTS)
		pb_ipv4_opts(&p, NULL, 12);
	if (shape == UDP_IPV6_EXT) {
		pb_ipv6_ext(&p, 0, 16);
		pb_ipv6_ext(&p, 60, 8);
	}
	pb_udp(&p, 40000, UDP_PORT);
	pb_payload(&p, payload, sizeof(payload));
	if (pb_finish(&p) < 0 || send_frame(&p))
		return -1;
	n = recv_within(fd, buf, sizeof(buf), 1000);
	return n == (int)sizeof(payload) && memcmp(buf, payload, sizeof(payload)) == 0 ? 0 : -1;
}

/* A SYN to a closed port that the kernel answers with a RST, with no checksum error. */
static int tcp_syn_answered(int v6)
{
	static struct pb p;
	struct counters a, b;
	int i;

	read_counters(&a);
	start(&p, v6);
	pb_tcp(&p, 40000, CLOSED_PORT, PB_TCP_SYN);
	pb_payload(&p, payload, 5); /* an odd-length segment */
	if (pb_finish(&p) < 0 || send_frame(&p))
		return -1;
	for (i = 0; i < 50; i++) {
		settle();
		read_counters(&b);
		if (b.tcp_rsts != a.tcp_rsts)
			break;
	}
	return b.tcp_rsts == a.tcp_rsts + 1 && b.tcp_csum == a.tcp_csum ? 0 : -1;
}

static int echo_counted(int v6)
{
	static struct pb p;
	struct counters a, b;
	int i;

	read_counters(&a);
	start(&p, v6);
	if (v6)
		pb_icmp6(&p, 128, 0);
	else
		pb_icmp(&p, 8, 0);
	pb_payload(&p, payload, sizeof(payload));
	if (pb_finish(&p) < 0 || send_frame(&p))
		return -1;
	for (i = 0; i < 50; i++) {
		settle();
		read_counters(&b);
		if ((v6 ? b.icmp6_echos != a.icmp6_echos : b.icmp_echos != a.icmp_echos))
			break;
	}
	if (v6)
		return b.icmp6_echos == a.icmp6_echos + 1 && b.icmp6_csum == a.icmp6_csum ? 0 : -1;
	return b.icmp_echos == a.icmp_echos + 1 && b.icmp_csum == a.icmp_csum ? 0 : -1;
}

/* Negative controls: one checksum wrong, the kernel notices. */
static int bad_udp_rejected(void)
{
	static struct pb p;
	struct counters a, b;
	uint8_t buf[2048];

	read_counters(&a);
	start(&p, 0);
	pb_udp(&p, 40000, UDP_PORT);
	pb_payload(&p, payload, sizeof(payload));
	if (pb_finish(&p) < 0)
		return -1;
	p.data[p.l4_off + 7] ^= 0x01;
	if (send_frame(&p))
		return -1;
	if (recv_within(env.udp4, buf, sizeof(buf), 200) >= 0)
		return -1;
	read_counters(&b);
	return b.udp_csum == a.udp_csum + 1 ? 0 : -1;
}

static int bad_ip_header_rejected(void)
{
	static struct pb p;
	struct counters a, b;
	uint8_t buf[2048];

	read_counters(&a);
	start(&p, 0);
	pb_udp(&p, 40000, UDP_PORT);
	pb_payload(&p, payload, sizeof(payload));
	if (pb_finish(&p) < 0)
		return -1;
	p.data[p.l3_off + 11] ^= 0x01;
	if (send_frame(&p))
		return -1;
	if (recv_within(env.udp4, buf, sizeof(buf), 200) >= 0)
		return -1;
	read_counters(&b);
	return b.ip_csum == a.ip_csum + 1 ? 0 : -1;
}

/* An ARP request for the peer's address makes the kernel learn the sender. */
static int arp_learnt(void)
{
	static struct pb p;
	char line[256];
	int i, seen = 0;

	pb_init(&p);
	pb_eth(&p, "02:00:00:00:00:09", "ff:ff:ff:ff:ff:ff", 0);
	pb_arp(&p, PB_ARP_REQUEST, "02:00:00:00:00:09", "10.200.0.77", NULL, PEER4);
	if (pb_finish(&p) < 0 || send_frame(&p))
		return -1;
	for (i = 0; i < 50 && !seen; i++) {
		FILE *f;

		settle();
		f = fopen("/proc/net/arp", "r");
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "10.200.0.77 ", 12) == 0 && strstr(line, "02:00:00:00:00:09"))
				seen = 1;
		fclose(f);
	}
	return seen ? 0 : -1;
}

static int udp_socket(int family, const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(UDP_PORT) };
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		inet_pton(AF_INET, addr, &sin.sin_addr);
		err = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	} else {
		inet_pton(AF_INET6, addr, &sin6.sin6_addr);
		err = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	}
	return err ? -1 : fd;
}

/* The kernel inserts an IPv6 address's local route from a work item that needs the rtnl lock,
 * after `ip addr add` has returned; with other tests busy on rtnl, a frame sent before then is
 * dropped as not ours. Wait for the route rather than racing it. */
static int wait_local_route6(const char *addr)
{
	char cmd[128], line[256];
	int i, found = 0;

	snprintf(cmd, sizeof(cmd), "ip -6 route show table local %s 2>/dev/null", addr);
	for (i = 0; i < 500 && !found; i++) {
		FILE *f = popen(cmd, "r");

		if (!f)
			return -1;
		found = fgets(line, sizeof(line), f) != NULL;
		pclose(f);
		if (!found)
			settle();
	}
	return found ? 0 : -1;
}

static int setup_netns(void)
{
	char a[16], b[16];
	uint32_t ia, ib;
	struct ifreq ifr = { 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	unsigned char *m;
	int fd;

	if (dp_private_netns())
		return -1;
	snprintf(a, sizeof(a), "mspba%d", (int)getpid());
	snprintf(b, sizeof(b), "mspbb%d", (int)getpid());
	if (dp_veth_pair(a, b, 1, &ia, &ib) ||
	    dp_sh("ip addr add %s/24 dev %s", PEER4, b) ||
	    dp_sh("ip addr add %s/64 dev %s nodad", PEER6, b) || dp_sh("ip link set lo up"))
		return -1;

	/* The peer's MAC, asked from inside the namespace (sysfs still shows the old one). */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", b);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		return -1;
	close(fd);
	m = (unsigned char *)ifr.ifr_hwaddr.sa_data;
	snprintf(env.peer_mac, sizeof(env.peer_mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
		 m[2], m[3], m[4], m[5]);

	env.tx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	sll.sll_ifindex = (int)ia;
	if (env.tx < 0 || bind(env.tx, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		return -1;
	env.udp4 = udp_socket(AF_INET, PEER4);
	env.udp6 = udp_socket(AF_INET6, PEER6);
	if (env.udp4 < 0 || env.udp6 < 0)
		return -1;
	return wait_local_route6(PEER6);
}

int main(void)
{
	int root = geteuid() == 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..14\n");
	report(ipv4_vector() == 0, "IPv4 header checksum matches the published example");
	report(misuse_is_reported() == 0, "misuse returns -EINVAL / -E2BIG");

	if (!root || setup_netns()) {
		const char *why = root ? "namespace setup failed" : "needs root";
		int i;

		for (i = 0; i < 12; i++)
			printf("ok %d # SKIP %s\n", ++tests, why);
		if (root) {
			printf("Bail out! %s\n", why);
			return 1;
		}
		return failed ? 1 : 0;
	}
	report(udp_arrives(0, UDP_PLAIN) == 0, "IPv4 UDP delivered by the kernel");
	report(udp_arrives(0, UDP_IPV4_OPTS) == 0, "IPv4 UDP with IP options delivered");
	report(udp_arrives(1, UDP_PLAIN) == 0, "IPv6 UDP delivered by the kernel");
	report(udp_arrives(1, UDP_IPV6_EXT) == 0, "IPv6 UDP after HBH and DSTOPTS delivered");
	report(tcp_syn_answered(0) == 0, "IPv4 TCP SYN answered with a RST");
	report(tcp_syn_answered(1) == 0, "IPv6 TCP SYN answered with a RST");
	report(echo_counted(0) == 0, "ICMP echo request accepted");
	report(echo_counted(1) == 0, "ICMPv6 echo request accepted");
	report(arp_learnt() == 0, "ARP request: the kernel learns the sender");
	drain(env.udp4);
	report(bad_udp_rejected() == 0, "control: a wrong UDP checksum is counted as an error");
	report(bad_ip_header_rejected() == 0, "control: a wrong IPv4 header checksum too");
	report(udp_arrives(0, UDP_PLAIN) == 0, "control: good frames still arrive afterwards");
	printf("# %d of %d passed\n", tests - failed, tests);
	return failed ? 1 : 0;
}
