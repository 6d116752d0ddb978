#!/usr/bin/env bash
# cpu-split.sh CONTAIN [BUNDLE]
#
# Where the CPU goes when N containers start at once (peer-bench's "50 at once"), per
# container, for crun (when installed) and contain: `perf record -a` over one batch of N
# `run --bundle` of BUNDLE (default: the bundle ../shared/tools/peer-bench.sh builds), then
# every sample is put in a process and a kind:
#
#   - the process is the sample's command name: the runtime's own ("contain", "crun"), the
#     container's init when it has a name of its own (contain's init runs its binary from a
#     read-only mount through /proc/self/fd/N, so its name is that fd's number), the
#     container's program (the bundle runs /bin/true: "true"), and "other" (the shell that
#     starts them, kernel threads);
#   - the kind is "user" (the program's own code: Go's runtime, or ld.so and libc), or in the
#     kernel, the outermost entry of the sample's call chain: "sys:NAME" for a system call,
#     "page fault", "interrupt", "signal/exit" (on the way back to user space: signal
#     delivery, a thread's or a process's exit) or "kernel other".
#
# It prints, per runtime, ms of CPU per container by process and kind (kinds under 0.1 ms
# left out). docs/performance.md ("Where the CPU goes") quotes it. Root only; needs perf
# (apt-get install linux-perf) and python3. Knobs: N=50, FREQ=4000 (samples per second).
set -euo pipefail
# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_start cpu-split perf linux-perf "$@"
n=${N:-50} freq=${FREQ:-4000}

for rt in crun "$contain"; do
  bin=$(command -v "$rt") || continue
  name=$(basename "$bin")
  # One batch (bench_batch) in a shell of its own, which perf follows.
  if ! perf record -q -a -g -F "$freq" -o "$out/$name.data" -- \
    bash -c "$(declare -f bench_batch)"'; bench_batch "$@"' cpu-split "$n" "$bin" "$bundle" 2>"$out/perf.err"; then
    cat "$out/perf.err" >&2
    exit 1
  fi
  perf script -i "$out/$name.data" -F comm,ip,sym 2>/dev/null >"$out/$name.txt"
  python3 - "$out/$name.txt" "$name" "$n" "$freq" <<'PY'
import collections, re, sys
path, runtime, n, freq = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
per_ms = 1000.0 / freq / n  # one sample, in ms per container

def kind(frames):
    """frames: (symbol, is_kernel), innermost first."""
    if not any(k for _, k in frames):
        return "user"
    for sym, k in reversed(frames):  # outermost first
        if not k:
            continue
        m = re.match(r"(?:__x64_sys_|__do_sys_|__se_sys_)(\w+)", sym)
        if m:
            return "sys:" + m.group(1)
        if sym in ("exc_page_fault", "asm_exc_page_fault"):
            return "page fault"
        if sym.startswith(("asm_sysvec", "asm_common_interrupt", "irq")):
            return "interrupt"
        if sym in ("exit_to_user_mode_loop", "arch_do_signal_or_restart"):
            return "signal/exit"
    return "kernel other"

def process(comm):
    if comm in (runtime, "true") or re.fullmatch(r"\d+", comm):
        return comm if not comm.isdigit() else "init (" + comm + ")"
    return "other"

counts, totals = collections.Counter(), collections.Counter()
comm, frames = None, []
def flush():
    if comm is not None:
        p = process(comm)
        counts[(p, kind(frames))] += 1
        totals[p] += 1
for line in open(path, errors="replace"):
    if not line.strip():
        flush(); comm, frames = None, []
    elif not line[0].isspace():
        comm, frames = line.split()[0], []
    else:
        parts = line.split()
        if len(parts) >= 2:
            # "ffffffff8100 sym+0x12 ([kernel.kallsyms])" or a user address and symbol
            frames.append((parts[1].split("+")[0], int(parts[0], 16) >= 1 << 63))
flush()
print(f"{runtime}: {sum(totals.values()) * per_ms:.1f} ms of CPU per container, {n} at once")
for p, t in totals.most_common():
    kinds = [(k, c) for (q, k), c in counts.most_common() if q == p and c * per_ms >= 0.1]
    print(f"  {p}: {t * per_ms:.2f} ms: " + ", ".join(f"{k} {c * per_ms:.2f}" for k, c in kinds))
PY
done
