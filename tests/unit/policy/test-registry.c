/*
 * The device registry and audit log (SQLite in WAL mode, apart from the
 * password file): CID-PRV-1 (keyed hashes, clear tokens only on request),
 * CID-PRV-2 (fingerprints), CID-POL-4 (known, pending and revoked devices;
 * suspensions), CID-POL-3 (per-account overrides). Each test opens a fresh
 * database under its own mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include <cmocka.h>

#include "clientid/clientid.h"
#include "registry/registry.h"

#define NOW 1700000000 /* unix seconds */

struct fx {
	char dir[64];
	char path[128];
	struct registry *r;
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/imapcid-registry-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	char err[256] = "";
	f->r = registry_open(f->path, err, sizeof(err));
	if (f->r == NULL) {
		fprintf(stderr, "registry_open: %s\n", err);
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char p[160];
	registry_close(f->r);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A raw SQLite handle on the same file, to look behind the API. */
static sqlite3 *
raw_open(const struct fx *f)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static long long
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
raw_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *s = sqlite3_column_text(st, 0);
	snprintf(out, len, "%s", s ? (const char *)s : "(null)");
	sqlite3_finalize(st);
}

static void
raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* A 64-hex-digit hash made of a repeated digit and a distinct tail. */
static void
fake_hash(char out[REGISTRY_HASH_LEN + 1], char fill, const char *tail)
{
	memset(out, fill, REGISTRY_HASH_LEN);
	out[REGISTRY_HASH_LEN] = '\0';
	memcpy(out + REGISTRY_HASH_LEN - strlen(tail), tail, strlen(tail));
}

static struct registry_device
device(const char *account, const char *hash, enum registry_state s,
       int64_t first_seen)
{
	struct registry_device d;
	memset(&d, 0, sizeof(d));
	snprintf(d.account, sizeof(d.account), "%s", account);
	snprintf(d.type, sizeof(d.type), "UUID");
	snprintf(d.hash, sizeof(d.hash), "%s", hash);
	d.state = s;
	d.first_seen = first_seen;
	d.last_seen = first_seen;
	snprintf(d.last_addr, sizeof(d.last_addr), "192.0.2.1");
	d.count = 1;
	return d;
}

static void
put(struct registry *r, const struct registry_device *d)
{
	assert_true(registry_device_put(r, d));
}

/* Collects what registry_device_find reports. */
struct found {
	int n;
	char hash[8][REGISTRY_HASH_LEN + 1];
	char account[8][REGISTRY_ACCOUNT_MAX + 1];
};

static void
collect(const struct registry_device *d, void *arg)
{
	struct found *fo = arg;
	if (fo->n < 8) {
		memcpy(fo->hash[fo->n], d->hash, sizeof(fo->hash[0]));
		snprintf(fo->account[fo->n], sizeof(fo->account[0]), "%s",
		         d->account);
	}
	fo->n++;
}

static int
find(struct registry *r, const char *account, const char *prefix,
     struct found *fo)
{
	memset(fo, 0, sizeof(*fo));
	int n = registry_device_find(r, account, prefix, collect, fo);
	if (n >= 0)
		assert_int_equal(n, fo->n);
	return n;
}

/* CID-PRV-1: the registry is its own SQLite file, in WAL mode, with its
 * schema; reopening keeps the data. */
static void
prv1_open_wal_schema(void **state)
{
	struct fx *f = *state;
	assert_int_equal(access(f->path, F_OK), 0);
	sqlite3 *db = raw_open(f);
	char mode[16];
	raw_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	char v[16];
	raw_text(db, "SELECT value FROM meta WHERE key = 'schema'", v,
	         sizeof(v));
	assert_string_equal(v, "1");
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master "
	                             "WHERE type = 'table' AND name IN "
	                             "('devices', 'audit', 'accounts')"),
	                 3);
	sqlite3_close(db);

	char h[REGISTRY_HASH_LEN + 1];
	fake_hash(h, 'a', "01");
	struct registry_device d = device("joe", h, REGISTRY_TRUSTED, NOW);
	put(f->r, &d);
	registry_close(f->r);
	char err[256] = "";
	f->r = registry_open(f->path, err, sizeof(err));
	assert_non_null(f->r);
	struct registry_device got;
	assert_int_equal(registry_device_get(f->r, "joe", h, &got), 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);
	/* a second open does not duplicate the schema row */
	db = raw_open(f);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM meta"), 1);
	sqlite3_close(db);
}

