"""The login path as an attacker or an operator meets it: logins never wait
behind mail work, one canonical account name, registry changes that race
logins and imapcidctl, bounded registry growth, refusals timed like wrong
passwords, and the privilege drop.  CID-POL-2, CID-POL-4, CID-POL-6.
"""

import fcntl
import json
import os
import pwd
import signal
import statistics
import threading
import time
import unittest

from harness import AUTH_FAILED, Conn, Instance, Server, ServerTestCase, plain_ir, run
from mail_support import MailConn, MailTestCase, simple_message, wait_for
from policy_support import NET_A, NET_B, PolicyTestCase


class LoginsNeverWaitForMail(MailTestCase):
    """Mail commands run on their own workers: two of them waiting on folder
    locks (up to 30 s each) leave no mail worker free, and a LOGIN is still
    answered at once."""

    server_overrides = {"mail_workers": "2", "auth_workers": "1"}

    def test_login_while_two_folder_locks_are_held(self):
        users = [self.fresh_user() for _ in range(2)]
        locks, waiting = [], []
        for user in users:
            c = self.raw(user)
            c.ok('LIST "" INBOX')     # the store exists from here on
            lock = open(os.path.join(self.maildir(user), "imapcid-uidlist.lock"), "a+")
            self.addCleanup(lock.close)
            fcntl.flock(lock, fcntl.LOCK_EX)
            locks.append(lock)
            tag = c.next_tag()
            c.send(tag.encode() + b" SELECT INBOX\r\n")   # waits for the lock
            waiting.append((c, tag))
        try:
            me = self.fresh_user()
            c = MailConn(self.server.imaps_addr, tls=True, timeout=10)
            self.addCleanup(c.close)
            u, t = c.cmd('LOGIN "%s" "%s"' % me)
            self.assertTrue(t.startswith(b"OK"), t)
            for w, tag in waiting:
                with self.assertRaises(TimeoutError,
                                       msg="the SELECT was to wait for its lock"):
                    w.readline(timeout=0.05)
        finally:
            for lock in locks:
                fcntl.flock(lock, fcntl.LOCK_UN)
        for w, tag in waiting:
            u, t = w.read_tagged(tag, timeout=30)
            self.assertIn(b"OK", t)


class OneCanonicalAccountName(MailTestCase):
    """The login name's case never picks another mailbox: LOGIN DEMO,
    AUTHENTICATE PLAIN with Demo and `imapcidctl deliver dEmO` all reach the
    one store of "demo", as do the registry and the logs; so does a
    Dovecot-style user@domain name."""

    extra_users = dict(MailTestCase.extra_users, **{"Alice@Example.ORG": "alice-pw"})

    def test_mixed_case_login_and_delivery(self):
        user, pw = self.fresh_user()
        self.deliver(user.upper(), simple_message("one"))
        self.deliver(user.capitalize(), simple_message("two"))
        for name, mech in ((user.upper(), "LOGIN"), (user.capitalize(), "PLAIN"),
                           (user, "LOGIN")):
            with self.subTest(name=name, mech=mech):
                c = MailConn(self.server.imaps_addr, tls=True, timeout=10)
                self.addCleanup(c.close)
                if mech == "LOGIN":
                    u, t = c.cmd('LOGIN "%s" "%s"' % (name, pw))
                else:
                    u, t = c.cmd("AUTHENTICATE PLAIN " + plain_ir(name, pw))
                self.assertTrue(t.startswith(b"OK"), t)
                u, t = c.ok("SELECT INBOX")
                self.assertIn(b"* 2 EXISTS", u, u)
        self.assertEqual(sorted(os.listdir(os.path.join(self.instance.dir, "mail"))).count(
            user), 1)
        self.assertFalse(os.path.exists(os.path.join(self.instance.dir, "mail", user.upper())))
        line = self.server.wait_log(r"auth: user=%s login=%s " % (user, user.upper()))
        self.assertIsNotNone(line, "the log names the account and what was typed")

    def test_user_at_domain(self):
        self.deliver("ALICE@example.org", simple_message("for alice"))
        c = MailConn(self.server.imaps_addr, tls=True, timeout=10)
        self.addCleanup(c.close)
        u, t = c.cmd('LOGIN "alice@EXAMPLE.org" "alice-pw"')
        self.assertTrue(t.startswith(b"OK"), t)
        u, t = c.ok("SELECT INBOX")
        self.assertIn(b"* 1 EXISTS", u)
        self.assertTrue(os.path.isdir(os.path.join(self.instance.dir, "mail",
                                                   "alice@example.org")))
        rows = json.loads(self.instance.ctl("audit", "--json").stdout)
        self.assertIn("alice@example.org", [r["account"] for r in rows])


