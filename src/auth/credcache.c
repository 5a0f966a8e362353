#include "credcache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/passdb.h"
#include "lib/hmap.h"

#define CREDCACHE_BUCKETS 16384
#define CREDCACHE_KEY_LEN 32

struct credcache_entry {
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len;
	uint64_t expires_ms;
};

struct credcache {
	pthread_mutex_t lock;
	struct hmap *users;
	size_t max;
	uint64_t ttl_ms;
	uint8_t key[CREDCACHE_KEY_LEN];
	/* SHA-256 states after the key's inner and outer pads: copied for
	 * each MAC, so a login neither looks the algorithm up nor hashes the
	 * key again (HMAC() does both every time). Read-only once made. */
	EVP_MD_CTX *inner, *outer;
};

/* HMAC (RFC 2104) with a key no longer than the block: key XOR pad, one
 * block, hashed once here. */
static bool
credcache_pad(EVP_MD_CTX *ctx, EVP_MD *md, const uint8_t *key, size_t len,
              uint8_t pad)
{
	uint8_t block[64];
	memset(block, pad, sizeof(block));
	for (size_t i = 0; i < len; i++)
		block[i] ^= key[i];
	bool ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	          EVP_DigestUpdate(ctx, block, sizeof(block)) == 1;
	OPENSSL_cleanse(block, sizeof(block));
	return ok;
}

static bool
credcache_keyed(struct credcache *cc)
{
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	cc->inner = EVP_MD_CTX_new();
	cc->outer = EVP_MD_CTX_new();
	bool ok =
	        md != NULL && cc->inner != NULL && cc->outer != NULL &&
	        EVP_MD_get_block_size(md) == 64 &&
	        credcache_pad(cc->inner, md, cc->key, sizeof(cc->key), 0x36) &&
	        credcache_pad(cc->outer, md, cc->key, sizeof(cc->key), 0x5c);
	EVP_MD_free(md); /* the contexts hold their own references */
	return ok;
}

struct credcache *
credcache_new(size_t max_entries, uint64_t ttl_ms)
{
	struct credcache *cc = calloc(1, sizeof(*cc));
	if (cc == NULL)
		return NULL;
	cc->users = hmap_new(CREDCACHE_BUCKETS);
	if (cc->users == NULL || RAND_bytes(cc->key, sizeof(cc->key)) != 1 ||
	    !credcache_keyed(cc)) {
		hmap_free(cc->users, NULL);
		EVP_MD_CTX_free(cc->inner);
		EVP_MD_CTX_free(cc->outer);
		OPENSSL_cleanse(cc->key, sizeof(cc->key));
		free(cc);
		return NULL;
	}
	pthread_mutex_init(&cc->lock, NULL);
	cc->max = max_entries;
	cc->ttl_ms = ttl_ms;
	return cc;
}

void
credcache_free(struct credcache *cc)
{
	if (cc == NULL)
		return;
	hmap_free(cc->users, free);
	EVP_MD_CTX_free(cc->inner);
	EVP_MD_CTX_free(cc->outer);
	OPENSSL_cleanse(cc->key, sizeof(cc->key));
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

static void
credcache_mac(const struct credcache *cc, const char *stored,
              const char *password, uint8_t *mac, unsigned *len)
{
	uint8_t inner[EVP_MAX_MD_SIZE];
	unsigned ilen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	/* stored NUL password: the NUL keeps the two fields apart */
	bool ok = c != NULL && EVP_MD_CTX_copy_ex(c, cc->inner) == 1 &&
	          EVP_DigestUpdate(c, stored, strlen(stored) + 1) == 1 &&
	          EVP_DigestUpdate(c, password, strlen(password)) == 1 &&
	          EVP_DigestFinal_ex(c, inner, &ilen) == 1 &&
	          EVP_MD_CTX_copy_ex(c, cc->outer) == 1 &&
	          EVP_DigestUpdate(c, inner, ilen) == 1 &&
	          EVP_DigestFinal_ex(c, mac, len) == 1;
	if (!ok)
		*len = 0;   /* never matches */
	EVP_MD_CTX_free(c); /* wipes the copied state */
	OPENSSL_cleanse(inner, sizeof(inner));
}

static void
credcache_user(const char *user, char key[PASSDB_USER_MAX + 1])
{
	size_t i;
	for (i = 0; user[i] != '\0' && i < PASSDB_USER_MAX; i++)
		key[i] = (char)tolower((unsigned char)user[i]);
	key[i] = '\0';
}

static bool
credcache_lookup(struct credcache *cc, const char *user, const char *stored,
                 const char *password, uint64_t now_ms, bool refresh)
{
	if (cc == NULL || cc->ttl_ms == 0)
		return false;
	char key[PASSDB_USER_MAX + 1];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned len;
	credcache_user(user, key);
	credcache_mac(cc, stored, password, mac, &len);
	bool hit = false;
	pthread_mutex_lock(&cc->lock);
	struct credcache_entry *e = hmap_get(cc->users, key);
	if (e != NULL && e->expires_ms > now_ms && e->mac_len == len &&
	    len > 0 && CRYPTO_memcmp(e->mac, mac, len) == 0) {
		hit = true;
		if (refresh)
			e->expires_ms = now_ms + cc->ttl_ms;
	}
	pthread_mutex_unlock(&cc->lock);
	return hit;
}

bool
credcache_check(struct credcache *cc, const char *user, const char *stored,
                const char *password, uint64_t now_ms)
{
	return credcache_lookup(cc, user, stored, password, now_ms, false);
}

bool
credcache_use(struct credcache *cc, const char *user, const char *stored,
              const char *password, uint64_t now_ms)
{
	return credcache_lookup(cc, user, stored, password, now_ms, true);
}

static bool
credcache_expired(void *value, void *arg)
{
	struct credcache_entry *e = value;
	if (e->expires_ms > *(const uint64_t *)arg)
		return false;
	free(e);
	return true;
}

void
credcache_put(struct credcache *cc, const char *user, const char *stored,
              const char *password, uint64_t now_ms)
{
	if (cc == NULL || cc->ttl_ms == 0)
		return;
	char key[PASSDB_USER_MAX + 1];
	credcache_user(user, key);
	struct credcache_entry fresh;
	credcache_mac(cc, stored, password, fresh.mac, &fresh.mac_len);
	fresh.expires_ms = now_ms + cc->ttl_ms;
	pthread_mutex_lock(&cc->lock);
	struct credcache_entry *e = hmap_get(cc->users, key);
	if (e == NULL && hmap_count(cc->users) >= cc->max)
		hmap_sweep(cc->users, credcache_expired, &now_ms);
	if (e == NULL && hmap_count(cc->users) < cc->max &&
	    (e = malloc(sizeof(*e))) != NULL && !hmap_put(cc->users, key, e)) {
		free(e);
		e = NULL;
	}
	if (e != NULL)
		*e = fresh;
	pthread_mutex_unlock(&cc->lock);
}

void
credcache_clear(struct credcache *cc)
{
	if (cc == NULL)
		return;
	uint64_t forever = UINT64_MAX;
	pthread_mutex_lock(&cc->lock);
	hmap_sweep(cc->users, credcache_expired, &forever);
	pthread_mutex_unlock(&cc->lock);
}
