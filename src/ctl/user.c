/* imapcidctl user add|passwd|del|list: the password file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "ctl/ctl.h"

#define CTL_PASSWORD_MIN 1

/* One line from fd into buf, without its newline. False on EOF/overflow. */
static bool
ctl_read_line(FILE *f, char *buf, size_t len)
{
	if (fgets(buf, (int)len, f) == NULL)
		return false;
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(f))
		return false; /* longer than we accept */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return true;
}

static bool
ctl_prompt(FILE *tty, const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	int fd = fileno(tty);
	fputs(prompt, stderr);
	fflush(stderr);
	bool echo_off = tcgetattr(fd, &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	bool ok = ctl_read_line(tty, buf, len);
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	fputs("\n", stderr);
	return ok;
}

/* From the terminal (twice) when there is one, else one line of stdin:
 * never from the command line, where every user could read it. */
static bool
ctl_get_password(char *buf, size_t len)
{
	if (!isatty(STDIN_FILENO))
		return ctl_read_line(stdin, buf, len) &&
		       strlen(buf) >= CTL_PASSWORD_MIN;
	char again[SASL_FIELD_MAX + 2];
	bool ok = ctl_prompt(stdin, "Password: ", buf, len) &&
	          ctl_prompt(stdin, "Again: ", again, sizeof(again));
	if (ok && strcmp(buf, again) != 0) {
		fprintf(stderr, "imapcidctl: passwords differ\n");
		ok = false;
	}
	explicit_bzero(again, sizeof(again));
	return ok && strlen(buf) >= CTL_PASSWORD_MIN;
}

static int
ctl_user_set(const char *passdb, const char *scheme, const char *user,
             enum passdb_edit edit)
{
	char pass[SASL_FIELD_MAX + 2], hash[PASSWORD_HASH_MAX], err[512];
	if (!passdb_user_valid(user)) {
		fprintf(stderr, "imapcidctl: invalid user name\n");
		return 1;
	}
	if (!ctl_get_password(pass, sizeof(pass))) {
		fprintf(stderr, "imapcidctl: no password given\n");
		explicit_bzero(pass, sizeof(pass));
		return 1;
	}
	bool ok = password_hash(scheme, pass, hash, sizeof(hash));
	explicit_bzero(pass, sizeof(pass));
	if (!ok) {
		fprintf(stderr, "imapcidctl: cannot hash with %s\n", scheme);
		return 1;
	}
	ok = passdb_file_edit(passdb, edit, user, hash, err, sizeof(err));
	explicit_bzero(hash, sizeof(hash));
	if (!ok) {
		fprintf(stderr, "imapcidctl: %s\n", err);
		return 1;
	}
	return 0;
}

static void
ctl_user_usage(void)
{
	fprintf(stderr,
	        "usage: imapcidctl -c FILE user add [-s SCHEME] USER\n"
	        "       imapcidctl -c FILE user passwd [-s SCHEME] USER\n"
	        "       imapcidctl -c FILE user del USER\n"
	        "       imapcidctl -c FILE user list\n"
	        "The password is read from the terminal, or from stdin.\n");
}

int
ctl_user(const struct config *cfg, int argc, char **argv)
{
	if (argc < 1) {
		ctl_user_usage();
		return 2;
	}
	const char *verb = argv[0], *scheme = cfg->default_pass_scheme;
	argc--;
	argv++;
	if (argc >= 2 && strcmp(argv[0], "-s") == 0) {
		scheme = argv[1];
		argc -= 2;
		argv += 2;
		if (!password_scheme_valid(scheme)) {
			fprintf(stderr, "imapcidctl: unknown scheme %s\n",
			        scheme);
			return 2;
		}
	}
	char *passdb = config_path(cfg, cfg->passdb_file);
	int status = 2;
	char err[512];
	if (strcmp(verb, "list") == 0 && argc == 0) {
		struct passdb *db = passdb_load(passdb, err, sizeof(err));
		if (db == NULL) {
			fprintf(stderr, "imapcidctl: %s\n", err);
			status = 1;
		} else {
			for (size_t i = 0; i < passdb_count(db); i++)
				printf("%s\n", passdb_user_at(db, i));
			passdb_unref(db);
			status = 0;
		}
	} else if (strcmp(verb, "add") == 0 && argc == 1) {
		status = ctl_user_set(passdb, scheme, argv[0], PASSDB_EDIT_ADD);
	} else if (strcmp(verb, "passwd") == 0 && argc == 1) {
		status = ctl_user_set(passdb, scheme, argv[0], PASSDB_EDIT_SET);
	} else if (strcmp(verb, "del") == 0 && argc == 1) {
		status = passdb_file_edit(passdb, PASSDB_EDIT_DELETE, argv[0],
		                          NULL, err, sizeof(err))
		                 ? 0
		                 : 1;
		if (status != 0)
			fprintf(stderr, "imapcidctl: %s\n", err);
	} else {
		ctl_user_usage();
	}
	if (status == 0 && strcmp(verb, "list") != 0)
		fprintf(stderr, "imapcidctl: done; send SIGHUP to imapcidd "
		                "to apply\n");
	free(passdb);
	return status;
}
