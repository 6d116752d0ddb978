package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

const sandboxEnv = "CONTAIN_TEST_SANDBOX"

// RunSandboxed is the body of TestMain for packages with root tests; run is the package's
// setup around m.Run, and it runs only in the sandbox. As root, it re-runs the test binary
// in a mount namespace of its own whose "/" is made shared (MS_REC|MS_SHARED), then exits
// with its status. A mount namespace copied from a shared one is a peer of it, so a runtime
// that forgets MS_PRIVATE leaks its mounts into the sandbox, where the leak check sees them;
// systemd hosts are shared, this CI machine may not be, and the test must fail on both. The
// sandbox's mounts are first made private (cut from the host's peer groups), then shared
// among themselves, and thrown away with the namespace: nothing reaches the host's mount table.
func RunSandboxed(run func() int) {
	if os.Geteuid() != 0 {
		os.Exit(run())
	}
	if os.Getenv(sandboxEnv) == "1" {
		// Private first: on a host whose / is shared, the sandbox's mounts start as peers of
		// the host's, and a leak would reach the real host. Then shared again, but in peer
		// groups of the sandbox's own.
		for _, flags := range []uintptr{unix.MS_REC | unix.MS_PRIVATE, unix.MS_REC | unix.MS_SHARED} {
			if err := unix.Mount("", "/", "", flags, ""); err != nil {
				fmt.Fprintln(os.Stderr, "testenv: set the propagation of / in the sandbox:", err)
				os.Exit(2)
			}
		}
		os.Exit(keepDefaultParentsAsFound(run))
	}
	// This process is a child subreaper: what a test's child leaves running when it exits (a
	// process the runtime started and never ended) comes here rather than to pid 1, where the
	// leak check, which lists this process's descendants (see descendants), sees it. So it
	// reaps every child, for a pid namespace's init cannot finish dying while a process of
	// its namespace waits, unreaped, for its parent (zap_pid_ns_processes).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: prctl PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(2)
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), sandboxEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: run the tests in a mount namespace sandbox:", err)
		os.Exit(2)
	}
	os.Exit(reapUntilExit(cmd.Process.Pid))
}

// reapUntilExit reaps this process's children, orphans handed to it included, until pid
// exits, and returns pid's exit status as a shell reports it.
func reapUntilExit(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
		case err != nil:
			fmt.Fprintln(os.Stderr, "testenv: wait for the sandboxed tests:", err)
			return 2
		case got == pid && ws.Exited():
			return ws.ExitStatus()
		case got == pid && ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// InSandbox reports whether the tests run in the shared-propagation sandbox.
func InSandbox() bool { return os.Getenv(sandboxEnv) == "1" }
