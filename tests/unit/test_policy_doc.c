/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy document layer (lib/policy_doc.h) on its own: YAML to rule specs, errors with
 * their line and field, limits, and spec -> YAML -> spec round trips.
 *
 * Most documents live in policy_corpus/: good/NAME.yaml carry their expected translation as
 * "# expect: " comment lines (compared with a text rendering of what the parser returns),
 * bad/NAME.yaml an "# error: " line (a substring the error must contain) and optionally
 * "# rc: E2BIG". Adding a case is adding a file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "policy_doc.h"

#ifndef POLICY_CORPUS_DIR
#error "POLICY_CORPUS_DIR must name tests/unit/policy_corpus"
#endif

/* ---- a growable string ---- */

struct sb {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_free(struct sb *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ---- a text rendering of parsed documents (the corpus' "# expect:" format) ---- */

static void dump_selector(struct sb *b, const struct microseg_selector *s)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	const char *sep = "";

	sb_printf(b, "{");
	for (size_t i = 0; i < s->n_match_labels; i++, sep = ", ")
		sb_printf(b, "%s%s", sep, s->match_labels[i]);
	for (size_t i = 0; i < s->n_exprs; i++, sep = ", ") {
		const struct microseg_sel_expr *e = &s->exprs[i];
		sb_printf(b, "%s%s %s", sep, e->key, e->op < 4 ? ops[e->op] : "?");
		if (e->n_values) {
			sb_printf(b, " (");
			for (size_t j = 0; j < e->n_values; j++)
				sb_printf(b, "%s%s", j ? "," : "", e->values[j]);
			sb_printf(b, ")");
		}
	}
	sb_printf(b, "}");
}

static void dump_peer(struct sb *b, const struct microseg_peer *p)
{
	static const char *const ents[] = { "?", "host", "world", "all" };

	switch (p->kind) {
	case MICROSEG_PEER_SELECTOR:
		dump_selector(b, &p->selector);
		break;
	case MICROSEG_PEER_CIDR:
		sb_printf(b, "cidr %s", p->cidr);
		for (size_t i = 0; i < p->n_except; i++)
			sb_printf(b, "%s%s", i ? "," : " except ", p->except[i]);
		break;
	case MICROSEG_PEER_ENTITY:
		sb_printf(b, "entity %s", p->entity <= 3 ? ents[p->entity] : "?");
		break;
	default:
		sb_printf(b, "peer kind %u", p->kind);
	}
}

static const char *proto_str(uint32_t p)
{
	switch (p) {
	case MICROSEG_PROTO_ANY:
		return "any";
	case MICROSEG_PROTO_TCP:
		return "tcp";
	case MICROSEG_PROTO_UDP:
		return "udp";
	case MICROSEG_PROTO_SCTP:
		return "sctp";
	case MICROSEG_PROTO_ICMP:
		return "icmp";
	case MICROSEG_PROTO_ICMPV6:
		return "icmpv6";
	}
	return "?";
}

static void dump_port(struct sb *b, const struct microseg_port *p)
{
	if (p->flags & MICROSEG_PORT_F_ICMP_TYPE)
		sb_printf(b, "%s:%u", proto_str(p->proto), p->port);
	else if (p->port == 0)
		sb_printf(b, "%s/*", proto_str(p->proto));
	else if (p->end_port)
		sb_printf(b, "%s/%u-%u", proto_str(p->proto), p->port, p->end_port);
	else
		sb_printf(b, "%s/%u", proto_str(p->proto), p->port);
}

static void dump_spec(struct sb *b, const struct microseg_rule_spec *r)
{
	sb_printf(b, "rule %s flags=%s%s%s\n", r->name ? r->name : "(null)",
		  r->flags & MICROSEG_RULE_F_INGRESS ? "I" : "", r->flags & MICROSEG_RULE_F_EGRESS ? "E" : "",
		  r->flags ? "" : "-");
	sb_printf(b, "  select ");
	dump_selector(b, &r->endpoints);
	sb_printf(b, "\n");
	for (size_t i = 0; i < r->n_sections; i++) {
		const struct microseg_rule_section *s = &r->sections[i];
		sb_printf(b, "  %s %s peers=", s->direction == MICROSEG_DIR_INGRESS ? "in" : "eg",
			  s->action == MICROSEG_ACTION_ALLOW ? "allow" : "deny");
		if (!s->n_peers)
			sb_printf(b, "any");
		for (size_t j = 0; j < s->n_peers; j++) {
			sb_printf(b, "%s", j ? " | " : "[");
			dump_peer(b, &s->peers[j]);
		}
		sb_printf(b, "%s ports=", s->n_peers ? "]" : "");
		if (!s->n_ports)
			sb_printf(b, "all");
		for (size_t j = 0; j < s->n_ports; j++) {
			sb_printf(b, "%s", j ? "," : "");
			dump_port(b, &s->ports[j]);
		}
		sb_printf(b, "\n");
	}
}

static void dump_l7(struct sb *b, const struct ms_l7_port_rules *l)
{
	sb_printf(b, "  l7 r%zu s%zu p%zu", l->rule, l->section, l->port);
	for (size_t i = 0; i < l->n_http; i++) {
		const struct microseg_http_rule *h = &l->http[i];
		sb_printf(b, " http[%s %s", h->method ? h->method : "*", h->path ? h->path : "*");
		if (h->host)
			sb_printf(b, " host=%s", h->host);
		for (size_t j = 0; j < h->n_headers; j++)
			sb_printf(b, " hdr=%s", h->headers[j]);
		sb_printf(b, "]");
	}
	for (size_t i = 0; i < l->n_dns; i++)
		sb_printf(b, " dns[%s]", l->dns_names[i]);
	for (size_t i = 0; i < l->n_kafka; i++)
		sb_printf(b, " kafka[%s]", l->kafka_topics[i]);
	sb_printf(b, "\n");
}

static void dump_docs(struct sb *b, const struct ms_policy_docs *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ms_policy_doc *doc = &d->docs[i];
		sb_printf(b, "doc %s %s ns=%s line=%u\n", doc->name, doc->kind, doc->namespace ? doc->namespace : "-",
			  doc->line);
		for (size_t j = 0; j < doc->n_rules; j++)
			dump_spec(b, &doc->rules[j]);
		for (size_t j = 0; j < doc->n_l7; j++)
			dump_l7(b, &doc->l7[j]);
	}
}

/* ---- the test's own comparison by meaning (independent of ms_rule_spec_equal) ---- */

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Multiset equality of two arrays under eq(). */
static bool bag_eq(const void *a, size_t na, const void *b, size_t nb, size_t size,
		   bool (*eq)(const void *, const void *))
{
	bool used[256] = { false };

	if (na != nb || nb > 256)
		return na == nb && nb == 0;
	for (size_t i = 0; i < na; i++) {
		size_t j;
		for (j = 0; j < nb; j++)
			if (!used[j] && eq((const char *)a + i * size, (const char *)b + j * size))
				break;
		if (j == nb)
			return false;
		used[j] = true;
	}
	return true;
}

static bool strp_eq(const void *a, const void *b)
{
	return str_eq(*(const char *const *)a, *(const char *const *)b);
}

static bool expr_eq(const void *pa, const void *pb)
{
	const struct microseg_sel_expr *a = pa, *b = pb;
	return str_eq(a->key, b->key) && a->op == b->op &&
	       bag_eq(a->values, a->n_values, b->values, b->n_values, sizeof(char *), strp_eq);
}

static bool sel_eq(const struct microseg_selector *a, const struct microseg_selector *b)
{
	return bag_eq(a->match_labels, a->n_match_labels, b->match_labels, b->n_match_labels, sizeof(char *),
		      strp_eq) &&
	       bag_eq(a->exprs, a->n_exprs, b->exprs, b->n_exprs, sizeof(*a->exprs), expr_eq);
}

static bool peer_eq(const void *pa, const void *pb)
{
	const struct microseg_peer *a = pa, *b = pb;

	if (a->kind != b->kind)
		return false;
	if (a->kind == MICROSEG_PEER_SELECTOR)
		return sel_eq(&a->selector, &b->selector);
	if (a->kind == MICROSEG_PEER_CIDR)
		return str_eq(a->cidr, b->cidr) &&
		       bag_eq(a->except, a->n_except, b->except, b->n_except, sizeof(char *), strp_eq);
	return a->entity == b->entity;
}

static bool port_eq(const void *pa, const void *pb)
{
	const struct microseg_port *a = pa, *b = pb;
	return a->proto == b->proto && a->port == b->port && a->flags == b->flags &&
	       (a->end_port == b->end_port || (a->end_port | b->end_port) == a->port);
}

static size_t peers_any(const struct microseg_rule_section *s)
{
	for (size_t i = 0; i < s->n_peers; i++)
		if (s->peers[i].kind == MICROSEG_PEER_ENTITY && s->peers[i].entity == MICROSEG_ENTITY_ALL)
			return 0;
	return s->n_peers;
}

static bool section_eq(const void *pa, const void *pb)
{
	const struct microseg_rule_section *a = pa, *b = pb;
	return a->direction == b->direction && a->action == b->action &&
	       bag_eq(a->peers, peers_any(a), b->peers, peers_any(b), sizeof(*a->peers), peer_eq) &&
	       bag_eq(a->ports, a->n_ports, b->ports, b->n_ports, sizeof(*a->ports), port_eq);
}

static uint32_t selected(const struct microseg_rule_spec *r)
{
	uint32_t f = r->flags;
	for (size_t i = 0; i < r->n_sections; i++)
		f |= r->sections[i].direction == MICROSEG_DIR_INGRESS ? MICROSEG_RULE_F_INGRESS : MICROSEG_RULE_F_EGRESS;
	return f;
}

static bool spec_equal(const struct microseg_rule_spec *a, const struct microseg_rule_spec *b)
{
	return selected(a) == selected(b) && sel_eq(&a->endpoints, &b->endpoints) &&
	       bag_eq(a->sections, a->n_sections, b->sections, b->n_sections, sizeof(*a->sections), section_eq);
}

/* ---- corpus ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.yaml names of a corpus subdirectory. */
static size_t list_corpus(const char *sub, char ***names)
{
	char dir[512];
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s/%s", POLICY_CORPUS_DIR, sub);
	*names = NULL;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".yaml"))
			continue;
		*names = realloc(*names, (n + 1) * sizeof(char *));
		(*names)[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(*names, n, sizeof(char *), cmp_names);
	return n;
}

