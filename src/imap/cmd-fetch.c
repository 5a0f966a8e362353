/* FETCH and STORE, and their UID forms. */
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"
#include "mail/mime.h"

#define IMAP_FETCH_ITEMS_MAX 64
/* Whole-message items (BODY[], RFC822, BINARY[]) of messages at least this
 * large are copied from the file to the client a chunk at a time, never
 * held whole in memory; smaller ones are answered from a loaded copy. */
#define IMAP_FETCH_STREAM_MIN (256 * 1024)
/* Octets read from a message file per streamed chunk. */
#define IMAP_FETCH_STREAM_CHUNK (64 * 1024)

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	/* the kinds from here on need the message's octets */
	FETCH_ENVELOPE,
	FETCH_BODYSTRUCTURE,
	FETCH_BODY, /* the non-extensible structure */
	FETCH_SECTION,
	FETCH_RFC822,        /* = BODY[] */
	FETCH_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	FETCH_RFC822_TEXT,   /* = BODY[TEXT] */
	FETCH_BINARY,        /* BINARY[part] (RFC 3516) */
	FETCH_BINARY_SIZE,   /* BINARY.SIZE[part] */
};

struct fetch_item {
	enum fetch_kind kind;
	bool peek;
	const char *section; /* inside the brackets */
	bool partial;
	uint64_t offset, length;
	const char *label; /* how the response names it */
};

/* section = [part *("." part)] ["." (HEADER / HEADER.FIELDS[.NOT] list
 * / TEXT / MIME)], MIME only after a part, parts non-zero (RFC 3501 9). */
static bool
fetch_section_valid(const char *sec)
{
	const char *p = sec;
	bool part = false;
	while (isdigit((unsigned char)*p)) {
		if (*p == '0')
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		part = true;
		if (*p != '.')
			break;
		p++;
	}
	if (*p == '\0')
		return !part || p[-1] != '.';
	if (part && p[-1] != '.')
		return false;
	if (strcmp(p, "HEADER") == 0 || strcmp(p, "TEXT") == 0)
		return true;
	if (strcmp(p, "MIME") == 0)
		return part;
	if (strncmp(p, "HEADER.FIELDS", 13) != 0)
		return false;
	p += 13;
	if (strncmp(p, ".NOT", 4) == 0)
		p += 4;
	if (p[0] != ' ' || p[1] != '(')
		return false;
	p += 2;
	size_t n = strlen(p);
	/* at least one name, then the closing parenthesis */
	return n >= 2 && p[n - 1] == ')' && p[0] != ')' && p[0] != ' ';
}

/* section-binary = "[" [section-part] "]": non-zero numbers and dots. */
static bool
fetch_binary_section_valid(const char *sec)
{
	const char *p = sec;
	if (*p == '\0')
		return true;
	for (;;) {
		if (!isdigit((unsigned char)*p) || *p == '0')
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '\0')
			return true;
		if (*p++ != '.')
			return false;
	}
}

