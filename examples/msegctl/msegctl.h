/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msegctl: looks at a running libmicroseg instance without managing it. Shared declarations:
 * the command table entry, option parsing and error reporting (cli.c), plain-text tables
 * (table.c), value parsers and names (parse.c), and one function per subcommand.
 *
 * Exit codes: 0 success, 1 runtime error (or "denied" for policy explain), 2 usage error.
 */
#ifndef MSEGCTL_H
#define MSEGCTL_H

#include <microseg/microseg.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#define EXIT_USAGE 2

struct cli;

/* One subcommand: `msegctl GROUP VERB` (VERB NULL for single-word commands). */
struct cmd {
	const char *group;
	const char *verb;
	const char *args;    /* synopsis after the command name */
	const char *summary; /* one line for the command list */
	const char *help;    /* the rest of --help: what it prints, its options */
	int (*run)(struct cli *cli, int argc, char **argv);
};

/* Options every subcommand accepts, before or after its name. */
struct cli {
	const char *instance; /* default "default" */
	const char *bpffs_dir;
	const char *state_dir;
	bool debug;           /* library log lines on stderr */
	const struct cmd *cmd;
	char name[48];        /* "msegctl endpoint list", for messages */
	char open_error[512]; /* last error line the library logged while opening */
};

/* getopt_long values of the shared options (above the char range). */
enum { OPT_INSTANCE = 0x100, OPT_BPFFS_DIR, OPT_STATE_DIR, OPT_DEBUG, OPT_SUB_BASE = 0x200 };
#define MSEGCTL_COMMON_OPTIONS                                                                     \
	{ "instance", required_argument, NULL, OPT_INSTANCE },                                    \
	{ "bpffs-dir", required_argument, NULL, OPT_BPFFS_DIR },                                  \
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },                                  \
	{ "debug", no_argument, NULL, OPT_DEBUG },                                                \
	{ "help", no_argument, NULL, 'h' }

/* What cli_getopt() returns besides the caller's own options and -1 (end of options). */
#define CLI_HELP (-2) /* --help was given */
#define CLI_BAD (-3)  /* a usage error was printed */

/* getopt_long over the subcommand's options; handles the shared ones and --help itself and
 * reports unknown options and missing arguments as one line. shortopts without a leading ':'. */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
/* For a CLI_HELP/CLI_BAD (or any unexpected value) out of cli_getopt(): prints the command's
 * help for CLI_HELP and returns the exit code (0, or EXIT_USAGE). */
int cli_stop(struct cli *cli, int c);
/* Checks the number of positional arguments left after the options; prints the usage error. */
bool cli_args(struct cli *cli, int n, int min, int max);

/* Prints "msegctl CMD: message (see --help)" on stderr and returns EXIT_USAGE. */
int cli_usage(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "msegctl: what: <strerror>[: <last error>]" on stderr and returns 1. */
int cli_fail(struct cli *cli, struct microseg_ctx *ctx, const char *what, int err);
/* Prints "msegctl: message" on stderr and returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens the instance read-only. Returns 0, or the exit code after printing the error. */
int cli_open(struct cli *cli, struct microseg_ctx **ctx);
/* Full --help text of a command on stdout. */
void cli_print_help(const struct cmd *cmd);

/* Plain-text tables: cells appended row by row, columns sized to their widest cell. */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t table_rows(const struct table *t);
/* Prints (unless f is NULL) and frees the table; -ENOMEM if a cell could not be stored. */
int table_print_free(struct table *t, FILE *f);

/* Parsers: true on success; the text must be the whole value. */
bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
bool parse_seconds(const char *s, int64_t *ms); /* "10", "0.5"; > 0, at most a day */
/* "tcp/80", "udp/53", "sctp/9", "icmp/8", "icmpv6/128" (port or ICMP type). */
bool parse_proto_port(const char *s, uint32_t *proto, uint16_t *port);

/* Names for numbers in output. */
const char *proto_name(uint32_t proto); /* NULL if it has none */
const char *direction_name(uint32_t dir);
/* A reserved identity's name ("host", "world", "unmanaged") or NULL. */
const char *reserved_identity_name(uint32_t id);

/* Endpoints, identities and rules of the instance, all of them (malloc()ed; free()). */
int list_endpoints(struct microseg_ctx *ctx, struct microseg_endpoint ***eps, size_t *n);
int list_identities(struct microseg_ctx *ctx, uint32_t **ids, size_t *n);
int list_rules(struct microseg_ctx *ctx, struct microseg_rule ***rules, size_t *n);
int list_policies(struct microseg_ctx *ctx, const char ***names, size_t *n);
int list_services(struct microseg_ctx *ctx, struct microseg_service ***svcs, size_t *n);

/* The subcommands. */
int cmd_endpoint_list(struct cli *cli, int argc, char **argv);
int cmd_identity_list(struct cli *cli, int argc, char **argv);
int cmd_policy_list(struct cli *cli, int argc, char **argv);
int cmd_policy_get(struct cli *cli, int argc, char **argv);
int cmd_policy_explain(struct cli *cli, int argc, char **argv);
int cmd_service_list(struct cli *cli, int argc, char **argv);
int cmd_observe(struct cli *cli, int argc, char **argv);
int cmd_metrics(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);

#endif
