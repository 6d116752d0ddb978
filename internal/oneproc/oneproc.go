// Package oneproc gives the contain command one P (runtime.GOMAXPROCS(1)) before the other
// packages of the program initialise; cmd/contain imports it for that effect alone.
//
// Why one P: a runtime command is short and mostly waits in system calls; with a second P
// idle, every goroutine wake-up starts a thread that spins looking for work, CPU that 50
// containers started at once on two CPUs pay for (1082 -> 901 ms there).
//
// Why here and not in main: changing GOMAXPROCS stops the world and empties the mcache of
// the P it removes into the heap's central lists. By the time main runs, the package
// initialisers (urfave/cli, unicode, encoding/json...) have filled that mcache, often the one
// the main goroutine ran on, and emptying it touches a fresh page for each size class it held:
// 2.5% of the runtime's CPU with 50 containers started at once (perf). Go initialises
// packages in the order of their import paths, each after its imports, so this one runs
// before most of the others: after the standard packages that sort before
// "github.com" and are ready by then.
//
// An explicit GOMAXPROCS in the environment wins, as it does for any Go program. The
// container's init gets GOMAXPROCS=1 in its environment (isolate's initEnv), so that its Go
// runtime starts with one P, before any of its own goroutines, and never changes it.
package oneproc

import (
	"runtime"
	"syscall"
)

func init() {
	if v, _ := syscall.Getenv("GOMAXPROCS"); v == "" {
		runtime.GOMAXPROCS(1)
	}
}
