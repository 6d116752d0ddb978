package isolate

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// copyUp fills the tmpfs just mounted at dest (its root open as top) with a copy of the
// directory it covers (open as covered): the "tmpcopyup" option that podman puts on --tmpfs and --read-only mounts, so that a
// tmpfs over /etc or /var/tmp starts with the image's files. The tmpfs root takes the covered
// directory's owner and mode, unless the options name them (uid=, gid=, mode=). Then it makes
// the tmpfs read-only if the mount asked for that.
func copyUp(covered, top int, dest string, opts mountOptions) error {
	dir, err := unix.Open(fdPath(top), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", dest, err}
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	if err := unix.Fstat(covered, &st); err != nil {
		return &pathError{"stat", dest, err}
	}
	// The tmpfs root takes the covered directory's owner and mode, as if it were that directory.
	named := func(key string) bool {
		return slices.ContainsFunc(opts.data, func(o string) bool { return strings.HasPrefix(o, key+"=") })
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if named("uid") {
		uid = -1
	}
	if named("gid") {
		gid = -1
	}
	if err := unix.Fchown(dir, uid, gid); err != nil {
		return &pathError{"chown", dest, err}
	}
	if !named("mode") {
		if err := unix.Fchmod(dir, st.Mode&0o7777); err != nil {
			return &pathError{"chmod", dest, err}
		}
	}
	if err := copyTree(covered, dir, dest); err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", dest, err)
	}
	return nil // a read-only one is made so later, with what goes below it (see fsMount)
}

// copyTree copies the entries of directory src into directory dst: files, directories,
// symlinks (as links: nothing is followed) and device nodes, with owners and modes. Every
// step is relative to the two directory fds, so no path in the image can lead outside.
func copyTree(src, dst int, dir string) error {
	names, err := readDirNames(src)
	if err != nil {
		return &pathError{"readdir", dir, err}
	}
	for _, name := range names {
		if err := copyEntry(src, dst, dir, name); err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists a directory by fd, without taking ownership of it.
func readDirNames(dirfd int) ([]string, error) {
	dup, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// copyEntry copies the entry name of src, in the container's dir, into dst; errors name it by
// its path in the container.
func copyEntry(src, dst int, dir, name string) error {
	path := filepath.Join(dir, name)
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &pathError{"stat", path, err}
	}
	mode := uint32(st.Mode & 0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return &pathError{"mkdir", path, err}
		}
		if err := copySubdir(src, dst, path, name); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(src, dst, path, name); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkat(src, name, path)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, dst, name); err != nil {
			return &pathError{"symlink", path, err}
		}
		// A symlink's own mode means nothing, and chmod would follow it.
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &pathError{"chown", path, err}
		}
		return nil
	default: // devices, fifos, sockets
		if err := unix.Mknodat(dst, name, st.Mode, int(st.Rdev)); err != nil {
			return &pathError{"mknod", path, err}
		}
	}
	if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &pathError{"chown", path, err}
	}
	if err := unix.Fchmodat(dst, name, mode, 0); err != nil {
		return &pathError{"chmod", path, err}
	}
	return nil
}

func copySubdir(src, dst int, path, name string) error {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	s, err := unix.Openat(src, name, flags, 0)
	if err != nil {
		return &pathError{"open", path, err}
	}
	defer unix.Close(s)
	d, err := unix.Openat(dst, name, flags, 0)
	if err != nil {
		return &pathError{"open", path, err}
	}
	defer unix.Close(d)
	return copyTree(s, d, path)
}

func copyFile(src, dst int, path, name string) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", path, err}
	}
	in := os.NewFile(uintptr(s), name)
	defer in.Close()
	d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &pathError{"create", path, err}
	}
	out := os.NewFile(uintptr(d), name)
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return &pathError{"copy", path, err}
	}
	return nil
}

func readlinkat(dirfd int, name, path string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", &pathError{"readlink", path, err}
	}
	return string(buf[:n]), nil
}
