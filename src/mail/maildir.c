/*
 * The Maildir++ mail store, laid out as Dovecot and Courier lay it out so
 * existing mailboxes are served as they are:
 *
 *   root/{cur,new,tmp}            INBOX
 *   root/.Sub.Folder/{cur,new,tmp} "Sub.Folder" (and "maildirfolder")
 *   root/subscriptions            one name per line
 *   <folder>/dovecot-uidlist      "3 V<uidvalidity> N<uidnext> R<recent>"
 *                                 then "<uid> [W<size>] :<base name>"
 *   <folder>/dovecot-keywords     "<n> <keyword>": letter 'a'+n
 *   <folder>/imapcid.cache        the FETCH cache (cache.c)
 *
 * A message file is "<base>:2,<flags>", flags in ASCII order (D draft,
 * F flagged, R answered, S seen, T deleted, a-z keywords); its mtime is the
 * internal date; ",W=<n>" in the base is its size with CRLF line ends.
 *
 * Consistency rests on three rules:
 * - Everything that renames a file inside a folder, and every scan that
 *   turns the directory into UIDs, holds the folder's lock (flock on
 *   FOLDER_LOCK, so a killed process never leaves it held). readdir() may
 *   skip a file renamed while it reads; under the lock none of ours is, so
 *   a file present before and after a scan is always seen and never gets
 *   a second UID. Whoever reads the uidlist to write it back also holds
 *   Dovecot's dotlock (UIDLIST_DOTLOCK), so a live Dovecot can share it.
 * - A UID is written to the uidlist (fsync) before anyone reports it, and
 *   uidnext never goes down, so no UID is handed out twice.
 * - A message becomes visible by one rename from tmp/ (the commit point).
 *   A COPY or MOVE of several messages is first written down as a journal
 *   in the destination (fsync, rename): whoever takes that folder's lock
 *   next, or the next login, finishes it, so a kill leaves either none of
 *   it or all of it, and a MOVE never leaves a message in both places.
 */
#include "mail/mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "mail/cache.h"
#include "mail/utf7.h"

#define UIDLIST_FILE  "dovecot-uidlist"
#define UIDLIST_TMP   "dovecot-uidlist.imapcid"
#define KEYWORDS_FILE "dovecot-keywords"
#define KEYWORDS_TMP  "dovecot-keywords.imapcid"
/* Our own processes and threads queue on a flock() of FOLDER_LOCK (never
 * left held by a killed process); whoever writes the uidlist also takes
 * Dovecot's dotlock, UIDLIST_DOTLOCK, so a live Dovecot can share the
 * folder. */
#define FOLDER_LOCK     "imapcid-uidlist.lock"
#define UIDLIST_DOTLOCK "dovecot-uidlist.lock"
/* Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT: a dotlock that, like the
 * uidlist, hasn't changed for this long was left by a dead process. */
#define DOTLOCK_STALE_SEC 120
#define JOURNAL_FILE      "imapcid-journal"
#define JOURNAL_TMP       "imapcid-journal.tmp"
#define STORE_LOCK        "imapcid-store.lock"
#define UIDVALIDITY_FILE  "imapcid-uidvalidity"
#define UIDVALIDITY_TMP   "imapcid-uidvalidity.tmp"
#define SUBS_FILE         "subscriptions"
#define SUBS_TMP          "subscriptions.imapcid"
#define FOLDER_MARKER     "maildirfolder"
/* Starts with "..", which no valid name maps to: never listed or opened. */
#define DELETED_PREFIX "..imapcid-deleted."

#define LOCK_TIMEOUT_MS 30000 /* then the command fails, not the session */
#define LOCK_POLL_MS    10
/* A timestamp this close to now may hide a change made in the same clock
 * tick, so only older ones let a sync skip reading a directory. */
#define SETTLE_SEC  2
#define TMP_MAX_AGE (36 * 3600) /* the Maildir convention for tmp/ */
/* tmp/ is swept at most this often (Dovecot's MAILDIR_TMP_SCAN_SECS): a
 * sweep sets tmp/'s atime, so every session of every process sees it. */
#define TMP_SCAN_INTERVAL (8 * 3600)
#define IO_CHUNK          65536
#define FNAME_MAX         255 /* NAME_MAX of the file systems we run on */
#define HOST_MAX          64
#define KEYWORD_LEN_MAX   128
/* Sizes learnt by reading files are written back to the uidlist once this
 * many are pending (or an eighth of the folder), not one by one. */
#define SIZE_FLUSH_MIN 256
#define RETRIES        3    /* renames lost to another session in a row */
#define SYNC_ATTEMPTS  3    /* reads of a uidlist that changed meanwhile */
#define RM_DEPTH_MAX   4    /* a folder is dir/{cur,new,tmp}/file */
#define PEEK_LEN       8192 /* uidlist header and last line */

#define STORED_FLAGS                                                           \
	(MAIL_SEEN | MAIL_ANSWERED | MAIL_FLAGGED | MAIL_DELETED | MAIL_DRAFT)

struct mailstore {
	int rootfd;
	char *root; /* the path it was opened with: for IDLE's watches */
	char host[HOST_MAX + 1];    /* for unique file names */
	char rawhost[HOST_MAX + 1]; /* gethostname(), as Dovecot has it */
};

struct folder {
	int dfd, curfd, newfd, tmpfd, lockfd;
	const struct mailstore *ms;
	bool dotlocked; /* UIDLIST_DOTLOCK is ours: dl_dev, dl_ino */
	dev_t dl_dev;
	ino_t dl_ino;
	char name[MAIL_NAME_MAX + 1]; /* normalized */
};

/*
 * Message file names, packed into chunks instead of one malloc each: a
 * SELECT names every message twice (uidlist and directory) and a LOGOUT
 * dropped them all, one free() each, which was about 7% of a short
 * session's CPU. A name is never freed alone: a pool goes as a whole once
 * nothing points into it (a sync's records all take their names from
 * that sync's directory scan; see sync_attempt()). A name replaced in
 * between (a flag change renames the file) stays until then.
 */
struct nchunk {
	struct nchunk *next;
	size_t used, cap;
	char data[];
};

struct npool {
	struct nchunk *head; /* the newest chunk, the one filled */
};

struct rec {
	struct mail_msg msg; /* first: mailbox_msg() hands out &rec->msg */
	char *fname; /* in cur/ or new/; the bare base when read from the
		      * uidlist and not yet matched to a file. In a pool
		      * (struct npool) of the list that holds the record. */
	char *ext;   /* uidlist fields we don't use, kept on rewrite */
	uint32_t baselen;
	bool in_new, size_known, size_dirty, date_known;
	bool gone; /* its file vanished: size and date are placeholders */
};

/* What a file or directory looked like, to tell later whether it changed. */
struct stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	bool exists, settled;
};

/* The uidlist header and records as last synced, plus the keywords. */
struct ulstate {
	bool loaded;
	uint32_t uidvalidity, uidnext;
	uint32_t recent_uid; /* first UID not yet taken as \Recent */
	bool has_recent, recent_fixed, tail_ok;
	off_t recent_off; /* of the fixed-width R digits */
	char *hdr_ext;    /* header fields we don't use */
	struct rec *recs;
	struct npool names; /* of recs[].fname */
	size_t n, dirty;
	struct stamp ul, cur, new, kwst;
	char *kw[MAIL_KEYWORDS_MAX];
	size_t nkw; /* kw[0 .. nkw - 1] are named */
};

struct mailbox {
	struct mailstore *ms;
	struct folder f;
	struct ulstate st;
	struct mail_cache *cache; /* made on first use */
	struct parked *parked;    /* non-NULL: see mailbox_park() */
	dev_t parked_dev;         /* the folder directory while parked */
	ino_t parked_ino;
	bool readonly, first_pending, fsync_pending;
	bool hide_recent; /* mailbox_hide_recent() */
};

/* What a parked mailbox keeps of a message: the client's view of it. */
struct parked {
	uint32_t uid, flags, keywords;
};

/* A message staged in a folder's tmp/, waiting for commit(). */
struct pending {
	char *tmp;   /* name in tmp/ */
	char *final; /* base, then base:2,flags */
	size_t baselen;
	uint64_t vsize;
	uint32_t flags, kwmask, uid;
	const char *const *kwnames; /* bit i of kwmask is kwnames[i] */
	struct rec *src;            /* MOVE: the message to remove */
};

/*
 * Process-wide, because two sessions of one user in two threads must not
 * make the same file name in the same microsecond (Dovecot's Q counter).
 */
static atomic_ulong name_counter;

