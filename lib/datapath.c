// SPDX-License-Identifier: Apache-2.0
/*
 * The instance's BPF objects: load the built-in skeleton once and pin it, or reopen the pins of
 * an existing instance; TC attach/detach; typed map updates. Everything else in the library
 * talks to the kernel datapath through this file.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "endpoint.skel.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* kernel-internal, seen by userspace from some map ops */
#endif


static const char *const map_names[MS_M__COUNT] = {
	[MS_M_META] = MS_MAP_META,
	[MS_M_ENDPOINTS] = MS_MAP_ENDPOINTS,
	[MS_M_IPCACHE] = MS_MAP_IPCACHE,
	[MS_M_EP_STATS] = MS_MAP_EP_STATS,
	[MS_M_CONFIG] = MS_MAP_CONFIG,
	[MS_M_POLICY] = MS_MAP_POLICY,
	[MS_M_POLICY_EXACT] = MS_MAP_POLICY_EXACT,
	[MS_M_CT] = MS_MAP_CT,
	[MS_M_EVENTS] = MS_MAP_EVENTS,
	[MS_M_EVENT_STATE] = MS_MAP_EVENT_STATE,
	[MS_M_PROXY_CONNS] = MS_MAP_PROXY_CONNS,
	[MS_M_LB_SERVICES] = MS_MAP_LB_SERVICES,
	[MS_M_LB_BACKENDS] = MS_MAP_LB_BACKENDS,
	[MS_M_LB_SLOTS] = MS_MAP_LB_SLOTS,
	[MS_M_LB_AFFINITY] = MS_MAP_LB_AFFINITY,
	[MS_M_LB_REVSK] = MS_MAP_LB_REVSK,
	[MS_M_LB_NAT] = MS_MAP_LB_NAT,
	[MS_M_LB_BACKEND_STATS] = MS_MAP_LB_BACKEND_STATS,
};
static const char *const prog_names[MS_P__COUNT] = {
	[MS_P_FROM_CONTAINER] = MS_PROG_FROM_CONTAINER,
	[MS_P_TO_CONTAINER] = MS_PROG_TO_CONTAINER,
	[MS_P_SOCK_CONNECT4] = MS_PROG_SOCK_CONNECT4,
	[MS_P_SOCK_CONNECT6] = MS_PROG_SOCK_CONNECT6,
	[MS_P_SOCK_SENDMSG4] = MS_PROG_SOCK_SENDMSG4,
	[MS_P_SOCK_SENDMSG6] = MS_PROG_SOCK_SENDMSG6,
	[MS_P_SOCK_RECVMSG4] = MS_PROG_SOCK_RECVMSG4,
	[MS_P_SOCK_RECVMSG6] = MS_PROG_SOCK_RECVMSG6,
	[MS_P_SOCK_GETPEERNAME4] = MS_PROG_SOCK_GETPEERNAME4,
	[MS_P_SOCK_GETPEERNAME6] = MS_PROG_SOCK_GETPEERNAME6,
	[MS_P_L7_EMIT] = MS_PROG_L7_EMIT,
};

