// SPDX-License-Identifier: Apache-2.0
/* Identity registry: canonical label sets <-> numeric ids, refcounted. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
	uint32_t id;
	const char *label;
} reserved[] = {
	{ MICROSEG_IDENTITY_HOST, "reserved:host" },
	{ MICROSEG_IDENTITY_WORLD, "reserved:world" },
	{ MICROSEG_IDENTITY_UNMANAGED, "reserved:unmanaged" },
};

struct microseg_identity *ms_identity_by_id(struct microseg_ctx *ctx, uint32_t id)
{
	for (struct ms_hnode *n = ms_hmap_first(&ctx->ids.by_id, ms_hash_u64(id)); n; n = ms_hmap_next(n)) {
		struct microseg_identity *i = ms_container_of(n, struct microseg_identity, by_id);
		if (i->id == id)
			return i;
	}
	return NULL;
}

static struct microseg_identity *find_by_key(struct microseg_ctx *ctx, const char *joined)
{
	for (struct ms_hnode *n = ms_hmap_first(&ctx->ids.by_key, ms_hash_str(joined)); n; n = ms_hmap_next(n)) {
		struct microseg_identity *i = ms_container_of(n, struct microseg_identity, by_key);
		if (!strcmp(i->joined, joined))
			return i;
	}
	return NULL;
}

struct microseg_identity *ms_identity_checked(struct microseg_ctx *ctx, const struct microseg_identity *id)
{
	uint64_t h = ms_hash_u64((uintptr_t)id);
	for (struct ms_hnode *n = ms_hmap_first(&ctx->ids.by_ptr, h); n; n = ms_hmap_next(n)) {
		struct microseg_identity *i = ms_container_of(n, struct microseg_identity, by_ptr);
		if (i == id)
			return i;
	}
	return NULL;
}

static void identity_free(struct microseg_identity *i)
{
	ms_labels_free(i->labels, i->nlabels);
	free(i->joined);
	free(i);
}

/* Takes ownership of labels and joined on success. */
static int insert(struct microseg_ctx *ctx, uint32_t id, char **labels, size_t n, char *joined,
		  struct microseg_identity **out)
{
	struct microseg_identity *i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	i->magic = MS_IDENTITY_MAGIC;
	i->id = id;
	i->refs = 1;
	i->labels = labels;
	i->nlabels = n;
	i->joined = joined;
	if (ms_hmap_insert(&ctx->ids.by_id, &i->by_id, ms_hash_u64(id)))
		goto nomem;
	if (ms_hmap_insert(&ctx->ids.by_key, &i->by_key, ms_hash_str(joined))) {
		ms_hmap_remove(&ctx->ids.by_id, &i->by_id);
		goto nomem;
	}
	if (ms_hmap_insert(&ctx->ids.by_ptr, &i->by_ptr, ms_hash_u64((uintptr_t)i))) {
		ms_hmap_remove(&ctx->ids.by_id, &i->by_id);
		ms_hmap_remove(&ctx->ids.by_key, &i->by_key);
		goto nomem;
	}
	*out = i;
	return 0;
nomem:
	free(i);
	return -ENOMEM;
}

int ms_identities_init(struct microseg_ctx *ctx)
{
	ms_hmap_init(&ctx->ids.by_id);
	ms_hmap_init(&ctx->ids.by_key);
	ms_hmap_init(&ctx->ids.by_ptr);
	ctx->ids.next_local = MICROSEG_IDENTITY_LOCAL_MIN;
	char why[160];
	for (size_t r = 0; r < MS_ARRAY_SIZE(reserved); r++) {
		char **labels, *joined;
		struct microseg_identity *i;
		int err = ms_labels_canonicalize(&reserved[r].label, 1, &labels, &joined, why, sizeof(why));
		if (!err) {
			err = insert(ctx, reserved[r].id, labels, 1, joined, &i);
			if (err) {
				ms_labels_free(labels, 1);
				free(joined);
			}
		}
		if (err)
			return err;
	}
	return 0;
}

