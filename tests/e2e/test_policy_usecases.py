"""Device-aware policy, end to end: one scenario per numbered use case of the
draft's section 4.3 (both numbered lists: "4.3a N" and "4.3b N") and section
4.4 ("4.4 N").  Rules: /work/shared/spec/CLIENTID.md, CID-POL-*, CID-PRV-*.

Every scenario runs its own server over implicit TLS, with clients bound to
loopback source addresses (NET_A / NET_A2: one /16, NET_B: another /16,
CGNAT: one address shared by many devices), and checks the answers, the
registry (imapcidctl device list --json), the audit rows (imapcidctl audit
--json) and the alerts (syslog line, webhook JSON, alert_command).
"""

import unittest

from policy_support import (CGNAT, NET_A, NET_A2, NET_B, PolicyTestCase)

USERS = {"carol": "carol-pw", "dave": "dave-pw"}


# ---------------------------------------------------------------------------
# 4.3, first list
# ---------------------------------------------------------------------------

class UseCase43a1RecognizeNewDevice(PolicyTestCase):
    """4.3a 1: recognise a device not historically known to have presented
    the credentials.  CID-POL-4 (trust previously seen devices), CID-POL-5
    (alert on success from a new device), CID-PRV-2."""

    def test_known_device_trusted_new_device_recorded_and_reported(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1"})
        home = self.device(source=NET_A)
        first = self.login("joe", device=home)
        self.assertAccepted(first)
        self.assertRegex(first.fp, r"^[0-9a-f]{16}$")
        [row] = self.devices("joe")
        self.assertEqual((row["fingerprint"], row["type"], row["state"], row["count"],
                          row["last_address"]), (first.fp, "UUID", "trusted", 1, NET_A))
        self.assertNotIn("token", row)
        [alert] = self.wait_alert("device-trusted", "joe", fp=first.fp, type="UUID")
        self.assertEqual(alert["peer"], NET_A)

        again = self.login("joe", device=home)
        self.assertAccepted(again)
        self.assertEqual(again.fp, first.fp, "the same device has the same fingerprint")
        self.assertEqual(self.device_row("joe", first.fp)["count"], 2)

        laptop = self.device(source=NET_B)
        new = self.login("joe", device=laptop)
        self.assertAccepted(new, "learn mode lets a new device in")
        self.assertNotEqual(new.fp, first.fp)
        row = self.device_row("joe", new.fp)
        self.assertEqual((row["state"], row["last_address"]), ("pending", NET_B))
        [alert] = self.wait_alert("new-device-success", "joe", fp=new.fp, type="UUID")
        self.assertEqual(alert["peer"], NET_B)

        # the known device raised nothing new; the trust alert came once
        self.assertNoAlert("new-device-success", "joe", fp=first.fp)
        self.assertEqual(self.alert_count("device-trusted", "joe"), (1, 1, 1))
        rows = self.audit("joe")
        self.assertEqual([(r["fingerprint"], r["peer"], r["result"]) for r in rows],
                         [(first.fp, NET_A, "ok"), (first.fp, NET_A, "ok"),
                          (new.fp, NET_B, "ok")])


class UseCase43a2RequireClientId(PolicyTestCase):
    """4.3a 2: the server restricts authentication to actors presenting a
    CLIENTID, or an account holder restricts their account to such devices.
    CID-POL-3 (globally and per account), CID-POL-2."""

    def test_server_wide_requirement_with_a_legacy_account_exempted(self):
        self.start({"policy_mode": "learn", "policy_require_clientid": "yes"}, users=USERS)
        bare = self.login("joe")
        self.assertRefused(bare, "no client id")
        [row] = self.audit("joe")
        self.assertEqual((row["result"], row["reason"], row["clientid_type"], row["fingerprint"]),
                         ("fail", "no client id", "", ""))
        self.assertAccepted(self.login("joe", device=self.device()))
        self.assertRefused(self.login("carol"), "no client id")

        # the holder of a legacy account opts out, effective at the next login
        self.ctl("policy", "set", "carol", "default", "--require-clientid", "no")
        self.assertAccepted(self.login("carol"))
        self.assertRefused(self.login("joe"), "no client id")
        show = self.ctl_json("policy", "show", "carol")
        self.assertEqual((show["mode"], show["mode_source"], show["require_clientid"]),
                         ("learn", "global", False))

    def test_account_holder_requires_clientid(self):
        self.start({"policy_mode": "learn"}, users=USERS)
        self.assertAccepted(self.login("joe"), "no requirement by default")
        self.ctl("policy", "set", "joe", "default", "--require-clientid", "yes")
        show = self.ctl_json("policy", "show", "joe")
        self.assertEqual((show["mode"], show["require_clientid"]), ("learn", True))
        self.assertRefused(self.login("joe"), "no client id")
        self.assertAccepted(self.login("joe", device=self.device()))
        self.assertAccepted(self.login("carol"), "other accounts are not affected")
        self.ctl("policy", "set", "joe", "default", "--require-clientid", "default")
        self.assertAccepted(self.login("joe"))


class UseCase43a3PermittedTypes(PolicyTestCase):
    """4.3a 3: only devices presenting a permitted client type (e.g. only
    vendor A's devices).  CID-POL-4, CID-POL-8 (the lists are patterns;
    without them every type is welcome), CID-POL-2."""

    def test_only_vendor_a(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "10",
                    "policy_require_clientid": "yes",
                    "policy_types_allow": "vendora-*"})
        self.assertAccepted(self.login("joe", device=self.device("VENDORA-UUID")))
        self.assertAccepted(self.login("joe", device=self.device("VendorA-Phone")),
                            "types and patterns match case-insensitively")
        other = self.login("joe", device=self.device("VENDORB-UUID"))
        self.assertRefused(other, "client id type not allowed")
        self.assertRefused(self.login("joe"), "no client id")
        types = sorted(d["type"] for d in self.devices("joe"))
        self.assertEqual(types, ["VENDORA-PHONE", "VENDORA-UUID"],
                         "a refused type is not recorded as a device")
        rows = [r for r in self.audit("joe") if r["clientid_type"] == "VENDORB-UUID"]
        self.assertEqual([(r["result"], r["reason"], r["fingerprint"]) for r in rows],
                         [("fail", "client id type not allowed", other.fp)])

    def test_deny_list_wins_and_unlisted_types_are_welcome(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "10",
                    "policy_types_deny": "*-BETA, legacy"})
        self.assertRefused(self.login("joe", device=self.device("APP-BETA")),
                           "client id type not allowed")
        self.assertRefused(self.login("joe", device=self.device("LEGACY")),
                           "client id type not allowed")
        self.assertAccepted(self.login("joe", device=self.device("LEGACY-2")))
        self.assertAccepted(self.login("joe", device=self.device("NEVER-SEEN-TYPE")))
        self.assertAccepted(self.login("joe"), "no client id, none required")


