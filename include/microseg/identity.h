/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities: a set of labels mapped to a numeric id that the datapath carries.
 *
 * A label is "source:key=value" (source and key required, value may be empty: "k8s:app=",
 * or "source:key", which is canonicalised to "source:key="). The source is [A-Za-z0-9_.-]+;
 * key and value are printable ASCII without space and ',' (the canonical form joins labels
 * with ','); '=' ends the key and may not appear in the value. At most MICROSEG_LABEL_MAX bytes
 * per label, MICROSEG_LABELS_MAX labels per set. A set is order-insensitive; duplicate keys
 * (same source and key) are rejected. A "reserved:" label must be alone and be one of
 * reserved:host, reserved:world, reserved:unmanaged.
 *
 * Numeric ids:
 *   1..255          reserved (MICROSEG_IDENTITY_HOST, _WORLD, _UNMANAGED; the label set
 *                   {"reserved:host"} etc. maps to them)
 *   256..65535      explicit: pinned by an orchestrator with microseg_identity_get_explicit()
 *                   so that every host gives a label set the same id
 *   65536..2^24-1   local: allocated by this instance, stable for as long as any reference
 *                   (endpoint, handle) holds the identity, and across reopen of the instance
 *
 * Handles are refcounted: every successful get returns a reference, release it with
 * microseg_identity_put(). Endpoints hold their own reference.
 */
#ifndef MICROSEG_IDENTITY_H
#define MICROSEG_IDENTITY_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;
struct microseg_identity;

enum microseg_reserved_identity {
	MICROSEG_IDENTITY_UNKNOWN = 0,   /* never assigned; "no identity" */
	MICROSEG_IDENTITY_HOST = 1,      /* this host's own addresses */
	MICROSEG_IDENTITY_WORLD = 2,     /* anything outside the managed endpoints and the host */
	MICROSEG_IDENTITY_UNMANAGED = 3, /* local interfaces not managed by this instance */
};

#define MICROSEG_IDENTITY_RESERVED_MAX 255u
#define MICROSEG_IDENTITY_EXPLICIT_MIN 256u
#define MICROSEG_IDENTITY_EXPLICIT_MAX 65535u
#define MICROSEG_IDENTITY_LOCAL_MIN 65536u
#define MICROSEG_IDENTITY_LOCAL_MAX 16777215u

/*
 * Returns a reference to the identity of a label set, allocating a local id if the set is new.
 * labels: n strings (n >= 1). Errors: -EINVAL ctx/labels/id NULL, n == 0, malformed label (the
 * last error names it), duplicate key; -E2BIG more than MICROSEG_LABELS_MAX labels;
 * -ENAMETOOLONG a label longer than MICROSEG_LABEL_MAX; -ENOSPC local id range exhausted;
 * -ENOMEM. Thread-safe.
 */
MICROSEG_API int microseg_identity_get(struct microseg_ctx *ctx, const char *const *labels, size_t n,
				       struct microseg_identity **id);

/*
 * Like microseg_identity_get() but binds the label set to the given explicit id (256..65535),
 * as an orchestrator does so that all hosts agree. Asking again with the same set and id
 * returns another reference. Errors: as microseg_identity_get(), plus -ERANGE id outside the
 * explicit range; -EEXIST the id is bound to another set, or the set already has another id.
 * Thread-safe.
 */
MICROSEG_API int microseg_identity_get_explicit(struct microseg_ctx *ctx, const char *const *labels,
						size_t n, uint32_t numeric_id,
						struct microseg_identity **id);

/*
 * Returns a new reference to the identity currently bound to numeric_id (including reserved
 * ones). Errors: -EINVAL NULL argument; -ENOENT no such identity. Thread-safe.
 */
MICROSEG_API int microseg_identity_lookup(struct microseg_ctx *ctx, uint32_t numeric_id,
					  struct microseg_identity **id);

/*
 * Releases a reference. When the last one goes, a local or explicit id is freed (and may be
 * given to another label set later). Reserved identities are never freed.
 * Errors: -EINVAL NULL; -ENOENT id is not a live identity of ctx (nothing is changed).
 * Thread-safe.
 */
MICROSEG_API int microseg_identity_put(struct microseg_ctx *ctx, struct microseg_identity *id);

/* Numeric id of a live identity handle; 0 if id is NULL. Thread-safe. */
MICROSEG_API uint32_t microseg_identity_id(const struct microseg_identity *id);

/* Number of labels of the identity (0 if NULL). Thread-safe. */
MICROSEG_API size_t microseg_identity_label_count(const struct microseg_identity *id);

/* The i-th label in canonical (sorted) order, or NULL if out of range. Valid while the
 * identity is referenced. Thread-safe. */
MICROSEG_API const char *microseg_identity_label(const struct microseg_identity *id, size_t i);

/*
 * Writes the live identities' numeric ids, ascending, into ids[0..cap) and their number into
 * *count. Returns 0, or -ENOSPC if cap < *count (ids holds the first cap). ids may be NULL
 * when cap is 0. Errors: -EINVAL ctx or count NULL. Thread-safe.
 */
MICROSEG_API int microseg_identity_list(struct microseg_ctx *ctx, uint32_t *ids, size_t cap,
					size_t *count);

/*
 * Canonicalises a label set without a context: sorts, checks, and writes the labels joined by
 * ',' into buf (NUL-terminated). Returns the length written (>= 0) or a negative errno as
 * microseg_identity_get(), or -ENOSPC if buf is too small. Thread-safe.
 */
MICROSEG_API int microseg_labels_canonical(const char *const *labels, size_t n, char *buf,
					   size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
