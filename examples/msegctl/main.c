/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msegctl: the command table, the shared options before the command, and dispatch.
 * Every subcommand parses its own options (getopt_long) and checks all of its arguments
 * before it opens the instance, so a usage error never touches the kernel.
 */
#include <errno.h>
#include <string.h>

#include "msegctl.h"

#define COMMON_HELP                                                                                \
	"Options of every command:\n"                                                              \
	"  --instance NAME   instance to look at (default \"default\")\n"                            \
	"  --bpffs-dir DIR   its pins (default /sys/fs/bpf/microseg/NAME)\n"                        \
	"  --state-dir DIR   its metadata (default /run/microseg/NAME)\n"                           \
	"  --debug           library log lines on stderr\n"                                      \
	"  -h, --help        this help\n"

static const struct cmd cmds[] = {
	{ "endpoint", "list", "[-v]", "endpoints: id, interface, name, identity, addresses",
	  "Lists the instance's endpoints (ordered by id).\n"
	  "  -v, --verbose     also the counters: forwarded packets and bytes and dropped packets\n"
	  "                    per direction, and the non-zero drop reasons\n",
	  cmd_endpoint_list },
	{ "identity", "list", "", "identities: id, endpoints using it, labels",
	  "Lists the instance's live identities (ordered by id) with their labels.\n",
	  cmd_identity_list },
	{ "policy", "list", "", "rules: id, name, policy (\"-\" for rules added through the API)",
	  "Lists the rules in force (ordered by id): rule id, rule name and the policy document it\n"
	  "came from; a policy whose documents produced no rules is listed with id \"-\".\n",
	  cmd_policy_list },
	{ "policy", "get", "NAME", "the YAML a policy was applied with",
	  "Prints the YAML text the policy NAME (\"namespace/name\", or \"name\" when cluster-wide)\n"
	  "was applied with.\n",
	  cmd_policy_get },
	{ "policy", "explain", "[-q] SRC DST PROTO/PORT", "may SRC open a connection to DST? which rule decides?",
	  "Answers from the tables the datapath uses whether SRC may open a connection to DST.\n"
	  "SRC and DST: an endpoint (interface or endpoint name), an IPv4/IPv6 address, or\n"
	  "identity:N. PROTO/PORT: tcp/80, udp/53, sctp/9, icmp/8, icmpv6/128 (ICMP: the type).\n"
	  "Exit status: 0 allowed, 1 denied (or an error, said on stderr), 2 usage error.\n"
	  "  -q, --quiet       no output, the exit status only\n",
	  cmd_policy_explain },
	{ "service", "list", "", "services (none yet: load balancing comes in a later release)",
	  "Lists the instance's services. Services are not implemented yet: it prints\n"
	  "\"no services\" (the command exists so that scripts can rely on it).\n",
	  cmd_service_list },
	{ "observe", NULL, "[--json] [--endpoint NAME|ID] [--identity N] [--verdict forwarded|dropped] [--count N] [--timeout SEC]",
	  "live flow events: new connections and drops",
	  "Prints flow events as the datapath reports them: each new connection allowed and each\n"
	  "packet dropped, with its endpoint, direction, addresses and identities, protocol and\n"
	  "port, verdict, drop reason and deciding rule. Runs until --count events were printed,\n"
	  "--timeout passed, or SIGINT/SIGTERM; exits 0. A ring buffer has one reader: two\n"
	  "observers of one instance split its events between them.\n"
	  "  --json                one JSON object per line (fields: see the README)\n"
	  "  --endpoint NAME|ID    only this endpoint's events (interface, endpoint name or id)\n"
	  "  --identity N          only events with N as source or destination identity\n"
	  "  --verdict V           only forwarded (new connections) or dropped\n"
	  "  --count N             stop after N events\n"
	  "  --timeout SEC         stop after SEC seconds (fractions allowed)\n",
	  cmd_observe },
	{ "metrics", NULL, "[--prometheus]", "counters per endpoint, or the Prometheus text",
	  "Prints per endpoint and direction the packets and bytes forwarded and the packets\n"
	  "dropped, then the drops by reason.\n"
	  "  --prometheus      the Prometheus text exposition format instead (for a textfile\n"
	  "                    collector or a scrape wrapper)\n",
	  cmd_metrics },
	{ "status", NULL, "", "programs, endpoints, map fill, policy revision, event counters",
	  "Prints the instance's status: the shared programs' kernel ids, endpoints attached and\n"
	  "total, identities, policy revision, rules and policies, the fill level of the ipcache\n"
	  "and connection tracking maps, and the event counters and rate limit.\n",
	  cmd_status },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void print_synopsis(FILE *f, const struct cmd *c)
{
	fprintf(f, "  msegctl [OPTIONS] %s%s%s%s%s\n", c->group, c->verb ? " " : "", c->verb ? c->verb : "",
		c->args[0] ? " " : "", c->args);
}

void cli_print_help(const struct cmd *c)
{
	printf("Usage:\n");
	print_synopsis(stdout, c);
	printf("\n%s\n%s", c->help, COMMON_HELP);
}

static void print_top_help(void)
{
	printf("msegctl: looks at a libmicroseg instance (read-only; the managing process is not\n"
	       "disturbed).\n\nUsage: msegctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < N_CMDS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%s%s", cmds[i].group, cmds[i].verb ? " " : "",
			 cmds[i].verb ? cmds[i].verb : "");
		printf("  %-18s%s\n", name, cmds[i].summary);
	}
	printf("\n%s  --version         the msegctl and library versions\n\n"
	       "\"msegctl COMMAND --help\" describes a command. Exit status: 0 success, 1 error, 2 usage.\n",
	       COMMON_HELP);
}