class RegistryRaces(PolicyTestCase):
    """What the server answered is in the registry already, and decisions
    that read then write it are atomic against each other and imapcidctl."""

    def test_learn_cap_holds_under_concurrent_first_logins(self):
        """20 new devices log in to one account at once in learn mode with
        policy_learn_devices = 3: exactly 3 are trusted."""
        self.start({"policy_mode": "learn", "policy_learn_devices": "3"})
        devs = [self.device(source=NET_A) for _ in range(20)]
        conns = [self.open(device=d) for d in devs]
        go = threading.Barrier(len(conns))
        results = [None] * len(conns)

        def one(i):
            go.wait()
            _, results[i] = conns[i].raw_command("L1", 'LOGIN "joe" "password"')
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertTrue(all(r is not None and r.startswith(b"L1 OK") for r in results),
                        results)
        rows = self.ctl_json("device", "list", "joe")
        self.assertEqual(len(rows), 20)
        self.assertEqual(sum(1 for r in rows if r["state"] == "trusted"), 3, rows)
        self.wait_alert("device-trusted", "joe", count=3)
        self.wait_alert("new-device-success", "joe", count=17)

    def test_refused_device_can_be_approved_at_once(self):
        """Enforce: a right password from an unknown device is refused and
        kept pending; the operator approves it the moment the client has its
        answer, and its next login gets in."""
        self.start({"policy_mode": "enforce"})
        for _ in range(5):
            dev = self.device()
            refused = self.login("joe", device=dev)
            self.assertRefused(refused, "unknown device")
            p = self.ctl("device", "approve", "joe", refused.fp, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertAccepted(self.login("joe", device=dev))

    def test_revocation_is_never_overwritten(self):
        """A pending device logs in (learn mode would trust it) while the
        operator revokes it: whichever commits first, it ends revoked."""
        self.start({"policy_mode": "enforce", "policy_learn_devices": "100"})
        for i in range(8):
            dev = self.device()
            fp = self.login("joe", device=dev).fp       # now pending
            self.ctl("policy", "set", "joe", "learn")
            conn = self.open(device=dev)
            answer = []
            t = threading.Thread(target=lambda: answer.append(
                conn.raw_command("L1", 'LOGIN "joe" "password"')[1]))
            t.start()
            self.ctl("device", "revoke", "joe", fp)
            t.join(30)
            self.assertEqual(len(answer), 1)
            row = self.device_row("joe", fp)
            self.assertEqual(row["state"], "revoked", (i, answer, row))
            self.ctl("policy", "set", "joe", "enforce")


class RefusalTiming(PolicyTestCase):
    """CID-POL-2: a policy refusal and a wrong password are answered after
    the same delay: their answer times have the same distribution (medians
    and quartiles within 50 ms), both at least auth_failure_delay, and
    successes are not held back (so the delay is what is measured)."""

    SAMPLES = 15

    def test_refusals_and_wrong_passwords_look_alike(self):
        self.start({"policy_mode": "enforce"}, overrides={"auth_failure_delay": "300ms"})
        trusted = self.device()
        self.ctl("device", "approve", "joe", self.login("joe", device=trusted).fp)
        ok, wrong, refused, unknown = [], [], [], []
        for _ in range(self.SAMPLES):
            ok.append(self.login("joe", device=trusted))
            wrong.append(self.login("joe", "wrong-password", device=trusted))
            refused.append(self.login("joe", device=self.device()))
            unknown.append(self.login("nobody-here", "x", device=trusted))
        for att in ok:
            self.assertAccepted(att)
        for att in wrong:
            self.assertRefused(att, "wrong password")
        for att in refused:
            self.assertRefused(att, "unknown device")
        for att in unknown:
            self.assertRefused(att, "unknown user")

        def quartiles(atts):
            return statistics.quantiles([a.elapsed for a in atts], n=4)
        qw, qr, qu = quartiles(wrong), quartiles(refused), quartiles(unknown)
        for other, name in ((qr, "policy refusal"), (qu, "unknown user")):
            for a, b in zip(qw, other):
                self.assertLess(abs(a - b), 0.05,
                                "%s vs wrong password: %r vs %r" % (name, other, qw))
        # the delay is kept in whole milliseconds on the server's clock
        self.assertGreaterEqual(min(a.elapsed for a in wrong + refused + unknown), 0.295)
        self.assertLess(statistics.median(a.elapsed for a in ok), qw[1] - 0.2)


class RegistryRetention(PolicyTestCase):
    """Bounded growth: audit rows and never-approved pending devices go after
    their retention; an account keeps at most registry_pending_max pending
    devices."""

    def test_pending_devices_capped_per_account(self):
        self.start({"policy_mode": "enforce", "registry_pending_max": "3"})
        fps = []
        for _ in range(6):
            att = self.login("joe", device=self.device())
            self.assertRefused(att, "unknown device")
            fps.append(att.fp)
        rows = self.ctl_json("device", "list", "joe")
        self.assertEqual(sorted(r["fingerprint"] for r in rows), sorted(fps[-3:]),
                         "the newest three are kept")

    def test_audit_and_pending_expire(self):
        self.start({"policy_mode": "enforce", "registry_audit_retention": "2s",
                    "registry_pending_retention": "2s"})
        att = self.login("joe", device=self.device())
        self.assertRefused(att, "unknown device")
        self.assertEqual(len(self.ctl_json("audit")), 1)
        self.assertEqual(len(self.ctl_json("device", "list", "joe")), 1)
        self.assertTrue(wait_for(lambda: self.ctl_json("audit") == [] and
                                 self.ctl_json("device", "list", "joe") == [],
                                 timeout=15),
                        "rows outlived their retention")
        self.assertIsNotNone(self.srv.wait_log(r"registry: retention removed"))

    def test_audit_row_cap(self):
        self.start({"registry_audit_max_rows": "5", "registry_audit_retention": "0"},
                   overrides={})
        for i in range(12):
            self.login("joe", "wrong%d" % i)
        self.assertTrue(wait_for(lambda: len(self.ctl_json("audit")) <= 5, timeout=15),
                        "the audit log is over its cap")


@unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
class PrivilegeDrop(ServerTestCase):
    """Started as root with `user` set: the server runs as that user from
    before it opens the registry; its state, registry and mail are that
    user's, and login, registry writes, delivery (imapcidctl drops too) and
    SIGHUP reload work."""

    start_class_server = False
    USER = "nobody"

    def test_runs_as_user(self):
        pw = pwd.getpwnam(self.USER)
        inst = Instance(extra_config={"user": self.USER, "policy_mode": "learn"})
        self.addCleanup(inst.cleanup)
        # the unprivileged user must reach its files (as an operator would
        # set it up): the instance directory, the password file, the config
        os.chmod(inst.dir, 0o755)
        os.chmod(inst.passwd, 0o644)
        srv = self.dedicated_server(instance=inst)
        with open("/proc/%d/status" % srv.proc.pid) as f:
            status = f.read()
        uids = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
        self.assertEqual(set(uids), {str(pw.pw_uid)}, status)
        for path in ("state", "state/secret", "state/registry.db", "mail"):
            self.assertEqual(os.stat(os.path.join(inst.dir, path)).st_uid, pw.pw_uid, path)

        c = MailConn(srv.imaps_addr, tls=True, timeout=10)
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("CLIENTID UUID 11111111-2222-3333-4444-555555555555")[1]
                        .startswith(b"OK"))
        self.assertTrue(c.cmd('LOGIN "joe" "password"')[1].startswith(b"OK"))
        p = inst.ctl("deliver", "joe", input=simple_message("dropped"))
        self.assertEqual(p.returncode, 0, p.stderr)
        u, t = c.ok("SELECT INBOX")
        self.assertIn(b"* 1 EXISTS", u)
        rows = json.loads(inst.ctl("device", "list", "joe", "--json").stdout)
        self.assertEqual([r["state"] for r in rows], ["trusted"])
        for root, dirs, files in os.walk(os.path.join(inst.dir, "mail")):
            for n in dirs + files:
                st = os.stat(os.path.join(root, n))
                self.assertEqual(st.st_uid, pw.pw_uid, os.path.join(root, n))
        for n in os.listdir(os.path.join(inst.dir, "state")):
            self.assertEqual(os.stat(os.path.join(inst.dir, "state", n)).st_uid,
                             pw.pw_uid, n)

        inst.add_plain_user("newbie", "newbie-pw")
        os.chmod(inst.passwd, 0o644)
        mark = srv.mark()
        srv.signal(signal.SIGHUP)
        self.assertIsNotNone(srv.wait_log("reload: password file reloaded", since=mark))
        c2 = Conn(srv.imaps_addr, tls=True, timeout=10)
        self.addCleanup(c2.close)
        self.assertTrue(c2.cmd('LOGIN "newbie" "newbie-pw"')[1].startswith(b"OK"))


if __name__ == "__main__":
    unittest.main()
