"""CLIENTID extension rules (spec /work/shared/spec/CLIENTID.md, ids CID-*)."""

import re
import unittest
import uuid

from harness import (AUTH_FAILED, AUTHED_CAPS, BASE_CAPS, authed_caps, EXAMPLE_UUID, JOE, ServerTestCase,
                     caps_of, plain_ir)

BAD_CLIENTID = rb"^BAD CLIENTID: .+\.$"
OK_CLIENTID = b"OK CLIENTID accepted."
ALL_VCHARS = bytes(range(0x21, 0x7F))          # 94 printable US-ASCII chars


def new_token():
    return str(uuid.uuid4())


class ClientIdBase(ServerTestCase):

    def tls(self):
        c = self.connect(tls=True)
        self.assertGreetingOK(c)
        return c

    def send_clientid(self, c, args, tag=b"a"):
        """Send b'TAG CLIENTID' + args + CRLF raw; return the first response
        line (must be the tagged one: no continuation, no untagged)."""
        c.send(tag + b" CLIENTID" + args + b"\r\n")
        line = c.readline()
        self.assertFalse(line.startswith(b"+"), "server sent a continuation: %r" % line)
        self.assertTrue(line.startswith(tag + b" "), "unexpected line %r" % line)
        return line[len(tag) + 1:]

    def still_usable(self, c, tag=b"z"):
        c.send(tag + b" NOOP\r\n")
        self.assertEqual(c.readline(), tag + b" OK NOOP completed.")

    def login_with(self, clientid_args=None, mech="LOGIN", user=JOE[0], password=JOE[1],
                   expect_ok=True):
        """TLS connection, optional CLIENTID (raw args after the command name),
        then LOGIN or AUTHENTICATE PLAIN.  Returns the auth log event."""
        c = self.tls()
        if clientid_args is not None:
            self.assertEqual(self.send_clientid(c, clientid_args), OK_CLIENTID)
        mark = self.server.mark()
        if mech == "LOGIN":
            _, resp = c.cmd("LOGIN %s %s" % (user, password))
        else:
            _, resp = c.cmd("AUTHENTICATE PLAIN " + plain_ir(user, password))
        if expect_ok:
            self.assertLoggedIn(resp)
        else:
            self.assertEqual(resp, AUTH_FAILED)
        evs = self.server.wait_auth(mark, user=user)
        self.assertEqual(len(evs), 1, "expected one auth line, got %r" % self.server.snapshot()[mark:])
        ev = evs[0]
        self.assertEqual(ev.get("mech"), mech, ev["_line"])
        self.assertEqual(ev.get("result"), "ok" if expect_ok else "fail", ev["_line"])
        return ev


