/*
 * A hash map with chaining, for keys that are strings or any run of bytes.
 * Keys may come from clients (account names, addresses, tokens), so the
 * hash is SipHash under a random key of each map's own, and the table
 * doubles as it fills: nobody can pick keys that pile up in one chain,
 * and lookups stay short however many keys there are. Not thread-safe:
 * callers lock.
 */
#ifndef IMAPCID_HMAP_H
#define IMAPCID_HMAP_H

#include <stdbool.h>
#include <stddef.h>

struct hmap;

/* buckets: the starting size (it grows); NULL if out of memory or the
 * kernel gave no randomness for the key. */
struct hmap *hmap_new(size_t buckets);
/* Frees the map; free_value (may be NULL) is called on every value. */
void hmap_free(struct hmap *m, void (*free_value)(void *value));
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; false when out of memory. */
bool hmap_put(struct hmap *m, const char *key, void *value);
/* Removes and returns the value, or NULL. */
void *hmap_remove(struct hmap *m, const char *key);
/* The same with keys of len bytes (which may hold NULs). */
void *hmap_getn(const struct hmap *m, const void *key, size_t len);
bool hmap_putn(struct hmap *m, const void *key, size_t len, void *value);
void *hmap_removen(struct hmap *m, const void *key, size_t len);
size_t hmap_count(const struct hmap *m);
/* Buckets in use now (for tests of the growth). */
size_t hmap_buckets(const struct hmap *m);
/* Calls fn on every entry; entries for which it returns true are removed
 * (fn then owns the value). */
void hmap_sweep(struct hmap *m, bool (*fn)(void *value, void *arg), void *arg);

#endif
