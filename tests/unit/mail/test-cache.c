/*
 * The per-folder FETCH cache (imapcid.cache) through mailstore.h: hits
 * after a put, survival across handles, rebuilding after the file is
 * deleted, damaged or made stale by a new UIDVALIDITY, a torn tail, a
 * damaged record amid good ones, records larger than a read, concurrent
 * writers, compaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/mailstore.h"

#define CACHE_NAME "imapcid.cache"

struct fx {
	char top[64];
	char root[128];
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

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	strcpy(fx->top, "/tmp/imapcid-cache-XXXXXX");
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
	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static char *
path_of(const struct fx *fx, const char *rel)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", fx->root, rel);
	return p;
}

/* n small messages straight into cur/, as a copied-in Maildir would be. */
static void
fill(struct fx *fx, int n)
{
	for (int i = 0; i < n; i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/cur/%d.M%dP1.test:2,", fx->root,
		         1600000000 + i, i);
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fprintf(f, "Subject: %d\n\nbody %d\n", i, i);
		assert_int_equal(fclose(f), 0);
	}
}

static struct mailbox *
open_inbox(struct fx *fx)
{
	struct mailbox *mb = NULL;
	if (mailbox_open(fx->ms, "INBOX", false, &mb, err, sizeof(err)) !=
	    MAIL_OK)
		fail_msg("open: %s", err);
	struct mail_changes ch;
	assert_int_equal(mailbox_sync(mb, &ch, err, sizeof(err)), MAIL_OK);
	mail_changes_free(&ch);
	return mb;
}

/* The values a FETCH would store for message seq: made up, but tied to
 * the UID so a value served for the wrong message shows. */
static void
put(struct mailbox *mb, uint32_t seq, const char *tag)
{
	struct buf v[MAIL_CACHE_NFIELDS] = {BUF_INIT, BUF_INIT, BUF_INIT};
	uint32_t uid = mailbox_msg(mb, seq)->uid;
	buf_printf(&v[MAIL_CACHE_ENVELOPE], "(env %s %u)", tag, uid);
	buf_printf(&v[MAIL_CACHE_BODYSTRUCTURE], "(bs %s %u)", tag, uid);
	buf_printf(&v[MAIL_CACHE_BODY], "(body %s %u)", tag, uid);
	mailbox_cache_put(mb, seq, v);
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		buf_free(&v[f]);
}

/* True, with the check that the value is the one put, if cached. While
 * another handle may be writing (racing), the record may appear between
 * two fields' gets: a miss may turn into a hit, never a hit into a miss,
 * and every value is whole. */
static bool
hit_fields(struct mailbox *mb, uint32_t seq, const char *tag, bool racing)
{
	static const char *const names[] = {"env", "bs", "body"};
	uint32_t uid = mailbox_msg(mb, seq)->uid;
	bool any = false, all = true;
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++) {
		struct buf b = BUF_INIT;
		char want[128];
		bool h = mailbox_cache_get(mb, seq, f, &b);
		if (h) {
			snprintf(want, sizeof(want), "(%s %s %u)", names[f],
			         tag, uid);
			assert_int_equal(buf_used(&b), strlen(want));
			assert_memory_equal(buf_head(&b), want, strlen(want));
		} else {
			assert_int_equal(buf_used(&b), 0);
		}
		if (!h)
			assert_false(any); /* once there, a record stays */
		any |= h;
		all &= h;
		buf_free(&b);
	}
	if (!racing)
		assert_true(any == all); /* a record is whole or absent */
	return all;
}

static bool
hit(struct mailbox *mb, uint32_t seq, const char *tag)
{
	return hit_fields(mb, seq, tag, false);
}

static off_t
cache_size(struct fx *fx)
{
	struct stat sb;
	return stat(path_of(fx, CACHE_NAME), &sb) == 0 ? sb.st_size : -1;
}

static void
cache_hit_after_put(void **state)
{
	struct fx *fx = *state;
	fill(fx, 3);
	struct mailbox *mb = open_inbox(fx);
	assert_false(hit(mb, 1, "a"));
	assert_int_equal(cache_size(fx), -1); /* a miss writes nothing */
	put(mb, 1, "a");
	put(mb, 3, "a");
	assert_true(hit(mb, 1, "a"));
	assert_false(hit(mb, 2, "a"));
	assert_true(hit(mb, 3, "a"));
	put(mb, 1, "b"); /* already there: kept, not duplicated */
	assert_true(hit(mb, 1, "a"));
	assert_false(mailbox_cache_get(mb, 0, MAIL_CACHE_BODY, NULL));
	assert_false(mailbox_cache_get(mb, 4, MAIL_CACHE_BODY, NULL));
	mailbox_close(mb);
	/* another handle, later */
	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "a"));
	assert_true(hit(mb, 3, "a"));
	assert_false(hit(mb, 2, "a"));
	mailbox_close(mb);
}

