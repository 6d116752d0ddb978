// Contain is a small OCI container runtime: `contain run -- sh` starts a shell in a new
// container, and `contain run --bundle DIR ID` runs an OCI bundle the way runc does.
//
// The same binary is the container's first process: the runtime re-executes itself as
// "contain init" inside the new namespaces (see package isolate).
package main

import (
	"errors"
	"fmt"
	"os"

	// These four initialise before the packages the commands need (Go initialises packages
	// in the order of their import paths, each after its imports). bigstack grows the main
	// goroutine's stack once, to all that the runtime and init need; oneproc gives the runtime
	// one P; relax relaxes Go's monitor thread for run, create and exec; initproc runs the
	// container's init ("contain init") and never returns.
	_ "github.com/containkit/contain/cmd/contain/internal/relax"
	_ "github.com/containkit/contain/internal/bigstack"
	_ "github.com/containkit/contain/internal/oneproc"
	_ "github.com/containkit/contain/isolate/initproc"
)

func main() {
	os.Exit(run(os.Args))
}

// run executes the command line and returns the process exit status.
func run(args []string) int {
	app := newApp()
	err := app.Run(flagsBeforeID(app, args))
	if code, ok := err.(exitCode); ok {
		logOutcome(nil) // the container's status: the runtime did its part
		return int(code)
	}
	logOutcome(err)
	if err != nil {
		if logToFile {
			fmt.Fprintln(stderr, "contain:", err)
		}
		var failed failedWith
		if errors.As(err, &failed) {
			return failed.code
		}
		return 1
	}
	return 0
}

// failedWith is an error that exits with a status of its own rather than 1 (exec's 255).
type failedWith struct {
	error
	code int
}

func (f failedWith) Unwrap() error { return f.error }

// exitCode is returned by a verb whose exit status is not an error (the container's own).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }
