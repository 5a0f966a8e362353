/*
 * mime_parse on arbitrary bytes, then everything FETCH and SEARCH would ask
 * of it. Checks ENVELOPE, BODY and BODYSTRUCTURE are well-formed (parens
 * balance outside quoted strings and literals, a literal's count matches),
 * every section lies within the message and writes exactly the size it
 * announces, and HEADER plus TEXT is the whole message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

/* One parenthesized list: "(" ... ")" with nothing after it. */
static void
check_list(const struct buf *b)
{
	const uint8_t *p = buf_head(b);
	size_t n = buf_used(b), i = 0;
	long depth = 0;
	CHECK(n >= 2 && p[0] == '(' && p[n - 1] == ')');
	while (i < n) {
		uint8_t c = p[i];
		if (c == '"') {
			for (i++; i < n && p[i] != '"'; i++) {
				CHECK(p[i] != '\r' && p[i] != '\n' &&
				      p[i] < 0x80);
				if (p[i] == '\\')
					i++;
			}
			CHECK(i < n);
			i++;
		} else if (c == '{') {
			size_t len = 0;
			for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
				len = len * 10 + (size_t)(p[i] - '0');
			CHECK(i + 3 <= n && p[i] == '}' && p[i + 1] == '\r' &&
			      p[i + 2] == '\n');
			i += 3;
			CHECK(len <= n - i);
			i += len;
		} else {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			CHECK(depth >= 0);
			/* A list closes only at the very end. */
			CHECK(depth > 0 || i == n - 1);
			CHECK(c != '\r' && c != '\n');
			i++;
		}
	}
	CHECK(depth == 0);
}

static void
check_section(const struct mime_message *m, const uint8_t *data, size_t size,
              const char *spec)
{
	struct mime_section s;
	if (!mime_section(m, spec, &s))
		return;
	if (s.kind == MIME_SECTION_RANGE)
		CHECK(s.start <= size && s.len <= size - s.start);
	struct buf b = BUF_INIT;
	mime_section_write(m, &s, data, &b);
	CHECK(mime_section_size(m, &s) == buf_used(&b));
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m = mime_parse(data, size);
	CHECK(m != NULL);

	struct buf b = BUF_INIT;
	mime_write_envelope(&b, m);
	check_list(&b);
	buf_free(&b);
	mime_write_bodystructure(&b, m, false);
	check_list(&b);
	buf_free(&b);
	mime_write_bodystructure(&b, m, true);
	check_list(&b);
	buf_free(&b);

	/* BODY[] is the message; HEADER and TEXT split it. */
	struct mime_section all, hdr, text;
	CHECK(mime_section(m, "", &all) && all.start == 0 && all.len == size);
	CHECK(mime_section(m, "HEADER", &hdr) && hdr.start == 0);
	CHECK(mime_section(m, "TEXT", &text));
	CHECK(text.start == hdr.len && hdr.len + text.len == size);

	static const char *const specs[] = {
	        "1",
	        "1.MIME",
	        "2",
	        "1.1",
	        "1.2.MIME",
	        "2.HEADER",
	        "2.TEXT",
	        "1.HEADER.FIELDS (FROM SUBJECT)",
	        "HEADER.FIELDS (FROM TO CC)",
	        "HEADER.FIELDS.NOT (TO)",
	        "2.HEADER.FIELDS.NOT (X-A)",
	        "3.1.2",
	};
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		check_section(m, data, size, specs[i]);
	/* And a path picked by the input itself. */
	if (size >= 3) {
		char spec[64];
		snprintf(spec, sizeof(spec), "%u.%u.%u.MIME", 1 + data[0] % 4,
		         1 + data[1] % 4, 1 + data[2] % 4);
		check_section(m, data, size, spec);
		spec[strlen(spec) - 5] = '\0';
		check_section(m, data, size, spec);
	}

	size_t len;
	const char *subject = mime_header(m, "Subject", &len);
	if (subject != NULL) {
		CHECK(subject[len] == '\0');
		mime_decode_words(subject, len, &b);
		buf_free(&b);
	}
	mime_decode_words((const char *)data, size, &b);
	buf_free(&b);
	CHECK(mime_body_text(m, data, &b));
	buf_free(&b);
	mime_free(m);
	return 0;
}
