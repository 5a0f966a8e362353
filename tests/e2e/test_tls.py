"""TLS: protocol versions, STARTTLS handling, openssl s_client interop.

CLIENTID is advertised only under TLS (CID-CAP-1), so every TLS path is
checked for it.
"""

import shutil
import ssl
import subprocess
import unittest
import uuid
import warnings

from harness import (BASE_CAPS, EXAMPLE_UUID, Conn, ServerTestCase,
                     caps_of, client_context)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    TLS1 = ssl.TLSVersion.TLSv1
    TLS11 = ssl.TLSVersion.TLSv1_1
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3

HANDSHAKE_REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError,
                     ConnectionAbortedError)


def tls11_client_context():
    return client_context(TLS1, TLS11, seclevel0=True)


def local_can_offer_tls11(cert, key):
    """True if this Python/OpenSSL can complete a TLS 1.1 handshake with
    itself (in memory) using the instance's certificate."""
    try:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sctx.minimum_version = TLS1
            sctx.maximum_version = TLS11
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        sctx.load_cert_chain(cert, key)
        cctx = tls11_client_context()
    except (ssl.SSLError, ValueError):
        return False
    cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
    cobj = cctx.wrap_bio(cin, cout, server_hostname="localhost")
    sobj = sctx.wrap_bio(sin, sout, server_side=True)
    done = [False, False]
    try:
        for _ in range(50):
            for i, obj in enumerate((cobj, sobj)):
                if not done[i]:
                    try:
                        obj.do_handshake()
                        done[i] = True
                    except ssl.SSLWantReadError:
                        pass
            sin.write(cout.read())
            cin.write(sout.read())
            if all(done):
                return cobj.version() == "TLSv1.1"
    except ssl.SSLError:
        return False
    return False


class TlsVersions(ServerTestCase):
    ctl_user = False

    def _check_session(self, c, version):
        self.assertEqual(c.tls_version(), version)
        untagged, resp = c.cmd("CAPABILITY")
        self.assertIn("CLIENTID", caps_of(untagged[0]))
        self.assertEqual(c.cmd("CLIENTID UUID " + EXAMPLE_UUID)[1], b"OK CLIENTID accepted.")
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])

    def test_tls12_and_tls13_work(self):
        """TLS 1.2 and 1.3 work on both the implicit-TLS port and via STARTTLS,
        and CLIENTID is advertised/accepted on each (CID-CAP-1)."""
        for ver, name in ((TLS12, "TLSv1.2"), (TLS13, "TLSv1.3")):
            with self.subTest(version=name, port="imaps"):
                c = self.connect(tls=True, ctx=client_context(ver, ver))
                self.assertIn("CLIENTID", caps_of(c.greeting))
                self._check_session(c, name)
            with self.subTest(version=name, port="starttls"):
                c = self.connect()
                c.starttls(ctx=client_context(ver, ver))
                self._check_session(c, name)

    def test_tls11_refused(self):
        """A client limited to TLS <= 1.1 fails the handshake (implicit TLS and
        STARTTLS); the server keeps serving."""
        if not local_can_offer_tls11(self.instance.cert, self.instance.key):
            self.skipTest("local OpenSSL cannot offer TLS 1.1")
        with self.assertRaises(HANDSHAKE_REFUSED):
            c = Conn(self.server.imaps_addr, tls=True, ctx=tls11_client_context())
            c.close()
        c = self.connect()
        c.cmd("STARTTLS")
        with self.assertRaises(HANDSHAKE_REFUSED):
            c._wrap(tls11_client_context())
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_min_version_13(self):
        """-o tls_min_version=1.3: a TLS 1.2-only client is refused, 1.3 works."""
        srv = self.dedicated_server({"tls_min_version": "1.3"})
        with self.assertRaises(HANDSHAKE_REFUSED):
            c = Conn(srv.imaps_addr, tls=True, ctx=client_context(TLS12, TLS12))
            c.close()
        c = Conn(srv.imaps_addr, tls=True, ctx=client_context(TLS13, TLS13))
        self.addCleanup(c.close)
        self._check_session(c, "TLSv1.3")

    def test_non_tls_bytes_on_imaps_port(self):
        """Plain IMAP on the implicit-TLS port does not crash the server."""
        c = Conn(self.server.imaps_addr, greet=False)
        self.addCleanup(c.close)
        c.send(b"a LOGIN joe password\r\n")
        try:
            data = c.read_until_closed(timeout=5)
        except TimeoutError:
            data = None
        c.close()
        if data is not None:
            self.assertFalse(any(l.startswith(b"a OK") for l in data), data)
        c = self.connect(tls=True)
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")