static bool
fetch_parse_item(struct imap_cmd_ctx *ctx, const char *s, struct fetch_item *it)
{
	static const struct {
		const char *name;
		enum fetch_kind kind;
	} simple[] = {
	        {"FLAGS", FETCH_FLAGS},
	        {"UID", FETCH_UID},
	        {"INTERNALDATE", FETCH_INTERNALDATE},
	        {"RFC822.SIZE", FETCH_SIZE},
	        {"ENVELOPE", FETCH_ENVELOPE},
	        {"BODYSTRUCTURE", FETCH_BODYSTRUCTURE},
	        {"BODY", FETCH_BODY},
	        {"RFC822", FETCH_RFC822},
	        {"RFC822.HEADER", FETCH_RFC822_HEADER},
	        {"RFC822.TEXT", FETCH_RFC822_TEXT},
	};
	static const struct {
		const char *name;
		enum fetch_kind kind;
		bool peek;
	} sectioned[] = {
	        {"BODY", FETCH_SECTION, false},
	        {"BODY.PEEK", FETCH_SECTION, true},
	        {"BINARY", FETCH_BINARY, false},
	        {"BINARY.PEEK", FETCH_BINARY, true},
	        {"BINARY.SIZE", FETCH_BINARY_SIZE, true},
	};
	memset(it, 0, sizeof(*it));
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcasecmp(s, simple[i].name) == 0) {
			it->kind = simple[i].kind;
			it->label = simple[i].name;
			return true;
		}
	const char *br = strchr(s, '[');
	if (br == NULL)
		return false;
	size_t nlen = (size_t)(br - s), k;
	for (k = 0; k < sizeof(sectioned) / sizeof(sectioned[0]); k++)
		if (nlen == strlen(sectioned[k].name) &&
		    strncasecmp(s, sectioned[k].name, nlen) == 0)
			break;
	if (k == sizeof(sectioned) / sizeof(sectioned[0]))
		return false;
	it->kind = sectioned[k].kind;
	it->peek = sectioned[k].peek;
	const char *close = strrchr(s, ']');
	if (close == NULL || close < br)
		return false;
	char *sec =
	        arena_strndup(&ctx->arena, br + 1, (size_t)(close - br - 1));
	if (sec == NULL)
		return false;
	for (char *p = sec; *p && *p != '('; p++)
		*p = (char)toupper((unsigned char)*p);
	if (it->kind == FETCH_SECTION ? !fetch_section_valid(sec)
	                              : !fetch_binary_section_valid(sec))
		return false;
	it->section = sec;
	const char *rest = close + 1;
	if (*rest == '<' && it->kind != FETCH_BINARY_SIZE) {
		unsigned long long off, len;
		char tail;
		if (sscanf(rest, "<%llu.%llu%c", &off, &len, &tail) != 3 ||
		    tail != '>' || len == 0 || rest[strlen(rest) - 1] != '>')
			return false;
		it->partial = true;
		it->offset = off;
		it->length = len;
	} else if (*rest != '\0') {
		return false;
	}
	return true;
}

/* Expands ALL, FAST, FULL and parses each item. */
static size_t
fetch_items(struct imap_cmd_ctx *ctx, const struct imap_arg *a,
            struct fetch_item *items, bool *ok)
{
	static const char *const all[] = {"FLAGS", "INTERNALDATE",
	                                  "RFC822.SIZE", "ENVELOPE"};
	static const char *const full[] = {"FLAGS", "INTERNALDATE",
	                                   "RFC822.SIZE", "ENVELOPE", "BODY"};
	const struct imap_arg *list = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t n = a->type == IMAP_ARG_LIST ? a->count : 1, k = 0;
	*ok = n > 0;
	if (a->type == IMAP_ARG_ATOM) {
		const char *const *macro = NULL;
		size_t mn = 0;
		if (strcasecmp(a->str, "ALL") == 0) {
			macro = all;
			mn = 4;
		} else if (strcasecmp(a->str, "FAST") == 0) {
			macro = all;
			mn = 3;
		} else if (strcasecmp(a->str, "FULL") == 0) {
			macro = full;
			mn = 5;
		}
		for (size_t i = 0; i < mn; i++)
			fetch_parse_item(ctx, macro[i], &items[k++]);
		if (macro != NULL)
			return k;
	}
	for (size_t i = 0; i < n && *ok; i++) {
		if (list[i].type != IMAP_ARG_ATOM ||
		    k == IMAP_FETCH_ITEMS_MAX ||
		    !fetch_parse_item(ctx, list[i].str, &items[k])) {
			*ok = false;
			break;
		}
		k++;
	}
	return k;
}

/* The octets p[0 .. n) cut to the item's <offset.length>, with the
 * "<offset>" the response then carries. */
static void
fetch_cut(struct buf *o, const struct fetch_item *it, const uint8_t **p,
          size_t *n)
{
	if (!it->partial)
		return;
	buf_printf(o, "<%llu>", (unsigned long long)it->offset);
	if (it->offset >= *n) {
		*p += *n;
		*n = 0;
		return;
	}
	*p += it->offset;
	*n -= (size_t)it->offset;
	if (*n > it->length)
		*n = (size_t)it->length;
}

