/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the unit tests: in-memory contexts, state snapshots to prove that a failed
 * call changed nothing, and reference counting checks done only through the public API.
 */
#ifndef MS_UNIT_UTIL_H
#define MS_UNIT_UTIL_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include <microseg/microseg.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A context that needs no privileges and touches neither bpffs nor /run. */
static inline struct microseg_ctx *ut_open_named(const char *instance)
{
	MICROSEG_OPTS(microseg_ctx_opts, o, .instance = instance, .flags = MICROSEG_CTX_F_NO_DATAPATH);
	struct microseg_ctx *ctx = NULL;
	int rc = microseg_ctx_open(&o, &ctx);

	if (rc) {
		fprintf(stderr, "microseg_ctx_open(NO_DATAPATH, %s): %d %s\n",
			instance ? instance : "(default)", rc, microseg_strerror(rc));
		return NULL;
	}
	return ctx;
}

static inline struct microseg_ctx *ut_open(void)
{
	return ut_open_named("unit");
}

/* Everything a failed call must leave alone: live identity ids and endpoint handles. */
#define UT_SNAP_IDS 512
#define UT_SNAP_EPS 64
struct ut_snap {
	int id_rc, ep_rc;
	size_t n_ids, n_eps;
	uint32_t ids[UT_SNAP_IDS];
	struct microseg_endpoint *eps[UT_SNAP_EPS];
	uint32_t ep_identity[UT_SNAP_EPS];
	size_t ep_addrs[UT_SNAP_EPS];
};

static inline void ut_snap_take(struct microseg_ctx *ctx, struct ut_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->id_rc = microseg_identity_list(ctx, s->ids, UT_SNAP_IDS, &s->n_ids);
	s->ep_rc = microseg_endpoint_list(ctx, s->eps, UT_SNAP_EPS, &s->n_eps);
	for (size_t i = 0; i < s->n_eps && i < UT_SNAP_EPS; i++) {
		s->ep_identity[i] = microseg_identity_id(microseg_endpoint_identity(s->eps[i]));
		s->ep_addrs[i] = microseg_endpoint_addr_count(s->eps[i]);
	}
}

static inline bool ut_snap_equal(const struct ut_snap *a, const struct ut_snap *b)
{
	return a->id_rc == 0 && b->id_rc == 0 && a->ep_rc == 0 && b->ep_rc == 0 &&
	       a->n_ids == b->n_ids && a->n_eps == b->n_eps &&
	       memcmp(a->ids, b->ids, a->n_ids * sizeof(a->ids[0])) == 0 &&
	       memcmp(a->eps, b->eps, a->n_eps * sizeof(a->eps[0])) == 0 &&
	       memcmp(a->ep_identity, b->ep_identity, a->n_eps * sizeof(a->ep_identity[0])) == 0 &&
	       memcmp(a->ep_addrs, b->ep_addrs, a->n_eps * sizeof(a->ep_addrs[0])) == 0;
}

/* Asserts that the context's state is the one recorded in *before. */
#define CHECK_UNCHANGED(ctx, before)                                                               \
	do {                                                                                       \
		struct ut_snap *h_after_ = malloc(sizeof(struct ut_snap));                         \
		h_checks++;                                                                        \
		if (!h_after_) {                                                                   \
			h_fail(__FILE__, __LINE__, "out of memory for snapshot");                  \
			break;                                                                     \
		}                                                                                  \
		ut_snap_take((ctx), h_after_);                                                     \
		if (!ut_snap_equal((before), h_after_))                                            \
			h_fail(__FILE__, __LINE__,                                                 \
			       "state changed: identities %zu -> %zu, endpoints %zu -> %zu",       \
			       (before)->n_ids, h_after_->n_ids, (before)->n_eps, h_after_->n_eps); \
		free(h_after_);                                                                    \
	} while (0)

