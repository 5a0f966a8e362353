"""Device-aware policy, end to end: the rules of CLIENTID.md sections 4 and 5
one by one (CID-POL-1..8, CID-RES-1, CID-PRV-1, CID-PRV-2), the modes
(off / observe / learn / enforce) and the administration commands
(imapcidctl device ..., policy ..., audit).  Use-case scenarios are in
test_policy_usecases.py.
"""

import glob
import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unittest

from harness import AUTH_FAILED
from policy_support import (CGNAT, NET_A, NET_A2, NET_B, PolicyTestCase,
                            SharedServerPolicyTestCase)

USERS = {"carol": "carol-pw"}


class ClientIdIsNeverRefused(PolicyTestCase):
    """CID-POL-1, CID-RES-1: a well-formed CLIENTID is answered OK whatever
    the policy thinks of the identity (revoked, pending, unknown, type not
    allowed, token blocked), and nothing is evaluated, audited or alerted
    before the login."""

    def test_clientid_ok_for_every_identity(self):
        self.start({"policy_mode": "enforce", "policy_types_deny": "BANNED",
                    "ratelimit_token_block": "2", "ratelimit_block_time": "1h"})
        revoked = self.device()
        att = self.login("joe", device=revoked)
        self.ctl("device", "revoke", "joe", att.fp)
        pending = self.device()
        self.login("joe", device=pending)
        blocked = self.device()
        self.login("joe", "wrong", device=blocked)
        self.login("joe", "wrong", device=blocked)
        cases = [("revoked", revoked, "device revoked"),
                 ("pending", pending, "device pending approval"),
                 ("unknown", self.device(), "unknown device"),
                 ("type not allowed", self.device("BANNED"), "client id type not allowed"),
                 ("token blocked", blocked, "rate limited")]
        for name, dev, reason in cases:
            with self.subTest(name):
                rows_before = len(self.audit())
                mark = self.srv.mark()
                conn = self.open(device=dev)          # asserts "OK CLIENTID accepted."
                _, noop = conn.raw_command("N1", "NOOP")
                self.assertEqual(noop, b"N1 OK NOOP completed.")
                self.assertEqual(len(self.audit()), rows_before,
                                 "CLIENTID alone wrote an audit row")
                self.assertEqual([l for l in self.srv.snapshot()[mark:]
                                  if "auth:" in l or "alert:" in l], [],
                                 "CLIENTID alone was evaluated")
                self.assertRefused(self.login("joe", conn=conn), reason)


class IdentityKeptForTheConnection(PolicyTestCase):
    """CID-RES-2: the identity given once is used for every authentication
    attempt on the connection, LOGIN and AUTHENTICATE alike."""

    def test_second_attempt_uses_the_identity(self):
        self.start({"policy_mode": "enforce"})
        dev = self.device()
        self.ctl("device", "approve", "joe", self.login("joe", device=dev).fp)
        conn = self.open(device=dev)
        first = self.login("joe", "wrong", conn=conn, keep=True)
        self.assertRefused(first, "wrong password")
        second = self.login("joe", conn=conn, keep=True, mech="PLAIN", tag="L2")
        self.assertTrue(second.line.startswith(b"L2 OK "), second)
        self.assertEqual((second.ev["result"], second.fp), ("ok", first.fp))
        other = self.open(device=self.device())
        self.assertRefused(self.login("joe", "wrong", conn=other, keep=True), "wrong password")
        third = self.login("joe", conn=other, keep=True)
        self.assertRefused(third, "unknown device")


class AlertEventsFilter(PolicyTestCase):
    """CID-POL-5: alert_events chooses which events alert (here not
    device-trusted nor new-device-success); the audit still has them all."""

    def test_only_chosen_events(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1",
                    "alert_events": "unknown-device-refused, login-failure"})
        first = self.login("joe", device=self.device())
        second = self.login("joe", device=self.device(source=NET_B))
        self.assertAccepted(first)
        self.assertAccepted(second)
        self.ctl("policy", "set", "joe", "enforce")
        third = self.login("joe", device=self.device(source=CGNAT))
        self.assertRefused(third, "unknown device")
        self.wait_alert("unknown-device-refused", "joe", fp=third.fp)
        self.assertNoAlert("device-trusted", "joe")
        self.assertNoAlert("new-device-success", "joe")
        self.assertEqual(len(self.audit("joe")), 3)


