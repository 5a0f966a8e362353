#!/usr/bin/env bash
# Dovecot's imaptest against a fresh imapcidd: its compliance scripts, or a
# stress run with its state checks.
#
#   tests/imaptest/run.sh                    the compliance scripts
#   tests/imaptest/run.sh stress [CLIENTS] [SECS]   (default 10 clients, 15 s)
#
# imaptest is not part of this repository: it is taken from
# ../shared/tools/imaptest next to the repository (IMAPTEST_TOOLS to say
# otherwise) and built once by its build.sh. Without it the run is skipped
# (exit 77). The server is started here, on a free loopback port, in its
# own temporary directory, with the binaries of $BUILD (default build),
# and stopped at the end.
#
# The last line is "imaptest: N passed, M failed": commands that passed and
# failed (compliance), or clean and failed checks (stress); every "Error:"
# line of imaptest's state checks and every client that stalled (got no
# answer for 3 s or more) is a failure too. Exit 0 when nothing failed.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${IMAPTEST_TOOLS:-$(dirname "$root")/shared/tools/imaptest}
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
mode=${1:-compliance}
clients=${2:-10}
secs=${3:-15}
user=imaptest
pass=imaptest
# How long the server may take to say "ready", in tenths of a second.
READY_WAIT=150

if [ ! -x "$tools/build.sh" ]; then
	echo "imaptest: skipped: $tools/build.sh not found (Dovecot's" \
		"imaptest is not part of this repository)"
	exit 77
fi
if [ ! -x "$build/imapcidd" ]; then
	echo "imaptest: $build/imapcidd not found: build it first (make)" >&2
	echo "imaptest: 0 passed, 1 failed"
	exit 1
fi

# build.sh installs dovecot-dev, but the library imaptest links against,
# libdovecot.so, is in Debian's dovecot-core.
if [ ! -e /usr/lib/dovecot/libdovecot.so ] && command -v apt-get >/dev/null &&
	[ "$(id -u)" -eq 0 ]; then
	echo "imaptest: installing dovecot-core (libdovecot)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends dovecot-core >&2
fi
if ! bin=$("$tools/build.sh" | tail -n 1) || [ ! -x "$bin" ]; then
	echo "imaptest: building it with $tools/build.sh failed" >&2
	echo "imaptest: 0 passed, 1 failed"
	exit 1
fi
scripts=$(dirname "$bin")/tests

