#!/usr/bin/env bash
# bench/spray.sh: password spraying from one address against imapcidd's
# failure budgets, and the registry after 100,000 sprayed attempts.
#
# Builds imapcidd (ninja -C build) and the load generator (make -C bench),
# then runs bench/spray.py, each run on a freshly started server with the
# defaults of docs/CONFIGURATION.md and auth_failure_delay=0:
#   (a) 60 attempts without CLIENTID, (b) 150 with a fresh random UUID each,
#   (c) 150 with 5 UUIDs in rotation, (d) 150 with one fixed UUID: every
#   attempt `LOGIN sprayedN <one wrong password>` on its own TLS connection,
#   a different non-existent account each, from 127.0.0.31, 15 at once;
#   per run: attempts answered without throttling (client < 1 s, and no
#   tarpit= / "rate limited" in the server's log line), the slowest answer,
#   the registry's size;
#   then 100,000 sprayed attempts (a fresh UUID each, bench/out/loadgen
#   spray, 4 per address and 6 addresses per /24 in 127.0.0.0/8 so no budget
#   refuses them early; default_pass_scheme=PLAIN so the dummy hash of the
#   unknown users costs nothing) with default retention, then a probe of 30
#   attempts as in (a) on the same server, then the 100,000 again with
#   registry_audit_max_rows=10000: registry.db + -wal and row counts.
# Loopback only; every process it starts is stopped at the end. About 25
# minutes at the defaults: the small runs wait out the tarpits (up to 30 s
# an attempt, 15 at a time: ~17 min), each large run takes ~3 min.
#
# Prints the report (markdown) and writes it to
# bench/results/spray-<UTC date>.md with the command, machine and settings.
#
# Usage: bench/spray.sh [spray.py run options]
#   e.g. bench/spray.sh --attempts-a 14 --attempts 14 --parallel 3 --big 3000 --big-cap 500
#   (bench/spray.py run --help lists them: --runs, --attempts-a, --attempts,
#   --parallel, --rotate, --source, --big, --big-cap, --big-conc,
#   --big-per-address, --big-per-network, --big-scheme, --probe, --set K=V)
# Environment: OUT=path of the report, IMAPCID_BUILD=build directory
#   (default build), NO_BUILD=1 to skip ninja.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${IMAPCID_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=${OUT:-$ROOT/bench/results/spray-$STAMP.md}
PY=${PYTHON:-/usr/bin/python3}

log() { printf '[spray.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
# build_imapcid, report_header
. "$ROOT/bench/lib.sh"

build_imapcid "$ROOT" "$BUILD" || exit 1
make -s -C "$ROOT/bench" >&2

mkdir -p "$(dirname "$OUT")"
BODY=$(mktemp /tmp/imapcid-spray-body.XXXXXX)
trap 'rm -f "$BODY"' EXIT

CMD="bench/spray.sh${*:+ $*}"
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
"$PY" "$ROOT/bench/spray.py" run --build "$BUILD" --markdown "$BODY" "$@" >/dev/null
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

{
	report_header "$ROOT" "Password spraying from one address: failure budgets and the registry" "$CMD" "$START" "$END"
	cat "$BODY"
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
