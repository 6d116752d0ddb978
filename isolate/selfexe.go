package isolate

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Exec safety: the runtime's own binary runs inside the container twice, as the container's
// init until it execs the program, and as the exec stage that enters a running container.
// A process in the container that gets hold of that binary could rewrite it on the host, and
// the next `contain` anyone runs would be the attacker's (CVE-2019-5736, against runc). It has
// two ways in: /proc/PID/exe of the runtime's process, and /proc/self/exe of a program that
// is a `#!/proc/self/exe` script, which makes the kernel run the runtime's binary as the
// container's own process. Two defences, each enough against the container's default
// capabilities:
//
//   - The runtime's processes are non-dumpable (prctl PR_SET_DUMPABLE 0, first thing in Init)
//     until their final execve(2): other processes of the same user cannot open their
//     /proc/PID/exe, /proc/PID/root or ptrace them without CAP_SYS_PTRACE (ptrace(2),
//     "Ptrace access mode checking").
//   - The binary is executed from a read-only mount of itself: open_tree(2) OPEN_TREE_CLONE
//     makes a detached bind mount of /proc/self/exe (it belongs to no mount namespace, so it
//     propagates nowhere and nobody can remount it), and mount_setattr(2) makes it read-only.
//     /proc/PID/exe of every process running it, the #! trick included, then names the file
//     on that mount, and opening it for writing fails with EROFS, even after the process
//     exited (when ETXTBSY no longer protects it).
//
// The usual alternative, runc's, is to copy the binary into a sealed memfd and execute the
// copy. It costs a copy of the whole binary per process: 3-5 ms for contain's 5.3 MB on
// the 2-CPU development VM (1.2-1.7 GB/s), against 0.01-0.02 ms for the read-only mount
// (BenchmarkReadonlySelf and BenchmarkSealedMemfdCopy in selfexe_test.go), which makes the
// mount cheap enough to use for every container's init as well.

// readonlySelf is this binary, seen through a detached read-only bind mount of itself.
type readonlySelf struct {
	fd int // O_PATH on the binary at the root of the detached mount; close-on-exec
}

// openReadonlySelf makes the read-only mount of this binary. It needs CAP_SYS_ADMIN.
func openReadonlySelf() (*readonlySelf, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &pathError{"open_tree", "/proc/self/exe", err}
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return nil, &pathError{"mount_setattr", "/proc/self/exe (read-only)", err}
	}
	return &readonlySelf{fd: fd}, nil
}

// pathFor returns the path to execute the binary by, in a child that gets nfiles fds from
// syscall.ForkExec. The fd is moved above 2*nfiles first: ForkExec's child shuffles its fds
// into place with dup2(2) onto numbers up to that, before execve(2) opens the path (execveat
// would avoid the path, but ForkExec does not offer it).
func (s *readonlySelf) pathFor(nfiles int) (string, error) {
	fd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 2*nfiles+3)
	if err != nil {
		return "", fmt.Errorf("fcntl F_DUPFD_CLOEXEC: %w", err)
	}
	unix.Close(s.fd)
	s.fd = fd
	return fdPath(fd), nil
}

// close drops our handle; the processes started from the mount keep it alive. Closing the
// last handle dissolves the detached mount, which waits for an RCU grace period (0.1-0.2 ms
// here): that happens in the background, off the container's start.
func (s *readonlySelf) close() {
	if fd := s.fd; fd >= 0 {
		s.fd = -1
		go unix.Close(fd)
	}
}

// setNonDumpable makes this process non-dumpable until its next execve(2): see above.
func setNonDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE 0: %w", err)
	}
	return nil
}
