package isolate

// A direct start: `run` without init.
//
// Init (init.go) is this binary started again inside the container's new namespaces: it sets
// the container up from inside and execs the program. That costs a second start of a Go
// program per container: on the development VM, 5 to 6 ms (docs/performance.md, "a run
// without init"), a fifth of a whole run, and what kept a single `run` slower than crun's.
//
// Most of what init does needs only to happen in the container's namespaces, not in a
// process of the container: a thread of the runtime can do it. The namespaces of a thread
// are its own (unshare(2)); a thread whose filesystem information is its own (CLONE_FS)
// can make mounts in a mount namespace of its own, pivot_root into it, set its own
// credentials and capabilities; and a process it starts inherits all of that. What needs
// the container's first process is its /proc: procfs shows the pid namespace it is mounted
// for, and a new pid namespace can be named (/proc/PID/ns/pid) only once its first process
// exists (pid_for_children reads ENOENT before).
//
// So a direct start goes:
//  1. thread A, locked for good, unshares the container's namespaces (the pid one for its
//     children), moves itself into the container's v1 cgroups, builds the root as init
//     would (setupRootfs: every mount but /proc's, the devices, pivot_root), names the uts
//     namespace, brings loopback up, joins a session keyring, becomes the spec's user with
//     its capabilities, and starts the program with syscall.ForkExec, PTRACE_TRACEME and
//     CLONE_INTO_CGROUP: the program is pid 1 of the new pid namespace, in the container's
//     cgroups, stopped right after its execve(2), before its first instruction; A moves back
//     to the runtime's cgroups;
//  2. thread B, locked for good too, joins the stopped program's mount, network, ipc and uts
//     namespaces and mounts its /proc with fsconfig(2)'s "pidns" (Linux 6.18 and later),
//     then does what init does once /proc is there: sysctls, masked and read-only paths, a
//     read-only root (setupKernelFiles);
//  3. the runtime gives the program its rlimits (prlimit(2)) and oom_score_adj, notes its
//     pid (the state, pids.max, the pid file), and A lets it go (PTRACE_DETACH).
//
// Thread A then waits until the run ends: the program's parent-death signal fires when the
// thread that started it exits (prctl(2)). No Go code runs in the new process: Go forks and
// execs it itself. Whatever the spec asks that this does not cover goes through init, as
// before (directStartRefusal).

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containkit/contain/isolate/cgroups"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// NoDirectStartEnv, set to 1 in the runtime's environment, makes every run go through init,
// as create does: for comparison, and should a host refuse what a direct start needs.
const NoDirectStartEnv = "CONTAIN_NO_DIRECT_START"

// directStartRefusal says why o's container cannot start directly, or "" when it can.
func directStartRefusal(o RunOptions) string {
	s := o.Spec
	switch {
	case os.Getenv(NoDirectStartEnv) == "1":
		return NoDirectStartEnv + "=1"
	case s.Process.Terminal:
		return "a terminal"
	case o.ConsoleSocket != "":
		return "a console socket"
	case initHooks(s.Hooks):
		return "hooks that run before the program"
	case len(s.Linux.NetDevices) > 0:
		return "network devices to move in"
	case s.Process.User.UID != 0:
		// Thread A keeps its permitted capabilities up to the fork (for CLONE_NEWCGROUP and
		// CLONE_INTO_CGROUP): only root's execve sets the program's from the bounding and
		// inheritable sets alone (becomeUserKeeping). That also keeps the traced execve from
		// taking any away: it gains none the thread did not have (cap_bprm_creds_from_file).
		return "a user other than root"
	case memoryLimitUnder(s, smallestDirectMemory):
		// Thread A is in the container's v1 memory cgroup from before the fork until the
		// program's execve is done: a setup that meets the limit there could have the OOM
		// killer choose the runtime. Through init, it kills init, and the runtime says why.
		return "a memory limit under 16 MiB"
	case hasRlimit(s.Process.Rlimits, "RLIMIT_STACK"):
		// Given after the execve (prlimit(2)): the stack's place is chosen at the execve.
		return "an RLIMIT_STACK"
	}
	for _, ns := range s.Linux.Namespaces {
		switch {
		case ns.Path != "":
			return "a namespace to join"
		case ns.Type == specs.UserNamespace || ns.Type == specs.TimeNamespace:
			return "a " + string(ns.Type) + " namespace"
		}
	}
	if !hasNewNamespace(s, specs.PIDNamespace) || !hasNewNamespace(s, specs.MountNamespace) {
		return "no new pid or mount namespace"
	}
	procs := 0
	for _, m := range s.Mounts {
		dest := mountDestination(m)
		// A mount thread B makes (mounter.mountsLater) is made without /proc/self, which a
		// propagation change needs (setPropagation).
		opts, err := parseMountOptions(m.Options)
		later := m.Type == "proc" || (m.Type == "cgroup" || m.Type == "cgroup2") && hasNewNamespace(s, specs.CgroupNamespace)
		switch {
		case later && (err != nil || opts.propagation != 0 || opts.bind):
			return "propagation or bind options on " + dest
		case m.Type == "proc" && dest == "/proc":
			procs++
		case m.Type == "proc" || dest == "/proc" || strings.HasPrefix(dest, "/proc/"):
			return "a mount in /proc"
		}
	}
	if procs != 1 {
		return "not one proc on /proc"
	}
	return hostRefusal()
}

