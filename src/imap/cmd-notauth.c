/* The not-authenticated state: STARTTLS, CLIENTID, LOGIN, AUTHENTICATE. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/passdb.h"
#include "auth/sasl.h"
#include "clientid/clientid.h"
#include "lib/base64.h"

#define IMAP_TEXT_NO_PLAINTEXT                                                 \
	"Plaintext authentication is not allowed without TLS."

enum imap_action
imap_cmd_starttls(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (ctx->cmd.rest_len != 0)
		return imap_cmd_bad(ctx, "STARTTLS takes no arguments.");
	if (s->tls)
		return imap_cmd_bad(ctx, "TLS is already active.");
	if (!s->cfg->starttls)
		return imap_cmd_bad(ctx, "Unknown command.");
	imap_cmd_ok(ctx, NULL, "Begin TLS negotiation now.");
	/* Whatever the client pipelined in plaintext after STARTTLS could
	 * have been injected by a man in the middle: never execute it. */
	buf_free(ctx->in);
	imap_collect_reset(&s->coll);
	s->waiting = true;
	return IMAP_ACTION_STARTTLS;
}

enum imap_action
imap_cmd_clientid(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (s->state != IMAP_STATE_NOTAUTH)
		return imap_cmd_bad(ctx, "CLIENTID is only valid before "
		                         "authentication.");
	if (s->has_clientid)
		return imap_cmd_bad(ctx, "CLIENTID was already given on this "
		                         "connection.");
	if (ctx->literals > 0)
		return imap_cmd_bad(ctx, "CLIENTID: a literal is not a token.");
	struct cid_identity id;
	const char *err;
	if (!cid_parse(ctx->cmd.rest, ctx->cmd.rest_len, &id, &err)) {
		char text[96];
		snprintf(text, sizeof(text), "CLIENTID: %s.", err);
		return imap_cmd_bad(ctx, text);
	}
	/* Never NO here: judgement waits for authentication (CID-RES-1,
	 * CID-POL-1); the identity rides along until then (CID-RES-2). */
	s->clientid = id;
	s->has_clientid = true;
	return imap_cmd_ok(ctx, NULL, "CLIENTID accepted.");
}

static bool
imap_auth_allowed(struct imap_cmd_ctx *ctx, enum imap_action *act)
{
	if (ctx->s->tls || ctx->s->cfg->login_plaintext)
		return true;
	*act = imap_cmd_no(ctx, "PRIVACYREQUIRED", IMAP_TEXT_NO_PLAINTEXT);
	return false;
}

static enum imap_action
imap_auth_fail_now(struct imap_session *s, const char *tag, struct buf *out)
{
	s->bad_count = 0;
	imap_write_tagged(out, tag, "NO", "AUTHENTICATIONFAILED",
	                  "Authentication failed.");
	return IMAP_ACTION_NONE;
}

static enum imap_action
imap_auth_start(struct imap_session *s, const char *tag, const char *mech,
                const char *user, size_t user_len, const char *pass,
                size_t pass_len, struct buf *out)
{
	/* Names no account can have fail like any wrong password. */
	if (user_len > PASSDB_USER_MAX || pass_len > SASL_FIELD_MAX ||
	    memchr(user, '\0', user_len) != NULL ||
	    memchr(pass, '\0', pass_len) != NULL)
		return imap_auth_fail_now(s, tag, out);
	struct auth_request *req = calloc(1, sizeof(*req));
	if (req == NULL) {
		imap_write_tagged(out, tag, "NO", "UNAVAILABLE",
		                  "Out of memory.");
		return IMAP_ACTION_NONE;
	}
	memcpy(req->user, user, user_len);
	memcpy(req->password, pass, pass_len);
	req->mech = mech;
	req->has_clientid = s->has_clientid;
	if (s->has_clientid)
		req->clientid = s->clientid;
	snprintf(s->pending_tag, sizeof(s->pending_tag), "%s", tag);
	s->auth = req;
	s->waiting = true;
	s->bad_count = 0;
	return IMAP_ACTION_AUTH;
}

