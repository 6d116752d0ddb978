package isolate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecInContainer starts a process in a running container (runtime-spec leaves this to runtimes; engines
// call runc's `exec`). The process model:
//
//	contain exec ─┬─ check the container runs; list the namespaces of its init that differ
//	              │  from ours; become a child subreaper (foreground only)
//	              ├─ fork+exec this binary, from its read-only mount, as "init exec": the stage,
//	              │  in the host's pid namespace, where no container process can see it
//	              │     stage: non-dumpable; join the cgroup; oom score, rlimits; setns(2) into
//	              │            the namespaces through a pidfd of init (pid namespace: for
//	              │            children); a session keyring and the keyring filter; pty;
//	              │            bounding set, cwd (as root; again as the user where root was
//	              │            refused), user, capabilities, no_new_privs (all on its one locked
//	              │            thread); fork+exec the program from that thread, which puts it in
//	              │            the container's pid namespace; send its pidfd; exit
//	              └─ the program is now our child (we are its subreaper): pid file, forward
//	                 signals, relay the pty, wait, exit with its status; --detach: exit now
//
// The stage cannot exec the program itself, because setns(2) with CLONE_NEWPID moves only the
// children of the caller; and the fork happens in Go's own fork+exec (syscall.ForkExec), as
// a Go program cannot fork and go on running Go.

// ExecOptions describes a process to start in a running container.
type ExecOptions struct {
	ID        string
	StateRoot string
	Process   *specs.Process // the whole process (see ContainerProcess for runc's defaults)
	Detach    bool           // return once the process runs, instead of waiting for it
	PidFile   string         // where to write the process's pid, if set
	// ConsoleSocket: with process.terminal and Detach, where the pty master goes.
	ConsoleSocket string
	PreserveFDs   int // the caller's fds 3 to 3+N-1 reach the process (--preserve-fds)
	Stdin         *os.File
	Stdout        *os.File
	Stderr        *os.File
	Log           *slog.Logger
	Signals       <-chan os.Signal // as RunOptions.Signals; unused with Detach
}

// execStageArg follows InitArg in the stage's arguments: "contain init exec".
const execStageArg = "exec"

// msgStarted: exec stage → parent: the program runs; Text is its pid, its pidfd rides along.
const msgStarted = "started"

// execConfig is what the exec stage needs, sent over the config pipe as init's config is.
type execConfig struct {
	Process     *specs.Process `json:"process"`
	InitPid     int            `json:"init_pid"`
	InitStart   uint64         `json:"init_start"`             // against pid reuse, as in the state
	Namespaces  uintptr        `json:"namespaces"`             // CLONE_NEW* flags of those to join
	CgroupTasks []string       `json:"cgroup_tasks,omitempty"` // v1: the stage's thread joins (cgroups.JoinSelf)
	// NoNewKeyring: the program keeps the session keyring of exec's caller (the container
	// was made with --no-new-keyring); otherwise it gets an anonymous one of its own.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// Raw: the process's args and env as bytes, when they are not all UTF-8 (see rawArgs).
	Raw *rawArgs `json:"raw,omitempty"`
	// KeyringRules: the container's (State.KeyringRules).
	KeyringRules []keyringRule `json:"keyring_rules,omitempty"`
}

// ContainerProcess returns the container's own process (State.Process, or the default
// spec's for a container whose state has none): what exec starts from when it is given a
// command rather than a whole process, as runc starts from the container's config.
func ContainerProcess(root, id string) (*specs.Process, error) {
	s, err := loadState(root, id)
	if err != nil {
		return nil, err
	}
	if s.state.Process == nil {
		return DefaultSpec().Process, nil
	}
	return s.state.Process, nil
}

// withContainersLimits gives p, a process to exec, the container's rlimits and capabilities
// where p names none, as runc does: a process file (exec --process) without them would
// otherwise run with the caller's rlimits, the host's, and no capabilities at all.
func withContainersLimits(p, container *specs.Process) {
	if container == nil {
		return
	}
	if len(p.Rlimits) == 0 {
		p.Rlimits = container.Rlimits
	}
	if p.Capabilities == nil {
		p.Capabilities = container.Capabilities
	}
}

// ExecInContainer runs o.Process in the container and returns its exit status (128+N when signal N
// killed it); with Detach, 0 once it runs.
func ExecInContainer(o ExecOptions) (int, error) {
	if err := checkExecProcess(o); err != nil {
		return 0, err
	}
	s, unlock, err := openState(o.StateRoot, o.ID)
	if err != nil {
		return 0, err
	}
	defer func() { unlock() }()
	if err := checkExecStatus(s); err != nil {
		return 0, err
	}
	withContainersLimits(o.Process, s.state.Process)
	joined, err := namespacesToJoin(s.state.Pid)
	if err != nil {
		return 0, err
	}
	var signals <-chan os.Signal
	if !o.Detach {
		// Catch signals from now on, so none is lost before the program runs; and be the
		// program's reaper once the stage exits: prctl(2) PR_SET_CHILD_SUBREAPER.
		var stopSignals func()
		signals, stopSignals = catchSignals(o.Signals)
		defer stopSignals()
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	cg, err := s.openCgroup()
	if err != nil {
		return 0, err
	}
	cfg := execConfig{Process: o.Process, InitPid: s.state.Pid, InitStart: s.state.InitStart,
		Namespaces: joined, NoNewKeyring: s.state.NoNewKeyring, Raw: rawArgsOf(o.Process),
		KeyringRules: s.state.KeyringRules}
	if cg != nil {
		cfg.CgroupTasks = cg.TaskFiles()
	}
	prog, err := startExecStage(o, cfg, cg)
	if err != nil {
		return 0, err
	}
	unlock() // the program runs: delete may go ahead
	unlock = func() {}
	o.Log.Debug("exec: process running", "id", o.ID, "pid", prog.pid)
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(prog.pid)), 0o644); err != nil {
			// The exec failed: the program must not run on where no one knows its pid (runc
			// ends it too).
			if kerr := unix.PidfdSendSignal(prog.pidfd, unix.SIGKILL, nil, 0); kerr != nil {
				err = fmt.Errorf("%w; and pidfd_send_signal SIGKILL to the program (pid %d): %v", err, prog.pid, kerr)
			}
			prog.close()
			return 0, err
		}
	}
	if o.Detach {
		prog.close()
		return 0, nil
	}
	return prog.wait(signals), nil
}

