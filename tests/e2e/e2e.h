/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the end-to-end tests: an instance of the library with its own bpffs and
 * state directories, endpoints in their own network namespaces made through
 * microseg_endpoint_add_veth(), a traffic peer (peer.py) in each, and checks that send real
 * TCP (curl), UDP and ICMP (ping) between them.
 *
 * Every name carries the PID. At exit, even after a failed check, the instance is purged
 * through the API; the topology helper then removes whatever is left (also on signals).
 */
#ifndef MICROSEG_E2E_H
#define MICROSEG_E2E_H

#include <microseg/microseg.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "topo.h"

#define E2E_MAX_EPS 6
/* peer.py serve: HTTP and UDP echo on this port, UDP sink on the next one. */
#define E2E_PORT 8080
#define E2E_SINK_PORT (E2E_PORT + 1)

struct e2e_ep {
	char ns[64];
	char host_if[16];
	char name[48];
	char app[32];
	char v4[INET_ADDRSTRLEN];
	char v6[INET6_ADDRSTRLEN];
	uint32_t ifindex;
	struct microseg_endpoint *ep;
	pid_t server; /* peer.py serve, 0 if not started */
};

struct e2e {
	char tag[9];
	char instance[MICROSEG_INSTANCE_NAME_MAX + 1];
	char bpffs_dir[MICROSEG_PATH_MAX];
	char state_dir[MICROSEG_PATH_MAX];
	struct microseg_ctx *ctx;
	bool finished; /* purged by e2e_finish(): nothing left for the exit handler */
	int subnet;
	struct e2e_ep eps[E2E_MAX_EPS];
	int n_eps;
	/* A link in the host namespace holding host_v4/host_v6: "the host" for pings. */
	char host_if[16];
	char host_v4[INET_ADDRSTRLEN];
	char host_v6[INET6_ADDRSTRLEN];
};

/* ---- failing ---- */

void e2e_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void e2e_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

/* Fails the test (exit 1, cleanup runs) when cond is false; the rest is a printf message. */
#define E2E_CHECK(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			e2e_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                  \
	} while (0)

/* Fails the test when a library call returns < 0, with the error text and last error. */
#define E2E_OK(t, call)                                                                            \
	do {                                                                                       \
		int e2e_r_ = (call);                                                               \
		if (e2e_r_ < 0)                                                                    \
			e2e_fail_at(__FILE__, __LINE__, "%s = %d (%s) [%s]", #call, e2e_r_,          \
				    microseg_strerror(e2e_r_),                                     \
				    (t)->ctx ? microseg_ctx_last_error((t)->ctx) : "");            \
	} while (0)

/* Progress line on stdout, with the time since start. */
void e2e_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- processes ---- */

/* The Python interpreter the helpers run under. */
const char *e2e_python(void);

/* Runs a command (NULL-terminated arguments) in ns (NULL: host); fails the test, showing the
 * command and its output, unless it exits 0. */
void e2e_run_ok(const char *ns, const char *arg0, ...);

/*
 * Starts argv in the background in ns (NULL: host) and waits for its first line to be
 * "ready"; fails the test otherwise (`what` names it in the message). Its stdout stays open
 * in *out_fd when out_fd is not NULL. Returns the pid.
 */
pid_t e2e_spawn_ready(const char *ns, const char *const argv[], int *out_fd, const char *what);

/* ---- setup and teardown ---- */

/*
 * Skips unless root, starts the topology (tag: [a-z0-9]{1,8}), picks the run's subnet,
 * names the instance "e2e-<tag>-<pid>" with its directories, registers the purge at exit,
 * creates the host link and opens a new instance (checking it was not restored).
 */
void e2e_init(struct e2e *t, const char *tag);

/* Opens the instance into t->ctx (after a close). Returns microseg_ctx_restored(). */
int e2e_open(struct e2e *t);

/* Closes t->ctx (the datapath keeps running). Endpoint handles become invalid. */
void e2e_close(struct e2e *t);

/*
 * End of a passing test: purges the instance through the API, checks that the bpffs and
 * state directories are gone, closes the context. Exit cleanup has nothing left to do then.
 */
void e2e_finish(struct e2e *t);

