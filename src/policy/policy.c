#include "policy.h"

#include <ctype.h>
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static const char *const policy_mode_names[] = {"off", "observe", "learn",
                                                "enforce"};

bool
policy_mode_parse(const char *s, enum policy_mode *out)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, policy_mode_names[i]) == 0) {
			*out = (enum policy_mode)i;
			return true;
		}
	return false;
}

const char *
policy_mode_name(enum policy_mode m)
{
	return policy_mode_names[m];
}

static const struct {
	const char *name;
	unsigned flag;
} policy_flag_names[] = {
        {"ignore", POLICY_FLAG_IGNORE},
        {"session", POLICY_FLAG_SESSION},
        {"syslog", POLICY_FLAG_SYSLOG},
        {"userlog", POLICY_FLAG_USERLOG},
        {"auth", POLICY_FLAG_AUTH},
        {"alert-fail", POLICY_FLAG_ALERT_FAIL},
        {"alert-success", POLICY_FLAG_ALERT_SUCCESS},
};

bool
policy_flags_parse(const char *s, unsigned *out, const char **bad,
                   size_t *badlen)
{
	unsigned flags = 0;
	while (*s != '\0') {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		const char *end = s;
		while (*end != '\0' && *end != ' ' && *end != ',' &&
		       *end != '\t')
			end++;
		size_t n = (size_t)(end - s), i;
		for (i = 0; i < sizeof(policy_flag_names) /
		                        sizeof(policy_flag_names[0]);
		     i++)
			if (strlen(policy_flag_names[i].name) == n &&
			    strncasecmp(s, policy_flag_names[i].name, n) == 0)
				break;
		if (i ==
		    sizeof(policy_flag_names) / sizeof(policy_flag_names[0])) {
			*bad = s;
			*badlen = n;
			return false;
		}
		flags |= policy_flag_names[i].flag;
		s = end;
	}
	*out = flags;
	return true;
}

const char *
policy_event_name(enum policy_event e)
{
	switch (e) {
	case POLICY_EVENT_DEVICE_TRUSTED:
		return "device-trusted";
	case POLICY_EVENT_UNKNOWN_REFUSED:
		return "unknown-device-refused";
	case POLICY_EVENT_KNOWN_FAILURE:
		return "known-device-failure";
	case POLICY_EVENT_NEW_DEVICE_SUCCESS:
		return "new-device-success";
	case POLICY_EVENT_TOKEN_REUSE:
		return "token-reused-across-accounts";
	case POLICY_EVENT_CONCURRENT_NETWORKS:
		return "concurrent-networks";
	case POLICY_EVENT_LOGIN_FAILURE:
		return "login-failure";
	case POLICY_EVENT_LOGIN_SUCCESS:
		return "login-success";
	case POLICY_EVENT_TOKEN_CHURN:
		return "token-churn";
	}
	return "unknown";
}

