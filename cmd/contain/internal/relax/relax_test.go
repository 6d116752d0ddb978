package relax

import "testing"

func TestVerb(t *testing.T) {
	for _, tt := range []struct {
		args []string
		verb string
	}{
		{[]string{"contain", "run", "--", "sh"}, "run"},
		{[]string{"contain", "--root", "/run/x", "create", "--bundle", "b", "id"}, "create"},
		{[]string{"contain", "-root", "/run/x", "--log", "/l", "--log-format", "json", "exec", "id", "sh"}, "exec"},
		{[]string{"contain", "--root=/run/x", "--debug", "--systemd-cgroup", "run", "--bundle", "b", "id"}, "run"},
		{[]string{"contain", "--rootless", "false", "--criu", "/c", "state", "id"}, "state"},
		{[]string{"contain", "--log", "run", "state", "id"}, "state"}, // run is --log's file
		{[]string{"contain", "init"}, "init"},
		{[]string{"contain", "--", "run"}, ""},
		{[]string{"contain", "--debug"}, ""},
		{[]string{"contain"}, ""},
	} {
		if got := verb(tt.args); got != tt.verb {
			t.Errorf("verb(%q) = %q, want %q", tt.args, got, tt.verb)
		}
	}
}

func TestOnlyTheVerbsThatStartAProcessRelax(t *testing.T) {
	for args, want := range map[string]bool{"run": true, "create": true, "exec": true, "start": false, "delete": false, "init": false, "": false} {
		if got := startsAProcess([]string{"contain", args}); got != want {
			t.Errorf("contain %s: relaxes %v, want %v", args, got, want)
		}
	}
}
