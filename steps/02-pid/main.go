// Step 02 gives the child process ids of its own: a new pid namespace.
//
// The pid namespace numbers processes. The first process in a new one is pid 1, its init:
// orphans in the namespace are re-parented to it, and when it exits the kernel kills every
// other process in the namespace. Its parent lives outside, so getppid(2) returns 0. The
// parent asks clone(2) for a new one with CLONE_NEWPID, next to step 01's CLONE_NEWUTS.
// `ps` still lists the host's processes: it reads /proc, and a procfs shows the pid namespace
// of whoever mounted it, here the host. Step 04 mounts a /proc of the container's own.
//
// Run it (as root: creating namespaces needs CAP_SYS_ADMIN):
//
//	sudo go run ./steps/02-pid /bin/sh -c 'echo "pid $$, parent $PPID"; ps -p 1 -o pid,comm; readlink /proc/self/ns/pid'; readlink /proc/self/ns/pid
//
// Man pages: namespaces(7), pid_namespaces(7), clone(2), getpid(2), proc(5).
package main

import (
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("02-pid", nil, parent, child) // step 00
}

// parent runs the child in new namespaces and returns its exit status.
func parent(rootfs string, command []string) (int, error) {
	// SOLUTION BEGIN: ask for a new pid namespace for the child, as well as the uts one.
	// HINT: clone(2) takes one CLONE_NEW* flag per namespace, OR-ed together: add unix.CLONE_NEWPID.
	// EXERCISE: var cloneflags uintptr = unix.CLONE_NEWUTS
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID
	// SOLUTION END
	return isolate.RunChild(cloneflags, append([]string{rootfs}, command...)...) // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetHostname(hostname); err != nil { // step 01
		return err
	}
	return isolate.Exec(command) // step 00
}
