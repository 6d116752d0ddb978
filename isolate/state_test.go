package isolate

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An init that fails at once can have exited before the runtime notes it: noteInit must not
// turn that into an error of its own ("process exited"), which would hide the error init sends
// on the sync socket. A live process and an exited one keep their start time; a reaped one has
// none, and is no error either.
func TestNoteInitOfAnInitThatExited(t *testing.T) {
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 3"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	waitZombie(t, pid)

	s := &stateDir{path: t.TempDir()}
	if err := s.noteInit(pid); err != nil {
		t.Fatalf("noteInit of an exited init: %v", err)
	}
	if s.state.Pid != pid || s.state.InitStart == 0 {
		t.Errorf("noted pid %d start %d, want pid %d and its start time", s.state.Pid, s.state.InitStart, pid)
	}
	if _, err := processStart(pid); err == nil {
		t.Error("processStart of a zombie: no error, want it counted as gone")
	}

	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.noteInit(pid); err != nil {
		t.Errorf("noteInit of a reaped init: %v", err)
	}
}

// waitZombie waits until our child pid has exited, without reaping it.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:])); fields[0] == "Z" {
			return
		}
	}
	t.Fatalf("pid %d did not exit", pid)
}
