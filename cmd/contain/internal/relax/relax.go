// Package relax relaxes Go's monitor thread (isolate.RelaxMonitor) and, on a machine of two
// CPUs, keeps the runtime's threads on one (isolate.KeepToOneCPU) first thing in the commands
// that start a container's process (run, create, exec): from its package initialiser, before
// rootfs, the command line library (urfave/cli, with its regular expression and the packages
// behind it) and main initialise. cmd/contain imports it for that effect alone: it is the
// only place the runtime relaxes the monitor or starts keeping to one CPU.
//
// Why so early: sysmon starts before any package initialiser, and naps 20 µs at a time until
// it is relaxed. Relaxed in the verb's action, it napped so through the rest of the start-up
// (the package initialisers, the command line): with 50 containers at once on two CPUs, in
// turns against that build (10 rounds, 200 single runs), this takes 78.6 ms off a batch
// (lower in 10 of 10), 160 ms of busy CPU and 32 context switches per container, and 2.84 ms
// off a single run (lower in 190 of 200).
//
// It must tell the verb before the command line is parsed. It reads os.Args as contain's
// command line has them: global flags, then the verb. ValueFlags are the global flags that
// take the next argument as their value; a test in cmd/contain holds the list to the App's
// flags. A command line it cannot read leaves the monitor as Go starts it: slower, not wrong.
package relax

import (
	"os"
	"slices"
	"strings"

	"github.com/containkit/contain/isolate"
)

// ValueFlags are contain's global flags that take their value from the next argument.
var ValueFlags = []string{"root", "log", "log-format", "criu", "rootless"}

// verbs are the commands that start a container's process, which relax the monitor.
var verbs = []string{"run", "create", "exec"}

func init() {
	if startsAProcess(os.Args) {
		isolate.RelaxMonitor()
		isolate.KeepToOneCPU()
	}
}

// startsAProcess reports whether the command line args (os.Args) runs one of verbs.
func startsAProcess(args []string) bool {
	return slices.Contains(verbs, verb(args))
}

// verb is the command contain's command line args (os.Args) names: the first argument after
// the global flags and their values, or "" when there is none.
func verb(args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return ""
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			return a
		}
		if slices.Contains(ValueFlags, strings.TrimLeft(a, "-")) { // not --root=DIR
			i++ // its value
		}
	}
	return ""
}
