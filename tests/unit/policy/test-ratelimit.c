/*
 * Failure budgets (CID-POL-6: rate-limit and block per client identity):
 * the pure sliding-window functions with explicit times, then the shared
 * table (bounds, reset, block) and the sketch beyond its bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "policy/ratelimit.h"

#define T0 1700000000000ull /* a realistic wall clock, in ms */

static const struct ratelimit_params P = {
        .window_ms = 60000,
        .free = 3,
        .block = 10,
        .block_ms = 300000,
        .delay_base_ms = 1000,
        .delay_max_ms = 8000,
};

static struct ratelimit_verdict
wcheck(const struct ratelimit_window *w, const struct ratelimit_params *p,
       uint64_t now)
{
	struct ratelimit_verdict v;
	memset(&v, 0x5a, sizeof(v));
	struct ratelimit_window before = *w;
	ratelimit_window_check(w, p, now, &v);
	/* check is pure: the window is not touched */
	assert_memory_equal(&before, w, sizeof(before));
	return v;
}

static unsigned
failures_at(const struct ratelimit_window *w, const struct ratelimit_params *p,
            uint64_t now)
{
	return wcheck(w, p, now).failures;
}

static struct ratelimit_verdict
tcheck(struct ratelimit *rl, const char *key, const struct ratelimit_params *p,
       uint64_t now)
{
	struct ratelimit_verdict v;
	memset(&v, 0x5a, sizeof(v));
	ratelimit_check(rl, key, p, now, &v);
	return v;
}

/* A fresh window: nothing counted, no delay, no block. */
static void
pol6_window_empty(void **state)
{
	(void)state;
	struct ratelimit_window w;
	memset(&w, 0, sizeof(w));
	struct ratelimit_verdict v = wcheck(&w, &P, T0);
	assert_int_equal(v.failures, 0);
	assert_int_equal(v.delay_ms, 0);
	assert_false(v.blocked);
}

/* CID-POL-6: `free` failures cost nothing; then every answer is delayed,
 * the delay doubling per further failure up to delay_max. */
static void
pol6_window_free_then_doubling(void **state)
{
	(void)state;
	static const uint64_t want[] = {0,    0,    0,    1000, 2000,
	                                4000, 8000, 8000, 8000, 8000};
	struct ratelimit_window w;
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 10; i++) {
		struct ratelimit_verdict v = wcheck(&w, &P, T0 + i);
		if (v.failures != i || v.delay_ms != want[i] || v.blocked)
			fail_msg("after %u failures: failures=%u delay=%llu "
			         "blocked=%d, expected %u, %llu, 0",
			         i, v.failures, (unsigned long long)v.delay_ms,
			         v.blocked, i, (unsigned long long)want[i]);
		ratelimit_window_fail(&w, &P, T0 + i);
	}

	/* A maximum that is not a power-of-two multiple of the base. */
	struct ratelimit_params p = P;
	p.delay_max_ms = 5000;
	p.block = 0;
	static const uint64_t want2[] = {0,    0,    0,    1000, 2000,
	                                 4000, 5000, 5000, 5000};
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 9; i++) {
		assert_int_equal(wcheck(&w, &p, T0).delay_ms, want2[i]);
		ratelimit_window_fail(&w, &p, T0);
	}
	/* Many failures: still the maximum, no overflow. */
	for (unsigned i = 0; i < 200; i++)
		ratelimit_window_fail(&w, &p, T0);
	assert_int_equal(wcheck(&w, &p, T0).failures, 209);
	assert_int_equal(wcheck(&w, &p, T0).delay_ms, 5000);

	/* delay_base 0: no delay ever. */
	p.delay_base_ms = 0;
	assert_int_equal(wcheck(&w, &p, T0).delay_ms, 0);

	/* free 1: the first failure is free, the second is delayed. */
	p = P;
	p.free = 1;
	memset(&w, 0, sizeof(w));
	ratelimit_window_fail(&w, &p, T0);
	assert_int_equal(wcheck(&w, &p, T0).delay_ms, 1000);
}

