/*
 * A pool of worker threads for work that may block or burn CPU (password
 * hashing today, database writes later). A job runs on some worker, then
 * its completion is posted back to the event loop it came from.
 */
#ifndef IMAPCID_WORKERS_H
#define IMAPCID_WORKERS_H

#include <stdbool.h>

#include "net/ioloop.h"

struct worker_job {
	void (*run)(struct worker_job *job); /* on a worker thread */
	struct ioloop_task done;             /* then this, on origin */
	struct ioloop *origin;
	struct worker_job *next;
};

struct workers;

struct workers *workers_new(unsigned nthreads);
/* Priority jobs run before every waiting ordinary one. */
void workers_submit(struct workers *w, struct worker_job *job, bool priority);
/* Finishes queued jobs, then joins the threads. */
void workers_free(struct workers *w);

#endif
