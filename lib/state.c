// SPDX-License-Identifier: Apache-2.0
/*
 * Metadata that the kernel maps do not hold (label text, endpoint names, addresses as given),
 * one small file per object under the state directory, each replaced atomically (write a
 * temporary file, rename). One file per object keeps an add O(1) however many endpoints exist.
 *
 *   <state>/lock                 flock()ed by the context that manages the instance
 *   <state>/identities/<id>      "microseg-identity 1" then one label per line
 *   <state>/endpoints/<ep_id>    "microseg-endpoint 1" then "key value" lines
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int sub_path(struct microseg_ctx *ctx, char *buf, size_t len, const char *sub, uint32_t id)
{
	int n = id ? snprintf(buf, len, "%s/%s/%u", ctx->state_dir, sub, id)
		   : snprintf(buf, len, "%s/%s", ctx->state_dir, sub);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool persisting(struct microseg_ctx *ctx)
{
	return !ms_ctx_offline(ctx) && !ctx->restoring && ctx->lock_fd >= 0;
}

bool ms_state_persisting(struct microseg_ctx *ctx)
{
	return persisting(ctx);
}

static int mkdirs(const char *path)
{
	char tmp[MICROSEG_PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int ms_state_open(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64];
	int err = mkdirs(ctx->state_dir);
	if (err)
		return ms_err(ctx, err, "cannot create state directory %s", ctx->state_dir);
	const char *subs[] = { "identities", "endpoints", "policies", "rules", "services" };
	for (size_t i = 0; i < MS_ARRAY_SIZE(subs); i++) {
		sub_path(ctx, path, sizeof(path), subs[i], 0);
		if (mkdir(path, 0700) && errno != EEXIST)
			return ms_err(ctx, -errno, "cannot create %s", path);
	}
	sub_path(ctx, path, sizeof(path), "lock", 0);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ms_err(ctx, -errno, "cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return ms_err(ctx, err, "instance %s is managed by another context (lock %s)", ctx->instance, path);
	}
	ctx->lock_fd = fd;
	return 0;
}

void ms_state_close(struct microseg_ctx *ctx)
{
	if (ctx->lock_fd >= 0)
		close(ctx->lock_fd); /* releases the flock */
	ctx->lock_fd = -1;
}

static int write_atomic(struct microseg_ctx *ctx, const char *path, const char *data, size_t len)
{
	char tmp[MICROSEG_PATH_MAX + 80];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ms_err(ctx, -errno, "cannot write %s", tmp);
	ssize_t w = write(fd, data, len);
	int err = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return ms_err(ctx, err, "cannot write %s", path);
	}
	return 0;
}

int ms_state_save_identity(struct microseg_ctx *ctx, const struct microseg_identity *id)
{
	if (!persisting(ctx) || id->id <= MICROSEG_IDENTITY_RESERVED_MAX)
		return 0;
	char path[MICROSEG_PATH_MAX + 64];
	sub_path(ctx, path, sizeof(path), "identities", id->id);
	size_t cap = 32 + strlen(id->joined) + id->nlabels;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t off = (size_t)snprintf(buf, cap, "microseg-identity 1\n");
	for (size_t i = 0; i < id->nlabels; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s\n", id->labels[i]);
	int err = write_atomic(ctx, path, buf, off);
	free(buf);
	return err;
}

int ms_state_drop_identity(struct microseg_ctx *ctx, uint32_t id)
{
	if (!persisting(ctx))
		return 0;
	char path[MICROSEG_PATH_MAX + 64];
	sub_path(ctx, path, sizeof(path), "identities", id);
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

int ms_state_save_endpoint(struct microseg_ctx *ctx, const struct microseg_endpoint *ep)
{
	if (!persisting(ctx))
		return 0;
	char path[MICROSEG_PATH_MAX + 64], mac[24];
	char buf[1024];
	sub_path(ctx, path, sizeof(path), "endpoints", ep->ep_id);
	ms_mac_format(ep->mac, mac, sizeof(mac));
	int off = snprintf(buf, sizeof(buf),
			   "microseg-endpoint 1\nifindex %u\nifname %s\nname %s\nidentity %u\nmac %s\n",
			   ep->ifindex, ep->ifname, ep->name, ep->identity->id, mac);
	for (size_t i = 0; i < ep->naddrs; i++)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off, "addr %s\n", ep->addr_text[i]);
	return write_atomic(ctx, path, buf, (size_t)off);
}

int ms_state_drop_endpoint(struct microseg_ctx *ctx, uint32_t ep_id)
{
	if (!persisting(ctx))
		return 0;
	char path[MICROSEG_PATH_MAX + 64];
	sub_path(ctx, path, sizeof(path), "endpoints", ep_id);
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

static bool numeric_name(const char *s, uint32_t *out)
{
	char *end;
	if (!*s || *s == '0')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static void chomp(char *s)
{
	size_t l = strlen(s);
	if (l && s[l - 1] == '\n')
		s[l - 1] = '\0';
}

static int restore_identity(struct microseg_ctx *ctx, const char *path, uint32_t id,
			    struct microseg_identity **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[MICROSEG_LABEL_MAX + 8];
	char *labels[MICROSEG_LABELS_MAX];
	size_t n = 0;
	int err = 0;
	if (!fgets(line, sizeof(line), f) || strcmp(line, "microseg-identity 1\n"))
		err = -EPROTO;
	while (!err && fgets(line, sizeof(line), f)) {
		chomp(line);
		if (n == MICROSEG_LABELS_MAX) {
			err = -E2BIG;
			break;
		}
		if (!(labels[n] = strdup(line)))
			err = -ENOMEM;
		else
			n++;
	}
	fclose(f);
	if (!err)
		err = ms_identity_restore(ctx, id, labels, n, out);
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	return err;
}

static int restore_endpoint(struct microseg_ctx *ctx, const char *path, uint32_t ep_id)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	struct microseg_endpoint rec = { .ep_id = ep_id };
	uint32_t identity = 0;
	char line[256];
	int err = 0;
	if (!fgets(line, sizeof(line), f) || strcmp(line, "microseg-endpoint 1\n"))
		err = -EPROTO;
	while (!err && fgets(line, sizeof(line), f)) {
		chomp(line);
		char *sp = strchr(line, ' ');
		if (!sp) {
			err = -EPROTO;
			break;
		}
		*sp = '\0';
		const char *k = line, *v = sp + 1;
		if (!strcmp(k, "ifindex"))
			rec.ifindex = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "ifname"))
			snprintf(rec.ifname, sizeof(rec.ifname), "%s", v);
		else if (!strcmp(k, "name"))
			snprintf(rec.name, sizeof(rec.name), "%s", v);
		else if (!strcmp(k, "identity"))
			identity = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "mac"))
			err = ms_mac_parse(v, rec.mac);
		else if (!strcmp(k, "addr") && rec.naddrs < MICROSEG_ENDPOINT_ADDRS_MAX) {
			err = ms_addr_parse(v, &rec.addrs[rec.naddrs]);
			if (!err)
				snprintf(rec.addr_text[rec.naddrs++], MS_ADDR_STRLEN, "%s", v);
		}
	}
	fclose(f);
	if (err)
		return err;
	return ms_endpoint_restore(ctx, &rec, identity);
}

