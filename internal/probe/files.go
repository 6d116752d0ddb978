package probe

import (
	"errors"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// The probe reads files and directories with plain open(2), read(2) and getdents64(2) instead
// of os.Open: os.Open registers every file with the Go runtime's netpoller, which opens an
// epoll fd and an eventfd that would then show up in the probe's own list of open fds.

// readFile returns the whole content of path.
func readFile(path string) ([]byte, error) {
	data, _, err := readFileLimit(path, -1)
	return data, err
}

// readFileLimit returns at most limit bytes of path (all of it when limit < 0) and whether
// there was more.
func readFileLimit(path string, limit int) (data []byte, truncated bool, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return data, false, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return data, false, nil
		}
		data = append(data, buf[:n]...)
		if limit >= 0 && len(data) > limit {
			return data[:limit], true, nil
		}
	}
}

// readDirNames returns the sorted names in the directory path, without "." and "..".
func readDirNames(path string) ([]string, error) {
	names, _, err := listDir(path)
	slices.Sort(names)
	return names, err
}

// listDir returns the names in path, unsorted, and the number of the fd that was used to read
// them (already closed on return), so that a listing of /proc/self/fd can leave it out.
func listDir(path string) (names []string, dirfd int, err error) {
	names = []string{}
	dirfd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return names, -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(dirfd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dirfd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return names, dirfd, &os.PathError{Op: "getdents", Path: path, Err: err}
		}
		if n <= 0 {
			return names, dirfd, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// errnoName returns the symbolic name ("EROFS") of the errno inside err, or "".
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return ""
}

// cString returns the bytes of b up to the first NUL, as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
