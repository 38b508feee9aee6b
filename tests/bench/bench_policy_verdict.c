// SPDX-License-Identifier: Apache-2.0
/*
 * Part 1: what one packet costs ms_to_container as the endpoint's policy table grows.
 *
 * Three server endpoints live side by side, each selected by its own rules so that its table
 * holds about 10, 1,000 and 100,000 entries (peer identities x ports); one client endpoint
 * gives the packets' source address the identity of the last peer. The pinned program runs
 * through BPF_PROG_TEST_RUN with ctx_in.ifindex = the server's host-side veth, exactly as TC
 * egress of that veth would run it. Sizes are measured interleaved, round after round, so a
 * change in machine load hits all of them alike; the figure is the median over rounds.
 */
#include "bench_policy.h"

#include "microseg_abi.h"
#include "pktbuild.h"
#include "topo.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SIZES 3
#define N_PEERS 1000
#define ALLOWED_PORT 8080
#define DENIED_PORT 9
#define SPORT_EST 5000
#define SPORT_RST 6000
#define SPORT_DENY 7000
#define SPORT_NEW_BASE 10000
#define SPORT_NEW_MAX 60000

static const struct {
	const char *label;
	unsigned first_peer; /* rules for peers first_peer..N_PEERS-1 */
	unsigned ports;      /* ports per peer: ALLOWED_PORT + 2k, never adjacent (no merging) */
} sizes[N_SIZES] = {
	{ "10", N_PEERS - 10, 1 },
	{ "1,000", 0, 1 },
	{ "100,000", 0, 100 },
};

enum kind { K_DENY, K_NEW, K_RST, K_EST, K_COUNT };
static const char *const kind_title[K_COUNT] = {
	"denied (full lookup)", "allowed new flow (+CT insert)", "allowed, no CT insert (RST)",
	"established (CT hit)",
};

struct verdict {
	struct pbench *b;
	const char *ns;
	struct microseg_ctx *ctx;
	struct microseg_identity *server_id[N_SIZES], *peer_id[N_PEERS];
	struct microseg_endpoint *server[N_SIZES], *client;
	uint32_t server_ifindex[N_SIZES];
	char server_addr[N_SIZES][32], client_addr[32];
	int prog_fd;
	char pins[128];
};

static int frame(struct pb *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		 uint8_t flags)
{
	pb_init(p);
	pb_eth(p, NULL, NULL, 0);
	pb_ipv4(p, src, dst);
	pb_tcp(p, sport, dport, flags);
	int len = pb_finish(p);
	if (len > 0 && len < PB_ETH_MIN_FRAME) {
		pb_pad_to(p, PB_ETH_MIN_FRAME);
		len = PB_ETH_MIN_FRAME;
	}
	return len;
}

/* One BPF_PROG_TEST_RUN; *ns_per_run is the kernel's own average over repeat runs. */
static int test_run(int prog_fd, uint32_t ifindex, struct pb *p, int len, uint32_t repeat,
		    uint32_t *retval, uint32_t *ns_per_run)
{
	struct __sk_buff skb = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data, .data_size_in = (uint32_t)len,
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .repeat = repeat);
	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	*retval = o.retval;
	*ns_per_run = o.duration;
	return 0;
}

/* Entries of one inner map. */
static long count_inner(uint32_t inner_id)
{
	int t = bpf_map_get_fd_by_id(inner_id);
	if (t < 0)
		return -1;
	struct ms_policy_key k, next;
	long n = 0;
	for (void *prev = NULL; !bpf_map_get_next_key(t, prev, &next); prev = &k) {
		k = next;
		n++;
	}
	close(t);
	return n;
}

/* Entries of the table the datapath uses for ep_id now: the live half of ms_policy (LPM trie)
 * plus the same slot of ms_policy_exact (its single-port entries). */
static long count_table(struct verdict *v, uint32_t ep_id)
{
	char path[192];
	struct ms_meta meta;
	struct ms_config cfg;
	uint32_t zero = 0, inner_id, key;
	long n = -1;

	snprintf(path, sizeof(path), "%s/%s", v->pins, MS_MAP_META);
	int meta_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", v->pins, MS_MAP_CONFIG);
	int cfg_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", v->pins, MS_MAP_POLICY);
	int pol_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", v->pins, MS_MAP_POLICY_EXACT);
	int exact_fd = bpf_obj_get(path);
	if (meta_fd < 0 || cfg_fd < 0 || pol_fd < 0 || bpf_map_lookup_elem(meta_fd, &zero, &meta) ||
	    bpf_map_lookup_elem(cfg_fd, &zero, &cfg))
		goto out;
	key = (cfg.policy_rev & 1) * meta.max_endpoints + ep_id;
	if (bpf_map_lookup_elem(pol_fd, &key, &inner_id))
		goto out;
	n = count_inner(inner_id);
	if (n >= 0 && exact_fd >= 0 && !bpf_map_lookup_elem(exact_fd, &key, &inner_id)) {
		long e = count_inner(inner_id);
		n = e < 0 ? -1 : n + e;
	}
out:
	if (exact_fd >= 0)
		close(exact_fd);
	if (meta_fd >= 0)
		close(meta_fd);
	if (cfg_fd >= 0)
		close(cfg_fd);
	if (pol_fd >= 0)
		close(pol_fd);
	return n;
}

