/*
 * The MIME module against hand-written fixtures: every expected ENVELOPE
 * and BODY/BODYSTRUCTURE below was written out from RFC 3501 7.4.2 / RFC
 * 9051 7.5.2 (field order, NIL rules, group syntax) and RFC 2046 5.1.1 (the
 * line end before a delimiter belongs to the delimiter), with octet and line
 * counts taken from the fixture text, not from the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/mime.h"

/* The buffer's contents as a malloc'd string; empties the buffer. */
static char *
take(struct buf *b)
{
	size_t n = buf_used(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	if (n > 0)
		memcpy(s, buf_head(b), n);
	s[n] = '\0';
	buf_free(b);
	return s;
}

static struct mime_message *
parse(const char *text)
{
	struct mime_message *m =
	        mime_parse((const uint8_t *)text, strlen(text));
	assert_non_null(m);
	return m;
}

static void
expect_envelope(const struct mime_message *m, const char *want)
{
	struct buf b = BUF_INIT;
	mime_write_envelope(&b, m);
	char *got = take(&b);
	assert_string_equal(got, want);
	free(got);
}

static void
expect_body(const struct mime_message *m, bool ext, const char *want)
{
	struct buf b = BUF_INIT;
	mime_write_bodystructure(&b, m, ext);
	char *got = take(&b);
	assert_string_equal(got, want);
	free(got);
}

/* want NULL: the section must be refused. */
static void
expect_section(const struct mime_message *m, const char *text, const char *spec,
               const char *want)
{
	struct mime_section s;
	bool ok = mime_section(m, spec, &s);
	if (want == NULL) {
		if (ok)
			fail_msg("section \"%s\" accepted", spec);
		return;
	}
	if (!ok)
		fail_msg("section \"%s\" refused", spec);
	struct buf b = BUF_INIT;
	mime_section_write(m, &s, (const uint8_t *)text, &b);
	assert_int_equal(mime_section_size(m, &s), buf_used(&b));
	char *got = take(&b);
	assert_string_equal(got, want);
	free(got);
}

static char *
decode_words(const char *in)
{
	struct buf b = BUF_INIT;
	mime_decode_words(in, strlen(in), &b);
	return take(&b);
}

/* Every "\r\n" of text as "\n", malloc'd. */
static char *
to_lf(const char *text)
{
	char *s = malloc(strlen(text) + 1), *o = s;
	assert_non_null(s);
	for (; *text != '\0'; text++)
		if (!(text[0] == '\r' && text[1] == '\n'))
			*o++ = *text;
	*o = '\0';
	return s;
}

/*
 * Fixtures
 */

/* RFC 3501's APPEND example. */
static const char simple[] =
        "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
        "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
        "Subject: afternoon meeting\r\n"
        "To: mooch@owatagu.siam.edu.example\r\n"
        "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
        "\r\n"
        "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

static const char simple_header[] =
        "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
        "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
        "Subject: afternoon meeting\r\n"
        "To: mooch@owatagu.siam.edu.example\r\n"
        "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
        "\r\n";

static const char nested[] =
        "From: a@example.com\r\n"
        "Subject: nested\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative; boundary=\"outer\"\r\n"
        "\r\n"
        "preamble\r\n"
        "--outer\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "plain\r\n"
        "--outer\r\n"
        "Content-Type: multipart/mixed; boundary=inner\r\n"
        "\r\n"
        "--inner\r\n"
        "Content-Type: text/html\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "<p>hi=3D</p>\r\n"
        "\r\n"
        "--inner\r\n"
        "Content-Type: image/png; name=\"a.png\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"a.png\"\r\n"
        "Content-ID: <img1@example.com>\r\n"
        "Content-Language: en, de\r\n"
        "Content-Location: http://example.com/a.png\r\n"
        "\r\n"
        "iVBORw0KGgo=\r\n"
        "--inner--\r\n"
        "--outer--\r\n"
        "epilogue\r\n";

static const char nested_inner_body[] =
        "--inner\r\n"
        "Content-Type: text/html\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "<p>hi=3D</p>\r\n"
        "\r\n"
        "--inner\r\n"
        "Content-Type: image/png; name=\"a.png\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"a.png\"\r\n"
        "Content-ID: <img1@example.com>\r\n"
        "Content-Language: en, de\r\n"
        "Content-Location: http://example.com/a.png\r\n"
        "\r\n"
        "iVBORw0KGgo=\r\n"
        "--inner--";

static const char forwarded[] =
        "From: \"Doe, John\" <john@example.com>\r\n"
        "To: undisclosed-recipients:;\r\n"
        "Subject: fwd\r\n"
        "Content-Type: multipart/mixed; boundary=b1\r\n"
        "\r\n"
        "--b1\r\n"
        "\r\n"
        "see attached\r\n"
        "--b1\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "From: inner@example.org\r\n"
        "Subject: inner\r\n"
        "Date: Tue, 1 Mar 2022 10:00:00 +0000\r\n"
        "Content-Type: multipart/alternative; boundary=b2\r\n"
        "\r\n"
        "--b2\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "one\r\n"
        "two\r\n"
        "--b2\r\n"
        "Content-Type: text/html\r\n"
        "\r\n"
        "<b>one</b>\r\n"
        "--b2--\r\n"
        "--b1--\r\n";

/* The message inside forwarded's part 2: 226 octets, 14 line ends. */
static const char forwarded_inner[] =
        "From: inner@example.org\r\n"
        "Subject: inner\r\n"
        "Date: Tue, 1 Mar 2022 10:00:00 +0000\r\n"
        "Content-Type: multipart/alternative; boundary=b2\r\n"
        "\r\n"
        "--b2\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "one\r\n"
        "two\r\n"
        "--b2\r\n"
        "Content-Type: text/html\r\n"
        "\r\n"
        "<b>one</b>\r\n"
        "--b2--";

/*
 * ENVELOPE and BODYSTRUCTURE
 */

static void
simple_text(void **state)
{
	(void)state;
	struct mime_message *m = parse(simple);
	expect_envelope(m, "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" "
	                   "\"afternoon meeting\" "
	                   "((\"Fred Foobar\" NIL \"foobar\" "
	                   "\"Blurdybloop.example\")) "
	                   "((\"Fred Foobar\" NIL \"foobar\" "
	                   "\"Blurdybloop.example\")) "
	                   "((\"Fred Foobar\" NIL \"foobar\" "
	                   "\"Blurdybloop.example\")) "
	                   "((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) "
	                   "NIL NIL NIL "
	                   "\"<B27397-0100000@Blurdybloop.example>\")");
	/* The message's own spelling, 55 octets, 1 line. */
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 55 1)");
	expect_body(m, true,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 55 1 NIL NIL NIL NIL)");
	mime_free(m);
}

