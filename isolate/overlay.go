package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// WorkshopRunDir holds what the workshop's steps make at run time (overlay directories):
// `workshop reset` removes what is left there, and nothing else.
const WorkshopRunDir = "/run/contain-workshop"

// Overlay is a copy-on-write view of a read-only image: reads come from Lower, every write
// lands in Dir/upper, and Dir/merged shows both. See the kernel's
// Documentation/filesystems/overlayfs.rst.
type Overlay struct {
	Lower string // the image, never written
	Dir   string // upper, work and merged live here
}

// Upper is where the container's writes land; Merged is the tree the container sees.
func (o Overlay) Upper() string  { return filepath.Join(o.Dir, "upper") }
func (o Overlay) work() string   { return filepath.Join(o.Dir, "work") }
func (o Overlay) Merged() string { return filepath.Join(o.Dir, "merged") }

// Mount makes the overlay's directories and mounts it on Merged; when it fails, it removes
// the directories it made, and only those (a Dir that was there, with an upper from an earlier
// run, stays). The workdir must be on the same filesystem as the upperdir: overlayfs prepares
// files there before moving them up. Taught in steps/06-overlay.
func (o Overlay) Mount() error {
	// The image first: overlayfs says only ENOENT, on the mount point, for a missing lowerdir.
	if fi, err := os.Stat(o.Lower); err != nil {
		return &pathError{"stat", o.Lower, fmt.Errorf("the overlay's image (lowerdir): %w", err)}
	} else if !fi.IsDir() {
		return &pathError{"overlay", o.Lower, errors.New("the image (lowerdir) is not a directory")}
	}
	var made []string // in the order made: Dir itself if it was not there, or what it lacked
	undo := func(err error) error {
		for i := len(made) - 1; i >= 0; i-- {
			if rerr := os.RemoveAll(made[i]); rerr != nil {
				err = errors.Join(err, fmt.Errorf("overlay: and what it made stays: %w", rerr))
			}
		}
		return err
	}
	for _, d := range []string{o.Dir, o.Upper(), o.work(), o.Merged()} {
		if _, err := os.Lstat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return undo(fmt.Errorf("overlay: %w", err))
		}
		if d == o.Dir || !slices.Contains(made, o.Dir) {
			made = append(made, d)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", o.Lower, o.Upper(), o.work())
	if err := unix.Mount("overlay", o.Merged(), "overlay", 0, data); err != nil {
		// Nothing is mounted: a failed Mount leaves nothing of its own behind.
		return undo(&pathError{"mount", o.Merged(), fmt.Errorf("overlay %s: %w%s", data, err, overlayHint(err))})
	}
	return nil
}

func overlayHint(err error) string {
	switch {
	case errors.Is(err, unix.EINVAL):
		return " (upper and work must be on one filesystem that is not itself an overlay)"
	case errors.Is(err, unix.ENOENT):
		return " (a directory in the options is missing, or its path holds ',' or ':', which overlayfs reads as separators)"
	}
	return ""
}

// Remove unmounts the overlay if it is still mounted here and deletes its directories, the
// container's writes with them. The image is untouched.
func (o Overlay) Remove() error {
	if err := unix.Unmount(o.Merged(), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return &pathError{"umount2", o.Merged(), err}
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return fmt.Errorf("remove overlay: %w", err)
	}
	return nil
}

// throwawayRoot covers rootfs, in this mount namespace only, with an overlay whose writes land
// in a tmpfs, and returns where the overlay is mounted: the container can change its root
// freely, and the image shared by every run stays as it was. Nothing needs removing after:
// the tmpfs and the overlay go with the namespace. The image is named to overlayfs through
// an fd opened before the tmpfs covers its path (a /proc/self/fd link, resolved to the
// directory itself, under the tmpfs). Runs in init, before the rootfs is bound onto itself.
func throwawayRoot(rootfs string) (string, error) {
	image, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &pathError{"open", rootfs, err}
	}
	defer unix.Close(image)
	if err := unix.Mount("tmpfs", rootfs, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return "", &pathError{"mount", rootfs, fmt.Errorf("tmpfs for the throwaway root: %w", err)}
	}
	o := Overlay{Lower: fdPath(image), Dir: filepath.Join(rootfs, "throwaway")}
	if err := o.Mount(); err != nil {
		return "", err
	}
	return o.Merged(), nil
}

// hostnameInEtc makes a throwaway root's /etc/hostname name the container's host, as it does
// in a docker container: programs that read the file rather than ask uname(2) see the name
// given with --hostname. Only a regular file that says something else is rewritten, and the
// write lands in the throwaway root's tmpfs. It runs before the spec's mounts, so the path
// resolves within the image alone (and any symlink in it stays inside, RESOLVE_IN_ROOT).
func hostnameInEtc(root, hostname string) error {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", root, err}
	}
	defer unix.Close(rootfd)
	fd, err := openInRoot(rootfd, "/etc/hostname", 0)
	if err != nil {
		// No such file, or none that resolves (a symlink loop, a component that is not a
		// directory): nothing to rewrite, and programs get the name from uname(2).
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &pathError{"fstat", "/etc/hostname", err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	want, self := hostname+"\n", fdPath(fd)
	if have, err := os.ReadFile(self); err == nil && string(have) == want {
		return nil
	}
	if err := os.WriteFile(self, []byte(want), 0); err != nil {
		return fmt.Errorf("write /etc/hostname: %w", err)
	}
	return nil
}
