/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the policy end-to-end tests (test_policy_*.c), on top of e2e.h: endpoints
 * with Kubernetes-style identities (app, pod namespace, namespace labels) in their own network
 * namespaces, a small traffic helper (Python, embedded) that serves HTTP on TCP ports and
 * answers UDP queries, and checks that compare what real traffic does with what
 * microseg_policy_explain() says about the same flow.
 *
 * Traffic checks are "soft": a mismatch is logged and counted, the test goes on (so one run
 * shows every wrong verdict), and pol_finish() fails the test if any was counted. Setup steps
 * and library calls fail the test at once (E2E_CHECK / E2E_OK).
 */
#ifndef MICROSEG_TEST_POLICY_H
#define MICROSEG_TEST_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "e2e.h"

/* Seconds a denied connection attempt is given before it counts as blocked. */
#define POL_CONNECT_TIMEOUT "2"

enum pol_fam { POL_V4 = 4, POL_V6 = 6 };

/*
 * An endpoint whose identity is {k8s:app=<app>, k8s:io.kubernetes.pod.namespace=<k8s_ns>,
 * extra...} (extra: NULL-terminated, may be NULL), made through microseg_endpoint_add_veth()
 * with one IPv4 and one IPv6 address (as e2e_add_ep), with the traffic helper serving HTTP on
 * tcp_ports and UDP answers on udp_ports (comma lists such as "80,81"; NULL: none; both NULL:
 * no server at all). nick names it in logs, in its endpoint name and in its server's answers
 * (stored in e->app); it is usually app itself.
 */
struct e2e_ep *pol_add_ep(struct e2e *t, const char *nick, const char *app, const char *k8s_ns,
			  const char *const *extra, const char *tcp_ports, const char *udp_ports);

/* A new reference to the identity pol_add_ep() would give these labels. */
struct microseg_identity *pol_identity(struct e2e *t, const char *app, const char *k8s_ns,
				       const char *const *extra);

/* Starts the traffic helper's servers in namespace ns (NULL: the host) under `name`.
 * Commands for the setup: e2e_run_ok(). */
pid_t pol_serve(const char *ns, const char *name, const char *tcp_ports, const char *udp_ports);

/* The endpoint's address of a family. */
const char *pol_addr(const struct e2e_ep *e, enum pol_fam fam);

/* ---- raw traffic: 1 = got through, 0 = blocked (timed out / no answer), -1 = anything else
 * (tool failure, wrong answer); `what` describes the outcome for the log ---- */

/* HTTP GET from `from` to addr:port (optionally bound to source address src), expecting the
 * helper's body for server `name`. */
int pol_http(const struct e2e_ep *from, const char *addr, int port, const char *src,
	     const char *name, char *what, size_t wlen);
/* One UDP query to addr:port and its answer. */
int pol_udp(const struct e2e_ep *from, const char *addr, int port, char *what, size_t wlen);
/* One ICMP / ICMPv6 echo. */
int pol_ping(const struct e2e_ep *from, const char *addr, char *what, size_t wlen);

/* ---- checks: traffic and explain must both give `allow` ---- */

/* TCP (HTTP) from `from` to endpoint `to` over fam on port. */
void pol_expect_tcp(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		    enum pol_fam fam, int port, bool allow);
/* TCP (HTTP) to an address that is not an endpoint, served under `name`. */
void pol_expect_tcp_addr(struct e2e *t, const struct e2e_ep *from, const char *addr,
			 const char *name, int port, bool allow);
void pol_expect_udp(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		    enum pol_fam fam, int port, bool allow);
void pol_expect_ping(struct e2e *t, const struct e2e_ep *from, const struct e2e_ep *to,
		     enum pol_fam fam, bool allow);
/*
 * The container's IPv6 neighbour entry of its gateway (fe80::1 on eth0) must be resolved
 * (after IPv6 traffic went that way): a policy must never break neighbour discovery.
 */
void pol_check_gateway_neigh(const struct e2e_ep *e);
/* Traffic only (no explain): for flows explain cannot see, such as a spoofed source. */
void pol_expect_http_raw(const struct e2e_ep *from, const char *addr, int port, const char *src,
			 const char *name, bool allow);

/*
 * microseg_policy_explain(src, dst, proto, port) must say `allow`; dst is an endpoint name or
 * an address. Counts a mismatch. Returns the verdict.
 */
uint32_t pol_explain(struct e2e *t, const char *src, const char *dst, uint32_t proto,
		     uint16_t port, bool allow);

/* Logs and counts a soft failure. */
void pol_mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Soft failures counted so far. */
int pol_failures(void);

/* Fails the test if any soft check failed; otherwise purges the instance (e2e_finish). */
void pol_finish(struct e2e *t);

/* ---- rules ---- */

/*
 * A rule named `name` selecting endpoints with k8s:app=<sel_app>, one section in direction
 * dir (MICROSEG_DIR_*) allowing peers with k8s:app=<peer_app> (NULL: any peer) on the given
 * protocol and ports (n_ports 0: every port and protocol). Fails the test on error.
 */
struct microseg_rule *pol_rule_app(struct e2e *t, const char *name, const char *sel_app,
				   uint32_t dir, const char *peer_app, uint32_t proto,
				   const uint16_t *ports, size_t n_ports);
/* A rule that only selects k8s:app=<sel_app> in the directions of flags (default-deny). */
struct microseg_rule *pol_rule_closed(struct e2e *t, const char *name, const char *sel_app,
				      uint32_t flags);

/* ---- counters ---- */

/* One drop counter of an endpoint: dir MICROSEG_DIR_INGRESS or _EGRESS, reason index. */
uint64_t pol_drops(struct e2e *t, const struct e2e_ep *e, uint32_t dir, uint32_t reason);

/* ---- files ---- */

/* Reads tests/e2e/policy/<name> (malloc()ed, NUL-terminated); fails the test on error. */
char *pol_fixture(const char *name, size_t *len);
/* 1-based number of the first line of text that contains needle; 0 if none. */
unsigned pol_line_of(const char *text, const char *needle);

/* ---- the traffic helper's streams (revocation test) ---- */

struct pol_sample {
	long long t_ms; /* CLOCK_MONOTONIC, comparable with topo_now_ms() */
	uint64_t bytes;
};

/* A receiver in to->ns on port that reports its byte count every 50 ms for `seconds`. */
struct pol_sink {
	pid_t pid;
	int fd;
};
void pol_sink_start(struct pol_sink *s, const struct e2e_ep *to, int port, double seconds);
/* Waits for the sink to end and reads its samples (at most cap); returns how many. */
int pol_sink_finish(struct pol_sink *s, struct pol_sample *samples, int cap);

/* A sender in from->ns writing to addr:port for `seconds` (ignoring a stalled connection). */
pid_t pol_source_start(const struct e2e_ep *from, const char *addr, int port, double seconds,
		       int *out_fd);

#endif