/* A literal; literal8 ("~{n}", RFC 3516) when binary holds a NUL. */
static void
fetch_literal(struct buf *out, const uint8_t *p, size_t n, bool binary)
{
	bool nul = binary && memchr(p, '\0', n) != NULL;
	buf_printf(out, " %s{%zu}\r\n", nul ? "~" : "", n);
	buf_append(out, p, n);
}

/* One BODY[...] item: the section, cut to <offset.length>. */
static bool
fetch_section(struct imap_cmd_ctx *ctx, const struct fetch_item *it,
              const struct mime_message *mm, const struct buf *msg)
{
	struct buf part = BUF_INIT;
	struct mime_section sec;
	if (!mime_section(mm, it->section, &sec))
		return false;
	mime_section_write(mm, &sec, msg->data, &part);
	buf_printf(ctx->out, "BODY[%s]", it->section);
	const uint8_t *p = buf_head(&part);
	size_t n = buf_used(&part);
	fetch_cut(ctx->out, it, &p, &n);
	fetch_literal(ctx->out, p, n, false);
	buf_free(&part);
	return true;
}

/* One BINARY[...] or BINARY.SIZE[...] item; false with *unknown_cte set
 * if the part's encoding cannot be undone (then the command says NO). */
static bool
fetch_binary(struct imap_cmd_ctx *ctx, const struct fetch_item *it,
             const struct mime_message *mm, const struct buf *msg,
             bool *unknown_cte)
{
	struct buf dec = BUF_INIT;
	enum mime_binary_result r =
	        mime_binary(mm, it->section, msg->data, &dec);
	if (r == MIME_BINARY_UNKNOWN_CTE)
		*unknown_cte = true;
	if (r != MIME_BINARY_OK) {
		buf_free(&dec);
		return false;
	}
	const uint8_t *p = buf_head(&dec);
	size_t n = buf_used(&dec);
	if (it->kind == FETCH_BINARY_SIZE) {
		buf_printf(ctx->out, "BINARY.SIZE[%s] %zu", it->section, n);
	} else {
		buf_printf(ctx->out, "BINARY[%s]", it->section);
		fetch_cut(ctx->out, it, &p, &n);
		fetch_literal(ctx->out, p, n, true);
	}
	buf_free(&dec);
	return true;
}

/* ENVELOPE, BODYSTRUCTURE and BODY of message seq into v[]: from the
 * folder's cache when mm is NULL (false on a miss), else computed from
 * its parsed MIME structure mm and cached for next time. */
static bool
fetch_cached_struct(struct mailbox *mb, uint32_t seq,
                    const struct mime_message *mm,
                    struct buf v[MAIL_CACHE_NFIELDS])
{
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		buf_clear(&v[f]);
	if (mm == NULL) {
		for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
			if (!mailbox_cache_get(mb, seq, f, &v[f]))
				return false;
		return true;
	}
	mime_write_envelope(&v[MAIL_CACHE_ENVELOPE], mm);
	mime_write_bodystructure(&v[MAIL_CACHE_BODYSTRUCTURE], mm, true);
	mime_write_bodystructure(&v[MAIL_CACHE_BODY], mm, false);
	mailbox_cache_put(mb, seq, v);
	return true;
}

static void
fetch_put_cached(struct buf *o, const char *label, const struct buf *v)
{
	buf_append_str(o, label);
	buf_append(o, buf_head(v), buf_used(v));
}

/* The item is the whole message as stored (with CRLF line ends). */
static bool
fetch_whole(const struct fetch_item *it)
{
	return it->kind == FETCH_RFC822 ||
	       ((it->kind == FETCH_SECTION || it->kind == FETCH_BINARY) &&
	        it->section[0] == '\0');
}

void
imap_fetch_resume_clear(struct imap_fetch_resume *r)
{
	mail_stream_close(r->msg);
	memset(r, 0, sizeof(*r));
}

/*
 * Copies the next part of a streamed literal from the open message to out,
 * skipping the first r->skip octets (a partial fetch). Stops when the
 * literal is complete or out holds IMAP_MAIL_OUTPUT_CHUNK. The literal's
 * length is the stream's own size, taken from the file opened before it
 * was announced, so the octets are there; only a file changed under us
 * (truncated by something else) breaks the promise: r->broken, and the
 * connection must end, as no response can follow half a literal.
 */
