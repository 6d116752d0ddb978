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
// from a changed thread through asCaller (here a hook) gets the caller's slack, and
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
		// Without asCaller, a child inherits the relaxed slack.
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

// withMonitorSlack starts a process (init, the exec stage) with the relaxed slack, so that
// every thread its Go runtime starts has it from the first, and leaves the calling thread's
// slack as it was. When RelaxMonitor did not run here (callerSlack 0), it changes nothing.
func TestWithMonitorSlackStartsTheProcessRelaxed(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caller := timerSlack(t)
	if caller >= monitorSlack {
		testenv.Skip(t, fmt.Sprintf("this thread's timer slack is %d ns already", caller))
	}
	started := func() int {
		var out []byte
		err := withMonitorSlack(func() (err error) {
			out, err = exec.Command("/bin/sh", "-c", "cat /proc/self/timerslack_ns").Output()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		return n
	}
	saved := callerSlack
	t.Cleanup(func() { callerSlack = saved })

	callerSlack = caller // as RelaxMonitor leaves it
	if got := started(); got != monitorSlack {
		t.Errorf("a process started relaxed has %d ns, want %d", got, monitorSlack)
	}
	if got := timerSlack(t); got != caller {
		t.Errorf("after it the calling thread has %d ns, want its own %d back", got, caller)
	}
	callerSlack = 0 // RelaxMonitor did not run
	if got := started(); got != caller {
		t.Errorf("without RelaxMonitor a process gets %d ns, want the thread's %d", got, caller)
	}
}

// relaxedFromStart, in a process started relaxed, gives its own thread the caller's slack
// (CONTAIN_CALLER_SLACK) and writes no other thread's: those started relaxed.
func TestRelaxedFromStartTakesTheCallersSlack(t *testing.T) {
	const caller = 123_457
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := timerSlack(t)
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0) })
	saved := callerSlack
	t.Cleanup(func() { callerSlack = saved })

	// Another thread with a slack of its own, which relaxedFromStart must leave.
	const otherSlack = 234_567
	other := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
		unix.Prctl(unix.PR_SET_TIMERSLACK, otherSlack, 0, 0, 0)
		other <- 0
		<-release
		other <- timerSlack(t)
	}()
	<-other

	t.Setenv(callerSlackEnv, strconv.Itoa(caller))
	relaxedFromStart()
	close(release)
	if got := timerSlack(t); got != caller {
		t.Errorf("the calling thread has %d ns, want the caller's %d", got, caller)
	}
	if callerSlack != caller {
		t.Errorf("callerSlack = %d, want %d (asCaller gives it to the program)", callerSlack, caller)
	}
	if got := <-other; got != otherSlack {
		t.Errorf("another thread has %d ns, want its own %d left", got, otherSlack)
	}
}
