// SPDX-License-Identifier: Apache-2.0
/*
 * msegctl, a separate process, looking at the instance this test manages and keeps open:
 *  - `observe --json` while the manager does not subscribe: its JSON lines name the flows the
 *    test makes (one HTTP request client -> server, three pings intruder -> server, dropped),
 *    with the same fields the API gives, and the manager's counters show that every event
 *    written went to msegctl;
 *  - `status` shows the programs' ids and every endpoint attached;
 *  - `metrics --prometheus` shows forwarded counters that moved by K datagrams of S bytes
 *    (within the e2e tier's noise allowance) and values that agree with the manager's;
 *  - what msegctl is built on: a MICROSEG_CTX_F_READ_ONLY context of this process refuses
 *    microseg_events_set_rate() with -EROFS and reads events, endpoint names included.
 */
#include "test_events.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef E2E_MSEGCTL
#define E2E_MSEGCTL "msegctl"
#endif

#define PINGS 3
#define NOISE_PACKETS 10
#define NOISE_BYTES (NOISE_PACKETS * 200)

static const char *msegctl(void)
{
	const char *p = getenv("MICROSEG_E2E_MSEGCTL");

	return p && *p ? p : E2E_MSEGCTL;
}

/* Runs msegctl --instance <ours> args... in the host namespace; fails unless it exits 0. */
static void ctl(struct e2e *t, char *out, size_t outlen, const char *arg, ...)
{
	const char *argv[16];
	va_list ap;
	int n = 0, r;

	argv[n++] = msegctl();
	argv[n++] = "--instance";
	argv[n++] = t->instance;
	argv[n++] = arg;
	va_start(ap, arg);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	r = topo_run(NULL, 15000, out, outlen, argv);
	E2E_CHECK(r == 0, "msegctl %s exited %d: %s", arg, r, out);
}

/* The value of the sample of metric `name` whose labels include endpoint, direction and (if
 * not NULL) reason; fails the test if there is none. */
static uint64_t prom_value(const char *text, const char *name, const char *endpoint,
			   const char *direction, const char *reason)
{
	char ep[96], dir[48], rs[48];
	size_t nlen = strlen(name);

	snprintf(ep, sizeof(ep), "endpoint=\"%s\"", endpoint);
	snprintf(dir, sizeof(dir), "direction=\"%s\"", direction);
	snprintf(rs, sizeof(rs), "reason=\"%s\"", reason ? reason : "");
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *end = strchr(line, '\n'), *close;
		char buf[1024];
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len >= sizeof(buf) || strncmp(line, name, nlen) || line[nlen] != '{')
			continue;
		memcpy(buf, line, len);
		buf[len] = '\0';
		close = strrchr(buf, '}');
		if (!close || !strstr(buf, ep) || !strstr(buf, dir) || (reason && !strstr(buf, rs)))
			continue;
		return strtoull(close + 1, NULL, 10);
	}
	E2E_CHECK(false, "no %s{%s,%s%s%s} in msegctl's metrics:\n%s", name, ep, dir,
		  reason ? "," : "", reason ? rs : "", text);
	return 0;
}

static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		bool left = p == text || !((p[-1] >= '0' && p[-1] <= '9') || (p[-1] >= 'a' && p[-1] <= 'z'));
		bool right = !((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'z'));

		if (left && right)
			return true;
	}
	return false;
}