static void
missing_headers(void **state)
{
	(void)state;
	struct mime_message *m = parse("To: a@b.example\r\n"
	                               "\r\n"
	                               "x\r\n");
	/* No From: sender and reply-to have nothing to default to. */
	expect_envelope(m,
	                "(NIL NIL NIL NIL NIL ((NIL NIL \"a\" \"b.example\")) "
	                "NIL NIL NIL NIL)");
	/* No Content-Type: text/plain; charset=us-ascii (RFC 2045 5.2). */
	expect_body(m, true,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 3 1 NIL NIL NIL NIL)");
	mime_free(m);

	/* Present but empty is a string, absent is NIL. */
	m = parse("Subject:\r\n\r\n");
	expect_envelope(m, "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 0 0)");
	mime_free(m);
}

static void
empty_and_garbage(void **state)
{
	(void)state;
	struct mime_message *m = mime_parse(NULL, 0);
	assert_non_null(m);
	expect_envelope(m, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 0 0)");
	expect_section(m, "", "", "");
	expect_section(m, "", "HEADER", "");
	expect_section(m, "", "1", "");
	mime_free(m);

	/* No blank line: all header, empty body. */
	static const char junk[] = "\x01\x02 garbage ::: (((\r\nmore";
	m = parse(junk);
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 0 0)");
	expect_section(m, junk, "HEADER", junk);
	expect_section(m, junk, "TEXT", "");
	mime_free(m);

	/* A multipart without a boundary, and one whose boundary never
	 * occurs, are plain text. */
	static const char nobound[] = "Content-Type: multipart/mixed\r\n"
	                              "\r\n"
	                              "--x\r\n"
	                              "hi\r\n";
	m = parse(nobound);
	expect_body(m, true,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 9 2 NIL NIL NIL NIL)");
	mime_free(m);
	m = parse("Content-Type: multipart/mixed; boundary=zz\r\n"
	          "\r\n"
	          "--x\r\n"
	          "hi\r\n");
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 9 2)");
	mime_free(m);

	/* An invalid Content-Type is the default too, parameters and all. */
	m = parse("Content-Type: text; charset=utf-8\r\n\r\nx");
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 1 0)");
	mime_free(m);
}