/* Whether the connection tracking table holds the ingress tuple client:sport -> server:dport. */
static int ct_has(struct verdict *v, int s, uint16_t sport, uint16_t dport)
{
	char path[192];
	struct ms_ct_key k = { .proto = IPPROTO_TCP, .family = MS_FAMILY_IPV4, .dir = MS_DIR_INGRESS };
	struct ms_ct_value val;

	snprintf(path, sizeof(path), "%s/%s", v->pins, MS_MAP_CT);
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, v->client_addr, k.saddr);
	inet_pton(AF_INET, v->server_addr[s], k.daddr);
	k.sport = htons(sport);
	k.dport = htons(dport);
	int r = bpf_map_lookup_elem(fd, &k, &val) == 0;
	close(fd);
	return r;
}

static int setup(struct verdict *v)
{
	struct pbench *b = v->b;
	char label[64], host[16];
	int err;

	v->ns = topo_netns_add("p1");
	if (!v->ns)
		return -errno;
	const char *nspath = topo_netns_path(v->ns);
	err = bp_ctx_open(b, "v", 0, 0, 1u << 20, 0, &v->ctx);
	if (err)
		return err;
	snprintf(v->pins, sizeof(v->pins), "/sys/fs/bpf/microseg/pb%dv", (int)b->pid);

	for (int s = 0; s < N_SIZES; s++) {
		snprintf(label, sizeof(label), "k8s:role=server%d", s);
		if ((err = bp_identity(v->ctx, &v->server_id[s], label, "k8s:bench=p1", NULL)))
			return err;
	}
	for (int i = 0; i < N_PEERS; i++) {
		snprintf(label, sizeof(label), "k8s:peer=%d", i);
		if ((err = bp_identity(v->ctx, &v->peer_id[i], label, NULL)))
			return err;
	}
	for (int s = 0; s <= N_SIZES; s++) {
		const char *h = topo_ifname();
		char peer[8];
		if (!h)
			return -ENOSPC;
		snprintf(host, sizeof(host), "%s", h);
		snprintf(peer, sizeof(peer), "e%d", s);
		int ifindex = bp_veth(host, peer, nspath);
		if (ifindex < 0)
			return ifindex;
		bool is_client = s == N_SIZES;
		char *addr = is_client ? v->client_addr : v->server_addr[s];
		snprintf(addr, 32, "10.200.%d.%d", b->subnet, 10 + s);
		const char *addrs[] = { addr };
		MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = host, .addrs = addrs, .n_addrs = 1,
			      .identity = is_client ? v->peer_id[N_PEERS - 1] : v->server_id[s]);
		err = microseg_endpoint_add(v->ctx, &eo, is_client ? &v->client : &v->server[s]);
		if (err) {
			fprintf(stderr, "bench-policy: endpoint %s: %s (%s)\n", host, microseg_strerror(err),
				microseg_ctx_last_error(v->ctx));
			return err;
		}
		if (!is_client)
			v->server_ifindex[s] = (uint32_t)ifindex;
	}
	return 0;
}

/* All three rule sets in one transaction. */
static int add_rules(struct verdict *v, size_t *n_rules)
{
	uint16_t ports[128];
	char ep_label[64], peer_label[64];
	int err = microseg_policy_begin(v->ctx);

	*n_rules = 0;
	for (int s = 0; s < N_SIZES && !err; s++) {
		snprintf(ep_label, sizeof(ep_label), "k8s:role=server%d", s);
		for (unsigned k = 0; k < sizes[s].ports; k++)
			ports[k] = (uint16_t)(ALLOWED_PORT + 2 * k);
		for (unsigned p = sizes[s].first_peer; p < N_PEERS && !err; p++) {
			const char *pl[] = { peer_label };
			struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
						      .selector = { .match_labels = pl, .n_match_labels = 1 } };
			struct microseg_rule *r;
			snprintf(peer_label, sizeof(peer_label), "k8s:peer=%u", p);
			err = bp_rule_ingress(v->ctx, ep_label, &peer, 1, MICROSEG_PROTO_TCP, ports,
					      sizes[s].ports, &r);
			(*n_rules)++;
		}
	}
	if (err) {
		microseg_policy_abort(v->ctx);
		return err;
	}
	err = microseg_policy_commit(v->ctx);
	if (err)
		fprintf(stderr, "bench-policy: commit: %s (%s)\n", microseg_strerror(err),
			microseg_ctx_last_error(v->ctx));
	return err;
}

