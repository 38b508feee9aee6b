// SPDX-License-Identifier: Apache-2.0
/* Rule specs as plain data: deep copy, structural check, comparison by meaning. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy_doc.h"

/* The spec fields that every caller's struct has (the first release's layout). */
#define SPEC_SZ_MIN (offsetof(struct microseg_rule_spec, flags) + sizeof(uint32_t))

/* A caller's spec as this build's struct: fields past the caller's sz read as zero. */
static void spec_view(const struct microseg_rule_spec *spec, struct microseg_rule_spec *v)
{
	size_t n = spec->sz < sizeof(*v) ? spec->sz : sizeof(*v);

	memset(v, 0, sizeof(*v));
	memcpy(v, spec, n);
	v->sz = sizeof(*v);
}

/* ---- CIDRs ---- */

int ms_cidr_parse(const char *s, struct ms_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	unsigned long plen = 0;
	struct ms_cidr c = { 0 };

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	/* decimal digits only, no sign or spaces, at most 3 of them */
	if (!slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		plen = plen * 10 + (unsigned long)(*p - '0');
	}
	if (inet_pton(AF_INET, buf, c.bytes) == 1) {
		c.family = AF_INET;
		if (plen > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, c.bytes) == 1) {
		c.family = AF_INET6;
		if (plen > 128)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	c.prefix = (unsigned)plen;
	if (out)
		*out = c;
	return 0;
}

int ms_cidr_contains(const struct ms_cidr *outer, const struct ms_cidr *inner)
{
	unsigned full, rest;

	if (outer->family != inner->family || inner->prefix < outer->prefix)
		return 0;
	full = outer->prefix / 8;
	rest = outer->prefix % 8;
	if (memcmp(outer->bytes, inner->bytes, full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((outer->bytes[full] & mask) != (inner->bytes[full] & mask))
			return 0;
	}
	return 1;
}

/* ---- deep copy ---- */

static int copy_strv(struct ms_arena *a, const char *const *src, size_t n, const char *const **dst)
{
	const char **v;

	*dst = NULL;
	if (n == 0)
		return 0;
	v = ms_arena_alloc(a, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = ms_arena_strdup(a, src[i]);
		if (src[i] && !v[i])
			return -ENOMEM;
	}
	*dst = v;
	return 0;
}

static int copy_selector(struct ms_arena *a, const struct microseg_selector *s, struct microseg_selector *d)
{
	struct microseg_sel_expr *e = NULL;

	memset(d, 0, sizeof(*d));
	if (copy_strv(a, s->match_labels, s->n_match_labels, &d->match_labels))
		return -ENOMEM;
	d->n_match_labels = s->n_match_labels;
	if (s->n_exprs) {
		e = ms_arena_alloc(a, s->n_exprs * sizeof(*e));
		if (!e)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_exprs; i++) {
			e[i].key = ms_arena_strdup(a, s->exprs[i].key);
			if (s->exprs[i].key && !e[i].key)
				return -ENOMEM;
			e[i].op = s->exprs[i].op;
			if (copy_strv(a, s->exprs[i].values, s->exprs[i].n_values, &e[i].values))
				return -ENOMEM;
			e[i].n_values = s->exprs[i].n_values;
		}
	}
	d->exprs = e;
	d->n_exprs = s->n_exprs;
	return 0;
}

static int copy_section(struct ms_arena *a, const struct microseg_rule_section *s, struct microseg_rule_section *d)
{
	struct microseg_peer *peers = NULL;
	struct microseg_port *ports = NULL;

	*d = *s;
	if (s->n_peers) {
		peers = ms_arena_alloc(a, s->n_peers * sizeof(*peers));
		if (!peers)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_peers; i++) {
			const struct microseg_peer *p = &s->peers[i];
			peers[i] = *p;
			if (copy_selector(a, &p->selector, &peers[i].selector))
				return -ENOMEM;
			peers[i].cidr = ms_arena_strdup(a, p->cidr);
			if (p->cidr && !peers[i].cidr)
				return -ENOMEM;
			if (copy_strv(a, p->except, p->n_except, &peers[i].except))
				return -ENOMEM;
		}
	}
	if (s->n_ports) {
		ports = ms_arena_alloc(a, s->n_ports * sizeof(*ports));
		if (!ports)
			return -ENOMEM;
		memcpy(ports, s->ports, s->n_ports * sizeof(*ports));
	}
	d->peers = peers;
	d->ports = ports;
	return 0;
}

