/*
 * The authenticated and selected states, minus FETCH/STORE (cmd-fetch.c)
 * and SEARCH (cmd-search.c): SELECT, EXAMINE, CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS, APPEND, NOOP,
 * CHECK, CLOSE, UNSELECT, EXPUNGE, COPY, MOVE and the UID forms. These run
 * on a worker thread (they do file I/O), with the session waiting.
 */
#include "commands.h"
#include "mail/utf7.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "imap/seqset.h"
#include "lib/log.h"
#include "mail/mime.h"

#define IMAP_MAIL_ERR_MAX 256
/* mailbox patterns in one LIST (RFC 5258 "patterns") */
#define IMAP_LIST_PATTERNS_MAX 64

/* The user's store, opened at the first mail command. */
static struct mailstore *
imap_store(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (s->store != NULL)
		return s->store;
	char dir[4096], err[IMAP_MAIL_ERR_MAX];
	if (s->cfg->mail_dir == NULL || s->user == NULL ||
	    !mailstore_name_valid(s->user) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/%s", s->cfg->mail_dir,
	                     s->user) >= sizeof(dir))
		return NULL;
	s->store = mailstore_open(dir, err, sizeof(err));
	if (s->store == NULL)
		log_error("mail: user=%s: %s", s->user, err);
	return s->store;
}

