/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl status: the instance at a glance. */
#include "msegctl.h"

static double percent(uint32_t used, uint32_t max)
{
	return max ? 100.0 * used / max : 0.0;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { MSEGCTL_COMMON_OPTIONS, { 0 } };
	struct microseg_status st = { .sz = sizeof(st) };
	struct microseg_ctx *ctx;
	int c, err, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1)
		return cli_stop(cli, c);
	if (!cli_args(cli, argc - optind, 0, 0))
		return EXIT_USAGE;
	if ((rc = cli_open(cli, &ctx)))
		return rc;

	err = microseg_ctx_status(ctx, &st);
	if (err) {
		rc = cli_fail(cli, ctx, "status", err);
		goto out;
	}
	const char *inst = microseg_ctx_instance(ctx);
	printf("instance:     %s\n", inst);
	/* The library does not say where it found the instance: these are the same rules. */
	if (cli->bpffs_dir)
		printf("pins:         %s\n", cli->bpffs_dir);
	else
		printf("pins:         /sys/fs/bpf/microseg/%s\n", inst);
	if (cli->state_dir)
		printf("state:        %s\n", cli->state_dir);
	else
		printf("state:        /run/microseg/%s\n", inst);
	printf("programs:     from-container id %u, to-container id %u\n", st.prog_from_container_id,
	       st.prog_to_container_id);
	printf("endpoints:    %u attached / %u total (max %u)%s\n", st.endpoints_attached, st.endpoints,
	       st.max_endpoints, st.endpoints_attached < st.endpoints ? "  <- some endpoints lost their programs" : "");
	printf("identities:   %u\n", st.identities);
	printf("policy:       revision %u, %u rules, %u policies\n", st.policy_revision, st.rules, st.policies);
	printf("ipcache:      %u / %u entries (%.1f%%)\n", st.ipcache_entries, st.max_ipcache,
	       percent(st.ipcache_entries, st.max_ipcache));
	printf("connections:  %u / %u entries (%.1f%%)\n", st.connections, st.max_connections,
	       percent(st.connections, st.max_connections));
	printf("events:       %llu emitted, %llu rate limited, %llu lost\n",
	       (unsigned long long)st.events_emitted, (unsigned long long)st.events_rate_limited,
	       (unsigned long long)st.events_lost);
	printf("services:     %u / %u, %u backends / %u, %u slots / %u (%.1f%%), socket balancer %s\n",
	       st.services, st.max_services, st.backends, st.max_backends, st.lb_slots, st.max_lb_slots,
	       percent(st.lb_slots, st.max_lb_slots), st.socket_lb_attached ? "attached" : "not attached");
	if (st.proxy_port)
		printf("L7 proxy:     port %u, %u connections recorded\n", st.proxy_port, st.proxy_connections);
	else
		printf("L7 proxy:     not running (connections to ports with HTTP rules are dropped)\n");
	if (st.event_rate)
		printf("event rate:   %u/s per CPU, burst %u\n", st.event_rate, st.event_burst);
	else
		printf("event rate:   off\n");
out:
	microseg_ctx_close(ctx);
	return rc;
}
