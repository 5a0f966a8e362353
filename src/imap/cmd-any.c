/* Commands valid in any state: CAPABILITY, NOOP, LOGOUT, ID, ENABLE. */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"

#define IMAP_ID_LOG_MAX 1024 /* of the debug line showing a client's ID */

static bool
imap_no_args(struct imap_cmd_ctx *ctx, enum imap_action *act)
{
	if (ctx->cmd.rest_len == 0)
		return true;
	char text[80];
	snprintf(text, sizeof(text), "%s takes no arguments.", ctx->cmd.name);
	*act = imap_cmd_bad(ctx, text);
	return false;
}

enum imap_action
imap_cmd_capability(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	if (!imap_no_args(ctx, &act))
		return act;
	buf_append_str(ctx->out, "* CAPABILITY ");
	imap_capabilities(ctx->s, ctx->out);
	buf_append_str(ctx->out, "\r\n");
	return imap_cmd_ok(ctx, NULL, "Capability completed.");
}

enum imap_action
imap_cmd_noop(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	if (!imap_no_args(ctx, &act))
		return act;
	return imap_cmd_ok(ctx, NULL, "NOOP completed.");
}

enum imap_action
imap_cmd_logout(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	if (!imap_no_args(ctx, &act))
		return act;
	imap_session_bye(ctx->s, ctx->out, "Logging out.");
	imap_write_tagged(ctx->out, ctx->cmd.tag, "OK", NULL,
	                  "Logout completed.");
	return IMAP_ACTION_CLOSE;
}

static bool
imap_id_valid(const struct imap_arg *list, size_t count, const char **err)
{
	if (count % 2 != 0) {
		*err = "ID list must hold field/value pairs";
		return false;
	}
	if (count / 2 > IMAP_ID_PAIRS_MAX) {
		*err = "too many ID fields";
		return false;
	}
	for (size_t i = 0; i < count; i += 2) {
		const struct imap_arg *f = &list[i], *v = &list[i + 1];
		if (f->type == IMAP_ARG_ATOM || f->type == IMAP_ARG_LIST ||
		    f->len > IMAP_ID_FIELD_MAX) {
			*err = "ID field must be a string of at most 30 octets";
			return false;
		}
		if (v->type == IMAP_ARG_LIST ||
		    (v->type == IMAP_ARG_ATOM && !imap_arg_is_nil(v)) ||
		    v->len > IMAP_ID_VALUE_MAX) {
			*err = "ID value must be NIL or a string of at most "
			       "1024 octets";
			return false;
		}
	}
	return true;
}

/* For the debug log only: what the client says it is, printable. */
static void
imap_id_log(const struct imap_arg *list, size_t count)
{
	struct buf line = BUF_INIT;
	for (size_t i = 0; i + 1 < count && line.len < IMAP_ID_LOG_MAX;
	     i += 2) {
		for (int f = 0; f < 2; f++) {
			const struct imap_arg *a = &list[i + (size_t)f];
			if (f == 0 && i > 0)
				buf_append(&line, " ", 1);
			/* client bytes: printable ASCII only, so no line can
			 * be forged in the log */
			for (size_t k = 0; k < a->len; k++) {
				char c = a->str != NULL ? a->str[k] : '_';
				if (c <= 0x20 || c >= 0x7f)
					c = '_';
				buf_append(&line, &c, 1);
			}
			if (f == 0)
				buf_append(&line, "=", 1);
		}
	}
	buf_append(&line, "", 1);
	if (line.data != NULL)
		log_debug("id: %.*s", IMAP_ID_LOG_MAX, (const char *)line.data);
	buf_free(&line);
}

enum imap_action
imap_cmd_id(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	const char *err = NULL;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count != 1 ||
	    !(imap_arg_is_nil(&args[0]) || args[0].type == IMAP_ARG_LIST))
		return imap_cmd_bad(ctx, "ID takes NIL or a list of pairs.");
	if (args[0].type == IMAP_ARG_LIST) {
		if (!imap_id_valid(args[0].list, args[0].count, &err)) {
			char text[128];
			snprintf(text, sizeof(text), "ID: %s.", err);
			return imap_cmd_bad(ctx, text);
		}
		if (log_enabled(LOG_LEVEL_DEBUG))
			imap_id_log(args[0].list, args[0].count);
	}
	buf_printf(ctx->out,
	           "* ID (\"name\" \"imapcid\" \"version\" \"%s\")\r\n",
	           ctx->s->cfg->version);
	return imap_cmd_ok(ctx, NULL, "ID completed.");
}

enum imap_action
imap_cmd_enable(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count == 0)
		return imap_cmd_bad(ctx,
		                    "ENABLE needs at least one extension.");
	for (size_t i = 0; i < count; i++)
		if (args[i].type != IMAP_ARG_ATOM)
			return imap_cmd_bad(ctx, "ENABLE takes atoms.");
	/* RFC 5161: ENABLED lists what this command enabled, so neither
	 * what was on already nor what we do not know (which is ignored) */
	buf_append_str(ctx->out, "* ENABLED");
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(args[i].str, "IMAP4rev2") == 0 &&
		    imap_rev2_available(ctx->s) && !ctx->s->rev2) {
			ctx->s->rev2 = true;
			buf_append_str(ctx->out, " IMAP4rev2");
		}
	}
	buf_append_str(ctx->out, "\r\n");
	return imap_cmd_ok(ctx, NULL, "ENABLE completed.");
}
