/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the L7 proxy end-to-end tests (test_l7_*.c), on top of e2e.h and
 * test_policy.h: a client, a server and optionally a third endpoint (pod namespace "l7"), the
 * HTTP peer (http_peer.py) serving in the server's namespace and logging every connection and
 * request it receives, HTTP sessions run from an endpoint on one TCP connection, and the proxy
 * started in either of its modes. In the caller-driven mode (threads = 0) every wait of these
 * helpers runs microseg_proxy_process(), as a caller's event loop would.
 */
#ifndef MICROSEG_TEST_L7_H
#define MICROSEG_TEST_L7_H

#include <stdbool.h>
#include <stdint.h>

#include "test_policy.h"

#define L7_PORT 80       /* the port the tests put HTTP rules on */
#define L7_PLAIN_PORT 81 /* a port with L3/L4 rules only */
#define L7_K8S_NS "l7"   /* pod namespace of every endpoint: the policies' namespace */

/* What the server's log said: one connection or request it received. */
struct l7_srv_event {
	bool is_req;   /* request (else a connection or junk) */
	bool junk;     /* bytes that were not a request */
	int port;
	char peer[64]; /* connections: the peer's address */
	char method[16];
	char path[128];
	char force[32]; /* the X-Has-Force header or "-" */
	int body;
};

struct l7 {
	struct e2e t;
	struct e2e_ep *client, *server, *other;
	uint32_t id_client, id_server, id_other;
	pid_t srv_pid;
	int srv_fd;
	struct l7_srv_event *srv_log;
	size_t srv_n, srv_cap;
	bool loop_mode; /* the proxy runs with threads = 0: the helpers drive it */
	char signal_dir[96]; /* where wait: files of sessions go (removed at exit) */
};

/*
 * e2e_init(tag), the endpoints client and server (and other, if with_other), the HTTP peer in
 * the server's namespace on L7_PORT and L7_PLAIN_PORT. Policies and the proxy: the test's.
 * s must outlive main() (make it static): exit handlers registered on it run after main
 * returns, when main's stack frame is gone.
 */
void l7_setup(struct l7 *s, const char *tag, bool with_other);

/* Applies a policy document (microseg_policy_apply_yaml); fails the test on error. */
void l7_apply(struct l7 *s, const char *yaml);

/*
 * Applies the CiliumNetworkPolicy `name` (namespace L7_K8S_NS): app=<sel>, in direction dir
 * ("ingress" or "egress"), from / to app=<peer> on TCP L7_PORT with `rules.http: <http>` (a
 * YAML flow sequence such as "[{method: GET, path: '/public/.*'}]") and on TCP L7_PLAIN_PORT
 * without L7 rules. Applying the same name again replaces it.
 */
void l7_apply_http_policy(struct l7 *s, const char *name, const char *sel, const char *dir,
			  const char *peer, const char *http);

/* microseg_proxy_start with threads (0: the helpers drive it); logs the port. */
void l7_proxy_start(struct l7 *s, uint32_t threads);
/* The proxy's counters; fails the test on error. */
void l7_stats(struct l7 *s, struct microseg_proxy_stats *st);
/* Lets the proxy work for ms (drives it in loop mode, else sleeps). */
void l7_pump(struct l7 *s, int ms);

/* ---- sessions: http_peer.py session ---- */

#define L7_MAX_RESP 16
struct l7_resp {
	int status;
	bool close; /* the response said "connection: close" */
	char body[256];
};
struct l7_session {
	pid_t pid;
	int fd;
	char line[512];
	char connect_err[32]; /* "" or how the connection failed (ECONNREFUSED, timeout...) */
	char local_addr[64];
	int local_port;
	struct l7_resp resp[L7_MAX_RESP];
	int n_resp;
	bool closed;    /* the connection ended before a response */
	bool timeout;   /* no response within 10 s */
	char eof[32];   /* result of an "eof" step */
	bool ended;     /* "end" seen */
};

/*
 * Starts a session from `from` to addr:port with the given steps (NULL-terminated; see
 * http_peer.py: "GET /path|Header: value", "raw:...", "wait:PATH", "eof").
 */
void l7_session_start(struct l7 *s, struct l7_session *ss, const struct e2e_ep *from,
		      const char *addr, int port, const char *const *steps);
/* Reads the session's lines (driving the proxy) until one starts with prefix ("waiting")
 * or the session ends; returns whether prefix was seen. */
bool l7_session_until(struct l7 *s, struct l7_session *ss, const char *prefix);
/* Reads the rest and waits for the session to exit 0. */
void l7_session_finish(struct l7 *s, struct l7_session *ss);
/* Start and finish. */
void l7_session(struct l7 *s, struct l7_session *ss, const struct e2e_ep *from,
		const char *addr, int port, const char *const *steps);

/* Response i must be status (and, if body_has is not NULL, its body must contain it). */
void l7_expect_resp(const struct l7_session *ss, int i, int status, const char *body_has);

/* A path for a wait: step, unique in the run; l7_signal() creates it. */
const char *l7_signal_path(struct l7 *s, const char *name, char *buf, size_t len);
void l7_signal(const char *path);

/* Runs http_peer.py with arguments (NULL-terminated) in from's namespace (NULL: the host's),
 * driving the proxy meanwhile; its first line of output into out. Fails the test unless it
 * exits 0. */
void l7_peer_run(struct l7 *s, const struct e2e_ep *from, int timeout_ms, char *out,
		 size_t outlen, const char *arg, ...) __attribute__((sentinel));

/* ---- the server's log ---- */

/* Reads what the server logged (driving the proxy) until it has been quiet for quiet_ms. */
void l7_srv_drain(struct l7 *s, int quiet_ms);
/* Position in the log, for counting what came after it. */
size_t l7_srv_mark(struct l7 *s);
/* Requests (method and path; NULL: any) logged since mark. */
size_t l7_srv_requests(struct l7 *s, size_t mark, const char *method, const char *path);
/* Connections and junk logged since mark. */
size_t l7_srv_conns(struct l7 *s, size_t mark);
size_t l7_srv_junk(struct l7 *s, size_t mark);
/* The last request logged since mark with this method and path, or NULL. */
const struct l7_srv_event *l7_srv_find(struct l7 *s, size_t mark, const char *method,
				       const char *path);
/* Logs everything since mark (after a failed expectation). */
void l7_srv_dump(struct l7 *s, size_t mark, const char *why);

/* ---- python helper path ---- */
const char *l7_peer_script(void);

#endif