void ms_identities_free(struct microseg_ctx *ctx)
{
	struct ms_hmap *m = &ctx->ids.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++) {
		struct ms_hnode *n = m->buckets[b];
		while (n) {
			struct ms_hnode *next = n->next;
			identity_free(ms_container_of(n, struct microseg_identity, by_ptr));
			n = next;
		}
	}
	ms_hmap_free(&ctx->ids.by_id);
	ms_hmap_free(&ctx->ids.by_key);
	ms_hmap_free(&ctx->ids.by_ptr);
}

void ms_identity_ref(struct microseg_identity *id)
{
	id->refs++;
}

void ms_identity_unref(struct microseg_ctx *ctx, struct microseg_identity *id)
{
	if (id->id <= MICROSEG_IDENTITY_RESERVED_MAX)
		return; /* reserved identities live as long as the context */
	if (--id->refs)
		return;
	ms_hmap_remove(&ctx->ids.by_id, &id->by_id);
	ms_hmap_remove(&ctx->ids.by_key, &id->by_key);
	ms_hmap_remove(&ctx->ids.by_ptr, &id->by_ptr);
	ms_state_drop_identity(ctx, id->id);
	identity_free(id);
}

/* Next free local id, scanning forward from the last one given so a freed id is not handed to
 * a new label set at once (peers may still hold the old meaning for a moment). */
static int alloc_local(struct microseg_ctx *ctx, uint32_t *out)
{
	uint32_t span = MICROSEG_IDENTITY_LOCAL_MAX - MICROSEG_IDENTITY_LOCAL_MIN + 1;
	uint32_t cand = ctx->ids.next_local;
	for (uint32_t tries = 0; tries < span; tries++) {
		if (cand > MICROSEG_IDENTITY_LOCAL_MAX || cand < MICROSEG_IDENTITY_LOCAL_MIN)
			cand = MICROSEG_IDENTITY_LOCAL_MIN;
		if (!ms_identity_by_id(ctx, cand)) {
			*out = cand;
			ctx->ids.next_local = cand + 1;
			return 0;
		}
		cand++;
	}
	return -ENOSPC;
}

/* explicit_id 0: allocate locally. Caller holds the lock. */
int ms_identity_get(struct microseg_ctx *ctx, const char *const *labels, size_t n,
			uint32_t explicit_id, struct microseg_identity **out)
{
	char why[160] = "";
	char **canon, *joined;
	int err = ms_labels_canonicalize(labels, n, &canon, &joined, why, sizeof(why));
	if (err)
		return ms_err(ctx, err, "identity: %s", why);

	struct microseg_identity *i = find_by_key(ctx, joined);
	if (i) {
		if (explicit_id && i->id != explicit_id) {
			err = ms_err(ctx, -EEXIST, "identity: label set %s already has id %u", joined, i->id);
		} else {
			ms_identity_ref(i);
			*out = i;
		}
		goto free_canon;
	}
	uint32_t id = explicit_id;
	if (id) {
		struct microseg_identity *other = ms_identity_by_id(ctx, id);
		if (other) {
			err = ms_err(ctx, -EEXIST, "identity: id %u is bound to %s", id, other->joined);
			goto free_canon;
		}
	} else {
		err = alloc_local(ctx, &id);
		if (err) {
			err = ms_err(ctx, err, "identity: local id range exhausted");
			goto free_canon;
		}
	}
	err = insert(ctx, id, canon, n, joined, &i);
	if (err)
		goto free_canon;
	err = ms_state_save_identity(ctx, i);
	if (err) {
		i->refs = 1;
		ms_identity_unref(ctx, i);
		return ms_err(ctx, err, "identity: cannot record id %u in the state directory", id);
	}
	*out = i;
	return 0;
free_canon:
	ms_labels_free(canon, n);
	free(joined);
	return err;
}

