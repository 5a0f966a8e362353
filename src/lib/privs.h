/*
 * Becoming the unprivileged user the configuration names (`user`), for the
 * daemon after it binds its ports and for imapcidctl before it writes what
 * the daemon will read (the registry, mail stores): files either makes
 * must belong to that user, or the other cannot use them.
 */
#ifndef IMAPCID_PRIVS_H
#define IMAPCID_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The user's ids; false (and why in err) if there is no such user. */
bool privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err,
                  size_t errlen);
/* Becomes uid:gid for good (supplementary groups: gid only); checks that
 * root cannot be regained. */
bool privs_drop(uid_t uid, gid_t gid, char *err, size_t errlen);

#endif
