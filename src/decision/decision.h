/*
 * The login decision service: for one authentication attempt it gathers
 * what the pure policy needs (the device registry, failure budgets,
 * detectors), asks policy_decide(), then carries the decision out: records
 * devices and the audit row through the registry writer, settles budgets,
 * raises alerts, writes the attempt's one log line. The registry writer and
 * the alert sink are given to it; policy/ stays pure.
 *
 * An attempt is begun and finished on an authentication worker (the
 * password check runs between the two); its final decision is made inside
 * the registry writer's transaction, where the device's state is read
 * afresh, and done() is called once that is committed: so two first logins
 * at once cannot both take the last learned slot, an administrator's
 * revocation is never overwritten, and whatever the client is answered is
 * already visible to imapcidctl.
 */
#ifndef IMAPCID_DECISION_H
#define IMAPCID_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "clientid/clientid.h"
#include "policy/policy.h"
#include "policy/ratelimit.h"
#include "policy/tracker.h"
#include "registry/registry.h"
#include "registry/writer.h"

#define DECISION_ACCOUNT_MAX 255
#define DECISION_KEY_MAX     (2 + DECISION_ACCOUNT_MAX + 1)

struct decision_options {
	struct policy_rules rules; /* the service takes ownership */
	const char *registry_path; /* for each worker's read handle */
	bool store_tokens;         /* debug: keep tokens in clear */
	struct ratelimit_params rate_token, rate_account, rate_address,
	        rate_network;
	unsigned budget_v4_bits, budget_v6_bits; /* a budget's network */
	uint64_t reuse_window_ms;
	unsigned reuse_accounts;
	uint64_t churn_window_ms;
	unsigned churn_tokens;
	unsigned network_v4_bits, network_v6_bits; /* concurrent networks */
	unsigned pending_max;  /* pending devices kept per account */
	unsigned alert_events; /* enum policy_event bits that alert */
};

struct decision;

/* writer and alert are borrowed and must outlive the service. */
struct decision *decision_new(const struct decision_options *o,
                              const uint8_t *secret, size_t secret_len,
                              struct registry_writer *writer,
                              struct alert *alert, char *err, size_t errlen);
void decision_free(struct decision *d);

/* What a connection keeps while a device holds an authenticated session. */
struct decision_presence {
	bool held;
	char hash[REGISTRY_HASH_LEN + 1];
	char network[TRACKER_NETWORK_MAX];
};

/* One authentication attempt. The caller owns it (and what its pointers
 * point to) until done() has been called. */
struct decision_attempt {
	/* in */
	const char *user, *mech, *peer;
	const struct cid_identity *id; /* NULL without CLIENTID */
	bool account_exists;           /* set before decision_finish() */
	/* On the registry writer's thread, once the outcome is committed;
	 * the attempt is the caller's again from here. */
	void (*done)(struct decision_attempt *a);

	/* out: skip_password after decision_begin(), the rest in done() */
	bool skip_password; /* a budget is spent: spare the hash */
	bool accept;
	const char *reason; /* internal: logged and audited only */
	uint64_t delay_ms;  /* a budget past its free allowance: tarpit */
	struct decision_presence presence; /* end with decision_session_end() */
	/* The canonical account name (lib/account.h), from
	 * decision_begin() on. */
	char account[DECISION_ACCOUNT_MAX + 1];

	/* private */
	struct decision *d;
	struct registry_write write;
	bool has_id; /* an id whose type is used for authentication */
	unsigned type_flags;
	char hash[REGISTRY_HASH_LEN + 1];
	char fp[CID_FINGERPRINT_LEN + 1];
	char address[TRACKER_NETWORK_MAX], network[TRACKER_NETWORK_MAX];
	struct policy_input in;
	struct policy_decision dec;
	unsigned keys; /* budgets drawn on */
	bool password_ok;
	const char *password_reason;
	uint64_t now_ms;
};

void decision_begin(struct decision *d, struct decision_attempt *a);
/* password_reason: why the password check failed (NULL if it passed). */
void decision_finish(struct decision *d, struct decision_attempt *a,
                     bool password_ok, const char *password_reason);
void decision_session_end(struct decision *d, struct decision_presence *p);

#endif
