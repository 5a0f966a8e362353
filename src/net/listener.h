/* Listening addresses: "ADDR:PORT, [V6ADDR]:PORT" lists and their sockets.
 * Each I/O thread binds its own socket per address (SO_REUSEPORT), so the
 * kernel spreads connections across threads without a shared accept lock. */
#ifndef IMAPCID_LISTENER_H
#define IMAPCID_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define LISTENER_TEXT_MAX 64
#define LISTENER_BACKLOG  1024

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool tls; /* implicit TLS (listen_imaps) */
	char text[LISTENER_TEXT_MAX];
};

/* Appends the addresses in list to *addrs. False with err on bad syntax. */
bool listener_parse(const char *list, bool tls, struct listen_addr **addrs,
                    size_t *n, char *err, size_t errlen);
/* A non-blocking listening socket, or -1 with err. Port 0 is resolved in
 * place, so the next thread binds the same port. */
int listener_bind(struct listen_addr *a, char *err, size_t errlen);
/* "ADDR:PORT" or "[ADDR]:PORT" of a socket address. */
void listener_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif
