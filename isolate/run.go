package isolate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// RunOptions describes one foreground container: create, start, wait, delete.
type RunOptions struct {
	ID        string
	Bundle    string      // absolute; relative paths in the spec are relative to it
	Spec      *specs.Spec // validated by Run
	StateRoot string      // DefaultStateRoot unless --root
	PidFile   string      // where to write the container's pid, if set
	Stdin     *os.File
	Stdout    *os.File
	Stderr    *os.File
	Log       *slog.Logger

	// PreserveFDs: the caller's fds 3 to 3+N-1 reach the container's process (--preserve-fds).
	PreserveFDs int
	// ConsoleSocket: with process.terminal, the pty master goes to this unix socket instead of
	// being relayed (create --console-socket).
	ConsoleSocket string
	// NoNewKeyring: the container keeps the caller's session keyring (--no-new-keyring);
	// by default it gets an anonymous one of its own.
	NoNewKeyring bool
	// Keep: Run leaves the stopped container (its state and cgroup) for `delete`, as runc's
	// run --keep does, instead of removing it when it exits.
	Keep bool
	// Throwaway: Spec's rootfs is shared by runs (the quick form's default rootfs); the
	// container sees it through a copy-on-write overlay, and its writes vanish with it.
	Throwaway bool
	// Signals, if set, are the signals to forward, which the caller catches (CatchSignals);
	// if nil, Run catches ForwardedSignals itself while it runs.
	Signals <-chan os.Signal
}

// ForwardedSignals are relayed from contain to the container's first process: those people
// and supervisors send to stop or poke a program, and those that, sent with kill(2), would end
// contain by Go's default (a stack dump) before its clean-up, leaving the container's state
// and cgroup behind: SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSTKFLT and SIGSYS. The same
// signals raised by a fault in contain still end it, as they must. Those seven cost nothing
// to catch, Go's handler is installed for them already; each of the first seven costs a
// round trip to os/signal's thread, before the container starts. See also lateSignals.
//
// Not forwarded, so that a short container does not pay for them (runc forwards every
// signal): SIGALRM, SIGPWR, SIGXCPU, SIGVTALRM, SIGIO, SIGCONT and the real-time signals from
// 35 on, which contain ignores (`contain kill` sends them), and SIGTSTP, SIGTTIN and SIGTTOU,
// which stop contain, as they stop any program (see README). Signals 32 and 34 no Go program
// can catch or ignore (the runtime reserves them for glibc's and musl's threads, and leaves
// them at the kernel's default): they end contain, as they end runc.
var ForwardedSignals = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
	unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGSTKFLT, unix.SIGSYS,
}

// lateSignals would end contain too, before its clean-up: SIGABRT (Go's stack dump; systemd's
// watchdog sends it) and SIGXFSZ (the kernel's default, a core dump: Go leaves it alone). Each
// costs a round trip to os/signal's thread, 0.25 ms of a single run here, so they are caught
// by a goroutine started once the container's program runs, which nothing waits for: from
// then on they are forwarded too; before, they end contain as they did.
var lateSignals = []os.Signal{unix.SIGABRT, unix.SIGXFSZ}

// caught is the channel of CatchSignals, kept by a process for good: relaySignals adds the
// lateSignals to it.
var (
	caught     chan os.Signal
	catchLater sync.Once
)

// CatchSignals starts catching ForwardedSignals for a process that will exit once its
// container does (the CLI), and never stops: signal.Stop, like signal.Notify, makes a round
// trip to the runtime's signal thread for each signal, 0.06 to 3.7 ms for the seven here, on
// the way out of every `run` and `exec`. Once the container runs, lateSignals come on it too.
func CatchSignals() <-chan os.Signal {
	caught = make(chan os.Signal, 16)
	signal.Notify(caught, ForwardedSignals...)
	return caught
}

// catchSignals returns o's signals, or catches ForwardedSignals until the returned stop.
func catchSignals(given <-chan os.Signal) (signals <-chan os.Signal, stop func()) {
	if given != nil {
		return given, func() {}
	}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, ForwardedSignals...)
	return ch, func() { signal.Stop(ch) }
}

