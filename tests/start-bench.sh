#!/usr/bin/env bash
# start-bench.sh CONTAIN OTHER...
#
# What one start of the binary costs: contain is started twice for every container (the
# runtime, then init), and each start runs the package initialisers of everything linked in,
# used or not. This starts each binary in turns (an order shuffled anew each turn) and reads
# each start's CPU, user and system, from wait4(2): the same process as the container's, from
# exec to exit, with nothing of the harness in it (posix_spawn(3)).
#
#   - init: `BIN init` with fd 3 on /dev/null, in init's environment (GOMAXPROCS=1, GOGC=off,
#     GODEBUG=memprofilerate=0, see isolate's initEnv): Go's start, the package initialisers
#     an init runs, and its first steps, up to the config it then fails to read;
#   - runtime: `BIN --version`: Go's start, every package initialiser, the command line.
#
# It prints each binary's median and its paired difference to CONTAIN's (the median of the
# differences within each turn, and in how many turns it was lower), which sees a change of a
# few percent that the medians lose in the machine's drift. Use it to price an import or a
# start-up change: build the binary with and without it, and compare. Needs python3, not root.
# Knobs: TURNS=300, ENV_INIT (init's environment, as above).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CONTAIN OTHER..." >&2; exit 2; }
for b in "$@"; do [ -x "$b" ] || { echo "start-bench: $b is not an executable" >&2; exit 2; }; done
command -v python3 >/dev/null || { echo "start-bench: needs python3" >&2; exit 2; }

# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
from_disk "$@" # see there: the same bytes start slower or faster by where their pages came from
python3 - "${TURNS:-300}" "${ENV_INIT:-GOMAXPROCS=1 GOGC=off GODEBUG=memprofilerate=0}" "$@" <<'PY'
import os, random, statistics, sys

turns, init_env, bins = int(sys.argv[1]), sys.argv[2], [os.path.abspath(b) for b in sys.argv[3:]]
null = os.open("/dev/null", os.O_RDWR)
kinds = {
    "init": (["init"], dict(kv.split("=", 1) for kv in init_env.split())),
    "runtime": (["--version"], {"PATH": "/usr/bin:/bin"}),
}

def start_cpu(path, args, env):
    """One start of path: its user and system CPU in ms, from wait4(2)."""
    fds = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2, 3)]
    pid = os.posix_spawn(path, [path] + args, env, file_actions=fds)
    _, status, usage = os.wait4(pid, 0)
    return (usage.ru_utime + usage.ru_stime) * 1000

print(f"start-bench: {turns} turns of each start, in a shuffled order; CPU per start, ms")
for kind, (args, env) in kinds.items():
    cpu = {b: [] for b in bins}
    for _ in range(turns):
        for b in random.sample(bins, len(bins)):
            cpu[b].append(start_cpu(b, args, env))
    print(f"{kind}:")
    for b in bins:
        line = f"  {b:40s} median {statistics.median(cpu[b]):6.2f}"
        if b != bins[0]:
            diffs = [x - y for x, y in zip(cpu[b], cpu[bins[0]])]
            lower = sum(d < 0 for d in diffs)
            line += f"   minus {os.path.basename(bins[0])}: {statistics.median(diffs):+.2f} (lower in {lower} of {turns})"
        print(line)
PY