static void
nested_multipart(void **state)
{
	(void)state;
	struct mime_message *m = parse(nested);
	expect_envelope(m, "(NIL \"nested\" "
	                   "((NIL NIL \"a\" \"example.com\")) "
	                   "((NIL NIL \"a\" \"example.com\")) "
	                   "((NIL NIL \"a\" \"example.com\")) "
	                   "NIL NIL NIL NIL NIL)");
	/* 1: "plain" (its CRLF belongs to the delimiter): 5 octets, 0 lines.
	 * 2.1: "<p>hi=3D</p>\r\n": 14 octets, 1 line, charset supplied.
	 * 2.2: "iVBORw0KGgo=": 12 octets, no line count (not text). */
	expect_body(m, false,
	            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	            "\"7BIT\" 5 0)"
	            "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"quoted-printable\" 14 1)"
	            "(\"image\" \"png\" (\"name\" \"a.png\") "
	            "\"<img1@example.com>\" NIL \"base64\" 12) \"mixed\") "
	            "\"alternative\")");
	expect_body(m, true,
	            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	            "\"7BIT\" 5 0 NIL NIL NIL NIL)"
	            "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"quoted-printable\" 14 1 NIL NIL NIL NIL)"
	            "(\"image\" \"png\" (\"name\" \"a.png\") "
	            "\"<img1@example.com>\" NIL \"base64\" 12 NIL "
	            "(\"attachment\" (\"filename\" \"a.png\")) (\"en\" \"de\") "
	            "\"http://example.com/a.png\") "
	            "\"mixed\" (\"boundary\" \"inner\") NIL NIL NIL) "
	            "\"alternative\" (\"boundary\" \"outer\") NIL NIL NIL)");

	expect_section(m, nested, "1", "plain");
	expect_section(m, nested, "1.MIME",
	               "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	expect_section(m, nested, "2", nested_inner_body);
	expect_section(m, nested, "2.MIME",
	               "Content-Type: multipart/mixed; boundary=inner\r\n\r\n");
	expect_section(m, nested, "2.1", "<p>hi=3D</p>\r\n");
	expect_section(m, nested, "2.1.mime",
	               "Content-Type: text/html\r\n"
	               "Content-Transfer-Encoding: quoted-printable\r\n"
	               "\r\n");
	expect_section(m, nested, "2.2", "iVBORw0KGgo=");
	expect_section(m, nested, "", nested);
	expect_section(m, nested, "3", NULL);
	expect_section(m, nested, "2.3", NULL);
	expect_section(m, nested, "1.1", NULL);
	expect_section(m, nested, "2.HEADER", NULL);
	expect_section(m, nested, "1.TEXT", NULL);
	mime_free(m);
}

static void
message_rfc822(void **state)
{
	(void)state;
	struct mime_message *m = parse(forwarded);
	/* A display name with a comma; a group with no members. */
	expect_envelope(m, "(NIL \"fwd\" "
	                   "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	                   "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	                   "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	                   "((NIL NIL \"undisclosed-recipients\" NIL)"
	                   "(NIL NIL NIL NIL)) "
	                   "NIL NIL NIL NIL)");
	/* 1: no header at all, "see attached": 12 octets, 0 lines.
	 * 2: the message inside, 226 octets, 14 lines; its parts
	 * "one\r\ntwo" (8, 1) and "<b>one</b>" (10, 0). */
	expect_body(m, false,
	            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 12 0)"
	            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 226 "
	            "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"inner\" "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "NIL NIL NIL NIL NIL) "
	            "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 8 1)"
	            "(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 10 0) \"alternative\") 14) \"mixed\")");
	expect_body(m, true,
	            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 12 0 NIL NIL NIL NIL)"
	            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 226 "
	            "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"inner\" "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "((NIL NIL \"inner\" \"example.org\")) "
	            "NIL NIL NIL NIL NIL) "
	            "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 8 1 NIL NIL NIL NIL)"
	            "(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 10 0 NIL NIL NIL NIL) \"alternative\" "
	            "(\"boundary\" \"b2\") NIL NIL NIL) 14 NIL NIL NIL NIL) "
	            "\"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)");

	expect_section(m, forwarded, "1", "see attached");
	expect_section(m, forwarded, "1.MIME", "\r\n");
	expect_section(m, forwarded, "2", forwarded_inner);
	expect_section(m, forwarded, "2.MIME",
	               "Content-Type: message/rfc822\r\n\r\n");
	expect_section(m, forwarded, "2.HEADER",
	               "From: inner@example.org\r\n"
	               "Subject: inner\r\n"
	               "Date: Tue, 1 Mar 2022 10:00:00 +0000\r\n"
	               "Content-Type: multipart/alternative; boundary=b2\r\n"
	               "\r\n");
	expect_section(m, forwarded, "2.TEXT",
	               "--b2\r\n"
	               "Content-Type: text/plain\r\n"
	               "\r\n"
	               "one\r\n"
	               "two\r\n"
	               "--b2\r\n"
	               "Content-Type: text/html\r\n"
	               "\r\n"
	               "<b>one</b>\r\n"
	               "--b2--");
	expect_section(m, forwarded, "2.1", "one\r\ntwo");
	expect_section(m, forwarded, "2.1.MIME",
	               "Content-Type: text/plain\r\n\r\n");
	expect_section(m, forwarded, "2.2", "<b>one</b>");
	expect_section(m, forwarded, "2.HEADER.FIELDS (SUBJECT)",
	               "Subject: inner\r\n\r\n");
	expect_section(m, forwarded, "2.HEADER.FIELDS.NOT (SUBJECT DATE)",
	               "From: inner@example.org\r\n"
	               "Content-Type: multipart/alternative; boundary=b2\r\n"
	               "\r\n");
	expect_section(m, forwarded, "2.3", NULL);
	expect_section(m, forwarded, "2.1.1", NULL);
	expect_section(m, forwarded, "1.HEADER", NULL);
	expect_section(m, forwarded, "2.1.HEADER", NULL);
	mime_free(m);
}

static void
encoded_words(void **state)
{
	(void)state;
	static const char text[] =
	        "Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=\r\n"
	        " =?ISO-8859-1?Q?caf=E9_ok?= tail\r\n"
	        "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n"
	        "\r\n";
	struct mime_message *m = parse(text);
	/* IMAP passes encoded words through (unfolded only). */
	expect_envelope(
	        m, "(NIL \"=?UTF-8?B?SGVsbG8gV8O2cmxk?= "
	           "=?ISO-8859-1?Q?caf=E9_ok?= tail\" "
	           "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.de\")) "
	           "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.de\")) "
	           "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.de\")) "
	           "NIL NIL NIL NIL NIL)");
	size_t len;
	const char *subj = mime_header(m, "subject", &len);
	assert_non_null(subj);
	assert_int_equal(len, strlen(subj));
	char *d = decode_words(subj);
	/* The space between the two words goes, the one before "tail"
	 * stays; Latin-1 e-acute becomes UTF-8. */
	assert_string_equal(d, "Hello W\xc3\xb6rld"
	                       "caf\xc3\xa9 ok tail");
	free(d);
	mime_free(m);

	d = decode_words("plain =?bogus text ?= =?utf-8?x?abc?= end");
	assert_string_equal(d, "plain =?bogus text ?= =?utf-8?x?abc?= end");
	free(d);
	/* A character split over two B words of one charset. */
	d = decode_words("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=");
	assert_string_equal(d, "\xc3\xa9\xc3\xa9");
	free(d);
	d = decode_words("=?UTF-8?B?ww==?=\r\n =?UTF-8?B?qQ==?=");
	assert_string_equal(d, "\xc3\xa9");
	free(d);
	/* RFC 2231 language suffix; a charset iconv knows. */
	d = decode_words("=?iso-8859-15*fr?q?=A4?=");
	assert_string_equal(d, "\xe2\x82\xac");
	free(d);
	/* Unknown charsets and junk in B words do not break it. */
	d = decode_words("=?x-unknown?q?a=41?= =?utf-8?b?!!!?=");
	assert_string_equal(d, "aA");
	free(d);
}

static void
eight_bit_headers(void **state)
{
	(void)state;
	static const char text[] = "Subject: Gr\xc3\xbc\xc3\x9f"
	                           "e\r\n"
	                           "From: J\xc3\xb6rg <j@example.de>\r\n"
	                           "\r\n"
	                           "x";
	struct mime_message *m = parse(text);
	/* 8-bit octets cannot be quoted: literals, octets counted. */
	expect_envelope(m, "(NIL {7}\r\nGr\xc3\xbc\xc3\x9f"
	                   "e "
	                   "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
	                   "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
	                   "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
	                   "NIL NIL NIL NIL NIL)");
	mime_free(m);
}

static void
huge_header_line(void **state)
{
	(void)state;
	const size_t big = 100 * 1024;
	struct buf t = BUF_INIT;
	buf_append_str(&t, "X-Big: ");
	for (size_t i = 0; i < big; i++)
		buf_append(&t, "a", 1);
	buf_append_str(&t, "\r\nSubject: ");
	for (size_t i = 0; i < big; i++)
		buf_append(&t, "s", 1);
	buf_append_str(&t, "\r\nFrom: after@example.com\r\n\r\nbody\r\n");
	char *text = take(&t);
	struct mime_message *m = parse(text);

	size_t len;
	const char *v = mime_header(m, "X-BIG", &len);
	assert_non_null(v);
	assert_int_equal(len, big);
	assert_int_equal(strspn(v, "a"), big);

	/* A 100 KiB subject is a literal; the field after it is read. */
	struct buf b = BUF_INIT;
	mime_write_envelope(&b, m);
	char *env = take(&b);
	char head[64];
	snprintf(head, sizeof(head), "(NIL {%zu}\r\n", big);
	assert_memory_equal(env, head, strlen(head));
	assert_int_equal(strspn(env + strlen(head), "s"), big);
	assert_string_equal(env + strlen(head) + big,
	                    " ((NIL NIL \"after\" \"example.com\")) "
	                    "((NIL NIL \"after\" \"example.com\")) "
	                    "((NIL NIL \"after\" \"example.com\")) "
	                    "NIL NIL NIL NIL NIL)");
	free(env);
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 6 1)");
	expect_section(m, text, "HEADER.FIELDS (FROM)",
	               "From: after@example.com\r\n\r\n");
	mime_free(m);
	free(text);
}

