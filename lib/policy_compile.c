// SPDX-License-Identifier: Apache-2.0
/*
 * The policy compiler: rules + identities -> the table of one endpoint identity.
 *
 * A table holds entries {peer identity, direction, protocol, port prefix} -> {allow|deny,
 * rule}. For every (direction, peer, protocol) the port intervals of all rules are cut into
 * segments; a segment is DENY if any deny rule covers it, else ALLOW; segments become port
 * prefixes, so the datapath resolves any port range with one longest-prefix lookup. The
 * wildcard levels (any peer, any protocol) are separate entries; the datapath combines them,
 * again with deny winning. Entries grow with rules x matching identities x port prefixes, and
 * identities selected by the same rules share one table (policy.c compiles each such set once,
 * and tables with equal entries are interned).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_internal.h"

struct ival {
	uint32_t id;
	uint8_t dir; /* MS_DIR_* */
	uint8_t proto;
	uint8_t action; /* MS_POLICY_* */
	uint8_t l7;     /* an ALLOW whose port has HTTP rules (TCP) */
	uint32_t lo, hi;
	uint32_t rule;
};

struct ivals {
	struct ival *v;
	size_t n, cap;
};

struct ids {
	uint32_t *v;
	size_t n, cap;
};

struct entries {
	struct ms_policy_entry *v;
	size_t n, cap;
};

#define GROW(vec)                                                                                  \
	({                                                                                         \
		int _e = 0;                                                                        \
		if ((vec)->n == (vec)->cap) {                                                      \
			size_t _c = (vec)->cap ? (vec)->cap * 2 : 16;                              \
			void *_p = realloc((vec)->v, _c * sizeof(*(vec)->v));                      \
			if (_p) {                                                                  \
				(vec)->v = _p;                                                     \
				(vec)->cap = _c;                                                   \
			} else {                                                                   \
				_e = -ENOMEM;                                                      \
			}                                                                          \
		}                                                                                  \
		_e;                                                                                \
	})

static int ids_add(struct ids *s, uint32_t id)
{
	if (GROW(s))
		return -ENOMEM;
	s->v[s->n++] = id;
	return 0;
}

static bool is_cidr_identity(const struct microseg_identity *id)
{
	return id->nlabels == 1 && !strncmp(id->labels[0], "cidr:", 5);
}

static bool cidr_excluded(const struct ms_peer *p, const struct ms_addr *prefix)
{
	for (size_t x = 0; x < p->n_except; x++)
		if (ms_addr_in_prefix(prefix, &p->except[x]))
			return true;
	return false;
}

/*
 * What a peer stands for, stated once: the compiler enumerates the identities that pass these
 * tests (expand_peer), the L7 proxy asks them of one identity (ms_peer_matches).
 *   selector: endpoint identities (not reserved, not CIDR) whose labels match;
 *   CIDR:     CIDR identities inside the prefix and outside every except;
 *   entity:   all = anything; host = the host; world = world plus every CIDR identity.
 */
static bool selector_peer_has(const struct ms_peer *p, const struct microseg_identity *i)
{
	return i->id > MICROSEG_IDENTITY_RESERVED_MAX && !is_cidr_identity(i) && ms_selector_match(&p->sel, i);
}

static bool cidr_peer_has(const struct ms_peer *p, const struct ms_cidr_ident *ci)
{
	return ms_addr_in_prefix(&ci->prefix, &p->cidr) && !cidr_excluded(p, &ci->prefix);
}

/* Identities a peer stands for. */
static int expand_peer(struct microseg_ctx *ctx, const struct ms_peer *p, struct ids *out)
{
	struct ms_policy *pol = ctx->pol;
	int err = 0;
	switch (p->kind) {
	case MICROSEG_PEER_SELECTOR: {
		struct ms_hmap *m = &ctx->ids.by_id;
		for (size_t b = 0; b < m->nbuckets && !err; b++)
			for (struct ms_hnode *n = m->buckets[b]; n && !err; n = n->next) {
				struct microseg_identity *i = ms_container_of(n, struct microseg_identity, by_id);
				if (selector_peer_has(p, i))
					err = ids_add(out, i->id);
			}
		return err;
	}
	case MICROSEG_PEER_CIDR:
		for (size_t c = 0; c < pol->n_cidrs && !err; c++)
			if (cidr_peer_has(p, &pol->cidrs[c]))
				err = ids_add(out, pol->cidrs[c].id->id);
		return err;
	case MICROSEG_PEER_ENTITY:
		if (p->entity == MICROSEG_ENTITY_HOST)
			return ids_add(out, MS_ID_HOST);
		if (p->entity == MICROSEG_ENTITY_ALL)
			return ids_add(out, MS_POLICY_ANY_ID);
		err = ids_add(out, MS_ID_WORLD);
		for (size_t c = 0; c < pol->n_cidrs && !err; c++)
			err = ids_add(out, pol->cidrs[c].id->id);
		return err;
	}
	return -EINVAL;
}

