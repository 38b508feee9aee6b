/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl service list: every service with its backends, their state and connections. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msegctl.h"

static const char *algo_name(uint32_t a)
{
	return a == MICROSEG_LB_MAGLEV ? "maglev" : "random";
}

static const char *state_name(uint32_t s)
{
	static const char *const names[] = { "active", "terminating", "maintenance" };
	return s < 3 ? names[s] : "?";
}

/* One row per backend (a service without backends gets one row of its own). */
static int add_rows(struct microseg_ctx *ctx, struct table *t, struct microseg_service *svc)
{
	struct microseg_service_info info = { .sz = sizeof(info) };
	int err = microseg_service_get_info(ctx, svc, &info);
	if (err)
		return err;
	size_t n = 0, cap = info.n_backends;
	struct microseg_backend_info *b = calloc(cap ? cap : 1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	err = microseg_service_backends(ctx, svc, b, cap, &n);
	for (size_t i = 0; !err && i < (n ? n : 1); i++) {
		table_cell(t, "%u", info.id);
		table_cell(t, "%s", info.name[0] ? info.name : "-");
		table_cell(t, info.address[0] && strchr(info.address, ':') ? "[%s]:%u/%s" : "%s:%u/%s", info.address,
			   info.port, info.proto == MICROSEG_PROTO_UDP ? "udp" : "tcp");
		table_cell(t, "%s", algo_name(info.algorithm));
		if (!n) {
			table_cell(t, "(no backend: refuses)");
			table_cell(t, "-");
			table_cell(t, "-");
			table_cell(t, "-");
			continue;
		}
		table_cell(t, strchr(b[i].address, ':') ? "[%s]:%u" : "%s:%u", b[i].address, b[i].port);
		table_cell(t, "%u", b[i].weight);
		table_cell(t, "%s", state_name(b[i].state));
		table_cell(t, "%llu", (unsigned long long)b[i].connections);
	}
	free(b);
	return err;
}

int cmd_service_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	static const char *const headers[] = { "ID", "NAME", "FRONTEND", "ALGO", "BACKEND", "WEIGHT", "STATE",
					       "CONNECTIONS" };
	struct microseg_service **svcs = NULL;
	struct microseg_ctx *ctx;
	size_t n = 0;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;
	int err = list_services(ctx, &svcs, &n);
	if (err) {
		rc = cli_fail(cli, ctx, "listing services", err);
		microseg_ctx_close(ctx);
		return rc;
	}
	if (!n) {
		printf("no services\n");
	} else {
		struct table *t = table_new(8, headers);
		for (size_t i = 0; i < n && !err; i++)
			err = add_rows(ctx, t, svcs[i]);
		table_print_free(t, stdout);
		if (err)
			rc = cli_fail(cli, ctx, "reading a service", err);
	}
	free(svcs);
	microseg_ctx_close(ctx);
	return rc;
}
