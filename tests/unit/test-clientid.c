/* cid_parse and cid_fingerprint: spec/CLIENTID.md rules CID-SYN-*, CID-PRV-2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clientid/clientid.h"
#include "lib/hmac.h"

static bool
parse_n(const void *args, size_t len, struct cid_identity *id, const char **err)
{
	memset(id, 0x5a, sizeof(*id));
	*err = NULL;
	return cid_parse(args, len, id, err);
}

static void
ok(const char *args, const char *type, const char *token)
{
	struct cid_identity id;
	const char *err;
	if (!parse_n(args, strlen(args), &id, &err))
		fail_msg("\"%s\" refused: %s", args, err ? err : "(no error)");
	assert_string_equal(id.type, type);
	assert_string_equal(id.token, token);
}

static void
bad_n(const void *args, size_t len, const char *err_expected)
{
	struct cid_identity id;
	const char *err;
	if (parse_n(args, len, &id, &err))
		fail_msg("\"%.*s\" accepted", (int)len, (const char *)args);
	assert_non_null(err);
	assert_string_equal(err, err_expected);
	/* A message without a final dot: the caller adds one. */
	assert_true(err[0] != '\0' && err[strlen(err) - 1] != '.');
}

static void
bad(const char *args, const char *err_expected)
{
	bad_n(args, strlen(args), err_expected);
}

/* CID-SYN-1: type matched case-insensitively, normalized to upper case. */
static void
syn1_type_upper_cased(void **state)
{
	(void)state;
	ok(" uuid 23bf83be-aad7-46aa-9e0f-39191ccf402f", "UUID",
	   "23bf83be-aad7-46aa-9e0f-39191ccf402f");
	ok(" UuId x", "UUID", "x");
	ok(" x-dev-9 Tok", "X-DEV-9", "Tok");
	/* The token keeps its case. */
	ok(" UUID AbC", "UUID", "AbC");
}

/* CID-SYN-2: exactly two arguments. */
static void
syn2_missing_args(void **state)
{
	(void)state;
	bad("", "expected a type and a token");
	bad(" ", "empty type");
	/* No space after the command name. */
	bad("UUID tok", "expected a type and a token");
}

static void
syn2_one_arg(void **state)
{
	(void)state;
	bad(" UUID", "missing token");
	bad(" UUID ", "empty token");
}

static void
syn2_three_args(void **state)
{
	(void)state;
	bad(" UUID tok extra", "too many arguments");
	bad(" UUID tok ", "too many arguments");
}

static void
syn2_empty_type_or_token(void **state)
{
	(void)state;
	bad("  UUID tok", "empty type");
	bad(" UUID  tok", "empty token");
}

static void
syn2_type_length(void **state)
{
	(void)state;
	ok(" ABCDEFGHIJKLMNOP tok", "ABCDEFGHIJKLMNOP", "tok");
	bad(" ABCDEFGHIJKLMNOPQ tok", "type longer than 16 characters");
	ok(" 1 x", "1", "x");
}

static void
syn2_token_length(void **state)
{
	(void)state;
	char args[8 + CID_TOKEN_MAX + 2];
	char token[CID_TOKEN_MAX + 2];
	memset(token, 't', CID_TOKEN_MAX);
	token[CID_TOKEN_MAX] = '\0';
	snprintf(args, sizeof(args), " UUID %s", token);
	ok(args, "UUID", token);

	memset(token, 't', CID_TOKEN_MAX + 1);
	token[CID_TOKEN_MAX + 1] = '\0';
	snprintf(args, sizeof(args), " UUID %s", token);
	bad(args, "token longer than 128 characters");
}

static void
syn2_type_alphabet(void **state)
{
	(void)state;
	bad(" UU_ID tok", "type may hold only letters, digits and '-'");
	bad(" UU.ID tok", "type may hold only letters, digits and '-'");
	bad(" \"UUID\" tok", "type may hold only letters, digits and '-'");
	bad(" (UUID tok)", "type may hold only letters, digits and '-'");
	bad(" UU\xc3\x89"
	    "D tok",
	    "type may hold only letters, digits and '-'");
	bad(" UUID\ttok", "type may hold only letters, digits and '-'");
	bad(" {4}", "type may hold only letters, digits and '-'");
	const char nul[] = " UU\0D tok";
	bad_n(nul, sizeof(nul) - 1,
	      "type may hold only letters, digits and '-'");
}

/* CID-SYN-3: the token is the raw word; quotes are part of it. */
static void
syn3_quoted_token_kept(void **state)
{
	(void)state;
	struct cid_identity id;
	const char *err;
	assert_true(parse_n(" UUID \"abc\"", 11, &id, &err));
	assert_int_equal(strlen(id.token), 5);
	assert_string_equal(id.token, "\"abc\"");
	ok(" UUID \"\"", "UUID", "\"\"");
	/* Backslashes are not escapes either. */
	ok(" UUID a\\\"b", "UUID", "a\\\"b");
	/* A quoted token with a space is three words' worth. */
	bad(" UUID \"abc def\"", "too many arguments");
}

