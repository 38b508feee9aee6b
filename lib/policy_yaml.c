// SPDX-License-Identifier: Apache-2.0
/*
 * YAML policy documents to rule specs.
 *
 * Two passes per document. First libyaml's events become a small tree, refusing on the way
 * what could make a document expensive or ambiguous: aliases and anchors (billion laughs),
 * tags, non-string keys, duplicate keys, nesting beyond MS_POLICY_DEPTH_MAX, lists beyond
 * MS_POLICY_LIST_MAX. Then the tree is read by kind. Reading fails closed: a field this code
 * does not know is an error, because an ignored field could only ever make a rule allow more
 * than its author meant (a misspelt `fromEndpoint` must not turn into "from anywhere").
 *
 * A YAML null (`key:`, `key: ~`) reads as an absent field, as Go's decoding does for the
 * Kubernetes and Cilium types; an empty list reads like an absent one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy_doc.h"

/* ---- the tree ---- */

enum ntype { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum ntype type;
	bool plain;         /* plain scalar: subject to null resolution */
	unsigned line;      /* 1-based */
	const char *str;    /* scalar text (may hold NULs: see len) */
	size_t len;
	struct node **kids; /* sequence items; mapping: key, value, key, value... */
	size_t n;           /* items, or key/value pairs */
};

#define MAP_KEY(m, i) ((m)->kids[2 * (i)])
#define MAP_VAL(m, i) ((m)->kids[2 * (i) + 1])

enum kind { K_NP, K_CNP, K_CCNP };

struct pstate {
	yaml_parser_t parser;
	const char *text;
	size_t len;
	size_t cur_char, cur_byte; /* libyaml marks count characters; we need bytes */
	struct ms_arena *tmp;      /* the current document's tree */
	struct node **stack;       /* items of the collections being built */
	size_t sp, cap;
	struct ms_arena *out;
	char *err;
	size_t errlen;
	bool failed;
	char path[256];
	/* the document being read */
	enum kind kind;
	const char *ns; /* NULL when cluster-wide */
	struct ms_l7_port_rules *l7;
	size_t n_l7, cap_l7;
};

/* ---- errors and the field path ---- */

MS_DOC_PRINTF(4, 5)
static int fail(struct pstate *s, unsigned line, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	int w;

	if (s->failed || !s->err || !s->errlen)
		return rc;
	s->failed = true;
	w = line ? snprintf(s->err, s->errlen, "line %u: %s%s", line, s->path, s->path[0] ? ": " : "")
		 : snprintf(s->err, s->errlen, "%s%s", s->path, s->path[0] ? ": " : "");
	if (w > 0)
		off = (size_t)w;
	if (off < s->errlen) {
		va_start(ap, fmt);
		vsnprintf(s->err + off, s->errlen - off, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static size_t push_key(struct pstate *s, const char *key)
{
	size_t len = strlen(s->path);

	snprintf(s->path + len, sizeof(s->path) - len, "%s%s", len ? "." : "", key);
	return len;
}

static size_t push_idx(struct pstate *s, size_t i)
{
	size_t len = strlen(s->path);

	snprintf(s->path + len, sizeof(s->path) - len, "[%zu]", i);
	return len;
}

static void pop(struct pstate *s, size_t len)
{
	s->path[len] = '\0';
}

/* A scalar for messages: at most 48 bytes, unprintable bytes as '?'. */
static const char *show(const char *str, size_t len, char buf[64])
{
	size_t n = len > 48 ? 48 : len, i;

	for (i = 0; i < n; i++)
		buf[i] = (str[i] >= ' ' && str[i] < 0x7f) ? str[i] : '?';
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- events to tree ---- */

/* Byte offset of a libyaml mark index (counted in characters; the input is UTF-8). */
static size_t byte_offset(struct pstate *s, size_t char_index)
{
	if (char_index < s->cur_char)
		s->cur_char = s->cur_byte = 0;
	while (s->cur_char < char_index && s->cur_byte < s->len) {
		unsigned char ch = (unsigned char)s->text[s->cur_byte];
		size_t w = ch < 0x80 ? 1 : (ch & 0xe0) == 0xc0 ? 2 : (ch & 0xf0) == 0xe0 ? 3 : (ch & 0xf8) == 0xf0 ? 4 : 1;

		s->cur_byte += w;
		s->cur_char++;
	}
	return s->cur_byte < s->len ? s->cur_byte : s->len;
}

static unsigned line_of_byte(const struct pstate *s, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off && i < s->len; i++)
		line += s->text[i] == '\n';
	return line;
}

static int next_event(struct pstate *s, yaml_event_t *ev)
{
	const yaml_parser_t *p = &s->parser;
	const char *problem;

	if (yaml_parser_parse(&s->parser, ev))
		return 0;
	problem = p->problem ? p->problem : "unknown error";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail(s, 0, -ENOMEM, "out of memory while reading YAML");
	case YAML_READER_ERROR:
		return fail(s, line_of_byte(s, p->problem_offset), -EINVAL, "invalid YAML: %s", problem);
	default:
		if (p->context)
			return fail(s, (unsigned)p->problem_mark.line + 1, -EINVAL,
				    "invalid YAML: %s (%s at line %u)", problem, p->context,
				    (unsigned)p->context_mark.line + 1);
		return fail(s, (unsigned)p->problem_mark.line + 1, -EINVAL, "invalid YAML: %s", problem);
	}
}

static int push_node(struct pstate *s, struct node *n)
{
	if (s->sp == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct node **ns = realloc(s->stack, ncap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		s->stack = ns;
		s->cap = ncap;
	}
	s->stack[s->sp++] = n;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	int r = memcmp(x->str, y->str, x->len < y->len ? x->len : y->len);

	if (r)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int dup_error(struct pstate *s, const struct node *a, const struct node *b)
{
	char buf[64];
	const struct node *later = a->line > b->line ? a : b;

	return fail(s, later->line, -EINVAL, "duplicate key '%s'", show(later->str, later->len, buf));
}

static int check_dup_keys(struct pstate *s, const struct node *m)
{
	if (m->n <= 16) {
		for (size_t i = 1; i < m->n; i++)
			for (size_t j = 0; j < i; j++)
				if (!key_cmp(&MAP_KEY(m, i), &MAP_KEY(m, j)))
					return dup_error(s, MAP_KEY(m, j), MAP_KEY(m, i));
		return 0;
	}
	struct node **keys = ms_arena_alloc(s->tmp, m->n * sizeof(*keys));
	if (!keys)
		return fail(s, 0, -ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++)
		keys[i] = MAP_KEY(m, i);
	qsort(keys, m->n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < m->n; i++)
		if (!key_cmp(&keys[i - 1], &keys[i]))
			return dup_error(s, keys[i - 1], keys[i]);
	return 0;
}

static int build(struct pstate *s, const yaml_event_t *ev, unsigned depth, struct node **out)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	bool is_map = ev->type == YAML_MAPPING_START_EVENT;
	yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	struct node *n;
	size_t base;
	int rc;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return fail(s, line, -EINVAL, "YAML aliases are not supported");
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return fail(s, line, -EINVAL, "invalid YAML: unexpected event %d", (int)ev->type);
	}
	if (anchor)
		return fail(s, line, -EINVAL, "YAML anchors are not supported");
	if (tag)
		return fail(s, line, -EINVAL, "YAML tags are not supported");
	n = ms_arena_alloc(s->tmp, sizeof(*n));
	if (!n)
		return fail(s, line, -ENOMEM, "out of memory");
	n->line = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		n->type = N_SCALAR;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		n->str = ms_arena_strndup(s->tmp, (const char *)ev->data.scalar.value, n->len);
		if (!n->str)
			return fail(s, line, -ENOMEM, "out of memory");
		*out = n;
		return 0;
	}
	n->type = is_map ? N_MAP : N_SEQ;
	if (depth >= MS_POLICY_DEPTH_MAX)
		return fail(s, line, -E2BIG, "nesting deeper than %d levels", MS_POLICY_DEPTH_MAX);
	base = s->sp;
	for (;;) {
		yaml_event_t cev;
		struct node *child;
		size_t count = s->sp - base;

		if ((rc = next_event(s, &cev)))
			return rc;
		if (cev.type == end) {
			yaml_event_delete(&cev);
			break;
		}
		if (is_map && count % 2 == 0 && cev.type != YAML_SCALAR_EVENT && cev.type != YAML_ALIAS_EVENT) {
			unsigned kl = (unsigned)cev.start_mark.line + 1;
			yaml_event_delete(&cev);
			return fail(s, kl, -EINVAL, "mapping keys must be strings");
		}
		if ((is_map ? count / 2 : count) >= MS_POLICY_LIST_MAX && (!is_map || count % 2 == 0)) {
			unsigned cl = (unsigned)cev.start_mark.line + 1;
			yaml_event_delete(&cev);
			return fail(s, cl, -E2BIG, "%s of more than %d %s", is_map ? "mapping" : "list",
				    MS_POLICY_LIST_MAX, is_map ? "keys" : "items");
		}
		rc = build(s, &cev, depth + 1, &child);
		yaml_event_delete(&cev);
		if (rc)
			return rc;
		if (push_node(s, child))
			return fail(s, line, -ENOMEM, "out of memory");
	}
	size_t count = s->sp - base;
	if (count) {
		n->kids = ms_arena_alloc(s->tmp, count * sizeof(*n->kids));
		if (!n->kids)
			return fail(s, line, -ENOMEM, "out of memory");
		memcpy(n->kids, s->stack + base, count * sizeof(*n->kids));
	}
	n->n = is_map ? count / 2 : count;
	s->sp = base;
	if (is_map && (rc = check_dup_keys(s, n)))
		return rc;
	*out = n;
	return 0;
}

/* ---- reading values ---- */

static bool is_null(const struct node *n)
{
	if (!n)
		return true;
	if (n->type != N_SCALAR || !n->plain)
		return false;
	return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") || !strcmp(n->str, "Null") ||
	       !strcmp(n->str, "NULL");
}

static bool str_is(const struct node *n, const char *s)
{
	return n->type == N_SCALAR && n->len == strlen(s) && !memcmp(n->str, s, n->len);
}

static int want_map(struct pstate *s, const struct node *n)
{
	return n->type == N_MAP ? 0 : fail(s, n->line, -EINVAL, "expected a mapping");
}

static int want_seq(struct pstate *s, const struct node *n)
{
	return n->type == N_SEQ ? 0 : fail(s, n->line, -EINVAL, "expected a list");
}

/* A string value (a plain number or word reads as its text; null does not). */
static int want_str(struct pstate *s, const struct node *n, const char **out)
{
	if (n->type != N_SCALAR || is_null(n))
		return fail(s, n->line, -EINVAL, "expected a string");
	if (memchr(n->str, '\0', n->len))
		return fail(s, n->line, -EINVAL, "string contains a NUL character");
	*out = n->str;
	return 0;
}

static bool all_digits(const struct node *n)
{
	if (n->type != N_SCALAR || n->len == 0 || n->len > 10)
		return false;
	for (size_t i = 0; i < n->len; i++)
		if (n->str[i] < '0' || n->str[i] > '9')
			return false;
	return true;
}

/* A decimal number, written plain or quoted. */
static int want_uint(struct pstate *s, const struct node *n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	char buf[64];

	if (!all_digits(n))
		return n->type == N_SCALAR ? fail(s, n->line, -EINVAL, "'%s' is not a number", show(n->str, n->len, buf))
					   : fail(s, n->line, -EINVAL, "expected a number");
	for (size_t i = 0; i < n->len; i++)
		v = v * 10 + (unsigned long)(n->str[i] - '0');
	if (v > max)
		return fail(s, n->line, -EINVAL, "%lu is out of range (0-%lu)", v, max);
	*out = v;
	return 0;
}

/* A mapping's fields against a table. A field with no slot is known but unsupported. */
struct field {
	const char *name;
	const struct node **slot;
};

static int take_fields(struct pstate *s, const struct node *m, const struct field *f, size_t nf)
{
	char buf[64];
	int rc;

	if ((rc = want_map(s, m)))
		return rc;
	for (size_t j = 0; j < nf; j++)
		if (f[j].slot)
			*f[j].slot = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct node *k = MAP_KEY(m, i), *v = MAP_VAL(m, i);
		size_t j;

		for (j = 0; j < nf; j++)
			if (str_is(k, f[j].name))
				break;
		if (j == nf)
			return fail(s, k->line, -EINVAL, "unknown field '%s'", show(k->str, k->len, buf));
		if (!f[j].slot)
			return fail(s, k->line, -EINVAL, "field '%s' is not supported", f[j].name);
		if (!is_null(v))
			*f[j].slot = v;
	}
	return 0;
}

