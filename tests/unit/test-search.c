/* ESEARCH set compression (seqset_write) and the SEARCH argument parser
 * without a mailbox (imap_search_parse): RETURN, CHARSET, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/parser.h"
#include "imap/search.h"
#include "imap/seqset.h"
#include "lib/arena.h"
#include "lib/buf.h"

#define NESTING_MAX 32

static char text[4096];

static const char *
compress(const uint32_t *nums, size_t n)
{
	struct buf b = BUF_INIT;
	seqset_write(&b, nums, n);
	size_t len = buf_used(&b);
	assert_true(len < sizeof(text));
	if (len > 0)
		memcpy(text, buf_head(&b), len);
	text[len] = '\0';
	buf_free(&b);
	return text;
}

static void
set_compression(void **state)
{
	(void)state;
	static const uint32_t one[] = {7};
	static const uint32_t run[] = {1, 2, 3, 4};
	static const uint32_t mixed[] = {2, 3, 5, 7, 8, 9, 11};
	static const uint32_t repeats[] = {3, 3, 4, 6, 6};
	static const uint32_t top[] = {4294967294u, 4294967295u};
	static const uint32_t gaps[] = {1, 3, 5};
	assert_string_equal(compress(NULL, 0), "");
	assert_string_equal(compress(one, 1), "7");
	assert_string_equal(compress(run, 4), "1:4");
	assert_string_equal(compress(mixed, 7), "2:3,5,7:9,11");
	assert_string_equal(compress(repeats, 5), "3:4,6");
	assert_string_equal(compress(top, 2), "4294967294:4294967295");
	assert_string_equal(compress(gaps, 3), "1,3,5");
	/* what it writes reads back as the same numbers */
	struct seqset ss;
	assert_true(seqset_parse(compress(mixed, 7), 0, &ss));
	for (uint32_t i = 1; i <= 12; i++) {
		bool in = false;
		for (size_t k = 0; k < 7; k++)
			in = in || mixed[k] == i;
		assert_int_equal(seqset_contains(&ss, i), in);
	}
	seqset_free(&ss);
}

/* Parses "SEARCH args" text; returns the status, *q and *err filled. */
static enum imap_search_status
parse(struct arena *a, const char *args, struct imap_search *q,
      const char **err)
{
	struct imap_arg *list;
	size_t count;
	const char *perr = NULL;
	assert_true(imap_parse_args(a, (const uint8_t *)args, strlen(args),
	                            NESTING_MAX, NULL, &list, &count, &perr));
	return imap_search_parse(a, list, count, 10, 20, q, err);
}

static void
search_return_options(void **state)
{
	(void)state;
	static const struct {
		const char *args;
		bool esearch;
		unsigned ret;
	} ok[] = {
	        {" ALL", false, 0},
	        {" RETURN () ALL", true, IMAP_SEARCH_RET_ALL},
	        {" return (min MAX) 1:*", true,
	         IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX},
	        {" RETURN (COUNT ALL COUNT) UID 2:*", true,
	         IMAP_SEARCH_RET_COUNT | IMAP_SEARCH_RET_ALL},
	        {" RETURN (MIN) CHARSET UTF-8 SUBJECT x", true,
	         IMAP_SEARCH_RET_MIN},
	        {" CHARSET us-ascii OR SEEN (NOT DELETED)", false, 0},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct arena a = ARENA_INIT;
		struct imap_search q;
		const char *err = "unset";
		assert_int_equal(parse(&a, ok[i].args, &q, &err),
		                 IMAP_SEARCH_OK);
		assert_null(err);
		assert_non_null(q.root);
		assert_int_equal(q.esearch, ok[i].esearch);
		assert_int_equal(q.ret, ok[i].ret);
		imap_search_free(&q);
		assert_null(q.root);
		arena_free(&a);
	}
}

static void
search_errors(void **state)
{
	(void)state;
	static const struct {
		const char *args;
		enum imap_search_status st;
		const char *err;
	} bad[] = {
	        {" RETURN (SAVE) ALL", IMAP_SEARCH_BAD,
	         "unknown RETURN option"},
	        {" RETURN ALL", IMAP_SEARCH_BAD,
	         "RETURN takes a list of options"},
	        {" RETURN (MIN)", IMAP_SEARCH_BAD, "empty search"},
	        {" CHARSET KOI8-R ALL", IMAP_SEARCH_BADCHARSET, NULL},
	        {" CHARSET (UTF-8) ALL", IMAP_SEARCH_BAD,
	         "CHARSET takes a charset name"},
	        /* sets made before the error are freed (ASan would see) */
	        {" 1:3 UID 4:* OR 2 NOPE", IMAP_SEARCH_BAD,
	         "unknown search key"},
	        {" (1,2 (UID 1:5 BEFORE 1-Foo-2020))", IMAP_SEARCH_BAD,
	         "invalid date"},
	        {" 0:3", IMAP_SEARCH_BAD, "invalid sequence set"},
	        {" OR ALL", IMAP_SEARCH_BAD, "missing search argument"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct arena a = ARENA_INIT;
		struct imap_search q;
		const char *err = NULL;
		assert_int_equal(parse(&a, bad[i].args, &q, &err), bad[i].st);
		if (bad[i].err != NULL)
			assert_string_equal(err, bad[i].err);
		assert_null(q.root);
		arena_free(&a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(set_compression),
	        cmocka_unit_test(search_return_options),
	        cmocka_unit_test(search_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
