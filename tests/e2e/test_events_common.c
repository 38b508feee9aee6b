// SPDX-License-Identifier: Apache-2.0
/* Shared pieces of the flow visibility end-to-end tests: see test_events.h. */
#include "test_events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUN_TIMEOUT_MS 15000
/* Events per Python run of the JSON checker (argv slots). */
#define JSON_BATCH 48

/*
 * Run with `python3 -c` (in the host namespace for JSON, in an endpoint's for SYNs).
 *   json TEXT...         parses each TEXT as one event object and checks it against the
 *                        README's field list; prints one normalised line per object:
 *                        "type version endpoint_id endpoint ifindex direction verdict reason
 *                        rule_id src_identity dst_identity src dst src_port dst_port proto
 *                        icmp_type bytes time_ns" (type/direction/verdict as the C API's
 *                        numbers, reason as its name or "null", proto as a number, "-" for an
 *                        empty endpoint, icmp_type -1 when absent); exits 1 on the first bad one
 *   syn DST PORT N SPORT0  N TCP SYNs without options on a raw socket, 50 ms apart
 */
static const char helper_py[] =
	"import calendar, json, re, socket, struct, sys, time\n"
	"KEYS = {'time', 'type', 'version', 'endpoint_id', 'endpoint', 'ifindex', 'direction',\n"
	"        'verdict', 'drop_reason', 'rule_id', 'src_identity', 'dst_identity', 'src', 'dst',\n"
	"        'src_port', 'dst_port', 'proto', 'bytes'}\n"
	"INTS = ['version', 'endpoint_id', 'ifindex', 'rule_id', 'src_identity', 'dst_identity',\n"
	"        'src_port', 'dst_port', 'bytes']\n"
	"PROTOS = {'icmp': 1, 'tcp': 6, 'udp': 17, 'icmpv6': 58, 'sctp': 132}\n"
	"REASONS = {'policy', 'policy_deny', 'spoofed_source', 'invalid', 'ct_full',\n"
	"           'redirect_fail', 'other'}\n"
	"TIME = re.compile(r'(\\d{4})-(\\d\\d)-(\\d\\d)T(\\d\\d):(\\d\\d):(\\d\\d)\\.(\\d{9})Z')\n"
	"def bad(text, why):\n"
	"    print('ERROR %s: %s' % (why, text), flush=True)\n"
	"    sys.exit(1)\n"
	"def norm(text):\n"
	"    try:\n"
	"        o = json.loads(text)\n"
	"    except ValueError as e:\n"
	"        bad(text, 'not JSON (%s)' % e)\n"
	"    if not isinstance(o, dict):\n"
	"        bad(text, 'not an object')\n"
	"    icmp = o.get('proto') in ('icmp', 'icmpv6')\n"
	"    want = KEYS | ({'icmp_type'} if icmp else set())\n"
	"    if set(o) != want:\n"
	"        bad(text, 'fields: missing %s, undocumented %s' % (sorted(want - set(o)),\n"
	"                                                          sorted(set(o) - want)))\n"
	"    for k in INTS + (['icmp_type'] if icmp else []):\n"
	"        if type(o[k]) is not int or o[k] < 0:\n"
	"            bad(text, '%s is not a non-negative integer' % k)\n"
	"    for k in ('time', 'type', 'endpoint', 'direction', 'verdict', 'src', 'dst'):\n"
	"        if not isinstance(o[k], str):\n"
	"            bad(text, '%s is not a string' % k)\n"
	"    types = {'new': 1, 'drop': 2}\n"
	"    dirs = {'ingress': 1, 'egress': 2}\n"
	"    verdicts = {'forwarded': 0, 'dropped': 1}\n"
	"    if o['type'] not in types or o['direction'] not in dirs or o['verdict'] not in verdicts:\n"
	"        bad(text, 'type, direction or verdict is not one of the documented words')\n"
	"    r = o['drop_reason']\n"
	"    if o['verdict'] == 'dropped':\n"
	"        if r not in REASONS:\n"
	"            bad(text, 'drop_reason %r is not a documented name' % (r,))\n"
	"    elif r is not None:\n"
	"        bad(text, 'drop_reason of a forwarded packet is not null')\n"
	"    p = o['proto']\n"
	"    if isinstance(p, str):\n"
	"        if p not in PROTOS:\n"
	"            bad(text, 'proto %r is not a documented name' % p)\n"
	"        p = PROTOS[p]\n"
	"    elif type(p) is not int or p in PROTOS.values():\n"
	"        bad(text, 'proto %r: a named protocol must be given by name' % (p,))\n"
	"    for k in ('src', 'dst'):\n"
	"        try:\n"
	"            socket.inet_pton(socket.AF_INET6 if ':' in o[k] else socket.AF_INET, o[k])\n"
	"        except OSError:\n"
	"            bad(text, '%s is not an address' % k)\n"
	"    m = TIME.fullmatch(o['time'])\n"
	"    if not m:\n"
	"        bad(text, 'time is not RFC 3339 UTC with nanoseconds')\n"
	"    g = [int(x) for x in m.groups()]\n"
	"    ns = calendar.timegm((g[0], g[1], g[2], g[3], g[4], g[5], 0, 0, 0)) * 10**9 + g[6]\n"
	"    return ' '.join(str(x) for x in (types[o['type']], o['version'], o['endpoint_id'],\n"
	"        o['endpoint'] or '-', o['ifindex'], dirs[o['direction']], verdicts[o['verdict']],\n"
	"        r if r is not None else 'null', o['rule_id'], o['src_identity'], o['dst_identity'],\n"
	"        o['src'], o['dst'], o['src_port'], o['dst_port'], p, o.get('icmp_type', -1),\n"
	"        o['bytes'], ns))\n"
	"def csum(b):\n"
	"    if len(b) % 2:\n"
	"        b += b'\\0'\n"
	"    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))\n"
	"    while s >> 16:\n"
	"        s = (s & 0xffff) + (s >> 16)\n"
	"    return ~s & 0xffff\n"
	"def syn(dst, port, n, sport0):\n"
	"    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
	"    probe.connect((dst, port))\n"
	"    src = probe.getsockname()[0]\n"
	"    probe.close()\n"
	"    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\n"
	"    for i in range(n):\n"
	"        h = struct.pack('!HHIIBBHHH', sport0 + i, port, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)\n"
	"        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(h))\n"
	"        h = h[:16] + struct.pack('!H', csum(pseudo + h)) + h[18:]\n"
	"        if s.sendto(h, (dst, 0)) != len(h):\n"
	"            sys.exit(1)\n"
	"        time.sleep(0.05)\n"
	"    print('sent %d' % n, flush=True)\n"
	"cmd, a = sys.argv[1], sys.argv[2:]\n"
	"if cmd == 'json':\n"
	"    for text in a:\n"
	"        print(norm(text))\n"
	"elif cmd == 'syn':\n"
	"    syn(a[0], int(a[1]), int(a[2]), int(a[3]))\n"
	"else:\n"
	"    sys.exit(2)\n";