class RefusalsLookLikeWrongPasswords(PolicyTestCase):
    """CID-POL-2: every policy refusal is byte-for-byte the answer to a wrong
    password (same tag, same code, same text, nothing before it), for LOGIN
    and AUTHENTICATE, and takes as long."""

    def test_every_refusal_is_identical(self):
        self.start({"policy_mode": "enforce", "policy_types_deny": "BANNED",
                    "policy_device_connections": "1", "detect_token_accounts": "1",
                    "detect_token_block": "yes", "ratelimit_token_block": "2",
                    "ratelimit_block_time": "1h"}, users=USERS)
        reference = self.login("joe", "wrong-password")
        self.assertRefused(reference, "wrong password")
        line = reference.line
        self.assertEqual(line, b"L1 " + AUTH_FAILED)

        refusals = {}
        refusals["unknown user"] = self.login("nobody", "password")
        refusals["wrong password, unknown device"] = self.login(
            "joe", "wrong-password", device=self.device())
        unknown = self.device()
        refusals["unknown device"] = self.login("joe", device=unknown)
        refusals["device pending approval"] = self.login("joe", device=unknown)
        trusted = self.device()
        self.ctl("device", "approve", "joe", self.login("joe", device=trusted).fp)
        session = self.login("joe", device=trusted, keep=True)
        self.assertAccepted(session)
        refusals["too many connections for this device"] = self.login("joe", device=trusted)
        session.conn.logout()
        self.ctl("device", "revoke", "joe", session.fp)
        refusals["device revoked"] = self.login("joe", device=trusted)
        refusals["client id type not allowed"] = self.login("joe", device=self.device("BANNED"))
        self.ctl("policy", "set", "carol", "learn", "--require-clientid", "yes")
        refusals["no client id"] = self.login("carol")
        reused = self.device()
        self.login("carol", "wrong", device=reused)
        refusals["token used for too many accounts"] = self.login("joe", device=reused)
        spent = self.device()
        self.login("carol", "wrong", device=spent)
        self.login("carol", "wrong", device=spent)
        refusals["rate limited"] = self.login("carol", device=spent)

        for reason, att in refusals.items():
            with self.subTest(reason):
                self.assertEqual(att.line, line)
                self.assertEqual(att.untagged, [])
                expected = "wrong password" if reason.startswith("wrong password") else reason
                self.assertEqual(att.ev["reason"], expected, att.ev["_line"])

        plain_ref = self.login("joe", "wrong-password", mech="PLAIN")
        plain_refused = self.login("joe", device=self.device(), mech="PLAIN")
        self.assertEqual(plain_refused.ev["reason"], "unknown device")
        self.assertEqual(plain_refused.line, plain_ref.line)
        self.assertEqual(plain_ref.line, line)

    # Timing (CID-POL-2) is compared as distributions of many answers, not
    # one answer against a bound: test_login_path.RefusalTiming.


class RequireClientIdEnforce(PolicyTestCase):
    """CID-POL-3 per account in enforce mode, and switched back without a
    restart; the global setting is shown by policy show."""

    def test_per_account_requirement(self):
        self.start({"policy_mode": "learn"}, users=USERS)
        self.ctl("policy", "set", "carol", "enforce", "--require-clientid", "yes")
        show = self.ctl_json("policy", "show")
        self.assertEqual(show["global"]["mode"], "learn")
        self.assertFalse(show["global"]["require_clientid"])
        self.assertEqual([(a["account"], a["mode"], a["mode_source"], a["require_clientid"])
                          for a in show["accounts"]],
                         [("carol", "enforce", "account", True)])
        self.assertRefused(self.login("carol"), "no client id")
        self.assertAccepted(self.login("joe"))
        self.ctl("policy", "set", "carol", "default", "--require-clientid", "default")
        self.assertAccepted(self.login("carol"))


