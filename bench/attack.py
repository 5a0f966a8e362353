#!/usr/bin/python3
"""bench/attack.py: credential attack behind one shared (CGNAT) address.

Python 3 standard library only; loopback only (127.0.0.0/8).

Scenario (one run, same machine, same seeded workload for both servers):
  * LEGIT legitimate devices, one per account user0..user{LEGIT-1}, each its
    own UUID token, each logging in 3-5 times spread over the run.
  * TOKENS attacker tokens.  The attacker holds the right password of
    user0..user{KNOWN-1} and guesses wrong passwords on the other accounts;
    each token makes 2-4 attempts, one after the other (its next attempt
    starts when the previous one is answered); token start times are spread
    over the run, so attacker and legitimate logins are interleaved.
  * Every connection (legitimate and attacker) comes from the same source
    address (--source, default 127.0.0.9), bound with source_address, over
    implicit TLS (verification off), and sends CLIENTID UUID <token> before
    LOGIN.

Configurations:
  (A) policy: imapcidd policy_mode=enforce; the legitimate devices were
      trusted beforehand by one learn-mode login each
      (policy_mode=learn, policy_learn_devices=1, on the same state).
      Default budgets.
  (B) fail2ban-style baseline: the same server with policy_mode=off
      (CLIENTID plays no part) and an address budget like fail2ban's
      defaults (ratelimit_address_free=5, ratelimit_address_block=5,
      ratelimit_window=10m, ratelimit_block_time=10m).
  (C) learn mode: the legitimate devices trusted beforehand as in (A)
      (policy_learn_devices=1, so every account's learned slot is taken),
      then the run with policy_mode=learn (policy_learn_devices=1): a right
      password from a new device logs in, is recorded pending and alerted
      (new-device-success); none may become trusted.  Default budgets.

Each client role (legitimate, attacker) runs in its own Python process (one
asyncio loop, one coroutine per device or token, no cap on connections held
beyond --legit-conns / --attack-conns) so that one does not hold the other's
GIL.  An attacker token waits for each answer before its next attempt, as an
IMAP client does, so the server's tarpit delays hold its connections open.  Server CPU is utime+stime from
/proc/PID/stat, sampled just before the workload starts and after both
clients are done.

Usage:
  bench/attack.py run [--duration S] [--markdown FILE] [--json FILE] ...
  bench/attack.py client SPEC.json OUT.json      (internal)
"""

import argparse
import hashlib
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# The client side: one IMAP login attempt
# ---------------------------------------------------------------------------

def _client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Bye(Exception):
    pass


async def _tagged(reader, tag, deadline, loop):
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise asyncio.TimeoutError()
        line = await asyncio.wait_for(reader.readline(), left)
        if not line:
            raise ConnectionError("closed by server")
        if line.startswith(tag + b" "):
            return line[len(tag) + 1:].rstrip(b"\r\n")
        if line.startswith(b"* BYE"):
            raise _Bye(line.rstrip(b"\r\n")[:200].decode(errors="replace"))


async def login_attempt(ctx, addr, source, token, user, password, timeout):
    """One connection: TLS, greeting, CLIENTID, LOGIN, LOGOUT on success.
    Returns a dict: result ok|no|bad|error, rtt (LOGIN sent -> tagged
    answer, seconds), total (connect -> answer), stage and detail on error."""
    loop = asyncio.get_running_loop()
    r = {"result": "error", "rtt": None, "total": None, "stage": "connect", "detail": ""}
    t0 = loop.time()
    deadline = t0 + timeout
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            addr[0], addr[1], ssl=ctx, server_hostname="localhost",
            local_addr=(source, 0), limit=1 << 16), timeout)
        try:
            r["lport"] = writer.get_extra_info("sockname")[1]
        except (TypeError, IndexError):
            pass
        r["stage"] = "greeting"
        left = deadline - loop.time()
        g = await asyncio.wait_for(reader.readline(), max(left, 0.001))
        if not g.startswith(b"* OK"):
            r["detail"] = "greeting %r" % g.rstrip()[:200].decode(errors="replace")
            return r
        if token is not None:
            r["stage"] = "clientid"
            writer.write(b"a CLIENTID UUID " + token.encode() + b"\r\n")
            resp = await _tagged(reader, b"a", deadline, loop)
            if not resp.startswith(b"OK"):
                r["detail"] = "CLIENTID answered %r" % resp[:200]
                return r
        r["stage"] = "login"
        t1 = loop.time()
        writer.write(("b LOGIN %s %s\r\n" % (_q(user), _q(password))).encode())
        resp = await _tagged(reader, b"b", deadline, loop)
        t2 = loop.time()
        r["rtt"] = t2 - t1
        r["total"] = t2 - t0
        r["answer"] = resp[:120].decode(errors="replace")
        if resp.startswith(b"OK"):
            r["result"] = "ok"
            r["stage"] = "logout"
            try:
                writer.write(b"c LOGOUT\r\n")
                await _tagged(reader, b"c", loop.time() + 5, loop)
            except (OSError, ConnectionError, asyncio.TimeoutError, _Bye, ssl.SSLError):
                pass
        elif resp.startswith(b"NO"):
            r["result"] = "no"
        else:
            r["result"] = "bad"
        r["stage"] = "done"
        return r
    except asyncio.TimeoutError:
        r["detail"] = "timeout (%.0f s)" % timeout
    except _Bye as e:
        r["detail"] = str(e)
    except (OSError, ConnectionError, ssl.SSLError, EOFError) as e:
        r["detail"] = "%s: %s" % (type(e).__name__, e)
    finally:
        _close(writer)
    r["total"] = loop.time() - t0
    return r


def _close(writer):
    if writer is not None:
        try:
            writer.transport.abort()
        except Exception:
            pass


