// SPDX-License-Identifier: Apache-2.0
/*
 * A flood of denied packets against the event path: 1,000,000 UDP datagrams from the intruder
 * (C) to a port of the server (B) that its rule does not open, sent by this same binary
 * re-executed inside C's namespace (sendmmsg on a connected socket).
 *
 *  1. Rate limit (1,000 events/s per CPU, bursts of 2,000), a subscriber reading slowly (a
 *     look every 100 ms): the events written stay under rate x seconds x CPUs + burst x CPUs,
 *     the limiter refuses the rest, nothing is lost, and every event written is read.
 *  2. No rate limit to speak of, and nobody reading: the ring fills (it holds what its size
 *     allows and no more), the rest is counted as lost; reading afterwards gets exactly what
 *     was written.
 * Both: every packet that reached B is in B's policy drop counter, every drop was offered to
 * the event path (emitted + rate limited + lost), the test process's RSS stays within 20 MiB
 * of where it started. Afterwards an allowed connection is reported as usual.
 */
#include "test_events.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "microseg_abi.h"

#define FLOOD_PACKETS 1000000ull
#define FLOOD_PORT 9     /* not opened by the rule (TCP 80 from the client only) */
#define FLOOD_PAYLOAD 18 /* 60-byte frames */
#define FLOOD_MAX_MS 30000
#define NOISE 10 /* the containers' own neighbour discovery and the like */
#define RSS_SLACK_KIB (20 * 1024)
/* struct ms_event_flow behind the ring buffer's own 8-byte record header. */
#define RECORD_BYTES (8 + ((sizeof(struct ms_event_flow) + 7) & ~(size_t)7))

/* ---- the sender, run as `<this binary> blast ADDR PORT COUNT SIZE` ---- */

static int blast(int argc, char **argv)
{
	enum { BATCH = 256 };
	static struct mmsghdr msgs[BATCH];
	static char payload[1500];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct iovec iov;
	unsigned long long count, sent = 0;
	size_t size;
	long long t0;
	int fd;

	if (argc != 4 || inet_pton(AF_INET, argv[0], &dst.sin_addr) != 1)
		return 2;
	dst.sin_port = htons((uint16_t)atoi(argv[1]));
	count = strtoull(argv[2], NULL, 10);
	size = (size_t)atoi(argv[3]);
	if (size > sizeof(payload))
		return 2;
	memset(payload, 'f', size);
	iov = (struct iovec){ .iov_base = payload, .iov_len = size };
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("blast: socket");
		return 1;
	}
	t0 = topo_now_ms();
	while (sent < count) {
		unsigned int n = count - sent < BATCH ? (unsigned int)(count - sent) : BATCH;
		int r = sendmmsg(fd, msgs, n, 0);

		if (r < 0) {
			/* A full device queue, or an error report of an earlier datagram: go on. */
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR ||
			    errno == ECONNREFUSED)
				continue;
			perror("blast: sendmmsg");
			return 1;
		}
		sent += (unsigned long long)r;
	}
	printf("%llu %lld\n", sent, topo_now_ms() - t0);
	fflush(stdout);
	return 0;
}

/* ---- the test ---- */

static struct ev_log counter = { .store = false };

struct snap {
	struct microseg_event_stats ev;
	uint64_t reached; /* C's forwarded egress packets */
	uint64_t drops;   /* B's ingress policy drops */
	long long ms;
};

static void snap(struct ev_setup *s, struct snap *x)
{
	struct microseg_endpoint_stats cs;

	memset(x, 0, sizeof(*x));
	x->ev.sz = sizeof(x->ev);
	E2E_OK(&s->t, microseg_events_get_stats(s->t.ctx, &x->ev));
	e2e_stats(&s->t, s->c, &cs);
	x->reached = cs.egress_packets;
	x->drops = pol_drops(&s->t, s->b, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	x->ms = topo_now_ms();
}

#define D(field) ((unsigned long long)(b->field - a->field))

/* Starts the sender in C's namespace; returns its pid, its stdout in *fd. */
static pid_t start_flood(struct ev_setup *s, const char *self, int *fd)
{
	char count[32], port[16], size[16];
	const char *argv[] = { self, "blast", s->b->v4, port, count, size, NULL };
	pid_t pid;

	snprintf(count, sizeof(count), "%llu", FLOOD_PACKETS);
	snprintf(port, sizeof(port), "%d", FLOOD_PORT);
	snprintf(size, sizeof(size), "%d", FLOOD_PAYLOAD);
	pid = topo_spawn(s->c->ns, fd, argv);
	E2E_CHECK(pid > 0, "spawn the sender: %s", strerror(-pid));
	return pid;
}

/* Waits for the sender (reading events slowly meanwhile if `consume`); returns the number of
 * datagrams it sent and its own duration in ms through *ms. */
static unsigned long long finish_flood(struct ev_setup *s, pid_t pid, int fd, bool consume,
				       long long *ms)
{
	long long start = topo_now_ms();
	char out[128] = "";
	unsigned long long sent = 0;
	int r;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* The wait doubles as the slow reader's pause. */
		r = poll(&p, 1, 100);
		if (r > 0)
			break;
		E2E_CHECK(topo_now_ms() - start < FLOOD_MAX_MS, "the sender did not finish in %d ms",
			  FLOOD_MAX_MS);
		if (consume) {
			r = microseg_events_process(s->t.ctx, 0);
			E2E_CHECK(r >= 0 || r == -EINTR, "microseg_events_process = %d", r);
		}
	}
	r = topo_read_all(fd, out, sizeof(out), FLOOD_MAX_MS);
	close(fd);
	E2E_CHECK(r >= 0, "sender output: %s", strerror(-r));
	r = topo_wait(pid, 10000);
	E2E_CHECK(r == 0 && sscanf(out, "%llu %lld", &sent, ms) == 2, "sender exited %d: '%s'", r,
		  out);
	return sent;
}

