/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The managing process for msegctl's smoke test: creates an instance with two endpoints
 * ("frontend" and "backend", veths into two existing network namespaces) and a policy
 * document, prints "ready", and keeps the instance open (holding its lock) until stdin
 * closes; then purges it. msegctl, run meanwhile, must read everything without disturbing it.
 * Usage: msegctl_fixture INSTANCE POLICY.yaml NETNS_A VETH_A ADDR_A NETNS_B VETH_B ADDR_B
 */
#include <microseg/microseg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int add(struct microseg_ctx *ctx, const char *name, const char *app, const char *netns,
	       const char *veth, const char *addr)
{
	char label[64], path[128];
	const char *labels[] = { label, "k8s:io.kubernetes.pod.namespace=prod" }, *addrs[] = { addr };
	struct microseg_identity *id;
	struct microseg_endpoint *ep;
	int err;

	snprintf(label, sizeof(label), "k8s:app=%s", app);
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	err = microseg_identity_get(ctx, labels, 2, &id);
	if (err)
		return err;
	MICROSEG_OPTS(microseg_veth_opts, o, .host_ifname = veth, .netns_path = path, .addrs = addrs,
		      .n_addrs = 1, .identity = id, .name = name);
	err = microseg_endpoint_add_veth(ctx, &o, &ep);
	microseg_identity_put(ctx, id); /* the endpoint holds its own reference */
	return err;
}

static int apply(struct microseg_ctx *ctx, const char *file)
{
	char buf[16384];
	FILE *f = fopen(file, "r");
	size_t len;

	if (!f)
		return -errno;
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return microseg_policy_apply_yaml(ctx, buf, len, 0);
}

int main(int argc, char **argv)
{
	struct microseg_ctx *ctx;
	char c;
	int err;

	if (argc != 9)
		return fprintf(stderr, "usage: %s INSTANCE POLICY NETNS_A VETH_A ADDR_A NETNS_B VETH_B ADDR_B\n",
			       argv[0]), 2;
	MICROSEG_OPTS(microseg_ctx_opts, opts, .instance = argv[1]);
	err = microseg_ctx_open(&opts, &ctx);
	if (err)
		return fprintf(stderr, "fixture: open: %s\n", microseg_strerror(err)), 1;

	err = add(ctx, "frontend", "frontend", argv[3], argv[4], argv[5]);
	if (!err)
		err = add(ctx, "backend", "backend", argv[6], argv[7], argv[8]);
	if (!err)
		err = apply(ctx, argv[2]);
	if (err) {
		fprintf(stderr, "fixture: %s: %s\n", microseg_strerror(err), microseg_ctx_last_error(ctx));
	} else {
		printf("ready\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
	}
	int perr = microseg_ctx_purge(ctx);
	if (perr)
		fprintf(stderr, "fixture: purge: %s: %s\n", microseg_strerror(perr), microseg_ctx_last_error(ctx));
	microseg_ctx_close(ctx);
	return err || perr ? 1 : 0;
}
