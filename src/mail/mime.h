/*
 * The MIME structure of one message, for FETCH ENVELOPE, BODY,
 * BODYSTRUCTURE, BODY[section] and SEARCH. Pure functions over the whole
 * message in memory: no I/O, and no pointer into the message is kept, so the
 * caller may drop or remap its copy between calls (the section and body-text
 * functions take it again).
 *
 * Why our own parser and not GMime 3: IMAP defines body sizes, line counts
 * and BODY[section] contents in terms of the exact octets of the message as
 * stored with CRLF line ends (RFC 3501 7.4.2, RFC 9051 6.4.5 and 7.5.2).
 * GMime parses into an object model that normalizes line ends and header
 * folding away, so its sizes and sections would have to be recomputed from
 * the raw bytes anyway; and ENVELOPE wants header values raw (encoded words
 * undecoded), which GMime decodes. A small parser that records byte ranges
 * gives octet-exact answers directly, and lets us bound work and memory on
 * hostile input with the named limits below.
 *
 * Input: the message with CRLF line ends (the caller converts bare LF
 * first); bare LF is still accepted as a line end. Garbage never fails the
 * parse: what cannot be understood becomes text/plain.
 *
 * Conventions, where the RFCs leave a choice:
 * - Header values are raw and unfolded (each CRLF that precedes white space
 *   is removed, the white space is kept; leading white space is dropped);
 *   encoded words are passed through; 8-bit octets are passed through and
 *   written as literals.
 * - Types, subtypes, encodings and parameters are written as the message
 *   spells them; values we supply ourselves are upper case as in RFC 3501's
 *   examples: "TEXT" "PLAIN" ("CHARSET" "US-ASCII") and "7BIT". A text part
 *   without a charset parameter gets ("CHARSET" "US-ASCII") appended (RFC
 *   2046 4.1.2). A part without Content-Type inside multipart/digest is
 *   message/rfc822 (RFC 2046 5.1.5).
 * - RFC 2231 parameters (name*0=, name*=charset''...) are left as they are:
 *   no continuations are joined and no values are decoded.
 * - Body size is the octets of the part's body; lines are its line ends
 *   (LF, with or without CR). The line end before a multipart delimiter
 *   belongs to the delimiter (RFC 2046 5.1.1), not to the part.
 * - A multipart part without a boundary parameter, or with no delimiter
 *   line in its body, and a composite part past MIME_DEPTH_MAX or
 *   MIME_PARTS_MAX, is described as text/plain.
 * - An address without a domain gets the host ".MISSING-HOST-NAME." (as the
 *   reference c-client implementation does), so that NIL keeps meaning group
 *   syntax. A mailbox without a display name takes the text of a comment in
 *   it as name ("a@b (Ann)"), if there is one.
 * - Content-MD5 in BODYSTRUCTURE is the field's value as it is (trailing
 *   white space dropped), NIL without one, as Dovecot answers.
 * - Parameters are listed in the message's order, RFC 2231 ones too
 *   (Dovecot moves those after the others and joins continuations).
 */
#ifndef IMAPCID_MIME_H
#define IMAPCID_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Nesting of multiparts and encapsulated messages; deeper composite parts
 * are described as text/plain. Also bounds the parser's recursion. */
#define MIME_DEPTH_MAX 32
/* Body parts and encapsulated messages in one message; delimiters past it
 * are ignored, composite parts past it are text/plain. */
#define MIME_PARTS_MAX 10000
/* Octets of one header block that are read as fields: fields starting
 * later still belong to BODY[HEADER] but are not seen by ENVELOPE,
 * BODYSTRUCTURE, mime_header() or HEADER.FIELDS[.NOT]. */
#define MIME_HEADER_MAX (1024 * 1024)
/* Header fields of message headers kept for ENVELOPE, mime_header() and
 * HEADER.FIELDS, over the whole message: bounds the index memory. */
#define MIME_FIELDS_MAX 100000
/* Octets for the field names of one HEADER.FIELDS[.NOT] section. */
#define MIME_SECTION_NAMES_MAX 2048

struct mime_message;
struct mime_field;

/* Never fails on malformed input; NULL only when memory is exhausted. */
struct mime_message *mime_parse(const uint8_t *data, size_t len);
void mime_free(struct mime_message *m);

/* The "(" ... ")" of an ENVELOPE item (RFC 3501 7.4.2, RFC 9051 7.5.2). */
void mime_write_envelope(struct buf *out, const struct mime_message *m);
/* The "(" ... ")" of a BODY (extensible false) or BODYSTRUCTURE (true)
 * item: with extension data md5 (NIL), disposition, language, location. */
void mime_write_bodystructure(struct buf *out, const struct mime_message *m,
                              bool extensible);

enum mime_section_kind {
	MIME_SECTION_RANGE,  /* octets [start, start + len) of the message */
	MIME_SECTION_FIELDS, /* HEADER.FIELDS[.NOT]: lines picked from fields */
};

