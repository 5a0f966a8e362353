/*
 * The IMAP session state machine, driven with plain buffers: no sockets, no
 * TLS, no threads. Rules from spec/CLIENTID.md are named by id (CID-*);
 * response texts are those of docs/CONFIGURATION.md and imapcidd(8).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "imap/session.h"
#include "lib/buf.h"

#define CAPS_BASE   "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE"
#define CAPS_TLS    CAPS_BASE " AUTH=PLAIN CLIENTID"
#define CAPS_AUTH   CAPS_BASE
#define AUTH_FAILED "NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
#define LOGGED_IN   "OK [CAPABILITY " CAPS_AUTH "] Logged in.\r\n"
#define NO_PLAINTEXT                                                           \
	"NO [PRIVACYREQUIRED] Plaintext authentication is not allowed "        \
	"without TLS.\r\n"
#define ID_REPLY "* ID (\"name\" \"imapcid\" \"version\" \"0.1.0\")\r\n"
#define UUID1    "23bf83be-aad7-46aa-9e0f-39191ccf402f"
#define UUID2    "3c2e9e6a-5b1f-4d8e-9f2a-7c1b0d4e6f81"
/* base64("\0joe\0secret") */
#define PLAIN_JOE "AGpvZQBzZWNyZXQ="

#define OUT_MAX (512 * 1024)

struct t {
	struct imap_session_config cfg;
	struct imap_session *s;
	struct buf in, out;
	char text[OUT_MAX];
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
	imap_session_free(t->s);
	buf_free(&t->in);
	buf_free(&t->out);
	free(t);
	return 0;
}

static void
cfg_init(struct imap_session_config *cfg, bool starttls, bool clientid,
         bool plaintext)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->starttls = starttls;
	cfg->clientid = clientid;
	cfg->login_plaintext = plaintext;
	cfg->preauth = (struct imap_limits){4096, 4096, 4, 8192};
	cfg->postauth = (struct imap_limits){65536, 65536, 32, 2 * 1024 * 1024};
	cfg->bad_max_preauth = 3;
	cfg->version = "0.1.0";
}

/* A session without its greeting (the output starts empty). */
static void
t_open(struct t *t, bool starttls, bool clientid, bool plaintext, bool tls)
{
	cfg_init(&t->cfg, starttls, clientid, plaintext);
	t->s = imap_session_new(&t->cfg, tls);
	assert_non_null(t->s);
}

/* The usual connections: plain STARTTLS port, or implicit TLS. */
static struct t *
t_plain(void **state)
{
	struct t *t = *state;
	t_open(t, true, true, false, false);
	return t;
}

static struct t *
t_tls(void **state)
{
	struct t *t = *state;
	t_open(t, false, true, false, true);
	return t;
}

static enum imap_action
t_send_n(struct t *t, const void *p, size_t n)
{
	assert_true(buf_append(&t->in, p, n));
	return imap_session_input(t->s, &t->in, &t->out);
}

static enum imap_action
t_send(struct t *t, const char *s)
{
	return t_send_n(t, s, strlen(s));
}

/* Everything written since the last call, as a string. */
static const char *
t_out(struct t *t)
{
	size_t n = buf_used(&t->out);
	assert_true(n < sizeof(t->text));
	if (n > 0)
		memcpy(t->text, buf_head(&t->out), n);
	t->text[n] = '\0';
	buf_free(&t->out);
	return t->text;
}

static void
t_expect(struct t *t, const char *expect)
{
	assert_string_equal(t_out(t), expect);
}

static void
t_auth_done(struct t *t, bool ok)
{
	struct auth_result r = {.ok = ok,
	                        .reason = ok ? "test ok" : "test refusal"};
	imap_session_auth_done(t->s, &r, &t->out);
	assert_null(imap_session_auth_request(t->s));
}

/* Sends a command, expects exactly `expect` and IMAP_ACTION_NONE. A mail
 * command (IMAP_ACTION_MAIL) is run as a worker would run it. */
static void
t_cmd(struct t *t, const char *line, const char *expect)
{
	enum imap_action act = t_send(t, line);
	if (act == IMAP_ACTION_MAIL) {
		imap_session_mail_run(t->s, &t->out);
		act = imap_session_mail_done(t->s);
	}
	assert_int_equal(act, IMAP_ACTION_NONE);
	t_expect(t, expect);
}

/* ---- greeting and capabilities (CID-CAP-1, CID-CAP-2) ------------------ */

static void
greeting_plain_port(void **state)
{
	struct t *t = t_plain(state);
	imap_session_greet(t->s, &t->out);
	t_expect(t, "* OK [CAPABILITY " CAPS_BASE
	            " STARTTLS LOGINDISABLED] imapcid ready.\r\n");
	t_cmd(t, "a CAPABILITY\r\n",
	      "* CAPABILITY " CAPS_BASE " STARTTLS LOGINDISABLED\r\n"
	      "a OK Capability completed.\r\n");
}

static void
greeting_plain_port_login_plaintext(void **state)
{
	struct t *t = *state;
	t_open(t, true, true, true, false);
	imap_session_greet(t->s, &t->out);
	/* CID-CAP-1: no CLIENTID without TLS, even with AUTH=PLAIN. */
	t_expect(t, "* OK [CAPABILITY " CAPS_BASE
	            " STARTTLS AUTH=PLAIN] imapcid ready.\r\n");
}

static void
greeting_tls_port(void **state)
{
	struct t *t = t_tls(state);
	imap_session_greet(t->s, &t->out);
	t_expect(t, "* OK [CAPABILITY " CAPS_TLS "] imapcid ready.\r\n");
	t_cmd(t, "a CAPABILITY\r\n",
	      "* CAPABILITY " CAPS_TLS "\r\na OK Capability completed.\r\n");
}

