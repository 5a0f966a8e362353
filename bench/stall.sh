#!/usr/bin/env bash
# bench/stall.sh: stalled pre-authentication connections against imapcidd,
# with real devices logging in beside them.
#
# For each value of timeout_login in VARIANTS (default "3m 30s": the
# default and a short one), on a freshly started imapcidd (defaults, but
# max_connections raised and timeout_login set), loopback only:
#   1. DEVICES devices (bench1..benchDEVICES, ARGON2ID passwords, one stable
#      CLIENTID UUID each) log in once each, one at a time, so the server
#      knows them;
#   2. bench/out/stall opens N stalled connections from ADDRS addresses
#      (127.0.0.21 and up; N / ADDRS each, below max_connections_per_ip),
#      N/4 of each kind, and re-opens every one the server closes:
#        tls      TCP connected, a ClientHello sent a byte every INTERVAL s
#        drip     TLS done, "a LOGIN xxx..." a byte every INTERVAL s
#        empty    TLS done, "\r\n" every INTERVAL s (counted as bad
#                 commands before login: expect BYE after 3)
#        literal  TLS done, `a ID ("k1" {4000+}` + 4,000 octets, then one
#                 more literal every INTERVAL s (expect BYE at the 8 KiB
#                 command budget, limit_command_preauth)
#   3. once all are held, for MINUTE seconds the devices log in again and
#      again from 127.0.0.1 (bench/out/loadgen session: TLS, CLIENTID,
#      LOGIN with the right password, LOGOUT; DEVICES at once);
#   4. reported: the devices' LOGIN latency (sent to answer) p50/p99/max and
#      failures; imapcidd's RSS and PSS (/proc/PID/smaps_rollup) at start,
#      with the stalls up, at peak (sampled every second), at the end of the
#      minute and 3 s after the stalls are released; the stalled
#      connections of each kind held at the end of the minute, how many the
#      server closed (and after how long, with what BYE), how many were
#      refused; server and client CPU.
# Prints a markdown report and writes it to bench/results/stall-<date>.md.
# About 5 minutes at the defaults (2 variants x (setup + 60 s + teardown)).
#
# Usage: bench/stall.sh
# Knobs (environment): N=5000 ADDRS=8 INTERVAL=5 DEVICES=20 MINUTE=60
#   VARIANTS="3m 30s" SETUP_MAX=120 SETUP_CONC=256
#   IMAPCID_BUILD=build NO_BUILD=1 OUT=bench/results/stall-<date>.md KEEP_TMP=1
#   small check: N=40 DEVICES=2 MINUTE=10 VARIANTS="3m 8s" INTERVAL=2 bench/stall.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${IMAPCID_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${N:-5000}
ADDRS=${ADDRS:-8}
INTERVAL=${INTERVAL:-5}
DEVICES=${DEVICES:-20}
MINUTE=${MINUTE:-60}
VARIANTS=${VARIANTS:-"3m 30s"}
SETUP_MAX=${SETUP_MAX:-120}
SETUP_CONC=${SETUP_CONC:-256}
PASS=device-password
LG=$ROOT/bench/out/loadgen
STALL=$ROOT/bench/out/stall
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=${OUT:-$ROOT/bench/results/stall-$STAMP.md}
KINDS="tls drip empty literal"

