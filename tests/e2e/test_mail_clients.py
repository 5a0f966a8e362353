"""Real clients from Debian against imapcidd's store: isync's mbsync (a
two-way Maildir <-> IMAP synchroniser, as used on desktops) and curl's
IMAP support.  Skipped when the tool is not installed."""

import os
import re
import shutil
import tempfile
import unittest

from mail_support import MailTestCase, fetch_dict, run_tool, simple_message, status_of_line

MBSYNC = shutil.which("mbsync")
CURL = shutil.which("curl")


def subject_of(data):
    m = re.search(rb"^Subject: (.*?)\r?$", data, re.M)
    return m.group(1).decode() if m else None


def strip_tuid(data):
    """mbsync adds an X-TUID header to the messages it propagates (both
    ways), to find them again after an interruption; compare without it,
    with LF line ends."""
    return re.sub(rb"^X-TUID: [^\n]*\n", b"", data.replace(b"\r\n", b"\n"), flags=re.M)


class LocalMaildir:
    """mbsync's near side: Path DIR/, Inbox DIR/INBOX, SubFolders Verbatim."""

    def __init__(self, root):
        self.root = root

    def folder(self, name):
        return os.path.join(self.root, *name.split("/"))

    def messages(self, name):
        """{subject: (path, flags)} of a local folder."""
        out = {}
        d = self.folder(name)
        for sub in ("cur", "new"):
            p = os.path.join(d, sub)
            if not os.path.isdir(p):
                continue
            for f in os.listdir(p):
                path = os.path.join(p, f)
                with open(path, "rb") as fh:
                    subj = subject_of(fh.read())
                flags = f.rsplit(":2,", 1)[1] if ":2," in f else ""
                out[subj] = (path, flags)
        return out

    def add(self, name, data, counter=[0]):
        d = self.folder(name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        counter[0] += 1
        fname = "1700000000.local%d.testhost" % counter[0]
        with open(os.path.join(d, "tmp", fname), "wb") as f:
            f.write(data)
        os.rename(os.path.join(d, "tmp", fname), os.path.join(d, "new", fname))

    def set_flags(self, path, flags):
        base = os.path.basename(path).rsplit(":2,", 1)[0]
        new = os.path.join(os.path.dirname(os.path.dirname(path)), "cur", base + ":2," + flags)
        os.rename(path, new)


@unittest.skipUnless(MBSYNC, "mbsync (isync) is not installed")
class MbsyncTest(MailTestCase):

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="imapcid-mbsync-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.local = LocalMaildir(os.path.join(self.home, "Mail"))
        os.makedirs(self.local.root)

    def write_rc(self, user):
        host, port = self.server.imaps_addr
        assert host == "127.0.0.1"
        # the instance certificate names "localhost"; CertificateFile makes
        # mbsync trust exactly that certificate
        rc = "\n".join([
            "IMAPAccount acc",
            "Host localhost",
            "Port %d" % port,
            "User %s" % user[0],
            "Pass %s" % user[1],
            "SSLType IMAPS",
            "CertificateFile %s" % self.instance.cert,
            "SystemCertificates no",
            "AuthMechs LOGIN",
            "Timeout 10",
            "",
            "IMAPStore remote",
            "Account acc",
            "",
            "MaildirStore local",
            "Path %s/" % self.local.root,
            "Inbox %s/INBOX" % self.local.root,
            "SubFolders Verbatim",
            "",
            "Channel ch",
            "Far :remote:",
            "Near :local:",
            "Patterns *",
            "Create Both",
            "Expunge Both",
            "Remove None",
            "SyncState *",
            "Sync All",
            "CopyArrivalDate yes",
            "",
        ])
        with open(os.path.join(self.home, ".mbsyncrc"), "w") as f:
            f.write(rc)

    def mbsync(self):
        env = dict(os.environ, HOME=self.home)
        p = run_tool([MBSYNC, "-a"], env=env, timeout=60)
        self.assertEqual(p.returncode, 0, "mbsync failed:\nstdout %s\nstderr %s" % (
            p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")))
        # no protocol complaints from the client about our answers
        noise = [l for l in (p.stdout + p.stderr).decode(errors="replace").splitlines()
                 if re.search(r"(?i)error|warning|unexpected|malformed|bogus", l)]
        self.assertEqual(noise, [], "mbsync complained")
        return p

    def server_state(self, c, box):
        """{subject: (uid, flags, body)} of a server mailbox."""
        c.ok('EXAMINE "%s"' % box)
        out = {}
        u, t = c.ok("FETCH 1:* (UID FLAGS BODY.PEEK[])") if self._count(c, box) else ([], b"")
        for r in u:
            if b" FETCH " not in r:
                continue
            seq, d = fetch_dict(r)
            out[subject_of(d["BODY[]"])] = (int(d["UID"]), {str(f) for f in d["FLAGS"]} - {"\\Recent"},
                                            d["BODY[]"])
        c.ok("CLOSE")
        return out

    def _count(self, c, box):
        u, t = c.ok('STATUS "%s" (MESSAGES)' % box)
        return status_of_line(u)["MESSAGES"]

    def test_two_way_sync_of_a_folder_tree(self):
        user = self.fresh_user()
        c = self.raw(user)
        c.ok("CREATE Work")
        c.ok("CREATE Work.Sub")
        msgs = {s: simple_message(subject=s, body="Body of %s.\n" % s)
                for s in ("i1", "i2", "i3", "w1", "w2", "s1", "L1", "S2", "R1", "N1")}
        for s in ("i1", "i2", "i3"):
            c.append("INBOX", msgs[s])
        c.append("Work", msgs["w1"], flags="\\Seen")
        c.append("Work", msgs["w2"])
        c.append("Work.Sub", msgs["s1"], flags="$Label1")
        self.write_rc(user)

        # -- first sync: the server's tree comes down --------------------------
        self.mbsync()
        loc = {b: self.local.messages(b) for b in ("INBOX", "Work", "Work/Sub")}
        self.assertEqual(set(loc["INBOX"]), {"i1", "i2", "i3"})
        self.assertEqual(set(loc["Work"]), {"w1", "w2"})
        self.assertEqual(set(loc["Work/Sub"]), {"s1"})
        self.assertIn("S", loc["Work"]["w1"][1])
        self.assertNotIn("S", loc["Work"]["w2"][1])
        for b in loc:
            for s, (path, flags) in loc[b].items():
                with open(path, "rb") as f:
                    self.assertEqual(strip_tuid(f.read()), strip_tuid(msgs[s]), (b, s))
        for special in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
            self.assertTrue(os.path.isdir(self.local.folder(special)), special)

        # -- changes on both sides ---------------------------------------------
        # near (local): new message, flag change, deletion, new folder
        self.local.add("Work", msgs["L1"].replace(b"\r\n", b"\n"))
        path, flags = loc["INBOX"]["i1"]
        self.local.set_flags(path, "F" + flags)
        os.unlink(loc["INBOX"]["i2"][0])
        self.local.add("NewLocal", msgs["N1"].replace(b"\r\n", b"\n"))
        # far (server): new message, flag change, deletion, new folder
        c.append("Work.Sub", msgs["S2"])
        c.ok("SELECT Work")
        c.ok("UID STORE 2 +FLAGS.SILENT (\\Flagged \\Answered)")
        c.ok("SELECT INBOX")
        c.ok("UID STORE 3 +FLAGS.SILENT (\\Deleted)")
        c.ok("EXPUNGE")
        c.ok("CLOSE")
        c.ok("CREATE NewRemote")
        c.append("NewRemote", msgs["R1"], flags="\\Seen")

        # -- second sync: both ways ----------------------------------------------
        self.mbsync()
        srv = {b: self.server_state(c, b) for b in ("INBOX", "Work", "Work.Sub", "NewLocal",
                                                      "NewRemote")}
        self.assertEqual(set(srv["INBOX"]), {"i1"}, "local deletion of i2 not propagated")
        self.assertIn("\\Flagged", srv["INBOX"]["i1"][1], "local flag change not propagated")
        self.assertEqual(set(srv["Work"]), {"w1", "w2", "L1"})
        self.assertEqual(strip_tuid(srv["Work"]["L1"][2]), strip_tuid(msgs["L1"]))
        self.assertEqual(srv["Work"]["w2"][1], {"\\Flagged", "\\Answered"})
        self.assertEqual(set(srv["Work.Sub"]), {"s1", "S2"})
        self.assertIn("$Label1", srv["Work.Sub"]["s1"][1])   # kept by the server
        self.assertEqual(set(srv["NewLocal"]), {"N1"})
        self.assertEqual(strip_tuid(srv["NewLocal"]["N1"][2]), strip_tuid(msgs["N1"]))

        loc = {b: self.local.messages(b) for b in ("INBOX", "Work", "Work/Sub", "NewRemote")}
        self.assertEqual(set(loc["INBOX"]), {"i1"}, "server expunge of i3 not propagated")
        self.assertIn("F", loc["INBOX"]["i1"][1])
        self.assertEqual(set(loc["Work"]), {"w1", "w2", "L1"})
        self.assertEqual(sorted(loc["Work"]["w2"][1]), ["F", "R"], "server flags not propagated")
        self.assertEqual(set(loc["Work/Sub"]), {"s1", "S2"})
        with open(loc["Work/Sub"]["S2"][0], "rb") as f:
            self.assertEqual(strip_tuid(f.read()), strip_tuid(msgs["S2"]))
        self.assertEqual(set(loc["NewRemote"]), {"R1"})
        self.assertIn("S", loc["NewRemote"]["R1"][1])

        # -- third sync: nothing left to do; UIDs stay ---------------------------
        self.mbsync()
        again = {b: self.server_state(c, b) for b in srv}
        self.assertEqual({b: {s: v[:2] for s, v in m.items()} for b, m in again.items()},
                         {b: {s: v[:2] for s, v in m.items()} for b, m in srv.items()})
        self.assertEqual({b: set(self.local.messages(b)) for b in loc},
                         {b: set(m) for b, m in loc.items()})


@unittest.skipUnless(CURL, "curl is not installed")
class CurlTest(MailTestCase):

    def curl(self, user, url, *extra):
        host, port = self.server.imaps_addr
        full = "imaps://%s:%d/%s" % (host, port, url)
        p = run_tool([CURL, "-sS", "-k", "--max-time", "20", "--user", "%s:%s" % user,
                      "--url", full] + list(extra), timeout=30)
        self.assertEqual(p.returncode, 0, "curl %s failed (%d): %s" % (
            full, p.returncode, p.stderr.decode(errors="replace")))
        return p.stdout

    def test_fetch_message_by_uid(self):
        c = self.raw()
        m1 = simple_message(subject="first", body="one\n")
        m2 = simple_message(subject="second", body="two\nlines\n")
        c.append("INBOX", m1)
        c.append("INBOX", m2)
        self.assertEqual(self.curl(c.user, "INBOX;UID=1"), m1)
        self.assertEqual(self.curl(c.user, "INBOX;UID=2"), m2)
        self.assertEqual(self.curl(c.user, "INBOX;UID=2;SECTION=TEXT"), b"two\r\nlines\r\n")
        # curl reads with BODY[]: the message is now \Seen
        c.ok("EXAMINE INBOX")
        u, t = c.ok("FETCH 1:2 FLAGS")
        self.assertTrue(all(b"\\Seen" in l for l in u), u)

    def test_list_and_search(self):
        c = self.raw()
        c.ok("CREATE Projects")
        c.append("INBOX", simple_message(subject="needle here"))
        c.append("INBOX", simple_message(subject="hay"))
        out = self.curl(c.user, "")
        names = set(re.findall(rb'^\* LIST \([^)]*\) "\." "?([^"\r\n]*)"?\r?$', out, re.M))
        self.assertTrue({b"INBOX", b"Projects", b"Sent", b"Drafts", b"Trash", b"Junk",
                         b"Archive"} <= names, out)
        self.assertIn(b"\\Sent", out)
        out = self.curl(c.user, "INBOX?SUBJECT%20needle")
        self.assertEqual(out.strip(), b"* SEARCH 1")
        out = self.curl(c.user, "INBOX", "-X", "EXAMINE INBOX")
        self.assertIn(b"* 2 EXISTS", out)

    def test_upload_appends(self):
        c = self.raw()
        msg = simple_message(subject="uploaded by curl")
        path = os.path.join(self.instance.dir, "upload-%s.eml" % c.user[0])
        with open(path, "wb") as f:
            f.write(msg)
        self.curl(c.user, "INBOX", "-T", path)
        c.ok("EXAMINE INBOX")
        u, t = c.ok("FETCH 1 BODY.PEEK[]")
        self.assertEqual(fetch_dict(u[0])[1]["BODY[]"], msg)


if __name__ == "__main__":
    unittest.main()
