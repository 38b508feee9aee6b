/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend selection arithmetic: hashes, slot indexes, whether an affinity entry or a backend
 * may still be used. Pure functions of their arguments (no helpers, no maps, no clock), so that
 * the unit tests include this header and check the very code the datapath runs, and a test
 * can predict which backend a packet gets.
 */
#ifndef MS_BPF_LB_PICK_H
#define MS_BPF_LB_PICK_H

#include <linux/types.h>

#include "microseg_abi.h"

#define MS_LB_PURE static inline __attribute__((always_inline))

#define MS_LB_NSEC_PER_SEC 1000000000ULL

/* Every input bit reaches every output bit (two multiply-xorshift rounds): consecutive
 * ports or cookies must land on unrelated slots, or Maglev's even table is wasted. */
MS_LB_PURE __u64 ms_lb_mix64(__u64 x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

MS_LB_PURE __u64 ms_lb_load64(const __u8 *p)
{
	__u64 v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

/* 16-byte addresses (IPv4 zero-padded) compared as two words. */
MS_LB_PURE int ms_lb_addr_eq(const __u8 *a, const __u8 *b)
{
	return ms_lb_load64(a) == ms_lb_load64(b) && ms_lb_load64(a + 8) == ms_lb_load64(b + 8);
}

/* The connection's hash for Maglev in the endpoint programs: addresses (16 bytes each, IPv4
 * zero-padded) as two 8-byte words each, so callers pass 8-aligned storage (byte-wise loads
 * would cost the BPF program a stack slot per byte), ports as they sit in the packet,
 * protocol. Each word is folded in through the mixer, so swapping two fields changes the
 * result. */
MS_LB_PURE __u32 ms_lb_hash_tuple(const __u64 *saddr, const __u64 *daddr, __be16 sport,
				  __be16 dport, __u8 proto)
{
	__u64 h = 0x6d732d6c62ULL; /* any fixed seed */

	h = ms_lb_mix64(h ^ saddr[0]);
	h = ms_lb_mix64(h ^ saddr[1]);
	h = ms_lb_mix64(h ^ daddr[0]);
	h = ms_lb_mix64(h ^ daddr[1]);
	h = ms_lb_mix64(h ^ ((__u64)sport << 24 | (__u64)dport << 8 | proto));
	return (__u32)(h >> 32);
}

/* The socket's hash for Maglev at the socket hooks: one socket keeps its backend for all its
 * datagrams while the table stays the same. */
MS_LB_PURE __u32 ms_lb_hash_cookie(__u64 cookie)
{
	return (__u32)(ms_lb_mix64(cookie ^ 0x736f636bULL) >> 32);
}

/* The slot a hash (Maglev) or a random number (weighted random) picks; n_slots > 0. */
MS_LB_PURE __u32 ms_lb_slot_index(__u32 hash, __u32 n_slots)
{
	return n_slots ? hash % n_slots : 0;
}

/* The key of slot index in the live half of the service. */
MS_LB_PURE void ms_lb_slot_key(struct ms_lb_slot_key *k, const struct ms_lb_service *svc,
			       __u32 index)
{
	k->svc_id = svc->svc_id;
	k->slot = (svc->half ? MS_LB_SLOT_HALF : 0) | (index & ~MS_LB_SLOT_HALF);
}

/* A backend new connections of service svc_id may go to. b may be NULL (no such backend). */
MS_LB_PURE int ms_lb_backend_usable(const struct ms_lb_backend *b, __u32 svc_id, __u8 family)
{
	return b && b->state == MS_LB_BACKEND_ACTIVE && b->svc_id == svc_id && b->family == family;
}

/* An affinity entry still binds its client: affinity on (timeout_s != 0) and used within the
 * timeout. Signed: another CPU may have stamped it after this one read the clock. The backend
 * it names is checked apart (ms_lb_backend_usable). */
MS_LB_PURE int ms_lb_affinity_live(const struct ms_lb_affinity_value *a, __u64 now,
				   __u32 timeout_s)
{
	return a && timeout_s &&
	       (__s64)(now - a->last_ns) <= (__s64)((__u64)timeout_s * MS_LB_NSEC_PER_SEC);
}

/* Affinity keys: the client's address in the endpoint programs, its network namespace at the
 * socket hooks (family 0, cookie in the first 8 bytes). */
MS_LB_PURE void ms_lb_affinity_key_addr(struct ms_lb_affinity_key *k, __u32 svc_id, __u8 family,
					const __u8 *addr)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->svc_id = svc_id;
	k->family = family;
	if (family == MS_FAMILY_IPV4)
		__builtin_memcpy(k->client, addr, 4);
	else
		__builtin_memcpy(k->client, addr, 16);
}

MS_LB_PURE void ms_lb_affinity_key_netns(struct ms_lb_affinity_key *k, __u32 svc_id,
					 __u64 netns_cookie)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->svc_id = svc_id;
	__builtin_memcpy(k->client, &netns_cookie, 8);
}

#endif