class ClientIdSyntax(ClientIdBase):
    """CID-SYN-1, CID-SYN-2, CID-SYN-3, CID-RES-1, CID-RST-3 (malformed first)."""

    VALID = [
        ("mixed-case type", b" uuid " + EXAMPLE_UUID.encode()),
        ("type of exactly 16", b" " + b"A" * 16 + b" tok"),
        ("token of exactly 128", b" UUID " + b"t" * 128),
        ("type with digits and hyphen", b" X-Dev-9 tok"),
        ("one-char type and token", b" 1 x"),
        ("unknown type (CID-POL-8)", b" SOMETHINGNEW tok"),
        ("quoted token is a 5-char token (CID-SYN-3)", b' UUID "abc"'),
        ("quoted empty string is a 2-char token (CID-SYN-3)", b' UUID ""'),
        ("all 94 VCHARs", b" UUID " + ALL_VCHARS),
        ("quoted 128 chars", b' UUID "' + b"q" * 126 + b'"'),
    ]

    INVALID = [
        ("no arguments", b""),
        ("no arguments, trailing space", b" "),
        ("one argument", b" UUID"),
        ("three arguments", b" UUID tok extra"),
        ("empty type (double space)", b"  UUID tok"),
        ("empty token (double space)", b" UUID  tok"),
        ("trailing space", b" UUID tok "),
        ("type of 17", b" " + b"A" * 17 + b" tok"),
        ("token of 129", b" UUID " + b"t" * 129),
        ("quoted token of 129 raw chars", b' UUID "' + b"q" * 127 + b'"'),
        ("type with underscore", b" UU_ID tok"),
        ("type with dot", b" UU.ID tok"),
        ("quoted type", b' "UUID" tok'),
        ("empty quoted type", b' "" tok'),
        ("non-ASCII type", b" UU\xc3\x89D tok"),
        ("token with 0x80", b" UUID tok\x80en"),
        ("token with UTF-8", b" UUID t\xc3\xa9l\xc3\xa9phone"),
        ("token with 0xff", b" UUID \xff"),
        ("token with control char 0x01", b" UUID tok\x01en"),
        ("token with NUL", b" UUID tok\x00en"),
        ("token with TAB", b" UUID tok\ten"),
        ("token with DEL", b" UUID tok\x7fen"),
        ("tab separator", b" UUID\ttok"),
        ("quoted token with space", b' UUID "abc def"'),
        ("parenthesised list as args", b" (UUID tok)"),
    ]

    def test_syn1_mixed_case_command_and_type(self):
        """CID-SYN-1: `cLiEnTiD uuid ...` is OK."""
        c = self.tls()
        c.send(b"a cLiEnTiD uuid " + EXAMPLE_UUID.encode() + b"\r\n")
        self.assertEqual(c.readline(), b"a " + OK_CLIENTID)

    def test_syn2_syn3_res1_valid_forms_ok(self):
        """CID-SYN-2/CID-SYN-3/CID-RES-1: boundary-valid commands are OK (never NO)."""
        for name, args in self.VALID:
            with self.subTest(name):
                c = self.tls()
                self.assertEqual(self.send_clientid(c, args), OK_CLIENTID, args)
                self.still_usable(c)

    def test_syn2_syn3_malformed_bad(self):
        """CID-SYN-2/CID-SYN-3: malformed commands are `BAD CLIENTID: <reason>.`;
        the connection stays usable and (CID-RST-3) a later valid CLIENTID is OK."""
        for name, args in self.INVALID:
            with self.subTest(name):
                c = self.tls()
                resp = self.send_clientid(c, args)
                self.assertRegex(resp, BAD_CLIENTID, args)
                self.still_usable(c)
                self.assertEqual(self.send_clientid(c, b" UUID " + EXAMPLE_UUID.encode(), b"b"),
                                 OK_CLIENTID)

    def test_syn3_sync_literal_bad_without_continuation(self):
        """CID-SYN-3: `CLIENTID UUID {5}` is BAD at once, no `+` continuation is
        sent, and the next line is a new command (the literal is not read)."""
        c = self.tls()
        resp = self.send_clientid(c, b" UUID {5}")
        self.assertRegex(resp, BAD_CLIENTID)
        self.assertEqual(c.buf, b"", "unexpected extra data %r" % c.buf)
        self.still_usable(c)

    def test_syn3_literal_type_bad_without_continuation(self):
        """CID-SYN-3/CID-SYN-2: a literal in place of the type is BAD, no `+`."""
        c = self.tls()
        resp = self.send_clientid(c, b" {4}")
        self.assertRegex(resp, BAD_CLIENTID)
        self.still_usable(c)

    def test_syn3_quoted_token_not_unwrapped(self):
        """CID-SYN-3/CID-RES-2: `"abc"` and `abc` are different tokens
        (different fingerprints)."""
        fp_quoted = self.login_with(b' UUID "abc"')["clientid"]
        fp_bare = self.login_with(b" UUID abc")["clientid"]
        self.assertRegex(fp_quoted, r"^UUID/fp=[0-9a-f]{16}$")
        self.assertRegex(fp_bare, r"^UUID/fp=[0-9a-f]{16}$")
        self.assertNotEqual(fp_quoted, fp_bare)


