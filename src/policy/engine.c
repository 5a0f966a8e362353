#include "engine.h"
#include "lib/clock.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hmap.h"
#include "lib/hmac.h"
#include "lib/log.h"

#define ENGINE_SECRET_MAX     64
#define ENGINE_RATE_KEYS_MAX  100000 /* budgets tracked at once */
#define ENGINE_TRACKED_TOKENS 50000  /* about 1 KiB each */
#define ENGINE_KEY_MAX        (2 + ENGINE_ACCOUNT_MAX + 1)
/* Audit rows and device touches waiting for the writer thread; past this,
 * workers write themselves (back-pressure, never loss). */
#define ENGINE_WRITES_MAX 100000
/* The writer commits at most once per interval: a commit costs a WAL
 * append, locks and now and then a checkpoint whatever it carries, and
 * every commit makes each worker's next read drop its page cache. Under
 * load, rows wait up to the interval and share one commit; when the
 * writer has been idle for longer, a row is committed at once. While
 * batches keep coming full (a login storm), the interval doubles up to
 * the maximum, so rows share pages of the tables and indexes too; a
 * quiet server keeps the short one, so rows show up in imapcidctl at
 * once. */
#define ENGINE_WRITE_INTERVAL_MS     10
#define ENGINE_WRITE_INTERVAL_MAX_MS 80
#define ENGINE_WRITE_BATCH_FULL      8 /* rows */
/* Key of a queued pending device: hash, then account (the hash has a
 * fixed length, so the two cannot run into each other). */
#define ENGINE_PENDING_KEY_MAX (REGISTRY_HASH_LEN + ENGINE_ACCOUNT_MAX + 1)

/* What one attempt leaves to the writer: its audit row and, for a known
 * device, the touch (count, last seen, last address). */
struct engine_write {
	struct engine_write *next;
	struct registry_audit audit;
	bool touch;
	char hash[REGISTRY_HASH_LEN + 1];
	bool add; /* a new device recorded pending: dev */
	struct registry_device dev;
};

struct policy_engine {
	struct engine_options o;
	char *registry_path;
	uint8_t secret[ENGINE_SECRET_MAX];
	size_t secret_len;
	struct hmac_key *cid_key;   /* the secret, keyed once */
	pthread_key_t registry_key; /* one SQLite handle per thread */
	struct ratelimit *rate;
	struct tracker *tracker;
	struct alert *alert;
	/* The writer thread: batches audit rows and touches into one
	 * transaction, so a login does not pay for a commit. */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct engine_write *whead, *wtail;
	size_t wqueued;
	bool wstopping;
	/* New pending devices queued but not yet committed, with how many
	 * times each is queued: a login must see them as the registry will
	 * (pending), not as unknown, while they wait for the writer. */
	pthread_mutex_t plock;
	struct hmap *pending;
};

static void
engine_registry_close(void *p)
{
	registry_close(p);
}

static struct registry *
engine_registry(struct policy_engine *e)
{
	struct registry *r = pthread_getspecific(e->registry_key);
	if (r != NULL)
		return r;
	char err[512];
	r = registry_open(e->registry_path, err, sizeof(err));
	if (r == NULL) {
		log_error("registry: %s", err);
		return NULL;
	}
	pthread_setspecific(e->registry_key, r);
	return r;
}

static void
engine_free_rules(struct policy_rules *r)
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

static void
engine_write_one(struct registry *reg, const struct engine_write *w)
{
	/* a pending device that another login recorded first is touched */
	if (w->add && !registry_device_add(reg, &w->dev))
		registry_device_touch(reg, w->audit.account, w->hash,
		                      w->audit.time_ms / 1000, w->audit.peer);
	if (w->touch)
		registry_device_touch(reg, w->audit.account, w->hash,
		                      w->audit.time_ms / 1000, w->audit.peer);
	if (!registry_audit_add(reg, &w->audit))
		log_error("registry: cannot write audit row");
}

static void
engine_write_batch(struct registry *reg, struct engine_write *list)
{
	bool txn = registry_begin(reg);
	for (struct engine_write *w = list; w != NULL; w = w->next)
		engine_write_one(reg, w);
	if (txn && !registry_commit(reg))
		log_error("registry: cannot commit audit rows");
}

