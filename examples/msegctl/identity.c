/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl identity list: live identities, how many endpoints use each, their labels. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msegctl.h"

static void labels(const struct microseg_identity *id, char *buf, size_t len)
{
	size_t used = 0, n = microseg_identity_label_count(id);

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", microseg_identity_label(id, i));
		used += w > 0 ? (size_t)w : 0;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

int cmd_identity_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	static const char *const headers[] = { "ID", "ENDPOINTS", "LABELS" };
	struct microseg_endpoint **eps = NULL;
	struct microseg_ctx *ctx;
	uint32_t *ids = NULL;
	size_t n_ids = 0, n_eps = 0;
	int c, err, rc = 0;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	err = list_identities(ctx, &ids, &n_ids);
	if (!err)
		err = list_endpoints(ctx, &eps, &n_eps);
	if (err) {
		rc = cli_fail(cli, ctx, "identity list", err);
		goto out;
	}
	if (n_ids == 0) {
		printf("no identities\n");
		goto out;
	}

	struct table *t = table_new(3, headers);
	for (size_t i = 0; i < n_ids; i++) {
		struct microseg_identity *id;
		char text[MICROSEG_LABELS_MAX * 64];
		size_t users = 0;

		/* A reference of our own keeps the labels valid while we print them. */
		err = microseg_identity_lookup(ctx, ids[i], &id);
		if (err == -ENOENT)
			continue; /* went away between the list and the lookup */
		if (err) {
			table_print_free(t, NULL);
			rc = cli_fail(cli, ctx, "identity lookup", err);
			goto out;
		}
		for (size_t j = 0; j < n_eps; j++)
			users += microseg_identity_id(microseg_endpoint_identity(eps[j])) == ids[i];
		labels(id, text, sizeof(text));
		table_cell(t, "%u", ids[i]);
		table_cell(t, "%zu", users);
		table_cell(t, "%s", text);
		microseg_identity_put(ctx, id);
	}
	err = table_print_free(t, stdout);
	if (err)
		rc = cli_fail(cli, NULL, "identity list", err);
out:
	free(ids);
	free(eps);
	microseg_ctx_close(ctx);
	return rc;
}