// HostStartsDirectly says whether this host lets a run start without init, a spec allowing.
func HostStartsDirectly() bool { return hostRefusal() == "" }

// hostRefusal says what of the host keeps every run on init, or "".
func hostRefusal() string {
	if !kernelMountsProcForAPidNamespace() {
		return "a kernel without procfs's pidns option"
	}
	if ptraceScopeForbids() {
		return "ptrace restricted (kernel.yama.ptrace_scope above 1)"
	}
	return ""
}

// smallestDirectMemory is the smallest memory limit a container starts directly with.
const smallestDirectMemory = 16 << 20

// memoryLimitUnder says whether s limits the container's memory (or memory and swap) to
// under n bytes.
func memoryLimitUnder(s *specs.Spec, n int64) bool {
	r := s.Linux.Resources
	if r == nil || r.Memory == nil {
		return false
	}
	m := r.Memory
	return m.Limit != nil && *m.Limit >= 0 && *m.Limit < n || m.Swap != nil && *m.Swap >= 0 && *m.Swap < n
}

func hasRlimit(limits []specs.POSIXRlimit, kind string) bool {
	return slices.ContainsFunc(limits, func(l specs.POSIXRlimit) bool { return l.Type == kind })
}

// errDirectRefused: the host refused what a direct start needs; init can still start the
// container, from the start.
var errDirectRefused = errors.New("the host refused a direct start")

// kernelMountsProcForAPidNamespace says whether procfs takes a pid namespace to show
// (fsconfig(2) "pidns", Linux 6.18): asked once, with this process's own.
var kernelMountsProcForAPidNamespace = sync.OnceValue(func() bool {
	ns, err := unix.Open("/proc/thread-self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(ns)
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fs)
	return unix.FsconfigSetFd(fs, "pidns", ns) == nil
})

// ptraceScopeForbids says whether Yama lets a PTRACE_TRACEME through only for a parent with
// CAP_SYS_PTRACE (2), which the thread that starts the program may have dropped, or never (3).
func ptraceScopeForbids() bool {
	scope, err := readFileUpTo("/proc/sys/kernel/yama/ptrace_scope", 16)
	scope = strings.TrimSpace(scope)
	return err == nil && scope != "0" && scope != "1"
}

// laterMount is a mount thread B makes (see mounter.mountsLater): its mount point resolved
// and checked by thread A before pivot_root (mounter.resolveLater).
type laterMount struct {
	mnt        specs.Mount
	opts       mountOptions
	fd, parent int // O_PATH: the mount point, and the directory that holds it
	base       string
}

// laterMounts are a direct start's later mounts, in the spec's order.
type laterMounts []laterMount

func (l *laterMounts) close() {
	for _, m := range *l {
		unix.Close(m.fd)
		unix.Close(m.parent)
	}
}

// stopped is what thread A says once the program stopped at its execve, or failed.
type stopped struct {
	pid int
	err error
}

