/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Star Wars demo: a deathstar service of three replicas, an Empire tiefighter and an
 * Alliance xwing, each a network namespace behind a veth; then no policy, an L3/L4 policy, an
 * L7 policy and an L7 policy with a header rule, each followed by the requests that show what
 * it changed. Every request is checked against the outcome the step promises; the demo exits 1
 * if any differs.
 *
 * Usage: starwars [--dir DIR] [--name NAME] [--msegctl PATH]
 *   --dir      where deathstar.py and the sw-*.yaml policies are (default: the source tree)
 *   --name     instance name and prefix of the namespaces (default: starwars-<pid>)
 *   --msegctl  the msegctl binary that shows the flow events (default: next to this program,
 *              else msegctl from PATH)
 * Needs root. Everything it creates (namespaces, veths, server processes, the instance's pins
 * and state) is removed on every exit, including SIGINT and SIGTERM.
 */
#define _GNU_SOURCE
#include <microseg/microseg.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef STARWARS_DIR
#define STARWARS_DIR "examples/starwars"
#endif

#define N_PODS 5
#define N_DEATHSTARS 3
#define OUT_MAX 8192

/* Set by SIGINT/SIGTERM/SIGHUP: the demo stops at the next check and cleans up. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

struct pod {
	const char *name;
	const char *labels[3];
	char netns[96];
	char ifname[16];
	char addr[16];
	struct microseg_endpoint *ep;
	bool netns_made;
	pid_t server; /* deathstar replicas only; 0: none running */
};

struct demo {
	const char *dir, *name, *msegctl;
	struct microseg_ctx *ctx;
	struct pod pods[N_PODS];
	bool proxy_running;
	pid_t observer; /* msegctl observe, writing to observe_path */
	char observe_path[64];
	const char *bold, *dim, *green, *red, *off;
	unsigned passed, failed;
	char failures[16][96];
};

enum { DEATHSTAR_1, DEATHSTAR_2, DEATHSTAR_3, TIEFIGHTER, XWING };

/* ---- narration ---- */

static void section(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	printf("\n%s==> ", d->bold);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("%s\n", d->off);
}

/* Prints text with each line indented, and a final newline if it had none. */
static void print_indented(const char *text, const char *indent)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("%s%.*s\n", indent, len, p);
		p += len + (nl ? 1 : 0);
	}
}

static void record(struct demo *d, bool ok, const char *what, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (ok) {
		d->passed++;
		printf("  %s\u2714 %s%s\n", d->green, detail, d->off);
		return;
	}
	if (d->failed < sizeof(d->failures) / sizeof(d->failures[0]))
		snprintf(d->failures[d->failed], sizeof(d->failures[0]), "%s", what);
	d->failed++;
	printf("  %s\u2718 %s%s\n", d->red, detail, d->off);
}

/* ---- child processes ---- */

static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* The parent ignores SIGPIPE; an ignored signal stays ignored across exec. */
	signal(SIGPIPE, SIG_DFL);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	if (out_fd >= 0) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(out_fd, STDERR_FILENO);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "starwars: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void stop_child(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	wait_child(*pid);
	*pid = 0;
}

/* Runs argv with stdout and stderr collected into out. Returns its exit status, or -EINTR
 * when the demo was interrupted meanwhile (the child is then stopped). */
