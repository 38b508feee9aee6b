// SPDX-License-Identifier: Apache-2.0
/*
 * Services: the C API, the service and backend maps, and the socket programs' cgroup links.
 *
 * A change to a service rewrites its selection slots in the half the datapath is not reading
 * (weighted list or Maglev table of the active backends, lib/maglev.c), then replaces the
 * service entry with the new half and slot count: one atomic hash update makes the new
 * backend set live. Backend entries outlive their slots only while a service change is in
 * flight; a removed backend's entry goes right after the flip.
 *
 * The socket programs attach to the cgroup (ctx opts lb_cgroup, default the cgroup v2 root)
 * when the first service is added, through bpf links pinned next to the maps: they stay
 * attached when the process exits, like everything else of the instance, and go at purge.
 *
 * Records: one file per service in <state>/services (frontend, options, backends with their
 * ids), so a reopened context knows what the maps hold.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "internal.h"
#include "maglev.h"

#define SVC_MAGIC 0x4d535356u
#define WEIGHTED_LIST_MAX 4096 /* slots of a weighted-random service */
#define MAGLEV_MIN 251u
#define MAGLEV_MAX 131071u
#define BACKENDS_PER_SERVICE_MAX 65535

struct svc_backend {
	uint32_t id;
	struct ms_addr addr;
	char text[MS_ADDR_STRLEN];
	uint16_t port;
	uint16_t weight;
	uint32_t state;
};

struct microseg_service {
	uint32_t magic;
	uint32_t id;
	char name[MICROSEG_SERVICE_NAME_MAX + 1];
	struct ms_addr vip;
	char vip_text[MS_ADDR_STRLEN];
	uint16_t port;
	uint8_t proto;
	uint32_t algorithm;
	uint32_t maglev_size;
	uint32_t affinity_s;
	struct svc_backend *b;
	size_t n, cap;
	uint8_t half;          /* the live slot half */
	uint32_t written[2];   /* slots present in the map, per half */
	/* What each half's slots [0, written[h]) hold, so a change writes only the slots that
	 * differ (a Maglev table moves ~1/N of its entries per backend); NULL: not known (after
	 * a reopen or a failed write), the next publish to that half writes every slot. */
	uint32_t *content[2];
	uint32_t content_n[2];
	struct ms_hnode by_ptr;
};

struct ms_services {
	struct microseg_service **list; /* by id */
	size_t n, cap;
	struct ms_hmap by_ptr;
	uint32_t next_id;
	uint8_t *backend_ids; /* bitmap, max_backends bits; id 0 unused */
	uint32_t max_backends;
	uint32_t next_backend;
	uint32_t *slot_buf;   /* scratch for a table and its keys, grown on first use */
	struct ms_lb_slot_key *key_buf;
	size_t buf_cap;
	int log_fd;           /* the service log, -1 until first written */
	size_t log_lines;
};

static const struct {
	int prog;
	enum bpf_attach_type type;
	const char *pin;
} sock_hooks[] = {
	{ MS_P_SOCK_CONNECT4, BPF_CGROUP_INET4_CONNECT, "lb_connect4" },
	{ MS_P_SOCK_CONNECT6, BPF_CGROUP_INET6_CONNECT, "lb_connect6" },
	{ MS_P_SOCK_SENDMSG4, BPF_CGROUP_UDP4_SENDMSG, "lb_sendmsg4" },
	{ MS_P_SOCK_SENDMSG6, BPF_CGROUP_UDP6_SENDMSG, "lb_sendmsg6" },
	{ MS_P_SOCK_RECVMSG4, BPF_CGROUP_UDP4_RECVMSG, "lb_recvmsg4" },
	{ MS_P_SOCK_RECVMSG6, BPF_CGROUP_UDP6_RECVMSG, "lb_recvmsg6" },
	{ MS_P_SOCK_GETPEERNAME4, BPF_CGROUP_INET4_GETPEERNAME, "lb_getpeername4" },
	{ MS_P_SOCK_GETPEERNAME6, BPF_CGROUP_INET6_GETPEERNAME, "lb_getpeername6" },
};

/* ---- bookkeeping ---- */

static struct ms_services *svcs(struct microseg_ctx *ctx)
{
	if (ctx->svc)
		return ctx->svc;
	struct ms_services *s = calloc(1, sizeof(*s));
	uint32_t maxb = ctx->dp.meta.max_backends ? ctx->dp.meta.max_backends : MS_DEFAULT_MAX_BACKENDS;
	if (!s)
		return NULL;
	s->max_backends = maxb;
	s->backend_ids = calloc(maxb / 8 + 1, 1);
	s->next_id = 1;
	s->next_backend = 1;
	s->log_fd = -1;
	ms_hmap_init(&s->by_ptr);
	if (!s->backend_ids) {
		free(s);
		return NULL;
	}
	ctx->svc = s;
	return s;
}

static bool bid_used(struct ms_services *s, uint32_t id)
{
	return s->backend_ids[id / 8] & (1u << (id % 8));
}