static void
syn3_all_vchars(void **state)
{
	(void)state;
	char args[8 + 94 + 1] = " UUID ";
	char token[95];
	for (int c = 0x21; c <= 0x7e; c++)
		token[c - 0x21] = (char)c;
	token[94] = '\0';
	strcat(args, token);
	ok(args, "UUID", token);
}

static void
syn3_token_bytes(void **state)
{
	(void)state;
	const char *msg = "token may hold only printable ASCII";
	bad(" UUID tok\x80"
	    "en",
	    msg);
	bad(" UUID \xff", msg);
	bad(" UUID t\xc3\xa9l\xc3\xa9phone", msg);
	bad(" UUID tok\x01"
	    "en",
	    msg);
	bad(" UUID tok\x7f"
	    "en",
	    msg);
	bad(" UUID tok\ten", msg);
	bad(" UUID tok\r", msg);
	const char nul[] = " UUID tok\0en";
	bad_n(nul, sizeof(nul) - 1, msg);
}

/* The output strings are always terminated, whatever was there before. */
static void
parse_terminates(void **state)
{
	(void)state;
	struct cid_identity id;
	const char *err;
	assert_true(parse_n(" A b", 4, &id, &err));
	assert_int_equal(id.type[1], '\0');
	assert_int_equal(id.token[1], '\0');
	/* Only len bytes are read: a longer buffer's tail is ignored. */
	assert_true(parse_n(" A bc extra", 5, &id, &err));
	assert_string_equal(id.token, "bc");
}

/* ---- fingerprints (CID-PRV-2) ------------------------------------------- */

static const uint8_t secret1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t secret2[32] = "0123456789abcdef0123456789abcdeF";

static void
fp(const uint8_t *secret, const char *type, const char *token,
   char out[CID_FINGERPRINT_LEN + 1])
{
	struct cid_identity id;
	memset(&id, 0, sizeof(id));
	snprintf(id.type, sizeof(id.type), "%s", type);
	snprintf(id.token, sizeof(id.token), "%s", token);
	memset(out, 'Z', CID_FINGERPRINT_LEN + 1);
	cid_fingerprint(secret, 32, &id, out);
}

static void
fingerprint_format(void **state)
{
	(void)state;
	char a[CID_FINGERPRINT_LEN + 1];
	fp(secret1, "UUID", "23bf83be-aad7-46aa-9e0f-39191ccf402f", a);
	assert_int_equal(strlen(a), CID_FINGERPRINT_LEN);
	assert_int_equal(strlen(a), 16);
	for (size_t i = 0; i < CID_FINGERPRINT_LEN; i++)
		if (!((a[i] >= '0' && a[i] <= '9') ||
		      (a[i] >= 'a' && a[i] <= 'f')))
			fail_msg("not lowercase hex: %s", a);
}

static void
fingerprint_stable(void **state)
{
	(void)state;
	char a[CID_FINGERPRINT_LEN + 1], b[CID_FINGERPRINT_LEN + 1];
	fp(secret1, "UUID", "tok", a);
	fp(secret1, "UUID", "tok", b);
	assert_string_equal(a, b);
}

static void
fingerprint_known_value(void **state)
{
	(void)state;
	/* HMAC-SHA256(key "k", "UUID\0tok"), first 8 bytes; computed with
	 * python3 hmac independently of the code under test. */
	struct cid_identity id;
	memset(&id, 0, sizeof(id));
	strcpy(id.type, "UUID");
	strcpy(id.token, "tok");
	char out[CID_FINGERPRINT_LEN + 1];
	cid_fingerprint((const uint8_t *)"k", 1, &id, out);
	assert_string_equal(out, "132ca84b60bd313b");
}

static void
hash_full_and_fingerprint_prefix(void **state)
{
	(void)state;
	/* cid_hash is the whole HMAC-SHA256 in hex (CID-PRV-1); the
	 * fingerprint is its first 16 digits. Value from python3 hmac. */
	struct cid_identity id;
	memset(&id, 0, sizeof(id));
	strcpy(id.type, "UUID");
	strcpy(id.token, "tok");
	char hash[CID_HASH_LEN + 1], out[CID_FINGERPRINT_LEN + 1];
	memset(hash, 'Z', sizeof(hash));
	cid_hash((const uint8_t *)"k", 1, &id, hash);
	assert_int_equal(strlen(hash), 64);
	assert_string_equal(hash, "132ca84b60bd313bb3010117c4b90f201ccbdf498db8"
	                          "55f37ab67b8a6fd105b6");
	cid_fingerprint((const uint8_t *)"k", 1, &id, out);
	assert_memory_equal(hash, out, CID_FINGERPRINT_LEN);
	/* The token never shows in the stored form either. */
	assert_null(strstr(hash, "tok"));
}