static inline size_t ut_identity_count(struct microseg_ctx *ctx)
{
	size_t n = 0;
	int rc = microseg_identity_list(ctx, NULL, 0, &n);

	return (rc == 0 || rc == -ENOSPC) ? n : (size_t)-1;
}

static inline size_t ut_endpoint_count(struct microseg_ctx *ctx)
{
	size_t n = 0;
	int rc = microseg_endpoint_list(ctx, NULL, 0, &n);

	return (rc == 0 || rc == -ENOSPC) ? n : (size_t)-1;
}

/* Whether numeric id is bound in ctx; the extra reference lookup takes is given back. */
static inline bool ut_id_live(struct microseg_ctx *ctx, uint32_t numeric)
{
	struct microseg_identity *h = NULL;

	if (microseg_identity_lookup(ctx, numeric, &h) != 0)
		return false;
	microseg_identity_put(ctx, h);
	return true;
}

/*
 * Proves that the identity has exactly `refs` references, consuming all of them: after each of
 * the first refs-1 puts it must still be live, after the last one its id must be gone. Stops
 * early (without touching a possibly freed handle) if the identity vanishes too soon.
 * Only for local and explicit identities (reserved ones are never freed).
 */
#define CHECK_REFS_AND_DROP(ctx, handle, refs)                                                     \
	do {                                                                                       \
		struct microseg_identity *h_h_ = (handle);                                         \
		uint32_t h_num_ = microseg_identity_id(h_h_);                                      \
		unsigned h_refs_ = (refs);                                                         \
		h_checks++;                                                                        \
		for (unsigned h_i_ = 1; h_i_ <= h_refs_; h_i_++) {                                 \
			int h_rc_ = microseg_identity_put((ctx), h_h_);                            \
			if (h_rc_ != 0) {                                                          \
				h_fail(__FILE__, __LINE__, "put %u of %u on id %u: rc %d", h_i_,   \
				       h_refs_, h_num_, h_rc_);                                    \
				break;                                                             \
			}                                                                          \
			bool h_live_ = ut_id_live((ctx), h_num_);                                  \
			if (h_i_ < h_refs_ && !h_live_) {                                          \
				h_fail(__FILE__, __LINE__,                                         \
				       "id %u freed after %u puts, expected %u references", h_num_, \
				       h_i_, h_refs_);                                             \
				break;                                                             \
			}                                                                          \
			if (h_i_ == h_refs_ && h_live_)                                            \
				h_fail(__FILE__, __LINE__,                                         \
				       "id %u still live after %u puts: more than %u references",  \
				       h_num_, h_i_, h_refs_);                                     \
		}                                                                                  \
	} while (0)

/* Up to `max` interfaces that exist here, lo first; returns how many were found. */
static inline size_t ut_interfaces(unsigned *idx, char (*names)[IF_NAMESIZE], size_t max)
{
	struct if_nameindex *all = if_nameindex(), *p;
	size_t n = 0;

	if (max == 0)
		return 0;
	idx[n] = if_nametoindex("lo");
	if (idx[n]) {
		snprintf(names[n], IF_NAMESIZE, "lo");
		n++;
	}
	for (p = all; p && p->if_index && n < max; p++) {
		if (strcmp(p->if_name, "lo") == 0)
			continue;
		idx[n] = p->if_index;
		snprintf(names[n], IF_NAMESIZE, "%s", p->if_name);
		n++;
	}
	if (all)
		if_freenameindex(all);
	return n;
}

/* An identity for a one-label set "unit:<tag>=<value>"; NULL (and a failure) if get fails. */
static inline struct microseg_identity *ut_ident(struct microseg_ctx *ctx, const char *tag)
{
	char label[128];
	const char *labels[] = { label };
	struct microseg_identity *id = NULL;
	int rc;

	snprintf(label, sizeof(label), "unit:app=%s", tag);
	rc = microseg_identity_get(ctx, labels, 1, &id);
	if (rc) {
		h_fail(__FILE__, __LINE__, "identity_get(%s): %d", label, rc);
		return NULL;
	}
	return id;
}

#endif