#define TAKE(s, m, ...)                                                                            \
	({                                                                                         \
		const struct field f_[] = { __VA_ARGS__ };                                         \
		take_fields((s), (m), f_, sizeof(f_) / sizeof(f_[0]));                             \
	})

/* Items of an optional list field: 0 when absent or null. */
static int list_len(struct pstate *s, const char *key, const struct node *n, size_t *len)
{
	size_t m;
	int rc = 0;

	*len = 0;
	if (!n)
		return 0;
	m = push_key(s, key);
	if (!(rc = want_seq(s, n)))
		*len = n->n;
	if (!rc)
		pop(s, m);
	return rc;
}

static char *ostrdup(struct pstate *s, const char *str)
{
	char *d = ms_arena_strdup(s->out, str);

	if (!d)
		fail(s, 0, -ENOMEM, "out of memory");
	return d;
}

static void *oalloc(struct pstate *s, size_t n, size_t size);

/* a + b + c as one arena string */
static char *oconcat(struct pstate *s, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *d = oalloc(s, la + lb + lc + 1, 1);

	if (d) {
		memcpy(d, a, la);
		memcpy(d + la, b, lb);
		memcpy(d + la + lb, c, lc + 1);
	}
	return d;
}

static void *oalloc(struct pstate *s, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		return NULL;
	if (n > SIZE_MAX / size) {
		fail(s, 0, -ENOMEM, "out of memory");
		return NULL;
	}
	p = ms_arena_alloc(s->out, n * size);
	if (!p)
		fail(s, 0, -ENOMEM, "out of memory");
	return p;
}

/* Grows an arena array to hold one more element. */
static void *ogrow(struct pstate *s, void *arr, size_t n, size_t *cap, size_t size)
{
	void *p;

	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 8;
	p = oalloc(s, *cap, size);
	if (p && n)
		memcpy(p, arr, n * size);
	return p;
}

/* ---- selectors ---- */

#define NS_LABEL_KEY "k8s:io.kubernetes.pod.namespace"
#define NS_TERM_PREFIX "k8s:io.cilium.k8s.namespace.labels."

struct selb {
	const char **labels;
	size_t nl, capl;
	struct microseg_sel_expr *exprs;
	size_t ne, cape;
};

static bool label_char(char c)
{
	return c > ' ' && c < 0x7f && c != ',' && c != '=';
}

/* Label keys: printable ASCII, no space, ',' or '='; "source:key" needs both parts. */
static int check_key(struct pstate *s, unsigned line, const char *key)
{
	const char *colon = strchr(key, ':');
	char buf[64];

	if (!key[0])
		return fail(s, line, -EINVAL, "empty label key");
	for (const char *p = key; *p; p++)
		if (!label_char(*p))
			return fail(s, line, -EINVAL, "bad character in label key '%s'", show(key, strlen(key), buf));
	if (colon && (colon == key || !colon[1]))
		return fail(s, line, -EINVAL, "label key '%s' is not key or source:key", show(key, strlen(key), buf));
	return 0;
}

static int check_value(struct pstate *s, unsigned line, const char *v)
{
	char buf[64];

	for (const char *p = v; *p; p++)
		if (!label_char(*p))
			return fail(s, line, -EINVAL, "bad character in label value '%s'", show(v, strlen(v), buf));
	return 0;
}

static size_t key_part_len(const char *label)
{
	return (size_t)(strchr(label, '=') - label);
}

/* Adds prefix+key=value. With `dedup`, an identical label is dropped and the same key with
 * another value is an error (the parts come from different places of the document). */
static int selb_label(struct pstate *s, struct selb *b, unsigned line, const char *prefix, const char *key,
		      const char *value, bool dedup)
{
	size_t pl = strlen(prefix), kl = strlen(key), vl = strlen(value);
	char *l;

	if (pl + kl + 1 + vl > MICROSEG_LABEL_MAX)
		return fail(s, line, -EINVAL, "label longer than %d bytes", MICROSEG_LABEL_MAX);
	l = oalloc(s, pl + kl + vl + 2, 1);
	if (!l)
		return -ENOMEM;
	memcpy(l, prefix, pl);
	memcpy(l + pl, key, kl);
	l[pl + kl] = '=';
	memcpy(l + pl + kl + 1, value, vl + 1);
	if (dedup) {
		for (size_t i = 0; i < b->nl; i++) {
			if (key_part_len(b->labels[i]) != pl + kl || strncmp(b->labels[i], l, pl + kl))
				continue;
			if (!strcmp(b->labels[i], l))
				return 0;
			return fail(s, line, -EINVAL, "label key '%s' is also required to be '%s'", l,
				    b->labels[i] + pl + kl + 1);
		}
	}
	if (b->nl >= MS_POLICY_LIST_MAX)
		return fail(s, line, -E2BIG, "more than %d labels in one selector", MS_POLICY_LIST_MAX);
	b->labels = ogrow(s, b->labels, b->nl, &b->capl, sizeof(*b->labels));
	if (!b->labels)
		return -ENOMEM;
	b->labels[b->nl++] = l;
	return 0;
}

/*
 * A LabelSelector {matchLabels, matchExpressions} into b. prefix goes before every key
 * (namespaceSelector terms); with a prefix, keys may not carry their own source.
 */
