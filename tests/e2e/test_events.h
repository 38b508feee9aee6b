/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the flow visibility end-to-end tests (test_events_*.c), on top of e2e.h
 * and test_policy.h: the three-endpoint setup they all use, a subscription that records what
 * reaches its callback, traffic whose every packet the test knows (an HTTP request from a
 * fixed source port, TCP SYNs crafted on a raw socket, pings), and a check of
 * microseg_event_to_json() by a real JSON parser.
 *
 * The setup: client (A) and intruder (C) run the e2e peer (C's UDP sink counts datagrams),
 * server (B) serves HTTP on port 80; one rule selects B and allows ingress from app=client on
 * TCP 80 only. A and C are open (no rule selects them).
 */
#ifndef MICROSEG_TEST_EVENTS_H
#define MICROSEG_TEST_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "test_policy.h"

#define EV_HTTP_PORT 80

struct ev_setup {
	struct e2e t;
	struct e2e_ep *a, *b, *c; /* client, server, intruder */
	uint32_t id_a, id_b, id_c; /* their numeric identities */
	struct microseg_rule *rule;
	uint32_t rule_id;
};

/* e2e_init(tag) and the three endpoints and the rule above. */
void ev_setup(struct ev_setup *s, const char *tag);

/* ---- recording events ---- */

/* What a subscription recorded: every event passed to ev_record (when store is set, else
 * only counted). */
struct ev_log {
	struct microseg_event *v;
	size_t n, cap;
	uint64_t calls;
	bool store;
	bool bad_sz; /* an event arrived with ev->sz smaller than the struct */
};

/* The callback for microseg_events_subscribe(); user is a struct ev_log. */
void ev_record(void *user, const struct microseg_event *ev);
/* Forgets what was recorded (keeps store). */
void ev_log_clear(struct ev_log *l);

/*
 * Drives microseg_events_process() in steps of 50 ms until nothing was read for quiet_ms, or
 * max_ms passed. Returns the number of events read (filtered ones included). Fails the test
 * on an error.
 */
uint64_t ev_pump(struct e2e *t, int quiet_ms, int max_ms);

/* Subscribes l (cleared) with filter f (NULL: everything), then reads and forgets whatever
 * waits in the ring, so that what l records next comes from traffic made after this call. */
void ev_subscribe(struct e2e *t, struct ev_log *l, const struct microseg_event_filter *f);

/* A flow's five-tuple as events report it (addresses as text, ports in host order). */
struct ev_tuple {
	char src[MICROSEG_ADDR_STRLEN];
	char dst[MICROSEG_ADDR_STRLEN];
	uint16_t sport, dport;
	uint32_t proto;
};
void ev_tuple_set(struct ev_tuple *tu, const char *src, uint16_t sport, const char *dst,
		  uint16_t dport, uint32_t proto);
/* The event's tuple is tu (reply false) or tu reversed (reply true). Addresses compared as
 * addresses, not text. */
bool ev_matches(const struct microseg_event *ev, const struct ev_tuple *tu, bool reply);
/* Events of type (0: any) whose tuple is tu in either direction. */
size_t ev_count_tuple(const struct ev_log *l, uint32_t type, const struct ev_tuple *tu);
/* The only event of type at endpoint ep_id in direction dir with tuple tu (original
 * direction); NULL if none. Fails the test if there is more than one. */
const struct microseg_event *ev_find(const struct ev_log *l, uint32_t type, uint32_t ep_id,
				     uint32_t dir, const struct ev_tuple *tu);

/* One line describing an event, for logs. */
const char *ev_str(const struct microseg_event *ev, char *buf, size_t len);
/* Logs every recorded event (after a failed expectation). */
void ev_dump(const struct ev_log *l, const char *why);

/*
 * Checks one event against what the test expects (type, endpoint, direction, verdict, reason,
 * rule, identities, tuple, endpoint name and ifindex, and that its time is within
 * [since_ns - 1 s, now + 1 s] of CLOCK_REALTIME). Fails the test with the event shown.
 */
struct ev_expect {
	uint32_t type;
	const struct e2e_ep *ep; /* the endpoint that saw the packet */
	uint32_t direction;
	uint32_t drop_reason; /* 0 for FLOW_NEW */
	uint32_t rule_id;
	uint32_t src_identity, dst_identity;
	const struct ev_tuple *tuple;
	uint32_t bytes;     /* 0: only "at least a header" */
	int icmp_type;      /* -1: not checked */
	uint64_t since_ns;  /* CLOCK_REALTIME before the traffic */
};
void ev_expect_event(const struct microseg_event *ev, const struct ev_expect *x);

/* CLOCK_REALTIME in ns. */
uint64_t ev_realtime_ns(void);

/* ---- traffic ---- */

/* A source port no earlier call returned (for tuples that are unique within a run). */
uint16_t ev_next_port(void);

/* One HTTP GET from `from` (source port local_port) to addr:port, answered by B's server.
 * Fails the test unless it gets the answer. */
void ev_http_ok(const struct e2e_ep *from, const char *addr, int port, uint16_t local_port,
		const char *server_name);

/* n TCP SYNs (IPv4, no options: 54-byte frames) from `from` to addr:port, crafted on a raw
 * socket so that the kernel sends nothing else (no retransmission); source ports sport0,
 * sport0 + 1, ... Fails the test unless all were sent. */
void ev_raw_syns(const struct e2e_ep *from, const char *addr, int port, int n, uint16_t sport0);

/* `ping -c count -i 0.2` from `from` to addr: exactly count echo requests (56 payload bytes).
 * Returns ping's exit code (0 answered, 1 no answer). */
int ev_ping(const struct e2e_ep *from, const char *addr, int count);

/* ---- JSON ---- */

/*
 * Renders each event with microseg_event_to_json(), parses the text with Python's json
 * module and checks every documented field (README, "Flow events") against the struct: names,
 * types, values, the time in RFC 3339 with nanoseconds, nothing undocumented. Also checks the
 * -ENOSPC contract. Fails the test on any difference.
 */
void ev_check_json(const struct microseg_event *evs, size_t n);

/*
 * Parses JSON lines as `msegctl observe --json` prints them (one object per line) with the
 * same checker, without a struct to compare with: only names, types and formats. Returns the
 * number of objects; fails the test on a line that does not parse. Each parsed object is
 * turned into a struct microseg_event (text fields and numbers) in out (up to cap).
 */
size_t ev_parse_json_lines(const char *text, struct microseg_event *out, size_t cap);

/* ---- process ---- */

/* VmRSS of this process, KiB. */
long ev_rss_kib(void);

#endif
