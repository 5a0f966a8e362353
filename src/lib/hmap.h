/* A string-keyed hash map with chaining. Not thread-safe: callers lock. */
#ifndef IMAPCID_HMAP_H
#define IMAPCID_HMAP_H

#include <stdbool.h>
#include <stddef.h>

struct hmap;

struct hmap *hmap_new(size_t buckets);
/* Frees the map; free_value (may be NULL) is called on every value. */
void hmap_free(struct hmap *m, void (*free_value)(void *value));
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; false when out of memory. */
bool hmap_put(struct hmap *m, const char *key, void *value);
/* Removes and returns the value, or NULL. */
void *hmap_remove(struct hmap *m, const char *key);
size_t hmap_count(const struct hmap *m);
/* Calls fn on every entry; entries for which it returns true are removed
 * (fn then owns the value). */
void hmap_sweep(struct hmap *m, bool (*fn)(void *value, void *arg), void *arg);

#endif
