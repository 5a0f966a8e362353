"""Admin surface: `imapcidd -t` config check and `imapcidctl user ...`."""

import os
import re
import signal
import subprocess
import time
import unittest

from harness import (AUTH_FAILED, Instance, ServerTestCase, daemon_path, require_binary)


class ConfigCheck(unittest.TestCase):

    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)

    def check(self, *extra):
        p = subprocess.run([require_binary(daemon_path()), "-t", "-c", self.inst.conf] + list(extra),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def test_good_config_ok(self):
        """`imapcidd -t` on a valid config exits 0 and prints the effective
        values (docs/CONFIGURATION.md), -o overrides included."""
        rc, out = self.check()
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^clientid = yes$")
        self.assertRegex(out, r"(?m)^listen_imap = 127\.0\.0\.1:0$")
        rc, out = self.check("-o", "clientid=no", "-o", "timeout_preauth=5s")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^clientid = no$")
        self.assertRegex(out, r"(?m)^timeout_preauth = ")

    def test_two_bad_keys_reported_with_file_line(self):
        """`imapcidd -t` reports every error as FILE:LINE: key: message and exits 1."""
        with open(self.inst.conf) as f:
            lines = f.read().splitlines()
        lines.insert(2, "bogus_option = 1")
        lines.append("# a comment")
        lines.append("max_connections = lots")
        with open(self.inst.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        bogus_line = 3
        maxc_line = len(lines)
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        name = re.escape(os.path.basename(self.inst.conf))
        self.assertRegex(out, r"(?m)(^|/)%s:%d: bogus_option: \S" % (name, bogus_line))
        self.assertRegex(out, r"(?m)(^|/)%s:%d: max_connections: \S" % (name, maxc_line))

    def test_bad_clientid_value(self):
        """A bad value for the extension switch is reported (clientid = maybe)."""
        with open(self.inst.conf, "a") as f:
            f.write("clientid = maybe\n")
        n = sum(1 for _ in open(self.inst.conf))
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)(^|/)%s:%d: clientid: \S"
                         % (re.escape(os.path.basename(self.inst.conf)), n))

    def test_bad_override(self):
        """A bad -o override makes -t fail too."""
        rc, out = self.check("-o", "clientid=maybe")
        self.assertEqual(rc, 1, out)
        self.assertIn("clientid", out)


class CtlUsers(ServerTestCase):
    """imapcidctl user add/passwd/del/list end to end (password on stdin)."""

    ctl_user = False
    start_class_server = False

    def login(self, user, pw, srv=None):
        c = self.connect(srv, tls=True)
        return c.cmd('LOGIN "%s" "%s"' % (user, pw))[1]

    def poll_login(self, srv, user, pw, want_ok):
        deadline = time.monotonic() + 5
        while True:
            resp = self.login(user, pw, srv)
            ok = resp.startswith(b"OK ")
            if ok == want_ok or time.monotonic() > deadline:
                return resp
            time.sleep(0.05)

    def passwd_entries(self, inst):
        with open(inst.passwd) as f:
            return [l.rstrip("\n") for l in f if l.strip()]

    def list_users(self, inst):
        out = inst.ctl("user", "list").stdout.decode()
        return {re.split(r"[\s:]", l.strip())[0] for l in out.splitlines() if l.strip()}

    def test_add_passwd_del_list(self):
        """user add -> listed, hashed with default_pass_scheme (ARGON2ID), can
        log in; user passwd -> new password works after SIGHUP, old fails;
        user del -> unlisted, cannot log in."""
        inst = Instance()
        self.addCleanup(inst.cleanup)
        pw1, pw2 = "dave pw one", "dave-pw-2"
        inst.ctl("user", "add", "dave", input=(pw1 + "\n").encode())
        entries = [e for e in self.passwd_entries(inst) if e.startswith("dave:")]
        self.assertEqual(len(entries), 1, entries)
        self.assertTrue(entries[0].startswith("dave:{ARGON2ID}$argon2id$"), entries)
        self.assertNotIn(pw1, open(inst.passwd).read())
        self.assertTrue({"dave", "joe", "shauser"} <= self.list_users(inst))

        srv = self.dedicated_server(instance=inst)
        self.assertLoggedIn(self.login("dave", pw1, srv))

        inst.ctl("user", "passwd", "dave", input=(pw2 + "\n").encode())
        self.assertNotIn(pw2, open(inst.passwd).read())
        srv.signal(signal.SIGHUP)
        self.assertLoggedIn(self.poll_login(srv, "dave", pw2, True))
        self.assertEqual(self.login("dave", pw1, srv), AUTH_FAILED)

        inst.ctl("user", "del", "dave")
        self.assertNotIn("dave", self.list_users(inst))
        self.assertFalse([e for e in self.passwd_entries(inst) if e.startswith("dave:")])
        srv.signal(signal.SIGHUP)
        self.assertEqual(self.poll_login(srv, "dave", pw2, False), AUTH_FAILED)
        # other users untouched
        self.assertLoggedIn(self.login("joe", "password", srv))
        self.assertLoggedIn(self.login("shauser", "Sha512-Pw!", srv))

    def test_add_existing_user_no_duplicate(self):
        """user add of an existing user never leaves two entries for it."""
        inst = Instance()
        self.addCleanup(inst.cleanup)
        p = inst.ctl("user", "add", "joe", input=b"other\n", check=False)
        joe = [e for e in self.passwd_entries(inst) if e.startswith("joe:")]
        self.assertEqual(len(joe), 1, joe)
        if p.returncode != 0:
            self.assertEqual(joe, ["joe:{PLAIN}password"])

    def test_other_schemes(self):
        """default_pass_scheme SHA512-CRYPT and BLF-CRYPT: imapcidctl writes the
        scheme and the server verifies it."""
        inst = Instance()
        self.addCleanup(inst.cleanup)
        schemes = (("SHA512-CRYPT", "sha", r"\$6\$"), ("BLF-CRYPT", "blf", r"\$2[aby]\$"))
        for scheme, user, prefix in schemes:
            inst.write_config({"default_pass_scheme": scheme})
            inst.ctl("user", "add", user, input=b"pw-" + user.encode() + b"\n")
            e = [x for x in self.passwd_entries(inst) if x.startswith(user + ":")]
            self.assertEqual(len(e), 1)
            self.assertRegex(e[0], r"^%s:\{%s\}%s" % (user, scheme, prefix))
        srv = self.dedicated_server(instance=inst)
        for scheme, user, prefix in schemes:
            with self.subTest(scheme=scheme):
                self.assertLoggedIn(self.login(user, "pw-" + user, srv))
                self.assertEqual(self.login(user, "pw-wrong", srv), AUTH_FAILED)


if __name__ == "__main__":
    unittest.main()
