/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Identity-based L3/L4 policy: which peer identity may talk to an endpoint, in which direction,
 * on which protocol and port. Userspace compiles the rules into one LPM table per distinct
 * policy (struct ms_policy_key); the datapath only looks up.
 *
 * The deciding functions return MS_DROP_NONE to let the packet through, or the ms_drop_reason
 * to count it under (MS_DROP_POLICY: nothing allows it, MS_DROP_POLICY_DENY: a deny rule
 * matched); the caller drops and counts.
 */
#ifndef MS_BPF_POLICY_H
#define MS_BPF_POLICY_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "ipcache.h"
#include "ct.h"

/* Key bits before the port: identity, direction, protocol. */
#define MS_POLICY_KEY_BITS_NOPORT MS_POLICY_PREFIX_BASE
#define MS_POLICY_KEY_BITS_PORT (MS_POLICY_PREFIX_BASE + 16)

/* What one lookup asks: has_port 0 means the packet has no port to match (see
 * ms_policy_query_pkt), so only entries that cover every port can decide. */
struct ms_policy_query {
	__u32 peer_id;
	__u8 dir;     /* enum ms_dir, from the endpoint's point of view */
	__u8 proto;
	__u8 has_port;
	__u8 pad;
	__be16 port;  /* network order */
};

/* The revision in force for this packet. Read once per packet: it both selects the table and
 * is stored in the connections the packet opens. */
static __always_inline __u32 ms_policy_rev(void)
{
	__u32 zero = 0;
	struct ms_config *cfg = bpf_map_lookup_elem(&ms_config, &zero);

	return cfg ? cfg->policy_rev : 0;
}

/*
 * The port a packet is judged on: TCP/UDP/SCTP destination port, ICMP/ICMPv6 type (in the low
 * byte, network order). Packets without one: non-first fragments, headers cut short, other
 * protocols, more IPv6 extension headers than the parser walks. They are looked up with the
 * port bits left out of the prefix, so that only entries covering every port (port prefix /0)
 * can allow them: a port range that happens to contain 0 does not. Fail closed.
 */
static __always_inline void ms_policy_query_pkt(struct ms_policy_query *q, __u8 dir,
						__u32 peer_id, const struct ms_pkt *pkt)
{
	q->peer_id = peer_id;
	q->dir = dir;
	q->proto = pkt->l4_proto;
	q->has_port = 0;
	q->pad = 0;
	q->port = 0;
	if (!(pkt->flags & MS_PKT_F_L4))
		return;
	switch (pkt->l4_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		q->port = pkt->dport;
		q->has_port = 1;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		q->port = bpf_htons(pkt->icmp_type);
		q->has_port = 1;
		break;
	}
}

/*
 * Looks the query up in the table of ep_id under revision rev. No table: the endpoint has no
 * compiled policy and is open. Otherwise the four combinations (peer, proto), (peer, any
 * proto), (any peer, proto), (any peer, any proto): a DENY anywhere wins, else an ALLOW
 * anywhere allows, else the selected direction's default deny. *rule_id gets the deciding
 * rule (0 for none or a default entry), *flags the allowing entry's MS_POLICY_F_* (L7: the
 * connection must go through the proxy; the most specific allow decides, see the compiler).
 */