// Run runs a container in the foreground and returns its exit status: the program's own, or
// 128+N when a signal N killed it. Everything it creates is gone when it returns, unless
// o.Keep keeps the stopped container for `delete` (runc's run --keep).
func Run(o RunOptions) (int, error) {
	p, err := prepare(o)
	if err != nil {
		return 0, err
	}
	defer p.joins.close()
	state := p.state
	// As create does, run holds the state's lock while it makes the container, until it
	// runs: another command on this id (update, delete, pause) waits, and never acts on, or
	// writes over, a state that run is about to change. It takes the lock again to remove
	// the container, which a `delete --force` may have done meanwhile, and a `create` made
	// anew under this id: relock leaves such a container alone.
	lock, err := lockDir(state.path)
	if err != nil {
		state.removeOrWarn(o.Log)
		return 0, err
	}
	defer lock.close()
	made, kept := false, false
	defer func() {
		if !kept { // kept: delete removes it, and runs poststop
			removeAfterRun(o, state, lock, made)
		}
	}()

	// Catch signals from now on, so none is lost between start and wait.
	signals, stopSignals := catchSignals(o.Signals)
	defer stopSignals()

	if h := o.Spec.Hooks; h != nil {
		// For a delete of the container: of the stopped one (--keep), or a delete --force
		// of the running one, which then runs them rather than this run (runtime.md step 13).
		state.state.Poststop = h.Poststop
	}
	c, err := startRunProgram(o, p, state, &made)
	if c != nil {
		defer c.kill()
	}
	if err != nil {
		return 0, err
	}
	if err := state.update(specs.StateRunning, c.pid); err != nil {
		return 0, err
	}
	o.Log.Debug("container running", "id", o.ID, "pid", c.pid)
	lock.unlock() // as start does, before the poststart hooks: kill and delete never wait for one
	if hooks := o.Spec.Hooks; hooks != nil {
		// A failure stops the container (runtime.md step 9): the deferred kill.
		if err := runHooks("poststart", hooks.Poststart, state.state.State); err != nil {
			return 0, err
		}
	}
	status, err := c.wait(signals)
	o.Log.Debug("container exited", "id", o.ID, "status", status)
	kept = err == nil && o.Keep
	return status, err
}

// startRunProgram starts a run's program in its container: directly, where nothing in the spec
// or the host needs init (see direct.go), else through init. made says the container's
// making began (its poststop hooks run from then on); the caller kills c, once it is not nil.
func startRunProgram(o RunOptions, p *prepared, state *stateDir, made *bool) (*initProcess, error) {
	why := directStartRefusal(o)
	if why == "" {
		*made = true
		c, err := startDirectly(o, p, func(c *initProcess) error {
			if err := state.noteInit(c.pid); err != nil {
				return err
			}
			if err := limitPids(c.cg, o.Spec, o.Log); err != nil {
				return err
			}
			return c.writePidFile(o.PidFile)
		})
		if !errors.Is(err, errDirectRefused) {
			if err == nil {
				o.Log.Debug("started without init", "pid", c.pid)
			}
			return c, err
		}
		why = err.Error()
	}
	o.Log.Debug("starting init", "why", why)
	return startInitAndProgram(o, p, state, made)
}

// startInitAndProgram starts init, brings it to ready and lets it exec the program (see
// startRunProgram).
func startInitAndProgram(o RunOptions, p *prepared, state *stateDir, made *bool) (*initProcess, error) {
	c, err := startInit(o, p, nil)
	if err != nil {
		return nil, err
	}
	*made = true
	o.Log.Debug("init started", "pid", c.pid)
	devices, err := readyInit(c, o, state)
	if err != nil {
		return c, err
	}
	// Back to the host if the program never started (once released below, this does nothing).
	defer devices.release(true, o.Log)
	o.Log.Debug("init ready: namespaces, mounts, pivot_root, user and capabilities done")
	// run goes from "creating" straight to "running": no `start` waits on a "created" state
	// here, and one state write fewer is a faster start.
	if err := c.writePidFile(o.PidFile); err != nil {
		return c, err
	}
	if err := c.start(); err != nil {
		return c, err
	}
	devices.release(false, o.Log) // the program runs: the devices are the container's
	return c, nil
}

// removeAfterRun removes the container a foreground run made, under its lock again, and then
// runs its poststop hooks if init was started (runtime.md steps 12 and 13). A container a
// `delete --force` removed meanwhile, or that a `create` made anew under the id, is left alone:
// relock says so.
func removeAfterRun(o RunOptions, state *stateDir, lock *dirLock, made bool) {
	if !lock.held {
		if err := lock.relock(); err != nil {
			o.Log.Debug("not removing the container", "id", o.ID, "reason", err)
			return // whoever deleted it removed it, and ran its poststop
		}
	}
	state.removeOrWarn(o.Log)
	lock.close() // the lock goes with the directory's last fd
	if made {
		runPoststop(o.Log, o.Spec.Hooks, state.state.State)
	}
}