/* Concatenates the lines that start with `tag` (without it), each ending in '\n'. */
static void comment_lines(const char *text, const char *tag, struct sb *out)
{
	size_t tl = strlen(tag);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && p[len - 1] == '\r')
			len--;
		if (len >= tl && !strncmp(p, tag, tl))
			sb_printf(out, "%.*s\n", (int)(len - tl), p + tl);
		p = nl ? nl + 1 : NULL;
	}
}

static void corpus_good(void)
{
	char **names;
	size_t n = list_corpus("good", &names);

	REQUIRE(n >= 15);
	for (size_t i = 0; i < n; i++) {
		char path[600], err[512];
		size_t len;
		struct sb want = { 0 }, got = { 0 };
		struct ms_policy_docs docs;
		char *text;
		int rc;

		snprintf(path, sizeof(path), "%s/good/%s", POLICY_CORPUS_DIR, names[i]);
		text = h_read_file(path, &len);
		CHECK(text != NULL);
		if (!text)
			continue;
		comment_lines(text, "# expect: ", &want);
		CHECK(want.len > 0);
		rc = ms_policy_docs_parse(text, len, &docs, err, sizeof(err));
		if (rc) {
			h_fail(__FILE__, __LINE__, "%s: rc %d: %s", names[i], rc, err);
		} else {
			dump_docs(&got, &docs);
			h_checks++;
			if (!want.s || strcmp(want.s, got.s))
				h_fail(__FILE__, __LINE__, "%s: translation differs\n--- expected\n%s--- got\n%s", names[i],
				       want.s ? want.s : "", got.s);
			/* every parsed rule survives emit + parse */
			for (size_t d = 0; d < docs.n; d++)
				for (size_t r = 0; r < docs.docs[d].n_rules; r++) {
					char *y = NULL;
					struct ms_policy_docs back;
					CHECK_OK(ms_policy_emit_yaml(&docs.docs[d].rules[r], "back", &y));
					if (!y)
						continue;
					rc = ms_policy_docs_parse(y, strlen(y), &back, err, sizeof(err));
					CHECK_OK(rc);
					if (!rc) {
						CHECK(spec_equal(&docs.docs[d].rules[r], &back.docs[0].rules[0]));
						ms_policy_docs_free(&back);
					}
					free(y);
				}
			ms_policy_docs_free(&docs);
		}
		sb_free(&want);
		sb_free(&got);
		free(text);
		free(names[i]);
	}
	free(names);
	fprintf(stderr, "     %zu good documents\n", n);
}

static void corpus_bad(void)
{
	char **names;
	size_t n = list_corpus("bad", &names);

	REQUIRE(n >= 30);
	for (size_t i = 0; i < n; i++) {
		char path[600], err[512] = "";
		size_t len;
		struct sb want = { 0 }, rcs = { 0 };
		struct ms_policy_docs docs = { 0 }, untouched;
		int rc, want_rc = -EINVAL;
		char *text;

		snprintf(path, sizeof(path), "%s/bad/%s", POLICY_CORPUS_DIR, names[i]);
		text = h_read_file(path, &len);
		CHECK(text != NULL);
		if (!text)
			continue;
		comment_lines(text, "# error: ", &want);
		comment_lines(text, "# rc: ", &rcs);
		if (rcs.s && !strcmp(rcs.s, "E2BIG\n"))
			want_rc = -E2BIG;
		REQUIRE(want.len > 1);
		want.s[want.len - 1] = '\0'; /* one line */
		memset(&docs, 0x5a, sizeof(docs));
		untouched = docs;
		rc = ms_policy_docs_parse(text, len, &docs, err, sizeof(err));
		h_checks++;
		if (rc != want_rc)
			h_fail(__FILE__, __LINE__, "%s: rc %d, expected %d (err: %s)", names[i], rc, want_rc, err);
		h_checks++;
		if (!strstr(err, want.s))
			h_fail(__FILE__, __LINE__, "%s: error \"%s\" lacks \"%s\"", names[i], err, want.s);
		CHECK(!memcmp(&docs, &untouched, sizeof(docs)));
		if (rc == 0)
			ms_policy_docs_free(&docs);
		sb_free(&want);
		sb_free(&rcs);
		free(text);
		free(names[i]);
	}
	free(names);
	fprintf(stderr, "     %zu bad documents\n", n);
}

