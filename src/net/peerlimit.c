#include "peerlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"

/* The table starts this small and grows with the addresses connected. */
#define PEERLIMIT_BUCKETS 1024

struct peerlimit {
	pthread_mutex_t lock;
	unsigned max;
	/* 16-byte key -> count, as a pointer-sized integer: an address
	 * with no connection is removed, so memory follows the load */
	struct hmap *counts;
};

static void
peerlimit_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

struct peerlimit *
peerlimit_new(unsigned max_per_peer)
{
	struct peerlimit *pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	pl->counts = hmap_new(PEERLIMIT_BUCKETS);
	if (pl->counts == NULL) {
		free(pl);
		return NULL;
	}
	pthread_mutex_init(&pl->lock, NULL);
	pl->max = max_per_peer;
	return pl;
}

void
peerlimit_free(struct peerlimit *pl)
{
	if (pl == NULL)
		return;
	hmap_free(pl->counts, NULL);
	pthread_mutex_destroy(&pl->lock);
	free(pl);
}

bool
peerlimit_acquire(struct peerlimit *pl, const struct sockaddr *sa)
{
	uint8_t key[16];
	peerlimit_key(sa, key);
	return peerlimit_acquire_key(pl, key);
}

void
peerlimit_release(struct peerlimit *pl, const struct sockaddr *sa)
{
	uint8_t key[16];
	peerlimit_key(sa, key);
	peerlimit_release_key(pl, key);
}

bool
peerlimit_acquire_key(struct peerlimit *pl, const uint8_t key[16])
{
	bool ok = false;
	pthread_mutex_lock(&pl->lock);
	uintptr_t n = (uintptr_t)hmap_getn(pl->counts, key, 16);
	if (n < pl->max && hmap_putn(pl->counts, key, 16, (void *)(n + 1)))
		ok = true;
	pthread_mutex_unlock(&pl->lock);
	return ok;
}

void
peerlimit_release_key(struct peerlimit *pl, const uint8_t key[16])
{
	pthread_mutex_lock(&pl->lock);
	uintptr_t n = (uintptr_t)hmap_getn(pl->counts, key, 16);
	if (n > 1)
		hmap_putn(pl->counts, key, 16, (void *)(n - 1));
	else if (n == 1)
		hmap_removen(pl->counts, key, 16); /* memory stays bounded */
	pthread_mutex_unlock(&pl->lock);
}