// readyInit brings a started init to ready, for Run and Create alike: the network devices
// moved into its namespace, its pid in the state, the state sent when init waits for it, and
// its setup (mounts, pivot_root, user...) done. The devices it returns are the caller's to
// release; when it fails, it has given them back to the host itself.
func readyInit(c *initProcess, o RunOptions, state *stateDir) (*netDevices, error) {
	devices, err := moveNetDevices(o.Spec.Linux.NetDevices, c.pidfd)
	if err != nil {
		return nil, err
	}
	err = state.noteInit(c.pid)
	if err == nil {
		err = c.sendGoAhead(o.Spec)
	}
	if err == nil {
		err = c.awaitReady(o.Spec.Hooks, state.state.State)
	}
	if err == nil {
		err = limitPids(c.cg, o.Spec, o.Log)
	}
	if err != nil {
		devices.release(true, o.Log)
		return nil, err
	}
	return devices, nil
}

// idTaken says that a container with o's id exists already.
func idTaken(o RunOptions) error {
	if dir := filepath.Join(o.StateRoot, o.ID); unix.Access(dir, unix.F_OK) == nil {
		return errContainerExists(o.ID, dir)
	}
	return nil
}

// prepared is what prepare made: the container's rootfs, its state and its cgroup, and the
// namespaces it joins, open (their owner closes them once init has its copies).
type prepared struct {
	rootfs string
	state  *stateDir
	cg     cgroups.Manager
	joins  namespaceFiles
}

// prepare checks everything that can be checked before anything is made, then reserves the
// container's state directory and makes its cgroup.
func prepare(o RunOptions) (*prepared, error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	warnings, err := Validate(o.Spec)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		o.Log.Warn(w)
	}
	rootfs, err := checkRootfs(o.Bundle, o.Spec.Root.Path)
	if err != nil {
		return nil, err
	}
	joins, err := openNamespaces(o.Spec)
	if err != nil {
		return nil, err
	}
	p, err := reserve(o, rootfs)
	if err != nil {
		joins.close()
		return nil, err
	}
	p.joins = joins
	return p, nil
}

// reserve reserves the container's state directory and makes its cgroup (see prepare).
func reserve(o RunOptions, rootfs string) (*prepared, error) {
	// The id is checked here too, so that a taken id is reported as such and not as the
	// cgroup of that container existing already; reserveState's mkdir is the atomic check.
	if err := idTaken(o); err != nil {
		return nil, err
	}
	// With Throwaway, init covers rootfs with a copy-on-write overlay in its own mount
	// namespace (throwawayRoot). The state names rootfs itself, the overlay's lower
	// directory: the default rootfs, which the user knows, and not the overlay, which only
	// the container sees.
	st := newState(o.ID, o.Bundle, rootfs, o.Spec.Annotations)
	st.Process, st.NoNewKeyring = o.Spec.Process, o.NoNewKeyring
	st.KeyringRules = keyringRules(o.Spec.Linux.Seccomp)
	cg, err := planCgroup(o.Spec, &st)
	if err != nil {
		if taken := idTaken(o); taken != nil {
			return nil, taken // another create of this id came between: its cgroup
		}
		return nil, err
	}
	state, err := reserveState(o.StateRoot, st)
	if err != nil {
		return nil, err
	}
	state.cg = cg
	o.Log.Debug("state reserved", "id", o.ID, "dir", state.path, "rootfs", rootfs)
	if err := makeCgroup(cg, o.Spec, o.Log); err != nil {
		if errors.Is(err, cgroups.ErrExists) {
			state.state.Cgroup, state.cg = nil, nil // another container's: not ours to kill or remove
		}
		state.removeOrWarn(o.Log)
		return nil, err
	}
	return &prepared{rootfs: rootfs, state: state, cg: cg}, nil
}

// warnOnHookError logs the failure of a poststop hook: those do not stop the lifecycle
// (runtime.md step 13).
func warnOnHookError(log *slog.Logger, err error) {
	if err != nil {
		log.Warn(err.Error())
	}
}

