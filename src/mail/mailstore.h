/*
 * The mail store seen by the IMAP session: one user's folders, and one
 * open folder at a time. The Maildir++ backend (maildir.c) implements it
 * today; an upstream (proxy) backend can implement it later without
 * touching protocol code. Every call may do file I/O: the session runs mail
 * commands on the worker pool, never on an event loop.
 *
 * Names are IMAP mailbox names as the client sends them (modified UTF-7,
 * RFC 3501 5.1.3), with "." as the hierarchy separator; "INBOX" is
 * case-insensitive. Sequence numbers are 1-based, as in IMAP.
 */
#ifndef IMAPCID_MAILSTORE_H
#define IMAPCID_MAILSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAIL_NAME_MAX      512 /* longest mailbox name accepted */
#define MAIL_KEYWORDS_MAX  26  /* Maildir keywords are the letters a-z */
#define MAIL_HIERARCHY_SEP '.'

enum mail_flag {
	MAIL_SEEN = 1 << 0,
	MAIL_ANSWERED = 1 << 1,
	MAIL_FLAGGED = 1 << 2,
	MAIL_DELETED = 1 << 3,
	MAIL_DRAFT = 1 << 4,
	MAIL_RECENT = 1 << 5, /* session-only: never stored */
};

/* LIST attributes (RFC 9051 7.3.1, RFC 6154 special use). */
enum mail_attr {
	MAIL_ATTR_NOSELECT = 1 << 0,
	MAIL_ATTR_HASCHILDREN = 1 << 1,
	MAIL_ATTR_HASNOCHILDREN = 1 << 2,
	MAIL_ATTR_SUBSCRIBED = 1 << 3,
	MAIL_ATTR_DRAFTS = 1 << 4,
	MAIL_ATTR_SENT = 1 << 5,
	MAIL_ATTR_TRASH = 1 << 6,
	MAIL_ATTR_JUNK = 1 << 7,
	MAIL_ATTR_ARCHIVE = 1 << 8,
	/* subscribed, but no such mailbox (RFC 5258 \NonExistent) */
	MAIL_ATTR_NONEXISTENT = 1 << 9,
};
#define MAIL_ATTR_SPECIAL_USE                                                  \
	(MAIL_ATTR_DRAFTS | MAIL_ATTR_SENT | MAIL_ATTR_TRASH |                 \
	 MAIL_ATTR_JUNK | MAIL_ATTR_ARCHIVE)

struct mail_msg {
	uint32_t uid;
	uint32_t flags;    /* enum mail_flag */
	uint32_t keywords; /* bit i: keyword i of the mailbox's keyword list */
	int64_t internaldate; /* unix seconds: see mailbox_msg_date() */
	uint64_t size;        /* RFC822.SIZE: octets with CRLF line ends */
};

struct mail_status {
	uint32_t messages, recent, unseen;
	uint32_t deleted; /* flagged \Deleted (STATUS DELETED, RFC 9051) */
	uint32_t uidnext, uidvalidity;
	uint64_t size; /* sum of RFC822.SIZE (STATUS=SIZE) */
};

/* What changed in an open mailbox since the last sync (another session,
 * an MDA dropping into new/, our own commands). */
struct mail_changes {
	uint32_t *expunged; /* sequence numbers, in the order to report
			     * them (each valid at the time it is reported,
			     * i.e. highest first) */
	size_t nexpunged;
	uint32_t exists; /* messages now */
	uint32_t recent;
	uint32_t *flagged; /* sequence numbers (after expunges) whose flags
			     * or keywords changed */
	size_t nflagged;
};

enum mail_result {
	MAIL_OK,
	MAIL_NO,            /* refused: err says why, shown to the client */
	MAIL_NONEXISTENT,   /* [NONEXISTENT] */
	MAIL_ALREADYEXISTS, /* [ALREADYEXISTS] */
	MAIL_NOSPACE,       /* disk full: [OVERQUOTA]/[LIMIT] */
	MAIL_TRYCREATE,     /* [TRYCREATE] for APPEND/COPY/MOVE */
	MAIL_ERROR,         /* server-side failure: [SERVERBUG] */
};

struct mailstore;
struct mailbox;
struct buf;

/* Opens the store of one user rooted at dir (created, with INBOX and the
 * special-use folders, if missing). */
struct mailstore *mailstore_open(const char *dir, char *err, size_t errlen);
void mailstore_close(struct mailstore *ms);

/* Calls fn for every mailbox (INBOX included), in name order, and for
 * every subscribed name that is no mailbox (MAIL_ATTR_NONEXISTENT). */
enum mail_result mailstore_list(struct mailstore *ms,
                                void (*fn)(const char *name, unsigned attrs,
                                           void *arg),
                                void *arg, char *err, size_t errlen);
enum mail_result mailstore_create(struct mailstore *ms, const char *name,
                                  char *err, size_t errlen);
enum mail_result mailstore_delete(struct mailstore *ms, const char *name,
                                  char *err, size_t errlen);
