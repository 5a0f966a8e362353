# shellcheck shell=bash
# bench/lib.sh: helpers shared by the bench/*.sh scripts (sourced).
# They expect the caller's log() and its PID associative array (server
# name -> master pid).

# pids of a process tree (root first)
tree_pids() {
	local root=$1 all
	all=$(ps -e -o pid=,ppid= 2>/dev/null)
	awk -v r="$root" '{p[$1]=$2} END {
		n=1; t[r]=1; print r
		do { c=0; for (x in p) if (!(x in t) && (p[x] in t)) { t[x]=1; print x; c=1 } } while (c)
	}' <<<"$all"
}

stop_server() {
	local - s=$1 pid=${PID[$1]:-} pids p
	set +e
	[ -n "$pid" ] || return 0
	unset 'PID[$1]'
	kill -0 "$pid" 2>/dev/null || return 0
	pids=$(tree_pids "$pid")
	kill -TERM "$pid" 2>/dev/null
	# Dovecot with thousands of imap processes takes a while
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && { log "$s did not stop on SIGTERM: SIGKILL"; kill -KILL "$pid"; }
	wait "$pid" 2>/dev/null
	# children that outlived their master (only the ones we recorded)
	for _ in $(seq 50); do
		local left=
		for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		[ -z "$left" ] && break
		sleep 0.1
	done
	for p in $pids; do
		if kill -0 "$p" 2>/dev/null; then
			log "$s: leftover process $p ($(cat "/proc/$p/comm" 2>/dev/null)): SIGKILL"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	log "$s stopped"
}


# ---- used by spray.sh and stall.sh (attack.sh has its own copy) ----------

# build_imapcid ROOT BUILD: ninja -C BUILD unless NO_BUILD=1; on a failed
# build the binaries already there are used and BUILD_NOTE says so.
build_imapcid() {
	local root=$1 build=$2 nlog b
	BUILD_NOTE=
	if [ "${NO_BUILD:-0}" != 1 ]; then
		if [ ! -f "$build/build.ninja" ]; then
			log "configuring $build"
			(cd "$root" && meson setup "$build") >&2
		fi
		log "ninja -C $build"
		nlog=$(mktemp /tmp/imapcid-bench-ninja.XXXXXX)
		if ! ninja -C "$build" >"$nlog" 2>&1; then
			grep -m5 -E 'error|FAILED' "$nlog" >&2 || tail -5 "$nlog" >&2
			BUILD_NOTE="ninja -C $build failed at $(date -u +%H:%M:%SZ) (working tree does not build); the binaries already in $build were used"
			log "WARNING: $BUILD_NOTE"
		fi
		rm -f "$nlog"
	fi
	for b in imapcidd imapcidctl; do
		[ -x "$build/$b" ] || { log "missing $build/$b"; return 1; }
	done
}

# report_header ROOT TITLE CMD START END: the lines every report starts with
# (command, machine, source revision, build note, tool versions).
report_header() {
	local root=$1 title=$2 cmd=$3 start=$4 end=$5 rev dirty model
	rev=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(cd "$root" && git status --porcelain --untracked-files=no -- src meson.build 2>/dev/null | wc -l)
	model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
	echo "## $title"
	echo
	echo "- Command: \`$cmd\` (from the repository root), $start to $end"
	echo "- Machine: $(nproc) CPUs, ${model:-unknown model}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- Source at the start: git $rev$([ "$dirty" != 0 ] && echo " with $dirty uncommitted change(s) under src/ or meson.build"); the binary used is identified below"
	if [ -n "${BUILD_NOTE:-}" ]; then echo "- **Build: $BUILD_NOTE.**"; fi
	echo "- Python $(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'), $(openssl version)"
	echo
}
