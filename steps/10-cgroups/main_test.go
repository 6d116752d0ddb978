package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/containkit/contain/workshop/checks"
)

// The reference passes its own step's checks (workshop check 10 --reference).
func TestReference(t *testing.T) { checks.TestStep(t, 10) }

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "33554432": 33554432, "32M": 32 << 20, "32m": 32 << 20, "4k": 4096, "1G": 1 << 30} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "0", "-1M", "32MB", "1.5G", "9999999999G"} {
		if got, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", bad, got)
		}
	}
}

// Run without a command, the step prints its own usage line, with the limits it takes (the
// shared one of the steps knows nothing of them).
func TestUsageNamesTheLimits(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestUsageNamesTheLimits$")
	cmd.Env = append(os.Environ(), "STEP10_USAGE_TEST=1")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "[--pids N] [--memory SIZE] [--cpu CPUS]") {
		t.Errorf("usage without a command:\n%s\nwant the step's own line, with its limits", out)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("STEP10_USAGE_TEST") == "1" {
		os.Args = os.Args[:1] // no command: main prints its usage and exits 2
		main()
	}
	os.Exit(m.Run())
}
