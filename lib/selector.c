// SPDX-License-Identifier: Apache-2.0
/* Label selectors: matchLabels and matchExpressions against an identity's labels. */
#include <stdio.h>
#include <string.h>

#include "policy_internal.h"

/* Splits "source:key" into its parts; no source or "any" means any source. */
static int split_key(struct ms_arena *a, const char *in, size_t len, const char **source, const char **key)
{
	const char *colon = memchr(in, ':', len);
	*source = NULL;
	if (colon) {
		size_t sl = (size_t)(colon - in);
		if (sl == 0)
			return -EINVAL;
		if (!(sl == 3 && !memcmp(in, "any", 3)) && !(*source = ms_arena_strndup(a, in, sl)))
			return -ENOMEM;
		len -= sl + 1;
		in = colon + 1;
	}
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (in[i] <= ' ' || in[i] >= 0x7f || in[i] == ',' || in[i] == '=')
			return -EINVAL;
	*key = ms_arena_strndup(a, in, len);
	return *key ? 0 : -ENOMEM;
}

static bool value_ok(const char *v)
{
	for (; *v; v++)
		if (*v <= ' ' || *v >= 0x7f || *v == ',')
			return false;
	return true;
}

int ms_selector_compile(struct ms_arena *a, const struct microseg_selector *in, struct ms_selector *out,
			char *err, size_t errlen)
{
	size_t n = in->n_match_labels + in->n_exprs;
	out->n = 0;
	out->terms = NULL;
	if ((in->n_match_labels && !in->match_labels) || (in->n_exprs && !in->exprs)) {
		snprintf(err, errlen, "array is NULL but its count is not 0");
		return -EINVAL;
	}
	if (n > 4096) {
		snprintf(err, errlen, "more than 4096 terms");
		return -E2BIG;
	}
	if (!n)
		return 0;
	out->terms = ms_arena_alloc(a, n * sizeof(*out->terms));
	if (!out->terms)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_match_labels; i++) {
		const char *l = in->match_labels[i];
		struct ms_sel_term *t = &out->terms[out->n];
		const char *eq = l ? strchr(l, '=') : NULL;
		size_t klen = l ? (eq ? (size_t)(eq - l) : strlen(l)) : 0;
		const char *val = eq ? eq + 1 : "";
		int e = l ? split_key(a, l, klen, &t->source, &t->key) : -EINVAL;
		if (e == -ENOMEM)
			return e;
		if (e || !value_ok(val)) {
			snprintf(err, errlen, "match_labels[%zu] \"%.64s\" is not [source:]key=value", i, l ? l : "(null)");
			return -EINVAL;
		}
		const char **vals = ms_arena_alloc(a, sizeof(*vals));
		if (!vals || !(vals[0] = ms_arena_strdup(a, val)))
			return -ENOMEM;
		t->op = MICROSEG_SEL_IN;
		t->values = vals;
		t->n_values = 1;
		out->n++;
	}
	for (size_t i = 0; i < in->n_exprs; i++) {
		const struct microseg_sel_expr *x = &in->exprs[i];
		struct ms_sel_term *t = &out->terms[out->n];
		int e = x->key ? split_key(a, x->key, strlen(x->key), &t->source, &t->key) : -EINVAL;
		if (e == -ENOMEM)
			return e;
		if (e) {
			snprintf(err, errlen, "exprs[%zu].key \"%.64s\" is not [source:]key", i, x->key ? x->key : "(null)");
			return -EINVAL;
		}
		if (x->op > MICROSEG_SEL_DOES_NOT_EXIST) {
			snprintf(err, errlen, "exprs[%zu].op %u is unknown", i, x->op);
			return -EINVAL;
		}
		bool wants_values = x->op == MICROSEG_SEL_IN || x->op == MICROSEG_SEL_NOT_IN;
		if (wants_values != (x->n_values > 0) || (x->n_values && !x->values)) {
			snprintf(err, errlen, "exprs[%zu]: In/NotIn need values, Exists/DoesNotExist take none", i);
			return -EINVAL;
		}
		const char **vals = x->n_values ? ms_arena_alloc(a, x->n_values * sizeof(*vals)) : NULL;
		if (x->n_values && !vals)
			return -ENOMEM;
		for (size_t j = 0; j < x->n_values; j++) {
			if (!x->values[j] || !value_ok(x->values[j])) {
				snprintf(err, errlen, "exprs[%zu].values[%zu] is not a label value", i, j);
				return -EINVAL;
			}
			if (!(vals[j] = ms_arena_strdup(a, x->values[j])))
				return -ENOMEM;
		}
		t->op = x->op;
		t->values = vals;
		t->n_values = x->n_values;
		out->n++;
	}
	return 0;
}

/* Canonical labels are "source:key=value"; the key part is matched exactly. */
static bool label_has(const char *label, const char *source, const char *key, const char **value)
{
	const char *colon = strchr(label, ':');
	if (source) {
		size_t sl = strlen(source);
		if ((size_t)(colon - label) != sl || memcmp(label, source, sl))
			return false;
	}
	const char *k = colon + 1;
	const char *eq = strchr(k, '=');
	size_t kl = strlen(key);
	if ((size_t)(eq - k) != kl || memcmp(k, key, kl))
		return false;
	*value = eq + 1;
	return true;
}

static bool term_match(const struct ms_sel_term *t, const struct microseg_identity *id)
{
	bool any_key = false, any_in = false;
	for (size_t i = 0; i < id->nlabels; i++) {
		const char *v;
		if (!label_has(id->labels[i], t->source, t->key, &v))
			continue;
		any_key = true;
		for (size_t j = 0; j < t->n_values; j++)
			if (!strcmp(v, t->values[j]))
				any_in = true;
	}
	switch (t->op) {
	case MICROSEG_SEL_IN: return any_in;
	case MICROSEG_SEL_NOT_IN: return !any_in;
	case MICROSEG_SEL_EXISTS: return any_key;
	case MICROSEG_SEL_DOES_NOT_EXIST: return !any_key;
	default: return false;
	}
}

bool ms_selector_match(const struct ms_selector *s, const struct microseg_identity *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!term_match(&s->terms[i], id))
			return false;
	return true;
}