class TlsIsolation(ServerTestCase):
    """A TLS failure on one connection must not affect another connection
    served by the same I/O thread (io_threads=1 makes that deterministic)."""

    server_overrides = {"io_threads": "1", "log_level": "debug"}
    ctl_user = False

    def _closed_by_peer(self, conn):
        """Close conn abruptly (no close_notify, no LOGOUT) and wait (bounded)
        until the server has logged a disconnect, if it logs one."""
        mark = self.server.mark()
        conn.close()
        self.server.wait_log(r"\bdisconnect\b", since=mark, timeout=1)

    def _other_still_works(self, victim_kind, trigger):
        victim = self.connect(tls=(victim_kind == "imaps"), starttls=(victim_kind == "starttls"))
        trigger()
        self.assertEqual(victim.cmd("NOOP")[1], b"OK NOOP completed.")
        self.assertEqual(victim.cmd("CLIENTID UUID abc")[1], b"OK CLIENTID accepted.")
        self.assertLoggedIn(victim.cmd("LOGIN joe password")[1])

    def test_abrupt_tls_close_does_not_drop_other_connections(self):
        """A TLS client that closes TCP without close_notify does not make the
        server drop another idle TLS connection on its next command."""
        def abrupt_imaps():
            self._closed_by_peer(Conn(self.server.imaps_addr, tls=True))

        def abrupt_starttls():
            c = Conn(self.server.imap_addr)
            c.starttls()
            self._closed_by_peer(c)
        for victim in ("imaps", "starttls"):
            for name, trig in (("imaps", abrupt_imaps), ("starttls", abrupt_starttls)):
                with self.subTest(victim=victim, closer=name):
                    self._other_still_works(victim, trig)

    def test_failed_handshake_does_not_drop_other_connections(self):
        """A failed handshake (TLS 1.1 client, garbage bytes) does not make the
        server drop another TLS connection."""
        def tls11():
            try:
                Conn(self.server.imaps_addr, tls=True, ctx=tls11_client_context()).close()
            except HANDSHAKE_REFUSED:
                pass

        def garbage():
            c = Conn(self.server.imaps_addr, greet=False)
            c.send(b"\x16\x03\x01\x00\x05hello-not-tls\r\n")
            try:
                c.read_until_closed(timeout=5)
            finally:
                c.close()
        for victim in ("imaps", "starttls"):
            for name, trig in (("tls1.1", tls11), ("garbage", garbage)):
                with self.subTest(victim=victim, trigger=name):
                    self._other_still_works(victim, trig)


class StartTls(ServerTestCase):
    ctl_user = False

    def test_starttls_on_tls_connection_bad(self):
        """STARTTLS on the implicit-TLS port, or a second STARTTLS -> tagged BAD;
        the connection stays usable."""
        c = self.connect(tls=True)
        untagged, resp = c.cmd("STARTTLS")
        self.assertRegex(resp, rb"^BAD .+")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")
        c = self.connect(starttls=True)
        untagged, resp = c.cmd("STARTTLS")
        self.assertRegex(resp, rb"^BAD .+")
        self.assertEqual(c.cmd("CLIENTID UUID x")[1], b"OK CLIENTID accepted.")

    def test_starttls_with_arguments_bad(self):
        """STARTTLS takes no arguments."""
        c = self.connect()
        untagged, resp = c.cmd("STARTTLS now")
        self.assertRegex(resp, rb"^BAD .+")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_starttls_pipelined_plaintext_not_executed(self):
        """`a STARTTLS\\r\\nb LOGIN joe password\\r\\n` in one send: the pipelined
        plaintext command is never executed (no response for tag b, before or
        after the handshake, and no auth log line).  Dropping the buffered
        plaintext and continuing, or closing the connection, are both fine."""
        c = self.connect()
        mark = self.server.mark()
        c.send(b"a STARTTLS\r\nb LOGIN joe password\r\n")
        self.assertEqual(c.readline(), b"a OK Begin TLS negotiation now.")
        self.assertEqual(c.buf, b"", "plaintext after the STARTTLS OK")
        handshake_ok = False
        try:
            c._wrap()
            handshake_ok = True
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
            pass            # server closed the connection: acceptable
        except ssl.SSLError as e:
            self.fail("TLS handshake got non-TLS data (plaintext answer to the "
                      "pipelined command?): %r" % e)
        if handshake_ok:
            c.send(b"c CAPABILITY\r\n")
            untagged, tagged = c.read_tagged("c")
            self.assertFalse([l for l in untagged if l.startswith(b"b ")], untagged)
            self.assertEqual(tagged, b"c OK Capability completed.")
            # still not authenticated: CLIENTID is advertised and accepted
            self.assertIn("CLIENTID", caps_of(untagged[0]))
            self.assertEqual(c.cmd("CLIENTID UUID x", tag="d")[1], b"OK CLIENTID accepted.")
        else:
            c.close()
            self.assertTrue(self.server.alive())
        self.assertEqual(self.server.wait_auth(mark, timeout=0.3), [],
                         "the pipelined LOGIN was executed")


