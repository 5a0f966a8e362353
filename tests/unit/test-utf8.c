/* UTF-8 of one code point (lib/utf8): encoding, and strict decoding as the
 * mailbox-name codec and SEARCH's case folding rely on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/utf8.h"

/* Every length round-trips, at the edges of each length. */
static void
utf8_round_trip(void **state)
{
	static const uint32_t cps[] = {0,       0x7f,   0x80,    0x7ff,
	                               0x800,   0xd7ff, 0xe000,  0xffff,
	                               0x10000, 0x2c65, 0x10ffff};
	(void)state;
	for (size_t i = 0; i < sizeof(cps) / sizeof(*cps); i++) {
		uint8_t b[UTF8_MAX];
		uint32_t back = 0xffffffff;
		size_t n = utf8_encode(cps[i], b);
		assert_int_equal(utf8_decode(b, n, &back), n);
		assert_int_equal(back, cps[i]);
		/* cut short: not a code point */
		assert_int_equal(utf8_decode(b, n - 1, &back), 0);
	}
}

/* What strict UTF-8 refuses: overlong forms, surrogates, past U+10FFFF,
 * stray continuation bytes, a lead byte without its continuation. */
static void
utf8_refuses_invalid(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	        {"\xc0\x80", 2},         /* overlong NUL */
	        {"\xc1\xbf", 2},         /* overlong 0x7f */
	        {"\xe0\x9f\xbf", 3},     /* overlong 0x7ff */
	        {"\xf0\x8f\xbf\xbf", 4}, /* overlong 0xffff */
	        {"\xed\xa0\x80", 3},     /* U+D800 */
	        {"\xed\xbf\xbf", 3},     /* U+DFFF */
	        {"\xf4\x90\x80\x80", 4}, /* U+110000 */
	        {"\xf5\x80\x80\x80", 4}, /* lead byte past F4 */
	        {"\x80", 1},             /* continuation alone */
	        {"\xc3\x28", 2},         /* lead, then ASCII */
	        {"\xe2\x82", 2},         /* three-octet form cut short */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		uint32_t cp = 0;
		assert_int_equal(utf8_decode((const uint8_t *)bad[i].bytes,
		                             bad[i].len, &cp),
		                 0);
	}
	uint32_t cp;
	assert_int_equal(utf8_decode((const uint8_t *)"", 0, &cp), 0);
	assert_int_equal(utf8_decode((const uint8_t *)"\xc3\xa9x", 3, &cp), 2);
	assert_int_equal(cp, 0xe9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(utf8_round_trip),
	        cmocka_unit_test(utf8_refuses_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