static enum mail_result say(char *err, size_t errlen, enum mail_result r,
                            const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static enum mail_result
say(char *err, size_t errlen, enum mail_result r, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Turns errno into a result: a full disk or quota is the client's
 * [OVERQUOTA], anything else is ours and logged (paths stay in the log). */
static enum mail_result
sys_error(char *err, size_t errlen, const char *what, const char *obj)
{
	int e = errno;
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		return say(err, errlen, MAIL_NOSPACE, "Not enough disk space");
	log_error("maildir: %s %s: %s", what, obj, strerror(e));
	return say(err, errlen, MAIL_ERROR, "Internal error (%s)", what);
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
close_checked(int fd)
{
	/* Linux closes the descriptor even when close() fails (EINTR) */
	return close(fd) < 0 && errno != EINTR ? -1 : 0;
}

/* Reads a whole file; on failure returns -1 with errno set. */
static int
read_file_at(int dfd, const char *name, char **data, size_t *len,
             struct stat *sb)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *p = malloc(cap + 1);
	for (;;) {
		if (p == NULL) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		if (n == cap) {
			char *q = realloc(p, cap * 2 + 1);
			if (q == NULL)
				free(p);
			p = q;
			cap *= 2;
			continue;
		}
		ssize_t r = read(fd, p + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(p);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	*data = p;
	*len = n;
	if (sb != NULL)
		*sb = st;
	return 0;
}

/* Replaces name in dfd with data: temp file, fsync, rename, fsync dir.
 * Callers hold the lock that makes the fixed temp name theirs. */
static enum mail_result
replace_file(int dfd, const char *tmpname, const char *name, const void *data,
             size_t len, char *err, size_t errlen)
{
	enum mail_result r;
	int fd = openat(dfd, tmpname,
	                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	                0600);
	if (fd < 0)
		return sys_error(err, errlen, "create", tmpname);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		r = sys_error(err, errlen, "write", tmpname);
		close(fd);
		unlinkat(dfd, tmpname, 0);
		return r;
	}
	if (close_checked(fd) < 0 || renameat(dfd, tmpname, dfd, name) < 0) {
		r = sys_error(err, errlen, "rename", tmpname);
		unlinkat(dfd, tmpname, 0);
		return r;
	}
	if (fsync(dfd) < 0)
		return sys_error(err, errlen, "fsync", name);
	return MAIL_OK;
}

static void
stamp_take(struct stamp *s, const struct stat *sb, const struct timespec *now)
{
	s->exists = true;
	s->dev = sb->st_dev;
	s->ino = sb->st_ino;
	s->size = sb->st_size;
	s->mtime = sb->st_mtim;
	s->ctime = sb->st_ctim;
	/* ctime, which nobody can set back, moves with every change */
	s->settled = now->tv_sec - sb->st_ctim.tv_sec >= SETTLE_SEC;
}

static bool
stamp_same(const struct stamp *s, const struct stat *sb)
{
	return s->exists && s->dev == sb->st_dev && s->ino == sb->st_ino &&
	       s->size == sb->st_size &&
	       s->mtime.tv_sec == sb->st_mtim.tv_sec &&
	       s->mtime.tv_nsec == sb->st_mtim.tv_nsec &&
	       s->ctime.tv_sec == sb->st_ctim.tv_sec &&
	       s->ctime.tv_nsec == sb->st_ctim.tv_nsec;
}

/* ---- names ---- */

bool
mailstore_name_valid(const char *name)
{
	size_t n = strnlen(name, MAIL_NAME_MAX + 1);
	if (n == 0 || n > MAIL_NAME_MAX)
		return false;
	if (name[0] == '.' || name[0] == '~' || name[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		/* "/" and "\" would leave the root; "*" and "%" are LIST
		 * wildcards; ".." is an empty level (and a path trick) */
		if (c < 0x20 || c >= 0x7f || c == '/' || c == '\\' ||
		    c == '*' || c == '%')
			return false;
		if (c == '.' && name[i + 1] == '.')
			return false;
	}
	if (!mail_utf7_valid(name))
		return false;
	/* Decoded, the name must not hide control characters either. */
	char utf8[MAIL_NAME_MAX * 4 + 1];
	if (!mail_utf7_to_utf8(name, utf8, sizeof(utf8)))
		return false;
	for (const unsigned char *p = (const unsigned char *)utf8; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return false; /* C1 controls */
	}
	return true;
}

/* Validates and spells INBOX, which is case-insensitive, one way. */
static bool
norm_name(const char *in, char out[MAIL_NAME_MAX + 1])
{
	if (in == NULL || !mailstore_name_valid(in))
		return false;
	strcpy(out, in);
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == MAIL_HIERARCHY_SEP))
		memcpy(out, "INBOX", 5);
	return true;
}

static bool
is_inbox(const char *norm)
{
	return strcmp(norm, "INBOX") == 0;
}

/* The folder's directory relative to the root; false if too long. */
static bool
dir_of(const char *norm, char out[FNAME_MAX + 1])
{
	if (is_inbox(norm)) {
		strcpy(out, ".");
		return true;
	}
	size_t n = strlen(norm);
	if (n + 1 > FNAME_MAX)
		return false;
	out[0] = '.';
	memcpy(out + 1, norm, n + 1);
	return true;
}

/* Message file names that are not ours to serve: hidden, or unusable in
 * the line-oriented uidlist and journal. */
static bool
fname_ok(const char *n)
{
	if (n[0] == '.' || n[0] == '\0')
		return false;
	for (; *n; n++)
		if ((unsigned char)*n < 0x20 || *n == 0x7f)
			return false;
	return true;
}

static bool
keyword_valid(const char *kw)
{
	size_t n = strnlen(kw, KEYWORD_LEN_MAX + 1);
	if (n == 0 || n > KEYWORD_LEN_MAX || kw[0] == '\\')
		return false;
	for (; *kw; kw++) {
		unsigned char c = (unsigned char)*kw;
		/* an IMAP atom (RFC 9051 atom-specials, and "]") */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* ---- folders and locks ---- */

static void
folder_init(struct folder *f)
{
	f->dfd = f->curfd = f->newfd = f->tmpfd = f->lockfd = -1;
	f->ms = NULL;
	f->dotlocked = false;
	f->name[0] = '\0';
}

static void dotlock_release(struct folder *f);

static void
folder_close(struct folder *f)
{
	dotlock_release(f);
	int *fds[] = {&f->dfd, &f->curfd, &f->newfd, &f->tmpfd, &f->lockfd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

/* cur/, new/ or tmp/ of an open folder, made again if missing (as Dovecot
 * does) so a half-created folder heals instead of failing forever. */
static int
open_subdir(int dfd, const char *sub)
{
	int fd = openat(dfd, sub,
	                O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dfd, sub, 0700) < 0 && errno != EEXIST)
			return -1;
		fd = openat(dfd, sub,
		            O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd;
}

static enum mail_result
folder_open(struct mailstore *ms, const char *norm, struct folder *f, char *err,
            size_t errlen)
{
	char dir[FNAME_MAX + 1];
	folder_init(f);
	if (!dir_of(norm, dir))
		return say(err, errlen, MAIL_NONEXISTENT,
		           "Mailbox doesn't exist");
	strcpy(f->name, norm);
	f->ms = ms;
	/* A folder may be a symlink an administrator made; its insides
	 * (cur, new, tmp, files) may not. */
	f->dfd = openat(ms->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return say(err, errlen, MAIL_NONEXISTENT,
			           "Mailbox doesn't exist");
		return sys_error(err, errlen, "open", norm);
	}
	if ((f->curfd = open_subdir(f->dfd, "cur")) < 0 ||
	    (f->newfd = open_subdir(f->dfd, "new")) < 0 ||
	    (f->tmpfd = open_subdir(f->dfd, "tmp")) < 0) {
		enum mail_result r = sys_error(err, errlen, "open", norm);
		folder_close(f);
		return r;
	}
	return MAIL_OK;
}

static enum mail_result
lock_at(int dfd, const char *name, int *fdp, char *err, size_t errlen)
{
	if (*fdp < 0) {
		*fdp = openat(dfd, name,
		              O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (*fdp < 0)
			return sys_error(err, errlen, "open", name);
	}
	/* Polled, not blocking, so a stuck holder costs a NO, not a
	 * worker thread forever. */
	for (int waited = 0;; waited += LOCK_POLL_MS) {
		if (flock(*fdp, LOCK_EX | LOCK_NB) == 0)
			return MAIL_OK;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return sys_error(err, errlen, "lock", name);
		if (waited >= LOCK_TIMEOUT_MS)
			return say(err, errlen, MAIL_NO,
			           "Mailbox is locked, try again later");
		struct timespec ts = {0, LOCK_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static enum mail_result
folder_lock(struct folder *f, char *err, size_t errlen)
{
	return lock_at(f->dfd, FOLDER_LOCK, &f->lockfd, err, errlen);
}

/*
 * Dovecot's rules for its dotlock (lib/file-dotlock.c): made by link(),
 * holding "pid:host"; stale when that process is gone (same host), or when
 * neither the lock nor the uidlist has changed for DOTLOCK_STALE_SEC. sb
 * is the lock's lstat. Unlike Dovecot, which skips the pid check for a
 * lock younger than 2 s as an optimisation, we check it at once: a server
 * killed while holding the lock must not stall the next writer, and an
 * empty or half-written lock (Dovecot's O_EXCL method) never reads as
 * dead.
 */
static bool
dotlock_stale(struct folder *f, const struct stat *sb)
{
	time_t now = time(NULL);
	char buf[HOST_MAX + 32];
	int fd = openat(f->dfd, UIDLIST_DOTLOCK,
	                O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		char *host = strchr(buf, ':'), *end;
		long pid = strtol(buf, &end, 10);
		if (host != NULL && end == host && pid > 0 &&
		    strcmp(host + 1, f->ms->rawhost) == 0) {
			/* our own pid: left behind by this process, since
			 * we hold the flock every taker in it takes first */
			if (pid == (long)getpid())
				return true;
			if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
				return true;
			return false; /* alive */
		}
	}
	time_t last = sb->st_ctime;
	if (sb->st_mtime > last && sb->st_mtime <= now)
		last = sb->st_mtime;
	struct stat ul;
	if (fstatat(f->dfd, UIDLIST_FILE, &ul, 0) == 0) {
		if (ul.st_ctime > last)
			last = ul.st_ctime;
		if (ul.st_mtime > last && ul.st_mtime <= now)
			last = ul.st_mtime;
	}
	return now > last + DOTLOCK_STALE_SEC;
}

/* Writes "pid:host" to a new file in tmp/, to be linked into place: a
 * dotlock then never exists without its owner's pid, not even when we are
 * killed while making it (Dovecot's default method too). Its name has no
 * leading dot so that clean_tmp() removes one a kill left behind. */
static int
dotlock_prepare(struct folder *f, char *name, size_t namelen, struct stat *sb)
{
	char text[HOST_MAX + 32];
	int len = snprintf(text, sizeof(text), "%ld:%s", (long)getpid(),
	                   f->ms->rawhost);
	snprintf(name, namelen, "imapcid-dotlock.%ld.%lu", (long)getpid(),
	         atomic_fetch_add(&name_counter, 1) + 1);
	int fd = openat(f->tmpfd, name,
	                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	                0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, text, (size_t)len) < 0 || fstat(fd, sb) < 0) {
		int e = errno;
		close(fd);
		unlinkat(f->tmpfd, name, 0);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* Takes Dovecot's dotlock, waiting (polled) up to LOCK_TIMEOUT_MS. Where
 * we may not create it (a read-only folder) we can't write the uidlist
 * either, so going on without it is safe. On a full disk we go on without
 * it too (our flock still holds): otherwise every SELECT and EXPUNGE would
 * fail and the user could not read mail until space is freed, and a full
 * disk limits us to in-place writes anyway. */
static bool
dotlock_skippable(int e)
{
	return e == EACCES || e == EROFS || e == EPERM || e == ENOSPC ||
	       e == EDQUOT;
}

static enum mail_result
dotlock_take(struct folder *f, char *err, size_t errlen)
{
	char tmp[FNAME_MAX + 1];
	struct stat mine;
	enum mail_result r = MAIL_OK;
	if (dotlock_prepare(f, tmp, sizeof(tmp), &mine) < 0) {
		if (dotlock_skippable(errno))
			return MAIL_OK;
		return sys_error(err, errlen, "create", UIDLIST_DOTLOCK);
	}
	for (int waited = 0;; waited += LOCK_POLL_MS) {
		if (linkat(f->tmpfd, tmp, f->dfd, UIDLIST_DOTLOCK, 0) == 0) {
			f->dotlocked = true;
			f->dl_dev = mine.st_dev;
			f->dl_ino = mine.st_ino;
			break;
		}
		if (dotlock_skippable(errno))
			break; /* read-only or full: see above */
		if (errno != EEXIST) {
			r = sys_error(err, errlen, "link", UIDLIST_DOTLOCK);
			break;
		}
		struct stat sb, again;
		if (fstatat(f->dfd, UIDLIST_DOTLOCK, &sb, AT_SYMLINK_NOFOLLOW) <
		    0)
			continue; /* just removed: try at once */
		if (dotlock_stale(f, &sb) &&
		    fstatat(f->dfd, UIDLIST_DOTLOCK, &again,
		            AT_SYMLINK_NOFOLLOW) == 0 &&
		    again.st_ino == sb.st_ino && again.st_dev == sb.st_dev &&
		    again.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
		    again.st_mtim.tv_nsec == sb.st_mtim.tv_nsec) {
			log_warn("maildir %s: overriding a stale %s", f->name,
			         UIDLIST_DOTLOCK);
			unlinkat(f->dfd, UIDLIST_DOTLOCK, 0);
		}
		if (waited >= LOCK_TIMEOUT_MS) {
			r = say(err, errlen, MAIL_NO,
			        "Mailbox is locked, try again later");
			break;
		}
		struct timespec ts = {0, LOCK_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	unlinkat(f->tmpfd, tmp, 0);
	return r;
}

/* Removes our dotlock, unless someone took it for stale meanwhile (then
 * it is theirs now). */
static void
dotlock_release(struct folder *f)
{
	struct stat sb;
	if (!f->dotlocked)
		return;
	f->dotlocked = false;
	if (fstatat(f->dfd, UIDLIST_DOTLOCK, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sb.st_dev == f->dl_dev && sb.st_ino == f->dl_ino)
		unlinkat(f->dfd, UIDLIST_DOTLOCK, 0);
	else
		log_warn("maildir %s: our %s was overridden", f->name,
		         UIDLIST_DOTLOCK);
}

/* The folder lock plus Dovecot's dotlock: for whoever reads the uidlist
 * to write it back. */
static enum mail_result
folder_lock_uidlist(struct folder *f, char *err, size_t errlen)
{
	enum mail_result r = folder_lock(f, err, errlen);
	if (r != MAIL_OK)
		return r;
	if ((r = dotlock_take(f, err, errlen)) != MAIL_OK)
		flock(f->lockfd, LOCK_UN);
	return r;
}

static void
folder_unlock(struct folder *f)
{
	dotlock_release(f);
	if (f->lockfd >= 0)
		flock(f->lockfd, LOCK_UN);
}

/* ---- keywords (dovecot-keywords) ---- */

static void
kw_clear(struct ulstate *st)
{
	for (size_t i = 0; i < MAIL_KEYWORDS_MAX; i++) {
		free(st->kw[i]);
		st->kw[i] = NULL;
	}
	st->nkw = 0;
}

/* Only the names before the first unnamed letter count (a file from
 * elsewhere may skip one), so the list the session sees has no holes. */
static void
kw_count(struct ulstate *st)
{
	st->nkw = 0;
	while (st->nkw < MAIL_KEYWORDS_MAX && st->kw[st->nkw] != NULL)
		st->nkw++;
}

static uint32_t
kw_defined(const struct ulstate *st)
{
	return st->nkw >= 32 ? UINT32_MAX : (1u << st->nkw) - 1;
}

static int
kw_find(const struct ulstate *st, const char *kw)
{
	for (size_t i = 0; i < st->nkw; i++)
		if (strcasecmp(st->kw[i], kw) == 0)
			return (int)i;
	return -1;
}

static enum mail_result
kw_load(struct folder *f, struct ulstate *st, bool force, char *err,
        size_t errlen)
{
	struct timespec now;
	struct stat sb;
	clock_gettime(CLOCK_REALTIME, &now);
	if (fstatat(f->dfd, KEYWORDS_FILE, &sb, 0) < 0) {
		if (errno != ENOENT)
			return sys_error(err, errlen, "stat", KEYWORDS_FILE);
		kw_clear(st);
		st->kwst.exists = false;
		return MAIL_OK;
	}
	if (!force && st->kwst.settled && stamp_same(&st->kwst, &sb))
		return MAIL_OK;
	char *data;
	size_t len;
	if (read_file_at(f->dfd, KEYWORDS_FILE, &data, &len, &sb) < 0) {
		if (errno == ENOENT) {
			kw_clear(st);
			st->kwst.exists = false;
			return MAIL_OK;
		}
		return sys_error(err, errlen, "read", KEYWORDS_FILE);
	}
	char *kw[MAIL_KEYWORDS_MAX] = {NULL};
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end;
		errno = 0;
		unsigned long idx = strtoul(line, &end, 10);
		if (end == line || *end != ' ' || errno != 0 ||
		    idx >= MAIL_KEYWORDS_MAX || kw[idx] != NULL ||
		    !keyword_valid(end + 1))
			continue; /* not ours to repair; the letter stays
				   * unnamed */
		kw[idx] = end + 1;
	}
	/* Unchanged names keep their strings: the session may hold on to
	 * what mailbox_keywords() returned. */
	for (size_t i = 0; i < MAIL_KEYWORDS_MAX; i++) {
		if (kw[i] == NULL) {
			free(st->kw[i]);
			st->kw[i] = NULL;
			continue;
		}
		if (st->kw[i] != NULL && strcmp(st->kw[i], kw[i]) == 0)
			continue;
		char *c = strdup(kw[i]);
		if (c == NULL) {
			free(data);
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		}
		free(st->kw[i]);
		st->kw[i] = c;
	}
	free(data);
	kw_count(st);
	stamp_take(&st->kwst, &sb, &now);
	return MAIL_OK;
}

/* Index of kw, added to the folder's list if missing and there is room
 * (-1 if not). Called with the folder locked. */
static enum mail_result
kw_add_locked(struct folder *f, struct ulstate *st, const char *kw, int *idx,
              char *err, size_t errlen)
{
	enum mail_result r = kw_load(f, st, true, err, errlen);
	if (r != MAIL_OK)
		return r;
	if ((*idx = kw_find(st, kw)) >= 0)
		return MAIL_OK;
	size_t i = 0;
	while (i < MAIL_KEYWORDS_MAX && st->kw[i] != NULL)
		i++;
	if (i == MAIL_KEYWORDS_MAX)
		return MAIL_OK;
	if ((st->kw[i] = strdup(kw)) == NULL)
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	struct buf b = BUF_INIT;
	bool ok = true;
	for (size_t j = 0; j < MAIL_KEYWORDS_MAX; j++)
		if (st->kw[j] != NULL)
			ok = ok && buf_printf(&b, "%zu %s\n", j, st->kw[j]);
	r = ok ? replace_file(f->dfd, KEYWORDS_TMP, KEYWORDS_FILE, buf_head(&b),
	                      buf_used(&b), err, errlen)
	       : say(err, errlen, MAIL_ERROR, "Out of memory");
	buf_free(&b);
	if (r != MAIL_OK) {
		free(st->kw[i]);
		st->kw[i] = NULL;
		return r;
	}
	kw_count(st);
	st->kwst.settled = false; /* read it again at the next sync */
	*idx = (int)i;
	return MAIL_OK;
}

/* ---- file names: flags, sizes, unique bases ---- */

static const char *
info_of(const char *fname)
{
	const char *p = strchr(fname, ':');
	if (p != NULL && p[1] == '2' && p[2] == ',')
		return p + 3;
	return NULL;
}

static void
info_parse(const char *fname, uint32_t defined, uint32_t *flags, uint32_t *kw)
{
	const char *i = info_of(fname);
	*flags = 0;
	*kw = 0;
	for (; i != NULL && *i != '\0'; i++) {
		switch (*i) {
		case 'D':
			*flags |= MAIL_DRAFT;
			break;
		case 'F':
			*flags |= MAIL_FLAGGED;
			break;
		case 'R':
			*flags |= MAIL_ANSWERED;
			break;
		case 'S':
			*flags |= MAIL_SEEN;
			break;
		case 'T':
			*flags |= MAIL_DELETED;
			break;
		default:
			if (*i >= 'a' && *i <= 'z')
				*kw |= (1u << (*i - 'a')) & defined;
		}
	}
}

static bool
has_letter(const char *fname, char c)
{
	const char *i = info_of(fname);
	return i != NULL && strchr(i, c) != NULL;
}

/* "<base>:2,<flags>" into out. Letters we don't know (another program's
 * flags, keyword letters without a name) are kept. */
static bool
name_with_flags(char *out, size_t outlen, const char *fname, size_t baselen,
                uint32_t defined, uint32_t flags, uint32_t kw)
{
	bool set[128] = {false};
	const char *old = info_of(fname);
	for (; old != NULL && *old != '\0'; old++) {
		unsigned char c = (unsigned char)*old;
		bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		if (!letter || strchr("DFRST", c) != NULL ||
		    (c >= 'a' && (defined & (1u << (c - 'a')))))
			continue;
		set[c] = true;
	}
	set['D'] = flags & MAIL_DRAFT;
	set['F'] = flags & MAIL_FLAGGED;
	set['R'] = flags & MAIL_ANSWERED;
	set['S'] = flags & MAIL_SEEN;
	set['T'] = flags & MAIL_DELETED;
	for (int i = 0; i < MAIL_KEYWORDS_MAX; i++)
		if (kw & (1u << i))
			set['a' + i] = true;
	if (baselen + 3 >= outlen)
		return false;
	memcpy(out, fname, baselen);
	memcpy(out + baselen, ":2,", 3);
	size_t n = baselen + 3;
	for (int c = 0; c < 128; c++)
		if (set[c]) {
			if (n + 1 >= outlen)
				return false;
			out[n++] = (char)c;
		}
	out[n] = '\0';
	return n <= FNAME_MAX;
}

/* ",<key>=<n>" in the base: W is the size with CRLF line ends, S the
 * file's, both written by us and by Dovecot, so most messages never need
 * reading. */
static bool
base_size(const char *fname, size_t baselen, char key, uint64_t *v)
{
	for (size_t i = 0; i + 3 < baselen; i++) {
		if (fname[i] != ',' || fname[i + 1] != key ||
		    fname[i + 2] != '=')
			continue;
		size_t j = i + 3;
		uint64_t x = 0;
		if (j >= baselen || fname[j] < '0' || fname[j] > '9')
			continue;
		while (j < baselen && fname[j] >= '0' && fname[j] <= '9') {
			if (x > (UINT64_MAX - 9) / 10)
				return false;
			x = x * 10 + (uint64_t)(fname[j++] - '0');
		}
		if (j < baselen && fname[j] != ',')
			continue;
		*v = x;
		return true;
	}
	return false;
}

/* "<sec>.M<usec>P<pid>Q<n>.<host>", as Dovecot makes them. */
static void
unique_base(const struct mailstore *ms, char *out, size_t outlen)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long q = atomic_fetch_add(&name_counter, 1) + 1;
	snprintf(out, outlen, "%lld.M%06ldP%ldQ%lu.%s", (long long)ts.tv_sec,
	         ts.tv_nsec / 1000, (long)getpid(), q, ms->host);
}

/* ---- name pools (struct npool) ---- */

/* Chunks start small (a 100-message folder's names fit in two) and
 * double up to NCHUNK_MAX, so a 100,000-message folder needs a few dozen
 * allocations, not 100,000. */
#define NCHUNK_MIN 4096
#define NCHUNK_MAX (256 * 1024)

/* A copy of s[0 .. n - 1] and a NUL in the pool; NULL if out of memory. */
static char *
npool_dup(struct npool *p, const char *s, size_t n)
{
	struct nchunk *c = p->head;
	if (c == NULL || c->cap - c->used < n + 1) {
		size_t cap = c == NULL ? NCHUNK_MIN : c->cap * 2;
		if (cap > NCHUNK_MAX)
			cap = NCHUNK_MAX;
		if (cap < n + 1)
			cap = n + 1;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = p->head;
		c->used = 0;
		c->cap = cap;
		p->head = c;
	}
	char *out = c->data + c->used;
	memcpy(out, s, n);
	out[n] = '\0';
	c->used += n + 1;
	return out;
}

static void
npool_free(struct npool *p)
{
	while (p->head != NULL) {
		struct nchunk *c = p->head;
		p->head = c->next;
		free(c);
	}
}

/* Hands every chunk of from to to (whose records now point into them);
 * to keeps filling its own newest chunk. */
static void
npool_move(struct npool *to, struct npool *from)
{
	struct nchunk *last = from->head;
	if (last == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	if (to->head == NULL) {
		to->head = from->head;
	} else {
		last->next = to->head->next;
		to->head->next = from->head;
	}
	from->head = NULL;
}

/* ---- directory scans ---- */

struct sent {
	char *name; /* in the scan's pool */
	uint32_t baselen;
	bool in_new, used;
	bool taken; /* name given to a rec */
};

/* The files of cur/ and new/, indexed by base name (open addressing), so a
 * sync is one pass over the directory and one over the uidlist. */
struct scan {
	struct npool names; /* of e[].name: the records' pool after a sync */
	struct sent *e;
	size_t n, cap;
	uint32_t *slot; /* index + 1; 0 is empty */
	size_t mask;
};

static uint64_t
hash_mem(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static void
scan_free(struct scan *s)
{
	npool_free(&s->names);
	free(s->e);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/*
 * Reading a directory without opendir(): glibc's DIR carries a 32 KiB
 * buffer on the heap, and a login plus SELECT reads four directories, so
 * the allocator showed in profiles. getdents64() into a buffer on the
 * stack does the same with no allocation. The reader owns fd.
 */
#define DIRRD_BUF 8192

struct dirrd {
	int fd;
	size_t pos, len;
	bool failed; /* getdents64() failed: errno says why */
	_Alignas(struct dirent64) char buf[DIRRD_BUF];
};

static void
dirrd_init(struct dirrd *d, int fd)
{
	d->fd = fd;
	d->pos = d->len = 0;
	d->failed = false;
}

/* The next entry, or NULL at the end (or on an error: d->failed). */
static const struct dirent64 *
dirrd_next(struct dirrd *d)
{
	if (d->pos >= d->len) {
		ssize_t n = getdents64(d->fd, d->buf, sizeof(d->buf));
		if (n <= 0) {
			d->failed = n < 0;
			return NULL;
		}
		d->pos = 0;
		d->len = (size_t)n;
	}
	const struct dirent64 *de = (const struct dirent64 *)(d->buf + d->pos);
	d->pos += de->d_reclen;
	return de;
}

static void
dirrd_close(struct dirrd *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static enum mail_result
scan_dir(int dirfd, bool in_new, struct scan *s, char *err, size_t errlen)
{
	/* a fresh open: a dup() would share the offset of an earlier scan */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_error(err, errlen, "opendir",
		                 in_new ? "new" : "cur");
	struct dirrd d;
	dirrd_init(&d, fd);
	for (;;) {
		const struct dirent64 *de = dirrd_next(&d);
		if (de == NULL) {
			if (d.failed) {
				enum mail_result r = sys_error(
				        err, errlen, "readdir", "cur/new");
				dirrd_close(&d);
				return r;
			}
			break;
		}
		if (!fname_ok(de->d_name))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat sb;
			if (fstatat(dirfd, de->d_name, &sb,
			            AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
		} else if (de->d_type != DT_REG) {
			continue;
		}
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			struct sent *e = realloc(s->e, cap * sizeof(*e));
			if (e == NULL) {
				dirrd_close(&d);
				return say(err, errlen, MAIL_ERROR,
				           "Out of memory");
			}
			s->e = e;
			s->cap = cap;
		}
		struct sent *e = &s->e[s->n];
		if ((e->name = npool_dup(&s->names, de->d_name,
		                         strlen(de->d_name))) == NULL) {
			dirrd_close(&d);
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		}
		e->baselen = (uint32_t)strcspn(e->name, ":");
		e->in_new = in_new;
		e->used = e->taken = false;
		s->n++;
	}
	dirrd_close(&d);
	return MAIL_OK;
}

static struct sent *
scan_find(const struct scan *s, const char *base, size_t len)
{
	if (s->slot == NULL)
		return NULL;
	for (size_t h = hash_mem(base, len) & s->mask;; h = (h + 1) & s->mask) {
		uint32_t v = s->slot[h];
		if (v == 0)
			return NULL;
		struct sent *e = &s->e[v - 1];
		if (e->baselen == len && memcmp(e->name, base, len) == 0)
			return e;
	}
}

static enum mail_result
scan_index(struct scan *s, char *err, size_t errlen)
{
	size_t size = 16;
	while (size < s->n * 2)
		size *= 2;
	if ((s->slot = calloc(size, sizeof(*s->slot))) == NULL)
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	s->mask = size - 1;
	for (size_t i = 0; i < s->n; i++) {
		struct sent *e = &s->e[i];
		size_t h = hash_mem(e->name, e->baselen) & s->mask;
		for (;; h = (h + 1) & s->mask) {
			uint32_t v = s->slot[h];
			if (v == 0) {
				s->slot[h] = (uint32_t)i + 1;
				break;
			}
			struct sent *o = &s->e[v - 1];
			if (o->baselen != e->baselen ||
			    memcmp(o->name, e->name, e->baselen) != 0)
				continue;
			/* One message under two names: caught between new/
			 * and cur/ (cur/ is newer), or copied by hand. The
			 * loser is left alone, never given a UID. */
			if (o->in_new && !e->in_new) {
				o->used = true;
				s->slot[h] = (uint32_t)i + 1;
			} else {
				e->used = true;
			}
			break;
		}
	}
	return MAIL_OK;
}

/* new/ before cur/: a file moving from new/ to cur/ meanwhile is then
 * seen at least once. */
static enum mail_result
scan_folder(struct folder *f, struct scan *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	enum mail_result r = scan_dir(f->newfd, true, s, err, errlen);
	if (r == MAIL_OK)
		r = scan_dir(f->curfd, false, s, err, errlen);
	if (r == MAIL_OK)
		r = scan_index(s, err, errlen);
	if (r != MAIL_OK)
		scan_free(s);
	return r;
}

/* ---- the uidlist ---- */

struct ulfile {
	uint32_t uidvalidity, uidnext, recent_uid;
	bool has_recent, recent_fixed, tail_ok;
	off_t recent_off;
	char *hdr_ext;
	struct rec *recs;
	struct npool names; /* of recs[].fname */
	size_t n, cap;
};

/* The names stay: they are in the pool of whoever held the records. */
static void
recs_free(struct rec *r, size_t n)
{
	for (size_t i = 0; r != NULL && i < n; i++)
		free(r[i].ext);
	free(r);
}

static void
ulfile_free(struct ulfile *u)
{
	recs_free(u->recs, u->n);
	npool_free(&u->names);
	free(u->hdr_ext);
	memset(u, 0, sizeof(*u));
}

static bool
parse_u32(const char **pp, const char *end, uint32_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		x = x * 10 + (uint64_t)(*p++ - '0');
		if (x > UINT32_MAX)
			return false;
	}
	*v = (uint32_t)x;
	*pp = p;
	return true;
}

static bool
parse_u64(const char **pp, const char *end, uint64_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*p++ - '0');
	}
	*v = x;
	*pp = p;
	return true;
}

static bool
append_word(char **s, const char *w, size_t n)
{
	size_t old = *s ? strlen(*s) : 0;
	char *p = realloc(*s, old + n + 2);
	if (p == NULL)
		return false;
	if (old > 0)
		p[old++] = ' ';
	memcpy(p + old, w, n);
	p[old + n] = '\0';
	*s = p;
	return true;
}

/* The first line: "3 V<uidvalidity> N<uidnext> [R<recent>] ..." (or the
 * old "1 <uidvalidity> <uidnext>"). Returns the version, 0 if unusable. */
static int
ul_parse_header(const char *line, const char *end, struct ulfile *u)
{
	const char *p = line;
	if (end - p >= 2 && p[0] == '1' && p[1] == ' ') {
		p += 2;
		if (!parse_u32(&p, end, &u->uidvalidity) || p >= end ||
		    *p++ != ' ' || !parse_u32(&p, end, &u->uidnext) ||
		    p != end || u->uidvalidity == 0)
			return 0;
		return 1;
	}
	if (end - p < 1 || p[0] != '3' || (end - p > 1 && p[1] != ' '))
		return 0;
	p++;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		const char *w = p;
		while (p < end && *p != ' ')
			p++;
		if (p == w)
			break;
		const char *v = w + 1;
		switch (*w) {
		case 'V':
			if (!parse_u32(&v, p, &u->uidvalidity) || v != p)
				return 0;
			break;
		case 'N':
			if (!parse_u32(&v, p, &u->uidnext) || v != p)
				return 0;
			break;
		case 'R':
			if (!parse_u32(&v, p, &u->recent_uid) || v != p)
				return 0;
			u->has_recent = true;
			u->recent_fixed = p - w == 11;
			u->recent_off = w + 1 - line;
			break;
		default:
			if (!append_word(&u->hdr_ext, w, (size_t)(p - w)))
				return 0;
		}
	}
	return u->uidvalidity != 0 ? 3 : 0;
}

static struct rec *
ul_push(struct ulfile *u)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		struct rec *r = realloc(u->recs, cap * sizeof(*r));
		if (r == NULL)
			return NULL;
		u->recs = r;
		u->cap = cap;
	}
	struct rec *r = &u->recs[u->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* One record: "<uid> [W<size>] [other fields] :<file name>" (v3) or
 * "<uid> <file name>" (v1). False if the line makes no sense. */
static bool
ul_parse_rec(const char *p, const char *end, int version, struct ulfile *u,
             uint32_t *last)
{
	uint32_t uid;
	uint64_t size = 0;
	bool size_known = false;
	char *ext = NULL;
	if (!parse_u32(&p, end, &uid) || uid <= *last || p >= end || *p != ' ')
		return false;
	if (version == 1) {
		p++;
	} else {
		for (;;) {
			while (p < end && *p == ' ')
				p++;
			if (p >= end) {
				free(ext);
				return false;
			}
			if (*p == ':') {
				p++;
				break;
			}
			const char *w = p;
			while (p < end && *p != ' ')
				p++;
			const char *v = w + 1;
			if (*w == 'W' && parse_u64(&v, p, &size) && v == p) {
				size_known = true;
			} else if (!append_word(&ext, w, (size_t)(p - w))) {
				free(ext);
				return false;
			}
		}
	}
	size_t baselen = 0;
	while (p + baselen < end && p[baselen] != ':')
		baselen++;
	char *base = baselen > 0 ? npool_dup(&u->names, p, baselen) : NULL;
	struct rec *r =
	        base != NULL && fname_ok(base) && strchr(base, '/') == NULL
	                ? ul_push(u)
	                : NULL;
	if (r == NULL) {
		free(ext);
		return false;
	}
	r->msg.uid = uid;
	r->msg.size = size;
	r->size_known = size_known;
	r->fname = base;
	r->baselen = (uint32_t)baselen;
	r->ext = ext;
	*last = uid;
	return true;
}

/* Reads the uidlist. *exists is false if there is none; *corrupt if it
 * can't be trusted (then the folder is renumbered under a new
 * UIDVALIDITY, which is what UIDVALIDITY is for). */
static enum mail_result
ul_read(struct folder *f, struct ulfile *u, struct stat *sb, bool *exists,
        bool *corrupt, char *err, size_t errlen)
{
	char *data;
	size_t len;
	memset(u, 0, sizeof(*u));
	*exists = false;
	*corrupt = false;
	if (read_file_at(f->dfd, UIDLIST_FILE, &data, &len, sb) < 0) {
		if (errno == ENOENT)
			return MAIL_OK;
		return sys_error(err, errlen, "read", UIDLIST_FILE);
	}
	*exists = true;
	const char *end = data + len;
	const char *nl = memchr(data, '\n', len);
	int version = nl != NULL ? ul_parse_header(data, nl, u) : 0;
	if (version == 0) {
		*corrupt = true;
		goto out;
	}
	u->tail_ok = true;
	uint32_t last = 0;
	for (const char *p = nl + 1; p < end;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			/* a write cut short: ignored, and the file is
			 * rewritten rather than appended to */
			u->tail_ok = false;
			break;
		}
		if (nl > p && !ul_parse_rec(p, nl, version, u, &last)) {
			*corrupt = true;
			goto out;
		}
		p = nl + 1;
	}
	if (u->uidnext <= last)
		u->uidnext = last + 1;
	if (u->uidnext == 0)
		u->uidnext = 1;
	if (version != 3)
		u->tail_ok = false; /* rewrite it in our format */
out:
	free(data);
	if (*corrupt)
		ulfile_free(u);
	return MAIL_OK;
}

static bool
ul_format_rec(struct buf *b, uint32_t uid, bool size_known, uint64_t size,
              const char *ext, const char *base, size_t baselen)
{
	return buf_printf(b, "%" PRIu32, uid) &&
	       (!size_known || buf_printf(b, " W%" PRIu64, size)) &&
	       (ext == NULL || buf_printf(b, " %s", ext)) &&
	       buf_append(b, " :", 2) && buf_append(b, base, baselen) &&
	       buf_append(b, "\n", 1);
}

/* Rewrites the uidlist (temp file, fsync, rename); R is fixed-width so a
 * later change of it alone is one pwrite. */
static enum mail_result
ul_write(struct folder *f, const struct ulfile *h, uint32_t recent_uid,
         const struct rec *recs, size_t n, off_t *recent_off, char *err,
         size_t errlen)
{
	struct buf b = BUF_INIT;
	bool ok = buf_printf(&b, "3 V%" PRIu32 " N%" PRIu32 " R",
	                     h->uidvalidity, h->uidnext);
	*recent_off = (off_t)buf_used(&b);
	ok = ok && buf_printf(&b, "%010" PRIu32, recent_uid) &&
	     (h->hdr_ext == NULL || buf_printf(&b, " %s", h->hdr_ext)) &&
	     buf_append(&b, "\n", 1);
	for (size_t i = 0; ok && i < n; i++)
		ok = ul_format_rec(&b, recs[i].msg.uid,
		                   recs[i].size_known && !recs[i].gone,
		                   recs[i].msg.size, recs[i].ext, recs[i].fname,
		                   recs[i].baselen);
	enum mail_result r =
	        ok ? replace_file(f->dfd, UIDLIST_TMP, UIDLIST_FILE,
	                          buf_head(&b), buf_used(&b), err, errlen)
	           : say(err, errlen, MAIL_ERROR, "Out of memory");
	buf_free(&b);
	return r;
}

/* Appends records; a failed write is cut back off so the file never ends
 * in half a line we wrote. */
static enum mail_result
ul_append(struct folder *f, const struct buf *b, char *err, size_t errlen)
{
	enum mail_result r;
	struct stat sb;
	int fd = openat(f->dfd, UIDLIST_FILE,
	                O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sys_error(err, errlen, "open", UIDLIST_FILE);
	if (fstat(fd, &sb) < 0) {
		r = sys_error(err, errlen, "stat", UIDLIST_FILE);
		close(fd);
		return r;
	}
	if (write_all(fd, buf_head(b), buf_used(b)) < 0 || fsync(fd) < 0) {
		r = sys_error(err, errlen, "write", UIDLIST_FILE);
		if (ftruncate(fd, sb.st_size) == 0)
			fsync(fd);
		close(fd);
		return r;
	}
	if (close_checked(fd) < 0)
		return sys_error(err, errlen, "close", UIDLIST_FILE);
	return MAIL_OK;
}

/* \Recent is advisory: a lost update only shows messages as recent once
 * more, so no fsync. */
static void
ul_set_recent(struct folder *f, off_t off, uint32_t recent_uid)
{
	char digits[16];
	snprintf(digits, sizeof(digits), "%010" PRIu32, recent_uid);
	int fd =
	        openat(f->dfd, UIDLIST_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || pwrite(fd, digits, 10, off) != 10)
		log_warn("maildir %s: can't update \\Recent: %s", f->name,
		         strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* UIDVALIDITY and the next UID from the first and last lines only, so an
 * APPEND to a big folder doesn't read its whole uidlist. *usable is false
 * if the file is missing or needs a full sync first. */
static enum mail_result
ul_peek(struct folder *f, uint32_t *uidvalidity, uint32_t *next, bool *usable,
        char *err, size_t errlen)
{
	char buf[PEEK_LEN];
	struct stat sb;
	struct ulfile u;
	enum mail_result r = MAIL_OK;
	*usable = false;
	int fd =
	        openat(f->dfd, UIDLIST_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT
		               ? MAIL_OK
		               : sys_error(err, errlen, "open", UIDLIST_FILE);
	memset(&u, 0, sizeof(u));
	if (fstat(fd, &sb) < 0) {
		r = sys_error(err, errlen, "stat", UIDLIST_FILE);
		goto out;
	}
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		r = sys_error(err, errlen, "read", UIDLIST_FILE);
		goto out;
	}
	const char *nl = memchr(buf, '\n', (size_t)n);
	if (nl == NULL || ul_parse_header(buf, nl, &u) != 3)
		goto out;
	off_t hdrlen = nl - buf + 1;
	uint32_t last = 0;
	if (sb.st_size > hdrlen) {
		off_t from = sb.st_size > PEEK_LEN ? sb.st_size - PEEK_LEN : 0;
		n = pread(fd, buf, sizeof(buf), from);
		if (n <= 0 || from + n != sb.st_size || buf[n - 1] != '\n')
			goto out;
		ssize_t s = n - 1;
		while (s > 0 && buf[s - 1] != '\n')
			s--;
		if (s == 0 && from > 0)
			goto out; /* a line longer than we looked at */
		if (from + s >= hdrlen) {
			const char *p = buf + s;
			if (!parse_u32(&p, buf + n, &last))
				goto out;
		}
	}
	*uidvalidity = u.uidvalidity;
	*next = u.uidnext > last ? u.uidnext : last + 1;
	*usable = *next != 0;
out:
	ulfile_free(&u);
	close(fd);
	return r;
}

/* ---- UIDVALIDITY ---- */

/* A new UIDVALIDITY: the time, but always above the last one this store
 * gave out, so a folder deleted and made again within a second (or after
 * the clock went back) never repeats one. */
static uint32_t
store_next_uidvalidity(struct mailstore *ms)
{
	uint32_t v = (uint32_t)time(NULL);
	int lfd = -1;
	if (lock_at(ms->rootfd, STORE_LOCK, &lfd, NULL, 0) != MAIL_OK) {
		if (lfd >= 0)
			close(lfd);
		return v;
	}
	char *data;
	size_t len;
	if (read_file_at(ms->rootfd, UIDVALIDITY_FILE, &data, &len, NULL) ==
	    0) {
		unsigned long last = strtoul(data, NULL, 10);
		if (last >= v && last < UINT32_MAX)
			v = (uint32_t)last + 1;
		free(data);
	}
	if (v == 0)
		v = 1;
	char line[16];
	int n = snprintf(line, sizeof(line), "%" PRIu32 "\n", v);
	if (replace_file(ms->rootfd, UIDVALIDITY_TMP, UIDVALIDITY_FILE, line,
	                 (size_t)n, NULL, 0) != MAIL_OK)
		log_warn("maildir: can't record UIDVALIDITY %" PRIu32, v);
	close(lfd);
	return v;
}

/* ---- the journal of a multi-message COPY/MOVE ---- */

/* Removes the message with this base from a folder (the source of an
 * interrupted MOVE). */
static enum mail_result
remove_by_base(struct mailstore *ms, const char *name, const char *base,
               char *err, size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1];
	struct folder sf;
	struct scan s;
	if (!norm_name(name, norm))
		return MAIL_OK;
	enum mail_result r = folder_open(ms, norm, &sf, err, errlen);
	if (r == MAIL_NONEXISTENT)
		return MAIL_OK;
	if (r != MAIL_OK)
		return r;
	if ((r = scan_folder(&sf, &s, err, errlen)) == MAIL_OK) {
		struct sent *e = scan_find(&s, base, strlen(base));
		if (e != NULL) {
			int dir = e->in_new ? sf.newfd : sf.curfd;
			if (unlinkat(dir, e->name, 0) < 0 && errno != ENOENT)
				r = sys_error(err, errlen, "unlink", base);
			else if (fsync(dir) < 0)
				r = sys_error(err, errlen, "fsync", name);
		}
		scan_free(&s);
	}
	folder_close(&sf);
	return r;
}

/* Finishes a committed COPY/MOVE: renames what is still in tmp/, removes
 * what a MOVE left in its source. Redoing a step is harmless. */
static enum mail_result
journal_recover(struct mailstore *ms, struct folder *f, char *err,
                size_t errlen)
{
	char *data;
	size_t len;
	enum mail_result r = MAIL_OK;
	if (read_file_at(f->dfd, JOURNAL_FILE, &data, &len, NULL) < 0)
		return errno == ENOENT
		               ? MAIL_OK
		               : sys_error(err, errlen, "read", JOURNAL_FILE);
	/* It is only renamed into place complete, but be sure: without its
	 * end mark it never committed. */
	if (len < 2 || strcmp(data + len - 2, "E\n") != 0 ||
	    (len > 2 && data[len - 3] != '\n')) {
		log_warn("maildir %s: ignoring an incomplete journal", f->name);
		goto done;
	}
	for (int pass = 0; pass < 2 && r == MAIL_OK; pass++) {
		for (char *p = data; p < data + len;) {
			char *nl = memchr(p, '\n', (size_t)(data + len - p));
			if (nl == NULL)
				break;
			*nl = '\0';
			char *a = strchr(p, '\t');
			char *b = a != NULL ? strchr(a + 1, '\t') : NULL;
			/* plain names in this folder only, whoever wrote
			 * the file */
			if (b != NULL) {
				*a++ = '\0';
				*b++ = '\0';
				if (!fname_ok(a) || !fname_ok(b) ||
				    strchr(a, '/') != NULL ||
				    strchr(b, '/') != NULL) {
					a[-1] = '\t';
					b[-1] = '\t';
					b = NULL;
				}
			}
			if (b != NULL) {
				if (pass == 0 && strcmp(p, "T") == 0 &&
				    renameat(f->tmpfd, a, f->curfd, b) < 0 &&
				    errno != ENOENT)
					r = sys_error(err, errlen, "rename", a);
				if (pass == 1 && strcmp(p, "X") == 0)
					r = remove_by_base(ms, a, b, err,
					                   errlen);
				/* put the line back for the next pass */
				a[-1] = '\t';
				b[-1] = '\t';
			}
			*nl = '\n';
			p = nl + 1;
			if (r != MAIL_OK)
				break;
		}
		if (pass == 0 && r == MAIL_OK && fsync(f->curfd) < 0)
			r = sys_error(err, errlen, "fsync", f->name);
	}
	if (r != MAIL_OK) {
		free(data);
		return r; /* kept for the next try */
	}
	log_info("maildir %s: finished an interrupted copy or move", f->name);
done:
	free(data);
	if (unlinkat(f->dfd, JOURNAL_FILE, 0) < 0 && errno != ENOENT)
		return sys_error(err, errlen, "unlink", JOURNAL_FILE);
	fsync(f->dfd);
	return MAIL_OK;
}

/* ---- sync: directory + uidlist -> the message list ---- */

enum sync_mode {
	SYNC_RW = 1 << 0,    /* move new/ to cur/ and take \Recent */
	SYNC_SIZES = 1 << 1, /* learn every size (STATUS) */
	SYNC_FLUSH = 1 << 2, /* write back every size learnt */
};

static void
ulstate_free(struct ulstate *st)
{
	recs_free(st->recs, st->n);
	npool_free(&st->names);
	free(st->hdr_ext);
	kw_clear(st);
	memset(st, 0, sizeof(*st));
}

/* Delivery order, as Dovecot sorts: "secs.Musecs..." by seconds, then
 * microseconds, as numbers (names are not zero-padded), then by name. */
static int
name_cmp(const char *x, const char *y)
{
	char *ex, *ey;
	unsigned long long sx = strtoull(x, &ex, 10), sy = strtoull(y, &ey, 10);
	if (ex != x && ey != y && sx != sy)
		return sx < sy ? -1 : 1;
	if (ex != x && ey != y && ex[0] == '.' && ex[1] == 'M' &&
	    ey[0] == '.' && ey[1] == 'M') {
		unsigned long long ux = strtoull(ex + 2, NULL, 10),
		                   uy = strtoull(ey + 2, NULL, 10);
		if (ux != uy)
			return ux < uy ? -1 : 1;
	}
	return strcmp(x, y);
}

static int
sent_cmp(const void *a, const void *b)
{
	const struct sent *x = *(const struct sent *const *)a;
	const struct sent *y = *(const struct sent *const *)b;
	return name_cmp(x->name, y->name);
}

/* For a uidlist without R (new, or Dovecot's): what is in new/ is recent,
 * so cur/ first, then new/, each in delivery order. */
static int
sent_cmp_dir(const void *a, const void *b)
{
	const struct sent *x = *(const struct sent *const *)a;
	const struct sent *y = *(const struct sent *const *)b;
	if (x->in_new != y->in_new)
		return x->in_new ? 1 : -1;
	return name_cmp(x->name, y->name);
}

static bool
push_seq(uint32_t **arr, size_t *n, size_t *cap, uint32_t seq)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		uint32_t *p = realloc(*arr, c * sizeof(*p));
		if (p == NULL)
			return false;
		*arr = p;
		*cap = c;
	}
	(*arr)[(*n)++] = seq;
	return true;
}

/* Compares the old message list with the new one (both in UID order),
 * carries over what the session knows, and fills ch. */
static bool
sync_diff(const struct rec *old, size_t oldn, struct rec *nr, size_t nn,
          struct mail_changes *ch, bool first)
{
	size_t i = 0, j = 0, ecap = 0, fcap = 0;
	while (i < oldn || j < nn) {
		if (j == nn || (i < oldn && old[i].msg.uid < nr[j].msg.uid)) {
			if (ch != NULL && !first &&
			    !push_seq(&ch->expunged, &ch->nexpunged, &ecap,
			              (uint32_t)i + 1))
				return false;
			i++;
			continue;
		}
		if (i == oldn || nr[j].msg.uid < old[i].msg.uid) {
			j++; /* new here: MAIL_RECENT as the merge set it */
			continue;
		}
		const struct rec *o = &old[i];
		struct rec *x = &nr[j];
		x->msg.flags = (x->msg.flags & ~(uint32_t)MAIL_RECENT) |
		               (o->msg.flags & MAIL_RECENT);
		if (o->date_known && !o->gone) {
			x->date_known = true;
			x->msg.internaldate = o->msg.internaldate;
		}
		if (!x->size_known && o->size_known && !o->gone) {
			x->size_known = true;
			x->size_dirty = true;
			x->msg.size = o->msg.size;
		}
		if (ch != NULL && !first &&
		    ((o->msg.flags ^ x->msg.flags) & STORED_FLAGS ||
		     o->msg.keywords != x->msg.keywords) &&
		    !push_seq(&ch->flagged, &ch->nflagged, &fcap,
		              (uint32_t)j + 1))
			return false;
		i++;
		j++;
	}
	/* highest first, so each number is valid when it is sent */
	for (size_t a = 0, b = ch != NULL ? ch->nexpunged : 0; a + 1 < b;
	     a++, b--) {
		uint32_t t = ch->expunged[a];
		ch->expunged[a] = ch->expunged[b - 1];
		ch->expunged[b - 1] = t;
	}
	return true;
}

static void
move_new_to_cur(struct folder *f, struct rec *recs, size_t n,
                struct npool *names)
{
	char to[FNAME_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		struct rec *x = &recs[i];
		if (!x->in_new)
			continue;
		int len = snprintf(to, sizeof(to), "%s%s", x->fname,
		                   strchr(x->fname, ':') ? "" : ":2,");
		char *copy = len > 0 && (size_t)len < sizeof(to)
		                     ? npool_dup(names, to, (size_t)len)
		                     : NULL;
		if (copy == NULL)
			continue; /* stays in new/, still served */
		if (renameat(f->newfd, x->fname, f->curfd, copy) < 0) {
			/* ENOENT: another program moved it; the next sync
			 * sees where */
			if (errno != ENOENT)
				log_warn("maildir %s: can't move %s to cur/: "
				         "%s",
				         f->name, x->fname, strerror(errno));
			continue;
		}
		x->fname = copy;
		x->in_new = false;
	}
}

/* Learns a message's size (and date) by reading it; -1 with errno. */
static int
rec_vsize_at(int dir, struct rec *x)
{
	int fd = openat(dir, x->fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat sb;
	uint64_t v;
	int rc = fstat(fd, &sb) == 0 ? mail_crlf_size(fd, &v) : -1;
	int e = errno;
	close(fd);
	if (rc < 0) {
		errno = e;
		return -1;
	}
	x->msg.size = v;
	x->size_known = x->size_dirty = true;
	if (!x->date_known) {
		x->msg.internaldate = sb.st_mtim.tv_sec;
		x->date_known = true;
	}
	return 0;
}

/*
 * The sync, with the folder locked: reads the uidlist (or keeps ours if it
 * hasn't changed), reads cur/ and new/, matches files to UIDs by base
 * name, gives new files the next UIDs, writes the uidlist, and only then
 * lets anyone see the new list. st is the session's list (or an empty one
 * for STATUS and APPEND); ch gets what changed. Read without Dovecot's
 * dotlock, it takes the dotlock only once it must write, and if the
 * uidlist changed meanwhile sets *restart (NULL: goes on regardless).
 */
static enum mail_result
sync_attempt(struct mailstore *ms, struct folder *f, struct ulstate *st,
             unsigned mode, struct mail_changes *ch, bool first, bool *restart,
             char *err, size_t errlen)
{
	struct timespec now;
	struct stat cur_sb, new_sb, ul_sb;
	struct ulfile u;
	struct scan s;
	struct rec *nr = NULL;
	struct sent **fresh = NULL;
	size_t nn = 0;
	bool reuse = false, exists = false, corrupt = false;
	enum mail_result r;

	clock_gettime(CLOCK_REALTIME, &now);
	if ((r = journal_recover(ms, f, err, errlen)) != MAIL_OK ||
	    (r = kw_load(f, st, false, err, errlen)) != MAIL_OK)
		return r;
	uint32_t defined = kw_defined(st);
	if (fstat(f->curfd, &cur_sb) < 0 || fstat(f->newfd, &new_sb) < 0)
		return sys_error(err, errlen, "stat", f->name);

	memset(&u, 0, sizeof(u));
	if (st->loaded && st->ul.settled &&
	    fstatat(f->dfd, UIDLIST_FILE, &ul_sb, 0) == 0 &&
	    stamp_same(&st->ul, &ul_sb)) {
		/* unchanged since we wrote or read it: ours is the same */
		reuse = exists = true;
		u.uidvalidity = st->uidvalidity;
		u.uidnext = st->uidnext;
		u.recent_uid = st->recent_uid;
		u.has_recent = st->has_recent;
		u.recent_fixed = st->recent_fixed;
		u.recent_off = st->recent_off;
		u.tail_ok = st->tail_ok;
		u.hdr_ext = st->hdr_ext;
		u.recs = st->recs;
		u.n = st->n;
	} else {
		r = ul_read(f, &u, &ul_sb, &exists, &corrupt, err, errlen);
		if (r != MAIL_OK)
			return r;
		if (corrupt)
			log_warn("maildir %s: %s is damaged, renumbering "
			         "under a new UIDVALIDITY",
			         f->name, UIDLIST_FILE);
		if (!exists || corrupt) {
			u.uidvalidity = store_next_uidvalidity(ms);
			u.uidnext = 1;
		}
		if (st->loaded && u.uidvalidity != st->uidvalidity) {
			ulfile_free(&u);
			return say(err, errlen, MAIL_ERROR,
			           "Mailbox UIDVALIDITY changed");
		}
	}
	bool rewrite = !exists || corrupt || !u.tail_ok || !u.has_recent ||
	               !u.recent_fixed;
	/* A rewrite that only drops gone files or records sizes may be
	 * skipped when the disk is full: the file stays valid, just stale */
	bool must_rewrite = rewrite;

	if ((r = scan_folder(f, &s, err, errlen)) != MAIL_OK)
		goto fail_u;
	nr = calloc(u.n + s.n + 1, sizeof(*nr));
	fresh = calloc(s.n + 1, sizeof(*fresh));
	if (nr == NULL || fresh == NULL)
		goto oom;

	/* known messages, in UID order */
	for (size_t i = 0; i < u.n; i++) {
		const struct rec *m = &u.recs[i];
		struct sent *e = scan_find(&s, m->fname, m->baselen);
		if (e == NULL || e->used) {
			rewrite = true; /* gone */
			continue;
		}
		e->used = true;
		struct rec *x = &nr[nn++];
		x->msg.uid = m->msg.uid;
		x->fname = e->name;
		e->taken = true;
		x->baselen = e->baselen;
		x->in_new = e->in_new;
		if (m->ext != NULL && (x->ext = strdup(m->ext)) == NULL)
			goto oom;
		if (m->size_known && !m->gone) {
			x->size_known = true;
			x->size_dirty = m->size_dirty;
			x->msg.size = m->msg.size;
		} else if (base_size(x->fname, x->baselen, 'W', &x->msg.size)) {
			x->size_known = true;
		}
	}
	/* new files, in delivery order (their names start with the time) */
	size_t nfresh = 0;
	for (size_t i = 0; i < s.n; i++)
		if (!s.e[i].used)
			fresh[nfresh++] = &s.e[i];
	if (nfresh > 1)
		qsort(fresh, nfresh, sizeof(*fresh),
		      u.has_recent ? sent_cmp : sent_cmp_dir);
	size_t first_fresh = nn;
	for (size_t i = 0; i < nfresh; i++) {
		if (u.uidnext == UINT32_MAX) {
			r = say(err, errlen, MAIL_ERROR, "Out of UIDs");
			goto fail;
		}
		struct rec *x = &nr[nn++];
		x->msg.uid = u.uidnext++;
		x->fname = fresh[i]->name;
		fresh[i]->taken = true;
		x->baselen = fresh[i]->baselen;
		x->in_new = fresh[i]->in_new;
		x->size_known =
		        base_size(x->fname, x->baselen, 'W', &x->msg.size);
	}

	/* flags, and \Recent for whoever sees a message first: UIDs from R
	 * on, or (without R) what is still in new/ */
	uint32_t recent_uid = u.has_recent ? u.recent_uid : u.uidnext;
	size_t dirty = 0;
	for (size_t i = 0; i < nn; i++) {
		struct rec *x = &nr[i];
		info_parse(x->fname, defined, &x->msg.flags, &x->msg.keywords);
		bool recent =
		        u.has_recent ? x->msg.uid >= u.recent_uid : x->in_new;
		if (recent)
			x->msg.flags |= MAIL_RECENT;
		if (!u.has_recent && x->in_new && x->msg.uid < recent_uid)
			recent_uid = x->msg.uid;
		if ((mode & SYNC_SIZES) && !x->size_known)
			rec_vsize_at(x->in_new ? f->newfd : f->curfd, x);
		dirty += x->size_dirty;
	}
	if (mode & SYNC_RW)
		recent_uid = u.uidnext;
	if (st->loaded) {
		if (!sync_diff(st->recs, st->n, nr, nn, ch, first))
			goto oom;
		dirty = 0;
		for (size_t i = 0; i < nn; i++)
			dirty += nr[i].size_dirty;
	}
	if (dirty >= SIZE_FLUSH_MIN || (dirty > 0 && dirty * 8 >= nn) ||
	    (dirty > 0 && (mode & (SYNC_SIZES | SYNC_FLUSH))))
		rewrite = true;

	/* Dovecot's dotlock only now that we know we will write: most
	 * syncs (every SELECT) only read. What we read without it must
	 * still be what is there, else we read again (sync_locked()). */
	bool to_cur = false;
	for (size_t i = 0; (mode & SYNC_RW) && !to_cur && i < nn; i++)
		to_cur = nr[i].in_new;
	if (!f->dotlocked && (rewrite || nn > first_fresh ||
	                      recent_uid != u.recent_uid || to_cur)) {
		struct stat again;
		if ((r = dotlock_take(f, err, errlen)) != MAIL_OK)
			goto fail;
		bool there = fstatat(f->dfd, UIDLIST_FILE, &again, 0) == 0;
		if (restart != NULL &&
		    (there != exists ||
		     (there &&
		      (again.st_ino != ul_sb.st_ino ||
		       again.st_dev != ul_sb.st_dev ||
		       again.st_size != ul_sb.st_size ||
		       again.st_mtim.tv_sec != ul_sb.st_mtim.tv_sec ||
		       again.st_mtim.tv_nsec != ul_sb.st_mtim.tv_nsec)))) {
			*restart = true;
			r = MAIL_OK;
			goto fail;
		}
	}

	/* persist before anyone sees a new UID */
	if (rewrite) {
		r = ul_write(f, &u, recent_uid, nr, nn, &u.recent_off, err,
		             errlen);
		if (r == MAIL_NOSPACE && !must_rewrite && nn == first_fresh) {
			/* nothing new to record: an EXPUNGE on a full disk
			 * must not make the mailbox unreadable */
			rewrite = false;
			log_warn("maildir: %s: disk full, %s left stale",
			         f->name, UIDLIST_FILE);
		} else if (r != MAIL_OK) {
			goto fail;
		}
	}
	if (rewrite) {
		for (size_t i = 0; i < nn; i++)
			nr[i].size_dirty = false;
		dirty = 0;
		u.has_recent = u.recent_fixed = u.tail_ok = true;
	} else {
		if (nn > first_fresh) {
			struct buf b = BUF_INIT;
			bool ok = true;
			for (size_t i = first_fresh; ok && i < nn; i++)
				ok = ul_format_rec(&b, nr[i].msg.uid,
				                   nr[i].size_known,
				                   nr[i].msg.size, NULL,
				                   nr[i].fname, nr[i].baselen);
			r = ok ? ul_append(f, &b, err, errlen)
			       : say(err, errlen, MAIL_ERROR, "Out of memory");
			buf_free(&b);
			if (r != MAIL_OK)
				goto fail;
		}
		if (recent_uid != u.recent_uid)
			ul_set_recent(f, u.recent_off, recent_uid);
	}
	u.recent_uid = recent_uid;
	if (fstatat(f->dfd, UIDLIST_FILE, &ul_sb, 0) < 0) {
		r = sys_error(err, errlen, "stat", UIDLIST_FILE);
		goto fail;
	}

	if (mode & SYNC_RW)
		move_new_to_cur(f, nr, nn, &s.names);

	/* adopt */
	if (reuse) {
		u.recs = NULL;
		u.n = 0;
		u.hdr_ext = NULL; /* still st's */
	} else {
		free(st->hdr_ext);
		st->hdr_ext = u.hdr_ext;
		u.hdr_ext = NULL;
	}
	recs_free(st->recs, st->n);
	/* every name in nr is the scan's: the old ones may all go */
	npool_free(&st->names);
	npool_move(&st->names, &s.names);
	/* nr was sized for the uidlist and the scan together; an open
	 * mailbox keeps it for as long as it is selected (IDLE: for hours) */
	struct rec *fit = realloc(nr, (nn > 0 ? nn : 1) * sizeof(*nr));
	if (fit != NULL)
		nr = fit;
	st->recs = nr;
	st->n = nn;
	st->dirty = dirty;
	st->uidvalidity = u.uidvalidity;
	st->uidnext = u.uidnext;
	st->recent_uid = u.recent_uid;
	st->has_recent = u.has_recent;
	st->recent_fixed = u.recent_fixed;
	st->recent_off = u.recent_off;
	st->tail_ok = u.tail_ok;
	st->loaded = true;
	stamp_take(&st->cur, &cur_sb, &now);
	stamp_take(&st->new, &new_sb, &now);
	stamp_take(&st->ul, &ul_sb, &now);
	if (ch != NULL) {
		ch->exists = (uint32_t)nn;
		ch->recent = 0;
		for (size_t i = 0; i < nn; i++)
			ch->recent += (nr[i].msg.flags & MAIL_RECENT) != 0;
	}
	ulfile_free(&u);
	free(fresh);
	scan_free(&s);
	return MAIL_OK;

oom:
	r = say(err, errlen, MAIL_ERROR, "Out of memory");
fail:
	if (ch != NULL) {
		free(ch->expunged);
		free(ch->flagged);
		memset(ch, 0, sizeof(*ch));
	}
	recs_free(nr, nn);
	free(fresh);
	scan_free(&s);
fail_u:
	if (reuse) {
		u.recs = NULL;
		u.n = 0;
		u.hdr_ext = NULL;
	}
	ulfile_free(&u);
	return r;
}

/* Syncs a folder locked with folder_lock() (Dovecot's dotlock is then
 * taken only if the sync writes; see sync_attempt()) or with
 * folder_lock_uidlist(). A uidlist that changed under an unlocked read is
 * read again; the last attempt takes the dotlock first and goes on
 * whatever it finds: where the dotlock can't be made (read-only folder,
 * full disk) a busy Dovecot could otherwise keep us reading forever. */
static enum mail_result
sync_locked(struct mailstore *ms, struct folder *f, struct ulstate *st,
            unsigned mode, struct mail_changes *ch, bool first, char *err,
            size_t errlen)
{
	for (int attempt = 1;; attempt++) {
		bool restart = false, last = attempt >= SYNC_ATTEMPTS;
		enum mail_result r;
		if (last && !f->dotlocked &&
		    (r = dotlock_take(f, err, errlen)) != MAIL_OK)
			return r;
		r = sync_attempt(ms, f, st, mode, ch, first,
		                 last ? NULL : &restart, err, errlen);
		if (!restart)
			return r;
	}
}

/* True if nothing can have changed since the last sync: every timestamp
 * the same, and each old enough to have moved with any change since. */
static bool
sync_quick(struct folder *f, const struct ulstate *st)
{
	struct stat sb;
	if (!st->loaded || !st->cur.settled || !st->new.settled ||
	    !st->ul.settled || st->dirty >= SIZE_FLUSH_MIN)
		return false;
	if (fstat(f->curfd, &sb) < 0 || !stamp_same(&st->cur, &sb) ||
	    fstat(f->newfd, &sb) < 0 || !stamp_same(&st->new, &sb) ||
	    fstatat(f->dfd, UIDLIST_FILE, &sb, 0) < 0 ||
	    !stamp_same(&st->ul, &sb))
		return false;
	if (fstatat(f->dfd, JOURNAL_FILE, &sb, 0) == 0 || errno != ENOENT)
		return false;
	if (fstatat(f->dfd, KEYWORDS_FILE, &sb, 0) == 0)
		return st->kwst.settled && stamp_same(&st->kwst, &sb);
	return errno == ENOENT && !st->kwst.exists;
}

/* ---- the session's view: names that moved under it ---- */

/* Learns the current file names after another session renamed them (flag
 * changes) or moved them to cur/. The flags the session knows stay as
 * they are until its next sync reports the change. */
static enum mail_result
refresh_names(struct mailbox *mb, char *err, size_t errlen)
{
	struct scan s;
	if (mb->f.dfd < 0) /* lost while parked: see unpark() */
		return say(err, errlen, MAIL_NONEXISTENT,
		           "Mailbox doesn't exist");
	enum mail_result r = scan_folder(&mb->f, &s, err, errlen);
	if (r != MAIL_OK)
		return r;
	for (size_t i = 0; i < mb->st.n; i++) {
		struct rec *x = &mb->st.recs[i];
		struct sent *e = scan_find(&s, x->fname, x->baselen);
		if (e == NULL || e->taken ||
		    (e->in_new == x->in_new && strcmp(e->name, x->fname) == 0))
			continue;
		/* copied, so that the scan's other names go with it: a
		 * FETCH over messages expunged elsewhere rescans once per
		 * missing file */
		char *c = npool_dup(&mb->st.names, e->name, strlen(e->name));
		if (c == NULL)
			continue; /* found again by name when next needed */
		x->fname = c;
		e->taken = true;
		x->in_new = e->in_new;
	}
	scan_free(&s);
	return MAIL_OK;
}

/*
 * Parking: a session in IDLE may hold its mailbox for hours, and thousands
 * of them are open at once, so while parked a mailbox keeps only the
 * client's view of each message (struct parked, 12 octets) instead of its
 * record with the file name (over 100 octets). unpark() rebuilds the
 * records for exactly the same messages, in the same order, taking names
 * from the uidlist and the directories: the view never changes outside a
 * sync. A message that vanished meanwhile comes back as a "gone"
 * placeholder, and the next sync reports it expunged.
 */
static void flush_pending(struct mailbox *mb);

void
mailbox_park(struct mailbox *mb)
{
	struct ulstate *st = &mb->st;
	if (mb->parked != NULL || st->n == 0)
		return;
	struct parked *p = malloc(st->n * sizeof(*p));
	if (p == NULL)
		return; /* stays as it is */
	flush_pending(mb);
	for (size_t i = 0; i < st->n; i++) {
		struct rec *x = &st->recs[i];
		if (mb->hide_recent)
			x->msg.flags &= ~(uint32_t)MAIL_RECENT;
		p[i] = (struct parked){x->msg.uid, x->msg.flags,
		                       x->msg.keywords};
	}
	recs_free(st->recs, st->n);
	npool_free(&st->names);
	st->recs = NULL;
	st->dirty = 0; /* sizes learnt by reading files are learnt again */
	mail_cache_free(mb->cache);
	mb->cache = NULL;
	mb->parked = p;
	/* and its five descriptors: thousands of idle sessions would
	 * otherwise run into the process's limit */
	struct stat sb;
	if (fstat(mb->f.dfd, &sb) == 0) {
		mb->parked_dev = sb.st_dev;
		mb->parked_ino = sb.st_ino;
	}
	folder_close(&mb->f);
}

static void
unpark(struct mailbox *mb)
{
	struct ulstate *st = &mb->st;
	struct parked *p = mb->parked;
	if (p == NULL)
		return;
	struct rec *recs = calloc(st->n, sizeof(*recs));
	if (recs == NULL) {
		/* a few KiB: without them no message can be named */
		log_error("maildir %s: out of memory unparking", mb->f.name);
		abort();
	}
	struct ulfile u;
	memset(&u, 0, sizeof(u));
	/* the same directory again, or none: renamed or deleted meanwhile,
	 * every message is gone and the next sync says the mailbox is */
	char name[MAIL_NAME_MAX + 1];
	struct stat sb;
	strcpy(name, mb->f.name);
	if (folder_open(mb->ms, name, &mb->f, NULL, 0) != MAIL_OK ||
	    fstat(mb->f.dfd, &sb) != 0 || sb.st_dev != mb->parked_dev ||
	    sb.st_ino != mb->parked_ino) {
		folder_close(&mb->f);
		strcpy(mb->f.name, name);
		mb->f.ms = mb->ms;
	} else if (folder_lock(&mb->f, NULL, 0) == MAIL_OK) {
		bool exists, corrupt;
		ul_read(&mb->f, &u, &sb, &exists, &corrupt, NULL, 0);
		folder_unlock(&mb->f);
		if (u.uidvalidity != st->uidvalidity)
			ulfile_free(&u); /* another folder by that name */
	}
	size_t j = 0;
	for (size_t i = 0; i < st->n; i++) {
		struct rec *x = &recs[i];
		x->msg.uid = p[i].uid;
		x->msg.flags = p[i].flags;
		x->msg.keywords = p[i].keywords;
		while (j < u.n && u.recs[j].msg.uid < p[i].uid)
			j++;
		if (j < u.n && u.recs[j].msg.uid == p[i].uid) {
			struct rec *y = &u.recs[j];
			x->fname = y->fname;
			x->ext = y->ext;
			x->baselen = y->baselen;
			x->size_known = y->size_known;
			x->msg.size = y->msg.size;
			y->ext = NULL;
		}
		if (x->fname == NULL) {
			x->fname = npool_dup(&u.names, "", 0);
			x->gone = x->size_known = x->date_known = true;
			if (x->fname == NULL) {
				log_error("maildir %s: out of memory unparking",
				          mb->f.name);
				abort();
			}
		}
	}
	npool_move(&st->names, &u.names);
	ulfile_free(&u);
	free(p);
	mb->parked = NULL;
	st->recs = recs;
	/* uidlist names are bare bases: find the files as they are now */
	refresh_names(mb, NULL, 0);
}

static int
rec_dir(const struct mailbox *mb, const struct rec *x)
{
	return x->in_new ? mb->f.newfd : mb->f.curfd;
}

/* Learns size and date on first use, so a SELECT of a big folder reads
 * no message file. */
static void
rec_fill(struct mailbox *mb, struct rec *x)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!x->size_known) {
			if (rec_vsize_at(rec_dir(mb, x), x) == 0) {
				mb->st.dirty++;
				return;
			}
		} else {
			struct stat sb;
			if (fstatat(rec_dir(mb, x), x->fname, &sb,
			            AT_SYMLINK_NOFOLLOW) == 0) {
				x->msg.internaldate = sb.st_mtim.tv_sec;
				x->date_known = true;
				return;
			}
		}
		if (errno != ENOENT || attempt > 0 ||
		    refresh_names(mb, NULL, 0) != MAIL_OK)
			break;
	}
	/* Gone (the next sync reports it): placeholders, so that a FETCH
	 * of many such messages doesn't rescan the folder for each. */
	x->gone = true;
	if (!x->size_known) {
		x->size_known = true;
		x->msg.size = 0;
	}
	x->date_known = true;
}

static void
flush_pending(struct mailbox *mb)
{
	if (!mb->fsync_pending)
		return;
	if (fsync(mb->f.curfd) < 0 || fsync(mb->f.newfd) < 0)
		log_warn("maildir %s: fsync: %s", mb->f.name, strerror(errno));
	mb->fsync_pending = false;
}

void
mailbox_flush(struct mailbox *mb)
{
	flush_pending(mb);
}

/* ---- committing staged messages ---- */

static void
pending_free(struct pending *p, size_t n)
{
	for (size_t i = 0; p != NULL && i < n; i++) {
		free(p[i].tmp);
		free(p[i].final);
	}
	free(p);
}

static enum mail_result
journal_write(struct folder *f, const struct pending *p, size_t n,
              const struct mailbox *src, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; ok && i < n; i++)
		ok = buf_printf(&b, "T\t%s\t%s\n", p[i].tmp, p[i].final);
	for (size_t i = 0; ok && src != NULL && i < n; i++)
		ok = buf_printf(&b, "X\t%s\t%.*s\n", src->f.name,
		                (int)p[i].src->baselen, p[i].src->fname);
	ok = ok && buf_append(&b, "E\n", 2);
	enum mail_result r =
	        ok ? replace_file(f->dfd, JOURNAL_TMP, JOURNAL_FILE,
	                          buf_head(&b), buf_used(&b), err, errlen)
	           : say(err, errlen, MAIL_ERROR, "Out of memory");
	buf_free(&b);
	return r;
}

/* Takes back a journal before the commit completed. If it can't be
 * removed it will be carried out later, so the staged files must stay. */
static void
journal_abort(struct folder *f, bool *committed)
{
	if (unlinkat(f->dfd, JOURNAL_FILE, 0) < 0 && errno != ENOENT) {
		log_error("maildir %s: can't remove journal: %s", f->name,
		          strerror(errno));
		*committed = true;
		return;
	}
	fsync(f->dfd);
}

/* Removes the sources of a MOVE once their copies are durable. */
static enum mail_result
remove_sources(struct mailbox *mb, struct pending *p, size_t n, char *err,
               size_t errlen)
{
	bool refreshed = false;
	for (size_t i = 0; i < n; i++) {
		struct rec *x = p[i].src;
		while (unlinkat(rec_dir(mb, x), x->fname, 0) < 0) {
			if (errno != ENOENT)
				return sys_error(err, errlen, "unlink",
				                 x->fname);
			if (refreshed)
				break; /* expunged by someone else */
			enum mail_result r = refresh_names(mb, err, errlen);
			if (r != MAIL_OK)
				return r;
			refreshed = true;
		}
	}
	if (fsync(mb->f.curfd) < 0 || fsync(mb->f.newfd) < 0)
		return sys_error(err, errlen, "fsync", mb->f.name);
	return MAIL_OK;
}

/*
 * Makes messages staged in dst's tmp/ visible: UIDs written down first
 * (so none is ever handed out twice), then one rename each. For several
 * messages or a MOVE a journal comes first, which makes the whole of it
 * happen or none of it. *committed tells the caller whether the staged
 * files are still its own to remove.
 */
static enum mail_result
commit(struct mailstore *ms, struct folder *dst, struct pending *p, size_t n,
       struct mailbox *src, uint32_t *uidvalidity, bool *committed, char *err,
       size_t errlen)
{
	struct ulstate kst;
	uint32_t v = 0, next = 0;
	bool usable, journal = n > 1 || (src != NULL && n > 0);
	char final[FNAME_MAX + 1];
	enum mail_result r;

	*committed = false;
	memset(&kst, 0, sizeof(kst));
	if ((r = folder_lock_uidlist(dst, err, errlen)) != MAIL_OK)
		return r;
	if ((r = journal_recover(ms, dst, err, errlen)) != MAIL_OK ||
	    (r = ul_peek(dst, &v, &next, &usable, err, errlen)) != MAIL_OK)
		goto out;
	if (!usable) {
		/* missing, cut short or in an old format: a sync writes it
		 * anew */
		struct ulstate tmp;
		memset(&tmp, 0, sizeof(tmp));
		r = sync_locked(ms, dst, &tmp, 0, NULL, false, err, errlen);
		ulstate_free(&tmp);
		if (r == MAIL_OK)
			r = ul_peek(dst, &v, &next, &usable, err, errlen);
		if (r == MAIL_OK && !usable)
			r = say(err, errlen, MAIL_ERROR,
			        "Internal error (uidlist)");
		if (r != MAIL_OK)
			goto out;
	}
	if (n >= UINT32_MAX - next) {
		r = say(err, errlen, MAIL_ERROR, "Out of UIDs");
		goto out;
	}
	if ((r = kw_load(dst, &kst, true, err, errlen)) != MAIL_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint32_t mask = 0;
		for (int b = 0; b < MAIL_KEYWORDS_MAX; b++) {
			if (!(p[i].kwmask & (1u << b)) ||
			    p[i].kwnames[b] == NULL)
				continue;
			int idx = kw_find(&kst, p[i].kwnames[b]);
			if (idx < 0 &&
			    (r = kw_add_locked(dst, &kst, p[i].kwnames[b], &idx,
			                       err, errlen)) != MAIL_OK)
				goto out;
			if (idx < 0) {
				r = say(err, errlen, MAIL_NO,
				        "Too many keywords in the mailbox");
				goto out;
			}
			mask |= 1u << idx;
		}
		char *c = NULL;
		if (!name_with_flags(final, sizeof(final), p[i].final,
		                     p[i].baselen, kw_defined(&kst), p[i].flags,
		                     mask) ||
		    (c = strdup(final)) == NULL) {
			r = say(err, errlen, MAIL_ERROR, "File name too long");
			goto out;
		}
		free(p[i].final);
		p[i].final = c;
		p[i].uid = next + (uint32_t)i;
	}
	if (journal &&
	    (r = journal_write(dst, p, n, src, err, errlen)) != MAIL_OK) {
		journal_abort(dst, committed);
		goto out;
	}
	struct buf b = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; ok && i < n; i++)
		ok = ul_format_rec(&b, p[i].uid, true, p[i].vsize, NULL,
		                   p[i].final, p[i].baselen);
	r = !ok     ? say(err, errlen, MAIL_ERROR, "Out of memory")
	    : n > 0 ? ul_append(dst, &b, err, errlen)
	            : MAIL_OK;
	buf_free(&b);
	if (r != MAIL_OK) {
		if (journal)
			journal_abort(dst, committed);
		goto out;
	}

	/* committed: from here on a failure is finished by the journal
	 * (or, for one message, leaves a stale uidlist line, dropped at the
	 * next sync) */
	*committed = true;
	*uidvalidity = v;
	for (size_t i = 0; i < n; i++)
		if (renameat(dst->tmpfd, p[i].tmp, dst->curfd, p[i].final) <
		            0 &&
		    r == MAIL_OK)
			r = sys_error(err, errlen, "rename", p[i].tmp);
	if (n > 0 && fsync(dst->curfd) < 0 && r == MAIL_OK)
		r = sys_error(err, errlen, "fsync", dst->name);
	if (r == MAIL_OK && src != NULL)
		r = remove_sources(src, p, n, err, errlen);
	if (r == MAIL_OK && journal) {
		if (unlinkat(dst->dfd, JOURNAL_FILE, 0) < 0)
			log_warn("maildir %s: can't remove journal: %s",
			         dst->name, strerror(errno));
	}
out:
	folder_unlock(dst);
	ulstate_free(&kst);
	return r;
}

/* ---- APPEND ---- */

/* Copies size octets from fd into out, counting the CRLF size. */
static enum mail_result
copy_in(int fd, int out, uint64_t size, uint64_t *vsize, char *err,
        size_t errlen)
{
	char *buf = malloc(IO_CHUNK);
	bool prev_cr = false;
	enum mail_result r = MAIL_OK;
	if (buf == NULL)
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	*vsize = 0;
	while (size > 0) {
		ssize_t n = read(fd, buf, size < IO_CHUNK ? size : IO_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("maildir: reading a message: %s",
			          strerror(errno));
			r = say(err, errlen, MAIL_ERROR,
			        "Internal error (read)");
			break;
		}
		if (n == 0) {
			r = say(err, errlen, MAIL_ERROR,
			        "Message data ended early");
			break;
		}
		*vsize += mail_crlf(&prev_cr, (const uint8_t *)buf, (size_t)n,
		                    NULL);
		if (write_all(out, buf, (size_t)n) < 0) {
			r = sys_error(err, errlen, "write", "message");
			break;
		}
		size -= (uint64_t)n;
	}
	free(buf);
	return r;
}

static enum mail_result
open_target(struct mailstore *ms, const char *name, char norm[],
            struct folder *f, char *err, size_t errlen)
{
	if (!norm_name(name, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	enum mail_result r = folder_open(ms, norm, f, err, errlen);
	if (r == MAIL_NONEXISTENT)
		return say(err, errlen, MAIL_TRYCREATE,
		           "Mailbox doesn't exist");
	return r;
}

enum mail_result
mailstore_append(struct mailstore *ms, const char *name, int fd, uint64_t size,
                 uint32_t flags, const char *const *keywords, size_t nkeywords,
                 int64_t internaldate, uint32_t *uidvalidity, uint32_t *uid,
                 char *err, size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1], tmp[FNAME_MAX + 1], base[FNAME_MAX + 1];
	struct folder f;
	struct pending p;
	uint64_t vsize = 0;
	bool committed = false;
	enum mail_result r;
	int out = -1;

	if (nkeywords > MAIL_KEYWORDS_MAX)
		return say(err, errlen, MAIL_NO, "Too many keywords");
	for (size_t i = 0; i < nkeywords; i++)
		if (!keyword_valid(keywords[i]))
			return say(err, errlen, MAIL_NO, "Invalid keyword");
	if ((r = open_target(ms, name, norm, &f, err, errlen)) != MAIL_OK)
		return r;
	for (int i = 0; i < RETRIES && out < 0; i++) {
		unique_base(ms, tmp, sizeof(tmp));
		out = openat(f.tmpfd, tmp,
		             O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		                     O_NOFOLLOW,
		             0600);
		if (out < 0 && errno != EEXIST)
			break;
	}
	if (out < 0) {
		r = sys_error(err, errlen, "create", "tmp/");
		folder_close(&f);
		return r;
	}
	r = copy_in(fd, out, size, &vsize, err, errlen);
	struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	if (internaldate > 0)
		times[1] = (struct timespec){(time_t)internaldate, 0};
	if (r == MAIL_OK && (futimens(out, times) < 0 || fsync(out) < 0))
		r = sys_error(err, errlen, "fsync", "message");
	if (close_checked(out) < 0 && r == MAIL_OK)
		r = sys_error(err, errlen, "close", "message");
	int len = snprintf(base, sizeof(base), "%s,S=%" PRIu64 ",W=%" PRIu64,
	                   tmp, size, vsize);
	memset(&p, 0, sizeof(p));
	if (r == MAIL_OK &&
	    (len < 0 || (size_t)len >= sizeof(base) ||
	     (p.tmp = strdup(tmp)) == NULL || (p.final = strdup(base)) == NULL))
		r = say(err, errlen, MAIL_ERROR, "Out of memory");
	if (r == MAIL_OK) {
		p.baselen = (size_t)len;
		p.vsize = vsize;
		p.flags = flags & STORED_FLAGS;
		p.kwmask = nkeywords ? (1u << nkeywords) - 1 : 0;
		p.kwnames = keywords;
		r = commit(ms, &f, &p, 1, NULL, uidvalidity, &committed, err,
		           errlen);
		if (r == MAIL_OK)
			*uid = p.uid;
	}
	if (!committed)
		unlinkat(f.tmpfd, tmp, 0);
	free(p.tmp);
	free(p.final);
	folder_close(&f);
	return r;
}

/* ---- COPY and MOVE ---- */

static enum mail_result
copy_file(int sdir, const char *sname, int ddir, const char *dname, char *err,
          size_t errlen)
{
	struct stat sb;
	uint64_t vsize;
	enum mail_result r;
	int in = openat(sdir, sname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return sys_error(err, errlen, "open", sname);
	if (fstat(in, &sb) < 0) {
		r = sys_error(err, errlen, "stat", sname);
		close(in);
		return r;
	}
	int out = openat(ddir, dname,
	                 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	                 0600);
	if (out < 0) {
		r = sys_error(err, errlen, "create", dname);
		close(in);
		return r;
	}
	struct timespec times[2] = {{0, UTIME_NOW}, sb.st_mtim};
	r = copy_in(in, out, (uint64_t)sb.st_size, &vsize, err, errlen);
	if (r == MAIL_OK && (futimens(out, times) < 0 || fsync(out) < 0))
		r = sys_error(err, errlen, "fsync", dname);
	if (close_checked(out) < 0 && r == MAIL_OK)
		r = sys_error(err, errlen, "close", dname);
	close(in);
	if (r != MAIL_OK)
		unlinkat(ddir, dname, 0);
	return r;
}

/* Puts a copy of x into dst's tmp/: a hard link (same file, same date),
 * or a copy where links don't work. */
static enum mail_result
stage_copy(struct mailbox *mb, struct rec *x, struct folder *dst,
           struct pending *p, char *err, size_t errlen)
{
	char tmp[FNAME_MAX + 1], base[FNAME_MAX + 1];
	bool refreshed = false;
	enum mail_result r;

	for (int attempt = 0; attempt < RETRIES; attempt++) {
		struct stat sb;
		int sdir = rec_dir(mb, x);
		bool learn = !x->size_known;
		if (fstatat(sdir, x->fname, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (learn && rec_vsize_at(sdir, x) < 0)) {
			if (errno != ENOENT)
				return sys_error(err, errlen, "stat", x->fname);
			if (refreshed)
				break;
			if ((r = refresh_names(mb, err, errlen)) != MAIL_OK)
				return r;
			refreshed = true;
			continue;
		}
		if (learn)
			mb->st.dirty++;
		unique_base(mb->ms, tmp, sizeof(tmp));
		int len = snprintf(base, sizeof(base), "%s,S=%lld,W=%" PRIu64,
		                   tmp, (long long)sb.st_size, x->msg.size);
		if (len < 0 || (size_t)len >= sizeof(base))
			return say(err, errlen, MAIL_ERROR,
			           "File name too long");
		if (linkat(sdir, x->fname, dst->tmpfd, tmp, 0) < 0) {
			if (errno == EEXIST)
				continue;
			if (errno == ENOENT && !refreshed) {
				if ((r = refresh_names(mb, err, errlen)) !=
				    MAIL_OK)
					return r;
				refreshed = true;
				continue;
			}
			if (errno != EXDEV && errno != EPERM &&
			    errno != EMLINK && errno != ENOTSUP)
				return sys_error(err, errlen, "link", x->fname);
			r = copy_file(sdir, x->fname, dst->tmpfd, tmp, err,
			              errlen);
			if (r != MAIL_OK)
				return r;
		}
		if ((p->tmp = strdup(tmp)) == NULL ||
		    (p->final = strdup(base)) == NULL) {
			unlinkat(dst->tmpfd, tmp, 0);
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		}
		p->baselen = (size_t)len;
		p->vsize = x->msg.size;
		p->flags = x->msg.flags & STORED_FLAGS;
		p->kwmask = x->msg.keywords;
		p->kwnames = (const char *const *)mb->st.kw;
		return MAIL_OK;
	}
	return say(err, errlen, MAIL_NO, "Some of the messages were expunged");
}

static enum mail_result
copy_or_move(struct mailbox *mb, const uint32_t *seqs, size_t n,
             const char *dest, bool move, uint32_t *dest_uidvalidity,
             uint32_t *dest_uids, char *err, size_t errlen)
{
	unpark(mb);
	char norm[MAIL_NAME_MAX + 1];
	struct folder dst;
	bool committed = false;
	size_t staged = 0;
	enum mail_result r;

	if (move && mb->readonly)
		return say(err, errlen, MAIL_NO, "Mailbox is read-only");
	for (size_t i = 0; i < n; i++)
		if (seqs[i] == 0 || seqs[i] > mb->st.n)
			return say(err, errlen, MAIL_NO,
			           "Invalid message number");
	if ((r = open_target(mb->ms, dest, norm, &dst, err, errlen)) != MAIL_OK)
		return r;
	struct pending *p = calloc(n + 1, sizeof(*p));
	if (p == NULL) {
		folder_close(&dst);
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	}
	for (; staged < n; staged++) {
		struct rec *x = &mb->st.recs[seqs[staged] - 1];
		r = stage_copy(mb, x, &dst, &p[staged], err, errlen);
		if (r != MAIL_OK)
			break;
		p[staged].src = move ? x : NULL;
	}
	/* the links must be durable before a journal points at them */
	if (r == MAIL_OK && (n > 1 || move) && fsync(dst.tmpfd) < 0)
		r = sys_error(err, errlen, "fsync", "tmp/");
	if (r == MAIL_OK)
		r = commit(mb->ms, &dst, p, n, move ? mb : NULL,
		           dest_uidvalidity, &committed, err, errlen);
	if (!committed)
		for (size_t i = 0; i < staged; i++)
			unlinkat(dst.tmpfd, p[i].tmp, 0);
	if (r == MAIL_OK)
		for (size_t i = 0; i < n; i++)
			dest_uids[i] = p[i].uid;
	pending_free(p, n);
	folder_close(&dst);
	return r;
}

enum mail_result
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
             const char *dest, uint32_t *dest_uidvalidity, uint32_t *dest_uids,
             char *err, size_t errlen)
{
	return copy_or_move(mb, seqs, n, dest, false, dest_uidvalidity,
	                    dest_uids, err, errlen);
}

enum mail_result
mailbox_move(struct mailbox *mb, const uint32_t *seqs, size_t n,
             const char *dest, uint32_t *dest_uidvalidity, uint32_t *dest_uids,
             char *err, size_t errlen)
{
	return copy_or_move(mb, seqs, n, dest, true, dest_uidvalidity,
	                    dest_uids, err, errlen);
}

/* ---- the open mailbox ---- */

/* Files left in tmp/ by deliveries that died. ctime, not mtime: a COPY
 * stages hard links, which keep an old mtime but get a new ctime. */
static void
clean_tmp(struct folder *f)
{
	time_t now = time(NULL);
	struct stat tsb;
	/* swept lately: reading it at every SELECT cost four system calls
	 * for what a kill leaves behind once in a long while */
	if (fstat(f->tmpfd, &tsb) < 0 ||
	    (tsb.st_atime > now - TMP_SCAN_INTERVAL && tsb.st_atime <= now))
		return;
	int fd = openat(f->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct dirrd d;
	dirrd_init(&d, fd);
	const struct dirent64 *de;
	while ((de = dirrd_next(&d)) != NULL) {
		struct stat sb;
		if (de->d_name[0] == '.' ||
		    fstatat(f->tmpfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (now - sb.st_ctim.tv_sec > TMP_MAX_AGE &&
		    now - sb.st_mtim.tv_sec > TMP_MAX_AGE)
			unlinkat(f->tmpfd, de->d_name, 0);
	}
	dirrd_close(&d);
	/* set even where reads don't move atime (noatime, relatime); "now"
	 * needs only write permission, an explicit time ownership */
	struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
	futimens(f->tmpfd, ts);
}

enum mail_result
mailbox_open(struct mailstore *ms, const char *name, bool readonly,
             struct mailbox **out, char *err, size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1];
	*out = NULL;
	if (!norm_name(name, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	struct mailbox *mb = calloc(1, sizeof(*mb));
	if (mb == NULL)
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	mb->ms = ms;
	mb->readonly = readonly;
	enum mail_result r = folder_open(ms, norm, &mb->f, err, errlen);
	if (r == MAIL_OK && (r = folder_lock(&mb->f, err, errlen)) == MAIL_OK) {
		r = sync_locked(ms, &mb->f, &mb->st, readonly ? 0 : SYNC_RW,
		                NULL, false, err, errlen);
		if (r == MAIL_OK && !readonly)
			clean_tmp(&mb->f);
		folder_unlock(&mb->f);
	}
	if (r != MAIL_OK) {
		ulstate_free(&mb->st);
		folder_close(&mb->f);
		free(mb);
		return r;
	}
	mb->first_pending = true;
	*out = mb;
	return MAIL_OK;
}

void
mailbox_close(struct mailbox *mb)
{
	if (mb == NULL)
		return;
	flush_pending(mb);
	/* sizes learnt by reading files: keep them for next time */
	if (mb->st.dirty > 0 && folder_lock(&mb->f, NULL, 0) == MAIL_OK) {
		sync_locked(mb->ms, &mb->f, &mb->st, SYNC_FLUSH, NULL, false,
		            NULL, 0);
		folder_unlock(&mb->f);
	}
	mail_cache_free(mb->cache);
	free(mb->parked);
	ulstate_free(&mb->st);
	folder_close(&mb->f);
	free(mb);
}

bool
mailbox_close_writes(const struct mailbox *mb)
{
	return mb != NULL && (mb->fsync_pending || mb->st.dirty > 0);
}

/* ---- the FETCH cache ---- */

/* Whether a cached UID may still be asked for: ours, or newer than what
 * this session has seen. */
static bool
cache_live(void *arg, uint32_t uid)
{
	const struct mailbox *mb = arg;
	return uid >= mb->st.uidnext || mailbox_seq_of_uid(mb, uid) != 0;
}

static struct mail_cache *
cache_of(struct mailbox *mb)
{
	if (mb->cache == NULL)
		mb->cache = mail_cache_new(mb->f.dfd, mb->st.uidvalidity,
		                           cache_live, mb);
	return mb->cache;
}

bool
mailbox_cache_get(struct mailbox *mb, uint32_t seq, enum mail_cache_field field,
                  struct buf *out)
{
	unpark(mb);
	if (seq == 0 || seq > mb->st.n || cache_of(mb) == NULL)
		return false;
	return mail_cache_get(mb->cache, mb->st.recs[seq - 1].msg.uid, field,
	                      out);
}

void
mailbox_cache_put(struct mailbox *mb, uint32_t seq, const struct buf *vals)
{
	unpark(mb);
	if (seq == 0 || seq > mb->st.n || cache_of(mb) == NULL)
		return;
	mail_cache_put(mb->cache, mb->st.recs[seq - 1].msg.uid, vals);
}

static uint32_t
count_recent(const struct ulstate *st)
{
	uint32_t n = 0;
	for (size_t i = 0; i < st->n; i++)
		n += (st->recs[i].msg.flags & MAIL_RECENT) != 0;
	return n;
}

enum mail_result
mailbox_sync(struct mailbox *mb, struct mail_changes *ch, char *err,
             size_t errlen)
{
	unpark(mb);
	memset(ch, 0, sizeof(*ch));
	if (mb->f.dfd < 0) /* lost while parked */
		return say(err, errlen, MAIL_NONEXISTENT,
		           "Mailbox doesn't exist");
	flush_pending(mb);
	/* also right after open: the counts are all the first sync tells */
	if (sync_quick(&mb->f, &mb->st)) {
		ch->exists = (uint32_t)mb->st.n;
		ch->recent = count_recent(&mb->st);
		mb->first_pending = false;
		return MAIL_OK;
	}
	enum mail_result r = folder_lock(&mb->f, err, errlen);
	if (r != MAIL_OK)
		return r;
	r = sync_locked(mb->ms, &mb->f, &mb->st, mb->readonly ? 0 : SYNC_RW, ch,
	                mb->first_pending, err, errlen);
	folder_unlock(&mb->f);
	if (r == MAIL_OK)
		mb->first_pending = false;
	return r;
}

void
mail_changes_free(struct mail_changes *ch)
{
	if (ch == NULL)
		return;
	free(ch->expunged);
	free(ch->flagged);
	memset(ch, 0, sizeof(*ch));
}

uint32_t
mailbox_count(const struct mailbox *mb)
{
	return (uint32_t)mb->st.n;
}

const struct mail_msg *
mailbox_msg(const struct mailbox *mb, uint32_t seq)
{
	unpark((struct mailbox *)mb); /* see mailbox_msg() below */
	if (seq == 0 || seq > mb->st.n)
		return NULL;
	/* the size and date cache belongs to the mailbox, hence the cast:
	 * the mailbox was never defined const */
	struct mailbox *m = (struct mailbox *)mb;
	struct rec *x = &m->st.recs[seq - 1];
	if (!x->size_known)
		rec_fill(m, x);
	/* cleared where it is stored: the merge at the next sync keeps it
	 * cleared, and a message new since then is cleared on first look */
	if (m->hide_recent)
		x->msg.flags &= ~(uint32_t)MAIL_RECENT;
	return &x->msg;
}

int64_t
mailbox_msg_date(struct mailbox *mb, uint32_t seq)
{
	if (mailbox_msg(mb, seq) == NULL)
		return 0;
	struct rec *x = &mb->st.recs[seq - 1];
	if (!x->date_known)
		rec_fill(mb, x);
	return x->msg.internaldate;
}

void
mailbox_hide_recent(struct mailbox *mb)
{
	mb->hide_recent = true;
}

uint32_t
mailbox_seq_of_uid(const struct mailbox *mb, uint32_t uid)
{
	unpark((struct mailbox *)mb);
	size_t lo = 0, hi = mb->st.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u = mb->st.recs[mid].msg.uid;
		if (u == uid)
			return (uint32_t)mid + 1;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

size_t
mailbox_watch_paths(const struct mailbox *mb, char paths[2][MAIL_PATH_MAX])
{
	char dir[FNAME_MAX + 1];
	if (!dir_of(mb->f.name, dir))
		return 0;
	static const char *const subs[] = {"new", "cur"};
	for (size_t i = 0; i < 2; i++)
		if (snprintf(paths[i], MAIL_PATH_MAX, "%s/%s/%s", mb->ms->root,
		             dir, subs[i]) >= MAIL_PATH_MAX)
			return 0;
	return 2;
}

uint32_t
mailbox_uidvalidity(const struct mailbox *mb)
{
	return mb->st.uidvalidity;
}

uint32_t
mailbox_uidnext(const struct mailbox *mb)
{
	return mb->st.uidnext;
}

bool
mailbox_readonly(const struct mailbox *mb)
{
	return mb->readonly;
}

size_t
mailbox_keywords(const struct mailbox *mb, const char *const **out)
{
	*out = (const char *const *)mb->st.kw;
	return mb->st.nkw;
}

int
mailbox_keyword_index(struct mailbox *mb, const char *keyword)
{
	if (keyword == NULL || !keyword_valid(keyword))
		return -1;
	int i = kw_find(&mb->st, keyword);
	if (i >= 0 || mb->readonly)
		return i;
	if (folder_lock(&mb->f, NULL, 0) != MAIL_OK)
		return MAIL_KEYWORD_FAILED;
	enum mail_result r =
	        kw_add_locked(&mb->f, &mb->st, keyword, &i, NULL, 0);
	folder_unlock(&mb->f);
	if (r == MAIL_NOSPACE)
		return MAIL_KEYWORD_NOSPACE;
	return r == MAIL_OK ? i : MAIL_KEYWORD_FAILED;
}

/* Opens the message's file (learning its name if another session renamed
 * it), a regular file whose stat goes to *sb. */
static enum mail_result
msg_fd(struct mailbox *mb, struct rec *x, int *fdp, struct stat *sb, char *err,
       size_t errlen)
{
	enum mail_result r;
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = openat(rec_dir(mb, x), x->fname,
		                O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			if (fstat(fd, sb) == 0 && S_ISREG(sb->st_mode)) {
				*fdp = fd;
				return MAIL_OK;
			}
			close(fd);
			break;
		}
		if (errno != ENOENT)
			return sys_error(err, errlen, "open", x->fname);
		if (attempt == 0 &&
		    (r = refresh_names(mb, err, errlen)) != MAIL_OK)
			return r;
	}
	return say(err, errlen, MAIL_NO, "Message was expunged");
}

enum mail_result
mailbox_msg_open(struct mailbox *mb, uint32_t seq, struct mail_stream **out,
                 char *err, size_t errlen)
{
	unpark(mb);
	*out = NULL;
	if (seq == 0 || seq > mb->st.n)
		return say(err, errlen, MAIL_NO, "Invalid message number");
	struct rec *x = &mb->st.recs[seq - 1];
	int fd = -1;
	struct stat sb;
	enum mail_result r = msg_fd(mb, x, &fd, &sb, err, errlen);
	if (r != MAIL_OK)
		return r;
	/* The size the stream promises is this file's: the one we know is
	 * (files never change) unless the file is not what its name says
	 * (S=) or is larger, then it is counted from the file itself. */
	uint64_t size, psize;
	if (x->size_known && !x->gone && x->msg.size >= (uint64_t)sb.st_size &&
	    (!base_size(x->fname, x->baselen, 'S', &psize) ||
	     psize == (uint64_t)sb.st_size)) {
		size = x->msg.size;
	} else if (mail_crlf_size(fd, &size) < 0 ||
	           lseek(fd, 0, SEEK_SET) != 0) {
		r = sys_error(err, errlen, "read", x->fname);
		close(fd);
		return r;
	} else {
		if (!x->size_known || x->msg.size != size) {
			x->msg.size = size;
			x->size_known = x->size_dirty = true;
			mb->st.dirty++;
		}
		x->gone = false;
	}
	*out = mail_stream_new(fd, size);
	if (*out == NULL) {
		close(fd);
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	}
	return MAIL_OK;
}

enum mail_result
mailbox_set_flags(struct mailbox *mb, uint32_t seq, uint32_t flags,
                  uint32_t keywords, char *err, size_t errlen)
{
	return mailbox_change_flags(mb, seq, MAIL_FLAGS_SET, flags, keywords,
	                            err, errlen);
}

enum mail_result
mailbox_change_flags(struct mailbox *mb, uint32_t seq, enum mail_flags_op op,
                     uint32_t change, uint32_t kwchange, char *err,
                     size_t errlen)
{
	unpark(mb);
	char to[FNAME_MAX + 1];
	bool refreshed = false;
	enum mail_result r;
	uint32_t flags = 0, keywords = 0;

	if (mb->readonly)
		return say(err, errlen, MAIL_NO, "Mailbox is read-only");
	if (seq == 0 || seq > mb->st.n)
		return say(err, errlen, MAIL_NO, "Invalid message number");
	struct rec *x = &mb->st.recs[seq - 1];
	uint32_t defined = kw_defined(&mb->st);
	change &= STORED_FLAGS;
	kwchange &= defined;
	if ((r = folder_lock(&mb->f, err, errlen)) != MAIL_OK)
		return r;
	for (;;) {
		/* Adding or removing starts from the flags the file has
		 * now, which under the lock its name tells: another session
		 * may have changed others since we last synced (a rename we
		 * see below as ENOENT), and those changes must stay. */
		uint32_t cur = 0, curkw = 0;
		if (op != MAIL_FLAGS_SET)
			info_parse(x->fname, defined, &cur, &curkw);
		flags = op == MAIL_FLAGS_SET   ? change
		        : op == MAIL_FLAGS_ADD ? cur | change
		                               : cur & ~change;
		keywords = op == MAIL_FLAGS_SET   ? kwchange
		           : op == MAIL_FLAGS_ADD ? curkw | kwchange
		                                  : curkw & ~kwchange;
		if (!name_with_flags(to, sizeof(to), x->fname, x->baselen,
		                     defined, flags, keywords)) {
			r = say(err, errlen, MAIL_NO, "File name too long");
			break;
		}
		if (!x->in_new && strcmp(to, x->fname) == 0) {
			/* nothing to rename, if the name is still the file's:
			 * if another session renamed it, its flags differ
			 * from what the old name says */
			if (faccessat(mb->f.curfd, x->fname, F_OK,
			              AT_SYMLINK_NOFOLLOW) == 0)
				break;
		} else if (renameat(rec_dir(mb, x), x->fname, mb->f.curfd,
		                    to) == 0) {
			char *c = npool_dup(&mb->st.names, to, strlen(to));
			if (c != NULL) {
				x->fname = c;
				x->in_new = false;
			} /* else: found again by name when next needed */
			/* one fsync of cur/ at the next sync, not one per
			 * message of a STORE 1:* */
			mb->fsync_pending = true;
			break;
		}
		/* ENOENT: renamed by another session since; learn its name
		 * and apply ours on top (a set replaces its flags, an add or
		 * remove keeps the others) */
		if (errno != ENOENT) {
			r = sys_error(err, errlen, "rename", x->fname);
			break;
		}
		if (refreshed) {
			r = say(err, errlen, MAIL_NO, "Message was expunged");
			break;
		}
		if ((r = refresh_names(mb, err, errlen)) != MAIL_OK)
			break;
		refreshed = true;
	}
	folder_unlock(&mb->f);
	if (r == MAIL_OK) {
		x->msg.flags = (x->msg.flags & MAIL_RECENT) | flags;
		x->msg.keywords = keywords;
	}
	return r;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

enum mail_result
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
                char *err, size_t errlen)
{
	unpark(mb);
	uint32_t *sorted = NULL;
	bool refreshed = false, removed = false;
	enum mail_result r;

	if (mb->readonly)
		return say(err, errlen, MAIL_NO, "Mailbox is read-only");
	if (uids != NULL && nuids > 0) {
		if ((sorted = malloc(nuids * sizeof(*sorted))) == NULL)
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		memcpy(sorted, uids, nuids * sizeof(*sorted));
		qsort(sorted, nuids, sizeof(*sorted), u32_cmp);
	}
	if ((r = folder_lock(&mb->f, err, errlen)) != MAIL_OK) {
		free(sorted);
		return r;
	}
	for (size_t i = 0; i < mb->st.n && r == MAIL_OK; i++) {
		struct rec *x = &mb->st.recs[i];
		if (!(x->msg.flags & MAIL_DELETED) ||
		    (uids != NULL &&
		     (sorted == NULL ||
		      bsearch(&x->msg.uid, sorted, nuids, sizeof(*sorted),
		              u32_cmp) == NULL)))
			continue;
		/* The file's own name decides: another session may have
		 * taken \Deleted off since (and renamed it). */
		while (has_letter(x->fname, 'T')) {
			if (unlinkat(rec_dir(mb, x), x->fname, 0) == 0) {
				removed = true;
				break;
			}
			if (errno != ENOENT) {
				r = sys_error(err, errlen, "unlink", x->fname);
				break;
			}
			if (refreshed)
				break; /* already gone */
			if ((r = refresh_names(mb, err, errlen)) != MAIL_OK)
				break;
			refreshed = true;
		}
	}
	/* the expunged are reported by the next sync, which also rewrites
	 * the uidlist without them */
	if (removed && (fsync(mb->f.curfd) < 0 || fsync(mb->f.newfd) < 0) &&
	    r == MAIL_OK)
		r = sys_error(err, errlen, "fsync", mb->f.name);
	folder_unlock(&mb->f);
	free(sorted);
	return r;
}

/* ---- folder names on disk ---- */

struct names {
	char **v;
	size_t n, cap;
};

static bool
names_add(struct names *ns, const char *s, size_t len)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		ns->v = v;
		ns->cap = cap;
	}
	if ((ns->v[ns->n] = strndup(s, len)) == NULL)
		return false;
	ns->n++;
	return true;
}

static void
names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

static int
names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and drops repeats. */
static void
names_sort(struct names *ns)
{
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof(*ns->v), names_cmp);
	size_t j = 0;
	for (size_t i = 0; i < ns->n; i++) {
		if (j > 0 && strcmp(ns->v[j - 1], ns->v[i]) == 0) {
			free(ns->v[i]);
			continue;
		}
		ns->v[j++] = ns->v[i];
	}
	ns->n = j;
}

/* First index whose name is >= s (names sorted). */
static size_t
names_lower(const struct names *ns, const char *s)
{
	size_t lo = 0, hi = ns->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ns->v[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
names_has(const struct names *ns, const char *s)
{
	size_t i = names_lower(ns, s);
	return i < ns->n && strcmp(ns->v[i], s) == 0;
}

/* True if some name in ns (sorted) lies below s in the hierarchy. */
static bool
names_has_below(const struct names *ns, const char *s)
{
	char prefix[MAIL_NAME_MAX + 2];
	size_t n = strlen(s);
	memcpy(prefix, s, n);
	prefix[n] = MAIL_HIERARCHY_SEP;
	prefix[n + 1] = '\0';
	size_t i = names_lower(ns, prefix);
	return i < ns->n && strncmp(ns->v[i], prefix, n + 1) == 0;
}

/* The folders that exist as directories (INBOX not included). A directory
 * whose name isn't a valid name, or isn't spelt the way we would spell it
 * (".inbox.x"), is not reachable and not listed. */
static enum mail_result
list_dirs(struct mailstore *ms, struct names *ns, struct names *deleted,
          char *err, size_t errlen)
{
	int fd = openat(ms->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_error(err, errlen, "opendir", "root");
	struct dirrd d;
	dirrd_init(&d, fd);
	memset(ns, 0, sizeof(*ns));
	if (deleted != NULL)
		memset(deleted, 0, sizeof(*deleted));
	const struct dirent64 *de;
	while ((de = dirrd_next(&d)) != NULL) {
		const char *n = de->d_name;
		char norm[MAIL_NAME_MAX + 1];
		struct stat sb;
		if (deleted != NULL &&
		    strncmp(n, DELETED_PREFIX, strlen(DELETED_PREFIX)) == 0) {
			/* best effort: a leftover is found again next time */
			names_add(deleted, n, strlen(n));
			continue;
		}
		if (n[0] != '.' || n[1] == '\0' || n[1] == '.' ||
		    !norm_name(n + 1, norm) || strcmp(norm, n + 1) != 0 ||
		    is_inbox(norm))
			continue;
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN))
			continue;
		if (de->d_type != DT_DIR &&
		    (fstatat(ms->rootfd, n, &sb, 0) < 0 ||
		     !S_ISDIR(sb.st_mode)))
			continue;
		if (!names_add(ns, norm, strlen(norm))) {
			dirrd_close(&d);
			names_free(ns);
			if (deleted != NULL)
				names_free(deleted);
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		}
	}
	dirrd_close(&d);
	names_sort(ns);
	return MAIL_OK;
}

static bool
folder_exists(struct mailstore *ms, const char *norm)
{
	char dir[FNAME_MAX + 1];
	struct stat sb;
	if (is_inbox(norm))
		return true;
	return dir_of(norm, dir) && fstatat(ms->rootfd, dir, &sb, 0) == 0 &&
	       S_ISDIR(sb.st_mode);
}

/* ---- subscriptions ---- */

/* Dovecot's file: one name per line, or after a "V\t2" line with tabs for
 * the hierarchy separator. We write the first form; Dovecot reads both. */
static enum mail_result
subs_read(struct mailstore *ms, struct names *ns, char *err, size_t errlen)
{
	char *data;
	size_t len;
	memset(ns, 0, sizeof(*ns));
	if (read_file_at(ms->rootfd, SUBS_FILE, &data, &len, NULL) < 0)
		return errno == ENOENT
		               ? MAIL_OK
		               : sys_error(err, errlen, "read", SUBS_FILE);
	bool v2 = strncmp(data, "V\t2\n", 4) == 0;
	char *save = NULL;
	for (char *line = strtok_r(v2 ? data + 4 : data, "\n", &save);
	     line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char norm[MAIL_NAME_MAX + 1];
		line[strcspn(line, "\r")] = '\0';
		for (char *t = line; v2 && *t != '\0'; t++)
			if (*t == '\t')
				*t = MAIL_HIERARCHY_SEP;
		if (!norm_name(line, norm))
			continue;
		if (!names_add(ns, norm, strlen(norm))) {
			free(data);
			names_free(ns);
			return say(err, errlen, MAIL_ERROR, "Out of memory");
		}
	}
	free(data);
	names_sort(ns);
	return MAIL_OK;
}

static enum mail_result
subs_change(struct mailstore *ms, const char *norm, bool on, char *err,
            size_t errlen)
{
	struct names ns;
	int lfd = -1;
	enum mail_result r = lock_at(ms->rootfd, STORE_LOCK, &lfd, err, errlen);
	if (r != MAIL_OK || (r = subs_read(ms, &ns, err, errlen)) != MAIL_OK)
		goto out;
	if (names_has(&ns, norm) != on) {
		struct buf b = BUF_INIT;
		bool ok = true;
		for (size_t i = 0; ok && i < ns.n; i++)
			if (strcmp(ns.v[i], norm) != 0)
				ok = buf_printf(&b, "%s\n", ns.v[i]);
		if (on)
			ok = ok && buf_printf(&b, "%s\n", norm);
		r = ok ? replace_file(ms->rootfd, SUBS_TMP, SUBS_FILE,
		                      buf_head(&b), buf_used(&b), err, errlen)
		       : say(err, errlen, MAIL_ERROR, "Out of memory");
		buf_free(&b);
	}
	names_free(&ns);
out:
	if (lfd >= 0)
		close(lfd);
	return r;
}

enum mail_result
mailstore_subscribe(struct mailstore *ms, const char *name, bool on, char *err,
                    size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1];
	if (!norm_name(name, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	if (on && !folder_exists(ms, norm))
		return say(err, errlen, MAIL_NONEXISTENT,
		           "Mailbox doesn't exist");
	return subs_change(ms, norm, on, err, errlen);
}

/* ---- LIST ---- */

static unsigned
special_use(const char *norm)
{
	static const struct {
		const char *name;
		unsigned attr;
	} uses[] = {
	        {"Drafts", MAIL_ATTR_DRAFTS},   {"Sent", MAIL_ATTR_SENT},
	        {"Trash", MAIL_ATTR_TRASH},     {"Junk", MAIL_ATTR_JUNK},
	        {"Archive", MAIL_ATTR_ARCHIVE},
	};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (strcmp(norm, uses[i].name) == 0)
			return uses[i].attr;
	return 0;
}

enum mail_result
mailstore_list(struct mailstore *ms,
               void (*fn)(const char *name, unsigned attrs, void *arg),
               void *arg, char *err, size_t errlen)
{
	struct names real, all, subs;
	memset(&all, 0, sizeof(all));
	enum mail_result r = list_dirs(ms, &real, NULL, err, errlen);
	if (r != MAIL_OK)
		return r;
	if ((r = subs_read(ms, &subs, err, errlen)) != MAIL_OK) {
		names_free(&real);
		return r;
	}
	/* every name, and every level above one ("a.b" makes "a") */
	bool ok = names_add(&all, "INBOX", 5);
	for (size_t i = 0; ok && i < real.n; i++) {
		const char *n = real.v[i];
		ok = names_add(&all, n, strlen(n));
		for (const char *p = strchr(n, MAIL_HIERARCHY_SEP);
		     ok && p != NULL; p = strchr(p + 1, MAIL_HIERARCHY_SEP))
			ok = names_add(&all, n, (size_t)(p - n));
	}
	if (!ok) {
		r = say(err, errlen, MAIL_ERROR, "Out of memory");
		goto out;
	}
	names_sort(&all);
	/* subscribed names that are no mailbox come in name order too */
	struct names every;
	memset(&every, 0, sizeof(every));
	for (size_t i = 0; ok && i < all.n; i++)
		ok = names_add(&every, all.v[i], strlen(all.v[i]));
	for (size_t i = 0; ok && i < subs.n; i++)
		ok = names_add(&every, subs.v[i], strlen(subs.v[i]));
	if (!ok) {
		names_free(&every);
		r = say(err, errlen, MAIL_ERROR, "Out of memory");
		goto out;
	}
	names_sort(&every);
	for (size_t i = 0; i < every.n; i++) {
		const char *n = every.v[i];
		if (!names_has(&all, n)) {
			fn(n, MAIL_ATTR_NONEXISTENT | MAIL_ATTR_SUBSCRIBED,
			   arg);
			continue;
		}
		unsigned attrs = special_use(n);
		if (!is_inbox(n) && !names_has(&real, n))
			attrs |= MAIL_ATTR_NOSELECT;
		attrs |= names_has_below(&all, n) ? MAIL_ATTR_HASCHILDREN
		                                  : MAIL_ATTR_HASNOCHILDREN;
		if (names_has(&subs, n))
			attrs |= MAIL_ATTR_SUBSCRIBED;
		fn(n, attrs, arg);
	}
	names_free(&every);
out:
	names_free(&real);
	names_free(&all);
	names_free(&subs);
	return r;
}

/* ---- CREATE, DELETE, RENAME ---- */

static enum mail_result
create_folder(struct mailstore *ms, const char *norm, char *err, size_t errlen)
{
	char dir[FNAME_MAX + 1];
	struct stat sb;
	if (is_inbox(norm))
		return say(err, errlen, MAIL_ALREADYEXISTS,
		           "Mailbox already exists");
	if (!dir_of(norm, dir))
		return say(err, errlen, MAIL_NO, "Mailbox name too long");
	if (mkdirat(ms->rootfd, dir, 0700) < 0) {
		if (errno != EEXIST)
			return sys_error(err, errlen, "mkdir", norm);
		int dfd = openat(ms->rootfd, dir,
		                 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		bool whole = dfd >= 0 &&
		             fstatat(dfd, "cur", &sb, AT_SYMLINK_NOFOLLOW) == 0;
		if (dfd >= 0)
			close(dfd);
		if (dfd < 0 || whole)
			return say(err, errlen, MAIL_ALREADYEXISTS,
			           "Mailbox already exists");
		/* a creation cut short: finish it */
	}
	int dfd = openat(ms->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sys_error(err, errlen, "open", norm);
	static const char *const subs[] = {"tmp", "new", "cur"};
	enum mail_result r = MAIL_OK;
	for (size_t i = 0; i < 3 && r == MAIL_OK; i++)
		if (mkdirat(dfd, subs[i], 0700) < 0 && errno != EEXIST)
			r = sys_error(err, errlen, "mkdir", norm);
	int m = r == MAIL_OK
	                ? openat(dfd, FOLDER_MARKER,
	                         O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	                         0600)
	                : -1;
	if (m >= 0)
		close(m);
	else if (r == MAIL_OK)
		r = sys_error(err, errlen, "create", FOLDER_MARKER);
	if (r == MAIL_OK && (fsync(dfd) < 0 || fsync(ms->rootfd) < 0))
		r = sys_error(err, errlen, "fsync", norm);
	close(dfd);
	return r;
}

enum mail_result
mailstore_create(struct mailstore *ms, const char *name, char *err,
                 size_t errlen)
{
	char copy[MAIL_NAME_MAX + 2], norm[MAIL_NAME_MAX + 1];
	if (name == NULL)
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	/* "a.b." asks for a name meant to hold others: it is "a.b"
	 * (RFC 9051 6.3.4) */
	size_t n = strnlen(name, sizeof(copy));
	if (n >= sizeof(copy))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	memcpy(copy, name, n + 1);
	if (n > 1 && copy[n - 1] == MAIL_HIERARCHY_SEP)
		copy[n - 1] = '\0';
	if (!norm_name(copy, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	return create_folder(ms, norm, err, errlen);
}

/* Deletes a directory tree without following links out of it. */
static void
rm_tree(int parent, const char *name, int depth)
{
	int fd = openat(parent, name,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 || depth > RM_DEPTH_MAX ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		else
			unlinkat(parent, name, 0);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		struct stat sb;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		bool isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN &&
		    fstatat(fd, n, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			isdir = S_ISDIR(sb.st_mode);
		if (isdir)
			rm_tree(fd, n, depth + 1);
		else
			unlinkat(fd, n, 0);
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0)
		log_warn("maildir: can't remove %s: %s", name, strerror(errno));
}

enum mail_result
mailstore_delete(struct mailstore *ms, const char *name, char *err,
                 size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1], dir[FNAME_MAX + 1], trash[FNAME_MAX + 1];
	if (!norm_name(name, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	if (is_inbox(norm))
		return say(err, errlen, MAIL_NO, "INBOX can't be deleted");
	if (!folder_exists(ms, norm) || !dir_of(norm, dir)) {
		struct names real;
		enum mail_result r = list_dirs(ms, &real, NULL, err, errlen);
		if (r != MAIL_OK)
			return r;
		bool below = names_has_below(&real, norm);
		names_free(&real);
		/* RFC 9051 6.3.4: a \Noselect name with inferiors */
		return below ? say(err, errlen, MAIL_NO,
		                   "Mailbox has children and holds no "
		                   "messages of its own")
		             : say(err, errlen, MAIL_NONEXISTENT,
		                   "Mailbox doesn't exist");
	}
	/* Renamed away first, so the folder vanishes at once and whole;
	 * a removal cut short is finished at the next login. Children
	 * (".a.b" for "a") are directories of their own and stay, and "a"
	 * becomes \Noselect, as RFC 9051 6.3.4 wants. */
	snprintf(trash, sizeof(trash), "%s%lld.%ld.%lu", DELETED_PREFIX,
	         (long long)time(NULL), (long)getpid(),
	         atomic_fetch_add(&name_counter, 1) + 1);
	if (renameat(ms->rootfd, dir, ms->rootfd, trash) < 0) {
		if (errno == ENOENT)
			return say(err, errlen, MAIL_NONEXISTENT,
			           "Mailbox doesn't exist");
		return sys_error(err, errlen, "rename", norm);
	}
	fsync(ms->rootfd);
	rm_tree(ms->rootfd, trash, 0);
	return MAIL_OK;
}

/* RFC 9051 6.3.6: INBOX's messages go to a new folder, INBOX stays (empty,
 * its UIDs not reused: its uidlist keeps uidnext). */
static enum mail_result
rename_inbox(struct mailstore *ms, const char *to, char *err, size_t errlen)
{
	struct folder in, dst;
	struct scan s;
	char *data;
	size_t len;
	if (folder_exists(ms, to))
		return say(err, errlen, MAIL_ALREADYEXISTS,
		           "Mailbox already exists");
	enum mail_result r = create_folder(ms, to, err, errlen);
	if (r != MAIL_OK)
		return r;
	if ((r = folder_open(ms, "INBOX", &in, err, errlen)) != MAIL_OK)
		return r;
	if ((r = folder_open(ms, to, &dst, err, errlen)) != MAIL_OK) {
		folder_close(&in);
		return r;
	}
	/* INBOX first, then the new folder: no other path holds two */
	if ((r = folder_lock(&in, err, errlen)) != MAIL_OK)
		goto out;
	if ((r = folder_lock(&dst, err, errlen)) != MAIL_OK) {
		folder_unlock(&in);
		goto out;
	}
	/* same keyword letters, same keywords */
	if (read_file_at(in.dfd, KEYWORDS_FILE, &data, &len, NULL) == 0) {
		r = replace_file(dst.dfd, KEYWORDS_TMP, KEYWORDS_FILE, data,
		                 len, err, errlen);
		free(data);
	}
	if (r == MAIL_OK &&
	    (r = scan_folder(&in, &s, err, errlen)) == MAIL_OK) {
		for (size_t i = 0; i < s.n && r == MAIL_OK; i++) {
			const struct sent *e = &s.e[i];
			if (renameat(e->in_new ? in.newfd : in.curfd, e->name,
			             e->in_new ? dst.newfd : dst.curfd,
			             e->name) < 0 &&
			    errno != ENOENT)
				r = sys_error(err, errlen, "rename", e->name);
		}
		scan_free(&s);
		if (fsync(dst.curfd) < 0 || fsync(dst.newfd) < 0 ||
		    fsync(in.curfd) < 0 || fsync(in.newfd) < 0)
			r = r != MAIL_OK ? r
			                 : sys_error(err, errlen, "fsync", to);
	}
	folder_unlock(&dst);
	folder_unlock(&in);
out:
	folder_close(&in);
	folder_close(&dst);
	return r;
}

enum mail_result
mailstore_rename(struct mailstore *ms, const char *from, const char *to,
                 char *err, size_t errlen)
{
	char f[MAIL_NAME_MAX + 1], t[MAIL_NAME_MAX + 1];
	char fdir[FNAME_MAX + 1], tdir[FNAME_MAX + 1];
	struct names real, moves;
	struct stat sb;
	enum mail_result r;

	if (!norm_name(from, f) || !norm_name(to, t))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	if (is_inbox(t) || strcmp(f, t) == 0)
		return say(err, errlen, MAIL_ALREADYEXISTS,
		           "Mailbox already exists");
	if (is_inbox(f))
		return rename_inbox(ms, t, err, errlen);
	size_t fl = strlen(f), tl = strlen(t);
	if (strncmp(t, f, fl) == 0 && t[fl] == MAIL_HIERARCHY_SEP)
		return say(err, errlen, MAIL_NO,
		           "Can't move a mailbox below itself");
	if ((r = list_dirs(ms, &real, NULL, err, errlen)) != MAIL_OK)
		return r;
	/* the folder and everything below it, as pairs old, new */
	memset(&moves, 0, sizeof(moves));
	bool ok = true;
	for (size_t i = 0; ok && i < real.n; i++) {
		const char *n = real.v[i];
		if (strncmp(n, f, fl) != 0 ||
		    (n[fl] != '\0' && n[fl] != MAIL_HIERARCHY_SEP))
			continue;
		char nt[MAIL_NAME_MAX + 2];
		size_t rest = strlen(n + fl);
		if (tl + rest > MAIL_NAME_MAX) {
			names_free(&real);
			names_free(&moves);
			return say(err, errlen, MAIL_NO,
			           "Mailbox name too long");
		}
		memcpy(nt, t, tl);
		memcpy(nt + tl, n + fl, rest + 1);
		ok = names_add(&moves, n, strlen(n)) &&
		     names_add(&moves, nt, strlen(nt));
	}
	names_free(&real);
	if (!ok) {
		names_free(&moves);
		return say(err, errlen, MAIL_ERROR, "Out of memory");
	}
	if (moves.n == 0) {
		names_free(&moves);
		return say(err, errlen, MAIL_NONEXISTENT,
		           "Mailbox doesn't exist");
	}
	/* all new names must be free before anything moves */
	for (size_t i = 1; i < moves.n; i += 2) {
		if (!dir_of(moves.v[i], tdir)) {
			r = say(err, errlen, MAIL_NO, "Mailbox name too long");
			break;
		}
		if (fstatat(ms->rootfd, tdir, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			r = say(err, errlen, MAIL_ALREADYEXISTS,
			        "Mailbox already exists");
			break;
		}
	}
	if (r == MAIL_OK && folder_exists(ms, t) == true)
		r = say(err, errlen, MAIL_ALREADYEXISTS,
		        "Mailbox already exists");
	for (size_t i = 0; r == MAIL_OK && i < moves.n; i += 2) {
		dir_of(moves.v[i], fdir);
		dir_of(moves.v[i + 1], tdir);
		/* never onto an existing (even empty) directory */
		if (renameat2(ms->rootfd, fdir, ms->rootfd, tdir,
		              RENAME_NOREPLACE) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY)
				r = say(err, errlen, MAIL_ALREADYEXISTS,
				        "Mailbox already exists");
			else if (errno != ENOENT)
				r = sys_error(err, errlen, "rename", fdir);
		}
	}
	if (r == MAIL_OK && fsync(ms->rootfd) < 0)
		r = sys_error(err, errlen, "fsync", "root");
	names_free(&moves);
	return r;
}

/* ---- STATUS ---- */

enum mail_result
mailstore_status(struct mailstore *ms, const char *name, struct mail_status *st,
                 char *err, size_t errlen)
{
	char norm[MAIL_NAME_MAX + 1];
	struct folder f;
	struct ulstate u;
	if (!norm_name(name, norm))
		return say(err, errlen, MAIL_NO, "Invalid mailbox name");
	enum mail_result r = folder_open(ms, norm, &f, err, errlen);
	if (r != MAIL_OK)
		return r;
	memset(&u, 0, sizeof(u));
	memset(st, 0, sizeof(*st));
	if ((r = folder_lock(&f, err, errlen)) == MAIL_OK) {
		r = sync_locked(ms, &f, &u, SYNC_SIZES, NULL, false, err,
		                errlen);
		folder_unlock(&f);
	}
	if (r == MAIL_OK) {
		st->messages = (uint32_t)u.n;
		st->recent = count_recent(&u);
		st->uidnext = u.uidnext;
		st->uidvalidity = u.uidvalidity;
		for (size_t i = 0; i < u.n; i++) {
			st->unseen += !(u.recs[i].msg.flags & MAIL_SEEN);
			st->deleted +=
			        (u.recs[i].msg.flags & MAIL_DELETED) != 0;
			st->size += u.recs[i].msg.size;
		}
	}
	ulstate_free(&u);
	folder_close(&f);
	return r;
}

/* ---- the store ---- */

static int
mkdir_p(const char *path)
{
	char *p = strdup(path);
	if (p == NULL)
		return -1;
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

/* After a crash: finish interrupted COPY/MOVEs and folder removals, so a
 * MOVE never leaves its messages in both places for long. */
static void
recover_all(struct mailstore *ms, struct names *real)
{
	struct stat sb;
	struct names deleted;
	/* one pass over the root: folders, and folders half deleted */
	if (list_dirs(ms, real, &deleted, NULL, 0) != MAIL_OK) {
		memset(real, 0, sizeof(*real));
		return;
	}
	for (size_t i = 0; i < deleted.n; i++)
		rm_tree(ms->rootfd, deleted.v[i], 0);
	names_free(&deleted);
	for (size_t i = 0; i <= real->n; i++) {
		const char *n = i < real->n ? real->v[i] : "INBOX";
		char dir[FNAME_MAX + 1], path[FNAME_MAX + 32];
		struct folder f;
		if (!dir_of(n, dir))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_FILE);
		if (fstatat(ms->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (folder_open(ms, n, &f, NULL, 0) != MAIL_OK)
			continue;
		if (folder_lock(&f, NULL, 0) == MAIL_OK) {
			journal_recover(ms, &f, NULL, 0);
			folder_unlock(&f);
		}
		folder_close(&f);
	}
}

struct mailstore *
mailstore_open(const char *dir, char *err, size_t errlen)
{
	static const char *const special[] = {"Drafts", "Sent", "Trash", "Junk",
	                                      "Archive"};
	struct stat sb;
	if (dir == NULL || *dir == '\0') {
		say(err, errlen, MAIL_ERROR, "No mail directory");
		return NULL;
	}
	struct mailstore *ms = calloc(1, sizeof(*ms));
	if (ms == NULL) {
		say(err, errlen, MAIL_ERROR, "Out of memory");
		return NULL;
	}
	/* every login opens the store: the common case costs few system
	 * calls, creating things is for the first time */
	ms->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ms->rootfd < 0 && errno == ENOENT && mkdir_p(dir) == 0)
		ms->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ms->rootfd < 0) {
		sys_error(err, errlen, "open", dir);
		free(ms);
		return NULL;
	}
	if ((ms->root = strdup(dir)) == NULL) {
		say(err, errlen, MAIL_ERROR, "Out of memory");
		mailstore_close(ms);
		return NULL;
	}
	bool fresh = fstatat(ms->rootfd, "cur", &sb, 0) < 0;
	static const char *const subs[] = {"tmp", "new", "cur"};
	for (size_t i = 0; fresh && i < 3; i++) {
		int fd = open_subdir(ms->rootfd, subs[i]);
		if (fd < 0) {
			sys_error(err, errlen, "mkdir", dir);
			mailstore_close(ms);
			return NULL;
		}
		close(fd);
	}
	/* the host part of file names: no "/" or ":" (they would break the
	 * name), nothing odd */
	char host[HOST_MAX + 1] = "";
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[HOST_MAX] = '\0';
	strcpy(ms->rawhost, host);
	for (size_t i = 0; host[i] != '\0'; i++) {
		char c = host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		          c == '_';
		ms->host[i] = ok ? c : '_';
	}
	if (ms->host[0] == '\0')
		strcpy(ms->host, "localhost");
	struct names real;
	recover_all(ms, &real);
	if (fresh && subs_change(ms, "INBOX", true, NULL, 0) != MAIL_OK)
		log_warn("maildir: can't subscribe INBOX in %s", dir);
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (names_has(&real, special[i]) ||
		    (real.v == NULL && folder_exists(ms, special[i])))
			continue;
		/* a full disk must not stop the user reading mail */
		if (create_folder(ms, special[i], NULL, 0) != MAIL_OK ||
		    subs_change(ms, special[i], true, NULL, 0) != MAIL_OK)
			log_warn("maildir: can't create %s in %s", special[i],
			         dir);
	}
	names_free(&real);
	return ms;
}

void
mailstore_close(struct mailstore *ms)
{
	if (ms == NULL)
		return;
	if (ms->rootfd >= 0)
		close(ms->rootfd);
	free(ms->root);
	free(ms);
}
