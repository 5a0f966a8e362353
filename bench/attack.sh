#!/usr/bin/env bash
# bench/attack.sh: credential attack from one shared (carrier-grade NAT)
# address, imapcidd device policy against fail2ban-style per-address blocking.
#
# Builds imapcidd if needed (ninja -C build), then runs bench/attack.py:
# 200 legitimate devices (user0..user199, one UUID token each, 3-5 logins
# each) and 2,000 attacker tokens (2-4 attempts each; right passwords for
# user0..user49, wrong guesses on the other accounts), all from 127.0.0.9,
# against
#   (A) policy_mode=enforce, the 200 devices trusted beforehand (one
#       learn-mode login each, policy_learn_devices=1), default budgets;
#   (B) policy_mode=off with a fail2ban-like address budget (5 failures in
#       10m block the address for 10m);
#   (C) policy_mode=learn, the 200 devices trusted beforehand as in (A)
#       (policy_learn_devices=1: every account's learned slot is taken):
#       attacker logins with a right password get in (learn mode), and must
#       be recorded pending and alerted (new-device-success), never trusted.
# About 12 minutes at the defaults (4 per configuration); --order A,B runs
# only the first two, as before (C) was added.
# Loopback only; every process it starts is stopped at the end.
#
# Prints the report (markdown) and writes it to
# bench/results/attack-<UTC date>.md with the command, machine and settings.
#
# Usage: bench/attack.sh [attack.py run options]   e.g. --duration 120
# Environment: OUT=path of the report, IMAPCID_BUILD=build directory
#   (default build), NO_BUILD=1 to skip ninja.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${IMAPCID_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=${OUT:-$ROOT/bench/results/attack-$STAMP.md}
PY=${PYTHON:-/usr/bin/python3}
BUILD_NOTE=

log() { printf '[attack.sh %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
	if [ ! -f "$BUILD/build.ninja" ]; then
		log "configuring $BUILD"
		(cd "$ROOT" && meson setup "$BUILD") >&2
	fi
	log "ninja -C $BUILD"
	NLOG=$(mktemp /tmp/imapcid-attack-ninja.XXXXXX)
	if ! ninja -C "$BUILD" >"$NLOG" 2>&1; then
		grep -m5 -E 'error|FAILED' "$NLOG" >&2 || tail -5 "$NLOG" >&2
		# The working tree may be mid-edit: run the binaries already
		# built, and say so in the report.
		BUILD_NOTE="ninja -C $BUILD failed at $(date -u +%H:%M:%SZ) (working tree does not build); the binaries already in $BUILD were used"
		log "WARNING: $BUILD_NOTE"
	fi
	rm -f "$NLOG"
fi
for b in imapcidd imapcidctl; do
	[ -x "$BUILD/$b" ] || { log "missing $BUILD/$b"; exit 1; }
done

mkdir -p "$(dirname "$OUT")"
BODY=$(mktemp /tmp/imapcid-attack-body.XXXXXX)
trap 'rm -f "$BODY"' EXIT

CMD="bench/attack.sh${*:+ $*}"
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(cd "$ROOT" && git status --porcelain --untracked-files=no -- src meson.build 2>/dev/null | wc -l)
"$PY" "$ROOT/bench/attack.py" run --build "$BUILD" --markdown "$BODY" "$@" >/dev/null
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

MODEL=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
	echo "## Attack from one shared address: device policy (enforce, learn) vs per-address blocking"
	echo
	echo "- Command: \`$CMD\` (from the repository root), $START to $END"
	echo "- Machine: $(nproc) CPUs, ${MODEL:-unknown model}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
	echo "- Source at the start: git $REV$([ "$DIRTY" != 0 ] && echo " with $DIRTY uncommitted change(s) under src/ or meson.build"); the binary used is identified under Settings"
	[ -n "${BUILD_NOTE:-}" ] && echo "- **Build: $BUILD_NOTE.**"
	echo "- Python $("$PY" -c 'import sys; print(sys.version.split()[0])'), $(openssl version)"
	echo
	cat "$BODY"
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
