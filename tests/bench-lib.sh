# shellcheck shell=bash
# bench-lib.sh: sourced by the benchmarks that run crun beside contain (lifecycle-bench.sh,
# turns-bench.sh, spacing-bench.sh, cpu-split.sh), by start-bench.sh and release-hierarchies.sh,
# and by the Makefile's bench (from_disk).

# bench_start NAME TOOL PACKAGE CONTAIN [BUNDLE] checks what a benchmark needs (root, the
# bundle, TOOL from Debian's PACKAGE) and sets contain (the binary's absolute path), bundle
# (default: the one ../shared/tools/peer-bench.sh builds) and out (a scratch directory), and
# reads contain back from disk (from_disk). Until the script exits, the host's cgroups are
# arranged for crun (hybrid_fix).
bench_start() {
  bench_name=$1
  local tool=$2 package=$3
  shift 3
  [ "$(id -u)" = 0 ] || { echo "$bench_name: must run as root" >&2; exit 2; }
  # shellcheck disable=SC2034 # contain, bundle and out are for the script that sourced this
  contain=$(readlink -f "${1:?usage: $bench_name.sh CONTAIN [BUNDLE]}" || true)
  if [ ! -f "$contain" ] || [ ! -x "$contain" ]; then
    echo "$bench_name: $1: no such executable" >&2
    exit 2
  fi
  bundle=${2:-${TMPDIR:-/tmp}/peer-bench/bundle}
  [ -f "$bundle/config.json" ] || { echo "$bench_name: no $bundle/config.json: run ../shared/tools/peer-bench.sh once, or give BUNDLE" >&2; exit 2; }
  command -v "$tool" >/dev/null || { echo "$bench_name: needs $tool (apt-get install $package)" >&2; exit 2; }
  out=$(mktemp -d)
  trap 'hybrid_undo; rm -rf "$out"' EXIT
  from_disk "$contain"
  hybrid_fix
}

# bench_subjects [OTHER...] sets subjects, the runtimes a benchmark takes in turns: crun (when
# installed), contain (bench_start's), then each OTHER (an older build of contain, say), every
# build of contain read back from disk first (from_disk).
bench_subjects() {
  subjects=()
  local crun bin
  if crun=$(command -v crun); then subjects+=("$crun"); fi
  subjects+=("$contain") # read back from disk by bench_start
  for bin in "$@"; do
    [ -x "$bin" ] || { echo "${bench_name:-bench}: $bin: not an executable" >&2; exit 2; }
    bin=$(readlink -f "$bin")
    from_disk "$bin"
    subjects+=("$bin")
  done
}

# from_disk FILE... writes out each FILE's dirty pages and drops its pages from the page cache
# (posix_fadvise(2) POSIX_FADV_DONTNEED, through dd), so that its next use reads it back from
# disk. On the development VM a binary whose pages were read from disk starts slower than the
# same bytes in pages a process wrote (cp, the linker), in proportion to its size: contain's
# 5.4 MB cost 0.6 ms more a start (`contain --version`) and 1.5 to 1.7 ms more a container
# (the runtime and init), an empty Go program's 1.2 MB 0.1 ms, a copy of crun 0.2 ms. The page
# cache here loses pages all the time, in use or not, so an installed runtime's files (crun's,
# its libraries) are in the first state, and a build's output is in the second until its pages
# have gone and come back: without this, a just-built contain ran against crun with an edge
# of up to 1.7 ms that it lost minutes later, and two builds compared depended on how old
# each file was (docs/performance.md).
from_disk() {
  local f
  for f in "$@"; do
    if ! { sync -- "$f" && dd if="$f" iflag=nocache count=0 status=none; }; then
      echo "${bench_name:-bench}: $f: cannot drop its cached pages" >&2
      exit 2
    fi
  done
}