class UseCase43a4AlertUnknownDevice(PolicyTestCase):
    """4.3a 4: alert the account holder that their credentials were
    presented from an unknown or different device.  CID-POL-5, CID-POL-4,
    CID-POL-2, CID-PRV-2."""

    def test_alerts_for_unknown_device_and_failures_of_a_known_one(self):
        self.start({"policy_mode": "enforce"})
        home = self.device(source=NET_A)
        first = self.login("joe", device=home)
        self.assertRefused(first, "unknown device")
        row = self.device_row("joe", first.fp)
        self.assertEqual((row["state"], row["type"], row["last_address"]),
                         ("pending", "UUID", NET_A))
        [alert] = self.wait_alert("unknown-device-refused", "joe", fp=first.fp, type="UUID")
        self.assertEqual((alert["peer"], alert["reason"]), (NET_A, "unknown device"))
        ctypes = [c for _, _, c in self.hook.bodies]
        self.assertTrue(all(c == "application/json" for c in ctypes), ctypes)

        self.ctl("device", "approve", "joe", first.fp)
        self.assertAccepted(self.login("joe", device=home))

        thief = self.device(source=NET_B)
        stolen = self.login("joe", device=thief)
        self.assertRefused(stolen, "unknown device")
        [alert] = self.wait_alert("unknown-device-refused", "joe", fp=stolen.fp)
        self.assertEqual(alert["peer"], NET_B)

        # a failure with the known device
        typo = self.login("joe", "passwort", device=home)
        self.assertRefused(typo, "wrong password")
        self.wait_alert("known-device-failure", "joe", fp=first.fp)

        # a wrong password from an unknown device says nothing about devices
        guess = self.login("joe", "guess", device=self.device(source=NET_B))
        self.assertRefused(guess, "wrong password")
        self.assertIsNone(self.device_row("joe", guess.fp))
        self.assertNoAlert("unknown-device-refused", "joe", fp=guess.fp)
        self.assertEqual(self.alert_count("known-device-failure", "joe"), (1, 1, 1))