/* ---- setup ---- */

static uint32_t ep_identity(const struct e2e_ep *e)
{
	return microseg_identity_id(microseg_endpoint_identity(e->ep));
}

void ev_setup(struct ev_setup *s, const char *tag)
{
	static const uint16_t http[] = { EV_HTTP_PORT };

	memset(s, 0, sizeof(*s));
	e2e_init(&s->t, tag);
	s->a = e2e_add_ep(&s->t, "client", true);
	s->b = pol_add_ep(&s->t, "server", "server", "prod", NULL, "80", NULL);
	s->c = e2e_add_ep(&s->t, "intruder", false);
	s->id_a = ep_identity(s->a);
	s->id_b = ep_identity(s->b);
	s->id_c = ep_identity(s->c);
	E2E_CHECK(s->id_a && s->id_b && s->id_c && s->id_a != s->id_b && s->id_b != s->id_c &&
			  s->id_a != s->id_c,
		  "identities %u %u %u", s->id_a, s->id_b, s->id_c);
	s->rule = pol_rule_app(&s->t, "server-from-client-http", "server", MICROSEG_DIR_INGRESS,
			       "client", MICROSEG_PROTO_TCP, http, 1);
	s->rule_id = microseg_rule_id(s->rule);
	E2E_CHECK(s->rule_id != 0, "rule id 0");
}

/* ---- recording ---- */

void ev_record(void *user, const struct microseg_event *ev)
{
	struct ev_log *l = user;

	l->calls++;
	if (ev->sz < sizeof(*ev))
		l->bad_sz = true;
	if (!l->store)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct microseg_event *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			/* Not the library's fault; do not pretend events were missing. */
			fprintf(stderr, "FAIL: out of memory recording events\n");
			exit(1);
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *ev;
}

void ev_log_clear(struct ev_log *l)
{
	l->n = 0;
	l->calls = 0;
	l->bad_sz = false;
}

