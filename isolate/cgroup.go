package isolate

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CgroupRecord is what the state keeps of a container's cgroup, written before the cgroup is
// made, so that `delete --force` after a runtime killed mid-create still finds it.
type CgroupRecord struct {
	Path  string   `json:"path"`            // in every hierarchy, such as /contain/ID
	Owned []string `json:"owned,omitempty"` // the directories the container made (see Manager.Missing)
	// DeviceRules are the spec's linux.resources.devices as last applied (create, update):
	// an update that names the same list leaves the device cgroup alone (see Update).
	DeviceRules []specs.LinuxDeviceCgroup `json:"device_rules,omitempty"`
}

// planCgroup opens the container's cgroup without making anything, and writes into st what
// the state must hold before it is made: its path and the directories it will own, and the
// spec's devices (see update). Every container gets a cgroup, limits or not: pause, kill and
// exec act on it.
func planCgroup(spec *specs.Spec, st *State) (cgroups.Manager, error) {
	path, err := cgroups.Resolve(spec.Linux.CgroupsPath, st.ID)
	if err != nil {
		return nil, err
	}
	cg, err := cgroups.Open(cgroups.DefaultRoot, path)
	if err != nil {
		return nil, err
	}
	owned, exists := cg.Missing()
	if exists {
		// Two containers in one cgroup could not be limited, frozen or killed apart.
		if spec.Linux.CgroupsPath == "" { // the default, named after the id
			return nil, fmt.Errorf("cgroup %s already exists: a container %q runs under another state root (--root), or one left it behind (rmdir it when it holds no process)", path, st.ID)
		}
		return nil, fmt.Errorf("cgroup %s already exists: is another container using linux.cgroupsPath %q?", path, spec.Linux.CgroupsPath)
	}
	st.Cgroup = &CgroupRecord{Path: path, Owned: owned}
	if r := spec.Linux.Resources; r != nil {
		st.Cgroup.DeviceRules = r.Devices
	}
	st.Devices = spec.Linux.Devices
	return cg, nil
}

// makeCgroup makes the planned cgroup (recorded in the state already) with the spec's limits,
// but for the pids limit: limitPids writes that once init is ready (see there).
func makeCgroup(cg cgroups.Manager, spec *specs.Spec, log *slog.Logger) error {
	warnings, err := cg.Create(withRuntimeDevices(withDeviceList(withoutPidsLimit(spec.Linux.Resources)), spec.Linux.Devices))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", cg.Path(), err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	log.Debug("cgroup made", "path", cg.Path(), "version", cg.Version())
	return nil
}

// withoutPidsLimit returns r without its pids limit, which limitPids writes later.
func withoutPidsLimit(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil || r.Pids == nil {
		return r
	}
	out := *r
	out.Pids = nil
	return &out
}

// limitPids writes the spec's pids limit into the container's cgroup, once init is ready and
// before the container's program runs. Written earlier, it would count init's own threads: Go
// starts a few before any of init's code runs (sysmon, a thread for each P it wakes), each a
// task to the pids controller, and on v2 init is cloned into the cgroup (CLONE_INTO_CGROUP).
// Measured on a pure v2 host, `--pids-limit 1` and `2` then ended init at its start with Go's
// "failed to create new OS thread (have 2 already; errno=11)", where docker users expect a
// container that cannot fork. The kernel takes a pids.max below pids.current: it refuses new
// forks and ends no one, and init's threads go at its execve(2). runc writes its limits once its
// init runs, too. Only contain's own code runs in the container before this.
func limitPids(cg cgroups.Manager, spec *specs.Spec, log *slog.Logger) error {
	r := spec.Linux.Resources
	if cg == nil || r == nil || r.Pids == nil {
		return nil
	}
	warnings, err := cg.Update(&specs.LinuxResources{Pids: r.Pids})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", cg.Path(), err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	return nil
}

// withDeviceList returns r with a device list, empty where the spec has none. The list is an
// allowlist (config-linux.md, "Allowed Device list"; runc reads it so too): a container whose
// spec names no devices, or allows a few and denies nothing, may still open only the devices
// withRuntimeDevices adds. Without a list, the cgroup would keep its parent's "allow all", and
// a process with CAP_MKNOD could make and open a node of any host device, a disk included.
func withDeviceList(r *specs.LinuxResources) *specs.LinuxResources {
	if r != nil && r.Devices != nil {
		return r
	}
	out := specs.LinuxResources{}
	if r != nil {
		out = *r
	}
	out.Devices = []specs.LinuxDeviceCgroup{}
	return &out
}

