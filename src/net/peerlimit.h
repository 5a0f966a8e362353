/* Concurrent connections per client address (or per any 16-byte key, such
 * as a device's), shared by all I/O threads. */
#ifndef IMAPCID_PEERLIMIT_H
#define IMAPCID_PEERLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct peerlimit;

struct peerlimit *peerlimit_new(unsigned max_per_peer);
void peerlimit_free(struct peerlimit *pl);
/* Counts one more connection from sa; false (and nothing counted) when the
 * address is at its limit. */
bool peerlimit_acquire(struct peerlimit *pl, const struct sockaddr *sa);
void peerlimit_release(struct peerlimit *pl, const struct sockaddr *sa);
/* The same for any 16-byte key (a device's, say). */
bool peerlimit_acquire_key(struct peerlimit *pl, const uint8_t key[16]);
void peerlimit_release_key(struct peerlimit *pl, const uint8_t key[16]);

#endif
