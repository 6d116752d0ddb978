#!/usr/bin/env bash
# offline-proof.sh build DIR | run DIR
#
# Runs the root test suites on a machine without Go, such as a pure cgroup v2 host (the cgroups
# issue's proof) or a fresh workshop VM: `build` (here, with Go) puts the binaries, one test
# binary per package (`go test -c`) and a static busybox in DIR; copy DIR over; `run` (there, as
# root) runs them with CONTAIN_TESTS=require and CONTAIN_TEST_BINDIR, each from its package's
# directory in a checkout of this repository next to DIR, and prints one summary line per
# package and a last line "proof: N passed, N failed, N skipped". Logs land in DIR/logs.
# PACKAGES="rootfs steps/05-pivot-root ..." (for `build`) picks other suites than the default
# ones; a step's package brings its program too. `run` runs every test binary DIR holds.
# Binaries are stripped (-s -w): the whole default DIR fits the device machine's carry (64 MiB).
# With rootfs's and every step's suites DIR holds about 120 MB: `tar -cJf` packs it into 20 MB.
# The host tools the tests call travel too, with the libraries they load: ip(8)
# (TestNetDevices makes a veth pair), ps(1) (contain ps filters its table), and the
# decompressors rootfs runs for a compressed archive (bzip2, xz, zstd; gzip is everywhere).
# `run` uses them where the host has none (the proof host has no ip and no zstd). Tests that
# build with Go (TestBuildProbe) are skipped by name: the proof's host has no Go by design.
set -euo pipefail
cmd=${1:?usage: offline-proof.sh build DIR | run DIR}
dir=${2:?usage: offline-proof.sh build DIR | run DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=(ip ps bzip2 xz zstd)
needsGo='^TestBuildProbe$' # rootfs: builds a probe with the go command
read -r -a packages <<<"${PACKAGES:-isolate isolate/cgroups cmd/contain internal/probe workshop/checks steps/10-cgroups}"

build() {
  mkdir -p "$dir/bin"
  cd "$repo"
  make build >/dev/null
  cp bin/contain bin/probe "$dir/bin/"
  local p
  for p in "${packages[@]}"; do
    case $p in steps/*) CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$dir/bin/${p#steps/}" "./$p" ;; esac
    CGO_ENABLED=0 go test -c -tags urfave_cli_no_docs -ldflags='-s -w' -o "$dir/${p//\//_}.test" "./$p"
  done
  cp "$(command -v busybox)" "$dir/busybox" # Debian's busybox-static: the test rootfs
  local tool
  for tool in "${tools[@]}"; do bring "$tool"; done
  echo "offline-proof: built into $dir"
}

# bring TOOL copies this host's TOOL into DIR/tools as TOOL.bin, with every library it loads
# but the C library (a newer one runs it: glibc keeps old symbols), and writes DIR/tools/TOOL,
# which runs it with those libraries.
bring() {
  local bin lib
  bin=$(command -v "$1") || { echo "offline-proof: no $1 here (apt-get install iproute2 procps bzip2 xz-utils zstd)" >&2; exit 2; }
  mkdir -p "$dir/tools"
  cp "$bin" "$dir/tools/$1.bin"
  for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
    case $lib in */libc.so.*) ;; *) cp -L "$lib" "$dir/tools/" ;; esac
  done
  # shellcheck disable=SC2016 # the expansions are the wrapper's own
  printf '#!/bin/sh\n# %s, with the libraries it loads, for a host without it\nd=$(dirname "$(readlink -f "$0")")\nLD_LIBRARY_PATH=$d exec "$d/%s.bin" "$@"\n' \
    "$bin" "$1" >"$dir/tools/$1"
  chmod 755 "$dir/tools/$1"
}

# use_tools puts DIR's tools first in the tests' PATH where the host has none.
use_tools() {
  local tool
  for tool in "${tools[@]}"; do
    rm -f "$dir/bin/$tool"
    command -v "$tool" >/dev/null && continue
    ln -s "$dir/tools/$tool" "$dir/bin/$tool"
    echo "$tool: none on this host; DIR's, from the machine that built it"
  done
}

# use_our_busybox puts DIR's busybox where the rootfs builder looks for one (/bin/busybox, then
# /usr/bin/busybox) for the run: the proof then builds the same test rootfs on every host,
# whether the host has no busybox, a dynamic one (Ubuntu's) or another version. A host's own
# file is covered by a bind mount, never replaced; undo_busybox puts everything back.
undo=()
use_our_busybox() {
  local host
  for host in /bin/busybox /usr/bin/busybox; do
    [ -e "$host" ] || continue
    if cmp -s "$host" "$dir/busybox"; then echo "busybox: $host is DIR's"; return; fi
    mount --bind "$dir/busybox" "$host"
    undo=(umount "$host")
    echo "busybox: DIR's, bind-mounted on $host for the run"
    return
  done
  install -m 755 "$dir/busybox" /usr/bin/busybox
  undo=(rm -f /usr/bin/busybox)
  echo "busybox: DIR's, installed as /usr/bin/busybox for the run"
}
undo_busybox() { if [ ${#undo[@]} -gt 0 ]; then "${undo[@]}"; fi; }

run() {
  [ "$(id -u)" = 0 ] || { echo "offline-proof: run needs root" >&2; exit 2; }
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/logs"
  echo "host: $(uname -r), /sys/fs/cgroup is $(stat -f -c %T /sys/fs/cgroup)"
  use_tools
  echo "not run, as they build with Go: $needsGo"
  use_our_busybox
  trap undo_busybox EXIT
  local pass=0 fail=0 skip=0 p log test
  for test in "$dir"/*.test; do
    p=$(basename "$test" .test)
    p=${p//_//} # steps_10-cgroups.test is steps/10-cgroups's
    log="$dir/logs/${p//\//_}.log"
    (cd "$repo/$p" && CONTAIN_TESTS=require CONTAIN_TEST_BINDIR="$dir/bin" PATH="$dir/bin:$PATH" \
      timeout 600 "$test" -test.v -test.count=1 -test.timeout 9m -test.skip "$needsGo" >"$log" 2>&1) || true
    local pp ff ss
    pp=$(grep -c -- '^--- PASS' "$log" || true); ff=$(grep -c -- '^--- FAIL' "$log" || true); ss=$(grep -c -- '^--- SKIP' "$log" || true)
    grep -q '^ok\|^PASS$' "$log" || [ "$ff" -gt 0 ] || ff=$((ff + 1)) # a crash before any result
    echo "$p: $pp passed, $ff failed, $ss skipped"
    pass=$((pass + pp)); fail=$((fail + ff)); skip=$((skip + ss))
  done
  echo "proof: $pass passed, $fail failed, $skip skipped"
  [ "$fail" = 0 ]
}

case $cmd in
  build) build ;;
  run) run ;;
  *) echo "usage: offline-proof.sh build DIR | run DIR" >&2; exit 2 ;;
esac
