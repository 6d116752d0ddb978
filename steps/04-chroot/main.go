// Step 04 gives the child a root filesystem of its own, the old way: chroot(2).
//
// Until now the container saw the host's files. Here the child changes its root directory to
// a prepared tree (a busybox rootfs), so that "/" means that tree for it and its children, and
// mounts a fresh /proc there: one made inside the new pid namespace, which lists only the
// container's processes. /dev gets a small tmpfs of device nodes (null, zero, tty, ...) before
// the root changes, since the image's own /dev is not to be trusted.
//
// chroot is not a wall: it changes the root of one process, not the mount namespace, and a
// root process can walk back out. The check for this step proves the breakout works; step 05
// closes it with pivot_root(2).
//
// Run it (as root; with no -rootfs the workshop's rootfs is built on first use):
//
//	sudo go run ./steps/04-chroot /bin/sh -c 'hostname; ls /; ps'
//
// Man pages: chroot(2), chdir(2), mount(2), proc(5), pid_namespaces(7).
package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("04-chroot", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces and returns its exit status.
func parent(rootfs string, command []string) (int, error) {
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS // steps 01-03
	return isolate.RunChild(cloneflags, append([]string{rootfs}, command...)...)      // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetHostname(hostname); err != nil { // step 01
		return err
	}
	if err := isolate.MakeMountsPrivate(); err != nil { // step 03
		return err
	}
	// A fresh tmpfs on ROOTFS/dev with the usual device nodes (read isolate/dev.go). It is made
	// from outside, while the host's paths still resolve.
	if err := isolate.MakeDev(rootfs); err != nil {
		return err
	}
	// SOLUTION BEGIN: make rootfs the root directory of this process, and stand inside it.
	// HINT: unix.Chroot(rootfs), see chroot(2). chroot does not change the working directory,
	// HINT: which would stay outside the new root: unix.Chdir("/") right after.
	if err := unix.Chroot(rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	// SOLUTION END
	// SOLUTION BEGIN: mount a fresh proc filesystem on /proc, now inside the new root.
	// HINT: unix.Mount("proc", "/proc", "proc", flags, ""), see mount(2) and proc(5). procfs
	// HINT: lists the pid namespace of whoever mounts it; MS_NOSUID|MS_NODEV|MS_NOEXEC are
	// HINT: good flags for a filesystem that holds no programs.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc /proc: %w", err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}