static void
cache_rebuilt_after_delete(void **state)
{
	struct fx *fx = *state;
	fill(fx, 2);
	struct mailbox *mb = open_inbox(fx);
	put(mb, 1, "a");
	mailbox_close(mb);
	assert_int_equal(unlink(path_of(fx, CACHE_NAME)), 0);
	mb = open_inbox(fx);
	assert_false(hit(mb, 1, "a"));
	put(mb, 1, "b");
	assert_true(hit(mb, 1, "b"));
	mailbox_close(mb);
	assert_true(cache_size(fx) > 0);
	/* deleted while a handle has it open: the handle's copy still
	 * answers, and the next put makes a new file */
	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "b"));
	assert_int_equal(unlink(path_of(fx, CACHE_NAME)), 0);
	assert_true(hit(mb, 1, "b"));
	put(mb, 2, "b");
	assert_true(hit(mb, 2, "b"));
	mailbox_close(mb);
	mb = open_inbox(fx);
	assert_false(hit(mb, 1, "b"));
	assert_true(hit(mb, 2, "b"));
	mailbox_close(mb);
}

static void
cache_garbage_rebuilt(void **state)
{
	struct fx *fx = *state;
	fill(fx, 1);
	FILE *f = fopen(path_of(fx, CACHE_NAME), "w");
	assert_non_null(f);
	fputs("not a cache file at all, but long enough to have a header\n", f);
	fclose(f);
	struct mailbox *mb = open_inbox(fx);
	assert_false(hit(mb, 1, "a"));
	put(mb, 1, "a");
	assert_true(hit(mb, 1, "a"));
	mailbox_close(mb);
	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "a"));
	mailbox_close(mb);
}

/* A new UIDVALIDITY (the uidlist lost): the same UIDs now name other
 * messages, so nothing cached before may be served. */
static void
cache_discarded_on_uidvalidity_change(void **state)
{
	struct fx *fx = *state;
	fill(fx, 2);
	struct mailbox *mb = open_inbox(fx);
	uint32_t v1 = mailbox_uidvalidity(mb);
	put(mb, 1, "a");
	put(mb, 2, "a");
	mailbox_close(mb);
	assert_int_equal(unlink(path_of(fx, "dovecot-uidlist")), 0);
	mb = open_inbox(fx);
	assert_int_not_equal(mailbox_uidvalidity(mb), v1);
	assert_int_equal(mailbox_msg(mb, 1)->uid, 1); /* same UIDs */
	assert_false(hit(mb, 1, "a"));
	assert_false(hit(mb, 2, "a"));
	put(mb, 1, "b");
	assert_true(hit(mb, 1, "b"));
	mailbox_close(mb);
	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "b"));
	assert_false(hit(mb, 2, "b"));
	mailbox_close(mb);
}

/* kill -9 in the middle of a write: the torn record is never served,
 * the ones before it are, and the next write cuts it off. */
static void
cache_torn_tail_ignored(void **state)
{
	struct fx *fx = *state;
	fill(fx, 4);
	struct mailbox *mb = open_inbox(fx);
	put(mb, 1, "a");
	off_t one = cache_size(fx);
	put(mb, 2, "a");
	off_t two = cache_size(fx);
	mailbox_close(mb);
	for (off_t cut = one + 1; cut < two; cut += 7) {
		assert_int_equal(truncate(path_of(fx, CACHE_NAME), cut), 0);
		mb = open_inbox(fx);
		assert_true(hit(mb, 1, "a"));
		assert_false(hit(mb, 2, "a"));
		mailbox_close(mb);
	}
	/* a flipped byte inside the last record is caught too */
	int fd = open(path_of(fx, CACHE_NAME), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, one + 30), 1);
	close(fd);
	mb = open_inbox(fx);
	assert_false(hit(mb, 2, "a"));
	put(mb, 3, "a");
	assert_true(hit(mb, 3, "a"));
	mailbox_close(mb);
	/* cut back to the good records, then appended to */
	assert_true(cache_size(fx) < two + (two - one));
	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "a"));
	assert_false(hit(mb, 2, "a"));
	assert_true(hit(mb, 3, "a"));
	assert_false(hit(mb, 4, "a"));
	mailbox_close(mb);
}

