"""ENVELOPE, BODYSTRUCTURE, BODY and BODY[section], octet-exact, for the
message fixtures in tests/e2e/fixtures/ (and one generated message with a
200 KB line).

The expected strings are written out by hand from RFC 3501 7.4.2 (and the
formal syntax of section 9): ENVELOPE is (date subject from sender reply-to
to cc bcc in-reply-to message-id), sender and reply-to default to from,
group syntax is (NIL NIL "group" NIL) ... (NIL NIL NIL NIL); a body list is
1*body without separators, then the subtype; addresses of one field are
1*address without separators.  Sizes and line counts were counted on the
fixtures with CRLF line ends.  Where RFC 3501 leaves a choice, the
conventions documented in src/mail/mime.h are expected:
  * header values raw and unfolded (encoded words undecoded), 8-bit text as
    literals (a quoted string cannot carry 8-bit octets);
  * types, subtypes, parameters as the message spells them; values the
    server supplies upper case: "7BIT", ("CHARSET" "US-ASCII") for text
    parts without a charset;
  * the line end before a multipart delimiter belongs to the delimiter
    (RFC 2046 5.1.1): it counts neither in the size nor in the lines;
  * BODYSTRUCTURE extension data: md5 (Content-MD5, else NIL), disposition,
    language, location.
"""

import os
import re
import unittest

from mail_support import (FIXTURES as FIXTURE_DIR, MailConn, MailTestCase, crlf, fetch_raw,
                          fixture, parse, search_result)

FIXTURES = ["simple.eml", "missing-headers.eml", "no-date.eml", "nested.eml",
            "rfc822-attachment.eml", "encoded-words.eml", "8bit-headers.eml",
            "addresses.eml", "digest.eml"]


def huge_message():
    """A generated fixture: a 200000-octet header field and a 200000-octet
    body line."""
    return crlf(b"From: Big <big@example.org>\n"
                b"To: joe@example.org\n"
                b"Subject: One huge line\n"
                b"Date: Mon, 08 Mar 2021 10:00:00 +0000\n"
                b"X-Long-Header: " + b"h" * 200000 + b"\n"
                b"Content-Type: text/plain; charset=us-ascii\n"
                b"\n" + b"x" * 200000 + b"\nend\n")


def lit(s):
    if isinstance(s, str):
        s = s.encode()
    return b"{%d}\r\n" % len(s) + s


TERRY = b'("Terry Gray" NIL "gray" "cac.washington.edu")'
ANN = b'("Ann" NIL "ann" "example.org")'
FWD = b'("Fwd Sender" NIL "fwd" "example.org")'
ORIG = b'("Orig Author" NIL "orig" "example.net")'
ANDRE = b'("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")'
JOERG = b"(" + lit("Jörg Müller") + b' NIL "joerg" "example.de")'
NOBODY = b'(NIL NIL "nobody" "example.org")'
JANE = b'("Doe, Jane" NIL "jane" "example.org")'

