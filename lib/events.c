// SPDX-License-Identifier: Apache-2.0
/*
 * Flow events: the consumer side of the datapath's ring buffer. Records are decoded into
 * struct microseg_event (by their own version and length, so an older library reads what it
 * knows of a newer datapath's records), filtered, and handed to the caller's callback.
 * Nothing is queued in userspace: what is not read stays in the ring, and what the ring cannot
 * take is counted by the datapath.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

struct ms_events {
	struct ring_buffer *rb;
	microseg_event_fn fn;
	void *user;
	struct microseg_event_filter filter;
	int64_t mono_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC at subscribe */
	uint64_t read, delivered, filtered;
};

void ms_events_free(struct microseg_ctx *ctx)
{
	if (!ctx->ev)
		return;
	ring_buffer__free(ctx->ev->rb);
	free(ctx->ev);
	ctx->ev = NULL;
}

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void addr_text(uint8_t family, const uint8_t *bytes, char *out, size_t len)
{
	if (!inet_ntop(family == MS_FAMILY_IPV6 ? AF_INET6 : AF_INET, bytes, out, (socklen_t)len))
		snprintf(out, len, "?");
}

static void fill_endpoint_name(struct microseg_ctx *ctx, struct microseg_event *ev)
{
	const struct microseg_endpoint *e = ms_endpoint_by_id(ctx, ev->endpoint_id);
	if (e)
		snprintf(ev->endpoint_name, sizeof(ev->endpoint_name), "%s", e->name[0] ? e->name : e->ifname);
}

static void start_event(struct microseg_ctx *ctx, const struct ms_event_hdr *h, uint32_t type, struct microseg_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->sz = sizeof(*ev);
	ev->type = type;
	ev->version = h->version;
	ev->time_ns = (uint64_t)((int64_t)h->ts_ns + ctx->ev->mono_to_real_ns);
}

/* An HTTP request judged by the proxy. */
static bool decode_l7(struct microseg_ctx *ctx, const void *data, const struct ms_event_hdr *h,
		      struct microseg_event *ev)
{
	if (h->len < offsetof(struct ms_event_l7, path) + 1)
		return false;
	struct ms_event_l7 r = { 0 };
	memcpy(&r, data, h->len < sizeof(r) ? h->len : sizeof(r));
	r.method[sizeof(r.method) - 1] = r.path[sizeof(r.path) - 1] = '\0';
	start_event(ctx, h, MICROSEG_EVENT_L7, ev);
	ev->endpoint_id = r.ep_id;
	ev->direction = r.dir == MS_DIR_INGRESS ? MICROSEG_DIR_INGRESS : MICROSEG_DIR_EGRESS;
	ev->verdict = r.verdict == MS_VERDICT_DROPPED ? MICROSEG_DROPPED : MICROSEG_FORWARDED;
	ev->src_identity = r.src_identity;
	ev->dst_identity = r.dst_identity;
	addr_text(r.family, r.saddr, ev->src_addr, sizeof(ev->src_addr));
	addr_text(r.family, r.daddr, ev->dst_addr, sizeof(ev->dst_addr));
	ev->src_port = ntohs(r.sport);
	ev->dst_port = ntohs(r.dport);
	ev->proto = IPPROTO_TCP;
	snprintf(ev->http_method, sizeof(ev->http_method), "%s", r.method);
	snprintf(ev->http_path, sizeof(ev->http_path), "%s", r.path);
	ev->http_status = r.status;
	ev->latency_us = r.latency_us;
	const struct microseg_endpoint *e = ms_endpoint_by_id(ctx, r.ep_id);
	if (e)
		ev->ifindex = e->ifindex; /* the proxy knows the endpoint, not its interface */
	fill_endpoint_name(ctx, ev);
	return true;
}

/* A service translation: the client (known per packet only), the backend, the frontend. */
static bool decode_svc(struct microseg_ctx *ctx, const void *data, const struct ms_event_hdr *h,
		       struct microseg_event *ev)
{
	if (h->len < offsetof(struct ms_event_svc, pad2))
		return false;
	struct ms_event_svc r = { 0 };
	memcpy(&r, data, h->len < sizeof(r) ? h->len : sizeof(r));
	start_event(ctx, h, MICROSEG_EVENT_SERVICE, ev);
	ev->endpoint_id = r.ep_id;
	ev->direction = MICROSEG_DIR_EGRESS;
	ev->verdict = r.backend_id ? MICROSEG_FORWARDED : MICROSEG_DROPPED;
	ev->drop_reason = r.backend_id ? 0 : MS_DROP_NO_BACKEND;
	ev->proto = r.proto;
	if (r.backend_id) {
		addr_text(r.family, r.backend, ev->dst_addr, sizeof(ev->dst_addr));
		ev->dst_port = ntohs(r.backend_port);
	}
	ev->service_id = r.svc_id;
	addr_text(r.family, r.vip, ev->service_addr, sizeof(ev->service_addr));
	ev->service_port = ntohs(r.vip_port);
	ev->service_hook = r.hook;
	if (r.hook == MS_SVC_HOOK_TC && h->len >= offsetof(struct ms_event_svc, pad3)) {
		addr_text(r.family, r.client, ev->src_addr, sizeof(ev->src_addr));
		ev->src_port = ntohs(r.client_port);
		const struct microseg_endpoint *e = ms_endpoint_by_id(ctx, r.ep_id);
		if (e)
			ev->src_identity = microseg_identity_id(e->identity);
	}
	fill_endpoint_name(ctx, ev);
	return true;
}

