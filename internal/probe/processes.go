package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Actions that need other processes start the probe binary again with these arguments, so
// cmd/probe must implement them.
var (
	// SleepArgs make a child that just waits (ForkN).
	SleepArgs = []string{"sleep", "60"}
	// UsernsMountChildCommand runs UsernsMountInside and prints its result (UsernsMount).
	UsernsMountChildCommand = "userns-mount-child"
)

// selfExe is the probe's own binary: /proc/self/exe, or argv[0] where /proc is not mounted.
func selfExe() string {
	const self = "/proc/self/exe"
	if exists(self) {
		return self
	}
	if strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	if path, err := exec.LookPath(os.Args[0]); err == nil {
		return path
	}
	return self
}

// ForkResult is the result of ForkN.
type ForkResult struct {
	Result
	Requested int `json:"requested"`
	Started   int `json:"started"`
}

// Human is the result for people.
func (r ForkResult) Human() string {
	return fmt.Sprintf("forkn: started %d of %d: %s", r.Started, r.Requested, r.outcome())
}

// ForkN starts n children one after another and counts how many start before the first
// failure; then it kills and reaps them all. A pids cgroup limit (pids.max) shows as EAGAIN
// from clone(2).
//
// Each child is the probe running "sleep 60", started under PTRACE_TRACEME so that ptrace(2)
// stops it right after execve, while it is still a single thread: every child costs exactly
// one pid, as a fork bomb's would. (Threads count against pids.max too, and a running Go child
// starts a few.) Where ptrace is forbidden, the children run.
func ForkN(n int) ForkResult {
	res := ForkResult{Requested: n}
	exe := selfExe()
	argv := append([]string{"probe"}, SleepArgs...)
	null, closeNull := devNull()
	defer closeNull()
	attr := &syscall.ProcAttr{
		// GOMAXPROCS=1 keeps a running child's Go runtime to few threads.
		Env:   append(os.Environ(), "GOMAXPROCS=1"),
		Files: []uintptr{null[0], null[1], null[2]},
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	}
	// The thread that forks a traced child is its tracer.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pids []int
	for range n {
		pid, err := syscall.ForkExec(exe, argv, attr)
		if err == syscall.EPERM && len(pids) == 0 && attr.Sys.Ptrace {
			// ptrace is forbidden here (seccomp, Yama): let the children run instead.
			attr.Sys.Ptrace = false
			pid, err = syscall.ForkExec(exe, argv, attr)
		}
		if err != nil {
			res.setError(fmt.Errorf("fork/exec %s: %w", exe, err))
			break
		}
		pids = append(pids, pid)
	}
	res.Started = len(pids)
	res.OK = res.Started == n
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	for _, pid := range pids {
		reap(pid)
	}
	return res
}

// devNull returns the fds to give a child as its stdin, stdout and stderr: /dev/null, or the
// probe's own where there is no /dev/null, since a Go child dies at start-up when its fds 0 to
// 2 are closed and it cannot open /dev/null either (and the probe's own are open, for the
// same reason).
func devNull() (fds [3]uintptr, release func()) {
	fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return [3]uintptr{0, 1, 2}, func() {}
	}
	return [3]uintptr{uintptr(fd), uintptr(fd), uintptr(fd)}, func() { unix.Close(fd) }
}

// MemhogResult is the result of Memhog.
type MemhogResult struct {
	Result
	AllocatedMiB int `json:"allocated_mib"`
}

// MemhogProgress is the line Memhog's progress is written as: JSON, or for people.
func MemhogProgress(mib int, human bool) string {
	if human {
		return fmt.Sprintf("memhog: %d MiB so far", mib)
	}
	return fmt.Sprintf("{\"allocated_mib\": %d}", mib)
}

// Human is the result for people.
func (r MemhogResult) Human() string {
	return fmt.Sprintf("memhog: allocated %d MiB: %s", r.AllocatedMiB, r.outcome())
}

// Memhog allocates mib MiB in 1 MiB chunks and writes to every page, so the memory is really
// charged to the cgroup and not just reserved. It calls progress with the MiB held every 16
// MiB, so that the last line written before an OOM kill tells how far it got.
func Memhog(mib int, progress func(mib int)) MemhogResult {
	const chunk = 1 << 20
	page := os.Getpagesize()
	held := make([][]byte, 0, mib)
	for i := 1; i <= mib; i++ {
		b := make([]byte, chunk)
		for off := 0; off < chunk; off += page {
			b[off] = 1
		}
		held = append(held, b)
		if i%16 == 0 {
			progress(i)
		}
	}
	return MemhogResult{Result: Result{OK: true}, AllocatedMiB: len(held)}
}

// SpinResult is the result of Spin.
type SpinResult struct {
	Result
	WallMs int64 `json:"wall_ms"` // how long it spun, by the clock
	CPUMs  int64 `json:"cpu_ms"`  // the CPU time it got meanwhile: user + system, getrusage(2)
}

