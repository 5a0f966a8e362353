/* SEARCH and UID SEARCH (RFC 9051 6.4.4 keys, CHARSET UTF-8/US-ASCII),
 * answered with SEARCH or, after RETURN or in IMAP4rev2, ESEARCH (RFC
 * 4731). */
#include "commands.h"
#include "lib/utf8.h"
#include "search.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <wctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/seqset.h"
#include "mail/mime.h"

#define SEARCH_DEPTH_MAX 32 /* NOT/OR/() nesting */
#define SEARCH_KEYS_MAX  256
#define SEARCH_TAG_MAX   64 /* of the ESEARCH (TAG "...") correlator */

enum search_op {
	S_ALL,
	S_FLAG,    /* flag set */
	S_NOFLAG,  /* flag not set */
	S_NEW,     /* recent and unseen */
	S_OLD,     /* not recent */
	S_KEYWORD, /* str */
	S_UNKEYWORD,
	S_LARGER,
	S_SMALLER,
	S_BEFORE, /* internal date, day resolution */
	S_ON,
	S_SINCE,
	S_SENTBEFORE,
	S_SENTON,
	S_SENTSINCE,
	S_HEADER, /* name, str */
	S_BODY,
	S_TEXT,
	S_SEQ, /* set */
	S_UID,
	S_NOT,
	S_OR,
	S_AND,
};

struct search_key {
	enum search_op op;
	uint32_t flag;
	uint64_t num;
	int64_t date;
	const char *name, *str;
	bool address; /* FROM, TO, CC, BCC: matched against addresses */
	struct seqset set;
	struct search_key *a, *b; /* NOT: a; OR: a, b; AND: list via next */
	struct search_key *next;
	struct search_key *allocated; /* every key made, for freeing */
};

struct search_parse {
	struct arena *arena;
	const struct imap_arg *args;
	size_t n, pos;
	uint32_t messages, max_uid; /* what "*" stands for */
	unsigned keys;
	const char *err;
	/* every key made, so that a parse failing half way frees the sets
	 * of the keys it made */
	struct search_key *allocated;
};

static struct search_key *search_parse_key(struct search_parse *p,
                                           unsigned depth);

static struct search_key *
search_new(struct search_parse *p, enum search_op op)
{
	if (++p->keys > SEARCH_KEYS_MAX) {
		p->err = "too many search keys";
		return NULL;
	}
	struct search_key *k = arena_alloc(p->arena, sizeof(*k));
	if (k != NULL) {
		memset(k, 0, sizeof(*k));
		k->op = op;
		k->allocated = p->allocated;
		p->allocated = k;
	} else {
		p->err = "out of memory";
	}
	return k;
}

static const struct imap_arg *
search_next(struct search_parse *p)
{
	if (p->pos >= p->n) {
		p->err = "missing search argument";
		return NULL;
	}
	return &p->args[p->pos++];
}

static const char *
search_string(struct search_parse *p)
{
	const struct imap_arg *a = search_next(p);
	if (a == NULL)
		return NULL;
	if (!imap_arg_is_astring(a)) {
		p->err = "expected a string";
		return NULL;
	}
	return a->str;
}

/* A sequence of keys ANDed: from a list, or the top level. */
static struct search_key *
search_parse_all(struct search_parse *p, unsigned depth)
{
	struct search_key *and = search_new(p, S_AND), **tail;
	if (and == NULL)
		return NULL;
	tail = &and->a;
	while (p->pos < p->n) {
		struct search_key *k = search_parse_key(p, depth);
		if (k == NULL)
			return NULL;
		*tail = k;
		tail = &k->next;
	}
	if (and->a == NULL) {
		p->err = "empty search";
		return NULL;
	}
	return and;
}

