#!/usr/bin/env bash
# bench/mail.sh: the mail store benchmark, imapcidd against Dovecot on the
# same messages, in one run, on loopback only.
#
# bench/genmail.py writes a deterministic folder of MSGS messages (default
# 10,000, ~138 MiB) and a USER_MSGS-message INBOX; each server gets its own
# copy of both (no shared inodes, caches or index files between them):
#   - user "bigbox": INBOX = the MSGS-message folder (FETCH and SEARCH runs)
#   - users bench1..benchNUSERS: INBOX = the first USER_MSGS messages (full
#     sessions and IDLE; hard links inside one server's tree)
# Both servers are warmed with one untimed pass of every benchmark (Dovecot
# builds dovecot.index and dovecot.index.cache for every mailbox then; both
# read every file once, so the page cache holds both copies), then:
#   - memory of IDLE_N sessions in IDLE (TLS, CLIENTID [imapcidd], LOGIN,
#     SELECT INBOX, IDLE): imapcidd VmRSS, Dovecot summed Pss of all its
#     processes, after - before, / N; and IDLE_BIG_N sessions idling on the
#     MSGS-message folder the same way; each on freshly restarted servers
#   - REPS repetitions, the servers interleaved in each, of:
#       full    FULL_CONC clients: TLS, CLIENTID (imapcidd only), LOGIN,
#               SELECT INBOX, FETCH 1:10 ENVELOPE, LOGOUT; sessions/s
#               for DUR seconds, after FULL_WARM untimed seconds of the same
#       fetch   FETCH_CONC logged-in clients (EXAMINE bigbox) each doing
#               FETCH_N x FETCH 1:* (FLAGS ENVELOPE): messages/s = all the
#               messages / (first command sent .. last tagged OK)
#       body    the same with FETCH 1:* BODY.PEEK[]: messages/s and MiB/s
#       search  SEARCH_CONC clients each doing SEARCH_N x SEARCH TEXT "<word>"
#               on bigbox, for each of SEARCH_WORDS: latency p50/p90
#     plus server CPU per operation (utime+stime of the
#     server's process tree and reaped children, from /proc)
# Prints a markdown report and writes bench/results/mail-<date>.md.
#
# Usage: sudo bench/mail.sh          (needs root for Dovecot; ~25 minutes)
# Knobs (environment): DUR=20 FULL_WARM=5 FETCH_N=3 REPS=5 MSGS=10000 USER_MSGS=100 NUSERS=64
#   FULL_CONC=256 FETCH_CONC=4 SEARCH_CONC=1 SEARCH_N=5
#   SEARCH_WORDS="quarterly xylophone"
#   IDLE_N=5000 IDLE_BIG_N=500 WARMUP=5 SERVERS="imapcidd dovecot"
#   IMAPCIDD=build/imapcidd OUT=bench/results/mail-<date>.md KEEP_TMP=0
#   LABEL="" (a line under the title, e.g. "functional run at reduced scale")
#   BENCHES="full fetch body search:<word>..." (a subset for a side run,
#   e.g. IDLE_N=0 IDLE_BIG_N=0 BENCHES=full)
#   DOVECOT_IMAP_SERVICE_COUNT=100 SEED=20261128 GEN_CACHE=bench/out/maildata
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LG=$ROOT/bench/out/loadgen
DUR=${DUR:-20}
FETCH_N=${FETCH_N:-3}
FULL_WARM=${FULL_WARM:-5}
REPS=${REPS:-5}
MSGS=${MSGS:-10000}
USER_MSGS=${USER_MSGS:-100}
NUSERS=${NUSERS:-64}
FULL_CONC=${FULL_CONC:-256}
FETCH_CONC=${FETCH_CONC:-4}
SEARCH_CONC=${SEARCH_CONC:-1}
SEARCH_WORDS=${SEARCH_WORDS:-"quarterly xylophone"}
SEARCH_N=${SEARCH_N:-5}
IDLE_N=${IDLE_N:-5000}
IDLE_BIG_N=${IDLE_BIG_N:-500}
WARMUP=${WARMUP:-5}
SERVERS=${SERVERS:-"imapcidd dovecot"}
IMAPCIDD=${IMAPCIDD:-$ROOT/build/imapcidd}
DOVECOT_IMAP_SERVICE_COUNT=${DOVECOT_IMAP_SERVICE_COUNT:-100}
SEED=${SEED:-20261128}
GEN_CACHE=${GEN_CACHE:-$ROOT/bench/out/maildata}
LABEL=${LABEL:-}
PASS=benchpass
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=${OUT:-$ROOT/bench/results/mail-$STAMP.md}
T_START=$(date +%s)
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)

