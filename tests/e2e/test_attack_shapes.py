"""The promise that comes before any feature: a device identity never buys an
attacker anything (docs/POLICY.md, "Budgets").

For every attack shape (spraying many accounts, stuffing one account, slow
and parallel, from one address, a /24 or a /64), sending CLIENTID -- a fresh
token per attempt, a few tokens in rotation, or one fixed token -- never
yields more unthrottled attempts than sending none, nor more connections;
and a trusted device never pays for anyone else's failures.  CID-POL-6,
CID-POL-2, CID-RES-1.

An attempt is "unthrottled" when its auth log line carries neither
`reason="rate limited"` nor a `tarpit=` delay: the server's own account of
what it held back, so the counts do not depend on timing.
"""

import ipaddress
import os
import random
import subprocess
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import AUTH_FAILED, client_context
from policy_support import (BoundConn, CGNAT, NET_B, OK_CLIENTID, PolicyTestCase,
                            new_token, parse_auth_lines)

# Small budgets so each shape runs into them within a few dozen attempts;
# delays of 1 ms are still delays (logged as tarpit=1ms) and keep it fast.
BUDGETS = {
    "policy_mode": "learn",
    "policy_learn_devices": "5",
    "ratelimit_window": "1h",
    "ratelimit_block_time": "1h",
    "ratelimit_delay_base": "1ms",
    "ratelimit_delay_max": "1ms",
    "ratelimit_token_free": "2",
    "ratelimit_token_block": "5",
    "ratelimit_account_free": "3",
    "ratelimit_account_block": "6",
    "ratelimit_address_free": "4",
    "ratelimit_address_block": "12",
    "ratelimit_network_free": "8",
    "ratelimit_network_block": "30",
    "detect_churn_tokens": "10",
}

ID_MODES = ("none", "fresh", "rotating", "fixed")


class Identities:
    """The CLIENTID each attempt sends, by mode."""

    def __init__(self, mode):
        self.mode = mode
        self.ring = [new_token() for _ in range(5)]
        self.fixed = new_token()

    def token(self, i):
        if self.mode == "none":
            return None
        if self.mode == "fresh":
            return new_token()
        if self.mode == "rotating":
            return self.ring[i % len(self.ring)]
        return self.fixed


