"""A session that ends with something to write back (sizes learnt by reading
message files) has its mailbox closed on a worker thread: that close takes
the folder's lock and writes the uidlist, and the event loop must never wait
for a lock or the disk.  With one I/O thread, a connection opened while the
close waits on a held lock is still served at once, and the close completes
once the lock is free.
"""

import fcntl
import os
import time
import unittest

from harness import Conn
from mail_support import MailTestCase, wait_for


class MailCloseOffLoopTest(MailTestCase):
    # every connection on the same event loop: a blocked loop would stall
    # the second one
    server_overrides = {"io_threads": "1"}

    def test_close_waits_on_a_worker_not_the_loop(self):
        user = self.fresh_user()
        c = self.raw(user)
        c.ok('LIST "" INBOX')  # the store exists from here on
        root = self.maildir(user)
        # a delivery whose name carries no size: the server learns it by
        # reading the file, and keeps it for the uidlist at close
        name = "1700000001.M1P1.nosize"
        with open(os.path.join(root, "tmp", name), "wb") as f:
            f.write(b"Subject: no size\r\n\r\nbody\r\n")
        os.rename(os.path.join(root, "tmp", name),
                  os.path.join(root, "new", name))
        u, t = c.ok("SELECT INBOX")
        self.assertIn(b"* 1 EXISTS", u)
        u, t = c.ok("FETCH 1 RFC822.SIZE")
        self.assertIn(b"* 1 FETCH (RFC822.SIZE 26)", u)

        lock = open(os.path.join(root, "imapcid-uidlist.lock"), "a+")
        self.addCleanup(lock.close)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            u, t = c.ok("LOGOUT")
            # the close now waits for the lock (up to 30 s)
            t0 = time.monotonic()
            other = Conn(self.server.imaps_addr, tls=True, timeout=5)
            self.addCleanup(other.close)
            self.assertTrue(other.greeting.startswith(b"* OK"),
                            other.greeting)
            u, t = other.cmd("CAPABILITY")
            self.assertTrue(t.startswith(b"OK"), t)
            self.assertLess(time.monotonic() - t0, 3.0)
            with open(os.path.join(root, "dovecot-uidlist"), "rb") as f:
                self.assertNotIn(b"W26", f.read())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

        def size_written():
            with open(os.path.join(root, "dovecot-uidlist"), "rb") as f:
                return b"W26" in f.read()
        self.assertTrue(wait_for(size_written, timeout=10),
                        "the size was never written back")


if __name__ == "__main__":
    unittest.main()
