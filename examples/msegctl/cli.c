/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl: option parsing shared by the commands, error lines, opening the instance. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "msegctl.h"

/* Every message is one line, even when it quotes an argument with control characters in it. */
static void print_line(const char *text)
{
	char buf[1024];
	size_t i;

	for (i = 0; text[i] && i < sizeof(buf) - 1; i++)
		buf[i] = isprint((unsigned char)text[i]) ? text[i] : '?';
	buf[i] = '\0';
	fprintf(stderr, "%s\n", buf);
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	char msg[768], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s (see '%s --help')", cli->name, msg, cli->name);
	print_line(line);
	return EXIT_USAGE;
}

int cli_fail(struct cli *cli, struct microseg_ctx *ctx, const char *what, int err)
{
	const char *detail = ctx ? microseg_ctx_last_error(ctx) : "";
	char line[1024];

	(void)cli;
	snprintf(line, sizeof(line), "msegctl: %s: %s%s%s", what, microseg_strerror(err),
		 detail && detail[0] ? ": " : "", detail ? detail : "");
	print_line(line);
	return 1;
}

int cli_error(const char *fmt, ...)
{
	char msg[768], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "msegctl: %s", msg);
	print_line(line);
	return 1;
}

int cli_stop(struct cli *cli, int c)
{
	if (c == CLI_HELP) {
		cli_print_help(cli->cmd);
		return 0;
	}
	return EXIT_USAGE;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	/* Leading '+' (stop at the first non-option) must stay first; ':' reports a missing
	 * value as ':' rather than '?'. */
	bool stop_first = shortopts[0] == '+';
	char spec[32];
	int c;

	snprintf(spec, sizeof(spec), "%s:%sh", stop_first ? "+" : "", shortopts + stop_first);
	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, spec, longopts, NULL);
		switch (c) {
		case OPT_INSTANCE:
			cli->instance = optarg;
			break;
		case OPT_BPFFS_DIR:
			cli->bpffs_dir = optarg;
			break;
		case OPT_STATE_DIR:
			cli->state_dir = optarg;
			break;
		case OPT_DEBUG:
			cli->debug = true;
			break;
		case 'h':
			return CLI_HELP;
		case ':':
			if (optopt > 0 && optopt < 0x100)
				cli_usage(cli, "option '-%c' needs a value", optopt);
			else
				cli_usage(cli, "option '%s' needs a value", argv[optind - 1]);
			return CLI_BAD;
		case '?':
			/* optopt: the short option, a long option's value when it was given a value it
			 * does not take, or 0 for an unknown (or ambiguous) long option. */
			if (optopt > 0 && optopt < 0x100 && isprint(optopt))
				cli_usage(cli, "unknown option '-%c'", optopt);
			else if (optopt >= 0x100)
				cli_usage(cli, "option '%s' takes no value", argv[optind - 1]);
			else
				cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
			return CLI_BAD;
		default:
			return c;
		}
	}
}

bool cli_args(struct cli *cli, int n, int min, int max)
{
	if (n < min)
		cli_usage(cli, "missing argument%s (expected %s)", min - n > 1 ? "s" : "", cli->cmd->args);
	else if (n > max)
		cli_usage(cli, "too many arguments");
	return n >= min && n <= max;
}

static void log_line(void *user, int level, const char *line)
{
	struct cli *cli = user;

	if (cli->debug)
		fprintf(stderr, "microseg: %s\n", line);
	if (level == MICROSEG_LOG_ERROR)
		snprintf(cli->open_error, sizeof(cli->open_error), "%s", line);
}

int cli_open(struct cli *cli, struct microseg_ctx **ctx)
{
	const char *instance = cli->instance ? cli->instance : "default";
	MICROSEG_OPTS(microseg_ctx_opts, opts, .instance = instance, .bpffs_dir = cli->bpffs_dir,
		      .state_dir = cli->state_dir, .log_fn = log_line, .log_user = cli,
		      .log_level = cli->debug ? MICROSEG_LOG_DEBUG : MICROSEG_LOG_ERROR,
		      .flags = MICROSEG_CTX_F_READ_ONLY);
	char line[1024];
	int err;

	cli->open_error[0] = '\0';
	err = microseg_ctx_open(&opts, ctx);
	if (!err)
		return 0;

	/* There is no context yet: the detail is what the library logged. */
	const char *detail = cli->open_error;
	if (!strcmp(detail, microseg_strerror(err)))
		detail = "";
	const char *sep = detail[0] ? ": " : "";
	switch (err) {
	case -ENOENT:
		snprintf(line, sizeof(line), "msegctl: instance '%s' not found: %s%s%s", instance,
			 microseg_strerror(err), sep, detail);
		break;
	case -EINVAL:
	case -ENAMETOOLONG:
		/* The instance name and the directories are the only input here. */
		snprintf(line, sizeof(line), "msegctl: bad --instance, --bpffs-dir or --state-dir: %s%s%s",
			 microseg_strerror(err), sep, detail);
		print_line(line);
		return EXIT_USAGE;
	case -EPERM:
	case -EACCES:
		snprintf(line, sizeof(line), "msegctl: cannot open instance '%s': %s%s%s (reading pinned BPF maps needs root or CAP_BPF)",
			 instance, microseg_strerror(err), sep, detail);
		break;
	default:
		snprintf(line, sizeof(line), "msegctl: cannot open instance '%s': %s%s%s", instance,
			 microseg_strerror(err), sep, detail);
		break;
	}
	print_line(line);
	return 1;
}
