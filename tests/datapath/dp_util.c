/* SPDX-License-Identifier: Apache-2.0 */
#include "dp_util.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void dp_require_root(const char *test)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP %s needs root\n", test);
		exit(DP_SKIP);
	}
}

int dp_private_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

int dp_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "command failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

int dp_veth_pair(const char *a, const char *b, int up, uint32_t *ia, uint32_t *ib)
{
	if (dp_sh("ip link add %s type veth peer name %s", a, b))
		return -1;
	if (up && (dp_sh("ip link set %s up", a) || dp_sh("ip link set %s up", b)))
		return -1;
	*ia = if_nametoindex(a);
	*ib = if_nametoindex(b);
	return (*ia && *ib) ? 0 : -1;
}