/* A path that cannot be opened: NULL and a message naming it. */
static void
prv1_open_error(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	char path[160];
	snprintf(path, sizeof(path), "%s/no/such/dir/r.db", f->dir);
	assert_null(registry_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	/* the directory itself is not a database */
	err[0] = '\0';
	assert_null(registry_open(f->dir, err, sizeof(err)));
	assert_true(err[0] != '\0');
	registry_close(NULL);
}

/* Put and get round-trip every field; a missing device is 0. */
static void
pol4_device_put_get(void **state)
{
	struct fx *f = *state;
	char h[REGISTRY_HASH_LEN + 1], h2[REGISTRY_HASH_LEN + 1];
	fake_hash(h, '1', "abc");
	fake_hash(h2, '2', "abc");
	struct registry_device d =
	        device("joe@example.org", h, REGISTRY_REVOKED, NOW - 100);
	snprintf(d.type, sizeof(d.type), "ACME-LICENSE");
	d.revoked_until = NOW + 3600;
	d.last_seen = NOW - 5;
	snprintf(d.last_addr, sizeof(d.last_addr), "2001:db8::7");
	d.count = 42;
	put(f->r, &d);

	struct registry_device got;
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(registry_device_get(f->r, "joe@example.org", h, &got),
	                 1);
	assert_string_equal(got.account, "joe@example.org");
	assert_string_equal(got.type, "ACME-LICENSE");
	assert_string_equal(got.hash, h);
	assert_string_equal(got.token, "");
	assert_int_equal(got.state, REGISTRY_REVOKED);
	assert_int_equal(got.revoked_until, NOW + 3600);
	assert_int_equal(got.first_seen, NOW - 100);
	assert_int_equal(got.last_seen, NOW - 5);
	assert_string_equal(got.last_addr, "2001:db8::7");
	assert_int_equal(got.count, 42);

	/* missing: another hash, another account */
	assert_int_equal(registry_device_get(f->r, "joe@example.org", h2, &got),
	                 0);
	assert_int_equal(registry_device_get(f->r, "ann", h, &got), 0);

	/* put replaces the whole row */
	d.state = REGISTRY_TRUSTED;
	d.revoked_until = 0;
	d.count = 43;
	put(f->r, &d);
	assert_int_equal(registry_device_get(f->r, "joe@example.org", h, &got),
	                 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);
	assert_int_equal(got.revoked_until, 0);
	assert_int_equal(got.count, 43);
	struct found fo;
	assert_int_equal(find(f->r, "joe@example.org", NULL, &fo), 1);

	/* the same device under two accounts: two rows */
	struct registry_device d2 = device("ann", h, REGISTRY_PENDING, NOW);
	put(f->r, &d2);
	assert_int_equal(registry_device_get(f->r, "ann", h, &got), 1);
	assert_int_equal(got.state, REGISTRY_PENDING);
	assert_int_equal(registry_device_get(f->r, "joe@example.org", h, &got),
	                 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);

	/* a state the code does not know reads as pending */
	sqlite3 *db = raw_open(f);
	raw_exec(db,
	         "UPDATE devices SET state = 'weird' WHERE account = 'ann'");
	sqlite3_close(db);
	assert_int_equal(registry_device_get(f->r, "ann", h, &got), 1);
	assert_int_equal(got.state, REGISTRY_PENDING);
}

/* CID-PRV-1: the token is stored only as the keyed hash, the clear token
 * only when the caller asks for it (debug storage). */
static void
prv1_tokens_hashed(void **state)
{
	struct fx *f = *state;
	static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";
	struct cid_identity id = {"UUID",
	                          "3c2e9e6a-5b1f-4d8e-9f2a-7c1b0d4e6f81"};
	char h[CID_HASH_LEN + 1], fp[CID_FINGERPRINT_LEN + 1];
	cid_hash(secret, sizeof(secret) - 1, &id, h);
	cid_fingerprint(secret, sizeof(secret) - 1, &id, fp);
	assert_int_equal(strlen(h), 64);
	assert_int_equal(strlen(fp), 16);
	assert_memory_equal(fp, h, 16); /* CID-PRV-2: first 16 hex digits */
	assert_null(strstr(h, "3c2e9e6a"));

	struct registry_device d = device("joe", h, REGISTRY_TRUSTED, NOW);
	put(f->r, &d);
	sqlite3 *db = raw_open(f);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices WHERE "
	                             "token IS NOT NULL"),
	                 0);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices WHERE "
	                             "hash LIKE '%3c2e9e6a%'"),
	                 0);

	/* debug storage: the clear token is kept and read back */
	struct cid_identity id2 = {"UUID", "debug-token-1"};
	char h2[CID_HASH_LEN + 1];
	cid_hash(secret, sizeof(secret) - 1, &id2, h2);
	struct registry_device d2 = device("joe", h2, REGISTRY_PENDING, NOW);
	snprintf(d2.token, sizeof(d2.token), "%s", id2.token);
	put(f->r, &d2);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices WHERE "
	                             "token = 'debug-token-1'"),
	                 1);
	sqlite3_close(db);
	struct registry_device got;
	assert_int_equal(registry_device_get(f->r, "joe", h2, &got), 1);
	assert_string_equal(got.token, "debug-token-1");
	assert_int_equal(registry_device_get(f->r, "joe", h, &got), 1);
	assert_string_equal(got.token, "");
}

