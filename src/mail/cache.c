/*
 * The per-folder cache file (see cache.h). Layout, host byte order (a file
 * from a machine of the other order fails the magic and is rebuilt):
 *
 *   header  "IMAPCIDC" version uidvalidity nfields 0 0 checksum (32 bytes)
 *   record  magic uid len[MAIL_CACHE_NFIELDS] checksum, then the values
 *
 * Records are only ever appended, each with one write, by a writer holding
 * flock() on the file; a reader needs no lock, because it believes a
 * record only once its checksum matches. A torn tail (kill -9, a full
 * disk, a crash) is thus never served to readers and cut off by the next
 * writer. When records of expunged messages outnumber the live ones, the
 * writer copies the live ones to a new file and renames it over the old
 * one; the file is likewise replaced, never truncated in place, when its
 * header is bad or its UIDVALIDITY stale, so a reader's open descriptor
 * always shows a consistent file. Writers lock, then check that the name
 * still leads to the file they locked (else someone replaced it: retry).
 *
 * In memory a handle keeps only an index UID -> (offset, length), built by
 * one sequential pass over the records and extended as the file grows.
 * A reader's pass looks at record headers only: a session reads a few
 * records of a folder, and summing all of them just to index them cost
 * more than the rest of the cache did. A writer, which must append after
 * good records only, sums under its lock those the handle indexed
 * unchecked, once.
 */
#include "mail/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define CACHE_TMP   MAIL_CACHE_FILE ".tmp"
#define CACHE_MAGIC "IMAPCIDC"
/* Bump when the file layout or what mime.c writes for these items
 * changes: older files are then discarded rather than served. */
#define CACHE_VERSION 2 /* 2: BODYSTRUCTURE has Content-MD5 */
#define CACHE_HDR_LEN 32
#define REC_MAGIC     0x52434349u /* "ICCR" */
#define REC_HDR_LEN   (4 * (3 + MAIL_CACHE_NFIELDS))
/* A record over this is not cached (a message with thousands of parts):
 * it bounds what one read allocates. */
#define CACHE_RECORD_MAX (1024 * 1024)
/* Under glibc's threshold for serving malloc() by mmap(): a mapped
 * buffer, faulted in anew by every handle, cost more than the extra
 * reads of a large file. */
#define CACHE_READ_CHUNK (64 * 1024)
/* Sizes the first index from the file's size; a guess on the small side
 * (ENVELOPE, BODYSTRUCTURE and BODY of a plain message) costs a little
 * memory, one on the large side only a rehash. */
#define CACHE_RECORD_TYPICAL 1024
#define CACHE_INDEX_MIN      64
/* Compaction once dead records (expunged messages, duplicates) outnumber
 * live ones and are at least this many. */
#define CACHE_COMPACT_MIN 1024
/* A writer gives up (the put is skipped) rather than wait longer. */
#define CACHE_LOCK_TIMEOUT_MS 2000
#define CACHE_LOCK_POLL_MS    5
#define CACHE_LOCK_RETRIES    8 /* the file replaced under us in a row */

struct ent {
	uint32_t uid; /* 0: empty slot */
	uint32_t len;
	uint64_t off;
};

struct mail_cache {
	int dfd;
	uint32_t uidvalidity;
	bool (*live)(void *arg, uint32_t uid);
	void *arg;
	int fd;       /* the file, or -1 */
	off_t end;    /* records indexed up to here; 0: header not read */
	off_t good;   /* and their checksums verified up to here */
	bool broken;  /* writes failed for a reason that won't go away */
	bool checked; /* compaction considered for this file */
	struct ent *tab;
	size_t cap, n; /* slots (a power of two), used */
	size_t dups;   /* records superseded by a later one */
	uint8_t *rbuf; /* read window */
	size_t rcap, rhave;
	off_t rpos;
	/* The last record read and checked: FETCH asks for the fields of
	 * one message one after the other, and a read is a system call. */
	uint8_t *memo;
	size_t memo_len;
	uint32_t memo_uid; /* 0: none */
};