class RevokeApproveForget(PolicyTestCase):
    """CID-POL-4: approve, revoke (permanently or until a time), forget;
    each takes effect at the next login, without a restart."""

    def test_device_lifecycle(self):
        self.start({"policy_mode": "enforce"})
        dev = self.device()
        first = self.login("joe", device=dev)
        self.assertRefused(first, "unknown device")
        fp = first.fp
        self.assertEqual(self.device_row("joe", fp)["state"], "pending")
        self.assertRefused(self.login("joe", device=dev), "device pending approval")

        self.ctl("device", "approve", "joe", fp[:6])
        self.assertEqual(self.device_row("joe", fp)["state"], "trusted")
        self.assertAccepted(self.login("joe", device=dev))

        self.ctl("device", "revoke", "joe", fp)
        row = self.device_row("joe", fp)
        self.assertEqual((row["state"], row["revoked_until"]), ("revoked", 0))
        self.assertRefused(self.login("joe", device=dev), "device revoked")
        self.assertRefused(self.login("joe", device=dev.at(NET_B)), "device revoked")

        self.ctl("device", "approve", "joe", fp)
        self.assertAccepted(self.login("joe", device=dev))

        now = int(time.time())
        self.ctl("device", "revoke", "joe", fp, "--until", "+1h")
        row = self.device_row("joe", fp)
        self.assertEqual(row["state"], "revoked")
        self.assertLessEqual(abs(row["revoked_until"] - (now + 3600)), 5, row)
        self.assertRefused(self.login("joe", device=dev), "device revoked")

        # a suspension that has ended lets the device in again
        self.ctl("device", "revoke", "joe", fp, "--until", "2020-01-01")
        self.assertAccepted(self.login("joe", device=dev))

        self.ctl("device", "forget", "joe", fp)
        self.assertIsNone(self.device_row("joe", fp))
        self.assertRefused(self.login("joe", device=dev), "unknown device")
        self.assertEqual(self.device_row("joe", fp)["state"], "pending")

    def test_suspending_a_pending_device_does_not_approve_it(self):
        """A temporary revocation of a device that was never approved ends
        with the device as it was (pending), not trusted."""
        self.start({"policy_mode": "enforce"})
        dev = self.device(source=NET_B)
        first = self.login("joe", device=dev)
        self.assertRefused(first, "unknown device")
        self.assertEqual(self.device_row("joe", first.fp)["state"], "pending")
        self.ctl("device", "revoke", "joe", first.fp, "--until", "+1h")
        self.assertRefused(self.login("joe", device=dev), "device revoked")
        # the suspension is changed to one that has ended
        self.ctl("device", "revoke", "joe", first.fp, "--until", "2020-01-01")
        after = self.login("joe", device=dev)
        self.assertRefused(after, "device pending approval",
                           msg="a suspended-then-released pending device got in")
        self.ctl("device", "approve", "joe", first.fp)
        self.assertAccepted(self.login("joe", device=dev))

    def test_ctl_refuses_ambiguous_or_unknown_fingerprints(self):
        self.start({"policy_mode": "enforce"})
        fp = self.login("joe", device=self.device()).fp
        p = self.ctl("device", "approve", "joe", "0" * 16 if fp != "0" * 16 else "1" * 16,
                     check=False)
        self.assertNotEqual(p.returncode, 0)
        p = self.ctl("device", "approve", "joe", fp[:3], check=False)
        self.assertNotEqual(p.returncode, 0, "fewer than 4 hex digits")
        p = self.ctl("device", "approve", "shauser", fp, check=False)
        self.assertNotEqual(p.returncode, 0, "a device of another account")
        self.assertEqual(self.device_row("joe", fp)["state"], "pending")


