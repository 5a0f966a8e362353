"""Mail end to end, as a desktop or phone client does it: Python's imaplib
over implicit TLS (and a raw socket where octets or IDLE matter) against
imapcidd's own Maildir++ store.

RFC 3501 (IMAP4rev1), RFC 2177 (IDLE), RFC 4315 (UIDPLUS), RFC 6851 (MOVE),
RFC 3691 (UNSELECT), RFC 2342 (NAMESPACE), RFC 3348 (CHILDREN), RFC 6154
(SPECIAL-USE), RFC 7889 (APPENDLIMIT), RFC 8438 (STATUS=SIZE).

Every test takes a fresh account from the pool (mail_support.MailTestCase).
"""

import base64
import datetime
import os
import re
import signal
import time
import unittest

from harness import Instance
from mail_support import (Atom, MailTestCase, crlf, fetch_dict, imaplib_fetch,
                          internaldate, parse, search_result, simple_message,
                          status_of_line, uid_set)

SPECIAL_USE = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash",
               "Junk": "\\Junk", "Archive": "\\Archive"}
SYSTEM_FLAGS = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}


def list_entries(data):
    """imaplib LIST/LSUB data -> {name: (set of attributes, delimiter)}."""
    out = {}
    for d in data:
        if d is None:
            continue
        if isinstance(d, tuple):          # name sent as a literal
            head, lit = d
            vals = parse(head[:head.rindex(b"{")]) + [lit]
        else:
            vals = parse(d)
        attrs, delim, name = vals
        out[name.decode() if isinstance(name, bytes) else str(name)] = (
            {str(a) for a in attrs}, delim)
    return out


def raw_list(conn, ref, pat, cmd="LIST"):
    u, t = conn.ok('%s %s %s' % (cmd, ref, pat))
    out = {}
    for r in u:
        m = re.match(rb"\* (LIST|LSUB) ", r)
        if not m:
            continue
        attrs, delim, name = parse(r, m.end())
        out[name.decode() if isinstance(name, bytes) else str(name)] = (
            {str(a) for a in attrs}, delim)
    return out


status_of = status_of_line


def flags_of(d):
    return {str(f) for f in d["FLAGS"]}


def apply_expunges(uids, expunges):
    """Applies '* n EXPUNGE' numbers to a list of UIDs, as a client must
    (each number valid at the time it is sent)."""
    uids = list(uids)
    for n in expunges:
        if not 1 <= n <= len(uids):
            raise AssertionError("EXPUNGE %d with %d messages (%r)" % (n, len(uids), expunges))
        del uids[n - 1]
    return uids


def expunged_numbers(untagged):
    return [int(m.group(1)) for m in (re.match(rb"\* (\d+) EXPUNGE$", l) for l in untagged) if m]


def code_of(tagged, name):
    m = re.search(rb"\[" + name.encode() + rb" ([^\]]*)\]", tagged)
    return m.group(1).decode() if m else None


