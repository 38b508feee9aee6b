// SPDX-License-Identifier: Apache-2.0
/* The context: options, open/restore, close, purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define DEFAULT_BPFFS_ROOT "/sys/fs/bpf/microseg"
#define DEFAULT_STATE_ROOT "/run/microseg"
#define MAX_ENDPOINTS_LIMIT 65535u

static int check_instance(const char *name)
{
	size_t len = strnlen(name, MICROSEG_INSTANCE_NAME_MAX + 1);
	if (len > MICROSEG_INSTANCE_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

static int set_dir(char *dst, const char *given, const char *root, const char *instance)
{
	int n = given ? snprintf(dst, MICROSEG_PATH_MAX + 1, "%s", given)
		      : snprintf(dst, MICROSEG_PATH_MAX + 1, "%s/%s", root, instance);
	if (n < 0 || n > MICROSEG_PATH_MAX)
		return -ENAMETOOLONG;
	if (dst[0] != '/')
		return -EINVAL;
	while (n > 1 && dst[n - 1] == '/')
		dst[--n] = '\0';
	return 0;
}

/* Logs through the caller's callback before a context exists to hold the message. */
static int early_err(const struct microseg_ctx_opts *opts, int err, const char *msg)
{
	microseg_log_fn fn = MS_OPT(opts, log_fn, NULL);
	if (fn)
		fn(MS_OPT(opts, log_user, NULL), MICROSEG_LOG_ERROR, msg);
	return err;
}

