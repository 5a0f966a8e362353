"""Protocol conformance, end to end: each test is one bug that Dovecot's
imaptest compliance scripts (or a comparison with Dovecot's answers) found,
checked on its own so it stays fixed without imaptest installed.

Every test takes a fresh account.
"""

import unittest

from mail_support import MailTestCase

# imaptest's "atoms" script: every ATOM-CHAR but the letters, "[" included
ATOM_CHARS = "!#$&'+,-.0123456789:;<=>?@^_`|[}"


class ConformanceTest(MailTestCase):

    def test_atom_with_unclosed_bracket(self):
        # "[" is an ATOM-CHAR: no such mailbox (NO), not a syntax error
        c = self.raw()
        u, t = c.xcmd("SELECT " + ATOM_CHARS)
        self.assertTrue(t.startswith(b"NO"), t)
        u, t = c.xcmd('LIST "" ' + ATOM_CHARS + "%*")
        self.assertTrue(t.startswith(b"OK"), t)
        self.assertEqual(u, [])
        # a FETCH attribute whose section never closes is still refused
        c.ok("SELECT INBOX")
        u, t = c.xcmd("FETCH 1:* BODY[HEADER.FIELDS (FROM)")
        self.assertTrue(t.startswith(b"BAD"), t)


if __name__ == "__main__":
    unittest.main()
