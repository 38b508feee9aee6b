/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the endpoint datapath. Names, keys and values come from microseg_abi.h only.
 * max_entries are defaults: userspace resizes them before load (bpf_map__set_max_entries)
 * and pins them itself, so no pinning attribute here.
 */
#ifndef MS_BPF_MAPS_H
#define MS_BPF_MAPS_H

#include "common.h"

/* Instance metadata; written by userspace, not read by the programs. Declared here so that the
 * skeleton creates it together with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_meta);
} ms_meta SEC(".maps");

/* Host-side ifindex -> endpoint. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MS_DEFAULT_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct ms_endpoint_info);
} ms_endpoints SEC(".maps");

/* Address prefix -> identity (and where a local endpoint lives). LPM tries must not
 * preallocate. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MS_DEFAULT_MAX_IPCACHE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_ipcache_key);
	__type(value, struct ms_ipcache_value);
} ms_ipcache SEC(".maps");

/* Per-endpoint counters, indexed by ep_id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MS_DEFAULT_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct ms_ep_stats);
} ms_ep_stats SEC(".maps");

/* Policy revision and flags; see struct ms_config. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_config);
} ms_config SEC(".maps");

/* Whether a MS_CFG_F_* flag is set: features an instance does not use cost one lookup. */
static __always_inline int ms_config_has(__u32 flag)
{
	__u32 zero = 0;
	const struct ms_config *cfg = bpf_map_lookup_elem(&ms_config, &zero);

	return cfg && (cfg->flags & flag);
}

/*
 * Policy tables, two halves of max_endpoints slots (see struct ms_policy_key). The inner
 * definition is the template: a table must have its type, key and value sizes and flags.
 * For LPM tries the kernel does not compare max_entries, so each table can be sized to what
 * it holds. To change the template before load, pass a map made with bpf_map_create() to
 * bpf_map__set_inner_map_fd(); bpf_map__set_max_entries(bpf_map__inner_map(...)) crashes
 * libbpf 1.1 (the inner map has no object). Sizes rather than types: clang leaves types
 * reached only through the template as forward declarations in BTF, which libbpf cannot size.
 */
struct ms_policy_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MS_DEFAULT_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct ms_policy_key));
	__uint(value_size, sizeof(struct ms_policy_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2 * MS_DEFAULT_MAX_ENDPOINTS);
	__type(key, __u32);
	__array(values, struct ms_policy_table);
} ms_policy SEC(".maps");

/* The single-port entries of each table, in a hash (see ms_policy_exact in the ABI header). */
struct ms_policy_exact_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MS_DEFAULT_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct ms_policy_key));
	__uint(value_size, sizeof(struct ms_policy_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2 * MS_DEFAULT_MAX_ENDPOINTS);
	__type(key, __u32);
	__array(values, struct ms_policy_exact_table);
} ms_policy_exact SEC(".maps");

/* Connections, per enforcement point (see struct ms_ct_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_DEFAULT_CT_ENTRIES);
	__type(key, struct ms_ct_key);
	__type(value, struct ms_ct_value);
} ms_ct SEC(".maps");

/* Flow events (struct ms_event_flow records). The size is a power-of-2 number of pages;
 * userspace sizes it before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MS_DEFAULT_EVENTS_BYTES);
} ms_events SEC(".maps");

/* The event rate limiter and counters of each CPU; see struct ms_event_state. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_event_state);
} ms_event_state SEC(".maps");

/* Connections handed to the L7 proxy, with the identities the proxy trusts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_DEFAULT_PROXY_CONNS);
	__type(key, struct ms_proxy_key);
	__type(value, struct ms_proxy_value);
} ms_proxy_conns SEC(".maps");

/* Services: frontends, backends, selection slots (see struct ms_lb_service). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MS_DEFAULT_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_lb_key);
	__type(value, struct ms_lb_service);
} ms_lb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MS_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ms_lb_backend);
} ms_lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MS_DEFAULT_LB_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_lb_slot_key);
	__type(value, __u32);
} ms_lb_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_DEFAULT_LB_AFFINITY);
	__type(key, struct ms_lb_affinity_key);
	__type(value, struct ms_lb_affinity_value);
} ms_lb_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_DEFAULT_LB_REVSK);
	__type(key, struct ms_lb_revsk_key);
	__type(value, struct ms_lb_revsk_value);
} ms_lb_revsk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_DEFAULT_LB_NAT);
	__type(key, struct ms_ct_key);
	__type(value, struct ms_lb_nat_value);
} ms_lb_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MS_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct ms_lb_backend_stats);
} ms_lb_backend_stats SEC(".maps");

/*
 * Set by userspace before load (skeleton rodata): the number of endpoint slots, i.e. the size
 * of one half of ms_policy. The verifier sees the value as a constant.
 */
const volatile __u32 ms_max_endpoints = MS_DEFAULT_MAX_ENDPOINTS;

#endif
