package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostRoot is DefaultRoot, opened once per process (O_PATH): every path under it is reached
// relative to this fd, with the *at(2) system calls (see at).
//
// Why: a path walk through /sys/fs/cgroup looks "fs" and "cgroup" up in sysfs, and sysfs
// (kernfs) revalidates each of its dentries under its lock (kernfs_dop_revalidate). Each
// network namespace made or removed takes that lock for writing (its loopback's entries), so
// with many containers starting at once, every cgroup path call of the runtime and of init
// could wait behind another container's namespaces. With 50 at once that was about 30 of a
// container's context switches (perf, sched:sched_switch: statfs, stat, mkdir and open
// blocked in kernfs_dop_revalidate). A walk from hostRoot starts below sysfs: only the
// hierarchy's own dentries are revalidated, under the hierarchy's lock. Init and the exec
// stage, which enter the container, open one of their own and close it (JoinSelf).
var hostRoot struct {
	once sync.Once
	fd   int // -1 when DefaultRoot cannot be opened: paths are then used as they are
}

// at returns the directory fd and the path to give an *at(2) system call for p: relative to
// hostRoot when p is DefaultRoot or under it, p itself from the working directory otherwise
// (the tests' temporary hierarchies, which never open hostRoot).
func at(p string) (int, string) {
	rel, ok := underRoot(p)
	if !ok {
		return unix.AT_FDCWD, p
	}
	hostRoot.once.Do(func() {
		fd, err := openRoot()
		if err != nil {
			fd = -1
		}
		hostRoot.fd = fd
	})
	if hostRoot.fd < 0 {
		return unix.AT_FDCWD, p
	}
	return hostRoot.fd, rel
}

// underRoot is p relative to DefaultRoot, when p is DefaultRoot or under it.
func underRoot(p string) (rel string, ok bool) {
	if p == DefaultRoot {
		return ".", true
	}
	return strings.CutPrefix(p, DefaultRoot+"/")
}

// openRoot opens DefaultRoot for the *at(2) calls.
func openRoot() (int, error) {
	return unix.Open(DefaultRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openFile is open(2) of a cgroup path, through at.
func openFile(p string, flags int) (int, error) {
	dirfd, rel := at(p)
	return unix.Openat(dirfd, rel, flags|unix.O_CLOEXEC, 0)
}

// OpenDir opens a cgroup directory as clone3(2)'s CLONE_INTO_CGROUP wants it (O_PATH,
// close-on-exec), through at. The error is open(2)'s errno.
func OpenDir(dir string) (int, error) {
	return openFile(dir, unix.O_PATH|unix.O_DIRECTORY)
}

// pathExists reports whether a cgroup path exists (stat(2), through at).
func pathExists(p string) bool {
	dirfd, rel := at(p)
	var st unix.Stat_t
	return unix.Fstatat(dirfd, rel, &st, 0) == nil
}

// fsType is the filesystem type statfs(2) gives for p (through at: an O_PATH open and
// fstatfs).
func fsType(p string) (int64, error) {
	fd, err := openFile(p, unix.O_PATH)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, &os.PathError{Op: "fstatfs", Path: p, Err: err}
	}
	return st.Type, nil
}

// mkdir is mkdir(2) of a cgroup directory, through at.
//
// A variable: in the tests' temporary directories, mkdir brings a directory back with the
// control files the kernel would have made in it (see asMadeByMkdir).
var mkdir = func(dir string) error {
	dirfd, rel := at(dir)
	return unix.Mkdirat(dirfd, rel, 0o755)
}

// rmdir is rmdir(2) of a cgroup directory, through at.
func rmdir(dir string) error {
	dirfd, rel := at(dir)
	return unix.Unlinkat(dirfd, rel, unix.AT_REMOVEDIR)
}

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
	if name == "" || strings.ContainsRune(name, '/') || name == ".." {
		// A name built from the spec must stay a file of dir: Join would clean "x/../../y"
		// into a file of another cgroup (the parsers refuse such names before this).
		return fmt.Errorf("write %q to %s: %q is not a control file's name", value, file, name)
	}
	var err error
	if file != c.path {
		c.close()
		var fd int
		if fd, err = openFile(file, unix.O_WRONLY|unix.O_TRUNC); err == nil {
			c.path, c.fd = file, fd
		}
	}
	if err == nil {
		_, err = unix.Write(c.fd, []byte(value))
	}
	if err != nil {
		op := "write"
		if filepath.Base(file) == "memory.memsw.limit_in_bytes" {
			op = "write memsw"
		}
		return fmt.Errorf("write %q to %s: %w", value, file, hint(op, err))
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
	file := filepath.Join(dir, name)
	fd, err := openFile(file, unix.O_RDONLY)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: file, Err: err}
	}
	defer unix.Close(fd)
	return readFD(fd, file)
}