/* A login from a known device bumps count, last seen and address only. */
static void
pol4_device_touch(void **state)
{
	struct fx *f = *state;
	char h[REGISTRY_HASH_LEN + 1];
	fake_hash(h, 'c', "1");
	struct registry_device d = device("joe", h, REGISTRY_PENDING, NOW);
	d.count = 5;
	put(f->r, &d);
	assert_true(registry_device_touch(f->r, "joe", h, NOW + 60,
	                                  "198.51.100.9"));
	assert_true(registry_device_touch(f->r, "joe", h, NOW + 120,
	                                  "198.51.100.10"));
	struct registry_device got;
	assert_int_equal(registry_device_get(f->r, "joe", h, &got), 1);
	assert_int_equal(got.count, 7);
	assert_int_equal(got.last_seen, NOW + 120);
	assert_string_equal(got.last_addr, "198.51.100.10");
	assert_int_equal(got.first_seen, NOW);
	assert_int_equal(got.state, REGISTRY_PENDING);
	assert_string_equal(got.type, "UUID");

	/* touching an unknown device creates nothing */
	char h2[REGISTRY_HASH_LEN + 1];
	fake_hash(h2, 'd', "1");
	registry_device_touch(f->r, "joe", h2, NOW, "192.0.2.1");
	registry_device_touch(f->r, "ann", h, NOW, "192.0.2.1");
	assert_int_equal(registry_device_get(f->r, "joe", h2, &got), 0);
	assert_int_equal(registry_device_get(f->r, "ann", h, &got), 0);
	/* and another account's row of the same device is untouched */
	struct registry_device d3 = device("ann", h, REGISTRY_TRUSTED, NOW);
	put(f->r, &d3);
	assert_true(registry_device_touch(f->r, "joe", h, NOW + 180, "x"));
	assert_int_equal(registry_device_get(f->r, "ann", h, &got), 1);
	assert_int_equal(got.count, 1);
	assert_int_equal(got.last_seen, NOW);
}

/* CID-PRV-2: devices are found by a prefix of their hash, such as the
 * fingerprint operators see; only lower-case hex is a prefix. */
