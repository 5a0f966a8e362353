"""Protocol core: commands, authentication paths, literals, tags.

Rules referenced: CID-POL-2 (uniform auth failure), CID-RES-2 (identity
handed to every auth path), CID-CAP-1 (capabilities), and the contract texts
of docs/CONFIGURATION.md and imapcidd(8).
"""

import imaplib
import statistics
import time
import unittest

from harness import (AUTH_FAILED, AUTHED_CAPS, BASE_CAPS, authed_caps, CTL_USER, JOE, SHA_USER, ServerTestCase,
                     caps_of, client_context, plain_ir)

ID_RE = rb'^\* ID \("name" "imapcid" "version" "[^"\r\n]+"\)$'
PRIVACY = b"NO [PRIVACYREQUIRED] Plaintext authentication is not allowed without TLS."

WEIRD_USER = "weird.user"
WEIRD_PW = 'pa"ss\\wo rd{x}'


class ProtocolCore(ServerTestCase):
    extra_users = {WEIRD_USER: WEIRD_PW}

    # -- simple commands ----------------------------------------------------
    def test_noop_preauth_plain_tls_and_authenticated(self):
        """NOOP -> `TAG OK NOOP completed.` in every state."""
        c = self.connect()
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("NOOP"), ([], b"OK NOOP completed."))
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_commands_case_insensitive(self):
        """Command names are case-insensitive (noop, Capability)."""
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("noop")[1], b"OK NOOP completed.")
        untagged, resp = c.cmd("Capability")
        self.assertEqual(resp, b"OK Capability completed.")
        self.assertTrue(untagged[0].startswith(b"* CAPABILITY "))

    def test_capability_plain(self):
        """CID-CAP-1: CAPABILITY on the plain port: base + STARTTLS LOGINDISABLED."""
        c = self.connect()
        untagged, resp = c.cmd("CAPABILITY")
        self.assertEqual(resp, b"OK Capability completed.")
        self.assertEqual(len(untagged), 1)
        self.assertEqual(set(caps_of(untagged[0])), BASE_CAPS | {"STARTTLS", "LOGINDISABLED"})

    def test_logout_preauth(self):
        """LOGOUT: `* BYE Logging out.` then `TAG OK Logout completed.`, then close."""
        c = self.connect()
        c.send(b"a LOGOUT\r\n")
        self.assertEqual(c.readline(), b"* BYE Logging out.")
        self.assertEqual(c.readline(), b"a OK Logout completed.")
        self.assertEqual(c.read_until_closed(), [])

    def test_logout_authenticated_tls(self):
        """LOGOUT after login over TLS: BYE, OK, close."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        c.send(b"b LOGOUT\r\n")
        self.assertEqual(c.readline(), b"* BYE Logging out.")
        self.assertEqual(c.readline(), b"b OK Logout completed.")
        self.assertEqual(c.read_until_closed(), [])

    def test_id_nil(self):
        """ID NIL -> server `* ID (...)` + `TAG OK ID completed.`"""
        c = self.connect()
        untagged, resp = c.cmd("ID NIL")
        self.assertEqual(resp, b"OK ID completed.")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertRegex(untagged[0], ID_RE)

    def test_id_list_preauth_and_after_login(self):
        """ID with a field list, before and after login (Thunderbird sends it after)."""
        c = self.connect(tls=True)
        untagged, resp = c.cmd('ID ("name" "Thunderbird" "version" "153.8.0")')
        self.assertEqual(resp, b"OK ID completed.")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertRegex(untagged[0], ID_RE)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        untagged, resp = c.cmd('ID ("name" "x")')
        self.assertEqual(resp, b"OK ID completed.")
        self.assertRegex(untagged[0], ID_RE)

    def test_unknown_command(self):
        """Unknown command -> `TAG BAD Unknown command.`"""
        c = self.connect()
        self.assertEqual(c.cmd("FROBNICATE x"), ([], b"BAD Unknown command."))

    def test_pipelined_commands_answered_in_order(self):
        """Several commands in one send are all answered, in order."""
        c = self.connect(tls=True)
        c.send(b"a NOOP\r\nb LOGIN joe password\r\nc NOOP\r\nd CAPABILITY\r\n")
        self.assertEqual(c.readline(), b"a OK NOOP completed.")
        line = c.readline()
        self.assertTrue(line.startswith(b"b "), line)
        self.assertLoggedIn(line[2:])
        self.assertEqual(c.readline(), b"c OK NOOP completed.")
        untagged, resp = c.read_tagged("d")
        self.assertEqual(authed_caps(caps_of(untagged[0])), AUTHED_CAPS)

    # -- tags -----------------------------------------------------------------
    def test_invalid_tag(self):
        """Invalid tag -> `* BAD Invalid tag.`, tag never echoed; connection
        stays usable."""
        for bad in (b"a*b", b"a{b", b"a%b", b'a"b', b"a(b", b"a)b", b"+", b"a\\b"):
            with self.subTest(tag=bad):
                c = self.connect()
                c.send(bad + b" NOOP\r\n")
                self.assertEqual(c.readline(), b"* BAD Invalid tag.")
                self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_unusual_valid_tags(self):
        """Tags may contain ']' and '.' (openssl s_client uses '.')."""
        c = self.connect()
        for tag in ("a]b", ".", "A001.x-9"):
            self.assertEqual(c.cmd("NOOP", tag=tag)[1], b"OK NOOP completed.")

    # -- LOGIN --------------------------------------------------------------
    def test_login_before_tls_privacy_required(self):
        """LOGIN on the plain port -> exact NO [PRIVACYREQUIRED] text."""
        c = self.connect()
        self.assertEqual(c.cmd("LOGIN joe password"), ([], PRIVACY))
        # still not authenticated
        self.assertEqual(c.cmd("CLIENTID UUID x")[1], b"BAD Unknown command.")

    def test_authenticate_before_tls_refused(self):
        """AUTHENTICATE PLAIN on the plain port (LOGINDISABLED, no AUTH=PLAIN) is refused."""
        c = self.connect()
        mark = self.server.mark()
        untagged, resp = c.cmd("AUTHENTICATE PLAIN " + plain_ir(*JOE))
        self.assertRegex(resp, rb"^(NO|BAD) ")
        self.assertEqual(self.server.wait_auth(mark, timeout=0.5, result="ok"), [])
        untagged, resp = c.cmd("CAPABILITY")
        self.assertIn("LOGINDISABLED", caps_of(untagged[0]))

    def test_login_each_password_scheme(self):
        """LOGIN works for {PLAIN}, {SHA512-CRYPT} (openssl passwd -6) and the
        imapcidctl-created user; wrong passwords fail generically (CID-POL-2)."""
        for user, pw in (JOE, SHA_USER, CTL_USER):
            with self.subTest(user=user):
                c = self.connect(tls=True)
                self.assertLoggedIn(c.cmd("LOGIN %s %s" % (user, pw))[1])
                c = self.connect(tls=True)
                self.assertEqual(c.cmd("LOGIN %s %sX" % (user, pw)), ([], AUTH_FAILED))

    def test_login_user_name_case_insensitive(self):
        """User names match case-insensitively (docs/CONFIGURATION.md passdb_file)."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("LOGIN JoE password")[1])

    def test_login_quoted(self):
        """LOGIN with quoted strings, including escaped quote and backslash."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd('LOGIN "joe" "password"')[1])
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd('LOGIN "%s" "%s"' % (
            WEIRD_USER, WEIRD_PW.replace("\\", "\\\\").replace('"', '\\"')))[1])

    def test_login_sync_literal(self):
        """LOGIN joe {8}: the server sends a `+` continuation before the octets."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe {8}\r\n")
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(b"password\r\n")
        self.assertLoggedIn(c.read_tagged("a")[1][2:])

    def test_login_sync_literal_special_chars(self):
        """A sync literal password carrying quote/backslash/space/braces."""
        c = self.connect(tls=True)
        pw = WEIRD_PW.encode()
        c.send(b"a LOGIN {%d}\r\n" % len(WEIRD_USER))
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(WEIRD_USER.encode() + b" {%d}\r\n" % len(pw))
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(pw + b"\r\n")
        self.assertLoggedIn(c.read_tagged("a")[1][2:])

    def test_login_literal_plus(self):
        """LITERAL+: `{8+}` needs no continuation; the answer is the tagged OK."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe {8+}\r\npassword\r\n")
        line = c.readline()
        self.assertFalse(line.startswith(b"+"), "continuation sent for a non-sync literal")
        self.assertTrue(line.startswith(b"a "), line)
        self.assertLoggedIn(line[2:])
        c = self.connect(tls=True)
        c.send(b"b LOGIN {3+}\r\njoe {8+}\r\npassword\r\n")
        line = c.readline()
        self.assertTrue(line.startswith(b"b "), line)
        self.assertLoggedIn(line[2:])

    def test_login_wrong_password_and_unknown_user_identical(self):
        """CID-POL-2: unknown user and wrong password are byte-identical, for
        LOGIN and AUTHENTICATE, with and without CLIENTID."""
        for clientid in (False, True):
            for mech in ("LOGIN", "PLAIN"):
                out = []
                for user, pw in (("joe", "wrong"), ("no-such-user", "password"),
                                 (SHA_USER[0], "wrong"), (CTL_USER[0], "wrong")):
                    c = self.connect(tls=True)
                    if clientid:
                        self.assertEqual(c.cmd("CLIENTID UUID 3c2e9e6a-5b1f-4d8e-9f2a-7c1b0d4e6f81",
                                               tag="x")[1], b"OK CLIENTID accepted.")
                    if mech == "LOGIN":
                        c.send("a LOGIN %s %s\r\n" % (user, pw))
                    else:
                        c.send("a AUTHENTICATE PLAIN %s\r\n" % plain_ir(user, pw))
                    untagged, tagged = c.read_tagged("a")
                    out.append((untagged, tagged))
                for o in out:
                    self.assertEqual(o, ([], b"a " + AUTH_FAILED), (clientid, mech))

    def test_pol2_unknown_user_timing_comparable(self):
        """CID-POL-2: an unknown user takes comparable time to a wrong password
        for an account hashed with the default scheme (ARGON2ID, the
        imapcidctl-created user): no timing oracle for account existence."""
        times = {"known": [], "unknown": []}
        for i in range(5):
            for kind, user in (("known", CTL_USER[0]), ("unknown", "no-such-user-%d" % i)):
                c = self.connect(tls=True)
                t0 = time.monotonic()
                resp = c.cmd("LOGIN %s wrong-password" % user)[1]
                times[kind].append(time.monotonic() - t0)
                self.assertEqual(resp, AUTH_FAILED)
                c.close()
        known = statistics.median(times["known"])
        unknown = statistics.median(times["unknown"])
        self.assertGreater(unknown, known / 3, "unknown user %.1f ms vs wrong password %.1f ms"
                           % (unknown * 1000, known * 1000))
        self.assertLess(unknown, known * 3 + 0.05, "unknown user %.1f ms vs wrong password %.1f ms"
                        % (unknown * 1000, known * 1000))

    # -- AUTHENTICATE -----------------------------------------------------------
    def test_authenticate_plain_sasl_ir(self):
        """AUTHENTICATE PLAIN with SASL-IR logs in (mech=PLAIN in the log)."""
        c = self.connect(tls=True)
        mark = self.server.mark()
        self.assertLoggedIn(c.cmd("AUTHENTICATE PLAIN " + plain_ir(*JOE))[1])
        evs = self.server.wait_auth(mark, user="joe", result="ok")
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0].get("mech"), "PLAIN")

    def test_authenticate_plain_lowercase_mech(self):
        """Mechanism names are case-insensitive."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("authenticate plain " + plain_ir(*JOE))[1])

    def test_authenticate_plain_no_ir(self):
        """AUTHENTICATE PLAIN without IR: `+ ` then the base64 line."""
        c = self.connect(starttls=True)
        c.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), b"+ ")
        c.send(plain_ir(*SHA_USER).encode() + b"\r\n")
        self.assertLoggedIn(c.read_tagged("a")[1][2:])

    def test_authenticate_cancel(self):
        """`*` as the client response -> `TAG BAD Authentication cancelled.`"""
        c = self.connect(tls=True)
        c.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), b"+ ")
        c.send(b"*\r\n")
        self.assertEqual(c.read_tagged("a"), ([], b"a BAD Authentication cancelled."))
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])

    def test_authenticate_bad_base64(self):
        """Invalid base64 (continuation and initial response) -> tagged BAD."""
        c = self.connect(tls=True)
        c.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), b"+ ")
        c.send(b"!!!not-base64!!!\r\n")
        untagged, tagged = c.read_tagged("a")
        self.assertEqual(untagged, [])
        self.assertRegex(tagged, rb"^a BAD .+")
        c = self.connect(tls=True)
        untagged, resp = c.cmd("AUTHENTICATE PLAIN am9l$$$")
        self.assertRegex(resp, rb"^BAD .+")

    def test_authenticate_wrong_password(self):
        """AUTHENTICATE PLAIN wrong password -> generic failure (CID-POL-2)."""
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("AUTHENTICATE PLAIN " + plain_ir("joe", "nope")),
                         ([], AUTH_FAILED))
        c.send(b"b AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), b"+ ")
        c.send(plain_ir("joe", "nope").encode() + b"\r\n")
        self.assertEqual(c.read_tagged("b"), ([], b"b " + AUTH_FAILED))

    def test_authenticate_plain_foreign_authzid_fails(self):
        """PLAIN with an authorization id of another user must not log in."""
        c = self.connect(tls=True)
        resp = c.cmd("AUTHENTICATE PLAIN " + plain_ir("joe", "password", authz=SHA_USER[0]))[1]
        self.assertEqual(resp, AUTH_FAILED)

    def test_authenticate_unknown_mechanism(self):
        """Unknown mechanism -> `TAG NO Unsupported authentication mechanism.`"""
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("AUTHENTICATE X-NOPE"),
                         ([], b"NO Unsupported authentication mechanism."))

    # -- imaplib -------------------------------------------------------------
    def test_imaplib_ssl_login_logout(self):
        """Normal IMAP4_SSL login / noop / logout."""
        host, port = self.server.imaps_addr
        M = imaplib.IMAP4_SSL(host, port, ssl_context=client_context(), timeout=10)
        try:
            self.assertIn("CLIENTID", M.capabilities)
            typ, data = M.login(*JOE)
            self.assertEqual(typ, "OK")
            self.assertEqual(M.noop()[0], "OK")
            self.assertNotIn("CLIENTID", M.capability()[1][0].decode().split())
            typ, data = M.logout()
            self.assertEqual(typ, "BYE")
            self.assertEqual(data, [b"Logging out."])
        finally:
            try:
                M.shutdown()
            except Exception:
                pass


