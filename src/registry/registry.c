#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Writers queue behind one another in WAL mode; readers never wait. */
#define REGISTRY_BUSY_MS        5000
#define REGISTRY_SCHEMA_VERSION 1

#define REGISTRY_STMT_CACHE 32

/* Statements are prepared once per handle and reused: preparing costs more
 * than running the small queries of a login. Keyed by the SQL text's
 * address (every statement is a string literal). */
struct registry_stmt {
	const char *sql;
	sqlite3_stmt *st;
};

struct registry {
	sqlite3 *db;
	struct registry_stmt cache[REGISTRY_STMT_CACHE];
};

static const char registry_schema[] =
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE IF NOT EXISTS devices ("
        " account TEXT NOT NULL, type TEXT NOT NULL, hash TEXT NOT NULL,"
        " token TEXT, state TEXT NOT NULL,"
        " resume_state TEXT NOT NULL DEFAULT 'trusted',"
        " revoked_until INTEGER NOT NULL"
        " DEFAULT 0, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
        " last_addr TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL DEFAULT 0,"
        " added_ms INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (account, hash)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS audit ("
        " id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
        " account TEXT NOT NULL, peer TEXT NOT NULL, type TEXT NOT NULL,"
        " fp TEXT NOT NULL, mech TEXT NOT NULL, ok INTEGER NOT NULL,"
        " reason TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS audit_account ON audit(account, time_ms);"
        "CREATE TABLE IF NOT EXISTS accounts ("
        " account TEXT PRIMARY KEY, mode TEXT NOT NULL DEFAULT '',"
        " require_clientid INTEGER NOT NULL DEFAULT -1);";

static const char *const registry_state_names[] = {"trusted", "pending",
                                                   "revoked"};

const char *
registry_state_name(enum registry_state s)
{
	return registry_state_names[s];
}

bool
registry_state_parse(const char *name, enum registry_state *out)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, registry_state_names[i]) == 0) {
			*out = (enum registry_state)i;
			return true;
		}
	return false;
}

struct registry *
registry_open(const char *path, char *err, size_t errlen)
{
	struct registry *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	int rc = sqlite3_open_v2(path, &r->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                                 SQLITE_OPEN_NOMUTEX,
	                         NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(r->db, REGISTRY_BUSY_MS);
		/* WAL: readers (logins) never block on the writer (admin
		 * commands); NORMAL: durable across a crash of the process,
		 * one fsync per checkpoint rather than per login. */
		rc = sqlite3_exec(r->db,
		                  "PRAGMA journal_mode=WAL;"
		                  "PRAGMA synchronous=NORMAL;"
		                  "PRAGMA foreign_keys=ON;",
		                  NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(r->db, registry_schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         r->db ? sqlite3_errmsg(r->db) : "cannot open");
		registry_close(r);
		return NULL;
	}
	/* Registries made before suspensions remembered their state: add
	 * the column (an error just means it is there already). */
	sqlite3_exec(
	        r->db,
	        "ALTER TABLE devices ADD COLUMN resume_state TEXT NOT NULL "
	        "DEFAULT 'trusted'",
	        NULL, NULL, NULL);
	/* And before rows knew when, to the millisecond, they were added
	 * (the order pending devices are trimmed in). */
	sqlite3_exec(r->db,
	             "ALTER TABLE devices ADD COLUMN added_ms INTEGER NOT NULL "
	             "DEFAULT 0",
	             NULL, NULL, NULL);
	char sql[96];
	snprintf(sql, sizeof(sql),
	         "INSERT OR IGNORE INTO meta VALUES ('schema', '%d');",
	         REGISTRY_SCHEMA_VERSION);
	sqlite3_exec(r->db, sql, NULL, NULL, NULL);
	return r;
}

void
registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < REGISTRY_STMT_CACHE; i++)
		sqlite3_finalize(r->cache[i].st);
	sqlite3_close_v2(r->db);
	free(r);
}

static sqlite3_stmt *
registry_prepare(struct registry *r, const char *sql)
{
	int i;
	for (i = 0; i < REGISTRY_STMT_CACHE && r->cache[i].sql != NULL; i++)
		if (r->cache[i].sql == sql)
			return r->cache[i].st;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	                       NULL) != SQLITE_OK)
		return NULL;
	if (i < REGISTRY_STMT_CACHE) {
		r->cache[i].sql = sql;
		r->cache[i].st = st;
	}
	return st;
}

