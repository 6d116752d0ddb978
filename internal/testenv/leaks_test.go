package testenv

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { RunSandboxed(m.Run) }

// What a test's child leaves running when it exits (a container's init once `contain
// create` is gone) is a leak the check must see: the sandbox is its subreaper.
func TestLeaksSeeAnOrphanedProcess(t *testing.T) {
	RequireRoot(t)
	before := takeSnapshot(nil)
	out, err := exec.Command("sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sh said %q", out)
	}
	leaks := before.leaks(takeSnapshot(nil))
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil) // ours to reap: we are its subreaper
	if want := "process " + strconv.Itoa(pid) + " sleep"; len(leaks) != 1 || leaks[0] != want {
		t.Errorf("leaks = %q, want [%s]", leaks, want)
	}
	if after := before.leaks(takeSnapshot(nil)); len(after) != 0 {
		t.Errorf("after the orphan was killed and reaped: leaks %q", after)
	}
}