/* Reads what waits in the ring; the callback only counts. */
static void drain(struct ev_setup *s)
{
	ev_pump(&s->t, 300, 20000);
}

/* The checks both floods share: the packets, the drop counter, the event offers. */
static void check_accounting(const char *phase, unsigned long long sent, const struct snap *a,
			     const struct snap *b)
{
	uint64_t offered = (b->ev.emitted - a->ev.emitted) + (b->ev.rate_limited - a->ev.rate_limited) +
			   (b->ev.lost - a->ev.lost);

	e2e_log("%s: sent %llu, reached the datapath %llu, B policy drops +%llu; events emitted "
		"+%llu, rate limited +%llu, lost +%llu (offered %llu)",
		phase, sent, D(reached), D(drops), D(ev.emitted), D(ev.rate_limited), D(ev.lost),
		(unsigned long long)offered);
	E2E_CHECK(sent == FLOOD_PACKETS, "the sender sent %llu of %llu", sent, FLOOD_PACKETS);
	/* The veth between C and the host may shed a little under a flood; most must arrive. */
	E2E_CHECK(D(reached) >= FLOOD_PACKETS * 99 / 100 && D(reached) <= FLOOD_PACKETS + NOISE,
		  "C's egress forwarded %llu packets for %llu sent", D(reached), sent);
	E2E_CHECK(D(drops) <= D(reached) && D(reached) - D(drops) <= NOISE,
		  "B's ingress dropped %llu of the %llu packets C's egress forwarded", D(drops),
		  D(reached));
	/* Each drop is offered to the event path once; the flood's own connection at C's egress
	 * and the containers' noise add a few more. */
	E2E_CHECK(offered >= D(drops) && offered <= D(drops) + NOISE,
		  "%llu events offered for %llu drops", (unsigned long long)offered, D(drops));
}

static void check_rss(long rss0, const char *when)
{
	long rss = ev_rss_kib();

	e2e_log("RSS %s: %ld KiB (start %ld KiB)", when, rss, rss0);
	E2E_CHECK(rss - rss0 < RSS_SLACK_KIB, "RSS grew by %ld KiB %s", rss - rss0, when);
}

static uint64_t ring_bytes(struct ev_setup *s)
{
	char pin[MICROSEG_PATH_MAX + 32], out[4096];
	const char *p;
	int r;

	r = topo_runl(NULL, 15000, out, sizeof(out), "bpftool", "-j", "map", "show", "pinned",
		      e2e_pin(&s->t, MS_MAP_EVENTS, pin, sizeof(pin)), NULL);
	p = strstr(out, "\"max_entries\":");
	E2E_CHECK(r == 0 && p, "bpftool map show %s: exit %d '%s'", pin, r, out);
	return strtoull(p + strlen("\"max_entries\":"), NULL, 10);
}