static void
engine_pending_key(char out[ENGINE_PENDING_KEY_MAX + 1], const char *hash,
                   const char *account)
{
	snprintf(out, ENGINE_PENDING_KEY_MAX + 1, "%s%s", hash, account);
}

/* Counts a queued pending device; false if it cannot be tracked. */
static bool
engine_pending_add(struct policy_engine *e, const struct engine_write *w)
{
	char key[ENGINE_PENDING_KEY_MAX + 1];
	engine_pending_key(key, w->dev.hash, w->dev.account);
	pthread_mutex_lock(&e->plock);
	uintptr_t n = (uintptr_t)hmap_get(e->pending, key);
	bool ok = hmap_put(e->pending, key, (void *)(n + 1));
	pthread_mutex_unlock(&e->plock);
	return ok;
}

static void
engine_pending_drop(struct policy_engine *e, const struct engine_write *w)
{
	char key[ENGINE_PENDING_KEY_MAX + 1];
	engine_pending_key(key, w->dev.hash, w->dev.account);
	pthread_mutex_lock(&e->plock);
	uintptr_t n = (uintptr_t)hmap_get(e->pending, key);
	if (n > 1)
		hmap_put(e->pending, key, (void *)(n - 1));
	else if (n == 1)
		hmap_remove(e->pending, key);
	pthread_mutex_unlock(&e->plock);
}

static bool
engine_pending_has(struct policy_engine *e, const char *account,
                   const char *hash)
{
	char key[ENGINE_PENDING_KEY_MAX + 1];
	engine_pending_key(key, hash, account);
	pthread_mutex_lock(&e->plock);
	bool has = hmap_get(e->pending, key) != NULL;
	pthread_mutex_unlock(&e->plock);
	return has;
}

static void *
engine_writer_main(void *arg)
{
	struct policy_engine *e = arg;
	struct registry *reg = NULL;
	uint64_t last_commit = 0, interval = ENGINE_WRITE_INTERVAL_MS;
	for (;;) {
		pthread_mutex_lock(&e->wlock);
		while (e->whead == NULL && !e->wstopping)
			pthread_cond_wait(&e->wcond, &e->wlock);
		/* Let more rows join this commit (see the interval). Producers
		 * do not signal a non-empty queue, so this sleeps through. */
		uint64_t due = last_commit + interval;
		for (;;) {
			uint64_t now = clock_mono_ms();
			if (e->wstopping || now >= due)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += (long)(due - now) * 1000000L;
			while (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&e->wcond, &e->wlock, &ts);
		}
		struct engine_write *list = e->whead;
		size_t rows = e->wqueued;
		e->whead = e->wtail = NULL;
		e->wqueued = 0;
		bool stopping = e->wstopping;
		pthread_mutex_unlock(&e->wlock);
		if (list != NULL && reg == NULL) {
			char err[512];
			reg = registry_open(e->registry_path, err, sizeof(err));
			if (reg == NULL)
				log_error("registry: %s", err);
		}
		if (list != NULL && reg != NULL)
			engine_write_batch(reg, list);
		if (list != NULL) {
			uint64_t now = clock_mono_ms();
			if (rows < ENGINE_WRITE_BATCH_FULL ||
			    now - last_commit > 2 * interval)
				interval = ENGINE_WRITE_INTERVAL_MS;
			else if (interval < ENGINE_WRITE_INTERVAL_MAX_MS)
				interval *= 2;
			last_commit = now;
		}
		/* Committed (or lost with the registry): the devices are now
		 * what the registry says, not what the queue holds. */
		while (list != NULL) {
			struct engine_write *next = list->next;
			if (list->add)
				engine_pending_drop(e, list);
			free(list);
			list = next;
		}
		if (stopping)
			break;
	}
	registry_close(reg);
	return NULL;
}

static void
engine_write_queue(struct policy_engine *e, struct registry *reg,
                   struct engine_write *w)
{
	/* Tracked before the writer can see it, so the writer's drop always
	 * finds it. */
	bool tracked = w->add && engine_pending_add(e, w);
	pthread_mutex_lock(&e->wlock);
	if (e->wqueued < ENGINE_WRITES_MAX && !e->wstopping &&
	    e->writer_started && (tracked || !w->add)) {
		w->next = NULL;
		/* Only an empty queue can have the writer waiting for work;
		 * otherwise it is writing or letting rows gather. */
		bool wake = e->whead == NULL;
		if (e->wtail != NULL)
			e->wtail->next = w;
		else
			e->whead = w;
		e->wtail = w;
		e->wqueued++;
		if (wake)
			pthread_cond_signal(&e->wcond);
		pthread_mutex_unlock(&e->wlock);
		return;
	}
	pthread_mutex_unlock(&e->wlock);
	if (tracked)
		engine_pending_drop(e, w);
	if (reg != NULL)
		engine_write_one(reg, w);
	free(w);
}