static void observe(struct ev_setup *s)
{
	const char *argv[] = { msegctl(), "--instance", s->t.instance, "observe", "--json",
			       "--count", "6", "--timeout", "10", NULL };
	static char out[16384];
	struct microseg_event evs[16];
	struct microseg_event_stats st0, st1;
	struct ev_log seen = { 0 };
	struct ev_tuple tu, ping;
	uint16_t lp = ev_next_port();
	uint64_t since;
	size_t n, drops = 0, news = 0;
	const struct microseg_event *eg = NULL, *in = NULL;
	pid_t pid;
	int fd, r;

	e2e_log("phase: observe");
	/* Nothing earlier waits in the ring: msegctl is to read this phase's events only. The
	 * manager reads them away once, then leaves the ring to msegctl. */
	{
		struct ev_log l = { 0 };

		ev_subscribe(&s->t, &l, NULL);
		E2E_OK(&s->t, microseg_events_unsubscribe(s->t.ctx));
	}
	memset(&st0, 0, sizeof(st0));
	st0.sz = sizeof(st0);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &st0));

	pid = topo_spawn(NULL, &fd, argv);
	E2E_CHECK(pid > 0, "spawn msegctl observe: %s", strerror(-pid));
	topo_sleep_ms(500);
	since = ev_realtime_ns();
	/* Six events: "new" at the client's egress and the server's ingress, "new" at the
	 * intruder's egress for its echo, and a drop at the server's ingress for each ping. */
	ev_http_ok(s->a, s->b->v4, EV_HTTP_PORT, lp, "server");
	r = ev_ping(s->c, s->b->v4, PINGS);
	E2E_CHECK(r == 1, "ping from the intruder exited %d, want 1 (no answer)", r);

	r = topo_read_all(fd, out, sizeof(out), 15000);
	close(fd);
	E2E_CHECK(r >= 0, "msegctl observe output: %s", strerror(-r));
	r = topo_wait(pid, 5000);
	E2E_CHECK(r == 0, "msegctl observe exited %d: %s", r, out);
	e2e_log("msegctl observe --json printed:");
	{
		char copy[sizeof(out)], *line, *save = NULL;

		snprintf(copy, sizeof(copy), "%s", out);
		for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			e2e_log("  %.900s", line);
	}

	n = ev_parse_json_lines(out, evs, 16);
	E2E_CHECK(n == 6, "%zu JSON lines, want 6", n);
	seen.v = evs;
	seen.n = n;
	ev_tuple_set(&tu, s->a->v4, lp, s->b->v4, EV_HTTP_PORT, MICROSEG_PROTO_TCP);
	eg = ev_find(&seen, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->a->ep),
		     MICROSEG_DIR_EGRESS, &tu);
	in = ev_find(&seen, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->b->ep),
		     MICROSEG_DIR_INGRESS, &tu);
	ev_expect_event(eg, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->a,
						 .direction = MICROSEG_DIR_EGRESS,
						 .src_identity = s->id_a, .dst_identity = s->id_b,
						 .tuple = &tu, .icmp_type = -1, .since_ns = since });
	ev_expect_event(in, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->b,
						 .direction = MICROSEG_DIR_INGRESS,
						 .rule_id = s->rule_id, .src_identity = s->id_a,
						 .dst_identity = s->id_b, .tuple = &tu, .icmp_type = -1,
						 .since_ns = since });
	memset(&ping, 0, sizeof(ping));
	for (size_t i = 0; i < n; i++) {
		const struct microseg_event *ev = &evs[i];

		if (ev->proto != MICROSEG_PROTO_ICMP)
			continue;
		ev_tuple_set(&ping, s->c->v4, ev->src_port, s->b->v4, ev->src_port,
			     MICROSEG_PROTO_ICMP);
		if (ev->type == MICROSEG_EVENT_DROP) {
			drops++;
			ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_DROP, .ep = s->b,
								 .direction = MICROSEG_DIR_INGRESS,
								 .drop_reason = MICROSEG_DROP_POLICY,
								 .src_identity = s->id_c,
								 .dst_identity = s->id_b, .tuple = &ping,
								 .bytes = 98, .icmp_type = 8,
								 .since_ns = since });
		} else {
			news++;
			ev_expect_event(ev, &(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW,
								 .ep = s->c,
								 .direction = MICROSEG_DIR_EGRESS,
								 .src_identity = s->id_c,
								 .dst_identity = s->id_b, .tuple = &ping,
								 .bytes = 98, .icmp_type = 8,
								 .since_ns = since });
		}
	}
	E2E_CHECK(drops == PINGS && news == 1, "%zu ping drops and %zu 'new', want %d and 1", drops,
		  news, PINGS);

	/* The manager read nothing; what the datapath wrote is what msegctl printed. */
	memset(&st1, 0, sizeof(st1));
	st1.sz = sizeof(st1);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &st1));
	E2E_CHECK(st1.emitted - st0.emitted == n && st1.lost == st0.lost &&
			  st1.rate_limited == st0.rate_limited,
		  "the datapath emitted %llu events (lost +%llu, limited +%llu), msegctl printed %zu",
		  (unsigned long long)(st1.emitted - st0.emitted),
		  (unsigned long long)(st1.lost - st0.lost),
		  (unsigned long long)(st1.rate_limited - st0.rate_limited), n);
	e2e_log("  ok: msegctl observe named the HTTP connection at both ends and the %d dropped "
		"pings", PINGS);
}

