// SPDX-License-Identifier: Apache-2.0
/* microseg_policy_explain: the datapath's decision, recomputed from the published tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "policy_internal.h"

struct party {
	uint32_t identity;
	const struct microseg_endpoint *ep; /* NULL: not a local endpoint */
};

static int resolve_addr(struct microseg_ctx *ctx, const struct ms_addr *a, struct party *p)
{
	/* The kernel's ipcache answers exactly as the datapath would; offline, the in-memory view. */
	if (!ms_ctx_offline(ctx)) {
		struct ms_ipcache_key k = { .prefixlen = 32 + (a->family == MS_FAMILY_IPV4 ? 32 : 128), .family = a->family };
		struct ms_ipcache_value v;
		memcpy(k.addr, a->bytes, a->family == MS_FAMILY_IPV4 ? 4 : 16);
		p->identity = MS_ID_WORLD;
		if (!bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_IPCACHE], &k, &v))
			p->identity = v.identity;
	} else {
		p->identity = MS_ID_WORLD;
		unsigned best = 0;
		for (size_t i = 0; i < ctx->pol->n_cidrs; i++) {
			const struct ms_cidr_ident *c = &ctx->pol->cidrs[i];
			if (ms_addr_in_prefix(a, &c->prefix) && c->prefix.prefixlen + 1u > best) {
				best = c->prefix.prefixlen + 1u;
				p->identity = c->id->id;
			}
		}
	}
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++)
		for (struct ms_hnode *n = m->buckets[b]; n; n = n->next) {
			struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ptr);
			for (size_t i = 0; i < e->naddrs; i++)
				if (ms_addr_equal(&e->addrs[i], a)) {
					p->ep = e;
					p->identity = e->identity->id;
				}
		}
	return 0;
}

static int resolve(struct microseg_ctx *ctx, const char *what, struct party *p, const char *role)
{
	memset(p, 0, sizeof(*p));
	if (!what)
		return ms_err(ctx, -EINVAL, "explain: %s is NULL", role);
	if (!strncmp(what, "identity:", 9)) {
		char *end;
		unsigned long v = strtoul(what + 9, &end, 10);
		if (!what[9] || *end || v > MICROSEG_IDENTITY_LOCAL_MAX || !ms_identity_by_id(ctx, (uint32_t)v))
			return ms_err(ctx, -ENOENT, "explain: %s \"%.64s\" is not a live identity", role, what);
		p->identity = (uint32_t)v;
		return 0;
	}
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++)
		for (struct ms_hnode *n = m->buckets[b]; n; n = n->next) {
			struct microseg_endpoint *e = ms_container_of(n, struct microseg_endpoint, by_ptr);
			if (!strcmp(e->ifname, what) || (e->name[0] && !strcmp(e->name, what))) {
				p->ep = e;
				p->identity = e->identity->id;
				return 0;
			}
		}
	struct ms_addr a;
	if (!ms_addr_parse(what, &a) && a.prefixlen == (a.family == MS_FAMILY_IPV4 ? 32 : 128))
		return resolve_addr(ctx, &a, p);
	return ms_err(ctx, -ENOENT, "explain: %s \"%.64s\" is no endpoint, address or identity:<n>", role, what);
}

/* The datapath's four lookups, deny winning. Returns the verdict and writes the rule. */
static uint32_t decide(const struct ms_table *t, uint32_t peer, uint8_t dir, uint8_t proto, uint16_t port,
		       uint32_t *rule, bool *l7)
{
	*rule = 0;
	*l7 = false;
	if (!t)
		return MICROSEG_VERDICT_ALLOWED; /* no table: no rule selects the endpoint */
	const uint32_t ids[4] = { peer, peer, MS_POLICY_ANY_ID, MS_POLICY_ANY_ID };
	const uint8_t protos[4] = { proto, 0, proto, 0 };
	const struct ms_policy_value *allow = NULL, *deny = NULL;
	for (int i = 0; i < 4; i++) {
		const struct ms_policy_value *v = ms_table_lookup(t, ids[i], dir, protos[i], port);
		if (v && v->action == MS_POLICY_DENY && !deny)
			deny = v;
		if (v && v->action == MS_POLICY_ALLOW && !allow)
			allow = v;
	}
	if (deny) {
		*rule = deny->rule_id;
		return MICROSEG_VERDICT_DENIED_BY_RULE;
	}
	if (allow) {
		*rule = allow->rule_id;
		*l7 = allow->flags & MS_POLICY_F_L7;
		return MICROSEG_VERDICT_ALLOWED;
	}
	return MICROSEG_VERDICT_DENIED;
}

static const char *rule_label(struct microseg_ctx *ctx, uint32_t id, char *buf, size_t len)
{
	for (size_t i = 0; i < ctx->pol->n_rules; i++) {
		const struct microseg_rule *r = ctx->pol->rules[i];
		if (r->id == id) {
			snprintf(buf, len, "rule %u%s%s%s%s", id, r->name[0] ? " \"" : "", r->name,
				 r->name[0] ? "\"" : "", r->policy[0] ? " of policy " : "");
			if (r->policy[0])
				snprintf(buf + strlen(buf), len - strlen(buf), "%s", r->policy);
			return buf;
		}
	}
	snprintf(buf, len, "rule %u", id);
	return buf;
}

