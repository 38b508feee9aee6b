/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys, values and enums shared by the BPF programs and the userspace library.
 * Fixed-width fields, explicit padding, sizes checked on both sides. Bump MS_ABI_VERSION
 * whenever a layout here changes: a pinned instance with another version is refused.
 */
#ifndef MICROSEG_ABI_H
#define MICROSEG_ABI_H

#include <linux/types.h>

#define MS_ABI_VERSION 6

/* Map names (also their pin file names under the instance's bpffs directory). */
#define MS_MAP_META "ms_meta"
#define MS_MAP_ENDPOINTS "ms_endpoints"
#define MS_MAP_IPCACHE "ms_ipcache"
#define MS_MAP_EP_STATS "ms_ep_stats"
#define MS_MAP_CONFIG "ms_config"
#define MS_MAP_POLICY "ms_policy"
#define MS_MAP_POLICY_EXACT "ms_policy_exact"
#define MS_MAP_CT "ms_ct"
#define MS_MAP_EVENTS "ms_events"
#define MS_MAP_EVENT_STATE "ms_event_state"
#define MS_MAP_PROXY_CONNS "ms_proxy_conns"
#define MS_MAP_LB_SERVICES "ms_lb_services"
#define MS_MAP_LB_BACKENDS "ms_lb_backends"
#define MS_MAP_LB_SLOTS "ms_lb_slots"
#define MS_MAP_LB_AFFINITY "ms_lb_affinity"
#define MS_MAP_LB_REVSK "ms_lb_revsk"
#define MS_MAP_LB_NAT "ms_lb_nat"
#define MS_MAP_LB_BACKEND_STATS "ms_lb_backend_stats"
/* Program pin names. */
#define MS_PROG_FROM_CONTAINER "ms_from_container"
#define MS_PROG_TO_CONTAINER "ms_to_container"
#define MS_PROG_SOCK_CONNECT4 "ms_sock_connect4"
#define MS_PROG_SOCK_CONNECT6 "ms_sock_connect6"
#define MS_PROG_SOCK_SENDMSG4 "ms_sock_sendmsg4"
#define MS_PROG_SOCK_SENDMSG6 "ms_sock_sendmsg6"
#define MS_PROG_SOCK_RECVMSG4 "ms_sock_recvmsg4"
#define MS_PROG_SOCK_RECVMSG6 "ms_sock_recvmsg6"
#define MS_PROG_SOCK_GETPEERNAME4 "ms_sock_getpeername4"
#define MS_PROG_SOCK_GETPEERNAME6 "ms_sock_getpeername6"
#define MS_PROG_L7_EMIT "ms_l7_emit"

#define MS_DEFAULT_MAX_ENDPOINTS 4096
#define MS_DEFAULT_MAX_IPCACHE 65536
#define MS_DEFAULT_POLICY_ENTRIES 65536 /* per policy table (inner map) */
#define MS_DEFAULT_CT_ENTRIES 262144
#define MS_DEFAULT_EVENTS_BYTES (1u << 22)   /* ring buffer size: 4 MiB */
#define MS_DEFAULT_EVENT_RATE 1000           /* events per second per CPU */
#define MS_DEFAULT_EVENT_BURST 2000
#define MS_DEFAULT_PROXY_CONNS 65536
#define MS_DEFAULT_MAX_SERVICES 65536
#define MS_DEFAULT_MAX_BACKENDS 262144
#define MS_DEFAULT_LB_SLOTS (1u << 21)
#define MS_DEFAULT_LB_AFFINITY 65536
#define MS_DEFAULT_LB_REVSK 262144
#define MS_DEFAULT_LB_NAT 262144

/* Reserved identities (mirror MICROSEG_IDENTITY_* of the public header). */
#define MS_ID_UNKNOWN 0
#define MS_ID_HOST 1
#define MS_ID_WORLD 2
#define MS_ID_UNMANAGED 3

/* ms_meta: array, one entry at key 0. Written once when an instance is created. */
struct ms_meta {
	__u32 abi_version;
	__u32 max_endpoints;
	__u32 max_ipcache;
	__u32 max_policy_entries; /* per policy table */
	__u64 created_ns;         /* CLOCK_REALTIME at creation */
	__u32 max_ct;
	__u32 max_services;
	__u32 max_backends;
	__u32 max_lb_slots;
	__u32 pad;
};

