/*
 * Modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP mailbox names and,
 * in Maildir++, of folder directory names. Only the canonical form is
 * valid, so one folder has one spelling and no two names reach the same
 * directory by different octets.
 */
#ifndef IMAPCID_UTF7_H
#define IMAPCID_UTF7_H

#include <stdbool.h>
#include <stddef.h>

/* True if s is canonical modified UTF-7: printable ASCII stands for
 * itself, "&-" is "&", and "&...-" is non-empty modified base64 of UTF-16
 * that holds only characters outside printable ASCII, no lone surrogates,
 * no leftover bits, and does not directly follow another such run. */
bool mail_utf7_valid(const char *s);

/* Decodes s into out (NUL-terminated UTF-8). False if s is invalid or the
 * result does not fit in outlen octets. */
bool mail_utf7_to_utf8(const char *s, char *out, size_t outlen);

/* Encodes UTF-8 s as modified UTF-7. False if s is not valid UTF-8
 * (overlong forms and surrogates included) or out is too small. */
bool mail_utf8_to_utf7(const char *s, char *out, size_t outlen);

#endif
