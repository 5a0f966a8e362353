/* Strict base64 (RFC 4648 section 4) as SASL needs it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *plain, *enc;
} vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
};

static void
encode_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(*vectors); i++) {
		size_t n = strlen(vectors[i].plain);
		char out[32];
		memset(out, '#', sizeof(out));
		base64_encode((const uint8_t *)vectors[i].plain, n, out);
		assert_string_equal(out, vectors[i].enc);
		assert_int_equal(strlen(out), BASE64_ENCODED_LEN(n));
	}
}

static bool
dec(const char *in, uint8_t *out, size_t *outlen)
{
	*outlen = 9999;
	return base64_decode(in, strlen(in), out, outlen);
}

static void
decode_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(*vectors); i++) {
		uint8_t out[32];
		size_t n;
		if (!dec(vectors[i].enc, out, &n))
			fail_msg("refused \"%s\"", vectors[i].enc);
		assert_int_equal(n, strlen(vectors[i].plain));
		assert_memory_equal(out, vectors[i].plain, n);
		assert_true(n <= BASE64_DECODED_MAX(strlen(vectors[i].enc)));
	}
}

static void
binary_round_trip(void **state)
{
	(void)state;
	uint8_t in[256], back[256];
	char enc[BASE64_ENCODED_LEN(256) + 1];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= 256; n += 1) {
		base64_encode(in, n, enc);
		size_t m = 0;
		assert_true(base64_decode(enc, strlen(enc), back, &m));
		assert_int_equal(m, n);
		assert_memory_equal(back, in, n);
	}
	/* Both extra alphabet characters. */
	const uint8_t hi[] = {0xfb, 0xff, 0xbf};
	base64_encode(hi, 3, enc);
	assert_string_equal(enc, "+/+/");
}

static void
known_sasl_plain(void **state)
{
	(void)state;
	uint8_t out[64];
	size_t n;
	assert_true(dec("AGpvZQBzZWNyZXQ=", out, &n));
	assert_int_equal(n, 11);
	assert_memory_equal(out, "\0joe\0secret", 11);
}

static void
reject(const char *in)
{
	uint8_t out[64];
	size_t n;
	if (dec(in, out, &n))
		fail_msg("accepted \"%s\"", in);
}

static void
rejects_bad_padding(void **state)
{
	(void)state;
	reject("Zg"); /* padding is mandatory */
	reject("Zg=");
	reject("Zm8");
	reject("Zg===");
	reject("Z===");
	reject("====");
	reject("=Zg=");
	reject("Z=g=");
	reject("Zg=a");
	reject("Zg==Zg=="); /* padding only at the very end */
	reject("Zm8=Zm9v");
	reject("Zm9vYg==="); /* length not a multiple of 4 */
	reject("Zm9vY");
}

static void
rejects_whitespace(void **state)
{
	(void)state;
	reject("Zm9v Zm9v");
	reject(" Zm9v");
	reject("Zm9v\n");
	reject("Zm9v\r\n");
	reject("Zm\t9v");
	reject("Zm9vYmFy\r\n");
	reject("Zm9 vYmF");
}

static void
rejects_bad_chars(void **state)
{
	(void)state;
	reject("Zm9-"); /* base64url alphabet */
	reject("Zm9_");
	reject("Zm9.");
	reject("Zm9*");
	reject("Zm\xc3\xa9");
	uint8_t out[8];
	size_t n;
	assert_false(base64_decode("Zm\09v", 4, out, &n));
	assert_false(base64_decode("Zm9v\x80\x80\x80\x80", 8, out, &n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(encode_rfc4648),
	        cmocka_unit_test(decode_rfc4648),
	        cmocka_unit_test(binary_round_trip),
	        cmocka_unit_test(known_sasl_plain),
	        cmocka_unit_test(rejects_bad_padding),
	        cmocka_unit_test(rejects_whitespace),
	        cmocka_unit_test(rejects_bad_chars),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
