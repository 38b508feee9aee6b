/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints in an in-memory context: validation of every option, getters, lookup, listing,
 * identity changes and the references endpoints hold. Nothing is attached anywhere (the
 * context has no datapath), so using existing interfaces such as lo is harmless.
 */
#include <unistd.h>

#include "util.h"

#define MAXIF 4

static unsigned if_idx[MAXIF];
static char if_name[MAXIF][IF_NAMESIZE];
static size_t n_if;

/* Adds with *o and expects one of two codes; asserts nothing changed and nothing was returned. */
static void expect_add_fails_at(const char *file, int line, const char *what,
				struct microseg_ctx *ctx, const struct microseg_endpoint_opts *o,
				int want1, int want2)
{
	struct ut_snap *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct microseg_endpoint *ep = (struct microseg_endpoint *)&ep;
	int rc;

	if (!before || !after) {
		h_fail(file, line, "out of memory");
		free(before);
		free(after);
		return;
	}
	ut_snap_take(ctx, before);
	rc = microseg_endpoint_add(ctx, o, &ep);
	h_checks += 3;
	if (rc != want1 && rc != want2) {
		char b[32], b1[32], b2[32];
		h_fail(file, line, "%s: endpoint_add gave %s, expected %s%s%s", what,
		       h_errname(rc, b, sizeof(b)), h_errname(want1, b1, sizeof(b1)),
		       want2 != want1 ? " or " : "",
		       want2 != want1 ? h_errname(want2, b2, sizeof(b2)) : "");
		if (rc == 0) /* undo, so later cases still see the expected state */
			microseg_endpoint_remove(ctx, ep, 0);
	}
	if (rc != 0 && ep != (struct microseg_endpoint *)&ep)
		h_fail(file, line, "%s: out parameter written on failure", what);
	ut_snap_take(ctx, after);
	if (!ut_snap_equal(before, after))
		h_fail(file, line, "%s: state changed (endpoints %zu -> %zu, identities %zu -> %zu)",
		       what, before->n_eps, after->n_eps, before->n_ids, after->n_ids);
	if (rc != 0 && microseg_ctx_last_error(ctx)[0] == '\0') {
		h_checks++;
		h_fail(file, line, "%s: no last error message", what);
	}
	free(before);
	free(after);
}

#define EXPECT_ADD_FAILS(what, ctx, o, err) expect_add_fails_at(__FILE__, __LINE__, what, ctx, o, err, err)
#define EXPECT_ADD_FAILS2(what, ctx, o, e1, e2)                                                     \
	expect_add_fails_at(__FILE__, __LINE__, what, ctx, o, e1, e2)

static int has_addr(const struct microseg_endpoint *ep, const char *want)
{
	for (size_t i = 0; i < microseg_endpoint_addr_count(ep); i++) {
		const char *a = microseg_endpoint_addr(ep, i);
		if (a && strcmp(a, want) == 0)
			return 1;
	}
	return 0;
}

static void test_getters(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;
	const char *addrs[] = { "10.200.0.2/32", "FD00:200:0::0002", "fd00:0200:0000:0000:0000:0000:0000:0003/128" };
	uint32_t num;

	REQUIRE(ctx);
	id = ut_ident(ctx, "getters");
	REQUIRE(id);
	num = microseg_identity_id(id);
	{
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .addrs = addrs, .n_addrs = 3,
			      .identity = id, .name = "ctr-getters", .mac = "02:00:00:00:00:01");
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &ep));
	}
	REQUIRE(ep);
	CHECK(microseg_endpoint_id(ep) >= 1);
	CHECK_EQ(microseg_endpoint_ifindex(ep), if_nametoindex("lo"));
	CHECK_STREQ(microseg_endpoint_ifname(ep), "lo");
	CHECK_STREQ(microseg_endpoint_name(ep), "ctr-getters");
	CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(ep)), num);
	CHECK_EQ(microseg_endpoint_addr_count(ep), 3);
	/* canonical text, prefix dropped */
	CHECK(has_addr(ep, "10.200.0.2"));
	CHECK(has_addr(ep, "fd00:200::2"));
	CHECK(has_addr(ep, "fd00:200::3"));
	CHECK(microseg_endpoint_addr(ep, 3) == NULL);
	CHECK(microseg_endpoint_addr(ep, (size_t)-1) == NULL);
	CHECK_EQ(ut_endpoint_count(ctx), 1);

	/* NULL handle getters */
	CHECK_EQ(microseg_endpoint_id(NULL), 0);
	CHECK_EQ(microseg_endpoint_ifindex(NULL), 0);
	CHECK(microseg_endpoint_ifname(NULL) == NULL);
	CHECK(microseg_endpoint_name(NULL) == NULL);
	CHECK(microseg_endpoint_identity(NULL) == NULL);
	CHECK_EQ(microseg_endpoint_addr_count(NULL), 0);
	CHECK(microseg_endpoint_addr(NULL, 0) == NULL);

	/* the endpoint holds its own reference: our put leaves the identity live */
	CHECK_OK(microseg_identity_put(ctx, id));
	CHECK(ut_id_live(ctx, num));
	CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	/* the endpoint's reference was the last one */
	CHECK(!ut_id_live(ctx, num));
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	microseg_ctx_close(ctx);
}

