"""Never lose mail: a client appends and moves messages while the server is
killed (SIGKILL) and restarted again and again; afterwards every
acknowledged message is present exactly once, in the folder its last
acknowledged command put it, with its flags, and no UID was given twice."""

import imaplib
import os
import random
import re
import signal
import ssl
import sys
import threading
import time
import unittest

from harness import JOE, Closed, Instance, Server
from mail_support import MailConn, fetch_dict, uid_set

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
            m = None
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
            if m is not None:
                try:
                    m.shutdown()
                except OSError:
                    pass
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



# ---------------------------------------------------------------------------
# Every mail command, pipelined, killed anywhere
# ---------------------------------------------------------------------------
#
# A model of the mailboxes (folder -> Message token -> flags) is kept by the
# client from acknowledged commands only.  The commands still without an
# answer when the server died (a suffix of the pipeline: the server runs a
# session's commands in order) may each have happened or not, in order; the
# store promises that APPEND, COPY and MOVE happen whole or not at all (a
# journal for several messages and for MOVE), STORE and EXPUNGE message by
# message.  After every restart the mailboxes are read back (UID, FLAGS and
# every octet) and must equal one of the worlds those rules allow; that
# world becomes the model.  UIDs: UIDVALIDITY never changes, UIDNEXT never
# goes down, a UID always names the same message, a UID once gone never
# comes back, and a UID handed out (APPENDUID, COPYUID) was never seen.
#
# IMAPCID_CRASH_ROUNDS (default 30) scales the number of kills, for a soak
# run; IMAPCID_CRASH_SECONDS (default 35) caps the time spent killing (at
# least 5 rounds run); IMAPCID_CRASH_SEED replays a workload (the kill
# timing still varies).


