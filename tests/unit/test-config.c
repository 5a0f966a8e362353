/* The configuration: defaults, file, -o overrides, values and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

struct t {
	char path[64];
	char errs[8192];
	struct config *cfg;
};

static int
t_setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	*state = t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t *t = *state;
	config_free(t->cfg);
	if (t->path[0] != '\0')
		unlink(t->path);
	free(t);
	return 0;
}

/* Writes a configuration file under /tmp. */
static void
t_file(struct t *t, const char *text)
{
	strcpy(t->path, "/tmp/imapcid-test-config-XXXXXX");
	int fd = mkstemp(t->path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* Loads; the error output lands in t->errs. */
static struct config *
t_load(struct t *t, bool with_file, char *const *ov, size_t nov)
{
	FILE *errf = tmpfile();
	assert_non_null(errf);
	config_free(t->cfg);
	t->cfg = config_load(with_file ? t->path : NULL, ov, nov, errf);
	rewind(errf);
	size_t n = fread(t->errs, 1, sizeof(t->errs) - 1, errf);
	t->errs[n] = '\0';
	fclose(errf);
	return t->cfg;
}

/* Loads a one-setting override; returns the error text or "" if fine. */
static const char *
t_try(struct t *t, const char *kv)
{
	char *ov[] = {(char *)kv};
	t_load(t, false, ov, 1);
	if (t->cfg != NULL)
		assert_string_equal(t->errs, "");
	else
		assert_string_not_equal(t->errs, "");
	return t->errs;
}

static void
defaults(void **state)
{
	struct t *t = *state;
	struct config *c = t_load(t, false, NULL, 0);
	assert_non_null(c);
	assert_string_equal(t->errs, "");
	assert_null(c->path);
	assert_string_equal(c->dir, ".");
	assert_string_equal(c->listen_imap, "127.0.0.1:143");
	assert_string_equal(c->listen_imaps, "127.0.0.1:993");
	assert_string_equal(c->tls_cert, "cert.pem");
	assert_string_equal(c->tls_key, "key.pem");
	assert_string_equal(c->tls_min_version, "1.2");
	assert_string_equal(c->passdb_file, "passwd");
	assert_string_equal(c->default_pass_scheme, "ARGON2ID");
	assert_string_equal(c->mail_dir, "mail");
	assert_string_equal(c->state_dir, "state");
	assert_true(c->clientid);
	assert_false(c->login_plaintext);
	assert_int_equal(c->auth_failure_delay, 2000);
	assert_int_equal(c->io_threads, 0);
	assert_int_equal(c->auth_workers, 0);
	assert_string_equal(c->log, "stderr");
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->max_connections, 10000);
	assert_int_equal(c->max_connections_per_ip, 1000);
	assert_int_equal(c->limit_line_preauth, 4096);
	assert_int_equal(c->limit_line, 65536);
	assert_int_equal(c->limit_literal_preauth, 4096);
	assert_int_equal(c->limit_literal, 64 * 1024 * 1024);
	assert_int_equal(c->limit_nesting_preauth, 4);
	assert_int_equal(c->limit_nesting, 32);
	assert_int_equal(c->limit_bad_commands_preauth, 3);
	assert_int_equal(c->timeout_preauth, 60000);
	assert_int_equal(c->timeout_auth, 30 * 60 * 1000);
	assert_int_equal(c->shutdown_timeout, 10000);
	assert_string_equal(c->user, "");
}

static void
file_parsing(void **state)
{
	struct t *t = *state;
	t_file(t, "# a comment\n"
	          "\n"
	          "listen_imap = 0.0.0.0:1143, [::1]:1143\n"
	          "   listen_imaps=127.0.0.1:0   \n"
	          "\t# indented comment\n"
	          "clientid = no\n"
	          "login_plaintext=yes\n"
	          "passdb_file = users/passwd\n"
	          "tls_cert = /etc/ssl/cert.pem\n"
	          "tls_min_version = 1.3\n"
	          "log_level = DEBUG\n"
	          "user = imapcid\n"
	          "auth_failure_delay = 0\n"
	          "max_connections = 5\n"
	          "mail_dir =\n"
	          "state_dir = st");
	struct config *c = t_load(t, true, NULL, 0);
	assert_string_equal(t->errs, "");
	assert_non_null(c);
	assert_string_equal(c->path, t->path);
	assert_string_equal(c->dir, "/tmp");
	assert_string_equal(c->listen_imap, "0.0.0.0:1143, [::1]:1143");
	assert_string_equal(c->listen_imaps, "127.0.0.1:0");
	assert_false(c->clientid);
	assert_true(c->login_plaintext);
	assert_string_equal(c->tls_min_version, "1.3");
	assert_string_equal(c->log_level, "debug"); /* canonical spelling */
	assert_string_equal(c->user, "imapcid");
	assert_int_equal(c->auth_failure_delay, 0);
	assert_int_equal(c->max_connections, 5);
	assert_string_equal(c->mail_dir, "");
	assert_string_equal(c->state_dir, "st");
	/* Untouched keys keep their defaults. */
	assert_int_equal(c->limit_line, 65536);

	/* Relative paths are taken from the file's directory. */
	char *p = config_path(c, c->passdb_file);
	assert_string_equal(p, "/tmp/users/passwd");
	free(p);
	p = config_path(c, c->tls_cert);
	assert_string_equal(p, "/etc/ssl/cert.pem");
	free(p);
}

static void
file_errors_reported_with_line(void **state)
{
	struct t *t = *state;
	t_file(t, "# ok\n"
	          "clientid = yes\n"
	          "nosuch_key = 1\n"
	          "\n"
	          "clientid = maybe\n"
	          "io_threads = 4\n");
	assert_null(t_load(t, true, NULL, 0));
	char expect[512];
	snprintf(expect, sizeof(expect),
	         "%s:3: nosuch_key: unknown key\n"
	         "%s:5: clientid: expected yes or no: \"maybe\"\n",
	         t->path, t->path);
	assert_string_equal(t->errs, expect);
}

static void
file_errors_formats(void **state)
{
	struct t *t = *state;
	t_file(t, "this line has no equals sign\n"
	          "limit_line = 1k\n"
	          "limit_line = 100\n"
	          "tls_min_version = 1.1\n");
	assert_null(t_load(t, true, NULL, 0));
	char expect[512];
	snprintf(expect, sizeof(expect),
	         "%s:1: expected \"key = value\"\n"
	         "%s:3: limit_line: out of range: \"100\"\n"
	         "%s:4: tls_min_version: not one of the allowed values: "
	         "\"1.1\"\n",
	         t->path, t->path, t->path);
	assert_string_equal(t->errs, expect);
}

static void
file_missing(void **state)
{
	struct t *t = *state;
	strcpy(t->path, "/tmp/imapcid-test-config-does-not-exist");
	assert_null(t_load(t, true, NULL, 0));
	assert_string_equal(t->errs, "/tmp/imapcid-test-config-does-not-exist: "
	                             "No such file or directory\n");
	t->path[0] = '\0';
}

static void
file_line_too_long(void **state)
{
	struct t *t = *state;
	char *text = malloc(10000);
	assert_non_null(text);
	strcpy(text, "user = ");
	memset(text + 7, 'u', 9000);
	strcpy(text + 9007, "\nclientid = no\n");
	t_file(t, text);
	free(text);
	assert_null(t_load(t, true, NULL, 0));
	char expect[256];
	snprintf(expect, sizeof(expect), "%s:1: line too long\n", t->path);
	assert_string_equal(t->errs, expect);
}

static void
overrides(void **state)
{
	struct t *t = *state;
	t_file(t, "clientid = no\nlimit_line = 128k\n");
	char *ov[] = {"clientid=yes", "limit_bad_commands_preauth = 7",
	              "user=mail"};
	struct config *c = t_load(t, true, ov, 3);
	assert_non_null(c);
	assert_true(c->clientid); /* -o wins over the file */
	assert_int_equal(c->limit_line, 128 * 1024);
	assert_int_equal(c->limit_bad_commands_preauth, 7);
	assert_string_equal(c->user, "mail");

	/* Override errors say where they came from. */
	char *bad[] = {"clientid=perhaps", "nokey=1", "noequals"};
	assert_null(t_load(t, true, bad, 3));
	assert_string_equal(t->errs,
	                    "-o: clientid: expected yes or no: \"perhaps\"\n"
	                    "-o: nokey: unknown key\n"
	                    "-o: expected \"key = value\"\n");
	/* The caller's strings are not modified. */
	assert_string_equal(bad[0], "clientid=perhaps");
}

static void
booleans(void **state)
{
	struct t *t = *state;
	static const char *const yes[] = {"yes", "YES", "true", "on", "1"};
	static const char *const no[] = {"no", "False", "off", "0"};
	char kv[64];
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		snprintf(kv, sizeof(kv), "login_plaintext=%s", yes[i]);
		assert_string_equal(t_try(t, kv), "");
		assert_true(t->cfg->login_plaintext);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		snprintf(kv, sizeof(kv), "clientid=%s", no[i]);
		assert_string_equal(t_try(t, kv), "");
		assert_false(t->cfg->clientid);
	}
	assert_string_equal(t_try(t, "clientid=2"),
	                    "-o: clientid: expected yes or no: \"2\"\n");
	assert_string_equal(t_try(t, "clientid="),
	                    "-o: clientid: expected yes or no: \"\"\n");
}

