package isolate

import (
	"fmt"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// awaitExit returns once the process has exited and leaves it to be reaped: its waiter (here
// wait4, for hooks cmd.Wait) still gets its status. On a pidfd that names no process it
// cannot wait, and says so.
func TestAwaitExitLeavesTheProcessToItsWaiter(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.05; exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Wait()
		testenv.Skip(t, fmt.Sprintf("pidfd_open: %v", err))
	}
	defer unix.Close(pidfd)
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
