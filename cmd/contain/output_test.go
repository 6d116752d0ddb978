package main

import (
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitOf says how a contain process ended: its exit code, or the signal that killed it.
func exitOf(t *testing.T, err error) (code int, signal syscall.Signal) {
	t.Helper()
	var exit *exec.ExitError
	if err == nil {
		return 0, 0
	}
	if !errors.As(err, &exit) {
		t.Fatalf("contain: %v", err)
	}
	if ws := exit.Sys().(syscall.WaitStatus); ws.Signaled() {
		return -1, ws.Signal()
	}
	return exit.ExitCode(), 0
}

// A relayed terminal whose reader went away (`contain run -t -- yes | head -1`): contain is
// not killed by SIGPIPE half-way, the pty is hung up, and the run ends and cleans up (the
// leak check proves the state and cgroups went).
func TestClosedStdoutEndsATerminalRun(t *testing.T) {
	needContainer(t)
	cmd := containCmd("run", "--rootfs", testRootfs, "-t", "--", "yes")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runWithTimeout(t, cmd, 20*time.Second) }()
	if _, err := io.ReadFull(out, make([]byte, 64)); err != nil {
		t.Fatalf("read the first output: %v", err)
	}
	out.Close()
	code, sig := exitOf(t, <-done)
	if sig != 0 || code == 0 {
		t.Errorf("contain ended by signal %v, code %d; want an exit code that says the output failed", sig, code)
	}
}

// A log line to a stderr whose reader went away does not end contain before it cleaned up.
func TestClosedStderrDoesNotKillTheRuntime(t *testing.T) {
	needContainer(t)
	cmd := containCmd("--debug", "run", "--rootfs", testRootfs, "--", "true")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe.Close() // the --debug lines find no reader from the first one on
	code, sig := exitOf(t, runWithTimeout(t, cmd, 20*time.Second))
	if sig != 0 || code != 0 {
		t.Errorf("contain --debug run -- true with stderr closed: signal %v, code %d; want 0", sig, code)
	}
}

// Under -t a user other than root owns its terminal (the group stays tty), as login(1) and
// runc leave it, so that it can open it again.
func TestTerminalBelongsToTheUser(t *testing.T) {
	needContainer(t)
	out := mustRun(t, "run", "--rootfs", testRootfs, "-t", "--user", "1000:1000", "--",
		"sh", "-c", "stat -c '%u:%g %a' $(tty); echo x > $(tty) && echo reopened")
	if !strings.Contains(out, "1000:5 620") || !strings.Contains(out, "reopened") {
		t.Errorf("the terminal of user 1000: %q, want owner 1000:5, mode 620, and reopened", out)
	}
}

// -t sets TERM (the host's, or xterm), and a TERM given with -e wins, as in docker run.
// docker's -i and -it are taken too: the process always has contain's stdin.
func TestTerminalTermAndDockerFlags(t *testing.T) {
	needContainer(t)
	if out := mustRun(t, "run", "--rootfs", testRootfs, "-it", "-e", "TERM=dumb", "--", "sh", "-c", "echo $TERM"); strings.TrimSpace(out) != "dumb" {
		t.Errorf("run -it -e TERM=dumb: TERM %q, want dumb", out)
	}
	if out := mustRun(t, "run", "--rootfs", testRootfs, "-ti", "--", "sh", "-c", "test -t 0 && echo a terminal"); !strings.Contains(out, "a terminal") {
		t.Errorf("run -ti: %q, want a terminal", out)
	}
	if r := contain(t, "hello\n", "run", "--rootfs", testRootfs, "-i", "--", "sh", "-c", "read x; echo got $x"); r.code != 0 || r.stdout != "got hello\n" {
		t.Errorf("run -i: exit %d, %q, %q; want got hello", r.code, r.stdout, r.stderr)
	}
	if r := contain(t, "", "run", "-d", "--", "sleep", "5"); r.code == 0 || !strings.Contains(r.stderr, "belongs to the OCI form") {
		t.Errorf("run -d -- sleep 5: exit %d, %q, want a failure that says -d is the OCI form's", r.code, r.stderr)
	}
}
