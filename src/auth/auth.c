#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "lib/log.h"

#define AUTH_SECRET_MAX 64

struct auth_service {
	char *passdb_path;
	pthread_mutex_t lock; /* guards db, the pointer only */
	struct passdb *db;
	/* Verified when the user is unknown, so that costs what a wrong
	 * password costs and timing does not reveal which accounts exist. */
	char dummy_hash[PASSWORD_HASH_MAX];
	uint8_t secret[AUTH_SECRET_MAX];
	size_t secret_len;
};

struct auth_service *
auth_service_new(const char *passdb_path, const char *dummy_scheme,
                 const uint8_t *secret, size_t secret_len, char *err,
                 size_t errlen)
{
	struct auth_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL || secret_len > AUTH_SECRET_MAX) {
		snprintf(err, errlen, "out of memory");
		free(svc);
		return NULL;
	}
	svc->passdb_path = strdup(passdb_path);
	pthread_mutex_init(&svc->lock, NULL);
	memcpy(svc->secret, secret, secret_len);
	svc->secret_len = secret_len;
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
	return true;
}

void
auth_service_free(struct auth_service *svc)
{
	if (svc == NULL)
		return;
	passdb_unref(svc->db);
	pthread_mutex_destroy(&svc->lock);
	free(svc->passdb_path);
	explicit_bzero(svc->secret, sizeof(svc->secret));
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

/* Client-chosen bytes go into the log escaped, so they cannot forge lines. */
static void
auth_sanitize(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (; *in != '\0' && o + 5 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if (c > 0x20 && c < 0x7f && c != '\\') {
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

void
auth_clientid_label(const struct auth_service *svc,
                    const struct auth_request *req, char *out, size_t outlen)
{
	if (!req->has_clientid) {
		snprintf(out, outlen, "-");
		return;
	}
	char fp[CID_FINGERPRINT_LEN + 1];
	cid_fingerprint(svc->secret, svc->secret_len, &req->clientid, fp);
	snprintf(out, outlen, "%s/fp=%s", req->clientid.type, fp);
}

void
auth_verify(struct auth_service *svc, const struct auth_request *req,
            struct auth_result *res)
{
	struct passdb *db = auth_db_get(svc);
	const char *stored = passdb_lookup(db, req->user);
	enum password_result pr = password_verify(
	        stored ? stored : svc->dummy_hash, req->password);
	res->ok = false;
	if (stored == NULL)
		res->reason = "unknown user";
	else if (pr == PASSWORD_BAD_SCHEME)
		res->reason = "unusable stored password";
	else if (pr == PASSWORD_MISMATCH)
		res->reason = "wrong password";
	else {
		res->ok = true;
		res->reason = NULL;
	}
	passdb_unref(db);

	char user[PASSDB_USER_MAX * 4 + 8], cid[CID_TYPE_MAX + 32];
	auth_sanitize(req->user, user, sizeof(user));
	auth_clientid_label(svc, req, cid, sizeof(cid));
	if (res->ok)
		log_info("auth: user=%s peer=%s mech=%s clientid=%s result=ok",
		         user, req->peer, req->mech, cid);
	else
		log_info("auth: user=%s peer=%s mech=%s clientid=%s "
		         "result=fail reason=\"%s\"",
		         user, req->peer, req->mech, cid, res->reason);
}