# ---------------------------------------------------------------------------
# 4.3, second list
# ---------------------------------------------------------------------------

class UseCase43b1AttackBehindSharedAddress(PolicyTestCase):
    """4.3b 1: hundreds of devices behind one address during an attack:
    accept only connections presenting a client identifier.  The operator
    turns the requirement on for the attacked account without a restart.
    CID-POL-3, CID-POL-6, CID-POL-2."""

    def test_require_clientid_during_attack(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1"})
        regular = self.device(source=CGNAT)
        self.assertAccepted(self.login("joe", device=regular))

        self.ctl("policy", "set", "joe", "default", "--require-clientid", "yes")
        for i in range(4):
            self.assertRefused(self.login("joe", "guess%d" % i, source=CGNAT))
        self.assertRefused(self.login("joe", source=CGNAT), "no client id")
        self.assertAccepted(self.login("joe", device=regular))
        self.assertAccepted(self.login("joe", device=self.device(source=CGNAT)),
                            "another device behind the address, with an identifier")
        self.assertAccepted(self.login("shauser", source=CGNAT),
                            "other accounts behind the address are not affected")
        self.ctl("policy", "set", "joe", "default", "--require-clientid", "default")
        self.assertAccepted(self.login("joe", source=CGNAT))
        reasons = [r["reason"] for r in self.audit("joe") if r["result"] == "fail"]
        self.assertEqual(reasons, ["wrong password"] * 4 + ["no client id"])


class UseCase43b2OnlyKnownDevicesDuringAttack(PolicyTestCase):
    """4.3b 2: during an attack, only historically known devices.  The
    account goes from learn to enforce (imapcidctl policy set, next login,
    no restart) and back.  CID-POL-4, CID-POL-5, CID-POL-2."""

    def test_switch_account_to_enforce(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "2"})
        phone, laptop = self.device(source=NET_A), self.device(source=NET_B)
        self.assertAccepted(self.login("joe", device=phone))
        self.assertAccepted(self.login("joe", device=laptop))

        self.ctl("policy", "set", "joe", "enforce")
        show = self.ctl_json("policy", "show", "joe")
        self.assertEqual((show["mode"], show["mode_source"]), ("enforce", "account"))
        self.assertAccepted(self.login("joe", device=phone))
        self.assertAccepted(self.login("joe", device=laptop.at(CGNAT)),
                            "a known device from anywhere")
        stranger = self.login("joe", device=self.device(source=CGNAT))
        self.assertRefused(stranger, "unknown device")
        self.assertEqual(stranger.ev["mode"], "enforce")
        self.wait_alert("unknown-device-refused", "joe", fp=stranger.fp)
        self.assertRefused(self.login("joe", source=CGNAT), "unknown device")
        self.assertAccepted(self.login("shauser", device=self.device(source=CGNAT)),
                            "other accounts stay in learn mode")

        self.ctl("policy", "set", "joe", "default")
        back = self.login("joe", device=stranger.device)
        self.assertAccepted(back)
        self.assertEqual(back.ev["mode"], "learn")
        self.assertEqual(self.device_row("joe", stranger.fp)["state"], "pending")


