package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty returns a new pseudo-terminal pair: the test plays the user's terminal emulator on
// the master side; contain gets the slave as its stdin, stdout and stderr. See pty(7).
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// screen collects what the terminal shows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitText waits until the screen shows want after position from, and returns the new end.
func (s *screen) waitText(t *testing.T, from int, want string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		text := s.String()
		if i := strings.Index(text[from:], want); i >= 0 {
			return from + i + len(want)
		}
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s.String()[from:])
	return 0
}

// retypeUntil types keys, through type_, until the screen shows want after position from
// (every 300 ms, for up to 10 s), and returns the new end. For what the test cannot time: a
// relayed window size, a key that must find a job in the foreground.
func (s *screen) retypeUntil(t *testing.T, from int, type_ func(string), keys, want string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		type_(keys)
		for again := time.Now().Add(300 * time.Millisecond); time.Now().Before(again); time.Sleep(20 * time.Millisecond) {
			if i := strings.Index(s.String()[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
	}
	t.Fatalf("typing %q, the terminal never showed %q; it shows:\n%s", keys, want, s.String()[from:])
	return 0
}

// onPty starts cmd as a session leader whose controlling terminal and stdio are the pty's
// slave, and collects what it writes, read from the master. done gets its Wait result; a
// command still running when the test ends is killed.
func onPty(t *testing.T, cmd *exec.Cmd, master, slave *os.File) (*screen, <-chan error) {
	t.Helper()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	out := &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return out, done
}

// An interactive shell under -t: a prompt, line editing, Ctrl-C reaching the shell and not
// contain, the window size following the user's terminal, and the shell's exit status.
func TestTerminal(t *testing.T) {
	needContainer(t)
	master, slave := openPty(t)
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101})
	cmd := containCmd("run", "-t", "--rootfs", testRootfs, "--", "sh")
	cmd.Env = append(cmd.Env, "TERM=dumb", "PS1=box$ ")
	out, done := onPty(t, cmd, master, slave)
	type_ := func(s string) { master.Write([]byte(s)) }

	pos := out.waitText(t, 0, "# ")
	type_("echo $((6*7))\r")
	pos = out.waitText(t, pos, "42")

	// Line editing: type a typo, erase it with backspace (DEL), finish the line.
	type_("echo abX\x7fc\r")
	pos = out.waitText(t, pos, "abc")

	type_("stty size\r")
	pos = out.waitText(t, pos, "33 101")

	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 44, Col: 120})
	// The kernel sends SIGWINCH to contain (the slave's foreground process group) when the
	// size changes, and contain relays the new size; ask until it has.
	pos = out.retypeUntil(t, pos, type_, "stty size\r", "44 120")

	// Ctrl-C interrupts sleep in the container, not contain. It goes again until the prompt
	// is back: one typed before sleep is the terminal's foreground job reaches the shell alone.
	type_("sleep 30\r")
	pos = out.waitText(t, pos, "sleep 30")
	pos = out.retypeUntil(t, pos, type_, "\x03", "# ")
	type_("echo still here\r")
	pos = out.waitText(t, pos, "still here")

	type_("exit 3\r")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("contain did not exit after the shell did")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want the shell's 3", code)
	}
	_ = pos
}
