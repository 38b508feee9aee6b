/* SPDX-License-Identifier: Apache-2.0 */
/* Internal declarations shared by the library's modules. Not installed. */
#ifndef MICROSEG_INTERNAL_H
#define MICROSEG_INTERNAL_H

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <microseg/microseg.h>

#include "hashmap.h"
#include "microseg_abi.h"

#define MS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- diag.c: errors and logging ---- */
void ms_log(struct microseg_ctx *ctx, int level, const char *fmt, ...) MS_PRINTF(3, 4);
/* Records a message as the context's last error, logs it at debug level, returns err. */
int ms_err(struct microseg_ctx *ctx, int err, const char *fmt, ...) MS_PRINTF(3, 4);
/* Checks an opts struct: NULL is fine, sz must cover `sz` itself, bytes past `known` must be 0. */
bool ms_opts_ok(const void *opts, size_t known);
#define MS_OPTS_OK(opts, type) ms_opts_ok((opts), sizeof(type))
/* Reads a field of a caller's opts only if the caller's struct is big enough to hold it. */
#define MS_OPT(opts, field, def)                                                                   \
	(((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), field) + sizeof((opts)->field))    \
		 ? (opts)->field                                                                   \
		 : (def))

/* The end of every *_list call: sorts the k collected elements, copies up to cap of them to
 * out, frees all, sets *count; returns 0 or -ENOSPC if cap < k. */
int ms_list_out(void *all, size_t k, size_t esize, int (*cmp)(const void *, const void *), void *out, size_t cap,
		size_t *count);

/* ---- addr.c ---- */
struct ms_addr {
	uint8_t family; /* MS_FAMILY_IPV4 or MS_FAMILY_IPV6 */
	uint8_t prefixlen;
	uint8_t pad[2];
	uint8_t bytes[16];
};
/* Parses "a.b.c.d[/n]" or IPv6 "[/n]"; without prefix the full length. Returns 0 or -EINVAL. */
int ms_addr_parse(const char *s, struct ms_addr *out);
void ms_addr_format(const struct ms_addr *a, char *buf, size_t len); /* no prefix */
bool ms_addr_equal(const struct ms_addr *a, const struct ms_addr *b);
/* a (with its prefix length) lies inside prefix p. */
bool ms_addr_in_prefix(const struct ms_addr *a, const struct ms_addr *p);
int ms_mac_parse(const char *s, uint8_t mac[6]);
void ms_mac_format(const uint8_t mac[6], char *buf, size_t len);
#define MS_ADDR_STRLEN 48

/* ---- labels.c ---- */
/* Validates and sorts labels into a newly allocated canonical array (each label normalised to
 * "source:key=value"). On success *out holds n strings and *joined the ','-joined form. */
int ms_labels_canonicalize(const char *const *labels, size_t n, char ***out, char **joined,
			   char *why, size_t whylen);
void ms_labels_free(char **labels, size_t n);

/* ---- identity.c ---- */
struct microseg_identity {
	uint32_t magic;
	uint32_t id;
	uint32_t refs;
	size_t nlabels;
	char **labels;
	char *joined; /* canonical key */
	struct ms_hnode by_id;
	struct ms_hnode by_key;
	struct ms_hnode by_ptr;
};
#define MS_IDENTITY_MAGIC 0x4d534944u

struct ms_identities {
	struct ms_hmap by_id, by_key, by_ptr;
	uint32_t next_local;
};
int ms_identities_init(struct microseg_ctx *ctx);
void ms_identities_free(struct microseg_ctx *ctx);
/* Lookup of a caller's handle without dereferencing a pointer that is not ours. */
struct microseg_identity *ms_identity_checked(struct microseg_ctx *ctx, const struct microseg_identity *id);
/* microseg_identity_get without the lock; explicit_id 0 allocates a local id. */
int ms_identity_get(struct microseg_ctx *ctx, const char *const *labels, size_t n, uint32_t explicit_id,
		    struct microseg_identity **out);
struct microseg_identity *ms_identity_by_id(struct microseg_ctx *ctx, uint32_t id);
void ms_identity_ref(struct microseg_identity *id);
void ms_identity_unref(struct microseg_ctx *ctx, struct microseg_identity *id);
/* Restore path: bind labels to an exact id (any range), one reference. */
int ms_identity_restore(struct microseg_ctx *ctx, uint32_t numeric_id, char **labels, size_t n,
			struct microseg_identity **out);

