"""Support for the device-policy end-to-end tests (test_policy*.py).

Built on harness.py (used read-only):

  * make_instance()  - an Instance with extra global keys, extra accounts and
                       `[type PATTERN]` sections appended after the global keys.
  * BoundConn        - harness.Conn over implicit TLS from a chosen loopback
                       source address (127.0.0.0/8 is all local on Linux), so
                       one test can play several networks / one CGNAT address.
  * WebhookReceiver  - a local HTTP server (alert_webhook) that keeps the
                       JSON bodies it is sent.
  * AlertCommand     - an alert_command script that appends "EVENT<TAB>JSON"
                       lines to a file.
  * PolicyTestCase   - one dedicated server per test, with helpers to log in
                       as a device, read the registry / audit through
                       `imapcidctl ... --json`, and wait for alerts on every
                       channel (syslog line, webhook, command).  At the end of
                       every test, no token used by the test may appear in any
                       log line or alert (CID-PRV-2).
"""

import http.server
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid

from harness import (AUTH_FAILED, Conn, Instance, Server, ServerTestCase, client_context,
                     plain_ir, quote)

OK_CLIENTID = b"OK CLIENTID accepted."

# Source addresses.  NET_A and NET_B are different /16 networks; CGNAT is one
# address shared by "many devices".
NET_A = "127.0.0.2"
NET_A2 = "127.0.0.3"          # same /16 as NET_A
NET_B = "127.1.0.2"
CGNAT = "127.0.0.9"

SENTINEL_TYPE = "ZZSENTINEL"


def new_token():
    return "tok-" + uuid.uuid4().hex


class Device:
    """A client device: a CLIENTID type and token, and where it connects from."""

    def __init__(self, type="UUID", token=None, source=NET_A):
        self.type = type
        self.token = token or new_token()
        self.source = source

    def at(self, source):
        return Device(self.type, self.token, source)

    def __repr__(self):
        return "Device(%s %s from %s)" % (self.type, self.token, self.source)


# ---------------------------------------------------------------------------
# Instance with [type] sections
# ---------------------------------------------------------------------------

def make_instance(config=None, types=(), users=None, sentinel=True):
    """types: [(pattern, flags)], written as `[type PATTERN]` / `flags = ...`
    sections after every global key (a section ends after its flags line).
    sentinel: first a section for the barrier type (see PolicyTestCase)."""
    inst = Instance(ctl_user=False, extra_config=dict(config or {}))
    try:
        for u, p in (users or {}).items():
            inst.add_plain_user(u, p)
        sections = list(types)
        if sentinel:
            sections.insert(0, (SENTINEL_TYPE, "syslog userlog auth alert-fail"))
        if sections:
            with open(inst.conf, "a") as f:
                for pattern, flags in sections:
                    f.write("\n[type %s]\nflags = %s\n" % (pattern, flags))
    except BaseException:
        inst.cleanup()
        raise
    return inst


# ---------------------------------------------------------------------------
# A TLS client bound to a source address
# ---------------------------------------------------------------------------