// runRuntimeHooks runs prestart (deprecated, still honoured) and createRuntime hooks.
func runRuntimeHooks(h *specs.Hooks, state specs.State) error {
	// prestart predates createRuntime; its tools expect the status "created" on stdin.
	pre := state
	pre.Status = specs.StateCreated
	if err := runHooks("prestart", h.Prestart, pre); err != nil { //nolint:staticcheck // deprecated, still run
		return err
	}
	return runHooks("createRuntime", h.CreateRuntime, state)
}

// sendGoAhead lets init go on when it waits for the runtime (waitsForState): it runs hooks,
// which may ask `contain state` for the pid the runtime has just recorded, or the network
// devices have just been moved in.
func (p *initProcess) sendGoAhead(spec *specs.Spec) error {
	if !waitsForState(spec.Hooks, len(spec.Linux.NetDevices) > 0) {
		return nil
	}
	return p.sync.send(message{Type: msgState})
}

// created records that init is ready and waiting: state "created" with its pid, and the pid
// file when one was asked for.
func (p *initProcess) created(o RunOptions, state *stateDir) error {
	if err := state.update(specs.StateCreated, p.pid); err != nil {
		return err
	}
	return p.writePidFile(o.PidFile)
}

// writePidFile writes init's pid to path (--pid-file), when one was asked for.
func (p *initProcess) writePidFile(path string) error {
	if path == "" {
		return nil
	}
	return writeFileAtomic(path, []byte(strconv.Itoa(p.pid)), 0o644)
}

// checkRootfs resolves root.path against the bundle and checks it is a directory.
func checkRootfs(bundle, path string) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(bundle, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", path, errnoOf(err))
	}
	if !info.IsDir() {
		return "", fmt.Errorf("rootfs %s: not a directory", path)
	}
	return filepath.Abs(path)
}

// nsGetNSType is NS_GET_NSTYPE from linux/nsfs.h: the CLONE_NEW* type of a namespace file.
const nsGetNSType = 0xb703

// namespaceFiles are the namespaces a spec joins by path, each opened once by the runtime:
// what is checked is what init joins, and every path is looked up in the runtime's mount
// namespace, where config-linux.md says it is. Indexed by namespace type.
type namespaceFiles map[specs.LinuxNamespaceType]*os.File

// openNamespaces opens every namespace the spec joins and checks its type, and that a joined
// mount or uts namespace is not the runtime's own (refuseHostNamespaceFile), so a wrong path
// fails before anything is created. See ioctl_ns(2).
func openNamespaces(spec *specs.Spec) (namespaceFiles, error) {
	files := namespaceFiles{}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			files.close()
			return nil, &pathError{"open", ns.Path, fmt.Errorf("%s namespace: %w", ns.Type, err)}
		}
		f := os.NewFile(uintptr(fd), ns.Path)
		files[ns.Type] = f
		if err := checkNamespaceFile(spec, ns, fd); err != nil {
			files.close()
			return nil, err
		}
	}
	return files, nil
}

func checkNamespaceFile(spec *specs.Spec, ns specs.LinuxNamespace, fd int) error {
	kind, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return fmt.Errorf("%s namespace %s: not a namespace file: %w", ns.Type, ns.Path, err)
	}
	if uintptr(kind) != namespaceFlags[ns.Type] {
		return fmt.Errorf("%s namespace %s: the file is a namespace of another type", ns.Type, ns.Path)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &pathError{"fstat", ns.Path, err}
	}
	return refuseHostNamespaceFile(spec, ns, &st)
}

// pidFD is the fd of the pid namespace to join, or -1.
func (n namespaceFiles) pidFD() int {
	if f := n[specs.PIDNamespace]; f != nil {
		return int(f.Fd())
	}
	return -1
}

// addTo appends the namespaces init joins to attr's files, and returns their fd numbers in
// init by type (ForkExec gives the child Files[i] as fd i).
func (n namespaceFiles) addTo(attr *syscall.ProcAttr) map[string]int {
	if len(n) == 0 {
		return nil
	}
	fds := map[string]int{}
	for kind, f := range n {
		if kind == specs.PIDNamespace {
			continue // joined by the runtime's thread that forks init
		}
		fds[string(kind)] = len(attr.Files)
		attr.Files = append(attr.Files, f.Fd())
	}
	return fds
}

