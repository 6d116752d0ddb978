package isolate

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Preserved fds (--preserve-fds N, as runc): the caller's fds 3 to 3+N-1 reach the container's
// process under the same numbers, the way systemd's socket activation (LISTEN_FDS) hands
// sockets over; every other fd is still closed. Init and the exec stage get them right after
// stdio, so that nothing has to move them later, and their own fds (config pipe, sync socket,
// exec fifo) after those; the parent says how many in preserveFDsEnv.

// preserveFDsEnv is set in init's environment when fds are preserved. Init's environment is
// not the program's (that comes from the spec), so it goes no further.
const preserveFDsEnv = "CONTAIN_PRESERVE_FDS"

// preservedFDs is how many fds after stdio belong to the program, in init and the exec stage.
var preservedFDs int

// shiftInitFDs reads how many fds the parent preserved and moves init's own fds above them.
func shiftInitFDs() error {
	v, ok := os.LookupEnv(preserveFDsEnv)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("init: %s=%q: want a number of fds", preserveFDsEnv, v)
	}
	preservedFDs = n
	initConfigFD += n
	initSyncFD += n
	execFifoFD += n
	return nil
}

// CheckPreservedFDs checks that fds 3 to 3+n-1 are ones this process inherited: open, and
// not close-on-exec. Every fd the Go runtime and contain open themselves is close-on-exec, so
// this never passes one of ours (a --log file, say) to a container in place of a missing one.
func CheckPreservedFDs(n int) error {
	if n < 0 {
		return fmt.Errorf("--preserve-fds %d: want 0 or more", n)
	}
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return fmt.Errorf("--preserve-fds %d: fd %d is not open: %w", n, fd, err)
		}
		if flags&unix.FD_CLOEXEC != 0 {
			return fmt.Errorf("--preserve-fds %d: fd %d was not passed to contain (that number is a file contain opened itself, close-on-exec)", n, fd)
		}
	}
	return nil
}

// preservedFiles lists fds 3 to 3+n-1 for syscall.ProcAttr.Files, which puts each at its own
// number in the child.
func preservedFiles(n int) []uintptr {
	fds := make([]uintptr, n)
	for i := range fds {
		fds[i] = uintptr(3 + i)
	}
	return fds
}

// initEnv is the environment of init and of the exec stage.
func initEnv(preserved int) []string {
	// Init is one goroutine, locked to its thread, that makes system calls; the goroutines
	// os/exec starts for a hook get the P while init waits in the poller (awaitHook). One P:
	// then the goroutines Go's own start-up creates (the sweeper, the scavenger, the
	// finalizer...) find no idle P to wake a spinning thread for, and init starts fewer
	// threads for execve(2) to end. Two Ps used to be better (see docs/performance.md):
	// with one, Go's monitor thread (sysmon) takes the P from every system call that lasts
	// 20 µs and hands it to a thread to spin. Init now starts with sysmon relaxed
	// (withMonitorSlack): its 20 µs naps end up to 10 ms late, and it seldom looks. No GC:
	// init is short-lived. No heap profile: nothing reads one, but Go records its first
	// allocation for it anyway, with a walk of the stack and the profile's hash table, before
	// the linker's "no one profiles" can turn it off; memprofilerate=0 in GODEBUG, which Go
	// reads before its first allocation, saves that (15 page faults of init's 220, 0.2 ms of
	// CPU on the development VM: docs/performance.md).
	env := []string{"GOMAXPROCS=1", "GOGC=off", "GODEBUG=memprofilerate=0"}
	if preserved > 0 {
		env = append(env, preserveFDsEnv+"="+strconv.Itoa(preserved))
	}
	if callerSlack != 0 {
		env = append(env, callerSlackEnv+"="+strconv.Itoa(callerSlack))
	}
	if onOneCPU {
		env = append(env, onOneCPUEnv+"=1")
	}
	return env
}