static void describe(struct microseg_ctx *ctx, char *out, size_t len, const char *point, uint32_t verdict,
		     uint32_t rule)
{
	char rl[200];
	size_t used = strlen(out);
	if (used >= len)
		return;
	if (verdict == MICROSEG_VERDICT_ALLOWED && rule == 0)
		snprintf(out + used, len - used, "%s: open (no rule selects it). ", point);
	else if (verdict == MICROSEG_VERDICT_ALLOWED)
		snprintf(out + used, len - used, "%s: allowed by %s. ", point, rule_label(ctx, rule, rl, sizeof(rl)));
	else if (verdict == MICROSEG_VERDICT_DENIED_BY_RULE)
		snprintf(out + used, len - used, "%s: denied by %s. ", point, rule_label(ctx, rule, rl, sizeof(rl)));
	else
		snprintf(out + used, len - used, "%s: denied (selected, and no rule allows it). ", point);
}

/* One enforcement point: the endpoint's live table, judged as the datapath would, described. */
static uint32_t judge(struct microseg_ctx *ctx, const struct microseg_endpoint *ep, uint32_t peer, uint8_t dir,
		      uint8_t proto, uint16_t port, uint32_t *rule, char *text, size_t len)
{
	const struct ms_table *t = ctx->pol->slot[ctx->pol->rev & 1][ep->ep_id];
	if (t == MS_SLOT_UNKNOWN)
		t = NULL;
	bool l7;
	uint32_t verdict = decide(t, peer, dir, proto, port, rule, &l7);
	char point[96];
	snprintf(point, sizeof(point), "%s of %s", dir == MS_DIR_EGRESS ? "egress" : "ingress",
		 ep->name[0] ? ep->name : ep->ifname);
	describe(ctx, text, len, point, verdict, *rule);
	size_t used = strlen(text);
	if (l7 && used + 2 < len) /* the connection is allowed; each request is the proxy's call */
		snprintf(text + used - 2, len - used + 2, " (HTTP rules: the L7 proxy judges each request). ");
	return verdict;
}

MICROSEG_API int microseg_policy_explain(struct microseg_ctx *ctx, const struct microseg_explain_query *q,
					 struct microseg_explain_result *res)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	struct party src, dst;
	if (!q || !res || !MS_OPTS_OK(q, struct microseg_explain_query) ||
	    res->sz < offsetof(struct microseg_explain_result, text)) {
		err = ms_err(ctx, -EINVAL, "explain: NULL query/result or bad sz");
		goto out;
	}
	uint32_t proto = MS_OPT(q, proto, 0);
	uint16_t port = MS_OPT(q, port, 0);
	if (proto != MICROSEG_PROTO_TCP && proto != MICROSEG_PROTO_UDP && proto != MICROSEG_PROTO_SCTP &&
	    proto != MICROSEG_PROTO_ICMP && proto != MICROSEG_PROTO_ICMPV6) {
		err = ms_err(ctx, -EINVAL, "explain: proto %u is not TCP, UDP, SCTP, ICMP or ICMPv6", proto);
		goto out;
	}
	if ((proto == MICROSEG_PROTO_ICMP || proto == MICROSEG_PROTO_ICMPV6) && port > 255) {
		err = ms_err(ctx, -EINVAL, "explain: ICMP type %u out of range", port);
		goto out;
	}
	if ((err = resolve(ctx, MS_OPT(q, src, NULL), &src, "src")) ||
	    (err = resolve(ctx, MS_OPT(q, dst, NULL), &dst, "dst")))
		goto out;

	struct microseg_explain_result r = { .sz = sizeof(r) };
	r.src_identity = src.identity;
	r.dst_identity = dst.identity;
	snprintf(r.text, sizeof(r.text), "identity %u -> identity %u, %s %u: ", src.identity, dst.identity,
		 proto == MICROSEG_PROTO_TCP ? "tcp" : proto == MICROSEG_PROTO_UDP ? "udp" :
		 proto == MICROSEG_PROTO_SCTP ? "sctp" : "icmp type", port);
	if (src.ep) {
		r.egress_applies = 1;
		r.egress_verdict = judge(ctx, src.ep, dst.identity, MS_DIR_EGRESS, (uint8_t)proto, port,
					 &r.egress_rule, r.text, sizeof(r.text));
	}
	if (dst.ep) {
		r.ingress_applies = 1;
		r.ingress_verdict = judge(ctx, dst.ep, src.identity, MS_DIR_INGRESS, (uint8_t)proto, port,
					  &r.ingress_rule, r.text, sizeof(r.text));
	}
	r.verdict = r.egress_verdict != MICROSEG_VERDICT_ALLOWED ? r.egress_verdict : r.ingress_verdict;
	size_t tl = strlen(r.text);
	snprintf(r.text + tl, sizeof(r.text) - tl, "Verdict: %s.",
		 r.verdict == MICROSEG_VERDICT_ALLOWED ? "allowed" : "denied");
	size_t n = res->sz < sizeof(r) ? res->sz : sizeof(r);
	size_t keep = res->sz;
	memcpy(res, &r, n);
	res->sz = keep;
out:
	MS_UNLOCK(ctx);
	return err;
}