static int parse_selector(struct pstate *s, const struct node *sel, const char *prefix, struct selb *b)
{
	const struct node *ml, *me;
	size_t m, m2;
	int rc;
	bool dedup = b->nl > 0 || b->ne > 0;

	if ((rc = TAKE(s, sel, { "matchLabels", &ml }, { "matchExpressions", &me })))
		return rc;
	if (ml) {
		m = push_key(s, "matchLabels");
		if ((rc = want_map(s, ml)))
			return rc;
		for (size_t i = 0; i < ml->n; i++) {
			const struct node *k = MAP_KEY(ml, i), *v = MAP_VAL(ml, i);
			const char *key, *val = "";
			char buf[64];

			m2 = push_key(s, show(k->str, k->len, buf));
			if ((rc = want_str(s, k, &key)) || (rc = check_key(s, k->line, key)))
				return rc;
			if (prefix[0] && strchr(key, ':'))
				return fail(s, k->line, -EINVAL, "a namespace label key has no source");
			if (!is_null(v) && ((rc = want_str(s, v, &val)) || (rc = check_value(s, v->line, val))))
				return rc;
			if ((rc = selb_label(s, b, k->line, prefix, key, val, dedup)))
				return rc;
			pop(s, m2);
		}
		pop(s, m);
	}
	if (me) {
		m = push_key(s, "matchExpressions");
		if ((rc = want_seq(s, me)))
			return rc;
		pop(s, m);
		for (size_t i = 0; i < me->n; i++) {
			const struct node *e = me->kids[i], *kn, *on, *vn;
			struct microseg_sel_expr x = { 0 };
			const char *key, *op;
			const char **vals = NULL;

			m = push_key(s, "matchExpressions");
			push_idx(s, i);
			if ((rc = TAKE(s, e, { "key", &kn }, { "operator", &on }, { "values", &vn })))
				return rc;
			if (!kn || !on)
				return fail(s, e->line, -EINVAL, "missing %s", !kn ? "key" : "operator");
			m2 = push_key(s, "key");
			if ((rc = want_str(s, kn, &key)) || (rc = check_key(s, kn->line, key)))
				return rc;
			if (prefix[0] && strchr(key, ':'))
				return fail(s, kn->line, -EINVAL, "a namespace label key has no source");
			pop(s, m2);
			m2 = push_key(s, "operator");
			if ((rc = want_str(s, on, &op)))
				return rc;
			if (!strcmp(op, "In"))
				x.op = MICROSEG_SEL_IN;
			else if (!strcmp(op, "NotIn"))
				x.op = MICROSEG_SEL_NOT_IN;
			else if (!strcmp(op, "Exists"))
				x.op = MICROSEG_SEL_EXISTS;
			else if (!strcmp(op, "DoesNotExist"))
				x.op = MICROSEG_SEL_DOES_NOT_EXIST;
			else
				return fail(s, on->line, -EINVAL, "unknown operator '%s' (In, NotIn, Exists, DoesNotExist)",
					    show(op, strlen(op), (char[64]){ 0 }));
			pop(s, m2);
			m2 = push_key(s, "values");
			if (vn && (rc = want_seq(s, vn)))
				return rc;
			x.n_values = vn ? vn->n : 0;
			if ((x.op == MICROSEG_SEL_IN || x.op == MICROSEG_SEL_NOT_IN) && x.n_values == 0)
				return fail(s, vn ? vn->line : e->line, -EINVAL, "%s needs at least one value", op);
			if ((x.op == MICROSEG_SEL_EXISTS || x.op == MICROSEG_SEL_DOES_NOT_EXIST) && x.n_values)
				return fail(s, vn->line, -EINVAL, "%s takes no values", op);
			if (x.n_values && !(vals = oalloc(s, x.n_values, sizeof(*vals))))
				return -ENOMEM;
			for (size_t j = 0; j < x.n_values; j++) {
				const char *v;
				size_t m3 = push_idx(s, j);
				if ((rc = want_str(s, vn->kids[j], &v)) || (rc = check_value(s, vn->kids[j]->line, v)))
					return rc;
				if (!(vals[j] = ostrdup(s, v)))
					return -ENOMEM;
				pop(s, m3);
			}
			pop(s, m2);
			if (strlen(prefix) + strlen(key) > MICROSEG_LABEL_MAX)
				return fail(s, kn->line, -EINVAL, "key longer than %d bytes", MICROSEG_LABEL_MAX);
			if (b->ne >= MS_POLICY_LIST_MAX)
				return fail(s, e->line, -E2BIG, "more than %d expressions in one selector",
					    MS_POLICY_LIST_MAX);
			if (!(x.key = oconcat(s, prefix, key, "")))
				return -ENOMEM;
			x.values = vals;
			b->exprs = ogrow(s, b->exprs, b->ne, &b->cape, sizeof(*b->exprs));
			if (!b->exprs)
				return -ENOMEM;
			b->exprs[b->ne++] = x;
			pop(s, m);
		}
	}
	return 0;
}

static void selb_finish(const struct selb *b, struct microseg_selector *out)
{
	out->match_labels = b->nl ? b->labels : NULL;
	out->n_match_labels = b->nl;
	out->exprs = b->ne ? b->exprs : NULL;
	out->n_exprs = b->ne;
}

static bool is_ns_key(const char *key, size_t len)
{
	static const char *const forms[] = { "io.kubernetes.pod.namespace", NS_LABEL_KEY,
					     "any:io.kubernetes.pod.namespace" };

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (len == strlen(forms[i]) && !strncmp(key, forms[i], len))
			return true;
	return false;
}

/* Whether the user scoped the selector's namespace (or selects a reserved identity), in which
 * case Cilium leaves it alone. */
static bool selb_scoped(const struct selb *b)
{
	for (size_t i = 0; i < b->nl; i++)
		if (is_ns_key(b->labels[i], key_part_len(b->labels[i])) || !strncmp(b->labels[i], "reserved:", 9))
			return true;
	for (size_t i = 0; i < b->ne; i++)
		if (is_ns_key(b->exprs[i].key, strlen(b->exprs[i].key)) || !strncmp(b->exprs[i].key, "reserved:", 9))
			return true;
	return false;
}

/* Restricts a selector to the policy's namespace. */
static int selb_add_ns(struct pstate *s, struct selb *b, unsigned line)
{
	char buf[64];

	for (size_t i = 0; i < b->nl; i++) {
		size_t kl = key_part_len(b->labels[i]);
		if (is_ns_key(b->labels[i], kl) && strcmp(b->labels[i] + kl + 1, s->ns))
			return fail(s, line, -EINVAL, "selects namespace '%s' in a policy of namespace '%s'",
				    show(b->labels[i] + kl + 1, strlen(b->labels[i] + kl + 1), buf), s->ns);
	}
	return selb_label(s, b, line, "", NS_LABEL_KEY, s->ns, true);
}

/* ---- CIDRs, ports ---- */

static int parse_cidr(struct pstate *s, const struct node *n, struct ms_cidr *c, const char **out)
{
	const char *str;
	char buf[64];
	int rc;

	if ((rc = want_str(s, n, &str)))
		return rc;
	if (ms_cidr_parse(str, c))
		return fail(s, n->line, -EINVAL, "'%s' is not a CIDR (address/prefix)", show(str, strlen(str), buf));
	*out = ostrdup(s, str);
	return *out ? 0 : -ENOMEM;
}

/* A CIDR peer from a cidr node and an optional except list. */
static int cidr_peer(struct pstate *s, const struct node *cidr, const struct node *except, struct microseg_peer *p)
{
	struct ms_cidr outer, inner;
	const char **ex = NULL;
	size_t m, m2;
	int rc;

	p->kind = MICROSEG_PEER_CIDR;
	m = push_key(s, "cidr");
	if ((rc = parse_cidr(s, cidr, &outer, &p->cidr)))
		return rc;
	pop(s, m);
	if (!except)
		return 0;
	m = push_key(s, "except");
	if ((rc = want_seq(s, except)))
		return rc;
	if (except->n && !(ex = oalloc(s, except->n, sizeof(*ex))))
		return -ENOMEM;
	for (size_t i = 0; i < except->n; i++) {
		m2 = push_idx(s, i);
		if ((rc = parse_cidr(s, except->kids[i], &inner, &ex[i])))
			return rc;
		if (!ms_cidr_contains(&outer, &inner))
			return fail(s, except->kids[i]->line, -EINVAL, "%s is not inside %s", ex[i], p->cidr);
		pop(s, m2);
	}
	pop(s, m);
	p->except = ex;
	p->n_except = except->n;
	return 0;
}

static int parse_proto(struct pstate *s, const struct node *n, bool cilium, uint32_t *proto)
{
	static const struct {
		const char *name;
		uint32_t proto;
		bool cilium_only;
	} protos[] = {
		{ "TCP", MICROSEG_PROTO_TCP, false },       { "UDP", MICROSEG_PROTO_UDP, false },
		{ "SCTP", MICROSEG_PROTO_SCTP, false },     { "ANY", MICROSEG_PROTO_ANY, true },
		{ "ICMP", MICROSEG_PROTO_ICMP, true },      { "ICMPV6", MICROSEG_PROTO_ICMPV6, true },
		{ "ICMPv6", MICROSEG_PROTO_ICMPV6, true },
	};
	const char *str;
	char buf[64];
	int rc;

	if ((rc = want_str(s, n, &str)))
		return rc;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(str, protos[i].name) && (cilium || !protos[i].cilium_only)) {
			*proto = protos[i].proto;
			return 0;
		}
	return fail(s, n->line, -EINVAL, "unknown protocol '%s' (%s)", show(str, strlen(str), buf),
		    cilium ? "TCP, UDP, SCTP, ANY" : "TCP, UDP, SCTP");
}

