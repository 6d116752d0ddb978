package isolate

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate/cgroups"
)

// goForkChildFailed is the status Go's fork+exec child exits with when a step between clone(2)
// and execve(2) fails (syscall/exec_linux.go). The child reports the errno to its parent
// through a pipe first, and ForkExec returns it as an error; but when that write fails too,
// ForkExec sees the pipe close as if execve had succeeded, and only this status is left.
//
// Measured on a pure cgroup v2 host (Ubuntu 24.04, kernel 6.18) with `--memory 1k`: init is
// cloned straight into its cgroup (CLONE_INTO_CGROUP), and the child of Go's vfork-style
// clone is one the OOM killer does not choose (oom_badness skips a task in vfork), so the
// charges for execve's new memory and for the pipe's buffer both fail with ENOMEM. On a v1
// or hybrid host init joins the memory cgroup after its exec, and the OOM killer kills it.
const goForkChildFailed = 253

// diedInSetup explains why who (container init, the exec stage) ended before the
// container's program started, from its wait status and what the container's cgroup counted.
// A memory limit the cgroup met comes first: it is the cause a user can fix, and neither a
// killed process nor a failed fork child says anything of it itself.
func diedInSetup(who string, ws unix.WaitStatus, cg cgroups.Manager) error {
	how := fmt.Sprintf("exited during setup (status %d)", statusOf(ws))
	if ws.Signaled() {
		how = fmt.Sprintf("was killed (%s) during setup", unix.SignalName(ws.Signal()))
	}
	if met := memoryLimitMet(cg); met != "" {
		return fmt.Errorf("%s %s: memory limit too small for it (%s)", who, how, met)
	}
	switch {
	case ws.Signaled() && ws.Signal() == unix.SIGKILL:
		return fmt.Errorf("%s %s: by the OOM killer (a memory limit too small for it) or a kill from outside", who, how)
	case ws.Exited() && ws.ExitStatus() == goForkChildFailed:
		return fmt.Errorf("%s %s: the step between clone(2) and execve(2) failed, and the child could not report why (no memory for it, most often)", who, how)
	}
	return fmt.Errorf("%s %s", who, how)
}

// memoryLimitMet says what the cgroup's memory controller counted, such as "the container's
// cgroup, limited to 4096 bytes, counted 1 OOM kill", or "" when it counted nothing (or there
// is no cgroup, or its counts cannot be read).
func memoryLimitMet(cg cgroups.Manager) string {
	if cg == nil {
		return ""
	}
	ev, err := cg.MemoryEvents()
	if err != nil || (ev.LimitHits == 0 && ev.OOMKills == 0) {
		return ""
	}
	var counted []string
	if ev.LimitHits > 0 {
		counted = append(counted, "reached it "+plural(ev.LimitHits, "time"))
	}
	if ev.OOMKills > 0 {
		counted = append(counted, "counted "+plural(ev.OOMKills, "OOM kill"))
	}
	limit := fmt.Sprintf("limited to %d bytes", ev.Limit)
	if ev.Limit == math.MaxUint64 {
		limit = "under a parent's limit"
	}
	return fmt.Sprintf("the container's cgroup, %s, %s", limit, strings.Join(counted, " and "))
}

// plural is "1 time", "3 times".
func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
