#include "clientid.h"
#include "lib/hmac.h"

#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>

static bool
cid_is_type_char(uint8_t c)
{
	return isascii(c) && (isalnum(c) || c == '-');
}

static bool
cid_is_vchar(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e;
}

bool
cid_parse(const uint8_t *args, size_t len, struct cid_identity *out,
          const char **err)
{
	if (len == 0 || args[0] != ' ') {
		*err = "expected a type and a token";
		return false;
	}
	size_t i = 1, start = 1;
	while (i < len && args[i] != ' ') {
		if (!cid_is_type_char(args[i])) {
			*err = "type may hold only letters, digits and '-'";
			return false;
		}
		i++;
	}
	size_t type_len = i - start;
	if (type_len == 0) {
		*err = "empty type";
		return false;
	}
	if (type_len > CID_TYPE_MAX) {
		*err = "type longer than 16 characters";
		return false;
	}
	if (i == len) {
		*err = "missing token";
		return false;
	}
	for (size_t k = 0; k < type_len; k++)
		out->type[k] = (char)toupper(args[start + k]);
	out->type[type_len] = '\0';

	start = ++i; /* the space */
	while (i < len && args[i] != ' ') {
		if (!cid_is_vchar(args[i])) {
			*err = "token may hold only printable ASCII";
			return false;
		}
		i++;
	}
	size_t token_len = i - start;
	if (token_len == 0) {
		*err = "empty token";
		return false;
	}
	if (i < len) {
		*err = "too many arguments";
		return false;
	}
	if (token_len > CID_TOKEN_MAX) {
		*err = "token longer than 128 characters";
		return false;
	}
	memcpy(out->token, args + start, token_len);
	out->token[token_len] = '\0';
	return true;
}

void
cid_hash_keyed(const struct hmac_key *key, const struct cid_identity *id,
               char out[CID_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[HMAC_SHA256_LEN];
	/* type NUL token: a separator no type character can forge */
	hmac_sha256(key, id->type, strlen(id->type) + 1, id->token,
	            strlen(id->token), mac);
	for (size_t i = 0; i < CID_HASH_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[CID_HASH_LEN] = '\0';
	explicit_bzero(mac, sizeof(mac));
}

struct hmac_key *
cid_key_new(const uint8_t *secret, size_t secret_len)
{
	if (secret_len <= HMAC_KEY_MAX)
		return hmac_key_new(secret, secret_len);
	/* a longer one is hashed first, as RFC 2104 (and HMAC()) do */
	uint8_t k[EVP_MAX_MD_SIZE];
	unsigned klen = 0;
	struct hmac_key *key = NULL;
	if (EVP_Digest(secret, secret_len, k, &klen, EVP_sha256(), NULL) == 1)
		key = hmac_key_new(k, klen);
	explicit_bzero(k, sizeof(k));
	return key;
}

void
cid_hash(const uint8_t *secret, size_t secret_len,
         const struct cid_identity *id, char out[CID_HASH_LEN + 1])
{
	struct hmac_key *key = cid_key_new(secret, secret_len);
	if (key == NULL) {
		memset(out, '0', CID_HASH_LEN);
		out[CID_HASH_LEN] = '\0';
		return;
	}
	cid_hash_keyed(key, id, out);
	hmac_key_free(key);
}

void
cid_fingerprint(const uint8_t *secret, size_t secret_len,
                const struct cid_identity *id,
                char out[CID_FINGERPRINT_LEN + 1])
{
	char hash[CID_HASH_LEN + 1];
	cid_hash(secret, secret_len, id, hash);
	memcpy(out, hash, CID_FINGERPRINT_LEN);
	out[CID_FINGERPRINT_LEN] = '\0';
}
