/*
 * The authentication service: given what a client presented (user,
 * password, mechanism, client identity, peer), decide, record and answer.
 * It runs on its own worker threads, never on an event loop, because real
 * password schemes are slow by design, and never behind mail work.
 *
 * The front end reaches it only through auth_submit() with request and
 * result values, and learns the outcome through a completion callback,
 * so the service can move behind a socket into its own process.
 */
#ifndef IMAPCID_AUTH_H
#define IMAPCID_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "clientid/clientid.h"
#include "decision/decision.h"
#include "lib/workers.h"

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
	/* Wait this long before answering: a failure is answered
	 * auth_failure_delay after it was submitted, whatever its reason
	 * and however long its check took (CID-POL-2), and a budget past
	 * its free failures adds its tarpit. */
	uint64_t delay_ms;
	/* The account's canonical name (on success): the one name for the
	 * mail store, the registry and the logs. */
	char account[DECISION_ACCOUNT_MAX + 1];
	struct decision_presence presence; /* release with auth_session_end */
};

struct auth_job;
typedef void auth_complete_fn(struct auth_job *job);

struct auth_job {
	/* set by the caller */
	const struct auth_request *req; /* borrowed until complete */
	/* On one of the service's threads once the outcome is recorded;
	 * the job is the caller's again from here. */
	auth_complete_fn *complete;
	/* set by the service, valid in complete */
	struct auth_result res;
	/* private */
	struct auth_service *svc;
	struct worker_job work;
	uint64_t submitted_ms; /* monotonic */
	struct decision_attempt attempt;
};

struct auth_options {
	const char *passdb_path;
	const char *dummy_scheme;  /* verified for unknown users */
	size_t cache_size;         /* verified credentials remembered */
	uint64_t cache_ttl_ms;     /* 0: none */
	unsigned workers;          /* threads */
	uint64_t failure_delay_ms; /* every failure answered after this */
};

struct auth_service;

/* decision (borrowed) makes every decision. Starts the threads. */
struct auth_service *auth_service_new(const struct auth_options *o,
                                      struct decision *decision, char *err,
                                      size_t errlen);
/* Loads the password file again; the old snapshot stays on failure. */
bool auth_service_reload(struct auth_service *svc, char *err, size_t errlen);
/* Finishes what was submitted, then stops the threads. */
void auth_service_free(struct auth_service *svc);

/* From any thread. Wipes nothing: the caller owns and wipes the request. */
void auth_submit(struct auth_service *svc, struct auth_job *job);

/* A session that held a device slot has ended. Thread-safe. */
void auth_session_end(struct auth_service *svc,
                      struct decision_presence *presence);

#endif