ENVELOPES = {
    # RFC 3501 7.4.2's own example message
    "simple.eml":
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
        b'(' + TERRY + b') (' + TERRY + b') (' + TERRY + b') '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
        b'NIL NIL "<B27397-0100000@cac.washington.edu>")',
    # no Date, Subject, Message-ID; empty Reply-To means From; a group
    "missing-headers.eml":
        b'(NIL NIL (' + NOBODY + b') (' + NOBODY + b') (' + NOBODY + b') '
        b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)',
    "no-date.eml":
        b'(NIL "No date here" (' + JANE + b') ((NIL NIL "secretary" "example.org")) '
        b'(("Team" NIL "team" "example.org")(NIL NIL "other" "example.net")) '
        b'(("Joe" NIL "joe" "example.org")) (("Q. Public" NIL "q" "example.com")) '
        b'((NIL NIL "hidden" "example.com")) "<parent@example.org>" "<child@example.org>")',
    "nested.eml":
        b'("Thu, 04 Mar 2021 10:00:00 +0000" "Nested" (' + ANN + b') (' + ANN + b') (' + ANN + b') '
        b'(("Joe" NIL "joe" "example.org")) NIL NIL NIL "<nested@example.org>")',
    "rfc822-attachment.eml":
        b'("Fri, 05 Mar 2021 10:00:00 +0000" "Fwd: Original" (' + FWD + b') (' + FWD + b') (' + FWD + b') '
        b'((NIL NIL "joe" "example.org")) NIL NIL NIL NIL)',
    # encoded words stay encoded; the folded subject is unfolded
    "encoded-words.eml":
        b'("Sat, 06 Mar 2021 10:00:00 +0000" '
        b'"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=" '
        b'(' + ANDRE + b') (' + ANDRE + b') (' + ANDRE + b') '
        b'(("=?US-ASCII?Q?Keith_Moore?=" NIL "moore" "cs.utk.edu")) '
        b'(("=?ISO-8859-1?Q?Olle_J=E4rnefors?=" NIL "ojarnef" "admin.kth.se")) '
        b'NIL NIL "<ew@example.org>")',
    # 8-bit octets: literals
    "8bit-headers.eml":
        b'("Sun, 07 Mar 2021 10:00:00 +0100" ' + lit("Grüße aus Köln") + b' '
        b'(' + JOERG + b') (' + JOERG + b') (' + JOERG + b') '
        b'((NIL NIL "joe" "example.org")) NIL NIL NIL NIL)',
    "huge":
        b'("Mon, 08 Mar 2021 10:00:00 +0000" "One huge line" '
        b'(("Big" NIL "big" "example.org")) (("Big" NIL "big" "example.org")) '
        b'(("Big" NIL "big" "example.org")) ((NIL NIL "joe" "example.org")) NIL NIL NIL NIL)',
}

# Compared as parsed values: quoted strings with \" and \\ may also be
# sent as literals.
ANN_BOB = b'(("Ann" NIL "ann" "example.org")("Bob" NIL "bob" "example.org"))'
PARSED_ENVELOPES = {
    # field names in any case; the first Subject; a folded Date; several
    # From addresses; a source route (adl); a group with members; a quoted
    # display name with a comma; a name from a comment; a mailbox without a
    # domain (mime.h: ".MISSING-HOST-NAME."); In-Reply-To raw
    "addresses.eml":
        b'("Mon, 1 Mar 2021 10:00:00 +0000" "He said \\"hi\\" \\\\o/" '
        + ANN_BOB + b' ' + ANN_BOB + b' ' + ANN_BOB + b' '
        b'(("Joe" "@relay.example,@r2.example" "joe" "example.org")(NIL NIL "Friends" NIL)'
        b'(NIL NIL "a" "x.example")("B, b" NIL "b" "y.example")(NIL NIL NIL NIL)'
        b'(NIL NIL "lonely" ".MISSING-HOST-NAME.")) '
        b'(("Carol C" NIL "c" "example.org")) NIL "<a@b> <c@d>" NIL)',
}
PARSED_STRUCTURES = {
    # parameters in order, quoted values unquoted; RFC 2231 left as it is;
    # Content-Location as body-fld-loc
    "addresses.eml":
        b'("text" "plain" ("charset" "utf-8" "format" "flowed" "x-note" "a;b\\"c") NIL NIL "7BIT" 7 1 '
        b'NIL ("inline" ("filename*" "utf-8\'\'r%C3%A9sum%C3%A9.txt")) NIL "http://example.org/x")',
}

INNER_ENVELOPE = (
    b'("Thu, 04 Mar 2021 09:00:00 +0100" "Original" (' + ORIG + b') (' + ORIG + b') (' + ORIG + b') '
    b'((' + FWD[1:-1] + b')) NIL NIL NIL "<orig@example.net>")')

