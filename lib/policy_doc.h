/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy documents: YAML (Kubernetes NetworkPolicy, CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy) to rule specs and back. Pure functions of text and memory: no
 * context, no kernel, so they can be fuzzed and unit-tested alone.
 *
 * Rule specs produced here are plain `struct microseg_rule_spec` (include/microseg/policy.h)
 * whose every pointer (strings, arrays, nested selectors) points into the document set's
 * arena, freed at once by ms_policy_docs_free().
 */
#ifndef MICROSEG_POLICY_DOC_H
#define MICROSEG_POLICY_DOC_H

#include <stddef.h>
#include <stdint.h>

#include <microseg/policy.h>

#define MS_DOC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Bump allocator: every allocation lives until ms_arena_free(). */
struct ms_arena;
struct ms_arena *ms_arena_new(void);
void *ms_arena_alloc(struct ms_arena *a, size_t size); /* zeroed; NULL on ENOMEM */
char *ms_arena_strdup(struct ms_arena *a, const char *s);
char *ms_arena_strndup(struct ms_arena *a, const char *s, size_t n);
void ms_arena_free(struct ms_arena *a);

/* Deep copy of a spec (and everything it points to) into arena a. NULL on ENOMEM. The copy's
 * sz is sizeof(struct microseg_rule_spec); fields beyond the caller's spec->sz are zero. Run
 * ms_rule_spec_check() first on a caller's spec: the copy trusts counts and pointers. */
struct microseg_rule_spec *ms_rule_spec_copy(struct ms_arena *a, const struct microseg_rule_spec *spec);

/* Limits of documents and specs. Beyond them: -E2BIG. */
#define MS_POLICY_DOC_MAX (1u << 20)     /* bytes of one document's text */
#define MS_POLICY_STREAM_MAX (16u << 20) /* bytes of a whole stream */
#define MS_POLICY_DEPTH_MAX 32           /* nested mappings/sequences */
#define MS_POLICY_LIST_MAX 4096          /* items of one list or mapping; array lengths in a spec */

/*
 * Structural check of a caller's spec, before anything dereferences it: NULL pointers where a
 * count says there is an array, enum values, labels ("key=value" with a non-empty key; the
 * characters are labels.c's business), expressions (IN/NOT_IN with values, EXISTS/DOES_NOT_EXIST
 * without), CIDRs ("addr/prefix", excepts inside their CIDR), port ranges (end_port >= port,
 * no end_port without port), ICMP types (<= 255, only with an ICMP protocol), unknown flags,
 * array lengths <= MS_POLICY_LIST_MAX. Returns 0, -EINVAL or -E2BIG with err naming the field
 * ("sections[1].peers[0].cidr: not a CIDR"). err may be NULL.
 */
int ms_rule_spec_check(const struct microseg_rule_spec *spec, char *err, size_t errlen);

/*
 * Whether two specs mean the same: order inside every list (labels, expressions and their
 * values, sections, peers, excepts, ports) does not matter, a section whose peers include the
 * entity `all` equals one with no peers, end_port == port equals end_port 0, and a direction
 * is selected by its MICROSEG_RULE_F_* flag or by any section in it (deny sections too, as in
 * Cilium), so the flag of a direction that has sections adds nothing. Names are not compared. Both specs must pass ms_rule_spec_check(). Returns 1 (same), 0 (different) or
 * -ENOMEM.
 */
int ms_rule_spec_equal(const struct microseg_rule_spec *a, const struct microseg_rule_spec *b);

/* A parsed CIDR, for validation and containment checks. */
struct ms_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned prefix;
	uint8_t bytes[16];
};
/* "addr/prefix" (the prefix is required; host bits past it are allowed, as Kubernetes and
 * Cilium allow them). Returns 0 or -EINVAL. */
int ms_cidr_parse(const char *s, struct ms_cidr *out);
/* Whether inner lies inside outer (same family, prefix not shorter, leading bits equal). */
int ms_cidr_contains(const struct ms_cidr *outer, const struct ms_cidr *inner);

/* L7 rules found under toPorts[].rules. HTTP rules also go into the rule specs (spec.l7),
 * which is what the library enforces; DNS and Kafka rules are only parsed (and refused when a
 * document is applied: an unenforced L7 rule must not read as "allowed"). */
/* Where the L7 rules of a port sit: rule index, section index, port index within the doc. */
struct ms_l7_port_rules {
	size_t rule, section, port;
	const struct microseg_http_rule *http;
	size_t n_http;
	const char *const *dns_names;    /* matchName / matchPattern ("pattern:" prefix) */
	size_t n_dns;
	const char *const *kafka_topics; /* topic names (role/apiKey kept as "apiKey:topic") */
	size_t n_kafka;
};

