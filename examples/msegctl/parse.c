/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl: strict parsers for command-line values, and names for the numbers it prints. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msegctl.h"

bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would accept blanks, a sign and "-1" (as a huge value). */
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool parse_seconds(const char *s, int64_t *ms)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return false;
	errno = 0;
	v = strtod(s, &end);
	/* Up to about 23 days: comfortably inside an int of milliseconds. */
	if (errno || *end || !isfinite(v) || v <= 0 || v > 2000000)
		return false;
	/* Rounded up, so that "0.0001" still waits a millisecond. */
	double msf = v * 1000;
	*ms = (int64_t)msf;
	if ((double)*ms < msf)
		(*ms)++;
	return true;
}

static const struct {
	const char *name;
	uint32_t proto;
} protos[] = {
	{ "tcp", MICROSEG_PROTO_TCP },       { "udp", MICROSEG_PROTO_UDP },
	{ "sctp", MICROSEG_PROTO_SCTP },     { "icmp", MICROSEG_PROTO_ICMP },
	{ "icmpv6", MICROSEG_PROTO_ICMPV6 }, { "icmp6", MICROSEG_PROTO_ICMPV6 },
};

bool parse_proto_port(const char *s, uint32_t *proto, uint16_t *port)
{
	const char *slash = strchr(s, '/');
	uint32_t p = 0, v;

	if (!slash)
		return false;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strlen(protos[i].name) == (size_t)(slash - s) &&
		    !strncasecmp(s, protos[i].name, (size_t)(slash - s)))
			p = protos[i].proto;
	if (!p)
		return false;
	bool icmp = p == MICROSEG_PROTO_ICMP || p == MICROSEG_PROTO_ICMPV6;
	if (!parse_u32(slash + 1, icmp ? 0 : 1, icmp ? 255 : 65535, &v))
		return false;
	*proto = p;
	*port = (uint16_t)v;
	return true;
}

const char *proto_name(uint32_t proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	return NULL;
}

const char *direction_name(uint32_t dir)
{
	return dir == MICROSEG_DIR_INGRESS ? "ingress" : dir == MICROSEG_DIR_EGRESS ? "egress" : "?";
}

const char *reserved_identity_name(uint32_t id)
{
	switch (id) {
	case MICROSEG_IDENTITY_HOST:
		return "host";
	case MICROSEG_IDENTITY_WORLD:
		return "world";
	case MICROSEG_IDENTITY_UNMANAGED:
		return "unmanaged";
	default:
		return NULL;
	}
}