log() { printf '[mail.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (Dovecot needs it to start its services)"
command -v dovecot >/dev/null || fail "dovecot not installed (apt-get install dovecot-imapd)"
command -v python3 >/dev/null || fail "python3 needed for bench/genmail.py"
[ "$USER_MSGS" -ge 10 ] || fail "USER_MSGS must be >= 10 (FETCH 1:10)"

make -s -C "$ROOT/bench" >&2

declare -A PID=() PORT=() DIR=()
if [ -n "${REPORT_FROM:-}" ]; then
	# rebuild the report of a run kept with KEEP_TMP=1: REPORT_FROM=/tmp/imapcid-mailbench.XXXXXX
	TMP=$REPORT_FROM
	KEEP_TMP=1
else
	TMP=$(mktemp -d /tmp/imapcid-mailbench.XXXXXX)
fi
chmod 755 "$TMP"
LGPID=
cleanup() {
	local rc=$?
	set +e
	[ -n "$LGPID" ] && kill -TERM "$LGPID" 2>/dev/null && wait "$LGPID" 2>/dev/null
	for s in "${!PID[@]}"; do stop_server "$s"; done
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# tree_pids, stop_server
. "$(dirname "$0")/lib.sh"

kv() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# ---- shared material ---------------------------------------------------------
ulimit -n "$(ulimit -Hn)"
NEED_FD=$((IDLE_N > IDLE_BIG_N ? IDLE_N : IDLE_BIG_N))
[ "$(ulimit -n)" -ge $((NEED_FD + 1000)) ] || fail "need ulimit -n >= $((NEED_FD + 1000)) (have $(ulimit -n))"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
chmod 644 "$TMP/cert.pem" "$TMP/key.pem"
{
	for i in $(seq 1 "$NUSERS"); do
		printf 'bench%d:{SHA512-CRYPT}%s\n' "$i" "$(openssl passwd -6 "$PASS")"
	done
	printf 'bigbox:{SHA512-CRYPT}%s\n' "$(openssl passwd -6 "$PASS")"
} >"$TMP/passwd"
chmod 644 "$TMP/passwd"

# The generated folder: deterministic for (SEED, MSGS, USER_MSGS), so it is
# kept in bench/out/ between runs; servers only ever see copies of it.
GEN=$GEN_CACHE/s$SEED-n$MSGS-u$USER_MSGS
if [ ! -f "$GEN/done" ]; then
	log "generating $MSGS messages (seed $SEED) into $GEN"
	rm -rf "$GEN"
	mkdir -p "$GEN"
	python3 "$ROOT/bench/genmail.py" "$GEN/big" -n "$MSGS" --seed "$SEED" \
		--subset "$USER_MSGS" "$GEN/small" >"$GEN/summary" ||
		fail "genmail.py failed"
	touch "$GEN/done"
fi
GEN_SUMMARY=$(cat "$GEN/summary")
log "$GEN_SUMMARY"

# each server's own copy: bigbox = the big folder, benchN = the small one
make_store() {
	local d=$1 owner=$2 i
	mkdir -p "$d/mail" "$d/tpl"
	cp -a "$GEN/big" "$d/mail/bigbox"
	cp -a "$GEN/small" "$d/tpl/small"
	for i in $(seq 1 "$NUSERS"); do
		mkdir -p "$d/mail/bench$i"
		cp -al "$d/tpl/small/cur" "$d/mail/bench$i/cur"
		mkdir -p "$d/mail/bench$i/new" "$d/mail/bench$i/tmp"
		cp "$d/tpl/small/dovecot-uidlist" "$d/mail/bench$i/"
	done
	[ "$owner" = root ] || chown -R "$owner:$owner" "$d/mail" "$d/tpl"
}

# ---- servers -------------------------------------------------------------------
MAXC=$((NEED_FD + FULL_CONC + 1000))
start_imapcidd() {
	local d=$TMP/imapcidd port
	port=$("$LG" freeport)
	mkdir -p "$d/state"
	[ -d "$d/mail" ] || make_store "$d" root
	cat >"$d/imapcidd.conf" <<-EOF
	# generated by bench/mail.sh
	listen_imap =
	listen_imaps = 127.0.0.1:$port
	tls_cert = $TMP/cert.pem
	tls_key = $TMP/key.pem
	passdb_file = $TMP/passwd
	mail_dir = $d/mail
	state_dir = $d/state
	auth_failure_delay = 0
	max_connections = $MAXC
	max_connections_per_ip = $MAXC
	timeout_preauth = 600s
	log = stderr
	log_level = info
	EOF
	[ -x "$d/imapcidd" ] || cp "$IMAPCIDD" "$d/imapcidd" # private copy
	"$d/imapcidd" -t -c "$d/imapcidd.conf" >"$d/config-check" 2>&1 ||
		fail "imapcidd -t rejected the config: $(cat "$d/config-check")"
	"$d/imapcidd" -c "$d/imapcidd.conf" 2>>"$d/log" &
	PID[imapcidd]=$!
	PORT[imapcidd]=$port
	DIR[imapcidd]=$d
}

start_dovecot() {
	local d=$TMP/dovecot port
	port=$("$LG" freeport)
	mkdir -p "$d/run" "$d/state"
	[ -d "$d/mail" ] || make_store "$d" dovecot
	cat >"$d/dovecot.conf" <<-EOF
	# generated by bench/mail.sh: Dovecot as bench/run.sh tunes it, plus room
	# for $IDLE_N logged-in sessions (one imap process each)
	base_dir = $d/run
	state_dir = $d/state
	instance_name = imapcid-mailbench-dovecot
	protocols = imap
	listen = 127.0.0.1
	log_path = $d/log
	ssl = required
	ssl_cert = <$TMP/cert.pem
	ssl_key = <$TMP/key.pem
	disable_plaintext_auth = yes
	auth_mechanisms = plain login
	auth_failure_delay = 0
	auth_cache_size = 10M
	auth_cache_verify_password_with_worker = yes
	login_trusted_networks = 127.0.0.0/8
	first_valid_uid = 1
	mail_location = maildir:$d/mail/%u
	mail_max_userip_connections = 100000
	passdb {
	  driver = passwd-file
	  args = scheme=SHA512-CRYPT $TMP/passwd
	}
	userdb {
	  driver = static
	  args = uid=dovecot gid=dovecot home=$d/mail/%u
	}
	default_client_limit = $((2 * MAXC + 2000))
	default_vsz_limit = 1G
	service imap-login {
	  inet_listener imap {
	    port = 0
	  }
	  inet_listener imaps {
	    port = $port
	    ssl = yes
	  }
	  service_count = 0
	  process_min_avail = 2
	  process_limit = 4
	  client_limit = $MAXC
	}
	service imap {
	  process_limit = $MAXC
	  service_count = $DOVECOT_IMAP_SERVICE_COUNT
	  process_min_avail = 2
	}
	service auth {
	  client_limit = $((MAXC + 4000))
	}
	service anvil {
	  client_limit = $((MAXC + 4000))
	}
	service stats {
	  client_limit = $((MAXC + 4000))
	}
	service auth-worker {
	  process_limit = 4
	}
	EOF
	doveconf -c "$d/dovecot.conf" -n >"$d/doveconf.out" 2>"$d/doveconf.err" ||
		fail "doveconf rejected the config: $(cat "$d/doveconf.err")"
	dovecot -F -c "$d/dovecot.conf" >>"$d/stdout" 2>&1 &
	PID[dovecot]=$!
	PORT[dovecot]=$port
	DIR[dovecot]=$d
}

wait_ready() {
	local s=$1
	for _ in $(seq 60); do
		kill -0 "${PID[$s]}" 2>/dev/null || { tail -20 "${DIR[$s]}"/log "${DIR[$s]}"/stdout 2>/dev/null >&2; fail "$s exited at start"; }
		if "$LG" handshake -p "${PORT[$s]}" -n 1 -t 2 -q >/dev/null 2>&1; then
			log "$s ready on 127.0.0.1:${PORT[$s]} (pid ${PID[$s]})"
			return 0
		fi
		sleep 0.5
	done
	fail "$s not answering TLS on port ${PORT[$s]} after 30s"
}

restart_all() {
	local s
	for s in "${ACTIVE[@]}"; do
		stop_server "$s"
		"start_$s"
	done
	for s in "${ACTIVE[@]}"; do wait_ready "$s"; done
}

# Dovecot has no CLIENTID: its sessions skip that step (as in bench/run.sh)
noclid() { [ "$1" = dovecot ] && echo --no-clientid || true; }
procstat() { "$LG" procstat "${PID[$1]}"; }

# one timed run; appends "server bench rep cpu_ms_delta RESULT..." to RAW
RAW=$TMP/raw.tsv
[ -n "${REPORT_FROM:-}" ] || : >"$RAW"
run_bench() {
	local s=$1 b=$2 rep=$3 before after res args=() cl
	cl=$(noclid "$s")
	case $b in
	full) args=(full -c "$FULL_CONC" -U "$NUSERS" $cl) ;;
	fetch) args=(fetch -c "$FETCH_CONC" -u bigbox --examine $cl -F "(FLAGS ENVELOPE)" -n "$FETCH_N") ;;
	body) args=(fetch -c "$FETCH_CONC" -u bigbox --examine $cl -F "BODY.PEEK[]" -n "$FETCH_N") ;;
	search:*) args=(search -c "$SEARCH_CONC" -u bigbox --examine $cl -w "${b#search:}" -n "$SEARCH_N") ;;
	esac
	if [ "$b" = full ]; then
		args+=(-d "$DUR")
		# untimed: Dovecot's pool of imap processes (one per logged-in
		# session, reused 100 times, killed after 60 s idle) is refilled
		"$LG" full -c "$FULL_CONC" -d "$FULL_WARM" -U "$NUSERS" $cl -p "${PORT[$s]}" -q >/dev/null 2>>"$TMP/loadgen-$s.err" || true
	fi
	before=$(procstat "$s")
	res=$(timeout $((DUR + 1800)) "$LG" "${args[@]}" -p "${PORT[$s]}" -t 600 -q \
		2>>"$TMP/loadgen-$s.err" | grep '^RESULT') || true
	after=$(procstat "$s")
	[ -n "$res" ] || { log "$s $b rep=$rep: no result"; res="RESULT failures=-1"; }
	local cpu
	cpu=$(awk -v a="$(kv cpu_s "$before")" -v b="$(kv cpu_s "$after")" 'BEGIN { printf "%.3f", (b - a) * 1000 }')
	printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$b" "$rep" "$cpu" "$res" >>"$RAW"
	case $b in
	full) log "$s $b rep=$rep: $(kv rate "$res") sessions/s, p50 $(kv p50_ms "$res") ms, failures $(kv failures "$res"), server cpu ${cpu} ms" ;;
	fetch | body) log "$s $b rep=$rep: $(kv msg_rate "$res") msgs/s, $(kv literal_mib_s "$res") MiB/s literals, $(kv cmds "$res") cmds, $(kv msgs_per_cmd "$res") msgs/cmd, failures $(kv failures "$res"), server cpu ${cpu} ms" ;;
	search:*) log "$s $b rep=$rep: p50 $(kv p50_ms "$res") ms p90 $(kv p90_ms "$res") ms, $(kv cmds "$res") cmds, hits $(kv hits "$res"), failures $(kv failures "$res")" ;;
	esac
}

