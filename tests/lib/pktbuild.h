/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny packet builder for tests: Ethernet, ARP, IPv4, IPv6 (+ extension headers), TCP, UDP,
 * ICMP, ICMPv6, with lengths and checksums filled in by pb_finish().
 *
 * Headers are appended in order; each L3/L4 call writes its protocol number into the header
 * before it (ethertype, IPv4 protocol, IPv6 next header). Errors are sticky: the first one is
 * kept in p->err, later calls do nothing, and pb_finish() returns it.
 *
 *	struct pb p;
 *	pb_init(&p);
 *	pb_eth(&p, NULL, NULL, 0);
 *	pb_ipv4(&p, "10.200.0.1", "10.200.0.2");
 *	pb_tcp(&p, 40000, 80, PB_TCP_SYN);
 *	pb_payload(&p, NULL, 100);
 *	len = pb_finish(&p);	// p.data[0..len)
 *
 * To build something broken, finish first, then poke bytes (offsets are in the struct) and
 * call pb_fix_checksums() if the checksums should still be right, or pb_truncate().
 */
#ifndef MS_TEST_PKTBUILD_H
#define MS_TEST_PKTBUILD_H

#include <stddef.h>
#include <stdint.h>

#define PB_MAX_LEN 9216
#define PB_ETH_HLEN 14
#define PB_ETH_MIN_FRAME 60 /* without FCS */

#define PB_TCP_FIN 0x01
#define PB_TCP_SYN 0x02
#define PB_TCP_RST 0x04
#define PB_TCP_PSH 0x08
#define PB_TCP_ACK 0x10

#define PB_ARP_REQUEST 1
#define PB_ARP_REPLY 2

struct pb {
	uint8_t data[PB_MAX_LEN];
	size_t len;
	int err;            /* first error (-errno), 0 if none */
	int l3;             /* 0, 4 or 6 */
	size_t ethtype_off; /* offset of the ethertype, or SIZE_MAX */
	size_t l3_off;
	size_t l4_off;      /* 0 until an L4 header is added */
	uint8_t l4_proto;
	size_t next_off;    /* byte naming the next protocol (IPv4 protocol, IPv6 next header) */
};

void pb_init(struct pb *p);

/* Ethernet header. MACs as "aa:bb:cc:dd:ee:ff"; NULL picks 02:00:00:00:00:01 (src) and
 * 02:00:00:00:00:02 (dst). ethertype 0 lets the next pb_ipv4/pb_ipv6/pb_arp set it. */
void pb_eth(struct pb *p, const char *src, const char *dst, uint16_t ethertype);

/* ARP for IPv4 over Ethernet; NULL tha means 00:00:00:00:00:00. */
void pb_arp(struct pb *p, uint16_t op, const char *sha, const char *sip, const char *tha,
	    const char *tip);

/* IPv4 header without options, TTL 64, DF set. Addresses as literals. */
void pb_ipv4(struct pb *p, const char *src, const char *dst);
/* Appends IPv4 options (n a multiple of 4, at most 40) to the header just added and raises
 * IHL to match. NULL opts means NOPs. */
void pb_ipv4_opts(struct pb *p, const void *opts, size_t n);
/* Fragment offset (in 8-byte units) and more-fragments flag of the IPv4 header (clears DF). */
void pb_ipv4_frag(struct pb *p, uint16_t offset8, int more);

/* IPv6 header, hop limit 64. */
void pb_ipv6(struct pb *p, const char *src, const char *dst);
/* Hop-by-hop (0), routing (43) or destination options (60) header of len bytes (a multiple of
 * 8, 8..2048) whose options a receiver skips (at most 7 bytes of padding, the rest one or
 * more experimental 0x1e options; routing: type 0, no segments left); or an
 * authentication header (51) of len bytes (a multiple of 8, 16..1024, zero SPI and ICV). */
void pb_ipv6_ext(struct pb *p, uint8_t type, size_t len);
/* Fragment header: offset in 8-byte units, more-fragments flag, identification. */
void pb_ipv6_frag(struct pb *p, uint16_t offset8, int more, uint32_t id);

/* L4 headers. Ports in host order. TCP: seq 1, window 65535, no options. */
void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags);
void pb_udp(struct pb *p, uint16_t sport, uint16_t dport);
/* ICMP / ICMPv6 with a 4-byte rest of header (echo id 0x4d53, seq 1). */
void pb_icmp(struct pb *p, uint8_t type, uint8_t code);
void pb_icmp6(struct pb *p, uint8_t type, uint8_t code);

/* Names the next protocol without adding its header (e.g. after a non-first fragment). */
void pb_set_next(struct pb *p, uint8_t proto);

/* Appends n bytes of data, or of a counting pattern if data is NULL. */
void pb_payload(struct pb *p, const void *data, size_t n);

/* Fills IPv4 total length, IPv6 payload length, UDP length, then every checksum.
 * Returns the frame length or p->err. */
int pb_finish(struct pb *p);
/* Recomputes only the checksums (after poking a header on purpose). */
int pb_fix_checksums(struct pb *p);

/* After pb_finish: zero-pads the frame to at least len bytes (Ethernet minimum frame size),
 * or cuts it to len bytes. Lengths and checksums are left as they were. */
void pb_pad_to(struct pb *p, size_t len);
void pb_truncate(struct pb *p, size_t len);

/* The Internet checksum (RFC 1071) of buf, continuing from a partial 32-bit sum. */
uint16_t pb_csum(const void *buf, size_t len, uint32_t sum);

#endif