/* Calls fn for each numerically named file in <state>/<sub>. */
static int each_file(struct microseg_ctx *ctx, const char *sub,
		     int (*fn)(struct microseg_ctx *, const char *, uint32_t, void *), void *arg)
{
	char dir[MICROSEG_PATH_MAX + 64], path[MICROSEG_PATH_MAX + 400];
	sub_path(ctx, dir, sizeof(dir), sub, 0);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint32_t id;
		if (!numeric_name(de->d_name, &id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int err = fn(ctx, path, id, arg);
		if (err) {
			/* One damaged record must not take the rest of the instance down with it. */
			ms_log(ctx, MICROSEG_LOG_WARN, "state: skipping %s: %s", path, microseg_strerror(err));
		}
	}
	closedir(d);
	return 0;
}

struct restored_ids {
	struct microseg_identity **v;
	size_t n, cap;
};

static int restore_identity_cb(struct microseg_ctx *ctx, const char *path, uint32_t id, void *arg)
{
	struct restored_ids *r = arg;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void *v = realloc(r->v, cap * sizeof(*r->v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	int err = restore_identity(ctx, path, id, &r->v[r->n]);
	if (!err)
		r->n++;
	return err;
}

static int restore_endpoint_cb(struct microseg_ctx *ctx, const char *path, uint32_t id, void *arg)
{
	return restore_endpoint(ctx, path, id);
}

int ms_state_restore(struct microseg_ctx *ctx)
{
	struct restored_ids r = { 0 };
	ctx->restoring = true;
	int err = each_file(ctx, "identities", restore_identity_cb, &r);
	if (!err)
		err = each_file(ctx, "endpoints", restore_endpoint_cb, NULL);
	ctx->restoring = false;
	ctx->restore_refs = r.v;
	ctx->n_restore_refs = r.n;
	return err;
}

void ms_state_restore_done(struct microseg_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_restore_refs; i++)
		ms_identity_unref(ctx, ctx->restore_refs[i]);
	free(ctx->restore_refs);
	ctx->restore_refs = NULL;
	ctx->n_restore_refs = 0;
}

int ms_state_each(struct microseg_ctx *ctx, const char *sub,
		  int (*fn)(struct microseg_ctx *, const char *, uint32_t, void *), void *arg)
{
	return each_file(ctx, sub, fn, arg);
}

int ms_state_put(struct microseg_ctx *ctx, const char *sub, const char *name, const char *data, size_t len)
{
	if (!persisting(ctx))
		return 0;
	char path[MICROSEG_PATH_MAX + 400];
	int n = snprintf(path, sizeof(path), "%s/%s/%s", ctx->state_dir, sub, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (!data)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	return write_atomic(ctx, path, data, len);
}

static void remove_dir_files(struct microseg_ctx *ctx, const char *sub)
{
	char dir[MICROSEG_PATH_MAX + 64], path[MICROSEG_PATH_MAX + 400];
	sub_path(ctx, dir, sizeof(dir), sub, 0);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int ms_state_remove_all(struct microseg_ctx *ctx)
{
	if (ms_ctx_offline(ctx))
		return 0;
	char path[MICROSEG_PATH_MAX + 64];
	remove_dir_files(ctx, "identities");
	remove_dir_files(ctx, "endpoints");
	remove_dir_files(ctx, "policies");
	remove_dir_files(ctx, "rules");
	remove_dir_files(ctx, "services");
	sub_path(ctx, path, sizeof(path), "lock", 0);
	unlink(path); /* our flock stays on the open file until close */
	if (rmdir(ctx->state_dir) && errno != ENOENT)
		return ms_err(ctx, -errno, "cannot remove %s", ctx->state_dir);
	return 0;
}