uint64_t ev_pump(struct e2e *t, int quiet_ms, int max_ms)
{
	long long start = topo_now_ms(), last = start;
	uint64_t total = 0;

	for (;;) {
		long long now = topo_now_ms();
		int r;

		if (now - last >= quiet_ms || now - start >= max_ms)
			break;
		r = microseg_events_process(t->ctx, 50);
		if (r == -EINTR)
			continue;
		E2E_CHECK(r >= 0, "microseg_events_process = %d (%s) [%s]", r, microseg_strerror(r),
			  microseg_ctx_last_error(t->ctx));
		if (r > 0) {
			total += (uint64_t)r;
			last = topo_now_ms();
		}
	}
	return total;
}

void ev_subscribe(struct e2e *t, struct ev_log *l, const struct microseg_event_filter *f)
{
	uint64_t old;

	E2E_OK(t, microseg_events_subscribe(t->ctx, f, ev_record, l));
	old = ev_pump(t, 300, 5000);
	if (old)
		e2e_log("  (%llu earlier events read and set aside)", (unsigned long long)old);
	ev_log_clear(l);
}

void ev_tuple_set(struct ev_tuple *tu, const char *src, uint16_t sport, const char *dst,
		  uint16_t dport, uint32_t proto)
{
	memset(tu, 0, sizeof(*tu));
	snprintf(tu->src, sizeof(tu->src), "%s", src);
	snprintf(tu->dst, sizeof(tu->dst), "%s", dst);
	tu->sport = sport;
	tu->dport = dport;
	tu->proto = proto;
}

static bool same_addr(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;

	if (fa != fb || inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
		return false;
	return !memcmp(x, y, fa == AF_INET ? 4 : 16);
}

bool ev_matches(const struct microseg_event *ev, const struct ev_tuple *tu, bool reply)
{
	if (ev->proto != tu->proto)
		return false;
	if (!reply)
		return ev->src_port == tu->sport && ev->dst_port == tu->dport &&
		       same_addr(ev->src_addr, tu->src) && same_addr(ev->dst_addr, tu->dst);
	return ev->src_port == tu->dport && ev->dst_port == tu->sport &&
	       same_addr(ev->src_addr, tu->dst) && same_addr(ev->dst_addr, tu->src);
}

size_t ev_count_tuple(const struct ev_log *l, uint32_t type, const struct ev_tuple *tu)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		if ((!type || l->v[i].type == type) &&
		    (ev_matches(&l->v[i], tu, false) || ev_matches(&l->v[i], tu, true)))
			n++;
	return n;
}

const struct microseg_event *ev_find(const struct ev_log *l, uint32_t type, uint32_t ep_id,
				     uint32_t dir, const struct ev_tuple *tu)
{
	const struct microseg_event *hit = NULL;
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct microseg_event *ev = &l->v[i];

		if (ev->type == type && ev->endpoint_id == ep_id && ev->direction == dir &&
		    ev_matches(ev, tu, false)) {
			hit = hit ? hit : ev;
			n++;
		}
	}
	if (n > 1) {
		ev_dump(l, "more than one matching event");
		E2E_CHECK(n <= 1, "%zu events of type %u at endpoint %u dir %u for %s:%u -> %s:%u", n,
			  type, ep_id, dir, tu->src, tu->sport, tu->dst, tu->dport);
	}
	return hit;
}

const char *ev_str(const struct microseg_event *ev, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%s ep %u (%s, if %u) %s verdict %u reason %u rule %u id %u -> %u %s:%u -> %s:%u "
		 "proto %u icmp %u bytes %u",
		 ev->type == MICROSEG_EVENT_FLOW_NEW ? "NEW" : ev->type == MICROSEG_EVENT_DROP ? "DROP" : "?",
		 ev->endpoint_id, ev->endpoint_name, ev->ifindex,
		 ev->direction == MICROSEG_DIR_INGRESS ? "ingress" :
		 ev->direction == MICROSEG_DIR_EGRESS ? "egress" : "dir?",
		 ev->verdict, ev->drop_reason, ev->rule_id, ev->src_identity, ev->dst_identity,
		 ev->src_addr, ev->src_port, ev->dst_addr, ev->dst_port, ev->proto, ev->icmp_type,
		 ev->bytes);
	return buf;
}

void ev_dump(const struct ev_log *l, const char *why)
{
	char b[512];

	e2e_log("  %s; %zu event(s) recorded:", why, l->n);
	for (size_t i = 0; i < l->n; i++)
		e2e_log("    %s", ev_str(&l->v[i], b, sizeof(b)));
}

