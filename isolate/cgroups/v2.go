package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// V2 is a cgroup in the unified hierarchy (cgroup v2).
type V2 struct {
	mount string // where cgroup2 is mounted, /sys/fs/cgroup on a pure v2 host
	path  string // the cgroup, such as /contain/ID
}

// NewV2 returns the v2 cgroup at cgPath under the cgroup2 mount.
func NewV2(mount, cgPath string) *V2 { return &V2{mount: mount, path: cgPath} }

func (c *V2) Version() int        { return 2 }
func (c *V2) Path() string        { return c.path }
func (c *V2) Dir() string         { return filepath.Join(c.mount, c.path) }
func (c *V2) JoinFiles() []string { return nil }
func (c *V2) CloneDir() string    { return c.Dir() }
func (c *V2) TaskFiles() []string { return nil }
func (c *V2) Missing() (missing []string, exists bool) {
	dirs := missingDirs(c.mount, c.path)
	return owned(dirs), len(dirs) == 0 // the walk starts at the cgroup itself
}

func (c *V2) Exists() bool {
	return pathExists(c.Dir())
}

// Create makes the cgroup. In v2 a cgroup only has the controllers its parent enabled in
// cgroup.subtree_control, so each ancestor made here, and the one it hangs from, enables the
// controllers the container's limits need before the next level is made.
func (c *V2) Create(r *specs.LinuxResources) ([]string, error) {
	return create(c, func() error {
		made, err := mkdirAll(c.mount, c.path)
		if errors.Is(err, ErrExists) {
			unmake(made) // the ancestors this call made, if another container's came between
		}
		if err != nil {
			return err
		}
		return c.enableControllers()
	}, r)
}

// enableControllers enables, in every ancestor from the mount down to the cgroup's parent,
// each controller the level above makes available (cgroup-v2.rst, "Enabling and Disabling").
func (c *V2) enableControllers() error { return enableInAncestors(c.mount, c.path, nil) }

// enableInAncestors enables controllers in cgroup.subtree_control of each ancestor of cgPath
// in the cgroup2 hierarchy at mount, the mount's root first: those in only, or every one a
// level makes available when only is nil. One that a level does not have is left to fail
// where it is used, with the name of its missing file.
func enableInAncestors(mount, cgPath string, only []string) error {
	var levels []string
	for p := path.Dir(cgPath); ; p = path.Dir(p) {
		levels = append([]string{p}, levels...)
		if p == "/" {
			break
		}
	}
	for _, p := range levels {
		dir := filepath.Join(mount, p)
		available, err := readFile(dir, "cgroup.controllers")
		if err != nil {
			return &os.PathError{Op: "read", Path: filepath.Join(dir, "cgroup.controllers"), Err: err}
		}
		enabled, _ := readFile(dir, "cgroup.subtree_control")
		var add []string
		for _, ctrl := range strings.Fields(available) {
			if !strings.Contains(" "+enabled+" ", " "+ctrl+" ") && (only == nil || slices.Contains(only, ctrl)) {
				add = append(add, "+"+ctrl)
			}
		}
		if len(add) == 0 {
			continue
		}
		if err := writeFile(dir, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
			return err
		}
	}
	return nil
}

// Update writes the limits in r, then the device filter.
func (c *V2) Update(r *specs.LinuxResources) ([]string, error) {
	dir := c.Dir()
	l, err := v2Limits(r, func(file string) string {
		v, _ := readFile(dir, file)
		return v
	})
	if err != nil {
		return nil, err
	}
	for _, w := range l.writes {
		if err := writeFile(dir, w.file, w.value); err != nil {
			if noSwapAccounting(w, err) {
				continue
			}
			return nil, err
		}
	}
	if r != nil && len(r.Devices) > 0 {
		if err := c.setDevices(r.Devices); err != nil {
			return nil, err
		}
	}
	return l.warnings, nil
}

// noSwapAccounting tells a write of no swap limit to a cgroup that has no memory.swap.max: a
// kernel that does not account swap (swapaccount=0, or no CONFIG_SWAP) has no swap to limit.
// Any other value there is still an error: a limit asked for would not hold.
func noSwapAccounting(w write, err error) bool {
	return w.file == "memory.swap.max" && w.value == "max" && errors.Is(err, fs.ErrNotExist)
}

func (c *V2) setDevices(rules []specs.LinuxDeviceCgroup) error {
	fd, err := openFile(c.Dir(), unix.O_DIRECTORY|unix.O_RDONLY)
	if err != nil {
		return &os.PathError{Op: "open", Path: c.Dir(), Err: err}
	}
	defer unix.Close(fd)
	return setDeviceFilter(fd, rules)
}

func (c *V2) Pids() ([]int, error) { return readPids(c.Dir()) }

// freezeTimeout is how long Freeze waits for the kernel to freeze or thaw every task; a
// variable for the tests.
var freezeTimeout = 5 * time.Second

// Freeze writes cgroup.freeze and waits until cgroup.events reports the new state: the
// kernel freezes the processes asynchronously. A freeze that does not finish is undone, as
// on v1: the container goes on running rather than half stopped.
func (c *V2) Freeze(freeze bool) error {
	value := map[bool]string{true: "1", false: "0"}[freeze]
	if err := writeFile(c.Dir(), "cgroup.freeze", value); err != nil {
		return err
	}
	for deadline := time.Now().Add(freezeTimeout); ; time.Sleep(time.Millisecond) {
		if frozen, err := c.frozenNow(); err != nil || frozen == freeze {
			return err
		}
		if time.Now().After(deadline) {
			if freeze {
				writeFile(c.Dir(), "cgroup.freeze", "0")
			}
			return fmt.Errorf("%s: cgroup.events does not say frozen %s after %v", c.Dir(), value, freezeTimeout)
		}
	}
}

// Frozen reports whether the container's own cgroup is frozen (its cgroup.freeze), as runc
// reads it: cgroup.events says "frozen 1" also when a parent cgroup is frozen (a systemd
// unit's freeze), and resuming the container could not change that.
func (c *V2) Frozen() (bool, error) {
	v, err := readFile(c.Dir(), "cgroup.freeze")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(v) == "1", nil
}

// frozenNow reports whether the cgroup's processes are frozen now (cgroup.events), by its own
// freeze or a parent's: what Freeze waits for.
func (c *V2) frozenNow() (bool, error) {
	events, err := readFile(c.Dir(), "cgroup.events")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(events, "\n") {
		if line == "frozen 1" {
			return true, nil
		}
	}
	return false, nil
}

// Kill uses cgroup.kill (Linux 5.14), which kills every process in the cgroup at once, even
// one forking at that moment; older kernels get the freeze-and-signal fallback.
func (c *V2) Kill() error {
	if pathExists(filepath.Join(c.Dir(), "cgroup.kill")) {
		return writeFile(c.Dir(), "cgroup.kill", "1")
	}
	return killFrozen(c)
}

func (c *V2) Destroy(owned []string) error { return removeDirs(c.mount, c.path, owned) }

// killFrozen kills every process of a cgroup with no cgroup.kill: freeze it so nothing forks
// between the listing and the signals, SIGKILL each, thaw it so the signals are delivered.
// A freeze that failed may still have stopped some tasks: the thaw comes either way, or they
// would never take their SIGKILL.
func killFrozen(c Manager) error {
	c.Freeze(true)
	pids, err := c.Pids()
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	if terr := c.Freeze(false); terr != nil {
		// The killed stay frozen, and the cgroup's removal would fail with EBUSY for it.
		return errors.Join(err, fmt.Errorf("thaw after the kill: %w", terr))
	}
	return err
}
