/*
 * The token detectors of CID-POL-6: one token across many accounts, one
 * token from two networks at once, and the per-device session cap; plus
 * the network prefix of an address.
 *
 * Known failure until src/policy/tracker.c is fixed:
 *   pol6_reuse_fires_up_to_largest_limit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy/tracker.h"

#define T0  1700000000000ull
#define WIN 60000ull

static bool
note(struct tracker *t, const char *token, const char *account, uint64_t now,
     unsigned limit)
{
	return tracker_note_account(t, token, account, now, WIN, limit);
}

static bool
acquire(struct tracker *t, const char *token, const char *network, unsigned cap,
        bool *other)
{
	*other = !*other; /* must be overwritten */
	return tracker_session_acquire(t, token, network, cap, other);
}

/* CID-POL-6: fires once when a token has been presented for more than
 * `limit` distinct accounts within the window, not again while it stays
 * above. */
static void
pol6_reuse_fires_once(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(100);
	assert_non_null(t);
	assert_false(note(t, "tok", "alice", T0, 2));
	assert_false(note(t, "tok", "bob", T0 + 1, 2));
	/* the same accounts again: still two */
	assert_false(note(t, "tok", "alice", T0 + 2, 2));
	assert_false(note(t, "tok", "bob", T0 + 3, 2));
	assert_true(note(t, "tok", "carol", T0 + 4, 2));
	/* above the limit: silent */
	assert_false(note(t, "tok", "dave", T0 + 5, 2));
	assert_false(note(t, "tok", "alice", T0 + 6, 2));
	assert_false(note(t, "tok", "erin", T0 + 7, 2));
	/* another token is counted apart */
	assert_false(note(t, "other", "alice", T0 + 8, 2));
	assert_false(note(t, "other", "bob", T0 + 8, 2));
	assert_true(note(t, "other", "carol", T0 + 8, 2));

	/* limit 1: the second account fires */
	assert_false(note(t, "t1", "x", T0, 1));
	assert_true(note(t, "t1", "y", T0, 1));

	/* one account a thousand times: never */
	for (int i = 0; i < 1000; i++)
		assert_false(note(t, "t2", "same", T0 + (uint64_t)i, 1));
	tracker_free(t);
	tracker_free(NULL);
}

/* Accounts older than the window are forgotten; once the count falls back
 * to the limit the detector re-arms and fires again. */
static void
pol6_reuse_window_and_rearm(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(100);
	assert_false(note(t, "tok", "a1", T0, 2));
	assert_false(note(t, "tok", "a2", T0 + 30000, 2));
	/* a1 was seen exactly one window ago: still inside */
	assert_true(note(t, "tok", "a3", T0 + WIN, 2));
	/* a1 now outside: a2, a3, a4 = 3 > 2, but already flagged */
	assert_false(note(t, "tok", "a4", T0 + WIN + 1, 2));
	/* much later only b1 is in the window: 1, re-armed */
	assert_false(note(t, "tok", "b1", T0 + 10 * WIN, 2));
	assert_false(note(t, "tok", "b2", T0 + 10 * WIN + 1, 2));
	assert_true(note(t, "tok", "b3", T0 + 10 * WIN + 2, 2));
	tracker_free(t);

	/* Forgetting: a1 and a2 leave the window, so a3 and a4 make only 2. */
	t = tracker_new(100);
	assert_false(note(t, "tok", "a1", T0, 2));
	assert_false(note(t, "tok", "a2", T0 + 1000, 2));
	assert_false(note(t, "tok", "a3", T0 + 1000 + WIN + 1, 2));
	assert_false(note(t, "tok", "a4", T0 + 1000 + WIN + 2, 2));
	assert_true(note(t, "tok", "a5", T0 + 1000 + WIN + 3, 2));
	tracker_free(t);

	/* Refreshing an account keeps it in the window. */
	t = tracker_new(100);
	assert_false(note(t, "tok", "a1", T0, 2));
	assert_false(note(t, "tok", "a2", T0, 2));
	assert_false(note(t, "tok", "a1", T0 + WIN, 2));
	/* a2 (seen at T0) is gone, a1 (seen at T0 + WIN) is not */
	assert_false(note(t, "tok", "a3", T0 + WIN + 1, 2));
	assert_true(note(t, "tok", "a4", T0 + WIN + 2, 2));
	tracker_free(t);
}

/*
 * tracker.h: "true once when the token has been presented for more than
 * limit distinct accounts within window_ms". A token remembers at most
 * TRACKER_ACCOUNTS_MAX (32) accounts, so config.c bounds
 * detect_token_accounts to 31: every allowed limit, the largest included,
 * must still fire.
 */
