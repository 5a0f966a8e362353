#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool
privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "user %s: no such user", user);
		return false;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return true;
}

bool
privs_drop(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (geteuid() == uid && getegid() == gid)
		return true;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "cannot become uid %u: %s", (unsigned)uid,
		         strerror(errno));
		return false;
	}
	if (uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "root could be regained after dropping");
		return false;
	}
	return true;
}