static void
sizes(void **state)
{
	struct t *t = *state;
	assert_string_equal(t_try(t, "limit_line=4k"), "");
	assert_int_equal(t->cfg->limit_line, 4096);
	assert_string_equal(t_try(t, "limit_line=4K"), "");
	assert_int_equal(t->cfg->limit_line, 4096);
	assert_string_equal(t_try(t, "limit_line=2M"), "");
	assert_int_equal(t->cfg->limit_line, 2 * 1024 * 1024);
	assert_string_equal(t_try(t, "limit_line=1024"), "");
	assert_int_equal(t->cfg->limit_line, 1024);
	assert_string_equal(t_try(t, "limit_literal=1G"), "");
	assert_int_equal(t->cfg->limit_literal, 1024ull * 1024 * 1024);
	assert_string_equal(t_try(t, "limit_literal_preauth=0"), "");
	assert_int_equal(t->cfg->limit_literal_preauth, 0);
	assert_string_equal(t_try(t, "limit_line_preauth = 64k"), "");
	assert_int_equal(t->cfg->limit_line_preauth, 65536);
}

static void
sizes_invalid(void **state)
{
	struct t *t = *state;
	const char *msg = "expected a size (bytes, or with k, M, G)";
	char expect[128];
	static const char *const bad[] = {
	        "1.5k", "k", "-1",   "4kb",
	        "4 x",  "",  "0x10", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char kv[64];
		snprintf(kv, sizeof(kv), "limit_line=%s", bad[i]);
		snprintf(expect, sizeof(expect), "-o: limit_line: %s: \"%s\"\n",
		         msg, bad[i]);
		assert_string_equal(t_try(t, kv), expect);
	}
	/* Overflow through the suffix. */
	assert_string_not_equal(t_try(t, "limit_literal=18446744073709551615k"),
	                        "");
	assert_null(t->cfg);
}