FOLDERS = ("INBOX", "Archive", "Trash")
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Draft")
KEYWORDS = ("$Label1", "Todo", "Work")
TOKEN_RE = re.compile(rb"\r\nX-Token: (\S+)\r\n")
APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
COPYUID_RE = re.compile(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]")
UIDVALIDITY_RE = re.compile(rb"\[UIDVALIDITY (\d+)\]")
UIDNEXT_RE = re.compile(rb"\[UIDNEXT (\d+)\]")
EXISTS_RE = re.compile(rb"^\* (\d+) EXISTS$")
EXPUNGE_RE = re.compile(rb"^\* \d+ EXPUNGE$")
# the kill, as the client sees it (Closed is an AssertionError: first)
DISCONNECTED = (Closed, ConnectionError, ssl.SSLError, OSError, EOFError)


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def crash_message(token, rng):
    """A message whose octets are known: headers, then a random amount of
    text (a few hundred octets, sometimes a few hundred kilobytes, so a
    kill lands inside the copy of one)."""
    size = rng.choice((200, 800, 3000)) if rng.random() < 0.85 else \
        rng.randrange(64 << 10, 400 << 10)
    head = ("From: crash@example.org\r\nTo: joe@example.org\r\n"
            "Subject: crash %s\r\nMessage-ID: <%s@crash.example>\r\n"
            "X-Token: %s\r\n\r\n" % (token, token, token)).encode()
    line = ("%s %s\r\n" % (token, "".join(rng.choice("abcdefghij") for _ in range(60)))).encode()
    body = line * max(1, size // len(line))
    return head + body + ("end of %s\r\n" % token).encode()


def flag_list(flags):
    return "(%s)" % " ".join(sorted(flags))


def apply_op(world, op):
    """The world (folder -> {token: frozenset(flags)}) after op, as a new
    dict (folders copied on write)."""
    w = dict(world)
    kind = op["op"]
    if kind == "append":
        w[op["folder"]] = dict(w[op["folder"]])
        w[op["folder"]][op["tok"]] = op["flags"]
    elif kind == "store":
        f = w[op["folder"]] = dict(w[op["folder"]])
        for t in op["toks"]:
            cur = f[t]
            f[t] = (cur | op["flags"] if op["mode"] == "+" else
                    cur - op["flags"] if op["mode"] == "-" else op["flags"])
    elif kind in ("copy", "move"):
        src = w[op["src"]] = dict(w[op["src"]])
        dst = w[op["dst"]] = dict(w[op["dst"]])
        for t in op["toks"]:
            dst[t] = src[t]
            if kind == "move":
                del src[t]
    elif kind == "expunge":
        f = w[op["folder"]] = dict(w[op["folder"]])
        for t in list(f if op["toks"] is None else op["toks"]):
            if "\\Deleted" in f[t]:
                del f[t]
    return w


def flat(world):
    return {(f, t): fl for f, box in world.items() for t, fl in box.items()}


def describe_op(op):
    d = {k: v for k, v in op.items() if k not in ("line", "before", "after")}
    return "%s %s" % (op.get("line", "")[:90], d)


class MailCrashEveryCommand(unittest.TestCase):
    """APPEND, COPY, MOVE, STORE, EXPUNGE and UID EXPUNGE, pipelined, with
    SIGKILL at random moments and right after a chosen response."""

    def setUp(self):
        self.seed = env_int("IMAPCID_CRASH_SEED", random.randrange(1 << 30))
        self.rng = random.Random(self.seed)
        self.inst = Instance(ctl_user=False)
        self.addCleanup(self.inst.cleanup)
        self.bodies = {}                          # token -> octets
        self.world = {f: {} for f in FOLDERS}     # acknowledged state
        self.uids = {f: {} for f in FOLDERS}      # token -> UID (known ones)
        self.validity = {}                        # folder -> UIDVALIDITY
        self.uidnext = {f: 1 for f in FOLDERS}    # highest UIDNEXT seen
        self.seen = {f: {} for f in FOLDERS}      # UID -> token, ever
        self.gone = {f: set() for f in FOLDERS}   # UIDs seen, then gone
        self.ntok = 0
        self.stats = dict(rounds=0, acked=0, unacked=0, pipelined_kills=0,
                          timed_kills=0, mixed=0, unacked_happened=0)

    def where(self):
        return " [seed %d, round %d]" % (self.seed, self.stats["rounds"])

    # -- connection --------------------------------------------------------
    def connect(self, srv):
        c = MailConn(srv.imaps_addr, tls=True, timeout=20)
        _, t = c.cmd('LOGIN "%s" "%s"' % JOE)
        self.assertTrue(t.startswith(b"OK"), t)
        return c

    def select(self, c, folder):
        u, t = c.xcmd("SELECT " + folder)
        self.assertTrue(t.startswith(b"OK"), (folder, t, self.where()))
        info = {}
        for l in u:
            for key, rx in (("uidvalidity", UIDVALIDITY_RE), ("uidnext", UIDNEXT_RE),
                            ("exists", EXISTS_RE)):
                m = rx.search(l)
                if m:
                    info[key] = int(m.group(1))
        self.assertEqual(set(info), {"uidvalidity", "uidnext", "exists"},
                         "SELECT %s answered %r%s" % (folder, u, self.where()))
        return info

    # -- reading the mailboxes back ----------------------------------------
    def observe(self, c):
        """{folder: {token: (uid, flags)}} as the server has it now, with
        the UID facts checked on the way."""
        out = {}
        for folder in FOLDERS:
            info = self.select(c, folder)
            v = info["uidvalidity"]
            self.assertEqual(self.validity.setdefault(folder, v), v,
                             "UIDVALIDITY of %s changed%s" % (folder, self.where()))
            self.assertGreaterEqual(info["uidnext"], self.uidnext[folder],
                                    "UIDNEXT of %s went down%s" % (folder, self.where()))
            box = out[folder] = {}
            if info["exists"]:
                u, t = c.xcmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
                self.assertTrue(t.startswith(b"OK"), t)
                fetched = [fetch_dict(r)[1] for r in u if re.match(rb"\* \d+ FETCH ", r)]
                self.assertEqual(len(fetched), info["exists"], (folder, self.where()))
                for d in fetched:
                    uid = int(d["UID"])
                    body = d["BODY[]"]
                    m = TOKEN_RE.search(body)
                    self.assertIsNotNone(m, "a message without its token in %s: %r%s"
                                         % (folder, body[:300], self.where()))
                    tok = m.group(1).decode()
                    self.assertIn(tok, self.bodies, "a message nobody sent: %s" % tok)
                    self.assertEqual(body, self.bodies[tok],
                                     "%s UID %d (%s) is corrupt%s" % (folder, uid, tok, self.where()))
                    self.assertNotIn(tok, box, "%s is in %s twice (UIDs %d and %d)%s"
                                     % (tok, folder, box.get(tok, (0,))[0], uid, self.where()))
                    flags = frozenset(str(x) for x in d["FLAGS"]) - {"\\Recent"}
                    box[tok] = (uid, flags)
            for tok, (uid, _) in box.items():
                self.assertLess(uid, info["uidnext"], (folder, tok, self.where()))
                self.assertNotIn(uid, self.gone[folder],
                                 "%s UID %d was gone and is back (as %s)%s"
                                 % (folder, uid, tok, self.where()))
                if uid in self.seen[folder]:
                    self.assertEqual(self.seen[folder][uid], tok,
                                     "%s UID %d named %s, now %s%s" % (
                                         folder, uid, self.seen[folder][uid], tok, self.where()))
                else:
                    # from a command whose answer never came: a UID given
                    # out after everything seen so far
                    self.assertGreaterEqual(uid, self.uidnext[folder],
                                            "%s got the old UID %d%s" % (tok, uid, self.where()))
                known = self.uids[folder].get(tok)
                if known is not None:
                    self.assertEqual(uid, known, "%s changed UID in %s%s"
                                     % (tok, folder, self.where()))
            self.uidnext[folder] = info["uidnext"]
        return out

    def reconcile(self, observed, unacked):
        """Checks the observed mailboxes against the acknowledged model and
        the commands left without an answer, then adopts them."""
        got = {(f, t): fl for f, box in observed.items() for t, (_, fl) in box.items()}
        worlds = [self.world]
        for op in unacked:
            worlds.append(apply_op(worlds[-1], op))
        flats = [flat(w) for w in worlds]
        match = None
        for j, fw in enumerate(flats):
            if got == fw:
                match = ("exact", j)
                break
        if match is None:
            # a STORE or EXPUNGE cut short: message by message, each as
            # before or as after
            for j, op in enumerate(unacked):
                if op["op"] not in ("store", "expunge"):
                    continue
                a, b = flats[j], flats[j + 1]
                if all(got.get(k) in (a.get(k), b.get(k)) for k in set(a) | set(b) | set(got)):
                    match = ("mixed", j)
                    break
        if match is None:
            acked = flats[0]
            lines = []
            for k in sorted(set(acked) | set(got)):
                if acked.get(k) != got.get(k):
                    lines.append("  %s/%s: acknowledged %s, found %s" % (
                        k[0], k[1], sorted(acked[k]) if k in acked else "absent",
                        sorted(got[k]) if k in got else "absent"))
            self.fail("after the kill the mailboxes are no state the commands allow%s\n"
                      "differences from the acknowledged state:\n%s\n"
                      "commands without an answer:\n%s" % (
                          self.where(), "\n".join(lines) or "  (none)",
                          "\n".join("  " + describe_op(o) for o in unacked) or "  (none)"))
        if match[0] == "mixed":
            self.stats["mixed"] += 1
        if match != ("exact", 0):
            self.stats["unacked_happened"] += 1
        # adopt what is there
        for f, box in observed.items():
            for uid in set(self.seen[f]) - {u for u, _ in box.values()}:
                self.gone[f].add(uid)
            for tok, (uid, _) in box.items():
                self.seen[f][uid] = tok
        self.world = {f: {t: fl for t, (_, fl) in box.items()} for f, box in observed.items()}
        self.uids = {f: {t: uid for t, (uid, _) in box.items()} for f, box in observed.items()}

    # -- UIDs handed out -------------------------------------------------------
    def new_uid(self, folder, validity, uid, tok):
        self.assertEqual(validity, self.validity[folder], (folder, self.where()))
        self.assertNotIn(uid, self.seen[folder], "%s UID %d handed out again (was %s, now %s)%s"
                         % (folder, uid, self.seen[folder].get(uid), tok, self.where()))
        self.assertGreaterEqual(uid, self.uidnext[folder], (folder, tok, self.where()))
        self.seen[folder][uid] = tok
        self.uids[folder][tok] = uid
        self.uidnext[folder] = uid + 1

    # -- the workload ------------------------------------------------------------
    def plan_batch(self, sel, view):
        """A pipeline of commands on the selected folder sel: [(line or
        parts, op)], checked against the model predicted along the way."""
        rng = self.rng
        pw = self.world
        known = dict(self.uids[sel])       # UIDs usable in this batch
        batch = []
        for i in range(rng.randint(1, 6)):
            first = i == 0
            box = pw[sel]
            usable = [t for t in box if t in known]
            r = rng.random()
            total = sum(len(b) for b in pw.values())
            if r < 0.25 or not usable:
                folder = sel if rng.random() < 0.6 else rng.choice(FOLDERS)
                tok = "t%d" % self.ntok
                self.ntok += 1
                self.bodies[tok] = crash_message(tok, rng)
                flags = frozenset(rng.sample(SYSTEM_FLAGS + KEYWORDS, rng.randint(0, 3)))
                op = dict(op="append", folder=folder, tok=tok, flags=flags)
                parts = ["APPEND %s %s" % (folder, flag_list(flags)), self.bodies[tok]]
                op["line"] = parts[0]
            elif r < 0.55:
                toks = rng.sample(usable, min(len(usable), rng.randint(1, 4)))
                mode = rng.choice(("+", "-", ""))
                pool = SYSTEM_FLAGS + KEYWORDS + ("\\Deleted",) * (3 if total > 40 else 1)
                flags = frozenset(rng.sample(pool, rng.randint(0 if mode == "" else 1, 3)))
                silent = rng.random() < 0.3
                item = "%sFLAGS%s" % (mode, ".SILENT" if silent else "")
                if first and rng.random() < 0.4:
                    seqs = sorted(view.index(known[t]) + 1 for t in toks)
                    line = "STORE %s %s %s" % (",".join(map(str, seqs)), item, flag_list(flags))
                else:
                    line = "UID STORE %s %s %s" % (",".join(str(known[t]) for t in toks),
                                                   item, flag_list(flags))
                op = dict(op="store", folder=sel, toks=toks, mode=mode, flags=flags,
                          silent=silent, line=line)
                parts = [line]
            elif r < 0.78:
                kind = "move" if rng.random() < 0.55 else "copy"
                dst = rng.choice([f for f in FOLDERS if f != sel])
                cand = [t for t in usable if t not in pw[dst]]
                if not cand:
                    continue
                toks = rng.sample(cand, min(len(cand), rng.choice((1, 1, 2, 3, 5))))
                if first and rng.random() < 0.4:
                    seqs = sorted(view.index(known[t]) + 1 for t in toks)
                    line = "%s %s %s" % (kind.upper(), ",".join(map(str, seqs)), dst)
                else:
                    line = "UID %s %s %s" % (kind.upper(), ",".join(str(known[t]) for t in toks), dst)
                op = dict(op=kind, src=sel, dst=dst, toks=toks, line=line)
                parts = [line]
            else:
                if rng.random() < 0.5:
                    op = dict(op="expunge", folder=sel, toks=None, line="EXPUNGE")
                else:
                    toks = rng.sample(usable, min(len(usable), rng.randint(1, 5)))
                    line = "UID EXPUNGE " + ",".join(str(known[t]) for t in toks)
                    op = dict(op="expunge", folder=sel, toks=toks, line=line)
                parts = [op["line"]]
            after = apply_op(pw, op)
            op["before"], op["after"] = pw, after
            for t in list(known):  # gone from sel: its UID is no more
                if t not in after[sel]:
                    del known[t]
            pw = after
            batch.append((parts, op))
        return batch

    def check_answer(self, op, untagged, tagged, sel):
        """An acknowledged command: its answer must be exactly what the
        model predicts; then the model takes it."""
        self.assertTrue(tagged.startswith(b"OK"), "%s -> %r %r%s" % (
            describe_op(op), tagged, untagged, self.where()))
        kind = op["op"]
        before, after = op["before"], op["after"]
        expunges = sum(1 for l in untagged if EXPUNGE_RE.match(l))
        if kind == "append":
            m = APPENDUID_RE.search(tagged)
            self.assertIsNotNone(m, tagged)
            self.new_uid(op["folder"], int(m.group(1)), int(m.group(2)), op["tok"])
        elif kind in ("copy", "move"):
            text = b"\n".join(untagged) if kind == "move" else tagged
            m = COPYUID_RE.search(text)
            self.assertIsNotNone(m, (describe_op(op), untagged, tagged))
            src, dst = uid_set(m.group(2)), uid_set(m.group(3))
            by_uid = {self.uids[sel][t]: t for t in op["toks"]}
            self.assertEqual(sorted(src), sorted(by_uid), (describe_op(op), tagged))
            self.assertEqual(len(src), len(dst))
            for s, d in zip(src, dst):
                self.new_uid(op["dst"], int(m.group(1)), d, by_uid[s])
            if kind == "move":
                self.assertEqual(expunges, len(op["toks"]), (describe_op(op), untagged))
                for t in op["toks"]:
                    del self.uids[sel][t]
        elif kind == "store":
            fetches = [fetch_dict(l)[1] for l in untagged if re.match(rb"\* \d+ FETCH ", l)]
            self.assertEqual(len(fetches), 0 if op["silent"] else len(op["toks"]),
                             (describe_op(op), untagged))
            for l in untagged:
                if not re.match(rb"\* \d+ FETCH ", l):
                    continue
                seq, d = fetch_dict(l)
                uid = int(d["UID"]) if "UID" in d else self.view[seq - 1]
                tok = {u: t for t, u in self.uids[sel].items()}[uid]
                self.assertEqual(frozenset(str(x) for x in d["FLAGS"]) - {"\\Recent"},
                                 after[sel][tok], (describe_op(op), l, self.where()))
        elif kind == "expunge":
            gone = [t for t in before[sel] if t not in after[sel]]
            self.assertEqual(expunges, len(gone), (describe_op(op), untagged, self.where()))
            for t in gone:
                del self.uids[sel][t]
        self.world = apply_op(self.world, op)
        self.assertEqual(self.world, after)
        self.stats["acked"] += 1

    def run_round(self, srv, rng):
        """Reads the mailboxes back, then runs pipelines until the server
        dies.  Returns the commands left without an answer."""
        killed = threading.Event()

        def kill():
            if not killed.is_set():
                killed.set()
                try:
                    srv.proc.kill()
                except ProcessLookupError:
                    pass

        c = self.connect(srv)
        try:
            return self._round(srv, c, rng, killed, kill)
        finally:
            c.close()

    def _round(self, srv, c, rng, killed, kill):
        unacked = []
        self.reconcile(self.observe(c), self.pending)
        self.pending = []
        sel = rng.choice(FOLDERS)
        info = self.select(c, sel)
        self.view = sorted(self.uids[sel].values())
        self.assertEqual(info["exists"], len(self.view), self.where())
        pipelined = rng.random() < 0.5
        kill_after = rng.randint(1, 40) if pipelined else None
        timer = threading.Timer(rng.uniform(0.02, 1.2) if not pipelined else 8.0, kill)
        timer.start()
        answered = 0
        try:
            while True:
                if rng.random() < 0.06:
                    sel = rng.choice(FOLDERS)
                    try:
                        info = self.select(c, sel)
                    except DISCONNECTED:
                        if not killed.is_set():
                            raise
                        return []
                    self.view = sorted(self.uids[sel].values())
                    self.assertEqual(info["exists"], len(self.view), self.where())
                batch = self.plan_batch(sel, self.view)
                # one write for the whole pipeline, then the answers
                out = b""
                tags = []
                for parts, op in batch:
                    tag = c.next_tag()
                    tags.append(tag)
                    data = tag.encode()
                    for p in parts:
                        data += (b" " + p.encode()) if isinstance(p, str) else \
                            b" {%d+}\r\n" % len(p) + p
                    out += data + b"\r\n"
                noop, search = c.next_tag(), c.next_tag()
                out += noop.encode() + b" NOOP\r\n" + search.encode() + b" UID SEARCH ALL\r\n"
                unacked = [op for _, op in batch]
                try:
                    c.send(out)
                    for tag, (parts, op) in zip(tags, batch):
                        u, t = c.read_tagged(tag)
                        self.check_answer(op, u, t[len(tag) + 1:], sel)
                        unacked.pop(0)
                        answered += 1
                        if kill_after is not None and answered == kill_after:
                            # somewhere in the next command of the pipeline
                            time.sleep(rng.choice((0, 0, 0.0005, 0.002, 0.01)))
                            kill()
                            self.stats["pipelined_kills"] += 1
                    c.read_tagged(noop)
                    u, t = c.read_tagged(search)
                except DISCONNECTED as e:
                    if not killed.is_set():
                        raise AssertionError("the connection broke with nobody killing the "
                                             "server: %r; log tail:\n%s%s" % (
                                                 e, "\n".join(srv.snapshot()[-30:]), self.where()))
                    if kill_after is None:
                        self.stats["timed_kills"] += 1
                    return unacked
                self.assertTrue(t.startswith(search.encode() + b" OK"), t)
                self.view = [int(x) for l in u if l.startswith(b"* SEARCH")
                             for x in l.split()[2:]]
                self.assertEqual(self.view, sorted(self.uids[sel].values()),
                                 "the session's view of %s%s" % (sel, self.where()))
        finally:
            timer.cancel()
            kill()

    def test_kill9_every_command(self):
        rounds = env_int("IMAPCID_CRASH_ROUNDS", 30)
        budget = env_int("IMAPCID_CRASH_SECONDS", 35)
        started = time.monotonic()
        self.pending = []
        for r in range(rounds):
            if r >= 5 and time.monotonic() - started > budget:
                break
            self.stats["rounds"] = r
            srv = Server(self.inst).start()
            try:
                self.pending = self.run_round(srv, self.rng)
                self.stats["unacked"] += len(self.pending)
            finally:
                srv.proc.kill()
                srv.wait_exit(10)
                srv.stop()
            self.assertEqual(srv.returncode, -signal.SIGKILL,
                             "the server ended by itself%s; log tail:\n%s"
                             % (self.where(), "\n".join(srv.snapshot()[-30:])))
            self.assertEqual(srv.sanitizer_reports(), [], self.where())
            # a uidlist cut short or unreadable would renumber the folder
            self.assertNotIn("is damaged", srv.log_text(), self.where())
        self.stats["rounds"] = r + 1
        srv = Server(self.inst).start()
        try:
            c = self.connect(srv)
            self.reconcile(self.observe(c), self.pending)
            # the next UIDs are new ones, in every folder
            for f in FOLDERS:
                tok = "t%d" % self.ntok
                self.ntok += 1
                self.bodies[tok] = crash_message(tok, self.rng)
                _, t = c.xcmd("APPEND " + f, self.bodies[tok])
                m = APPENDUID_RE.search(t)
                self.assertIsNotNone(m, t)
                self.new_uid(f, int(m.group(1)), int(m.group(2)), tok)
            c.xcmd("LOGOUT")
            c.close()
        finally:
            rc = srv.stop()
        self.assertEqual(rc, 0, srv.log_text()[-3000:])
        self.assertEqual(srv.sanitizer_reports(), [])
        self.assertNotIn("is damaged", srv.log_text())
        # interrupted COPY/MOVEs were finished at login: no journal is left
        root = os.path.join(self.inst.dir, "mail", JOE[0])
        for f in FOLDERS:
            d = root if f == "INBOX" else os.path.join(root, "." + f)
            self.assertFalse(os.path.exists(os.path.join(d, "imapcid-journal")), f)
        self.assertGreater(self.stats["acked"], 20 * self.stats["rounds"] // 10,
                           "the client got little done: %r" % self.stats)
        print("\n%s: seed %d, %d messages, %r" % (self.id(), self.seed, self.ntok, self.stats),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