class ObserveMode(PolicyTestCase):
    """observe: never refuses on policy grounds, records devices, and audits
    and logs what would have refused.  CID-POL-3, CID-POL-4, CID-POL-6,
    CID-POL-8."""

    def test_observe_never_refuses(self):
        self.start({"policy_mode": "observe", "policy_require_clientid": "yes",
                    "policy_types_deny": "BANNED", "policy_device_connections": "1"})
        cases = []
        cases.append(("no client id", self.login("joe")))
        cases.append(("client id type not allowed",
                      self.login("joe", device=self.device("BANNED"))))
        dev = self.device()
        first = self.login("joe", device=dev)
        self.assertAccepted(first)
        self.assertIsNone(first.ev["reason"], "an unknown device is no objection here")
        self.assertEqual(self.device_row("joe", first.fp)["state"], "pending")
        held = self.login("joe", device=dev, keep=True)
        cases.append(("too many connections for this device", self.login("joe", device=dev)))
        held.conn.logout()
        self.ctl("device", "revoke", "joe", first.fp)
        cases.append(("device revoked", self.login("joe", device=dev)))
        for objection, att in cases:
            with self.subTest(objection):
                self.assertAccepted(att)
                self.assertEqual(att.ev["mode"], "observe")
                self.assertEqual(att.ev["reason"], "observe: would refuse: " + objection)
        rows = [r for r in self.audit("joe") if r["reason"].startswith("observe:")]
        self.assertEqual([(r["result"], r["reason"]) for r in rows],
                         [("ok", "observe: would refuse: " + o) for o, _ in cases])
        self.assertRefused(self.login("joe", "wrong", device=dev), "wrong password")

    def test_token_reuse_detector_does_not_refuse_in_observe(self):
        """detect_token_block is a policy decision: observe reports it and
        refuses nothing, neither the attempt that trips it nor the next."""
        self.start({"policy_mode": "observe", "detect_token_accounts": "1",
                    "detect_token_block": "yes", "ratelimit_block_time": "1h"})
        shared = self.device()
        self.assertAccepted(self.login("joe", device=shared))
        second = self.login("shauser", device=shared)
        self.assertAccepted(second)
        self.assertEqual(second.ev["reason"],
                         "observe: would refuse: token used for too many accounts")
        self.wait_alert("token-reused-across-accounts", "shauser", fp=second.fp)
        again = self.login("joe", device=shared)
        self.assertAccepted(again, "observe mode refused a right password")


class ModeOff(PolicyTestCase):
    """off: the identity plays no part: no device rows, revocations ignored,
    no device alerts, budgets by account and address only."""

    def test_off_ignores_devices(self):
        self.start({"policy_mode": "off", "ratelimit_address_block": "2",
                    "ratelimit_block_time": "1h"})
        dev = self.device()
        att = self.login("joe", device=dev)
        self.assertAccepted(att)
        self.assertEqual(att.ev["mode"], "off")
        self.assertRegex(att.ev["clientid"], r"^UUID/fp=[0-9a-f]{16}$")
        self.assertEqual(self.devices("joe"), [])
        [row] = self.audit("joe")
        self.assertEqual((row["clientid_type"], row["fingerprint"], row["result"]),
                         ("UUID", att.fp, "ok"))
        self.assertRefused(self.login("joe", "wrong", device=dev), "wrong password")
        self.barrier()
        self.assertEqual(self.syslog_alerts(account="joe"), [], "no device alerts when off")

        # a device revoked under the account's own mode is let in when off
        self.ctl("policy", "set", "joe", "learn")
        trusted = self.login("joe", device=dev)
        self.assertEqual(self.device_row("joe", trusted.fp)["state"], "trusted")
        self.ctl("device", "revoke", "joe", trusted.fp)
        # (from another address: a revoked device is a stranger, and its
        # refusal is charged to the address like any other)
        self.assertRefused(self.login("joe", device=dev.at(NET_A2)), "device revoked")
        self.ctl("policy", "set", "joe", "off")
        self.assertAccepted(self.login("joe", device=dev))
        self.assertAccepted(self.login("joe", device=self.device(source=NET_B)))
        self.assertEqual(len(self.devices("joe")), 1, "off records no device")
        self.assertEqual(self.device_row("joe", trusted.fp)["count"], 1, "nor touches one")
        self.ctl("policy", "set", "joe", "default")

        # budgets: a token does not spare the address in mode off
        for i in range(2):
            self.assertRefused(self.login("shauser", "guess", device=self.device(source=CGNAT)))
        self.assertRefused(self.login("joe", device=self.device(source=CGNAT)), "rate limited")
        self.assertAccepted(self.login("joe", device=self.device(source=NET_B)))


