package isolate

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The lifecycle of runtime-spec's runtime.md, split across processes the way engines drive it:
// create builds the container and leaves its init waiting on the exec fifo; start lets it
// exec; state, kill and delete act on it through its state directory, under a file lock so
// that two contain processes never act on one container at once.

// ErrNotExist and ErrNotRunning are the errors engines match on (runc's wording).
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrNotRunning = errors.New("container not running")
)

const execFifoName = "exec.fifo"

// Create makes the container and returns when its init waits for Start. On failure nothing is
// left: no state, no process.
func Create(o RunOptions) error {
	p, err := prepare(o)
	if err != nil {
		return err
	}
	defer p.joins.close()
	state := p.state
	unlock, err := lockState(state.path)
	if err != nil {
		state.removeOrWarn(o.Log)
		return err
	}
	defer unlock()
	ok, made := false, false
	defer func() {
		if !ok {
			state.removeOrWarn(o.Log)
			if made { // a hook failed, or what came after: runtime.md steps 3-5, then 12 and 13
				runPoststop(o.Log, o.Spec.Hooks, state.state.State)
			}
		}
	}()
	fifoPath := filepath.Join(state.path, execFifoName)
	// 0622: init opens it for writing after it became the spec's user, who may be anyone
	// (the state directory above is root's alone, 0700).
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return &pathError{"mkfifo", fifoPath, err}
	}
	if err := unix.Chmod(fifoPath, 0o622); err != nil { // past the umask
		return &pathError{"chmod", fifoPath, err}
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	c, err := startInit(o, p, fifo)
	if err != nil {
		return err
	}
	made = true
	defer func() {
		if !ok {
			c.kill()
		}
	}()
	if h := o.Spec.Hooks; h != nil {
		// start runs poststart and delete runs poststop, long after this process is gone.
		state.state.Poststart, state.state.Poststop = h.Poststart, h.Poststop
	}
	devices, err := readyInit(c, o, state)
	if err != nil {
		return err
	}
	// Before the kill: back to the host if create fails (once released below, this does nothing).
	defer devices.release(true, o.Log)
	if err := c.created(o, state); err != nil {
		return err
	}
	o.Log.Debug("container created", "id", o.ID, "pid", c.pid)
	c.sync.close() // init no longer listens; it waits on the fifo
	c.sync = nil
	devices.release(false, o.Log) // created: the devices are the container's
	ok = true
	return nil
}

// Start lets a created container's init exec the process, then runs the poststart hooks.
// A poststart hook that fails stops the container (runtime.md step 9); delete then removes
// it. The hooks run after the state's lock is let go: kill and delete must not wait for them.
func Start(root, id string, log *slog.Logger) error {
	s, unlock, err := openState(root, id)
	if err != nil {
		return err
	}
	started, err := start(s)
	unlock()
	if err != nil {
		return err
	}
	// Without the lock: init may be slow to answer (stopped, or its startContainer hooks
	// hang), and kill or delete --force must still be able to end the container.
	if err := started.readStartByte(); err != nil {
		return err
	}
	if err := started.awaitExec(); err != nil {
		return err
	}
	if err := runHooks("poststart", s.state.Poststart, s.state.State); err != nil {
		if kerr := Kill(root, id, unix.SIGKILL, true); kerr != nil && !errors.Is(kerr, ErrNotRunning) {
			log.Warn(kerr.Error())
		}
		return fmt.Errorf("%w (the container was stopped)", err)
	}
	return nil
}

// start is Start under the state's lock: it opens the exec fifo, which releases init, removes
// it and writes the state "running". That is all one start does before another may look:
// the fifo's name is gone before anything is read from it, so a start killed at any point
// leaves a container that reads "running" (or "stopped" once init failed), never a "created"
// one whose init already went on. What it returns waits, without the lock, for init.
func start(s *stateDir) (*execFifo, error) {
	if st := s.status(); st != specs.StateCreated {
		return nil, fmt.Errorf("container %q is %s: only a created container can be started", s.state.ID, st)
	}
	f, err := openExecFifo(s)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(s.path, execFifoName))
	if err := s.update(specs.StateRunning, s.state.Pid); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// execFifo is the read end of a started container's exec fifo, and a pidfd of its init.