static int pin_path(struct microseg_ctx *ctx, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", ctx->bpffs_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[MICROSEG_PATH_MAX + 1];
	size_t len = strlen(path);
	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The directory's nearest existing ancestor must be on bpffs: pins elsewhere do not work. */
static int check_bpffs(struct microseg_ctx *ctx)
{
	char tmp[MICROSEG_PATH_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s", ctx->bpffs_dir);
	struct statfs st;
	while (statfs(tmp, &st)) {
		char *slash = strrchr(tmp, '/');
		if (!slash || slash == tmp)
			return ms_err(ctx, -ENOENT, "bpffs directory %s: no parent exists", ctx->bpffs_dir);
		*slash = '\0';
	}
	if (st.f_type != BPF_FS_MAGIC)
		return ms_err(ctx, -ENOTSUP, "%s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)",
			      tmp);
	return 0;
}

static void close_fds(struct ms_datapath *dp)
{
	for (int i = 0; i < MS_M__COUNT; i++) {
		if (dp->map_fd[i] >= 0)
			close(dp->map_fd[i]);
		dp->map_fd[i] = -1;
	}
	for (int i = 0; i < MS_P__COUNT; i++) {
		if (dp->prog_fd[i] >= 0)
			close(dp->prog_fd[i]);
		dp->prog_fd[i] = -1;
	}
	dp->loaded = false;
}

static void unlink_pins(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64];
	/* Meta first: an instance without meta is "not created", whatever else remains. */
	for (int i = 0; i < MS_M__COUNT; i++)
		if (!pin_path(ctx, map_names[i], path, sizeof(path)))
			unlink(path);
	for (int i = 0; i < MS_P__COUNT; i++)
		if (!pin_path(ctx, prog_names[i], path, sizeof(path)))
			unlink(path);
}

static int reopen_pinned(struct microseg_ctx *ctx)
{
	struct ms_datapath *dp = &ctx->dp;
	char path[MICROSEG_PATH_MAX + 64];
	for (int i = 0; i < MS_M__COUNT; i++) {
		pin_path(ctx, map_names[i], path, sizeof(path));
		dp->map_fd[i] = bpf_obj_get(path);
		if (dp->map_fd[i] < 0)
			return ms_err(ctx, -errno, "reopen: cannot open pinned map %s", path);
	}
	for (int i = 0; i < MS_P__COUNT; i++) {
		pin_path(ctx, prog_names[i], path, sizeof(path));
		dp->prog_fd[i] = bpf_obj_get(path);
		if (dp->prog_fd[i] < 0)
			return ms_err(ctx, -errno, "reopen: cannot open pinned program %s", path);
	}
	uint32_t zero = 0;
	if (bpf_map_lookup_elem(dp->map_fd[MS_M_META], &zero, &dp->meta))
		return ms_err(ctx, -errno, "reopen: cannot read instance metadata");
	if (dp->meta.abi_version != MS_ABI_VERSION)
		return ms_err(ctx, -EPROTO, "instance %s was made with datapath ABI %u, this library has %u",
			      ctx->instance, dp->meta.abi_version, MS_ABI_VERSION);
	return 0;
}

/* A policy table map: LPM trie or hash, with the attributes the templates give. */
static int table_map(enum bpf_map_type type, uint32_t max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	return bpf_map_create(type, type == BPF_MAP_TYPE_HASH ? "ms_pol_exact" : "ms_pol_table",
			      sizeof(struct ms_policy_key), sizeof(struct ms_policy_value), max_entries, &o);
}

static int load_and_pin(struct microseg_ctx *ctx, const struct ms_capacity *cap)
{
	struct ms_datapath *dp = &ctx->dp;
	char path[MICROSEG_PATH_MAX + 64];
	int err;

	struct endpoint_bpf *skel = endpoint_bpf__open();
	if (!skel)
		return ms_err(ctx, -errno ? -errno : -EINVAL, "cannot open the built-in BPF object");
	bpf_map__set_max_entries(skel->maps.ms_endpoints, cap->endpoints);
	bpf_map__set_max_entries(skel->maps.ms_ep_stats, cap->endpoints);
	bpf_map__set_max_entries(skel->maps.ms_ipcache, cap->ipcache);
	bpf_map__set_max_entries(skel->maps.ms_policy, 2 * cap->endpoints);
	bpf_map__set_max_entries(skel->maps.ms_policy_exact, 2 * cap->endpoints);
	bpf_map__set_max_entries(skel->maps.ms_lb_services, cap->services);
	bpf_map__set_max_entries(skel->maps.ms_lb_backends, cap->backends);
	bpf_map__set_max_entries(skel->maps.ms_lb_backend_stats, cap->backends);
	bpf_map__set_max_entries(skel->maps.ms_lb_slots, cap->lb_slots);
	/* The inner-map templates: libbpf 1.1 crashes resizing the ones it derives from BTF, so
	 * hand it maps made here (same type, sizes and flags as every policy table). */
	int tmpl = table_map(BPF_MAP_TYPE_LPM_TRIE, cap->policy_entries);
	int tmpl_exact = table_map(BPF_MAP_TYPE_HASH, cap->policy_entries);
	if (tmpl < 0 || tmpl_exact < 0) {
		err = ms_err(ctx, -errno, "cannot create the policy table templates");
		goto out_tmpl;
	}
	err = bpf_map__set_inner_map_fd(skel->maps.ms_policy, tmpl);
	if (!err)
		err = bpf_map__set_inner_map_fd(skel->maps.ms_policy_exact, tmpl_exact);
	if (err) {
		err = ms_err(ctx, err, "cannot set the policy table templates");
		goto out_tmpl;
	}
	err = endpoint_bpf__load(skel);
	close(tmpl); /* the outer maps keep what they need */
	close(tmpl_exact);
	tmpl = tmpl_exact = -1;
	if (err) {
		err = ms_err(ctx, err, "loading the BPF datapath failed (%s); the verifier log goes to libbpf's print callback",
			     microseg_strerror(err));
		goto out;
	}
	err = mkdir_p(ctx->bpffs_dir, 0700);
	if (err) {
		err = ms_err(ctx, err, "cannot create %s", ctx->bpffs_dir);
		goto out;
	}
	struct bpf_map *maps[MS_M__COUNT] = {
		[MS_M_META] = skel->maps.ms_meta,
		[MS_M_ENDPOINTS] = skel->maps.ms_endpoints,
		[MS_M_IPCACHE] = skel->maps.ms_ipcache,
		[MS_M_EP_STATS] = skel->maps.ms_ep_stats,
		[MS_M_CONFIG] = skel->maps.ms_config,
		[MS_M_POLICY] = skel->maps.ms_policy,
		[MS_M_POLICY_EXACT] = skel->maps.ms_policy_exact,
		[MS_M_CT] = skel->maps.ms_ct,
		[MS_M_EVENTS] = skel->maps.ms_events,
		[MS_M_EVENT_STATE] = skel->maps.ms_event_state,
		[MS_M_PROXY_CONNS] = skel->maps.ms_proxy_conns,
		[MS_M_LB_SERVICES] = skel->maps.ms_lb_services,
		[MS_M_LB_BACKENDS] = skel->maps.ms_lb_backends,
		[MS_M_LB_SLOTS] = skel->maps.ms_lb_slots,
		[MS_M_LB_AFFINITY] = skel->maps.ms_lb_affinity,
		[MS_M_LB_REVSK] = skel->maps.ms_lb_revsk,
		[MS_M_LB_NAT] = skel->maps.ms_lb_nat,
		[MS_M_LB_BACKEND_STATS] = skel->maps.ms_lb_backend_stats,
	};
	struct bpf_program *progs[MS_P__COUNT] = {
		[MS_P_FROM_CONTAINER] = skel->progs.ms_from_container,
		[MS_P_TO_CONTAINER] = skel->progs.ms_to_container,
		[MS_P_SOCK_CONNECT4] = skel->progs.ms_sock_connect4,
		[MS_P_SOCK_CONNECT6] = skel->progs.ms_sock_connect6,
		[MS_P_SOCK_SENDMSG4] = skel->progs.ms_sock_sendmsg4,
		[MS_P_SOCK_SENDMSG6] = skel->progs.ms_sock_sendmsg6,
		[MS_P_SOCK_RECVMSG4] = skel->progs.ms_sock_recvmsg4,
		[MS_P_SOCK_RECVMSG6] = skel->progs.ms_sock_recvmsg6,
		[MS_P_SOCK_GETPEERNAME4] = skel->progs.ms_sock_getpeername4,
		[MS_P_SOCK_GETPEERNAME6] = skel->progs.ms_sock_getpeername6,
		[MS_P_L7_EMIT] = skel->progs.ms_l7_emit,
	};
	for (int i = 0; i < MS_M__COUNT; i++) {
		dp->map_fd[i] = fcntl(bpf_map__fd(maps[i]), F_DUPFD_CLOEXEC, 3);
		if (dp->map_fd[i] < 0) {
			err = -errno;
			goto out;
		}
	}
	for (int i = 0; i < MS_P__COUNT; i++) {
		dp->prog_fd[i] = fcntl(bpf_program__fd(progs[i]), F_DUPFD_CLOEXEC, 3);
		if (dp->prog_fd[i] < 0) {
			err = -errno;
			goto out;
		}
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	dp->meta = (struct ms_meta){
		.abi_version = MS_ABI_VERSION,
		.max_endpoints = cap->endpoints,
		.max_ipcache = cap->ipcache,
		.max_policy_entries = cap->policy_entries,
		.max_ct = cap->ct,
		.max_services = cap->services,
		.max_backends = cap->backends,
		.max_lb_slots = cap->lb_slots,
		.created_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec,
	};
	uint32_t zero = 0;
	if (bpf_map_update_elem(dp->map_fd[MS_M_META], &zero, &dp->meta, BPF_ANY)) {
		err = ms_err(ctx, -errno, "cannot write instance metadata");
		goto out;
	}
	/* Events are on by default, rate limited: visibility should not need a restart. */
	struct ms_config cfg = { .flags = MS_CFG_F_EVENTS, .event_rate = MS_DEFAULT_EVENT_RATE,
				 .event_burst = MS_DEFAULT_EVENT_BURST };
	if ((err = ms_dp_config_set(ctx, &cfg)))
		goto out;
	/* Pin meta last: its pin marks a complete instance. */
	for (int i = MS_M__COUNT - 1; i >= 0; i--) {
		if (i == MS_M_META)
			continue;
		pin_path(ctx, map_names[i], path, sizeof(path));
		if (bpf_obj_pin(dp->map_fd[i], path)) {
			err = ms_err(ctx, -errno, "cannot pin %s", path);
			goto out_unpin;
		}
	}
	for (int i = 0; i < MS_P__COUNT; i++) {
		pin_path(ctx, prog_names[i], path, sizeof(path));
		if (bpf_obj_pin(dp->prog_fd[i], path)) {
			err = ms_err(ctx, -errno, "cannot pin %s", path);
			goto out_unpin;
		}
	}
	pin_path(ctx, map_names[MS_M_META], path, sizeof(path));
	if (bpf_obj_pin(dp->map_fd[MS_M_META], path)) {
		err = ms_err(ctx, -errno, "cannot pin %s", path);
		goto out_unpin;
	}
	err = 0;
	goto out;
out_unpin:
	unlink_pins(ctx);
	goto out;
out_tmpl:
	if (tmpl >= 0)
		close(tmpl);
	if (tmpl_exact >= 0)
		close(tmpl_exact);
out:
	endpoint_bpf__destroy(skel);
	return err;
}

int ms_datapath_open(struct microseg_ctx *ctx, const struct ms_capacity *cap, bool *restored)
{
	struct ms_datapath *dp = &ctx->dp;
	for (int i = 0; i < MS_M__COUNT; i++)
		dp->map_fd[i] = -1;
	for (int i = 0; i < MS_P__COUNT; i++)
		dp->prog_fd[i] = -1;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0)
		return ms_err(ctx, dp->ncpus ? dp->ncpus : -EINVAL, "cannot count possible CPUs");

	char path[MICROSEG_PATH_MAX + 64];
	pin_path(ctx, map_names[MS_M_META], path, sizeof(path));
	/* A looker wants "not found" or "not allowed", not a remark about the filesystem. */
	if (ms_ctx_read_only(ctx) && access(path, F_OK)) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			return ms_err(ctx, -EACCES, "instance %s: %s is not readable (needs root)", ctx->instance, path);
		return ms_err(ctx, -ENOENT, "instance %s does not exist (no %s)", ctx->instance, path);
	}
	int err = check_bpffs(ctx);
	if (err)
		return err;
	if (access(path, F_OK) == 0) {
		err = reopen_pinned(ctx);
		*restored = true;
	} else if (ms_ctx_read_only(ctx)) {
		return ms_err(ctx, -ENOENT, "instance %s does not exist (no %s)", ctx->instance, path);
	} else {
		/* No meta pin: nothing, or the leftovers of a creation that died half-way. */
		unlink_pins(ctx);
		err = load_and_pin(ctx, cap);
		*restored = false;
	}
	if (err) {
		close_fds(dp);
		return err;
	}
	dp->loaded = true;
	return 0;
}