/* Decodes one record; returns false for a record too short to be an event. */
static bool decode(struct microseg_ctx *ctx, const void *data, size_t size, struct microseg_event *ev)
{
	const struct ms_event_hdr *h = data;
	if (size < sizeof(*h) || h->len > size)
		return false;
	if (h->type == MS_EVENT_L7)
		return decode_l7(ctx, data, h, ev);
	if (h->type == MS_EVENT_SERVICE)
		return decode_svc(ctx, data, h, ev);
	if ((h->type != MS_EVENT_FLOW_NEW && h->type != MS_EVENT_DROP) ||
	    h->len < offsetof(struct ms_event_flow, pad2))
		return false;
	/* Fields past the writer's record are zero: a newer library reading an older datapath. */
	struct ms_event_flow f = { 0 };
	memcpy(&f, data, h->len < sizeof(f) ? h->len : sizeof(f));
	start_event(ctx, h, h->type == MS_EVENT_FLOW_NEW ? MICROSEG_EVENT_FLOW_NEW : MICROSEG_EVENT_DROP, ev);
	ev->endpoint_id = f.ep_id;
	ev->ifindex = f.ifindex;
	ev->direction = f.dir == MS_DIR_INGRESS ? MICROSEG_DIR_INGRESS : MICROSEG_DIR_EGRESS;
	ev->verdict = f.verdict == MS_VERDICT_DROPPED ? MICROSEG_DROPPED : MICROSEG_FORWARDED;
	ev->drop_reason = f.reason;
	ev->rule_id = f.rule_id;
	ev->src_identity = f.src_identity;
	ev->dst_identity = f.dst_identity;
	addr_text(f.family, f.saddr, ev->src_addr, sizeof(ev->src_addr));
	addr_text(f.family, f.daddr, ev->dst_addr, sizeof(ev->dst_addr));
	ev->src_port = ntohs(f.sport);
	ev->dst_port = ntohs(f.dport);
	ev->proto = f.proto;
	ev->icmp_type = f.icmp_type;
	ev->bytes = f.bytes;
	fill_endpoint_name(ctx, ev);
	return true;
}

static bool pass(const struct microseg_event_filter *f, const struct microseg_event *ev)
{
	if (f->endpoint_id && f->endpoint_id != ev->endpoint_id)
		return false;
	if (f->identity && f->identity != ev->src_identity && f->identity != ev->dst_identity)
		return false;
	if (f->verdicts) {
		uint32_t bit = ev->verdict == MICROSEG_DROPPED ? MICROSEG_EVENT_F_DROPPED : MICROSEG_EVENT_F_FORWARDED;
		if (!(f->verdicts & bit))
			return false;
	}
	return true;
}

static int on_record(void *arg, void *data, size_t size)
{
	struct microseg_ctx *ctx = arg;
	struct microseg_event ev;
	ctx->ev->read++;
	if (!decode(ctx, data, size, &ev) || !pass(&ctx->ev->filter, &ev)) {
		ctx->ev->filtered++;
		return 0;
	}
	ctx->ev->delivered++;
	ctx->ev->fn(ctx->ev->user, &ev);
	return 0;
}

