"""Big messages in and out without holding them in memory, output bounded
per session whatever a FETCH asks for, and BINARY (RFC 3516).

* APPEND of a 50 MB message: the literal goes to a file as it arrives
  (src/imap/parser.c spill), so the server's peak resident memory grows by
  far less than the message.
* FETCH BODY[] of it: copied from the file a chunk at a time (cmd-fetch.c
  streaming), byte-exact, again without the peak growing by the message.
* A message stored with bare LF line ends is served with CRLF, its literal
  exactly RFC822.SIZE octets, partial fetches cut in CRLF space.
* FETCH 1:* of many bodies stops and resumes (IMAP_MAIL_OUTPUT_CHUNK) and
  still answers every message once, in order.
* BINARY[], BINARY[part], BINARY.PEEK, BINARY.SIZE, literal8 for content
  with NUL, [UNKNOWN-CTE], APPEND with a literal8.
"""

import base64
import hashlib
import re
import unittest

from harness import sanitized
from mail_support import MailTestCase, crlf, fetch_dict, simple_message

MB = 1024 * 1024
BIG = 50 * MB
# The peak resident memory may grow by this much over a 50 MB transfer:
# buffers of a few hundred KiB plus allocator slack, but never the message.
GROWTH_MAX = 16 * MB


def vm_hwm(pid):
    """Peak resident set size of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % pid)


def flags(d):
    """A FETCH's FLAGS without \\Recent (the session's, not the message's)."""
    return [f for f in d["FLAGS"] if f != "\\Recent"]


