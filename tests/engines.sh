#!/usr/bin/env bash
# engines.sh: podman and containerd drive contain end to end, as they drive runc.
#
#   sudo bash tests/engines.sh [CONTAIN]        # CONTAIN: the binary to test (default bin/contain)
#   sudo ENGINES=require bash tests/engines.sh  # a missing engine or root is a failure, not a skip
#
# For each engine: run and remove (output), exit code, a detached run and its logs, the state
# under the --root the engine passes, exec (output and exit code; and with a terminal), stop (TERM honoured; TERM
# ignored, so KILL after the timeout), a run with a terminal and a tmpfs mount; with podman, a
# non-root user, a HOME for a user without a passwd entry, a device node made (not opened), a
# --pids-limit -1 (sent as 0),
# and a build (each RUN step a container); with containerd, ps. Then, on a running container
# of their own (ce-ops), the operations: pause and unpause/resume (its count stops, then goes on), kill with USR1 (its trap's
# line in the log), exec with a user and a working directory (podman: and --env, --detach); with
# podman, update (the values in the cgroup's files) and restart (a new init); with containerd,
# metrics (the memory limit and the processes). At the end, no state, process, mount or cgroup of this
# run may be left (the cleanup and leaks cases). Each case prints PASS, FAIL or
# SKIP; a failure shows the engine's command, its output and every contain command line the
# engine ran for that case, with its exit status. The last line is the summary:
#   engines: N passed, N failed, N skipped
# and the exit status is non-zero when a case failed.
#
# Everything is private and removed at the end: podman gets its own --root, --runroot, tmpdir,
# storage.conf and containers.conf under a temp dir (never the machine's storage); containerd is
# a daemon of this script's own (root, state, sockets under the temp dir, a unique namespace),
# killed by its pid. The image is a `contain rootfs build` tarball (podman import; an OCI
# archive made here for ctr). Nothing is built and nothing is downloaded.
#
# ENGINES_TRACE=FILE keeps a copy of every contain command line the engines ran (with exit status).
set -euo pipefail

CONTAIN=${1:-${CONTAIN:-bin/contain}}
MODE=${ENGINES:-}
CMD_TIMEOUT=${ENGINES_TIMEOUT:-60} # seconds for one engine command
pass=0 fail=0 skip=0

say() { printf '%s\n' "$*"; }
summary() { say "engines: $pass passed, $fail failed, $skip skipped"; }

# Missing prerequisites: a skip with the reason, or with ENGINES=require a failure.
unmet() {
	if [ "$MODE" = require ]; then
		say "FAIL setup: $1 (ENGINES=require)"
		fail=$((fail + 1))
		summary
		exit 1
	fi
	say "SKIP engines: $1"
	skip=$((skip + 1))
	summary
	exit 0
}

# ---- reporting -------------------------------------------------------------------------------

case_name='' case_trace=0 last_cmd='' last_out='' last_rc=0

begin() {
	case_name=$1
	case_trace=$(wc -l <"$TRACE")
}
ok() {
	say "PASS $case_name"
	pass=$((pass + 1))
}
skipcase() {
	say "SKIP $1: $2"
	skip=$((skip + 1))
}
# bad WHY: the FAIL line, then the last engine command, its output, and the contain calls.
bad() {
	say "FAIL $case_name: $1"
	fail=$((fail + 1))
	if [ -n "$last_cmd" ]; then
		say "    command: $last_cmd (exit $last_rc)"
		printf '%s\n' "$last_out" | tail -n 12 | sed 's/^/    | /'
	fi
	local calls
	calls=$(tail -n +"$((case_trace + 1))" "$TRACE")
	if [ -n "$calls" ]; then
		say "    contain calls in this case:"
		printf '%s\n' "$calls" | cut -c1-1000 | tail -n 16 | sed 's/^/    > /'
	fi
}
# run CMD...: runs an engine command with a timeout and no stdin; sets last_out and last_rc.
run() {
	last_cmd=$(printf '%q ' "$@")
	last_out=$(timeout -k 5 "$CMD_TIMEOUT" "$@" </dev/null 2>&1) && last_rc=0 || last_rc=$?
	last_out=${last_out//$'\r'/}
}
# interactive CMD: as run, but on a pty (script(1)) so that the engine sees a terminal.
interactive() {
	last_cmd="script -qec \"$1\" /dev/null"
	last_out=$(timeout -k 5 "$CMD_TIMEOUT" script -qec "$1" /dev/null </dev/null 2>&1) && last_rc=0 || last_rc=$?
	last_out=${last_out//$'\r'/}
}
has_line() { printf '%s\n' "$last_out" | grep -qx -- "$1"; }
# has_text RE: a line of the output matches RE (a terminal's echo may prefix ^@ and the like).
has_text() { printf '%s\n' "$last_out" | grep -q -- "$1"; }
# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
now_ms() { date +%s%3N; }
# pm_logs_say NAME LINE: podman's logs of NAME have LINE.
pm_logs_say() { "$T/bin/pm" logs "$1" 2>/dev/null | grep -qx -- "$2"; }
# pm_logs_count NAME LINE N: the podman container's logs have LINE N times.
pm_logs_count() { [ "$("$T/bin/pm" logs "$1" 2>/dev/null | grep -cx -- "$2" || true)" = "$3" ]; }
# task_is NAME STATUS: ctr tasks ls says NAME is STATUS (RUNNING, STOPPED, ...).
task_is() { [ "$(task_status "$1")" = "$2" ]; }
# Every container process the engines report, with its start time, to prove it is gone at the end.
record_pid() {
	local pid=$1 start
	[[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 0 ] || return 0
	start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) || return 0
	echo "$pid $start" >>"$T/pids"
}

# contain as the engines see it: a wrapper that records each command line and exit status, then
# runs the binary under test. EXTRA: global flags to add (podman's --root, see below).
make_wrapper() {
	local path=$1 extra=$2
	mkdir -p "$(dirname "$path")"
	cat >"$path" <<EOF
#!/bin/sh
echo "\$\$ contain \$*" >>"$TRACE"
"$CONTAIN" $extra "\$@"
rc=\$?
echo "\$\$ exit \$rc" >>"$TRACE"
exit \$rc
EOF
	chmod 0755 "$path"
}

# ---- the image -------------------------------------------------------------------------------

# oci_archive TAR OUT NAME: an OCI image layout archive (ctr images import) of one layer, TAR.
oci_archive() {
	local tar=$1 out=$2 name=$3 dir sha cfg man
	dir=$(mktemp -d "$T/image/oci.XXXXXX")
	mkdir -p "$dir/blobs/sha256"
	sha=$(sha256sum "$tar" | cut -d' ' -f1)
	cp "$tar" "$dir/blobs/sha256/$sha"
	printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(go_arch)" "$sha" >"$dir/config.json"
	cfg=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
		"$cfg" "$(stat -c %s "$dir/config.json")" "$sha" "$(stat -c %s "$tar")" >"$dir/manifest.json"
	man=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
	mv "$dir/config.json" "$dir/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s","io.containerd.image.name":"%s"}}]}' \
		"$man" "$(stat -c %s "$dir/manifest.json")" "$name" "$name" >"$dir/index.json"
	mv "$dir/manifest.json" "$dir/blobs/sha256/$man"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	tar -C "$dir" -cf "$out" oci-layout index.json blobs
	rm -rf "$dir"
}
go_arch() {
	case $(uname -m) in
	x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;;
	esac
}

