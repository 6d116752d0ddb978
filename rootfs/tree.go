package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// beneath is how every path inside a tree is resolved while it is written: never above the
// tree's root, never through a symlink (openat2(2) RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS).
// Image symlinks such as "/etc -> /host/etc" are kept as links but never followed.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// inRoot resolves symlinks the way the container will see them: as if the tree were "/"
// (openat2(2) RESOLVE_IN_ROOT), so "/bin -> usr/bin" works and no link can lead outside.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

var (
	errThroughSymlink = errors.New("path goes through a symlink")
	errEscapes        = errors.New("path escapes the root")
	errNotDir         = errors.New("path goes through a non-directory")
)

// tree is a directory that every write goes beneath. It holds an O_PATH fd of the directory so
// that each operation is relative to it and nothing is joined as a string.
type tree struct {
	dir string
	fd  int
}

// openTree opens dir as the root of a tree.
func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &tree{dir: dir, fd: fd}, nil
}

// self names the tree's directory through its fd (proc(5)), whatever its path names now.
func (t *tree) self() string { return "/proc/self/fd/" + strconv.Itoa(t.fd) }

// names lists up to n names in the tree's top directory (all when n <= 0).
func (t *tree) names(n int) ([]string, error) {
	fd, err := unix.Openat(t.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: t.dir, Err: err}
	}
	return readNamesOf(os.NewFile(uintptr(fd), t.dir), n)
}

// Close releases the tree's fd.
func (t *tree) Close() error { return unix.Close(t.fd) }

// openat2 retries EAGAIN, which openat2(2) returns when a concurrent rename might have let
// ".." escape; it then says what a failed resolution means.
func openat2(dirfd int, rel string, flags uint64, mode uint64, resolve uint64) (int, error) {
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: mode, Resolve: resolve}
	for range 16 {
		fd, err := unix.Openat2(dirfd, rel, how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, resolveError(err)
		}
		return fd, nil
	}
	return -1, unix.EAGAIN
}

// resolveError names the openat2(2) errnos that mean "the path was refused".
func resolveError(err error) error {
	switch err {
	case unix.ELOOP:
		return errThroughSymlink
	case unix.EXDEV:
		return errEscapes
	case unix.ENOTDIR:
		return errNotDir
	case unix.ENOSYS:
		return fmt.Errorf("openat2: %w (needs Linux 5.6 or later)", err)
	}
	return err
}

// openDir opens the directory rel of the tree as an O_PATH fd, resolved with resolve.
func (t *tree) openDir(rel string, resolve uint64) (int, error) {
	return openat2(t.fd, relOrDot(rel), unix.O_PATH|unix.O_DIRECTORY, 0, resolve)
}