def big_message(size):
    """A message of exactly size octets with CRLF line ends; deterministic."""
    head = (b"From: Big <big@example.org>\r\nTo: joe@example.org\r\n"
            b"Subject: fifty megabytes\r\nMessage-ID: <big@example.org>\r\n\r\n")
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=\r\n"
    body = line * ((size - len(head)) // len(line))
    pad = size - len(head) - len(body)
    return head + body + b"x" * (pad - 2) + b"\r\n" if pad >= 2 else head + body + b"\r\n"[:pad]


class StreamTest(MailTestCase):

    def assertPeakGrowth(self, srv, base, what):
        if sanitized():
            return  # ASan's quarantine keeps freed memory resident
        peak = vm_hwm(srv.proc.pid)
        self.assertLess(peak - base, GROWTH_MAX,
                        "%s held the message: peak RSS %d -> %d" % (what, base, peak))

    def _read_literal_hash(self, c, n):
        """Reads n literal octets straight off the socket into a hash (the
        harness's buffer would copy 50 MB over and over)."""
        h = hashlib.sha256()
        got = min(len(c.buf), n)
        h.update(c.buf[:got])
        c.buf = c.buf[got:]
        c.sock.settimeout(60)
        while got < n:
            chunk = c.sock.recv(min(1 << 20, n - got))
            if not chunk:
                raise AssertionError("closed after %d of %d octets" % (got, n))
            h.update(chunk)
            got += len(chunk)
        return h.hexdigest()

    def test_append_and_fetch_50mb_streamed(self):
        """A 50 MB APPEND and FETCH BODY[]: byte-exact round trip, APPENDUID,
        RFC822.SIZE, and the server's peak RSS grows by < 16 MB each way."""
        srv = self.dedicated_server()
        c = self.raw(("joe", "password"), server=srv)
        c.timeout = 60
        msg = big_message(BIG)
        self.assertEqual(len(msg), BIG)
        want = hashlib.sha256(msg).hexdigest()
        c.ok("SELECT INBOX")
        base = vm_hwm(srv.proc.pid)

        tag = c.next_tag()
        c.send("%s APPEND INBOX (\\Seen) {%d}\r\n" % (tag, BIG))
        self.assertTrue(c.readline().startswith(b"+"))
        view = memoryview(msg)
        for off in range(0, BIG, MB):
            c.sock.sendall(view[off:off + MB])
        c.send(b"\r\n")
        untagged, tagged = c.read_tagged(tag, timeout=120)
        self.assertRegex(tagged, rb"^t\d+ OK \[APPENDUID \d+ 1\] ")
        self.assertPeakGrowth(srv, base, "APPEND")

        u = c.fetch("1", "(RFC822.SIZE)")
        self.assertEqual(u[1]["RFC822.SIZE"], str(BIG))
        tag = c.next_tag()
        c.send("%s FETCH 1 (UID BODY.PEEK[])\r\n" % tag)
        line = c.readline(timeout=60)
        self.assertEqual(line, b"* 1 FETCH (UID 1 BODY[] {%d}" % BIG)
        self.assertEqual(self._read_literal_hash(c, BIG), want)
        self.assertEqual(c.readline(timeout=60), b")")
        u, t = c.read_tagged(tag, timeout=60)
        self.assertEqual(u, [])
        self.assertTrue(t.endswith(b"OK Fetch completed."), t)
        self.assertPeakGrowth(srv, base, "FETCH")

        # a partial fetch deep inside, then the session goes on normally
        u = c.fetch("1", "(BODY.PEEK[]<%d.100>)" % (BIG - 150))
        (val,) = [v for k, v in u[1].items() if k.startswith("BODY[]")]
        self.assertEqual(val, msg[BIG - 150:BIG - 50])
        c.ok("NOOP")

    def test_bare_lf_message_served_with_crlf(self):
        """A 300 KB message delivered with bare LF line ends is streamed with
        CRLF: the literal is RFC822.SIZE octets, equal to the CRLF form, and
        <partial> counts CRLF octets; the whole-message item is the same via
        RFC822 and BINARY[]."""
        user = self.fresh_user()
        lines = [b"From: lf@example.org", b"Subject: bare LF", b""]
        lines += [b"line %06d of a message stored with LF only" % i for i in range(7000)]
        lf = b"\n".join(lines) + b"\n"
        self.assertGreater(len(lf), 256 * 1024)  # over IMAP_FETCH_STREAM_MIN
        self.deliver(user, lf)
        want = crlf(lf)
        c = self.raw(user)
        c.ok("SELECT INBOX")
        d = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")[1]
        self.assertEqual(d["RFC822.SIZE"], str(len(want)))
        self.assertEqual(d["BODY[]"], want)
        d = c.fetch("1", "(BINARY.PEEK[] FLAGS)")[1]
        self.assertEqual(d["BINARY[]"], want)
        self.assertEqual(flags(d), [])
        # a cut that starts right between a CR and its LF
        off = want.index(b"\r\n", 1000) + 1
        d = c.fetch("1", "(BODY.PEEK[]<%d.10>)" % off)[1]
        self.assertEqual(d["BODY[]<%d>" % off], want[off:off + 10])
        # RFC822 sets \Seen, and the flag change is reported
        u = c.fetch("1", "(RFC822)")[1]
        self.assertEqual(u["RFC822"], want)
        self.assertEqual(flags(u), ["\\Seen"])

    def test_fetch_many_bodies_resumes_in_order(self):
        """FETCH 1:* BODY.PEEK[] over 150 messages of ~8 KB (about 1.2 MB of
        output, several IMAP_MAIL_OUTPUT_CHUNKs): every message exactly once,
        in order, with its own body, then one tagged OK."""
        user = self.fresh_user()
        c = self.raw(user)
        bodies = []
        for i in range(150):
            m = simple_message(subject="m%03d" % i, body=("%03d " % i) * 2000 + "\n")
            bodies.append(crlf(m.encode() if isinstance(m, str) else m))
            u, t = c.append("INBOX", bodies[-1])
            self.assertTrue(t.startswith(b"OK"), t)
        c.ok("SELECT INBOX")
        tag = c.next_tag()
        c.send("%s FETCH 1:* (UID BODY.PEEK[])\r\n" % tag)
        untagged, tagged = c.read_tagged(tag, timeout=60)
        self.assertTrue(tagged.endswith(b"OK Fetch completed."), tagged)
        self.assertEqual(len(untagged), 150)
        for i, r in enumerate(untagged):
            seq, d = fetch_dict(r)
            self.assertEqual(seq, i + 1)
            self.assertEqual(d["UID"], str(i + 1))
            self.assertEqual(d["BODY[]"], bodies[i])

    def test_disconnect_mid_stream_is_harmless(self):
        """A client that leaves in the middle of a streamed literal: the
        server drops it and serves the next client (and, under ASan,
        leaks nothing: the dedicated server's exit is checked)."""
        srv = self.dedicated_server()
        user = ("joe", "password")
        c = self.raw(user, server=srv)
        msg = big_message(4 * MB)
        tag = c.next_tag()
        c.send("%s APPEND INBOX {%d+}\r\n" % (tag, len(msg)))
        c.sock.sendall(msg + b"\r\n")
        u, t = c.read_tagged(tag, timeout=60)
        self.assertIn(b"OK [APPENDUID", t)
        c.ok("SELECT INBOX")
        c.send("x FETCH 1 BODY[]\r\n")
        c.readline()
        c.close()
        c2 = self.raw(user, server=srv)
        u, t = c2.ok("STATUS INBOX (MESSAGES)")
        self.assertIn(b"MESSAGES 1", u[0])


def b64_lines(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


BINARY_MSG = crlf(("""From: bin@example.org
Subject: binary parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 soft=
break
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

%s
--b1
Content-Type: application/x-odd
Content-Transfer-Encoding: x-uuencode

begin 644 odd
--b1--
""" % b64_lines(bytes(range(256)))).encode())


class BinaryTest(MailTestCase):
    """RFC 3516 BINARY, advertised after login."""

    def setUp(self):
        self.c = self.raw()
        u, t = self.c.append("INBOX", BINARY_MSG)
        self.assertTrue(t.startswith(b"OK"), t)
        self.c.ok("SELECT INBOX")

    def test_advertised(self):
        u, t = self.c.ok("CAPABILITY")
        self.assertIn(b" BINARY", u[0])

    def test_quoted_printable_part_decoded(self):
        d = self.c.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")[1]
        want = "café softbreak".encode()
        self.assertEqual(d["BINARY[1]"], want)
        self.assertEqual(d["BINARY.SIZE[1]"], str(len(want)))

    def test_base64_part_is_literal8_with_nul(self):
        """Decoded content with NUL must go as literal8 "~{n}"."""
        tag = self.c.next_tag()
        self.c.send("%s FETCH 1 (BINARY.PEEK[2])\r\n" % tag)
        line = self.c.readline()
        self.assertEqual(line, b"* 1 FETCH (BINARY[2] ~{256}")
        self.assertEqual(self.c.read_exact(256), bytes(range(256)))
        self.assertEqual(self.c.readline(), b")")
        u, t = self.c.read_tagged(tag)
        self.assertIn(b"OK", t)

    def test_partial_and_size(self):
        d = self.c.fetch("1", "(BINARY.PEEK[2]<250.10> BINARY.SIZE[2])")[1]
        self.assertEqual(d["BINARY[2]<250>"], bytes(range(250, 256)))
        self.assertEqual(d["BINARY.SIZE[2]"], "256")

    def test_whole_message_and_seen(self):
        d = self.c.fetch("1", "(BINARY[])")[1]
        self.assertEqual(d["BINARY[]"], BINARY_MSG)
        self.assertEqual(flags(d), ["\\Seen"])

    def test_unknown_encoding_is_no_unknown_cte(self):
        u, t = self.c.xcmd("FETCH 1 (BINARY.PEEK[3])")
        self.assertTrue(t.startswith(b"NO [UNKNOWN-CTE]"), t)

    def test_missing_part_is_nil(self):
        d = self.c.fetch("1", "(BINARY.PEEK[9])")[1]
        self.assertIsNone(d["BINARY[9]"])

    def test_malformed_sections_are_bad(self):
        for item in ("BINARY[TEXT]", "BINARY[1.MIME]", "BINARY[0]", "BINARY.SIZE[1]<0.5>",
                     "BINARY[1.]"):
            with self.subTest(item=item):
                u, t = self.c.xcmd("FETCH 1 (%s)" % item)
                self.assertTrue(t.startswith(b"BAD"), (item, t))

    def test_append_literal8(self):
        """APPEND with a literal8 (RFC 3516 4.4) stores the octets as sent."""
        raw = crlf(b"From: a@example.org\nSubject: nul\n\nbinary \x00 inside\n")
        tag = self.c.next_tag()
        self.c.send(b"%s APPEND INBOX ~{%d+}\r\n" % (tag.encode(), len(raw)) + raw + b"\r\n")
        u, t = self.c.read_tagged(tag)
        self.assertIn(b"OK [APPENDUID", t)
        uid = re.search(rb"APPENDUID \d+ (\d+)", t).group(1).decode()
        tag = self.c.next_tag()
        self.c.send("%s UID FETCH %s (BINARY.PEEK[])\r\n" % (tag, uid))
        line = self.c.readline()
        self.assertTrue(line.endswith(b"BINARY[] ~{%d}" % len(raw)), line)
        self.assertEqual(self.c.read_exact(len(raw)), raw)


if __name__ == "__main__":
    unittest.main()