log() { printf '[stall.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

if [ "$N" -gt 50000 ] || [ "$MINUTE" -gt 600 ] || [ "$DEVICES" -gt 1000 ]; then
	fail "bounds: N <= 50000, MINUTE <= 600, DEVICES <= 1000"
fi
if [ "$ADDRS" -lt 1 ] || [ "$ADDRS" -gt 200 ]; then fail "ADDRS: 1..200"; fi

declare -A PID=()
# tree_pids, stop_server, build_imapcid, report_header
. "$ROOT/bench/lib.sh"

build_imapcid "$ROOT" "$BUILD" || exit 1
make -s -C "$ROOT/bench" >&2

TMP=$(mktemp -d /tmp/imapcid-stall.XXXXXX)
STALLPID=''
SAMPLERPID=''
cleanup() {
	local rc=$?
	set +e
	[ -n "$SAMPLERPID" ] && kill "$SAMPLERPID" 2>/dev/null && wait "$SAMPLERPID" 2>/dev/null
	[ -n "$STALLPID" ] && kill -TERM "$STALLPID" 2>/dev/null && wait "$STALLPID" 2>/dev/null
	for s in "${!PID[@]}"; do stop_server "$s"; done
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kv() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((N + 1000)) ] || fail "need ulimit -n >= $((N + 1000)) (have $(ulimit -n))"

CMD="bench/stall.sh"
for v in N ADDRS INTERVAL DEVICES MINUTE VARIANTS SETUP_MAX SETUP_CONC; do
	if [ -n "${!v+x}" ] && env | grep -q "^$v="; then CMD="$v=\"${!v}\" $CMD"; fi
done
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
cp "$BUILD/imapcidd" "$BUILD/imapcidctl" "$TMP/" # private copies
SHA=$(sha256sum "$TMP/imapcidd" | cut -c1-16)

# the devices' accounts, hashed by imapcidctl (default scheme, ARGON2ID)
mkdir -p "$TMP/seed"
printf 'passdb_file = passwd\nstate_dir = state\n' >"$TMP/seed/imapcidd.conf"
: >"$TMP/seed/passwd"
for i in $(seq 1 "$DEVICES"); do
	printf '%s\n' "$PASS" | "$TMP/imapcidctl" -c "$TMP/seed/imapcidd.conf" user add "bench$i" >/dev/null
done
[ "$(wc -l <"$TMP/seed/passwd")" = "$DEVICES" ] || fail "passwd: expected $DEVICES accounts"

# memory of imapcidd: "rss_kb pss_kb" from smaps_rollup
mem() { awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0"; }

declare -A R=()
run_variant() {
	local tl=$1 d=$TMP/v-$1 port pid res last
	mkdir -p "$d/state" "$d/mail"
	cp "$TMP/seed/passwd" "$d/passwd"
	port=$("$LG" freeport)
	cat >"$d/imapcidd.conf" <<-EOF
	# generated by bench/stall.sh
	listen_imap =
	listen_imaps = 127.0.0.1:$port
	tls_cert = $TMP/cert.pem
	tls_key = $TMP/key.pem
	passdb_file = $d/passwd
	mail_dir = $d/mail
	state_dir = $d/state
	max_connections = $((N + DEVICES + 1000))
	timeout_login = $tl
	log = stderr
	log_level = info
	EOF
	"$TMP/imapcidd" -t -c "$d/imapcidd.conf" >"$d/effective" 2>&1 || fail "imapcidd -t: $(cat "$d/effective")"
	"$TMP/imapcidd" -c "$d/imapcidd.conf" 2>"$d/log" &
	pid=$!
	PID[imapcidd]=$pid
	for _ in $(seq 100); do grep -q ' info: ready$' "$d/log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	grep -q ' info: ready$' "$d/log" || fail "imapcidd did not start: $(tail -5 "$d/log")"
	log "timeout_login=$tl: imapcidd pid $pid on 127.0.0.1:$port"

	# the devices, known to the server before the stalls start
	res=$("$LG" session -p "$port" -c 1 -n "$DEVICES" -U "$DEVICES" --uuid-per-user -P "$PASS" -t 30 -q | grep '^RESULT' || true)
	R[$tl,warm_ok]=$(kv ok_total "$res")
	sleep 1
	R[$tl,mem_start]=$(mem "$pid")

	"$STALL" -p "$port" -n "$N" -i "$INTERVAL" -c "$SETUP_CONC" -s 127.0.0.21 -a "$ADDRS" \
		-d $((SETUP_MAX + MINUTE + 60)) -T "$SETUP_MAX" >"$d/stall.out" 2>"$d/stall.err" &
	STALLPID=$!
	for _ in $(seq $((SETUP_MAX * 10 + 100))); do
		grep -q '^UP' "$d/stall.out" && break
		kill -0 "$STALLPID" 2>/dev/null || break
		sleep 0.1
	done
	R[$tl,up]=$(grep -m1 '^UP' "$d/stall.out" || echo "UP-NONE n=0 t=-1")
	log "timeout_login=$tl: stalls: ${R[$tl,up]}"
	sleep 1
	R[$tl,mem_held]=$(mem "$pid")
	R[$tl,t_minute0]=$(grep '^STATUS' "$d/stall.out" | tail -1 | sed 's/^STATUS t=\([0-9.]*\).*/\1/')

	(while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s.%N) $(mem "$pid")"; sleep 1; done) >"$d/mem.tsv" &
	SAMPLERPID=$!
	local cpu0 cpu1
	cpu0=$(kv cpu_s "$("$LG" procstat "$pid")")
	res=$("$LG" session -p "$port" -c "$DEVICES" -U "$DEVICES" --uuid-per-user -P "$PASS" \
		-d "$MINUTE" -t 60 -q 2>"$d/devices.err" | grep '^RESULT' || true)
	cpu1=$(kv cpu_s "$("$LG" procstat "$pid")")
	R[$tl,devices]=$res
	last=$(grep '^STATUS' "$d/stall.out" | tail -1)
	R[$tl,status_end]=$last
	R[$tl,mem_end]=$(mem "$pid")
	R[$tl,cpu]=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')
	log "timeout_login=$tl: devices: $(kv ok "$res") sessions, login p50 $(kv login_p50_ms "$res") ms p99 $(kv login_p99_ms "$res") ms, failures $(kv failures "$res")"
	log "timeout_login=$tl: at the end of the minute: $last"

	kill -TERM "$STALLPID" 2>/dev/null || true
	wait "$STALLPID" 2>/dev/null || true
	STALLPID=
	sleep 3
	R[$tl,mem_released]=$(mem "$pid")
	kill "$SAMPLERPID" 2>/dev/null || true
	wait "$SAMPLERPID" 2>/dev/null || true
	SAMPLERPID=
	R[$tl,mem_peak]=$(awk '$2 > r { r = $2 } $3 > p { p = $3 } END { print r + 0, p + 0 }' "$d/mem.tsv")
	stop_server imapcidd
	R[$tl,problems]=$(grep -cE ' (error|warn): ' "$d/log" | awk '{ print $1 }')
	R[$tl,problem_lines]=$(grep -E ' (error|warn): ' "$d/log" | grep -v 'running as root' | cut -c1-200 | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | paste -sd';' || true)
	R[$tl,stall_result]=$(grep '^RESULT' "$d/stall.out" || true)
	for k in $KINDS; do
		R[$tl,kind_$k]=$(grep "^KIND kind=$k " "$d/stall.out" || true)
		R[$tl,byes_$k]=$(grep "^BYE kind=$k " "$d/stall.out" | sed 's/^BYE kind=[a-z]* n=\([0-9]*\) text=\(.*\)$/\1 x \2/' | paste -sd';' || true)
	done
	# held per kind over time, every 10 s of the stall run
	R[$tl,series]=$(awk -v t0="${R[$tl,t_minute0]:-0}" '/^STATUS/ {
		t = substr($2, 3) + 0; if (int(t) % 10 != 0 || seen[int(t)]++) next
		s = sprintf("%.0f s%s:", t, (t >= t0 ? " (minute +" int(t - t0) " s)" : " (setup)"))
		for (i = 3; i <= NF; i++) if ($i ~ /^held_/) { split($i, a, "="); sub("held_", "", a[1]); s = s " " a[1] " " a[2] }
		print s }' "$d/stall.out" | paste -sd';' | sed 's/;/; /g')
}

for tl in $VARIANTS; do run_variant "$tl"; done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- report ----------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
memcell() { local m=$1; echo "$(mb "${m% *}") / $(mb "${m#* }")"; }
cell() { # variant key -> value of key in the KIND line of a kind
	kv "$3" "${R[$1,kind_$2]}"
}
{
	report_header "$ROOT" "Stalled pre-auth connections beside real logins" "$CMD" "$START" "$END"
	echo "### Settings"
	echo
	echo "- imapcidd (sha256 $SHA...) with its defaults except \`max_connections = $((N + DEVICES + 1000))\` and \`timeout_login\` as in each column; listening on 127.0.0.1 (implicit TLS). Effective limits: $(grep -E '^(timeout_preauth|timeout_login|max_connections_per_ip|limit_command_preauth|limit_line_preauth|limit_bad_commands_preauth|io_threads|auth_workers) ' "$TMP/v-${VARIANTS%% *}/effective" | sed 's/ = /=/' | paste -sd' ' | sed 's/ /, /g')."
	echo "- Stalled: $N connections (bench/out/stall, one process, epoll), $((N / 4)) of each kind, from $ADDRS addresses 127.0.0.21 and up ($(( (N + ADDRS - 1) / ADDRS )) each at most), at most $SETUP_CONC being set up at once, each re-opened as soon as the server closes it (a refused one after 1 s). One action every $INTERVAL s per connection: **tls** sends one more byte of a ClientHello (TCP connected, the handshake never finishes); **drip** one more byte of \`a LOGIN xxx...\` (a line that never ends); **empty** \`\\r\\n\`; **literal** one more \` \"kN\" {4000+}\` with its 4,000 octets after \`a ID (\"k1\" {4000+}\`. Held: tls once TCP is connected, the others once the greeting is read."
	echo "- Real devices: $DEVICES accounts (ARGON2ID), one stable CLIENTID UUID each, known to the server from one login each before the stalls start; then \`loadgen session -c $DEVICES --uuid-per-user -d $MINUTE\` from 127.0.0.1: TLS, CLIENTID, LOGIN, LOGOUT, again and again. LOGIN latency is LOGIN sent to its tagged answer; session latency is connect to LOGOUT's OK."
	echo "- Memory: imapcidd's Rss and Pss from /proc/PID/smaps_rollup (one process), MiB, sampled every second during the minute for the peak. \"At start\" is after the devices' first logins: each ARGON2ID check takes 19 MiB, which the heap keeps, so it is well above an idle server's. The clients run on the same $(nproc) cores."
	echo
	echo "### Results"
	echo
	printf '| |'; for tl in $VARIANTS; do printf ' timeout_login = %s |' "$tl"; done; echo
	printf '|---|'; for _ in $VARIANTS; do printf -- '---|'; done; echo
	row() { local name=$1 fn=$2 arg=${3:-} tl; printf '| %s |' "$name"; for tl in $VARIANTS; do printf ' %s |' "$($fn "$tl" "$arg")"; done; echo; }
	f_up() { local u=${R[$1,up]}; echo "$(kv n " $u") of $N in $(kv t " $u") s$([[ $u == UP-PARTIAL* || $u == UP-NONE* ]] && echo ' (**not all**)')"; }
	f_dev_n() { local r=${R[$1,devices]}; echo "$(kv ok "$r") ($(kv rate "$r")/s)"; }
	f_dev_fail() { local r=${R[$1,devices]}; echo "$(kv failures "$r")$(sed -n 's/.*\( fail_[a-z]*=[0-9]*\).*/\1/p' <<<"$r")"; }
	f_dev_lat() { local r=${R[$1,devices]}; echo "$(kv login_p50_ms "$r") / $(kv login_p99_ms "$r") / $(kv login_max_ms "$r")"; }
	f_dev_slow() { kv login_slow_1s "${R[$1,devices]}"; }
	f_dev_sess() { local r=${R[$1,devices]}; echo "$(kv p50_ms "$r") / $(kv p99_ms "$r") / $(kv max_ms "$r")"; }
	f_mem() { memcell "${R[$1,mem_$2]}"; }
	f_m_start() { f_mem "$1" start; }
	f_m_held() { f_mem "$1" held; }
	f_m_peak() { f_mem "$1" peak; }
	f_m_end() { f_mem "$1" end; }
	f_m_rel() { f_mem "$1" released; }
	f_perconn() { awk -v a="${R[$1,mem_held]% *}" -v b="${R[$1,mem_start]% *}" -v n="$(kv n " ${R[$1,up]}")" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "n/a" }'; }
	row "stalled connections held after setup" f_up
	row "real devices: sessions in the minute" f_dev_n
	row "real devices: failures" f_dev_fail
	row "real devices: LOGIN latency p50 / p99 / max (ms)" f_dev_lat
	row "real devices: LOGINs answered after more than 1 s" f_dev_slow
	row "real devices: session (connect to LOGOUT OK) p50 / p99 / max (ms)" f_dev_sess
	row "imapcidd RSS / PSS at start (MiB)" f_m_start
	row "... with the stalls held" f_m_held
	row "... peak during the minute" f_m_peak
	row "... at the end of the minute" f_m_end
	row "... 3 s after the stalls were released" f_m_rel
	row "RSS per stalled connection (held - start) / held (KiB)" f_perconn
	f_held() { echo "$(kv "held_$2" " ${R[$1,status_end]}") of $((N / 4))"; }
	f_closed() {
		local K=${R[$1,kind_$2]} c
		c=$(kv closed "$K")
		if [ "${c:-0}" = 0 ]; then echo "0"; return; fi
		echo "$c, after $(kv life_min_s "$K") / $(kv life_p50_s "$K") / $(kv life_max_s "$K") s (min / median / max; first close $(kv first_close_s "$K") s into the run): $(sed -n 's/.* bye="\(.*\)"$/\1/p' <<<"$K") ($(kv bye_n "$K"))"
	}
	for k in $KINDS; do row "$k: held at the end of the minute" f_held "$k"; done
	for k in $KINDS; do row "$k: closed by the server during the run: count, lifetime, last BYE" f_closed "$k"; done
	f_refused() { local k s=""; for k in $KINDS; do s="$s$k $(kv refused "${R[$1,kind_$k]}")/$(kv connect_failed "${R[$1,kind_$k]}"), "; done; echo "${s%, }"; }
	row "refused at the greeting / connect failed, per kind" f_refused
	f_cpu() { echo "${R[$1,cpu]} s"; }
	f_ccpu() { echo "stall $(kv client_cpu_s " ${R[$1,stall_result]}") s (whole run), devices $(kv client_cpu_s "${R[$1,devices]}") s"; }
	row "imapcidd CPU during the minute" f_cpu
	row "client CPU" f_ccpu
	f_log() { echo "${R[$1,problems]} error/warn lines (the running-as-root warning included)$([ -n "${R[$1,problem_lines]}" ] && echo ": ${R[$1,problem_lines]}")"; }
	row "imapcidd log problems" f_log
	echo
	echo "\"During the run\" is from the first stalled connection to the release (setup, the minute, and the seconds around it); a closed connection was re-opened at once, so closes can outnumber the connections."
	echo
	for tl in $VARIANTS; do
		echo "- timeout_login = $tl, stalled connections held over the stall run: ${R[$tl,series]}."
		for k in $KINDS; do
			[ -n "${R[$tl,byes_$k]}" ] && echo "  - $k: other ways the server closed: ${R[$tl,byes_$k]}"
		done
		[ "${R[$tl,warm_ok]:-0}" = "$DEVICES" ] || echo "  - **the devices' first logins: ${R[$tl,warm_ok]:-0} of $DEVICES ok**"
	done
	echo
} >"$TMP/report.md"
mkdir -p "$(dirname "$OUT")"
cp "$TMP/report.md" "$OUT"
cat "$OUT"
log "wrote $OUT"
