// SPDX-License-Identifier: Apache-2.0
/* Test topology helper: see topo.h. */
#include "topo.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPO_MAX_NETNS 16
#define TOPO_MAX_LINKS 64
#define TOPO_MAX_DIRS 16
#define TOPO_MAX_PIDS 64
#define TOPO_MAX_EXIT_FNS 16
#define NETNS_DIR "/run/netns/"

struct netns_rec {
	char name[64];
	char path[96];
};

/*
 * What must be removed, in memory shared with the reaper (see start_reaper). Records are
 * written completely before their count is bumped, so a signal handler or the reaper reading
 * them concurrently sees either the old or the new list, never a half-written entry.
 */
struct records {
	struct netns_rec netns[TOPO_MAX_NETNS];
	volatile sig_atomic_t n_netns;
	char links[TOPO_MAX_LINKS][IFNAMSIZ];
	volatile sig_atomic_t n_links;
	char dirs[TOPO_MAX_DIRS][256];
	volatile sig_atomic_t n_dirs;
	volatile sig_atomic_t done; /* a teardown ran to its end */
};

static struct records *R;

static struct {
	pid_t owner;
	char tag[9];
	int subnet;
	int subnet_fd;
	unsigned next_if;
	volatile pid_t pids[TOPO_MAX_PIDS]; /* 0 = free slot */
	struct {
		void (*fn)(void *);
		void *arg;
	} exit_fns[TOPO_MAX_EXIT_FNS];
	int n_exit_fns;
	volatile sig_atomic_t tearing;
} T = { .subnet = -1, .subnet_fd = -1 };

static const int caught_signals[] = { SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGABRT, SIGSEGV,
				      SIGBUS,  SIGFPE,  SIGILL,  SIGTRAP, SIGSYS,  SIGALRM,
				      SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF };

long long topo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void topo_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void topo_require_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: end-to-end tests need root (namespaces, BPF)\n");
		exit(TOPO_EXIT_SKIP);
	}
}

pid_t topo_owner(void)
{
	return T.owner;
}

const char *topo_tag(void)
{
	return T.tag;
}

/* ---- teardown: async-signal-safe pieces only ---- */

/* Deletes a link of the host namespace by name over a raw rtnetlink socket. */
static void del_link_raw(const char *name)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	char ack[512];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 2 };
	size_t nlen = strlen(name) + 1;
	struct rtattr *rta;
	int fd;

	if (nlen > IFNAMSIZ)
		return;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.nh.nlmsg_type = RTM_DELLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = IFLA_IFNAME;
	rta->rta_len = RTA_LENGTH(nlen);
	memcpy(RTA_DATA(rta), name, nlen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0)
		(void)!recv(fd, ack, sizeof(ack), 0); /* the ack (or -ENODEV): wait so it is done */
	close(fd);
}

struct dirent64_raw {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* rm -rf of dirfd/name without opendir (which allocates). Does not cross into symlinks. */
static void rm_tree_at(int dirfd, const char *name, int depth)
{
	char buf[2048];
	int fd, pass;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (depth > 16)
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Removing entries while reading the directory may make getdents skip some: rescan. */
	for (pass = 0; pass < 8; pass++) {
		long n;

		lseek(fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			long off = 0;

			while (off < n) {
				struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);

				off += d->d_reclen;
				if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
					continue;
				rm_tree_at(fd, d->d_name, depth + 1);
			}
		}
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
			break;
	}
	close(fd);
}

static void kill_pids_raw(void)
{
	for (int i = 0; i < TOPO_MAX_PIDS; i++) {
		pid_t p = T.pids[i];

		if (p <= 0)
			continue;
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		T.pids[i] = 0;
	}
}

/*
 * Removes every recorded namespace, directory and link. Only async-signal-safe calls: it runs
 * from the signal handler and in the reaper too. Quick steps first, so that a runner that
 * follows SIGTERM with SIGKILL half a second later (meson does) finds little undone, and the
 * reaper finishes the rest.
 */
