/* SPDX-License-Identifier: Apache-2.0 */
#include "pktbuild.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PROTO_HOPOPTS 0
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ROUTING 43
#define PROTO_FRAGMENT 44
#define PROTO_AH 51
#define PROTO_ICMPV6 58
#define PROTO_DSTOPTS 60

#define ETHTYPE_IPV4 0x0800
#define ETHTYPE_ARP 0x0806
#define ETHTYPE_IPV6 0x86dd

#define IPV4_HLEN 20
#define IPV6_HLEN 40

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void fail(struct pb *p, int err)
{
	if (!p->err)
		p->err = err;
}

/* Room for n more bytes, zeroed; NULL (and p->err set) if none. */
static uint8_t *grow(struct pb *p, size_t n)
{
	uint8_t *b;

	if (p->err)
		return NULL;
	if (n > PB_MAX_LEN - p->len) {
		fail(p, -E2BIG);
		return NULL;
	}
	b = p->data + p->len;
	memset(b, 0, n);
	p->len += n;
	return b;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6];
	char tail;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* Writes the protocol number of the header being added into the header before it. */
static void link_proto(struct pb *p, uint8_t proto)
{
	if (p->next_off != SIZE_MAX)
		p->data[p->next_off] = proto;
}

static void link_ethtype(struct pb *p, uint16_t ethertype)
{
	if (p->ethtype_off != SIZE_MAX && get16(p->data + p->ethtype_off) == 0)
		put16(p->data + p->ethtype_off, ethertype);
}

void pb_init(struct pb *p)
{
	memset(p, 0, sizeof(*p));
	p->ethtype_off = SIZE_MAX;
	p->next_off = SIZE_MAX;
}

void pb_eth(struct pb *p, const char *src, const char *dst, uint16_t ethertype)
{
	uint8_t smac[6], dmac[6];
	uint8_t *b;

	if (parse_mac(src ? src : "02:00:00:00:00:01", smac) ||
	    parse_mac(dst ? dst : "02:00:00:00:00:02", dmac)) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, PB_ETH_HLEN);
	if (!b)
		return;
	memcpy(b, dmac, 6);
	memcpy(b + 6, smac, 6);
	put16(b + 12, ethertype);
	p->ethtype_off = (size_t)(b + 12 - p->data);
}

void pb_arp(struct pb *p, uint16_t op, const char *sha, const char *sip, const char *tha,
	    const char *tip)
{
	uint8_t smac[6], tmac[6] = { 0 };
	struct in_addr s, t;
	uint8_t *b;

	if (!sha || !sip || !tip || parse_mac(sha, smac) || (tha && parse_mac(tha, tmac)) ||
	    inet_pton(AF_INET, sip, &s) != 1 || inet_pton(AF_INET, tip, &t) != 1) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, 28);
	if (!b)
		return;
	link_ethtype(p, ETHTYPE_ARP);
	put16(b, 1);             /* Ethernet */
	put16(b + 2, ETHTYPE_IPV4);
	b[4] = 6;
	b[5] = 4;
	put16(b + 6, op);
	memcpy(b + 8, smac, 6);
	memcpy(b + 14, &s, 4);
	memcpy(b + 18, tmac, 6);
	memcpy(b + 24, &t, 4);
}

void pb_ipv4(struct pb *p, const char *src, const char *dst)
{
	struct in_addr s, d;
	uint8_t *b;

	if (!src || !dst || inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, IPV4_HLEN);
	if (!b)
		return;
	link_ethtype(p, ETHTYPE_IPV4);
	b[0] = 0x45;
	put16(b + 4, 0x4d53); /* identification */
	put16(b + 6, 0x4000); /* DF */
	b[8] = 64;
	memcpy(b + 12, &s, 4);
	memcpy(b + 16, &d, 4);
	p->l3 = 4;
	p->l3_off = (size_t)(b - p->data);
	p->next_off = p->l3_off + 9;
}

void pb_ipv4_opts(struct pb *p, const void *opts, size_t n)
{
	uint8_t *b;

	if (p->err)
		return;
	/* Only straight after pb_ipv4: the options must extend that header. */
	if (p->l3 != 4 || p->l4_off || p->len != p->l3_off + (size_t)(p->data[p->l3_off] & 0x0f) * 4 ||
	    n % 4 || (p->data[p->l3_off] & 0x0f) * 4 + n > 60) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, n);
	if (!b)
		return;
	if (opts)
		memcpy(b, opts, n);
	else
		memset(b, 1, n); /* NOP */
	p->data[p->l3_off] = (uint8_t)(0x40 | ((p->data[p->l3_off] & 0x0f) + n / 4));
}