// makeDirs opens the directory rel, creating missing components (mode 0755) one at a time,
// each below the fd of its parent, so that no component may be a symlink.
func (t *tree) makeDirs(rel string) (int, error) {
	fd, err := t.openDir(rel, beneath)
	if err != unix.ENOENT {
		return fd, err
	}
	cur, err := t.openDir(".", beneath)
	if err != nil {
		return -1, err
	}
	for _, name := range strings.Split(relOrDot(rel), "/") {
		next, err := makeDir(cur, name)
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// makeDir makes name below dirfd unless it exists and opens it.
func makeDir(dirfd int, name string) (int, error) {
	err := unix.Mkdirat(dirfd, name, 0o755)
	if err == nil {
		// mkdir(2) applies the umask; the tree's directories are 0755 whatever it is.
		err = chmodNoFollow(dirfd, name, 0o755)
	}
	if err != nil && err != unix.EEXIST {
		return -1, err
	}
	return openat2(dirfd, name, unix.O_PATH|unix.O_DIRECTORY, 0, beneath)
}

// openParent opens the parent of rel (making it when missing) and returns it with rel's base.
func (t *tree) openParent(rel string) (int, string, error) {
	fd, err := t.makeDirs(path.Dir(rel))
	if err != nil {
		return -1, "", err
	}
	return fd, path.Base(rel), nil
}

// openParentInRoot is openParent for the files Build adds on top of an image: the parent is
// resolved as the container will see it (a "/bin -> usr/bin" image gets /usr/bin/probe), and
// made without following symlinks when missing.
func (t *tree) openParentInRoot(rel string) (int, string, error) {
	fd, err := t.openDir(path.Dir(rel), inRoot)
	if err == unix.ENOENT {
		return t.openParent(rel)
	}
	if err != nil {
		return -1, "", err
	}
	return fd, path.Base(rel), nil
}

// exists reports whether name exists below dirfd, symlinks included (never followed).
func exists(dirfd int, name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return false, nil
	}
	return err == nil, err
}

// createFile creates name below dirfd with O_EXCL, which never follows or truncates an
// existing file or link (open(2)), writes r into it and sets its mode.
func createFile(dirfd int, name string, r io.Reader, mode uint32) error {
	f, err := writeNewFile(dirfd, name, r)
	if err != nil {
		return err
	}
	// fchmod(2) is not masked by the umask and keeps setuid bits, unlike open's mode.
	err = f.Chmod(os.FileMode(mode&0o777) | modeBits(mode))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeNewFile creates name below dirfd (0600, never through a symlink, failing if it
// exists), copies r into it, and returns it open: what is left to do to the file (its owner,
// its mode) is done through this fd, which no rename in the tree can swap for another file.
func writeNewFile(dirfd int, name string, r io.Reader) (*os.File, error) {
	fd, err := openat2(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600, beneath)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := writeSparse(f, r); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sparseBlock is the unit writeSparse looks at: a block of it that holds only zeros is skipped.
const sparseBlock = 64 << 10

// zeros is what a block of zeros is compared with. An array in the binary's bss, not a slice
// made at start: every process of contain, a container's runtime too, would take 64 KiB of
// heap for it in rootfs's package initialiser, which only a rootfs build uses.
var zeros [sparseBlock]byte

// writeSparse copies r to the new file f, seeking over blocks of zeros instead of writing
// them, so that they become holes (lseek(2)). archive/tar hands over the holes of a sparse
// entry as zeros: written out, a few kilobytes of archive could fill the disk.
func writeSparse(f *os.File, r io.Reader) error {
	buf := make([]byte, sparseBlock)
	var size int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if werr := writeOrSkip(f, buf[:n]); werr != nil {
				return werr
			}
			size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return f.Truncate(size) // a file that ends in a hole gets its length from ftruncate(2)
}

// writeOrSkip writes b at f's offset, or moves the offset past it when b is all zeros.
func writeOrSkip(f *os.File, b []byte) error {
	if bytes.Equal(b, zeros[:len(b)]) {
		_, err := f.Seek(int64(len(b)), io.SeekCurrent)
		return err
	}
	_, err := f.Write(b)
	return err
}

// modeBits converts the setuid, setgid and sticky bits of a unix mode to os.FileMode bits.
func modeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// replaceFile writes r to name below dirfd atomically: into a temporary name first, then
// rename(2) over name, so that a reader sees the old or the new file, never half of one.
func replaceFile(dirfd int, name string, r io.Reader, mode uint32) error {
	tmp := "." + name + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64(), 36)
	if err := createFile(dirfd, tmp, r, mode); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	return nil
}

// chmodNoFollow changes the mode of name below dirfd without following a symlink:
// fchmodat2(2) with AT_SYMLINK_NOFOLLOW (Linux 6.6), else what glibc does: an O_PATH fd and
// chmod of its /proc/self/fd link (proc(5)).
func chmodNoFollow(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return err
	}
	fd, err := openat2(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW, 0, beneath)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

// relOrDot is rel, or "." for the tree's root.
func relOrDot(rel string) string {
	if rel == "" || rel == "/" {
		return "."
	}
	return rel
}
