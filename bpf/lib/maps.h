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

#endif
