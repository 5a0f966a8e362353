/* UTF-8 encoding and strict decoding of one code point, shared by the
 * mailbox-name codec and SEARCH's case folding. */
#ifndef IMAPCID_UTF8_H
#define IMAPCID_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_MAX 4 /* octets of one encoded code point */

/* Writes cp (at most 0x10ffff; callers have checked) to out; returns how
 * many octets. */
size_t utf8_encode(uint32_t cp, uint8_t out[UTF8_MAX]);
/* Decodes the code point p[0 .. n - 1] starts with, in strict UTF-8 (no
 * overlong forms, no surrogates, nothing past U+10FFFF): the octets it
 * takes, or 0 if p starts with none (n == 0 included). */
size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);

#endif
