// SPDX-License-Identifier: Apache-2.0
/*
 * A test that dies halfway leaves nothing behind. Runs other e2e test binaries (paths given
 * as arguments: the traffic test, then the reopen test), interrupts them at a given phase
 * with SIGINT or SIGTERM or makes them fail a check there, and then looks for anything
 * carrying the child's PID: network namespaces, host links, the instance's bpffs and state
 * directories, and processes started by the child.
 *
 * SIGKILL included: then the topology helper's reaper process removes what the test could
 * not, and the test's children die through PR_SET_PDEATHSIG.
 */
#include "e2e.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct scenario {
	const char *binary;
	const char *tag;   /* the child's topo tag: its instance is e2e-<tag>-<pid> */
	const char *phase; /* marker line "phase: <phase>" */
	int sig;           /* 0: make the child fail a check at the phase instead */
	int delay_ms;      /* after the marker, before the signal */
};

static bool quiet;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e2e_log("  %s", buf);
}

static int leftovers(pid_t pid, const char *tag);

static int leftovers_quiet(pid_t pid, const char *tag)
{
	int n;

	quiet = true;
	n = leftovers(pid, tag);
	quiet = false;
	return n;
}

static int leftovers(pid_t pid, const char *tag)
{
	char out[65536], pat[32], ifpref[32], path[256];
	int n = 0;

	/* Namespaces: ms<tag>-<pid>-<x>. */
	snprintf(pat, sizeof(pat), "-%d-", (int)pid);
	if (topo_runl(NULL, 10000, out, sizeof(out), "ip", "netns", "list", NULL) == 0) {
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
			if (strstr(line, pat)) {
				note("leftover namespace: %s", line);
				n++;
			}
		}
	}
	/* Host links: ms<pid % 100000><n>. */
	snprintf(ifpref, sizeof(ifpref), "ms%d", (int)(pid % 100000));
	if (topo_runl(NULL, 10000, out, sizeof(out), "ip", "-o", "link", "show", NULL) == 0) {
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
			char *name = strchr(line, ' '), *end;

			if (!name)
				continue;
			name++;
			end = name + strcspn(name, "@:");
			*end = '\0';
			if (!strncmp(name, ifpref, strlen(ifpref)) &&
			    strspn(name + strlen(ifpref), "0123456789") ==
				    strlen(name + strlen(ifpref)) &&
			    name[strlen(ifpref)] != '\0') {
				note("leftover link: %s", name);
				n++;
			}
		}
	}
	/* Instance directories. */
	snprintf(path, sizeof(path), "/sys/fs/bpf/microseg/e2e-%s-%d", tag, (int)pid);
	if (access(path, F_OK) == 0) {
		note("leftover pins: %s", path);
		n++;
	}
	snprintf(path, sizeof(path), "/run/microseg/e2e-%s-%d", tag, (int)pid);
	if (access(path, F_OK) == 0) {
		note("leftover state: %s", path);
		n++;
	}
	/* Processes the child started carry MICROSEG_TEST_OWNER=<its pid>. */
	{
		char want[64];
		DIR *d = opendir("/proc");
		struct dirent *de;

		snprintf(want, sizeof(want), "MICROSEG_TEST_OWNER=%d", (int)pid);
		while (d && (de = readdir(d)) != NULL) {
			char env[16384], envpath[300];
			ssize_t len;
			int fd;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(envpath, sizeof(envpath), "/proc/%s/environ", de->d_name);
			fd = open(envpath, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			len = read(fd, env, sizeof(env) - 1);
			close(fd);
			if (len <= 0)
				continue;
			env[len] = '\0';
			for (char *p = env; p < env + len; p += strlen(p) + 1) {
				if (!strcmp(p, want)) {
					note("leftover process: %s", de->d_name);
					n++;
					break;
				}
			}
		}
		if (d)
			closedir(d);
	}
	return n;
}

static int run_scenario(const struct scenario *sc)
{
	char line[1024];
	const char *argv[] = { sc->binary, NULL };
	bool reached = false;
	int fd = -1, status, n;
	long long deadline;
	pid_t pid;

	if (sc->sig)
		unsetenv("MICROSEG_E2E_FAIL_AT");
	else
		setenv("MICROSEG_E2E_FAIL_AT", sc->phase, 1);
	pid = topo_spawn(NULL, &fd, argv);
	E2E_CHECK(pid > 0, "spawn %s: %s", sc->binary, strerror(-pid));
	e2e_log("%s (pid %d): %s at phase '%s'", sc->binary, (int)pid,
		sc->sig ? strsignal(sc->sig) : "failed check", sc->phase);

	deadline = topo_now_ms() + 90000;
	while (!reached && topo_now_ms() < deadline) {
		int r = topo_read_line(fd, line, sizeof(line), (int)(deadline - topo_now_ms()));

		if (r <= 0)
			break;
		printf("    | %s\n", line);
		reached = strstr(line, "] phase: ") && !strcmp(strstr(line, "] phase: ") + 9, sc->phase);
	}
	if (reached && sc->sig) {
		topo_sleep_ms(sc->delay_ms);
		kill(pid, sc->sig);
	}
	/* Drain the rest of its output, then collect its status. */
	while (topo_read_line(fd, line, sizeof(line), 30000) > 0)
		printf("    | %s\n", line);
	close(fd);
	status = topo_wait(pid, 30000);
	e2e_log("%s exited with status %d", sc->binary, status);

	/* Children killed through PR_SET_PDEATHSIG die asynchronously, and after a SIGKILL the
	 * reaper works after the test is gone: give them a moment. */
	for (int i = 0; i < 50 && leftovers_quiet(pid, sc->tag) > 0; i++)
		topo_sleep_ms(100);
	n = leftovers(pid, sc->tag);
	E2E_CHECK(reached, "%s never reached phase '%s': no mid-run interruption tested",
		  sc->binary, sc->phase);
	if (sc->sig)
		E2E_CHECK(status == 128 + sc->sig, "%s: status %d, want death by %s", sc->binary,
			  status, strsignal(sc->sig));
	else
		E2E_CHECK(status == 1, "%s: status %d, want 1 (failed check)", sc->binary, status);
	return n;
}

int main(int argc, char **argv)
{
	struct scenario sc[5];
	int n = 0, left = 0, r;

	topo_require_root();
	E2E_CHECK(argc == 3, "usage: %s TRAFFIC_TEST REOPEN_TEST", argv[0]);
	r = topo_init("cleanup");
	E2E_CHECK(r == 0, "topo_init: %s", strerror(-r));

	/* In the middle of the traffic matrix: servers and clients running in namespaces. */
	sc[n++] = (struct scenario){ argv[1], "traffic", "traffic", SIGINT, 500 };
	/* During the TCP streams. */
	sc[n++] = (struct scenario){ argv[2], "reopen", "stream", SIGTERM, 300 };
	/* While the context is closed: the exit path must reopen the instance to purge it. */
	sc[n++] = (struct scenario){ argv[2], "reopen", "closed", 0, 0 };
	/* A failed check with everything up. */
	sc[n++] = (struct scenario){ argv[1], "traffic", "counters", 0, 0 };
	/* No handler runs: the reaper alone cleans up. */
	sc[n++] = (struct scenario){ argv[2], "reopen", "stream", SIGKILL, 300 };

	for (int i = 0; i < n; i++) {
		int l = run_scenario(&sc[i]);

		e2e_log("%s", l ? "LEFTOVERS FOUND" : "nothing left behind");
		left += l;
	}
	E2E_CHECK(left == 0, "%d leftovers", left);
	e2e_log("PASS");
	return 0;
}
