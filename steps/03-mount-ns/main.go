// Step 03 gives the child mounts of its own: a new mount namespace.
//
// The mount namespace holds the mount table: what is mounted where. The parent asks clone(2)
// for a new one with CLONE_NEWNS (the first namespace Linux had, hence the name). The child
// starts with a copy of the host's mounts, but a copy that may still be wired to them: a
// mount that is "shared" passes every mount and unmount under it on to its peers, and on
// systemd hosts "/" is shared. So the child first makes every mount private (MS_REC|
// MS_PRIVATE), and only then mounts a tmpfs on /mnt: its own scratch space, which the host
// never sees. /proc is still the host's (step 04 changes that).
//
// Run it (as root: creating namespaces needs CAP_SYS_ADMIN):
//
//	sudo go run ./steps/03-mount-ns /bin/sh -c 'findmnt -M /mnt; touch /mnt/hello; ls /mnt'; findmnt -M /mnt || echo "host: nothing on /mnt"
//
// Man pages: namespaces(7), mount_namespaces(7), clone(2), mount(2), tmpfs(5).
package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("03-mount-ns", nil, parent, child) // step 00
}

// parent runs the child in new namespaces and returns its exit status.
func parent(rootfs string, command []string) (int, error) {
	// SOLUTION BEGIN: ask for a new mount namespace for the child, as well as the uts and pid ones.
	// HINT: the mount namespace's flag is unix.CLONE_NEWNS (it came first, so no "MNT" in it).
	// EXERCISE: var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS
	// SOLUTION END
	return isolate.RunChild(cloneflags, append([]string{rootfs}, command...)...) // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetHostname(hostname); err != nil { // step 01
		return err
	}
	// SOLUTION BEGIN: cut the copied mounts off from the host's: make every mount private.
	// HINT: unix.Mount with no source and no fstype, only a propagation flag, changes how a mount
	// HINT: propagates: "/" with unix.MS_PRIVATE, and unix.MS_REC for every mount below it too.
	// HINT: See mount_namespaces(7), SHARED SUBTREES, and mount(2).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount /: make private: %w", err)
	}
	// SOLUTION END
	// SOLUTION BEGIN: mount a tmpfs on /mnt: the container's own scratch space.
	// HINT: unix.Mount(source, target, fstype, flags, data); a tmpfs needs no device, so the
	// HINT: source is just a name ("tmpfs"). See mount(2), tmpfs(5).
	if err := unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mount /mnt: tmpfs: %w", err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}