class ClientIdResult(ClientIdBase):
    """CID-RES-1, CID-RES-2, CID-PRV-2 (log carries fingerprint, never token)."""

    def test_res2_log_has_type_and_fingerprint_not_token(self):
        """CID-RES-2/CID-PRV-2: the auth line has clientid=UUID/fp=<16 hex>; the
        token never appears in the log."""
        tok = new_token()
        ev = self.login_with(b" UUID " + tok.encode())
        self.assertRegex(ev.get("clientid", ""), r"^UUID/fp=[0-9a-f]{16}$", ev["_line"])
        self.assertNotInLog(tok)

    def test_res2_same_token_same_fp_different_token_different_fp(self):
        """CID-RES-2: same token -> same fingerprint, different tokens -> different."""
        t1, t2 = new_token(), new_token()
        a = self.login_with(b" UUID " + t1.encode())["clientid"]
        b = self.login_with(b" UUID " + t1.encode())["clientid"]
        c = self.login_with(b" UUID " + t2.encode())["clientid"]
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertNotInLog(t1)
        self.assertNotInLog(t2)

    def test_res2_authenticate_plain_carries_clientid(self):
        """CID-RES-2: AUTHENTICATE PLAIN gets the identity too (mech=PLAIN,
        same fingerprint as with LOGIN)."""
        tok = new_token()
        via_login = self.login_with(b" UUID " + tok.encode())["clientid"]
        ev = self.login_with(b" UUID " + tok.encode(), mech="PLAIN")
        self.assertEqual(ev["clientid"], via_login, ev["_line"])
        self.assertNotInLog(tok)

    def test_res2_authenticate_plain_no_ir_carries_clientid(self):
        """CID-RES-2: AUTHENTICATE PLAIN without initial response (Thunderbird's
        flow, spec section 7) carries the identity."""
        tok = new_token()
        ref = self.login_with(b" UUID " + tok.encode())["clientid"]
        c = self.tls()
        c.send(b"10 clientid UUID " + tok.encode() + b"\r\n")
        self.assertEqual(c.readline(), b"10 " + OK_CLIENTID)
        mark = self.server.mark()
        c.send(b"11 authenticate PLAIN\r\n")
        self.assertEqual(c.readline(), b"+ ")
        c.send(plain_ir(*JOE).encode() + b"\r\n")
        _, resp = c.read_tagged("11")
        self.assertLoggedIn(resp[3:])
        evs = self.server.wait_auth(mark, user="joe", result="ok")
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0].get("mech"), "PLAIN")
        self.assertEqual(evs[0].get("clientid"), ref)
        self.assertNotInLog(tok)

    def test_res2_failed_login_carries_clientid(self):
        """CID-RES-2/CID-POL-2: a failed LOGIN still logs clientid=TYPE/fp, not the token."""
        tok = new_token()
        ev = self.login_with(b" UUID " + tok.encode(), password="not-the-password",
                             expect_ok=False)
        self.assertRegex(ev.get("clientid", ""), r"^UUID/fp=[0-9a-f]{16}$", ev["_line"])
        self.assertNotInLog(tok)
        self.assertNotInLog("not-the-password")

    def test_res2_no_clientid_logged_as_dash(self):
        """CID-RES-2: without CLIENTID the auth line says clientid=-."""
        ev = self.login_with(None)
        self.assertEqual(ev.get("clientid"), "-", ev["_line"])

    def test_res2_long_token_and_type(self):
        """CID-RES-2: a 16-char type and a 128-char token are kept; the token is
        not logged."""
        tok = (new_token().replace("-", "") * 4)[:128]
        ev = self.login_with(b" ABCDEFGHIJKLMNOP " + tok.encode())
        self.assertRegex(ev.get("clientid", ""), r"^(?i:ABCDEFGHIJKLMNOP)/fp=[0-9a-f]{16}$")
        self.assertNotInLog(tok)

    def test_res1_clientid_for_unknown_user_still_ok(self):
        """CID-RES-1/CID-POL-1: CLIENTID is OK regardless of what follows; the
        refusal happens at LOGIN with the generic failure."""
        c = self.tls()
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode()), OK_CLIENTID)
        _, resp = c.cmd("LOGIN nobody-here whatever")
        self.assertEqual(resp, AUTH_FAILED)