/* CID-POL-6: at the ceiling the key is blocked for block_ms exactly. */
static void
pol6_window_block_at_ceiling(void **state)
{
	(void)state;
	struct ratelimit_window w;
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 9; i++)
		ratelimit_window_fail(&w, &P, T0 + i);
	assert_false(wcheck(&w, &P, T0 + 9).blocked);
	assert_int_equal(w.blocked_until_ms, 0);

	ratelimit_window_fail(&w, &P, T0 + 9); /* the 10th */
	assert_int_equal(w.blocked_until_ms, T0 + 9 + 300000);
	struct ratelimit_verdict v = wcheck(&w, &P, T0 + 9);
	assert_true(v.blocked);
	assert_int_equal(v.failures, 10);
	assert_true(wcheck(&w, &P, T0 + 9 + 299999).blocked);
	v = wcheck(&w, &P, T0 + 9 + 300000);
	assert_false(v.blocked);
	/* five windows later the failures are gone too */
	assert_int_equal(v.failures, 0);
	assert_int_equal(v.delay_ms, 0);

	/* More failures while blocked do not extend the block. */
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 10; i++)
		ratelimit_window_fail(&w, &P, T0);
	assert_int_equal(w.blocked_until_ms, T0 + 300000);
	ratelimit_window_fail(&w, &P, T0 + 1000);
	ratelimit_window_fail(&w, &P, T0 + 2000);
	assert_int_equal(w.blocked_until_ms, T0 + 300000);

	/* block 0: no ceiling. */
	struct ratelimit_params p = P;
	p.block = 0;
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 100; i++)
		ratelimit_window_fail(&w, &p, T0);
	v = wcheck(&w, &p, T0);
	assert_false(v.blocked);
	assert_int_equal(v.failures, 100);
	assert_int_equal(w.blocked_until_ms, 0);
}

/* CID-POL-6: the sliding estimate. Failures of the previous window count in
 * proportion to the part of it still inside the sliding window, and are gone
 * after two windows. */
static void
pol6_window_sliding_decay(void **state)
{
	(void)state;
	struct ratelimit_params p = P;
	p.window_ms = 1000;
	p.block = 0;
	struct ratelimit_window w;
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 4; i++)
		ratelimit_window_fail(&w, &p, T0);
	assert_int_equal(failures_at(&w, &p, T0), 4);
	assert_int_equal(failures_at(&w, &p, T0 + 999), 4);
	assert_int_equal(failures_at(&w, &p, T0 + 1000), 4);
	assert_int_equal(failures_at(&w, &p, T0 + 1250), 3);
	assert_int_equal(failures_at(&w, &p, T0 + 1500), 2);
	assert_int_equal(failures_at(&w, &p, T0 + 1750), 1);
	assert_int_equal(failures_at(&w, &p, T0 + 1999), 1);
	assert_int_equal(failures_at(&w, &p, T0 + 2000), 0);
	assert_int_equal(failures_at(&w, &p, T0 + 3500), 0);
	assert_int_equal(failures_at(&w, &p, T0 + 86400000), 0);
	/* the delay follows the estimate: 4 -> 2000, 3 -> 1000, 2 -> 0 */
	assert_int_equal(wcheck(&w, &p, T0 + 1000).delay_ms, 2000);
	assert_int_equal(wcheck(&w, &p, T0 + 1250).delay_ms, 1000);
	assert_int_equal(wcheck(&w, &p, T0 + 1500).delay_ms, 0);

	/* Failures in both windows add up. */
	ratelimit_window_fail(&w, &p, T0 + 1500);
	assert_int_equal(failures_at(&w, &p, T0 + 1500), 1 + 2);
	/* one window on, the first batch is gone, the second counts fully */
	assert_int_equal(failures_at(&w, &p, T0 + 2000), 1);
	assert_int_equal(failures_at(&w, &p, T0 + 3000), 0);

	/* A failure long after the last: the old ones do not come back. */
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 5; i++)
		ratelimit_window_fail(&w, &p, T0);
	ratelimit_window_fail(&w, &p, T0 + 2500);
	assert_int_equal(failures_at(&w, &p, T0 + 2500), 1);
	assert_int_equal(failures_at(&w, &p, T0 + 2500 + 999), 1);
	assert_int_equal(failures_at(&w, &p, T0 + 2500 + 2000), 0);

	/* The ceiling counts the previous window too. */
	p.block = 10;
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 6; i++)
		ratelimit_window_fail(&w, &p, T0);
	for (int i = 0; i < 4; i++)
		ratelimit_window_fail(&w, &p, T0 + 1500);
	/* 4 + 6 * 500/1000 = 7 */
	assert_int_equal(failures_at(&w, &p, T0 + 1500), 7);
	assert_false(wcheck(&w, &p, T0 + 1500).blocked);
	for (int i = 0; i < 3; i++)
		ratelimit_window_fail(&w, &p, T0 + 1500);
	assert_int_equal(failures_at(&w, &p, T0 + 1500), 10);
	assert_true(wcheck(&w, &p, T0 + 1500).blocked);
	assert_int_equal(w.blocked_until_ms, T0 + 1500 + 300000);
}