int main(int argc, char **argv)
{
	struct ev_setup s;
	struct snap sa, sb, *a = &sa, *b = &sb;
	char self[PATH_MAX];
	unsigned long long sent;
	long long flood_ms;
	long rss0, ncpu;
	uint64_t capacity;
	ssize_t len;
	int fd;
	pid_t pid;

	if (argc >= 2 && !strcmp(argv[1], "blast"))
		return blast(argc - 2, argv + 2);

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[len] = '\0';
	ev_setup(&s, "evflood");
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	capacity = ring_bytes(&s) / RECORD_BYTES;
	e2e_log("%ld CPUs, event ring of %llu bytes: %llu records", ncpu,
		(unsigned long long)ring_bytes(&s), (unsigned long long)capacity);

	/* Neighbour entries in place (B's on the host, the gateway's in C), so that no packet of
	 * the flood waits for resolution. */
	ev_http_ok(s.a, s.b->v4, EV_HTTP_PORT, ev_next_port(), "server");
	E2E_CHECK(e2e_ping(s.c, MICROSEG_GATEWAY_IPV4), "C cannot reach its gateway");
	ev_subscribe(&s.t, &counter, NULL);
	rss0 = ev_rss_kib();

	/* 1: the rate limit, a slow reader. */
	{
		const uint32_t rate = 1000, burst = 2000;
		uint64_t bound;
		double secs;

		e2e_log("phase: flood-rate-limited");
		E2E_OK(&s.t, microseg_events_set_rate(s.t.ctx, rate, burst));
		snap(&s, a);
		pid = start_flood(&s, self, &fd);
		sent = finish_flood(&s, pid, fd, true, &flood_ms);
		topo_sleep_ms(200);
		snap(&s, b);
		/* The window the limiter refilled in: from before the first packet to after the
		 * last read of the counters. */
		secs = (double)(b->ms - a->ms) / 1000.0;
		bound = (uint64_t)(rate * secs * (double)ncpu) + (uint64_t)burst * (uint64_t)ncpu;
		e2e_log("sender: %llu datagrams in %lld ms (%.0f/s); window %.2f s, bound on emitted "
			"%llu", sent, flood_ms, sent * 1000.0 / (double)(flood_ms ? flood_ms : 1), secs,
			(unsigned long long)bound);
		check_accounting("rate-limited", sent, a, b);
		E2E_CHECK(b->ev.emitted - a->ev.emitted <= bound,
			  "emitted +%llu events, the rate limit allows %llu", D(ev.emitted),
			  (unsigned long long)bound);
		/* The limiter lets the configured rate through on the sending CPU at least. */
		E2E_CHECK(b->ev.emitted - a->ev.emitted >= (uint64_t)(rate * (flood_ms / 1000.0) / 2),
			  "emitted only +%llu events in %lld ms at %u/s", D(ev.emitted), flood_ms,
			  rate);
		E2E_CHECK(b->ev.rate_limited - a->ev.rate_limited + b->ev.emitted - a->ev.emitted >=
				  b->drops - a->drops,
			  "rate limited +%llu, emitted +%llu, for %llu drops", D(ev.rate_limited),
			  D(ev.emitted), D(drops));
		if (bound < capacity)
			E2E_CHECK(b->ev.lost == a->ev.lost, "%llu events lost with a reader and a ring "
				  "larger than the rate allows", D(ev.lost));
		check_rss(rss0, "after the rate-limited flood");
		/* Everything written is read, once. */
		for (int attempt = 0;; attempt++) {
			drain(&s);
			snap(&s, b);
			if (b->ev.emitted - a->ev.emitted ==
				    (b->ev.delivered + b->ev.filtered) - (a->ev.delivered + a->ev.filtered) ||
			    attempt == 3)
				break;
		}
		E2E_CHECK(b->ev.emitted - a->ev.emitted ==
				  (b->ev.delivered + b->ev.filtered) - (a->ev.delivered + a->ev.filtered),
			  "emitted +%llu, read +%llu", D(ev.emitted),
			  D(ev.delivered) + D(ev.filtered));
	}

	/* 2: nobody reads, the ring fills. */
	{
		e2e_log("phase: flood-ring-full");
		E2E_OK(&s.t, microseg_events_set_rate(s.t.ctx, 100000000, 100000000));
		drain(&s);
		snap(&s, a);
		pid = start_flood(&s, self, &fd);
		sent = finish_flood(&s, pid, fd, false, &flood_ms);
		topo_sleep_ms(200);
		snap(&s, b);
		e2e_log("sender: %llu datagrams in %lld ms", sent, flood_ms);
		check_accounting("ring-full", sent, a, b);
		E2E_CHECK(b->ev.lost > a->ev.lost, "no event lost with nobody reading %llu drops",
			  D(drops));
		E2E_CHECK(b->ev.emitted - a->ev.emitted <= capacity &&
				  b->ev.emitted - a->ev.emitted >= capacity * 95 / 100,
			  "emitted +%llu into an empty ring of %llu records nobody read",
			  D(ev.emitted), (unsigned long long)capacity);
		check_rss(rss0, "after the unread flood");
		counter.calls = 0;
		drain(&s);
		snap(&s, b);
		e2e_log("read %llu events after the flood", (unsigned long long)counter.calls);
		E2E_CHECK(counter.calls == b->ev.emitted - a->ev.emitted,
			  "read %llu events, %llu were written", (unsigned long long)counter.calls,
			  D(ev.emitted));
		check_rss(rss0, "after reading the full ring");
	}

	/* The event path still reports a new connection. */
	{
		struct ev_log l = { .store = true };
		struct ev_tuple tu;
		uint16_t lp = ev_next_port();

		e2e_log("phase: after");
		E2E_OK(&s.t, microseg_events_set_rate(s.t.ctx, 1000, 2000));
		ev_subscribe(&s.t, &l, NULL);
		ev_tuple_set(&tu, s.a->v4, lp, s.b->v4, EV_HTTP_PORT, MICROSEG_PROTO_TCP);
		ev_http_ok(s.a, s.b->v4, EV_HTTP_PORT, lp, "server");
		ev_pump(&s.t, 300, 5000);
		E2E_CHECK(ev_find(&l, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s.a->ep),
				  MICROSEG_DIR_EGRESS, &tu) &&
				  ev_find(&l, MICROSEG_EVENT_FLOW_NEW, microseg_endpoint_id(s.b->ep),
					  MICROSEG_DIR_INGRESS, &tu),
			  "no 'new' events for a connection after the floods");
		E2E_OK(&s.t, microseg_events_unsubscribe(s.t.ctx));
		free(l.v);
	}
	pol_finish(&s.t);
	return 0;
}