/* {protocol, port, endPort}: Kubernetes NetworkPolicyPort or Cilium PortProtocol. */
static int parse_port(struct pstate *s, const struct node *pn, bool cilium, struct microseg_port *p)
{
	const struct node *proto, *port, *end;
	unsigned long v;
	size_t m;
	int rc;

	if ((rc = TAKE(s, pn, { "protocol", &proto }, { "port", &port }, { "endPort", &end })))
		return rc;
	p->proto = cilium ? MICROSEG_PROTO_ANY : MICROSEG_PROTO_TCP;
	if (proto) {
		m = push_key(s, "protocol");
		if ((rc = parse_proto(s, proto, cilium, &p->proto)))
			return rc;
		pop(s, m);
	}
	if (port) {
		char buf[64];
		m = push_key(s, "port");
		bool named = false;
		for (size_t i = 0; port->type == N_SCALAR && i < port->len; i++)
			named |= (port->str[i] >= 'a' && port->str[i] <= 'z') || (port->str[i] >= 'A' && port->str[i] <= 'Z');
		if (named)
			return fail(s, port->line, -EINVAL, "named ports are not supported ('%s')",
				    show(port->str, port->len, buf));
		if ((rc = want_uint(s, port, 65535, &v)))
			return rc;
		p->port = (uint16_t)v;
		pop(s, m);
	}
	if (end) {
		m = push_key(s, "endPort");
		if ((rc = want_uint(s, end, 65535, &v)))
			return rc;
		if (!p->port)
			return fail(s, end->line, -EINVAL, "endPort needs a port");
		if (v < p->port)
			return fail(s, end->line, -EINVAL, "endPort %lu is below port %u", v, p->port);
		p->end_port = (uint16_t)v;
		pop(s, m);
	}
	if ((p->proto == MICROSEG_PROTO_ICMP || p->proto == MICROSEG_PROTO_ICMPV6) && (p->port || p->end_port))
		return fail(s, pn->line, -EINVAL, "an ICMP protocol takes no port (use icmps for types)");
	return 0;
}

/* Cilium's ICMP type names (pkg/policy/api/icmp.go), for IPv4 and IPv6. */
static const struct icmp_name {
	const char *name;
	uint8_t v4, v6; /* 255: none in that family */
} icmp_names[] = {
	{ "EchoReply", 0, 129 },
	{ "DestinationUnreachable", 3, 1 },
	{ "Redirect", 5, 255 },
	{ "Echo", 8, 255 },
	{ "EchoRequest", 8, 128 },
	{ "RouterAdvertisement", 9, 134 },
	{ "RouterSelection", 10, 255 },
	{ "RouterSolicitation", 255, 133 },
	{ "TimeExceeded", 11, 3 },
	{ "ParameterProblem", 12, 4 },
	{ "Timestamp", 13, 255 },
	{ "TimestampReply", 14, 255 },
	{ "PacketTooBig", 255, 2 },
	{ "NeighborSolicitation", 255, 135 },
	{ "NeighborAdvertisement", 255, 136 },
	{ "RedirectMessage", 255, 137 },
	{ "MulticastListenerQuery", 255, 130 },
	{ "MulticastListenerReport", 255, 131 },
	{ "MulticastListenerDone", 255, 132 },
	{ "ExtendedEchoRequest", 42, 160 },
	{ "ExtendedEchoReply", 43, 161 },
};

/* A new zeroed port at the end of a section's growing port list. */
static int port_slot(struct pstate *s, struct microseg_port **ports, size_t *n, size_t *cap, unsigned line,
		     struct microseg_port **slot)
{
	if (*n >= MS_POLICY_LIST_MAX)
		return fail(s, line, -E2BIG, "more than %d ports in one rule", MS_POLICY_LIST_MAX);
	*ports = ogrow(s, *ports, *n, cap, sizeof(**ports));
	if (!*ports)
		return -ENOMEM;
	*slot = &(*ports)[(*n)++];
	memset(*slot, 0, sizeof(**slot));
	return 0;
}

/* icmps[] {fields[] {type, family}} appended to ports. */
static int parse_icmps(struct pstate *s, const struct node *icmps, struct microseg_port **ports, size_t *np,
		       size_t *cap)
{
	size_t m, m2, m3;
	int rc;

	for (size_t i = 0; i < icmps->n; i++) {
		const struct node *fields;

		m = push_idx(s, i);
		if ((rc = TAKE(s, icmps->kids[i], { "fields", &fields })))
			return rc;
		m2 = push_key(s, "fields");
		if (!fields)
			return fail(s, icmps->kids[i]->line, -EINVAL, "missing");
		if ((rc = want_seq(s, fields)))
			return rc;
		if (fields->n == 0)
			return fail(s, fields->line, -EINVAL, "needs at least one field");
		for (size_t j = 0; j < fields->n; j++) {
			const struct node *type, *family;
			bool v6 = false;
			unsigned long t = 0;

			m3 = push_idx(s, j);
			if ((rc = TAKE(s, fields->kids[j], { "type", &type }, { "family", &family })))
				return rc;
			if (family) {
				size_t m4 = push_key(s, "family");
				if (str_is(family, "IPv6"))
					v6 = true;
				else if (!str_is(family, "IPv4"))
					return fail(s, family->line, -EINVAL, "family must be IPv4 or IPv6");
				pop(s, m4);
			}
			if (!type)
				return fail(s, fields->kids[j]->line, -EINVAL, "missing type");
			size_t m4 = push_key(s, "type");
			if (all_digits(type)) {
				if ((rc = want_uint(s, type, 255, &t)))
					return rc;
			} else {
				const char *name;
				size_t k, nn = sizeof(icmp_names) / sizeof(icmp_names[0]);
				if ((rc = want_str(s, type, &name)))
					return rc;
				for (k = 0; k < nn; k++)
					if (!strcmp(name, icmp_names[k].name) &&
					    (v6 ? icmp_names[k].v6 : icmp_names[k].v4) != 255)
						break;
				if (k == nn)
					return fail(s, type->line, -EINVAL, "unknown %s type '%s'", v6 ? "ICMPv6" : "ICMP",
						    show(name, strlen(name), (char[64]){ 0 }));
				t = v6 ? icmp_names[k].v6 : icmp_names[k].v4;
			}
			pop(s, m4);
			struct microseg_port *slot;
			if ((rc = port_slot(s, ports, np, cap, fields->kids[j]->line, &slot)))
				return rc;
			slot->proto = v6 ? MICROSEG_PROTO_ICMPV6 : MICROSEG_PROTO_ICMP;
			slot->port = (uint16_t)t;
			slot->flags = MICROSEG_PORT_F_ICMP_TYPE;
			pop(s, m3);
		}
		pop(s, m2);
		pop(s, m);
	}
	return 0;
}

/* ---- L7 rules ---- */

