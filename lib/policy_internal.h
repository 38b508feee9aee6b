/* SPDX-License-Identifier: Apache-2.0 */
/* Policy: the rule registry, selectors, the compiler and the published tables. */
#ifndef MICROSEG_POLICY_INTERNAL_H
#define MICROSEG_POLICY_INTERNAL_H

#include "internal.h"
#include "policy_doc.h"
#include "http_rules.h"

#include <stdatomic.h>

/* A compiled set of HTTP rules, shared by its rule and by the L7 proxy's connections that
 * resolved it: refcounted, so a rule removed while a request is being judged stays valid
 * until that judgement is done. */
struct ms_l7_set {
	_Atomic uint32_t refs;
	struct ms_http_ruleset *rs;
};
void ms_l7_set_get(struct ms_l7_set *s);
void ms_l7_set_put(struct ms_l7_set *s);

/* ---- selector.c ---- */
struct ms_sel_term {
	const char *source; /* NULL: any source */
	const char *key;
	uint32_t op;        /* enum microseg_sel_op */
	const char *const *values;
	size_t n_values;
};
struct ms_selector {
	struct ms_sel_term *terms;
	size_t n;
};
/* Compiles a public selector into arena memory; err names the offending item. */
int ms_selector_compile(struct ms_arena *a, const struct microseg_selector *in, struct ms_selector *out,
			char *err, size_t errlen);
bool ms_selector_match(const struct ms_selector *s, const struct microseg_identity *id);

/* ---- a rule, compiled from its spec ---- */
struct ms_port_range {
	uint8_t proto;
	uint16_t lo, hi; /* host order, inclusive */
};
struct ms_peer {
	uint32_t kind;
	struct ms_selector sel;
	struct ms_addr cidr;
	struct ms_addr *except;
	size_t n_except;
	uint32_t entity;
};
struct ms_section {
	uint32_t dir;    /* MICROSEG_DIR_* */
	uint32_t action; /* MICROSEG_ACTION_* */
	struct ms_peer *peers;
	size_t n_peers;  /* 0: any peer */
	struct ms_port_range *ports;
	size_t n_ports;  /* >= 1 after compilation (any = {0, 0, 65535}) */
	/* Per port: its HTTP rules (TCP only), or NULL. The array itself is NULL when no port
	 * of the section has any. */
	struct ms_l7_set **l7;
};

enum ms_rule_state { MS_RULE_LIVE, MS_RULE_PENDING_ADD, MS_RULE_PENDING_REMOVE };

struct microseg_rule {
	uint32_t magic;
	uint32_t id;
	enum ms_rule_state state;
	const char *name;   /* "" if none */
	const char *policy; /* owning document name, "" for API rules */
	struct ms_arena *arena;
	struct microseg_rule_spec *spec; /* arena copy, for persistence */
	struct ms_selector endpoints;
	struct ms_section *sections;
	size_t n_sections;
	uint32_t dirs; /* MICROSEG_RULE_F_INGRESS/_EGRESS: directions it selects */
	bool stored;   /* its record is in the state directory (API rules) */
	struct ms_l7_set **rulesets; /* every l7 set of the sections (one reference each) */
	size_t n_rulesets;
	struct ms_hnode by_ptr;
};
#define MS_RULE_MAGIC 0x4d535255u

/* Validates and compiles a spec into a new rule (not registered). */
int ms_rule_build(struct microseg_ctx *ctx, const struct microseg_rule_spec *spec, const char *policy,
		  struct microseg_rule **out);
void ms_rule_free(struct microseg_rule *r);

/* A slot whose kernel content is unknown (after a restore, until the first sync). */
#define MS_SLOT_UNKNOWN ((struct ms_table *)1)

/* ---- policy_compile.c ---- */
struct ms_policy_entry {
	struct ms_policy_key key;
	struct ms_policy_value value;
};
/* A compiled table, shared by every endpoint whose identity compiles to the same entries. */
struct ms_table {
	uint64_t hash;
	struct ms_policy_entry *entries; /* sorted */
	size_t n;
	int fd;        /* kernel LPM map, -1 without datapath */
	int fd_exact;  /* kernel hash of the single-port entries, -1 without datapath */
	uint32_t refs; /* slots and identities using it */
	bool ingress_l7; /* some ingress entry sends its port through the L7 proxy */
	struct ms_hnode node;
};

/* Everything the compiler reads: the effective rules of a (possibly staged) state. */
struct ms_rule_view {
	struct microseg_rule **rules;
	size_t n;
};
/* The table of an endpoint no rule selects (open both ways), interned (refs + 1). */
int ms_policy_open_table(struct microseg_ctx *ctx, struct ms_table **out);
/* Compiles the table for one endpoint identity. *out is NULL when no rule selects the identity
 * in any direction (the endpoint is open). Tables are interned in ctx->pol.tables (refs + 1). */
int ms_policy_compile_identity(struct microseg_ctx *ctx, const struct ms_rule_view *view,
			       const struct microseg_identity *id, struct ms_table **out);