// startDirectly starts o's container without init (see the top of this file) and returns
// once its program runs. atStop runs while the program is stopped before its first
// instruction, with the program in the container: its pid noted, its cgroup, its pid file.
func startDirectly(o RunOptions, prep *prepared, atStop func(c *initProcess) error) (*initProcess, error) {
	cfg := initConfigFor(o, prep, false)
	spec := cfg.spec()
	stdio, closeStdio, err := stdioFDs(o)
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	files := append(stdio, preservedFiles(o.PreserveFDs)...)
	// What the runtime inherited beyond them (its caller's fds) must not reach the program:
	// the program gets what execve(2) leaves open.
	if err := unix.CloseRange(uint(3+o.PreserveFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("close_range: %w", err)
	}
	later := &laterMounts{}
	defer later.close()
	stops := make(chan stopped)
	goAhead := make(chan error)
	hold := make(chan struct{})
	goLockedOffMain(func() { startOnThreadA(&cfg, spec, prep.cg, later, files, stops, goAhead, hold) })
	st := <-stops
	if st.err != nil {
		close(hold)
		return nil, setupFailed(st.err, prep.cg)
	}
	c := &initProcess{pid: st.pid, pidfd: -1, stdin: o.Stdin, stdout: o.Stdout, cg: prep.cg, hold: hold}
	err = c.openPidfd()
	if err == nil {
		err = finishOnThreadB(st.pid, spec, *later)
	}
	if err == nil {
		err = applyProcessLimits(st.pid, spec.Process)
	}
	if err == nil {
		err = atStop(c)
	}
	goAhead <- err // A kills the program on an error, and lets it run otherwise
	if st = <-stops; err == nil {
		err = st.err
	}
	if err != nil {
		close(hold)
		if c.pidfd >= 0 {
			unix.Close(c.pidfd)
		}
		return nil, err
	}
	c.exited = make(chan unix.WaitStatus, 1)
	go func() { c.exited <- waitExit(c.pid, c.pidfd) }()
	return c, nil
}

// setupFailed is the runtime's error for thread A's err, as init's would be (initFailed,
// diedInSetup): a program that cannot run carries the status the quick form exits with (127
// or 126), and a limit of the cgroup met on the way is named.
func setupFailed(err error, cg cgroups.Manager) error {
	if errors.Is(err, errDirectRefused) {
		return err
	}
	if met := limitMet(cg, cgroups.LimitCounts{}); met != "" { // a new cgroup: counts from 0
		return fmt.Errorf("%w: %s", err, met)
	}
	if status := execStatus(err); status != 0 {
		return &ExecError{Text: err.Error(), Status: status}
	}
	return err
}

// openPidfd opens a pidfd on the stopped program: signals go through it.
func (p *initProcess) openPidfd() error {
	fd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", p.pid, err)
	}
	p.pidfd = fd
	return nil
}

// startOnThreadA is thread A (see the top of this file). Its goroutine ends, and the thread
// with it, when hold is closed: the program's parent-death signal is tied to it.
func startOnThreadA(cfg *initConfig, spec *specs.Spec, cg cgroups.Manager, later *laterMounts, files []uintptr,
	stops chan<- stopped, goAhead <-chan error, hold <-chan struct{}) {
	pid, err := buildAndStart(cfg, spec, cg, later, files)
	stops <- stopped{pid, err}
	if err != nil {
		return
	}
	if err := <-goAhead; err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitPid(pid)
		stops <- stopped{pid, err}
		return
	}
	if err := unix.PtraceDetach(pid); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitPid(pid)
		stops <- stopped{pid, fmt.Errorf("ptrace PTRACE_DETACH %d: %w", pid, err)}
		return
	}
	stops <- stopped{pid, nil}
	<-hold
}

