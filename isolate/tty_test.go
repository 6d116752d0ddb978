package isolate

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A group is orphaned only when no member has a parent in another group of the same session
// (POSIX): then no shell could continue a stop, and contain does not stop. Each case starts a
// reporter, this test binary again, arranged as a shell, make or a script would arrange
// contain. "Under a script" is the case that looking at contain's parent alone got wrong: the
// reporter shares its parent's group, whose own parent is in another group of the session.
func TestOrphanedProcessGroup(t *testing.T) {
	switch os.Getenv("ORPHAN_ROLE") {
	case "report":
		if orphanedProcessGroup() {
			os.Stdout.WriteString("orphaned")
		} else {
			os.Stdout.WriteString("not orphaned")
		}
		os.Exit(0) // no test summary on stdout

	case "script": // the reporter's parent, in the reporter's group
		out, err := reporter("report", nil).Output()
		if err != nil {
			os.Stdout.WriteString(err.Error())
		}
		os.Stdout.Write(out)
		os.Exit(0)
	}
	for _, tc := range []struct {
		name, role string
		attr       *syscall.SysProcAttr
		want       string
	}{
		{"a job of this session", "report", &syscall.SysProcAttr{Setpgid: true}, "not orphaned"},
		{"a session of its own", "report", &syscall.SysProcAttr{Setsid: true}, "orphaned"},
		{"under a script in a job of this session", "script", &syscall.SysProcAttr{Setpgid: true}, "not orphaned"},
		{"under a script in a session of its own", "script", &syscall.SysProcAttr{Setsid: true}, "orphaned"},
	} {
		out, err := reporter(tc.role, tc.attr).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("%s: %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
}

// reporter is this test binary in the given role of TestOrphanedProcessGroup.
func reporter(role string, attr *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanedProcessGroup$")
	cmd.Env = append(os.Environ(), "ORPHAN_ROLE="+role)
	cmd.SysProcAttr = attr
	return cmd
}
