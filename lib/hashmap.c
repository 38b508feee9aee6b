// SPDX-License-Identifier: Apache-2.0
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>

void ms_hmap_init(struct ms_hmap *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void ms_hmap_free(struct ms_hmap *m)
{
	free(m->buckets);
	ms_hmap_init(m);
}

static int grow(struct ms_hmap *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
	struct ms_hnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct ms_hnode *n = m->buckets[i];
		while (n) {
			struct ms_hnode *next = n->next;
			size_t j = n->hash & (nb - 1);
			n->next = b[j];
			b[j] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
	return 0;
}

int ms_hmap_insert(struct ms_hmap *m, struct ms_hnode *n, uint64_t hash)
{
	if (m->count + 1 > m->nbuckets) {
		int err = grow(m);
		/* A full table still works, only slower: fail only if there is none at all. */
		if (err && !m->nbuckets)
			return err;
	}
	size_t i = hash & (m->nbuckets - 1);
	n->hash = hash;
	n->next = m->buckets[i];
	m->buckets[i] = n;
	m->count++;
	return 0;
}

void ms_hmap_remove(struct ms_hmap *m, struct ms_hnode *n)
{
	if (!m->nbuckets)
		return;
	struct ms_hnode **pp = &m->buckets[n->hash & (m->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			m->count--;
			return;
		}
	}
}

struct ms_hnode *ms_hmap_first(const struct ms_hmap *m, uint64_t hash)
{
	if (!m->nbuckets)
		return NULL;
	struct ms_hnode *n = m->buckets[hash & (m->nbuckets - 1)];
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct ms_hnode *ms_hmap_next(const struct ms_hnode *n)
{
	uint64_t hash = n->hash;
	for (n = n->next; n && n->hash != hash; n = n->next)
		;
	return (struct ms_hnode *)n;
}

uint64_t ms_hash_u64(uint64_t x)
{
	/* splitmix64 finaliser: cheap and spreads sequential ids and pointers well. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t ms_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}