func (n namespaceFiles) close() {
	for _, f := range n {
		f.Close()
	}
}

// initProcess is the parent's handle on a container's init.
type initProcess struct {
	pid     int
	pidfd   int       // signals go through it: a pid number can be reused once reaped
	sync    *syncConn // our end of the sync socket
	console *console  // set when the container has a terminal
	stdin   *os.File
	stdout  *os.File
	exited  chan unix.WaitStatus // init's wait status, once it exits; nil once received
	sent    chan error           // the config writer's result
	// consoleSocket: where the pty master goes, instead of to console (see consolesocket.go)
	consoleSocket string
	cg            cgroups.Manager // the container's cgroup, nil when it has none: why init died
	// hold, for a direct start, keeps the thread that started the program until kill closes
	// it: the program's parent-death signal is that thread's (see direct.go).
	hold chan struct{}
}

// startInit re-executes this binary as "init" in the container's new namespaces, hands it
// the config, and returns without waiting for it.
func startInit(o RunOptions, prep *prepared, execFifo *os.File) (*initProcess, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	initSync := os.NewFile(uintptr(pair[1]), "init-sync")
	defer initSync.Close()
	parentSync, err := newSyncConn(pair[0])
	if err != nil {
		return nil, err
	}
	configR, configW, err := os.Pipe()
	if err != nil {
		parentSync.close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer configR.Close()
	fail := func(err error) (*initProcess, error) { // before the config is on its way
		parentSync.close()
		configW.Close()
		return nil, err
	}
	stdio, closeStdio, err := stdioFDs(o)
	if err != nil {
		return fail(err)
	}
	defer closeStdio()
	cgroupFD, err := cgroupStart(prep.cg)
	if err != nil {
		return fail(err)
	}
	if cgroupFD >= 0 {
		defer unix.Close(cgroupFD)
	}
	attr := &syscall.ProcAttr{
		Env: initEnv(o.PreserveFDs),
		// fds 0-2, the preserved fds (3 to 3+N-1), then initConfigFD (3+N), initSyncFD (4+N)
		// and, for create, execFifoFD (5+N).
		Files: append(append(stdio, preservedFiles(o.PreserveFDs)...), configR.Fd(), initSync.Fd()),
		Sys:   &syscall.SysProcAttr{Cloneflags: cloneFlags(o.Spec), UseCgroupFD: cgroupFD >= 0, CgroupFD: cgroupFD},
	}
	if execFifo != nil {
		attr.Files = append(attr.Files, execFifo.Fd())
	}
	initCfg := initConfigFor(o, prep, execFifo != nil)
	initCfg.JoinFDs = prep.joins.addTo(attr)
	cfg, err := encodeJSON(initCfg)
	if err != nil {
		return fail(fmt.Errorf("encode init config: %w", err))
	}
	sent := sendConfig(configW, cfg)
	p := &initProcess{sync: parentSync, stdin: o.Stdin, stdout: o.Stdout, exited: make(chan unix.WaitStatus, 1), sent: sent,
		consoleSocket: o.ConsoleSocket, cg: prep.cg}
	if p.pid, p.pidfd, err = forkInit(attr, prep.joins.pidFD(), p.exited); err != nil {
		parentSync.close()
		configR.Close() // unblocks the writer
		<-sent
		return nil, &pathError{"start", "init", err}
	}
	return p, nil
}

// cloneFlags are the namespaces init is cloned into: the new ones of the spec but a new
// cgroup namespace. That one is rooted at the cgroup its creator is in, which must be the
// container's: init unshares it after joining (see init.go). Joined ones (a path) go by setns.
func cloneFlags(spec *specs.Spec) uintptr {
	var flags uintptr
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" && ns.Type != specs.CgroupNamespace {
			flags |= namespaceFlags[ns.Type]
		}
	}
	return flags
}

// initConfigFor is what init is told: the parts of the spec it applies, and what the runtime
// prepared for it (the state for its hooks, the cgroup it joins).
func initConfigFor(o RunOptions, prep *prepared, execFifo bool) initConfig {
	cfg := newInitConfig(o.Spec, prep.rootfs, o.Bundle, execFifo)
	if initHooks(o.Spec.Hooks) {
		st := prep.state.state.State
		st.Status, st.Pid = "", 0 // init's to say
		cfg.State = &st
	}
	cfg.Throwaway, cfg.NoNewKeyring = o.Throwaway, o.NoNewKeyring
	cfg.KeyringRules = prep.state.state.KeyringRules
	if prep.cg != nil {
		cfg.CgroupTasks, cfg.CgroupPath = prep.cg.TaskFiles(), prep.cg.Path()
	}
	return cfg
}