/* ---- streams, slices, limits ---- */

static int parse_str(const char *text, struct ms_policy_docs *d, char *err, size_t errlen)
{
	return ms_policy_docs_parse(text, strlen(text), d, err, errlen);
}

static void stream_slices(void)
{
	/* comments, explicit ends, empty documents, multibyte text before a document */
	static const char text[] = "# leading comment\n"
				   "apiVersion: cilium.io/v2\n"
				   "kind: CiliumClusterwideNetworkPolicy\n"
				   "metadata: {name: one, annotations: {note: \"héhé ünïcödé\"}}\n"
				   "spec: {endpointSelector: {}, ingress: [{}]}\n"
				   "---\n"
				   "---\n"
				   "# only a comment\n"
				   "...\n"
				   "---\n"
				   "apiVersion: networking.k8s.io/v1\n"
				   "kind: NetworkPolicy\n"
				   "metadata:\n"
				   "  name: two\n"
				   "  namespace: prod\n"
				   "spec:\n"
				   "  podSelector: {}\n"
				   "...\n";
	struct ms_policy_docs d;
	char err[256];

	REQUIRE_OK(parse_str(text, &d, err, sizeof(err)));
	REQUIRE(d.n == 2);
	CHECK_STREQ(d.docs[0].name, "one");
	CHECK(d.docs[0].namespace == NULL);
	CHECK_STREQ(d.docs[0].kind, "CiliumClusterwideNetworkPolicy");
	CHECK_EQ(d.docs[0].line, 2);
	CHECK_STREQ(d.docs[0].text, "apiVersion: cilium.io/v2\n"
				    "kind: CiliumClusterwideNetworkPolicy\n"
				    "metadata: {name: one, annotations: {note: \"héhé ünïcödé\"}}\n"
				    "spec: {endpointSelector: {}, ingress: [{}]}\n");
	CHECK_STREQ(d.docs[1].name, "prod/two");
	CHECK_STREQ(d.docs[1].namespace, "prod");
	CHECK_EQ(d.docs[1].line, 11);
	CHECK_STREQ(d.docs[1].text, "---\n"
				    "apiVersion: networking.k8s.io/v1\n"
				    "kind: NetworkPolicy\n"
				    "metadata:\n"
				    "  name: two\n"
				    "  namespace: prod\n"
				    "spec:\n"
				    "  podSelector: {}\n"
				    "...");
	/* each text parses alone into the same document */
	for (size_t i = 0; i < d.n; i++) {
		struct ms_policy_docs one;
		REQUIRE_OK(parse_str(d.docs[i].text, &one, err, sizeof(err)));
		CHECK_EQ(one.n, 1);
		CHECK_STREQ(one.docs[0].name, d.docs[i].name);
		CHECK(spec_equal(&one.docs[0].rules[0], &d.docs[i].rules[0]));
		ms_policy_docs_free(&one);
	}
	ms_policy_docs_free(&d);
}

static void stream_not_terminated(void)
{
	/* the length bounds the text: what follows it is never read */
	static const char text[] = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
				   "metadata: {name: x}\nspec: {endpointSelector: {}}\nGARBAGE: [";
	struct ms_policy_docs d;
	char err[256];
	size_t len = strlen(text) - strlen("GARBAGE: [");

	REQUIRE_OK(ms_policy_docs_parse(text, len, &d, err, sizeof(err)));
	CHECK_EQ(d.n, 1);
	CHECK_EQ(d.docs[0].rules[0].n_sections, 0);
	CHECK_EQ(d.docs[0].rules[0].flags, 0);
	ms_policy_docs_free(&d);
	CHECK_RC(ms_policy_docs_parse(text, strlen(text), &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "invalid YAML: did not find expected node content") != NULL);
}

static void stream_empty(void)
{
	struct ms_policy_docs d;
	char err[256];

	CHECK_RC(ms_policy_docs_parse("", 0, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no policy in document") != NULL);
	CHECK_RC(ms_policy_docs_parse(NULL, 0, &d, err, sizeof(err)), -EINVAL);
	CHECK_RC(parse_str("# nothing\n---\n...\n", &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no policy in document") != NULL);
	CHECK_RC(ms_policy_docs_parse(NULL, 5, &d, err, sizeof(err)), -EINVAL);
	CHECK_RC(ms_policy_docs_parse("a: b", 4, NULL, err, sizeof(err)), -EINVAL);
	/* UTF-16 (with its BOM) is refused rather than mis-sliced */
	CHECK_RC(ms_policy_docs_parse("\xff\xfe" "a\0:\0 \0b\0", 10, &d, err, sizeof(err)), -EINVAL);
	CHECK_STREQ(err, "line 1: invalid YAML: only UTF-8 is supported");
	CHECK_RC(ms_policy_docs_parse("\xfe\xff\0" "a", 4, &d, err, sizeof(err)), -EINVAL);
	/* no error buffer is fine */
	CHECK_RC(parse_str("kind: [", &d, NULL, 0), -EINVAL);
	/* a tiny error buffer is cut, not overrun */
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	CHECK_RC(parse_str("kind: [", &d, tiny, 5), -EINVAL);
	CHECK_EQ(strlen(tiny), 4);
	CHECK_EQ(tiny[5], 'x');
}

static void stream_nul_byte(void)
{
	static const char text[] = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
				   "metadata: {name: x}\nspec: {endpointSelector: {}}\n\0more: 1\n";
	struct ms_policy_docs d;
	char err[256];

	CHECK_RC(ms_policy_docs_parse(text, sizeof(text) - 1, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "line 5: invalid YAML") != NULL);
}

static const char *doc_head = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
			      "metadata: {name: big}\nspec:\n  endpointSelector: {}\n";

static void limit_list_length(void)
{
	struct sb b = { 0 };
	struct ms_policy_docs d;
	char err[256];

	for (int n = 4096; n <= 4097; n++) {
		sb_free(&b);
		sb_printf(&b, "%s  ingress:\n  - fromCIDR:\n", doc_head);
		for (int i = 0; i < n; i++)
			sb_printf(&b, "    - 10.%d.%d.0/24\n", i / 256, i % 256);
		int rc = ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err));
		if (n == 4096) {
			CHECK_OK(rc);
			if (!rc) {
				CHECK_EQ(d.docs[0].rules[0].sections[0].n_peers, 4096);
				ms_policy_docs_free(&d);
			}
		} else {
			CHECK_RC(rc, -E2BIG);
			CHECK(strstr(err, "line 4104: list of more than 4096 items") != NULL);
		}
	}
	/* many lists each within the limit still may not add up to more peers than that */
	sb_free(&b);
	sb_printf(&b, "%s  ingress:\n  - fromCIDR:\n", doc_head);
	for (int i = 0; i < 3000; i++)
		sb_printf(&b, "    - 10.%d.%d.0/24\n", i / 256, i % 256);
	sb_printf(&b, "    fromEntities:\n");
	for (int i = 0; i < 1100; i++)
		sb_printf(&b, "    - world\n");
	CHECK_RC(ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "more than 4096 peers") != NULL);
	sb_free(&b);
}

static void limit_depth(void)
{
	struct sb b = { 0 };
	struct ms_policy_docs d;
	char err[256];

	/* 32 nested collections are read (then refused as a policy), 33 are not */
	for (int depth = 32; depth <= 33; depth++) {
		sb_free(&b);
		sb_printf(&b, "%s  description: ", doc_head);
		/* the root mapping and spec are two levels */
		for (int i = 2; i < depth; i++)
			sb_printf(&b, "[");
		for (int i = 2; i < depth; i++)
			sb_printf(&b, "]");
		sb_printf(&b, "\n");
		int rc = ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err));
		if (depth == 32) {
			CHECK_RC(rc, -EINVAL);
			CHECK(strstr(err, "line 6: spec.description: expected a string") != NULL);
		} else {
			CHECK_RC(rc, -E2BIG);
			CHECK(strstr(err, "line 6: nesting deeper than 32 levels") != NULL);
		}
	}
	/* a deep bomb does not recurse past the limit */
	sb_free(&b);
	for (int i = 0; i < 100000; i++)
		sb_printf(&b, "[");
	CHECK_RC(ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err)), -E2BIG);
	sb_free(&b);
}