// buildAndStart is what init does up to its execve, on the calling thread, which then
// starts the program stopped at its execve (PTRACE_TRACEME). It returns the program's pid.
func buildAndStart(cfg *initConfig, spec *specs.Spec, cg cgroups.Manager, later *laterMounts, files []uintptr) (int, error) {
	flags := uintptr(unix.CLONE_FS) | cloneFlags(spec)
	if err := unix.Unshare(int(flags)); err != nil {
		return 0, &pathError{"unshare", "the container's namespaces", err}
	}
	// The cgroup: in the v1 hierarchies, this thread moves itself in, as init does
	// (cgroups.JoinSelf, quick where moving another process waits on a lock), the program
	// inherits it, and the thread moves back out after; in cgroup2's, the program is cloned
	// into it (CLONE_INTO_CGROUP).
	back, err := openOwnTaskFiles(cg) // now: after pivot_root, /sys/fs/cgroup is the container's
	if err != nil {
		return 0, err
	}
	defer closeAll(back)
	if err := cgroups.JoinSelf(cfg.CgroupTasks); err != nil {
		return 0, err
	}
	cgroupFD, err := cgroupStart(cg)
	if err != nil {
		return 0, err
	}
	if cgroupFD >= 0 {
		defer unix.Close(cgroupFD)
	}
	if err := setupRootfsWith(cfg, spec, specs.State{}, later); err != nil {
		return 0, err
	}
	if err := setupNamespaces(spec); err != nil {
		return 0, err
	}
	if !cfg.NoNewKeyring {
		if err := joinNewSessionKeyring(); err != nil {
			return 0, err
		}
	}
	if err := filterKeyrings(cfg.KeyringRules); err != nil {
		return 0, err
	}
	path, err := becomeUserKeeping(spec.Process, true)
	if err != nil {
		return 0, err
	}
	// What the program inherits from this thread: the caller's timer slack and every CPU.
	if callerSlack != 0 {
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(callerSlack), 0, 0, 0); err != nil {
			return 0, os.NewSyscallError("prctl PR_SET_TIMERSLACK", err)
		}
	}
	if err := everyCPU(); err != nil {
		return 0, err
	}
	sys := &syscall.SysProcAttr{Setsid: true, Ptrace: true, UseCgroupFD: cgroupFD >= 0, CgroupFD: cgroupFD}
	if hasNewNamespace(spec, specs.CgroupNamespace) {
		// Made with the program: with CLONE_INTO_CGROUP, rooted at the cgroups it lands in,
		// the container's (the kernel's cgroup_post_fork), where init unshares its own there.
		sys.Cloneflags = unix.CLONE_NEWCGROUP
	}
	if cfg.DieWithParent {
		// Go's check after it (the parent's pid against getppid(2), which reads 0 in the new
		// pid namespace) sends the program SIGKILL from itself, which the kernel ignores for
		// the first process of a pid namespace (pid_namespaces(7)).
		sys.Pdeathsig = syscall.SIGKILL
	}
	pid, err := syscall.ForkExec(path, spec.Process.Args, &syscall.ProcAttr{Env: spec.Process.Env, Files: files, Sys: sys})
	if errors.Is(err, unix.EPERM) {
		// PTRACE_TRACEME refused (a seccomp filter or a security module around the runtime),
		// or the execve: init starts the container instead, and reports the execve's refusal.
		return 0, fmt.Errorf("%w: %w", errDirectRefused, &pathError{"exec", path, err})
	}
	if err != nil {
		return 0, &pathError{"exec", path, err}
	}
	if callerSlack != 0 { // relaxed again, as the runtime's other threads (see RelaxMonitor)
		unix.Prctl(unix.PR_SET_TIMERSLACK, monitorSlack, 0, 0, 0)
	}
	if err := moveSelf(back); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitPid(pid)
		return 0, fmt.Errorf("back out of the container's cgroup: %w", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		unix.Kill(pid, unix.SIGKILL)
		waitPid(pid)
		return 0, fmt.Errorf("the program did not stop at its execve (wait status %#x): %v", uint32(ws), err)
	}
	return pid, nil
}

// finishOnThreadB is thread B (see the top of this file): the stopped program's /proc, then
// what init does with it. The thread stays in the container's namespaces: Go ends it.
func finishOnThreadB(pid int, spec *specs.Spec, later laterMounts) error {
	done := make(chan error)
	goLockedOffMain(func() { done <- finishInside(pid, spec, later) })
	return <-done
}

