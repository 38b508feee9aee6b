// SPDX-License-Identifier: Apache-2.0
/*
 * Services through the public API on an in-memory context: what is accepted, what is refused
 * (with the instance unchanged), backend bookkeeping, listings, and the Prometheus rows.
 */
#include <string.h>

#include "util.h"

static struct microseg_ctx *ctx;

static int add_svc(const char *addr, uint16_t port, uint32_t proto, uint32_t algo, uint32_t msize,
		   struct microseg_service **out)
{
	MICROSEG_OPTS(microseg_service_opts, o, .name = "svc", .address = addr, .port = port, .proto = proto,
		      .algorithm = algo, .maglev_table_size = msize);
	return microseg_service_add(ctx, &o, out);
}

static int add_be(struct microseg_service *svc, const char *addr, uint16_t port, uint16_t weight, uint32_t state)
{
	MICROSEG_OPTS(microseg_backend_opts, b, .address = addr, .port = port, .weight = weight, .state = state);
	return microseg_service_backend_add(ctx, svc, &b);
}

static size_t n_services(void)
{
	size_t n = 0;
	microseg_service_list(ctx, NULL, 0, &n);
	return n;
}

static size_t n_backends(struct microseg_service *svc)
{
	size_t n = 0;
	microseg_service_backends(ctx, svc, NULL, 0, &n);
	return n;
}

