// SPDX-License-Identifier: Apache-2.0
/* A rule: validation of a spec and its compiled form (selectors, peers, port ranges). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define RULE_NAME_MAX 253
#define RULE_ITEMS_MAX 4096

static bool proto_known(uint32_t p)
{
	return p == MICROSEG_PROTO_ANY || p == MICROSEG_PROTO_ICMP || p == MICROSEG_PROTO_TCP ||
	       p == MICROSEG_PROTO_UDP || p == MICROSEG_PROTO_ICMPV6 || p == MICROSEG_PROTO_SCTP;
}

static bool host_bits_zero(const struct ms_addr *p)
{
	unsigned total = p->family == MS_FAMILY_IPV4 ? 32 : 128;
	for (unsigned b = p->prefixlen; b < total; b++)
		if (p->bytes[b / 8] & (0x80 >> (b % 8)))
			return false;
	return true;
}

static int build_peer(struct microseg_ctx *ctx, struct ms_arena *a, const struct microseg_peer *in,
		      struct ms_peer *out, const char *where)
{
	char why[160] = "";
	out->kind = in->kind;
	switch (in->kind) {
	case MICROSEG_PEER_SELECTOR: {
		int err = ms_selector_compile(a, &in->selector, &out->sel, why, sizeof(why));
		return err ? ms_err(ctx, err, "rule: %s.selector: %s", where, why) : 0;
	}
	case MICROSEG_PEER_CIDR:
		if (!in->cidr || ms_addr_parse(in->cidr, &out->cidr) || !host_bits_zero(&out->cidr))
			return ms_err(ctx, -EINVAL, "rule: %s.cidr \"%.64s\" is not a CIDR prefix (address bits past the prefix must be 0)",
				      where, in->cidr ? in->cidr : "(null)");
		if (in->n_except > RULE_ITEMS_MAX)
			return ms_err(ctx, -E2BIG, "rule: %s.except: too many prefixes", where);
		if (in->n_except && !in->except)
			return ms_err(ctx, -EINVAL, "rule: %s.except is NULL", where);
		out->except = in->n_except ? ms_arena_alloc(a, in->n_except * sizeof(*out->except)) : NULL;
		if (in->n_except && !out->except)
			return -ENOMEM;
		for (size_t i = 0; i < in->n_except; i++) {
			struct ms_addr *x = &out->except[i];
			if (!in->except[i] || ms_addr_parse(in->except[i], x) || !host_bits_zero(x))
				return ms_err(ctx, -EINVAL, "rule: %s.except[%zu] is not a CIDR prefix", where, i);
			if (!ms_addr_in_prefix(x, &out->cidr))
				return ms_err(ctx, -EINVAL, "rule: %s.except[%zu] %s is not inside %s", where, i,
					      in->except[i], in->cidr);
		}
		out->n_except = in->n_except;
		return 0;
	case MICROSEG_PEER_ENTITY:
		if (in->entity < MICROSEG_ENTITY_HOST || in->entity > MICROSEG_ENTITY_ALL)
			return ms_err(ctx, -EINVAL, "rule: %s.entity %u is unknown", where, in->entity);
		out->entity = in->entity;
		return 0;
	default:
		return ms_err(ctx, -EINVAL, "rule: %s.kind %u is unknown", where, in->kind);
	}
}

static int build_port(struct microseg_ctx *ctx, const struct microseg_port *in, struct ms_port_range *out,
		      const char *where)
{
	if (!proto_known(in->proto))
		return ms_err(ctx, -EINVAL, "rule: %s.proto %u is not ANY, TCP, UDP, SCTP, ICMP or ICMPv6", where, in->proto);
	if (in->flags & ~MICROSEG_PORT_F_ICMP_TYPE)
		return ms_err(ctx, -EINVAL, "rule: %s.flags 0x%x unknown", where, in->flags);
	bool icmp = in->proto == MICROSEG_PROTO_ICMP || in->proto == MICROSEG_PROTO_ICMPV6;
	out->proto = (uint8_t)in->proto;
	if (in->flags & MICROSEG_PORT_F_ICMP_TYPE) {
		if (!icmp)
			return ms_err(ctx, -EINVAL, "rule: %s: an ICMP type needs protocol ICMP or ICMPv6", where);
		if (in->port > 255 || in->end_port)
			return ms_err(ctx, -EINVAL, "rule: %s: ICMP type %u out of range 0..255", where, in->port);
		out->lo = out->hi = in->port;
		return 0;
	}
	if (icmp && (in->port || in->end_port))
		return ms_err(ctx, -EINVAL, "rule: %s: ICMP has types, not ports (set MICROSEG_PORT_F_ICMP_TYPE)", where);
	if (in->port == 0) {
		if (in->end_port)
			return ms_err(ctx, -EINVAL, "rule: %s: end_port without port", where);
		out->lo = 0;
		out->hi = 65535;
		return 0;
	}
	if (in->end_port && in->end_port < in->port)
		return ms_err(ctx, -EINVAL, "rule: %s: end_port %u is below port %u", where, in->end_port, in->port);
	out->lo = in->port;
	out->hi = in->end_port ? in->end_port : in->port;
	return 0;
}

static int build_section(struct microseg_ctx *ctx, struct ms_arena *a, const struct microseg_rule_section *in,
			 struct ms_section *out, size_t idx)
{
	char where[64];
	if (in->direction != MICROSEG_DIR_INGRESS && in->direction != MICROSEG_DIR_EGRESS)
		return ms_err(ctx, -EINVAL, "rule: sections[%zu].direction %u is not INGRESS or EGRESS", idx, in->direction);
	if (in->action != MICROSEG_ACTION_ALLOW && in->action != MICROSEG_ACTION_DENY)
		return ms_err(ctx, -EINVAL, "rule: sections[%zu].action %u is not ALLOW or DENY", idx, in->action);
	if (in->n_peers > RULE_ITEMS_MAX || in->n_ports > RULE_ITEMS_MAX)
		return ms_err(ctx, -E2BIG, "rule: sections[%zu]: more than %d peers or ports", idx, RULE_ITEMS_MAX);
	if ((in->n_peers && !in->peers) || (in->n_ports && !in->ports))
		return ms_err(ctx, -EINVAL, "rule: sections[%zu]: array is NULL but its count is not 0", idx);
	out->dir = in->direction;
	out->action = in->action;
	out->l7 = NULL;
	out->n_peers = in->n_peers;
	out->peers = in->n_peers ? ms_arena_alloc(a, in->n_peers * sizeof(*out->peers)) : NULL;
	size_t nports = in->n_ports ? in->n_ports : 1;
	out->ports = ms_arena_alloc(a, nports * sizeof(*out->ports));
	if ((in->n_peers && !out->peers) || !out->ports)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_peers; i++) {
		snprintf(where, sizeof(where), "sections[%zu].peers[%zu]", idx, i);
		int err = build_peer(ctx, a, &in->peers[i], &out->peers[i], where);
		if (err)
			return err;
	}
	if (!in->n_ports)
		out->ports[0] = (struct ms_port_range){ .proto = 0, .lo = 0, .hi = 65535 };
	for (size_t i = 0; i < in->n_ports; i++) {
		snprintf(where, sizeof(where), "sections[%zu].ports[%zu]", idx, i);
		int err = build_port(ctx, &in->ports[i], &out->ports[i], where);
		if (err)
			return err;
	}
	out->n_ports = nports;
	return 0;
}

/* HTTP rules (from the rule's own spec copy): checked, then compiled per port. */
static int build_l7(struct microseg_ctx *ctx, struct microseg_rule *r)
{
	const struct microseg_rule_spec *spec = r->spec;
	char why[200] = "";

	if (!spec->n_l7)
		return 0;
	int err;
	r->rulesets = calloc(spec->n_l7, sizeof(*r->rulesets));
	if (!r->rulesets)
		return -ENOMEM;
	for (size_t i = 0; i < spec->n_l7; i++) {
		const struct microseg_l7_rules *l = &spec->l7[i];
		struct ms_section *sec = &r->sections[l->section];
		struct ms_l7_set *set = calloc(1, sizeof(*set));
		if (!set)
			return -ENOMEM;
		err = ms_http_ruleset_compile(l->http, l->n_http, &set->rs, why, sizeof(why));
		if (err) {
			free(set);
			return err == -ENOMEM ? err : ms_err(ctx, err, "rule: l7[%zu]: %s", i, why);
		}
		atomic_init(&set->refs, 1);
		r->rulesets[r->n_rulesets++] = set;
		if (!sec->l7) {
			if (!(sec->l7 = ms_arena_alloc(r->arena, sec->n_ports * sizeof(*sec->l7))))
				return -ENOMEM;
			memset(sec->l7, 0, sec->n_ports * sizeof(*sec->l7));
		}
		sec->l7[l->port] = r->rulesets[i];
	}
	return 0;
}