/* Back to the authenticated state, the mailbox closed without expunging. */
static void
imap_deselect(struct imap_session *s)
{
	if (s->mb != NULL) {
		mailbox_close(s->mb);
		s->mb = NULL;
	}
	free(s->mb_name);
	s->mb_name = NULL;
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

void
imap_mail_release(struct imap_session *s)
{
	imap_deselect(s);
	if (s->store != NULL) {
		mailstore_close(s->store);
		s->store = NULL;
	}
}

/* The tagged answer for a store result. */
static enum imap_action
imap_mail_result(struct imap_cmd_ctx *ctx, enum mail_result r, const char *err,
                 const char *ok_text)
{
	static const char *const codes[] = {
	        [MAIL_OK] = NULL,
	        [MAIL_NO] = NULL,
	        [MAIL_NONEXISTENT] = "NONEXISTENT",
	        [MAIL_ALREADYEXISTS] = "ALREADYEXISTS",
	        [MAIL_NOSPACE] = "OVERQUOTA",
	        [MAIL_TRYCREATE] = "TRYCREATE",
	        [MAIL_ERROR] = "SERVERBUG",
	};
	if (r == MAIL_OK)
		return imap_cmd_ok(ctx, NULL, ok_text);
	char text[IMAP_MAIL_ERR_MAX + 8];
	snprintf(text, sizeof(text), "%s.",
	         err != NULL && err[0] != '\0' ? err : "Failed");
	return imap_cmd_no(ctx, codes[r], text);
}

static enum imap_action
imap_no_store(struct imap_cmd_ctx *ctx)
{
	return imap_cmd_no(ctx, "UNAVAILABLE",
	                   "The mail store is not available.");
}

/*
 * Mailbox names on the wire: modified UTF-7 in IMAP4rev1 (RFC 3501
 * 5.1.3), which is also how the store spells them; UTF-8 once the client
 * enabled IMAP4rev2 (RFC 9051 5.1: there "&" is just an ampersand).
 */
static const char *
imap_name_from_wire(struct imap_cmd_ctx *ctx, const char *wire)
{
	if (!ctx->s->rev2)
		return wire;
	size_t cap = 4 * strlen(wire) + 16; /* "&" -> "&-", 3 -> 4 octets */
	char *out = arena_alloc(&ctx->arena, cap);
	if (out == NULL || !mail_utf8_to_utf7(wire, out, cap))
		return NULL;
	return out;
}

/* The other way: a stored name as the client reads it. */
static const char *
imap_name_to_wire(struct imap_cmd_ctx *ctx, const char *stored)
{
	if (!ctx->s->rev2)
		return stored;
	size_t cap = 2 * strlen(stored) + 16;
	char *out = arena_alloc(&ctx->arena, cap);
	if (out == NULL || !mail_utf7_to_utf8(stored, out, cap))
		return stored; /* not canonical (made by someone else) */
	return out;
}

static void
imap_write_name(struct imap_cmd_ctx *ctx, struct buf *o, const char *stored)
{
	const char *w = imap_name_to_wire(ctx, stored);
	imap_write_string(o, w, strlen(w));
}

/* A mailbox name argument: an astring, "INBOX" in any case normalised. */
static const char *
imap_mailbox_arg(struct imap_cmd_ctx *ctx, const struct imap_arg *a)
{
	if (!imap_arg_is_astring(a))
		return NULL;
	if (strcasecmp(a->str, "INBOX") == 0)
		return "INBOX";
	const char *name = imap_name_from_wire(ctx, a->str);
	if (name != NULL && strncasecmp(name, "INBOX.", 6) == 0) {
		char *n = arena_strndup(&ctx->arena, name, strlen(name));
		if (n != NULL)
			memcpy(n, "INBOX", 5);
		return n;
	}
	return name;
}

/* FLAGS and PERMANENTFLAGS (none if read-only), as SELECT sends them. */
static void
imap_write_mailbox_flags(struct imap_session *s, struct buf *o)
{
	struct mailbox *mb = s->mb;
	buf_append_str(o, "* FLAGS (");
	imap_write_flag_names(o, mb, false);
	buf_append_str(o, ")\r\n* OK [PERMANENTFLAGS (");
	if (!mailbox_readonly(mb))
		imap_write_flag_names(o, mb, true);
	buf_append_str(o, ")] Flags permitted.\r\n");
	const char *const *kw;
	s->kw_reported = mailbox_keywords(mb, &kw);
}

void
imap_mail_report_keywords(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	const char *const *kw;
	if (s->mb != NULL && mailbox_keywords(s->mb, &kw) != s->kw_reported)
		imap_write_mailbox_flags(s, ctx->out);
}

bool
imap_mail_sync(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (s->mb == NULL)
		return true;
	struct mail_changes ch;
	char err[IMAP_MAIL_ERR_MAX];
	memset(&ch, 0, sizeof(ch));
	if (mailbox_sync(s->mb, &ch, err, sizeof(err)) != MAIL_OK) {
		log_warn("mail: user=%s: sync: %s", s->user, err);
		return false;
	}
	imap_mail_report_keywords(ctx);
	for (size_t i = 0; i < ch.nexpunged; i++)
		buf_printf(ctx->out, "* %u EXPUNGE\r\n", ch.expunged[i]);
	for (size_t i = 0; i < ch.nflagged; i++) {
		const struct mail_msg *m = mailbox_msg(s->mb, ch.flagged[i]);
		if (m == NULL)
			continue;
		buf_printf(ctx->out, "* %u FETCH (", ch.flagged[i]);
		imap_write_flags(ctx->out, s->mb, m);
		buf_append_str(ctx->out, ")\r\n");
	}
	/* EXISTS only when the count moved past what the client knows
	 * after the expunges above (RFC 9051 7.4.1) */
	uint32_t known = s->exists_reported > ch.nexpunged
	                         ? s->exists_reported - (uint32_t)ch.nexpunged
	                         : 0;
	if (ch.exists != known) {
		buf_printf(ctx->out, "* %u EXISTS\r\n", ch.exists);
		if (!s->rev2)
			buf_printf(ctx->out, "* %u RECENT\r\n", ch.recent);
	}
	s->exists_reported = ch.exists;
	mail_changes_free(&ch);
	return true;
}

enum imap_action
imap_cmd_select(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	const char *name = count == 1 ? imap_mailbox_arg(ctx, &args[0]) : NULL;
	if (name == NULL)
		return imap_cmd_bad(ctx, "SELECT takes one mailbox name.");
	bool readonly = strcmp(ctx->cmd.name, "EXAMINE") == 0;
	if (s->mb != NULL) {
		/* RFC 9051 6.3.2: the old one is closed, without expunging */
		imap_deselect(s);
		if (s->rev2)
			buf_append_str(
			        ctx->out,
			        "* OK [CLOSED] Previous mailbox closed.\r\n");
	}
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	char err[IMAP_MAIL_ERR_MAX];
	struct mailbox *mb;
	enum mail_result r =
	        mailbox_open(ms, name, readonly, &mb, err, sizeof(err));
	if (r != MAIL_OK)
		return imap_mail_result(ctx, r, err, NULL);
	if (s->rev2)
		mailbox_hide_recent(mb);
	struct mail_changes ch;
	memset(&ch, 0, sizeof(ch));
	r = mailbox_sync(mb, &ch, err, sizeof(err));
	if (r != MAIL_OK) {
		mailbox_close(mb);
		return imap_mail_result(ctx, r, err, NULL);
	}
	s->mb = mb;
	s->state = IMAP_STATE_SELECTED;
	free(s->mb_name);
	s->mb_name = strdup(name); /* for IDLE's watches; NULL: no watch */

	struct buf *o = ctx->out;
	imap_write_mailbox_flags(s, o);
	uint32_t n = mailbox_count(mb), unseen = 0;
	buf_printf(o, "* %u EXISTS\r\n", n);
	s->exists_reported = n;
	if (!s->rev2)
		buf_printf(o, "* %u RECENT\r\n", ch.recent);
	for (uint32_t i = 1; i <= n && unseen == 0; i++)
		if (!(mailbox_msg(mb, i)->flags & MAIL_SEEN))
			unseen = i;
	if (unseen != 0 && !s->rev2)
		buf_printf(o, "* OK [UNSEEN %u] First unseen.\r\n", unseen);
	buf_printf(o, "* OK [UIDVALIDITY %u] UIDs valid.\r\n",
	           mailbox_uidvalidity(mb));
	buf_printf(o, "* OK [UIDNEXT %u] Predicted next UID.\r\n",
	           mailbox_uidnext(mb));
	if (s->rev2) {
		/* RFC 9051 6.3.2: the name as the server spells it */
		buf_printf(o, "* LIST () \"%c\" ", MAIL_HIERARCHY_SEP);
		imap_write_name(ctx, o, name);
		buf_append_str(o, "\r\n");
	}
	mail_changes_free(&ch);
	return imap_cmd_ok(
	        ctx, mailbox_readonly(mb) ? "READ-ONLY" : "READ-WRITE",
	        readonly ? "Examine completed." : "Select completed.");
}

/* One mailbox argument and the user's store, for CREATE, DELETE,
 * SUBSCRIBE, UNSUBSCRIBE; NULL with the answer in *act otherwise. */
static const char *
imap_one_mailbox(struct imap_cmd_ctx *ctx, struct mailstore **ms,
                 enum imap_action *act)
{
	struct imap_arg *args;
	size_t count;
	if (!imap_cmd_args(ctx, &args, &count, act))
		return NULL;
	const char *name = count == 1 ? imap_mailbox_arg(ctx, &args[0]) : NULL;
	if (name == NULL) {
		char text[80];
		snprintf(text, sizeof(text), "%s takes one mailbox name.",
		         ctx->cmd.name);
		*act = imap_cmd_bad(ctx, text);
	} else if ((*ms = imap_store(ctx)) == NULL) {
		*act = imap_no_store(ctx);
		name = NULL;
	}
	return name;
}

enum imap_action
imap_cmd_create(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	struct mailstore *ms;
	const char *name = imap_one_mailbox(ctx, &ms, &act);
	if (name == NULL)
		return act;
	/* RFC 9051 6.3.4: a trailing separator only says "will have
	 * children" */
	char trimmed[MAIL_NAME_MAX + 1];
	snprintf(trimmed, sizeof(trimmed), "%s", name);
	size_t n = strlen(trimmed);
	if (n > 1 && trimmed[n - 1] == MAIL_HIERARCHY_SEP)
		trimmed[n - 1] = '\0';
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r = mailstore_create(ms, trimmed, err, sizeof(err));
	return imap_mail_result(ctx, r, err, "Create completed.");
}

enum imap_action
imap_cmd_delete(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	struct mailstore *ms;
	const char *name = imap_one_mailbox(ctx, &ms, &act);
	if (name == NULL)
		return act;
	struct imap_session *s = ctx->s;
	if (s->mb != NULL && s->mb_name != NULL &&
	    strcmp(s->mb_name, name) == 0) {
		/* deleting the selected mailbox deselects it, as Dovecot does,
		 * rather than ending the session at the next sync */
		imap_deselect(s);
	}
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r = mailstore_delete(ms, name, err, sizeof(err));
	return imap_mail_result(ctx, r, err, "Delete completed.");
}

enum imap_action
imap_cmd_rename(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	const char *from = count == 2 ? imap_mailbox_arg(ctx, &args[0]) : NULL;
	const char *to = count == 2 ? imap_mailbox_arg(ctx, &args[1]) : NULL;
	if (from == NULL || to == NULL)
		return imap_cmd_bad(ctx, "RENAME takes two mailbox names.");
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r = mailstore_rename(ms, from, to, err, sizeof(err));
	return imap_mail_result(ctx, r, err, "Rename completed.");
}

enum imap_action
imap_cmd_subscribe(struct imap_cmd_ctx *ctx)
{
	enum imap_action act;
	struct mailstore *ms;
	const char *name = imap_one_mailbox(ctx, &ms, &act);
	if (name == NULL)
		return act;
	bool on = strcmp(ctx->cmd.name, "SUBSCRIBE") == 0;
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r =
	        mailstore_subscribe(ms, name, on, err, sizeof(err));
	return imap_mail_result(ctx, r, err,
	                        on ? "Subscribe completed."
	                           : "Unsubscribe completed.");
}

/* STATUS items, in the order they are answered; bit i of a "want" mask is
 * items[i]. */
static const char *const imap_status_items[] = {
        "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
        "UNSEEN",   "SIZE",   "DELETED"};
#define IMAP_STATUS_NITEMS                                                     \
	(sizeof(imap_status_items) / sizeof(imap_status_items[0]))
#define IMAP_STATUS_RECENT (1u << 1)

/* A STATUS item list (STATUS, and LIST's RETURN (STATUS ...)); NULL, or
 * what is wrong with it. */
static const char *
imap_status_parse(const struct imap_session *s, const struct imap_arg *list,
                  unsigned *want)
{
	*want = 0;
	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return "STATUS takes a mailbox and a list of items.";
	for (size_t i = 0; i < list->count; i++) {
		size_t k;
		const struct imap_arg *a = &list->list[i];
		for (k = 0; k < IMAP_STATUS_NITEMS; k++)
			if (a->type == IMAP_ARG_ATOM &&
			    strcasecmp(a->str, imap_status_items[k]) == 0)
				break;
		if (k == IMAP_STATUS_NITEMS)
			return "Unknown STATUS item.";
		/* RFC 9051 Appendix E: no RECENT in IMAP4rev2 */
		if (s->rev2 && (1u << k) == IMAP_STATUS_RECENT)
			return "STATUS RECENT is not part of IMAP4rev2.";
		*want |= 1u << k;
	}
	return NULL;
}

/* "* STATUS name (...)" for one mailbox. */
static enum mail_result
imap_status_write(struct imap_cmd_ctx *ctx, struct mailstore *ms,
                  const char *name, unsigned want, char *err, size_t errlen)
{
	struct mail_status st;
	enum mail_result r = mailstore_status(ms, name, &st, err, errlen);
	if (r != MAIL_OK)
		return r;
	uint64_t values[] = {st.messages, st.recent, st.uidnext, st.uidvalidity,
	                     st.unseen,   st.size,   st.deleted};
	buf_append_str(ctx->out, "* STATUS ");
	imap_write_name(ctx, ctx->out, name);
	buf_append_str(ctx->out, " (");
	bool first = true;
	for (size_t k = 0; k < IMAP_STATUS_NITEMS; k++) {
		if (!(want & (1u << k)))
			continue;
		buf_printf(ctx->out, "%s%s %llu", first ? "" : " ",
		           imap_status_items[k], (unsigned long long)values[k]);
		first = false;
	}
	buf_append_str(ctx->out, ")\r\n");
	return MAIL_OK;
}

/* LIST-EXTENDED (RFC 5258) selection and return options, RFC 6154's
 * SPECIAL-USE and RFC 5819's STATUS. */
enum imap_list_opt {
	LIST_SEL_SUBSCRIBED = 1 << 0,
	LIST_SEL_REMOTE = 1 << 1, /* nothing is remote: no effect */
	LIST_SEL_RECURSIVEMATCH = 1 << 2,
	LIST_SEL_SPECIAL_USE = 1 << 3,
	LIST_RET_SUBSCRIBED = 1 << 4,
	LIST_RET_CHILDREN = 1 << 5,    /* always given anyway */
	LIST_RET_SPECIAL_USE = 1 << 6, /* always given anyway */
	LIST_RET_STATUS = 1 << 7,
};
#define LIST_SEL_BASE (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE)

struct imap_list_entry {
	char *name;       /* as stored: STATUS, parents, the order */
	const char *wire; /* as the client reads it: matching, output */
	unsigned attrs;
	bool meets;     /* satisfies the selection criteria */
	bool childinfo; /* a descendant outside the patterns does */
};

struct imap_list_ctx {
	struct imap_cmd_ctx *ctx;
	const char **patterns; /* reference and pattern joined */
	size_t npatterns;
	bool lsub;
	/* LSUB: names listed, and parents of subscribed names that match
	 * where their children do not (NUL-separated) */
	struct buf listed, parents;
	/* LIST: every name, collected first because RECURSIVEMATCH needs
	 * to know about descendants */
	struct imap_list_entry *entries;
	size_t n, cap;
	bool oom;
};

static bool imap_list_match(const char *pattern, const char *name);

static bool
imap_list_match_any(const struct imap_list_ctx *l, const char *name)
{
	for (size_t i = 0; i < l->npatterns; i++)
		if (imap_list_match(l->patterns[i], name))
			return true;
	return false;
}

static bool
imap_list_has(const struct buf *b, const char *name)
{
	size_t n = strlen(name) + 1;
	for (size_t o = 0; o + n <= b->len;) {
		const char *s = (const char *)b->data + o;
		if (memcmp(s, name, n) == 0)
			return true;
		o += strlen(s) + 1;
	}
	return false;
}

/* RFC 3501 6.3.9: with "%", LSUB returns the parent of a subscribed name
 * that the pattern would not show, flagged \Noselect. */
static void
imap_lsub_parents(struct imap_list_ctx *l, const char *name)
{
	char prefix[MAIL_NAME_MAX + 1];
	for (const char *p = strchr(name, MAIL_HIERARCHY_SEP); p != NULL;
	     p = strchr(p + 1, MAIL_HIERARCHY_SEP)) {
		size_t n = (size_t)(p - name);
		if (n >= sizeof(prefix))
			break;
		memcpy(prefix, name, n);
		prefix[n] = '\0';
		if (imap_list_match_any(l, imap_name_to_wire(l->ctx, prefix)) &&
		    !imap_list_has(&l->parents, prefix))
			buf_append(&l->parents, prefix, n + 1);
	}
}

/* IMAP patterns: "*" matches anything, "%" anything but the separator. */
static bool
imap_list_match(const char *pattern, const char *name)
{
	for (; *pattern != '\0'; pattern++, name++) {
		if (*pattern == '*' || *pattern == '%') {
			for (const char *n = name;; n++) {
				if (imap_list_match(pattern + 1, n))
					return true;
				if (*n == '\0' || (*pattern == '%' &&
				                   *n == MAIL_HIERARCHY_SEP))
					return false;
			}
		}
		if (*name == '\0' || *pattern != *name)
			return false;
	}
	return *name == '\0';
}

/* "* LIST (attrs) "." name", without the line end. */
static void
imap_list_write(struct buf *o, const char *cmd, const char *name,
                unsigned attrs, bool lsub, bool subscribed)
{
	static const struct {
		unsigned attr;
		const char *text;
	} names[] = {
	        {MAIL_ATTR_NOSELECT, "\\Noselect"},
	        {MAIL_ATTR_HASCHILDREN, "\\HasChildren"},
	        {MAIL_ATTR_HASNOCHILDREN, "\\HasNoChildren"},
	        {MAIL_ATTR_DRAFTS, "\\Drafts"},
	        {MAIL_ATTR_SENT, "\\Sent"},
	        {MAIL_ATTR_TRASH, "\\Trash"},
	        {MAIL_ATTR_JUNK, "\\Junk"},
	        {MAIL_ATTR_ARCHIVE, "\\Archive"},
	        {MAIL_ATTR_SUBSCRIBED, "\\Subscribed"},
	        {MAIL_ATTR_NONEXISTENT, "\\NonExistent"},
	};
	buf_printf(o, "* %s (", cmd);
	bool first = true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(attrs & names[i].attr))
			continue;
		if (lsub && names[i].attr != MAIL_ATTR_NOSELECT)
			continue;
		if (names[i].attr == MAIL_ATTR_SUBSCRIBED && !subscribed)
			continue;
		buf_printf(o, "%s%s", first ? "" : " ", names[i].text);
		first = false;
	}
	buf_printf(o, ") \"%c\" ", MAIL_HIERARCHY_SEP);
	imap_write_string(o, name, strlen(name));
}