/* The table: keys are independent; check of an unknown key is clean. */
static void
pol6_table_keys(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(100, P.window_ms);
	assert_non_null(rl);
	struct ratelimit_verdict v = tcheck(rl, "t:never", &P, T0);
	assert_int_equal(v.failures, 0);
	assert_int_equal(v.delay_ms, 0);
	assert_false(v.blocked);

	for (int i = 0; i < 4; i++)
		ratelimit_fail(rl, "t:a", &P, T0, true);
	ratelimit_fail(rl, "a:joe", &P, T0, true);
	v = tcheck(rl, "t:a", &P, T0);
	assert_int_equal(v.failures, 4);
	assert_int_equal(v.delay_ms, 2000);
	assert_int_equal(tcheck(rl, "a:joe", &P, T0).failures, 1);
	assert_int_equal(tcheck(rl, "t:b", &P, T0).failures, 0);
	/* the same window arithmetic as the pure functions */
	assert_int_equal(tcheck(rl, "t:a", &P, T0 + 90000).failures, 2);
	assert_int_equal(tcheck(rl, "t:a", &P, T0 + 120000).failures, 0);

	/* reaching the ceiling through the table blocks */
	for (int i = 0; i < 6; i++)
		ratelimit_fail(rl, "t:a", &P, T0 + 1, true);
	v = tcheck(rl, "t:a", &P, T0 + 1);
	assert_int_equal(v.failures, 10);
	assert_true(v.blocked);
	assert_false(tcheck(rl, "a:joe", &P, T0 + 1).blocked);
	assert_true(tcheck(rl, "t:a", &P, T0 + 300000).blocked);
	assert_false(tcheck(rl, "t:a", &P, T0 + 300001).blocked);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

/* Reset forgets a key entirely, a block included; block sets a block that
 * only ever grows. */
static void
pol6_table_reset_and_block(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(100, P.window_ms);
	for (int i = 0; i < 10; i++)
		ratelimit_fail(rl, "t:a", &P, T0, true);
	ratelimit_fail(rl, "t:b", &P, T0, true);
	assert_true(tcheck(rl, "t:a", &P, T0).blocked);
	ratelimit_reset(rl, "t:a");
	struct ratelimit_verdict v = tcheck(rl, "t:a", &P, T0);
	assert_false(v.blocked);
	assert_int_equal(v.failures, 0);
	assert_int_equal(v.delay_ms, 0);
	assert_int_equal(tcheck(rl, "t:b", &P, T0).failures, 1);
	ratelimit_reset(rl, "t:never-seen"); /* harmless */
	assert_int_equal(tcheck(rl, "t:b", &P, T0).failures, 1);

	/* block a key never seen */
	ratelimit_block(rl, "t:c", T0, T0 + 5000);
	v = tcheck(rl, "t:c", &P, T0);
	assert_true(v.blocked);
	assert_int_equal(v.failures, 0);
	assert_true(tcheck(rl, "t:c", &P, T0 + 4999).blocked);
	assert_false(tcheck(rl, "t:c", &P, T0 + 5000).blocked);
	/* a shorter block does not shorten it, a longer one extends it */
	ratelimit_block(rl, "t:c", T0, T0 + 1000);
	assert_true(tcheck(rl, "t:c", &P, T0 + 2000).blocked);
	ratelimit_block(rl, "t:c", T0, T0 + 9000);
	assert_true(tcheck(rl, "t:c", &P, T0 + 8999).blocked);
	assert_false(tcheck(rl, "t:c", &P, T0 + 9000).blocked);
	/* block a key with failures: they are kept */
	ratelimit_block(rl, "t:b", T0, T0 + 5000);
	v = tcheck(rl, "t:b", &P, T0 + 1);
	assert_true(v.blocked);
	assert_int_equal(v.failures, 1);
	/* failures on a blocked key count and keep the block */
	ratelimit_fail(rl, "t:c", &P, T0 + 100, true);
	v = tcheck(rl, "t:c", &P, T0 + 100);
	assert_true(v.blocked);
	assert_int_equal(v.failures, 1);
	ratelimit_reset(rl, "t:c");
	assert_false(tcheck(rl, "t:c", &P, T0 + 100).blocked);
	ratelimit_free(rl);
}

/* max_keys bounds the table: when full, stale keys (no failure within two
 * windows, not blocked) are swept; new keys that still do not fit are
 * counted in the sketch instead. */
static void
pol6_table_bounded(void **state)
{
	(void)state;
	struct ratelimit_params p = P;
	p.window_ms = 1000;
	struct ratelimit *rl = ratelimit_new(2, p.window_ms);
	ratelimit_fail(rl, "a", &p, T0, true);
	ratelimit_fail(rl, "b", &p, T0, true);
	ratelimit_fail(rl, "c", &p, T0 + 500, true); /* full: sketched */
	ratelimit_fail(rl, "c", &p, T0 + 600, true);
	assert_int_equal(tcheck(rl, "c", &p, T0 + 600).failures, 2);
	assert_int_equal(ratelimit_sketched(rl), 2);
	assert_int_equal(tcheck(rl, "a", &p, T0 + 600).failures, 1);
	/* an existing key still counts in the table while it is full */
	ratelimit_fail(rl, "a", &p, T0 + 700, true);
	assert_int_equal(tcheck(rl, "a", &p, T0 + 700).failures, 2);
	/* a and b are stale by T0 + 3000 (and a second after the last
	 * sweep, which a full table does at most once a second): swept,
	 * d now fits in the table */
	ratelimit_fail(rl, "d", &p, T0 + 3000, true);
	ratelimit_fail(rl, "d", &p, T0 + 3000, true);
	assert_int_equal(tcheck(rl, "d", &p, T0 + 3000).failures, 2);
	ratelimit_free(rl);

	/* A blocked key is never swept, however old its failures. */
	rl = ratelimit_new(2, p.window_ms);
	for (int i = 0; i < 10; i++)
		ratelimit_fail(rl, "x", &p, T0, true);
	ratelimit_fail(rl, "y", &p, T0, true);
	ratelimit_fail(rl, "z", &p, T0 + 10000, true);
	assert_int_equal(tcheck(rl, "z", &p, T0 + 10000).failures, 1);
	assert_true(tcheck(rl, "x", &p, T0 + 10000).blocked);
	assert_true(tcheck(rl, "x", &p, T0 + 299999).blocked);
	ratelimit_free(rl);

	/* max_keys 0: everything in the sketch, which still blocks. */
	rl = ratelimit_new(0, p.window_ms);
	for (int i = 0; i < 20; i++)
		ratelimit_fail(rl, "a", &p, T0, true);
	struct ratelimit_verdict v = tcheck(rl, "a", &p, T0);
	assert_int_equal(v.failures, 20);
	assert_true(v.blocked);
	ratelimit_free(rl);
}

/*
 * ratelimit.h: "beyond [max_keys], stale keys are swept, and keys that still
 * do not fit are not tracked". ratelimit_block calls ratelimit_entry with
 * window 0 and now 0, so its sweep finds nothing stale: on a table full of
 * long-stale keys, the block of a new key (the token-reuse block of
 * policy/engine.c) was silently dropped. Fixed: the block's own time
 * sweeps.
 */
static void
pol6_table_block_sweeps_stale_keys(void **state)
{
	(void)state;
	struct ratelimit_params p = P;
	p.window_ms = 1000;
	struct ratelimit *rl = ratelimit_new(2, p.window_ms);
	ratelimit_fail(rl, "a:old1", &p, T0, true);
	ratelimit_fail(rl, "a:old2", &p, T0, true);
	/* an hour later both are stale; a failure would sweep them ... */
	ratelimit_block(rl, "t:new", T0 + 3600000, T0 + 3600000 + 300000);
	/* ... and so must a block */
	bool blocked = tcheck(rl, "t:new", &p, T0 + 3600000).blocked;
	ratelimit_free(rl);
	assert_true(blocked);
}

struct hammer_arg {
	struct ratelimit *rl;
	const struct ratelimit_params *p;
};

static void *
hammer(void *arg)
{
	struct hammer_arg *a = arg;
	char key[16];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%d", i % 8);
		ratelimit_fail(a->rl, "shared", a->p, T0, true);
		ratelimit_fail(a->rl, key, a->p, T0, true);
		struct ratelimit_verdict v;
		ratelimit_check(a->rl, key, a->p, T0, &v);
	}
	return NULL;
}