// Human is the result for people.
func (r SpinResult) Human() string {
	share := 0.0
	if r.WallMs > 0 {
		share = 100 * float64(r.CPUMs) / float64(r.WallMs)
	}
	return fmt.Sprintf("spin: %d ms on a CPU in %d ms (%.0f%%): %s", r.CPUMs, r.WallMs, share, r.outcome())
}

// Spin keeps one CPU busy for d by the clock and reports how much CPU time the probe got
// meanwhile. Alone on an idle CPU the two are equal; a CPU quota (cgroup v2 cpu.max, v1
// cpu.cfs_quota_us) throttles the loop, and the CPU time falls to the quota's share.
func Spin(d time.Duration) SpinResult {
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		var res SpinResult
		res.done(fmt.Errorf("getrusage: %w", err))
		return res
	}
	start := time.Now()
	for n := 0; time.Since(start) < d; n++ {
		spinSink += n
	}
	wall := time.Since(start)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	return SpinResult{Result: Result{OK: true}, WallMs: wall.Milliseconds(), CPUMs: cpu.Milliseconds()}
}

// spinSink keeps the compiler from dropping Spin's loop.
var spinSink int

// UsernsResult is the result of UsernsMount.
type UsernsResult struct {
	Result
	Unshare bool `json:"unshare"` // the child started in a new user and mount namespace
	Mounted bool `json:"mounted"` // and could mount a tmpfs on /tmp there
}

// Human is the result for people.
func (r UsernsResult) Human() string {
	return fmt.Sprintf("userns-mount: unshare=%s mounted=%s: %s", yesNo(r.Unshare), yesNo(r.Mounted), r.outcome())
}

// UsernsMount checks whether the process can gain mount privileges through a new user
// namespace, the way an unprivileged process would: it starts a child of the probe in a new
// user and mount namespace, with the child's root mapped to the caller's uid and gid, and the
// child (UsernsMountInside) tries to mount a tmpfs; see user_namespaces(7).
// Seccomp profiles, a chroot, or user.max_user_namespaces=0 make it fail.
func UsernsMount() UsernsResult {
	var res UsernsResult
	exe := selfExe()
	// Plain ForkExec rather than os/exec, which needs /dev/null: a bare rootfs may lack /dev.
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		res.done(fmt.Errorf("pipe2: %w", err))
		return res
	}
	r, w := os.NewFile(uintptr(pipe[0]), "pipe"), pipe[1]
	defer r.Close()
	null, closeNull := devNull()
	defer closeNull()
	pid, err := syscall.ForkExec(exe, []string{"probe", UsernsMountChildCommand}, &syscall.ProcAttr{
		Files: []uintptr{null[0], uintptr(w), 2},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		},
	})
	unix.Close(w)
	if err != nil {
		res.done(fmt.Errorf("clone(CLONE_NEWUSER|CLONE_NEWNS) %s: %w", exe, err))
		return res
	}
	out, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, 0, nil)
	if err := json.Unmarshal(out, &res); err != nil {
		res.done(fmt.Errorf("%s %s: no result (%s)", exe, UsernsMountChildCommand, waitText(ws)))
	}
	res.Unshare = true
	return res
}

// waitText says how a child ended.
func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// UsernsMountInside is the child side of UsernsMount, already in its new namespaces.
func UsernsMountInside() UsernsResult {
	res := UsernsResult{Unshare: true}
	// A mount namespace owned by a new user namespace gets only slave copies of shared mounts
	// (mount_namespaces(7)), so this tmpfs cannot propagate back out; it goes with the child.
	// On "/", which every root has (a rootfs without /tmp would fail with ENOENT and read as
	// refused).
	if err := unix.Mount("probe", "/", "tmpfs", 0, "size=1m"); err != nil {
		res.done(&os.PathError{Op: "mount tmpfs", Path: "/", Err: err})
		return res
	}
	res.Mounted = true
	res.OK = true
	_ = unix.Unmount("/", unix.MNT_DETACH)
	return res
}

// Trap prints "ready", then the name of each signal it receives, to prove that signals sent
// to a container reach its process: every signal it can catch (os/signal's all), but
// SIGURG, which Go's runtime sends itself to preempt goroutines, and SIGCHLD. It returns the
// exit status: 0 right after SIGTERM, 1 when timeout passes first.
func Trap(timeout time.Duration, w io.Writer) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	fmt.Fprintln(w, "ready")
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGURG || sig == unix.SIGCHLD {
				continue
			}
			fmt.Fprintln(w, signalName(sig))
			if sig == unix.SIGTERM {
				return 0
			}
		case <-timer.C:
			return 1
		}
	}
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
	}
	return sig.String()
}
