/*
 * The session with debug logging on (log_level = debug), which takes code
 * paths the other session tests do not: the ID command logs what the client
 * says it is. Kept apart from test-session so that a memory error here (run
 * under the sanitizers) cannot take the other tests down with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "imap/session.h"
#include "lib/buf.h"
#include "lib/log.h"

#define ID_REPLY "* ID (\"name\" \"imapcid\" \"version\" \"0.1.0\")\r\n"

static char *
run(const char *input)
{
	struct imap_session_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.clientid = true;
	cfg.preauth = (struct imap_limits){4096, 4096, 4, 8192};
	cfg.postauth = (struct imap_limits){65536, 65536, 32, 2 * 1024 * 1024};
	cfg.bad_max_preauth = 3;
	cfg.version = "0.1.0";
	struct imap_session *s = imap_session_new(&cfg, true);
	assert_non_null(s);
	struct buf in = BUF_INIT, out = BUF_INIT;
	buf_append_str(&in, input);
	assert_int_equal(imap_session_input(s, &in, &out), IMAP_ACTION_NONE);
	buf_append(&out, "", 1);
	char *res = strdup((const char *)buf_head(&out));
	buf_free(&in);
	buf_free(&out);
	imap_session_free(s);
	return res;
}

static void
id_logged(void **state)
{
	(void)state;
	char *out = run("a ID (\"name\" \"Thunderbird\" \"version\" "
	                "\"153.8.0\")\r\n");
	assert_string_equal(out, ID_REPLY "a OK ID completed.\r\n");
	free(out);
}

static void
id_log_line_full(void **state)
{
	(void)state;
	/*
	 * BUG (see report): imap_id_log() in cmd-any.c adds snprintf()'s
	 * would-be length to its offset; a first value that leaves the
	 * 512-byte line at 507 and a 30-octet second field push the offset to
	 * 539 and "line[o] = '\0'" writes past the array (stack overflow,
	 * caught by AddressSanitizer; the plain build may not notice).
	 */
	char line[1024];
	char value[506], field[31];
	memset(value, 'v', 505);
	value[505] = '\0';
	memset(field, 'f', 30);
	field[30] = '\0';
	snprintf(line, sizeof(line), "a ID (\"a\" \"%s\" \"%s\" NIL)\r\n",
	         value, field);
	char *out = run(line);
	assert_string_equal(out, ID_REPLY "a OK ID completed.\r\n");
	free(out);

	/* The same around the edge, every offset near the end. */
	for (size_t len = 480; len <= 505; len++) {
		memset(value, 'v', len);
		value[len] = '\0';
		snprintf(line, sizeof(line),
		         "b ID (\"a\" \"%s\" \"%s\" \"x\" \"%s\" NIL)\r\n",
		         value, field, field);
		out = run(line);
		assert_string_equal(out, ID_REPLY "b OK ID completed.\r\n");
		free(out);
	}
}

static int
setup(void **state)
{
	(void)state;
	/* Debug on, but the lines go to a syslog that drops them all. */
	log_setup("test-session-log", true, LOG_MAIL, LOG_LEVEL_DEBUG);
	setlogmask(LOG_MASK(LOG_EMERG));
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(id_logged),
	        cmocka_unit_test(id_log_line_full),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
