// SPDX-License-Identifier: Apache-2.0
/* Bump allocator for parsed documents: many small objects that all die together. */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_doc.h"

#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN (alignof(max_align_t))

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct ms_arena {
	struct arena_chunk *head;
};

struct ms_arena *ms_arena_new(void)
{
	return calloc(1, sizeof(struct ms_arena));
}

void *ms_arena_alloc(struct ms_arena *a, size_t size)
{
	struct arena_chunk *c;
	size_t need;

	if (!a)
		return NULL;
	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ARENA_ALIGN - sizeof(*c))
		return NULL;
	need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	c = a->head;
	if (!c || c->size - c->used < need) {
		size_t csize = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
		struct arena_chunk *n = malloc(sizeof(*n) + csize);

		if (!n)
			return NULL;
		n->size = csize;
		n->used = 0;
		/* A large object gets a chunk of its own behind the current one, so the
		 * current chunk's free space stays usable for the small ones that follow. */
		if (c && csize == need && c->size - c->used > 256) {
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			a->head = n;
		}
		c = n;
	}
	void *p = c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

char *ms_arena_strndup(struct ms_arena *a, const char *s, size_t n)
{
	char *d;

	if (!s)
		return NULL;
	if (n == SIZE_MAX)
		return NULL;
	d = ms_arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *ms_arena_strdup(struct ms_arena *a, const char *s)
{
	return s ? ms_arena_strndup(a, s, strlen(s)) : NULL;
}

void ms_arena_free(struct ms_arena *a)
{
	if (!a)
		return;
	for (struct arena_chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}
