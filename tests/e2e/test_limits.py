"""Limits, timeouts, connection caps, signals, listeners.

These are the server's hardening rules (docs/CONFIGURATION.md, Limits); the ones
that touch CLIENTID name their CID-* rule.
"""

import signal
import socket
import ssl
import time
import unittest

from harness import (AUTH_FAILED, Conn, ServerTestCase, caps_of, have_ipv6_loopback)


class PreauthLimits(ServerTestCase):
    """Default limits (limit_bad_commands_preauth=3, limit_line_preauth=4096,
    limit_literal_preauth=4096)."""

    ctl_user = False

    def assertClosedAfter(self, c, expected_lines, timeout=5):
        lines = c.read_until_closed(timeout)
        self.assertEqual(lines, expected_lines)

    def test_three_consecutive_bads_bye(self):
        """Three consecutive BADs before auth -> `* BYE Too many invalid
        commands.` and the connection closes."""
        c = self.connect()
        self.assertEqual(c.cmd("FOO", tag="x1")[1], b"BAD Unknown command.")
        self.assertEqual(c.cmd("FOO", tag="x2")[1], b"BAD Unknown command.")
        c.send(b"x3 FOO\r\n")
        # the third BAD is answered, then the BYE ends the connection
        self.assertEqual(c.read_until_closed(),
                         [b"x3 BAD Unknown command.", b"* BYE Too many invalid commands."])

    def test_bads_counted_for_clientid_and_invalid_tags(self):
        """Malformed CLIENTID (CID-SYN-2) and invalid tags count as BADs too."""
        c = self.connect(tls=True)
        self.assertRegex(c.cmd("CLIENTID UUID", tag="x1")[1], rb"^BAD CLIENTID: ")
        c.send(b"a*b NOOP\r\n")
        self.assertEqual(c.readline(), b"* BAD Invalid tag.")
        c.send(b"x3 CLIENTID\r\n")
        lines = c.read_until_closed()
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], rb"^x3 BAD CLIENTID: .+\.$")
        self.assertEqual(lines[1], b"* BYE Too many invalid commands.")

    def test_non_consecutive_bads_do_not_disconnect(self):
        """A good command resets the count of consecutive BADs."""
        c = self.connect()
        for i in range(3):
            self.assertEqual(c.cmd("FOO")[1], b"BAD Unknown command.")
            self.assertEqual(c.cmd("FOO")[1], b"BAD Unknown command.")
            self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_bads_after_auth_do_not_disconnect(self):
        """The BAD limit is a pre-auth limit."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        for i in range(5):
            self.assertEqual(c.cmd("FOO")[1], b"BAD Unknown command.")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_line_too_long(self):
        """A line over limit_line_preauth -> `* BYE Line too long.` and close."""
        c = self.connect()
        c.send(b"a NOOP " + b"x" * 4200 + b"\r\n")
        self.assertClosedAfter(c, [b"* BYE Line too long."])

    def test_line_too_long_without_crlf(self):
        """An unterminated line over the limit is cut off as well."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe " + b"y" * 5000)
        self.assertClosedAfter(c, [b"* BYE Line too long."])

    def test_line_below_limit_ok(self):
        """A 4000-byte line is processed normally."""
        c = self.connect(tls=True)
        pw = "p" * (4000 - len("a LOGIN joe \r\n"))
        self.assertEqual(c.cmd("LOGIN joe " + pw, tag="a"), ([], AUTH_FAILED))

    def test_sync_literal_too_large(self):
        """A sync literal over limit_literal_preauth -> `TAG BAD Literal too
        large.` with no `+`; the connection stays usable."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe {5000}\r\n")
        self.assertEqual(c.readline(), b"a BAD Literal too large.")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_sync_literal_within_limit(self):
        """A 4000-octet sync literal is accepted (continuation sent)."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe {4000}\r\n")
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(b"z" * 4000 + b"\r\n")
        self.assertEqual(c.read_tagged("a"), ([], b"a " + AUTH_FAILED))

    def test_nonsync_literal_too_large(self):
        """A non-sync literal over the limit -> `* BYE Literal too large.` and close."""
        c = self.connect(tls=True)
        c.send(b"a LOGIN joe {5000+}\r\n")
        self.assertClosedAfter(c, [b"* BYE Literal too large."])

    def test_http_request_line(self):
        """An HTTP request line first -> `* BYE This is an IMAP server.` and close
        (STARTTLS port and implicit-TLS port)."""
        for tls in (False, True):
            with self.subTest(tls=tls):
                c = self.connect(tls=tls)
                c.send(b"GET / HTTP/1.1\r\n")
                self.assertClosedAfter(c, [b"* BYE This is an IMAP server."])