tmp=$(mktemp -d /tmp/imapcid-imaptest-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "imaptest: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

# The instance: a certificate, one {PLAIN} user, budgets that a run of
# thousands of logins never reaches (as tests/e2e/harness.py configures).
mkdir -p "$tmp/mail" "$tmp/state"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=localhost -days 2 -keyout "$tmp/key.pem" \
	-out "$tmp/cert.pem" 2>/dev/null
echo "$user:{PLAIN}$pass" >"$tmp/passwd"
chmod 600 "$tmp/passwd" "$tmp/key.pem"
cat >"$tmp/imapcidd.conf" <<EOF
# written by tests/imaptest/run.sh
listen_imap =
listen_imaps = 127.0.0.1:0
tls_cert = cert.pem
tls_key = key.pem
passdb_file = passwd
mail_dir = mail
state_dir = state
auth_failure_delay = 0
log_level = info
max_connections_per_ip = 10000
ratelimit_token_free = 100000
ratelimit_token_block = 1000000
ratelimit_account_free = 100000
ratelimit_account_block = 1000000
ratelimit_address_free = 100000
ratelimit_address_block = 1000000
EOF

"$build/imapcidd" -c "$tmp/imapcidd.conf" >"$tmp/server.log" 2>&1 &
pid=$!
port=
for _ in $(seq "$READY_WAIT"); do
	if grep -q ' ready$' "$tmp/server.log"; then
		port=$(sed -n 's/.*listening on imaps 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
			"$tmp/server.log" | head -n 1)
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "imaptest: imapcidd did not start:" >&2
	cat "$tmp/server.log" >&2
	echo "imaptest: 0 passed, 1 failed"
	exit 1
fi

args=(host=127.0.0.1 "port=$port" ssl=any-cert "user=$user" "pass=$pass")
log=$tmp/imaptest.log
if [ "$mode" = stress ]; then
	# Messages to append: realistic ones with unique Message-IDs (imaptest
	# tracks messages by them), as an mbox.
	python3 - "$root/bench/genmail.py" "$tmp" <<'EOF' || exit 1
import os, re, subprocess, sys
gen, tmp = sys.argv[1], sys.argv[2]
subprocess.run([sys.executable, gen, tmp + "/gen", "-n", "300"], check=True,
               stdout=subprocess.DEVNULL)
with open(tmp + "/stress.mbox", "wb") as out:
    for name in sorted(os.listdir(tmp + "/gen/cur")):
        with open(os.path.join(tmp, "gen/cur", name), "rb") as f:
            data = f.read().replace(b"\r\n", b"\n")
        data = re.sub(rb"(?m)^(>*From )", rb">\1", data)
        out.write(b"From imaptest@localhost Thu Jan  1 00:00:00 2026\n")
        out.write(data + (b"" if data.endswith(b"\n") else b"\n") + b"\n")
EOF
	echo "imaptest: stress, $clients clients, $secs s" >&2
	"$bin" "${args[@]}" "clients=$clients" "secs=$secs" \
		"mbox=$tmp/stress.mbox" >"$log" 2>&1
else
	"$bin" "${args[@]}" "test=$scripts" >"$log" 2>&1
fi
rc=$?
if [ "$mode" != stress ]; then
	# imaptest skips a script whose "capabilities:" we do not advertise,
	# but its "skipped" count stays 0: say which ones here.
	python3 - "$port" "$user" "$pass" "$scripts" <<'EOF'
import os, socket, ssl, sys
port, user, pw, scripts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
f = s.makefile("rb")
f.readline()
s.sendall(b'a LOGIN "%s" "%s"\r\nb CAPABILITY\r\nc LOGOUT\r\n'
          % (user.encode(), pw.encode()))
caps = set()
for line in f:
    if line.startswith(b"* CAPABILITY "):
        caps = {c.upper() for c in line.decode().split()[2:]}
    if line.startswith(b"c "):
        break
skipped = []
for name in sorted(os.listdir(scripts)):
    path = os.path.join(scripts, name)
    if name.endswith(".mbox") or not os.path.isfile(path):
        continue
    with open(path, errors="replace") as t:
        for line in t:
            if not line.strip():
                break
            if line.lower().startswith("capabilities:"):
                need = line.split(":", 1)[1].split()
                missing = [c for c in need if c.upper() not in caps]
                if missing:
                    skipped.append("%s (%s)" % (name, " ".join(missing)))
print("imaptest: %d scripts skipped for capabilities not advertised: %s"
      % (len(skipped), ", ".join(skipped) or "none"))
EOF
fi
grep -E '^(Error|Fatal|Panic|\*\*\* Test)|^ - (failed|first|best|Command)' \
	"$log" | head -n 100
# " - 62339 stalled for 21 secs in command: ...", once a second: the
# longest stall of each client
stalls=$(awk '/^ - [0-9]+ stalled for [0-9]+ secs/ {
	if ($5 + 0 >= max[$2]) { max[$2] = $5 + 0; line[$2] = $0 } }
	END { for (c in line) print line[c] }' "$log")
[ -z "$stalls" ] || echo "$stalls"
tail -n 6 "$log"

# every "Error:" line and every client that stalled is a failure
errors=$(grep -c -E '^(Error|Fatal|Panic):' "$log")
errors=$((errors + $(printf '%s' "$stalls" | grep -c .)))
passed=0
failed=$errors
if [ "$mode" = stress ]; then
	# one check per command imaptest counted (the last "Totals" row)
	total=$(awk '/^Totals:/ { t = NR } { row[NR] = $0 } END {
		if (!t) exit
		n = split(row[t + 4], c, " "); s = 0
		for (i = 1; i <= n; i++) s += c[i]
		print s }' "$log")
	passed=$((${total:-0} - errors))
	[ -n "$total" ] || failed=$((failed + 1))
else
	# "base protocol: F/T individual commands failed", same for extensions
	while read -r f t; do
		passed=$((passed + t - f))
		failed=$((failed + f))
	done < <(sed -n 's/.*: \([0-9]*\)\/\([0-9]*\) individual commands failed$/\1 \2/p' "$log")
	grep -q 'individual commands failed' "$log" || failed=$((failed + 1))
fi
# imaptest's own exit status, when nothing else says what went wrong
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
# The server must have lived through it, stop cleanly on SIGTERM and, in
# a sanitizer build, have reported nothing.
if ! kill -0 "$pid" 2>/dev/null; then
	echo "imaptest: imapcidd died during the run:" >&2
	tail -n 20 "$tmp/server.log" >&2
	failed=$((failed + 1))
else
	kill "$pid"
	wait "$pid"
	src=$?
	pid=
	if [ "$src" -ne 0 ]; then
		echo "imaptest: imapcidd exited with status $src" >&2
		failed=$((failed + 1))
	fi
fi
if grep -E 'Sanitizer|runtime error:' "$tmp/server.log" >&2; then
	failed=$((failed + 1))
fi
echo "imaptest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