// checkExecProcess validates the process as create validates the spec's, and names what
// this runtime does not apply.
func checkExecProcess(o ExecOptions) error {
	if err := ValidateID(o.ID); err != nil {
		return err
	}
	p := o.Process
	if p == nil {
		return errors.New("exec: no process given")
	}
	if err := validateProcess(&specs.Spec{Process: p}); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	for _, w := range capabilityWarnings(p.Capabilities) {
		o.Log.Warn("exec: " + w)
	}
	if err := CheckPreservedFDs(o.PreserveFDs); err != nil {
		return err
	}
	if err := CheckConsoleSocket(o.Detach, p.Terminal, o.ConsoleSocket); err != nil {
		return err
	}
	for _, w := range processUnsupported("exec", p) {
		o.Log.Warn(w)
	}
	return nil
}

// checkExecStatus refuses a container whose init is gone. A created container is fine, as
// with runc: its init exists, and so do its namespaces. A paused one would freeze the stage
// as soon as it joins the cgroup.
func checkExecStatus(s *stateDir) error {
	switch st := s.status(); st {
	case specs.StateRunning, specs.StateCreated:
		return nil
	case StatePaused:
		return fmt.Errorf("container %q is paused: resume it first", s.state.ID)
	default:
		return fmt.Errorf("container %q: %w", s.state.ID, ErrNotRunning)
	}
}

