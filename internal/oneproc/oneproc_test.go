package oneproc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/containkit/contain/internal/testenv"
)

// The test binary imports the package, so its initialiser ran before this test.
func TestOneP(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		testenv.Skip(t, "GOMAXPROCS is set in the environment, which wins")
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS = %d, want 1", n)
	}
}

// An explicit GOMAXPROCS wins, as for any Go program.
func TestEnvironmentWins(t *testing.T) {
	if os.Getenv("ONEPROC_REPORT") != "" {
		fmt.Printf("procs=%d\n", runtime.GOMAXPROCS(0))
		return
	}
	for env, want := range map[string]string{"GOMAXPROCS=3": "procs=3", "GOMAXPROCS=": "procs=1"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvironmentWins$")
		cmd.Env = append(os.Environ(), "ONEPROC_REPORT=1", env)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("with %s: %v, output %q; want %q", env, err, out, want)
		}
	}
}
