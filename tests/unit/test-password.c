/* Password schemes: verify stored "{SCHEME}data", and generate it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password.h"

/* `openssl passwd -6 -salt saltsalt password` (OpenSSL 3.0). */
#define SHA512_PASSWORD                                                        \
	"$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9Yter"    \
	"Lp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"

static void
plain_scheme(void **state)
{
	(void)state;
	assert_int_equal(password_verify("{PLAIN}secret", "secret"),
	                 PASSWORD_OK);
	assert_int_equal(password_verify("{PLAIN}secret", "Secret"),
	                 PASSWORD_MISMATCH);
	assert_int_equal(password_verify("{PLAIN}secret", "secret "),
	                 PASSWORD_MISMATCH);
	assert_int_equal(password_verify("{PLAIN}secret", "secre"),
	                 PASSWORD_MISMATCH);
	assert_int_equal(password_verify("{PLAIN}secret", ""),
	                 PASSWORD_MISMATCH);
	assert_int_equal(password_verify("{plain}x", "x"), PASSWORD_OK);
	assert_int_equal(password_verify("{PLAIN}", ""), PASSWORD_OK);
	assert_int_equal(password_verify("{PLAIN}", "x"), PASSWORD_MISMATCH);
	/* Data with braces and colons is data. */
	assert_int_equal(password_verify("{PLAIN}{a}:b", "{a}:b"), PASSWORD_OK);
}

static void
sha512_crypt_known(void **state)
{
	(void)state;
	assert_int_equal(
	        password_verify("{SHA512-CRYPT}" SHA512_PASSWORD, "password"),
	        PASSWORD_OK);
	assert_int_equal(
	        password_verify("{SHA512-CRYPT}" SHA512_PASSWORD, "Password"),
	        PASSWORD_MISMATCH);
	assert_int_equal(password_verify("{SHA512-CRYPT}" SHA512_PASSWORD, ""),
	                 PASSWORD_MISMATCH);
	/* Dovecot's CRYPT (and no scheme at all) accept it too. */
	assert_int_equal(password_verify("{CRYPT}" SHA512_PASSWORD, "password"),
	                 PASSWORD_OK);
	assert_int_equal(password_verify(SHA512_PASSWORD, "password"),
	                 PASSWORD_OK);
	/* A changed hash character is a mismatch, not a match. */
	char stored[256] = "{SHA512-CRYPT}" SHA512_PASSWORD;
	size_t n = strlen(stored);
	stored[n - 1] = stored[n - 1] == 'a' ? 'b' : 'a';
	assert_int_equal(password_verify(stored, "password"),
	                 PASSWORD_MISMATCH);
}

static void
generated_round_trip(const char *scheme, const char *prefix)
{
	char out[PASSWORD_HASH_MAX], again[PASSWORD_HASH_MAX];
	assert_true(password_hash(scheme, "correct horse", out, sizeof(out)));
	if (strncmp(out, prefix, strlen(prefix)) != 0)
		fail_msg("%s: \"%s\" does not start with \"%s\"", scheme, out,
		         prefix);
	assert_int_equal(password_verify(out, "correct horse"), PASSWORD_OK);
	assert_int_equal(password_verify(out, "correct horsf"),
	                 PASSWORD_MISMATCH);
	assert_int_equal(password_verify(out, ""), PASSWORD_MISMATCH);
	/* A fresh salt every time. */
	assert_true(
	        password_hash(scheme, "correct horse", again, sizeof(again)));
	assert_string_not_equal(out, again);
	assert_int_equal(password_verify(again, "correct horse"), PASSWORD_OK);
}

static void
sha512_crypt_generated(void **state)
{
	(void)state;
	generated_round_trip("SHA512-CRYPT", "{SHA512-CRYPT}$6$");
}

static void
blf_crypt_generated(void **state)
{
	(void)state;
	generated_round_trip("BLF-CRYPT", "{BLF-CRYPT}$2");
}