# The commands run in the containers. TERM_SCRIPT installs its handler before it says so, because
# a pid namespace's init ignores signals it has no handler for.
TERM_SCRIPT='trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 1; done'
IGNORE_SCRIPT='trap "" TERM; echo ready; while :; do sleep 1; done'
STOP_WAIT=2 # seconds an engine waits after TERM before KILL, for the container that ignores TERM
# The container of the operations cases (pause, update, kill with a signal, restart, exec's
# options): it logs USR1 and TERM (TERM ends it) and counts in /tmp/tick ten times a second, so
# that a frozen container is seen not to count.
# shellcheck disable=SC2016 # $i is the container shell's
OPS_SCRIPT='trap "echo got-usr1" USR1; trap "echo got-term; exit 0" TERM; i=0; echo started; while :; do i=$((i + 1)); echo $i >/tmp/tick; sleep 0.1; done'
FROZEN_WAIT=0.6 # seconds in which a container that is not frozen counts at least once

# tick PID: the OPS_SCRIPT container's count, read from the host through its init's root.
tick() { cat "/proc/$1/root/tmp/tick" 2>/dev/null || true; }
# ticking PID [N]: the count is there and is not N.
ticking() {
	local n
	n=$(tick "$1")
	[ -n "$n" ] && [ "$n" != "${2:-}" ]
}
# frozen PID: the count does not move for FROZEN_WAIT seconds (and the process still exists).
frozen() {
	local a b
	a=$(tick "$1")
	sleep "$FROZEN_WAIT"
	b=$(tick "$1")
	[ -d "/proc/$1" ] && [ "$a" = "$b" ]
}
# cg_file PID CONTROLLER V1FILE V2FILE: a file of PID's cgroup, in CONTROLLER's v1 hierarchy
# where it has one (v1, hybrid), else in the cgroup2 hierarchy (a pure v2 host).
cg_file() {
	local pid=$1 ctl=$2 path mnt
	path=$(awk -F: -v c="$ctl" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$pid/cgroup" 2>/dev/null || true)
	if [ -n "$path" ]; then
		cat "/sys/fs/cgroup/$ctl$path/$3" 2>/dev/null || true
		return
	fi
	path=$(awk -F: '$1 == 0 {print $3}' "/proc/$pid/cgroup" 2>/dev/null || true)
	mnt=$(awk '{for (i = 7; i < NF; i++) if ($i == "-") {if ($(i + 1) == "cgroup2") print $5; break}}' /proc/self/mountinfo | head -n1)
	if [ -n "$path" ] && [ -n "$mnt" ]; then cat "$mnt$path/$4" 2>/dev/null || true; fi
}
# counting_anew PID OLD: the count is back below OLD (a new init counts from 1 again; the file
# itself outlives the restart in the container's upper layer).
counting_anew() {
	local n
	n=$(tick "$1")
	[ -n "$n" ] && [ "$n" -lt "$2" ]
}
# contain_status ROOT ID: the status in contain's state of ID under ROOT.
contain_status() {
	{ "$CONTAIN" --root "$1" state "$2" 2>/dev/null || true; } | sed -n 's/^ *"status": *"\([a-z]*\)".*/\1/p'
}

# ---- cleanup ---------------------------------------------------------------------------------

ctd_pid=''
cleaned=0

# Processes whose command line names this run's temp dir (conmon, shims, the daemon, contain
# itself) are this run's; kill_ours kills those that are left, by pid, and says so.
ours() {
	local p cmd
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		if [ "$p" = $$ ] || [ "$p" = "$BASHPID" ]; then continue; fi
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		case $cmd in *"$T/"*) echo "$p" ;; esac
	done
}

cleanup() {
	[ "$cleaned" -eq 0 ] || return 0
	cleaned=1
	set +e
	if [ -x "$T/bin/pm" ]; then
		timeout 60 "$T/bin/pm" rm -af -t 0 >/dev/null 2>&1
		timeout 60 "$T/bin/pm" rmi -af >/dev/null 2>&1
	fi
	if [ -n "$ctd_pid" ]; then
		local c
		for c in $(timeout 10 "$T/bin/ctr" tasks ls -q 2>/dev/null); do
			timeout 10 "$T/bin/ctr" tasks kill -s KILL "$c" >/dev/null 2>&1
			timeout 10 "$T/bin/ctr" tasks rm -f "$c" >/dev/null 2>&1
		done
		for c in $(timeout 10 "$T/bin/ctr" containers ls -q 2>/dev/null); do
			timeout 10 "$T/bin/ctr" containers rm "$c" >/dev/null 2>&1
		done
		kill "$ctd_pid" 2>/dev/null
		wait "$ctd_pid" 2>/dev/null
		ctd_pid=''
	fi
	local p
	for p in $(ours); do
		echo "engines: cleanup: killing leftover pid $p: $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-200)" >&2
		kill -9 "$p" 2>/dev/null
	done
	# Container processes this run saw, if one outlived its engine.
	if [ -f "$T/pids" ]; then
		while read -r p start; do
			[ "$(awk '{print $22}' "/proc/$p/stat" 2>/dev/null)" = "$start" ] || continue
			echo "engines: cleanup: killing leftover container pid $p" >&2
			kill -9 "$p" 2>/dev/null
		done <"$T/pids"
	fi
	# State contain left under the roots the engines passed.
	local root id
	for root in "$T/state/podman" "$T/state/containerd/$UNIQ"; do
		for id in $("$CONTAIN" --root "$root" list -q 2>/dev/null); do
			"$CONTAIN" --root "$root" delete --force "$id" >/dev/null 2>&1
		done
	done
	cgroup_sweep remove
	awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf --one-file-system "$T"
	for p in "${created_globals[@]}"; do
		case $p in
		/var/lib/containers/cache) rm -f "$p/blob-info-cache-v1.boltdb" ;;
		esac
		rmdir "$p" 2>/dev/null
	done
}
# cgroup_sweep [remove]: the cgroups named after this run (podman's --cgroup-parent, ctr's
# namespace): prints the leaves, which a runtime should have removed; with remove, removes them
# all (an empty parent is what runc leaves too).
cgroup_sweep() {
	local d
	find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -name "$UNIQ" 2>/dev/null |
		while read -r d; do
			if [ "${1:-}" = remove ]; then
				find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
			else
				find "$d" -mindepth 1 -type d
			fi
		done
}

