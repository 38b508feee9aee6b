// SPDX-License-Identifier: Apache-2.0
/* Policy API: the rule registry, transactions and documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define DOC_MAX_BYTES (1u << 20)

struct microseg_rule *ms_rule_checked(struct microseg_ctx *ctx, const struct microseg_rule *r)
{
	for (struct ms_hnode *n = ms_hmap_first(&ctx->pol->rules_by_ptr, ms_hash_u64((uintptr_t)r)); n;
	     n = ms_hmap_next(n)) {
		struct microseg_rule *x = ms_container_of(n, struct microseg_rule, by_ptr);
		if (x == r)
			return x;
	}
	return NULL;
}

int ms_rule_register(struct microseg_ctx *ctx, struct microseg_rule *r, uint32_t id)
{
	struct ms_policy *pol = ctx->pol;
	if (pol->n_rules == pol->cap_rules) {
		size_t c = pol->cap_rules ? pol->cap_rules * 2 : 64;
		void *v = realloc(pol->rules, c * sizeof(*pol->rules));
		if (!v)
			return -ENOMEM;
		pol->rules = v;
		pol->cap_rules = c;
	}
	if (ms_hmap_insert(&pol->rules_by_ptr, &r->by_ptr, ms_hash_u64((uintptr_t)r)))
		return -ENOMEM;
	r->id = id ? id : pol->next_rule_id;
	if (r->id >= pol->next_rule_id)
		pol->next_rule_id = r->id + 1;
	r->state = MS_RULE_PENDING_ADD;
	/* Ids only grow, except for restored ones: keep the array ordered by id. */
	size_t pos = pol->n_rules;
	while (pos > 0 && pol->rules[pos - 1]->id > r->id)
		pos--;
	memmove(&pol->rules[pos + 1], &pol->rules[pos], (pol->n_rules - pos) * sizeof(*pol->rules));
	pol->rules[pos] = r;
	pol->n_rules++;
	return 0;
}

static void rule_unregister(struct microseg_ctx *ctx, struct microseg_rule *r)
{
	struct ms_policy *pol = ctx->pol;
	for (size_t i = 0; i < pol->n_rules; i++)
		if (pol->rules[i] == r) {
			memmove(&pol->rules[i], &pol->rules[i + 1], (pol->n_rules - i - 1) * sizeof(*pol->rules));
			pol->n_rules--;
			break;
		}
	ms_hmap_remove(&pol->rules_by_ptr, &r->by_ptr);
	ms_rule_free(r);
}

static void doc_set_state(struct ms_doc *d, enum ms_rule_state st)
{
	d->state = st;
	for (size_t i = 0; i < d->n_rules; i++)
		d->rules[i]->state = st;
}

static void doc_remove(struct microseg_ctx *ctx, size_t idx)
{
	struct ms_policy *pol = ctx->pol;
	struct ms_doc *d = pol->docs[idx];
	for (size_t i = 0; i < d->n_rules; i++)
		rule_unregister(ctx, d->rules[i]);
	memmove(&pol->docs[idx], &pol->docs[idx + 1], (pol->n_docs - idx - 1) * sizeof(*pol->docs));
	pol->n_docs--;
	free(d->rules);
	ms_arena_free(d->arena);
	free(d);
}

/* ---- transactions ---- */

void ms_txn_abort_locked(struct microseg_ctx *ctx)
{
	struct ms_policy *pol = ctx->pol;
	for (size_t i = pol->n_docs; i-- > 0;) {
		if (pol->docs[i]->state == MS_RULE_PENDING_ADD)
			doc_remove(ctx, i);
		else if (pol->docs[i]->state == MS_RULE_PENDING_REMOVE)
			doc_set_state(pol->docs[i], MS_RULE_LIVE);
	}
	for (size_t i = pol->n_rules; i-- > 0;) {
		struct microseg_rule *r = pol->rules[i];
		if (r->state == MS_RULE_PENDING_ADD)
			rule_unregister(ctx, r);
		else if (r->state == MS_RULE_PENDING_REMOVE)
			r->state = MS_RULE_LIVE;
	}
	pol->txn = false;
}