void ms_datapath_close(struct ms_datapath *dp)
{
	if (dp->loaded)
		close_fds(dp);
}

int ms_datapath_unpin(struct microseg_ctx *ctx)
{
	unlink_pins(ctx);
	if (rmdir(ctx->bpffs_dir) && errno != ENOENT)
		return ms_err(ctx, -errno, "cannot remove %s", ctx->bpffs_dir);
	return 0;
}

int ms_tc_attach(struct microseg_ctx *ctx, uint32_t ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = BPF_TC_INGRESS);
	int err = ms_nl_clsact_ensure(ctx, ifindex); /* its error message names the qdisc */
	if (err)
		return err;
	static const struct {
		enum bpf_tc_attach_point point;
		enum ms_prog_role prog;
	} legs[] = { { BPF_TC_INGRESS, MS_P_FROM_CONTAINER }, { BPF_TC_EGRESS, MS_P_TO_CONTAINER } };
	for (size_t i = 0; i < MS_ARRAY_SIZE(legs); i++) {
		hook.attach_point = legs[i].point;
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE, .priority = MS_TC_PRIORITY,
			    .prog_fd = ctx->dp.prog_fd[legs[i].prog], .flags = BPF_TC_F_REPLACE);
		err = bpf_tc_attach(&hook, &opts);
		if (err) {
			ms_tc_detach(ctx, ifindex);
			return ms_err(ctx, err, "cannot attach TC program on ifindex %u", ifindex);
		}
	}
	return 0;
}

