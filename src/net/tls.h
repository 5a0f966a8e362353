/*
 * TLS server contexts (OpenSSL 3). The current context is swapped whole on
 * reload (SIGHUP), so a new certificate applies to new connections while
 * open ones keep theirs.
 */
#ifndef IMAPCID_TLS_H
#define IMAPCID_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct tls_server;

/* min_version: "1.2" or "1.3". */
struct tls_server *tls_server_new(const char *cert, const char *key,
                                  const char *min_version, char *err,
                                  size_t errlen);
bool tls_server_reload(struct tls_server *t, char *err, size_t errlen);
void tls_server_free(struct tls_server *t);
/* A new SSL for an accepted connection, from the current context. */
SSL *tls_server_ssl(struct tls_server *t);

/* Writes a self-signed ECDSA P-256 certificate and its key (mode 0600). */
bool tls_make_self_signed(const char *cert, const char *key, const char *cn,
                          char *err, size_t errlen);

#endif
