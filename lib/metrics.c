// SPDX-License-Identifier: Apache-2.0
/* Metrics in the Prometheus text exposition format (0.0.4), and the instance status. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "policy_internal.h"

struct text {
	char *buf;
	size_t len, cap;
	int err;
};

static void add(struct text *t, const char *fmt, ...) MS_PRINTF(2, 3);
static void add(struct text *t, const char *fmt, ...)
{
	if (t->err)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->err = -ENOMEM;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void add_label(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			add(t, "\\%c", *v);
		else if (*v == '\n')
			add(t, "\\n");
		else
			add(t, "%c", *v);
	}
}

static void ep_labels(struct text *t, struct microseg_ctx *ctx, const struct microseg_endpoint *e)
{
	add(t, "instance=\"");
	add_label(t, ctx->instance);
	add(t, "\",endpoint_id=\"%u\",interface=\"", e->ep_id);
	add_label(t, e->ifname);
	add(t, "\",endpoint=\"");
	add_label(t, e->name);
	add(t, "\"");
}

static void backend_row(void *user, const struct microseg_service_info *svc, const struct microseg_backend_info *b)
{
	struct text *t = user;
	add(t, "microseg_service_backend_connections_total{service_id=\"%u\",service=\"", svc->id);
	add_label(t, svc->name);
	add(t, "\",frontend=\"%s:%u\",backend=\"%s:%u\",state=\"%s\"} %llu\n", svc->address, svc->port, b->address,
	    b->port, b->state == 0 ? "active" : b->state == 1 ? "terminating" : "maintenance",
	    (unsigned long long)b->connections);
}

/* Per service: connections the datapath sent to each backend (socket and packet paths). */
static void add_service_metrics(struct text *t, struct microseg_ctx *ctx)
{
	add(t, "# HELP microseg_service_backend_connections_total Connections sent to a backend of a service.\n"
	       "# TYPE microseg_service_backend_connections_total counter\n");
	ms_services_each_backend(ctx, backend_row, t);
}

/* L7: requests by verdict and responses by status class, from this process's proxy. */
static void add_proxy_metrics(struct text *t, struct microseg_ctx *ctx)
{
	struct microseg_proxy_stats ps;
	ms_proxy_stats_locked(ctx, &ps);
	add(t, "# HELP microseg_http_requests_total HTTP requests judged by the L7 proxy, by verdict.\n"
	       "# TYPE microseg_http_requests_total counter\n");
	const char *verdicts[] = { "allowed", "denied", "invalid", "upstream_error" };
	uint64_t vals[] = { ps.requests_allowed, ps.requests_denied, ps.requests_invalid, ps.upstream_errors };
	for (int i = 0; i < 4; i++) {
		add(t, "microseg_http_requests_total{instance=\"");
		add_label(t, ctx->instance);
		add(t, "\",verdict=\"%s\"} %llu\n", verdicts[i], (unsigned long long)vals[i]);
	}
	add(t, "# HELP microseg_http_responses_total HTTP responses the L7 proxy sent to clients, by status class.\n"
	       "# TYPE microseg_http_responses_total counter\n");
	for (int c = 1; c <= 5; c++) {
		add(t, "microseg_http_responses_total{instance=\"");
		add_label(t, ctx->instance);
		add(t, "\",status=\"%dxx\"} %llu\n", c, (unsigned long long)ps.status[c]);
	}
}

