#include "commands.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* An APPEND literal at least this large goes to a file as it arrives
 * (see imap_collector.spill_open); smaller ones stay in memory. */
#define IMAP_SPILL_MIN (64 * 1024)

#define NA  IMAP_STATE_NOTAUTH
#define IN  IMAP_STATE_LOGGEDIN
#define SEL IMAP_STATE_SELECTED

/* name, states, literals allowed, runs on a worker (mail), handler. A name
 * may appear twice for different states: the first match wins. */
static const struct imap_command_def imap_commands[] = {
        {"CAPABILITY", NA | IN, false, false, imap_cmd_capability},
        {"NOOP", NA, false, false, imap_cmd_noop},
        {"NOOP", IN, false, true, imap_cmd_mail_noop},
        {"LOGOUT", NA | IN, false, false, imap_cmd_logout},
        {"ID", NA | IN, true, false, imap_cmd_id},
        {"ENABLE", IN, false, false, imap_cmd_enable},
        {"STARTTLS", NA, false, false, imap_cmd_starttls},
        {"LOGIN", NA, true, false, imap_cmd_login},
        {"AUTHENTICATE", NA, false, false, imap_cmd_authenticate},
        /* Known in every state so that, after login, it is refused with its
	 * own reason (CID-RST-2); unknown while not advertised (CID-RST-1). */
        {"CLIENTID", NA | IN, false, false, imap_cmd_clientid},
        {"SELECT", IN, true, true, imap_cmd_select},
        {"EXAMINE", IN, true, true, imap_cmd_select},
        {"CREATE", IN, true, true, imap_cmd_create},
        {"DELETE", IN, true, true, imap_cmd_delete},
        {"RENAME", IN, true, true, imap_cmd_rename},
        {"SUBSCRIBE", IN, true, true, imap_cmd_subscribe},
        {"UNSUBSCRIBE", IN, true, true, imap_cmd_subscribe},
        {"LIST", IN, true, true, imap_cmd_list},
        {"LSUB", IN, true, true, imap_cmd_list},
        {"NAMESPACE", IN, false, false, imap_cmd_namespace},
        {"STATUS", IN, true, true, imap_cmd_status},
        {"APPEND", IN, true, true, imap_cmd_append},
        {"CHECK", SEL, false, true, imap_cmd_mail_noop},
        {"CLOSE", SEL, false, true, imap_cmd_close},
        {"UNSELECT", SEL, false, true, imap_cmd_close},
        {"EXPUNGE", SEL, false, true, imap_cmd_expunge},
        {"FETCH", SEL, false, true, imap_cmd_fetch},
        {"STORE", SEL, true, true, imap_cmd_store},
        {"COPY", SEL, true, true, imap_cmd_copy},
        {"MOVE", SEL, true, true, imap_cmd_copy},
        {"SEARCH", SEL, true, true, imap_cmd_search},
        {"UID", SEL, true, true, imap_cmd_uid},
        {"IDLE", IN, false, false, imap_cmd_idle},
};

#undef NA
#undef IN
#undef SEL

static const struct imap_command_def *
imap_command_find(const struct imap_session *s, const char *name)
{
	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(*imap_commands);
	     i++) {
		const struct imap_command_def *d = &imap_commands[i];
		if (strcmp(d->name, name) != 0 || (d->states & s->state) == 0)
			continue;
		if (d->run == imap_cmd_clientid &&
		    s->state == IMAP_STATE_NOTAUTH &&
		    !imap_clientid_available(s))
			return NULL;
		return d;
	}
	return NULL;
}

/* The collector asks where a big literal should go: an APPEND's message
 * goes to an unnamed file next to the mail stores (same file system, gone
 * by itself if we crash), anything else stays in memory. */