/* ---- checksums and encoding ---- */

static uint32_t
fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

#define FNV_INIT 2166136261u

static void
hdr_make(uint8_t out[CACHE_HDR_LEN], uint32_t uidvalidity)
{
	uint32_t w[5] = {CACHE_VERSION, uidvalidity, MAIL_CACHE_NFIELDS, 0, 0};
	memcpy(out, CACHE_MAGIC, 8);
	memcpy(out + 8, w, sizeof(w));
	uint32_t sum = fnv(FNV_INIT, out, CACHE_HDR_LEN - 4);
	memcpy(out + CACHE_HDR_LEN - 4, &sum, 4);
}

/* The record's checksum covers uid, lengths and values. */
static uint32_t
rec_sum(const uint8_t *rec, size_t len)
{
	uint32_t h = fnv(FNV_INIT, rec + 4, REC_HDR_LEN - 8);
	return fnv(h, rec + REC_HDR_LEN, len - REC_HDR_LEN);
}

/* ---- the index ---- */

static uint32_t
slot_of(uint32_t uid, size_t mask)
{
	return (uid * 2654435761u) & (uint32_t)mask;
}

static void
index_reset(struct mail_cache *c)
{
	free(c->tab);
	c->tab = NULL;
	c->cap = c->n = c->dups = 0;
	c->end = c->good = 0;
	c->checked = false;
	c->rhave = 0;
}

static struct ent *
index_find(const struct mail_cache *c, uint32_t uid)
{
	if (c->cap == 0)
		return NULL;
	for (size_t i = slot_of(uid, c->cap - 1);; i = (i + 1) & (c->cap - 1))
		if (c->tab[i].uid == uid)
			return &c->tab[i];
		else if (c->tab[i].uid == 0)
			return NULL;
}

/* Rehashes into cap slots (a power of two). */
static bool
index_resize(struct mail_cache *c, size_t cap)
{
	struct ent *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return false;
	for (size_t i = 0; i < c->cap; i++) {
		if (c->tab[i].uid == 0)
			continue;
		size_t j = slot_of(c->tab[i].uid, cap - 1);
		while (t[j].uid != 0)
			j = (j + 1) & (cap - 1);
		t[j] = c->tab[i];
	}
	free(c->tab);
	c->tab = t;
	c->cap = cap;
	return true;
}

/* Room for about n records without a rehash on the way. */
static void
index_expect(struct mail_cache *c, size_t n)
{
	size_t cap = CACHE_INDEX_MIN;
	while (cap * 3 < (c->n + n + 1) * 4)
		cap *= 2;
	if (cap > c->cap)
		index_resize(c, cap); /* else index_add grows it */
}

static bool
index_add(struct mail_cache *c, uint32_t uid, uint64_t off, uint32_t len)
{
	if ((c->n + 1) * 4 > c->cap * 3 &&
	    !index_resize(c, c->cap ? c->cap * 2 : CACHE_INDEX_MIN))
		return false;
	size_t i = slot_of(uid, c->cap - 1);
	while (c->tab[i].uid != 0 && c->tab[i].uid != uid)
		i = (i + 1) & (c->cap - 1);
	if (c->tab[i].uid == uid)
		c->dups++;
	else
		c->n++;
	c->tab[i] = (struct ent){uid, len, off};
	return true;
}

/* ---- reading ---- */

static ssize_t
pread_all(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)p + got, n - got,
		                  off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Makes [pos, pos + need) of the file, size bytes long, available at
 * c->rbuf + (pos - c->rpos); false at the end of the file or on an error.
 * Reads no further than the end: most files are far smaller than a chunk,
 * and a buffer of a chunk is one glibc maps and unmaps each time. */
