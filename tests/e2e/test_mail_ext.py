"""The extensions beyond IMAP4rev1, end to end: IMAP4rev2 after ENABLE
(RFC 9051 Appendix E: no \\Recent, ESEARCH for SEARCH, LIST at SELECT,
STATUS DELETED), ESEARCH (RFC 4731), LIST-EXTENDED (RFC 5258) with
SPECIAL-USE selection (RFC 6154) and LIST-STATUS (RFC 5819).

Responses are compared as exact lines; every test takes a fresh account.
"""

import re
import unittest

from mail_support import MailTestCase, crlf, simple_message

PERMANENT = (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
             b"\\Draft \\*)] Flags permitted.")
FLAGS = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"

# the special-use folders every new account has, all subscribed
DEFAULT_LIST = [
    b'* LIST (\\HasNoChildren \\Archive) "." "Archive"',
    b'* LIST (\\HasNoChildren \\Drafts) "." "Drafts"',
    b'* LIST (\\HasNoChildren) "." "INBOX"',
    b'* LIST (\\HasNoChildren \\Junk) "." "Junk"',
    b'* LIST (\\HasNoChildren \\Sent) "." "Sent"',
    b'* LIST (\\HasNoChildren \\Trash) "." "Trash"',
]


def without_caps(untagged):
    """Untagged responses minus the '* CAPABILITY' kind."""
    return [l for l in untagged if not l.startswith(b"* CAPABILITY")]