struct policy_engine *
policy_engine_new(const struct engine_options *o, const uint8_t *secret,
                  size_t secret_len, char *err, size_t errlen)
{
	struct policy_engine *e = calloc(1, sizeof(*e));
	if (e == NULL || secret_len > ENGINE_SECRET_MAX) {
		snprintf(err, errlen, "out of memory");
		free(e);
		return NULL;
	}
	e->o = *o;
	memcpy(e->secret, secret, secret_len);
	e->secret_len = secret_len;
	if ((e->cid_key = cid_key_new(secret, secret_len)) == NULL) {
		snprintf(err, errlen, "cannot key the client-id hash");
		explicit_bzero(e->secret, sizeof(e->secret));
		free(e);
		return NULL;
	}
	e->registry_path = strdup(o->registry_path);
	pthread_key_create(&e->registry_key, engine_registry_close);
	pthread_mutex_init(&e->wlock, NULL);
	/* The writer's interval is a duration: immune to clock steps. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&e->plock, NULL);
	e->pending = hmap_new(1024);
	e->rate = ratelimit_new(ENGINE_RATE_KEYS_MAX);
	e->tracker = tracker_new(ENGINE_TRACKED_TOKENS);
	if (e->registry_path == NULL || e->rate == NULL || e->tracker == NULL ||
	    e->pending == NULL) {
		snprintf(err, errlen, "out of memory");
		policy_engine_free(e);
		return NULL;
	}
	/* Open once here, so a bad path or schema fails at start-up. */
	struct registry *r = registry_open(e->registry_path, err, errlen);
	if (r == NULL) {
		policy_engine_free(e);
		return NULL;
	}
	registry_close(r);
	e->alert = alert_new(&o->alerts, err, errlen);
	if (e->alert == NULL) {
		policy_engine_free(e);
		return NULL;
	}
	if (pthread_create(&e->writer, NULL, engine_writer_main, e) != 0) {
		snprintf(err, errlen, "cannot start the registry writer");
		policy_engine_free(e);
		return NULL;
	}
	e->writer_started = true;
	return e;
}

void
policy_engine_free(struct policy_engine *e)
{
	if (e == NULL)
		return;
	if (e->writer_started) {
		pthread_mutex_lock(&e->wlock);
		e->wstopping = true;
		pthread_cond_signal(&e->wcond);
		pthread_mutex_unlock(&e->wlock);
		pthread_join(e->writer, NULL); /* flushes what is queued */
	}
	pthread_mutex_destroy(&e->wlock);
	pthread_cond_destroy(&e->wcond);
	hmap_free(e->pending, NULL);
	pthread_mutex_destroy(&e->plock);
	alert_free(e->alert);
	ratelimit_free(e->rate);
	tracker_free(e->tracker);
	struct registry *r = pthread_getspecific(e->registry_key);
	registry_close(r);
	pthread_key_delete(e->registry_key);
	engine_free_rules(&e->o.rules);
	free(e->registry_path);
	explicit_bzero(e->secret, sizeof(e->secret));
	hmac_key_free(e->cid_key);
	free(e);
}

static void
engine_key(char *out, size_t len, unsigned key, const struct engine_attempt *a)
{
	if (key == POLICY_KEY_TOKEN)
		snprintf(out, len, "t:%s", a->hash);
	else if (key == POLICY_KEY_ACCOUNT)
		snprintf(out, len, "a:%s", a->account);
	else
		snprintf(out, len, "i:%s", a->peer);
}

static const struct ratelimit_params *
engine_params(const struct policy_engine *e, unsigned key)
{
	return key == POLICY_KEY_TOKEN     ? &e->o.rate_token
	       : key == POLICY_KEY_ACCOUNT ? &e->o.rate_account
	                                   : &e->o.rate_address;
}