static int
imap_session_spill_open(void *arg, const uint8_t *cmd, size_t len)
{
	struct imap_session *s = arg;
	struct imap_command head;
	if ((s->state & IMAP_STATE_LOGGEDIN) == 0 || s->cfg->mail_dir == NULL ||
	    imap_parse_head(cmd, len, &head) != IMAP_HEAD_OK ||
	    strcmp(head.name, "APPEND") != 0)
		return -1;
	return open(s->cfg->mail_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

struct imap_session *
imap_session_new(const struct imap_session_config *cfg, bool tls)
{
	struct imap_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->state = IMAP_STATE_NOTAUTH;
	s->tls = tls;
	s->coll.spill_open = imap_session_spill_open;
	s->coll.spill_arg = s;
	s->coll.spill_min = IMAP_SPILL_MIN;
	imap_fetch_resume_clear(&s->fetch);
	return s;
}

/* The command that ran is over: drop what it was handed. */
static void
imap_session_mail_clear(struct imap_session *s)
{
	if (s->mail_spill.present)
		close(s->mail_spill.fd);
	memset(&s->mail_spill, 0, sizeof(s->mail_spill));
	imap_fetch_resume_clear(&s->fetch);
	buf_free(&s->mail_cmd);
}

static void
imap_session_drop_auth(struct imap_session *s)
{
	if (s->auth != NULL) {
		explicit_bzero(s->auth, sizeof(*s->auth));
		free(s->auth);
		s->auth = NULL;
	}
}

void
imap_session_free(struct imap_session *s)
{
	if (s == NULL)
		return;
	imap_collect_free(&s->coll);
	imap_session_drop_auth(s);
	imap_mail_release(s);
	imap_session_mail_clear(s);
	explicit_bzero(&s->clientid, sizeof(s->clientid));
	free(s->user);
	free(s);
}

bool
imap_session_release_writes(const struct imap_session *s)
{
	return s->mb != NULL && mailbox_close_writes(s->mb);
}

void
imap_session_release_mail(struct imap_session *s)
{
	imap_mail_release(s);
}

bool
imap_clientid_available(const struct imap_session *s)
{
	return s->cfg->clientid && s->tls && s->state == IMAP_STATE_NOTAUTH;
}

bool
imap_rev2_available(const struct imap_session *s)
{
	return s->state != IMAP_STATE_NOTAUTH && s->cfg->mail_dir != NULL;
}

void
imap_capabilities(const struct imap_session *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1");
	if (imap_rev2_available(s))
		buf_append_str(out, " IMAP4rev2");
	buf_append_str(out, " LITERAL+ SASL-IR ID ENABLE");
	if (s->state != IMAP_STATE_NOTAUTH) {
		if (s->cfg->mail_dir != NULL)
			buf_printf(out,
			           " IDLE UIDPLUS MOVE UNSELECT NAMESPACE "
			           "CHILDREN "
			           "SPECIAL-USE STATUS=SIZE APPENDLIMIT=%llu "
			           "ESEARCH LIST-EXTENDED LIST-STATUS BINARY",
			           (unsigned long long)s->cfg->append_limit);
		return;
	}
	if (!s->tls && s->cfg->starttls)
		buf_append_str(out, " STARTTLS");
	if (!s->tls && !s->cfg->login_plaintext)
		buf_append_str(out, " LOGINDISABLED");
	else
		buf_append_str(out, " AUTH=PLAIN");
	if (imap_clientid_available(s))
		buf_append_str(out, " CLIENTID");
}

void
imap_session_greet(struct imap_session *s, struct buf *out)
{
	buf_append_str(out, "* OK [CAPABILITY ");
	imap_capabilities(s, out);
	buf_append_str(out, "] imapcid ready.\r\n");
}

void
imap_session_bye(struct imap_session *s, struct buf *out, const char *text)
{
	buf_printf(out, "* BYE %s\r\n", text);
	s->state = IMAP_STATE_LOGOUT;
}

static const struct imap_limits *
imap_session_limits(const struct imap_session *s)
{
	return s->state == IMAP_STATE_NOTAUTH ? &s->cfg->preauth
	                                      : &s->cfg->postauth;
}

/* Whether the command being framed (its start in the collector, or in the
 * input if the collector has none of it yet) is an ID. */
static bool
imap_session_framing_id(const struct imap_session *s, const struct buf *in)
{
	uint8_t head[IMAP_TAG_MAX + IMAP_NAME_MAX + 2];
	size_t have = buf_used(&s->coll.cmd), n = 0;
	if (s->coll.raw)
		return false;
	if (have > 0) {
		n = have < sizeof(head) ? have : sizeof(head);
		memcpy(head, buf_head(&s->coll.cmd), n);
	}
	size_t more = buf_used(in) < sizeof(head) - n ? buf_used(in)
	                                              : sizeof(head) - n;
	if (more > 0)
		memcpy(head + n, buf_head(in), more);
	struct imap_command cmd;
	return imap_parse_head(head, n + more, &cmd) == IMAP_HEAD_OK &&
	       strcmp(cmd.name, "ID") == 0;
}

/* The limits the collector frames the next command with: those of the
 * state, except that an ID before login may be as long as RFC 2971 lets
 * it be (IMAP_ID_LINE_MAX). */
static const struct imap_limits *
imap_session_collect_limits(const struct imap_session *s, const struct buf *in,
                            struct imap_limits *id)
{
	const struct imap_limits *lim = imap_session_limits(s);
	if (s->state != IMAP_STATE_NOTAUTH ||
	    lim->line_max >= IMAP_ID_LINE_MAX ||
	    !imap_session_framing_id(s, in))
		return lim;
	*id = *lim;
	id->line_max = IMAP_ID_LINE_MAX;
	/* its text alone may be that long: the command's budget too */
	if (id->command_max < IMAP_ID_LINE_MAX)
		id->command_max = IMAP_ID_LINE_MAX;
	return id;
}

/* Counts consecutive errors before login; too many end the connection. */
enum imap_action
imap_session_bad_tagged(struct imap_session *s, struct buf *out,
                        const char *tag, const char *text)
{
	if (tag != NULL)
		imap_write_tagged(out, tag, "BAD", NULL, text);
	else
		imap_write_untagged(out, text);
	if (s->state == IMAP_STATE_NOTAUTH &&
	    ++s->bad_count >= s->cfg->bad_max_preauth) {
		imap_session_bye(s, out, "Too many invalid commands.");
		return IMAP_ACTION_CLOSE;
	}
	return IMAP_ACTION_NONE;
}

enum imap_action
imap_cmd_ok(struct imap_cmd_ctx *ctx, const char *code, const char *text)
{
	ctx->s->bad_count = 0;
	imap_write_tagged(ctx->out, ctx->cmd.tag, "OK", code, text);
	return IMAP_ACTION_NONE;
}

enum imap_action
imap_cmd_no(struct imap_cmd_ctx *ctx, const char *code, const char *text)
{
	ctx->s->bad_count = 0;
	imap_write_tagged(ctx->out, ctx->cmd.tag, "NO", code, text);
	return IMAP_ACTION_NONE;
}

enum imap_action
imap_cmd_bad(struct imap_cmd_ctx *ctx, const char *text)
{
	return imap_session_bad_tagged(ctx->s, ctx->out, ctx->cmd.tag, text);
}

bool
imap_cmd_args(struct imap_cmd_ctx *ctx, struct imap_arg **args, size_t *count,
              enum imap_action *act)
{
	const char *err = NULL;
	const struct imap_spill_file *sf = &ctx->s->mail_spill;
	struct imap_spill spill, *sp = NULL;
	const uint8_t *base = ctx->s->mail_cmd.data;
	if (sf->present && base != NULL && ctx->cmd.rest >= base &&
	    sf->at >= (size_t)(ctx->cmd.rest - base)) {
		/* offsets in the framed command -> in the arguments */
		spill.at = sf->at - (size_t)(ctx->cmd.rest - base);
		spill.len = sf->len;
		sp = &spill;
	}
	if (imap_parse_args(&ctx->arena, ctx->cmd.rest, ctx->cmd.rest_len,
	                    imap_session_limits(ctx->s)->nesting_max, sp, args,
	                    count, &err))
		return true;
	char text[128];
	snprintf(text, sizeof(text), "Error in IMAP command %s: %s.",
	         ctx->cmd.name, err);
	*act = imap_cmd_bad(ctx, text);
	return false;
}

/* A browser or HTTP client that found our port: say so and go. */
static bool
imap_looks_like_http(const uint8_t *p, size_t n)
{
	static const char *const methods[] = {"GET ",     "POST ",   "HEAD ",
	                                      "PUT ",     "DELETE ", "OPTIONS ",
	                                      "CONNECT ", "PATCH ",  "TRACE "};
	for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
		size_t ml = strlen(methods[i]);
		if (n >= ml && memcmp(p, methods[i], ml) == 0)
			return memmem(p, n, " HTTP/", 6) != NULL;
	}
	return false;
}

/* Why a command that announced a literal may not go on, or NULL; *tagged
 * tells whether its tag may be echoed. */
static const char *
imap_session_literal_refusal(struct imap_session *s, char *text, size_t len,
                             char tag[IMAP_TAG_MAX + 1])
{
	struct imap_command cmd;
	enum imap_head_status hs =
	        imap_parse_head(s->coll.cmd.data, s->coll.cmd.len, &cmd);
	tag[0] = '\0';
	if (hs == IMAP_HEAD_BAD_TAG)
		return "BAD Invalid tag.";
	memcpy(tag, cmd.tag, sizeof(cmd.tag));
	const struct imap_command_def *def =
	        hs == IMAP_HEAD_OK ? imap_command_find(s, cmd.name) : NULL;
	if (def == NULL)
		return "Unknown command.";
	if (!def->literals) {
		snprintf(text, len, "%s: a literal is not allowed here.",
		         def->name);
		return text;
	}
	return NULL;
}

/* A literal was announced: a synchronizing one is accepted or refused now,
 * before the client sends its octets; a non-synchronizing one is already
 * on its way, so a command that may not have it is read to its end with
 * the octets dropped, then refused (see imap_session_input). */
static enum imap_action
imap_session_literal(struct imap_session *s, struct buf *out)
{
	char text[80], tag[IMAP_TAG_MAX + 1];
	const char *why;
	if (s->coll.discard) {
		/* refused already, and now it waits for a "+" */
		why = s->refuse_text;
		memcpy(tag, s->refuse_tag, sizeof(tag));
	} else {
		why = imap_session_literal_refusal(s, text, sizeof(text), tag);
	}
	if (why == NULL) {
		if (s->coll.literal_sync)
			buf_append_str(out, "+ OK\r\n");
		imap_collect_accept(&s->coll);
		return IMAP_ACTION_NONE;
	}
	if (!s->coll.literal_sync) {
		snprintf(s->refuse_text, sizeof(s->refuse_text), "%s", why);
		memcpy(s->refuse_tag, tag, sizeof(tag));
		imap_collect_discard(&s->coll);
		return IMAP_ACTION_NONE;
	}
	imap_collect_reset(&s->coll);
	return imap_session_bad_tagged(s, out, tag[0] ? tag : NULL, why);
}

static enum imap_action
imap_session_literal_too_large(struct imap_session *s, struct buf *out)
{
	if (!s->coll.literal_sync) {
		/* Its octets are on the way and we will not hold them. */
		imap_session_bye(s, out, "Literal too large.");
		return IMAP_ACTION_CLOSE;
	}
	struct imap_command cmd;
	enum imap_head_status hs =
	        imap_parse_head(s->coll.cmd.data, s->coll.cmd.len, &cmd);
	imap_collect_reset(&s->coll);
	if (hs == IMAP_HEAD_BAD_TAG)
		return imap_session_bad_tagged(s, out, NULL,
		                               "BAD Invalid tag.");
	return imap_session_bad_tagged(s, out, cmd.tag, "Literal too large.");
}

static enum imap_action
imap_session_execute(struct imap_session *s, struct buf *in, struct buf *out,
                     unsigned literals)
{
	const uint8_t *p = s->coll.cmd.data;
	size_t n = s->coll.cmd.len;

	if (s->sasl_continue)
		return imap_sasl_response(s, p, n, out);
	if (s->idling) {
		/* RFC 2177: the only thing a client says in IDLE is DONE */
		s->idling = false;
		s->coll.raw = false;
		if (n == 4 && strncasecmp((const char *)p, "DONE", 4) == 0)
			imap_write_tagged(out, s->pending_tag, "OK", NULL,
			                  "Idle completed.");
		else
			imap_write_tagged(out, s->pending_tag, "BAD", NULL,
			                  "Expected DONE.");
		return IMAP_ACTION_IDLE_DONE;
	}
	if (n == 0) {
		/* An empty line is no command. Before login it costs what a
		 * bad command costs, or a client could stay for ever on
		 * "\r\n" alone. */
		if (s->state != IMAP_STATE_NOTAUTH)
			return IMAP_ACTION_NONE;
		return imap_session_bad_tagged(s, out, NULL,
		                               "BAD Empty command line.");
	}
	if (!s->greeted_line) {
		s->greeted_line = true;
		if (imap_looks_like_http(p, n)) {
			imap_session_bye(s, out, "This is an IMAP server.");
			return IMAP_ACTION_CLOSE;
		}
	}

	struct imap_cmd_ctx ctx = {.s = s,
	                           .literals = literals,
	                           .arena = ARENA_INIT,
	                           .in = in,
	                           .out = out};
	enum imap_head_status hs = imap_parse_head(p, n, &ctx.cmd);
	if (hs == IMAP_HEAD_BAD_TAG)
		return imap_session_bad_tagged(s, out, NULL,
		                               "BAD Invalid tag.");
	if (hs == IMAP_HEAD_BAD_NAME)
		return imap_session_bad_tagged(
		        s, out, ctx.cmd.tag,
		        "Missing or invalid command name.");
	const struct imap_command_def *def = imap_command_find(s, ctx.cmd.name);
	if (def == NULL)
		return imap_session_bad_tagged(s, out, ctx.cmd.tag,
		                               "Unknown command.");
	if (def->mail) {
		/* Runs on a worker: hand it the framed command. */
		s->mail_cmd = s->coll.cmd;
		s->coll.cmd = (struct buf)BUF_INIT;
		if (s->coll.spilled) {
			s->mail_spill = (struct imap_spill_file){
			        .present = true,
			        .fd = s->coll.spill_fd,
			        .len = s->coll.spill_len,
			        .at = s->coll.spill_at,
			        .error = s->coll.spill_error};
			s->coll.spilled = false;
		}
		s->mail_literals = literals;
		s->waiting = true;
		return IMAP_ACTION_MAIL;
	}
	enum imap_action act = def->run(&ctx);
	arena_free(&ctx.arena);
	return act;
}

enum imap_action
imap_session_input(struct imap_session *s, struct buf *in, struct buf *out)
{
	for (;;) {
		if (s->state == IMAP_STATE_LOGOUT)
			return IMAP_ACTION_CLOSE;
		if (s->waiting || buf_used(in) == 0 ||
		    buf_used(out) >= IMAP_OUTPUT_HIGH_WATER)
			return IMAP_ACTION_NONE;

		size_t consumed = 0;
		struct imap_limits id_limits;
		enum imap_collect_status st = imap_collect_feed(
		        &s->coll,
		        imap_session_collect_limits(s, in, &id_limits),
		        buf_head(in), buf_used(in), &consumed);
		buf_consume(in, consumed);

		enum imap_action act = IMAP_ACTION_NONE;
		switch (st) {
		case IMAP_COLLECT_MORE:
			return IMAP_ACTION_NONE;
		case IMAP_COLLECT_LITERAL:
			act = imap_session_literal(s, out);
			break;
		case IMAP_COLLECT_LITERAL_TOO_LARGE:
			act = imap_session_literal_too_large(s, out);
			break;
		case IMAP_COLLECT_LINE_TOO_LONG:
			imap_session_bye(s, out, "Line too long.");
			return IMAP_ACTION_CLOSE;
		case IMAP_COLLECT_DONE:
			if (s->coll.discard) {
				imap_collect_reset(&s->coll);
				act = imap_session_bad_tagged(
				        s, out,
				        s->refuse_tag[0] ? s->refuse_tag : NULL,
				        s->refuse_text);
				break;
			}
			act = imap_session_execute(s, in, out,
			                           s->coll.literals);
			imap_collect_reset(&s->coll);
			break;
		}
		if (act != IMAP_ACTION_NONE)
			return act;
	}
}

void
imap_session_tls_started(struct imap_session *s)
{
	s->tls = true;
	s->waiting = false;
}

struct auth_request *
imap_session_auth_request(struct imap_session *s)
{
	return s->auth;
}

void
imap_session_auth_done(struct imap_session *s, const struct auth_result *res,
                       struct buf *out)
{
	s->waiting = false;
	if (res->ok) {
		/* the canonical name, not the one typed: "DEMO" and "demo"
		 * are one account with one mail store */
		s->user = strdup(res->account[0] != '\0' ? res->account
		                                         : s->auth->user);
		if (s->user == NULL) {
			imap_write_tagged(out, s->pending_tag, "NO",
			                  "UNAVAILABLE", "Out of memory.");
			imap_session_drop_auth(s);
			return;
		}
		s->state = IMAP_STATE_AUTH;
		s->bad_count = 0;
		struct buf caps = BUF_INIT;
		buf_append_str(&caps, "CAPABILITY ");
		imap_capabilities(s, &caps);
		buf_append(&caps, "", 1);
		imap_write_tagged(out, s->pending_tag, "OK",
		                  (const char *)caps.data, "Logged in.");
		buf_free(&caps);
	} else {
		/* The one answer for every refusal (CID-POL-2). */
		imap_write_tagged(out, s->pending_tag, "NO",
		                  "AUTHENTICATIONFAILED",
		                  "Authentication failed.");
	}
	imap_session_drop_auth(s);
}

const struct cid_identity *
imap_session_clientid(const struct imap_session *s)
{
	return s->has_clientid ? &s->clientid : NULL;
}

bool
imap_session_authenticated(const struct imap_session *s)
{
	return (s->state & IMAP_STATE_LOGGEDIN) != 0;
}

void
imap_session_mail_run(struct imap_session *s, struct buf *out)
{
	struct imap_cmd_ctx ctx = {.s = s,
	                           .literals = s->mail_literals,
	                           .arena = ARENA_INIT,
	                           .in = NULL,
	                           .out = out};
	const uint8_t *p = s->mail_cmd.data;
	size_t n = s->mail_cmd.len;
	s->mail_action = IMAP_ACTION_NONE;
	s->mail_more = false;
	/* framed and checked on the loop already: head and name are valid */
	if (imap_parse_head(p, n, &ctx.cmd) == IMAP_HEAD_OK) {
		const struct imap_command_def *def =
		        imap_command_find(s, ctx.cmd.name);
		if (def != NULL)
			s->mail_action = def->run(&ctx);
	}
	arena_free(&ctx.arena);
}

size_t
imap_session_idle_dirs(const struct imap_session *s, char dirs[2][4096])
{
	if (s->mb == NULL)
		return 0;
	return mailbox_watch_paths(s->mb, dirs);
}

void
imap_session_idle_sync(struct imap_session *s, struct buf *out)
{
	struct imap_cmd_ctx ctx = {.s = s, .arena = ARENA_INIT, .out = out};
	imap_mail_sync(&ctx);
	arena_free(&ctx.arena);
	/* it may idle for hours: keep only the client's view meanwhile */
	if (s->mb != NULL)
		mailbox_park(s->mb);
}

enum imap_action
imap_session_mail_done(struct imap_session *s)
{
	if (s->mail_more)
		return IMAP_ACTION_MAIL; /* still waiting, to be run again */
	s->waiting = false;
	imap_session_mail_clear(s);
	return s->mail_action;
}

const char *
imap_session_user(const struct imap_session *s)
{
	return s->user;
}