class AttackShapes(PolicyTestCase):

    def attempt(self, user, password, source, token, addr=None):
        """One login on its own connection; returns the tagged line."""
        c = BoundConn(addr or self.srv.imaps_addr, source, timeout=30,
                      freebind=addr is not None)
        try:
            if token is not None:
                _, line = c.raw_command("C1", "CLIENTID UUID %s" % token)
                self.assertEqual(line, b"C1 " + OK_CLIENTID, "CID-RES-1")
            _, line = c.raw_command("L1", 'LOGIN "%s" "%s"' % (user, password))
            return line
        finally:
            c.close()

    def run_shape(self, id_mode, accounts, sources, n, parallel=1, addr_of=None,
                  listen=None):
        """A fresh server; n failed logins shaped as asked; returns how many
        were unthrottled."""
        if self.srv is not None:
            self.srv.stop()
        cfg = dict(BUDGETS)
        if listen:
            cfg["listen_imaps"] = listen
        self.start(cfg)
        ids = Identities(id_mode)
        for t in ids.ring + [ids.fixed]:
            self.tokens.append(t)
        mark = self.srv.mark()
        addr = addr_of(self.srv) if addr_of else None

        def one(i):
            tok = ids.token(i)
            if tok is not None:
                self.tokens.append(tok)
            line = self.attempt(accounts[i % len(accounts)], "wrong-%d" % i,
                                sources[i % len(sources)], tok, addr)
            self.assertEqual(line, b"L1 " + AUTH_FAILED)

        if parallel > 1:
            with ThreadPoolExecutor(parallel) as pool:
                list(pool.map(one, range(n)))
        else:
            for i in range(n):
                one(i)
        evs = self.wait_events(mark, n)
        return sum(1 for e in evs
                   if e["reason"] != "rate limited" and not e["tarpit"])

    def wait_events(self, mark, n):
        lines = []
        ok = self.srv.wait_log(r"\bauth: ", since=mark, timeout=5)
        self.assertIsNotNone(ok)
        for _ in range(500):
            lines = parse_auth_lines(self.srv.snapshot()[mark:])
            if len(lines) >= n:
                break
            self.srv.wait_log(r"\bauth: ", since=len(self.srv.snapshot()),
                              timeout=0.1)
        self.assertEqual(len(lines), n, "one auth line per attempt")
        return lines

    def compare(self, **shape):
        """Every id mode against none: never more unthrottled attempts."""
        counts = {m: self.run_shape(m, **shape) for m in ID_MODES}
        self.assertGreater(counts["none"], 0, "the shape must get some free attempts")
        for m in ID_MODES[1:]:
            self.assertLessEqual(counts[m], counts["none"],
                                 "CLIENTID %s bought unthrottled attempts: %r" % (m, counts))
        return counts

    # -- the shapes ------------------------------------------------------------
    def test_spray_many_accounts_one_address(self):
        """The measured hole: one wrong password on each of many accounts from
        one address.  Without an id the address's free failures (4) are all;
        a fresh token per attempt gets no more (it got 150 of 150 before)."""
        counts = self.compare(accounts=["sprayed%d" % i for i in range(24)],
                              sources=[CGNAT], n=24)
        self.assertEqual(counts["none"], 4, counts)
        self.assertEqual(counts["fresh"], 4, counts)

    def test_spray_parallel_connections(self):
        """The same from 12 connections at once: attempts in flight count
        against each other, so parallelism buys nothing either."""
        counts = self.compare(accounts=["sprayed%d" % i for i in range(24)],
                              sources=[CGNAT], n=24, parallel=12)
        self.assertLessEqual(counts["none"], 4, counts)

    def test_stuffing_one_account(self):
        """Many passwords for one account."""
        counts = self.compare(accounts=["joe"], sources=[CGNAT], n=16)
        self.assertEqual(counts["none"], 3, "the account's free failures: %r" % counts)

    def test_spray_from_a_slash_24(self):
        """Every attempt from another address of one /24: the network's
        budget (8 free) bounds them, with or without ids."""
        sources = ["127.0.77.%d" % i for i in range(1, 41)]
        counts = self.compare(accounts=["sprayed%d" % i for i in range(40)],
                              sources=sources, n=40)
        self.assertEqual(counts["none"], 8, counts)

    def test_spray_from_a_slash_64(self):
        """IPv6: a client has a /64 to itself; every attempt from another
        address of it is still one address (4 free)."""
        prefix = self.local_v6_prefix()
        sources = [str(prefix[i]) for i in range(2, 26)]
        counts = self.compare(accounts=["sprayed%d" % i for i in range(24)],
                              sources=sources, n=24, listen="[::]:0",
                              addr_of=lambda srv: (str(prefix[1]), srv.imaps_addr[1]))
        self.assertEqual(counts["none"], 4, counts)

    def local_v6_prefix(self):
        """A random ULA /64 routed to the loopback interface for this test
        (needs root and iproute2), removed afterwards."""
        if os.geteuid() != 0:
            self.skipTest("needs root to route an IPv6 /64 to lo")
        net = ipaddress.IPv6Network("fd%02x:%04x:%04x:%04x::/64" % (
            random.randrange(256), random.randrange(65536),
            random.randrange(65536), random.randrange(65536)))
        r = subprocess.run(["ip", "-6", "route", "add", "local", str(net), "dev", "lo"],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot route %s to lo: %s" % (net, r.stderr.decode().strip()))
        self.addCleanup(subprocess.run, ["ip", "-6", "route", "del", "local", str(net),
                                         "dev", "lo"], capture_output=True)
        return net

    # -- what strangers spend, trusted devices keep -------------------------------
    def test_trusted_device_never_pays(self):
        """A spray with fresh tokens spends the address's, the network's and
        the account's budgets; a device joe trusted before logs in at once,
        from the same address, unthrottled."""
        self.start(dict(BUDGETS))
        mine = self.device(source=CGNAT)
        self.assertAccepted(self.login("joe", device=mine))
        for i in range(40):
            line = self.attempt("joe" if i % 2 else "sprayed%d" % i, "wrong",
                                CGNAT, new_token())
            self.assertEqual(line, b"L1 " + AUTH_FAILED)
        self.assertRefused(self.login("joe", device=self.device(source=CGNAT)),
                           "rate limited", "a stranger waits")
        self.assertRefused(self.login("joe", source=CGNAT), "rate limited")
        att = self.login("joe", device=mine)
        self.assertAccepted(att, "the trusted device is not held back")
        self.assertIsNone(att.ev["tarpit"], att.ev["_line"])
        att = self.login("joe", device=mine.at(NET_B))
        self.assertAccepted(att)

    def test_churn_of_never_seen_tokens_is_detected(self):
        """More than detect_churn_tokens (10) never-seen tokens failing from
        one network: a token-churn alert, once."""
        self.start(dict(BUDGETS, ratelimit_address_block="1000",
                        ratelimit_address_free="1000", ratelimit_network_free="1000",
                        ratelimit_network_block="1000", ratelimit_account_free="1000",
                        ratelimit_account_block="1000"))
        for i in range(12):
            self.attempt("sprayed%d" % i, "wrong", CGNAT, new_token())
        bodies = self.wait_alert("token-churn", "sprayed10", fp=None)
        self.assertIn("never-seen tokens failed from 127.0.0.0/24", bodies[0]["reason"])
        self.barrier()
        churn = [a for a in self.syslog_alerts() if a["event"] == "token-churn"]
        self.assertEqual(len(churn), 1, churn)

    def test_parallel_right_passwords_are_never_held_back(self):
        """Budgets count failures, not logins: 48 right passwords at once
        from one address, each with a device the account does not know,
        are all answered at once, none tarpitted or refused, even with an
        address budget far smaller than the burst."""
        self.start(dict(BUDGETS, policy_mode="observe"))
        mark = self.srv.mark()
        devs = [self.device(source=CGNAT) for _ in range(48)]
        conns = [self.open(device=d) for d in devs]
        go = threading.Barrier(len(conns))
        answers = [None] * len(conns)

        def one(i):
            go.wait()
            _, answers[i] = conns[i].raw_command("L1", 'LOGIN "joe" "password"')
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertTrue(all(a is not None and a.startswith(b"L1 OK") for a in answers),
                        answers)
        evs = self.wait_events(mark, len(conns))
        self.assertEqual([e for e in evs if e["tarpit"] or e["result"] != "ok"], [])

    # -- connections -------------------------------------------------------------
    def test_clientid_buys_no_connections(self):
        """max_connections_per_ip counts every unauthenticated connection of
        the address, with a CLIENTID or without: a fresh token per connection
        gets no more than none (it was bounded by max_connections only)."""
        for mode in ("none", "fresh"):
            with self.subTest(mode):
                if self.srv is not None:
                    self.srv.stop()
                self.start(dict(BUDGETS, max_connections_per_ip="5"))
                held = []
                for _ in range(5):
                    c = BoundConn(self.srv.imaps_addr, CGNAT)
                    self.addCleanup(c.close)
                    self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
                    if mode == "fresh":
                        _, line = c.raw_command("C1", "CLIENTID UUID " + new_token())
                        self.assertEqual(line, b"C1 " + OK_CLIENTID)
                    held.append(c)
                extra = BoundConn(self.srv.imaps_addr, CGNAT)
                self.addCleanup(extra.close)
                self.assertEqual(extra.greeting,
                                 b"* BYE Too many connections from your address.")
                # a session that logged in gives its slot back
                _, line = held[0].raw_command("L1", 'LOGIN "joe" "password"')
                self.assertTrue(line.startswith(b"L1 OK"), line)
                for _ in range(100):
                    again = BoundConn(self.srv.imaps_addr, CGNAT)
                    self.addCleanup(again.close)
                    if again.greeting.startswith(b"* OK"):
                        break
                else:
                    self.fail("the logged-in session still holds its slot")


if __name__ == "__main__":
    unittest.main()
