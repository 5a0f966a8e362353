/*
 * MIME structure by byte ranges: every entity (the message, each body part,
 * each encapsulated message) records where its header and body lie in the
 * message, so sizes, line counts and sections are the stored octets
 * themselves. Header fields are copied (unfolded) only where an answer needs
 * them later: all fields of message headers (ENVELOPE, mime_header,
 * HEADER.FIELDS), and the Content-* fields of every entity, parsed at once.
 */
#include "mime.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/writer.h"
#include "lib/base64.h"
#include "lib/arena.h"

/* Host of an address without a domain: NIL would mean group syntax. */
#define MISSING_HOST ".MISSING-HOST-NAME."
/* Longest charset name we pass to iconv; longer ones are left raw. */
#define CHARSET_NAME_MAX 64
/* Parameters kept per Content-Type or Content-Disposition field; a field
 * with thousands of them is hostile, and the rest are dropped. */
#define PARAMS_MAX 256
/* iconv output is produced through a stack buffer of this size. */
#define ICONV_CHUNK 4096

#define UTF8_REPLACEMENT "\xef\xbf\xbd"

struct mime_str {
	const char *p; /* NULL: absent */
	size_t len;
};

/* One field of a message header, kept for ENVELOPE, mime_header() and
 * HEADER.FIELDS. */
struct mime_field {
	struct mime_field *next;
	size_t start, end; /* raw octets, folding and line end included */
	bool eol;          /* the raw octets end with a line end */
	const char *name;  /* NUL-terminated copies */
	size_t name_len;
	const char *value; /* unfolded */
	size_t value_len;
};

struct mime_param {
	struct mime_param *next;
	struct mime_str name, value;
};

enum part_kind {
	PART_LEAF,
	PART_MULTIPART,
	PART_MESSAGE,
};

struct mime_part {
	struct mime_part *next;     /* sibling in a multipart */
	struct mime_part *children; /* PART_MULTIPART, at least one */
	struct mime_part *msg;      /* PART_MESSAGE: the message inside */
	enum part_kind kind;
	bool digest_default;       /* no Content-Type, in a multipart/digest */
	bool ctype_seen, dsp_seen; /* even if invalid: only the first counts */
	size_t hdr_start, hdr_len; /* blank line included */
	size_t body_start, body_len;
	size_t enc_start, enc_end; /* the field enc came from, raw */
	uint64_t lines;
	struct mime_field *fields; /* message headers only */
	struct mime_str type, subtype, enc, id, desc, md5, lang, loc, dsp;
	struct mime_param *params, *dsp_params;
};

struct mime_message {
	struct arena arena;
	struct mime_part *root;
};

struct pctx {
	const uint8_t *d;
	struct arena *arena;
	size_t nparts, nfields;
	bool oom;
};

