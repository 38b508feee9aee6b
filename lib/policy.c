// SPDX-License-Identifier: Apache-2.0
/*
 * Policy: the rule registry, transactions, documents, and publishing compiled tables.
 *
 * Rules move through states: an add inside a transaction is PENDING_ADD, a removal
 * PENDING_REMOVE; commit compiles the view "LIVE + PENDING_ADD" and, only if everything
 * compiled and reached the kernel's idle half, flips the live half and finalises the states.
 * Outside a transaction every change is a transaction of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define SLOT_UNKNOWN MS_SLOT_UNKNOWN


int ms_policy_init(struct microseg_ctx *ctx)
{
	struct ms_policy *pol = calloc(1, sizeof(*pol));
	if (!pol)
		return -ENOMEM;
	ctx->pol = pol;
	ms_hmap_init(&pol->rules_by_ptr);
	ms_hmap_init(&pol->tables);
	pol->next_rule_id = 1;
	for (int h = 0; h < 2; h++) {
		pol->slot[h] = calloc(ctx->eps.max, sizeof(*pol->slot[h]));
		if (!pol->slot[h])
			return -ENOMEM;
		/* A restored instance's slots hold tables the library no longer knows: mark
		 * them so the first publish replaces or clears them. */
		if (ctx->restored && ms_ctx_writes_kernel(ctx))
			for (uint32_t i = 0; i < ctx->eps.max; i++)
				if (ms_dp_policy_slot_used(ctx, (uint32_t)h * ctx->eps.max + i))
					pol->slot[h][i] = SLOT_UNKNOWN;
	}
	if (!ms_ctx_offline(ctx) && ctx->restored)
		return ms_dp_config_get_rev(ctx, &pol->rev);
	return 0;
}

static void put_slot(struct microseg_ctx *ctx, struct ms_table **slot)
{
	if (*slot && *slot != SLOT_UNKNOWN)
		ms_table_put(ctx, *slot);
	*slot = NULL;
}

static void doc_free(struct ms_doc *d)
{
	if (!d)
		return;
	free(d->rules);
	ms_arena_free(d->arena);
	free(d);
}

void ms_policy_free(struct microseg_ctx *ctx)
{
	struct ms_policy *pol = ctx->pol;
	if (!pol)
		return;
	for (int h = 0; h < 2; h++) {
		for (uint32_t i = 0; pol->slot[h] && i < ctx->eps.max; i++)
			put_slot(ctx, &pol->slot[h][i]);
		free(pol->slot[h]);
	}
	for (size_t i = 0; i < pol->n_rules; i++)
		ms_rule_free(pol->rules[i]);
	free(pol->rules);
	for (size_t i = 0; i < pol->n_docs; i++)
		doc_free(pol->docs[i]);
	free(pol->docs);
	free(pol->cidrs); /* identities are freed with the registry */
	if (pol->open_table)
		ms_table_put(ctx, pol->open_table);
	ms_hmap_free(&pol->rules_by_ptr);
	/* Tables left (none, once every slot is put) would leak fds: close them all. */
	struct ms_hmap *m = &pol->tables;
	for (size_t b = 0; b < m->nbuckets; b++) {
		struct ms_hnode *n = m->buckets[b];
		while (n) {
			struct ms_hnode *next = n->next;
			struct ms_table *t = ms_container_of(n, struct ms_table, node);
			t->refs = 1;
			ms_table_put(ctx, t);
			n = next;
		}
	}
	ms_hmap_free(&pol->tables);
	free(pol);
	ctx->pol = NULL;
}

/* ---- views ---- */

enum view_kind { VIEW_LIVE, VIEW_COMMIT };

static bool in_view(const struct microseg_rule *r, enum view_kind k)
{
	if (k == VIEW_LIVE)
		return r->state == MS_RULE_LIVE || r->state == MS_RULE_PENDING_REMOVE;
	return r->state == MS_RULE_LIVE || r->state == MS_RULE_PENDING_ADD;
}

static int make_view(struct ms_policy *pol, enum view_kind k, struct ms_rule_view *v)
{
	v->rules = malloc((pol->n_rules ? pol->n_rules : 1) * sizeof(*v->rules));
	if (!v->rules)
		return -ENOMEM;
	v->n = 0;
	for (size_t i = 0; i < pol->n_rules; i++)
		if (in_view(pol->rules[i], k))
			v->rules[v->n++] = pol->rules[i];
	return 0;
}

/* ---- CIDR identities: every prefix a rule names gets an identity and an ipcache entry ---- */