static void
argon2id_generated(void **state)
{
	(void)state;
	generated_round_trip("ARGON2ID", "{ARGON2ID}$argon2id$");
	/* Scheme names are case-insensitive. */
	char out[PASSWORD_HASH_MAX];
	assert_true(password_hash("argon2id", "x", out, sizeof(out)));
	assert_int_equal(password_verify(out, "x"), PASSWORD_OK);
}

static void
plain_generated(void **state)
{
	(void)state;
	char out[PASSWORD_HASH_MAX];
	assert_true(password_hash("PLAIN", "pw", out, sizeof(out)));
	assert_string_equal(out, "{PLAIN}pw");
	assert_int_equal(password_verify(out, "pw"), PASSWORD_OK);
}

static void
hash_output_too_small(void **state)
{
	(void)state;
	char out[16];
	assert_false(password_hash("PLAIN", "a long enough password", out,
	                           sizeof(out)));
	assert_false(password_hash("SHA512-CRYPT", "pw", out, sizeof(out)));
	assert_false(password_hash("ARGON2ID", "pw", out, sizeof(out)));
}

static void
bad_scheme(void **state)
{
	(void)state;
	assert_int_equal(password_verify("{MD5}abc", "abc"),
	                 PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{NOSUCH}abc", "abc"),
	                 PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{PLAIN", "x"), PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{}x", "x"), PASSWORD_BAD_SCHEME);
	assert_int_equal(
	        password_verify("{AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}x",
	                        "x"),
	        PASSWORD_BAD_SCHEME);
	/* Scheme named, data malformed. */
	assert_int_equal(password_verify("{SHA512-CRYPT}nothash", "nothash"),
	                 PASSWORD_BAD_SCHEME);
	/* A bare setting (empty salt, no hash) never matches. */
	assert_int_not_equal(password_verify("{SHA512-CRYPT}$6$", "x"),
	                     PASSWORD_OK);
	assert_int_not_equal(password_verify("{SHA512-CRYPT}$6$saltsalt$", "x"),
	                     PASSWORD_OK);
	assert_int_equal(password_verify("{BLF-CRYPT}$6$saltsalt$x", "x"),
	                 PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{BLF-CRYPT}$2y$10$short", "x"),
	                 PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{ARGON2ID}$argon2id$garbage", "x"),
	                 PASSWORD_BAD_SCHEME);
	assert_int_equal(password_verify("{ARGON2ID}", "x"),
	                 PASSWORD_BAD_SCHEME);
	/* No scheme and not a crypt string. */
	assert_int_equal(password_verify("secret", "secret"),
	                 PASSWORD_BAD_SCHEME);
	char out[PASSWORD_HASH_MAX];
	assert_false(password_hash("MD5", "x", out, sizeof(out)));
	assert_false(password_hash("", "x", out, sizeof(out)));
}

static void
scheme_names(void **state)
{
	(void)state;
	assert_true(password_scheme_valid("ARGON2ID"));
	assert_true(password_scheme_valid("SHA512-CRYPT"));
	assert_true(password_scheme_valid("BLF-CRYPT"));
	assert_true(password_scheme_valid("PLAIN"));
	assert_true(password_scheme_valid("sha512-crypt"));
	assert_false(password_scheme_valid("MD5"));
	assert_false(password_scheme_valid("CRYPT"));
	assert_false(password_scheme_valid(""));
	assert_false(password_scheme_valid("ARGON2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(plain_scheme),
	        cmocka_unit_test(sha512_crypt_known),
	        cmocka_unit_test(sha512_crypt_generated),
	        cmocka_unit_test(blf_crypt_generated),
	        cmocka_unit_test(argon2id_generated),
	        cmocka_unit_test(plain_generated),
	        cmocka_unit_test(hash_output_too_small),
	        cmocka_unit_test(bad_scheme),
	        cmocka_unit_test(scheme_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
