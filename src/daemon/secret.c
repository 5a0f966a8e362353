#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

static bool
secret_read(const char *path, uint8_t out[SECRET_LEN], char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	ssize_t n = read(fd, out, SECRET_LEN);
	close(fd);
	if (n != SECRET_LEN) {
		snprintf(err, errlen,
		         "%s: truncated (delete it to make a new "
		         "one; fingerprints will change)",
		         path);
		return false;
	}
	return true;
}

bool
secret_load(const char *state_dir, uint8_t out[SECRET_LEN], char *err,
            size_t errlen)
{
	char path[4096], tmp[4096];
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return false;
	}
	snprintf(path, sizeof(path), "%s/secret", state_dir);
	if (access(path, F_OK) == 0)
		return secret_read(path, out, err, errlen);

	/* Write aside and link into place: two first starts racing end
	 * with one secret, never a torn one. */
	snprintf(tmp, sizeof(tmp), "%s/secret.%ld", state_dir, (long)getpid());
	if (RAND_bytes(out, SECRET_LEN) != 1) {
		snprintf(err, errlen, "no randomness for the server secret");
		return false;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, out, SECRET_LEN) == SECRET_LEN &&
	          fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	ok = ok && (link(tmp, path) == 0 || errno == EEXIST);
	unlink(tmp);
	if (!ok) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return secret_read(path, out, err, errlen);
}