void ms_table_put(struct microseg_ctx *ctx, struct ms_table *t);
/* Longest-prefix lookup in a compiled table, as the kernel does. */
const struct ms_policy_value *ms_table_lookup(const struct ms_table *t, uint32_t identity, uint8_t dir,
					      uint8_t proto, uint16_t port);
/* Splits [lo, hi] into port prefixes: writes up to 32 (value, bits) pairs, returns the count. */
size_t ms_port_range_prefixes(uint16_t lo, uint16_t hi, uint16_t *vals, uint8_t *bits);

/* Whether the section peer p stands for identity id (what expand_peer would list). */
bool ms_peer_matches(struct microseg_ctx *ctx, const struct ms_peer *p, uint32_t id);

/* ---- l7_policy.c: what the L7 proxy enforces on a connection ---- */
struct ms_l7_verdict {
	bool allow_all; /* an L3/L4-only allow covers it, or the direction is not selected */
	bool deny_all;  /* no allow covers it any more, or a deny does */
	struct ms_l7_set **sets; /* else: a request passes if any set matches (references held) */
	size_t n, cap;
	uint32_t gen;   /* ms_policy.l7_gen it was resolved under */
};
/* Resolves the live rules for endpoint ep_id in direction dir (MS_DIR_*) against peer identity
 * peer on TCP port `port` (replacing what v held). Call with ctx->lock held. The result holds
 * references: it may be used without the lock, and is current while ms_policy.l7_gen equals
 * its gen. */
int ms_l7_resolve(struct microseg_ctx *ctx, uint32_t ep_id, uint8_t dir, uint32_t peer, uint16_t port,
		  struct ms_l7_verdict *out);
/* Judges one request against a resolved verdict. */
bool ms_l7_allows(const struct ms_l7_verdict *v, const struct ms_http_request_view *req);
void ms_l7_verdict_release(struct ms_l7_verdict *v);

/* ---- policy.c ---- */
struct ms_doc {
	uint32_t file_id; /* record number in <state>/policies, 0 until stored */
	const char *name;
	const char *text;
	enum ms_rule_state state;
	struct ms_arena *arena;
	struct microseg_rule **rules;
	size_t n_rules;
};

struct ms_cidr_ident {
	struct ms_addr prefix;
	struct microseg_identity *id;
	bool installed;
};

struct ms_policy {
	struct microseg_rule **rules; /* every rule, any state, ordered by id */
	size_t n_rules, cap_rules;
	struct ms_hmap rules_by_ptr;
	struct ms_doc **docs;
	size_t n_docs, cap_docs;
	uint32_t next_rule_id;
	uint32_t next_doc_file;
	bool txn;
	uint32_t rev;         /* current ms_config.policy_rev */
	/* Bumped by every publish (rules, identities or endpoints may have changed): the L7
	 * proxy re-resolves a connection's rules when it moves. Read without the lock. */
	_Atomic uint32_t l7_gen;
	struct ms_hmap tables;
	struct ms_table **slot[2]; /* per half, per ep_id: table in the kernel slot */
	struct ms_table *open_table; /* "no rule selects it", for slots that held a table */
	struct ms_cidr_ident *cidrs;
	size_t n_cidrs;
	uint64_t compiles;    /* statistics, for tests and benchmarks */
};

int ms_policy_init(struct microseg_ctx *ctx);
void ms_policy_free(struct microseg_ctx *ctx);
/* Recompiles every endpoint's table from the live rules and publishes the result (one flip).
 * Called after commits and after endpoint/identity changes. */
int ms_policy_sync(struct microseg_ctx *ctx);
/* A removed endpoint's slots are left as they are: no packet reaches them (its ifindex is
 * gone from the endpoint map), and the next endpoint given its id has its slots written
 * before its programs are attached. That saves two RCU grace periods per removal. */
/* Compiles and publishes the committed view (LIVE + PENDING_ADD) of an open transaction. */
int ms_policy_sync_commit(struct microseg_ctx *ctx);

/* ---- policy_api.c ---- */
struct microseg_rule *ms_rule_checked(struct microseg_ctx *ctx, const struct microseg_rule *r);
/* Registers a built rule in state PENDING_ADD (id 0: next free id). */
int ms_rule_register(struct microseg_ctx *ctx, struct microseg_rule *r, uint32_t id);
/* Stages a document's rules in the open transaction (replacing a policy of the same name). */
int ms_doc_stage(struct microseg_ctx *ctx, const struct ms_policy_doc *doc, uint32_t file_id);
int ms_txn_commit_locked(struct microseg_ctx *ctx);
void ms_txn_abort_locked(struct microseg_ctx *ctx);

/* ---- policy_store.c: documents and API rules in the state directory ---- */
int ms_policy_store_commit(struct microseg_ctx *ctx); /* writes/removes records after a commit */
int ms_policy_restore(struct microseg_ctx *ctx);

#endif