static void
greeting_tls_clientid_disabled(void **state)
{
	struct t *t = *state;
	t_open(t, false, false, false, true);
	imap_session_greet(t->s, &t->out);
	t_expect(t, "* OK [CAPABILITY " CAPS_BASE
	            " AUTH=PLAIN] imapcid ready.\r\n");
	/* CID-RST-1: disabled means unknown. */
	t_cmd(t, "a CLIENTID UUID " UUID1 "\r\n", "a BAD Unknown command.\r\n");
}

static void
capability_after_starttls(void **state)
{
	struct t *t = t_plain(state);
	assert_int_equal(t_send(t, "a STARTTLS\r\n"), IMAP_ACTION_STARTTLS);
	t_expect(t, "a OK Begin TLS negotiation now.\r\n");
	imap_session_tls_started(t->s);
	/* CID-CAP-1/2: now in every listing. */
	t_cmd(t, "b CAPABILITY\r\n",
	      "* CAPABILITY " CAPS_TLS "\r\nb OK Capability completed.\r\n");
	t_cmd(t, "c CLIENTID UUID " UUID1 "\r\n",
	      "c OK CLIENTID accepted.\r\n");
	t_cmd(t, "d CAPABILITY\r\n",
	      "* CAPABILITY " CAPS_TLS "\r\nd OK Capability completed.\r\n");
	t_cmd(t, "e STARTTLS\r\n", "e BAD TLS is already active.\r\n");
}

static void
capability_after_auth_has_no_clientid(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	t_auth_done(t, true);
	/* CID-CAP-2 */
	t_expect(t, "a " LOGGED_IN);
	assert_true(imap_session_authenticated(t->s));
	assert_string_equal(imap_session_user(t->s), "joe");
	t_cmd(t, "b CAPABILITY\r\n",
	      "* CAPABILITY " CAPS_AUTH "\r\nb OK Capability completed.\r\n");
}

/* ---- STARTTLS ----------------------------------------------------------- */

static void
starttls_discards_pipelined_input(void **state)
{
	struct t *t = t_plain(state);
	assert_int_equal(
	        t_send(t, "a STARTTLS\r\nb LOGIN joe secret\r\nc NOOP\r\n"),
	        IMAP_ACTION_STARTTLS);
	assert_int_equal(buf_used(&t->in), 0);
	t_expect(t, "a OK Begin TLS negotiation now.\r\n");
	/* Nothing runs until the handshake is done. */
	assert_int_equal(t_send(t, "x NOOP\r\n"), IMAP_ACTION_NONE);
	t_expect(t, "");
	buf_free(&t->in);
	imap_session_tls_started(t->s);
	assert_int_equal(imap_session_input(t->s, &t->in, &t->out),
	                 IMAP_ACTION_NONE);
	t_expect(t, "");
	t_cmd(t, "d NOOP\r\n", "d OK NOOP completed.\r\n");
}

static void
starttls_discards_partial_literal(void **state)
{
	struct t *t = t_plain(state);
	/* Injected plaintext that starts a literal must not leak past TLS. */
	assert_int_equal(t_send(t, "a STARTTLS\r\nb LOGIN joe {100+}\r\nxx"),
	                 IMAP_ACTION_STARTTLS);
	assert_int_equal(buf_used(&t->in), 0);
	t_expect(t, "a OK Begin TLS negotiation now.\r\n");
	imap_session_tls_started(t->s);
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
}

static void
starttls_with_arguments(void **state)
{
	struct t *t = t_plain(state);
	t_cmd(t, "a STARTTLS now\r\n",
	      "a BAD STARTTLS takes no arguments.\r\n");
}

/* ---- CLIENTID ----------------------------------------------------------- */

static void
clientid_before_tls_unknown(void **state)
{
	/* CID-RST-1: not advertised yet, so unknown, valid or not. */
	struct t *t = t_plain(state);
	t_cmd(t, "a CLIENTID UUID " UUID1 "\r\n", "a BAD Unknown command.\r\n");
	t_cmd(t, "b CLIENTID UUID\r\n", "b BAD Unknown command.\r\n");
}

static void
clientid_valid_ok(void **state)
{
	/* CID-RES-1, CID-SYN-1 */
	struct t *t = t_tls(state);
	t_cmd(t, "a cLiEnTiD uuid " UUID1 "\r\n",
	      "a OK CLIENTID accepted.\r\n");
}