@unittest.skipUnless(shutil.which("openssl"), "openssl CLI not installed")
class OpensslSClient(ServerTestCase):
    ctl_user = False

    def s_client(self, args, script):
        p = subprocess.run(["openssl", "s_client"] + args + ["-quiet", "-crlf"],
                           input=script.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        out = p.stdout
        self.assertTrue(out.endswith(b"\r\n"), out)
        return out[:-2].split(b"\r\n"), p

    def test_s_client_implicit_tls(self):
        """openssl s_client -connect HOST:PORT -quiet (implicit TLS): greeting
        advertises CLIENTID (CID-CAP-1); pipelined CAPABILITY, CLIENTID, LOGIN,
        LOGOUT all succeed (CID-RES-1/CID-RES-2)."""
        host, port = self.server.imaps_addr
        tok = str(uuid.uuid4())
        mark = self.server.mark()
        lines, p = self.s_client(["-connect", "%s:%d" % (host, port)],
                                 "a CAPABILITY\nb CLIENTID UUID %s\nc LOGIN joe password\n"
                                 "d LOGOUT\n" % tok)
        self.assertEqual(len(lines), 7, lines)
        self.assertRegex(lines[0], rb"^\* OK \[CAPABILITY [^\]]*\] imapcid ready\.$")
        self.assertIn("CLIENTID", caps_of(lines[0]))
        self.assertTrue(lines[1].startswith(b"* CAPABILITY "), lines)
        self.assertIn("CLIENTID", caps_of(lines[1]))
        self.assertEqual(lines[2], b"a OK Capability completed.")
        self.assertEqual(lines[3], b"b OK CLIENTID accepted.")
        self.assertTrue(lines[4].startswith(b"c "), lines)
        self.assertLoggedIn(lines[4][2:])
        self.assertEqual(lines[5:], [b"* BYE Logging out.", b"d OK Logout completed."])
        evs = self.server.wait_auth(mark, user="joe", result="ok")
        self.assertEqual(len(evs), 1)
        self.assertRegex(evs[0].get("clientid", ""), r"^UUID/fp=[0-9a-f]{16}$")
        self.assertNotInLog(tok)

    def test_s_client_starttls(self):
        """openssl s_client -starttls imap: after the upgrade CAPABILITY has
        CLIENTID, CLIENTID is OK, LOGIN is OK (example 1 through OpenSSL)."""
        host, port = self.server.imap_addr
        lines, p = self.s_client(["-connect", "%s:%d" % (host, port), "-starttls", "imap"],
                                 "a CAPABILITY\nb CLIENTID UUID %s\nc LOGIN joe password\n"
                                 "d LOGOUT\n" % EXAMPLE_UUID)
        self.assertEqual(len(lines), 6, lines)
        self.assertTrue(lines[0].startswith(b"* CAPABILITY "), lines)
        self.assertEqual(set(caps_of(lines[0])), BASE_CAPS | {"AUTH=PLAIN", "CLIENTID"})
        self.assertEqual(lines[1], b"a OK Capability completed.")
        self.assertEqual(lines[2], b"b OK CLIENTID accepted.")
        self.assertTrue(lines[3].startswith(b"c "), lines)
        self.assertLoggedIn(lines[3][2:])
        self.assertEqual(lines[4:], [b"* BYE Logging out.", b"d OK Logout completed."])


if __name__ == "__main__":
    unittest.main()