MICROSEG_API int microseg_metrics_prometheus(struct microseg_ctx *ctx, char **out)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	struct text t = { .cap = 4096 };
	int err = 0;
	if (!out) {
		err = ms_err(ctx, -EINVAL, "metrics: out is NULL");
		goto done;
	}
	if (!(t.buf = malloc(t.cap))) {
		err = -ENOMEM;
		goto done;
	}
	t.buf[0] = '\0';
	struct microseg_endpoint **eps = malloc((ctx->eps.count ? ctx->eps.count : 1) * sizeof(*eps));
	struct ms_ep_stats *st = calloc(ctx->eps.count ? ctx->eps.count : 1, sizeof(*st));
	if (!eps || !st) {
		free(eps);
		free(st);
		err = -ENOMEM;
		goto done;
	}
	size_t n = 0;
	struct ms_hmap *m = &ctx->eps.by_ptr;
	for (size_t b = 0; b < m->nbuckets; b++)
		for (struct ms_hnode *h = m->buckets[b]; h; h = h->next)
			eps[n++] = ms_container_of(h, struct microseg_endpoint, by_ptr);
	for (size_t i = 0; i < n && !err; i++)
		if (!ms_ctx_offline(ctx))
			err = ms_dp_stats_read(ctx, eps[i]->ep_id, &st[i]);
	static const char *const dirs[MS_DIR_MAX] = { [MS_DIR_EGRESS] = "egress", [MS_DIR_INGRESS] = "ingress" };
	static const struct {
		const char *name, *help;
	} fams[] = {
		{ "microseg_endpoint_forwarded_packets_total", "Packets the datapath forwarded, per endpoint and direction." },
		{ "microseg_endpoint_forwarded_bytes_total", "Bytes (whole frames) the datapath forwarded, per endpoint and direction." },
		{ "microseg_endpoint_dropped_packets_total", "Packets the datapath dropped, per endpoint, direction and reason." },
	};
	for (size_t f = 0; f < MS_ARRAY_SIZE(fams) && !err; f++) {
		add(&t, "# HELP %s %s\n# TYPE %s counter\n", fams[f].name, fams[f].help, fams[f].name);
		for (size_t i = 0; i < n; i++)
			for (int d = 0; d < MS_DIR_MAX; d++) {
				if (f < 2) {
					add(&t, "%s{", fams[f].name);
					ep_labels(&t, ctx, eps[i]);
					add(&t, ",direction=\"%s\"} %llu\n", dirs[d],
					    (unsigned long long)(f == 0 ? st[i].fwd[d].packets : st[i].fwd[d].bytes));
					continue;
				}
				for (int r = 1; r < MS_DROP_MAX; r++) {
					/* Every known reason, zero or not, so rates can be taken from the start. */
					if (!st[i].drop[d][r].packets && !strcmp(microseg_drop_reason_name((uint32_t)r), "other"))
						continue;
					add(&t, "%s{", fams[f].name);
					ep_labels(&t, ctx, eps[i]);
					add(&t, ",direction=\"%s\",reason=\"%s\"} %llu\n", dirs[d],
					    microseg_drop_reason_name((uint32_t)r), (unsigned long long)st[i].drop[d][r].packets);
				}
			}
	}
	uint64_t emitted = 0, limited = 0, lost = 0;
	if (!err)
		err = ms_events_counters(ctx, &emitted, &limited, &lost);
	add(&t, "# HELP microseg_events_total Flow events, by what became of them in the datapath.\n"
		"# TYPE microseg_events_total counter\n");
	const char *outcomes[] = { "emitted", "rate_limited", "lost" };
	uint64_t vals[] = { emitted, limited, lost };
	for (int i = 0; i < 3; i++) {
		add(&t, "microseg_events_total{instance=\"");
		add_label(&t, ctx->instance);
		add(&t, "\",outcome=\"%s\"} %llu\n", outcomes[i], (unsigned long long)vals[i]);
	}
	add(&t, "# HELP microseg_endpoints Endpoints under the datapath.\n# TYPE microseg_endpoints gauge\n"
		"microseg_endpoints{instance=\"");
	add_label(&t, ctx->instance);
	add(&t, "\"} %zu\n", n);
	add(&t, "# HELP microseg_policy_revision Revision of the policy in force.\n"
		"# TYPE microseg_policy_revision gauge\nmicroseg_policy_revision{instance=\"");
	add_label(&t, ctx->instance);
	add(&t, "\"} %u\n", ctx->pol ? ctx->pol->rev : 0);
	add_service_metrics(&t, ctx);
	add_proxy_metrics(&t, ctx);
	free(eps);
	free(st);
	if (!err)
		err = t.err;
done:
	if (!err) {
		*out = t.buf;
		t.buf = NULL;
	}
	free(t.buf);
	MS_UNLOCK(ctx);
	return err;
}