static int run_capture(char *const argv[], char *out, size_t cap)
{
	size_t len = 0;
	int fds[2], rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = spawn(argv, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	for (;;) {
		char buf[1024];
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
		memcpy(out + len, buf, take);
		len += take;
	}
	close(fds[0]);
	out[len] = '\0';
	if (interrupted) {
		stop_child(&pid);
		return -EINTR;
	}
	rc = wait_child(pid);
	return interrupted ? -EINTR : rc;
}

static int run_quiet(char *const argv[])
{
	char out[OUT_MAX];
	int rc = run_capture(argv, out, sizeof(out));

	if (rc > 0)
		fprintf(stderr, "starwars: %s failed (exit %d): %s", argv[0], rc, out);
	return rc;
}

/* ---- the galaxy: pods, servers, the observer ---- */

static void log_line(void *user, int level, const char *line)
{
	(void)user;
	if (level <= MICROSEG_LOG_WARN)
		fprintf(stderr, "microseg: %s\n", line);
}

static int fail_call(struct demo *d, const char *what, int err)
{
	fprintf(stderr, "%sstarwars: %s: %s%s%s%s\n", d->red, what, microseg_strerror(err),
		d->ctx ? ": " : "", d->ctx ? microseg_ctx_last_error(d->ctx) : "", d->off);
	return err;
}

static int add_pod(struct demo *d, struct pod *p)
{
	char netns_path[128], addr[24];
	struct microseg_identity *id;
	const char *addrs[] = { addr };
	int err;

	char *add[] = { "ip", "netns", "add", p->netns, NULL };
	if (run_quiet(add))
		return -EIO;
	p->netns_made = true;

	err = microseg_identity_get(d->ctx, p->labels, 3, &id);
	if (err)
		return fail_call(d, "identity", err);
	snprintf(netns_path, sizeof(netns_path), "/var/run/netns/%s", p->netns);
	snprintf(addr, sizeof(addr), "%s/32", p->addr);
	MICROSEG_OPTS(microseg_veth_opts, vopts, .host_ifname = p->ifname, .netns_path = netns_path,
		      .addrs = addrs, .n_addrs = 1, .identity = id, .name = p->name);
	err = microseg_endpoint_add_veth(d->ctx, &vopts, &p->ep);
	microseg_identity_put(d->ctx, id); /* the endpoint holds its own reference */
	if (err)
		return fail_call(d, p->name, err);
	printf("  %-12s %-14s %-24s %-15s %u\n", p->name, p->addr, p->labels[0] + 4, p->labels[1] + 4,
	       microseg_identity_id(microseg_endpoint_identity(p->ep)));
	return 0;
}

/* Starts deathstar.py in the pod's namespace and waits for its "listening" line. */
static int start_server(struct demo *d, struct pod *p)
{
	char script[PATH_MAX], line[64] = "";
	struct pollfd pfd;
	size_t len = 0;
	int fds[2];

	snprintf(script, sizeof(script), "%s/deathstar.py", d->dir);
	char *argv[] = { "ip", "netns", "exec", p->netns, "python3", script, p->addr, (char *)p->name, NULL };
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	/* The server's errors go to our stderr; only its stdout is the readiness pipe. */
	p->server = fork();
	if (p->server == 0) {
		dup2(fds[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	if (p->server < 0) {
		p->server = 0;
		close(fds[0]);
		return -errno;
	}
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	while (len < sizeof(line) - 1 && !strchr(line, '\n') && !interrupted) {
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(fds[0]);
	if (strncmp(line, "listening", 9)) {
		fprintf(stderr, "starwars: %s did not start (%s)\n", p->name, script);
		return -EIO;
	}
	return 0;
}

/* Finds msegctl: the option, else next to this program (the build tree), else PATH. */
static const char *find_msegctl(struct demo *d, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	if (d->msegctl)
		return d->msegctl;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, len, "%s/msegctl", dirname(self));
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return "msegctl";
}

/* msegctl observe, as a second process, is the instance's event reader for the whole demo. */
static int start_observer(struct demo *d)
{
	char path[PATH_MAX];
	const char *msegctl = find_msegctl(d, path, sizeof(path));
	int fd;

	snprintf(d->observe_path, sizeof(d->observe_path), "/tmp/starwars-observe.XXXXXX");
	fd = mkostemp(d->observe_path, O_CLOEXEC);
	if (fd < 0) {
		d->observe_path[0] = '\0';
		return -errno;
	}
	char *argv[] = { (char *)msegctl, "observe", "--instance", (char *)d->name, NULL };
	d->observer = spawn(argv, fd);
	close(fd);
	if (d->observer < 0) {
		d->observer = 0;
		return -errno;
	}
	/* Give it the time to open the instance before the first request. */
	struct timespec ts = { .tv_nsec = 300 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	return 0;
}

/* ---- the requests ---- */

enum outcome { DESCRIBED, LANDED, EXPLODED, FORBIDDEN, UNREACHABLE };

static const struct {
	int status;          /* 0: no HTTP answer at all */
	const char *body;    /* substring the answer must contain, or NULL */
	const char *meaning; /* what the step promises, for the narration */
} outcomes[] = {
	[DESCRIBED] = { 200, "\"replica\": \"deathstar-1\"", "the deathstar describes itself (replica deathstar-1)" },
	[LANDED] = { 200, "Ship landed", "landed" },
	[EXPLODED] = { 503, "Panic: deathstar exploded", "the exhaust port was reached: the deathstar exploded" },
	[FORBIDDEN] = { 403, NULL, "refused by the L7 policy: 403 from the proxy, the deathstar never saw it" },
	[UNREACHABLE] = { 0, NULL, "no connection: the L3/L4 policy drops the xwing's packets" },
};

/* kubectl exec SHIP -- curl -s -X METHOD [-H HEADER] http://DEATHSTAR/PATH, checked. */
static void request(struct demo *d, int ship, const char *method, const char *path, const char *header,
		    enum outcome expect)
{
	const struct pod *p = &d->pods[ship];
	char url[96], what[96], out[OUT_MAX], hdr_text[96] = "";
	int rc, status = -1, curl_exit = -1;

	if (interrupted)
		return;
	snprintf(url, sizeof(url), "http://%s%s", d->pods[DEATHSTAR_1].addr, path);
	if (header)
		snprintf(hdr_text, sizeof(hdr_text), " -H '%s'", header);
	printf("\n%s$ kubectl exec %s -- curl -s -X %s%s %s%s\n", d->bold, p->name, method, hdr_text, url,
	       d->off);
	snprintf(what, sizeof(what), "%s: %s %s%s", p->name, method, path, header ? " (with the Force)" : "");

	/* The last line written by -w is "<status> <curl exit code> <error>": status 000 means
	 * no answer; exit 28 is a timeout, 7 a refused connection. */
	char *argv[20] = { "ip", "netns", "exec", (char *)p->netns, "curl", "-s", "--connect-timeout", "2",
			   "-m", "5", "-X", (char *)method, "-w", "\n%{http_code} %{exitcode} %{errormsg}" };
	size_t n = 14;
	if (header) {
		argv[n++] = "-H";
		argv[n++] = (char *)header;
	}
	argv[n++] = url;
	rc = run_capture(argv, out, sizeof(out));
	if (rc == -EINTR)
		return;

	char *tail = strrchr(out, '\n');
	if (tail) {
		*tail++ = '\0';
		if (sscanf(tail, "%d %d", &status, &curl_exit) != 2)
			status = -1;
	}
	if (status == 0) {
		char *msg = strchr(strchr(tail, ' ') + 1, ' ');
		printf("  curl: (%d) %s\n", curl_exit, msg ? msg + 1 : "");
	} else {
		print_indented(out, "  ");
	}

	const char *want = outcomes[expect].body;
	bool ok;
	if (outcomes[expect].status == 0)
		ok = status == 0 && (curl_exit == 28 || curl_exit == 7);
	else
		ok = status == outcomes[expect].status && (!want || strstr(out, want));
	if (ok)
		record(d, true, what, "%s", outcomes[expect].meaning);
	else if (status < 0)
		record(d, false, what, "expected: %s; curl did not run (exit %d)", outcomes[expect].meaning, rc);
	else
		record(d, false, what, "expected: %s; got HTTP status %d%s", outcomes[expect].meaning, status,
		       status == 0 ? " (no answer)" : "");
}

/* kubectl apply -f FILE: shows the document, applies it, checks it was taken. */
static int apply_policy(struct demo *d, const char *file, bool replaces)
{
	char path[PATH_MAX], what[64];
	char *doc = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/%s", d->dir, file);
	snprintf(what, sizeof(what), "apply %s", file);
	f = fopen(path, "re");
	if (f) {
		doc = malloc(65536);
		len = doc ? fread(doc, 1, 65535, f) : 0;
		fclose(f);
	}
	if (!doc || !len) {
		free(doc);
		record(d, false, what, "cannot read %s", path);
		return -ENOENT;
	}
	doc[len] = '\0';

	printf("\n%s$ cat %s%s\n", d->bold, file, d->off);
	/* The comment lines are for readers of the file; the demo narrates them itself. */
	for (char *line = doc, *nl; *line; line = nl + 1) {
		nl = strchrnul(line, '\n');
		if (*line != '#')
			printf("  %.*s\n", (int)(nl - line), line);
		if (!*nl)
			break;
	}
	printf("%s$ kubectl apply -f %s%s\n", d->bold, file, d->off);
	err = microseg_policy_apply_yaml(d->ctx, doc, len, 0);
	free(doc);
	if (err) {
		fail_call(d, what, err);
		record(d, false, what, "the policy was refused");
		return err;
	}
	printf("  ciliumnetworkpolicy.cilium.io/deathstar-ingress %s\n", replaces ? "configured" : "created");
	return 0;
}

/* ---- flow events ---- */

static void show_events(struct demo *d)
{
	char *text = NULL, line[512];
	size_t n_lines = 0, len = 0, cap = 0;
	bool saw_drop = false;
	FILE *f;

	if (interrupted)
		return;
	if (!d->observer) {
		record(d, false, "flow events", "msegctl observe did not start");
		return;
	}
	/* The last requests' events may still be in the ring: let the reader catch up. */
	struct timespec ts = { .tv_nsec = 500 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	stop_child(&d->observer);

	printf("\n%s$ msegctl observe --instance %s%s   %s(ran in the background during the demo)%s\n",
	       d->bold, d->name, d->off, d->dim, d->off);
	f = fopen(d->observe_path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		/* The xwing's SYNs dropped by policy, as the L3/L4 steps promised. */
		if (strstr(line, d->pods[XWING].addr) && strstr(line, "dropped") && strstr(line, "policy"))
			saw_drop = true;
		if (len + l + 1 > cap) {
			cap = (len + l + 1) * 2;
			char *bigger = realloc(text, cap);
			if (!bigger)
				break;
			text = bigger;
		}
		memcpy(text + len, line, l + 1);
		len += l;
		n_lines++;
	}
	if (f)
		fclose(f);
	if (text)
		print_indented(text, "  ");
	free(text);
	record(d, saw_drop, "flow events", saw_drop ? "%zu lines; the xwing's connection attempts show as dropped (policy)"
							: "no drop of the xwing's packets among %zu lines",
	       n_lines ? n_lines - 1 : 0);
}

/* ---- the demo ---- */

static void setup_names(struct demo *d)
{
	static const struct {
		const char *name, *org, *class, *tag;
	} cast[N_PODS] = {
		{ "deathstar-1", "k8s:org=empire", "k8s:class=deathstar", "d1" },
		{ "deathstar-2", "k8s:org=empire", "k8s:class=deathstar", "d2" },
		{ "deathstar-3", "k8s:org=empire", "k8s:class=deathstar", "d3" },
		{ "tiefighter", "k8s:org=empire", "k8s:class=tiefighter", "t" },
		{ "xwing", "k8s:org=alliance", "k8s:class=xwing", "x" },
	};
	/* Host routes to the pods are visible host-wide: one /24 per run, from the pid. */
	unsigned pid = (unsigned)getpid();

	for (int i = 0; i < N_PODS; i++) {
		struct pod *p = &d->pods[i];
		p->name = cast[i].name;
		p->labels[0] = cast[i].org;
		p->labels[1] = cast[i].class;
		/* The policies are namespaced (namespace default): the pods live there. */
		p->labels[2] = "k8s:io.kubernetes.pod.namespace=default";
		snprintf(p->netns, sizeof(p->netns), "%s-%s", d->name, p->name);
		snprintf(p->ifname, sizeof(p->ifname), "sw%u%s", pid % 10000000, cast[i].tag);
		snprintf(p->addr, sizeof(p->addr), "10.66.%u.%d", pid % 256, 10 + i);
	}
}

static void cleanup(struct demo *d)
{
	stop_child(&d->observer);
	if (d->observe_path[0])
		unlink(d->observe_path);
	for (int i = 0; i < N_PODS; i++)
		stop_child(&d->pods[i].server);
	if (d->proxy_running)
		microseg_proxy_stop(d->ctx);
	for (int i = 0; i < N_PODS; i++) {
		struct pod *p = &d->pods[i];
		if (p->ep)
			microseg_endpoint_remove(d->ctx, p->ep, MICROSEG_ENDPOINT_REMOVE_DELETE_LINK);
		p->ep = NULL;
		if (p->netns_made) {
			char *del[] = { "ip", "netns", "del", p->netns, NULL };
			/* Not run_capture: it gives up once interrupted, and this must still run. */
			pid_t pid = spawn(del, -1);
			if (pid > 0)
				wait_child(pid);
		}
	}
	if (d->ctx) {
		int err = microseg_ctx_purge(d->ctx);
		if (err)
			fail_call(d, "purge", err);
		microseg_ctx_close(d->ctx);
		d->ctx = NULL;
	}
}

static int run_demo(struct demo *d)
{
	struct pod *ds = &d->pods[DEATHSTAR_1];
	int err;

	section(d, "A galaxy far, far away: five pods, each a network namespace behind a veth");
	printf("  %s(`kubectl exec POD -- CMD` below is `ip netns exec %s-POD CMD`; instance %s)%s\n", d->dim,
	       d->name, d->name, d->off);
	printf("  %s%-12s %-14s %-24s %-15s %s%s\n", d->dim, "POD", "ADDRESS", "ORG", "CLASS", "IDENTITY", d->off);
	for (int i = 0; i < N_PODS && !interrupted; i++)
		if ((err = add_pod(d, &d->pods[i])))
			return err;

	section(d, "The deathstar service: three replicas of deathstar.py, HTTP on port 80");
	for (int i = DEATHSTAR_1; i <= DEATHSTAR_3 && !interrupted; i++) {
		if ((err = start_server(d, &d->pods[i])))
			return err;
		printf("  %s listening on %s:80\n", d->pods[i].name, d->pods[i].addr);
	}
	printf("  %s(no service load balancing in this demo yet: the ships address deathstar-1, %s)%s\n",
	       d->dim, ds->addr, d->off);
	if (start_observer(d))
		fprintf(stderr, "starwars: cannot start msegctl observe; the flow events step will fail\n");

	section(d, "1. No policy: the deathstar is open to every ship");
	request(d, TIEFIGHTER, "GET", "/v1/", NULL, DESCRIBED);
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, XWING, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, XWING, "PUT", "/v1/exhaust-port", NULL, EXPLODED);

	section(d, "2. L3/L4 policy: only org=empire may reach the deathstar, on TCP 80");
	if (!interrupted && apply_policy(d, "sw-l3-l4.yaml", false))
		return -EINVAL;
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, XWING, "POST", "/v1/request-landing", NULL, UNREACHABLE);
	printf("\n  %sBut L3/L4 cannot tell a landing request from sabotage by an Empire ship:%s\n", d->dim, d->off);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, EXPLODED);

	section(d, "3. L7 policy: Empire ships may only POST /v1/request-landing");
	if (interrupted)
		return -EINTR;
	printf("  %s(the L7 proxy runs in this process: one worker thread)%s\n", d->dim, d->off);
	MICROSEG_OPTS(microseg_proxy_opts, popts, .threads = 1);
	err = microseg_proxy_start(d->ctx, &popts);
	if (err) {
		fail_call(d, "proxy start", err);
		record(d, false, "L7 proxy", "the L7 proxy did not start: the L7 steps cannot run");
		return err;
	}
	d->proxy_running = true;
	if (apply_policy(d, "sw-l7.yaml", true))
		return -EINVAL;
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, FORBIDDEN);
	request(d, XWING, "POST", "/v1/request-landing", NULL, UNREACHABLE);

	section(d, "4. L7 policy with a header rule: the exhaust port for those with the Force");
	if (!interrupted && apply_policy(d, "sw-l7-force.yaml", true))
		return -EINVAL;
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, FORBIDDEN);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", "X-Has-Force: true", EXPLODED);
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);

	section(d, "5. What the datapath saw: flow events");
	show_events(d);
	return interrupted ? -EINTR : 0;
}

