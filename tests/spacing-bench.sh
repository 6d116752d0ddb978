#!/usr/bin/env bash
# spacing-bench.sh CONTAIN [OTHER...]
#
# A single `run --bundle`, timed with a pause between one run and the next. peer-bench (and
# hyperfine in general) starts each run the moment the last one ends. On a v1 or hybrid cgroup
# host that favours a runtime that moves its process into each v1 cgroup by pid (crun, runc):
# the move takes the cgroup core's threadgroup lock for writing, which first waits for an RCU
# grace period, unless another such move happened a moment ago (the lock's rcu_sync is still
# active). Runs back to back keep it active; an engine starting containers now and then does
# not. contain moves its thread by "tasks" and never takes that lock (docs/cgroups.md).
#
# For each pause (SPACINGS, ms), each subject runs RUNS times in a row, pausing after each run;
# the subjects take turns by block, in reverse order every other round (ROUNDS). The first two
# runs of a block are left out (they follow the other subject's block). It prints the median
# single run per pause and subject, and each one's ratio to crun's. The bundle is the one
# ../shared/tools/peer-bench.sh builds. Root only; needs python3.
# Knobs: SPACINGS="0 5 20 50 100" RUNS=25 ROUNDS=2.
set -euo pipefail
# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_start spacing-bench python3 python3 "$1"
shift
bench_subjects "$@"

python3 - "$bundle" "${SPACINGS:-0 5 20 50 100}" "${RUNS:-25}" "${ROUNDS:-2}" "${subjects[@]}" <<'PY'
import os, statistics, subprocess, sys, time

bundle, spacings = sys.argv[1], [float(x) for x in sys.argv[2].split()]
runs, rounds, subjects = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
names = [os.path.basename(s) for s in subjects]
labels = [f"{m} ({i + 1})" if names.count(m) > 1 else m for i, m in enumerate(names)]

def one(s):
    t0 = time.perf_counter()
    subprocess.run([s, "run", "--bundle", bundle, f"sb-{os.getpid()}"], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000

times = {(p, s): [] for p in spacings for s in subjects}
for p in spacings:
    for r in range(rounds):
        for s in subjects if r % 2 == 0 else subjects[::-1]:
            for i in range(runs):
                t = one(s)
                if i >= 2:
                    times[(p, s)].append(t)
                time.sleep(p / 1000)

base = subjects[0] if names[0] == "crun" else None
print(f"spacing-bench: single runs with a pause after each, {runs} in a row per block, "
      f"{rounds} rounds in turns; medians, ms")
print(f"{'pause ms':>8} " + " ".join(f"{l:>14}" for l in labels) +
      ("   x crun" if base else ""))
for p in spacings:
    meds = [statistics.median(times[(p, s)]) for s in subjects]
    line = f"{p:>8g} " + " ".join(f"{m:>14.2f}" for m in meds)
    if base:
        line += "   " + " ".join(f"{m / meds[0]:.2f}" for m in meds[1:])
    print(line)
PY
