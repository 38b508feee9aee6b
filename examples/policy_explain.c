/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The README's policy example, as a program: "backend accepts TCP 80 from frontend", once as a
 * C rule and once as a YAML document, each checked with microseg_policy_explain(). It runs on
 * an in-memory context (no privileges, nothing attached), so it shows what the compiler decides.
 * Usage: policy_explain [POLICY.yaml]   exits 1 if a verdict is not the expected one.
 */
#include <microseg/microseg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(struct microseg_ctx *ctx, const char *src, const char *dst, uint16_t port, uint32_t want)
{
	MICROSEG_OPTS(microseg_explain_query, q, .src = src, .dst = dst, .proto = MICROSEG_PROTO_TCP, .port = port);
	struct microseg_explain_result r = { .sz = sizeof(r) };
	int err = microseg_policy_explain(ctx, &q, &r);
	if (err)
		return fprintf(stderr, "explain: %s\n", microseg_ctx_last_error(ctx)), 1;
	printf("  %s\n", r.text);
	return r.verdict == want ? 0 : 1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? malloc(1 << 20) : NULL;
	*len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = "policy-example", .flags = MICROSEG_CTX_F_NO_DATAPATH);
	const char *fl[] = { "k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=prod" };
	const char *bl[] = { "k8s:app=backend", "k8s:io.kubernetes.pod.namespace=prod" };
	const char *addrs[] = { "10.9.0.2" };
	struct microseg_ctx *ctx;
	struct microseg_identity *fid, *bid;
	struct microseg_endpoint *backend;
	char frontend[32];
	int bad = 0;

	if (microseg_ctx_open(&copts, &ctx))
		return 1;
	if (microseg_identity_get(ctx, fl, 2, &fid) || microseg_identity_get(ctx, bl, 2, &bid))
		return fprintf(stderr, "%s\n", microseg_ctx_last_error(ctx)), 1;
	MICROSEG_OPTS(microseg_endpoint_opts, eopts, .ifname = "lo", .addrs = addrs, .n_addrs = 1,
		      .identity = bid, .name = "backend");
	if (microseg_endpoint_add(ctx, &eopts, &backend))
		return fprintf(stderr, "%s\n", microseg_ctx_last_error(ctx)), 1;
	snprintf(frontend, sizeof(frontend), "identity:%u", microseg_identity_id(fid));

	/* backend accepts TCP 80 from frontend, and nothing else */
	const char *front[] = { "app=frontend" }, *back[] = { "app=backend" };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR,
				      .selector = { .match_labels = front, .n_match_labels = 1 } };
	struct microseg_port http = { .proto = MICROSEG_PROTO_TCP, .port = 80 };
	struct microseg_rule_section in = { .direction = MICROSEG_DIR_INGRESS, .action = MICROSEG_ACTION_ALLOW,
					    .peers = &peer, .n_peers = 1, .ports = &http, .n_ports = 1 };
	MICROSEG_OPTS(microseg_rule_spec, spec, .name = "backend-http",
		      .endpoints = { .match_labels = back, .n_match_labels = 1 },
		      .sections = &in, .n_sections = 1);
	struct microseg_rule *rule;
	int err = microseg_rule_add(ctx, &spec, &rule); /* in force when it returns */
	if (err)
		return fprintf(stderr, "rule: %s\n", microseg_ctx_last_error(ctx)), 1;

	printf("C rule:\n");
	bad |= check(ctx, frontend, "backend", 80, MICROSEG_VERDICT_ALLOWED);
	bad |= check(ctx, frontend, "backend", 22, MICROSEG_VERDICT_DENIED);
	bad |= check(ctx, "identity:2", "backend", 80, MICROSEG_VERDICT_DENIED);
	microseg_rule_remove(ctx, rule);

	if (argc > 1) {
		size_t len;
		char *doc = slurp(argv[1], &len);
		if (!doc || microseg_policy_apply_yaml(ctx, doc, len, 0))
			return fprintf(stderr, "yaml: %s\n", microseg_ctx_last_error(ctx)), 1;
		free(doc);
		printf("YAML document %s:\n", argv[1]);
		bad |= check(ctx, frontend, "backend", 80, MICROSEG_VERDICT_ALLOWED);
		bad |= check(ctx, frontend, "backend", 22, MICROSEG_VERDICT_DENIED);
		bad |= check(ctx, "identity:2", "backend", 80, MICROSEG_VERDICT_DENIED);
	}
	microseg_ctx_close(ctx);
	return bad;
}
