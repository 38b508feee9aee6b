/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl endpoint list: the instance's endpoints, with their counters on -v. */
#include <stdlib.h>
#include <string.h>

#include "msegctl.h"

/* "egress:policy=3,ingress:invalid=1", or "-" without drops. */
static void drop_reasons(const struct microseg_endpoint_stats *st, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int d = 0; d < 2; d++) {
		const uint64_t *by = d ? st->ingress_drops_by_reason : st->egress_drops_by_reason;
		for (uint32_t r = 0; r < MICROSEG_DROP_REASONS; r++) {
			if (!by[r] || used >= len)
				continue;
			int n = snprintf(buf + used, len - used, "%s%s:%s=%llu", used ? "," : "",
					 d ? "ingress" : "egress", microseg_drop_reason_name(r),
					 (unsigned long long)by[r]);
			used += n > 0 ? (size_t)n : 0;
		}
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void addresses(const struct microseg_endpoint *ep, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < microseg_endpoint_addr_count(ep) && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", microseg_endpoint_addr(ep, i));
		used += n > 0 ? (size_t)n : 0;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

int cmd_endpoint_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "verbose", no_argument, NULL, 'v' },
					      MSEGCTL_COMMON_OPTIONS, { 0 } };
	static const char *const headers[] = { "ID",      "INTERFACE", "NAME",    "IDENTITY", "ADDRESSES",
					       "EG-PKTS", "EG-BYTES",  "EG-DROP", "IN-PKTS",  "IN-BYTES",
					       "IN-DROP", "DROPS" };
	struct microseg_endpoint **eps = NULL;
	struct microseg_ctx *ctx;
	bool verbose = false;
	size_t n = 0;
	int c, err, rc = 0;

	while ((c = cli_getopt(cli, argc, argv, "v", opts)) != -1) {
		if (c != 'v')
			return cli_stop(cli, c);
		verbose = true;
	}
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	err = list_endpoints(ctx, &eps, &n);
	if (err) {
		rc = cli_fail(cli, ctx, "endpoint list", err);
		goto out;
	}
	if (n == 0) {
		printf("no endpoints\n");
		goto out;
	}

	struct table *t = table_new(verbose ? 12 : 5, headers);
	for (size_t i = 0; i < n; i++) {
		char addrs[MICROSEG_ENDPOINT_ADDRS_MAX * 48], reasons[512];
		const char *name = microseg_endpoint_name(eps[i]);

		addresses(eps[i], addrs, sizeof(addrs));
		table_cell(t, "%u", microseg_endpoint_id(eps[i]));
		table_cell(t, "%s", microseg_endpoint_ifname(eps[i]));
		table_cell(t, "%s", name && name[0] ? name : "-");
		table_cell(t, "%u", microseg_identity_id(microseg_endpoint_identity(eps[i])));
		table_cell(t, "%s", addrs);
		if (!verbose)
			continue;
		struct microseg_endpoint_stats st = { .sz = sizeof(st) };
		err = microseg_endpoint_get_stats(ctx, eps[i], &st);
		if (err) {
			table_print_free(t, NULL);
			rc = cli_fail(cli, ctx, "endpoint counters", err);
			goto out;
		}
		drop_reasons(&st, reasons, sizeof(reasons));
		table_cell(t, "%llu", (unsigned long long)st.egress_packets);
		table_cell(t, "%llu", (unsigned long long)st.egress_bytes);
		table_cell(t, "%llu", (unsigned long long)st.egress_dropped);
		table_cell(t, "%llu", (unsigned long long)st.ingress_packets);
		table_cell(t, "%llu", (unsigned long long)st.ingress_bytes);
		table_cell(t, "%llu", (unsigned long long)st.ingress_dropped);
		table_cell(t, "%s", reasons);
	}
	err = table_print_free(t, stdout);
	if (err)
		rc = cli_fail(cli, NULL, "endpoint list", err);
out:
	free(eps);
	microseg_ctx_close(ctx);
	return rc;
}