class ClientIdCapability(ClientIdBase):
    """CID-CAP-1, CID-CAP-2."""

    PLAIN_CAPS = BASE_CAPS | {"STARTTLS", "LOGINDISABLED"}
    TLS_CAPS = BASE_CAPS | {"AUTH=PLAIN", "CLIENTID"}

    def capability(self, c):
        untagged, resp = c.cmd("CAPABILITY")
        self.assertEqual(resp, b"OK Capability completed.")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertTrue(untagged[0].startswith(b"* CAPABILITY "), untagged)
        return set(caps_of(untagged[0]))

    def test_cap1_plain_greeting_and_capability(self):
        """CID-CAP-1: the plain STARTTLS port never advertises CLIENTID."""
        c = self.connect()
        self.assertGreetingOK(c)
        self.assertEqual(set(caps_of(c.greeting)), self.PLAIN_CAPS)
        self.assertEqual(self.capability(c), self.PLAIN_CAPS)

    def test_cap1_after_starttls(self):
        """CID-CAP-1: after STARTTLS, CAPABILITY lists CLIENTID and AUTH=PLAIN."""
        c = self.connect(starttls=True)
        self.assertEqual(self.capability(c), self.TLS_CAPS)

    def test_cap1_implicit_tls_greeting(self):
        """CID-CAP-1: the implicit-TLS port advertises CLIENTID in the greeting
        and in CAPABILITY."""
        c = self.tls()
        self.assertEqual(set(caps_of(c.greeting)), self.TLS_CAPS)
        self.assertEqual(self.capability(c), self.TLS_CAPS)

    def test_cap2_still_listed_after_clientid_and_failed_login(self):
        """CID-CAP-2: while unauthenticated it is in every listing, also after a
        valid CLIENTID and after a failed login."""
        c = self.tls()
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode()), OK_CLIENTID)
        self.assertEqual(self.capability(c), self.TLS_CAPS)
        _, resp = c.cmd("LOGIN joe wrong")
        self.assertEqual(resp, AUTH_FAILED)
        self.assertEqual(self.capability(c), self.TLS_CAPS)

    def test_cap2_gone_after_login_without_clientid(self):
        """CID-CAP-2: tagged OK [CAPABILITY] after LOGIN (no CLIENTID given) and
        CAPABILITY afterwards have no CLIENTID."""
        c = self.tls()
        _, resp = c.cmd("LOGIN joe password")
        self.assertLoggedIn(resp)
        self.assertEqual(authed_caps(self.capability(c)), AUTHED_CAPS)

    def test_cap2_gone_after_authenticate_with_clientid(self):
        """CID-CAP-2: after AUTHENTICATE PLAIN (with CLIENTID) no CLIENTID either."""
        c = self.connect(starttls=True)
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode()), OK_CLIENTID)
        _, resp = c.cmd("AUTHENTICATE PLAIN " + plain_ir(*JOE))
        self.assertLoggedIn(resp)
        self.assertEqual(authed_caps(self.capability(c)), AUTHED_CAPS)


class ClientIdRestrictions(ClientIdBase):
    """CID-RST-1, CID-RST-2, CID-RST-3."""

    def test_rst1_before_tls_unknown_command_and_not_used_up(self):
        """CID-RST-1: before TLS CLIENTID is `BAD Unknown command.`; after
        STARTTLS the same connection can give one (not used up)."""
        c = self.connect()
        tok = new_token().encode()
        self.assertEqual(self.send_clientid(c, b" UUID " + tok), b"BAD Unknown command.")
        c.starttls()
        self.assertEqual(self.send_clientid(c, b" UUID " + tok), OK_CLIENTID)

    def test_rst1_malformed_before_tls_is_unknown_command(self):
        """CID-RST-1: before TLS even a malformed CLIENTID is just unknown."""
        c = self.connect()
        self.assertEqual(self.send_clientid(c, b" UUID"), b"BAD Unknown command.")

    def test_rst2_after_login(self):
        """CID-RST-2: after LOGIN: `BAD CLIENTID is only valid before authentication.`"""
        c = self.tls()
        _, resp = c.cmd("LOGIN joe password")
        self.assertLoggedIn(resp)
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode()),
                         b"BAD CLIENTID is only valid before authentication.")
        self.still_usable(c)

    def test_rst2_after_authenticate_with_clientid(self):
        """CID-RST-2: after CLIENTID + AUTHENTICATE a further CLIENTID is BAD."""
        c = self.tls()
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode()), OK_CLIENTID)
        _, resp = c.cmd("AUTHENTICATE PLAIN " + plain_ir(*JOE))
        self.assertLoggedIn(resp)
        self.assertEqual(self.send_clientid(c, b" UUID " + new_token().encode(), b"b"),
                         b"BAD CLIENTID is only valid before authentication.")

    def test_rst3_second_clientid_bad_identity_unchanged(self):
        """CID-RST-3: a second CLIENTID is `BAD CLIENTID was already given on this
        connection.` (also an identical one) and the stored identity is unchanged."""
        t1, t2 = new_token(), new_token()
        ref = self.login_with(b" UUID " + t1.encode())["clientid"]
        c = self.tls()
        self.assertEqual(self.send_clientid(c, b" UUID " + t1.encode()), OK_CLIENTID)
        self.assertEqual(self.send_clientid(c, b" UUID " + t2.encode(), b"b"),
                         b"BAD CLIENTID was already given on this connection.")
        self.assertEqual(self.send_clientid(c, b" UUID " + t1.encode(), b"c"),
                         b"BAD CLIENTID was already given on this connection.")
        mark = self.server.mark()
        _, resp = c.cmd("LOGIN joe password")
        self.assertLoggedIn(resp)
        evs = self.server.wait_auth(mark, user="joe")
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0].get("clientid"), ref, evs[0]["_line"])
        self.assertNotInLog(t2)

    def test_rst2_failed_login_keeps_not_authenticated_state(self):
        """CID-RST-2: after a failed LOGIN the session is still not
        authenticated, so a first CLIENTID is OK and is used by the next login."""
        tok = new_token()
        ref = self.login_with(b" UUID " + tok.encode())["clientid"]
        c = self.tls()
        failed = self.server.mark()
        self.assertEqual(c.cmd("LOGIN joe wrong")[1], AUTH_FAILED)
        # the failure's log line must be read before the next mark, or it
        # would be taken for the second login's
        self.assertEqual(self.server.wait_auth(failed, user="joe")[0].get("clientid"), "-")
        self.assertEqual(self.send_clientid(c, b" UUID " + tok.encode()), OK_CLIENTID)
        mark = self.server.mark()
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        evs = self.server.wait_auth(mark, user="joe")
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0].get("clientid"), ref)

    def test_rst3_malformed_first_does_not_use_it_up(self):
        """CID-RST-3: a malformed first CLIENTID then a valid one: OK, and the
        valid one is the stored identity."""
        tok = new_token()
        ref = self.login_with(b" UUID " + tok.encode())["clientid"]
        c = self.tls()
        self.assertRegex(self.send_clientid(c, b" UUID"), BAD_CLIENTID)
        self.assertEqual(self.send_clientid(c, b" UUID " + tok.encode(), b"b"), OK_CLIENTID)
        mark = self.server.mark()
        _, resp = c.cmd("LOGIN joe password")
        self.assertLoggedIn(resp)
        evs = self.server.wait_auth(mark, user="joe")
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0].get("clientid"), ref)