/* Renaming INBOX moves its messages into a new folder (RFC 9051 6.3.6). */
enum mail_result mailstore_rename(struct mailstore *ms, const char *from,
                                  const char *to, char *err, size_t errlen);
enum mail_result mailstore_subscribe(struct mailstore *ms, const char *name,
                                     bool on, char *err, size_t errlen);
enum mail_result mailstore_status(struct mailstore *ms, const char *name,
                                  struct mail_status *st, char *err,
                                  size_t errlen);

/*
 * Appends a message read from fd (size octets, any line ends; stored
 * as given), atomically and durably: written to tmp/, fsynced, renamed
 * into cur/ (or new/). On success *uid is its UID and *uidvalidity the
 * mailbox's. A full disk yields MAIL_NOSPACE and leaves nothing behind.
 */
enum mail_result mailstore_append(struct mailstore *ms, const char *name,
                                  int fd, uint64_t size, uint32_t flags,
                                  const char *const *keywords, size_t nkeywords,
                                  int64_t internaldate, uint32_t *uidvalidity,
                                  uint32_t *uid, char *err, size_t errlen);

enum mail_result mailbox_open(struct mailstore *ms, const char *name,
                              bool readonly, struct mailbox **out, char *err,
                              size_t errlen);
void mailbox_close(struct mailbox *mb);
/* True if mailbox_close() would touch the disk beyond closing descriptors
 * (sizes learnt to write back, an fsync owed): it may then wait on locks
 * and I/O, which is for a worker thread, not an event loop. */
bool mailbox_close_writes(const struct mailbox *mb);
/* Rescans; fills ch (free with mail_changes_free). The first sync after
 * open reports nothing but exists/recent. */
enum mail_result mailbox_sync(struct mailbox *mb, struct mail_changes *ch,
                              char *err, size_t errlen);
void mail_changes_free(struct mail_changes *ch);

/* IMAP4rev2 has no \Recent (RFC 9051 Appendix E): from now on no message
 * of mb shows MAIL_RECENT (the mailbox still claims new ones, so that
 * another session does not see them as recent either). */
void mailbox_hide_recent(struct mailbox *mb);

uint32_t mailbox_count(const struct mailbox *mb);
const struct mail_msg *mailbox_msg(const struct mailbox *mb, uint32_t seq);
/* INTERNALDATE of a message. mailbox_msg() leaves it unknown (0) until
 * this is asked: learning it costs a stat() per message, and most FETCHes
 * (FLAGS, ENVELOPE, BODY[]) never need it. */
int64_t mailbox_msg_date(struct mailbox *mb, uint32_t seq);
/* Sequence number of uid, or 0. */
uint32_t mailbox_seq_of_uid(const struct mailbox *mb, uint32_t uid);
uint32_t mailbox_uidvalidity(const struct mailbox *mb);
uint32_t mailbox_uidnext(const struct mailbox *mb);
bool mailbox_readonly(const struct mailbox *mb);
/* The mailbox's keywords, index i = bit i of mail_msg.keywords. */
size_t mailbox_keywords(const struct mailbox *mb, const char *const **out);
/* Index of keyword (added to the mailbox if new and room); -1 if the
 * mailbox has no room for another (or it is invalid), or one of: */
#define MAIL_KEYWORD_NOSPACE (-2) /* the disk is full */
#define MAIL_KEYWORD_FAILED  (-3) /* it could not be recorded */
int mailbox_keyword_index(struct mailbox *mb, const char *keyword);

/*
 * A message's octets as IMAP has them (RFC822.SIZE, BODY[], literals):
 * CRLF line ends whatever the file has. mailbox_msg_open() opens the
 * message file first and then tells the exact number of octets the
 * stream gives (mail_stream_size()), so nothing about a message is
 * promised before it is known to be there; once open, the stream reads
 * on even if another session expunges the message meanwhile. It fails
 * with MAIL_NO (err "Message was expunged") if the file is gone already.
 */
struct mail_stream;
enum mail_result mailbox_msg_open(struct mailbox *mb, uint32_t seq,
                                  struct mail_stream **out, char *err,
                                  size_t errlen);
uint64_t mail_stream_size(const struct mail_stream *s);
/* At most n (>= 2) octets of the message into out: how many, 0 at its end,
 * -1 if the file no longer gives them (logged), which means the octets
 * promised cannot all be sent. */
ssize_t mail_stream_read(struct mail_stream *s, uint8_t *out, size_t n);
/* Appends the rest of the message; false on a read error or no memory. */
struct buf;
bool mail_stream_load(struct mail_stream *s, struct buf *out);
bool mail_stream_rewind(struct mail_stream *s);
void mail_stream_close(struct mail_stream *s); /* NULL is fine */

/* For backends: a stream over an open message file (taken over) whose
 * CRLF size is known. */
