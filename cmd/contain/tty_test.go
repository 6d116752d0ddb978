package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// openPty returns a new pseudo-terminal pair: the test plays the user's terminal emulator on
// the master side; contain gets the slave as its stdin, stdout and stderr. See pty(7).
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The ioctls through SyscallConn, not Fd(): Fd() would make the master blocking, and a
	// Close then waits for a Read in progress to end (TestTerminalHangupEndsTheShell).
	raw, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	if cerr := raw.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		}
	}); cerr != nil || err != nil {
		t.Fatal(cerr, err)
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
	if cmd.Stdin == nil { // a test may give another input
		cmd.Stdin = slave
	}
	cmd.Stdout, cmd.Stderr = slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1} // stdout: always the slave
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

	// /dev/console is the terminal (config-linux.md): written there, a line reaches the user.
	type_("echo to-$((2+3))-console >/dev/console\r")
	pos = out.waitText(t, pos, "to-5-console")

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

	_ = pos
	exitShell(t, type_, cmd, done, 3)
}

// exitShell types `exit CODE` to the container's shell and checks contain exits with it.
func exitShell(t *testing.T, type_ func(string), cmd *exec.Cmd, done <-chan error, code int) {
	t.Helper()
	type_("exit " + strconv.Itoa(code) + "\r")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("contain did not exit after the shell did")
	}
	if got := cmd.ProcessState.ExitCode(); got != code {
		t.Errorf("exit %d, want the shell's %d", got, code)
	}
}

// A -t run that fails after the pty was made (the program is missing) gives the user's
// terminal back as it found it, not in raw mode.
// termiosKept takes the terminal's modes now and returns a check that they are the same
// again: a contain that leaves the user's terminal raw leaves a shell with no echo and no
// line editing.
func termiosKept(t *testing.T, slave *os.File) func(after string) {
	t.Helper()
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return func(what string) {
		t.Helper()
		now, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if now.Lflag != before.Lflag || now.Oflag != before.Oflag || now.Iflag != before.Iflag {
			t.Errorf("terminal after %s: lflag %#o oflag %#o iflag %#o, want %#o %#o %#o as before",
				what, now.Lflag, now.Oflag, now.Iflag, before.Lflag, before.Oflag, before.Iflag)
		}
	}
}

func TestTerminalRestoredWhenRunFails(t *testing.T) {
	needContainer(t)
	master, slave := openPty(t)
	kept := termiosKept(t, slave)
	_, done := onPty(t, containCmd("run", "-t", "--rootfs", testRootfs, "--", "/no/such/program"), master, slave)
	mustFail(t, done, "run -t of a missing program")
	kept("a failed run -t")
}

// mustFail waits for a command on a pty (onPty's done) that must fail, for 30 s at most.
func mustFail(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("%s succeeded", what)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not end", what)
	}
}

// -t with input that is not a terminal and output that is (`contain run -t ... </dev/null`):
// the user's terminal is found on stdout, as runc finds it (stderr, stdout, stdin). The pty
// takes its size, its lines reach the screen as the pty wrote them (raw: no second \r), and
// the terminal is given back as it was.
func TestTerminalOnStdoutOnly(t *testing.T) {
	needContainer(t)
	master, slave := openPty(t)
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111})
	kept := termiosKept(t, slave)
	cmd := containCmd("run", "-t", "--rootfs", testRootfs, "--", "sh", "-c", "stty size; echo done")
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	cmd.Stdin = devNull
	out, done := onPty(t, cmd, master, slave)
	out.waitText(t, 0, "done")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run -t </dev/null: %v; the screen shows %q", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run -t </dev/null did not end")
	}
	if got := out.String(); !strings.Contains(got, "33 111\r\n") || strings.Contains(got, "\r\r\n") {
		t.Errorf("the screen shows %q, want the size 33 111 and lines that end in one \\r\\n", got)
	}
	kept("run -t </dev/null")
}

// -t with input that is not a terminal: its end reaches the program as the pty's end of file,
// so `printf abc | contain run -t -- cat` ends, for run and for exec.
func TestTerminalInputFromAPipeEnds(t *testing.T) {
	needContainer(t)
	runningContainer(t, "ttypipe", nil, "/bin/probe", "sleep", "60")
	// The end is said again until the program is gone, as a pipe's end is there for every
	// read: a program that reads twice gets it twice.
	twice := []string{"sh", "-c", "cat; cat; echo read-twice"}
	for _, args := range [][]string{
		{"run", "-t", "--rootfs", testRootfs, "--", "cat"},
		{"exec", "-t", "ttypipe", "cat"},
		{"run", "-t", "--rootfs", testRootfs, "--", "sh"},
		append([]string{"run", "-t", "--rootfs", testRootfs, "--"}, twice...),
		append([]string{"exec", "-t", "ttypipe"}, twice...),
	} {
		input, want := "abc", "abc"
		switch args[len(args)-1] {
		case "sh":
			input, want = "echo from-sh\n", "from-sh"
		case twice[2]:
			want = "read-twice"
		}
		r := contain(t, input, args...)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("contain %s with input %q: exit %d, stdout %q, stderr %q; want %q and exit 0",
				strings.Join(args, " "), input, r.code, r.stdout, r.stderr, want)
		}
	}
}

// exec -t relays the whole output to a reader that is slow to take it: the program's exit
// does not cut the relay short while the output still waits to be written.
func TestExecTerminalSlowReader(t *testing.T) {
	needContainer(t)
	runningContainer(t, "ttyslow", nil, "/bin/probe", "sleep", "60")
	cmd := containCmd("exec", "-t", "ttyslow", "sh", "-c", "head -c 70000 /dev/zero | tr '\\0' a; echo END")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the pipe fills; contain waits on it
	data, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exec -t: %v", err)
	}
	if n := strings.Count(string(data), "a"); n != 70000 || !strings.Contains(string(data), "END") {
		t.Errorf("exec -t to a slow reader: %d bytes of 70000 and END=%v", n, strings.Contains(string(data), "END"))
	}
}