static void
fetch_stream_pump(struct imap_fetch_resume *r, struct buf *out)
{
	static _Thread_local uint8_t conv[2 * IMAP_FETCH_STREAM_CHUNK];
	while (r->left > 0 && buf_used(out) < IMAP_MAIL_OUTPUT_CHUNK) {
		ssize_t n = mail_stream_read(r->msg, conv, sizeof(conv));
		if (n <= 0) {
			r->broken = true;
			break;
		}
		size_t c = (size_t)n;
		const uint8_t *p = conv;
		if (r->skip > 0) {
			size_t k = r->skip > c ? c : (size_t)r->skip;
			p += k;
			c -= k;
			r->skip -= k;
		}
		if (c > r->left)
			c = (size_t)r->left;
		buf_append(out, p, c);
		r->left -= c;
	}
	if (r->left == 0 || r->broken)
		r->streaming = false;
}

/* Starts streaming a whole-message item from the open message: writes its
 * label and literal announcement, then as much as fits. */
static void
fetch_stream_start(struct imap_cmd_ctx *ctx, const struct fetch_item *it,
                   struct imap_fetch_resume *r)
{
	struct buf *o = ctx->out;
	uint64_t size = mail_stream_size(r->msg), off = 0, len = size;
	if (!mail_stream_rewind(r->msg)) {
		r->broken = true;
		return;
	}
	if (it->kind == FETCH_RFC822)
		buf_append_str(o, "RFC822");
	else
		buf_printf(o, "%s[]",
		           it->kind == FETCH_BINARY ? "BINARY" : "BODY");
	if (it->partial) {
		buf_printf(o, "<%llu>", (unsigned long long)it->offset);
		off = it->offset < size ? it->offset : size;
		len = size - off < it->length ? size - off : it->length;
	}
	buf_printf(o, " {%llu}\r\n", (unsigned long long)len);
	r->streaming = len > 0;
	r->skip = off;
	r->left = len;
	fetch_stream_pump(r, o);
}

/*
 * One message's FETCH response, or the rest of it when resuming a
 * streamed literal. False when it stopped inside a streamed literal
 * (r says where); *unknown_cte is set for a BINARY part we cannot decode.
 * A message whose octets are needed is opened before anything of its
 * response is written, and stays open until the response is complete:
 * if its file is gone already the message is left out (r->expunged),
 * and once it is open another session's EXPUNGE no longer matters.
 */
