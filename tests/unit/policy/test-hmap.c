/*
 * The string-keyed hash map under the budgets and detectors (ratelimit.c,
 * tracker.c): their bounds (CID-POL-6) rest on its count and sweep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/hmap.h"
#include "lib/siphash.h"

static int freed;

static void
count_free(void *v)
{
	freed++;
	free(v);
}

static int *
boxed(int v)
{
	int *p = malloc(sizeof(*p));
	assert_non_null(p);
	*p = v;
	return p;
}

/* put, get, replace, remove, count; keys are copied. */
static void
pol6_hmap_basic(void **state)
{
	(void)state;
	struct hmap *m = hmap_new(16);
	assert_non_null(m);
	assert_int_equal(hmap_count(m), 0);
	assert_null(hmap_get(m, "a"));

	int one = 1, two = 2, three = 3;
	char key[8] = "a";
	assert_true(hmap_put(m, key, &one));
	key[0] = 'z'; /* the map kept its own copy */
	assert_ptr_equal(hmap_get(m, "a"), &one);
	assert_null(hmap_get(m, "z"));
	assert_true(hmap_put(m, "b", &two));
	assert_true(hmap_put(m, "", &three)); /* the empty key is a key */
	assert_int_equal(hmap_count(m), 3);
	assert_ptr_equal(hmap_get(m, ""), &three);

	/* replace: same count, new value */
	assert_true(hmap_put(m, "a", &three));
	assert_int_equal(hmap_count(m), 3);
	assert_ptr_equal(hmap_get(m, "a"), &three);

	/* keys are exact: case and length matter */
	assert_null(hmap_get(m, "A"));
	assert_null(hmap_get(m, "aa"));

	assert_ptr_equal(hmap_remove(m, "a"), &three);
	assert_int_equal(hmap_count(m), 2);
	assert_null(hmap_get(m, "a"));
	assert_null(hmap_remove(m, "a"));
	assert_null(hmap_remove(m, "never"));
	assert_int_equal(hmap_count(m), 2);
	assert_ptr_equal(hmap_get(m, "b"), &two);
	hmap_free(m, NULL);
	hmap_free(NULL, NULL);
}

/* One bucket (or zero asked for): every key collides and still works. */
static void
pol6_hmap_collisions(void **state)
{
	(void)state;
	for (size_t buckets = 0; buckets <= 1; buckets++) {
		struct hmap *m = hmap_new(buckets);
		assert_non_null(m);
		char key[16];
		for (int i = 0; i < 200; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			assert_true(hmap_put(m, key, boxed(i)));
		}
		assert_int_equal(hmap_count(m), 200);
		for (int i = 0; i < 200; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			int *v = hmap_get(m, key);
			assert_non_null(v);
			assert_int_equal(*v, i);
		}
		/* remove from the middle, the head and the tail of the chain */
		static const int gone[] = {0, 100, 199};
		for (size_t g = 0; g < 3; g++) {
			snprintf(key, sizeof(key), "k%d", gone[g]);
			int *v = hmap_remove(m, key);
			assert_non_null(v);
			assert_int_equal(*v, gone[g]);
			free(v);
			assert_null(hmap_get(m, key));
		}
		assert_int_equal(hmap_count(m), 197);
		assert_int_equal(*(int *)hmap_get(m, "k1"), 1);
		assert_int_equal(*(int *)hmap_get(m, "k198"), 198);
		freed = 0;
		hmap_free(m, count_free);
		assert_int_equal(freed, 197);
	}
}

static bool
sweep_even(void *value, void *arg)
{
	int *calls = arg;
	(*calls)++;
	int *v = value;
	if (*v % 2 != 0)
		return false;
	free(v); /* the sweeper owns what it removes */
	return true;
}

