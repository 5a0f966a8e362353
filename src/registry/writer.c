#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"

/* Writes waiting for the thread; past this, submitters wait. */
#define WRITER_QUEUE_MAX 100000
/*
 * A batch is committed at most once per interval: under load writes wait
 * up to it and share one commit; a writer idle for longer commits at once,
 * so a quiet server answers without waiting. While batches keep coming
 * full (a login storm) the interval doubles up to the maximum, so writes
 * share pages of the tables and indexes too. Every write's answer waits
 * for its commit, so these are also the most a login's answer is held.
 */
#define WRITER_INTERVAL_MS     2
#define WRITER_INTERVAL_MAX_MS 16
#define WRITER_BATCH_FULL      8 /* writes */
/* Retention deletes this many rows per transaction, so a backlog never
 * holds the write lock for long. */
#define WRITER_PRUNE_CHUNK 5000
/* The audit log's row cap is looked at this often while writes come in
 * (cheap: two lookups by row id), so a flood cannot grow it far past. */
#define WRITER_CAP_INTERVAL_MS 1000

struct registry_writer {
	char *path;
	struct registry_retention keep;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* work for the thread */
	pthread_cond_t space; /* room in the queue */
	struct registry_write *head, *tail;
	size_t queued;
	bool stopping;
	struct registry *reg; /* the thread's own handle */
	uint64_t last_prune_ms, last_cap_ms;
	bool wrote; /* since the cap was last looked at */
	struct registry_writer_stats stats;
};

static void
writer_deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static struct registry *
writer_registry(struct registry_writer *rw)
{
	if (rw->reg == NULL) {
		char err[512];
		rw->reg = registry_open(rw->path, err, sizeof(err));
		if (rw->reg == NULL)
			log_error("registry: %s", err);
	}
	return rw->reg;
}

/* One batch: apply every write in one transaction, commit, then tell each
 * write. A failed commit is rolled back and reported to every write. */
static void
writer_batch(struct registry_writer *rw, struct registry_write *list)
{
	struct registry *reg = writer_registry(rw);
	bool txn = reg != NULL && registry_begin(reg);
	if (reg != NULL && !txn)
		log_error("registry: cannot begin a transaction");
	for (struct registry_write *w = list; w != NULL; w = w->next)
		w->apply(txn ? reg : NULL, w);
	bool ok = txn && registry_commit(reg);
	if (txn && !ok) {
		log_error("registry: cannot commit a batch of writes");
		registry_rollback(reg);
	}
	uint64_t n = 0;
	while (list != NULL) {
		struct registry_write *next = list->next; /* w may be freed */
		list->committed(list, ok);
		list = next;
		n++;
	}
	pthread_mutex_lock(&rw->lock);
	rw->stats.batches++;
	rw->stats.writes += n;
	rw->stats.failed_commits += !ok;
	pthread_mutex_unlock(&rw->lock);
}

/* Deletes audit rows older than before_ms or beyond the cap, a chunk per
 * transaction; returns how many. */
static uint64_t
writer_prune_audit(struct registry *reg, int64_t before_ms, uint64_t rows)
{
	uint64_t total = 0;
	long n;
	do {
		n = registry_prune_audit(reg, before_ms, (int64_t)rows,
		                         WRITER_PRUNE_CHUNK);
		if (n > 0)
			total += (uint64_t)n;
	} while (n == WRITER_PRUNE_CHUNK);
	if (n < 0)
		log_error("registry: cannot prune the audit log");
	return total;
}

static void
writer_prune(struct registry_writer *rw, uint64_t now_mono)
{
	const struct registry_retention *k = &rw->keep;
	bool age = k->interval_ms > 0 &&
	           (rw->last_prune_ms == 0 ||
	            now_mono - rw->last_prune_ms >= k->interval_ms);
	bool cap = k->audit_rows > 0 && rw->wrote &&
	           (rw->last_cap_ms == 0 ||
	            now_mono - rw->last_cap_ms >= WRITER_CAP_INTERVAL_MS);
	if (!age && !cap)
		return;
	struct registry *reg = writer_registry(rw);
	if (reg == NULL)
		return;
	int64_t now = (int64_t)clock_wall_ms();
	uint64_t audit = 0, pending = 0;
	if (cap) {
		rw->last_cap_ms = now_mono;
		rw->wrote = false;
		audit += writer_prune_audit(reg, INT64_MIN, k->audit_rows);
	}
	if (age) {
		rw->last_prune_ms = now_mono;
		if (k->audit_ms > 0)
			audit += writer_prune_audit(
			        reg, now - (int64_t)k->audit_ms, k->audit_rows);
	}
	if (age && k->pending_ms > 0) {
		int64_t before = (now - (int64_t)k->pending_ms) / 1000;
		long n;
		do {
			n = registry_prune_pending(reg, before,
			                           WRITER_PRUNE_CHUNK);
			if (n > 0)
				pending += (uint64_t)n;
		} while (n == WRITER_PRUNE_CHUNK);
		if (n < 0)
			log_error("registry: cannot prune pending devices");
	}
	if (audit > 0 || pending > 0)
		log_info("registry: retention removed %llu audit rows and "
		         "%llu pending devices",
		         (unsigned long long)audit,
		         (unsigned long long)pending);
	pthread_mutex_lock(&rw->lock);
	rw->stats.pruned_audit += audit;
	rw->stats.pruned_pending += pending;
	pthread_mutex_unlock(&rw->lock);
}

