package isolate

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CgroupRecord is what the state keeps of a container's cgroup, written before the cgroup is
// made, so that `delete --force` after a runtime killed mid-create still finds it.
type CgroupRecord struct {
	Path  string   `json:"path"`            // in every hierarchy, such as /contain/ID
	Owned []string `json:"owned,omitempty"` // the directories the container made (see Manager.Missing)
}

// planCgroup opens the container's cgroup without making anything, and writes into st what
// the state must hold before it is made: its path and the directories it will own, the
// cgroup.procs files an exec joins, and the spec's devices (see update). Every container
// gets a cgroup, limits or not: pause, kill and exec act on it.
func planCgroup(spec *specs.Spec, st *State) (cgroups.Manager, error) {
	path, err := cgroups.Resolve(spec.Linux.CgroupsPath, st.ID)
	if err != nil {
		return nil, err
	}
	cg, err := cgroups.Open(cgroups.DefaultRoot, path)
	if err != nil {
		return nil, err
	}
	if cg.Exists() {
		// Two containers in one cgroup could not be limited, frozen or killed apart.
		return nil, fmt.Errorf("cgroup %s already exists: is another container using linux.cgroupsPath %q?", path, spec.Linux.CgroupsPath)
	}
	st.Cgroup = &CgroupRecord{Path: path, Owned: cg.Missing()}
	st.CgroupProcs = cgroupProcsFiles(cg)
	st.Devices = spec.Linux.Devices
	return cg, nil
}

// makeCgroup makes the planned cgroup (recorded in the state already) with the spec's limits.
func makeCgroup(cg cgroups.Manager, spec *specs.Spec, log *slog.Logger) error {
	warnings, err := cg.Create(withRuntimeDevices(spec.Linux.Resources, spec.Linux.Devices))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", cg.Path(), err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	log.Debug("cgroup made", "path", cg.Path(), "version", cg.Version())
	return nil
}

// withRuntimeDevices returns r with, when it has a device list, an allow rule after it for
// every device the runtime makes in /dev itself, and for each of the spec's linux.devices.
// A spec's device list usually starts with "deny all" (config-linux.md, "Allowed Device
// list"): without these, the container could not use the /dev/null the runtime gave it. The
// last matching rule wins, so they go at the end, as runc puts them.
func withRuntimeDevices(r *specs.LinuxResources, devices []specs.LinuxDevice) *specs.LinuxResources {
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	out := *r
	out.Devices = append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	allow := func(kind string, major int64, minor *int64) {
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: kind,
			Major: &major, Minor: minor, Access: "rwm"})
	}
	for _, d := range append(defaultDevices, devices...) {
		switch d.Type {
		case "c", "u": // u: unbuffered character device, a "c" to the device cgroup
			allow("c", d.Major, &d.Minor)
		case "b":
			allow("b", d.Major, &d.Minor)
		} // p: a fifo, which no device cgroup governs
	}
	console, ptmx := int64(1), int64(2)
	allow("c", 5, &console) // /dev/console, for a terminal
	allow("c", 5, &ptmx)    // /dev/ptmx, the one in /dev/pts
	allow("c", 136, nil)    // /dev/pts/N: no minor is any minor
	return &out
}

// cgroupProcsFiles lists every cgroup.procs file a process writes "0" into to join the
// container's cgroup: exec uses it, as init does on v1.
func cgroupProcsFiles(cg cgroups.Manager) []string {
	if dir := cg.Dir(); dir != "" {
		return append([]string{filepath.Join(dir, "cgroup.procs")}, cg.JoinFiles()...)
	}
	return cg.JoinFiles()
}

// openCgroup is the manager of a container whose state recorded a cgroup, or nil.
func (s *stateDir) openCgroup() (cgroups.Manager, error) {
	if s.state.Cgroup == nil {
		return nil, nil
	}
	return cgroups.Open(cgroups.DefaultRoot, s.state.Cgroup.Path)
}

// removeCgroup kills whatever is still in the container's cgroup and removes it.
func (s *stateDir) removeCgroup() error {
	cg, err := s.openCgroup()
	if cg == nil || err != nil {
		return err
	}
	if pids, _ := cg.Pids(); len(pids) > 0 {
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("cgroup %s: kill: %w", cg.Path(), err)
		}
	}
	return cg.Destroy(s.state.Cgroup.Owned)
}

