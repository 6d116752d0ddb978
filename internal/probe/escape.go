package probe

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// EscapeResult is the result of ChrootEscape.
type EscapeResult struct {
	Result            // OK: the attempt was made (a directory could be made for it)
	Chrooted bool     `json:"chrooted"` // the first chroot(2) worked
	Escaped  bool     `json:"escaped"`  // the root reached at the end is another than the first, and Path is in it
	Path     string   `json:"path"`
	Root     []string `json:"root"`             // names in "/" after the attempt
	Errors   []string `json:"errors,omitempty"` // cleanup that failed
}

// Human is the result for people.
func (r EscapeResult) Human() string {
	return fmt.Sprintf("chroot-escape %s: %s; chrooted=%s escaped=%s; / now holds: %s%s",
		r.Path, r.outcome(), yesNo(r.Chrooted), yesNo(r.Escaped),
		strings.Join(orNoneList(r.Root), " "), cleanupText(r.Errors))
}

// ChrootEscape tries the classic chroot breakout and reports whether path is visible after it.
//
// chroot(2) changes the root but not the working directory, and the kernel stops ".." only
// at the process's root. So: chroot into a fresh subdirectory, leaving the working directory
// outside the new root; walk ".." far enough to reach the top of whatever holds the
// container's root; chroot(".") there. Behind a chroot this reaches the host's "/"; behind
// pivot_root(2) with the old root unmounted there is nothing above the container's root.
// It needs CAP_SYS_CHROOT.
func ChrootEscape(path string) EscapeResult {
	res := EscapeResult{Path: path, Root: []string{}}
	var before unix.Stat_t
	if err := unix.Stat("/", &before); err != nil {
		res.done(&os.PathError{Op: "stat", Path: "/", Err: err})
		return res
	}
	name := fmt.Sprintf("probe-escape-%d", os.Getpid())
	parent, parentfd, err := makeEscapeDir(name)
	if err != nil {
		res.done(err)
		return res
	}
	defer unix.Close(parentfd)
	res.OK = true
	res.setError(breakOut(strings.TrimSuffix(parent, "/")+"/"+name, &res.Chrooted))
	// Out only where the root is another directory than the one the probe began in: PATH
	// alone could be in the container's own root too (/etc/passwd).
	var after unix.Stat_t
	moved := unix.Stat("/", &after) == nil && (after.Dev != before.Dev || after.Ino != before.Ino)
	res.Escaped = res.Chrooted && moved && exists(path)
	// After an escape the directory has another path, so remove it through the fd of its
	// parent, which still names the same directory whatever the root is now.
	if err := unix.Unlinkat(parentfd, name, unix.AT_REMOVEDIR); err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("rmdir %s%s: %v (left behind)", parent, name, err))
	}
	if names, err := readDirNames("/"); err == nil {
		res.Root = names
	}
	return res
}

// makeEscapeDir makes the directory name in "/", or in "/tmp" when "/" is read-only, and
// returns its parent's path (with a trailing slash) and an O_PATH fd to it.
func makeEscapeDir(name string) (parent string, parentfd int, err error) {
	var errs []string
	var last error
	for _, parent := range []string{"/", "/tmp/"} {
		fd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Mkdirat(fd, name, 0o700)
			if err == nil || err == unix.EEXIST { // EEXIST: left by an earlier probe with our pid
				return parent, fd, nil
			}
			unix.Close(fd)
		}
		last = err
		errs = append(errs, fmt.Sprintf("mkdir %s%s: %v", parent, name, err))
	}
	return "", -1, &joinedError{msg: strings.Join(errs, "; "), err: last}
}

// breakOut does the chroot, the ".." walk and the final chroot("."); chrooted tells whether
// the first chroot worked.
func breakOut(dir string, chrooted *bool) error {
	if err := unix.Chroot(dir); err != nil {
		return &os.PathError{Op: "chroot", Path: dir, Err: err}
	}
	*chrooted = true
	// 256 levels is deeper than any real rootfs; ".." at the top stays at the top.
	for range 256 {
		if err := unix.Chdir(".."); err != nil {
			return &os.PathError{Op: "chdir", Path: "..", Err: err}
		}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: ".", Err: err}
	}
	return nil
}

// exists reports whether path can be stat'ed.
func exists(path string) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// joinedError has a message of its own and unwraps to the errno that matters.
type joinedError struct {
	msg string
	err error
}

func (e *joinedError) Error() string { return e.msg }
func (e *joinedError) Unwrap() error { return e.err }
