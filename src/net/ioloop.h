/*
 * An event loop per I/O thread (libevent), plus a thread-safe way for other
 * threads to hand it work: a task list drained when an eventfd wakes it.
 * Worker results come back this way, so connection state is only ever
 * touched by the thread that owns the connection.
 */
#ifndef IMAPCID_IOLOOP_H
#define IMAPCID_IOLOOP_H

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>

struct ioloop_task {
	void (*fn)(struct ioloop_task *task);
	struct ioloop_task *next;
};

struct ioloop {
	struct event_base *base;
	pthread_mutex_t lock; /* guards tasks */
	struct ioloop_task *tasks, *tasks_tail;
	int wake_fd;
	struct event *wake_ev;
};

bool ioloop_init(struct ioloop *l);
void ioloop_destroy(struct ioloop *l);
/* From any thread: run task->fn on l's thread soon. */
void ioloop_post(struct ioloop *l, struct ioloop_task *task);

#endif
