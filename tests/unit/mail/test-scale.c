/*
 * One big folder, step by step, each step timed: open (UIDs assigned),
 * sync, read the first and last message, sizes, flags on every message,
 * expunge, append, reopen, the FETCH cache filled and read, a second
 * session. The default size keeps the unit run short; for the real thing:
 *
 *   IMAPCID_SCALE_N=100000 build/tests/unit/mail/test-scale
 *
 * Each step is checked against a budget proportional to N (generous, to
 * catch something quadratic, not to benchmark); timings go to stdout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/mailstore.h"

#define SCALE_N_DEFAULT 2000
/* Per message, per step: 100 us a message is 10 s for 100,000. */
#define STEP_BUDGET_US 100
#define STEP_SLACK_S   2.0 /* fixed part (fsyncs, a loaded machine) */

static char err[256];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double t0;
static uint32_t n_msgs;

static void
step(const char *what)
{
	double t = now_s() - t0;
	printf("  %-40s %8.3f s\n", what, t);
	fflush(stdout);
	assert_true(t < STEP_SLACK_S + n_msgs * (STEP_BUDGET_US / 1e6));
	t0 = now_s();
}

static void
sync_ok(struct mailbox *mb, struct mail_changes *ch)
{
	if (mailbox_sync(mb, ch, err, sizeof(err)) != MAIL_OK)
		fail_msg("sync: %s", err);
}