static void limit_size(void)
{
	struct ms_policy_docs d;
	char err[256];
	size_t big = MS_POLICY_DOC_MAX + 100;
	char *text = malloc(MS_POLICY_STREAM_MAX + 2);
	size_t off;

	REQUIRE(text != NULL);
	/* one document just over 1 MiB (a long description) */
	off = (size_t)sprintf(text, "%s  description: \"", doc_head);
	memset(text + off, 'a', big - off);
	memcpy(text + big, "\"\n", 3);
	CHECK_RC(ms_policy_docs_parse(text, big + 2, &d, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "line 1: document of") != NULL);
	/* two documents of 600 kB each are fine */
	off = 0;
	for (int i = 0; i < 2; i++) {
		off += (size_t)sprintf(text + off, "---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
						    "metadata: {name: big%d}\nspec:\n  endpointSelector: {}\n"
						    "  description: \"", i);
		memset(text + off, 'a', 600000);
		off += 600000;
		off += (size_t)sprintf(text + off, "\"\n");
	}
	CHECK(off > MS_POLICY_DOC_MAX);
	CHECK_OK(ms_policy_docs_parse(text, off, &d, err, sizeof(err)));
	if (d.arena) {
		CHECK_EQ(d.n, 2);
		ms_policy_docs_free(&d);
	}
	/* the whole stream is bounded before anything is read */
	memset(text, ' ', MS_POLICY_STREAM_MAX + 1);
	CHECK_RC(ms_policy_docs_parse(text, MS_POLICY_STREAM_MAX + 1, &d, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "stream of") != NULL);
	free(text);
}

static void dup_keys_many(void)
{
	/* the sorted duplicate check of large mappings */
	struct sb b = { 0 };
	struct ms_policy_docs d;
	char err[256];

	sb_printf(&b, "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: m}\n"
		      "spec:\n  endpointSelector:\n    matchLabels:\n");
	for (int i = 0; i < 100; i++)
		sb_printf(&b, "      k%d: v\n", i);
	CHECK_OK(ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err)));
	if (!d.arena)
		return;
	CHECK_EQ(d.docs[0].rules[0].endpoints.n_match_labels, 100);
	CHECK_STREQ(d.docs[0].rules[0].endpoints.match_labels[57], "k57=v");
	ms_policy_docs_free(&d);
	sb_printf(&b, "      k42: w\n");
	CHECK_RC(ms_policy_docs_parse(b.s, b.len, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "line 107: duplicate key 'k42'") != NULL);
	sb_free(&b);
}

/* ---- specs: copy, check, equal ---- */

#define NSTR(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define LABELS(...) .match_labels = (const char *const[]){ __VA_ARGS__ }, .n_match_labels = NSTR(__VA_ARGS__)
#define EXPRS(...)                                                                                 \
	.exprs = (const struct microseg_sel_expr[]){ __VA_ARGS__ },                                \
	.n_exprs = sizeof((const struct microseg_sel_expr[]){ __VA_ARGS__ }) / sizeof(struct microseg_sel_expr)
#define EXPR(k, o, ...) { .key = k, .op = o, .values = (const char *const[]){ __VA_ARGS__ }, .n_values = NSTR(__VA_ARGS__) }
#define EXISTS(k) { .key = k, .op = MICROSEG_SEL_EXISTS }
#define NOT_EXISTS(k) { .key = k, .op = MICROSEG_SEL_DOES_NOT_EXIST }
#define SELP(...) { .kind = MICROSEG_PEER_SELECTOR, .selector = { __VA_ARGS__ } }
#define CIDRP(c, ...) { .kind = MICROSEG_PEER_CIDR, .cidr = c, __VA_ARGS__ }
#define EXCEPT(...) .except = (const char *const[]){ __VA_ARGS__ }, .n_except = NSTR(__VA_ARGS__)
#define ENTP(e) { .kind = MICROSEG_PEER_ENTITY, .entity = MICROSEG_ENTITY_##e }
#define PEERS(...)                                                                                 \
	.peers = (const struct microseg_peer[]){ __VA_ARGS__ },                                    \
	.n_peers = sizeof((const struct microseg_peer[]){ __VA_ARGS__ }) / sizeof(struct microseg_peer)
#define PORT(pr, p, e) { .proto = MICROSEG_PROTO_##pr, .port = p, .end_port = e }
#define ICMPT(pr, t) { .proto = MICROSEG_PROTO_##pr, .port = t, .flags = MICROSEG_PORT_F_ICMP_TYPE }
#define PORTS(...)                                                                                 \
	.ports = (const struct microseg_port[]){ __VA_ARGS__ },                                    \
	.n_ports = sizeof((const struct microseg_port[]){ __VA_ARGS__ }) / sizeof(struct microseg_port)
#define SEC(d, a, ...) { .direction = MICROSEG_DIR_##d, .action = MICROSEG_ACTION_##a, __VA_ARGS__ }
#define SECS(...)                                                                                  \
	.sections = (const struct microseg_rule_section[]){ __VA_ARGS__ },                         \
	.n_sections = sizeof((const struct microseg_rule_section[]){ __VA_ARGS__ }) / sizeof(struct microseg_rule_section)
#define SPEC(...) { .sz = sizeof(struct microseg_rule_spec), __VA_ARGS__ }

