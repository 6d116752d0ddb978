package isolate

import (
	"fmt"
	"log/slog"
	"path/filepath"

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

// makeCgroup records the container's cgroup in its state, then makes it with the spec's
// limits. Every container gets one, limits or not: pause, kill and exec act on it.
func makeCgroup(spec *specs.Spec, state *stateDir, log *slog.Logger) (cgroups.Manager, error) {
	path, err := cgroups.Resolve(spec.Linux.CgroupsPath, state.state.ID)
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
	state.state.Cgroup = &CgroupRecord{Path: path, Owned: cg.Missing()}
	state.state.CgroupProcs = cgroupProcsFiles(cg)
	if err := state.save(); err != nil {
		return nil, err
	}
	warnings, err := cg.Create(withRuntimeDevices(spec.Linux.Resources, spec.Linux.Devices))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	log.Debug("cgroup made", "path", path, "version", cg.Version())
	return cg, nil
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

// joinCgroups moves this process into the cgroups whose cgroup.procs files are given:
// writing "0" to one means "the writing process" (cgroups(7)).
func joinCgroups(files []string) error {
	for _, f := range files {
		fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &pathError{"open", f, err}
		}
		_, err = unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return &pathError{"join cgroup: write", f, err}
		}
	}
	return nil
}
