package probe

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// rlimitNames are the getrlimit(2) resources indexed by number, 0 to RLIMIT_RTTIME (15).
var rlimitNames = []string{
	"RLIMIT_CPU",
	"RLIMIT_FSIZE",
	"RLIMIT_DATA",
	"RLIMIT_STACK",
	"RLIMIT_CORE",
	"RLIMIT_RSS",
	"RLIMIT_NPROC",
	"RLIMIT_NOFILE",
	"RLIMIT_MEMLOCK",
	"RLIMIT_AS",
	"RLIMIT_LOCKS",
	"RLIMIT_SIGPENDING",
	"RLIMIT_MSGQUEUE",
	"RLIMIT_NICE",
	"RLIMIT_RTPRIO",
	"RLIMIT_RTTIME",
}

// readRlimits returns every resource limit of the process by name.
func readRlimits() (map[string]Rlimit, []error) {
	limits := map[string]Rlimit{}
	var errs []error
	for resource, name := range rlimitNames {
		var lim unix.Rlimit
		if err := unix.Prlimit(0, resource, nil, &lim); err != nil {
			errs = append(errs, fmt.Errorf("prlimit %s: %w", name, err))
			continue
		}
		limits[name] = Rlimit{Soft: lim.Cur, Hard: lim.Max}
	}
	if nofile, ok := limits["RLIMIT_NOFILE"]; ok && nofile.Hard > 0 && nofile.Soft == nofile.Hard-1 {
		orig, err := inheritedNofile()
		if err != nil {
			errs = append(errs, fmt.Errorf("RLIMIT_NOFILE soft limit was raised by the Go runtime and the inherited value is unknown: %w", err))
		} else {
			limits["RLIMIT_NOFILE"] = Rlimit{Soft: orig.Cur, Hard: orig.Max}
		}
	}
	return limits, errs
}

// inheritedNofile recovers the RLIMIT_NOFILE the probe was started with.
//
// At start-up the Go runtime raises its own soft RLIMIT_NOFILE to hard-1 (go.dev/issue/46279),
// so getrlimit would report Go's value instead of the container's. Go puts the original value
// back in every child just before execve. So the probe starts a child of itself under
// PTRACE_TRACEME: ptrace(2) stops it with SIGTRAP right after execve, before any of its own
// code (which would raise the limit again) runs; prlimit(2) reads the limit there, and the
// child is killed.
func inheritedNofile() (unix.Rlimit, error) {
	var lim unix.Rlimit
	// The thread that forks a traced child is its tracer; keep wait4 on that thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"probe", "exit", "0"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return lim, fmt.Errorf("fork/exec /proc/self/exe: %w", err)
	}
	defer reap(pid)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return lim, fmt.Errorf("wait4 %d: %w", pid, err)
	}
	if !ws.Stopped() {
		return lim, fmt.Errorf("child %d did not stop after execve", pid)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
		return lim, fmt.Errorf("prlimit %d RLIMIT_NOFILE: %w", pid, err)
	}
	return lim, nil
}

// reap kills the child pid and collects its exit status so that no zombie is left behind.
func reap(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	for {
		_, err := unix.Wait4(pid, nil, 0, nil)
		if err != unix.EINTR {
			return
		}
	}
}