int ms_tc_detach(struct microseg_ctx *ctx, uint32_t ifindex)
{
	int first = 0;
	enum bpf_tc_attach_point points[] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	for (size_t i = 0; i < MS_ARRAY_SIZE(points); i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = points[i]);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE, .priority = MS_TC_PRIORITY);
		int err = bpf_tc_detach(&hook, &opts);
		/* Gone already (interface deleted, filter removed by hand) is what we wanted. */
		if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL && !first)
			first = ms_err(ctx, err, "cannot detach TC program from ifindex %u", ifindex);
	}
	return first;
}

static int map_update(struct microseg_ctx *ctx, enum ms_map_role m, const void *k, const void *v)
{
	if (bpf_map_update_elem(ctx->dp.map_fd[m], k, v, BPF_ANY)) {
		int err = -errno;
		if (err == -E2BIG || err == -ENOMEM)
			err = -ENOSPC; /* a full map is "no space" to the caller */
		return ms_err(ctx, err, "map %s update failed: %s", map_names[m], microseg_strerror(err));
	}
	return 0;
}

static int map_delete(struct microseg_ctx *ctx, enum ms_map_role m, const void *k)
{
	if (bpf_map_delete_elem(ctx->dp.map_fd[m], k) && errno != ENOENT)
		return ms_err(ctx, -errno, "map %s delete failed", map_names[m]);
	return 0;
}

