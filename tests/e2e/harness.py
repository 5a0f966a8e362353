"""End-to-end test harness for imapcidd.

Python 3 standard library only.  Provides:

  * Instance  - a throw-away instance directory: config file, ECDSA P-256
                self-signed certificate (openssl req CLI), passwd file with a
                {PLAIN} entry, a {SHA512-CRYPT} entry (openssl passwd -6) and
                optionally an entry created by `imapcidctl user add`.
  * Server    - runs `imapcidd -c CONF -o auth_failure_delay=0 [-o k=v...]`,
                waits for the "ready" line, parses the "listening on" lines,
                drains stderr in a thread and exposes the log lines.
  * Conn      - a tiny raw line client over TCP / TLS with STARTTLS upgrade.
  * ServerTestCase - unittest base class: one server per TestCase class plus
                helpers to start dedicated servers with special options.

The binary directory is $IMAPCID_BUILD (default "build", relative to the
repository root), so the same suite runs against an ASan build (build-asan).
"""

import atexit
import base64
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import warnings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    d = os.environ.get("IMAPCID_BUILD", "build")
    if not os.path.isabs(d):
        d = os.path.join(REPO_ROOT, d)
    return d


def daemon_path():
    return os.path.join(build_dir(), "imapcidd")


def sanitized():
    """True when the binaries under test are built with ASan: its
    quarantine keeps freed memory resident, so RSS figures mean nothing."""
    try:
        with open(daemon_path(), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def ctl_path():
    return os.path.join(build_dir(), "imapcidctl")


def require_binary(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("binary not found or not executable: %s "
                           "(build it, or set IMAPCID_BUILD)" % path)
    return path


# Test accounts.  joe is the draft's example user.
JOE = ("joe", "password")
SHA_USER = ("shauser", "Sha512-Pw!")          # {SHA512-CRYPT}, openssl passwd -6
CTL_USER = ("carol", "carol-secret-pw")        # created by imapcidctl user add

EXAMPLE_UUID = "23bf83be-aad7-46aa-9e0f-39191ccf402f"

BASE_CAPS = {"IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE"}
# After login: the mail extensions, and APPENDLIMIT=<n> (see authed_caps).
AUTHED_CAPS = BASE_CAPS | {"IMAP4rev2", "IDLE", "UIDPLUS", "MOVE", "UNSELECT",
                           "NAMESPACE", "CHILDREN", "SPECIAL-USE",
                           "STATUS=SIZE", "APPENDLIMIT", "ESEARCH",
                           "LIST-EXTENDED", "LIST-STATUS", "BINARY"}


def authed_caps(caps):
    """A capability set with APPENDLIMIT=<n> folded to APPENDLIMIT."""
    return {("APPENDLIMIT" if c.startswith("APPENDLIMIT=") else c) for c in caps}
AUTH_FAILED = b"NO [AUTHENTICATIONFAILED] Authentication failed."

# Everything that sanitizers print when something is wrong.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")

_live_servers = set()
_live_lock = threading.Lock()


def _kill_leftovers():
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        try:
            s.stop()
        except Exception:
            pass


atexit.register(_kill_leftovers)


def run(cmd, input=None, timeout=30, check=True, cwd=None):
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    if check and p.returncode != 0:
        raise RuntimeError("command %r failed (%d): %s %s" % (
            cmd, p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p


def have_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Instance directory
# ---------------------------------------------------------------------------

class Instance:
    """A temporary instance directory with config, certificate and passwd."""

    CONF_NAME = "imapcidd.conf"

    def __init__(self, ctl_user=False, extra_config=None):
        self.dir = tempfile.mkdtemp(prefix="imapcid-e2e-")
        try:
            self.conf = os.path.join(self.dir, self.CONF_NAME)
            self.passwd = os.path.join(self.dir, "passwd")
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            os.mkdir(os.path.join(self.dir, "mail"), 0o700)
            os.mkdir(os.path.join(self.dir, "state"), 0o700)
            self._make_cert()
            self.users = {}
            self._write_initial_passwd()
            self.write_config(extra_config or {})
            if ctl_user:
                self.ctl_user_add(*CTL_USER)
                self.users[CTL_USER[0]] = CTL_USER[1]
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    # -- files ------------------------------------------------------------
    def _make_cert(self):
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
             "-days", "2", "-keyout", self.key, "-out", self.cert])
        os.chmod(self.key, 0o600)

    def _write_initial_passwd(self):
        sha = run(["openssl", "passwd", "-6", "-stdin"],
                  input=(SHA_USER[1] + "\n").encode()).stdout.decode().strip()
        assert sha.startswith("$6$"), sha
        self.passwd_lines = [
            "%s:{PLAIN}%s" % JOE,
            "%s:{SHA512-CRYPT}%s" % (SHA_USER[0], sha),
        ]
        self.users[JOE[0]] = JOE[1]
        self.users[SHA_USER[0]] = SHA_USER[1]
        self.write_passwd(self.passwd_lines)

    def write_passwd(self, lines):
        """Atomically replace the passwd file."""
        tmp = self.passwd + ".tmp"
        with open(tmp, "w") as f:
            for line in lines:
                f.write(line + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.passwd)

    def add_plain_user(self, user, password):
        self.users[user] = password
        with open(self.passwd) as f:
            current = [l.rstrip("\n") for l in f if l.strip()]
        current.append("%s:{PLAIN}%s" % (user, password))
        self.write_passwd(current)

    def write_config(self, extra):
        cfg = [
            ("listen_imap", "127.0.0.1:0"),
            ("listen_imaps", "127.0.0.1:0"),
            ("tls_cert", "cert.pem"),
            ("tls_key", "key.pem"),
            ("passdb_file", "passwd"),
            ("mail_dir", "mail"),
            ("state_dir", "state"),
            ("log", "stderr"),
            ("log_level", "info"),
            ("auth_failure_delay", "0"),
        ]
        # The failure budgets (docs/CONFIGURATION.md, CID-POL-6) would delay
        # and then block the many deliberate failures of this suite; tests of
        # the budgets themselves override these.
        for budget in ("token", "account", "address", "network"):
            cfg.append(("ratelimit_%s_free" % budget, "100000"))
            cfg.append(("ratelimit_%s_block" % budget, "1000000"))
        keys = [k for k, _ in cfg]
        for k, v in extra.items():
            if k in keys:
                cfg[keys.index(k)] = (k, v)
            else:
                cfg.append((k, v))
        with open(self.conf, "w") as f:
            f.write("# imapcidd e2e test instance\n")
            for k, v in cfg:
                f.write("%s = %s\n" % (k, v))

    # -- imapcidctl ---------------------------------------------------------
    def ctl(self, *args, input=None, check=True, timeout=60):
        return run([require_binary(ctl_path()), "-c", self.conf] + list(args),
                   input=input, check=check, timeout=timeout)

    def ctl_user_add(self, user, password):
        return self.ctl("user", "add", user, input=(password + "\n").encode())

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------

_LISTEN_RE = re.compile(r"listening on (imaps|imap) (\S+)\s*$")
_READY_RE = re.compile(r"(^|\s)ready\s*$")
_AUTH_RE = re.compile(r"\bauth: (.*)$")
_KV_RE = re.compile(r"(\w+)=(\S*)")


def parse_addr(s):
    """'127.0.0.1:143' / '[::1]:143' -> (host, port)."""
    host, _, port = s.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class Server:
    def __init__(self, instance, overrides=None, extra_args=()):
        self.instance = instance
        self.overrides = dict(overrides or {})
        self.extra_args = list(extra_args)
        self.proc = None
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.imap = []    # [(host, port)]
        self.imaps = []
        self.returncode = None
        self.started = False
        self.stop_requested = False   # set once the test asked it to stop

    # -- lifecycle ----------------------------------------------------------
    def start(self, timeout=15):
        cmd = [require_binary(daemon_path()), "-c", self.instance.conf,
               "-o", "auth_failure_delay=0"]
        for k, v in self.overrides.items():
            cmd += ["-o", "%s=%s" % (k, v)]
        cmd += self.extra_args
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=self.instance.dir)
        with _live_lock:
            _live_servers.add(self)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(_READY_RE.search(l) for l in self.lines):
                    break
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            ready = any(_READY_RE.search(l) for l in self.lines)
        if not ready:
            log = self.log_text()
            self.stop()
            raise RuntimeError("imapcidd did not become ready (cmd %r, rc %r); log:\n%s"
                               % (cmd, self.returncode, log))
        for l in self.snapshot():
            m = _LISTEN_RE.search(l)
            if m:
                (self.imaps if m.group(1) == "imaps" else self.imap).append(parse_addr(m.group(2)))
        self.started = True
        return self

    def _drain(self):
        f = self.proc.stdout
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stop_requested = True
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=15):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._thread.join(5)
        return self.returncode

    def stop(self, timeout=15):
        """SIGTERM, wait, SIGKILL on timeout.  Returns the exit status."""
        if self.proc is None:
            return None
        self.stop_requested = True
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.killed = True
        self.returncode = self.proc.returncode
        if self._thread.is_alive():
            self._thread.join(5)
        if not self._thread.is_alive() and self.proc.stdout:
            self.proc.stdout.close()
        with _live_lock:
            _live_servers.discard(self)
        return self.returncode

    # -- addresses ----------------------------------------------------------
    @property
    def imap_addr(self):
        return self.imap[0]

    @property
    def imaps_addr(self):
        return self.imaps[0]

    # -- log ------------------------------------------------------------------
    def snapshot(self):
        with self._cond:
            return list(self.lines)

    def mark(self):
        with self._cond:
            return len(self.lines)

    def log_text(self):
        return "\n".join(self.snapshot())

    def wait_log(self, regex, since=0, timeout=5):
        """Bounded wait for a log line matching regex (after index since)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for l in self.lines[since:]:
                    if rx.search(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(left)

    def auth_events(self, since=0):
        out = []
        for l in self.snapshot()[since:]:
            m = _AUTH_RE.search(l)
            if m:
                d = dict(_KV_RE.findall(m.group(1)))
                d["_line"] = l
                out.append(d)
        return out

    def wait_auth(self, since=0, timeout=5, count=1, **match):
        """Wait until `count` auth events (after since) match all key=value."""
        deadline = time.monotonic() + timeout
        while True:
            evs = [e for e in self.auth_events(since)
                   if all(e.get(k) == v for k, v in match.items())]
            if len(evs) >= count:
                return evs
            if time.monotonic() >= deadline:
                return evs
            with self._cond:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def sanitizer_reports(self):
        return [l for l in self.snapshot() if any(m in l for m in SANITIZER_MARKERS)]


# ---------------------------------------------------------------------------
# Raw line client
# ---------------------------------------------------------------------------

class Closed(AssertionError):
    """The peer closed the connection."""


def client_context(minimum=None, maximum=None, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class Conn:
    """A raw IMAP line client.  readline() returns lines without CRLF and
    asserts CRLF termination."""

    def __init__(self, addr, tls=False, timeout=5.0, ctx=None, greet=True):
        host, port = addr
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tls = False
        self.closed = False
        self.reset = False
        self._tag = 0
        self.greeting = None
        if tls:
            self._wrap(ctx)
        if greet:
            self.greeting = self.readline()

    def _wrap(self, ctx=None):
        ctx = ctx or client_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.tls = True

    def tls_version(self):
        return self.sock.version() if self.tls else None

    def next_tag(self):
        self._tag += 1
        return "t%d" % self._tag

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for data; buffered %r" % self.buf)
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise TimeoutError("timed out waiting for data; buffered %r" % self.buf)
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        except ssl.SSLError as e:
            # unclean TLS shutdown etc.: treat as close
            self.reset = True
            self.ssl_error = e
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed("connection closed; buffered %r" % self.buf)
        self.buf += chunk

    def readline(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\n")
        line += b"\n"
        if not line.endswith(b"\r\n"):
            raise AssertionError("line not terminated by CRLF: %r" % line)
        return line[:-2]

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_tagged(self, tag, timeout=None):
        """Read until the tagged response for tag.  Returns (untagged, tagged)."""
        if isinstance(tag, str):
            tag = tag.encode()
        untagged = []
        while True:
            line = self.readline(timeout)
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    def cmd(self, text, tag=None, timeout=None):
        """Send 'TAG text' and return (untagged, tagged_line_without_tag)."""
        tag = tag or self.next_tag()
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        untagged, tagged = self.read_tagged(tag, timeout)
        return untagged, tagged[len(tag) + 1:]

    def read_until_closed(self, timeout=None):
        """Read lines until the peer closes.  Returns the lines (a trailing
        partial line, if any, is appended as is).  Raises TimeoutError if
        the connection is not closed in time."""
        lines = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while b"\n" in self.buf:
                line, _, self.buf = self.buf.partition(b"\n")
                lines.append(line.rstrip(b"\r"))
            try:
                self._fill(deadline)
            except Closed:
                if self.buf:
                    lines.append(self.buf)
                    self.buf = b""
                return lines

    def starttls(self, tag=None, ctx=None):
        tag = tag or self.next_tag()
        untagged, resp = self.cmd("STARTTLS", tag=tag)
        if resp != b"OK Begin TLS negotiation now.":
            raise AssertionError("STARTTLS refused: %r %r" % (untagged, resp))
        if self.buf:
            raise AssertionError("server sent data after STARTTLS OK: %r" % self.buf)
        self._wrap(ctx)
        return resp

    def login(self, user, password):
        return self.cmd("LOGIN %s %s" % (quote(user), quote(password)))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plain_ir(user, password, authz=""):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password)).encode()).decode()


def caps_of(line):
    """Capability names from '* CAPABILITY ...' or a '[CAPABILITY ...]' code."""
    if isinstance(line, bytes):
        line = line.decode()
    m = re.search(r"\[CAPABILITY ([^\]]*)\]", line)
    if m:
        return m.group(1).split()
    m = re.match(r"\* CAPABILITY (.*)$", line)
    if m:
        return m.group(1).split()
    raise AssertionError("no capability list in %r" % line)


# ---------------------------------------------------------------------------
# unittest base class
# ---------------------------------------------------------------------------

class ServerTestCase(unittest.TestCase):
    """One server per TestCase class (options in server_overrides); helpers for
    dedicated servers.  After every test the class server must still run; at
    the end it must exit 0 on SIGTERM without sanitizer reports."""

    server_overrides = {}
    ctl_user = True
    instance_config = None
    extra_users = {}
    start_class_server = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.start_class_server:
            cls.instance = cls.server = None
            return
        cls.instance = Instance(ctl_user=cls.ctl_user, extra_config=cls.instance_config)
        cls.addClassCleanup(cls.instance.cleanup)
        for u, p in cls.extra_users.items():
            cls.instance.add_plain_user(u, p)
        cls.server = Server(cls.instance, cls.server_overrides)
        cls.addClassCleanup(cls._stop_class_server)
        cls.server.start()

    @classmethod
    def _stop_class_server(cls):
        srv = cls.server
        if not srv.started:
            srv.stop()
            return
        was_alive = srv.alive()
        rc = srv.stop()
        reports = srv.sanitizer_reports()
        if not was_alive:
            raise AssertionError("class server had died (rc %r); log tail:\n%s"
                                 % (rc, "\n".join(srv.snapshot()[-40:])))
        if rc != 0 or reports:
            raise AssertionError("class server exit status %r on SIGTERM; sanitizer: %r; "
                                 "log tail:\n%s" % (rc, reports, "\n".join(srv.snapshot()[-40:])))

    def tearDown(self):
        srv = getattr(self, "server", None)
        if (srv is not None and srv.proc is not None and not srv.alive()
                and not srv.stop_requested):
            self.fail("server died during the test (rc %r); log tail:\n%s"
                      % (srv.proc.returncode, "\n".join(srv.snapshot()[-40:])))
        super().tearDown()

    # -- helpers ------------------------------------------------------------
    def dedicated_server(self, overrides=None, instance=None, ctl_user=False,
                         instance_config=None, check_exit=True):
        """Start an extra server for this test only; it is stopped at cleanup
        (and must exit 0 there unless check_exit is False)."""
        if instance is None:
            instance = Instance(ctl_user=ctl_user, extra_config=instance_config)
            self.addCleanup(instance.cleanup)
        srv = Server(instance, overrides)

        def _stop():
            if not srv.started:
                srv.stop()
                return
            requested = srv.stop_requested
            alive = srv.alive()
            rc = srv.stop()
            rep = srv.sanitizer_reports()
            if check_exit and ((not alive and not requested) or rc != 0 or rep):
                raise AssertionError("dedicated server (%r) ended badly: alive=%r rc=%r "
                                     "sanitizer=%r; log tail:\n%s" % (
                                         srv.overrides, alive, rc, rep,
                                         "\n".join(srv.snapshot()[-40:])))
        self.addCleanup(_stop)
        srv.start()
        return srv

    def connect(self, server=None, tls=False, starttls=False, **kw):
        """Open a connection to the imaps port (tls=True) or the imap port,
        optionally upgrading with STARTTLS.  Closed at cleanup."""
        server = server or self.server
        if tls:
            c = Conn(server.imaps_addr, tls=True, **kw)
        else:
            c = Conn(server.imap_addr, **kw)
        self.addCleanup(c.close)
        if starttls:
            c.starttls()
        return c

    def assertGreetingOK(self, conn):
        self.assertRegex(conn.greeting, rb"^\* OK \[CAPABILITY [^\]]*\] imapcid ready\.$")

    def assertLoggedIn(self, resp):
        """resp: tagged response without the tag."""
        m = re.match(rb"^OK \[CAPABILITY ([^\]]*)\] Logged in\.$", resp)
        self.assertTrue(m, "not a login success: %r" % resp)
        self.assertEqual(authed_caps(m.group(1).decode().split()), AUTHED_CAPS,
                         "capabilities after authentication: %r" % resp)

    def assertNotInLog(self, needle, server=None):
        server = server or self.server
        for l in server.snapshot():
            self.assertNotIn(needle, l, "secret text %r appears in the log line %r" % (needle, l))
