/*
 * The authentication service: given what a client presented (user, password,
 * mechanism, client identity, peer), decide and log. Runs on worker threads,
 * never on an event loop, because real password schemes are slow by design.
 * The front end reaches it only through these request/result values, so it
 * can move behind a socket into its own process later.
 */
#ifndef IMAPCID_AUTH_H
#define IMAPCID_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "clientid/clientid.h"
#include "policy/engine.h"

#define AUTH_PEER_MAX 64

struct auth_request {
	char user[SASL_FIELD_MAX + 1];
	char password[SASL_FIELD_MAX + 1];
	const char *mech; /* "LOGIN", "PLAIN": static strings */
	bool has_clientid;
	struct cid_identity clientid;
	char peer[AUTH_PEER_MAX];
};

struct auth_result {
	bool ok;
	/* Internal only: logged and audited, never shown to the client. */
	const char *reason;
	uint64_t delay_ms; /* a budget past its free allowance: tarpit */
	struct engine_presence presence; /* release at disconnect */
};

struct auth_service;

/* The service uses engine (borrowed) for every decision. */
struct auth_service *auth_service_new(const char *passdb_path,
                                      const char *dummy_scheme,
                                      struct policy_engine *engine,
                                      size_t cache_size, uint64_t cache_ttl_ms,
                                      char *err, size_t errlen);
/* Loads the password file again; the old snapshot stays on failure. */
bool auth_service_reload(struct auth_service *svc, char *err, size_t errlen);
void auth_service_free(struct auth_service *svc);

/* Thread-safe. Wipes nothing: the caller owns and wipes the request. */
void auth_verify(struct auth_service *svc, const struct auth_request *req,
                 struct auth_result *res);

/* Cheap, on any thread: were these credentials verified recently (a
 * credential-cache hit)? Only a scheduling hint: auth_verify decides. */
bool auth_fast_path(struct auth_service *svc, const struct auth_request *req);

/* A session that held a device slot has ended. Thread-safe. */
void auth_session_end(struct auth_service *svc,
                      struct engine_presence *presence);

#endif
