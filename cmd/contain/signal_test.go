package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containkit/contain/isolate"
)

// running is a contain process running `probe trap` in the background.
type running struct {
	cmd   *exec.Cmd
	lines chan string
}

// startContainer starts contain with args (whose program must be `probe trap N`) and waits
// for the probe to say it is ready.
func startContainer(t *testing.T, args ...string) *running {
	t.Helper()
	cmd := containCmd(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, lines: make(chan string, 16)}
	t.Cleanup(func() { // a failed test still must not leave contain running
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		io.Copy(io.Discard, stdout)
	}()
	r.expect(t, "ready")
	return r
}

// expect waits for the next output line and checks it.
func (r *running) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case line, ok := <-r.lines:
		if !ok || line != want {
			t.Fatalf("container said %q (open=%v), want %q", line, ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q from the container within 10s", want)
	}
}

// signal sends sig to contain and expects the container's probe to report it.
func (r *running) signal(t *testing.T, sig syscall.Signal, name string) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	r.expect(t, name)
}

func (r *running) wait(t *testing.T) int {
	t.Helper()
	err := r.cmd.Wait()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestSignalsAreForwarded(t *testing.T) {
	needContainer(t)
	c := startContainer(t, "run", "--rootfs", testRootfs, "--", "/bin/probe", "trap", "20")
	type sig struct {
		sig  syscall.Signal
		name string
	}
	send := func(list ...sig) {
		for _, s := range list {
			c.signal(t, s.sig, s.name)
		}
	}
	send(sig{syscall.SIGUSR1, "SIGUSR1"}, sig{syscall.SIGUSR2, "SIGUSR2"}, sig{syscall.SIGHUP, "SIGHUP"},
		sig{syscall.SIGINT, "SIGINT"}, sig{syscall.SIGQUIT, "SIGQUIT"}, sig{syscall.SIGWINCH, "SIGWINCH"},
		// Each of these, sent with kill(2), would end a Go program that does not catch it,
		// and contain without its clean-up (the leak check after the test would see it).
		sig{syscall.SIGILL, "SIGILL"}, sig{syscall.SIGTRAP, "SIGTRAP"}, sig{syscall.SIGBUS, "SIGBUS"},
		sig{syscall.SIGFPE, "SIGFPE"}, sig{syscall.SIGSEGV, "SIGSEGV"}, sig{syscall.SIGSTKFLT, "SIGSTKFLT"},
		sig{syscall.SIGSYS, "SIGSYS"})
	// The late ones are caught once the program runs, SIGXFSZ last: its handler, which Go
	// installs only then, shows in SigCgt.
	waitFor(t, func() bool { return catches(t, c.cmd.Process.Pid, syscall.SIGXFSZ) })
	send(sig{syscall.SIGABRT, "SIGABRT"}, sig{syscall.SIGXFSZ, "SIGXFSZ"}, sig{syscall.SIGTERM, "SIGTERM"})
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0 (probe trap exits 0 on TERM)", code)
	}
}

// catches says whether process pid has a handler for sig (/proc/PID/status, SigCgt).
func catches(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			if err != nil {
				t.Fatalf("SigCgt %q: %v", mask, err)
			}
			return bits&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatal("no SigCgt in /proc/PID/status")
	return false
}

// A container killed by a signal makes contain exit 128+N; --pid-file names the process.
func TestKilledContainerExitsWith128PlusSignal(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	pidFile := bundle + "/container.pid"
	c := startContainer(t, "run", "--bundle", bundle, "--pid-file", pidFile, "killed")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	comm, _ := os.ReadFile("/proc/" + pid + "/comm")
	if strings.TrimSpace(string(comm)) != "probe" {
		t.Fatalf("pid file names %s (%q), want the container's probe", pid, comm)
	}
	p, _ := strconv.Atoi(pid)
	if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 128+9 {
		t.Errorf("exit %d, want 137", code)
	}
}

// run --pid-file writes the file before the program runs, as runc's does: the program, which
// sees the file's directory through a bind mount, reads its own pid there first thing.
func TestPidFileIsWrittenBeforeTheProgramRuns(t *testing.T) {
	needContainer(t)
	shared := t.TempDir()
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/cat", "/shared/container.pid"}
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/shared", "type": "bind", "source": shared, "options": list{"bind", "ro"}})
	})
	pidFile := filepath.Join(shared, "container.pid")
	for i := range 20 { // a pid file written just after the program starts loses most races
		out := mustRun(t, "run", "--bundle", bundle, "--pid-file", pidFile, "pidfirst")
		if _, err := strconv.Atoi(out); err != nil {
			t.Fatalf("run %d: the program read %q from the pid file, want a pid", i, out)
		}
		if err := os.Remove(pidFile); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
}

// A foreground run owns its container: when contain itself dies (SIGKILL, which it cannot
// catch), the container's init gets its parent-death signal and goes too, instead of running
// on with no runtime to wait for it. What is left is a stopped container's state, for delete.
// The same for a program that runs as another user than root: the change of ids clears the
// parent-death signal, which init sets again.
func TestForegroundContainerDiesWithContain(t *testing.T) {
	needContainer(t)
	for _, uid := range []int{0, 1000} {
		t.Run(fmt.Sprintf("uid %d", uid), func(t *testing.T) { foregroundContainerDiesWithContain(t, uid) })
	}
}

func foregroundContainerDiesWithContain(t *testing.T, uid int) {
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "trap", "60"}
		process(spec)["user"] = obj{"uid": uid, "gid": uid}
	})
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := startContainer(t, "run", "--bundle", bundle, "--pid-file", pidFile, "orphan")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "orphan") })
	pid := readPidFile(t, pidFile)
	r.cmd.Process.Kill() // contain, started by this test
	r.cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); isolate.Alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the container's init %d still runs 5 s after contain was killed", pid)
		}
	}
}

// readPidFile reads the pid a --pid-file holds.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