static void
prv2_device_find_by_fingerprint(void **state)
{
	struct fx *f = *state;
	static const uint8_t secret[] = "another secret of the server";
	struct cid_identity a = {"UUID", "device-a"}, b = {"UUID", "device-b"};
	char ha[CID_HASH_LEN + 1], hb[CID_HASH_LEN + 1];
	char fpa[CID_FINGERPRINT_LEN + 1];
	cid_hash(secret, sizeof(secret) - 1, &a, ha);
	cid_hash(secret, sizeof(secret) - 1, &b, hb);
	cid_fingerprint(secret, sizeof(secret) - 1, &a, fpa);
	assert_memory_equal(fpa, ha, CID_FINGERPRINT_LEN);

	struct registry_device da = device("joe", ha, REGISTRY_TRUSTED, NOW);
	struct registry_device db =
	        device("joe", hb, REGISTRY_PENDING, NOW - 10); /* seen first */
	struct registry_device dc = device("ann", ha, REGISTRY_TRUSTED, NOW);
	put(f->r, &da);
	put(f->r, &db);
	put(f->r, &dc);

	struct found fo;
	assert_int_equal(find(f->r, "joe", fpa, &fo), 1);
	assert_string_equal(fo.hash[0], ha);
	assert_string_equal(fo.account[0], "joe");
	assert_int_equal(find(f->r, "ann", fpa, &fo), 1);
	assert_string_equal(fo.account[0], "ann");
	/* the full hash is a prefix too */
	assert_int_equal(find(f->r, "joe", hb, &fo), 1);
	assert_string_equal(fo.hash[0], hb);
	/* no prefix: every device of the account, oldest first */
	assert_int_equal(find(f->r, "joe", NULL, &fo), 2);
	assert_string_equal(fo.hash[0], hb);
	assert_string_equal(fo.hash[1], ha);
	assert_int_equal(find(f->r, "nobody", NULL, &fo), 0);

	/* not a hex prefix: nothing, no SQL wildcard gets through */
	assert_int_equal(find(f->r, "joe", "", &fo), 0);
	assert_int_equal(find(f->r, "joe", "%", &fo), 0);
	assert_int_equal(find(f->r, "joe", "_", &fo), 0);
	assert_int_equal(find(f->r, "joe", "zz", &fo), 0);
	char longer[REGISTRY_HASH_LEN + 2];
	snprintf(longer, sizeof(longer), "%s0", ha);
	assert_int_equal(find(f->r, "joe", longer, &fo), 0);
	/* a prefix that matches no device */
	char miss[CID_FINGERPRINT_LEN + 1];
	memcpy(miss, fpa, sizeof(miss));
	miss[0] = miss[0] == '0' ? '1' : '0';
	if (strncmp(miss, hb, CID_FINGERPRINT_LEN) != 0)
		assert_int_equal(find(f->r, "joe", miss, &fo), 0);
}

/* CID-POL-4: revoke, suspend, approve and forget by prefix; the number of
 * rows changed is returned; other accounts are untouched. */
static void
pol4_device_set_state_and_forget(void **state)
{
	struct fx *f = *state;
	char h1[REGISTRY_HASH_LEN + 1], h2[REGISTRY_HASH_LEN + 1],
	        h3[REGISTRY_HASH_LEN + 1];
	fake_hash(h1, 'a', "b1");
	fake_hash(h2, 'a', "b2");
	fake_hash(h3, 'e', "b3");
	struct registry_device d1 = device("joe", h1, REGISTRY_TRUSTED, NOW);
	struct registry_device d2 = device("joe", h2, REGISTRY_PENDING, NOW);
	struct registry_device d3 = device("joe", h3, REGISTRY_TRUSTED, NOW);
	struct registry_device d4 = device("ann", h1, REGISTRY_TRUSTED, NOW);
	put(f->r, &d1);
	put(f->r, &d2);
	put(f->r, &d3);
	put(f->r, &d4);

	struct registry_device got;
	/* approve one pending device by its full hash */
	assert_int_equal(
	        registry_device_set_state(f->r, "joe", h2, REGISTRY_TRUSTED, 0),
	        1);
	assert_int_equal(registry_device_get(f->r, "joe", h2, &got), 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);
	/* suspend one until a time */
	assert_int_equal(registry_device_set_state(f->r, "joe", "eeee",
	                                           REGISTRY_REVOKED, NOW + 60),
	                 1);
	assert_int_equal(registry_device_get(f->r, "joe", h3, &got), 1);
	assert_int_equal(got.state, REGISTRY_REVOKED);
	assert_int_equal(got.revoked_until, NOW + 60);
	assert_int_equal(got.count, 1); /* the rest of the row is kept */
	/* a prefix shared by two devices changes both */
	assert_int_equal(registry_device_set_state(f->r, "joe", "aaaa",
	                                           REGISTRY_REVOKED, 0),
	                 2);
	assert_int_equal(registry_device_get(f->r, "joe", h1, &got), 1);
	assert_int_equal(got.state, REGISTRY_REVOKED);
	assert_int_equal(got.revoked_until, 0);
	assert_int_equal(registry_device_get(f->r, "ann", h1, &got), 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);
	/* a piece of the hash that is not its start matches nothing */
	struct found fo;
	assert_int_equal(find(f->r, "joe", "b1", &fo), 0);
	assert_int_equal(registry_device_set_state(f->r, "joe", "ab1",
	                                           REGISTRY_TRUSTED, 0),
	                 0);
	/* nothing matches, or not a prefix */
	assert_int_equal(registry_device_set_state(f->r, "joe", "0123",
	                                           REGISTRY_TRUSTED, 0),
	                 0);
	assert_int_equal(registry_device_set_state(f->r, "joe", "%",
	                                           REGISTRY_TRUSTED, 0),
	                 0);
	assert_int_equal(
	        registry_device_set_state(f->r, "joe", "", REGISTRY_TRUSTED, 0),
	        0);
	assert_int_equal(registry_device_get(f->r, "joe", h1, &got), 1);
	assert_int_equal(got.state, REGISTRY_REVOKED);
	/* reinstating clears the end time */
	assert_int_equal(registry_device_set_state(f->r, "joe", "eee",
	                                           REGISTRY_TRUSTED, 0),
	                 1);
	assert_int_equal(registry_device_get(f->r, "joe", h3, &got), 1);
	assert_int_equal(got.state, REGISTRY_TRUSTED);
	assert_int_equal(got.revoked_until, 0);

	/* forget */
	assert_int_equal(registry_device_forget(f->r, "joe", "_"), 0);
	assert_int_equal(registry_device_forget(f->r, "joe", "aaaa"), 2);
	assert_int_equal(registry_device_get(f->r, "joe", h1, &got), 0);
	assert_int_equal(registry_device_get(f->r, "joe", h2, &got), 0);
	assert_int_equal(registry_device_get(f->r, "joe", h3, &got), 1);
	assert_int_equal(registry_device_get(f->r, "ann", h1, &got), 1);
	assert_int_equal(registry_device_forget(f->r, "joe", "aaaa"), 0);
	assert_int_equal(registry_device_forget(f->r, "joe", "eb3"), 0);
	assert_int_equal(registry_device_forget(f->r, "joe", h3), 1);
	assert_int_equal(find(f->r, "joe", NULL, &fo), 0);
	assert_int_equal(find(f->r, "ann", NULL, &fo), 1);
}

