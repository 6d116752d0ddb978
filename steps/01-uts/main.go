// Step 01 gives the child a hostname of its own: a new uts namespace.
//
// A namespace wraps one kind of global resource so that the processes inside it see their own
// copy. The uts namespace holds the hostname and the NIS domain name (the fields of uname(2)).
// The parent asks clone(2) for a new one with CLONE_NEWUTS; the child, now alone in it, sets
// its hostname, and the host's stays as it was.
//
// Run it (as root: creating namespaces needs CAP_SYS_ADMIN):
//
//	sudo go run ./steps/01-uts /bin/sh -c 'hostname; readlink /proc/self/ns/uts'; hostname; readlink /proc/self/ns/uts
//
// Man pages: namespaces(7), uts_namespaces(7), clone(2), sethostname(2).
package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("01-uts", nil, parent, child) // step 00
}

// parent runs the child in new namespaces and returns its exit status.
func parent(rootfs string, command []string) (int, error) {
	// SOLUTION BEGIN: ask for a new uts namespace for the child.
	// HINT: clone(2) takes one CLONE_NEW* flag per namespace; the uts one is unix.CLONE_NEWUTS.
	// EXERCISE: var cloneflags uintptr
	var cloneflags uintptr = unix.CLONE_NEWUTS
	// SOLUTION END
	return isolate.RunChild(cloneflags, append([]string{rootfs}, command...)...) // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	// SOLUTION BEGIN: give the container its own hostname.
	// HINT: unix.Sethostname takes a []byte; see sethostname(2).
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}