void pb_ipv4_frag(struct pb *p, uint16_t offset8, int more)
{
	if (p->err)
		return;
	if (p->l3 != 4 || offset8 > 0x1fff) {
		fail(p, -EINVAL);
		return;
	}
	put16(p->data + p->l3_off + 6, (uint16_t)((more ? 0x2000 : 0) | offset8));
}

void pb_ipv6(struct pb *p, const char *src, const char *dst)
{
	struct in6_addr s, d;
	uint8_t *b;

	if (!src || !dst || inet_pton(AF_INET6, src, &s) != 1 ||
	    inet_pton(AF_INET6, dst, &d) != 1) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, IPV6_HLEN);
	if (!b)
		return;
	link_ethtype(p, ETHTYPE_IPV6);
	b[0] = 0x60;
	b[7] = 64;
	memcpy(b + 8, &s, 16);
	memcpy(b + 24, &d, 16);
	p->l3 = 6;
	p->l3_off = (size_t)(b - p->data);
	p->next_off = p->l3_off + 6;
}

/*
 * Fills an options area the way a receiver accepts it: Linux drops more than 7 bytes of
 * consecutive padding (RFC 4942 2.1.9.5), so anything longer is an experimental option
 * (type 0x1e, RFC 4727; its top bits say "skip if unknown") of up to 257 bytes, and only the
 * last few bytes are Pad1/PadN.
 */
static void fill_tlv_options(uint8_t *b, size_t n)
{
	while (n > 0) {
		size_t chunk;

		if (n == 1) {
			b[0] = 0; /* Pad1 */
			return;
		}
		if (n <= 7) {
			b[0] = 1; /* PadN */
			b[1] = (uint8_t)(n - 2);
			return;
		}
		chunk = n > 257 ? 257 : n;
		b[0] = 0x1e;
		b[1] = (uint8_t)(chunk - 2);
		b += chunk;
		n -= chunk;
	}
}

void pb_ipv6_ext(struct pb *p, uint8_t type, size_t len)
{
	uint8_t *b;

	if (p->err)
		return;
	if (p->l3 != 6 || p->l4_off || len < 8 || len > 2048 || len % 8 ||
	    (type != PROTO_HOPOPTS && type != PROTO_ROUTING && type != PROTO_DSTOPTS &&
	     type != PROTO_AH) ||
	    (type == PROTO_AH && (len < 16 || len > 1024))) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, len);
	if (!b)
		return;
	link_proto(p, type);
	if (type == PROTO_AH) {
		/* AH counts 4-byte units, minus 2. */
		b[1] = (uint8_t)(len / 4 - 2);
	} else {
		b[1] = (uint8_t)(len / 8 - 1);
	}
	if (type == PROTO_HOPOPTS || type == PROTO_DSTOPTS)
		fill_tlv_options(b + 2, len - 2);
	p->next_off = (size_t)(b - p->data);
}

void pb_ipv6_frag(struct pb *p, uint16_t offset8, int more, uint32_t id)
{
	uint8_t *b;

	if (p->err)
		return;
	if (p->l3 != 6 || p->l4_off || offset8 > 0x1fff) {
		fail(p, -EINVAL);
		return;
	}
	b = grow(p, 8);
	if (!b)
		return;
	link_proto(p, PROTO_FRAGMENT);
	put16(b + 2, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	put32(b + 4, id);
	p->next_off = (size_t)(b - p->data);
}

void pb_set_next(struct pb *p, uint8_t proto)
{
	if (p->err)
		return;
	if (!p->l3 || p->l4_off) {
		fail(p, -EINVAL);
		return;
	}
	link_proto(p, proto);
	p->l4_proto = proto;
}

static uint8_t *add_l4(struct pb *p, uint8_t proto, size_t hlen)
{
	uint8_t *b;

	if (p->err)
		return NULL;
	if (!p->l3 || p->l4_off) {
		fail(p, -EINVAL);
		return NULL;
	}
	b = grow(p, hlen);
	if (!b)
		return NULL;
	link_proto(p, proto);
	p->l4_off = (size_t)(b - p->data);
	p->l4_proto = proto;
	return b;
}

void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint8_t *b = add_l4(p, PROTO_TCP, 20);

	if (!b)
		return;
	put16(b, sport);
	put16(b + 2, dport);
	put32(b + 4, 1);
	put32(b + 8, (flags & PB_TCP_ACK) ? 1 : 0);
	b[12] = 5 << 4;
	b[13] = flags;
	put16(b + 14, 65535);
}

void pb_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
	uint8_t *b = add_l4(p, PROTO_UDP, 8);

	if (!b)
		return;
	put16(b, sport);
	put16(b + 2, dport);
}