static void bid_set(struct ms_services *s, uint32_t id, bool used)
{
	if (used)
		s->backend_ids[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		s->backend_ids[id / 8] &= (uint8_t)~(1u << (id % 8));
}

static int bid_alloc(struct ms_services *s, uint32_t *out)
{
	for (uint32_t k = 0; k < s->max_backends; k++) {
		uint32_t id = (s->next_backend + k) % s->max_backends;
		if (id && !bid_used(s, id)) {
			bid_set(s, id, true);
			s->next_backend = id + 1;
			*out = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static uint64_t ptr_hash(const void *p)
{
	return ms_hash_u64((uint64_t)(uintptr_t)p);
}

static struct microseg_service *svc_checked(struct microseg_ctx *ctx, const struct microseg_service *svc)
{
	if (!ctx->svc || !svc)
		return NULL;
	for (struct ms_hnode *n = ms_hmap_first(&ctx->svc->by_ptr, ptr_hash(svc)); n; n = ms_hmap_next(n)) {
		struct microseg_service *s = ms_container_of(n, struct microseg_service, by_ptr);
		if (s == svc && s->magic == SVC_MAGIC)
			return s;
	}
	return NULL;
}

static void svc_free(struct microseg_service *svc)
{
	if (!svc)
		return;
	svc->magic = 0;
	free(svc->b);
	free(svc->content[0]);
	free(svc->content[1]);
	free(svc);
}

void ms_services_free(struct microseg_ctx *ctx)
{
	struct ms_services *s = ctx->svc;
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		svc_free(s->list[i]);
	free(s->list);
	if (s->log_fd >= 0)
		close(s->log_fd);
	ms_hmap_free(&s->by_ptr);
	free(s->backend_ids);
	free(s->slot_buf);
	free(s->key_buf);
	free(s);
	ctx->svc = NULL;
}

/* ---- the socket programs' cgroup ---- */

static int pin_of(struct microseg_ctx *ctx, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", ctx->bpffs_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The cgroup v2 mount point (the unified hierarchy; on hybrid hosts not /sys/fs/cgroup). */
static int cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	char dev[256], dir[MICROSEG_PATH_MAX + 1], type[64];
	int err = -ENOENT;
	while (fscanf(f, "%255s %200s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

/* Attaches the socket programs (once per instance: their links are pinned). */
static int attach_sock_programs(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64], cg[MICROSEG_PATH_MAX + 1];
	pin_of(ctx, sock_hooks[0].pin, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return 0;
	int err = 0;
	if (ctx->lb_cgroup[0])
		snprintf(cg, sizeof(cg), "%s", ctx->lb_cgroup);
	else if ((err = cgroup2_root(cg, sizeof(cg))))
		return ms_err(ctx, err, "service: no cgroup v2 mount found for the socket load balancer");
	int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return ms_err(ctx, -errno, "service: cannot open cgroup %s", cg);
	size_t done = 0;
	for (; done < MS_ARRAY_SIZE(sock_hooks); done++) {
		int lfd = bpf_link_create(ctx->dp.prog_fd[sock_hooks[done].prog], cgfd, sock_hooks[done].type, NULL);
		if (lfd < 0) {
			err = ms_err(ctx, -errno, "service: cannot attach %s to cgroup %s", sock_hooks[done].pin, cg);
			break;
		}
		pin_of(ctx, sock_hooks[done].pin, path, sizeof(path));
		err = bpf_obj_pin(lfd, path) ? ms_err(ctx, -errno, "service: cannot pin %s", path) : 0;
		close(lfd);
		if (err)
			break;
	}
	close(cgfd);
	if (err) /* all or nothing: an unpinned link detaches when its last fd closes */
		while (done--) {
			pin_of(ctx, sock_hooks[done].pin, path, sizeof(path));
			unlink(path);
		}
	else
		ms_log(ctx, MICROSEG_LOG_INFO, "socket load balancer attached to cgroup %s", cg);
	return err;
}

bool ms_services_attached(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64];
	return !pin_of(ctx, sock_hooks[0].pin, path, sizeof(path)) && access(path, F_OK) == 0;
}

int ms_services_detach(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64];
	for (size_t i = 0; i < MS_ARRAY_SIZE(sock_hooks); i++)
		if (!pin_of(ctx, sock_hooks[i].pin, path, sizeof(path)))
			unlink(path);
	return 0;
}

/* ---- maps ---- */

static void lb_key(const struct microseg_service *svc, struct ms_lb_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, svc->vip.bytes, 16);
	k->port = htons(svc->port);
	k->proto = svc->proto;
	k->family = svc->vip.family;
}

static int write_backend(struct microseg_ctx *ctx, const struct microseg_service *svc, const struct svc_backend *b)
{
	struct ms_lb_backend v;
	memset(&v, 0, sizeof(v));
	memcpy(v.addr, b->addr.bytes, 16);
	v.port = htons(b->port);
	v.family = b->addr.family;
	v.state = (uint8_t)b->state;
	v.svc_id = svc->id;
	if (bpf_map_update_elem(ctx->dp.map_fd[MS_M_LB_BACKENDS], &b->id, &v, BPF_ANY))
		return ms_err(ctx, -errno, "service: backend map refused %s:%u", b->text, b->port);
	return 0;
}

/* Room for n slots and their keys in the scratch buffers. */
static int scratch(struct ms_services *s, size_t n)
{
	if (n <= s->buf_cap)
		return 0;
	uint32_t *slots = realloc(s->slot_buf, n * sizeof(*slots));
	if (slots)
		s->slot_buf = slots;
	struct ms_lb_slot_key *keys = realloc(s->key_buf, n * sizeof(*keys));
	if (keys)
		s->key_buf = keys;
	if (!slots || !keys)
		return -ENOMEM;
	s->buf_cap = n;
	return 0;
}

static struct ms_lb_slot_key slot_key(uint32_t svc_id, uint8_t half, uint32_t i)
{
	return (struct ms_lb_slot_key){ .svc_id = svc_id, .slot = (half ? MS_LB_SLOT_HALF : 0) | i };
}

/* The keys of slots [from, to) of one half, in key_buf from index 0. */
static struct ms_lb_slot_key *slot_keys(struct ms_services *s, uint32_t svc_id, uint8_t half, uint32_t from,
					uint32_t to)
{
	for (uint32_t i = from; i < to; i++)
		s->key_buf[i - from] = slot_key(svc_id, half, i);
	return s->key_buf;
}

/* The slots of the active backends: the weighted list or the Maglev table. */
static int build_slots(struct ms_services *s, const struct microseg_service *svc, uint32_t *count)
{
	struct ms_lb_member *m = calloc(svc->n ? svc->n : 1, sizeof(*m));
	size_t n = 0, cnt = 0;
	int err = scratch(s, svc->algorithm == MICROSEG_LB_MAGLEV ? svc->maglev_size : WEIGHTED_LIST_MAX);
	if (!m || err) {
		free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < svc->n; i++)
		if (svc->b[i].state == MICROSEG_BACKEND_ACTIVE)
			m[n++] = (struct ms_lb_member){ .id = svc->b[i].id, .weight = svc->b[i].weight,
							.key = ms_lb_backend_key(svc->b[i].addr.bytes, svc->b[i].port) };
	if (!n)
		*count = 0;
	else if (svc->algorithm == MICROSEG_LB_MAGLEV && (err = ms_maglev_build(m, n, s->slot_buf, svc->maglev_size)) == 0)
		*count = svc->maglev_size;
	else if (svc->algorithm != MICROSEG_LB_MAGLEV &&
		 (err = ms_lb_weighted_list(m, n, s->slot_buf, WEIGHTED_LIST_MAX, &cnt)) == 0)
		*count = (uint32_t)cnt;
	free(m);
	return err;
}

/* The slots of table[0, n) that differ from old[0, n_old) (every one if old is NULL): their
 * keys and values compacted to the front of key_buf and slot_buf. Returns how many. */
static uint32_t changed_slots(struct ms_services *s, uint32_t svc_id, uint8_t half, const uint32_t *old,
			      uint32_t n_old, const uint32_t *table, uint32_t n)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (old && i < n_old && old[i] == table[i])
			continue;
		s->key_buf[m] = slot_key(svc_id, half, i);
		s->slot_buf[m++] = table[i];
	}
	return m;
}

/* Writes the m slots changed_slots() gathered. */
static int write_slots(struct microseg_ctx *ctx, struct ms_services *s, uint32_t m)
{
	uint32_t done = m;
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
	if (m && bpf_map_update_batch(ctx->dp.map_fd[MS_M_LB_SLOTS], s->key_buf, s->slot_buf, &done, &o)) {
		int e = -errno;
		return ms_err(ctx, e == -E2BIG || e == -ENOMEM ? -ENOSPC : e,
			      "service: slot map refused %u slots (max_lb_slots %u)", m, ctx->dp.meta.max_lb_slots);
	}
	return 0;
}

static void delete_slots(struct microseg_ctx *ctx, struct ms_services *s, uint32_t svc_id, uint8_t half,
			 uint32_t from, uint32_t to)
{
	if (from >= to || scratch(s, to - from))
		return;
	struct ms_lb_slot_key *keys = slot_keys(s, svc_id, half, from, to);
	uint32_t n = to - from;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	bpf_map_delete_batch(ctx->dp.map_fd[MS_M_LB_SLOTS], keys, &n, &o);
}

static int write_service_entry(struct microseg_ctx *ctx, const struct microseg_service *svc, uint8_t half, uint32_t n)
{
	struct ms_lb_key k;
	lb_key(svc, &k);
	struct ms_lb_service v = {
		.svc_id = svc->id,
		.n_slots = n,
		.half = half,
		.algo = svc->algorithm == MICROSEG_LB_MAGLEV ? MS_LB_ALGO_MAGLEV : MS_LB_ALGO_RANDOM,
		.affinity_timeout_s = svc->affinity_s,
	};
	if (bpf_map_update_elem(ctx->dp.map_fd[MS_M_LB_SERVICES], &k, &v, BPF_ANY)) {
		int e = -errno;
		return ms_err(ctx, e == -E2BIG ? -ENOSPC : e, "service: service map refused %s:%u", svc->vip_text,
			      svc->port);
	}
	return 0;
}

/* Makes the backend set of svc live: idle half (only the slots that differ from what it holds),
 * then the flip. */
static int publish(struct microseg_ctx *ctx, struct microseg_service *svc)
{
	if (!ms_ctx_writes_kernel(ctx))
		return 0;
	struct ms_services *s = ctx->svc;
	uint32_t n = 0;
	int err = build_slots(s, svc, &n);
	if (err)
		return ms_err(ctx, err, "service: cannot build the selection table");
	uint8_t half = svc->half ^ 1;
	uint32_t before = svc->written[half];
	uint32_t *table = malloc((n ? n : 1) * sizeof(*table));
	if (!table)
		return ms_err(ctx, -ENOMEM, "service: cannot build the selection table");
	memcpy(table, s->slot_buf, n * sizeof(*table));
	err = write_slots(ctx, s, changed_slots(s, svc->id, half, svc->content[half], svc->content_n[half], table, n));
	/* From here the half holds the new table, or (after a failed write) something unknown. */
	free(svc->content[half]);
	svc->content[half] = err ? NULL : table;
	svc->content_n[half] = err ? 0 : n;
	if (err) {
		free(table);
		return err;
	}
	svc->written[half] = n > before ? n : before;
	if ((err = write_service_entry(ctx, svc, half, n)))
		return err;
	svc->half = half;
	/* Leftovers past the new count are never read; drop them to keep the map's room. */
	delete_slots(ctx, s, svc->id, half, n, before);
	svc->written[half] = n;
	return 0;
}

/* ---- records: an append-only log ----
 *
 * One line per change in <state>/services/log ("svc", "del", "be", "be-", "st"), appended
 * through a descriptor kept open: a change costs one write(), whatever the number of
 * services (a file per service rewritten on every backend change cost ~0.6 ms on an ext4
 * /run). Reopen replays the log; a torn last line (a crash mid-write) is ignored. When the log
 * holds four times more lines than live objects it is rewritten from memory (a snapshot
 * written aside, then renamed over).
 */
#define LOG_NAME "log"

static int log_path(struct microseg_ctx *ctx, char *buf, size_t len, const char *suffix)
{
	int n = snprintf(buf, len, "%s/services/" LOG_NAME "%s", ctx->state_dir, suffix);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static size_t live_objects(const struct ms_services *s)
{
	size_t n = s->n;
	for (size_t i = 0; i < s->n; i++)
		n += s->list[i]->n;
	return n;
}

/* The lines that create a service and a backend (both the log and its snapshot use them). */
static int service_line(char *buf, size_t len, const struct microseg_service *svc)
{
	return snprintf(buf, len, "svc %u %s %u %u %u %u %u %s\n", svc->id, svc->vip_text, svc->port, svc->proto,
			svc->algorithm, svc->maglev_size, svc->affinity_s, svc->name[0] ? svc->name : "-");
}

static int backend_line(char *buf, size_t len, const struct microseg_service *svc, const struct svc_backend *b)
{
	return snprintf(buf, len, "be %u %u %s %u %u %u\n", svc->id, b->id, b->text, b->port, b->weight, b->state);
}

/* Rewrites the log as the live set. */
static int log_compact(struct microseg_ctx *ctx)
{
	struct ms_services *s = ctx->svc;
	char tmp[MICROSEG_PATH_MAX + 64], path[MICROSEG_PATH_MAX + 64];
	if (log_path(ctx, tmp, sizeof(tmp), ".tmp") || log_path(ctx, path, sizeof(path), ""))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return ms_err(ctx, -errno, "service: cannot write %s", tmp);
	char line[512];
	for (size_t i = 0; i < s->n; i++) {
		service_line(line, sizeof(line), s->list[i]);
		fputs(line, f);
		for (size_t k = 0; k < s->list[i]->n; k++) {
			backend_line(line, sizeof(line), s->list[i], &s->list[i]->b[k]);
			fputs(line, f);
		}
	}
	int err = ferror(f) ? -EIO : 0;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return ms_err(ctx, err, "service: cannot write %s", path);
	}
	if (s->log_fd >= 0)
		close(s->log_fd);
	s->log_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	s->log_lines = live_objects(s);
	return s->log_fd < 0 ? ms_err(ctx, -errno, "service: cannot open %s", path) : 0;
}

/* Appends one change (a formatted line) to the log. */
__attribute__((format(printf, 2, 3))) static int log_change(struct microseg_ctx *ctx, const char *fmt, ...)
{
	struct ms_services *s = ctx->svc;
	if (!ms_state_persisting(ctx))
		return 0;
	/* Every caller logs a change already made in memory: a snapshot holds it. */
	if (s->log_fd < 0 || s->log_lines > 4 * live_objects(s) + 1024)
		return log_compact(ctx);
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EOVERFLOW;
	if (write(s->log_fd, line, (size_t)n) != n)
		return ms_err(ctx, errno ? -errno : -EIO, "service: cannot append to the service log");
	s->log_lines++;
	return 0;
}

static int log_service(struct microseg_ctx *ctx, const struct microseg_service *svc)
{
	char line[512];
	service_line(line, sizeof(line), svc);
	return log_change(ctx, "%s", line);
}

static int log_backend(struct microseg_ctx *ctx, const struct microseg_service *svc, const struct svc_backend *b)
{
	char line[512];
	backend_line(line, sizeof(line), svc, b);
	return log_change(ctx, "%s", line);
}

/* ---- validation ---- */

static int parse_frontend(struct microseg_ctx *ctx, const struct microseg_service_opts *o, struct microseg_service *svc)
{
	const char *addr = MS_OPT(o, address, NULL);
	const char *name = MS_OPT(o, name, NULL);
	uint32_t proto = MS_OPT(o, proto, 0), algo = MS_OPT(o, algorithm, 0);
	uint32_t msize = MS_OPT(o, maglev_table_size, 0), aff = MS_OPT(o, affinity_timeout_s, 0);
	if (!addr || ms_addr_parse(addr, &svc->vip) || svc->vip.prefixlen != (svc->vip.family == MS_FAMILY_IPV4 ? 32 : 128))
		return ms_err(ctx, -EINVAL, "service: address \"%.64s\" is not an IPv4 or IPv6 address",
			      addr ? addr : "(null)");
	if (!MS_OPT(o, port, 0))
		return ms_err(ctx, -EINVAL, "service: port 0");
	if (proto != MICROSEG_PROTO_TCP && proto != MICROSEG_PROTO_UDP)
		return ms_err(ctx, -EINVAL, "service: protocol %u is not TCP or UDP", proto);
	if (algo != MICROSEG_LB_RANDOM && algo != MICROSEG_LB_MAGLEV)
		return ms_err(ctx, -EINVAL, "service: unknown algorithm %u", algo);
	if (!msize)
		msize = MICROSEG_MAGLEV_DEFAULT_SIZE;
	if (algo == MICROSEG_LB_MAGLEV && (msize < MAGLEV_MIN || msize > MAGLEV_MAX || !ms_is_prime(msize)))
		return ms_err(ctx, -EINVAL, "service: maglev_table_size %u is not a prime in %u..%u", msize, MAGLEV_MIN,
			      MAGLEV_MAX);
	if (aff > 86400 * 365)
		return ms_err(ctx, -EINVAL, "service: affinity_timeout_s %u is over a year", aff);
	if (name && strnlen(name, MICROSEG_SERVICE_NAME_MAX + 1) > MICROSEG_SERVICE_NAME_MAX)
		return ms_err(ctx, -ENAMETOOLONG, "service: name longer than %d bytes", MICROSEG_SERVICE_NAME_MAX);
	for (const char *p = name; p && *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return ms_err(ctx, -EINVAL, "service: name has spaces or control characters");
	snprintf(svc->name, sizeof(svc->name), "%s", name ? name : "");
	ms_addr_format(&svc->vip, svc->vip_text, sizeof(svc->vip_text));
	svc->port = MS_OPT(o, port, 0);
	svc->proto = (uint8_t)proto;
	svc->algorithm = algo;
	svc->maglev_size = msize;
	svc->affinity_s = aff;
	return 0;
}

static struct microseg_service *find_frontend(struct ms_services *s, const struct ms_addr *a, uint16_t port,
					      uint8_t proto)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->list[i]->port == port && s->list[i]->proto == proto && ms_addr_equal(&s->list[i]->vip, a))
			return s->list[i];
	return NULL;
}

static int insert(struct ms_services *s, struct microseg_service *svc)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct microseg_service **p = realloc(s->list, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->list = p;
		s->cap = cap;
	}
	if (ms_hmap_insert(&s->by_ptr, &svc->by_ptr, ptr_hash(svc)))
		return -ENOMEM;
	s->list[s->n++] = svc; /* ids only grow: the list stays ordered by id */
	return 0;
}