struct mail_stream *mail_stream_new(int fd, uint64_t size);
/* The one LF -> CRLF conversion: in[0 .. n) to out (room for 2n), or only
 * counted when out is NULL; *prev_cr carries a CR across calls. Returns
 * the octets written (or counted). */
size_t mail_crlf(bool *prev_cr, const uint8_t *in, size_t n, uint8_t *out);
/* The CRLF size of what is left to read of fd; -1 with errno. */
int mail_crlf_size(int fd, uint64_t *out);
/* Sets flags and keywords of one message (renames its file). Durable
 * once the next mailbox_sync() (or mailbox_close()) returns, which fsyncs
 * cur/ once rather than once per message of a STORE. */
enum mail_result mailbox_set_flags(struct mailbox *mb, uint32_t seq,
                                   uint32_t flags, uint32_t keywords, char *err,
                                   size_t errlen);
enum mail_flags_op {
	MAIL_FLAGS_SET,    /* the message's flags become those given */
	MAIL_FLAGS_ADD,    /* those given are added ... */
	MAIL_FLAGS_REMOVE, /* ... or removed, the others kept */
};
/* As mailbox_set_flags(), or adds or removes flags and keywords: to or
 * from those the message has now on disk, not those this session last
 * saw, so a change another session made meanwhile to other flags is kept
 * (STORE +FLAGS/-FLAGS, FETCH setting \Seen). mailbox_msg() then shows
 * the result. */
enum mail_result mailbox_change_flags(struct mailbox *mb, uint32_t seq,
                                      enum mail_flags_op op, uint32_t flags,
                                      uint32_t keywords, char *err,
                                      size_t errlen);
/* Makes flag changes durable now (one fsync of cur/): for STORE and
 * FETCH, which must not sync (no EXPUNGE may be sent during them). */
void mailbox_flush(struct mailbox *mb);
/* Copies messages (by sequence number) to another mailbox; fills the new
 * UIDs (caller-allocated, n of them) and that mailbox's UIDVALIDITY. */
enum mail_result mailbox_copy(struct mailbox *mb, const uint32_t *seqs,
                              size_t n, const char *dest,
                              uint32_t *dest_uidvalidity, uint32_t *dest_uids,
                              char *err, size_t errlen);
/* MOVE (RFC 6851) as one step: like mailbox_copy(), and the sources are
 * removed (reported by the next mailbox_sync()). A crash at any point
 * leaves each message in exactly one of the two mailboxes. */
enum mail_result mailbox_move(struct mailbox *mb, const uint32_t *seqs,
                              size_t n, const char *dest,
                              uint32_t *dest_uidvalidity, uint32_t *dest_uids,
                              char *err, size_t errlen);
/* Removes messages flagged \Deleted (only those in uids if uids != NULL);
 * the removed ones are reported by the next mailbox_sync(). */
enum mail_result mailbox_expunge(struct mailbox *mb, const uint32_t *uids,
                                 size_t nuids, char *err, size_t errlen);

/* Drops what the open mailbox can read back later (file names, sizes,
 * the FETCH cache's index, its directory descriptors), keeping only UID,
 * flags and keywords per message: for a session that will sit in IDLE.
 * The next call that needs more restores it, for exactly the same
 * messages. */
void mailbox_park(struct mailbox *mb);

/* The directories whose changes mean the open mailbox changed (for IDLE's
 * inotify watches): Maildir's new/ and cur/. Returns how many it wrote (at
 * most 2). No I/O: it may be asked of a parked mailbox, on any thread
 * while no other call runs on mb. */
#define MAIL_PATH_MAX 4096
size_t mailbox_watch_paths(const struct mailbox *mb,
                           char paths[2][MAIL_PATH_MAX]);

/*
 * A per-folder cache of what FETCH computes from a message's MIME
 * structure, so repeated FETCH ENVELOPE/BODYSTRUCTURE/BODY over a large
 * folder needn't read and parse the messages again. Values are the items
 * as written after their name: "(" ... ")". A store may keep them anywhere
 * (Maildir: a file in the folder, see cache.h) or not at all; a miss is
 * never an error.
 */
enum mail_cache_field {
	MAIL_CACHE_ENVELOPE,
	MAIL_CACHE_BODYSTRUCTURE,
	MAIL_CACHE_BODY, /* the non-extensible structure */
	MAIL_CACHE_NFIELDS
};

/* Appends the cached value of field for message seq to out; false (out
 * untouched) on a miss. */
bool mailbox_cache_get(struct mailbox *mb, uint32_t seq,
                       enum mail_cache_field field, struct buf *out);
/* Stores every field of message seq: vals[f] for each field f (an array
 * of MAIL_CACHE_NFIELDS). Best effort, never fails the caller. */
void mailbox_cache_put(struct mailbox *mb, uint32_t seq,
                       const struct buf *vals);

/* Checks a client's mailbox name: no "..", no "/", no leading "." or "~",
 * no control characters, valid modified UTF-7, at most MAIL_NAME_MAX. */
bool mailstore_name_valid(const char *name);

#endif
