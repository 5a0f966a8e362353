"""The draft's four examples (section 6 of the spec), verbatim behaviour.

Each test names the CID-* rules it checks.
"""

import imaplib
import re
import unittest

import harness
from harness import (AUTH_FAILED, BASE_CAPS, EXAMPLE_UUID, JOE, ServerTestCase,
                     caps_of, client_context)

# imaplib refuses commands it does not know; CLIENTID is valid before login.
imaplib.Commands.setdefault("CLIENTID", ("NONAUTH",))


class DraftExamples(ServerTestCase):

    def _capability(self, c, tag):
        untagged, resp = c.cmd("CAPABILITY", tag=tag)
        self.assertEqual(resp, b"OK Capability completed.")
        caplines = [l for l in untagged if l.startswith(b"* CAPABILITY ")]
        self.assertEqual(len(caplines), 1, untagged)
        return caps_of(caplines[0])

    def test_example1_valid_clientid_then_login(self):
        """Example 1 (CID-CAP-1, CID-RES-1, CID-RES-2): plain CAPABILITY has
        STARTTLS LOGINDISABLED, no CLIENTID; after STARTTLS AUTH=PLAIN CLIENTID;
        CLIENTID UUID ... OK; LOGIN joe password OK."""
        c = self.connect()
        self.assertGreetingOK(c)
        caps = self._capability(c, "a001")
        self.assertIn("STARTTLS", caps)
        self.assertIn("LOGINDISABLED", caps)
        self.assertNotIn("CLIENTID", caps)
        self.assertNotIn("AUTH=PLAIN", caps)
        c.starttls(tag="a002")
        caps = self._capability(c, "a003")
        self.assertIn("AUTH=PLAIN", caps)
        self.assertIn("CLIENTID", caps)
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        mark = self.server.mark()
        _, resp = c.cmd("CLIENTID UUID " + EXAMPLE_UUID, tag="a004")
        self.assertEqual(resp, b"OK CLIENTID accepted.")
        _, resp = c.cmd("LOGIN joe password", tag="a005")
        self.assertLoggedIn(resp)
        evs = self.server.wait_auth(mark, user="joe", result="ok")
        self.assertEqual(len(evs), 1, self.server.snapshot()[mark:])
        self.assertEqual(evs[0].get("mech"), "LOGIN")
        self.assertRegex(evs[0].get("clientid", ""), r"^UUID/fp=[0-9a-f]{16}$")
        self.assertNotInLog(EXAMPLE_UUID)

    def test_example1_with_imaplib(self):
        """Example 1 through imaplib (IMAP4 + starttls()) (CID-CAP-1, CID-RES-1)."""
        host, port = self.server.imap_addr
        M = imaplib.IMAP4(host, port, timeout=10)
        try:
            self.assertIn("STARTTLS", M.capabilities)
            self.assertIn("LOGINDISABLED", M.capabilities)
            self.assertNotIn("CLIENTID", M.capabilities)
            typ, _ = M.starttls(ssl_context=client_context())
            self.assertEqual(typ, "OK")
            self.assertIn("AUTH=PLAIN", M.capabilities)
            self.assertIn("CLIENTID", M.capabilities)
            typ, data = M.capability()
            self.assertEqual(typ, "OK")
            self.assertIn(b"CLIENTID", data[0].split())
            typ, data = M._simple_command("CLIENTID", "UUID", EXAMPLE_UUID)
            self.assertEqual((typ, data), ("OK", [b"CLIENTID accepted."]))
            typ, data = M.login(*JOE)
            self.assertEqual(typ, "OK")
            self.assertEqual(len(data), 1)
            self.assertLoggedIn(b"OK " + data[0])
            self.assertEqual(M.state, "AUTH")
            typ, data = M.logout()
            self.assertEqual(typ, "BYE")
        finally:
            try:
                M.shutdown()
            except Exception:
                pass

    def test_example2_clientid_one_argument_bad(self):
        """Example 2 (CID-SYN-2): after TLS, `CLIENTID UUID` is BAD."""
        c = self.connect(starttls=True)
        caps = self._capability(c, "a003")
        self.assertIn("CLIENTID", caps)
        _, resp = c.cmd("CLIENTID UUID", tag="a004")
        self.assertRegex(resp, rb"^BAD CLIENTID: .+\.$")

    def test_example3_clientid_without_tls_bad(self):
        """Example 3 (CID-RST-1, CID-CAP-1): without TLS the full CLIENTID is BAD."""
        c = self.connect()
        caps = self._capability(c, "a001")
        self.assertNotIn("CLIENTID", caps)
        _, resp = c.cmd("CLIENTID UUID " + EXAMPLE_UUID, tag="a002")
        self.assertEqual(resp, b"BAD Unknown command.")

    def test_example4_generic_failure(self):
        """Example 4 (CID-POL-2): after TLS and a valid CLIENTID, a refused LOGIN
        gets exactly `NO [AUTHENTICATIONFAILED] Authentication failed.`; an
        unknown user and a wrong password are byte-for-byte equal."""
        responses = []
        for user, pw in (("joe", "wrong-password"), ("nosuchuser", "password")):
            c = self.connect(starttls=True)
            _, resp = c.cmd("CLIENTID UUID " + EXAMPLE_UUID, tag="a004")
            self.assertEqual(resp, b"OK CLIENTID accepted.")
            c.send("a005 LOGIN %s %s\r\n" % (user, pw))
            untagged, tagged = c.read_tagged("a005")
            self.assertEqual(untagged, [])
            self.assertEqual(tagged, b"a005 " + AUTH_FAILED)
            responses.append(tagged)
        self.assertEqual(responses[0], responses[1])


if __name__ == "__main__":
    unittest.main()
