/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl metrics: per-endpoint counters as a table, or the Prometheus text. */
#include <errno.h>
#include <stdlib.h>

#include "msegctl.h"

static int prometheus(struct cli *cli, struct microseg_ctx *ctx)
{
	char *text = NULL;
	int err = microseg_metrics_prometheus(ctx, &text);

	if (err)
		return cli_fail(cli, ctx, "metrics", err);
	fputs(text, stdout);
	free(text);
	return 0;
}

static const char *endpoint_label(const struct microseg_endpoint *ep)
{
	const char *name = microseg_endpoint_name(ep);
	return name && name[0] ? name : microseg_endpoint_ifname(ep);
}

static int counters(struct cli *cli, struct microseg_ctx *ctx)
{
	static const char *const headers[] = { "ID", "ENDPOINT", "EGRESS-FWD", "EGRESS-BYTES", "EGRESS-DROP",
					       "INGRESS-FWD", "INGRESS-BYTES", "INGRESS-DROP" };
	static const char *const drop_headers[] = { "ENDPOINT", "DIRECTION", "REASON", "PACKETS" };
	struct microseg_endpoint **eps = NULL;
	struct microseg_endpoint_stats *st = NULL;
	size_t n = 0;
	int err, rc = 0;

	err = list_endpoints(ctx, &eps, &n);
	if (err)
		return cli_fail(cli, ctx, "endpoint list", err);
	if (n == 0) {
		printf("no endpoints\n");
		free(eps);
		return 0;
	}
	st = calloc(n, sizeof(*st));
	if (!st) {
		free(eps);
		return cli_fail(cli, NULL, "metrics", -ENOMEM);
	}
	/* Read everything first, so both tables show the same moment (nearly). */
	for (size_t i = 0; i < n; i++) {
		st[i].sz = sizeof(st[i]);
		err = microseg_endpoint_get_stats(ctx, eps[i], &st[i]);
		if (err) {
			rc = cli_fail(cli, ctx, "endpoint counters", err);
			goto out;
		}
	}

	struct table *t = table_new(8, headers), *drops = table_new(4, drop_headers);
	for (size_t i = 0; i < n; i++) {
		table_cell(t, "%u", microseg_endpoint_id(eps[i]));
		table_cell(t, "%s", endpoint_label(eps[i]));
		table_cell(t, "%llu", (unsigned long long)st[i].egress_packets);
		table_cell(t, "%llu", (unsigned long long)st[i].egress_bytes);
		table_cell(t, "%llu", (unsigned long long)st[i].egress_dropped);
		table_cell(t, "%llu", (unsigned long long)st[i].ingress_packets);
		table_cell(t, "%llu", (unsigned long long)st[i].ingress_bytes);
		table_cell(t, "%llu", (unsigned long long)st[i].ingress_dropped);
		for (int d = 0; d < 2; d++) {
			const uint64_t *by = d ? st[i].ingress_drops_by_reason : st[i].egress_drops_by_reason;
			for (uint32_t r = 0; r < MICROSEG_DROP_REASONS; r++) {
				if (!by[r])
					continue;
				table_cell(drops, "%s", endpoint_label(eps[i]));
				table_cell(drops, "%s", d ? "ingress" : "egress");
				table_cell(drops, "%s", microseg_drop_reason_name(r));
				table_cell(drops, "%llu", (unsigned long long)by[r]);
			}
		}
	}
	bool any_drops = table_rows(drops) > 0;
	err = table_print_free(t, stdout);
	if (!err && any_drops) {
		printf("\n");
		err = table_print_free(drops, stdout);
	} else {
		table_print_free(drops, NULL);
	}
	if (err)
		rc = cli_fail(cli, NULL, "metrics", err);
out:
	free(st);
	free(eps);
	return rc;
}

int cmd_metrics(struct cli *cli, int argc, char **argv)
{
	enum { O_PROMETHEUS = OPT_SUB_BASE };
	static const struct option opts[] = { { "prometheus", no_argument, NULL, O_PROMETHEUS },
					      MSEGCTL_COMMON_OPTIONS, { 0 } };
	struct microseg_ctx *ctx;
	bool prom = false;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (c != O_PROMETHEUS)
			return cli_stop(cli, c);
		prom = true;
	}
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;
	rc = prom ? prometheus(cli, ctx) : counters(cli, ctx);
	microseg_ctx_close(ctx);
	return rc;
}
