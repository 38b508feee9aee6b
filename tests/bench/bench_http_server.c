// SPDX-License-Identifier: Apache-2.0
/*
 * The upstream of the L7 benchmark (run-l7-bench.sh): an HTTP/1.1 server that answers every
 * request with the same 200 and a 100-byte body, keeping the connection open. It exists so
 * that the server is never what limits the rate: no parsing beyond finding the end of each
 * request's header block, no allocation per request, one epoll loop per thread, the listening
 * socket repeated per thread with SO_REUSEPORT so the kernel spreads connections.
 *
 * Only requests without a body are understood (wrk's GETs). A response that does not fit in
 * the socket's send buffer at once closes the connection (the client sees an error); with one
 * request in flight per connection that never happens.
 *
 * Usage: bench-http-server ADDR PORT THREADS. Prints "listening" once every thread's socket is
 * bound; runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_FDS 65536
#define BODY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012\n"
#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" BODY

_Static_assert(sizeof(BODY) - 1 == 100, "the body must match its Content-Length");

/* Per connection: how much of "\r\n\r\n" the bytes seen so far end with. Indexed by fd; each
 * fd belongs to one thread's epoll set, so the slots need no lock. */
static uint8_t end_matched[MAX_FDS];
static int stop_fd = -1;

struct worker {
	struct sockaddr_in addr;
	int lfd, epfd;
	pthread_t thread;
};

static int listen_socket(const struct sockaddr_in *addr)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) || listen(fd, 1024)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Counts the header blocks that end in buf, carrying the partial match over reads. */
static unsigned count_requests(uint8_t *matched, const char *buf, size_t len)
{
	static const char end[] = "\r\n\r\n";
	unsigned n = 0, m = *matched;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == end[m])
			m++;
		else
			m = buf[i] == '\r' ? 1 : 0;
		if (m == 4) {
			n++;
			m = 0;
		}
	}
	*matched = (uint8_t)m;
	return n;
}

static void drop(int epfd, int fd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void serve(int epfd, int fd)
{
	char buf[16384], out[8 * (sizeof(RESPONSE) - 1)];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop(epfd, fd);
			return;
		}
		if (n < 0)
			return;
		unsigned reqs = count_requests(&end_matched[fd], buf, (size_t)n);
		while (reqs) {
			unsigned k = reqs < 8 ? reqs : 8;
			for (unsigned i = 0; i < k; i++)
				memcpy(out + i * (sizeof(RESPONSE) - 1), RESPONSE, sizeof(RESPONSE) - 1);
			size_t want = k * (sizeof(RESPONSE) - 1);
			if (send(fd, out, want, MSG_NOSIGNAL) != (ssize_t)want) {
				drop(epfd, fd);
				return;
			}
			reqs -= k;
		}
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void accept_all(int epfd, int lfd)
{
	int one = 1;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (fd >= MAX_FDS) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		end_matched[fd] = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
			close(fd);
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(w->epfd, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == stop_fd)
				return NULL;
			if (fd == w->lfd)
				accept_all(w->epfd, fd);
			else
				serve(w->epfd, fd);
		}
	}
}

int main(int argc, char **argv)
{
	struct worker workers[MAX_THREADS];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	sigset_t sigs;
	int threads, sig;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
	    (threads = atoi(argv[3])) < 1 || threads > MAX_THREADS || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: %s ADDR PORT THREADS (1..%d)\n", argv[0], MAX_THREADS);
		return 2;
	}
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	struct rlimit rl = { MAX_FDS, MAX_FDS };
	setrlimit(RLIMIT_NOFILE, &rl);

	/* Signals are taken synchronously by main; the workers never see them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0)
		return perror("eventfd"), 1;
	for (int i = 0; i < threads; i++) {
		struct worker *w = &workers[i];
		w->addr = addr;
		w->lfd = listen_socket(&addr);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event lev = { .events = EPOLLIN, .data.fd = w->lfd };
		struct epoll_event sev = { .events = EPOLLIN, .data.fd = stop_fd };
		if (w->lfd < 0 || w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &lev) ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, stop_fd, &sev)) {
			fprintf(stderr, "bench-http-server: %s:%s: %s\n", argv[1], argv[2],
				strerror(w->lfd < 0 ? -w->lfd : errno));
			return 1;
		}
	}
	for (int i = 0; i < threads; i++)
		if (pthread_create(&workers[i].thread, NULL, run, &workers[i])) {
			fprintf(stderr, "bench-http-server: cannot start thread %d\n", i);
			return 1;
		}
	printf("listening\n");
	fflush(stdout);

	sigwait(&sigs, &sig);
	uint64_t one = 1;
	if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
		return 1;
	for (int i = 0; i < threads; i++)
		pthread_join(workers[i].thread, NULL);
	return 0;
}
