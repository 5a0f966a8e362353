#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "net/tls.h"

#define DEMO_IMAP_PORT  "1143"
#define DEMO_IMAPS_PORT "1993"

static const char demo_config[] =
        "# imapcidd demo instance: see docs/CONFIGURATION.md for every key.\n"
        "listen_imap = 127.0.0.1:" DEMO_IMAP_PORT "\n"
        "listen_imaps = 127.0.0.1:" DEMO_IMAPS_PORT "\n"
        "tls_cert = cert.pem\n"
        "tls_key = key.pem\n"
        "passdb_file = passwd\n"
        "mail_dir = mail\n"
        "state_dir = state\n"
        "clientid = yes\n"
        "auth_failure_delay = 1s\n"
        "log_level = info\n";

static bool
demo_write(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return false;
	size_t n = strlen(text);
	bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
	return close(fd) == 0 && ok;
}

bool
demo_prepare(const char *dir, char *conf, size_t conflen, char *err,
             size_t errlen)
{
	char path[4096], hash[PASSWORD_HASH_MAX];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return false;
	}
	snprintf(conf, conflen, "%s/%s", dir, DEMO_CONFIG_NAME);
	if (access(conf, F_OK) == 0)
		return true;

	snprintf(path, sizeof(path), "%s/mail", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	char cert[4096], key[4096];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (!tls_make_self_signed(cert, key, "localhost", err, errlen))
		return false;
	snprintf(path, sizeof(path), "%s/passwd", dir);
	unlink(path);
	if (!password_hash("ARGON2ID", "demo", hash, sizeof(hash)) ||
	    !passdb_file_edit(path, PASSDB_EDIT_ADD, "demo", hash, err, errlen))
		return false;
	/* The config last: its presence means the instance is complete. */
	if (!demo_write(conf, demo_config, 0644)) {
		snprintf(err, errlen, "%s: %s", conf, strerror(errno));
		return false;
	}
	return true;
}

void
demo_print_help(const char *conf, const char *imap, const char *imaps)
{
	printf("\nimapcidd demo instance (%s)\n"
	       "  account: demo   password: demo\n"
	       "  IMAP with STARTTLS: %s    IMAP over TLS: %s\n\n"
	       "Try it:\n"
	       "  openssl s_client -quiet -connect %s\n"
	       "    a CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f\n"
	       "    b LOGIN demo demo\n"
	       "    c LOGOUT\n"
	       "  openssl s_client -quiet -starttls imap -connect %s\n"
	       "  curl -k --url imaps://%s/ --user demo:demo\n\n"
	       "Ctrl-C stops the server.\n\n",
	       conf, imap, imaps, imaps, imap, imaps);
	fflush(stdout);
}