/* ms_endpoints: hash, key = host-side ifindex (__u32). */
#define MS_EP_F_ACTIVE (1u << 0)
struct ms_endpoint_info {
	__u32 ep_id;    /* 1..max_endpoints-1, index into ms_ep_stats */
	__u32 identity; /* numeric identity of the endpoint */
	__u32 flags;    /* MS_EP_F_* */
	__u8 mac[6];    /* container-side MAC, zero if unknown */
	__u8 pad[2];
};

/* ms_ipcache: LPM trie, address prefix -> identity and, for local endpoints, where it lives.
 * prefixlen counts bits from `family` on: 32 (family + pad) + address prefix bits. */
#define MS_FAMILY_IPV4 4
#define MS_FAMILY_IPV6 6
struct ms_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* MS_FAMILY_* */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

#define MS_IPC_F_LOCAL_EP (1u << 0) /* address of an endpoint on this host */
#define MS_IPC_F_HOST (1u << 1)     /* address of this host */
struct ms_ipcache_value {
	__u32 identity;
	__u32 ifindex; /* host-side ifindex of the local endpoint, else 0 */
	__u32 ep_id;   /* local endpoint id, else 0 */
	__u32 flags;   /* MS_IPC_F_* */
};

/* Directions, from the container's point of view. */
enum ms_dir {
	MS_DIR_EGRESS = 0,  /* sent by the container */
	MS_DIR_INGRESS = 1, /* delivered to the container */
	MS_DIR_MAX = 2,
};

/* Why a packet was dropped. Append only; MS_DROP_MAX slots are reserved in the stats. */
enum ms_drop_reason {
	MS_DROP_NONE = 0,
	MS_DROP_INVALID = 1,        /* malformed or truncated header */
	MS_DROP_UNKNOWN_L3 = 2,     /* reserved: unsupported L3 under policy */
	MS_DROP_POLICY = 3,         /* reserved: policy denied */
	MS_DROP_POLICY_DENY = 4,    /* reserved: explicit deny rule */
	MS_DROP_SPOOFED_SOURCE = 5, /* reserved: source address not the endpoint's */
	MS_DROP_CT_FULL = 6,        /* reserved: connection tracking map full */
	MS_DROP_REDIRECT_FAIL = 7,  /* redirect to a local endpoint failed */
	MS_DROP_PROXY = 8,          /* L7 rules on the port, and the proxy cannot take the packet */
	MS_DROP_NO_BACKEND = 9,     /* a service address with no active backend */
	MS_DROP_MAX = 16,
};

struct ms_counter {
	__u64 packets;
	__u64 bytes;
};

/* ms_ep_stats: per-CPU array, key = ep_id. Userspace zeroes a slot when it gives out an id. */
struct ms_ep_stats {
	struct ms_counter fwd[MS_DIR_MAX];
	struct ms_counter drop[MS_DIR_MAX][MS_DROP_MAX];
};

/*
 * ms_config: array, one entry at key 0, written by userspace.
 * policy_rev is bumped by every policy commit and every identity change that can alter a
 * verdict. Its low bit selects which half of ms_policy is live (double buffering: userspace
 * fills the idle half, then flips the bit with one 4-byte write, so every endpoint's new
 * policy becomes visible at once). Connections remember the revision they were allowed under
 * and are re-checked when it changes.
 */
struct ms_config {
	__u32 policy_rev;
	__u32 flags;       /* MS_CFG_F_* */
	__u32 event_rate;  /* events per second per CPU (token bucket refill); 0 = no events */
	__u32 event_burst; /* bucket size */
	/* The L7 proxy (see ms_proxy_conns): listening on 127.0.0.1 and ::1 at proxy_port (0:
	 * no proxy, connections to ports with L7 rules are dropped). A packet handed to the proxy
	 * gets skb->mark = proxy_mark, which an ip rule routes to the local table; the proxy's
	 * own connections to servers carry proxy_upstream_mark on their socket. */
	__u32 proxy_mark;
	__u32 proxy_upstream_mark;
	__u16 proxy_port;  /* host order */
	__u16 pad;
	__u32 pad2;
};
#define MS_CFG_F_EVENTS (1u << 0) /* report events at all */
/* Set when the instance's first service is added, never cleared while the instance lives (a
 * translated connection outlives its service): until then the endpoint programs skip the
 * service and translation lookups. */