static void test_by_ifindex_and_defaults(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;
	unsigned lo = if_nametoindex("lo");

	REQUIRE(ctx && lo);
	id = ut_ident(ctx, "byindex");
	REQUIRE(id);
	{
		/* no name, no addresses, no MAC */
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifindex = lo, .identity = id);
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &ep));
	}
	CHECK_EQ(microseg_endpoint_ifindex(ep), lo);
	CHECK_STREQ(microseg_endpoint_ifname(ep), "lo");
	CHECK_STREQ(microseg_endpoint_name(ep), "");
	CHECK_EQ(microseg_endpoint_addr_count(ep), 0);
	CHECK(microseg_endpoint_addr(ep, 0) == NULL);
	CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	{
		/* both given and agreeing */
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .ifindex = lo, .identity = id);
		ep = NULL;
		CHECK_OK(microseg_endpoint_add(ctx, &o, &ep));
		if (ep)
			CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	}
	CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

static void test_bad_options(void)
{
	char ifname_long[64], name63[MICROSEG_ENDPOINT_NAME_MAX + 1], name64[MICROSEG_ENDPOINT_NAME_MAX + 2];
	char missing_if[IF_NAMESIZE];
	struct microseg_ctx *ctx = ut_open(), *other = ut_open_named("unit-other");
	struct microseg_identity *id = NULL, *id_other = NULL, *id_held = NULL;
	struct microseg_endpoint *held = NULL, *ep = NULL;
	const char *good_addrs[] = { "10.200.0.5", "fd00:200::5" };
	const char *held_addrs[] = { "10.200.9.9", "fd00:200::99" };
	static const char *const bad_addrs[] = {
		"10.0.0.256", "fe80::zz", "", "1.2.3.4/33", "10.200.0.1/24", "10.200.0.1/",
		"10.200.0.1/x", "10.200.0.1/32/32", " 10.200.0.1", "10.200.0.1 ", "1.2.3",
		"10.1", "1.2.3.4.5", "fd00:200::1/64", "fd00:200::1/129", "fd00:200::1/32",
		"fd00::200::1", "fd00:200:1", ":::", "10.200.0.1,10.200.0.2", "localhost",
		"10.200.0.1\n", "fd00:200::1%lo", "10.200.0.1/ 32", "10.200.0.1/\t32",
		"10.200.0.1/+32", "fd00:200::1/ 128", "fd00:200::1/0x80",
	};
	static const char *const bad_macs[] = {
		"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:gg", "aa:bb:cc:dd:ee:ff:00", "aabbccddeeff",
		"aa:bb:cc:dd:ee:fff", "aa:bb:cc:dd:ee:ff:", "zz:zz:zz:zz:zz:zz",
	};
	struct microseg_endpoint_opts base;

	REQUIRE(ctx && other);
	id = ut_ident(ctx, "bad-options");
	id_held = ut_ident(ctx, "held");
	id_other = ut_ident(other, "elsewhere");
	REQUIRE(id && id_held && id_other);
	snprintf(missing_if, sizeof(missing_if), "msnx%d", (int)getpid() % 100000);
	REQUIRE(if_nametoindex(missing_if) == 0);

	/* an endpoint already present, on a second interface when there is one */
	if (n_if >= 2) {
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifindex = if_idx[1], .addrs = held_addrs,
			      .n_addrs = 2, .identity = id_held, .name = "held");
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &held));
	}

	/* the valid baseline every case below changes in one respect */
	memset(&base, 0, sizeof(base));
	base.sz = sizeof(base);
	base.ifname = "lo";
	base.addrs = good_addrs;
	base.n_addrs = 2;
	base.identity = id;
	base.name = "ctr-bad";
	base.mac = "02:00:00:00:00:05";

	CHECK_RC(microseg_endpoint_add(NULL, &base, &ep), -EINVAL);
	CHECK_RC(microseg_endpoint_add(ctx, NULL, &ep), -EINVAL);
	CHECK_RC(microseg_endpoint_add(ctx, &base, NULL), -EINVAL);
	CHECK(ep == NULL);

	{
		struct microseg_endpoint_opts o = base;
		o.flags = 1;
		EXPECT_ADD_FAILS("flags 1", ctx, &o, -EINVAL);
		o.flags = 1u << 31;
		EXPECT_ADD_FAILS("flags 1<<31", ctx, &o, -EINVAL);
	}
	{
		/* a newer caller's struct with a non-zero unknown tail */
		struct {
			struct microseg_endpoint_opts o;
			uint64_t future;
		} big;
		memset(&big, 0, sizeof(big));
		big.o = base;
		big.o.sz = sizeof(big);
		big.future = 1;
		EXPECT_ADD_FAILS("non-zero tail", ctx, &big.o, -EINVAL);
	}
	{
		struct microseg_endpoint_opts o = base;
		o.ifname = NULL;
		o.ifindex = 0;
		EXPECT_ADD_FAILS("no interface", ctx, &o, -EINVAL);
		o.ifname = missing_if;
		EXPECT_ADD_FAILS("missing ifname", ctx, &o, -ENODEV);
		o.ifname = NULL;
		o.ifindex = 0x7ffffff0;
		EXPECT_ADD_FAILS("missing ifindex", ctx, &o, -ENODEV);
		o.ifname = "";
		o.ifindex = 0;
		EXPECT_ADD_FAILS2("empty ifname", ctx, &o, -EINVAL, -ENODEV);
		memset(ifname_long, 'i', sizeof(ifname_long) - 1);
		ifname_long[sizeof(ifname_long) - 1] = '\0';
		o.ifname = ifname_long;
		h_checks++;
		{
			struct microseg_endpoint *x = NULL;
			int rc = microseg_endpoint_add(ctx, &o, &x);
			if (rc != -EINVAL && rc != -ENODEV && rc != -ENAMETOOLONG)
				h_fail(__FILE__, __LINE__, "63-byte ifname: got %d", rc);
		}
		/* name and index that disagree */
		o.ifname = "lo";
		o.ifindex = n_if >= 3 ? if_idx[2] : 0x7ffffff0;
		EXPECT_ADD_FAILS2("ifname/ifindex mismatch", ctx, &o, -EINVAL, -ENODEV);
	}
	{
		struct microseg_endpoint_opts o = base;
		o.identity = NULL;
		EXPECT_ADD_FAILS("no identity", ctx, &o, -EINVAL);
		o.identity = id_other;
		EXPECT_ADD_FAILS2("identity of another ctx", ctx, &o, -ENOENT, -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad_addrs); i++) {
		struct microseg_endpoint_opts o = base;
		const char *addrs[] = { "10.200.0.6", bad_addrs[i] };
		char what[96];
		o.addrs = addrs;
		o.n_addrs = 2;
		snprintf(what, sizeof(what), "address \"%s\"", bad_addrs[i]);
		EXPECT_ADD_FAILS(what, ctx, &o, -EINVAL);
	}
	{
		struct microseg_endpoint_opts o = base;
		const char *with_null[] = { "10.200.0.6", NULL };
		o.addrs = with_null;
		o.n_addrs = 2;
		EXPECT_ADD_FAILS("NULL address", ctx, &o, -EINVAL);
		o.addrs = NULL;
		o.n_addrs = 1;
		EXPECT_ADD_FAILS("NULL addrs array", ctx, &o, -EINVAL);
	}
	{
		static const char *nine[] = { "10.200.0.11", "10.200.0.12", "10.200.0.13",
					      "10.200.0.14", "10.200.0.15", "10.200.0.16",
					      "fd00:200::17", "fd00:200::18", "fd00:200::19" };
		struct microseg_endpoint_opts o = base;
		o.addrs = nine;
		o.n_addrs = MICROSEG_ENDPOINT_ADDRS_MAX + 1;
		EXPECT_ADD_FAILS("9 addresses", ctx, &o, -E2BIG);
		o.n_addrs = (size_t)-1;
		EXPECT_ADD_FAILS("SIZE_MAX addresses", ctx, &o, -E2BIG);
	}
	{
		const char *dup4[] = { "10.200.0.7", "10.200.0.7/32" };
		const char *dup6[] = { "fd00:200::7", "FD00:0200:0:0:0:0:0:7/128" };
		struct microseg_endpoint_opts o = base;
		o.addrs = dup4;
		EXPECT_ADD_FAILS("duplicate IPv4 in opts", ctx, &o, -EEXIST);
		o.addrs = dup6;
		EXPECT_ADD_FAILS("duplicate IPv6 in opts", ctx, &o, -EEXIST);
	}
	if (held) {
		const char *taken4[] = { "10.200.0.8", "10.200.9.9/32" };
		const char *taken6[] = { "fd00:200:0::99", "10.200.0.8" };
		struct microseg_endpoint_opts o = base;
		o.addrs = taken4;
		EXPECT_ADD_FAILS("IPv4 of another endpoint", ctx, &o, -EEXIST);
		o.addrs = taken6;
		EXPECT_ADD_FAILS("IPv6 of another endpoint", ctx, &o, -EEXIST);
		o = base;
		o.ifname = NULL;
		o.ifindex = if_idx[1];
		EXPECT_ADD_FAILS("interface already an endpoint", ctx, &o, -EEXIST);
		o.ifname = if_name[1];
		o.ifindex = 0;
		EXPECT_ADD_FAILS("interface already an endpoint (by name)", ctx, &o, -EEXIST);
	}
	{
		struct microseg_endpoint_opts o = base;
		memset(name64, 'n', MICROSEG_ENDPOINT_NAME_MAX + 1);
		name64[MICROSEG_ENDPOINT_NAME_MAX + 1] = '\0';
		o.name = name64;
		EXPECT_ADD_FAILS("64-byte name", ctx, &o, -ENAMETOOLONG);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad_macs); i++) {
		struct microseg_endpoint_opts o = base;
		char what[64];
		o.mac = bad_macs[i];
		snprintf(what, sizeof(what), "MAC \"%s\"", bad_macs[i]);
		EXPECT_ADD_FAILS(what, ctx, &o, -EINVAL);
	}

	/* the baseline itself is accepted, with a name of exactly the maximum length */
	{
		struct microseg_endpoint_opts o = base;
		memset(name63, 'n', MICROSEG_ENDPOINT_NAME_MAX);
		name63[MICROSEG_ENDPOINT_NAME_MAX] = '\0';
		o.name = name63;
		ep = NULL;
		CHECK_OK(microseg_endpoint_add(ctx, &o, &ep));
		CHECK_STREQ(microseg_endpoint_name(ep), name63);
		/* and now the same interface again is a duplicate */
		{
			struct microseg_endpoint_opts o2 = base;
			const char *other_addrs[] = { "10.200.0.30" };
			o2.addrs = other_addrs;
			o2.n_addrs = 1;
			o2.name = "second";
			EXPECT_ADD_FAILS("same interface twice", ctx, &o2, -EEXIST);
			/* and an address of it is taken, even on the lo interface by index */
		}
		if (ep)
			CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	}

	/* failures took no references: ours is the only one left on each identity */
	if (held)
		CHECK_OK(microseg_endpoint_remove(ctx, held, 0));
	CHECK_REFS_AND_DROP(ctx, id, 1);
	CHECK_REFS_AND_DROP(ctx, id_held, 1);
	CHECK_REFS_AND_DROP(other, id_other, 1);
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	microseg_ctx_close(other);
	microseg_ctx_close(ctx);
}

