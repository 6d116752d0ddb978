package isolate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// RelaxMonitor changes the Go runtime's other threads, not the caller's; a process started
// from a changed thread through withCallerSlack (here a hook) gets the caller's slack, and
// one started without it would not.
func TestRelaxMonitorLeavesProcessesTheCallersSlack(t *testing.T) {
	testenv.RequireRoot(t) // another thread's slack needs CAP_SYS_NICE
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caller := timerSlack(t)
	if caller >= monitorSlack {
		testenv.Skip(t, fmt.Sprintf("this thread's timer slack is %d ns already", caller))
	}
	// A thread that exists when RelaxMonitor runs, which the test can run code on.
	other := make(chan func())
	defer close(other)
	go func() {
		runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
		for f := range other {
			f()
		}
	}()
	onOther := func(f func()) {
		done := make(chan struct{})
		other <- func() { f(); close(done) }
		<-done
	}
	onOther(func() {}) // the goroutine has its thread now

	RelaxMonitor()
	t.Cleanup(func() {
		undoRelaxMonitor()
		callerSlack = 0
	})
	if got := timerSlack(t); got != caller {
		t.Errorf("the caller's timer slack is %d ns, want it left at %d", got, caller)
	}
	dir := t.TempDir()
	var relaxed, plain, hooked int
	onOther(func() {
		relaxed = timerSlack(t)
		// Without withCallerSlack, a child inherits the relaxed slack.
		out, err := exec.Command("/bin/sh", "-c", "cat /proc/self/timerslack_ns").Output()
		if err != nil {
			t.Errorf("sh: %v", err)
		}
		plain, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		hook := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/timerslack_ns > " + filepath.Join(dir, "slack")}}
		if err := runHook(hook, nil); err != nil {
			t.Errorf("hook: %v", err)
		}
	})
	data, err := os.ReadFile(filepath.Join(dir, "slack"))
	if err != nil {
		t.Fatal(err)
	}
	hooked, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	if relaxed != monitorSlack {
		t.Errorf("another thread's timer slack is %d ns, want %d", relaxed, monitorSlack)
	}
	if plain != monitorSlack {
		t.Errorf("a process started plainly from it has %d ns, want that thread's %d", plain, monitorSlack)
	}
	if hooked != caller {
		t.Errorf("a hook started from it has %d ns, want the caller's %d", hooked, caller)
	}

	undoRelaxMonitor()
	onOther(func() { relaxed = timerSlack(t) })
	if relaxed != caller {
		t.Errorf("after undoRelaxMonitor the other thread's timer slack is %d ns, want %d", relaxed, caller)
	}
}

// timerSlack is the calling thread's timer slack (-1 if it cannot be read). It may be called
// from another goroutine than the test's.
func timerSlack(t *testing.T) int {
	t.Helper()
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Errorf("prctl PR_GET_TIMERSLACK: %v", err)
		return -1
	}
	return slack
}
