#!/usr/bin/env bash
# fresh-debian.sh [DIR]
#
# The README's two commands on a fresh Debian 12, as a new user runs them: debootstrap makes a
# Debian 12 base system (what an install without tasks has: no make, no git, no busybox) in
# DIR/root, Go is copied in as /usr/local/go (the README's "with Go 1.26 installed"), this
# repository's HEAD is cloned into /root/contain, `make` is installed as the README's
# Requirements say, and then, inside that tree (its own mount and pid namespaces, pivot_root,
# the host's kernel, /sys and /dev), `make run` opens a shell in a container on a pseudo-terminal.
# The shell is sent a command, and its answer must come back; the first run must say that it
# builds the default rootfs from host programs (no busybox-static), the second, after
# `apt-get install busybox-static` and with a new CONTAIN_ROOTFS, from busybox. Between the
# two, the README's other quick-form examples run there without a terminal, and after them
# `make test` must pass (its engine part skips: no podman or containerd). Each run must
# leave no state in the tree's /run/contain, and the two no container cgroup on the host (so
# run it where no other contain container starts meanwhile).
#
# Needs root, debootstrap and a Debian mirror (MIRROR, default the first of the host's apt
# sources, else deb.debian.org). Go modules come from this machine's module cache through a
# file:// GOPROXY, so that the check needs no other network. The tree is DIR/root, DIR a new
# temporary directory unless given; at the end the script removes what it made (a temporary
# DIR whole; in a given DIR, root and its logs) unless KEEP=1, and a kept DIR/root is reused
# next time, which saves the debootstrap. A DIR/root it did not make is refused, never removed.
# The last line is "fresh-debian: passed" or "fresh-debian: FAILED: why" (with KEEP=1, a line
# naming the kept DIR follows).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-}
keep=${KEEP:-0}

fail() {
  echo "fresh-debian: FAILED: $*"
  exit 1
}
# fail_log LOG WHY: fails, with the end of LOG, which the clean-up is about to remove.
fail_log() {
  tail -n 15 "$1" | sed 's/^/  | /'
  fail "$2"
}
say() { echo "fresh-debian: $*"; }
show() { while IFS= read -r line; do echo "  | $line"; done <<<"$1"; } # what the tree printed, indented

[ "$(id -u)" = 0 ] || fail "needs root"
command -v debootstrap >/dev/null || fail "needs debootstrap (apt-get install debootstrap)"
GO=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$GO" ] || fail "needs Go on this machine, to copy into the tree"

mirror=${MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}

made_dir=false
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/contain-fresh-debian.XXXXXX)
  made_dir=true
else
  mkdir -p "$dir"
fi
dir=$(cd "$dir" && pwd)
root=$dir/root
# .fresh-debian-ours: made by this script; .fresh-debian-base: and debootstrap finished there.
if [ -e "$root" ] && [ ! -f "$root/.fresh-debian-ours" ]; then
  fail "$root is there and was not made by this script: give another DIR"
fi
cleanup() {
  if [ "$keep" = 1 ]; then
    say "kept $dir"
  elif $made_dir; then
    rm -rf --one-file-system "$dir"
  else
    rm -rf --one-file-system "$root"
    rm -f "$dir/debootstrap.log" "$dir/apt.log" "$dir/purge.log"
  fi
}
trap cleanup EXIT

# in_tree CMD: runs CMD with bash as root in the tree: new mount and pid namespaces, the tree
# bind-mounted on itself and made the root with pivot_root (a chroot would make every
# pivot_root inside fail), a fresh /proc, the host's /sys and /dev, a tmpfs on /run, and an
# environment as bare as a login's.
in_tree() {
  # shellcheck disable=SC2016 # expanded by the inner bash, on purpose
  unshare --mount --pid --fork --propagation private bash -c '
    set -e
    root=$1
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=755 tmpfs "$root/run"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cd "$root"
    mkdir -p .oldroot
    pivot_root . .oldroot
    umount -l /.oldroot
    rmdir /.oldroot
    cd /root
    exec env -i HOME=/root TERM=xterm LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin \
      GOPROXY=file:///root/goproxy GOFLAGS=-modcacherw bash -c "$2"
  ' in_tree "$root" "$1"
}

if [ -f "$root/.fresh-debian-base" ]; then
  say "reusing the base system in $root (what the last check installed is purged)"
  in_tree 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q make busybox-static && apt-get autoremove -y -q --purge' >"$dir/purge.log" 2>&1 ||
    fail_log "$dir/purge.log" "apt-get purge"
else
  say "debootstrap bookworm from $mirror (about a minute)"
  rm -rf --one-file-system "$root" # only ever a tree of ours whose debootstrap did not finish
  mkdir "$root"
  touch "$root/.fresh-debian-ours"
  debootstrap bookworm "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 || fail_log "$dir/debootstrap.log" "debootstrap"
  touch "$root/.fresh-debian-base"
fi
for tool in make git busybox; do
  if in_tree "command -v $tool" >/dev/null; then fail "the base system already has $tool: not a fresh machine"; fi
done

say "Go $("$GO" env GOVERSION) to /usr/local/go, HEAD of $repo to /root/contain"
rm -rf "$root/usr/local/go" "$root/root/contain" "$root/root/goproxy" "$root/var/lib/contain"
cp -a "$("$GO" env GOROOT)" "$root/usr/local/go" || fail "copy Go into the tree"
git clone -q "$repo" "$root/root/contain" || fail "git clone $repo"

