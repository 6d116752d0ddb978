#!/usr/bin/env bash
# lifecycle-bench.sh CONTAIN [BUNDLE]
#
# The engines' path through an OCI runtime, timed: `create`, `start`, `delete --force` of one
# container whose process is /bin/true, through each runtime's command line, for runc, crun
# (those installed) and contain. BUNDLE defaults to the one ../shared/tools/peer-bench.sh
# builds (a busybox rootfs and `runc spec`'s config: namespaces, the cgroup mount, the device
# list), so the figures compare with its `run` figures. Root only. Knobs: RUNS=50 WARMUP=5.
# Prints hyperfine's table and a last line: "lifecycle: NAME median ms, ..." .
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "lifecycle-bench: must run as root" >&2; exit 2; }
contain=$(readlink -f "${1:?usage: lifecycle-bench.sh CONTAIN [BUNDLE]}")
bundle=${2:-${TMPDIR:-/tmp}/peer-bench/bundle}
[ -f "$bundle/config.json" ] || { echo "lifecycle-bench: no $bundle/config.json: run ../shared/tools/peer-bench.sh once, or give BUNDLE" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "lifecycle-bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
out=$(mktemp -d)

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
  local c tmp
  for c in "${moved[@]}"; do
    # contain's parent cgroup stays after its containers (cgroups.DefaultParent): it would
    # keep the hierarchy alive.
    rmdir "/sys/fs/cgroup/$c/contain" 2>/dev/null
    umount "/sys/fs/cgroup/$c" && rmdir "/sys/fs/cgroup/$c"
    # Once only the hierarchy's root is left (field 3 of /proc/cgroups), mount and unmount it:
    # that unmount frees it, asynchronously; then wait for the controller to be cgroup2's again.
    for _ in $(seq 50); do
      [ "$(awk -v c="$c" '$1 == c {print $3}' /proc/cgroups)" = 1 ] && break
      sleep 0.1
    done
    tmp=$(mktemp -d) && mount -t cgroup -o "$c" cgroup "$tmp" && umount "$tmp"; rmdir "$tmp"
    for _ in $(seq 50); do
      grep -qw "$c" /sys/fs/cgroup/unified/cgroup.controllers && break
      sleep 0.1
    done
    grep -qw "$c" /sys/fs/cgroup/unified/cgroup.controllers || echo "lifecycle-bench: $c did not return to cgroup2" >&2
  done
}
trap 'hybrid_undo; rm -rf "$out"' EXIT
hybrid_fix

args=()
for rt in runc crun "$contain"; do
  bin=$(command -v "$rt") || continue
  name=$(basename "$bin")
  id=lb-$name-$$
  # Each runtime keeps its state in its default place; the id is unique to this run.
  args+=(-n "$name" "sh -c '$bin create --bundle $bundle $id </dev/null >/dev/null && $bin start $id && $bin delete --force $id'")
done
hyperfine -N --style basic --warmup "${WARMUP:-5}" --runs "${RUNS:-50}" --export-json "$out/h.json" "${args[@]}"
summary=$(python3 - "$out/h.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
print(", ".join(f'{x["command"]} {statistics.median(x["times"]) * 1000:.2f}' for x in r))
PY
)
echo "lifecycle (create+start+delete, median ms): $summary"
