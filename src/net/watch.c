#include "watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/hmap.h"
#include "lib/log.h"
#include "net/conn.h"

#define WATCH_BUCKETS 1024
#define WATCH_EVENTS                                                           \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |     \
	 IN_CLOSE_WRITE | IN_DELETE_SELF)

/* One watched directory and the connections idling on it. Keyed by the
 * watch descriptor only: inotify returns the same one for the same inode
 * whatever path reached it (sessions pass /proc/self/fd/N paths, and N is
 * reused for other directories once closed). */
struct watch {
	int wd;
	struct conn **conns;
	size_t n, cap;
};

struct watch_set {
	int fd;
	struct event *ev;
	struct hmap *by_wd;
};

static void
watch_key(int wd, char key[16])
{
	snprintf(key, 16, "%d", wd);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_thread *th = arg;
	struct watch_set *ws = th->watches;
	char buf[4096]
	        __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			char key[16];
			watch_key(ev->wd, key);
			struct watch *w = hmap_get(ws->by_wd, key);
			/* conns may remove themselves from w while fired:
			 * walk a copy of the count, from the end */
			for (size_t i = w ? w->n : 0; i > 0; i--)
				if (i <= w->n)
					conn_watch_fired(w->conns[i - 1]);
			p += sizeof(*ev) + ev->len;
		}
	}
}

bool
watch_init(struct io_thread *th)
{
	struct watch_set *ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return false;
	ws->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ws->by_wd = hmap_new(WATCH_BUCKETS);
	if (ws->fd >= 0)
		ws->ev = event_new(th->loop.base, ws->fd, EV_READ | EV_PERSIST,
		                   watch_cb, th);
	if (ws->fd < 0 || ws->by_wd == NULL || ws->ev == NULL ||
	    event_add(ws->ev, NULL) != 0) {
		log_warn("idle: no inotify (%s): IDLE reports changes only "
		         "at its end",
		         strerror(errno));
		th->watches = ws;
		watch_destroy(th);
		return false;
	}
	th->watches = ws;
	return true;
}

static void
watch_free(void *p)
{
	struct watch *w = p;
	free(w->conns);
	free(w);
}

void
watch_destroy(struct io_thread *th)
{
	struct watch_set *ws = th->watches;
	if (ws == NULL)
		return;
	if (ws->ev != NULL)
		event_free(ws->ev);
	if (ws->fd >= 0)
		close(ws->fd);
	hmap_free(ws->by_wd, watch_free);
	free(ws);
	th->watches = NULL;
}

struct watch *
watch_add(struct io_thread *th, const char *path, struct conn *conn)
{
	struct watch_set *ws = th->watches;
	if (ws == NULL)
		return NULL;
	int wd = inotify_add_watch(ws->fd, path, WATCH_EVENTS);
	if (wd < 0) {
		log_warn("idle: cannot watch %s: %s", path, strerror(errno));
		return NULL;
	}
	char key[16];
	watch_key(wd, key);
	struct watch *w = hmap_get(ws->by_wd, key);
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL || !hmap_put(ws->by_wd, key, w)) {
			free(w);
			inotify_rm_watch(ws->fd, wd);
			return NULL;
		}
		w->wd = wd;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct conn **c = realloc(w->conns, cap * sizeof(*c));
		if (c == NULL)
			return NULL;
		w->conns = c;
		w->cap = cap;
	}
	w->conns[w->n++] = conn;
	return w;
}

void
watch_remove(struct io_thread *th, struct watch *w, struct conn *conn)
{
	struct watch_set *ws = th->watches;
	if (ws == NULL || w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++)
		if (w->conns[i] == conn) {
			w->conns[i] = w->conns[--w->n];
			break;
		}
	if (w->n > 0)
		return;
	char key[16];
	watch_key(w->wd, key);
	hmap_remove(ws->by_wd, key);
	inotify_rm_watch(ws->fd, w->wd);
	watch_free(w);
}