# ---- podman ----------------------------------------------------------------------------------

# podman passes --runtime-flag values to the runtime calls it makes itself, but not to the
# `podman container cleanup` that conmon runs when a container exits (podman 4.3), whose
# `contain delete --force` would look under the default /run/contain. So podman's contain is a
# wrapper that names the root itself: `--runtime-flag root=...` cannot keep the state private.
podman_setup() {
	local P=$T/podman
	mkdir -p "$P"/{root,runroot,tmp,net,volumes,static} "$T/state/podman"
	cat >"$P/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$P/runroot"
EOF
	cat >"$P/containers.conf" <<EOF
[containers]
netns = "none"
cgroups = "no-conmon"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
image_copy_tmp_dir = "$P/tmp"
lock_type = "file"
volume_path = "$P/volumes"
static_dir = "$P/static"
# contain writes runc's JSON log lines: podman then reads contain's errors from --log
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "contain"]
[network]
network_config_dir = "$P/net"
EOF
	: >"$P/registries.conf"
	make_wrapper "$T/bin/contain" "--root $T/state/podman"
	cat >"$T/bin/pm" <<EOF
#!/bin/sh
export CONTAINERS_CONF="$P/containers.conf" CONTAINERS_STORAGE_CONF="$P/storage.conf" CONTAINERS_REGISTRIES_CONF="$P/registries.conf"
exec podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" --cgroup-manager cgroupfs \\
	--events-backend file --runtime "$T/bin/contain" "\$@"
EOF
	chmod 0755 "$T/bin/pm"
}

