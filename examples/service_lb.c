// SPDX-License-Identifier: Apache-2.0
/* A service with three weighted backends, one drained, then listed. Socket-level balancing is
 * attached to the cgroup given (a test cgroup, not the root, for a try-out).
 * Usage: service_lb CGROUP_DIR   e.g. sudo mkdir /sys/fs/cgroup/unified/lbdemo && sudo ./service_lb /sys/fs/cgroup/unified/lbdemo */
#include <microseg/microseg.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct microseg_ctx *ctx;
	struct microseg_service *svc;
	if (argc != 2) {
		fprintf(stderr, "usage: %s CGROUP_DIR\n", argv[0]);
		return 2;
	}
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = "lbdemo", .lb_cgroup = argv[1]);
	int err = microseg_ctx_open(&copts, &ctx);
	if (err) {
		fprintf(stderr, "open: %s\n", microseg_strerror(err));
		return 1;
	}
	MICROSEG_OPTS(microseg_service_opts, sopts, .name = "deathstar", .address = "10.96.0.10", .port = 80,
		      .proto = MICROSEG_PROTO_TCP, .algorithm = MICROSEG_LB_MAGLEV, .affinity_timeout_s = 0);
	err = microseg_service_add(ctx, &sopts, &svc);
	const char *backends[] = { "10.0.1.2", "10.0.2.2", "10.0.3.2" };
	for (int i = 0; i < 3 && !err; i++) {
		MICROSEG_OPTS(microseg_backend_opts, b, .address = backends[i], .port = 8080, .weight = (uint16_t)(i + 1));
		err = microseg_service_backend_add(ctx, svc, &b);
	}
	/* Drain one: its connections go on, new ones go to the others. */
	if (!err)
		err = microseg_service_backend_set_state(ctx, svc, "10.0.3.2", 8080, MICROSEG_BACKEND_TERMINATING);
	if (err) {
		fprintf(stderr, "service: %s (%s)\n", microseg_strerror(err), microseg_ctx_last_error(ctx));
	} else {
		struct microseg_backend_info info[3];
		size_t n = 0;
		for (int i = 0; i < 3; i++)
			info[i].sz = sizeof(info[i]);
		microseg_service_backends(ctx, svc, info, 3, &n);
		for (size_t i = 0; i < n; i++)
			printf("10.96.0.10:80 -> %s:%u weight %u %s\n", info[i].address, info[i].port, info[i].weight,
			       info[i].state == MICROSEG_BACKEND_ACTIVE ? "active" : "terminating");
	}
	microseg_ctx_purge(ctx); /* a try-out: take it all down again */
	microseg_ctx_close(ctx);
	return err ? 1 : 0;
}
