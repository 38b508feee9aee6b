// SPDX-License-Identifier: Apache-2.0
/* Shared pieces of the policy end-to-end tests: see test_policy.h. */
#include "test_policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef POL_FIXTURES_DIR
#define POL_FIXTURES_DIR "policy"
#endif

#define RUN_TIMEOUT_MS 15000

/*
 * The traffic helper, run with `python3 -c` inside a namespace. Exit codes: 0 success, 3
 * blocked (no answer in time), anything else a failure of the helper itself, so that a broken
 * tool never passes for a policy that works.
 *   serve NAME TCP_PORTS UDP_PORTS   HTTP on each TCP port (body "policy-e2e NAME PORT"),
 *                                    UDP answers ("answer:" + query) on each UDP port, dual
 *                                    stack; "-" for none; prints "ready" once all are bound
 *   udp-query ADDR PORT TIMEOUT      one query, checks the answer
 *   count-sink PORT SECONDS          accepts one TCP connection, prints "<ms> <bytes>" every
 *                                    50 ms (CLOCK_MONOTONIC), then "end"
 *   stream-source ADDR PORT SECONDS  writes as fast as a small pacing allows, never blocks on
 *                                    a stalled connection, prints the bytes written
 */
static const char helper_py[] =
	"import os, select, socket, sys, threading, time\n"
	"def dual(kind, port):\n"
	"    s = socket.socket(socket.AF_INET6, kind)\n"
	"    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
	"    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
	"    s.bind(('::', port))\n"
	"    return s\n"
	"def ports(arg):\n"
	"    return [] if arg == '-' else [int(p) for p in arg.split(',')]\n"
	"def http_one(c, body):\n"
	"    try:\n"
	"        c.settimeout(5)\n"
	"        data = b''\n"
	"        while b'\\r\\n\\r\\n' not in data and len(data) < 65536:\n"
	"            d = c.recv(4096)\n"
	"            if not d:\n"
	"                return\n"
	"            data += d\n"
	"        c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n'\n"
	"                  b'Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body)\n"
	"    except OSError:\n"
	"        pass\n"
	"    finally:\n"
	"        c.close()\n"
	"def http_loop(srv, body):\n"
	"    while True:\n"
	"        c, _ = srv.accept()\n"
	"        threading.Thread(target=http_one, args=(c, body), daemon=True).start()\n"
	"def serve(name, tcp, udp):\n"
	"    for p in ports(tcp):\n"
	"        srv = dual(socket.SOCK_STREAM, p)\n"
	"        srv.listen(64)\n"
	"        body = b'policy-e2e %s %d\\n' % (name.encode(), p)\n"
	"        threading.Thread(target=http_loop, args=(srv, body), daemon=True).start()\n"
	"    us = [dual(socket.SOCK_DGRAM, p) for p in ports(udp)]\n"
	"    print('ready', flush=True)\n"
	"    while True:\n"
	"        if not us:\n"
	"            time.sleep(3600)\n"
	"            continue\n"
	"        r, _, _ = select.select(us, [], [])\n"
	"        for s in r:\n"
	"            data, peer = s.recvfrom(65535)\n"
	"            s.sendto(b'answer:' + data, peer)\n"
	"def udp_query(addr, port, timeout):\n"
	"    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)\n"
	"    s.settimeout(timeout)\n"
	"    token = b'q-%d-%d' % (os.getpid(), time.monotonic_ns())\n"
	"    s.sendto(token, (addr, port))\n"
	"    try:\n"
	"        data, _ = s.recvfrom(65535)\n"
	"    except socket.timeout:\n"
	"        print('no answer', flush=True)\n"
	"        sys.exit(3)\n"
	"    if data != b'answer:' + token:\n"
	"        print('wrong answer %r' % data, flush=True)\n"
	"        sys.exit(1)\n"
	"    print('answered', flush=True)\n"
	"def count_sink(port, seconds):\n"
	"    srv = dual(socket.SOCK_STREAM, port)\n"
	"    srv.listen(1)\n"
	"    print('ready', flush=True)\n"
	"    srv.settimeout(10)\n"
	"    c, _ = srv.accept()\n"
	"    c.setblocking(False)\n"
	"    total, nextp = 0, 0.0\n"
	"    end = time.monotonic() + seconds\n"
	"    while True:\n"
	"        now = time.monotonic()\n"
	"        if now >= nextp:\n"
	"            print('%d %d' % (int(now * 1000), total), flush=True)\n"
	"            nextp = now + 0.05\n"
	"        if now >= end:\n"
	"            break\n"
	"        r, _, _ = select.select([c], [], [], 0.01)\n"
	"        if not r:\n"
	"            continue\n"
	"        try:\n"
	"            d = c.recv(1 << 16)\n"
	"        except BlockingIOError:\n"
	"            continue\n"
	"        except OSError:\n"
	"            break\n"
	"        if not d:\n"
	"            break\n"
	"        total += len(d)\n"
	"    print('%d %d' % (int(time.monotonic() * 1000), total))\n"
	"    print('end', flush=True)\n"
	"def stream_source(addr, port, seconds):\n"
	"    s = socket.create_connection((addr, port), timeout=3)\n"
	"    s.setblocking(False)\n"
	"    buf, total = b's' * 8192, 0\n"
	"    end = time.monotonic() + seconds\n"
	"    while time.monotonic() < end:\n"
	"        try:\n"
	"            total += s.send(buf)\n"
	"        except BlockingIOError:\n"
	"            pass\n"
	"        except OSError:\n"
	"            break\n"
	"        time.sleep(0.002)\n"
	"    print(total, flush=True)\n"
	"    os._exit(0)\n"
	"cmd, a = sys.argv[1], sys.argv[2:]\n"
	"if cmd == 'serve':\n"
	"    serve(a[0], a[1], a[2])\n"
	"elif cmd == 'udp-query':\n"
	"    udp_query(a[0], int(a[1]), float(a[2]))\n"
	"elif cmd == 'count-sink':\n"
	"    count_sink(int(a[0]), float(a[1]))\n"
	"elif cmd == 'stream-source':\n"
	"    stream_source(a[0], int(a[1]), float(a[2]))\n"
	"else:\n"
	"    sys.exit(2)\n";

