// SPDX-License-Identifier: Apache-2.0
/*
 * The libmicroseg side of the L7 benchmark (run-l7-bench.sh), through the public API only:
 * opens an instance, makes a client and a server endpoint (veths into two existing network
 * namespaces), then obeys one command per line on stdin and answers each with one line on
 * stdout ("ok ..." or "error ..."), so the script can switch the path under test between wrk
 * runs while the context, and with it the proxy, stays alive:
 *
 *   l4        the server's ingress policy: the client may reach TCP 80 (no HTTP rules)
 *   l7        the same policy with 10 HTTP rules on port 80: 9 that a benchmark request
 *             ("GET /bench/...") does not match, then the one it does, so every request is
 *             judged against all of them
 *   proxy N   (re)starts the L7 proxy with N worker threads; answers "ok port P"
 *   noproxy   stops it
 *   stats     "ok connections C allowed A denied D invalid I upstream_errors U"
 *
 * Both policies are one document of the same name, so applying one replaces the other. On
 * stdin EOF, SIGTERM, SIGINT or SIGHUP it stops the proxy and purges the instance (the
 * links stay: the script deletes the namespaces, which takes the veths with them).
 *
 * Usage: bench-l7-fixture INSTANCE CLIENT_NETNS CLIENT_VETH CLIENT_ADDR SERVER_NETNS
 *        SERVER_VETH SERVER_ADDR
 */
#include <microseg/microseg.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLICY_HEAD                                                                                \
	"apiVersion: cilium.io/v2\n"                                                               \
	"kind: CiliumNetworkPolicy\n"                                                              \
	"metadata:\n"                                                                              \
	"  name: l7bench\n"                                                                        \
	"  namespace: default\n"                                                                   \
	"spec:\n"                                                                                  \
	"  endpointSelector:\n"                                                                    \
	"    matchLabels:\n"                                                                       \
	"      app: l7bench-server\n"                                                              \
	"  ingress:\n"                                                                             \
	"  - fromEndpoints:\n"                                                                     \
	"    - matchLabels:\n"                                                                     \
	"        app: l7bench-client\n"                                                            \
	"    toPorts:\n"                                                                           \
	"    - ports:\n"                                                                           \
	"      - port: \"80\"\n"                                                                   \
	"        protocol: TCP\n"

/* Rules a "GET /bench/..." from wrk (Host: the server's address) fails for different
 * reasons (method, path, host), then the one it matches. */
#define HTTP_RULES                                                                                 \
	"      rules:\n"                                                                           \
	"        http:\n"                                                                          \
	"        - method: POST\n"                                                                 \
	"          path: \"/bench/.*\"\n"                                                          \
	"        - method: PUT\n"                                                                  \
	"          path: \"/bench/.*\"\n"                                                          \
	"        - method: \"DELETE|PATCH\"\n"                                                     \
	"        - method: GET\n"                                                                  \
	"          path: \"/v1/.*\"\n"                                                             \
	"        - method: GET\n"                                                                  \
	"          path: \"/admin(/.*)?\"\n"                                                       \
	"        - method: GET\n"                                                                  \
	"          path: \"/bench/private/.*\"\n"                                                  \
	"        - method: GET\n"                                                                  \
	"          path: \"/healthz|/metrics\"\n"                                                  \
	"        - method: GET\n"                                                                  \
	"          path: \"/bench/.*\"\n"                                                          \
	"          host: 'admin\\.example\\.com'\n"                                            \
	"        - method: HEAD\n"                                                                 \
	"          path: \"/bench/.*\"\n"                                                          \
	"        - method: GET\n"                                                                  \
	"          path: \"/bench/.*\"\n"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = sig;
}

static void log_line(void *user, int level, const char *line)
{
	(void)user;
	(void)level;
	fprintf(stderr, "microseg: %s\n", line);
}

static int add_endpoint(struct microseg_ctx *ctx, const char *app, const char *netns, const char *veth,
			const char *addr)
{
	char label[64], path[128], cidr[64];
	const char *labels[] = { label, "k8s:io.kubernetes.pod.namespace=default" }, *addrs[] = { cidr };
	struct microseg_identity *id;
	struct microseg_endpoint *ep;

	snprintf(label, sizeof(label), "k8s:app=%s", app);
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	snprintf(cidr, sizeof(cidr), "%s/32", addr);
	int err = microseg_identity_get(ctx, labels, 2, &id);
	if (err)
		return err;
	MICROSEG_OPTS(microseg_veth_opts, o, .host_ifname = veth, .netns_path = path, .addrs = addrs,
		      .n_addrs = 1, .identity = id, .name = app);
	err = microseg_endpoint_add_veth(ctx, &o, &ep);
	microseg_identity_put(ctx, id); /* the endpoint holds its own reference */
	return err;
}

