/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A child cgroup v2 for a test or benchmark of the socket-level load balancer, whose programs
 * attach to a cgroup and then run for every process in it: the test moves itself (and so every
 * process it starts) into a cgroup of its own, never leaving the programs on the root.
 *
 * The directory is "<cgroup v2 mount>/<prefix>-<pid>". svc_cgroup_prepare() forks a reaper
 * outside the cgroup that removes it once the caller is dead, however it died (it retries for
 * 10 s: the dying process and its children leave the cgroup a moment after their file
 * descriptors close). Call it first, before the process holds locks or descriptors that a
 * child must not inherit (a library context's instance lock). A normal exit should still leave
 * the cgroup first (svc_cgroup_leave) and kill its children, so that the rmdir works at once.
 *
 * Functions return 0 or -errno. Not thread-safe.
 */
#ifndef MICROSEG_TESTS_SVC_CGROUP_H
#define MICROSEG_TESTS_SVC_CGROUP_H

#include <stdbool.h>

struct svc_cgroup {
	char path[256]; /* the child cgroup */
	char orig[256]; /* the cgroup the process was in */
	bool created;
	bool in;
};

/* Finds the cgroup v2 mount and the process's own cgroup, names the child and starts the
 * reaper. -ENOENT without a cgroup v2 mount. */
int svc_cgroup_prepare(struct svc_cgroup *cg, const char *prefix);
/* Creates the directory. */
int svc_cgroup_create(struct svc_cgroup *cg);
/* Moves the calling process into the child cgroup / back where it came from. */
int svc_cgroup_enter(struct svc_cgroup *cg);
int svc_cgroup_leave(struct svc_cgroup *cg);
/* Leaves it and removes the directory (fails with -EBUSY while other processes are in it). */
int svc_cgroup_remove(struct svc_cgroup *cg);

#endif
