#include "decision.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/account.h"
#include "lib/clock.h"
#include "lib/hmac.h"
#include "lib/log.h"

#define DECISION_SECRET_MAX   64
#define DECISION_RATE_KEYS    100000 /* budgets tracked at once */
#define DECISION_TOKENS       50000  /* tokens the detectors follow */
#define DECISION_NETWORKS     20000  /* networks the churn detector does */
#define DECISION_IPV6_ADDRESS 64     /* an IPv6 client's "address" */

struct decision {
	struct decision_options o;
	char *registry_path;
	struct hmac_key *cid_key;   /* the secret, keyed once */
	pthread_key_t registry_key; /* one read handle per worker */
	struct registry_writer *writer;
	struct alert *alert;
	struct ratelimit *rate;
	struct tracker *tracker; /* per token: accounts, sessions */
	struct tracker *churn;   /* per network: never-seen tokens failing */
};

static void
decision_registry_close(void *p)
{
	registry_close(p);
}

/* The calling worker's read handle (SQLite handles are not shared). */
static struct registry *
decision_registry(struct decision *d)
{
	struct registry *r = pthread_getspecific(d->registry_key);
	if (r != NULL)
		return r;
	char err[512];
	r = registry_open(d->registry_path, err, sizeof(err));
	if (r == NULL) {
		log_error("registry: %s", err);
		return NULL;
	}
	pthread_setspecific(d->registry_key, r);
	return r;
}

static void
decision_free_rules(struct policy_rules *r)
{
	for (size_t i = 0; i < r->ntypes_allow; i++)
		free(r->types_allow[i]);
	for (size_t i = 0; i < r->ntypes_deny; i++)
		free(r->types_deny[i]);
	for (size_t i = 0; i < r->ntypes; i++)
		free(r->types[i].pattern);
	free(r->types_allow);
	free(r->types_deny);
	free(r->types);
}

struct decision *
decision_new(const struct decision_options *o, const uint8_t *secret,
             size_t secret_len, struct registry_writer *writer,
             struct alert *alert, char *err, size_t errlen)
{
	struct decision *d = calloc(1, sizeof(*d));
	if (d == NULL || secret_len > DECISION_SECRET_MAX) {
		snprintf(err, errlen, "out of memory");
		free(d);
		return NULL;
	}
	d->o = *o;
	d->writer = writer;
	d->alert = alert;
	pthread_key_create(&d->registry_key, decision_registry_close);
	d->registry_path = strdup(o->registry_path);
	d->cid_key = cid_key_new(secret, secret_len);
	d->rate = ratelimit_new(DECISION_RATE_KEYS, o->rate_token.window_ms);
	d->tracker = tracker_new(DECISION_TOKENS);
	d->churn = tracker_new(DECISION_NETWORKS);
	if (d->registry_path == NULL || d->cid_key == NULL || d->rate == NULL ||
	    d->tracker == NULL || d->churn == NULL) {
		snprintf(err, errlen, "out of memory");
		decision_free(d);
		return NULL;
	}
	return d;
}

void
decision_free(struct decision *d)
{
	if (d == NULL)
		return;
	ratelimit_free(d->rate);
	tracker_free(d->tracker);
	tracker_free(d->churn);
	struct registry *r = pthread_getspecific(d->registry_key);
	registry_close(r);
	pthread_key_delete(d->registry_key);
	decision_free_rules(&d->o.rules);
	free(d->registry_path);
	hmac_key_free(d->cid_key);
	free(d);
}

static void
decision_key(char *out, size_t len, unsigned key,
             const struct decision_attempt *a)
{
	switch (key) {
	case POLICY_KEY_TOKEN:
		snprintf(out, len, "t:%s", a->hash);
		break;
	case POLICY_KEY_ACCOUNT:
		snprintf(out, len, "a:%s", a->account);
		break;
	case POLICY_KEY_ADDRESS:
		snprintf(out, len, "i:%s", a->address);
		break;
	default:
		snprintf(out, len, "n:%s", a->network);
		break;
	}
}

static const struct ratelimit_params *
decision_params(const struct decision *d, unsigned key)
{
	switch (key) {
	case POLICY_KEY_TOKEN:
		return &d->o.rate_token;
	case POLICY_KEY_ACCOUNT:
		return &d->o.rate_account;
	case POLICY_KEY_ADDRESS:
		return &d->o.rate_address;
	default:
		return &d->o.rate_network;
	}
}

