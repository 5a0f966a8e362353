#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "net/watch.h"

/* Connections accepted per wake-up, so one busy listener cannot starve the
 * thread's established connections. */
#define SERVER_ACCEPT_BATCH 64

static void
server_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_thread *th = arg;
	(void)what;
	for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		                  SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		bool tls = false;
		for (size_t k = 0; k < th->nlisten; k++)
			if (th->listen_fds[k] == fd)
				tls = th->srv->opts.addrs[k].tls;
		conn_accept(th, cfd, (struct sockaddr *)&ss, len, tls);
	}
}

static void
server_close_listeners(struct io_thread *th)
{
	for (size_t k = 0; k < th->nlisten; k++) {
		if (th->listen_evs[k] != NULL) {
			event_free(th->listen_evs[k]);
			th->listen_evs[k] = NULL;
		}
		if (th->listen_fds[k] >= 0) {
			close(th->listen_fds[k]);
			th->listen_fds[k] = -1;
		}
	}
}

static void
server_shutdown_task(struct ioloop_task *task)
{
	struct io_thread *th =
	        (struct io_thread *)((char *)task -
	                             offsetof(struct io_thread, shutdown_task));
	th->shutting_down = true;
	server_close_listeners(th);
	conn_shutdown_all(th);
	if (th->nconns == 0)
		event_base_loopexit(th->loop.base, NULL);
}

static void
server_abort_task(struct ioloop_task *task)
{
	struct io_thread *th =
	        (struct io_thread *)((char *)task -
	                             offsetof(struct io_thread, abort_task));
	event_base_loopbreak(th->loop.base);
}

static void *
server_thread_main(void *arg)
{
	struct io_thread *th = arg;
	event_base_dispatch(th->loop.base);
	conn_close_all(th);
	return NULL;
}

struct server *
server_new(const struct server_options *opts, char *err, size_t errlen)
{
	struct server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return NULL;
	srv->opts = *opts;
	srv->nthreads = opts->io_threads;
	srv->threads = calloc(srv->nthreads, sizeof(*srv->threads));
	srv->peers = peerlimit_new(opts->max_connections_per_ip);
	atomic_init(&srv->nconns, 0);
	if (srv->threads == NULL || srv->peers == NULL) {
		snprintf(err, errlen, "out of memory");
		server_free(srv);
		return NULL;
	}
	for (unsigned t = 0; t < srv->nthreads; t++) {
		struct io_thread *th = &srv->threads[t];
		th->srv = srv;
		th->shutdown_task.fn = server_shutdown_task;
		th->abort_task.fn = server_abort_task;
		th->listen_fds = malloc(opts->naddrs * sizeof(int));
		th->listen_evs = calloc(opts->naddrs, sizeof(struct event *));
		if (!ioloop_init(&th->loop) || th->listen_fds == NULL ||
		    th->listen_evs == NULL) {
			snprintf(err, errlen, "cannot create event loop");
			server_free(srv);
			return NULL;
		}
		th->nlisten = opts->naddrs;
		watch_init(th); /* without it IDLE still works, unwatched */
		for (size_t k = 0; k < opts->naddrs; k++)
			th->listen_fds[k] = -1;
		for (size_t k = 0; k < opts->naddrs; k++) {
			/* Thread 0 resolves port 0; the others reuse it. */
			int fd =
			        listener_bind(&srv->opts.addrs[k], err, errlen);
			if (fd < 0) {
				server_free(srv);
				return NULL;
			}
			th->listen_fds[k] = fd;
			th->listen_evs[k] = event_new(th->loop.base, fd,
			                              EV_READ | EV_PERSIST,
			                              server_accept_cb, th);
			if (th->listen_evs[k] == NULL ||
			    event_add(th->listen_evs[k], NULL) != 0) {
				snprintf(err, errlen, "cannot watch listener");
				server_free(srv);
				return NULL;
			}
		}
	}
	for (size_t k = 0; k < opts->naddrs; k++)
		log_info("listening on %s %s",
		         srv->opts.addrs[k].tls ? "imaps" : "imap",
		         srv->opts.addrs[k].text);
	return srv;
}

bool
server_start(struct server *srv, struct auth_service *auth)
{
	srv->opts.auth = auth;
	srv->mail_workers = workers_new(srv->opts.mail_workers);
	if (srv->mail_workers == NULL)
		return false;
	for (unsigned t = 0; t < srv->nthreads; t++) {
		struct io_thread *th = &srv->threads[t];
		if (pthread_create(&th->tid, NULL, server_thread_main, th) != 0)
			return false;
		th->started = true;
	}
	return true;
}

void
server_shutdown(struct server *srv)
{
	for (unsigned t = 0; t < srv->nthreads; t++)
		if (srv->threads[t].started)
			ioloop_post(&srv->threads[t].loop,
			            &srv->threads[t].shutdown_task);
}

void
server_wait(struct server *srv, uint64_t deadline_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(deadline_ms / 1000);
	ts.tv_nsec += (long)(deadline_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	for (unsigned t = 0; t < srv->nthreads; t++) {
		struct io_thread *th = &srv->threads[t];
		if (!th->started)
			continue;
		if (pthread_timedjoin_np(th->tid, NULL, &ts) != 0) {
			log_warn(
			        "shutdown: thread %u still busy after %llu ms; "
			        "closing its connections",
			        t, (unsigned long long)deadline_ms);
			ioloop_post(&th->loop, &th->abort_task);
			pthread_join(th->tid, NULL);
		}
		th->started = false;
	}
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	/* Workers first: their completions post to the loops below. */
	workers_free(srv->mail_workers);
	for (unsigned t = 0; srv->threads != NULL && t < srv->nthreads; t++) {
		struct io_thread *th = &srv->threads[t];
		if (th->listen_fds != NULL)
			server_close_listeners(th);
		free(th->listen_fds);
		free(th->listen_evs);
		watch_destroy(th);
		if (th->loop.base != NULL)
			ioloop_destroy(&th->loop);
	}
	free(srv->threads);
	peerlimit_free(srv->peers);
	free(srv);
}
