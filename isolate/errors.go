package isolate

import (
	"errors"

	"golang.org/x/sys/unix"
)

// pathError is a failed system call on a path: "pivot_root /rootfs: invalid argument",
// with a one-line hint for the errnos people actually hit.
type pathError struct {
	op   string
	path string
	err  error
}

func (e *pathError) Error() string {
	msg := e.op + " " + e.path + ": " + e.err.Error()
	if h := hint(e.op, e.err); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

func (e *pathError) Unwrap() error { return e.err }

// hint explains the errno of a system call in the words of its man page.
func hint(op string, err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch {
	case op == "pivot_root" && errno == unix.EBUSY:
		return "new root is not a mount point: bind-mount it onto itself"
	case op == "pivot_root" && errno == unix.EINVAL:
		return "the new root or its parent mount is shared (make / rprivate first), or the current root is not a mount point (a chroot, or the initramfs)"
	case op == "mount" && errno == unix.EPERM:
		return "needs CAP_SYS_ADMIN in the mount namespace's owning user namespace"
	case op == "mount" && errno == unix.EACCES:
		return "refused by a security module (AppArmor, SELinux), or the source is on a nodev or read-only mount"
	case op == "mount" && errno == unix.ENODEV:
		return "the kernel does not know this filesystem type"
	case op == "setns" && errno == unix.EINVAL:
		return "the file is not a namespace of the type the spec says"
	case op == "exec" && errno == unix.ENOENT:
		return "the program, or its interpreter or dynamic loader, is missing from the root it runs in"
	case op == "exec" && errno == unix.ENOEXEC:
		return "not a program this machine runs: built for another architecture, or a script without #!"
	case op == "exec" && errno == unix.EACCES:
		return "the program is not executable, its filesystem is mounted noexec, or a directory on its path is not searchable by the user"
	case (op == "exec" || op == "start") && errno == unix.EAGAIN:
		return "a fork refused: a pids limit is reached (the container's pids.max, or a parent cgroup's), or the user's RLIMIT_NPROC"
	case op == "start" && errno == unix.EPERM:
		return "creating namespaces needs CAP_SYS_ADMIN: run as root, not in an unprivileged container; seccomp or a security module may refuse it too"
	case op == "start" && errno == unix.ENOSPC:
		return "a namespace limit is reached: see /proc/sys/user/max_*_namespaces"
	case op == "start" && errno == unix.EINVAL:
		return "this kernel lacks one of the namespaces asked for"
	case (op == "mkdirat" || op == "create" || op == "mknod") && errno == unix.EROFS:
		return "the image is read-only and lacks it: add it to the image, or use a writable root"
	case op == "openat2" && errno == unix.EXDEV:
		return "a mount covers part of the path"
	case op == "setrlimit" && errno == unix.EPERM:
		return "raising a hard limit needs CAP_SYS_RESOURCE"
	case errno == unix.ELOOP:
		return "a symlink loop, or a symlink where none is allowed"
	}
	return ""
}

// ExecError is the error of a container whose program could not be executed. Status is what
// a shell exits with when it cannot run a command, as docker run and podman run do too: 127
// when the program (or its interpreter) is not there, 126 when it is there but cannot be
// executed (no x bit, a directory, a noexec mount, an unknown format).
type ExecError struct {
	Text   string
	Status int
}

func (e *ExecError) Error() string { return e.Text }

// execStatus is the Status of an ExecError for err, in the process that tried the exec (or
// looked the program up for it), or 0 when err is not about executing the program.
func execStatus(err error) int {
	var pe *pathError
	if !errors.As(err, &pe) || pe.op != "exec" {
		return 0
	}
	if errors.Is(pe.err, unix.ENOENT) || errors.Is(pe.err, errNotInPath) {
		return 127
	}
	return 126
}

// initFailed is the runtime's error for init's msgError m.
func initFailed(m message) error {
	if m.Status != 0 {
		return &ExecError{Text: m.Text, Status: m.Status}
	}
	return errors.New(m.Text)
}