static int cidr_index(const struct ms_cidr_ident *v, size_t n, const struct ms_addr *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].prefix.prefixlen == p->prefixlen && ms_addr_equal(&v[i].prefix, p))
			return (int)i;
	return -1;
}

static int cidr_want(struct microseg_ctx *ctx, struct ms_cidr_ident **v, size_t *n, size_t *cap,
		     const struct ms_addr *p)
{
	if (cidr_index(*v, *n, p) >= 0)
		return 0;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		void *q = realloc(*v, c * sizeof(**v));
		if (!q)
			return -ENOMEM;
		*v = q;
		*cap = c;
	}
	struct ms_cidr_ident *ci = &(*v)[(*n)++];
	memset(ci, 0, sizeof(*ci));
	ci->prefix = *p;
	return 0;
}

/* Builds the CIDR set of a view; identities come from the registry (same prefix, same id). */
static int cidrs_prepare(struct microseg_ctx *ctx, const struct ms_rule_view *view, struct ms_cidr_ident **out,
			 size_t *nout)
{
	struct ms_cidr_ident *v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	for (size_t r = 0; r < view->n && !err; r++)
		for (size_t s = 0; s < view->rules[r]->n_sections && !err; s++) {
			const struct ms_section *sec = &view->rules[r]->sections[s];
			for (size_t p = 0; p < sec->n_peers && !err; p++) {
				const struct ms_peer *peer = &sec->peers[p];
				if (peer->kind != MICROSEG_PEER_CIDR)
					continue;
				err = cidr_want(ctx, &v, &n, &cap, &peer->cidr);
				for (size_t x = 0; x < peer->n_except && !err; x++)
					err = cidr_want(ctx, &v, &n, &cap, &peer->except[x]);
			}
		}
	for (size_t i = 0; i < n && !err; i++) {
		char txt[MS_ADDR_STRLEN], label[MS_ADDR_STRLEN + 16];
		ms_addr_format(&v[i].prefix, txt, sizeof(txt));
		snprintf(label, sizeof(label), "cidr:%s/%u", txt, v[i].prefix.prefixlen);
		const char *l = label;
		err = ms_identity_get(ctx, &l, 1, 0, &v[i].id);
	}
	if (err) {
		for (size_t i = 0; i < n; i++)
			if (v[i].id)
				ms_identity_unref(ctx, v[i].id);
		free(v);
		return err;
	}
	*out = v;
	*nout = n;
	return 0;
}

static int cidrs_install(struct microseg_ctx *ctx, struct ms_cidr_ident *v, size_t n)
{
	if (!ms_ctx_writes_kernel(ctx))
		return 0;
	for (size_t i = 0; i < n; i++) {
		int old = cidr_index(ctx->pol->cidrs, ctx->pol->n_cidrs, &v[i].prefix);
		if (old >= 0 && ctx->pol->cidrs[old].installed) {
			v[i].installed = true;
			continue;
		}
		struct ms_ipcache_value val = { .identity = v[i].id->id };
		int err = ms_dp_ipcache_set(ctx, &v[i].prefix, &val);
		if (err)
			return err;
		v[i].installed = true;
	}
	return 0;
}

/* Drops the CIDRs of `old` that `keep` does not have (ipcache entries and identity refs). */
static void cidrs_release(struct microseg_ctx *ctx, struct ms_cidr_ident *old, size_t n_old,
			  const struct ms_cidr_ident *keep, size_t n_keep)
{
	for (size_t i = 0; i < n_old; i++) {
		int k = cidr_index(keep, n_keep, &old[i].prefix);
		if (k < 0 && old[i].installed && ms_ctx_writes_kernel(ctx))
			ms_dp_ipcache_del(ctx, &old[i].prefix);
		ms_identity_unref(ctx, old[i].id);
	}
}

/* ---- compile + publish ---- */

/* A slot holds what `want` asks: the same table, or for "open" nothing or the open table. */
static bool slot_is(const struct ms_policy *pol, const struct ms_table *slot, const struct ms_table *want)
{
	return slot == want || (!want && slot == pol->open_table);
}

/*
 * Makes one half of the slots hold `want` (NULL: open), writing only what differs: LPM tables
 * into ms_policy, their single-port hashes into ms_policy_exact, each in one batch. A slot is
 * never cleared: one that held a table and becomes open gets the shared open table, so every
 * write is an update (clearing has no batch form and costs a grace period per slot).
 */
