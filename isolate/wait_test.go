package isolate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// awaitExit returns once the process has exited and leaves it to be reaped: its waiter (here
// wait4, for hooks cmd.Wait) still gets its status. On a pidfd that names no process it
// cannot wait, and says so.
func TestAwaitExitLeavesTheProcessToItsWaiter(t *testing.T) {
	cmd, pidfd := startWithPidfd(t, "sleep 0.05; exit 7")
	if !awaitExit(pidfd) {
		t.Error("awaitExit: false for a child that exits")
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(cmd.Process.Pid, &ws, unix.WNOHANG, nil); err != nil || ws.ExitStatus() != 7 {
		t.Errorf("after awaitExit, wait4: %v, status %d; want the child there to reap, exit 7", err, ws.ExitStatus())
	}

	if awaitExit(-1) {
		t.Error("awaitExit(-1): true")
	}
}

// A signal to init that exited and was reaped after its pidfd was opened (an engine's shim
// reaps at once) finds it not running, which is what delete --force wants, not an error;
// one to a live process is sent.
func TestSendSignalToAReapedInitIsNotRunning(t *testing.T) {
	cmd, pidfd := startWithPidfd(t, "sleep 60")
	if err := sendSignal(pidfd, "c", cmd.Process.Pid, unix.SIGKILL); err != nil {
		t.Errorf("SIGKILL to a live process: %v", err)
	}
	cmd.Wait() // reaped: the pidfd now names no process
	if err := sendSignal(pidfd, "c", cmd.Process.Pid, unix.SIGKILL); !errors.Is(err, ErrNotRunning) {
		t.Errorf("SIGKILL to a reaped process: %v, want ErrNotRunning", err)
	}
}

// startWithPidfd starts sh -c script as a child and opens a pidfd on it, closed when the test
// ends. Without pidfd_open(2) (Linux 5.3) the test skips.
func startWithPidfd(t *testing.T, script string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		testenv.Skip(t, fmt.Sprintf("pidfd_open: %v", err))
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	return cmd, pidfd
}

// A container whose init is gone is ErrNotRunning to its callers (Start's poststart failure
// kills with it and says nothing more): the readlink error alone was not.
func TestPidNamespaceMembersOfAGoneInit(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := pidNamespaceMembers(cmd.Process.Pid); !errors.Is(err, ErrNotRunning) {
		t.Errorf("pidNamespaceMembers of a reaped pid: %v, want ErrNotRunning", err)
	}
}

// openInit: a pidfd of init while it is the process recorded; ErrNotRunning when it is gone
// or its pid names another process (another start time).
func TestOpenInit(t *testing.T) {
	self := os.Getpid()
	start, err := processStart(self)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := openInit(self, start, "this test")
	if err != nil {
		t.Fatalf("openInit of this process: %v", err)
	}
	unix.Close(fd)
	if _, err := openInit(self, start+1, "this test"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("openInit with another start time: %v, want ErrNotRunning", err)
	}
	// pidfd_open(2)'s EINVAL: a pid that is a thread of another process by now, or none.
	if _, err := openInit(0, start, "no pid"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("openInit of pid 0: %v, want ErrNotRunning", err)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := openInit(cmd.Process.Pid, start, "a reaped process"); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "a reaped process") {
		t.Errorf("openInit of a reaped pid: %v, want ErrNotRunning naming it", err)
	}
}