# untimed: one pass of everything, so Dovecot's indexes and caches exist and
# both servers' files are in the page cache
warm() {
	local s=$1 cl w
	cl=$(noclid "$s")
	log "$s: warming (one untimed pass of each benchmark)"
	"$LG" fetch -c 1 -n 1 -u bigbox --examine $cl -F "(FLAGS ENVELOPE)" -p "${PORT[$s]}" -t 600 -q 2>>"$TMP/loadgen-$s.err" | grep '^RESULT' >"$TMP/warm-$s.out" || true
	"$LG" fetch -c 1 -n 1 -u bigbox --examine $cl -F "BODY.PEEK[]" -p "${PORT[$s]}" -t 600 -q 2>>"$TMP/loadgen-$s.err" | grep '^RESULT' >>"$TMP/warm-$s.out" || true
	for w in $SEARCH_WORDS; do
		"$LG" search -c 1 -n 1 -u bigbox --examine $cl -w "$w" -p "${PORT[$s]}" -t 600 -q 2>>"$TMP/loadgen-$s.err" | grep '^RESULT' >>"$TMP/warm-$s.out" || true
	done
	# every small INBOX once (users are taken round-robin)
	"$LG" full -c 16 -n "$((NUSERS * 2))" -U "$NUSERS" $cl -p "${PORT[$s]}" -t 120 -q 2>>"$TMP/loadgen-$s.err" | grep '^RESULT' >>"$TMP/warm-$s.out" || true
	"$LG" full -c "$FULL_CONC" -d "$WARMUP" -U "$NUSERS" $cl -p "${PORT[$s]}" -q >/dev/null 2>>"$TMP/loadgen-$s.err" || true
	while read -r l; do log "$s warm: $(kv mode "$l"): EXISTS $(kv exists "$l"), messages per FETCH $(kv msgs_per_cmd "$l")$(kv fetched_max "$l"), search hits $(kv hits "$l"), latency $(kv p50_ms "$l") ms, failures $(kv failures "$l")"; done <"$TMP/warm-$s.out"
}