#define MS_CFG_F_SERVICES (1u << 1)
/* Set while some endpoint's ingress policy has HTTP rules: only then does a local sender's
 * opening SYN look up the receiver's ingress policy to learn whether to hand the connection
 * to the proxy. Set before the revision that needs it goes live, cleared after the last one
 * is gone (a SYN that misses it is dropped by the receiver's hook: fail closed). */
#define MS_CFG_F_INGRESS_L7 (1u << 2)

/*
 * ms_policy: array of maps, key = (policy_rev & 1) * max_endpoints + ep_id; value = an LPM
 * trie (a policy table). Endpoints with the same compiled policy share one table. A missing
 * table (no entry) means: no policy compiled yet, the endpoint is open in both directions.
 *
 * Table key: identity, direction, protocol are matched exactly; the port by prefix, so a port
 * range is a few entries. prefixlen = 48 + port prefix bits (0..16). Wildcards are entries with
 * identity MS_POLICY_ANY_ID and/or proto 0. A lookup tries (id, proto), (id, any proto),
 * (any id, proto), (any id, any proto) with the packet's port; any DENY wins, else any ALLOW
 * allows, else the packet is dropped (MS_DROP_POLICY). A direction that no rule selects holds
 * one ALLOW entry (any id, any proto, any port, rule_id 0).
 * ICMP/ICMPv6 use the ICMP type as port (network order: type in the low byte of the u16).
 *
 * ms_policy_exact: the same slots, each a hash of the table's single-port entries (prefixlen
 * 64), so that a packet's port costs a hash lookup whatever the table's size; the LPM table
 * then holds only the shorter prefixes. A single port is the longest prefix there is, so a hit
 * in the hash is the LPM answer; on a miss the LPM table decides. An endpoint is open iff its
 * ms_policy slot is empty (a selected endpoint always has an LPM table, maybe empty).
 */
#define MS_POLICY_ANY_ID 0
#define MS_POLICY_PREFIX_BASE 48
struct ms_policy_key {
	__u32 prefixlen;
	__u32 identity; /* host order; always fully matched */
	__u8 dir;       /* MS_DIR_* */
	__u8 proto;     /* IPPROTO_*, 0 = any */
	__be16 port;    /* network order */
};

enum ms_policy_action {
	MS_POLICY_ALLOW = 1,
	MS_POLICY_DENY = 2,
};
/* An ALLOW whose port has L7 rules: the connection goes through the proxy, which decides
 * request by request (ms_config.proxy_port). */
#define MS_POLICY_F_L7 (1u << 0)
struct ms_policy_value {
	__u8 action;      /* ms_policy_action */
	__u8 flags;       /* MS_POLICY_F_* */
	__u16 pad;
	__u32 rule_id;    /* deciding rule, for events and explain; 0 = default (not selected) */
};

/*
 * ms_ct: LRU hash. One entry per connection and per enforcement point: the sender's
 * from-container hook keeps entries with dir = MS_DIR_EGRESS, the receiver's to-container hook
 * entries with dir = MS_DIR_INGRESS. Key = the tuple of the packet that opened the connection.
 * A packet first looks up its own tuple (original direction), then the reversed tuple (reply).
 * ICMP echo: sport = dport = echo id, so the reversed tuple of a reply finds the request.
 */
struct ms_ct_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 dir;
	__u8 pad;
};

#define MS_CT_F_SYN (1u << 0)       /* original SYN seen */
#define MS_CT_F_SYNACK (1u << 1)    /* reply SYN+ACK seen */
#define MS_CT_F_FIN_ORIG (1u << 2)
#define MS_CT_F_FIN_REPLY (1u << 3)
#define MS_CT_F_RST (1u << 4)
#define MS_CT_F_ESTABLISHED (1u << 5)
#define MS_CT_F_PROXY (1u << 6)       /* the connection was handed to the L7 proxy */
#define MS_CT_F_DNAT (1u << 7)        /* opened to a service address, translated per packet:
				       * only its replies get the frontend back as source */