static const struct ms_cidr_ident *cidr_ident_of(const struct ms_policy *pol, uint32_t id)
{
	for (size_t c = 0; c < pol->n_cidrs; c++)
		if (pol->cidrs[c].id->id == id)
			return &pol->cidrs[c];
	return NULL;
}

bool ms_peer_matches(struct microseg_ctx *ctx, const struct ms_peer *p, uint32_t id)
{
	switch (p->kind) {
	case MICROSEG_PEER_SELECTOR: {
		const struct microseg_identity *i = ms_identity_by_id(ctx, id);
		return i && selector_peer_has(p, i);
	}
	case MICROSEG_PEER_CIDR: {
		const struct ms_cidr_ident *ci = cidr_ident_of(ctx->pol, id);
		return ci && cidr_peer_has(p, ci);
	}
	case MICROSEG_PEER_ENTITY:
		if (p->entity == MICROSEG_ENTITY_ALL)
			return true;
		if (p->entity == MICROSEG_ENTITY_HOST)
			return id == MS_ID_HOST;
		return id == MS_ID_WORLD || cidr_ident_of(ctx->pol, id);
	}
	return false;
}

static uint8_t abi_dir(uint32_t dir)
{
	return dir == MICROSEG_DIR_INGRESS ? MS_DIR_INGRESS : MS_DIR_EGRESS;
}

static bool rule_selects(const struct microseg_rule *r, const struct microseg_identity *id, uint32_t dirflag)
{
	return (r->dirs & dirflag) && ms_selector_match(&r->endpoints, id);
}

static int add_section(struct microseg_ctx *ctx, const struct microseg_rule *r, const struct ms_section *s,
		       struct ivals *iv)
{
	struct ids peers = { 0 };
	int err = 0;
	if (!s->n_peers)
		err = ids_add(&peers, MS_POLICY_ANY_ID);
	for (size_t p = 0; p < s->n_peers && !err; p++)
		err = expand_peer(ctx, &s->peers[p], &peers);
	/* "Any protocol" on specific ports means the port protocols: in the datapath an ICMP
	 * type sits where a port would, and must not match a port rule. */
	static const uint8_t port_protos[] = { MICROSEG_PROTO_TCP, MICROSEG_PROTO_UDP, MICROSEG_PROTO_SCTP };
	for (size_t p = 0; p < peers.n && !err; p++)
		for (size_t q = 0; q < s->n_ports && !err; q++) {
			const struct ms_port_range *pr = &s->ports[q];
			bool every_port = pr->lo == 0 && pr->hi == 65535;
			size_t nprotos = pr->proto == 0 && !every_port ? MS_ARRAY_SIZE(port_protos) : 1;
			for (size_t k = 0; k < nprotos && !err; k++) {
				if ((err = GROW(iv)))
					break;
				iv->v[iv->n++] = (struct ival){
					.id = peers.v[p],
					.dir = abi_dir(s->dir),
					.proto = nprotos > 1 ? port_protos[k] : pr->proto,
					.action = s->action == MICROSEG_ACTION_DENY ? MS_POLICY_DENY : MS_POLICY_ALLOW,
					.l7 = s->l7 && s->l7[q] &&
					      (nprotos > 1 ? port_protos[k] : pr->proto) == MICROSEG_PROTO_TCP,
					.lo = pr->lo,
					.hi = pr->hi,
					.rule = r->id,
				};
			}
		}
	free(peers.v);
	return err;
}

