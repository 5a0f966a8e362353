/*
 * The registry's one writer: a thread that takes the writes of every login
 * and commits them in batches, one transaction each, since a commit costs
 * a write-ahead-log append and locks whatever it carries, and makes every
 * reader's next read drop its page cache.
 *
 * A write's apply() runs inside its batch's transaction, which holds the
 * database's write lock from its first statement: a decision that reads
 * and then writes (trust this device while the account has fewer than N)
 * is atomic against other logins and against imapcidctl. Its committed()
 * runs after the commit, so whatever is answered from there is on disk
 * and visible to imapcidctl already (group commit).
 *
 * Between batches it applies retention: audit rows and pending devices
 * past their age are deleted a chunk at a time.
 */
#ifndef IMAPCID_REGISTRY_WRITER_H
#define IMAPCID_REGISTRY_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

struct registry_write {
	/* In the batch's transaction, on the writer thread. r is NULL when
	 * the registry cannot be opened: the write then records nothing. */
	void (*apply)(struct registry *r, struct registry_write *w);
	/* After the commit (ok false: it failed and nothing was written).
	 * The write may be freed from here on. */
	void (*committed)(struct registry_write *w, bool ok);
	struct registry_write *next;
};

struct registry_retention {
	uint64_t audit_ms;    /* audit rows older than this go; 0: kept */
	uint64_t audit_rows;  /* and beyond the newest this many; 0: no cap */
	uint64_t pending_ms;  /* pending devices not seen for this long */
	uint64_t interval_ms; /* how often to look */
};

struct registry_writer;

/* Opens the registry (creating it: fails here if it cannot) and starts the
 * thread. */
struct registry_writer *
registry_writer_new(const char *path, const struct registry_retention *keep,
                    char *err, size_t errlen);
/* From any thread. Waits while the queue is full (back-pressure, never
 * loss). */
void registry_writer_submit(struct registry_writer *rw,
                            struct registry_write *w);
/* Commits what is queued, then stops. */
void registry_writer_free(struct registry_writer *rw);

/* Counters, for tests and metrics. */
struct registry_writer_stats {
	uint64_t batches, writes, failed_commits;
	uint64_t pruned_audit, pruned_pending;
};
void registry_writer_stats(struct registry_writer *rw,
                           struct registry_writer_stats *out);

#endif
