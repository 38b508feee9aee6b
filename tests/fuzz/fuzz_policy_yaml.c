/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the policy document layer (lib/policy_doc.h). The input is a YAML
 * stream. Besides "no crash, no leak, no hang", it checks properties that hold for any input:
 *  - a refusal is -EINVAL, -E2BIG or -ENOMEM with a message, and leaves *out untouched;
 *  - every accepted document's own text parses alone into the same document;
 *  - every accepted rule passes ms_rule_spec_check(), and survives emit + parse unchanged
 *    (the library persists rules this way, so a rule that does not come back is a bug);
 *  - a rule's L7 records point at ports that exist.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_policy_yaml: property violated: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void check_rule(const struct microseg_rule_spec *r)
{
	struct ms_policy_docs back;
	char err[512], *y = NULL;
	int rc;

	if (ms_rule_spec_check(r, err, sizeof(err)) != 0)
		fail("a parsed rule fails ms_rule_spec_check", err);
	rc = ms_policy_emit_yaml(r, "fuzz", &y);
	if (rc == -ENOMEM)
		return;
	if (rc != 0)
		fail("a parsed rule cannot be emitted", NULL);
	rc = ms_policy_docs_parse(y, strlen(y), &back, err, sizeof(err));
	if (rc == -ENOMEM) {
		free(y);
		return;
	}
	if (rc != 0)
		fail("emitted text does not parse", err);
	if (back.n != 1 || back.docs[0].n_rules != 1 || strcmp(back.docs[0].name, "fuzz") != 0)
		fail("emitted text is not one rule named fuzz", y);
	if (back.docs[0].rules[0].flags != r->flags || ms_rule_spec_equal(r, &back.docs[0].rules[0]) != 1)
		fail("rule changed in an emit + parse round trip", y);
	ms_policy_docs_free(&back);
	free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_policy_docs docs, untouched;
	char err[512];
	int rc;

	if (size > 256 * 1024)
		return 0;
	memset(&docs, 0xa5, sizeof(docs));
	untouched = docs;
	err[0] = '\0';
	rc = ms_policy_docs_parse((const char *)data, size, &docs, err, sizeof(err));
	if (rc != 0) {
		if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM)
			fail("unexpected error code", err);
		if (err[0] == '\0')
			fail("refusal without a message", NULL);
		if (memcmp(&docs, &untouched, sizeof(docs)) != 0)
			fail("output written on failure", err);
		return 0;
	}
	if (docs.n == 0 || !docs.arena)
		fail("success without a document", NULL);
	for (size_t i = 0; i < docs.n; i++) {
		const struct ms_policy_doc *d = &docs.docs[i];
		struct ms_policy_docs alone;

		if (!d->name || !d->name[0] || !d->kind || !d->text || d->n_rules == 0)
			fail("incomplete document", d->name);
		rc = ms_policy_docs_parse(d->text, strlen(d->text), &alone, err, sizeof(err));
		if (rc == 0) {
			if (alone.n != 1 || strcmp(alone.docs[0].name, d->name) != 0 ||
			    alone.docs[0].n_rules != d->n_rules || alone.docs[0].n_l7 != d->n_l7)
				fail("a document's text parses into something else", d->text);
			for (size_t r = 0; r < d->n_rules; r++)
				if (ms_rule_spec_equal(&alone.docs[0].rules[r], &d->rules[r]) == 0)
					fail("a document's text gives other rules", d->text);
			ms_policy_docs_free(&alone);
		} else if (rc != -ENOMEM) {
			fail("a document's own text does not parse", err);
		}
		for (size_t j = 0; j < d->n_l7; j++) {
			const struct ms_l7_port_rules *l = &d->l7[j];
			if (l->rule >= d->n_rules || l->section >= d->rules[l->rule].n_sections ||
			    l->port >= d->rules[l->rule].sections[l->section].n_ports)
				fail("L7 record points past its rule", d->name);
			if (l->n_http + l->n_dns + l->n_kafka == 0)
				fail("empty L7 record", d->name);
		}
		for (size_t r = 0; r < d->n_rules; r++)
			check_rule(&d->rules[r]);
	}
	ms_policy_docs_free(&docs);
	return 0;
}