// withRuntimeDevices returns r with, when it has a device list, "deny all" before it and allow
// rules after it: for
// every device the runtime makes in /dev itself, for each of the spec's linux.devices, for
// mknod(2) of any device, and for /dev/net/tun. A spec's device list usually starts with
// "deny all" (config-linux.md, "Allowed Device list"): without these, the container could not
// use the /dev/null the runtime gave it. The last matching rule wins, so they go at the end,
// as runc puts them. "deny all" goes first unless the list starts with it already: without
// it, a list of allow rules alone would add to the parent's "allow all" and deny nothing.
// An update with an empty list ("devices": []) is thus "deny all" and the runtime's devices;
// one with no list (nil) leaves the devices as they are.
//
// The last two are runc's and crun's too, and images count on them. "m" lets a process with
// CAP_MKNOD (Docker's default set has it) make a node, as package scripts and debootstrap
// do, but not open it: reading and writing a device still needs its own rule. /dev/net/tun
// makes interfaces only in the container's network namespace, and only with CAP_NET_ADMIN
// (VPN clients in containers open it).
func withRuntimeDevices(r *specs.LinuxResources, devices []specs.LinuxDevice) *specs.LinuxResources {
	if r == nil || r.Devices == nil {
		return r
	}
	out := *r
	out.Devices = nil
	if len(r.Devices) == 0 || !deniesAll(r.Devices[0]) {
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"})
	}
	out.Devices = append(out.Devices, r.Devices...)
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
	// Not 5:1, the host's /dev/console: with a terminal the container's /dev/console is a
	// bind of its pts (136:N), and a node of 5:1 made with CAP_MKNOD would open the host's
	// console, even make it the container's controlling terminal.
	ptmx := int64(2)
	allow("c", 5, &ptmx) // /dev/ptmx, the one in /dev/pts
	allow("c", 136, nil) // /dev/pts/N: no minor is any minor
	tun := int64(200)
	allow("c", 10, &tun) // /dev/net/tun
	for _, kind := range []string{"c", "b"} {
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: kind, Access: "m"})
	}
	return &out
}

// deniesAll says whether rule d is "deny all": no device type or "a", no numbers, every access.
func deniesAll(d specs.LinuxDeviceCgroup) bool {
	anyNumber := func(n *int64) bool { return n == nil || *n < 0 }
	return !d.Allow && (d.Type == "" || d.Type == "a") && anyNumber(d.Major) && anyNumber(d.Minor) &&
		(d.Access == "" || d.Access == "rwm")
}

// openCgroup is the manager of a container whose state recorded a cgroup, or nil.
func (s *stateDir) openCgroup() (cgroups.Manager, error) {
	if s.state.Cgroup == nil {
		return nil, nil
	}
	if s.cg != nil {
		return s.cg, nil
	}
	return cgroups.Open(cgroups.DefaultRoot, s.state.Cgroup.Path)
}

// removeCgroup kills whatever is still in the container's cgroup and removes it.
func (s *stateDir) removeCgroup() error {
	cg, err := s.openCgroup()
	if cg == nil || err != nil {
		return err
	}
	// Kill when the listing fails too (cgroup.kill and the freezer need none), unless the
	// cgroup is gone already.
	if pids, err := cg.Pids(); err != nil && !errors.Is(err, fs.ErrNotExist) || len(pids) > 0 {
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("cgroup %s: kill: %w", cg.Path(), err)
		}
	}
	return cg.Destroy(s.state.Cgroup.Owned)
}

// cgroupStart opens the cgroup2 directory init is cloned into (clone3 with CLONE_INTO_CGROUP,
// see clone(2)): the cgroup on v2, its cgroup2 part on a hybrid host. The fd is for
// SysProcAttr.CgroupFD and the caller closes it; -1 when there is none (pure v1). In the v1
// hierarchies init moves itself, first thing (see cgroups.JoinSelf).
func cgroupStart(cg cgroups.Manager) (fd int, err error) {
	if cg == nil || cg.CloneDir() == "" {
		return -1, nil
	}
	fd, err = cgroups.OpenDir(cg.CloneDir())
	if err != nil {
		return -1, &pathError{"open", cg.CloneDir(), err}
	}
	return fd, nil
}

// enterCgroup puts init in its cgroup, then in its own cgroup namespace when the spec asks
// for one (a new cgroup namespace is rooted at the cgroup its maker is in). On v2, and in the
// cgroup2 part of a hybrid host, init was cloned into its cgroup; in the v1 hierarchies this
// thread, the one that execs the program (Init runs in a package initialiser, where Go keeps
// the main goroutine on the main thread), moves itself. First thing, so that all of init's
// work counts in the cgroup.
func enterCgroup(cfg *initConfig, spec *specs.Spec) error {
	if err := cgroups.JoinSelf(cfg.CgroupTasks); err != nil {
		return err
	}
	if hasNewNamespace(spec, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare CLONE_NEWCGROUP: %w", err)
		}
	}
	return nil
}

// fromParent reads init's messages from the parent.
var fromParent messageReader

// receive reads the parent's next message, which must be of type want.
func receive(want string) (message, error) {
	m, _, err := fromParent.receive(initSyncFD)
	if err == nil && m.Type != want {
		err = fmt.Errorf("expected %q, got %q", want, m.Type)
	}
	return m, err
}
