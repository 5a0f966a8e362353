/*
 * The policy engine carries out what policy_decide() decides: it gathers
 * the inputs (device registry, failure budgets, detectors), asks the pure
 * policy, then records devices and audit rows, charges budgets, raises
 * alerts and writes the log line. Runs on the authentication workers.
 */
#ifndef IMAPCID_ENGINE_H
#define IMAPCID_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "clientid/clientid.h"
#include "policy/policy.h"
#include "policy/ratelimit.h"
#include "policy/tracker.h"
#include "registry/registry.h"

#define ENGINE_ACCOUNT_MAX 255

struct engine_options {
	struct policy_rules rules; /* the engine takes ownership */
	const char *registry_path;
	bool store_tokens; /* debug: keep tokens in clear */
	struct ratelimit_params rate_token, rate_account, rate_address;
	uint64_t reuse_window_ms;
	unsigned reuse_accounts;
	unsigned network_v4_bits, network_v6_bits;
	unsigned alert_events; /* enum policy_event bits that alert */
	struct alert_options alerts;
};

struct policy_engine;

struct policy_engine *policy_engine_new(const struct engine_options *o,
                                        const uint8_t *secret,
                                        size_t secret_len, char *err,
                                        size_t errlen);
void policy_engine_free(struct policy_engine *e);

/* What the connection keeps while a device holds a session. */
struct engine_presence {
	bool held;
	char hash[REGISTRY_HASH_LEN + 1];
	char network[TRACKER_NETWORK_MAX];
};

/* One authentication attempt, from before the password check to after. */
struct engine_attempt {
	/* in */
	const char *user, *mech, *peer;
	bool account_exists;           /* set before policy_engine_finish() */
	const struct cid_identity *id; /* NULL without CLIENTID */
	/* filled by policy_engine_begin */
	char account[ENGINE_ACCOUNT_MAX + 1];
	bool has_id; /* an id whose type is used for authentication */
	unsigned type_flags;
	char hash[REGISTRY_HASH_LEN + 1];
	char fp[CID_FINGERPRINT_LEN + 1];
	struct policy_input in;
	struct registry_account override;
	unsigned keys;
	uint64_t delay_ms;
	bool skip_password; /* a budget is spent: spare the hash */
	uint64_t now_ms;
};

void policy_engine_begin(struct policy_engine *e, struct engine_attempt *a);
/* password_reason: why the password check failed (NULL if it passed). */
bool policy_engine_finish(struct policy_engine *e, struct engine_attempt *a,
                          bool password_ok, const char *password_reason,
                          uint64_t *delay_ms, struct engine_presence *presence,
                          const char **reason);
void policy_engine_session_end(struct policy_engine *e,
                               struct engine_presence *presence);

#endif