/* Bytes that make up a record's header (magic, uid, lengths, checksum). */
#define REC_HDR 24

/* A damaged record amid good ones, header intact: readers index past it
 * without checking, yet never serve it, and a writer that is asked to
 * store it again cuts the file there (dropping what follows, as for a
 * torn tail) and appends a good one. */
static void
cache_damaged_record_replaced(void **state)
{
	struct fx *fx = *state;
	fill(fx, 4);
	struct mailbox *mb = open_inbox(fx);
	put(mb, 1, "a");
	off_t one = cache_size(fx);
	put(mb, 2, "a");
	off_t two = cache_size(fx);
	put(mb, 3, "a");
	mailbox_close(mb);
	int fd = open(path_of(fx, CACHE_NAME), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, one + REC_HDR + 2), 1);
	close(fd);

	mb = open_inbox(fx);
	struct mailbox *other = open_inbox(fx);
	assert_true(hit(mb, 1, "a"));
	assert_false(hit(mb, 2, "a"));
	assert_true(hit(mb, 3, "a"));
	assert_true(hit(other, 3, "a")); /* indexed past the damage too */
	assert_true(hit(other, 1, "a")); /* its last record read is kept */
	put(mb, 2, "bb");
	assert_true(hit(mb, 2, "bb"));
	assert_false(hit(mb, 3, "a"));
	assert_int_equal(cache_size(fx), two + 3);
	mailbox_close(mb);

	/* the other handle indexed what was cut: it serves only what is
	 * there now, and its own writes start from a checked index */
	assert_false(hit(other, 3, "a"));
	assert_false(hit(other, 2, "bb")); /* indexed with its old length */
	put(other, 4, "c");
	assert_true(hit(other, 2, "bb"));
	assert_true(hit(other, 4, "c"));
	assert_false(hit(other, 3, "a"));
	mailbox_close(other);

	mb = open_inbox(fx);
	assert_true(hit(mb, 1, "a"));
	assert_true(hit(mb, 2, "bb"));
	assert_false(hit(mb, 3, "a"));
	assert_true(hit(mb, 4, "c"));
	mailbox_close(mb);
}

/* Values of n bytes, a pattern tied to uid and field. */
static void
big_vals(struct buf v[MAIL_CACHE_NFIELDS], uint32_t uid, size_t n)
{
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++) {
		v[f] = (struct buf)BUF_INIT;
		for (size_t i = 0; i < n; i++) {
			char ch =
			        (char)('a' + (uid * 7 + (uint32_t)f + i) % 26);
			buf_append(&v[f], &ch, 1);
		}
	}
}

static bool
big_hit(struct mailbox *mb, uint32_t seq, size_t n)
{
	struct buf want[MAIL_CACHE_NFIELDS];
	big_vals(want, mailbox_msg(mb, seq)->uid, n);
	bool all = true;
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++) {
		struct buf b = BUF_INIT;
		if (mailbox_cache_get(mb, seq, f, &b)) {
			assert_int_equal(buf_used(&b), n);
			assert_memory_equal(buf_head(&b), buf_head(&want[f]),
			                    n);
		} else {
			all = false;
		}
		buf_free(&b);
		buf_free(&want[f]);
	}
	return all;
}

#define BIG_MSGS 24

/* Records of every size against the read window: many to a read, one
 * across two, one larger than a read; and a file that grows after a
 * handle read it whole. */
