/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl service list: services (load balancing) are not implemented yet; the command
 * exists so that scripts written now keep working when they are. */
#include "msegctl.h"

int cmd_service_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	struct microseg_ctx *ctx;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	/* Open anyway: a missing instance is an error here as in every other command. */
	if ((rc = cli_open(cli, &ctx)))
		return rc;
	printf("no services\n");
	microseg_ctx_close(ctx);
	return 0;
}
