// SPDX-License-Identifier: Apache-2.0
/* A child cgroup v2 for socket load balancer tests: see svc_cgroup.h. */
#include "svc_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The cgroup v2 mount (on hybrid hosts /sys/fs/cgroup/unified). */
static int cgroup2_mount(char *buf, size_t len)
{
	char dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;
	struct statfs sf;

	if (!f)
		return -errno;
	while (err && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2") && statfs(dir, &sf) == 0 &&
		    sf.f_type == CGROUP2_SUPER_MAGIC) {
			snprintf(buf, len, "%.200s", dir);
			err = 0;
		}
	fclose(f);
	return err;
}

/* The process's cgroup v2 directory: the "0::" line of /proc/self/cgroup under the mount. */
static int own_cgroup(const char *mount, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%.100s%.150s", mount, strcmp(line + 3, "/") ? line + 3 : "");
			err = 0;
		}
	fclose(f);
	return err;
}

static int move_self(const char *dir)
{
	char path[300];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%d\n", (int)getpid()) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Waits for EOF on fd 3 (the caller's death), then removes dir. Never returns. */
static void reap(int rfd, const char *dir)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	char c;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
	}
	/* Nothing of the caller's stays open here: nobody waiting for EOF on a pipe of theirs
	 * waits for us. */
	dup2(rfd, 3);
	syscall(SYS_close_range, 4, ~0u, 0);
	while (read(3, &c, 1) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 200; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			break;
		usleep(50000);
	}
	_exit(0);
}

int svc_cgroup_prepare(struct svc_cgroup *cg, const char *prefix)
{
	char mount[256];
	int pfd[2], err;
	pid_t pid;

	memset(cg, 0, sizeof(*cg));
	if ((err = cgroup2_mount(mount, sizeof(mount))) ||
	    (err = own_cgroup(mount, cg->orig, sizeof(cg->orig))))
		return err;
	snprintf(cg->path, sizeof(cg->path), "%.200s/%.40s-%d", mount, prefix, (int)getpid());
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return err;
	}
	if (pid == 0) {
		close(pfd[1]);
		reap(pfd[0], cg->path);
	}
	close(pfd[0]);
	/* pfd[1] stays open, never written, until this process dies. */
	return 0;
}

int svc_cgroup_create(struct svc_cgroup *cg)
{
	if (mkdir(cg->path, 0755) < 0)
		return -errno;
	cg->created = true;
	return 0;
}

int svc_cgroup_enter(struct svc_cgroup *cg)
{
	int err = cg->in ? 0 : move_self(cg->path);

	if (!err)
		cg->in = true;
	return err;
}

int svc_cgroup_leave(struct svc_cgroup *cg)
{
	int err = cg->in ? move_self(cg->orig) : 0;

	if (!err)
		cg->in = false;
	return err;
}

int svc_cgroup_remove(struct svc_cgroup *cg)
{
	int err = svc_cgroup_leave(cg);

	if (err || !cg->created)
		return err;
	if (rmdir(cg->path) < 0 && errno != ENOENT)
		return -errno;
	cg->created = false;
	return 0;
}