static void test_address_limits(void)
{
	static const char *eight[] = { "10.200.1.1", "10.200.1.2/32", "10.200.1.3", "10.200.1.4",
				       "fd00:200::1:1", "fd00:200::1:2/128", "fd00:200::1:3",
				       "fd00:200::1:4" };
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;

	REQUIRE(ctx);
	id = ut_ident(ctx, "limits");
	REQUIRE(id);
	{
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .addrs = eight,
			      .n_addrs = MICROSEG_ENDPOINT_ADDRS_MAX, .identity = id);
		CHECK_OK(microseg_endpoint_add(ctx, &o, &ep));
	}
	CHECK_EQ(microseg_endpoint_addr_count(ep), MICROSEG_ENDPOINT_ADDRS_MAX);
	CHECK(has_addr(ep, "10.200.1.2"));
	CHECK(has_addr(ep, "fd00:200::1:2"));
	if (ep)
		CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	/* removing freed the addresses and the interface for a new endpoint */
	{
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .addrs = eight, .n_addrs = 2,
			      .identity = id);
		ep = NULL;
		CHECK_OK(microseg_endpoint_add(ctx, &o, &ep));
		if (ep)
			CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	}
	CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

static void test_lookup_and_list(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *eps[MAXIF] = { 0 }, *found = NULL, *listed[MAXIF + 2];
	size_t count = 0, n;
	char names[MAXIF][32];

	REQUIRE(ctx);
	if (n_if < 2) {
		microseg_ctx_close(ctx);
		SKIP("needs two interfaces");
	}
	id = ut_ident(ctx, "lookup");
	REQUIRE(id);
	n = n_if;
	for (size_t i = 0; i < n; i++) {
		char addr[32];
		const char *addrs[] = { addr };
		/* the second endpoint is named like the first one's interface */
		if (i == 1)
			snprintf(names[i], sizeof(names[i]), "%s", if_name[0]);
		else
			snprintf(names[i], sizeof(names[i]), "ctr-%zu", i);
		snprintf(addr, sizeof(addr), "10.200.2.%zu", i + 1);
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifindex = if_idx[i], .addrs = addrs,
			      .n_addrs = 1, .identity = id, .name = names[i]);
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &eps[i]));
	}
	CHECK_OK(microseg_endpoint_list(ctx, listed, ARRAY_LEN(listed), &count));
	CHECK_EQ(count, n);
	for (size_t i = 1; i < count && i < ARRAY_LEN(listed); i++)
		CHECK(microseg_endpoint_id(listed[i - 1]) < microseg_endpoint_id(listed[i]));
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < count && j < ARRAY_LEN(listed); j++)
			seen += listed[j] == eps[i];
		CHECK_EQ(seen, 1);
	}
	/* short array: -ENOSPC, the total, and the lowest id first */
	{
		struct microseg_endpoint *one[2] = { NULL, (struct microseg_endpoint *)&one };
		count = 0;
		CHECK_RC(microseg_endpoint_list(ctx, one, 1, &count), -ENOSPC);
		CHECK_EQ(count, n);
		CHECK(one[0] == listed[0]);
		CHECK(one[1] == (struct microseg_endpoint *)&one);
		count = 0;
		CHECK_RC(microseg_endpoint_list(ctx, NULL, 0, &count), -ENOSPC);
		CHECK_EQ(count, n);
	}
	CHECK_RC(microseg_endpoint_list(NULL, listed, 1, &count), -EINVAL);
	CHECK_RC(microseg_endpoint_list(ctx, listed, 1, NULL), -EINVAL);

	/* by interface name, then by endpoint name; the interface name wins */
	CHECK_OK(microseg_endpoint_lookup(ctx, if_name[0], &found));
	CHECK(found == eps[0]);
	for (size_t i = 1; i < n; i++) {
		found = NULL;
		CHECK_OK(microseg_endpoint_lookup(ctx, if_name[i], &found));
		CHECK(found == eps[i]);
	}
	found = NULL;
	CHECK_OK(microseg_endpoint_lookup(ctx, "ctr-0", &found));
	CHECK(found == eps[0]);
	if (n >= 3) {
		found = NULL;
		CHECK_OK(microseg_endpoint_lookup(ctx, "ctr-2", &found));
		CHECK(found == eps[2]);
	}
	found = NULL;
	CHECK_RC(microseg_endpoint_lookup(ctx, "no-such-endpoint", &found), -ENOENT);
	CHECK_RC(microseg_endpoint_lookup(ctx, "", &found), -ENOENT);
	CHECK_RC(microseg_endpoint_lookup(ctx, NULL, &found), -EINVAL);
	CHECK_RC(microseg_endpoint_lookup(NULL, "ctr-0", &found), -EINVAL);
	CHECK_RC(microseg_endpoint_lookup(ctx, "ctr-0", NULL), -EINVAL);
	CHECK(found == NULL);

	/* the identity has our reference and one per endpoint */
	for (size_t i = 0; i < n; i++)
		CHECK_OK(microseg_endpoint_remove(ctx, eps[i], 0));
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