// readFD reads the open file fd (called file in errors) to its end, trimmed.
func readFD(fd int, file string) (string, error) {
	data := make([]byte, 0, 512)
	for {
		n, err := unix.Read(fd, data[len(data):cap(data)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return "", &os.PathError{Op: "read", Path: file, Err: err}
		case n == 0:
			return strings.TrimSpace(string(data)), nil
		}
		data = slices.Grow(data[:len(data)+n], 512)
	}
}

// The cgroups below a container's own are walked by fd (openat(2), unlinkat(2) from the
// parent's fd): a container with a writable cgroup mount can make cgroups inside its own,
// and move processes there, nested deeper than PATH_MAX (4096 bytes) allows a path to name.

// readPids lists the processes of the cgroup in dir and of every cgroup below it: they are
// all the container's, for ps, kill --all and delete.
func readPids(dir string) ([]int, error) {
	fd, err := openFile(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return readPidsAt(fd, dir)
}

// readPidsAt is readPids of the cgroup directory fd (called dir in errors).
func readPidsAt(fd int, dir string) ([]int, error) {
	procs, err := unix.Openat(fd, "cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir + "/cgroup.procs", Err: err}
	}
	data, err := readFD(procs, dir+"/cgroup.procs")
	unix.Close(procs)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(data) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	err = eachChild(fd, func(child int, name string) error {
		more, err := readPidsAt(child, dir+"/"+name)
		pids = append(pids, more...)
		return err
	})
	return pids, err
}

// eachChild calls fn with an fd of each cgroup directly below the directory fd, and closes
// it after. A cgroup removed meanwhile is skipped.
func eachChild(fd int, fn func(child int, name string) error) error {
	list, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(list), ".") // a directory: os.File reads it without the poller
	entries, err := f.ReadDir(-1)
	f.Close()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		child, cerr := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if cerr == unix.ENOENT {
			continue
		}
		if cerr == nil {
			cerr = fn(child, e.Name())
			unix.Close(child)
		}
		err = errors.Join(err, cerr)
	}
	return err
}

// rmdirWait removes a cgroup directory. rmdir(2) fails with EBUSY while a process is still
// in the cgroup; one that was just killed leaves it once the kernel has torn it down, so
// EBUSY is retried for a while. It fails so too while the cgroup has cgroups below it (a
// container with a writable cgroup mount can make them): at the first EBUSY those are
// removed, deepest first, as runc does.
func rmdirWait(dir string) error {
	dirfd, rel := at(dir)
	err := untilNotBusy(func() error { return unix.Unlinkat(dirfd, rel, unix.AT_REMOVEDIR) }, func() error {
		fd, err := openFile(dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return removeBelow(fd)
	})
	if err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: hint("rmdir", err)}
	}
	return nil
}

// removeBelow removes every cgroup below the directory fd, deepest first.
func removeBelow(fd int) error {
	return eachChild(fd, func(child int, name string) error {
		return untilNotBusy(func() error { return unix.Unlinkat(fd, name, unix.AT_REMOVEDIR) },
			func() error { return removeBelow(child) })
	})
}

// untilNotBusy runs remove until it succeeds (a cgroup already gone is no error), retrying
// while it fails with EBUSY, for up to 5 seconds; at the first EBUSY it runs below once, to
// remove what is inside first.
func untilNotBusy(remove, below func() error) error {
	deadline := time.Now().Add(5 * time.Second)
	lookedBelow := false
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := remove()
		switch {
		case err == nil, err == unix.ENOENT:
			return nil
		case err != unix.EBUSY || time.Now().After(deadline):
			return err
		case !lookedBelow:
			lookedBelow = true
			if err := below(); err != nil {
				return err
			}
			continue
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

// hint explains the errnos people hit with cgroup files and directories, for the call op.
func hint(op string, err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch {
	case op == "rmdir" && errno == unix.EBUSY:
		return &errHint{errno, "processes are still in the cgroup, or cgroups below it"}
	case op == "write memsw" && errno == unix.EINVAL:
		return &errHint{errno, "memory+swap may not be below the memory limit, which is unlimited until one is set: give linux.resources.memory.limit too"}
	case op == "mkdir" && errno == unix.EAGAIN:
		return &errHint{errno, "a parent's cgroup.max.descendants or cgroup.max.depth is reached"}
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
// (Manager.TaskFiles). The caller's goroutine stays on its thread (runtime.LockOSThread, or a
// package initialiser, where Go keeps the main goroutine on the main thread), and that thread
// goes on to execve(2): the program then starts in the cgroup, and the process's other
// threads, which execve ends, never need to be moved.
//
// Why one thread and not the process: moving a process (a pid into cgroup.procs) takes the
// cgroup core's threadgroup lock for writing, and that waits for an RCU grace period, 10-17 ms
// on the 2-CPU development VM, longer than all the rest of a container's start. A thread that
// moves only itself ("0" into tasks) needs no such lock, on kernels that have that shortcut
// (this host's 6.18 does: 0.1-0.16 ms against 6.6-15 ms for a process move, six of each);
// without it the write just takes the lock and waits, as a process move does. See cgroups(7),
// "tasks" and "cgroup.procs".
func JoinSelf(taskFiles []string) error {
	if len(taskFiles) == 0 {
		return nil
	}
	// One walk through sysfs for all the files (see hostRoot), from an fd of its own, closed
	// before init goes on: no fd of the host's stays open in a process that enters the
	// container (runc's CVE-2024-21626 was a cwd through a leaked /sys/fs/cgroup fd).
	root, rootErr := openRoot() // without it, each path is opened as it is
	if rootErr == nil {
		defer unix.Close(root)
	}
	for _, file := range taskFiles {
		dirfd, rel := unix.AT_FDCWD, file
		if r, under := underRoot(file); under && rootErr == nil {
			dirfd, rel = root, r
		}
		fd, err := unix.Openat(dirfd, rel, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: file, Err: hint("open", err)}
		}
		_, err = unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join cgroup: write 0 to %s: %w", file, hint("write", err))
		}
	}
	return nil
}
