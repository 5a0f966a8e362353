/* Concurrent connections per client address, shared by all I/O threads. */
#ifndef IMAPCID_PEERLIMIT_H
#define IMAPCID_PEERLIMIT_H

#include <stdbool.h>
#include <sys/socket.h>

struct peerlimit;

struct peerlimit *peerlimit_new(unsigned max_per_peer);
void peerlimit_free(struct peerlimit *pl);
/* Counts one more connection from sa; false (and nothing counted) when the
 * address is at its limit. */
bool peerlimit_acquire(struct peerlimit *pl, const struct sockaddr *sa);
void peerlimit_release(struct peerlimit *pl, const struct sockaddr *sa);

#endif
