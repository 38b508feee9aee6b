// SPDX-License-Identifier: Apache-2.0
/*
 * Revocation of established connections. A TCP stream runs from the frontend to the backend
 * under a rule that allows it; then the rule is removed (part 1), or the frontend's identity
 * changes to one the rule does not allow (part 2). The receiver reports its byte count every
 * 50 ms: it must stop growing within 1 s of the change, and a new connection must be refused.
 * The backend stays selected throughout (a second rule selects its ingress and allows
 * nothing), so that removing the allow rule means "deny", not "no policy".
 */
#include "test_policy.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STREAM_PORT 9000
#define MAX_SAMPLES 512
/* The stream runs this long before the change, and is watched this long after it. */
#define BEFORE_MS 1500
#define AFTER_MS 3500
#define STOP_LIMIT_MS 1000

enum change { CHANGE_REMOVE_RULE, CHANGE_IDENTITY };

struct ctx {
	struct e2e t;
	struct e2e_ep *fe, *be;
	struct microseg_rule *allow;
	struct microseg_identity *id_frontend, *id_other;
};

static struct microseg_rule *add_allow(struct ctx *c)
{
	static const uint16_t ports[] = { 80, STREAM_PORT };

	return pol_rule_app(&c->t, "backend-from-frontend", "backend", MICROSEG_DIR_INGRESS,
			    "frontend", MICROSEG_PROTO_TCP, ports, 2);
}

/* Runs the stream, makes the change after BEFORE_MS, and judges the receiver's samples. */
static void stream_and_revoke(struct ctx *c, enum change change)
{
	const char *what = change == CHANGE_REMOVE_RULE ? "rule removed" : "identity changed";
	struct pol_sample s[MAX_SAMPLES];
	struct pol_sink sink;
	long long t0, t1, last_growth = 0;
	uint64_t at_t1 = 0, before = 0, final;
	uint64_t drops0, drops1;
	int n, src_fd = -1, r;
	pid_t src;
	char out[64] = "";

	pol_sink_start(&sink, c->be, STREAM_PORT, (BEFORE_MS + AFTER_MS + 500) / 1000.0);
	src = pol_source_start(c->fe, c->be->v4, STREAM_PORT, (BEFORE_MS + AFTER_MS) / 1000.0,
			       &src_fd);
	topo_sleep_ms(BEFORE_MS);
	drops0 = pol_drops(&c->t, c->be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);

	t0 = topo_now_ms();
	if (change == CHANGE_REMOVE_RULE)
		E2E_OK(&c->t, microseg_rule_remove(c->t.ctx, c->allow));
	else
		E2E_OK(&c->t, microseg_endpoint_set_identity(c->t.ctx, c->fe->ep, c->id_other));
	t1 = topo_now_ms();
	e2e_log("%s at +%.2f s (call took %lld ms)", what, BEFORE_MS / 1000.0, t1 - t0);

	/* A new connection is refused while the stream is being watched. */
	pol_expect_tcp(&c->t, c->fe, c->be, POL_V4, 80, false);

	n = pol_sink_finish(&sink, s, MAX_SAMPLES);
	r = topo_read_all(src_fd, out, sizeof(out), 10000);
	close(src_fd);
	out[strcspn(out, "\n")] = '\0';
	r = topo_wait(src, 10000);
	E2E_CHECK(r == 0, "stream source exited %d", r);
	drops1 = pol_drops(&c->t, c->be, MICROSEG_DIR_INGRESS, MICROSEG_DROP_POLICY);
	E2E_CHECK(n >= 10, "only %d samples from the receiver", n);

	for (int i = 0; i < n; i++) {
		if (s[i].t_ms <= t0 - 500)
			before = s[i].bytes;
		if (s[i].t_ms <= t1)
			at_t1 = s[i].bytes;
		if (i > 0 && s[i].bytes > s[i - 1].bytes)
			last_growth = s[i].t_ms;
	}
	final = s[n - 1].bytes;
	e2e_log("%s: received %llu bytes 0.5 s before, %llu at the change, %llu at the end; "
		"last growth %+lld ms after the change; source wrote %s bytes; backend policy "
		"drops %llu -> %llu",
		what, (unsigned long long)before, (unsigned long long)at_t1,
		(unsigned long long)final, last_growth - t1, out, (unsigned long long)drops0,
		(unsigned long long)drops1);
	E2E_CHECK(s[n - 1].t_ms >= t1 + STOP_LIMIT_MS + 1500,
		  "the receiver stopped reporting %lld ms after the change: too soon to judge",
		  s[n - 1].t_ms - t1);
	if (at_t1 <= before)
		pol_mismatch("%s: the stream was not flowing before the change (%llu -> %llu bytes)",
			     what, (unsigned long long)before, (unsigned long long)at_t1);
	if (last_growth > t1 + STOP_LIMIT_MS)
		pol_mismatch("%s: the stream still passed %lld ms after the change (%llu bytes after "
			     "it), want it stopped within %d ms",
			     what, last_growth - t1, (unsigned long long)(final - at_t1),
			     STOP_LIMIT_MS);
	else
		e2e_log("  ok: %s: stream stopped within %lld ms", what,
			last_growth > t1 ? last_growth - t1 : 0);
	if (drops1 <= drops0)
		pol_mismatch("%s: backend ingress MICROSEG_DROP_POLICY did not grow (%llu)", what,
			     (unsigned long long)drops1);
}

int main(void)
{
	struct ctx c;

	e2e_init(&c.t, "polrev");
	c.fe = pol_add_ep(&c.t, "frontend", "frontend", "prod", NULL, NULL, NULL);
	c.be = pol_add_ep(&c.t, "backend", "backend", "prod", NULL, "80", NULL);
	c.id_frontend = pol_identity(&c.t, "frontend", "prod", NULL);
	c.id_other = pol_identity(&c.t, "other", "prod", NULL);

	pol_rule_closed(&c.t, "backend-ingress-selected", "backend", MICROSEG_RULE_F_INGRESS);
	c.allow = add_allow(&c);
	pol_expect_tcp(&c.t, c.fe, c.be, POL_V4, 80, true);
	E2E_CHECK(pol_failures() == 0, "the allowed connection does not work: nothing to revoke");

	e2e_log("phase: remove-rule");
	stream_and_revoke(&c, CHANGE_REMOVE_RULE);

	e2e_log("phase: identity");
	c.allow = add_allow(&c);
	pol_expect_tcp(&c.t, c.fe, c.be, POL_V4, 80, true);
	stream_and_revoke(&c, CHANGE_IDENTITY);

	/* Back to its own identity: allowed again. */
	e2e_log("phase: identity-restored");
	E2E_OK(&c.t, microseg_endpoint_set_identity(c.t.ctx, c.fe->ep, c.id_frontend));
	pol_expect_tcp(&c.t, c.fe, c.be, POL_V4, 80, true);

	E2E_OK(&c.t, microseg_identity_put(c.t.ctx, c.id_frontend));
	E2E_OK(&c.t, microseg_identity_put(c.t.ctx, c.id_other));
	pol_finish(&c.t);
	return 0;
}
