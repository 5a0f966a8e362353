/* SASL mechanisms' message formats, as pure functions. */
#ifndef IMAPCID_SASL_H
#define IMAPCID_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SASL_FIELD_MAX 1024

/*
 * PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. Output strings are
 * NUL-terminated and at most SASL_FIELD_MAX bytes; an embedded NUL beyond
 * the two separators, an empty authcid or an over-long field is an error.
 */
bool sasl_plain_decode(const uint8_t *msg, size_t len,
                       char authzid[SASL_FIELD_MAX + 1],
                       char authcid[SASL_FIELD_MAX + 1],
                       char passwd[SASL_FIELD_MAX + 1]);

#endif