static void remove_records(void)
{
	int i;

	/* What `ip netns del` does: drop the bind mount that names the namespace. The veth
	 * peers inside go when the namespace dies, and their host ends with them. */
	for (i = R->n_netns - 1; i >= 0; i--) {
		umount2(R->netns[i].path, MNT_DETACH);
		unlink(R->netns[i].path);
	}
	for (i = R->n_dirs - 1; i >= 0; i--)
		rm_tree_at(AT_FDCWD, R->dirs[i], 0);
	/* Host ends of veths (their peers go with them), half-made pairs, host-only links. */
	for (i = R->n_links - 1; i >= 0; i--)
		del_link_raw(R->links[i]);
	R->done = 1;
}

static void teardown_raw(void)
{
	if (T.tearing || !R)
		return;
	T.tearing = 1;
	/* Processes first: a process inside a namespace keeps it alive after its name goes. */
	kill_pids_raw();
	remove_records();
}

/*
 * The reaper: a child in its own session, so a runner that kills the test's process group
 * (even with SIGKILL) misses it. It waits for the test to die (EOF on a pipe only the test
 * holds) and removes whatever the test's own teardown did not finish. It holds none of the
 * test's other file descriptors, so nobody waits on it for EOF, and it starts nothing.
 */
static int start_reaper(void)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(pfd[0]);
		close(pfd[1]);
		return err;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		char c;

		close(pfd[1]);
		setsid();
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		dup2(pfd[0], 3);
		syscall(SYS_close_range, 4, ~0u, 0);
		while (read(3, &c, 1) < 0 && errno == EINTR)
			;
		if (!R->done)
			remove_records();
		_exit(0);
	}
	close(pfd[0]);
	/* Write end kept (never written) until this process dies; O_CLOEXEC keeps it out of
	 * the programs the test runs. */
	return 0;
}

void topo_teardown(void)
{
	sigset_t all, old;

	if (!T.owner || getpid() != T.owner)
		return;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	teardown_raw();
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void on_signal(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t set;

	/* A child between fork and exec must not tear down its parent's topology. */
	if (getpid() != T.owner)
		_exit(128 + sig);
	teardown_raw();
	/* Die of the same signal so the caller sees what happened. */
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);
}

static void on_exit_handler(void)
{
	if (getpid() != T.owner)
		return;
	while (T.n_exit_fns > 0) {
		T.n_exit_fns--;
		T.exit_fns[T.n_exit_fns].fn(T.exit_fns[T.n_exit_fns].arg);
	}
	topo_teardown();
}

int topo_init(const char *tag)
{
	struct sigaction sa = { .sa_handler = on_signal };
	char owner[32];
	const char *path;
	size_t i;
	int r;

	if (T.owner)
		return -EALREADY;
	if (!tag || !*tag || strlen(tag) > 8)
		return -EINVAL;
	for (i = 0; tag[i]; i++)
		if (!((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= '0' && tag[i] <= '9')))
			return -EINVAL;
	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (R == MAP_FAILED) {
		R = NULL;
		return -errno;
	}
	strcpy(T.tag, tag);
	T.owner = getpid();
	/* Before any handler is installed: the reaper keeps the default dispositions. */
	r = start_reaper();
	if (r < 0)
		return r;

	/* Every process this test starts carries the marker, so a leftover can be found. */
	snprintf(owner, sizeof(owner), "%d", (int)T.owner);
	setenv("MICROSEG_TEST_OWNER", owner, 1);
	/* ip, tc and friends live in sbin, which a test runner's PATH may lack. */
	path = getenv("PATH");
	if (!path || !strstr(path, "/usr/sbin")) {
		char np[4096];

		snprintf(np, sizeof(np), "%s%s/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "",
			 path && *path ? ":" : "");
		setenv("PATH", np, 1);
	}
	/* Unbuffered, so output is not lost or duplicated around fork and signals. */
	setvbuf(stdout, NULL, _IONBF, 0);

	if (atexit(on_exit_handler))
		return -ENOMEM;
	/* A closed output pipe should fail a write, not kill the test before it cleans up. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(caught_signals) / sizeof(caught_signals[0]); i++)
		if (sigaction(caught_signals[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}

int topo_subnet(void)
{
	int start, i;

	if (T.subnet > 0)
		return T.subnet;
	if (!T.owner)
		return -EINVAL;
	start = (int)(T.owner % 254);
	for (i = 0; i < 254; i++) {
		int x = (start + i) % 254 + 1;
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		socklen_t len;
		int fd;

		/* Abstract name: no file to leak, released by the kernel when we die. */
		len = offsetof(struct sockaddr_un, sun_path) + 1 +
		      snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "microseg-test-net-%d", x);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, len) == 0) {
			T.subnet_fd = fd;
			T.subnet = x;
			return x;
		}
		close(fd);
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRNOTAVAIL;
}

