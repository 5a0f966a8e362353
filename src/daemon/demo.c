#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "mail/mailstore.h"
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

/* A few messages, so a client sees mail at once. */
static const char *const demo_messages[] = {
        "From: imapcid <postmaster@localhost>\r\n"
        "To: demo <demo@localhost>\r\n"
        "Subject: Welcome to imapcid\r\n"
        "Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n"
        "Message-ID: <welcome@imapcid.demo>\r\n"
        "\r\n"
        "This demo account is served by imapcidd from a Maildir++ store.\r\n"
        "Try: imapcidctl -c demo/imapcidd.conf device list demo\r\n",
        "From: =?UTF-8?Q?Jos=C3=A9?= <jose@example.org>\r\n"
        "To: demo@localhost\r\n"
        "Subject: =?UTF-8?B?Q2Fmw6kgYXQgMTA/?=\r\n"
        "Date: Sat, 28 Nov 2026 09:05:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Coffee at ten?\r\n"
        "--b1\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<p>Coffee at <b>ten</b>?</p>\r\n"
        "--b1--\r\n",
        "From: Alerts <alerts@localhost>\r\n"
        "To: demo@localhost\r\n"
        "Subject: A new device logged in\r\n"
        "Date: Sat, 28 Nov 2026 09:10:00 +0000\r\n"
        "\r\n"
        "With alert_mail = yes, alerts about your devices arrive like "
        "this.\r\n",
};

static bool
demo_deliver(const char *dir, char *err, size_t errlen)
{
	char store[4096];
	snprintf(store, sizeof(store), "%s/mail/demo", dir);
	struct mailstore *ms = mailstore_open(store, err, errlen);
	if (ms == NULL)
		return false;
	bool ok = true;
	for (size_t i = 0;
	     ok && i < sizeof(demo_messages) / sizeof(*demo_messages); i++) {
		const char *m = demo_messages[i];
		size_t n = strlen(m);
		int fd = memfd_create("demo", MFD_CLOEXEC);
		uint32_t validity, uid;
		ok = fd >= 0 && write(fd, m, n) == (ssize_t)n &&
		     lseek(fd, 0, SEEK_SET) == 0 &&
		     mailstore_append(ms, "INBOX", fd, n, 0, NULL, 0,
		                      (int64_t)time(NULL), &validity, &uid, err,
		                      errlen) == MAIL_OK;
		if (fd >= 0)
			close(fd);
	}
	mailstore_close(ms);
	return ok;
}

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
	if (!demo_deliver(dir, err, errlen))
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
