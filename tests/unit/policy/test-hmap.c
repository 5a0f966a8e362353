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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pol6_hmap_basic),
	        cmocka_unit_test(pol6_hmap_collisions),
	        cmocka_unit_test(pol6_hmap_sweep_some),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
