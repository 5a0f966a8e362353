/*
 * A cache of recently verified credentials, so a client that logs in every
 * few minutes (as IMAP clients do, unattended, on every connection) does
 * not pay ARGON2ID or SHA512-CRYPT each time. An entry holds a keyed hash
 * of (stored hash, password) under a random key made at start-up, never
 * the password; it binds the stored hash, so a changed password misses.
 * Only successes are cached: a wrong password always costs the full
 * scheme, so guessing is not helped. Thread-safe.
 */
#ifndef IMAPCID_CREDCACHE_H
#define IMAPCID_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct credcache;

/* ttl_ms 0: a cache that never hits. */
struct credcache *credcache_new(size_t max_entries, uint64_t ttl_ms);
void credcache_free(struct credcache *cc);
bool credcache_check(struct credcache *cc, const char *user, const char *stored,
                     const char *password, uint64_t now_ms);
/* credcache_check(), and a hit starts a new ttl, as credcache_put() of the
 * same credentials would, without computing their hash again. */
bool credcache_use(struct credcache *cc, const char *user, const char *stored,
                   const char *password, uint64_t now_ms);
void credcache_put(struct credcache *cc, const char *user, const char *stored,
                   const char *password, uint64_t now_ms);
/* Forgets everything (password file reloaded). */
void credcache_clear(struct credcache *cc);

#endif
