package isolate

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The workshop's steps share one process shape: the parent re-executes its own binary as
// "child ARGS..." in new namespaces, the child sets the container up and execs ARGS. These
// functions are that shape, for the steps that come after the one that teaches it.

// ChildArg is the first argument of a re-executed child.
const ChildArg = "child"

// goAheadFD is the child's end of the pipe StartChild opens: the child reads from it until the
// parent calls Continue (or closes it).
const goAheadFD = 3

// IsChild reports whether this process is a child started by StartChild.
func IsChild() bool { return len(os.Args) > 1 && os.Args[1] == ChildArg }

// Child is a re-executed child, stopped in WaitForParent until Continue.
type Child struct {
	cmd     *exec.Cmd
	goAhead *os.File // our end of the go-ahead pipe
}

// StartChild re-executes /proc/self/exe as "child ARGS..." in the new namespaces cloneflags
// names, with this process's stdin, stdout and stderr. /proc/self/exe is the running binary
// itself, even if its file was moved or deleted since: a Go program cannot fork without exec,
// so re-executing itself is how it runs its own code in a new process. See clone(2),
// proc(5). Taught in steps/00-process (the flags, one per namespace, in steps 01 to 08).
func StartChild(cloneflags uintptr, args ...string) (*Child, error) {
	return startChild(syscall.SysProcAttr{Cloneflags: cloneflags}, args)
}

// startChild is StartChild with the clone's attributes as the caller wrote them: attr's
// Cloneflags and what a step adds to them (RunChildWith). Pdeathsig is always SIGKILL.
func startChild(attr syscall.SysProcAttr, args []string) (*Child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/proc/self/exe", append([]string{ChildArg}, args...)...)
	cmd.Args[0] = filepath.Base(os.Args[0])
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r} // fd 3 in the child: goAheadFD
	attr.Pdeathsig = unix.SIGKILL
	cmd.SysProcAttr = &attr
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("clone /proc/self/exe: %w%s", err, cloneHint(err))
	}
	return &Child{cmd: cmd, goAhead: w}, nil
}

// cloneHint explains the errno people get from clone(2) with namespace flags.
func cloneHint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (creating namespaces needs root: run with sudo)"
	}
	if errors.Is(err, unix.EINVAL) {
		return " (this kernel lacks one of the namespaces asked for)"
	}
	return ""
}

// Pid is the child's process id, as the parent sees it.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// ContinueDelayEnv, set to a duration, makes Continue wait that long after the go-ahead.
// `workshop check` sets it for step 09: a parent that lets the child go before it has made
// what the child looks for then fails every time, rather than once in twenty runs.
const ContinueDelayEnv = "CONTAIN_CHECK_CONTINUE_DELAY"

// Continue lets the child go on past WaitForParent. A child that does not wait there (most
// steps' children exec their command at once, and exec closes their end of the pipe) or that
// has already exited may be past that point before Continue runs: the write then finds no
// reader (EPIPE), and there is nothing left to let go. Wait tells how the child ended.
func (c *Child) Continue() error {
	_, err := c.goAhead.Write([]byte{0})
	c.goAhead.Close()
	if d, perr := time.ParseDuration(os.Getenv(ContinueDelayEnv)); perr == nil {
		time.Sleep(d)
	}
	if errors.Is(err, unix.EPIPE) {
		return nil
	}
	return err
}

// Wait relays SIGINT, SIGTERM, SIGHUP and SIGQUIT to the child until it exits, and returns its
// exit status: the code it exited with, or 128+N if signal N killed it (the shell's way).
func (c *Child) Wait() (int, error) {
	c.goAhead.Close()
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(signals)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	for {
		select {
		case sig := <-signals:
			c.cmd.Process.Signal(sig)
		case err := <-done:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				return 0, err
			}
			return statusOf(unix.WaitStatus(c.cmd.ProcessState.Sys().(syscall.WaitStatus))), nil
		}
	}
}

// RunChild starts the child, lets it go at once, and waits for it: StartChild, Continue, Wait.
func RunChild(cloneflags uintptr, args ...string) (int, error) {
	return RunChildWith(&syscall.SysProcAttr{Cloneflags: cloneflags}, args...)
}