int ms_txn_commit_locked(struct microseg_ctx *ctx)
{
	struct ms_policy *pol = ctx->pol;
	int err = ms_policy_sync_commit(ctx);
	if (err)
		return err;
	err = ms_policy_store_commit(ctx);
	if (err) {
		/* In force but not recorded: it would not survive a restart. Put the old policy back
		 * so that what runs is what the state directory says. */
		char saved[sizeof(ctx->last_error)];
		memcpy(saved, ctx->last_error, sizeof(saved));
		ms_policy_sync(ctx);
		memcpy(ctx->last_error, saved, sizeof(saved));
		return err;
	}
	for (size_t i = pol->n_docs; i-- > 0;) {
		if (pol->docs[i]->state == MS_RULE_PENDING_REMOVE)
			doc_remove(ctx, i);
		else
			doc_set_state(pol->docs[i], MS_RULE_LIVE);
	}
	for (size_t i = pol->n_rules; i-- > 0;) {
		struct microseg_rule *r = pol->rules[i];
		if (r->state == MS_RULE_PENDING_REMOVE)
			rule_unregister(ctx, r);
		else
			r->state = MS_RULE_LIVE;
	}
	pol->txn = false;
	return 0;
}

/* Runs fn inside the open transaction, or inside one of its own that it commits. */
static int in_txn(struct microseg_ctx *ctx, int (*fn)(struct microseg_ctx *, void *), void *arg)
{
	if (ms_ctx_read_only(ctx) && !ctx->restoring)
		return ms_err(ctx, -EROFS, "policy: the context is read-only");
	if (ctx->purged)
		return ms_err(ctx, -ESHUTDOWN, "policy: instance %s was purged", ctx->instance);
	bool implicit = !ctx->pol->txn;
	ctx->pol->txn = true;
	int err = fn(ctx, arg);
	if (implicit) {
		if (!err)
			err = ms_txn_commit_locked(ctx);
		if (err)
			ms_txn_abort_locked(ctx);
	}
	return err;
}

MICROSEG_API int microseg_policy_begin(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "policy begin");
	int err = 0;
	if (ctx->pol->txn)
		err = ms_err(ctx, -EBUSY, "policy: a transaction is already open");
	else if (ctx->purged)
		err = ms_err(ctx, -ESHUTDOWN, "policy: instance %s was purged", ctx->instance);
	else
		ctx->pol->txn = true;
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_policy_commit(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = ctx->pol->txn ? ms_txn_commit_locked(ctx) : ms_err(ctx, -ENOENT, "policy: no transaction is open");
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_policy_abort(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (ctx->pol->txn)
		ms_txn_abort_locked(ctx);
	else
		err = ms_err(ctx, -ENOENT, "policy: no transaction is open");
	MS_UNLOCK(ctx);
	return err;
}

/* ---- rules through the API ---- */

struct add_arg {
	const struct microseg_rule_spec *spec;
	struct microseg_rule *out;
};

static int do_add(struct microseg_ctx *ctx, void *p)
{
	struct add_arg *a = p;
	int err = ms_rule_build(ctx, a->spec, NULL, &a->out);
	if (err)
		return err;
	err = ms_rule_register(ctx, a->out, 0);
	if (err) {
		ms_rule_free(a->out);
		a->out = NULL;
	}
	return err;
}

MICROSEG_API int microseg_rule_add(struct microseg_ctx *ctx, const struct microseg_rule_spec *spec,
				   struct microseg_rule **rule)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	struct add_arg a = { spec, NULL };
	int err = rule ? in_txn(ctx, do_add, &a) : ms_err(ctx, -EINVAL, "rule: rule is NULL");
	if (!err)
		*rule = a.out;
	MS_UNLOCK(ctx);
	return err;
}

static int do_remove(struct microseg_ctx *ctx, void *p)
{
	struct microseg_rule *r = p;
	if (r->state == MS_RULE_PENDING_ADD)
		rule_unregister(ctx, r); /* added and removed in one transaction */
	else
		r->state = MS_RULE_PENDING_REMOVE;
	return 0;
}

MICROSEG_API int microseg_rule_remove(struct microseg_ctx *ctx, struct microseg_rule *rule)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	struct microseg_rule *r = rule ? ms_rule_checked(ctx, rule) : NULL;
	if (!rule)
		err = ms_err(ctx, -EINVAL, "rule remove: rule is NULL");
	else if (!r || r->state == MS_RULE_PENDING_REMOVE)
		err = ms_err(ctx, -ENOENT, "rule remove: not a live rule of this context");
	else if (r->policy[0])
		err = ms_err(ctx, -EPERM, "rule remove: rule %u belongs to policy %s (use microseg_policy_delete)",
			     r->id, r->policy);
	else
		err = in_txn(ctx, do_remove, r);
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API uint32_t microseg_rule_id(const struct microseg_rule *rule)
{
	return rule ? rule->id : 0;
}

MICROSEG_API const char *microseg_rule_name(const struct microseg_rule *rule)
{
	return rule ? rule->name : NULL;
}