static void
imap_lsub_one(const char *name, unsigned attrs, void *arg)
{
	struct imap_list_ctx *l = arg;
	if (!(attrs & MAIL_ATTR_SUBSCRIBED))
		return;
	const char *wire = imap_name_to_wire(l->ctx, name);
	if (!imap_list_match_any(l, wire)) {
		imap_lsub_parents(l, name);
		return;
	}
	buf_append(&l->listed, name, strlen(name) + 1);
	/* a subscribed name that is no mailbox cannot be selected */
	if (attrs & MAIL_ATTR_NONEXISTENT)
		attrs |= MAIL_ATTR_NOSELECT;
	imap_list_write(l->ctx->out, "LSUB", wire, attrs, true, false);
	buf_append_str(l->ctx->out, "\r\n");
}

static void
imap_list_collect(const char *name, unsigned attrs, void *arg)
{
	struct imap_list_ctx *l = arg;
	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct imap_list_entry *e =
		        realloc(l->entries, cap * sizeof(*e));
		if (e == NULL) {
			l->oom = true;
			return;
		}
		l->entries = e;
		l->cap = cap;
	}
	struct imap_list_entry *e = &l->entries[l->n];
	if ((e->name = strdup(name)) == NULL ||
	    (e->wire = imap_name_to_wire(l->ctx, e->name)) == NULL) {
		free(e->name);
		l->oom = true;
		return;
	}
	e->attrs = attrs;
	e->meets = e->childinfo = false;
	l->n++;
}

