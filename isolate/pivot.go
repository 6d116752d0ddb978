package isolate

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// PivotRoot makes newRoot the root of the mount namespace and detaches the old root, so that
// no path (and no chroot breakout) leads back to the host. newRoot must be a mount point
// (see BindRootfs) whose parent mount is not shared.
//
// It uses pivot_root(".", "."): the old root is stacked on top of the new one, then unmounted
// from where we stand, so no put_old directory is needed inside the image. See pivot_root(2),
// section NOTES. Taught in steps/05-pivot-root.
func PivotRoot(newRoot string) error {
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", "/", err}
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(newRoot); err != nil {
		return &pathError{"chdir", newRoot, err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &pathError{"pivot_root", newRoot, err}
	}
	// The old root is now mounted on top of "/". mount(2) on "." would name the new root, under
	// it (only umount2(2) looks at the top of a stack of mounts), so stand in the old root
	// itself. Make it a slave first so that unmounting it cannot propagate an unmount back to
	// the host's mounts, without touching the propagation of the container's.
	if err := unix.Fchdir(oldRoot); err != nil {
		return &pathError{"fchdir", "old root", err}
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &pathError{"mount", "old root", fmt.Errorf("make rslave: %w", err)}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &pathError{"umount2", "old root", err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &pathError{"chdir", "/", err}
	}
	return nil
}
