// SPDX-License-Identifier: Apache-2.0
/* IP address and MAC text forms. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ms_addr_parse(const char *s, struct ms_addr *out)
{
	char buf[MS_ADDR_STRLEN];
	if (!s || !*s)
		return -EINVAL;
	size_t len = strlen(s);
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len + 1);

	long plen = -1;
	char *slash = strchr(buf, '/');
	if (slash) {
		char *end;
		*slash = '\0';
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			return -EINVAL;
		plen = strtol(slash + 1, &end, 10);
		if (*end)
			return -EINVAL;
	}
	struct ms_addr a = { 0 };
	if (inet_pton(AF_INET, buf, a.bytes) == 1) {
		a.family = MS_FAMILY_IPV4;
		if (plen > 32)
			return -EINVAL;
		a.prefixlen = plen < 0 ? 32 : (uint8_t)plen;
	} else if (inet_pton(AF_INET6, buf, a.bytes) == 1) {
		a.family = MS_FAMILY_IPV6;
		if (plen > 128)
			return -EINVAL;
		a.prefixlen = plen < 0 ? 128 : (uint8_t)plen;
	} else {
		return -EINVAL;
	}
	*out = a;
	return 0;
}

void ms_addr_format(const struct ms_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == MS_FAMILY_IPV4 ? AF_INET : AF_INET6, a->bytes, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

bool ms_addr_equal(const struct ms_addr *a, const struct ms_addr *b)
{
	return a->family == b->family &&
	       !memcmp(a->bytes, b->bytes, a->family == MS_FAMILY_IPV4 ? 4 : 16);
}

int ms_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int v[6];
	char tail;
	if (!s || strlen(s) != 17)
		return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		/* %2x accepts "+f" and " f": insist on two hex digits. */
		if (!strchr("0123456789abcdefABCDEF", s[i * 3]) || !strchr("0123456789abcdefABCDEF", s[i * 3 + 1]) || !s[i * 3] || !s[i * 3 + 1])
			return -EINVAL;
		if (i < 5 && s[i * 3 + 2] != ':')
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

void ms_mac_format(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool ms_addr_in_prefix(const struct ms_addr *a, const struct ms_addr *p)
{
	if (a->family != p->family || a->prefixlen < p->prefixlen)
		return false;
	unsigned bits = p->prefixlen;
	for (unsigned i = 0; i < bits / 8; i++)
		if (a->bytes[i] != p->bytes[i])
			return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
		if ((a->bytes[bits / 8] & mask) != (p->bytes[bits / 8] & mask))
			return false;
	}
	return true;
}
