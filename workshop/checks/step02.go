package checks

import (
	"fmt"
	"os"
	"slices"
	"strconv"
)

func init() {
	register(2,
		Check{
			Name: "the command is pid 1, and its parent is outside",
			Hint: "add unix.CLONE_NEWPID to the clone flags in parent(): the first process of a new pid namespace is its pid 1",
			Run: func(e *Env) error {
				r, err := e.Report(2)
				if err != nil {
					return err
				}
				if r.PID != 1 {
					return fmt.Errorf("the command is pid %d (parent %d): want pid 1 of a new pid namespace", r.PID, r.PPID)
				}
				// getppid(2) returns 0 when the parent is in an ancestor pid namespace: it
				// has no number in the new one. See pid_namespaces(7).
				if r.PPID != 0 {
					return fmt.Errorf("the command's parent is pid %d inside: want 0 (the parent lives outside the namespace)", r.PPID)
				}
				return nil
			},
		},
		Check{
			Name: "ps still shows the host's processes (until step 04 mounts /proc)",
			Hint: "this step must not touch /proc: a procfs lists the pid namespace of whoever mounted it, and the host mounted this one",
			Run: func(e *Env) error {
				// /proc/self, read through the host's procfs, is the checker's pid as that
				// procfs numbers it (os.Getpid would be wrong if the checker runs in a pid
				// namespace of its own under a /proc it did not mount).
				self, err := os.Readlink("/proc/self")
				if err != nil {
					return fmt.Errorf("readlink /proc/self: %w", err)
				}
				checker, err := strconv.Atoi(self)
				if err != nil {
					return fmt.Errorf("readlink /proc/self: %q is not a pid", self)
				}
				r, err := e.Report(2)
				if err != nil {
					return err
				}
				if len(r.Pids) < 2 || !slices.Contains(r.Pids, checker) {
					return fmt.Errorf("inside, /proc lists %d process(es) and not the checker (pid %d): want the host's /proc, unchanged", len(r.Pids), checker)
				}
				return nil
			},
		},
		hostnameCheck(2, "the container still has its own hostname",
			"keep step 01: CLONE_NEWUTS in the clone flags and isolate.SetHostname in child()"),
		Check{
			Name: "the pid and uts namespaces are new, and only those",
			Hint: "the clone flags are unix.CLONE_NEWUTS | unix.CLONE_NEWPID, and no other CLONE_NEW* yet",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil {
					return err
				}
				r, err := e.Report(2)
				if err != nil {
					return err
				}
				return namespaces(host, r, "uts", "pid")
			},
		},
	)
}
