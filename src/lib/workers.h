/*
 * A pool of worker threads for work that may block or burn CPU (password
 * hashing, mail commands that read and rename files). A job runs on some
 * worker, then its finish callback hands the result on (posting it to the
 * event loop it came from, say), on the same worker thread.
 */
#ifndef IMAPCID_WORKERS_H
#define IMAPCID_WORKERS_H

#include <stdbool.h>

struct worker_job {
	void (*run)(struct worker_job *job); /* on a worker thread */
	/* Then this, on the same thread; NULL when run() hands the job on
	 * itself (the job may be gone once run() returns). */
	void (*finish)(struct worker_job *job);
	struct worker_job *next;
};

struct workers;

struct workers *workers_new(unsigned nthreads);
/* Priority jobs run before every waiting ordinary one. */
void workers_submit(struct workers *w, struct worker_job *job, bool priority);
/* Finishes queued jobs, then joins the threads. */
void workers_free(struct workers *w);

#endif
