/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Star Wars demo: a deathstar service (a frontend address balanced over three replicas of
 * deathstar.py), an Empire tiefighter and an Alliance xwing, each pod a network namespace behind
 * a veth; then no policy, an L3/L4 policy, an L7 policy and an L7 policy with a header rule
 * (the YAML files next to deathstar.py), each followed by the requests that show what it
 * changed, and the flow events msegctl observe saw meanwhile. Every request is checked against
 * the outcome its step promises (status, body, which replica or the proxy answered); the demo
 * exits 1 if any differs. Only the public API is used.
 *
 * Usage: starwars [--dir DIR] [--name NAME] [--msegctl PATH]
 *   --dir      where deathstar.py and the sw-*.yaml policies are (default: the source tree)
 *   --name     instance name and prefix of the namespaces (default: starwars-<pid>)
 *   --msegctl  the msegctl binary that shows the flow events (default: next to this program,
 *              else msegctl from PATH)
 * Needs root. Everything it creates (namespaces, veths, server processes, the instance's pins
 * and state) is removed on every exit, including SIGINT and SIGTERM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, mkostemp, strchrnul */
#endif
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
#include <sys/prctl.h>
#include <sys/stat.h>
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
	/* The deathstar service: a frontend address balanced over the three replicas, or, if the
	 * library cannot make one, deathstar-1's address. */
	struct microseg_service *service;
	char vip[24], target[24];
	char cgroup[PATH_MAX]; /* the socket load balancer's (empty) cgroup, made for the demo */
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

	if (interrupted)
		return;
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

static void __attribute__((format(printf, 4, 5)))
record(struct demo *d, bool ok, const char *what, const char *fmt, ...)
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

/* In a child after fork(): it goes when the demo goes, even when the demo is killed outright
 * (a server left running would keep its namespace, and the veth in it, alive). */
static void child_init(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	/* The parent ignores SIGPIPE; an ignored signal stays ignored across exec. */
	signal(SIGPIPE, SIG_DFL);
}

