/* `imapcidd --demo DIR`: a self-contained instance to try the server. */
#ifndef IMAPCID_DEMO_H
#define IMAPCID_DEMO_H

#include <stdbool.h>
#include <stddef.h>

#define DEMO_CONFIG_NAME "imapcidd.conf"

/* Creates DIR with config, certificate, password file (demo/demo) and mail
 * directory unless DIR already has a config. Writes the config's path. */
bool demo_prepare(const char *dir, char *conf, size_t conflen, char *err,
                  size_t errlen);
/* How to connect, for the terminal. */
void demo_print_help(const char *conf, const char *imap, const char *imaps);

#endif