# bench_batch N RUNTIME BUNDLE starts N containers of BUNDLE at once, each with its own id, the
# way peer-bench does, waits for them all, and fails if any run failed. The benchmarks run it
# in a shell of its own, under the tool that measures it:
#   bash -c "$(declare -f bench_batch)"'; bench_batch "$@"' NAME N RUNTIME BUNDLE
bench_batch() {
  local n=$1 rt=$2 b=$3 i pid failed=0
  for i in $(seq "$n"); do "$rt" run --bundle "$b" "batch-$$-$i" </dev/null >/dev/null 2>&1 & done
  for pid in $(jobs -p); do wait "$pid" || failed=$((failed + 1)); done
  [ "$failed" = 0 ] || { echo "$failed of $n runs of $rt failed" >&2; return 1; }
}

# crun refuses a hybrid host whose cgroup2 hierarchy holds controllers (here: hugetlb). As
# ../shared/tools/peer-bench.sh does, mount those as v1 hierarchies for the run; undo it after.
# An unmounted v1 hierarchy lingers while cgroups of the run are still dying, and keeps its
# controller from cgroup2: so the undo mounts and unmounts it again once they are gone, which
# lets the kernel free it.
moved=()
hybrid_fix() {
  [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && [ -r /sys/fs/cgroup/unified/cgroup.controllers ] || return 0
  local c
  read -r -a controllers < /sys/fs/cgroup/unified/cgroup.controllers || true # empty: nothing to move
  for c in "${controllers[@]}"; do
    mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" && moved+=("$c")
  done
}
hybrid_undo() {
  local c
  for c in "${moved[@]}"; do
    # contain's parent cgroup stays after its containers (cgroups.DefaultParent): it would
    # keep the hierarchy alive.
    rmdir "/sys/fs/cgroup/$c/contain" 2>/dev/null || true
    umount "/sys/fs/cgroup/$c" && rmdir "/sys/fs/cgroup/$c"
    return_to_cgroup2 "$c" || true # it says so; the rest of the undo still runs
  done
}

# return_to_cgroup2 C frees the v1 hierarchy of controller C, which nothing mounts any more, so
# that C goes back to cgroup2. Once only the hierarchy's root is left (field 3 of
# /proc/cgroups), mount and unmount it: that unmount frees it, asynchronously; then wait for
# the controller to be cgroup2's again. A cgroup still dying at the first try keeps it alive:
# up to three tries. contain's kept /contain is removed on the way, nothing else.
return_to_cgroup2() {
  local c=$1 tmp
  for _ in 1 2 3; do
    for _ in $(seq 50); do
      [ "$(awk -v c="$c" '$1 == c {print $3}' /proc/cgroups)" = 1 ] && break
      sleep 0.1
    done
    tmp=$(mktemp -d) && mount -t cgroup -o "$c" cgroup "$tmp" && { rmdir "$tmp/contain" 2>/dev/null || true; umount "$tmp"; }
    rmdir "$tmp"
    for _ in $(seq 50); do
      grep -qw "$c" /sys/fs/cgroup/unified/cgroup.controllers && return 0
      sleep 0.1
    done
  done
  echo "${bench_name:-bench}: $c did not return to cgroup2" >&2
  return 1
}

# release_hidden_hierarchies returns to cgroup2 each controller of a hybrid host that sits in
# a v1 hierarchy nothing mounts. ../shared/tools/peer-bench.sh mounts hugetlb as v1 for crun and
# unmounts it at the end, but contain's kept /contain is still in it: the hierarchy stays,
# hidden, and hugetlb is gone from cgroup2 until someone frees it. `make bench` calls this
# after peer-bench.
release_hidden_hierarchies() {
  [ -r /sys/fs/cgroup/unified/cgroup.controllers ] || return 0
  local c status=0 hidden=()
  mapfile -t hidden < <(awk 'NR > 1 && $2 != 0 {print $1}' /proc/cgroups)
  for c in "${hidden[@]}"; do
    findmnt -rn -t cgroup -O "$c" >/dev/null && continue
    if return_to_cgroup2 "$c"; then
      echo "${bench_name:-bench}: $c was in a v1 hierarchy nothing mounts: back in cgroup2" >&2
    else
      status=1
    fi
  done
  return $status
}