static struct search_key *
search_parse_key(struct search_parse *p, unsigned depth)
{
	static const struct {
		const char *name;
		enum search_op op;
		uint32_t flag;
	} simple[] = {
	        {"ALL", S_ALL, 0},
	        {"ANSWERED", S_FLAG, MAIL_ANSWERED},
	        {"DELETED", S_FLAG, MAIL_DELETED},
	        {"DRAFT", S_FLAG, MAIL_DRAFT},
	        {"FLAGGED", S_FLAG, MAIL_FLAGGED},
	        {"SEEN", S_FLAG, MAIL_SEEN},
	        {"RECENT", S_FLAG, MAIL_RECENT},
	        {"UNANSWERED", S_NOFLAG, MAIL_ANSWERED},
	        {"UNDELETED", S_NOFLAG, MAIL_DELETED},
	        {"UNDRAFT", S_NOFLAG, MAIL_DRAFT},
	        {"UNFLAGGED", S_NOFLAG, MAIL_FLAGGED},
	        {"UNSEEN", S_NOFLAG, MAIL_SEEN},
	        {"NEW", S_NEW, 0},
	        {"OLD", S_OLD, 0},
	};
	static const struct {
		const char *name;
		enum search_op op;
	} dated[] = {
	        {"BEFORE", S_BEFORE}, {"ON", S_ON},
	        {"SINCE", S_SINCE},   {"SENTBEFORE", S_SENTBEFORE},
	        {"SENTON", S_SENTON}, {"SENTSINCE", S_SENTSINCE},
	};
	static const char *const headers[] = {"SUBJECT", "FROM", "TO", "CC",
	                                      "BCC"};
	if (depth > SEARCH_DEPTH_MAX) {
		p->err = "search keys nested too deeply";
		return NULL;
	}
	const struct imap_arg *a = search_next(p);
	if (a == NULL)
		return NULL;
	if (a->type == IMAP_ARG_LIST) {
		struct search_parse sub = *p;
		sub.args = a->list;
		sub.n = a->count;
		sub.pos = 0;
		struct search_key *k = search_parse_all(&sub, depth + 1);
		p->keys = sub.keys;
		p->err = sub.err;
		p->allocated = sub.allocated;
		return k;
	}
	if (a->type != IMAP_ARG_ATOM) {
		p->err = "expected a search key";
		return NULL;
	}
	const char *w = a->str;
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcasecmp(w, simple[i].name) == 0) {
			struct search_key *k = search_new(p, simple[i].op);
			if (k != NULL)
				k->flag = simple[i].flag;
			return k;
		}
	for (size_t i = 0; i < sizeof(dated) / sizeof(dated[0]); i++)
		if (strcasecmp(w, dated[i].name) == 0) {
			struct search_key *k = search_new(p, dated[i].op);
			const char *d = search_string(p);
			if (k == NULL || d == NULL)
				return NULL;
			if (!imap_parse_date(d, &k->date)) {
				p->err = "invalid date";
				return NULL;
			}
			return k;
		}
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		if (strcasecmp(w, headers[i]) == 0) {
			struct search_key *k = search_new(p, S_HEADER);
			if (k == NULL || (k->str = search_string(p)) == NULL)
				return NULL;
			k->name = headers[i];
			k->address = strcmp(headers[i], "SUBJECT") != 0;
			return k;
		}
	struct search_key *k = NULL;
	if (strcasecmp(w, "HEADER") == 0) {
		if ((k = search_new(p, S_HEADER)) == NULL ||
		    (k->name = search_string(p)) == NULL ||
		    (k->str = search_string(p)) == NULL)
			return NULL;
	} else if (strcasecmp(w, "BODY") == 0 || strcasecmp(w, "TEXT") == 0) {
		if ((k = search_new(p, w[0] == 'B' || w[0] == 'b' ? S_BODY
		                                                  : S_TEXT)) ==
		            NULL ||
		    (k->str = search_string(p)) == NULL)
			return NULL;
	} else if (strcasecmp(w, "KEYWORD") == 0 ||
	           strcasecmp(w, "UNKEYWORD") == 0) {
		if ((k = search_new(p, w[0] == 'K' || w[0] == 'k'
		                               ? S_KEYWORD
		                               : S_UNKEYWORD)) == NULL ||
		    (k->str = search_string(p)) == NULL)
			return NULL;
	} else if (strcasecmp(w, "LARGER") == 0 ||
	           strcasecmp(w, "SMALLER") == 0) {
		const char *num;
		char *end;
		if ((k = search_new(p, w[0] == 'L' || w[0] == 'l'
		                               ? S_LARGER
		                               : S_SMALLER)) == NULL ||
		    (num = search_string(p)) == NULL)
			return NULL;
		errno = 0;
		k->num = strtoull(num, &end, 10);
		if (*end != '\0' || end == num || errno != 0) {
			p->err = "invalid number";
			return NULL;
		}
	} else if (strcasecmp(w, "UID") == 0) {
		const char *set;
		if ((k = search_new(p, S_UID)) == NULL ||
		    (set = search_string(p)) == NULL)
			return NULL;
		if (!seqset_parse(set, p->max_uid, &k->set)) {
			p->err = "invalid UID set";
			return NULL;
		}
	} else if (strcasecmp(w, "NOT") == 0) {
		if ((k = search_new(p, S_NOT)) == NULL ||
		    (k->a = search_parse_key(p, depth + 1)) == NULL)
			return NULL;
	} else if (strcasecmp(w, "OR") == 0) {
		if ((k = search_new(p, S_OR)) == NULL ||
		    (k->a = search_parse_key(p, depth + 1)) == NULL ||
		    (k->b = search_parse_key(p, depth + 1)) == NULL)
			return NULL;
	} else if (isdigit((unsigned char)w[0]) || w[0] == '*') {
		if ((k = search_new(p, S_SEQ)) == NULL)
			return NULL;
		if (!seqset_parse(w, p->messages, &k->set)) {
			p->err = "invalid sequence set";
			return NULL;
		}
	} else {
		p->err = "unknown search key";
	}
	return k;
}

