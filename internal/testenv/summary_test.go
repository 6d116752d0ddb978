package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSummaryFailsWhenARunnerFails holds .ci/summary, which ends `make test`'s output, to the
// runners' exit statuses: a pipe loses them, and a runner can fail without a FAIL line (a
// package that does not build, a script stopped halfway by set -e).
func TestSummaryFailsWhenARunnerFails(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		ok          bool
		says        string
	}{
		{"all passed", "--- PASS: TestA\nsummary-status go-test 0\nPASS podman/run\nsummary-status engines 0\n", true,
			"tests: 2 passed, 0 failed, 0 skipped"},
		{"a failed test", "--- FAIL: TestA\nsummary-status go-test 1\nsummary-status engines 0\n", false,
			"tests: 0 passed, 1 failed, 0 skipped"},
		{"go test failed without a FAIL line", "--- PASS: TestA\nsummary-status go-test 1\nsummary-status engines 0\n", false,
			"go-test exited with status 1"},
		{"the engines stopped halfway", "--- PASS: TestA\nsummary-status go-test 0\nPASS podman/run\nsummary-status engines 1\n", false,
			"engines exited with status 1"},
		{"a runner never finished", "--- PASS: TestA\nsummary-status go-test 0\nPASS podman/run\n", false,
			"no exit status from engines"},
		{"a failed engine case", "summary-status go-test 0\nFAIL podman/run: why\nsummary-status engines 0\n", false,
			"tests: 0 passed, 1 failed, 0 skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", "../../.ci/summary", "go-test", "engines")
			cmd.Stdin = strings.NewReader(tc.input)
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.ok {
				t.Errorf("exit status ok = %v, want %v (err %v); output:\n%s", ok, tc.ok, err, out)
			}
			if !strings.Contains(string(out), tc.says) {
				t.Errorf("output does not say %q:\n%s", tc.says, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "tests: ") {
				t.Errorf("last line %q is not the summary", last)
			}
			if strings.Contains(string(out), "summary-status") {
				t.Errorf("the status lines are passed through:\n%s", out)
			}
		})
	}
}