static int
imap_list_entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct imap_list_entry *)elem)->name);
}

/* Which entries meet the selection criteria, and (RECURSIVEMATCH) which
 * have a descendant that meets them but is outside the patterns: RFC 5258
 * 3, \NonExistent condition 2, and CHILDINFO. */
static void
imap_list_select(struct imap_list_ctx *l, unsigned opts)
{
	for (size_t i = 0; i < l->n; i++) {
		struct imap_list_entry *e = &l->entries[i];
		unsigned a = e->attrs;
		e->meets = (!(opts & LIST_SEL_SUBSCRIBED) ||
		            (a & MAIL_ATTR_SUBSCRIBED)) &&
		           (!(opts & LIST_SEL_SPECIAL_USE) ||
		            (a & MAIL_ATTR_SPECIAL_USE)) &&
		           ((opts & LIST_SEL_SUBSCRIBED) ||
		            !(a & MAIL_ATTR_NONEXISTENT));
	}
	if (!(opts & LIST_SEL_RECURSIVEMATCH))
		return;
	char prefix[MAIL_NAME_MAX + 1];
	for (size_t i = 0; i < l->n; i++) {
		const struct imap_list_entry *e = &l->entries[i];
		if (!e->meets || imap_list_match_any(l, e->wire))
			continue;
		for (const char *p = strchr(e->name, MAIL_HIERARCHY_SEP);
		     p != NULL; p = strchr(p + 1, MAIL_HIERARCHY_SEP)) {
			size_t n = (size_t)(p - e->name);
			if (n >= sizeof(prefix))
				break;
			memcpy(prefix, e->name, n);
			prefix[n] = '\0';
			/* entries come in strcmp order (mailstore_list) */
			struct imap_list_entry *parent = bsearch(
			        prefix, l->entries, l->n, sizeof(*l->entries),
			        imap_list_entry_cmp);
			if (parent != NULL)
				parent->childinfo = true;
		}
	}
}

static void
imap_list_emit(struct imap_list_ctx *l, struct mailstore *ms, unsigned opts,
               unsigned status_want)
{
	struct buf *o = l->ctx->out;
	const char *base =
	        (opts & LIST_SEL_SUBSCRIBED) && (opts & LIST_SEL_SPECIAL_USE)
	                ? "(\"SUBSCRIBED\" \"SPECIAL-USE\")"
	        : (opts & LIST_SEL_SUBSCRIBED) ? "(\"SUBSCRIBED\")"
	                                       : "(\"SPECIAL-USE\")";
	for (size_t i = 0; i < l->n; i++) {
		const struct imap_list_entry *e = &l->entries[i];
		if (!(e->meets || e->childinfo) ||
		    !imap_list_match_any(l, e->wire))
			continue;
		imap_list_write(o, "LIST", e->wire, e->attrs, false,
		                (opts & LIST_RET_SUBSCRIBED) != 0);
		if (e->childinfo)
			buf_printf(o, " (\"CHILDINFO\" %s)", base);
		buf_append_str(o, "\r\n");
		/* RFC 5819: right after its LIST, and only for a mailbox
		 * that can be selected; one that fails is left out */
		if ((opts & LIST_RET_STATUS) &&
		    !(e->attrs &
		      (MAIL_ATTR_NOSELECT | MAIL_ATTR_NONEXISTENT))) {
			char err[IMAP_MAIL_ERR_MAX];
			imap_status_write(l->ctx, ms, e->name, status_want, err,
			                  sizeof(err));
		}
	}
}

