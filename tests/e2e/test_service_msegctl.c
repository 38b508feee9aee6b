// SPDX-License-Identifier: Apache-2.0
/*
 * Connection counts per backend: after 90 requests at the socket level and 30 per packet,
 * microseg_service_backends() counts for each backend exactly the connections the client saw
 * it answer, and `msegctl service list` (another process, a read-only context) prints the
 * service, its frontend, algorithm and each backend with its state and the same counts; an
 * empty service is listed as refusing; services come in id order.
 */
#include "test_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef E2E_MSEGCTL
#define E2E_MSEGCTL "msegctl"
#endif

#define SOCKET_REQUESTS 90
#define PACKET_REQUESTS 30

static const char *msegctl(void)
{
	const char *p = getenv("MICROSEG_E2E_MSEGCTL");

	return p && *p ? p : E2E_MSEGCTL;
}

/* The line of `text` that contains every one of the NULL-terminated words, or NULL. */
static const char *line_with(const char *text, char *buf, size_t len, const char *word, ...)
{
	for (const char *p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		bool all = true;
		va_list ap;

		snprintf(buf, len, "%.*s", (int)n, p);
		va_start(ap, word);
		for (const char *w = word; w && all; w = va_arg(ap, const char *))
			all = strstr(buf, w) != NULL;
		va_end(ap);
		if (all)
			return buf;
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* The last whitespace-separated field of a line, as a number. */
static unsigned long long last_number(const char *line)
{
	const char *sp = strrchr(line, ' ');

	return strtoull(sp ? sp + 1 : line, NULL, 10);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl;
	struct microseg_service *web, *empty;
	struct microseg_backend_info bi[4];
	struct svc_tally tl_sock, tl_pkt;
	char vip[48], vip_empty[48], frontend[96], backend[64], line[512], cnt[32];
	static char out[8192];
	uint64_t sum = 0;
	size_t n = 0;
	int r;

	svc_init(&s, "svcctl");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "backend");
	cl = svc_add_client(&s, "client");
	svc_vip(&s, 0, false, vip, sizeof(vip));
	svc_vip(&s, 1, false, vip_empty, sizeof(vip_empty));
	web = svc_add_service(&s, "deathstar", vip, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
			      MICROSEG_LB_RANDOM);
	empty = svc_add_service(&s, "nothing-here", vip_empty, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
				MICROSEG_LB_MAGLEV);
	(void)empty;
	for (int i = 0; i < 3; i++)
		svc_add_backend_to(&s, web, b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);

	e2e_log("phase: traffic");
	svc_http(cl, vip, SVC_HTTP_PORT, SOCKET_REQUESTS, 0, &tl_sock);
	svc_tally_log("socket level", &tl_sock);
	svc_leave_cgroup(&s);
	svc_http(cl, vip, SVC_HTTP_PORT, PACKET_REQUESTS, 0, &tl_pkt);
	svc_enter_cgroup(&s);
	svc_tally_log("per packet", &tl_pkt);
	E2E_CHECK(tl_sock.errors == 0 && tl_pkt.errors == 0, "requests failed (%s%s)",
		  tl_sock.first_error, tl_pkt.first_error);

	e2e_log("phase: api");
	E2E_OK(&s.t, microseg_service_backends(s.t.ctx, web, bi, 4, &n));
	E2E_CHECK(n == 3, "%zu backends", n);
	for (int i = 0; i < 3; i++) {
		int want = svc_count(&tl_sock, b[i]) + svc_count(&tl_pkt, b[i]);

		e2e_log("backend %s:%u: %llu connections counted, the client saw %d", bi[i].address,
			bi[i].port, (unsigned long long)bi[i].connections, want);
		E2E_CHECK(!strcmp(bi[i].address, b[i]->v4) && bi[i].port == SVC_BACKEND_PORT,
			  "backend %d is %s:%u, want %s (the order added)", i, bi[i].address,
			  bi[i].port, b[i]->v4);
		E2E_CHECK(bi[i].state == MICROSEG_BACKEND_ACTIVE && bi[i].weight == 1,
			  "backend %d: state %u weight %u", i, bi[i].state, bi[i].weight);
		E2E_CHECK(bi[i].connections == (uint64_t)want,
			  "backend %s: %llu connections counted, %d made", b[i]->name,
			  (unsigned long long)bi[i].connections, want);
		sum += bi[i].connections;
	}
	E2E_CHECK(sum == SOCKET_REQUESTS + PACKET_REQUESTS, "%llu connections in all, want %d",
		  (unsigned long long)sum, SOCKET_REQUESTS + PACKET_REQUESTS);

	e2e_log("phase: msegctl");
	{
		const char *argv[] = { msegctl(), "--instance", s.t.instance, "service", "list",
				       NULL };

		r = topo_run(NULL, 15000, out, sizeof(out), argv);
		E2E_CHECK(r == 0, "msegctl service list exited %d: %s", r, out);
	}
	e2e_log("msegctl service list:");
	{
		char copy[sizeof(out)], *save = NULL;

		snprintf(copy, sizeof(copy), "%s", out);
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			e2e_log("  %s", l);
	}
	snprintf(frontend, sizeof(frontend), "%s:%d/tcp", vip, SVC_HTTP_PORT);
	for (int i = 0; i < 3; i++) {
		snprintf(backend, sizeof(backend), "%s:%d", b[i]->v4, SVC_BACKEND_PORT);
		E2E_CHECK(line_with(out, line, sizeof(line), "deathstar", frontend, "random", backend,
				    "active", NULL),
			  "no row for %s of %s (deathstar, random, active)", backend, frontend);
		snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)bi[i].connections);
		E2E_CHECK(last_number(line) == bi[i].connections,
			  "msegctl shows %llu connections for %s, the API %s", last_number(line),
			  backend, cnt);
	}
	snprintf(frontend, sizeof(frontend), "%s:%d/tcp", vip_empty, SVC_HTTP_PORT);
	E2E_CHECK(line_with(out, line, sizeof(line), "nothing-here", frontend, "maglev", "refuses",
			    NULL),
		  "no row for the empty service %s", frontend);
	/* microseg_service_list() promises id order, and msegctl's context restored the list. */
	E2E_CHECK(strstr(out, "deathstar") < strstr(out, "nothing-here"),
		  "msegctl lists service 2 before service 1: not in id order");

	/* msegctl status: two services, four backends, the socket balancer attached. */
	{
		const char *argv[] = { msegctl(), "--instance", s.t.instance, "status", NULL };

		r = topo_run(NULL, 15000, out, sizeof(out), argv);
		E2E_CHECK(r == 0, "msegctl status exited %d: %s", r, out);
		E2E_CHECK(line_with(out, line, sizeof(line), "services:", " 2 /", "3 backends", "socket balancer attached",
				    NULL),
			  "msegctl status has no services line with 2 services, 3 backends, attached:\n%s", out);
	}

	e2e_finish(&s.t);
	return 0;
}
