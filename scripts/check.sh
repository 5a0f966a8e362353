#!/usr/bin/env bash
# Everything `make check` runs: format, build with -Werror, unit tests,
# end-to-end tests, the same under ASan+UBSan, and a short fuzz run. Ends
# with one line "check: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
PY=/usr/bin/python3

passed=0
failed=0
failures=()

step() { printf '\n=== %s\n' "$*"; }
ok() { passed=$((passed + ${1:-1})); }
fail() {
	failed=$((failed + ${2:-1}))
	failures+=("$1")
}

setup() { # dir, meson args...
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null
}

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)..."
unit() { # dir label
	local dir=$1 label=$2 log
	log=$(mktemp)
	if meson test -C "$dir" --suite unit --print-errorlogs >"$log" 2>&1; then
		:
	fi
	local p f
	p=$(grep -h -o '\[  PASSED  \] [0-9]*' "$dir/meson-logs/testlog.txt" |
		awk '{s+=$4} END {print s+0}')
	f=$(grep -h -o '\[  FAILED  \] [0-9]*' "$dir/meson-logs/testlog.txt" |
		awk '{s+=$4} END {print s+0}')
	local suite_fail
	suite_fail=$(grep -E '^(Fail|Timeout):' "$log" | awk '{s+=$2} END {print s+0}')
	tail -n 12 "$log"
	ok "$p"
	[ "$f" -gt 0 ] && fail "$label unit tests" "$f"
	# a step that ran nothing proves nothing
	[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && fail "$label unit tests: none ran"
	if [ "$suite_fail" -gt 0 ] && [ "$f" -eq 0 ]; then
		fail "$label unit test binaries crashed" "$suite_fail"
	fi
	rm -f "$log"
}

e2e() { # dir label
	local dir=$1 label=$2 log
	log=$(mktemp)
	IMAPCID_BUILD=$dir $PY -m unittest discover -s tests/e2e \
		>"$log" 2>&1
	local rc=$?
	tail -n 25 "$log"
	local ran fails errs
	ran=$(grep -o '^Ran [0-9]*' "$log" | awk '{print $2}')
	ran=${ran:-0}
	fails=$(grep -o 'failures=[0-9]*' "$log" | cut -d= -f2)
	errs=$(grep -o 'errors=[0-9]*' "$log" | cut -d= -f2)
	local skipped
	skipped=$(grep -o 'skipped=[0-9]*' "$log" | cut -d= -f2)
	local bad=$((${fails:-0} + ${errs:-0}))
	ok $((ran - bad - ${skipped:-0}))
	if [ "$bad" -gt 0 ] || [ "$rc" -ne 0 ] || [ "$ran" -eq 0 ]; then
		fail "$label end-to-end tests" $((bad > 0 ? bad : 1))
	fi
	rm -f "$log"
}

# Dovecot's imaptest compliance scripts against a server of its own
# (tests/imaptest/run.sh), when ../shared/tools/imaptest is next to the
# repository; its commands count one each. Exit 77: skipped, not counted.
imaptest() { # dir label
	local dir=$1 label=$2 log rc p f
	log=$(mktemp)
	BUILD=$dir tests/imaptest/run.sh >"$log" 2>&1
	rc=$?
	cat "$log"
	if [ "$rc" -eq 77 ]; then
		echo "(skipped: not counted)"
		rm -f "$log"
		return
	fi
	p=$(sed -n 's/^imaptest: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$log")
	f=$(sed -n 's/^imaptest: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$log")
	ok "${p:-0}"
	if [ "$rc" -ne 0 ] || [ "${f:-1}" -gt 0 ]; then
		fail "$label imaptest compliance" "$((${f:-1} > 0 ? ${f:-1} : 1))"
	fi
	rm -f "$log"
}

step "format"
if make -s format-check; then ok; else fail "format-check"; fi

step "build (-Werror)"
if setup "$BUILD"; then ok; else
	fail "build"
	echo "check: $passed passed, $failed failed"
	exit 1
fi

step "unit tests"
unit "$BUILD" "plain"

step "end-to-end tests"
e2e "$BUILD" "plain"

step "imaptest compliance scripts"
imaptest "$BUILD" "plain"

step "AddressSanitizer + UndefinedBehaviorSanitizer build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
if setup "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false \
	--buildtype=debug; then
	ok
	step "unit tests (sanitizers)"
	unit "$ASAN_BUILD" "sanitizer"
	step "end-to-end tests (sanitizers)"
	e2e "$ASAN_BUILD" "sanitizer"
	step "imaptest compliance scripts (sanitizers)"
	imaptest "$ASAN_BUILD" "sanitizer"
else
	fail "sanitizer build"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

step "fuzzing (${FUZZ_SECONDS}s per target)"
if CC=clang setup "$FUZZ_BUILD" -Dfuzz=true -Db_lundef=false \
	--buildtype=debug; then
	for f in "$FUZZ_BUILD"/tests/fuzz/fuzz-*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=$(mktemp -d)
		seeds=tests/fuzz/corpus/${name#fuzz-}
		mkdir -p "$FUZZ_BUILD/artifacts"
		if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 \
			-timeout=10 -artifact_prefix="$FUZZ_BUILD/artifacts/" \
			"$corpus" "$seeds" >"$corpus.log" 2>&1; then
			echo "$name: $(grep -o 'Done [0-9]* runs' "$corpus.log")"
			ok
		else
			tail -n 30 "$corpus.log"
			fail "fuzz $name"
		fi
		rm -rf "$corpus" "$corpus.log"
	done
else
	fail "fuzz build"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failures[@]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