// RunChildWith is RunChild with the clone's attributes written out by the caller: the
// Cloneflags, and what a later step adds to the clone. Steps/10-cgroups adds UseCgroupFD and
// CgroupFD, the fd of a cgroup2 directory: Go then clones with clone3(2) and
// CLONE_INTO_CGROUP, and the child is born in that cgroup, never a moment outside it. attr is
// copied, and the copy's Pdeathsig is SIGKILL, as StartChild's. Taught in steps/10-cgroups.
func RunChildWith(attr *syscall.SysProcAttr, args ...string) (int, error) {
	c, err := startChild(*attr, args)
	if err != nil {
		return 0, err
	}
	if err := c.Continue(); err != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		return 0, fmt.Errorf("let the child go: %w", err)
	}
	return c.Wait()
}

// WaitForParent blocks the child until its parent calls Continue. It fails if the parent
// closed the pipe without a go-ahead (it gave up).
func WaitForParent() error {
	f := os.NewFile(goAheadFD, "go-ahead")
	defer f.Close()
	b := make([]byte, 1)
	if n, err := f.Read(b); n != 1 {
		return fmt.Errorf("wait for the parent: %v", err)
	}
	return nil
}

// Exec replaces the calling process with the program args[0], looked up in PATH as a shell
// would, with args and the current environment. Only fds 0-2 go along: every other one is
// marked close-on-exec first (close_range(2)). It returns only on failure. See execve(2).
// Taught in steps/00-process.
func Exec(args []string) error {
	if len(args) == 0 {
		return errors.New("exec: no command given")
	}
	path, err := lookPath(args[0], os.Environ())
	if err != nil {
		return err
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	return &pathError{"exec", path, unix.Exec(path, args, os.Environ())}
}

// SetHostname names the current uts namespace: only processes in it see the new name.
// See sethostname(2), uts_namespaces(7). Taught in steps/01-uts.
func SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}

// SetupContainer sets the container up from inside, as steps 01 to 08 build it, in their
// order: it names the uts namespace hostname (SetHostname, step 01), makes the mounts private
// (MakeMountsPrivate, step 03), gives rootfs a /dev of its own (MakeDev, step 04), binds
// rootfs onto itself and makes it the root (BindRootfs and PivotRoot, step 05), mounts the pid
// namespace's /proc (MountProc, step 04) and the ipc namespace's /dev/mqueue (MountMqueue,
// step 07), brings lo up (LoopbackUp, step 08) and mounts the network namespace's /sys
// (MountSysfs, step 08). The child must be in the namespaces of those steps: CLONE_NEWUTS,
// CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWIPC and CLONE_NEWNET. Taught in steps/01-uts to
// steps/08-net-ns, one call at a time.
func SetupContainer(rootfs, hostname string) error {
	for _, call := range []func() error{
		func() error { return SetHostname(hostname) }, // step 01
		MakeMountsPrivate,                          // step 03
		func() error { return MakeDev(rootfs) },    // step 04
		func() error { return BindRootfs(rootfs) }, // step 05
		func() error { return PivotRoot(rootfs) },  // step 05
		MountProc,   // step 04
		MountMqueue, // step 07
		LoopbackUp,  // step 08
		MountSysfs,  // step 08
	} {
		if err := call(); err != nil {
			return err
		}
	}
	return nil
}

// StepMain is the main function of the workshop's steps after step 00, which writes it out.
// In the re-executed child it runs child(ROOTFS, COMMAND) and exits 127 if child returns (it
// returns only when it failed to exec). Otherwise it reads `[-rootfs DIR] COMMAND [ARG...]`,
// finds the default rootfs with defaultRootfs when -rootfs is empty (nil: the step does not
// use one yet), runs parent and exits with its status. Taught in steps/00-process.
func StepMain(slug string, defaultRootfs func(io.Writer) (string, error),
	parent func(rootfs string, command []string) (int, error),
	child func(rootfs string, command []string) error) {
	if IsChild() && len(os.Args) > 2 {
		err := child(os.Args[2], os.Args[3:])
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(127)
	}
	help := "root filesystem for the container (used from step 04 on)"
	if defaultRootfs != nil {
		help = "root filesystem for the container (default: the default rootfs, built on first use)"
	}
	dir := flag.String("rootfs", "", help)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: sudo go run ./steps/%s [-rootfs DIR] COMMAND [ARG...]\n", slug)
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.CommandLine.Usage() // a step's own usage line where it has one (step 10's limits)
		os.Exit(2)
	}
	if *dir == "" && defaultRootfs != nil {
		var err error
		if *dir, err = defaultRootfs(os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "parent:", err)
			os.Exit(1)
		}
	}
	status, err := parent(*dir, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "parent:", err)
		os.Exit(1)
	}
	os.Exit(status)
}
