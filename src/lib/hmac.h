/*
 * HMAC-SHA256 (RFC 2104) with a key fixed once: the SHA-256 states after
 * the key's inner and outer pads are kept and copied for each MAC, so a
 * MAC neither looks the algorithm up nor hashes the key again (HMAC()
 * does both, under a lock, every time). A key may be used from many
 * threads at once: it is read-only once made.
 */
#ifndef IMAPCID_HMAC_H
#define IMAPCID_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAC_SHA256_LEN 32
#define HMAC_KEY_MAX    64 /* SHA-256's block: longer keys are refused */

struct hmac_key;

/* NULL if len > HMAC_KEY_MAX or memory is exhausted. */
struct hmac_key *hmac_key_new(const uint8_t *key, size_t len);
void hmac_key_free(struct hmac_key *k);

/* MAC of a then b (b may be NULL with blen 0). False on an OpenSSL
 * failure; out is then zeroed. */
bool hmac_sha256(const struct hmac_key *k, const void *a, size_t alen,
                 const void *b, size_t blen, uint8_t out[HMAC_SHA256_LEN]);

#endif
