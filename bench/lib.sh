# bench/lib.sh: helpers shared by bench/run.sh and bench/mail.sh (sourced).
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
			log "$s: leftover process $p ($(cat /proc/$p/comm 2>/dev/null)): SIGKILL"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	log "$s stopped"
}