static bool
fetch_one(struct imap_cmd_ctx *ctx, uint32_t seq, const struct fetch_item *it,
          size_t nitems, bool uid, struct imap_fetch_resume *r,
          bool *unknown_cte)
{
	struct mailbox *mb = ctx->s->mb;
	const struct mail_msg *m = mailbox_msg(mb, seq);
	bool resuming = r->in_msg;
	size_t start = resuming ? r->item + 1 : 0;
	bool stream = m->size >= IMAP_FETCH_STREAM_MIN;
	bool need_msg = false, need_stream = false, set_seen = false,
	     has_uid = false, has_flags = false;
	bool need_struct = false; /* ENVELOPE, BODYSTRUCTURE, BODY */
	for (size_t i = 0; i < nitems; i++) {
		enum fetch_kind k = it[i].kind;
		if (i >= start) {
			bool whole = stream && fetch_whole(&it[i]) &&
			             k != FETCH_BINARY_SIZE;
			need_msg |= k > FETCH_BODY && !whole;
			need_stream |= whole;
			need_struct |= k >= FETCH_ENVELOPE && k <= FETCH_BODY;
		}
		set_seen |= ((k == FETCH_SECTION || k == FETCH_BINARY) &&
		             !it[i].peek) ||
		            k == FETCH_RFC822 || k == FETCH_RFC822_TEXT;
		has_uid |= k == FETCH_UID;
		has_flags |= k == FETCH_FLAGS;
	}
	struct buf *o = ctx->out;
	if (r->streaming) {
		fetch_stream_pump(r, o);
		if (r->streaming || r->broken)
			return false;
	}
	struct buf msg = BUF_INIT;
	struct mime_message *mm = NULL;
	struct buf cs[MAIL_CACHE_NFIELDS] = {BUF_INIT, BUF_INIT, BUF_INIT};
	bool cached = need_struct && fetch_cached_struct(mb, seq, NULL, cs);
	need_msg |= need_struct && !cached;
	if (!resuming && (need_msg || need_stream)) {
		char err[256];
		enum mail_result res =
		        mailbox_msg_open(mb, seq, &r->msg, err, sizeof(err));
		if (res != MAIL_OK) {
			for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
				buf_free(&cs[f]);
			if (res == MAIL_NO)
				r->expunged = true;
			else
				log_warn("fetch: user=%s: %s", ctx->s->user,
				         err);
			r->failed |= res != MAIL_NO;
			return true; /* left out: nothing was written */
		}
	}
	if (need_msg) {
		if (!mail_stream_rewind(r->msg) ||
		    !mail_stream_load(r->msg, &msg)) {
			/* the open file failed us: a response is begun
			 * (when resuming) and must end */
			buf_free(&msg);
			for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
				buf_free(&cs[f]);
			r->broken = true;
			return false;
		}
		mm = mime_parse(msg.data, msg.len);
		if (need_struct && !cached)
			cached = fetch_cached_struct(mb, seq, mm, cs);
	}
	bool first = !resuming;
	if (!resuming) {
		bool flags_changed = false;
		if (set_seen && !(m->flags & MAIL_SEEN) &&
		    !mailbox_readonly(mb)) {
			char err[256];
			if (mailbox_change_flags(mb, seq, MAIL_FLAGS_ADD,
			                         MAIL_SEEN, 0, err,
			                         sizeof(err)) == MAIL_OK)
				flags_changed = true;
			m = mailbox_msg(mb, seq);
		}
		buf_printf(o, "* %u FETCH (", seq);
		if (uid && !has_uid) {
			buf_printf(o, "UID %u", m->uid);
			first = false;
		}
		if (flags_changed && !has_flags) {
			if (!first)
				buf_append(o, " ", 1);
			imap_write_flags(o, mb, m);
			first = false;
		}
	}
	size_t i;
	for (i = start; i < nitems; i++) {
		if (!first)
			buf_append(o, " ", 1);
		first = false;
		switch (it[i].kind) {
		case FETCH_FLAGS:
			imap_write_flags(o, mb, m);
			break;
		case FETCH_UID:
			buf_printf(o, "UID %u", m->uid);
			break;
		case FETCH_INTERNALDATE:
			buf_append_str(o, "INTERNALDATE ");
			imap_write_datetime(o, mailbox_msg_date(mb, seq));
			break;
		case FETCH_SIZE:
			/* the open message's size is the one its literals
			 * have */
			buf_printf(
			        o, "RFC822.SIZE %llu",
			        (unsigned long long)(r->msg != NULL
			                                     ? mail_stream_size(
			                                               r->msg)
			                                     : m->size));
			break;
		case FETCH_ENVELOPE:
			fetch_put_cached(o, "ENVELOPE ",
			                 &cs[MAIL_CACHE_ENVELOPE]);
			break;
		case FETCH_BODYSTRUCTURE:
			fetch_put_cached(o, "BODYSTRUCTURE ",
			                 &cs[MAIL_CACHE_BODYSTRUCTURE]);
			break;
		case FETCH_BODY:
			fetch_put_cached(o, "BODY ", &cs[MAIL_CACHE_BODY]);
			break;
		case FETCH_RFC822:
			if (stream)
				break; /* streamed below */
			buf_append_str(o, "RFC822");
			fetch_literal(o, msg.data, msg.len, false);
			break;
		case FETCH_RFC822_HEADER:
		case FETCH_RFC822_TEXT: {
			struct mime_section sec;
			struct buf part = BUF_INIT;
			bool head = it[i].kind == FETCH_RFC822_HEADER;
			if (mime_section(mm, head ? "HEADER" : "TEXT", &sec))
				mime_section_write(mm, &sec, msg.data, &part);
			buf_append_str(o, it[i].label);
			fetch_literal(o, buf_head(&part), buf_used(&part),
			              false);
			buf_free(&part);
			break;
		}
		case FETCH_SECTION:
			if (stream && fetch_whole(&it[i]))
				break;
			if (!fetch_section(ctx, &it[i], mm, &msg))
				buf_printf(o, "BODY[%s] NIL", it[i].section);
			break;
		case FETCH_BINARY:
		case FETCH_BINARY_SIZE:
			if (stream && fetch_whole(&it[i]) &&
			    it[i].kind == FETCH_BINARY)
				break;
			if (!fetch_binary(ctx, &it[i], mm, &msg, unknown_cte))
				buf_printf(o, "%s[%s] NIL",
				           it[i].kind == FETCH_BINARY
				                   ? "BINARY"
				                   : "BINARY.SIZE",
				           it[i].section);
			break;
		}
		if (stream && fetch_whole(&it[i]) &&
		    it[i].kind != FETCH_BINARY_SIZE) {
			fetch_stream_start(ctx, &it[i], r);
			if (r->streaming || r->broken) {
				r->in_msg = true;
				r->item = i;
				break;
			}
		}
	}
	if (mm != NULL)
		mime_free(mm);
	buf_free(&msg);
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		buf_free(&cs[f]);
	if (i < nitems)
		return false;
	buf_append_str(o, ")\r\n");
	r->in_msg = false;
	mail_stream_close(r->msg);
	r->msg = NULL;
	return true;
}

