/*
 * The CLIENTID command's syntax and the identity it yields, as pure
 * functions (spec/CLIENTID.md, rules CID-SYN-*).
 *
 *   client-id       = "CLIENTID" SP client-id-type SP client-id-token
 *   client-id-type  = 1*16 (ALPHA / DIGIT / "-")
 *   client-id-token = 1*128 VCHAR
 */
#ifndef IMAPCID_CLIENTID_H
#define IMAPCID_CLIENTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CID_TYPE_MAX        16
#define CID_TOKEN_MAX       128
#define CID_FINGERPRINT_LEN 16 /* hex digits: 64 bits of an HMAC */

struct cid_identity {
	char type[CID_TYPE_MAX + 1]; /* upper-cased: types match any case */
	char token[CID_TOKEN_MAX + 1];
};

/*
 * Parses the bytes after the command name ("" or " TYPE TOKEN"), exactly as
 * received. The token is the raw word up to the line end: quotes are part of
 * it (CID-SYN-3). On error returns false and a message without a final dot.
 */
bool cid_parse(const uint8_t *args, size_t len, struct cid_identity *out,
               const char **err);

#define CID_HASH_LEN 64 /* hex of HMAC-SHA256 */

/* The keyed hash a token is stored as (CID-PRV-1): hex of
 * HMAC-SHA256(secret, type NUL token). */
void cid_hash(const uint8_t *secret, size_t secret_len,
              const struct cid_identity *id, char out[CID_HASH_LEN + 1]);
/* The same with the secret made into a key once (cid_key_new(), free
 * with hmac_key_free() of lib/hmac.h), for the login path. */
struct hmac_key;
struct hmac_key *cid_key_new(const uint8_t *secret, size_t secret_len);
void cid_hash_keyed(const struct hmac_key *key, const struct cid_identity *id,
                    char out[CID_HASH_LEN + 1]);

/*
 * A short, stable, non-reversible name for an identity, safe to log and to
 * show (CID-PRV-2): the first 16 hex digits of cid_hash().
 */
void cid_fingerprint(const uint8_t *secret, size_t secret_len,
                     const struct cid_identity *id,
                     char out[CID_FINGERPRINT_LEN + 1]);

#endif