static const struct microseg_rule_spec rt_specs[] = {
	/* 0: select everything for ingress, allow nothing */
	SPEC(.flags = MICROSEG_RULE_F_INGRESS),
	/* 1: both directions default-deny for one app */
	SPEC(.endpoints = { LABELS("k8s:app=db") }, .flags = MICROSEG_RULE_F_INGRESS | MICROSEG_RULE_F_EGRESS),
	/* 2: allow everything in (no peers, no ports) */
	SPEC(.endpoints = { LABELS("app=web") }, SECS(SEC(INGRESS, ALLOW))),
	/* 3: the Star Wars rule without its L7 part */
	SPEC(.endpoints = { LABELS("org=empire", "class=deathstar") },
	     SECS(SEC(INGRESS, ALLOW, PEERS(SELP(LABELS("org=empire"))), PORTS(PORT(TCP, 80, 0))))),
	/* 4: expressions of every operator */
	SPEC(.endpoints = { EXPRS(EXPR("tier", MICROSEG_SEL_IN, "a", "b"), EXPR("k8s:env", MICROSEG_SEL_NOT_IN, "dev"),
				  EXISTS("team"), NOT_EXISTS("legacy")) },
	     SECS(SEC(EGRESS, ALLOW,
		      PEERS(SELP(LABELS("app=api"), EXPRS(EXPR("zone", MICROSEG_SEL_IN, "z1", "z2", "z3"))))))),
	/* 5: CIDRs with excepts, v4 and v6 */
	SPEC(SECS(SEC(EGRESS, ALLOW,
		      PEERS(CIDRP("10.0.0.0/8", EXCEPT("10.1.0.0/16", "10.2.3.0/24")), CIDRP("fd00:200::/32"),
			    CIDRP("192.0.2.1/32")),
		      PORTS(PORT(TCP, 443, 0))))),
	/* 6: entities */
	SPEC(.endpoints = { LABELS("app=gw") },
	     SECS(SEC(INGRESS, ALLOW, PEERS(ENTP(HOST), ENTP(WORLD))), SEC(EGRESS, ALLOW, PEERS(ENTP(WORLD))))),
	/* 7: deny sections next to allows */
	SPEC(.endpoints = { LABELS("app=web") },
	     SECS(SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 80, 0))),
		  SEC(INGRESS, DENY, PEERS(CIDRP("203.0.113.0/24")), PORTS(PORT(TCP, 80, 0))),
		  SEC(EGRESS, DENY, PEERS(ENTP(WORLD))))),
	/* 8: port ranges and every L4 protocol */
	SPEC(SECS(SEC(INGRESS, ALLOW,
		      PORTS(PORT(TCP, 8000, 8080), PORT(UDP, 53, 0), PORT(SCTP, 9, 0), PORT(ANY, 7, 0),
			    PORT(UDP, 0, 0), PORT(ANY, 1000, 1000))))),
	/* 9: ICMP types in both families and all ICMP, with an L4 port, ICMP first */
	SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(SELP(LABELS("app=mon"))),
		      PORTS(ICMPT(ICMP, 8), PORT(TCP, 22, 0), ICMPT(ICMPV6, 128), ICMPT(ICMP, 0),
			    PORT(ICMP, 0, 0), PORT(ICMPV6, 0, 0))))),
	/* 10: label texts a YAML reader would take for something else */
	SPEC(.endpoints = { LABELS("v1=true", "v2=123", "v3=", "v4=null", "v5=~", "v6=-x", "v7=.5", "v8=*x",
				   "v9=&a", "v10=!t", "v11=#c", "v12=[x]", "v13={y}", "v14='q'", "v15=%d",
				   "v16=@at", "v17=`b`", "v18=|", "v19=>", "v20=-", "v21=?", "v22=:",
				   "v23=a:b", "v24=\"dq\"", "v25=yes", "v26=0x1F", "v27=1e3", "k8s:v28=No",
				   "reserved:host=") }),
	/* 11: a peer selecting every endpoint, and an empty selector next to labels */
	SPEC(.endpoints = { LABELS("app=x") },
	     SECS(SEC(INGRESS, ALLOW, PEERS(SELP(), SELP(LABELS("a=b")))))),
	/* 12: `all` among other peers is any peer */
	SPEC(SECS(SEC(EGRESS, ALLOW, PEERS(ENTP(ALL), CIDRP("10.0.0.0/8")), PORTS(PORT(UDP, 53, 0))))),
	/* 13: flags next to sections of the same direction */
	SPEC(.flags = MICROSEG_RULE_F_INGRESS | MICROSEG_RULE_F_EGRESS,
	     SECS(SEC(INGRESS, DENY, PEERS(ENTP(WORLD))), SEC(EGRESS, ALLOW, PORTS(PORT(TCP, 443, 0))))),
	/* 14: mixed peer kinds in one section, sections out of group order */
	SPEC(SECS(SEC(EGRESS, ALLOW, PORTS(PORT(TCP, 5432, 0))),
		  SEC(INGRESS, ALLOW, PEERS(CIDRP("10.200.0.0/16"), SELP(LABELS("role=client")), ENTP(HOST),
					    SELP(EXPRS(EXISTS("k8s:io.kubernetes.pod.namespace"))))),
		  SEC(EGRESS, DENY, PORTS(PORT(TCP, 25, 0))), SEC(INGRESS, DENY, PEERS(ENTP(WORLD))))),
	/* 15: namespace labels written out as a cluster-wide rule keeps them exactly */
	SPEC(.endpoints = { LABELS("app=web", "k8s:io.kubernetes.pod.namespace=prod") },
	     SECS(SEC(INGRESS, ALLOW,
		      PEERS(SELP(LABELS("k8s:io.cilium.k8s.namespace.labels.team=a")),
			    SELP(LABELS("role=fe", "k8s:io.kubernetes.pod.namespace=prod"))),
		      PORTS(PORT(TCP, 8080, 0))))),
	/* 16: many sections */
	SPEC(SECS(SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 1, 0))), SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 2, 0))),
		  SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 3, 0))), SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 4, 0))),
		  SEC(EGRESS, ALLOW, PORTS(PORT(UDP, 5, 0))), SEC(EGRESS, ALLOW, PORTS(PORT(UDP, 6, 0))))),
	/* 17: IPv6 with excepts and an ICMPv6 type only */
	SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP("fd00:200::/48", EXCEPT("fd00:200:0:1::/64", "fd00:200::5/128"))),
		      PORTS(ICMPT(ICMPV6, 135), ICMPT(ICMPV6, 136))))),
	/* 18: port 65535 and a full range */
	SPEC(SECS(SEC(EGRESS, ALLOW, PEERS(ENTP(WORLD)), PORTS(PORT(TCP, 65535, 0), PORT(UDP, 1, 65535))))),
	/* 19: duplicate ports and peers stay as given */
	SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(ENTP(HOST), ENTP(HOST)), PORTS(PORT(TCP, 80, 0), PORT(TCP, 80, 0))))),
	/* 20: a name */
	SPEC(.name = "api rule 20", .endpoints = { LABELS("a=b") }, .flags = MICROSEG_RULE_F_EGRESS),
	/* 21: key and value characters at the edge of what labels allow */
	SPEC(.endpoints = { LABELS("app.kubernetes.io/name=x_y-z.1", "any:k=v", "src.x-y_z:k/k=v") },
	     SECS(SEC(EGRESS, ALLOW, PEERS(SELP(EXPRS(EXPR("a/b", MICROSEG_SEL_IN, "", "x.y"))))))),
};