class MailExtTest(MailTestCase):

    def rev2(self, user=None):
        c = self.raw(user)
        u, t = c.ok("ENABLE IMAP4rev2")
        self.assertEqual(u, [b"* ENABLED IMAP4rev2"])
        return c

    # -- capabilities and ENABLE ---------------------------------------------
    def test_capabilities(self):
        # before login: IMAP4rev2 cannot be enabled yet, so not offered
        c = self.connect(tls=True)
        u, t = c.cmd("CAPABILITY")
        self.assertEqual(len(u), 1)
        self.assertTrue(u[0].startswith(b"* CAPABILITY IMAP4rev1 LITERAL+ "), u)
        self.assertNotIn(b"IMAP4rev2", u[0])
        self.assertNotIn(b"ESEARCH", u[0])
        c = self.raw()
        u, t = c.ok("CAPABILITY")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], rb"^\* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL\+ "
                         rb"SASL-IR ID ENABLE IDLE UIDPLUS MOVE UNSELECT "
                         rb"NAMESPACE CHILDREN SPECIAL-USE STATUS=SIZE "
                         rb"APPENDLIMIT=\d+ ESEARCH LIST-EXTENDED LIST-STATUS BINARY$")

    def test_enable_imap4rev2(self):
        c = self.raw()
        # RFC 5161: ENABLED lists only what this command turned on
        u, t = c.ok("ENABLE X-UNKNOWN imap4REV2 X-OTHER")
        self.assertEqual(u, [b"* ENABLED IMAP4rev2"])
        self.assertEqual(t, b"OK ENABLE completed.")
        u, t = c.ok("ENABLE IMAP4rev2")
        self.assertEqual(u, [b"* ENABLED"])
        u, t = c.xcmd('ENABLE "IMAP4rev2"')
        self.assertEqual(t, b"BAD ENABLE takes atoms.")
        # imaplib too
        M = self.imap()
        typ, data = M.enable("IMAP4rev2")
        self.assertEqual((typ, data), ("OK", [b"ENABLE completed."]))
        self.assertEqual(M.untagged_responses.pop("ENABLED"), [b"IMAP4rev2"])

    # -- IMAP4rev2: no \Recent, SELECT ---------------------------------------
    def test_rev1_still_has_recent(self):
        user = self.fresh_user()
        self.deliver(user, simple_message(subject="one"))
        c = self.raw(user)
        u, t = c.ok("SELECT INBOX")
        self.assertIn(b"* 1 RECENT", u)
        self.assertIn(b"* OK [UNSEEN 1] First unseen.", u)
        self.assertNotIn(b'* LIST () "." "INBOX"', u)
        u, t = c.ok("FETCH 1 FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (\\Recent))"])
        u, t = c.ok("SEARCH RECENT")
        self.assertEqual(u, [b"* SEARCH 1"])
        u, t = c.ok("SELECT Sent")   # no [CLOSED] in rev1, as before
        self.assertFalse(any(b"CLOSED" in l for l in u), u)

    def test_rev2_select_fetch_without_recent(self):
        user = self.fresh_user()
        self.deliver(user, simple_message(subject="one"))
        self.deliver(user, simple_message(subject="two"))
        c = self.rev2(user)
        u, t = c.ok("SELECT INBOX")
        uidvalidity = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(u)).group(1)
        self.assertEqual(u, [
            FLAGS, PERMANENT, b"* 2 EXISTS",
            b"* OK [UIDVALIDITY " + uidvalidity + b"] UIDs valid.",
            b"* OK [UIDNEXT 3] Predicted next UID.",
            b'* LIST () "." "INBOX"'])
        self.assertEqual(t, b"OK [READ-WRITE] Select completed.")
        u, t = c.ok("FETCH 1:* FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS ())"])
        # a new message: EXISTS without RECENT, and no \Recent on it
        self.deliver(user, simple_message(subject="three"))
        u, t = c.ok("NOOP")
        self.assertEqual(u, [b"* 3 EXISTS"])
        u, t = c.ok("FETCH 3 (UID FLAGS)")
        self.assertEqual(u, [b"* 3 FETCH (UID 3 FLAGS ())"])
        u, t = c.ok("STORE 3 +FLAGS (\\Seen)")
        self.assertEqual(u, [b"* 3 FETCH (FLAGS (\\Seen))"])
        # selecting again closes the first (RFC 9051 6.3.2)
        u, t = c.ok("EXAMINE inbox")
        self.assertEqual(u[0], b"* OK [CLOSED] Previous mailbox closed.")
        self.assertEqual(u[-1], b'* LIST () "." "INBOX"')
        self.assertNotIn(b"RECENT", b"\n".join(u))
        self.assertEqual(t, b"OK [READ-ONLY] Examine completed.")

    def test_rev2_mailbox_names_are_utf8(self):
        """RFC 9051 5.1: after ENABLE IMAP4rev2 mailbox names go both ways
        in UTF-8 ("&" is a plain ampersand); the store keeps modified UTF-7,
        so an IMAP4rev1 session of the same user sees "Entw&APw-rfe"."""
        c = self.rev2()
        name = "Entw\u00fcrfe".encode()
        tag = c.next_tag()
        c.send(b'%s CREATE "%s"\r\n' % (tag.encode(), name))
        u, t = c.read_tagged(tag)
        self.assertIn(b"OK", t)
        u, t = c.ok('CREATE "R&D"')
        u, t = c.ok('LIST "" "*"')
        self.assertIn(b'* LIST (\\HasNoChildren) "." {%d}\r\n%s' % (len(name), name), u)
        self.assertIn(b'* LIST (\\HasNoChildren) "." "R&D"', u)
        tag = c.next_tag()
        c.send(b'%s SELECT "%s"\r\n' % (tag.encode(), name))
        u, t = c.read_tagged(tag)
        self.assertIn(b"OK [READ-WRITE]", t)
        self.assertIn(b'* LIST () "." {%d}\r\n%s' % (len(name), name), u)
        tag = c.next_tag()
        c.send(b'%s STATUS "%s" (MESSAGES)\r\n' % (tag.encode(), name))
        u, t = c.read_tagged(tag)
        self.assertEqual(u, [b'* STATUS {%d}\r\n%s (MESSAGES 0)' % (len(name), name)])
        # a pattern in UTF-8 matches in UTF-8
        tag = c.next_tag()
        c.send(b'%s LIST "" "Entw\xc3\xbc*"\r\n' % tag.encode())
        u, t = c.read_tagged(tag)
        self.assertEqual(len(u), 1, u)
        # invalid UTF-8 is no name
        tag = c.next_tag()
        c.send(b'%s CREATE "bad\xff"\r\n' % tag.encode())
        u, t = c.read_tagged(tag)
        self.assertIn(b" BAD ", t)
        # the rev1 view of the same folders
        r1 = self.raw(c.user)
        u, t = r1.ok('LIST "" "*"')
        self.assertIn(b'* LIST (\\HasNoChildren) "." "Entw&APw-rfe"', u)
        self.assertIn(b'* LIST (\\HasNoChildren) "." "R&-D"', u)
        u, t = r1.ok('STATUS "Entw&APw-rfe" (MESSAGES)')
        self.assertEqual(u, [b'* STATUS "Entw&APw-rfe" (MESSAGES 0)'])

    def test_rev2_status(self):
        c = self.rev2()
        for flags in ("\\Deleted", "\\Deleted \\Seen", "\\Seen", None):
            c.append("INBOX", simple_message(), flags=flags)
        u, t = c.ok("STATUS INBOX (MESSAGES DELETED UNSEEN)")
        self.assertEqual(u, [b'* STATUS "INBOX" (MESSAGES 4 UNSEEN 2 DELETED 2)'])
        u, t = c.xcmd("STATUS INBOX (MESSAGES RECENT)")
        self.assertEqual((u, t), ([], b"BAD STATUS RECENT is not part of IMAP4rev2."))

    def test_status_deleted_in_rev1(self):
        c = self.raw()
        c.append("Sent", simple_message(), flags="\\Deleted")
        c.append("Sent", simple_message())
        u, t = c.ok("STATUS Sent (DELETED RECENT MESSAGES)")
        self.assertEqual(u, [b'* STATUS "Sent" (MESSAGES 2 RECENT 2 DELETED 1)'])
        u, t = c.xcmd("STATUS Sent (DELETED-STORAGE)")
        self.assertEqual(t, b"BAD Unknown STATUS item.")

    # -- SEARCH: ESEARCH -----------------------------------------------------
    def _box(self, c):
        """Six appended, the second expunged: sequence numbers 1-5 are
        UIDs 1 3 4 5 6; 1 and 4 are seen, 3 flagged."""
        for flags in ("\\Seen", "\\Deleted", None, "\\Flagged", "\\Seen", None):
            c.append("INBOX", simple_message(subject="s"), flags=flags)
        c.ok("SELECT INBOX")
        c.ok("EXPUNGE")

    def test_esearch_return_options(self):
        c = self.raw()
        self._box(c)
        cases = [
            ("SEARCH RETURN (MIN MAX ALL COUNT) UNSEEN",
             b'* ESEARCH (TAG "e1") MIN 2 MAX 5 ALL 2:3,5 COUNT 3'),
            ("SEARCH RETURN (COUNT ALL MAX MIN) UNSEEN",
             b'* ESEARCH (TAG "e2") MIN 2 MAX 5 ALL 2:3,5 COUNT 3'),
            ("SEARCH RETURN () ALL", b'* ESEARCH (TAG "e3") ALL 1:5'),
            ("SEARCH RETURN (all) 1,3,5", b'* ESEARCH (TAG "e4") ALL 1,3,5'),
            ("SEARCH RETURN (COUNT) KEYWORD none", b'* ESEARCH (TAG "e5") COUNT 0'),
            ("SEARCH RETURN (MIN MAX ALL) KEYWORD none", b'* ESEARCH (TAG "e6")'),
            ("SEARCH RETURN (MAX) CHARSET UTF-8 FLAGGED",
             b'* ESEARCH (TAG "e7") MAX 3'),
            ("UID SEARCH RETURN (MIN ALL) ALL", b'* ESEARCH (TAG "e8") UID MIN 1 ALL 1,3:6'),
            ("UID SEARCH RETURN (COUNT) SEEN", b'* ESEARCH (TAG "e9") UID COUNT 2'),
            ("UID SEARCH RETURN () KEYWORD none", b'* ESEARCH (TAG "e10") UID'),
        ]
        for i, (cmd, want) in enumerate(cases, 1):
            with self.subTest(cmd=cmd):
                u, t = c.cmd(cmd, tag="e%d" % i)
                self.assertEqual(u, [want])
                self.assertEqual(t, b"OK Search completed.")
        # without RETURN a rev1 session still gets SEARCH
        u, t = c.ok("SEARCH UNSEEN")
        self.assertEqual(u, [b"* SEARCH 2 3 5"])
        u, t = c.ok("UID SEARCH UNSEEN")
        self.assertEqual(u, [b"* SEARCH 3 4 6"])

    def test_esearch_errors(self):
        c = self.raw()
        self._box(c)
        for cmd, want in [
                ("SEARCH RETURN (SAVE) ALL", b"BAD SEARCH: unknown RETURN option."),
                ("SEARCH RETURN (MIN (MAX)) ALL", b"BAD SEARCH: unknown RETURN option."),
                ("SEARCH RETURN ALL", b"BAD SEARCH: RETURN takes a list of options."),
                ("SEARCH RETURN", b"BAD SEARCH: RETURN takes a list of options."),
                ("SEARCH RETURN (MIN)", b"BAD SEARCH: empty search."),
                ("SEARCH CHARSET UTF-8 RETURN (MIN) ALL", b"BAD SEARCH: unknown search key."),
                ("SEARCH CHARSET (UTF-8) ALL", b"BAD SEARCH: CHARSET takes a charset name."),
                ("SEARCH RETURN (MIN) CHARSET KOI8-R ALL",
                 b"NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.")]:
            with self.subTest(cmd=cmd):
                u, t = c.xcmd(cmd)
                self.assertEqual((u, t), ([], want))
        c.ok("NOOP")

    def test_rev2_search_answers_esearch(self):
        c = self.rev2()
        self._box(c)
        u, t = c.cmd("SEARCH UNSEEN", tag="r1")
        self.assertEqual(u, [b'* ESEARCH (TAG "r1") ALL 2:3,5'])
        u, t = c.cmd("UID SEARCH UNSEEN", tag="r2")
        self.assertEqual(u, [b'* ESEARCH (TAG "r2") UID ALL 3:4,6'])
        u, t = c.cmd("SEARCH KEYWORD none", tag="r3")
        self.assertEqual(u, [b'* ESEARCH (TAG "r3")'])
        u, t = c.cmd("SEARCH RETURN (COUNT) ALL", tag="r4")
        self.assertEqual(u, [b'* ESEARCH (TAG "r4") COUNT 5'])
        # nothing is recent in rev2
        u, t = c.cmd("SEARCH RECENT", tag="r5")
        self.assertEqual(u, [b'* ESEARCH (TAG "r5")'])

    def test_esearch_imaplib(self):
        M = self.imap()
        for flags in ("(\\Seen)", None, None):
            self.assertEqual(M.append("INBOX", flags, None, simple_message())[0], "OK")
        M.select("INBOX")
        typ, data = M.search(None, "RETURN", "(MIN COUNT)", "UNSEEN")
        self.assertEqual((typ, data), ("OK", [None]))   # no SEARCH response
        esearch = M.untagged_responses.pop("ESEARCH")
        self.assertEqual(len(esearch), 1)
        self.assertRegex(esearch[0], rb'^\(TAG "[A-Z]+\d+"\) MIN 2 COUNT 2$')

    # -- LIST-EXTENDED -------------------------------------------------------
    def _tree(self, c):
        """Fruit{banana, peach(deleted, still subscribed)}, Vegetable
        {broccoli}; banana, peach, Vegetable and broccoli subscribed."""
        for n in ("Fruit", "Fruit.banana", "Fruit.peach", "Vegetable",
                  "Vegetable.broccoli"):
            c.ok("CREATE " + n)
        for n in ("Fruit.banana", "Fruit.peach", "Vegetable",
                  "Vegetable.broccoli"):
            c.ok("SUBSCRIBE " + n)
        c.ok("DELETE Fruit.peach")

    def test_list_subscribed_nonexistent(self):
        c = self.raw()
        self._tree(c)
        u, t = c.ok('LIST (SUBSCRIBED) "" "*"')
        self.assertEqual(u, [
            b'* LIST (\\HasNoChildren \\Archive \\Subscribed) "." "Archive"',
            b'* LIST (\\HasNoChildren \\Drafts \\Subscribed) "." "Drafts"',
            b'* LIST (\\HasNoChildren \\Subscribed) "." "Fruit.banana"',
            b'* LIST (\\Subscribed \\NonExistent) "." "Fruit.peach"',
            b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"',
            b'* LIST (\\HasNoChildren \\Junk \\Subscribed) "." "Junk"',
            b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "." "Sent"',
            b'* LIST (\\HasNoChildren \\Trash \\Subscribed) "." "Trash"',
            b'* LIST (\\HasChildren \\Subscribed) "." "Vegetable"',
            b'* LIST (\\HasNoChildren \\Subscribed) "." "Vegetable.broccoli"',
        ])
        self.assertEqual(t, b"OK List completed.")
        # plain LIST: neither the deleted name nor \Subscribed
        u, t = c.ok('LIST "" "Fruit*"')
        self.assertEqual(u, [b'* LIST (\\HasChildren) "." "Fruit"',
                             b'* LIST (\\HasNoChildren) "." "Fruit.banana"'])
        # the same as the RFC 3501 form with RETURN (SUBSCRIBED)
        u, t = c.ok('LIST () "" "Fruit*" RETURN (SUBSCRIBED)')
        self.assertEqual(u, [b'* LIST (\\HasChildren) "." "Fruit"',
                             b'* LIST (\\HasNoChildren \\Subscribed) "." "Fruit.banana"'])
        # LSUB shows the subscribed name that is no mailbox
        u, t = c.ok('LSUB "" "Fruit.*"')
        self.assertEqual(u, [b'* LSUB () "." "Fruit.banana"',
                             b'* LSUB (\\Noselect) "." "Fruit.peach"'])

    def test_list_recursivematch_childinfo(self):
        c = self.raw()
        self._tree(c)
        u, t = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
        self.assertEqual(u, [
            b'* LIST (\\HasNoChildren \\Archive \\Subscribed) "." "Archive"',
            b'* LIST (\\HasNoChildren \\Drafts \\Subscribed) "." "Drafts"',
            b'* LIST (\\HasChildren) "." "Fruit" ("CHILDINFO" ("SUBSCRIBED"))',
            b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"',
            b'* LIST (\\HasNoChildren \\Junk \\Subscribed) "." "Junk"',
            b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "." "Sent"',
            b'* LIST (\\HasNoChildren \\Trash \\Subscribed) "." "Trash"',
            b'* LIST (\\HasChildren \\Subscribed) "." "Vegetable" ("CHILDINFO" ("SUBSCRIBED"))',
        ])
        # with "*" every subscribed child is listed itself: no CHILDINFO
        u, t = c.ok('LIST (RECURSIVEMATCH SUBSCRIBED) "" "Vegetable*"')
        self.assertEqual(u, [
            b'* LIST (\\HasChildren \\Subscribed) "." "Vegetable"',
            b'* LIST (\\HasNoChildren \\Subscribed) "." "Vegetable.broccoli"'])
        u, t = c.xcmd('LIST (RECURSIVEMATCH) "" "%"')
        self.assertEqual((u, t), ([], b"BAD LIST: RECURSIVEMATCH needs SUBSCRIBED or "
                                      b"SPECIAL-USE."))

    def test_list_special_use_and_remote(self):
        c = self.raw()
        self._tree(c)
        specials = [l for l in DEFAULT_LIST if b'"INBOX"' not in l]
        u, t = c.ok('LIST (SPECIAL-USE) "" "*"')
        self.assertEqual(u, specials)
        u, t = c.ok('LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')
        self.assertEqual(u, specials)
        # REMOTE: there is nothing remote, so the same as plain LIST
        u, t = c.ok('LIST (REMOTE) "" "%"')
        self.assertEqual(u, DEFAULT_LIST[:2] + [b'* LIST (\\HasChildren) "." "Fruit"']
                         + DEFAULT_LIST[2:] + [b'* LIST (\\HasChildren) "." "Vegetable"'])
        u, t = c.ok('LIST () "" "INBOX" RETURN (CHILDREN)')
        self.assertEqual(u, [b'* LIST (\\HasNoChildren) "." "INBOX"'])
        for cmd in ('LIST () "" ""', 'LIST "" "" RETURN (CHILDREN)',
                    'LIST (REMOTE) "" ("")'):
            u, t = c.ok(cmd)
            self.assertEqual(u, [b'* LIST (\\Noselect) "." ""'], cmd)
        u, t = c.ok('LIST (SUBSCRIBED) "" ""')
        self.assertEqual(u, [])

    def test_list_multiple_patterns(self):
        c = self.raw()
        self._tree(c)
        u, t = c.ok('LIST "" ("inbox" "Sent" "Vegetable.%" "Sent")')
        self.assertEqual(u, [b'* LIST (\\HasNoChildren) "." "INBOX"',
                             b'* LIST (\\HasNoChildren \\Sent) "." "Sent"',
                             b'* LIST (\\HasNoChildren) "." "Vegetable.broccoli"'])
        u, t = c.ok('LIST "Fruit." ("%" "nothing")')
        self.assertEqual(u, [b'* LIST (\\HasNoChildren) "." "Fruit.banana"'])
        # imaplib passes the list through
        M = self.imap(c.user)
        typ, data = M.list('""', '(INBOX Trash)')
        self.assertEqual((typ, data), ("OK", [b'(\\HasNoChildren) "." "INBOX"',
                                              b'(\\HasNoChildren \\Trash) "." "Trash"']))

    def test_list_status(self):
        c = self.raw()
        self._tree(c)
        c.append("Vegetable.broccoli", simple_message(), flags="\\Seen")
        c.append("Vegetable.broccoli", simple_message())
        u, t = c.ok('LIST "" ("INBOX" "Vegetable*") RETURN (STATUS (MESSAGES UNSEEN))')
        self.assertEqual(u, [
            b'* LIST (\\HasNoChildren) "." "INBOX"',
            b'* STATUS "INBOX" (MESSAGES 0 UNSEEN 0)',
            b'* LIST (\\HasChildren) "." "Vegetable"',
            b'* STATUS "Vegetable" (MESSAGES 0 UNSEEN 0)',
            b'* LIST (\\HasNoChildren) "." "Vegetable.broccoli"',
            b'* STATUS "Vegetable.broccoli" (MESSAGES 2 UNSEEN 1)',
        ])
        # no STATUS for a name that is no mailbox
        u, t = c.ok('LIST (SUBSCRIBED) "" "Fruit.*" RETURN (STATUS (UIDNEXT SIZE) CHILDREN)')
        self.assertEqual(u, [
            b'* LIST (\\HasNoChildren \\Subscribed) "." "Fruit.banana"',
            b'* STATUS "Fruit.banana" (UIDNEXT 1 SIZE 0)',
            b'* LIST (\\Subscribed \\NonExistent) "." "Fruit.peach"',
        ])
        # rev2: RECENT is no STATUS item there either
        u, t = c.ok('LIST "" "INBOX" RETURN (STATUS (RECENT))')
        self.assertEqual(u[1], b'* STATUS "INBOX" (RECENT 0)')
        c.ok("ENABLE IMAP4rev2")
        u, t = c.xcmd('LIST "" "INBOX" RETURN (STATUS (RECENT))')
        self.assertEqual((u, t), ([], b"BAD STATUS RECENT is not part of IMAP4rev2."))

    def test_list_extended_errors(self):
        c = self.raw()
        for cmd, want in [
                ('LIST (BOGUS) "" "*"', b"BAD LIST: unknown selection option."),
                ('LIST ((SUBSCRIBED)) "" "*"', b"BAD LIST: unknown selection option."),
                ('LIST "" "*" RETURN (BOGUS)', b"BAD LIST: unknown return option."),
                ('LIST "" "*" RETURN (STATUS)',
                 b"BAD LIST: RETURN STATUS takes a list of items."),
                ('LIST "" "*" RETURN (STATUS (BOGUS))', b"BAD Unknown STATUS item."),
                ('LIST "" "*" RETURN SUBSCRIBED',
                 b"BAD LIST: expected RETURN and a list of options."),
                ('LIST "" "*" FOO (CHILDREN)',
                 b"BAD LIST: expected RETURN and a list of options."),
                ('LIST "" "*" RETURN (CHILDREN) X',
                 b"BAD LIST: expected RETURN and a list of options."),
                ('LIST "" ()', b"BAD LIST takes a reference and a pattern."),
                ('LIST ()', b"BAD LIST takes a reference and a pattern."),
                ('LIST "" ((INBOX))', b"BAD LIST: a pattern must be a string."),
                ('LIST "" (%s)' % " ".join(["x"] * 65), b"BAD LIST: too many patterns."),
                ('LSUB () "" "*"', b"BAD LSUB takes a reference and a pattern.")]:
            with self.subTest(cmd=cmd):
                u, t = c.xcmd(cmd)
                self.assertEqual((u, t), ([], want))
        c.ok("NOOP")


if __name__ == "__main__":
    unittest.main()