/*
 * An endpoint named like another endpoint's interface must never shadow it. Where the two
 * land in the library's tables depends on allocation addresses, so the pair is built in
 * several contexts kept open at once (each with its own allocations).
 */
static void test_lookup_ifname_wins(void)
{
	enum { ROUNDS = 24 };
	struct microseg_ctx *ctxs[ROUNDS] = { 0 };
	int wrong = 0, done = 0;

	if (n_if < 2)
		SKIP("needs two interfaces");
	for (int r = 0; r < ROUNDS; r++) {
		struct microseg_identity *id = NULL;
		struct microseg_endpoint *by_if = NULL, *by_name = NULL, *found = NULL;
		char own[32];

		ctxs[r] = ut_open();
		if (!ctxs[r])
			break;
		id = ut_ident(ctxs[r], "shadow");
		if (!id)
			break;
		snprintf(own, sizeof(own), "own-%d", r);
		MICROSEG_OPTS(microseg_endpoint_opts, a, .ifindex = if_idx[0], .identity = id,
			      .name = own);
		MICROSEG_OPTS(microseg_endpoint_opts, b, .ifindex = if_idx[1], .identity = id,
			      .name = if_name[0]);
		/* alternate the order of creation too */
		if (r % 2) {
			CHECK_OK(microseg_endpoint_add(ctxs[r], &b, &by_name));
			CHECK_OK(microseg_endpoint_add(ctxs[r], &a, &by_if));
		} else {
			CHECK_OK(microseg_endpoint_add(ctxs[r], &a, &by_if));
			CHECK_OK(microseg_endpoint_add(ctxs[r], &b, &by_name));
		}
		CHECK_OK(microseg_endpoint_lookup(ctxs[r], if_name[0], &found));
		if (by_if && found != by_if)
			wrong++;
		CHECK_OK(microseg_identity_put(ctxs[r], id));
		done++;
	}
	CHECK_EQ(done, ROUNDS);
	if (wrong)
		h_fail(__FILE__, __LINE__,
		       "lookup(\"%s\") gave the endpoint *named* %s instead of the one on "
		       "interface %s in %d of %d contexts",
		       if_name[0], if_name[0], if_name[0], wrong, done);
	h_checks++;
	for (int r = 0; r < ROUNDS; r++)
		microseg_ctx_close(ctxs[r]);
}