class UseCase43b3ConnectionsPerDevice(PolicyTestCase):
    """4.3b 3: tell the devices behind one address apart and cap the
    connections per device rather than per address.  CID-POL-6, CID-POL-2."""

    def test_cap_per_device_behind_one_address(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "5",
                    "policy_device_connections": "2"})
        busy, other = self.device(source=CGNAT), self.device(source=CGNAT)
        s1 = self.login("joe", device=busy, keep=True)
        s2 = self.login("joe", device=busy, keep=True)
        self.assertAccepted(s1)
        self.assertAccepted(s2)
        third = self.login("joe", device=busy)
        self.assertRefused(third, "too many connections for this device")
        for _ in range(2):
            self.assertAccepted(self.login("joe", device=other, keep=True),
                                "another device behind the same address has its own cap")
        self.assertAccepted(self.login("joe", source=CGNAT, keep=True))
        _, line = s2.conn.raw_command("N1", "NOOP")
        self.assertTrue(line.startswith(b"N1 OK"), "a refusal leaves the sessions alone")
        s1.conn.logout()
        self.assertAccepted(self.login("joe", device=busy, keep=True),
                            "a slot is free again after a logout")
        self.assertRefused(self.login("joe", device=busy),
                           "too many connections for this device")


class UseCase43b4SameTokenTwoPlaces(PolicyTestCase):
    """4.3b 4: one device cannot be in two places at once: the same token
    with a session open from one network logging in from another is
    reported.  CID-POL-6, CID-POL-5, CID-PRV-2."""

    def test_concurrent_networks(self):
        self.start({"policy_mode": "learn"})
        dev = self.device(source=NET_A)
        s1 = self.login("joe", device=dev, keep=True)
        self.assertAccepted(s1)
        s2 = self.login("joe", device=dev.at(NET_A2), keep=True)
        self.assertAccepted(s2)
        self.assertNoAlert("concurrent-networks", "joe")

        s3 = self.login("joe", device=dev.at(NET_B), keep=True)
        self.assertAccepted(s3, "reported, not refused")
        [alert] = self.wait_alert("concurrent-networks", "joe", fp=s1.fp, type="UUID")
        self.assertEqual(alert["peer"], NET_B)

        for s in (s1, s2, s3):
            s.conn.logout()
        self.assertAccepted(self.login("joe", device=dev.at(NET_B)))
        self.assertAlertCount(1, "concurrent-networks", "joe")

    def test_network_size_is_configurable(self):
        self.start({"policy_mode": "learn", "detect_network_v4": "8"})
        dev = self.device(source=NET_A)
        self.assertAccepted(self.login("joe", device=dev, keep=True))
        self.assertAccepted(self.login("joe", device=dev.at(NET_B), keep=True))
        self.assertNoAlert("concurrent-networks", "joe")


# ---------------------------------------------------------------------------
# 4.4
# ---------------------------------------------------------------------------

class UseCase44n1TokensPerAccount(PolicyTestCase):
    """4.4 1: the credentials of an account holder, or of a set of account
    holders, may be used only with a given set of client identities.
    CID-POL-4, CID-POL-2."""

    def test_allow_list_for_a_set_of_accounts(self):
        self.start({"policy_mode": "learn"}, users=USERS)
        for acct in ("joe", "carol"):
            self.ctl("policy", "set", acct, "enforce")
        phone, tablet, carols = self.device(), self.device(source=NET_B), self.device()
        for acct, dev in (("joe", phone), ("joe", tablet), ("carol", carols)):
            att = self.login(acct, device=dev)
            self.assertRefused(att, "unknown device")
            self.ctl("device", "approve", acct, att.fp[:8])
        self.assertAccepted(self.login("joe", device=phone))
        self.assertAccepted(self.login("joe", device=tablet))
        self.assertAccepted(self.login("carol", device=carols))
        self.assertRefused(self.login("joe", device=carols), "unknown device")
        self.assertRefused(self.login("carol", device=phone), "unknown device")
        self.assertRefused(self.login("joe", device=self.device()), "unknown device")
        self.assertAccepted(self.login("dave", device=self.device()),
                            "accounts outside the set are not restricted")
        trusted = sorted(d["fingerprint"] for d in self.devices("joe")
                         if d["state"] == "trusted")
        self.assertEqual(len(trusted), 2)


