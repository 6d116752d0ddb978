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
# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_start lifecycle-bench hyperfine hyperfine "$@"
command -v python3 >/dev/null || { echo "lifecycle-bench: needs python3 (apt-get install python3)" >&2; exit 2; }

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