// sendConfig writes init's config into the pipe and closes it; the channel says how that
// went. The config is in the pipe before init starts, so init never waits for it; a spec
// larger than the pipe's buffer would block the write until init reads, so a goroutine
// writes those.
func sendConfig(w *os.File, cfg []byte) chan error {
	sent := make(chan error, 1)
	send := func() {
		_, err := w.Write(cfg)
		sent <- err
		w.Close()
	}
	if pipeSize, _ := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0); len(cfg) < pipeSize {
		send()
	} else {
		go send()
	}
	return sent
}

// stdioFDs passes the caller's stdio to init as fds 0-2, unchanged: byte-exact, no copying.
// A missing one becomes /dev/null, opened here and closed by done, which the caller runs once
// the child is forked: closed before, its number could go to the next file opened (the
// cgroup's directory, say), and the child would get that as its stdio.
func stdioFDs(o RunOptions) (fds []uintptr, done func(), err error) {
	var nulls []*os.File
	done = func() {
		for _, f := range nulls {
			f.Close()
		}
	}
	for _, f := range []*os.File{o.Stdin, o.Stdout, o.Stderr} {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				done()
				return nil, nil, err
			}
			nulls = append(nulls, null)
			f = null
		}
		fds = append(fds, f.Fd())
	}
	return fds, done, nil
}

// forkInit starts init with fork+exec and waits for it in the background, sending its wait
// status to exited. It uses syscall.ForkExec rather than os/exec: os/exec probes pidfd support
// with an extra child process on first use, a cost every container start would pay.
//
// With a pid namespace to join, the calling thread must be the one that forks, because
// setns(2) with CLONE_NEWPID only moves the children of the calling thread. That thread is
// locked to its goroutine and never unlocked, so Go throws it away afterwards (and it is not
// the main thread: see goLockedOffMain); until then it
// also waits for the container, because the parent-death signal fires when the thread that
// forked exits. It waits parked in the poller (waitExit), which keeps the thread and frees its
// P for the goroutines that relay signals.
func forkInit(attr *syscall.ProcAttr, pidNS int, exited chan<- unix.WaitStatus) (pid, pidfd int, err error) {
	if pidNS < 0 {
		if pid, pidfd, err = forkExecInit(attr); err == nil {
			go func() { exited <- waitExit(pid, pidfd) }()
		}
		return pid, pidfd, err
	}
	started := make(chan error)
	goLockedOffMain(func() {
		err := unix.Setns(pidNS, unix.CLONE_NEWPID)
		if err != nil {
			err = fmt.Errorf("setns of the pid namespace: %w", err)
		}
		if err == nil {
			pid, pidfd, err = forkExecInit(attr)
		}
		started <- err
		if err == nil {
			exited <- waitExit(pid, pidfd)
		}
	})
	err = <-started
	return pid, pidfd, err
}

