#include "parser.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Upper bound on digits of a literal size: 2^64 has 20. */
#define IMAP_LITERAL_DIGITS_MAX 19

bool
imap_is_atom_char(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

bool
imap_is_tag_char(uint8_t c)
{
	/* tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051) */
	return c != '+' && (imap_is_atom_char(c) || c == ']');
}

/*
 * If the framed text ends in a literal announcement, returns its size, sync
 * flag and where its "{" is. The announcement must start an argument: "{"
 * (or "~{", a literal8 of RFC 3516) follows a space or "(", as in
 * "LOGIN joe {8}" or "(\Seen) {42}".
 */
static bool
collect_literal_marker(const uint8_t *p, size_t n, uint64_t *size, bool *sync,
                       size_t *brace)
{
	if (n < 3 || p[n - 1] != '}')
		return false;
	size_t end = n - 1;
	*sync = true;
	if (p[end - 1] == '+') {
		*sync = false;
		end--;
	}
	size_t start = end;
	while (start > 0 && p[start - 1] >= '0' && p[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || p[start - 1] != '{')
		return false;
	if (end - start > IMAP_LITERAL_DIGITS_MAX)
		return false;
	size_t arg = start - 1;
	if (arg >= 1 && p[arg - 1] == '~')
		arg--;
	if (arg >= 1 && p[arg - 1] != ' ' && p[arg - 1] != '(')
		return false;
	*brace = start - 1;
	uint64_t v = 0;
	for (size_t i = start; i < end; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	*size = v;
	return true;
}

static void collect_spill_write(struct imap_collector *c, const uint8_t *p,
                                size_t n);

/* Quote state of the text framed so far decides whether "{n}" is real. */
static bool
collect_in_quote(const uint8_t *p, size_t n)
{
	bool in_quote = false, escaped = false;
	for (size_t i = 0; i < n; i++) {
		if (escaped)
			escaped = false;
		else if (in_quote && p[i] == '\\')
			escaped = true;
		else if (p[i] == '"')
			in_quote = !in_quote;
	}
	return in_quote;
}

/* The octets of a command held in memory so far (text and literals). */
static uint64_t
collect_held(const struct imap_collector *c)
{
	return (uint64_t)c->text_len + c->literal_octets;
}

/* Appends text octets, within the line and command limits. */
static bool
collect_text(struct imap_collector *c, const struct imap_limits *lim,
             const uint8_t *p, size_t n)
{
	if (c->text_len + n > lim->line_max ||
	    collect_held(c) + n > lim->command_max)
		return false;
	if (!buf_append(&c->cmd, p, n))
		return false;
	c->text_len += n;
	return true;
}

enum imap_collect_status
imap_collect_feed(struct imap_collector *c, const struct imap_limits *lim,
                  const uint8_t *in, size_t n, size_t *consumed)
{
	size_t i = 0;
	enum imap_collect_status st = IMAP_COLLECT_MORE;

	while (i < n) {
		if (c->literal_left > 0) {
			size_t take = n - i;
			if (take > c->literal_left)
				take = (size_t)c->literal_left;
			if (c->spilling) {
				collect_spill_write(c, in + i, take);
			} else if (c->discard) {
				/* refused: read, never held */
			} else if (!buf_append(&c->cmd, in + i, take)) {
				st = IMAP_COLLECT_LITERAL_TOO_LARGE;
				break;
			} else {
				c->literal_octets += take;
			}
			c->literal_left -= take;
			i += take;
			if (c->literal_left == 0)
				c->spilling = false;
			/* Text after a literal is a new segment: octets of the
			 * literal never look like a quote or an announcement. */
			c->seg_start = c->cmd.len;
			continue;
		}
		if (c->cr_pending) {
			/* a CR that is not followed by LF belongs to the line */
			c->cr_pending = false;
			if (in[i] != '\n' &&
			    !collect_text(c, lim, (const uint8_t *)"\r", 1)) {
				st = IMAP_COLLECT_LINE_TOO_LONG;
				break;
			}
		}
		const uint8_t *lf = memchr(in + i, '\n', n - i);
		size_t take = lf ? (size_t)(lf - (in + i)) : n - i;
		/* A CR right before the LF, or at the end of the input so far
		 * (the LF may be in the next read), is not line text. */
		size_t keep = take;
		bool cr = keep > 0 && in[i + keep - 1] == '\r';
		if (cr)
			keep--;
		if (!collect_text(c, lim, in + i, keep)) {
			st = IMAP_COLLECT_LINE_TOO_LONG;
			break;
		}
		i += take;
		if (lf == NULL) {
			c->cr_pending = cr;
			break;
		}
		i++; /* the LF */
		/* an empty command has no buffer at all */
		const uint8_t *seg =
		        c->cmd.data != NULL ? c->cmd.data + c->seg_start : NULL;
		size_t seg_len = c->cmd.len - c->seg_start;
		uint64_t size;
		bool sync;
		size_t brace;
		if (c->raw ||
		    !collect_literal_marker(seg, seg_len, &size, &sync,
		                            &brace) ||
		    collect_in_quote(seg, seg_len)) {
			st = IMAP_COLLECT_DONE;
			break;
		}
		c->literal_sync = sync;
		c->literals++;
		if (size > lim->literal_max) {
			st = IMAP_COLLECT_LITERAL_TOO_LARGE;
			break;
		}
		if (size >= c->spill_min && c->spill_open != NULL &&
		    !c->spilled && !c->discard) {
			int fd = c->spill_open(c->spill_arg, c->cmd.data,
			                       c->cmd.len);
			if (fd >= 0) {
				c->spilled = c->spilling = size > 0;
				c->spill_fd = fd;
				c->spill_len = size;
				c->spill_at = c->seg_start + brace;
			}
		}
		if (!c->spilling && !c->discard &&
		    (size > IMAP_LITERAL_MEMORY_MAX ||
		     collect_held(c) + size > lim->command_max)) {
			st = IMAP_COLLECT_LITERAL_TOO_LARGE;
			break;
		}
		c->literal_left = size;
		c->seg_start = c->cmd.len;
		if (!c->discard) {
			st = IMAP_COLLECT_LITERAL;
			break;
		}
		if (sync) {
			/* a refused command asks for more: refuse it now */
			st = IMAP_COLLECT_LITERAL;
			break;
		}
	}
	*consumed = i;
	return st;
}

/* Literal octets to the spill file; a failed write (a full disk) is
 * remembered and the rest of the literal is read and dropped, so the
 * command still ends where the client thinks and can be answered NO. */
static void
collect_spill_write(struct imap_collector *c, const uint8_t *p, size_t n)
{
	while (n > 0 && !c->spill_error) {
		ssize_t w = write(c->spill_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			c->spill_error = true;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
}

void
imap_collect_accept(struct imap_collector *c)
{
	(void)c; /* literal_left is already set; kept for readable callers */
}

void
imap_collect_discard(struct imap_collector *c)
{
	c->discard = true;
	if (c->spilled) {
		close(c->spill_fd);
		c->spilled = c->spilling = false;
	}
}

void
imap_collect_reset(struct imap_collector *c)
{
	bool raw = c->raw;
	imap_collect_free(c);
	c->raw = raw;
}

void
imap_collect_free(struct imap_collector *c)
{
	if (c->spilled)
		close(c->spill_fd);
	c->spilled = c->spilling = c->spill_error = false;
	buf_free(&c->cmd);
	c->text_len = 0;
	c->literal_octets = 0;
	c->cr_pending = false;
	c->discard = false;
	c->literal_left = 0;
	c->literal_sync = false;
	c->raw = false;
	c->literals = 0;
	c->seg_start = 0;
}

enum imap_head_status
imap_parse_head(const uint8_t *p, size_t n, struct imap_command *cmd)
{
	size_t i = 0;
	while (i < n && p[i] != ' ') {
		if (!imap_is_tag_char(p[i]) || i >= IMAP_TAG_MAX)
			return IMAP_HEAD_BAD_TAG;
		i++;
	}
	if (i == 0)
		return IMAP_HEAD_BAD_TAG;
	memcpy(cmd->tag, p, i);
	cmd->tag[i] = '\0';
	cmd->name[0] = '\0';
	cmd->rest = p + n;
	cmd->rest_len = 0;
	if (i == n)
		return IMAP_HEAD_BAD_NAME;
	i++; /* SP */
	size_t start = i;
	while (i < n && p[i] != ' ') {
		if (!imap_is_atom_char(p[i]) || i - start >= IMAP_NAME_MAX)
			return IMAP_HEAD_BAD_NAME;
		cmd->name[i - start] = (char)toupper(p[i]);
		i++;
	}
	cmd->name[i - start] = '\0';
	if (i == start)
		return IMAP_HEAD_BAD_NAME;
	cmd->rest = p + i;
	cmd->rest_len = n - i;
	return IMAP_HEAD_OK;
}

struct parse_ctx {
	struct arena *arena;
	const uint8_t *p;
	size_t n, pos;
	unsigned nesting_max;
	const char *err;
	const struct imap_spill *spill; /* NULL: every literal is inline */
};

static bool
parse_quoted(struct parse_ctx *ctx, struct imap_arg *arg)
{
	size_t start = ++ctx->pos, len = 0;
	bool escapes = false;
	for (;;) {
		if (ctx->pos >= ctx->n) {
			ctx->err = "Missing closing quote";
			return false;
		}
		uint8_t c = ctx->p[ctx->pos];
		if (c == '"')
			break;
		if (c == '\0') {
			ctx->err = "NUL in quoted string";
			return false;
		}
		if (c == '\\') {
			ctx->pos++;
			if (ctx->pos >= ctx->n || (ctx->p[ctx->pos] != '"' &&
			                           ctx->p[ctx->pos] != '\\')) {
				ctx->err = "Invalid escape in quoted string";
				return false;
			}
			escapes = true;
		}
		ctx->pos++;
		len++;
	}
	char *s = arena_alloc(ctx->arena, len + 1);
	if (s == NULL) {
		ctx->err = "Out of memory";
		return false;
	}
	if (!escapes) {
		memcpy(s, ctx->p + start, len);
	} else {
		size_t o = 0;
		for (size_t i = start; i < ctx->pos; i++) {
			if (ctx->p[i] == '\\')
				i++;
			s[o++] = (char)ctx->p[i];
		}
	}
	s[len] = '\0';
	ctx->pos++; /* closing quote */
	arg->type = IMAP_ARG_QUOTED;
	arg->str = s;
	arg->len = len;
	return true;
}

static bool
parse_literal(struct parse_ctx *ctx, struct imap_arg *arg)
{
	uint64_t size = 0;
	size_t digits = 0;
	size_t brace = ctx->pos;
	ctx->pos++; /* { */
	while (ctx->pos < ctx->n && ctx->p[ctx->pos] >= '0' &&
	       ctx->p[ctx->pos] <= '9' && digits < IMAP_LITERAL_DIGITS_MAX) {
		size = size * 10 + (uint64_t)(ctx->p[ctx->pos++] - '0');
		digits++;
	}
	if (ctx->pos < ctx->n && ctx->p[ctx->pos] == '+')
		ctx->pos++;
	if (digits == 0 || ctx->pos >= ctx->n || ctx->p[ctx->pos] != '}') {
		ctx->err = "Invalid literal";
		return false;
	}
	ctx->pos++;
	if (ctx->spill != NULL && brace == ctx->spill->at) {
		/* its octets are in the spill file, not here */
		arg->type = IMAP_ARG_LITERAL;
		arg->str = "";
		arg->len = (size_t)size;
		arg->spilled = true;
		if (size != ctx->spill->len) {
			ctx->err = "Invalid literal";
			return false;
		}
		return true;
	}
	if (size > ctx->n - ctx->pos) {
		/* The collector frames literals only at line ends. */
		ctx->err = "Literal not at end of line";
		return false;
	}
	char *s = arena_strndup(ctx->arena, (const char *)ctx->p + ctx->pos,
	                        (size_t)size);
	if (s == NULL) {
		ctx->err = "Out of memory";
		return false;
	}
	ctx->pos += (size_t)size;
	arg->type = IMAP_ARG_LITERAL;
	arg->str = s;
	arg->len = (size_t)size;
	return true;
}

/*
 * Scans an atom from ctx->pos. With sections, a "[" opens a part that
 * runs to its "]" across spaces, lists and quotes, as a FETCH attribute's
 * BODY[HEADER.FIELDS (FROM "TO")] needs (field names are astrings, RFC
 * 3501 9); *unclosed tells that one never closed.
 */
static bool
scan_atom(struct parse_ctx *ctx, bool sections, bool *unclosed)
{
	unsigned brackets = 0;
	while (ctx->pos < ctx->n) {
		uint8_t c = ctx->p[ctx->pos];
		if (c == '[' && sections) {
			brackets++;
		} else if (c == ']' && brackets > 0) {
			brackets--;
		} else if (brackets > 0 &&
		           (c == ' ' || c == '(' || c == ')' || c == '"')) {
			/* inside a section */
		} else if (c == ' ' || c == ')' || c == '(') {
			break;
		} else if (c >= 0x80) {
			ctx->err = "8-bit character in atom";
			return false;
		} else if (c < 0x20 || c == 0x7f) {
			ctx->err = "Control character in atom";
			return false;
		} else if (c == '"' || c == '{') {
			ctx->err = "Unexpected character in atom";
			return false;
		}
		ctx->pos++;
	}
	*unclosed = brackets > 0;
	return true;
}

static bool
parse_atom(struct parse_ctx *ctx, struct imap_arg *arg)
{
	size_t start = ctx->pos;
	bool unclosed;
	if (!scan_atom(ctx, true, &unclosed) || unclosed) {
		/* "[" is an ATOM-CHAR (only "]" is a resp-special), so a
		 * mailbox may be named "a[b": without its "]" the "[" opened
		 * no section and the atom ends at the first space or
		 * parenthesis (what followed may be a literal, which a
		 * section may not hold). A FETCH attribute cut short this
		 * way is refused by FETCH. */
		ctx->pos = start;
		ctx->err = NULL;
		if (!scan_atom(ctx, false, &unclosed))
			return false;
	}
	arg->type = IMAP_ARG_ATOM;
	arg->str = arena_strndup(ctx->arena, (const char *)ctx->p + start,
	                         ctx->pos - start);
	arg->len = ctx->pos - start;
	if (arg->str == NULL) {
		ctx->err = "Out of memory";
		return false;
	}
	return true;
}

static bool parse_seq(struct parse_ctx *ctx, unsigned depth, bool in_list,
                      struct imap_arg **out, size_t *count);

static bool
parse_one(struct parse_ctx *ctx, unsigned depth, struct imap_arg *arg)
{
	memset(arg, 0, sizeof(*arg));
	switch (ctx->p[ctx->pos]) {
	case '(':
		if (depth + 1 > ctx->nesting_max) {
			ctx->err = "Too deeply nested lists";
			return false;
		}
		ctx->pos++;
		arg->type = IMAP_ARG_LIST;
		return parse_seq(ctx, depth + 1, true, &arg->list, &arg->count);
	case '"':
		return parse_quoted(ctx, arg);
	case '{':
		return parse_literal(ctx, arg);
	case '~':
		if (ctx->pos + 1 < ctx->n && ctx->p[ctx->pos + 1] == '{') {
			arg->binary = true; /* literal8 (RFC 3516) */
			ctx->pos++;
			return parse_literal(ctx, arg);
		}
		return parse_atom(ctx, arg);
	case ')':
		ctx->err = "Unexpected ')'";
		return false;
	case ' ':
		ctx->err = "Unexpected extra space";
		return false;
	default:
		return parse_atom(ctx, arg);
	}
}

static bool
parse_seq(struct parse_ctx *ctx, unsigned depth, bool in_list,
          struct imap_arg **out, size_t *count)
{
	struct imap_arg *args = NULL;
	size_t n = 0, cap = 0;
	bool first = true;

	for (;;) {
		if (ctx->pos >= ctx->n) {
			if (in_list) {
				ctx->err = "Missing ')'";
				return false;
			}
			break;
		}
		if (in_list && ctx->p[ctx->pos] == ')') {
			ctx->pos++;
			break;
		}
		if (!first) {
			if (ctx->p[ctx->pos] != ' ') {
				ctx->err = "Missing space between arguments";
				return false;
			}
			ctx->pos++;
			if (ctx->pos >= ctx->n) {
				ctx->err = "Trailing space";
				return false;
			}
		}
		first = false;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct imap_arg *na =
			        arena_alloc(ctx->arena, ncap * sizeof(*na));
			if (na == NULL) {
				ctx->err = "Out of memory";
				return false;
			}
			if (n > 0)
				memcpy(na, args, n * sizeof(*na));
			args = na;
			cap = ncap;
		}
		if (!parse_one(ctx, depth, &args[n]))
			return false;
		n++;
	}
	*out = args;
	*count = n;
	return true;
}

bool
imap_parse_args(struct arena *a, const uint8_t *p, size_t n,
                unsigned nesting_max, const struct imap_spill *spill,
                struct imap_arg **args, size_t *count, const char **err)
{
	struct parse_ctx ctx = {a, p, n, 0, nesting_max, NULL, spill};
	*args = NULL;
	*count = 0;
	if (n == 0)
		return true;
	if (p[0] != ' ') {
		*err = "Missing space after command name";
		return false;
	}
	ctx.pos = 1;
	if (ctx.pos >= n) {
		*err = "Trailing space";
		return false;
	}
	if (!parse_seq(&ctx, 0, false, args, count)) {
		*err = ctx.err;
		return false;
	}
	return true;
}

bool
imap_arg_is_astring(const struct imap_arg *arg)
{
	return arg->type != IMAP_ARG_LIST;
}

bool
imap_arg_is_nil(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_ATOM && arg->len == 3 &&
	       strcasecmp(arg->str, "NIL") == 0;
}