static void status(struct ev_setup *s)
{
	struct microseg_status st;
	char out[4096], id_from[16], id_to[16], att[32];

	e2e_log("phase: status");
	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	E2E_OK(&s->t, microseg_ctx_status(s->t.ctx, &st));
	E2E_CHECK(st.endpoints == 3 && st.endpoints_attached == 3 && st.prog_from_container_id &&
			  st.prog_to_container_id,
		  "the manager's status: %u endpoints, %u attached, programs %u %u", st.endpoints,
		  st.endpoints_attached, st.prog_from_container_id, st.prog_to_container_id);
	ctl(&s->t, out, sizeof(out), "status", NULL);
	e2e_log("msegctl status:\n%s", out);
	snprintf(id_from, sizeof(id_from), "%u", st.prog_from_container_id);
	snprintf(id_to, sizeof(id_to), "%u", st.prog_to_container_id);
	snprintf(att, sizeof(att), "%u attached", st.endpoints_attached);
	E2E_CHECK(has_word(out, id_from) && has_word(out, id_to),
		  "msegctl status does not show program ids %s and %s", id_from, id_to);
	E2E_CHECK(strstr(out, att), "msegctl status does not say '%s'", att);
	E2E_CHECK(strstr(out, s->t.instance), "msegctl status does not name the instance");
}