struct ms_ct_value {
	__u64 last_seen_ns; /* bpf_ktime_get_ns() */
	__u64 created_ns;
	__u32 policy_rev;   /* revision the connection was (re)allowed under */
	__u32 rule_id;
	__u32 peer_identity;
	__u32 flags;        /* MS_CT_F_* */
	__u64 packets;
	__u64 bytes;
};

/* Idle timeouts (seconds). */
#define MS_CT_TIMEOUT_TCP_SYN 60
#define MS_CT_TIMEOUT_TCP_EST 21600
#define MS_CT_TIMEOUT_TCP_CLOSE 10
#define MS_CT_TIMEOUT_UDP 60
#define MS_CT_TIMEOUT_ICMP 30
#define MS_CT_TIMEOUT_OTHER 60

/*
 * Flow events, through the ms_events ring buffer. Every record starts with struct
 * ms_event_hdr; `version` and `len` let a newer library append fields: a consumer reads the
 * fields it knows (len covers them) and ignores the rest. Rate limited per CPU by a token
 * bucket (ms_config.event_rate/event_burst); what the bucket refuses is counted in `limited`,
 * what the full ring refuses in `lost` (ms_event_state, per CPU).
 */
#define MS_EVENT_VERSION 1
enum ms_event_type {
	MS_EVENT_FLOW_NEW = 1, /* a new connection allowed (once per connection, at CT creation) */
	MS_EVENT_DROP = 2,     /* a packet dropped (reason) */
	MS_EVENT_L7 = 3,       /* an HTTP request judged by the proxy (struct ms_event_l7) */
	MS_EVENT_SERVICE = 4,  /* a connection to a service address translated (ms_event_svc) */
};
enum ms_verdict {
	MS_VERDICT_FORWARDED = 0,
	MS_VERDICT_DROPPED = 1,
};
struct ms_event_hdr {
	__u16 version; /* MS_EVENT_VERSION of the writer */
	__u16 len;     /* bytes of the whole record */
	__u8 type;     /* enum ms_event_type */
	__u8 pad[3];
	__u64 ts_ns;   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
};
struct ms_event_flow {
	struct ms_event_hdr hdr;
	__u32 ep_id;
	__u32 ifindex;
	__u32 src_identity;
	__u32 dst_identity;
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport; /* network order; ICMP: echo id */
	__be16 dport;
	__u8 family;  /* MS_FAMILY_* */
	__u8 proto;
	__u8 dir;     /* enum ms_dir, of the endpoint ep_id */
	__u8 verdict; /* enum ms_verdict */
	__u8 reason;  /* enum ms_drop_reason (drops) */
	__u8 icmp_type;
	__u8 pad[2];
	__u32 rule_id; /* deciding rule, 0 = none/default */
	__u32 bytes;   /* skb->len */
	__u32 pad2;
};

/* L7 records are written by the proxy (userspace) through the ms_l7_emit program (run with
 * BPF_PROG_TEST_RUN, its context the record), so they share the ring, the rate limit and the
 * readers of datapath events. */
#define MS_L7_METHOD_MAX 16
#define MS_L7_PATH_MAX 128
struct ms_event_l7 {
	struct ms_event_hdr hdr;
	__u32 ep_id;        /* the endpoint whose rules decided */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 latency_us;   /* request in to response (or 403) out */
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 dir;           /* enum ms_dir of ep_id */
	__u8 verdict;       /* enum ms_verdict */
	__u8 pad;
	__u16 status;       /* HTTP status sent to the client */
	__u16 pad2;
	__u32 pad3;
	char method[MS_L7_METHOD_MAX]; /* NUL-terminated, cut if longer */
	char path[MS_L7_PATH_MAX];
};

/* The ms_l7_emit program's context: up to MS_L7_EMIT_BATCH records per run, so a busy proxy
 * pays one system call per batch, not per request. */
