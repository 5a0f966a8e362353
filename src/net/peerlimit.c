#include "peerlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PEERLIMIT_BUCKETS 4096

struct peerlimit_node {
	uint8_t addr[16]; /* IPv4 as v4-mapped IPv6 */
	unsigned count;
	struct peerlimit_node *next;
};

struct peerlimit {
	pthread_mutex_t lock;
	unsigned max;
	struct peerlimit_node *buckets[PEERLIMIT_BUCKETS];
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

static unsigned
peerlimit_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % PEERLIMIT_BUCKETS;
}

struct peerlimit *
peerlimit_new(unsigned max_per_peer)
{
	struct peerlimit *pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	pthread_mutex_init(&pl->lock, NULL);
	pl->max = max_per_peer;
	return pl;
}

void
peerlimit_free(struct peerlimit *pl)
{
	if (pl == NULL)
		return;
	for (size_t i = 0; i < PEERLIMIT_BUCKETS; i++) {
		struct peerlimit_node *n = pl->buckets[i];
		while (n != NULL) {
			struct peerlimit_node *next = n->next;
			free(n);
			n = next;
		}
	}
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
	unsigned h = peerlimit_hash(key);
	bool ok = false;
	pthread_mutex_lock(&pl->lock);
	struct peerlimit_node *n = pl->buckets[h];
	while (n != NULL && memcmp(n->addr, key, 16) != 0)
		n = n->next;
	if (n == NULL) {
		n = calloc(1, sizeof(*n));
		if (n != NULL) {
			memcpy(n->addr, key, 16);
			n->next = pl->buckets[h];
			pl->buckets[h] = n;
		}
	}
	if (n != NULL && n->count < pl->max) {
		n->count++;
		ok = true;
	}
	pthread_mutex_unlock(&pl->lock);
	return ok;
}

void
peerlimit_release_key(struct peerlimit *pl, const uint8_t key[16])
{
	unsigned h = peerlimit_hash(key);
	pthread_mutex_lock(&pl->lock);
	struct peerlimit_node **pp = &pl->buckets[h];
	while (*pp != NULL && memcmp((*pp)->addr, key, 16) != 0)
		pp = &(*pp)->next;
	struct peerlimit_node *n = *pp;
	if (n != NULL && n->count > 0 && --n->count == 0) {
		*pp = n->next; /* forget idle addresses: memory stays bounded */
		free(n);
	}
	pthread_mutex_unlock(&pl->lock);
}