enum imap_action
imap_cmd_login(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count != 2 || !imap_arg_is_astring(&args[0]) ||
	    !imap_arg_is_astring(&args[1]))
		return imap_cmd_bad(ctx, "LOGIN takes a user name and a "
		                         "password.");
	if (!imap_auth_allowed(ctx, &act))
		return act;
	return imap_auth_start(ctx->s, ctx->cmd.tag, "LOGIN", args[0].str,
	                       args[0].len, args[1].str, args[1].len, ctx->out);
}

/* Decodes a PLAIN response and starts the check. */
static enum imap_action
imap_plain_response(struct imap_session *s, const char *tag, const char *b64,
                    size_t len, struct buf *out)
{
	size_t max = BASE64_DECODED_MAX(len), n = 0;
	uint8_t *raw = malloc(max + 1);
	if (raw == NULL || !base64_decode(b64, len, raw, &n)) {
		free(raw);
		return imap_session_bad_tagged(s, out, tag,
		                               "Invalid base64 data.");
	}
	struct {
		char authzid[SASL_FIELD_MAX + 1], authcid[SASL_FIELD_MAX + 1],
		        passwd[SASL_FIELD_MAX + 1];
	} f;
	enum imap_action act;
	if (!sasl_plain_decode(raw, n, f.authzid, f.authcid, f.passwd)) {
		act = imap_session_bad_tagged(s, out, tag,
		                              "Invalid PLAIN message.");
	} else if (f.authzid[0] != '\0' && strcmp(f.authzid, f.authcid) != 0) {
		/* No master users: acting as another user always fails. */
		act = imap_auth_fail_now(s, tag, out);
	} else {
		act = imap_auth_start(s, tag, "PLAIN", f.authcid,
		                      strlen(f.authcid), f.passwd,
		                      strlen(f.passwd), out);
	}
	explicit_bzero(raw, max + 1);
	explicit_bzero(&f, sizeof(f));
	free(raw);
	return act;
}

enum imap_action
imap_cmd_authenticate(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count < 1 || count > 2 || args[0].type != IMAP_ARG_ATOM ||
	    (count == 2 && args[1].type != IMAP_ARG_ATOM))
		return imap_cmd_bad(ctx, "AUTHENTICATE takes a mechanism and "
		                         "an optional initial response.");
	if (strcasecmp(args[0].str, "PLAIN") != 0)
		return imap_cmd_no(ctx, NULL,
		                   "Unsupported authentication mechanism.");
	if (!imap_auth_allowed(ctx, &act))
		return act;
	if (count == 2) {
		/* SASL-IR (RFC 4959): "=" stands for an empty response. */
		const char *ir = args[1].str;
		size_t len = strcmp(ir, "=") == 0 ? 0 : args[1].len;
		return imap_plain_response(ctx->s, ctx->cmd.tag, ir, len,
		                           ctx->out);
	}
	struct imap_session *s = ctx->s;
	snprintf(s->pending_tag, sizeof(s->pending_tag), "%s", ctx->cmd.tag);
	s->sasl_continue = true;
	s->coll.raw = true;
	buf_append_str(ctx->out, "+ \r\n");
	return IMAP_ACTION_NONE;
}

enum imap_action
imap_sasl_response(struct imap_session *s, const uint8_t *line, size_t len,
                   struct buf *out)
{
	s->sasl_continue = false;
	s->coll.raw = false;
	if (len == 1 && line[0] == '*')
		return imap_session_bad_tagged(s, out, s->pending_tag,
		                               "Authentication cancelled.");
	char tag[IMAP_TAG_MAX + 1];
	memcpy(tag, s->pending_tag, sizeof(tag));
	return imap_plain_response(s, tag, (const char *)line, len, out);
}