static int n_failures;

void pol_mismatch(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n_failures++;
	e2e_log("MISMATCH #%d: %s", n_failures, line);
}

int pol_failures(void)
{
	return n_failures;
}

void pol_finish(struct e2e *t)
{
	E2E_CHECK(n_failures == 0, "%d policy check(s) failed (lines with MISMATCH above)",
		  n_failures);
	e2e_finish(t);
}

const char *pol_addr(const struct e2e_ep *e, enum pol_fam fam)
{
	return fam == POL_V6 ? e->v6 : e->v4;
}

/* ---- endpoints ---- */

static size_t make_labels(char buf[][MICROSEG_LABEL_MAX + 1], const char **labels,
			  const char *app, const char *k8s_ns, const char *const *extra)
{
	size_t n = 0;

	snprintf(buf[n], sizeof(buf[n]), "k8s:app=%s", app);
	labels[n] = buf[n];
	n++;
	snprintf(buf[n], sizeof(buf[n]), "k8s:io.kubernetes.pod.namespace=%s", k8s_ns);
	labels[n] = buf[n];
	n++;
	for (size_t i = 0; extra && extra[i] && n < 8; i++) {
		snprintf(buf[n], sizeof(buf[n]), "%s", extra[i]);
		labels[n] = buf[n];
		n++;
	}
	return n;
}