class TypeFlags(SharedServerPolicyTestCase):
    """CID-POL-7, draft 4.7: per-type flags from `[type PATTERN]` sections
    (first match wins; types without a section: syslog userlog auth).  One
    server; each test logs in to its own account."""

    TYPES = [("IGN", "ignore syslog userlog auth"),     # ignore wins
             ("SESS", "session auth"),                    # session wins over auth
             ("NOSYS", "userlog auth"),
             ("NOUSER", "syslog auth"),
             ("NOAUTH", "syslog userlog"),
             ("AFAIL", "syslog userlog auth alert-fail"),
             ("ASUCC*", "syslog userlog auth alert-success")]
    CONFIG = {"policy_mode": "learn", "policy_learn_devices": "100", "log_level": "debug"}
    NAMES = ("default", "ignore", "session", "nosys", "nouser", "noauth", "afail", "asucc")
    USERS = dict([("f-" + n, "pw-" + n) for n in NAMES] +
                 [("f-" + n + "-req", "pw-" + n + "-req") for n in NAMES])

    def setUp(self):
        super().setUp()
        # test_alert_on_failure -> f-afail, etc.
        name = {"test_default_flags": "default", "test_ignore": "ignore",
                "test_session": "session", "test_without_syslog": "nosys",
                "test_without_userlog": "nouser", "test_without_auth": "noauth",
                "test_alert_on_failure": "afail",
                "test_alert_on_success": "asucc"}[self._testMethodName]
        self.acct = "f-" + name

    def check(self, type, log_cid, audit_typed, device_row, source=NET_A):
        """Log in to the test's account with a `type` device; check the
        log's clientid field, the audit row and the registry."""
        att = self.login(self.acct, device=self.device(type, source=source))
        self.assertAccepted(att)
        self.assertRegex(att.ev["clientid"], log_cid)
        [row] = self.audit(self.acct)
        if audit_typed:
            self.assertEqual(row["clientid_type"], type.upper())
            self.assertRegex(row["fingerprint"], r"^[0-9a-f]{16}$")
        else:
            self.assertEqual((row["clientid_type"], row["fingerprint"]), ("", ""), row)
        typed = [d for d in self.devices(self.acct) if d["type"] == type.upper()]
        self.assertEqual(len(typed), 1 if device_row else 0, typed)
        return att, row

    def treated_as_absent(self, type):
        """An account requiring a client id: an identity treated as absent
        does not satisfy it."""
        req = self.acct + "-req"
        self.ctl("policy", "set", req, "default", "--require-clientid", "yes")
        self.assertAccepted(self.login(req, device=self.device("UUID")))
        self.assertRefused(self.login(req, device=self.device(type)), "no client id")

    def test_default_flags(self):
        att, row = self.check("UUID", r"^UUID/fp=[0-9a-f]{16}$", True, True)
        self.assertEqual(row["fingerprint"], att.fp)

    def test_ignore(self):
        self.check("IGN", r"^-$", False, False)
        self.treated_as_absent("IGN")

    def test_session(self):
        mark = self.srv.mark()
        self.check("SESS", r"^SESS/fp=\(not logged\)$", False, False)
        self.assertIsNotNone(self.srv.wait_log(
            r"debug: auth: clientid SESS/fp=[0-9a-f]{16} kept for this session only", mark))
        self.treated_as_absent("SESS")

    def test_without_syslog(self):
        _, row = self.check("NOSYS", r"^NOSYS/fp=\(not logged\)$", True, True)
        fp = row["fingerprint"]
        # the device-trusted alert went out (webhook) ...
        self.assertEqual(self.hook.wait(lambda d: d.get("fingerprint") == fp)[0]["event"],
                         "device-trusted")
        self.barrier()
        # ... but the system log does not name the device anywhere
        self.assertEqual([l for l in self.srv.snapshot() if fp in l], [],
                         "the fingerprint of a type without 'syslog' is in the log")

    def test_without_userlog(self):
        att, _ = self.check("NOUSER", r"^NOUSER/fp=[0-9a-f]{16}$", False, True)
        self.assertEqual(self.devices(self.acct)[0]["fingerprint"], att.fp)

    def test_without_auth(self):
        self.check("NOAUTH", r"^NOAUTH/fp=[0-9a-f]{16}$", True, False)
        self.treated_as_absent("NOAUTH")
        self.ctl("policy", "set", self.acct, "enforce")
        self.assertRefused(self.login(self.acct, device=self.device("NOAUTH")),
                           "unknown device")

    def test_alert_on_failure(self):
        bad = self.login(self.acct, "wrong", device=self.device("AFAIL"))
        self.assertRefused(bad, "wrong password")
        [alert] = self.wait_alert("login-failure", self.acct, fp=bad.fp, type="AFAIL")
        self.assertEqual(alert["peer"], NET_A)
        good = self.login(self.acct, device=self.device("AFAIL"))
        self.assertAccepted(good)
        self.assertNoAlert("login-success", self.acct)
        plain = self.login(self.acct, "wrong", device=self.device("UUID"))
        self.assertNoAlert("login-failure", self.acct, fp=plain.fp)

    def test_alert_on_success(self):
        good = self.login(self.acct, device=self.device("ASUCC-PHONE"))
        self.assertAccepted(good)
        self.wait_alert("login-success", self.acct, fp=good.fp, type="ASUCC-PHONE")
        self.assertRefused(self.login(self.acct, "wrong", device=self.device("ASUCC")))
        self.assertNoAlert("login-failure", self.acct)
        self.assertAccepted(self.login(self.acct, device=self.device("UUID")))
        self.assertAlertCount(1, "login-success", self.acct)


