// SPDX-License-Identifier: Apache-2.0
/*
 * Taking backends out without breaking connections, at the socket level (the client runs in
 * the load balancer's cgroup). Two services share the frontend address: HTTP on port 80 and a
 * greeting sink on port 81 (it names its backend first, so the test knows where a stream went).
 *  - terminating: a 6 s TCP stream runs to backend X; X is set TERMINATING in both services;
 *    new requests never reach X (and its connection counter stands still) while the others
 *    share them; the stream delivers every byte;
 *  - removal: X active again, a stream runs to Y, another backend Z is removed; new requests
 *    go to the two that are left, never Z, and the stream to Y delivers every byte.
 */
#include "test_service.h"

#include <errno.h>
#include <string.h>

#define REQUESTS 90
#define STREAM_S 6.0

static struct e2e_ep *by_name(struct e2e_ep *const *b, const char *name)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(b[i]->name, name))
			return b[i];
	E2E_CHECK(false, "the stream went to '%s', not a backend", name);
	return NULL;
}

static void set_state(struct svc_test *s, struct microseg_service *const *svcs,
		      const struct e2e_ep *e, uint32_t state)
{
	E2E_OK(&s->t, microseg_service_backend_set_state(s->t.ctx, svcs[0], e->v4,
							 SVC_BACKEND_PORT, state));
	E2E_OK(&s->t, microseg_service_backend_set_state(s->t.ctx, svcs[1], e->v4, SVC_SINK_PORT,
							 state));
}

static void stream_done(struct svc_stream *st)
{
	uint64_t sent, received;

	svc_stream_finish(st, &sent, &received);
	e2e_log("stream to %s: %llu bytes sent, %llu received", st->backend,
		(unsigned long long)sent, (unsigned long long)received);
	E2E_CHECK(sent > 0 && received == sent, "stream to %s: sent %llu, the sink counted %llu",
		  st->backend, (unsigned long long)sent, (unsigned long long)received);
}

/* REQUESTS requests: none to `avoid`, every backend in `want` (n_want of them) some. */
static void requests_avoid(const struct e2e_ep *cl, const char *vip, struct e2e_ep *const *want,
			   int n_want, const struct e2e_ep *avoid, const char *what)
{
	struct svc_tally tl;

	svc_http(cl, vip, SVC_HTTP_PORT, REQUESTS, 0, &tl);
	svc_tally_log(what, &tl);
	E2E_CHECK(tl.errors == 0 && tl.answered == REQUESTS, "%d of %d answered (%s)",
		  tl.answered, REQUESTS, tl.first_error);
	E2E_CHECK(svc_count(&tl, avoid) == 0, "%s still got %d new connections", avoid->name,
		  svc_count(&tl, avoid));
	/* Each of two shares expects 45: 15 is more than 4 standard deviations off. */
	for (int i = 0; i < n_want; i++)
		E2E_CHECK(svc_count(&tl, want[i]) >= 15, "%s got %d of %d", want[i]->name,
			  svc_count(&tl, want[i]), REQUESTS);
}

int main(void)
{
	struct svc_test s;
	struct e2e_ep *b[3], *cl, *x, *y, *z, *rest[2];
	struct microseg_service *svcs[2];
	struct microseg_service_info info = { .sz = sizeof(info) };
	struct microseg_backend_info bi[4];
	struct svc_stream st;
	char vip[48];
	uint64_t conns;
	size_t n;
	int k;

	svc_init(&s, "svcdrain");
	for (int i = 0; i < 3; i++)
		b[i] = svc_add_backend(&s, "backend");
	cl = svc_add_client(&s, "client");
	svc_vip(&s, 0, false, vip, sizeof(vip));
	svcs[0] = svc_add_service(&s, "web", vip, SVC_HTTP_PORT, MICROSEG_PROTO_TCP,
				  MICROSEG_LB_RANDOM);
	svcs[1] = svc_add_service(&s, "sink", vip, SVC_SINK_VIP_PORT, MICROSEG_PROTO_TCP,
				  MICROSEG_LB_RANDOM);
	for (int i = 0; i < 3; i++) {
		svc_add_backend_to(&s, svcs[0], b[i]->v4, SVC_BACKEND_PORT, MICROSEG_BACKEND_ACTIVE);
		svc_add_backend_to(&s, svcs[1], b[i]->v4, SVC_SINK_PORT, MICROSEG_BACKEND_ACTIVE);
	}

	e2e_log("phase: terminating");
	svc_stream_start(&st, cl, vip, SVC_SINK_VIP_PORT, STREAM_S);
	x = by_name(b, st.backend);
	e2e_log("stream runs to %s; setting it TERMINATING", x->name);
	set_state(&s, svcs, x, MICROSEG_BACKEND_TERMINATING);
	E2E_OK(&s.t, microseg_service_get_info(s.t.ctx, svcs[0], &info));
	E2E_CHECK(info.n_backends == 3 && info.n_active == 2, "info: %u backends, %u active",
		  info.n_backends, info.n_active);
	conns = svc_connections(&s, svcs[0], x->v4, SVC_BACKEND_PORT);
	for (k = 0; b[k] == x; k++)
		;
	rest[0] = b[k];
	for (k++; b[k] == x; k++)
		;
	rest[1] = b[k];
	requests_avoid(cl, vip, rest, 2, x, "requests while X is terminating");
	E2E_CHECK(svc_connections(&s, svcs[0], x->v4, SVC_BACKEND_PORT) == conns,
		  "the terminating backend's connection counter moved");
	stream_done(&st);

	e2e_log("phase: remove");
	set_state(&s, svcs, x, MICROSEG_BACKEND_ACTIVE);
	svc_stream_start(&st, cl, vip, SVC_SINK_VIP_PORT, STREAM_S);
	y = by_name(b, st.backend);
	z = b[0] == y ? b[1] : b[0];
	e2e_log("stream runs to %s; removing %s", y->name, z->name);
	E2E_OK(&s.t, microseg_service_backend_remove(s.t.ctx, svcs[0], z->v4, SVC_BACKEND_PORT));
	E2E_OK(&s.t, microseg_service_backend_remove(s.t.ctx, svcs[1], z->v4, SVC_SINK_PORT));
	E2E_OK(&s.t, microseg_service_backends(s.t.ctx, svcs[0], bi, 4, &n));
	E2E_CHECK(n == 2, "%zu backends listed after the removal", n);
	for (size_t i = 0; i < n; i++)
		E2E_CHECK(strcmp(bi[i].address, z->v4), "the removed backend is still listed");
	E2E_CHECK(microseg_service_backend_remove(s.t.ctx, svcs[0], z->v4, SVC_BACKEND_PORT) ==
			  -ENOENT,
		  "removing it twice did not say -ENOENT");
	k = 0;
	for (int i = 0; i < 3; i++)
		if (b[i] != z)
			rest[k++] = b[i];
	requests_avoid(cl, vip, rest, 2, z, "requests after removing Z");
	stream_done(&st);

	e2e_finish(&s.t);
	return 0;
}