/* Done with a statement from registry_prepare(). */
static void
registry_release(struct registry *r, sqlite3_stmt *st)
{
	for (int i = 0; i < REGISTRY_STMT_CACHE; i++)
		if (r->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st); /* the cache was full */
}

/* Runs a statement that returns no rows; cached like the queries, since
 * the writer begins and commits a transaction for every batch. */
static bool
registry_run(struct registry *r, const char *sql)
{
	sqlite3_stmt *st = registry_prepare(r, sql);
	if (st == NULL)
		return false;
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	registry_release(r, st);
	return ok;
}

bool
registry_begin(struct registry *r)
{
	return registry_run(r, "BEGIN IMMEDIATE");
}

bool
registry_commit(struct registry *r)
{
	return registry_run(r, "COMMIT");
}

bool
registry_rollback(struct registry *r)
{
	return registry_run(r, "ROLLBACK");
}

bool
registry_read_begin(struct registry *r)
{
	return registry_run(r, "BEGIN DEFERRED");
}

bool
registry_read_end(struct registry *r)
{
	return registry_run(r, "COMMIT");
}

static void
registry_copy(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, len, "%s", s ? (const char *)s : "");
}

static void
registry_row_device(sqlite3_stmt *st, struct registry_device *d)
{
	memset(d, 0, sizeof(*d));
	registry_copy(d->account, sizeof(d->account), st, 0);
	registry_copy(d->type, sizeof(d->type), st, 1);
	registry_copy(d->hash, sizeof(d->hash), st, 2);
	registry_copy(d->token, sizeof(d->token), st, 3);
	char state[16];
	registry_copy(state, sizeof(state), st, 4);
	if (!registry_state_parse(state, &d->state))
		d->state = REGISTRY_PENDING;
	d->revoked_until = sqlite3_column_int64(st, 5);
	registry_copy(state, sizeof(state), st, 10);
	if (!registry_state_parse(state, &d->resume_state) ||
	    d->resume_state == REGISTRY_REVOKED)
		d->resume_state = REGISTRY_TRUSTED;
	d->first_seen = sqlite3_column_int64(st, 6);
	d->last_seen = sqlite3_column_int64(st, 7);
	registry_copy(d->last_addr, sizeof(d->last_addr), st, 8);
	d->count = sqlite3_column_int64(st, 9);
	d->added_ms = sqlite3_column_int64(st, 11);
}

#define REGISTRY_DEVICE_COLS                                                   \
	"account, type, hash, token, state, revoked_until, first_seen, "       \
	"last_seen, last_addr, count, resume_state, added_ms"

int
registry_device_get(struct registry *r, const char *account, const char *hash,
                    struct registry_device *out)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT " REGISTRY_DEVICE_COLS
	           " FROM devices WHERE account = ?1 AND hash = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = -1;
	if (rc == SQLITE_ROW) {
		registry_row_device(st, out);
		found = 1;
	} else if (rc == SQLITE_DONE) {
		found = 0;
	}
	registry_release(r, st);
	return found;
}

static void
registry_bind_device(sqlite3_stmt *st, const struct registry_device *d)
{
	sqlite3_bind_text(st, 1, d->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->hash, -1, SQLITE_STATIC);
	if (d->token[0] != '\0')
		sqlite3_bind_text(st, 4, d->token, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, registry_state_name(d->state), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, d->revoked_until);
	sqlite3_bind_int64(st, 7, d->first_seen);
	sqlite3_bind_int64(st, 8, d->last_seen);
	sqlite3_bind_text(st, 9, d->last_addr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, d->count);
	sqlite3_bind_text(st, 11, registry_state_name(d->resume_state), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, d->added_ms);
}

bool
registry_device_add(struct registry *r, const struct registry_device *d)
{
	/* never replaces: a device approved meanwhile stays approved */
	sqlite3_stmt *st = registry_prepare(
	        r,
	        "INSERT OR IGNORE INTO devices (" REGISTRY_DEVICE_COLS
	        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
	if (st == NULL)
		return false;
	registry_bind_device(st, d);
	bool ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(r->db) > 0;
	registry_release(r, st);
	return ok;
}

bool
registry_device_put(struct registry *r, const struct registry_device *d)
{
	sqlite3_stmt *st = registry_prepare(
	        r,
	        "INSERT OR REPLACE INTO devices (" REGISTRY_DEVICE_COLS
	        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
	if (st == NULL)
		return false;
	registry_bind_device(st, d);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	registry_release(r, st);
	return ok;
}

bool
registry_device_touch(struct registry *r, const char *account, const char *hash,
                      int64_t now, const char *addr)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "UPDATE devices SET count = count + 1, last_seen = ?3, "
	           "last_addr = ?4 WHERE account = ?1 AND hash = ?2");
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, addr, -1, SQLITE_STATIC);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	registry_release(r, st);
	return ok;
}

