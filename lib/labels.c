// SPDX-License-Identifier: Apache-2.0
/* Label sets: validation and the canonical form that identities are keyed by. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool source_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* Keys and values: printable ASCII without space; ',' is the join separator, and '=' ends a key. */
static bool text_char(char c)
{
	return c > ' ' && c < 0x7f && c != ',';
}

/* Checks one label and returns its canonical "source:key=value" copy in *out. */
static int canon_one(const char *l, char **out, char *why, size_t whylen)
{
	if (!l) {
		snprintf(why, whylen, "label is NULL");
		return -EINVAL;
	}
	size_t len = strnlen(l, MICROSEG_LABEL_MAX + 1);
	if (len > MICROSEG_LABEL_MAX) {
		snprintf(why, whylen, "label longer than %d bytes", MICROSEG_LABEL_MAX);
		return -ENAMETOOLONG;
	}
	const char *colon = strchr(l, ':');
	if (!colon || colon == l) {
		snprintf(why, whylen, "label \"%.64s\" has no source (want source:key=value)", l);
		return -EINVAL;
	}
	for (const char *p = l; p < colon; p++)
		if (!source_char(*p)) {
			snprintf(why, whylen, "label \"%.64s\": bad character in source", l);
			return -EINVAL;
		}
	const char *key = colon + 1;
	const char *eq = strchr(key, '=');
	size_t keylen = eq ? (size_t)(eq - key) : strlen(key);
	if (keylen == 0) {
		snprintf(why, whylen, "label \"%.64s\" has an empty key", l);
		return -EINVAL;
	}
	for (size_t i = 0; i < keylen; i++)
		if (!text_char(key[i])) {
			snprintf(why, whylen, "label \"%.64s\": bad character in key", l);
			return -EINVAL;
		}
	if (eq)
		for (const char *p = eq + 1; *p; p++)
			if (!text_char(*p) || *p == '=') {
				snprintf(why, whylen, "label \"%.64s\": bad character in value", l);
				return -EINVAL;
			}
	/* Normalising "src:key" to "src:key=" may add one byte past the limit: still fine. */
	char *c = malloc(len + 2);
	if (!c)
		return -ENOMEM;
	memcpy(c, l, len + 1);
	if (!eq) {
		c[len] = '=';
		c[len + 1] = '\0';
	}
	*out = c;
	return 0;
}

static int cmp_labels(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Length of "source:key" part, i.e. up to '='. */
static size_t key_len(const char *l)
{
	return (size_t)(strchr(l, '=') - l);
}

void ms_labels_free(char **labels, size_t n)
{
	if (!labels)
		return;
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
}

static bool reserved_set_ok(char **c, size_t n)
{
	bool any = false;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(c[i], "reserved:", 9))
			any = true;
	if (!any)
		return true;
	if (n != 1)
		return false;
	return !strcmp(c[0], "reserved:host=") || !strcmp(c[0], "reserved:world=") ||
	       !strcmp(c[0], "reserved:unmanaged=");
}

int ms_labels_canonicalize(const char *const *labels, size_t n, char ***out, char **joined,
			   char *why, size_t whylen)
{
	if (!labels || n == 0) {
		snprintf(why, whylen, "a label set needs at least one label");
		return -EINVAL;
	}
	if (n > MICROSEG_LABELS_MAX) {
		snprintf(why, whylen, "%zu labels, at most %d allowed", n, MICROSEG_LABELS_MAX);
		return -E2BIG;
	}
	char **c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int err = 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		err = canon_one(labels[i], &c[i], why, whylen);
		if (err)
			goto fail;
		total += strlen(c[i]) + 1;
	}
	qsort(c, n, sizeof(*c), cmp_labels);
	for (size_t i = 1; i < n; i++) {
		size_t kl = key_len(c[i - 1]);
		if (kl == key_len(c[i]) && !strncmp(c[i - 1], c[i], kl)) {
			snprintf(why, whylen, "duplicate label key \"%.*s\"", (int)(kl > 64 ? 64 : kl), c[i]);
			err = -EINVAL;
			goto fail;
		}
	}
	if (!reserved_set_ok(c, n)) {
		snprintf(why, whylen, "a reserved: label must be alone and one of host, world, unmanaged");
		err = -EINVAL;
		goto fail;
	}
	char *j = malloc(total);
	if (!j) {
		err = -ENOMEM;
		goto fail;
	}
	char *p = j;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(c[i]);
		memcpy(p, c[i], l);
		p += l;
		*p++ = i + 1 < n ? ',' : '\0';
	}
	*out = c;
	*joined = j;
	return 0;
fail:
	ms_labels_free(c, n);
	return err;
}

MICROSEG_API int microseg_labels_canonical(const char *const *labels, size_t n, char *buf, size_t buflen)
{
	char why[160];
	char **c, *joined;
	if (!buf && buflen)
		return -EINVAL;
	int err = ms_labels_canonicalize(labels, n, &c, &joined, why, sizeof(why));
	if (err)
		return err;
	size_t len = strlen(joined);
	if (len + 1 > buflen || !buf) {
		err = -ENOSPC;
	} else {
		memcpy(buf, joined, len + 1);
		err = (int)len;
	}
	free(joined);
	ms_labels_free(c, n);
	return err;
}
