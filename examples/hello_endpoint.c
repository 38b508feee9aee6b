/* SPDX-License-Identifier: Apache-2.0 */
/* Puts a veth into network namespace NETNS under a new instance named after it, then tears
 * the instance down. Usage: hello_endpoint NETNS (made beforehand with `ip netns add NETNS`). */
#include <microseg/microseg.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *labels[] = { "k8s:app=hello" }, *addrs[] = { "10.200.0.2/32" };
	struct microseg_ctx *ctx;
	struct microseg_identity *id;
	struct microseg_endpoint *ep;
	char netns[128], veth[16];
	int err;

	if (argc != 2)
		return fprintf(stderr, "usage: %s NETNS\n", argv[0]), 2;
	snprintf(netns, sizeof(netns), "/var/run/netns/%s", argv[1]);
	snprintf(veth, sizeof(veth), "hello%d", (int)getpid());

	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = argv[1]);
	err = microseg_ctx_open(&copts, &ctx);
	if (err)
		return fprintf(stderr, "open: %s\n", microseg_strerror(err)), 1;

	err = microseg_identity_get(ctx, labels, 1, &id);
	if (!err) {
		MICROSEG_OPTS(microseg_veth_opts, vopts, .host_ifname = veth, .netns_path = netns,
			      .addrs = addrs, .n_addrs = 1, .identity = id);
		err = microseg_endpoint_add_veth(ctx, &vopts, &ep);
	}
	if (!err)
		printf("endpoint %u on %s: identity %u %s\n", microseg_endpoint_id(ep),
		       microseg_endpoint_ifname(ep), microseg_identity_id(id),
		       microseg_identity_label(id, 0));
	else
		fprintf(stderr, "%s: %s\n", microseg_strerror(err), microseg_ctx_last_error(ctx));

	microseg_ctx_purge(ctx); /* detach, unpin, forget: leaves no trace of the instance */
	microseg_ctx_close(ctx);
	return err ? 1 : 0;
}