// execNamespaces are the entries of /proc/PID/ns that exec may join, with their setns flags.
var execNamespaces = []struct {
	name string
	flag uintptr
}{
	{"cgroup", unix.CLONE_NEWCGROUP}, {"ipc", unix.CLONE_NEWIPC}, {"mnt", unix.CLONE_NEWNS},
	{"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"time", unix.CLONE_NEWTIME},
	{"user", unix.CLONE_NEWUSER}, {"uts", unix.CLONE_NEWUTS},
}

// namespacesToJoin compares the namespaces of the container's init with our own and returns
// the flags of those that differ. Asking the kernel, rather than reading the spec's list,
// covers every way the container got them (new, joined by path, a cgroup namespace made
// after clone) and skips a "joined" one that is in fact the host's; nothing needs recording.
// User and time namespaces cannot be joined by a multithreaded process (setns(2): EINVAL,
// EUSERS), which every Go program is, so a container with its own is refused.
func namespacesToJoin(pid int) (uintptr, error) {
	var flags uintptr
	for _, ns := range execNamespaces {
		theirs, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns.name)
		switch {
		case errors.Is(err, unix.ENOENT) && Alive(pid):
			continue // this kernel has no such namespace
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH):
			return 0, fmt.Errorf("container init %d: %w", pid, ErrNotRunning)
		case err != nil:
			return 0, &pathError{"readlink", "/proc/" + strconv.Itoa(pid) + "/ns/" + ns.name, err}
		}
		if ours, _ := os.Readlink("/proc/self/ns/" + ns.name); ours == theirs {
			continue
		}
		if ns.flag == unix.CLONE_NEWUSER || ns.flag == unix.CLONE_NEWTIME {
			return 0, fmt.Errorf("exec: the container has its own %s namespace, which a multithreaded (Go) process cannot join", ns.name)
		}
		flags |= ns.flag
	}
	return flags, nil
}

// namespaceNames says which namespaces flags holds, for messages.
func namespaceNames(flags uintptr) string {
	names := ""
	for _, ns := range execNamespaces {
		if flags&ns.flag != 0 {
			if names != "" {
				names += ","
			}
			names += ns.name
		}
	}
	return names
}