class AlertsCannotBeForged(PolicyTestCase):
    """CID-POL-5, CID-POL-6: alerts about client-chosen account names (token
    reuse is reported for any name, existing or not) reach the operator and
    the account holder intact: the name cannot add lines to the log or
    headers to the alert mail."""

    LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error): ")

    def setUp(self):
        super().setUp()
        self.mail_dir = tempfile.mkdtemp(prefix="imapcid-mail-")
        self.addCleanup(shutil.rmtree, self.mail_dir, True)
        self.mail_out = os.path.join(self.mail_dir, "mail.out")
        sendmail = os.path.join(self.mail_dir, "sendmail.sh")
        with open(sendmail, "w") as f:
            f.write("#!/bin/sh\n{ echo \"ARGS $*\"; cat; echo '@@END@@'; } >> '%s'\n"
                    % self.mail_out)
        os.chmod(sendmail, 0o700)
        self.start({"policy_mode": "learn", "detect_token_accounts": "1",
                    "alert_mail": "yes", "sendmail_path": sendmail,
                    "alert_mail_domain": "example.net"})

    def mails(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.mail_out, "rb") as f:
                    text = f.read().decode(errors="replace")
            except FileNotFoundError:
                text = ""
            msgs = [m for m in text.split("@@END@@\n") if m.strip()]
            if len(msgs) >= n or time.monotonic() >= deadline:
                return msgs
            time.sleep(0.05)

    @staticmethod
    def headers(msg):
        lines = msg.split("\n")
        assert lines[0].startswith("ARGS "), lines[0]
        head = []
        for l in lines[1:]:
            if l == "":
                break
            head.append(l)
        return lines[0], head

    def forge(self, name):
        """Present a new token for joe, then for `name` (AUTHENTICATE PLAIN
        carries any byte but NUL): token reuse is reported for `name`."""
        dev = self.device()
        self.assertAccepted(self.login("joe", device=dev))
        self.wait_alert("device-trusted", "joe", fp=None)
        att = self.login(name, "x", device=dev, mech="PLAIN")
        self.assertFalse(att.ok)
        return att

    def test_mail_alert_headers(self):
        self.forge("shauser")          # an account that exists: its holder is told
        self.wait_alert("token-reused-across-accounts", "shauser")
        self.forge("eve\r\nBcc: victim@evil.example\r\nX-Injected: yes")
        self.forge("mallory@attacker.example")
        self.barrier()
        msgs = self.mails(4)
        time.sleep(0.3)                # (nothing more is on its way)
        msgs = self.mails(4, timeout=0)
        recipients, subjects = [], []
        for msg in msgs:
            args, head = self.headers(msg)
            self.assertEqual(args, "ARGS -t -i")
            names = sorted(h.split(":", 1)[0].lower() for h in head)
            self.assertEqual(names, ["auto-submitted", "from", "subject", "to"],
                             "alert mail headers: %r" % head)
            recipients += [h[4:] for h in head if h.startswith("To: ")]
            subjects += [h for h in head if h.startswith("Subject: ")]
        self.assertEqual(sorted(recipients), ["joe@example.net"] * 3 + ["shauser@example.net"],
                         "mail goes to account holders only, never to client-chosen names")
        self.assertIn("Subject: [imapcid] token-reused-across-accounts on your account", subjects)

    def test_log_lines_cannot_be_forged(self):
        forged = "2030-01-01T00:00:00.000Z warn: alert: event=forged"
        att = self.forge("eve\r\n" + forged + " x")
        self.assertEqual(att.ev["login"], "eve\\x0d\\x0a2030-01-01T00:00:00.000Z\\x20warn:"
                         "\\x20alert:\\x20event=forged\\x20x", "the auth line escapes it")
        self.assertEqual(att.ev["user"], "eve\\x0d\\x0a2030-01-01t00:00:00.000z\\x20warn:"
                         "\\x20alert:\\x20event=forged\\x20x",
                         "and the canonical (case-folded) account too")
        self.barrier()
        self.assertIn("event=token-reused-across-accounts",
                      "\n".join(self.srv.snapshot()), "the alert was raised")
        lines = self.srv.snapshot()
        self.assertEqual([l for l in lines if l.lower().startswith(forged.lower())], [],
                         "a client-chosen name wrote its own log line")
        broken = [l for l in lines if not self.LOG_LINE.match(l)]
        self.assertEqual(broken, [], "lines not written by the logger (split)")