class UseCase44n2TokenAcrossAccounts(PolicyTestCase):
    """4.4 2: the same token used for several accounts is detected (and,
    if configured, its access restricted).  CID-POL-6, CID-POL-5, CID-PRV-2."""

    def test_reuse_is_reported(self):
        self.start({"policy_mode": "learn", "detect_token_accounts": "2"}, users=USERS)
        bot = self.device(source=CGNAT)
        for acct in ("joe", "shauser"):
            self.assertRefused(self.login(acct, "hunter2", device=bot))
        self.assertNoAlert("token-reused-across-accounts", "shauser")
        self.assertRefused(self.login("carol", "hunter2", device=bot))
        [alert] = self.wait_alert("token-reused-across-accounts", "carol",
                                  type="UUID")
        self.assertRegex(alert["fingerprint"], r"^[0-9a-f]{16}$")
        # two accounts for one token is within the limit
        shared = self.device(source=NET_A)
        self.assertAccepted(self.login("joe", device=shared))
        self.assertAccepted(self.login("dave", device=shared))
        self.assertNoAlert("token-reused-across-accounts", "dave")
        # reported once, not at every further attempt
        self.assertRefused(self.login("dave", "hunter2", device=bot))
        self.assertRefused(self.login("joe", "hunter3", device=bot))
        self.barrier()
        self.assertEqual([a["account"] for a in self.syslog_alerts("token-reused-across-accounts")],
                         ["carol"])

    def test_reuse_blocks_the_token(self):
        self.start({"policy_mode": "learn", "detect_token_accounts": "2",
                    "detect_token_block": "yes", "ratelimit_block_time": "1h"},
                   users=USERS)
        bot = self.device(source=CGNAT)
        self.assertAccepted(self.login("joe", device=bot))
        self.assertRefused(self.login("shauser", "hunter2", device=bot))
        third = self.login("carol", device=bot)
        self.assertRefused(third, "token used for too many accounts")
        self.wait_alert("token-reused-across-accounts", "carol", fp=third.fp)
        self.assertRefused(self.login("joe", device=bot), "rate limited")
        self.assertAccepted(self.login("joe", device=self.device(source=CGNAT)))
        self.assertAccepted(self.login("carol", source=CGNAT))