static void print_group_help(const char *group)
{
	printf("Usage:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].group, group))
			print_synopsis(stdout, &cmds[i]);
	printf("\n\"msegctl %s VERB --help\" describes each.\n", group);
}

static bool is_group(const char *word)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].group, word))
			return true;
	return false;
}

static const struct cmd *find_cmd(const char *group, const char *verb)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].group, group) && (!cmds[i].verb || (verb && !strcmp(cmds[i].verb, verb))))
			return &cmds[i];
	return NULL;
}

/* Output that did not reach its file (a full disk, /dev/full) is an error, not a success. A
 * reader that went away (EPIPE, only seen when SIGPIPE is ignored: observe) is not. */
static int finish(int rc)
{
	if ((fflush(stdout) == EOF || ferror(stdout)) && errno != EPIPE && rc == 0)
		return cli_error("cannot write the output: %s", strerror(errno));
	return rc;
}

enum { OPT_VERSION = OPT_SUB_BASE };

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "version", no_argument, NULL, OPT_VERSION },
					      MSEGCTL_COMMON_OPTIONS, { 0 } };
	struct cli cli = { .instance = NULL };
	static const struct cmd top = { .group = "", .args = "COMMAND", .help = "" };
	int c;

	snprintf(cli.name, sizeof(cli.name), "msegctl");
	cli.cmd = &top;
	/* "+": the options before the command only; the command parses the rest. */
	while ((c = cli_getopt(&cli, argc, argv, "+", opts)) != -1) {
		if (c == OPT_VERSION) {
			uint32_t v = microseg_version();
			printf("msegctl %d.%d.%d (libmicroseg %u.%u.%u)\n", MICROSEG_VERSION_MAJOR,
			       MICROSEG_VERSION_MINOR, MICROSEG_VERSION_PATCH, v / 10000, v / 100 % 100, v % 100);
			return finish(0);
		}
		if (c == CLI_HELP) {
			print_top_help();
			return finish(0);
		}
		return cli_stop(&cli, c);
	}
	if (optind >= argc)
		return cli_usage(&cli, "missing command");

	const char *group = argv[optind], *verb = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (!is_group(group))
		return cli_usage(&cli, "unknown command '%s'", group);
	const struct cmd *cmd = find_cmd(group, verb);
	if (!cmd) {
		char verbs[64] = "";
		if (verb && (!strcmp(verb, "-h") || !strcmp(verb, "--help"))) {
			print_group_help(group);
			return finish(0);
		}
		for (size_t i = 0; i < N_CMDS; i++)
			if (!strcmp(cmds[i].group, group))
				snprintf(verbs + strlen(verbs), sizeof(verbs) - strlen(verbs), "%s%s",
					 verbs[0] ? ", " : "", cmds[i].verb);
		snprintf(cli.name, sizeof(cli.name), "msegctl %s", group);
		if (!verb || verb[0] == '-')
			return cli_usage(&cli, "missing subcommand (%s)", verbs);
		return cli_usage(&cli, "unknown subcommand '%s' (%s)", verb, verbs);
	}

	/* The command sees its own name as argv[0] and parses from there. */
	int first = optind + (cmd->verb ? 1 : 0);
	snprintf(cli.name, sizeof(cli.name), "msegctl %s%s%s", cmd->group, cmd->verb ? " " : "",
		 cmd->verb ? cmd->verb : "");
	cli.cmd = cmd;
	optind = 0; /* glibc: start a fresh scan */
	int rc = cmd->run(&cli, argc - first, argv + first);
	return finish(rc);
}