# The modules of go.mod, laid out as a module proxy serves them (module/@v/version.{info,mod,zip}).
modcache=$(cd "$repo" && "$GO" env GOMODCACHE)
(cd "$repo" && "$GO" mod download) || fail "go mod download on this machine"
mkdir -p "$root/root/goproxy"
(cd "$modcache/cache/download" && find . -path '*/@v/*' \( -name '*.info' -o -name '*.mod' -o -name '*.zip' \) -print0 |
  cpio -0 -pdm --quiet "$root/root/goproxy") || fail "copy the Go modules into the tree"

say "apt-get install make (the README's Requirements)"
in_tree 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make' >"$dir/apt.log" 2>&1 ||
  fail_log "$dir/apt.log" "apt-get install make"

# cgroups of containers before: none may be added by the runs (contain keeps its parent, /contain).
# (find fails when a cgroup vanishes under it: what it listed is still the answer.)
leftovers() { { find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/contain/*' 2>/dev/null || true; } | sort; }
before=$(leftovers)

# shell_in_container NAME ENV: `make run` under script(1), a pseudo-terminal; once the shell's
# prompt is there, it gets a command and exit. Prints what the terminal showed.
shell_in_container() {
  local name=$1 env=$2
  in_tree "
    cd contain
    $env
    rm -f /tmp/in /tmp/$name.log; mkfifo /tmp/in
    script -qfec 'make run' /tmp/$name.log </tmp/in >/dev/null &
    exec 3>/tmp/in
    for i in \$(seq 600); do
      grep -q 'run -t -- sh' /tmp/$name.log && tail -n 1 /tmp/$name.log | grep -q '# ' && break
      sleep 0.2
    done
    printf 'echo \"answer from \$(hostname), pid \$\$\"; exit\n' >&3
    exec 3>&-
    wait \$! || echo 'make run: exit status' \$?
    tr -d '\r' </tmp/$name.log
    ls -A /run/contain 2>/dev/null | sed 's/^/state left in \/run\/contain: /'

  "
}

# make_run NAME ROOTFS FROM: `make run`, with CONTAIN_ROOTFS=ROOTFS unless ROOTFS is the default,
# must say that it builds the default rootfs there from FROM, and the shell in the container
# must answer.
make_run() {
  local name=$1 rootfs=$2 from=$3 env='' out
  [ "$rootfs" = /var/lib/contain/rootfs ] || env="export CONTAIN_ROOTFS=$rootfs"
  out=$(shell_in_container "$name" "$env") || fail "the tree did not run make run ($name)"
  show "$out"
  grep -qxF "contain: building the default rootfs in $rootfs from $from (first use, offline)" <<<"$out" ||
    fail "no line saying the default rootfs is built from $from"
  grep -qx 'answer from contain, pid 1' <<<"$out" || fail "the shell in the container did not answer"
  if grep -q 'make run: exit status' <<<"$out"; then fail "make run failed"; fi
  if grep -q '^state left in /run/contain' <<<"$out"; then fail "state left in /run/contain"; fi
}

say "make run, default rootfs from host programs"
make_run host /var/lib/contain/rootfs host

# The README's other quick-form examples, without a terminal, on the rootfs just built.
say "the README's quick form: a command, the options, cgroup limits"
# shellcheck disable=SC2016 # expanded in the container, on purpose
quick=$(in_tree '
  c=contain/bin/contain
  $c run -- sh -c "echo hi"
  $c run --hostname box -e KEY=VAL --cwd /tmp --user 1000:1000 -- sh -c "echo \$(hostname) \$KEY \$(pwd) \$(id -u):\$(id -g)"
  $c run --memory 64M --pids-limit 100 --cpus 0.5 -- sh -c "echo limits ok"
  ls -A /run/contain 2>/dev/null | sed "s/^/state left in \/run\/contain: /"
') || fail "the README's quick form in the tree"
show "$quick"
[ "$quick" = $'hi\nbox VAL /tmp 1000:1000\nlimits ok' ] || fail "the README's quick form: want hi, box VAL /tmp 1000:1000, limits ok"

say "apt-get install busybox-static; make run, default rootfs from busybox"
in_tree 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static' >>"$dir/apt.log" 2>&1 ||
  fail_log "$dir/apt.log" "apt-get install busybox-static"
make_run busybox /var/lib/contain/rootfs-busybox busybox

# The README's second command. There is no podman or containerd in the tree, so the engine part
# skips; everything else must pass.
say "make test (the engine part skips: no podman or containerd here)"
tests=$(in_tree 'cd contain && make test 2>&1 | tail -n 3') || fail "make test in the tree"
show "$tests"
grep -qE '^tests: [0-9]+ passed, 0 failed, [0-9]+ skipped$' <<<"$tests" || fail "make test: want no failure"

version=$(in_tree 'contain/bin/contain version') || fail "contain version in the tree"
show "$version"
echo "$version" | grep -q '^commit: unknown$' || fail "contain version without git: want commit: unknown"

after=$(leftovers)
[ "$before" = "$after" ] || fail "cgroups left behind: $(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')"
say "passed"
