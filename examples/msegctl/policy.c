/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl policy list | get NAME | explain SRC DST PROTO/PORT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msegctl.h"

int cmd_policy_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	static const char *const headers[] = { "ID", "NAME", "POLICY" };
	struct microseg_rule **rules = NULL;
	const char **policies = NULL;
	struct microseg_ctx *ctx;
	size_t n_rules = 0, n_policies = 0;
	int c, err, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	err = list_rules(ctx, &rules, &n_rules);
	if (!err)
		err = list_policies(ctx, &policies, &n_policies);
	if (err) {
		rc = cli_fail(cli, ctx, "policy list", err);
		goto out;
	}
	if (n_rules == 0 && n_policies == 0) {
		printf("no policies or rules\n");
		goto out;
	}

	struct table *t = table_new(3, headers);
	for (size_t i = 0; i < n_rules; i++) {
		const char *name = microseg_rule_name(rules[i]), *policy = microseg_rule_policy(rules[i]);
		table_cell(t, "%u", microseg_rule_id(rules[i]));
		table_cell(t, "%s", name && name[0] ? name : "-");
		table_cell(t, "%s", policy && policy[0] ? policy : "-");
	}
	/* A policy can hold no rule at all (a document whose rules select nothing). */
	for (size_t p = 0; p < n_policies; p++) {
		bool has_rules = false;
		for (size_t i = 0; i < n_rules && !has_rules; i++)
			has_rules = !strcmp(microseg_rule_policy(rules[i]), policies[p]);
		if (has_rules)
			continue;
		table_cell(t, "-");
		table_cell(t, "-");
		table_cell(t, "%s", policies[p]);
	}
	err = table_print_free(t, stdout);
	if (err)
		rc = cli_fail(cli, NULL, "policy list", err);
out:
	free(rules);
	free(policies);
	microseg_ctx_close(ctx);
	return rc;
}

int cmd_policy_get(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	struct microseg_ctx *ctx;
	char *doc = NULL;
	int c, err, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 1, 1))
		return EXIT_USAGE;
	const char *name = argv[optind];
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	err = microseg_policy_get_yaml(ctx, name, &doc);
	if (err == -ENOENT) {
		rc = cli_error("no policy '%s' in instance '%s'", name, microseg_ctx_instance(ctx));
	} else if (err) {
		rc = cli_fail(cli, ctx, "policy get", err);
	} else {
		size_t len = strlen(doc);
		fputs(doc, stdout);
		if (len && doc[len - 1] != '\n')
			putchar('\n');
	}
	free(doc);
	microseg_ctx_close(ctx);
	return rc;
}

int cmd_policy_explain(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, MSEGCTL_COMMON_OPTIONS,
					      { 0 } };
	struct microseg_explain_result r = { .sz = sizeof(r) };
	struct microseg_ctx *ctx;
	bool quiet = false;
	uint32_t proto;
	uint16_t port;
	int c, err, rc;

	while ((c = cli_getopt(cli, argc, argv, "q", opts)) != -1) {
		if (c != 'q')
			return cli_stop(cli, c);
		quiet = true;
	}
	if (!cli_args(cli, argc - optind, 3, 3))
		return EXIT_USAGE;
	const char *src = argv[optind], *dst = argv[optind + 1], *pp = argv[optind + 2];
	if (!parse_proto_port(pp, &proto, &port))
		return cli_usage(cli, "bad PROTO/PORT '%s' (tcp/80, udp/53, sctp/9, icmp/8, icmpv6/128)", pp);
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	MICROSEG_OPTS(microseg_explain_query, q, .src = src, .dst = dst, .proto = proto, .port = port);
	err = microseg_policy_explain(ctx, &q, &r);
	if (err) {
		rc = cli_fail(cli, ctx, "explain", err);
	} else {
		if (!quiet)
			printf("%.*s\n", (int)sizeof(r.text), r.text);
		rc = r.verdict == MICROSEG_VERDICT_ALLOWED ? 0 : 1;
	}
	microseg_ctx_close(ctx);
	return rc;
}