static void
clientid_malformed_bad(void **state)
{
	/* CID-SYN-2, CID-SYN-3: "TAG BAD CLIENTID: <reason>." */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID\r\n", "a BAD CLIENTID: missing token.\r\n");
	t_cmd(t, "b CLIENTID\r\n",
	      "b BAD CLIENTID: expected a type and a token.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
	t_cmd(t, "d CLIENTID UUID a b\r\n",
	      "d BAD CLIENTID: too many arguments.\r\n");
	t_cmd(t, "e NOOP\r\n", "e OK NOOP completed.\r\n");
	t_cmd(t, "f CLIENTID UU_ID x\r\n",
	      "f BAD CLIENTID: type may hold only letters, digits and "
	      "'-'.\r\n");
}

static void
clientid_second_bad(void **state)
{
	/* CID-RST-3 */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID " UUID1 "\r\n",
	      "a OK CLIENTID accepted.\r\n");
	t_cmd(t, "b CLIENTID UUID " UUID2 "\r\n",
	      "b BAD CLIENTID was already given on this connection.\r\n");
	t_cmd(t, "c CLIENTID UUID " UUID2 "\r\n",
	      "c BAD CLIENTID was already given on this connection.\r\n");
	/* The stored identity is the first one. */
	assert_int_equal(t_send(t, "d LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_non_null(req);
	assert_true(req->has_clientid);
	assert_string_equal(req->clientid.token, UUID1);
	t_auth_done(t, false);
	t_expect(t, "d " AUTH_FAILED);
}

static void
clientid_malformed_first_does_not_count(void **state)
{
	/* CID-RST-3 */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID\r\n", "a BAD CLIENTID: missing token.\r\n");
	t_cmd(t, "b CLIENTID UUID " UUID2 "\r\n",
	      "b OK CLIENTID accepted.\r\n");
	assert_int_equal(t_send(t, "c LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	assert_string_equal(imap_session_auth_request(t->s)->clientid.token,
	                    UUID2);
	t_auth_done(t, false);
	t_expect(t, "c " AUTH_FAILED);
}

static void
clientid_after_auth_bad(void **state)
{
	/* CID-RST-2 */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID " UUID1 "\r\n",
	      "a OK CLIENTID accepted.\r\n");
	assert_int_equal(t_send(t, "b LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	t_auth_done(t, true);
	t_expect(t, "b " LOGGED_IN);
	/* Not counted as pre-auth BADs: five in a row keep the session. */
	for (int i = 0; i < 5; i++)
		t_cmd(t, "c CLIENTID UUID " UUID2 "\r\n",
		      "c BAD CLIENTID is only valid before "
		      "authentication.\r\n");
	t_cmd(t, "d NOOP\r\n", "d OK NOOP completed.\r\n");
}

static void
clientid_sync_literal_refused_without_continuation(void **state)
{
	/* CID-SYN-3: no "+", and the next line is a new command. */
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a CLIENTID UUID {5}\r\n"),
	                 IMAP_ACTION_NONE);
	const char *out = t_out(t);
	assert_true(strncmp(out, "a BAD ", 6) == 0);
	assert_null(strstr(out, "+"));
	assert_non_null(strstr(out, "\r\n"));
	assert_int_equal(strstr(out, "\r\n")[2], '\0');
	t_cmd(t, "b NOOP\r\n", "b OK NOOP completed.\r\n");
	/* A literal in place of the type too. */
	assert_int_equal(t_send(t, "c CLIENTID {4}\r\n"), IMAP_ACTION_NONE);
	out = t_out(t);
	assert_true(strncmp(out, "c BAD ", 6) == 0);
	assert_null(strstr(out, "+"));
	t_cmd(t, "d NOOP\r\n", "d OK NOOP completed.\r\n");
}

static void
clientid_sync_literal_reason_text(void **state)
{
	/*
	 * The contract: a malformed CLIENTID is "TAG BAD CLIENTID: <precise
	 * reason>.", and CID-SYN-3 makes a literal token malformed (the e2e
	 * tests expect this form too). Failed while session.c answered
	 * "CLIENTID does not take a literal.".
	 */
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a CLIENTID UUID {5}\r\n"),
	                 IMAP_ACTION_NONE);
	const char *out = t_out(t);
	size_t n = strlen(out);
	if (strncmp(out, "a BAD CLIENTID: ", 16) != 0 || n < 20 ||
	    strcmp(out + n - 3, ".\r\n") != 0 ||
	    strchr(out, '\n') != out + n - 1)
		fail_msg("got \"%s\"", out);
}

static void
clientid_nonsync_literal_bad(void **state)
{
	/* CID-SYN-3 */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID {5+}\r\nabcde\r\n",
	      "a BAD CLIENTID: a literal is not allowed here.\r\n");
	/* It did not use up the one allowed (CID-RST-3). */
	t_cmd(t, "b CLIENTID UUID abcde\r\n", "b OK CLIENTID accepted.\r\n");
}

static void
clientid_quoted_token_verbatim(void **state)
{
	/* CID-SYN-3 / CID-RES-2: quotes are part of the token. */
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID \"abc\"\r\n", "a OK CLIENTID accepted.\r\n");
	assert_int_equal(t_send(t, "b LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	assert_string_equal(imap_session_auth_request(t->s)->clientid.token,
	                    "\"abc\"");
	t_auth_done(t, false);
	t_expect(t, "b " AUTH_FAILED);
}

/* ---- authentication, identity handed over (CID-RES-2) ------------------- */

static void
login_hands_identity_to_auth(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID uuid " UUID1 "\r\n",
	      "a OK CLIENTID accepted.\r\n");
	assert_int_equal(t_send(t, "b LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	t_expect(t, "");
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_non_null(req);
	assert_string_equal(req->mech, "LOGIN");
	assert_string_equal(req->user, "joe");
	assert_string_equal(req->password, "secret");
	assert_true(req->has_clientid);
	assert_string_equal(req->clientid.type, "UUID");
	assert_string_equal(req->clientid.token, UUID1);

	t_auth_done(t, false);
	t_expect(t, "b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	assert_false(imap_session_authenticated(t->s));
	assert_null(imap_session_user(t->s));

	/* Kept for the rest of the connection: a second attempt has it. */
	assert_int_equal(t_send(t, "c LOGIN \"joe\" {6+}\r\nsecret\r\n"),
	                 IMAP_ACTION_AUTH);
	req = imap_session_auth_request(t->s);
	assert_true(req->has_clientid);
	assert_string_equal(req->clientid.type, "UUID");
	assert_string_equal(req->clientid.token, UUID1);
	assert_string_equal(req->password, "secret");
	t_auth_done(t, true);
	t_expect(t, "c OK [CAPABILITY " CAPS_AUTH "] Logged in.\r\n");
	assert_true(imap_session_authenticated(t->s));
}

static void
login_without_clientid(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_false(req->has_clientid);
	assert_string_equal(req->user, "joe");
	t_auth_done(t, false);
	t_expect(t, "a " AUTH_FAILED);
}

static void
authenticate_hands_identity_to_auth(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a CLIENTID UUID " UUID2 "\r\n",
	      "a OK CLIENTID accepted.\r\n");
	assert_int_equal(t_send(t, "b AUTHENTICATE PLAIN " PLAIN_JOE "\r\n"),
	                 IMAP_ACTION_AUTH);
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_string_equal(req->mech, "PLAIN");
	assert_string_equal(req->user, "joe");
	assert_string_equal(req->password, "secret");
	assert_true(req->has_clientid);
	assert_string_equal(req->clientid.type, "UUID");
	assert_string_equal(req->clientid.token, UUID2);
	t_auth_done(t, true);
	t_expect(t, "b " LOGGED_IN);
}

static void
auth_waits_for_result(void **state)
{
	/* Pipelined commands wait until auth_done. */
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\nb NOOP\r\n"),
	                 IMAP_ACTION_AUTH);
	assert_int_equal(imap_session_input(t->s, &t->in, &t->out),
	                 IMAP_ACTION_NONE);
	t_expect(t, "");
	t_auth_done(t, false);
	assert_int_equal(imap_session_input(t->s, &t->in, &t->out),
	                 IMAP_ACTION_NONE);
	t_expect(t, "a " AUTH_FAILED "b OK NOOP completed.\r\n");
}

static void
login_syntax(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a LOGIN joe\r\n",
	      "a BAD LOGIN takes a user name and a password.\r\n");
	t_cmd(t, "b LOGIN (joe) x\r\n",
	      "b BAD LOGIN takes a user name and a password.\r\n");
	t_cmd(t, "x NOOP\r\n", "x OK NOOP completed.\r\n");
	t_cmd(t, "c LOGIN \"joe\r\n",
	      "c BAD Error in IMAP command LOGIN: Missing closing quote.\r\n");
}