static void bad_frontends_are_refused(void)
{
	ctx = ut_open_named("unit-service");
	REQUIRE(ctx != NULL);
	struct microseg_service *s = NULL;
	CHECK_RC(add_svc("10.96.0.300", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &s), -EINVAL);
	CHECK_RC(add_svc("10.96.0.0/24", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &s), -EINVAL);
	CHECK_RC(add_svc(NULL, 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &s), -EINVAL);
	CHECK_RC(add_svc("10.96.0.10", 0, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &s), -EINVAL);
	CHECK_RC(add_svc("10.96.0.10", 80, MICROSEG_PROTO_ICMP, MICROSEG_LB_RANDOM, 0, &s), -EINVAL);
	CHECK_RC(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, 7, 0, &s), -EINVAL);
	CHECK_RC(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_MAGLEV, 16380, &s), -EINVAL);
	CHECK(strstr(microseg_ctx_last_error(ctx), "prime") != NULL);
	CHECK_RC(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_MAGLEV, 7, &s), -EINVAL);
	CHECK_RC(microseg_service_add(ctx, NULL, &s), -EINVAL);
	CHECK_EQ(n_services(), 0);

	CHECK_OK(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_MAGLEV, 0, &s));
	struct microseg_service *dup;
	CHECK_RC(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &dup), -EEXIST);
	/* Another protocol or port is another frontend. */
	struct microseg_service *udp, *v6;
	CHECK_OK(add_svc("10.96.0.10", 80, MICROSEG_PROTO_UDP, MICROSEG_LB_RANDOM, 0, &udp));
	CHECK_OK(add_svc("fd00::10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &v6));
	CHECK_EQ(n_services(), 3);
	struct microseg_service *found;
	CHECK_OK(microseg_service_find(ctx, "10.96.0.10", 80, MICROSEG_PROTO_UDP, &found));
	CHECK(found == udp);
	CHECK_RC(microseg_service_find(ctx, "10.96.0.11", 80, MICROSEG_PROTO_UDP, &found), -ENOENT);
	struct microseg_service_info info = { .sz = sizeof(info) };
	CHECK_OK(microseg_service_get_info(ctx, s, &info));
	CHECK_EQ(info.maglev_table_size, MICROSEG_MAGLEV_DEFAULT_SIZE);
	CHECK_EQ(info.n_backends, 0);
	CHECK(!strcmp(info.address, "10.96.0.10"));
	microseg_ctx_close(ctx);
}

static void backends_and_stale_handles(void)
{
	ctx = ut_open_named("unit-service");
	REQUIRE(ctx != NULL);
	struct microseg_service *s, *v6;
	REQUIRE_OK(add_svc("10.96.0.10", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &s));
	REQUIRE_OK(add_svc("fd00::10", 443, MICROSEG_PROTO_TCP, MICROSEG_LB_RANDOM, 0, &v6));
	CHECK_OK(add_be(s, "10.0.1.2", 8080, 0, MICROSEG_BACKEND_ACTIVE));
	CHECK_OK(add_be(s, "10.0.2.2", 8080, 3, MICROSEG_BACKEND_MAINTENANCE));
	CHECK_RC(add_be(s, "10.0.1.2", 8080, 1, MICROSEG_BACKEND_ACTIVE), -EEXIST);
	CHECK_RC(add_be(s, "fd00::2", 8080, 1, MICROSEG_BACKEND_ACTIVE), -EINVAL); /* family */
	CHECK_RC(add_be(v6, "10.0.1.2", 8080, 1, MICROSEG_BACKEND_ACTIVE), -EINVAL);
	CHECK_RC(add_be(s, "10.0.3.2", 0, 1, MICROSEG_BACKEND_ACTIVE), -EINVAL);
	CHECK_RC(add_be(s, "10.0.3.2", 8080, MICROSEG_BACKEND_WEIGHT_MAX + 1, MICROSEG_BACKEND_ACTIVE), -EINVAL);
	CHECK_RC(add_be(s, "10.0.3.2", 8080, 1, 9), -EINVAL);
	CHECK_RC(add_be(s, "not-an-address", 8080, 1, MICROSEG_BACKEND_ACTIVE), -EINVAL);
	CHECK_EQ(n_backends(s), 2);

	struct microseg_backend_info b[2] = { { .sz = sizeof(b[0]) }, { .sz = sizeof(b[1]) } };
	size_t n = 0;
	CHECK_OK(microseg_service_backends(ctx, s, b, 2, &n));
	CHECK_EQ(n, 2);
	CHECK_EQ(b[0].weight, 1); /* 0 means 1 */
	CHECK_EQ(b[1].state, MICROSEG_BACKEND_MAINTENANCE);
	CHECK_RC(microseg_service_backends(ctx, s, b, 1, &n), -ENOSPC);
	CHECK_EQ(n, 2);

	CHECK_OK(microseg_service_backend_set_state(ctx, s, "10.0.2.2", 8080, MICROSEG_BACKEND_ACTIVE));
	CHECK_RC(microseg_service_backend_set_state(ctx, s, "10.0.2.2", 8080, 3), -EINVAL);
	CHECK_RC(microseg_service_backend_set_state(ctx, s, "10.0.9.9", 8080, MICROSEG_BACKEND_ACTIVE), -ENOENT);
	struct microseg_service_info info = { .sz = sizeof(info) };
	CHECK_OK(microseg_service_get_info(ctx, s, &info));
	CHECK_EQ(info.n_active, 2);
	CHECK_RC(microseg_service_backend_remove(ctx, s, "10.0.9.9", 8080), -ENOENT);
	CHECK_OK(microseg_service_backend_remove(ctx, s, "10.0.1.2", 8080));
	CHECK_EQ(n_backends(s), 1);

	/* Prometheus: a row per backend of every service. */
	char *text = NULL;
	CHECK_OK(microseg_metrics_prometheus(ctx, &text));
	CHECK(text && strstr(text, "microseg_service_backend_connections_total{service_id=\"1\",service=\"svc\","
				  "frontend=\"10.96.0.10:80\",backend=\"10.0.2.2:8080\",state=\"active\"} 0"));
	CHECK(text && strstr(text, "microseg_http_requests_total{instance=\"unit-service\",verdict=\"denied\"} 0"));
	free(text);

	/* A removed service's handle is stale: -ENOENT, never a crash. */
	CHECK_OK(microseg_service_remove(ctx, s));
	CHECK_RC(microseg_service_remove(ctx, s), -ENOENT);
	CHECK_RC(add_be(s, "10.0.1.2", 8080, 1, MICROSEG_BACKEND_ACTIVE), -ENOENT);
	CHECK_RC(microseg_service_get_info(ctx, s, &info), -ENOENT);
	CHECK_RC(microseg_service_remove(ctx, NULL), -EINVAL);
	CHECK_EQ(n_services(), 1);
	microseg_ctx_close(ctx);
}

/* Many backends in one call: all or nothing, whatever element is wrong. */
static void backends_in_one_call(void)
{
	ctx = ut_open_named("unit-service-many");
	REQUIRE(ctx != NULL);
	struct microseg_service *s;
	REQUIRE_OK(add_svc("10.96.0.20", 80, MICROSEG_PROTO_TCP, MICROSEG_LB_MAGLEV, 251, &s));
	CHECK_OK(add_be(s, "10.0.0.1", 8080, 1, MICROSEG_BACKEND_ACTIVE));
	struct microseg_backend_opts b[4];
	const char *addrs[4] = { "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4" };
	for (int i = 0; i < 4; i++)
		b[i] = (struct microseg_backend_opts){ .sz = sizeof(b[i]), .address = addrs[i], .port = 8080,
						       .weight = (uint16_t)(i + 1) };
	/* Each kind of bad element, last in the batch: nothing of the batch stays. */
	b[3].address = "10.0.1.1"; /* named twice in the call */
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -EEXIST);
	b[3].address = "10.0.0.1"; /* the service has it */
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -EEXIST);
	b[3].address = "fd00::4"; /* family */
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -EINVAL);
	b[3].address = addrs[3];
	b[3].sz = sizeof(b[3]) - 1; /* unlike the stride */
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -EINVAL);
	b[3].sz = sizeof(b[3]);
	b[3].state = 7;
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -EINVAL);
	b[3].state = MICROSEG_BACKEND_ACTIVE;
	CHECK_EQ(n_backends(s), 1);
	CHECK_RC(microseg_service_backend_add_many(ctx, s, NULL, 2), -EINVAL);
	CHECK_RC(microseg_service_backend_add_many(ctx, NULL, b, 4), -EINVAL);
	CHECK_RC(microseg_service_backend_add_many(NULL, s, b, 4), -EINVAL);
	CHECK_OK(microseg_service_backend_add_many(ctx, s, NULL, 0));
	CHECK_EQ(n_backends(s), 1);

	CHECK_OK(microseg_service_backend_add_many(ctx, s, b, 4));
	struct microseg_backend_info info[5];
	for (int i = 0; i < 5; i++)
		info[i].sz = sizeof(info[i]);
	size_t n = 0;
	CHECK_OK(microseg_service_backends(ctx, s, info, 5, &n));
	CHECK_EQ(n, 5);
	for (int i = 0; i < 4 && n == 5; i++) {
		CHECK(!strcmp(info[i + 1].address, addrs[i]));
		CHECK_EQ(info[i + 1].weight, i + 1);
	}
	/* A stale handle: -ENOENT, nothing added anywhere. */
	CHECK_OK(microseg_service_remove(ctx, s));
	CHECK_RC(microseg_service_backend_add_many(ctx, s, b, 4), -ENOENT);
	microseg_ctx_close(ctx);
}

int main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		TEST_ENTRY(bad_frontends_are_refused),
		TEST_ENTRY(backends_and_stale_handles),
		TEST_ENTRY(backends_in_one_call),
	};
	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
