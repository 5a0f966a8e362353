#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct worker_job *head, *tail;
	struct worker_job *prio_head, *prio_tail;
	bool stopping;
	unsigned nthreads;
	pthread_t threads[];
};

static void *
workers_main(void *arg)
{
	struct workers *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && w->prio_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		struct worker_job *job;
		if (w->prio_head != NULL) {
			job = w->prio_head;
			w->prio_head = job->next;
			if (w->prio_head == NULL)
				w->prio_tail = NULL;
		} else if (w->head != NULL) {
			job = w->head;
			w->head = job->next;
			if (w->head == NULL)
				w->tail = NULL;
		} else {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		pthread_mutex_unlock(&w->lock);
		void (*finish)(struct worker_job *) = job->finish;
		job->run(job);
		if (finish != NULL)
			finish(job);
	}
}

struct workers *
workers_new(unsigned nthreads)
{
	struct workers *w =
	        calloc(1, sizeof(*w) + nthreads * sizeof(pthread_t));
	if (w == NULL)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, workers_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		workers_free(w);
		return NULL;
	}
	return w;
}

void
workers_submit(struct workers *w, struct worker_job *job, bool priority)
{
	struct worker_job **head = priority ? &w->prio_head : &w->head;
	struct worker_job **tail = priority ? &w->prio_tail : &w->tail;
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