static void
login_before_tls_privacy_required(void **state)
{
	struct t *t = t_plain(state);
	t_cmd(t, "a LOGIN joe secret\r\n", "a " NO_PLAINTEXT);
	t_cmd(t, "b AUTHENTICATE PLAIN " PLAIN_JOE "\r\n", "b " NO_PLAINTEXT);
	t_cmd(t, "c AUTHENTICATE PLAIN\r\n", "c " NO_PLAINTEXT);
	/* NO is not BAD: no disconnect after three. */
	t_cmd(t, "d LOGIN joe secret\r\n", "d " NO_PLAINTEXT);
	t_cmd(t, "e NOOP\r\n", "e OK NOOP completed.\r\n");
}

static void
login_plaintext_allowed(void **state)
{
	struct t *t = *state;
	t_open(t, true, true, true, false);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	assert_false(imap_session_auth_request(t->s)->has_clientid);
	t_auth_done(t, true);
	t_expect(t, "a " LOGGED_IN);
}

static void
login_literal_continuation(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN {3}\r\n"), IMAP_ACTION_NONE);
	t_expect(t, "+ OK\r\n");
	assert_int_equal(t_send(t, "joe {6}\r\n"), IMAP_ACTION_NONE);
	t_expect(t, "+ OK\r\n");
	assert_int_equal(t_send(t, "se\r\ntt\r\n"), IMAP_ACTION_AUTH);
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_string_equal(req->user, "joe");
	assert_string_equal(req->password, "se\r\ntt");
	t_auth_done(t, false);
	t_expect(t, "a " AUTH_FAILED);
}

static void
login_nul_in_password_fails_like_wrong_password(void **state)
{
	struct t *t = t_tls(state);
	static const char line[] = "a LOGIN joe {3+}\r\na\0b\r\n";
	assert_int_equal(t_send_n(t, line, sizeof(line) - 1), IMAP_ACTION_NONE);
	t_expect(t, "a " AUTH_FAILED);
}

static void
authenticate_plain_ir(void **state)
{
	struct t *t = t_tls(state);
	/* authzid equal to authcid is fine: base64("joe\0joe\0secret") */
	assert_int_equal(
	        t_send(t, "a AUTHENTICATE plain am9lAGpvZQBzZWNyZXQ=\r\n"),
	        IMAP_ACTION_AUTH);
	assert_string_equal(imap_session_auth_request(t->s)->user, "joe");
	t_auth_done(t, false);
	t_expect(t, "a " AUTH_FAILED);
	/* Acting as another user fails at once: base64("bob\0joe\0secret") */
	t_cmd(t, "b AUTHENTICATE PLAIN Ym9iAGpvZQBzZWNyZXQ=\r\n",
	      "b " AUTH_FAILED);
	/* "=" is an empty response: not a valid PLAIN message. */
	t_cmd(t, "c AUTHENTICATE PLAIN =\r\n",
	      "c BAD Invalid PLAIN message.\r\n");
}

static void
authenticate_plain_continuation(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a AUTHENTICATE PLAIN\r\n", "+ \r\n");
	assert_int_equal(t_send(t, PLAIN_JOE "\r\n"), IMAP_ACTION_AUTH);
	struct auth_request *req = imap_session_auth_request(t->s);
	assert_string_equal(req->user, "joe");
	assert_string_equal(req->password, "secret");
	assert_string_equal(req->mech, "PLAIN");
	t_auth_done(t, true);
	t_expect(t, "a " LOGGED_IN);
}

static void
authenticate_cancel(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a AUTHENTICATE PLAIN\r\n", "+ \r\n");
	t_cmd(t, "*\r\n", "a BAD Authentication cancelled.\r\n");
	/* Back to commands. */
	t_cmd(t, "b NOOP\r\n", "b OK NOOP completed.\r\n");
}

static void
authenticate_bad_base64(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ\r\n",
	      "a BAD Invalid base64 data.\r\n");
	t_cmd(t, "b NOOP\r\n", "b OK NOOP completed.\r\n");
	t_cmd(t, "c AUTHENTICATE PLAIN\r\n", "+ \r\n");
	t_cmd(t, "AGpvZQ BzZWNyZXQ=\r\n", "c BAD Invalid base64 data.\r\n");
	t_cmd(t, "d NOOP\r\n", "d OK NOOP completed.\r\n");
	/* The response line is raw: "{5}" at its end is no literal. */
	t_cmd(t, "e AUTHENTICATE PLAIN\r\n", "+ \r\n");
	t_cmd(t, "abc {5}\r\n", "e BAD Invalid base64 data.\r\n");
}

