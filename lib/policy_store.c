// SPDX-License-Identifier: Apache-2.0
/*
 * Policy records in the state directory, so that policy outlives the process:
 *   <state>/policies/<n>   a document's own YAML text, as applied
 *   <state>/rules/<id>     an API rule, as a CiliumClusterwideNetworkPolicy document (emitted),
 *                          first line "# microseg-rule <name>"
 * Both are read back through the document parser at restore.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define RULE_HEADER "# microseg-rule "

static int put_record(struct microseg_ctx *ctx, const char *sub, uint32_t id, const char *data, size_t len)
{
	char name[16];
	snprintf(name, sizeof(name), "%u", id);
	return ms_state_put(ctx, sub, name, data, len);
}

static int write_rule(struct microseg_ctx *ctx, struct microseg_rule *r)
{
	char metaname[32], *yaml = NULL;
	snprintf(metaname, sizeof(metaname), "microseg-rule-%u", r->id);
	int err = ms_policy_emit_yaml(r->spec, metaname, &yaml);
	if (err)
		return ms_err(ctx, err, "policy: cannot record rule %u", r->id);
	size_t len = strlen(RULE_HEADER) + strlen(r->name) + 1 + strlen(yaml) + 1;
	char *buf = malloc(len);
	if (!buf) {
		free(yaml);
		return -ENOMEM;
	}
	int n = snprintf(buf, len, RULE_HEADER "%s\n%s", r->name, yaml);
	err = put_record(ctx, "rules", r->id, buf, (size_t)n);
	free(buf);
	free(yaml);
	return err;
}

int ms_policy_store_commit(struct microseg_ctx *ctx)
{
	struct ms_policy *pol = ctx->pol;
	int err = 0;
	size_t d = 0, r = 0;
	/* New records first; on failure take back what this commit wrote. */
	for (; d < pol->n_docs && !err; d++) {
		struct ms_doc *doc = pol->docs[d];
		if (doc->state != MS_RULE_PENDING_ADD || doc->file_id)
			continue;
		doc->file_id = ++pol->next_doc_file;
		err = put_record(ctx, "policies", doc->file_id, doc->text, strlen(doc->text));
		if (err)
			doc->file_id = 0;
	}
	for (; r < pol->n_rules && !err; r++) {
		struct microseg_rule *rule = pol->rules[r];
		if (rule->state != MS_RULE_PENDING_ADD || rule->policy[0] || rule->stored)
			continue;
		err = write_rule(ctx, rule);
		rule->stored = !err;
	}
	if (err) {
		for (size_t i = 0; i < d; i++) {
			struct ms_doc *doc = pol->docs[i];
			if (doc->state == MS_RULE_PENDING_ADD && doc->file_id) {
				put_record(ctx, "policies", doc->file_id, NULL, 0);
				doc->file_id = 0;
			}
		}
		for (size_t i = 0; i < r; i++) {
			struct microseg_rule *rule = pol->rules[i];
			if (rule->state == MS_RULE_PENDING_ADD && rule->stored) {
				put_record(ctx, "rules", rule->id, NULL, 0);
				rule->stored = false;
			}
		}
		return err;
	}
	for (size_t i = 0; i < pol->n_docs; i++)
		if (pol->docs[i]->state == MS_RULE_PENDING_REMOVE && pol->docs[i]->file_id)
			put_record(ctx, "policies", pol->docs[i]->file_id, NULL, 0);
	for (size_t i = 0; i < pol->n_rules; i++) {
		struct microseg_rule *rule = pol->rules[i];
		if (rule->state == MS_RULE_PENDING_REMOVE && !rule->policy[0])
			put_record(ctx, "rules", rule->id, NULL, 0);
	}
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (n < cap - 1)
			break;
		if (cap >= (2u << 20)) {
			free(buf);
			buf = NULL;
			break;
		}
		char *b = realloc(buf, cap * 2);
		if (!b) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = b;
		cap *= 2;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

static int restore_doc_cb(struct microseg_ctx *ctx, const char *path, uint32_t id, void *arg)
{
	size_t len;
	char *text = read_all(path, &len);
	if (!text)
		return -errno ? -errno : -ENOMEM;
	struct ms_policy_docs docs = { 0 };
	char why[256] = "";
	int err = ms_policy_docs_parse(text, len, &docs, why, sizeof(why));
	if (err)
		ms_err(ctx, err, "policy record %s: %s", path, why);
	else if (docs.n != 1)
		err = ms_err(ctx, -EPROTO, "policy record %s holds %zu documents", path, docs.n);
	else
		err = ms_doc_stage(ctx, &docs.docs[0], id);
	if (id > ctx->pol->next_doc_file)
		ctx->pol->next_doc_file = id;
	if (!err)
		ms_policy_docs_free(&docs);
	else if (docs.arena)
		ms_policy_docs_free(&docs);
	free(text);
	return err;
}

static int restore_rule_cb(struct microseg_ctx *ctx, const char *path, uint32_t id, void *arg)
{
	size_t len;
	char *text = read_all(path, &len);
	if (!text)
		return -errno ? -errno : -ENOMEM;
	int err = -EPROTO;
	char *nl = strchr(text, '\n');
	if (strncmp(text, RULE_HEADER, strlen(RULE_HEADER)) || !nl) {
		free(text);
		return ms_err(ctx, err, "rule record %s has no header", path);
	}
	*nl = '\0';
	const char *name = text + strlen(RULE_HEADER);
	struct ms_policy_docs docs = { 0 };
	char why[256] = "";
	err = ms_policy_docs_parse(nl + 1, len - (size_t)(nl + 1 - text), &docs, why, sizeof(why));
	if (err) {
		ms_err(ctx, err, "rule record %s: %s", path, why);
	} else if (docs.n != 1 || docs.docs[0].n_rules != 1) {
		err = ms_err(ctx, -EPROTO, "rule record %s must hold one rule", path);
	} else {
		struct microseg_rule_spec spec = docs.docs[0].rules[0];
		spec.name = name;
		struct microseg_rule *r;
		err = ms_rule_build(ctx, &spec, NULL, &r);
		if (!err) {
			err = ms_rule_register(ctx, r, id);
			if (err)
				ms_rule_free(r);
			else
				r->stored = true;
		}
	}
	if (docs.arena)
		ms_policy_docs_free(&docs);
	free(text);
	return err;
}

int ms_policy_restore(struct microseg_ctx *ctx)
{
	ctx->pol->txn = true;
	int err = ms_state_each(ctx, "rules", restore_rule_cb, NULL);
	if (!err)
		err = ms_state_each(ctx, "policies", restore_doc_cb, NULL);
	/* Restored records are already stored: mark their docs so commit writes nothing. */
	if (!err)
		err = ms_txn_commit_locked(ctx);
	if (err)
		ms_txn_abort_locked(ctx);
	else
		ms_log(ctx, MICROSEG_LOG_INFO, "policy restored: %zu rule(s), %zu polic(ies)", ctx->pol->n_rules,
		       ctx->pol->n_docs);
	return err;
}
