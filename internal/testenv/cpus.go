package testenv

import (
	"os"
	"strings"
	"testing"
)

// CPUsAllowed is the Cpus_allowed_list of /proc/WHO/status ("0-1"): the CPUs a process or
// thread may run on. WHO is a pid, "self", or "PID/task/TID".
func CPUsAllowed(t testing.TB, who string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + who + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if list, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(list)
		}
	}
	t.Fatalf("no Cpus_allowed_list in /proc/%s/status", who)
	return ""
}