class MailImaplibTest(MailTestCase):

    # -- login, capabilities, namespace -------------------------------------
    def test_login_capabilities_namespace(self):
        M = self.imap()
        typ, data = M.capability()
        self.assertOK(typ, data)
        caps = set(data[0].decode().split())
        for c in ("IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "LITERAL+", "ENABLE",
                  "NAMESPACE", "ID", "UNSELECT", "CHILDREN", "SPECIAL-USE",
                  "SASL-IR", "STATUS=SIZE"):
            self.assertIn(c, caps)
        limit = [c for c in caps if c.startswith("APPENDLIMIT=")]
        self.assertEqual(len(limit), 1, caps)
        self.assertGreater(int(limit[0].split("=")[1]), 1024 * 1024)
        typ, data = M.namespace()
        self.assertOK(typ, data)
        self.assertEqual(data, [b'(("" ".")) NIL NIL'])

    # -- LIST and special use ---------------------------------------------
    def test_list_special_use_folders(self):
        M = self.imap()
        typ, data = M.list('""', "*")
        self.assertOK(typ, data)
        entries = list_entries(data)
        self.assertEqual(set(entries), {"INBOX"} | set(SPECIAL_USE), entries)
        for name, (attrs, delim) in entries.items():
            self.assertEqual(delim, b".")
            self.assertNotIn("\\Noselect", attrs, name)
            self.assertIn("\\HasNoChildren", attrs, name)
            if name in SPECIAL_USE:
                self.assertIn(SPECIAL_USE[name], attrs, name)
            others = set(SPECIAL_USE.values()) - {SPECIAL_USE.get(name)}
            self.assertFalse(attrs & others, (name, attrs))
        # M.list() with its defaults, "%" and the delimiter query
        typ, data2 = M.list()
        self.assertEqual(list_entries(data2), entries)
        typ, data3 = M.list('""', "%")
        self.assertEqual(list_entries(data3), entries)
        typ, data4 = M.list('""', '""')
        self.assertOK(typ, data4)
        self.assertEqual(data4, [b'(\\Noselect) "." ""'])
        typ, data5 = M.list('""', "inbox")
        self.assertEqual(set(list_entries(data5)), {"INBOX"})
        # Maildir++ on disk: INBOX is the root, folders are .Name
        root = self.maildir(M.user)
        for sub in ("cur", "new", "tmp"):
            self.assertTrue(os.path.isdir(os.path.join(root, sub)))
            for name in SPECIAL_USE:
                self.assertTrue(os.path.isdir(os.path.join(root, "." + name, sub)), name)
        # CHILDREN: a folder under Sent
        self.assertOK(*M.create("Sent.2024"))
        entries = list_entries(M.list('""', "Sent*")[1])
        self.assertIn("\\HasChildren", entries["Sent"][0])
        self.assertIn("\\Sent", entries["Sent"][0])
        self.assertIn("\\HasNoChildren", entries["Sent.2024"][0])

    def test_list_reference_and_percent(self):
        M = self.imap()
        for n in ("Lists", "Lists.Debian", "Lists.Debian.Devel", "Lists.IETF"):
            self.assertOK(*M.create(n))
        self.assertEqual(set(list_entries(M.list('""', "Lists.%")[1])),
                         {"Lists.Debian", "Lists.IETF"})
        self.assertEqual(set(list_entries(M.list('"Lists."', "%")[1])),
                         {"Lists.Debian", "Lists.IETF"})
        self.assertEqual(set(list_entries(M.list('"Lists."', "*")[1])),
                         {"Lists.Debian", "Lists.Debian.Devel", "Lists.IETF"})
        self.assertEqual(set(list_entries(M.list('""', "*Devel")[1])), {"Lists.Debian.Devel"})
        self.assertEqual(list_entries(M.list('""', "Nothing*")[1]), {})

    # -- CREATE / RENAME / DELETE -----------------------------------------
    def test_create_rename_delete_hierarchy(self):
        M = self.imap()
        # superior names of a new hierarchical name
        self.assertOK(*M.create("Projects.2024.Q1"))
        e = list_entries(M.list('""', "Projects*")[1])
        self.assertEqual(set(e), {"Projects", "Projects.2024", "Projects.2024.Q1"})
        self.assertIn("\\HasChildren", e["Projects"][0])
        self.assertIn("\\HasChildren", e["Projects.2024"][0])
        self.assertIn("\\HasNoChildren", e["Projects.2024.Q1"][0])
        # a trailing separator only says "will have children"
        self.assertOK(*M.create("Trailing."))
        self.assertIn("Trailing", list_entries(M.list('""', "Trailing*")[1]))
        # existing names, INBOX in any case
        typ, data = M.create("Projects.2024.Q1")
        self.assertEqual(typ, "NO", data)
        typ, data = M.create("inbox")
        self.assertEqual(typ, "NO", data)

        self.assertOK(*M.create("Work"))
        self.assertOK(*M.create("Work.Sub"))
        msg = simple_message(subject="in sub")
        self.assertOK(*M.append("Work.Sub", None, None, msg))
        self.assertOK(*M.append("Work", None, None, simple_message(subject="in work")))
        e = list_entries(M.list('""', "Work*")[1])
        self.assertIn("\\HasChildren", e["Work"][0])

        # RENAME takes the inferior names along, with their messages
        self.assertOK(*M.rename("Work", "Job"))
        e = list_entries(M.list('""', "*")[1])
        self.assertNotIn("Work", e)
        self.assertNotIn("Work.Sub", e)
        self.assertIn("Job", e)
        self.assertIn("Job.Sub", e)
        typ, data = M.status("Job.Sub", "(MESSAGES)")
        self.assertOK(typ, data)
        self.assertIn(b"MESSAGES 1", data[0])
        M.select("Job.Sub")
        self.assertEqual(imaplib_fetch(M, "1", "BODY.PEEK[]")[1]["BODY[]"], msg)
        M.close()
        root = self.maildir(M.user)
        self.assertTrue(os.path.isdir(os.path.join(root, ".Job.Sub", "cur")))
        self.assertFalse(os.path.exists(os.path.join(root, ".Work")))
        self.assertFalse(os.path.exists(os.path.join(root, ".Work.Sub")))
        # RENAME onto an existing name, of a missing name
        self.assertEqual(M.rename("Job", "Drafts")[0], "NO")
        self.assertEqual(M.rename("NoSuchBox", "Other")[0], "NO")

        # DELETE of a name with inferiors: the children stay
        self.assertOK(*M.delete("Job"))
        typ, data = M.status("Job.Sub", "(MESSAGES)")
        self.assertOK(typ, data)
        self.assertIn(b"MESSAGES 1", data[0])
        e = list_entries(M.list('""', "Job*")[1])
        self.assertIn("Job.Sub", e)
        if "Job" in e:
            self.assertIn("\\Noselect", e["Job"][0])
        self.assertEqual(M.select("Job")[0], "NO")
        # RFC 3501 6.3.4: a \Noselect name with inferiors cannot be deleted
        self.assertEqual(M.delete("Job")[0], "NO")
        self.assertOK(*M.delete("Job.Sub"))
        self.assertNotIn("Job.Sub", list_entries(M.list('""', "*")[1]))
        self.assertEqual(M.delete("NoSuchBox")[0], "NO")
        self.assertEqual(M.delete("INBOX")[0], "NO")

    def test_create_after_implicit_parent(self):
        """CREATE a.b then CREATE a: a becomes a real, selectable mailbox."""
        M = self.imap()
        self.assertOK(*M.create("Par.Kid"))
        typ, data = M.create("Par")
        if typ == "NO":
            # acceptable only if Par already is a selectable mailbox
            self.assertOK(*M.select("Par"))
        else:
            self.assertOK(typ, data)
        self.assertOK(*M.select("Par"))
        self.assertOK(*M.append("Par", None, None, simple_message()))

    def test_rename_inbox(self):
        M = self.imap()
        user = M.user
        m1, m2 = simple_message(subject="one"), simple_message(subject="two")
        self.deliver(user, m1)
        self.deliver(user, m2)
        self.assertOK(*M.create("INBOX.child"))
        self.deliver(user, simple_message(subject="child"), "INBOX.child")
        typ, data = M.select("INBOX")
        old_uids = [int(x) for x in M.uid("SEARCH", "ALL")[1][0].split()]
        old_validity = int(M.response("UIDVALIDITY")[1][0])
        M.close()
        self.assertOK(*M.rename("INBOX", "Old"))
        # the messages moved to the new name, INBOX is empty and still there
        self.assertIn(b"MESSAGES 2", M.status("Old", "(MESSAGES)")[1][0])
        self.assertIn(b"MESSAGES 0", M.status("INBOX", "(MESSAGES)")[1][0])
        # INBOX's inferior names are not renamed (RFC 3501 6.3.5)
        self.assertIn(b"MESSAGES 1", M.status("INBOX.child", "(MESSAGES)")[1][0])
        self.assertNotIn("Old.child", list_entries(M.list('""', "*")[1]))
        M.select("Old")
        got = imaplib_fetch(M, "1:*", "BODY.PEEK[]")
        # (their order: see test_new_files_get_uids_in_delivery_order)
        self.assertEqual(sorted([got[1]["BODY[]"], got[2]["BODY[]"]]), sorted([m1, m2]))
        M.close()
        # new mail still lands in INBOX; its UID is not one already used
        # there unless UIDVALIDITY changed
        self.deliver(user, simple_message(subject="three"))
        typ, data = M.select("INBOX")
        self.assertEqual(data, [b"1"])
        validity = int(M.response("UIDVALIDITY")[1][0])
        new_uid = int(M.uid("SEARCH", "ALL")[1][0])
        self.assertTrue(validity != old_validity or new_uid > max(old_uids),
                        (old_validity, old_uids, validity, new_uid))

    # -- SUBSCRIBE / LSUB ---------------------------------------------------
    def test_subscribe_unsubscribe_lsub(self):
        M = self.imap()
        self.assertOK(*M.create("Feeds"))
        self.assertOK(*M.subscribe("Feeds"))
        e = list_entries(M.lsub('""', "*")[1])
        self.assertIn("Feeds", e)
        self.assertEqual(e["Feeds"][1], b".")
        self.assertOK(*M.unsubscribe("Feeds"))
        self.assertNotIn("Feeds", list_entries(M.lsub('""', "*")[1]))
        # still exists, just not subscribed
        self.assertIn("Feeds", list_entries(M.list('""', "*")[1]))
        # subscriptions persist over sessions
        self.assertOK(*M.subscribe("Feeds"))
        M2 = self.imap(M.user)
        self.assertIn("Feeds", list_entries(M2.lsub('""', "*")[1]))
        self.assertIn("Feeds", list_entries(M2.lsub('""', "F%")[1]))
        self.assertEqual(list_entries(M2.lsub('""', "X%")[1]), {})

    def test_lsub_percent_returns_unsubscribed_parent_noselect(self):
        """RFC 3501 6.3.9: with "foo.bar" subscribed and "foo" not, LSUB
        "" "%" MUST return foo, flagged \\Noselect."""
        M = self.imap()
        self.assertOK(*M.create("Par.Kid"))
        self.assertOK(*M.subscribe("Par.Kid"))
        self.assertOK(*M.unsubscribe("Par"))   # may or may not have been
        e = list_entries(M.lsub('""', "%")[1])
        self.assertIn("Par", e, e)
        self.assertIn("\\Noselect", e["Par"][0])
        self.assertNotIn("Par.Kid", e)

    # -- STATUS ---------------------------------------------------------------
    def test_status_all_items_with_size(self):
        M = self.imap()
        self.assertOK(*M.create("Stat"))
        msgs = [simple_message(subject="s%d" % i, body="x" * (100 * i) + "\n") for i in range(3)]
        uids = []
        for i, m in enumerate(msgs):
            typ, data = M.append("Stat", "(\\Seen)" if i == 0 else None, None, m)
            self.assertOK(typ, data)
            uids.append(M.response("APPENDUID")[1][-1].split())
        validity = int(uids[0][0])
        typ, data = M.status("Stat", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)")
        self.assertOK(typ, data)
        vals = parse(data[0])
        self.assertEqual(vals[0] if isinstance(vals[0], bytes) else str(vals[0]).encode(), b"Stat")
        items = {str(vals[1][i]).upper(): int(vals[1][i + 1]) for i in range(0, len(vals[1]), 2)}
        self.assertEqual(items, {
            "MESSAGES": 3, "RECENT": 3, "UIDNEXT": int(uids[-1][1]) + 1,
            "UIDVALIDITY": validity, "UNSEEN": 2, "SIZE": sum(len(m) for m in msgs)})
        # only the items asked for, in any order
        typ, data = M.status("Stat", "(SIZE MESSAGES)")
        items = parse(data[0])[1]
        self.assertEqual(sorted(str(x).upper() for x in items[0::2]), ["MESSAGES", "SIZE"])
        self.assertEqual(M.status("NoSuchBox", "(MESSAGES)")[0], "NO")
        c = self.raw(M.user)
        u, t = c.xcmd("STATUS Stat (BOGUS)")
        self.assertTrue(t.startswith(b"BAD"), t)

    # -- APPEND -------------------------------------------------------------
    def test_append_flags_date_appenduid(self):
        M = self.imap()
        msg = simple_message(subject="appended", body="line one\nline two\n")
        typ, data = M.append("INBOX", "(\\Seen \\Flagged $Label1)",
                             '"14-Jul-2020 10:00:00 +0200"', msg)
        self.assertOK(typ, data)
        code = M.response("APPENDUID")[1]
        self.assertTrue(code and code[-1], code)
        validity, uid = (int(x) for x in code[-1].split())
        self.assertGreater(validity, 0)
        self.assertGreater(uid, 0)
        typ, data = M.append("INBOX", None, None, simple_message(subject="second"))
        self.assertOK(typ, data)
        validity2, uid2 = (int(x) for x in M.response("APPENDUID")[1][-1].split())
        self.assertEqual(validity2, validity)
        self.assertGreater(uid2, uid)

        typ, data = M.select("INBOX")
        self.assertEqual(int(M.response("UIDVALIDITY")[1][0]), validity)
        got = imaplib_fetch(M, str(uid), "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])", uid=True)
        (d,) = got.values()
        self.assertEqual(int(d["UID"]), uid)
        self.assertEqual(flags_of(d) - {"\\Recent"}, {"\\Seen", "\\Flagged", "$Label1"})
        self.assertEqual(internaldate(d["INTERNALDATE"]),
                         datetime.datetime(2020, 7, 14, 8, 0, 0, tzinfo=datetime.timezone.utc))
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[]"], msg)
        # without a date: the time of the APPEND
        d2 = imaplib_fetch(M, str(uid2), "(INTERNALDATE)", uid=True)
        (d2,) = d2.values()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((internaldate(d2["INTERNALDATE"]) - now).total_seconds()), 120)

    def test_append_errors(self):
        c = self.raw()
        u, t = c.append("NoSuchBox", simple_message())
        self.assertNO(t)
        self.assertIn(b"[TRYCREATE]", t)
        u, t = c.append("INBOX", simple_message(), flags="\\Bogus")
        self.assertFalse(t.startswith(b"OK"), t)
        u, t = c.append("INBOX", simple_message(), date="31-Foo-2020 10:00:00 +0000")
        self.assertFalse(t.startswith(b"OK"), t)
        # into the selected mailbox: EXISTS before the tagged OK
        c.ok("SELECT INBOX")
        u, t = c.append("INBOX", simple_message(subject="seen at once"))
        self.assertTrue(t.startswith(b"OK [APPENDUID "), t)
        self.assertIn(b"* 1 EXISTS", u)
        # a synchronizing literal: the continuation, then the message
        msg = simple_message(subject="sync literal")
        tag = c.next_tag()
        c.send("%s APPEND INBOX {%d}\r\n" % (tag, len(msg)))
        self.assertTrue(c.readline().startswith(b"+"))
        c.send(msg + b"\r\n")
        u, t = c.read_tagged(tag)
        self.assertTrue(t.startswith(tag.encode() + b" OK [APPENDUID "), t)

    # -- SELECT / EXAMINE ---------------------------------------------------
    def test_select_and_examine_responses(self):
        c = self.raw()
        user = c.user
        for i in range(3):
            self.deliver(user, simple_message(subject="m%d" % i))
        # the first message seen, so [UNSEEN 2]
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
        c.ok("UNSELECT")
        c2 = self.raw(user)
        u, t = c2.xcmd("SELECT INBOX")
        self.assertRegex(t, rb"^OK \[READ-WRITE\] ")
        flags = [l for l in u if l.startswith(b"* FLAGS ")]
        self.assertEqual(len(flags), 1, u)
        self.assertTrue(SYSTEM_FLAGS <= {str(f) for f in parse(flags[0], 8)[0]}, flags)
        perm = [l for l in u if l.startswith(b"* OK [PERMANENTFLAGS ")]
        self.assertEqual(len(perm), 1, u)
        pf = {str(f) for f in parse(perm[0][len(b"* OK [PERMANENTFLAGS "):perm[0].index(b"]")])[0]}
        self.assertTrue(SYSTEM_FLAGS <= pf, pf)
        self.assertIn("\\*", pf)
        self.assertIn(b"* 3 EXISTS", u)
        # c (the first session) saw them: they are not recent for c2
        self.assertIn(b"* 0 RECENT", u)
        validity = [l for l in u if l.startswith(b"* OK [UIDVALIDITY ")]
        self.assertEqual(len(validity), 1, u)
        self.assertRegex(validity[0], rb"^\* OK \[UIDVALIDITY [1-9]\d*\]")
        self.assertTrue(any(re.match(rb"^\* OK \[UIDNEXT 4\]", l) for l in u), u)
        unseen = [l for l in u if l.startswith(b"* OK [UNSEEN ")]
        if unseen:      # optional in IMAP4rev1; if sent, right
            self.assertRegex(unseen[0], rb"^\* OK \[UNSEEN 2\]")

        # EXAMINE: read-only, no permanent flags, no \Seen side effects
        c3 = self.raw(user)
        u, t = c3.xcmd("EXAMINE INBOX")
        self.assertRegex(t, rb"^OK \[READ-ONLY\] ")
        self.assertIn(b"* 3 EXISTS", u)
        perm = [l for l in u if l.startswith(b"* OK [PERMANENTFLAGS ")]
        if perm:
            self.assertTrue(perm[0].startswith(b"* OK [PERMANENTFLAGS ()]"), perm)
        c3.ok("FETCH 2 BODY[]")
        self.assertNotIn("\\Seen", flags_of(c3.fetch("2", "FLAGS")[2]))
        u, t = c3.xcmd("STORE 2 +FLAGS (\\Flagged)")
        self.assertNO(t)
        u, t = c3.xcmd("EXPUNGE")
        self.assertNO(t)
        # SELECT of what does not exist: NO, and no mailbox is selected
        u, t = c3.xcmd("SELECT NoSuchBox")
        self.assertNO(t)
        u, t = c3.xcmd("FETCH 1 FLAGS")
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        # c2 still sees message 2 unseen
        self.assertNotIn("\\Seen", flags_of(c2.fetch("2", "FLAGS")[2]))
        c2.ok("CHECK")

    # -- FETCH --------------------------------------------------------------
    FETCH_MSG = crlf(
        "Return-Path: <ann@example.org>\n"
        "From: Ann Example <ann@example.org>\n"
        "To: Joe <joe@example.org>\n"
        "Subject: Fetch me\n"
        "Date: Tue, 02 Mar 2021 11:22:33 +0100\n"
        "Message-ID: <fetch-1@example.org>\n"
        "X-Folded: first part\n"
        " second part\n"
        "\n"
        "Body line 1\n"
        "Body line 2\n")

    def _fetch_setup(self):
        c = self.raw()
        c.ok("SELECT INBOX")
        u, t = c.append("INBOX", self.FETCH_MSG, flags="\\Flagged",
                        date="02-Mar-2021 11:22:33 +0100")
        self.assertTrue(t.startswith(b"OK"), t)
        return c

    def test_fetch_every_item(self):
        c = self._fetch_setup()
        msg = self.FETCH_MSG
        head, _, text = msg.partition(b"\r\n\r\n")
        head += b"\r\n\r\n"
        d = c.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY "
                         "BODY.PEEK[HEADER] BODY.PEEK[TEXT] RFC822.HEADER)")[1]
        self.assertEqual(int(d["UID"]), 1)
        self.assertEqual(flags_of(d) - {"\\Recent"}, {"\\Flagged"})
        self.assertEqual(internaldate(d["INTERNALDATE"]),
                         datetime.datetime(2021, 3, 2, 10, 22, 33, tzinfo=datetime.timezone.utc))
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[HEADER]"], head)
        self.assertEqual(d["BODY[TEXT]"], text)
        self.assertEqual(d["RFC822.HEADER"], head)
        env = d["ENVELOPE"]
        self.assertEqual(env[0], b"Tue, 02 Mar 2021 11:22:33 +0100")
        self.assertEqual(env[1], b"Fetch me")
        self.assertEqual(env[2], [[b"Ann Example", None, b"ann", b"example.org"]])
        self.assertEqual(env[3], env[2])   # Sender defaults to From
        self.assertEqual(env[4], env[2])   # Reply-To defaults to From
        self.assertEqual(env[5], [[b"Joe", None, b"joe", b"example.org"]])
        self.assertEqual(env[6:9], [None, None, None])
        self.assertEqual(env[9], b"<fetch-1@example.org>")
        bs = [x.upper() if isinstance(x, bytes) else x for x in d["BODYSTRUCTURE"]]
        self.assertEqual(bs, [b"TEXT", b"PLAIN", [b"CHARSET", b"US-ASCII"], None, None,
                              b"7BIT", Atom(str(len(text))), Atom("2"), None, None, None, None])
        body = [x.upper() if isinstance(x, bytes) else x for x in d["BODY"]]
        self.assertEqual(body, bs[:8])   # BODY: no extension data
        # PEEK and RFC822.HEADER left \Seen alone
        self.assertNotIn("\\Seen", flags_of(c.fetch("1", "FLAGS")[1]))

    def test_fetch_partial_and_header_fields(self):
        c = self._fetch_setup()
        msg = self.FETCH_MSG
        head, _, text = msg.partition(b"\r\n\r\n")
        u, t = c.ok("FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[]<10.25> BODY.PEEK[TEXT]<3.5> "
                    "BODY.PEEK[]<100000.5>)")
        self.assertEqual(len(u), 1, u)
        _, d = fetch_dict(u[0])
        self.assertEqual(d["BODY[]<0>"], msg[:10])
        self.assertEqual(d["BODY[]<10>"], msg[10:35])
        self.assertEqual(d["BODY[TEXT]<3>"], text[3:8])
        self.assertEqual(d["BODY[]<100000>"], b"")
        # octet-exact: the partial's origin is in the name, a literal follows
        self.assertIn(b"BODY[]<0> {10}\r\n" + msg[:10], u[0])

        u, t = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject X-Nope)])")
        self.assertEqual(len(u), 1, u)
        want = b"From: Ann Example <ann@example.org>\r\nSubject: Fetch me\r\n\r\n"
        self.assertIn(b"BODY[HEADER.FIELDS (From Subject X-Nope)] {%d}\r\n" % len(want) + want, u[0])
        # field names are case-insensitive; folded fields come whole
        _, d = fetch_dict(c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (x-folded SUBJECT)])")[0][0])
        (val,) = d.values()
        self.assertEqual(val, b"Subject: Fetch me\r\nX-Folded: first part\r\n second part\r\n\r\n")
        _, d = fetch_dict(c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From Subject X-Folded)])")[0][0])
        (val,) = d.values()
        self.assertEqual(val, b"Return-Path: <ann@example.org>\r\nTo: Joe <joe@example.org>\r\n"
                              b"Date: Tue, 02 Mar 2021 11:22:33 +0100\r\n"
                              b"Message-ID: <fetch-1@example.org>\r\n\r\n")
        # imaplib can read them too
        M = self.imap(c.user)
        M.select("INBOX")
        got = imaplib_fetch(M, "1", "(BODY.PEEK[]<0.10> BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1]
        self.assertEqual(got["BODY[]<0>"], msg[:10])
        self.assertEqual(got["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: Fetch me\r\n\r\n")
        self.assertNotIn("\\Seen", flags_of(c.fetch("1", "FLAGS")[1]))

    def test_fetch_rfc822_forms_macros_and_seen(self):
        c = self._fetch_setup()
        msg = self.FETCH_MSG
        for i in range(2):
            c.append("INBOX", msg)
        head, _, text = msg.partition(b"\r\n\r\n")
        # RFC822 sets \Seen and says so (RFC 3501 6.4.5)
        u, t = c.ok("FETCH 1 RFC822")
        _, d = fetch_dict(u[0])
        self.assertEqual(d["RFC822"], msg)
        self.assertIn("\\Seen", flags_of(c.fetch("1", "FLAGS")[1]))
        if len(u) == 1 and "FLAGS" in d:
            self.assertIn("\\Seen", flags_of(d))
        # RFC822.TEXT and BODY[TEXT] set \Seen; BODY[TEXT] response says so
        u, t = c.ok("FETCH 2 RFC822.TEXT")
        self.assertEqual(fetch_dict(u[0])[1]["RFC822.TEXT"], text)
        self.assertIn("\\Seen", flags_of(c.fetch("2", "FLAGS")[2]))
        u, t = c.ok("FETCH 3 BODY[TEXT]")
        merged = {}
        for r in u:
            merged.update(fetch_dict(r)[1])
        self.assertEqual(merged["BODY[TEXT]"], text)
        self.assertIn("FLAGS", merged, "no FLAGS after \\Seen was set by BODY[TEXT]: %r" % u)
        self.assertIn("\\Seen", flags_of(merged))
        # the macros
        d = c.fetch("1", "FAST")[1]
        self.assertEqual(set(d), {"FLAGS", "INTERNALDATE", "RFC822.SIZE"})
        d = c.fetch("1", "ALL")[1]
        self.assertEqual(set(d), {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"})
        d = c.fetch("1", "FULL")[1]
        self.assertEqual(set(d), {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"})
        # sequence sets and *
        self.assertEqual(sorted(c.fetch("2:*", "UID")), [2, 3])
        self.assertEqual(sorted(c.fetch("*", "UID")), [3])
        self.assertEqual(sorted(c.fetch("1,3", "UID")), [1, 3])
        u, t = c.xcmd("FETCH 1 (NOSUCHITEM)")
        self.assertTrue(t.startswith(b"BAD"), t)

    def test_fetch_header_fields_quoted_names(self):
        """RFC 3501 9: header-fld-name = astring, so quoted field names are
        valid: BODY[HEADER.FIELDS ("From" "Subject")]."""
        c = self._fetch_setup()
        u, t = c.xcmd('FETCH 1 (BODY.PEEK[HEADER.FIELDS ("From" "Subject")])')
        self.assertTrue(t.startswith(b"OK"), t)
        self.assertEqual(len(u), 1, u)
        (val,) = fetch_dict(u[0])[1].values()
        self.assertEqual(val, b"From: Ann Example <ann@example.org>\r\nSubject: Fetch me\r\n\r\n")

    def test_fetch_malformed_section_is_bad(self):
        """Section specs outside the RFC 3501 grammar are syntax errors
        (tagged BAD), not an OK with NIL: BODY[0] (part numbers are
        nz-number), BODY[MIME] (MIME needs a part number), BODY[TEXT.MIME],
        BODY[HEADER.FIELDS ()] (header-list needs a name), BODY[FOO]."""
        c = self._fetch_setup()
        for sec in ("0", "MIME", "TEXT.MIME", "HEADER.FIELDS ()", "FOO", "1.0", "HEADER.FIELDS"):
            with self.subTest(section=sec):
                u, t = c.xcmd("FETCH 1 (BODY.PEEK[%s])" % sec)
                self.assertTrue(t.startswith(b"BAD"), (sec, u, t))

    def test_append_over_appendlimit_refused(self):
        srv = self.dedicated_server(overrides={"limit_literal": "64k"})
        c = self.raw(("joe", "password"), server=srv)
        u, t = c.ok("CAPABILITY")
        self.assertIn(b"APPENDLIMIT=65536", u[0])
        big = simple_message(body="y" * 70000 + "\n")
        tag = c.next_tag()
        c.send("%s APPEND INBOX {%d}\r\n" % (tag, len(big)))
        line = c.readline()
        # refused before the octets are sent (no continuation request)
        self.assertFalse(line.startswith(b"+"), line)
        self.assertTrue(line.startswith(tag.encode() + b" NO") or line.startswith(tag.encode() + b" BAD"),
                        line)
        u, t = c.ok("STATUS INBOX (MESSAGES)")
        self.assertEqual(status_of(u)["MESSAGES"], 0)
        # just under the limit is fine
        ok = simple_message(body="z" * 60000 + "\n")
        u, t = c.append("INBOX", ok)
        self.assertTrue(t.startswith(b"OK [APPENDUID"), t)

    def test_sequence_number_beyond_exists_is_bad(self):
        """A message sequence number above EXISTS is a client error: tagged
        BAD (RFC 9051 9 seq-number; RFC 3501's author on imap-protocol,
        2007: "A001 BAD Invalid sequence number."), not an OK that silently
        does nothing.  UIDs are different: unknown UIDs are ignored."""
        c = self._fetch_setup()
        for cmd in ("FETCH 5 FLAGS", "STORE 5 +FLAGS (\\Seen)",
                    "COPY 5 INBOX", "MOVE 5 INBOX"):
            with self.subTest(cmd=cmd):
                u, t = c.xcmd(cmd)
                self.assertTrue(t.startswith(b"BAD"), (cmd, u, t))
        for cmd in ("UID FETCH 5 FLAGS", "UID STORE 5 +FLAGS (\\Seen)", "UID COPY 5 INBOX"):
            with self.subTest(cmd=cmd):
                u, t = c.xcmd(cmd)
                self.assertTrue(t.startswith(b"OK"), (cmd, u, t))

    # -- STORE ----------------------------------------------------------------
    def test_store_flags_keywords_silent(self):
        c = self.raw()
        for i in range(3):
            c.append("INBOX", simple_message(subject="st%d" % i))
        c.ok("SELECT INBOX")
        u, t = c.ok("STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(len(u), 1, u)
        seq, d = fetch_dict(u[0])
        self.assertEqual(seq, 1)
        self.assertEqual(flags_of(d) - {"\\Recent"}, {"\\Flagged"})
        u, t = c.ok("STORE 1 -FLAGS (\\Flagged)")
        self.assertEqual(flags_of(fetch_dict(u[0])[1]) - {"\\Recent"}, set())
        u, t = c.ok("STORE 2 FLAGS (\\Seen \\Answered)")
        self.assertEqual(flags_of(fetch_dict(u[0])[1]) - {"\\Recent"}, {"\\Seen", "\\Answered"})
        u, t = c.ok("STORE 2 FLAGS (\\Draft)")
        self.assertEqual(flags_of(fetch_dict(u[0])[1]) - {"\\Recent"}, {"\\Draft"})
        # .SILENT: no FETCH for our own change
        u, t = c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual([l for l in u if b"FETCH" in l], [])
        u, t = c.ok("STORE 1:3 -FLAGS.SILENT (\\Deleted)")
        # keywords
        u, t = c.ok("STORE 3 +FLAGS ($Work Urgent)")
        # new keywords: FLAGS and PERMANENTFLAGS come first (RFC 9051 7.3.5)
        self.assertEqual(len(u), 3, u)
        self.assertTrue(u[0].startswith(b"* FLAGS "), u)
        self.assertTrue(u[1].startswith(b"* OK [PERMANENTFLAGS "), u)
        self.assertEqual(flags_of(fetch_dict(u[2])[1]) - {"\\Recent"}, {"$Work", "Urgent"})
        u, t = c.ok("STORE 3 -FLAGS (Urgent)")
        self.assertEqual(flags_of(fetch_dict(u[0])[1]) - {"\\Recent"}, {"$Work"})
        # flags as atoms without parentheses (RFC 3501 store-att-flags)
        u, t = c.ok("STORE 1 +FLAGS \\Seen")
        self.assertIn("\\Seen", flags_of(fetch_dict(u[0])[1]))
        u, t = c.xcmd("STORE 1 +FLAGS (\\Bogus)")
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        u, t = c.xcmd("STORE 1 +FLAGZ (\\Seen)")
        self.assertTrue(t.startswith(b"BAD"), t)
        # persisted: another session sees them; a new SELECT lists the keyword
        c2 = self.raw(c.user)
        u, t = c2.ok("SELECT INBOX")
        flags = [l for l in u if l.startswith(b"* FLAGS ")][0]
        self.assertIn("$Work", {str(f) for f in parse(flags, 8)[0]})
        got = c2.fetch("1:3", "FLAGS")
        self.assertEqual([flags_of(got[i]) - {"\\Recent"} for i in (1, 2, 3)],
                         [{"\\Seen"}, {"\\Draft"}, {"$Work"}])

    def test_store_via_imaplib(self):
        M = self.imap()
        M.append("INBOX", None, None, simple_message())
        M.select("INBOX")
        typ, data = M.store("1", "+FLAGS", "(\\Seen $Done)")
        self.assertOK(typ, data)
        self.assertIn(b"$Done", data[0])
        typ, data = M.store("1", "-FLAGS.SILENT", "($Done)")
        self.assertOK(typ, data)
        self.assertEqual(flags_of(imaplib_fetch(M, "1", "(FLAGS)")[1]) - {"\\Recent"}, {"\\Seen"})

    def test_maildir_flags_in_file_names_and_keywords_file(self):
        c = self.raw()
        c.append("INBOX", simple_message())
        c.ok("SELECT INBOX")
        c.ok("STORE 1 FLAGS (\\Seen \\Answered \\Flagged \\Draft $Work)")
        c.ok("NOOP")
        (f,) = self.message_files(c.user)
        self.assertTrue(f.startswith("cur/"), f)
        info = f.rsplit(":2,", 1)
        self.assertEqual(len(info), 2, f)
        letters = info[1]
        upper = "".join(ch for ch in letters if ch.isupper())
        lower = [ch for ch in letters if ch.islower()]
        self.assertEqual(upper, "DFRS", f)           # ASCII order
        self.assertEqual(len(lower), 1, f)
        with open(os.path.join(self.maildir(c.user), "dovecot-keywords")) as kf:
            kw = dict(line.split(None, 1) for line in kf.read().splitlines() if line.strip())
        self.assertEqual(kw.get(str(ord(lower[0]) - ord("a"))), "$Work", kw)
        c.ok("STORE 1 FLAGS (\\Deleted)")
        c.ok("NOOP")
        (f,) = self.message_files(c.user)
        self.assertTrue(f.endswith(":2,T"), f)

    # -- COPY / MOVE -----------------------------------------------------------
    def test_copy_copyuid(self):
        M = self.imap()
        self.assertOK(*M.create("Src"))
        self.assertOK(*M.create("Dest"))
        msgs = [simple_message(subject="c%d" % i) for i in range(3)]
        for i, m in enumerate(msgs):
            M.append("Src", "(\\Flagged)" if i == 1 else None, '"05-May-2021 05:05:05 +0000"', m)
        M.append("Dest", None, None, simple_message(subject="already there"))
        dest_validity = int(M.status("Dest", "(UIDVALIDITY)")[1][0].split()[-1].rstrip(b")"))
        M.select("Src")
        typ, data = M.copy("2:3", "Dest")
        self.assertOK(typ, data)
        code = M.response("COPYUID")[1][-1].split()
        self.assertEqual(int(code[0]), dest_validity)
        src, dst = uid_set(code[1]), uid_set(code[2])
        self.assertEqual(src, [2, 3])
        self.assertEqual(len(dst), 2)
        self.assertTrue(all(u > 1 for u in dst), dst)
        # the copies: same octets, flags and internal date (RFC 3501 6.4.7)
        M.select("Dest", readonly=True)
        got = imaplib_fetch(M, ",".join(map(str, dst)),
                            "(UID FLAGS INTERNALDATE BODY.PEEK[])", uid=True)
        by_uid = {int(d["UID"]): d for d in got.values()}
        for s, d in zip(src, dst):
            self.assertEqual(by_uid[d]["BODY[]"], msgs[s - 1])
            self.assertEqual(internaldate(by_uid[d]["INTERNALDATE"]),
                             datetime.datetime(2021, 5, 5, 5, 5, 5, tzinfo=datetime.timezone.utc))
        self.assertIn("\\Flagged", flags_of(by_uid[dst[0]]))
        self.assertNotIn("\\Flagged", flags_of(by_uid[dst[1]]))
        M.close()
        # to a missing mailbox: [TRYCREATE]
        c = self.raw(M.user)
        c.ok("SELECT Src")
        u, t = c.xcmd("COPY 1 NoSuchBox")
        self.assertNO(t)
        self.assertIn(b"[TRYCREATE]", t)
        u, t = c.xcmd("MOVE 1 NoSuchBox")
        self.assertNO(t)
        self.assertIn(b"[TRYCREATE]", t)
        self.assertEqual(len(c.fetch("1:*", "UID")), 3)

    def test_move_responses(self):
        c = self.raw()
        c.ok("CREATE Dest")
        for i in range(3):
            c.append("INBOX", simple_message(subject="mv%d" % i))
        c.ok("SELECT INBOX")
        u, t = c.ok("MOVE 2 Dest")
        # RFC 6851: COPYUID in an untagged OK before the expunges
        cu = [i for i, l in enumerate(u) if l.startswith(b"* OK [COPYUID ")]
        ex = [i for i, l in enumerate(u) if re.match(rb"\* \d+ EXPUNGE$", l)]
        self.assertEqual(len(cu), 1, u)
        self.assertEqual([u[i] for i in ex], [b"* 2 EXPUNGE"])
        self.assertLess(cu[0], ex[0])
        code = re.match(rb"\* OK \[COPYUID (\d+) (\S+) (\S+)\]", u[cu[0]])
        self.assertEqual(uid_set(code.group(2)), [2])
        self.assertEqual([int(x) for x in c.fetch("1:*", "UID").keys()], [1, 2])
        self.assertEqual([int(d["UID"]) for d in c.fetch("1:*", "UID").values()], [1, 3])
        u, t = c.ok("STATUS Dest (MESSAGES UIDNEXT)")
        self.assertEqual(status_of(u), {"MESSAGES": 1, "UIDNEXT": uid_set(code.group(3))[0] + 1})
        # imaplib: MOVE through _simple_command
        M = self.imap(c.user)
        M.select("INBOX")
        typ, data = M._simple_command("MOVE", "1", "Dest")
        self.assertOK(typ, data)
        self.assertIn(b"MESSAGES 2", M.status("Dest", "(MESSAGES)")[1][0])

    # -- UID commands ------------------------------------------------------------
    def test_uid_forms(self):
        c = self.raw()
        c.ok("CREATE Other")
        for i in range(5):
            c.append("INBOX", simple_message(subject="u%d" % i))
        c.ok("SELECT INBOX")
        # make the UIDs differ from sequence numbers: remove UID 1 and 2
        c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")
        # UID FETCH: UID always in the response
        u, t = c.ok("UID FETCH 4:5 FLAGS")
        got = dict(fetch_dict(r) for r in u)
        self.assertEqual({s: int(d["UID"]) for s, d in got.items()}, {2: 4, 3: 5})
        u, t = c.ok("UID FETCH 1:2 FLAGS")        # gone: no data, still OK
        self.assertEqual(u, [])
        u, t = c.ok("UID FETCH * UID")
        self.assertEqual([fetch_dict(r)[0] for r in u], [3])
        # a range past the end covers the last message (RFC 3501 6.4.8)
        u, t = c.ok("UID FETCH 100:* UID")
        self.assertEqual([int(fetch_dict(r)[1]["UID"]) for r in u], [5])
        # UID STORE answers with the UID
        u, t = c.ok("UID STORE 4 +FLAGS (\\Flagged)")
        seq, d = fetch_dict(u[0])
        self.assertEqual((seq, int(d["UID"])), (2, 4))
        self.assertIn("\\Flagged", flags_of(d))
        # UID SEARCH gives UIDs
        u, t = c.ok("UID SEARCH FLAGGED")
        self.assertEqual(search_result(u), [4])
        u, t = c.ok("UID SEARCH ALL")
        self.assertEqual(search_result(u), [3, 4, 5])
        # UID COPY
        u, t = c.ok("UID COPY 3,5 Other")
        m = re.search(rb"\[COPYUID (\d+) (\S+) (\S+)\]", t)
        self.assertTrue(m, t)
        self.assertEqual(sorted(uid_set(m.group(2))), [3, 5])
        # UID MOVE
        u, t = c.ok("UID MOVE 5 Other")
        self.assertIn(b"* 3 EXPUNGE", u)
        self.assertTrue(any(l.startswith(b"* OK [COPYUID ") for l in u), u)
        # UID EXPUNGE removes only the listed \Deleted messages
        c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        u, t = c.ok("UID EXPUNGE 4")
        self.assertEqual(expunged_numbers(u), [2])
        self.assertEqual([int(d["UID"]) for d in c.fetch("1:*", "UID").values()], [3])
        self.assertIn("\\Deleted", flags_of(c.fetch("1", "FLAGS")[1]))
        u, t = c.ok("STATUS Other (MESSAGES)")
        self.assertEqual(status_of(u)["MESSAGES"], 3)

    def test_uid_commands_via_imaplib(self):
        M = self.imap()
        M.create("Other")
        for i in range(3):
            M.append("INBOX", None, None, simple_message(subject="iu%d" % i))
        M.select("INBOX")
        typ, data = M.uid("SEARCH", None, "ALL")
        self.assertEqual(data, [b"1 2 3"])
        typ, data = M.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        self.assertOK(typ, data)
        typ, data = M.uid("EXPUNGE", "2")
        self.assertOK(typ, data)
        self.assertEqual(M.uid("SEARCH", None, "ALL")[1], [b"1 3"])
        typ, data = M.uid("COPY", "1", "Other")
        self.assertOK(typ, data)
        self.assertEqual(M.response("COPYUID")[1][-1].split()[1:], [b"1", b"1"])
        typ, data = M.uid("MOVE", "3", "Other")
        self.assertOK(typ, data)
        self.assertEqual(M.uid("SEARCH", None, "ALL")[1], [b"1"])
        got = imaplib_fetch(M, "1", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])", uid=True)
        self.assertEqual(got[1]["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: iu0\r\n\r\n")

    # -- EXPUNGE, CLOSE, UNSELECT -------------------------------------------
    def test_expunge_responses(self):
        c = self.raw()
        for i in range(6):
            c.append("INBOX", simple_message(subject="e%d" % i))
        c.ok("SELECT INBOX")
        c.ok("STORE 2,3,5,6 +FLAGS.SILENT (\\Deleted)")
        u, t = c.ok("EXPUNGE")
        nums = expunged_numbers(u)
        self.assertEqual(len(nums), 4, u)
        self.assertEqual(apply_expunges([1, 2, 3, 4, 5, 6], nums), [1, 4])
        self.assertEqual([l for l in u if b"EXISTS" in l], [])
        self.assertEqual([int(d["UID"]) for d in c.fetch("1:*", "UID").values()], [1, 4])
        u, t = c.ok("EXPUNGE")       # nothing left to remove
        self.assertEqual(expunged_numbers(u), [])
        # via imaplib
        M = self.imap(c.user)
        M.select("INBOX")
        M.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = M.expunge()
        self.assertOK(typ, data)
        self.assertEqual(data, [b"1"])

    def test_close_versus_unselect(self):
        c = self.raw()
        for i in range(3):
            c.append("INBOX", simple_message(subject="cl%d" % i))
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        # UNSELECT: no expunge
        u, t = c.ok("UNSELECT")
        self.assertEqual(expunged_numbers(u), [])
        u, t = c.xcmd("FETCH 1 FLAGS")
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        u, t = c.ok("STATUS INBOX (MESSAGES)")
        self.assertEqual(status_of(u)["MESSAGES"], 3)
        # EXAMINE then CLOSE: read-only, so nothing is expunged
        c.ok("EXAMINE INBOX")
        c.ok("CLOSE")
        u, t = c.ok("STATUS INBOX (MESSAGES)")
        self.assertEqual(status_of(u)["MESSAGES"], 3)
        # SELECT then CLOSE: expunged, silently (RFC 3501 6.4.2)
        c.ok("SELECT INBOX")
        u, t = c.ok("CLOSE")
        self.assertEqual(expunged_numbers(u), [], u)
        u, t = c.xcmd("FETCH 1 FLAGS")
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        u, t = c.ok("STATUS INBOX (MESSAGES)")
        self.assertEqual(status_of(u)["MESSAGES"], 2)
        u, t = c.xcmd("UNSELECT")      # nothing selected
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        u, t = c.xcmd("CLOSE")
        self.assertTrue(t.startswith(b"BAD") or t.startswith(b"NO"), t)
        # imaplib's close() and unselect()
        M = self.imap(c.user)
        M.select("INBOX")
        self.assertOK(*M.unselect())
        M.select("INBOX")
        self.assertOK(*M.close())

    # -- SEARCH ----------------------------------------------------------------
    SEARCH_MSGS = [
        (crlf("From: Alice Example <alice@example.org>\n"
              "To: Bob <bob@example.com>\n"
              "Subject: Quarterly Report\n"
              "Date: Mon, 01 Mar 2021 09:00:00 +0000\n"
              "Message-ID: <m1@example.org>\n"
              "\n"
              "The numbers are IN.\n"),
         "\\Seen", "01-Mar-2021 10:00:00 +0000"),
        (crlf("From: bob@example.com\n"
              "To: Alice <alice@example.org>\n"
              "Subject: =?UTF-8?Q?R=C3=A9union_d'=C3=A9t=C3=A9?=\n"
              "Date: Tue, 15 Jun 2021 12:00:00 +0200\n"
              "MIME-Version: 1.0\n"
              "Content-Type: text/plain; charset=utf-8\n"
              "Content-Transfer-Encoding: quoted-printable\n"
              "\n"
              "Rendez-vous au caf=C3=A9 cr=C3=A8me.\n"),
         "\\Flagged $Work", "15-Jun-2021 12:00:00 +0000"),
        (crlf("From: Carol <carol@example.net>\n"
              "To: joe@example.org\n"
              "Subject: big one\n"
              "Date: Mon, 20 Dec 2021 08:00:00 +0000\n"
              "X-Custom: Foo-Bar\n"
              "MIME-Version: 1.0\n"
              "Content-Type: text/plain; charset=us-ascii\n"
              "Content-Transfer-Encoding: base64\n"
              "\n") + base64.encodebytes(
                  b"Padding line\n" * 300 + b"Hidden Treasure here\n").replace(b"\n", b"\r\n"),
         "\\Answered \\Deleted", "20-Dec-2021 08:00:00 +0000"),
        (crlf("From: Dave <dave@example.com>\n"
              "To: joe@example.org\n"
              "Subject: Re: Quarterly report\n"
              "Date: Fri, 31 Dec 2021 23:30:00 -0500\n"
              "\n"
              "See attached.\n"),
         "", "01-Jan-2022 10:00:00 +0000"),
    ]

    def _search_box(self):
        c = self.raw()
        for msg, flags, date in self.SEARCH_MSGS:
            u, t = c.append("INBOX", msg, flags=flags, date=date)
            self.assertTrue(t.startswith(b"OK"), t)
        c.ok("SELECT INBOX")
        return c

    def _check_searches(self, c, cases, uid=False):
        for parts, want in cases:
            with self.subTest(search=parts):
                u, t = c.xcmd(*((["UID SEARCH"] if uid else ["SEARCH"]) + list(parts)))
                self.assertTrue(t.startswith(b"OK"), t)
                self.assertEqual(search_result(u), want)

    def test_search_flags_sizes_dates(self):
        c = self._search_box()
        self._check_searches(c, [
            (["ALL"], [1, 2, 3, 4]),
            (["SEEN"], [1]), (["UNSEEN"], [2, 3, 4]),
            (["FLAGGED"], [2]), (["UNFLAGGED"], [1, 3, 4]),
            (["ANSWERED"], [3]), (["UNANSWERED"], [1, 2, 4]),
            (["DELETED"], [3]), (["UNDELETED"], [1, 2, 4]),
            (["DRAFT"], []), (["UNDRAFT"], [1, 2, 3, 4]),
            (["KEYWORD $Work"], [2]), (["UNKEYWORD $Work"], [1, 3, 4]),
            (["KEYWORD $Nothing"], []),
            (["RECENT"], [1, 2, 3, 4]), (["NEW"], [2, 3, 4]), (["OLD"], []),
            (["LARGER 3000"], [3]), (["SMALLER 3000"], [1, 2, 4]),
            (["LARGER %d" % len(self.SEARCH_MSGS[3][0])], [1, 2, 3]),
            (["SMALLER %d" % len(self.SEARCH_MSGS[3][0])], []),
            (["BEFORE 15-Jun-2021"], [1]), (["ON 15-Jun-2021"], [2]),
            (["SINCE 15-Jun-2021"], [2, 3, 4]), (["SINCE 2-Jan-2022"], []),
            (["ON 1-Jan-2022"], [4]),
            (["SENTBEFORE 15-Jun-2021"], [1]), (["SENTON 15-Jun-2021"], [2]),
            (["SENTSINCE 20-Dec-2021"], [3, 4]), (["SENTON 31-Dec-2021"], [4]),
            (["SENTSINCE 1-Jan-2022"], []),
        ])

    def test_search_headers_and_text(self):
        c = self._search_box()
        self._check_searches(c, [
            (['SUBJECT quarterly'], [1, 4]),
            (['SUBJECT "QUARTERLY REPORT"'], [1, 4]),
            (['FROM ALICE'], [1]), (['FROM example.com'], [2, 4]),
            (['TO alice'], [2]), (['TO "joe@"'], [3, 4]),
            (['CC alice'], []), (['BCC alice'], []),
            (['HEADER X-Custom foo-bar'], [3]), (['HEADER x-custom ""'], [3]),
            (['HEADER Message-ID m1@'], [1]),
            (['BODY "numbers are in"'], [1]),
            (['BODY "hidden treasure"'], [3]),       # base64 decoded
            (['BODY alice'], []),                    # the body only
            (['TEXT alice'], [1, 2]),                # headers too
            (['TEXT "numbers ARE"'], [1]),
            (['SUBJECT "union d\'"'], [2]),          # decoded encoded word
        ])

    def test_search_charset_utf8(self):
        c = self._search_box()
        self._check_searches(c, [
            (["CHARSET UTF-8 SUBJECT", "réunion d'été".encode()], [2]),
            (["CHARSET UTF-8 BODY", "café crème".encode()], [2]),   # quoted-printable decoded
            (["CHARSET UTF-8 TEXT", "CAFé".encode()], [2]),
            (["CHARSET UTF-8 OR SUBJECT", "été".encode(), "FROM carol"], [2, 3]),
            (["CHARSET US-ASCII SUBJECT big"], [3]),
        ])
        u, t = c.xcmd("SEARCH CHARSET KOI8-R SUBJECT big")
        # RFC 3501 6.4.4: an unknown charset is NO [BADCHARSET], not BAD
        self.assertTrue(t.startswith(b"NO [BADCHARSET"), t)
        # imaplib's search() with a charset and a literal
        M = self.imap(c.user)
        M.select("INBOX")
        M.literal = "crème".encode()
        typ, data = M.search("UTF-8", "BODY")
        self.assertOK(typ, data)
        self.assertEqual(data, [b"2"])

    def test_search_utf8_case_insensitive_beyond_ascii(self):
        """RFC 3501 6.4.4: string matching is case-insensitive, for the
        decoded UTF-8 subject too: "RÉUNION" finds "Réunion"."""
        c = self._search_box()
        self._check_searches(c, [
            (["CHARSET UTF-8 SUBJECT", "RÉUNION D'ÉTÉ".encode()], [2]),
            (["CHARSET UTF-8 BODY", "CAFÉ CRÈME".encode()], [2]),
        ])

    def test_search_fold_that_grows(self):
        """Lower case can take more octets than upper case: U+023A (2
        octets) folds to U+2C65 (3). A body of nothing else, matched from
        either side, with text after it that must still be found."""
        c = self.raw()
        body = ("\u023a" * 3000 + " tail-marker\r\n").encode()
        msg = (b"From: a@example.org\r\nSubject: grow\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
        u, t = c.append("INBOX", msg)
        self.assertTrue(t.startswith(b"OK"), t)
        c.ok("SELECT INBOX")
        self._check_searches(c, [
            (["CHARSET UTF-8 BODY", ("\u2c65" * 5).encode()], [1]),
            (["CHARSET UTF-8 BODY", ("\u023a" * 5).encode()], [1]),
            (["CHARSET UTF-8 TEXT", "TAIL-MARKER".encode()], [1]),
            (["CHARSET UTF-8 BODY", "absent".encode()], []),
        ])

    def test_search_text_matches_decoded_header(self):
        """TEXT covers the header: an encoded-word subject matches by its
        decoded text, as SUBJECT does."""
        c = self._search_box()
        self._check_searches(c, [
            (["CHARSET UTF-8 TEXT", "réunion".encode()], [2]),
        ])

    def test_search_boolean_and_sets(self):
        c = self._search_box()
        self._check_searches(c, [
            (["OR FROM alice FROM carol"], [1, 3]),
            (["NOT SEEN"], [2, 3, 4]),
            (["(OR SEEN FLAGGED) UNDELETED"], [1, 2]),
            (["NOT (SUBJECT quarterly)"], [2, 3]),
            (["OR (SEEN FLAGGED) DELETED"], [3]),
            (["(SUBJECT quarterly NOT FROM dave)"], [1]),
            (["OR OR SEEN FLAGGED ANSWERED"], [1, 2, 3]),
            (["NOT NOT SEEN"], [1]),
            (["SUBJECT quarterly FROM dave"], [4]),
            (["2:3"], [2, 3]), (["2,4"], [2, 4]), (["3:*"], [3, 4]),
            (["*"], [4]), (["4:2"], [2, 3, 4]),
            (["1:* UNSEEN"], [2, 3, 4]), (["NOT 2:3"], [1, 4]),
            (["UID 2:3"], [2, 3]), (["UID 3,1"], [1, 3]), (["UID 99"], []),
            (["OR UID 1 UID 4"], [1, 4]),
        ])
        self._check_searches(c, [
            (["ALL"], [1, 2, 3, 4]), (["SEEN"], [1]), (["UID 2:*"], [2, 3, 4]),
            (["2:3"], [2, 3]),
        ], uid=True)
        for bad in ("SEARCH FOO", "SEARCH SINCE notadate", "SEARCH (SEEN", "SEARCH OR SEEN",
                    "SEARCH LARGER x"):
            with self.subTest(bad=bad):
                u, t = c.xcmd(bad)
                self.assertTrue(t.startswith(b"BAD"), t)

    def test_search_via_imaplib(self):
        c = self._search_box()
        M = self.imap(c.user)
        M.select("INBOX")
        self.assertEqual(M.search(None, "FROM", '"Alice Example"')[1], [b"1"])
        self.assertEqual(M.search(None, "(OR SUBJECT big SUBJECT report)")[1], [b"1 3 4"])
        self.assertEqual(M.uid("SEARCH", None, "UNSEEN", "UNDELETED")[1], [b"2 4"])

    # -- UIDs: persistent, never reused -----------------------------------
    def test_uid_never_reused_after_expunge(self):
        c = self.raw()
        for i in range(3):
            c.append("INBOX", simple_message(subject="r%d" % i))
        c.ok("SELECT INBOX")
        c.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")
        u, t = c.append("INBOX", simple_message(subject="after"))
        self.assertEqual(code_of(t, "APPENDUID").split()[1], "4")
        c.ok("UNSELECT")
        u, t = c.ok("SELECT INBOX")
        self.assertTrue(any(l.startswith(b"* OK [UIDNEXT 5]") for l in u), u)
        self.assertEqual([int(d["UID"]) for d in c.fetch("1:*", "UID").values()], [1, 4])
        # same from imapcidctl deliver, and across a delete of every message
        c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")
        c.ok("UNSELECT")
        self.deliver(c.user, simple_message(subject="delivered"))
        c.ok("SELECT INBOX")
        self.assertEqual([int(d["UID"]) for d in c.fetch("1:*", "UID").values()], [5])

    def test_uids_persist_across_restart(self):
        inst = Instance(ctl_user=False)
        self.addCleanup(inst.cleanup)
        inst.add_plain_user("pers", "pers-pw")
        srv = self.dedicated_server(instance=inst)
        user = ("pers", "pers-pw")
        c = self.raw(user, server=srv)
        c.ok("CREATE Keep")
        for i in range(4):
            c.append("INBOX", simple_message(subject="p%d" % i), flags="\\Seen" if i == 0 else "Kw1")
        u, t = c.ok("SELECT INBOX")
        validity = [l for l in u if l.startswith(b"* OK [UIDVALIDITY")][0]
        c.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")          # UID 4, the highest, is gone
        before = c.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        u, t = c.ok("STATUS Keep (UIDVALIDITY UIDNEXT)")
        keep_before = status_of(u)
        c.ok("LOGOUT")
        c.close()

        srv.stop()
        srv2 = self.dedicated_server(instance=inst)
        c = self.raw(user, server=srv2)
        u, t = c.ok("SELECT INBOX")
        self.assertIn(validity, u)
        self.assertTrue(any(l.startswith(b"* OK [UIDNEXT 5]") for l in u), u)
        after = c.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        self.assertEqual({s: (d["UID"], flags_of(d) - {"\\Recent"}, d["BODY[]"]) for s, d in after.items()},
                         {s: (d["UID"], flags_of(d) - {"\\Recent"}, d["BODY[]"]) for s, d in before.items()})
        u, t = c.append("INBOX", simple_message(subject="post-restart"))
        self.assertEqual(code_of(t, "APPENDUID").split(), [validity.split()[3].rstrip(b"]").decode(), "5"])
        u, t = c.ok("STATUS Keep (UIDVALIDITY UIDNEXT)")
        self.assertEqual(status_of(u), keep_before)

    def test_changes_survive_sigkill(self):
        """Every change answered OK is on disk: SIGKILL the server right
        after, start it again, and it is all there."""
        inst = Instance(ctl_user=False)
        self.addCleanup(inst.cleanup)
        inst.add_plain_user("dur", "dur-pw")
        user = ("dur", "dur-pw")
        srv = self.dedicated_server(instance=inst, check_exit=False)
        c = self.raw(user, server=srv)
        c.ok("CREATE Dest")
        for i in range(5):
            c.append("INBOX", simple_message(subject="d%d" % i))
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS (\\Flagged $Kw)")
        c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")
        c.ok("COPY 1 Dest")
        c.ok("MOVE 2 Dest")
        c.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
        before = {b: self._box_state(c, b) for b in ("INBOX", "Dest")}
        srv.signal(signal.SIGKILL)
        srv.wait_exit(10)
        srv2 = self.dedicated_server(instance=inst)
        c2 = self.raw(user, server=srv2)
        after = {b: self._box_state(c2, b) for b in ("INBOX", "Dest")}
        self.assertEqual(after, before)
        self.assertEqual([v[0] for v in after["INBOX"]], [1, 4, 5])

    def _box_state(self, c, box):
        c.ok("EXAMINE %s" % box)
        got = c.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        c.ok("UNSELECT")
        return [(int(d["UID"]), flags_of(d) - {"\\Recent"},
                 d["BODY[HEADER.FIELDS (SUBJECT)]"]) for s, d in sorted(got.items())]

    def test_concurrent_appends_and_deliveries_get_distinct_uids(self):
        import threading
        user = self.fresh_user()
        conns = [self.raw(user) for _ in range(4)]
        results, errors = [], []

        def appender(c, k):
            try:
                for i in range(10):
                    u, t = c.append("INBOX", simple_message(subject="c%d-%d" % (k, i)))
                    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", t)
                    if not m:
                        errors.append(t)
                        continue
                    results.append((int(m.group(1)), int(m.group(2))))
            except Exception as e:   # pragma: no cover - reported below
                errors.append(repr(e))

        def deliverer():
            try:
                for i in range(10):
                    p = self.instance.ctl("deliver", user[0], input=simple_message(subject="dl%d" % i),
                                          check=False)
                    if p.returncode != 0:
                        errors.append(p.stderr)
            except Exception as e:   # pragma: no cover
                errors.append(repr(e))

        threads = [threading.Thread(target=appender, args=(c, k)) for k, c in enumerate(conns)]
        threads.append(threading.Thread(target=deliverer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len({v for v, _ in results}), 1, results)
        uids = [u for _, u in results]
        self.assertEqual(len(set(uids)), 40, sorted(uids))
        c = conns[0]
        u, t = c.ok("SELECT INBOX")
        self.assertIn(b"* 50 EXISTS", u)
        got = c.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        all_uids = [int(d["UID"]) for s, d in sorted(got.items())]
        self.assertEqual(all_uids, sorted(set(all_uids)))      # ascending, distinct
        self.assertTrue(set(uids) <= set(all_uids))
        subjects = sorted(d["BODY[HEADER.FIELDS (SUBJECT)]"] for d in got.values())
        self.assertEqual(len(set(subjects)), 50)

    def test_recreated_or_renamed_name_never_reuses_uids(self):
        """RFC 3501 2.3.1.1: a mailbox deleted (or renamed away) and created
        again under the same name gets a new UIDVALIDITY, or UIDs above
        every one used before under that name."""
        c = self.raw()
        seen = {}
        for step in ("create", "delete", "rename"):
            c.ok("CREATE Again")
            u, t = c.append("Again", simple_message(subject=step))
            v, uid = (int(x) for x in code_of(t, "APPENDUID").split())
            for pv, puid in seen.get("Again", []):
                self.assertTrue(v != pv or uid > puid, (step, (pv, puid), (v, uid)))
            seen.setdefault("Again", []).append((v, uid))
            if step == "rename":
                c.ok("RENAME Again Moved%s" % step)
            else:
                c.ok("DELETE Again")
        c.ok("CREATE Again")
        u, t = c.append("Again", simple_message(subject="last"))
        v, uid = (int(x) for x in code_of(t, "APPENDUID").split())
        for pv, puid in seen["Again"]:
            self.assertTrue(v != pv or uid > puid, ((pv, puid), (v, uid)))

    def test_copy_into_selected_mailbox_reports_exists(self):
        """RFC 3501 5.2: the server MUST send mailbox size updates when it
        sees the size change while processing a command; a COPY into the
        selected mailbox changes it (as APPEND does, which says EXISTS)."""
        c = self.raw()
        for i in range(2):
            c.append("INBOX", simple_message(subject="cp%d" % i))
        c.ok("SELECT INBOX")
        u, t = c.ok("COPY 1:2 INBOX")
        self.assertIn(b"* 4 EXISTS", u)

    def test_delete_own_selected_mailbox_keeps_session(self):
        """DELETE of the mailbox this session has selected: the session goes
        on (the mailbox is deselected, or its messages reported expunged);
        it is not dropped with BYE at the next command.  (Another session
        deleting it may end this one with BYE.)"""
        c = self.raw()
        c.ok("CREATE Doomed")
        c.append("Doomed", simple_message())
        c.ok("SELECT Doomed")
        c.ok("DELETE Doomed")
        u, t = c.xcmd("NOOP")
        self.assertFalse(any(l.startswith(b"* BYE") for l in u), u)
        self.assertTrue(t.startswith(b"OK"), t)
        c.ok('LIST "" "*"')

    def test_new_files_get_uids_in_delivery_order(self):
        """Maildir file names start "<seconds>.M<microseconds>P<pid>...";
        new files get UIDs in that time order, compared as numbers (as
        Dovecot's maildir_filename_sort_cmp does): M99999 before M100000.
        imapcidd's own names have unpadded microseconds too, so two
        deliveries in one second can otherwise swap (seen after RENAME
        INBOX)."""
        c = self.raw()
        c.ok("SELECT INBOX")
        root = self.maildir(c.user)
        for subj, name in (("first", "1600000000.M99999P7Q1.e2ehost"),
                           ("second", "1600000000.M100000P7Q1.e2ehost"),
                           ("third", "1600000001.M5P7Q1.e2ehost")):
            with open(os.path.join(root, "tmp", name), "wb") as f:
                f.write(simple_message(subject=subj))
            os.rename(os.path.join(root, "tmp", name), os.path.join(root, "new", name))
        c.ok("NOOP")
        got = c.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        order = [d["BODY[HEADER.FIELDS (SUBJECT)]"].split(b": ")[1].split(b"\r")[0]
                 for s, d in sorted(got.items())]
        self.assertEqual(order, [b"first", b"second", b"third"])

    def test_external_drop_of_many_messages(self):
        """Files renamed into new/ by another program, several hundred at a
        time: each gets one UID, ascending, and keeps it."""
        c = self.raw()
        c.ok("SELECT INBOX")
        root = self.maildir(c.user)
        n = 300
        for i in range(n):
            name = "1600000000.M%dP42.e2ehost" % i
            with open(os.path.join(root, "tmp", name), "wb") as f:
                f.write(simple_message(subject="bulk %d" % i))
            os.rename(os.path.join(root, "tmp", name), os.path.join(root, "new", name))
        u, t = c.ok("NOOP")
        self.assertIn(b"* %d EXISTS" % n, u)
        first = c.fetch("1:*", "UID")
        uids = [int(d["UID"]) for s, d in sorted(first.items())]
        self.assertEqual(uids, list(range(1, n + 1)))
        u, t = c.ok("NOOP")
        self.assertEqual([l for l in u if b"EXISTS" in l or b"EXPUNGE" in l], [])
        c2 = self.raw(c.user)
        c2.ok("EXAMINE INBOX")
        self.assertEqual(c2.fetch("1:*", "UID"), first)
        u, t = c2.ok("SEARCH SUBJECT \"bulk 299\"")
        self.assertEqual(len(search_result(u)), 1)

    # -- names: path tricks, modified UTF-7 -----------------------------------
    def test_path_tricks_refused(self):
        c = self.raw()
        victim = self.fresh_user()
        self.deliver(victim, simple_message(subject="secret"))
        c.ok('LIST "" "*"')       # the store exists from here on
        root = os.path.dirname(self.maildir(c.user))
        before = sorted(os.listdir(root))
        inst_before = sorted(os.listdir(self.instance.dir))
        c.append("INBOX", simple_message(subject="to copy"))
        c.ok("SELECT INBOX")
        bad = ["../x", "..", "a/b", "/etc", "~x", "~root", ".hidden", "a..b",
               "..%s" % victim[0], "../%s" % victim[0], "x/../../%s" % victim[0],
               "INBOX/../x", ".", "INBOX..x", "Sub/.."]
        for name in bad:
            with self.subTest(name=name):
                for cmd in ("CREATE", "SELECT", "EXAMINE", "DELETE", "SUBSCRIBE"):
                    u, t = c.xcmd('%s "%s"' % (cmd, name))
                    if cmd == "SUBSCRIBE" and t.startswith(b"OK"):
                        continue   # subscribing to a name creates nothing
                    self.assertFalse(t.startswith(b"OK"), (cmd, name, t))
                u, t = c.xcmd('STATUS "%s" (MESSAGES)' % name)
                self.assertFalse(t.startswith(b"OK"), (name, t))
                u, t = c.xcmd('RENAME INBOX "%s"' % name)
                self.assertFalse(t.startswith(b"OK"), (name, t))
                u, t = c.xcmd('RENAME "%s" Stolen' % name)
                self.assertFalse(t.startswith(b"OK"), (name, t))
                for cmd in ("COPY", "MOVE", "UID COPY"):
                    u, t = c.xcmd('%s 1 "%s"' % (cmd, name))
                    self.assertFalse(t.startswith(b"OK"), (cmd, name, t))
                u, t = c.append('"%s"' % name, simple_message())
                self.assertFalse(t.startswith(b"OK"), (name, t))
        # control characters in names, via a literal
        for name in (b"a\x01b", b"tab\tname", b"nl\nname"):
            with self.subTest(name=name):
                u, t = c.xcmd("CREATE", name)
                self.assertFalse(t.startswith(b"OK"), (name, t))
        # LIST with a reference outside the store shows nothing of others
        for ref, pat in (('"../"', '"*"'), ('"/"', '"*"'), ('"~"', '"*"'), ('""', '"../*"')):
            u, t = c.xcmd("LIST %s %s" % (ref, pat))
            self.assertEqual([l for l in u if victim[0].encode() in l or b"secret" in l], [])
        self.assertEqual(sorted(os.listdir(root)), before)
        # nothing was created outside the user's Maildir, nor odd names in it
        self.assertEqual(sorted(os.listdir(self.instance.dir)), inst_before)
        folders = [n for n in os.listdir(self.maildir(c.user)) if n.startswith(".")]
        self.assertEqual(sorted(folders), sorted("." + n for n in SPECIAL_USE), folders)
        # the victim's mail is untouched, ours too
        self.assertEqual(len(self.message_files(victim)), 1)
        self.assertEqual(len(self.message_files(c.user)), 1)

    def test_modified_utf7_names(self):
        c = self.raw()
        # valid: "Entwürfe", "&" ("&-"), "日本語" (U+65E5 U+672C U+8A9E)
        for name in ("Entw&APw-rfe", "&-", "Tom &- Jerry", "&ZeVnLIqe-"):
            with self.subTest(name=name):
                u, t = c.xcmd('CREATE "%s"' % name)
                self.assertTrue(t.startswith(b"OK"), (name, t))
                self.assertIn(name, raw_list(c, '""', '"*"'))
                self.assertTrue(os.path.isdir(os.path.join(self.maildir(c.user), "." + name, "cur")))
                u, t = c.append('"%s"' % name, simple_message())
                self.assertTrue(t.startswith(b"OK"), t)
                u, t = c.ok('STATUS "%s" (MESSAGES)' % name)
                self.assertEqual(status_of(u)["MESSAGES"], 1)
        # invalid: unterminated base64, bad base64 length, bare "&",
        # base64 of printable ASCII (RFC 3501 5.1.3 MUST NOT), a lone
        # surrogate, raw 8-bit UTF-8
        for name in (b"&Jjo", b"x&", b"&AGE-", b"&AGEAYQ-", b"&2D0-", b"&Jjo!-",
                     "Entwürfe".encode()):
            with self.subTest(name=name):
                u, t = c.xcmd("CREATE", name)
                self.assertFalse(t.startswith(b"OK"), (name, t))
        listed = raw_list(c, '""', '"*"')
        for n in listed:
            self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in n), n)

    # -- several sessions, deliveries, IDLE ---------------------------------
    def test_two_sessions_see_each_other(self):
        a = self.raw()
        for i in range(3):
            a.append("INBOX", simple_message(subject="two%d" % i))
        b = self.raw(a.user)
        a.ok("SELECT INBOX")
        b.ok("SELECT INBOX")
        # flags
        b.ok("STORE 1 +FLAGS (\\Flagged)")
        u, t = a.ok("NOOP")
        fetches = [fetch_dict(l) for l in u if b" FETCH " in l]
        self.assertEqual(len(fetches), 1, u)
        self.assertEqual(fetches[0][0], 1)
        self.assertEqual(flags_of(fetches[0][1]) - {"\\Recent"}, {"\\Flagged"})
        # EXISTS
        b.append("INBOX", simple_message(subject="from b"))
        u, t = a.ok("NOOP")
        self.assertIn(b"* 4 EXISTS", u)
        # EXPUNGE
        b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        u, t = a.ok("NOOP")
        self.assertIn(b"* 2 EXPUNGE", u)
        self.assertEqual([int(d["UID"]) for d in a.fetch("1:*", "UID").values()], [1, 3, 4])
        # and the other way round, with a keyword
        a.ok("STORE 3 +FLAGS.SILENT (Later)")
        u, t = b.ok("NOOP")
        fetches = [fetch_dict(l) for l in u if b" FETCH " in l]
        self.assertEqual([(s, flags_of(d) - {"\\Recent"}) for s, d in fetches], [(3, {"Later"})])
        u, t = b.ok("NOOP")
        self.assertEqual(u, [])   # nothing new, nothing said

    def test_no_expunge_during_fetch_store_search(self):
        """RFC 3501 7.4.1: no untagged EXPUNGE while answering FETCH, STORE
        or SEARCH (sequence numbers would shift under the client)."""
        a = self.raw()
        for i in range(3):
            a.append("INBOX", simple_message(subject="ne%d" % i))
        b = self.raw(a.user)
        a.ok("SELECT INBOX")
        b.ok("SELECT INBOX")
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        for cmd in ("FETCH 1:* FLAGS", "STORE 3 +FLAGS (\\Seen)", "SEARCH ALL"):
            u, t = a.ok(cmd)
            self.assertEqual(expunged_numbers(u), [], (cmd, u))
        u, t = a.ok("NOOP")
        self.assertEqual(expunged_numbers(u), [1])

    def test_recent_belongs_to_one_session(self):
        a = self.raw()
        self.deliver(a.user, simple_message(subject="rc"))
        u, t = a.ok("STATUS INBOX (RECENT)")
        self.assertEqual(status_of(u)["RECENT"], 1)
        u, t = a.ok("SELECT INBOX")
        self.assertIn(b"* 1 RECENT", u)
        self.assertIn("\\Recent", flags_of(a.fetch("1", "FLAGS")[1]))
        b = self.raw(a.user)
        u, t = b.ok("SELECT INBOX")
        self.assertIn(b"* 0 RECENT", u)
        self.assertNotIn("\\Recent", flags_of(b.fetch("1", "FLAGS")[1]))
        u, t = b.ok("SEARCH RECENT")
        self.assertEqual(search_result(u), [])
        u, t = a.ok("SEARCH RECENT")
        self.assertEqual(search_result(u), [1])

    def test_deliver_appears_at_noop(self):
        M = self.imap()
        self.assertOK(*M.create("Lists"))
        typ, data = M.select("INBOX")
        self.assertEqual(data, [b"0"])
        msg = simple_message(subject="delivered by ctl")
        self.deliver(M.user, msg)
        typ, data = M.noop()
        self.assertOK(typ, data)
        self.assertEqual(M.response("EXISTS")[1][-1], b"1")
        self.assertEqual(imaplib_fetch(M, "1", "BODY.PEEK[]")[1]["BODY[]"], msg)
        # into a folder
        self.deliver(M.user, msg, "Lists")
        self.assertIn(b"MESSAGES 1", M.status("Lists", "(MESSAGES)")[1][0])
        # a file an MDA renames from tmp/ into new/ by hand
        root = self.maildir(M.user)
        name = "%d.M1P1.e2ehost" % int(time.time())
        with open(os.path.join(root, "tmp", name), "wb") as f:
            f.write(simple_message(subject="dropped"))
        os.rename(os.path.join(root, "tmp", name), os.path.join(root, "new", name))
        M.noop()
        self.assertEqual(M.response("EXISTS")[1][-1], b"2")
        got = imaplib_fetch(M, "2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] UID)")[2]
        self.assertEqual(got["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: dropped\r\n\r\n")
        self.assertEqual(int(got["UID"]), 2)

    def test_external_flag_change_seen_at_noop(self):
        """Another Maildir client renames a file (:2,S): a FETCH at NOOP."""
        c = self.raw()
        self.deliver(c.user, simple_message())
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS.SILENT (\\Answered)")
        c.ok("NOOP")
        (f,) = self.message_files(c.user)
        root = self.maildir(c.user)
        base = f.split("/", 1)[1].rsplit(":2,", 1)[0]
        os.rename(os.path.join(root, f), os.path.join(root, "cur", base + ":2,RS"))
        u, t = c.ok("NOOP")
        fetches = [fetch_dict(l) for l in u if b" FETCH " in l]
        self.assertEqual([(s, flags_of(d) - {"\\Recent"}) for s, d in fetches],
                         [(1, {"\\Answered", "\\Seen"})])
        self.assertEqual(int(c.fetch("1", "UID")[1]["UID"]), 1)

    def _idle(self, c):
        tag = c.next_tag()
        c.send("%s IDLE\r\n" % tag)
        cont = c.readline()
        self.assertTrue(cont.startswith(b"+"), cont)
        return tag

    def _idle_done(self, c, tag):
        c.send("DONE\r\n")
        u, t = c.read_tagged(tag, timeout=5)
        self.assertTrue(t.startswith(tag.encode() + b" OK"), t)
        return u

    def test_idle_reports_delivery(self):
        c = self.raw()
        c.ok("SELECT INBOX")
        tag = self._idle(c)
        time.sleep(0.2)
        t0 = time.monotonic()
        self.deliver(c.user, simple_message(subject="while idling"))
        line = c.readline(timeout=3)
        self.assertEqual(line, b"* 1 EXISTS")
        self.assertLess(time.monotonic() - t0, 3)
        rest = self._idle_done(c, tag)
        self.assertTrue(all(l in (b"* 1 RECENT",) for l in rest), rest)
        d = c.fetch("1", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")[1]
        self.assertEqual(list(d.values())[0], b"Subject: while idling\r\n\r\n")

    def test_idle_watch_follows_the_session_not_a_reused_descriptor(self):
        """IDLE watches the selected mailbox's own directory descriptors
        (/proc/self/fd/N): once one user's session has idled and left, the
        descriptor numbers are reused by another user's mailbox, and that
        session must be told of its own deliveries, not the first user's."""
        a = self.raw()
        a.ok("SELECT INBOX")
        tag = self._idle(a)
        time.sleep(0.2)
        self._idle_done(a, tag)
        a.ok("LOGOUT")
        b = self.raw()
        b.ok("SELECT INBOX")
        tag = self._idle(b)
        time.sleep(0.2)
        self.deliver(a.user, simple_message(subject="not for b"))
        self.deliver(b.user, simple_message(subject="for b"))
        self.assertEqual(b.readline(timeout=3), b"* 1 EXISTS")
        self._idle_done(b, tag)
        d = b.fetch("1", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")[1]
        self.assertEqual(list(d.values())[0], b"Subject: for b\r\n\r\n")

    def test_idle_on_subfolder_and_without_mailbox(self):
        c = self.raw()
        # authenticated state: IDLE is allowed, DONE ends it
        tag = self._idle(c)
        self._idle_done(c, tag)
        for box in ("Lists.Debian", "Entw&APw-rfe"):
            with self.subTest(box=box):
                c.ok('CREATE "%s"' % box)
                c.ok('SELECT "%s"' % box)
                tag = self._idle(c)
                time.sleep(0.2)
                for i in range(3):
                    self.deliver(c.user, simple_message(subject="burst %d" % i), box)
                seen = []
                deadline = time.monotonic() + 3
                while b"* 3 EXISTS" not in seen and time.monotonic() < deadline:
                    seen.append(c.readline(timeout=max(0.1, deadline - time.monotonic())))
                self.assertIn(b"* 3 EXISTS", seen)
                self._idle_done(c, tag)
                self.assertEqual(len(c.fetch("1:*", "UID")), 3)

    def test_idle_reports_other_sessions_changes(self):
        a = self.raw()
        for i in range(2):
            a.append("INBOX", simple_message(subject="ir%d" % i))
        b = self.raw(a.user)
        a.ok("SELECT INBOX")
        b.ok("SELECT INBOX")
        tag = self._idle(a)
        time.sleep(0.2)
        b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
        seq, d = fetch_dict(a.read_response(timeout=3))
        self.assertEqual((seq, flags_of(d) - {"\\Recent"}), (2, {"\\Flagged"}))
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        lines = []
        deadline = time.monotonic() + 3
        while b"* 1 EXPUNGE" not in lines and time.monotonic() < deadline:
            lines.append(a.read_response(timeout=3))
        self.assertIn(b"* 1 EXPUNGE", lines)
        self._idle_done(a, tag)
        self.assertEqual([int(d["UID"]) for d in a.fetch("1:*", "UID").values()], [2])


class FetchCacheTest(MailTestCase):
    """The per-folder cache of ENVELOPE/BODYSTRUCTURE/BODY (imapcid.cache):
    written on first FETCH, answers identically from the cache, and is
    rebuilt, never an error, when deleted or damaged."""

    ITEMS = "(ENVELOPE BODYSTRUCTURE BODY)"

    def test_cache_written_used_and_rebuilt(self):
        c = self.raw()
        for i in range(5):
            u, t = c.append("INBOX", simple_message(subject="cached %d" % i))
            self.assertTrue(t.startswith(b"OK"), t)
        c.ok("SELECT INBOX")
        u1, t = c.ok("FETCH 1:* " + self.ITEMS)
        path = os.path.join(self.folder_dir(c.user, "INBOX"), "imapcid.cache")
        self.assertTrue(os.path.exists(path))
        size = os.path.getsize(path)
        self.assertGreater(size, 0)
        # answered from the cache: byte-identical, and nothing appended
        u2, t = c.ok("FETCH 1:* " + self.ITEMS)
        self.assertEqual(u1, u2)
        self.assertEqual(os.path.getsize(path), size)
        # lost: the open session still answers the same; a new one
        # rebuilds the file
        os.unlink(path)
        u3, t = c.ok("FETCH 1:* " + self.ITEMS)
        self.assertEqual(u1, u3)
        c1 = self.raw(c.user)
        c1.ok("SELECT INBOX")
        u3, t = c1.ok("FETCH 1:* " + self.ITEMS)
        self.assertEqual(u1, u3)
        self.assertTrue(os.path.exists(path))
        # damaged: every byte after the header flipped -> records fail
        # their checksums, the answers are recomputed, still identical
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            for k in range(64, len(data)):
                data[k] ^= 0x5A
            f.seek(0)
            f.write(data)
        c2 = self.raw(c.user)
        c2.ok("SELECT INBOX")
        u4, t = c2.ok("FETCH 1:* " + self.ITEMS)
        self.assertEqual(u1, u4)


if __name__ == "__main__":
    unittest.main()