podman_cases() {
	local pm=$T/bin/pm
	# Every run: no network, this run's cgroup parent, and rlimits this host allows (podman
	# asks for the host's hard limits otherwise, and raising them needs CAP_SYS_RESOURCE).
	local -a rf=(--network none --cgroup-parent "/$UNIQ" --ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
	local id t0 el

	begin podman/setup
	podman_setup
	run "$pm" import "$T/image/rootfs.tar" "$IMG"
	if [ "$last_rc" -ne 0 ]; then
		bad "podman import failed"
		return
	fi
	ok

	begin podman/run-rm
	run "$pm" run --rm "${rf[@]}" "$IMG" echo hi
	if [ "$last_rc" -eq 0 ] && has_line hi; then ok; else bad "want output hi and exit 0"; fi

	begin podman/exit-code
	run "$pm" run --rm "${rf[@]}" "$IMG" sh -c 'exit 3'
	if [ "$last_rc" -eq 3 ]; then ok; else bad "want exit 3"; fi

	# podman shows the runtime's error for a program that cannot be run, and maps it to 127
	# (it reads contain's JSON log as one object first, then conmon's copy of its stderr).
	begin podman/missing-command
	run "$pm" run --rm "${rf[@]}" "$IMG" /no/such/command
	if [ "$last_rc" -eq 127 ] && printf '%s\n' "$last_out" | grep -q 'no/such/command.*no such file or directory'; then
		ok
	else
		bad "want exit 127 and contain's error naming /no/such/command"
	fi

	begin podman/detached-logs
	run "$pm" run -d --name ce-term "${rf[@]}" "$IMG" sh -c "$TERM_SCRIPT"
	local detached=0
	if [ "$last_rc" -ne 0 ]; then
		bad "detached run failed"
	else
		detached=1
		record_pid "$("$pm" inspect --format '{{.State.Pid}}' ce-term 2>/dev/null)"
		if wait_for 10 pm_logs_say ce-term started; then
			ok
		else
			run "$pm" logs ce-term
			bad "logs never said started"
		fi
	fi

	if [ "$detached" -eq 1 ]; then
		begin podman/state-under-root
		id=$("$pm" inspect --format '{{.Id}}' ce-term 2>/dev/null)
		run "$CONTAIN" --root "$T/state/podman" state "$id"
		if [ "$last_rc" -eq 0 ] && printf '%s' "$last_out" | grep -q '"status": *"running"'; then
			ok
		else
			bad "contain --root $T/state/podman state: want running"
		fi

		begin podman/exec
		run "$pm" exec ce-term sh -c 'echo in-exec; exit 4'
		if [ "$last_rc" -eq 4 ] && has_line in-exec; then ok; else bad "want output in-exec and exit 4"; fi

		begin podman/exec-tty
		interactive "'$pm' exec -t ce-term sh -c 'tty; echo tty-ok'"
		if [ "$last_rc" -eq 0 ] && has_text 'tty-ok$' && has_text '/dev/pts/[0-9]'; then
			ok
		else
			bad "want a /dev/pts terminal, output tty-ok and exit 0"
		fi

		begin podman/stop-term
		t0=$(now_ms)
		run "$pm" stop -t 10 ce-term
		el=$(($(now_ms) - t0))
		local code
		code=$("$pm" inspect --format '{{.State.ExitCode}}' ce-term 2>/dev/null || echo '?')
		if [ "$last_rc" -ne 0 ]; then
			bad "podman stop failed"
		elif [ "$el" -ge 9000 ]; then
			bad "stop took ${el} ms: TERM was not honoured (KILL after the timeout)"
		elif [ "$code" != 0 ]; then
			bad "exit code $code, want 0 (the TERM trap exits 0)"
		elif ! "$pm" logs ce-term 2>/dev/null | grep -qx got-term; then
			bad "logs lack got-term"
		else
			ok
		fi
		"$pm" rm -f ce-term >/dev/null 2>&1 || true
	else
		skipcase podman/state-under-root "no detached container"
		skipcase podman/exec "no detached container"
		skipcase podman/exec-tty "no detached container"
		skipcase podman/stop-term "no detached container"
	fi

	begin podman/stop-kill
	run "$pm" run -d --name ce-kill "${rf[@]}" "$IMG" sh -c "$IGNORE_SCRIPT"
	if [ "$last_rc" -ne 0 ]; then
		bad "detached run failed"
	else
		record_pid "$("$pm" inspect --format '{{.State.Pid}}' ce-kill 2>/dev/null)"
		wait_for 10 pm_logs_say ce-kill ready || true
		t0=$(now_ms)
		run "$pm" stop -t "$STOP_WAIT" ce-kill
		el=$(($(now_ms) - t0))
		local code status
		code=$("$pm" inspect --format '{{.State.ExitCode}}' ce-kill 2>/dev/null || echo '?')
		status=$("$pm" inspect --format '{{.State.Status}}' ce-kill 2>/dev/null || echo '?')
		if [ "$last_rc" -ne 0 ]; then
			bad "podman stop failed"
		elif [ "$el" -lt $((STOP_WAIT * 1000)) ]; then
			bad "stopped after ${el} ms, before the ${STOP_WAIT} s timeout: TERM was not ignored?"
		elif [ "$code" != 137 ] || [ "$status" != exited ]; then
			bad "status $status, exit code $code: want exited, 137 (KILL)"
		else
			ok
		fi
	fi
	"$pm" rm -f ce-kill >/dev/null 2>&1 || true

	begin podman/tty
	if ! command -v script >/dev/null; then
		skipcase podman/tty "script(1) not installed (util-linux)"
	else
		interactive "'$pm' run --rm -t ${rf[*]} $IMG sh -c 'tty; echo tty-ok'"
		if [ "$last_rc" -eq 0 ] && has_text 'tty-ok$' && has_text '/dev/pts/[0-9]'; then
			ok
		else
			bad "want a /dev/pts terminal, output tty-ok and exit 0"
		fi
	fi

	# Beyond the issue's list: what podman users do every day.
	begin podman/user
	run "$pm" run --rm "${rf[@]}" --user 1000:1000 "$IMG" id
	if [ "$last_rc" -eq 0 ] && printf '%s\n' "$last_out" | grep -Eq '^uid=1000(\([^)]*\))? gid=1000'; then # podman may add a passwd entry: uid=1000(1000)
		ok
	else
		bad "want uid=1000 gid=1000 and exit 0"
	fi

	# What runc gives and images count on: a HOME for a user the image's passwd lacks ("/"),
	# and any node made (the device cgroup's c *:* m), though not opened.
	begin podman/home-and-mknod
	# shellcheck disable=SC2016 # $HOME is the container's
	run "$pm" run --rm "${rf[@]}" --user 1000:1000 "$IMG" sh -c 'echo "home=$HOME"'
	local home_rc=$last_rc home_out=$last_out
	run "$pm" run --rm "${rf[@]}" "$IMG" sh -c 'mknod /tmp/n c 1 6 && echo made; cat /tmp/n 2>/dev/null || echo not-opened'
	if [ "$home_rc" -ne 0 ] || ! printf '%s\n' "$home_out" | grep -qx 'home=/'; then
		last_rc=$home_rc last_out=$home_out
		bad "--user 1000: want home=/ and exit 0"
	elif [ "$last_rc" -eq 0 ] && has_line made && has_line not-opened; then
		ok
	else
		bad "want mknod c 1 6 made (made), its open refused (not-opened), exit 0"
	fi

	# podman 4.3 sends pids.limit 0 for --pids-limit -1 ("no limit"), and runc 1.1 reads 0
	# as not set: written as a limit, no process could fork.
	begin podman/pids-unlimited
	run "$pm" run --rm "${rf[@]}" --pids-limit -1 "$IMG" sh -c 'ls / >/dev/null && echo forked'
	if [ "$last_rc" -eq 0 ] && has_line forked; then
		ok
	else
		bad "--pids-limit -1: want the shell to fork (forked) and exit 0"
	fi

	# A build: buildah runs each RUN step through the runtime (create, start, delete).
	begin podman/build
	mkdir -p "$T/podman/build"
	# shellcheck disable=SC2016 # the RUN step's shell expands them
	printf 'FROM %s\nRUN echo "built by $(id -u), home=$HOME" > /built\nRUN cat /built\n' "$IMG" >"$T/podman/build/Containerfile"
	run "$pm" build --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 -t "$IMG-built" "$T/podman/build"
	if [ "$last_rc" -eq 0 ] && has_line 'built by 0, home=/root'; then
		ok
	else
		bad "want both RUN steps to run, 'built by 0, home=/root' printed, exit 0"
	fi

	begin podman/tmpfs
	run "$pm" run --rm "${rf[@]}" --tmpfs /scratch "$IMG" sh -c 'touch /scratch/f && echo tmpfs-ok'
	if [ "$last_rc" -eq 0 ] && has_line tmpfs-ok; then ok; else bad "want output tmpfs-ok and exit 0"; fi

	podman_ops_cases "${rf[@]}"

	begin podman/cleanup
	run "$pm" rm -af -t 0
	local rm_rc=$last_rc
	run "$pm" rmi -af
	local left problems=()
	[ "$rm_rc" -eq 0 ] || problems+=("podman rm -af failed")
	left=$("$CONTAIN" --root "$T/state/podman" list -q 2>&1)
	[ -z "$left" ] || problems+=("state left under --root: $left")
	left=$(for p in $(ours); do tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-120; echo; done)
	[ -z "$left" ] || problems+=("processes left: $left")
	left=$(grep -lF "$T/podman" /run/contain/*/state.json 2>/dev/null || true)
	[ -z "$left" ] || problems+=("state under the default /run/contain: $left")
	if [ ${#problems[@]} -eq 0 ]; then ok; else last_cmd='' && bad "${problems[*]}"; fi
}

# The operations podman passes to the runtime on a running container: pause and unpause (contain
# pause and resume), update (update --resources), kill with a signal of the user's, restart (kill,
# delete --force, create, start) and exec's --detach, --user, --env and --workdir. One container,
# ce-ops, for all of them; each case checks the effect (the count stops and goes on, the cgroup's
# files, the trap's line in the logs, a new init), not only the exit status.
podman_ops_cases() {
	local pm=$T/bin/pm
	local -a rf=("$@")
	local pid id n st t0 el new

	begin podman/pause
	run "$pm" run -d --name ce-ops "${rf[@]}" "$IMG" sh -c "$OPS_SCRIPT"
	pid=$("$pm" inspect --format '{{.State.Pid}}' ce-ops 2>/dev/null || true)
	record_pid "$pid"
	id=$("$pm" inspect --format '{{.Id}}' ce-ops 2>/dev/null || true)
	if [ "$last_rc" -ne 0 ] || ! wait_for 10 ticking "$pid"; then
		bad "the detached run failed, or its container never counted"
		for n in unpause update kill-signal exec-detach exec-options restart; do
			skipcase "podman/$n" "no ce-ops container"
		done
		"$pm" rm -f -t 0 ce-ops >/dev/null 2>&1 || true
		return
	fi
	run "$pm" pause ce-ops
	st=$("$pm" inspect --format '{{.State.Status}}' ce-ops 2>/dev/null || echo '?')
	if [ "$last_rc" -ne 0 ]; then
		bad "podman pause failed"
	elif ! frozen "$pid"; then
		bad "still counting after pause (at $(tick "$pid"))"
	elif [ "$(contain_status "$T/state/podman" "$id")" != paused ]; then
		bad "contain state says $(contain_status "$T/state/podman" "$id"), want paused"
	elif [ "$st" != paused ]; then
		bad "podman says $st, want paused"
	else
		ok
	fi

	begin podman/unpause
	n=$(tick "$pid")
	run "$pm" unpause ce-ops
	if [ "$last_rc" -ne 0 ]; then
		bad "podman unpause failed"
	elif ! wait_for 5 ticking "$pid" "$n"; then
		bad "not counting 5 s after unpause (still at $n)"
	elif [ "$(contain_status "$T/state/podman" "$id")" != running ]; then
		bad "contain state says $(contain_status "$T/state/podman" "$id"), want running"
	else
		run "$pm" exec ce-ops echo after-unpause
		if [ "$last_rc" -eq 0 ] && has_line after-unpause; then ok; else bad "exec after unpause: want output after-unpause"; fi
	fi
	if [ "$(contain_status "$T/state/podman" "$id")" = paused ]; then
		# An exec into a frozen container would wait for the engine's timeout.
		for n in update kill-signal exec-detach exec-options restart; do
			skipcase "podman/$n" "ce-ops is still paused"
		done
		"$pm" rm -f -t 0 ce-ops >/dev/null 2>&1 || true
		return
	fi

	# podman 4.3's update has no --pids-limit; --cpus is a CFS quota of 50000 in 100000 us.
	begin podman/update
	run "$pm" update --memory 123m --cpus 0.5 --cpu-shares 512 ce-ops
	local mem quota shares
	mem=$(cg_file "$pid" memory memory.limit_in_bytes memory.max)
	quota=$(cg_file "$pid" cpu cpu.cfs_quota_us cpu.max)
	shares=$(cg_file "$pid" cpu cpu.shares cpu.weight)
	if [ "$last_rc" -ne 0 ]; then
		bad "podman update failed"
	elif [ "$mem" != 128974848 ]; then
		bad "memory limit ${mem:-unreadable}, want 128974848 (123m)"
	elif [ "$quota" != 50000 ] && [ "$quota" != "50000 100000" ]; then
		bad "cpu quota ${quota:-unreadable}, want 50000 (v1) or 50000 100000 (v2)"
	elif [ "$shares" != 512 ] && [ "$shares" != 20 ]; then
		bad "cpu shares ${shares:-unreadable}, want 512 (v1 cpu.shares) or 20 (v2 cpu.weight)"
	else
		ok
	fi

	begin podman/kill-signal
	run "$pm" kill --signal USR1 ce-ops
	if [ "$last_rc" -ne 0 ]; then
		bad "podman kill --signal USR1 failed"
	elif ! wait_for 5 pm_logs_say ce-ops got-usr1; then
		bad "the logs lack got-usr1 5 s after USR1"
	elif ! wait_for 2 ticking "$pid" "$(tick "$pid")"; then
		bad "the container stopped counting after USR1"
	else
		ok
	fi

	# The detached process outlives podman exec: exec returns while it sleeps (the restart
	# below ends it).
	begin podman/exec-detach
	t0=$(now_ms)
	run "$pm" exec --detach ce-ops sh -c 'echo detached >/tmp/d; sleep 30; echo done >/tmp/d'
	el=$(($(now_ms) - t0))
	if [ "$last_rc" -ne 0 ]; then
		bad "podman exec --detach failed"
	elif [ "$el" -ge 20000 ]; then
		bad "podman exec --detach took ${el} ms: it waited for the process"
	elif ! wait_for 3 grep -qx detached "/proc/$pid/root/tmp/d"; then
		bad "the detached process did not write /tmp/d"
	else
		ok
	fi

	begin podman/exec-options
	# shellcheck disable=SC2016 # expanded by the container's shell
	run "$pm" exec --user 1000:1000 --env FOO=bar --workdir /tmp ce-ops sh -c 'echo "$(id -u):$(id -g) FOO=$FOO $(pwd)"'
	if [ "$last_rc" -eq 0 ] && has_line '1000:1000 FOO=bar /tmp'; then
		ok
	else
		bad "want output 1000:1000 FOO=bar /tmp and exit 0"
	fi

	# restart: TERM (the trap exits 0), then a new init of the same container.
	begin podman/restart
	n=$(tick "$pid")
	t0=$(now_ms)
	run "$pm" restart -t 10 ce-ops
	el=$(($(now_ms) - t0))
	new=$("$pm" inspect --format '{{.State.Pid}}' ce-ops 2>/dev/null || true)
	record_pid "$new"
	st=$("$pm" inspect --format '{{.State.Status}}' ce-ops 2>/dev/null || echo '?')
	if [ "$last_rc" -ne 0 ]; then
		bad "podman restart failed"
	elif [ "$el" -ge 9000 ]; then
		bad "restart took ${el} ms: TERM was not honoured (KILL after the timeout)"
	elif [ -z "$new" ] || [ "$new" = 0 ] || [ "$new" = "$pid" ]; then
		bad "init pid ${new:-none} after restart, want a new one (was $pid)"
	elif [ "$st" != running ]; then
		bad "podman says $st after restart, want running"
	elif ! wait_for 5 pm_logs_say ce-ops got-term; then
		bad "the logs want got-term (the old init's TERM trap)"
	elif ! wait_for 10 pm_logs_count ce-ops started 2; then
		bad "the logs want started twice (the new init's first line), within 10 s"
	elif ! wait_for 5 counting_anew "$new" "${n:-0}"; then
		bad "the new init never counted from 1 again (the old one was at ${n:-nothing})"
	else
		ok
	fi
	"$pm" rm -f -t 0 ce-ops >/dev/null 2>&1 || true
}

# ---- containerd ------------------------------------------------------------------------------

# ctr's --runc-binary and --runc-root are the runc v2 shim's options BinaryName and Root (what a
# CRI runtime's options set): the shim runs BINARY --root ROOT/NAMESPACE ... for every call.
containerd_setup() {
	local C=$T/containerd
	mkdir -p "$C"/{root,state,tmp,opt,fifo,logs} "$T/state/containerd"
	cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
temp = "$C/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.ttrpc.sock"
[debug]
  address = "$C/debug.sock"
  level = "debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
EOF
	make_wrapper "$T/bin/shim/contain" ""
	cat >"$T/bin/ctr" <<EOF
#!/bin/sh
exec ctr --address "$C/containerd.sock" --namespace "$UNIQ" "\$@"
EOF
	chmod 0755 "$T/bin/ctr"
}

ctd_up() { "$T/bin/ctr" version >/dev/null 2>&1; }
# task_status NAME: RUNNING, STOPPED, ... as ctr tasks ls says.
task_status() { "$T/bin/ctr" tasks ls 2>/dev/null | awk -v n="$1" '$1 == n {print $3}'; }
# task_exit NAME: removes a stopped task; prints its exit code (ctr warns only when non-zero).
task_exit() {
	local out
	out=$("$T/bin/ctr" tasks rm "$1" 2>&1) || {
		echo "?"
		return
	}
	if [[ "$out" =~ exit\ code\ ([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

containerd_cases() {
	local ctr=$T/bin/ctr C=$T/containerd
	local -a rf=(--runc-binary "$T/bin/shim/contain" --runc-root "$T/state/containerd" --fifo-dir "$C/fifo")
	local t0 el code

	begin containerd/setup
	containerd_setup
	setsid containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 </dev/null &
	ctd_pid=$!
	if ! wait_for 20 ctd_up; then
		last_cmd="containerd --config $C/config.toml" last_out=$(tail -n 12 "$C/containerd.log") last_rc=1
		bad "containerd did not answer on $C/containerd.sock"
		return
	fi
	oci_archive "$T/image/rootfs.tar" "$T/image/oci.tar" "$IMG"
	run "$ctr" images import "$T/image/oci.tar"
	if [ "$last_rc" -ne 0 ]; then
		bad "ctr images import failed"
		return
	fi
	ok

	begin containerd/run-rm
	run "$ctr" run --rm "${rf[@]}" "$IMG" ce-run echo hi
	if [ "$last_rc" -eq 0 ] && has_line hi; then ok; else bad "want output hi and exit 0"; fi

	begin containerd/exit-code
	run "$ctr" run --rm "${rf[@]}" "$IMG" ce-exit sh -c 'exit 3'
	if [ "$last_rc" -eq 3 ]; then ok; else bad "want exit 3"; fi

	begin containerd/detached-logs
	run "$ctr" run -d --log-uri "file://$C/logs/ce-term.log" "${rf[@]}" "$IMG" ce-term sh -c "$TERM_SCRIPT"
	local detached=0
	if [ "$last_rc" -ne 0 ]; then
		bad "detached run failed"
	else
		detached=1
		record_pid "$("$ctr" tasks ls 2>/dev/null | awk '$1 == "ce-term" {print $2}')"
		if wait_for 10 grep -qx started "$C/logs/ce-term.log"; then
			ok
		else
			last_cmd="cat $C/logs/ce-term.log" last_out=$(cat "$C/logs/ce-term.log" 2>&1) last_rc=0
			bad "the log never said started"
		fi
	fi

	if [ "$detached" -eq 1 ]; then
		begin containerd/state-under-root
		run "$CONTAIN" --root "$T/state/containerd/$UNIQ" state ce-term
		if [ "$last_rc" -eq 0 ] && printf '%s' "$last_out" | grep -q '"status": *"running"'; then
			ok
		else
			bad "contain --root $T/state/containerd/$UNIQ state: want running"
		fi

		begin containerd/ps
		run "$ctr" tasks ps ce-term
		local pid
		pid=$("$ctr" tasks ls 2>/dev/null | awk '$1 == "ce-term" {print $2}')
		if [ "$last_rc" -eq 0 ] && printf '%s\n' "$last_out" | grep -q "^$pid "; then ok; else bad "want the init pid $pid listed"; fi

		begin containerd/exec
		run "$ctr" tasks exec --exec-id ce-exec --fifo-dir "$C/fifo" ce-term sh -c 'echo in-exec; exit 4'
		if [ "$last_rc" -eq 4 ] && has_line in-exec; then ok; else bad "want output in-exec and exit 4"; fi

		begin containerd/exec-tty
		interactive "'$ctr' tasks exec --tty --exec-id ce-exec-tty --fifo-dir '$C/fifo' ce-term sh -c 'tty; echo tty-ok'"
		if [ "$last_rc" -eq 0 ] && has_text 'tty-ok$' && has_text '/dev/pts/[0-9]'; then
			ok
		else
			bad "want a /dev/pts terminal, output tty-ok and exit 0"
		fi

		# ctr has no stop verb: TERM, wait, then KILL, as nerdctl stop and the CRI StopContainer do.
		begin containerd/stop-term
		t0=$(now_ms)
		run "$ctr" tasks kill ce-term
		if [ "$last_rc" -ne 0 ]; then
			bad "ctr tasks kill (TERM) failed"
		elif ! wait_for 10 task_is ce-term STOPPED; then
			bad "still $(task_status ce-term) 10 s after TERM"
		else
			el=$(($(now_ms) - t0))
			code=$(task_exit ce-term)
			if [ "$code" != 0 ]; then
				bad "exit code $code, want 0 (the TERM trap exits 0)"
			elif ! grep -qx got-term "$C/logs/ce-term.log"; then
				bad "the log lacks got-term"
			else
				ok
			fi
		fi
		"$ctr" tasks rm -f ce-term >/dev/null 2>&1 || true
		"$ctr" containers rm ce-term >/dev/null 2>&1 || true
	else
		skipcase containerd/state-under-root "no detached container"
		skipcase containerd/ps "no detached container"
		skipcase containerd/exec "no detached container"
		skipcase containerd/exec-tty "no detached container"
		skipcase containerd/stop-term "no detached container"
	fi

	begin containerd/stop-kill
	run "$ctr" run -d --log-uri "file://$C/logs/ce-kill.log" "${rf[@]}" "$IMG" ce-kill sh -c "$IGNORE_SCRIPT"
	if [ "$last_rc" -ne 0 ]; then
		bad "detached run failed"
	else
		record_pid "$("$ctr" tasks ls 2>/dev/null | awk '$1 == "ce-kill" {print $2}')"
		wait_for 10 grep -qx ready "$C/logs/ce-kill.log" || true
		run "$ctr" tasks kill ce-kill
		sleep "$STOP_WAIT"
		local st
		st=$(task_status ce-kill)
		if [ "$last_rc" -ne 0 ]; then
			bad "ctr tasks kill (TERM) failed"
		elif [ "$st" != RUNNING ]; then
			bad "status $st ${STOP_WAIT} s after TERM, want RUNNING (TERM ignored)"
		else
			run "$ctr" tasks kill -s KILL ce-kill
			if [ "$last_rc" -ne 0 ]; then
				bad "ctr tasks kill -s KILL failed"
			elif ! wait_for 10 task_is ce-kill STOPPED; then
				bad "still $(task_status ce-kill) 10 s after KILL"
			else
				code=$(task_exit ce-kill)
				if [ "$code" = 137 ]; then ok; else bad "exit code $code, want 137 (KILL)"; fi
			fi
		fi
	fi
	"$ctr" tasks rm -f ce-kill >/dev/null 2>&1 || true
	"$ctr" containers rm ce-kill >/dev/null 2>&1 || true

	begin containerd/tty
	if ! command -v script >/dev/null; then
		skipcase containerd/tty "script(1) not installed (util-linux)"
	else
		interactive "'$ctr' run --rm --tty ${rf[*]} $IMG ce-tty sh -c 'tty; echo tty-ok'"
		if [ "$last_rc" -eq 0 ] && has_text 'tty-ok$' && has_text '/dev/pts/[0-9]'; then
			ok
		else
			bad "want a /dev/pts terminal, output tty-ok and exit 0"
		fi
		"$ctr" tasks rm -f ce-tty >/dev/null 2>&1 || true
		"$ctr" containers rm ce-tty >/dev/null 2>&1 || true
	fi

	begin containerd/tmpfs
	run "$ctr" run --rm "${rf[@]}" --mount type=tmpfs,src=tmpfs,dst=/scratch,options=rw:nosuid "$IMG" ce-tmpfs \
		sh -c 'touch /scratch/f && echo tmpfs-ok'
	if [ "$last_rc" -eq 0 ] && has_line tmpfs-ok; then ok; else bad "want output tmpfs-ok and exit 0"; fi

	containerd_ops_cases "${rf[@]}"

	# The CRI plugin's form of the same options (README): containerd must accept it.
	begin containerd/cri-config
	cat >"$C/cri.toml" <<EOF
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.contain]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.contain.options]
  BinaryName = "$CONTAIN"
  Root = "/run/contain"
EOF
	run containerd --config "$C/cri.toml" config dump
	if [ "$last_rc" -eq 0 ] && printf '%s\n' "$last_out" | grep -q "BinaryName = \"$CONTAIN\""; then
		ok
	else
		bad "containerd config dump did not keep the runtime's BinaryName"
	fi

	begin containerd/cleanup
	local c problems=() left
	for c in $("$ctr" containers ls -q 2>/dev/null); do
		problems+=("container $c left")
		"$ctr" tasks rm -f "$c" >/dev/null 2>&1 || true
		"$ctr" containers rm "$c" >/dev/null 2>&1 || true
	done
	"$ctr" images rm "$IMG" >/dev/null 2>&1 || true
	kill "$ctd_pid" 2>/dev/null || true
	wait "$ctd_pid" 2>/dev/null || true
	ctd_pid=''
	left=$("$CONTAIN" --root "$T/state/containerd/$UNIQ" list -q 2>&1)
	[ -z "$left" ] || problems+=("state left under --root: $left")
	left=$(for p in $(ours); do tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-120; echo; done)
	[ -z "$left" ] || problems+=("processes left: $left")
	left=$(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)
	[ -z "$left" ] || problems+=("mounts left: $left")
	if [ ${#problems[@]} -eq 0 ]; then ok; else last_cmd='' && bad "${problems[*]}"; fi
}

# The operations ctr passes to the runtime through the runc shim on a running task: pause and
# resume, kill with a signal of the user's, exec with --user and --cwd; and metrics, which the
# shim reads from the task's cgroup itself (v1 or v2 stats): the memory limit the task was made
# with, and its processes. One task, ce-ops; each case checks the effect, as podman's do.
containerd_ops_cases() {
	local ctr=$T/bin/ctr C=$T/containerd root=$T/state/containerd/$UNIQ
	local -a rf=("$@")
	local pid n

	begin containerd/pause
	run "$ctr" run -d --memory-limit 134217728 --log-uri "file://$C/logs/ce-ops.log" "${rf[@]}" "$IMG" ce-ops sh -c "$OPS_SCRIPT"
	pid=$("$ctr" tasks ls 2>/dev/null | awk '$1 == "ce-ops" {print $2}' || true)
	record_pid "$pid"
	if [ "$last_rc" -ne 0 ] || ! wait_for 10 ticking "$pid"; then
		bad "the detached run failed, or its task never counted"
		for n in resume kill-signal metrics exec-user; do
			skipcase "containerd/$n" "no ce-ops task"
		done
	else
		run "$ctr" tasks pause ce-ops
		if [ "$last_rc" -ne 0 ]; then
			bad "ctr tasks pause failed"
		elif ! frozen "$pid"; then
			bad "still counting after pause (at $(tick "$pid"))"
		elif [ "$(contain_status "$root" ce-ops)" != paused ]; then
			bad "contain state says $(contain_status "$root" ce-ops), want paused"
		elif ! task_is ce-ops PAUSED; then
			bad "ctr says $(task_status ce-ops), want PAUSED"
		else
			ok
		fi

		begin containerd/resume
		n=$(tick "$pid")
		run "$ctr" tasks resume ce-ops
		if [ "$last_rc" -ne 0 ]; then
			bad "ctr tasks resume failed"
		elif ! wait_for 5 ticking "$pid" "$n"; then
			bad "not counting 5 s after resume (still at $n)"
		elif [ "$(contain_status "$root" ce-ops)" != running ]; then
			bad "contain state says $(contain_status "$root" ce-ops), want running"
		elif ! task_is ce-ops RUNNING; then
			bad "ctr says $(task_status ce-ops), want RUNNING"
		else
			ok
		fi

		# An exec into a frozen container would wait for ever.
		if [ "$(contain_status "$root" ce-ops)" = paused ]; then
			for n in kill-signal metrics exec-user; do
				skipcase "containerd/$n" "ce-ops is still paused"
			done
		else
			begin containerd/kill-signal
			run "$ctr" tasks kill --signal USR1 ce-ops
			if [ "$last_rc" -ne 0 ]; then
				bad "ctr tasks kill --signal USR1 failed"
			elif ! wait_for 5 grep -qx got-usr1 "$C/logs/ce-ops.log"; then
				bad "the log lacks got-usr1 5 s after USR1"
			elif ! task_is ce-ops RUNNING || ! wait_for 2 ticking "$pid" "$(tick "$pid")"; then
				bad "the task stopped after USR1 ($(task_status ce-ops))"
			else
				ok
			fi

			begin containerd/metrics
			run "$ctr" tasks metrics ce-ops
			if [ "$last_rc" -ne 0 ]; then
				bad "ctr tasks metrics failed"
			elif ! printf '%s\n' "$last_out" | grep -Eq '^memory\.(limit_in_bytes|usage_limit) +134217728( |$)'; then
				bad "want the memory limit 134217728 (v1 memory.limit_in_bytes, v2 memory.usage_limit)"
			elif ! printf '%s\n' "$last_out" | grep -Eq '^pids\.current +[1-9]'; then
				bad "want pids.current of 1 or more"
			else
				ok
			fi

			begin containerd/exec-user
			# shellcheck disable=SC2016 # expanded by the container's shell
			run "$ctr" tasks exec --exec-id ce-ops-user --user 1000:1000 --cwd /tmp --fifo-dir "$C/fifo" ce-ops \
				sh -c 'echo "$(id -u):$(id -g) $(pwd)"'
			if [ "$last_rc" -eq 0 ] && has_line '1000:1000 /tmp'; then ok; else bad "want output 1000:1000 /tmp and exit 0"; fi
		fi
	fi
	if [ -n "$(task_status ce-ops)" ]; then
		"$ctr" tasks kill -s KILL ce-ops >/dev/null 2>&1 || true
		wait_for 10 task_is ce-ops STOPPED || true
	fi
	"$ctr" tasks rm -f ce-ops >/dev/null 2>&1 || true
	"$ctr" containers rm ce-ops >/dev/null 2>&1 || true
}

# ---- main ------------------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || unmet "not root"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v containerd >/dev/null || missing+=(containerd)
command -v ctr >/dev/null || missing+=(ctr)
command -v conmon >/dev/null || missing+=(conmon)
[ ${#missing[@]} -eq 0 ] || unmet "not installed: ${missing[*]} (Debian: apt-get install podman containerd)"
if [ ! -x "$CONTAIN" ]; then
	say "FAIL setup: $CONTAIN is not an executable (build it first: make build)"
	fail=$((fail + 1))
	summary
	exit 1
fi
CONTAIN=$(readlink -f "$CONTAIN")

# Global paths the engines create on first use and offer no setting for: remove them at the
# end if they did not exist before (podman: the blob info cache and netavark's run dir;
# containerd's shims: their sockets and fifo dir).
global_dirs=(/var/lib/containers/cache /var/lib/containers /run/containers/networks /run/containers
	/run/containerd/s /run/containerd/fifo /run/containerd)
created_globals=()
for d in "${global_dirs[@]}"; do [ -e "$d" ] || created_globals+=("$d"); done

T=$(mktemp -d "${TMPDIR:-/tmp}/contain-engines.XXXXXX")
chmod 0711 "$T"
UNIQ=$(basename "$T" | tr . -) # names this run's namespace and cgroup parent
TRACE=$T/trace.log
IMG=localhost/contain-engines:test
: >"$TRACE"
if [ ${#T} -gt 60 ]; then
	rm -rf "$T"
	unmet "temp dir $T is too long for unix socket paths: set TMPDIR"
fi
trap 'cleanup' EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/image"
if ! "$CONTAIN" rootfs build "$T/image/rootfs" >"$T/image/build.log" 2>&1; then
	begin engines/setup
	last_cmd="$CONTAIN rootfs build $T/image/rootfs" last_out=$(cat "$T/image/build.log") last_rc=1
	bad "no rootfs to make the image from"
	cleanup
	summary
	exit 1
fi
tar -C "$T/image/rootfs" -cf "$T/image/rootfs.tar" .
rm -rf "$T/image/rootfs"

say "engines: contain $("$CONTAIN" --version 2>/dev/null | head -n1 | sed 's/^contain version //'), $(podman --version), $(containerd --version | cut -d' ' -f1,3), state under $T"
podman_cases
containerd_cases

# Both engines: container processes, cgroups and mounts this run made must be gone.
begin engines/leaks
problems=()
if [ -f "$T/pids" ]; then
	while read -r p start; do
		[ "$(awk '{print $22}' "/proc/$p/stat" 2>/dev/null)" != "$start" ] || problems+=("container pid $p still runs")
	done <"$T/pids"
fi
left=$(cgroup_sweep)
[ -z "$left" ] || problems+=("cgroups left: ${left//$'\n'/ }")
left=$(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)
[ -z "$left" ] || problems+=("mounts left: ${left//$'\n'/ }")
last_cmd=''
if [ ${#problems[@]} -eq 0 ]; then ok; else bad "${problems[*]}"; fi

[ -z "${ENGINES_TRACE:-}" ] || cp "$TRACE" "$ENGINES_TRACE"
cleanup
summary
[ "$fail" -eq 0 ]
