/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicroseg: conventions shared by every object family.
 *
 * - Every call that can fail returns 0 (or a documented non-negative value) on success and a
 *   negative errno on failure. Output parameters are written only on success.
 * - Options structs start with `size_t sz`; fill them with MICROSEG_OPTS() so that a binary
 *   built against an older header keeps working when fields are appended. A struct larger than
 *   the library knows is accepted only if the unknown tail is all zero (else -EINVAL).
 * - Every handle is opaque and belongs to one context. No global state: two contexts in one
 *   process never interfere.
 * - Thread safety: unless a call says otherwise, every call that takes a context is safe to
 *   call from any thread; calls on one context are serialised by a mutex in that context.
 */
#ifndef MICROSEG_COMMON_H
#define MICROSEG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MICROSEG_API __attribute__((visibility("default")))
#else
#define MICROSEG_API
#endif

#define MICROSEG_VERSION_MAJOR 0
#define MICROSEG_VERSION_MINOR 1
#define MICROSEG_VERSION_PATCH 0

/* Declares a zero-filled options struct of TYPE named NAME with `sz` set, plus fields. */
#define MICROSEG_OPTS(TYPE, NAME, ...)                                                             \
	struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

/* Version of the library actually loaded, as MAJOR*10000 + MINOR*100 + PATCH.
 * Thread-safe. */
MICROSEG_API uint32_t microseg_version(void);

/* A static English description of a return code (pass the negative value or its absolute
 * value). Never NULL. Thread-safe. */
MICROSEG_API const char *microseg_strerror(int err);

/* Log levels for the per-context log callback. */
enum microseg_log_level {
	MICROSEG_LOG_ERROR = 0,
	MICROSEG_LOG_WARN = 1,
	MICROSEG_LOG_INFO = 2,
	MICROSEG_LOG_DEBUG = 3,
};

/* Log callback: receives one already formatted line without trailing newline. Called with the
 * context's mutex held: it must not call back into the same context. */
typedef void (*microseg_log_fn)(void *user, int level, const char *line);

/* Limits that the API checks (and reports with -EINVAL / -E2BIG / -ENAMETOOLONG). */
#define MICROSEG_INSTANCE_NAME_MAX 32   /* [A-Za-z0-9_.-], not starting with '.' */
#define MICROSEG_LABEL_MAX 255          /* bytes in one "source:key=value" label */
#define MICROSEG_LABELS_MAX 64          /* labels in one set */
#define MICROSEG_ENDPOINT_NAME_MAX 63   /* caller's name for an endpoint */
#define MICROSEG_ENDPOINT_ADDRS_MAX 8   /* addresses per endpoint */
#define MICROSEG_PATH_MAX 200           /* bpffs and state directories */

#ifdef __cplusplus
}
#endif
#endif