static void reply_err(struct microseg_ctx *ctx, const char *what, int err)
{
	printf("error %s: %s: %s\n", what, microseg_strerror(err), microseg_ctx_last_error(ctx));
}

static void command(struct microseg_ctx *ctx, char *line, bool *proxy_running)
{
	unsigned threads;
	int err;

	line[strcspn(line, "\r\n")] = '\0';
	if (!strcmp(line, "l4") || !strcmp(line, "l7")) {
		static const char l4[] = POLICY_HEAD, l7[] = POLICY_HEAD HTTP_RULES;
		bool with_http = line[1] == '7';
		err = microseg_policy_apply_yaml(ctx, with_http ? l7 : l4, with_http ? sizeof(l7) - 1 : sizeof(l4) - 1, 0);
		if (err)
			reply_err(ctx, "policy", err);
		else
			printf("ok\n");
	} else if (sscanf(line, "proxy %u", &threads) == 1) {
		if (*proxy_running)
			microseg_proxy_stop(ctx);
		*proxy_running = false;
		MICROSEG_OPTS(microseg_proxy_opts, o, .threads = threads);
		err = microseg_proxy_start(ctx, &o);
		if (err) {
			reply_err(ctx, "proxy start", err);
			return;
		}
		*proxy_running = true;
		printf("ok port %d\n", microseg_proxy_port(ctx));
	} else if (!strcmp(line, "noproxy")) {
		if (*proxy_running)
			microseg_proxy_stop(ctx);
		*proxy_running = false;
		printf("ok\n");
	} else if (!strcmp(line, "stats")) {
		struct microseg_proxy_stats st = { .sz = sizeof(st) };
		err = microseg_proxy_get_stats(ctx, &st);
		if (err)
			reply_err(ctx, "proxy stats", err);
		else
			printf("ok connections %llu allowed %llu denied %llu invalid %llu upstream_errors %llu\n",
			       (unsigned long long)st.connections, (unsigned long long)st.requests_allowed,
			       (unsigned long long)st.requests_denied, (unsigned long long)st.requests_invalid,
			       (unsigned long long)st.upstream_errors);
	} else {
		printf("error unknown command '%s'\n", line);
	}
}

int main(int argc, char **argv)
{
	struct microseg_ctx *ctx;
	bool proxy_running = false;
	char line[256];
	int err;

	if (argc != 8) {
		fprintf(stderr, "usage: %s INSTANCE CLIENT_NETNS CLIENT_VETH CLIENT_ADDR SERVER_NETNS SERVER_VETH SERVER_ADDR\n",
			argv[0]);
		return 2;
	}
	/* No SA_RESTART: a signal must interrupt the read of the next command. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	MICROSEG_OPTS(microseg_ctx_opts, opts, .instance = argv[1], .log_fn = log_line,
		      .log_level = MICROSEG_LOG_WARN);
	err = microseg_ctx_open(&opts, &ctx);
	if (err) {
		fprintf(stderr, "bench-l7-fixture: open %s: %s\n", argv[1], microseg_strerror(err));
		return 1;
	}
	err = add_endpoint(ctx, "l7bench-client", argv[2], argv[3], argv[4]);
	if (!err)
		err = add_endpoint(ctx, "l7bench-server", argv[5], argv[6], argv[7]);
	if (err) {
		reply_err(ctx, "endpoint", err);
	} else {
		printf("ready\n");
		while (!stopping && fgets(line, sizeof(line), stdin))
			command(ctx, line, &proxy_running);
	}

	if (proxy_running)
		microseg_proxy_stop(ctx);
	int perr = microseg_ctx_purge(ctx);
	if (perr)
		fprintf(stderr, "bench-l7-fixture: purge: %s: %s\n", microseg_strerror(perr), microseg_ctx_last_error(ctx));
	microseg_ctx_close(ctx);
	return err || perr ? 1 : 0;
}