class AuthFailureDelay(ServerTestCase):
    """auth_failure_delay (CID-POL-2: failures take the same time)."""

    server_overrides = {"auth_failure_delay": "1s"}
    ctl_user = False

    def test_failure_delayed_success_not(self):
        """-o auth_failure_delay=1s: wrong password and unknown user (LOGIN and
        AUTHENTICATE) are answered after >= ~1s; a success is not delayed."""
        for label, line in (("wrong password", "LOGIN joe nope"),
                            ("unknown user", "LOGIN nobody nope"),
                            ("authenticate", "AUTHENTICATE PLAIN " + plain_ir("joe", "nope"))):
            with self.subTest(label):
                c = self.connect(tls=True)
                t0 = time.monotonic()
                self.assertEqual(c.cmd(line)[1], AUTH_FAILED)
                self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        c = self.connect(tls=True)
        t0 = time.monotonic()
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        self.assertLess(time.monotonic() - t0, 0.9)


class PlaintextLoginAllowed(ServerTestCase):
    """`-o login_plaintext=yes`: LOGIN/AUTHENTICATE allowed before TLS, but no
    CLIENTID without TLS (CID-CAP-1, CID-RST-1)."""

    server_overrides = {"login_plaintext": "yes"}
    ctl_user = False

    def test_plain_caps_and_login(self):
        """CID-CAP-1: plain caps = base + STARTTLS AUTH=PLAIN (no LOGINDISABLED,
        no CLIENTID); LOGIN works without TLS."""
        c = self.connect()
        self.assertEqual(set(caps_of(c.greeting)), BASE_CAPS | {"STARTTLS", "AUTH=PLAIN"})
        self.assertEqual(c.cmd("CLIENTID UUID abc")[1], b"BAD Unknown command.")
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])

    def test_plain_authenticate(self):
        """AUTHENTICATE PLAIN works without TLS when allowed."""
        c = self.connect()
        self.assertLoggedIn(c.cmd("AUTHENTICATE PLAIN " + plain_ir(*JOE))[1])

    def test_starttls_still_gives_clientid(self):
        """CID-CAP-1: after STARTTLS CLIENTID is advertised and accepted."""
        c = self.connect(starttls=True)
        untagged, _ = c.cmd("CAPABILITY")
        self.assertEqual(set(caps_of(untagged[0])), BASE_CAPS | {"AUTH=PLAIN", "CLIENTID"})
        self.assertEqual(c.cmd("CLIENTID UUID abc")[1], b"OK CLIENTID accepted.")


if __name__ == "__main__":
    unittest.main()