class UseCase44n3RememberedDevices(PolicyTestCase):
    """4.4 3: tokens previously presented with an account are remembered
    (across restarts), and a token never seen is refused.  CID-POL-4,
    CID-PRV-1 (separate persistent registry, stable keyed hashes)."""

    def test_knowledge_survives_restart(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1"})
        known = self.device()
        before = self.login("joe", device=known)
        self.assertAccepted(before)
        self.restart(overrides={"policy_mode": "enforce"})
        after = self.login("joe", device=known)
        self.assertAccepted(after)
        self.assertEqual(after.ev["mode"], "enforce")
        self.assertEqual(after.fp, before.fp, "fingerprints are stable across restarts")
        unseen = self.login("joe", device=self.device())
        self.assertRefused(unseen, "unknown device")
        self.assertEqual(self.device_row("joe", unseen.fp)["state"], "pending")
        self.assertEqual(self.device_row("joe", before.fp)["count"], 2)


class UseCase44n4LicenseKey(PolicyTestCase):
    """4.4 4: the client must present a token such as a licence key
    established outside the IMAP session: here a LICENSE-type identity the
    operator registered (approved) out of band.  CID-POL-3, CID-POL-4,
    CID-POL-2."""

    def test_licence_key_required(self):
        self.start({"policy_mode": "enforce", "policy_require_clientid": "yes",
                    "policy_types_allow": "LICENSE"})
        key = self.device("LICENSE")
        first = self.login("joe", device=key)
        self.assertRefused(first, "unknown device")
        row = self.device_row("joe", first.fp)
        self.assertEqual((row["type"], row["state"]), ("LICENSE", "pending"))
        self.ctl("device", "approve", "joe", first.fp)
        self.assertAccepted(self.login("joe", device=key))
        self.assertAccepted(self.login("joe", device=key.at(NET_B)))
        self.assertRefused(self.login("joe"), "no client id")
        self.assertRefused(self.login("joe", device=self.device("UUID")),
                           "client id type not allowed")
        self.assertRefused(self.login("joe", device=self.device("LICENSE")), "unknown device")


class UseCase44n5TrustIdentifiedClients(PolicyTestCase):
    """4.4 5: different policies for clients with and without an identity;
    a trusted device draws only on its own budget, so it still logs in
    while the account's budget is spent by others (attackers without an
    identifier, or with unknown ones).  CID-POL-6, CID-POL-4."""

    def test_trusted_device_unaffected_by_account_budget(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "1",
                    "ratelimit_account_block": "3", "ratelimit_block_time": "1h"})
        mine = self.device(source=NET_A)
        self.assertAccepted(self.login("joe", device=mine))
        self.assertRefused(self.login("joe", "guess1", source=CGNAT), "wrong password")
        self.assertRefused(self.login("joe", "guess2", device=self.device(source=CGNAT)),
                           "wrong password")
        self.assertRefused(self.login("joe", "guess3", source=NET_B), "wrong password")
        # the account's budget is spent
        self.assertRefused(self.login("joe", source=NET_B), "rate limited")
        self.assertRefused(self.login("joe", device=self.device(source=NET_B)),
                           "rate limited")
        self.assertAccepted(self.login("joe", device=mine))
        self.assertAccepted(self.login("joe", device=mine.at(NET_B)))
        self.assertAccepted(self.login("shauser", source=CGNAT), "other accounts unaffected")


class UseCase44n6BlockTokenNotAddress(PolicyTestCase):
    """4.4 6: rate limit and block by the presented token when many devices
    share one address, without affecting the other devices.  CID-POL-6,
    CID-POL-2."""

    def test_attacker_token_blocked_neighbours_not(self):
        self.start({"policy_mode": "learn", "policy_learn_devices": "10",
                    "ratelimit_token_block": "3", "ratelimit_address_block": "3",
                    "ratelimit_account_block": "50", "ratelimit_block_time": "1h"})
        neighbours = [self.device(source=CGNAT) for _ in range(3)]
        for n in neighbours:
            self.assertAccepted(self.login("joe", device=n))      # trusted
        attacker = self.device(source=CGNAT)
        for i in range(3):
            self.assertRefused(self.login("joe", "guess%d" % i, device=attacker),
                               "wrong password")
        self.assertRefused(self.login("joe", device=attacker), "rate limited")
        self.assertRefused(self.login("shauser", device=attacker), "rate limited")
        for n in neighbours:
            self.assertAccepted(self.login("joe", device=n),
                                "the devices beside it are not affected")
        # The attacker's token was unknown: a stranger, charged to the
        # address as well, so a fresh token buys nothing, and other
        # strangers behind the address wait with it.
        self.assertRefused(self.login("joe", device=self.device(source=CGNAT)),
                           "rate limited")
        self.assertRefused(self.login("joe", source=CGNAT), "rate limited")