int ms_dp_endpoint_set(struct microseg_ctx *ctx, uint32_t ifindex, const struct ms_endpoint_info *info)
{
	return map_update(ctx, MS_M_ENDPOINTS, &ifindex, info);
}

int ms_dp_endpoint_del(struct microseg_ctx *ctx, uint32_t ifindex)
{
	return map_delete(ctx, MS_M_ENDPOINTS, &ifindex);
}

static void ipcache_key(const struct ms_addr *a, struct ms_ipcache_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = 32 + a->prefixlen;
	k->family = a->family;
	memcpy(k->addr, a->bytes, a->family == MS_FAMILY_IPV4 ? 4 : 16);
}

int ms_dp_ipcache_set(struct microseg_ctx *ctx, const struct ms_addr *a, const struct ms_ipcache_value *v)
{
	struct ms_ipcache_key k;
	ipcache_key(a, &k);
	return map_update(ctx, MS_M_IPCACHE, &k, v);
}

int ms_dp_ipcache_get(struct microseg_ctx *ctx, const struct ms_addr *a, struct ms_ipcache_value *v)
{
	struct ms_ipcache_key k;
	ipcache_key(a, &k);
	return bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_IPCACHE], &k, v) ? -errno : 0;
}

int ms_dp_ipcache_walk(struct microseg_ctx *ctx,
		       int (*fn)(void *user, const struct ms_addr *a, const struct ms_ipcache_value *v), void *user)
{
	int fd = ctx->dp.map_fd[MS_M_IPCACHE];
	struct ms_ipcache_key k, next;
	struct ms_ipcache_value v;
	int have = bpf_map_get_next_key(fd, NULL, &next), err = 0;
	while (have == 0 && !err) {
		k = next;
		if (bpf_map_lookup_elem(fd, &k, &v) == 0 && k.prefixlen >= 32) {
			struct ms_addr a = { .family = k.family, .prefixlen = (uint8_t)(k.prefixlen - 32) };
			memcpy(a.bytes, k.addr, sizeof(a.bytes));
			err = fn(user, &a, &v);
		}
		have = bpf_map_get_next_key(fd, &k, &next);
	}
	return err;
}

