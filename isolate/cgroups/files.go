package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes one value to a cgroup control file, such as memory.max. Control files
// take one write(2) each: the kernel parses exactly what that write carries.
func writeFile(dir, name, value string) error {
	var files controlFiles
	defer files.close()
	return files.write(dir, name, value)
}

// controlFiles writes control files and keeps the last one open: a run of writes to one
// file, such as a device list's rules in devices.allow, opens it once. Each write(2) is still
// one value, which is what the kernel parses. Plain fds: an os.File would try to register
// each with the network poller first.
type controlFiles struct {
	path string
	fd   int
}

func (c *controlFiles) write(dir, name, value string) error {
	file := filepath.Join(dir, name)
	var err error
	if file != c.path {
		c.close()
		var fd int
		if fd, err = unix.Open(file, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0); err == nil {
			c.path, c.fd = file, fd
		}
	}
	if err == nil {
		_, err = unix.Write(c.fd, []byte(value))
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, file, hint(err))
	}
	return nil
}

func (c *controlFiles) close() {
	if c.path != "" {
		unix.Close(c.fd)
		c.path = ""
	}
}

// readFile reads a control file, without its trailing newline.
func readFile(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	return strings.TrimSpace(string(data)), err
}

// readPids parses a cgroup.procs file.
func readPids(dir string) ([]int, error) {
	data, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(data) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// rmdirWait removes a cgroup directory. rmdir(2) fails with EBUSY while a process is still
// in the cgroup; one that was just killed leaves it once the kernel has torn it down, so
// EBUSY is retried for a while.
func rmdirWait(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, err == unix.ENOENT:
			return nil
		case err != unix.EBUSY || time.Now().After(deadline):
			return &os.PathError{Op: "rmdir", Path: dir, Err: hint(err)}
		}
		time.Sleep(delay)
	}
}

// errHint is an errno with a sentence on what usually causes it with cgroup files.
type errHint struct {
	errno unix.Errno
	text  string
}

func (e *errHint) Error() string { return e.errno.Error() + " (" + e.text + ")" }
func (e *errHint) Unwrap() error { return e.errno }

// hint explains the errnos people hit with cgroup files.
func hint(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case unix.ENOENT:
		return &errHint{errno, "the controller is not enabled for this cgroup, or not available on this host"}
	case unix.EBUSY:
		return &errHint{errno, "processes are still in the cgroup, or a parent with processes cannot enable controllers for its children (cgroup v2 \"no internal processes\" rule)"}
	case unix.ENOSPC:
		return &errHint{errno, "cpuset.cpus or cpuset.mems is empty, or a limit was reached"}
	case unix.EINVAL, unix.ERANGE:
		return &errHint{errno, "the value is out of range for this file or not allowed by the parent cgroup"}
	case unix.EACCES, unix.EPERM, unix.EROFS:
		return &errHint{errno, "needs root in the initial namespaces, and a writable cgroup mount"}
	}
	return err
}

// JoinSelf moves the calling thread, alone, into the cgroup of each v1 "tasks" file given
// (Manager.TaskFiles). The caller locks its goroutine to the thread first (runtime.LockOSThread)
// and is the thread that goes on to execve(2): the program then starts in the cgroup, and the
// process's other threads, which execve ends, never need to be moved.
//
// Why one thread and not the process: moving a process (a pid into cgroup.procs) takes the
// cgroup core's threadgroup lock for writing, and that waits for an RCU grace period, 10-17 ms
// on the 2-CPU development VM, longer than all the rest of a container's start. A thread that
// moves only itself ("0" into tasks) needs no such lock, on kernels that have that shortcut
// (this host's 6.18 does: 0.1-0.16 ms against 6.6-15 ms for a process move, six of each);
// without it the write just takes the lock and waits, as a process move does. See cgroups(7),
// "tasks" and "cgroup.procs".
func JoinSelf(taskFiles []string) error {
	for _, file := range taskFiles {
		fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: file, Err: hint(err)}
		}
		_, err = unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join cgroup: write 0 to %s: %w", file, hint(err))
		}
	}
	return nil
}