static void
authenticate_unknown_mechanism(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a AUTHENTICATE CRAM-MD5\r\n",
	      "a NO Unsupported authentication mechanism.\r\n");
	t_cmd(t, "b AUTHENTICATE\r\n",
	      "b BAD AUTHENTICATE takes a mechanism and an optional initial "
	      "response.\r\n");
}

/* ---- errors and limits -------------------------------------------------- */

static void
invalid_tag(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "* NOOP\r\n", "* BAD Invalid tag.\r\n");
	t_cmd(t, "a NOOP\r\n", "a OK NOOP completed.\r\n");
	t_cmd(t, "+ NOOP\r\n", "* BAD Invalid tag.\r\n");
	t_cmd(t, "b NOOP\r\n", "b OK NOOP completed.\r\n");
	/* Never echoed, however long. */
	char line[128];
	memset(line, 'T', 65);
	strcpy(line + 65, " NOOP\r\n");
	t_cmd(t, line, "* BAD Invalid tag.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
	/* Also when a synchronizing literal is announced: no "+". */
	t_cmd(t, "{ LOGIN {3}\r\n", "* BAD Invalid tag.\r\n");
}

static void
unknown_and_missing_command(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a FOO\r\n", "a BAD Unknown command.\r\n");
	t_cmd(t, "b\r\n", "b BAD Missing or invalid command name.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
	t_cmd(t, "d ENABLE X\r\n", "d BAD Unknown command.\r\n");
	t_cmd(t, "e NOOP\r\n", "e OK NOOP completed.\r\n");
	t_cmd(t, "f NOOP x\r\n", "f BAD NOOP takes no arguments.\r\n");
	/* An empty line is no command; before login it counts as a bad
	 * one, so "\r\n" now and then cannot keep a connection alive. */
	t_cmd(t, "\r\n", "* BAD Empty command line.\r\n");
	t_cmd(t, "g NOOP\r\n", "g OK NOOP completed.\r\n");
	assert_int_equal(t_send(t, "\r\n\r\n\r\n"), IMAP_ACTION_CLOSE);
	t_expect(t, "* BAD Empty command line.\r\n"
	            "* BAD Empty command line.\r\n"
	            "* BAD Empty command line.\r\n"
	            "* BYE Too many invalid commands.\r\n");
}

static void
bad_commands_disconnect(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a FOO\r\n* NOOP\r\nc CLIENTID x\r\n"
	                           "d NOOP\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "a BAD Unknown command.\r\n"
	            "* BAD Invalid tag.\r\n"
	            "c BAD CLIENTID: missing token.\r\n"
	            "* BYE Too many invalid commands.\r\n");
	/* Nothing more runs. */
	assert_int_equal(t_send(t, "e NOOP\r\n"), IMAP_ACTION_CLOSE);
	t_expect(t, "");
}

static void
bad_commands_not_consecutive(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t,
	      "a FOO\r\nb FOO\r\nc NOOP\r\nd FOO\r\ne FOO\r\n"
	      "f AUTHENTICATE X\r\ng FOO\r\nh FOO\r\n",
	      "a BAD Unknown command.\r\nb BAD Unknown command.\r\n"
	      "c OK NOOP completed.\r\n"
	      "d BAD Unknown command.\r\ne BAD Unknown command.\r\n"
	      "f NO Unsupported authentication mechanism.\r\n"
	      "g BAD Unknown command.\r\nh BAD Unknown command.\r\n");
}

static void
bad_commands_after_auth_no_disconnect(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	t_auth_done(t, true);
	t_expect(t, "a " LOGGED_IN);
	for (int i = 0; i < 5; i++)
		t_cmd(t, "b FOO\r\n", "b BAD Unknown command.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
}

static void
http_request_line(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "* BYE This is an IMAP server.\r\n");
}

static void
http_request_line_plain(void **state)
{
	struct t *t = t_plain(state);
	assert_int_equal(t_send(t, "POST /x HTTP/1.0\r\n"), IMAP_ACTION_CLOSE);
	t_expect(t, "* BYE This is an IMAP server.\r\n");
}

static void
literal_too_large(void **state)
{
	struct t *t = t_tls(state);
	/* Sync: tagged BAD, no "+", the connection goes on. */
	t_cmd(t, "a LOGIN joe {4097}\r\nb NOOP\r\n",
	      "a BAD Literal too large.\r\nb OK NOOP completed.\r\n");
	/* At the limit: accepted (the password is then too long for any
	 * account and fails like a wrong one). */
	t_cmd(t, "c LOGIN joe {4096}\r\n", "+ OK\r\n");
	char *pw = malloc(4096 + 3);
	assert_non_null(pw);
	memset(pw, 'p', 4096);
	strcpy(pw + 4096, "\r\n");
	assert_int_equal(t_send(t, pw), IMAP_ACTION_NONE);
	free(pw);
	t_expect(t, "c " AUTH_FAILED);
}

static void
literal_too_large_nonsync_bye(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe {5000+}\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "* BYE Literal too large.\r\n");
}

static void
line_too_long_bye(void **state)
{
	struct t *t = t_tls(state);
	char *line = malloc(5001);
	assert_non_null(line);
	memset(line, 'x', 5000);
	memcpy(line, "a LOGIN joe ", 12);
	line[5000] = '\0';
	assert_int_equal(t_send(t, line), IMAP_ACTION_CLOSE);
	free(line);
	t_expect(t, "* BYE Line too long.\r\n");
}

