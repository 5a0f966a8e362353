#include "hmac.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HMAC_BLOCK 64 /* SHA-256 */

struct hmac_key {
	EVP_MD_CTX *inner, *outer;
};

/* The state after hashing one block of key XOR pad. */
static bool
hmac_pad(EVP_MD_CTX *ctx, EVP_MD *md, const uint8_t *key, size_t len,
         uint8_t pad)
{
	uint8_t block[HMAC_BLOCK];
	memset(block, pad, sizeof(block));
	for (size_t i = 0; i < len; i++)
		block[i] ^= key[i];
	bool ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	          EVP_DigestUpdate(ctx, block, sizeof(block)) == 1;
	OPENSSL_cleanse(block, sizeof(block));
	return ok;
}

struct hmac_key *
hmac_key_new(const uint8_t *key, size_t len)
{
	if (len > HMAC_KEY_MAX)
		return NULL;
	struct hmac_key *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	k->inner = EVP_MD_CTX_new();
	k->outer = EVP_MD_CTX_new();
	bool ok = md != NULL && k->inner != NULL && k->outer != NULL &&
	          EVP_MD_get_block_size(md) == HMAC_BLOCK &&
	          hmac_pad(k->inner, md, key, len, 0x36) &&
	          hmac_pad(k->outer, md, key, len, 0x5c);
	EVP_MD_free(md); /* the contexts hold their own references */
	if (!ok) {
		hmac_key_free(k);
		return NULL;
	}
	return k;
}

void
hmac_key_free(struct hmac_key *k)
{
	if (k == NULL)
		return;
	EVP_MD_CTX_free(k->inner); /* wipes the keyed states */
	EVP_MD_CTX_free(k->outer);
	free(k);
}

bool
hmac_sha256(const struct hmac_key *k, const void *a, size_t alen, const void *b,
            size_t blen, uint8_t out[HMAC_SHA256_LEN])
{
	uint8_t inner[EVP_MAX_MD_SIZE];
	unsigned ilen = 0, olen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c != NULL && EVP_MD_CTX_copy_ex(c, k->inner) == 1 &&
	          EVP_DigestUpdate(c, a, alen) == 1 &&
	          (blen == 0 || EVP_DigestUpdate(c, b, blen) == 1) &&
	          EVP_DigestFinal_ex(c, inner, &ilen) == 1 &&
	          EVP_MD_CTX_copy_ex(c, k->outer) == 1 &&
	          EVP_DigestUpdate(c, inner, ilen) == 1 &&
	          EVP_DigestFinal_ex(c, out, &olen) == 1 &&
	          olen == HMAC_SHA256_LEN;
	if (!ok)
		memset(out, 0, HMAC_SHA256_LEN);
	EVP_MD_CTX_free(c); /* wipes the copied state */
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}
