/* SPDX-License-Identifier: Apache-2.0 */
#include "dp_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

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

int dp_map_clear(int fd, size_t key_size)
{
	uint8_t key[64], next[64];

	if (key_size > sizeof(key))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	}
	return 0;
}

int dp_ipc_put(int fd, const char *addr, uint32_t plen, uint32_t identity, uint32_t ifindex,
	       uint32_t ep_id, uint32_t flags)
{
	struct ms_ipcache_key k = { 0 };
	struct ms_ipcache_value v = { .identity = identity, .ifindex = ifindex, .ep_id = ep_id,
				      .flags = flags };

	if (inet_pton(AF_INET, addr, k.addr) == 1)
		k.family = MS_FAMILY_IPV4;
	else if (inet_pton(AF_INET6, addr, k.addr) == 1)
		k.family = MS_FAMILY_IPV6;
	else
		return -EINVAL;
	k.prefixlen = 32 + plen;
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

int dp_policy_table_create(uint32_t max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "ms_pol_test", sizeof(struct ms_policy_key),
				sizeof(struct ms_policy_value), max_entries, &o);

	return fd < 0 ? -errno : fd;
}

int dp_pkt_build(struct pb *p, const struct dp_pkt *k, const char *smac, const char *dmac)
{
	/* Static: a frame is too big for the stack; quotes nest only one level. */
	static struct pb inner;

	pb_init(p);
	pb_eth(p, k->smac ? k->smac : smac, dmac, 0);
	if (k->v6)
		pb_ipv6(p, k->src, k->dst);
	else
		pb_ipv4(p, k->src, k->dst);
	if (k->later_frag) {
		if (k->v6) {
			pb_ipv6_frag(p, 185, 0, 0x4d53);
			pb_set_next(p, k->proto);
		} else {
			pb_set_next(p, k->proto);
			pb_ipv4_frag(p, 185, 0);
		}
		pb_payload(p, NULL, 64);
		return pb_finish(p);
	}
	switch (k->proto) {
	case IPPROTO_TCP:
		pb_tcp(p, k->sport, k->dport, k->tcp);
		break;
	case IPPROTO_UDP:
		pb_udp(p, k->sport, k->dport);
		pb_payload(p, NULL, 32);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (k->proto == IPPROTO_ICMP)
			pb_icmp(p, k->type, k->code);
		else
			pb_icmp6(p, k->type, k->code);
		if (!p->err && k->sport) {
			p->data[p->l4_off + 4] = k->sport >> 8;
			p->data[p->l4_off + 5] = k->sport & 0xff;
		}
		if (k->quote) {
			int n = dp_pkt_build(&inner, k->quote, dmac, smac);

			if (n < 0)
				return n;
			pb_payload(p, inner.data + inner.l3_off, inner.len - inner.l3_off);
		} else {
			pb_payload(p, NULL, 16);
		}
		break;
	default:
		pb_set_next(p, k->proto);
		pb_payload(p, NULL, 32);
	}
	return pb_finish(p);
}

int dp_policy_install(int pol_fd, uint32_t slot, const struct dp_rule *rules, size_t n,
		      uint32_t max_entries)
{
	size_t i;
	int fd, err = 0;

	fd = dp_policy_table_create(max_entries);
	if (fd < 0)
		return fd;
	for (i = 0; i < n && !err; i++) {
		const struct dp_rule *r = &rules[i];
		struct ms_policy_key k = {
			.prefixlen = MS_POLICY_PREFIX_BASE + r->bits,
			.identity = r->id,
			.dir = r->dir,
			.proto = r->proto,
			.port = htons(r->bits ? r->port & (uint16_t)(0xffff << (16 - r->bits)) : 0),
		};
		struct ms_policy_value v = { .action = r->action, .rule_id = r->rule_id };

		err = bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) ? -errno : 0;
	}
	if (!err)
		err = bpf_map_update_elem(pol_fd, &slot, &fd, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

void dp_print_insns(const char *name, int prog_fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0)
		printf("# %s: %u instructions, %u processed by the verifier\n", name,
		       info.xlated_prog_len / 8, info.verified_insns);
}

int dp_stats_snapshot(int fd, int ncpus, uint32_t n, struct ms_ep_stats *out)
{
	struct ms_ep_stats *percpu = calloc(ncpus, sizeof(*percpu));
	uint32_t id;
	int c, d, r;

	if (!percpu)
		return -ENOMEM;
	memset(out, 0, sizeof(*out) * n);
	for (id = 0; id < n; id++) {
		if (bpf_map_lookup_elem(fd, &id, percpu)) {
			free(percpu);
			return -errno;
		}
		for (c = 0; c < ncpus; c++) {
			for (d = 0; d < MS_DIR_MAX; d++) {
				out[id].fwd[d].packets += percpu[c].fwd[d].packets;
				out[id].fwd[d].bytes += percpu[c].fwd[d].bytes;
				for (r = 0; r < MS_DROP_MAX; r++) {
					out[id].drop[d][r].packets += percpu[c].drop[d][r].packets;
					out[id].drop[d][r].bytes += percpu[c].drop[d][r].bytes;
				}
			}
		}
	}
	free(percpu);
	return 0;
}

static const struct ms_counter *slot(const struct ms_ep_stats *s, int dir, int reason)
{
	return reason == MS_DROP_NONE ? &s->fwd[dir] : &s->drop[dir][reason];
}