static void
scale_big_folder(void **state)
{
	(void)state;
	const char *env = getenv("IMAPCID_SCALE_N");
	n_msgs = env != NULL ? (uint32_t)strtoul(env, NULL, 10)
	                     : SCALE_N_DEFAULT;
	if (n_msgs < 200)
		n_msgs = 200;
	char top[64] = "/tmp/imapcid-scale-XXXXXX", root[128], p[512];
	assert_non_null(mkdtemp(top));
	snprintf(root, sizeof(root), "%s/Maildir", top);
	struct mailstore *ms = mailstore_open(root, err, sizeof(err));
	assert_non_null(ms);
	printf("  %u messages\n", n_msgs);

	/* written straight into cur/, some with a size in the name and
	 * some without, as a copied-in Maildir may be */
	t0 = now_s();
	for (uint32_t i = 0; i < n_msgs; i++) {
		snprintf(p, sizeof(p), "%s/cur/%u.M%uP1.scale%s:2,%s", root,
		         1600000000 + i, i, i % 2 ? ",S=33,W=36" : "",
		         i % 3 ? "S" : "");
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fprintf(f, "Subject: %08u\n\nbody %08u\n", i, i);
		assert_int_equal(fclose(f), 0);
	}
	printf("  %-40s %8.3f s\n", "(writing the files)", now_s() - t0);

	t0 = now_s();
	struct mailbox *mb = NULL;
	struct mail_changes ch;
	assert_int_equal(
	        mailbox_open(ms, "INBOX", false, &mb, err, sizeof(err)),
	        MAIL_OK);
	assert_int_equal(mailbox_count(mb), n_msgs);
	step("open (UIDs assigned, uidlist written)");
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, n_msgs);
	mail_changes_free(&ch);
	step("first sync");
	sync_ok(mb, &ch);
	mail_changes_free(&ch);
	step("sync, nothing changed");

	char buf[128];
	uint32_t ends[2] = {1, n_msgs};
	for (int i = 0; i < 2; i++) {
		struct mail_stream *st;
		assert_int_equal(
		        mailbox_msg_open(mb, ends[i], &st, err, sizeof(err)),
		        MAIL_OK);
		ssize_t r =
		        mail_stream_read(st, (uint8_t *)buf, sizeof(buf) - 1);
		mail_stream_close(st);
		assert_true(r > 0);
		buf[r] = '\0';
		snprintf(p, sizeof(p), "Subject: %08u\r\n", ends[i] - 1);
		assert_memory_equal(buf, p, strlen(p));
		assert_int_equal(mailbox_seq_of_uid(mb, ends[i]), ends[i]);
	}
	step("read message 1 and N");

	uint64_t total = 0;
	for (uint32_t s = 1; s <= n_msgs; s++)
		total += mailbox_msg(mb, s)->size;
	assert_int_equal(total, (uint64_t)n_msgs * 36);
	step("RFC822.SIZE of all (half read)");

	for (uint32_t s = 1; s <= n_msgs; s++) {
		const struct mail_msg *m = mailbox_msg(mb, s);
		assert_int_equal(mailbox_set_flags(mb, s,
		                                   (m->flags | MAIL_FLAGGED) &
		                                           ~MAIL_RECENT,
		                                   0, err, sizeof(err)),
		                 MAIL_OK);
	}
	mailbox_flush(mb);
	step("STORE 1:* +FLAGS (\\Flagged)");
	sync_ok(mb, &ch);
	assert_int_equal(ch.nexpunged, 0);
	mail_changes_free(&ch);
	step("sync after the STORE");

	for (uint32_t s = 1; s <= n_msgs; s += 100)
		assert_int_equal(mailbox_set_flags(mb, s, MAIL_DELETED, 0, err,
		                                   sizeof(err)),
		                 MAIL_OK);
	assert_int_equal(mailbox_expunge(mb, NULL, 0, err, sizeof(err)),
	                 MAIL_OK);
	sync_ok(mb, &ch);
	uint32_t gone = (n_msgs + 99) / 100;
	assert_int_equal(ch.nexpunged, gone);
	assert_int_equal(ch.exists, n_msgs - gone);
	mail_changes_free(&ch);
	step("expunge 1% and sync");

	for (int i = 0; i < 10; i++) {
		FILE *f = tmpfile();
		fprintf(f, "Subject: appended %d\n\nx\n", i);
		long len = ftell(f);
		rewind(f);
		uint32_t v, uid;
		assert_int_equal(mailstore_append(ms, "INBOX", fileno(f),
		                                  (uint64_t)len, MAIL_SEEN,
		                                  NULL, 0, 0, &v, &uid, err,
		                                  sizeof(err)),
		                 MAIL_OK);
		assert_int_equal(uid, n_msgs + 1 + (uint32_t)i);
		fclose(f);
	}
	step("append 10");
	sync_ok(mb, &ch);
	assert_int_equal(ch.exists, n_msgs - gone + 10);
	mail_changes_free(&ch);
	step("sync after the appends");
	mailbox_close(mb);
	step("close");

	assert_int_equal(
	        mailbox_open(ms, "INBOX", false, &mb, err, sizeof(err)),
	        MAIL_OK);
	sync_ok(mb, &ch);
	mail_changes_free(&ch);
	uint32_t count = mailbox_count(mb);
	assert_int_equal(count, n_msgs - gone + 10);
	assert_int_equal(mailbox_msg(mb, count)->uid, n_msgs + 10);
	assert_true(mailbox_msg(mb, 1)->flags & MAIL_FLAGGED);
	step("reopen and sync");

	struct buf v[MAIL_CACHE_NFIELDS] = {BUF_INIT, BUF_INIT, BUF_INIT};
	for (uint32_t s = 1; s <= count; s++) {
		for (int f = 0; f < MAIL_CACHE_NFIELDS; f++) {
			buf_clear(&v[f]);
			buf_printf(
			        &v[f],
			        "(\"Mon, 1 Jan 2024 00:00:00 +0000\" "
			        "\"message %u field %d\" NIL NIL NIL NIL NIL "
			        "NIL NIL \"<%u@example.com>\")",
			        s, f, s);
		}
		mailbox_cache_put(mb, s, v);
	}
	step("cache: put every message");
	for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
		buf_free(&v[f]);
	mailbox_close(mb);
	assert_int_equal(mailbox_open(ms, "INBOX", true, &mb, err, sizeof(err)),
	                 MAIL_OK);
	sync_ok(mb, &ch); /* the first reports only counts */
	mail_changes_free(&ch);
	struct buf out = BUF_INIT;
	for (uint32_t s = 1; s <= count; s++)
		for (int f = 0; f < MAIL_CACHE_NFIELDS; f++)
			assert_true(mailbox_cache_get(mb, s, f, &out));
	step("cache: reopen, get every field");
	buf_free(&out);

	/* another session's changes seen by this one */
	struct mailbox *other = NULL;
	assert_int_equal(
	        mailbox_open(ms, "INBOX", false, &other, err, sizeof(err)),
	        MAIL_OK);
	uint32_t changed = 0;
	for (uint32_t s = 2; s <= count - 10; s += 1000, changed++)
		assert_int_equal(mailbox_set_flags(other, s, MAIL_SEEN, 0, err,
		                                   sizeof(err)),
		                 MAIL_OK);
	mailbox_close(other);
	sync_ok(mb, &ch);
	assert_int_equal(ch.nflagged, changed);
	mail_changes_free(&ch);
	step("another session's STORE, then sync");
	mailbox_close(mb);
	mailstore_close(ms);
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(scale_big_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