static bool
policy_match_any(char *const *patterns, size_t n, const char *type)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(patterns[i], type, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

unsigned
policy_type_flags(const struct policy_rules *r, const char *type)
{
	for (size_t i = 0; i < r->ntypes; i++)
		if (fnmatch(r->types[i].pattern, type, FNM_CASEFOLD) == 0)
			return r->types[i].flags;
	return POLICY_FLAGS_DEFAULT;
}

bool
policy_type_allowed(const struct policy_rules *r, const char *type)
{
	if (policy_match_any(r->types_deny, r->ntypes_deny, type))
		return false;
	/* Unknown types are welcome unless a list says otherwise (CID-POL-8). */
	return r->ntypes_allow == 0 ||
	       policy_match_any(r->types_allow, r->ntypes_allow, type);
}

unsigned
policy_rate_keys(enum policy_mode mode, bool has_id,
                 enum policy_device_state device)
{
	const unsigned stranger =
	        POLICY_KEY_ACCOUNT | POLICY_KEY_ADDRESS | POLICY_KEY_NETWORK;
	if (mode == POLICY_OFF || !has_id)
		return stranger;
	if (device == POLICY_DEVICE_TRUSTED || device == POLICY_DEVICE_PENDING)
		return POLICY_KEY_TOKEN;
	return POLICY_KEY_TOKEN | stranger;
}

/* What the policy holds against a login whose password is right, or NULL. */
static const char *
policy_objection(const struct policy_rules *r, const struct policy_input *in)
{
	if (in->token_reused && r->token_reuse_block)
		return "token used for too many accounts";
	if (in->require_clientid && !in->has_id)
		return "no client id";
	if (in->has_id && !policy_type_allowed(r, in->type))
		return "client id type not allowed";
	if (in->device == POLICY_DEVICE_REVOKED)
		return "device revoked";
	if (in->device_cap_hit)
		return "too many connections for this device";
	if (in->mode == POLICY_ENFORCE && in->device != POLICY_DEVICE_TRUSTED)
		return in->device == POLICY_DEVICE_PENDING
		               ? "device pending approval"
		               : "unknown device";
	return NULL;
}

void
policy_decide(const struct policy_rules *r, const struct policy_input *in,
              struct policy_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->record = POLICY_RECORD_NONE;
	bool known = in->device == POLICY_DEVICE_TRUSTED ||
	             in->device == POLICY_DEVICE_PENDING;

	if (in->mode != POLICY_OFF && in->has_id && in->token_churn)
		out->events |= POLICY_EVENT_TOKEN_CHURN;
	if (in->mode != POLICY_OFF && in->token_reused) {
		out->events |= POLICY_EVENT_TOKEN_REUSE;
		/* observe only audits what it would do */
		out->block_token =
		        r->token_reuse_block && in->mode != POLICY_OBSERVE;
	}
	/* Budgets apply in every mode, observe included. */
	if (in->rate_blocked) {
		out->reason = "rate limited";
		out->count_failure = true;
		if (in->mode != POLICY_OFF && in->has_id &&
		    (in->type_flags & POLICY_FLAG_ALERT_FAIL))
			out->events |= POLICY_EVENT_LOGIN_FAILURE;
		return;
	}
	if (!in->password_ok) {
		out->reason = "wrong password";
		out->count_failure = true;
		if (in->mode == POLICY_OFF)
			return;
		if (known)
			out->events |= POLICY_EVENT_KNOWN_FAILURE;
		if (in->has_id && (in->type_flags & POLICY_FLAG_ALERT_FAIL))
			out->events |= POLICY_EVENT_LOGIN_FAILURE;
		return;
	}
	if (in->mode == POLICY_OFF) {
		out->accept = true;
		out->reason = "ok";
		return;
	}

	const char *objection = policy_objection(r, in);
	if (objection != NULL && in->mode != POLICY_OBSERVE) {
		out->reason = objection;
		out->count_failure = true;
		if (in->has_id && in->device == POLICY_DEVICE_UNKNOWN &&
		    in->mode == POLICY_ENFORCE &&
		    policy_type_allowed(r, in->type)) {
			/* Right password, unknown device: keep it for the
			 * account holder or operator to approve. */
			out->record = POLICY_RECORD_PENDING;
			out->events |= POLICY_EVENT_UNKNOWN_REFUSED;
		} else if (in->device == POLICY_DEVICE_PENDING) {
			out->record = POLICY_RECORD_TOUCH;
			out->events |= POLICY_EVENT_UNKNOWN_REFUSED;
		}
		if (in->has_id && (in->type_flags & POLICY_FLAG_ALERT_FAIL))
			out->events |= POLICY_EVENT_LOGIN_FAILURE;
		return;
	}

	out->accept = true;
	out->reason = "ok";
	out->objection = objection;
	if (in->has_id) {
		if (in->device == POLICY_DEVICE_TRUSTED ||
		    in->device == POLICY_DEVICE_REVOKED) {
			out->record = POLICY_RECORD_TOUCH;
		} else if (in->mode == POLICY_LEARN &&
		           in->trusted_devices < (int)r->learn_max_devices) {
			out->record = POLICY_RECORD_TRUST;
			out->events |= POLICY_EVENT_DEVICE_TRUSTED;
		} else {
			out->record = in->device == POLICY_DEVICE_PENDING
			                      ? POLICY_RECORD_TOUCH
			                      : POLICY_RECORD_PENDING;
			/* once per device: the login that first sees it */
			if (in->mode == POLICY_LEARN &&
			    in->device == POLICY_DEVICE_UNKNOWN)
				out->events |= POLICY_EVENT_NEW_DEVICE_SUCCESS;
		}
		if (in->other_network)
			out->events |= POLICY_EVENT_CONCURRENT_NETWORKS;
		if (in->type_flags & POLICY_FLAG_ALERT_SUCCESS)
			out->events |= POLICY_EVENT_LOGIN_SUCCESS;
	}
}