int dp_stats_check(const struct ms_ep_stats *before, const struct ms_ep_stats *after,
		   uint32_t n, const struct dp_count *want, size_t n_want, uint64_t len)
{
	uint32_t id;
	int d, r, bad = 0;

	for (id = 0; id < n; id++) {
		for (d = 0; d < MS_DIR_MAX; d++) {
			for (r = 0; r < MS_DROP_MAX; r++) {
				const struct ms_counter *b = slot(&before[id], d, r);
				const struct ms_counter *a = slot(&after[id], d, r);
				uint64_t wp = 0;
				size_t i;

				for (i = 0; i < n_want && want[i].ep_id; i++)
					if (want[i].ep_id == id && want[i].dir == d &&
					    want[i].reason == r)
						wp += want[i].packets;
				if (a->packets - b->packets == wp && a->bytes - b->bytes == wp * len)
					continue;
				char what[32];

				if (r)
					snprintf(what, sizeof(what), "drop reason %d", r);
				else
					snprintf(what, sizeof(what), "forwarded");
				printf("#   ep %u %s %s: got +%llu pkts +%llu bytes, want +%llu +%llu\n",
				       id, d == MS_DIR_EGRESS ? "egress" : "ingress", what,
				       (unsigned long long)(a->packets - b->packets),
				       (unsigned long long)(a->bytes - b->bytes),
				       (unsigned long long)wp, (unsigned long long)(wp * len));
				bad = 1;
			}
		}
	}
	return bad ? -1 : 0;
}

int dp_env_init(struct dp_env *e, const char *prefix, unsigned int flags,
		uint32_t policy_entries)
{
	char a[16], b[16];

	if (dp_private_netns())
		return -1;
	snprintf(a, sizeof(a), "%sa%d", prefix, (int)getpid());
	snprintf(b, sizeof(b), "%sb%d", prefix, (int)getpid());
	if ((flags & DP_NO_IPV6) && dp_sh("sysctl -q -w net.ipv6.conf.default.disable_ipv6=1"))
		return -1;
	if (dp_veth_pair(a, b, !!(flags & DP_LINKS_UP), &e->if_a, &e->if_b))
		return -1;
	e->ncpus = libbpf_num_possible_cpus();
	if (e->ncpus <= 0)
		return -1;
	e->template_fd = dp_policy_table_create(policy_entries);
	return e->template_fd < 0 ? -1 : 0;
}

static struct bpf_map *map_named(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		printf("# no map %s in the object\n", name);
	return m;
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = map_named(obj, name);

	return m ? bpf_map__fd(m) : -1;
}

static int resize(struct bpf_object *obj, const char *name, uint32_t max_entries)
{
	struct bpf_map *m;

	if (!max_entries)
		return 0;
	m = map_named(obj, name);
	return m ? bpf_map__set_max_entries(m, max_entries) : -1;
}

int dp_env_load(struct dp_env *e, struct bpf_object *obj, uint32_t *max_endpoints,
		const struct dp_sizes *s)
{
	struct bpf_map *pol = map_named(obj, MS_MAP_POLICY);
	struct bpf_program *from, *to;

	if (!pol || bpf_map__set_inner_map_fd(pol, e->template_fd))
		return -1;
	if (resize(obj, MS_MAP_ENDPOINTS, s->endpoints) ||
	    resize(obj, MS_MAP_EP_STATS, s->endpoints) ||
	    resize(obj, MS_MAP_IPCACHE, s->ipcache) ||
	    resize(obj, MS_MAP_POLICY, 2 * s->endpoints) ||
	    resize(obj, MS_MAP_POLICY_EXACT, s->policy_exact) ||
	    resize(obj, MS_MAP_CT, s->ct) ||
	    resize(obj, MS_MAP_EVENTS, s->ring_bytes))
		return -1;
	if (s->endpoints)
		*max_endpoints = s->endpoints;
	if (bpf_object__load(obj)) {
		printf("# loading the programs failed (verifier log above)\n");
		return -1;
	}
	from = bpf_object__find_program_by_name(obj, MS_PROG_FROM_CONTAINER);
	to = bpf_object__find_program_by_name(obj, MS_PROG_TO_CONTAINER);
	if (!from || !to)
		return -1;
	e->prog[0] = bpf_program__fd(from);
	e->prog[1] = bpf_program__fd(to);
	e->eps = map_fd(obj, MS_MAP_ENDPOINTS);
	e->ipc = map_fd(obj, MS_MAP_IPCACHE);
	e->stats = map_fd(obj, MS_MAP_EP_STATS);
	e->ct = map_fd(obj, MS_MAP_CT);
	e->cfg = map_fd(obj, MS_MAP_CONFIG);
	e->pol = map_fd(obj, MS_MAP_POLICY);
	e->evstate = map_fd(obj, MS_MAP_EVENT_STATE);
	e->events = map_fd(obj, MS_MAP_EVENTS);
	if (e->eps < 0 || e->ipc < 0 || e->stats < 0 || e->ct < 0 || e->cfg < 0 || e->pol < 0 ||
	    e->evstate < 0 || e->events < 0)
		return -1;
	return 0;
}

/* The TAP counters of this process. */
static int tap_n, tap_failed;

void dp_tap_start(const char *test, int (*setup)(void), int planned)
{
	dp_require_root(test);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup()) {
		printf("Bail out! setup failed\n");
		exit(1);
	}
	printf("1..%d\n", planned);
}

int dp_tap_ok(int bad, const char *name)
{
	printf("%s %d - %s\n", bad ? "not ok" : "ok", ++tap_n, name);
	tap_failed += !!bad;
	return bad;
}

int dp_tap_done(const char *note)
{
	printf("# %d of %d passed%s%s\n", tap_n - tap_failed, tap_n, note ? " " : "",
	       note ? note : "");
	return tap_failed ? 1 : 0;
}