static __always_inline __u32 ms_policy_decide(__u32 ep_id, __u32 rev,
					      const struct ms_policy_query *q, __u32 *rule_id,
					      __u8 *flags)
{
	struct ms_policy_value *v;
	struct ms_policy_key key;
	__u32 slot, allow = 0;
	void *table, *exact;
	int i;

	*rule_id = 0;
	*flags = 0;
	/* An id outside the slots cannot have a table of its own; never borrow another's. */
	if (ep_id >= ms_max_endpoints)
		return MS_DROP_POLICY;
	slot = (rev & 1) * ms_max_endpoints + ep_id;
	table = bpf_map_lookup_elem(&ms_policy, &slot);
	if (!table)
		return MS_DROP_NONE;
	/* Single ports sit in a hash: their cost does not grow with the table. */
	exact = q->has_port ? bpf_map_lookup_elem(&ms_policy_exact, &slot) : NULL;

	key.prefixlen = q->has_port ? MS_POLICY_KEY_BITS_PORT : MS_POLICY_KEY_BITS_NOPORT;
	key.dir = q->dir;
	key.port = q->has_port ? q->port : 0;
	for (i = 0; i < 4; i++) {
		key.identity = i < 2 ? q->peer_id : MS_POLICY_ANY_ID;
		key.proto = (i & 1) ? 0 : q->proto;
		v = exact ? bpf_map_lookup_elem(exact, &key) : NULL;
		if (!v)
			v = bpf_map_lookup_elem(table, &key);
		if (!v)
			continue;
		if (v->action == MS_POLICY_DENY) {
			*rule_id = v->rule_id;
			return MS_DROP_POLICY_DENY;
		}
		if (v->action == MS_POLICY_ALLOW && !allow) {
			allow = 1;
			*rule_id = v->rule_id;
			*flags = v->flags;
		}
	}
	return allow ? MS_DROP_NONE : MS_DROP_POLICY;
}

/*
 * A tracked connection seen under an older revision: judge it again as the packet that opened
 * it, with the identities of now. The entry's key is that packet's tuple and dir the direction
 * it travelled, so the peer is its destination (egress) or source (ingress) and the port its
 * destination port. ICMP echo connections are only ever opened by a request.
 */
static __always_inline __u32 ms_policy_recheck(__u32 ep_id, __u32 rev, const struct ms_ct_key *k,
					       __u32 *peer_id, __u32 *rule_id, __u8 *flags)
{
	const struct ms_ipcache_value *peer;
	struct ms_policy_query q = {};

	peer = ms_ipcache_lookup(k->family, k->dir == MS_DIR_EGRESS ? k->daddr : k->saddr);
	*peer_id = ms_ipcache_identity(peer);
	q.peer_id = *peer_id;
	q.dir = k->dir;
	q.proto = k->proto;
	switch (k->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		q.port = k->dport;
		q.has_port = 1;
		break;
	case IPPROTO_ICMP:
		q.port = bpf_htons(MS_ICMP_ECHO_REQUEST);
		q.has_port = 1;
		break;
	case IPPROTO_ICMPV6:
		q.port = bpf_htons(MS_ICMPV6_ECHO_REQUEST);
		q.has_port = 1;
		break;
	}
	return ms_policy_decide(ep_id, rev, &q, rule_id, flags);
}

/*
 * A packet of a live connection (ct from ms_ct_lookup): passes, unless the policy revision
 * changed since the connection was allowed and the policy of now no longer allows it. Then
 * the entry is deleted, so the rest of the connection is judged as new packets (and dropped).
 * *rule_id gets the rule that allows the connection, or the deny rule that revoked it.
 * A connection that did not go through the L7 proxy and now needs it (HTTP rules added on its
 * port) is revoked too: it cannot be moved into the proxy half-way (MS_DROP_PROXY).
 */
static __always_inline __u32 ms_policy_conn(__u32 ep_id, __u32 rev, struct ms_ct *ct,
					    __u32 *rule_id)
{
	struct ms_ct_value *v = ct->entry;
	__u32 reason, peer_id;
	__u8 flags;

	*rule_id = 0;
	if (!v)
		return MS_DROP_NONE;
	if (v->policy_rev == rev) {
		*rule_id = v->rule_id;
		return MS_DROP_NONE;
	}
	reason = ms_policy_recheck(ep_id, rev, &ct->key, &peer_id, rule_id, &flags);
	if (reason == MS_DROP_NONE && (flags & MS_POLICY_F_L7) && !(v->flags & MS_CT_F_PROXY))
		reason = MS_DROP_PROXY;
	if (reason != MS_DROP_NONE) {
		bpf_map_delete_elem(&ms_ct, &ct->key);
		ct->entry = NULL;
		return reason;
	}
	v->policy_rev = rev;
	v->rule_id = *rule_id;
	v->peer_identity = peer_id;
	return MS_DROP_NONE;
}

#endif
