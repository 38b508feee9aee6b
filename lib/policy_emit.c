// SPDX-License-Identifier: Apache-2.0
/*
 * A rule spec as a CiliumClusterwideNetworkPolicy document, through libyaml's emitter (which
 * knows when a string needs quotes). Cluster-wide, so that parsing it back adds no namespace
 * term. The output is parsed back and compared before it is returned: a spec that would not
 * come back the same is refused rather than persisted wrong.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy_doc.h"

struct outbuf {
	char *data;
	size_t len, cap;
	bool nomem;
};

static int write_out(void *user, unsigned char *buf, size_t size)
{
	struct outbuf *o = user;

	if (o->len + size + 1 > o->cap) {
		size_t ncap = o->cap ? o->cap : 1024;
		char *n;
		while (ncap < o->len + size + 1)
			ncap *= 2;
		n = realloc(o->data, ncap);
		if (!n) {
			o->nomem = true;
			return 0;
		}
		o->data = n;
		o->cap = ncap;
	}
	memcpy(o->data + o->len, buf, size);
	o->len += size;
	o->data[o->len] = '\0';
	return 1;
}

struct em {
	yaml_emitter_t e;
	bool failed;
};

/* The emitter consumes the event, also when it fails. */
static void emit(struct em *m, yaml_event_t *ev, int init_ok)
{
	if (m->failed)
		return;
	if (!init_ok || !yaml_emitter_emit(&m->e, ev))
		m->failed = true;
}