# (BODYSTRUCTURE, BODY); a list of alternatives where RFC 3501 allows more
# than one spelling
STRUCTURES = {
    "simple.eml": (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 64 3 NIL NIL NIL NIL)',
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 64 3)'),
    # no Content-Type: text/plain; charset=us-ascii (RFC 2045 5.2)
    "missing-headers.eml": (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 53 1 NIL NIL NIL NIL)',
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 53 1)'),
    "no-date.eml": (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 29 1 NIL NIL NIL NIL)',
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 29 1)'),
    "nested.eml": (
        [b'((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 35 1 NIL NIL NIL NIL)'
         b'("text" "html" ("charset" "utf-8") "<html-part@example.org>" NIL "7BIT" 16 0 NIL NIL NIL NIL)'
         b' "alternative" ("boundary" "inner-b") NIL NIL NIL)'
         b'("application" "pdf" ("name" "report.pdf") NIL "The report" "base64" 106 NIL '
         b'("attachment" ("filename" "report.pdf")) ' + lang + b' NIL)'
         b' "mixed" ("boundary" "outer-b") NIL NIL NIL)'
         for lang in (b'"en"', b'("en")')],
        b'((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 35 1)'
        b'("text" "html" ("charset" "utf-8") "<html-part@example.org>" NIL "7BIT" 16 0)'
        b' "alternative")'
        b'("application" "pdf" ("name" "report.pdf") NIL "The report" "base64" 106)'
        b' "mixed")'),
    "rfc822-attachment.eml": (
        b'(("text" "plain" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 26 0 NIL NIL NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7BIT" 426 ' + INNER_ENVELOPE + b' '
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 0 NIL NIL NIL NIL)'
        b'("text" "csv" ("name" "data.csv" "CHARSET" "US-ASCII") NIL NIL "7BIT" 8 1 NIL '
        b'("attachment" ("filename" "data.csv")) NIL NIL)'
        b' "mixed" ("boundary" "orig-b") NIL NIL NIL) 18 NIL ("inline" NIL) NIL NIL)'
        b' "mixed" ("boundary" "fwd-outer") NIL NIL NIL)',
        b'(("text" "plain" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 26 0)'
        b'("message" "rfc822" NIL NIL NIL "7BIT" 426 ' + INNER_ENVELOPE + b' '
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 0)'
        b'("text" "csv" ("name" "data.csv" "CHARSET" "US-ASCII") NIL NIL "7BIT" 8 1)'
        b' "mixed") 18)'
        b' "mixed")'),
    "encoded-words.eml": (
        b'("text" "plain" ("charset" "ISO-8859-1") NIL NIL "quoted-printable" 22 1 NIL NIL NIL NIL)',
        b'("text" "plain" ("charset" "ISO-8859-1") NIL NIL "quoted-printable" 22 1)'),
    "8bit-headers.eml": (
        b'("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 18 1 NIL NIL NIL NIL)',
        b'("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 18 1)'),
    "huge": (
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 200007 2 NIL NIL NIL NIL)',
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 200007 2)'),
}

ENV_X = b'((NIL NIL "x" "example.org"))'
ENV_Y = b'((NIL NIL "y" "example.org"))'
ENV_Z = b'((NIL NIL "z" "example.org"))'
# multipart/digest: a part without Content-Type is message/rfc822 (RFC 2046
# 5.1.5); a message/rfc822 inside a message/rfc822
STRUCTURES["digest.eml"] = (
    b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 40 '
    b'(NIL "one" ' + ENV_X + b' ' + ENV_X + b' ' + ENV_X + b' NIL NIL NIL NIL NIL) '
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)'
    b'("message" "rfc822" NIL NIL NIL "7BIT" 111 '
    b'(NIL "two" ' + ENV_Y + b' ' + ENV_Y + b' ' + ENV_Y + b' NIL NIL NIL NIL NIL) '
    b'("message" "rfc822" NIL NIL NIL "7BIT" 44 '
    b'(NIL "three" ' + ENV_Z + b' ' + ENV_Z + b' ' + ENV_Z + b' NIL NIL NIL NIL NIL) '
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) '
    b'7 NIL NIL NIL NIL) "digest" ("boundary" "dg") NIL NIL NIL)',
    b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 40 '
    b'(NIL "one" ' + ENV_X + b' ' + ENV_X + b' ' + ENV_X + b' NIL NIL NIL NIL NIL) '
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3 0) 3)'
    b'("message" "rfc822" NIL NIL NIL "7BIT" 111 '
    b'(NIL "two" ' + ENV_Y + b' ' + ENV_Y + b' ' + ENV_Y + b' NIL NIL NIL NIL NIL) '
    b'("message" "rfc822" NIL NIL NIL "7BIT" 44 '
    b'(NIL "three" ' + ENV_Z + b' ' + ENV_Z + b' ' + ENV_Z + b' NIL NIL NIL NIL NIL) '
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 0) 3) '
    b'7) "digest")')