int ms_dp_ipcache_del(struct microseg_ctx *ctx, const struct ms_addr *a)
{
	struct ms_ipcache_key k;
	ipcache_key(a, &k);
	return map_delete(ctx, MS_M_IPCACHE, &k);
}

int ms_dp_stats_reset(struct microseg_ctx *ctx, uint32_t ep_id)
{
	struct ms_ep_stats *zero = calloc((size_t)ctx->dp.ncpus, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	int err = map_update(ctx, MS_M_EP_STATS, &ep_id, zero);
	free(zero);
	return err;
}

int ms_dp_stats_read(struct microseg_ctx *ctx, uint32_t ep_id, struct ms_ep_stats *sum)
{
	struct ms_ep_stats *percpu = calloc((size_t)ctx->dp.ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	int err = 0;
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_EP_STATS], &ep_id, percpu)) {
		err = ms_err(ctx, -errno, "cannot read counters of endpoint %u", ep_id);
		goto out;
	}
	for (int c = 0; c < ctx->dp.ncpus; c++) {
		for (int d = 0; d < MS_DIR_MAX; d++) {
			sum->fwd[d].packets += percpu[c].fwd[d].packets;
			sum->fwd[d].bytes += percpu[c].fwd[d].bytes;
			for (int r = 0; r < MS_DROP_MAX; r++) {
				sum->drop[d][r].packets += percpu[c].drop[d][r].packets;
				sum->drop[d][r].bytes += percpu[c].drop[d][r].bytes;
			}
		}
	}
out:
	free(percpu);
	return err;
}

/* ---- policy tables ---- */

struct ms_policy_entry_abi {
	struct ms_policy_key key;
	struct ms_policy_value value;
};

/* A new table with exactly the template's attributes (map-in-map requires it). */
static int fill_table(int fd, const struct ms_policy_key *keys, const struct ms_policy_value *vals, size_t n)
{
	/* One batch (the kernel takes batches for LPM tries and hashes), entry by entry where
	 * not. Batches accept no BPF_NOEXIST; the keys are unique by construction. */
	uint32_t count = (uint32_t)n;
	if (!n || !bpf_map_update_batch(fd, keys, vals, &count, NULL))
		return 0;
	int err = -errno;
	if (err != -EINVAL && err != -EOPNOTSUPP && err != -ENOTSUPP)
		return err;
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY))
			return -errno;
	return 0;
}

int ms_dp_table_create(struct microseg_ctx *ctx, const void *entries, size_t n, int *fd_lpm, int *fd_exact)
{
	const struct ms_policy_entry_abi *e = entries;
	struct ms_policy_key *keys = malloc((n ? n : 1) * sizeof(*keys));
	struct ms_policy_value *vals = malloc((n ? n : 1) * sizeof(*vals));
	int lpm = -1, exact = -1, err = keys && vals ? 0 : -ENOMEM;
	/* Single ports first (into the hash), the other prefixes after them (into the trie). */
	size_t ne = 0, nl = 0;
	for (size_t i = 0; i < n && !err; i++)
		if (e[i].key.prefixlen == MS_POLICY_PREFIX_BASE + 16)
			ne++;
	for (size_t i = 0, a = 0, b = ne; i < n && !err; i++) {
		size_t at = e[i].key.prefixlen == MS_POLICY_PREFIX_BASE + 16 ? a++ : b++;
		keys[at] = e[i].key;
		vals[at] = e[i].value;
	}
	nl = n - ne;
	if (!err && (lpm = table_map(BPF_MAP_TYPE_LPM_TRIE, ctx->dp.meta.max_policy_entries)) < 0)
		err = -errno;
	/* Always a hash, maybe empty: slots are only ever replaced, never cleared (clearing an
	 * array-of-maps slot has no batch form and costs an RCU grace period per slot). */
	if (!err && (exact = table_map(BPF_MAP_TYPE_HASH, ctx->dp.meta.max_policy_entries)) < 0)
		err = -errno;
	if (!err)
		err = fill_table(lpm, keys + ne, vals + ne, nl);
	if (!err)
		err = fill_table(exact, keys, vals, ne);
	free(keys);
	free(vals);
	if (err) {
		if (lpm >= 0)
			close(lpm);
		if (exact >= 0)
			close(exact);
		if (err == -E2BIG || err == -ENOMEM)
			err = -ENOSPC;
		return ms_err(ctx, err, "policy table of %zu entries: %s", n, microseg_strerror(err));
	}
	*fd_lpm = lpm;
	*fd_exact = exact;
	return 0;
}

