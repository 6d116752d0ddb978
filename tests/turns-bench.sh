#!/usr/bin/env bash
# turns-bench.sh CONTAIN [OTHER...]
#
# `run --bundle` timed in turns. peer-bench times each runtime's runs in a row (runc, then
# crun, then contain), so on a shared, noisy machine each one meets a different hour. Here
# the subjects take turns: crun (when installed), CONTAIN, and any OTHER runtime binary (an
# older build of contain, say).
#
#   - ROUNDS batches of N containers started at once (50 by default, as peer-bench's): each
#     round runs every subject's batch, in an order shuffled anew each round. Per batch:
#     the wall time, the CPU the whole machine was busy for (user, system and interrupts from
#     /proc/stat: on a CPU-bound batch, what it costs) and the context switches (/proc/stat's
#     ctxt), all machine-wide;
#   - SINGLE single runs of each, in turns (shuffled anew each turn), timed from start to exit.
#
# Why shuffled: with three or more subjects in a fixed back-and-forth order (ABC CBA ABC...),
# the last one runs twice in a row at every turn and the middle ones never do, and a run that
# follows one of the same binary is faster: an A/A test on the pure v2 host (the same build as
# the 2nd and the 5th of five subjects, 300 single runs) measured the 5th 0.23 ms faster (lower
# in 178 of 300), where the 2nd and the 3rd differed by 0.02. Shuffling gives every subject
# every place alike. SEED=N repeats a run's orders (the seed used is printed).
#
# It prints the median of each, and each one's ratio to crun's; with an OTHER, also CONTAIN's
# paired difference to it (the median of the differences within each round or pair of single
# runs, and in how many CONTAIN was lower), which sees a change of a few percent that the
# medians alone lose in the machine's drift. The bundle is the one
# ../shared/tools/peer-bench.sh builds (a busybox rootfs, `runc spec`'s config, /bin/true).
# Root only; needs python3. Knobs: ROUNDS=10 N=50 SINGLE=200 (0 skips that part: its
# columns read nan), SEED.
set -euo pipefail
# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_start turns-bench python3 python3 "$1"
shift
bench_subjects "$@"

python3 - "$(declare -f bench_batch)" "$bundle" "${ROUNDS:-10}" "${N:-50}" "${SINGLE:-200}" "${SEED:-}" "${subjects[@]}" <<'PY'
import math, os, random, statistics, subprocess, sys, time

batch, bundle = sys.argv[1], sys.argv[2]
rounds, n, single = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if sys.argv[6] else random.SystemRandom().randrange(1 << 32)
subjects = sys.argv[7:]
rng = random.Random(seed)

def turn():
    """The subjects in a new random order (see the header: no place favours one)."""
    order = subjects[:]
    rng.shuffle(order)
    return order
hz = os.sysconf("SC_CLK_TCK")

# A label per subject: its file name, and its position when two share one.
names = [os.path.basename(s) for s in subjects]
labels = [f"{m} ({i + 1})" if names.count(m) > 1 else m for i, m in enumerate(names)]

def machine():
    """Busy CPU ticks (user, nice, system, irq, softirq) and context switches so far."""
    busy = ctxt = 0
    for line in open("/proc/stat"):
        f = line.split()
        if f[0] == "cpu":
            busy = sum(int(x) for x in f[1:4] + f[6:8])
        elif f[0] == "ctxt":
            ctxt = int(f[1])
    return busy, ctxt

# One batch: bench_batch (bench-lib.sh) in a shell of its own.
BATCH = batch + '\nbench_batch "$@"'

batches = {s: [] for s in subjects}
for r in range(rounds):
    for s in turn():
        time.sleep(0.5)  # let the last batch's cgroups and namespaces go first
        busy0, ctxt0 = machine()
        t0 = time.perf_counter()
        subprocess.run(["bash", "-c", BATCH, "turns-bench", str(n), s, bundle], check=True)
        wall = time.perf_counter() - t0
        busy1, ctxt1 = machine()
        batches[s].append((wall * 1000, (busy1 - busy0) * 1000 / hz, ctxt1 - ctxt0))

singles = {s: [] for s in subjects}
for i in range(single):
    for s in turn():
        t0 = time.perf_counter()
        subprocess.run([s, "run", "--bundle", bundle, f"tb-{os.getpid()}"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        singles[s].append((time.perf_counter() - t0) * 1000)

def med(values, k=None):
    """The median, or NaN where there is nothing to take it of (ROUNDS=0 or SINGLE=0)."""
    values = [v if k is None else v[k] for v in values]
    return statistics.median(values) if values else math.nan

base = subjects[0] if names[0] == "crun" else None
print(f"turns-bench: {rounds} rounds of {n} at once, {single} single runs each, in turns (SEED={seed}); medians")
print(f"{'subject':<16} {f'{n} at once: wall ms':>20} {'busy CPU ms':>12} {'ctx switches':>13} {'single run ms':>14}")
for s, label in zip(subjects, labels):
    row = [med(batches[s], 0), med(batches[s], 1), med(batches[s], 2), med(singles[s])]
    line = f"{label:<16} {row[0]:>20.1f} {row[1]:>12.0f} {row[2]:>13.0f} {row[3]:>14.2f}"
    if base and s != base:
        b = [med(batches[base], 0), med(batches[base], 1), med(batches[base], 2), med(singles[base])]
        line += "   x crun: " + " ".join(f"{x / y:.2f}" for x, y in zip(row, b))
    print(line)

# CONTAIN against each OTHER, pair by pair: the batches of one round ran back to back, and
# so did the single runs of one turn, so the difference within a pair cancels most of the
# machine's drift.
first = 1 if base else 0
for o in range(first + 1, len(subjects)):
    c, other = subjects[first], subjects[o]
    def paired(a, b):
        d = [x - y for x, y in zip(a, b)]
        return med(d), sum(x < 0 for x in d), len(d)
    w = paired([v[0] for v in batches[c]], [v[0] for v in batches[other]])
    u = paired([v[1] for v in batches[c]], [v[1] for v in batches[other]])
    g = paired(singles[c], singles[other])
    print(f"paired, {labels[first]} minus {labels[o]} (median difference; pairs where it is lower):"
          f" {n} at once {w[0]:+.1f} ms ({w[1]} of {w[2]}), busy CPU {u[0]:+.0f} ms ({u[1]} of {u[2]}),"
          f" single run {g[0]:+.2f} ms ({g[1]} of {g[2]})")
PY
