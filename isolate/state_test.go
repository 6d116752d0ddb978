package isolate

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// writeFileAtomic never opens a file that is there already: a --pid-file's directory may be
// writable by others, who could leave a hard link to a file or a device, or a fifo, at the
// temporary name. The name taken is skipped; the victim is untouched and the open does not
// hang on the fifo.
func TestWriteFileAtomicMakesANewFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{"link", "fifo", "free"}
	defer func(f func() string) { tempSuffix = f }(tempSuffix)
	tempSuffix = func() string { n := names[0]; names = names[1:]; return n }
	if err := os.Link(victim, filepath.Join(dir, ".pid.link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, ".pid.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pid")
	// Under the umask a service may run with (077), the file still gets the mode asked for:
	// others read a pid file.
	defer unix.Umask(unix.Umask(0o077))
	if err := writeFileAtomic(path, []byte("42"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "mine" {
		t.Errorf("the victim holds %q, want it untouched", data)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || st.Mode&0o777 != 0o644 {
		t.Errorf("pid file: %v, mode %o, %d links; want a new regular file, mode 644", err, st.Mode, st.Nlink)
	}
	if data, _ := os.ReadFile(path); string(data) != "42" {
		t.Errorf("pid file holds %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, ".pid.free")); err == nil {
		t.Error("the temporary file was left")
	}
}

// A zombie has exited: Alive says so before its parent reaps it, as status does.
func TestAliveSaysAZombieHasExited(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("Alive(our own pid) = false")
	}
	// This test binary, running no test: it exits at once.
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	defer syscall.Wait4(pid, &ws, 0, nil)
	for deadline := time.Now().Add(5 * time.Second); Alive(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Alive(%d) still true 5 s after it started", pid)
		}
	}
	if _, exited, err := readStart(pid); err != nil || !exited {
		t.Fatalf("pid %d: exited=%v err=%v, want a zombie (not reaped yet)", pid, exited, err)
	}
}

// DeleteLeftover deletes a container only when nothing of it runs: a create that died before
// init (status creating, no pid) goes; one whose init lives stays, with ErrStillRuns.
func TestDeleteLeftoverNeverStopsAContainer(t *testing.T) {
	root := t.TempDir()
	dead, err := reserveState(root, newState("halfmade", "/b", "/b/rootfs", nil))
	if err != nil {
		t.Fatal(err)
	}
	live, err := reserveState(root, newState("live", "/b", "/b/rootfs", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := live.noteInit(os.Getpid()); err != nil { // "init": this test process
		t.Fatal(err)
	}
	if err := live.update(specs.StateRunning, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if err := DeleteLeftover(root, "halfmade", nil); err != nil {
		t.Errorf("DeleteLeftover(a create that died before init): %v", err)
	}
	if _, err := os.Stat(dead.path); !os.IsNotExist(err) {
		t.Errorf("its state is still there: %v", err)
	}
	if err := DeleteLeftover(root, "live", nil); !errors.Is(err, ErrStillRuns) {
		t.Errorf("DeleteLeftover(a running container) = %v, want ErrStillRuns", err)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("a running container's state went: %v", err)
	}
}

// A state read while the container's directory is removed finds it whole, or not at all:
// never the directory without its state file, which reads as a container being created. For
// each of many removals, a reader spins on the state from just before the removal starts
// until it has ended (not across the next reservation, whose own moment without a state
// file is a container truly being created).
// What a delete killed after its rename leaves is recognised as such (workshop reset removes
// it), and never taken for a container: no valid id has its name, and no id is one. The name
// fits NAME_MAX for the longest id too (else the rename fails and the removal is not atomic).
func TestRemovedStateIsRecognised(t *testing.T) {
	for _, id := range []string{"c1", "abc-def", "x.deleted-y", "0", "deleted-1", strings.Repeat("l", MaxIDLength)} {
		if err := ValidateID(id); err != nil {
			t.Fatalf("ValidateID(%q): %v", id, err)
		}
		name := filepath.Base(removedName(filepath.Join("/run/contain", id)))
		if !IsRemovedState(name) {
			t.Errorf("IsRemovedState(%q) = false for what removeDir names %s's directory", name, id)
		}
		if len(name) > unix.NAME_MAX {
			t.Errorf("removeDir names %s's directory %q: %d bytes, over NAME_MAX", id, name, len(name))
		}
		if ValidateID(name) == nil {
			t.Errorf("%q, what removeDir names %s's directory, is a valid id", name, id)
		}
		if IsRemovedState(id) {
			t.Errorf("IsRemovedState(%q) = true for a container's id", id)
		}
	}
}

func TestStateDuringRemovalIsWholeOrGone(t *testing.T) {
	root := t.TempDir()
	start, stop, done := make(chan struct{}), make(chan struct{}), make(chan string)
	go func() {
		for range start {
			seen := ""
			for reading := true; reading; {
				select {
				case <-stop:
					reading = false
				default:
				}
				if s, err := loadState(root, "c1"); err == nil && s.state.Status != specs.StateCreated && seen == "" {
					seen = string(s.state.Status)
				}
			}
			done <- seen
		}
	}()
	defer close(start)
	st := newState("c1", "/bundle", "/bundle/rootfs", nil)
	st.Status = specs.StateCreated
	for range 2000 {
		s, err := reserveState(root, st)
		if err != nil {
			t.Fatal(err)
		}
		start <- struct{}{}
		err = s.removeDir()
		stop <- struct{}{}
		if seen := <-done; seen != "" {
			t.Fatalf("a state read during a removal said %q; want the container whole (created) or gone", seen)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if names, _ := os.ReadDir(root); len(names) != 0 {
		t.Errorf("the state root holds %v after the removals, want nothing", names)
	}
}