/* The per-message data a search needs, loaded at most once. */
struct search_msg {
	struct imap_cmd_ctx *ctx;
	uint32_t seq;
	const struct mail_msg *m;
	bool loaded, failed;
	struct buf data;
	struct mime_message *mm;
};

static bool
search_load(struct search_msg *sm)
{
	if (sm->loaded)
		return !sm->failed;
	sm->loaded = true;
	if (!imap_mail_load(sm->ctx->s->mb, sm->seq, &sm->data)) {
		sm->failed = true;
		return false;
	}
	sm->mm = mime_parse(sm->data.data, sm->data.len);
	return true;
}

/* Unicode case folding needs a UTF-8 locale; made once, shared. */
static locale_t search_locale;
static pthread_once_t search_locale_once = PTHREAD_ONCE_INIT;

static void
search_locale_init(void)
{
	search_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Lower-cases UTF-8 text code point by code point (RFC 9051 6.4.4:
 * matching is case-insensitive, not only for ASCII). Bytes that are not
 * strict UTF-8 (overlong forms included) pass through. Written straight into out's storage: a SEARCH TEXT
 * folds every message's text, and a call per byte (buf_append()) was
 * most of its time. Lower case never takes more than 3 octets for 2 (the
 * longest growth, U+023A -> U+2C65), hence the reservation. */
static void
search_fold(const uint8_t *p, size_t n, struct buf *out)
{
	pthread_once(&search_locale_once, search_locale_init);
	if (n > (SIZE_MAX - UTF8_MAX) / 2 ||
	    !buf_reserve(out, 2 * n + UTF8_MAX))
		return;
	uint8_t *o = out->data + out->len;
	for (size_t i = 0; i < n;) {
		uint8_t b = p[i];
		if (b < 0x80) {
			*o++ = b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
			i++;
			continue;
		}
		uint32_t c;
		size_t len = utf8_decode(p + i, n - i, &c);
		if (len == 0) {
			*o++ = b;
			i++;
			continue;
		}
		if (search_locale != (locale_t)0)
			c = (uint32_t)towlower_l((wint_t)c, search_locale);
		o += utf8_encode(c, o);
		i += len;
	}
	out->len = (size_t)(o - out->data);
}

/* Case-insensitive substring search over UTF-8 text. */
static bool
search_contains(const uint8_t *hay, size_t n, const char *needle)
{
	if (needle[0] == '\0')
		return true;
	struct buf h = BUF_INIT, k = BUF_INIT;
	search_fold(hay, n, &h);
	search_fold((const uint8_t *)needle, strlen(needle), &k);
	bool hit = h.len > 0 && k.len > 0 &&
	           memmem(buf_head(&h), buf_used(&h), buf_head(&k),
	                  buf_used(&k)) != NULL;
	buf_free(&h);
	buf_free(&k);
	return hit;
}

/* FROM, TO, CC and BCC match "the envelope structure's field" (RFC 9051
 * 6.4.4): the addresses as parsed, "Ann <ann@example.org>", not the raw
 * header with its comments and quoting (so "<a (x)@ b>" is found as
 * "a@b", as Dovecot finds it); the other fields match their text. Either
 * way encoded words are decoded first. */
static bool
search_header(struct search_msg *sm, const struct search_key *k)
{
	if (!search_load(sm) || sm->mm == NULL)
		return false;
	size_t len;
	const struct mime_field *f = NULL;
	const char *v = mime_header_next(sm->mm, k->name, &f, &len);
	if (v == NULL)
		return false;
	if (k->str[0] == '\0')
		return true; /* HEADER x "": the field exists */
	/* Any of the fields of that name may hold the string: a message
	 * may have several Received:, or X- fields. */
	bool hit = false;
	for (; v != NULL && !hit;
	     v = mime_header_next(sm->mm, k->name, &f, &len)) {
		struct buf addr = BUF_INIT, dec = BUF_INIT;
		if (k->address) {
			mime_address_text(v, len, &addr);
			v = (const char *)buf_head(&addr);
			len = buf_used(&addr);
		}
		mime_decode_words(v, len, &dec);
		hit = search_contains(buf_head(&dec), buf_used(&dec), k->str);
		buf_free(&addr);
		buf_free(&dec);
	}
	return hit;
}

static int64_t
search_day(int64_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

static bool
search_sent(struct search_msg *sm, int64_t *day)
{
	if (!search_load(sm) || sm->mm == NULL)
		return false;
	size_t len;
	const char *v = mime_header(sm->mm, "Date", &len);
	if (v == NULL)
		return false;
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < 127 ? len : 127), v);
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *p = tmp;
	while (*p == ' ')
		p++;
	if (isalpha((unsigned char)*p)) /* "Mon, " */
		p = strchr(p, ',') ? strchr(p, ',') + 1 : p;
	if (strptime(p, " %d %b %Y", &tm) == NULL)
		return false;
	*day = (int64_t)timegm(&tm);
	return true;
}