/* "abc" -> "abc%" for LIKE, refusing anything but hex digits. */
static bool
registry_prefix_pattern(const char *prefix, char *out, size_t outlen)
{
	size_t n = strlen(prefix);
	if (n == 0 || n > REGISTRY_HASH_LEN || n + 2 > outlen)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = prefix[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	snprintf(out, outlen, "%s%%", prefix);
	return true;
}

int
registry_device_find(struct registry *r, const char *account,
                     const char *prefix,
                     void (*fn)(const struct registry_device *d, void *arg),
                     void *arg)
{
	char pat[REGISTRY_HASH_LEN + 2] = "%";
	if (prefix != NULL &&
	    !registry_prefix_pattern(prefix, pat, sizeof(pat)))
		return 0;
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT " REGISTRY_DEVICE_COLS " FROM devices WHERE "
	           "account = ?1 AND hash LIKE ?2 ORDER BY first_seen, hash");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pat, -1, SQLITE_STATIC);
	int n = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct registry_device d;
		registry_row_device(st, &d);
		fn(&d, arg);
		n++;
	}
	registry_release(r, st);
	return rc == SQLITE_DONE ? n : -1;
}

static int
registry_exec_prefix(struct registry *r, const char *sql, const char *account,
                     const char *prefix, const char *state, int64_t until)
{
	char pat[REGISTRY_HASH_LEN + 2];
	if (!registry_prefix_pattern(prefix, pat, sizeof(pat)))
		return 0;
	sqlite3_stmt *st = registry_prepare(r, sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pat, -1, SQLITE_STATIC);
	if (state != NULL) {
		sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, until);
	}
	int rc = sqlite3_step(st);
	registry_release(r, st);
	return rc == SQLITE_DONE ? sqlite3_changes(r->db) : -1;
}

int
registry_device_set_state(struct registry *r, const char *account,
                          const char *prefix, enum registry_state state,
                          int64_t until)
{
	return registry_exec_prefix(
	        r,
	        /* a suspension remembers the state it interrupts */
	        "UPDATE devices SET resume_state = CASE WHEN state = 'revoked' "
	        "THEN resume_state ELSE state END, state = ?3, "
	        "revoked_until = ?4 "
	        "WHERE account = ?1 AND hash LIKE ?2",
	        account, prefix, registry_state_name(state), until);
}

int
registry_device_forget(struct registry *r, const char *account,
                       const char *prefix)
{
	return registry_exec_prefix(
	        r, "DELETE FROM devices WHERE account = ?1 AND hash LIKE ?2",
	        account, prefix, NULL, 0);
}

int
registry_trusted_count(struct registry *r, const char *account, int64_t now)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT COUNT(*) FROM devices WHERE account = ?1 AND "
	           "(state = 'trusted' OR (state = 'revoked' AND "
	           "revoked_until > 0 AND revoked_until <= ?2 AND "
	           "resume_state = 'trusted'))");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	registry_release(r, st);
	return n;
}

bool
registry_audit_add(struct registry *r, const struct registry_audit *a)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "INSERT INTO audit (time_ms, account, peer, type, fp, mech, "
	           "ok, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, a->time_ms);
	sqlite3_bind_text(st, 2, a->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->mech, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, a->ok);
	sqlite3_bind_text(st, 8, a->reason, -1, SQLITE_STATIC);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	registry_release(r, st);
	return ok;
}

