package checks

import (
	"fmt"
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
//
// With CONTAIN_TEST_BINDIR set, it builds nothing and takes the step's program (named after
// the step's slug, such as 10-cgroups) and probe from that directory instead: so a test
// binary made with `go test -c` runs on a machine without Go (the pure cgroup v2 host).
func TestStep(t *testing.T, step int) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t, isolate.WorkshopRunDir)
	dir := t.TempDir()
	program, probePath, err := stepBinaries(step, dir)
	if err != nil {
		t.Fatal(err)
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

// stepBinaries builds the step in the current directory and the probe into dir, or finds
// them in $CONTAIN_TEST_BINDIR.
func stepBinaries(step int, dir string) (program, probePath string, err error) {
	if bin := os.Getenv("CONTAIN_TEST_BINDIR"); bin != "" {
		for _, s := range workshop.Steps {
			if s.Num == step {
				return filepath.Join(bin, s.Slug), filepath.Join(bin, "probe"), nil
			}
		}
		return "", "", fmt.Errorf("no step %d in the catalog", step)
	}
	program = filepath.Join(dir, "step")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", program, ".").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	probePath = filepath.Join(dir, "probe")
	root, err := workshop.RepoRoot(".")
	if err != nil {
		return "", "", err
	}
	build := exec.Command("go", "build", "-buildvcs=false", "-o", probePath, "./cmd/probe") // see buildStep in cmd/workshop
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build probe: %v\n%s", err, out)
	}
	return program, probePath, nil
}