static void
hash_long_secret_and_keyed(void **state)
{
	(void)state;
	/* A secret longer than SHA-256's block is hashed first (RFC 2104),
	 * as python3 hmac does; the keyed form gives the same answer. */
	struct cid_identity id;
	memset(&id, 0, sizeof(id));
	strcpy(id.type, "UUID");
	strcpy(id.token, "tok");
	uint8_t secret[100];
	memset(secret, 'k', sizeof(secret));
	char hash[CID_HASH_LEN + 1], keyed[CID_HASH_LEN + 1];
	cid_hash(secret, sizeof(secret), &id, hash);
	assert_string_equal(hash, "e9532b21bf86c3c693a0827a177b26c0102b5a9b50b4"
	                          "3feaf34106ea53f360b2");
	struct hmac_key *k = cid_key_new(secret, sizeof(secret));
	assert_non_null(k);
	cid_hash_keyed(k, &id, keyed);
	assert_string_equal(hash, keyed);
	hmac_key_free(k);
}

static void
fingerprint_differs(void **state)
{
	(void)state;
	char base[CID_FINGERPRINT_LEN + 1], other[CID_FINGERPRINT_LEN + 1];
	fp(secret1, "UUID", "tok", base);

	fp(secret1, "UUID", "tol", other);
	assert_string_not_equal(base, other); /* different token */
	fp(secret1, "UUIE", "tok", other);
	assert_string_not_equal(base, other); /* different type */
	fp(secret2, "UUID", "tok", other);
	assert_string_not_equal(base, other); /* different secret */

	/* The separator keeps type/token boundaries apart. */
	char x[CID_FINGERPRINT_LEN + 1], y[CID_FINGERPRINT_LEN + 1];
	fp(secret1, "AB", "Ctok", x);
	fp(secret1, "ABC", "tok", y);
	assert_string_not_equal(x, y);
}

static void
fingerprint_hides_token(void **state)
{
	(void)state;
	/* Tokens that are themselves hex must not show through. */
	static const char *const tokens[] = {
	        "0123456789abcdef",
	        "0123456789abcdef0123456789abcdef",
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	        "23bf83be-aad7-46aa-9e0f-39191ccf402f",
	};
	for (size_t i = 0; i < sizeof(tokens) / sizeof(*tokens); i++) {
		char out[CID_FINGERPRINT_LEN + 1];
		fp(secret1, "UUID", tokens[i], out);
		assert_null(strstr(out, tokens[i]));
		/* Not even the first 8 characters of it. */
		char head[9];
		memcpy(head, tokens[i], 8);
		head[8] = '\0';
		assert_null(strstr(out, head));
	}
}

static void
fingerprint_full_size_identity(void **state)
{
	(void)state;
	char type[CID_TYPE_MAX + 1], token[CID_TOKEN_MAX + 1];
	memset(type, 'T', CID_TYPE_MAX);
	type[CID_TYPE_MAX] = '\0';
	memset(token, '~', CID_TOKEN_MAX);
	token[CID_TOKEN_MAX] = '\0';
	char a[CID_FINGERPRINT_LEN + 1], b[CID_FINGERPRINT_LEN + 1];
	fp(secret1, type, token, a);
	token[CID_TOKEN_MAX - 1] = '}';
	fp(secret1, type, token, b);
	assert_int_equal(strlen(a), 16);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(syn1_type_upper_cased),
	        cmocka_unit_test(syn2_missing_args),
	        cmocka_unit_test(syn2_one_arg),
	        cmocka_unit_test(syn2_three_args),
	        cmocka_unit_test(syn2_empty_type_or_token),
	        cmocka_unit_test(syn2_type_length),
	        cmocka_unit_test(syn2_token_length),
	        cmocka_unit_test(syn2_type_alphabet),
	        cmocka_unit_test(syn3_quoted_token_kept),
	        cmocka_unit_test(syn3_all_vchars),
	        cmocka_unit_test(syn3_token_bytes),
	        cmocka_unit_test(parse_terminates),
	        cmocka_unit_test(fingerprint_format),
	        cmocka_unit_test(fingerprint_stable),
	        cmocka_unit_test(fingerprint_known_value),
	        cmocka_unit_test(hash_full_and_fingerprint_prefix),
	        cmocka_unit_test(hash_long_secret_and_keyed),
	        cmocka_unit_test(fingerprint_differs),
	        cmocka_unit_test(fingerprint_hides_token),
	        cmocka_unit_test(fingerprint_full_size_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
