// Step 00 runs a command as the supervised child of a program that re-executes itself.
//
// Every later step has this shape. The program (the parent) starts a copy of itself (the
// child) through /proc/self/exe; the child turns into the command with execve(2); the parent
// waits, and exits with the command's status. Why re-execute? A Go program cannot fork
// without exec: its other threads hold locks that a forked copy would wait on forever. The
// child is where the next steps will set up namespaces, so it must run our code, fresh.
//
// Run it (as root from step 01 on; this one works as any user):
//
//	go build -o /tmp/step00 ./steps/00-process && /tmp/step00 /bin/sh -c 'echo "child pid $$, parent $PPID"; exit 3'; echo "status $?"
//
// (Built first: `go run` reports a non-zero status as its own "exit status 3" and exits 1.)
//
// Man pages: fork(2), execve(2), wait4(2), proc(5) (/proc/self/exe).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	// The parent starts the child as "/proc/self/exe child ROOTFS COMMAND...".
	if len(os.Args) > 2 && os.Args[1] == "child" {
		err := child(os.Args[2], os.Args[3:])
		fmt.Fprintln(os.Stderr, "child:", err) // child returns only when it failed
		os.Exit(127)
	}
	rootfs := flag.String("rootfs", "", "root filesystem for the container (used from step 04 on)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./steps/00-process [-rootfs DIR] COMMAND [ARG...]")
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	status, err := parent(*rootfs, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "parent:", err)
		os.Exit(1)
	}
	os.Exit(status)
}

// parent re-executes this program as the child, with our stdin, stdout and stderr, waits for
// it, and returns its exit status the way a shell reports it.
func parent(rootfs string, command []string) (int, error) {
	cmd := exec.Command("/proc/self/exe", append([]string{"child", rootfs}, command...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// SOLUTION BEGIN: start the child (this very program, again) and wait until it exits.
	// HINT: (*exec.Cmd).Run does fork+execve, then wait4(2). /proc/self/exe is our own binary.
	// EXERCISE: var err error
	err := cmd.Run()
	// SOLUTION END
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// A child that died of signal N has no exit code: shells report 128+N.
		ws := exit.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	return 0, err
}

// child becomes the command: execve(2) replaces this program with it, in the same process, so
// the command inherits our pid, our stdio and (in the next steps) our namespaces.
func child(rootfs string, command []string) error {
	// SOLUTION BEGIN: replace this process with the command.
	// HINT: find the program with exec.LookPath, then syscall.Exec(path, argv, os.Environ()).
	// EXERCISE: return errors.New("not implemented yet")
	path, err := exec.LookPath(command[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, command, os.Environ())
	// SOLUTION END
}
