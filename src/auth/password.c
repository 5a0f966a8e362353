#include "password.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/*
 * ARGON2ID cost for new hashes: OWASP's minimum (19 MiB, 2 passes), a
 * balance between brute-force cost and login latency on small machines.
 */
#define PASSWORD_ARGON2_T_COST  2
#define PASSWORD_ARGON2_M_COST  19456
#define PASSWORD_ARGON2_LANES   1
#define PASSWORD_ARGON2_SALT    16
#define PASSWORD_ARGON2_HASHLEN 32
#define PASSWORD_SHA512_ROUNDS  5000 /* crypt(3)'s and Dovecot's default */
#define PASSWORD_BCRYPT_COST    10

static bool
password_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

static enum password_result
password_verify_crypt(const char *hash, const char *plain)
{
	struct crypt_data data;
	memset(&data, 0, sizeof(data));
	const char *out = crypt_r(plain, hash, &data);
	if (out == NULL || out[0] == '*')
		return PASSWORD_BAD_SCHEME;
	enum password_result r =
	        password_eq(out, hash) ? PASSWORD_OK : PASSWORD_MISMATCH;
	explicit_bzero(&data, sizeof(data));
	return r;
}

static enum password_result
password_verify_argon2(const char *hash, const char *plain, argon2_type type)
{
	int rc = argon2_verify(hash, plain, strlen(plain), type);
	if (rc == ARGON2_OK)
		return PASSWORD_OK;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return PASSWORD_MISMATCH;
	return PASSWORD_BAD_SCHEME;
}

static const char *
password_split(const char *stored, char *scheme, size_t scheme_len)
{
	if (stored[0] != '{') {
		/* No scheme: Dovecot's default for passwd-file is CRYPT. */
		snprintf(scheme, scheme_len, "CRYPT");
		return stored;
	}
	const char *end = strchr(stored, '}');
	if (end == NULL || (size_t)(end - stored - 1) >= scheme_len)
		return NULL;
	memcpy(scheme, stored + 1, (size_t)(end - stored - 1));
	scheme[end - stored - 1] = '\0';
	return end + 1;
}

enum password_result
password_verify(const char *stored, const char *plain)
{
	char scheme[32];
	const char *data = password_split(stored, scheme, sizeof(scheme));
	if (data == NULL)
		return PASSWORD_BAD_SCHEME;
	if (strcasecmp(scheme, "PLAIN") == 0 ||
	    strcasecmp(scheme, "CLEARTEXT") == 0)
		return password_eq(data, plain) ? PASSWORD_OK
		                                : PASSWORD_MISMATCH;
	if (strcasecmp(scheme, "SHA512-CRYPT") == 0)
		return strncmp(data, "$6$", 3) == 0
		               ? password_verify_crypt(data, plain)
		               : PASSWORD_BAD_SCHEME;
	if (strcasecmp(scheme, "BLF-CRYPT") == 0)
		return strncmp(data, "$2", 2) == 0
		               ? password_verify_crypt(data, plain)
		               : PASSWORD_BAD_SCHEME;
	if (strcasecmp(scheme, "CRYPT") == 0)
		return data[0] == '$' ? password_verify_crypt(data, plain)
		                      : PASSWORD_BAD_SCHEME;
	if (strcasecmp(scheme, "ARGON2ID") == 0)
		return password_verify_argon2(data, plain, Argon2_id);
	if (strcasecmp(scheme, "ARGON2I") == 0)
		return password_verify_argon2(data, plain, Argon2_i);
	return PASSWORD_BAD_SCHEME;
}

bool
password_scheme_valid(const char *name)
{
	static const char *const schemes[] = {"ARGON2ID", "SHA512-CRYPT",
	                                      "BLF-CRYPT", "PLAIN"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strcasecmp(name, schemes[i]) == 0)
			return true;
	return false;
}

static bool
password_hash_crypt(const char *prefix, unsigned long count, const char *plain,
                    const char *scheme, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting,
	                     sizeof(setting)) == NULL)
		return false;
	memset(&data, 0, sizeof(data));
	const char *h = crypt_r(plain, setting, &data);
	bool ok = h != NULL && h[0] != '*' &&
	          (size_t)snprintf(out, outlen, "{%s}%s", scheme, h) < outlen;
	explicit_bzero(&data, sizeof(data));
	return ok;
}

bool
password_hash(const char *scheme, const char *plain, char *out, size_t outlen)
{
	if (strcasecmp(scheme, "PLAIN") == 0)
		return (size_t)snprintf(out, outlen, "{PLAIN}%s", plain) <
		       outlen;
	if (strcasecmp(scheme, "SHA512-CRYPT") == 0)
		return password_hash_crypt("$6$", PASSWORD_SHA512_ROUNDS, plain,
		                           "SHA512-CRYPT", out, outlen);
	if (strcasecmp(scheme, "BLF-CRYPT") == 0)
		return password_hash_crypt("$2y$", PASSWORD_BCRYPT_COST, plain,
		                           "BLF-CRYPT", out, outlen);
	if (strcasecmp(scheme, "ARGON2ID") == 0) {
		uint8_t salt[PASSWORD_ARGON2_SALT];
		char enc[PASSWORD_HASH_MAX];
		if (RAND_bytes(salt, sizeof(salt)) != 1)
			return false;
		if (argon2id_hash_encoded(
		            PASSWORD_ARGON2_T_COST, PASSWORD_ARGON2_M_COST,
		            PASSWORD_ARGON2_LANES, plain, strlen(plain), salt,
		            sizeof(salt), PASSWORD_ARGON2_HASHLEN, enc,
		            sizeof(enc)) != ARGON2_OK)
			return false;
		return (size_t)snprintf(out, outlen, "{ARGON2ID}%s", enc) <
		       outlen;
	}
	return false;
}