uint64_t ev_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ev_expect_event(const struct microseg_event *ev, const struct ev_expect *x)
{
	char b[512];
	const char *s = ev ? ev_str(ev, b, sizeof(b)) : "";
	uint32_t want_ep = microseg_endpoint_id(x->ep->ep);
	uint64_t now = ev_realtime_ns();

	E2E_CHECK(ev, "no event of type %u at %s (%s) for %s:%u -> %s:%u proto %u", x->type,
		  x->ep->name, x->direction == MICROSEG_DIR_INGRESS ? "ingress" : "egress",
		  x->tuple->src, x->tuple->sport, x->tuple->dst, x->tuple->dport, x->tuple->proto);
	E2E_CHECK(ev->sz == sizeof(*ev), "sz %zu, want %zu: %s", ev->sz, sizeof(*ev), s);
	E2E_CHECK(ev->type == x->type, "type: %s", s);
	E2E_CHECK(ev->version >= 1, "version %u: %s", ev->version, s);
	E2E_CHECK(ev->endpoint_id == want_ep, "endpoint id, want %u: %s", want_ep, s);
	E2E_CHECK(ev->ifindex == x->ep->ifindex, "ifindex, want %u: %s", x->ep->ifindex, s);
	E2E_CHECK(!strcmp(ev->endpoint_name, x->ep->name), "endpoint name, want %s: %s",
		  x->ep->name, s);
	E2E_CHECK(ev->direction == x->direction, "direction, want %u: %s", x->direction, s);
	E2E_CHECK(ev->verdict == (x->type == MICROSEG_EVENT_DROP ? MICROSEG_DROPPED : MICROSEG_FORWARDED),
		  "verdict: %s", s);
	E2E_CHECK(ev->drop_reason == x->drop_reason, "drop reason, want %u: %s", x->drop_reason, s);
	E2E_CHECK(ev->rule_id == x->rule_id, "rule id, want %u: %s", x->rule_id, s);
	E2E_CHECK(ev->src_identity == x->src_identity && ev->dst_identity == x->dst_identity,
		  "identities, want %u -> %u: %s", x->src_identity, x->dst_identity, s);
	E2E_CHECK(ev_matches(ev, x->tuple, false), "tuple, want %s:%u -> %s:%u proto %u: %s",
		  x->tuple->src, x->tuple->sport, x->tuple->dst, x->tuple->dport, x->tuple->proto, s);
	if (x->bytes)
		E2E_CHECK(ev->bytes == x->bytes, "bytes, want %u: %s", x->bytes, s);
	else
		E2E_CHECK(ev->bytes >= 42, "bytes, want at least Ethernet + IP + UDP: %s", s);
	if (x->icmp_type >= 0)
		E2E_CHECK(ev->icmp_type == (uint32_t)x->icmp_type, "icmp type, want %d: %s",
			  x->icmp_type, s);
	E2E_CHECK(ev->time_ns + 1000000000u >= x->since_ns && ev->time_ns <= now + 1000000000u,
		  "time %llu ns not within the traffic's time (%llu .. %llu): %s",
		  (unsigned long long)ev->time_ns, (unsigned long long)x->since_ns,
		  (unsigned long long)now, s);
}

/* ---- traffic ---- */

uint16_t ev_next_port(void)
{
	static uint16_t next = 42000;

	return next++;
}

void ev_http_ok(const struct e2e_ep *from, const char *addr, int port, uint16_t local_port,
		const char *server_name)
{
	char url[96], lp[16], out[512], want[96];
	bool v6 = strchr(addr, ':') != NULL;
	int r;

	if (v6)
		snprintf(url, sizeof(url), "http://[%s]:%d/", addr, port);
	else
		snprintf(url, sizeof(url), "http://%s:%d/", addr, port);
	snprintf(lp, sizeof(lp), "%u", local_port);
	snprintf(want, sizeof(want), "policy-e2e %s %d\n|200", server_name, port);
	r = topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), "curl", v6 ? "-6" : "-4", "-s",
		      "-g", "--noproxy", "*", "--local-port", lp, "--connect-timeout", "3",
		      "--max-time", "5", "-w", "|%{http_code}", url, NULL);
	E2E_CHECK(r == 0 && !strcmp(out, want), "HTTP %s -> %s from port %s: curl exit %d, '%s'",
		  from->name, url, lp, r, out);
}

