/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed hash for tables whose keys
 * a client chooses (account names, addresses, tokens). With a secret,
 * random key per table, nobody outside can make keys collide on purpose,
 * which an unkeyed hash (FNV) lets anyone do.
 */
#ifndef IMAPCID_SIPHASH_H
#define IMAPCID_SIPHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data,
                   size_t len);
/* A fresh random key (getrandom(2)); false if the kernel gave none. */
bool siphash_key_random(uint8_t key[SIPHASH_KEY_LEN]);

#endif