static void test_refs_held_by_endpoints(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *eps[MAXIF] = { 0 };
	uint32_t num;

	REQUIRE(ctx);
	id = ut_ident(ctx, "refs");
	REQUIRE(id);
	num = microseg_identity_id(id);
	for (size_t i = 0; i < n_if; i++) {
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifindex = if_idx[i], .identity = id);
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &eps[i]));
	}
	CHECK_OK(microseg_identity_put(ctx, id));
	/* live while any endpoint still holds it; gone with the last */
	for (size_t i = 0; i < n_if; i++) {
		CHECK(ut_id_live(ctx, num));
		CHECK_OK(microseg_endpoint_remove(ctx, eps[i], 0));
	}
	CHECK(!ut_id_live(ctx, num));
	microseg_ctx_close(ctx);
}

static void test_set_identity(void)
{
	struct microseg_ctx *ctx = ut_open(), *other = ut_open_named("unit-other");
	struct microseg_identity *a = NULL, *b = NULL, *foreign = NULL;
	struct microseg_endpoint *ep = NULL, *foreign_ep = NULL;
	struct ut_snap before;
	uint32_t num_a, num_b;

	REQUIRE(ctx && other);
	a = ut_ident(ctx, "old");
	b = ut_ident(ctx, "new");
	foreign = ut_ident(other, "foreign");
	REQUIRE(a && b && foreign);
	num_a = microseg_identity_id(a);
	num_b = microseg_identity_id(b);
	{
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .identity = a);
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &ep));
		MICROSEG_OPTS(microseg_endpoint_opts, fo, .ifname = "lo", .identity = foreign);
		REQUIRE_OK(microseg_endpoint_add(other, &fo, &foreign_ep));
	}
	/* only the endpoint holds a now */
	CHECK_OK(microseg_identity_put(ctx, a));

	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_endpoint_set_identity(NULL, ep, b), -EINVAL);
	CHECK_RC(microseg_endpoint_set_identity(ctx, NULL, b), -EINVAL);
	CHECK_RC(microseg_endpoint_set_identity(ctx, ep, NULL), -EINVAL);
	CHECK_RC(microseg_endpoint_set_identity(ctx, ep, foreign), -ENOENT);
	CHECK_RC(microseg_endpoint_set_identity(ctx, foreign_ep, b), -ENOENT);
	CHECK_UNCHANGED(ctx, &before);
	CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(ep)), num_a);
	CHECK(ut_id_live(ctx, num_a));

	CHECK_OK(microseg_endpoint_set_identity(ctx, ep, b));
	CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(ep)), num_b);
	/* the old identity lost its last reference */
	CHECK(!ut_id_live(ctx, num_a));
	/* setting the identity it already has changes no count */
	CHECK_OK(microseg_endpoint_set_identity(ctx, ep, b));
	CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(ep)), num_b);

	/* moving to a reserved identity and back */
	{
		struct microseg_identity *world = NULL;
		CHECK_OK(microseg_identity_lookup(ctx, MICROSEG_IDENTITY_WORLD, &world));
		CHECK_OK(microseg_endpoint_set_identity(ctx, ep, world));
		CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(ep)), MICROSEG_IDENTITY_WORLD);
		CHECK(ut_id_live(ctx, num_b)); /* we still hold b */
		CHECK_OK(microseg_endpoint_set_identity(ctx, ep, b));
		if (world)
			CHECK_OK(microseg_identity_put(ctx, world));
	}

	/* the other context's endpoint is untouched */
	CHECK_EQ(microseg_identity_id(microseg_endpoint_identity(foreign_ep)),
		 microseg_identity_id(foreign));

	/* b: ours and the endpoint's */
	CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	CHECK_REFS_AND_DROP(ctx, b, 1);
	CHECK_OK(microseg_endpoint_remove(other, foreign_ep, 0));
	CHECK_REFS_AND_DROP(other, foreign, 1);
	microseg_ctx_close(other);
	microseg_ctx_close(ctx);
}