/* CID-POL-4: the trusted count (learn's limit) includes suspensions that
 * have ended, and nothing else that is not trusted. */
static void
pol4_trusted_count(void **state)
{
	struct fx *f = *state;
	struct {
		char fill;
		enum registry_state s;
		int64_t until;
	} rows[] = {
	        {'1', REGISTRY_TRUSTED, 0},
	        {'2', REGISTRY_TRUSTED, 0},
	        {'3', REGISTRY_PENDING, 0},
	        {'4', REGISTRY_REVOKED, 0},          /* permanent */
	        {'5', REGISTRY_REVOKED, NOW - 1},    /* ended */
	        {'6', REGISTRY_REVOKED, NOW},        /* ends now */
	        {'7', REGISTRY_REVOKED, NOW + 3600}, /* still suspended */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char h[REGISTRY_HASH_LEN + 1];
		fake_hash(h, rows[i].fill, "0");
		struct registry_device d = device("joe", h, rows[i].s, NOW);
		d.revoked_until = rows[i].until;
		put(f->r, &d);
	}
	char h[REGISTRY_HASH_LEN + 1];
	fake_hash(h, '9', "0");
	struct registry_device other = device("ann", h, REGISTRY_TRUSTED, NOW);
	put(f->r, &other);

	assert_int_equal(registry_trusted_count(f->r, "joe", NOW - 2), 2);
	assert_int_equal(registry_trusted_count(f->r, "joe", NOW - 1), 3);
	assert_int_equal(registry_trusted_count(f->r, "joe", NOW), 4);
	assert_int_equal(registry_trusted_count(f->r, "joe", NOW + 3600), 5);
	assert_int_equal(registry_trusted_count(f->r, "ann", NOW), 1);
	assert_int_equal(registry_trusted_count(f->r, "nobody", NOW), 0);
}

struct audit_rows {
	int n;
	struct registry_audit a[8];
};

static void
collect_audit(const struct registry_audit *a, void *arg)
{
	struct audit_rows *rows = arg;
	if (rows->n < 8)
		rows->a[rows->n] = *a;
	rows->n++;
}

static int
audit_list(struct registry *r, const char *account, int64_t since, size_t limit,
           struct audit_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	int n = registry_audit_list(r, account, since, limit, collect_audit,
	                            rows);
	if (n >= 0)
		assert_int_equal(n, rows->n);
	return n;
}