int ms_rule_build(struct microseg_ctx *ctx, const struct microseg_rule_spec *spec, const char *policy,
		  struct microseg_rule **out)
{
	if (!spec)
		return ms_err(ctx, -EINVAL, "rule: spec is NULL");
	if (!MS_OPTS_OK(spec, struct microseg_rule_spec))
		return ms_err(ctx, -EINVAL, "rule: spec->sz is wrong or unknown fields are set");
	uint32_t flags = MS_OPT(spec, flags, 0);
	if (flags & ~(MICROSEG_RULE_F_INGRESS | MICROSEG_RULE_F_EGRESS))
		return ms_err(ctx, -EINVAL, "rule: unknown flags 0x%x", flags);
	const char *name = MS_OPT(spec, name, NULL);
	if (name && strnlen(name, RULE_NAME_MAX + 1) > RULE_NAME_MAX)
		return ms_err(ctx, -ENAMETOOLONG, "rule: name longer than %d bytes", RULE_NAME_MAX);
	size_t nsec = MS_OPT(spec, n_sections, 0);
	const struct microseg_rule_section *secs = MS_OPT(spec, sections, NULL);
	if (nsec > RULE_ITEMS_MAX)
		return ms_err(ctx, -E2BIG, "rule: more than %d sections", RULE_ITEMS_MAX);
	if (nsec && !secs)
		return ms_err(ctx, -EINVAL, "rule: sections is NULL but n_sections is %zu", nsec);

