/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for address (and MAC, name) parsing through microseg_endpoint_add() on an
 * in-memory context, on the loopback interface (nothing is attached in that mode).
 *
 * Input: the first byte holds mode bits, the rest is split on '\n'.
 *   bit 0: the first line is the MAC
 *   bit 1: the next line is the endpoint name
 *   bit 2: give the interface by ifindex instead of by name
 * Every remaining line is an address ("\x01" alone stands for a NULL entry).
 *
 * Without a MAC, the outcome is compared with a reference reading of the header's contract:
 * each address an inet_pton() IPv4 or IPv6 literal with an optional "/32" or "/128", at most
 * MICROSEG_ENDPOINT_ADDRS_MAX, no two equal, name at most MICROSEG_ENDPOINT_NAME_MAX bytes
 * (names outside printable ASCII are left out of the comparison: the header is silent on them).
 * Accepted endpoints must report canonical (inet_ntop) addresses that can be added again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microseg/microseg.h>

#define MAX_LINES (MICROSEG_ENDPOINT_ADDRS_MAX + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_addrs: property violated: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

struct parsed {
	int family;
	unsigned char bytes[16];
};

/* Whether a prefix suffix ("/32") is exactly the host prefix `want`; leading zeros allowed,
 * as the header does not rule on them (the library takes "/032" as 32). */
static int host_prefix(const char *slash, const char *want)
{
	const char *p = slash + 1;

	while (*p == '0' && p[1])
		p++;
	return strcmp(p, want) == 0 && strlen(slash + 1) <= 3;
}

/* The contract's reading of one address; 0 if valid. */
static int ref_parse(const char *s, struct parsed *out)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t len;

	if (!s)
		return -1;
	len = strlen(s);
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len + 1);
	slash = strchr(s, '/');
	if (slash)
		tmp[slash - s] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->bytes) == 1) {
		out->family = AF_INET;
		return slash && !host_prefix(slash, "32") ? -1 : 0;
	}
	if (inet_pton(AF_INET6, tmp, out->bytes) == 1) {
		out->family = AF_INET6;
		return slash && !host_prefix(slash, "128") ? -1 : 0;
	}
	return -1;
}

/* Whether the contract accepts the address list and name. */
static int ref_accepts(const char *const *addrs, size_t n, const char *name)
{
	struct parsed p[MAX_LINES];

	if (name && strlen(name) > MICROSEG_ENDPOINT_NAME_MAX)
		return 0;
	if (n > MICROSEG_ENDPOINT_ADDRS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (ref_parse(addrs[i], &p[i]) != 0)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (p[j].family == p[i].family && memcmp(p[j].bytes, p[i].bytes, 16) == 0)
				return 0;
	}
	return 1;
}