/* "(SUBSCRIBED RECURSIVEMATCH ...)": NULL, or what is wrong. */
static const char *
imap_list_parse_select(const struct imap_arg *list, unsigned *opts)
{
	static const struct {
		const char *name;
		unsigned opt;
	} sel[] = {
	        {"SUBSCRIBED", LIST_SEL_SUBSCRIBED},
	        {"REMOTE", LIST_SEL_REMOTE},
	        {"RECURSIVEMATCH", LIST_SEL_RECURSIVEMATCH},
	        {"SPECIAL-USE", LIST_SEL_SPECIAL_USE},
	};
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k = 0;
		while (k < sizeof(sel) / sizeof(sel[0]) &&
		       !(a->type == IMAP_ARG_ATOM &&
		         strcasecmp(a->str, sel[k].name) == 0))
			k++;
		if (k == sizeof(sel) / sizeof(sel[0]))
			return "LIST: unknown selection option.";
		*opts |= sel[k].opt;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH alone is an error */
	if ((*opts & LIST_SEL_RECURSIVEMATCH) && !(*opts & LIST_SEL_BASE))
		return "LIST: RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE.";
	/* the SUBSCRIBED selection implies the return option */
	if (*opts & LIST_SEL_SUBSCRIBED)
		*opts |= LIST_RET_SUBSCRIBED;
	return NULL;
}

/* "RETURN (SUBSCRIBED CHILDREN STATUS (...))": NULL, or what is wrong. */
static const char *
imap_list_parse_return(const struct imap_session *s,
                       const struct imap_arg *list, unsigned *opts,
                       unsigned *status_want)
{
	static const struct {
		const char *name;
		unsigned opt;
	} ret[] = {
	        {"SUBSCRIBED", LIST_RET_SUBSCRIBED},
	        {"CHILDREN", LIST_RET_CHILDREN},
	        {"SPECIAL-USE", LIST_RET_SPECIAL_USE},
	        {"STATUS", LIST_RET_STATUS},
	};
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k = 0;
		while (k < sizeof(ret) / sizeof(ret[0]) &&
		       !(a->type == IMAP_ARG_ATOM &&
		         strcasecmp(a->str, ret[k].name) == 0))
			k++;
		if (k == sizeof(ret) / sizeof(ret[0]))
			return "LIST: unknown return option.";
		if (ret[k].opt == LIST_RET_STATUS) {
			if (i + 1 == list->count ||
			    list->list[i + 1].type != IMAP_ARG_LIST)
				return "LIST: RETURN STATUS takes a list of "
				       "items.";
			const char *e = imap_status_parse(s, &list->list[++i],
			                                  status_want);
			if (e != NULL)
				return e;
		}
		*opts |= ret[k].opt;
	}
	return NULL;
}

/* Reference and pattern joined, INBOX in any case spelt "INBOX". */
static const char *
imap_list_join(struct imap_cmd_ctx *ctx, const char *ref, const char *pat)
{
	size_t len = strlen(ref) + strlen(pat) + 1;
	char *joined = arena_alloc(&ctx->arena, len);
	if (joined == NULL)
		return NULL;
	snprintf(joined, len, "%s%s", ref, pat);
	if (strncasecmp(joined, "INBOX", 5) == 0 &&
	    (joined[5] == '\0' || joined[5] == MAIL_HIERARCHY_SEP))
		memcpy(joined, "INBOX", 5);
	return joined;
}

static enum imap_action
imap_cmd_lsub(struct imap_cmd_ctx *ctx, struct imap_arg *args, size_t count)
{
	if (count != 2 || !imap_arg_is_astring(&args[0]) ||
	    !imap_arg_is_astring(&args[1]))
		return imap_cmd_bad(ctx, "LSUB takes a reference and a "
		                         "pattern.");
	if (args[1].str[0] == '\0')
		return imap_cmd_ok(ctx, NULL, "Lsub completed.");
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	const char *joined = imap_list_join(ctx, args[0].str, args[1].str);
	if (joined == NULL)
		return imap_no_store(ctx);
	struct imap_list_ctx l = {.ctx = ctx,
	                          .patterns = &joined,
	                          .npatterns = 1,
	                          .lsub = true,
	                          .listed = BUF_INIT,
	                          .parents = BUF_INIT};
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r =
	        mailstore_list(ms, imap_lsub_one, &l, err, sizeof(err));
	for (size_t o = 0; r == MAIL_OK && o < l.parents.len;) {
		const char *p = (const char *)l.parents.data + o;
		if (!imap_list_has(&l.listed, p)) {
			buf_printf(ctx->out, "* LSUB (\\Noselect) \"%c\" ",
			           MAIL_HIERARCHY_SEP);
			imap_write_name(ctx, ctx->out, p);
			buf_append_str(ctx->out, "\r\n");
		}
		o += strlen(p) + 1;
	}
	buf_free(&l.listed);
	buf_free(&l.parents);
	return imap_mail_result(ctx, r, err, "Lsub completed.");
}