func finishInside(pid int, spec *specs.Spec, later laterMounts) error {
	// Every fd first, from the host's /proc: after the mount namespace, /proc is the
	// container's, where the runtime has no pid.
	kinds := []struct {
		name string
		flag int
	}{{"pid", 0}, {"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
		{"cgroup", unix.CLONE_NEWCGROUP}, {"mnt", unix.CLONE_NEWNS}}
	fds := make([]int, len(kinds))
	for i, k := range kinds {
		path := "/proc/" + strconv.Itoa(pid) + "/ns/" + k.name
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, fd := range fds[:i] {
				unix.Close(fd)
			}
			return &pathError{"open", path, err}
		}
		fds[i] = fd
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	for i, k := range kinds[1:] {
		if err := unix.Setns(fds[i+1], k.flag); err != nil {
			return &pathError{"setns", "/proc/" + strconv.Itoa(pid) + "/ns/" + k.name, err}
		}
	}
	for _, m := range later {
		if err := mountFrom(fds[0], m); err != nil {
			return err
		}
	}
	return setupKernelFiles(spec)
}

// mountFrom makes a later mount on the mount point thread A resolved, with the new mount
// API: fsopen(2) of its type, fsconfig(2) (a procfs for the pid namespace pidns: "pidns"),
// fsmount(2), move_mount(2) onto the mount point's fd, then what mounter does after a mount.
// It runs in the container's namespaces, whose /proc has no pid of the runtime's: nothing
// here goes through /proc/self.
func mountFrom(pidns int, p laterMount) error {
	dest, kind := p.mnt.Destination, p.mnt.Type
	fs, err := unix.Fsopen(kind, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return &pathError{"fsopen", dest, fmt.Errorf("%s: %w", kind, err)}
	}
	defer unix.Close(fs)
	if kind == "proc" {
		if err := unix.FsconfigSetFd(fs, "pidns", pidns); err != nil {
			return &pathError{"fsconfig", dest, fmt.Errorf("proc pidns: %w", err)}
		}
	}
	if p.mnt.Source != "" { // what mountinfo shows, as mount(2)'s source
		if err := unix.FsconfigSetString(fs, "source", p.mnt.Source); err != nil {
			return &pathError{"fsconfig", dest, fmt.Errorf("%s source: %w", kind, err)}
		}
	}
	for _, data := range p.opts.data {
		for _, o := range strings.Split(data, ",") { // cgroup's "cpu,cpuacct" is two
			key, value, hasValue := strings.Cut(o, "=")
			if hasValue {
				err = unix.FsconfigSetString(fs, key, value)
			} else {
				err = unix.FsconfigSetFlag(fs, key)
			}
			if err != nil {
				return &pathError{"fsconfig", dest, fmt.Errorf("%s option %q: %w", kind, o, err)}
			}
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return &pathError{"fsconfig", dest, fmt.Errorf("%s: create: %w", kind, err)}
	}
	// The attributes the options name (mountopts.go), as mount(2) takes their flags.
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(p.opts.attrSet))
	if err != nil {
		return &pathError{"fsmount", dest, fmt.Errorf("%s: %w", kind, err)}
	}
	defer unix.Close(m)
	if err := unix.MoveMount(m, "", p.fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return &pathError{"move_mount", dest, fmt.Errorf("%s: %w", kind, err)}
	}
	top, err := mountedAt(p.parent, p.base, dest)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	return (&mounter{}).finishFSMount(top, p.mnt, p.opts, false)
}

// goLockedOffMain runs f in a new goroutine locked to a thread other than the main one, for
// good: f changes that thread's namespaces, root or credentials, and Go ends the thread when
// f returns. Not the main thread: it is the one /proc/PID shows of the whole runtime (its
// root, its namespaces, its credentials), and Go never ends it, so it would keep what f did.
// A goroutine that lands there holds it, locked, while f runs on another.
func goLockedOffMain(f func()) {
	go func() {
		runtime.LockOSThread()
		if !isMainThread(unix.Gettid()) {
			f()
			return // never unlocked
		}
		done := make(chan struct{})
		goLockedOffMain(func() { defer close(done); f() }) // not here: this thread is taken
		<-done
		runtime.UnlockOSThread()
	}()
}

// isMainThread says whether tid is the main thread's, whose id is the process's.
var isMainThread = func(tid int) bool { return tid == unix.Getpid() }

// openOwnTaskFiles opens the v1 "tasks" files of the calling thread's cgroups in cg's
// hierarchies, for moveSelf.
func openOwnTaskFiles(cg cgroups.Manager) ([]int, error) {
	v1, ok := cg.(*cgroups.V1)
	if !ok {
		return nil, nil
	}
	files, err := v1.OwnTaskFiles()
	if err != nil {
		return nil, fmt.Errorf("the runtime's own cgroups: %w", err)
	}
	var fds []int
	for _, f := range files {
		fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return nil, &pathError{"open", f, err}
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// moveSelf moves the calling thread, alone, into the cgroups whose "tasks" files fds are.
func moveSelf(fds []int) error {
	for _, fd := range fds {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fmt.Errorf("write 0 to a tasks file: %w", err)
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// applyProcessLimits gives the stopped program process.rlimits (prlimit(2)) and
// process.oomScoreAdj, what init sets on itself before its execve.
func applyProcessLimits(pid int, p *specs.Process) error {
	for _, l := range p.Rlimits {
		r := unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := unix.Prlimit(pid, rlimitByName[l.Type], &r, nil); err != nil {
			return &pathError{"prlimit", l.Type, err}
		}
	}
	if p.OOMScoreAdj != nil {
		return writeOOMScoreAdj("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", *p.OOMScoreAdj)
	}
	return nil
}
