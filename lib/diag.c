// SPDX-License-Identifier: Apache-2.0
/* Error codes, messages and the per-context log callback. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The public drop reasons are the datapath's, by number. */
_Static_assert((int)MICROSEG_DROP_INVALID == (int)MS_DROP_INVALID, "drop reason");
_Static_assert((int)MICROSEG_DROP_POLICY == (int)MS_DROP_POLICY, "drop reason");
_Static_assert((int)MICROSEG_DROP_POLICY_DENY == (int)MS_DROP_POLICY_DENY, "drop reason");
_Static_assert((int)MICROSEG_DROP_SPOOFED_SOURCE == (int)MS_DROP_SPOOFED_SOURCE, "drop reason");
_Static_assert((int)MICROSEG_DROP_CT_FULL == (int)MS_DROP_CT_FULL, "drop reason");
_Static_assert((int)MICROSEG_DROP_REDIRECT_FAIL == (int)MS_DROP_REDIRECT_FAIL, "drop reason");
_Static_assert((int)MICROSEG_DROP_PROXY == (int)MS_DROP_PROXY, "drop reason");
_Static_assert((int)MICROSEG_DROP_NO_BACKEND == (int)MS_DROP_NO_BACKEND, "drop reason");
_Static_assert((int)MICROSEG_DROP_REASONS == (int)MS_DROP_MAX, "drop reason");

MICROSEG_API uint32_t microseg_version(void)
{
	return MICROSEG_VERSION_MAJOR * 10000 + MICROSEG_VERSION_MINOR * 100 + MICROSEG_VERSION_PATCH;
}

MICROSEG_API const char *microseg_strerror(int err)
{
	/* Library-specific wording for the codes the API documents; strerror for the rest. */
	if (err == 0)
		return "success";
	long e = err < 0 ? -(long)err : err;
	switch (e) {
	case EINVAL: return "invalid argument";
	case ENOENT: return "no such object";
	case EEXIST: return "object already exists";
	case ENOSPC: return "no space left (map or id range full, or buffer too small)";
	case E2BIG: return "too many items";
	case ENAMETOOLONG: return "name or label too long";
	case ENODEV: return "no such network interface";
	case EBUSY: return "instance is in use by another context";
	case EPROTO: return "pinned instance has an incompatible layout";
	case ERANGE: return "numeric value out of range";
	case ESHUTDOWN: return "instance was purged";
	case EPERM: return "operation not permitted (needs CAP_BPF and CAP_NET_ADMIN)";
	case ENOMEM: return "out of memory";
	default: break;
	}
	if (e > 4095)
		return "unknown error";
	/* strerror() of glibc returns static strings for known codes and is thread-safe for them;
	 * strerrordesc_np is the thread-safe spelling. */
	const char *s = strerrordesc_np((int)e);
	return s ? s : "unknown error";
}

void ms_log(struct microseg_ctx *ctx, int level, const char *fmt, ...)
{
	if (!ctx || !ctx->log_fn || level > ctx->log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_user, level, line);
}

int ms_err(struct microseg_ctx *ctx, int err, const char *fmt, ...)
{
	if (!ctx)
		return err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->last_error, sizeof(ctx->last_error), fmt, ap);
	va_end(ap);
	ms_log(ctx, MICROSEG_LOG_DEBUG, "error %d (%s): %s", err, microseg_strerror(err), ctx->last_error);
	return err;
}

bool ms_opts_ok(const void *opts, size_t known)
{
	if (!opts)
		return true;
	size_t sz = *(const size_t *)opts;
	if (sz < sizeof(size_t))
		return false;
	const unsigned char *p = opts;
	for (size_t i = known; i < sz; i++)
		if (p[i])
			return false;
	return true;
}

MICROSEG_API const char *microseg_ctx_last_error(const struct microseg_ctx *ctx)
{
	return ctx ? ctx->last_error : "";
}

int ms_list_out(void *all, size_t k, size_t esize, int (*cmp)(const void *, const void *), void *out, size_t cap,
		size_t *count)
{
	if (cmp)
		qsort(all, k, esize, cmp);
	if (cap)
		memcpy(out, all, (k < cap ? k : cap) * esize);
	free(all);
	*count = k;
	return cap < k ? -ENOSPC : 0;
}

MICROSEG_API const char *microseg_drop_reason_name(uint32_t reason)
{
	switch (reason) {
	case MS_DROP_INVALID: return "invalid";
	case MS_DROP_UNKNOWN_L3: return "unknown_l3";
	case MS_DROP_POLICY: return "policy";
	case MS_DROP_POLICY_DENY: return "policy_deny";
	case MS_DROP_SPOOFED_SOURCE: return "spoofed_source";
	case MS_DROP_CT_FULL: return "ct_full";
	case MS_DROP_REDIRECT_FAIL: return "redirect_fail";
	case MS_DROP_PROXY: return "proxy";
	case MS_DROP_NO_BACKEND: return "no_backend";
	default: return "other";
	}
}