static void
audit_add(struct registry *r, int64_t t, const char *account, bool ok,
          const char *reason)
{
	struct registry_audit a;
	memset(&a, 0, sizeof(a));
	a.time_ms = t;
	snprintf(a.account, sizeof(a.account), "%s", account);
	snprintf(a.peer, sizeof(a.peer), "192.0.2.%d", (int)(t / 1000));
	snprintf(a.type, sizeof(a.type), "UUID");
	snprintf(a.fp, sizeof(a.fp), "0123456789abcdef");
	snprintf(a.mech, sizeof(a.mech), "PLAIN");
	a.ok = ok;
	snprintf(a.reason, sizeof(a.reason), "%s", reason);
	assert_true(registry_audit_add(r, &a));
}

/* The audit trail: every attempt, filtered by account and time, the newest
 * `limit` rows in the order they happened. */
static void
pol5_audit_add_list(void **state)
{
	struct fx *f = *state;
	audit_add(f->r, 1000, "joe", true, "ok");
	audit_add(f->r, 2000, "ann", false, "wrong password");
	audit_add(f->r, 3000, "joe", false, "unknown device");
	audit_add(f->r, 4000, "joe", true, "observe: would refuse: x");
	audit_add(f->r, 5000, "ann", true, "ok");
	/* a row without a client id */
	struct registry_audit plain;
	memset(&plain, 0, sizeof(plain));
	plain.time_ms = 6000;
	snprintf(plain.account, sizeof(plain.account), "bob");
	snprintf(plain.peer, sizeof(plain.peer), "2001:db8::1");
	snprintf(plain.mech, sizeof(plain.mech), "LOGIN");
	snprintf(plain.reason, sizeof(plain.reason), "rate limited");
	assert_true(registry_audit_add(f->r, &plain));

	struct audit_rows rows;
	assert_int_equal(audit_list(f->r, NULL, 0, 100, &rows), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rows.a[i].time_ms, 1000 * (i + 1));
	/* every field round-trips */
	assert_string_equal(rows.a[2].account, "joe");
	assert_string_equal(rows.a[2].peer, "192.0.2.3");
	assert_string_equal(rows.a[2].type, "UUID");
	assert_string_equal(rows.a[2].fp, "0123456789abcdef");
	assert_string_equal(rows.a[2].mech, "PLAIN");
	assert_false(rows.a[2].ok);
	assert_string_equal(rows.a[2].reason, "unknown device");
	assert_true(rows.a[3].ok);
	assert_string_equal(rows.a[3].reason, "observe: would refuse: x");
	assert_string_equal(rows.a[5].account, "bob");
	assert_string_equal(rows.a[5].peer, "2001:db8::1");
	assert_string_equal(rows.a[5].type, "");
	assert_string_equal(rows.a[5].fp, "");
	assert_string_equal(rows.a[5].mech, "LOGIN");
	assert_false(rows.a[5].ok);

	/* by account */
	assert_int_equal(audit_list(f->r, "joe", 0, 100, &rows), 3);
	assert_int_equal(rows.a[0].time_ms, 1000);
	assert_int_equal(rows.a[1].time_ms, 3000);
	assert_int_equal(rows.a[2].time_ms, 4000);
	assert_int_equal(audit_list(f->r, "ann", 0, 100, &rows), 2);
	assert_string_equal(rows.a[0].account, "ann");
	assert_string_equal(rows.a[1].account, "ann");
	assert_int_equal(audit_list(f->r, "nobody", 0, 100, &rows), 0);
	/* since (inclusive) */
	assert_int_equal(audit_list(f->r, "joe", 3000, 100, &rows), 2);
	assert_int_equal(rows.a[0].time_ms, 3000);
	assert_int_equal(audit_list(f->r, NULL, 4001, 100, &rows), 2);
	assert_int_equal(rows.a[0].time_ms, 5000);
	assert_int_equal(audit_list(f->r, NULL, 7000, 100, &rows), 0);
	/* limit: the newest rows, oldest first */
	assert_int_equal(audit_list(f->r, NULL, 0, 2, &rows), 2);
	assert_int_equal(rows.a[0].time_ms, 5000);
	assert_int_equal(rows.a[1].time_ms, 6000);
	assert_int_equal(audit_list(f->r, "joe", 0, 1, &rows), 1);
	assert_int_equal(rows.a[0].time_ms, 4000);
	assert_int_equal(audit_list(f->r, "joe", 1000, 2, &rows), 2);
	assert_int_equal(rows.a[0].time_ms, 3000);
	assert_int_equal(rows.a[1].time_ms, 4000);
}

