/*
 * The Maildir++ store: the layout Dovecot and Courier use, persistent
 * UIDs, flags in file names, keywords, \Recent, concurrent sessions,
 * crashes at any moment, a full disk, path tricks, big folders.
 * Every test works in its own directory under /tmp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/mailstore.h"

struct fx {
	char top[64];   /* the test's directory */
	char root[128]; /* top/Maildir */
	struct mailstore *ms;
};

static char err[256];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	strcpy(fx->top, "/tmp/imapcid-maildir-XXXXXX");
	assert_non_null(mkdtemp(fx->top));
	snprintf(fx->root, sizeof(fx->root), "%s/Maildir", fx->top);
	fx->ms = mailstore_open(fx->root, err, sizeof(err));
	assert_non_null(fx->ms);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	mailstore_close(fx->ms);
	rm_rf(fx->top);
	free(fx);
	return 0;
}

/* ---- helpers ---- */

static char *
path_of(const struct fx *fx, const char *rel)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", fx->root, rel);
	return p;
}

static bool
exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *s = calloc(1, 1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void
spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Number of entries (not . or ..) in a directory; -1 if none. */
static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The one file name in a directory that starts with prefix. */
static char *
find_file(const char *dir, const char *prefix)
{
	static char name[512];
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	struct dirent *de;
	char *found = NULL;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(name, sizeof(name), "%s", de->d_name);
			found = name;
		}
	closedir(d);
	return found;
}

static enum mail_result
append_kw(struct fx *fx, const char *box, const char *text, uint32_t flags,
          const char *const *kw, size_t nkw, int64_t date, uint32_t *uid)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	fputs(text, f);
	fflush(f);
	rewind(f);
	uint32_t v = 0, u = 0;
	enum mail_result r =
	        mailstore_append(fx->ms, box, fileno(f), strlen(text), flags,
	                         kw, nkw, date, &v, &u, err, sizeof(err));
	fclose(f);
	if (r == MAIL_OK) {
		assert_true(v != 0);
		assert_true(u != 0);
	}
	if (uid != NULL)
		*uid = u;
	return r;
}

static uint32_t
append(struct fx *fx, const char *box, const char *text, uint32_t flags)
{
	uint32_t uid;
	assert_int_equal(append_kw(fx, box, text, flags, NULL, 0, 0, &uid),
	                 MAIL_OK);
	return uid;
}

/* The message as the store gives it to IMAP: CRLF line ends. */
static char *
read_msg(struct mailbox *mb, uint32_t seq)
{
	struct mail_stream *ms;
	if (mailbox_msg_open(mb, seq, &ms, err, sizeof(err)) != MAIL_OK)
		return NULL;
	struct buf b = BUF_INIT;
	assert_true(mail_stream_load(ms, &b));
	assert_int_equal(buf_used(&b), mail_stream_size(ms));
	assert_int_equal(mail_stream_size(ms), mailbox_msg(mb, seq)->size);
	mail_stream_close(ms);
	char *s = calloc(1, buf_used(&b) + 1);
	assert_non_null(s);
	if (buf_used(&b) > 0)
		memcpy(s, buf_head(&b), buf_used(&b));
	buf_free(&b);
	return s;
}

static struct mailbox *
open_box(struct fx *fx, const char *name, bool ro)
{
	struct mailbox *mb = NULL;
	if (mailbox_open(fx->ms, name, ro, &mb, err, sizeof(err)) != MAIL_OK)
		fail_msg("open %s: %s", name, err);
	struct mail_changes ch;
	assert_int_equal(mailbox_sync(mb, &ch, err, sizeof(err)), MAIL_OK);
	/* the first sync reports only counts */
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(ch.nflagged, 0);
	assert_int_equal(ch.exists, mailbox_count(mb));
	mail_changes_free(&ch);
	return mb;
}

static void
sync_ok(struct mailbox *mb, struct mail_changes *ch)
{
	if (mailbox_sync(mb, ch, err, sizeof(err)) != MAIL_OK)
		fail_msg("sync: %s", err);
}

/* An MDA delivering: tmp/, then a rename into new/. */
static void
deliver(struct fx *fx, const char *dir, const char *name, const char *text)
{
	char tmp[512], final[512];
	snprintf(tmp, sizeof(tmp), "%s/%s/tmp/%s", fx->root, dir, name);
	snprintf(final, sizeof(final), "%s/%s/new/%s", fx->root, dir, name);
	spit(tmp, text);
	assert_int_equal(rename(tmp, final), 0);
}

struct listing {
	size_t n;
	char name[64][128];
	unsigned attrs[64];
};

static void
collect(const char *name, unsigned attrs, void *arg)
{
	struct listing *l = arg;
	assert_true(l->n < 64);
	snprintf(l->name[l->n], sizeof(l->name[0]), "%s", name);
	l->attrs[l->n++] = attrs;
}

/* attrs of name in a fresh LIST, or -1 if not listed */
static long
list_attrs(struct fx *fx, const char *name)
{
	struct listing l = {0};
	assert_int_equal(mailstore_list(fx->ms, collect, &l, err, sizeof(err)),
	                 MAIL_OK);
	for (size_t i = 1; i < l.n; i++)
		assert_true(strcmp(l.name[i - 1], l.name[i]) < 0);
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.name[i], name) == 0)
			return l.attrs[i];
	return -1;
}

/* ---- layout ---- */

/* mailstore_open makes the Maildir++ tree: INBOX at the root, the
 * special-use folders as .Name with maildirfolder, all subscribed. */
