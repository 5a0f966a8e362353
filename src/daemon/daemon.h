/* The daemon's top level: build the services from a configuration, run
 * them until SIGTERM, reload on SIGHUP. */
#ifndef IMAPCID_DAEMON_H
#define IMAPCID_DAEMON_H

#include "config/config.h"

#define IMAPCID_VERSION "0.1.0"

/* Returns the process exit status. With demo_conf set, prints how to
 * connect to the demo instance once it listens. */
int daemon_run(const struct config *cfg, const char *demo_conf);

#endif
