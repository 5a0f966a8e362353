"""Never lose mail: a client appends and moves messages while the server is
killed (SIGKILL) and restarted again and again; afterwards every
acknowledged message is present exactly once, in the folder its last
acknowledged command put it, with its flags, and no UID was given twice."""

import imaplib
import random
import re
import ssl
import threading
import time
import unittest

from harness import JOE, Instance, Server

ROUNDS = 8
APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")
MSGID = re.compile(rb"Message-ID: (<[^>]+>)", re.I)


def message(msgid, n):
    return ("From: crash@example.org\r\nTo: joe@example.org\r\n"
            "Subject: crash test %d\r\nMessage-ID: %s\r\n\r\n"
            "line one\r\nline two %d\r\n" % (n, msgid, n)).encode()


class MailCrash(unittest.TestCase):
    def login(self, srv):
        host, port = srv.imaps[0]
        m = imaplib.IMAP4_SSL(host, port,
                              ssl_context=ssl._create_unverified_context(),
                              timeout=10)
        m.login(*JOE)
        return m

    def test_kill9_never_loses_duplicates_or_reuses(self):
        inst = Instance(ctl_user=False)
        self.addCleanup(inst.cleanup)
        rng = random.Random(20261128)
        acked = {}          # msgid -> [folder, flagged]
        in_flight = set()   # a MOVE was sent but not answered
        given = set()       # (folder, uidvalidity, uid) from APPENDUID
        n = 0
        for r in range(ROUNDS):
            srv = Server(inst).start()
            killer = threading.Timer(rng.uniform(0.3, 1.2), srv.proc.kill)
            killer.start()
            try:
                m = self.login(srv)
                m.select("INBOX")
                while True:
                    msgid = "<r%d-%d@crash.example>" % (r, n)
                    flagged = n % 3 == 0
                    typ, data = m.append("INBOX", r"(\Flagged)" if flagged else None,
                                         None, message(msgid, n))
                    n += 1
                    if typ != "OK":
                        continue
                    acked[msgid] = ["INBOX", flagged]
                    got = APPENDUID.search(data[0])
                    self.assertIsNotNone(got, data)
                    key = ("INBOX", got.group(1), got.group(2))
                    self.assertNotIn(key, given, "UID given twice: %r" % (key,))
                    given.add(key)
                    if n % 3 == 0:
                        typ, data = m.uid("SEARCH", None, "HEADER", "Message-ID", msgid)
                        uids = data[0].split() if typ == "OK" else []
                        if len(uids) == 1:
                            in_flight.add(msgid)
                            typ, _ = m.uid("MOVE", uids[0].decode(), "Archive")
                            if typ == "OK":
                                in_flight.discard(msgid)
                                acked[msgid][0] = "Archive"
            except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError, EOFError):
                pass    # the kill, somewhere in a command
            killer.join()
            srv.proc.wait(10)
            srv.wait_exit(10)
        self.assertGreater(len(acked), ROUNDS, "the client got little done")

        srv = Server(inst).start()
        self.addCleanup(srv.stop)
        m = self.login(srv)
        found = {}
        for folder in ("INBOX", "Archive"):
            typ, _ = m.select(folder)
            self.assertEqual(typ, "OK")
            typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            if data == [None]:
                continue
            for item in data:
                if not isinstance(item, tuple):
                    continue
                mid = MSGID.search(item[1])
                self.assertIsNotNone(mid, item)
                found.setdefault(mid.group(1).decode(), []).append(
                    (folder, b"\\Flagged" in item[0]))
        for msgid, where in found.items():
            self.assertEqual(len(where), 1, "%s is there %d times: %r"
                             % (msgid, len(where), where))
        for msgid, (folder, flagged) in acked.items():
            self.assertIn(msgid, found, "acknowledged %s was lost" % msgid)
            (at, has_flag), = found[msgid]
            if msgid not in in_flight:
                self.assertEqual(at, folder, msgid)
            self.assertEqual(has_flag, flagged, "%s lost its flag" % msgid)
        m.logout()


if __name__ == "__main__":
    unittest.main()