struct mime_section {
	enum mime_section_kind kind;
	uint64_t start, len; /* MIME_SECTION_RANGE */
	/* MIME_SECTION_FIELDS: the header's fields (owned by the message);
	 * exclude for .NOT (keep the fields not named); the names, each
	 * NUL-terminated, one after the other in names[0 .. names_len). */
	const struct mime_field *fields;
	bool exclude;
	size_t names_len;
	char names[MIME_SECTION_NAMES_MAX];
};

/*
 * Resolves the text between the brackets of BODY[...] (RFC 9051 6.4.5):
 * "", "HEADER", "TEXT", "1.2", "1.2.MIME", "1.HEADER", "2.TEXT",
 * "HEADER.FIELDS (FROM TO)", "1.HEADER.FIELDS.NOT (X-A)". Keywords are
 * case-insensitive; field names are atoms or quoted strings. A
 * non-multipart message's body is part 1; HEADER, TEXT and HEADER.FIELDS
 * after part numbers need a message/rfc822 (or message/global) part and
 * refer to the message inside it. False for a malformed spec, a part that
 * does not exist, or names over MIME_SECTION_NAMES_MAX. The section is valid
 * as long as the message.
 */
bool mime_section(const struct mime_message *m, const char *spec,
                  struct mime_section *out);
/* Appends the section's octets: the range, or for HEADER.FIELDS[.NOT] the
 * selected field lines as stored (folding kept) and then a blank line.
 * data is the message that m was parsed from. */
void mime_section_write(const struct mime_message *m,
                        const struct mime_section *s, const uint8_t *data,
                        struct buf *out);
/* Exactly the number of octets mime_section_write() appends. */
uint64_t mime_section_size(const struct mime_message *m,
                           const struct mime_section *s);

enum mime_binary_result {
	MIME_BINARY_OK,
	MIME_BINARY_NOPART,      /* malformed spec or no such part */
	MIME_BINARY_UNKNOWN_CTE, /* an encoding we cannot undo */
	MIME_BINARY_NOMEM,
};

/* BINARY[spec] (RFC 3516, RFC 9051 6.4.5): spec is "" (the whole message,
 * as it is) or part numbers ("1.2"); appends the part's body with its
 * Content-Transfer-Encoding (base64, quoted-printable) undone. Composite
 * parts and 7bit/8bit/binary bodies are appended as they are. */
enum mime_binary_result mime_binary(const struct mime_message *m,
                                    const char *spec, const uint8_t *data,
                                    struct buf *out);

/* True if a leaf part of m has "Content-Transfer-Encoding: binary". */
bool mime_has_binary_parts(const struct mime_message *m);
/*
 * Writes the message m was parsed from (data, len) through write(), with
 * the body of every leaf part in "Content-Transfer-Encoding: binary"
 * encoded as base64 and that field replaced, as Dovecot stores a message
 * APPENDed in a literal8 (RFC 3516 4.4): its octets then survive line-end
 * conversion, BODY[] never carries a NUL, and BINARY[] decodes them back
 * exactly. False as soon as write() returns false.
 */
bool mime_binary_to_base64(const struct mime_message *m, const uint8_t *data,
                           size_t len,
                           bool (*write)(void *arg, const uint8_t *p, size_t n),
                           void *arg);

/* The first header field called name (case-insensitive) of the top-level
 * message: its raw unfolded value, NUL-terminated, owned by m; *len (if
 * len is not NULL) gets its length. NULL when there is none. */
const char *mime_header(const struct mime_message *m, const char *name,
                        size_t *len);

/* Every header field called name of the top-level message, in order:
 * start with *f NULL; each call returns the next one's value as
 * mime_header() does, or NULL after the last. */
const char *mime_header_next(const struct mime_message *m, const char *name,
                             const struct mime_field **f, size_t *len);

/* Appends the addresses of an address-list field value as text, the
 * envelope's view of it that SEARCH FROM/TO/CC/BCC match (RFC 9051
 * 6.4.4, as Dovecot does): "name <mbox@host>" or "mbox@host" (a comment
 * standing in for a missing name), comma-separated, groups as
 * "group: a@b, c@d;"; other comments, quoting and folding are gone. */
void mime_address_text(const char *value, size_t len, struct buf *out);

/* Appends in[0 .. len) with RFC 2047 encoded words (B and Q) decoded to
 * UTF-8; white space between adjacent encoded words is dropped. Malformed
 * encoded words and other text are copied as they are. */
void mime_decode_words(const char *in, size_t len, struct buf *out);

/* Appends the text of every text/ part, in order, transfer-decoded
 * (quoted-printable, base64) and converted to UTF-8 from its charset where
 * the charset is known (raw otherwise), parts separated by a line end.
 * data is the message that m was parsed from. False when memory ran out. */
bool mime_body_text(const struct mime_message *m, const uint8_t *data,
                    struct buf *out);

#endif