class IdleTimeout(ServerTestCase):
    server_overrides = {"timeout_preauth": "1"}
    ctl_user = False

    def test_preauth_idle_timeout(self):
        """-o timeout_preauth=1: an idle pre-auth connection gets `* BYE
        Disconnected for inactivity.` and is closed; an authenticated one is
        not subject to the pre-auth timeout."""
        auth = self.connect(tls=True)
        self.assertLoggedIn(auth.cmd("LOGIN joe password")[1])
        t0 = time.monotonic()
        c = self.connect()
        lines = c.read_until_closed(timeout=6)
        elapsed = time.monotonic() - t0
        self.assertEqual(lines, [b"* BYE Disconnected for inactivity."])
        self.assertGreaterEqual(elapsed, 0.8)
        # the authenticated connection has been idle longer than 1s by now
        with self.assertRaises(TimeoutError):
            auth.readline(timeout=0.7)
        self.assertEqual(auth.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_preauth_idle_timeout_tls(self):
        """The pre-auth timeout applies on the implicit-TLS port too."""
        c = self.connect(tls=True)
        self.assertEqual(c.read_until_closed(timeout=6), [b"* BYE Disconnected for inactivity."])

    def test_preauth_timeout_covers_tls_handshake(self):
        """A client that connects to the implicit-TLS port and never starts the
        handshake is closed by the pre-auth timeout (docs/CONFIGURATION.md)."""
        t0 = time.monotonic()
        c = Conn(self.server.imaps_addr, greet=False)
        self.addCleanup(c.close)
        c.read_until_closed(timeout=6)
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)

    def test_partial_line_does_not_extend_timeout_forever(self):
        """Bytes without a line end still leave the connection subject to the
        pre-auth timeout (no slowloris by trickling a partial line once)."""
        c = self.connect()
        c.send(b"a NOO")
        self.assertEqual(c.read_until_closed(timeout=6), [b"* BYE Disconnected for inactivity."])


class LoginDeadline(ServerTestCase):
    """timeout_login: an absolute deadline to authenticate, whatever the client
    sends meanwhile (issue: pre-auth bounded per connection)."""

    server_overrides = {"timeout_login": "2s", "timeout_preauth": "60s"}
    ctl_user = False

    def test_busy_client_is_cut_at_the_deadline(self):
        """NOOP every 0.3 s keeps the idle timeout (60 s) from firing, but not
        the login deadline: `* BYE Login timed out.` at about 2 s."""
        t0 = time.monotonic()
        c = self.connect(tls=True)
        lines = []
        while True:
            try:
                c.send(b"n NOOP\r\n")
            except OSError:
                break
            try:
                line = c.readline(timeout=0.3)
            except TimeoutError:
                continue
            except Exception:
                break
            if line.startswith(b"* BYE"):
                lines.append(line)
                break
            self.assertLess(time.monotonic() - t0, 10, "never cut")
        elapsed = time.monotonic() - t0
        self.assertEqual(lines, [b"* BYE Login timed out."])
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 8)

    def test_byte_drip_is_cut_at_the_deadline(self):
        """One byte of a command at a time, never a whole line."""
        t0 = time.monotonic()
        c = self.connect(tls=True)
        closed = []
        for ch in b"a NOOP":
            c.send(bytes([ch]))
            try:
                closed = c.read_until_closed(timeout=0.4)
                break
            except TimeoutError:
                pass
        if not closed:
            closed = c.read_until_closed(timeout=8)
        self.assertEqual(closed, [b"* BYE Login timed out."])
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)

    def test_logged_in_before_the_deadline_stays(self):
        """The deadline is for logging in: a session that did is not cut."""
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")
            time.sleep(0.2)


