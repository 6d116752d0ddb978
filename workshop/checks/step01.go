package checks

import (
	"fmt"
	"os"
)

func init() {
	register(1,
		hostnameCheck(1, "the container has its own hostname",
			"the child must call sethostname(2) with \"container\", in a new uts namespace"),
		Check{
			Name: "the host's hostname is unchanged",
			Hint: "without CLONE_NEWUTS, sethostname changes the host's name: put it back with `hostname NAME`",
			Run: func(e *Env) error {
				before, _ := os.Hostname()
				if _, err := e.Run("", e.Probe, "exit", "0"); err != nil {
					return err
				}
				after, _ := os.Hostname()
				if after != before {
					return fmt.Errorf("the host's hostname changed from %q to %q", before, after)
				}
				if after == "container" {
					return fmt.Errorf("the host is called \"container\": an earlier run changed it (fix: hostname %s)", "YOUR-HOST")
				}
				return nil
			},
		},
		Check{
			Name: "the uts namespace is new, and only that one",
			Hint: "pass unix.CLONE_NEWUTS, and no other CLONE_NEW* flag yet, to the child",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil {
					return err
				}
				r, err := e.Report(1)
				if err != nil {
					return err
				}
				return namespaces(host, r, "uts")
			},
		},
	)
}
