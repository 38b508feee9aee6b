/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the service end-to-end tests (test_service_*.c), on top of e2e.h: a child
 * cgroup v2 for the socket-level load balancer (the test process moves into it, so every
 * client it starts is load-balanced at connect()), an instance opened with that cgroup as
 * its lb_cgroup, backends that name themselves in every answer (service_peer.py), and
 * clients that tally which backend answered each connection or datagram.
 *
 * Addresses: endpoints as in e2e.h (10.200.X.N, fd00:200:X::N); service frontends are
 * 10.96.X.<10+k> and fd00:96:X::<10+k>: owned by nobody, reached only through translation.
 * The host ends of the endpoints' veths get forwarding off, so a packet to a frontend that the
 * datapath failed to translate dies in the host instead of being routed anywhere.
 */
#ifndef MICROSEG_TEST_SERVICE_H
#define MICROSEG_TEST_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "e2e.h"
#include "svc_cgroup.h"

/* service_peer.py serve: HTTP and UDP echo on SVC_BACKEND_PORT, the greeting sink on the
 * next port. */
#define SVC_BACKEND_PORT 8080
#define SVC_SINK_PORT (SVC_BACKEND_PORT + 1)
/* Frontend ports the tests use. */
#define SVC_HTTP_PORT 80
#define SVC_SINK_VIP_PORT 81
#define SVC_UDP_PORT 5300

#define SVC_TALLY_MAX 8

struct svc_test {
	struct e2e t;
	struct svc_cgroup cg; /* the child cgroup the socket programs are attached to */
};

/*
 * e2e_init(tag), then: the child cgroup "<cgroup v2 mount>/microseg-e2e-<tag>-<pid>" (removed
 * at exit, also when the test fails or is killed), the test process moved into it, and the
 * instance reopened with lb_cgroup set to it (before any service exists).
 */
void svc_init(struct svc_test *s, const char *tag);

/* Closes the instance and opens it again with lb_cgroup set (what svc_init() ends with). */
void svc_reopen(struct svc_test *s);
/* Moves the test process out of / back into the child cgroup. Processes started while out
 * are not load-balanced at the socket level (their packets are, by the endpoint programs). */
void svc_leave_cgroup(struct svc_test *s);
void svc_enter_cgroup(struct svc_test *s);

/* Frontend address k (0..): 10.96.X.<10+k> or fd00:96:X::<10+k>. */
const char *svc_vip(const struct svc_test *s, int k, bool v6, char *buf, size_t len);

/* An endpoint (identity app=<app>) running service_peer.py serve under its endpoint name. */
struct e2e_ep *svc_add_backend(struct svc_test *s, const char *app);
/* An endpoint (identity app=<app>) with no server. */
struct e2e_ep *svc_add_client(struct svc_test *s, const char *app);

/* microseg_service_add() of addr:port/proto with the algorithm; fails the test on error. */
struct microseg_service *svc_add_service(struct svc_test *s, const char *name, const char *addr,
					 uint16_t port, uint32_t proto, uint32_t algorithm);
/* microseg_service_backend_add() of addr:port in the given state; fails the test on error. */
void svc_add_backend_to(struct svc_test *s, struct microseg_service *svc, const char *addr,
			uint16_t port, uint32_t state);

/* What a client saw: answers per backend name, failures, answers that did not come from (or
 * whose socket's peer was not) the frontend asked. */
struct svc_tally {
	char name[SVC_TALLY_MAX][48];
	int count[SVC_TALLY_MAX];
	int n;
	int answered;
	int errors;
	int mismatches;
	char first_error[200];
};

/* n HTTP requests from `from` to addr:port, each on a new connection (from source port sport
 * if not 0). */
void svc_http(const struct e2e_ep *from, const char *addr, int port, int n, int sport,
	      struct svc_tally *out);
/* n UDP queries, each from a new socket; mode "sendto" or "connect". */
void svc_udp(const struct e2e_ep *from, const char *addr, int port, int n, const char *mode,
	     struct svc_tally *out);
/* n UDP queries from one unconnected socket. */
void svc_udp_one_socket(const struct e2e_ep *from, const char *addr, int port, int n,
			struct svc_tally *out);
/* Answers counted for backend endpoint e (0 if none). */
int svc_count(const struct svc_tally *tl, const struct e2e_ep *e);
/* One log line: "what: b1 n1, b2 n2, ... errors E mismatches M". */
void svc_tally_log(const char *what, const struct svc_tally *tl);

/* One TCP connect from `from`: result word (OK, ECONNREFUSED, TIMEOUT, ...) into what,
 * duration in ms. */
double svc_connect(const struct e2e_ep *from, const char *addr, int port, double timeout_s,
		   char *what, size_t len);
/* One UDP sendto(): result word into what, duration in ms. */
/* A connected UDP socket sends one datagram and waits up to 1.5 s for an answer: "OK",
 * "TIMEOUT" or the errno name (ECONNREFUSED after a port unreachable), and the time. */
double svc_udp_connected(const struct e2e_ep *from, const char *addr, int port, char *what, size_t len);
double svc_udp_send(const struct e2e_ep *from, const char *addr, int port, char *what,
		    size_t len);

/* A long TCP stream from `from` to the greeting sink behind addr:port. */
struct svc_stream {
	pid_t pid;
	int fd;
	char backend[64]; /* the name the sink greeted with */
};
void svc_stream_start(struct svc_stream *st, const struct e2e_ep *from, const char *addr,
		      int port, double seconds);
/* Waits for the stream to end; bytes written and bytes the sink counted. */
void svc_stream_finish(struct svc_stream *st, uint64_t *sent, uint64_t *received);

/* Connections the datapath sent to backend addr:port of svc (microseg_service_backends). */
uint64_t svc_connections(struct svc_test *s, struct microseg_service *svc, const char *addr,
			 uint16_t port);

/* Service events (MICROSEG_EVENT_SERVICE) of one service, counted by where the translation
 * happened. */
struct svc_events {
	uint32_t svc_id;
	uint64_t socket;  /* hook 1: connect()/sendmsg() */
	uint64_t packet;  /* hook 2: the endpoint programs */
	uint64_t refused; /* no backend picked */
	uint64_t other;   /* anything else (an unknown hook) */
};
/* Subscribes (event rate raised so that nothing is rate limited) after reading away what
 * waits in the ring; counts events of svc from now on. */
void svc_events_begin(struct svc_test *s, struct svc_events *ev, struct microseg_service *svc);
/* Reads until the ring is quiet, unsubscribes, logs the counts. */
void svc_events_end(struct svc_test *s, struct svc_events *ev);

#endif
