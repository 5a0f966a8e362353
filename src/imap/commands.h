/* Internal to the imap module: the session's state and the command table
 * that session.c dispatches through and cmd-*.c implement. */
#ifndef IMAPCID_IMAP_COMMANDS_H
#define IMAPCID_IMAP_COMMANDS_H

#include "imap/session.h"
#include "imap/writer.h"
#include "lib/arena.h"
#include "mail/mailstore.h"

#define IMAP_USER_MAX 255
/* A mail command that has written this much stops and is run again once
 * the client has read it (see imap_session.mail_more): the bound on a
 * session's buffered output, whatever the command asks for. */
#define IMAP_MAIL_OUTPUT_CHUNK (256 * 1024)

/* RFC 2971 section 3.3 limits on what a client may send in ID. */
#define IMAP_ID_PAIRS_MAX 30
#define IMAP_ID_FIELD_MAX 30
#define IMAP_ID_VALUE_MAX 1024
/* The longest ID command line within them, strings quoted without escapes:
 * "tag ID (" and 30 times ` "field" "value"`, then ")": 31,870 octets.
 * Before login an ID command may be this long even if limit_line_preauth
 * is shorter, as Dovecot allows (imaptest's id script sends it). */
#define IMAP_ID_LINE_MAX                                                       \
	(IMAP_TAG_MAX + sizeof(" ID ()") - 1 +                                 \
	 IMAP_ID_PAIRS_MAX * (IMAP_ID_FIELD_MAX + IMAP_ID_VALUE_MAX + 6))

/* Where a FETCH that stopped at IMAP_MAIL_OUTPUT_CHUNK goes on. */
struct imap_fetch_resume {
	bool active;
	size_t next; /* index of the message to go on with */
	bool in_msg; /* stopped inside that message's response, */
	size_t item; /* after writing (part of) this item */
	/* the message being answered, open from before anything about its
	 * octets was written until its response ends */
	struct mail_stream *msg;
	bool streaming;   /* in a literal read from msg: */
	uint64_t skip;    /* octets still to skip (<partial>) */
	uint64_t left;    /* octets of the literal still to write */
	bool broken;      /* msg stopped giving the octets promised */
	bool unknown_cte; /* a BINARY part could not be decoded */
	bool expunged;    /* a message was gone: left out */
	bool failed;      /* a message could not be opened: left out */
};

/* A literal the collector wrote to a file (an APPEND's message), handed
 * from the collector to the command with the framed command. */
struct imap_spill_file {
	bool present;
	int fd;
	uint64_t len;
	size_t at;  /* offset of its "{" in the framed command */
	bool error; /* writing it failed: the command answers NO */
};

enum imap_state {
	IMAP_STATE_NOTAUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_LOGOUT = 1 << 2,
	IMAP_STATE_SELECTED = 1 << 3,
};
#define IMAP_STATE_LOGGEDIN (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

struct imap_session {
	const struct imap_session_config *cfg;
	enum imap_state state;
	bool tls;
	bool waiting;       /* an action is being carried out for us */
	bool greeted_line;  /* the first command line was seen */
	bool sasl_continue; /* the next line answers AUTHENTICATE */
	bool has_clientid;
	unsigned bad_count;
	struct imap_collector coll;
	struct cid_identity clientid;
	char pending_tag[IMAP_TAG_MAX + 1]; /* AUTHENTICATE/LOGIN in flight */
	/* A command refused while its literals were still arriving (see
	 * imap_collector.discard): its answer, once it ends; tag "" when
	 * the tag itself was invalid. */
	char refuse_tag[IMAP_TAG_MAX + 1];
	char refuse_text[80];
	struct auth_request *auth; /* allocated only while in flight */
	char *user;

	/* Mail: touched only by the worker running a mail command, while
	 * the session waits (see imap_session_mail_run). */
	struct mailstore *store; /* opened at the first mail command */
	struct mailbox *mb;      /* the selected mailbox */
	struct buf mail_cmd;     /* the framed command being run */
	struct imap_spill_file mail_spill; /* its spilled literal, if any */
	unsigned mail_literals;
	enum imap_action mail_action;
	bool mail_more; /* stopped at IMAP_MAIL_OUTPUT_CHUNK: run it again
			 * once that output has drained */
	struct imap_fetch_resume fetch;
	bool rev2;     /* ENABLE IMAP4rev2: no \Recent, ESEARCH for SEARCH */
	char *mb_name; /* the selected mailbox's name */
	bool idling;   /* in IDLE: the next line must be DONE */
	uint32_t exists_reported; /* the message count the client knows */
	size_t kw_reported;       /* keywords in the FLAGS it was last sent */
};

struct imap_cmd_ctx {
	struct imap_session *s;
	struct imap_command cmd;
	unsigned literals; /* literals the client sent in this command */
	struct arena arena;
	struct buf *in, *out;
};

