/*
 * SEARCH arguments as a value: the key tree and the RFC 4731 RETURN
 * options, parsed without a mailbox (the numbers "*" stands for are
 * given), so that the fuzzer and unit tests can drive the parser alone.
 */
#ifndef IMAPCID_IMAP_SEARCH_H
#define IMAPCID_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"
#include "lib/arena.h"

/* RETURN options (RFC 4731 3.1); SAVE (SEARCHRES) is not offered. */
enum imap_search_ret {
	IMAP_SEARCH_RET_MIN = 1 << 0,
	IMAP_SEARCH_RET_MAX = 1 << 1,
	IMAP_SEARCH_RET_ALL = 1 << 2,
	IMAP_SEARCH_RET_COUNT = 1 << 3,
};

enum imap_search_status {
	IMAP_SEARCH_OK,
	IMAP_SEARCH_BAD,        /* *err says why */
	IMAP_SEARCH_BADCHARSET, /* NO [BADCHARSET] */
};

struct search_key;

struct imap_search {
	struct search_key *root;
	unsigned ret; /* enum imap_search_ret; ALL when RETURN () */
	bool esearch; /* RETURN was given: answer with ESEARCH */
	struct search_key *allocated; /* for imap_search_free() */
};

/*
 * Parses "[RETURN (opts)] [CHARSET x] keys" (RFC 4466 search). messages
 * and max_uid are what "*" means in a sequence set and in a UID set. The
 * tree is allocated from a, plus sets freed by imap_search_free().
 */
enum imap_search_status
imap_search_parse(struct arena *a, const struct imap_arg *args, size_t count,
                  uint32_t messages, uint32_t max_uid, struct imap_search *out,
                  const char **err);
void imap_search_free(struct imap_search *q);

#endif
