/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The C half of examples/demo.sh. Each command opens the instance, does one thing and exits,
 * which is the point: the datapath lives in the kernel, pinned, not in this process.
 *
 *   demo_endpoints add INSTANCE NETNS HOSTIF ADDR[,ADDR...] LABEL...
 *       veth HOSTIF <-> eth0 in /var/run/netns/NETNS, endpoint named NETNS with those labels
 *   demo_endpoints show INSTANCE [--expect-traffic]
 *       every endpoint with its identity, addresses and counters; with --expect-traffic, exit 1
 *       if an endpoint has sent or received nothing
 *   demo_endpoints purge INSTANCE
 *       detach everything and remove the instance's pins and state
 */
#include <microseg/microseg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 64

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s add INSTANCE NETNS HOSTIF ADDR[,ADDR...] LABEL...\n"
		"       %s show INSTANCE [--expect-traffic]\n"
		"       %s purge INSTANCE\n",
		prog, prog, prog);
	return 2;
}

static void log_line(void *user, int level, const char *line)
{
	(void)user;
	if (level <= MICROSEG_LOG_WARN)
		fprintf(stderr, "microseg: %s\n", line);
}

static int fail(struct microseg_ctx *ctx, const char *what, int err)
{
	fprintf(stderr, "%s: %s%s%s\n", what, microseg_strerror(err), ctx ? ": " : "",
		ctx ? microseg_ctx_last_error(ctx) : "");
	return 1;
}

static int cmd_add(struct microseg_ctx *ctx, int argc, char **argv)
{
	const char *addrs[MICROSEG_ENDPOINT_ADDRS_MAX];
	struct microseg_identity *id;
	struct microseg_endpoint *ep;
	char netns[128], *list, *tok, *save = NULL;
	size_t n_addrs = 0;
	int err;

	/* argv: NETNS HOSTIF ADDRS LABEL... (main checked there are at least 4) */
	snprintf(netns, sizeof(netns), "/var/run/netns/%s", argv[0]);
	list = argv[2];
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n_addrs == MICROSEG_ENDPOINT_ADDRS_MAX)
			return fail(ctx, "addresses", -E2BIG);
		addrs[n_addrs++] = tok;
	}

	err = microseg_identity_get(ctx, (const char *const *)&argv[3], (size_t)(argc - 3), &id);
	if (err)
		return fail(ctx, "identity", err);

	MICROSEG_OPTS(microseg_veth_opts, vopts, .host_ifname = argv[1], .netns_path = netns,
		      .addrs = addrs, .n_addrs = n_addrs, .identity = id, .name = argv[0]);
	err = microseg_endpoint_add_veth(ctx, &vopts, &ep);
	/* The endpoint holds its own reference; ours is no longer needed either way. */
	microseg_identity_put(ctx, id);
	if (err)
		return fail(ctx, "endpoint", err);

	printf("  added endpoint %u: %s (host side %s, ifindex %u), identity %u\n",
	       microseg_endpoint_id(ep), microseg_endpoint_name(ep), microseg_endpoint_ifname(ep),
	       microseg_endpoint_ifindex(ep), microseg_identity_id(microseg_endpoint_identity(ep)));
	return 0;
}

static int cmd_show(struct microseg_ctx *ctx, int expect_traffic)
{
	struct microseg_endpoint *eps[MAX_ENDPOINTS];
	size_t count, i, j;
	int err, idle = 0;

	err = microseg_endpoint_list(ctx, eps, MAX_ENDPOINTS, &count);
	if (err)
		return fail(ctx, "list", err);
	printf("  instance %s (%s), %zu endpoint(s)\n", microseg_ctx_instance(ctx),
	       microseg_ctx_restored(ctx) ? "restored from its pins" : "new", count);

	for (i = 0; i < count; i++) {
		struct microseg_identity *id = microseg_endpoint_identity(eps[i]);
		struct microseg_endpoint_stats st = { .sz = sizeof(st) };

		printf("  endpoint %u %-14s on %-10s identity %u {", microseg_endpoint_id(eps[i]),
		       microseg_endpoint_name(eps[i]), microseg_endpoint_ifname(eps[i]),
		       microseg_identity_id(id));
		for (j = 0; j < microseg_identity_label_count(id); j++)
			printf("%s%s", j ? ", " : "", microseg_identity_label(id, j));
		printf("} addrs");
		for (j = 0; j < microseg_endpoint_addr_count(eps[i]); j++)
			printf(" %s", microseg_endpoint_addr(eps[i], j));
		printf("\n");

		err = microseg_endpoint_get_stats(ctx, eps[i], &st);
		if (err)
			return fail(ctx, "stats", err);
		printf("      egress  %6llu packets %9llu bytes %4llu dropped\n"
		       "      ingress %6llu packets %9llu bytes %4llu dropped\n",
		       (unsigned long long)st.egress_packets, (unsigned long long)st.egress_bytes,
		       (unsigned long long)st.egress_dropped, (unsigned long long)st.ingress_packets,
		       (unsigned long long)st.ingress_bytes, (unsigned long long)st.ingress_dropped);
		if (expect_traffic && (!st.egress_packets || !st.ingress_packets)) {
			fprintf(stderr, "endpoint %s counted no traffic in one direction\n",
				microseg_endpoint_name(eps[i]));
			idle = 1;
		}
	}
	if (expect_traffic && count == 0) {
		fprintf(stderr, "no endpoints\n");
		return 1;
	}
	return idle;
}

int main(int argc, char **argv)
{
	enum { ADD, SHOW, SHOW_EXPECT, PURGE } cmd;
	struct microseg_ctx *ctx;
	int err, rc;

	/* Check the command line before opening: opening creates the instance. */
	if (argc >= 7 && !strcmp(argv[1], "add"))
		cmd = ADD;
	else if (argc == 3 && !strcmp(argv[1], "show"))
		cmd = SHOW;
	else if (argc == 4 && !strcmp(argv[1], "show") && !strcmp(argv[3], "--expect-traffic"))
		cmd = SHOW_EXPECT;
	else if (argc == 3 && !strcmp(argv[1], "purge"))
		cmd = PURGE;
	else
		return usage(argv[0]);

	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = argv[2], .log_fn = log_line);
	err = microseg_ctx_open(&copts, &ctx);
	if (err)
		return fail(NULL, "open", err);

	switch (cmd) {
	case ADD:
		rc = cmd_add(ctx, argc - 3, argv + 3);
		break;
	case SHOW:
	case SHOW_EXPECT:
		rc = cmd_show(ctx, cmd == SHOW_EXPECT);
		break;
	default:
		err = microseg_ctx_purge(ctx);
		rc = err ? fail(ctx, "purge", err) : 0;
		break;
	}
	microseg_ctx_close(ctx);
	return rc;
}
