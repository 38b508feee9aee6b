// SPDX-License-Identifier: Apache-2.0
/*
 * Policy outlives the context. Two API rules (app=backend takes TCP 80 from app=frontend;
 * app=other's ingress closed) and one document (app=backend takes TCP 81 from app=other) are
 * in force; microseg_ctx_close() and a new microseg_ctx_open() of the instance must list the
 * same rules (ids, names, owning policy) and documents (names, text), keep enforcing them, and
 * let the reopened context remove a rule and delete the document, with effect on traffic. A
 * second reopen shows what is left.
 */
#include "test_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_NAME "prod/backend-from-other-81"
#define MAX_RULES 16

struct rule_rec {
	uint32_t id;
	char name[64];
	char policy[64];
};

static size_t list_rules(struct e2e *t, struct rule_rec *out, struct microseg_rule **handles)
{
	struct microseg_rule *rules[MAX_RULES];
	size_t n = 0;

	E2E_OK(t, microseg_rule_list(t->ctx, rules, MAX_RULES, &n));
	for (size_t i = 0; i < n; i++) {
		out[i].id = microseg_rule_id(rules[i]);
		snprintf(out[i].name, sizeof(out[i].name), "%s", microseg_rule_name(rules[i]));
		snprintf(out[i].policy, sizeof(out[i].policy), "%s", microseg_rule_policy(rules[i]));
		if (handles)
			handles[i] = rules[i];
		e2e_log("  rule %u \"%s\" policy \"%s\"", out[i].id, out[i].name, out[i].policy);
	}
	return n;
}

static size_t list_policies(struct e2e *t, const char **names, size_t cap)
{
	size_t n = 0;

	E2E_OK(t, microseg_policy_list(t->ctx, names, cap, &n));
	return n;
}

/* The checks that must hold while all three pieces are in force. */
static void enforced(struct e2e *t, const struct e2e_ep *fe, const struct e2e_ep *be,
		     const struct e2e_ep *ot)
{
	pol_expect_tcp(t, fe, be, POL_V4, 80, true);  /* API rule */
	pol_expect_tcp(t, ot, be, POL_V4, 81, true);  /* document */
	pol_expect_tcp(t, ot, be, POL_V4, 80, false); /* neither */
	pol_expect_tcp(t, be, ot, POL_V4, 80, false); /* other's ingress closed */
}

static void reopen(struct e2e *t, const struct e2e_ep *fe, const struct e2e_ep *be,
		   const struct e2e_ep *ot)
{
	int restored;

	e2e_close(t);
	e2e_log("context closed");
	/* No context, no process managing the instance: the pinned datapath still enforces
	 * (traffic only: explain needs a context). */
	if (fe) {
		pol_expect_http_raw(fe, be->v4, 80, NULL, be->app, true);
		pol_expect_http_raw(ot, be->v4, 80, NULL, be->app, false);
	}
	restored = e2e_open(t);
	E2E_CHECK(restored == 1, "reopen reports restored=%d", restored);
	e2e_refresh_handles(t);
	e2e_log("context reopened (restored)");
}

