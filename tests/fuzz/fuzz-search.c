/*
 * The SEARCH argument parser (imap_search_parse) on arbitrary bytes: the
 * input is "SEARCH"'s argument text, parsed with imap_parse_args under the
 * post-auth nesting limit, then as search keys and RETURN options with
 * "*" standing for a message count and largest UID taken from the input.
 *
 * Besides memory errors (and leaks: a parse that fails half way must free
 * the sets it made) it checks what must hold for any input: a success
 * gives a key tree and no error, a failure an error text and no tree, and
 * RETURN options are only set when RETURN was given.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/parser.h"
#include "imap/search.h"
#include "lib/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NESTING_MAX 32 /* the post-auth default */

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

static void
parse_search(const uint8_t *p, size_t n, uint32_t messages, uint32_t max_uid)
{
	struct arena arena = ARENA_INIT;
	struct imap_arg *args = NULL;
	size_t count = 0;
	const char *err = NULL;
	if (!imap_parse_args(&arena, p, n, FUZZ_NESTING_MAX, NULL, &args,
	                     &count, &err)) {
		arena_free(&arena);
		return;
	}
	struct imap_search q;
	err = NULL;
	switch (imap_search_parse(&arena, args, count, messages, max_uid, &q,
	                          &err)) {
	case IMAP_SEARCH_OK:
		CHECK(q.root != NULL && err == NULL);
		CHECK(q.esearch ? q.ret != 0 : q.ret == 0);
		CHECK((q.ret &
		       ~(unsigned)(IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX |
		                   IMAP_SEARCH_RET_ALL |
		                   IMAP_SEARCH_RET_COUNT)) == 0);
		break;
	case IMAP_SEARCH_BAD:
		CHECK(q.root == NULL && err != NULL && err[0] != '\0');
		break;
	case IMAP_SEARCH_BADCHARSET:
		CHECK(q.root == NULL);
		break;
	default:
		CHECK(0);
	}
	imap_search_free(&q);
	CHECK(q.root == NULL);
	arena_free(&arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the parser wants "SEARCH"'s rest: a space, then the arguments */
	uint8_t buf[4096 + 1];
	if (size > sizeof(buf) - 1)
		size = sizeof(buf) - 1;
	buf[0] = ' ';
	memcpy(buf + 1, data, size);
	/* an empty mailbox, and one whose "*" is a large number */
	parse_search(buf, size + 1, 0, 0);
	uint32_t star = 1;
	for (size_t i = 0; i < size && i < 4; i++)
		star = star * 131u + data[i];
	parse_search(buf, size + 1, star % 100000u + 1, star);
	return 0;
}
