// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP rules in policy, on an in-memory context: the C API and YAML both reach the proxy's
 * per-request answer (ms_l7_resolve + ms_l7_allows, what the proxy asks), bad L7 input is
 * refused with nothing changed, and an API rule with HTTP rules survives being written out as
 * a document and read back (how rules persist).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "policy_internal.h"

static struct microseg_ctx *ctx;
static struct microseg_identity *id_backend, *id_front, *id_other;
static struct microseg_endpoint *backend;

static int setup(void)
{
	ctx = ut_open_named("unit-policy-l7");
	if (!ctx)
		return -1;
	const char *b[] = { "k8s:app=backend" };
	const char *f[] = { "k8s:app=frontend" };
	const char *o[] = { "k8s:app=other" };
	if (microseg_identity_get(ctx, b, 1, &id_backend) || microseg_identity_get(ctx, f, 1, &id_front) ||
	    microseg_identity_get(ctx, o, 1, &id_other))
		return -1;
	const char *addrs[] = { "10.9.0.2" };
	MICROSEG_OPTS(microseg_endpoint_opts, eo, .ifname = "lo", .addrs = addrs, .n_addrs = 1,
		      .identity = id_backend, .name = "backend");
	return microseg_endpoint_add(ctx, &eo, &backend);
}

static void teardown(void)
{
	microseg_ctx_close(ctx);
	ctx = NULL;
}

/* A request as the proxy's parser would show it. */
static struct ms_http_request_view req(const char *method, const char *path, const struct ms_http_header *h,
				       size_t nh)
{
	return (struct ms_http_request_view){ .method = method, .method_len = strlen(method), .path = path,
					      .path_len = strlen(path), .headers = h, .n_headers = nh };
}

/* What the proxy would answer for a request from `peer` to the backend's port 80 (ingress). */
static int verdict_for(const struct microseg_identity *peer, const char *method, const char *path,
		       const struct ms_http_header *h, size_t nh)
{
	struct ms_l7_verdict v = { 0 };
	MS_LOCK(ctx);
	int err = ms_l7_resolve(ctx, microseg_endpoint_id(backend), MS_DIR_INGRESS, microseg_identity_id(peer), 80, &v);
	MS_UNLOCK(ctx);
	if (err)
		return err;
	struct ms_http_request_view r = req(method, path, h, nh);
	int allowed = ms_l7_allows(&v, &r);
	ms_l7_verdict_release(&v);
	return allowed;
}

/* ingress to app=backend from app=frontend on TCP 80, with the given HTTP rules. */
static int add_http_rule(const struct microseg_http_rule *http, size_t n, uint32_t proto, uint32_t action,
			 struct microseg_rule **out)
{
	static const char *be[] = { "app=backend" };
	static const char *fe[] = { "app=frontend" };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR, .selector = { .match_labels = fe, .n_match_labels = 1 } };
	struct microseg_port port = { .proto = proto, .port = 80 };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS, .action = action, .peers = &peer,
					     .n_peers = 1, .ports = &port, .n_ports = 1 };
	struct microseg_l7_rules l7 = { .section = 0, .port = 0, .http = http, .n_http = n };
	MICROSEG_OPTS(microseg_rule_spec, spec, .name = "http", .endpoints = { .match_labels = be, .n_match_labels = 1 },
		      .sections = &sec, .n_sections = 1, .l7 = &l7, .n_l7 = 1);
	return microseg_rule_add(ctx, &spec, out);
}