MICROSEG_API const char *microseg_rule_policy(const struct microseg_rule *rule)
{
	return rule ? rule->policy : NULL;
}

MICROSEG_API int microseg_rule_list(struct microseg_ctx *ctx, struct microseg_rule **rules, size_t cap,
				    size_t *count)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!count || (!rules && cap)) {
		err = ms_err(ctx, -EINVAL, "rule list: NULL count or buffer");
		goto out;
	}
	size_t k = 0;
	struct ms_policy *pol = ctx->pol;
	for (size_t i = 0; i < pol->n_rules; i++) {
		if (pol->rules[i]->state == MS_RULE_PENDING_ADD)
			continue; /* listings show what is in force */
		if (k < cap)
			rules[k] = pol->rules[i];
		k++;
	}
	*count = k;
	if (cap < k)
		err = -ENOSPC;
out:
	MS_UNLOCK(ctx);
	return err;
}

/* ---- documents ---- */

static struct ms_doc *doc_build(struct microseg_ctx *ctx, const struct ms_policy_doc *pd, int *errp)
{
	for (size_t i = 0; i < pd->n_l7; i++)
		if (pd->l7[i].n_dns || pd->l7[i].n_kafka) {
			*errp = ms_err(ctx, -EOPNOTSUPP, "policy %s: %s rules are not enforced by this version (only http)",
				       pd->name, pd->l7[i].n_dns ? "dns" : "kafka");
			return NULL;
		}
	struct ms_doc *d = calloc(1, sizeof(*d));
	int err = -ENOMEM;
	if (!d || !(d->arena = ms_arena_new()))
		goto fail;
	d->name = ms_arena_strdup(d->arena, pd->name);
	d->text = ms_arena_strdup(d->arena, pd->text ? pd->text : "");
	d->rules = calloc(pd->n_rules ? pd->n_rules : 1, sizeof(*d->rules));
	if (!d->name || !d->text || !d->rules)
		goto fail;
	for (size_t i = 0; i < pd->n_rules; i++) {
		/* Valid in Cilium and a no-op: a rule with a selector and nothing else. */
		if (!pd->rules[i].n_sections && !pd->rules[i].flags)
			continue;
		err = ms_rule_build(ctx, &pd->rules[i], pd->name, &d->rules[d->n_rules]);
		if (err) {
			char saved[sizeof(ctx->last_error)];
			memcpy(saved, ctx->last_error, sizeof(saved));
			ms_err(ctx, err, "policy %s (line %u): %s", pd->name, pd->line, saved);
			goto fail;
		}
		d->n_rules++;
	}
	return d;
fail:
	if (d) {
		for (size_t i = 0; i < d->n_rules; i++)
			ms_rule_free(d->rules[i]);
		free(d->rules);
		ms_arena_free(d->arena);
		free(d);
	}
	*errp = err;
	return NULL;
}

/* Stages a built document, replacing any policy of the same name. */
static int doc_stage_built(struct microseg_ctx *ctx, struct ms_doc *d)
{
	struct ms_policy *pol = ctx->pol;
	for (size_t i = pol->n_docs; i-- > 0;) {
		if (strcmp(pol->docs[i]->name, d->name))
			continue;
		if (pol->docs[i]->state == MS_RULE_PENDING_ADD)
			doc_remove(ctx, i);
		else
			doc_set_state(pol->docs[i], MS_RULE_PENDING_REMOVE);
	}
	if (pol->n_docs == pol->cap_docs) {
		size_t c = pol->cap_docs ? pol->cap_docs * 2 : 16;
		void *v = realloc(pol->docs, c * sizeof(*pol->docs));
		if (!v)
			return -ENOMEM;
		pol->docs = v;
		pol->cap_docs = c;
	}
	for (size_t i = 0; i < d->n_rules; i++) {
		int err = ms_rule_register(ctx, d->rules[i], 0);
		if (err) {
			/* Rules registered so far go with the document. */
			d->n_rules = i;
			pol->docs[pol->n_docs++] = d;
			doc_remove(ctx, pol->n_docs - 1);
			return err;
		}
	}
	d->state = MS_RULE_PENDING_ADD;
	pol->docs[pol->n_docs++] = d;
	return 0;
}

int ms_doc_stage(struct microseg_ctx *ctx, const struct ms_policy_doc *pd, uint32_t file_id)
{
	int err = 0;
	struct ms_doc *d = doc_build(ctx, pd, &err);
	if (!d)
		return err;
	d->file_id = file_id;
	return doc_stage_built(ctx, d);
}