static void
literal_for_command_without_literals(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a NOOP {3}\r\n",
	      "a BAD NOOP: a literal is not allowed here.\r\n");
	t_cmd(t, "b FOO {3}\r\n", "b BAD Unknown command.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
}

/* Non-synchronizing literals are checked against the command table as
 * synchronizing ones are: their octets are read and dropped, and the
 * command is refused once it ends, so the client stays in step. */
static void
nonsync_literal_for_command_without_literals(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a NOOP {3+}\r\nabc\r\n",
	      "a BAD NOOP: a literal is not allowed here.\r\n");
	t_cmd(t, "b FOO {3+}\r\nabc {2+}\r\nxy\r\n",
	      "b BAD Unknown command.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
	/* an invalid tag is never echoed */
	t_cmd(t, "+x FOO {2+}\r\nab\r\n", "* BAD Invalid tag.\r\n");
	t_cmd(t, "d NOOP\r\n", "d OK NOOP completed.\r\n");
	/* a refused command that then asks for a "+" is answered at once */
	t_cmd(t, "e CAPABILITY {2+}\r\nab {3}\r\n",
	      "e BAD CAPABILITY: a literal is not allowed here.\r\n");
	t_cmd(t, "f NOOP\r\n", "f OK NOOP completed.\r\n");
	/* each counts as a bad command: three in a row end it */
	assert_int_equal(t_send(t, "g NOOP {1+}\r\nx\r\nh NOOP {1+}\r\nx\r\n"
	                           "i NOOP {1+}\r\nx\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "g BAD NOOP: a literal is not allowed here.\r\n"
	            "h BAD NOOP: a literal is not allowed here.\r\n"
	            "i BAD NOOP: a literal is not allowed here.\r\n"
	            "* BYE Too many invalid commands.\r\n");
}

/* A command's octets in memory are bounded as a whole, not only per line
 * and per literal: before login 8 KiB here (limit_command_preauth). */
static void
command_octet_budget(void **state)
{
	struct t *t = t_tls(state);
	char lit[3100];
	t_cmd(t, "a LOGIN {2000}\r\n", "+ OK\r\n");
	memset(lit, 'x', 2000);
	strcpy(lit + 2000, " {3000}\r\n");
	t_cmd(t, lit, "+ OK\r\n");
	/* about 5 KiB held: 4,000 more would pass 8 KiB, so the literal is
	 * refused before a single octet of it is sent */
	memset(lit, 'y', 3000);
	strcpy(lit + 3000, " {4000}\r\n");
	t_cmd(t, lit, "a BAD Literal too large.\r\n");
	t_cmd(t, "b NOOP\r\n", "b OK NOOP completed.\r\n");
}

/* Non-synchronizing literals, each within literal_max, cannot add up to
 * more than the command's budget: the one that would is a BYE. (ID may be
 * RFC 2971's largest, 31,870 octets, and no more.) */
static void
command_octet_budget_nonsync_bye(void **state)
{
	static const char *const heads[] = {"a LOGIN", "a ID ("};
	static const int counts[] = {4, 10};
	for (int h = 0; h < 2; h++) {
		struct t *t = *state;
		if (t->s != NULL) {
			imap_session_free(t->s);
			t->s = NULL;
			buf_free(&t->in);
			buf_free(&t->out);
		}
		t = t_tls(state);
		struct buf cmd = BUF_INIT;
		buf_append_str(&cmd, heads[h]);
		for (int i = 0; i < counts[h]; i++) {
			buf_printf(&cmd, " {4000+}\r\n");
			for (int k = 0; k < 4000; k++)
				buf_append(&cmd, "v", 1);
		}
		buf_append_str(&cmd, ")\r\n");
		assert_int_equal(t_send_n(t, buf_head(&cmd), buf_used(&cmd)),
		                 IMAP_ACTION_CLOSE);
		buf_free(&cmd);
		t_expect(t, "* BYE Literal too large.\r\n");
	}
}

/* ---- other commands ----------------------------------------------------- */

static void
id_command(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a ID NIL\r\n", ID_REPLY "a OK ID completed.\r\n");
	t_cmd(t, "b ID (\"name\" \"Thunderbird\" \"version\" \"153.8.0\")\r\n",
	      ID_REPLY "b OK ID completed.\r\n");
	t_cmd(t, "c id ()\r\n", ID_REPLY "c OK ID completed.\r\n");
	t_cmd(t, "d ID (\"name\" NIL)\r\n", ID_REPLY "d OK ID completed.\r\n");
	assert_int_equal(t_send(t, "e ID (\"name\" {3}\r\n"), IMAP_ACTION_NONE);
	t_expect(t, "+ OK\r\n");
	t_cmd(t, "abc)\r\n", ID_REPLY "e OK ID completed.\r\n");
}

/* "tag ID (" and pairs of a 30-octet field and a 1024-octet value, as
 * imaptest's id script sends them; the line without its CRLF, with room
 * for 64 octets more. */
static char *
id_line(const char *tag, unsigned pairs)
{
	size_t cap = 64 + pairs * (30 + 1024 + 6) + 64;
	char *line = malloc(cap);
	assert_non_null(line);
	size_t n = (size_t)snprintf(line, cap, "%s ID (", tag);
	for (unsigned i = 0; i < pairs; i++) {
		n += (size_t)snprintf(line + n, cap - n, "%s\"f%029u\" \"",
		                      i > 0 ? " " : "", i);
		memset(line + n, 'v', 1024);
		n += 1024;
		line[n++] = '"';
	}
	line[n++] = ')';
	line[n] = '\0';
	return line;
}

/* RFC 2971's largest ID (30 pairs of 30- and 1024-octet strings, 31 KiB)
 * is taken before login though limit_line_preauth is 4 KiB, whether it
 * arrives whole or an octet at a time; other commands keep the limit. */
static void
id_command_rfc2971_maximum(void **state)
{
	struct t *t = t_tls(state);
	char *line = id_line("a", 30);
	assert_true(strlen(line) > 31000);
	strcat(line, "\r\n");
	t_cmd(t, line, ID_REPLY "a OK ID completed.\r\n");
	line[0] = 'b';
	for (size_t i = 0; line[i] != '\0'; i++)
		assert_int_equal(t_send_n(t, &line[i], 1), IMAP_ACTION_NONE);
	t_expect(t, ID_REPLY "b OK ID completed.\r\n");
	free(line);

	/* a longer ID line still ends the connection */
	line = id_line("c", 30);
	size_t n = strlen(line);
	line = realloc(line, 40 * 1024 + 8);
	assert_non_null(line);
	memset(line + n - 1, ' ', 40 * 1024 - n);
	strcpy(line + 40 * 1024 - 1, ")\r\n");
	assert_int_equal(t_send(t, line), IMAP_ACTION_CLOSE);
	t_expect(t, "* BYE Line too long.\r\n");
	free(line);
}

static void
id_command_errors(void **state)
{
	struct t *t = t_tls(state);
	t_cmd(t, "a ID\r\n", "a BAD ID takes NIL or a list of pairs.\r\n");
	t_cmd(t, "b ID (\"name\")\r\n",
	      "b BAD ID: ID list must hold field/value pairs.\r\n");
	t_cmd(t, "c NOOP\r\n", "c OK NOOP completed.\r\n");
	t_cmd(t, "d ID (name \"x\")\r\n",
	      "d BAD ID: ID field must be a string of at most 30 octets.\r\n");
	t_cmd(t, "e ID (\"name\" x)\r\n",
	      "e BAD ID: ID value must be NIL or a string of at most 1024 "
	      "octets.\r\n");
}

static void
logout(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGOUT\r\nb NOOP\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "* BYE Logging out.\r\na OK Logout completed.\r\n");
}

