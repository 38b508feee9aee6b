// SPDX-License-Identifier: Apache-2.0
/*
 * Policy documents with real traffic: the ingress scenario (app=backend takes TCP 80 from
 * app=frontend) applied with microseg_policy_apply_yaml() as a CiliumNetworkPolicy and as a
 * Kubernetes NetworkPolicy with a namespaceSelector, deleted with microseg_policy_delete(),
 * and malformed streams that must be refused with the line named and nothing changed.
 *
 * Pods of namespace prod carry the namespace's label team=shop
 * (k8s:io.cilium.k8s.namespace.labels.team=shop). A second frontend lives in namespace dev
 * (team=dev): same app label, other namespace, so both documents must keep it out.
 * Fixtures: the .yaml files in tests/e2e/policy/.
 */
#include "test_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CNP_NAME "prod/backend-from-frontend"
#define NP_NAME "prod/backend-from-shop-frontend"

/* The policy names the context lists must be exactly `want` (NULL: none). */
static void expect_policies(struct e2e *t, const char *want)
{
	const char *names[8];
	size_t n = 0;
	int r = microseg_policy_list(t->ctx, names, 8, &n);

	E2E_CHECK(r == 0, "microseg_policy_list = %d [%s]", r, microseg_ctx_last_error(t->ctx));
	if (want && (n != 1 || strcmp(names[0], want)))
		pol_mismatch("policies listed: %zu (first '%s'), want exactly '%s'", n,
			     n ? names[0] : "", want);
	else if (!want && n != 0)
		pol_mismatch("policies listed: %zu (first '%s'), want none", n, names[0]);
	else
		e2e_log("  ok: policies listed: %s", want ? want : "(none)");
}

static void apply_fixture(struct e2e *t, const char *file)
{
	size_t len;
	char *doc = pol_fixture(file, &len);

	E2E_OK(t, microseg_policy_apply_yaml(t->ctx, doc, len, 0));
	e2e_log("applied %s", file);
	free(doc);
}

/*
 * A malformed stream: refused with -EINVAL, and the last error names a line in
 * [line_lo, line_hi].
 */
static void apply_malformed(struct e2e *t, const char *file, unsigned line_lo, unsigned line_hi)
{
	size_t len;
	char *doc = pol_fixture(file, &len);
	const char *err, *at;
	unsigned line = 0;
	int r;

	r = microseg_policy_apply_yaml(t->ctx, doc, len, 0);
	err = microseg_ctx_last_error(t->ctx);
	e2e_log("%s: apply = %d (%s), last error: %s", file, r, microseg_strerror(r), err);
	if (r != -EINVAL)
		pol_mismatch("%s: apply returned %d, want -EINVAL", file, r);
	at = strstr(err, "line ");
	if (!at || sscanf(at, "line %u", &line) != 1 || line < line_lo || line > line_hi)
		pol_mismatch("%s: the error names line %u, want %u..%u: '%s'", file, line, line_lo,
			     line_hi, err);
	free(doc);
}

int main(void)
{
	static const char *const shop[] = { "k8s:io.cilium.k8s.namespace.labels.team=shop", NULL };
	static const char *const dev[] = { "k8s:io.cilium.k8s.namespace.labels.team=dev", NULL };
	struct e2e t;
	struct e2e_ep *fe, *be, *ot, *fd;
	char *text, *got = NULL;
	unsigned typo;
	int r;

	e2e_init(&t, "polyaml");
	fe = pol_add_ep(&t, "frontend", "frontend", "prod", shop, NULL, NULL);
	be = pol_add_ep(&t, "backend", "backend", "prod", shop, "80,81", NULL);
	ot = pol_add_ep(&t, "other", "other", "prod", shop, NULL, NULL);
	fd = pol_add_ep(&t, "frontend-dev", "frontend", "dev", dev, NULL, NULL);

	e2e_log("phase: baseline");
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fd, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V4, 81, true);
	E2E_CHECK(pol_failures() == 0, "baseline traffic does not work: nothing to test");

	e2e_log("phase: cnp");
	apply_fixture(&t, "cnp-backend.yaml");
	expect_policies(&t, CNP_NAME);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V6, 80, true);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, false);
	/* Same app label, other namespace: a CiliumNetworkPolicy's peers are its namespace's. */
	pol_expect_tcp(&t, fd, be, POL_V4, 80, false);
	pol_expect_tcp(&t, fe, be, POL_V4, 81, false);
	/* The text comes back as applied (the document itself: from its first key on; comments
	 * before it belong to the stream). */
	text = pol_fixture("cnp-backend.yaml", NULL);
	E2E_OK(&t, microseg_policy_get_yaml(t.ctx, CNP_NAME, &got));
	if (!strstr(text, "apiVersion:") || strcmp(got, strstr(text, "apiVersion:")))
		pol_mismatch("microseg_policy_get_yaml(%s) differs from the applied text:\n%s",
			     CNP_NAME, got);
	free(got);
	free(text);

	e2e_log("phase: cnp-deleted");
	E2E_OK(&t, microseg_policy_delete(t.ctx, CNP_NAME));
	expect_policies(&t, NULL);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, true);
	pol_expect_tcp(&t, fe, be, POL_V4, 81, true);
	r = microseg_policy_delete(t.ctx, CNP_NAME);
	if (r != -ENOENT)
		pol_mismatch("deleting %s twice: %d, want -ENOENT", CNP_NAME, r);

	e2e_log("phase: np");
	apply_fixture(&t, "np-backend.yaml");
	expect_policies(&t, NP_NAME);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, false);
	/* The namespaceSelector (team=shop) keeps the dev frontend out. */
	pol_expect_tcp(&t, fd, be, POL_V4, 80, false);

	e2e_log("phase: malformed");
	text = pol_fixture("malformed-field.yaml", NULL);
	typo = pol_line_of(text, "fromEndpoint:");
	E2E_CHECK(typo > 0, "fixture has no typo");
	free(text);
	apply_malformed(&t, "malformed-field.yaml", typo, typo);
	text = pol_fixture("malformed-syntax.yaml", NULL);
	apply_malformed(&t, "malformed-syntax.yaml", pol_line_of(text, "ports: ["),
			pol_line_of(text, "ports: [") + 1);
	free(text);
	/* Nothing of either stream was applied: the first document of the first one would have
	 * let app=other in. */
	expect_policies(&t, NP_NAME);
	pol_expect_tcp(&t, fe, be, POL_V4, 80, true);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, false);

	e2e_log("phase: np-deleted");
	E2E_OK(&t, microseg_policy_delete(t.ctx, NP_NAME));
	expect_policies(&t, NULL);
	pol_expect_tcp(&t, ot, be, POL_V4, 80, true);

	pol_finish(&t);
	return 0;
}
