#include "tls.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

#define TLS_SELF_SIGNED_DAYS 825 /* the longest clients still accept */

struct tls_server {
	char *cert, *key;
	int min_version;
	pthread_mutex_t lock; /* guards ctx, the pointer only */
	SSL_CTX *ctx;
};

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	char ossl[256] = "";
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	snprintf(err, errlen, "%s %s: %s", what, path ? path : "", ossl);
	ERR_clear_error();
}

static SSL_CTX *
tls_ctx_new(const struct tls_server *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->min_version);
	/* Release the 34 KiB of record buffers while a connection idles:
	 * this is what keeps an idle TLS session small. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	                              SSL_MODE_ENABLE_PARTIAL_WRITE |
	                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Stateless tickets only: no per-session server memory. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		tls_error(err, errlen, "cannot load certificate", t->cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "cannot load private key", t->key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_server *
tls_server_new(const char *cert, const char *key, const char *min_version,
               char *err, size_t errlen)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cert = strdup(cert);
	t->key = strdup(key);
	t->min_version = strcmp(min_version, "1.3") == 0 ? TLS1_3_VERSION
	                                                 : TLS1_2_VERSION;
	pthread_mutex_init(&t->lock, NULL);
	if (t->cert == NULL || t->key == NULL ||
	    (t->ctx = tls_ctx_new(t, err, errlen)) == NULL) {
		tls_server_free(t);
		return NULL;
	}
	return t;
}

bool
tls_server_reload(struct tls_server *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_new(t, err, errlen);
	if (ctx == NULL)
		return false;
	pthread_mutex_lock(&t->lock);
	SSL_CTX *old = t->ctx;
	t->ctx = ctx;
	pthread_mutex_unlock(&t->lock);
	SSL_CTX_free(old); /* open connections hold their own reference */
	return true;
}

void
tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->lock);
	free(t->cert);
	free(t->key);
	free(t);
}

SSL *
tls_server_ssl(struct tls_server *t)
{
	pthread_mutex_lock(&t->lock);
	SSL *ssl = SSL_new(t->ctx);
	pthread_mutex_unlock(&t->lock);
	return ssl;
}

static bool
tls_write_pem(const char *path, bool is_key, EVP_PKEY *pkey, X509 *x509)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	              is_key ? 0600 : 0644);
	if (fd < 0)
		return false;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return false;
	}
	bool ok = is_key ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL,
	                                        NULL) == 1
	                 : PEM_write_X509(f, x509) == 1;
	ok = fflush(f) == 0 && fsync(fd) == 0 && ok;
	return fclose(f) == 0 && ok;
}

bool
tls_make_self_signed(const char *cert, const char *key, const char *cn,
                     char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	bool ok = false;
	if (pkey == NULL || x == NULL)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x),
	                (long)TLS_SELF_SIGNED_DAYS * 24 * 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	char san[300];
	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", cn);
	X509_EXTENSION *ext =
	        X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (ext != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pkey, EVP_sha256()) == 0)
		goto out;
	ok = tls_write_pem(key, true, pkey, NULL) &&
	     tls_write_pem(cert, false, NULL, x);
out:
	if (!ok)
		tls_error(err, errlen, "cannot make certificate", cert);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ok;
}