static void
enable_after_auth(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a LOGIN joe secret\r\n"), IMAP_ACTION_AUTH);
	t_auth_done(t, true);
	t_expect(t, "a " LOGGED_IN);
	t_cmd(t, "b ENABLE UTF8=ACCEPT\r\n",
	      "* ENABLED\r\nb OK ENABLE completed.\r\n");
	/* without a mail store IMAP4rev2 is not offered, so not enabled */
	t_cmd(t, "b2 ENABLE IMAP4rev2\r\n",
	      "* ENABLED\r\nb2 OK ENABLE completed.\r\n");
	t_cmd(t, "c LOGIN joe secret\r\n", "c BAD Unknown command.\r\n");
	t_cmd(t, "d ID NIL\r\n", ID_REPLY "d OK ID completed.\r\n");
}

static void
server_bye(void **state)
{
	struct t *t = t_tls(state);
	imap_session_bye(t->s, &t->out, "Server shutting down.");
	t_expect(t, "* BYE Server shutting down.\r\n");
	assert_int_equal(t_send(t, "a NOOP\r\n"), IMAP_ACTION_CLOSE);
	t_expect(t, "");
}

static void
pipelining(void **state)
{
	struct t *t = t_tls(state);
	assert_int_equal(t_send(t, "a NOOP\r\nb CAPABILITY\r\nc ID NIL\r\n"
	                           "d CLIENTID UUID " UUID1 "\r\ne LOGOUT\r\n"
	                           "f NOOP\r\n"),
	                 IMAP_ACTION_CLOSE);
	t_expect(t, "a OK NOOP completed.\r\n"
	            "* CAPABILITY " CAPS_TLS
	            "\r\nb OK Capability completed.\r\n" ID_REPLY
	            "c OK ID completed.\r\n"
	            "d OK CLIENTID accepted.\r\n"
	            "* BYE Logging out.\r\ne OK Logout completed.\r\n");
}

static void
output_high_water(void **state)
{
	struct t *t = t_tls(state);
	const int n = 2000;
	for (int i = 0; i < n; i++)
		assert_true(buf_append_str(&t->in, "a CAPABILITY\r\n"));
	size_t total = 0;
	int rounds = 0;
	while (buf_used(&t->in) > 0) {
		assert_int_equal(imap_session_input(t->s, &t->in, &t->out),
		                 IMAP_ACTION_NONE);
		size_t used = buf_used(&t->out);
		if (buf_used(&t->in) > 0)
			assert_true(used >= IMAP_OUTPUT_HIGH_WATER);
		/* Stops soon after the mark: at most one response over. */
		assert_true(used < IMAP_OUTPUT_HIGH_WATER + 256);
		total += used;
		buf_free(&t->out);
		rounds++;
		assert_true(rounds < 100);
	}
	const size_t one = strlen("* CAPABILITY " CAPS_TLS "\r\n"
	                          "a OK Capability completed.\r\n");
	assert_int_equal(total, one * (size_t)n);
	assert_true(rounds > 1);
}

/* ---- whole session: fed whole and one byte at a time ------------------- */

static const char session_script[] =
        "a1 capability\r\n"
        "a2 CLIENTID uuid " UUID2 "\r\n"
        "a3 CLIENTID UUID again\r\n"
        "a4 LOGIN {3}\r\njoe {5}\r\nwrong\r\n"
        "a5 NOOP\r\n"
        "a6 authenticate PLAIN\r\n" PLAIN_JOE "\r\n"
        "a7 CAPABILITY\r\n"
        "a8 CLIENTID UUID x\r\n"
        "a9 ID (\"name\" \"Thunderbird\" \"version\" \"153.8.0\")\r\n"
        "a10 ENABLE UTF8=ACCEPT\r\n"
        "a11 FOO\r\n"
        "a12 NOOP\r\n"
        "a13 LOGOUT\r\n"
        "a14 NOOP\r\n";

