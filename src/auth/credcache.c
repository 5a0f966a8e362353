#include "credcache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/passdb.h"
#include "lib/hmac.h"
#include "lib/hmap.h"

#define CREDCACHE_BUCKETS 16384
#define CREDCACHE_KEY_LEN 32

struct credcache_entry {
	uint8_t mac[HMAC_SHA256_LEN];
	bool mac_ok;
	uint64_t expires_ms;
};

struct credcache {
	pthread_mutex_t lock;
	struct hmap *users;
	size_t max;
	uint64_t ttl_ms;
	struct hmac_key *key; /* random, made once: read-only after */
};

struct credcache *
credcache_new(size_t max_entries, uint64_t ttl_ms)
{
	struct credcache *cc = calloc(1, sizeof(*cc));
	if (cc == NULL)
		return NULL;
	uint8_t key[CREDCACHE_KEY_LEN];
	cc->users = hmap_new(CREDCACHE_BUCKETS);
	if (cc->users == NULL || RAND_bytes(key, sizeof(key)) != 1 ||
	    (cc->key = hmac_key_new(key, sizeof(key))) == NULL) {
		hmap_free(cc->users, NULL);
		OPENSSL_cleanse(key, sizeof(key));
		free(cc);
		return NULL;
	}
	OPENSSL_cleanse(key, sizeof(key));
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
	hmac_key_free(cc->key);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

/* stored NUL password: the NUL keeps the two fields apart */
static bool
credcache_mac(const struct credcache *cc, const char *stored,
              const char *password, uint8_t mac[HMAC_SHA256_LEN])
{
	return hmac_sha256(cc->key, stored, strlen(stored) + 1, password,
	                   strlen(password), mac);
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
	uint8_t mac[HMAC_SHA256_LEN];
	credcache_user(user, key);
	bool ok = credcache_mac(cc, stored, password, mac);
	bool hit = false;
	pthread_mutex_lock(&cc->lock);
	struct credcache_entry *e = hmap_get(cc->users, key);
	if (ok && e != NULL && e->expires_ms > now_ms && e->mac_ok &&
	    CRYPTO_memcmp(e->mac, mac, sizeof(mac)) == 0) {
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
	fresh.mac_ok = credcache_mac(cc, stored, password, fresh.mac);
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