SIZES = {"simple.eml": 406, "missing-headers.eml": 122, "no-date.eml": 330,
         "nested.eml": 935, "rfc822-attachment.eml": 778, "encoded-words.eml": 494,
         "8bit-headers.eml": 241, "huge": 400183, "addresses.eml": 498, "digest.eml": 294}


class MailMimeTest(MailTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls.fresh_user()
        cls.messages = {n: fixture(n) for n in FIXTURES}
        cls.messages["huge"] = huge_message()
        cls.uids = {}
        c = MailConn(cls.server.imaps_addr, tls=True, timeout=20)
        try:
            u, t = c.cmd('LOGIN "%s" "%s"' % cls.user)
            assert t.startswith(b"OK"), t
            for name in FIXTURES + ["huge"]:
                u, t = c.append("INBOX", cls.messages[name])
                m = re.search(rb"\[APPENDUID \d+ (\d+)\]", t)
                assert m, (name, t)
                cls.uids[name] = int(m.group(1))
            c.cmd("LOGOUT")
        finally:
            c.close()

    def setUp(self):
        self.c = self.raw(self.user, timeout=20)
        self.c.ok("EXAMINE INBOX")

    def item(self, name, what):
        """The exact octets of one FETCH item of fixture name."""
        u, t = self.c.ok("UID FETCH %d (%s)" % (self.uids[name], what))
        self.assertEqual(len(u), 1, u)
        seq, items = fetch_raw(u[0])
        items.pop("UID", None)
        self.assertEqual(len(items), 1, items.keys())
        return list(items.items())[0]

    def section(self, name, section, label=None):
        key, raw = self.item(name, "BODY.PEEK[%s]" % section)
        self.assertEqual(key, "BODY[%s]" % (label or section).upper())
        if raw == b"NIL":
            return None
        m = re.match(rb"\{(\d+)\}\r\n", raw)
        if m:
            return raw[m.end():]
        m = re.match(rb'"(.*)"$', raw, re.S)
        self.assertTrue(m, raw)
        return re.sub(rb'\\(.)', rb'\1', m.group(1))

    def check_envelope(self, name):
        key, raw = self.item(name, "ENVELOPE")
        self.assertEqual(raw, ENVELOPES[name])

    def check_structure(self, name):
        want_bs, want_body = STRUCTURES[name]
        key, raw = self.item(name, "BODYSTRUCTURE")
        if isinstance(want_bs, list):
            self.assertIn(raw, want_bs)
        else:
            self.assertEqual(raw, want_bs)
        key, raw = self.item(name, "BODY")
        self.assertEqual(key, "BODY")
        self.assertEqual(raw, want_body)

    # -- ENVELOPE -------------------------------------------------------------
    def test_envelope_simple_rfc3501_example(self):
        self.check_envelope("simple.eml")

    def test_envelope_missing_headers_and_group(self):
        self.check_envelope("missing-headers.eml")

    def test_envelope_missing_date_all_address_fields(self):
        self.check_envelope("no-date.eml")

    def test_envelope_nested(self):
        self.check_envelope("nested.eml")

    def test_envelope_rfc822_attachment(self):
        self.check_envelope("rfc822-attachment.eml")

    def test_envelope_encoded_words(self):
        self.check_envelope("encoded-words.eml")

    def test_envelope_8bit_header_bytes(self):
        self.check_envelope("8bit-headers.eml")

    def test_envelope_huge(self):
        self.check_envelope("huge")

    # -- BODYSTRUCTURE and BODY -----------------------------------------------
    def test_envelope_addresses_groups_routes_quoting(self):
        key, raw = self.item("addresses.eml", "ENVELOPE")
        self.assertEqual(parse(raw), parse(PARSED_ENVELOPES["addresses.eml"]))

    def test_bodystructure_parameters_disposition_location(self):
        key, raw = self.item("addresses.eml", "BODYSTRUCTURE")
        self.assertEqual(parse(raw), parse(PARSED_STRUCTURES["addresses.eml"]))

    def test_bodystructure_digest_and_nested_messages(self):
        self.check_structure("digest.eml")
        msg = self.messages["digest.eml"]
        self.assertEqual(self.section("digest.eml", "1.HEADER"),
                         b"From: x@example.org\r\nSubject: one\r\n\r\n")
        self.assertEqual(self.section("digest.eml", "1.TEXT"), b"one")
        three = b"From: z@example.org\r\nSubject: three\r\n\r\nthree"
        self.assertEqual(self.section("digest.eml", "2.TEXT"), three)
        self.assertEqual(self.section("digest.eml", "2.1"), three)
        self.assertEqual(self.section("digest.eml", "2.1.HEADER"),
                         b"From: z@example.org\r\nSubject: three\r\n\r\n")
        self.assertEqual(self.section("digest.eml", "2.1.1"), b"three")

    def test_bodystructure_simple(self):
        self.check_structure("simple.eml")

    def test_bodystructure_missing_headers(self):
        self.check_structure("missing-headers.eml")
        self.check_structure("no-date.eml")

    def test_bodystructure_nested_multipart(self):
        self.check_structure("nested.eml")

    def test_bodystructure_message_rfc822(self):
        self.check_structure("rfc822-attachment.eml")

    def test_bodystructure_encoded_and_8bit(self):
        self.check_structure("encoded-words.eml")
        self.check_structure("8bit-headers.eml")

    def test_bodystructure_huge_line(self):
        self.check_structure("huge")

    # -- sizes ------------------------------------------------------------------
    def test_rfc822_size_and_whole_message(self):
        for name, msg in self.messages.items():
            with self.subTest(name=name):
                self.assertEqual(len(msg), SIZES[name])
                key, raw = self.item(name, "RFC822.SIZE")
                self.assertEqual(raw, str(SIZES[name]).encode())
                self.assertEqual(self.section(name, ""), msg)

    # -- sections -----------------------------------------------------------------
    def test_sections_nested(self):
        msg = self.messages["nested.eml"]
        alt_body = (b"--inner-b\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                    b"Hello Joe, caf=C3=A9?\r\nSecond line.\r\n"
                    b"--inner-b\r\n"
                    b"Content-Type: text/html; charset=utf-8\r\n"
                    b"Content-ID: <html-part@example.org>\r\n\r\n"
                    b"<p>Hello Joe</p>\r\n"
                    b"--inner-b--")
        pdf = (b"JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8\r\n"
               b"PC9Sb290IDEgMCBSPj4KJSVFT0YK")
        cases = {
            "1": alt_body,
            "1.MIME": b"Content-Type: multipart/alternative; boundary=inner-b\r\n\r\n",
            "1.1": b"Hello Joe, caf=C3=A9?\r\nSecond line.",
            "1.1.MIME": (b"Content-Type: text/plain; charset=utf-8\r\n"
                         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"),
            "1.2": b"<p>Hello Joe</p>",
            "2": pdf,
            "2.MIME": (b'Content-Type: application/pdf; name="report.pdf"\r\n'
                       b"Content-Description: The report\r\n"
                       b'Content-Disposition: attachment; filename="report.pdf"\r\n'
                       b"Content-Transfer-Encoding: base64\r\n"
                       b"Content-Language: en\r\n\r\n"),
            "HEADER": msg[:msg.index(b"\r\n\r\n") + 4],
            "TEXT": msg[msg.index(b"\r\n\r\n") + 4:],
        }
        for sec, want in cases.items():
            with self.subTest(section=sec):
                self.assertEqual(self.section("nested.eml", sec), want)

    def test_sections_message_rfc822(self):
        msg = self.messages["rfc822-attachment.eml"]
        start = msg.index(b"From: Orig Author")
        inner = msg[start:msg.index(b"\r\n--fwd-outer--")]
        inner_head = inner[:inner.index(b"\r\n\r\n") + 4]
        cases = {
            "1": b"See the forwarded message.",
            "1.MIME": b"Content-Type: text/plain\r\n\r\n",
            "2": inner,
            "2.MIME": b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n",
            "2.HEADER": inner_head,
            "2.TEXT": inner[len(inner_head):],
            "2.1": b"Original text.",
            "2.1.MIME": b"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
            "2.2": b"a,b\r\n1,2",
            "2.2.MIME": (b"Content-Type: text/csv; name=data.csv\r\n"
                         b"Content-Disposition: attachment; filename=data.csv\r\n\r\n"),
            "2.HEADER.FIELDS (Subject Message-ID)":
                b"Subject: Original\r\nMessage-ID: <orig@example.net>\r\n\r\n",
            "2.HEADER.FIELDS.NOT (From To Date Subject Message-ID MIME-Version)":
                b"Content-Type: multipart/mixed; boundary=orig-b\r\n\r\n",
        }
        for sec, want in cases.items():
            with self.subTest(section=sec):
                label = sec.split(" (")[0].upper() + (" (" + sec.split(" (")[1] if " (" in sec else "")
                self.assertEqual(self.section("rfc822-attachment.eml", sec, label), want)

    def test_section_partial_of_part(self):
        key, raw = self.item("rfc822-attachment.eml", "BODY.PEEK[2.1]<4.4>")
        self.assertEqual(key, "BODY[2.1]<4>")
        self.assertEqual(raw, b"{4}\r\ninal")
        key, raw = self.item("nested.eml", "BODY.PEEK[1.1]<0.5>")
        self.assertEqual((key, raw), ("BODY[1.1]<0>", b"{5}\r\nHello"))

    def test_sections_single_part(self):
        msg = self.messages["simple.eml"]
        body = msg[msg.index(b"\r\n\r\n") + 4:]
        # a non-multipart message's body is part 1 (RFC 3501 6.4.5)
        self.assertEqual(self.section("simple.eml", "1"), body)
        self.assertEqual(self.section("simple.eml", "TEXT"), body)

    def test_sections_huge_line(self):
        msg = self.messages["huge"]
        self.assertEqual(self.section("huge", "1"), b"x" * 200000 + b"\r\nend\r\n")
        self.assertEqual(self.section("huge", "HEADER.FIELDS (X-Long-Header)"),
                         b"X-Long-Header: " + b"h" * 200000 + b"\r\n\r\n")
        key, raw = self.item("huge", "BODY.PEEK[1]<199995.10>")
        self.assertEqual((key, raw), ("BODY[1]<199995>", b"{10}\r\nxxxxx\r\nend"))
        self.assertEqual(self.section("huge", "HEADER"), msg[:msg.index(b"\r\n\r\n") + 4])

    def test_missing_part_is_not_an_octet_string(self):
        """BODY[3] of a two-part message, BODY[1.HEADER] of a non-message
        part: an error or NIL, never made-up content."""
        for name, sec in (("nested.eml", "3"), ("nested.eml", "2.HEADER"),
                          ("rfc822-attachment.eml", "2.3")):
            with self.subTest(section=sec):
                u, t = self.c.xcmd("UID FETCH %d (BODY.PEEK[%s])" % (self.uids[name], sec))
                if t.startswith(b"OK"):
                    self.assertEqual(len(u), 1, u)
                    seq, items = fetch_raw(u[0])
                    self.assertIn(items["BODY[%s]" % sec], (b"NIL", b'""'))

    def test_lf_only_delivery_served_with_crlf(self):
        """An MDA stores bare LF line ends: sizes, structure and sections
        are still those of the CRLF message (RFC 3501 2.3.4, 7.4.2)."""
        user = self.fresh_user()
        with open(os.path.join(FIXTURE_DIR, "nested.eml"), "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\r", raw)
        self.deliver(user, raw)
        c = self.raw(user)
        u, t = c.ok("STATUS INBOX (SIZE)")
        self.assertIn(b"SIZE 935", u[0])
        c.ok("EXAMINE INBOX")
        u, t = c.ok("FETCH 1 (RFC822.SIZE BODYSTRUCTURE BODY.PEEK[] BODY.PEEK[1.1])")
        seq, items = fetch_raw(u[0])
        self.assertEqual(items["RFC822.SIZE"], b"935")
        self.assertIn(items["BODYSTRUCTURE"], STRUCTURES["nested.eml"][0])
        self.assertEqual(items["BODY[]"], lit(self.messages["nested.eml"]))
        self.assertEqual(items["BODY[1.1]"], lit(b"Hello Joe, caf=C3=A9?\r\nSecond line."))
        u, t = c.ok("SEARCH LARGER 934 SMALLER 936")
        self.assertEqual(search_result(u), [1])

    def test_header_only_message(self):
        """No blank line, no body: HEADER is everything, TEXT is empty."""
        user = self.fresh_user()
        msg = crlf(b"From: a@example.org\nSubject: only a header\n")
        c = self.raw(user)
        u, t = c.append("INBOX", msg)
        self.assertTrue(t.startswith(b"OK"), t)
        c.ok("EXAMINE INBOX")
        u, t = c.ok("FETCH 1 (RFC822.SIZE BODYSTRUCTURE ENVELOPE BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
        seq, items = fetch_raw(u[0])
        self.assertEqual(items["RFC822.SIZE"], str(len(msg)).encode())
        self.assertEqual(items["BODYSTRUCTURE"],
                         b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)')
        self.assertEqual(items["ENVELOPE"],
                         b'(NIL "only a header" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) '
                         b'((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL)')
        self.assertEqual(items["BODY[HEADER]"], lit(msg))
        self.assertIn(items["BODY[TEXT]"], (b'""', b"{0}\r\n"))

    # -- SEARCH over the fixtures ---------------------------------------------------
    def test_search_decoded_fixture_text(self):
        u, t = self.c.ok("UID SEARCH ALL")
        cases = [
            (["SUBJECT", '"read this you understand"'], ["encoded-words.eml"]),
            (["CHARSET UTF-8 FROM", "andré".encode()], ["encoded-words.eml"]),
            (["CC", '"Olle J"'], ["encoded-words.eml"]),
            (["CHARSET UTF-8 BODY", "voilà".encode()], ["encoded-words.eml"]),
            (["CHARSET UTF-8 SUBJECT", "grüße".encode()], ["8bit-headers.eml"]),
            (["CHARSET UTF-8 FROM", "müller".encode()], ["8bit-headers.eml"]),
            (["BODY", '"Second line"'], ["nested.eml"]),
            (["CHARSET UTF-8 BODY", "café?".encode()], ["nested.eml"]),   # quoted-printable part
            (["HEADER X-Long-Header", "hhhhhhhhhh"], ["huge"]),
            (["BODY", "xxxxxxxxxxxxxxxxxxxx"], ["huge"]),
            (["TEXT", "data.csv"], ["rfc822-attachment.eml"]),
            (["BODY", '"Original text"'], ["rfc822-attachment.eml"]),  # inside message/rfc822
            (["SUBJECT", '"mtg summary"'], ["simple.eml"]),
            (["HEADER Reply-To", '""'], ["missing-headers.eml", "no-date.eml"]),
            (["BCC", "hidden"], ["no-date.eml"]),
            (["SENTON", "17-Jul-1996"], ["simple.eml"]),
        ]
        for parts, want in cases:
            with self.subTest(search=parts):
                u, t = self.c.xcmd(*(["UID SEARCH"] + parts))
                self.assertTrue(t.startswith(b"OK"), t)
                self.assertEqual(sorted(search_result(u)), sorted(self.uids[n] for n in want))


if __name__ == "__main__":
    unittest.main()