int main(void)
{
	struct e2e t;
	struct e2e_ep *fe, *be, *ot;
	struct rule_rec before[MAX_RULES], after[MAX_RULES];
	struct microseg_rule *handles[MAX_RULES], *closed = NULL, *doc_rule = NULL;
	static const uint16_t http[] = { 80 };
	const char *names[8];
	char *text, *yaml_before = NULL, *yaml_after = NULL;
	size_t len, nb, na, np;
	int r;

	e2e_init(&t, "polkeep");
	fe = pol_add_ep(&t, "frontend", "frontend", "prod", NULL, NULL, NULL);
	be = pol_add_ep(&t, "backend", "backend", "prod", NULL, "80,81", NULL);
	ot = pol_add_ep(&t, "other", "other", "prod", NULL, "80", NULL);

	e2e_log("phase: policy");
	pol_rule_app(&t, "backend-from-frontend-http", "backend", MICROSEG_DIR_INGRESS, "frontend",
		     MICROSEG_PROTO_TCP, http, 1);
	pol_rule_closed(&t, "other-ingress-closed", "other", MICROSEG_RULE_F_INGRESS);
	text = pol_fixture("persist.yaml", &len);
	E2E_OK(&t, microseg_policy_apply_yaml(t.ctx, text, len, 0));
	enforced(&t, fe, be, ot);
	e2e_log("rules before close:");
	nb = list_rules(&t, before, NULL);
	E2E_OK(&t, microseg_policy_get_yaml(t.ctx, DOC_NAME, &yaml_before));
	E2E_CHECK(nb >= 3, "%zu rules listed, want the two API rules and the document's", nb);

	e2e_log("phase: reopen");
	reopen(&t, fe, be, ot);
	e2e_log("rules after reopen:");
	na = list_rules(&t, after, handles);
	if (na != nb)
		pol_mismatch("%zu rules after reopen, %zu before", na, nb);
	for (size_t i = 0; i < na && i < nb; i++)
		if (after[i].id != before[i].id || strcmp(after[i].name, before[i].name) ||
		    strcmp(after[i].policy, before[i].policy))
			pol_mismatch("rule #%zu after reopen: %u \"%s\" policy \"%s\", before: %u \"%s\" "
				     "policy \"%s\"",
				     i, after[i].id, after[i].name, after[i].policy, before[i].id,
				     before[i].name, before[i].policy);
	for (size_t i = 0; i < na; i++) {
		if (!strcmp(after[i].name, "other-ingress-closed") && !after[i].policy[0])
			closed = handles[i];
		if (!strcmp(after[i].policy, DOC_NAME))
			doc_rule = handles[i];
	}
	np = list_policies(&t, names, 8);
	if (np != 1 || strcmp(names[0], DOC_NAME))
		pol_mismatch("%zu policies after reopen (first '%s'), want %s", np, np ? names[0] : "",
			     DOC_NAME);
	r = microseg_policy_get_yaml(t.ctx, DOC_NAME, &yaml_after);
	if (r < 0)
		pol_mismatch("microseg_policy_get_yaml(%s) after reopen: %d [%s]", DOC_NAME, r,
			     microseg_ctx_last_error(t.ctx));
	else if (strcmp(yaml_after, yaml_before))
		pol_mismatch("document text after reopen differs:\n%s\n--- before:\n%s", yaml_after,
			     yaml_before);
	free(yaml_after);
	enforced(&t, fe, be, ot);

	e2e_log("phase: change-after-reopen");
	E2E_CHECK(closed, "rule other-ingress-closed is not listed after reopen");
	E2E_CHECK(doc_rule, "no rule of %s is listed after reopen", DOC_NAME);
	/* A document's rules go with the document. */
	r = microseg_rule_remove(t.ctx, doc_rule);
	if (r != -EPERM)
		pol_mismatch("removing a rule of %s through the rule API: %d, want -EPERM", DOC_NAME,
			     r);
	E2E_OK(&t, microseg_rule_remove(t.ctx, closed));
	pol_expect_tcp(&t, be, ot, POL_V4, 80, true);
	E2E_OK(&t, microseg_policy_delete(t.ctx, DOC_NAME));
	pol_expect_tcp(&t, ot, be, POL_V4, 81, false);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);

	/* What is left is what comes back. */
	e2e_log("phase: reopen-again");
	reopen(&t, NULL, NULL, NULL);
	na = list_rules(&t, after, NULL);
	if (na != 1 || strcmp(after[0].name, "backend-from-frontend-http") || after[0].policy[0])
		pol_mismatch("after the second reopen: %zu rules (first \"%s\"), want only "
			     "backend-from-frontend-http",
			     na, na ? after[0].name : "");
	np = list_policies(&t, names, 8);
	if (np != 0)
		pol_mismatch("after the second reopen: %zu policies (first '%s'), want none", np,
			     names[0]);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, ot, be, POL_V4, 81, false);
	pol_expect_tcp(&t, be, ot, POL_V4, 80, true);

	free(yaml_before);
	free(text);
	pol_finish(&t);
	return 0;
}