static int write_half(struct microseg_ctx *ctx, uint32_t half, struct ms_table **want, uint32_t max)
{
	struct ms_policy *pol = ctx->pol;
	uint32_t *keys = malloc(max * sizeof(*keys));
	int *fds = malloc(max * sizeof(*fds)), *fds_exact = malloc(max * sizeof(*fds_exact));
	uint32_t *eps = malloc(max * sizeof(*eps));
	struct ms_table **put = malloc(max * sizeof(*put));
	uint32_t n = 0;
	int err = keys && fds && fds_exact && eps && put ? 0 : -ENOMEM;
	for (uint32_t ep = 1; ep < max && !err; ep++) {
		struct ms_table *w = want[ep];
		if (slot_is(pol, pol->slot[half][ep], w) || (!w && !pol->slot[half][ep]))
			continue;
		if (!w && !pol->open_table && (err = ms_policy_open_table(ctx, &pol->open_table)))
			break;
		put[n] = w ? w : pol->open_table;
		eps[n] = ep;
		keys[n] = half * max + ep;
		fds[n] = put[n]->fd;
		fds_exact[n] = put[n]->fd_exact;
		n++;
	}
	/* Both maps of the idle half; the flip that follows makes them live together. */
	if (!err && n && ms_ctx_writes_kernel(ctx))
		err = ms_dp_policy_slots_write(ctx, true, keys, fds_exact, n);
	if (!err && n && ms_ctx_writes_kernel(ctx))
		err = ms_dp_policy_slots_write(ctx, false, keys, fds, n);
	for (uint32_t i = 0; i < n && !err; i++) {
		struct ms_table **slot = &pol->slot[half][eps[i]];
		put_slot(ctx, slot);
		put[i]->refs++;
		*slot = put[i];
	}
	free(keys);
	free(fds);
	free(fds_exact);
	free(eps);
	free(put);
	return err;
}

/* Per publish: identities already compiled, and which rules select them. Policy depends on
 * the set of selecting rules only, so identities selected alike share one compile. */
struct id_table {
	uint32_t id;
	struct ms_table *t;
	uint64_t sel_hash;
	uint32_t *sel; /* (rule index << 2) | directions, ascending */
	size_t n_sel;
};

static struct ms_table *lookup_compiled(struct id_table *v, size_t n, uint32_t id, bool *found)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id) {
			*found = true;
			return v[i].t;
		}
	*found = false;
	return NULL;
}

/* Which rules of the view select this identity, in which directions. */
static int selection(const struct ms_rule_view *view, const struct microseg_identity *id, struct id_table *out)
{
	out->sel = NULL;
	out->n_sel = 0;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < view->n; i++) {
		const struct microseg_rule *r = view->rules[i];
		if (!ms_selector_match(&r->endpoints, id))
			continue;
		if (!out->sel && !(out->sel = malloc(view->n * sizeof(*out->sel))))
			return -ENOMEM;
		uint32_t v = (uint32_t)i << 2 | r->dirs;
		out->sel[out->n_sel++] = v;
		h = (h ^ v) * 0x100000001b3ULL;
	}
	out->sel_hash = h;
	return 0;
}

static void free_compiled(struct id_table *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].sel);
	free(v);
}

static struct ms_table *same_selection(struct id_table *v, size_t n, const struct id_table *x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].sel_hash == x->sel_hash && v[i].n_sel == x->n_sel &&
		    (!x->n_sel || !memcmp(v[i].sel, x->sel, x->n_sel * sizeof(*x->sel))))
			return v[i].t;
	return NULL;
}

/*
 * Compiles the view for every endpoint and publishes it: the idle half of ms_policy gets the
 * new tables, then one write of ms_config flips it live, then the other half is brought level.
 * On error before the flip nothing visible has changed.
 */