static bool
search_match(const struct search_key *k, struct search_msg *sm)
{
	const struct mail_msg *m = sm->m;
	int64_t day;
	switch (k->op) {
	case S_ALL:
		return true;
	case S_FLAG:
		return (m->flags & k->flag) != 0;
	case S_NOFLAG:
		return (m->flags & k->flag) == 0;
	case S_NEW:
		return (m->flags & MAIL_RECENT) && !(m->flags & MAIL_SEEN);
	case S_OLD:
		return !(m->flags & MAIL_RECENT);
	case S_KEYWORD:
	case S_UNKEYWORD: {
		const char *const *kw;
		size_t n = mailbox_keywords(sm->ctx->s->mb, &kw);
		bool has = false;
		for (size_t i = 0; i < n && i < 32; i++)
			if (strcasecmp(kw[i], k->str) == 0)
				has = (m->keywords & (1u << i)) != 0;
		return k->op == S_KEYWORD ? has : !has;
	}
	case S_LARGER:
		return m->size > k->num;
	case S_SMALLER:
		return m->size < k->num;
	case S_BEFORE:
		return search_day(mailbox_msg_date(sm->ctx->s->mb, sm->seq)) <
		       k->date;
	case S_ON:
		return search_day(mailbox_msg_date(sm->ctx->s->mb, sm->seq)) ==
		       k->date;
	case S_SINCE:
		return search_day(mailbox_msg_date(sm->ctx->s->mb, sm->seq)) >=
		       k->date;
	case S_SENTBEFORE:
		return search_sent(sm, &day) && day < k->date;
	case S_SENTON:
		return search_sent(sm, &day) && day == k->date;
	case S_SENTSINCE:
		return search_sent(sm, &day) && day >= k->date;
	case S_HEADER:
		return search_header(sm, k);
	case S_BODY:
	case S_TEXT: {
		if (!search_load(sm) || sm->mm == NULL)
			return false;
		if (k->op == S_TEXT &&
		    search_contains(sm->data.data, sm->data.len, k->str))
			return true; /* raw: part headers, file names */
		if (k->op == S_TEXT) {
			/* the header too, with its encoded words decoded */
			struct mime_section sec;
			struct buf head = BUF_INIT, dec = BUF_INIT;
			if (mime_section(sm->mm, "HEADER", &sec))
				mime_section_write(sm->mm, &sec, sm->data.data,
				                   &head);
			mime_decode_words((const char *)buf_head(&head),
			                  buf_used(&head), &dec);
			bool hit = search_contains(buf_head(&dec),
			                           buf_used(&dec), k->str);
			buf_free(&head);
			buf_free(&dec);
			if (hit)
				return true;
		}
		struct buf text = BUF_INIT;
		mime_body_text(sm->mm, sm->data.data, &text);
		bool hit = search_contains(buf_head(&text), buf_used(&text),
		                           k->str);
		buf_free(&text);
		return hit;
	}
	case S_SEQ:
		return seqset_contains(&k->set, sm->seq);
	case S_UID:
		return seqset_contains(&k->set, m->uid);
	case S_NOT:
		return !search_match(k->a, sm);
	case S_OR:
		return search_match(k->a, sm) || search_match(k->b, sm);
	case S_AND:
		for (const struct search_key *c = k->a; c != NULL; c = c->next)
			if (!search_match(c, sm))
				return false;
		return true;
	}
	return false;
}