static void test_remove_and_stats_errors(void)
{
	struct microseg_ctx *ctx = ut_open(), *other = ut_open_named("unit-other");
	struct microseg_identity *id = NULL, *oid = NULL;
	struct microseg_endpoint *ep = NULL, *oep = NULL;
	struct ut_snap before;

	REQUIRE(ctx && other);
	id = ut_ident(ctx, "remove");
	oid = ut_ident(other, "remove");
	REQUIRE(id && oid);
	{
		const char *addrs[] = { "10.200.3.1" };
		MICROSEG_OPTS(microseg_endpoint_opts, o, .ifname = "lo", .identity = id,
			      .addrs = addrs, .n_addrs = 1);
		REQUIRE_OK(microseg_endpoint_add(ctx, &o, &ep));
		/* the same interface and address in another context: no interference */
		MICROSEG_OPTS(microseg_endpoint_opts, oo, .ifname = "lo", .identity = oid,
			      .addrs = addrs, .n_addrs = 1);
		REQUIRE_OK(microseg_endpoint_add(other, &oo, &oep));
	}
	ut_snap_take(ctx, &before);
	CHECK_RC(microseg_endpoint_remove(NULL, ep, 0), -EINVAL);
	CHECK_RC(microseg_endpoint_remove(ctx, NULL, 0), -EINVAL);
	CHECK_RC(microseg_endpoint_remove(ctx, oep, 0), -ENOENT);
	{
		struct microseg_endpoint_stats st = { .sz = sizeof(st) };
		CHECK_RC(microseg_endpoint_get_stats(NULL, ep, &st), -EINVAL);
		CHECK_RC(microseg_endpoint_get_stats(ctx, NULL, &st), -EINVAL);
		CHECK_RC(microseg_endpoint_get_stats(ctx, ep, NULL), -EINVAL);
		CHECK_RC(microseg_endpoint_get_stats(ctx, oep, &st), -ENOENT);
		st.sz = 0;
		CHECK_RC(microseg_endpoint_get_stats(ctx, ep, &st), -EINVAL);
	}
	CHECK_UNCHANGED(ctx, &before);
	CHECK_EQ(ut_endpoint_count(other), 1);
	/* removing in one context leaves the other's endpoint */
	CHECK_OK(microseg_endpoint_remove(ctx, ep, 0));
	CHECK_EQ(ut_endpoint_count(ctx), 0);
	CHECK_EQ(ut_endpoint_count(other), 1);
	{
		struct microseg_endpoint *f = NULL;
		CHECK_OK(microseg_endpoint_lookup(other, "lo", &f));
		CHECK(f == oep);
		CHECK_RC(microseg_endpoint_lookup(ctx, "lo", &f), -ENOENT);
	}
	CHECK_OK(microseg_endpoint_remove(other, oep, 0));
	CHECK_REFS_AND_DROP(ctx, id, 1);
	CHECK_REFS_AND_DROP(other, oid, 1);
	microseg_ctx_close(other);
	microseg_ctx_close(ctx);
}

