#include "credcache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
};

struct credcache *
credcache_new(size_t max_entries, uint64_t ttl_ms)
{
	struct credcache *cc = calloc(1, sizeof(*cc));
	if (cc == NULL)
		return NULL;
	cc->users = hmap_new(CREDCACHE_BUCKETS);
	if (cc->users == NULL || RAND_bytes(cc->key, sizeof(cc->key)) != 1) {
		hmap_free(cc->users, NULL);
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
	OPENSSL_cleanse(cc->key, sizeof(cc->key));
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

static void
credcache_mac(const struct credcache *cc, const char *stored,
              const char *password, uint8_t *mac, unsigned *len)
{
	size_t sl = strlen(stored), pl = strlen(password);
	/* stored NUL password: the NUL keeps the two fields apart */
	uint8_t *msg = malloc(sl + 1 + pl);
	*len = 0;
	if (msg == NULL)
		return;
	memcpy(msg, stored, sl);
	msg[sl] = '\0';
	memcpy(msg + sl + 1, password, pl);
	HMAC(EVP_sha256(), cc->key, sizeof(cc->key), msg, sl + 1 + pl, mac,
	     len);
	OPENSSL_cleanse(msg, sl + 1 + pl);
	free(msg);
}

static void
credcache_user(const char *user, char key[PASSDB_USER_MAX + 1])
{
	size_t i;
	for (i = 0; user[i] != '\0' && i < PASSDB_USER_MAX; i++)
		key[i] = (char)tolower((unsigned char)user[i]);
	key[i] = '\0';
}

bool
credcache_check(struct credcache *cc, const char *user, const char *stored,
                const char *password, uint64_t now_ms)
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
	const struct credcache_entry *e = hmap_get(cc->users, key);
	if (e != NULL && e->expires_ms > now_ms && e->mac_len == len &&
	    len > 0 && CRYPTO_memcmp(e->mac, mac, len) == 0)
		hit = true;
	pthread_mutex_unlock(&cc->lock);
	return hit;
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
