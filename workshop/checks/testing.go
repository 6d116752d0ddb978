package checks

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/workshop"
)

// TestStep is the body of a step's main_test.go: it builds the step in the current directory
// (the reference) and runs its suite, one subtest per check. It needs root.
func TestStep(t *testing.T, step int) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t, isolate.WorkshopRunDir)
	dir := t.TempDir()
	program := filepath.Join(dir, "step")
	if out, err := exec.Command("go", "build", "-o", program, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	probePath := filepath.Join(dir, "probe")
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", probePath, "./cmd/probe")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build probe: %v\n%s", err, out)
	}
	env, err := NewEnv(program, probePath, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(Suite(step)) == 0 {
		t.Fatalf("step %d has no checks", step)
	}
	for _, c := range Suite(step) {
		t.Run(c.Name, func(t *testing.T) {
			if err := c.Run(env); err != nil {
				t.Errorf("%v\nhint: %s", err, c.Hint)
			}
		})
	}
	os.RemoveAll(env.Rootfs)
}