static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	child_init(parent);
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
	const char *detail = d->ctx ? microseg_ctx_last_error(d->ctx) : "";

	fprintf(stderr, "%sstarwars: %s: %s%s%s%s\n", d->red, what, microseg_strerror(err), detail[0] ? ": " : "",
		detail, d->off);
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
	printf("  %-12s %-14s %-17s %-17s %u\n", p->name, p->addr, p->labels[0] + 4, p->labels[1] + 4,
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
	pid_t parent = getpid();
	p->server = fork();
	if (p->server == 0) {
		child_init(parent);
		dup2(fds[1], STDOUT_FILENO);
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

/* ---- the deathstar service ---- */

/* The cgroup v2 mount point (on hybrid hosts /sys/fs/cgroup/unified). */
static int cgroup2_mount(char *buf, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

/* The socket-level load balancer attaches to a cgroup when the first service is added. The demo
 * gives it an empty one of its own: nothing outside the demo is affected (on the cgroup root it
 * would reach every process of the host), and the ships' connections are translated per
 * packet by their endpoints' programs, as for a container whose process no socket hook saw. */
static void make_lb_cgroup(struct demo *d)
{
	char mount[PATH_MAX];

	if (cgroup2_mount(mount, sizeof(mount)))
		return;
	if (snprintf(d->cgroup, sizeof(d->cgroup), "%s/%s", mount, d->name) >= (int)sizeof(d->cgroup) ||
	    mkdir(d->cgroup, 0755))
		d->cgroup[0] = '\0';
}

/* The service deathstar: a frontend address, the three replicas as backends. Without it (an
 * error is a failed step) the ships address deathstar-1 directly and the demo goes on. */
static void add_service(struct demo *d)
{
	int err = -ENOENT;

	snprintf(d->target, sizeof(d->target), "%s", d->pods[DEATHSTAR_1].addr);
	if (!d->cgroup[0]) {
		record(d, false, "service", "no cgroup v2 for the load balancer: the ships address deathstar-1");
		return;
	}
	MICROSEG_OPTS(microseg_service_opts, sopts, .name = "default/deathstar", .address = d->vip, .port = 80,
		      .proto = MICROSEG_PROTO_TCP);
	err = microseg_service_add(d->ctx, &sopts, &d->service);
	for (int i = DEATHSTAR_1; i <= DEATHSTAR_3 && !err; i++) {
		MICROSEG_OPTS(microseg_backend_opts, bopts, .address = d->pods[i].addr, .port = 80);
		err = microseg_service_backend_add(d->ctx, d->service, &bopts);
	}
	if (err) {
		fail_call(d, "service", err);
		if (d->service)
			microseg_service_remove(d->ctx, d->service);
		d->service = NULL;
		record(d, false, "service", "no service: the ships address deathstar-1 (%s)", d->target);
		return;
	}
	snprintf(d->target, sizeof(d->target), "%s", d->vip);
	printf("  service deathstar: %s:80 -> deathstar-1, -2, -3 port 80, a replica per connection\n",
	       d->vip);
}

/* ---- the requests ---- */

enum outcome { DESCRIBED, LANDED, EXPLODED, FORBIDDEN, UNREACHABLE };

static const struct {
	int status;          /* 0: no HTTP answer at all */
	const char *body;    /* substring the answer must contain, or NULL */
	const char *meaning; /* what the step promises, for the narration */
} outcomes[] = {
	[DESCRIBED] = { 200, NULL, "the deathstar describes itself" },
	[LANDED] = { 200, "Ship landed", "landed" },
	[EXPLODED] = { 503, "Panic: deathstar exploded", "the exhaust port was reached: the deathstar exploded" },
	[FORBIDDEN] = { 403, NULL, "refused by the L7 policy: 403 from the proxy, the deathstar never saw it" },
	[UNREACHABLE] = { 0, NULL, "no connection: the L3/L4 policy drops the xwing's packets" },
};

/* What one curl in a ship's namespace got. */
struct answer {
	int status;       /* HTTP status; 0: no answer; -1: curl did not run */
	int curl_exit;    /* curl's exit code: 28 timeout, 7 refused */
	char replica[32]; /* X-Deathstar-Replica of the answer: "" unless a deathstar answered */
	char body[OUT_MAX];
	const char *error; /* curl's error message, in body */
};

static int curl_in(struct demo *d, int ship, const char *method, const char *path, const char *header,
		   struct answer *a)
{
	char url[96];
	int rc;

	snprintf(url, sizeof(url), "http://%s%s", d->target, path);
	/* -w appends a last line "<status> <exit code> [<replica header>] <error>". */
	char *argv[20] = { "ip", "netns", "exec", d->pods[ship].netns, "curl", "-s", "--connect-timeout", "2",
			   "-m", "5", "-w", "\n%{http_code} %{exitcode} [%header{x-deathstar-replica}] %{errormsg}" };
	size_t n = 12;
	if (strcmp(method, "GET")) {
		argv[n++] = "-X";
		argv[n++] = (char *)method;
	}
	if (header) {
		argv[n++] = "-H";
		argv[n++] = (char *)header;
	}
	argv[n++] = url;
	*a = (struct answer){ .status = -1, .curl_exit = -1, .error = "" };
	rc = run_capture(argv, a->body, sizeof(a->body));
	if (rc < 0)
		return rc;

	char *tail = strrchr(a->body, '\n'), *open, *close;
	if (!tail || sscanf(tail + 1, "%d %d", &a->status, &a->curl_exit) != 2 || !(open = strchr(tail, '[')) ||
	    !(close = strchr(open, ']'))) {
		a->status = -1;
		a->error = a->body; /* what went wrong, e.g. curl not installed */
		return 0;
	}
	*tail = '\0';
	snprintf(a->replica, sizeof(a->replica), "%.*s", (int)(close - open - 1), open + 1);
	a->error = close[1] ? close + 2 : close + 1;
	return 0;
}

/* kubectl exec SHIP -- curl -s -X METHOD [-H HEADER] http://DEATHSTAR/PATH, checked. */
static void request(struct demo *d, int ship, const char *method, const char *path, const char *header,
		    enum outcome expect)
{
	char what[96], hdr_text[96] = "", want_body[64] = "";
	struct answer a;
	bool ok;

	if (interrupted)
		return;
	if (strcmp(method, "GET"))
		snprintf(hdr_text, sizeof(hdr_text), " -X %s", method);
	if (header)
		snprintf(hdr_text + strlen(hdr_text), sizeof(hdr_text) - strlen(hdr_text), " -H '%s'", header);
	printf("\n%s$ kubectl exec %s -- curl -s%s http://%s%s%s\n", d->bold, d->pods[ship].name, hdr_text,
	       d->target, path, d->off);
	snprintf(what, sizeof(what), "%s: %s %s%s", d->pods[ship].name, method, path,
		 header ? " (with the Force)" : "");
	if (curl_in(d, ship, method, path, header, &a) == -EINTR)
		return;

	if (a.status == 0)
		printf("  curl: (%d) %s\n", a.curl_exit, a.error);
	else
		print_indented(a.body, "  ");

	if (expect == DESCRIBED) /* the description names the replica that answered */
		snprintf(want_body, sizeof(want_body), "\"replica\": \"%s\"", a.replica);
	else if (outcomes[expect].body)
		snprintf(want_body, sizeof(want_body), "%s", outcomes[expect].body);

	if (outcomes[expect].status == 0)
		ok = a.status == 0 && (a.curl_exit == 28 || a.curl_exit == 7);
	else
		ok = a.status == outcomes[expect].status && strstr(a.body, want_body) &&
		     /* a deathstar answered, or (403) the proxy did and no deathstar saw the request */
		     (expect == FORBIDDEN ? !a.replica[0] : !strncmp(a.replica, "deathstar-", 10));

	if (ok && a.replica[0])
		record(d, true, what, "%s (%s answered)", outcomes[expect].meaning, a.replica);
	else if (ok)
		record(d, true, what, "%s", outcomes[expect].meaning);
	else if (a.status < 0)
		record(d, false, what, "expected: %s; curl did not run: %s", outcomes[expect].meaning, a.error);
	else
		record(d, false, what, "expected: %s; got HTTP status %d%s%s", outcomes[expect].meaning, a.status,
		       a.status == 0 ? " (no answer)" : a.replica[0] ? " from " : " (not from a deathstar)",
		       a.replica);
}

/* With the service: landing requests spread over the replicas (each its own connection). */
static void spread(struct demo *d)
{
	enum { ROUNDS = 12 };
	unsigned landed[N_DEATHSTARS] = { 0 }, others = 0, distinct = 0;
	struct answer a;

	if (interrupted || !d->service)
		return;
	printf("\n%s$ for i in $(seq %d); do kubectl exec tiefighter -- curl -s -X POST http://%s/v1/request-landing; done%s\n",
	       d->bold, ROUNDS, d->target, d->off);
	for (int i = 0; i < ROUNDS && !interrupted; i++) {
		if (curl_in(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, &a))
			return;
		int r = a.status == 200 && !strncmp(a.replica, "deathstar-", 10) ? atoi(a.replica + 10) : 0;
		if (r >= 1 && r <= N_DEATHSTARS)
			landed[r - 1]++;
		else
			others++;
	}
	printf("  %u x Ship landed, by replica:", ROUNDS - others);
	for (int i = 0; i < N_DEATHSTARS; i++) {
		printf("%s%s %u", i ? ", " : " ", d->pods[i].name, landed[i]);
		distinct += landed[i] > 0;
	}
	printf("\n");
	/* Uniform choice: all twelve on one replica has a chance of 3^-11. */
	if (others)
		record(d, false, "load balancing", "%u of %d landings failed", others, ROUNDS);
	else
		record(d, distinct >= 2, "load balancing", "the service spread the landings over %u replica(s)",
		       distinct);
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

/* Shows what msegctl observe saw: the drops and the HTTP requests line by line, the allowed
 * connections and service translations as counts. Checks the events the steps promised. */
static void show_events(struct demo *d)
{
	char line[512], header[512] = "";
	unsigned flows = 0, translations = 0;
	bool xwing_dropped = false, l7_denied = false, translated = false;
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

	printf("\n%s$ msegctl observe --instance %s%s   %s(in the background during the demo)%s\n", d->bold,
	       d->name, d->off, d->dim, d->off);
	f = fopen(d->observe_path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		bool dropped = strstr(line, " dropped ") != NULL, http = strstr(line, " http ") != NULL;

		if (!header[0]) {
			snprintf(header, sizeof(header), "%s", line);
			printf("  %s%s%s", d->dim, header, d->off);
			continue;
		}
		if (dropped && strstr(line, d->pods[XWING].addr) && strstr(line, " policy "))
			xwing_dropped = true;
		if (http && strstr(line, "/v1/exhaust-port") && strstr(line, "403"))
			l7_denied = true;
		if (strstr(line, " service ")) {
			translated |= d->service && strstr(line, d->vip);
			translations++;
		} else if (dropped || http) {
			printf("  %s", line);
		} else {
			flows++;
		}
	}
	if (f)
		fclose(f);
	printf("  %s(not shown: %u allowed connections, %u service translations)%s\n", d->dim, flows, translations,
	       d->off);

	record(d, xwing_dropped, "flow events: L3/L4", "%s",
	       xwing_dropped ? "the xwing's connection attempts show as dropped by policy"
			     : "no event shows the xwing's packets dropped by policy");
	if (d->proxy_running)
		record(d, l7_denied, "flow events: L7", "%s",
		       l7_denied ? "the L7 events show PUT /v1/exhaust-port answered 403"
				 : "no L7 event shows PUT /v1/exhaust-port answered 403");
	if (d->service)
		record(d, translated, "flow events: service", "%s",
		       translated ? "the service translations show the frontend of deathstar"
				  : "no service translation event for the deathstar frontend");
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
	snprintf(d->vip, sizeof(d->vip), "10.96.%u.10", pid % 256);
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
	/* After the purge: the socket programs' links were pinned in the instance. */
	if (d->cgroup[0] && rmdir(d->cgroup))
		fprintf(stderr, "starwars: cannot remove cgroup %s: %s\n", d->cgroup, strerror(errno));
}

static int setup(struct demo *d)
{
	int err;

	section(d, "A galaxy far, far away: five pods, each a network namespace behind a veth");
	printf("  %s(`kubectl exec POD -- CMD` below is `ip netns exec %s-POD CMD`; instance %s)%s\n", d->dim,
	       d->name, d->name, d->off);
	printf("  %s%-12s %-14s %-17s %-17s %s%s\n", d->dim, "POD", "ADDRESS", "ORG", "CLASS", "IDENTITY", d->off);
	for (int i = 0; i < N_PODS && !interrupted; i++)
		if ((err = add_pod(d, &d->pods[i])))
			return err;

	section(d, "The deathstar service: three replicas of deathstar.py, HTTP on port 80");
	for (int i = DEATHSTAR_1; i <= DEATHSTAR_3 && !interrupted; i++) {
		if ((err = start_server(d, &d->pods[i])))
			return err;
		printf("  %s listening on %s:80\n", d->pods[i].name, d->pods[i].addr);
	}
	add_service(d);
	if (start_observer(d))
		fprintf(stderr, "starwars: cannot start msegctl observe; the flow events step will fail\n");
	return interrupted ? -EINTR : 0;
}

static void no_policy(struct demo *d)
{
	section(d, "1. No policy: the deathstar is open to every ship");
	request(d, TIEFIGHTER, "GET", "/v1/", NULL, DESCRIBED);
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, XWING, "POST", "/v1/request-landing", NULL, LANDED);
	spread(d);
	request(d, XWING, "PUT", "/v1/exhaust-port", NULL, EXPLODED);
}

static int l3_l4_policy(struct demo *d)
{
	section(d, "2. L3/L4 policy: only org=empire may reach the deathstar, on TCP 80");
	if (interrupted || apply_policy(d, "sw-l3-l4.yaml", false))
		return -1;
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, XWING, "POST", "/v1/request-landing", NULL, UNREACHABLE);
	printf("\n  %sBut L3/L4 cannot tell a landing request from sabotage by an Empire ship:%s\n", d->dim, d->off);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, EXPLODED);
	return 0;
}

static int l7_policy(struct demo *d)
{
	int err;

	section(d, "3. L7 policy: Empire ships may only POST /v1/request-landing");
	if (interrupted)
		return -1;
	printf("  %s(the L7 proxy runs in this process: one worker thread)%s\n", d->dim, d->off);
	MICROSEG_OPTS(microseg_proxy_opts, popts, .threads = 1);
	err = microseg_proxy_start(d->ctx, &popts);
	if (err) {
		fail_call(d, "proxy start", err);
		record(d, false, "L7 proxy", "the L7 proxy did not start: the L7 steps cannot run");
		return -1;
	}
	d->proxy_running = true;
	if (apply_policy(d, "sw-l7.yaml", true))
		return -1;
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, FORBIDDEN);
	request(d, XWING, "POST", "/v1/request-landing", NULL, UNREACHABLE);

	section(d, "4. L7 policy with a header rule: the exhaust port for those with the Force");
	if (interrupted || apply_policy(d, "sw-l7-force.yaml", true))
		return -1;
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", NULL, FORBIDDEN);
	request(d, TIEFIGHTER, "PUT", "/v1/exhaust-port", "X-Has-Force: true", EXPLODED);
	request(d, TIEFIGHTER, "POST", "/v1/request-landing", NULL, LANDED);
	return 0;
}

/* Each stage needs the policy of the one before; a failed stage ends the walk-through, the
 * flow events are shown whatever happened. Returns non-zero if the setup failed. */
static int run_demo(struct demo *d)
{
	int err = setup(d);

	if (err)
		return err;
	no_policy(d);
	if (!l3_l4_policy(d))
		l7_policy(d);
	section(d, "5. What the datapath saw: flow events");
	show_events(d);
	return 0;
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

	make_lb_cgroup(&d);
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = d.name, .log_fn = log_line,
		      .lb_cgroup = d.cgroup[0] ? d.cgroup : NULL);
	err = microseg_ctx_open(&copts, &d.ctx);
	if (err) {
		fail_call(&d, "open instance", err);
		cleanup(&d);
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
	printf("  %u step(s) as expected, %u not%s\n", d.passed, d.failed, err ? "; the setup failed" : "");
	for (unsigned i = 0; i < d.failed && i < sizeof(d.failures) / sizeof(d.failures[0]); i++)
		printf("  %s\u2718 %s%s\n", d.red, d.failures[i], d.off);
	return err || d.failed ? 1 : 0;
}
