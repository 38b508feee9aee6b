// SPDX-License-Identifier: Apache-2.0
/*
 * Event JSON and Prometheus rendering, without privileges: JSON from hand-made events, metrics
 * from an in-memory context (every counter is zero there, but the shape, names and escaping
 * are what a scraper depends on).
 */
#include "util.h"

static struct microseg_event sample(void)
{
	struct microseg_event ev = { .sz = sizeof(ev) };
	ev.type = MICROSEG_EVENT_DROP;
	ev.version = 1;
	ev.time_ns = 1764500000123456789ull; /* 2025-11-30T10:53:20.123456789Z */
	ev.endpoint_id = 7;
	ev.ifindex = 42;
	ev.direction = MICROSEG_DIR_INGRESS;
	ev.verdict = MICROSEG_DROPPED;
	ev.drop_reason = MICROSEG_DROP_POLICY_DENY;
	ev.rule_id = 3;
	ev.src_identity = 65536;
	ev.dst_identity = 65537;
	snprintf(ev.src_addr, sizeof(ev.src_addr), "10.0.0.1");
	snprintf(ev.dst_addr, sizeof(ev.dst_addr), "fd00::2");
	ev.src_port = 40000;
	ev.dst_port = 80;
	ev.proto = 6;
	ev.bytes = 74;
	snprintf(ev.endpoint_name, sizeof(ev.endpoint_name), "we\"ird\\name");
	return ev;
}

static void json_fields(void)
{
	struct microseg_event ev = sample();
	char buf[1024];
	int n = microseg_event_to_json(&ev, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK_EQ((size_t)n, strlen(buf));
	CHECK_STREQ(buf, "{\"time\":\"2025-11-30T10:53:20.123456789Z\",\"type\":\"drop\",\"version\":1,"
			 "\"endpoint_id\":7,\"endpoint\":\"we\\\"ird\\\\name\",\"ifindex\":42,"
			 "\"direction\":\"ingress\",\"verdict\":\"dropped\",\"drop_reason\":\"policy_deny\","
			 "\"rule_id\":3,\"src_identity\":65536,\"dst_identity\":65537,\"src\":\"10.0.0.1\","
			 "\"dst\":\"fd00::2\",\"src_port\":40000,\"dst_port\":80,\"proto\":\"tcp\",\"bytes\":74}");
	/* Forwarded: drop_reason null; ICMP: icmp_type present; unknown protocol: its number. */
	ev.verdict = MICROSEG_FORWARDED;
	ev.type = MICROSEG_EVENT_FLOW_NEW;
	ev.proto = 58;
	ev.icmp_type = 128;
	n = microseg_event_to_json(&ev, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK(strstr(buf, "\"type\":\"new\"") != NULL);
	CHECK(strstr(buf, "\"drop_reason\":null") != NULL);
	CHECK(strstr(buf, "\"proto\":\"icmpv6\",\"icmp_type\":128,") != NULL);
	ev.proto = 47;
	n = microseg_event_to_json(&ev, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK(strstr(buf, "\"proto\":47,\"bytes\"") != NULL);
}

static void json_bounds(void)
{
	struct microseg_event ev = sample();
	char buf[1024];
	int full = microseg_event_to_json(&ev, buf, sizeof(buf));
	REQUIRE(full > 0);
	CHECK_RC(microseg_event_to_json(&ev, buf, (size_t)full), -ENOSPC); /* no room for the NUL */
	CHECK_EQ(microseg_event_to_json(&ev, buf, (size_t)full + 1), full);
	CHECK_RC(microseg_event_to_json(NULL, buf, sizeof(buf)), -EINVAL);
	CHECK_RC(microseg_event_to_json(&ev, NULL, 10), -EINVAL);
	/* The longest possible object fits in 1024 bytes, as the header promises. */
	memset(ev.endpoint_name, '"', sizeof(ev.endpoint_name) - 1);
	ev.endpoint_name[sizeof(ev.endpoint_name) - 1] = '\0';
	snprintf(ev.src_addr, sizeof(ev.src_addr), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	snprintf(ev.dst_addr, sizeof(ev.dst_addr), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	ev.endpoint_id = ev.ifindex = ev.rule_id = ev.src_identity = ev.dst_identity = ev.bytes = 4294967295u;
	ev.proto = 58;
	ev.icmp_type = 4294967295u;
	CHECK(microseg_event_to_json(&ev, buf, sizeof(buf)) > 0);
}

static void drop_reason_names(void)
{
	CHECK_STREQ(microseg_drop_reason_name(MICROSEG_DROP_POLICY), "policy");
	CHECK_STREQ(microseg_drop_reason_name(MICROSEG_DROP_POLICY_DENY), "policy_deny");
	CHECK_STREQ(microseg_drop_reason_name(MICROSEG_DROP_SPOOFED_SOURCE), "spoofed_source");
	CHECK_STREQ(microseg_drop_reason_name(MICROSEG_DROP_INVALID), "invalid");
	CHECK_STREQ(microseg_drop_reason_name(999), "other");
}

static void prometheus_shape(void)
{
	struct microseg_ctx *ctx = ut_open_named("unit-metrics");
	REQUIRE(ctx);
	const char *l[] = { "k8s:app=m" };
	struct microseg_identity *id;
	struct microseg_endpoint *ep;
	REQUIRE_OK(microseg_identity_get(ctx, l, 1, &id));
	MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "lo", .identity = id, .name = "a\"b\\c");
	REQUIRE_OK(microseg_endpoint_add(ctx, &eo, &ep));
	char *text = NULL;
	REQUIRE_OK(microseg_metrics_prometheus(ctx, &text));
	REQUIRE(text);
	CHECK(strstr(text, "# TYPE microseg_endpoint_forwarded_packets_total counter\n") != NULL);
	CHECK(strstr(text, "# TYPE microseg_endpoint_dropped_packets_total counter\n") != NULL);
	CHECK(strstr(text, "microseg_endpoint_forwarded_packets_total{instance=\"unit-metrics\",endpoint_id=\"1\","
			   "interface=\"lo\",endpoint=\"a\\\"b\\\\c\",direction=\"egress\"} 0\n") != NULL);
	CHECK(strstr(text, "direction=\"ingress\",reason=\"spoofed_source\"} 0\n") != NULL);
	CHECK(strstr(text, "microseg_events_total{instance=\"unit-metrics\",outcome=\"lost\"} 0\n") != NULL);
	CHECK(strstr(text, "microseg_endpoints{instance=\"unit-metrics\"} 1\n") != NULL);
	/* Every sample line is "name{labels} value" and every family has HELP and TYPE. */
	size_t helps = 0, types = 0;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		REQUIRE(nl);
		if (!strncmp(line, "# HELP ", 7))
			helps++;
		else if (!strncmp(line, "# TYPE ", 7))
			types++;
		else
			CHECK(memchr(line, '{', (size_t)(nl - line)) && memchr(line, '}', (size_t)(nl - line)));
		line = nl + 1;
	}
	CHECK_EQ(helps, types);
	CHECK(helps >= 5);
	free(text);
	CHECK_RC(microseg_metrics_prometheus(ctx, NULL), -EINVAL);
	CHECK_RC(microseg_metrics_prometheus(NULL, &text), -EINVAL);
	/* No datapath, no events. */
	CHECK_RC(microseg_events_subscribe(ctx, NULL, NULL, NULL), -EINVAL);
	microseg_ctx_close(ctx);
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(json_fields),
		TEST_ENTRY(json_bounds),
		TEST_ENTRY(drop_reason_names),
		TEST_ENTRY(prometheus_shape),
	};
	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