/* ---- processes ---- */

static int track_pid(pid_t pid)
{
	for (int i = 0; i < TOPO_MAX_PIDS; i++) {
		if (T.pids[i] == 0) {
			T.pids[i] = pid;
			return 0;
		}
	}
	return -ENOSPC;
}

static void untrack_pid(pid_t pid)
{
	for (int i = 0; i < TOPO_MAX_PIDS; i++)
		if (T.pids[i] == pid)
			T.pids[i] = 0;
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

/* Forks a child in ns with stdout to out_fd's pipe (if asked). */
static pid_t start_child(const char *ns, int *out_fd, const char *const argv[])
{
	char nspath[128];
	int pfd[2] = { -1, -1 };
	sigset_t all, old;
	pid_t pid;

	if (!argv || !argv[0])
		return -EINVAL;
	if (ns && snprintf(nspath, sizeof(nspath), NETNS_DIR "%s", ns) >= (int)sizeof(nspath))
		return -ENAMETOOLONG;
	if (out_fd && pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;

	/* Block signals so the pid is recorded before a handler could need it. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		int nsfd, devnull;

		for (size_t i = 0; i < sizeof(caught_signals) / sizeof(caught_signals[0]); i++)
			signal(caught_signals[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* Die with the test, even if it is killed with SIGKILL. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != T.owner)
			_exit(127);
		if (ns) {
			nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
			if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
				fprintf(stderr, "topo: setns %s: %s\n", nspath, strerror(errno));
				_exit(126);
			}
			close(nsfd);
		}
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		if (out_fd)
			dup2(pfd[1], STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "topo: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid > 0 && track_pid(pid) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -ENOSPC;
	} else if (pid < 0) {
		pid = -errno;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (out_fd) {
		close(pfd[1]);
		if (pid < 0)
			close(pfd[0]);
		else
			*out_fd = pfd[0];
	}
	return pid;
}

pid_t topo_spawn(const char *ns, int *out_fd, const char *const argv[])
{
	return start_child(ns, out_fd, argv);
}

int topo_wait(pid_t pid, int timeout_ms)
{
	long long deadline = topo_now_ms() + timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			untrack_pid(pid);
			return status_code(st);
		}
		if (r < 0 && errno != EINTR) {
			untrack_pid(pid);
			return -errno;
		}
		if (topo_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			untrack_pid(pid);
			return -ETIMEDOUT;
		}
		topo_sleep_ms(5);
	}
}

void topo_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	untrack_pid(pid);
}

/* Reads from fd into buf[*used..len-1) until EOF, a newline (if stop_at_nl) or the deadline. */
static int read_until(int fd, char *buf, size_t len, size_t *used, int stop_at_nl,
		      long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - topo_now_ms();
		char c[512];
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		/* One byte at a time when a line is wanted, so nothing past it is consumed. */
		n = read(fd, c, stop_at_nl ? 1 : sizeof(c));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t i = 0; i < n; i++) {
			if (stop_at_nl && c[i] == '\n')
				return 1;
			if (*used + 1 < len)
				buf[(*used)++] = c[i];
		}
		buf[*used] = '\0';
	}
}

int topo_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t used = 0;
	int r;

	if (!buf || len == 0)
		return -EINVAL;
	buf[0] = '\0';
	r = read_until(fd, buf, len, &used, 1, topo_now_ms() + timeout_ms);
	buf[used] = '\0';
	if (r < 0)
		return r;
	if (r == 0 && used == 0)
		return 0;
	return used ? (int)used : 1; /* an empty line still counts as a line */
}

int topo_read_all(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t used = 0;
	int r;

	if (!buf || len == 0)
		return -EINVAL;
	buf[0] = '\0';
	r = read_until(fd, buf, len, &used, 0, topo_now_ms() + timeout_ms);
	buf[used] = '\0';
	return r < 0 ? r : (int)used;
}