static enum policy_device_state
decision_device_state(const struct registry_device *dev, int64_t now_s)
{
	switch (dev->state) {
	case REGISTRY_TRUSTED:
		return POLICY_DEVICE_TRUSTED;
	case REGISTRY_PENDING:
		return POLICY_DEVICE_PENDING;
	case REGISTRY_REVOKED:
		/* A revocation with an end is a suspension of the state
		 * before. */
		if (dev->revoked_until > 0 && dev->revoked_until <= now_s)
			return dev->resume_state == REGISTRY_PENDING
			               ? POLICY_DEVICE_PENDING
			               : POLICY_DEVICE_TRUSTED;
		return POLICY_DEVICE_REVOKED;
	}
	return POLICY_DEVICE_UNKNOWN;
}

/* The device's state for this account, from r (1 found, 0 not, -1 no
 * answer). */
static int
decision_read_device(struct registry *r, const struct decision_attempt *a,
                     enum policy_device_state *out)
{
	struct registry_device dev;
	int found = registry_device_get(r, a->account, a->hash, &dev);
	*out = found == 1 ? decision_device_state(&dev,
	                                          (int64_t)(a->now_ms / 1000))
	                  : POLICY_DEVICE_UNKNOWN;
	return found;
}

void
decision_begin(struct decision *d, struct decision_attempt *a)
{
	const struct policy_rules *rules = &d->o.rules;
	struct policy_input *in = &a->in;
	memset(in, 0, sizeof(*in));
	a->d = d;
	a->now_ms = clock_wall_ms();
	account_canonical(a->user, a->account, sizeof(a->account));
	/* An IPv6 client has a /64 to itself; its "address" is that. */
	if (!tracker_network(a->peer, 32, DECISION_IPV6_ADDRESS, a->address))
		snprintf(a->address, sizeof(a->address), "%s", a->peer);
	if (!tracker_network(a->peer, d->o.budget_v4_bits, d->o.budget_v6_bits,
	                     a->network))
		snprintf(a->network, sizeof(a->network), "%s", a->peer);

	a->type_flags = 0;
	a->has_id = false;
	a->hash[0] = a->fp[0] = '\0';
	if (a->id != NULL) {
		a->type_flags = policy_type_flags(rules, a->id->type);
		if (!(a->type_flags & POLICY_FLAG_IGNORE)) {
			cid_hash_keyed(d->cid_key, a->id, a->hash);
			memcpy(a->fp, a->hash, CID_FINGERPRINT_LEN);
			a->fp[CID_FINGERPRINT_LEN] = '\0';
		}
		a->has_id = (a->type_flags & POLICY_FLAG_AUTH) &&
		            !(a->type_flags &
		              (POLICY_FLAG_IGNORE | POLICY_FLAG_SESSION));
	}

	/* What the registry says now: it chooses the budgets; the decision
	 * itself reads it again in the writer's transaction. */
	struct registry *reg = decision_registry(d);
	struct registry_account override = {.require_clientid = -1};
	bool snapshot = reg != NULL && registry_read_begin(reg);
	if (reg != NULL)
		registry_account_get(reg, a->account, &override);
	in->mode = rules->mode;
	if (override.mode[0] != '\0')
		policy_mode_parse(override.mode, &in->mode);
	in->require_clientid = override.require_clientid >= 0
	                               ? override.require_clientid != 0
	                               : rules->require_clientid;
	in->has_id = a->has_id;
	in->type = a->has_id ? a->id->type : NULL;
	in->type_flags = a->type_flags;
	in->device = POLICY_DEVICE_UNKNOWN;
	if (a->has_id && in->mode != POLICY_OFF && reg != NULL)
		decision_read_device(reg, a, &in->device);
	if (snapshot)
		registry_read_end(reg);

	/* A budget already spent spares the hash. Whether this attempt is
	 * delayed, and whether it counts, is settled in the writer's
	 * transaction (decision_budgets()), one attempt after another. */
	a->keys = policy_rate_keys(in->mode, a->has_id, in->device);
	a->delay_ms = 0;
	for (unsigned k = 1; k <= POLICY_KEY_LAST; k <<= 1) {
		if (!(a->keys & k))
			continue;
		char key[DECISION_KEY_MAX + 64];
		struct ratelimit_verdict v;
		decision_key(key, sizeof(key), k, a);
		ratelimit_check(d->rate, key, decision_params(d, k), a->now_ms,
		                &v);
		in->rate_blocked |= v.blocked;
	}
	a->skip_password = in->rate_blocked;
	if (a->has_id && in->mode != POLICY_OFF)
		in->token_reused = tracker_note_account(
		        d->tracker, a->hash, a->account, a->now_ms,
		        d->o.reuse_window_ms, d->o.reuse_accounts);
}