static const char session_expect[] =
        "* CAPABILITY " CAPS_TLS "\r\na1 OK Capability completed.\r\n"
        "a2 OK CLIENTID accepted.\r\n"
        "a3 BAD CLIENTID was already given on this connection.\r\n"
        "+ OK\r\n+ OK\r\n"
        "<AUTH LOGIN joe/wrong UUID/" UUID2 ">"
        "a4 " AUTH_FAILED "a5 OK NOOP completed.\r\n"
        "+ \r\n"
        "<AUTH PLAIN joe/secret UUID/" UUID2 ">"
        "a6 " LOGGED_IN "* CAPABILITY " CAPS_AUTH
        "\r\na7 OK Capability completed.\r\n"
        "a8 BAD CLIENTID is only valid before authentication.\r\n" ID_REPLY
        "a9 OK ID completed.\r\n"
        "* ENABLED\r\na10 OK ENABLE completed.\r\n"
        "a11 BAD Unknown command.\r\n"
        "a12 OK NOOP completed.\r\n"
        "* BYE Logging out.\r\na13 OK Logout completed.\r\n"
        "<CLOSE>";

/* Runs the script in chunks; auth succeeds for the password "secret". */
static char *
run_session(const char *script, size_t n, size_t chunk)
{
	struct imap_session_config cfg;
	cfg_init(&cfg, false, true, false);
	struct imap_session *s = imap_session_new(&cfg, true);
	struct buf in = BUF_INIT, out = BUF_INIT;
	size_t pos = 0;
	bool closed = false;

	assert_non_null(s);
	while (pos < n && !closed) {
		size_t len = n - pos < chunk ? n - pos : chunk;
		buf_append(&in, script + pos, len);
		pos += len;
		for (;;) {
			enum imap_action act = imap_session_input(s, &in, &out);
			if (act == IMAP_ACTION_NONE)
				break;
			if (act == IMAP_ACTION_CLOSE) {
				buf_append_str(&out, "<CLOSE>");
				closed = true;
				break;
			}
			if (act == IMAP_ACTION_STARTTLS) {
				buf_append_str(&out, "<STARTTLS>");
				imap_session_tls_started(s);
				continue;
			}
			if (act == IMAP_ACTION_MAIL) {
				/* as a worker would; no store configured */
				imap_session_mail_run(s, &out);
				imap_session_mail_done(s);
				continue;
			}
			struct auth_request *req = imap_session_auth_request(s);
			assert_non_null(req);
			buf_printf(&out, "<AUTH %s %s/%s %s/%s>", req->mech,
			           req->user, req->password,
			           req->has_clientid ? req->clientid.type : "-",
			           req->has_clientid ? req->clientid.token
			                             : "-");
			struct auth_result r = {
			        .ok = strcmp(req->password, "secret") == 0,
			        .reason = "test"};
			imap_session_auth_done(s, &r, &out);
		}
	}
	imap_session_free(s);
	buf_free(&in);
	buf_append(&out, "", 1);
	char *res = strdup((const char *)buf_head(&out));
	buf_free(&out);
	return res;
}

static void
whole_session_any_chunking(void **state)
{
	(void)state;
	size_t n = sizeof(session_script) - 1;
	const size_t chunks[] = {n, 1, 2, 3, 7, 16};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(*chunks); i++) {
		char *got = run_session(session_script, n, chunks[i]);
		bool same = strcmp(got, session_expect) == 0;
		static char copy[4096];
		snprintf(copy, sizeof(copy), "%s", got);
		free(got);
		if (!same)
			fail_msg("chunk %zu:\n%s", chunks[i], copy);
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(greeting_plain_port),
	        T(greeting_plain_port_login_plaintext),
	        T(greeting_tls_port),
	        T(greeting_tls_clientid_disabled),
	        T(capability_after_starttls),
	        T(capability_after_auth_has_no_clientid),
	        T(starttls_discards_pipelined_input),
	        T(starttls_discards_partial_literal),
	        T(starttls_with_arguments),
	        T(clientid_before_tls_unknown),
	        T(clientid_valid_ok),
	        T(clientid_malformed_bad),
	        T(clientid_second_bad),
	        T(clientid_malformed_first_does_not_count),
	        T(clientid_after_auth_bad),
	        T(clientid_sync_literal_refused_without_continuation),
	        T(clientid_sync_literal_reason_text),
	        T(clientid_nonsync_literal_bad),
	        T(clientid_quoted_token_verbatim),
	        T(login_hands_identity_to_auth),
	        T(login_without_clientid),
	        T(authenticate_hands_identity_to_auth),
	        T(auth_waits_for_result),
	        T(login_syntax),
	        T(login_before_tls_privacy_required),
	        T(login_plaintext_allowed),
	        T(login_literal_continuation),
	        T(login_nul_in_password_fails_like_wrong_password),
	        T(authenticate_plain_ir),
	        T(authenticate_plain_continuation),
	        T(authenticate_cancel),
	        T(authenticate_bad_base64),
	        T(authenticate_unknown_mechanism),
	        T(invalid_tag),
	        T(unknown_and_missing_command),
	        T(bad_commands_disconnect),
	        T(bad_commands_not_consecutive),
	        T(bad_commands_after_auth_no_disconnect),
	        T(http_request_line),
	        T(http_request_line_plain),
	        T(literal_too_large),
	        T(literal_too_large_nonsync_bye),
	        T(line_too_long_bye),
	        T(literal_for_command_without_literals),
	        T(nonsync_literal_for_command_without_literals),
	        T(command_octet_budget),
	        T(command_octet_budget_nonsync_bye),
	        T(id_command),
	        T(id_command_rfc2971_maximum),
	        T(id_command_errors),
	        T(logout),
	        T(enable_after_auth),
	        T(server_bye),
	        T(pipelining),
	        T(output_high_water),
	        cmocka_unit_test(whole_session_any_chunking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
