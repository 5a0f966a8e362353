/* The server secret that keys token fingerprints and hashes (CID-PRV-1):
 * made once, at first start, in the state directory. */
#ifndef IMAPCID_SECRET_H
#define IMAPCID_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_LEN 32

/* Reads DIR/secret, creating DIR (0700) and the secret (0600) if missing. */
bool secret_load(const char *state_dir, uint8_t out[SECRET_LEN], char *err,
                 size_t errlen);

#endif