class ClientIdPrivacy(ClientIdBase):
    """CID-PRV-1/CID-PRV-2: tokens never stored or logged in clear."""

    ctl_user = False
    start_class_server = False

    def test_prv1_token_not_stored_in_clear(self):
        """CID-PRV-1: after logins (ok and failed) with a CLIENTID and a clean
        shutdown, no file of the instance (state, mail, ...) contains the token,
        and the log does not either (CID-PRV-2)."""
        import os
        srv = self.dedicated_server()
        self.server = srv
        tok = new_token()
        self.login_with(b" UUID " + tok.encode())
        self.login_with(b" UUID " + tok.encode(), password="bad", expect_ok=False)
        self.assertNotInLog(tok, srv)
        self.assertEqual(srv.stop(), 0)
        hits = []
        for root, dirs, files in os.walk(srv.instance.dir):
            for fn in files:
                p = os.path.join(root, fn)
                try:
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                for form in (tok, tok.upper(), tok.replace("-", "")):
                    if form.encode() in data:
                        hits.append(p)
        self.assertEqual(hits, [], "token stored in clear")


class ClientIdDisabled(ClientIdBase):
    """CID-CAP-1/CID-RST-1 with `-o clientid=no`."""

    server_overrides = {"clientid": "no"}
    ctl_user = False

    def test_cap1_disabled_never_advertised(self):
        """CID-CAP-1: with clientid=no neither port advertises CLIENTID, and
        CLIENTID is `BAD Unknown command.` (CID-RST-1)."""
        c = self.tls()
        self.assertNotIn("CLIENTID", caps_of(c.greeting))
        self.assertIn("AUTH=PLAIN", caps_of(c.greeting))
        untagged, resp = c.cmd("CAPABILITY")
        self.assertEqual(set(caps_of(untagged[0])), BASE_CAPS | {"AUTH=PLAIN"})
        self.assertEqual(self.send_clientid(c, b" UUID " + EXAMPLE_UUID.encode()),
                         b"BAD Unknown command.")
        c2 = self.connect(starttls=True)
        untagged, resp = c2.cmd("CAPABILITY")
        self.assertEqual(set(caps_of(untagged[0])), BASE_CAPS | {"AUTH=PLAIN"})
        self.assertEqual(self.send_clientid(c2, b" UUID " + EXAMPLE_UUID.encode()),
                         b"BAD Unknown command.")
        _, resp = c2.cmd("LOGIN joe password")
        self.assertLoggedIn(resp)


if __name__ == "__main__":
    unittest.main()