struct microseg_identity *pol_identity(struct e2e *t, const char *app, const char *k8s_ns,
				       const char *const *extra)
{
	char buf[8][MICROSEG_LABEL_MAX + 1];
	const char *labels[8];
	size_t n = make_labels(buf, labels, app, k8s_ns, extra);
	struct microseg_identity *id = NULL;

	E2E_OK(t, microseg_identity_get(t->ctx, labels, n, &id));
	return id;
}

pid_t pol_serve(const char *ns, const char *name, const char *tcp_ports, const char *udp_ports)
{
	const char *argv[] = { e2e_python(), "-c", helper_py, "serve", name,
			       tcp_ports ? tcp_ports : "-", udp_ports ? udp_ports : "-", NULL };
	char what[64];

	snprintf(what, sizeof(what), "server %s", name);
	return e2e_spawn_ready(ns, argv, NULL, what);
}

struct e2e_ep *pol_add_ep(struct e2e *t, const char *nick, const char *app, const char *k8s_ns,
			  const char *const *extra, const char *tcp_ports, const char *udp_ports)
{
	struct microseg_identity *id = pol_identity(t, app, k8s_ns, extra);
	struct e2e_ep *e = e2e_add_ep_ex(t, nick, nick, id);

	/* The endpoint holds its own reference. */
	E2E_OK(t, microseg_identity_put(t->ctx, id));
	if (tcp_ports || udp_ports)
		e->server = pol_serve(e->ns, e->app, tcp_ports, udp_ports);
	return e;
}

/* ---- raw traffic ---- */

int pol_http(const struct e2e_ep *from, const char *addr, int port, const char *src,
	     const char *name, char *what, size_t wlen)
{
	char url[96], out[512], want[96];
	const char *argv[24];
	int n = 0, r;
	bool v6 = strchr(addr, ':') != NULL;

	if (v6)
		snprintf(url, sizeof(url), "http://[%s]:%d/", addr, port);
	else
		snprintf(url, sizeof(url), "http://%s:%d/", addr, port);
	argv[n++] = "curl";
	argv[n++] = v6 ? "-6" : "-4";
	argv[n++] = "-s"; /* the exit code and the log line say what went wrong */
	argv[n++] = "-g";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	argv[n++] = "--connect-timeout";
	argv[n++] = POL_CONNECT_TIMEOUT;
	argv[n++] = "--max-time";
	argv[n++] = "5";
	if (src) {
		argv[n++] = "--interface";
		argv[n++] = src;
	}
	argv[n++] = "-w";
	argv[n++] = "|%{http_code}";
	argv[n++] = url;
	argv[n] = NULL;
	snprintf(want, sizeof(want), "policy-e2e %s %d\n|200", name, port);
	{
		long long t0 = topo_now_ms();

		r = topo_run(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), argv);
		if (r == 0 && !strcmp(out, want)) {
			snprintf(what, wlen, "HTTP 200 from %s (%lld ms)", name,
				 topo_now_ms() - t0);
			return 1;
		}
		/* 28: timed out (dropped SYN), 7: could not connect. Anything else, or an answer
		 * from the wrong server, is not a policy verdict. */
		if (r == 28 || r == 7) {
			snprintf(what, wlen, "blocked: curl exit %d after %lld ms", r,
				 topo_now_ms() - t0);
			return 0;
		}
		snprintf(what, wlen, "curl exit %d, output '%s'", r, out);
		return -1;
	}
}

int pol_udp(const struct e2e_ep *from, const char *addr, int port, char *what, size_t wlen)
{
	char p[16], out[256];
	int r;

	snprintf(p, sizeof(p), "%d", port);
	r = topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), e2e_python(), "-c", helper_py,
		      "udp-query", addr, p, POL_CONNECT_TIMEOUT, NULL);
	if (out[0] && out[strlen(out) - 1] == '\n')
		out[strlen(out) - 1] = '\0';
	snprintf(what, wlen, "udp-query exit %d: %s", r, out);
	return r == 0 ? 1 : r == 3 ? 0 : -1;
}