static void
cache_big_records(void **state)
{
	struct fx *fx = *state;
	fill(fx, BIG_MSGS);
	struct mailbox *mb = open_inbox(fx);
	put(mb, 1, "a");
	mailbox_close(mb);
	struct mailbox *reader = open_inbox(fx);
	assert_true(hit(reader, 1, "a")); /* a file of one small record */
	mb = open_inbox(fx);
	for (uint32_t s = 2; s <= BIG_MSGS; s++) {
		struct buf v[MAIL_CACHE_NFIELDS];
		size_t n = s % 5 == 0 ? 100000 : (size_t)s * 1500;
		big_vals(v, mailbox_msg(mb, s)->uid, n);
		mailbox_cache_put(mb, s, v);
		for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
			buf_free(&v[f]);
	}
	mailbox_close(mb);
	for (uint32_t s = 2; s <= BIG_MSGS; s++)
		assert_true(big_hit(reader, s, s % 5 == 0 ? 100000 : s * 1500));
	mailbox_close(reader);
	/* read afresh, unlocked, and checked by a writer */
	for (int pass = 0; pass < 2; pass++) {
		mb = open_inbox(fx);
		if (pass == 1)
			put(mb, 1, "a"); /* there: a writer's check finds it */
		for (uint32_t s = BIG_MSGS; s >= 2; s--)
			assert_true(
			        big_hit(mb, s, s % 5 == 0 ? 100000 : s * 1500));
		assert_true(hit(mb, 1, "a"));
		mailbox_close(mb);
	}
}

#define WRITERS     2
#define PER_WRITER  300
#define SHARED_MSGS (WRITERS * PER_WRITER)

struct writer {
	struct fx *fx;
	int id;
};

/* Each writer puts its own messages and also every message of the
 * other, interleaved, through its own handle. */
static void *
writer_thread(void *arg)
{
	struct writer *w = arg;
	struct mailbox *mb = NULL;
	char e[256];
	if (mailbox_open(w->fx->ms, "INBOX", true, &mb, e, sizeof(e)) !=
	    MAIL_OK)
		return NULL;
	for (uint32_t s = 1; s <= SHARED_MSGS; s++) {
		uint32_t seq = w->id == 0 ? s : SHARED_MSGS + 1 - s;
		put(mb, seq, "w");
	}
	mailbox_close(mb);
	return mb;
}

static void
cache_concurrent_writers(void **state)
{
	struct fx *fx = *state;
	fill(fx, SHARED_MSGS);
	struct mailbox *mb = open_inbox(fx);
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){fx, i};
		assert_int_equal(
		        pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
	}
	/* a reader while they write: each value whole or missing */
	for (int round = 0; round < 3; round++)
		for (uint32_t s = 1; s <= SHARED_MSGS; s += 7)
			hit_fields(mb, s, "w", true);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	for (uint32_t s = 1; s <= SHARED_MSGS; s++)
		assert_true(hit(mb, s, "w"));
	mailbox_close(mb);
	mb = open_inbox(fx);
	for (uint32_t s = 1; s <= SHARED_MSGS; s++)
		assert_true(hit(mb, s, "w"));
	mailbox_close(mb);
	/* each written once: no more than a record per message */
	assert_true(cache_size(fx) < 32 + SHARED_MSGS * (24 + 3 * 20));
}

#define COMPACT_MSGS 3000

/* Records of expunged messages are dropped once they dominate. */
static void
cache_compacted(void **state)
{
	struct fx *fx = *state;
	fill(fx, COMPACT_MSGS);
	struct mailbox *mb = open_inbox(fx);
	for (uint32_t s = 1; s <= COMPACT_MSGS; s++)
		put(mb, s, "c");
	off_t full = cache_size(fx);
	for (uint32_t s = 1; s <= COMPACT_MSGS; s++)
		if (s % 10 != 0)
			assert_int_equal(mailbox_set_flags(mb, s, MAIL_DELETED,
			                                   0, err, sizeof(err)),
			                 MAIL_OK);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	mailbox_close(mb);
	mb = open_inbox(fx);
	assert_int_equal(mailbox_count(mb), COMPACT_MSGS / 10);
	assert_true(hit(mb, 1, "c"));
	put(mb, 1, "c"); /* a writer notices, under its lock */
	assert_true(cache_size(fx) < full / 5);
	for (uint32_t s = 1; s <= mailbox_count(mb); s++)
		assert_true(hit(mb, s, "c"));
	mailbox_close(mb);
	mb = open_inbox(fx);
	for (uint32_t s = 1; s <= mailbox_count(mb); s++)
		assert_true(hit(mb, s, "c"));
	mailbox_close(mb);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	        T(cache_hit_after_put),
	        T(cache_rebuilt_after_delete),
	        T(cache_garbage_rebuilt),
	        T(cache_discarded_on_uidvalidity_change),
	        T(cache_torn_tail_ignored),
	        T(cache_damaged_record_replaced),
	        T(cache_big_records),
	        T(cache_concurrent_writers),
	        T(cache_compacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
