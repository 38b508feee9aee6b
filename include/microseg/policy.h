/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity-based L3/L4 network policy.
 *
 * A rule selects endpoints by their identity's labels and says, per direction, which peers may
 * talk to them on which ports. Semantics follow Kubernetes NetworkPolicy and
 * CiliumNetworkPolicy:
 *   - an endpoint that no rule selects in a direction is open in that direction;
 *   - once a rule selects it in a direction, that direction is default-deny and only the union
 *     of what the selecting rules allow passes;
 *   - deny always wins over allow;
 *   - replies of an allowed connection always pass (connection tracking), both directions.
 * The library compiles rules into per-endpoint tables that the datapath looks up in constant
 * time, whatever the number of rules; a change becomes visible to packets all at once (every
 * endpoint's table is swapped by one atomic flip), and established connections that the new
 * policy no longer allows stop at their next packet.
 *
 * Labels in selectors: "source:key=value" matches that exact label; "key=value" (no source) or
 * "any:key=value" matches the key from any source. Expression keys likewise ("app",
 * "k8s:app").
 */
#ifndef MICROSEG_POLICY_H
#define MICROSEG_POLICY_H

#include <microseg/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct microseg_ctx;
struct microseg_rule;

enum microseg_direction {
	MICROSEG_DIR_INGRESS = 1, /* traffic delivered to the selected endpoint */
	MICROSEG_DIR_EGRESS = 2,  /* traffic sent by the selected endpoint */
};

enum microseg_action {
	MICROSEG_ACTION_ALLOW = 0,
	MICROSEG_ACTION_DENY = 1,
};

/* IP protocol numbers; MICROSEG_PROTO_ANY matches every protocol. */
enum microseg_proto {
	MICROSEG_PROTO_ANY = 0,
	MICROSEG_PROTO_ICMP = 1,
	MICROSEG_PROTO_TCP = 6,
	MICROSEG_PROTO_UDP = 17,
	MICROSEG_PROTO_ICMPV6 = 58,
	MICROSEG_PROTO_SCTP = 132,
};

enum microseg_sel_op {
	MICROSEG_SEL_IN = 0,
	MICROSEG_SEL_NOT_IN = 1,
	MICROSEG_SEL_EXISTS = 2,
	MICROSEG_SEL_DOES_NOT_EXIST = 3,
};

struct microseg_sel_expr {
	const char *key;            /* "key" or "source:key" */
	uint32_t op;                /* enum microseg_sel_op */
	const char *const *values;  /* for IN / NOT_IN (at least one) */
	size_t n_values;
};

/* All match_labels AND all expressions must hold. An empty selector selects everything. */
struct microseg_selector {
	const char *const *match_labels; /* "key=value" or "source:key=value" */
	size_t n_match_labels;
	const struct microseg_sel_expr *exprs;
	size_t n_exprs;
};

enum microseg_peer_kind {
	MICROSEG_PEER_SELECTOR = 0, /* endpoints whose identity matches `selector` */
	MICROSEG_PEER_CIDR = 1,     /* addresses in `cidr` but not in any of `except` */
	MICROSEG_PEER_ENTITY = 2,   /* `entity` */
};

enum microseg_entity {
	MICROSEG_ENTITY_HOST = 1,  /* this host */
	MICROSEG_ENTITY_WORLD = 2, /* everything outside the managed endpoints and the host */
	MICROSEG_ENTITY_ALL = 3,   /* anything */
};

struct microseg_peer {
	uint32_t kind; /* enum microseg_peer_kind */
	struct microseg_selector selector;
	const char *cidr;
	const char *const *except;
	size_t n_except;
	uint32_t entity; /* enum microseg_entity */
};

/* A port or port range of one protocol. For TCP, UDP, SCTP and ANY: port 0 means every port,
 * end_port 0 means just `port`. For ICMP and ICMPv6: with MICROSEG_PORT_F_ICMP_TYPE, `port`
 * is the ICMP type; without it every type. */
#define MICROSEG_PORT_F_ICMP_TYPE (1u << 0)
struct microseg_port {
	uint32_t proto; /* enum microseg_proto */
	uint16_t port;
	uint16_t end_port;
	uint32_t flags; /* MICROSEG_PORT_F_* */
};

/* One direction of a rule: which peers, on which ports, allowed or denied. No peers means any
 * peer; no ports means every port and protocol. */
struct microseg_rule_section {
	uint32_t direction; /* enum microseg_direction */
	uint32_t action;    /* enum microseg_action */
	const struct microseg_peer *peers;
	size_t n_peers;
	const struct microseg_port *ports;
	size_t n_ports;
};

/*
 * L7 (HTTP) rules on a port of an ALLOW section: connections to that port go through the L7
 * proxy (proxy.h), which lets a request pass if any HTTP rule of the port matches it. In a
 * rule: every field given must match. method, path and host are POSIX extended regular
 * expressions anchored to the whole value ("GET|HEAD", "/v1/.*"); NULL matches anything.
 * headers: "Name" (the header must be present) or "Name: value" (present with exactly that
 * value; names compare case-insensitively). If another ALLOW of the same peer and port has no
 * HTTP rules, every request passes (as in Cilium: L3/L4-only wins over L7 for its peers).
 */
struct microseg_http_rule {
	const char *method;
	const char *path;
	const char *host;
	const char *const *headers;
	size_t n_headers;
};

/* The HTTP rules of one port of one section: spec.sections[section].ports[port]. */
struct microseg_l7_rules {
	size_t section;
	size_t port; /* the port must be TCP (or ANY, meaning TCP for L7) */
	const struct microseg_http_rule *http;
	size_t n_http; /* at least 1 */
};

/* Rule flags: select endpoints in a direction even with no section for it (default-deny). */
#define MICROSEG_RULE_F_INGRESS (1u << 0)
#define MICROSEG_RULE_F_EGRESS (1u << 1)

struct microseg_rule_spec {
	size_t sz;
	const char *name;                      /* optional, for explain and listings */
	struct microseg_selector endpoints;    /* which endpoints the rule applies to */
	const struct microseg_rule_section *sections;
	size_t n_sections;
	uint32_t flags;                        /* MICROSEG_RULE_F_* */
	/* L7 rules by port (appended in 0.1; zero-filled callers have none). */
	const struct microseg_l7_rules *l7;
	size_t n_l7;
};

/* ---- rules through the C API ---- */

/*
 * Adds a rule. Outside a transaction it is compiled and in force when the call returns;
 * inside one (microseg_policy_begin) it takes effect at microseg_policy_commit().
 * A section with no peers means any peer; with no ports, every port and protocol. To select
 * endpoints in a direction while allowing nothing, set MICROSEG_RULE_F_INGRESS/_EGRESS.
 * Errors: -EINVAL NULL or malformed spec (the last error names the field: bad label, bad CIDR,
 * port range reversed, unknown enum, ICMP type with a non-ICMP protocol...); -E2BIG too many
 * items; -ENOSPC a policy table or the ipcache is full (the old policy stays fully in force);
 * -ESHUTDOWN purged. Thread-safe.
 */
MICROSEG_API int microseg_rule_add(struct microseg_ctx *ctx, const struct microseg_rule_spec *spec,
				   struct microseg_rule **rule);

/* Removes a rule added through the API (rules of documents go with microseg_policy_delete).
 * Errors: -EINVAL NULL; -ENOENT not a live rule of ctx; -EPERM the rule belongs to a document;
 * -ENOSPC as above. Thread-safe. */
MICROSEG_API int microseg_rule_remove(struct microseg_ctx *ctx, struct microseg_rule *rule);

/* Rule getters on a live handle. The id is unique in the instance and is what explain and
 * flow events report. The policy name is "" for rules added through the API. Thread-safe
 * while the handle lives. */
MICROSEG_API uint32_t microseg_rule_id(const struct microseg_rule *rule);
MICROSEG_API const char *microseg_rule_name(const struct microseg_rule *rule);
MICROSEG_API const char *microseg_rule_policy(const struct microseg_rule *rule);

/* Writes up to cap live rules (ordered by id) and their total count. Returns 0 or -ENOSPC if
 * cap < *count. Errors: -EINVAL. Thread-safe. */
MICROSEG_API int microseg_rule_list(struct microseg_ctx *ctx, struct microseg_rule **rules, size_t cap,
				    size_t *count);

/* ---- transactions ---- */

/*
 * Starts a transaction on the context: rule adds/removes, document applies and deletes are
 * staged until commit, then become visible to packets all at once. A transaction belongs to the
 * context, not to a thread. Errors: -EINVAL ctx NULL; -EBUSY one is already open.
 */
MICROSEG_API int microseg_policy_begin(struct microseg_ctx *ctx);
/* Compiles and publishes the staged changes. On error nothing of the transaction is applied and
 * it stays open (fix and commit again, or abort). Errors: -ENOENT none open; -ENOSPC; kernel
 * -errno. Thread-safe. */
MICROSEG_API int microseg_policy_commit(struct microseg_ctx *ctx);
/* Drops the staged changes; handles of rules added in it become invalid. -ENOENT if none open. */
MICROSEG_API int microseg_policy_abort(struct microseg_ctx *ctx);

/* ---- documents ---- */

/*
 * Applies a YAML stream of Kubernetes networking.k8s.io/v1 NetworkPolicy, cilium.io/v2
 * CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy documents (see README for the
 * supported fields). Each document names a policy ("namespace/name", or "name" when
 * cluster-wide); applying a policy name that exists replaces its rules. The whole stream is one
 * transaction: a malformed or unsupported document rejects the stream, nothing of it is applied,
 * and the last error names the field and line. `toPorts[].rules.http` become HTTP rules
 * enforced by the L7 proxy (proxy.h); `dns` and `kafka` rules are refused. flags: reserved, 0. Errors: -EINVAL (malformed, unsupported), -E2BIG, -ENOSPC, -ENOMEM.
 * Thread-safe.
 */
MICROSEG_API int microseg_policy_apply_yaml(struct microseg_ctx *ctx, const char *doc, size_t len,
					    uint32_t flags);

/* Removes the named policy (all its rules). Errors: -EINVAL; -ENOENT no such policy. */
MICROSEG_API int microseg_policy_delete(struct microseg_ctx *ctx, const char *name);

/* Writes up to cap policy names (sorted) and their count; the strings stay valid until the
 * next policy change. Returns 0 or -ENOSPC if cap < *count. */
MICROSEG_API int microseg_policy_list(struct microseg_ctx *ctx, const char **names, size_t cap,
				      size_t *count);

/* The YAML text a policy was applied with (malloc()ed into *doc; free() it).
 * Errors: -EINVAL; -ENOENT. */
MICROSEG_API int microseg_policy_get_yaml(struct microseg_ctx *ctx, const char *name, char **doc);

/* ---- explain ---- */

struct microseg_explain_query {
	size_t sz;
	/* Source and destination: an endpoint (interface or endpoint name), an IPv4/IPv6
	 * address, or "identity:<n>". */
	const char *src;
	const char *dst;
	uint32_t proto;   /* enum microseg_proto (not ANY) */
	uint16_t port;    /* TCP/UDP/SCTP port, or ICMP type */
	uint16_t pad;
};

enum microseg_verdict {
	MICROSEG_VERDICT_ALLOWED = 0,
	MICROSEG_VERDICT_DENIED = 1,        /* no rule allowed it in a selected direction */
	MICROSEG_VERDICT_DENIED_BY_RULE = 2, /* a deny rule matched */
};

struct microseg_explain_result {
	size_t sz; /* set by the caller */
	uint32_t verdict;           /* enum microseg_verdict, of the whole path */
	uint32_t src_identity;
	uint32_t dst_identity;
	/* Per enforcement point: verdict and deciding rule id (0 = direction not selected: open,
	 * or no rule matched when denied). Points that do not apply (source or destination is
	 * not a local endpoint) are ALLOWED with rule 0 and *_applies 0. */
	uint32_t egress_applies, egress_verdict, egress_rule;
	uint32_t ingress_applies, ingress_verdict, ingress_rule;
	char text[512]; /* one readable paragraph: who, what, which rule decided */
};

/*
 * Answers, from the compiled tables the datapath uses, whether src may open a connection to
 * dst on proto/port, and which rule decided at the source's egress and the destination's
 * ingress. Errors: -EINVAL NULL, bad proto, or sz too small; -ENOENT src or dst unknown.
 * Thread-safe.
 */
MICROSEG_API int microseg_policy_explain(struct microseg_ctx *ctx, const struct microseg_explain_query *q,
					 struct microseg_explain_result *result);

#ifdef __cplusplus
}
#endif
#endif