static int usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout, "usage: %s [--dir DIR] [--name NAME] [--msegctl PATH]\n", prog);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "msegctl", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct demo d = { .dir = STARWARS_DIR };
	char default_name[32];
	int c, err;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			d.dir = optarg;
			break;
		case 'n':
			d.name = optarg;
			break;
		case 'm':
			d.msegctl = optarg;
			break;
		case 'h':
			return usage(argv[0], 0);
		default:
			return usage(argv[0], 2);
		}
	}
	if (optind != argc)
		return usage(argv[0], 2);
	if (geteuid() != 0) {
		fprintf(stderr, "starwars: needs root (network namespaces, BPF)\n");
		return 77;
	}
	snprintf(default_name, sizeof(default_name), "starwars-%d", (int)getpid());
	if (!d.name)
		d.name = default_name;
	if (isatty(STDOUT_FILENO)) {
		d.bold = "\033[1m", d.dim = "\033[2m", d.green = "\033[32m", d.red = "\033[31m", d.off = "\033[0m";
	} else {
		d.bold = d.dim = d.green = d.red = d.off = "";
		setvbuf(stdout, NULL, _IOLBF, 0); /* narration and children's output stay in order */
	}
	setup_names(&d);

	/* No SA_RESTART: a blocking read or wait returns EINTR and the demo winds down. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not skip the cleanup */

	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = d.name, .log_fn = log_line);
	err = microseg_ctx_open(&copts, &d.ctx);
	if (err) {
		fail_call(&d, "open instance", err);
		return 1;
	}
	err = run_demo(&d);
	fflush(stdout);
	cleanup(&d);

	if (interrupted) {
		fprintf(stderr, "\nstarwars: interrupted; everything it created was removed\n");
		return 128 + interrupted;
	}
	section(&d, "Summary");
	printf("  %u step(s) as expected, %u not%s\n", d.passed, d.failed, err && !d.failed ? " (setup failed)" : "");
	for (unsigned i = 0; i < d.failed && i < sizeof(d.failures) / sizeof(d.failures[0]); i++)
		printf("  %s\u2718 %s%s\n", d.red, d.failures[i], d.off);
	return err || d.failed ? 1 : 0;
}
