/* imapcidctl: administration of an instance, one file per command family. */
#ifndef IMAPCID_CTL_H
#define IMAPCID_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* "user add|passwd|del|list ..." Returns the exit status. */
int ctl_user(const struct config *cfg, int argc, char **argv);

/* "device ...", "policy ...", "audit ..." (what names which). */
int ctl_registry(const struct config *cfg, const char *what, int argc,
                 char **argv);
/* "deliver USER [FOLDER]": a message from stdin into the store. */
int ctl_deliver(const struct config *cfg, int argc, char **argv);

/* A time for --until/--since: ISO 8601 date or date-time (UTC), "+2h"
 * relative to now, or epoch seconds. */
bool ctl_parse_time(const char *s, int64_t now, int64_t *out);

#endif
