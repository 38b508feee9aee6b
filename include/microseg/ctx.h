/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The context: one instance of the datapath on this host.
 *
 * An instance owns its BPF programs and maps, pinned under a bpffs directory, and its
 * metadata (endpoint names, identity labels) under a state directory. The datapath keeps
 * running when every context is closed or the process dies; opening the instance again
 * restores endpoints and identities from the pins and the state directory without touching
 * traffic. One context at a time may manage an instance (an advisory lock in the state
 * directory); a second microseg_ctx_open() of the same instance fails with -EBUSY.
 */
#ifndef MICROSEG_CTX_H
#define MICROSEG_CTX_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;

/* Keep all state in memory only: no BPF, no bpffs, no state directory, no privileges. For
 * validating input, for tests and for tools; endpoints are accepted but attach nothing. */
#define MICROSEG_CTX_F_NO_DATAPATH (1u << 0)
/* Open an existing instance to look, not to manage (tools such as msegctl): no lock is taken,
 * nothing is created, written or published; the running datapath and the managing process are
 * not disturbed. Every call that would change the instance fails with -EROFS. -ENOENT if the
 * instance does not exist. Events can be consumed (see events.h). */
#define MICROSEG_CTX_F_READ_ONLY (1u << 1)

struct microseg_ctx_opts {
	size_t sz;
	/* Instance name, default "default". Up to MICROSEG_INSTANCE_NAME_MAX bytes of
	 * [A-Za-z0-9_.-], not starting with '.'. */
	const char *instance;
	/* Directory for pins, default /sys/fs/bpf/microseg/<instance>. Must be on bpffs. */
	const char *bpffs_dir;
	/* Directory for metadata, default /run/microseg/<instance>. */
	const char *state_dir;
	/* Log callback and its user pointer; NULL means silent. */
	microseg_log_fn log_fn;
	void *log_user;
	/* Highest level passed to log_fn (enum microseg_log_level). 0 (a zero-filled struct) is
	 * MICROSEG_LOG_ERROR: errors only. */
	int32_t log_level;
	/* MICROSEG_CTX_F_* */
	uint32_t flags;
	/* Capacity of a new instance (ignored when an existing instance is reopened; its pinned
	 * maps keep their size). 0 means the default. */
	uint32_t max_endpoints;      /* 2..65535, default 4096 */
	uint32_t max_ipcache;        /* address prefixes, 16..2^24, default 65536 */
	uint32_t max_policy_entries; /* entries per policy table, 16..2^24, default 65536 */
	uint32_t max_connections;    /* connection tracking entries, 64..2^26, default 262144 */
	uint32_t max_services;       /* service frontends, 16..2^24, default 65536 */
	uint32_t max_backends;       /* backends of all services, 16..2^24, default 262144 */
	uint32_t max_lb_slots;       /* selection slots of all services (two halves each: 2 x the
				      * weighted backends, or 2 x the Maglev table), 64..2^26,
				      * default 2^21 */
	/* The cgroup v2 directory the socket-level load balancer attaches to when the first
	 * service is added: every process in it and below, in any network namespace, gets its
	 * connect()/sendmsg() to a service address translated. NULL: the cgroup v2 root (found
	 * through /proc/self/mounts; /sys/fs/cgroup/unified on hybrid hosts), as Cilium does. */
	const char *lb_cgroup;
};

/*
 * Opens (creating if needed) the instance named in opts and returns a context for it.
 * opts may be NULL for all defaults.
 *
 * A new instance loads the library's built-in BPF programs once and pins them with their maps;
 * an existing one is restored from its pins and state directory, and its running datapath is
 * left untouched.
 *
 * Errors: -EINVAL bad option (name, flags, unknown non-zero tail of opts), -ENAMETOOLONG a path
 * or name too long, -EPERM/-EACCES missing privileges (CAP_BPF, CAP_NET_ADMIN), -EBUSY another
 * context holds the instance, -EPROTO the pinned instance was made by an incompatible library
 * version, -ENOMEM, other -errno from the kernel. Details through the log callback (no context
 * exists to hold a last-error message yet).
 * Thread-safe.
 */
MICROSEG_API int microseg_ctx_open(const struct microseg_ctx_opts *opts, struct microseg_ctx **ctx);

/*
 * Frees the context and every handle it gave out. The datapath keeps running and stays pinned;
 * the state directory is kept. NULL is a no-op. No other thread may use ctx or its handles
 * during or after this call.
 */
MICROSEG_API void microseg_ctx_close(struct microseg_ctx *ctx);

/*
 * Tears the instance down: detaches every program from every endpoint, removes every pin and
 * the state directory. The context stays open and empty (a later endpoint add fails with
 * -ESHUTDOWN); close it afterwards. Errors: -EINVAL ctx NULL; the first -errno met (it goes on
 * with the rest). Thread-safe.
 */
MICROSEG_API int microseg_ctx_purge(struct microseg_ctx *ctx);

/*
 * The last error message recorded on this context by a failing call (which field, which
 * address, the kernel's complaint), or "" if none. The pointer is valid until the next call on
 * ctx from any thread. Thread-safe, but only meaningful from the thread that made the call.
 */
MICROSEG_API const char *microseg_ctx_last_error(const struct microseg_ctx *ctx);

/* Instance name of the context. Valid for the context's lifetime. Thread-safe. */
MICROSEG_API const char *microseg_ctx_instance(const struct microseg_ctx *ctx);

/* Returns 1 if open() restored an existing instance, 0 if it created one. Thread-safe. */
MICROSEG_API int microseg_ctx_restored(const struct microseg_ctx *ctx);

/* Changes the log callback and level at run time. Thread-safe. Errors: -EINVAL ctx NULL. */
MICROSEG_API int microseg_ctx_set_log(struct microseg_ctx *ctx, microseg_log_fn fn, void *user,
				      int32_t level);

/*
 * The host's own addresses have the reserved identity HOST in policy (allowed into endpoints
 * unless a rule denies it, as in Cilium). They are read at open, from the network namespace
 * the context was opened in, with the gateways (MICROSEG_GATEWAY_IPV4/6) always among them.
 * When the host gains or drops an address, call microseg_host_addrs_sync(): new addresses are
 * recorded, dropped ones forgotten (until then a new address counts as "world" and a dropped
 * one still as the host). Returns the number of addresses recorded, or -EOPNOTSUPP (no
 * datapath), -EROFS (read-only), -ESHUTDOWN (purged), -errno of netlink or the ipcache.
 * Call it from the namespace the context was opened in. Thread-safe.
 */
MICROSEG_API int microseg_host_addrs_sync(struct microseg_ctx *ctx);

/*
 * A descriptor that turns readable when the host's addresses change (a netlink socket
 * subscribed to them, owned by the context: do not read or close it): poll it in your loop
 * and call microseg_host_addrs_sync() when it is readable; the sync empties it. No thread of
 * the library watches for you. -ENOTCONN if the subscription failed at open; other errors as
 * microseg_host_addrs_sync(). Thread-safe.
 */
MICROSEG_API int microseg_host_addrs_fd(struct microseg_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