class UnknownTypesAccepted(PolicyTestCase):
    """CID-POL-8: without allow/deny lists every well-formed type is
    accepted, recorded under its (upper-cased) name, and refused only for
    what the policy holds against the device, not the type."""

    def test_any_type(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "10"})
        for t in ("X", "brand-new-Type-9", "1234567890ABCDEF"):
            with self.subTest(t):
                self.assertAccepted(self.login("joe", device=self.device(t)))
        self.assertEqual(sorted(d["type"] for d in self.devices("joe")),
                         ["1234567890ABCDEF", "BRAND-NEW-TYPE-9", "X"])
        self.ctl("policy", "set", "joe", "enforce")
        self.assertRefused(self.login("joe", device=self.device("ODD-ONE")), "unknown device")


class AddressBudget(PolicyTestCase):
    """CID-POL-6: strangers (clients without a CLIENTID, or with a token the
    account does not know) draw on their address's budget (and the
    account's); a device the account knows does not; the block ends after
    ratelimit_block_time."""

    def test_address_budget_blocks_clients_without_clientid(self):
        self.start({"policy_mode": "learn", "ratelimit_address_block": "3",
                    "ratelimit_block_time": "1h"}, users=USERS)
        mine = self.device(source=NET_B)
        self.assertAccepted(self.login("joe", device=mine))     # trusted now
        for i in range(3):
            self.assertRefused(self.login("user%d" % i, "guess", source=CGNAT), "unknown user")
        self.assertRefused(self.login("joe", source=CGNAT), "rate limited")
        self.assertRefused(self.login("carol", source=CGNAT), "rate limited")
        self.assertAccepted(self.login("joe", source=NET_B), "other addresses are not blocked")
        self.assertRefused(self.login("joe", device=self.device(source=CGNAT)), "rate limited",
                           "a token the account does not know is a stranger: it draws "
                           "on the address too (an id never buys attempts)")
        self.assertAccepted(self.login("joe", device=mine.at(CGNAT)),
                            "a device the account knows does not draw on the address")

    def test_block_ends(self):
        self.start({"policy_mode": "learn", "ratelimit_token_block": "2",
                    "ratelimit_block_time": "1s", "ratelimit_window": "1h"})
        dev = self.device()
        for i in range(2):
            self.assertRefused(self.login("joe", "guess", device=dev), "wrong password")
        self.assertRefused(self.login("joe", device=dev), "rate limited")
        time.sleep(1.2)
        self.assertAccepted(self.login("joe", device=dev))


