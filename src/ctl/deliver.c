/* imapcidctl deliver USER [FOLDER] < message: what an MDA does, for tests
 * and for local delivery: the message lands atomically in the user's
 * store and shows up in open sessions at their next sync. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "lib/account.h"
#include "ctl/ctl.h"
#include "mail/mailstore.h"

#define CTL_DELIVER_CHUNK 65536

int
ctl_deliver(const struct config *cfg, int argc, char **argv)
{
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: imapcidctl [-c FILE] deliver USER "
		                "[FOLDER] < message\n");
		return 2;
	}
	const char *folder = argc == 2 ? argv[1] : "INBOX";
	/* the server's name for the account: its store, whatever the case */
	char user[PASSDB_USER_MAX + 1];
	account_canonical(argv[0], user, sizeof(user));
	if (strlen(argv[0]) > PASSDB_USER_MAX || !passdb_user_valid(user) ||
	    !mailstore_name_valid(user)) {
		fprintf(stderr, "imapcidctl: invalid user name\n");
		return 2;
	}
	/* stdin may be a pipe: stage it so the store knows the size */
	int fd = memfd_create("deliver", MFD_CLOEXEC);
	if (fd < 0) {
		perror("imapcidctl: memfd_create");
		return 1;
	}
	char chunk[CTL_DELIVER_CHUNK];
	uint64_t size = 0;
	ssize_t n;
	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0 ||
	       (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		if (write(fd, chunk, (size_t)n) != n) {
			perror("imapcidctl: staging the message");
			close(fd);
			return 1;
		}
		size += (uint64_t)n;
	}
	if (n < 0 || size == 0 || lseek(fd, 0, SEEK_SET) != 0) {
		fprintf(stderr, "imapcidctl: no message on standard input\n");
		close(fd);
		return 1;
	}
	char *base = config_path(cfg, cfg->mail_dir), dir[4096], err[512];
	snprintf(dir, sizeof(dir), "%s/%s", base ? base : ".", user);
	free(base);
	struct mailstore *ms = mailstore_open(dir, err, sizeof(err));
	if (ms == NULL) {
		fprintf(stderr, "imapcidctl: %s\n", err);
		close(fd);
		return 1;
	}
	uint32_t uidvalidity, uid;
	enum mail_result r = mailstore_append(ms, folder, fd, size, 0, NULL, 0,
	                                      (int64_t)time(NULL), &uidvalidity,
	                                      &uid, err, sizeof(err));
	mailstore_close(ms);
	close(fd);
	if (r != MAIL_OK) {
		fprintf(stderr, "imapcidctl: %s: %s\n", folder, err);
		return r == MAIL_NOSPACE ? 75 : 1; /* EX_TEMPFAIL for MTAs */
	}
	printf("%s %s: uid %u\n", user, folder, uid);
	return 0;
}
