package checks

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containkit/contain/internal/probe"
)

func init() {
	register(1,
		Check{
			Name: "the container has its own hostname",
			Hint: "the child must call sethostname(2) with \"container\", in a new uts namespace",
			Run: func(e *Env) error {
				r, _, err := reportInUTSSandbox(e)
				if err != nil {
					return err
				}
				if r.Hostname != "container" {
					return fmt.Errorf("hostname inside is %q, want \"container\"", r.Hostname)
				}
				return nil
			},
		},
		Check{
			Name: "the hostname outside the container is unchanged",
			Hint: "call sethostname(2) in child(), which runs in the new uts namespace (CLONE_NEWUTS): called in parent(), or without the flag, " +
				"it renames the namespace the program was started in: on your machine, the host",
			Run: func(e *Env) error {
				host, err := os.Hostname()
				if err != nil {
					return err
				}
				if host == "container" {
					return fmt.Errorf("the host is called \"container\": a run of the step outside `workshop check` renamed it (fix: hostname YOUR-HOST)")
				}
				_, sb, err := reportInUTSSandbox(e)
				if err != nil {
					return err
				}
				if sb.hostname != host {
					return fmt.Errorf("the step renamed the namespace it ran in from %q to %q (the check ran it in a throwaway uts namespace; run alone, it renames the host)", host, sb.hostname)
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
				r, sb, err := reportInUTSSandbox(e)
				if err != nil {
					return err
				}
				host.Namespaces["uts"] = sb.utsns // the step ran in the sandbox's uts namespace
				return namespaces(host, r, "uts")
			},
		},
	)
}

// utsSandbox runs its arguments, then records the uts namespace they ran in and its hostname
// into the file named by its first argument. `unshare --uts` gives it a throwaway namespace, a
// copy of the host's with the host's name: a step without CLONE_NEWUTS renames that one, and
// never the machine the learner works on.
const utsSandbox = `out=$1; shift
"$@"
status=$?
{ echo "utsns $(stat -L -c %i /proc/self/ns/uts)"; cat /proc/sys/kernel/hostname; } >"$out" || exit 125
exit $status`

// utsRecord is what the uts sandbox recorded.
type utsRecord struct {
	utsns    uint64
	hostname string // after the step ran
}

// reportInUTSSandbox runs `probe report` through the step inside a uts sandbox. Every run of
// step 01 goes there: a step without CLONE_NEWUTS would otherwise rename the host.
func reportInUTSSandbox(e *Env) (*probe.Report, *utsRecord, error) {
	var sb *utsRecord
	r, err := e.reportInSandbox(1, []string{"--uts"}, utsSandbox, "uts sandbox (unshare --uts)", func(data []byte) (err error) {
		sb, err = parseUTSRecord(data)
		return err
	})
	return r, sb, err
}

// parseUTSRecord reads the uts sandbox's record.
func parseUTSRecord(data []byte) (*utsRecord, error) {
	first, name, _ := strings.Cut(string(data), "\n")
	ino, err := strconv.ParseUint(strings.TrimPrefix(first, "utsns "), 10, 64)
	if !strings.HasPrefix(first, "utsns ") || err != nil || name == "" {
		return nil, fmt.Errorf("the uts sandbox's record is incomplete (%q): did the step kill its shell?", data)
	}
	return &utsRecord{utsns: ino, hostname: strings.TrimSuffix(name, "\n")}, nil
}
