/* SPDX-License-Identifier: Apache-2.0 */
/* Intrusive chained hash table keyed by a 64-bit hash. Several nodes may share a hash (callers
 * compare their own keys while walking a bucket). Grows by doubling; never shrinks. */
#ifndef MICROSEG_HASHMAP_H
#define MICROSEG_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct ms_hnode {
	struct ms_hnode *next;
	uint64_t hash;
};

struct ms_hmap {
	struct ms_hnode **buckets;
	size_t nbuckets; /* power of two or 0 */
	size_t count;
};

void ms_hmap_init(struct ms_hmap *m);
void ms_hmap_free(struct ms_hmap *m); /* frees buckets, not nodes */
int ms_hmap_insert(struct ms_hmap *m, struct ms_hnode *n, uint64_t hash); /* 0 or -ENOMEM */
void ms_hmap_remove(struct ms_hmap *m, struct ms_hnode *n);
/* First node with this hash, then ms_hmap_next() for the following ones. */
struct ms_hnode *ms_hmap_first(const struct ms_hmap *m, uint64_t hash);
struct ms_hnode *ms_hmap_next(const struct ms_hnode *n);

uint64_t ms_hash_u64(uint64_t x);
uint64_t ms_hash_str(const char *s);

#define ms_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
