#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/siphash.h"

/* Doubles when there are more entries than buckets (chains of about one);
 * never past this, where a table of pointers alone is 512 MiB. */
#define HMAP_BUCKETS_MAX ((size_t)1 << 26)

struct hmap_entry {
	struct hmap_entry *next;
	void *value;
	uint64_t hash;
	size_t len;
	char key[]; /* len bytes and a NUL, so string keys read as strings */
};

struct hmap {
	size_t nbuckets, count; /* nbuckets: a power of two */
	struct hmap_entry **buckets;
	uint8_t key[SIPHASH_KEY_LEN];
};

static uint64_t
hmap_hash(const struct hmap *m, const void *key, size_t len)
{
	return siphash24(m->key, key, len);
}

static size_t
hmap_slot(size_t nbuckets, uint64_t hash)
{
	return (size_t)(hash & (nbuckets - 1));
}

struct hmap *
hmap_new(size_t buckets)
{
	struct hmap *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	size_t n = 1;
	while (n < buckets && n < HMAP_BUCKETS_MAX)
		n <<= 1;
	m->nbuckets = n;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL || !siphash_key_random(m->key)) {
		free(m->buckets);
		free(m);
		return NULL;
	}
	return m;
}

void
hmap_free(struct hmap *m, void (*free_value)(void *value))
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_entry *e = m->buckets[i];
		while (e != NULL) {
			struct hmap_entry *next = e->next;
			if (free_value != NULL)
				free_value(e->value);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct hmap_entry **
hmap_find(const struct hmap *m, const void *key, size_t len, uint64_t hash)
{
	struct hmap_entry **pp = &m->buckets[hmap_slot(m->nbuckets, hash)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct hmap_entry *e = *pp;
		if (e->hash == hash && e->len == len &&
		    memcmp(e->key, key, len) == 0)
			break;
	}
	return pp;
}

/* Twice the buckets; on failure the map simply stays as it is. */
static void
hmap_grow(struct hmap *m)
{
	if (m->nbuckets >= HMAP_BUCKETS_MAX)
		return;
	size_t n = m->nbuckets * 2;
	struct hmap_entry **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_entry *e = m->buckets[i];
		while (e != NULL) {
			struct hmap_entry *next = e->next;
			size_t slot = hmap_slot(n, e->hash);
			e->next = b[slot];
			b[slot] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void *
hmap_getn(const struct hmap *m, const void *key, size_t len)
{
	struct hmap_entry *e = *hmap_find(m, key, len, hmap_hash(m, key, len));
	return e != NULL ? e->value : NULL;
}

bool
hmap_putn(struct hmap *m, const void *key, size_t len, void *value)
{
	uint64_t hash = hmap_hash(m, key, len);
	struct hmap_entry **pp = hmap_find(m, key, len, hash);
	if (*pp != NULL) {
		(*pp)->value = value;
		return true;
	}
	struct hmap_entry *e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return false;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	e->len = len;
	e->hash = hash;
	e->value = value;
	size_t slot = hmap_slot(m->nbuckets, hash);
	e->next = m->buckets[slot];
	m->buckets[slot] = e;
	if (++m->count > m->nbuckets)
		hmap_grow(m);
	return true;
}

void *
hmap_removen(struct hmap *m, const void *key, size_t len)
{
	struct hmap_entry **pp = hmap_find(m, key, len, hmap_hash(m, key, len));
	struct hmap_entry *e = *pp;
	if (e == NULL)
		return NULL;
	void *v = e->value;
	*pp = e->next;
	free(e);
	m->count--;
	return v;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	return hmap_getn(m, key, strlen(key));
}

bool
hmap_put(struct hmap *m, const char *key, void *value)
{
	return hmap_putn(m, key, strlen(key), value);
}

void *
hmap_remove(struct hmap *m, const char *key)
{
	return hmap_removen(m, key, strlen(key));
}

size_t
hmap_count(const struct hmap *m)
{
	return m->count;
}

size_t
hmap_buckets(const struct hmap *m)
{
	return m->nbuckets;
}

void
hmap_sweep(struct hmap *m, bool (*fn)(void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_entry **pp = &m->buckets[i];
		while (*pp != NULL) {
			struct hmap_entry *e = *pp;
			if (fn(e->value, arg)) {
				*pp = e->next;
				free(e);
				m->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}
