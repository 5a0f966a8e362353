/* SASL PLAIN message decoding (RFC 4616). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/sasl.h"

struct fields {
	char authzid[SASL_FIELD_MAX + 1];
	char authcid[SASL_FIELD_MAX + 1];
	char passwd[SASL_FIELD_MAX + 1];
};

static bool
decode(const void *msg, size_t len, struct fields *f)
{
	memset(f, 'Z', sizeof(*f));
	return sasl_plain_decode(msg, len, f->authzid, f->authcid, f->passwd);
}

#define DECODE(lit, f) decode(lit, sizeof(lit) - 1, f)

static void
rfc4616_example_no_authzid(void **state)
{
	(void)state;
	/* RFC 4616 section 4, first example. */
	struct fields f;
	assert_true(DECODE("\0tim\0tanstaaftanstaaf", &f));
	assert_string_equal(f.authzid, "");
	assert_string_equal(f.authcid, "tim");
	assert_string_equal(f.passwd, "tanstaaftanstaaf");
}

static void
rfc4616_example_authzid(void **state)
{
	(void)state;
	/* RFC 4616 section 4, second example. */
	struct fields f;
	assert_true(DECODE("Ursel\0Kurt\0xipj3plmq", &f));
	assert_string_equal(f.authzid, "Ursel");
	assert_string_equal(f.authcid, "Kurt");
	assert_string_equal(f.passwd, "xipj3plmq");
}

static void
utf8_fields(void **state)
{
	(void)state;
	struct fields f;
	assert_true(DECODE("\0j\xc3\xb6rg\0p\xc3\xa4ss w\xc3\xb6rd", &f));
	assert_string_equal(f.authcid, "j\xc3\xb6rg");
	assert_string_equal(f.passwd, "p\xc3\xa4ss w\xc3\xb6rd");
}

static void
missing_separators(void **state)
{
	(void)state;
	struct fields f;
	assert_false(DECODE("", &f));
	assert_false(DECODE("tim", &f));
	assert_false(DECODE("\0tim", &f));
	assert_false(DECODE("timtanstaaf", &f));
	assert_false(DECODE("tim\0tanstaaf", &f));
}

static void
empty_authcid(void **state)
{
	(void)state;
	struct fields f;
	assert_false(DECODE("\0\0secret", &f));
	assert_false(DECODE("joe\0\0secret", &f));
	assert_false(DECODE("\0\0", &f));
}

static void
extra_nul(void **state)
{
	(void)state;
	struct fields f;
	assert_false(DECODE("\0tim\0tan\0staaf", &f));
	assert_false(DECODE("\0tim\0tanstaaf\0", &f));
	assert_false(DECODE("a\0b\0c\0d", &f));
	/* A failed decode leaves no password behind. */
	assert_int_equal(f.passwd[0], '\0');
}

static void
field_lengths(void **state)
{
	(void)state;
	size_t n = 1 + SASL_FIELD_MAX + 1 + SASL_FIELD_MAX + 1 + SASL_FIELD_MAX;
	uint8_t *msg = malloc(n + 1);
	struct fields f;
	assert_non_null(msg);

	/* Each field at the maximum. */
	memset(msg, 'z', SASL_FIELD_MAX);
	msg[SASL_FIELD_MAX] = '\0';
	memset(msg + SASL_FIELD_MAX + 1, 'c', SASL_FIELD_MAX);
	msg[2 * SASL_FIELD_MAX + 1] = '\0';
	memset(msg + 2 * SASL_FIELD_MAX + 2, 'p', SASL_FIELD_MAX);
	assert_true(decode(msg, 3 * SASL_FIELD_MAX + 2, &f));
	assert_int_equal(strlen(f.authzid), SASL_FIELD_MAX);
	assert_int_equal(strlen(f.authcid), SASL_FIELD_MAX);
	assert_int_equal(strlen(f.passwd), SASL_FIELD_MAX);

	/* One over in the password. */
	memset(msg + 2 * SASL_FIELD_MAX + 2, 'p', SASL_FIELD_MAX + 1);
	assert_false(decode(msg, 3 * SASL_FIELD_MAX + 3, &f));

	/* One over in the authcid. */
	msg[0] = '\0';
	memset(msg + 1, 'c', SASL_FIELD_MAX + 1);
	msg[SASL_FIELD_MAX + 2] = '\0';
	msg[SASL_FIELD_MAX + 3] = 'p';
	assert_false(decode(msg, SASL_FIELD_MAX + 4, &f));

	/* One over in the authzid. */
	memset(msg, 'z', SASL_FIELD_MAX + 1);
	msg[SASL_FIELD_MAX + 1] = '\0';
	msg[SASL_FIELD_MAX + 2] = 'c';
	msg[SASL_FIELD_MAX + 3] = '\0';
	msg[SASL_FIELD_MAX + 4] = 'p';
	assert_false(decode(msg, SASL_FIELD_MAX + 5, &f));
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(rfc4616_example_no_authzid),
	        cmocka_unit_test(rfc4616_example_authzid),
	        cmocka_unit_test(utf8_fields),
	        cmocka_unit_test(missing_separators),
	        cmocka_unit_test(empty_authcid),
	        cmocka_unit_test(extra_nul),
	        cmocka_unit_test(field_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