#define MS_L7_EMIT_BATCH 16
struct ms_l7_emit_batch {
	__u32 n;
	__u32 pad;
	struct ms_event_l7 recs[MS_L7_EMIT_BATCH];
};

/* A service translation: at connect()/sendmsg() (hook MS_SVC_HOOK_SOCK) or on the first packet
 * of a connection in the endpoint program (MS_SVC_HOOK_TC). */
#define MS_SVC_HOOK_SOCK 1
#define MS_SVC_HOOK_TC 2
struct ms_event_svc {
	struct ms_event_hdr hdr;
	__u32 svc_id;
	__u32 backend_id;  /* 0: no active backend, refused */
	__u8 vip[16];
	__u8 backend[16];
	__be16 vip_port;
	__be16 backend_port;
	__u8 family;
	__u8 proto;
	__u8 hook;         /* MS_SVC_HOOK_* */
	__u8 pad;
	__u32 ep_id;       /* TC: the client endpoint; sock: 0 */
	__u32 pad2;
	__u64 netns_cookie; /* sock: the client's network namespace */
	__u8 client[16];   /* TC: the client's address and port (sock: zero, not bound yet) */
	__be16 client_port;
	__u8 pad3[6];
};

/* ms_event_state: per-CPU array, one entry: the token bucket and the counters. */
struct ms_event_state {
	__u64 tokens_ts_ns; /* when the bucket was last refilled */
	__u64 tokens;       /* whole tokens left */
	__u64 emitted;
	__u64 limited;      /* refused by the rate limit */
	__u64 lost;         /* refused by a full ring buffer */
};

/*
 * ms_proxy_conns: LRU hash, written by the datapath when it hands a connection's first packet
 * to the proxy, read by the proxy when it accepts the connection: the proxy serves only
 * connections found here, and takes the identities from here, never from the client. Key =
 * the client's tuple as the proxy sees it (client address/port, original destination).
 */
struct ms_proxy_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 pad[3];
};
struct ms_proxy_value {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 egress_ep;  /* the client endpoint if its egress rules have L7 on the port, else 0 */
	__u32 ingress_ep; /* the server endpoint if its ingress rules have L7 on the port, else 0 */
	__u64 created_ns;
};

/*
 * Services. ms_lb_services: hash, frontend -> service. A service's backends are picked from
 * slots (ms_lb_slots, key {svc_id, half << 31 | index} -> backend id): a weighted list for
 * random selection, the Maglev table for consistent hashing. Userspace writes the idle half,
 * then replaces the service entry (one atomic hash update) with the new half and count, so a
 * change is atomic per service. n_slots 0: no active backend, connections are refused.
 */
struct ms_lb_key {
	__u8 addr[16];
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* MS_FAMILY_* */
};
#define MS_LB_ALGO_RANDOM 0
#define MS_LB_ALGO_MAGLEV 1
#define MS_LB_SLOT_HALF (1u << 31)
struct ms_lb_service {
	__u32 svc_id;
	__u32 n_slots;
	__u8 half;    /* 0 or 1: which slot half is live */
	__u8 algo;    /* MS_LB_ALGO_* */
	__u16 flags;
	__u32 affinity_timeout_s; /* 0: no session affinity */
};
struct ms_lb_slot_key {
	__u32 svc_id;
	__u32 slot; /* (half ? MS_LB_SLOT_HALF : 0) | index */
};
/* ms_lb_backends: hash, backend id -> backend. Backend ids are unique in the instance. */
#define MS_LB_BACKEND_ACTIVE 0
#define MS_LB_BACKEND_TERMINATING 1
#define MS_LB_BACKEND_MAINTENANCE 2
struct ms_lb_backend {
	__u8 addr[16];
	__be16 port;
	__u8 family;
	__u8 state;  /* MS_LB_BACKEND_*; only active backends are in slots */
	__u32 svc_id;
};
/* ms_lb_affinity: LRU hash, (service, client) -> backend last used. The client is its address
 * in the endpoint programs (family set) and its network namespace cookie at the socket hooks
 * (family 0, cookie in the first 8 bytes). */
