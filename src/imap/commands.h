/* Internal to the imap module: the session's state and the command table
 * that session.c dispatches through and cmd-*.c implement. */
#ifndef IMAPCID_IMAP_COMMANDS_H
#define IMAPCID_IMAP_COMMANDS_H

#include "imap/session.h"
#include "imap/writer.h"
#include "lib/arena.h"

#define IMAP_USER_MAX 255

enum imap_state {
	IMAP_STATE_NOTAUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_LOGOUT = 1 << 2,
};

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
	struct auth_request *auth;          /* allocated only while in flight */
	char *user;
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

#endif