// startExecStage starts the stage, reads its messages until the program runs, and waits for
// the stage to exit.
func startExecStage(o ExecOptions, cfg execConfig, cg cgroups.Manager) (*program, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	defer unix.Close(pair[0])
	stageSync := os.NewFile(uintptr(pair[1]), "exec-sync")
	defer stageSync.Close()
	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer configR.Close()
	// The config is small (a process), far below a pipe's buffer: written before the fork.
	data, err := encodeJSON(cfg)
	if err == nil {
		_, err = configW.Write(data)
	}
	configW.Close()
	if err != nil {
		return nil, fmt.Errorf("send exec config: %w", err)
	}
	stdio, closeStdio, err := stdioFDs(RunOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	// The stage is born in the container's cgroup where clone3 can put it (v2, and the cgroup2
	// part of a hybrid host), and its thread moves itself into the v1 ones: the program it
	// forks inherits both. Neither waits for the RCU grace period a process move does.
	cgroupFD, err := cgroupStart(cg)
	if err != nil {
		return nil, err
	}
	if cgroupFD >= 0 {
		defer unix.Close(cgroupFD)
	}
	attr := &syscall.ProcAttr{
		Env: initEnv(o.PreserveFDs),
		// fds 0-2, the preserved fds, then the config pipe and the sync socket (see init.go).
		Files: append(append(stdio, preservedFiles(o.PreserveFDs)...), configR.Fd(), stageSync.Fd()),
		Sys:   &syscall.SysProcAttr{UseCgroupFD: cgroupFD >= 0, CgroupFD: cgroupFD},
	}
	// What the cgroup counted so far: the container's program may have met its limits
	// already, and a stage that dies is blamed only on what it met itself (diedInSetup).
	var before cgroups.LimitCounts
	if cg != nil {
		before, _ = cg.LimitCounts()
	}
	pid, err := forkExecStage(attr)
	if err != nil {
		return nil, &pathError{"start", "exec stage", err}
	}
	configR.Close()
	stageSync.Close()
	prog, err := awaitProgram(pair[0], o)
	ws := waitPid(pid)
	switch {
	case errors.Is(err, errStageGone):
		err = diedInSetup("exec stage", ws, cg, before)
	case err == nil && statusOf(ws) != 0:
		err = fmt.Errorf("exec stage exited with status %d", statusOf(ws))
	}
	if err != nil {
		if prog != nil {
			prog.close()
		}
		return nil, err
	}
	return prog, nil
}

// forkExecStage starts this binary, from its read-only mount, as the exec stage.
func forkExecStage(attr *syscall.ProcAttr) (int, error) {
	self, err := openReadonlySelf()
	if err != nil {
		return 0, err
	}
	defer self.close()
	path, err := self.pathFor(len(attr.Files))
	if err != nil {
		return 0, err
	}
	var pid int
	err = withMonitorSlack(func() (err error) {
		pid, err = syscall.ForkExec(path, []string{"contain", InitArg, execStageArg}, attr)
		return err
	})
	return pid, err
}

// errStageGone is awaitProgram's error when the stage closed its end before the program ran:
// it died, and its wait status says more (diedInSetup).
var errStageGone = errors.New("exec stage exited before the process started")

// awaitProgram reads the stage's messages until it says the program runs.
func awaitProgram(sync int, o ExecOptions) (*program, error) {
	prog := &program{pid: -1, pidfd: -1, stdin: o.Stdin, stdout: o.Stdout, consoleSocket: o.ConsoleSocket}
	fail := func(err error) (*program, error) {
		prog.close()
		return nil, err
	}
	var in messageReader
	for {
		m, fds, err := in.receive(sync)
		if errors.Is(err, io.EOF) {
			return fail(errStageGone)
		}
		if err != nil {
			return fail(err)
		}
		switch m.Type {
		case msgError:
			return fail(errors.New(m.Text))
		case msgPty:
			if err := prog.receivePty(fds, m.Text); err != nil {
				return fail(err)
			}
		case msgStarted:
			if len(fds) != 1 {
				return fail(errors.New("exec stage sent no pidfd with its pid"))
			}
			prog.pidfd = fds[0]
			if prog.pid, err = strconv.Atoi(m.Text); err != nil {
				return fail(fmt.Errorf("exec stage sent pid %q", m.Text))
			}
			return prog, nil
		}
	}
}

// program is the parent's handle on the process exec started.
type program struct {
	pid           int
	pidfd         int // signals go through it
	console       *console
	stdin         *os.File
	stdout        *os.File
	consoleSocket string
}

// receivePty relays the pty master, or passes it to the console socket (as init's).
func (p *program) receivePty(fds []int, name string) error {
	ip := &initProcess{stdin: p.stdin, stdout: p.stdout, consoleSocket: p.consoleSocket}
	if err := ip.receivePty(fds, name); err != nil {
		return err
	}
	p.console = ip.console
	return nil
}

// wait relays signals (and the terminal) until the program exits, and returns its status.
// The program is our child once the stage is gone, because we are its subreaper.
func (p *program) wait(signals <-chan os.Signal) int {
	defer p.close()
	exited := make(chan unix.WaitStatus, 1)
	go func() { exited <- waitExit(p.pid, p.pidfd) }()
	relayed := relayConsole(p.console, p.stdin, p.stdout)
	ws := relaySignals(signals, p.console, p.pidfd, exited)
	relayed.drain()
	return statusOf(ws)
}

// close releases the pidfd and the terminal, and puts the user's terminal back.
func (p *program) close() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.console != nil {
		p.console.restore()
		p.console.master.Close()
		p.console = nil
	}
}