static void
search_free(struct search_key *allocated)
{
	for (struct search_key *k = allocated; k != NULL; k = k->allocated)
		seqset_free(&k->set);
}

/* RETURN (...): the options, or false with *err set. */
static bool
search_parse_return(const struct imap_arg *list, unsigned *ret,
                    const char **err)
{
	static const struct {
		const char *name;
		unsigned ret;
	} opts[] = {
	        {"MIN", IMAP_SEARCH_RET_MIN},
	        {"MAX", IMAP_SEARCH_RET_MAX},
	        {"ALL", IMAP_SEARCH_RET_ALL},
	        {"COUNT", IMAP_SEARCH_RET_COUNT},
	};
	*ret = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k = 0;
		while (k < sizeof(opts) / sizeof(opts[0]) &&
		       !(a->type == IMAP_ARG_ATOM &&
		         strcasecmp(a->str, opts[k].name) == 0))
			k++;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			*err = "unknown RETURN option";
			return false;
		}
		*ret |= opts[k].ret;
	}
	/* RFC 4731 3.1: RETURN () means ALL */
	if (*ret == 0)
		*ret = IMAP_SEARCH_RET_ALL;
	return true;
}

enum imap_search_status
imap_search_parse(struct arena *a, const struct imap_arg *args, size_t count,
                  uint32_t messages, uint32_t max_uid, struct imap_search *out,
                  const char **err)
{
	size_t start = 0;
	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (count >= 1 && args[0].type == IMAP_ARG_ATOM &&
	    strcasecmp(args[0].str, "RETURN") == 0) {
		if (count < 2 || args[1].type != IMAP_ARG_LIST) {
			*err = "RETURN takes a list of options";
			return IMAP_SEARCH_BAD;
		}
		if (!search_parse_return(&args[1], &out->ret, err))
			return IMAP_SEARCH_BAD;
		out->esearch = true;
		start = 2;
	}
	if (count >= start + 2 && args[start].type == IMAP_ARG_ATOM &&
	    strcasecmp(args[start].str, "CHARSET") == 0) {
		if (!imap_arg_is_astring(&args[start + 1])) {
			*err = "CHARSET takes a charset name";
			return IMAP_SEARCH_BAD;
		}
		if (strcasecmp(args[start + 1].str, "UTF-8") != 0 &&
		    strcasecmp(args[start + 1].str, "US-ASCII") != 0)
			return IMAP_SEARCH_BADCHARSET;
		start += 2;
	}
	struct search_parse p = {.arena = a,
	                         .args = args + start,
	                         .n = count - start,
	                         .messages = messages,
	                         .max_uid = max_uid};
	struct search_key *root = search_parse_all(&p, 0);
	if (root == NULL || p.pos != p.n) {
		search_free(p.allocated);
		*err = p.err != NULL ? p.err : "unexpected argument";
		return IMAP_SEARCH_BAD;
	}
	out->root = root;
	out->allocated = p.allocated;
	return IMAP_SEARCH_OK;
}

