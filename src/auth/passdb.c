#include "passdb.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"

#define PASSDB_LINE_MAX 4096

struct passdb_entry {
	char *user; /* lower-cased */
	char *hash;
};

struct passdb {
	atomic_int refs;
	struct passdb_entry *entries; /* sorted by user */
	size_t count;
};

bool
passdb_user_valid(const char *user)
{
	size_t n = strlen(user);
	if (n == 0 || n > PASSDB_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)user[i];
		if (c <= 0x20 || c == 0x7f || c == ':')
			return false;
	}
	return true;
}

static int
passdb_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct passdb_entry *)a)->user,
	              ((const struct passdb_entry *)b)->user);
}

static void
passdb_free(struct passdb *db)
{
	for (size_t i = 0; i < db->count; i++) {
		free(db->entries[i].user);
		explicit_bzero(db->entries[i].hash,
		               strlen(db->entries[i].hash));
		free(db->entries[i].hash);
	}
	free(db->entries);
	free(db);
}

static void
passdb_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Splits "user:hash[:...]" in place; false if it is not such a line. */
static bool
passdb_split_line(char *line, char **user, char **hash)
{
	char *colon = strchr(line, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	*user = line;
	*hash = colon + 1;
	char *end = strchr(*hash, ':');
	if (end != NULL)
		*end = '\0';
	return true;
}

struct passdb *
passdb_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct passdb *db = calloc(1, sizeof(*db));
	size_t cap = 0;
	char line[PASSDB_LINE_MAX];
	unsigned lineno = 0;
	bool ok = db != NULL;
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path,
			         lineno);
			ok = false;
			break;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *user, *hash;
		if (!passdb_split_line(line, &user, &hash) ||
		    !passdb_user_valid(user)) {
			snprintf(err, errlen, "%s:%u: not a user:password line",
			         path, lineno);
			ok = false;
			break;
		}
		if (db->count == cap) {
			cap = cap ? cap * 2 : 16;
			void *p = realloc(db->entries,
			                  cap * sizeof(*db->entries));
			if (p == NULL) {
				ok = false;
				break;
			}
			db->entries = p;
		}
		struct passdb_entry *e = &db->entries[db->count];
		e->user = strdup(user);
		e->hash = strdup(hash);
		if (e->user == NULL || e->hash == NULL) {
			free(e->user);
			free(e->hash);
			snprintf(err, errlen, "out of memory");
			ok = false;
			break;
		}
		passdb_lower(e->user);
		db->count++;
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (!ok) {
		if (db != NULL)
			passdb_free(db);
		return NULL;
	}
	qsort(db->entries, db->count, sizeof(*db->entries), passdb_entry_cmp);
	atomic_init(&db->refs, 1);
	return db;
}

void
passdb_ref(struct passdb *db)
{
	atomic_fetch_add(&db->refs, 1);
}

void
passdb_unref(struct passdb *db)
{
	if (db != NULL && atomic_fetch_sub(&db->refs, 1) == 1)
		passdb_free(db);
}

const char *
passdb_lookup(const struct passdb *db, const char *user)
{
	char key[PASSDB_USER_MAX + 1];
	size_t n = strlen(user);
	if (n > PASSDB_USER_MAX)
		return NULL;
	memcpy(key, user, n + 1);
	passdb_lower(key);
	struct passdb_entry probe = {key, NULL};
	const struct passdb_entry *e =
	        bsearch(&probe, db->entries, db->count, sizeof(*db->entries),
	                passdb_entry_cmp);
	return e ? e->hash : NULL;
}

size_t
passdb_count(const struct passdb *db)
{
	return db->count;
}

const char *
passdb_user_at(const struct passdb *db, size_t i)
{
	return i < db->count ? db->entries[i].user : NULL;
}

static bool
passdb_line_is_user(const char *line, const char *user)
{
	const char *colon = strchr(line, ':');
	size_t n = strlen(user);
	return colon != NULL && (size_t)(colon - line) == n &&
	       strncasecmp(line, user, n) == 0;
}

bool
passdb_file_edit(const char *path, enum passdb_edit edit, const char *user,
                 const char *hash, char *err, size_t errlen)
{
	char tmp[4096], lockpath[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (size_t)snprintf(lockpath, sizeof(lockpath), "%s.lock", path) >=
	            sizeof(lockpath)) {
		snprintf(err, errlen, "path too long");
		return false;
	}
	/* A separate lock file: the data file itself is replaced. */
	int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		snprintf(err, errlen, "%s: %s", lockpath, strerror(errno));
		if (lockfd >= 0)
			close(lockfd);
		return false;
	}
	struct buf out = BUF_INIT;
	bool found = false, ok = true;
	mode_t mode = 0600;
	FILE *f = fopen(path, "re");
	if (f == NULL && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		ok = false;
	}
	if (f != NULL) {
		struct stat st;
		if (fstat(fileno(f), &st) == 0)
			mode = st.st_mode & 0777;
		char line[PASSDB_LINE_MAX];
		while (ok && fgets(line, sizeof(line), f) != NULL) {
			if (passdb_line_is_user(line, user)) {
				found = true;
				if (edit == PASSDB_EDIT_DELETE)
					continue;
				if (edit == PASSDB_EDIT_SET) {
					/* keep the extra fields after hash */
					char *rest = strchr(line, ':');
					rest = strchr(rest + 1, ':');
					ok = buf_printf(&out, "%s:%s%s", user,
					                hash,
					                rest ? rest : "\n");
					continue;
				}
			}
			ok = buf_append_str(&out, line);
		}
		explicit_bzero(line, sizeof(line));
		fclose(f);
		if (out.len > 0 && out.data[out.len - 1] != '\n')
			ok = ok && buf_append_str(&out, "\n");
	}
	if (ok && edit == PASSDB_EDIT_ADD) {
		if (found) {
			snprintf(err, errlen, "user %s already exists", user);
			ok = false;
		} else {
			ok = buf_printf(&out, "%s:%s\n", user, hash);
		}
	} else if (ok && !found) {
		snprintf(err, errlen, "no such user: %s", user);
		ok = false;
	}
	if (ok) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		              mode);
		ok = fd >= 0 &&
		     write(fd, out.data, out.len) == (ssize_t)out.len &&
		     fsync(fd) == 0;
		if (fd >= 0 && close(fd) != 0)
			ok = false;
		ok = ok && rename(tmp, path) == 0;
		if (!ok) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			unlink(tmp);
		}
	}
	if (out.data != NULL)
		explicit_bzero(out.data, out.cap);
	buf_free(&out);
	close(lockfd);
	return ok;
}
