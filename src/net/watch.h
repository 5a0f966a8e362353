/*
 * Directory watches for IDLE: one inotify descriptor per I/O thread, one
 * watch per directory however many sessions idle on it, so 5,000 idling
 * sessions cost 5,000 list entries, not 5,000 inotify instances.
 */
#ifndef IMAPCID_WATCH_H
#define IMAPCID_WATCH_H

#include <stdbool.h>

struct io_thread;
struct conn;
struct watch;

bool watch_init(struct io_thread *th);
void watch_destroy(struct io_thread *th);
/* Calls conn_watch_fired(conn) whenever path changes, until removed.
 * NULL if the directory cannot be watched. */
struct watch *watch_add(struct io_thread *th, const char *path,
                        struct conn *conn);
void watch_remove(struct io_thread *th, struct watch *w, struct conn *conn);

/* Implemented by conn.c. */
void conn_watch_fired(struct conn *conn);

#endif
