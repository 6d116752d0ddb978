package isolate

import (
	"errors"
	"testing"
)

// runc's rule: a console socket exactly when a detached process has a terminal.
func TestCheckConsoleSocket(t *testing.T) {
	for _, c := range []struct {
		detached, terminal bool
		socket             string
		ok                 bool
	}{
		{false, false, "", true}, {false, true, "", true}, {true, false, "", true},
		{true, true, "/s", true}, {true, true, "", false}, {false, true, "/s", false},
		{true, false, "/s", false}, {false, false, "/s", false},
	} {
		err := CheckConsoleSocket(c.detached, c.terminal, c.socket)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrConsoleSocket)) {
			t.Errorf("detached=%v terminal=%v socket=%q: %v", c.detached, c.terminal, c.socket, err)
		}
	}
}