class UseCase44n7DictionaryAttacks(PolicyTestCase):
    """4.4 7: detect localised (one device, many guesses: growing delays,
    then a block) and distributed (many devices and addresses, one account:
    the account's budget) dictionary attacks.  CID-POL-6, CID-POL-2."""

    def test_localised_attack_slows_then_blocks(self):
        self.start({"policy_mode": "learn", "ratelimit_token_free": "2",
                    "ratelimit_token_block": "5", "ratelimit_delay_base": "400ms",
                    "ratelimit_delay_max": "800ms", "ratelimit_window": "1h",
                    "ratelimit_block_time": "1h"})
        bot = self.device(source=CGNAT)
        times = []
        for i in range(5):
            att = self.login("joe", "guess%d" % i, device=bot)
            self.assertRefused(att, "wrong password")
            times.append(att.elapsed)
        # failures 1-2 are free; then 400 ms, doubling, capped at 800 ms
        self.assertLess(max(times[:2]), 0.4, "free failures are not slowed: %r" % times)
        self.assertGreaterEqual(times[2], 0.4, "delays start past the free ones: %r" % times)
        self.assertGreaterEqual(min(times[3:]), 0.8, "delays grow: %r" % times)
        self.assertLess(times[4], 1.6, "delays are capped at the maximum: %r" % times)
        blocked = self.login("joe", device=bot)
        self.assertRefused(blocked, "rate limited")
        self.assertGreaterEqual(blocked.elapsed, 0.8, "a blocked client is slowed too")
        other = self.login("joe", device=self.device(source=CGNAT))
        self.assertAccepted(other)
        self.assertLess(other.elapsed, 0.4, "another device behind the address is not slowed")

    def test_distributed_attack_spends_the_account_budget(self):
        self.start({"policy_mode": "learn", "ratelimit_account_block": "4",
                    "ratelimit_block_time": "1h"})
        fps, peers = set(), set()
        for i in range(4):
            att = self.login("joe", "guess%d" % i,
                             device=self.device(source="127.%d.0.7" % (20 + i)))
            self.assertRefused(att, "wrong password")
            fps.add(att.fp)
            peers.add(att.ev["peer"])
        self.assertEqual(len(fps), 4)
        self.assertEqual(len(peers), 4)
        self.assertRefused(self.login("joe", device=self.device(source="127.30.0.7")),
                           "rate limited")
        self.assertRefused(self.login("joe", source="127.31.0.7"), "rate limited")
        rows = [r for r in self.audit("joe") if r["reason"] == "wrong password"]
        self.assertEqual({r["fingerprint"] for r in rows}, fps,
                         "every guess is audited with its device")
        self.assertAccepted(self.login("shauser", device=self.device(source="127.30.0.7")))


class UseCase44n8ThirdFactorInSasl(PolicyTestCase):
    """4.4 8: the identity is a third factor handed to SASL authentication
    as well as LOGIN.  CID-RES-2, CID-POL-4, CID-POL-2."""

    def test_authenticate_plain_uses_the_identity(self):
        self.start({"policy_mode": "enforce"})
        dev = self.device()
        first = self.login("joe", device=dev, mech="PLAIN")
        self.assertRefused(first, "unknown device")
        self.assertEqual(first.ev["mech"], "PLAIN")
        wrong = self.login("joe", "nope", device=dev, mech="PLAIN")
        self.assertEqual(first.line, wrong.line)
        self.ctl("device", "approve", "joe", first.fp)
        ok = self.login("joe", device=dev, mech="PLAIN")
        self.assertAccepted(ok)
        self.assertEqual((ok.ev["mech"], ok.fp), ("PLAIN", first.fp))
        self.assertAccepted(self.login("joe", device=dev, mech="PLAIN-CONT"))
        self.assertAccepted(self.login("joe", device=dev, mech="LOGIN"))
        self.assertRefused(self.login("joe", device=self.device(), mech="PLAIN-CONT"),
                           "unknown device")
        mechs = [(r["mech"], r["result"]) for r in self.audit("joe")]
        self.assertEqual(mechs, [("PLAIN", "fail"), ("PLAIN", "fail"), ("PLAIN", "ok"),
                                 ("PLAIN", "ok"), ("LOGIN", "ok"), ("PLAIN", "fail")])


if __name__ == "__main__":
    unittest.main()