static void unlink_svc(struct ms_services *s, struct microseg_service *svc)
{
	ms_hmap_remove(&s->by_ptr, &svc->by_ptr);
	for (size_t i = 0; i < s->n; i++)
		if (s->list[i] == svc) {
			memmove(&s->list[i], &s->list[i + 1], (s->n - i - 1) * sizeof(*s->list));
			s->n--;
			break;
		}
}

/* ---- API ---- */

/* Locks ctx and checks it may change services. Unlocks on error. */
static int begin_change(struct microseg_ctx *ctx, const char *what)
{
	MS_LOCK(ctx);
	int err = 0;
	if (ms_ctx_read_only(ctx))
		err = ms_err(ctx, -EROFS, "%s: the context is read-only", what);
	else if (ctx->purged)
		err = ms_err(ctx, -ESHUTDOWN, "%s: the instance was purged", what);
	else if (!svcs(ctx))
		err = -ENOMEM;
	if (err)
		MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_service_add(struct microseg_ctx *ctx, const struct microseg_service_opts *opts,
				      struct microseg_service **out)
{
	if (!ctx)
		return -EINVAL;
	int err = begin_change(ctx, "service add");
	if (err)
		return err;
	struct microseg_service *svc = NULL;
	if (!opts || !out || !MS_OPTS_OK(opts, struct microseg_service_opts)) {
		err = ms_err(ctx, -EINVAL, "service: opts or out is NULL, or opts->sz is wrong");
		goto out;
	}
	svc = calloc(1, sizeof(*svc));
	if (!svc) {
		err = -ENOMEM;
		goto out;
	}
	svc->magic = SVC_MAGIC;
	if ((err = parse_frontend(ctx, opts, svc)))
		goto out;
	if (find_frontend(ctx->svc, &svc->vip, svc->port, svc->proto)) {
		err = ms_err(ctx, -EEXIST, "service: %s:%u/%s exists", svc->vip_text, svc->port,
			     svc->proto == MICROSEG_PROTO_TCP ? "tcp" : "udp");
		goto out;
	}
	if (ctx->svc->n >= ctx->dp.meta.max_services) {
		err = ms_err(ctx, -ENOSPC, "service: max_services (%u) reached", ctx->dp.meta.max_services);
		goto out;
	}
	svc->id = ctx->svc->next_id;
	if (ms_ctx_writes_kernel(ctx) && ((err = attach_sock_programs(ctx)) || (err = ms_dp_config_set_flag(ctx, MS_CFG_F_SERVICES, true))))
		goto out;
	/* No backend yet: the entry refuses connections (n_slots 0). */
	if (ms_ctx_writes_kernel(ctx) && (err = write_service_entry(ctx, svc, 0, 0)))
		goto out;
	if ((err = insert(ctx->svc, svc)) || (err = log_service(ctx, svc))) {
		if (!err)
			unlink_svc(ctx->svc, svc);
		if (ms_ctx_writes_kernel(ctx)) {
			struct ms_lb_key k;
			lb_key(svc, &k);
			bpf_map_delete_elem(ctx->dp.map_fd[MS_M_LB_SERVICES], &k);
		}
		goto out;
	}
	ctx->svc->next_id++;
	*out = svc;
	svc = NULL;
out:
	svc_free(svc);
	MS_UNLOCK(ctx);
	return err;
}

static void remove_locked(struct microseg_ctx *ctx, struct microseg_service *svc)
{
	struct ms_services *s = ctx->svc;
	if (ms_ctx_writes_kernel(ctx)) {
		struct ms_lb_key k;
		lb_key(svc, &k);
		bpf_map_delete_elem(ctx->dp.map_fd[MS_M_LB_SERVICES], &k);
		for (int h = 0; h < 2; h++)
			delete_slots(ctx, s, svc->id, (uint8_t)h, 0, svc->written[h]);
		for (size_t i = 0; i < svc->n; i++)
			bpf_map_delete_elem(ctx->dp.map_fd[MS_M_LB_BACKENDS], &svc->b[i].id);
	}
	for (size_t i = 0; i < svc->n; i++)
		bid_set(s, svc->b[i].id, false);
	log_change(ctx, "del %u\n", svc->id);
	unlink_svc(s, svc);
	svc_free(svc);
}

MICROSEG_API int microseg_service_remove(struct microseg_ctx *ctx, struct microseg_service *svc)
{
	if (!ctx)
		return -EINVAL;
	int err = begin_change(ctx, "service remove");
	if (err)
		return err;
	struct microseg_service *s = svc_checked(ctx, svc);
	if (!s)
		err = ms_err(ctx, svc ? -ENOENT : -EINVAL, "service: not a live service of this context");
	else
		remove_locked(ctx, s);
	MS_UNLOCK(ctx);
	return err;
}

static struct svc_backend *find_backend(struct microseg_service *svc, const struct ms_addr *a, uint16_t port)
{
	for (size_t i = 0; i < svc->n; i++)
		if (svc->b[i].port == port && ms_addr_equal(&svc->b[i].addr, a))
			return &svc->b[i];
	return NULL;
}

/* address:port of a backend call, checked against the service's family. */
static int parse_backend_addr(struct microseg_ctx *ctx, const struct microseg_service *svc, const char *addr,
			      uint16_t port, struct ms_addr *a)
{
	if (!addr || ms_addr_parse(addr, a) || a->prefixlen != (a->family == MS_FAMILY_IPV4 ? 32 : 128))
		return ms_err(ctx, -EINVAL, "service: backend address \"%.64s\" is not an IP address",
			      addr ? addr : "(null)");
	if (a->family != svc->vip.family)
		return ms_err(ctx, -EINVAL, "service: backend %s is not of the frontend's IP family", addr);
	if (!port)
		return ms_err(ctx, -EINVAL, "service: backend port 0");
	return 0;
}

/* One backend of an add call, checked: against the service's family, ranges, and the
 * backends the service has (those of the same call already appended included). */
static int backend_from_opts(struct microseg_ctx *ctx, const struct microseg_service *s,
			     const struct microseg_backend_opts *opts, struct svc_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->port = MS_OPT(opts, port, 0);
	b->weight = MS_OPT(opts, weight, 0);
	b->state = MS_OPT(opts, state, MICROSEG_BACKEND_ACTIVE);
	int err = parse_backend_addr(ctx, s, MS_OPT(opts, address, NULL), b->port, &b->addr);
	if (err)
		return err;
	b->weight = b->weight ? b->weight : 1;
	if (b->weight > MICROSEG_BACKEND_WEIGHT_MAX || b->state > MICROSEG_BACKEND_MAINTENANCE)
		return ms_err(ctx, -EINVAL, "service: weight %u (1..%d) or state %u out of range", b->weight,
			      MICROSEG_BACKEND_WEIGHT_MAX, b->state);
	ms_addr_format(&b->addr, b->text, sizeof(b->text));
	if (find_backend((struct microseg_service *)s, &b->addr, b->port))
		return ms_err(ctx, -EEXIST, "service: backend %s:%u exists", b->text, b->port);
	return 0;
}

/* Takes back the backends s->b[base, s->n) of a failed add. */
static void backends_unwind(struct microseg_ctx *ctx, struct microseg_service *s, size_t base)
{
	for (size_t i = base; i < s->n; i++) {
		bid_set(ctx->svc, s->b[i].id, false);
		if (ms_ctx_writes_kernel(ctx))
			bpf_map_delete_elem(ctx->dp.map_fd[MS_M_LB_BACKENDS], &s->b[i].id);
	}
	s->n = base;
}

/* Appends one checked backend: an id, its datapath entry (counters from 0), in s->b. */
static int backend_append(struct microseg_ctx *ctx, struct microseg_service *s, struct svc_backend *b)
{
	int err = bid_alloc(ctx->svc, &b->id);
	if (err)
		return ms_err(ctx, err, "service: max_backends (%u) reached", ctx->svc->max_backends);
	if (ms_ctx_writes_kernel(ctx)) {
		uint64_t zero[256] = { 0 }; /* a reused id starts counting from 0 */
		if (ctx->dp.ncpus <= 256)
			bpf_map_update_elem(ctx->dp.map_fd[MS_M_LB_BACKEND_STATS], &b->id, zero, BPF_ANY);
		if ((err = write_backend(ctx, s, b))) {
			bid_set(ctx->svc, b->id, false);
			return err;
		}
	}
	s->b[s->n++] = *b;
	return 0;
}

MICROSEG_API int microseg_service_backend_add_many(struct microseg_ctx *ctx, struct microseg_service *svc,
						   const struct microseg_backend_opts *opts, size_t n)
{
	if (!ctx)
		return -EINVAL;
	int err = begin_change(ctx, "backend add");
	if (err)
		return err;
	struct microseg_service *s = svc_checked(ctx, svc);
	/* The caller's element size is the stride: a program built with an older, shorter
	 * struct still passes a well-formed array. */
	size_t stride = opts && n ? opts->sz : 0;
	size_t base = s ? s->n : 0;
	bool published = false;
	if (!s) {
		err = ms_err(ctx, svc ? -ENOENT : -EINVAL, "service: not a live service of this context");
		goto out;
	}
	if (n && !opts) {
		err = ms_err(ctx, -EINVAL, "service: backend opts NULL");
		goto out;
	}
	if (n > BACKENDS_PER_SERVICE_MAX - s->n) {
		err = ms_err(ctx, -ENOSPC, "service: %d backends per service at most", BACKENDS_PER_SERVICE_MAX);
		goto out;
	}
	if (s->n + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4;
		while (cap < s->n + n)
			cap *= 2;
		struct svc_backend *p = realloc(s->b, cap * sizeof(*p));
		if (!p) {
			err = -ENOMEM;
			goto out;
		}
		s->b = p;
		s->cap = cap;
	}
	for (size_t i = 0; i < n && !err; i++) {
		const struct microseg_backend_opts *o = (const void *)((const char *)opts + i * stride);
		struct svc_backend b;
		if (!MS_OPTS_OK(o, struct microseg_backend_opts) || o->sz != stride)
			err = ms_err(ctx, -EINVAL, "service: backend opts[%zu].sz wrong or unlike opts[0].sz", i);
		else if (!(err = backend_from_opts(ctx, s, o, &b)))
			err = backend_append(ctx, s, &b);
	}
	if (!err && n) {
		err = publish(ctx, s);
		published = !err;
	}
	for (size_t i = base; i < s->n && !err; i++)
		err = log_backend(ctx, s, &s->b[i]);
	if (err) { /* back to the old set; the datapath read it all along unless published */
		backends_unwind(ctx, s, base);
		if (published)
			publish(ctx, s);
	}
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_service_backend_add(struct microseg_ctx *ctx, struct microseg_service *svc,
					      const struct microseg_backend_opts *opts)
{
	return microseg_service_backend_add_many(ctx, svc, opts, 1);
}

/* The backend address:port of a live service, or an error recorded on ctx. */
static int locate_backend(struct microseg_ctx *ctx, struct microseg_service *svc, const char *address, uint16_t port,
			  struct microseg_service **s, struct svc_backend **b)
{
	struct ms_addr a;
	int err;
	*b = NULL;
	if (!(*s = svc_checked(ctx, svc)))
		return ms_err(ctx, svc ? -ENOENT : -EINVAL, "service: not a live service of this context");
	if ((err = parse_backend_addr(ctx, *s, address, port, &a)))
		return err;
	if (!(*b = find_backend(*s, &a, port)))
		return ms_err(ctx, -ENOENT, "service: no backend %s:%u", address, port);
	return 0;
}

MICROSEG_API int microseg_service_backend_remove(struct microseg_ctx *ctx, struct microseg_service *svc,
						 const char *address, uint16_t port)
{
	if (!ctx)
		return -EINVAL;
	int err = begin_change(ctx, "backend remove");
	if (err)
		return err;
	struct microseg_service *s;
	struct svc_backend *b;
	if ((err = locate_backend(ctx, svc, address, port, &s, &b)))
		goto out;
	struct svc_backend gone = *b;
	size_t idx = (size_t)(b - s->b);
	memmove(b, b + 1, (s->n - idx - 1) * sizeof(*b));
	s->n--;
	if ((err = publish(ctx, s))) {
		memmove(&s->b[idx + 1], &s->b[idx], (s->n - idx) * sizeof(*b));
		s->b[idx] = gone;
		s->n++;
		goto out;
	}
	/* After the flip nothing new picks it; connections already made do not need it. */
	if (ms_ctx_writes_kernel(ctx))
		bpf_map_delete_elem(ctx->dp.map_fd[MS_M_LB_BACKENDS], &gone.id);
	bid_set(ctx->svc, gone.id, false);
	err = log_change(ctx, "be- %u %u\n", s->id, gone.id);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_service_backend_set_state(struct microseg_ctx *ctx, struct microseg_service *svc,
						    const char *address, uint16_t port, uint32_t state)
{
	if (!ctx)
		return -EINVAL;
	int err = begin_change(ctx, "backend state");
	if (err)
		return err;
	struct microseg_service *s;
	struct svc_backend *b;
	if (state > MICROSEG_BACKEND_MAINTENANCE)
		err = ms_err(ctx, -EINVAL, "service: unknown backend state %u", state);
	else
		err = locate_backend(ctx, svc, address, port, &s, &b);
	if (err || b->state == state)
		goto out;
	uint32_t old = b->state;
	b->state = state;
	/* The datapath refuses a pick whose backend is not active: a backend going active is
	 * marked before the slots name it, one leaving is marked after the slots stop naming it,
	 * so no connection is refused in between. */
	bool kern = ms_ctx_writes_kernel(ctx);
	if (state == MICROSEG_BACKEND_ACTIVE) {
		err = kern ? write_backend(ctx, s, b) : 0;
		if (!err)
			err = publish(ctx, s);
	} else {
		err = publish(ctx, s);
		if (!err && kern)
			err = write_backend(ctx, s, b);
	}
	if (err) {
		b->state = old;
		if (ms_ctx_writes_kernel(ctx))
			write_backend(ctx, s, b);
		goto out;
	}
	err = log_change(ctx, "st %u %u %u\n", s->id, b->id, state);
out:
	MS_UNLOCK(ctx);
	return err;
}

/* ---- reading ---- */

static void fill_info(const struct microseg_service *s, struct microseg_service_info *o)
{
	o->id = s->id;
	snprintf(o->name, sizeof(o->name), "%s", s->name);
	snprintf(o->address, sizeof(o->address), "%.45s", s->vip_text);
	o->port = s->port;
	o->proto = s->proto;
	o->algorithm = s->algorithm;
	o->maglev_table_size = s->algorithm == MICROSEG_LB_MAGLEV ? s->maglev_size : 0;
	o->affinity_timeout_s = s->affinity_s;
	o->n_backends = (uint32_t)s->n;
	for (size_t i = 0; i < s->n; i++)
		o->n_active += s->b[i].state == MICROSEG_BACKEND_ACTIVE;
}

MICROSEG_API int microseg_service_get_info(struct microseg_ctx *ctx, const struct microseg_service *svc,
					   struct microseg_service_info *info)
{
	if (!ctx || !info || info->sz < sizeof(*info))
		return -EINVAL;
	MS_LOCK(ctx);
	struct microseg_service *s = svc_checked(ctx, svc);
	int err = s ? 0 : ms_err(ctx, svc ? -ENOENT : -EINVAL, "service: not a live service of this context");
	if (s) {
		size_t sz = info->sz;
		memset(info, 0, sizeof(*info));
		info->sz = sz;
		fill_info(s, info);
	}
	MS_UNLOCK(ctx);
	return err;
}

static uint64_t backend_connections(struct microseg_ctx *ctx, uint32_t id)
{
	if (ms_ctx_offline(ctx) || ctx->dp.ncpus <= 0 || ctx->dp.ncpus > 1024)
		return 0;
	struct ms_lb_backend_stats per[1024];
	if (bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_LB_BACKEND_STATS], &id, per))
		return 0;
	uint64_t sum = 0;
	for (int c = 0; c < ctx->dp.ncpus; c++)
		sum += per[c].connections;
	return sum;
}

void ms_services_each_backend(struct microseg_ctx *ctx, ms_backend_fn fn, void *user)
{
	for (size_t i = 0; ctx->svc && i < ctx->svc->n; i++) {
		const struct microseg_service *s = ctx->svc->list[i];
		struct microseg_service_info info = { .sz = sizeof(info) };
		fill_info(s, &info);
		for (size_t k = 0; k < s->n; k++) {
			struct microseg_backend_info b = { .sz = sizeof(b) };
			snprintf(b.address, sizeof(b.address), "%.45s", s->b[k].text);
			b.port = s->b[k].port;
			b.weight = s->b[k].weight;
			b.state = s->b[k].state;
			b.connections = backend_connections(ctx, s->b[k].id);
			fn(user, &info, &b);
		}
	}
}

MICROSEG_API int microseg_service_backends(struct microseg_ctx *ctx, const struct microseg_service *svc,
					   struct microseg_backend_info *out, size_t cap, size_t *count)
{
	if (!ctx || !count || (cap && !out))
		return -EINVAL;
	MS_LOCK(ctx);
	struct microseg_service *s = svc_checked(ctx, svc);
	int err = s ? 0 : ms_err(ctx, svc ? -ENOENT : -EINVAL, "service: not a live service of this context");
	if (s) {
		*count = s->n;
		for (size_t i = 0; i < s->n && i < cap; i++) {
			struct microseg_backend_info *o = &out[i];
			memset(o, 0, sizeof(*o));
			o->sz = sizeof(*o);
			snprintf(o->address, sizeof(o->address), "%.45s", s->b[i].text);
			o->port = s->b[i].port;
			o->weight = s->b[i].weight;
			o->state = s->b[i].state;
			o->connections = backend_connections(ctx, s->b[i].id);
		}
		err = cap < s->n ? -ENOSPC : 0;
	}
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_service_list(struct microseg_ctx *ctx, struct microseg_service **out, size_t cap,
				       size_t *count)
{
	if (!ctx || !count || (cap && !out))
		return -EINVAL;
	MS_LOCK(ctx);
	size_t n = ctx->svc ? ctx->svc->n : 0;
	for (size_t i = 0; i < n && i < cap; i++)
		out[i] = ctx->svc->list[i];
	*count = n;
	MS_UNLOCK(ctx);
	return cap < n ? -ENOSPC : 0;
}

MICROSEG_API int microseg_service_find(struct microseg_ctx *ctx, const char *address, uint16_t port,
				       uint32_t proto, struct microseg_service **svc)
{
	struct ms_addr a;
	if (!ctx || !svc || !address || ms_addr_parse(address, &a))
		return -EINVAL;
	MS_LOCK(ctx);
	struct microseg_service *s = find_frontend(ctx->svc, &a, port, (uint8_t)proto);
	MS_UNLOCK(ctx);
	if (!s)
		return -ENOENT;
	*svc = s;
	return 0;
}

/* ---- restore ---- */

static struct microseg_service *by_id(struct ms_services *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->list[i]->id == id)
			return s->list[i];
	return NULL;
}

static struct svc_backend *backend_by_id(struct microseg_service *svc, uint32_t id)
{
	for (size_t i = 0; svc && i < svc->n; i++)
		if (svc->b[i].id == id)
			return &svc->b[i];
	return NULL;
}

/* One log line applied to memory (no kernel change: the maps already hold it). */
static int replay(struct microseg_ctx *ctx, const char *line)
{
	struct ms_services *s = ctx->svc;
	char addr[MS_ADDR_STRLEN], name[MICROSEG_SERVICE_NAME_MAX + 1];
	unsigned id, bid, port, proto, algo, msize, aff, w, st;
	if (sscanf(line, "svc %u %47s %u %u %u %u %u %253s", &id, addr, &port, &proto, &algo, &msize, &aff, name) == 8) {
		struct microseg_service *svc = calloc(1, sizeof(*svc));
		if (!svc)
			return -ENOMEM;
		svc->magic = SVC_MAGIC;
		svc->id = id;
		if (ms_addr_parse(addr, &svc->vip) || by_id(s, id)) {
			svc_free(svc);
			return -EPROTO;
		}
		snprintf(svc->vip_text, sizeof(svc->vip_text), "%s", addr);
		snprintf(svc->name, sizeof(svc->name), "%s", strcmp(name, "-") ? name : "");
		svc->port = (uint16_t)port;
		svc->proto = (uint8_t)proto;
		svc->algorithm = algo;
		svc->maglev_size = msize;
		svc->affinity_s = aff;
		int err = insert(s, svc);
		if (err)
			svc_free(svc);
		if (id >= s->next_id)
			s->next_id = id + 1;
		return err;
	}
	if (sscanf(line, "be %u %u %47s %u %u %u", &id, &bid, addr, &port, &w, &st) == 6) {
		struct microseg_service *svc = by_id(s, id);
		struct svc_backend b = { .id = bid, .port = (uint16_t)port, .weight = (uint16_t)w, .state = st };
		if (!svc || !bid || bid >= s->max_backends || ms_addr_parse(addr, &b.addr))
			return -EPROTO;
		snprintf(b.text, sizeof(b.text), "%s", addr);
		if (svc->n == svc->cap) {
			size_t cap = svc->cap ? svc->cap * 2 : 4;
			struct svc_backend *p = realloc(svc->b, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			svc->b = p;
			svc->cap = cap;
		}
		svc->b[svc->n++] = b;
		bid_set(s, bid, true);
		return 0;
	}
	if (sscanf(line, "be- %u %u", &id, &bid) == 2) {
		struct microseg_service *svc = by_id(s, id);
		struct svc_backend *b = backend_by_id(svc, bid);
		if (!b)
			return -EPROTO;
		bid_set(s, bid, false);
		memmove(b, b + 1, (size_t)(svc->b + svc->n - b - 1) * sizeof(*b));
		svc->n--;
		return 0;
	}
	if (sscanf(line, "st %u %u %u", &id, &bid, &st) == 3) {
		struct svc_backend *b = backend_by_id(by_id(s, id), bid);
		if (!b)
			return -EPROTO;
		b->state = st;
		return 0;
	}
	if (sscanf(line, "del %u", &id) == 1) {
		struct microseg_service *svc = by_id(s, id);
		if (!svc)
			return -EPROTO;
		for (size_t i = 0; i < svc->n; i++)
			bid_set(s, svc->b[i].id, false);
		unlink_svc(s, svc);
		svc_free(svc);
		return 0;
	}
	return -EPROTO;
}

/* Which half is live, and how many slots each half holds, from the kernel's entry. */
static void sync_halves(struct microseg_ctx *ctx, struct microseg_service *svc)
{
	struct ms_lb_key k;
	struct ms_lb_service v;
	lb_key(svc, &k);
	if (bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_LB_SERVICES], &k, &v) == 0) {
		svc->half = v.half;
		svc->written[v.half] = v.n_slots;
	}
}

