#!/usr/bin/env python3
"""bench/genmail.py: a deterministic, realistic Maildir++ folder for the mail
store benchmark (bench/mail.sh).

    bench/genmail.py OUTDIR [-n 10000] [--seed 20261128] [--subset 100 SUBDIR]

Writes OUTDIR/{cur,new,tmp} with N messages and OUTDIR/dovecot-uidlist
(version 3, UIDs 1..N in message order), so imapcidd and Dovecot number the
messages alike. With --subset K SUBDIR, SUBDIR gets the first K messages
(same files, own uidlist): the small INBOX of every benchmark user.

The messages (same bytes for the same seed and N, on any machine):
- sizes 2-50 KiB, log-uniform (median ~10 KiB);
- 55% text/plain, 25% multipart/alternative (text + HTML), 20% multipart/mixed
  with a base64 attachment (PDF, PNG, ZIP or DOCX, 30-90% of the message);
- headers as delivered: Return-Path, 2-4 Received, DKIM-Signature on half,
  Authentication-Results, From, To (1-4), Cc on a third, Subject (a sixth
  RFC 2047 encoded), Date, Message-ID, In-Reply-To/References on 30%,
  List-Id on 15%, X-Mailer/User-Agent, MIME headers;
- text from a fixed vocabulary with Zipf-like word frequencies, plus marker
  words at known rates, for SEARCH TEXT: "quarterly" in the text of 5% of
  messages, "zeppelin" in 0.5%, "xylophone" in none (the miss: a full scan).
  Marker words appear only in text/plain and text/html parts (7bit), never in
  headers or attachments.
- flags: 70% \\Seen, 5% \\Flagged, 10% \\Answered; mtime (INTERNALDATE) = the
  Date header, spread over two years before 2026-11-01.
Files are LF-terminated, named "<time>.M<n>P<pid>.benchgen,S=<size>,W=<crlf
size>:2,<flags>" in cur/.
"""
import argparse
import base64
import os
import random
import sys

MARKERS = [("quarterly", 0.05), ("zeppelin", 0.005)]  # "xylophone": never

FIRST = ("Anna Ben Carla David Elena Farid Greta Hugo Ines Jonas Karin Liam "
         "Maria Noah Olga Pavel Quinn Rosa Stefan Tara Umut Vera Walter Xenia "
         "Yusuf Zoe").split()
LAST = ("Schmidt Meyer Rossi Dubois Novak Kowalski Jensen Garcia Silva Brown "
        "Nguyen Tanaka Okafor Ivanova Larsen Moreau Fischer Costa Weber "
        "Horvat").split()
DOMAINS = ["example.com", "example.org", "example.net", "corp.example",
           "mail.example.de", "lists.example.org", "shop.example",
           "university.example.edu"]
SUBJ = ("Re: Fwd: Update on the project plan", "Meeting notes",
        "Invoice", "Your order has shipped", "Weekly report",
        "Question about the contract", "Lunch on Friday?",
        "Build failed", "Review request", "Holiday schedule",
        "Budget draft", "Newsletter", "Travel booking confirmation",
        "Minutes of the board meeting", "Security advisory",
        "Photos from the trip", "Agenda for next week",
        "Reminder: timesheets due", "Welcome aboard", "Release candidate")
ENCSUBJ = ("Grüße aus München", "Réunion de l'équipe", "Café à 10h?",
           "Año nuevo, planes nuevos", "Zusammenfassung für Q3")
WORDS = ("the of and to a in is that for it as with was on be by this are at "
         "from or have an not which but all were when we there can more if "
         "will about would one other what their so some them these may into "
         "time only new could also after first any two should like our how "
         "then its people over such than most been work through where much "
         "each those year well before good many same still use part between "
         "project team meeting report budget customer review plan schedule "
         "server release update deadline contract invoice travel office "
         "please thanks regards attached draft version feedback question "
         "agree discuss call tomorrow next week monday friday morning "
         "afternoon document proposal change issue status numbers figures "
         "results design test build deploy network storage backup policy "
         "support ticket order shipping delivery payment account access "
         "holiday vacation training workshop conference slides summary "
         "notes action items follow decision approve confirm available "
         "room calendar invite agenda minutes board quarter target growth "
         "sales market product launch launchpad roadmap milestone risk").split()
ATTACH = [("application/pdf", "report.pdf"), ("image/png", "screenshot.png"),
          ("application/zip", "archive.zip"),
          ("application/vnd.openxmlformats-officedocument."
           "wordprocessingml.document", "minutes.docx")]
