package isolate

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths from an image or a spec are untrusted: a symlink such as /dev -> /host/etc must never
// make the runtime write outside the rootfs. Every lookup below uses openat2(2) with
// RESOLVE_IN_ROOT, so the kernel resolves "..", absolute symlinks and symlink chains as if
// rootfd were "/". Mounts then target the resulting O_PATH fd through /proc/self/fd/N, which
// names that exact inode, so nothing can swap the path in between.

const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openDirInRoot is openPathInRoot for an existing directory.
func openDirInRoot(rootfd int, path string) (int, error) {
	return openInRoot(rootfd, path, unix.O_DIRECTORY)
}

// openPathInRoot opens path (file or directory) as an O_PATH handle.
func openPathInRoot(rootfd int, path string) (int, error) {
	return openInRoot(rootfd, path, 0)
}

// openInRoot opens path under rootfd as an O_PATH handle, with flags added.
func openInRoot(rootfd int, path string, flags uint64) (int, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | flags, Resolve: resolveInRoot}
	fd, err := unix.Openat2(rootfd, rel, how)
	if err != nil {
		return -1, &pathError{"openat2", path, err}
	}
	return fd, nil
}

// maxSymlinks bounds the symlinks followed while making directories (as MAXSYMLINKS, 40).
const maxSymlinks = 40

// mkdirAllInRoot makes every missing directory of path inside rootfd's tree and returns an
// O_PATH handle on the last one. A component that is a symlink to a missing directory gets
// its target made, inside the tree: an image whose /dev links to /host/dev gets a
// rootfs/host/dev, never a directory on the host.
func mkdirAllInRoot(rootfd int, path string) (int, error) {
	return mkdirAllFollowing(rootfd, path, maxSymlinks)
}

func mkdirAllFollowing(rootfd int, path string, links int) (int, error) {
	fd, err := unix.Dup(rootfd)
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	prefix := "/"
	for _, name := range strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/") {
		if name == "" {
			continue
		}
		parent := prefix
		prefix = filepath.Join(prefix, name)
		err := unix.Mkdirat(fd, name, 0o755)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, &pathError{"mkdirat", prefix, err}
		}
		next, err := openDirInRoot(rootfd, prefix)
		if errors.Is(err, unix.ENOENT) && links > 0 {
			// A dangling symlink: make its target (resolved inside the tree), then retry.
			target, rerr := readlinkAt(fd, name)
			if rerr == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Join(parent, target)
				}
				var made int
				if made, rerr = mkdirAllFollowing(rootfd, target, links-1); rerr == nil {
					unix.Close(made)
					next, err = openDirInRoot(rootfd, prefix)
				}
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// readlinkAt reads the symlink name in the directory dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// ensureInRoot makes path exist inside rootfd's tree, as a directory or as an empty file
// (a bind mount of a file needs a file to land on), and returns an O_PATH handle on it.
func ensureInRoot(rootfd int, path string, dir bool) (int, error) {
	if fd, err := openPathInRoot(rootfd, path); err == nil {
		return fd, nil
	}
	if dir {
		return mkdirAllInRoot(rootfd, path)
	}
	parent, err := mkdirAllInRoot(rootfd, filepath.Dir(filepath.Clean("/"+path)))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	name := filepath.Base(path)
	// O_NOFOLLOW|O_EXCL: if a link appeared under that name, fail instead of following it.
	f, err := unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, &pathError{"create", path, err}
	}
	if err == nil {
		unix.Close(f)
	}
	return openPathInRoot(rootfd, path)
}

// fdPath names the inode behind fd for calls that only take paths, such as mount(2).
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// isSymlinkInRoot reports whether the last component of path is a symlink in rootfd's tree.
func isSymlinkInRoot(rootfd int, path string) (bool, error) {
	clean := filepath.Clean("/" + path)
	parent, err := openDirInRoot(rootfd, filepath.Dir(clean))
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(parent)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, filepath.Base(clean), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, &pathError{"fstatat", path, err}
	}
	return st.Mode&unix.S_IFMT == unix.S_IFLNK, nil
}