static enum policy_device_state
engine_device_state(const struct registry_device *d, int64_t now_s)
{
	switch (d->state) {
	case REGISTRY_TRUSTED:
		return POLICY_DEVICE_TRUSTED;
	case REGISTRY_PENDING:
		return POLICY_DEVICE_PENDING;
	case REGISTRY_REVOKED:
		/* A revocation with an end is a suspension of the state before. */
		if (d->revoked_until > 0 && d->revoked_until <= now_s)
			return d->resume_state == REGISTRY_PENDING
			               ? POLICY_DEVICE_PENDING
			               : POLICY_DEVICE_TRUSTED;
		return POLICY_DEVICE_REVOKED;
	}
	return POLICY_DEVICE_UNKNOWN;
}

void
policy_engine_begin(struct policy_engine *e, struct engine_attempt *a)
{
	const struct policy_rules *rules = &e->o.rules;
	struct policy_input *in = &a->in;
	memset(in, 0, sizeof(*in));
	a->now_ms = clock_wall_ms();
	snprintf(a->account, sizeof(a->account), "%s", a->user);
	for (char *p = a->account; *p; p++)
		*p = (char)tolower((unsigned char)*p);

	a->type_flags = 0;
	a->has_id = false;
	a->hash[0] = a->fp[0] = '\0';
	if (a->id != NULL) {
		a->type_flags = policy_type_flags(rules, a->id->type);
		if (!(a->type_flags & POLICY_FLAG_IGNORE)) {
			cid_hash_keyed(e->cid_key, a->id, a->hash);
			memcpy(a->fp, a->hash, CID_FINGERPRINT_LEN);
			a->fp[CID_FINGERPRINT_LEN] = '\0';
		}
		a->has_id = (a->type_flags & POLICY_FLAG_AUTH) &&
		            !(a->type_flags &
		              (POLICY_FLAG_IGNORE | POLICY_FLAG_SESSION));
	}

	struct registry *reg = engine_registry(e);
	a->override.mode[0] = '\0';
	a->override.require_clientid = -1;
	/* Asked before the registry: the writer forgets a device only after
	 * committing it, so one queued now is either found below or still
	 * pending then. */
	bool queued = a->has_id && reg != NULL &&
	              engine_pending_has(e, a->account, a->hash);
	bool snapshot = reg != NULL && registry_read_begin(reg);
	if (reg != NULL)
		registry_account_get(reg, a->account, &a->override);
	in->mode = rules->mode;
	if (a->override.mode[0] != '\0')
		policy_mode_parse(a->override.mode, &in->mode);
	in->require_clientid = a->override.require_clientid >= 0
	                               ? a->override.require_clientid != 0
	                               : rules->require_clientid;
	in->has_id = a->has_id;
	in->type = a->has_id ? a->id->type : NULL;
	in->type_flags = a->type_flags;
	in->device = POLICY_DEVICE_UNKNOWN;
	if (a->has_id && in->mode != POLICY_OFF && reg != NULL) {
		struct registry_device d;
		int found = registry_device_get(reg, a->account, a->hash, &d);
		if (found == 1)
			in->device = engine_device_state(
			        &d, (int64_t)(a->now_ms / 1000));
		else if (found == 0 && queued)
			in->device = POLICY_DEVICE_PENDING;
	}
	if (snapshot)
		registry_read_end(reg);

	a->keys = policy_rate_keys(in->mode, a->has_id, in->device);
	a->delay_ms = 0;
	for (unsigned k = POLICY_KEY_TOKEN; k <= POLICY_KEY_ADDRESS; k <<= 1) {
		if (!(a->keys & k))
			continue;
		char key[ENGINE_KEY_MAX + 64];
		struct ratelimit_verdict v;
		engine_key(key, sizeof(key), k, a);
		ratelimit_check(e->rate, key, engine_params(e, k), a->now_ms,
		                &v);
		in->rate_blocked |= v.blocked;
		if (v.delay_ms > a->delay_ms)
			a->delay_ms = v.delay_ms;
	}
	a->skip_password = in->rate_blocked;
	if (a->has_id && in->mode != POLICY_OFF)
		in->token_reused = tracker_note_account(
		        e->tracker, a->hash, a->account, a->now_ms,
		        e->o.reuse_window_ms, e->o.reuse_accounts);
}

