"""Support for the mail end-to-end tests (test_mail*.py).

Built on harness.py (used read-only):

  * MailConn     - harness.Conn that reads responses carrying literals
                   ({n} CRLF octets) and sends commands with literals
                   (LITERAL+), for octet-exact checks.
  * parse()      - a small parser of IMAP response data (atoms, numbers, NIL,
                   quoted strings, literals, lists), for checks where the
                   RFC leaves the representation open.
  * MailTestCase - one server per class with a pool of fresh accounts: every
                   test takes its own user (its own Maildir, special-use
                   folders created at its first login), so tests of one
                   class do not see each other's mail.
  * fixtures     - tests/e2e/fixtures/*.eml (LF line ends on disk; fixture()
                   returns them with CRLF line ends, as IMAP sees them).
"""

import imaplib
import os
import re
import subprocess
import time

from harness import Conn, ServerTestCase, client_context

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")

LITERAL_RE = re.compile(rb"\{(\d+)\}$")


def crlf(data):
    """LF or CRLF line ends -> CRLF."""
    if isinstance(data, str):
        data = data.encode()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return crlf(f.read())


def simple_message(subject="test", body="Hello.\n", frm="Ann <ann@example.org>",
                   to="joe@example.org", date="Mon, 01 Mar 2021 10:00:00 +0000",
                   extra=""):
    hdr = "From: %s\nTo: %s\nSubject: %s\n" % (frm, to, subject)
    if date:
        hdr += "Date: %s\n" % date
    hdr += extra
    return crlf(hdr + "\n" + body)


def ssl_ctx():
    """Unverified client context (the instance certificate is self-signed)."""
    return client_context()


# ---------------------------------------------------------------------------
# Response data parser
# ---------------------------------------------------------------------------

class ParseError(ValueError):
    pass


class Atom(str):
    """An IMAP atom (as opposed to a string)."""


def parse(data, pos=0):
    """Parses a sequence of IMAP values from data (bytes) and returns a list.
    Strings (quoted or literal) are bytes, atoms are Atom (str), NIL is None,
    lists are Python lists.  Body-section atoms such as
    BODY[HEADER.FIELDS (A B)]<0> are one atom."""
    out, pos = _parse_seq(data, pos, None)
    return out


def _parse_seq(data, pos, close):
    out = []
    n = len(data)
    while True:
        while pos < n and data[pos:pos + 1] == b" ":
            pos += 1
        if pos >= n:
            if close is not None:
                raise ParseError("missing %r in %r" % (close, data))
            return out, pos
        c = data[pos:pos + 1]
        if close is not None and c == close:
            return out, pos + 1
        if c == b"(":
            sub, pos = _parse_seq(data, pos + 1, b")")
            out.append(sub)
        elif c == b")":
            raise ParseError("unbalanced ) at %d in %r" % (pos, data))
        elif c == b'"':
            pos += 1
            s = bytearray()
            while True:
                if pos >= n:
                    raise ParseError("unterminated quoted string in %r" % data)
                ch = data[pos:pos + 1]
                if ch == b"\\":
                    s += data[pos + 1:pos + 2]
                    pos += 2
                    continue
                if ch == b'"':
                    pos += 1
                    break
                if ch in (b"\r", b"\n"):
                    raise ParseError("CR/LF in quoted string in %r" % data)
                s += ch
                pos += 1
            out.append(bytes(s))
        elif c == b"{":
            m = re.match(rb"\{(\d+)\}\r\n", data[pos:])
            if not m:
                raise ParseError("bad literal at %d in %r" % (pos, data[pos:pos + 40]))
            ln = int(m.group(1))
            start = pos + m.end()
            if start + ln > n:
                raise ParseError("short literal in %r" % data)
            out.append(bytes(data[start:start + ln]))
            pos = start + ln
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")"):
                    break
                pos += 1
            word = data[start:pos].decode("latin-1")
            out.append(None if word.upper() == "NIL" else Atom(word))