static const uint8_t *
window(struct mail_cache *c, off_t pos, size_t need, off_t size)
{
	if (pos >= c->rpos && pos + (off_t)need <= c->rpos + (off_t)c->rhave)
		return c->rbuf + (pos - c->rpos);
	size_t want = CACHE_READ_CHUNK;
	if (size - pos < (off_t)want)
		want = (size_t)(size - pos);
	if (want < need)
		want = need;
	if (want > c->rcap) {
		/* whole pages: a later read of a file grown a little fits */
		size_t cap = (want + 4095) & ~(size_t)4095;
		uint8_t *p = realloc(c->rbuf, cap);
		if (p == NULL)
			return NULL;
		c->rbuf = p;
		c->rcap = cap;
	}
	ssize_t got = pread_all(c->fd, c->rbuf, want, pos);
	c->rpos = pos;
	c->rhave = got < 0 ? 0 : (size_t)got;
	return c->rhave >= need ? c->rbuf : NULL;
}

/* Length of the record at p (its header read), 0 if it makes no sense. */
static size_t
rec_len(const uint8_t *p, uint32_t *uid)
{
	uint32_t w[3 + MAIL_CACHE_NFIELDS];
	memcpy(w, p, sizeof(w));
	if (w[0] != REC_MAGIC || w[1] == 0)
		return 0;
	uint64_t len = REC_HDR_LEN;
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		len += w[2 + f];
	if (len > CACHE_RECORD_MAX)
		return 0;
	*uid = w[1];
	return (size_t)len;
}

/* The length of the record at pos if its checksum matches, else 0. */
static size_t
rec_check(struct mail_cache *c, off_t pos, off_t size, uint32_t *uid)
{
	uint32_t sum;
	const uint8_t *p = window(c, pos, REC_HDR_LEN, size);
	size_t len = p != NULL ? rec_len(p, uid) : 0;
	if (len == 0 || pos + (off_t)len > size ||
	    (p = window(c, pos, len, size)) == NULL)
		return 0;
	memcpy(&sum, p + REC_HDR_LEN - 4, 4);
	return sum == rec_sum(p, len) ? len : 0;
}

/* Checks the records indexed unchecked, [c->good, c->end): false if one is
 * damaged, or isn't the one indexed there (the file was cut and written
 * again since), and the index must be built again. A record superseded by
 * a later one of the same UID (two writers raced) also sends us to the
 * full checked scan: it is rare, and an entry pointing elsewhere cannot be
 * told from one left by a cut. */
static bool
verify(struct mail_cache *c, off_t size)
{
	off_t pos = c->good;
	while (pos < c->end) {
		uint32_t uid;
		size_t len = rec_check(c, pos, size, &uid);
		const struct ent *e = len != 0 ? index_find(c, uid) : NULL;
		if (e == NULL || e->off != (uint64_t)pos || e->len != len)
			return false;
		pos += (off_t)len;
	}
	if (pos != c->end)
		return false;
	c->good = pos;
	return true;
}

/* Indexes the records after c->end. Without the lock only their headers
 * are read, and what follows the last sane one may be a write still in
 * progress. With it, every record's checksum is verified and whatever
 * follows the last good one (a torn write) is cut off, so appends land
 * after good records only. */
static void
scan(struct mail_cache *c, bool locked)
{
	struct stat sb;
	if (fstat(c->fd, &sb) < 0)
		return;
	c->rhave = 0;
	/* A writer cut the file in place below what we indexed unchecked:
	 * past a damaged record, which it dropped with all that followed. */
	if (sb.st_size < c->end || (locked && !verify(c, sb.st_size))) {
		index_reset(c);
		c->end = c->good = CACHE_HDR_LEN;
	}
	off_t pos = c->end;
	if (sb.st_size > pos)
		index_expect(c,
		             (size_t)(sb.st_size - pos) / CACHE_RECORD_TYPICAL);
	while (pos + REC_HDR_LEN <= sb.st_size) {
		uint32_t uid;
		size_t len;
		if (locked) {
			len = rec_check(c, pos, sb.st_size, &uid);
		} else {
			const uint8_t *p =
			        window(c, pos, REC_HDR_LEN, sb.st_size);
			len = p != NULL ? rec_len(p, &uid) : 0;
			if (pos + (off_t)len > sb.st_size)
				len = 0;
		}
		if (len == 0 ||
		    !index_add(c, uid, (uint64_t)pos, (uint32_t)len))
			break;
		pos += (off_t)len;
	}
	c->end = pos;
	if (locked)
		c->good = pos;
	c->rhave = 0;
	if (locked && pos < sb.st_size) {
		log_info("maildir cache: dropping %lld damaged bytes",
		         (long long)(sb.st_size - pos));
		if (ftruncate(c->fd, pos) < 0)
			c->broken = true;
	}
}

