#include "ioloop.h"

#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void
ioloop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ioloop *l = arg;
	uint64_t n;
	(void)what;
	ssize_t r = read(fd, &n, sizeof(n));
	(void)r;
	pthread_mutex_lock(&l->lock);
	struct ioloop_task *t = l->tasks;
	l->tasks = l->tasks_tail = NULL;
	pthread_mutex_unlock(&l->lock);
	while (t != NULL) {
		struct ioloop_task *next = t->next;
		t->fn(t);
		t = next;
	}
}

bool
ioloop_init(struct ioloop *l)
{
	memset(l, 0, sizeof(*l));
	struct event_config *ec = event_config_new();
	if (ec == NULL)
		return false;
	/* One thread per base: libevent's own locking is not needed. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	l->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (l->base == NULL)
		return false;
	pthread_mutex_init(&l->lock, NULL);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0)
		return false;
	l->wake_ev = event_new(l->base, l->wake_fd, EV_READ | EV_PERSIST,
	                       ioloop_wake_cb, l);
	return l->wake_ev != NULL && event_add(l->wake_ev, NULL) == 0;
}

void
ioloop_destroy(struct ioloop *l)
{
	if (l->wake_ev != NULL)
		event_free(l->wake_ev);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	if (l->base != NULL)
		event_base_free(l->base);
	pthread_mutex_destroy(&l->lock);
}

void
ioloop_post(struct ioloop *l, struct ioloop_task *task)
{
	task->next = NULL;
	pthread_mutex_lock(&l->lock);
	bool was_empty = l->tasks == NULL;
	if (l->tasks_tail != NULL)
		l->tasks_tail->next = task;
	else
		l->tasks = task;
	l->tasks_tail = task;
	pthread_mutex_unlock(&l->lock);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t r = write(l->wake_fd, &one, sizeof(one));
		(void)r;
	}
}