/* ---- endpoints ---- */

/* The identity for labels {"k8s:app=<app>", "k8s:e2e-test=<tag>"}: a new reference. */
struct microseg_identity *e2e_identity(struct e2e *t, const char *app);

/*
 * Creates namespace <letter>, and in it endpoint number idx (0-based: addresses
 * 10.200.<subnet>.<idx+1> and fd00:200:<subnet>::<idx+1>) through microseg_endpoint_add_veth()
 * with identity app=<app>; checks what the handle reports; starts peer.py serve in the
 * namespace unless no_server. Returns the record.
 */
struct e2e_ep *e2e_add_ep(struct e2e *t, const char *app, bool no_server);

/*
 * What e2e_add_ep() and the policy tests' pol_add_ep() share: namespace, host link name,
 * addresses and the endpoint as above, with identity id (the caller keeps its reference), named
 * "e2e-<tag>-<pid>-<nick>" (nick NULL: the namespace's letter), with app in e->app. Checks
 * only that the host link exists; starts no server.
 */
struct e2e_ep *e2e_add_ep_ex(struct e2e *t, const char *nick, const char *app,
			     struct microseg_identity *id);

/* Re-finds every endpoint handle by name (after a reopen). */
void e2e_refresh_handles(struct e2e *t);

/* ---- traffic ---- */

/* curl http://addr:E2E_PORT/ from inside from->ns; true if it answered as `to`. */
bool e2e_tcp(const struct e2e_ep *from, const char *addr, const char *expect_name);
/* One UDP datagram to addr's echo port and its echo back. */
bool e2e_udp(const struct e2e_ep *from, const char *addr);
/* One ICMP/ICMPv6 echo (from a given source address of the endpoint, or the kernel's
 * choice when src is NULL). */
bool e2e_ping(const struct e2e_ep *from, const char *addr);
bool e2e_ping_src(const struct e2e_ep *from, const char *src, const char *addr);

/*
 * TCP, UDP and ICMP, over IPv4 and IPv6, from `from` to `to`; logs each failure and returns
 * the number of failed checks.
 */
int e2e_check_pair(const struct e2e_ep *from, const struct e2e_ep *to);

/* ---- counters and maps ---- */

void e2e_stats(struct e2e *t, const struct e2e_ep *e, struct microseg_endpoint_stats *s);

/* Runs peer.py with arguments inside ns (NULL: host) and returns its stdout's first line in
 * out; fails the test if it exits non-zero. */
void e2e_peer(const char *ns, char *out, size_t outlen, int timeout_ms, const char *arg, ...);

/* The instance's pinned map (by its pin name) as a path. */
const char *e2e_pin(struct e2e *t, const char *map_name, char *buf, size_t len);

/*
 * Reads a local endpoint's address entry from the pinned ipcache (exact /32 or /128).
 * Returns false if there is none; otherwise fills identity/ifindex/ep_id.
 */
bool e2e_ipcache_get(struct e2e *t, const char *addr, uint32_t *identity, uint32_t *ifindex,
		     uint32_t *ep_id);

/* The MS_CFG_F_* flags word of the instance's pinned ms_config map. */
uint32_t e2e_config_flags(struct e2e *t);

/* Reads the pinned endpoints map entry of ifindex; false if none. */
bool e2e_endpoint_map_get(struct e2e *t, uint32_t ifindex, uint32_t *ep_id, uint32_t *identity);

/* Number of BPF filters `tc filter show dev <ifname> <dir>` lists (dir "ingress"/"egress");
 * -1 if tc failed (e.g. no such device). */
int e2e_tc_bpf_filters(const char *ifname, const char *dir);

/* Long-running TCP stream between two endpoints: a tcp-sink in `to`, a tcp-source in `from`. */
struct e2e_stream {
	pid_t sink, source;
	int sink_fd, source_fd;
};
void e2e_stream_start(struct e2e_stream *s, const struct e2e_ep *from, const struct e2e_ep *to,
		      const char *to_addr, int port, double seconds);
/* Waits for both ends; returns bytes sent and received through *sent / *received. */
void e2e_stream_finish(struct e2e_stream *s, uint64_t *sent, uint64_t *received);

#endif
