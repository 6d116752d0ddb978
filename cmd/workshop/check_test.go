package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "steps/02-pid/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	const flags = "var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID"
	if !strings.Contains(string(src), flags) {
		t.Fatalf("steps/02-pid/main.go no longer has %q: update this test", flags)
	}
	wrong := strings.Replace(string(src), flags, "var cloneflags uintptr = unix.CLONE_NEWPID", 1)
	if err := os.MkdirAll(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp(filepath.Join(root, "work"), ".sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.WriteFile(filepath.Join(work, "main.go"), []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir() // workshop finds the probe beside itself
	for out, pkg := range map[string]string{"workshop": "./cmd/workshop", "probe": "./cmd/probe"} {
		build := exec.Command("go", "build", "-buildvcs=false", "-o", filepath.Join(bin, out), pkg)
		build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	statusBefore, _ := os.ReadFile(statusPath(root))

	const name = "sandbox-test-host"
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
	got := out.String()
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
