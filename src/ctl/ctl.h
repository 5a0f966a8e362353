/* imapcidctl: administration of an instance, one file per command family. */
#ifndef IMAPCID_CTL_H
#define IMAPCID_CTL_H

#include "config/config.h"

/* "user add|passwd|del|list ..." Returns the exit status. */
int ctl_user(const struct config *cfg, int argc, char **argv);

#endif