/* Client-chosen bytes go into the log escaped, so they cannot forge
 * lines. */
static void
decision_sanitize(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (; *in != '\0' && o + 5 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if (c > 0x20 && c < 0x7f && c != '\\' && c != '"') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void
decision_alerts(struct decision *d, const struct decision_attempt *a,
                unsigned events, const char *reason)
{
	events &= d->o.alert_events;
	for (unsigned bit = 1; events != 0; bit <<= 1) {
		if (!(events & bit))
			continue;
		events &= ~bit;
		struct alert_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.event = policy_event_name((enum policy_event)bit);
		ev.time_ms = (int64_t)a->now_ms;
		decision_sanitize(a->account, ev.account, sizeof(ev.account));
		decision_sanitize(a->peer, ev.peer, sizeof(ev.peer));
		ev.mail_holder = a->account_exists;
		ev.log_fp = (a->type_flags & POLICY_FLAG_SYSLOG) != 0;
		if (a->id != NULL && a->fp[0] != '\0') {
			snprintf(ev.type, sizeof(ev.type), "%s", a->id->type);
			memcpy(ev.fp, a->fp, sizeof(ev.fp));
		}
		if (bit == POLICY_EVENT_TOKEN_CHURN)
			snprintf(ev.reason, sizeof(ev.reason),
			         "more than %u never-seen tokens failed from "
			         "%.52s",
			         d->o.churn_tokens, a->network);
		else
			snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
		alert_raise(d->alert, &ev);
	}
}

static void
decision_log(const struct decision_attempt *a, bool ok, const char *reason)
{
	char user[DECISION_ACCOUNT_MAX * 4 + 8], login[sizeof(user) + 16];
	char cid[CID_TYPE_MAX + 40];
	decision_sanitize(a->account, user, sizeof(user));
	login[0] = '\0';
	if (strcmp(a->user, a->account) != 0) {
		/* as typed, when that is not the canonical name */
		char typed[sizeof(user)];
		decision_sanitize(a->user, typed, sizeof(typed));
		snprintf(login, sizeof(login), " login=%s", typed);
	}
	if (a->id == NULL || (a->type_flags & POLICY_FLAG_IGNORE))
		snprintf(cid, sizeof(cid), "-");
	else if (!(a->type_flags & POLICY_FLAG_SYSLOG))
		snprintf(cid, sizeof(cid), "%s/fp=(not logged)", a->id->type);
	else
		snprintf(cid, sizeof(cid), "%s/fp=%s", a->id->type, a->fp);
	if (a->id != NULL && (a->type_flags & POLICY_FLAG_SESSION))
		log_debug("auth: clientid %s/fp=%s kept for this session only",
		          a->id->type, a->fp);
	/* a budget past its free failures holds the answer back */
	char tarpit[32] = "";
	if (a->delay_ms > 0)
		snprintf(tarpit, sizeof(tarpit), " tarpit=%llums",
		         (unsigned long long)a->delay_ms);
	log_info("auth: user=%s%s peer=%s mech=%s clientid=%s mode=%s "
	         "result=%s%s%s%s%s",
	         user, login, a->peer, a->mech, cid,
	         policy_mode_name(a->in.mode), ok ? "ok" : "fail",
	         reason ? " reason=\"" : "", reason ? reason : "",
	         reason ? "\"" : "", tarpit);
}

/* Why the attempt failed or what observe mode objects to, for the log and
 * the audit row. */
static void
decision_why(const struct decision_attempt *a, char *out, size_t len)
{
	const struct policy_decision *dec = &a->dec;
	if (!a->password_ok && !a->in.rate_blocked &&
	    a->password_reason != NULL)
		snprintf(out, len, "%s", a->password_reason);
	else if (dec->objection != NULL)
		snprintf(out, len, "observe: would refuse: %s", dec->objection);
	else
		snprintf(out, len, "%s", dec->reason);
}

static void
decision_record_device(struct decision *d, struct registry *reg,
                       const struct decision_attempt *a)
{
	int64_t now_s = (int64_t)(a->now_ms / 1000);
	struct registry_device dev;
	switch (a->dec.record) {
	case POLICY_RECORD_NONE:
		return;
	case POLICY_RECORD_TOUCH:
		registry_device_touch(reg, a->account, a->hash, now_s, a->peer);
		return;
	case POLICY_RECORD_TRUST:
	case POLICY_RECORD_PENDING:
		break;
	}
	/* Read in this transaction: nothing can change it before commit. */
	if (registry_device_get(reg, a->account, a->hash, &dev) != 1) {
		memset(&dev, 0, sizeof(dev));
		snprintf(dev.account, sizeof(dev.account), "%s", a->account);
		snprintf(dev.type, sizeof(dev.type), "%s", a->id->type);
		memcpy(dev.hash, a->hash, sizeof(dev.hash));
		dev.first_seen = now_s;
		dev.added_ms = (int64_t)a->now_ms;
		dev.state = REGISTRY_PENDING;
		if (d->o.store_tokens)
			snprintf(dev.token, sizeof(dev.token), "%s",
			         a->id->token);
	}
	if (a->dec.record == POLICY_RECORD_TRUST) {
		dev.state = REGISTRY_TRUSTED;
		dev.revoked_until = 0;
	}
	dev.last_seen = now_s;
	dev.count++;
	snprintf(dev.last_addr, sizeof(dev.last_addr), "%s", a->peer);
	if (!registry_device_put(reg, &dev))
		log_error("registry: cannot record a device of %s", a->account);
	/* Only right passwords make pending devices, but an account's
	 * holder may not get to approve them: keep the newest few. */
	if (dev.state == REGISTRY_PENDING && d->o.pending_max > 0)
		registry_pending_trim(reg, a->account, d->o.pending_max);
}

/*
 * The budgets, on the writer's thread, so attempts are settled one after
 * another however many ran in parallel: each sees every failure settled
 * before it. The delay is the budgets' state before this attempt (its
 * free failures spent: delayed); a budget that became blocked while this
 * attempt was being checked refuses it, right password or not (so
 * parallel attempts past the ceiling learn nothing); a failure counts once
 * the decision says so.
 */
static void
decision_budgets_before(struct decision *d, struct decision_attempt *a)
{
	uint64_t now = clock_wall_ms();
	a->delay_ms = 0;
	for (unsigned k = 1; k <= POLICY_KEY_LAST; k <<= 1) {
		if (!(a->keys & k))
			continue;
		char key[DECISION_KEY_MAX + 64];
		struct ratelimit_verdict v;
		decision_key(key, sizeof(key), k, a);
		ratelimit_check(d->rate, key, decision_params(d, k), now, &v);
		a->in.rate_blocked |= v.blocked;
		if (v.delay_ms > a->delay_ms)
			a->delay_ms = v.delay_ms;
	}
}

static void
decision_budgets_after(struct decision *d, struct decision_attempt *a)
{
	const struct policy_decision *dec = &a->dec;
	uint64_t now = clock_wall_ms();
	char key[DECISION_KEY_MAX + 64];
	for (unsigned k = 1; k <= POLICY_KEY_LAST; k <<= 1) {
		if (!(a->keys & k))
			continue;
		decision_key(key, sizeof(key), k, a);
		if (dec->count_failure)
			/* refused unchecked (a budget was spent): counted
			 * only where it is counted already, so a flood of
			 * refused attempts cannot fill the table */
			ratelimit_fail(d->rate, key, decision_params(d, k), now,
			               !a->in.rate_blocked);
		else if (k == POLICY_KEY_TOKEN &&
		         a->in.device == POLICY_DEVICE_TRUSTED)
			ratelimit_reset(d->rate, key); /* trusted, and in */
	}
	if (dec->block_token) {
		decision_key(key, sizeof(key), POLICY_KEY_TOKEN, a);
		ratelimit_block(d->rate, key, now,
		                now + d->o.rate_token.block_ms);
	}
}

/* In the registry writer's transaction: the decision, on the registry as
 * it is now, and what it records. */
static void
decision_apply(struct registry *reg, struct registry_write *w)
{
	struct decision_attempt *a =
	        (struct decision_attempt *)((char *)w -
	                                    offsetof(struct decision_attempt,
	                                             write));
	struct decision *d = a->d;
	struct policy_input *in = &a->in;
	if (reg != NULL && a->has_id && in->mode != POLICY_OFF) {
		decision_read_device(reg, a, &in->device);
		if (a->password_ok && in->mode == POLICY_LEARN)
			in->trusted_devices = registry_trusted_count(
			        reg, a->account, (int64_t)(a->now_ms / 1000));
	}
	decision_budgets_before(d, a);
	policy_decide(&d->o.rules, in, &a->dec);
	decision_budgets_after(d, a);
	if (reg == NULL)
		return;
	decision_record_device(d, reg, a);

	char why[REGISTRY_REASON_MAX];
	decision_why(a, why, sizeof(why));
	struct registry_audit au;
	memset(&au, 0, sizeof(au));
	au.time_ms = (int64_t)a->now_ms;
	snprintf(au.account, sizeof(au.account), "%s", a->account);
	snprintf(au.peer, sizeof(au.peer), "%s", a->peer);
	if (a->id != NULL && a->fp[0] != '\0' &&
	    (a->type_flags & POLICY_FLAG_USERLOG)) {
		snprintf(au.type, sizeof(au.type), "%s", a->id->type);
		memcpy(au.fp, a->fp, sizeof(au.fp));
	}
	snprintf(au.mech, sizeof(au.mech), "%s", a->mech);
	au.ok = a->dec.accept;
	snprintf(au.reason, sizeof(au.reason), "%s", why);
	if (!registry_audit_add(reg, &au))
		log_error("registry: cannot write the audit row of %s",
		          a->account);
}

/* After the commit: budgets, detectors' blocks, alerts, the log line,
 * then the answer. */
static void
decision_committed(struct registry_write *w, bool ok)
{
	struct decision_attempt *a =
	        (struct decision_attempt *)((char *)w -
	                                    offsetof(struct decision_attempt,
	                                             write));
	struct decision *d = a->d;
	const struct policy_decision *dec = &a->dec;
	(void)ok; /* logged by the writer; the decision stands */

	if (!dec->accept)
		decision_session_end(d, &a->presence);

	char why[REGISTRY_REASON_MAX];
	decision_why(a, why, sizeof(why));
	decision_alerts(d, a, dec->events, why);
	decision_log(a, dec->accept,
	             dec->accept && dec->objection == NULL ? NULL : why);
	a->accept = dec->accept;
	a->reason = dec->reason;
	a->done(a);
}

void
decision_finish(struct decision *d, struct decision_attempt *a,
                bool password_ok, const char *password_reason)
{
	struct policy_input *in = &a->in;
	a->password_ok = in->password_ok = password_ok;
	a->password_reason = password_reason;
	a->presence.held = false;

	if (password_ok && a->has_id && in->mode != POLICY_OFF &&
	    tracker_network(a->peer, d->o.network_v4_bits, d->o.network_v6_bits,
	                    a->presence.network)) {
		bool other = false;
		a->presence.held = tracker_session_acquire(
		        d->tracker, a->hash, a->presence.network,
		        d->o.rules.max_connections_per_device, &other);
		in->device_cap_hit = !a->presence.held;
		in->other_network = other;
		memcpy(a->presence.hash, a->hash, sizeof(a->presence.hash));
	}
	/* Spraying with a fresh token per attempt: many never-seen tokens
	 * failing from one network within the window. */
	if (!password_ok && a->has_id && in->mode != POLICY_OFF &&
	    in->device == POLICY_DEVICE_UNKNOWN && d->o.churn_tokens > 0)
		in->token_churn = tracker_note_account(
		        d->churn, a->network, a->hash, a->now_ms,
		        d->o.churn_window_ms, d->o.churn_tokens);

	a->write.apply = decision_apply;
	a->write.committed = decision_committed;
	registry_writer_submit(d->writer, &a->write);
}

void
decision_session_end(struct decision *d, struct decision_presence *p)
{
	if (p->held) {
		tracker_session_release(d->tracker, p->hash, p->network);
		p->held = false;
	}
}