class PreauthHoarding(ServerTestCase):
    """Pre-auth input is bounded per command, not only per line and literal:
    limit_command_preauth (8k by default) counts literal octets too."""

    ctl_user = False

    def test_nonsync_literals_cannot_pile_up(self):
        """510 non-synchronizing 4 KiB literals in one command (2 MB held on
        main at 11e0853): `* BYE Literal too large.` once the command would
        pass 8 KiB, and the connection closes (an ID, 31,870 octets)."""
        c = self.connect(tls=True)
        chunk = b"".join(b' {4000+}\r\n' + b"v" * 4000 for i in range(4))
        c.send(b"a LOGIN" + chunk)
        self.assertEqual(c.read_until_closed(timeout=5), [b"* BYE Literal too large."])

    def test_nonsync_literal_to_command_without_literals(self):
        """A non-synchronizing literal is checked against the command table
        like a synchronizing one: read, dropped, refused with BAD."""
        c = self.connect(tls=True)
        c.send(b"a CAPABILITY {5+}\r\nhello\r\n")
        self.assertEqual(c.readline(), b"a BAD CAPABILITY: a literal is not allowed here.")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_empty_lines_count_as_errors(self):
        """CRLF alone is no command; three in a row end the connection like
        three bad commands."""
        c = self.connect(tls=True)
        c.send(b"\r\n\r\n\r\n")
        self.assertEqual(c.read_until_closed(timeout=5),
                         [b"* BAD Empty command line."] * 3 +
                         [b"* BYE Too many invalid commands."])

    def test_empty_lines_after_login_are_ignored(self):
        c = self.connect(tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        for _ in range(5):
            c.send(b"\r\n")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")


class PerIpCap(ServerTestCase):
    server_overrides = {"max_connections_per_ip": "2"}
    ctl_user = False

    def test_third_connection_refused(self):
        """-o max_connections_per_ip=2: the third concurrent connection gets
        `* BYE Too many connections from your address.` and is closed; after one
        closes a new connection is accepted again."""
        c1 = self.connect()
        self.assertGreetingOK(c1)
        c2 = self.connect(tls=True)
        self.assertGreetingOK(c2)
        c3 = Conn(self.server.imap_addr, greet=False)
        self.addCleanup(c3.close)
        self.assertEqual(c3.read_until_closed(), [b"* BYE Too many connections from your address."])
        c4 = Conn(self.server.imaps_addr, tls=True, greet=False)
        self.addCleanup(c4.close)
        self.assertEqual(c4.read_until_closed(), [b"* BYE Too many connections from your address."])
        # free a slot: LOGOUT c1, then poll (bounded) until a new one is accepted
        c1.send(b"a LOGOUT\r\n")
        c1.read_until_closed()
        deadline = time.monotonic() + 5
        while True:
            c5 = Conn(self.server.imap_addr, greet=False)
            self.addCleanup(c5.close)
            first = c5.readline()
            if first.startswith(b"* OK "):
                break
            self.assertEqual(first, b"* BYE Too many connections from your address.")
            self.assertLess(time.monotonic(), deadline, "slot never freed")
            time.sleep(0.05)
        self.assertEqual(c5.cmd("NOOP")[1], b"OK NOOP completed.")


class GlobalCap(ServerTestCase):
    server_overrides = {"max_connections": "2"}
    ctl_user = False

    def test_max_connections(self):
        """-o max_connections=2: the third connection gets `* BYE Too many
        connections.` (docs/CONFIGURATION.md) and is closed."""
        c1 = self.connect()
        c2 = self.connect(tls=True)
        self.assertLoggedIn(c2.cmd("LOGIN joe password")[1])
        c3 = Conn(self.server.imaps_addr, tls=True, greet=False)
        self.addCleanup(c3.close)
        self.assertEqual(c3.read_until_closed(), [b"* BYE Too many connections."])


class Signals(ServerTestCase):
    """SIGTERM / SIGHUP on dedicated servers."""

    ctl_user = False
    start_class_server = False

    def test_sigterm_bye_and_exit_0(self):
        """SIGTERM with open idle connections (pre-auth plain, authenticated TLS):
        each gets `* BYE Server shutting down.`, and the server exits 0."""
        srv = self.dedicated_server(check_exit=False)   # exit status checked here
        c1 = self.connect(srv)
        c2 = self.connect(srv, tls=True)
        self.assertLoggedIn(c2.cmd("LOGIN joe password")[1])
        c3 = self.connect(srv, starttls=True)
        srv.signal(signal.SIGTERM)
        for c in (c1, c2, c3):
            self.assertEqual(c.read_until_closed(timeout=12), [b"* BYE Server shutting down."])
        self.assertEqual(srv.wait_exit(15), 0, srv.log_text())
        self.assertEqual(srv.sanitizer_reports(), [])

    def test_sighup_reloads_passwd(self):
        """SIGHUP after rewriting the passwd file: a new user can log in, and the
        server keeps running."""
        srv = self.dedicated_server()
        c = self.connect(srv, tls=True)
        self.assertEqual(c.cmd("LOGIN newbie newbie-pw")[1], AUTH_FAILED)
        srv.instance.add_plain_user("newbie", "newbie-pw")
        srv.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            c = self.connect(srv, tls=True)
            resp = c.cmd("LOGIN newbie newbie-pw")[1]
            if resp != AUTH_FAILED or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertLoggedIn(resp)
        c = self.connect(srv, tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        self.assertTrue(srv.alive())

    def test_sighup_reloads_certificate(self):
        """SIGHUP reloads tls_cert/tls_key (docs/CONFIGURATION.md): new
        connections get the new certificate, the old connection keeps working."""
        srv = self.dedicated_server()
        old = self.connect(srv, tls=True)
        old_der = old.sock.getpeercert(binary_form=True)
        inst = srv.instance
        inst._make_cert()
        with open(inst.cert, "rb") as f:
            new_pem = f.read().decode()
        new_der = ssl.PEM_cert_to_DER_cert(new_pem)
        self.assertNotEqual(old_der, new_der)
        srv.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            c = self.connect(srv, tls=True)
            got = c.sock.getpeercert(binary_form=True)
            if got == new_der or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(got, new_der, "certificate not reloaded on SIGHUP")
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        self.assertEqual(old.cmd("NOOP")[1], b"OK NOOP completed.")

    def test_sighup_keeps_existing_connections(self):
        """SIGHUP does not drop established connections."""
        srv = self.dedicated_server()
        c = self.connect(srv, tls=True)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        p = self.connect(srv)
        srv.signal(signal.SIGHUP)
        self.assertEqual(self.connect(srv).cmd("NOOP")[1], b"OK NOOP completed.")
        self.assertEqual(c.cmd("NOOP")[1], b"OK NOOP completed.")
        self.assertEqual(p.cmd("NOOP")[1], b"OK NOOP completed.")
        self.assertTrue(srv.alive())


class Listeners(ServerTestCase):
    ctl_user = False
    start_class_server = False

    def test_ipv6_listener(self):
        """listen_imap=127.0.0.1:0,[::1]:0 and listen_imaps=[::1]:0: both imap
        listeners log their port, IPv6 STARTTLS+CLIENTID+LOGIN and implicit TLS work."""
        if not have_ipv6_loopback():
            self.skipTest("no ::1 on this host")
        srv = self.dedicated_server({"listen_imap": "127.0.0.1:0,[::1]:0",
                                     "listen_imaps": "[::1]:0"})
        hosts = sorted(h for h, _ in srv.imap)
        self.assertEqual(hosts, ["127.0.0.1", "::1"])
        self.assertEqual([h for h, _ in srv.imaps], ["::1"])
        v6 = [a for a in srv.imap if a[0] == "::1"][0]
        c = Conn(v6)
        self.addCleanup(c.close)
        self.assertEqual(c.sock.family, socket.AF_INET6)
        c.starttls()
        self.assertEqual(c.cmd("CLIENTID UUID abc")[1], b"OK CLIENTID accepted.")
        mark = srv.mark()
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])
        evs = srv.wait_auth(mark, user="joe", result="ok")
        self.assertEqual(len(evs), 1)
        self.assertIn(evs[0].get("peer"), ("::1", "[::1]"))
        c = Conn(srv.imaps_addr, tls=True)
        self.addCleanup(c.close)
        self.assertIn("CLIENTID", caps_of(c.greeting))
        v4 = [a for a in srv.imap if a[0] == "127.0.0.1"][0]
        c = Conn(v4)
        self.addCleanup(c.close)
        self.assertIn("STARTTLS", caps_of(c.greeting))

    def test_no_imap_listener(self):
        """listen_imap= (empty) -> no STARTTLS listener; imaps still works."""
        srv = self.dedicated_server({"listen_imap": ""})
        self.assertEqual(srv.imap, [])
        self.assertEqual(len(srv.imaps), 1)
        c = Conn(srv.imaps_addr, tls=True)
        self.addCleanup(c.close)
        self.assertLoggedIn(c.cmd("LOGIN joe password")[1])


if __name__ == "__main__":
    unittest.main()
