/*
 * The network front end: listeners, I/O threads with their event loops,
 * connections, and the worker pool that runs mail commands.
 */
#ifndef IMAPCID_SERVER_H
#define IMAPCID_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "imap/session.h"
#include "net/listener.h"
#include "net/tls.h"

struct server_options {
	struct imap_session_config session;
	struct listen_addr *addrs;
	size_t naddrs;
	unsigned io_threads, mail_workers;
	uint64_t timeout_preauth_ms, timeout_auth_ms;
	uint64_t timeout_login_ms; /* from connect to authenticated */
	unsigned max_connections, max_connections_per_ip;
	struct tls_server *tls;    /* borrowed */
	struct auth_service *auth; /* borrowed */
};

struct server;

/* Binds every listener for every thread (so ports can be privileged and
 * the daemon can drop root afterwards) and logs the bound addresses. */
struct server *server_new(const struct server_options *opts, char *err,
                          size_t errlen);
/* Starts the I/O threads, with auth for every login. */
bool server_start(struct server *srv, struct auth_service *auth);
/* From the main thread: stop accepting, send BYE to idle sessions, let
 * commands in progress finish. */
void server_shutdown(struct server *srv);
/* Waits for the I/O threads until deadline_ms from now, then ends what is
 * left. */
void server_wait(struct server *srv, uint64_t deadline_ms);
void server_free(struct server *srv);

#endif