/* The table is shared by the worker threads: no failure is lost. */
static void
pol6_table_threads(void **state)
{
	(void)state;
	struct ratelimit_params p = P;
	p.block = 0;
	struct ratelimit *rl = ratelimit_new(100, P.window_ms);
	struct hammer_arg a = {rl, &p};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(tcheck(rl, "shared", &p, T0).failures, 80000);
	assert_int_equal(tcheck(rl, "k3", &p, T0).failures, 10000);
	ratelimit_free(rl);
}

/* Beyond max_keys (after a sweep finds nothing stale), keys are counted in
 * the sketch: a flood of keys makes budgets approximate, never absent.
 * The sketch never counts a key less than it failed; with 100,000 keys at
 * 1-3 failures each, it counts almost all of them exactly. */
static void
pol6_sketch_never_undercounts(void **state)
{
	(void)state;
	struct ratelimit_params p = P;
	p.free = 1000;
	p.block = 0;
	struct ratelimit *rl = ratelimit_new(10, p.window_ms);
	enum { N = 100000 };
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "a:sprayed%d", i);
		for (int k = 0; k <= i % 3; k++)
			ratelimit_fail(rl, key, &p, T0, true);
	}
	assert_true(ratelimit_sketched(rl) > 0);
	int exact = 0;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "a:sprayed%d", i);
		unsigned got = tcheck(rl, key, &p, T0).failures;
		unsigned want = (unsigned)(i % 3) + 1;
		if (got < want && i >= 10)
			fail_msg("%s counted %u, failed %u", key, got, want);
		exact += got == want;
	}
	assert_true(exact > N * 95 / 100);
	/* a key never seen: nothing, but for collisions */
	assert_true(tcheck(rl, "a:never", &p, T0).failures <= 2);
	/* the sketch's windows slide like a key's */
	assert_int_equal(
	        tcheck(rl, "a:sprayed2", &p, T0 + 2 * p.window_ms).failures, 0);
	ratelimit_free(rl);
}

