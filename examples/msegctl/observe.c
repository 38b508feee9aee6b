/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl observe: live flow events from the instance's ring buffer, as a table or JSON lines. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msegctl.h"

struct observe {
	bool json;
	uint32_t count; /* 0: no limit */
	uint32_t seen;
	bool out_failed; /* stdout is gone (a closed pipe): stop quietly */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "10.200.0.2 (65536)", or "(world)" for a reserved identity. */
static void peer_text(char *buf, size_t len, const char *addr, uint32_t identity)
{
	const char *reserved = reserved_identity_name(identity);

	if (reserved)
		snprintf(buf, len, "%s (%s)", addr[0] ? addr : "?", reserved);
	else
		snprintf(buf, len, "%s (%u)", addr[0] ? addr : "?", identity);
}

static void print_row(const struct microseg_event *ev)
{
	char when[32], ep[MICROSEG_ENDPOINT_NAME_MAX + 16], src[80], dst[80], flow[168], pp[24], rule[16];
	const char *pname = proto_name(ev->proto), *reason = "-";
	time_t secs = (time_t)(ev->time_ns / 1000000000);
	struct tm tm;

	if (localtime_r(&secs, &tm))
		snprintf(when + strftime(when, sizeof(when), "%H:%M:%S", &tm), 8, ".%03u",
			 (unsigned)(ev->time_ns / 1000000 % 1000));
	else
		snprintf(when, sizeof(when), "?");
	if (ev->endpoint_name[0])
		snprintf(ep, sizeof(ep), "%.*s", (int)sizeof(ev->endpoint_name), ev->endpoint_name);
	else
		snprintf(ep, sizeof(ep), "#%u", ev->endpoint_id); /* added after we opened */
	peer_text(src, sizeof(src), ev->src_addr, ev->src_identity);
	peer_text(dst, sizeof(dst), ev->dst_addr, ev->dst_identity);
	snprintf(flow, sizeof(flow), "%s -> %s", src, dst);
	if (ev->proto == MICROSEG_PROTO_ICMP || ev->proto == MICROSEG_PROTO_ICMPV6)
		snprintf(pp, sizeof(pp), "%s/%u", pname, ev->icmp_type);
	else if (pname)
		snprintf(pp, sizeof(pp), "%s/%u", pname, ev->dst_port);
	else
		snprintf(pp, sizeof(pp), "proto-%u", ev->proto);
	if (ev->verdict == MICROSEG_DROPPED)
		reason = microseg_drop_reason_name(ev->drop_reason);
	if (ev->rule_id)
		snprintf(rule, sizeof(rule), "%u", ev->rule_id);
	else
		snprintf(rule, sizeof(rule), "-");
	/* What only some events carry: the HTTP request, or the service the flow was sent to. */
	char extra[200] = "";
	if (ev->type == MICROSEG_EVENT_L7) {
		snprintf(extra, sizeof(extra), "  http %s %s -> %u (%u us)", ev->http_method, ev->http_path,
			 ev->http_status, ev->latency_us);
		if (ev->verdict == MICROSEG_DROPPED)
			reason = "http_policy";
	} else if (ev->type == MICROSEG_EVENT_SERVICE) {
		snprintf(extra, sizeof(extra), "  service %s:%u (%s)", ev->service_addr, ev->service_port,
			 ev->service_hook == 1 ? "socket" : "packet");
	}
	printf("%-12s  %-14s  %-7s  %-46s  %-10s  %-9s  %-14s  %s%s\n", when, ep, direction_name(ev->direction),
	       flow, pp, ev->verdict == MICROSEG_DROPPED ? "dropped" : "forwarded", reason, rule, extra);
}

static void on_event(void *user, const struct microseg_event *ev)
{
	struct observe *o = user;

	/* One process() call can bring more events than --count still wants. */
	if (o->out_failed || (o->count && o->seen >= o->count))
		return;
	o->seen++;
	if (o->json) {
		char buf[2048];
		if (microseg_event_to_json(ev, buf, sizeof(buf)) >= 0)
			printf("%s\n", buf);
	} else {
		print_row(ev);
	}
	/* Each event as it comes, also into a pipe. */
	if (fflush(stdout) == EOF)
		o->out_failed = true;
}

/* --endpoint: an interface or endpoint name, else a numeric id of a known endpoint. */
static int resolve_endpoint(struct cli *cli, struct microseg_ctx *ctx, const char *arg, uint32_t *id)
{
	struct microseg_endpoint *ep, **eps = NULL;
	size_t n = 0;
	uint32_t v;
	int err;

	if (!microseg_endpoint_lookup(ctx, arg, &ep)) {
		*id = microseg_endpoint_id(ep);
		return 0;
	}
	if (parse_u32(arg, 1, UINT32_MAX, &v)) {
		err = list_endpoints(ctx, &eps, &n);
		if (err)
			return cli_fail(cli, ctx, "endpoint list", err);
		for (size_t i = 0; i < n; i++)
			if (microseg_endpoint_id(eps[i]) == v)
				*id = v;
		free(eps);
		if (*id)
			return 0;
	}
	return cli_error("observe: no endpoint '%s' in instance '%s' (an interface, endpoint name or id)", arg,
			 microseg_ctx_instance(ctx));
}

int cmd_observe(struct cli *cli, int argc, char **argv)
{
	enum { O_JSON = OPT_SUB_BASE, O_ENDPOINT, O_IDENTITY, O_VERDICT, O_COUNT, O_TIMEOUT };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ "identity", required_argument, NULL, O_IDENTITY },
		{ "verdict", required_argument, NULL, O_VERDICT },
		{ "count", required_argument, NULL, O_COUNT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		MSEGCTL_COMMON_OPTIONS,
		{ 0 },
	};
	MICROSEG_OPTS(microseg_event_filter, filter);
	struct observe o = { .json = false };
	const char *endpoint = NULL;
	struct microseg_ctx *ctx;
	int64_t timeout_ms = 0;
	int c, err, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case O_JSON:
			o.json = true;
			break;
		case O_ENDPOINT:
			endpoint = optarg;
			break;
		case O_IDENTITY:
			if (!parse_u32(optarg, 1, MICROSEG_IDENTITY_LOCAL_MAX, &filter.identity))
				return cli_usage(cli, "bad --identity '%s' (a number, 1..%u)", optarg,
						 MICROSEG_IDENTITY_LOCAL_MAX);
			break;
		case O_VERDICT:
			if (!strcmp(optarg, "forwarded"))
				filter.verdicts = MICROSEG_EVENT_F_FORWARDED;
			else if (!strcmp(optarg, "dropped"))
				filter.verdicts = MICROSEG_EVENT_F_DROPPED;
			else
				return cli_usage(cli, "bad --verdict '%s' (forwarded or dropped)", optarg);
			break;
		case O_COUNT:
			if (!parse_u32(optarg, 1, UINT32_MAX, &o.count))
				return cli_usage(cli, "bad --count '%s' (a number of events, at least 1)", optarg);
			break;
		case O_TIMEOUT:
			if (!parse_seconds(optarg, &timeout_ms))
				return cli_usage(cli, "bad --timeout '%s' (seconds, more than 0)", optarg);
			break;
		default:
			return cli_stop(cli, c);
		}
	}
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	if (endpoint && (rc = resolve_endpoint(cli, ctx, endpoint, &filter.endpoint_id)))
		goto out;
	struct microseg_status st = { .sz = sizeof(st) };
	if (!microseg_ctx_status(ctx, &st) && st.event_rate == 0)
		fprintf(stderr, "msegctl: note: event reporting is off in instance '%s' (rate 0): no events will come\n",
			microseg_ctx_instance(ctx));

	/* Signals end the wait (no SA_RESTART: poll returns EINTR) and the loop. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe shows as a failed write instead */

	err = microseg_events_subscribe(ctx, &filter, on_event, &o);
	if (err) {
		rc = cli_fail(cli, ctx, "subscribe to events", err);
		goto out;
	}
	if (!o.json) {
		printf("%-12s  %-14s  %-7s  %-46s  %-10s  %-9s  %-14s  %s\n", "TIME", "ENDPOINT", "DIR",
		       "SOURCE (IDENTITY) -> DESTINATION (IDENTITY)", "PROTO", "VERDICT", "REASON", "RULE");
		fflush(stdout);
	}
	int64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
	while (!stop_signal && !o.out_failed && !(o.count && o.seen >= o.count)) {
		/* Wake up at least once a second: a signal between the check and the wait is not lost
		 * for longer than that. */
		int64_t wait = 1000;
		if (deadline) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			if (left < wait)
				wait = left;
		}
		err = microseg_events_process(ctx, (int)wait);
		if (err < 0 && err != -EINTR) {
			rc = cli_fail(cli, ctx, "events", err);
			break;
		}
	}
out:
	microseg_ctx_close(ctx);
	return rc;
}