	struct ms_arena *a = ms_arena_new();
	struct microseg_rule *r = calloc(1, sizeof(*r));
	int err = -ENOMEM;
	if (!a || !r)
		goto fail;
	r->magic = MS_RULE_MAGIC;
	r->arena = a;
	r->name = ms_arena_strdup(a, name ? name : "");
	r->policy = ms_arena_strdup(a, policy ? policy : "");
	struct microseg_selector eps = MS_OPT(spec, endpoints, (struct microseg_selector){ 0 });
	char why[160] = "";
	err = ms_selector_compile(a, &eps, &r->endpoints, why, sizeof(why));
	if (err) {
		err = err == -ENOMEM ? err : ms_err(ctx, err, "rule: endpoints selector: %s", why);
		goto fail;
	}
	r->sections = nsec ? ms_arena_alloc(a, nsec * sizeof(*r->sections)) : NULL;
	if (!r->name || !r->policy || (nsec && !r->sections)) {
		err = -ENOMEM;
		goto fail;
	}
	r->dirs = flags;
	for (size_t i = 0; i < nsec; i++) {
		err = build_section(ctx, a, &secs[i], &r->sections[i], i);
		if (err)
			goto fail;
		r->dirs |= secs[i].direction == MICROSEG_DIR_INGRESS ? MICROSEG_RULE_F_INGRESS : MICROSEG_RULE_F_EGRESS;
	}
	r->n_sections = nsec;
	if (!r->dirs) {
		err = ms_err(ctx, -EINVAL, "rule: no section and no direction flag: the rule would do nothing");
		goto fail;
	}
	/* The copy trusts the HTTP rules' counts and pointers: check them first. */
	if (MS_OPT(spec, n_l7, 0) && (err = ms_rule_spec_check(spec, why, sizeof(why)))) {
		err = ms_err(ctx, err, "rule: %s", why);
		goto fail;
	}
	r->spec = ms_rule_spec_copy(a, spec);
	if (!r->spec) {
		err = -ENOMEM;
		goto fail;
	}
	if ((err = build_l7(ctx, r)))
		goto fail;
	*out = r;
	return 0;
fail:
	if (r) {
		r->arena = a;
		ms_rule_free(r);
	} else {
		ms_arena_free(a);
	}
	return err;
}

void ms_l7_set_get(struct ms_l7_set *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void ms_l7_set_put(struct ms_l7_set *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		ms_http_ruleset_free(s->rs);
		free(s);
	}
}

void ms_rule_free(struct microseg_rule *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rulesets; i++)
		ms_l7_set_put(r->rulesets[i]);
	free(r->rulesets);
	r->magic = 0;
	ms_arena_free(r->arena);
	free(r);
}