static uint32_t count_keys(int fd, size_t key_size)
{
	char *k = malloc(key_size), *next = malloc(key_size);
	uint32_t n = 0;
	if (k && next)
		for (void *prev = NULL; !bpf_map_get_next_key(fd, prev, next); prev = k) {
			memcpy(k, next, key_size);
			n++;
		}
	free(k);
	free(next);
	return n;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Both of the library's filters are on the interface, running the instance's programs. */
static bool attached(struct microseg_ctx *ctx, uint32_t ifindex, uint32_t in_id, uint32_t eg_id)
{
	enum bpf_tc_attach_point pts[] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	uint32_t want[] = { in_id, eg_id };
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = pts[i]);
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = MS_TC_HANDLE, .priority = MS_TC_PRIORITY);
		if (bpf_tc_query(&hook, &o) || o.prog_id != want[i])
			return false;
	}
	return true;
}

MICROSEG_API int microseg_ctx_status(struct microseg_ctx *ctx, struct microseg_status *status)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!status || status->sz < offsetof(struct microseg_status, endpoints) + sizeof(uint32_t)) {
		err = ms_err(ctx, -EINVAL, "status: NULL or status->sz too small");
		goto out;
	}
	struct microseg_status s = { .sz = sizeof(s) };
	s.endpoints = (uint32_t)ctx->eps.count;
	s.identities = (uint32_t)ctx->ids.by_id.count;
	s.max_endpoints = ctx->eps.max;
	for (size_t i = 0; ctx->pol && i < ctx->pol->n_rules; i++)
		s.rules += ctx->pol->rules[i]->state != MS_RULE_PENDING_ADD;
	for (size_t i = 0; ctx->pol && i < ctx->pol->n_docs; i++)
		s.policies += ctx->pol->docs[i]->state != MS_RULE_PENDING_ADD;
	s.policy_revision = ctx->pol ? ctx->pol->rev : 0;
	if (!ms_ctx_offline(ctx)) {
		struct ms_config c = { 0 };
		s.max_ipcache = ctx->dp.meta.max_ipcache;
		s.max_connections = ctx->dp.meta.max_ct;
		s.ipcache_entries = count_keys(ctx->dp.map_fd[MS_M_IPCACHE], sizeof(struct ms_ipcache_key));
		s.connections = count_keys(ctx->dp.map_fd[MS_M_CT], sizeof(struct ms_ct_key));
		if (!(err = ms_dp_config_get(ctx, &c))) {
			s.policy_revision = c.policy_rev;
			s.event_rate = c.flags & MS_CFG_F_EVENTS ? c.event_rate : 0;
			s.event_burst = c.flags & MS_CFG_F_EVENTS ? c.event_burst : 0;
		}
		if (!err)
			err = ms_events_counters(ctx, &s.events_emitted, &s.events_rate_limited, &s.events_lost);
		s.services = count_keys(ctx->dp.map_fd[MS_M_LB_SERVICES], sizeof(struct ms_lb_key));
		s.backends = count_keys(ctx->dp.map_fd[MS_M_LB_BACKENDS], sizeof(uint32_t));
		s.lb_slots = count_keys(ctx->dp.map_fd[MS_M_LB_SLOTS], sizeof(struct ms_lb_slot_key));
		s.max_services = ctx->dp.meta.max_services;
		s.max_backends = ctx->dp.meta.max_backends;
		s.max_lb_slots = ctx->dp.meta.max_lb_slots;
		s.socket_lb_attached = ms_services_attached(ctx);
		s.proxy_port = c.proxy_port;
		s.proxy_connections = count_keys(ctx->dp.map_fd[MS_M_PROXY_CONNS], sizeof(struct ms_proxy_key));
		s.prog_from_container_id = prog_id(ctx->dp.prog_fd[MS_P_FROM_CONTAINER]);
		s.prog_to_container_id = prog_id(ctx->dp.prog_fd[MS_P_TO_CONTAINER]);
		struct ms_hmap *m = &ctx->eps.by_ptr;
		for (size_t b = 0; b < m->nbuckets; b++)
			for (struct ms_hnode *h = m->buckets[b]; h; h = h->next) {
				const struct microseg_endpoint *e = ms_container_of(h, struct microseg_endpoint, by_ptr);
				s.endpoints_attached += attached(ctx, e->ifindex, s.prog_from_container_id,
								 s.prog_to_container_id);
			}
	}
	if (err)
		goto out;
	size_t keep = status->sz;
	memcpy(status, &s, keep < sizeof(s) ? keep : sizeof(s));
	status->sz = keep;
out:
	MS_UNLOCK(ctx);
	return err;
}