enum imap_action
imap_cmd_list(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	if (strcmp(ctx->cmd.name, "LSUB") == 0)
		return imap_cmd_lsub(ctx, args, count);
	/* list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
	 *        [SP list-return-opts]            (RFC 5258 section 6) */
	unsigned opts = 0, status_want = 0;
	size_t i = 0;
	const char *e = NULL;
	if (count > 0 && args[0].type == IMAP_ARG_LIST)
		e = imap_list_parse_select(&args[i++], &opts);
	if (e != NULL)
		return imap_cmd_bad(ctx, e);
	if (count < i + 2 || !imap_arg_is_astring(&args[i]) ||
	    !(imap_arg_is_astring(&args[i + 1]) ||
	      (args[i + 1].type == IMAP_ARG_LIST && args[i + 1].count > 0)))
		return imap_cmd_bad(ctx, "LIST takes a reference and a "
		                         "pattern.");
	const struct imap_arg *ref = &args[i], *pat = &args[i + 1];
	i += 2;
	if (i < count) {
		if (count != i + 2 || args[i].type != IMAP_ARG_ATOM ||
		    strcasecmp(args[i].str, "RETURN") != 0 ||
		    args[i + 1].type != IMAP_ARG_LIST)
			return imap_cmd_bad(ctx, "LIST: expected RETURN and a "
			                         "list of options.");
		e = imap_list_parse_return(ctx->s, &args[i + 1], &opts,
		                           &status_want);
		if (e != NULL)
			return imap_cmd_bad(ctx, e);
	}
	const struct imap_arg *pats =
	        pat->type == IMAP_ARG_LIST ? pat->list : pat;
	size_t npats = pat->type == IMAP_ARG_LIST ? pat->count : 1;
	if (npats > IMAP_LIST_PATTERNS_MAX)
		return imap_cmd_bad(ctx, "LIST: too many patterns.");
	const char **joined = arena_alloc(&ctx->arena, npats * sizeof(*joined));
	if (joined == NULL)
		return imap_no_store(ctx);
	size_t njoined = 0;
	bool empty = false;
	for (size_t k = 0; k < npats; k++) {
		if (!imap_arg_is_astring(&pats[k]))
			return imap_cmd_bad(ctx, "LIST: a pattern must be a "
			                         "string.");
		if (pats[k].str[0] == '\0') {
			empty = true;
			continue;
		}
		if ((joined[njoined++] = imap_list_join(ctx, ref->str,
		                                        pats[k].str)) == NULL)
			return imap_no_store(ctx);
	}
	if (empty && !(opts & LIST_SEL_BASE))
		/* the hierarchy delimiter and root (RFC 9051 6.3.9); with
		 * SUBSCRIBED or SPECIAL-USE "" names no mailbox that could
		 * meet them */
		buf_printf(ctx->out, "* LIST (\\Noselect) \"%c\" \"\"\r\n",
		           MAIL_HIERARCHY_SEP);
	if (njoined == 0)
		return imap_cmd_ok(ctx, NULL, "List completed.");
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	struct imap_list_ctx l = {
	        .ctx = ctx, .patterns = joined, .npatterns = njoined};
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r =
	        mailstore_list(ms, imap_list_collect, &l, err, sizeof(err));
	if (r == MAIL_OK && l.oom)
		r = MAIL_ERROR;
	if (r == MAIL_OK) {
		imap_list_select(&l, opts);
		imap_list_emit(&l, ms, opts, status_want);
	}
	for (size_t k = 0; k < l.n; k++)
		free(l.entries[k].name);
	free(l.entries);
	return imap_mail_result(ctx, r, err, "List completed.");
}

enum imap_action
imap_cmd_namespace(struct imap_cmd_ctx *ctx)
{
	if (ctx->cmd.rest_len != 0)
		return imap_cmd_bad(ctx, "NAMESPACE takes no arguments.");
	buf_printf(ctx->out, "* NAMESPACE ((\"\" \"%c\")) NIL NIL\r\n",
	           MAIL_HIERARCHY_SEP);
	return imap_cmd_ok(ctx, NULL, "Namespace completed.");
}

enum imap_action
imap_cmd_status(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	const char *name = count == 2 ? imap_mailbox_arg(ctx, &args[0]) : NULL;
	if (name == NULL)
		return imap_cmd_bad(ctx, "STATUS takes a mailbox and a list of "
		                         "items.");
	unsigned want;
	const char *e = imap_status_parse(ctx->s, &args[1], &want);
	if (e != NULL)
		return imap_cmd_bad(ctx, e);
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r =
	        imap_status_write(ctx, ms, name, want, err, sizeof(err));
	if (r != MAIL_OK)
		return imap_mail_result(ctx, r, err, NULL);
	return imap_cmd_ok(ctx, NULL, "Status completed.");
}

/* Output of the binary-to-base64 rewrite, written through a buffer. */
struct append_out {
	int fd;
	struct buf b;
};

/* Octets of rewritten message buffered before each write(). */
#define IMAP_APPEND_REWRITE_BUF (64 * 1024)

static bool
append_out_flush(struct append_out *o)
{
	const uint8_t *p = buf_head(&o->b);
	size_t n = buf_used(&o->b);
	while (n > 0) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	buf_clear(&o->b);
	return true;
}

static bool
append_out_write(void *arg, const uint8_t *p, size_t n)
{
	struct append_out *o = arg;
	if (!buf_append(&o->b, p, n))
		return false;
	return buf_used(&o->b) < IMAP_APPEND_REWRITE_BUF || append_out_flush(o);
}

/*
 * A message APPENDed in a literal8 may hold parts in "Content-Transfer-
 * Encoding: binary": they are stored as base64, as Dovecot does, so that
 * the octets survive the LF -> CRLF conversion on the way out, BODY[]
 * never sends a NUL, and BINARY[] gives them back exactly (RFC 3516 4.4).
 * Replaces *fd and *size by the rewritten message when there is such a
 * part (in an unnamed file in mail_dir like the spill file, or in
 * memory if there is none).
 * False if it could not be read or written.
 */
static bool
append_binary_rewrite(struct imap_cmd_ctx *ctx, int *fd, uint64_t *size)
{
	if (*size == 0 || *size > SIZE_MAX)
		return true;
	size_t len = (size_t)*size;
	void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, *fd, 0);
	if (map == MAP_FAILED)
		return false;
	struct mime_message *mm = mime_parse(map, len);
	bool ok = mm != NULL;
	if (ok && mime_has_binary_parts(mm)) {
		const char *dir = ctx->s->cfg->mail_dir;
		struct append_out o = {-1, BUF_INIT};
		if (dir != NULL)
			o.fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (o.fd < 0)
			o.fd = memfd_create("append", MFD_CLOEXEC);
		off_t end = -1;
		ok = o.fd >= 0 &&
		     mime_binary_to_base64(mm, map, len, append_out_write,
		                           &o) &&
		     append_out_flush(&o) &&
		     (end = lseek(o.fd, 0, SEEK_CUR)) > 0 &&
		     lseek(o.fd, 0, SEEK_SET) == 0;
		buf_free(&o.b);
		if (ok) {
			close(*fd);
			*fd = o.fd;
			*size = (uint64_t)end;
		} else if (o.fd >= 0) {
			close(o.fd);
		}
	}
	if (mm != NULL)
		mime_free(mm);
	munmap(map, len);
	return ok;
}