static void round_trip(void)
{
	for (size_t i = 0; i < sizeof(rt_specs) / sizeof(rt_specs[0]); i++) {
		const struct microseg_rule_spec *spec = &rt_specs[i];
		char name[32], err[512], *y = NULL, *y2 = NULL;
		struct ms_policy_docs d;
		int rc;

		snprintf(name, sizeof(name), "rt-%zu", i);
		CHECK_OK(ms_rule_spec_check(spec, err, sizeof(err)));
		rc = ms_policy_emit_yaml(spec, name, &y);
		h_checks++;
		if (rc) {
			h_fail(__FILE__, __LINE__, "spec %zu: emit rc %d", i, rc);
			continue;
		}
		rc = ms_policy_docs_parse(y, strlen(y), &d, err, sizeof(err));
		h_checks++;
		if (rc) {
			h_fail(__FILE__, __LINE__, "spec %zu: parse of emitted text: %s\n%s", i, err, y);
			free(y);
			continue;
		}
		CHECK_EQ(d.n, 1);
		CHECK_EQ(d.docs[0].n_rules, 1);
		CHECK_STREQ(d.docs[0].name, name);
		CHECK_STREQ(d.docs[0].rules[0].name, name);
		CHECK_STREQ(d.docs[0].kind, "CiliumClusterwideNetworkPolicy");
		CHECK_EQ(d.docs[0].n_l7, 0);
		/* exact where the emitter promises it, by meaning everywhere */
		CHECK_EQ(d.docs[0].rules[0].flags, spec->flags);
		h_checks++;
		if (!spec_equal(spec, &d.docs[0].rules[0])) {
			struct sb a = { 0 }, b = { 0 };
			dump_spec(&a, spec);
			dump_spec(&b, &d.docs[0].rules[0]);
			h_fail(__FILE__, __LINE__, "spec %zu differs after a round trip\n%s---\n%s---\n%s", i, a.s, b.s, y);
			sb_free(&a);
			sb_free(&b);
		}
		CHECK_EQ(ms_rule_spec_equal(spec, &d.docs[0].rules[0]), 1);
		/* from the second trip on, the text is stable (the first may fold `all` peers) */
		CHECK_OK(ms_policy_emit_yaml(&d.docs[0].rules[0], name, &y2));
		if (y2) {
			struct ms_policy_docs d2;
			char *y3 = NULL;
			if (i != 12) /* spec 12 loses its CIDR next to `all` on the first trip */
				CHECK_STREQ(y2, y);
			REQUIRE_OK(ms_policy_docs_parse(y2, strlen(y2), &d2, err, sizeof(err)));
			CHECK(spec_equal(spec, &d2.docs[0].rules[0]));
			CHECK_OK(ms_policy_emit_yaml(&d2.docs[0].rules[0], name, &y3));
			if (y3)
				CHECK_STREQ(y3, y2);
			free(y3);
			ms_policy_docs_free(&d2);
		}
		free(y2);
		free(y);
		ms_policy_docs_free(&d);
	}
	fprintf(stderr, "     %zu specs\n", sizeof(rt_specs) / sizeof(rt_specs[0]));
}

static void emit_golden(void)
{
	char *y = NULL;

	REQUIRE_OK(ms_policy_emit_yaml(&rt_specs[7], "web-guard", &y));
	CHECK_STREQ(y, "---\n"
		       "apiVersion: cilium.io/v2\n"
		       "kind: CiliumClusterwideNetworkPolicy\n"
		       "metadata:\n"
		       "  name: web-guard\n"
		       "spec:\n"
		       "  endpointSelector:\n"
		       "    matchLabels:\n"
		       "      app: web\n"
		       "  ingress:\n"
		       "  - fromEntities:\n"
		       "    - all\n"
		       "    toPorts:\n"
		       "    - ports:\n"
		       "      - port: \"80\"\n"
		       "        protocol: TCP\n"
		       "  ingressDeny:\n"
		       "  - fromCIDRSet:\n"
		       "    - cidr: 203.0.113.0/24\n"
		       "    toPorts:\n"
		       "    - ports:\n"
		       "      - port: \"80\"\n"
		       "        protocol: TCP\n"
		       "  egressDeny:\n"
		       "  - toEntities:\n"
		       "    - world\n");
	free(y);
	y = NULL;
	REQUIRE_OK(ms_policy_emit_yaml(&rt_specs[0], "deny-in", &y));
	CHECK_STREQ(y, "---\n"
		       "apiVersion: cilium.io/v2\n"
		       "kind: CiliumClusterwideNetworkPolicy\n"
		       "metadata:\n"
		       "  name: deny-in\n"
		       "spec:\n"
		       "  endpointSelector: {}\n"
		       "  ingress:\n"
		       "  - {}\n");
	free(y);
}

static void emit_refuses(void)
{
	const struct microseg_rule_spec bad[] = {
		SPEC(.endpoints = { LABELS("noequals") }),
		SPEC(.endpoints = { LABELS("=v") }),
		SPEC(.endpoints = { LABELS("a=1", "a=2") }),        /* one key, two values */
		SPEC(.endpoints = { LABELS("a=b c") }),             /* space */
		SPEC(.endpoints = { LABELS("a=b,c") }),             /* comma */
		SPEC(.endpoints = { EXPRS(EXPR("k", MICROSEG_SEL_EXISTS, "v")) }),
		SPEC(.endpoints = { EXPRS({ .key = "k", .op = MICROSEG_SEL_IN }) }),
		SPEC(.endpoints = { EXPRS({ .key = "k", .op = 9, .values = (const char *const[]){ "v" }, .n_values = 1 }) }),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0"))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0/33"))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0/8", EXCEPT("11.0.0.0/16")))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0/8", EXCEPT("fd00::/64")))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS(CIDRP(NULL))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS({ .kind = MICROSEG_PEER_ENTITY, .entity = 9 })))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PEERS({ .kind = 7 })))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 90, 80))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS(PORT(TCP, 0, 80))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS({ .proto = MICROSEG_PROTO_TCP, .port = 8, .flags = MICROSEG_PORT_F_ICMP_TYPE })))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS(ICMPT(ICMP, 256))))),
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS(PORT(ICMP, 8, 0))))), /* type without the flag */
		SPEC(SECS(SEC(INGRESS, ALLOW, PORTS({ .proto = 47 })))),
		SPEC(SECS({ .direction = 3 })),
		SPEC(SECS({ .direction = MICROSEG_DIR_INGRESS, .action = 2 })),
		SPEC(SECS({ .direction = MICROSEG_DIR_INGRESS, .n_peers = 1 })),   /* NULL array */
		SPEC(SECS({ .direction = MICROSEG_DIR_INGRESS, .n_ports = 2 })),
		SPEC(.n_sections = 1),
		SPEC(.endpoints = { .n_match_labels = 1 }),
		SPEC(.flags = 4),
	};
	char *y = (char *)"untouched";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ms_policy_emit_yaml(&bad[i], "bad", &y);
		h_checks++;
		if (rc != -EINVAL)
			h_fail(__FILE__, __LINE__, "bad spec %zu: rc %d, expected -EINVAL", i, rc);
	}
	CHECK_STREQ(y, "untouched");
	CHECK_RC(ms_policy_emit_yaml(NULL, "x", &y), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], NULL, &y), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], "x", NULL), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], "", &y), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], "ns/x", &y), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], "a b", &y), -EINVAL);
	CHECK_RC(ms_policy_emit_yaml(&rt_specs[0], "..", &y), -EINVAL);
	/* a caller's sz below the first release's struct */
	struct microseg_rule_spec small = rt_specs[0];
	small.sz = sizeof(size_t);
	CHECK_RC(ms_policy_emit_yaml(&small, "x", &y), -EINVAL);
	CHECK_STREQ(y, "untouched");
}

