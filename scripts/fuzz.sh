#!/usr/bin/env bash
# `make fuzz`: every libFuzzer target for FUZZ_SECONDS (default 600) each,
# FUZZ_JOBS (default 2) at a time, starting from the committed corpus
# (tests/fuzz/corpus/NAME) and a working corpus kept between runs
# (tests/fuzz/corpus-run/NAME, not committed). Inputs that reach new code
# are merged into the committed corpus (libFuzzer -merge=1, so only what
# adds coverage), a crash stops that target and is kept under
# build-fuzz/artifacts/. Prints one line per target and a summary table
# for docs/BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-2}

if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
	CC=clang meson setup "$FUZZ_BUILD" -Dfuzz=true -Db_lundef=false \
		--buildtype=debug >/dev/null || exit 1
fi
ninja -C "$FUZZ_BUILD" >/dev/null || exit 1
mkdir -p "$FUZZ_BUILD/artifacts" "$FUZZ_BUILD/fuzz-logs"

run_one() { # fuzzer binary
	local f=$1 name seeds work log
	name=$(basename "$f")
	seeds=tests/fuzz/corpus/${name#fuzz-}
	work=tests/fuzz/corpus-run/${name#fuzz-}
	log=$FUZZ_BUILD/fuzz-logs/$name.log
	mkdir -p "$seeds" "$work"
	local before
	before=$(find "$seeds" -type f | wc -l)
	"$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$FUZZ_BUILD/artifacts/$name-" \
		"$work" "$seeds" >"$log" 2>&1
	local rc=$?
	"$f" -merge=1 "$seeds" "$work" >>"$log" 2>&1
	local after runs cov
	after=$(find "$seeds" -type f | wc -l)
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
		grep -o '[0-9]*$' | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
	printf '| %s | %s s | %s | %s | %s -> %s | %s |\n' "$name" \
		"$FUZZ_SECONDS" "${runs:-?}" "${cov:-?}" "$before" "$after" \
		"$([ $rc -eq 0 ] && echo none || echo "CRASH, see $log")" \
		>"$log.row"
	return $rc
}

pids=()
names=()
status=0
for f in "$FUZZ_BUILD"/tests/fuzz/fuzz-*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	run_one "$f" &
	pids+=($!)
	names+=("$f")
	if [ ${#pids[@]} -ge "$FUZZ_JOBS" ]; then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
echo "| target | time | runs | coverage (edges) | corpus entries | crashes |"
echo "|---|---|---|---|---|---|"
for f in "${names[@]}"; do
	cat "$FUZZ_BUILD/fuzz-logs/$(basename "$f").log.row"
done
exit $status