enum imap_action
imap_fetch(struct imap_cmd_ctx *ctx, bool uid)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	struct imap_fetch_resume *r = &ctx->s->fetch;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count != 2 || args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(ctx, "FETCH takes a set and items.");
	struct fetch_item items[IMAP_FETCH_ITEMS_MAX];
	bool ok;
	size_t nitems = fetch_items(ctx, &args[1], items, &ok);
	if (!ok)
		return imap_cmd_bad(ctx, "Invalid FETCH item.");
	size_t n;
	uint32_t *seqs = imap_set_seqs(ctx, args[0].str, uid, &n);
	if (seqs == NULL)
		return imap_cmd_bad(ctx, "Invalid sequence set.");
	if (!uid && n == 0 && mailbox_count(ctx->s->mb) == 0)
		return imap_cmd_bad(ctx, "No messages.");
	/* A FETCH stops once IMAP_MAIL_OUTPUT_CHUNK of responses are
	 * waiting and goes on when they have been read (the session runs
	 * the same command again, and r says where it stopped), so neither
	 * FETCH 1:* nor a 50 MB body is ever held whole in memory. */
	size_t i = r->active ? r->next : 0;
	bool unknown_cte = r->unknown_cte;
	if (!r->active)
		imap_mail_report_keywords(ctx);
	for (; i < n; i++) {
		bool done = fetch_one(ctx, seqs[i], items, nitems, uid, r,
		                      &unknown_cte);
		if (r->broken) {
			/* half a response is out and cannot be finished */
			log_error("fetch: user=%s: message %u could not be "
			          "read to its end; closing the connection",
			          ctx->s->user, seqs[i]);
			imap_fetch_resume_clear(r);
			ctx->s->state = IMAP_STATE_LOGOUT;
			return IMAP_ACTION_CLOSE;
		}
		if (!done || (buf_used(ctx->out) >= IMAP_MAIL_OUTPUT_CHUNK &&
		              i + 1 < n)) {
			r->active = true;
			r->next = done ? i + 1 : i;
			r->unknown_cte = unknown_cte;
			ctx->s->mail_more = true;
			return IMAP_ACTION_NONE;
		}
	}
	bool expunged = r->expunged, failed = r->failed;
	imap_fetch_resume_clear(r);
	mailbox_flush(ctx->s->mb); /* \Seen set by BODY[] is durable now */
	if (failed)
		return imap_cmd_no(ctx, "SERVERBUG",
		                   "Some messages could not be read.");
	if (unknown_cte)
		return imap_cmd_no(ctx, "UNKNOWN-CTE",
		                   "Cannot decode a part's "
		                   "Content-Transfer-Encoding.");
	/* RFC 9051 7.1: what the client asked for was partly expunged by
	 * another session; it learns which at its next sync */
	if (expunged)
		return imap_cmd_ok(ctx, "EXPUNGEISSUED",
		                   "Some messages were already expunged.");
	return imap_cmd_ok(ctx, NULL, "Fetch completed.");
}