static int cmp_ival_group(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

size_t ms_port_range_prefixes(uint16_t lo, uint16_t hi, uint16_t *vals, uint8_t *bits)
{
	size_t n = 0;
	uint32_t cur = lo, end = hi;
	while (cur <= end) {
		/* Largest aligned block starting at cur that fits in [cur, end]. */
		uint32_t size = 1;
		while (size < 65536 && (cur & (size * 2 - 1)) == 0 && cur + size * 2 - 1 <= end)
			size *= 2;
		uint8_t b = 16;
		for (uint32_t s = size; s > 1; s >>= 1)
			b--;
		vals[n] = (uint16_t)cur;
		bits[n] = b;
		n++;
		cur += size;
	}
	return n;
}

static int emit(struct entries *out, uint32_t id, uint8_t dir, uint8_t proto, uint16_t port, uint8_t bits,
		uint8_t action, uint32_t rule, bool l7)
{
	if (GROW(out))
		return -ENOMEM;
	struct ms_policy_entry *e = &out->v[out->n++];
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = MS_POLICY_PREFIX_BASE + bits;
	e->key.identity = id;
	e->key.dir = dir;
	e->key.proto = proto;
	e->key.port = htons(bits ? (uint16_t)(port & (uint16_t)(0xffff << (16 - bits))) : 0);
	e->value.action = action;
	e->value.flags = l7 ? MS_POLICY_F_L7 : 0;
	e->value.rule_id = rule;
	return 0;
}

static int flush_run(const struct ival *g, uint32_t lo, uint32_t hi, uint8_t action, uint32_t rule, bool l7,
		     struct entries *out)
{
	uint16_t vals[32];
	uint8_t bits[32];
	size_t k = ms_port_range_prefixes((uint16_t)lo, (uint16_t)hi, vals, bits);
	int err = 0;
	for (size_t j = 0; j < k && !err; j++)
		err = emit(out, g->id, g->dir, g->proto, vals[j], bits[j], action, rule, l7);
	return err;
}

/* Cuts one group's intervals into segments (deny wins; the lowest rule id decides among
 * equals), merges neighbouring segments with the same verdict and emits their port prefixes.
 * An allowed segment goes through the L7 proxy only if every allow covering it has HTTP
 * rules: one L3/L4-only allow of the same peer and port lets everything through. */
static int resolve_group(const struct ival *g, size_t n, struct entries *out)
{
	uint32_t *cuts = malloc(2 * n * sizeof(*cuts));
	if (!cuts)
		return -ENOMEM;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		cuts[m++] = g[i].lo;
		cuts[m++] = g[i].hi + 1;
	}
	qsort(cuts, m, sizeof(*cuts), cmp_u32);
	size_t u = 0;
	for (size_t i = 0; i < m; i++)
		if (!u || cuts[u - 1] != cuts[i])
			cuts[u++] = cuts[i];
	int err = 0;
	uint32_t run_lo = 0, run_rule = 0;
	uint8_t run_action = 0;
	bool run_l7 = false;
	for (size_t k = 0; k + 1 < u && !err; k++) {
		uint32_t lo = cuts[k], hi = cuts[k + 1] - 1;
		uint8_t action = 0;
		uint32_t rule = 0;
		bool all_l7 = true;
		for (size_t i = 0; i < n; i++) {
			if (g[i].lo > lo || g[i].hi < hi)
				continue;
			if (g[i].action == MS_POLICY_ALLOW && !g[i].l7)
				all_l7 = false;
			if (g[i].action > action || (g[i].action == action && g[i].rule < rule)) {
				action = g[i].action; /* MS_POLICY_DENY outranks MS_POLICY_ALLOW */
				rule = g[i].rule;
			}
		}
		bool l7 = action == MS_POLICY_ALLOW && all_l7;
		if (run_action && (action != run_action || rule != run_rule || l7 != run_l7)) {
			err = flush_run(g, run_lo, lo - 1, run_action, run_rule, run_l7, out);
			run_action = 0;
		}
		if (action && !run_action) {
			run_lo = lo;
			run_action = action;
			run_rule = rule;
			run_l7 = l7;
		}
	}
	if (!err && run_action)
		err = flush_run(g, run_lo, cuts[u - 1] - 1, run_action, run_rule, run_l7, out);
	free(cuts);
	return err;
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(&((const struct ms_policy_entry *)a)->key, &((const struct ms_policy_entry *)b)->key,
		      sizeof(struct ms_policy_key));
}