static void
group_addresses(void **state)
{
	(void)state;
	/* RFC 5322 A.1.3. */
	static const char text[] =
	        "From: Pete <pete@silly.example>\r\n"
	        "To: A Group:Ed Jones <c@a.test>,joe@where.test,John "
	        "<jdoe@one.test>;\r\n"
	        "Cc: Undisclosed recipients:;, Mary Smith <mary@x.test>\r\n"
	        "Bcc: Empty:; , Unclosed: u@v.test\r\n"
	        "\r\n";
	struct mime_message *m = parse(text);
	expect_envelope(m, "(NIL NIL "
	                   "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	                   "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	                   "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	                   "((NIL NIL \"A Group\" NIL)"
	                   "(\"Ed Jones\" NIL \"c\" \"a.test\")"
	                   "(NIL NIL \"joe\" \"where.test\")"
	                   "(\"John\" NIL \"jdoe\" \"one.test\")"
	                   "(NIL NIL NIL NIL)) "
	                   "((NIL NIL \"Undisclosed recipients\" NIL)"
	                   "(NIL NIL NIL NIL)"
	                   "(\"Mary Smith\" NIL \"mary\" \"x.test\")) "
	                   "((NIL NIL \"Empty\" NIL)(NIL NIL NIL NIL)"
	                   "(NIL NIL \"Unclosed\" NIL)"
	                   "(NIL NIL \"u\" \"v.test\")(NIL NIL NIL NIL)) "
	                   "NIL NIL)");
	mime_free(m);
}

static void
display_names(void **state)
{
	(void)state;
	/* RFC 5322 A.1.2 and A.5, with quoted-pairs and a route. */
	static const char text[] =
	        "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
	        "Sender:\r\n"
	        "Reply-To: \"Doe, Jane\" <jane@example.com>\r\n"
	        "To: Mary Smith <mary@x.test>, jdoe@example.org, \"Giant; "
	        "\\\"Big\\\" Box\" <sysservices@example.net>\r\n"
	        "Cc: Pete(A nice \\) chap) <pete(his account)@silly.test(his "
	        "host)>\r\n"
	        "Bcc: <@route1.test,@route2.test:user@host.test>,\r\n"
	        "\t(Ann) ann@x.test, bob@y.test (Bob B), root,\r\n"
	        " John Q. Public <\"john q\"@[192.0.2.1]>\r\n"
	        "In-Reply-To: <a@b>\r\n"
	        "Message-ID: <c@d>\r\n"
	        "\r\n";
	struct mime_message *m = parse(text);
	expect_envelope(
	        m,
	        "(NIL NIL "
	        "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	        "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	        "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	        "((\"Mary Smith\" NIL \"mary\" \"x.test\")"
	        "(NIL NIL \"jdoe\" \"example.org\")"
	        "(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" "
	        "\"example.net\")) "
	        "((\"Pete\" NIL \"pete\" \"silly.test\")) "
	        "((NIL \"@route1.test,@route2.test\" \"user\" \"host.test\")"
	        "(\"Ann\" NIL \"ann\" \"x.test\")"
	        "(\"Bob B\" NIL \"bob\" \"y.test\")"
	        "(NIL NIL \"root\" \".MISSING-HOST-NAME.\")"
	        "(\"John Q. Public\" NIL \"\\\"john q\\\"\" "
	        "\"[192.0.2.1]\")) "
	        "\"<a@b>\" \"<c@d>\")");
	mime_free(m);
}

static void
sections(void **state)
{
	(void)state;
	struct mime_message *m = parse(simple);
	static const char body[] =
	        "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
	expect_section(m, simple, "", simple);
	expect_section(m, simple, "HEADER", simple_header);
	expect_section(m, simple, "header", simple_header);
	expect_section(m, simple, "TEXT", body);
	/* A non-multipart message's body is part 1. */
	expect_section(m, simple, "1", body);
	expect_section(m, simple, "1.MIME", simple_header);
	expect_section(m, simple, "HEADER.FIELDS (FROM TO)",
	               "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
	               "To: mooch@owatagu.siam.edu.example\r\n"
	               "\r\n");
	expect_section(m, simple, "header.fields (\"to\" from)",
	               "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
	               "To: mooch@owatagu.siam.edu.example\r\n"
	               "\r\n");
	expect_section(m, simple, "HEADER.FIELDS (X-NONE)", "\r\n");
	expect_section(m, simple,
	               "HEADER.FIELDS.NOT (DATE FROM SUBJECT TO MESSAGE-ID "
	               "MIME-VERSION)",
	               "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n");
	static const char *const bad[] = {
	        "2",
	        "0",
	        "01",
	        "1.",
	        ".1",
	        "1..MIME",
	        "MIME",
	        "TEXTX",
	        "HEADER.",
	        "HEADER.FIELDS",
	        "HEADER.FIELDS ()",
	        "HEADER.FIELDS (FROM",
	        "HEADER.FIELDS (FROM) x",
	        "HEADER.FIELDS(FROM)",
	        "HEADER.FIELDS.NOTX (FROM)",
	        "1.HEADER",
	        "1.TEXT",
	        "1.2",
	        "99999999999",
	        "4294967297",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_section(m, simple, bad[i], NULL);
	mime_free(m);

	/* Fields keep their folding; a last field without a line end gets
	 * one, so the blank line still ends the section. */
	static const char folded[] = "Subject: a\r\n"
	                             "\tb\r\n"
	                             "X-A: 1\r\n"
	                             "x-a: 2\r\n"
	                             "To: t@example.com";
	m = parse(folded);
	expect_envelope(m,
	                "(NIL \"a\tb\" NIL NIL NIL "
	                "((NIL NIL \"t\" \"example.com\")) NIL NIL NIL NIL)");
	expect_section(m, folded, "HEADER.FIELDS (SUBJECT)",
	               "Subject: a\r\n\tb\r\n\r\n");
	expect_section(m, folded, "HEADER.FIELDS (X-A)",
	               "X-A: 1\r\nx-a: 2\r\n\r\n");
	expect_section(m, folded, "HEADER.FIELDS.NOT (X-A)",
	               "Subject: a\r\n\tb\r\nTo: t@example.com\r\n\r\n");
	expect_section(m, folded, "HEADER", folded);
	expect_section(m, folded, "TEXT", "");
	size_t len;
	assert_string_equal(mime_header(m, "x-a", &len), "1");
	assert_int_equal(len, 1);
	assert_null(mime_header(m, "X-B", NULL));
	mime_free(m);
}

static void
lf_only(void **state)
{
	(void)state;
	char *text = to_lf(nested);
	struct mime_message *m = parse(text);
	/* As nested, but 2.1 is "<p>hi=3D</p>\n": 13 octets. */
	expect_body(m, false,
	            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	            "\"7BIT\" 5 0)"
	            "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"quoted-printable\" 13 1)"
	            "(\"image\" \"png\" (\"name\" \"a.png\") "
	            "\"<img1@example.com>\" NIL \"base64\" 12) \"mixed\") "
	            "\"alternative\")");
	expect_section(m, text, "2.1", "<p>hi=3D</p>\n");
	expect_section(m, text, "2.1.MIME",
	               "Content-Type: text/html\n"
	               "Content-Transfer-Encoding: quoted-printable\n"
	               "\n");
	expect_section(m, text, "HEADER.FIELDS (SUBJECT)",
	               "Subject: nested\n\r\n");
	mime_free(m);
	free(text);

	text = to_lf(forwarded);
	m = parse(text);
	expect_section(m, text, "2.1", "one\ntwo");
	expect_section(m, text, "2.HEADER.FIELDS (FROM)",
	               "From: inner@example.org\n\r\n");
	mime_free(m);
	free(text);
}

static void
parameters(void **state)
{
	(void)state;
	/* Comments, quoted-pairs, an unquoted boundary with "=", RFC 2231
	 * left as it is, digest children default to message/rfc822. */
	static const char text[] =
	        "Content-Type: multipart/digest (comment);\r\n"
	        " boundary=----=_P_1; x=\"a\\\"b\"\r\n"
	        "Content-Disposition: inline;\r\n"
	        "  filename*=utf-8''%E2%82%AC.txt\r\n"
	        "\r\n"
	        "------=_P_1\r\n"
	        "\r\n"
	        "Subject: d1\r\n"
	        "\r\n"
	        "digest one\r\n"
	        "------=_P_1\r\n"
	        "Content-Type: text/plain\r\n"
	        "\r\n"
	        "two\r\n"
	        "------=_P_1--\r\n";
	struct mime_message *m = parse(text);
	expect_body(m, true,
	            "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 25 "
	            "(NIL \"d1\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 10 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)"
	            "(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 3 0 NIL NIL NIL NIL) \"digest\" "
	            "(\"boundary\" \"----=_P_1\" \"x\" \"a\\\"b\") "
	            "(\"inline\" (\"filename*\" \"utf-8''%E2%82%AC.txt\")) "
	            "NIL NIL)");
	expect_section(m, text, "1.HEADER", "Subject: d1\r\n\r\n");
	expect_section(m, text, "1.TEXT", "digest one");
	expect_section(m, text, "1.1", "digest one");
	mime_free(m);
}

static void
field_rules(void **state)
{
	(void)state;
	/* Only the first Content-Type counts, even an invalid one; field
	 * names may have white space before the colon (RFC 5322 4.5). */
	static const char text[] = "Subject : spaced\r\n"
	                           "Content-Type: bogus\r\n"
	                           "Content-Type: image/gif\r\n"
	                           "Content-Transfer-Encoding: (c) 8bit\r\n"
	                           "Content-Description: d \r\n"
	                           "\r\n"
	                           "a\r\nb";
	struct mime_message *m = parse(text);
	expect_envelope(m, "(NIL \"spaced\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	expect_body(m, false,
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL \"d\" "
	            "\"8bit\" 4 1)");
	mime_free(m);

	/* message/global is an encapsulated message too (RFC 9051); a
	 * digest child with an invalid Content-Type is text/plain. */
	static const char global[] =
	        "Content-Type: multipart/digest; boundary=d\r\n"
	        "\r\n"
	        "--d\r\n"
	        "Content-Type: message/global\r\n"
	        "\r\n"
	        "Subject: g\r\n"
	        "\r\n"
	        "x\r\n"
	        "--d\r\n"
	        "Content-Type: nonsense\r\n"
	        "\r\n"
	        "y\r\n"
	        "--d--\r\n";
	m = parse(global);
	expect_body(m, false,
	            "((\"message\" \"global\" NIL NIL NIL \"7BIT\" 15 "
	            "(NIL \"g\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 1 0) 2)"
	            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	            "\"7BIT\" 1 0) \"digest\")");
	expect_section(m, global, "1.HEADER.FIELDS (subject)",
	               "Subject: g\r\n\r\n");
	expect_section(m, global, "2.HEADER", NULL);
	mime_free(m);
}

static void
limits(void **state)
{
	(void)state;
	/* 40 nested multiparts: the deepest are described as text/plain,
	 * and the nesting of the output stays bounded. */
	struct buf t = BUF_INIT;
	for (int i = 0; i < 40; i++)
		buf_printf(&t,
		           "Content-Type: multipart/mixed; boundary=b%d\r\n"
		           "\r\n--b%d\r\n",
		           i, i);
	buf_append_str(&t, "\r\nleaf\r\n");
	char *text = take(&t);
	struct mime_message *m = parse(text);
	struct buf b = BUF_INIT;
	mime_write_bodystructure(&b, m, true);
	char *bs = take(&b);
	int depth = 0, max = 0;
	for (const char *p = bs; *p != '\0'; p++) {
		if (*p == '(')
			max = ++depth > max ? depth : max;
		else if (*p == ')')
			depth--;
	}
	assert_int_equal(depth, 0);
	assert_true(max <= MIME_DEPTH_MAX + 2);
	assert_non_null(strstr(bs, "\"TEXT\" \"PLAIN\""));
	free(bs);
	mime_free(m);
	free(text);

	/* More parts than MIME_PARTS_MAX: the rest are dropped. */
	buf_append_str(&t, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < MIME_PARTS_MAX + 50; i++)
		buf_append_str(&t, "--x\r\n\r\np\r\n");
	text = take(&t);
	m = parse(text);
	mime_write_bodystructure(&b, m, false);
	bs = take(&b);
	size_t parts = 0;
	for (const char *p = bs; (p = strstr(p, "\"PLAIN\"")) != NULL; p++)
		parts++;
	assert_int_equal(parts, MIME_PARTS_MAX - 1);
	free(bs);
	struct mime_section s;
	assert_true(mime_section(m, "9999", &s));
	assert_false(mime_section(m, "10000", &s));
	mime_free(m);
	free(text);
}

static void
body_text(void **state)
{
	(void)state;
	static const char text[] =
	        "Content-Type: multipart/mixed; boundary=z\r\n"
	        "\r\n"
	        "--z\r\n"
	        "Content-Type: text/plain; charset=iso-8859-1\r\n"
	        "Content-Transfer-Encoding: quoted-printable\r\n"
	        "\r\n"
	        "caf=E9 soft=\r\n"
	        "break =3D\r\n"
	        "--z\r\n"
	        "Content-Type: text/html; charset=utf-8\r\n"
	        "Content-Transfer-Encoding: base64\r\n"
	        "\r\n"
	        "PGI+w6k8L2I+\r\n"
	        "--z\r\n"
	        "Content-Type: application/octet-stream\r\n"
	        "\r\n"
	        "secret\r\n"
	        "--z--\r\n";
	struct mime_message *m = parse(text);
	struct buf b = BUF_INIT;
	assert_true(mime_body_text(m, (const uint8_t *)text, &b));
	char *got = take(&b);
	assert_string_equal(got, "caf\xc3\xa9 softbreak =\n<b>\xc3\xa9</b>");
	free(got);
	mime_free(m);
}

/* imaptest's fetch-binary-mime-qp: trailing white space on a line is
 * dropped (RFC 2045 6.7 rule 3), "=" then white space is a soft break. */
static void
binary_quoted_printable(void **state)
{
	(void)state;
	static const char text[] =
	        "Content-Type: multipart/mixed; boundary=\"foo\r\n"
	        " bar\"\r\n"
	        "\r\n"
	        "--foo bar\r\n"
	        "Content-Type: text/x-myown; charset=us-ascii\r\n"
	        "Content-Transfer-Encoding: quoted-printable\r\n"
	        "\r\n"
	        "hello  \r\n"
	        "bar=\r\n"
	        "\r\n"
	        "foo\t=\r\n"
	        "bar\r\n"
	        "foo\t \t= \r\n"
	        "=62\r\n"
	        "foo = \t\r\n"
	        "bar\r\n"
	        "foo =\r\n"
	        "=62\r\n"
	        "foo  \r\n"
	        "bar=\r\n"
	        "\r\n"
	        "foo_bar\r\n"
	        "\r\n"
	        "--foo bar--\r\n";
	static const char want[] = "hello\r\n"
	                           "bar\r\n"
	                           "foo\tbar\r\n"
	                           "foo\t \tb\r\n"
	                           "foo bar\r\n"
	                           "foo b\r\n"
	                           "foo\r\n"
	                           "bar\r\n"
	                           "foo_bar\r\n";
	struct mime_message *m = parse(text);
	struct buf b = BUF_INIT;
	assert_int_equal(mime_binary(m, "1", (const uint8_t *)text, &b),
	                 MIME_BINARY_OK);
	char *got = take(&b);
	assert_int_equal(strlen(got), 65);
	assert_string_equal(got, want);
	free(got);
	mime_free(m);

	/* white space at the very end of the part is trailing too */
	static const char tail[] = "Content-Transfer-Encoding: "
	                           "quoted-printable\r\n"
	                           "\r\n"
	                           "a \t";
	m = parse(tail);
	assert_int_equal(mime_binary(m, "1", (const uint8_t *)tail, &b),
	                 MIME_BINARY_OK);
	got = take(&b);
	assert_string_equal(got, "a");
	free(got);
	mime_free(m);
}

static bool
collect(void *arg, const uint8_t *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* A literal8 APPEND: parts in "binary" are stored as base64, the rest as
 * they are, and BINARY[] gives the octets back exactly. */
static void
binary_parts_to_base64(void **state)
{
	(void)state;
	static const uint8_t text[] =
	        "Content-Type: multipart/mixed; boundary=z\r\n"
	        "\r\n"
	        "--z\r\n"
	        "Content-Type: text/plain\r\n"
	        "\r\n"
	        "plain\r\n"
	        "--z\r\n"
	        "Content-Type: application/octet-stream\r\n"
	        "content-transfer-encoding:\r\n"
	        " BINARY\r\n"
	        "X-After: 1\r\n"
	        "\r\n"
	        "\0-\xe4\n\r\n\n\r\n"
	        "--z--\r\n";
	static const char want[] =
	        "Content-Type: multipart/mixed; boundary=z\r\n"
	        "\r\n"
	        "--z\r\n"
	        "Content-Type: text/plain\r\n"
	        "\r\n"
	        "plain\r\n"
	        "--z\r\n"
	        "Content-Type: application/octet-stream\r\n"
	        "Content-Transfer-Encoding: base64\r\n"
	        "X-After: 1\r\n"
	        "\r\n"
	        "AC3kCg0KCg==\r\n"
	        "--z--\r\n";
	size_t len = sizeof(text) - 1;
	struct mime_message *m = mime_parse(text, len);
	assert_non_null(m);
	assert_true(mime_has_binary_parts(m));
	struct buf b = BUF_INIT;
	assert_true(mime_binary_to_base64(m, text, len, collect, &b));
	mime_free(m);
	char *got = take(&b);
	assert_string_equal(got, want);

	m = parse(got);
	assert_false(mime_has_binary_parts(m));
	assert_int_equal(mime_binary(m, "2", (const uint8_t *)got, &b),
	                 MIME_BINARY_OK);
	assert_int_equal(buf_used(&b), 7);
	assert_memory_equal(buf_head(&b), "\0-\xe4\n\r\n\n", 7);
	buf_free(&b);
	mime_free(m);
	free(got);

	/* a one-part message: the body ends the message, lines of 76 */
	static const uint8_t one[] = "Content-Transfer-Encoding: binary\n"
	                             "\n"
	                             "0123456789012345678901234567890123456789"
	                             "0123456789012345678\0";
	len = sizeof(one) - 1;
	m = mime_parse(one, len);
	assert_true(mime_binary_to_base64(m, one, len, collect, &b));
	mime_free(m);
	got = take(&b);
	assert_string_equal(got,
	                    "Content-Transfer-Encoding: base64\r\n"
	                    "\n"
	                    "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1"
	                    "Njc4OTAxMjM0NTY3ODkwMTIzNDU2\r\n"
	                    "NzgA\r\n");
	free(got);

	/* no binary part: nothing to rewrite */
	m = parse("Content-Transfer-Encoding: 8bit\r\n\r\n\xe4\r\n");
	assert_false(mime_has_binary_parts(m));
	mime_free(m);
}

static void
expect_address_text(const char *value, const char *want)
{
	struct buf b = BUF_INIT;
	mime_address_text(value, strlen(value), &b);
	char *got = take(&b);
	assert_string_equal(got, want);
	free(got);
}

/* What SEARCH FROM/TO/CC/BCC match: imaptest's search-addresses headers. */
static void
address_text(void **state)
{
	(void)state;
	expect_address_text("user-from@domain.org", "user-from@domain.org");
	expect_address_text("RealFrom <user-from@domain.org>",
	                    "RealFrom <user-from@domain.org>");
	/* comments go, but one stands in for the missing name, as in
	 * ENVELOPE */
	expect_address_text("<user-from (comment)@ (comment) domain.org>",
	                    "comment <user-from@domain.org>");
	expect_address_text("user-from@domain.org (RealFrom)",
	                    "RealFrom <user-from@domain.org>");
	expect_address_text("user-from1@domain.org, user-from2@domain.org",
	                    "user-from1@domain.org, user-from2@domain.org");
	expect_address_text("groupname: groupuser1@domain.org, "
	                    "groupuser2@domain.org;,\r\n"
	                    "  groupname2: groupuser3@domain.org;",
	                    "groupname: groupuser1@domain.org, "
	                    "groupuser2@domain.org;, groupname2: "
	                    "groupuser3@domain.org;");
	expect_address_text("groupname:;", "groupname: ;");
	expect_address_text("\"Ann \\\"A\\\" B\" <ann@example.org>",
	                    "Ann \"A\" B <ann@example.org>");
	expect_address_text("", "");
}

/* body-fld-md5 is the Content-MD5 field's value, as Dovecot answers;
 * parameters keep the message's order, RFC 2231 ones included. */
static void
bodystructure_md5_and_parameter_order(void **state)
{
	(void)state;
	struct mime_message *m =
	        parse("Content-Type: multipart/mixed; boundary=z\r\n"
	              "\r\n"
	              "--z\r\n"
	              "Content-Type: text/plain; charset=us-ascii\r\n"
	              "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ== \r\n"
	              "\r\n"
	              "hello\r\n"
	              "--z\r\n"
	              "Content-Type: application/pdf\r\n"
	              "Content-Disposition: attachment; size=1234;\r\n"
	              " filename*=UTF-8''%C3%A4.pdf; creation-date=\"x\"\r\n"
	              "Content-MD5: abc=\r\n"
	              "Content-MD5: ignored\r\n"
	              "\r\n"
	              "AAAA\r\n"
	              "--z--\r\n");
	expect_body(m, true,
	            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	            "\"7BIT\" 5 0 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL NIL NIL)"
	            "(\"application\" \"pdf\" NIL NIL NIL \"7BIT\" 4 \"abc=\" "
	            "(\"attachment\" (\"size\" \"1234\" \"filename*\" "
	            "\"UTF-8''%C3%A4.pdf\" \"creation-date\" \"x\")) NIL NIL) "
	            "\"mixed\" (\"boundary\" \"z\") NIL NIL NIL)");
	/* BODY has no extension data: no MD5 */
	expect_body(
	        m, false,
	        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	        "\"7BIT\" 5 0)(\"application\" \"pdf\" NIL NIL NIL \"7BIT\" "
	        "4) \"mixed\")");
	mime_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(simple_text),
	        cmocka_unit_test(missing_headers),
	        cmocka_unit_test(empty_and_garbage),
	        cmocka_unit_test(nested_multipart),
	        cmocka_unit_test(message_rfc822),
	        cmocka_unit_test(encoded_words),
	        cmocka_unit_test(eight_bit_headers),
	        cmocka_unit_test(huge_header_line),
	        cmocka_unit_test(group_addresses),
	        cmocka_unit_test(display_names),
	        cmocka_unit_test(sections),
	        cmocka_unit_test(lf_only),
	        cmocka_unit_test(parameters),
	        cmocka_unit_test(field_rules),
	        cmocka_unit_test(limits),
	        cmocka_unit_test(body_text),
	        cmocka_unit_test(binary_quoted_printable),
	        cmocka_unit_test(binary_parts_to_base64),
	        cmocka_unit_test(address_text),
	        cmocka_unit_test(bodystructure_md5_and_parameter_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
