/* imapcidd: command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/demo.h"

#define MAIN_OVERRIDES_MAX 128

static void
main_usage(FILE *f)
{
	fprintf(f, "usage: imapcidd -c FILE [-o key=value]... [-t]\n"
	           "       imapcidd --demo DIR [-o key=value]...\n"
	           "       imapcidd -V\n"
	           "  -c FILE      run with this configuration, in the "
	           "foreground\n"
	           "  -o key=value override a setting (repeatable)\n"
	           "  -t           check the configuration, print it, exit\n"
	           "  --demo DIR   create a demo instance in DIR if needed, "
	           "run it\n"
	           "See imapcidd(8).\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"demo", required_argument, NULL, 'd'},
	        {"test", no_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *demo = NULL;
	char *overrides[MAIN_OVERRIDES_MAX];
	size_t noverrides = 0;
	bool check = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:o:thV", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			demo = optarg;
			break;
		case 'o':
			if (noverrides == MAIN_OVERRIDES_MAX) {
				fprintf(stderr, "imapcidd: too many -o\n");
				return 2;
			}
			overrides[noverrides++] = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("imapcidd %s\n", IMAPCID_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (conf == NULL) == (demo == NULL)) {
		main_usage(stderr);
		return 2;
	}
	char demo_conf[4096];
	if (demo != NULL) {
		char err[512];
		if (!demo_prepare(demo, demo_conf, sizeof(demo_conf), err,
		                  sizeof(err))) {
			fprintf(stderr, "imapcidd: demo: %s\n", err);
			return 1;
		}
		conf = demo_conf;
	}
	struct config *cfg = config_load(conf, overrides, noverrides, stderr);
	if (cfg == NULL)
		return 1;
	if (check) {
		config_dump(cfg, stdout);
		config_free(cfg);
		return 0;
	}
	int status = daemon_run(cfg, demo != NULL ? conf : NULL);
	config_free(cfg);
	return status;
}