class TokenPrivacy(PolicyTestCase):
    """CID-PRV-1: the registry is its own file, apart from the passwords,
    and holds keyed hashes of tokens, never the tokens, unless
    registry_store_tokens is on.  CID-PRV-2 is checked after every test
    (no token in the log, webhook bodies or alert_command input)."""

    def registry_bytes(self):
        data = b""
        for path in glob.glob(os.path.join(self.inst.dir, "state", "registry.db*")):
            with open(path, "rb") as f:
                data += f.read()
        return data

    def registry_values(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.inst.dir, "state",
                                                              "registry.db"), uri=True)
        try:
            values = []
            tables = [r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            self.assertIn("devices", tables)
            for t in tables:
                for row in db.execute('SELECT * FROM "%s"' % t):
                    values.extend(str(v) for v in row)
            return values
        finally:
            db.close()

    def populate(self):
        devs = [self.device(), self.device("VENDOR-X", source=NET_B), self.device()]
        fps = [self.login("joe", device=devs[0]).fp,
               self.login("joe", device=devs[1]).fp,
               self.login("joe", "wrong", device=devs[2]).fp]
        return devs, fps

    def test_tokens_are_not_stored(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1"})
        devs, fps = self.populate()
        rows = self.devices("joe")          # (after the registry writer caught up)
        self.assertEqual(len(rows), 2)
        for r in rows:
            self.assertNotIn("token", r)
            self.assertRegex(r["hash"], r"^[0-9a-f]{64}$")
            self.assertEqual(r["fingerprint"], r["hash"][:16])
        data = self.registry_bytes()
        values = self.registry_values()
        with open(self.inst.passwd, "rb") as f:
            passwd = f.read()
        self.assertTrue(data)
        for d in devs:
            self.assertNotIn(d.token.encode(), data, "token in the registry file")
            self.assertFalse([v for v in values if d.token in v], "token in a registry row")
        for r in rows:
            self.assertIn(r["hash"], values)
            self.assertNotIn(r["hash"][:16].encode(), passwd)
        self.assertIn(fps[0], [r["fingerprint"] for r in rows])
        self.srv.stop()      # after a checkpoint, too
        data = self.registry_bytes()
        for d in devs:
            self.assertNotIn(d.token.encode(), data)

    def test_hashes_are_keyed(self):
        self.start({"policy_mode": "learn"})
        dev = self.device()
        fp1 = self.login("joe", device=dev).fp
        for text in (dev.token, "UUID" + dev.token, "UUID\0" + dev.token, "UUID " + dev.token):
            plain = hashlib.sha256(text.encode()).hexdigest()
            self.assertNotIn(plain[:16], fp1, "an unkeyed hash")
        first_inst = self.inst
        self.start({"policy_mode": "learn"})
        self.assertIsNot(self.inst, first_inst)
        fp2 = self.login("joe", device=dev).fp
        self.assertNotEqual(fp1, fp2, "two servers (two secrets) give two fingerprints")

    def test_clear_tokens_when_asked(self):
        self.start({"policy_mode": "learn", "registry_store_tokens": "yes"})
        self.assertIsNotNone(self.srv.wait_log(r"registry_store_tokens is on"))
        devs, fps = self.populate()
        rows = {r["fingerprint"]: r for r in self.devices("joe")}
        self.assertEqual(rows[fps[0]].get("token"), devs[0].token)
        self.assertEqual(rows[fps[1]].get("token"), devs[1].token)
        values = self.registry_values()
        self.assertTrue([v for v in values if v == devs[0].token])
        self.assertIn(devs[0].token.encode(), self.registry_bytes())


if __name__ == "__main__":
    unittest.main()