static void cleanup(struct verdict *v)
{
	if (v->prog_fd > 0)
		close(v->prog_fd);
	for (int i = 0; i < N_PEERS; i++)
		if (v->peer_id[i])
			microseg_identity_put(v->ctx, v->peer_id[i]);
	for (int s = 0; s < N_SIZES; s++)
		if (v->server_id[s])
			microseg_identity_put(v->ctx, v->server_id[s]);
	if (v->ctx) {
		uint64_t t = bp_now_ns();
		int err = microseg_ctx_purge(v->ctx);
		bp_log(v->b, 1, "purge: %.1f ms (%s)", bp_ms(bp_now_ns() - t), microseg_strerror(err));
		microseg_ctx_close(v->ctx);
	}
	bp_instance_rm(v->b, "v");
}

static int expect(const char *what, int s, uint32_t got, uint32_t want)
{
	if (got == want)
		return 0;
	fprintf(stderr, "bench-policy: %s at size %s returned %u, expected %u: the measurement would be of the wrong path\n",
		what, sizes[s].label, got, want);
	return -EPROTO;
}

int bp_run_verdict(struct pbench *b)
{
	struct verdict v = { .b = b, .prog_fd = -1 };
	static struct pb pkt; /* 9 KiB: not on the stack */
	double med[K_COUNT][N_SIZES] = { { 0 } }, floor_med;
	double *rs[K_COUNT][N_SIZES] = { { NULL } }, *floor_rs = NULL;
	uint64_t *news = NULL;
	unsigned new_per_round = b->new_samples;
	size_t n_rules = 0;
	uint32_t ret, ns;
	int err, len;

	printf("\n== part 1: per-packet verdict cost (ms_to_container, BPF_PROG_TEST_RUN) ==\n");
	fflush(stdout);
	if (new_per_round * b->rounds > SPORT_NEW_MAX - SPORT_NEW_BASE)
		new_per_round = (SPORT_NEW_MAX - SPORT_NEW_BASE) / b->rounds;

	uint64_t t = bp_now_ns();
	err = setup(&v);
	if (err)
		goto out;
	bp_log(b, 1, "set-up (1000 identities, 4 endpoints): %.0f ms", bp_ms(bp_now_ns() - t));
	t = bp_now_ns();
	err = add_rules(&v, &n_rules);
	uint64_t commit_ns = bp_now_ns() - t;
	if (err)
		goto out;
	long entries[N_SIZES];
	for (int s = 0; s < N_SIZES; s++)
		entries[s] = count_table(&v, microseg_endpoint_id(v.server[s]));

	char path[192];
	snprintf(path, sizeof(path), "%s/%s", v.pins, MS_PROG_TO_CONTAINER);
	v.prog_fd = bpf_obj_get(path);
	if (v.prog_fd < 0) {
		err = -errno;
		fprintf(stderr, "bench-policy: %s: %s\n", path, strerror(errno));
		goto out;
	}

	for (int k = 0; k < K_COUNT; k++)
		for (int s = 0; s < N_SIZES; s++)
			if (!(rs[k][s] = calloc(b->rounds, sizeof(double)))) {
				err = -ENOMEM;
				goto out;
			}
	floor_rs = calloc(b->rounds, sizeof(double));
	news = calloc(new_per_round, sizeof(*news));
	if (!floor_rs || !news) {
		err = -ENOMEM;
		goto out;
	}

	/* Open the established flows once (a SYN creates the entry); their ACKs then hit. */
	for (int s = 0; s < N_SIZES && !err; s++) {
		len = frame(&pkt, v.client_addr, v.server_addr[s], SPORT_EST, ALLOWED_PORT, PB_TCP_SYN);
		err = test_run(v.prog_fd, v.server_ifindex[s], &pkt, len, 1, &ret, &ns) ?:
		      expect("SYN to the allowed port", s, ret, TC_ACT_OK);
		if (!err && ct_has(&v, s, SPORT_EST, ALLOWED_PORT) != 1) {
			fprintf(stderr, "bench-policy: the allowed SYN created no connection entry\n");
			err = -EPROTO;
		}
	}

	for (unsigned r = 0; r < b->rounds && !err; r++) {
		/* Floor: an interface that is not an endpoint (loopback) ends at the endpoint lookup. */
		len = frame(&pkt, v.client_addr, v.server_addr[0], SPORT_DENY, DENIED_PORT, PB_TCP_SYN);
		err = test_run(v.prog_fd, 1, &pkt, len, b->repeat, &ret, &ns);
		floor_rs[r] = ns;
		for (int s = 0; s < N_SIZES && !err; s++) {
			uint32_t ifx = v.server_ifindex[s];
			len = frame(&pkt, v.client_addr, v.server_addr[s], SPORT_DENY, DENIED_PORT, PB_TCP_SYN);
			err = test_run(v.prog_fd, ifx, &pkt, len, b->repeat, &ret, &ns) ?:
			      expect("denied SYN", s, ret, TC_ACT_SHOT);
			rs[K_DENY][s][r] = ns;

			len = frame(&pkt, v.client_addr, v.server_addr[s], SPORT_RST, ALLOWED_PORT,
				    PB_TCP_RST | PB_TCP_ACK);
			err = err ?: test_run(v.prog_fd, ifx, &pkt, len, b->repeat, &ret, &ns) ?:
			      expect("allowed RST", s, ret, TC_ACT_OK);
			rs[K_RST][s][r] = ns;

			len = frame(&pkt, v.client_addr, v.server_addr[s], SPORT_EST, ALLOWED_PORT, PB_TCP_ACK);
			err = err ?: test_run(v.prog_fd, ifx, &pkt, len, b->repeat, &ret, &ns) ?:
			      expect("established ACK", s, ret, TC_ACT_OK);
			rs[K_EST][s][r] = ns;

			/* A new flow can run only once: single runs, each with its own source port,
			 * timed by the kernel around the program alone. */
			for (unsigned i = 0; i < new_per_round && !err; i++) {
				uint16_t sport = (uint16_t)(SPORT_NEW_BASE + r * new_per_round + i);
				len = frame(&pkt, v.client_addr, v.server_addr[s], sport, ALLOWED_PORT, PB_TCP_SYN);
				err = test_run(v.prog_fd, ifx, &pkt, len, 1, &ret, &ns) ?:
				      expect("new SYN", s, ret, TC_ACT_OK);
				news[i] = ns;
			}
			rs[K_NEW][s][r] = bp_median_u64(news, new_per_round);
		}
		bp_log(b, 1, "round %u done", r + 1);
	}
	if (err)
		goto out;
	/* The RST and the denied SYN must have been judged by policy every time, never by CT. */
	for (int s = 0; s < N_SIZES; s++)
		if (ct_has(&v, s, SPORT_RST, ALLOWED_PORT) || ct_has(&v, s, SPORT_DENY, DENIED_PORT)) {
			fprintf(stderr, "bench-policy: a RST or denied packet left a connection entry\n");
			err = -EPROTO;
			goto out;
		}

	for (int k = 0; k < K_COUNT; k++)
		for (int s = 0; s < N_SIZES; s++)
			med[k][s] = bp_median_dbl(rs[k][s], b->rounds);
	floor_med = bp_median_dbl(floor_rs, b->rounds);

	printf("%zu rules in one transaction, committed in %.0f ms; tables of %ld, %ld and %ld entries\n",
	       n_rules, bp_ms(commit_ns), entries[0], entries[1], entries[2]);
	printf("ns/packet, median of %u interleaved rounds; repeat %u (new flow: %u single runs per round, median)\n\n",
	       b->rounds, b->repeat, new_per_round);
	printf("%-9s %-8s", "rules", "entries");
	for (int k = 0; k < K_COUNT; k++)
		printf(" | %-30s", kind_title[k]);
	printf("\n%-9s %-8s", "", "");
	for (int k = 0; k < K_COUNT; k++)
		printf(" | %10s %19s", "ns", "vs 10 rules");
	printf("\n");
	for (int s = 0; s < N_SIZES; s++) {
		printf("%-9s %-8ld", sizes[s].label, entries[s]);
		for (int k = 0; k < K_COUNT; k++)
			printf(" | %10.1f %18.2fx", med[k][s], med[k][s] / med[k][0]);
		printf("\n");
	}
	printf("\nfloor (not an endpoint: returns after the endpoint lookup): %.1f ns\n", floor_med);
	printf("target: 100,000 within 1.1x of 10 -> denied %.2fx, new flow %.2fx, RST %.2fx, established %.2fx\n",
	       med[K_DENY][2] / med[K_DENY][0], med[K_NEW][2] / med[K_NEW][0], med[K_RST][2] / med[K_RST][0],
	       med[K_EST][2] / med[K_EST][0]);
	printf("(new flow is timed per single run and so includes the kernel's per-run timer; compare it\n"
	       " down its own column only)\n");
	fflush(stdout);
out:
	cleanup(&v);
	for (int k = 0; k < K_COUNT; k++)
		for (int s = 0; s < N_SIZES; s++)
			free(rs[k][s]);
	free(floor_rs);
	free(news);
	return err;
}
