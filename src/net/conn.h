/* Internal to the net module: an I/O thread and its connections. */
#ifndef IMAPCID_CONN_H
#define IMAPCID_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "net/ioloop.h"
#include "net/peerlimit.h"
#include "net/server.h"
#include "lib/workers.h"

struct conn;

struct io_thread {
	struct server *srv;
	struct ioloop loop;
	pthread_t tid;
	bool started;
	int *listen_fds;
	struct event **listen_evs;
	size_t nlisten;
	struct conn *conns; /* every connection this thread owns */
	unsigned nconns;
	bool shutting_down;
	struct ioloop_task shutdown_task, abort_task;
	struct watch_set *watches; /* IDLE's inotify, see watch.c */
};

struct server {
	struct server_options opts;
	struct io_thread *threads;
	unsigned nthreads;
	/* Mail work, which may wait on a folder's lock or the disk; logins
	 * have their own threads in the auth service, never behind it. */
	struct workers *mail_workers;
	struct peerlimit *peers; /* unauthenticated connections per address */
	atomic_uint nconns;
};

void conn_accept(struct io_thread *th, int fd, const struct sockaddr *peer,
                 socklen_t peerlen, bool tls);
/* Shutdown: BYE to every idle session on this thread. */
void conn_shutdown_all(struct io_thread *th);
/* Abort: close everything now. */
void conn_close_all(struct io_thread *th);

#endif