# memory of n sessions idling in IDLE: prints a row to MEM
MEM=$TMP/mem.tsv
[ -n "${REPORT_FROM:-}" ] || : >"$MEM"
run_idle() {
	local s=$1 n=$2 kind=$3 key before after closed out=$TMP/idle-$1-$3.out users=()
	if [ "$kind" = big ]; then users=(-u bigbox); else users=(-U "$NUSERS"); fi
	# imapcidd: VmRSS of its process; Dovecot: Pss summed over all its processes
	if [ "$s" = imapcidd ]; then key=rss_kb; else key=pss_kb; fi
	sleep 2
	before=$(procstat "$s")
	"$LG" idle --select-idle -p "${PORT[$s]}" -n "$n" -c 128 -d 900 -T 600 -t 120 "${users[@]}" $(noclid "$s") -q \
		>"$out" 2>"$TMP/idle-$s-$kind.err" &
	LGPID=$!
	local up=
	for _ in $(seq 620); do
		up=$(sed -n 's/^idle\(-failed\)\{0,1\} \([0-9]*\)$/\2/p' "$out" | head -1)
		[ -n "$up" ] && break
		kill -0 "$LGPID" 2>/dev/null || break
		sleep 1
	done
	if grep -q '^idle-failed' "$out" || [ -z "$up" ]; then
		log "$s idle $kind: only ${up:-0}/$n sessions came up: $(head -3 "$TMP/idle-$s-$kind.err")"
	fi
	sleep 5
	after=$(procstat "$s")
	kill -TERM "$LGPID" 2>/dev/null; wait "$LGPID" 2>/dev/null || true
	LGPID=
	local res; res=$(grep '^RESULT' "$out" || true)
	sleep 3
	closed=$(procstat "$s")
	local b a c upn per
	b=$(kv "$key" "$before"); a=$(kv "$key" "$after"); c=$(kv "$key" "$closed")
	upn=$(kv up "$res"); upn=${upn:-${up:-0}}
	per=$(awk -v a="$a" -v b="$b" -v n="$upn" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "nan" }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$kind" "$n" "$upn" "$(kv dropped "$res")" "$key" "$b" "$a" "$c" "$per" \
		"$(kv nproc "$before")" "$(kv nproc "$after")" >>"$MEM"
	log "$s idle $kind: $upn/$n up, $key $b -> $a kB (closed: $c kB), $per KiB per session, processes $(kv nproc "$before") -> $(kv nproc "$after")"
}