static void ctx_free(struct microseg_ctx *ctx)
{
	ms_host_addrs_free(ctx);
	ms_services_free(ctx);
	ms_events_free(ctx);
	ms_policy_free(ctx);
	ms_endpoints_free(ctx);
	ms_identities_free(ctx);
	ms_datapath_close(&ctx->dp);
	ms_state_close(ctx);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* Brings a context to life: lock the instance, load or reopen its datapath, restore. */
static int ctx_start(struct microseg_ctx *ctx, const struct ms_capacity *cap)
{
	/* A read-only context takes no lock: it must not stand in the manager's way. */
	int err = ms_ctx_read_only(ctx) ? 0 : ms_state_open(ctx);
	if (err)
		return err;
	bool restored = false;
	err = ms_datapath_open(ctx, cap, &restored);
	if (err)
		return err;
	ctx->restored = restored;
	/* A restored instance keeps the capacity it was created with. */
	err = ms_endpoints_init(ctx, ctx->dp.meta.max_endpoints);
	if (!err)
		err = ms_policy_init(ctx);
	if (err)
		return err;
	if (restored) {
		err = ms_state_restore(ctx);
		if (!err)
			err = ms_policy_restore(ctx);
		ms_state_restore_done(ctx);
		if (!err)
			err = ms_services_restore(ctx);
		if (!err && !ms_ctx_read_only(ctx))
			err = ms_endpoints_reconcile(ctx);
		if (err)
			return err;
	}
	if (ms_ctx_read_only(ctx))
		return 0;
	err = ms_host_addrs_open(ctx);
	if (err)
		ms_log(ctx, MICROSEG_LOG_WARN, "could not record host addresses: %s", microseg_strerror(err));
	ms_log(ctx, MICROSEG_LOG_INFO, "instance %s %s: %zu endpoint(s)", ctx->instance,
	       restored ? "restored" : "created", ctx->eps.count);
	return 0;
}

MICROSEG_API int microseg_ctx_open(const struct microseg_ctx_opts *opts, struct microseg_ctx **out)
{
	if (!out)
		return early_err(opts, -EINVAL, "microseg_ctx_open: ctx is NULL");
	if (!MS_OPTS_OK(opts, struct microseg_ctx_opts))
		return early_err(opts, -EINVAL, "microseg_ctx_open: opts->sz is wrong or unknown fields are set");
	uint32_t flags = MS_OPT(opts, flags, 0);
	if (flags & ~(MICROSEG_CTX_F_NO_DATAPATH | MICROSEG_CTX_F_READ_ONLY))
		return early_err(opts, -EINVAL, "microseg_ctx_open: unknown flags");
	if ((flags & MICROSEG_CTX_F_NO_DATAPATH) && (flags & MICROSEG_CTX_F_READ_ONLY))
		return early_err(opts, -EINVAL, "microseg_ctx_open: READ_ONLY needs a datapath to look at");
	const char *instance = MS_OPT(opts, instance, NULL);
	if (!instance)
		instance = "default";
	int err = check_instance(instance);
	if (err)
		return early_err(opts, err, "microseg_ctx_open: instance name must be 1-32 bytes of [A-Za-z0-9_.-], not starting with '.'");
	uint32_t max_eps = MS_OPT(opts, max_endpoints, 0);
	uint32_t max_ipc = MS_OPT(opts, max_ipcache, 0);
	if (!max_eps)
		max_eps = MS_DEFAULT_MAX_ENDPOINTS;
	if (!max_ipc)
		max_ipc = MS_DEFAULT_MAX_IPCACHE;
	if (max_eps > MAX_ENDPOINTS_LIMIT || max_eps < 2)
		return early_err(opts, -EINVAL, "microseg_ctx_open: max_endpoints must be 2..65535");
	if (max_ipc < 16 || max_ipc > (1u << 24))
		return early_err(opts, -EINVAL, "microseg_ctx_open: max_ipcache must be 16..16777216");
	struct ms_capacity cap = {
		.endpoints = max_eps,
		.ipcache = max_ipc,
		.policy_entries = MS_OPT(opts, max_policy_entries, 0),
		.ct = MS_OPT(opts, max_connections, 0),
		.services = MS_OPT(opts, max_services, 0),
		.backends = MS_OPT(opts, max_backends, 0),
		.lb_slots = MS_OPT(opts, max_lb_slots, 0),
	};
	if (!cap.services)
		cap.services = MS_DEFAULT_MAX_SERVICES;
	if (!cap.backends)
		cap.backends = MS_DEFAULT_MAX_BACKENDS;
	if (!cap.lb_slots)
		cap.lb_slots = MS_DEFAULT_LB_SLOTS;
	if (cap.services < 16 || cap.services > (1u << 24) || cap.backends < 16 || cap.backends > (1u << 24) ||
	    cap.lb_slots < 64 || cap.lb_slots > (1u << 26))
		return early_err(opts, -EINVAL, "microseg_ctx_open: max_services and max_backends must be 16..2^24, max_lb_slots 64..2^26");
	if (!cap.policy_entries)
		cap.policy_entries = MS_DEFAULT_POLICY_ENTRIES;
	if (!cap.ct)
		cap.ct = MS_DEFAULT_CT_ENTRIES;
	if (cap.policy_entries < 16 || cap.policy_entries > (1u << 24) || cap.ct < 64 || cap.ct > (1u << 26))
		return early_err(opts, -EINVAL, "microseg_ctx_open: max_policy_entries must be 16..2^24, max_connections 64..2^26");
	int32_t level = MS_OPT(opts, log_level, MICROSEG_LOG_ERROR);

	struct microseg_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->lock_fd = -1;
	ctx->host.watch_fd = -1;
	ctx->flags = flags;
	ctx->log_fn = MS_OPT(opts, log_fn, NULL);
	ctx->log_user = MS_OPT(opts, log_user, NULL);
	ctx->log_level = level;
	snprintf(ctx->instance, sizeof(ctx->instance), "%s", instance);
	for (int i = 0; i < MS_M__COUNT; i++)
		ctx->dp.map_fd[i] = -1;
	for (int i = 0; i < MS_P__COUNT; i++)
		ctx->dp.prog_fd[i] = -1;
	ctx->dp.meta.max_endpoints = max_eps;
	ctx->dp.meta.max_ipcache = max_ipc;
	ctx->dp.meta.max_policy_entries = cap.policy_entries;
	ctx->dp.meta.max_ct = cap.ct;
	ctx->dp.meta.max_services = cap.services;
	ctx->dp.meta.max_backends = cap.backends;
	ctx->dp.meta.max_lb_slots = cap.lb_slots;

	err = set_dir(ctx->bpffs_dir, MS_OPT(opts, bpffs_dir, NULL), DEFAULT_BPFFS_ROOT, instance);
	if (!err)
		err = set_dir(ctx->state_dir, MS_OPT(opts, state_dir, NULL), DEFAULT_STATE_ROOT, instance);
	if (err) {
		early_err(opts, err, "microseg_ctx_open: bpffs_dir/state_dir must be absolute and at most 200 bytes");
		goto fail;
	}
	const char *cg = MS_OPT(opts, lb_cgroup, NULL);
	if (cg && (cg[0] != '/' || strlen(cg) >= sizeof(ctx->lb_cgroup))) {
		err = early_err(opts, -EINVAL, "microseg_ctx_open: lb_cgroup must be an absolute path");
		goto fail;
	}
	snprintf(ctx->lb_cgroup, sizeof(ctx->lb_cgroup), "%s", cg ? cg : "");
	err = ms_identities_init(ctx);
	if (err)
		goto fail;
	if (ms_ctx_offline(ctx)) {
		err = ms_endpoints_init(ctx, max_eps);
		if (!err)
			err = ms_policy_init(ctx);
	} else {
		err = ctx_start(ctx, &cap);
	}
	if (err) {
		early_err(opts, err, ctx->last_error[0] ? ctx->last_error : microseg_strerror(err));
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	ctx_free(ctx);
	return err;
}

MICROSEG_API void microseg_ctx_close(struct microseg_ctx *ctx)
{
	if (!ctx)
		return;
	ms_proxy_shutdown(ctx);
	ctx_free(ctx);
}

MICROSEG_API int microseg_ctx_purge(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	if (!ms_ctx_read_only(ctx))
		ms_proxy_shutdown(ctx); /* joins its threads: not under the lock */
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "purge");
	int err = 0;
	if (!ms_ctx_offline(ctx) && !ctx->purged) {
		ms_services_detach(ctx);
		ms_proxy_purge_routing(ctx);
		ms_endpoints_detach_all(ctx);
		err = ms_datapath_unpin(ctx);
		int serr = ms_state_remove_all(ctx);
		if (!err)
			err = serr;
	} else {
		ms_endpoints_detach_all(ctx);
	}
	ctx->purged = true;
	ms_log(ctx, MICROSEG_LOG_INFO, "instance %s purged", ctx->instance);
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API const char *microseg_ctx_instance(const struct microseg_ctx *ctx)
{
	return ctx ? ctx->instance : NULL;
}

MICROSEG_API int microseg_ctx_restored(const struct microseg_ctx *ctx)
{
	return ctx && ctx->restored ? 1 : 0;
}

MICROSEG_API int microseg_ctx_set_log(struct microseg_ctx *ctx, microseg_log_fn fn, void *user, int32_t level)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	ctx->log_fn = fn;
	ctx->log_user = user;
	ctx->log_level = level;
	MS_UNLOCK(ctx);
	return 0;
}