static void check_messages(void)
{
	const struct microseg_rule_spec s1 =
		SPEC(SECS(SEC(INGRESS, ALLOW), SEC(EGRESS, ALLOW, PEERS(ENTP(HOST), CIDRP("10.0.0.0/8", EXCEPT("10.1.0.0/16", "12.0.0.0/8")))))),
		s2 = SPEC(.endpoints = { EXPRS(EXISTS("a"), EXPR("b", MICROSEG_SEL_NOT_IN)) });
	char err[256];

	CHECK_RC(ms_rule_spec_check(&s1, err, sizeof(err)), -EINVAL);
	CHECK_STREQ(err, "sections[1].peers[1]: except[1] 12.0.0.0/8 is not inside 10.0.0.0/8");
	CHECK_RC(ms_rule_spec_check(&s2, err, sizeof(err)), -EINVAL);
	CHECK_STREQ(err, "endpoints.exprs[1]: In/NotIn needs at least one value");
	CHECK_RC(ms_rule_spec_check(NULL, err, sizeof(err)), -EINVAL);
	CHECK_RC(ms_rule_spec_check(&s1, NULL, 0), -EINVAL);

	struct microseg_port many[MS_POLICY_LIST_MAX + 1];
	memset(many, 0, sizeof(many));
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS, .ports = many, .n_ports = MS_POLICY_LIST_MAX + 1 };
	struct microseg_rule_spec big = { .sz = sizeof(big), .sections = &sec, .n_sections = 1 };
	CHECK_RC(ms_rule_spec_check(&big, err, sizeof(err)), -E2BIG);
	CHECK_STREQ(err, "sections[0]: 4097 ports, at most 4096");
}

static void copy_deep(void)
{
	struct ms_arena *a = ms_arena_new();
	char label[] = "app=web", cidr[] = "10.0.0.0/8", ex[] = "10.1.0.0/16", val[] = "v1", key[] = "k";
	const char *labels[] = { label }, *excepts[] = { ex }, *vals[] = { val };
	struct microseg_sel_expr expr = { .key = key, .op = MICROSEG_SEL_IN, .values = vals, .n_values = 1 };
	struct microseg_peer peers[] = { { .kind = MICROSEG_PEER_CIDR, .cidr = cidr, .except = excepts, .n_except = 1 },
					 { .kind = MICROSEG_PEER_SELECTOR, .selector = { .exprs = &expr, .n_exprs = 1 } } };
	struct microseg_port ports[] = { { .proto = MICROSEG_PROTO_TCP, .port = 80 } };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_EGRESS, .peers = peers, .n_peers = 2,
					     .ports = ports, .n_ports = 1 };
	char name[] = "orig";
	struct microseg_rule_spec spec = { .sz = sizeof(spec), .name = name, .endpoints = { .match_labels = labels, .n_match_labels = 1 },
					   .sections = &sec, .n_sections = 1, .flags = MICROSEG_RULE_F_INGRESS };
	struct microseg_rule_spec *c;

	REQUIRE(a != NULL);
	c = ms_rule_spec_copy(a, &spec);
	REQUIRE(c != NULL);
	CHECK(spec_equal(c, &spec));
	CHECK_STREQ(c->name, "orig");
	/* the copy shares nothing with the original */
	label[4] = 'X';
	cidr[1] = '1';
	ex[1] = '1';
	val[1] = '9';
	key[0] = 'z';
	name[0] = 'x';
	ports[0].port = 81;
	sec.direction = MICROSEG_DIR_INGRESS;
	CHECK_STREQ(c->endpoints.match_labels[0], "app=web");
	CHECK_STREQ(c->sections[0].peers[0].cidr, "10.0.0.0/8");
	CHECK_STREQ(c->sections[0].peers[0].except[0], "10.1.0.0/16");
	CHECK_STREQ(c->sections[0].peers[1].selector.exprs[0].key, "k");
	CHECK_STREQ(c->sections[0].peers[1].selector.exprs[0].values[0], "v1");
	CHECK_STREQ(c->name, "orig");
	CHECK_EQ(c->sections[0].ports[0].port, 80);
	CHECK_EQ(c->sections[0].direction, MICROSEG_DIR_EGRESS);
	CHECK_EQ(c->sz, sizeof(struct microseg_rule_spec));
	CHECK(!spec_equal(c, &spec));
	ms_arena_free(a);
	CHECK(ms_rule_spec_copy(NULL, &spec) == NULL);
}