static void
durations(void **state)
{
	struct t *t = *state;
	assert_string_equal(t_try(t, "timeout_preauth=90"), "");
	assert_int_equal(t->cfg->timeout_preauth, 90000); /* seconds */
	assert_string_equal(t_try(t, "timeout_preauth=90s"), "");
	assert_int_equal(t->cfg->timeout_preauth, 90000);
	assert_string_equal(t_try(t, "timeout_preauth=1500ms"), "");
	assert_int_equal(t->cfg->timeout_preauth, 1500);
	assert_string_equal(t_try(t, "timeout_preauth=2m"), "");
	assert_int_equal(t->cfg->timeout_preauth, 120000);
	assert_string_equal(t_try(t, "timeout_auth=2h"), "");
	assert_int_equal(t->cfg->timeout_auth, 2 * 3600 * 1000);
	assert_string_equal(t_try(t, "auth_failure_delay=0"), "");
	assert_int_equal(t->cfg->auth_failure_delay, 0);
	assert_string_equal(t_try(t, "shutdown_timeout=250ms"), "");
	assert_int_equal(t->cfg->shutdown_timeout, 250);
	/* days, for retention */
	assert_string_equal(t_try(t, "registry_audit_retention=90d"), "");
	assert_int_equal(t->cfg->registry_audit_retention,
	                 90ull * 24 * 3600 * 1000);
	assert_string_equal(t_try(t, "timeout_preauth=1d"),
	                    "-o: timeout_preauth: out of range: \"1d\"\n");
	assert_string_equal(
	        t_try(t, "timeout_preauth=1w"),
	        "-o: timeout_preauth: expected a duration (seconds, or with "
	        "ms, s, m, h, d): \"1w\"\n");
	assert_string_not_equal(t_try(t, "timeout_preauth=1.5s"), "");
}

