/* Password schemes in Dovecot's "{SCHEME}data" notation. */
#ifndef IMAPCID_PASSWORD_H
#define IMAPCID_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 512 /* longest stored form we produce or accept */

enum password_result {
	PASSWORD_OK,
	PASSWORD_MISMATCH,
	PASSWORD_BAD_SCHEME, /* unknown scheme or malformed stored data */
};

/* Constant-time where the scheme allows; slow by design for real schemes. */
enum password_result password_verify(const char *stored, const char *plain);

/* Is NAME a scheme we can verify and generate (ARGON2ID, SHA512-CRYPT ...)? */
bool password_scheme_valid(const char *name);

/* Writes "{SCHEME}data" for a fresh random salt. False on failure. */
bool password_hash(const char *scheme, const char *plain, char *out,
                   size_t outlen);

#endif