static void equal_by_meaning(void)
{
	const struct microseg_rule_spec a = SPEC(
		.endpoints = { LABELS("a=1", "b=2"), EXPRS(EXPR("k", MICROSEG_SEL_IN, "x", "y"), EXISTS("e")) },
		SECS(SEC(INGRESS, ALLOW, PEERS(ENTP(HOST), CIDRP("10.0.0.0/8", EXCEPT("10.1.0.0/16", "10.2.0.0/16"))),
			 PORTS(PORT(TCP, 80, 80), PORT(UDP, 53, 0))),
		     SEC(EGRESS, ALLOW, PEERS(ENTP(ALL), ENTP(HOST)))));
	const struct microseg_rule_spec b = SPEC(
		.endpoints = { LABELS("b=2", "a=1"), EXPRS(EXISTS("e"), EXPR("k", MICROSEG_SEL_IN, "y", "x")) },
		SECS(SEC(EGRESS, ALLOW),
		     SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0/8", EXCEPT("10.2.0.0/16", "10.1.0.0/16")), ENTP(HOST)),
			 PORTS(PORT(UDP, 53, 0), PORT(TCP, 80, 0)))));
	const struct microseg_rule_spec c = SPEC(
		.endpoints = { LABELS("b=2", "a=1"), EXPRS(EXISTS("e"), EXPR("k", MICROSEG_SEL_IN, "y", "x")) },
		SECS(SEC(EGRESS, ALLOW),
		     SEC(INGRESS, ALLOW, PEERS(CIDRP("10.0.0.0/8", EXCEPT("10.2.0.0/16")), ENTP(HOST)),
			 PORTS(PORT(UDP, 53, 0), PORT(TCP, 80, 0)))));
	struct microseg_rule_spec d = b, e = rt_specs[2], f = rt_specs[0];

	CHECK_EQ(ms_rule_spec_equal(&a, &b), 1);
	CHECK_EQ(ms_rule_spec_equal(&b, &a), 1);
	CHECK_EQ(ms_rule_spec_equal(&a, &c), 0);
	/* a section selects its direction: the flag of that direction adds nothing */
	d.flags = MICROSEG_RULE_F_INGRESS | MICROSEG_RULE_F_EGRESS;
	CHECK_EQ(ms_rule_spec_equal(&a, &d), 1);
	e.flags = MICROSEG_RULE_F_INGRESS;
	CHECK_EQ(ms_rule_spec_equal(&rt_specs[2], &e), 1);
	e.flags = MICROSEG_RULE_F_EGRESS;
	CHECK_EQ(ms_rule_spec_equal(&rt_specs[2], &e), 0);
	f.flags = 0;
	CHECK_EQ(ms_rule_spec_equal(&rt_specs[0], &f), 0);
	CHECK(spec_equal(&a, &b));
	CHECK(!spec_equal(&a, &c));
	/* the inputs are not reordered */
	CHECK_STREQ(b.endpoints.match_labels[0], "b=2");
}

static void cidr_parse(void)
{
	struct ms_cidr c, d;

	CHECK_OK(ms_cidr_parse("10.0.0.0/8", &c));
	CHECK_EQ(c.prefix, 8);
	CHECK_OK(ms_cidr_parse("::/0", &c));
	CHECK_OK(ms_cidr_parse("fd00:200::1/128", &c));
	CHECK_OK(ms_cidr_parse("10.1.2.3/8", &c)); /* host bits are allowed */
	CHECK_RC(ms_cidr_parse("10.0.0.0", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/+8", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/ 8", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/0008", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0/8", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("/8", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("fd00::/129", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse("10.0.0.0/33", &c), -EINVAL);
	CHECK_RC(ms_cidr_parse(NULL, &c), -EINVAL);
	ms_cidr_parse("10.0.0.0/9", &c);
	ms_cidr_parse("10.127.0.0/16", &d);
	CHECK(ms_cidr_contains(&c, &d));
	ms_cidr_parse("10.128.0.0/16", &d);
	CHECK(!ms_cidr_contains(&c, &d));
	ms_cidr_parse("10.0.0.0/8", &d);
	CHECK(!ms_cidr_contains(&c, &d));
	CHECK(ms_cidr_contains(&d, &c));
	CHECK(ms_cidr_contains(&c, &c));
}

static void arena_basics(void)
{
	struct ms_arena *a = ms_arena_new();
	char *p[2000];

	REQUIRE(a != NULL);
	for (int i = 0; i < 2000; i++) {
		p[i] = ms_arena_alloc(a, (size_t)(i % 7 == 0 ? 40000 : 1 + i % 100));
		REQUIRE(p[i] != NULL);
		CHECK_EQ((uintptr_t)p[i] % sizeof(void *), 0);
		CHECK_EQ(p[i][0], 0);
		memset(p[i], 0xab, (size_t)(i % 7 == 0 ? 40000 : 1 + i % 100));
	}
	CHECK_STREQ(ms_arena_strdup(a, "hello"), "hello");
	CHECK_STREQ(ms_arena_strndup(a, "hello", 3), "hel");
	CHECK(ms_arena_strdup(a, NULL) == NULL);
	CHECK(ms_arena_alloc(a, SIZE_MAX - 8) == NULL);
	CHECK(ms_arena_alloc(NULL, 8) == NULL);
	ms_arena_free(a);
	ms_arena_free(NULL);
}

static void l7_positions(void)
{
	/* L7 records point at the right rule, section and port when several exist */
	static const char text[] = "apiVersion: cilium.io/v2\n"
				   "kind: CiliumNetworkPolicy\n"
				   "metadata: {name: l7, namespace: shop}\n"
				   "specs:\n"
				   "- endpointSelector: {}\n"
				   "  egress: [{}]\n"
				   "- endpointSelector: {matchLabels: {app: api}}\n"
				   "  ingress:\n"
				   "  - toPorts: [{ports: [{port: '1'}]}]\n"
				   "  - {}\n"
				   "  - toPorts:\n"
				   "    - ports: [{port: '22', protocol: TCP}]\n"
				   "    - ports: [{port: '80', protocol: TCP}, {port: '8080', protocol: TCP}]\n"
				   "      rules: {http: [{method: GET}]}\n"
				   "    icmps: [{fields: [{type: 8}]}]\n";
	struct ms_policy_docs d;
	char err[256];

	REQUIRE_OK(parse_str(text, &d, err, sizeof(err)));
	REQUIRE(d.n == 1 && d.docs[0].n_rules == 2 && d.docs[0].n_l7 == 2);
	const struct ms_l7_port_rules *l = d.docs[0].l7;
	const struct microseg_rule_spec *r = &d.docs[0].rules[1];
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(l[i].rule, 1);
		CHECK_EQ(l[i].section, 1);
		CHECK_EQ(l[i].n_http, 1);
		CHECK_STREQ(l[i].http[0].method, "GET");
		CHECK(l[i].http[0].path == NULL);
	}
	CHECK_EQ(l[0].port, 1);
	CHECK_EQ(l[1].port, 2);
	CHECK_EQ(r->flags, MICROSEG_RULE_F_INGRESS);
	REQUIRE(r->n_sections == 2);
	CHECK_EQ(r->sections[1].n_ports, 4);
	CHECK_EQ(r->sections[1].ports[l[1].port].port, 8080);
	CHECK_EQ(r->sections[1].ports[3].proto, MICROSEG_PROTO_ICMP);
	CHECK_EQ(d.docs[0].rules[0].flags, MICROSEG_RULE_F_EGRESS);
	ms_policy_docs_free(&d);
}

static const struct h_test tests[] = {
	TEST_ENTRY(corpus_good),	TEST_ENTRY(corpus_bad),	    TEST_ENTRY(stream_slices),
	TEST_ENTRY(stream_not_terminated), TEST_ENTRY(stream_empty), TEST_ENTRY(stream_nul_byte),
	TEST_ENTRY(limit_list_length), TEST_ENTRY(limit_depth),	    TEST_ENTRY(limit_size),
	TEST_ENTRY(dup_keys_many),	TEST_ENTRY(l7_positions),   TEST_ENTRY(round_trip),
	TEST_ENTRY(emit_golden),	TEST_ENTRY(emit_refuses),   TEST_ENTRY(check_messages),
	TEST_ENTRY(copy_deep),		TEST_ENTRY(equal_by_meaning), TEST_ENTRY(cidr_parse),
	TEST_ENTRY(arena_basics),
};

HARNESS_MAIN(tests)