static void *
writer_main(void *arg)
{
	struct registry_writer *rw = arg;
	uint64_t last_commit = 0, interval = WRITER_INTERVAL_MS;
	for (;;) {
		pthread_mutex_lock(&rw->lock);
		while (rw->head == NULL && !rw->stopping) {
			/* idle: wake for retention now and then */
			struct timespec ts;
			uint64_t wait = rw->keep.interval_ms > 0
			                        ? rw->keep.interval_ms
			                        : 60000;
			/* rows written since the cap was looked at */
			if (rw->wrote && rw->keep.audit_rows > 0 &&
			    wait > WRITER_CAP_INTERVAL_MS)
				wait = WRITER_CAP_INTERVAL_MS;

			writer_deadline(&ts, wait);
			if (pthread_cond_timedwait(&rw->cond, &rw->lock, &ts) !=
			    0)
				break;
		}
		/* Let more writes join this commit (see the interval).
		 * Submitters do not signal a non-empty queue, so this sleeps
		 * through. */
		uint64_t due = last_commit + interval;
		for (;;) {
			uint64_t now = clock_mono_ms();
			if (rw->stopping || rw->head == NULL || now >= due)
				break;
			struct timespec ts;
			writer_deadline(&ts, due - now);
			pthread_cond_timedwait(&rw->cond, &rw->lock, &ts);
		}
		struct registry_write *list = rw->head;
		size_t n = rw->queued;
		rw->head = rw->tail = NULL;
		rw->queued = 0;
		bool stopping = rw->stopping;
		pthread_cond_broadcast(&rw->space);
		pthread_mutex_unlock(&rw->lock);

		if (list != NULL) {
			writer_batch(rw, list);
			rw->wrote = true;
			uint64_t now = clock_mono_ms();
			if (n < WRITER_BATCH_FULL ||
			    now - last_commit > 2 * interval)
				interval = WRITER_INTERVAL_MS;
			else if (interval < WRITER_INTERVAL_MAX_MS)
				interval *= 2;
			last_commit = now;
		}
		if (stopping)
			break;
		writer_prune(rw, clock_mono_ms());
	}
	registry_close(rw->reg);
	rw->reg = NULL;
	return NULL;
}

struct registry_writer *
registry_writer_new(const char *path, const struct registry_retention *keep,
                    char *err, size_t errlen)
{
	struct registry_writer *rw = calloc(1, sizeof(*rw));
	if (rw == NULL || (rw->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(rw);
		return NULL;
	}
	rw->keep = *keep;
	pthread_mutex_init(&rw->lock, NULL);
	/* intervals are durations: immune to clock steps */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rw->cond, &ca);
	pthread_cond_init(&rw->space, &ca);
	pthread_condattr_destroy(&ca);
	/* Opened here, so a bad path or schema fails at start-up. */
	rw->reg = registry_open(rw->path, err, errlen);
	if (rw->reg == NULL ||
	    pthread_create(&rw->thread, NULL, writer_main, rw) != 0) {
		if (rw->reg != NULL)
			snprintf(err, errlen,
			         "cannot start the registry writer");
		registry_writer_free(rw);
		return NULL;
	}
	rw->started = true;
	return rw;
}

void
registry_writer_submit(struct registry_writer *rw, struct registry_write *w)
{
	w->next = NULL;
	pthread_mutex_lock(&rw->lock);
	while (rw->queued >= WRITER_QUEUE_MAX && !rw->stopping)
		pthread_cond_wait(&rw->space, &rw->lock);
	/* Only an empty queue can have the thread waiting for work;
	 * otherwise it is writing or letting writes gather. */
	bool wake = rw->head == NULL;
	if (rw->tail != NULL)
		rw->tail->next = w;
	else
		rw->head = w;
	rw->tail = w;
	rw->queued++;
	if (wake)
		pthread_cond_signal(&rw->cond);
	pthread_mutex_unlock(&rw->lock);
}

void
registry_writer_free(struct registry_writer *rw)
{
	if (rw == NULL)
		return;
	if (rw->started) {
		pthread_mutex_lock(&rw->lock);
		rw->stopping = true;
		pthread_cond_signal(&rw->cond);
		pthread_cond_broadcast(&rw->space);
		pthread_mutex_unlock(&rw->lock);
		pthread_join(rw->thread, NULL); /* commits what is queued */
	}
	registry_close(rw->reg);
	pthread_mutex_destroy(&rw->lock);
	pthread_cond_destroy(&rw->cond);
	pthread_cond_destroy(&rw->space);
	free(rw->path);
	free(rw);
}

void
registry_writer_stats(struct registry_writer *rw,
                      struct registry_writer_stats *out)
{
	pthread_mutex_lock(&rw->lock);
	*out = rw->stats;
	pthread_mutex_unlock(&rw->lock);
}
