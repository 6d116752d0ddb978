// Step 06 gives the container a copy-on-write image: an overlay filesystem.
//
// Until now the container wrote straight into the image: a file it made or deleted was made
// or deleted in the rootfs directory for good, and two containers of one image saw each
// other's changes. The parent now mounts an overlay for each run: the image is the read-only
// lower layer, an empty directory of this run is the upper layer, and the container gets the
// merged view as its root. Reads fall through to the image; every write (a new file, a
// changed one, a deletion) lands in the upper layer, which the parent throws away afterwards.
// This is how Docker and Podman run many containers from one image.
//
// Run it (as root: mounting needs CAP_SYS_ADMIN):
//
//	sudo go run ./steps/06-overlay /bin/sh -c 'echo hello > /hello; rm /bin/vi; ls /hello /bin/vi 2>&1; grep " / / " /proc/self/mountinfo; echo "press Enter to end"; read line'
//
// and, while it waits, from another terminal: sudo ls -l /run/contain-workshop/*/upper/bin
//
// Man pages: mount(2), umount2(2), the kernel's overlayfs documentation
// (https://docs.kernel.org/filesystems/overlayfs.html).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("06-overlay", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces, on a copy-on-write view of rootfs, and returns its
// exit status.
func parent(rootfs string, command []string) (int, error) {
	// SOLUTION BEGIN: mount an overlay of the image (lower) and an empty upper directory on merged, for the child; unmount and remove it afterwards.
	// HINT: dir is filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("06-overlay-%d", os.Getpid())):
	// HINT: the checks look for it there, and workshop reset cleans it up after a crash.
	// HINT: make dir/upper, dir/work and dir/merged, then unix.Mount("overlay", merged, "overlay", 0,
	// HINT: "lowerdir=IMAGE,upperdir=UPPER,workdir=WORK"); see docs.kernel.org/filesystems/overlayfs.html.
	// HINT: Clean up in a defer, so that error paths clean up too: unix.Unmount (umount2(2)), then os.RemoveAll.
	// EXERCISE: merged := rootfs
	dir := filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("06-overlay-%d", os.Getpid()))
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	defer func() {
		// The container's mount namespace died with its last process, so nothing uses the
		// overlay now. EINVAL: it was never mounted (we failed before or at the mount).
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			fmt.Fprintf(os.Stderr, "parent: umount2 %s: %v (left %s in place)\n", merged, err, dir)
			return // never remove files through a mounted overlay
		}
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "parent: remove overlay:", err)
		}
	}()
	// The work directory must be on the same filesystem as upper: overlayfs prepares each
	// copied-up file there, then rename(2)s it into upper, and rename never crosses filesystems.
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, fmt.Errorf("mkdir: %w", err)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", rootfs, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		return 0, fmt.Errorf("mount overlay on %s (%s): %w", merged, data, err)
	}
	// SOLUTION END
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS // steps 01-03
	return isolate.RunChild(cloneflags, append([]string{merged}, command...)...)      // step 00
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
	if err := isolate.BindRootfs(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.PivotRoot(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.MountProc(); err != nil { // step 04
		return err
	}
	return isolate.Exec(command) // step 00
}