static void map_start(struct em *m)
{
	yaml_event_t ev;
	emit(m, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(struct em *m)
{
	yaml_event_t ev;
	emit(m, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void seq_start(struct em *m)
{
	yaml_event_t ev;
	emit(m, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
}

static void seq_end(struct em *m)
{
	yaml_event_t ev;
	emit(m, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void scalar_n(struct em *m, const char *s, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	emit(m, &ev,
	     yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style));
}

/* Strings that a YAML 1.1 reader would take for null, a boolean or a number go in quotes. */
static bool looks_typed(const char *s, size_t len)
{
	static const char *const words[] = { "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES",
					     "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
					     "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF" };

	if (len == 0)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i]) && !strncmp(s, words[i], len))
			return true;
	/* numbers of any YAML 1.1 form (ints in every base, floats, 1:30 sexagesimals, .inf,
	 * .nan) start like this and use only these characters; a CIDR's '/' rules it out */
	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-' || s[0] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEFxXoO+-._:iInN", s[i]))
			return false;
	return true;
}

static void str_n(struct em *m, const char *s, size_t len)
{
	scalar_n(m, s, len, looks_typed(s, len) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
}

static void str(struct em *m, const char *s)
{
	str_n(m, s, strlen(s));
}

static void num(struct em *m, unsigned v)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%u", v);
	scalar_n(m, buf, (size_t)n, YAML_PLAIN_SCALAR_STYLE);
}

static void quoted_num(struct em *m, unsigned v)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%u", v);
	scalar_n(m, buf, (size_t)n, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void selector(struct em *m, const struct microseg_selector *s)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };

	map_start(m);
	if (s->n_match_labels) {
		str(m, "matchLabels");
		map_start(m);
		for (size_t i = 0; i < s->n_match_labels; i++) {
			const char *l = s->match_labels[i], *eq = strchr(l, '=');
			str_n(m, l, (size_t)(eq - l));
			str(m, eq + 1);
		}
		map_end(m);
	}
	if (s->n_exprs) {
		str(m, "matchExpressions");
		seq_start(m);
		for (size_t i = 0; i < s->n_exprs; i++) {
			const struct microseg_sel_expr *e = &s->exprs[i];
			map_start(m);
			str(m, "key");
			str(m, e->key);
			str(m, "operator");
			str(m, ops[e->op]);
			if (e->n_values) {
				str(m, "values");
				seq_start(m);
				for (size_t j = 0; j < e->n_values; j++)
					str(m, e->values[j]);
				seq_end(m);
			}
			map_end(m);
		}
		seq_end(m);
	}
	map_end(m);
}

static bool is_icmp_type(const struct microseg_port *p)
{
	return (p->proto == MICROSEG_PROTO_ICMP || p->proto == MICROSEG_PROTO_ICMPV6) &&
	       (p->flags & MICROSEG_PORT_F_ICMP_TYPE);
}

static const char *proto_name(uint32_t proto)
{
	switch (proto) {
	case MICROSEG_PROTO_TCP:
		return "TCP";
	case MICROSEG_PROTO_UDP:
		return "UDP";
	case MICROSEG_PROTO_SCTP:
		return "SCTP";
	case MICROSEG_PROTO_ICMP:
		return "ICMP";
	case MICROSEG_PROTO_ICMPV6:
		return "ICMPV6";
	default:
		return "ANY";
	}
}

/* The HTTP rules of port `port` of section `sec`, or NULL. */
static const struct microseg_l7_rules *l7_of(const struct microseg_rule_spec *spec, size_t sec, size_t port)
{
	for (size_t i = 0; i < spec->n_l7; i++)
		if (spec->l7[i].section == sec && spec->l7[i].port == port)
			return &spec->l7[i];
	return NULL;
}

static void port_item(struct em *m, const struct microseg_port *p)
{
	map_start(m);
	str(m, "port");
	quoted_num(m, p->port);
	if (p->end_port) {
		str(m, "endPort");
		num(m, p->end_port);
	}
	str(m, "protocol");
	str(m, proto_name(p->proto));
	map_end(m);
}

static void opt_field(struct em *m, const char *key, const char *val)
{
	if (!val)
		return;
	str(m, key);
	str(m, val);
}

/* A toPorts item of its own for a port with HTTP rules: {ports: [p], rules: {http: [...]}}. */
static void l7_port_item(struct em *m, const struct microseg_port *p, const struct microseg_l7_rules *l7)
{
	map_start(m);
	str(m, "ports");
	seq_start(m);
	port_item(m, p);
	seq_end(m);
	str(m, "rules");
	map_start(m);
	str(m, "http");
	seq_start(m);
	for (size_t i = 0; i < l7->n_http; i++) {
		const struct microseg_http_rule *h = &l7->http[i];
		map_start(m);
		opt_field(m, "method", h->method);
		opt_field(m, "path", h->path);
		opt_field(m, "host", h->host);
		if (h->n_headers) {
			str(m, "headers");
			seq_start(m);
			for (size_t j = 0; j < h->n_headers; j++)
				str(m, h->headers[j]);
			seq_end(m);
		}
		map_end(m);
	}
	seq_end(m);
	map_end(m);
	map_end(m);
}

static void section(struct em *m, const struct microseg_rule_spec *spec, size_t sec)
{
	const struct microseg_rule_section *s = &spec->sections[sec];
	bool eg = s->direction == MICROSEG_DIR_EGRESS;
	size_t n_sel = 0, n_cidr = 0, n_ent = 0, n_l4 = 0, n_icmp = 0;
	static const char *const entities[] = { "", "host", "world", "all" };

	for (size_t i = 0; i < s->n_peers; i++) {
		n_sel += s->peers[i].kind == MICROSEG_PEER_SELECTOR;
		n_cidr += s->peers[i].kind == MICROSEG_PEER_CIDR;
		n_ent += s->peers[i].kind == MICROSEG_PEER_ENTITY;
	}
	size_t n_l7 = 0;
	for (size_t i = 0; i < s->n_ports; i++) {
		bool l7 = l7_of(spec, sec, i) != NULL;
		n_icmp += is_icmp_type(&s->ports[i]);
		n_l4 += !is_icmp_type(&s->ports[i]) && !l7;
		n_l7 += l7;
	}
	map_start(m);
	if (n_sel) {
		str(m, eg ? "toEndpoints" : "fromEndpoints");
		seq_start(m);
		for (size_t i = 0; i < s->n_peers; i++)
			if (s->peers[i].kind == MICROSEG_PEER_SELECTOR)
				selector(m, &s->peers[i].selector);
		seq_end(m);
	}
	if (n_cidr) {
		str(m, eg ? "toCIDRSet" : "fromCIDRSet");
		seq_start(m);
		for (size_t i = 0; i < s->n_peers; i++) {
			const struct microseg_peer *p = &s->peers[i];
			if (p->kind != MICROSEG_PEER_CIDR)
				continue;
			map_start(m);
			str(m, "cidr");
			str(m, p->cidr);
			if (p->n_except) {
				str(m, "except");
				seq_start(m);
				for (size_t j = 0; j < p->n_except; j++)
					str(m, p->except[j]);
				seq_end(m);
			}
			map_end(m);
		}
		seq_end(m);
	}
	/* no peers means any peer; Cilium reads a rule without peers or ports as "nothing" */
	if (n_ent || s->n_peers == 0) {
		str(m, eg ? "toEntities" : "fromEntities");
		seq_start(m);
		if (s->n_peers == 0)
			str(m, "all");
		for (size_t i = 0; i < s->n_peers; i++)
			if (s->peers[i].kind == MICROSEG_PEER_ENTITY)
				str(m, entities[s->peers[i].entity]);
		seq_end(m);
	}
	if (n_l4 || n_l7) {
		str(m, "toPorts");
		seq_start(m);
		if (n_l4) {
			map_start(m);
			str(m, "ports");
			seq_start(m);
			for (size_t i = 0; i < s->n_ports; i++)
				if (!is_icmp_type(&s->ports[i]) && !l7_of(spec, sec, i))
					port_item(m, &s->ports[i]);
			seq_end(m);
			map_end(m);
		}
		for (size_t i = 0; i < s->n_ports; i++) {
			const struct microseg_l7_rules *l7 = l7_of(spec, sec, i);
			if (l7)
				l7_port_item(m, &s->ports[i], l7);
		}
		seq_end(m);
	}
	if (n_icmp) {
		str(m, "icmps");
		seq_start(m);
		map_start(m);
		str(m, "fields");
		seq_start(m);
		for (size_t i = 0; i < s->n_ports; i++) {
			const struct microseg_port *p = &s->ports[i];
			if (!is_icmp_type(p))
				continue;
			map_start(m);
			str(m, "type");
			num(m, p->port);
			str(m, "family");
			str(m, p->proto == MICROSEG_PROTO_ICMPV6 ? "IPv6" : "IPv4");
			map_end(m);
		}
		seq_end(m);
		map_end(m);
		seq_end(m);
	}
	map_end(m);
}

static void document(struct em *m, const struct microseg_rule_spec *spec, const char *name)
{
	static const struct {
		const char *key;
		uint32_t dir, action, flag;
	} groups[] = {
		{ "ingress", MICROSEG_DIR_INGRESS, MICROSEG_ACTION_ALLOW, MICROSEG_RULE_F_INGRESS },
		{ "ingressDeny", MICROSEG_DIR_INGRESS, MICROSEG_ACTION_DENY, 0 },
		{ "egress", MICROSEG_DIR_EGRESS, MICROSEG_ACTION_ALLOW, MICROSEG_RULE_F_EGRESS },
		{ "egressDeny", MICROSEG_DIR_EGRESS, MICROSEG_ACTION_DENY, 0 },
	};
	yaml_event_t ev;

	emit(m, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit(m, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0));
	map_start(m);
	str(m, "apiVersion");
	str(m, "cilium.io/v2");
	str(m, "kind");
	str(m, "CiliumClusterwideNetworkPolicy");
	str(m, "metadata");
	map_start(m);
	str(m, "name");
	str(m, name);
	map_end(m);
	str(m, "spec");
	map_start(m);
	str(m, "endpointSelector");
	selector(m, &spec->endpoints);
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		bool flag = groups[g].flag && (spec->flags & groups[g].flag);
		size_t n = 0;

		for (size_t i = 0; i < spec->n_sections; i++)
			n += spec->sections[i].direction == groups[g].dir && spec->sections[i].action == groups[g].action;
		if (!n && !flag)
			continue;
		str(m, groups[g].key);
		seq_start(m);
		if (flag) {
			/* `{}`: selects the direction and allows nothing, which is what the flag says */
			emit(m, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE));
			map_end(m);
		}
		for (size_t i = 0; i < spec->n_sections; i++)
			if (spec->sections[i].direction == groups[g].dir && spec->sections[i].action == groups[g].action)
				section(m, spec, i);
		seq_end(m);
	}
	map_end(m);
	map_end(m);
	emit(m, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit(m, &ev, yaml_stream_end_event_initialize(&ev));
}

static bool name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 253 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_'))
			return false;
	return true;
}