static int copy_http(struct ms_arena *a, const struct microseg_http_rule *h, struct microseg_http_rule *d)
{
	*d = *h;
	d->method = ms_arena_strdup(a, h->method);
	d->path = ms_arena_strdup(a, h->path);
	d->host = ms_arena_strdup(a, h->host);
	if ((h->method && !d->method) || (h->path && !d->path) || (h->host && !d->host))
		return -ENOMEM;
	return copy_strv(a, h->headers, h->n_headers, &d->headers);
}

static int copy_l7(struct ms_arena *a, const struct microseg_l7_rules *src, size_t n,
		   const struct microseg_l7_rules **dst)
{
	struct microseg_l7_rules *v;

	*dst = NULL;
	if (!n)
		return 0;
	if (!(v = ms_arena_alloc(a, n * sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct microseg_http_rule *h = ms_arena_alloc(a, src[i].n_http * sizeof(*h));
		v[i] = src[i];
		if (!h)
			return -ENOMEM;
		for (size_t j = 0; j < src[i].n_http; j++)
			if (copy_http(a, &src[i].http[j], &h[j]))
				return -ENOMEM;
		v[i].http = h;
	}
	*dst = v;
	return 0;
}

struct microseg_rule_spec *ms_rule_spec_copy(struct ms_arena *a, const struct microseg_rule_spec *spec)
{
	struct microseg_rule_spec v, *d;
	struct microseg_rule_section *secs = NULL;

	if (!a || !spec)
		return NULL;
	spec_view(spec, &v);
	d = ms_arena_alloc(a, sizeof(*d));
	if (!d)
		return NULL;
	*d = v;
	d->name = ms_arena_strdup(a, v.name);
	if (v.name && !d->name)
		return NULL;
	if (copy_selector(a, &v.endpoints, &d->endpoints))
		return NULL;
	if (v.n_sections) {
		secs = ms_arena_alloc(a, v.n_sections * sizeof(*secs));
		if (!secs)
			return NULL;
		for (size_t i = 0; i < v.n_sections; i++)
			if (copy_section(a, &v.sections[i], &secs[i]))
				return NULL;
	}
	d->sections = secs;
	if (copy_l7(a, v.l7, v.n_l7, &d->l7))
		return NULL;
	return d;
}

/* ---- structural check ---- */

struct chk {
	char *err;
	size_t errlen;
	char path[160];
};

MS_DOC_PRINTF(3, 4)
static int chk_fail(struct chk *c, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t off;

	if (!c->err || !c->errlen)
		return rc;
	off = (size_t)snprintf(c->err, c->errlen, "%s%s", c->path, c->path[0] ? ": " : "");
	if (off < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + off, c->errlen - off, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Appends to the path; returns the length to restore with chk_pop(). */
MS_DOC_PRINTF(2, 3)
static size_t chk_push(struct chk *c, const char *fmt, ...)
{
	size_t len = strlen(c->path);
	va_list ap;

	if (len < sizeof(c->path)) {
		va_start(ap, fmt);
		vsnprintf(c->path + len, sizeof(c->path) - len, fmt, ap);
		va_end(ap);
	}
	return len;
}

static void chk_pop(struct chk *c, size_t len)
{
	c->path[len] = '\0';
}

static int chk_count(struct chk *c, const void *arr, size_t n, const char *what)
{
	if (n && !arr)
		return chk_fail(c, -EINVAL, "%s is NULL with n_%s %zu", what, what, n);
	if (n > MS_POLICY_LIST_MAX)
		return chk_fail(c, -E2BIG, "%zu %s, at most %d", n, what, MS_POLICY_LIST_MAX);
	return 0;
}

static int chk_selector(struct chk *c, const struct microseg_selector *s)
{
	int rc;
	size_t m;

	if ((rc = chk_count(c, s->match_labels, s->n_match_labels, "match_labels")))
		return rc;
	for (size_t i = 0; i < s->n_match_labels; i++) {
		const char *l = s->match_labels[i];
		m = chk_push(c, ".match_labels[%zu]", i);
		if (!l)
			return chk_fail(c, -EINVAL, "label is NULL");
		if (!strchr(l, '=') || l[0] == '=' || l[0] == ':')
			return chk_fail(c, -EINVAL, "\"%.64s\" is not key=value", l);
		chk_pop(c, m);
	}
	if ((rc = chk_count(c, s->exprs, s->n_exprs, "exprs")))
		return rc;
	for (size_t i = 0; i < s->n_exprs; i++) {
		const struct microseg_sel_expr *e = &s->exprs[i];
		m = chk_push(c, ".exprs[%zu]", i);
		if (!e->key || !e->key[0])
			return chk_fail(c, -EINVAL, "key is empty");
		if (strchr(e->key, '='))
			return chk_fail(c, -EINVAL, "key \"%.64s\" contains '='", e->key);
		if (e->op > MICROSEG_SEL_DOES_NOT_EXIST)
			return chk_fail(c, -EINVAL, "unknown operator %u", e->op);
		if ((rc = chk_count(c, e->values, e->n_values, "values")))
			return rc;
		if ((e->op == MICROSEG_SEL_IN || e->op == MICROSEG_SEL_NOT_IN) && e->n_values == 0)
			return chk_fail(c, -EINVAL, "In/NotIn needs at least one value");
		if ((e->op == MICROSEG_SEL_EXISTS || e->op == MICROSEG_SEL_DOES_NOT_EXIST) && e->n_values)
			return chk_fail(c, -EINVAL, "Exists/DoesNotExist takes no values");
		for (size_t j = 0; j < e->n_values; j++)
			if (!e->values[j])
				return chk_fail(c, -EINVAL, "values[%zu] is NULL", j);
		chk_pop(c, m);
	}
	return 0;
}

static int chk_peer(struct chk *c, const struct microseg_peer *p)
{
	struct ms_cidr outer, inner;
	int rc;

	switch (p->kind) {
	case MICROSEG_PEER_SELECTOR:
		return chk_selector(c, &p->selector);
	case MICROSEG_PEER_CIDR:
		if (ms_cidr_parse(p->cidr, &outer))
			return chk_fail(c, -EINVAL, "cidr \"%.64s\" is not a CIDR (addr/prefix)",
					p->cidr ? p->cidr : "(null)");
		if ((rc = chk_count(c, p->except, p->n_except, "except")))
			return rc;
		for (size_t i = 0; i < p->n_except; i++) {
			if (ms_cidr_parse(p->except[i], &inner))
				return chk_fail(c, -EINVAL, "except[%zu] \"%.64s\" is not a CIDR", i,
						p->except[i] ? p->except[i] : "(null)");
			if (!ms_cidr_contains(&outer, &inner))
				return chk_fail(c, -EINVAL, "except[%zu] %s is not inside %s", i,
						p->except[i], p->cidr);
		}
		return 0;
	case MICROSEG_PEER_ENTITY:
		if (p->entity < MICROSEG_ENTITY_HOST || p->entity > MICROSEG_ENTITY_ALL)
			return chk_fail(c, -EINVAL, "unknown entity %u", p->entity);
		return 0;
	default:
		return chk_fail(c, -EINVAL, "unknown peer kind %u", p->kind);
	}
}

static int chk_port(struct chk *c, const struct microseg_port *p)
{
	switch (p->proto) {
	case MICROSEG_PROTO_ANY:
	case MICROSEG_PROTO_TCP:
	case MICROSEG_PROTO_UDP:
	case MICROSEG_PROTO_SCTP:
		if (p->flags)
			return chk_fail(c, -EINVAL, "flags 0x%x with a non-ICMP protocol", p->flags);
		if (p->end_port && !p->port)
			return chk_fail(c, -EINVAL, "end_port without port");
		if (p->end_port && p->end_port < p->port)
			return chk_fail(c, -EINVAL, "port range %u-%u reversed", p->port, p->end_port);
		return 0;
	case MICROSEG_PROTO_ICMP:
	case MICROSEG_PROTO_ICMPV6:
		if (p->flags & ~MICROSEG_PORT_F_ICMP_TYPE)
			return chk_fail(c, -EINVAL, "unknown flags 0x%x", p->flags);
		if (p->end_port)
			return chk_fail(c, -EINVAL, "end_port with ICMP");
		if (p->flags & MICROSEG_PORT_F_ICMP_TYPE) {
			if (p->port > 255)
				return chk_fail(c, -EINVAL, "ICMP type %u > 255", p->port);
		} else if (p->port) {
			return chk_fail(c, -EINVAL, "port with ICMP but no MICROSEG_PORT_F_ICMP_TYPE");
		}
		return 0;
	default:
		return chk_fail(c, -EINVAL, "unknown protocol %u", p->proto);
	}
}

#define HTTP_RULES_MAX 1024

static int chk_http(struct chk *c, const struct microseg_http_rule *h)
{
	int rc;

	if ((rc = chk_count(c, h->headers, h->n_headers, "headers")))
		return rc;
	for (size_t k = 0; k < h->n_headers; k++)
		if (!h->headers[k])
			return chk_fail(c, -EINVAL, "headers[%zu] is NULL", k);
	return 0;
}

/* L7 rules: on an existing TCP port of an ALLOW section, at most one entry per port. */
static int chk_l7(struct chk *c, const struct microseg_rule_spec *v)
{
	int rc;

	if ((rc = chk_count(c, v->l7, v->n_l7, "l7")))
		return rc;
	for (size_t i = 0; i < v->n_l7; i++) {
		const struct microseg_l7_rules *l = &v->l7[i];
		size_t m = chk_push(c, "l7[%zu]", i);
		if (l->section >= v->n_sections)
			return chk_fail(c, -EINVAL, "section %zu does not exist", l->section);
		const struct microseg_rule_section *s = &v->sections[l->section];
		if (s->action != MICROSEG_ACTION_ALLOW)
			return chk_fail(c, -EINVAL, "deny sections take no L7 rules");
		if (l->port >= s->n_ports)
			return chk_fail(c, -EINVAL, "port %zu does not exist in section %zu", l->port, l->section);
		const struct microseg_port *p = &s->ports[l->port];
		if ((p->proto != MICROSEG_PROTO_TCP && p->proto != MICROSEG_PROTO_ANY) || (p->flags & MICROSEG_PORT_F_ICMP_TYPE))
			return chk_fail(c, -EINVAL, "HTTP rules need a TCP port");
		if (!l->n_http)
			return chk_fail(c, -EINVAL, "no HTTP rule (n_http is 0)");
		if (l->n_http > HTTP_RULES_MAX)
			return chk_fail(c, -E2BIG, "more than %d HTTP rules", HTTP_RULES_MAX);
		if ((rc = chk_count(c, l->http, l->n_http, "http")))
			return rc;
		for (size_t j = 0; j < l->n_http; j++) {
			size_t m2 = chk_push(c, ".http[%zu]", j);
			if ((rc = chk_http(c, &l->http[j])))
				return rc;
			chk_pop(c, m2);
		}
		for (size_t j = 0; j < i; j++)
			if (v->l7[j].section == l->section && v->l7[j].port == l->port)
				return chk_fail(c, -EINVAL, "second entry for section %zu port %zu", l->section, l->port);
		chk_pop(c, m);
	}
	return 0;
}

int ms_rule_spec_check(const struct microseg_rule_spec *spec, char *err, size_t errlen)
{
	struct chk c = { .err = err, .errlen = errlen };
	struct microseg_rule_spec v;
	size_t m, m2;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!spec)
		return chk_fail(&c, -EINVAL, "spec is NULL");
	if (spec->sz < SPEC_SZ_MIN)
		return chk_fail(&c, -EINVAL, "spec sz %zu too small", spec->sz);
	spec_view(spec, &v);
	if (v.flags & ~(MICROSEG_RULE_F_INGRESS | MICROSEG_RULE_F_EGRESS))
		return chk_fail(&c, -EINVAL, "unknown flags 0x%x", v.flags);
	m = chk_push(&c, "endpoints");
	if ((rc = chk_selector(&c, &v.endpoints)))
		return rc;
	chk_pop(&c, m);
	if ((rc = chk_count(&c, v.sections, v.n_sections, "sections")))
		return rc;
	for (size_t i = 0; i < v.n_sections; i++) {
		const struct microseg_rule_section *s = &v.sections[i];
		m = chk_push(&c, "sections[%zu]", i);
		if (s->direction != MICROSEG_DIR_INGRESS && s->direction != MICROSEG_DIR_EGRESS)
			return chk_fail(&c, -EINVAL, "unknown direction %u", s->direction);
		if (s->action != MICROSEG_ACTION_ALLOW && s->action != MICROSEG_ACTION_DENY)
			return chk_fail(&c, -EINVAL, "unknown action %u", s->action);
		if ((rc = chk_count(&c, s->peers, s->n_peers, "peers")))
			return rc;
		for (size_t j = 0; j < s->n_peers; j++) {
			m2 = chk_push(&c, ".peers[%zu]", j);
			if ((rc = chk_peer(&c, &s->peers[j])))
				return rc;
			chk_pop(&c, m2);
		}
		if ((rc = chk_count(&c, s->ports, s->n_ports, "ports")))
			return rc;
		for (size_t j = 0; j < s->n_ports; j++) {
			m2 = chk_push(&c, ".ports[%zu]", j);
			if ((rc = chk_port(&c, &s->ports[j])))
				return rc;
			chk_pop(&c, m2);
		}
		chk_pop(&c, m);
	}
	return chk_l7(&c, &v);
}

/* ---- comparison by meaning ---- */

static int cmp_int(unsigned long a, unsigned long b)
{
	return a < b ? -1 : a > b;
}

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return cmp_int(!!a, !!b);
	return strcmp(a, b);
}

static int cmp_strp(const void *a, const void *b)
{
	return cmp_str(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_strv(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++) {
		int r = cmp_str(a[i], b[i]);
		if (r)
			return r;
	}
	return cmp_int(na, nb);
}

static int cmp_expr(const void *pa, const void *pb)
{
	const struct microseg_sel_expr *a = pa, *b = pb;
	int r = cmp_str(a->key, b->key);

	if (!r)
		r = cmp_int(a->op, b->op);
	if (!r)
		r = cmp_strv(a->values, a->n_values, b->values, b->n_values);
	return r;
}

static int cmp_selector(const struct microseg_selector *a, const struct microseg_selector *b)
{
	int r = cmp_strv(a->match_labels, a->n_match_labels, b->match_labels, b->n_match_labels);

	for (size_t i = 0; !r && i < a->n_exprs && i < b->n_exprs; i++)
		r = cmp_expr(&a->exprs[i], &b->exprs[i]);
	return r ? r : cmp_int(a->n_exprs, b->n_exprs);
}

static int cmp_peer(const void *pa, const void *pb)
{
	const struct microseg_peer *a = pa, *b = pb;
	int r = cmp_int(a->kind, b->kind);

	if (r)
		return r;
	switch (a->kind) {
	case MICROSEG_PEER_SELECTOR:
		return cmp_selector(&a->selector, &b->selector);
	case MICROSEG_PEER_CIDR:
		r = cmp_str(a->cidr, b->cidr);
		return r ? r : cmp_strv(a->except, a->n_except, b->except, b->n_except);
	default:
		return cmp_int(a->entity, b->entity);
	}
}

static int cmp_port(const void *pa, const void *pb)
{
	const struct microseg_port *a = pa, *b = pb;
	int r = cmp_int(a->proto, b->proto);

	if (!r)
		r = cmp_int(a->port, b->port);
	if (!r)
		r = cmp_int(a->end_port, b->end_port);
	return r ? r : cmp_int(a->flags, b->flags);
}

static int cmp_section(const void *pa, const void *pb)
{
	const struct microseg_rule_section *a = pa, *b = pb;
	int r = cmp_int(a->direction, b->direction);

	if (!r)
		r = cmp_int(a->action, b->action);
	for (size_t i = 0; !r && i < a->n_peers && i < b->n_peers; i++)
		r = cmp_peer(&a->peers[i], &b->peers[i]);
	if (!r)
		r = cmp_int(a->n_peers, b->n_peers);
	for (size_t i = 0; !r && i < a->n_ports && i < b->n_ports; i++)
		r = cmp_port(&a->ports[i], &b->ports[i]);
	return r ? r : cmp_int(a->n_ports, b->n_ports);
}

/* Sorts every list of an arena-owned copy (hence the casts) into one canonical order. */
static void canon_selector(struct microseg_selector *s)
{
	struct microseg_sel_expr *e = (struct microseg_sel_expr *)s->exprs;

	if (s->n_match_labels)
		qsort((void *)s->match_labels, s->n_match_labels, sizeof(char *), cmp_strp);
	for (size_t i = 0; i < s->n_exprs; i++)
		if (e[i].n_values)
			qsort((void *)e[i].values, e[i].n_values, sizeof(char *), cmp_strp);
	if (s->n_exprs)
		qsort(e, s->n_exprs, sizeof(*e), cmp_expr);
}

static void canon_spec(struct microseg_rule_spec *spec)
{
	struct microseg_rule_section *secs = (struct microseg_rule_section *)spec->sections;

	canon_selector(&spec->endpoints);
	for (size_t i = 0; i < spec->n_sections; i++) {
		struct microseg_rule_section *s = &secs[i];
		struct microseg_peer *peers = (struct microseg_peer *)s->peers;
		struct microseg_port *ports = (struct microseg_port *)s->ports;
		bool any = false;

		for (size_t j = 0; j < s->n_peers; j++) {
			any |= peers[j].kind == MICROSEG_PEER_ENTITY && peers[j].entity == MICROSEG_ENTITY_ALL;
			canon_selector(&peers[j].selector);
			if (peers[j].n_except)
				qsort((void *)peers[j].except, peers[j].n_except, sizeof(char *), cmp_strp);
		}
		if (any)
			s->n_peers = 0;
		if (s->n_peers)
			qsort(peers, s->n_peers, sizeof(*peers), cmp_peer);
		for (size_t j = 0; j < s->n_ports; j++)
			if (ports[j].end_port == ports[j].port)
				ports[j].end_port = 0;
		if (s->n_ports)
			qsort(ports, s->n_ports, sizeof(*ports), cmp_port);
	}
	if (spec->n_sections)
		qsort(secs, spec->n_sections, sizeof(*secs), cmp_section);
}

/* Directions a rule selects: its flags, and every direction it has a section in. */
static uint32_t selected(const struct microseg_rule_spec *r)
{
	uint32_t f = r->flags;

	for (size_t i = 0; i < r->n_sections; i++)
		f |= r->sections[i].direction == MICROSEG_DIR_INGRESS ? MICROSEG_RULE_F_INGRESS : MICROSEG_RULE_F_EGRESS;
	return f;
}

/* The L7 rules of a spec as sorted text lines, "dir action proto port end | rules", each
 * HTTP rule's fields and sorted headers, the rules sorted: equal sets give equal text whatever
 * the order of sections, ports and rules. Computed before canon_spec() moves sections. */
static char *l7_signature(const struct microseg_rule_spec *spec)
{
	char **lines = calloc(spec->n_l7 ? spec->n_l7 : 1, sizeof(*lines));
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	if (!lines)
		return NULL;
	for (size_t i = 0; i < spec->n_l7; i++) {
		const struct microseg_l7_rules *l = &spec->l7[i];
		const struct microseg_rule_section *s = &spec->sections[l->section];
		const struct microseg_port *p = &s->ports[l->port];
		char **rules = calloc(l->n_http, sizeof(*rules));
		size_t len = 0;
		if (!rules)
			goto out;
		for (size_t j = 0; j < l->n_http; j++) {
			const struct microseg_http_rule *h = &l->http[j];
			const char **hdrs = calloc(h->n_headers ? h->n_headers : 1, sizeof(*hdrs));
			FILE *r = open_memstream(&rules[j], &len);
			if (!hdrs || !r) {
				free(hdrs);
				if (r)
					fclose(r);
				goto out_rules;
			}
			if (h->n_headers) {
				memcpy(hdrs, h->headers, h->n_headers * sizeof(*hdrs));
				qsort(hdrs, h->n_headers, sizeof(*hdrs), cmp_strp);
			}
			fprintf(r, "m=%s\x1fp=%s\x1fh=%s", h->method ? h->method : "\x1e", h->path ? h->path : "\x1e",
				h->host ? h->host : "\x1e");
			for (size_t k = 0; k < h->n_headers; k++)
				fprintf(r, "\x1f%s", hdrs[k]);
			fclose(r);
			free(hdrs);
		}
		qsort(rules, l->n_http, sizeof(*rules), cmp_strp);
		f = open_memstream(&lines[i], &len);
		if (f) {
			fprintf(f, "%u %u %u %u %u |", s->direction, s->action, p->proto, p->port,
				p->end_port == p->port ? 0 : p->end_port);
			for (size_t j = 0; j < l->n_http; j++)
				fprintf(f, "\x1d%s", rules[j]);
			fclose(f);
		}
	out_rules:
		for (size_t j = 0; j < l->n_http; j++)
			free(rules[j]);
		free(rules);
		if (!lines[i])
			goto out;
	}
	qsort(lines, spec->n_l7, sizeof(*lines), cmp_strp);
	f = open_memstream(&out, &outlen);
	if (f) {
		for (size_t i = 0; i < spec->n_l7; i++)
			fprintf(f, "%s\n", lines[i]);
		fclose(f);
	}
out:
	for (size_t i = 0; i < spec->n_l7; i++)
		free(lines[i]);
	free(lines);
	return out;
}

int ms_rule_spec_equal(const struct microseg_rule_spec *a, const struct microseg_rule_spec *b)
{
	struct ms_arena *arena = ms_arena_new();
	struct microseg_rule_spec *ca, *cb;
	int rc = -ENOMEM;

	if (!arena)
		return -ENOMEM;
	ca = ms_rule_spec_copy(arena, a);
	cb = ms_rule_spec_copy(arena, b);
	char *la = ca ? l7_signature(ca) : NULL, *lb = cb ? l7_signature(cb) : NULL;
	if (ca && cb && (!la || !lb))
		ca = NULL; /* -ENOMEM */
	if (ca && cb) {
		canon_spec(ca);
		canon_spec(cb);
		rc = selected(ca) == selected(cb) && cmp_selector(&ca->endpoints, &cb->endpoints) == 0 &&
		     ca->n_sections == cb->n_sections;
		for (size_t i = 0; rc == 1 && i < ca->n_sections; i++)
			rc = cmp_section(&ca->sections[i], &cb->sections[i]) == 0;
		if (rc == 1)
			rc = strcmp(la, lb) == 0;
	}
	free(la);
	free(lb);
	ms_arena_free(arena);
	return rc;
}