// cgroupStart tells how init enters the cgroup: on v2 it is cloned straight into it
// (clone3 with CLONE_INTO_CGROUP, see clone(2)), so it never runs outside; the returned fd
// is for SysProcAttr.CgroupFD and the caller closes it. On v1 the fd is -1 and init joins by
// writing to the files the config carries, first thing, before it execs anything.
func cgroupStart(cg cgroups.Manager) (fd int, err error) {
	if cg == nil || cg.Dir() == "" {
		return -1, nil
	}
	fd, err = unix.Open(cg.Dir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &pathError{"open", cg.Dir(), err}
	}
	return fd, nil
}

// cgroupEntry is init's side of getting into its cgroup and then its cgroup namespace.
//
// On v1 the parent writes init's pid into the cgroup (clone3 cannot place a process in a v1
// cgroup) while init sets itself up: the kernel makes the first such move wait for an RCU
// grace period (the cgroup_threadgroup_rwsem, see kernel/cgroup/cgroup.c), 5 to 15 ms on the
// development machine, which init's own work now hides instead of waiting it out first. Init
// needs to be in the cgroup only before two things: making its cgroup namespace (which is
// rooted where its maker stands) and saying "ready" (nothing of the container's runs before).
type cgroupEntry struct {
	parentJoins bool // v1: wait for the parent's "joined"
	newNS       bool // the spec asks for a new cgroup namespace
	done        bool
}

// enter waits until init is in its cgroup, then makes the cgroup namespace; once.
func (e *cgroupEntry) enter() error {
	if e == nil || e.done {
		return nil
	}
	if e.parentJoins && !parentJoined {
		if _, err := receive(msgJoined); err != nil {
			return fmt.Errorf("init: wait for the cgroup: %w", err)
		}
	}
	if e.newNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare CLONE_NEWCGROUP: %w", err)
		}
	}
	e.done = true
	return nil
}

// parentJoined records that the parent's "joined" came, whenever init read it.
var parentJoined bool

// receive reads the parent's next message, which must be of type want. The parent's "joined"
// may come before it at any point: it is noted and skipped.
func receive(want string) (message, error) {
	for {
		m, _, err := receiveMessage(initSyncFD)
		switch {
		case err != nil:
			return m, err
		case m.Type == msgJoined:
			parentJoined = true
			if want == msgJoined {
				return m, nil
			}
		case m.Type != want:
			return m, fmt.Errorf("expected %q, got %q", want, m.Type)
		default:
			return m, nil
		}
	}
}

// joinCgroup puts init in its v1 cgroup: its pid into every hierarchy's cgroup.procs, then
// "joined" to init (see cgroupEntry). On v2 there is nothing to do: init was cloned into it.
func (p *initProcess) joinCgroup(cg cgroups.Manager) error {
	if cg == nil || cg.Dir() != "" {
		return nil
	}
	pid := []byte(strconv.Itoa(p.pid))
	for _, f := range cg.JoinFiles() {
		err := writeCgroupProcs(f, pid)
		if errors.Is(err, unix.ESRCH) {
			return nil // init died: awaitReady says why
		}
		if err != nil {
			return err
		}
	}
	// A send fails only when init is gone (its end closed): awaitReady says why, too.
	sendMessage(p.sync, message{Type: msgJoined})
	return nil
}

// startJoinCgroup runs joinCgroup beside the caller and returns the wait for its result. On
// v1 the first cgroup.procs write waits out an RCU grace period (the cgroup core's
// threadgroup lock; several ms on a small machine): the state write that must follow the
// fork happens in that time instead of after it.
func (p *initProcess) startJoinCgroup(cg cgroups.Manager) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- p.joinCgroup(cg) }()
	return func() error { return <-done }
}

// joinCgroups moves this process into the cgroups whose cgroup.procs files are given:
// writing "0" to one means "the writing process" (cgroups(7)).
func joinCgroups(files []string) error {
	for _, f := range files {
		if err := writeCgroupProcs(f, []byte("0")); err != nil {
			return err
		}
	}
	return nil
}

// writeCgroupProcs moves the process pid (or "0", the writer) into the cgroup of file.
func writeCgroupProcs(file string, pid []byte) error {
	fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", file, err}
	}
	_, err = unix.Write(fd, pid)
	unix.Close(fd)
	if err != nil {
		return &pathError{"join cgroup: write", file, err}
	}
	return nil
}