static void
pol6_reuse_fires_up_to_largest_limit(void **state)
{
	(void)state;
	static const unsigned limits[] = {1, 16, 31};
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		struct tracker *t = tracker_new(100);
		unsigned limit = limits[l], fired = 0;
		char account[32];
		/* twice the limit, all within a second */
		for (unsigned i = 0; i < 2 * limit; i++) {
			snprintf(account, sizeof(account), "user%u", i);
			if (note(t, "stuffer", account, T0 + i, limit))
				fired++;
		}
		tracker_free(t);
		if (fired != 1)
			fail_msg("limit %u, %u accounts: fired %u times, "
			         "expected once",
			         limit, 2 * limit, fired);
	}
}

/* max_tokens bounds the table: idle tokens are swept; a token that still
 * does not fit is not tracked (never fires). */
static void
pol6_reuse_table_bounded(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(1);
	assert_false(note(t, "tokA", "a1", T0, 1));
	/* full with a fresh token: tokB is not tracked */
	assert_false(note(t, "tokB", "b1", T0 + 1, 1));
	assert_false(note(t, "tokB", "b2", T0 + 2, 1));
	/* tokA still is */
	assert_true(note(t, "tokA", "a2", T0 + 3, 1));
	/* once tokA's accounts are out of the window, tokB takes its place */
	assert_false(note(t, "tokB", "b1", T0 + 3 + WIN + 1, 1));
	assert_true(note(t, "tokB", "b2", T0 + 3 + WIN + 2, 1));
	tracker_free(t);

	/* A token with an open session is never swept. */
	t = tracker_new(1);
	bool other = false;
	assert_false(note(t, "tokA", "a1", T0, 5));
	assert_true(acquire(t, "tokA", "10.0.0.0/16", 1, &other));
	assert_false(note(t, "tokB", "b1", T0 + 10 * WIN, 1));
	assert_false(note(t, "tokB", "b2", T0 + 10 * WIN, 1));
	/* tokA's session is still counted */
	assert_false(acquire(t, "tokA", "10.0.0.0/16", 1, &other));
	tracker_session_release(t, "tokA", "10.0.0.0/16");
	/* now idle: swept for tokB at the next sweep, which a full table
	 * does at most once a second */
	assert_false(note(t, "tokB", "b1", T0 + 10 * WIN + 1000, 1));
	assert_true(note(t, "tokB", "b2", T0 + 10 * WIN + 1000, 1));
	tracker_free(t);
}

/* CID-POL-6: at most `cap` sessions per token; a refused acquire counts
 * nothing; release frees a place. */
