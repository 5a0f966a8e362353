/* IMAP sequence sets ("1:3,5,7:*"), for sequence numbers and UIDs. */
#ifndef IMAPCID_SEQSET_H
#define IMAPCID_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define SEQSET_RANGES_MAX 4096 /* ranges in one set, against abuse */

struct seqset_range {
	uint32_t lo, hi; /* inclusive, lo <= hi; UINT32_MAX stands for "*" */
};

struct seqset {
	struct seqset_range *ranges;
	size_t n;
};

/* Parses s; "*" becomes star (the largest number in use). The ranges are
 * normalised (lo <= hi) but neither sorted nor merged. False on bad syntax
 * (0, empty parts, junk, too many ranges). */
bool seqset_parse(const char *s, uint32_t star, struct seqset *out);
bool seqset_contains(const struct seqset *set, uint32_t n);
void seqset_free(struct seqset *set);
/* Writes ascending numbers as a set with runs as ranges ("1:3,5,7:8"),
 * the way ESEARCH ALL gives them (RFC 4731 3.1); repeats are dropped.
 * Writes nothing for n == 0. */
void seqset_write(struct buf *out, const uint32_t *nums, size_t n);

#endif
