#!/usr/bin/python3
"""bench/spray.py: password spraying against imapcidd's failure budgets.

Python 3 standard library only (plus bench/out/loadgen for the large runs);
loopback only (127.0.0.0/8).

Small runs, each on a freshly started server (defaults of
docs/CONFIGURATION.md, auth_failure_delay=0, one account "demo" in the
passwd file, ARGON2ID): from ONE source address (--source), --parallel
connections at once, each attempt its own TLS connection:
`[CLIENTID UUID <token>]` then `LOGIN sprayedN <one wrong password>`, a
different (non-existent) account each time:
  (a) no CLIENTID, --attempts-a attempts (60)
  (b) a fresh random UUID per attempt, --attempts attempts (150)
  (c) --rotate UUIDs (5) in rotation, --attempts attempts
  (d) one fixed UUID, --attempts attempts
An attempt is "unthrottled" when the client saw the answer less than
--threshold seconds (1 s) after sending LOGIN, and the server's auth log
line for it has no `tarpit=` and no `reason="rate limited"`; both counts are
reported, and the attempts that are unthrottled by both.

Large runs (--big N, 100,000; 0 skips them), each on a fresh server with
default retention settings: N sprayed attempts, a fresh UUID each, made by
`bench/out/loadgen spray` (--big-conc connections at once, a TLS connection
per attempt, since CLIENTID may be given once per connection), from many
source addresses in 127.0.0.0/8 (--big-per-address attempts per address,
--big-per-network addresses per /24: below the address and network
budgets' free failures, so every attempt is processed rather than refused
early). Unknown users verify a dummy hash of default_pass_scheme; the large
runs set it to --big-scheme (PLAIN: no hashing cost) so 100,000 attempts fit
in minutes on 2 cores (with ARGON2ID they would take ~40 min of CPU). The
registry (registry.db + -wal) is sampled every 2 s; reported: its size and
row counts (audit, devices) at the end and at their peak. Then the same with
registry_audit_max_rows=--big-cap (10,000), to show the cap holds.

Usage:
  bench/spray.py run [--markdown FILE] [--json FILE] [options]
"""

import argparse
import asyncio
import hashlib
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import attack  # noqa: E402  (Instance, Daemon, login_attempt, sh, pct)


