package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/workshop"
)

// `workshop check` runs the learner's program in a uts namespace of its own. Step 02 with
// its clone flags replaced rather than added to (CLONE_NEWPID alone, the slip its hint
// invites) calls sethostname(2) in the namespace it was started in: run by a check that was
// not sandboxed, it renamed the machine. The test runs `workshop check` under unshare(1),
// in a namespace it named itself, so that without the sandbox it is that name that changes.
// A check of another directory (--dir) leaves the exercise's status as it was.
func TestCheckRunsTheStepInAThrowawayUTSNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t, isolate.WorkshopRunDir)
	root, bin := workshopForTest(t)
	work := wrongStep02(t, root, "unix.CLONE_NEWPID")
	statusBefore, _ := os.ReadFile(statusPath(root))

	const name = "sandbox-test-host"
	got := checkUnderUnshare(t, root, bin, name, work)
	if !strings.Contains(got, "hostname after: "+name+"\n") {
		t.Errorf("the check renamed the namespace it was started in (want %q kept):\n%s", name, got)
	}
	if !strings.Contains(got, "✗ the pid and uts namespaces are new, and only those") ||
		!strings.Contains(got, "the uts namespace is not new") || !strings.Contains(got, "status 1\n") {
		t.Errorf("want the namespace check to fail on the uts namespace, and status 1:\n%s", got)
	}
	if statusAfter, _ := os.ReadFile(statusPath(root)); !bytes.Equal(statusBefore, statusAfter) {
		t.Errorf("a check with --dir changed %s:\n%s", statusPath(root), statusAfter)
	}
}

// When the program itself fails before probe can look (here clone(2) refuses CLONE_THREAD
// without CLONE_SIGHAND), a check's own hint may point elsewhere: the hint says to start from
// the program's error.
func TestCheckPointsAtTheProgramsOwnError(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t, isolate.WorkshopRunDir)
	root, bin := workshopForTest(t)
	work := wrongStep02(t, root, "unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_THREAD")
	got := checkUnderUnshare(t, root, bin, "program-error-test", work)
	const hint = "hint: the program stopped with an error of its own before the check could look: start from that error. " +
		"This check's own hint: add unix.CLONE_NEWPID"
	if !strings.Contains(got, "✗ the command is pid 1, and its parent is outside\n    probe report exited 1:") ||
		!strings.Contains(got, hint) {
		t.Errorf("want the first check to fail with the program's error and a hint to start from it:\n%s", got)
	}
}

// Ctrl-C reaches the whole foreground process group. `workshop run` stays until the step is
// done: step 02's container (its pid 1, sleep, has no handler for SIGINT, so the kernel drops
// it) goes on, and workshop exits with the step's status once the container has, rather than
// handing the terminal back at once with the container still running.
func TestRunOutlivesCtrlC(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t, isolate.WorkshopRunDir)
	root, bin := workshopForTest(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(filepath.Join(bin, "workshop"), "run", "02", "--reference", "--", "/bin/sh", "-c", "echo started; exec sleep 1")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, out, out
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group of its own, as a terminal's job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) { // built and running
		if data, _ := os.ReadFile(out.Name()); strings.Contains(string(data), "started\n") {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatal("the step's container never started")
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	state, err := cmd.Process.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !state.Exited() || state.ExitCode() != 0 {
		t.Errorf("workshop run after Ctrl-C: %v; want it to wait for the container's sleep, and exit 0 as it does", state)
	}
}

// workshopForTest builds workshop and probe into a directory of their own (workshop finds the
// probe beside itself) and returns the repository and that directory.
func workshopForTest(t *testing.T) (root, bin string) {
	t.Helper()
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bin = t.TempDir()
	for out, pkg := range map[string]string{"workshop": "./cmd/workshop", "probe": "./cmd/probe"} {
		build := exec.Command("go", "build", "-buildvcs=false", "-o", filepath.Join(bin, out), pkg)
		build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return root, bin
}

// wrongStep02 is step 02's reference with these clone flags (testenv.StepVariant).
func wrongStep02(t *testing.T, root, flags string) string {
	const right = "var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID"
	return testenv.StepVariant(t, root, "02-pid", func(src string) (string, bool) {
		return strings.Replace(src, right, "var cloneflags uintptr = "+flags, 1), strings.Contains(src, right)
	})
}

// checkUnderUnshare runs `workshop check 02 --dir work` in a uts namespace of the test's own,
// named name, and returns its output, its status and the name that namespace has after it.
func checkUnderUnshare(t *testing.T, root, bin, name, work string) string {
	t.Helper()
	script := `hostname "$1" || exit 125; shift; "$@"; echo "status $?"; echo "hostname after: $(hostname)"`
	cmd := exec.Command("unshare", "--uts", "--", "/bin/sh", "-c", script, "sh", name,
		filepath.Join(bin, "workshop"), "check", "02", "--dir", work)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("unshare --uts ... workshop check 02: %v\n%s", err, out.String())
	}
	return out.String()
}