/* Parses the output back: 0 if it gives the same rule, -EINVAL if not, -ENOMEM. */
static int verify(const struct microseg_rule_spec *spec, const char *text, size_t len)
{
	struct ms_policy_docs docs;
	int rc = ms_policy_docs_parse(text, len, &docs, NULL, 0);

	if (rc)
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	if (docs.n != 1 || docs.docs[0].n_rules != 1 || docs.docs[0].rules[0].flags != spec->flags) {
		rc = -EINVAL;
	} else {
		rc = ms_rule_spec_equal(spec, &docs.docs[0].rules[0]);
		rc = rc == 1 ? 0 : rc == 0 ? -EINVAL : rc;
	}
	ms_policy_docs_free(&docs);
	return rc;
}

int ms_policy_emit_yaml(const struct microseg_rule_spec *spec, const char *name, char **text)
{
	struct outbuf o = { 0 };
	struct ms_arena *a;
	struct microseg_rule_spec *copy;
	struct em m = { 0 };
	int rc;

	if (!spec || !name || !text || !name_ok(name))
		return -EINVAL;
	rc = ms_rule_spec_check(spec, NULL, 0);
	if (rc)
		return rc;
	/* a copy has this build's layout whatever the caller's sz */
	a = ms_arena_new();
	if (!a)
		return -ENOMEM;
	copy = ms_rule_spec_copy(a, spec);
	if (!copy) {
		ms_arena_free(a);
		return -ENOMEM;
	}
	if (!yaml_emitter_initialize(&m.e)) {
		ms_arena_free(a);
		return -ENOMEM;
	}
	yaml_emitter_set_output(&m.e, write_out, &o);
	yaml_emitter_set_unicode(&m.e, 1);
	yaml_emitter_set_width(&m.e, -1);
	yaml_emitter_set_indent(&m.e, 2);
	document(&m, copy, name);
	if (!m.failed && !yaml_emitter_flush(&m.e))
		m.failed = true;
	if (m.failed)
		rc = o.nomem || m.e.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	yaml_emitter_delete(&m.e);
	if (!rc && !o.data)
		rc = -EINVAL;
	if (!rc)
		rc = verify(copy, o.data, o.len);
	ms_arena_free(a);
	if (rc) {
		free(o.data);
		return rc;
	}
	*text = o.data;
	return 0;
}
