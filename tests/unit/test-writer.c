/* Response formatting: tagged, untagged, strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/writer.h"
#include "lib/buf.h"

static char text[8192];

/* The buffer's contents as a string; empties the buffer. */
static const char *
take(struct buf *b)
{
	size_t n = buf_used(b);
	assert_true(n < sizeof(text));
	if (n > 0)
		memcpy(text, buf_head(b), n);
	text[n] = '\0';
	buf_free(b);
	return text;
}

static void
tagged(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_tagged(&b, "a1", "OK", NULL, "NOOP completed.");
	assert_string_equal(take(&b), "a1 OK NOOP completed.\r\n");
	imap_write_tagged(&b, "x", "NO", "AUTHENTICATIONFAILED",
	                  "Authentication failed.");
	assert_string_equal(take(&b),
	                    "x NO [AUTHENTICATIONFAILED] Authentication "
	                    "failed.\r\n");
	/* A percent sign in any part is text, not a format. */
	imap_write_tagged(&b, "%s", "BAD", "%n", "100% sure %s.");
	assert_string_equal(take(&b), "%s BAD [%n] 100% sure %s.\r\n");
}

static void
untagged(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_untagged(&b, "BYE Logging out.");
	assert_string_equal(take(&b), "* BYE Logging out.\r\n");
	imap_write_untagged(&b, "BAD %s%s%n");
	assert_string_equal(take(&b), "* BAD %s%s%n\r\n");
}

static void
appends(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_untagged(&b, "OK one");
	imap_write_tagged(&b, "t", "OK", NULL, "two");
	assert_string_equal(take(&b), "* OK one\r\nt OK two\r\n");
	assert_null(b.data);
}

static void
string_quoted(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_string(&b, "imapcid", 7);
	assert_string_equal(take(&b), "\"imapcid\"");
	imap_write_string(&b, "", 0);
	assert_string_equal(take(&b), "\"\"");
	imap_write_string(&b, "a\"b\\c", 5);
	assert_string_equal(take(&b), "\"a\\\"b\\\\c\"");
	/* Only len bytes count. */
	imap_write_string(&b, "abcdef", 3);
	assert_string_equal(take(&b), "\"abc\"");
}

static void
string_literal(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_string(&b, "a\r\nb", 4);
	assert_string_equal(take(&b), "{4}\r\na\r\nb");
	imap_write_string(&b, "a\rb", 3);
	assert_string_equal(take(&b), "{3}\r\na\rb");
	imap_write_string(&b, "caf\xc3\xa9", 5);
	assert_string_equal(take(&b), "{5}\r\ncaf\xc3\xa9");

	imap_write_string(&b, "a\0b", 3);
	assert_int_equal(buf_used(&b), 8);
	assert_memory_equal(buf_head(&b), "{3}\r\na\0b", 8);
	buf_free(&b);
}

static void
string_long(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	char s[1025];
	memset(s, 'x', sizeof(s));
	imap_write_string(&b, s, 1024);
	assert_int_equal(buf_used(&b), 1026);
	assert_int_equal(buf_head(&b)[0], '"');
	assert_int_equal(buf_head(&b)[1025], '"');
	buf_free(&b);
	imap_write_string(&b, s, 1025);
	assert_int_equal(buf_used(&b), strlen("{1025}\r\n") + 1025);
	assert_memory_equal(buf_head(&b), "{1025}\r\nxxx", 11);
	buf_free(&b);
}

static void
nstring(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	imap_write_nstring(&b, NULL);
	assert_string_equal(take(&b), "NIL");
	imap_write_nstring(&b, "NIL");
	assert_string_equal(take(&b), "\"NIL\"");
	imap_write_nstring(&b, "");
	assert_string_equal(take(&b), "\"\"");
	imap_write_nstring(&b, "x\ny");
	assert_string_equal(take(&b), "{3}\r\nx\ny");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tagged),
	        cmocka_unit_test(untagged),
	        cmocka_unit_test(appends),
	        cmocka_unit_test(string_quoted),
	        cmocka_unit_test(string_literal),
	        cmocka_unit_test(string_long),
	        cmocka_unit_test(nstring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