enum imap_action
imap_cmd_append(struct imap_cmd_ctx *ctx)
{
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	const char *name = count >= 2 ? imap_mailbox_arg(ctx, &args[0]) : NULL;
	size_t i = 1;
	uint32_t flags = 0;
	const char *keywords[MAIL_KEYWORDS_MAX];
	size_t nkeywords = 0;
	int64_t date = (int64_t)time(NULL);
	if (name == NULL)
		return imap_cmd_bad(ctx, "APPEND takes a mailbox, optional "
		                         "flags and date, and a literal.");
	if (i < count && args[i].type == IMAP_ARG_LIST) {
		if (!imap_parse_flag_list(&args[i], &flags, keywords,
		                          &nkeywords))
			return imap_cmd_bad(ctx, "APPEND: invalid flags.");
		flags &= ~MAIL_RECENT;
		i++;
	}
	if (i < count && args[i].type == IMAP_ARG_QUOTED) {
		if (!imap_parse_datetime(args[i].str, &date))
			return imap_cmd_bad(ctx, "APPEND: invalid date-time.");
		i++;
	}
	if (i + 1 != count || args[i].type != IMAP_ARG_LITERAL)
		return imap_cmd_bad(ctx, "APPEND takes a mailbox, optional "
		                         "flags and date, and a literal.");
	if (args[i].len == 0)
		return imap_cmd_no(ctx, NULL,
		                   "An empty message is no message.");
	struct mailstore *ms = imap_store(ctx);
	if (ms == NULL)
		return imap_no_store(ctx);
	/* The store reads from a descriptor: a big message is already in
	 * the spill file the collector wrote it to as it arrived; a small one
	 * is in memory and staged in a memory file. */
	const struct imap_spill_file *sf = &ctx->s->mail_spill;
	int fd;
	if (args[i].spilled) {
		if (sf->error)
			return imap_cmd_no(ctx, "OVERQUOTA",
			                   "Not enough disk space to receive "
			                   "the message.");
		fd = dup(sf->fd);
		if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) {
			if (fd >= 0)
				close(fd);
			return imap_cmd_no(ctx, "SERVERBUG",
			                   "Cannot read the message back.");
		}
	} else {
		fd = memfd_create("append", MFD_CLOEXEC);
		if (fd < 0 ||
		    write(fd, args[i].str, args[i].len) !=
		            (ssize_t)args[i].len ||
		    lseek(fd, 0, SEEK_SET) != 0) {
			if (fd >= 0)
				close(fd);
			return imap_cmd_no(ctx, "SERVERBUG",
			                   "Cannot stage the message.");
		}
	}
	uint64_t size = args[i].len;
	if (args[i].binary && !append_binary_rewrite(ctx, &fd, &size)) {
		close(fd);
		return imap_cmd_no(ctx, "SERVERBUG",
		                   "Cannot stage the message.");
	}
	uint32_t uidvalidity = 0, uid = 0;
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r =
	        mailstore_append(ms, name, fd, size, flags, keywords, nkeywords,
	                         date, &uidvalidity, &uid, err, sizeof(err));
	close(fd);
	if (r != MAIL_OK)
		return imap_mail_result(ctx, r, err, NULL);
	if (ctx->s->mb != NULL)
		imap_mail_sync(ctx);
	char code[64];
	snprintf(code, sizeof(code), "APPENDUID %u %u", uidvalidity, uid);
	return imap_cmd_ok(ctx, code, "Append completed.");
}

enum imap_action
imap_cmd_mail_noop(struct imap_cmd_ctx *ctx)
{
	if (ctx->cmd.rest_len != 0) {
		char text[64];
		snprintf(text, sizeof(text), "%s takes no arguments.",
		         ctx->cmd.name);
		return imap_cmd_bad(ctx, text);
	}
	if (!imap_mail_sync(ctx)) {
		imap_session_bye(ctx->s, ctx->out,
		                 "The selected mailbox is gone.");
		return IMAP_ACTION_CLOSE;
	}
	char text[64];
	snprintf(text, sizeof(text), "%s completed.", ctx->cmd.name);
	return imap_cmd_ok(ctx, NULL, text);
}

/* EXPUNGE and UID EXPUNGE (uids); false when it answered NO itself. */
static bool
imap_expunge(struct imap_cmd_ctx *ctx, const uint32_t *uids, size_t n)
{
	struct imap_session *s = ctx->s;
	if (mailbox_readonly(s->mb)) {
		imap_cmd_no(ctx, "READ-ONLY", "The mailbox is read-only.");
		return false;
	}
	char err[IMAP_MAIL_ERR_MAX] = "";
	enum mail_result r = mailbox_expunge(s->mb, uids, n, err, sizeof(err));
	if (r != MAIL_OK) {
		imap_mail_result(ctx, r, err, NULL);
		return false;
	}
	imap_mail_sync(ctx);
	return true;
}

enum imap_action
imap_cmd_close(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (ctx->cmd.rest_len != 0)
		return imap_cmd_bad(ctx, "This command takes no arguments.");
	bool close = strcmp(ctx->cmd.name, "CLOSE") == 0;
	if (close && !mailbox_readonly(s->mb)) {
		char err[IMAP_MAIL_ERR_MAX];
		mailbox_expunge(s->mb, NULL, 0, err, sizeof(err));
	}
	imap_deselect(s);
	return imap_cmd_ok(ctx, NULL,
	                   close ? "Close completed." : "Unselect completed.");
}

enum imap_action
imap_cmd_expunge(struct imap_cmd_ctx *ctx)
{
	if (ctx->cmd.rest_len != 0)
		return imap_cmd_bad(ctx, "EXPUNGE takes no arguments.");
	if (!imap_expunge(ctx, NULL, 0))
		return IMAP_ACTION_NONE;
	return imap_cmd_ok(ctx, NULL, "Expunge completed.");
}

/* The messages of a set, as sequence numbers, ascending. */
uint32_t *
imap_set_seqs(struct imap_cmd_ctx *ctx, const char *set, bool uid, size_t *n)
{
	struct mailbox *mb = ctx->s->mb;
	uint32_t count = mailbox_count(mb);
	uint32_t star = count == 0 ? 0
	                : uid      ? mailbox_msg(mb, count)->uid
	                           : count;
	struct seqset ss;
	*n = 0;
	if (!seqset_parse(set, star, &ss))
		return NULL;
	/* a sequence number beyond EXISTS is the client's error (RFC 9051
	 * 9, "seq-number"); a UID beyond the last is just no message */
	for (size_t i = 0; !uid && i < ss.n; i++)
		if (ss.ranges[i].hi > count || ss.ranges[i].lo == 0) {
			seqset_free(&ss);
			return NULL;
		}
	uint32_t *seqs =
	        arena_alloc(&ctx->arena, (count ? count : 1) * sizeof(*seqs));
	for (uint32_t i = 1; seqs != NULL && i <= count; i++)
		if (seqset_contains(&ss, uid ? mailbox_msg(mb, i)->uid : i))
			seqs[(*n)++] = i;
	seqset_free(&ss);
	return seqs;
}