static void icmp_common(struct pb *p, uint8_t proto, uint8_t type, uint8_t code)
{
	uint8_t *b;

	if (!p->err && p->l3 != (proto == PROTO_ICMP ? 4 : 6)) {
		fail(p, -EINVAL);
		return;
	}
	b = add_l4(p, proto, 8);
	if (!b)
		return;
	b[0] = type;
	b[1] = code;
	put16(b + 4, 0x4d53);
	put16(b + 6, 1);
}

void pb_icmp(struct pb *p, uint8_t type, uint8_t code)
{
	icmp_common(p, PROTO_ICMP, type, code);
}

void pb_icmp6(struct pb *p, uint8_t type, uint8_t code)
{
	icmp_common(p, PROTO_ICMPV6, type, code);
}

void pb_payload(struct pb *p, const void *data, size_t n)
{
	uint8_t *b = grow(p, n);
	size_t i;

	if (!b)
		return;
	if (data) {
		memcpy(b, data, n);
		return;
	}
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)i;
}

uint16_t pb_csum(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *b = buf;
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(b + i);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* End of the L3 packet as its header says, clamped to the frame: padding and truncation
 * after pb_finish() must not change the checksums. */
static size_t l3_end(const struct pb *p)
{
	size_t end;

	if (p->l3 == 4)
		end = p->l3_off + get16(p->data + p->l3_off + 2);
	else
		end = p->l3_off + IPV6_HLEN + get16(p->data + p->l3_off + 4);
	return end < p->len ? end : p->len;
}

/* Partial sum of the pseudo header (RFC 793 / RFC 8200 8.1). */
static uint32_t pseudo_sum(const struct pb *p, uint8_t proto, size_t l4_len)
{
	const uint8_t *ip = p->data + p->l3_off;
	uint32_t s = 0;
	size_t i;

	if (p->l3 == 4) {
		for (i = 12; i < 20; i += 2)
			s += get16(ip + i);
		s += proto;
		s += (uint32_t)l4_len;
	} else {
		for (i = 8; i < 40; i += 2)
			s += get16(ip + i);
		s += (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff);
		s += proto;
	}
	return s;
}

int pb_fix_checksums(struct pb *p)
{
	size_t end, l4_len;
	uint8_t *l4;
	uint16_t c;
	int csum_at;

	if (p->err)
		return p->err;
	if (p->l3 == 4) {
		uint8_t *ip = p->data + p->l3_off;
		size_t hlen = (size_t)(ip[0] & 0x0f) * 4;

		put16(ip + 10, 0);
		if (p->l3_off + hlen <= p->len)
			put16(ip + 10, pb_csum(ip, hlen, 0));
	}
	if (!p->l4_off)
		return (int)p->len;

	end = l3_end(p);
	if (end < p->l4_off)
		return (int)p->len;
	l4 = p->data + p->l4_off;
	l4_len = end - p->l4_off;
	switch (p->l4_proto) {
	case PROTO_TCP:
		csum_at = 16;
		break;
	case PROTO_UDP:
		csum_at = 6;
		break;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		csum_at = 2;
		break;
	default:
		return (int)p->len;
	}
	if (l4_len < (size_t)csum_at + 2)
		return (int)p->len;
	put16(l4 + csum_at, 0);
	if (p->l4_proto == PROTO_ICMP)
		c = pb_csum(l4, l4_len, 0);
	else
		c = pb_csum(l4, l4_len, pseudo_sum(p, p->l4_proto, l4_len));
	/* A computed UDP checksum of 0 goes on the wire as all ones (0 means "none"). */
	if (p->l4_proto == PROTO_UDP && c == 0)
		c = 0xffff;
	put16(l4 + csum_at, c);
	return (int)p->len;
}

int pb_finish(struct pb *p)
{
	if (p->err)
		return p->err;
	if (p->l3 == 4) {
		if (p->len - p->l3_off > 0xffff)
			return p->err = -E2BIG;
		put16(p->data + p->l3_off + 2, (uint16_t)(p->len - p->l3_off));
	} else if (p->l3 == 6) {
		if (p->len - p->l3_off - IPV6_HLEN > 0xffff)
			return p->err = -E2BIG;
		put16(p->data + p->l3_off + 4, (uint16_t)(p->len - p->l3_off - IPV6_HLEN));
	}
	if (p->l4_off && p->l4_proto == PROTO_UDP)
		put16(p->data + p->l4_off + 4, (uint16_t)(p->len - p->l4_off));
	return pb_fix_checksums(p);
}

void pb_pad_to(struct pb *p, size_t len)
{
	if (p->err || len <= p->len)
		return;
	grow(p, len - p->len);
}

void pb_truncate(struct pb *p, size_t len)
{
	if (p->err)
		return;
	if (len > p->len) {
		fail(p, -EINVAL);
		return;
	}
	p->len = len;
}
