/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl: whole lists out of the library's (buffer, cap, count) list calls. */
#include <errno.h>
#include <stdlib.h>

#include "msegctl.h"

typedef int (*fetch_fn)(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count);

/* Grows the buffer until the list fits (-ENOSPC says how many there are). */
static int fetch_all(struct microseg_ctx *ctx, fetch_fn fetch, size_t elem, void **out, size_t *n)
{
	size_t cap = 32, count = 0;
	void *buf = NULL;

	for (;;) {
		void *grown = realloc(buf, cap * elem);
		if (!grown) {
			free(buf);
			return -ENOMEM;
		}
		buf = grown;
		int err = fetch(ctx, buf, cap, &count);
		if (!err) {
			*out = buf;
			*n = count;
			return 0;
		}
		/* count <= cap with -ENOSPC would loop forever: report it instead. */
		if (err != -ENOSPC || count <= cap) {
			free(buf);
			return err;
		}
		cap = count + 16; /* room for what may be added meanwhile */
	}
}

static int fetch_endpoints(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count)
{
	return microseg_endpoint_list(ctx, buf, cap, count);
}

static int fetch_identities(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count)
{
	return microseg_identity_list(ctx, buf, cap, count);
}

static int fetch_rules(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count)
{
	return microseg_rule_list(ctx, buf, cap, count);
}

static int fetch_policies(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count)
{
	return microseg_policy_list(ctx, buf, cap, count);
}

int list_endpoints(struct microseg_ctx *ctx, struct microseg_endpoint ***eps, size_t *n)
{
	return fetch_all(ctx, fetch_endpoints, sizeof(**eps), (void **)eps, n);
}

int list_identities(struct microseg_ctx *ctx, uint32_t **ids, size_t *n)
{
	return fetch_all(ctx, fetch_identities, sizeof(**ids), (void **)ids, n);
}

int list_rules(struct microseg_ctx *ctx, struct microseg_rule ***rules, size_t *n)
{
	return fetch_all(ctx, fetch_rules, sizeof(**rules), (void **)rules, n);
}

int list_policies(struct microseg_ctx *ctx, const char ***names, size_t *n)
{
	return fetch_all(ctx, fetch_policies, sizeof(**names), (void **)names, n);
}

static int fetch_services(struct microseg_ctx *ctx, void *buf, size_t cap, size_t *count)
{
	return microseg_service_list(ctx, buf, cap, count);
}

int list_services(struct microseg_ctx *ctx, struct microseg_service ***svcs, size_t *n)
{
	return fetch_all(ctx, fetch_services, sizeof(**svcs), (void **)svcs, n);
}
