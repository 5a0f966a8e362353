/*
 * Device-aware authentication policy as a pure function: everything the
 * decision needs comes in a struct, the decision goes out as a value (accept
 * or refuse, what to record, which alerts to raise), and the caller carries
 * it out (policy/engine.c). No I/O, no clock, no locks here: the draft's
 * sections 4.2-4.4 and 4.7, rules CID-POL-*.
 */
#ifndef IMAPCID_POLICY_H
#define IMAPCID_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum policy_mode {
	POLICY_OFF,     /* CLIENTID accepted, plays no part */
	POLICY_OBSERVE, /* record devices and attempts, never refuse */
	POLICY_LEARN,   /* trust the first devices; record and alert others */
	POLICY_ENFORCE, /* only trusted devices may log in */
};

/* Per-type behaviour flags, draft section 4.7 (CID-POL-7). */
enum policy_flag {
	POLICY_FLAG_IGNORE = 1 << 0,        /* handled, treated as absent */
	POLICY_FLAG_SESSION = 1 << 1,       /* debug log only, else absent */
	POLICY_FLAG_SYSLOG = 1 << 2,        /* in the system log line */
	POLICY_FLAG_USERLOG = 1 << 3,       /* in the account's audit rows */
	POLICY_FLAG_AUTH = 1 << 4,          /* used for authentication */
	POLICY_FLAG_ALERT_FAIL = 1 << 5,    /* alert on failed logins */
	POLICY_FLAG_ALERT_SUCCESS = 1 << 6, /* alert on successful logins */
};
#define POLICY_FLAGS_DEFAULT                                                   \
	(POLICY_FLAG_SYSLOG | POLICY_FLAG_USERLOG | POLICY_FLAG_AUTH)

/* Events that may raise alerts. */
enum policy_event {
	POLICY_EVENT_DEVICE_TRUSTED = 1 << 0,
	POLICY_EVENT_UNKNOWN_REFUSED = 1 << 1,
	POLICY_EVENT_KNOWN_FAILURE = 1 << 2,
	POLICY_EVENT_NEW_DEVICE_SUCCESS = 1 << 3,
	POLICY_EVENT_TOKEN_REUSE = 1 << 4,
	POLICY_EVENT_CONCURRENT_NETWORKS = 1 << 5,
	POLICY_EVENT_LOGIN_FAILURE = 1 << 6, /* alert-fail type flag */
	POLICY_EVENT_LOGIN_SUCCESS = 1 << 7, /* alert-success type flag */
	POLICY_EVENT_TOKEN_CHURN = 1 << 8,   /* many never-seen tokens fail */
};
#define POLICY_EVENT_COUNT 9

/* Which failure budgets a login attempt draws on (docs/POLICY.md). */
enum policy_key {
	POLICY_KEY_TOKEN = 1 << 0,   /* the device's token */
	POLICY_KEY_ACCOUNT = 1 << 1, /* the account tried */
	POLICY_KEY_ADDRESS = 1 << 2, /* the client's address (IPv6: /64) */
	POLICY_KEY_NETWORK = 1 << 3, /* its network (/24, /48 by default) */
};
#define POLICY_KEY_LAST POLICY_KEY_NETWORK

struct policy_type_rule {
	char *pattern; /* fnmatch(3), case-insensitive */
	unsigned flags;
};

/* The global rules, from the configuration. */
struct policy_rules {
	enum policy_mode mode;
	bool require_clientid;
	unsigned learn_max_devices;
	char **types_allow; /* patterns; empty: every type (CID-POL-8) */
	size_t ntypes_allow;
	char **types_deny;
	size_t ntypes_deny;
	struct policy_type_rule *types; /* first match wins */
	size_t ntypes;
	unsigned max_connections_per_device;
	bool token_reuse_block;
};

enum policy_device_state {
	POLICY_DEVICE_UNKNOWN,
	POLICY_DEVICE_TRUSTED,
	POLICY_DEVICE_PENDING,
	POLICY_DEVICE_REVOKED,
};

struct policy_input {
	enum policy_mode mode; /* after the account's override */
	bool require_clientid; /* after the account's override */
	bool password_ok;    /* the account exists and the password is right */
	bool has_id;         /* a CLIENTID whose type is used for auth */
	const char *type;    /* upper-cased; NULL without an id */
	unsigned type_flags; /* policy_type_flags(type) */
	enum policy_device_state device;
	int trusted_devices; /* of this account */
	bool rate_blocked;   /* a budget this attempt draws on is spent */
	bool device_cap_hit; /* too many sessions for this device already */
	bool token_reused;   /* the token was seen on too many accounts */
	bool token_churn;    /* many never-seen tokens failed from here */
	bool other_network;  /* the token is in use from another network */
};

enum policy_device_action {
	POLICY_RECORD_NONE,
	POLICY_RECORD_TOUCH,   /* known device: count, last seen */
	POLICY_RECORD_TRUST,   /* add or promote to trusted */
	POLICY_RECORD_PENDING, /* add as pending (awaiting approval) */
};

struct policy_decision {
	bool accept;
	const char *reason;    /* internal: logged and audited only */
	const char *objection; /* in observe mode: what would have refused */
	enum policy_device_action record;
	unsigned events; /* enum policy_event bits */
	bool count_failure;
	bool block_token; /* token reuse: block the token's budget */
};

/* Parses "off", "observe", "learn", "enforce". */
bool policy_mode_parse(const char *s, enum policy_mode *out);
const char *policy_mode_name(enum policy_mode m);
/* Parses "syslog, auth, alert-fail" into flags; false on an unknown word
 * (*bad points at it). */
bool policy_flags_parse(const char *s, unsigned *out, const char **bad,
                        size_t *badlen);
const char *policy_event_name(enum policy_event e);

/* The flags that apply to a type: the first [type PATTERN] rule that
 * matches, else POLICY_FLAGS_DEFAULT. */
unsigned policy_type_flags(const struct policy_rules *r, const char *type);
/* Is this type allowed by the allow and deny lists? */
bool policy_type_allowed(const struct policy_rules *r, const char *type);

/*
 * Which budgets apply. A device the account knows (trusted, or pending:
 * it has presented this account's password before) draws on its own
 * token's budget only, so it never pays for anyone else's failures. Every
 * other client is a stranger and draws on the account's, its address's
 * and its network's budgets, with or without an id, and on its token's
 * too when it has one: so a CLIENTID, fresh, rotating or fixed, never
 * buys more attempts than sending none. Mode off: as without an id.
 */
unsigned policy_rate_keys(enum policy_mode mode, bool has_id,
                          enum policy_device_state device);

void policy_decide(const struct policy_rules *r, const struct policy_input *in,
                   struct policy_decision *out);

#endif