enum imap_action
imap_cmd_fetch(struct imap_cmd_ctx *ctx)
{
	return imap_fetch(ctx, false);
}

enum imap_action
imap_store_flags(struct imap_cmd_ctx *ctx, bool uid)
{
	struct mailbox *mb = ctx->s->mb;
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (count < 3 || args[0].type != IMAP_ARG_ATOM ||
	    args[1].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(ctx, "STORE takes a set, an item and "
		                         "flags.");
	const char *item = args[1].str;
	int mode = item[0] == '+' ? 1 : item[0] == '-' ? -1 : 0;
	if (mode != 0)
		item++;
	bool silent = strcasecmp(item, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(item, "FLAGS") != 0)
		return imap_cmd_bad(ctx, "STORE item must be FLAGS, +FLAGS or "
		                         "-FLAGS (.SILENT).");
	uint32_t flags = 0;
	const char *kwnames[MAIL_KEYWORDS_MAX];
	size_t nkw = 0;
	/* a list, or flags as separate atoms (RFC 3501 allows both) */
	struct imap_arg listarg = {
	        .type = IMAP_ARG_LIST, .list = &args[2], .count = count - 2};
	const struct imap_arg *fl = count == 3 && args[2].type == IMAP_ARG_LIST
	                                    ? &args[2]
	                                    : &listarg;
	if (!imap_parse_flag_list(fl, &flags, kwnames, &nkw))
		return imap_cmd_bad(ctx, "Invalid flags.");
	flags &= ~MAIL_RECENT;
	if (mailbox_readonly(mb))
		return imap_cmd_no(ctx, "READ-ONLY",
		                   "The mailbox is read-only.");
	uint32_t kwmask = 0;
	for (size_t i = 0; i < nkw; i++) {
		int k = mailbox_keyword_index(mb, kwnames[i]);
		if (k == MAIL_KEYWORD_NOSPACE)
			return imap_cmd_no(ctx, "OVERQUOTA",
			                   "Not enough disk space.");
		if (k == MAIL_KEYWORD_FAILED)
			return imap_cmd_no(ctx, "SERVERBUG",
			                   "Cannot record the keyword.");
		if (k < 0)
			return imap_cmd_no(ctx, "LIMIT", "Too many keywords.");
		kwmask |= 1u << k;
	}
	size_t n;
	uint32_t *seqs = imap_set_seqs(ctx, args[0].str, uid, &n);
	if (seqs == NULL)
		return imap_cmd_bad(ctx, "Invalid sequence set.");
	enum mail_flags_op op = mode == 0  ? MAIL_FLAGS_SET
	                        : mode > 0 ? MAIL_FLAGS_ADD
	                                   : MAIL_FLAGS_REMOVE;
	imap_mail_report_keywords(ctx); /* ours, if new: before any FETCH */
	for (size_t i = 0; i < n; i++) {
		char err[256];
		if (mailbox_change_flags(mb, seqs[i], op, flags, kwmask, err,
		                         sizeof(err)) != MAIL_OK)
			continue; /* gone meanwhile: the next sync says so */
		if (silent)
			continue;
		const struct mail_msg *m = mailbox_msg(mb, seqs[i]);
		buf_printf(ctx->out, "* %u FETCH (", seqs[i]);
		imap_write_flags(ctx->out, mb, m);
		if (uid)
			buf_printf(ctx->out, " UID %u", m->uid);
		buf_append_str(ctx->out, ")\r\n");
	}
	mailbox_flush(mb); /* durable before the tagged OK */
	return imap_cmd_ok(ctx, NULL, "Store completed.");
}

enum imap_action
imap_cmd_store(struct imap_cmd_ctx *ctx)
{
	return imap_store_flags(ctx, false);
}