def log(msg):
    sys.stderr.write("[spray.py %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


_AUTH = re.compile(r" info: auth: user=(\S+)(?: login=\S+)? peer=(\S+) mech=\S+ clientid=(\S+) "
                   r"mode=\S+ result=(ok|fail)(?: reason=\"([^\"]*)\")?(?: tarpit=(\d+)ms)?")


def parse_log(text, since_line=0):
    """Auth lines by user (the last one for each), alerts, problems."""
    by_user = {}
    alerts = {}
    problems = []
    retention = 0
    for l in text.splitlines()[since_line:]:
        m = _AUTH.search(l)
        if m:
            by_user[m.group(1)] = {"peer": m.group(2), "clientid": m.group(3),
                                   "result": m.group(4), "reason": m.group(5) or "",
                                   "tarpit_ms": int(m.group(6)) if m.group(6) else 0}
            continue
        m = re.search(r"Z (?:info|warn): alert: event=(\S+)", l)
        if m:
            alerts[m.group(1)] = alerts.get(m.group(1), 0) + 1
            continue
        m = re.search(r"registry: retention removed (\d+) audit rows", l)
        if m:
            retention += int(m.group(1))
            continue
        if re.search(r"Z (error|warn): ", l) and "running as root" not in l:
            problems.append(l)
    return {"by_user": by_user, "alerts": alerts, "problems": problems,
            "retention_removed": retention}


def registry_stats(path):
    """Sizes of registry.db and its -wal, and row counts (read-only)."""
    st = {"db_bytes": None, "wal_bytes": None, "audit": None, "devices": None,
          "devices_by_state": {}}
    for k, suf in (("db_bytes", ""), ("wal_bytes", "-wal")):
        try:
            st[k] = os.stat(path + suf).st_size
        except OSError:
            st[k] = 0 if suf else None
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            st["audit"] = con.execute("SELECT count(*) FROM audit").fetchone()[0]
            st["devices"] = con.execute("SELECT count(*) FROM devices").fetchone()[0]
            st["devices_by_state"] = dict(con.execute(
                "SELECT state, count(*) FROM devices GROUP BY state").fetchall())
        finally:
            con.close()
    except sqlite3.Error as e:
        st["error"] = str(e)
    return st


def _mib(b):
    return "n/a" if b is None else "%.2f MiB" % (b / 1048576.0)


# ---------------------------------------------------------------------------
# small runs: one address, N parallel connections
# ---------------------------------------------------------------------------

async def _spray(addr, source, parallel, attempts, timeout):
    ctx = attack._client_ctx()
    nxt = iter(attempts)
    recs = []

    async def worker():
        for at in nxt:
            t = time.monotonic()
            r = await attack.login_attempt(ctx, addr, source, at["token"], at["user"],
                                           at["password"], timeout)
            r.update(at)
            r["t_start"] = t
            recs.append(r)

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return recs


def run_spray(addr, source, parallel, attempts, timeout):
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(attack._quiet_asyncio)
    try:
        return loop.run_until_complete(_spray(addr, source, parallel, attempts, timeout))
    finally:
        loop.close()


def make_attempts(kind, n, password, rng_tokens):
    if kind == "a":
        toks = [None] * n
    elif kind == "b":
        toks = [str(uuid.uuid4()) for _ in range(n)]
    elif kind == "c":
        pool = [str(uuid.uuid4()) for _ in range(rng_tokens)]
        toks = [pool[i % len(pool)] for i in range(n)]
    else:
        one = str(uuid.uuid4())
        toks = [one] * n
    return [{"i": i + 1, "user": "sprayed%d" % (i + 1), "token": toks[i], "password": password}
            for i in range(n)]


KIND_LABEL = {"a": "no CLIENTID",
              "b": "a fresh random UUID per attempt",
              "c": "%d UUIDs in rotation",
              "d": "one fixed UUID"}


def small_run(a, tmp, daemon_bin, cert, key, passwd, kind):
    n = a.attempts_a if kind == "a" else a.attempts
    inst = attack.Instance(tmp, "inst-" + kind, cert, key, passwd)
    over = [("auth_failure_delay", "0")] + a.extra
    d = attack.Daemon(daemon_bin, inst, over, "server.log")
    r = {"kind": kind, "attempts": n,
         "label": KIND_LABEL[kind] % a.rotate if kind == "c" else KIND_LABEL[kind],
         "cmd": " ".join(os.path.basename(c) if i == 0 else c
                         for i, c in enumerate(d.cmd)).replace(tmp, "$TMP"),
         "effective": attack.effective_subset(d.effective(), EFFECTIVE_KEYS)}
    d.start()
    try:
        attempts = make_attempts(kind, n, a.password, a.rotate)
        log("(%s) %s: %d attempts from %s, %d in parallel" % (kind, r["label"], n, a.source,
                                                             a.parallel))
        cpu0 = d.cpu_ticks()
        t0 = time.monotonic()
        recs = run_spray(d.addr, a.source, a.parallel, attempts, a.timeout)
        r["wall_s"] = time.monotonic() - t0
        time.sleep(0.5)
        hz = os.sysconf("SC_CLK_TCK")
        r["cpu_s"] = (d.cpu_ticks() - cpu0) / hz
        r["registry"] = registry_stats(os.path.join(inst.dir, "state", "registry.db"))
        lg = parse_log(d.log_text())
    finally:
        rc = d.stop()
    r["rc"] = rc
    r["registry_after_stop"] = {k: v for k, v in registry_stats(
        os.path.join(inst.dir, "state", "registry.db")).items() if k.endswith("bytes")}
    byu = lg["by_user"]
    answered = [x for x in recs if x["rtt"] is not None]
    r["answered"] = len(answered)
    r["answered_no"] = sum(1 for x in recs if x["result"] == "no")
    r["answered_ok"] = sum(1 for x in recs if x["result"] == "ok")
    r["errors"] = sorted({"%s: %s" % (x["stage"], x.get("detail", "")[:120])
                          for x in recs if x["result"] in ("error", "bad")})[:8]
    r["n_errors"] = sum(1 for x in recs if x["result"] in ("error", "bad"))
    client_ok = {x["user"] for x in answered if x["rtt"] < a.threshold}
    server_ok = {u for u, v in byu.items()
                 if u.startswith("sprayed") and not v["tarpit_ms"] and v["reason"] != "rate limited"}
    r["server_lines"] = sum(1 for u in byu if u.startswith("sprayed"))
    r["unthrottled_client"] = len(client_ok)
    r["unthrottled_server"] = len(server_ok)
    r["unthrottled_both"] = len(client_ok & server_ok)
    r["tarpitted_server"] = sum(1 for u, v in byu.items() if u.startswith("sprayed") and v["tarpit_ms"])
    r["rate_limited_server"] = sum(1 for u, v in byu.items()
                                   if u.startswith("sprayed") and v["reason"] == "rate limited")
    reasons = {}
    for u, v in byu.items():
        if u.startswith("sprayed"):
            reasons[v["reason"] or v["result"]] = reasons.get(v["reason"] or v["result"], 0) + 1
    r["reasons"] = reasons
    rtts = sorted(x["rtt"] for x in answered)
    r["slowest_s"] = rtts[-1] if rtts else None
    r["median_s"] = rtts[len(rtts) // 2] if rtts else None
    # in the order the attempts were started: where throttling began
    order = sorted(recs, key=lambda x: x["t_start"])
    first = None
    for k, x in enumerate(order):
        if x["rtt"] is None or x["rtt"] >= a.threshold or x["user"] not in server_ok:
            first = k + 1
            break
    r["first_throttled"] = first
    r["max_tarpit_ms"] = max((v["tarpit_ms"] for u, v in byu.items() if u.startswith("sprayed")),
                             default=0)
    r["alerts"] = lg["alerts"]
    r["problems"] = lg["problems"][:10]
    log("(%s) unthrottled: client %d, server %d, both %d of %d; slowest %.2f s; registry %s"
        % (kind, r["unthrottled_client"], r["unthrottled_server"], r["unthrottled_both"], n,
           r["slowest_s"] or -1, r["registry"]))
    return r


# ---------------------------------------------------------------------------
# large runs: loadgen spray, many addresses
# ---------------------------------------------------------------------------

def big_run(a, tmp, daemon_bin, cert, key, passwd, tag, extra_over):
    inst = attack.Instance(tmp, "inst-big-" + tag, cert, key, passwd)
    over = [("auth_failure_delay", "0"), ("default_pass_scheme", a.big_scheme)] + \
        extra_over + a.extra
    d = attack.Daemon(daemon_bin, inst, over, "server.log")
    reg = os.path.join(inst.dir, "state", "registry.db")
    r = {"tag": tag, "attempts": a.big,
         "cmd": " ".join(os.path.basename(c) if i == 0 else c
                         for i, c in enumerate(d.cmd)).replace(tmp, "$TMP"),
         "effective": attack.effective_subset(d.effective(), EFFECTIVE_KEYS + [
             "default_pass_scheme", "registry_audit_retention", "registry_audit_max_rows",
             "registry_pending_retention", "registry_pending_max"])}
    d.start()
    lgcmd = [a.loadgen, "spray", "-p", str(d.addr[1]), "-n", str(a.big), "-c", str(a.big_conc),
             "-u", "sprayed%d", "-P", a.password, "-t", str(a.timeout),
             "--spread", "%d:%d" % (a.big_per_address, a.big_per_network), "-q"]
    r["loadgen_cmd"] = " ".join(["bench/out/loadgen"] + lgcmd[1:])
    samples = []
    try:
        log("big %s: %d attempts, %d at once, %d per address, %d addresses per /24 (%s)"
            % (tag, a.big, a.big_conc, a.big_per_address, a.big_per_network,
               ", ".join("%s=%s" % kv for kv in extra_over) or "defaults"))
        cpu0 = d.cpu_ticks()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.Popen(lgcmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        limit = t0 + a.big_limit
        while p.poll() is None:
            if time.monotonic() > limit:
                p.terminate()
                log("big %s: loadgen over its time limit (%d s): stopped" % (tag, a.big_limit))
                break
            time.sleep(2)
            s = registry_stats(reg)
            s["t"] = time.monotonic() - t0
            samples.append(s)
        out, err = p.communicate(timeout=60)
        r["wall_s"] = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r["client_cpu_s"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        res = [l for l in out.decode(errors="replace").splitlines() if l.startswith("RESULT")]
        r["loadgen"] = dict(kv.split("=", 1) for kv in res[0].split()[1:] if "=" in kv) if res else {}
        r["loadgen_err"] = err.decode(errors="replace").strip().splitlines()[:5]
        time.sleep(3)   # the writer's last commits and its cap pass (every second)
        hz = os.sysconf("SC_CLK_TCK")
        r["cpu_s"] = (d.cpu_ticks() - cpu0) / hz
        r["rss_kib"] = d.rss_kib()
        r["end"] = registry_stats(reg)
        samples.append(dict(r["end"], t=time.monotonic() - t0))
        if a.probe > 0 and tag == "default":
            # Do the budgets still hold after the flood? The same attempts
            # as run (a), from an address and a /24 the flood did not use.
            log("big %s: probe: %d attempts without CLIENTID from %s, %d in parallel"
                % (tag, a.probe, a.source, a.parallel))
            pr = [{"i": i + 1, "user": "probe%d" % (i + 1), "token": None,
                   "password": a.password} for i in range(a.probe)]
            precs = run_spray(d.addr, a.source, a.parallel, pr, a.timeout)
            time.sleep(0.5)
        lg = parse_log(d.log_text())
    finally:
        rc = d.stop()
    r["rc"] = rc
    r["after_stop"] = {k: v for k, v in registry_stats(reg).items() if k.endswith("bytes")}
    byu = lg["by_user"]
    r["server_lines"] = sum(1 for u in byu if u.startswith("sprayed"))
    r["tarpitted_server"] = sum(1 for u, v in byu.items()
                                if u.startswith("sprayed") and v["tarpit_ms"])
    r["rate_limited_server"] = sum(1 for u, v in byu.items()
                                   if u.startswith("sprayed") and v["reason"] == "rate limited")
    if a.probe > 0 and tag == "default":
        ans = [x for x in precs if x["rtt"] is not None]
        c_ok = {x["user"] for x in ans if x["rtt"] < a.threshold}
        s_ok = {u for u, v in byu.items() if u.startswith("probe")
                and not v["tarpit_ms"] and v["reason"] != "rate limited"}
        r["probe"] = {"attempts": a.probe, "answered": len(ans),
                      "unthrottled_client": len(c_ok), "unthrottled_server": len(s_ok),
                      "unthrottled_both": len(c_ok & s_ok),
                      "slowest_s": max((x["rtt"] for x in ans), default=None)}
        log("big %s: probe: %r" % (tag, r["probe"]))
    r["alerts"] = lg["alerts"]
    r["retention_removed"] = lg["retention_removed"]
    r["problems"] = lg["problems"][:10]
    r["peak_audit"] = max((s["audit"] or 0 for s in samples), default=None)
    r["peak_devices"] = max((s["devices"] or 0 for s in samples), default=None)
    r["peak_bytes"] = max(((s["db_bytes"] or 0) + (s["wal_bytes"] or 0) for s in samples),
                          default=None)
    r["samples"] = [{"t": round(s["t"], 1), "audit": s["audit"], "devices": s["devices"],
                     "db_bytes": s["db_bytes"], "wal_bytes": s["wal_bytes"]} for s in samples]
    log("big %s: loadgen %s; registry end %s; peak audit %s" % (
        tag, {k: r["loadgen"].get(k) for k in ("ok_total", "failures", "rate", "answered_no")},
        r["end"], r["peak_audit"]))
    return r


EFFECTIVE_KEYS = ["auth_failure_delay", "policy_mode", "ratelimit_window", "ratelimit_block_time",
                  "ratelimit_delay_base", "ratelimit_delay_max", "ratelimit_token_free",
                  "ratelimit_token_block", "ratelimit_account_free", "ratelimit_account_block",
                  "ratelimit_address_free", "ratelimit_address_block", "ratelimit_network_free",
                  "ratelimit_network_block", "detect_churn_tokens", "detect_churn_window",
                  "max_connections_per_ip"]


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _s(x, fmt="%.2f s"):
    return "n/a" if x is None else fmt % x


def markdown(rep, a):
    L = []
    R = rep["small"]
    L.append("### Settings\n")
    L.append("- Server: a fresh imapcidd per run, defaults of docs/CONFIGURATION.md but "
             "`auth_failure_delay = 0` (as `--demo`, which sets 1 s, minus the delay), listening "
             "on 127.0.0.1 (implicit TLS), one account `demo` (ARGON2ID) in the passwd file.")
    if R:
        L.append("- Effective budgets: %s." % ", ".join(
            "%s=%s" % kv for kv in R[0]["effective"].items()))
    L.append("- Small runs: every attempt from %s, %d connections at once, each attempt its own "
             "TLS connection: `[a CLIENTID UUID <token>]`, `b LOGIN sprayedN \"%s\"` (N = attempt "
             "number: a different non-existent account each time), close on the answer. "
             "Unthrottled: the client saw the answer less than %.1f s after sending LOGIN "
             "(client), the server's auth line has no `tarpit=` and no `reason=\"rate limited\"` "
             "(server); \"both\" is the attempts that are both. Per-attempt timeout %.0f s."
             % (a.source, a.parallel, a.password, a.threshold, a.timeout))
    if a.set:
        L.append("- **Extra settings for every run (--set): %s.**" % ", ".join(a.set))
    L.append("- Server binary: built %s, sha256 %s..." % (a.daemon_mtime, a.daemon_sha256[:16]))
    L.append("")
    if R:
        L.append("### One address, %d connections at once\n" % a.parallel)
        L.append("| run | CLIENTID | attempts | answered NO / errors | unthrottled: client (< %.0f s) "
                 "| unthrottled: server log | unthrottled: both | tarpitted / rate limited (server) "
                 "| first throttled attempt | median / slowest answer | registry: devices, audit "
                 "rows, db + wal | run time |" % a.threshold)
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in R:
            g = r["registry"]
            L.append("| (%s) | %s | %d | %d / %d | %d | %d | **%d** | %d / %d | %s | %s / %s | %s, %s, "
                     "%s + %s | %.0f s |" % (
                         r["kind"], r["label"], r["attempts"], r["answered_no"], r["n_errors"],
                         r["unthrottled_client"], r["unthrottled_server"], r["unthrottled_both"],
                         r["tarpitted_server"], r["rate_limited_server"],
                         r["first_throttled"] or "none", _s(r["median_s"]), _s(r["slowest_s"]),
                         g.get("devices"), g.get("audit"), _mib(g.get("db_bytes")),
                         _mib(g.get("wal_bytes")), r["wall_s"]))
        L.append("")
        base = {r["kind"]: r for r in R}
        if "a" in base:
            ref = base["a"]["unthrottled_both"]
            for r in R:
                if r["kind"] == "a":
                    continue
                ok = r["unthrottled_both"] <= ref
                L.append("- (%s) unthrottled %d %s (a)'s %d: %s." % (
                    r["kind"], r["unthrottled_both"], "<=" if ok else ">", ref,
                    "**met**" if ok else "**not met**"))
            L.append("")
        L.append("Reference (main before the fix): (a) 11 of 60 unthrottled, (b) 150 of 150 "
                 "(slowest 0.4 s).\n")
        for r in R:
            L.append("- (%s) server reasons: %s; alerts: %s; largest tarpit %d ms; server CPU %.2f s; "
                     "registry after stop: db %s, wal %s; exit status %r." % (
                         r["kind"], ", ".join("%s: %d" % kv for kv in sorted(r["reasons"].items())),
                         ", ".join("%s: %d" % kv for kv in sorted(r["alerts"].items())) or "none",
                         r["max_tarpit_ms"], r["cpu_s"],
                         _mib(r["registry_after_stop"].get("db_bytes")),
                         _mib(r["registry_after_stop"].get("wal_bytes")), r["rc"]))
            if r["errors"]:
                L.append("  - client errors (distinct): %s" % "; ".join(r["errors"]))
            if r["problems"]:
                L.append("  - server log problems: `%s`" % "`, `".join(r["problems"][:3]))
            L.append("  - command: `%s`" % r["cmd"])
        L.append("")
    B = rep["big"]
    if B:
        L.append("### %d sprayed attempts, a fresh UUID each, many addresses\n" % a.big)
        L.append("- `bench/out/loadgen spray`, %d connections at once, a TLS connection per attempt "
                 "(CLIENTID may be given once per connection), %d attempts per source address and "
                 "%d addresses per /24 from 127.1.0.1 up (127.(1+k/256).(k%%256).x for the k-th "
                 "/24), so no address or network budget passes its free failures: every attempt "
                 "is processed (password check, audit row), none refused early. "
                 "`default_pass_scheme = %s` for these runs: unknown users verify a dummy hash of "
                 "that scheme (PLAIN costs nothing; ARGON2ID would cost ~30 ms of CPU per attempt). "
                 "The registry is sampled every 2 s (read-only SQLite connection)."
                 % (a.big_conc, a.big_per_address, a.big_per_network, a.big_scheme))
        L.append("")
        L.append("| | " + " | ".join(r["label"] for r in B) + " |")
        L.append("|---|" + "---|" * len(B))

        def row(name, fn):
            L.append("| %s | %s |" % (name, " | ".join(fn(r) for r in B)))
        lgk = lambda r, k: r["loadgen"].get(k, "n/a")  # noqa: E731
        row("attempts answered NO / OK / failed", lambda r: "%s / %s / %s" % (
            lgk(r, "answered_no"), lgk(r, "answered_ok"), lgk(r, "failures")))
        row("auth log lines (sprayed accounts)", lambda r: "%d" % r["server_lines"])
        row("tarpitted / rate limited (server log)", lambda r: "%d / %d" % (
            r["tarpitted_server"], r["rate_limited_server"]))
        row("answers slower than 1 s (client)", lambda r: lgk(r, "login_slow_1s"))
        row("LOGIN latency p50 / p99 / max (ms)", lambda r: "%s / %s / %s" % (
            lgk(r, "login_p50_ms"), lgk(r, "login_p99_ms"), lgk(r, "login_max_ms")))
        row("attempts/s", lambda r: lgk(r, "rate"))
        row("registry at the end: audit rows", lambda r: str(r["end"].get("audit")))
        row("registry at the end: devices", lambda r: "%s %s" % (
            r["end"].get("devices"), r["end"].get("devices_by_state") or ""))
        row("registry at the end: registry.db + -wal", lambda r: "%s + %s = %s" % (
            _mib(r["end"].get("db_bytes")), _mib(r["end"].get("wal_bytes")),
            _mib((r["end"].get("db_bytes") or 0) + (r["end"].get("wal_bytes") or 0))))
        row("peak seen: audit rows / devices / db + wal", lambda r: "%s / %s / %s" % (
            r["peak_audit"], r["peak_devices"], _mib(r["peak_bytes"])))
        row("audit rows removed by retention (log)", lambda r: "%d" % r["retention_removed"])
        row("after stop: registry.db, -wal", lambda r: "%s, %s" % (
            _mib(r["after_stop"].get("db_bytes")), _mib(r["after_stop"].get("wal_bytes"))))
        row("server RSS at the end", lambda r: "%s MiB" % (
            "n/a" if r["rss_kib"] is None else "%.1f" % (r["rss_kib"] / 1024.0)))
        row("server CPU / client CPU / wall", lambda r: "%.1f s / %.1f s / %.0f s" % (
            r["cpu_s"], r["client_cpu_s"], r["wall_s"]))
        row("alerts (log)", lambda r: ", ".join(
            "%s: %d" % kv for kv in sorted(r["alerts"].items())) or "none")
        L.append("")
        for r in B:
            cap = r["effective"].get("registry_audit_max_rows")
            if r["tag"] == "cap" and cap is not None and r["peak_audit"] is not None:
                try:
                    capn = int(cap)
                    L.append("- cap %d: audit rows at the end %s, largest seen %s: %s." % (
                        capn, r["end"].get("audit"), r["peak_audit"],
                        "**holds**" if (r["end"].get("audit") or 0) <= capn
                        else "**does not hold at the end**"))
                except ValueError:
                    pass
        for r in B:
            pb = r.get("probe")
            if pb:
                free = int(r["effective"].get("ratelimit_address_free", "10"))
                ok = pb["unthrottled_both"] <= free
                L.append("- Probe after the %d attempts, on the same server: %d attempts as in "
                         "run (a) (no CLIENTID, from %s, whose address and /24 the flood did not "
                         "use, %d at once): unthrottled client %d, server %d, both **%d** "
                         "(slowest answer %s); on a fresh server the address budget lets %d "
                         "through: %s." % (
                             a.big, pb["attempts"], a.source, a.parallel,
                             pb["unthrottled_client"], pb["unthrottled_server"],
                             pb["unthrottled_both"], _s(pb["slowest_s"]), free,
                             "budgets still hold" if ok else
                             "**budgets no longer hold**"))
        for r in B:
            L.append("- %s: audit rows over time (s: rows): %s" % (r["label"], ", ".join(
                "%.0f: %s" % (s["t"], s["audit"]) for s in r["samples"][::max(1, len(r["samples"]) // 12)])))
            if r["problems"]:
                L.append("  - server log problems: `%s`" % "`, `".join(r["problems"][:3]))
            if r["loadgen_err"]:
                L.append("  - loadgen said: `%s`" % "`, `".join(r["loadgen_err"][:3]))
            L.append("  - server: `%s`; client: `%s`; exit status %r" % (r["cmd"], r["loadgen_cmd"],
                                                                      r["rc"]))
        L.append("")
    L.append("Total runtime %.0f s.\n" % rep["runtime_s"])
    return "\n".join(L) + "\n"


def main_run(a):
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)
    for b in ("imapcidd", "imapcidctl"):
        if not os.access(os.path.join(build, b), os.X_OK):
            raise SystemExit("missing %s/%s (ninja -C build)" % (build, b))
    if not a.source.startswith("127."):
        raise SystemExit("--source must be a loopback address (127.0.0.0/8)")
    a.extra = []
    for kv in a.set:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise SystemExit("--set KEY=VALUE: %r" % kv)
        a.extra.append((k.strip(), v.strip()))
    if a.big > 0 and not os.access(a.loadgen, os.X_OK):
        raise SystemExit("missing %s (make -C bench)" % a.loadgen)
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    tmp = tempfile.mkdtemp(prefix="imapcid-spray-")
    started = time.monotonic()
    try:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        for b in ("imapcidd", "imapcidctl"):
            shutil.copy2(os.path.join(build, b), os.path.join(bindir, b))
        daemon_bin = os.path.join(bindir, "imapcidd")
        with open(daemon_bin, "rb") as f:
            a.daemon_sha256 = hashlib.sha256(f.read()).hexdigest()
        a.daemon_mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
            os.stat(os.path.join(build, "imapcidd")).st_mtime))
        seed = os.path.join(tmp, "seed")
        os.mkdir(seed, 0o700)
        cert, key = os.path.join(seed, "cert.pem"), os.path.join(seed, "key.pem")
        attack.sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                   "-days", "2", "-keyout", key, "-out", cert])
        # one real account, as the demo instance has
        pinst = attack.Instance(tmp, "seed-passwd", cert, key, os.devnull)
        attack.sh([os.path.join(bindir, "imapcidctl"), "-c", pinst.conf, "user", "add", "demo"],
                  input=b"demo-password\n", cwd=pinst.dir)
        passwd = os.path.join(pinst.dir, "passwd")
        rep = {"small": [], "big": []}
        for kind in [k for k in a.runs.split(",") if k]:
            if kind not in KIND_LABEL:
                raise SystemExit("--runs: a,b,c,d")
            rep["small"].append(small_run(a, tmp, daemon_bin, cert, key, passwd, kind))
        if a.big > 0:
            r = big_run(a, tmp, daemon_bin, cert, key, passwd, "default", [])
            r["label"] = "default retention (registry_audit_max_rows = 10M, 90 days)"
            rep["big"].append(r)
            if a.big_cap > 0:
                r = big_run(a, tmp, daemon_bin, cert, key, passwd, "cap",
                            [("registry_audit_max_rows", str(a.big_cap))])
                r["label"] = "registry_audit_max_rows = %d" % a.big_cap
                rep["big"].append(r)
        rep["runtime_s"] = time.monotonic() - started
        md = markdown(rep, a)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(md)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rep, f, indent=1, default=str)
        sys.stdout.write(md)
    finally:
        if a.keep_tmp:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--build", default=os.environ.get("IMAPCID_BUILD", "build"))
    r.add_argument("--loadgen", default=os.path.join(HERE, "out", "loadgen"))
    r.add_argument("--runs", default="a,b,c,d", help="small runs to make, in this order")
    r.add_argument("--attempts-a", type=int, default=60, help="attempts of run (a)")
    r.add_argument("--attempts", type=int, default=150, help="attempts of runs (b)-(d)")
    r.add_argument("--parallel", type=int, default=15)
    r.add_argument("--rotate", type=int, default=5, help="UUIDs in rotation in run (c)")
    r.add_argument("--source", default="127.0.0.31")
    r.add_argument("--password", default="Spring2026!")
    r.add_argument("--threshold", type=float, default=1.0)
    r.add_argument("--timeout", type=float, default=45.0, help="per attempt, seconds")
    r.add_argument("--big", type=int, default=100000, help="attempts of the large runs (0: none)")
    r.add_argument("--big-cap", type=int, default=10000,
                   help="registry_audit_max_rows of the second large run (0: no such run)")
    r.add_argument("--big-conc", type=int, default=32)
    r.add_argument("--big-per-address", type=int, default=4)
    r.add_argument("--big-per-network", type=int, default=6)
    r.add_argument("--big-scheme", default="PLAIN")
    r.add_argument("--probe", type=int, default=30,
                   help="after the first large run, attempts as in run (a) on the same server")
    r.add_argument("--big-limit", type=int, default=900, help="seconds a large run may take")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra imapcidd setting for every run (repeatable)")
    r.add_argument("--markdown")
    r.add_argument("--json")
    r.add_argument("--keep-tmp", action="store_true")
    a = p.parse_args()
    if a.attempts_a > 10000 or a.attempts > 10000 or a.big > 1000000 or a.parallel > 1000:
        raise SystemExit("bounds: attempts <= 10000, big <= 1000000, parallel <= 1000")
    main_run(a)


if __name__ == "__main__":
    main()