/* Only invalid requests: a valid one would create a veth, which the unit tier must not do. */
static void test_add_veth_errors(void)
{
	struct microseg_ctx *ctx = ut_open();
	struct microseg_identity *id = NULL;
	struct microseg_endpoint *ep = NULL;
	char host[IF_NAMESIZE];
	const char *addrs[] = { "10.200.4.2/32" };
	struct microseg_veth_opts base;
	struct ut_snap before;

	REQUIRE(ctx);
	id = ut_ident(ctx, "veth");
	REQUIRE(id);
	snprintf(host, sizeof(host), "msut%d", (int)getpid() % 100000);
	memset(&base, 0, sizeof(base));
	base.sz = sizeof(base);
	base.host_ifname = host;
	base.netns_path = "/nonexistent/netns/unit";
	base.addrs = addrs;
	base.n_addrs = 1;
	base.identity = id;

	ut_snap_take(ctx, &before);
	{
		struct microseg_veth_opts o = base;
		CHECK_RC(microseg_endpoint_add_veth(NULL, &o, &ep), -EINVAL);
		CHECK_RC(microseg_endpoint_add_veth(ctx, NULL, &ep), -EINVAL);
		o.netns_path = NULL;
		CHECK_RC(microseg_endpoint_add_veth(ctx, &o, NULL), -EINVAL);
		CHECK_RC(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL);
		o = base;
		o.netns_path = NULL;
		o.host_ifname = NULL;
		CHECK_RC(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL);
		/* with an otherwise complete request; the kernel could not take the name anyway */
		o.netns_path = base.netns_path;
		o.host_ifname = "this-name-is-too-long";
		CHECK_RC2(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL, -ENAMETOOLONG);
		o = base;
		o.netns_path = NULL;
		o.identity = NULL;
		CHECK_RC(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL);
		o = base;
		o.netns_path = NULL;
		o.flags = 1;
		CHECK_RC(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL);
		{
			const char *bad[] = { "10.200.4.300" };
			o = base;
			o.netns_path = NULL;
			o.addrs = bad;
			CHECK_RC(microseg_endpoint_add_veth(ctx, &o, &ep), -EINVAL);
		}
	}
	CHECK(ep == NULL);
	CHECK_UNCHANGED(ctx, &before);
	/* no link was left behind */
	CHECK_EQ(if_nametoindex(host), 0);
	CHECK_REFS_AND_DROP(ctx, id, 1);
	microseg_ctx_close(ctx);
}

static const struct h_test tests[] = {
	TEST_ENTRY(test_getters),
	TEST_ENTRY(test_by_ifindex_and_defaults),
	TEST_ENTRY(test_bad_options),
	TEST_ENTRY(test_address_limits),
	TEST_ENTRY(test_lookup_and_list),
	TEST_ENTRY(test_lookup_ifname_wins),
	TEST_ENTRY(test_refs_held_by_endpoints),
	TEST_ENTRY(test_set_identity),
	TEST_ENTRY(test_remove_and_stats_errors),
	TEST_ENTRY(test_add_veth_errors),
};

int main(int argc, char **argv)
{
	n_if = ut_interfaces(if_idx, if_name, MAXIF);
	if (n_if == 0) {
		fprintf(stderr, "no interface found (not even lo)\n");
		return 77;
	}
	return h_run(tests, ARRAY_LEN(tests), argc, argv);
}