static int cmp_svc_id(const void *a, const void *b)
{
	uint32_t x = (*(struct microseg_service *const *)a)->id, y = (*(struct microseg_service *const *)b)->id;
	return x < y ? -1 : x > y;
}

int ms_services_restore(struct microseg_ctx *ctx)
{
	char path[MICROSEG_PATH_MAX + 64];
	if (log_path(ctx, path, sizeof(path), ""))
		return -ENAMETOOLONG;
	/* An instance that never had a service allocates nothing for them. */
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : ms_err(ctx, -errno, "service: cannot read %s", path);
	if (!svcs(ctx)) {
		fclose(f);
		return -ENOMEM;
	}
	char line[1024];
	unsigned lineno = 0;
	int err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n'))
			break; /* torn by a crash mid-write: the change it named did not complete */
		err = replay(ctx, line);
		if (err == -EPROTO)
			err = ms_err(ctx, err, "service: %s line %u is not a service record", path, lineno);
		ctx->svc->log_lines++;
	}
	fclose(f);
	if (err)
		return err;
	for (size_t i = 0; i < ctx->svc->n; i++)
		sync_halves(ctx, ctx->svc->list[i]);
	ctx->svc->next_backend = 1;
	/* Records come in log order; the list is kept by id. */
	qsort(ctx->svc->list, ctx->svc->n, sizeof(*ctx->svc->list), cmp_svc_id);
	return 0;
}