static void api_rule_reaches_the_proxy(void)
{
	REQUIRE_OK(setup());
	static const char *force[] = { "X-Has-Force: true" };
	const struct microseg_http_rule http[] = {
		{ .method = "POST", .path = "/v1/request-landing" },
		{ .method = "PUT", .path = "/v1/exhaust-port", .headers = force, .n_headers = 1 },
		{ .method = "GET|HEAD", .path = "/v1/.*" },
	};
	struct microseg_rule *r;
	CHECK_OK(add_http_rule(http, 3, MICROSEG_PROTO_TCP, MICROSEG_ACTION_ALLOW, &r));
	CHECK_EQ(verdict_for(id_front, "POST", "/v1/request-landing", NULL, 0), 1);
	CHECK_EQ(verdict_for(id_front, "GET", "/v1/request-landing", NULL, 0), 1);
	/* Anchored: a prefix or a suffix of a match is not a match. */
	CHECK_EQ(verdict_for(id_front, "POST", "/v1/request-landing/x", NULL, 0), 0);
	CHECK_EQ(verdict_for(id_front, "POSTX", "/v1/request-landing", NULL, 0), 0);
	CHECK_EQ(verdict_for(id_front, "GET", "/v2/", NULL, 0), 0);
	CHECK_EQ(verdict_for(id_front, "PUT", "/v1/exhaust-port", NULL, 0), 0);
	struct ms_http_header yes = { "x-has-force", 11, "true", 4 }, no = { "X-Has-Force", 11, "false", 5 };
	CHECK_EQ(verdict_for(id_front, "PUT", "/v1/exhaust-port", &yes, 1), 1);
	CHECK_EQ(verdict_for(id_front, "PUT", "/v1/exhaust-port", &no, 1), 0);
	/* A peer no rule allows gets nothing, whatever it asks. */
	CHECK_EQ(verdict_for(id_other, "POST", "/v1/request-landing", NULL, 0), 0);
	/* The host reaches its endpoints (as at L3/L4). */
	struct ms_l7_verdict v = { 0 };
	MS_LOCK(ctx);
	CHECK_OK(ms_l7_resolve(ctx, microseg_endpoint_id(backend), MS_DIR_INGRESS, MICROSEG_IDENTITY_HOST, 80, &v));
	MS_UNLOCK(ctx);
	CHECK(v.allow_all);
	ms_l7_verdict_release(&v);

	/* explain says the proxy decides. */
	char id[32];
	snprintf(id, sizeof(id), "identity:%u", microseg_identity_id(id_front));
	MICROSEG_OPTS(microseg_explain_query, q, .src = id, .dst = "backend", .proto = MICROSEG_PROTO_TCP, .port = 80);
	struct microseg_explain_result res = { .sz = sizeof(res) };
	CHECK_OK(microseg_policy_explain(ctx, &q, &res));
	CHECK_EQ(res.verdict, MICROSEG_VERDICT_ALLOWED);
	CHECK(strstr(res.text, "L7 proxy") != NULL);

	/* An L3/L4-only allow of the same peer and port lets every request through. */
	struct microseg_rule *l4;
	static const char *be[] = { "app=backend" };
	static const char *fe[] = { "app=frontend" };
	struct microseg_peer peer = { .kind = MICROSEG_PEER_SELECTOR, .selector = { .match_labels = fe, .n_match_labels = 1 } };
	struct microseg_port port = { .proto = MICROSEG_PROTO_TCP, .port = 80 };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS, .peers = &peer, .n_peers = 1,
					     .ports = &port, .n_ports = 1 };
	MICROSEG_OPTS(microseg_rule_spec, spec, .endpoints = { .match_labels = be, .n_match_labels = 1 },
		      .sections = &sec, .n_sections = 1);
	CHECK_OK(microseg_rule_add(ctx, &spec, &l4));
	CHECK_EQ(verdict_for(id_front, "DELETE", "/anything", NULL, 0), 1);
	/* ... and removing it brings the HTTP rules back for the next request. */
	CHECK_OK(microseg_rule_remove(ctx, l4));
	CHECK_EQ(verdict_for(id_front, "DELETE", "/anything", NULL, 0), 0);
	CHECK_OK(microseg_rule_remove(ctx, r));
	/* No rule selects the backend any more: open. */
	CHECK_EQ(verdict_for(id_front, "DELETE", "/anything", NULL, 0), 1);
	teardown();
}