static void metrics(struct ev_setup *s)
{
	const int k = 40, size = 300;
	const uint64_t frame = (uint64_t)size + 42; /* Ethernet, IPv4, UDP */
	static char m0[65536], m1[65536];
	const char *pk = "microseg_endpoint_forwarded_packets_total",
		   *by = "microseg_endpoint_forwarded_bytes_total";
	char port[16], echo[16], n[16], sz[16], before[128], after[128];
	struct microseg_endpoint_stats a_lo, a_hi;
	struct microseg_event_stats e_lo, e_hi;
	uint64_t d, v, drops_lo, drops_hi;

	e2e_log("phase: metrics");
	snprintf(port, sizeof(port), "%d", E2E_SINK_PORT);
	snprintf(echo, sizeof(echo), "%d", E2E_PORT);
	snprintf(n, sizeof(n), "%d", k);
	snprintf(sz, sizeof(sz), "%d", size);
	e2e_peer(s->a->ns, before, sizeof(before), 15000, "udp-count", s->c->v4, echo, NULL);
	ctl(&s->t, m0, sizeof(m0), "metrics", "--prometheus", NULL);
	e2e_peer(s->a->ns, NULL, 0, 15000, "udp-send", s->c->v4, port, n, sz, NULL);
	topo_sleep_ms(300);

	/* The tool's numbers lie between the manager's before and after it. */
	e2e_stats(&s->t, s->a, &a_lo);
	drops_lo = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	memset(&e_lo, 0, sizeof(e_lo));
	e_lo.sz = sizeof(e_lo);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &e_lo));
	ctl(&s->t, m1, sizeof(m1), "metrics", "--prometheus", NULL);
	e2e_stats(&s->t, s->a, &a_hi);
	drops_hi = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	memset(&e_hi, 0, sizeof(e_hi));
	e_hi.sz = sizeof(e_hi);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &e_hi));

	e2e_peer(s->a->ns, after, sizeof(after), 15000, "udp-count", s->c->v4, echo, NULL);
	E2E_CHECK(strtoull(after, NULL, 10) - strtoull(before, NULL, 10) == (unsigned long long)k,
		  "the intruder's sink got %llu of %d datagrams",
		  strtoull(after, NULL, 10) - strtoull(before, NULL, 10), k);

	E2E_CHECK(strstr(m1, "# TYPE microseg_endpoint_forwarded_packets_total counter"),
		  "no TYPE line for the forwarded packets");
	d = prom_value(m1, pk, s->a->name, "egress", NULL) - prom_value(m0, pk, s->a->name, "egress", NULL);
	e2e_log("client egress +%llu packets, +%llu bytes; intruder ingress +%llu packets, +%llu "
		"bytes (%d x %llu-byte frames sent)", (unsigned long long)d,
		(unsigned long long)(prom_value(m1, by, s->a->name, "egress", NULL) -
				     prom_value(m0, by, s->a->name, "egress", NULL)),
		(unsigned long long)(prom_value(m1, pk, s->c->name, "ingress", NULL) -
				     prom_value(m0, pk, s->c->name, "ingress", NULL)),
		(unsigned long long)(prom_value(m1, by, s->c->name, "ingress", NULL) -
				     prom_value(m0, by, s->c->name, "ingress", NULL)),
		k, (unsigned long long)frame);
	E2E_CHECK(d >= (uint64_t)k && d <= (uint64_t)k + NOISE_PACKETS,
		  "client egress packets +%llu, want %d..%d", (unsigned long long)d, k,
		  k + NOISE_PACKETS);
	d = prom_value(m1, by, s->a->name, "egress", NULL) - prom_value(m0, by, s->a->name, "egress", NULL);
	E2E_CHECK(d >= k * frame && d <= k * frame + NOISE_BYTES,
		  "client egress bytes +%llu, want %llu..%llu", (unsigned long long)d,
		  (unsigned long long)(k * frame), (unsigned long long)(k * frame + NOISE_BYTES));
	d = prom_value(m1, pk, s->c->name, "ingress", NULL) - prom_value(m0, pk, s->c->name, "ingress", NULL);
	E2E_CHECK(d >= (uint64_t)k && d <= (uint64_t)k + NOISE_PACKETS,
		  "intruder ingress packets +%llu, want %d..%d", (unsigned long long)d, k,
		  k + NOISE_PACKETS);
	d = prom_value(m1, by, s->c->name, "ingress", NULL) - prom_value(m0, by, s->c->name, "ingress", NULL);
	E2E_CHECK(d >= k * frame && d <= k * frame + NOISE_BYTES,
		  "intruder ingress bytes +%llu, want %llu..%llu", (unsigned long long)d,
		  (unsigned long long)(k * frame), (unsigned long long)(k * frame + NOISE_BYTES));

	v = prom_value(m1, pk, s->a->name, "egress", NULL);
	E2E_CHECK(v >= a_lo.egress_packets && v <= a_hi.egress_packets,
		  "msegctl says %llu client egress packets, the manager %llu..%llu",
		  (unsigned long long)v, (unsigned long long)a_lo.egress_packets,
		  (unsigned long long)a_hi.egress_packets);
	v = prom_value(m1, "microseg_endpoint_dropped_packets_total", s->b->name, "ingress", "policy");
	E2E_CHECK(v >= drops_lo && v <= drops_hi && v >= PINGS,
		  "msegctl says %llu server ingress policy drops, the manager %llu..%llu",
		  (unsigned long long)v, (unsigned long long)drops_lo, (unsigned long long)drops_hi);
	{
		const char *p = strstr(m1, "microseg_events_total{");
		const char *em = p ? strstr(p, "outcome=\"emitted\"} ") : NULL;

		E2E_CHECK(em, "no microseg_events_total{...,outcome=\"emitted\"} in:\n%s", m1);
		v = strtoull(em + strlen("outcome=\"emitted\"} "), NULL, 10);
		E2E_CHECK(v >= e_lo.emitted && v <= e_hi.emitted,
			  "msegctl says %llu events emitted, the manager %llu..%llu",
			  (unsigned long long)v, (unsigned long long)e_lo.emitted,
			  (unsigned long long)e_hi.emitted);
	}
	e2e_log("  ok: msegctl metrics moved by the datagrams sent and agree with the manager");
}