static void
out_of_range(void **state)
{
	struct t *t = *state;
	static const char *const bad[] = {
	        "io_threads=65",
	        "auth_workers=257",
	        "max_connections=0",
	        "max_connections=1000001",
	        "limit_nesting_preauth=0",
	        "limit_nesting_preauth=17",
	        "limit_nesting=257",
	        "limit_line_preauth=255",
	        "limit_line_preauth=65537",
	        "limit_line=16385k",
	        "limit_literal=1025M",
	        "limit_bad_commands_preauth=0",
	        "timeout_preauth=999ms",
	        "timeout_auth=25h",
	        "auth_failure_delay=61s",
	        "shutdown_timeout=2h",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *err = t_try(t, bad[i]);
		if (t->cfg != NULL)
			fail_msg("%s accepted", bad[i]);
		if (strstr(err, ": out of range: \"") == NULL)
			fail_msg("%s: %s", bad[i], err);
	}
	/* And the bounds themselves are in range. */
	static const char *const good[] = {
	        "io_threads=64",           "auth_workers=256",
	        "max_connections=1",       "max_connections=1000000",
	        "limit_nesting_preauth=1", "limit_nesting_preauth=16",
	        "limit_line_preauth=256",  "limit_line_preauth=64k",
	        "limit_line=16M",          "limit_literal=1024M",
	        "timeout_preauth=1s",      "timeout_auth=24h",
	        "auth_failure_delay=60s",  "shutdown_timeout=1h",
	        "shutdown_timeout=0",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		if (strcmp(t_try(t, good[i]), "") != 0)
			fail_msg("%s refused: %s", good[i], t->errs);
}

static void
choices(void **state)
{
	struct t *t = *state;
	assert_string_equal(t_try(t, "default_pass_scheme=sha512-crypt"), "");
	assert_string_equal(t->cfg->default_pass_scheme, "SHA512-CRYPT");
	assert_string_equal(t_try(t, "log=SYSLOG"), "");
	assert_string_equal(t->cfg->log, "syslog");
	assert_string_equal(
	        t_try(t, "default_pass_scheme=MD5"),
	        "-o: default_pass_scheme: not one of the allowed values: "
	        "\"MD5\"\n");
	assert_string_not_equal(t_try(t, "log=file"), "");
	assert_string_not_equal(t_try(t, "log_level=trace"), "");
}

static void
dump(void **state)
{
	struct t *t = *state;
	char *ov[] = {"clientid=no"};
	struct config *c = t_load(t, false, ov, 1);
	assert_non_null(c);
	char text[8192];
	FILE *f = tmpfile();
	assert_non_null(f);
	config_dump(c, f);
	rewind(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "listen_imap = 127.0.0.1:143\n"));
	assert_non_null(strstr(text, "\nclientid = no\n"));
	assert_non_null(strstr(text, "\ntimeout_preauth = 60000ms\n"));
	assert_non_null(strstr(text, "\nlimit_line = 65536\n"));
	assert_non_null(strstr(text, "\nuser = \n"));
	/* One line per key, starting with the first in the table. */
	assert_true(strncmp(text, "listen_imap = ", 14) == 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(defaults),
	        T(file_parsing),
	        T(file_errors_reported_with_line),
	        T(file_errors_formats),
	        T(file_missing),
	        T(file_line_too_long),
	        T(overrides),
	        T(booleans),
	        T(sizes),
	        T(sizes_invalid),
	        T(durations),
	        T(out_of_range),
	        T(choices),
	        T(dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