/* sweep removes exactly the entries the callback takes, visiting each. */
static void
pol6_hmap_sweep_some(void **state)
{
	(void)state;
	struct hmap *m = hmap_new(7);
	char key[16];
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_true(hmap_put(m, key, boxed(i)));
	}
	int calls = 0;
	hmap_sweep(m, sweep_even, &calls);
	assert_int_equal(calls, 50);
	assert_int_equal(hmap_count(m), 25);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		int *v = hmap_get(m, key);
		if (i % 2 == 0) {
			assert_null(v);
		} else {
			assert_non_null(v);
			assert_int_equal(*v, i);
		}
	}
	/* a second sweep finds nothing more to remove */
	calls = 0;
	hmap_sweep(m, sweep_even, &calls);
	assert_int_equal(calls, 25);
	assert_int_equal(hmap_count(m), 25);
	/* the removed keys can come back */
	assert_true(hmap_put(m, "key-0", boxed(1000)));
	assert_int_equal(hmap_count(m), 26);
	assert_int_equal(*(int *)hmap_get(m, "key-0"), 1000);
	freed = 0;
	hmap_free(m, count_free);
	assert_int_equal(freed, 26);

	/* sweeping an empty map calls nothing */
	m = hmap_new(4);
	calls = 0;
	hmap_sweep(m, sweep_even, &calls);
	assert_int_equal(calls, 0);
	hmap_free(m, NULL);
}

/* SipHash-2-4 against the reference vectors of its paper (key 00..0f,
 * message 00..len-1): the keyed hash is what keeps client-chosen keys from
 * colliding on purpose. */
static void
pol6_siphash_vectors(void **state)
{
	(void)state;
	static const struct {
		size_t len;
		uint64_t h;
	} v[] = {
	        {0, 0x726fdb47dd0e0e31ull},  {1, 0x74f839c593dc67fdull},
	        {7, 0xab0200f58b01d137ull},  {8, 0x93f5f5799a932462ull},
	        {15, 0xa129ca6149be45e5ull}, {63, 0x958a324ceb064572ull},
	};
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
		assert_int_equal(siphash24(key, msg, v[i].len), v[i].h);
	/* every map has its own random key */
	uint8_t k2[16];
	assert_true(siphash_key_random(key));
	assert_true(siphash_key_random(k2));
	assert_memory_not_equal(key, k2, 16);
}

/* The table grows with its load (chains stay about one long), however
 * small it started; entries survive every doubling. */
static void
pol6_hmap_grows(void **state)
{
	(void)state;
	struct hmap *m = hmap_new(4);
	assert_int_equal(hmap_buckets(m), 4);
	char key[24];
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "account-%d", i);
		assert_true(hmap_put(m, key, boxed(i)));
	}
	assert_int_equal(hmap_count(m), 100000);
	assert_true(hmap_buckets(m) >= 100000 / 1);
	assert_true(hmap_buckets(m) <= 2 * 131072);
	for (int i = 0; i < 100000; i += 997) {
		snprintf(key, sizeof(key), "account-%d", i);
		int *p = hmap_get(m, key);
		assert_non_null(p);
		assert_int_equal(*p, i);
	}
	freed = 0;
	hmap_free(m, count_free);
	assert_int_equal(freed, 100000);
}

/* Keys of any bytes, NULs included; a key and its prefix are two keys. */
static void
pol6_hmap_binary_keys(void **state)
{
	(void)state;
	struct hmap *m = hmap_new(8);
	int a = 1, b = 2, c = 3;
	static const uint8_t k1[16] = {0, 0, 0,    0,    0,   0, 0, 0,
	                               0, 0, 0xff, 0xff, 127, 0, 0, 1};
	static const uint8_t k2[16] = {0, 0, 0,    0,    0,   0, 0, 0,
	                               0, 0, 0xff, 0xff, 127, 0, 0, 2};
	assert_true(hmap_putn(m, k1, 16, &a));
	assert_true(hmap_putn(m, k2, 16, &b));
	assert_true(hmap_putn(m, k1, 15, &c));
	assert_int_equal(hmap_count(m), 3);
	assert_ptr_equal(hmap_getn(m, k1, 16), &a);
	assert_ptr_equal(hmap_getn(m, k2, 16), &b);
	assert_ptr_equal(hmap_getn(m, k1, 15), &c);
	assert_null(hmap_getn(m, k1, 14));
	assert_ptr_equal(hmap_removen(m, k1, 16), &a);
	assert_null(hmap_getn(m, k1, 16));
	assert_ptr_equal(hmap_getn(m, k1, 15), &c);
	hmap_free(m, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pol6_hmap_basic),
	        cmocka_unit_test(pol6_hmap_collisions),
	        cmocka_unit_test(pol6_hmap_sweep_some),
	        cmocka_unit_test(pol6_siphash_vectors),
	        cmocka_unit_test(pol6_hmap_grows),
	        cmocka_unit_test(pol6_hmap_binary_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
