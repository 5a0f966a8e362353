#include "auth.h"
#include "lib/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/credcache.h"
#include "auth/passdb.h"
#include "auth/password.h"

struct auth_service {
	char *passdb_path;
	pthread_mutex_t lock; /* guards db, the pointer only */
	struct passdb *db;
	/* Verified when the user is unknown, so that costs what a wrong
	 * password costs and timing does not reveal which accounts exist. */
	char dummy_hash[PASSWORD_HASH_MAX];
	struct policy_engine *engine;
	struct credcache *cache; /* recently verified, see credcache.h */
};

struct auth_service *
auth_service_new(const char *passdb_path, const char *dummy_scheme,
                 struct policy_engine *engine, size_t cache_size,
                 uint64_t cache_ttl_ms, char *err, size_t errlen)
{
	struct auth_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL) {
		snprintf(err, errlen, "out of memory");
		free(svc);
		return NULL;
	}
	svc->passdb_path = strdup(passdb_path);
	pthread_mutex_init(&svc->lock, NULL);
	svc->engine = engine;
	svc->cache = credcache_new(cache_size, cache_ttl_ms);
	if (svc->passdb_path == NULL ||
	    !password_hash(dummy_scheme, "imapcid-dummy-password",
	                   svc->dummy_hash, sizeof(svc->dummy_hash))) {
		snprintf(err, errlen, "cannot prepare password scheme %s",
		         dummy_scheme);
		auth_service_free(svc);
		return NULL;
	}
	svc->db = passdb_load(passdb_path, err, errlen);
	if (svc->db == NULL) {
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

void
auth_verify(struct auth_service *svc, const struct auth_request *req,
            struct auth_result *res)
{
	struct engine_attempt a = {
	        .user = req->user,
	        .mech = req->mech,
	        .peer = req->peer,
	        .id = req->has_clientid ? &req->clientid : NULL,
	};
	policy_engine_begin(svc->engine, &a);
	bool password_ok = false;
	const char *why = NULL;
	if (!a.skip_password) {
		struct passdb *db = auth_db_get(svc);
		const char *stored = passdb_lookup(db, req->user);
		uint64_t now = a.now_ms;
		/* Unknown users verify a dummy hash: same cost, same timing
		 * (and a failure is answered at a fixed time anyway). */
		bool cached = stored != NULL &&
		              credcache_use(svc->cache, req->user, stored,
		                            req->password, now);
		enum password_result pr =
		        cached ? PASSWORD_OK
		               : password_verify(stored ? stored
		                                        : svc->dummy_hash,
		                                 req->password);
		if (stored != NULL && pr == PASSWORD_OK && !cached)
			credcache_put(svc->cache, req->user, stored,
			              req->password, now);
		a.account_exists = stored != NULL;
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
	res->ok = policy_engine_finish(svc->engine, &a, password_ok, why,
	                               &res->delay_ms, &res->presence,
	                               &res->reason);
}

void
auth_session_end(struct auth_service *svc, struct engine_presence *presence)
{
	policy_engine_session_end(svc->engine, presence);
}

bool
auth_fast_path(struct auth_service *svc, const struct auth_request *req)
{
	struct passdb *db = auth_db_get(svc);
	const char *stored = passdb_lookup(db, req->user);
	bool hit = stored != NULL &&
	           credcache_check(svc->cache, req->user, stored, req->password,
	                           clock_wall_ms());
	passdb_unref(db);
	return hit;
}