struct ms_policy_doc {
	const char *name;      /* "namespace/name" for namespaced kinds, "name" for cluster-wide */
	const char *kind;      /* "NetworkPolicy", "CiliumNetworkPolicy", ... */
	const char *namespace; /* NULL for cluster-wide */
	unsigned line;         /* line of the document's first key (1-based) */
	/* This document's own YAML text, NUL-terminated: the stream from the document's start
	 * mark ("---" if it has one, else its first token) to its end mark (its "..." if any,
	 * else the next "---" or the end, so trailing comments are included). It parses alone
	 * into the same document. */
	const char *text;
	/* One rule for NetworkPolicy and for a Cilium `spec`; one per item of `specs` (after
	 * `spec` if both are present). Every rule's name is the document's name. */
	struct microseg_rule_spec *rules;
	size_t n_rules;
	struct ms_l7_port_rules *l7; /* one record per port that has L7 rules */
	size_t n_l7;
};

struct ms_policy_docs {
	struct ms_policy_doc *docs;
	size_t n;
	struct ms_arena *arena;
};

/*
 * Parses a YAML stream of one or more documents. Each document must be one of the supported
 * kinds. On error, returns -EINVAL (malformed or unsupported: err names the line and the field
 * path, e.g. "line 12: spec.ingress[0].ports[1].port: named ports are not supported ('http')"),
 * -E2BIG for a document beyond the limits, -ENOMEM; *out is then untouched. Empty documents
 * are skipped; a stream with no document is -EINVAL ("no policy in document"). err may be NULL.
 *
 * The input is UTF-8 (a BOM is allowed) and need not be NUL-terminated. Refused outright:
 * aliases and anchors, tags, non-string keys, duplicate keys, unknown fields (a misspelt field
 * must not widen a rule), known Cilium fields this library cannot enforce (toFQDNs, toServices,
 * fromRequires, ..., named ports, entities other than host/world/all, enableDefaultDeny false,
 * headerMatches with mismatch/secret, kafka apiVersion/clientID), and two documents of one
 * stream with the same name. A YAML null reads as an absent field and an empty list as an
 * absent list, as Kubernetes' and Cilium's Go decoding does. metadata.name and namespace use
 * [A-Za-z0-9._-]; other metadata and `status` are ignored.
 *
 * Translation (as Cilium does): a namespaced policy's endpoint selector gets the label
 * "k8s:io.kubernetes.pod.namespace=<ns>" (a different namespace written in it is an error);
 * a peer podSelector without namespaceSelector gets it too, and so does a CiliumNetworkPolicy
 * peer selector without a namespace key or reserved: label of its own; namespaceSelector terms
 * become "k8s:io.cilium.k8s.namespace.labels.<key>" terms (an empty namespaceSelector means
 * every namespace); CiliumClusterwideNetworkPolicy adds nothing anywhere. matchLabels keys keep
 * their source if they have one ("k8s:app") and have none otherwise (matches any source).
 * Kubernetes `ports` without protocol are TCP; Cilium ones are ANY. Cilium also accepts
 * `protocol: ICMP`/`ICMPv6` without a port (every ICMP message; an extension the emitter
 * needs). NetworkPolicy policyTypes (or, if absent, Kubernetes' default: Ingress, plus Egress
 * when there are egress rules) set MICROSEG_RULE_F_INGRESS / _EGRESS, and rules of a
 * direction not in policyTypes are left out; every ingress/egress rule is one section.
 * A Cilium rule is one section whose peers are all its fromX/toX peers and whose ports are
 * its toPorts ports then its icmps types; a rule with neither (`{}`) sets the direction's
 * flag instead (ingressDeny `{}` too: it selects ingress). ingressDeny/egressDeny become DENY
 * sections. A section whose peers include the entity `all` has no peers (any peer).
 */
int ms_policy_docs_parse(const char *text, size_t len, struct ms_policy_docs *out, char *err, size_t errlen);
void ms_policy_docs_free(struct ms_policy_docs *docs);

/*
 * Emits one rule spec as a CiliumClusterwideNetworkPolicy document named `name` (the library
 * uses this to keep API-made rules in the state directory). spec->name is not written: the
 * parsed rule's name is `name`. Parsing the output gives back the spec: the same flags, and
 * ms_rule_spec_equal() (lists may come back in another order: selector peers, then CIDRs,
 * then entities; L4 ports, then ICMP types; sections grouped by direction and action). The
 * emitter checks this by parsing its own output before returning it. *text is malloc()ed and
 * starts with "---". Returns 0, -EINVAL (NULL argument, name not [A-Za-z0-9._-]{1,253},
 * spec failing ms_rule_spec_check(), or not expressible: e.g. two values for one label key,
 * label characters a document cannot carry), -E2BIG (ms_rule_spec_check()), -ENOMEM; *text
 * is written only on success.
 */
int ms_policy_emit_yaml(const struct microseg_rule_spec *spec, const char *name, char **text);

#endif
