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
// container's program started, from its wait status and what the container's cgroup counted
// since before, the counts read before who started (zero for a new cgroup). A limit the cgroup
// met comes first: it is the cause a user can fix, and neither a killed process, nor a failed
// fork child, nor a Go runtime that could not start a thread says which limit it met.
func diedInSetup(who string, ws unix.WaitStatus, cg cgroups.Manager, before cgroups.LimitCounts) error {
	how := fmt.Sprintf("exited during setup (status %d)", statusOf(ws))
	if ws.Signaled() {
		how = fmt.Sprintf("was killed (%s) during setup", unix.SignalName(ws.Signal()))
	}
	if met := limitMet(cg, before); met != "" {
		return fmt.Errorf("%s %s: %s", who, how, met)
	}
	switch {
	case ws.Signaled() && ws.Signal() == unix.SIGKILL:
		return fmt.Errorf("%s %s: by the OOM killer (a memory limit too small for it) or a kill from outside", who, how)
	case ws.Exited() && ws.ExitStatus() == goForkChildFailed:
		return fmt.Errorf("%s %s: the step between clone(2) and execve(2) failed, and the child could not report why (no memory for it, most often)", who, how)
	}
	return fmt.Errorf("%s %s", who, how)
}

// limitMet says which limit of the cgroup was met since before, such as "memory limit too
// small for it (the container's cgroup, limited to 4096 bytes, counted 1 OOM kill)", or ""
// when none was (or there is no cgroup, or its counts cannot be read).
func limitMet(cg cgroups.Manager, before cgroups.LimitCounts) string {
	if cg == nil {
		return ""
	}
	// Counts that cannot be read are zero: only what grew is blamed.
	now, _ := cg.LimitCounts()
	var counted []string
	if n := since(now.MemoryLimitHits, before.MemoryLimitHits); n > 0 {
		counted = append(counted, "reached it "+plural(n, "time"))
	}
	if n := since(now.OOMKills, before.OOMKills); n > 0 {
		counted = append(counted, "counted "+plural(n, "OOM kill"))
	}
	if len(counted) > 0 {
		return fmt.Sprintf("memory limit too small for it (the container's cgroup, %s, %s)",
			limitOf(now.MemoryLimit, "limited to %d bytes"), strings.Join(counted, " and "))
	}
	if n := since(now.PidsLimitHits, before.PidsLimitHits); n > 0 {
		// Go's runtime needs a few threads of its own, and each is a task to the pids controller.
		return fmt.Sprintf("pids limit too small for it (the container's cgroup, %s, refused %s: Go's runtime needs threads of its own)",
			limitOf(now.PidsLimit, "limited to %d tasks"), plural(n, "fork"))
	}
	return ""
}

// since is how much a counter grew from before to now.
func since(now, before uint64) uint64 {
	if now < before {
		return 0
	}
	return now - before
}

// limitOf words a cgroup's own limit, or says that the one met was a parent's.
func limitOf(limit uint64, format string) string {
	if limit == math.MaxUint64 {
		return "under a parent's limit"
	}
	return fmt.Sprintf(format, limit)
}

// plural is "1 time", "3 times".
func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
