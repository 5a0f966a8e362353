#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/credcache.h"
#include "auth/passdb.h"
#include "auth/password.h"
#include "lib/account.h"
#include "lib/clock.h"

struct auth_service {
	struct auth_options o;
	char *passdb_path;
	pthread_mutex_t lock; /* guards db, the pointer only */
	struct passdb *db;
	/* Verified when the user is unknown, so that costs what a wrong
	 * password costs and timing does not reveal which accounts exist. */
	char dummy_hash[PASSWORD_HASH_MAX];
	struct decision *decision;
	struct credcache *cache; /* recently verified, see credcache.h */
	struct workers *workers;
};

struct auth_service *
auth_service_new(const struct auth_options *o, struct decision *decision,
                 char *err, size_t errlen)
{
	struct auth_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	svc->o = *o;
	svc->passdb_path = strdup(o->passdb_path);
	svc->o.passdb_path = svc->passdb_path;
	pthread_mutex_init(&svc->lock, NULL);
	svc->decision = decision;
	svc->cache = credcache_new(o->cache_size, o->cache_ttl_ms);
	if (svc->passdb_path == NULL || svc->cache == NULL ||
	    !password_hash(o->dummy_scheme, "imapcid-dummy-password",
	                   svc->dummy_hash, sizeof(svc->dummy_hash))) {
		snprintf(err, errlen, "cannot prepare password scheme %s",
		         o->dummy_scheme);
		auth_service_free(svc);
		return NULL;
	}
	svc->db = passdb_load(svc->passdb_path, err, errlen);
	if (svc->db == NULL) {
		auth_service_free(svc);
		return NULL;
	}
	svc->workers = workers_new(o->workers > 0 ? o->workers : 1);
	if (svc->workers == NULL) {
		snprintf(err, errlen,
		         "cannot start the authentication threads");
		auth_service_free(svc);
		return NULL;
	}
	return svc;
}

bool
auth_service_reload(struct auth_service *svc, char *err, size_t errlen)
{
	struct passdb *db = passdb_load(svc->passdb_path, err, errlen);
	if (db == NULL)
		return false;
	pthread_mutex_lock(&svc->lock);
	struct passdb *old = svc->db;
	svc->db = db;
	pthread_mutex_unlock(&svc->lock);
	passdb_unref(old);
	credcache_clear(svc->cache);
	return true;
}

void
auth_service_free(struct auth_service *svc)
{
	if (svc == NULL)
		return;
	/* Its jobs are finished (their answers wait on the registry writer,
	 * which outlives this). */
	workers_free(svc->workers);
	passdb_unref(svc->db);
	pthread_mutex_destroy(&svc->lock);
	credcache_free(svc->cache);
	free(svc->passdb_path);
	free(svc);
}

static struct passdb *
auth_db_get(struct auth_service *svc)
{
	pthread_mutex_lock(&svc->lock);
	struct passdb *db = svc->db;
	passdb_ref(db);
	pthread_mutex_unlock(&svc->lock);
	return db;
}

/* The decision is recorded: the answer, and when it may be given. */
static void
auth_decided(struct decision_attempt *a)
{
	struct auth_job *job =
	        (struct auth_job *)((char *)a -
	                            offsetof(struct auth_job, attempt));
	struct auth_result *res = &job->res;
	res->ok = a->accept;
	res->reason = a->reason;
	res->presence = a->presence;
	snprintf(res->account, sizeof(res->account), "%s", a->account);
	/* Every failure is answered failure_delay after it was submitted,
	 * whatever its reason and however long its check took: a spent
	 * budget (no hash), an unknown user (a dummy hash) and a policy
	 * refusal look alike (CID-POL-2). A client past its free failures
	 * waits its tarpit on top of that. */
	uint64_t delay = a->delay_ms;
	if (!res->ok) {
		uint64_t spent = clock_mono_ms() - job->submitted_ms;
		uint64_t fixed = job->svc->o.failure_delay_ms;
		uint64_t pad = fixed > spent ? fixed - spent : 0;
		if (pad > delay)
			delay = pad;
	}
	res->delay_ms = delay;
	job->complete(job);
}

static void
auth_run(struct worker_job *work)
{
	struct auth_job *job =
	        (struct auth_job *)((char *)work -
	                            offsetof(struct auth_job, work));
	struct auth_service *svc = job->svc;
	const struct auth_request *req = job->req;
	struct decision_attempt *a = &job->attempt;
	memset(a, 0, sizeof(*a));
	a->user = req->user;
	a->mech = req->mech;
	a->peer = req->peer;
	a->id = req->has_clientid ? &req->clientid : NULL;
	a->done = auth_decided;
	decision_begin(svc->decision, a);

	bool password_ok = false;
	const char *why = NULL;
	if (!a->skip_password) {
		struct passdb *db = auth_db_get(svc);
		const char *stored = passdb_lookup(db, req->user);
		uint64_t now = a->now_ms;
		/* Unknown users verify a dummy hash: same cost, same timing
		 * (and a failure is answered at a fixed time anyway). */
		bool cached = stored != NULL &&
		              credcache_use(svc->cache, a->account, stored,
		                            req->password, now);
		enum password_result pr =
		        cached ? PASSWORD_OK
		               : password_verify(stored ? stored
		                                        : svc->dummy_hash,
		                                 req->password);
		if (stored != NULL && pr == PASSWORD_OK && !cached)
			credcache_put(svc->cache, a->account, stored,
			              req->password, now);
		a->account_exists = stored != NULL;
		if (stored == NULL)
			why = "unknown user";
		else if (pr == PASSWORD_BAD_SCHEME)
			why = "unusable stored password";
		else if (pr == PASSWORD_MISMATCH)
			why = "wrong password";
		else
			password_ok = true;
		passdb_unref(db);
	}
	/* answered through auth_decided() once it is recorded */
	decision_finish(svc->decision, a, password_ok, why);
}

/* Were these credentials verified recently (a credential-cache hit)? Only
 * a scheduling hint: the check itself decides. */
static bool
auth_fast_path(struct auth_service *svc, const struct auth_request *req)
{
	char account[DECISION_ACCOUNT_MAX + 1];
	account_canonical(req->user, account, sizeof(account));
	struct passdb *db = auth_db_get(svc);
	const char *stored = passdb_lookup(db, req->user);
	bool hit = stored != NULL &&
	           credcache_check(svc->cache, account, stored, req->password,
	                           clock_wall_ms());
	passdb_unref(db);
	return hit;
}

void
auth_submit(struct auth_service *svc, struct auth_job *job)
{
	job->svc = svc;
	job->submitted_ms = clock_mono_ms();
	memset(&job->res, 0, sizeof(job->res));
	job->work.run = auth_run;
	job->work.finish = NULL; /* auth_decided() answers */
	/* Credentials that logged in recently jump the queue: a flood of
	 * wrong passwords must not keep known users waiting. */
	workers_submit(svc->workers, &job->work, auth_fast_path(svc, job->req));
}

void
auth_session_end(struct auth_service *svc, struct decision_presence *presence)
{
	decision_session_end(svc->decision, presence);
}
