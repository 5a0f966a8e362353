/*
 * One IMAP session's protocol state machine. It consumes bytes from an input
 * buffer and appends responses to an output buffer; whatever needs the
 * outside world (a TLS handshake, a password check, closing) is returned as
 * an action for the connection layer to carry out. No sockets, no threads:
 * unit tests drive it with plain buffers.
 */
#ifndef IMAPCID_IMAP_SESSION_H
#define IMAPCID_IMAP_SESSION_H

#include <stdbool.h>

#include "auth/auth.h"
#include "imap/parser.h"
#include "lib/buf.h"

/* Stop processing pipelined commands while this much output is unsent. */
#define IMAP_OUTPUT_HIGH_WATER (64 * 1024)

struct imap_session_config {
	bool starttls;        /* STARTTLS offered (the listen_imap port) */
	bool clientid;        /* the CLIENTID extension is enabled */
	bool login_plaintext; /* LOGIN/AUTHENTICATE allowed without TLS */
	struct imap_limits preauth, postauth;
	unsigned bad_max_preauth; /* consecutive BADs before BYE */
	const char *version;
	const char *mail_dir;  /* users' stores are mail_dir/USER; NULL: none */
	uint64_t append_limit; /* APPENDLIMIT */
};

enum imap_action {
	IMAP_ACTION_NONE,     /* wait for more input or for output to drain */
	IMAP_ACTION_STARTTLS, /* flush, handshake, imap_session_tls_started() */
	IMAP_ACTION_AUTH,     /* verify imap_session_auth_request() */
	IMAP_ACTION_CLOSE,    /* flush and close */
	IMAP_ACTION_MAIL,     /* imap_session_mail_run() on a worker, then
			       * imap_session_mail_done() */
	IMAP_ACTION_IDLE,     /* watch imap_session_idle_dirs(); on a change,
			       * imap_session_idle_sync() on a worker */
	IMAP_ACTION_IDLE_DONE, /* stop watching */
};

struct imap_session;

struct imap_session *imap_session_new(const struct imap_session_config *cfg,
                                      bool tls);
void imap_session_free(struct imap_session *s);

void imap_session_greet(struct imap_session *s, struct buf *out);
enum imap_action imap_session_input(struct imap_session *s, struct buf *in,
                                    struct buf *out);

void imap_session_tls_started(struct imap_session *s);
/* Valid after IMAP_ACTION_AUTH until imap_session_auth_done(). */
struct auth_request *imap_session_auth_request(struct imap_session *s);
void imap_session_auth_done(struct imap_session *s,
                            const struct auth_result *res, struct buf *out);

/* On a worker thread, while the session waits: runs the mail command it
 * returned IMAP_ACTION_MAIL for, writing its responses to out. */
void imap_session_mail_run(struct imap_session *s, struct buf *out);
/* Back on the connection's thread: the command's result. IMAP_ACTION_MAIL
 * means the command stopped with a chunk of output (a big FETCH): write
 * it, and once most of it has drained, call imap_session_mail_run() again
 * to go on. */
enum imap_action imap_session_mail_done(struct imap_session *s);

/* The directories an IDLE watches (none, or the selected mailbox's new/
 * and cur/); returns how many it wrote. */
size_t imap_session_idle_dirs(const struct imap_session *s, char dirs[2][4096]);
/* On a worker, while idling: untagged responses for what changed. */
void imap_session_idle_sync(struct imap_session *s, struct buf *out);

/* The identity from CLIENTID, or NULL. */
const struct cid_identity *imap_session_clientid(const struct imap_session *s);

/* When a connection ends: true if closing the session's mailbox will
 * write (see mailbox_close_writes()); then the connection's thread calls
 * imap_session_release_mail() on a worker before imap_session_free(). */
bool imap_session_release_writes(const struct imap_session *s);
/* Closes the session's mail store and mailbox; on a worker thread, with
 * the session otherwise untouched meanwhile. */
void imap_session_release_mail(struct imap_session *s);

bool imap_session_authenticated(const struct imap_session *s);
/* The authenticated user, or NULL. */
const char *imap_session_user(const struct imap_session *s);
/* Untagged BYE for a server-initiated close (shutdown, timeout). */
void imap_session_bye(struct imap_session *s, struct buf *out,
                      const char *text);

#endif
