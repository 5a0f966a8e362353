/*
 * The device registry and audit log: a SQLite database in WAL mode, in its
 * own file, apart from the password file (CID-PRV-1). Tokens are stored as
 * keyed hashes; the clear token only when an operator turns on debug
 * storage. Each thread opens its own handle: SQLite handles are not shared.
 */
#ifndef IMAPCID_REGISTRY_H
#define IMAPCID_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clientid/clientid.h"

#define REGISTRY_HASH_LEN    64 /* hex of HMAC-SHA256 */
#define REGISTRY_ACCOUNT_MAX 255
#define REGISTRY_ADDR_MAX    64
#define REGISTRY_REASON_MAX  96

enum registry_state {
	REGISTRY_TRUSTED,
	REGISTRY_PENDING,
	REGISTRY_REVOKED,
};

struct registry_device {
	char account[REGISTRY_ACCOUNT_MAX + 1];
	char type[CID_TYPE_MAX + 1];
	char hash[REGISTRY_HASH_LEN + 1];
	char token[CID_TOKEN_MAX + 1]; /* "" unless debug storage is on */
	enum registry_state state;
	int64_t revoked_until; /* unix seconds; 0: permanent */
	/* what a suspension (revoked with an end) returns to */
	enum registry_state resume_state;
	int64_t first_seen, last_seen;
	int64_t added_ms; /* when the row was made (orders pending devices) */
	char last_addr[REGISTRY_ADDR_MAX];
	int64_t count;
};

struct registry_audit {
	int64_t time_ms;
	char account[REGISTRY_ACCOUNT_MAX + 1];
	char peer[REGISTRY_ADDR_MAX];
	char type[CID_TYPE_MAX + 1]; /* "" without a client id */
	char fp[CID_FINGERPRINT_LEN + 1];
	char mech[16];
	bool ok;
	char reason[REGISTRY_REASON_MAX];
};

/* Per-account settings; NULL fields mean "use the global default". */
struct registry_account {
	char mode[16];        /* "" = default */
	int require_clientid; /* -1 = default, 0, 1 */
};

struct registry;

/* Opens (creating the file and schema if needed). */
struct registry *registry_open(const char *path, char *err, size_t errlen);
void registry_close(struct registry *r);

/* Groups writes into one commit (taking the write lock at once, so what
 * is read inside is what the commit is based on). */
bool registry_begin(struct registry *r);
bool registry_commit(struct registry *r);
bool registry_rollback(struct registry *r);
/* Groups reads into one snapshot: one set of locks and one check of the
 * write-ahead log instead of one per query. */
bool registry_read_begin(struct registry *r);
bool registry_read_end(struct registry *r);

/* Returns 1 found, 0 not found, -1 error. */
int registry_device_get(struct registry *r, const char *account,
                        const char *hash, struct registry_device *out);
/* Inserts a new row; false (and no change) if the device is known. */
bool registry_device_add(struct registry *r, const struct registry_device *d);
/* Inserts or replaces the whole row. */
bool registry_device_put(struct registry *r, const struct registry_device *d);
/* A login from a known device: bump count, last seen and address. */
bool registry_device_touch(struct registry *r, const char *account,
                           const char *hash, int64_t now, const char *addr);
/* Devices of an account whose hash starts with prefix (a fingerprint).
 * Calls fn for each; returns the number found or -1. */
int registry_device_find(struct registry *r, const char *account,
                         const char *prefix,
                         void (*fn)(const struct registry_device *d, void *arg),
                         void *arg);
int registry_device_set_state(struct registry *r, const char *account,
                              const char *prefix, enum registry_state state,
                              int64_t until);
int registry_device_forget(struct registry *r, const char *account,
                           const char *prefix);
/* Trusted devices of an account (revocations that expired count too). */
int registry_trusted_count(struct registry *r, const char *account,
                           int64_t now);

/* Pending devices of an account beyond the keep most recently seen are
 * forgotten; returns how many, or -1. */
int registry_pending_trim(struct registry *r, const char *account,
                          unsigned keep);

bool registry_audit_add(struct registry *r, const struct registry_audit *a);
/* Retention: deletes at most chunk audit rows older than before_ms or
 * beyond the newest max_rows (0: no cap), oldest first; returns how many,
 * or -1. Call again while it returns chunk. */
long registry_prune_audit(struct registry *r, int64_t before_ms,
                          int64_t max_rows, long chunk);
/* Deletes at most chunk pending devices not seen since before_s. */
long registry_prune_pending(struct registry *r, int64_t before_s, long chunk);
int registry_audit_list(struct registry *r, const char *account,
                        int64_t since_ms, size_t limit,
                        void (*fn)(const struct registry_audit *a, void *arg),
                        void *arg);

int registry_account_get(struct registry *r, const char *account,
                         struct registry_account *out);
bool registry_account_set(struct registry *r, const char *account,
                          const struct registry_account *a);
int registry_account_list(struct registry *r,
                          void (*fn)(const char *account,
                                     const struct registry_account *a,
                                     void *arg),
                          void *arg);

const char *registry_state_name(enum registry_state s);
bool registry_state_parse(const char *name, enum registry_state *out);

#endif