int topo_run(const char *ns, int timeout_ms, char *out, size_t outlen, const char *const argv[])
{
	long long deadline = topo_now_ms() + timeout_ms;
	char sink[256];
	int fd = -1, r = 0;
	pid_t pid;

	pid = start_child(ns, &fd, argv);
	if (pid < 0)
		return pid;
	if (!out || outlen == 0) {
		out = sink;
		outlen = sizeof(sink);
	}
	{
		size_t used = 0;

		out[0] = '\0';
		r = read_until(fd, out, outlen, &used, 0, deadline);
		out[used] = '\0';
	}
	close(fd);
	if (r == -ETIMEDOUT) {
		topo_kill(pid);
		return -ETIMEDOUT;
	}
	{
		long long left = deadline - topo_now_ms();

		return topo_wait(pid, left > 0 ? (int)left : 1);
	}
}

int topo_runl(const char *ns, int timeout_ms, char *out, size_t outlen, const char *arg0, ...)
{
	const char *argv[64];
	va_list ap;
	int n = 0;

	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return topo_run(ns, timeout_ms, out, outlen, argv);
}

/* ---- namespaces, links, directories ---- */

const char *topo_netns_add(const char *suffix)
{
	struct netns_rec *rec;
	int r;

	if (!T.owner || !suffix || R->n_netns >= TOPO_MAX_NETNS) {
		errno = T.owner ? ENOSPC : EINVAL;
		return NULL;
	}
	rec = &R->netns[R->n_netns];
	if (snprintf(rec->name, sizeof(rec->name), "ms%s-%d-%s", T.tag, (int)T.owner, suffix) >=
	    (int)sizeof(rec->name)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	snprintf(rec->path, sizeof(rec->path), NETNS_DIR "ms%s-%d-%s", T.tag, (int)T.owner, suffix);
	/* Recorded before it exists, so an interrupted `ip netns add` is cleaned up too. */
	R->n_netns++;
	r = topo_runl(NULL, 10000, NULL, 0, "ip", "netns", "add", rec->name, NULL);
	if (r != 0) {
		fprintf(stderr, "topo: ip netns add %s failed (%d)\n", rec->name, r);
		errno = EIO;
		return NULL;
	}
	r = topo_runl(NULL, 10000, NULL, 0, "ip", "-n", rec->name, "link", "set", "lo", "up",
		      NULL);
	if (r != 0) {
		fprintf(stderr, "topo: lo up in %s failed (%d)\n", rec->name, r);
		errno = EIO;
		return NULL;
	}
	return rec->name;
}

const char *topo_netns_path(const char *name)
{
	for (int i = 0; i < R->n_netns; i++)
		if (name && !strcmp(R->netns[i].name, name))
			return R->netns[i].path;
	return NULL;
}

int topo_track_link(const char *ifname)
{
	if (!ifname || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	if (R->n_links >= TOPO_MAX_LINKS)
		return -ENOSPC;
	for (int i = 0; i < R->n_links; i++)
		if (!strcmp(R->links[i], ifname))
			return 0;
	strcpy(R->links[R->n_links], ifname);
	R->n_links++;
	return 0;
}

const char *topo_ifname(void)
{
	char name[IFNAMSIZ];

	if (!T.owner || R->n_links >= TOPO_MAX_LINKS)
		return NULL;
	snprintf(name, sizeof(name), "ms%d%u", (int)(T.owner % 100000), T.next_if++);
	if (topo_track_link(name) < 0)
		return NULL;
	for (int i = 0; i < R->n_links; i++)
		if (!strcmp(R->links[i], name))
			return R->links[i];
	return NULL;
}

int topo_track_dir(const char *path)
{
	char pid[16];

	if (!path || path[0] != '/' || strlen(path) >= sizeof(R->dirs[0]))
		return -EINVAL;
	/* A guard against removing anything this run did not create. */
	snprintf(pid, sizeof(pid), "%d", (int)T.owner);
	if (!T.owner || !strstr(path, pid))
		return -EINVAL;
	if (R->n_dirs >= TOPO_MAX_DIRS)
		return -ENOSPC;
	strcpy(R->dirs[R->n_dirs], path);
	R->n_dirs++;
	return 0;
}

int topo_on_exit(void (*fn)(void *), void *arg)
{
	if (!fn)
		return -EINVAL;
	if (T.n_exit_fns >= TOPO_MAX_EXIT_FNS)
		return -ENOSPC;
	T.exit_fns[T.n_exit_fns].fn = fn;
	T.exit_fns[T.n_exit_fns].arg = arg;
	T.n_exit_fns++;
	return 0;
}