/* COPY, MOVE and their UID forms. */
static enum imap_action
imap_copy(struct imap_cmd_ctx *ctx, bool uid)
{
	struct imap_session *s = ctx->s;
	struct imap_arg *args;
	size_t count;
	enum imap_action act;
	bool move = strcmp(ctx->cmd.name, "MOVE") == 0;
	if (!imap_cmd_args(ctx, &args, &count, &act))
		return act;
	const char *dest = count == 2 && args[0].type == IMAP_ARG_ATOM
	                           ? imap_mailbox_arg(ctx, &args[1])
	                           : NULL;
	if (dest == NULL)
		return imap_cmd_bad(ctx, "COPY and MOVE take a set and a "
		                         "mailbox.");
	size_t n;
	uint32_t *seqs = imap_set_seqs(ctx, args[0].str, uid, &n);
	if (seqs == NULL)
		return imap_cmd_bad(ctx, "Invalid sequence set.");
	if (move && mailbox_readonly(s->mb))
		return imap_cmd_no(ctx, "READ-ONLY",
		                   "The mailbox is read-only.");
	if (n == 0)
		return imap_cmd_ok(ctx, NULL,
		                   move ? "No messages moved."
		                        : "No messages copied.");
	uint32_t *new_uids = arena_alloc(&ctx->arena, n * sizeof(uint32_t));
	uint32_t *src_uids = arena_alloc(&ctx->arena, n * sizeof(uint32_t));
	uint32_t dest_validity = 0;
	char err[IMAP_MAIL_ERR_MAX] = "";
	if (new_uids == NULL || src_uids == NULL)
		return imap_cmd_no(ctx, "SERVERBUG", "Out of memory.");
	for (size_t i = 0; i < n; i++)
		src_uids[i] = mailbox_msg(s->mb, seqs[i])->uid;
	/* MOVE is one step in the store: a crash leaves each message in
	 * exactly one of the two mailboxes (RFC 6851 3.3) */
	enum mail_result r =
	        move ? mailbox_move(s->mb, seqs, n, dest, &dest_validity,
	                            new_uids, err, sizeof(err))
	             : mailbox_copy(s->mb, seqs, n, dest, &dest_validity,
	                            new_uids, err, sizeof(err));
	if (r != MAIL_OK)
		return imap_mail_result(ctx, r, err, NULL);

	struct buf code = BUF_INIT;
	buf_printf(&code, "COPYUID %u ", dest_validity);
	for (size_t i = 0; i < n; i++)
		buf_printf(&code, "%s%u", i ? "," : "", src_uids[i]);
	buf_append_str(&code, " ");
	for (size_t i = 0; i < n; i++)
		buf_printf(&code, "%s%u", i ? "," : "", new_uids[i]);
	buf_append(&code, "", 1);
	if (move) {
		/* RFC 6851: COPYUID untagged, then the expunges */
		buf_printf(ctx->out, "* OK [%s] Moved.\r\n",
		           (const char *)code.data);
		imap_mail_sync(ctx);
		buf_free(&code);
		return imap_cmd_ok(ctx, NULL, "Move completed.");
	}
	imap_mail_sync(ctx); /* a copy into this mailbox: EXISTS */
	act = imap_cmd_ok(ctx, (const char *)code.data, "Copy completed.");
	buf_free(&code);
	return act;
}

enum imap_action
imap_cmd_copy(struct imap_cmd_ctx *ctx)
{
	return imap_copy(ctx, false);
}

enum imap_action
imap_cmd_uid(struct imap_cmd_ctx *ctx)
{
	/* "UID FETCH ...": the subcommand is the first word of rest */
	const uint8_t *p = ctx->cmd.rest;
	size_t n = ctx->cmd.rest_len, i = 1, k = 0;
	char sub[IMAP_NAME_MAX + 1];
	if (n < 2 || p[0] != ' ')
		return imap_cmd_bad(ctx, "UID takes a command.");
	while (i < n && p[i] != ' ' && k < IMAP_NAME_MAX)
		sub[k++] = (char)toupper(p[i++]);
	sub[k] = '\0';
	/* the subcommand's own arguments start after its name */
	if (strcmp(sub, "FETCH") == 0 || strcmp(sub, "STORE") == 0 ||
	    strcmp(sub, "SEARCH") == 0 || strcmp(sub, "COPY") == 0 ||
	    strcmp(sub, "MOVE") == 0 || strcmp(sub, "EXPUNGE") == 0) {
		memcpy(ctx->cmd.name, sub, k + 1);
		ctx->cmd.rest = p + i;
		ctx->cmd.rest_len = n - i;
	} else {
		return imap_cmd_bad(ctx, "Unknown UID command.");
	}
	if (strcmp(sub, "FETCH") == 0)
		return imap_fetch(ctx, true);
	if (strcmp(sub, "STORE") == 0)
		return imap_store_flags(ctx, true);
	if (strcmp(sub, "SEARCH") == 0)
		return imap_search(ctx, true);
	if (strcmp(sub, "EXPUNGE") == 0) {
		struct imap_arg *args;
		size_t count;
		enum imap_action act;
		if (!imap_cmd_args(ctx, &args, &count, &act))
			return act;
		if (count != 1 || args[0].type != IMAP_ARG_ATOM)
			return imap_cmd_bad(ctx,
			                    "UID EXPUNGE takes a UID set.");
		size_t ns;
		uint32_t *seqs = imap_set_seqs(ctx, args[0].str, true, &ns);
		if (seqs == NULL)
			return imap_cmd_bad(ctx, "Invalid UID set.");
		for (size_t j = 0; j < ns; j++)
			seqs[j] = mailbox_msg(ctx->s->mb, seqs[j])->uid;
		if (!imap_expunge(ctx, seqs, ns))
			return IMAP_ACTION_NONE;
		return imap_cmd_ok(ctx, NULL, "Expunge completed.");
	}
	return imap_copy(ctx, true);
}

enum imap_action
imap_cmd_idle(struct imap_cmd_ctx *ctx)
{
	struct imap_session *s = ctx->s;
	if (ctx->cmd.rest_len != 0)
		return imap_cmd_bad(ctx, "IDLE takes no arguments.");
	snprintf(s->pending_tag, sizeof(s->pending_tag), "%s", ctx->cmd.tag);
	s->idling = true;
	s->coll.raw = true; /* the next line is DONE, not a command */
	buf_append_str(ctx->out, "+ idling\r\n");
	return IMAP_ACTION_IDLE;
}
