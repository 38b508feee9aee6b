/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test topology helper: network namespaces, host-side links, background processes and
 * directories that a test creates, under names unique to the run (they all carry the PID),
 * recorded as they are made and always torn down:
 *  - at exit, after the test's own cleanup callbacks (topo_on_exit);
 *  - from a handler for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV and the other
 *    signals that end a process (SIGPIPE is ignored instead); the handler only makes
 *    async-signal-safe system calls (kill, umount2, unlink, a netlink socket, getdents64);
 *  - by a reaper process started in topo_init, in its own session, which waits for the test
 *    to die and removes whatever is still recorded: this covers SIGKILL, and a runner that
 *    kills the whole process group (meson sends SIGTERM and then SIGKILL after 0.5 s).
 * Processes the test starts get PR_SET_PDEATHSIG, so they die with it in every case, and
 * carry MICROSEG_TEST_OWNER=<test pid> in their environment so a leftover can be traced.
 *
 * One topology per process; not thread-safe (tests are single-threaded).
 */
#ifndef MICROSEG_TESTS_TOPO_H
#define MICROSEG_TESTS_TOPO_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit code meson treats as "skipped". */
#define TOPO_EXIT_SKIP 77

/* Exits with TOPO_EXIT_SKIP (after a message) when not running as root. */
void topo_require_root(void);

/*
 * Starts the topology of this process: tag (up to 8 of [a-z0-9]) goes into every name so a
 * leftover can be traced to its test. Installs the exit and signal handlers. Returns 0 or
 * -errno. Calling it twice is an error (-EALREADY).
 */
int topo_init(const char *tag);

/* The PID that owns the topology (the one that called topo_init). */
pid_t topo_owner(void);

/* The tag given to topo_init. */
const char *topo_tag(void);

/*
 * A byte X (1..254) such that 10.200.X.0/24 and fd00:200:X::/64 belong to this run alone
 * among the tests using this helper on the machine (held through an abstract unix socket
 * that the kernel releases when the process dies). Allocated on first call. -errno on error.
 */
int topo_subnet(void);

/*
 * Creates a network namespace named "ms<tag>-<pid>-<suffix>" with `ip netns add`, brings its
 * loopback up and records it. Returns the name (valid until teardown) or NULL (errno set).
 */
const char *topo_netns_add(const char *suffix);

/* "/run/netns/<name>" for a namespace made by topo_netns_add, valid until teardown; NULL if
 * name is not one of them. */
const char *topo_netns_path(const char *name);

/*
 * A new host interface name "ms<pid % 100000><n>" (at most 15 bytes), recorded so that a link
 * of that name in the host namespace is deleted at teardown. Returns the name (valid until
 * teardown) or NULL.
 */
const char *topo_ifname(void);

/* Records a host-namespace link to delete at teardown. 0 or -errno. */
int topo_track_link(const char *ifname);

/* Records a directory to remove recursively at teardown (bpffs pins, state dirs). As a guard
 * against removing anything else, the path must contain the owner's PID (else -EINVAL). */
int topo_track_dir(const char *path);

/* Registers fn(arg) to run at normal process exit, before the teardown, last registered
 * first. Never run from a signal handler. 0 or -ENOSPC. */
int topo_on_exit(void (*fn)(void *), void *arg);

/*
 * Runs argv (argv[0] looked up in PATH) inside namespace ns (NULL: the host namespace),
 * stdin from /dev/null, stdout captured into out (NUL-terminated, truncated to outlen - 1;
 * out may be NULL), stderr passed through. Kills it after timeout_ms.
 * Returns the exit status (0..255), 128 + signal if it died of a signal, -ETIMEDOUT, or
 * -errno if it could not be started.
 */
int topo_run(const char *ns, int timeout_ms, char *out, size_t outlen,
	     const char *const argv[]);

/* Like topo_run with a NULL-terminated argument list. */
int topo_runl(const char *ns, int timeout_ms, char *out, size_t outlen, const char *arg0, ...);

/*
 * Starts argv in the background inside ns and records it (killed at teardown). If out_fd is
 * not NULL it receives the read end of a pipe holding the process's stdout (O_CLOEXEC).
 * Returns the pid or -errno.
 */
pid_t topo_spawn(const char *ns, int *out_fd, const char *const argv[]);

/* Reads one line (without '\n') from fd within timeout_ms. Returns its length, 0 at EOF,
 * -ETIMEDOUT or -errno. */
int topo_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* Reads everything up to EOF within timeout_ms into buf (NUL-terminated). Returns length or
 * -ETIMEDOUT/-errno. */
int topo_read_all(int fd, char *buf, size_t len, int timeout_ms);

/* Waits for a spawned process; kills it (SIGKILL) when timeout_ms passes first. Returns as
 * topo_run. The record is dropped. */
int topo_wait(pid_t pid, int timeout_ms);

/* Kills a spawned process (SIGKILL), reaps it and drops the record. */
void topo_kill(pid_t pid);

/* Tears everything down now (idempotent; also what the exit and signal handlers do):
 * kills spawned processes, deletes recorded links, deletes namespaces, removes directories. */
void topo_teardown(void);

/* Milliseconds on CLOCK_MONOTONIC. */
long long topo_now_ms(void);

/* Sleeps ms milliseconds (restarting after signals). */
void topo_sleep_ms(int ms);

#ifdef __cplusplus
}
#endif
#endif
