// Step 05 gives the child a root filesystem of its own, the way container runtimes do it:
// pivot_root(2).
//
// chroot (step 04) changed the root of one process; the host's whole tree was still mounted
// in its mount namespace, one ".." walk away. pivot_root changes the root mount of the mount
// namespace instead: the rootfs becomes "/" for every process in it, and the old root, now
// an ordinary mount, is unmounted. Nothing of the host's tree is left to walk back to, so the
// breakout that worked in step 04 fails here.
//
// Run it (as root; with no -rootfs the workshop's rootfs is built on first use):
//
//	sudo go run ./steps/05-pivot-root /bin/sh -c 'ls /; cat /proc/self/mountinfo'
//
// Man pages: pivot_root(2), mount(2), umount2(2), mount_namespaces(7).
package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("05-pivot-root", rootfs.Default, parent, child) // step 00
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
	if err := isolate.MakeDev(rootfs); err != nil { // step 04
		return err
	}
	// SOLUTION BEGIN: make the rootfs a mount point: bind-mount it onto itself.
	// HINT: pivot_root(2) wants the new root to be a mount point, and a directory is not one.
	// HINT: unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""): MS_REC brings the
	// HINT: /dev just mounted in it along.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount %s onto itself: %w", rootfs, err)
	}
	// SOLUTION END
	// SOLUTION BEGIN: swap the root mount for the rootfs, then unmount the old root.
	// HINT: Open the old root first: unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0).
	// HINT: unix.Chdir(rootfs), then unix.PivotRoot(".", "."): the old root is stacked on top of
	// HINT: the new one (pivot_root(2), NOTES). Wrap its error with pivotRootHint.
	// HINT: unix.Fchdir(oldRoot) to stand in the old root itself, make it a slave
	// HINT: (unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, "")) so that unmounting it cannot
	// HINT: reach the host, unix.Unmount(".", unix.MNT_DETACH), and unix.Chdir("/").
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w%s", rootfs, err, pivotRootHint(err))
	}
	// "." is the new root, under the old one: mount(2) would change the new root's propagation.
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("fchdir old root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount old root: make rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount2 old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	// SOLUTION END
	if err := isolate.MountProc(); err != nil { // step 04
		return err
	}
	return isolate.Exec(command) // step 00
}

// pivotRootHint explains the two errors everyone meets, in the words of pivot_root(2).
func pivotRootHint(err error) string {
	switch {
	case errors.Is(err, unix.EBUSY):
		return " (new root is not a mount point: bind-mount it onto itself)"
	case errors.Is(err, unix.EINVAL):
		return " (the new root or its parent is shared: make / rprivate first)"
	}
	return ""
}
