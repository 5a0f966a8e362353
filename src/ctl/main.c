/* imapcidctl: command line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "ctl/ctl.h"
#include "lib/privs.h"

#define CTL_DEFAULT_CONFIG "/etc/imapcid/imapcidd.conf"

/* Run as root with `user` set: become that user. */
static bool
ctl_become_user(const struct config *cfg)
{
	uid_t uid;
	gid_t gid;
	char err[256];
	if (geteuid() != 0 || cfg->user[0] == '\0')
		return true;
	if (privs_lookup(cfg->user, &uid, &gid, err, sizeof(err)) &&
	    privs_drop(uid, gid, err, sizeof(err)))
		return true;
	fprintf(stderr, "imapcidctl: %s\n", err);
	return false;
}

static void
ctl_usage(FILE *f)
{
	fprintf(f,
	        "usage: imapcidctl [-c FILE] COMMAND ...\n"
	        "commands:\n"
	        "  user add [-s SCHEME] USER     add an account\n"
	        "  user passwd [-s SCHEME] USER  change its password\n"
	        "  user del USER                 remove an account\n"
	        "  user list                     list accounts\n"
	        "  device list USER [--json]     devices of an account\n"
	        "  device approve USER FPR       trust a device\n"
	        "  device revoke USER FPR [--until TIME]\n"
	        "                                refuse a device\n"
	        "  device forget USER FPR        remove a device\n"
	        "  policy show [USER] [--json]   global and account policy\n"
	        "  policy set USER MODE [--require-clientid yes|no|default]\n"
	        "                                MODE: off, observe, learn,\n"
	        "                                enforce, default\n"
	        "  deliver USER [FOLDER]         deliver a message from stdin\n"
	        "  audit [--user U] [--since T] [--limit N] [--json]\n"
	        "                                authentication attempts\n"
	        "See imapcidctl(8).\n");
}

int
main(int argc, char **argv)
{
	const char *conf = CTL_DEFAULT_CONFIG;
	int ch;
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			ctl_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return 2;
	}
	struct config *cfg = config_load(conf, NULL, 0, stderr);
	if (cfg == NULL)
		return 1;
	int status;
	const char *what = argv[optind];
	/* What it writes for the server (messages, the registry and its
	 * WAL files) must be the server's user's, not root's. Editing the
	 * password file stays as invoked. */
	if (strcmp(what, "user") != 0 && !ctl_become_user(cfg)) {
		config_free(cfg);
		return 1;
	}
	if (strcmp(what, "user") == 0) {
		status = ctl_user(cfg, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(what, "deliver") == 0) {
		status = ctl_deliver(cfg, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(what, "device") == 0 || strcmp(what, "policy") == 0 ||
	           strcmp(what, "audit") == 0) {
		status = ctl_registry(cfg, what, argc - optind - 1,
		                      argv + optind + 1);
	} else {
		ctl_usage(stderr);
		status = 2;
	}
	config_free(cfg);
	return status;
}
