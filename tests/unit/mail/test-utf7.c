/*
 * Modified UTF-7 (RFC 3501 5.1.3): only the canonical spelling of a name
 * is valid, so no two spellings reach one folder directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mail/utf7.h"

static void
utf7_valid_spellings(void **state)
{
	(void)state;
	static const char *const good[] = {
	        "",
	        "INBOX",
	        "a b",
	        "&-",
	        "a&-b",
	        "&AOk-t&AOk-", /* été */
	        "&ZeVnLIqe-",  /* 日本語 */
	        "&2D3eAQ-",    /* U+1F601, a surrogate pair */
	        "x&AOk-&-y",   /* a run, then a literal "&" */
	        "~peter/mail", /* the encoding allows it; names don't */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(mail_utf7_valid(good[i]));
}

static void
utf7_invalid_spellings(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "&",           /* unterminated */
	        "&AOk",        /* unterminated run */
	        "a&",          /* unterminated at the end */
	        "&AGE-",       /* "a": printable ASCII must stand for itself */
	        "&ACY-",       /* "&" encoded instead of "&-" */
	        "&AC8-",       /* "/" smuggled in base64 */
	        "&AOk-&AOk-",  /* two adjacent runs: one spelt twice */
	        "&AOl-",       /* leftover bits not zero */
	        "&AOkA-",      /* a leftover base64 digit */
	        "&2D0-",       /* a lone high surrogate */
	        "&3gE-",       /* a lone low surrogate */
	        "&AO!-",       /* not base64 */
	        "&AO/-",       /* "/" is not modified base64 (it is ",") */
	        "caf\xc3\xa9", /* raw 8-bit */
	        "a\tb",        /* control character */
	        "a\x7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mail_utf7_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
utf7_decode(void **state)
{
	(void)state;
	char out[64];
	assert_true(mail_utf7_to_utf8("&AOk-t&AOk-", out, sizeof(out)));
	assert_string_equal(out, "\xc3\xa9t\xc3\xa9");
	assert_true(mail_utf7_to_utf8("a&-b", out, sizeof(out)));
	assert_string_equal(out, "a&b");
	assert_true(mail_utf7_to_utf8("&2D3eAQ-", out, sizeof(out)));
	assert_string_equal(out, "\xf0\x9f\x98\x81");
	assert_true(mail_utf7_to_utf8("&ZeVnLIqe-", out, sizeof(out)));
	assert_string_equal(out, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	assert_false(mail_utf7_to_utf8("&AGE-", out, sizeof(out)));
	assert_string_equal(out, "");
	/* too small: refused, not cut */
	assert_false(mail_utf7_to_utf8("&ZeVnLIqe-", out, 5));
	assert_true(mail_utf7_to_utf8("abc", out, 4));
	assert_false(mail_utf7_to_utf8("abcd", out, 4));
}

static void
utf7_encode(void **state)
{
	(void)state;
	char out[64];
	assert_true(mail_utf8_to_utf7("\xc3\xa9t\xc3\xa9", out, sizeof(out)));
	assert_string_equal(out, "&AOk-t&AOk-");
	assert_true(mail_utf8_to_utf7("a&b", out, sizeof(out)));
	assert_string_equal(out, "a&-b");
	assert_true(mail_utf8_to_utf7("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	                              out, sizeof(out)));
	assert_string_equal(out, "&ZeVnLIqe-");
	assert_true(mail_utf8_to_utf7("\xf0\x9f\x98\x81", out, sizeof(out)));
	assert_string_equal(out, "&2D3eAQ-");
	/* adjacent non-ASCII characters share one run */
	assert_true(mail_utf8_to_utf7("\xc3\xa9\xc3\xa9", out, sizeof(out)));
	assert_string_equal(out, "&AOkA6Q-");
	assert_true(mail_utf7_valid(out));
	/* invalid UTF-8: overlong, surrogate, truncated, beyond U+10FFFF */
	assert_false(mail_utf8_to_utf7("\xc0\xaf", out, sizeof(out)));
	assert_false(mail_utf8_to_utf7("\xed\xa0\x80", out, sizeof(out)));
	assert_false(mail_utf8_to_utf7("\xe6\x97", out, sizeof(out)));
	assert_false(mail_utf8_to_utf7("\xf4\x90\x80\x80", out, sizeof(out)));
	assert_false(mail_utf8_to_utf7("\xe6\x97\xa5", out, 4));
}

/* Every encoding decodes back, and every valid spelling re-encodes to
 * itself (that is what canonical means). */
static void
utf7_round_trip(void **state)
{
	(void)state;
	static const char *const utf8[] = {
	        "plain",
	        "&&",
	        "\xc3\xa9",
	        "a\xc3\xa9"
	        "b\xc3\xa9"
	        "c",
	        "\xf0\x9f\x98\x81\xf0\x9f\x98\x81",
	        "\xe2\x82\xac 5",
	        "\xef\xbf\xbd",
	        "\xc2\xa0&\xc2\xa0",
	};
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		char u7[128], back[128], again[128];
		assert_true(mail_utf8_to_utf7(utf8[i], u7, sizeof(u7)));
		assert_true(mail_utf7_valid(u7));
		assert_true(mail_utf7_to_utf8(u7, back, sizeof(back)));
		assert_string_equal(back, utf8[i]);
		assert_true(mail_utf8_to_utf7(back, again, sizeof(again)));
		assert_string_equal(again, u7);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(utf7_valid_spellings),
	        cmocka_unit_test(utf7_invalid_spellings),
	        cmocka_unit_test(utf7_decode),
	        cmocka_unit_test(utf7_encode),
	        cmocka_unit_test(utf7_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
