// SPDX-License-Identifier: Apache-2.0
/*
 * What the L7 proxy enforces on one connection: the HTTP rule sets of every allow that covers
 * the connection (endpoint, direction, peer identity, TCP port), read from the live rules. The
 * datapath only knows "this connection needs the proxy"; the request-level answer is here, so
 * a policy change reaches the next request of an open connection (the proxy resolves again
 * when the policy revision moves).
 *
 * Semantics as the compiler's: an allow without HTTP rules on the port lets every request
 * through (L3/L4 wins over L7 for its peers); the host always reaches its endpoints; a deny
 * covering the connection, or no allow at all any more, refuses every request.
 */
#include <stdlib.h>

#include "policy_internal.h"

static bool section_has_peer(struct microseg_ctx *ctx, const struct ms_section *s, uint32_t peer)
{
	if (!s->n_peers)
		return true;
	for (size_t i = 0; i < s->n_peers; i++)
		if (ms_peer_matches(ctx, &s->peers[i], peer))
			return true;
	return false;
}

static int add_set(struct ms_l7_verdict *v, struct ms_l7_set *set)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->sets[i] == set)
			return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		struct ms_l7_set **p = realloc(v->sets, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		v->sets = p;
		v->cap = cap;
	}
	ms_l7_set_get(set);
	v->sets[v->n++] = set;
	return 0;
}

/* One section's say on the connection. */
static int judge_section(struct microseg_ctx *ctx, const struct ms_section *s, uint32_t peer, uint16_t port,
			 struct ms_l7_verdict *v)
{
	if (!section_has_peer(ctx, s, peer))
		return 0;
	for (size_t q = 0; q < s->n_ports; q++) {
		const struct ms_port_range *pr = &s->ports[q];
		if ((pr->proto != MICROSEG_PROTO_TCP && pr->proto != MICROSEG_PROTO_ANY) || port < pr->lo || port > pr->hi)
			continue;
		if (s->action == MICROSEG_ACTION_DENY)
			v->deny_all = true;
		else if (s->l7 && s->l7[q]) {
			int err = add_set(v, s->l7[q]);
			if (err)
				return err;
		} else
			v->allow_all = true;
	}
	return 0;
}

int ms_l7_resolve(struct microseg_ctx *ctx, uint32_t ep_id, uint8_t dir, uint32_t peer, uint16_t port,
		  struct ms_l7_verdict *out)
{
	for (size_t i = 0; i < out->n; i++)
		ms_l7_set_put(out->sets[i]);
	out->allow_all = out->deny_all = false;
	out->n = 0;
	out->gen = atomic_load(&ctx->pol->l7_gen);
	struct microseg_endpoint *ep = ms_endpoint_by_id(ctx, ep_id);
	if (!ep) {
		out->deny_all = true; /* the endpoint went away: nothing to serve */
		return 0;
	}
	uint32_t dirflag = dir == MS_DIR_INGRESS ? MICROSEG_RULE_F_INGRESS : MICROSEG_RULE_F_EGRESS;
	uint32_t pubdir = dir == MS_DIR_INGRESS ? MICROSEG_DIR_INGRESS : MICROSEG_DIR_EGRESS;
	bool selected = false;
	struct ms_policy *pol = ctx->pol;
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct microseg_rule *r = pol->rules[i];
		if (r->state == MS_RULE_PENDING_ADD || !(r->dirs & dirflag) || !ms_selector_match(&r->endpoints, ep->identity))
			continue;
		selected = true;
		for (size_t s = 0; s < r->n_sections; s++) {
			int err = r->sections[s].dir == pubdir ? judge_section(ctx, &r->sections[s], peer, port, out) : 0;
			if (err)
				return err;
		}
	}
	if (!selected || (dir == MS_DIR_INGRESS && peer == MS_ID_HOST))
		out->allow_all = true;
	if (out->deny_all)
		out->allow_all = false;
	else if (!out->allow_all && !out->n)
		out->deny_all = true;
	return 0;
}

bool ms_l7_allows(const struct ms_l7_verdict *v, const struct ms_http_request_view *req)
{
	if (v->deny_all)
		return false;
	if (v->allow_all)
		return true;
	for (size_t i = 0; i < v->n; i++)
		if (ms_http_ruleset_match(v->sets[i]->rs, req))
			return true;
	return false;
}

void ms_l7_verdict_release(struct ms_l7_verdict *v)
{
	for (size_t i = 0; i < v->n; i++)
		ms_l7_set_put(v->sets[i]);
	free(v->sets);
	v->sets = NULL;
	v->n = v->cap = 0;
}