static void
mail_layout_created(void **state)
{
	struct fx *fx = *state;
	static const char *const dirs[] = {
	        "cur",       "new",        "tmp",       ".Drafts/cur",
	        ".Sent/new", ".Trash/tmp", ".Junk/cur", ".Archive/cur"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_true(exists(path_of(fx, dirs[i])));
	assert_true(exists(path_of(fx, ".Sent/maildirfolder")));
	assert_false(exists(path_of(fx, "maildirfolder")));
	char *subs = slurp(path_of(fx, "subscriptions"));
	assert_non_null(subs);
	assert_non_null(strstr(subs, "INBOX\n"));
	assert_non_null(strstr(subs, "Trash\n"));
	free(subs);

	assert_int_equal(list_attrs(fx, "INBOX"),
	                 MAIL_ATTR_HASNOCHILDREN | MAIL_ATTR_SUBSCRIBED);
	assert_int_equal(list_attrs(fx, "Drafts"),
	                 MAIL_ATTR_DRAFTS | MAIL_ATTR_HASNOCHILDREN |
	                         MAIL_ATTR_SUBSCRIBED);
	assert_true(list_attrs(fx, "Sent") & MAIL_ATTR_SENT);
	assert_true(list_attrs(fx, "Trash") & MAIL_ATTR_TRASH);
	assert_true(list_attrs(fx, "Junk") & MAIL_ATTR_JUNK);
	assert_true(list_attrs(fx, "Archive") & MAIL_ATTR_ARCHIVE);

	/* opening again changes nothing, and a deleted one comes back */
	assert_int_equal(mailstore_delete(fx->ms, "Junk", err, sizeof(err)),
	                 MAIL_OK);
	/* still subscribed: listed as a name that is no mailbox */
	assert_int_equal(list_attrs(fx, "Junk"),
	                 MAIL_ATTR_NONEXISTENT | MAIL_ATTR_SUBSCRIBED);
	mailstore_close(fx->ms);
	fx->ms = mailstore_open(fx->root, err, sizeof(err));
	assert_non_null(fx->ms);
	assert_true(list_attrs(fx, "Junk") & MAIL_ATTR_JUNK);
}

static void
mail_create_list_delete(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(
	        mailstore_create(fx->ms, "Work.Projects", err, sizeof(err)),
	        MAIL_OK);
	assert_true(exists(path_of(fx, ".Work.Projects/cur")));
	assert_true(exists(path_of(fx, ".Work.Projects/maildirfolder")));
	/* "Work" exists only implicitly */
	assert_false(exists(path_of(fx, ".Work")));
	assert_int_equal(list_attrs(fx, "Work"),
	                 MAIL_ATTR_NOSELECT | MAIL_ATTR_HASCHILDREN);
	assert_int_equal(list_attrs(fx, "Work.Projects"),
	                 MAIL_ATTR_HASNOCHILDREN);
	struct mailbox *mb = NULL;
	assert_int_not_equal(
	        mailbox_open(fx->ms, "Work", false, &mb, err, sizeof(err)),
	        MAIL_OK);
	assert_null(mb);

	assert_int_equal(mailstore_create(fx->ms, "Work", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(list_attrs(fx, "Work"), MAIL_ATTR_HASCHILDREN);
	assert_int_equal(mailstore_create(fx->ms, "Work", err, sizeof(err)),
	                 MAIL_ALREADYEXISTS);
	assert_int_equal(mailstore_create(fx->ms, "inbox", err, sizeof(err)),
	                 MAIL_ALREADYEXISTS);
	/* a trailing separator asks for the same name */
	assert_int_equal(mailstore_create(fx->ms, "Lists.", err, sizeof(err)),
	                 MAIL_OK);
	assert_true(exists(path_of(fx, ".Lists/cur")));
	/* "INBOX.x" is spelt with INBOX in capitals, whatever was sent */
	assert_int_equal(
	        mailstore_create(fx->ms, "inbox.Sub", err, sizeof(err)),
	        MAIL_OK);
	assert_true(exists(path_of(fx, ".INBOX.Sub/cur")));
	assert_int_equal(list_attrs(fx, "INBOX") & MAIL_ATTR_HASCHILDREN,
	                 MAIL_ATTR_HASCHILDREN);

	/* deleting a parent keeps its children; it becomes \Noselect */
	uint32_t uid = append(fx, "Work", "Subject: w\n\nw\n", 0);
	assert_int_equal(uid, 1);
	assert_int_equal(mailstore_delete(fx->ms, "Work", err, sizeof(err)),
	                 MAIL_OK);
	assert_false(exists(path_of(fx, ".Work")));
	assert_true(exists(path_of(fx, ".Work.Projects/cur")));
	assert_int_equal(list_attrs(fx, "Work"),
	                 MAIL_ATTR_NOSELECT | MAIL_ATTR_HASCHILDREN);
	/* and a \Noselect name with children can't be deleted */
	assert_int_equal(mailstore_delete(fx->ms, "Work", err, sizeof(err)),
	                 MAIL_NO);
	assert_int_equal(mailstore_delete(fx->ms, "Nope", err, sizeof(err)),
	                 MAIL_NONEXISTENT);
	assert_int_equal(mailstore_delete(fx->ms, "INBOX", err, sizeof(err)),
	                 MAIL_NO);
	assert_int_equal(mailstore_delete(fx->ms, "iNbOx", err, sizeof(err)),
	                 MAIL_NO);
	/* no leftovers of the deletion */
	DIR *d = opendir(fx->root);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, "deleted"));
	closedir(d);

	/* recreated: a new UIDVALIDITY, so old UIDs mean nothing */
	struct mail_status st1, st2;
	assert_int_equal(mailstore_create(fx->ms, "Again", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(
	        mailstore_status(fx->ms, "Again", &st1, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailstore_delete(fx->ms, "Again", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailstore_create(fx->ms, "Again", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(
	        mailstore_status(fx->ms, "Again", &st2, err, sizeof(err)),
	        MAIL_OK);
	assert_true(st2.uidvalidity > st1.uidvalidity);
}

static void
mail_rename(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mailstore_create(fx->ms, "A", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailstore_create(fx->ms, "A.B.C", err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailstore_create(fx->ms, "AB", err, sizeof(err)),
	                 MAIL_OK);
	uint32_t uid = append(fx, "A.B.C", "Subject: c\n\nc\n", MAIL_SEEN);
	struct mail_status before, after;
	assert_int_equal(
	        mailstore_status(fx->ms, "A.B.C", &before, err, sizeof(err)),
	        MAIL_OK);

	/* into an existing name, into itself, from nothing */
	assert_int_equal(mailstore_rename(fx->ms, "A", "AB", err, sizeof(err)),
	                 MAIL_ALREADYEXISTS);
	assert_int_equal(mailstore_rename(fx->ms, "A", "A.X", err, sizeof(err)),
	                 MAIL_NO);
	assert_int_equal(
	        mailstore_rename(fx->ms, "Nope", "X", err, sizeof(err)),
	        MAIL_NONEXISTENT);
	assert_int_equal(
	        mailstore_rename(fx->ms, "A", "INBOX", err, sizeof(err)),
	        MAIL_ALREADYEXISTS);

	/* the folder and everything below it, but not "AB" */
	assert_int_equal(mailstore_rename(fx->ms, "A", "Z.Y", err, sizeof(err)),
	                 MAIL_OK);
	assert_false(exists(path_of(fx, ".A")));
	assert_false(exists(path_of(fx, ".A.B.C")));
	assert_true(exists(path_of(fx, ".AB/cur")));
	assert_true(exists(path_of(fx, ".Z.Y/cur")));
	assert_true(exists(path_of(fx, ".Z.Y.B.C/cur")));
	/* the messages and their UIDs go along */
	assert_int_equal(
	        mailstore_status(fx->ms, "Z.Y.B.C", &after, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(after.messages, 1);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.uidnext, uid + 1);

	/* a \Noselect name with children can be renamed too */
	assert_int_equal(mailstore_rename(fx->ms, "Z", "Q", err, sizeof(err)),
	                 MAIL_OK);
	assert_true(exists(path_of(fx, ".Q.Y.B.C/cur")));
	assert_int_equal(list_attrs(fx, "Q"),
	                 MAIL_ATTR_NOSELECT | MAIL_ATTR_HASCHILDREN);
}

/* RFC 9051 6.3.6: the messages move, INBOX stays and keeps counting. */
static void
mail_rename_inbox(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	uint32_t u2 = append(fx, "INBOX", "Subject: 2\n\n2\n", MAIL_FLAGGED);
	deliver(fx, ".", "1700000000.M1P1.mda", "Subject: 3\n\n3\n");
	assert_int_equal(
	        mailstore_create(fx->ms, "INBOX.Kids", err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(
	        mailstore_rename(fx->ms, "INBOX", "Old", err, sizeof(err)),
	        MAIL_OK);
	struct mail_status st;
	assert_int_equal(mailstore_status(fx->ms, "Old", &st, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(st.messages, 3);
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, u2 + 1);
	assert_true(append(fx, "INBOX", "Subject: 4\n\n4\n", 0) > u2);
	/* INBOX's children are not moved */
	assert_true(exists(path_of(fx, ".INBOX.Kids/cur")));
	assert_int_equal(
	        mailstore_rename(fx->ms, "INBOX", "Old", err, sizeof(err)),
	        MAIL_ALREADYEXISTS);
	struct mailbox *mb = open_box(fx, "Old", true);
	assert_int_equal(mailbox_count(mb), 3);
	assert_true(mailbox_msg(mb, 2)->flags & MAIL_FLAGGED);
	char *s = read_msg(mb, 3);
	assert_string_equal(s, "Subject: 3\r\n\r\n3\r\n");
	free(s);
	mailbox_close(mb);
}

static void
mail_subscribe(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(
	        mailstore_subscribe(fx->ms, "Work", true, err, sizeof(err)),
	        MAIL_NONEXISTENT);
	assert_int_equal(mailstore_create(fx->ms, "Work", err, sizeof(err)),
	                 MAIL_OK);
	assert_false(list_attrs(fx, "Work") & MAIL_ATTR_SUBSCRIBED);
	assert_int_equal(
	        mailstore_subscribe(fx->ms, "Work", true, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(
	        mailstore_subscribe(fx->ms, "Work", true, err, sizeof(err)),
	        MAIL_OK);
	assert_true(list_attrs(fx, "Work") & MAIL_ATTR_SUBSCRIBED);
	char *subs = slurp(path_of(fx, "subscriptions"));
	/* once, one name per line */
	assert_non_null(strstr(subs, "\nWork\n"));
	assert_null(strstr(strstr(subs, "\nWork\n") + 1, "\nWork\n"));
	free(subs);
	assert_int_equal(
	        mailstore_subscribe(fx->ms, "Work", false, err, sizeof(err)),
	        MAIL_OK);
	assert_false(list_attrs(fx, "Work") & MAIL_ATTR_SUBSCRIBED);
	assert_false(list_attrs(fx, "Trash") & MAIL_ATTR_SUBSCRIBED ? false
	                                                            : true);
	/* a file Dovecot 2.3 wrote (version 2, tabs between levels) */
	assert_int_equal(mailstore_create(fx->ms, "a.b", err, sizeof(err)),
	                 MAIL_OK);
	spit(path_of(fx, "subscriptions"), "V\t2\n\na\tb\nINBOX\n");
	assert_true(list_attrs(fx, "a.b") & MAIL_ATTR_SUBSCRIBED);
	assert_true(list_attrs(fx, "INBOX") & MAIL_ATTR_SUBSCRIBED);
	assert_false(list_attrs(fx, "Trash") & MAIL_ATTR_SUBSCRIBED);
}

/* ---- names: nothing reaches outside the user's directory ---- */

static void
mail_name_validation(void **state)
{
	(void)state;
	static const char *const good[] = {
	        "INBOX",       "inbox", "a",       "a.b", "Sent Items",
	        "&AOk-t&AOk-", "a&-b",  "INBOX.x", "x~y", "a:b",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!mailstore_name_valid(good[i]))
			fail_msg("refused \"%s\"", good[i]);
	char longest[MAIL_NAME_MAX + 2];
	memset(longest, 'x', sizeof(longest));
	longest[MAIL_NAME_MAX] = '\0';
	assert_true(mailstore_name_valid(longest));
	longest[MAIL_NAME_MAX] = 'x';
	longest[MAIL_NAME_MAX + 1] = '\0';
	assert_false(mailstore_name_valid(longest));

	static const char *const bad[] = {
	        "",          ".",           "..",         "...",     "../x",
	        "a/../../b", "a/b",         "/etc",       ".hidden", "~user",
	        "~",         "a..b",        "a.",         "a.b.",    ".a.b",
	        "a\\b",      "a\nb",        "a\rb",       "a\tb",    "\x01",
	        "a\x7f",     "caf\xc3\xa9", "&",          "&AOk",    "&AGE-",
	        "&AC8-",     "&AC4ALg-",    "&AOk-&AOk-", "&AAE-",   "&AIA-",
	        "a*",        "a%",          "&2D0-",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mailstore_name_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
}

/* Another user's directory next to ours must stay out of reach whatever
 * name a client sends to whatever command. */
static void
mail_path_tricks(void **state)
{
	struct fx *fx = *state;
	char victim[256], marker[300];
	snprintf(victim, sizeof(victim), "%s/other", fx->top);
	assert_int_equal(mkdir(victim, 0700), 0);
	snprintf(marker, sizeof(marker), "%s/secret", victim);
	spit(marker, "Subject: theirs\n\nsecret\n");
	append(fx, "INBOX", "Subject: mine\n\nmine\n", 0);
	struct mailbox *mb = open_box(fx, "INBOX", false);

	static const char *const tricks[] = {
	        "..",      "../other", "../../tmp", ".../other", "/tmp",
	        "~/other", "~other",   "a/b",       "..\\other", "&AC4ALg-",
	        "&AC8-",   ".",        "./cur",     "",          "INBOX/../x",
	        "a..b",    "a.&AC8-",  "\x2e\x2e",
	};
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		const char *t = tricks[i];
		struct mail_status st;
		struct mailbox *o = NULL;
		uint32_t v, u, seq = 1;
		assert_int_not_equal(
		        mailstore_create(fx->ms, t, err, sizeof(err)), MAIL_OK);
		assert_int_not_equal(
		        mailstore_delete(fx->ms, t, err, sizeof(err)), MAIL_OK);
		assert_int_not_equal(
		        mailstore_rename(fx->ms, "Trash", t, err, sizeof(err)),
		        MAIL_OK);
		assert_int_not_equal(
		        mailstore_rename(fx->ms, t, "Stolen", err, sizeof(err)),
		        MAIL_OK);
		assert_int_not_equal(
		        mailstore_subscribe(fx->ms, t, true, err, sizeof(err)),
		        MAIL_OK);
		assert_int_not_equal(
		        mailstore_status(fx->ms, t, &st, err, sizeof(err)),
		        MAIL_OK);
		assert_int_not_equal(
		        append_kw(fx, t, "x\n", 0, NULL, 0, 0, NULL), MAIL_OK);
		assert_int_not_equal(
		        mailbox_open(fx->ms, t, false, &o, err, sizeof(err)),
		        MAIL_OK);
		assert_null(o);
		assert_int_not_equal(
		        mailbox_copy(mb, &seq, 1, t, &v, &u, err, sizeof(err)),
		        MAIL_OK);
		assert_int_not_equal(
		        mailbox_move(mb, &seq, 1, t, &v, &u, err, sizeof(err)),
		        MAIL_OK);
	}
	mailbox_close(mb);
	/* theirs untouched, nothing new beside ours */
	assert_int_equal(count_dir(victim), 1);
	char *s = slurp(marker);
	assert_string_equal(s, "Subject: theirs\n\nsecret\n");
	free(s);
	assert_int_equal(count_dir(fx->top), 2);
	assert_true(exists(path_of(fx, ".Trash/cur")));
	assert_false(exists(path_of(fx, ".Stolen")));
	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.messages, 1);
}

/* A folder directory not spelt as we would spell it is not served. */
static void
mail_odd_directories_ignored(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mkdir(path_of(fx, ".inbox.x"), 0700), 0);
	assert_int_equal(mkdir(path_of(fx, ".INBOX"), 0700), 0);
	assert_int_equal(mkdir(path_of(fx, ".a..b"), 0700), 0);
	assert_int_equal(mkdir(path_of(fx, ".&AGE-"), 0700), 0);
	spit(path_of(fx, ".notadir"), "x");
	assert_int_equal(list_attrs(fx, "inbox.x"), -1);
	assert_int_equal(list_attrs(fx, "INBOX.x"), -1);
	assert_int_equal(list_attrs(fx, "a..b"), -1);
	assert_int_equal(list_attrs(fx, "&AGE-"), -1);
	assert_int_equal(list_attrs(fx, "notadir"), -1);
	struct listing l = {0};
	assert_int_equal(mailstore_list(fx->ms, collect, &l, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(l.n, 6); /* INBOX and the five special-use */
}

/* ---- messages ---- */

static void
mail_append_status_read(void **state)
{
	struct fx *fx = *state;
	const char *m1 = "From: a@example.org\nSubject: one\n\nbody\n";
	const char *m2 = "Subject: two\r\n\r\ncrlf\r\n";
	const char *kw[] = {"$Forwarded", "Work"};
	uint32_t u1, u2;
	assert_int_equal(append_kw(fx, "INBOX", m1, MAIL_SEEN | MAIL_FLAGGED,
	                           kw, 2, 1234567890, &u1),
	                 MAIL_OK);
	assert_int_equal(
	        append_kw(fx, "INBOX", m2, MAIL_RECENT, NULL, 0, 0, &u2),
	        MAIL_OK);
	assert_int_equal(u1, 1);
	assert_int_equal(u2, 2);
	assert_int_equal(count_dir(path_of(fx, "tmp")), 0);
	assert_int_equal(count_dir(path_of(fx, "cur")), 2);

	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "inbox", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.recent, 2);
	assert_int_equal(st.uidnext, 3);
	/* four LFs become CRLF in m1 */
	assert_int_equal(st.size, strlen(m1) + 4 + strlen(m2));

	/* the file name carries the sizes and the flags */
	char *f = find_file(path_of(fx, "cur"), "");
	assert_non_null(f);
	char want[64];
	snprintf(want, sizeof(want), ",S=%zu,W=%zu:2,", strlen(m1),
	         strlen(m1) + 4);
	const char *c = find_file(path_of(fx, "cur"), "");
	(void)c;
	DIR *d = opendir(path_of(fx, "cur"));
	struct dirent *de;
	int seen = 0;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, want) != NULL) {
			/* flags in ASCII order, keywords as letters */
			assert_non_null(strstr(de->d_name, ":2,FSab"));
			/* stored as given, LF line ends kept */
			char rel[300];
			snprintf(rel, sizeof(rel), "cur/%.255s", de->d_name);
			char *stored = slurp(path_of(fx, rel));
			assert_string_equal(stored, m1);
			free(stored);
			seen++;
		}
	}
	closedir(d);
	assert_int_equal(seen, 1);
	char *kws = slurp(path_of(fx, "dovecot-keywords"));
	assert_string_equal(kws, "0 $Forwarded\n1 Work\n");
	free(kws);

	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_count(mb), 2);
	assert_int_equal(mailbox_uidvalidity(mb), st.uidvalidity);
	assert_int_equal(mailbox_uidnext(mb), 3);
	const struct mail_msg *m = mailbox_msg(mb, 1);
	assert_int_equal(m->uid, 1);
	assert_int_equal(m->flags & ~MAIL_RECENT, MAIL_SEEN | MAIL_FLAGGED);
	assert_int_equal(m->keywords, 3);
	assert_int_equal(mailbox_msg_date(mb, 1), 1234567890);
	assert_int_equal(m->size, strlen(m1) + 4);
	m = mailbox_msg(mb, 2);
	assert_int_equal(m->size, strlen(m2));
	assert_true(mailbox_msg_date(mb, 2) >= time(NULL) - 60);
	assert_null(mailbox_msg(mb, 0));
	assert_null(mailbox_msg(mb, 3));
	assert_int_equal(mailbox_seq_of_uid(mb, 2), 2);
	assert_int_equal(mailbox_seq_of_uid(mb, 7), 0);
	const char *const *names;
	assert_int_equal(mailbox_keywords(mb, &names), 2);
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "Work");

	char *s = read_msg(mb, 1); /* read with CRLF line ends */
	assert_string_equal(s, "From: a@example.org\r\nSubject: one\r\n\r\n"
	                       "body\r\n");
	free(s);
	s = read_msg(mb, 2);
	assert_string_equal(s, m2);
	free(s);
	assert_null(read_msg(mb, 3));
	mailbox_close(mb);

	/* refused: no such mailbox (TRYCREATE), bad keywords */
	assert_int_equal(append_kw(fx, "Nope", m1, 0, NULL, 0, 0, NULL),
	                 MAIL_TRYCREATE);
	const char *badkw[] = {"has space"};
	assert_int_equal(append_kw(fx, "INBOX", m1, 0, badkw, 1, 0, NULL),
	                 MAIL_NO);
	const char *sys[] = {"\\Seen"};
	assert_int_equal(append_kw(fx, "INBOX", m1, 0, sys, 1, 0, NULL),
	                 MAIL_NO);
	assert_int_equal(count_dir(path_of(fx, "tmp")), 0);
}

/* APPEND input shorter than announced: refused, nothing left behind. */
static void
mail_append_short_input(void **state)
{
	struct fx *fx = *state;
	FILE *f = tmpfile();
	fputs("Subject: short\n\n", f);
	fflush(f);
	rewind(f);
	uint32_t v, u;
	assert_int_equal(mailstore_append(fx->ms, "INBOX", fileno(f), 1000, 0,
	                                  NULL, 0, 0, &v, &u, err, sizeof(err)),
	                 MAIL_ERROR);
	fclose(f);
	assert_int_equal(count_dir(path_of(fx, "tmp")), 0);
	assert_int_equal(count_dir(path_of(fx, "cur")), 0);
}

/* UIDs survive close and open, and an expunged one is never reused. */
static void
mail_uids_persist(void **state)
{
	struct fx *fx = *state;
	for (int i = 1; i <= 3; i++) {
		char text[64];
		snprintf(text, sizeof(text), "Subject: %d\n\n%d\n", i, i);
		assert_int_equal(append(fx, "Sent", text, 0), (uint32_t)i);
	}
	struct mailbox *mb = open_box(fx, "Sent", false);
	uint32_t validity = mailbox_uidvalidity(mb);
	assert_int_equal(
	        mailbox_set_flags(mb, 3, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	/* reported by the next sync, not before */
	assert_int_equal(mailbox_count(mb), 3);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 3);
	assert_int_equal(ch.exists, 2);
	mail_changes_free(&ch);
	mailbox_close(mb);

	/* the uidlist is Dovecot's format and no longer lists UID 3 */
	char *ul = slurp(path_of(fx, ".Sent/dovecot-uidlist"));
	char head[64];
	snprintf(head, sizeof(head), "3 V%u N4 ", validity);
	assert_memory_equal(ul, head, strlen(head));
	assert_non_null(strstr(ul, "\n1 W"));
	assert_non_null(strstr(ul, "\n2 W"));
	assert_null(strstr(ul, "\n3 W"));
	free(ul);

	mb = open_box(fx, "Sent", false);
	assert_int_equal(mailbox_uidvalidity(mb), validity);
	assert_int_equal(mailbox_count(mb), 2);
	assert_int_equal(mailbox_msg(mb, 1)->uid, 1);
	assert_int_equal(mailbox_msg(mb, 2)->uid, 2);
	mailbox_close(mb);
	assert_int_equal(append(fx, "Sent", "Subject: 4\n\n4\n", 0), 4);
	/* a fresh store object (another process) agrees */
	mailstore_close(fx->ms);
	fx->ms = mailstore_open(fx->root, err, sizeof(err));
	assert_int_equal(append(fx, "Sent", "Subject: 5\n\n5\n", 0), 5);
	mb = open_box(fx, "Sent", true);
	assert_int_equal(mailbox_count(mb), 4);
	assert_int_equal(mailbox_msg(mb, 4)->uid, 5);
	mailbox_close(mb);
}

/* A message an MDA drops into new/ appears at the next sync, \Recent in
 * the first read-write session that sees it and in no other. */
static void
mail_mda_delivery_recent(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: old\n\nold\n", MAIL_SEEN);
	struct mailbox *a = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_count(a), 1);
	struct mail_changes ch;
	sync_ok(a, &ch);
	assert_int_equal(ch.recent, 1); /* the APPENDed one, taken by a */
	mail_changes_free(&ch);

	deliver(fx, ".", "1700000001.M5P7.mda,S=18", "Subject: new\n\nnew\n");
	sync_ok(a, &ch);
	assert_int_equal(ch.exists, 2);
	assert_int_equal(ch.recent, 2);
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(ch.nflagged, 0);
	mail_changes_free(&ch);
	const struct mail_msg *m = mailbox_msg(a, 2);
	assert_int_equal(m->uid, 2);
	assert_true(m->flags & MAIL_RECENT);
	assert_int_equal(m->size, 18 + 3);
	/* moved to cur/ by the read-write session */
	assert_int_equal(count_dir(path_of(fx, "new")), 0);
	assert_non_null(find_file(path_of(fx, "cur"), "1700000001.M5P7.mda,"
	                                              "S=18:2,"));
	char *s = read_msg(a, 2);
	assert_string_equal(s, "Subject: new\r\n\r\nnew\r\n");
	free(s);

	/* a second session: no \Recent for it */
	struct mailbox *b = open_box(fx, "INBOX", false);
	sync_ok(b, &ch);
	assert_int_equal(ch.recent, 0);
	assert_false(mailbox_msg(b, 2)->flags & MAIL_RECENT);
	mail_changes_free(&ch);
	mailbox_close(b);
	mailbox_close(a);

	/* STATUS and EXAMINE see it recent without taking it */
	deliver(fx, ".", "1700000002.M1P1.mda", "Subject: 3\n\n3\n");
	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.recent, 1);
	assert_int_equal(st.messages, 3);
	struct mailbox *ro = open_box(fx, "INBOX", true);
	sync_ok(ro, &ch);
	assert_int_equal(ch.recent, 1);
	mail_changes_free(&ch);
	assert_int_equal(count_dir(path_of(fx, "new")), 1); /* left there */
	mailbox_close(ro);
	struct mailbox *rw = open_box(fx, "INBOX", false);
	sync_ok(rw, &ch);
	assert_int_equal(ch.recent, 1);
	mail_changes_free(&ch);
	mailbox_close(rw);
	rw = open_box(fx, "INBOX", false);
	sync_ok(rw, &ch);
	assert_int_equal(ch.recent, 0);
	mail_changes_free(&ch);
	mailbox_close(rw);
}

/* Two sessions on one folder see each other's flag changes, expunges and
 * appends at their next sync, with valid sequence numbers. */
static void
mail_two_sessions(void **state)
{
	struct fx *fx = *state;
	for (int i = 1; i <= 5; i++) {
		char text[64];
		snprintf(text, sizeof(text), "Subject: %d\n\n%d\n", i, i);
		append(fx, "INBOX", text, 0);
	}
	struct mailbox *a = open_box(fx, "INBOX", false);
	struct mailbox *b = open_box(fx, "INBOX", false);
	struct mail_changes ch;

	assert_int_equal(
	        mailbox_set_flags(a, 2, MAIL_SEEN, 0, err, sizeof(err)),
	        MAIL_OK);
	int kw = mailbox_keyword_index(a, "Important");
	assert_int_equal(kw, 0);
	assert_int_equal(mailbox_set_flags(a, 4, MAIL_ANSWERED, 1u << kw, err,
	                                   sizeof(err)),
	                 MAIL_OK);
	sync_ok(a, &ch); /* our own changes are not reported back */
	assert_int_equal(ch.nflagged, 0);
	mail_changes_free(&ch);
	sync_ok(b, &ch);
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(ch.nflagged, 2);
	assert_int_equal(ch.flagged[0], 2);
	assert_int_equal(ch.flagged[1], 4);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(b, 2)->flags & ~MAIL_RECENT, MAIL_SEEN);
	assert_int_equal(mailbox_msg(b, 4)->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED);
	assert_int_equal(mailbox_msg(b, 4)->keywords, 1);
	const char *const *names;
	assert_int_equal(mailbox_keywords(b, &names), 1);
	assert_string_equal(names[0], "Important");

	/* b expunges 1 and 4; a appends meanwhile */
	assert_int_equal(
	        mailbox_set_flags(b, 1, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(
	        mailbox_set_flags(b, 4, MAIL_DELETED, 1, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_expunge(b, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	append(fx, "INBOX", "Subject: 6\n\n6\n", 0);
	sync_ok(a, &ch);
	/* highest first, each valid when sent: 4 then 1 */
	assert_int_equal(ch.nexpunged, 2);
	assert_int_equal(ch.expunged[0], 4);
	assert_int_equal(ch.expunged[1], 1);
	assert_int_equal(ch.exists, 4);
	assert_int_equal(ch.nflagged, 0);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(a, 1)->uid, 2);
	assert_int_equal(mailbox_msg(a, 2)->uid, 3);
	assert_int_equal(mailbox_msg(a, 3)->uid, 5);
	assert_int_equal(mailbox_msg(a, 4)->uid, 6);
	/* a reads a message b renamed meanwhile (b sets \Flagged on it) */
	sync_ok(b, &ch);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_seq_of_uid(b, 3), 2);
	assert_int_equal(
	        mailbox_set_flags(b, 2, MAIL_FLAGGED, 0, err, sizeof(err)),
	        MAIL_OK);
	char *s = read_msg(a, 2);
	assert_non_null(s);
	assert_string_equal(s, "Subject: 3\r\n\r\n3\r\n");
	free(s);
	/* and changes flags on it from its stale name: its flags win */
	assert_int_equal(
	        mailbox_set_flags(a, 2, MAIL_SEEN, 0, err, sizeof(err)),
	        MAIL_OK);
	sync_ok(b, &ch);
	assert_int_equal(ch.nflagged, 1);
	assert_int_equal(ch.flagged[0], 2);
	assert_int_equal(mailbox_msg(b, 2)->flags & ~MAIL_RECENT, MAIL_SEEN);
	mail_changes_free(&ch);
	/* one message, under one name */
	assert_int_equal(count_dir(path_of(fx, "cur")), 4);

	/* a message expunged by b: a can't read it, nor change it */
	assert_int_equal(
	        mailbox_set_flags(b, 1, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_expunge(b, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	assert_null(read_msg(a, 1));
	assert_int_equal(
	        mailbox_set_flags(a, 1, MAIL_FLAGGED, 0, err, sizeof(err)),
	        MAIL_NO);
	sync_ok(a, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 1);
	mail_changes_free(&ch);
	mailbox_close(a);
	mailbox_close(b);
}

/* Adding or removing flags starts from the message's flags on disk, not
 * from a session's stale view (imaptest's store script: one session adds
 * \Answered, the other then removes \Seen, and both flags are right). */
static void
mail_change_flags_keeps_others(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", MAIL_SEEN);
	struct mailbox *a = open_box(fx, "INBOX", false);
	struct mailbox *b = open_box(fx, "INBOX", false);
	struct mail_changes ch;
	int kw = mailbox_keyword_index(a, "$hello");
	assert_int_equal(kw, 0);

	assert_int_equal(mailbox_change_flags(a, 1, MAIL_FLAGS_ADD,
	                                      MAIL_ANSWERED, 1u << kw, err,
	                                      sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailbox_msg(a, 1)->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED | MAIL_SEEN);
	/* b has not synced: it still sees \Seen alone */
	assert_int_equal(mailbox_msg(b, 1)->flags & ~MAIL_RECENT, MAIL_SEEN);
	assert_int_equal(mailbox_change_flags(b, 1, MAIL_FLAGS_REMOVE,
	                                      MAIL_SEEN, 0, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailbox_msg(b, 1)->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED);
	/* b learns the keyword at its next sync; its letter stays */
	sync_ok(a, &ch);
	assert_int_equal(ch.nflagged, 1);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(a, 1)->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED);
	assert_int_equal(mailbox_msg(a, 1)->keywords, 1u << kw);

	/* b's view is current now; a removes \Answered, then b (stale again)
	 * adds \Answered, which its old file name already shows: it must
	 * still reach the disk */
	sync_ok(b, &ch);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(b, 1)->keywords, 1u << kw);
	assert_int_equal(mailbox_change_flags(a, 1, MAIL_FLAGS_REMOVE,
	                                      MAIL_ANSWERED, 0, err,
	                                      sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mailbox_change_flags(b, 1, MAIL_FLAGS_ADD,
	                                      MAIL_ANSWERED, 0, err,
	                                      sizeof(err)),
	                 MAIL_OK);
	sync_ok(a, &ch);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(a, 1)->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED);
	assert_int_equal(count_dir(path_of(fx, "cur")), 1);
	mailbox_close(a);
	mailbox_close(b);
}

/* The one LF -> CRLF conversion, a CR carried across calls. */
static void
mail_crlf_conversion(void **state)
{
	(void)state;
	uint8_t out[32];
	bool cr = false;
	assert_int_equal(mail_crlf(&cr, (const uint8_t *)"a\nb\r", 4, out), 5);
	assert_memory_equal(out, "a\r\nb\r", 5);
	assert_true(cr);
	/* the LF after a CR that ended the last chunk gets no second CR */
	assert_int_equal(mail_crlf(&cr, (const uint8_t *)"\n\n", 2, out), 3);
	assert_memory_equal(out, "\n\r\n", 3);
	cr = false;
	assert_int_equal(mail_crlf(&cr, (const uint8_t *)"\n\r\n", 3, NULL), 4);
}

/* A stream opened before another session expunges the message gives all
 * of it; one opened after is refused, so FETCH promises nothing for it. */
static void
mail_stream_outlives_expunge(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: a\n\nbody a\n", 0);
	append(fx, "INBOX", "Subject: b\n\nbody b\n", 0);
	struct mailbox *a = open_box(fx, "INBOX", false);
	struct mailbox *b = open_box(fx, "INBOX", false);
	struct mail_stream *ms;
	assert_int_equal(mailbox_msg_open(a, 1, &ms, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mail_stream_size(ms), 22);
	assert_int_equal(
	        mailbox_set_flags(b, 1, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(
	        mailbox_set_flags(b, 2, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_expunge(b, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(count_dir(path_of(fx, "cur")), 0);
	uint8_t out[64];
	ssize_t n = mail_stream_read(ms, out, sizeof(out));
	assert_int_equal(n, 22);
	assert_memory_equal(out, "Subject: a\r\n\r\nbody a\r\n", 22);
	assert_int_equal(mail_stream_read(ms, out, sizeof(out)), 0);
	/* read again from the start, as FETCH does for a second item */
	assert_true(mail_stream_rewind(ms));
	assert_int_equal(mail_stream_read(ms, out, sizeof(out)), 22);
	mail_stream_close(ms);
	ms = (struct mail_stream *)&ms; /* must be reset */
	assert_int_equal(mailbox_msg_open(a, 2, &ms, err, sizeof(err)),
	                 MAIL_NO);
	assert_null(ms);
	assert_string_equal(err, "Message was expunged");
	mailbox_close(a);
	mailbox_close(b);
}

/* The size a stream promises is its file's: a name whose sizes do not fit
 * the file (S=, W=) is not believed. */
static void
mail_stream_size_from_the_file(void **state)
{
	struct fx *fx = *state;
	deliver(fx, ".", "1700000000.M1P1.host,S=3,W=20", "x\ny\nz\n");
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_msg(mb, 1)->size, 20); /* as named */
	struct mail_stream *ms;
	assert_int_equal(mailbox_msg_open(mb, 1, &ms, err, sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(mail_stream_size(ms), 9);
	uint8_t out[64];
	assert_int_equal(mail_stream_read(ms, out, sizeof(out)), 9);
	assert_memory_equal(out, "x\r\ny\r\nz\r\n", 9);
	mail_stream_close(ms);
	assert_int_equal(mailbox_msg(mb, 1)->size, 9);
	mailbox_close(mb);
}

static void
mail_expunge_uid_set(void **state)
{
	struct fx *fx = *state;
	for (int i = 0; i < 4; i++)
		append(fx, "INBOX", "Subject: x\n\nx\n",
		       i == 3 ? 0 : MAIL_DELETED);
	struct mailbox *mb = open_box(fx, "INBOX", false);
	uint32_t uids[] = {3, 2, 4, 99};
	/* only listed ones that are \Deleted: 2 and 3, not 4 */
	assert_int_equal(mailbox_expunge(mb, uids, 4, err, sizeof(err)),
	                 MAIL_OK);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 2);
	assert_int_equal(ch.expunged[0], 3);
	assert_int_equal(ch.expunged[1], 2);
	assert_int_equal(ch.exists, 2);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 1);
	assert_int_equal(mailbox_msg(mb, 1)->uid, 4);
	mail_changes_free(&ch);
	mailbox_close(mb);
}

static void
mail_copy_and_move(void **state)
{
	struct fx *fx = *state;
	const char *kw[] = {"Foo"};
	const char *other[] = {"Bar"};
	uint32_t u;
	assert_int_equal(append_kw(fx, "INBOX", "Subject: 1\n\n1\n", MAIL_SEEN,
	                           kw, 1, 1000000000, &u),
	                 MAIL_OK);
	append(fx, "INBOX", "Subject: 2\n\n2\n", MAIL_FLAGGED);
	append(fx, "INBOX", "Subject: 3\n\n3\n", 0);
	/* Archive already knows another keyword: "Foo" gets letter b there */
	assert_int_equal(append_kw(fx, "Archive", "Subject: a\n\na\n", 0, other,
	                           1, 0, &u),
	                 MAIL_OK);
	struct mailbox *mb = open_box(fx, "INBOX", false);
	uint32_t seqs[] = {1, 3}, v = 0, uids[2];
	assert_int_equal(mailbox_copy(mb, seqs, 2, "Archive", &v, uids, err,
	                              sizeof(err)),
	                 MAIL_OK);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 3);
	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "Archive", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.uidvalidity, v);
	assert_int_equal(st.messages, 3);
	assert_false(exists(path_of(fx, ".Archive/imapcid-journal")));
	assert_int_equal(count_dir(path_of(fx, ".Archive/tmp")), 0);

	struct mailbox *ar = open_box(fx, "Archive", true);
	const struct mail_msg *m = mailbox_msg(ar, 2);
	assert_int_equal(m->uid, 2);
	assert_int_equal(m->flags & ~MAIL_RECENT, MAIL_SEEN);
	assert_int_equal(mailbox_msg_date(ar, 2), 1000000000);
	assert_int_equal(m->keywords, 2);
	const char *const *names;
	assert_int_equal(mailbox_keywords(ar, &names), 2);
	assert_string_equal(names[1], "Foo");
	char *s = read_msg(ar, 3);
	assert_string_equal(s, "Subject: 3\r\n\r\n3\r\n");
	free(s);
	mailbox_close(ar);

	/* MOVE: in the destination, gone from the source at the next sync */
	uint32_t two = 2;
	assert_int_equal(
	        mailbox_move(mb, &two, 1, "Trash", &v, uids, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(uids[0], 1);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 2);
	assert_int_equal(ch.exists, 2);
	mail_changes_free(&ch);
	struct mailbox *tr = open_box(fx, "Trash", false);
	assert_int_equal(mailbox_count(tr), 1);
	assert_int_equal(mailbox_msg(tr, 1)->flags & ~MAIL_RECENT,
	                 MAIL_FLAGGED);
	s = read_msg(tr, 1);
	assert_string_equal(s, "Subject: 2\r\n\r\n2\r\n");
	free(s);
	/* MOVE several, back into INBOX itself is allowed too */
	assert_int_equal(append(fx, "Trash", "Subject: t\n\nt\n", 0), 2);
	sync_ok(tr, &ch);
	mail_changes_free(&ch);
	uint32_t both[] = {1, 2};
	assert_int_equal(
	        mailbox_move(tr, both, 2, "INBOX", &v, uids, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(uids[0], 4);
	assert_int_equal(uids[1], 5);
	sync_ok(tr, &ch);
	assert_int_equal(ch.nexpunged, 2);
	assert_int_equal(ch.exists, 0);
	mail_changes_free(&ch);
	assert_int_equal(count_dir(path_of(fx, ".Trash/cur")), 0);
	mailbox_close(tr);
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, 4);
	mail_changes_free(&ch);

	/* no such destination, bad message numbers, read-only source */
	assert_int_equal(
	        mailbox_copy(mb, seqs, 1, "Nope", &v, uids, err, sizeof(err)),
	        MAIL_TRYCREATE);
	uint32_t bad = 9;
	assert_int_equal(
	        mailbox_copy(mb, &bad, 1, "Trash", &v, uids, err, sizeof(err)),
	        MAIL_NO);
	mailbox_close(mb);
	mb = open_box(fx, "INBOX", true);
	assert_int_equal(
	        mailbox_move(mb, seqs, 1, "Trash", &v, uids, err, sizeof(err)),
	        MAIL_NO);
	assert_int_equal(
	        mailbox_copy(mb, seqs, 1, "Trash", &v, uids, err, sizeof(err)),
	        MAIL_OK);
	mailbox_close(mb);
}

static void
mail_readonly(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", MAIL_DELETED);
	deliver(fx, ".", "1700000003.M1P1.mda", "Subject: 2\n\n2\n");
	struct mailbox *mb = open_box(fx, "INBOX", true);
	assert_true(mailbox_readonly(mb));
	assert_int_equal(mailbox_count(mb), 2);
	assert_int_equal(mailbox_set_flags(mb, 1, 0, 0, err, sizeof(err)),
	                 MAIL_NO);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_NO);
	assert_int_equal(mailbox_keyword_index(mb, "New"), -1);
	mailbox_close(mb);
	assert_int_equal(count_dir(path_of(fx, "new")), 1);
	assert_int_equal(count_dir(path_of(fx, "cur")), 1);
}

/* Keywords are letters in file names, named in dovecot-keywords, in both
 * directions. */
static void
mail_keywords_dovecot(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_keyword_index(mb, "$Label1"), 0);
	assert_int_equal(mailbox_keyword_index(mb, "Work"), 1);
	assert_int_equal(mailbox_keyword_index(mb, "work"), 1); /* no case */
	assert_int_equal(mailbox_keyword_index(mb, "bad word"), -1);
	assert_int_equal(mailbox_keyword_index(mb, "\\Seen"), -1);
	assert_int_equal(
	        mailbox_set_flags(mb, 1, MAIL_DRAFT, 3, err, sizeof(err)),
	        MAIL_OK);
	mailbox_close(mb);
	char *kws = slurp(path_of(fx, "dovecot-keywords"));
	assert_string_equal(kws, "0 $Label1\n1 Work\n");
	free(kws);
	assert_non_null(find_file(path_of(fx, "cur"), ""));
	assert_non_null(strstr(find_file(path_of(fx, "cur"), ""), ":2,Dab"));

	/* what Dovecot wrote is read: a message with letter c, and c has
	 * a name */
	spit(path_of(fx, "dovecot-keywords"), "0 $Label1\n1 Work\n2 Later\n");
	deliver(fx, ".", "1700000004.M1P1.dovecot:2,Sc", "Subject: 2\n\n2\n");
	mb = open_box(fx, "INBOX", false);
	const char *const *names;
	assert_int_equal(mailbox_keywords(mb, &names), 3);
	assert_string_equal(names[2], "Later");
	assert_int_equal(mailbox_msg(mb, 1)->keywords, 3);
	assert_int_equal(mailbox_msg(mb, 2)->keywords, 4);
	assert_int_equal(mailbox_msg(mb, 2)->flags & ~MAIL_RECENT, MAIL_SEEN);
	/* fill up to 26; then there is no room */
	char name[16];
	for (int i = 3; i < MAIL_KEYWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(mailbox_keyword_index(mb, name), i);
	}
	assert_int_equal(mailbox_keyword_index(mb, "onemore"), -1);
	assert_int_equal(mailbox_keyword_index(mb, "k25"), 25);
	assert_int_equal(
	        mailbox_set_flags(mb, 2, 0, 1u << 25, err, sizeof(err)),
	        MAIL_OK);
	mailbox_close(mb);
	mb = open_box(fx, "INBOX", true);
	assert_int_equal(mailbox_msg(mb, 2)->keywords, 1u << 25);
	mailbox_close(mb);

	/* a hole in the numbering: the list stops before it */
	spit(path_of(fx, "dovecot-keywords"), "0 A\n2 C\n");
	mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_keywords(mb, &names), 1);
	assert_int_equal(mailbox_msg(mb, 1)->keywords, 1); /* a, not b */
	/* a new keyword fills the hole; C shows up again */
	assert_int_equal(mailbox_keyword_index(mb, "B"), 1);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	mail_changes_free(&ch);
	assert_int_equal(mailbox_keywords(mb, &names), 3);
	assert_string_equal(names[2], "C");
	mailbox_close(mb);
}

/* A Maildir that Dovecot kept: its uidlist and names are taken as they
 * are, fields we don't use survive our rewrite. */
static void
mail_dovecot_maildir(void **state)
{
	struct fx *fx = *state;
	spit(path_of(fx, ".Sent/dovecot-uidlist"),
	     "3 V1234 N20 G0123456789abcdef0123456789abcdef\n"
	     "5 :1600000000.M1P2.host,S=10,W=11:2,S\n"
	     "7 W100 G42 :1600000001.M1P2.host\n"
	     "9 :1600000002.M1P2.host\n");
	spit(path_of(fx, ".Sent/cur/1600000000.M1P2.host,S=10,W=11:2,RS"),
	     "Subject:\n\n");
	spit(path_of(fx, ".Sent/new/1600000001.M1P2.host"), "Subject: 7\n\n");
	spit(path_of(fx, ".Sent/cur/1600000005.M1P2.host:2,T"), "Subject:\n");
	struct mailbox *mb = open_box(fx, "Sent", false);
	assert_int_equal(mailbox_uidvalidity(mb), 1234);
	assert_int_equal(mailbox_count(mb), 3);
	assert_int_equal(mailbox_msg(mb, 1)->uid, 5);
	assert_int_equal(mailbox_msg(mb, 1)->flags & ~MAIL_RECENT,
	                 MAIL_SEEN | MAIL_ANSWERED);
	assert_int_equal(mailbox_msg(mb, 1)->size, 11);
	assert_int_equal(mailbox_msg(mb, 2)->uid, 7);
	assert_int_equal(mailbox_msg(mb, 2)->size, 100); /* from the list */
	assert_int_equal(mailbox_msg(mb, 3)->uid, 20);   /* new: N on */
	assert_int_equal(mailbox_msg(mb, 3)->flags & ~MAIL_RECENT,
	                 MAIL_DELETED);
	/* without R, what was in new/ is recent */
	assert_false(mailbox_msg(mb, 1)->flags & MAIL_RECENT);
	assert_true(mailbox_msg(mb, 2)->flags & MAIL_RECENT);
	assert_int_equal(mailbox_uidnext(mb), 21);
	mailbox_close(mb);
	char *ul = slurp(path_of(fx, ".Sent/dovecot-uidlist"));
	assert_memory_equal(ul, "3 V1234 N21 R", 13);
	assert_non_null(strstr(ul, "G0123456789abcdef0123456789abcdef\n"));
	assert_non_null(strstr(ul, "\n7 W100 G42 :1600000001.M1P2.host\n"));
	assert_null(strstr(ul, "\n9 "));
	free(ul);
}

/* A damaged uidlist: renumbered under a new UIDVALIDITY, nothing lost. */
static void
mail_uidlist_damaged(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	append(fx, "INBOX", "Subject: 2\n\n2\n", 0);
	struct mail_status st1, st2;
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st1, err, sizeof(err)),
	        MAIL_OK);
	static const char *const damage[] = {
	        "garbage\n", "3 V1 N2\n2 :a\n1 :b\n",       "",
	        "3 N5\n",    "3 V7 N2\n1 :x\nnot a line\n",
	};
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		spit(path_of(fx, "dovecot-uidlist"), damage[i]);
		assert_int_equal(mailstore_status(fx->ms, "INBOX", &st2, err,
		                                  sizeof(err)),
		                 MAIL_OK);
		assert_int_equal(st2.messages, 2);
		assert_true(st2.uidvalidity > st1.uidvalidity);
		assert_int_equal(st2.uidnext, 3);
		st1 = st2;
	}
	/* a last line cut short is dropped, not a reason to renumber */
	char *ul = slurp(path_of(fx, "dovecot-uidlist"));
	size_t n = strlen(ul);
	FILE *f = fopen(path_of(fx, "dovecot-uidlist"), "a");
	fputs("3 W5 :half", f);
	fclose(f);
	assert_int_equal(append(fx, "INBOX", "Subject: 3\n\n3\n", 0), 3);
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st2, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st2.uidvalidity, st1.uidvalidity);
	assert_int_equal(st2.messages, 3);
	free(ul);
	ul = slurp(path_of(fx, "dovecot-uidlist"));
	assert_null(strstr(ul, ":half"));
	assert_true(strlen(ul) > n);
	free(ul);
}

/* A message file without W= is read once for its size, which is then
 * kept in the uidlist. */
static void
mail_size_cached(void **state)
{
	struct fx *fx = *state;
	deliver(fx, ".", "1700000005.M1P1.courier,S=12",
	        "a\nb\nc\r\nd\n\n\n\n");
	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "INBOX", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.size, 12 + 6);
	char *ul = slurp(path_of(fx, "dovecot-uidlist"));
	assert_non_null(strstr(ul, "\n1 W18 :1700000005.M1P1.courier,S=12\n"));
	free(ul);
	/* the cached size is what is used (the file is not read again) */
	char *f = find_file(path_of(fx, "new"), "1700000005");
	char p[512];
	snprintf(p, sizeof(p), "%s/new/%s", fx->root, f);
	spit(p, "a\nb\nc\r\nd\n\n\n\nEXTRA");
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_msg(mb, 1)->size, 18);
	mailbox_close(mb);
}

/* ---- many messages ---- */

#define BIG_FOLDER 10000

static void
mail_big_folder(void **state)
{
	struct fx *fx = *state;
	char name[128], text[64];
	for (int i = 0; i < BIG_FOLDER; i++) {
		/* every other one without a size in its name */
		snprintf(name, sizeof(name), "%d.M%dP1.big%s", 1600000000 + i,
		         i, i % 2 ? "" : ",S=9,W=10");
		snprintf(text, sizeof(text), "%08d\n", i);
		deliver(fx, ".Archive", name, text);
	}
	struct mailbox *mb = open_box(fx, "Archive", false);
	assert_int_equal(mailbox_count(mb), BIG_FOLDER);
	for (uint32_t seq = 1; seq <= BIG_FOLDER; seq++) {
		const struct mail_msg *m = mailbox_msg(mb, seq);
		assert_int_equal(m->uid, seq); /* delivery order */
		assert_int_equal(m->size, 10);
		assert_true(m->flags & MAIL_RECENT);
	}
	char *s = read_msg(mb, 1234);
	assert_string_equal(s, "00001233\r\n");
	free(s);
	assert_int_equal(count_dir(path_of(fx, ".Archive/new")), 0);
	deliver(fx, ".Archive", "1700000000.M1P1.late", "late\n");
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, BIG_FOLDER + 1);
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(ch.nflagged, 0);
	mail_changes_free(&ch);
	for (uint32_t seq = 1; seq <= BIG_FOLDER; seq += 2)
		assert_int_equal(mailbox_set_flags(mb, seq, MAIL_DELETED, 0,
		                                   err, sizeof(err)),
		                 MAIL_OK);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, BIG_FOLDER / 2);
	assert_int_equal(ch.expunged[0], BIG_FOLDER - 1);
	assert_int_equal(ch.exists, BIG_FOLDER / 2 + 1);
	mail_changes_free(&ch);
	mailbox_close(mb);

	struct mail_status st;
	assert_int_equal(
	        mailstore_status(fx->ms, "Archive", &st, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(st.messages, BIG_FOLDER / 2 + 1);
	assert_int_equal(st.uidnext, BIG_FOLDER + 2);
	assert_int_equal(st.recent, 0);
	mb = open_box(fx, "Archive", true);
	assert_int_equal(mailbox_msg(mb, 1)->uid, 2);
	assert_int_equal(mailbox_msg(mb, BIG_FOLDER / 2 + 1)->uid,
	                 BIG_FOLDER + 1);
	mailbox_close(mb);
}

/* After a quiet spell a sync may skip the directory; it must still see
 * any change made after that. */
static void
mail_quiet_sync_sees_changes(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	append(fx, "INBOX", "Subject: 2\n\n2\n", 0);
	struct mailbox *a = open_box(fx, "INBOX", false);
	struct mailbox *b = open_box(fx, "INBOX", false);
	struct mail_changes ch;
	sleep(3);
	sync_ok(a, &ch);
	mail_changes_free(&ch);
	sync_ok(b, &ch);
	mail_changes_free(&ch);
	sync_ok(a, &ch); /* nothing new: may take the short path */
	assert_int_equal(ch.exists, 2);
	mail_changes_free(&ch);
	assert_int_equal(
	        mailbox_set_flags(b, 1, MAIL_SEEN, 0, err, sizeof(err)),
	        MAIL_OK);
	sync_ok(a, &ch);
	assert_int_equal(ch.nflagged, 1);
	mail_changes_free(&ch);
	sleep(3);
	sync_ok(a, &ch);
	mail_changes_free(&ch);
	deliver(fx, ".", "1700000006.M1P1.mda", "x\n");
	sync_ok(a, &ch);
	assert_int_equal(ch.exists, 3);
	mail_changes_free(&ch);
	mailbox_close(a);
	mailbox_close(b);
}

/* ---- concurrency, crashes, full disks ---- */

struct appender {
	struct fx *fx;
	int id;
	uint32_t uids[100];
};

static void *
append_thread(void *arg)
{
	struct appender *ap = arg;
	char e[128];
	for (int i = 0; i < 100; i++) {
		FILE *f = tmpfile();
		fprintf(f, "Subject: %d-%d\n\n", ap->id, i);
		long n = ftell(f);
		rewind(f);
		uint32_t v;
		if (mailstore_append(ap->fx->ms, "INBOX", fileno(f),
		                     (uint64_t)n, 0, NULL, 0, 0, &v,
		                     &ap->uids[i], e, sizeof(e)) != MAIL_OK)
			ap->uids[i] = 0;
		fclose(f);
	}
	return NULL;
}

/* Threads appending while a session syncs: every UID once, none lost. */
static void
mail_concurrent_appends(void **state)
{
	struct fx *fx = *state;
	struct appender ap[3];
	pthread_t t[3];
	struct mailbox *mb = open_box(fx, "INBOX", false);
	for (int i = 0; i < 3; i++) {
		ap[i].fx = fx;
		ap[i].id = i;
		assert_int_equal(
		        pthread_create(&t[i], NULL, append_thread, &ap[i]), 0);
	}
	struct mail_changes ch;
	for (int i = 0; i < 50; i++) {
		sync_ok(mb, &ch);
		assert_int_equal(ch.nexpunged, 0);
		mail_changes_free(&ch);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	static bool seen[301];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 100; j++) {
			uint32_t u = ap[i].uids[j];
			assert_true(u >= 1 && u <= 300);
			assert_false(seen[u]);
			seen[u] = true;
		}
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, 300);
	mail_changes_free(&ch);
	for (uint32_t s = 1; s <= 300; s++)
		assert_int_equal(mailbox_msg(mb, s)->uid, s);
	mailbox_close(mb);
}

/* A child appends and moves in a loop and is killed with SIGKILL at some
 * moment; everything it was told succeeded is there, once, and every
 * message is in exactly one folder. Repeated at different moments. */
static void
mail_kill_anytime(void **state)
{
	struct fx *fx = *state;
	int total_reported = 0;
	for (int round = 0; round < 12; round++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			char e[128];
			struct mailstore *ms =
			        mailstore_open(fx->root, e, sizeof(e));
			struct mailbox *mb = NULL;
			if (ms == NULL || mailbox_open(ms, "INBOX", false, &mb,
			                               e, sizeof(e)) != MAIL_OK)
				_exit(1);
			for (int i = 0;; i++) {
				char text[64];
				int len = snprintf(text, sizeof(text),
				                   "Subject: r%dm%d\n\nbody\n",
				                   round, i);
				FILE *f = tmpfile();
				fputs(text, f);
				fflush(f);
				rewind(f);
				uint32_t v, u;
				if (mailstore_append(ms, "INBOX", fileno(f),
				                     (uint64_t)len, 0, NULL, 0,
				                     0, &v, &u, e,
				                     sizeof(e)) != MAIL_OK)
					_exit(2);
				fclose(f);
				dprintf(pfd[1], "A %u r%dm%d\n", u, round, i);
				struct mail_changes ch;
				if (mailbox_sync(mb, &ch, e, sizeof(e)) !=
				    MAIL_OK)
					_exit(3);
				mail_changes_free(&ch);
				uint32_t seq = mailbox_seq_of_uid(mb, u), du;
				if (i % 2 == 0 && seq != 0) {
					if (mailbox_move(mb, &seq, 1, "Archive",
					                 &v, &du, e,
					                 sizeof(e)) != MAIL_OK)
						_exit(4);
					dprintf(pfd[1], "M %u r%dm%d\n", du,
					        round, i);
				}
			}
		}
		close(pfd[1]);
		/* from early on (during open) to well into the loop */
		long ms = 5 + (round * 53) % 500;
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));

		/* what the child was told */
		FILE *in = fdopen(pfd[0], "r");
		char kind;
		unsigned uid;
		char tag[32];
		struct {
			char tag[32];
			char where;
			unsigned uid;
		} *rep = calloc(4096, sizeof(*rep));
		int nrep = 0;
		while (nrep < 4096 &&
		       fscanf(in, " %c %u %31s", &kind, &uid, tag) == 3) {
			int k;
			for (k = 0; k < nrep; k++)
				if (strcmp(rep[k].tag, tag) == 0)
					break;
			if (k == nrep)
				nrep++;
			strcpy(rep[k].tag, tag);
			rep[k].where = kind;
			rep[k].uid = uid;
		}
		fclose(in);
		total_reported += nrep;

		/* what a new login finds (it finishes interrupted moves) */
		mailstore_close(fx->ms);
		fx->ms = mailstore_open(fx->root, err, sizeof(err));
		assert_non_null(fx->ms);
		struct mailbox *boxes[2] = {open_box(fx, "INBOX", true),
		                            open_box(fx, "Archive", true)};
		for (int k = 0; k < nrep; k++) {
			int found = 0;
			for (int b = 0; b < 2; b++)
				for (uint32_t s = 1;
				     s <= mailbox_count(boxes[b]); s++) {
					char *t = read_msg(boxes[b], s);
					if (t == NULL)
						continue;
					char want[64];
					snprintf(want, sizeof(want),
					         "Subject: %s\r\n", rep[k].tag);
					if (strncmp(t, want, strlen(want)) ==
					    0) {
						found++;
						/* where and under which
						 * UID it was reported,
						 * unless a later MOVE was
						 * cut short */
						if ((rep[k].where == 'A') ==
						    (b == 0))
							assert_int_equal(
							        mailbox_msg(
							                boxes[b],
							                s)
							                ->uid,
							        rep[k].uid);
					}
					free(t);
				}
			if (found != 1)
				fail_msg("round %d: %s found %d times", round,
				         rep[k].tag, found);
		}
		/* no message twice, reported or not; UIDs ascending */
		for (int b = 0; b < 2; b++) {
			uint32_t n = mailbox_count(boxes[b]);
			for (uint32_t s = 2; s <= n; s++)
				assert_true(mailbox_msg(boxes[b], s)->uid >
				            mailbox_msg(boxes[b], s - 1)->uid);
		}
		char **bodies = calloc(8192, sizeof(char *));
		int nb = 0;
		for (int b = 0; b < 2; b++)
			for (uint32_t s = 1; s <= mailbox_count(boxes[b]); s++)
				bodies[nb++] = read_msg(boxes[b], s);
		for (int x = 0; x < nb; x++)
			for (int y = x + 1; y < nb; y++)
				if (strcmp(bodies[x], bodies[y]) == 0)
					fail_msg("twice: %s", bodies[x]);
		for (int x = 0; x < nb; x++)
			free(bodies[x]);
		free(bodies);
		mailbox_close(boxes[0]);
		mailbox_close(boxes[1]);
		assert_false(exists(path_of(fx, ".Archive/imapcid-journal")));
		free(rep);
	}
	/* the child did get somewhere */
	assert_true(total_reported > 12);
}

/* A MOVE killed after its journal was written: the next login completes
 * it; a journal without its end mark never happened. */
static void
mail_journal_recovery(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: moved\n\n1\n", MAIL_SEEN);
	char *src = find_file(path_of(fx, "cur"), "");
	char base[256], from[512], to[512];
	snprintf(base, sizeof(base), "%.*s", (int)strcspn(src, ":"), src);
	snprintf(from, sizeof(from), "%s/cur/%s", fx->root, src);
	snprintf(to, sizeof(to), "%s/.Trash/tmp/staged", fx->root);
	assert_int_equal(link(from, to), 0);
	char journal[1024];
	snprintf(journal, sizeof(journal),
	         "T\tstaged\tstaged,S=18,W=21:2,S\nX\tINBOX\t%s\nE\n", base);
	spit(path_of(fx, ".Trash/imapcid-journal"), journal);

	/* half a journal elsewhere: ignored, its staged file not moved */
	snprintf(to, sizeof(to), "%s/.Junk/tmp/half", fx->root);
	assert_int_equal(link(from, to), 0);
	snprintf(journal, sizeof(journal), "T\thalf\thalf:2,\nX\tINBOX\t%s\n",
	         base);
	spit(path_of(fx, ".Junk/imapcid-journal"), journal);

	/* a journal naming paths outside its folder: not followed */
	snprintf(to, sizeof(to), "%s/.Drafts/tmp/x", fx->root);
	assert_int_equal(link(from, to), 0);
	spit(path_of(fx, ".Drafts/imapcid-journal"),
	     "T\tx\t../../cur/stolen\nT\t../../cur/x\ty\n"
	     "X\t../other\tx\nE\n");

	mailstore_close(fx->ms);
	fx->ms = mailstore_open(fx->root, err, sizeof(err));
	assert_non_null(fx->ms);
	assert_false(exists(path_of(fx, ".Drafts/imapcid-journal")));
	assert_true(exists(path_of(fx, ".Drafts/tmp/x")));
	assert_int_equal(count_dir(path_of(fx, ".Drafts/cur")), 0);
	assert_false(exists(path_of(fx, "cur/stolen")));
	assert_false(exists(path_of(fx, ".Trash/imapcid-journal")));
	assert_false(exists(path_of(fx, ".Junk/imapcid-journal")));
	assert_int_equal(count_dir(path_of(fx, "cur")), 0);
	assert_true(exists(path_of(fx, ".Trash/cur/staged,S=18,W=21:2,S")));
	assert_int_equal(count_dir(path_of(fx, ".Junk/cur")), 0);
	struct mailbox *mb = open_box(fx, "Trash", true);
	assert_int_equal(mailbox_count(mb), 1);
	assert_int_equal(mailbox_msg(mb, 1)->flags & ~MAIL_RECENT, MAIL_SEEN);
	char *s = read_msg(mb, 1);
	assert_string_equal(s, "Subject: moved\r\n\r\n1\r\n");
	free(s);
	mailbox_close(mb);
}

/* A write the disk refuses (RLIMIT_FSIZE stands in for a full disk:
 * EFBIG is treated as ENOSPC): a clean NOSPACE, nothing left behind. */
static void
mail_disk_full(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: small\n\nsmall\n", 0);
	struct mailbox *mb = open_box(fx, "INBOX", false);
	size_t big = 200000;
	char *text = malloc(big + 1);
	memset(text, 'x', big);
	text[big] = '\0';
	memcpy(text, "Subject: big\n\n", 14);

	/* the input is written before the limit applies to it too */
	FILE *f = tmpfile();
	fputs(text, f);
	fflush(f);
	rewind(f);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 65536;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint32_t uid, v;
	enum mail_result r =
	        mailstore_append(fx->ms, "INBOX", fileno(f), big, 0, NULL, 0, 0,
	                         &v, &uid, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, prev);
	fclose(f);
	assert_int_equal(r, MAIL_NOSPACE);
	assert_int_equal(count_dir(path_of(fx, "tmp")), 0);
	assert_int_equal(count_dir(path_of(fx, "cur")), 1);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, 1);
	mail_changes_free(&ch);
	/* and afterwards all is well */
	assert_int_equal(append_kw(fx, "INBOX", text, 0, NULL, 0, 0, &uid),
	                 MAIL_OK);
	assert_int_equal(uid, 2);
	free(text);
	mailbox_close(mb);
}

/* The uidlist itself hitting the limit: the append fails cleanly and the
 * uidlist is not left with half a line. */
static void
mail_disk_full_uidlist(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	struct stat sb;
	assert_int_equal(stat(path_of(fx, "dovecot-uidlist"), &sb), 0);
	char *before = slurp(path_of(fx, "dovecot-uidlist"));

	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 10; /* the message fits */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint32_t uid;
	enum mail_result r = append_kw(fx, "INBOX", "Subject: 2\n\n2\n", 0,
	                               NULL, 0, 0, &uid);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, prev);
	assert_int_equal(r, MAIL_NOSPACE);
	/* failed, and Dovecot's dotlock not left behind */
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
	char *after = slurp(path_of(fx, "dovecot-uidlist"));
	assert_string_equal(after, before);
	free(before);
	free(after);
	assert_int_equal(count_dir(path_of(fx, "tmp")), 0);
	assert_int_equal(count_dir(path_of(fx, "cur")), 1);
	assert_int_equal(append(fx, "INBOX", "Subject: 3\n\n3\n", 0), 2);
}

/* ---- Dovecot's dotlock ---- */

static double
mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A dotlock as Dovecot makes one: "pid:host", made age seconds ago. */
static void
make_dotlock(struct fx *fx, long pid, int age)
{
	char host[256] = "", text[300];
	gethostname(host, sizeof(host) - 1);
	snprintf(text, sizeof(text), "%ld:%s", pid, host);
	spit(path_of(fx, "dovecot-uidlist.lock"), text);
	struct timespec t[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
	assert_int_equal(
	        utimensat(AT_FDCWD, path_of(fx, "dovecot-uidlist.lock"), t, 0),
	        0);
}

/* Every writer of the uidlist holds the dotlock and removes it after. */
static void
mail_dotlock_taken_and_removed(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
	struct mailbox *mb = open_box(fx, "INBOX", false);
	deliver(fx, ".", "1700000001.M1P1.mda", "x\n");
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, 2);
	mail_changes_free(&ch);
	mailbox_close(mb);
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
}

/* Left by a process that is gone (kill -9): overridden at once. */
static void
mail_dotlock_dead_owner(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	waitpid(child, NULL, 0);
	/* just made: a killed server's lock is overridden at once, not
	 * after Dovecot's 2 s */
	make_dotlock(fx, child, 0);
	double t = mono_now();
	assert_int_equal(append(fx, "INBOX", "Subject: 2\n\n2\n", 0), 2);
	assert_true(mono_now() - t < 0.5);
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
}

struct holder {
	struct fx *fx;
	char lock[512];
};

static void *
release_later(void *arg)
{
	struct holder *h = arg;
	struct timespec ts = {0, 600 * 1000000L};
	nanosleep(&ts, NULL);
	unlink(h->lock);
	return NULL;
}

/* Held by a live process (Dovecot writing the uidlist): we wait for it,
 * don't touch the uidlist meanwhile, and go on once it is released. */
static void
mail_dotlock_live_owner_waits(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	char *before = slurp(path_of(fx, "dovecot-uidlist"));
	make_dotlock(fx, 1, 10); /* init: always alive */
	struct holder h = {fx, ""};
	snprintf(h.lock, sizeof(h.lock), "%s",
	         path_of(fx, "dovecot-uidlist.lock"));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
	double t0 = mono_now();
	uint32_t uid;
	assert_int_equal(append_kw(fx, "INBOX", "Subject: 2\n\n2\n", 0, NULL, 0,
	                           0, &uid),
	                 MAIL_OK);
	assert_true(mono_now() - t0 >= 0.5);
	pthread_join(t, NULL);
	assert_int_equal(uid, 2);
	char *after = slurp(path_of(fx, "dovecot-uidlist"));
	assert_true(strlen(after) > strlen(before));
	free(before);
	free(after);
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
}

/* mailbox_close() writes only when there is something to keep: sizes
 * learnt by reading files, or flag changes not yet fsynced. The server
 * closes such a mailbox on a worker, any other on the event loop. */
static void
mail_close_writes_only_when_owed(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	deliver(fx, ".", "1700000001.M1P1.mda", "Subject: 2\n\nno size\n");
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(mailbox_count(mb), 2);
	assert_false(mailbox_close_writes(mb));
	/* its name says no size: learnt by reading the file */
	assert_non_null(mailbox_msg(mb, 2));
	assert_true(mailbox_close_writes(mb));
	mailbox_close(mb);

	mb = open_box(fx, "INBOX", false); /* the size was written back */
	assert_non_null(mailbox_msg(mb, 2));
	assert_false(mailbox_close_writes(mb));
	assert_int_equal(
	        mailbox_set_flags(mb, 1, MAIL_SEEN, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_true(mailbox_close_writes(mb)); /* an fsync of cur/ owed */
	mailbox_flush(mb);
	assert_false(mailbox_close_writes(mb));
	mailbox_close(mb);
	assert_false(mailbox_close_writes(NULL));
}

/* tmp/ is swept by a SELECT at most every 8 hours, as Dovecot does: the
 * sweep stamps tmp/'s atime, and a recent stamp skips it. */
static time_t
atime_of(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_atime;
}

static void
set_atime(const char *path, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {0, UTIME_OMIT}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
mail_tmp_sweep_throttled(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path_of(fx, "tmp"));
	time_t now = time(NULL);

	set_atime(tmp, now - 9 * 3600); /* due */
	mailbox_close(open_box(fx, "INBOX", false));
	assert_true(atime_of(tmp) >= now);

	set_atime(tmp, now - 3600); /* swept an hour ago */
	mailbox_close(open_box(fx, "INBOX", false));
	assert_int_equal(atime_of(tmp), now - 3600);

	set_atime(tmp, now + 3600); /* a clock set back: sweep */
	mailbox_close(open_box(fx, "INBOX", false));
	assert_true(atime_of(tmp) <= time(NULL));
}

/* A sync that only reads (a SELECT of an unchanged folder) doesn't wait
 * for Dovecot's dotlock nor touch it; one that must write (a delivery to
 * record) waits for it as any writer does. */
static void
mail_dotlock_readers_dont_wait(void **state)
{
	struct fx *fx = *state;
	append(fx, "INBOX", "Subject: 1\n\n1\n", 0);
	struct mailbox *warm = open_box(fx, "INBOX", false);
	mailbox_close(warm); /* \Recent taken: the next open writes nothing */
	make_dotlock(fx, 1, 10); /* init: always alive */
	char *lock = slurp(path_of(fx, "dovecot-uidlist.lock"));
	double t0 = mono_now();
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_true(mono_now() - t0 < 0.4);
	assert_int_equal(mailbox_count(mb), 1);
	char *still = slurp(path_of(fx, "dovecot-uidlist.lock"));
	assert_string_equal(lock, still);
	free(lock);
	free(still);

	deliver(fx, ".", "1700000002.M1P1.mda", "x\n");
	struct holder h = {fx, ""};
	snprintf(h.lock, sizeof(h.lock), "%s",
	         path_of(fx, "dovecot-uidlist.lock"));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
	t0 = mono_now();
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_true(mono_now() - t0 >= 0.5);
	pthread_join(t, NULL);
	assert_int_equal(ch.exists, 2);
	assert_int_equal(mailbox_msg(mb, 2)->uid, 2);
	mail_changes_free(&ch);
	mailbox_close(mb);
	assert_false(exists(path_of(fx, "dovecot-uidlist.lock")));
}

/* A parked mailbox (IDLE) keeps the client's view exactly: same messages,
 * same order, same flags, files found again under their new names, a
 * message expunged elsewhere a readable-as-gone placeholder; the next sync
 * reports what changed meanwhile. */
static void
mail_park_keeps_view(void **state)
{
	struct fx *fx = *state;
	const char *texts[] = {"Subject: A\r\n\r\nA\r\n",
	                       "Subject: B\r\n\r\nB\r\n",
	                       "Subject: C\r\n\r\nC\r\n"};
	uint32_t uids[3];
	for (int i = 0; i < 3; i++)
		uids[i] = append(fx, "INBOX", texts[i], 0);
	struct mailbox *mb = open_box(fx, "INBOX", false);
	assert_int_equal(
	        mailbox_set_flags(mb, 2, MAIL_FLAGGED, 0, err, sizeof(err)),
	        MAIL_OK);
	mailbox_flush(mb);
	int fds = count_dir("/proc/self/fd");
	mailbox_park(mb);
	/* its folder's descriptors are closed while parked */
	assert_int_equal(count_dir("/proc/self/fd"), fds - 5);

	/* another session: expunge A, mark C seen, append D */
	struct mailbox *other = open_box(fx, "INBOX", false);
	assert_int_equal(
	        mailbox_set_flags(other, 1, MAIL_DELETED, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(
	        mailbox_set_flags(other, 3, MAIL_SEEN, 0, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_expunge(other, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	uint32_t d = append(fx, "INBOX", "Subject: D\r\n\r\nD\r\n", 0);
	mailbox_close(other);

	/* unsynced: the view is the one before parking */
	assert_int_equal(mailbox_count(mb), 3);
	assert_int_equal(mailbox_seq_of_uid(mb, uids[2]), 3);
	assert_int_equal(mailbox_seq_of_uid(mb, d), 0);
	const struct mail_msg *m = mailbox_msg(mb, 2);
	assert_int_equal(m->uid, uids[1]);
	assert_true(m->flags & MAIL_FLAGGED);
	assert_int_equal(mailbox_msg(mb, 3)->flags & MAIL_SEEN, 0);
	char *b = read_msg(mb, 2), *c = read_msg(mb, 3);
	assert_non_null(b);
	assert_non_null(c);
	assert_string_equal(b, texts[1]);
	assert_string_equal(c, texts[2]); /* renamed with S: found again */
	free(b);
	free(c);
	assert_null(read_msg(mb, 1)); /* gone */

	/* parked again, then the sync tells what happened */
	mailbox_park(mb);
	struct mail_changes ch;
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged[0], 1);
	assert_int_equal(ch.exists, 3);
	assert_int_equal(ch.nflagged, 1);
	assert_int_equal(ch.flagged[0], 2); /* C, after A went */
	mail_changes_free(&ch);
	assert_int_equal(mailbox_msg(mb, 3)->uid, d);
	assert_true(mailbox_msg(mb, 2)->flags & MAIL_SEEN);
	mailbox_park(mb);
	mailbox_close(mb); /* parked: nothing leaks (ASan) */
}

/* A mailbox renamed away while parked is not followed to its new name
 * nor confused with a new one of the old name: its messages are gone and
 * the next sync fails (the session then says the mailbox is gone). */
static void
mail_park_renamed_away(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(mailstore_create(fx->ms, "Box", err, sizeof(err)),
	                 MAIL_OK);
	append(fx, "Box", "Subject: x\r\n\r\nx\r\n", 0);
	struct mailbox *mb = open_box(fx, "Box", false);
	mailbox_park(mb);
	assert_int_equal(
	        mailstore_rename(fx->ms, "Box", "Old", err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailstore_create(fx->ms, "Box", err, sizeof(err)),
	                 MAIL_OK);
	append(fx, "Box", "Subject: y\r\n\r\ny\r\n", 0);
	assert_int_equal(mailbox_count(mb), 1);
	assert_null(read_msg(mb, 1));
	struct mail_changes ch;
	assert_int_not_equal(mailbox_sync(mb, &ch, err, sizeof(err)), MAIL_OK);
	mail_changes_free(&ch);
	mailbox_close(mb);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	        T(mail_layout_created),
	        T(mail_create_list_delete),
	        T(mail_rename),
	        T(mail_rename_inbox),
	        T(mail_subscribe),
	        cmocka_unit_test(mail_name_validation),
	        T(mail_path_tricks),
	        T(mail_odd_directories_ignored),
	        T(mail_append_status_read),
	        T(mail_append_short_input),
	        T(mail_uids_persist),
	        T(mail_mda_delivery_recent),
	        T(mail_two_sessions),
	        T(mail_change_flags_keeps_others),
	        T(mail_park_keeps_view),
	        T(mail_park_renamed_away),
	        cmocka_unit_test(mail_crlf_conversion),
	        T(mail_stream_outlives_expunge),
	        T(mail_stream_size_from_the_file),
	        T(mail_expunge_uid_set),
	        T(mail_copy_and_move),
	        T(mail_readonly),
	        T(mail_keywords_dovecot),
	        T(mail_dovecot_maildir),
	        T(mail_uidlist_damaged),
	        T(mail_size_cached),
	        T(mail_big_folder),
	        T(mail_quiet_sync_sees_changes),
	        T(mail_concurrent_appends),
	        T(mail_kill_anytime),
	        T(mail_journal_recovery),
	        T(mail_disk_full),
	        T(mail_disk_full_uidlist),
	        T(mail_dotlock_taken_and_removed),
	        T(mail_dotlock_dead_owner),
	        T(mail_dotlock_live_owner_waits),
	        T(mail_dotlock_readers_dont_wait),
	        T(mail_tmp_sweep_throttled),
	        T(mail_close_writes_only_when_owed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
