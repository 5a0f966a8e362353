/*
 * IMAP command input in two steps, neither of which knows about sockets.
 *
 * 1. The collector frames one command out of a byte stream: it copies text up
 *    to each line end, recognises a literal announcement ("{n}" or "{n+}") at
 *    the end of a line, copies exactly n literal octets, and repeats until a
 *    line ends without one. It enforces the line and literal limits while
 *    copying, so memory never exceeds them, and stops at each synchronizing
 *    literal so the caller can accept ("+") or refuse (tagged BAD) it.
 *
 * 2. The parser turns a complete, framed command into tag, name and an
 *    argument tree. In the framed command every literal is stored as its
 *    "{n}" announcement immediately followed by its n octets (the CRLF that
 *    separated them on the wire is dropped), so the parser never guesses.
 */
#ifndef IMAPCID_IMAP_PARSER_H
#define IMAPCID_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/buf.h"

#define IMAP_TAG_MAX  64 /* longer tags are refused as invalid */
#define IMAP_NAME_MAX 32 /* longest command name we know is 12 */
/* Literals held in memory (all but those spilled to a file) are refused
 * above this, whatever literal_max says: it bounds a session's memory. */
#define IMAP_LITERAL_MEMORY_MAX (1024 * 1024)

struct imap_limits {
	size_t line_max;      /* command text, literal octets excluded */
	uint64_t literal_max; /* octets in one literal */
	unsigned nesting_max; /* parenthesised list depth */
	/* Octets of one command held in memory: its text and every literal
	 * not spilled to a file. Without it, a command could chain any
	 * number of literals, each within literal_max. */
	uint64_t command_max;
};

enum imap_collect_status {
	IMAP_COLLECT_MORE, /* all input consumed, command incomplete */
	IMAP_COLLECT_DONE, /* a complete command is framed */
	/* A literal was announced (literal_sync tells which kind): the
	 * owner checks the command so far, then calls accept (a "+" for a
	 * synchronizing one), discard (a non-synchronizing one the command
	 * may not have: its octets are read and dropped) or reset (a
	 * synchronizing one refused: the client sends nothing more). */
	IMAP_COLLECT_LITERAL,
	IMAP_COLLECT_LINE_TOO_LONG,
	IMAP_COLLECT_LITERAL_TOO_LARGE, /* see imap_collector.literal_sync */
};

struct imap_collector {
	struct buf cmd;        /* framed command so far */
	size_t text_len;       /* non-literal octets in cmd */
	uint64_t literal_left; /* literal octets still to copy */
	bool literal_sync;     /* the last announced literal was {n} */
	bool raw;              /* one bare line (SASL response), no literals */
	unsigned literals;     /* literals announced in this command */
	size_t seg_start; /* where the text after the last literal starts */
	uint64_t literal_octets; /* literal octets held in cmd */
	/* A CR ended the input so far: it is held back until the next
	 * octet tells whether it ends the line (CRLF) or belongs to it, so
	 * the text never exceeds line_max, even for a moment. */
	bool cr_pending;
	/* The command was refused while its octets were still coming (a
	 * non-synchronizing literal it may not have): literal octets are
	 * dropped as they arrive, and the owner answers it once DONE. */
	bool discard;

	/* Set by the owner: a literal of at least spill_min octets may be
	 * written to a file instead of cmd (an APPEND's message, which may
	 * be tens of MB). spill_open() gets the command framed so far and
	 * returns a descriptor to write to, or -1 to keep it in memory. At
	 * most one literal per command is spilled. */
	int (*spill_open)(void *arg, const uint8_t *cmd, size_t len);
	void *spill_arg;
	uint64_t spill_min;
	/* This command's spilled literal: cmd holds its announcement, whose
	 * "{" is at cmd.data[spill_at], and none of its octets. The owner may
	 * take spill_fd (then clears spilled); reset and free close it. */
	bool spilled;
	bool spilling;    /* literal octets now go to spill_fd */
	bool spill_error; /* a write failed (full disk): octets dropped */
	int spill_fd;
	uint64_t spill_len;
	size_t spill_at;
};

/*
 * Consumes input; *consumed tells how much. On DONE the framed command is
 * cmd.data[0 .. cmd.len) (no CRLF); the caller reads it, then calls
 * imap_collect_reset(). On LITERAL the caller calls imap_collect_accept() to
 * go on, or imap_collect_reset() after refusing.
 */
enum imap_collect_status imap_collect_feed(struct imap_collector *c,
                                           const struct imap_limits *lim,
                                           const uint8_t *in, size_t n,
                                           size_t *consumed);
void imap_collect_accept(struct imap_collector *c);
/* After a non-synchronizing LITERAL: the command is refused; read and drop
 * the rest of it (see imap_collector.discard). */
void imap_collect_discard(struct imap_collector *c);
void imap_collect_reset(struct imap_collector *c);
/* Frees everything; an idle collector holds no memory. */
void imap_collect_free(struct imap_collector *c);

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str; /* NUL-terminated; may hold NULs if a literal */
	size_t len;
	bool binary;  /* a literal8 ("~{n}", RFC 3516) */
	bool spilled; /* a literal whose len octets are in the command's
		       * spill file; str is "" */
	struct imap_arg *list; /* IMAP_ARG_LIST */
	size_t count;
};

struct imap_command {
	char tag[IMAP_TAG_MAX + 1];
	char name[IMAP_NAME_MAX + 1]; /* upper-cased */
	const uint8_t *rest;          /* bytes after the name, raw */
	size_t rest_len;
};

enum imap_head_status {
	IMAP_HEAD_OK,
	IMAP_HEAD_BAD_TAG,  /* never echo the tag back */
	IMAP_HEAD_BAD_NAME, /* tag is valid, name is not */
};

/* Splits "tag SP name [SP rest]". Works on a partial command too. */
enum imap_head_status imap_parse_head(const uint8_t *p, size_t n,
                                      struct imap_command *cmd);

/* A spilled literal as the parser sees it: its "{" is at offset at of the
 * text being parsed, and no octets follow its announcement there. */
struct imap_spill {
	size_t at;
	uint64_t len;
};

/*
 * Parses arguments of a framed command (cmd->rest). Allocates from the
 * arena. Returns false with a precise message in *err on bad syntax.
 * spill (NULL if none) marks the literal whose octets are in a file.
 */
bool imap_parse_args(struct arena *a, const uint8_t *p, size_t n,
                     unsigned nesting_max, const struct imap_spill *spill,
                     struct imap_arg **args, size_t *count, const char **err);

/* Helpers for handlers. */
bool imap_arg_is_astring(const struct imap_arg *arg);
bool imap_arg_is_nil(const struct imap_arg *arg);
bool imap_is_atom_char(uint8_t c);
bool imap_is_tag_char(uint8_t c);

#endif