static void
pol6_session_cap(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(100);
	bool other = false;
	assert_true(acquire(t, "tok", "10.1.0.0/16", 2, &other));
	assert_false(other);
	assert_true(acquire(t, "tok", "10.1.0.0/16", 2, &other));
	assert_false(other);
	assert_false(acquire(t, "tok", "10.1.0.0/16", 2, &other));
	assert_false(other);
	/* the refusal counted nothing: one release makes one place */
	tracker_session_release(t, "tok", "10.1.0.0/16");
	assert_true(acquire(t, "tok", "10.1.0.0/16", 2, &other));
	assert_false(acquire(t, "tok", "10.1.0.0/16", 2, &other));
	/* the cap counts sessions from every network */
	assert_false(acquire(t, "tok", "192.168.0.0/16", 2, &other));
	assert_true(other);
	/* another token has its own count */
	assert_true(acquire(t, "tok2", "10.1.0.0/16", 2, &other));
	assert_false(other);
	/* a larger cap for the same token lets one more in */
	assert_true(acquire(t, "tok", "10.1.0.0/16", 3, &other));
	assert_false(acquire(t, "tok", "10.1.0.0/16", 3, &other));
	/* releasing everything empties it */
	for (int i = 0; i < 3; i++)
		tracker_session_release(t, "tok", "10.1.0.0/16");
	assert_true(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	assert_false(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	tracker_free(t);

	/* cap 0: no cap */
	t = tracker_new(100);
	for (int i = 0; i < 100; i++)
		assert_true(acquire(t, "tok", "10.1.0.0/16", 0, &other));
	tracker_free(t);
}

/* CID-POL-6: other_network tells whether the token has a session open from
 * another network. */
static void
pol6_session_other_network(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(100);
	bool other = false;
	assert_true(acquire(t, "tok", "10.1.0.0/16", 0, &other));
	assert_false(other);
	assert_true(acquire(t, "tok", "10.1.0.0/16", 0, &other));
	assert_false(other);
	assert_true(acquire(t, "tok", "2001:db8:1::/48", 0, &other));
	assert_true(other);
	/* from the first network again: the IPv6 one is "other" */
	assert_true(acquire(t, "tok", "10.1.0.0/16", 0, &other));
	assert_true(other);
	/* close the IPv6 session: no other network any more */
	tracker_session_release(t, "tok", "2001:db8:1::/48");
	assert_true(acquire(t, "tok", "10.1.0.0/16", 0, &other));
	assert_false(other);
	/* another token's sessions do not count */
	assert_true(acquire(t, "tok2", "172.16.0.0/16", 0, &other));
	assert_false(other);
	/* close all four 10.1 sessions: a new network is alone */
	for (int i = 0; i < 4; i++)
		tracker_session_release(t, "tok", "10.1.0.0/16");
	assert_true(acquire(t, "tok", "192.0.0.0/16", 0, &other));
	assert_false(other);
	tracker_free(t);
}

/* Releasing what was never acquired is harmless and changes nothing. */
static void
pol6_session_release_unknown(void **state)
{
	(void)state;
	struct tracker *t = tracker_new(100);
	bool other = false;
	tracker_session_release(t, "never", "10.1.0.0/16");
	tracker_session_release(t, "never", "10.1.0.0/16");
	assert_true(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	/* unknown network of a known token: the session stays counted */
	tracker_session_release(t, "tok", "10.2.0.0/16");
	assert_false(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	/* more releases than acquires: no underflow */
	tracker_session_release(t, "tok", "10.1.0.0/16");
	tracker_session_release(t, "tok", "10.1.0.0/16");
	tracker_session_release(t, "tok", "10.1.0.0/16");
	assert_true(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	assert_false(other);
	assert_false(acquire(t, "tok", "10.1.0.0/16", 1, &other));
	/* a token known only from note_account */
	assert_false(note(t, "noted", "alice", T0, 3));
	tracker_session_release(t, "noted", "10.1.0.0/16");
	assert_true(acquire(t, "noted", "10.1.0.0/16", 1, &other));
	assert_false(acquire(t, "noted", "10.1.0.0/16", 1, &other));
	tracker_free(t);
}

static void
net_ok(const char *addr, unsigned v4, unsigned v6, const char *want)
{
	char out[TRACKER_NETWORK_MAX];
	memset(out, 'X', sizeof(out));
	if (!tracker_network(addr, v4, v6, out))
		fail_msg("%s refused", addr);
	if (strcmp(out, want) != 0)
		fail_msg("%s /%u /%u: \"%s\", expected \"%s\"", addr, v4, v6,
		         out, want);
}

static void
net_bad(const char *addr)
{
	char out[TRACKER_NETWORK_MAX];
	if (tracker_network(addr, 16, 48, out))
		fail_msg("\"%s\" accepted as %s", addr, out);
}

/* The "two places at once" network of an address: IPv4 /v4, IPv6 /v6. */
static void
pol6_network_prefix(void **state)
{
	(void)state;
	net_ok("10.1.2.3", 16, 48, "10.1.0.0/16");
	net_ok("10.1.255.3", 20, 48, "10.1.240.0/20");
	net_ok("192.0.2.77", 24, 48, "192.0.2.0/24");
	net_ok("192.0.2.77", 32, 48, "192.0.2.77/32");
	net_ok("192.0.2.77", 1, 48, "128.0.0.0/1");
	net_ok("192.0.2.77", 40, 48, "192.0.2.77/32"); /* clamped */
	net_ok("2001:db8:abcd:1234::1", 16, 48, "2001:db8:abcd::/48");
	net_ok("2001:db8:abcd:1234:5:6:7:8", 16, 64, "2001:db8:abcd:1234::/64");
	net_ok("2001:db8:abcd:12ff::1", 16, 56, "2001:db8:abcd:1200::/56");
	net_ok("2001:db8::1", 16, 128, "2001:db8::1/128");
	net_ok("2001:db8::1", 16, 200, "2001:db8::1/128"); /* clamped */
	net_ok("::1", 16, 48, "::/48");
	net_ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 16, 127,
	       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	/* two addresses of one network give the same text */
	char a[TRACKER_NETWORK_MAX], b[TRACKER_NETWORK_MAX];
	assert_true(tracker_network("203.0.113.1", 16, 48, a));
	assert_true(tracker_network("203.0.200.254", 16, 48, b));
	assert_string_equal(a, b);
	assert_true(tracker_network("203.1.113.1", 16, 48, b));
	assert_string_not_equal(a, b);

	net_bad("");
	net_bad("not-an-address");
	net_bad("10.1.2");
	net_bad("10.1.2.3:993");
	net_bad("[2001:db8::1]");
	net_bad("256.1.2.3");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pol6_reuse_fires_once),
	        cmocka_unit_test(pol6_reuse_window_and_rearm),
	        cmocka_unit_test(pol6_reuse_fires_up_to_largest_limit),
	        cmocka_unit_test(pol6_reuse_table_bounded),
	        cmocka_unit_test(pol6_session_cap),
	        cmocka_unit_test(pol6_session_other_network),
	        cmocka_unit_test(pol6_session_release_unknown),
	        cmocka_unit_test(pol6_network_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