MAILERS = ["X-Mailer: Microsoft Outlook 16.0",
           "User-Agent: Mozilla Thunderbird 115.4.1",
           "X-Mailer: Apple Mail (2.3731.700.6)",
           "User-Agent: Roundcube Webmail/1.6.5", "X-Mailer: K-9 Mail 6.7"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
END = 1793491200  # 2026-11-01 00:00 UTC
SPAN = 2 * 365 * 86400


def rfc2822_date(t, tz_min):
    import time
    lt = time.gmtime(t + tz_min * 60)
    sign = "+" if tz_min >= 0 else "-"
    tz = abs(tz_min)
    return "%s, %d %s %d %02d:%02d:%02d %s%02d%02d" % (
        DAYS[lt.tm_wday], lt.tm_mday, MONTHS[lt.tm_mon - 1], lt.tm_year,
        lt.tm_hour, lt.tm_min, lt.tm_sec, sign, tz // 60, tz % 60)


def person(r):
    f, l, d = r.choice(FIRST), r.choice(LAST), r.choice(DOMAINS)
    return "%s %s" % (f, l), "%s.%s@%s" % (f.lower(), l.lower(), d)


def addr(r):
    name, a = person(r)
    return '"%s" <%s>' % (name, a) if r.random() < 0.3 else "%s <%s>" % (name, a)


def enc_word(s):
    return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()


def text(r, nbytes, markers):
    """Paragraphs of Zipf-ish words, about nbytes long, markers sprinkled in."""
    out, n, line = [], 0, []
    llen = 0
    ws = WORDS
    place = {}
    for m in markers:  # where each marker goes, in word positions
        place.setdefault(r.randrange(max(1, nbytes // 6)), []).append(m)
    i = 0
    while n < nbytes:
        w = ws[min(int(r.paretovariate(1.2)) - 1 + r.randrange(3), len(ws) - 1)
               if r.random() < 0.6 else r.randrange(len(ws))]
        for m in place.pop(i, ()):
            w = w + " " + m
        i += 1
        if llen + len(w) + 1 > 72:
            out.append(" ".join(line))
            n += llen + 1
            line, llen = [], 0
            if r.random() < 0.12:
                out.append("")
                n += 1
        line.append(w)
        llen += len(w) + 1
    if line:
        out.append(" ".join(line))
    for ms in place.values():  # text shorter than planned: append the rest
        out.append(" ".join(ms))
    return "\n".join(out) + "\n"


def b64_block(r, nbytes):
    raw = r.randbytes(nbytes * 3 // 4)
    b = base64.b64encode(raw).decode()
    return "\n".join(b[i:i + 76] for i in range(0, len(b), 76)) + "\n"


def message(r, i, target, t):
    markers = [m for m, p in MARKERS if r.random() < p]
    tz = r.choice([0, 60, 120, -300, -480, 330, 540])
    frm_name, frm = person(r)
    dom = frm.split("@")[1]
    h = ["Return-Path: <%s>" % frm]
    hop_t = t
    for k in range(r.randint(2, 4)):
        hop_t -= r.randint(0, 4)
        h.append("Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mail.example.com"
                 " (Postfix) with ESMTPS id %08X%02X\n\tfor <user@example.com>; %s"
                 % (k + 1, dom, k + 1, dom, r.randint(1, 254), r.getrandbits(32), k,
                    rfc2822_date(hop_t, 0)))
    if r.random() < 0.5:
        sig = base64.b64encode(r.randbytes(128)).decode()
        h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n"
                 "\ts=sel1; t=%d; h=from:to:subject:date:message-id;\n"
                 "\tbh=%s;\n\tb=%s\n\t%s" % (dom, t, base64.b64encode(r.randbytes(32)).decode(),
                                            sig[:70], sig[70:]))
    h.append("Authentication-Results: mail.example.com; spf=pass smtp.mailfrom=%s;"
             " dkim=pass header.d=%s" % (dom, dom))
    h.append("From: %s <%s>" % (frm_name, frm))
    h.append("To: " + ",\n ".join(addr(r) for _ in range(r.randint(1, 4))))
    if r.random() < 0.33:
        h.append("Cc: " + ",\n ".join(addr(r) for _ in range(r.randint(1, 3))))
    if r.random() < 1 / 6:
        subj = enc_word(r.choice(ENCSUBJ))
    else:
        subj = r.choice(SUBJ) + (" #%d" % r.randint(100, 9999) if r.random() < 0.5 else "")
    h.append("Subject: " + subj)
    h.append("Date: " + rfc2822_date(t, tz))
    h.append("Message-ID: <%d.%08x@%s>" % (t, r.getrandbits(32), dom))
    if r.random() < 0.3:
        ref = "<%d.%08x@%s>" % (t - r.randint(3600, 9 * 86400), r.getrandbits(32), dom)
        h.append("In-Reply-To: " + ref)
        h.append("References: " + ref)
    if r.random() < 0.15:
        h.append("List-Id: Team discussion <team.lists.example.org>")
    h.append(r.choice(MAILERS))
    h.append("MIME-Version: 1.0")

    kind = r.random()
    hdr_len = sum(len(x) + 1 for x in h)
    room = max(300, target - hdr_len - 200)
    if kind < 0.55:
        h.append("Content-Type: text/plain; charset=utf-8")
        h.append("Content-Transfer-Encoding: 7bit")
        body = text(r, room, markers)
    elif kind < 0.80:
        b = "=_alt_%08x" % r.getrandbits(32)
        h.append('Content-Type: multipart/alternative; boundary="%s"' % b)
        plain = text(r, room * 2 // 5, markers)
        html = "<html><body>\n" + "".join(
            "<p>%s</p>\n" % p for p in plain.split("\n\n")) + "</body></html>\n"
        body = ("This is a multi-part message in MIME format.\n\n"
                "--%s\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 7bit\n\n%s\n--%s\n"
                "Content-Type: text/html; charset=utf-8\n"
                "Content-Transfer-Encoding: 7bit\n\n%s\n--%s--\n"
                % (b, plain, b, html, b))
    else:
        b = "=_mix_%08x" % r.getrandbits(32)
        h.append('Content-Type: multipart/mixed; boundary="%s"' % b)
        share = r.uniform(0.3, 0.9)
        att = int(room * share)
        ctype, fname = r.choice(ATTACH)
        body = ("--%s\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 7bit\n\n%s\n--%s\n"
                'Content-Type: %s; name="%s"\n'
                'Content-Disposition: attachment; filename="%s"\n'
                "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n"
                % (b, text(r, max(200, room - att), markers), b, ctype, fname,
                   fname, b64_block(r, att), b))
    return ("\n".join(h) + "\n\n" + body).encode()


def flags(r):
    f = ""
    if r.random() < 0.10:
        f += "R"
    if r.random() < 0.70:
        f += "S"
    if r.random() < 0.05:
        f = "F" + f
    return "".join(sorted(f))


def write_uidlist(d, names, uidvalidity):
    with open(os.path.join(d, "dovecot-uidlist"), "w") as f:
        f.write("3 V%d N%d\n" % (uidvalidity, len(names) + 1))
        for uid, base in enumerate(names, 1):
            f.write("%d :%s\n" % (uid, base))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--subset", nargs=2, metavar=("K", "SUBDIR"))
    a = ap.parse_args()
    r = random.Random(a.seed)
    for s in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(a.outdir, s), exist_ok=True)
    times = sorted(END - SPAN + r.randrange(SPAN) for _ in range(a.n))
    names, files, total = [], [], 0
    counts = {m: 0 for m, _ in MARKERS}
    for i in range(a.n):
        target = int(2048 * (25 ** r.random()))  # 2 KiB .. 50 KiB, log-uniform
        msg = message(r, i, target, times[i])
        if len(msg) > 50 * 1024:  # the cap holds however the parts add up
            msg = msg[:50 * 1024 - 1].rsplit(b"\n", 1)[0] + b"\n"
        for m in counts:
            counts[m] += m.encode() in msg
        base = "%d.M%dP%d.benchgen" % (times[i], i, 4242)
        base += ",S=%d,W=%d" % (len(msg), len(msg) + msg.count(b"\n"))
        fn = "%s:2,%s" % (base, flags(r))
        p = os.path.join(a.outdir, "cur", fn)
        with open(p, "wb") as f:
            f.write(msg)
        os.utime(p, (times[i], times[i]))
        names.append(base)
        files.append(fn)
        total += len(msg)
    write_uidlist(a.outdir, names, 1700000000)
    if a.subset:
        k, sub = int(a.subset[0]), a.subset[1]
        for s in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(sub, s), exist_ok=True)
        for fn in files[:k]:
            src = os.path.join(a.outdir, "cur", fn)
            dst = os.path.join(sub, "cur", fn)
            with open(src, "rb") as f, open(dst, "wb") as g:
                g.write(f.read())
            st = os.stat(src)
            os.utime(dst, (st.st_mtime, st.st_mtime))
        write_uidlist(sub, names[:k], 1700000001)
    print("genmail: %d messages, %.1f MiB, marker hits %s" % (
        a.n, total / 1048576, " ".join("%s=%d" % kv for kv in counts.items())))


if __name__ == "__main__":
    sys.exit(main())