// Job control of contain itself under -t, from an interactive bash that runs it as a job:
// stopped (kill -TSTP), contain leaves; continued (fg), it takes the terminal raw again and
// the session goes on. A contain whose process group is orphaned (a session leader, as under
// `ssh -t`) is not stopped at all, as the kernel would not stop it: no one could continue it.
func TestTerminalStopAndContinue(t *testing.T) {
	needContainer(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash, the job-control shell of this test: %v", err)
	}
	master, slave := openPty(t)
	canonical := func() bool {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ICANON != 0
	}
	shell := exec.Command(bash, "--norc", "--noprofile", "-i")
	shell.Env = append(os.Environ(), "TERM=dumb", "PS1=host$ ")
	out, done := onPty(t, shell, master, slave)
	type_ := func(s string) { master.Write([]byte(s)) }
	pos := out.waitText(t, 0, "host$ ")
	type_(strings.Join(containCmd("run", "-t", "--rootfs", testRootfs, "--", "sh").Args, " ") + "\r")
	pos = out.waitText(t, pos, "# ")
	job := childOf(t, shell.Process.Pid)
	if canonical() {
		t.Fatal("the terminal is not raw while the container's shell runs")
	}
	if err := syscall.Kill(job, syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	pos = out.waitText(t, pos, "Stopped")
	if st := processState(job); st != "T" {
		t.Errorf("contain after SIGTSTP: state %q, want stopped", st)
	}
	type_("fg\r")
	pos = out.waitText(t, pos, "fg")
	// bash gives the job the terminal in its own line mode; contain, continued, makes it raw.
	// Until it does, the user's terminal echoes every key too (a second "echo 42" line).
	waitFor(t, func() bool { return processState(job) != "T" })
	time.Sleep(300 * time.Millisecond)
	if canonical() {
		t.Error("after fg the terminal is in line mode: contain did not take it raw again")
	}
	type_("echo $((600+66))-done\r")
	end := out.waitText(t, pos, "666-done")
	if n := strings.Count(out.String()[pos:end], "echo $((600+66))-done"); n != 1 {
		t.Errorf("after fg the line typed shows %d times, want once: %q", n, out.String()[pos:end])
	}
	pos = end
	type_("exit 4\r")
	pos = out.waitText(t, pos, "host$ ")
	type_("echo status=$?\r")
	out.waitText(t, pos, "status=4")
	exitShell(t, type_, shell, done, 0)

	// The orphaned group: contain as the session leader, its parent (this test) elsewhere.
	master, slave = openPty(t)
	leader := containCmd("run", "-t", "--rootfs", testRootfs, "--", "sh")
	out, done = onPty(t, leader, master, slave)
	type_ = func(s string) { master.Write([]byte(s)) }
	pos = out.waitText(t, 0, "# ")
	if err := syscall.Kill(leader.Process.Pid, syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := processState(leader.Process.Pid); st == "T" || canonical() {
		t.Errorf("a session-leader contain after SIGTSTP: state %q, terminal canonical %v; want it running, raw", st, canonical())
	}
	type_("echo $((6*7))\r")
	out.waitText(t, pos, "42")
	exitShell(t, type_, leader, done, 4)
}

// childOf waits for parent's one child and returns it.
func childOf(t *testing.T, parent int) int {
	t.Helper()
	var found int
	waitFor(t, func() bool {
		children := testenv.Children(parent)
		if len(children) == 1 {
			found = children[0]
		}
		return found != 0
	})
	return found
}

// processState is the state letter of /proc/PID/stat (R, S, T...), "" for a process gone.
func processState(pid int) string {
	st, _ := testenv.ReadProcStat(pid)
	return st.State
}

// run -t of a container without a pid namespace of its own: init's exit does not end what it
// left, which may hold the pty open for good; contain still returns once the output is still,
// and the cgroup's kill ends the rest.
func TestTerminalRunWithoutAPidNamespaceEnds(t *testing.T) {
	needContainer(t)
	master, slave := openPty(t)
	bundle := newBundle(t, func(spec obj) {
		dropNamespace(spec, "pid")
		process(spec)["terminal"] = true
		process(spec)["args"] = list{"sh", "-c", "(trap '' HUP; exec sleep 60) & echo from-init"}
	})
	began := time.Now()
	out, done := onPty(t, containCmd("run", "--bundle", bundle, "ttynopid"), master, slave)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run -t without a pid namespace still waits after %v, for what init left on the pty", time.Since(began))
	}
	if !strings.Contains(out.String(), "from-init") {
		t.Errorf("the terminal shows %q, want init's output", out.String())
	}
}

// The user's terminal hung up (an ssh connection lost, its window closed): the container's
// terminal is hung up too, so its shell, which as pid 1 ignores the SIGHUP, reads end of
// file and exits, and contain with it.
func TestTerminalHangupEndsTheShell(t *testing.T) {
	needContainer(t)
	master, slave := openPty(t)
	out, done := onPty(t, containCmd("run", "--rootfs", testRootfs, "-t", "--", "sh"), master, slave)
	out.waitText(t, 0, "# ")
	// The terminal emulator goes: its master closes (the reader above, parked in Go's poller,
	// lets go of it at once), and the kernel hangs up the slave, contain's terminal.
	if err := master.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("contain still runs 10 s after its terminal hung up; the screen:\n%s", out)
	}
}