class BoundConn(Conn):
    """harness.Conn over implicit TLS, from source address `source`."""

    def __init__(self, addr, source, timeout=5.0, freebind=False):
        """freebind: bind to a source address no interface has (one of a
        prefix routed to lo, see test_attack_shapes)."""
        self.timeout = timeout
        self.source = source
        if freebind:
            fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.setsockopt(socket.SOL_IP, 15, 1)   # IP_FREEBIND
            self.sock.bind((source, 0))
            self.sock.connect(addr)
        else:
            self.sock = socket.create_connection(addr, timeout=timeout,
                                                 source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tls = False
        self.closed = False
        self.reset = False
        self._tag = 0
        self.greeting = None
        self._wrap(client_context())
        self.greeting = self.readline()

    def raw_command(self, tag, text):
        """Send 'TAG text' and return (untagged lines, the full tagged line
        with its tag)."""
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.read_tagged(tag)

    def logout(self):
        try:
            self.send(b"Z LOGOUT\r\n")
            self.read_until_closed(timeout=5)
        except (OSError, AssertionError, TimeoutError):
            pass
        self.close()


# ---------------------------------------------------------------------------
# Alert receivers
# ---------------------------------------------------------------------------

class WebhookReceiver:
    """alert_webhook target on 127.0.0.1; keeps (raw body, parsed JSON)."""

    def __init__(self):
        self.bodies = []
        self.cond = threading.Condition()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    doc = json.loads(raw.decode())
                except ValueError:
                    doc = None
                with recv.cond:
                    recv.bodies.append((raw, doc, self.headers.get("Content-Type")))
                    recv.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/alert" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def events(self):
        with self.cond:
            return [d for _, d, _ in self.bodies if d is not None]

    def raw(self):
        with self.cond:
            return [r for r, _, _ in self.bodies]

    def wait(self, pred, timeout=5):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [d for _, d, _ in self.bodies if d is not None and pred(d)]
                if hits:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AlertCommand:
    """alert_command: a script appending '$1<TAB><stdin>' lines to a file
    (in its own temporary directory)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="imapcid-alertcmd-")
        directory = self.dir
        self.path = os.path.join(directory, "alert-cmd.sh")
        self.out = os.path.join(directory, "alert-cmd.out")
        with open(self.path, "w") as f:
            f.write("#!/bin/sh\nbody=$(cat)\nprintf '%%s\\t%%s\\n' \"$1\" \"$body\" >> '%s'\n"
                    % self.out)
        os.chmod(self.path, stat.S_IRWXU)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def raw(self):
        try:
            with open(self.out, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def events(self):
        """[(argv1, parsed JSON or None)]"""
        out = []
        for line in self.raw().decode(errors="replace").splitlines():
            arg, _, body = line.partition("\t")
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            out.append((arg, doc))
        return out

    def wait(self, pred, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            hits = [(a, d) for a, d in self.events() if d is not None and pred(d)]
            if hits or time.monotonic() >= deadline:
                return hits
            time.sleep(0.05)


# ---------------------------------------------------------------------------
# Log parsing
# ---------------------------------------------------------------------------

_AUTH_LINE = re.compile(
    r"\bauth: user=(?P<user>\S+)(?: login=(?P<login>\S+))? peer=(?P<peer>\S+) "
    r"mech=(?P<mech>\S+) "
    r"clientid=(?P<clientid>.+?) mode=(?P<mode>\S+) result=(?P<result>ok|fail)"
    r'(?: reason="(?P<reason>[^"]*)")?(?: tarpit=(?P<tarpit>\d+)ms)?\s*$')
_ALERT_LINE = re.compile(
    r"\balert: event=(?P<event>\S+) account=(?P<account>\S+) peer=(?P<peer>\S+) "
    r'clientid=(?P<clientid>.+?) reason="(?P<reason>[^"]*)"')


def parse_auth_lines(lines):
    out = []
    for l in lines:
        m = _AUTH_LINE.search(l)
        if m:
            d = m.groupdict()
            d["_line"] = l
            out.append(d)
    return out


def parse_alert_lines(lines):
    out = []
    for l in lines:
        m = _ALERT_LINE.search(l)
        if m:
            d = m.groupdict()
            d["_line"] = l
            out.append(d)
    return out


def log_escape(text):
    """How the auth log line writes a client-chosen name: printable ASCII
    but backslash and double quote as is, every other byte as \\xHH."""
    out = []
    for b in text.encode():
        if 0x20 < b < 0x7F and b not in (0x5C, 0x22):
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


class Attempt:
    """One login attempt: the full tagged answer line (with its tag), the
    untagged lines before it, the auth log line, and the connection."""

    def __init__(self, line, untagged, ev, conn, device, elapsed):
        self.line = line
        self.untagged = untagged
        self.ev = ev
        self.conn = conn
        self.device = device
        self.elapsed = elapsed

    @property
    def ok(self):
        return re.match(rb"^\S+ OK \[CAPABILITY [^\]]*\] Logged in\.$", self.line) is not None

    @property
    def fp(self):
        """The fingerprint from the auth log line ('' when not logged)."""
        if self.ev is None:
            return ""
        cid = self.ev["clientid"]
        m = re.match(r"^[^/]+/fp=([0-9a-f]+)$", cid)
        return m.group(1) if m else ""

    def __repr__(self):
        return "Attempt(%r, ev=%r)" % (self.line, self.ev and self.ev["_line"])


# ---------------------------------------------------------------------------
# Test case base
# ---------------------------------------------------------------------------

class PolicyTestCase(ServerTestCase):
    """No class server: every test calls self.start(...) for its own."""

    start_class_server = False
    LOGIN_TAG = "L1"

    # fast budgets by default: nothing slows or blocks unless a test says so
    BASE_CONFIG = {
        "ratelimit_delay_base": "0",
        "ratelimit_token_block": "1000",
        "ratelimit_account_block": "1000",
        "ratelimit_address_block": "1000",
        "ratelimit_token_free": "1000",
        "ratelimit_account_free": "1000",
        "ratelimit_address_free": "1000",
        "ratelimit_network_block": "1000",
        "ratelimit_network_free": "1000",
    }

    def setUp(self):
        super().setUp()
        self.tokens = []       # every token the test used (CID-PRV-2 check)
        self._sentinels = 0
        self.srv = None

    # -- set-up ---------------------------------------------------------------
    def start(self, config=None, types=(), users=None, overrides=None,
              webhook=True, command=True, instance=None):
        """Start a dedicated server.  config: global keys written to the
        file; overrides: -o options.  Webhook and command alerts are wired."""
        if instance is None:
            cfg = dict(self.BASE_CONFIG)
            cfg.update(config or {})
            self.hook = WebhookReceiver() if webhook else None
            if self.hook:
                self.addCleanup(self.hook.close)
                cfg["alert_webhook"] = self.hook.url
                cfg.setdefault("alert_webhook_retries", "0")
            self.cmd_alerts = AlertCommand() if command else None
            if self.cmd_alerts:
                self.addCleanup(self.cmd_alerts.cleanup)
                cfg["alert_command"] = self.cmd_alerts.path
            self.mode = cfg.get("policy_mode", "observe")
            inst = make_instance(cfg, types, users)
            self.addCleanup(inst.cleanup)
            self.inst = inst
            self._servers = []       # the servers run on this instance
        else:
            self.inst = instance
        if overrides and "policy_mode" in overrides:
            self.mode = overrides["policy_mode"]
        holder = {}
        # checked after the server stopped (cleanups run last-in first-out)
        self.addCleanup(lambda: "srv" in holder and self._privacy_check(holder["srv"]))
        holder["srv"] = self.srv = self.dedicated_server(overrides=overrides,
                                                         instance=self.inst)
        self.server = self.srv     # for the harness tearDown liveness check
        self._servers.append(self.srv)
        return self.srv

    def restart(self, overrides=None):
        """Stop the server and start a new one on the same instance (same
        secret, same registry)."""
        old = self.srv
        old.stop()
        return self.start(instance=self.inst, overrides=overrides)

    def device(self, type="UUID", source=NET_A, token=None):
        d = Device(type, token, source)
        self.tokens.append(d.token)
        return d

    # -- connections -------------------------------------------------------------
    def open(self, source=None, device=None):
        """A TLS connection from source (default: the device's, else NET_A),
        with the device's CLIENTID sent; CLIENTID must be answered OK
        (CID-RES-1)."""
        if source is None:
            source = device.source if device is not None else NET_A
        c = BoundConn(self.srv.imaps_addr, source)
        self.addCleanup(c.close)
        if device is not None:
            if device.token not in self.tokens:
                self.tokens.append(device.token)
            _, line = c.raw_command("C1", "CLIENTID %s %s" % (device.type, device.token))
            self.assertEqual(line, b"C1 " + OK_CLIENTID,
                             "CLIENTID must always be OK (CID-RES-1, CID-POL-1)")
        return c

    def login(self, user, password=None, device=None, source=None, mech="LOGIN",
              keep=False, tag=None, conn=None):
        """One login attempt.  keep: leave the connection open (a session)."""
        if password is None:
            password = self.inst.users[user]
        tag = tag or self.LOGIN_TAG
        if conn is None:
            src = source or (device.source if device is not None else NET_A)
            conn = self.open(src, device)
        mark = self.srv.mark()
        t0 = time.monotonic()
        if mech == "LOGIN":
            untagged, line = conn.raw_command(tag, "LOGIN %s %s" % (quote(user), quote(password)))
        elif mech == "PLAIN":
            untagged, line = conn.raw_command(tag, "AUTHENTICATE PLAIN " + plain_ir(user, password))
        elif mech == "PLAIN-CONT":
            conn.send(("%s AUTHENTICATE PLAIN\r\n" % tag).encode())
            cont = conn.readline()
            self.assertTrue(cont.startswith(b"+"), cont)
            conn.send(plain_ir(user, password).encode() + b"\r\n")
            untagged, line = conn.read_tagged(tag)
        else:
            raise ValueError(mech)
        elapsed = time.monotonic() - t0
        ev = self.auth_event(mark, user)
        att = Attempt(line, untagged, ev, conn, device, elapsed)
        if not keep:
            if att.ok:
                conn.logout()
            else:
                conn.close()
        return att

    def auth_event(self, mark, user, timeout=5):
        user = log_escape(user)
        deadline = time.monotonic() + timeout
        while True:
            # the line names the canonical account, and the name as
            # typed (login=) when that differs
            evs = [e for e in parse_auth_lines(self.srv.snapshot()[mark:])
                   if (e["login"] or e["user"]) == user]
            if evs:
                return evs[-1]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    # -- assertions on attempts --------------------------------------------------
    def assertAccepted(self, att, msg=""):
        self.assertTrue(att.ok, "%s: expected a successful login, got %r" % (msg, att))
        self.assertIsNotNone(att.ev, "no auth log line for %r" % att)
        self.assertEqual(att.ev["result"], "ok", att.ev["_line"])

    def assertRefused(self, att, reason=None, msg=""):
        """Refused with exactly the generic failure (CID-POL-2)."""
        self.assertEqual(att.line, self.LOGIN_TAG.encode() + b" " + AUTH_FAILED,
                         "%s: %r" % (msg, att))
        self.assertEqual(att.untagged, [], "%s: untagged lines before a refusal" % msg)
        self.assertIsNotNone(att.ev, "no auth log line for %r" % att)
        self.assertEqual(att.ev["result"], "fail", att.ev["_line"])
        if reason is not None:
            self.assertEqual(att.ev["reason"], reason, att.ev["_line"])

    # -- registry and audit --------------------------------------------------------
    def ctl_json(self, *args):
        p = self.inst.ctl(*(list(args) + ["--json"]))
        return json.loads(p.stdout.decode())

    def sync(self, timeout=10):
        """Audit rows and device touches are written by the server's
        registry writer, after the answer: wait until every attempt logged
        so far (one auth line each) has its audit row (a touch commits with
        its row).  Returns every audit row."""
        want = sum(len(parse_auth_lines(s.snapshot())) for s in self._servers)
        deadline = time.monotonic() + timeout
        while True:
            rows = self.ctl_json("audit", "--limit", "1000000")
            if len(rows) >= want:
                return rows
            if time.monotonic() >= deadline:
                self.fail("%d audit rows for %d logged attempts" % (len(rows), want))
            time.sleep(0.03)

    def devices(self, user):
        self.sync()
        return self.ctl_json("device", "list", user)

    def device_row(self, user, fp):
        rows = [d for d in self.devices(user) if d["fingerprint"] == fp]
        self.assertLessEqual(len(rows), 1, rows)
        return rows[0] if rows else None

    def audit(self, user=None):
        rows = self.sync()
        return [r for r in rows if user is None or r["account"] == user.lower()]

    def ctl(self, *args, check=True):
        return self.inst.ctl(*args, check=check)

    # -- alerts ---------------------------------------------------------------------
    def syslog_alerts(self, event=None, account=None):
        return [a for a in parse_alert_lines(self.srv.snapshot())
                if (event is None or a["event"] == event)
                and (account is None or a["account"] == account)]

    def wait_alert(self, event, account, fp=None, type=None, count=1, timeout=5):
        """Wait until `count` alerts (event, account) arrived on the syslog
        line, the webhook and the command; check their fields and return the
        webhook JSON bodies."""
        def pred(d):
            return d.get("event") == event and d.get("account") == account and (
                fp is None or d.get("fingerprint") == fp)
        deadline = time.monotonic() + timeout
        while True:
            sys_hits = [a for a in self.syslog_alerts(event, account)
                        if fp is None or a["clientid"].endswith("/fp=" + fp)]
            hook_hits = self.hook.wait(pred, 0) if self.hook else None
            cmd_hits = self.cmd_alerts.wait(pred, 0) if self.cmd_alerts else None
            done = (len(sys_hits) >= count
                    and (hook_hits is None or len(hook_hits) >= count)
                    and (cmd_hits is None or len(cmd_hits) >= count))
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(len(sys_hits), count,
                                "no syslog alert %s for %s; alert lines: %r"
                                % (event, account, [a["_line"] for a in self.syslog_alerts()]))
        if self.hook:
            self.assertGreaterEqual(len(hook_hits), count,
                                    "no webhook alert %s for %s; got %r"
                                    % (event, account, self.hook.events()))
            for d in hook_hits:
                for k in ("event", "time_ms", "account", "peer", "clientid_type",
                          "fingerprint", "reason"):
                    self.assertIn(k, d, d)
                if type is not None:
                    self.assertEqual(d["clientid_type"], type, d)
        if self.cmd_alerts:
            self.assertGreaterEqual(len(cmd_hits), count,
                                    "no command alert %s for %s; got %r"
                                    % (event, account, self.cmd_alerts.events()))
            for arg, d in cmd_hits:
                self.assertEqual(arg, event, "alert_command argv[1]")
        return hook_hits if self.hook else sys_hits

    def barrier(self):
        """Raise a known alert (a failed login of the sentinel type for a
        fresh unknown account) and wait until every channel delivered it:
        alerts raised before it have been delivered too (one queue, one
        thread, in order)."""
        self._sentinels += 1
        acct = "zz-sentinel-%d" % self._sentinels
        if self.mode == "off":       # no alerts in mode off: not for the sentinel
            self.ctl("policy", "set", acct, "learn")
        dev = Device(SENTINEL_TYPE, new_token(), "127.0.0.250")
        self.tokens.append(dev.token)
        att = self.login(acct, "nope", device=dev)
        self.assertFalse(att.ok)
        self.wait_alert("login-failure", acct)
        time.sleep(0.05)   # webhook deliveries run concurrently: a little slack

    def alert_count(self, event, account, fp=None):
        """How many (event, account[, fp]) alerts each channel delivered:
        (syslog, webhook, command); call barrier() first."""
        def m(d):
            return (d.get("event") == event and d.get("account") == account
                    and (fp is None or d.get("fingerprint") == fp))
        sys_n = len([a for a in self.syslog_alerts(event, account)
                     if fp is None or a["clientid"].endswith("/fp=" + fp)])
        hook_n = len([d for d in self.hook.events() if m(d)]) if self.hook else sys_n
        cmd_n = (len([d for _, d in self.cmd_alerts.events() if d and m(d)])
                 if self.cmd_alerts else sys_n)
        return sys_n, hook_n, cmd_n

    def assertAlertCount(self, n, event, account, fp=None):
        """After a barrier: exactly n such alerts on every channel."""
        self.barrier()
        self.assertEqual(self.alert_count(event, account, fp), (n, n, n),
                         "alerts %s for %s (syslog, webhook, command); alert lines: %r"
                         % (event, account, [a["_line"] for a in self.syslog_alerts()]))

    def assertNoAlert(self, event, account, fp=None):
        self.assertAlertCount(0, event, account, fp)

    # -- privacy (CID-PRV-2), after every test -----------------------------------------
    def _privacy_check(self, srv):
        log = "\n".join(srv.snapshot())
        hook = b"\n".join(self.hook.raw()) if getattr(self, "hook", None) else b""
        cmd = self.cmd_alerts.raw() if getattr(self, "cmd_alerts", None) else b""
        for tok in self.tokens:
            self.assertNotIn(tok, log, "a client-id token appears in the server log (CID-PRV-2)")
            self.assertNotIn(tok.encode(), hook, "a token was sent to the webhook (CID-PRV-2)")
            self.assertNotIn(tok.encode(), cmd, "a token was given to alert_command (CID-PRV-2)")


class SharedServerPolicyTestCase(PolicyTestCase):
    """One server for the whole class (CONFIG, TYPES, USERS); tests keep
    apart by using their own accounts.  The server must exit 0 at the end."""

    CONFIG = {}
    TYPES = ()
    USERS = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cfg = dict(cls.BASE_CONFIG)
        cfg.update(cls.CONFIG)
        cls.hook = WebhookReceiver()
        cls.addClassCleanup(cls.hook.close)
        cfg["alert_webhook"] = cls.hook.url
        cfg.setdefault("alert_webhook_retries", "0")
        cls.cmd_alerts = AlertCommand()
        cls.addClassCleanup(cls.cmd_alerts.cleanup)
        cfg["alert_command"] = cls.cmd_alerts.path
        cls.mode = cfg.get("policy_mode", "observe")
        cls.inst = make_instance(cfg, cls.TYPES, cls.USERS)
        cls.addClassCleanup(cls.inst.cleanup)
        cls.shared = Server(cls.inst)
        cls.addClassCleanup(cls._stop_shared)
        cls.shared.start()

    @classmethod
    def _stop_shared(cls):
        srv = cls.shared
        if not srv.started:
            srv.stop()
            return
        alive = srv.alive()
        rc = srv.stop()
        if not alive or rc != 0 or srv.sanitizer_reports():
            raise AssertionError("shared server ended badly: alive=%r rc=%r; log tail:\n%s"
                                 % (alive, rc, "\n".join(srv.snapshot()[-40:])))

    def setUp(self):
        super().setUp()
        self.srv = self.server = self.shared
        self._servers = [self.shared]
        self._sentinels = 1000 * (1 + sorted(
            n for n in dir(type(self)) if n.startswith("test")).index(self._testMethodName))
        self.addCleanup(lambda: self._privacy_check(self.shared))

    def start(self, *a, **kw):
        raise AssertionError("this class shares one server")
