/* FETCH and STORE, and their UID forms. */
#include "commands.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "mail/mime.h"

#define IMAP_FETCH_ITEMS_MAX 64

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_ENVELOPE,
	FETCH_BODYSTRUCTURE,
	FETCH_BODY, /* the non-extensible structure */
	FETCH_SECTION,
	FETCH_RFC822,        /* = BODY[] */
	FETCH_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	FETCH_RFC822_TEXT,   /* = BODY[TEXT] */
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
	size_t nlen = (size_t)(br - s);
	if (nlen == 4 && strncasecmp(s, "BODY", 4) == 0)
		it->peek = false;
	else if (nlen == 9 && strncasecmp(s, "BODY.PEEK", 9) == 0)
		it->peek = true;
	else
		return false;
	const char *close = strrchr(s, ']');
	if (close == NULL || close < br)
		return false;
	char *sec =
	        arena_strndup(&ctx->arena, br + 1, (size_t)(close - br - 1));
	if (sec == NULL)
		return false;
	for (char *p = sec; *p && *p != '('; p++)
		*p = (char)toupper((unsigned char)*p);
	if (!fetch_section_valid(sec))
		return false;
	it->kind = FETCH_SECTION;
	it->section = sec;
	const char *rest = close + 1;
	if (*rest == '<') {
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

static void
fetch_literal(struct buf *out, const uint8_t *p, size_t n)
{
	buf_printf(out, "{%zu}\r\n", n);
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
	if (it->partial) {
		buf_printf(ctx->out, "<%llu>", (unsigned long long)it->offset);
		if (it->offset >= n) {
			p += n;
			n = 0;
		} else {
			p += it->offset;
			n -= (size_t)it->offset;
			if (n > it->length)
				n = (size_t)it->length;
		}
	}
	buf_append_str(ctx->out, " ");
	fetch_literal(ctx->out, p, n);
	buf_free(&part);
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

static bool
fetch_one(struct imap_cmd_ctx *ctx, uint32_t seq, const struct fetch_item *it,
          size_t nitems, bool uid)
{
	struct mailbox *mb = ctx->s->mb;
	const struct mail_msg *m = mailbox_msg(mb, seq);
	bool need_msg = false, set_seen = false, has_uid = false,
	     has_flags = false;
	bool need_struct = false; /* ENVELOPE, BODYSTRUCTURE, BODY */
	for (size_t i = 0; i < nitems; i++) {
		enum fetch_kind k = it[i].kind;
		need_msg |= k > FETCH_BODY;
		need_struct |= k >= FETCH_ENVELOPE && k <= FETCH_BODY;
		set_seen |= (k == FETCH_SECTION && !it[i].peek) ||
		            k == FETCH_RFC822 || k == FETCH_RFC822_TEXT;
		has_uid |= k == FETCH_UID;
		has_flags |= k == FETCH_FLAGS;
	}
	struct buf msg = BUF_INIT;
	struct mime_message *mm = NULL;
	struct buf cs[MAIL_CACHE_NFIELDS] = {BUF_INIT, BUF_INIT, BUF_INIT};
	bool cached = need_struct && fetch_cached_struct(mb, seq, NULL, cs);
	need_msg |= need_struct && !cached;
	if (need_msg) {
		if (!imap_mail_load(ctx->s->mb, seq, &msg)) {
			buf_free(&msg);
			for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
				buf_free(&cs[f]);
			return false; /* expunged by someone else meanwhile */
		}
		mm = mime_parse(msg.data, msg.len);
		if (need_struct && !cached)
			cached = fetch_cached_struct(mb, seq, mm, cs);
	}
	bool flags_changed = false;
	if (set_seen && !(m->flags & MAIL_SEEN) && !mailbox_readonly(mb)) {
		char err[256];
		if (mailbox_set_flags(mb, seq, m->flags | MAIL_SEEN,
		                      m->keywords, err, sizeof(err)) == MAIL_OK)
			flags_changed = true;
		m = mailbox_msg(mb, seq);
	}
	struct buf *o = ctx->out;
	buf_printf(o, "* %u FETCH (", seq);
	bool first = true;
#define SEP()                                                                  \
	do {                                                                   \
		if (!first)                                                    \
			buf_append(o, " ", 1);                                 \
		first = false;                                                 \
	} while (0)
	if (uid && !has_uid) {
		SEP();
		buf_printf(o, "UID %u", m->uid);
	}
	if (flags_changed && !has_flags) {
		SEP();
		imap_write_flags(o, mb, m);
	}
	for (size_t i = 0; i < nitems; i++) {
		SEP();
		switch (it[i].kind) {
		case FETCH_FLAGS:
			imap_write_flags(o, mb, m);
			break;
		case FETCH_UID:
			buf_printf(o, "UID %u", m->uid);
			break;
		case FETCH_INTERNALDATE:
			buf_append_str(o, "INTERNALDATE ");
			imap_write_datetime(o, m->internaldate);
			break;
		case FETCH_SIZE:
			buf_printf(o, "RFC822.SIZE %llu",
			           (unsigned long long)(need_msg ? msg.len
			                                         : m->size));
			break;
		case FETCH_ENVELOPE:
			buf_append_str(o, "ENVELOPE ");
			if (cached)
				buf_append(o,
				           buf_head(&cs[MAIL_CACHE_ENVELOPE]),
				           buf_used(&cs[MAIL_CACHE_ENVELOPE]));
			else
				mime_write_envelope(o, mm);
			break;
		case FETCH_BODYSTRUCTURE:
			buf_append_str(o, "BODYSTRUCTURE ");
			if (cached)
				buf_append(
				        o,
				        buf_head(&cs[MAIL_CACHE_BODYSTRUCTURE]),
				        buf_used(
				                &cs[MAIL_CACHE_BODYSTRUCTURE]));
			else
				mime_write_bodystructure(o, mm, true);
			break;
		case FETCH_BODY:
			buf_append_str(o, "BODY ");
			if (cached)
				buf_append(o, buf_head(&cs[MAIL_CACHE_BODY]),
				           buf_used(&cs[MAIL_CACHE_BODY]));
			else
				mime_write_bodystructure(o, mm, false);
			break;
		case FETCH_RFC822:
			buf_append_str(o, "RFC822 ");
			fetch_literal(o, msg.data, msg.len);
			break;
		case FETCH_RFC822_HEADER:
		case FETCH_RFC822_TEXT: {
			struct mime_section sec;
			struct buf part = BUF_INIT;
			bool head = it[i].kind == FETCH_RFC822_HEADER;
			if (mime_section(mm, head ? "HEADER" : "TEXT", &sec))
				mime_section_write(mm, &sec, msg.data, &part);
			buf_printf(o, "%s ", it[i].label);
			fetch_literal(o, buf_head(&part), buf_used(&part));
			buf_free(&part);
			break;
		}
		case FETCH_SECTION:
			if (!fetch_section(ctx, &it[i], mm, &msg)) {
				buf_printf(o, "BODY[%s] NIL", it[i].section);
			}
			break;
		}
	}
#undef SEP
	buf_append_str(o, ")\r\n");
	if (mm != NULL)
		mime_free(mm);
	buf_free(&msg);
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		buf_free(&cs[f]);
	return true;
}

enum imap_action
imap_fetch(struct imap_cmd_ctx *ctx, bool uid)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
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
	for (size_t i = 0; i < n; i++)
		fetch_one(ctx, seqs[i], items, nitems, uid);
	mailbox_flush(ctx->s->mb); /* \Seen set by BODY[] is durable now */
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
		if (k < 0)
			return imap_cmd_no(ctx, "LIMIT", "Too many keywords.");
		kwmask |= 1u << k;
	}
	size_t n;
	uint32_t *seqs = imap_set_seqs(ctx, args[0].str, uid, &n);
	if (seqs == NULL)
		return imap_cmd_bad(ctx, "Invalid sequence set.");
	for (size_t i = 0; i < n; i++) {
		const struct mail_msg *m = mailbox_msg(mb, seqs[i]);
		uint32_t recent = m->flags & MAIL_RECENT;
		uint32_t f = m->flags & ~MAIL_RECENT, k = m->keywords;
		if (mode == 0) {
			f = flags;
			k = kwmask;
		} else if (mode > 0) {
			f |= flags;
			k |= kwmask;
		} else {
			f &= ~flags;
			k &= ~kwmask;
		}
		char err[256];
		if (mailbox_set_flags(mb, seqs[i], f | recent, k, err,
		                      sizeof(err)) != MAIL_OK)
			continue; /* gone meanwhile: the next sync says so */
		if (silent)
			continue;
		m = mailbox_msg(mb, seqs[i]);
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