type execFifo struct{ fifo, pidfd int }

func (f *execFifo) close() {
	unix.Close(f.fifo)
	unix.Close(f.pidfd)
}

// openExecFifo opens the exec fifo for reading, which releases init's open for writing, and
// a pidfd of init.
func openExecFifo(s *stateDir) (*execFifo, error) {
	// The pidfd first: once the fifo is open, init may exec, and a short program may exit and
	// be reaped before a pidfd could still be had.
	pidfd, err := unix.PidfdOpen(s.state.Pid, 0)
	if err != nil {
		return nil, fmt.Errorf("container init %d: %w", s.state.Pid, err)
	}
	path := filepath.Join(s.path, execFifoName)
	fifo, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(pidfd)
		return nil, &pathError{"open", path, err}
	}
	return &execFifo{fifo: fifo, pidfd: pidfd}, nil
}

// readStartByte reads the byte init writes once its open of the fifo returned. It polls init's
// pidfd too: an init that died will never write, and Start must not wait forever for it.
func (f *execFifo) readStartByte() error {
	fds := []unix.PollFd{{Fd: int32(f.fifo), Events: unix.POLLIN}, {Fd: int32(f.pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			f.close()
			return fmt.Errorf("poll exec fifo: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			break
		}
		if fds[1].Revents&unix.POLLIN != 0 {
			f.close()
			return errors.New("container init exited before start")
		}
	}
	buf := make([]byte, 1)
	if n, err := unix.Read(f.fifo, buf); n != 1 {
		f.close()
		if err == nil { // end of file: init closed its end without a byte
			return errors.New("read exec fifo: container init exited before start")
		}
		return fmt.Errorf("read exec fifo: %w", err)
	}
	return nil
}

// awaitExec waits until init has exec'd the program (after its startContainer hooks): init
// keeps its end of the fifo open, close-on-exec, so the fifo hangs up exactly when execve(2)
// succeeds, or when init dies. An init that fails instead (a startContainer hook, the exec)
// writes its error into the fifo before it exits (see Init). Poststart hooks run after the
// program is executed (runtime.md), and start returns only then.
func (f *execFifo) awaitExec() error {
	defer f.close()
	fds := []unix.PollFd{{Fd: int32(f.fifo), Events: unix.POLLIN}, {Fd: int32(f.pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll exec fifo: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			msg := make([]byte, 4096)
			if n, _ := unix.Read(f.fifo, msg); n > 0 {
				return fmt.Errorf("container init: %s", msg[:n])
			}
		}
		if fds[0].Revents&unix.POLLHUP != 0 || fds[1].Revents&unix.POLLIN != 0 {
			return nil
		}
	}
}

// LoadState reads a container's state, with its status as it is now.
func LoadState(root, id string) (State, error) {
	s, err := loadState(root, id)
	if err != nil {
		return State{}, err
	}
	st := s.state
	st.Status = s.status()
	if st.Owner, err = ownerOf(s.path); err != nil {
		return State{}, err
	}
	// The runtime's own notes, not part of the state; the process and the hooks may carry
	// secrets in their environment.
	st.Process, st.Devices, st.Poststart, st.Poststop = nil, nil, nil, nil
	if st.Status == specs.StateStopped {
		st.Pid = 0
	}
	return st, nil
}

// List returns the state of every container under root, sorted by id, and an error for each
// whose state cannot be read (runc names those too): a container left out silently would be
// processes and cgroups nobody sees.
func List(root string) ([]State, []error, error) {
	if err := checkStateRoot(root); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []State
	var unreadable []error
	for _, e := range entries {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		st, err := LoadState(root, e.Name())
		switch {
		case err == nil:
			out = append(out, st)
		case !errors.Is(err, ErrNotExist): // not one deleted since ReadDir
			unreadable = append(unreadable, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, unreadable, nil
}

// Kill sends sig to the container's init, or with all to every process in its cgroup (in its
// pid namespace where it has no cgroup of its own).
func Kill(root, id string, sig unix.Signal, all bool) error {
	s, unlock, err := openState(root, id)
	if err != nil {
		return err
	}
	defer unlock()
	stopped := s.status() == specs.StateStopped
	switch {
	case all && stopped && sig != 0:
		// What init left in the cgroup (a container without a pid namespace of its own) is
		// what --all is for once it exited, as engines use it (runc does the same). Only the
		// cgroup: init's pid may be another process's by now.
		return s.killCgroup(sig)
	case all && !stopped:
		return s.killAll(sig)
	case stopped:
		return fmt.Errorf("container %q: %w", id, ErrNotRunning)
	}
	if err := signalInit(s, sig); err != nil || sig != unix.SIGKILL {
		return err
	}
	// A frozen process cannot act on SIGKILL until it is thawed (the v1 freezer): a paused
	// container is thawed to die, as runc does, or it would wait, paused, with the signal.
	if cg, err := s.openCgroup(); err == nil && cg != nil {
		if frozen, _ := cg.Frozen(); frozen {
			return cg.Freeze(false)
		}
	}
	return nil
}

// killAll signals every process of the container: those in its cgroup, which holds them
// all even when the pid namespace is shared, or else those in its pid namespace. SIGKILL
// goes through the cgroup's own kill, which no fork can outrun and which reaches a paused
// container's frozen processes too.
func (s *stateDir) killAll(sig unix.Signal) error {
	if err := s.killCgroup(sig); !errors.Is(err, ErrNotRunning) {
		return err
	}
	return killAll(s.state.Pid, sig)
}

// killCgroup signals every process in the container's cgroup, or says ErrNotRunning when it
// has none.
func (s *stateDir) killCgroup(sig unix.Signal) error {
	cg, err := s.openCgroup()
	if cg == nil || err != nil || !cg.Exists() {
		return fmt.Errorf("container %q: %w", s.state.ID, ErrNotRunning)
	}
	if sig == unix.SIGKILL {
		return cg.Kill()
	}
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	for _, p := range pids {
		unix.Kill(p, sig)
	}
	return nil
}

// Delete removes a stopped container, or a created one whose program never ran (as runc
// does: engines delete a task they never started); with force, it kills one that still runs
// first. With force, a container that does not exist is not an error: the goal is that it
// is gone. The poststop hooks run once it is (runtime.md steps 12 and 13).
func Delete(root, id string, force bool, log *slog.Logger) error {
	s, unlock, err := openState(root, id)
	if errors.Is(err, ErrNotExist) && force {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if st := s.status(); st != specs.StateStopped {
		if !force && st != specs.StateCreated {
			return fmt.Errorf("container %q is %s: stop it first, or delete --force", id, st)
		}
		if err := killAndWait(s); err != nil {
			return err
		}
	}
	return s.removeStopped(log)
}

// removeStopped takes away a container that no longer runs: its cgroup (ending what is left
// in it), its state, then its poststop hooks.
func (s *stateDir) removeStopped(log *slog.Logger) error {
	if err := s.removeCgroup(); err != nil {
		// The state stays, so that delete can be tried again; the poststop hooks run then,
		// once the container is gone, and not at every try.
		return err
	}
	err := s.removeDir()
	if s.state.Pid != 0 || s.state.InitStart != 0 { // a container that was made: its poststop
		runPoststop(log, &specs.Hooks{Poststop: s.state.Poststop}, s.state.State)
	}
	return err
}

// ErrStillRuns is DeleteLeftover's refusal: something of the container still runs.
var ErrStillRuns = errors.New("something of it still runs")

// DeleteLeftover deletes a container as Delete does, but only when nothing of it runs any
// more: its init has exited, or was never made (a create that died half-way), and its cgroup
// holds no process (one without a pid namespace of its own may leave some behind). Otherwise
// it changes nothing and returns ErrStillRuns, saying what runs. It is for clean-up tools
// (workshop reset), which must never end a process: the decision is made under the state's
// lock, where no contain command changes the container meanwhile.
func DeleteLeftover(root, id string, log *slog.Logger) error {
	s, unlock, err := openState(root, id)
	if err != nil {
		return err
	}
	defer unlock()
	if st := s.status(); st != specs.StateStopped && (st != specs.StateCreating || s.state.Pid != 0) {
		return fmt.Errorf("container %q is %s: %w", id, st, ErrStillRuns)
	}
	cg, err := s.openCgroup()
	if err != nil {
		return err
	}
	if cg != nil && cg.Exists() {
		pids, err := cg.Pids()
		if err != nil {
			return fmt.Errorf("container %q: list its cgroup %s: %w", id, cg.Path(), err)
		}
		if len(pids) > 0 {
			return fmt.Errorf("container %q: %d processes are in its cgroup %s (contain delete ends them): %w", id, len(pids), cg.Path(), ErrStillRuns)
		}
	}
	return s.removeStopped(log)
}

// runPoststop runs the poststop hooks of a container that is gone, each one even when one
// before failed, with a warning for each failure (runtime.md step 13).
func runPoststop(log *slog.Logger, h *specs.Hooks, st specs.State) {
	if h == nil {
		return
	}
	st.Status, st.Pid = specs.StateStopped, 0 // as `state` says it: the pid may be another's by now
	warnOnHookError(log, runPostHooks("poststop", h.Poststop, st))
}

// openInit opens a pidfd of a container's init if it is still the process a state recorded
// (pid and start time: the pid could be another's by now). who names the container in the
// error: ErrNotRunning when init is gone, pidfd_open(2)'s own error otherwise (EMFILE; ENOSYS
// before Linux 5.3; a seccomp refusal), which is no answer to whether it runs.
func openInit(pid int, start uint64, who string) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EINVAL) {
		// EINVAL: the pid is a thread of another process by now, or no pid at all (0).
		return -1, fmt.Errorf("%s: %w", who, ErrNotRunning)
	}
	if err != nil {
		return -1, &pathError{"pidfd_open", fmt.Sprintf("%s (init, pid %d)", who, pid), err}
	}
	if got, err := processStart(pid); err != nil || got != start {
		unix.Close(pidfd)
		return -1, fmt.Errorf("%s: %w", who, ErrNotRunning)
	}
	return pidfd, nil
}

// signalInit signals init, only if it is still the process the state recorded.
func signalInit(s *stateDir, sig unix.Signal) error {
	pidfd, err := openInit(s.state.Pid, s.state.InitStart, fmt.Sprintf("container %q", s.state.ID))
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	return sendSignal(pidfd, s.state.ID, s.state.Pid, sig)
}

// sendSignal signals the process of pidfd, init of container id. ESRCH means that it exited
// and was reaped since the pidfd was opened: it is not running, which is what delete --force
// wants. That happens: delete kills the cgroup first, and an engine's shim (a subreaper) reaps
// init at once, between the checks of signalInit and this signal.
func sendSignal(pidfd int, id string, pid int, sig unix.Signal) error {
	err := unix.PidfdSendSignal(pidfd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("container %q: %w", id, ErrNotRunning)
	}
	if err != nil {
		return fmt.Errorf("pidfd_send_signal %s to %d: %w", unix.SignalName(sig), pid, err)
	}
	return nil
}

// killAndWait SIGKILLs init (the kernel then kills the rest of its pid namespace) and waits
// until it is gone.
func killAndWait(s *stateDir) error {
	if s.state.Pid == 0 {
		return nil // killed before init existed: nothing runs
	}
	// The cgroup's kill first: a paused container's processes are frozen, and on v1 a frozen
	// process cannot die of SIGKILL until it is thawed, which the cgroup kill does.
	// Best effort: init's own SIGKILL below still ends a container whose cgroup is gone.
	s.killAll(unix.SIGKILL)
	if err := signalInit(s, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); s.status() != specs.StateStopped; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("container %q: init %d still alive 10s after SIGKILL", s.state.ID, s.state.Pid)
		}
	}
	return nil
}

// killAll signals every process in the pid namespace of pid.
func killAll(pid int, sig unix.Signal) error {
	pids, err := pidNamespaceMembers(pid)
	if err != nil {
		return err
	}
	for _, p := range pids {
		unix.Kill(p, sig)
	}
	return nil
}

// Processes lists the host pids of a container's processes: those in its cgroup, or in its
// init's pid namespace where it has no cgroup of its own.
func Processes(root, id string) ([]int, error) {
	s, unlock, err := openState(root, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The cgroup holds the container's processes and no one else's, even when the pid
	// namespace is another container's (a pod sharing one), as runc lists them; and it holds
	// them until delete, so a stopped container's list is what its init left behind (one
	// without a pid namespace of its own), as with runc, for kill --all.
	if cg, err := s.openCgroup(); err == nil && cg != nil && cg.Exists() {
		pids, err := cg.Pids()
		sort.Ints(pids)
		return pids, err
	}
	if s.status() == specs.StateStopped {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotRunning)
	}
	return pidNamespaceMembers(s.state.Pid)
}

// pidNamespaceMembers lists the processes whose pid namespace is that of pid, in pid order.
func pidNamespaceMembers(pid int) ([]int, error) {
	link := fmt.Sprintf("/proc/%d/ns/pid", pid)
	ns, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH):
		return nil, fmt.Errorf("container init %d: %w", pid, ErrNotRunning)
	case err != nil:
		return nil, &pathError{"readlink", link, err}
	}
	if own, _ := os.Readlink("/proc/self/ns/pid"); own == ns {
		// A container in the runtime's own pid namespace: "every process in it" would be the
		// whole host. Only its init is known to be the container's.
		return []int{pid}, nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if other, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && other == ns {
			pids = append(pids, p)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// status is the container's status now: what the state says, unless init is gone (stopped)
// or the fifo is (a start that died before writing "running").
func (s *stateDir) status() specs.ContainerState {
	st := s.state.Status
	if st == specs.StateStopped {
		return st
	}
	if s.state.Pid == 0 {
		if st == specs.StateCreating {
			return st
		}
		return specs.StateStopped
	}
	if start, err := processStart(s.state.Pid); err != nil || start != s.state.InitStart {
		return specs.StateStopped
	}
	if st == specs.StateCreated {
		if _, err := os.Stat(filepath.Join(s.path, execFifoName)); errors.Is(err, fs.ErrNotExist) {
			st = specs.StateRunning
		}
	}
	if (st == specs.StateRunning || st == specs.StateCreated) && s.frozen() {
		return StatePaused
	}
	return st
}

// frozen reports whether the container's cgroup is frozen (see Pause).
func (s *stateDir) frozen() bool {
	cg, err := s.openCgroup()
	if cg == nil || err != nil {
		return false
	}
	frozen, _ := cg.Frozen()
	return frozen
}

// processStart reads a live process's start time from /proc/PID/stat (field 22); a zombie
// counts as gone.
func processStart(pid int) (uint64, error) {
	start, exited, err := readStart(pid)
	if err == nil && exited {
		return 0, errors.New("process exited")
	}
	return start, err
}

// Alive reports whether process pid exists and has not exited. A zombie has: only its parent
// has not reaped it yet, which a slow pid 1 may take a second or more to do for an orphan
// (a container's init whose runtime is gone). A pid reused by another process counts as alive.
func Alive(pid int) bool {
	_, exited, err := readStart(pid)
	return err == nil && !exited
}

// readStart reads a process's start time from /proc/PID/stat (field 22), and whether it has
// exited (a zombie, not reaped yet).
func readStart(pid int) (start uint64, exited bool, err error) {
	rest, err := procStat(pid)
	if err != nil {
		return 0, false, err
	}
	start, err = strconv.ParseUint(rest[19], 10, 64) // field 22 overall, 20th after "(comm)"
	return start, rest[0] == "Z" || rest[0] == "X", err
}

// parentPid reads a process's parent's pid from /proc/PID/stat (field 4).
func parentPid(pid int) (int, error) {
	rest, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(rest[1])
}

// procStat reads /proc/PID/stat: the fields after the command's name, from the state on.
func procStat(pid int) ([]string, error) {
	data, err := readFileUpTo("/proc/"+strconv.Itoa(pid)+"/stat", 4096) // a few hundred bytes
	if err != nil {
		return nil, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	rest := strings.Fields(data[strings.LastIndexByte(data, ')')+1:])
	if len(rest) < 20 {
		return nil, errors.New("short /proc/PID/stat")
	}
	return rest, nil
}

// loadState reads root/id/state.json.
func loadState(root, id string) (*stateDir, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := checkStateRoot(root); err != nil {
		return nil, err
	}
	path := filepath.Join(root, id)
	data, err := os.ReadFile(filepath.Join(path, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(path); derr == nil {
			// A state dir without state: a create killed before its first write.
			return &stateDir{path: path, state: State{State: specs.State{ID: id, Status: specs.StateCreating}}}, nil
		}
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	s := &stateDir{path: path}
	// Fields this version does not know (a newer contain wrote the state) are left alone.
	if _, err := decodeJSON(data, &s.state); err != nil {
		return nil, fmt.Errorf("container %q: read state: %w", id, err)
	}
	if s.state.ID != id {
		// A damaged state: acting on it (delete --force would remove the directory and leave
		// the container's processes and cgroups) is worse than saying so.
		return nil, fmt.Errorf("container %q: the state in %s names container %q: damaged", id, path, s.state.ID)
	}
	if cg := s.state.Cgroup; cg != nil {
		// The checks create made of the spec's path, again: kill and delete act on every
		// process in this cgroup, and "/" would be the whole host.
		if p, err := cgroups.Resolve(cg.Path, id); err != nil || p != cg.Path {
			return nil, fmt.Errorf("container %q: the state in %s names the cgroup %q, which no container can have: damaged", id, path, cg.Path)
		}
	}
	return s, nil
}

// openState loads a container's state under its lock; the caller unlocks.
func openState(root, id string) (*stateDir, func(), error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(root, id)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	unlock, err := lockState(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := loadState(root, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return s, unlock, nil
}

// lockState takes an exclusive flock(2) on the container's state directory: two contain
// processes acting on one container take turns.
func lockState(path string) (func(), error) {
	l, err := lockDir(path)
	if err != nil {
		return nil, err
	}
	return l.close, nil
}

// dirLock is an open fd of a container's state directory, and its flock(2). While the fd is
// open, the directory's inode cannot be freed, and so cannot be reused for a new directory
// at the path: a directory found there is this one exactly when it has this fd's device and
// inode (a number alone could be a new directory's, once this one is freed).
type dirLock struct {
	fd   int
	path string
	held bool
}

// lockDir opens the state directory at path and takes its lock.
func lockDir(path string) (*dirLock, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q: %w", filepath.Base(path), ErrNotExist)
		}
		return nil, &pathError{"open", path, err}
	}
	l := &dirLock{fd: fd, path: path}
	if err := l.relock(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// relock takes the lock (again), and fails when the directory at the path is no longer this
// one: while this waited, or since it let go of the lock, the container may have been
// deleted and another one made under the same id, whose state is not ours to act on.
func (l *dirLock) relock() error {
	if err := unix.Flock(l.fd, unix.LOCK_EX); err != nil {
		return &pathError{"flock", l.path, err}
	}
	var locked, now unix.Stat_t
	if unix.Fstat(l.fd, &locked) != nil || unix.Stat(l.path, &now) != nil || locked.Dev != now.Dev || locked.Ino != now.Ino {
		unix.Flock(l.fd, unix.LOCK_UN)
		return fmt.Errorf("container %q: %w (deleted while this waited for it)", filepath.Base(l.path), ErrNotExist)
	}
	l.held = true
	return nil
}

// unlock lets go of the lock and keeps the fd, for relock.
func (l *dirLock) unlock() {
	unix.Flock(l.fd, unix.LOCK_UN)
	l.held = false
}

// close lets go of the lock and the fd; once.
func (l *dirLock) close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}