# ---- main --------------------------------------------------------------------
ACTIVE=()
for s in $SERVERS; do
	case $s in
	imapcidd)
		if [ -x "$IMAPCIDD" ]; then
			ACTIVE+=(imapcidd)
			CID_VERSION="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') (binary sha256 $(sha256sum "$IMAPCIDD" | cut -c1-12))"
		else log "imapcidd not built ($IMAPCIDD): Dovecot only"; fi ;;
	dovecot) ACTIVE+=(dovecot) ;;
	*) fail "unknown server $s" ;;
	esac
done
[ ${#ACTIVE[@]} -gt 0 ] || fail "no server to benchmark"

if [ -n "${REPORT_FROM:-}" ]; then
	read -r T_START T_END LOAD0 <"$TMP/times" || true
	LOAD0=${LOAD0//_/ }
	: "${CID_VERSION:=$(cat "$TMP/cid-version" 2>/dev/null || echo '?')}"
	for s in imapcidd dovecot; do DIR[$s]=$TMP/$s; done
else

for s in "${ACTIVE[@]}"; do log "$s: copying the mail store"; "start_$s"; done
for s in "${ACTIVE[@]}"; do wait_ready "$s"; done
for s in "${ACTIVE[@]}"; do warm "$s"; done

# IDLE memory, each test on freshly started servers (no heap left by an
# earlier test, no reusable imap processes kept by Dovecot)
if [ "$IDLE_N" -gt 0 ]; then
	restart_all
	for s in "${ACTIVE[@]}"; do run_idle "$s" "$IDLE_N" users; done
fi
if [ "$IDLE_BIG_N" -gt 0 ]; then
	restart_all
	for s in "${ACTIVE[@]}"; do run_idle "$s" "$IDLE_BIG_N" big; done
fi
restart_all
for s in "${ACTIVE[@]}"; do
	"$LG" full -c "$FULL_CONC" -d "$WARMUP" -U "$NUSERS" $(noclid "$s") -p "${PORT[$s]}" -q >/dev/null 2>>"$TMP/loadgen-$s.err" || true
done

if [ -z "${BENCHES:-}" ]; then
	BENCHES="full fetch body"
	for w in $SEARCH_WORDS; do BENCHES="$BENCHES search:$w"; done
fi
for rep in $(seq 1 "$REPS"); do
	for b in $BENCHES; do
		# alternate which server goes first
		if [ $((rep % 2)) = 1 ]; then order=("${ACTIVE[@]}"); else order=(); for ((i = ${#ACTIVE[@]} - 1; i >= 0; i--)); do order+=("${ACTIVE[$i]}"); done; fi
		for s in "${order[@]}"; do run_bench "$s" "$b" "$rep"; done
	done
done

for s in "${ACTIVE[@]}"; do
	kill -0 "${PID[$s]}" 2>/dev/null || log "WARNING: $s is no longer running"
	stop_server "$s"
done
T_END=$(date +%s)
echo "$T_START $T_END ${LOAD0// /_}" >"$TMP/times"
echo "${CID_VERSION:-}" >"$TMP/cid-version"
fi # REPORT_FROM

# ---- report --------------------------------------------------------------------
have() { [[ " ${ACTIVE[*]} " == *" $1 "* ]]; }
# median over the repetitions of key k (or "cpu/<key>": server CPU ms / key)
med() {
	local s=$1 b=$2 k=$3
	while IFS=$'\t' read -r rs rb rr cpu res; do
		[ "$rs" = "$s" ] && [ "$rb" = "$b" ] || continue
		case $k in
		cpu/*) awk -v c="$cpu" -v n="$(kv "${k#cpu/}" " $res")" 'BEGIN { if (n > 0) printf "%.6f\n", c / n }' ;;
		mibs) # body: MiB/s of message octets (literals)
			kv literal_mib_s " $res" ;;
		p50_ms | p90_ms | p99_ms) # latencies only from runs that completed a command
			[[ " $res" == *" cmds=0 "* ]] || kv "$k" " $res" ;;
		*) kv "$k" " $res" ;;
		esac
	done <"$RAW" | { grep -E '^[0-9.]+$' || true; } | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sumfail() { awk -F'\t' -v s="$1" '$1==s { if (match($5, / failures=-?[0-9]+/)) { v = substr($5, RSTART + 10, RLENGTH - 10); f += (v < 0 ? 1 : v) } } END { print f + 0 }' "$RAW"; }
first() { awk -F'\t' -v s="$1" -v b="$2" '$1==s && $2==b { print $5; exit }' "$RAW"; }
memper() { awk -F'\t' -v s="$1" -v k="$2" '$1==s && $2==k { print $10 }' "$MEM"; }
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.*f", d, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b == 0) print "—"; else printf "%.2f", a / b }'; }
verdict() {
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "—" || v == "nan" || v == "" || v !~ /^[0-9.]+$/) { print "not measured"; exit }
		ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "**met**" : "**not met**" }'
}
V() { if have "$1"; then fmt "$2" "${3:-1}"; else echo "not measured"; fi; }

declare -A M
for s in imapcidd dovecot; do
	have "$s" || continue
	M[$s,full]=$(med "$s" full rate)
	M[$s,fullp50]=$(med "$s" full p50_ms)
	M[$s,fullp99]=$(med "$s" full p99_ms)
	M[$s,fullcpu]=$(med "$s" full cpu/ok_total)
	M[$s,fetch]=$(med "$s" fetch msg_rate)
	M[$s,fetchcmd]=$(med "$s" fetch p50_ms)
	M[$s,fetchcpu]=$(med "$s" fetch cpu/msgs_total)
	M[$s,body]=$(med "$s" body msg_rate)
	M[$s,bodymib]=$(med "$s" body mibs)
	M[$s,bodycpu]=$(med "$s" body cpu/msgs_total)
	for w in $SEARCH_WORDS; do
		M[$s,s50,$w]=$(med "$s" "search:$w" p50_ms)
		M[$s,s90,$w]=$(med "$s" "search:$w" p90_ms)
		M[$s,scpu,$w]=$(med "$s" "search:$w" cpu/cmds_total)
		M[$s,shits,$w]=$(kv hits " $(first "$s" "search:$w")")
	done
	M[$s,mem]=$(memper "$s" users)
	M[$s,membig]=$(memper "$s" big)
	M[$s,fail]=$(sumfail "$s")
	M[$s,exists]=$(kv exists " $(first "$s" fetch)")
	M[$s,perfetch]=$(kv msgs_per_cmd " $(first "$s" fetch)")
	M[$s,fullmsgs]="$(kv fetched_min " $(first "$s" full)")-$(kv fetched_max " $(first "$s" full)")"
done
g() { local v=${M[$1]:-}; [ -n "$v" ] && echo "$v" || echo nan; }
R() { ratio "$(g "imapcidd,$1")" "$(g "dovecot,$1")"; }
us() { awk -v v="$1" 'BEGIN { if (v == "nan") print "nan"; else printf "%.3f", v * 1000 }'; }

mkdir -p "$(dirname "$OUT")"
{
	echo "# imapcidd vs Dovecot: mail store benchmark, $(date -u -d "@$T_START" '+%Y-%m-%d %H:%M UTC')"
	echo
	[ -n "$LABEL" ] && { echo "**$LABEL**"; echo; }
	echo "Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(openssl version | cut -d' ' -f1-2), Dovecot $(dovecot --version | cut -d' ' -f1), imapcidd ${CID_VERSION:-not built}."
	echo "Load average at the start / end: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg). Run time $(((T_END - T_START) / 60)) min."
	echo
	echo "Data: bench/genmail.py seed $SEED: $GEN_SUMMARY; user bigbox's INBOX is that folder, bench1..bench$NUSERS each have the first $USER_MSGS messages. Each server has its own copy; both were warmed by one untimed pass of every benchmark (Dovecot's indexes and caches built, every file read once)."
	echo "Runs: medians of $REPS repetitions, servers interleaved (order alternating per repetition); full sessions ${DUR}s after ${FULL_WARM}s untimed; FETCH $FETCH_N commands per client; SEARCH $SEARCH_N commands per client. imapcidd sessions send CLIENTID (fresh UUID), Dovecot sessions do not (no CLIENTID support)."
	echo "Sanity: EXISTS seen by FETCH clients imapcidd $(g imapcidd,exists) / Dovecot $(g dovecot,exists); messages per FETCH 1:* $(g imapcidd,perfetch) / $(g dovecot,perfetch); messages per FETCH 1:10 ENVELOPE $(g imapcidd,fullmsgs) / $(g dovecot,fullmsgs); SEARCH hits $(for w in $SEARCH_WORDS; do printf '%s %s / %s; ' "$w" "$(g "imapcidd,shits,$w")" "$(g "dovecot,shits,$w")"; done)"
	echo
	echo "| metric | imapcidd | Dovecot 2.3 | imapcidd / Dovecot | target | met? |"
	echo "|---|---|---|---|---|---|"
	r=$(R full); echo "| full sessions/s, $FULL_CONC clients (TLS, CLIENTID, LOGIN, SELECT, FETCH 1:10 ENVELOPE, LOGOUT) | $(V imapcidd "$(g imapcidd,full)" 0) | $(V dovecot "$(g dovecot,full)" 0) | $r | >= 4x | $(verdict "$r" ">=" 4) |"
	echo "| full session latency p50 / p99 (ms) | $(V imapcidd "$(g imapcidd,fullp50)") / $(V imapcidd "$(g imapcidd,fullp99)") | $(V dovecot "$(g dovecot,fullp50)") / $(V dovecot "$(g dovecot,fullp99)") | | | |"
	echo "| server CPU per full session (ms) | $(V imapcidd "$(g imapcidd,fullcpu)" 2) | $(V dovecot "$(g dovecot,fullcpu)" 2) | $(R fullcpu) | | |"
	r=$(R fetch); echo "| FETCH 1:* (FLAGS ENVELOPE), $MSGS messages, $FETCH_CONC clients: messages/s | $(V imapcidd "$(g imapcidd,fetch)" 0) | $(V dovecot "$(g dovecot,fetch)" 0) | $r | >= 1.2x | $(verdict "$r" ">=" 1.2) |"
	echo "| one FETCH 1:* (FLAGS ENVELOPE), p50 (ms) | $(V imapcidd "$(g imapcidd,fetchcmd)" 0) | $(V dovecot "$(g dovecot,fetchcmd)" 0) | $(R fetchcmd) | | |"
	echo "| server CPU per message, (FLAGS ENVELOPE) (µs) | $(V imapcidd "$(us "$(g imapcidd,fetchcpu)")" 1) | $(V dovecot "$(us "$(g dovecot,fetchcpu)")" 1) | $(R fetchcpu) | | |"
	r=$(R body); echo "| FETCH 1:* BODY.PEEK[], $FETCH_CONC clients: messages/s | $(V imapcidd "$(g imapcidd,body)" 0) | $(V dovecot "$(g dovecot,body)" 0) | $r | >= 1.2x | $(verdict "$r" ">=" 1.2) |"
	echo "| FETCH 1:* BODY.PEEK[]: MiB/s of message octets | $(V imapcidd "$(g imapcidd,bodymib)" 1) | $(V dovecot "$(g dovecot,bodymib)" 1) | $(R bodymib) | | |"
	echo "| server CPU per message, BODY.PEEK[] (µs) | $(V imapcidd "$(us "$(g imapcidd,bodycpu)")" 1) | $(V dovecot "$(us "$(g dovecot,bodycpu)")" 1) | $(R bodycpu) | | |"
	for w in $SEARCH_WORDS; do
		echo "| SEARCH TEXT \"$w\" ($(g "imapcidd,shits,$w") hits), $SEARCH_CONC client(s): latency p50 / p90 (ms) | $(V imapcidd "$(g "imapcidd,s50,$w")") / $(V imapcidd "$(g "imapcidd,s90,$w")") | $(V dovecot "$(g "dovecot,s50,$w")") / $(V dovecot "$(g "dovecot,s90,$w")") | $(R "s50,$w") (p50) | | |"
		echo "| server CPU per SEARCH TEXT \"$w\" (ms) | $(V imapcidd "$(g "imapcidd,scpu,$w")") | $(V dovecot "$(g "dovecot,scpu,$w")") | $(R "scpu,$w") | | |"
	done
	r=$(fmt "$(g imapcidd,mem)" 1); echo "| memory per session in IDLE, $IDLE_N sessions over TLS, $USER_MSGS-message INBOX (KiB; imapcidd RSS, Dovecot PSS) | $(V imapcidd "$(g imapcidd,mem)") | $(V dovecot "$(g dovecot,mem)") | $(R mem) | imapcidd <= 24 | $(verdict "$r" "<=" 24) |"
	[ "$IDLE_BIG_N" -gt 0 ] && echo "| memory per session in IDLE, $IDLE_BIG_N sessions on the $MSGS-message folder (KiB) | $(V imapcidd "$(g imapcidd,membig)") | $(V dovecot "$(g dovecot,membig)") | $(R membig) | | |"
	echo "| failed sessions/commands, all timed runs | $(V imapcidd "$(g imapcidd,fail)" 0) | $(V dovecot "$(g dovecot,fail)" 0) | | 0 | |"
	echo
	echo "Ratios are imapcidd / Dovecot: above 1 is better for rates, below 1 is better for latency, CPU and memory."
	echo
	echo "IDLE memory detail (before -> after kB, after closing kB, processes before -> after):"
	echo
	while IFS=$'\t' read -r s k n up dr key b a c per np0 np1; do
		echo "- $s, $k: $up/$n sessions up (dropped while held: ${dr:-?}), $( [ "$key" = rss_kb ] && echo "VmRSS" || echo "summed Pss") $b -> $a kB, after closing $c kB; $per KiB per session; processes $np0 -> $np1"
	done <"$MEM"
	echo
	echo "<details><summary>All runs (server CPU ms over the run, then the load generator's RESULT line)</summary>"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
	echo
	echo "</details>"
} >"$TMP/report.md"

cp "$TMP/report.md" "$OUT"
cat "$TMP/report.md"
for s in "${ACTIVE[@]}"; do
	if [ -s "$TMP/loadgen-$s.err" ]; then
		log "$s: loadgen diagnostics (first lines):"
		sort "$TMP/loadgen-$s.err" | uniq -c | sort -rn | head -8 >&2
	fi
	lf=${DIR[$s]}/log
	if [ -f "$lf" ]; then
		# (not our own stops, nor imapcidd's "running as root")
		errs=$(grep -iE 'error|fatal|panic|warn' "$lf" | grep -cvE 'Killed with signal 15|running as root' || true)
		log "$s log: $(wc -l <"$lf") lines, $errs error/warning lines"
		grep -iE 'error|fatal|panic|warn' "$lf" | grep -vE 'Killed with signal 15|running as root' | sed 's/^[^:]*: //' | sort | uniq -c | sort -rn | head -5 >&2 || true
	fi
done
log "report written to $OUT"