int
registry_audit_list(struct registry *r, const char *account, int64_t since_ms,
                    size_t limit,
                    void (*fn)(const struct registry_audit *a, void *arg),
                    void *arg)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT time_ms, account, peer, type, fp, mech, ok, reason "
	           "FROM (SELECT * FROM audit WHERE (?1 IS NULL OR account = "
	           "?1) AND time_ms >= ?2 ORDER BY id DESC LIMIT ?3) "
	           "ORDER BY id");
	if (st == NULL)
		return -1;
	if (account != NULL)
		sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, since_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	int n = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct registry_audit a;
		memset(&a, 0, sizeof(a));
		a.time_ms = sqlite3_column_int64(st, 0);
		registry_copy(a.account, sizeof(a.account), st, 1);
		registry_copy(a.peer, sizeof(a.peer), st, 2);
		registry_copy(a.type, sizeof(a.type), st, 3);
		registry_copy(a.fp, sizeof(a.fp), st, 4);
		registry_copy(a.mech, sizeof(a.mech), st, 5);
		a.ok = sqlite3_column_int(st, 6) != 0;
		registry_copy(a.reason, sizeof(a.reason), st, 7);
		fn(&a, arg);
		n++;
	}
	registry_release(r, st);
	return rc == SQLITE_DONE ? n : -1;
}

int
registry_account_get(struct registry *r, const char *account,
                     struct registry_account *out)
{
	out->mode[0] = '\0';
	out->require_clientid = -1;
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT mode, require_clientid FROM accounts WHERE "
	           "account = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = -1;
	if (rc == SQLITE_ROW) {
		registry_copy(out->mode, sizeof(out->mode), st, 0);
		out->require_clientid = sqlite3_column_int(st, 1);
		found = 1;
	} else if (rc == SQLITE_DONE) {
		found = 0;
	}
	registry_release(r, st);
	return found;
}

bool
registry_account_set(struct registry *r, const char *account,
                     const struct registry_account *a)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "INSERT OR REPLACE INTO accounts (account, mode, "
	           "require_clientid) VALUES (?1, ?2, ?3)");
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->mode, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, a->require_clientid);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	registry_release(r, st);
	return ok;
}

int
registry_account_list(struct registry *r,
                      void (*fn)(const char *account,
                                 const struct registry_account *a, void *arg),
                      void *arg)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "SELECT account, mode, require_clientid FROM accounts "
	           "ORDER BY account");
	if (st == NULL)
		return -1;
	int n = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char account[REGISTRY_ACCOUNT_MAX + 1];
		struct registry_account a;
		registry_copy(account, sizeof(account), st, 0);
		registry_copy(a.mode, sizeof(a.mode), st, 1);
		a.require_clientid = sqlite3_column_int(st, 2);
		fn(account, &a, arg);
		n++;
	}
	registry_release(r, st);
	return rc == SQLITE_DONE ? n : -1;
}

int
registry_pending_trim(struct registry *r, const char *account, unsigned keep)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "DELETE FROM devices WHERE account = ?1 AND hash IN "
	           "(SELECT hash FROM devices WHERE account = ?1 AND "
	           "state = 'pending' ORDER BY last_seen DESC, added_ms DESC "
	           "LIMIT -1 OFFSET ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, keep);
	int rc = sqlite3_step(st);
	registry_release(r, st);
	return rc == SQLITE_DONE ? sqlite3_changes(r->db) : -1;
}

long
registry_prune_audit(struct registry *r, int64_t before_ms, int64_t max_rows,
                     long chunk)
{
	/* Row ids grow with time, so "older than" is "below the first id that
	 * is not": found by walking up from the oldest row, which visits only
	 * rows about to go (no index on time needed). */
	sqlite3_stmt *st = registry_prepare(
	        r,
	        "DELETE FROM audit WHERE id < min("
	        " (SELECT min(id) FROM audit) + ?3,"
	        " max(coalesce((SELECT id FROM audit WHERE time_ms >= ?1"
	        "  ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM audit), 0),"
	        "  CASE WHEN ?2 > 0 THEN (SELECT max(id) FROM audit) - ?2 + 1"
	        "  ELSE 0 END))");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int64(st, 2, max_rows);
	sqlite3_bind_int64(st, 3, chunk);
	int rc = sqlite3_step(st);
	registry_release(r, st);
	return rc == SQLITE_DONE ? (long)sqlite3_changes(r->db) : -1;
}

long
registry_prune_pending(struct registry *r, int64_t before_s, long chunk)
{
	sqlite3_stmt *st = registry_prepare(
	        r, "DELETE FROM devices WHERE (account, hash) IN (SELECT "
	           "account, hash FROM devices WHERE state = 'pending' AND "
	           "last_seen < ?1 LIMIT ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_s);
	sqlite3_bind_int64(st, 2, chunk);
	int rc = sqlite3_step(st);
	registry_release(r, st);
	return rc == SQLITE_DONE ? (long)sqlite3_changes(r->db) : -1;
}