struct account_rows {
	int n;
	char account[4][32];
	struct registry_account a[4];
};

static void
collect_account(const char *account, const struct registry_account *a,
                void *arg)
{
	struct account_rows *rows = arg;
	if (rows->n < 4) {
		snprintf(rows->account[rows->n], sizeof(rows->account[0]), "%s",
		         account);
		rows->a[rows->n] = *a;
	}
	rows->n++;
}

/* CID-POL-3: per-account overrides of the mode and require_clientid. */
static void
pol3_account_overrides(void **state)
{
	struct fx *f = *state;
	struct registry_account a;
	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(registry_account_get(f->r, "joe", &a), 0);
	assert_string_equal(a.mode, "");
	assert_int_equal(a.require_clientid, -1);

	struct registry_account set = {"enforce", 1};
	assert_true(registry_account_set(f->r, "joe", &set));
	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(registry_account_get(f->r, "joe", &a), 1);
	assert_string_equal(a.mode, "enforce");
	assert_int_equal(a.require_clientid, 1);

	/* replaced, not merged */
	struct registry_account set2 = {"", 0};
	assert_true(registry_account_set(f->r, "joe", &set2));
	assert_int_equal(registry_account_get(f->r, "joe", &a), 1);
	assert_string_equal(a.mode, "");
	assert_int_equal(a.require_clientid, 0);

	struct registry_account set3 = {"observe", -1};
	assert_true(registry_account_set(f->r, "ann", &set3));
	assert_int_equal(registry_account_get(f->r, "ann", &a), 1);
	assert_string_equal(a.mode, "observe");
	assert_int_equal(a.require_clientid, -1);
	assert_int_equal(registry_account_get(f->r, "bob", &a), 0);

	struct account_rows rows;
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(registry_account_list(f->r, collect_account, &rows),
	                 2);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.account[0], "ann");
	assert_string_equal(rows.a[0].mode, "observe");
	assert_int_equal(rows.a[0].require_clientid, -1);
	assert_string_equal(rows.account[1], "joe");
	assert_string_equal(rows.a[1].mode, "");
	assert_int_equal(rows.a[1].require_clientid, 0);
}

/* State names as the admin tool and the database spell them. */
static void
pol4_state_names(void **state)
{
	(void)state;
	static const char *const names[] = {"trusted", "pending", "revoked"};
	static const enum registry_state states[] = {
	        REGISTRY_TRUSTED, REGISTRY_PENDING, REGISTRY_REVOKED};
	for (int i = 0; i < 3; i++) {
		enum registry_state s = (enum registry_state)99;
		assert_string_equal(registry_state_name(states[i]), names[i]);
		assert_true(registry_state_parse(names[i], &s));
		assert_int_equal(s, states[i]);
	}
	enum registry_state s = REGISTRY_PENDING;
	assert_false(registry_state_parse("unknown", &s));
	assert_false(registry_state_parse("", &s));
	assert_false(registry_state_parse("trusted ", &s));
	assert_int_equal(s, REGISTRY_PENDING);
}

/* WAL: a reader in the middle of a transaction neither blocks the writer
 * nor sees its write until it starts a new one; another handle sees it at
 * once (each thread has its own handle). */
static void
prv1_wal_readers_do_not_block_writer(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = raw_open(f);
	sqlite3_busy_timeout(db, 0);
	raw_exec(db, "BEGIN");
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices"), 0);

	char h[REGISTRY_HASH_LEN + 1];
	fake_hash(h, 'f', "1");
	struct registry_device d = device("joe", h, REGISTRY_TRUSTED, NOW);
	assert_true(registry_device_put(f->r, &d));
	audit_add(f->r, 1000, "joe", true, "ok");

	/* the reader's snapshot is unchanged */
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices"), 0);
	raw_exec(db, "COMMIT");
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices"), 1);
	sqlite3_close(db);

	char err[256] = "";
	struct registry *r2 = registry_open(f->path, err, sizeof(err));
	assert_non_null(r2);
	struct registry_device got;
	assert_int_equal(registry_device_get(r2, "joe", h, &got), 1);
	assert_true(registry_device_touch(r2, "joe", h, NOW + 1, "x"));
	assert_int_equal(registry_device_get(f->r, "joe", h, &got), 1);
	assert_int_equal(got.count, 2);
	registry_close(r2);
}