MICROSEG_API int microseg_events_subscribe(struct microseg_ctx *ctx, const struct microseg_event_filter *filter,
					   microseg_event_fn fn, void *user)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!fn || !MS_OPTS_OK(filter, struct microseg_event_filter) ||
	    (MS_OPT(filter, verdicts, 0) & ~(MICROSEG_EVENT_F_FORWARDED | MICROSEG_EVENT_F_DROPPED))) {
		err = ms_err(ctx, -EINVAL, "events: callback is NULL, filter->sz is wrong or unknown verdict bits");
		goto out;
	}
	if (ms_ctx_offline(ctx)) {
		err = ms_err(ctx, -EOPNOTSUPP, "events: a context without datapath has no events");
		goto out;
	}
	if (!ctx->ev) {
		struct ms_events *ev = calloc(1, sizeof(*ev));
		if (!ev) {
			err = -ENOMEM;
			goto out;
		}
		ev->rb = ring_buffer__new(ctx->dp.map_fd[MS_M_EVENTS], on_record, ctx, NULL);
		if (!ev->rb) {
			err = ms_err(ctx, -errno ? -errno : -EINVAL, "events: cannot map the ring buffer");
			free(ev);
			goto out;
		}
		ctx->ev = ev;
	}
	ctx->ev->fn = fn;
	ctx->ev->user = user;
	memset(&ctx->ev->filter, 0, sizeof(ctx->ev->filter));
	ctx->ev->filter.endpoint_id = MS_OPT(filter, endpoint_id, 0);
	ctx->ev->filter.identity = MS_OPT(filter, identity, 0);
	ctx->ev->filter.verdicts = MS_OPT(filter, verdicts, 0);
	ctx->ev->mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_events_unsubscribe(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = ctx->ev ? 0 : ms_err(ctx, -ENOENT, "events: not subscribed");
	ms_events_free(ctx);
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_events_fd(struct microseg_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int fd = ctx->ev ? ring_buffer__epoll_fd(ctx->ev->rb) : ms_err(ctx, -ENOENT, "events: not subscribed");
	MS_UNLOCK(ctx);
	return fd;
}

MICROSEG_API int microseg_events_process(struct microseg_ctx *ctx, int timeout_ms)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int fd = ctx->ev ? ring_buffer__epoll_fd(ctx->ev->rb) : -1;
	if (fd < 0) {
		int err = ms_err(ctx, -ENOENT, "events: not subscribed");
		MS_UNLOCK(ctx);
		return err;
	}
	uint64_t before = ctx->ev->read;
	int n = ring_buffer__consume(ctx->ev->rb);
	MS_UNLOCK(ctx);
	if (n < 0)
		return n;
	if (n > 0 || timeout_ms == 0)
		return n;
	/* Wait without the lock, so other threads can use the context meanwhile. */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) < 0)
		return -errno;
	MS_LOCK(ctx);
	if (!ctx->ev) {
		MS_UNLOCK(ctx);
		return -ENOENT;
	}
	before = ctx->ev->read;
	n = ring_buffer__consume(ctx->ev->rb);
	n = n < 0 ? n : (int)(ctx->ev->read - before);
	MS_UNLOCK(ctx);
	return n;
}

/* Sums the datapath's per-CPU event counters. */
static int event_state(struct microseg_ctx *ctx, struct ms_event_state *sum)
{
	int ncpu = ctx->dp.ncpus;
	struct ms_event_state *v = calloc((size_t)ncpu, sizeof(*v));
	uint32_t zero = 0;
	if (!v)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	int err = 0;
	if (bpf_map_lookup_elem(ctx->dp.map_fd[MS_M_EVENT_STATE], &zero, v))
		err = ms_err(ctx, -errno, "events: cannot read the event counters");
	for (int c = 0; c < ncpu && !err; c++) {
		sum->emitted += v[c].emitted;
		sum->limited += v[c].limited;
		sum->lost += v[c].lost;
	}
	free(v);
	return err;
}

int ms_events_counters(struct microseg_ctx *ctx, uint64_t *emitted, uint64_t *limited, uint64_t *lost)
{
	struct ms_event_state s = { 0 };
	int err = ms_ctx_offline(ctx) ? 0 : event_state(ctx, &s);
	*emitted = s.emitted;
	*limited = s.limited;
	*lost = s.lost;
	return err;
}

MICROSEG_API int microseg_events_get_stats(struct microseg_ctx *ctx, struct microseg_event_stats *stats)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	int err = 0;
	if (!stats || stats->sz < offsetof(struct microseg_event_stats, emitted) + sizeof(uint64_t)) {
		err = ms_err(ctx, -EINVAL, "events: stats is NULL or stats->sz too small");
		goto out;
	}
	struct microseg_event_stats out = { .sz = sizeof(out) };
	err = ms_events_counters(ctx, &out.emitted, &out.rate_limited, &out.lost);
	if (err)
		goto out;
	if (ctx->ev) {
		out.delivered = ctx->ev->delivered;
		out.filtered = ctx->ev->filtered;
	}
	size_t keep = stats->sz;
	memcpy(stats, &out, keep < sizeof(out) ? keep : sizeof(out));
	stats->sz = keep;
out:
	MS_UNLOCK(ctx);
	return err;
}

MICROSEG_API int microseg_events_set_rate(struct microseg_ctx *ctx, uint32_t rate, uint32_t burst)
{
	if (!ctx)
		return -EINVAL;
	MS_LOCK(ctx);
	MS_REFUSE_READ_ONLY(ctx, "events set_rate");
	int err = 0;
	if ((rate == 0) != (burst == 0)) {
		err = ms_err(ctx, -EINVAL, "events: rate and burst are both 0 (off) or both set");
		goto out;
	}
	if (ms_ctx_offline(ctx))
		goto out;
	struct ms_config c;
	if ((err = ms_dp_config_get(ctx, &c)))
		goto out;
	c.event_rate = rate;
	c.event_burst = burst;
	c.flags = rate ? c.flags | MS_CFG_F_EVENTS : c.flags & ~MS_CFG_F_EVENTS;
	err = ms_dp_config_set(ctx, &c);
out:
	MS_UNLOCK(ctx);
	return err;
}