static int sync_view(struct microseg_ctx *ctx, const struct ms_rule_view *view, bool force_flip)
{
	struct ms_policy *pol = ctx->pol;
	uint32_t max = ctx->eps.max;
	struct ms_cidr_ident *cidrs = NULL;
	size_t n_cidrs = 0;
	int err = cidrs_prepare(ctx, view, &cidrs, &n_cidrs);
	if (err)
		return err;
	/* The compiler reads pol->cidrs: point it at the new set while compiling. */
	struct ms_cidr_ident *old_cidrs = pol->cidrs;
	size_t old_n = pol->n_cidrs;
	pol->cidrs = cidrs;
	pol->n_cidrs = n_cidrs;

	struct ms_table **want = calloc(max, sizeof(*want));
	struct id_table *compiled = NULL;
	size_t n_compiled = 0;
	if (!want) {
		err = -ENOMEM;
		goto undo;
	}
	compiled = malloc((ctx->eps.count + 1) * sizeof(*compiled));
	if (!compiled) {
		err = -ENOMEM;
		goto undo;
	}
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets && !err; b++)
		for (struct ms_hnode *n = m->buckets[b]; n && !err; n = n->next) {
			struct microseg_endpoint *ep = ms_container_of(n, struct microseg_endpoint, by_ptr);
			bool found;
			struct ms_table *t = lookup_compiled(compiled, n_compiled, ep->identity->id, &found);
			if (!found) {
				struct id_table *c = &compiled[n_compiled];
				c->id = ep->identity->id;
				if ((err = selection(view, ep->identity, c)))
					break;
				n_compiled++;
				if (!c->n_sel) {
					t = NULL; /* no rule selects it: open */
				} else if ((t = same_selection(compiled, n_compiled - 1, c))) {
					t->refs++;
				} else if ((err = ms_policy_compile_identity(ctx, view, ep->identity, &t))) {
					break;
				}
				c->t = t;
			} else if (t) {
				t->refs++;
			}
			want[ep->ep_id] = t;
		}
	if (err)
		goto undo;
	err = cidrs_install(ctx, cidrs, n_cidrs);
	if (err)
		goto undo;

	/* Fill the idle half (one batch), then flip it live with one 4-byte write. The half
	 * that was live becomes idle and is refilled at the next publish: its slots are tracked,
	 * so only what differs is written then. */
	uint32_t idle = (pol->rev + 1) & 1, live = pol->rev & 1;
	err = write_half(ctx, idle, want, max);
	if (err)
		goto undo;
	bool changed = false, any_table = false, ingress_l7 = false;
	for (uint32_t ep = 1; ep < max; ep++) {
		changed |= !slot_is(pol, pol->slot[live][ep], want[ep]) && (want[ep] || pol->slot[live][ep]);
		any_table |= want[ep] != NULL;
		ingress_l7 |= want[ep] && want[ep]->ingress_l7;
	}
	/* Before the flip: the revision that needs the receiver check never runs without it. */
	if (ingress_l7 && ms_ctx_writes_kernel(ctx) &&
	    (err = ms_dp_config_set_flag(ctx, MS_CFG_F_INGRESS_L7, true)))
		goto undo;
	if (changed || n_cidrs != old_n || (force_flip && any_table)) {
		uint32_t rev = pol->rev + 1;
		if (ms_ctx_writes_kernel(ctx) && (err = ms_dp_config_set_rev(ctx, rev)))
			goto undo;
		pol->rev = rev;
	}
	/* After it: clearing only saves the lookup, so a failure here is no failure to publish. */
	if (!ingress_l7 && ms_ctx_writes_kernel(ctx))
		ms_dp_config_set_flag(ctx, MS_CFG_F_INGRESS_L7, false);
	/* Success: the new CIDR set replaces the old one. */
	cidrs_release(ctx, old_cidrs, old_n, cidrs, n_cidrs);
	free(old_cidrs);
	for (uint32_t ep = 0; ep < max; ep++)
		if (want[ep])
			ms_table_put(ctx, want[ep]);
	free(want);
	free_compiled(compiled, n_compiled);
	atomic_fetch_add(&pol->l7_gen, 1);
	return 0;
undo:
	if (want)
		for (uint32_t ep = 0; ep < max; ep++)
			if (want[ep])
				ms_table_put(ctx, want[ep]);
	free(want);
	free_compiled(compiled, n_compiled);
	pol->cidrs = old_cidrs;
	pol->n_cidrs = old_n;
	cidrs_release(ctx, cidrs, n_cidrs, old_cidrs, old_n);
	free(cidrs);
	return err;
}

int ms_policy_sync(struct microseg_ctx *ctx)
{
	struct ms_rule_view v;
	if (!ctx->pol)
		return 0;
	int err = make_view(ctx->pol, VIEW_LIVE, &v);
	if (err)
		return err;
	err = sync_view(ctx, &v, true);
	free(v.rules);
	return err;
}

int ms_policy_sync_commit(struct microseg_ctx *ctx)
{
	struct ms_rule_view v;
	int err = make_view(ctx->pol, VIEW_COMMIT, &v);
	if (err)
		return err;
	err = sync_view(ctx, &v, true);
	free(v.rules);
	return err;
}