static int name_plain(const char *name)
{
	for (const char *p = name; p && *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

static size_t count_eps(struct microseg_ctx *ctx)
{
	size_t n = 0;
	int rc = microseg_endpoint_list(ctx, NULL, 0, &n);

	if (rc != 0 && rc != -ENOSPC)
		fail("endpoint_list failed", NULL);
	return n;
}

/* Checks an accepted endpoint's addresses; copies them into canon[] for a second round. */
static void check_addrs(const struct microseg_endpoint *ep, size_t n, char canon[][INET6_ADDRSTRLEN])
{
	if (microseg_endpoint_addr_count(ep) != n)
		fail("address count differs from the input", NULL);
	for (size_t i = 0; i < n; i++) {
		const char *a = microseg_endpoint_addr(ep, i);
		unsigned char b[16];
		char back[INET6_ADDRSTRLEN];
		int fam;

		if (!a)
			fail("endpoint_addr NULL within range", NULL);
		fam = strchr(a, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, a, b) != 1)
			fail("reported address does not parse", a);
		if (!inet_ntop(fam, b, back, sizeof(back)) || strcmp(back, a) != 0)
			fail("reported address is not in canonical form", a);
		snprintf(canon[i], INET6_ADDRSTRLEN, "%s", a);
	}
	if (microseg_endpoint_addr(ep, n) != NULL)
		fail("endpoint_addr out of range not NULL", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = "fuzz",
		      .flags = MICROSEG_CTX_F_NO_DATAPATH);
	const char *lines[MAX_LINES], *addrs[MAX_LINES];
	const char *mac = NULL, *name = NULL, *label[] = { "fuzz:app=addrs" };
	static char canon[MAX_LINES][INET6_ADDRSTRLEN];
	struct microseg_ctx *ctx = NULL;
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;
	size_t nlines = 0, n = 0, next = 0;
	unsigned mode;
	char *copy;
	int rc;

	if (size < 1 || size > 4096)
		return 0;
	mode = data[0];
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	if (size > 1) {
		for (char *p = copy, *end = copy + size - 1; nlines < MAX_LINES;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl)
				*nl = '\0';
			lines[nlines++] = strcmp(p, "\x01") == 0 ? NULL : p;
			if (!nl)
				break;
			p = nl + 1;
		}
	}
	if ((mode & 1) && next < nlines)
		mac = lines[next++];
	if ((mode & 2) && next < nlines)
		name = lines[next++];
	while (next < nlines)
		addrs[n++] = lines[next++];

	if (microseg_ctx_open(&copts, &ctx) != 0)
		goto out;
	if (microseg_identity_get(ctx, label, 1, &id) != 0)
		fail("identity_get of a fixed valid set failed", NULL);
	{
		MICROSEG_OPTS(microseg_endpoint_opts, o, .addrs = n ? addrs : NULL, .n_addrs = n,
			      .identity = id, .name = name, .mac = mac);
		if (mode & 4)
			o.ifindex = if_nametoindex("lo");
		else
			o.ifname = "lo";
		rc = microseg_endpoint_add(ctx, &o, &ep);
	}
	/* The header sets no character rules for names; the library allows printable ASCII
	 * without spaces. Only names inside that set take part in the comparison. */
	if (!mac && name_plain(name)) {
		int want = ref_accepts(addrs, n, name);
		if (want && rc != 0)
			fail("valid request refused", microseg_ctx_last_error(ctx));
		if (!want && rc == 0)
			fail("invalid request accepted", NULL);
	}
	if (rc != 0) {
		if (rc != -EINVAL && rc != -E2BIG && rc != -EEXIST && rc != -ENAMETOOLONG)
			fail("unexpected error code", microseg_strerror(rc));
		if (ep != NULL)
			fail("out parameter written on failure", NULL);
		if (count_eps(ctx) != 0)
			fail("failed add left an endpoint", NULL);
		if (microseg_ctx_last_error(ctx)[0] == '\0')
			fail("failure without a last error message", NULL);
	} else {
		const char *again[MAX_LINES];
		check_addrs(ep, n, canon);
		if (count_eps(ctx) != 1)
			fail("endpoint not listed once", NULL);
		if (microseg_endpoint_remove(ctx, ep, 0) != 0)
			fail("remove failed", NULL);
		ep = NULL;
		/* the canonical forms are accepted again and map to themselves */
		for (size_t i = 0; i < n; i++)
			again[i] = canon[i];
		{
			MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .addrs = again,
				      .n_addrs = n, .identity = id);
			if (microseg_endpoint_add(ctx, &o, &ep) != 0)
				fail("canonical addresses refused", microseg_ctx_last_error(ctx));
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(microseg_endpoint_addr(ep, i), again[i]) != 0)
				fail("canonical form not stable", again[i]);
		if (microseg_endpoint_remove(ctx, ep, 0) != 0)
			fail("remove failed", NULL);
		if (count_eps(ctx) != 0)
			fail("endpoint left after remove", NULL);
	}
	/* whatever happened, our reference is the only one left */
	{
		uint32_t num = microseg_identity_id(id);
		struct microseg_identity *l = NULL;
		if (microseg_identity_put(ctx, id) != 0)
			fail("put failed", NULL);
		if (microseg_identity_lookup(ctx, num, &l) != -ENOENT)
			fail("identity reference leaked by endpoint_add/remove", NULL);
	}
out:
	microseg_ctx_close(ctx);
	free(copy);
	return 0;
}