/* ---- datapath.c: BPF objects of an instance ---- */
enum ms_map_role {
	MS_M_META,
	MS_M_ENDPOINTS,
	MS_M_IPCACHE,
	MS_M_EP_STATS,
	MS_M_CONFIG,
	MS_M_POLICY,
	MS_M_POLICY_EXACT,
	MS_M_CT,
	MS_M_EVENTS,
	MS_M_EVENT_STATE,
	MS_M_PROXY_CONNS,
	MS_M_LB_SERVICES,
	MS_M_LB_BACKENDS,
	MS_M_LB_SLOTS,
	MS_M_LB_AFFINITY,
	MS_M_LB_REVSK,
	MS_M_LB_NAT,
	MS_M_LB_BACKEND_STATS,
	MS_M__COUNT
};
enum ms_prog_role {
	MS_P_FROM_CONTAINER,
	MS_P_TO_CONTAINER,
	/* Socket-level load balancing (cgroup sock_addr hooks), attached on the first service. */
	MS_P_SOCK_CONNECT4,
	MS_P_SOCK_CONNECT6,
	MS_P_SOCK_SENDMSG4,
	MS_P_SOCK_SENDMSG6,
	MS_P_SOCK_RECVMSG4,
	MS_P_SOCK_RECVMSG6,
	MS_P_SOCK_GETPEERNAME4,
	MS_P_SOCK_GETPEERNAME6,
	/* Run by the proxy (BPF_PROG_TEST_RUN) to put L7 records into the event ring. */
	MS_P_L7_EMIT,
	MS_P__COUNT
};

struct ms_datapath {
	bool loaded;
	int map_fd[MS_M__COUNT];
	int prog_fd[MS_P__COUNT];
	struct ms_meta meta;
	int ncpus;
};
/* Loads (new instance) or opens pinned (existing) programs and maps. *restored tells which. */
struct ms_capacity {
	uint32_t endpoints, ipcache, policy_entries, ct;
	uint32_t services, backends, lb_slots;
};
int ms_datapath_open(struct microseg_ctx *ctx, const struct ms_capacity *cap, bool *restored);
void ms_datapath_close(struct ms_datapath *dp);
/* Removes every pin of the instance (after endpoints are detached). */
int ms_datapath_unpin(struct microseg_ctx *ctx);
/* Our TC filters sit at a fixed handle and priority so they can live next to other users'
 * filters and be found again by a reopened context. */
#define MS_TC_HANDLE 0x4d53
#define MS_TC_PRIORITY 0x4d53
int ms_tc_attach(struct microseg_ctx *ctx, uint32_t ifindex);
int ms_tc_detach(struct microseg_ctx *ctx, uint32_t ifindex);
int ms_dp_endpoint_set(struct microseg_ctx *ctx, uint32_t ifindex, const struct ms_endpoint_info *info);
int ms_dp_endpoint_del(struct microseg_ctx *ctx, uint32_t ifindex);
int ms_dp_ipcache_set(struct microseg_ctx *ctx, const struct ms_addr *a, const struct ms_ipcache_value *v);
int ms_dp_ipcache_del(struct microseg_ctx *ctx, const struct ms_addr *a);
int ms_dp_ipcache_get(struct microseg_ctx *ctx, const struct ms_addr *a, struct ms_ipcache_value *v);
/* Calls fn for every ipcache entry until it returns non-zero (returned). */
int ms_dp_ipcache_walk(struct microseg_ctx *ctx,
		       int (*fn)(void *user, const struct ms_addr *a, const struct ms_ipcache_value *v), void *user);
int ms_dp_stats_reset(struct microseg_ctx *ctx, uint32_t ep_id);
int ms_dp_stats_read(struct microseg_ctx *ctx, uint32_t ep_id, struct ms_ep_stats *sum);
/* Policy tables (LPM tries shaped like the inner-map template), slots, revision. */
/* Creates a table's maps: the LPM trie (every entry that is not a single port) and the hash
 * of its single-port entries (maybe empty). */
int ms_dp_table_create(struct microseg_ctx *ctx, const void *entries, size_t n, int *fd_lpm, int *fd_exact);
/* Writes slots of one outer map (exact: ms_policy_exact, else ms_policy); fd -1 clears. */
int ms_dp_policy_slots_write(struct microseg_ctx *ctx, bool exact, const uint32_t *keys, const int *fds, uint32_t n);
bool ms_dp_policy_slot_used(struct microseg_ctx *ctx, uint32_t key);
/* ms_config: read whole, written whole (the policy flip writes the revision and keeps the rest). */
int ms_dp_config_get(struct microseg_ctx *ctx, struct ms_config *c);
int ms_dp_config_set(struct microseg_ctx *ctx, const struct ms_config *c);
int ms_dp_config_set_rev(struct microseg_ctx *ctx, uint32_t rev);
/* Sets or clears MS_CFG_F_* bits (no write when already so). */
int ms_dp_config_set_flag(struct microseg_ctx *ctx, uint32_t flag, bool on);
int ms_dp_config_get_rev(struct microseg_ctx *ctx, uint32_t *rev);