/* True if the open file's header is ours and current. */
static bool
hdr_ok(struct mail_cache *c)
{
	uint8_t want[CACHE_HDR_LEN], got[CACHE_HDR_LEN];
	hdr_make(want, c->uidvalidity);
	return pread_all(c->fd, got, sizeof(got), 0) == CACHE_HDR_LEN &&
	       memcmp(want, got, sizeof(got)) == 0;
}

static void
detach(struct mail_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	index_reset(c);
	free(c->memo);
	c->memo = NULL;
	c->memo_uid = 0;
}

/* True if the name still leads to the file we have open. */
static bool
same_file(const struct mail_cache *c)
{
	struct stat a, b;
	return fstat(c->fd, &a) == 0 &&
	       fstatat(c->dfd, MAIL_CACHE_FILE, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- writing ---- */

/* flock() with a bound on the wait. */
static bool
lock_fd(int fd)
{
	for (int waited = 0;; waited += CACHE_LOCK_POLL_MS) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= CACHE_LOCK_TIMEOUT_MS)
			return false;
		struct timespec ts = {0, CACHE_LOCK_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Starts the file that will replace the current one: the header, and
 * our lock on it before anyone can see it. -1 on failure. */
static int
replace_begin(struct mail_cache *c)
{
	uint8_t hdr[CACHE_HDR_LEN];
	hdr_make(hdr, c->uidvalidity);
	int fd = openat(c->dfd, CACHE_TMP,
	                O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	                0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0 ||
	    pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		close(fd);
		unlinkat(c->dfd, CACHE_TMP, 0);
		return -1;
	}
	return fd;
}

/* Renames it over the current file and makes it ours (still locked). */
static bool
replace_commit(struct mail_cache *c, int fd, bool ok)
{
	if (!ok || renameat(c->dfd, CACHE_TMP, c->dfd, MAIL_CACHE_FILE) < 0) {
		close(fd);
		unlinkat(c->dfd, CACHE_TMP, 0);
		return false;
	}
	detach(c); /* drops the old file's lock */
	c->fd = fd;
	c->end = c->good = CACHE_HDR_LEN;
	scan(c, true);
	return true;
}

/* Whether dead records (expunged messages, duplicates) dominate. */
static bool
compact_wanted(struct mail_cache *c, size_t *dead)
{
	c->checked = true;
	*dead = c->dups;
	for (size_t i = 0; i < c->cap; i++)
		if (c->tab[i].uid != 0 && !c->live(c->arg, c->tab[i].uid))
			(*dead)++;
	size_t live = c->n + c->dups - *dead;
	return *dead >= CACHE_COMPACT_MIN && *dead > live;
}

/* Copies the live records to a new file, with the lock held. No fsync: a
 * file lost in a crash is a file to rebuild. */
static void
compact(struct mail_cache *c, size_t dead)
{
	int fd = replace_begin(c);
	if (fd < 0)
		return;
	uint8_t *rec = malloc(CACHE_RECORD_MAX);
	off_t at = CACHE_HDR_LEN;
	bool ok = rec != NULL;
	for (size_t i = 0; ok && i < c->cap; i++) {
		struct ent *e = &c->tab[i];
		if (e->uid == 0 || !c->live(c->arg, e->uid))
			continue;
		ok = pread_all(c->fd, rec, e->len, (off_t)e->off) ==
		             (ssize_t)e->len &&
		     pwrite(fd, rec, e->len, at) == (ssize_t)e->len;
		at += e->len;
	}
	free(rec);
	if (replace_commit(c, fd, ok))
		log_info("maildir cache: compacted, %zu records dropped", dead);
	c->checked = true;
}

/* On first reading a file: compacts it if it needs it and nobody else is
 * writing (else a later handle will). */
static void
compact_if_idle(struct mail_cache *c)
{
	size_t dead;
	if ((fcntl(c->fd, F_GETFL) & O_ACCMODE) != O_RDWR ||
	    !compact_wanted(c, &dead) || flock(c->fd, LOCK_EX | LOCK_NB) < 0)
		return;
	if (same_file(c)) {
		scan(c, true);
		if (compact_wanted(c, &dead))
			compact(c, dead);
	}
	flock(c->fd, LOCK_UN);
}

/* Opens the file if it is there and valid: for writing too if we may,
 * so that a later put needn't open and index it again. */
static bool
attach(struct mail_cache *c)
{
	c->fd = openat(c->dfd, MAIL_CACHE_FILE,
	               O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (c->fd < 0 && (errno == EACCES || errno == EROFS))
		c->fd = openat(c->dfd, MAIL_CACHE_FILE,
		               O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (c->fd < 0)
		return false;
	if (!hdr_ok(c)) {
		detach(c); /* rebuilt by the next put */
		return false;
	}
	c->end = c->good = CACHE_HDR_LEN;
	scan(c, false);
	compact_if_idle(c);
	return true;
}

/* ---- public ---- */

struct mail_cache *
mail_cache_new(int dfd, uint32_t uidvalidity,
               bool (*live)(void *arg, uint32_t uid), void *arg)
{
	struct mail_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->dfd = dfd;
	c->uidvalidity = uidvalidity;
	c->live = live;
	c->arg = arg;
	c->fd = -1;
	return c;
}

void
mail_cache_free(struct mail_cache *c)
{
	if (c == NULL)
		return;
	detach(c);
	free(c->rbuf);
	free(c);
}

bool
mail_cache_get(struct mail_cache *c, uint32_t uid, enum mail_cache_field field,
               struct buf *out)
{
	if (field >= MAIL_CACHE_NFIELDS || uid == 0)
		return false;
	if (c->fd < 0 && !attach(c))
		return false;
	struct ent *e = index_find(c, uid);
	if (e == NULL) {
		/* written by another handle since, or replaced */
		if (!same_file(c)) {
			detach(c);
			if (!attach(c))
				return false;
		} else {
			scan(c, false);
		}
		if ((e = index_find(c, uid)) == NULL)
			return false;
	}
	if (c->memo_uid != uid || c->memo_len != e->len) {
		free(c->memo);
		c->memo_uid = 0;
		if ((c->memo = malloc(e->len)) == NULL)
			return false;
		uint32_t w0[2], sum;
		bool ok = pread_all(c->fd, c->memo, e->len, (off_t)e->off) ==
		          (ssize_t)e->len;
		if (ok) {
			uint32_t huid;
			memcpy(w0, c->memo, sizeof(w0));
			memcpy(&sum, c->memo + REC_HDR_LEN - 4, 4);
			/* the lengths must add up to what was read, or a
			 * record changed in place (with a sum to match)
			 * would lead the reads below past the memo */
			ok = w0[0] == REC_MAGIC && w0[1] == uid &&
			     sum == rec_sum(c->memo, e->len) &&
			     rec_len(c->memo, &huid) == e->len;
		}
		if (!ok)
			return false;
		c->memo_uid = uid;
		c->memo_len = e->len;
	}
	uint32_t w[3 + MAIL_CACHE_NFIELDS];
	memcpy(w, c->memo, sizeof(w));
	size_t at = REC_HDR_LEN;
	for (int f = 0; f < (int)field; f++)
		at += w[2 + f];
	return buf_append(out, c->memo + at, w[2 + field]);
}

void
mail_cache_put(struct mail_cache *c, uint32_t uid, const struct buf *vals)
{
	if (c->broken || uid == 0)
		return;
	/* One indexed unchecked may be why get missed: the writer's scan
	 * below checks it, and drops it if it is damaged. */
	const struct ent *e = c->fd >= 0 ? index_find(c, uid) : NULL;
	if (e != NULL && e->off < (uint64_t)c->good)
		return;
	uint32_t w[3 + MAIL_CACHE_NFIELDS] = {REC_MAGIC, uid};
	size_t len = REC_HDR_LEN;
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++) {
		w[2 + f] = (uint32_t)buf_used(&vals[f]);
		len += buf_used(&vals[f]);
	}
	if (len > CACHE_RECORD_MAX)
		return;
	uint8_t *rec = malloc(len);
	if (rec == NULL)
		return;
	memcpy(rec, w, sizeof(w));
	for (size_t f = 0, at = REC_HDR_LEN; f < MAIL_CACHE_NFIELDS; f++) {
		memcpy(rec + at, buf_head(&vals[f]), buf_used(&vals[f]));
		at += buf_used(&vals[f]);
	}
	uint32_t sum = rec_sum(rec, len);
	memcpy(rec + REC_HDR_LEN - 4, &sum, 4);

	/* lock the file the name leads to (made if missing) */
	bool locked = false;
	for (int i = 0; i < CACHE_LOCK_RETRIES && !locked; i++) {
		if (c->fd >= 0 && (fcntl(c->fd, F_GETFL) & O_ACCMODE) != O_RDWR)
			detach(c); /* opened for reading only */
		if (c->fd < 0) {
			c->fd = openat(c->dfd, MAIL_CACHE_FILE,
			               O_RDWR | O_CREAT | O_CLOEXEC |
			                       O_NOFOLLOW,
			               0600);
			if (c->fd < 0) {
				log_warn("maildir cache: can't open %s: %s",
				         MAIL_CACHE_FILE, strerror(errno));
				c->broken = true;
				break;
			}
		}
		if (!lock_fd(c->fd))
			break;
		if (same_file(c))
			locked = true;
		else
			detach(c); /* replaced meanwhile: drops the lock */
	}
	if (!locked)
		goto out;

	struct stat sb;
	if (fstat(c->fd, &sb) < 0)
		goto unlock;
	if (sb.st_size == 0) {
		/* new: its maker writes the header under the lock */
		uint8_t hdr[CACHE_HDR_LEN];
		hdr_make(hdr, c->uidvalidity);
		if (pwrite(c->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
			goto unlock;
		index_reset(c);
		c->end = c->good = CACHE_HDR_LEN;
	} else if (c->end == 0 && !hdr_ok(c)) {
		/* foreign, damaged, or of another UIDVALIDITY */
		log_info("maildir cache: discarding a stale %s",
		         MAIL_CACHE_FILE);
		int fd = replace_begin(c);
		if (fd < 0 || !replace_commit(c, fd, true))
			goto unlock;
	} else if (c->end == 0) {
		c->end = c->good = CACHE_HDR_LEN;
	}
	scan(c, true);
	if (c->broken || index_find(c, uid) != NULL)
		goto unlock;
	if (pwrite(c->fd, rec, len, c->end) == (ssize_t)len) {
		index_add(c, uid, (uint64_t)c->end, (uint32_t)len);
		c->end += (off_t)len;
		c->good = c->end;
	} else if (ftruncate(c->fd, c->end) < 0) {
		c->broken = true; /* readers still skip the torn record */
	}
	size_t dead;
	if (!c->checked && compact_wanted(c, &dead))
		compact(c, dead);
unlock:
	if (c->fd >= 0)
		flock(c->fd, LOCK_UN);
out:
	free(rec);
}