int pol_ping(const struct e2e_ep *from, const char *addr, char *what, size_t wlen)
{
	char out[1024];
	int r;

	r = topo_runl(from->ns, RUN_TIMEOUT_MS, out, sizeof(out), "ping", "-n", "-q", "-c", "1",
		      "-W", POL_CONNECT_TIMEOUT, addr, NULL);
	/* ping: 0 answered, 1 no answer, 2 any other error. */
	snprintf(what, wlen, "ping exit %d", r);
	return r == 0 ? 1 : r == 1 ? 0 : -1;
}

/* ---- checks ---- */

uint32_t pol_explain(struct e2e *t, const char *src, const char *dst, uint32_t proto,
		     uint16_t port, bool allow)
{
	MICROSEG_OPTS(microseg_explain_query, q, .src = src, .dst = dst, .proto = proto,
		      .port = port);
	struct microseg_explain_result res;
	int r;

	memset(&res, 0, sizeof(res));
	res.sz = sizeof(res);
	r = microseg_policy_explain(t->ctx, &q, &res);
	if (r < 0) {
		pol_mismatch("explain %s -> %s proto %u port %u: %d (%s) [%s]", src, dst, proto, port,
			     r, microseg_strerror(r), microseg_ctx_last_error(t->ctx));
		return MICROSEG_VERDICT_DENIED;
	}
	if ((res.verdict == MICROSEG_VERDICT_ALLOWED) != allow)
		pol_mismatch("explain %s -> %s proto %u port %u says %s, traffic says %s: %s", src,
			     dst, proto, port,
			     res.verdict == MICROSEG_VERDICT_ALLOWED ? "allowed" : "denied",
			     allow ? "allowed" : "denied", res.text);
	return res.verdict;
}

static void verdict(const char *flow, int got, bool allow, const char *what)
{
	if (got == (allow ? 1 : 0))
		e2e_log("  ok: %s %s (%s)", flow, allow ? "allowed" : "denied", what);
	else
		pol_mismatch("%s: want %s, got %s", flow, allow ? "allowed" : "denied", what);
}

void pol_expect_tcp(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		    enum pol_fam fam, int port, bool allow)
{
	char flow[160], what[640];
	int got;

	snprintf(flow, sizeof(flow), "tcp %s -> %s [%s]:%d", from->app, to->app,
		 pol_addr(to, fam), port);
	got = pol_http(from, pol_addr(to, fam), port, NULL, to->app, what, sizeof(what));
	verdict(flow, got, allow, what);
	pol_explain(t, from->name, to->name, MICROSEG_PROTO_TCP, (uint16_t)port, allow);
	pol_explain(t, from->name, pol_addr(to, fam), MICROSEG_PROTO_TCP, (uint16_t)port, allow);
}

void pol_expect_tcp_addr(struct e2e *t, const struct e2e_ep *from, const char *addr,
			 const char *name, int port, bool allow)
{
	char flow[160], what[640];
	int got;

	snprintf(flow, sizeof(flow), "tcp %s -> %s [%s]:%d", from->app, name, addr, port);
	got = pol_http(from, addr, port, NULL, name, what, sizeof(what));
	verdict(flow, got, allow, what);
	pol_explain(t, from->name, addr, MICROSEG_PROTO_TCP, (uint16_t)port, allow);
}

void pol_expect_http_raw(const struct e2e_ep *from, const char *addr, int port, const char *src,
			 const char *name, bool allow)
{
	char flow[200], what[640];
	int got;

	snprintf(flow, sizeof(flow), "tcp %s (source %s) -> %s [%s]:%d", from->app,
		 src ? src : "default", name, addr, port);
	got = pol_http(from, addr, port, src, name, what, sizeof(what));
	verdict(flow, got, allow, what);
}