/* ---- netlink.c: links, addresses, routes through libnl-route-3 ---- */
int ms_nl_ifindex(const char *name, uint32_t *ifindex, char ifname[IF_NAMESIZE]);
struct ms_veth_req {
	const char *host_ifname;
	const char *peer_ifname;
	const char *netns_path;
	const struct ms_addr *addrs;
	size_t naddrs;
	uint32_t mtu;
};
/* Creates the pair and configures both sides; on failure deletes what it made. */
int ms_nl_veth_create(struct microseg_ctx *ctx, const struct ms_veth_req *req, uint32_t *host_ifindex,
		      uint8_t peer_mac[6]);
int ms_nl_link_delete(struct microseg_ctx *ctx, uint32_t ifindex);
/* A clsact qdisc on the interface (kept if there is one). */
int ms_nl_clsact_ensure(struct microseg_ctx *ctx, uint32_t ifindex);
/* The L7 proxy's policy routing (fwmark rule + local table), both families; add or remove. */
int ms_nl_tproxy_routing(struct microseg_ctx *ctx, bool add, uint32_t mark, uint32_t table, uint32_t pref);
/* Calls fn for every address of the host's (current) network namespace. */
int ms_nl_host_addrs(struct microseg_ctx *ctx, int (*fn)(struct microseg_ctx *, const struct ms_addr *));

/* ---- endpoint.c ---- */
struct microseg_endpoint {
	uint32_t magic;
	uint32_t ep_id;
	uint32_t ifindex;
	char ifname[IF_NAMESIZE];
	char name[MICROSEG_ENDPOINT_NAME_MAX + 1];
	struct microseg_identity *identity;
	size_t naddrs;
	struct ms_addr addrs[MICROSEG_ENDPOINT_ADDRS_MAX];
	char addr_text[MICROSEG_ENDPOINT_ADDRS_MAX][MS_ADDR_STRLEN];
	uint8_t mac[6];
	struct ms_hnode by_ptr;
	struct ms_hnode by_ifindex;
};
#define MS_ENDPOINT_MAGIC 0x4d534550u

struct ms_endpoints {
	struct ms_hmap by_ptr, by_ifindex;
	struct microseg_endpoint **by_id; /* ep id -> endpoint, NULL if free; max_endpoints slots */
	uint32_t max;
	size_t count;
};
int ms_endpoints_init(struct microseg_ctx *ctx, uint32_t max_endpoints);
void ms_endpoints_free(struct microseg_ctx *ctx);
/* Restore path: re-creates the in-memory endpoint from its saved record, no kernel change. */
int ms_endpoint_restore(struct microseg_ctx *ctx, const struct microseg_endpoint *rec, uint32_t identity);
/* Purge: detaches every endpoint and frees their handles. */
int ms_endpoints_detach_all(struct microseg_ctx *ctx);
/* After a restore: removes kernel entries of endpoints the state directory does not know. */
int ms_endpoints_reconcile(struct microseg_ctx *ctx);
/* The live endpoint with datapath id ep_id, or NULL (events and the proxy: per event). */
struct microseg_endpoint *ms_endpoint_by_id(struct microseg_ctx *ctx, uint32_t ep_id);

/* ---- host_addrs.c: the host's own addresses in the ipcache ---- */
struct ms_host_addrs {
	struct ms_addr *rec;  /* recorded as HOST now (gateways included), sorted */
	size_t n_rec;
	struct ms_addr *scan; /* scratch of a sync: what the host holds */
	size_t n_scan, cap_scan;
	bool seeded;          /* rec holds what an earlier process left in the pinned ipcache */
	int watch_fd;         /* netlink, subscribed to address changes; -1 if none */
};
/* At open (not read-only): the first sync, and the change subscription. */
int ms_host_addrs_open(struct microseg_ctx *ctx);
void ms_host_addrs_free(struct microseg_ctx *ctx);

/* ---- proxy.c ---- */
/* Stops the proxy if it runs (joins its threads: call without ctx->lock). */
void ms_proxy_shutdown(struct microseg_ctx *ctx);
/* Purge: removes the instance's proxy routing even if the process that made it died. */
void ms_proxy_purge_routing(struct microseg_ctx *ctx);
/* The proxy's counters (zeros when it is not running); with ctx->lock held. */
struct microseg_proxy_stats;
void ms_proxy_stats_locked(struct microseg_ctx *ctx, struct microseg_proxy_stats *out);

/* ---- service.c ---- */
void ms_services_free(struct microseg_ctx *ctx);
/* Whether the socket programs' links are pinned (attached). */
bool ms_services_attached(struct microseg_ctx *ctx);
/* Purge: detaches the socket programs from the cgroup (unpins their links). */
int ms_services_detach(struct microseg_ctx *ctx);
/* Calls fn for every backend of every service (for metrics); with ctx->lock held. */
struct microseg_service_info;
struct microseg_backend_info;
typedef void (*ms_backend_fn)(void *user, const struct microseg_service_info *svc,
			      const struct microseg_backend_info *b);