// forkExecInit starts init and opens a pidfd on it before anything can reap it. Init runs
// this binary from a read-only mount of itself (see selfexe.go).
func forkExecInit(attr *syscall.ProcAttr) (int, int, error) {
	self, err := openReadonlySelf()
	if err != nil {
		return 0, -1, err
	}
	defer self.close()
	path, err := self.pathFor(len(attr.Files))
	if err != nil {
		return 0, -1, err
	}
	var pid int
	err = withMonitorSlack(func() (err error) {
		pid, err = syscall.ForkExec(path, []string{"contain", InitArg}, attr)
		return err
	})
	if err != nil {
		return 0, -1, err
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitPid(pid)
		return 0, -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return pid, pidfd, nil
}

// waitExit waits for our child pid to exit and reaps it, like waitPid, but parked in Go's
// poller on a pidfd of it (awaitExit) rather than blocked in wait4(2), for the reason
// syncConn gives.
func waitExit(pid, pidfd int) unix.WaitStatus {
	awaitExit(pidfd)
	return waitPid(pid) // at once when it has exited; blocked until then if awaitExit could not wait
}

// awaitExit parks the calling goroutine in Go's poller until the process behind pidfd has
// exited (a pidfd becomes readable then, see pidfd_open(2)), and leaves it to be reaped. A
// goroutine blocked in a wait system call instead holds its thread's P: with the one P that
// the runtime and init run with, the process's other goroutines then wait for sysmon to take
// the P, up to 10 ms with its naps relaxed. It reports false when it could not wait.
func awaitExit(pidfd int) bool {
	// A duplicate for the poller, which closes it: the caller keeps pidfd.
	fd, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.SetNonblock(fd, true)
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	conn, err := f.SyscallConn()
	if err != nil {
		return false
	}
	exited := false
	conn.Read(func(fd uintptr) bool {
		// WNOWAIT: look, but leave the process to be reaped by its waiter.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		exited = err == nil && info.Signo == int32(unix.SIGCHLD)
		return exited || (err != nil && err != unix.EINTR)
	})
	return exited
}

// waitPid waits for pid to exit and returns its status.
func waitPid(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

// awaitReady reads init's messages until it is ready to exec, or fails.
func (p *initProcess) awaitReady(hooks *specs.Hooks, state specs.State) error {
	if err := <-p.sent; err != nil {
		return fmt.Errorf("send config to init: %w", err)
	}
	for {
		m, fds, err := p.sync.receive()
		if errors.Is(err, io.EOF) {
			ws := <-p.exited
			p.exited = nil
			return diedInSetup("container init", ws, p.cg, cgroups.LimitCounts{}) // a new cgroup
		}
		if err != nil {
			return err
		}
		switch m.Type {
		case msgReady:
			return nil
		case msgHooks:
			if err := runRuntimeHooks(hooks, state); err != nil {
				return err
			}
			if err := p.sync.send(message{Type: msgResume}); err != nil {
				return err
			}
		case msgError:
			return initFailed(m)
		case msgPty:
			if err := p.receivePty(fds, m.Text); err != nil {
				return err
			}
		}
	}
}

// start lets init exec the program and waits until it has (the sync socket closes on exec).
func (p *initProcess) start() error {
	if err := p.sync.send(message{Type: msgStart}); err != nil {
		return err
	}
	m, _, err := p.sync.receive()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	case m.Type == msgError:
		return initFailed(m)
	}
	return fmt.Errorf("init: unexpected message %q after start", m.Type)
}

// wait relays signals (and the terminal) until the program exits, and returns its status.
func (p *initProcess) wait(signals <-chan os.Signal) (int, error) {
	if p.console != nil {
		defer p.console.restore()
	}
	relayed := relayConsole(p.console, p.stdin, p.stdout)
	ws := relaySignals(signals, p.console, p.pidfd, p.exited)
	p.exited = nil
	// The last output before exit still gets to the user. Init's exit ended its pid
	// namespace, and the output ends with it, unless the container has none of its own:
	// what it left may hold the pty (the cgroup's kill ends it after).
	relayed.drain()
	return statusOf(ws), nil
}

// relaySignals forwards signals to the process behind pidfd (a window change resizes the
// pty instead) until its wait status comes on exited, and returns it.
func relaySignals(signals <-chan os.Signal, c *console, pidfd int, exited <-chan unix.WaitStatus) unix.WaitStatus {
	if signals == caught {
		catchLater.Do(func() { go signal.Notify(caught, lateSignals...) })
	}
	jobs, stopJobs := c.jobControl()
	defer stopJobs()
	for {
		select {
		case sig := <-jobs:
			c.suspendOrResume(sig)
		case sig := <-signals:
			if sig == unix.SIGWINCH && c != nil {
				c.resize()
				continue
			}
			unix.PidfdSendSignal(pidfd, sig.(syscall.Signal), nil, 0)
		case ws := <-exited:
			return ws
		}
	}
}

// statusOf is the shell's convention: the exit code, or 128+N for death by signal N.
func statusOf(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// kill ends init if it is still running and reaps it; safe to call more than once.
func (p *initProcess) kill() {
	// SIGKILL before the sync socket closes: init, woken by its end, would otherwise report
	// "EOF" as its own failure, under the runtime's real one (init and the runtime share a
	// CPU, see onecpu.go, and init runs first).
	if p.exited != nil {
		unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		<-p.exited
		p.exited = nil
	}
	if p.sync != nil {
		p.sync.close()
		p.sync = nil
	}
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.console != nil {
		p.console.restore() // a setup that failed after the pty was made
		p.console.master.Close()
	}
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
}