void pol_expect_udp(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		    enum pol_fam fam, int port, bool allow)
{
	char flow[160], what[400];
	int got;

	snprintf(flow, sizeof(flow), "udp %s -> %s [%s]:%d", from->app, to->app,
		 pol_addr(to, fam), port);
	got = pol_udp(from, pol_addr(to, fam), port, what, sizeof(what));
	verdict(flow, got, allow, what);
	pol_explain(t, from->name, to->name, MICROSEG_PROTO_UDP, (uint16_t)port, allow);
	pol_explain(t, from->name, pol_addr(to, fam), MICROSEG_PROTO_UDP, (uint16_t)port, allow);
}

void pol_expect_ping(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		     enum pol_fam fam, bool allow)
{
	char flow[160], what[400];
	uint32_t proto = fam == POL_V6 ? MICROSEG_PROTO_ICMPV6 : MICROSEG_PROTO_ICMP;
	uint16_t type = fam == POL_V6 ? 128 : 8; /* echo request */
	int got;

	snprintf(flow, sizeof(flow), "ping %s -> %s %s", from->app, to->app, pol_addr(to, fam));
	got = pol_ping(from, pol_addr(to, fam), what, sizeof(what));
	verdict(flow, got, allow, what);
	pol_explain(t, from->name, to->name, proto, type, allow);
	pol_explain(t, from->name, pol_addr(to, fam), proto, type, allow);
}

void pol_check_gateway_neigh(const struct e2e_ep *e)
{
	char out[512];
	int r;

	r = topo_runl(e->ns, RUN_TIMEOUT_MS, out, sizeof(out), "ip", "-6", "neigh", "show",
		      MICROSEG_GATEWAY_IPV6, "dev", "eth0", NULL);
	if (out[0] && out[strlen(out) - 1] == '\n')
		out[strlen(out) - 1] = '\0';
	if (r == 0 && strstr(out, "lladdr") &&
	    (strstr(out, "REACHABLE") || strstr(out, "STALE") || strstr(out, "DELAY") ||
	     strstr(out, "PROBE")))
		e2e_log("  ok: %s resolved its IPv6 gateway: %s", e->app, out);
	else
		pol_mismatch("%s: neighbour entry of the IPv6 gateway is '%s' (ip exit %d): "
			     "neighbour discovery did not get through", e->app, out, r);
}

/* ---- rules ---- */

struct microseg_rule *pol_rule_app(struct e2e *t, const char *name, const char *sel_app,
				   uint32_t dir, const char *peer_app, uint32_t proto,
				   const uint16_t *ports, size_t n_ports)
{
	char sel[96], peer_l[96];
	const char *sel_labels[1] = { sel }, *peer_labels[1] = { peer_l };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR };
	struct microseg_port pv[8];
	struct microseg_rule_section sec = { .direction = dir, .action = MICROSEG_ACTION_ALLOW };
	struct microseg_rule *rule = NULL;

	E2E_CHECK(n_ports <= 8, "too many ports");
	snprintf(sel, sizeof(sel), "k8s:app=%s", sel_app);
	if (peer_app) {
		snprintf(peer_l, sizeof(peer_l), "k8s:app=%s", peer_app);
		peer.selector.match_labels = peer_labels;
		peer.selector.n_match_labels = 1;
		sec.peers = &peer;
		sec.n_peers = 1;
	}
	for (size_t i = 0; i < n_ports; i++)
		pv[i] = (struct microseg_port){ .proto = proto, .port = ports[i] };
	sec.ports = n_ports ? pv : NULL;
	sec.n_ports = n_ports;
	{
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = name,
			      .endpoints = { .match_labels = sel_labels, .n_match_labels = 1 },
			      .sections = &sec, .n_sections = 1);

		E2E_OK(t, microseg_rule_add(t->ctx, &spec, &rule));
	}
	e2e_log("rule %u \"%s\": app=%s %s app=%s, %zu port(s)", microseg_rule_id(rule), name,
		sel_app, dir == MICROSEG_DIR_INGRESS ? "ingress from" : "egress to",
		peer_app ? peer_app : "(any)", n_ports);
	return rule;
}