/*
 * Writes policy slots: fds[i] >= 0 installs that table for keys[i], -1 clears it. The kernel
 * waits for an RCU grace period after every write to a map-in-map (10-15 ms here), so the
 * writes go in one update batch and one delete batch: two waits, however many slots.
 */
int ms_dp_policy_slots_write(struct microseg_ctx *ctx, bool exact, const uint32_t *keys, const int *fds, uint32_t n)
{
	uint32_t *uk = malloc((n ? n : 1) * sizeof(*uk)), *dk = malloc((n ? n : 1) * sizeof(*dk));
	int *uv = malloc((n ? n : 1) * sizeof(*uv));
	uint32_t nu = 0, nd = 0;
	int err = uk && dk && uv ? 0 : -ENOMEM;
	int mfd = ctx->dp.map_fd[exact ? MS_M_POLICY_EXACT : MS_M_POLICY];
	for (uint32_t i = 0; i < n && !err; i++) {
		uint32_t id;
		if (fds[i] >= 0) {
			uk[nu] = keys[i];
			uv[nu++] = fds[i];
		} else if (!bpf_map_lookup_elem(mfd, &keys[i], &id)) {
			dk[nd++] = keys[i]; /* a batch stops at the first empty slot: clear used ones only */
		}
	}
	uint32_t count = nu;
	if (!err && nu && bpf_map_update_batch(mfd, uk, uv, &count, NULL))
		err = ms_err(ctx, -errno, "cannot install %u policy table(s) (%u done)", nu, count);
	count = nd;
	if (!err && nd && bpf_map_delete_batch(mfd, dk, &count, NULL))
		err = ms_err(ctx, -errno, "cannot clear %u policy slot(s) (%u done)", nd, count);
	free(uk);
	free(dk);
	free(uv);
	return err;
}

/* Whether a slot holds a table (after a restore, before the library knows which). */
bool ms_dp_policy_slot_used(struct microseg_ctx *ctx, uint32_t key)
{
	uint32_t id;
	return !bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_POLICY], &key, &id) ||
	       !bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_POLICY_EXACT], &key, &id);
}

int ms_dp_config_get(struct microseg_ctx *ctx, struct ms_config *c)
{
	uint32_t zero = 0;
	if (bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_CONFIG], &zero, c))
		return ms_err(ctx, -errno, "cannot read the datapath configuration");
	return 0;
}

int ms_dp_config_set(struct microseg_ctx *ctx, const struct ms_config *c)
{
	uint32_t zero = 0;
	if (bpf_map_update_elem(ctx->dp.map_fd[MS_M_CONFIG], &zero, c, BPF_ANY))
		return ms_err(ctx, -errno, "cannot write the datapath configuration");
	return 0;
}

/* Only this process writes ms_config (the instance lock), so read-modify-write is safe. */
int ms_dp_config_set_rev(struct microseg_ctx *ctx, uint32_t rev)
{
	struct ms_config c;
	int err = ms_dp_config_get(ctx, &c);
	if (err)
		return err;
	c.policy_rev = rev;
	return ms_dp_config_set(ctx, &c);
}

int ms_dp_config_set_flag(struct microseg_ctx *ctx, uint32_t flag, bool on)
{
	struct ms_config c;
	int err = ms_dp_config_get(ctx, &c);
	if (err || !!(c.flags & flag) == on)
		return err;
	c.flags = on ? c.flags | flag : c.flags & ~flag;
	return ms_dp_config_set(ctx, &c);
}

int ms_dp_config_get_rev(struct microseg_ctx *ctx, uint32_t *rev)
{
	struct ms_config c;
	int err = ms_dp_config_get(ctx, &c);
	if (!err)
		*rev = c.policy_rev;
	return err;
}