struct apply_arg {
	struct ms_policy_docs *docs;
};

static int do_apply(struct microseg_ctx *ctx, void *p)
{
	struct ms_policy_docs *docs = ((struct apply_arg *)p)->docs;
	struct ms_doc **built = calloc(docs->n ? docs->n : 1, sizeof(*built));
	if (!built)
		return -ENOMEM;
	int err = 0;
	/* Build everything first: a bad document must leave the transaction as it was. */
	for (size_t i = 0; i < docs->n && !err; i++)
		built[i] = doc_build(ctx, &docs->docs[i], &err);
	for (size_t i = 0; i < docs->n && !err; i++) {
		err = doc_stage_built(ctx, built[i]);
		built[i] = NULL;
	}
	for (size_t i = 0; i < docs->n; i++)
		if (built[i]) {
			for (size_t j = 0; j < built[i]->n_rules; j++)
				ms_rule_free(built[i]->rules[j]);
			free(built[i]->rules);
			ms_arena_free(built[i]->arena);
			free(built[i]);
		}
	free(built);
	return err;
}

MICROSEG_API int microseg_policy_apply_yaml(struct microseg_ctx *ctx, const char *doc, size_t len, uint32_t flags)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err;
	struct ms_policy_docs docs = { 0 };
	char why[256] = "";
	if (!doc || flags) {
		err = ms_err(ctx, -EINVAL, "policy: document is NULL or flags are set");
		goto out;
	}
	if (len > DOC_MAX_BYTES) {
		err = ms_err(ctx, -E2BIG, "policy: document of %zu bytes, at most %u", len, DOC_MAX_BYTES);
		goto out;
	}
	err = ms_policy_docs_parse(doc, len, &docs, why, sizeof(why));
	if (err) {
		err = ms_err(ctx, err, "policy: %s", why[0] ? why : microseg_strerror(err));
		goto out;
	}
	struct apply_arg a = { &docs };
	err = in_txn(ctx, do_apply, &a);
	ms_policy_docs_free(&docs);
out:
	MS_UNLOCK(ctx);
	return err;
}

static int do_delete(struct microseg_ctx *ctx, void *p)
{
	const char *name = p;
	struct ms_policy *pol = ctx->pol;
	bool found = false;
	for (size_t i = pol->n_docs; i-- > 0;) {
		struct ms_doc *d = pol->docs[i];
		if (strcmp(d->name, name) || d->state == MS_RULE_PENDING_REMOVE)
			continue;
		found = true;
		if (d->state == MS_RULE_PENDING_ADD)
			doc_remove(ctx, i);
		else
			doc_set_state(d, MS_RULE_PENDING_REMOVE);
	}
	return found ? 0 : ms_err(ctx, -ENOENT, "policy: no policy named \"%.128s\"", name);
}

MICROSEG_API int microseg_policy_delete(struct microseg_ctx *ctx, const char *name)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = name ? in_txn(ctx, do_delete, (void *)name) : ms_err(ctx, -EINVAL, "policy delete: name is NULL");
	MS_UNLOCK(ctx);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

MICROSEG_API int microseg_policy_list(struct microseg_ctx *ctx, const char **names, size_t cap, size_t *count)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	struct ms_policy *pol = ctx->pol;
	if (!count || (!names && cap)) {
		err = ms_err(ctx, -EINVAL, "policy list: NULL count or buffer");
		goto out;
	}
	const char **all = malloc((pol->n_docs ? pol->n_docs : 1) * sizeof(*all));
	if (!all) {
		err = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < pol->n_docs; i++)
		if (pol->docs[i]->state != MS_RULE_PENDING_ADD)
			all[k++] = pol->docs[i]->name;
	err = ms_list_out(all, k, sizeof(*all), cmp_str, names, cap, count);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_policy_get_yaml(struct microseg_ctx *ctx, const char *name, char **doc)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = -ENOENT;
	if (!name || !doc) {
		err = ms_err(ctx, -EINVAL, "policy get: NULL argument");
		goto out;
	}
	for (size_t i = 0; i < ctx->pol->n_docs; i++) {
		struct ms_doc *d = ctx->pol->docs[i];
		if (d->state == MS_RULE_PENDING_ADD || strcmp(d->name, name))
			continue;
		*doc = strdup(d->text);
		err = *doc ? 0 : -ENOMEM;
		goto out;
	}
	err = ms_err(ctx, -ENOENT, "policy: no policy named \"%.128s\"", name);
out:
	MS_UNLOCK(ctx);
	return err;
}