async def _run_jobs(spec):
    """Start every job at its time; a job's attempts are made one after the
    other (the next starts when the previous is answered).  Returns the
    attempt records."""
    ctx = _client_ctx()
    loop = asyncio.get_running_loop()
    addr = tuple(spec["addr"])
    t0 = spec["t0"]                  # epoch seconds (shared by both roles)
    hard = t0 + spec["hard_stop"]    # no attempt starts after this
    timeout = spec["timeout"]
    sem = asyncio.Semaphore(spec["max_conns"])
    recs = []

    async def job(j):
        wait = t0 + j["t"] - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        for k, a in enumerate(j["attempts"]):
            rec = {"job": j["id"], "k": k, "user": a["user"], "right": a["right"],
                   "sched": j["t"] if k == 0 else None}
            if time.time() > hard:
                rec["start"] = time.time() - t0
                rec["result"] = "skipped"
                recs.append(rec)
                continue
            async with sem:
                rec["start"] = time.time() - t0
                rec.update(await login_attempt(ctx, addr, spec["source"], j["token"],
                                               a["user"], a["password"], timeout))
            recs.append(rec)

    await asyncio.gather(*(job(j) for j in spec["jobs"]))
    return recs


def _quiet_asyncio(loop, context):
    # aborted TLS transports may report errors after the attempt was counted
    pass


def run_jobs(spec):
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_asyncio)
    try:
        return loop.run_until_complete(_run_jobs(spec))
    finally:
        loop.close()


def client_main(spec_path, out_path):
    try:
        soft, hardlim = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hardlim, hardlim))
    except (ValueError, OSError):
        pass
    with open(spec_path) as f:
        spec = json.load(f)
    recs = run_jobs(spec)
    with open(out_path + ".tmp", "w") as f:
        json.dump(recs, f)
    os.replace(out_path + ".tmp", out_path)


# ---------------------------------------------------------------------------
# The server side
# ---------------------------------------------------------------------------

def sh(cmd, input=None, timeout=60, cwd=None):
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    if p.returncode != 0:
        raise RuntimeError("%r failed (%d): %s %s" % (cmd, p.returncode,
                           p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


class Instance:
    """A directory with config, certificate, passwd and state."""

    def __init__(self, base, name, cert, key, passwd):
        self.dir = os.path.join(base, name)
        os.mkdir(self.dir, 0o700)
        for src, dst in ((cert, "cert.pem"), (key, "key.pem"), (passwd, "passwd")):
            shutil.copyfile(src, os.path.join(self.dir, dst))
            os.chmod(os.path.join(self.dir, dst), 0o600)
        os.mkdir(os.path.join(self.dir, "state"), 0o700)
        os.mkdir(os.path.join(self.dir, "mail"), 0o700)
        self.conf = os.path.join(self.dir, "imapcidd.conf")
        with open(self.conf, "w") as f:
            f.write("listen_imap =\n"
                    "listen_imaps = 127.0.0.1:0\n"
                    "tls_cert = cert.pem\n"
                    "tls_key = key.pem\n"
                    "passdb_file = passwd\n"
                    "state_dir = state\n"
                    "registry_file = state/registry.db\n"
                    "mail_dir = mail\n"
                    "log = stderr\n"
                    "log_level = info\n")


class Daemon:
    def __init__(self, binary, inst, overrides, logname):
        self.binary = binary
        self.inst = inst
        self.overrides = overrides
        self.log = os.path.join(inst.dir, logname)
        self.proc = None
        self.addr = None
        self.cmd = [binary, "-c", inst.conf]
        for k, v in overrides:
            self.cmd += ["-o", "%s=%s" % (k, v)]

    def effective(self):
        """imapcidd -t: every key with its effective value."""
        return sh(self.cmd + ["-t"], cwd=self.inst.dir)

    def start(self, timeout=20):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=self.inst.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if re.search(r" info: ready$", text, re.M):
                m = re.search(r"listening on imaps (\S+):(\d+)$", text, re.M)
                self.addr = (m.group(1), int(m.group(2)))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        rc = self.stop()
        raise RuntimeError("imapcidd did not become ready (rc %r): %s\n%s"
                           % (rc, self.cmd, self.log_text()[-3000:]))

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="backslashreplace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            rest = f.read().rpartition(")")[2].split()
        return int(rest[11]) + int(rest[12])   # utime, stime (fields 14, 15)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after timeout.  Returns (rc, killed)."""
        if self.proc is None:
            return None
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                killed = True
        self.logf.close()
        self.killed = killed
        return self.proc.returncode


# ---------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------

def make_workload(a):
    rng = random.Random(a.seed)
    D = a.duration
    users = ["user%d" % i for i in range(a.legit)]
    passwords = {u: "pw-%s-%08x" % (u, rng.getrandbits(32)) for u in users}
    legit_tokens = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in users]
    legit_jobs = []
    for i, u in enumerate(users):
        n = rng.randint(a.legit_min, a.legit_max)
        slot = D / n
        for s in range(n):
            t = s * slot + rng.uniform(0, slot)
            legit_jobs.append({"id": "d%d.%d" % (i, s), "t": round(t, 3),
                               "token": legit_tokens[i], "dev": i,
                               "attempts": [{"user": u, "password": passwords[u],
                                             "right": True}]})
    known = users[:a.known]
    others = users[a.known:]
    attack_jobs = []
    for k in range(a.tokens):
        tok = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        n = rng.randint(a.attempts_min, a.attempts_max)
        atts = []
        for _ in range(n):
            if rng.random() < a.p_right:
                u = rng.choice(known)
                atts.append({"user": u, "password": passwords[u], "right": True})
            else:
                u = rng.choice(others)
                atts.append({"user": u, "password": "guess-%08x" % rng.getrandbits(32),
                             "right": False})
        attack_jobs.append({"id": "x%d" % k, "t": round(rng.uniform(0, a.attack_span * D), 3),
                            "token": tok, "attempts": atts})
    return users, passwords, legit_tokens, legit_jobs, attack_jobs


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------