def value_end(data, pos):
    """The end offset of the one IMAP value starting at data[pos]."""
    c = data[pos:pos + 1]
    if c == b"(":
        pos += 1
        while True:
            while data[pos:pos + 1] == b" ":
                pos += 1
            if data[pos:pos + 1] == b")":
                return pos + 1
            if pos >= len(data):
                raise ParseError("unterminated list")
            pos = value_end(data, pos)
    if c == b'"':
        pos += 1
        while True:
            ch = data[pos:pos + 1]
            if ch == b"":
                raise ParseError("unterminated quoted string")
            if ch == b"\\":
                pos += 2
                continue
            pos += 1
            if ch == b'"':
                return pos
    if c == b"{":
        m = re.match(rb"\{(\d+)\}\r\n", data[pos:])
        if not m:
            raise ParseError("bad literal at %d" % pos)
        return pos + m.end() + int(m.group(1))
    depth = 0
    while pos < len(data):
        ch = data[pos:pos + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in (b" ", b"(", b")"):
            break
        pos += 1
    return pos


def fetch_raw(resp):
    """'* 3 FETCH (A x B (y))' -> (3, {'A': b'x', 'B': b'(y)'}): each item's
    value as the exact octets the server sent."""
    m = re.match(rb"\* (\d+) FETCH \(", resp)
    if not m or not resp.endswith(b")"):
        raise ParseError("not a FETCH response: %r" % resp[:100])
    pos, end = m.end(), len(resp) - 1
    out = {}
    while pos < end:
        while resp[pos:pos + 1] == b" ":
            pos += 1
        nend = value_end(resp, pos)
        name = resp[pos:nend].decode("latin-1").upper()
        pos = nend + 1
        vend = value_end(resp, pos)
        out[name] = resp[pos:vend]
        pos = vend
    if pos != end:
        raise ParseError("trailing data in %r" % resp[:200])
    return int(m.group(1)), out


def fetch_dict(resp):
    """'* 3 FETCH (UID 5 FLAGS (...) ...)' (bytes, literals inline) ->
    (3, {'UID': Atom('5'), 'FLAGS': [...], ...}); keys upper-cased."""
    m = re.match(rb"\* (\d+) FETCH ", resp)
    if not m:
        raise ParseError("not a FETCH response: %r" % resp[:100])
    vals = parse(resp, m.end())
    if len(vals) != 1 or not isinstance(vals[0], list):
        raise ParseError("FETCH data is not one list: %r" % resp[:200])
    items = vals[0]
    if len(items) % 2:
        raise ParseError("odd FETCH item list: %r" % resp[:200])
    d = {}
    for i in range(0, len(items), 2):
        d[str(items[i]).upper()] = items[i + 1]
    return int(m.group(1)), d


def uid_set(s):
    """'1:3,7' -> [1, 2, 3, 7] (ranges in either direction, in order)."""
    if isinstance(s, bytes):
        s = s.decode()
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(a, b + 1) if a <= b else range(b, a + 1))
        else:
            out.append(int(part))
    return out


def search_result(untagged):
    """The numbers of the '* SEARCH' line among untagged responses."""
    lines = [l for l in untagged if l.startswith(b"* SEARCH")]
    if len(lines) != 1:
        raise AssertionError("expected one * SEARCH line, got %r" % untagged)
    return [int(x) for x in lines[0][len(b"* SEARCH"):].split()]


# ---------------------------------------------------------------------------
# Raw connection with literals
# ---------------------------------------------------------------------------

class MailConn(Conn):
    """A raw client for the mail commands.  Responses are returned as whole
    bytes with any literal inline ('... {5}\\r\\nhello ...')."""

    def read_response(self, timeout=None):
        line = self.readline(timeout)
        while True:
            m = LITERAL_RE.search(line)
            if not m:
                return line
            data = self.read_exact(int(m.group(1)), timeout)
            line = line + b"\r\n" + data + self.readline(timeout)

    def read_tagged(self, tag, timeout=None):
        if isinstance(tag, str):
            tag = tag.encode()
        untagged = []
        while True:
            resp = self.read_response(timeout)
            if resp.startswith(tag + b" "):
                return untagged, resp
            untagged.append(resp)

    def xcmd(self, *parts, timeout=None):
        """Sends one command built from parts: str parts are sent as they
        are (joined with spaces), bytes parts as LITERAL+ literals.
        Returns (untagged, tagged-without-tag)."""
        tag = self.next_tag()
        out = tag.encode()
        for p in parts:
            if isinstance(p, str):
                out += b" " + p.encode()
            else:
                out += b" {%d+}\r\n" % len(p) + p
        self.send(out + b"\r\n")
        untagged, tagged = self.read_tagged(tag, timeout)
        return untagged, tagged[len(tag) + 1:]

    def ok(self, *parts, timeout=None):
        """xcmd that must answer OK; returns (untagged, tagged)."""
        u, t = self.xcmd(*parts, timeout=timeout)
        if not t.startswith(b"OK"):
            raise AssertionError("%r -> %r (untagged %r)" % (parts, t, u))
        return u, t

    def append(self, box, msg, flags=None, date=None):
        parts = ["APPEND " + box]
        if flags is not None:
            parts.append("(%s)" % flags)
        if date is not None:
            parts.append('"%s"' % date)
        parts.append(msg)
        return self.xcmd(*parts)

    def fetch(self, what, items):
        """FETCH (or 'UID FETCH' if what starts with 'UID ') -> {seq: dict}."""
        u, t = self.ok("%s %s" % (what if what.upper().startswith("UID ")
                                  else "FETCH " + what, items))
        out = {}
        for r in u:
            if re.match(rb"\* \d+ FETCH ", r):
                seq, d = fetch_dict(r)
                out.setdefault(seq, {}).update(d)
        return out


# ---------------------------------------------------------------------------
# Test case
# ---------------------------------------------------------------------------

POOL = 90