struct microseg_rule *pol_rule_closed(struct e2e *t, const char *name, const char *sel_app,
				      uint32_t flags)
{
	char sel[96];
	const char *sel_labels[1] = { sel };
	struct microseg_rule *rule = NULL;

	snprintf(sel, sizeof(sel), "k8s:app=%s", sel_app);
	{
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = name,
			      .endpoints = { .match_labels = sel_labels, .n_match_labels = 1 },
			      .flags = flags);

		E2E_OK(t, microseg_rule_add(t->ctx, &spec, &rule));
	}
	e2e_log("rule %u \"%s\": app=%s selected for%s%s, nothing allowed",
		microseg_rule_id(rule), name, sel_app,
		flags & MICROSEG_RULE_F_INGRESS ? " ingress" : "",
		flags & MICROSEG_RULE_F_EGRESS ? " egress" : "");
	return rule;
}

/* ---- counters ---- */

uint64_t pol_drops(struct e2e *t, const struct e2e_ep *e, uint32_t dir, uint32_t reason)
{
	struct microseg_endpoint_stats s;

	e2e_stats(t, e, &s);
	E2E_CHECK(reason < MICROSEG_DROP_REASONS, "reason %u", reason);
	return dir == MICROSEG_DIR_INGRESS ? s.ingress_drops_by_reason[reason]
					   : s.egress_drops_by_reason[reason];
}

/* ---- files ---- */

char *pol_fixture(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", POL_FIXTURES_DIR, name);
	f = fopen(path, "re");
	E2E_CHECK(f, "open %s: %s", path, strerror(errno));
	E2E_CHECK(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0,
		  "size of %s", path);
	buf = malloc((size_t)n + 1);
	E2E_CHECK(buf, "out of memory");
	E2E_CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n, "read %s", path);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

unsigned pol_line_of(const char *text, const char *needle)
{
	const char *hit = strstr(text, needle);
	unsigned line = 1;

	if (!hit)
		return 0;
	for (const char *p = text; p < hit; p++)
		line += *p == '\n';
	return line;
}

/* ---- streams ---- */

void pol_sink_start(struct pol_sink *s, const struct e2e_ep *to, int port, double seconds)
{
	char p[16], secs[16];
	const char *argv[] = { e2e_python(), "-c", helper_py, "count-sink", p, secs, NULL };

	snprintf(p, sizeof(p), "%d", port);
	snprintf(secs, sizeof(secs), "%.2f", seconds);
	s->pid = e2e_spawn_ready(to->ns, argv, &s->fd, "count-sink");
}

int pol_sink_finish(struct pol_sink *s, struct pol_sample *samples, int cap)
{
	char line[128];
	int n = 0, r;
	bool ended = false;

	for (;;) {
		unsigned long long ms, bytes;

		r = topo_read_line(s->fd, line, sizeof(line), 30000);
		if (r <= 0)
			break;
		if (!strcmp(line, "end")) {
			ended = true;
			break;
		}
		if (sscanf(line, "%llu %llu", &ms, &bytes) == 2 && n < cap) {
			samples[n].t_ms = (long long)ms;
			samples[n].bytes = bytes;
			n++;
		}
	}
	close(s->fd);
	r = topo_wait(s->pid, 10000);
	E2E_CHECK(ended && r == 0, "count-sink did not end cleanly (exit %d)", r);
	return n;
}

pid_t pol_source_start(const struct e2e_ep *from, const char *addr, int port, double seconds,
		       int *out_fd)
{
	char p[16], secs[16];
	const char *argv[] = { e2e_python(), "-c", helper_py, "stream-source", addr, p, secs,
			       NULL };
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(secs, sizeof(secs), "%.2f", seconds);
	pid = topo_spawn(from->ns, out_fd, argv);
	E2E_CHECK(pid > 0, "spawn stream-source in %s", from->ns);
	return pid;
}