void ev_raw_syns(const struct e2e_ep *from, const char *addr, int port, int n, uint16_t sport0)
{
	char p[16], c[16], sp[16], out[128], want[32];
	int r;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(c, sizeof(c), "%d", n);
	snprintf(sp, sizeof(sp), "%u", sport0);
	snprintf(want, sizeof(want), "sent %d\n", n);
	r = topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), e2e_python(), "-c", helper_py,
		      "syn", addr, p, c, sp, NULL);
	E2E_CHECK(r == 0 && !strcmp(out, want), "raw SYNs from %s to %s:%d: exit %d, '%s'",
		  from->name, addr, port, r, out);
}

int ev_ping(const struct e2e_ep *from, const char *addr, int count)
{
	char c[16], out[1024];

	snprintf(c, sizeof(c), "%d", count);
	return topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), "ping", "-n", "-q", "-c", c,
			 "-i", "0.2", "-W", "1", addr, NULL);
}

/* ---- JSON ---- */

static const char *reason_word(uint32_t r)
{
	switch (r) {
	case MICROSEG_DROP_INVALID: return "invalid";
	case MICROSEG_DROP_POLICY: return "policy";
	case MICROSEG_DROP_POLICY_DENY: return "policy_deny";
	case MICROSEG_DROP_SPOOFED_SOURCE: return "spoofed_source";
	case MICROSEG_DROP_CT_FULL: return "ct_full";
	case MICROSEG_DROP_REDIRECT_FAIL: return "redirect_fail";
	default: return "other";
	}
}

/* One normalised line of the checker, read back. */
struct norm {
	unsigned type, version, endpoint_id, ifindex, direction, verdict, rule_id, src_id, dst_id;
	unsigned sport, dport, proto, bytes;
	int icmp_type;
	unsigned long long time_ns;
	char endpoint[MICROSEG_ENDPOINT_NAME_MAX + 2], reason[32];
	char src[MICROSEG_ADDR_STRLEN], dst[MICROSEG_ADDR_STRLEN];
};

static bool norm_parse(const char *line, struct norm *o)
{
	memset(o, 0, sizeof(*o));
	return sscanf(line, "%u %u %u %64s %u %u %u %31s %u %u %u %45s %45s %u %u %u %d %u %llu",
		      &o->type, &o->version, &o->endpoint_id, o->endpoint, &o->ifindex,
		      &o->direction, &o->verdict, o->reason, &o->rule_id, &o->src_id, &o->dst_id,
		      o->src, o->dst, &o->sport, &o->dport, &o->proto, &o->icmp_type, &o->bytes,
		      &o->time_ns) == 19;
}

/* Runs the checker on texts; fills out (one line per text, '\n'-separated). */
static void run_checker(const char *const *texts, size_t n, char *out, size_t outlen)
{
	const char *argv[JSON_BATCH + 5];
	size_t k = 0;
	int r;

	argv[k++] = e2e_python();
	argv[k++] = "-c";
	argv[k++] = helper_py;
	argv[k++] = "json";
	for (size_t i = 0; i < n; i++)
		argv[k++] = texts[i];
	argv[k] = NULL;
	r = topo_run(NULL, RUN_TIMEOUT_MS, out, outlen, argv);
	E2E_CHECK(r == 0, "JSON checker exited %d: %s", r, out);
}