def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(1, int(-(-p * len(s) // 100)))
    return s[min(k, len(s)) - 1]


def _is_cap_bye(r):
    """Turned away at connect by a connection cap (* BYE instead of a greeting)."""
    return r["result"] == "error" and r.get("stage") == "greeting" and "BYE" in r.get("detail", "")


def summarize(legit, attack, afd_s, thr_s):
    out = {}
    att = [r for r in attack if r["result"] != "skipped"]
    ok = [r for r in att if r["result"] == "ok"]
    out["att_attempts"] = len(att)
    out["att_skipped"] = sum(1 for r in attack if r["result"] == "skipped")
    out["att_right"] = sum(1 for r in att if r["right"])
    out["att_ok"] = len(ok)
    out["att_no"] = sum(1 for r in att if r["result"] == "no")
    out["att_err"] = sum(1 for r in att if r["result"] in ("error", "bad"))
    out["att_bye"] = sum(1 for r in att if _is_cap_bye(r))
    out["takeovers"] = sorted({r["user"] for r in ok}, key=lambda u: int(u[4:]))
    art = [r["rtt"] for r in att if r["rtt"] is not None]
    out["att_rtt_med"] = statistics.median(art) if art else None
    out["att_rtt_p99"] = pct(art, 99)
    out["att_rtt_max"] = max(art) if art else None
    out["att_last_end"] = max((r["start"] + (r["total"] or 0) for r in att), default=None)

    lg = [r for r in legit if r["result"] != "skipped"]
    out["leg_attempts"] = len(lg)
    out["leg_skipped"] = sum(1 for r in legit if r["result"] == "skipped")
    out["leg_ok"] = sum(1 for r in lg if r["result"] == "ok")
    out["leg_refused"] = sum(1 for r in lg if r["result"] == "no")
    out["leg_bye"] = sum(1 for r in lg if _is_cap_bye(r))
    out["leg_err"] = sum(1 for r in lg if r["result"] in ("error", "bad")) - out["leg_bye"]
    out["leg_err_detail"] = sorted({"%s: %s" % (r["stage"], r["detail"][:160])
                                    for r in lg if r["result"] in ("error", "bad")})[:10]
    out["leg_devices_bye"] = len({r["user"] for r in lg if _is_cap_bye(r)})
    out["att_err_detail"] = sorted({"%s: %s" % (r["stage"], r["detail"][:160])
                                    for r in att if r["result"] in ("error", "bad")})[:10]
    out["connections"] = sum(1 for r in lg + att if r.get("stage") != "connect")
    rtt = [r["rtt"] for r in lg if r["rtt"] is not None]
    tot = [r["total"] for r in lg if r["rtt"] is not None]
    out["leg_delayed"] = sum(1 for x in rtt if x > afd_s + thr_s)
    out["leg_rtt_med"] = statistics.median(rtt) if rtt else None
    out["leg_rtt_p99"] = pct(rtt, 99)
    out["leg_rtt_max"] = max(rtt) if rtt else None
    out["leg_tot_med"] = statistics.median(tot) if tot else None
    out["leg_tot_p99"] = pct(tot, 99)
    late = [r["start"] - r["sched"] for r in lg if r.get("sched") is not None]
    out["leg_late_max"] = max(late) if late else None
    # first refusal of a legitimate login (seconds into the run)
    ref = [r["start"] for r in lg if r["result"] == "no"]
    out["leg_first_refused"] = min(ref) if ref else None
    # devices that never got in / got refused at least once
    out["leg_devices_refused"] = len({r["user"] for r in lg if r["result"] == "no"})
    return out


def timeline(legit, attack, a, nbins=4):
    """Per part of the run: legitimate logins, refusals, latency; attacker
    attempts and successes.  Plus the peak of connections held at once."""
    D = float(a.duration)
    edges = [D * i / nbins for i in range(nbins)] + [float("inf")]
    rows = []
    for i in range(nbins):
        lo, hi = edges[i], edges[i + 1]
        lg = [r for r in legit if r["result"] != "skipped" and lo <= r["start"] < hi]
        at = [r for r in attack if r["result"] != "skipped" and lo <= r["start"] < hi]
        rtt = [r["rtt"] for r in lg if r["rtt"] is not None]
        rows.append({"from": lo, "to": hi if hi != float("inf") else None,
                     "leg": len(lg), "leg_refused": sum(1 for r in lg if r["result"] == "no"),
                     "leg_err": sum(1 for r in lg if r["result"] in ("error", "bad")),
                     "leg_bye": sum(1 for r in lg if _is_cap_bye(r)),
                     "leg_med": statistics.median(rtt) if rtt else None,
                     "leg_p99": pct(rtt, 99),
                     "att": len(at), "att_ok": sum(1 for r in at if r["result"] == "ok")})
    ev = []
    for r in legit + attack:
        if r["result"] != "skipped" and r.get("total") is not None:
            ev.append((r["start"], 1))
            ev.append((r["start"] + r["total"], -1))
    ev.sort()
    cur = peak = 0
    for _, d in ev:
        cur += d
        peak = max(peak, cur)
    return {"bins": rows, "peak_conns": peak}


_AUTH_LINE = re.compile(r" info: auth: user=(\S+) peer=(\S+) mech=\S+ clientid=(\S+) "
                        r"mode=(\S+) result=(ok|fail)(?: reason=\"([^\"]*)\")?")


def log_stats(text, since_line):
    lines = text.splitlines()[since_line:]
    reasons = {}
    oks = 0
    alerts = {}
    problems = []
    for l in lines:
        m = _AUTH_LINE.search(l)
        if m:
            if m.group(5) == "ok":
                oks += 1
            else:
                reasons[m.group(6) or "?"] = reasons.get(m.group(6) or "?", 0) + 1
            continue
        m = re.search(r"Z (?:info|warn): alert: event=(\S+)", l)
        if m:
            alerts[m.group(1)] = alerts.get(m.group(1), 0) + 1
            continue
        if re.search(r"Z (error|warn): ", l) or "Sanitizer" in l or "runtime error" in l:
            problems.append(l)
    return {"auth_ok": oks, "auth_fail": reasons, "alerts": alerts,
            "problems": problems[:20], "problem_count": len(problems)}


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------

def log(msg):
    sys.stderr.write("[attack.py %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def _machine_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def run_clients(tmp, tag, daemon, a, legit_jobs, attack_jobs):
    """Both roles at once, each its own process.  Returns a dict."""
    t0 = time.time() + 1.5
    hard = a.duration * 1.0 + a.grace
    procs = []
    outs = {}
    for role, jobs, conns in (("legit", legit_jobs, a.legit_conns),
                              ("attack", attack_jobs, a.attack_conns)):
        spec = {"addr": list(daemon.addr), "source": a.source, "t0": t0, "hard_stop": hard,
                "timeout": a.timeout, "max_conns": conns, "jobs": jobs}
        sp = os.path.join(tmp, "%s-%s-spec.json" % (tag, role))
        outs[role] = os.path.join(tmp, "%s-%s-out.json" % (tag, role))
        with open(sp, "w") as f:
            json.dump(spec, f)
        procs.append((role, subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                              "client", sp, outs[role]])))
    while time.time() < t0 - 0.2:
        time.sleep(0.05)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m0 = _machine_ticks()
    la0 = open("/proc/loadavg").read().split()[:3]
    cpu0 = daemon.cpu_ticks()
    w0 = time.monotonic()
    limit = hard + a.timeout + 30     # every attempt starts by `hard`, ends by +timeout
    failed = []
    for role, p in procs:
        left = max(1.0, t0 + limit - time.time())
        try:
            rc = p.wait(left)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            rc = "killed"
        if rc != 0:
            failed.append("%s client rc %r" % (role, rc))
    wall = time.monotonic() - w0
    alive = daemon.alive()
    cpu1 = daemon.cpu_ticks() if alive else None
    m1 = _machine_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    la1 = open("/proc/loadavg").read().split()[:3]
    if failed:
        raise RuntimeError("%s: %s" % (tag, ", ".join(failed)))
    res = {}
    for role in outs:
        with open(outs[role]) as f:
            res[role] = json.load(f)
    hz = os.sysconf("SC_CLK_TCK")
    cpu = (cpu1 - cpu0) / hz if cpu1 is not None else None
    clients = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy = (m1[0] - m0[0]) / hz
    capacity = (m1[1] - m0[1]) / hz
    return {"legit": res["legit"], "attack": res["attack"], "cpu": cpu, "wall": wall,
            "alive": alive, "clients_cpu": clients, "machine_busy": busy,
            "machine_capacity": capacity,
            "other_cpu": (busy - (cpu or 0) - clients) if cpu is not None else None,
            "loadavg": (la0, la1)}


def ctl(binary, inst, *args, input=None):
    return sh([binary, "-c", inst.conf] + list(args), input=input, cwd=inst.dir)


def trusted_count(ctlbin, inst, users, fps_by_user=None):
    """Devices per state over the given accounts (imapcidctl device list --json)."""
    states = {}
    per_user_trusted = {}
    for u in users:
        out = ctl(ctlbin, inst, "device", "list", u, "--json")
        data = json.loads(out) if out.strip() else []
        if isinstance(data, dict):
            data = data.get("devices", [])
        n = 0
        for d in data:
            st = d.get("state")
            states[st] = states.get(st, 0) + 1
            if st == "trusted":
                n += 1
        per_user_trusted[u] = n
    return states, per_user_trusted


def effective_subset(text, keys):
    got = {}
    for l in text.splitlines():
        k, _, v = l.partition(" = ")
        if k.strip() in keys:
            got[k.strip()] = v.strip()
    return got


def main_run(a):
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)
    daemon_bin = os.path.join(build, "imapcidd")
    ctl_bin = os.path.join(build, "imapcidctl")
    for b in (daemon_bin, ctl_bin):
        if not os.access(b, os.X_OK):
            raise SystemExit("missing %s (ninja -C build)" % b)
    if not a.source.startswith("127."):
        raise SystemExit("--source must be a loopback address (127.0.0.0/8)")

    tmp = tempfile.mkdtemp(prefix="imapcid-attack-")
    daemons = []
    started = time.monotonic()
    try:
        # Private copies: a rebuild during the run must not change the
        # binary between the configurations.
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        for b in ("imapcidd", "imapcidctl"):
            shutil.copy2(os.path.join(build, b), os.path.join(bindir, b))
        daemon_bin = os.path.join(bindir, "imapcidd")
        ctl_bin = os.path.join(bindir, "imapcidctl")
        with open(daemon_bin, "rb") as f:
            a.daemon_sha256 = hashlib.sha256(f.read()).hexdigest()
        a.daemon_mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
            os.stat(os.path.join(build, "imapcidd")).st_mtime))
        # -- shared material: certificate, passwd (real hashes, imapcidctl) --
        seed_dir = os.path.join(tmp, "seed")
        os.mkdir(seed_dir, 0o700)
        cert, key = os.path.join(seed_dir, "cert.pem"), os.path.join(seed_dir, "key.pem")
        sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
            "-days", "2", "-keyout", key, "-out", cert])
        users, passwords, legit_tokens, legit_jobs, attack_jobs = make_workload(a)
        # imapcidctl user add, in a few shards at once (each its own passwd
        # file), joined in account order.
        log("hashing %d passwords with %s (imapcidctl user add)" % (len(users), a.scheme))
        nshards = max(1, min(8, len(users) // 25))
        shards = [Instance(tmp, "seed-inst%d" % k, cert, key, os.devnull) for k in range(nshards)]

        def add_shard(k):
            for u in users[k::nshards]:
                ctl(ctl_bin, shards[k], "user", "add", "-s", a.scheme, u,
                    input=(passwords[u] + "\n").encode())
        ths = [threading.Thread(target=add_shard, args=(k,)) for k in range(nshards)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        lines = {}
        for sh_ in shards:
            with open(os.path.join(sh_.dir, "passwd")) as f:
                for l in f:
                    if l.strip():
                        lines[l.split(":", 1)[0]] = l.rstrip("\n")
        if sorted(lines) != sorted(users):
            raise RuntimeError("passwd: expected %d accounts, got %d" % (len(users), len(lines)))
        passwd = os.path.join(seed_dir, "passwd")
        with open(passwd, "w") as f:
            for u in users:
                f.write(lines[u] + "\n")

        afd = a.auth_failure_delay
        common = [("auth_failure_delay", afd), ("auth_workers", a.auth_workers),
                  ("io_threads", a.io_threads)]
        configs = {
            "A": {"label": "(A) imapcidd policy: enforce, devices trusted",
                  "over": common + [("policy_mode", "enforce")]},
            "C": {"label": "(C) imapcidd policy: learn, devices trusted (learned slot taken)",
                  "over": common + [("policy_mode", "learn"), ("policy_learn_devices", "1")]},
            "B": {"label": "(B) per-address blocking (fail2ban-like), policy off",
                  "over": common + [("policy_mode", "off"),
                                    ("ratelimit_address_free", "5"),
                                    ("ratelimit_address_block", "5"),
                                    ("ratelimit_window", "10m"),
                                    ("ratelimit_block_time", "10m")]},
        }
        keys = ["auth_failure_delay", "auth_workers", "io_threads", "policy_mode",
                "policy_device_connections", "auth_cache_ttl", "auth_cache_size",
                "ratelimit_window", "ratelimit_block_time", "ratelimit_delay_base",
                "ratelimit_delay_max", "ratelimit_token_free", "ratelimit_token_block",
                "ratelimit_account_free", "ratelimit_account_block",
                "ratelimit_address_free", "ratelimit_address_block",
                "detect_token_accounts", "detect_token_window", "detect_token_block",
                "max_connections_per_ip", "policy_learn_devices", "registry_pending_max",
                "ratelimit_network_free", "ratelimit_network_block"]
        extra = []
        for kv in a.set:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                raise SystemExit("--set KEY=VALUE: %r" % kv)
            extra.append((k.strip(), v.strip()))
            if k.strip() not in keys:
                keys.append(k.strip())
        for cfg in configs.values():
            cfg["over"] = cfg["over"] + extra
        results = {}
        order = a.order.split(",")
        for tag in order:
            cfg = configs[tag]
            inst = Instance(tmp, "inst-" + tag, cert, key, passwd)
            r = {"label": cfg["label"]}
            if tag in ("A", "C"):
                # Trust the legitimate devices: one learn-mode login each.
                learn_over = [o for o in cfg["over"] if o[0] != "policy_mode"] + \
                             [("policy_mode", "learn"), ("policy_learn_devices", "1")]
                d = Daemon(daemon_bin, inst, learn_over, "learn.log")
                daemons.append(d)
                d.start()
                log("%s: learn phase, %d devices log in once from %s" % (tag, len(users), a.source))
                lspec = {"addr": list(d.addr), "source": a.source, "t0": time.time(),
                         "hard_stop": 3600, "timeout": a.timeout, "max_conns": 16,
                         "jobs": [{"id": "l%d" % i, "t": 0, "token": legit_tokens[i],
                                   "attempts": [{"user": u, "password": passwords[u],
                                                 "right": True}]}
                                  for i, u in enumerate(users)]}
                byjob = {x["job"]: x for x in run_jobs(lspec)}
                for _ in range(3):    # bounded retries, one device at a time
                    bad = [j for j in lspec["jobs"] if byjob[j["id"]]["result"] != "ok"]
                    if not bad:
                        break
                    for j in bad:
                        lspec2 = dict(lspec, t0=time.time(), max_conns=1, jobs=[j])
                        byjob[j["id"]] = run_jobs(lspec2)[0]
                lr = list(byjob.values())
                learn_ok = sum(1 for x in lr if x["result"] == "ok")
                rc = d.stop()
                r["learn_ok"] = learn_ok
                r["learn_rc"] = rc
                states, per_user = trusted_count(ctl_bin, inst, users)
                r["learn_states"] = states
                r["learn_users_with_1_trusted"] = sum(1 for u in users if per_user[u] == 1)
                log("%s: learn phase: %d/%d logins ok, devices %r, server exit %r"
                    % (tag, learn_ok, len(users), states, rc))
                if learn_ok != len(users) or r["learn_users_with_1_trusted"] != len(users):
                    r["learn_problem"] = [x for x in lr if x["result"] != "ok"][:5]
            d = Daemon(daemon_bin, inst, cfg["over"], "run.log")
            daemons.append(d)
            r["cmd"] = " ".join(os.path.basename(c) if i == 0 else c
                                for i, c in enumerate(d.cmd)).replace(tmp, "$TMP")
            r["effective"] = effective_subset(d.effective(), keys)
            d.start()
            mark = len(d.log_text().splitlines())
            log("%s: workload: %d legitimate logins, %d attacker tokens (%d attempts), %ss"
                % (tag, len(legit_jobs), len(attack_jobs),
                   sum(len(j["attempts"]) for j in attack_jobs), a.duration))
            cr = run_clients(tmp, tag, d, a, legit_jobs, attack_jobs)
            legit, attack, cpu, wall, alive = (cr["legit"], cr["attack"], cr["cpu"],
                                               cr["wall"], cr["alive"])
            for k in ("clients_cpu", "machine_busy", "machine_capacity", "other_cpu",
                      "loadavg"):
                r[k] = cr[k]
            r["timeline"] = timeline(legit, attack, a)
            r["alive_after"] = alive
            r["rss_kib"] = d.rss_kib() if alive else None
            r["summary"] = summarize(legit, attack, a.auth_failure_delay_ms / 1000.0,
                                    a.delay_threshold)
            answered = sum(1 for x in legit + attack if x.get("rtt") is not None)
            r["answered"] = answered
            r["cpu_s"] = cpu
            r["wall_s"] = wall
            r["cpu_ms_per_login"] = (cpu * 1000 / answered) if (cpu is not None and answered) else None
            time.sleep(0.5)
            r["log"] = log_stats(d.log_text(), mark)
            if tag in ("A", "C"):
                states, per_user = trusted_count(ctl_bin, inst, users[:max(a.known, 1)])
                r["after_states_known"] = states
                # each account had one trusted device (its legitimate one)
                # before the run: more are the attacker's
                r["attacker_trusted"] = sum(max(0, n - 1) for n in per_user.values())
                r["known_without_trusted"] = sum(1 for n in per_user.values() if n < 1)
            rc = d.stop()
            r["rc"] = rc
            r["killed"] = getattr(d, "killed", False)
            r["log_tail"] = d.log_text().splitlines()[-15:]
            s = r["summary"]
            log("%s: takeovers %d, attacker ok %d, legit %d attempted / %d ok / %d NO / %d BYE"
                " at connect / %d other errors / %d delayed, cpu %.2fs, exit %r"
                % (tag, len(s["takeovers"]), s["att_ok"], s["leg_attempts"], s["leg_ok"],
                   s["leg_refused"], s["leg_bye"], s["leg_err"], s["leg_delayed"], cpu or -1, rc))
            results[tag] = r
        report = {"args": vars(a), "results": results,
                  "legit_logins": len(legit_jobs),
                  "attack_attempts": sum(len(j["attempts"]) for j in attack_jobs),
                  "attack_right": sum(1 for j in attack_jobs for x in j["attempts"] if x["right"]),
                  "runtime_s": time.monotonic() - started}
        md = markdown(report, a)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(md)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f, indent=1, default=str)
        sys.stdout.write(md)
        return report
    finally:
        for d in daemons:
            if d.alive():
                d.stop()
        if a.keep_tmp:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _f(x, fmt="%.3f"):
    return "n/a" if x is None else fmt % x


def _ms(x):
    return "n/a" if x is None else "%.1f ms" % (x * 1000)


def markdown(rep, a):
    R = rep["results"]
    tags = [t for t in a.order.split(",") if t in R]
    thr = a.auth_failure_delay_ms / 1000.0 + a.delay_threshold
    L = []
    L.append("### Settings\n")
    L.append("- Workload (seed %d, the same for every configuration): %d legitimate devices (user0..user%d, one UUID "
             "token each, %d-%d logins each spread over %d s: %d logins); %d attacker tokens, "
             "%d-%d attempts each one after the other (%d attempts, %d of them with the right "
             "password of user0..user%d, the rest wrong passwords on user%d..user%d), token "
             "starts spread over the first %d%% of the run. Every connection from %s "
             "(source_address), implicit TLS, `CLIENTID UUID <token>` then `LOGIN`."
             % (a.seed, a.legit, a.legit - 1, a.legit_min, a.legit_max, a.duration,
                rep["legit_logins"], a.tokens, a.attempts_min, a.attempts_max,
                rep["attack_attempts"], rep["attack_right"], a.known - 1, a.known, a.legit - 1,
                int(a.attack_span * 100), a.source))
    L.append("- Passwords: %s (imapcidctl user add). auth_failure_delay=%s. Delayed = LOGIN "
             "answered more than %.1f s after it was sent (auth_failure_delay + %.1f s). "
             "Latency = LOGIN sent to tagged answer, as seen by the client."
             % (a.scheme, a.auth_failure_delay, thr, a.delay_threshold))
    if "A" in R:
        A = R["A"]
        L.append("- (A): devices trusted beforehand by one login each with policy_mode=learn, "
                 "policy_learn_devices=1 (%d/%d ok; registry after: %s); then restarted with "
                 "policy_mode=enforce on the same state. Effective: %s."
                 % (A.get("learn_ok", 0), a.legit, A.get("learn_states"),
                    ", ".join("%s=%s" % kv for kv in A["effective"].items())))
    if "B" in R:
        L.append("- (B): policy_mode=off, fail2ban-like address budget. Effective: %s."
                 % ", ".join("%s=%s" % kv for kv in R["B"]["effective"].items()))
    if "C" in R:
        C = R["C"]
        L.append("- (C): devices trusted beforehand as in (A) (%d/%d ok; registry after: %s); "
                 "then restarted with policy_mode=learn, policy_learn_devices=1 on the same "
                 "state, so every account's learned slot is taken. Effective: %s."
                 % (C.get("learn_ok", 0), a.legit, C.get("learn_states"),
                    ", ".join("%s=%s" % kv for kv in C["effective"].items())))
    if a.set:
        L.append("- **Extra settings for every configuration (--set): %s.**" % ", ".join(a.set))
    L.append("- Server CPU: utime+stime of imapcidd from /proc/PID/stat over the workload, "
             "divided by the LOGIN commands answered (legitimate + attacker; each on its own "
             "TLS connection, so handshakes are included). Clients (two Python processes) "
             "run on the same %d-CPU machine." % os.cpu_count())
    L.append("- Order: %s, one after the other; total runtime %.0f s. All ran the same "
             "copy of imapcidd (built %s, sha256 %s...)."
             % (" then ".join(tags), rep["runtime_s"], a.daemon_mtime, a.daemon_sha256[:16]))
    L.append("")
    L.append("### Results\n")
    hdr = ["", *[R[t]["label"] for t in tags]]
    rows = []

    def row(name, fn):
        rows.append([name] + [fn(R[t]) for t in tags])
    row("accounts taken over (distinct)", lambda r: "%d of %d" % (len(r["summary"]["takeovers"]), a.known))
    row("attacker logins succeeded", lambda r: "%d" % r["summary"]["att_ok"])

    def _dev(r, fn):
        return fn(r) if "after_states_known" in r else "n/a (policy off)"
    row("attacker devices that became trusted (user0..user%d had 1 trusted device each)"
        % (a.known - 1), lambda r: _dev(r, lambda r: "%d" % r["attacker_trusted"]))
    row("attacker devices recorded pending (registry after the run, user0..user%d; at most "
        "registry_pending_max per account are kept)" % (a.known - 1),
        lambda r: _dev(r, lambda r: "%d" % r["after_states_known"].get("pending", 0)))
    row("alerts: new-device-success / device-trusted / unknown-device-refused (log)",
        lambda r: "%d / %d / %d" % tuple(r["log"]["alerts"].get(e, 0) for e in (
            "new-device-success", "device-trusted", "unknown-device-refused")))
    row("attacker attempts made / answered NO / turned away at connect (BYE) / other errors",
        lambda r: "%d / %d / %d / %d" % (r["summary"]["att_attempts"], r["summary"]["att_no"],
                                          r["summary"]["att_bye"],
                                          r["summary"]["att_err"] - r["summary"]["att_bye"]))
    row("attacker attempts not made (run over)", lambda r: "%d" % r["summary"]["att_skipped"])
    row("legitimate logins attempted", lambda r: "%d" % r["summary"]["leg_attempts"])
    row("legitimate logins succeeded", lambda r: "%d" % r["summary"]["leg_ok"])
    row("legitimate logins refused: NO at LOGIN", lambda r: "%d (%d devices)" % (
        r["summary"]["leg_refused"], r["summary"]["leg_devices_refused"]))
    row("legitimate logins refused: turned away at connect, `* BYE Too many connections "
        "from your address.`", lambda r: "%d (%d devices)" % (
            r["summary"]["leg_bye"], r["summary"]["leg_devices_bye"]))
    row("legitimate logins failed otherwise (no answer)", lambda r: "%d" % r["summary"]["leg_err"])
    row("legitimate logins delayed (> %.1f s)" % thr, lambda r: "%d" % r["summary"]["leg_delayed"])
    row("legitimate login latency median", lambda r: _ms(r["summary"]["leg_rtt_med"]))
    row("legitimate login latency p99", lambda r: _ms(r["summary"]["leg_rtt_p99"]))
    row("legitimate login latency max", lambda r: _ms(r["summary"]["leg_rtt_max"]))
    row("legitimate connect+TLS+CLIENTID+LOGIN median / p99",
        lambda r: "%s / %s" % (_ms(r["summary"]["leg_tot_med"]), _ms(r["summary"]["leg_tot_p99"])))
    row("attacker LOGIN latency median / p99",
        lambda r: "%s / %s" % (_ms(r["summary"]["att_rtt_med"]), _ms(r["summary"]["att_rtt_p99"])))
    row("server CPU (utime+stime)", lambda r: _f(r["cpu_s"], "%.2f s"))
    row("LOGIN commands answered", lambda r: "%d" % r["answered"])
    row("server CPU per login", lambda r: _f(r["cpu_ms_per_login"], "%.2f ms"))
    row("TLS connections accepted / server CPU per connection", lambda r: "%d / %s" % (
        r["summary"]["connections"],
        _f(r["cpu_s"] * 1000 / r["summary"]["connections"] if r["cpu_s"] is not None
           and r["summary"]["connections"] else None, "%.2f ms")))
    row("workload wall time", lambda r: "%.0f s" % r["wall_s"])
    row("peak connections from %s at once" % a.source, lambda r: "%d" % r["timeline"]["peak_conns"])
    row("CPU of the rest of the machine during the run (not imapcidd, not the clients)",
        lambda r: "%.0f s of %.0f s (load avg %s -> %s)" % (
            r["other_cpu"] or 0, r["machine_capacity"], r["loadavg"][0][0], r["loadavg"][1][0]))
    row("client CPU (both Python processes)", lambda r: "%.1f s" % r["clients_cpu"])
    row("server failures by reason (log)", lambda r: ", ".join(
        "%s: %d" % kv for kv in sorted(r["log"]["auth_fail"].items(), key=lambda kv: -kv[1])) or "-")
    row("server log errors/warnings", lambda r: "%d" % r["log"]["problem_count"])
    row("server alive after run / exit status on SIGTERM",
        lambda r: "%s / %r" % ("yes" if r["alive_after"] else "NO", r["rc"]))
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for rw in rows:
        L.append("| " + " | ".join(rw) + " |")
    L.append("")
    L.append("### Over the run\n")
    L.append("Attempts by the time they started (seconds into the run); legitimate latency "
             "is LOGIN sent to answer.\n")
    L.append("| config | part of run | legitimate logins | NO | BYE at connect | other errors | "
             "latency median | latency p99 | attacker attempts | attacker ok |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for t in tags:
        for b in R[t]["timeline"]["bins"]:
            L.append("| %s | %.0f-%s s | %d | %d | %d | %d | %s | %s | %d | %d |" % (
                t, b["from"], "%.0f" % b["to"] if b["to"] is not None else "end",
                b["leg"], b["leg_refused"], b["leg_bye"], b["leg_err"] - b["leg_bye"],
                _ms(b["leg_med"]),
                _ms(b["leg_p99"]), b["att"], b["att_ok"]))
    L.append("")
    notes = []
    for t in tags:
        r = R[t]
        s = r["summary"]
        if s["takeovers"]:
            notes.append("- %s: accounts taken over: %s." % (t, ", ".join(s["takeovers"])))
        if s["leg_first_refused"] is not None:
            notes.append("- %s: first legitimate refusal %.1f s into the run." % (t, s["leg_first_refused"]))
        if s["leg_err_detail"]:
            notes.append("- %s: legitimate errors (distinct): %s" % (t, "; ".join(s["leg_err_detail"])))
        if s["att_err_detail"]:
            notes.append("- %s: attacker errors (distinct): %s" % (t, "; ".join(s["att_err_detail"])))
        if r["log"]["alerts"]:
            notes.append("- %s: alerts raised: %s." % (t, ", ".join(
                "%s: %d" % kv for kv in sorted(r["log"]["alerts"].items()))))
        if t == "C" and "attacker_trusted" in r:
            notes.append("- C: attacker devices that became trusted: %d (must be 0: every account's "
                         "learned slot was taken): %s; attacker logins that got in: %d, "
                         "new-device-success alerts: %d."
                         % (r["attacker_trusted"],
                            "**met**" if r["attacker_trusted"] == 0 else "**NOT MET**",
                            s["att_ok"], r["log"]["alerts"].get("new-device-success", 0)))
        if r.get("known_without_trusted"):
            notes.append("- %s: %d of user0..user%d have no trusted device after the run."
                         % (t, r["known_without_trusted"], a.known - 1))
        if r.get("after_states_known"):
            notes.append("- %s: registry after the run, devices of user0..user%d by state: %s."
                         % (t, a.known - 1, r["after_states_known"]))
        if r["log"]["problems"]:
            notes.append("- %s: server log problems (first %d of %d):\n```\n%s\n```"
                         % (t, len(r["log"]["problems"]), r["log"]["problem_count"],
                            "\n".join(r["log"]["problems"])))
        if not r["alive_after"] or r["rc"] != 0:
            notes.append("- %s: SERVER PROBLEM: alive after run=%r, exit status %r; log tail:\n```\n%s\n```"
                         % (t, r["alive_after"], r["rc"], "\n".join(r["log_tail"])))
        if r.get("learn_problem"):
            notes.append("- %s: LEARN PHASE PROBLEM: %r" % (t, r["learn_problem"]))
        notes.append("- %s: command: `%s`" % (t, r["cmd"]))
    if notes:
        L.append("### Notes\n")
        L.extend(notes)
        L.append("")
    return "\n".join(L) + "\n"


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "client":
        client_main(sys.argv[2], sys.argv[3])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--build", default=os.environ.get("IMAPCID_BUILD", "build"))
    r.add_argument("--duration", type=int, default=150, help="seconds over which logins are spread")
    r.add_argument("--grace", type=int, default=30,
                   help="attacker attempts may still start this long after the run; later ones are not made")
    r.add_argument("--legit", type=int, default=200)
    r.add_argument("--legit-min", type=int, default=3)
    r.add_argument("--legit-max", type=int, default=5)
    r.add_argument("--tokens", type=int, default=2000)
    r.add_argument("--attempts-min", type=int, default=2)
    r.add_argument("--attempts-max", type=int, default=4)
    r.add_argument("--known", type=int, default=50, help="accounts whose password the attacker holds")
    r.add_argument("--p-right", type=float, default=0.4, help="share of attacker attempts with a right password")
    r.add_argument("--attack-span", type=float, default=0.8,
                   help="attacker tokens start within this share of the run")
    r.add_argument("--source", default="127.0.0.9")
    r.add_argument("--scheme", default="ARGON2ID")
    r.add_argument("--auth-failure-delay-ms", type=int, default=0)
    r.add_argument("--auth-workers", default="0")
    r.add_argument("--io-threads", default="0")
    r.add_argument("--delay-threshold", type=float, default=1.0)
    r.add_argument("--timeout", type=float, default=70.0, help="per attempt, seconds")
    r.add_argument("--legit-conns", type=int, default=500,
                   help="most connections the legitimate client holds at once")
    r.add_argument("--attack-conns", type=int, default=5000,
                   help="most connections the attacker client holds at once")
    r.add_argument("--seed", type=int, default=20261128)
    r.add_argument("--order", default="A,B,C", help="configurations to run, in this order")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra imapcidd setting for every configuration (repeatable)")
    r.add_argument("--markdown")
    r.add_argument("--json")
    r.add_argument("--keep-tmp", action="store_true")
    a = p.parse_args()
    a.auth_failure_delay = "%dms" % a.auth_failure_delay_ms
    if a.duration > 600 or a.tokens > 100000 or a.legit > 10000:
        raise SystemExit("bounds: duration <= 600 s, tokens <= 100000, legit <= 10000")
    if a.known > a.legit:
        raise SystemExit("--known must be <= --legit")
    main_run(a)


if __name__ == "__main__":
    main()