static void
engine_record(struct policy_engine *e, struct registry *reg,
              const struct engine_attempt *a, enum policy_device_action act)
{
	int64_t now_s = (int64_t)(a->now_ms / 1000);
	struct registry_device d;
	if (registry_device_get(reg, a->account, a->hash, &d) != 1) {
		memset(&d, 0, sizeof(d));
		snprintf(d.account, sizeof(d.account), "%s", a->account);
		snprintf(d.type, sizeof(d.type), "%s", a->id->type);
		memcpy(d.hash, a->hash, sizeof(d.hash));
		d.first_seen = now_s;
		if (e->o.store_tokens)
			snprintf(d.token, sizeof(d.token), "%s", a->id->token);
	}
	(void)act; /* only TRUST is written here; see the writer */
	d.state = REGISTRY_TRUSTED;
	d.revoked_until = 0;
	d.last_seen = now_s;
	d.count++;
	snprintf(d.last_addr, sizeof(d.last_addr), "%s", a->peer);
	if (!registry_device_put(reg, &d))
		log_error("registry: cannot record device for %s", a->account);
}

/* Client-chosen bytes go into the log escaped, so they cannot forge lines. */
static void
engine_sanitize(const char *in, char *out, size_t outlen)
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
engine_alerts(struct policy_engine *e, const struct engine_attempt *a,
              unsigned events, const char *reason)
{
	events &= e->o.alert_events;
	for (unsigned bit = 1; events != 0; bit <<= 1) {
		if (!(events & bit))
			continue;
		events &= ~bit;
		struct alert_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.event = policy_event_name((enum policy_event)bit);
		ev.time_ms = (int64_t)a->now_ms;
		engine_sanitize(a->account, ev.account, sizeof(ev.account));
		engine_sanitize(a->peer, ev.peer, sizeof(ev.peer));
		ev.mail_holder = a->account_exists;
		ev.log_fp = (a->type_flags & POLICY_FLAG_SYSLOG) != 0;
		if (a->id != NULL && a->fp[0] != '\0') {
			snprintf(ev.type, sizeof(ev.type), "%s", a->id->type);
			memcpy(ev.fp, a->fp, sizeof(ev.fp));
		}
		snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
		alert_raise(e->alert, &ev);
	}
}

static void
engine_log(const struct engine_attempt *a, bool ok, const char *reason)
{
	char user[ENGINE_ACCOUNT_MAX * 4 + 8], cid[CID_TYPE_MAX + 40];
	engine_sanitize(a->user, user, sizeof(user));
	if (a->id == NULL || (a->type_flags & POLICY_FLAG_IGNORE))
		snprintf(cid, sizeof(cid), "-");
	else if (!(a->type_flags & POLICY_FLAG_SYSLOG))
		snprintf(cid, sizeof(cid), "%s/fp=(not logged)", a->id->type);
	else
		snprintf(cid, sizeof(cid), "%s/fp=%s", a->id->type, a->fp);
	if (a->id != NULL && (a->type_flags & POLICY_FLAG_SESSION))
		log_debug("auth: clientid %s/fp=%s kept for this session only",
		          a->id->type, a->fp);
	log_info("auth: user=%s peer=%s mech=%s clientid=%s mode=%s "
	         "result=%s%s%s%s",
	         user, a->peer, a->mech, cid, policy_mode_name(a->in.mode),
	         ok ? "ok" : "fail", reason ? " reason=\"" : "",
	         reason ? reason : "", reason ? "\"" : "");
}