static void bad_l7_changes_nothing(void)
{
	REQUIRE_OK(setup());
	size_t before = 0;
	CHECK_OK(microseg_rule_list(ctx, NULL, 0, &before));
	struct microseg_rule *r = NULL;
	const struct microseg_http_rule bad_re[] = { { .path = "/v1/(" } };
	CHECK_RC(add_http_rule(bad_re, 1, MICROSEG_PROTO_TCP, MICROSEG_ACTION_ALLOW, &r), -EINVAL);
	CHECK(strstr(microseg_ctx_last_error(ctx), "l7") != NULL);
	const struct microseg_http_rule ok[] = { { .method = "GET" } };
	CHECK_RC(add_http_rule(ok, 1, MICROSEG_PROTO_UDP, MICROSEG_ACTION_ALLOW, &r), -EINVAL);
	CHECK(strstr(microseg_ctx_last_error(ctx), "TCP") != NULL);
	CHECK_RC(add_http_rule(ok, 1, MICROSEG_PROTO_TCP, MICROSEG_ACTION_DENY, &r), -EINVAL);
	CHECK_RC(add_http_rule(ok, 0, MICROSEG_PROTO_TCP, MICROSEG_ACTION_ALLOW, &r), -EINVAL);
	CHECK_RC(add_http_rule(NULL, 1, MICROSEG_PROTO_TCP, MICROSEG_ACTION_ALLOW, &r), -EINVAL);
	static const char *null_header[] = { NULL };
	const struct microseg_http_rule bad_hdr[] = { { .headers = null_header, .n_headers = 1 } };
	CHECK_RC(add_http_rule(bad_hdr, 1, MICROSEG_PROTO_TCP, MICROSEG_ACTION_ALLOW, &r), -EINVAL);
	size_t after = 0;
	CHECK_OK(microseg_rule_list(ctx, NULL, 0, &after));
	CHECK_EQ(after, before);
	teardown();
}

static const char starwars_l7[] =
	"apiVersion: cilium.io/v2\n"
	"kind: CiliumClusterwideNetworkPolicy\n" /* namespaced kinds add a namespace to selectors */
	"metadata:\n  name: rule1\n"
	"spec:\n"
	"  endpointSelector:\n    matchLabels:\n      app: backend\n"
	"  ingress:\n"
	"  - fromEndpoints:\n    - matchLabels:\n        app: frontend\n"
	"    toPorts:\n"
	"    - ports:\n      - port: \"80\"\n        protocol: TCP\n"
	"      rules:\n        http:\n        - method: POST\n          path: /v1/request-landing\n";

static void yaml_http_rules(void)
{
	REQUIRE_OK(setup());
	CHECK_OK(microseg_policy_apply_yaml(ctx, starwars_l7, strlen(starwars_l7), 0));
	CHECK_EQ(verdict_for(id_front, "POST", "/v1/request-landing", NULL, 0), 1);
	CHECK_EQ(verdict_for(id_front, "PUT", "/v1/exhaust-port", NULL, 0), 0);
	/* Replacing the policy changes the answer for the next request. */
	char *v2 = strdup(starwars_l7);
	char *m = strstr(v2, "method: POST");
	memcpy(m, "method: PUT ", 12);
	char *p = strstr(v2, "/v1/request-landing");
	memcpy(p, "/v1/exhaust-port\n   ", 20);
	/* A connection's resolved rules: still usable after the change (references), and known
	 * to be stale by the generation the proxy compares. */
	struct ms_l7_verdict held = { 0 };
	MS_LOCK(ctx);
	CHECK_OK(ms_l7_resolve(ctx, microseg_endpoint_id(backend), MS_DIR_INGRESS, microseg_identity_id(id_front), 80,
			       &held));
	MS_UNLOCK(ctx);
	uint32_t gen = atomic_load(&ctx->pol->l7_gen);
	CHECK_OK(microseg_policy_apply_yaml(ctx, v2, strlen(v2), 0));
	CHECK(atomic_load(&ctx->pol->l7_gen) != gen);
	struct ms_http_request_view old = req("POST", "/v1/request-landing", NULL, 0);
	CHECK_EQ(ms_l7_allows(&held, &old), 1); /* the old answer, from memory still alive */
	ms_l7_verdict_release(&held);
	CHECK_EQ(verdict_for(id_front, "POST", "/v1/request-landing", NULL, 0), 0);
	CHECK_EQ(verdict_for(id_front, "PUT", "/v1/exhaust-port", NULL, 0), 1);
	free(v2);
	/* DNS and Kafka rules would not be enforced: refused, not taken as "allowed". */
	static const char dns[] =
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: dns\n"
		"spec:\n  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports:\n      - port: \"53\"\n"
		"        protocol: UDP\n      rules:\n        dns:\n        - matchPattern: \"*\"\n";
	CHECK_RC(microseg_policy_apply_yaml(ctx, dns, strlen(dns), 0), -EOPNOTSUPP);
	teardown();
}