struct ms_lb_affinity_key {
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
	__u8 client[16];
};
struct ms_lb_affinity_value {
	__u32 backend_id;
	__u32 pad;
	__u64 last_ns;
};
/* ms_lb_revsk: LRU hash, (socket cookie, backend) -> frontend, for recvmsg/getpeername to
 * show the service address to a socket whose connect/sendmsg was translated. */
struct ms_lb_revsk_key {
	__u64 cookie;
	__u8 addr[16];
	__be16 port;
	__u8 family;
	__u8 pad[5];
};
struct ms_lb_revsk_value {
	__u8 addr[16];
	__be16 port;
	__u16 pad;
	__u32 svc_id;
};
/* ms_lb_nat: LRU hash for per-packet translation in the endpoint programs. Key = a tuple in
 * struct ms_ct_key layout; dir = MS_LB_NAT_FWD for the client's original tuple (client ->
 * frontend: value = the backend), MS_LB_NAT_REV for the backend's reply tuple (backend ->
 * client: value = the frontend). */
#define MS_LB_NAT_FWD 0
#define MS_LB_NAT_REV 1
struct ms_lb_nat_value {
	__u8 addr[16];
	__be16 port;
	__u16 pad;
	__u32 backend_id;
	__u32 svc_id;
	__u32 pad2;
};
/* ms_lb_backend_stats: per-CPU array, backend id -> connections it was picked for. */
struct ms_lb_backend_stats {
	__u64 connections;
};

_Static_assert(sizeof(struct ms_event_l7) == 224, "ms_event_l7 layout");
_Static_assert(sizeof(struct ms_event_svc) == 104, "ms_event_svc layout");
_Static_assert(sizeof(struct ms_proxy_key) == 40, "ms_proxy_key layout");
_Static_assert(sizeof(struct ms_proxy_value) == 24, "ms_proxy_value layout");
_Static_assert(sizeof(struct ms_lb_key) == 20, "ms_lb_key layout");
_Static_assert(sizeof(struct ms_lb_service) == 16, "ms_lb_service layout");
_Static_assert(sizeof(struct ms_lb_slot_key) == 8, "ms_lb_slot_key layout");
_Static_assert(sizeof(struct ms_lb_backend) == 24, "ms_lb_backend layout");
_Static_assert(sizeof(struct ms_lb_affinity_key) == 24, "ms_lb_affinity_key layout");
_Static_assert(sizeof(struct ms_lb_affinity_value) == 16, "ms_lb_affinity_value layout");
_Static_assert(sizeof(struct ms_lb_revsk_key) == 32, "ms_lb_revsk_key layout");
_Static_assert(sizeof(struct ms_lb_revsk_value) == 24, "ms_lb_revsk_value layout");
_Static_assert(sizeof(struct ms_lb_nat_value) == 32, "ms_lb_nat_value layout");
_Static_assert(sizeof(struct ms_event_hdr) == 16, "ms_event_hdr layout");
_Static_assert(sizeof(struct ms_event_flow) == 88, "ms_event_flow layout");
_Static_assert(sizeof(struct ms_event_state) == 40, "ms_event_state layout");
_Static_assert(sizeof(struct ms_config) == 32, "ms_config layout");
_Static_assert(sizeof(struct ms_policy_key) == 12, "ms_policy_key layout");
_Static_assert(sizeof(struct ms_policy_value) == 8, "ms_policy_value layout");
_Static_assert(sizeof(struct ms_ct_key) == 40, "ms_ct_key layout");
_Static_assert(sizeof(struct ms_ct_value) == 48, "ms_ct_value layout");
_Static_assert(sizeof(struct ms_meta) == 48, "ms_meta layout");
_Static_assert(sizeof(struct ms_endpoint_info) == 20, "ms_endpoint_info layout");
_Static_assert(sizeof(struct ms_ipcache_key) == 24, "ms_ipcache_key layout");
_Static_assert(sizeof(struct ms_ipcache_value) == 16, "ms_ipcache_value layout");
_Static_assert(sizeof(struct ms_ep_stats) == 16 * 2 + 16 * 2 * 16, "ms_ep_stats layout");

#endif