/* A key counted only by the sketch is still blocked at its ceiling. */
static void
pol6_sketch_blocks(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(0, P.window_ms);
	for (int i = 0; i < 9; i++)
		ratelimit_fail(rl, "i:192.0.2.7", &P, T0, true);
	struct ratelimit_verdict v = tcheck(rl, "i:192.0.2.7", &P, T0);
	assert_false(v.blocked);
	assert_int_equal(v.delay_ms, 8000);
	ratelimit_fail(rl, "i:192.0.2.7", &P, T0, true);
	assert_true(tcheck(rl, "i:192.0.2.7", &P, T0).blocked);
	assert_false(tcheck(rl, "i:192.0.2.8", &P, T0).blocked);
	ratelimit_free(rl);
}

/* An attempt refused unchecked (a budget was spent) counts only on keys
 * counted already: a flood of refused attempts adds no keys. */
static void
pol6_fail_without_create(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(100, P.window_ms);
	ratelimit_fail(rl, "i:x", &P, T0, true);
	ratelimit_fail(rl, "i:x", &P, T0, false);
	assert_int_equal(tcheck(rl, "i:x", &P, T0).failures, 2);
	for (int i = 0; i < 1000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "a:new%d", i);
		ratelimit_fail(rl, key, &P, T0, false);
		assert_int_equal(tcheck(rl, key, &P, T0).failures, 0);
	}
	assert_int_equal(ratelimit_sketched(rl), 0);
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pol6_window_empty),
	        cmocka_unit_test(pol6_window_free_then_doubling),
	        cmocka_unit_test(pol6_window_block_at_ceiling),
	        cmocka_unit_test(pol6_window_sliding_decay),
	        cmocka_unit_test(pol6_table_keys),
	        cmocka_unit_test(pol6_table_reset_and_block),
	        cmocka_unit_test(pol6_table_bounded),
	        cmocka_unit_test(pol6_table_block_sweeps_stale_keys),
	        cmocka_unit_test(pol6_table_threads),
	        cmocka_unit_test(pol6_sketch_never_undercounts),
	        cmocka_unit_test(pol6_sketch_blocks),
	        cmocka_unit_test(pol6_fail_without_create),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