void
imap_search_free(struct imap_search *q)
{
	search_free(q->allocated);
	q->allocated = NULL;
	q->root = NULL;
}

/* RFC 4731 3.1: MIN, MAX and ALL only when something matched; COUNT
 * always. */
static void
search_write_esearch(struct imap_cmd_ctx *ctx, const struct imap_search *q,
                     bool uid, const uint32_t *hits, size_t n)
{
	struct buf *o = ctx->out;
	buf_append_str(o, "* ESEARCH (TAG ");
	imap_write_string(o, ctx->cmd.tag,
	                  strnlen(ctx->cmd.tag, SEARCH_TAG_MAX));
	buf_append_str(o, ")");
	if (uid)
		buf_append_str(o, " UID");
	if ((q->ret & IMAP_SEARCH_RET_MIN) && n > 0)
		buf_printf(o, " MIN %u", hits[0]);
	if ((q->ret & IMAP_SEARCH_RET_MAX) && n > 0)
		buf_printf(o, " MAX %u", hits[n - 1]);
	if ((q->ret & IMAP_SEARCH_RET_ALL) && n > 0) {
		buf_append_str(o, " ALL ");
		seqset_write(o, hits, n);
	}
	if (q->ret & IMAP_SEARCH_RET_COUNT)
		buf_printf(o, " COUNT %zu", n);
	buf_append_str(o, "\r\n");
}

enum imap_action
imap_search(struct imap_cmd_ctx *ctx, bool uid)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	struct mailbox *mb = ctx->s->mb;
	uint32_t messages = mailbox_count(mb);
	uint32_t max_uid = messages ? mailbox_msg(mb, messages)->uid : 0;
	struct imap_search q;
	const char *err;
	switch (imap_search_parse(&ctx->arena, args, count, messages, max_uid,
	                          &q, &err)) {
	case IMAP_SEARCH_OK:
		break;
	case IMAP_SEARCH_BADCHARSET:
		return imap_cmd_no(ctx, "BADCHARSET (UTF-8 US-ASCII)",
		                   "Unsupported charset.");
	case IMAP_SEARCH_BAD: {
		char text[96];
		snprintf(text, sizeof(text), "SEARCH: %s.", err);
		return imap_cmd_bad(ctx, text);
	}
	}
	/* IMAP4rev2 has no SEARCH response: a plain SEARCH is RETURN (ALL)
	 * (RFC 9051 6.4.4) */
	if (ctx->s->rev2 && !q.esearch) {
		q.esearch = true;
		q.ret = IMAP_SEARCH_RET_ALL;
	}
	uint32_t *hits = arena_alloc(&ctx->arena,
	                             (messages ? messages : 1) * sizeof(*hits));
	if (hits == NULL) {
		imap_search_free(&q);
		return imap_cmd_no(ctx, "SERVERBUG", "Out of memory.");
	}
	size_t n = 0;
	for (uint32_t seq = 1; seq <= messages; seq++) {
		struct search_msg sm = {.ctx = ctx,
		                        .seq = seq,
		                        .m = mailbox_msg(mb, seq),
		                        .data = BUF_INIT};
		if (search_match(q.root, &sm))
			hits[n++] = uid ? sm.m->uid : seq;
		if (sm.mm != NULL)
			mime_free(sm.mm);
		buf_free(&sm.data);
	}
	imap_search_free(&q);
	if (q.esearch) {
		search_write_esearch(ctx, &q, uid, hits, n);
	} else {
		buf_append_str(ctx->out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			buf_printf(ctx->out, " %u", hits[i]);
		buf_append_str(ctx->out, "\r\n");
	}
	return imap_cmd_ok(ctx, NULL, "Search completed.");
}

enum imap_action
imap_cmd_search(struct imap_cmd_ctx *ctx)
{
	return imap_search(ctx, false);
}