struct imap_command_def {
	const char *name;
	unsigned states; /* IMAP_STATE_* where the command exists */
	bool literals;   /* may carry literals */
	bool mail;       /* runs on a worker: may touch the store */
	enum imap_action (*run)(struct imap_cmd_ctx *ctx);
};

/* Response helpers; imap_cmd_bad may turn into a BYE before login. */
enum imap_action imap_cmd_ok(struct imap_cmd_ctx *ctx, const char *code,
                             const char *text);
enum imap_action imap_cmd_no(struct imap_cmd_ctx *ctx, const char *code,
                             const char *text);
enum imap_action imap_cmd_bad(struct imap_cmd_ctx *ctx, const char *text);
/* BAD outside a command context (tag NULL: untagged). */
enum imap_action imap_session_bad_tagged(struct imap_session *s,
                                         struct buf *out, const char *tag,
                                         const char *text);
/* Parses the arguments; on error answers BAD and returns false. */
bool imap_cmd_args(struct imap_cmd_ctx *ctx, struct imap_arg **args,
                   size_t *count, enum imap_action *act);
void imap_capabilities(const struct imap_session *s, struct buf *out);
/* IMAP4rev2 is offered (and can be enabled) where the mail store is. */
bool imap_rev2_available(const struct imap_session *s);
bool imap_clientid_available(const struct imap_session *s);

enum imap_action imap_sasl_response(struct imap_session *s, const uint8_t *line,
                                    size_t len, struct buf *out);

enum imap_action imap_cmd_capability(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_noop(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_logout(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_id(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_enable(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_starttls(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_login(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_authenticate(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_clientid(struct imap_cmd_ctx *ctx);

/* cmd-mail.c: the authenticated and selected states. */
enum imap_action imap_cmd_select(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_create(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_delete(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_rename(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_subscribe(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_list(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_namespace(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_status(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_append(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_mail_noop(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_close(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_expunge(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_fetch(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_store(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_copy(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_search(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_uid(struct imap_cmd_ctx *ctx);
enum imap_action imap_cmd_idle(struct imap_cmd_ctx *ctx);
/* Untagged EXPUNGE/EXISTS/RECENT/FETCH for what changed in the selected
 * mailbox; false if it cannot be synced (gone). Never called during FETCH,
 * STORE or SEARCH, which may not report expunges (RFC 9051 7.5.1). */
bool imap_mail_sync(struct imap_cmd_ctx *ctx);
/* Sends FLAGS and PERMANENTFLAGS again if the selected mailbox has
 * keywords the client was not told of: before any FETCH shows one (RFC
 * 9051 7.3.5; imaptest checks it), whichever session created it. */
void imap_mail_report_keywords(struct imap_cmd_ctx *ctx);
/* Closes the selected mailbox and its store handle. */
void imap_mail_release(struct imap_session *s);
/* The messages of a sequence or UID set, as ascending sequence numbers
 * (arena-allocated); NULL on bad syntax. */
uint32_t *imap_set_seqs(struct imap_cmd_ctx *ctx, const char *set, bool uid,
                        size_t *n);
enum imap_action imap_fetch(struct imap_cmd_ctx *ctx, bool uid);
/* Forgets a stopped FETCH (closing the file it streamed from). */
void imap_fetch_resume_clear(struct imap_fetch_resume *r);
enum imap_action imap_store_flags(struct imap_cmd_ctx *ctx, bool uid);
enum imap_action imap_search(struct imap_cmd_ctx *ctx, bool uid);

/* mailutil.c: flags and dates in IMAP syntax. */
void imap_write_flags(struct buf *out, const struct mailbox *mb,
                      const struct mail_msg *m);
/* "\Answered \Flagged ... kw1 kw2" (and "\*" for PERMANENTFLAGS). */
void imap_write_flag_names(struct buf *out, const struct mailbox *mb,
                           bool permanent);
/* A flag list: system flags into *flags, keywords (pointers into the
 * argument) into keywords[*nkeywords]. False on an unknown \flag. */
bool imap_parse_flag_list(const struct imap_arg *list, uint32_t *flags,
                          const char **keywords, size_t *nkeywords);
/* "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 date-time). */
bool imap_parse_datetime(const char *s, int64_t *out);
void imap_write_datetime(struct buf *out, int64_t t);
/* A message's octets with CRLF line ends (stored files may use bare LF),
 * appended to msg; false if it is gone. For FETCH and SEARCH. */
bool imap_mail_load(struct mailbox *mb, uint32_t seq, struct buf *msg);
/* "d-Mon-yyyy" (SEARCH dates): the start of that day, UTC. */
bool imap_parse_date(const char *s, int64_t *out);

#endif