/* API rules persist as emitted documents: HTTP rules must survive the trip. */
static void emit_round_trip(void)
{
	static const char *be[] = { "app=backend" };
	static const char *hdr[] = { "X-Has-Force: true", "X-Trace" };
	const struct microseg_http_rule http[] = {
		{ .method = "PUT", .path = "/v1/exhaust-port", .headers = hdr, .n_headers = 2 },
		{ .host = "deathstar\\.example", .path = "/v1/.*" },
	};
	struct microseg_port ports[] = { { .proto = MICROSEG_PROTO_TCP, .port = 443 },
					 { .proto = MICROSEG_PROTO_TCP, .port = 80 } };
	struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS, .ports = ports, .n_ports = 2 };
	struct microseg_l7_rules l7 = { .section = 0, .port = 1, .http = http, .n_http = 2 };
	MICROSEG_OPTS(microseg_rule_spec, spec, .endpoints = { .match_labels = be, .n_match_labels = 1 },
		      .sections = &sec, .n_sections = 1, .l7 = &l7, .n_l7 = 1);
	char *y = NULL;
	REQUIRE_OK(ms_policy_emit_yaml(&spec, "round", &y));
	CHECK(strstr(y, "http:") != NULL);
	struct ms_policy_docs docs;
	REQUIRE_OK(ms_policy_docs_parse(y, strlen(y), &docs, NULL, 0));
	CHECK_EQ(docs.docs[0].n_rules, 1);
	CHECK_EQ(docs.docs[0].rules[0].n_l7, 1);
	CHECK_EQ(ms_rule_spec_equal(&spec, &docs.docs[0].rules[0]), 1);
	/* The comparison sees HTTP rules: another path is another rule. */
	struct microseg_http_rule other[2] = { http[0], http[1] };
	other[1].path = "/v2/.*";
	l7.http = other;
	CHECK_EQ(ms_rule_spec_equal(&spec, &docs.docs[0].rules[0]), 0);
	ms_policy_docs_free(&docs);
	free(y);
}

/* Whether backend's compiled (live) table lets identity id in on TCP 80. */
static bool table_admits(uint32_t id)
{
	struct ms_policy *pol = ctx->pol;
	const struct ms_table *t = pol->slot[pol->rev & 1][microseg_endpoint_id(backend)];
	if (!t)
		return true; /* open */
	for (size_t i = 0; i < t->n; i++) {
		const struct ms_policy_entry *e = &t->entries[i];
		uint32_t bits = e->key.prefixlen - MS_POLICY_PREFIX_BASE;
		uint16_t mask = bits ? (uint16_t)(0xffff << (16 - bits)) : 0;
		if ((e->key.identity == id || e->key.identity == MS_POLICY_ANY_ID) && e->key.dir == MS_DIR_INGRESS &&
		    (e->key.proto == 0 || e->key.proto == 6) && (80 & mask) == (ntohs(e->key.port) & mask) &&
		    e->value.action == MS_POLICY_ALLOW)
			return true;
	}
	return false;
}

/*
 * The proxy asks "does this peer stand for identity X" (ms_peer_matches) of the rule that the
 * compiler expanded into table entries (expand_peer): for every kind of peer, over every
 * identity there is (endpoint identities, world, the CIDR identities of all rules), the two
 * must agree, or the proxy would judge requests the datapath never let in (or the reverse).
 */
