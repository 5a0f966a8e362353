/* Strict RFC 4648 base64, as SASL (RFC 4422) requires: padding mandatory,
 * no whitespace, no characters outside the alphabet. */
#ifndef IMAPCID_BASE64_H
#define IMAPCID_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* The 6-bit value of a base64 character, or -1. c63 is the character for
 * 63: '/' in RFC 4648, ',' in IMAP's modified UTF-7 (RFC 3501 5.1.3). */
int base64_value(unsigned char c, char c63);

/* Writes BASE64_ENCODED_LEN(n) chars plus a NUL to out. */
void base64_encode(const uint8_t *in, size_t n, char *out);
/* out must hold BASE64_DECODED_MAX(n) bytes. False on malformed input. */
bool base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

#endif
