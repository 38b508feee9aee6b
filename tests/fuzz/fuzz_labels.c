/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the label parser. The input is split on '\n' into labels (a "\x00"-free
 * line is one label; a line holding only "\x01" stands for a NULL entry) and fed to
 * microseg_labels_canonical() and microseg_identity_get() on an in-memory context. Besides
 * "no crash, no leak, no hang", it checks properties that hold for any input:
 *  - both entry points accept and refuse the same sets with the same code;
 *  - an accepted set's canonical text is reproduced by its identity's labels, and the reversed
 *    set gets the same identity;
 *  - a refused set leaves the context's identity list as it was;
 *  - dropping every reference frees the id again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microseg/microseg.h>

#define MAX_LABELS (MICROSEG_LABELS_MAX + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_labels: property violated: %s\n", what);
	abort();
}

static size_t count_ids(struct microseg_ctx *ctx)
{
	size_t n = 0;
	int rc = microseg_identity_list(ctx, NULL, 0, &n);

	if (rc != 0 && rc != -ENOSPC)
		fail("identity_list failed");
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MICROSEG_OPTS(microseg_ctx_opts, copts, .instance = "fuzz",
		      .flags = MICROSEG_CTX_F_NO_DATAPATH);
	const char *labels[MAX_LABELS], *reversed[MAX_LABELS];
	char *copy, *canon = NULL, *canon2 = NULL;
	struct microseg_ctx *ctx = NULL;
	struct microseg_identity *id = NULL, *id2 = NULL;
	size_t n = 0, buflen, base;
	int crc, grc;

	if (size > 64 * 1024)
		return 0;
	/* a private, NUL-terminated copy that the labels point into */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *p = copy, *end = copy + size; n < MAX_LABELS;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			*nl = '\0';
		labels[n++] = strcmp(p, "\x01") == 0 ? NULL : p;
		if (!nl)
			break;
		p = nl + 1;
	}
	/* the canonical text of a valid set fits in this (each label <= 255 bytes plus ',') */
	buflen = MAX_LABELS * (MICROSEG_LABEL_MAX + 1) + 1;
	canon = malloc(buflen);
	canon2 = malloc(buflen);
	if (!canon || !canon2)
		goto out;

	crc = microseg_labels_canonical(labels, n, canon, buflen);
	if (crc >= 0 && (size_t)crc != strlen(canon))
		fail("canonical length differs from the string written");
	/* a buffer one byte too short must be refused without writing past it */
	if (crc > 0) {
		char *tight = malloc((size_t)crc);
		if (tight) {
			if (microseg_labels_canonical(labels, n, tight, (size_t)crc) != -ENOSPC)
				fail("short buffer not refused with -ENOSPC");
			free(tight);
		}
	}

	if (microseg_ctx_open(&copts, &ctx) != 0)
		goto out;
	base = count_ids(ctx);
	grc = microseg_identity_get(ctx, labels, n, &id);
	if ((crc >= 0) != (grc == 0) || (crc < 0 && crc != grc))
		fail("labels_canonical and identity_get disagree");
	if (grc != 0) {
		if (id != NULL)
			fail("out parameter written on failure");
		if (count_ids(ctx) != base)
			fail("failed identity_get changed the identity list");
		if (microseg_ctx_last_error(ctx)[0] == '\0')
			fail("failure without a last error message");
		goto out;
	}

	/* the identity's labels, joined, are the canonical text */
	{
		size_t cnt = microseg_identity_label_count(id), off = 0;
		if (cnt != n)
			fail("label count differs from the input");
		for (size_t i = 0; i < cnt; i++) {
			const char *l = microseg_identity_label(id, i);
			size_t len;
			if (!l)
				fail("identity_label NULL within range");
			len = strlen(l);
			if (off + len + 2 > buflen)
				fail("identity labels longer than the canonical text");
			if (i)
				canon2[off++] = ',';
			memcpy(canon2 + off, l, len);
			off += len;
		}
		canon2[off] = '\0';
		if (strcmp(canon, canon2) != 0)
			fail("identity labels do not join to the canonical text");
		if (microseg_identity_label(id, cnt) != NULL)
			fail("identity_label out of range not NULL");
	}

	/* order does not matter */
	for (size_t i = 0; i < n; i++)
		reversed[i] = labels[n - 1 - i];
	if (microseg_identity_get(ctx, reversed, n, &id2) != 0)
		fail("reversed set refused");
	if (microseg_identity_id(id2) != microseg_identity_id(id))
		fail("reversed set has another id");

	{
		uint32_t num = microseg_identity_id(id);
		int reserved = num <= MICROSEG_IDENTITY_RESERVED_MAX;
		struct microseg_identity *l = NULL;
		if (num == 0)
			fail("identity id 0");
		if (!reserved && count_ids(ctx) != base + 1)
			fail("new identity not listed exactly once");
		if (microseg_identity_put(ctx, id2) != 0 || microseg_identity_put(ctx, id) != 0)
			fail("put failed");
		id = id2 = NULL;
		if (!reserved) {
			if (microseg_identity_lookup(ctx, num, &l) != -ENOENT)
				fail("id still bound after the last put");
			if (count_ids(ctx) != base)
				fail("identity list did not shrink back");
		}
	}
out:
	microseg_ctx_close(ctx);
	free(canon2);
	free(canon);
	free(copy);
	return 0;
}
