// SPDX-License-Identifier: Apache-2.0
/* One event as one JSON object. Field names are part of the API (README: "Event JSON"). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char *proto_name(uint32_t p)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 58: return "icmpv6";
	case 132: return "sctp";
	default: return NULL;
	}
}

/* Appends s as a JSON string; only printable ASCII reaches here, escape the two specials. */
static size_t put_str(char *out, size_t cap, size_t at, const char *s)
{
	if (at < cap)
		out[at] = '"';
	at++;
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			if (at < cap)
				out[at] = '\\';
			at++;
		}
		if (at < cap)
			out[at] = (unsigned char)*s < 0x20 ? '?' : *s;
		at++;
	}
	if (at < cap)
		out[at] = '"';
	return at + 1;
}

#define PUT(...)                                                                                   \
	do {                                                                                       \
		int _n = snprintf(at < len ? buf + at : NULL, at < len ? len - at : 0, __VA_ARGS__);\
		at += _n > 0 ? (size_t)_n : 0;                                                     \
	} while (0)

MICROSEG_API int microseg_event_to_json(const struct microseg_event *ev, char *buf, size_t len)
{
	if (!ev || (!buf && len))
		return -EINVAL;
	size_t at = 0;
	time_t secs = (time_t)(ev->time_ns / 1000000000u);
	struct tm tm;
	char when[40];
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	static const char *const types[] = { "?", "new", "drop", "http", "service" };
	PUT("{\"time\":\"%s.%09uZ\",\"type\":\"%s\",\"version\":%u,\"endpoint_id\":%u,\"endpoint\":", when,
	    (unsigned)(ev->time_ns % 1000000000u), types[ev->type < 5 ? ev->type : 0], ev->version, ev->endpoint_id);
	at = put_str(buf, len, at, ev->endpoint_name);
	PUT(",\"ifindex\":%u,\"direction\":\"%s\",\"verdict\":\"%s\",\"drop_reason\":", ev->ifindex,
	    ev->direction == MICROSEG_DIR_INGRESS ? "ingress" : "egress",
	    ev->verdict == MICROSEG_DROPPED ? "dropped" : "forwarded");
	if (ev->verdict == MICROSEG_DROPPED)
		at = put_str(buf, len, at, microseg_drop_reason_name(ev->drop_reason));
	else
		PUT("null");
	PUT(",\"rule_id\":%u,\"src_identity\":%u,\"dst_identity\":%u,\"src\":\"%s\",\"dst\":\"%s\","
	    "\"src_port\":%u,\"dst_port\":%u,",
	    ev->rule_id, ev->src_identity, ev->dst_identity, ev->src_addr, ev->dst_addr, ev->src_port, ev->dst_port);
	const char *pn = proto_name(ev->proto);
	if (pn)
		PUT("\"proto\":\"%s\",", pn);
	else
		PUT("\"proto\":%u,", ev->proto);
	if (ev->proto == 1 || ev->proto == 58)
		PUT("\"icmp_type\":%u,", ev->icmp_type);
	if (ev->type == MICROSEG_EVENT_L7) {
		PUT("\"http\":{\"method\":");
		at = put_str(buf, len, at, ev->http_method);
		PUT(",\"path\":");
		at = put_str(buf, len, at, ev->http_path);
		PUT(",\"status\":%u,\"latency_us\":%u},", ev->http_status, ev->latency_us);
	} else if (ev->type == MICROSEG_EVENT_SERVICE) {
		PUT("\"service\":{\"id\":%u,\"address\":\"%s\",\"port\":%u,\"hook\":\"%s\"},", ev->service_id,
		    ev->service_addr, ev->service_port, ev->service_hook == 1 ? "socket" : "packet");
	}
	PUT("\"bytes\":%u}", ev->bytes);
	if (at >= len)
		return -ENOSPC;
	return (int)at;
}