static uint64_t hash_entries(const struct ms_policy_entry *e, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p = (const unsigned char *)e;
	for (size_t i = 0; i < n * sizeof(*e); i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ n;
}


/* Interns a compiled entry set: endpoints whose identities compile alike share one table. */
static int intern(struct microseg_ctx *ctx, struct entries *es, struct ms_table **out)
{
	struct ms_policy *pol = ctx->pol;
	qsort(es->v, es->n, sizeof(*es->v), cmp_entry);
	uint64_t h = hash_entries(es->v, es->n);
	for (struct ms_hnode *n = ms_hmap_first(&pol->tables, h); n; n = ms_hmap_next(n)) {
		struct ms_table *t = ms_container_of(n, struct ms_table, node);
		if (t->n == es->n && !memcmp(t->entries, es->v, es->n * sizeof(*es->v))) {
			t->refs++;
			free(es->v);
			es->v = NULL;
			*out = t;
			return 0;
		}
	}
	struct ms_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->hash = h;
	t->entries = es->v;
	t->n = es->n;
	t->fd = -1;
	t->fd_exact = -1;
	t->refs = 1;
	for (size_t i = 0; i < t->n; i++)
		t->ingress_l7 |= t->entries[i].key.dir == MS_DIR_INGRESS &&
				 (t->entries[i].value.flags & MS_POLICY_F_L7);
	if (ms_ctx_writes_kernel(ctx)) {
		int err = ms_dp_table_create(ctx, t->entries, t->n, &t->fd, &t->fd_exact);
		if (err) {
			free(t);
			return err; /* es->v is freed by the caller */
		}
	}
	if (ms_hmap_insert(&pol->tables, &t->node, h)) {
		ms_table_put(ctx, t);
		return -ENOMEM;
	}
	es->v = NULL;
	*out = t;
	return 0;
}

void ms_table_put(struct microseg_ctx *ctx, struct ms_table *t)
{
	if (!t || --t->refs)
		return;
	ms_hmap_remove(&ctx->pol->tables, &t->node);
	if (t->fd >= 0)
		close(t->fd);
	if (t->fd_exact >= 0)
		close(t->fd_exact);
	free(t->entries);
	free(t);
}

int ms_policy_compile_identity(struct microseg_ctx *ctx, const struct ms_rule_view *view,
			       const struct microseg_identity *id, struct ms_table **out)
{
	struct ivals iv = { 0 };
	struct entries es = { 0 };
	int err = 0;
	uint32_t selected = 0;
	ctx->pol->compiles++;
	for (size_t i = 0; i < view->n && !err; i++) {
		const struct microseg_rule *r = view->rules[i];
		for (uint32_t d = MICROSEG_RULE_F_INGRESS; d <= MICROSEG_RULE_F_EGRESS; d <<= 1) {
			if (!rule_selects(r, id, d))
				continue;
			selected |= d;
			uint32_t dir = d == MICROSEG_RULE_F_INGRESS ? MICROSEG_DIR_INGRESS : MICROSEG_DIR_EGRESS;
			for (size_t s = 0; s < r->n_sections && !err; s++)
				if (r->sections[s].dir == dir)
					err = add_section(ctx, r, &r->sections[s], &iv);
		}
	}
	if (err || !selected) {
		free(iv.v);
		*out = NULL;
		return err;
	}
	/* A direction no rule selects stays open. The host always reaches its endpoints (health
	 * checks, kubelet probes), as in Cilium's default; a deny rule naming the host still wins. */
	if (!(selected & MICROSEG_RULE_F_INGRESS)) {
		err = emit(&es, MS_POLICY_ANY_ID, MS_DIR_INGRESS, 0, 0, 0, MS_POLICY_ALLOW, 0, false);
	} else if (!(err = GROW(&iv))) {
		iv.v[iv.n++] = (struct ival){ .id = MS_ID_HOST, .dir = MS_DIR_INGRESS, .proto = 0,
					      .action = MS_POLICY_ALLOW, .lo = 0, .hi = 65535, .rule = 0 };
	}
	if (!err && !(selected & MICROSEG_RULE_F_EGRESS))
		err = emit(&es, MS_POLICY_ANY_ID, MS_DIR_EGRESS, 0, 0, 0, MS_POLICY_ALLOW, 0, false);
	qsort(iv.v, iv.n, sizeof(*iv.v), cmp_ival_group);
	for (size_t i = 0; i < iv.n && !err;) {
		size_t j = i + 1;
		while (j < iv.n && !cmp_ival_group(&iv.v[i], &iv.v[j]))
			j++;
		err = resolve_group(&iv.v[i], j - i, &es);
		i = j;
	}
	free(iv.v);
	if (!err && es.n > ctx->dp.meta.max_policy_entries)
		err = ms_err(ctx, -ENOSPC, "policy: identity %u needs %zu table entries, the tables hold %u",
			     id->id, es.n, ctx->dp.meta.max_policy_entries);
	if (!err)
		err = intern(ctx, &es, out);
	free(es.v);
	return err;
}

int ms_policy_open_table(struct microseg_ctx *ctx, struct ms_table **out)
{
	struct entries es = { 0 };
	int err = emit(&es, MS_POLICY_ANY_ID, MS_DIR_INGRESS, 0, 0, 0, MS_POLICY_ALLOW, 0, false);
	if (!err)
		err = emit(&es, MS_POLICY_ANY_ID, MS_DIR_EGRESS, 0, 0, 0, MS_POLICY_ALLOW, 0, false);
	if (!err)
		err = intern(ctx, &es, out);
	free(es.v);
	return err;
}

const struct ms_policy_value *ms_table_lookup(const struct ms_table *t, uint32_t identity, uint8_t dir,
					      uint8_t proto, uint16_t port)
{
	const struct ms_policy_value *best = NULL;
	uint32_t best_len = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct ms_policy_key *k = &t->entries[i].key;
		if (k->identity != identity || k->dir != dir || k->proto != proto)
			continue;
		uint32_t bits = k->prefixlen - MS_POLICY_PREFIX_BASE;
		uint16_t mask = bits ? (uint16_t)(0xffff << (16 - bits)) : 0;
		if ((port & mask) != (ntohs(k->port) & mask))
			continue;
		if (!best || k->prefixlen > best_len) {
			best = &t->entries[i].value;
			best_len = k->prefixlen;
		}
	}
	return best;
}