class MailTestCase(ServerTestCase):
    """Class server plus a pool of accounts mu00..mu89 (password pw-muNN);
    fresh_user() hands each test its own."""

    ctl_user = False
    extra_users = {"mu%02d" % i: "pw-mu%02d" % i for i in range(POOL)}
    _next_user = 0

    @classmethod
    def fresh_user(cls):
        if cls._next_user >= POOL:
            raise RuntimeError("user pool exhausted")
        u = "mu%02d" % cls._next_user
        cls._next_user += 1
        return u, "pw-" + u

    # -- connections ------------------------------------------------------
    def imap(self, user=None, server=None):
        """imaplib over implicit TLS, logged in.  Returns the IMAP4_SSL."""
        server = server or self.server
        if user is None:
            user = self.fresh_user()
        host, port = server.imaps_addr
        M = imaplib.IMAP4_SSL(host, port, ssl_context=ssl_ctx(), timeout=10)

        def _bye():
            try:
                M.logout()
            except Exception:
                try:
                    M.shutdown()
                except Exception:
                    pass
        self.addCleanup(_bye)
        typ, data = M.login(*user)
        self.assertEqual(typ, "OK", data)
        M.user = user
        return M

    def raw(self, user=None, server=None, timeout=10.0):
        """MailConn over implicit TLS, logged in."""
        server = server or self.server
        if user is None:
            user = self.fresh_user()
        c = MailConn(server.imaps_addr, tls=True, timeout=timeout)
        self.addCleanup(c.close)
        u, t = c.cmd('LOGIN "%s" "%s"' % user)
        self.assertTrue(t.startswith(b"OK"), t)
        c.user = user
        return c

    # -- store ------------------------------------------------------------
    def deliver(self, user, msg, folder=None, instance=None):
        instance = instance or self.instance
        name = user[0] if isinstance(user, tuple) else user
        args = ["deliver", name] + ([folder] if folder else [])
        p = instance.ctl(*args, input=msg, check=False)
        self.assertEqual(p.returncode, 0, "imapcidctl deliver failed: %r %r"
                         % (p.stdout, p.stderr))
        return p

    def maildir(self, user, instance=None):
        instance = instance or self.instance
        name = user[0] if isinstance(user, tuple) else user
        return os.path.join(instance.dir, "mail", name)

    def folder_dir(self, user, folder, instance=None):
        root = self.maildir(user, instance)
        return root if folder.upper() == "INBOX" else os.path.join(root, "." + folder)

    def message_files(self, user, folder="INBOX", instance=None):
        """Names of the message files in cur/ and new/ (as 'cur/NAME')."""
        d = self.folder_dir(user, folder, instance)
        out = []
        for sub in ("cur", "new"):
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                out += ["%s/%s" % (sub, n) for n in sorted(os.listdir(p))
                        if not n.startswith(".")]
        return out

    # -- assertions ---------------------------------------------------------
    def assertOK(self, typ_or_tagged, data=None, msg=None):
        if isinstance(typ_or_tagged, bytes):
            self.assertTrue(typ_or_tagged.startswith(b"OK"), msg or typ_or_tagged)
        else:
            self.assertEqual(typ_or_tagged, "OK", msg or data)

    def assertNO(self, tagged, msg=None):
        self.assertTrue(tagged.startswith(b"NO"), msg or tagged)


def wait_for(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def run_tool(cmd, env=None, timeout=30, cwd=None):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=timeout, cwd=cwd)


def imaplib_fetch(M, msgset, items, uid=False):
    """FETCH through imaplib, re-assembled and parsed: {seq: dict}."""
    if uid:
        typ, data = M.uid("FETCH", msgset, items)
    else:
        typ, data = M.fetch(msgset, items)
    if typ != "OK":
        raise AssertionError("FETCH %s %s -> %r %r" % (msgset, items, typ, data))
    responses = []
    for d in data:
        if d is None:
            continue
        head = d[0] if isinstance(d, tuple) else d
        cont = head[:1] in (b" ", b")")
        chunk = head + (b"\r\n" + d[1] if isinstance(d, tuple) else b"")
        if cont and responses:
            responses[-1] += chunk
        else:
            responses.append(chunk)
    out = {}
    for r in responses:
        seq, dct = fetch_dict(b"* " + r[:r.index(b" ")] + b" FETCH " + r[r.index(b" ") + 1:])
        out.setdefault(seq, {}).update(dct)
    return out


def internaldate(value):
    """An INTERNALDATE value (bytes) -> aware datetime."""
    import datetime
    s = value.decode() if isinstance(value, bytes) else value
    return datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")


def status_of_line(untagged):
    """{ITEM: number} from the one '* STATUS' line among untagged responses."""
    lines = [l for l in untagged if l.startswith(b"* STATUS ")]
    if len(lines) != 1:
        raise AssertionError("expected one * STATUS line, got %r" % untagged)
    items = parse(lines[0], len(b"* STATUS "))[1]
    return {str(items[i]).upper(): int(items[i + 1]) for i in range(0, len(items), 2)}