/* Retention: audit rows older than a time or beyond a count go, oldest
 * first, a chunk at a time; rows are never touched otherwise. */
static void
pol7_prune_audit(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 100; i++)
		audit_add(f->r, 1000 + i, "joe", false, "wrong password");
	sqlite3 *db = raw_open(f);
	/* older than 1030: 30 rows, in chunks of 7 */
	long n, total = 0;
	while ((n = registry_prune_audit(f->r, 1030, 0, 7)) > 0)
		total += n;
	assert_int_equal(n, 0);
	assert_int_equal(total, 30);
	assert_int_equal(raw_int(db, "SELECT MIN(time_ms) FROM audit"), 1030);
	/* at most 20 rows: the newest 20 stay */
	assert_int_equal(registry_prune_audit(f->r, INT64_MIN, 20, 1000), 50);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM audit"), 20);
	assert_int_equal(raw_int(db, "SELECT MIN(time_ms) FROM audit"), 1080);
	/* nothing older than the oldest: nothing goes */
	assert_int_equal(registry_prune_audit(f->r, 1000, 0, 1000), 0);
	/* everything older than the future goes, and the table still works */
	assert_int_equal(registry_prune_audit(f->r, 99999, 0, 1000), 20);
	assert_int_equal(registry_prune_audit(f->r, 99999, 0, 1000), 0);
	audit_add(f->r, 5, "joe", true, "ok");
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM audit"), 1);
	sqlite3_close(db);
}

/* Pending devices: not seen since a time go; an account keeps at most N,
 * the most recently seen (then the most recently added). Other states are
 * never removed by retention. */
static void
pol7_prune_pending(void **state)
{
	struct fx *f = *state;
	char h[REGISTRY_HASH_LEN + 1];
	for (int i = 0; i < 6; i++) {
		char tail[4];
		snprintf(tail, sizeof(tail), "%d", i);
		fake_hash(h, 'a', tail);
		struct registry_device d =
		        device("joe", h, REGISTRY_PENDING, NOW + i / 2);
		d.added_ms = (int64_t)(NOW + i) * 1000;
		put(f->r, &d);
	}
	fake_hash(h, 'b', "0");
	struct registry_device t = device("joe", h, REGISTRY_TRUSTED, NOW - 99);
	put(f->r, &t);
	fake_hash(h, 'c', "0");
	struct registry_device other = device("ann", h, REGISTRY_PENDING, NOW);
	put(f->r, &other);
	sqlite3 *db = raw_open(f);
	/* keep joe's newest 2 pending: the two seen last (i = 4, 5) */
	assert_int_equal(registry_pending_trim(f->r, "joe", 2), 4);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices WHERE "
	                             "account = 'joe' AND state = 'pending'"),
	                 2);
	assert_int_equal(raw_int(db, "SELECT MIN(added_ms) FROM devices WHERE "
	                             "account = 'joe' AND state = 'pending'"),
	                 (int64_t)(NOW + 4) * 1000);
	/* not seen since NOW + 1: ann's goes, joe's stay, trusted stays */
	assert_int_equal(registry_prune_pending(f->r, NOW + 1, 1000), 1);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices"), 3);
	assert_int_equal(registry_prune_pending(f->r, NOW + 100, 1), 1);
	assert_int_equal(registry_prune_pending(f->r, NOW + 100, 1), 1);
	assert_int_equal(registry_prune_pending(f->r, NOW + 100, 1), 0);
	assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM devices"), 1);
	sqlite3_close(db);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	        T(prv1_open_wal_schema),
	        T(prv1_open_error),
	        T(pol4_device_put_get),
	        T(prv1_tokens_hashed),
	        T(pol4_device_touch),
	        T(prv2_device_find_by_fingerprint),
	        T(pol4_device_set_state_and_forget),
	        T(pol4_trusted_count),
	        T(pol5_audit_add_list),
	        T(pol3_account_overrides),
	        cmocka_unit_test(pol4_state_names),
	        T(prv1_wal_readers_do_not_block_writer),
	        T(pol7_prune_audit),
	        T(pol7_prune_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
