"""Protocol conformance, end to end: each test is one bug that Dovecot's
imaptest compliance scripts (or a comparison with Dovecot's answers) found,
checked on its own so it stays fixed without imaptest installed.

Every test takes a fresh account.
"""

import os
import re
import socket
import unittest

from mail_support import MailTestCase, crlf, search_result

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

    def test_append_literal8_binary_part(self):
        # imaptest's append-binary: the part comes back from BINARY[]
        # exactly, and BODY[] never carries its NUL
        raw = b"\x00-\xe4\n\r\n\n"
        msg = (b"From: user@domain.org\r\n"
               b"Date: Sat, 24 Mar 2007 23:00:00 +0200\r\n"
               b"Mime-Version: 1.0\r\n"
               b"Content-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + raw)
        c = self.raw()
        tag = c.next_tag()
        c.send(b"%s APPEND INBOX ~{%d}\r\n" % (tag.encode(), len(msg)))
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(msg + b"\r\n")
        u, t = c.read_tagged(tag)
        self.assertTrue(t.startswith(tag.encode() + b" OK"), t)
        c.ok("SELECT INBOX")
        u, t = c.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
        self.assertEqual(u, [b"* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n"
                             + raw + b")"])
        d = c.fetch("1", "(BODY.PEEK[] BODY.PEEK[1])")[1]
        self.assertNotIn(b"\x00", d["BODY[]"])
        self.assertEqual(d["BODY[1]"], b"AC3kCg0KCg==\r\n")
        self.assertIn(b"\r\nContent-Transfer-Encoding: base64\r\n",
                      d["BODY[]"])

    def test_search_from_address_with_comments(self):
        # imaptest's search-addresses: FROM matches the parsed address
        c = self.raw()
        for frm in ("user-from@domain.org",
                    "<user-from (comment)@ (comment) domain.org>",
                    "user-from@domain.org (RealFrom)",
                    "user-from1@domain.org, user-from2@domain.org"):
            self.deliver(c.user, crlf("From: %s\n\nbody\n" % frm))
        self.deliver(c.user, crlf("From: a@b\nTo: groupname: g1@d.org, "
                                  "g2@d.org;,\n  groupname2: g3@d.org;\n"
                                  "\nbody\n"))
        c.ok("SELECT INBOX")
        u, t = c.ok("SEARCH FROM user-from@domain.org")
        self.assertEqual(search_result(u), [1, 2, 3])
        u, t = c.ok("SEARCH FROM realfrom")
        self.assertEqual(search_result(u), [3])
        u, t = c.ok("SEARCH TO groupname2")
        self.assertEqual(search_result(u), [5])
        u, t = c.ok("SEARCH TO g3@d.org")
        self.assertEqual(search_result(u), [5])

    def test_search_header_any_field_of_the_name(self):
        # imaptest's search-header: the second X-Extra holds the string
        c = self.raw()
        self.deliver(c.user, crlf("Subject: hello beautiful world\n\nbody\n"))
        self.deliver(c.user, crlf("X-Extra: hello beautiful header\n"
                                  "X-Extra: another one\n\nbody\n"))
        c.ok("SELECT INBOX")
        for key, want in (('HEADER x-extra "another"', [2]),
                          ('HEADER x-extra "eautiful head"', [2]),
                          ('HEADER x-extra ""', [2]),
                          ('NOT HEADER x-extra "one"', [1])):
            u, t = c.ok("SEARCH " + key)
            self.assertEqual(search_result(u), want, key)

    def test_store_two_sessions_keep_each_others_flags(self):
        # imaptest's store script, its last four commands
        c1 = self.raw()
        self.deliver(c1.user, crlf("Subject: x\n\nbody\n"))
        c2 = self.raw(c1.user)
        c1.ok("SELECT INBOX")
        c2.ok("SELECT INBOX")
        c1.ok("STORE 1 FLAGS (\\Seen)")
        c2.ok("CHECK")
        c1.ok("STORE 1 +FLAGS (\\Answered)")
        u, t = c2.ok("STORE 1 -FLAGS (\\Seen)")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (\\Answered))"])
        c1.ok("CHECK")
        c2.ok("CHECK")
        for c in (c1, c2):
            flags = c.fetch("1", "FLAGS")[1]["FLAGS"]
            self.assertEqual(sorted(set(flags) - {"\\Recent"}),
                             ["\\Answered"])
        # a stale session adding a flag its old view already shows
        c2.ok("STORE 1 -FLAGS (\\Answered)")
        c1.ok("STORE 1 +FLAGS (\\Answered)")
        c2.ok("CHECK")
        flags = c2.fetch("1", "FLAGS")[1]["FLAGS"]
        self.assertIn("\\Answered", flags)

    def test_new_keyword_in_flags_before_any_fetch_shows_it(self):
        # imaptest's stress checks: "Keyword used without being in FLAGS"
        c1 = self.raw()
        self.deliver(c1.user, crlf("Subject: x\n\nbody\n"))
        c2 = self.raw(c1.user)
        c1.ok("SELECT INBOX")
        c2.ok("SELECT INBOX")
        u, t = c1.ok("STORE 1 +FLAGS ($kw1 NIL)")
        self.assertEqual(u, [
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
            b"$kw1 NIL)",
            b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
            b"\\Seen \\Draft $kw1 NIL \\*)] Flags permitted.",
            b"* 1 FETCH (FLAGS (\\Recent $kw1 NIL))"])
        # the other session is told at its next sync, before the FETCH
        u, t = c2.ok("NOOP")
        self.assertEqual(len(u), 3, u)
        self.assertTrue(u[0].startswith(b"* FLAGS ("), u)
        self.assertIn(b" $kw1 NIL)", u[0])
        self.assertTrue(u[1].startswith(b"* OK [PERMANENTFLAGS ("), u)
        self.assertEqual(u[2], b"* 1 FETCH (FLAGS ($kw1 NIL))")
        # and only once
        c1.ok("STORE 1 -FLAGS ($kw1)")
        u, t = c2.ok("NOOP")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (NIL))"])
        # a keyword APPENDed into the selected mailbox
        u, t = c1.append("INBOX", crlf("Subject: y\n\nbody\n"), flags="$kw2")
        self.assertTrue(u[0].startswith(b"* FLAGS ("), u)
        self.assertIn(b" $kw2)", u[0])

    # -- a message expunged by another session while FETCH answers -------

    def big_files(self, c, n, size):
        """n messages of size octets (streamed by FETCH: >= 256 KiB) in
        INBOX, selected; returns their files, in UID order."""
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST\r\n"
        for i in range(n):
            head = b"Subject: big %d\r\n\r\n" % i
            self.deliver(c.user, head + line * ((size - len(head)) // len(line)))
        c.ok("SELECT INBOX")
        files = self.message_files(c.user)
        self.assertEqual(len(files), n)
        root = self.folder_dir(c.user, "INBOX")
        # names start with the delivery time: sorted is UID order here
        return [os.path.join(root, f) for f in sorted(
            files, key=lambda f: f.split("/", 1)[1])]

    def test_fetch_of_a_message_gone_before_its_literal(self):
        # Its file is removed between SELECT and FETCH: once a literal of
        # spaces was announced for it; now it is left out, and the
        # command says EXPUNGEISSUED (RFC 9051 7.1).
        c = self.raw()
        files = self.big_files(c, 2, 300 * 1024)
        os.unlink(files[0])
        tag = c.next_tag()
        c.send("%s FETCH 1:2 (BODY.PEEK[])\r\n" % tag)
        u, t = c.read_tagged(tag, timeout=30)
        self.assertEqual(len(u), 1, [l[:60] for l in u])
        self.assertTrue(u[0].startswith(b"* 2 FETCH (BODY[] {"), u[0][:60])
        self.assertNotIn(b"     ", u[0])
        self.assertEqual(t, tag.encode() + b" OK [EXPUNGEISSUED] Some "
                         b"messages were already expunged.")
        # the sync reports it; the session goes on
        u, t = c.ok("NOOP")
        self.assertIn(b"* 1 EXPUNGE", u)

    def test_fetch_keeps_reading_a_message_expunged_mid_literal(self):
        # The first message's literal is under way when both files are
        # removed: it comes out whole (the file was opened before its size
        # was announced), the second is left out.
        size = 12 * 1024 * 1024
        c = self.raw()
        # no autotuned receive window: what is in flight (this buffer and
        # the server's send buffer, 4 MiB at most) is far less than one
        # message, so the server is inside the first literal below
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        files = self.big_files(c, 2, size)
        tag = c.next_tag()
        c.send("%s FETCH 1:2 (BODY.PEEK[])\r\n" % tag)
        line = c.readline(timeout=30)
        m = re.match(rb"^\* 1 FETCH \(BODY\[\] \{(\d+)\}$", line)
        self.assertIsNotNone(m, line)
        n = int(m.group(1))
        # the server stops after IMAP_MAIL_OUTPUT_CHUNK until we read:
        # it is inside this 12 MiB literal now
        for f in files:
            os.unlink(f)
        body = c.read_exact(n, timeout=60)
        self.assertEqual(len(body), n)
        self.assertTrue(body.startswith(b"Subject: big 0\r\n\r\n0123"))
        self.assertNotIn(b"  ", body)
        self.assertEqual(c.readline(timeout=30), b")")
        u, t = c.read_tagged(tag, timeout=30)
        self.assertEqual(u, [])
        self.assertEqual(t, tag.encode() + b" OK [EXPUNGEISSUED] Some "
                         b"messages were already expunged.")

    def test_pipelined_command_after_a_big_answer(self):
        # imaptest's stress run stalled for minutes: a FETCH answer of
        # over 64 KiB (IMAP_OUTPUT_HIGH_WATER) made the session stop with
        # the next command already read; once the answer was written out
        # nothing ran that command, as the client sent nothing more.
        c = self.raw()
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST\r\n"
        self.deliver(c.user, b"Subject: 100k\r\n\r\n" + line * 1700)
        c.ok("SELECT INBOX")
        c.send(b"a FETCH 1 (BODY.PEEK[])\r\nb NOOP\r\nc NOOP\r\n")
        u, t = c.read_tagged("a", timeout=10)
        self.assertTrue(t.startswith(b"a OK"), t)
        u, t = c.read_tagged("b", timeout=10)
        self.assertEqual(t, b"b OK NOOP completed.")
        u, t = c.read_tagged("c", timeout=10)
        self.assertEqual(t, b"c OK NOOP completed.")


if __name__ == "__main__":
    unittest.main()