MICROSEG_API int microseg_identity_get(struct microseg_ctx *ctx, const char *const *labels, size_t n,
				       struct microseg_identity **id)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "identity get");
	int err = id ? ms_identity_get(ctx, labels, n, 0, id) : ms_err(ctx, -EINVAL, "identity: id is NULL");
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_identity_get_explicit(struct microseg_ctx *ctx, const char *const *labels,
						size_t n, uint32_t numeric_id,
						struct microseg_identity **id)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "identity get_explicit");
	int err;
	if (!id)
		err = ms_err(ctx, -EINVAL, "identity: id is NULL");
	else if (numeric_id < MICROSEG_IDENTITY_EXPLICIT_MIN || numeric_id > MICROSEG_IDENTITY_EXPLICIT_MAX)
		err = ms_err(ctx, -ERANGE, "identity: explicit id %u outside %u..%u", numeric_id,
			     MICROSEG_IDENTITY_EXPLICIT_MIN, MICROSEG_IDENTITY_EXPLICIT_MAX);
	else
		err = ms_identity_get(ctx, labels, n, numeric_id, id);
	MS_UNLOCK(ctx);
	return err;
}

int ms_identity_restore(struct microseg_ctx *ctx, uint32_t numeric_id, char **labels, size_t n,
			struct microseg_identity **out)
{
	char why[160];
	char **canon, *joined;
	int err = ms_labels_canonicalize((const char *const *)labels, n, &canon, &joined, why, sizeof(why));
	if (err)
		return ms_err(ctx, err, "state: identity %u: %s", numeric_id, why);
	struct microseg_identity *i = find_by_key(ctx, joined);
	if (i && i->id == numeric_id) {
		ms_identity_ref(i);
		ms_labels_free(canon, n);
		free(joined);
		*out = i;
		return 0;
	}
	if (i || ms_identity_by_id(ctx, numeric_id)) {
		ms_labels_free(canon, n);
		free(joined);
		return ms_err(ctx, -EEXIST, "state: identity %u conflicts with another", numeric_id);
	}
	err = insert(ctx, numeric_id, canon, n, joined, out);
	if (err) {
		ms_labels_free(canon, n);
		free(joined);
		return err;
	}
	if (numeric_id >= ctx->ids.next_local && numeric_id <= MICROSEG_IDENTITY_LOCAL_MAX)
		ctx->ids.next_local = numeric_id + 1;
	return 0;
}

MICROSEG_API int microseg_identity_lookup(struct microseg_ctx *ctx, uint32_t numeric_id,
					  struct microseg_identity **id)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	struct microseg_identity *i = NULL;
	if (!id)
		err = ms_err(ctx, -EINVAL, "identity: id is NULL");
	else if (!(i = ms_identity_by_id(ctx, numeric_id)))
		err = ms_err(ctx, -ENOENT, "identity: no identity %u", numeric_id);
	else {
		ms_identity_ref(i);
		*id = i;
	}
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_identity_put(struct microseg_ctx *ctx, struct microseg_identity *id)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	struct microseg_identity *i = id ? ms_identity_checked(ctx, id) : NULL;
	if (!id)
		err = ms_err(ctx, -EINVAL, "identity: handle is NULL");
	else if (!i)
		err = ms_err(ctx, -ENOENT, "identity: handle is not a live identity of this context");
	else
		ms_identity_unref(ctx, i);
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API uint32_t microseg_identity_id(const struct microseg_identity *id)
{
	return id ? id->id : 0;
}

MICROSEG_API size_t microseg_identity_label_count(const struct microseg_identity *id)
{
	return id ? id->nlabels : 0;
}

MICROSEG_API const char *microseg_identity_label(const struct microseg_identity *id, size_t i)
{
	return id && i < id->nlabels ? id->labels[i] : NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

MICROSEG_API int microseg_identity_list(struct microseg_ctx *ctx, uint32_t *ids, size_t cap, size_t *count)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!count || (!ids && cap)) {
		err = ms_err(ctx, -EINVAL, "identity list: NULL count or buffer");
		goto out;
	}
	size_t total = ctx->ids.by_id.count;
	uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		err = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	for (size_t b = 0; b < ctx->ids.by_id.nbuckets; b++)
		for (struct ms_hnode *n = ctx->ids.by_id.buckets[b]; n; n = n->next)
			all[k++] = ms_container_of(n, struct microseg_identity, by_id)->id;
	err = ms_list_out(all, k, sizeof(*all), cmp_u32, ids, cap, count);
out:
	MS_UNLOCK(ctx);
	return err;
}