static int strv(struct pstate *s, const struct node *seq, const char ***out, size_t *n)
{
	const char **v;
	int rc;

	if ((rc = want_seq(s, seq)))
		return rc;
	*n = seq->n;
	*out = NULL;
	if (!seq->n)
		return 0;
	if (!(v = oalloc(s, seq->n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < seq->n; i++) {
		const char *str;
		size_t m = push_idx(s, i);
		if ((rc = want_str(s, seq->kids[i], &str)))
			return rc;
		if (!(v[i] = ostrdup(s, str)))
			return -ENOMEM;
		pop(s, m);
	}
	*out = v;
	return 0;
}

static int opt_str(struct pstate *s, const struct node *n, const char *key, const char **out)
{
	const char *str;
	size_t m;
	int rc;

	*out = NULL;
	if (!n)
		return 0;
	m = push_key(s, key);
	if ((rc = want_str(s, n, &str)))
		return rc;
	if (!(*out = ostrdup(s, str)))
		return -ENOMEM;
	pop(s, m);
	return 0;
}

static int parse_http(struct pstate *s, const struct node *seq, struct ms_l7_port_rules *l7)
{
	struct microseg_http_rule *h;
	size_t m, m2;
	int rc;

	if (!(h = oalloc(s, seq->n, sizeof(*h))))
		return -ENOMEM;
	for (size_t i = 0; i < seq->n; i++) {
		const struct node *method, *path, *host, *headers, *hm;
		const char **hv = NULL;
		size_t nh = 0;

		m = push_idx(s, i);
		if ((rc = TAKE(s, seq->kids[i], { "method", &method }, { "path", &path }, { "host", &host },
			       { "headers", &headers }, { "headerMatches", &hm })))
			return rc;
		if ((rc = opt_str(s, method, "method", &h[i].method)) || (rc = opt_str(s, path, "path", &h[i].path)) ||
		    (rc = opt_str(s, host, "host", &h[i].host)))
			return rc;
		if (headers) {
			m2 = push_key(s, "headers");
			if ((rc = strv(s, headers, &hv, &nh)))
				return rc;
			pop(s, m2);
		}
		if (hm) {
			const char **all = NULL;
			m2 = push_key(s, "headerMatches");
			if ((rc = want_seq(s, hm)))
				return rc;
			if (nh + hm->n && !(all = oalloc(s, nh + hm->n, sizeof(*all))))
				return -ENOMEM;
			if (nh)
				memcpy(all, hv, nh * sizeof(*all));
			/* Kept as plain "Name: value" headers: a mismatch action or a secret value would
			 * change what passes, so those are refused rather than dropped. */
			for (size_t j = 0; j < hm->n; j++) {
				const struct node *name, *value;
				const char *nv, *vv = NULL;
				size_t m3 = push_idx(s, j);
				char *hdr;
				if ((rc = TAKE(s, hm->kids[j], { "name", &name }, { "value", &value }, { "mismatch", NULL },
					       { "secret", NULL })))
					return rc;
				if (!name)
					return fail(s, hm->kids[j]->line, -EINVAL, "missing name");
				if ((rc = want_str(s, name, &nv)) || (value && (rc = want_str(s, value, &vv))))
					return rc;
				if (!(hdr = oconcat(s, nv, vv ? ": " : "", vv ? vv : "")))
					return -ENOMEM;
				all[nh++] = hdr;
				pop(s, m3);
			}
			hv = all;
			pop(s, m2);
		}
		h[i].headers = hv;
		h[i].n_headers = nh;
		pop(s, m);
	}
	l7->http = h;
	l7->n_http = seq->n;
	return 0;
}

static int parse_dns(struct pstate *s, const struct node *seq, struct ms_l7_port_rules *l7)
{
	const char **v;
	size_t m;
	int rc;

	if (!(v = oalloc(s, seq->n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < seq->n; i++) {
		const struct node *name, *pattern;
		const char *str;

		m = push_idx(s, i);
		if ((rc = TAKE(s, seq->kids[i], { "matchName", &name }, { "matchPattern", &pattern })))
			return rc;
		if (!name == !pattern)
			return fail(s, seq->kids[i]->line, -EINVAL, "needs exactly one of matchName and matchPattern");
		push_key(s, name ? "matchName" : "matchPattern");
		if ((rc = want_str(s, name ? name : pattern, &str)))
			return rc;
		v[i] = oconcat(s, name ? "" : "pattern:", str, "");
		if (!v[i])
			return -ENOMEM;
		pop(s, m);
	}
	l7->dns_names = v;
	l7->n_dns = seq->n;
	return 0;
}

static int parse_kafka(struct pstate *s, const struct node *seq, struct ms_l7_port_rules *l7)
{
	const char **v;
	size_t m;
	int rc;

	if (!(v = oalloc(s, seq->n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < seq->n; i++) {
		const struct node *topic, *role, *key;
		const char *t = "", *r = NULL;

		m = push_idx(s, i);
		/* apiVersion and clientID narrow a rule; dropping them would widen it. */
		if ((rc = TAKE(s, seq->kids[i], { "topic", &topic }, { "role", &role }, { "apiKey", &key },
			       { "apiVersion", NULL }, { "clientID", NULL })))
			return rc;
		if (role && key)
			return fail(s, seq->kids[i]->line, -EINVAL, "role and apiKey are exclusive");
		if (topic) {
			size_t m2 = push_key(s, "topic");
			if ((rc = want_str(s, topic, &t)))
				return rc;
			pop(s, m2);
		}
		if (role || key) {
			size_t m2 = push_key(s, role ? "role" : "apiKey");
			if ((rc = want_str(s, role ? role : key, &r)))
				return rc;
			if (role && strcmp(r, "produce") && strcmp(r, "consume"))
				return fail(s, role->line, -EINVAL, "role must be produce or consume");
			for (const char *p = r; *p; p++)
				if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
					return fail(s, key->line, -EINVAL, "not an apiKey name");
			if (!*r)
				return fail(s, (role ? role : key)->line, -EINVAL, "empty");
			pop(s, m2);
		}
		if (!(v[i] = oconcat(s, r ? r : "", r ? ":" : "", t)))
			return -ENOMEM;
		pop(s, m);
	}
	l7->kafka_topics = v;
	l7->n_kafka = seq->n;
	return 0;
}

/* toPorts[].rules. ports/np: the entry's ports, for the protocol checks. */
static int parse_l7(struct pstate *s, const struct node *rules, const struct microseg_port *ports, size_t np,
		    struct ms_l7_port_rules *l7)
{
	const struct node *http, *dns, *kafka;
	size_t m, kinds = 0;
	int rc;

	if ((rc = TAKE(s, rules, { "http", &http }, { "dns", &dns }, { "kafka", &kafka }, { "l7proto", NULL },
		       { "l7", NULL })))
		return rc;
	if (http && (rc = list_len(s, "http", http, &m)))
		return rc;
	if (dns && (rc = list_len(s, "dns", dns, &m)))
		return rc;
	if (kafka && (rc = list_len(s, "kafka", kafka, &m)))
		return rc;
	kinds = (http && http->n) + (dns && dns->n) + (kafka && kafka->n);
	if (kinds > 1)
		return fail(s, rules->line, -EINVAL, "only one of http, dns and kafka per port rule");
	for (size_t i = 0; i < np; i++) {
		bool tcp = ports[i].proto == MICROSEG_PROTO_TCP || ports[i].proto == MICROSEG_PROTO_ANY;
		bool udp = ports[i].proto == MICROSEG_PROTO_UDP;
		if (kinds && !(tcp || (udp && dns && dns->n)))
			return fail(s, rules->line, -EINVAL, "%s rules need TCP%s ports",
				    dns && dns->n ? "dns" : http && http->n ? "http" : "kafka",
				    dns && dns->n ? " or UDP" : "");
	}
	if (http && http->n) {
		m = push_key(s, "http");
		if ((rc = parse_http(s, http, l7)))
			return rc;
		pop(s, m);
	}
	if (dns && dns->n) {
		m = push_key(s, "dns");
		if ((rc = parse_dns(s, dns, l7)))
			return rc;
		pop(s, m);
	}
	if (kafka && kafka->n) {
		m = push_key(s, "kafka");
		if ((rc = parse_kafka(s, kafka, l7)))
			return rc;
		pop(s, m);
	}
	return 0;
}

/* ---- rules being built ---- */

struct rule_build {
	struct microseg_rule_spec *spec;
	struct microseg_rule_section *secs;
	size_t n_secs;
	size_t rule_idx;
};

static int add_l7(struct pstate *s, const struct ms_l7_port_rules *tmpl, size_t rule, size_t sec, size_t port)
{
	s->l7 = ogrow(s, s->l7, s->n_l7, &s->cap_l7, sizeof(*s->l7));
	if (!s->l7)
		return -ENOMEM;
	s->l7[s->n_l7] = *tmpl;
	s->l7[s->n_l7].rule = rule;
	s->l7[s->n_l7].section = sec;
	s->l7[s->n_l7].port = port;
	s->n_l7++;
	return 0;
}

/* Sections whose peers include `all` allow any peer: stored as no peers, as the emitter
 * writes them, so that a round trip is exact. */
static void fold_all(struct microseg_rule_section *sec)
{
	for (size_t i = 0; i < sec->n_peers; i++)
		if (sec->peers[i].kind == MICROSEG_PEER_ENTITY && sec->peers[i].entity == MICROSEG_ENTITY_ALL) {
			sec->peers = NULL;
			sec->n_peers = 0;
			return;
		}
}

/* ---- Kubernetes NetworkPolicy ---- */

static int np_peer(struct pstate *s, const struct node *pn, struct microseg_peer *p)
{
	const struct node *pod, *nsel, *ipb;
	struct selb b = { 0 };
	size_t m;
	int rc;

	if ((rc = TAKE(s, pn, { "podSelector", &pod }, { "namespaceSelector", &nsel }, { "ipBlock", &ipb })))
		return rc;
	if (ipb) {
		const struct node *cidr, *except;
		if (pod || nsel)
			return fail(s, pn->line, -EINVAL, "ipBlock cannot be combined with podSelector or namespaceSelector");
		m = push_key(s, "ipBlock");
		if ((rc = TAKE(s, ipb, { "cidr", &cidr }, { "except", &except })))
			return rc;
		if (!cidr)
			return fail(s, ipb->line, -EINVAL, "missing cidr");
		if ((rc = cidr_peer(s, cidr, except, p)))
			return rc;
		pop(s, m);
		return 0;
	}
	if (!pod && !nsel)
		return fail(s, pn->line, -EINVAL, "a peer needs podSelector, namespaceSelector or ipBlock");
	p->kind = MICROSEG_PEER_SELECTOR;
	if (pod) {
		m = push_key(s, "podSelector");
		if ((rc = parse_selector(s, pod, "", &b)))
			return rc;
		if (!nsel && (rc = selb_add_ns(s, &b, pod->line)))
			return rc;
		pop(s, m);
	}
	if (nsel) {
		/* ANDed with the pod terms; {} means every namespace, so it adds no term */
		m = push_key(s, "namespaceSelector");
		if ((rc = parse_selector(s, nsel, NS_TERM_PREFIX, &b)))
			return rc;
		pop(s, m);
	}
	selb_finish(&b, &p->selector);
	return 0;
}

static int np_rule(struct pstate *s, const struct node *rn, bool egress, struct microseg_rule_section *sec)
{
	const char *peer_key = egress ? "to" : "from";
	const struct node *peers, *ports;
	struct microseg_peer *pv = NULL;
	struct microseg_port *ptv = NULL;
	size_t np = 0, nports = 0, m, m2;
	int rc;

	if ((rc = TAKE(s, rn, { peer_key, &peers }, { "ports", &ports })))
		return rc;
	if ((rc = list_len(s, peer_key, peers, &np)) || (rc = list_len(s, "ports", ports, &nports)))
		return rc;
	sec->direction = egress ? MICROSEG_DIR_EGRESS : MICROSEG_DIR_INGRESS;
	sec->action = MICROSEG_ACTION_ALLOW;
	if (np && !(pv = oalloc(s, np, sizeof(*pv))))
		return -ENOMEM;
	for (size_t i = 0; i < np; i++) {
		m = push_key(s, peer_key);
		push_idx(s, i);
		if ((rc = np_peer(s, peers->kids[i], &pv[i])))
			return rc;
		pop(s, m);
	}
	if (nports && !(ptv = oalloc(s, nports, sizeof(*ptv))))
		return -ENOMEM;
	for (size_t i = 0; i < nports; i++) {
		m = push_key(s, "ports");
		m2 = push_idx(s, i);
		if ((rc = parse_port(s, ports->kids[i], false, &ptv[i])))
			return rc;
		pop(s, m2);
		pop(s, m);
	}
	sec->peers = pv;
	sec->n_peers = np;
	sec->ports = ptv;
	sec->n_ports = nports;
	return 0;
}

static int parse_np(struct pstate *s, const struct node *spec, struct microseg_rule_spec *r)
{
	const struct node *pod, *types, *ing, *egr;
	size_t ni = 0, ne = 0, m, m2;
	bool want_in = false, want_eg = false;
	struct microseg_rule_section *secs;
	struct selb b = { 0 };
	size_t n = 0;
	int rc;

	if ((rc = TAKE(s, spec, { "podSelector", &pod }, { "policyTypes", &types }, { "ingress", &ing },
		       { "egress", &egr })))
		return rc;
	if (!pod)
		return fail(s, spec->line, -EINVAL, "missing podSelector (use {} to select every pod)");
	m = push_key(s, "podSelector");
	if ((rc = parse_selector(s, pod, "", &b)) || (rc = selb_add_ns(s, &b, pod->line)))
		return rc;
	pop(s, m);
	selb_finish(&b, &r->endpoints);
	if ((rc = list_len(s, "ingress", ing, &ni)) || (rc = list_len(s, "egress", egr, &ne)))
		return rc;
	if (types) {
		m = push_key(s, "policyTypes");
		if ((rc = want_seq(s, types)))
			return rc;
		for (size_t i = 0; i < types->n; i++) {
			m2 = push_idx(s, i);
			if (str_is(types->kids[i], "Ingress"))
				want_in = true;
			else if (str_is(types->kids[i], "Egress"))
				want_eg = true;
			else
				return fail(s, types->kids[i]->line, -EINVAL, "policy type must be Ingress or Egress");
			pop(s, m2);
		}
		pop(s, m);
	}
	if (!types || types->n == 0) {
		/* Kubernetes' default: Ingress always, Egress when there are egress rules */
		want_in = true;
		want_eg = ne > 0;
	}
	if (ni + ne > MS_POLICY_LIST_MAX)
		return fail(s, spec->line, -E2BIG, "more than %d ingress and egress rules", MS_POLICY_LIST_MAX);
	r->flags = (want_in ? MICROSEG_RULE_F_INGRESS : 0) | (want_eg ? MICROSEG_RULE_F_EGRESS : 0);
	secs = oalloc(s, ni + ne, sizeof(*secs));
	if (ni + ne && !secs)
		return -ENOMEM;
	/* Rules of a direction the policy does not select are checked, then left out: Kubernetes
	 * ignores them. */
	for (size_t i = 0; i < ni + ne; i++) {
		bool eg = i >= ni;
		size_t idx = eg ? i - ni : i;
		m = push_key(s, eg ? "egress" : "ingress");
		push_idx(s, idx);
		if ((rc = np_rule(s, (eg ? egr : ing)->kids[idx], eg, &secs[n])))
			return rc;
		if (eg ? want_eg : want_in)
			n++;
		pop(s, m);
	}
	r->sections = n ? secs : NULL;
	r->n_sections = n;
	return 0;
}

/* ---- Cilium rules ---- */

static int parse_entity(struct pstate *s, const struct node *n, struct microseg_peer *p)
{
	static const char *const unsupported[] = { "cluster", "remote-node", "kube-apiserver", "init",
						   "health", "unmanaged", "ingress", "world-ipv4",
						   "world-ipv6", "none" };
	const char *e;
	char buf[64];
	int rc;

	if ((rc = want_str(s, n, &e)))
		return rc;
	p->kind = MICROSEG_PEER_ENTITY;
	if (!strcmp(e, "host"))
		p->entity = MICROSEG_ENTITY_HOST;
	else if (!strcmp(e, "world"))
		p->entity = MICROSEG_ENTITY_WORLD;
	else if (!strcmp(e, "all"))
		p->entity = MICROSEG_ENTITY_ALL;
	else {
		for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
			if (!strcmp(e, unsupported[i]))
				return fail(s, n->line, -EINVAL, "unsupported entity '%s' (host, world, all)", e);
		return fail(s, n->line, -EINVAL, "unknown entity '%s' (host, world, all)", show(e, strlen(e), buf));
	}
	return 0;
}

/* One rule of ingress/ingressDeny/egress/egressDeny: at most one section. */
static int cnp_rule(struct pstate *s, const struct node *rn, uint32_t dir, uint32_t action, struct rule_build *rb)
{
	bool eg = dir == MICROSEG_DIR_EGRESS, deny = action == MICROSEG_ACTION_DENY;
	const struct node *eps, *cidrs, *cidrsets, *ents, *toports, *icmps;
	size_t n_eps, n_cidrs, n_sets, n_ents, n_tp, n_icmps, np = 0, nports = 0, cap_ports = 0, m, m2, m3;
	struct microseg_rule_section *sec = &rb->secs[rb->n_secs];
	struct microseg_peer *pv = NULL;
	struct microseg_port *ptv = NULL;
	const char *k_eps = eg ? "toEndpoints" : "fromEndpoints", *k_cidr = eg ? "toCIDR" : "fromCIDR",
		   *k_set = eg ? "toCIDRSet" : "fromCIDRSet", *k_ent = eg ? "toEntities" : "fromEntities";
	int rc;

	if (eg)
		rc = TAKE(s, rn, { "toEndpoints", &eps }, { "toCIDR", &cidrs }, { "toCIDRSet", &cidrsets },
			  { "toEntities", &ents }, { "toPorts", &toports }, { "icmps", &icmps },
			  { "toRequires", NULL }, { "toServices", NULL }, { "toFQDNs", NULL }, { "toGroups", NULL },
			  { "toNodes", NULL }, { "authentication", NULL });
	else
		rc = TAKE(s, rn, { "fromEndpoints", &eps }, { "fromCIDR", &cidrs }, { "fromCIDRSet", &cidrsets },
			  { "fromEntities", &ents }, { "toPorts", &toports }, { "icmps", &icmps },
			  { "fromRequires", NULL }, { "fromGroups", NULL }, { "fromNodes", NULL },
			  { "authentication", NULL });
	if (rc)
		return rc;
	if ((rc = list_len(s, k_eps, eps, &n_eps)) || (rc = list_len(s, k_cidr, cidrs, &n_cidrs)) ||
	    (rc = list_len(s, k_set, cidrsets, &n_sets)) || (rc = list_len(s, k_ent, ents, &n_ents)) ||
	    (rc = list_len(s, "toPorts", toports, &n_tp)) || (rc = list_len(s, "icmps", icmps, &n_icmps)))
		return rc;

	/* peers: endpoints, CIDRs and entities of one rule are alternatives */
	if (n_eps + n_cidrs + n_sets + n_ents > MS_POLICY_LIST_MAX)
		return fail(s, rn->line, -E2BIG, "more than %d peers in one rule", MS_POLICY_LIST_MAX);
	if (n_eps + n_cidrs + n_sets + n_ents &&
	    !(pv = oalloc(s, n_eps + n_cidrs + n_sets + n_ents, sizeof(*pv))))
		return -ENOMEM;
	for (size_t i = 0; i < n_eps; i++, np++) {
		struct selb b = { 0 };
		m = push_key(s, k_eps);
		push_idx(s, i);
		if ((rc = parse_selector(s, eps->kids[i], "", &b)))
			return rc;
		if (s->ns && !selb_scoped(&b) && (rc = selb_label(s, &b, eps->kids[i]->line, "", NS_LABEL_KEY, s->ns, true)))
			return rc;
		pv[np].kind = MICROSEG_PEER_SELECTOR;
		selb_finish(&b, &pv[np].selector);
		pop(s, m);
	}
	for (size_t i = 0; i < n_cidrs; i++, np++) {
		struct ms_cidr c;
		m = push_key(s, k_cidr);
		push_idx(s, i);
		pv[np].kind = MICROSEG_PEER_CIDR;
		if ((rc = parse_cidr(s, cidrs->kids[i], &c, &pv[np].cidr)))
			return rc;
		pop(s, m);
	}
	for (size_t i = 0; i < n_sets; i++, np++) {
		const struct node *cidr, *except;
		m = push_key(s, k_set);
		push_idx(s, i);
		if ((rc = TAKE(s, cidrsets->kids[i], { "cidr", &cidr }, { "except", &except },
			       { "cidrGroupRef", NULL }, { "cidrGroupSelector", NULL })))
			return rc;
		if (!cidr)
			return fail(s, cidrsets->kids[i]->line, -EINVAL, "missing cidr");
		if ((rc = cidr_peer(s, cidr, except, &pv[np])))
			return rc;
		pop(s, m);
	}
	for (size_t i = 0; i < n_ents; i++, np++) {
		m = push_key(s, k_ent);
		push_idx(s, i);
		if ((rc = parse_entity(s, ents->kids[i], &pv[np])))
			return rc;
		pop(s, m);
	}

	/* ports: toPorts[].ports[] then icmps[].fields[], all in one list */
	for (size_t i = 0; i < n_tp; i++) {
		const struct node *tp = toports->kids[i], *ports, *rules = NULL;
		size_t first = nports;

		m = push_key(s, "toPorts");
		push_idx(s, i);
		if (deny && tp->type == N_MAP)
			for (size_t k = 0; k < tp->n; k++)
				if (str_is(MAP_KEY(tp, k), "rules"))
					return fail(s, MAP_KEY(tp, k)->line, -EINVAL, "deny rules take no L7 rules");
		if (deny)
			rc = TAKE(s, tp, { "ports", &ports });
		else
			rc = TAKE(s, tp, { "ports", &ports }, { "rules", &rules }, { "terminatingTLS", NULL },
				  { "originatingTLS", NULL }, { "serverNames", NULL }, { "listener", NULL });
		if (rc)
			return rc;
		m2 = push_key(s, "ports");
		if (!ports)
			return fail(s, tp->line, -EINVAL, "missing (a port rule needs ports)");
		if ((rc = want_seq(s, ports)))
			return rc;
		if (ports->n == 0)
			return fail(s, ports->line, -EINVAL, "a port rule needs ports");
		for (size_t j = 0; j < ports->n; j++) {
			struct microseg_port *slot = NULL;
			m3 = push_idx(s, j);
			if ((rc = port_slot(s, &ptv, &nports, &cap_ports, ports->kids[j]->line, &slot)) ||
			    (rc = parse_port(s, ports->kids[j], true, slot)))
				return rc;
			pop(s, m3);
		}
		pop(s, m2);
		if (rules) {
			struct ms_l7_port_rules l7 = { 0 };
			m2 = push_key(s, "rules");
			if ((rc = parse_l7(s, rules, ptv + first, nports - first, &l7)))
				return rc;
			pop(s, m2);
			if (l7.n_http || l7.n_dns || l7.n_kafka)
				for (size_t p = first; p < nports; p++)
					if ((rc = add_l7(s, &l7, rb->rule_idx, rb->n_secs, p)))
						return rc;
		}
		pop(s, m);
	}
	if (n_icmps) {
		m = push_key(s, "icmps");
		if ((rc = parse_icmps(s, icmps, &ptv, &nports, &cap_ports)))
			return rc;
		pop(s, m);
	}

	if (np == 0 && nports == 0) {
		/* `{}`: selects the direction, allows (or denies) nothing */
		rb->spec->flags |= eg ? MICROSEG_RULE_F_EGRESS : MICROSEG_RULE_F_INGRESS;
		return 0;
	}
	sec->direction = dir;
	sec->action = action;
	sec->peers = pv;
	sec->n_peers = np;
	sec->ports = nports ? ptv : NULL;
	sec->n_ports = nports;
	fold_all(sec);
	rb->n_secs++;
	return 0;
}

static int parse_default_deny(struct pstate *s, const struct node *n)
{
	const struct node *in, *eg;
	size_t m = push_key(s, "enableDefaultDeny");
	int rc;

	if ((rc = TAKE(s, n, { "ingress", &in }, { "egress", &eg })))
		return rc;
	/* false would let a rule allow without selecting its endpoints: the rule model has no such
	 * thing, so only the default (true) is accepted */
	for (int i = 0; i < 2; i++) {
		const struct node *v = i ? eg : in;
		if (!v)
			continue;
		size_t m2 = push_key(s, i ? "egress" : "ingress");
		if (str_is(v, "false") || str_is(v, "False") || str_is(v, "FALSE"))
			return fail(s, v->line, -EINVAL, "false is not supported");
		if (!str_is(v, "true") && !str_is(v, "True") && !str_is(v, "TRUE"))
			return fail(s, v->line, -EINVAL, "expected true or false");
		pop(s, m2);
	}
	pop(s, m);
	return 0;
}

/* One Cilium Rule (spec, or an item of specs). */
static int parse_cnp_spec(struct pstate *s, const struct node *spec, struct microseg_rule_spec *r, size_t rule_idx)
{
	const struct node *esel, *lists[4], *labels, *descr, *dd, *logc;
	static const char *const keys[4] = { "ingress", "ingressDeny", "egress", "egressDeny" };
	static const uint32_t dirs[4] = { MICROSEG_DIR_INGRESS, MICROSEG_DIR_INGRESS, MICROSEG_DIR_EGRESS,
					  MICROSEG_DIR_EGRESS };
	static const uint32_t acts[4] = { MICROSEG_ACTION_ALLOW, MICROSEG_ACTION_DENY, MICROSEG_ACTION_ALLOW,
					  MICROSEG_ACTION_DENY };
	struct rule_build rb = { .spec = r, .rule_idx = rule_idx };
	struct selb b = { 0 };
	size_t lens[4], total = 0, m;
	int rc;

	if ((rc = TAKE(s, spec, { "endpointSelector", &esel }, { "nodeSelector", NULL }, { "ingress", &lists[0] },
		       { "ingressDeny", &lists[1] }, { "egress", &lists[2] }, { "egressDeny", &lists[3] },
		       { "labels", &labels }, { "description", &descr }, { "enableDefaultDeny", &dd },
		       { "log", &logc })))
		return rc;
	/* labels, description and log only describe the rule */
	if (labels) {
		m = push_key(s, "labels");
		if ((rc = want_seq(s, labels)))
			return rc;
		pop(s, m);
	}
	if (descr) {
		m = push_key(s, "description");
		if (descr->type != N_SCALAR)
			return fail(s, descr->line, -EINVAL, "expected a string");
		pop(s, m);
	}
	if (dd && (rc = parse_default_deny(s, dd)))
		return rc;
	if (!esel)
		return fail(s, spec->line, -EINVAL, "missing endpointSelector (use {} to select every endpoint)");
	m = push_key(s, "endpointSelector");
	if ((rc = parse_selector(s, esel, "", &b)))
		return rc;
	if (s->ns && (rc = selb_add_ns(s, &b, esel->line)))
		return rc;
	pop(s, m);
	selb_finish(&b, &r->endpoints);
	for (int i = 0; i < 4; i++) {
		if ((rc = list_len(s, keys[i], lists[i], &lens[i])))
			return rc;
		total += lens[i];
	}
	if (total > MS_POLICY_LIST_MAX)
		return fail(s, spec->line, -E2BIG, "more than %d ingress and egress rules", MS_POLICY_LIST_MAX);
	if (total && !(rb.secs = oalloc(s, total, sizeof(*rb.secs))))
		return -ENOMEM;
	for (int i = 0; i < 4; i++)
		for (size_t j = 0; j < lens[i]; j++) {
			m = push_key(s, keys[i]);
			push_idx(s, j);
			if ((rc = cnp_rule(s, lists[i]->kids[j], dirs[i], acts[i], &rb)))
				return rc;
			pop(s, m);
		}
	r->sections = rb.n_secs ? rb.secs : NULL;
	r->n_sections = rb.n_secs;
	return 0;
}

/* ---- documents ---- */

/* Names become "namespace/name" keys and file names: a conservative alphabet. */
static int check_name(struct pstate *s, const struct node *n, size_t max, const char **out)
{
	const char *v;
	char buf[64];
	int rc;

	if ((rc = want_str(s, n, &v)))
		return rc;
	if (!v[0] || strlen(v) > max || !strcmp(v, ".") || !strcmp(v, ".."))
		return fail(s, n->line, -EINVAL, "'%s' is not a valid name (1-%zu characters)", show(v, strlen(v), buf), max);
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_'))
			return fail(s, n->line, -EINVAL, "'%s' is not a valid name (letters, digits, '-', '.', '_')",
				    show(v, strlen(v), buf));
	*out = v;
	return 0;
}

/* The HTTP rules of each port go into the rule's spec (spec.l7), where the compiler and the
 * proxy take them from. */
static int attach_http(struct pstate *s, struct ms_policy_doc *doc)
{
	for (size_t r = 0; r < doc->n_rules; r++) {
		size_t n = 0, k = 0;
		for (size_t i = 0; i < doc->n_l7; i++)
			n += doc->l7[i].rule == r && doc->l7[i].n_http;
		if (!n)
			continue;
		struct microseg_l7_rules *v = oalloc(s, n, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < doc->n_l7; i++) {
			const struct ms_l7_port_rules *l = &doc->l7[i];
			if (l->rule != r || !l->n_http)
				continue;
			v[k++] = (struct microseg_l7_rules){ .section = l->section, .port = l->port, .http = l->http,
							     .n_http = l->n_http };
		}
		doc->rules[r].l7 = v;
		doc->rules[r].n_l7 = n;
	}
	return 0;
}

static int parse_doc(struct pstate *s, const struct node *root, struct ms_policy_doc *doc)
{
	const struct node *api, *kind, *meta, *spec, *specs, *status, *name_n = NULL, *ns_n = NULL;
	const char *apiv, *kindv, *name, *ns = NULL;
	char b1[64], b2[64];
	size_t n_rules = 0, m;
	int rc;

	if (root->type != N_MAP)
		return fail(s, root->line, -EINVAL, "a policy document must be a mapping");
	if ((rc = TAKE(s, root, { "apiVersion", &api }, { "kind", &kind }, { "metadata", &meta }, { "spec", &spec },
		       { "specs", &specs }, { "status", &status })))
		return rc;
	if (!api || !kind)
		return fail(s, root->line, -EINVAL, "missing %s", !api ? "apiVersion" : "kind");
	m = push_key(s, "apiVersion");
	if ((rc = want_str(s, api, &apiv)))
		return rc;
	pop(s, m);
	m = push_key(s, "kind");
	if ((rc = want_str(s, kind, &kindv)))
		return rc;
	if (!strcmp(apiv, "networking.k8s.io/v1") && !strcmp(kindv, "NetworkPolicy"))
		s->kind = K_NP;
	else if (!strcmp(apiv, "cilium.io/v2") && !strcmp(kindv, "CiliumNetworkPolicy"))
		s->kind = K_CNP;
	else if (!strcmp(apiv, "cilium.io/v2") && !strcmp(kindv, "CiliumClusterwideNetworkPolicy"))
		s->kind = K_CCNP;
	else
		return fail(s, kind->line, -EINVAL,
			    "unsupported kind '%s' with apiVersion '%s' (NetworkPolicy networking.k8s.io/v1, "
			    "CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy cilium.io/v2)",
			    show(kindv, strlen(kindv), b1), show(apiv, strlen(apiv), b2));
	pop(s, m);

	if (!meta)
		return fail(s, root->line, -EINVAL, "missing metadata");
	m = push_key(s, "metadata");
	if ((rc = want_map(s, meta)))
		return rc;
	/* other metadata (labels, annotations, what `kubectl get -o yaml` adds) does not change
	 * what a policy allows */
	for (size_t i = 0; i < meta->n; i++) {
		if (str_is(MAP_KEY(meta, i), "name"))
			name_n = MAP_VAL(meta, i);
		else if (str_is(MAP_KEY(meta, i), "namespace"))
			ns_n = MAP_VAL(meta, i);
	}
	if (is_null(name_n))
		return fail(s, meta->line, -EINVAL, "missing name");
	size_t m2 = push_key(s, "name");
	if ((rc = check_name(s, name_n, 253, &name)))
		return rc;
	pop(s, m2);
	if (!is_null(ns_n)) {
		push_key(s, "namespace");
		if (s->kind == K_CCNP)
			return fail(s, ns_n->line, -EINVAL, "a cluster-wide policy has no namespace");
		if ((rc = check_name(s, ns_n, 63, &ns)))
			return rc;
	} else if (s->kind != K_CCNP) {
		ns = "default";
	}
	pop(s, m);

	doc->kind = ostrdup(s, kindv);
	doc->namespace = ns ? ostrdup(s, ns) : NULL;
	if (ns && strlen(ns) + 1 + strlen(name) > 253)
		return fail(s, name_n->line, -EINVAL, "'%s/%s' is longer than 253 characters",
			    show(ns, strlen(ns), b1), show(name, strlen(name), b2));
	doc->name = oconcat(s, ns ? ns : "", ns ? "/" : "", name);
	if (!doc->kind || !doc->name || (ns && !doc->namespace))
		return -ENOMEM;
	s->ns = doc->namespace;
	doc->line = root->line;

	if (s->kind == K_NP && specs)
		return fail(s, root->line, -EINVAL, "unknown field 'specs'");
	if (specs) {
		m = push_key(s, "specs");
		if ((rc = want_seq(s, specs)))
			return rc;
		pop(s, m);
		n_rules = specs->n;
	}
	n_rules += spec != NULL;
	if (n_rules == 0)
		return fail(s, root->line, -EINVAL, "missing spec");
	doc->rules = oalloc(s, n_rules, sizeof(*doc->rules));
	if (!doc->rules)
		return -ENOMEM;
	for (size_t i = 0; i < n_rules; i++) {
		const struct node *rn = spec && i == 0 ? spec : specs->kids[i - (spec != NULL)];
		struct microseg_rule_spec *r = &doc->rules[i];

		m = push_key(s, spec && i == 0 ? "spec" : "specs");
		if (!(spec && i == 0))
			push_idx(s, i - (spec != NULL));
		r->sz = sizeof(*r);
		r->name = doc->name;
		if ((rc = want_map(s, rn)))
			return rc;
		rc = s->kind == K_NP ? parse_np(s, rn, r) : parse_cnp_spec(s, rn, r, i);
		if (rc)
			return rc;
		pop(s, m);
	}
	doc->n_rules = n_rules;
	doc->l7 = s->n_l7 ? s->l7 : NULL;
	doc->n_l7 = s->n_l7;
	return attach_http(s, doc);
}

static int cmp_doc_name(const void *a, const void *b)
{
	const struct ms_policy_doc *x = *(struct ms_policy_doc *const *)a, *y = *(struct ms_policy_doc *const *)b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->line > y->line) - (x->line < y->line);
}

/* Two documents of one stream naming the same policy: which one wins would be a guess. */
static int check_dup_docs(struct pstate *s, struct ms_policy_doc *docs, size_t n)
{
	struct ms_policy_doc **v;
	int rc = 0;

	if (n < 2)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return fail(s, 0, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = &docs[i];
	qsort(v, n, sizeof(*v), cmp_doc_name);
	for (size_t i = 1; i < n && !rc; i++)
		if (!strcmp(v[i - 1]->name, v[i]->name))
			rc = fail(s, v[i]->line, -EINVAL, "policy '%s' appears twice in the stream (also at line %u)",
				  v[i]->name, v[i - 1]->line);
	free(v);
	return rc;
}

static int parse_stream(struct pstate *s, struct ms_policy_docs *out)
{
	struct ms_policy_doc *docs = NULL;
	size_t n = 0, cap = 0;
	yaml_event_t ev;
	int rc;

	for (;;) {
		size_t start, end;
		struct node *root = NULL;

		if ((rc = next_event(s, &ev)))
			return rc;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			continue; /* STREAM_START */
		}
		start = ev.start_mark.index;
		yaml_event_delete(&ev);

		ms_arena_free(s->tmp);
		s->tmp = ms_arena_new();
		s->sp = 0;
		if (!s->tmp)
			return fail(s, 0, -ENOMEM, "out of memory");
		if ((rc = next_event(s, &ev)))
			return rc;
		rc = build(s, &ev, 0, &root);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
		if ((rc = next_event(s, &ev)))
			return rc;
		end = ev.end_mark.index;
		yaml_event_delete(&ev);

		s->path[0] = '\0';
		size_t b0 = byte_offset(s, start), b1 = byte_offset(s, end);
		if (b1 - b0 > MS_POLICY_DOC_MAX)
			return fail(s, root->line, -E2BIG, "document of %zu bytes, at most %u", b1 - b0,
				    (unsigned)MS_POLICY_DOC_MAX);
		if (is_null(root))
			continue;

		docs = ogrow(s, docs, n, &cap, sizeof(*docs));
		if (!docs)
			return -ENOMEM;
		memset(&docs[n], 0, sizeof(docs[n]));
		s->l7 = NULL;
		s->n_l7 = s->cap_l7 = 0;
		s->path[0] = '\0';
		if ((rc = parse_doc(s, root, &docs[n])))
			return rc;
		docs[n].text = ms_arena_strndup(s->out, s->text + b0, b1 - b0);
		if (!docs[n].text)
			return fail(s, 0, -ENOMEM, "out of memory");
		n++;
	}
	if (n == 0)
		return fail(s, 1, -EINVAL, "no policy in document");
	if ((rc = check_dup_docs(s, docs, n)))
		return rc;
	out->docs = docs;
	out->n = n;
	return 0;
}

int ms_policy_docs_parse(const char *text, size_t len, struct ms_policy_docs *out, char *err, size_t errlen)
{
	struct pstate s = { .text = text, .len = len, .err = err, .errlen = errlen };
	struct ms_policy_docs res = { 0 };
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!text && len))
		return fail(&s, 0, -EINVAL, "no document");
	if (len > MS_POLICY_STREAM_MAX)
		return fail(&s, 0, -E2BIG, "stream of %zu bytes, at most %u", len, (unsigned)MS_POLICY_STREAM_MAX);
	/* UTF-8 only, since document slices are found by counting characters; a UTF-8 BOM is
	 * dropped here so that libyaml's counts start where ours do */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		s.text += 3;
		s.len -= 3;
	} else if (len >= 2 && (!memcmp(text, "\xfe\xff", 2) || !memcmp(text, "\xff\xfe", 2))) {
		return fail(&s, 1, -EINVAL, "invalid YAML: only UTF-8 is supported");
	}
	if (!yaml_parser_initialize(&s.parser))
		return fail(&s, 0, -ENOMEM, "out of memory");
	yaml_parser_set_input_string(&s.parser, (const unsigned char *)(s.text ? s.text : ""), s.len);
	s.out = ms_arena_new();
	if (!s.out) {
		rc = fail(&s, 0, -ENOMEM, "out of memory");
		goto done;
	}
	rc = parse_stream(&s, &res);
	if (rc == -ENOMEM)
		fail(&s, 0, -ENOMEM, "out of memory");
done:
	yaml_parser_delete(&s.parser);
	ms_arena_free(s.tmp);
	free(s.stack);
	if (rc) {
		ms_arena_free(s.out);
		return rc;
	}
	res.arena = s.out;
	*out = res;
	return 0;
}

void ms_policy_docs_free(struct ms_policy_docs *docs)
{
	if (!docs)
		return;
	ms_arena_free(docs->arena);
	memset(docs, 0, sizeof(*docs));
}