void ms_services_each_backend(struct microseg_ctx *ctx, ms_backend_fn fn, void *user);
/* Reopen: services and backends from their records (the maps already hold them). */
int ms_services_restore(struct microseg_ctx *ctx);

/* ---- events.c ---- */
void ms_events_free(struct microseg_ctx *ctx);
/* The datapath's event counters, summed over CPUs (zeros without datapath). */
int ms_events_counters(struct microseg_ctx *ctx, uint64_t *emitted, uint64_t *limited, uint64_t *lost);

/* ---- state.c: metadata in the state directory ---- */
int ms_state_open(struct microseg_ctx *ctx);            /* mkdir + lock */
void ms_state_close(struct microseg_ctx *ctx);
int ms_state_save_identity(struct microseg_ctx *ctx, const struct microseg_identity *id);
int ms_state_drop_identity(struct microseg_ctx *ctx, uint32_t id);
int ms_state_save_endpoint(struct microseg_ctx *ctx, const struct microseg_endpoint *ep);
int ms_state_drop_endpoint(struct microseg_ctx *ctx, uint32_t ep_id);
/* Restores identities and endpoints. The restore holds a reference on every identity until
 * ms_state_restore_done(), so that rules restored in between find theirs; identities nothing
 * else holds are dropped then. */
int ms_state_restore(struct microseg_ctx *ctx);
void ms_state_restore_done(struct microseg_ctx *ctx);
/* Reads every numerically named record of <state>/<sub>: fn(ctx, path, id, arg). */
int ms_state_each(struct microseg_ctx *ctx, const char *sub,
		  int (*fn)(struct microseg_ctx *, const char *, uint32_t, void *), void *arg);
/* Whether changes are being recorded (a managing, non-offline context not restoring). */
bool ms_state_persisting(struct microseg_ctx *ctx);
/* Writes <state>/<sub>/<name> atomically; removes it (data NULL). */
int ms_state_put(struct microseg_ctx *ctx, const char *sub, const char *name, const char *data, size_t len);
int ms_state_remove_all(struct microseg_ctx *ctx);

/* ---- the context ---- */
struct microseg_ctx {
	pthread_mutex_t lock;
	uint32_t flags;
	char instance[MICROSEG_INSTANCE_NAME_MAX + 1];
	char bpffs_dir[MICROSEG_PATH_MAX + 1];
	char state_dir[MICROSEG_PATH_MAX + 1];
	char lb_cgroup[MICROSEG_PATH_MAX + 1]; /* "" = the cgroup v2 root */
	microseg_log_fn log_fn;
	void *log_user;
	int log_level;
	char last_error[512];
	int lock_fd;
	bool restored;
	bool purged;
	bool restoring; /* state writes are skipped while rebuilding from state */
	struct microseg_identity **restore_refs;
	size_t n_restore_refs;
	struct ms_datapath dp;
	struct ms_identities ids;
	struct ms_endpoints eps;
	struct ms_policy *pol; /* policy_internal.h */
	struct ms_events *ev;  /* events.c */
	struct ms_proxy *proxy; /* proxy.c, NULL when not running */
	struct ms_services *svc; /* service.c */
	struct ms_host_addrs host; /* host_addrs.c */
};

static inline bool ms_ctx_offline(const struct microseg_ctx *ctx)
{
	return ctx->flags & MICROSEG_CTX_F_NO_DATAPATH;
}

/* Whether this context may change the kernel side (not offline, not read-only). */
static inline bool ms_ctx_writes_kernel(const struct microseg_ctx *ctx)
{
	return !(ctx->flags & (MICROSEG_CTX_F_NO_DATAPATH | MICROSEG_CTX_F_READ_ONLY));
}

static inline bool ms_ctx_read_only(const struct microseg_ctx *ctx)
{
	return ctx->flags & MICROSEG_CTX_F_READ_ONLY;
}

/* The first thing a call that changes the instance does on a read-only context. */
#define MS_REFUSE_READ_ONLY(ctx, what)                                                             	do {                                                                                       		if (ms_ctx_read_only(ctx)) {                                                       			int _e = ms_err((ctx), -EROFS, "%s: the context is read-only", (what));     			MS_UNLOCK(ctx);                                                            			return _e;                                                                 		}                                                                                  	} while (0)

#define MS_LOCK(ctx) pthread_mutex_lock(&(ctx)->lock)
#define MS_UNLOCK(ctx) pthread_mutex_unlock(&(ctx)->lock)

#endif