static struct ev_log ro_log = { .store = true };

static void read_only(struct ev_setup *s)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = s->t.instance, .bpffs_dir = s->t.bpffs_dir,
		      .state_dir = s->t.state_dir, .flags = MICROSEG_CTX_F_READ_ONLY);
	struct microseg_ctx *ro = NULL;
	struct microseg_status st_ro, st;
	struct ev_tuple tu;
	uint16_t lp = ev_next_port();
	uint64_t since;
	long long t0;
	int r;

	e2e_log("phase: read-only");
	r = microseg_ctx_open(&o, &ro);
	E2E_CHECK(r == 0, "read-only open next to the manager: %d (%s)", r, microseg_strerror(r));
	r = microseg_events_set_rate(ro, 10, 10);
	E2E_CHECK(r == -EROFS, "set_rate on a read-only context = %d, want -EROFS", r);
	memset(&st_ro, 0, sizeof(st_ro));
	st_ro.sz = sizeof(st_ro);
	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	E2E_CHECK(microseg_ctx_status(ro, &st_ro) == 0, "status of the read-only context");
	E2E_OK(&s->t, microseg_ctx_status(s->t.ctx, &st));
	E2E_CHECK(st_ro.prog_from_container_id == st.prog_from_container_id &&
			  st_ro.prog_to_container_id == st.prog_to_container_id &&
			  st_ro.endpoints == st.endpoints && st_ro.event_rate == st.event_rate,
		  "the read-only context's status differs from the manager's");

	r = microseg_events_subscribe(ro, NULL, ev_record, &ro_log);
	E2E_CHECK(r == 0, "subscribe on the read-only context: %d", r);
	/* Whatever waits from before. */
	while (microseg_events_process(ro, 200) > 0)
		;
	ev_log_clear(&ro_log);
	since = ev_realtime_ns();
	ev_tuple_set(&tu, s->a->v4, lp, s->b->v4, EV_HTTP_PORT, MICROSEG_PROTO_TCP);
	ev_http_ok(s->a, s->b->v4, EV_HTTP_PORT, lp, "server");
	for (t0 = topo_now_ms(); ro_log.n < 2 && topo_now_ms() - t0 < 3000;) {
		r = microseg_events_process(ro, 100);
		E2E_CHECK(r >= 0 || r == -EINTR, "process on the read-only context: %d", r);
	}
	ev_expect_event(ev_find(&ro_log, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->a->ep),
				MICROSEG_DIR_EGRESS, &tu),
			&(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->a,
					     .direction = MICROSEG_DIR_EGRESS,
					     .src_identity = s->id_a, .dst_identity = s->id_b,
					     .tuple = &tu, .icmp_type = -1, .since_ns = since });
	ev_expect_event(ev_find(&ro_log, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s->b->ep),
				MICROSEG_DIR_INGRESS, &tu),
			&(struct ev_expect){ .type = MICROSEG_EVENT_FLOW_NEW, .ep = s->b,
					     .direction = MICROSEG_DIR_INGRESS,
					     .rule_id = s->rule_id, .src_identity = s->id_a,
					     .dst_identity = s->id_b, .tuple = &tu, .icmp_type = -1,
					     .since_ns = since });
	microseg_ctx_close(ro);
	free(ro_log.v);
	e2e_log("  ok: read-only context: -EROFS for set_rate, same status, events with names");
}

int main(void)
{
	struct ev_setup s;

	ev_setup(&s, "evctl");
	E2E_CHECK(access(msegctl(), X_OK) == 0, "msegctl not found at %s (MICROSEG_E2E_MSEGCTL)",
		  msegctl());
	observe(&s);
	status(&s);
	metrics(&s);
	read_only(&s);
	pol_finish(&s.t);
	return 0;
}
