/*
 * The collector, imap_parse_head and imap_parse_args on arbitrary bytes,
 * under the pre-auth and the post-auth limits.
 *
 * Besides memory errors it checks what must hold for any input: the framing
 * is the same whether the bytes come whole or one at a time, the limits are
 * kept, and the parser's tree is well formed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser.h"
#include "lib/arena.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct imap_limits limits[] = {
        {4096, 4096, 4, 8192},       /* pre-auth defaults */
        {65536, 65536, 32, 2097152}, /* post-auth defaults */
        {256, 0, 1, 256},            /* the smallest configurable */
        {1024, 1024, 4, 2048},       /* literals bounded by the budget */
};

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

/* Walks the tree, reading every byte, checking counts and depth. */
static void
walk(const struct imap_arg *args, size_t count, unsigned depth,
     unsigned nesting_max, size_t input_len)
{
	CHECK(depth <= nesting_max);
	CHECK(count == 0 || args != NULL);
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		volatile uint8_t sink = 0;
		switch (a->type) {
		case IMAP_ARG_LIST:
			walk(a->list, a->count, depth + 1, nesting_max,
			     input_len);
			break;
		case IMAP_ARG_ATOM:
			CHECK(a->len > 0);
			CHECK(strlen(a->str) == a->len);
			/* fall through */
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			CHECK(a->str != NULL && a->len <= input_len);
			CHECK(a->str[a->len] == '\0');
			for (size_t k = 0; k < a->len; k++)
				sink ^= (uint8_t)a->str[k];
			break;
		default:
			CHECK(0);
		}
		(void)sink;
	}
}

static void
parse_command(const uint8_t *p, size_t n, unsigned nesting_max)
{
	struct imap_command cmd;
	enum imap_head_status hs = imap_parse_head(p, n, &cmd);
	if (hs == IMAP_HEAD_BAD_TAG)
		return;
	size_t tl = strlen(cmd.tag);
	CHECK(tl >= 1 && tl <= IMAP_TAG_MAX);
	for (size_t i = 0; i < tl; i++)
		CHECK(imap_is_tag_char((uint8_t)cmd.tag[i]));
	if (hs == IMAP_HEAD_BAD_NAME)
		return;
	size_t nl = strlen(cmd.name);
	CHECK(nl >= 1 && nl <= IMAP_NAME_MAX);
	for (size_t i = 0; i < nl; i++)
		CHECK(imap_is_atom_char((uint8_t)cmd.name[i]) &&
		      !(cmd.name[i] >= 'a' && cmd.name[i] <= 'z'));
	CHECK(cmd.rest >= p && cmd.rest + cmd.rest_len == p + n);

	struct arena arena = ARENA_INIT;
	struct imap_arg *args = NULL;
	size_t count = 0;
	const char *err = NULL;
	if (imap_parse_args(&arena, cmd.rest, cmd.rest_len, nesting_max, NULL,
	                    &args, &count, &err))
		walk(args, count, 0, nesting_max, n);
	else
		CHECK(err != NULL && err[0] != '\0');
	arena_free(&arena);
}

/*
 * Frames the input in chunks of `chunk` bytes, accepting every literal,
 * parsing every command; returns a trace of the framing for comparison.
 */
static void
collect(const uint8_t *data, size_t size, size_t chunk, bool raw,
        const struct imap_limits *lim, struct buf *trace)
{
	struct imap_collector c;
	memset(&c, 0, sizeof(c));
	c.raw = raw;
	size_t pos = 0;
	bool stopped = false;

	while (pos < size && !stopped) {
		size_t len = size - pos < chunk ? size - pos : chunk;
		const uint8_t *p = data + pos;
		pos += len;
		while (len > 0 && !stopped) {
			size_t consumed = 0;
			enum imap_collect_status st =
			        imap_collect_feed(&c, lim, p, len, &consumed);
			CHECK(consumed <= len);
			p += consumed;
			len -= consumed;
			/* Memory never exceeds the limits. */
			CHECK(c.text_len <= lim->line_max);
			CHECK(c.cmd.len == c.text_len + c.literal_octets);
			CHECK(c.cmd.len <= lim->command_max);
			switch (st) {
			case IMAP_COLLECT_MORE:
				CHECK(len == 0);
				break;
			case IMAP_COLLECT_DONE:
				CHECK(c.literal_left == 0);
				buf_printf(trace, "D%zu:", c.cmd.len);
				buf_append(trace, c.cmd.data, c.cmd.len);
				if (!raw)
					parse_command(c.cmd.data, c.cmd.len,
					              lim->nesting_max);
				imap_collect_reset(&c);
				CHECK(c.cmd.data == NULL && c.raw == raw);
				break;
			case IMAP_COLLECT_LITERAL:
				CHECK(!raw);
				CHECK(c.literal_left <= lim->literal_max);
				buf_append_str(trace,
				               c.literal_sync ? "L" : "N");
				/* refuse every third non-synchronizing one, as
				 * a session does for a command without literals,
				 * so the discarding path is framed the same
				 * whole and byte by byte */
				if (!c.literal_sync && c.literals % 3 == 0)
					imap_collect_discard(&c);
				else if (c.literal_sync && c.discard)
					stopped = true;
				else
					imap_collect_accept(&c);
				break;
			case IMAP_COLLECT_LINE_TOO_LONG:
			case IMAP_COLLECT_LITERAL_TOO_LARGE:
				buf_printf(trace, "E%d%d", (int)st,
				           (int)c.literal_sync);
				stopped = true;
				break;
			default:
				CHECK(0);
			}
		}
	}
	buf_printf(trace, "P%zu", stopped ? 0 : c.cmd.len);
	imap_collect_free(&c);
	CHECK(c.cmd.data == NULL);
}

static void
differential(const uint8_t *data, size_t size, bool raw,
             const struct imap_limits *lim)
{
	struct buf whole = BUF_INIT, bytes = BUF_INIT;
	collect(data, size, size > 0 ? size : 1, raw, lim, &whole);
	collect(data, size, 1, raw, lim, &bytes);
	CHECK(buf_used(&whole) == buf_used(&bytes));
	CHECK(memcmp(buf_head(&whole), buf_head(&bytes), buf_used(&whole)) ==
	      0);
	buf_free(&whole);
	buf_free(&bytes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(limits) / sizeof(*limits); i++)
		differential(data, size, false, &limits[i]);
	differential(data, size, true, &limits[0]);

	/* The parser alone, on the input as one framed command. */
	parse_command(data, size, limits[0].nesting_max);
	parse_command(data, size, limits[1].nesting_max);
	return 0;
}
