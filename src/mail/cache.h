/*
 * The per-folder cache of FETCH ENVELOPE, BODYSTRUCTURE and BODY: one file
 * (CACHE_FILE) in the folder's directory, next to dovecot-uidlist, holding
 * the serialized strings of each message by UID. Maildir message files
 * never change once delivered (only their names do), so an entry is valid
 * as long as the folder's UIDVALIDITY, which the file's header carries.
 *
 * It is only a cache: a missing, damaged, foreign or stale file is never
 * an error, it is discarded and filled again as messages are fetched.
 * Internal to src/mail; the session reaches it through mailbox_cache_get()
 * and mailbox_cache_put() in mailstore.h.
 */
#ifndef IMAPCID_MAIL_CACHE_H
#define IMAPCID_MAIL_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/mailstore.h"

#define MAIL_CACHE_FILE "imapcid.cache"

struct mail_cache;

/* A handle on the cache of the folder open at dfd (borrowed: it must
 * outlive the handle). Nothing is read until first used. live(arg, uid)
 * tells whether a UID still has a message, which compaction keeps. NULL
 * only when memory is exhausted. */
struct mail_cache *mail_cache_new(int dfd, uint32_t uidvalidity,
                                  bool (*live)(void *arg, uint32_t uid),
                                  void *arg);
void mail_cache_free(struct mail_cache *c);

/* Appends the field of uid to out; false if it isn't cached. */
bool mail_cache_get(struct mail_cache *c, uint32_t uid,
                    enum mail_cache_field field, struct buf *out);
/* Stores every field of uid (vals[field]), unless it is there already.
 * Best effort: a failure is logged and forgotten. */
void mail_cache_put(struct mail_cache *c, uint32_t uid, const struct buf *vals);

#endif