void ev_check_json(const struct microseg_event *evs, size_t n)
{
	static char texts[JSON_BATCH][1024];
	const char *ptrs[JSON_BATCH];
	char out[JSON_BATCH * 300];

	for (size_t base = 0; base < n; base += JSON_BATCH) {
		size_t m = n - base < JSON_BATCH ? n - base : JSON_BATCH;
		char *line, *save = NULL;
		size_t i = 0;

		for (size_t j = 0; j < m; j++) {
			const struct microseg_event *ev = &evs[base + j];
			char small[1024];
			int len = microseg_event_to_json(ev, texts[j], sizeof(texts[j]));

			E2E_CHECK(len > 0 && (size_t)len == strlen(texts[j]),
				  "microseg_event_to_json = %d (length %zu)", len, strlen(texts[j]));
			/* The length it returns does not include the NUL: a buffer of exactly that
			 * size is too small, one more byte is enough. */
			E2E_CHECK(microseg_event_to_json(ev, small, (size_t)len) == -ENOSPC,
				  "microseg_event_to_json into %d bytes did not say -ENOSPC", len);
			E2E_CHECK(microseg_event_to_json(ev, small, (size_t)len + 1) == len &&
					  !strcmp(small, texts[j]),
				  "microseg_event_to_json into %d bytes differs", len + 1);
			ptrs[j] = texts[j];
		}
		run_checker(ptrs, m, out, sizeof(out));
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
			const struct microseg_event *ev = &evs[base + i];
			struct norm o;
			const char *want_reason = ev->verdict == MICROSEG_DROPPED ?
							  reason_word(ev->drop_reason) : "null";
			bool icmp = ev->proto == MICROSEG_PROTO_ICMP || ev->proto == MICROSEG_PROTO_ICMPV6;

			E2E_CHECK(i < m, "JSON checker printed too many lines");
			E2E_CHECK(norm_parse(line, &o), "JSON checker line '%s'", line);
			E2E_CHECK(o.type == ev->type && o.version == ev->version &&
					  o.endpoint_id == ev->endpoint_id &&
					  !strcmp(o.endpoint, ev->endpoint_name[0] ? ev->endpoint_name : "-") &&
					  o.ifindex == ev->ifindex && o.direction == ev->direction &&
					  o.verdict == ev->verdict && !strcmp(o.reason, want_reason) &&
					  o.rule_id == ev->rule_id && o.src_id == ev->src_identity &&
					  o.dst_id == ev->dst_identity && same_addr(o.src, ev->src_addr) &&
					  same_addr(o.dst, ev->dst_addr) && o.sport == ev->src_port &&
					  o.dport == ev->dst_port && o.proto == ev->proto &&
					  o.icmp_type == (icmp ? (int)ev->icmp_type : -1) &&
					  o.bytes == ev->bytes && o.time_ns == ev->time_ns,
				  "JSON '%s' says '%s', the struct something else", texts[i], line);
		}
		E2E_CHECK(i == m, "JSON checker printed %zu lines for %zu objects", i, m);
	}
}

size_t ev_parse_json_lines(const char *text, struct microseg_event *out, size_t cap)
{
	char *copy = strdup(text), *line, *save = NULL;
	const char *texts[JSON_BATCH];
	static char res[JSON_BATCH * 300];
	size_t n = 0, m = 0, lines = 0;

	E2E_CHECK(copy, "out of memory");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (lines++ < JSON_BATCH)
			texts[m++] = line;
	E2E_CHECK(lines <= JSON_BATCH, "%zu JSON lines, more than the checker takes", lines);
	if (m)
		run_checker(texts, m, res, sizeof(res));
	save = NULL;
	for (line = m ? strtok_r(res, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		struct norm o;
		struct microseg_event *ev;

		E2E_CHECK(norm_parse(line, &o), "JSON checker line '%s'", line);
		if (n >= cap) {
			n++;
			continue;
		}
		ev = &out[n++];
		memset(ev, 0, sizeof(*ev));
		ev->sz = sizeof(*ev);
		ev->type = o.type;
		ev->version = o.version;
		ev->time_ns = o.time_ns;
		ev->endpoint_id = o.endpoint_id;
		ev->ifindex = o.ifindex;
		ev->direction = o.direction;
		ev->verdict = o.verdict;
		for (uint32_t r = 1; r < MICROSEG_DROP_REASONS; r++)
			if (o.verdict == MICROSEG_DROPPED && !strcmp(reason_word(r), o.reason) &&
			    strcmp(o.reason, "other"))
				ev->drop_reason = r;
		ev->rule_id = o.rule_id;
		ev->src_identity = o.src_id;
		ev->dst_identity = o.dst_id;
		snprintf(ev->src_addr, sizeof(ev->src_addr), "%s", o.src);
		snprintf(ev->dst_addr, sizeof(ev->dst_addr), "%s", o.dst);
		ev->src_port = (uint16_t)o.sport;
		ev->dst_port = (uint16_t)o.dport;
		ev->proto = o.proto;
		ev->icmp_type = o.icmp_type < 0 ? 0 : (uint32_t)o.icmp_type;
		ev->bytes = o.bytes;
		if (strcmp(o.endpoint, "-"))
			snprintf(ev->endpoint_name, sizeof(ev->endpoint_name), "%.*s",
				 (int)sizeof(ev->endpoint_name) - 1, o.endpoint);
	}
	free(copy);
	E2E_CHECK(n == m, "JSON checker gave %zu lines for %zu", n, m);
	return n;
}

/* ---- process ---- */

long ev_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	E2E_CHECK(f, "open /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	E2E_CHECK(kib > 0, "no VmRSS in /proc/self/status");
	return kib;
}
