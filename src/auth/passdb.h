/*
 * The password database: a file in Dovecot's passwd-file format,
 * "user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]", one user a line.
 * Loaded whole into an immutable, reference-counted snapshot, so a reload
 * (SIGHUP) swaps snapshots while lookups on other threads go on.
 */
#ifndef IMAPCID_PASSDB_H
#define IMAPCID_PASSDB_H

#include <stdbool.h>
#include <stddef.h>

#define PASSDB_USER_MAX 255 /* longest user name accepted anywhere */

struct passdb;

/* NULL on failure with a message in err (file:line: reason). */
struct passdb *passdb_load(const char *path, char *err, size_t errlen);
void passdb_ref(struct passdb *db);
void passdb_unref(struct passdb *db);
/* The stored "{SCHEME}data" for user, or NULL. Lookup is case-insensitive. */
const char *passdb_lookup(const struct passdb *db, const char *user);
size_t passdb_count(const struct passdb *db);
const char *passdb_user_at(const struct passdb *db, size_t i);

/* Is this a name we store: 1..255 bytes, no ':', control or space. */
bool passdb_user_valid(const char *user);

enum passdb_edit {
	PASSDB_EDIT_ADD,    /* fails if the user exists */
	PASSDB_EDIT_SET,    /* fails if the user does not exist */
	PASSDB_EDIT_DELETE, /* fails if the user does not exist */
};

/*
 * Rewrites the file atomically (write, fsync, rename) under an exclusive
 * lock, keeping every other line as it was. Creates the file (mode 0600) if
 * missing for ADD.
 */
bool passdb_file_edit(const char *path, enum passdb_edit edit, const char *user,
                      const char *hash, char *err, size_t errlen);

#endif
