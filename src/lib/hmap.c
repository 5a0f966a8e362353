#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hmap_entry {
	struct hmap_entry *next;
	void *value;
	char key[];
};

struct hmap {
	size_t nbuckets, count;
	struct hmap_entry **buckets;
};

static size_t
hmap_hash(const struct hmap *m, const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return (size_t)(h % m->nbuckets);
}

struct hmap *
hmap_new(size_t buckets)
{
	struct hmap *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->nbuckets = buckets ? buckets : 1;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL) {
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

void *
hmap_get(const struct hmap *m, const char *key)
{
	for (struct hmap_entry *e = m->buckets[hmap_hash(m, key)]; e != NULL;
	     e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

bool
hmap_put(struct hmap *m, const char *key, void *value)
{
	size_t h = hmap_hash(m, key);
	for (struct hmap_entry *e = m->buckets[h]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			e->value = value;
			return true;
		}
	size_t n = strlen(key);
	struct hmap_entry *e = malloc(sizeof(*e) + n + 1);
	if (e == NULL)
		return false;
	memcpy(e->key, key, n + 1);
	e->value = value;
	e->next = m->buckets[h];
	m->buckets[h] = e;
	m->count++;
	return true;
}

void *
hmap_remove(struct hmap *m, const char *key)
{
	struct hmap_entry **pp = &m->buckets[hmap_hash(m, key)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		struct hmap_entry *e = *pp;
		if (strcmp(e->key, key) == 0) {
			void *v = e->value;
			*pp = e->next;
			free(e);
			m->count--;
			return v;
		}
	}
	return NULL;
}

size_t
hmap_count(const struct hmap *m)
{
	return m->count;
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