/*
 * Small helpers
 */

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool
str_ieq(struct mime_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.p != NULL && s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static bool
mem_ieq(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(p, lit, n) == 0;
}

/* The position after the line starting at pos: past its LF, or end. */
static size_t
line_end(const uint8_t *d, size_t pos, size_t end)
{
	const uint8_t *lf = memchr(d + pos, '\n', end - pos);
	return lf == NULL ? end : (size_t)(lf - d) + 1;
}

static bool
is_blank_line(const uint8_t *d, size_t pos, size_t end)
{
	return d[pos] == '\n' ||
	       (d[pos] == '\r' && pos + 1 < end && d[pos + 1] == '\n');
}

static uint64_t
count_lines(const uint8_t *d, size_t pos, size_t end)
{
	uint64_t n = 0;
	while (pos < end) {
		const uint8_t *lf = memchr(d + pos, '\n', end - pos);
		if (lf == NULL)
			break;
		n++;
		pos = (size_t)(lf - d) + 1;
	}
	return n;
}

/* buf_head() of an empty buf is NULL + 0, which is undefined. */
static const uint8_t *
bhead(const struct buf *b)
{
	return buf_used(b) > 0 ? buf_head(b) : (const uint8_t *)"";
}

static void *
palloc(struct pctx *c, size_t n)
{
	void *p = arena_alloc(c->arena, n);
	if (p == NULL)
		c->oom = true;
	return p;
}

/* NULL when the part budget is spent (not an error) or memory is out. */
static struct mime_part *
new_part(struct pctx *c)
{
	if (c->nparts >= MIME_PARTS_MAX)
		return NULL;
	struct mime_part *p = palloc(c, sizeof(*p));
	if (p == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	c->nparts++;
	return p;
}

/* The value of a field (the octets after its colon) with every line end
 * removed, which unfolds it, and leading white space dropped. */
static char *
unfold_copy(struct pctx *c, const uint8_t *v, size_t n, size_t *outlen)
{
	char *s = palloc(c, n + 1);
	if (s == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\n')
			continue;
		if (v[i] == '\r' && i + 1 < n && v[i + 1] == '\n')
			continue;
		if (o == 0 && is_wsp(v[i]))
			continue;
		s[o++] = (char)v[i];
	}
	s[o] = '\0';
	*outlen = o;
	return s;
}

static struct mime_str
trim_right(const char *p, size_t n)
{
	while (n > 0 && is_wsp((uint8_t)p[n - 1]))
		n--;
	return (struct mime_str){p, n};
}

/*
 * Content-* field values (RFC 2045 tokens, quoted strings, comments)
 */

struct mlex {
	const char *p;
	size_t n, pos;
};

static void
mskip_comment(struct mlex *l)
{
	size_t depth = 0;
	while (l->pos < l->n) {
		char ch = l->p[l->pos++];
		if (ch == '\\' && l->pos < l->n)
			l->pos++;
		else if (ch == '(')
			depth++;
		else if (ch == ')' && --depth == 0)
			return;
	}
}

static void
mskip_cfws(struct mlex *l)
{
	while (l->pos < l->n) {
		char ch = l->p[l->pos];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			l->pos++;
		else if (ch == '(')
			mskip_comment(l);
		else
			break;
	}
}

static bool
is_tspecial(char ch)
{
	return ch != '\0' && strchr("()<>@,;:\\\"/[]?=", ch) != NULL;
}

static struct mime_str
mtoken(struct mlex *l)
{
	size_t s = l->pos;
	while (l->pos < l->n) {
		uint8_t ch = (uint8_t)l->p[l->pos];
		if (ch <= ' ' || ch == 0x7f || is_tspecial((char)ch))
			break;
		l->pos++;
	}
	return (struct mime_str){l->p + s, l->pos - s};
}

static bool
mpeek(const struct mlex *l, char ch)
{
	return l->pos < l->n && l->p[l->pos] == ch;
}

/* A quoted string at l->pos, unescaped into a copy. */
static struct mime_str
mquoted(struct pctx *c, struct mlex *l)
{
	l->pos++; /* the opening quote */
	char *s = palloc(c, l->n - l->pos + 1);
	size_t o = 0;
	while (l->pos < l->n && l->p[l->pos] != '"') {
		if (l->p[l->pos] == '\\' && l->pos + 1 < l->n)
			l->pos++;
		if (s != NULL)
			s[o++] = l->p[l->pos];
		l->pos++;
	}
	if (l->pos < l->n)
		l->pos++;
	if (s == NULL)
		return (struct mime_str){"", 0};
	s[o] = '\0';
	return (struct mime_str){s, o};
}

/* A parameter value: a quoted string, or (leniently, since boundaries like
 * ----=_Part_1 are often sent unquoted) anything up to ';' or white space. */
static struct mime_str
mvalue(struct pctx *c, struct mlex *l)
{
	if (mpeek(l, '"'))
		return mquoted(c, l);
	size_t s = l->pos;
	while (l->pos < l->n) {
		uint8_t ch = (uint8_t)l->p[l->pos];
		if (ch <= ' ' || ch == 0x7f || ch == ';' || ch == '(' ||
		    ch == '"')
			break;
		l->pos++;
	}
	return (struct mime_str){l->p + s, l->pos - s};
}

static struct mime_param *
parse_params(struct pctx *c, struct mlex *l)
{
	struct mime_param *head = NULL, **tail = &head;
	size_t count = 0;
	while (!c->oom) {
		mskip_cfws(l);
		if (l->pos >= l->n)
			break;
		if (!mpeek(l, ';')) {
			/* Garbage between parameters: skip it, quotes whole. */
			if (mpeek(l, '"'))
				(void)mquoted(c, l);
			else
				l->pos++;
			continue;
		}
		l->pos++;
		mskip_cfws(l);
		struct mime_str name = mtoken(l);
		mskip_cfws(l);
		if (name.len == 0 || !mpeek(l, '='))
			continue;
		l->pos++;
		mskip_cfws(l);
		struct mime_str value = mvalue(c, l);
		if (count >= PARAMS_MAX)
			continue;
		struct mime_param *p = palloc(c, sizeof(*p));
		if (p == NULL)
			break;
		p->next = NULL;
		p->name = name;
		p->value = value;
		*tail = p;
		tail = &p->next;
		count++;
	}
	return head;
}

static const struct mime_param *
param_find(const struct mime_param *p, const char *name)
{
	for (; p != NULL; p = p->next)
		if (str_ieq(p->name, name))
			return p;
	return NULL;
}

static void
parse_content_type(struct pctx *c, struct mime_part *p, const char *v, size_t n)
{
	struct mlex l = {v, n, 0};
	mskip_cfws(&l);
	struct mime_str type = mtoken(&l);
	mskip_cfws(&l);
	if (type.len == 0 || !mpeek(&l, '/'))
		return; /* invalid: the default applies (RFC 2045 5.2) */
	l.pos++;
	mskip_cfws(&l);
	struct mime_str subtype = mtoken(&l);
	if (subtype.len == 0)
		return;
	p->type = type;
	p->subtype = subtype;
	p->params = parse_params(c, &l);
}

static void
parse_disposition(struct pctx *c, struct mime_part *p, const char *v, size_t n)
{
	struct mlex l = {v, n, 0};
	mskip_cfws(&l);
	struct mime_str type = mtoken(&l);
	if (type.len == 0)
		return;
	p->dsp = type;
	p->dsp_params = parse_params(c, &l);
}

/*
 * Header blocks
 */

/* Octets of the header starting at start: up to and including the first
 * empty line, or everything when there is none. */
static size_t
header_len(const uint8_t *d, size_t start, size_t end)
{
	size_t pos = start;
	while (pos < end) {
		if (is_blank_line(d, pos, end))
			return line_end(d, pos, end) - start;
		pos = line_end(d, pos, end);
	}
	return end - start;
}

static void
index_field(struct pctx *c, struct mime_field ***tail, size_t fs, size_t fe,
            const uint8_t *name, size_t name_len, const char *value,
            size_t value_len)
{
	if (c->nfields >= MIME_FIELDS_MAX)
		return;
	struct mime_field *f = palloc(c, sizeof(*f));
	char *nm = arena_strndup(c->arena, (const char *)name, name_len);
	if (f == NULL || nm == NULL) {
		c->oom = true;
		return;
	}
	f->next = NULL;
	f->start = fs;
	f->end = fe;
	f->eol = c->d[fe - 1] == '\n';
	f->name = nm;
	f->name_len = name_len;
	f->value = value;
	f->value_len = value_len;
	**tail = f;
	*tail = &f->next;
	c->nfields++;
}

enum cfield {
	CF_NONE,
	CF_TYPE,
	CF_ENCODING,
	CF_ID,
	CF_DESCRIPTION,
	CF_MD5,
	CF_DISPOSITION,
	CF_LANGUAGE,
	CF_LOCATION,
};

/* Which Content-* field this is, if we read it and have not read one of
 * its kind yet (only the first counts), so no other value is copied. */
static enum cfield
content_kind(const struct mime_part *p, const uint8_t *name, size_t len)
{
	const char *nm = (const char *)name + 8;
	if (len <= 8 || strncasecmp((const char *)name, "Content-", 8) != 0)
		return CF_NONE;
	len -= 8;
	if (mem_ieq(nm, len, "Type"))
		return p->ctype_seen ? CF_NONE : CF_TYPE;
	if (mem_ieq(nm, len, "Transfer-Encoding"))
		return p->enc.p != NULL ? CF_NONE : CF_ENCODING;
	if (mem_ieq(nm, len, "ID"))
		return p->id.p != NULL ? CF_NONE : CF_ID;
	if (mem_ieq(nm, len, "Description"))
		return p->desc.p != NULL ? CF_NONE : CF_DESCRIPTION;
	if (mem_ieq(nm, len, "MD5"))
		return p->md5.p != NULL ? CF_NONE : CF_MD5;
	if (mem_ieq(nm, len, "Disposition"))
		return p->dsp_seen ? CF_NONE : CF_DISPOSITION;
	if (mem_ieq(nm, len, "Language"))
		return p->lang.p != NULL ? CF_NONE : CF_LANGUAGE;
	if (mem_ieq(nm, len, "Location"))
		return p->loc.p != NULL ? CF_NONE : CF_LOCATION;
	return CF_NONE;
}

static void
content_field(struct pctx *c, struct mime_part *p, enum cfield k, const char *v,
              size_t n)
{
	struct mime_str raw = trim_right(v, n);
	struct mlex l = {v, n, 0};
	switch (k) {
	case CF_NONE:
		break;
	case CF_TYPE:
		/* Even an invalid one: that is text/plain, in a digest too. */
		p->ctype_seen = true;
		p->digest_default = false;
		parse_content_type(c, p, v, n);
		break;
	case CF_ENCODING:
		mskip_cfws(&l);
		raw = mtoken(&l);
		if (raw.len > 0)
			p->enc = raw;
		break;
	case CF_ID:
		p->id = raw;
		break;
	case CF_DESCRIPTION:
		p->desc = raw;
		break;
	case CF_MD5:
		p->md5 = raw;
		break;
	case CF_DISPOSITION:
		p->dsp_seen = true;
		parse_disposition(c, p, v, n);
		break;
	case CF_LANGUAGE:
		p->lang = raw;
		break;
	case CF_LOCATION:
		p->loc = raw;
		break;
	}
}

/* Walks the fields of p's header: indexes them if it is a message header,
 * reads its Content-* fields either way. */
static void
parse_fields(struct pctx *c, struct mime_part *p, bool is_message)
{
	const uint8_t *d = c->d;
	size_t hs = p->hdr_start, he = p->hdr_start + p->hdr_len;
	struct mime_field **tail = &p->fields;
	size_t pos = hs;
	while (pos < he && !c->oom) {
		if (is_blank_line(d, pos, he) || pos - hs >= MIME_HEADER_MAX)
			break;
		size_t fs = pos, fe = line_end(d, pos, he);
		while (fe < he && is_wsp(d[fe]))
			fe = line_end(d, fe, he);
		pos = fe;

		const uint8_t *colon = memchr(d + fs, ':', fe - fs);
		size_t name_end = colon != NULL ? (size_t)(colon - d) : fe;
		size_t vs = colon != NULL ? name_end + 1 : fe;
		if (colon == NULL) /* no colon: the line is all name */
			while (name_end > fs && (d[name_end - 1] == '\n' ||
			                         d[name_end - 1] == '\r'))
				name_end--;
		while (name_end > fs && is_wsp(d[name_end - 1]))
			name_end--; /* obs-optional: "Subject :" */
		size_t name_len = name_end - fs;

		enum cfield k = content_kind(p, d + fs, name_len);
		bool index = is_message && c->nfields < MIME_FIELDS_MAX;
		if (k == CF_NONE && !index)
			continue;
		size_t vlen;
		char *v = unfold_copy(c, d + vs, fe - vs, &vlen);
		if (v == NULL)
			return;
		if (index)
			index_field(c, &tail, fs, fe, d + fs, name_len, v,
			            vlen);
		content_field(c, p, k, v, vlen);
		if (k == CF_ENCODING && p->enc.p != NULL) {
			p->enc_start = fs;
			p->enc_end = fe;
		}
	}
}

/*
 * Entities
 */

static void parse_entity(struct pctx *c, struct mime_part *p, size_t start,
                         size_t end, unsigned depth, bool is_message);

static bool
is_text(const struct mime_part *p)
{
	if (p->type.p == NULL)
		return !p->digest_default;
	return str_ieq(p->type, "text");
}

static bool
is_message_type(const struct mime_part *p)
{
	if (p->type.p == NULL)
		return p->digest_default;
	return str_ieq(p->type, "message") &&
	       (str_ieq(p->subtype, "rfc822") || str_ieq(p->subtype, "global"));
}

/* What we cannot take apart is described as the default text/plain. */
static void
make_plain(struct mime_part *p)
{
	p->type = (struct mime_str){NULL, 0};
	p->subtype = (struct mime_str){NULL, 0};
	p->params = NULL;
	p->digest_default = false;
}

enum delim {
	DELIM_NONE,
	DELIM_OPEN,
	DELIM_CLOSE,
};

/* RFC 2046 5.1.1: "--" boundary, then "--" for the close delimiter, else
 * optional linear white space up to the line end. */
static enum delim
delimiter(const uint8_t *d, size_t pos, size_t end, struct mime_str b)
{
	if (end - pos < 2 + b.len || d[pos] != '-' || d[pos + 1] != '-' ||
	    memcmp(d + pos + 2, b.p, b.len) != 0)
		return DELIM_NONE;
	size_t q = pos + 2 + b.len;
	if (end - q >= 2 && d[q] == '-' && d[q + 1] == '-')
		return DELIM_CLOSE;
	while (q < end && is_wsp(d[q]))
		q++;
	if (q == end || d[q] == '\r' || d[q] == '\n')
		return DELIM_OPEN;
	return DELIM_NONE;
}

/* The end of a body part that a delimiter line at pos closes: the line
 * end before the delimiter belongs to the delimiter. */
static size_t
before_delimiter(const uint8_t *d, size_t lo, size_t pos)
{
	size_t e = pos;
	if (e > lo && d[e - 1] == '\n') {
		e--;
		if (e > lo && d[e - 1] == '\r')
			e--;
	}
	return e;
}

static void
add_child(struct pctx *c, struct mime_part ***tail, size_t start, size_t end,
          unsigned depth, bool digest)
{
	struct mime_part *ch = new_part(c);
	if (ch == NULL)
		return;
	ch->digest_default = digest;
	**tail = ch;
	*tail = &ch->next;
	parse_entity(c, ch, start, end, depth, false);
}

/* Splits p's body at its delimiters into children; false if there is no
 * delimiter at all. Each child is parsed within its own range, so nested
 * multiparts never see their parents' delimiters. */
static bool
split_multipart(struct pctx *c, struct mime_part *p, struct mime_str b,
                unsigned depth)
{
	const uint8_t *d = c->d;
	size_t pos = p->body_start, end = p->body_start + p->body_len;
	size_t part_start = 0;
	bool in_part = false;
	bool digest = str_ieq(p->subtype, "digest");
	struct mime_part **tail = &p->children;
	while (pos < end && !c->oom) {
		size_t next = line_end(d, pos, end);
		enum delim k = delimiter(d, pos, end, b);
		if (k != DELIM_NONE) {
			if (in_part)
				add_child(c, &tail, part_start,
				          before_delimiter(d, part_start, pos),
				          depth + 1, digest);
			in_part = false;
			if (k == DELIM_CLOSE || c->nparts >= MIME_PARTS_MAX)
				break;
			in_part = true;
			part_start = next;
		}
		pos = next;
	}
	if (in_part && !c->oom)
		add_child(c, &tail, part_start, end, depth + 1, digest);
	return p->children != NULL;
}

static void
parse_entity(struct pctx *c, struct mime_part *p, size_t start, size_t end,
             unsigned depth, bool is_message)
{
	const uint8_t *d = c->d;
	p->hdr_start = start;
	p->hdr_len = start < end ? header_len(d, start, end) : 0;
	p->body_start = start + p->hdr_len;
	p->body_len = end - p->body_start;
	parse_fields(c, p, is_message);
	if (c->oom)
		return;

	bool room = depth + 1 < MIME_DEPTH_MAX && c->nparts < MIME_PARTS_MAX;
	if (str_ieq(p->type, "multipart")) {
		const struct mime_param *b = param_find(p->params, "boundary");
		if (room && b != NULL && b->value.len > 0 &&
		    split_multipart(c, p, b->value, depth)) {
			p->kind = PART_MULTIPART;
			return;
		}
		make_plain(p);
	} else if (is_message_type(p)) {
		if (room && (p->msg = new_part(c)) != NULL) {
			p->kind = PART_MESSAGE;
			p->lines = count_lines(d, p->body_start, end);
			parse_entity(c, p->msg, p->body_start, end, depth + 1,
			             true);
			return;
		}
		make_plain(p);
	}
	p->kind = PART_LEAF;
	if (is_text(p))
		p->lines = count_lines(d, p->body_start, end);
}

struct mime_message *
mime_parse(const uint8_t *data, size_t len)
{
	struct mime_message *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	static const uint8_t empty[1];
	struct pctx c = {
	        .d = data != NULL ? data : empty,
	        .arena = &m->arena,
	};
	if (data == NULL)
		len = 0;
	m->root = new_part(&c);
	if (m->root != NULL)
		parse_entity(&c, m->root, 0, len, 0, true);
	if (c.oom || m->root == NULL) {
		mime_free(m);
		return NULL;
	}
	return m;
}

void
mime_free(struct mime_message *m)
{
	if (m == NULL)
		return;
	arena_free(&m->arena);
	free(m);
}

/*
 * ENVELOPE
 */

static const struct mime_field *
field_find(const struct mime_field *f, const char *name)
{
	for (; f != NULL; f = f->next)
		if (mem_ieq(f->name, f->name_len, name))
			return f;
	return NULL;
}

static void
write_mstr(struct buf *out, struct mime_str s)
{
	if (s.p == NULL)
		buf_append_str(out, "NIL");
	else
		imap_write_string(out, s.p, s.len);
}

static void
write_field_value(struct buf *out, const struct mime_field *f)
{
	if (f == NULL)
		buf_append_str(out, "NIL");
	else
		imap_write_string(out, f->value, f->value_len);
}

/* RFC 5322 address lists, leniently: tokens, then a small recursive-descent
 * parser with one token of lookahead. */

enum atok_type {
	T_END,
	T_ATOM,
	T_QSTR,
	T_DLIT,
	T_SPECIAL,
};

struct atok {
	enum atok_type type;
	char ch;     /* T_SPECIAL */
	size_t s, e; /* raw octets */
	bool ws;     /* white space or a comment came before it */
};

struct aparse {
	const char *p;
	size_t n, pos;
	struct atok t;
	struct buf comment; /* text of the last comment seen */
	bool have_comment;
	struct buf name, raw, adl, mbox, host;
	struct buf *out;
	unsigned count;
	/* Text for SEARCH instead of IMAP address structures: "name
	 * <mbox@host>" or "mbox@host", comma-separated, groups as
	 * "group: ...;". */
	bool text;
	bool group_empty; /* text: no member written in this group yet */
};

static bool
is_aspecial(char ch)
{
	return ch != '\0' && strchr("()<>[]:;@\\,.\"", ch) != NULL;
}

static void
acomment(struct aparse *a)
{
	size_t depth = 0;
	buf_clear(&a->comment);
	a->have_comment = true;
	while (a->pos < a->n) {
		char ch = a->p[a->pos++];
		if (ch == '\\' && a->pos < a->n) {
			buf_append(&a->comment, a->p + a->pos++, 1);
			continue;
		}
		if (ch == '(' && depth++ == 0)
			continue;
		if (ch == ')' && --depth == 0)
			return;
		buf_append(&a->comment, &ch, 1);
	}
}

static void
anext(struct aparse *a)
{
	struct atok *t = &a->t;
	t->ws = false;
	for (;;) {
		if (a->pos >= a->n) {
			t->type = T_END;
			t->s = t->e = a->n;
			return;
		}
		char ch = a->p[a->pos];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			a->pos++;
			t->ws = true;
		} else if (ch == '(') {
			acomment(a);
			t->ws = true;
		} else {
			break;
		}
	}
	size_t s = a->pos;
	char ch = a->p[s];
	t->s = s;
	if (ch == '"' || ch == '[') {
		char close = ch == '"' ? '"' : ']';
		a->pos++;
		while (a->pos < a->n && a->p[a->pos] != close) {
			if (a->p[a->pos] == '\\' && a->pos + 1 < a->n)
				a->pos++;
			a->pos++;
		}
		if (a->pos < a->n)
			a->pos++;
		t->type = ch == '"' ? T_QSTR : T_DLIT;
	} else if (is_aspecial(ch)) {
		a->pos++;
		t->type = T_SPECIAL;
		t->ch = ch;
	} else {
		while (a->pos < a->n) {
			char c2 = a->p[a->pos];
			if (c2 == ' ' || c2 == '\t' || c2 == '\r' ||
			    c2 == '\n' || is_aspecial(c2))
				break;
			a->pos++;
		}
		t->type = T_ATOM;
	}
	t->e = a->pos;
}

static bool
aspecial(const struct aparse *a, char ch)
{
	return a->t.type == T_SPECIAL && a->t.ch == ch;
}

static void
append_raw(struct aparse *a, struct buf *b)
{
	buf_append(b, a->p + a->t.s, a->t.e - a->t.s);
}

/* A quoted string's contents without quotes and quoted-pair backslashes. */
static void
append_unquoted(struct aparse *a, struct buf *b)
{
	size_t i = a->t.s + 1, e = a->t.e;
	if (e > i && a->p[e - 1] == '"')
		e--;
	for (; i < e; i++) {
		if (a->p[i] == '\\' && i + 1 < e)
			i++;
		buf_append(b, a->p + i, 1);
	}
}

/* word *(word / "." ) (RFC 5322 obs-phrase), both as a display name
 * (quotes removed, one space wherever the source had white space) and raw
 * (as a local-part: tokens joined without white space). */
static void
aphrase(struct aparse *a)
{
	buf_clear(&a->name);
	buf_clear(&a->raw);
	bool first = true;
	while (a->t.type == T_ATOM || a->t.type == T_QSTR || aspecial(a, '.')) {
		if (!first && a->t.ws)
			buf_append(&a->name, " ", 1);
		if (a->t.type == T_QSTR)
			append_unquoted(a, &a->name);
		else
			append_raw(a, &a->name);
		append_raw(a, &a->raw);
		first = false;
		anext(a);
	}
}

/* dot-atom-ish: word *("." word), raw; stops at two words in a row, which
 * means a missing comma rather than one long name. */
static void
adotted(struct aparse *a, struct buf *b, bool domain)
{
	bool want_word = true;
	for (;;) {
		bool word =
		        a->t.type == T_ATOM ||
		        (domain ? a->t.type == T_DLIT : a->t.type == T_QSTR);
		if (word && want_word) {
			append_raw(a, b);
			want_word = false;
		} else if (aspecial(a, '.')) {
			append_raw(a, b);
			want_word = true;
		} else {
			return;
		}
		anext(a);
	}
}

/* After "<": [route ":"] local-part ["@" domain] ">" */
static void
aangle(struct aparse *a)
{
	if (aspecial(a, '@')) {
		while (a->t.type != T_END && !aspecial(a, ':') &&
		       !aspecial(a, '>')) {
			append_raw(a, &a->adl);
			anext(a);
		}
		if (aspecial(a, ':'))
			anext(a);
	}
	adotted(a, &a->mbox, false);
	if (aspecial(a, '@')) {
		anext(a);
		adotted(a, &a->host, true);
	}
	while (a->t.type != T_END && !aspecial(a, '>') && !aspecial(a, ',') &&
	       !aspecial(a, ';'))
		anext(a);
	if (aspecial(a, '>'))
		anext(a);
}

static void
write_buf_nstring(struct buf *out, const struct buf *b)
{
	if (buf_used(b) == 0)
		buf_append_str(out, "NIL");
	else
		imap_write_string(out, (const char *)bhead(b), buf_used(b));
}

static void
write_buf_string(struct buf *out, const struct buf *b)
{
	if (buf_used(b) == 0)
		buf_append_str(out, "\"\"");
	else
		imap_write_string(out, (const char *)bhead(b), buf_used(b));
}

/* The separator before the next address or group in text mode. */
static void
atext_sep(struct aparse *a)
{
	if (a->group_empty)
		a->group_empty = false;
	else if (a->count > 0)
		buf_append_str(a->out, ", ");
}

static void
aemit_text(struct aparse *a, const struct buf *name)
{
	atext_sep(a);
	if (buf_used(name) > 0) {
		buf_append(a->out, bhead(name), buf_used(name));
		buf_append_str(a->out, " <");
	}
	buf_append(a->out, bhead(&a->mbox), buf_used(&a->mbox));
	if (buf_used(&a->host) > 0) {
		buf_append_str(a->out, "@");
		buf_append(a->out, bhead(&a->host), buf_used(&a->host));
	}
	if (buf_used(name) > 0)
		buf_append_str(a->out, ">");
	a->count++;
}

/* Group start (name != NULL) or end in text mode. */
static void
agroup_text(struct aparse *a, const struct buf *name)
{
	if (name != NULL) {
		atext_sep(a);
		buf_append(a->out, bhead(name), buf_used(name));
		buf_append_str(a->out, ": ");
		a->group_empty = true;
	} else {
		a->group_empty = false;
		buf_append_str(a->out, ";");
	}
	a->count++;
}

static void
aemit(struct aparse *a, const struct buf *name)
{
	if (a->text) {
		aemit_text(a, name);
		return;
	}
	buf_append_str(a->out, "(");
	write_buf_nstring(a->out, name);
	buf_append_str(a->out, " ");
	write_buf_nstring(a->out, &a->adl);
	buf_append_str(a->out, " ");
	write_buf_string(a->out, &a->mbox);
	buf_append_str(a->out, " ");
	if (buf_used(&a->host) == 0)
		buf_append_str(a->out, "\"" MISSING_HOST "\"");
	else
		imap_write_string(a->out, (const char *)bhead(&a->host),
		                  buf_used(&a->host));
	buf_append_str(a->out, ")");
	a->count++;
}

/* Consumes the token at a separator, forgetting comments before it. */
static void
anext_sep(struct aparse *a)
{
	a->have_comment = false;
	anext(a);
}

static void
aparse_list(struct aparse *a)
{
	bool in_group = false;
	anext(a);
	while (a->t.type != T_END) {
		if (aspecial(a, ',')) {
			anext_sep(a);
			continue;
		}
		if (aspecial(a, ';')) {
			if (in_group && a->text) {
				agroup_text(a, NULL);
				in_group = false;
			} else if (in_group) {
				buf_append_str(a->out, "(NIL NIL NIL NIL)");
				a->count++;
				in_group = false;
			}
			anext_sep(a);
			continue;
		}
		aphrase(a);
		if (aspecial(a, ':')) {
			/* group: display-name ":" [group-list] ";" */
			if (!in_group && a->text) {
				agroup_text(a, &a->name);
				in_group = true;
			} else if (!in_group) {
				buf_append_str(a->out, "(NIL NIL ");
				write_buf_string(a->out, &a->name);
				buf_append_str(a->out, " NIL)");
				a->count++;
				in_group = true;
			}
			anext_sep(a);
			continue;
		}
		buf_clear(&a->adl);
		buf_clear(&a->mbox);
		buf_clear(&a->host);
		bool angle = aspecial(a, '<');
		if (angle) {
			anext(a);
			aangle(a);
		} else {
			buf_append(&a->mbox, bhead(&a->raw), buf_used(&a->raw));
			buf_clear(&a->name);
			if (aspecial(a, '@')) {
				anext(a);
				adotted(a, &a->host, true);
			}
		}
		/* Whatever follows up to the next separator is garbage, but a
		 * comment there may be the name: "a@b (Ann)". */
		while (a->t.type != T_END && !aspecial(a, ',') &&
		       !aspecial(a, ';'))
			anext(a);
		if (buf_used(&a->name) == 0 && a->have_comment) {
			buf_clear(&a->name);
			buf_append(&a->name, bhead(&a->comment),
			           buf_used(&a->comment));
		}
		if (buf_used(&a->mbox) > 0 || buf_used(&a->host) > 0 ||
		    (angle && buf_used(&a->name) > 0))
			aemit(a, &a->name);
	}
	if (in_group && a->text)
		agroup_text(a, NULL);
	else if (in_group) {
		buf_append_str(a->out, "(NIL NIL NIL NIL)");
		a->count++;
	}
}

static void
aparse_free(struct aparse *a)
{
	buf_free(&a->comment);
	buf_free(&a->name);
	buf_free(&a->raw);
	buf_free(&a->adl);
	buf_free(&a->mbox);
	buf_free(&a->host);
}

void
mime_address_text(const char *value, size_t len, struct buf *out)
{
	struct aparse a = {
	        .p = value,
	        .n = len,
	        .out = out,
	        .text = true,
	};
	aparse_list(&a);
	aparse_free(&a);
}

/* Writes "(" addresses ")" into out, or nothing if there are none; returns
 * how many address structures it wrote. */
static unsigned
write_addresses(struct buf *out, const struct mime_field *f)
{
	if (f == NULL)
		return 0;
	struct buf list = BUF_INIT;
	struct aparse a = {
	        .p = f->value,
	        .n = f->value_len,
	        .out = &list,
	};
	aparse_list(&a);
	if (a.count > 0) {
		buf_append_str(out, "(");
		buf_append(out, bhead(&list), buf_used(&list));
		buf_append_str(out, ")");
	}
	buf_free(&list);
	aparse_free(&a);
	return a.count;
}

static void
write_address_field(struct buf *out, const struct mime_field *f)
{
	if (write_addresses(out, f) == 0)
		buf_append_str(out, "NIL");
}

/* Sender and Reply-To: absent or empty means the same as From (RFC 3501
 * 7.4.2). */
static void
write_address_or_from(struct buf *out, const struct mime_field *f,
                      const struct mime_field *from)
{
	if (write_addresses(out, f) == 0)
		write_address_field(out, from);
}

static void
write_envelope(struct buf *out, const struct mime_part *p)
{
	const struct mime_field *fs = p->fields;
	const struct mime_field *from = field_find(fs, "From");
	buf_append_str(out, "(");
	write_field_value(out, field_find(fs, "Date"));
	buf_append_str(out, " ");
	write_field_value(out, field_find(fs, "Subject"));
	buf_append_str(out, " ");
	write_address_field(out, from);
	buf_append_str(out, " ");
	write_address_or_from(out, field_find(fs, "Sender"), from);
	buf_append_str(out, " ");
	write_address_or_from(out, field_find(fs, "Reply-To"), from);
	buf_append_str(out, " ");
	write_address_field(out, field_find(fs, "To"));
	buf_append_str(out, " ");
	write_address_field(out, field_find(fs, "Cc"));
	buf_append_str(out, " ");
	write_address_field(out, field_find(fs, "Bcc"));
	buf_append_str(out, " ");
	write_field_value(out, field_find(fs, "In-Reply-To"));
	buf_append_str(out, " ");
	write_field_value(out, field_find(fs, "Message-ID"));
	buf_append_str(out, ")");
}

void
mime_write_envelope(struct buf *out, const struct mime_message *m)
{
	write_envelope(out, m->root);
}

/*
 * BODY and BODYSTRUCTURE
 */

static void
write_params(struct buf *out, const struct mime_param *p, bool add_charset)
{
	if (p == NULL && !add_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	bool first = true;
	for (; p != NULL; p = p->next) {
		if (!first)
			buf_append_str(out, " ");
		write_mstr(out, p->name);
		buf_append_str(out, " ");
		write_mstr(out, p->value);
		first = false;
	}
	if (add_charset)
		buf_append_str(out, first ? "\"CHARSET\" \"US-ASCII\""
		                          : " \"CHARSET\" \"US-ASCII\"");
	buf_append_str(out, ")");
}

static void
write_disposition(struct buf *out, const struct mime_part *p)
{
	if (p->dsp.p == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	write_mstr(out, p->dsp);
	buf_append_str(out, " ");
	write_params(out, p->dsp_params, false);
	buf_append_str(out, ")");
}

/* Content-Language: a comma-separated list of tags, as a list of strings
 * (NIL when there is none). */
static void
write_language(struct buf *out, const struct mime_part *p)
{
	if (p->lang.p == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	struct mlex l = {p->lang.p, p->lang.len, 0};
	bool first = true;
	while (l.pos < l.n) {
		mskip_cfws(&l);
		struct mime_str t = mtoken(&l);
		if (t.len == 0) {
			if (l.pos < l.n)
				l.pos++; /* ',' or garbage */
			continue;
		}
		buf_append_str(out, first ? "(" : " ");
		write_mstr(out, t);
		first = false;
	}
	buf_append_str(out, first ? "NIL" : ")");
}

static void
write_extension(struct buf *out, const struct mime_part *p)
{
	buf_append_str(out, " ");
	write_disposition(out, p);
	buf_append_str(out, " ");
	write_language(out, p);
	buf_append_str(out, " ");
	write_mstr(out, p->loc);
}

static void
write_body(struct buf *out, const struct mime_part *p, bool ext)
{
	buf_append_str(out, "(");
	if (p->kind == PART_MULTIPART) {
		for (const struct mime_part *ch = p->children; ch != NULL;
		     ch = ch->next)
			write_body(out, ch, ext);
		buf_append_str(out, " ");
		write_mstr(out, p->subtype);
		if (ext) {
			buf_append_str(out, " ");
			write_params(out, p->params, false);
			write_extension(out, p);
		}
		buf_append_str(out, ")");
		return;
	}
	bool text = is_text(p);
	if (p->type.p != NULL) {
		write_mstr(out, p->type);
		buf_append_str(out, " ");
		write_mstr(out, p->subtype);
	} else if (p->digest_default) {
		buf_append_str(out, "\"MESSAGE\" \"RFC822\"");
	} else {
		buf_append_str(out, "\"TEXT\" \"PLAIN\"");
	}
	buf_append_str(out, " ");
	write_params(out, p->params,
	             text && param_find(p->params, "charset") == NULL);
	buf_append_str(out, " ");
	write_mstr(out, p->id);
	buf_append_str(out, " ");
	write_mstr(out, p->desc);
	buf_append_str(out, " ");
	if (p->enc.p != NULL)
		write_mstr(out, p->enc);
	else
		buf_append_str(out, "\"7BIT\"");
	buf_printf(out, " %zu", p->body_len);
	if (p->kind == PART_MESSAGE) {
		buf_append_str(out, " ");
		write_envelope(out, p->msg);
		buf_append_str(out, " ");
		write_body(out, p->msg, ext);
		buf_printf(out, " %llu", (unsigned long long)p->lines);
	} else if (text) {
		buf_printf(out, " %llu", (unsigned long long)p->lines);
	}
	if (ext) {
		/* body-fld-md5: the Content-MD5 field's value as it is, as
		 * Dovecot gives it (RFC 1864) */
		buf_append_str(out, " ");
		write_mstr(out, p->md5);
		write_extension(out, p);
	}
	buf_append_str(out, ")");
}

void
mime_write_bodystructure(struct buf *out, const struct mime_message *m,
                         bool extensible)
{
	write_body(out, m->root, extensible);
}

/*
 * BODY[section]
 */

/* Part n below part (NULL: the message). A message whose body is not
 * multipart has one part, the body itself (RFC 9051 6.4.5). */
static const struct mime_part *
select_part(const struct mime_part *root, const struct mime_part *part,
            unsigned long n)
{
	const struct mime_part *in;
	if (part == NULL)
		in = root;
	else if (part->kind == PART_MESSAGE)
		in = part->msg;
	else if (part->kind == PART_MULTIPART)
		in = part;
	else
		return NULL;
	if (in->kind != PART_MULTIPART)
		return n == 1 ? in : NULL;
	const struct mime_part *ch = in->children;
	for (unsigned long i = 1; ch != NULL && i < n; i++)
		ch = ch->next;
	return ch;
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static void
set_range(struct mime_section *out, size_t start, size_t len)
{
	out->kind = MIME_SECTION_RANGE;
	out->start = start;
	out->len = len;
}

/* "(" name *(SP name) ")" with names as atoms or quoted strings. */
static bool
parse_names(const char *s, struct mime_section *out)
{
	if (*s != ' ')
		return false;
	while (*s == ' ')
		s++;
	if (*s++ != '(')
		return false;
	out->names_len = 0;
	unsigned count = 0;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == ')')
			break;
		if (*s == '\0')
			return false;
		size_t start = out->names_len;
		if (*s == '"') {
			s++;
			while (*s != '"') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (*s == '\0' ||
				    out->names_len + 1 >= sizeof(out->names))
					return false;
				out->names[out->names_len++] = *s++;
			}
			s++;
		} else {
			while (*s != ' ' && *s != ')' && *s != '\0') {
				if (*s == '(' || *s == '"' ||
				    out->names_len + 1 >= sizeof(out->names))
					return false;
				out->names[out->names_len++] = *s++;
			}
		}
		if (out->names_len == start)
			return false;
		out->names[out->names_len++] = '\0';
		count++;
	}
	s++;
	return *s == '\0' && count > 0;
}

bool
mime_section(const struct mime_message *m, const char *spec,
             struct mime_section *out)
{
	const struct mime_part *root = m->root, *part = NULL;
	const char *s = spec;
	out->kind = MIME_SECTION_RANGE;
	out->start = out->len = 0;
	out->fields = NULL;
	out->exclude = false;
	out->names_len = 0;

	while (is_digit(*s)) {
		if (*s == '0')
			return false; /* nz-number */
		unsigned long n = 0;
		while (is_digit(*s)) {
			n = n * 10 + (unsigned long)(*s++ - '0');
			if (n > UINT32_MAX)
				return false;
		}
		part = select_part(root, part, n);
		if (part == NULL)
			return false;
		if (*s == '\0')
			break;
		if (*s++ != '.' || *s == '\0')
			return false;
	}
	if (*s == '\0') {
		if (part == NULL)
			set_range(out, 0, root->body_start + root->body_len);
		else
			set_range(out, part->body_start, part->body_len);
		return true;
	}
	if (strcasecmp(s, "MIME") == 0) {
		if (part == NULL)
			return false;
		set_range(out, part->hdr_start, part->hdr_len);
		return true;
	}
	const struct mime_part *msg;
	if (part == NULL)
		msg = root;
	else if (part->kind == PART_MESSAGE)
		msg = part->msg;
	else
		return false;
	if (strcasecmp(s, "HEADER") == 0) {
		set_range(out, msg->hdr_start, msg->hdr_len);
		return true;
	}
	if (strcasecmp(s, "TEXT") == 0) {
		set_range(out, msg->body_start, msg->body_len);
		return true;
	}
	static const char hf[] = "HEADER.FIELDS";
	if (strncasecmp(s, hf, sizeof(hf) - 1) != 0)
		return false;
	s += sizeof(hf) - 1;
	if (strncasecmp(s, ".NOT", 4) == 0) {
		out->exclude = true;
		s += 4;
	}
	if (!parse_names(s, out))
		return false;
	out->kind = MIME_SECTION_FIELDS;
	out->fields = msg->fields;
	return true;
}

static bool
section_wants(const struct mime_section *s, const struct mime_field *f)
{
	bool named = false;
	for (size_t i = 0; i < s->names_len && !named;) {
		size_t n = strlen(s->names + i);
		named = mem_ieq(f->name, f->name_len, s->names + i);
		i += n + 1;
	}
	return named != s->exclude;
}

void
mime_section_write(const struct mime_message *m, const struct mime_section *s,
                   const uint8_t *data, struct buf *out)
{
	(void)m;
	if (s->kind == MIME_SECTION_RANGE) {
		if (s->len > 0) /* data may be NULL for an empty message */
			buf_append(out, data + s->start, (size_t)s->len);
		return;
	}
	for (const struct mime_field *f = s->fields; f != NULL; f = f->next) {
		if (!section_wants(s, f))
			continue;
		buf_append(out, data + f->start, f->end - f->start);
		if (!f->eol)
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}

uint64_t
mime_section_size(const struct mime_message *m, const struct mime_section *s)
{
	(void)m;
	if (s->kind == MIME_SECTION_RANGE)
		return s->len;
	uint64_t n = 2;
	for (const struct mime_field *f = s->fields; f != NULL; f = f->next)
		if (section_wants(s, f))
			n += f->end - f->start + (f->eol ? 0 : 2);
	return n;
}

const char *
mime_header_next(const struct mime_message *m, const char *name,
                 const struct mime_field **f, size_t *len)
{
	*f = field_find(*f == NULL ? m->root->fields : (*f)->next, name);
	if (*f == NULL)
		return NULL;
	if (len != NULL)
		*len = (*f)->value_len;
	return (*f)->value;
}

const char *
mime_header(const struct mime_message *m, const char *name, size_t *len)
{
	const struct mime_field *f = field_find(m->root->fields, name);
	if (f == NULL)
		return NULL;
	if (len != NULL)
		*len = f->value_len;
	return f->value;
}

/*
 * Decoding for SEARCH
 */

/* Decoded output, remembering whether any append ran out of memory. */
struct sink {
	struct buf *b;
	bool ok;
};

static void
put(struct sink *s, const void *p, size_t n)
{
	if (!buf_append(s->b, p, n))
		s->ok = false;
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lenient base64: characters outside the alphabet are skipped, "=" ends
 * the data (lib/base64 is strict, as SASL wants). */
static void
decode_base64(const uint8_t *in, size_t n, struct sink *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		int v = base64_value(in[i], '/');
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			uint8_t byte = (uint8_t)(acc >> bits);
			put(out, &byte, 1);
		}
	}
}

/* Quoted-printable (RFC 2045 6.7), and Q encoding (RFC 2047 4.2) when q. */
static void
decode_qp(const uint8_t *in, size_t n, struct sink *out, bool q)
{
	size_t i = 0;
	while (i < n) {
		uint8_t ch = in[i];
		if (q && ch == '_') {
			put(out, " ", 1);
			i++;
			continue;
		}
		if (!q && is_wsp(ch)) {
			/* Trailing white space on a line was added in transit
			 * and must be deleted (RFC 2045 6.7 rule 3); white
			 * space before "=" or text is kept. */
			size_t j = i;
			while (j < n && is_wsp(in[j]))
				j++;
			if (j == n || in[j] == '\n' ||
			    (in[j] == '\r' && j + 1 < n && in[j + 1] == '\n')) {
				i = j;
				continue;
			}
			put(out, in + i, j - i);
			i = j;
			continue;
		}
		if (ch != '=') {
			put(out, &ch, 1);
			i++;
			continue;
		}
		if (i + 2 < n) {
			int hi = hex_value(in[i + 1]),
			    lo = hex_value(in[i + 2]);
			if (hi >= 0 && lo >= 0) {
				uint8_t byte = (uint8_t)(hi << 4 | lo);
				put(out, &byte, 1);
				i += 3;
				continue;
			}
		}
		/* Soft line break: "=", optional white space, line end. */
		size_t j = i + 1;
		while (j < n && is_wsp(in[j]))
			j++;
		if (j < n && in[j] == '\n') {
			i = j + 1;
		} else if (j + 1 < n && in[j] == '\r' && in[j + 1] == '\n') {
			i = j + 2;
		} else if (j == n) {
			i = n;
		} else {
			put(out, "=", 1);
			i++;
		}
	}
}

/* Charset names go to iconv_open() only if they look like charset names,
 * so arbitrary message text never reaches the gconv module loader. */
static bool
charset_name_ok(const char *cs, size_t n)
{
	if (n == 0 || n > CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = cs[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      is_digit(ch) || ch == '-' || ch == '_' || ch == '.' ||
		      ch == ':'))
			return false;
	}
	return true;
}

static void
iconv_to_utf8(iconv_t cd, const uint8_t *in, size_t n, struct sink *out)
{
	char *ip = (char *)(uintptr_t)in;
	size_t left = n;
	char chunk[ICONV_CHUNK];
	for (;;) {
		char *op = chunk;
		size_t room = sizeof(chunk);
		size_t r = left > 0 ? iconv(cd, &ip, &left, &op, &room)
		                    : iconv(cd, NULL, NULL, &op, &room);
		put(out, chunk, sizeof(chunk) - room);
		if (r != (size_t)-1) {
			if (left == 0 && ip != NULL) {
				ip = NULL; /* then flush the shift state */
				continue;
			}
			if (left == 0)
				return;
			continue;
		}
		if (errno == E2BIG && op != chunk)
			continue;
		if (left == 0 || (errno != EILSEQ && errno != EINVAL))
			return;
		/* An invalid or truncated sequence: mark it, step over one
		 * octet, start afresh. */
		put(out, UTF8_REPLACEMENT, 3);
		ip++;
		left--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
}

/* in[0 .. n) in charset cs to UTF-8; raw when the charset is unknown. */
static void
to_utf8(const char *cs, size_t cslen, const uint8_t *in, size_t n,
        struct sink *out)
{
	if (n == 0)
		return;
	if (cs == NULL || mem_ieq(cs, cslen, "utf-8") ||
	    mem_ieq(cs, cslen, "utf8") || mem_ieq(cs, cslen, "us-ascii") ||
	    mem_ieq(cs, cslen, "ascii") || !charset_name_ok(cs, cslen)) {
		put(out, in, n);
		return;
	}
	if (mem_ieq(cs, cslen, "iso-8859-1") || mem_ieq(cs, cslen, "latin1")) {
		for (size_t i = 0; i < n; i++) {
			uint8_t u[2] = {in[i], 0};
			if (in[i] < 0x80) {
				put(out, u, 1);
			} else {
				u[0] = (uint8_t)(0xc0 | in[i] >> 6);
				u[1] = (uint8_t)(0x80 | (in[i] & 0x3f));
				put(out, u, 2);
			}
		}
		return;
	}
	char name[CHARSET_NAME_MAX + 1];
	memcpy(name, cs, cslen);
	name[cslen] = '\0';
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		put(out, in, n);
		return;
	}
	iconv_to_utf8(cd, in, n, out);
	iconv_close(cd);
}

struct eword {
	const char *cs; /* charset, without an RFC 2231 "*language" */
	size_t cslen;
	char enc;      /* 'B' or 'Q' */
	size_t ts, te; /* encoded text */
	size_t end;    /* after "?=" */
};

/* "=?" charset "?" B/Q "?" encoded-text "?=" at in[i] (RFC 2047 2). The
 * text stops at the first "?" or white space, so every attempt ends
 * before the next "=?" and scanning stays linear. */
static bool
parse_eword(const char *in, size_t len, size_t i, struct eword *w)
{
	if (i + 1 >= len || in[i] != '=' || in[i + 1] != '?')
		return false;
	size_t p = i + 2, cs = p;
	while (p < len && in[p] != '?' && !is_wsp((uint8_t)in[p]) &&
	       p - cs <= CHARSET_NAME_MAX)
		p++;
	if (p >= len || in[p] != '?' || p == cs)
		return false;
	w->cs = in + cs;
	w->cslen = p - cs;
	const char *star = memchr(w->cs, '*', w->cslen);
	if (star != NULL)
		w->cslen = (size_t)(star - w->cs);
	p++;
	if (p + 1 >= len || in[p + 1] != '?')
		return false;
	w->enc = in[p] == 'b' || in[p] == 'B'   ? 'B'
	         : in[p] == 'q' || in[p] == 'Q' ? 'Q'
	                                        : 0;
	if (w->enc == 0)
		return false;
	p += 2;
	w->ts = p;
	while (p < len && in[p] != '?' && (uint8_t)in[p] > ' ')
		p++;
	if (p + 1 >= len || in[p] != '?' || in[p + 1] != '=')
		return false;
	w->te = p;
	w->end = p + 2;
	return true;
}

void
mime_decode_words(const char *in, size_t len, struct buf *out)
{
	/* Adjacent encoded words in one charset are converted together: a
	 * multi-octet character may be split between them. */
	struct buf pend = BUF_INIT;
	struct sink ps = {&pend, true}, os = {out, true};
	const char *pcs = NULL;
	size_t pcslen = 0;
	bool after_word = false;
	size_t i = 0;
	struct eword w;
	while (i < len) {
		if (parse_eword(in, len, i, &w)) {
			if (pcs != NULL &&
			    (w.cslen != pcslen ||
			     strncasecmp(w.cs, pcs, pcslen) != 0)) {
				to_utf8(pcs, pcslen, bhead(&pend),
				        buf_used(&pend), &os);
				buf_clear(&pend);
			}
			pcs = w.cs;
			pcslen = w.cslen;
			const uint8_t *t = (const uint8_t *)in + w.ts;
			if (w.enc == 'B')
				decode_base64(t, w.te - w.ts, &ps);
			else
				decode_qp(t, w.te - w.ts, &ps, true);
			i = w.end;
			after_word = true;
			continue;
		}
		if (after_word) {
			/* White space between two encoded words goes. */
			size_t j = i;
			while (j < len && (is_wsp((uint8_t)in[j]) ||
			                   in[j] == '\r' || in[j] == '\n'))
				j++;
			if (j > i && parse_eword(in, len, j, &w)) {
				i = j;
				continue;
			}
		}
		if (pcs != NULL) {
			to_utf8(pcs, pcslen, bhead(&pend), buf_used(&pend),
			        &os);
			buf_clear(&pend);
			pcs = NULL;
		}
		after_word = false;
		put(&os, in + i, 1);
		i++;
	}
	if (pcs != NULL)
		to_utf8(pcs, pcslen, bhead(&pend), buf_used(&pend), &os);
	buf_free(&pend);
}

static void
part_text(const struct mime_part *p, const uint8_t *data, struct sink *out,
          bool *first)
{
	if (p->kind == PART_MULTIPART) {
		for (const struct mime_part *ch = p->children; ch != NULL;
		     ch = ch->next)
			part_text(ch, data, out, first);
		return;
	}
	if (p->kind == PART_MESSAGE) {
		part_text(p->msg, data, out, first);
		return;
	}
	if (!is_text(p) || p->body_len == 0)
		return;
	if (!*first)
		put(out, "\n", 1);
	*first = false;
	const uint8_t *body = data + p->body_start;
	const struct mime_param *cs = param_find(p->params, "charset");
	const char *csn = cs != NULL ? cs->value.p : NULL;
	size_t cslen = cs != NULL ? cs->value.len : 0;
	bool b64 = str_ieq(p->enc, "base64");
	if (!b64 && !str_ieq(p->enc, "quoted-printable")) {
		to_utf8(csn, cslen, body, p->body_len, out);
		return;
	}
	struct buf raw = BUF_INIT;
	struct sink rs = {&raw, true};
	if (b64)
		decode_base64(body, p->body_len, &rs);
	else
		decode_qp(body, p->body_len, &rs, false);
	to_utf8(csn, cslen, bhead(&raw), buf_used(&raw), out);
	if (!rs.ok)
		out->ok = false;
	buf_free(&raw);
}

bool
mime_body_text(const struct mime_message *m, const uint8_t *data,
               struct buf *out)
{
	struct sink s = {out, true};
	bool first = true;
	part_text(m->root, data, &s, &first);
	return s.ok;
}

enum mime_binary_result
mime_binary(const struct mime_message *m, const char *spec, const uint8_t *data,
            struct buf *out)
{
	const struct mime_part *part = NULL;
	const char *s = spec;
	while (*s != '\0') {
		if (!is_digit(*s) || *s == '0')
			return MIME_BINARY_NOPART;
		unsigned long n = 0;
		while (is_digit(*s)) {
			n = n * 10 + (unsigned long)(*s++ - '0');
			if (n > UINT32_MAX)
				return MIME_BINARY_NOPART;
		}
		part = select_part(m->root, part, n);
		if (part == NULL)
			return MIME_BINARY_NOPART;
		if (*s == '.' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return MIME_BINARY_NOPART;
	}
	struct sink sk = {out, true};
	if (part == NULL) {
		/* the whole message: nothing to undo at the top (RFC 3516 4.1:
		 * only leaf parts carry an encoding that BINARY removes) */
		put(&sk, data, m->root->body_start + m->root->body_len);
		return sk.ok ? MIME_BINARY_OK : MIME_BINARY_NOMEM;
	}
	const uint8_t *body = data + part->body_start;
	struct mime_str enc = part->enc;
	if (enc.p == NULL || str_ieq(enc, "7bit") || str_ieq(enc, "8bit") ||
	    str_ieq(enc, "binary") || part->kind != PART_LEAF)
		put(&sk, body, part->body_len);
	else if (str_ieq(enc, "base64"))
		decode_base64(body, part->body_len, &sk);
	else if (str_ieq(enc, "quoted-printable"))
		decode_qp(body, part->body_len, &sk, false);
	else
		return MIME_BINARY_UNKNOWN_CTE;
	return sk.ok ? MIME_BINARY_OK : MIME_BINARY_NOMEM;
}

/*
 * Binary parts to base64, for APPEND with a literal8
 */

/* Octets of input per base64 line: 76 characters (RFC 2045 6.8). */
#define BASE64_LINE_IN 57

/* A leaf part sent with "Content-Transfer-Encoding: binary". Composite
 * parts are never re-encoded (RFC 2045 6.4: their encoding is only ever
 * an identity), their leaves are. */
static bool
is_binary_leaf(const struct mime_part *p)
{
	return p->kind == PART_LEAF && str_ieq(p->enc, "binary") &&
	       p->enc_end > p->enc_start;
}

static bool
has_binary(const struct mime_part *p)
{
	if (is_binary_leaf(p))
		return true;
	if (p->kind == PART_MESSAGE)
		return has_binary(p->msg);
	for (const struct mime_part *ch = p->children; ch != NULL;
	     ch = ch->next)
		if (has_binary(ch))
			return true;
	return false;
}

bool
mime_has_binary_parts(const struct mime_message *m)
{
	return m->root != NULL && has_binary(m->root);
}

struct b64_out {
	const uint8_t *d;
	size_t len, pos; /* input copied up to pos */
	bool (*write)(void *arg, const uint8_t *p, size_t n);
	void *arg;
	bool ok;
};

static void
b64_put(struct b64_out *o, const void *p, size_t n)
{
	if (o->ok && n > 0)
		o->ok = o->write(o->arg, p, n);
}

static void
b64_part(struct b64_out *o, const struct mime_part *p)
{
	if (p->kind == PART_MESSAGE) {
		b64_part(o, p->msg);
		return;
	}
	if (p->kind == PART_MULTIPART) {
		for (const struct mime_part *ch = p->children; ch != NULL;
		     ch = ch->next)
			b64_part(o, ch);
		return;
	}
	if (!is_binary_leaf(p))
		return;
	static const char cte[] = "Content-Transfer-Encoding: base64\r\n";
	b64_put(o, o->d + o->pos, p->enc_start - o->pos);
	b64_put(o, cte, sizeof(cte) - 1);
	b64_put(o, o->d + p->enc_end, p->body_start - p->enc_end);
	char line[BASE64_ENCODED_LEN(BASE64_LINE_IN) + 3];
	const uint8_t *body = o->d + p->body_start;
	for (size_t i = 0; i < p->body_len; i += BASE64_LINE_IN) {
		size_t n = p->body_len - i < BASE64_LINE_IN ? p->body_len - i
		                                            : BASE64_LINE_IN;
		if (i > 0)
			b64_put(o, "\r\n", 2);
		base64_encode(body + i, n, line);
		b64_put(o, line, BASE64_ENCODED_LEN(n));
	}
	o->pos = p->body_start + p->body_len;
	/* The line end before a delimiter still follows; a body that ends
	 * the message gets one of its own. */
	if (o->pos == o->len && p->body_len > 0)
		b64_put(o, "\r\n", 2);
}

bool
mime_binary_to_base64(const struct mime_message *m, const uint8_t *data,
                      size_t len,
                      bool (*write)(void *arg, const uint8_t *p, size_t n),
                      void *arg)
{
	struct b64_out o = {data, len, 0, write, arg, true};
	if (m->root != NULL)
		b64_part(&o, m->root);
	b64_put(&o, data + o.pos, len - o.pos);
	return o.ok;
}