bool
policy_engine_finish(struct policy_engine *e, struct engine_attempt *a,
                     bool password_ok, const char *password_reason,
                     uint64_t *delay_ms, struct engine_presence *presence,
                     const char **reason)
{
	struct policy_input *in = &a->in;
	struct registry *reg = engine_registry(e);
	in->password_ok = password_ok;
	presence->held = false;

	if (password_ok && a->has_id && in->mode != POLICY_OFF &&
	    tracker_network(a->peer, e->o.network_v4_bits, e->o.network_v6_bits,
	                    presence->network)) {
		bool other = false;
		presence->held = tracker_session_acquire(
		        e->tracker, a->hash, presence->network,
		        e->o.rules.max_connections_per_device, &other);
		in->device_cap_hit = !presence->held;
		in->other_network = other;
		memcpy(presence->hash, a->hash, sizeof(presence->hash));
	}
	if (password_ok && in->mode == POLICY_LEARN && reg != NULL)
		in->trusted_devices = registry_trusted_count(
		        reg, a->account, (int64_t)(a->now_ms / 1000));

	struct policy_decision d;
	policy_decide(&e->o.rules, in, &d);
	if (!d.accept)
		policy_engine_session_end(e, presence);

	/* A device that is new or changes state is written now, so the next
	 * login sees it; touches and audit rows go to the writer. */
	if (d.record == POLICY_RECORD_TRUST && reg != NULL)
		engine_record(e, reg, a, d.record);
	char key[ENGINE_KEY_MAX + 64];
	for (unsigned k = POLICY_KEY_TOKEN; k <= POLICY_KEY_ADDRESS; k <<= 1) {
		if (!(a->keys & k))
			continue;
		engine_key(key, sizeof(key), k, a);
		if (d.count_failure)
			ratelimit_fail(e->rate, key, engine_params(e, k),
			               a->now_ms);
		else if (k == POLICY_KEY_TOKEN &&
		         in->device == POLICY_DEVICE_TRUSTED)
			ratelimit_reset(e->rate, key);
	}
	if (d.block_token) {
		engine_key(key, sizeof(key), POLICY_KEY_TOKEN, a);
		ratelimit_block(e->rate, key, a->now_ms,
		                a->now_ms + e->o.rate_token.block_ms);
	}

	char why[REGISTRY_REASON_MAX];
	if (!password_ok && !in->rate_blocked && password_reason != NULL)
		snprintf(why, sizeof(why), "%s", password_reason);
	else if (d.objection != NULL)
		snprintf(why, sizeof(why), "observe: would refuse: %s",
		         d.objection);
	else
		snprintf(why, sizeof(why), "%s", d.reason);

	struct engine_write *w = calloc(1, sizeof(*w));
	if (w != NULL) {
		struct registry_audit *au = &w->audit;
		au->time_ms = (int64_t)a->now_ms;
		snprintf(au->account, sizeof(au->account), "%s", a->account);
		snprintf(au->peer, sizeof(au->peer), "%s", a->peer);
		if (a->id != NULL && a->fp[0] != '\0' &&
		    (a->type_flags & POLICY_FLAG_USERLOG)) {
			snprintf(au->type, sizeof(au->type), "%s", a->id->type);
			memcpy(au->fp, a->fp, sizeof(au->fp));
		}
		snprintf(au->mech, sizeof(au->mech), "%s", a->mech);
		au->ok = d.accept;
		snprintf(au->reason, sizeof(au->reason), "%s", why);
		w->touch = d.record == POLICY_RECORD_TOUCH;
		memcpy(w->hash, a->hash, sizeof(w->hash));
		if (d.record == POLICY_RECORD_PENDING) {
			/* a new device awaiting approval: nothing reads it on
			 * the login path, so the writer records it */
			struct registry_device *dev = &w->dev;
			int64_t now_s = (int64_t)(a->now_ms / 1000);
			w->add = true;
			snprintf(dev->account, sizeof(dev->account), "%s",
			         a->account);
			snprintf(dev->type, sizeof(dev->type), "%s",
			         a->id->type);
			memcpy(dev->hash, a->hash, sizeof(dev->hash));
			if (e->o.store_tokens)
				snprintf(dev->token, sizeof(dev->token), "%s",
				         a->id->token);
			dev->state = REGISTRY_PENDING;
			dev->first_seen = dev->last_seen = now_s;
			dev->count = 1;
			snprintf(dev->last_addr, sizeof(dev->last_addr), "%s",
			         a->peer);
		}
		engine_write_queue(e, reg, w);
	} else {
		log_error("registry: out of memory for the audit row of %s",
		          a->account);
	}
	engine_alerts(e, a, d.events, why);
	engine_log(a, d.accept, d.accept && d.objection == NULL ? NULL : why);
	*delay_ms = a->delay_ms;
	*reason = d.reason;
	return d.accept;
}

void
policy_engine_session_end(struct policy_engine *e,
                          struct engine_presence *presence)
{
	if (presence->held) {
		tracker_session_release(e->tracker, presence->hash,
		                        presence->network);
		presence->held = false;
	}
}