static void proxy_and_compiler_agree_on_peers(void)
{
	REQUIRE_OK(setup());
	static const char *be[] = { "app=backend" }, *fe[] = { "app=frontend" };
	static const char *except[] = { "10.1.0.0/16" };
	/* CIDR identities inside, outside and under the except of the CIDR peer below. */
	static const char *more[] = { "10.1.2.0/24", "10.2.0.0/16", "192.168.0.0/16", "fd00::/8" };
	struct microseg_peer extra[4];
	for (size_t i = 0; i < 4; i++)
		extra[i] = (struct microseg_peer){ .kind = MICROSEG_PEER_CIDR, .cidr = more[i] };
	struct microseg_port any = { .proto = MICROSEG_PROTO_TCP, .port = 9999 };
	struct microseg_rule_section out = { .direction = MICROSEG_DIR_EGRESS, .action = MICROSEG_ACTION_ALLOW,
					     .peers = extra, .n_peers = 4, .ports = &any, .n_ports = 1 };
	MICROSEG_OPTS(microseg_rule_spec, cidrs, .name = "cidrs", .endpoints = { .match_labels = be, .n_match_labels = 1 },
		      .sections = &out, .n_sections = 1);
	struct microseg_rule *helper;
	CHECK_OK(microseg_rule_add(ctx, &cidrs, &helper));

	const struct microseg_peer peers[] = {
		{ .kind = MICROSEG_PEER_SELECTOR, .selector = { .match_labels = fe, .n_match_labels = 1 } },
		{ .kind = MICROSEG_PEER_CIDR, .cidr = "10.0.0.0/8", .except = except, .n_except = 1 },
		{ .kind = MICROSEG_PEER_ENTITY, .entity = MICROSEG_ENTITY_WORLD },
		{ .kind = MICROSEG_PEER_ENTITY, .entity = MICROSEG_ENTITY_ALL },
		{ .kind = MICROSEG_PEER_ENTITY, .entity = MICROSEG_ENTITY_HOST },
	};
	const struct microseg_http_rule http = { .method = "GET" };
	for (size_t k = 0; k < ARRAY_LEN(peers); k++) {
		struct microseg_port port = { .proto = MICROSEG_PROTO_TCP, .port = 80 };
		struct microseg_rule_section sec = { .direction = MICROSEG_DIR_INGRESS, .action = MICROSEG_ACTION_ALLOW,
						     .peers = &peers[k], .n_peers = 1, .ports = &port, .n_ports = 1 };
		struct microseg_l7_rules l7 = { .section = 0, .port = 0, .http = &http, .n_http = 1 };
		MICROSEG_OPTS(microseg_rule_spec, spec, .name = "peer", .endpoints = { .match_labels = be, .n_match_labels = 1 },
			      .sections = &sec, .n_sections = 1, .l7 = &l7, .n_l7 = 1);
		struct microseg_rule *r;
		CHECK_OK(microseg_rule_add(ctx, &spec, &r));
		CHECK(ctx->pol->n_cidrs >= 4); /* the helper's, and the peer's own if a CIDR */
		uint32_t ids[16] = { MICROSEG_IDENTITY_WORLD, microseg_identity_id(id_front),
				     microseg_identity_id(id_other), microseg_identity_id(id_backend) };
		size_t n = 4, agree = 0;
		for (size_t c = 0; c < ctx->pol->n_cidrs && n < ARRAY_LEN(ids); c++)
			ids[n++] = ctx->pol->cidrs[c].id->id;
		for (size_t i = 0; i < n; i++) {
			bool proxy = ms_peer_matches(ctx, &r->sections[0].peers[0], ids[i]);
			bool compiled = table_admits(ids[i]);
			if (proxy == compiled)
				agree++;
			else
				fprintf(stderr, "peer %zu, identity %u: proxy %d, compiled table %d\n", k, ids[i], proxy,
					compiled);
		}
		CHECK_EQ(agree, n);
		CHECK_OK(microseg_rule_remove(ctx, r));
	}
	CHECK_OK(microseg_rule_remove(ctx, helper));
	teardown();
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(api_rule_reaches_the_proxy),
		TEST_ENTRY(bad_l7_changes_nothing),
		TEST_ENTRY(yaml_http_rules),
		TEST_ENTRY(emit_round_trip),
		TEST_ENTRY(proxy_and_compiler_agree_on_peers),
	};
	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
