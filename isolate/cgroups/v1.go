package cgroups

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// V1 is a cgroup made of one directory in each v1 hierarchy, plus the cgroup2 hierarchy on a
// hybrid host.
type V1 struct {
	hierarchies map[string]string // controller name -> mount directory
	unified     string            // the cgroup2 mount beside them, or ""
	path        string
	made        bool // by this process, just now: no process in it yet (see deviceChanges)
}

// NewV1 returns the v1 cgroup at cgPath in the given hierarchies (controller name -> mount
// directory; two names may share one directory, as cpu and cpuacct do) and, if unified is
// not "", in the cgroup2 hierarchy mounted there.
func NewV1(hierarchies map[string]string, unified, cgPath string) *V1 {
	return &V1{hierarchies: hierarchies, unified: unified, path: cgPath}
}

func (c *V1) Version() int { return 1 }
func (c *V1) Path() string { return c.path }
func (c *V1) Dir() string  { return "" }

// mounts lists each hierarchy once, in a stable order, the cgroup2 one last.
func (c *V1) mounts() []string {
	seen := map[string]bool{}
	var dirs []string
	for _, dir := range c.hierarchies {
		if !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	if c.unified != "" {
		dirs = append(dirs, c.unified)
	}
	return dirs
}

// dir is the cgroup's directory in the hierarchy of ctrl ("unified" for cgroup2).
func (c *V1) dir(ctrl string) (string, bool) {
	mount, ok := c.hierarchies[ctrl]
	if ctrl == "unified" {
		mount, ok = c.unified, c.unified != ""
	}
	return filepath.Join(mount, c.path), ok
}

// JoinFiles are the cgroup.procs files of every hierarchy: a process joins them all, so that
// every controller, and the accounting-only ones, count it.
func (c *V1) JoinFiles() []string {
	var files []string
	for _, mount := range c.mounts() {
		files = append(files, filepath.Join(mount, c.path, "cgroup.procs"))
	}
	return files
}

// CloneDir is the cgroup in the cgroup2 hierarchy of a hybrid host, which clone3 can put a
// new process in; "" without one.
func (c *V1) CloneDir() string {
	if c.unified == "" {
		return ""
	}
	return filepath.Join(c.unified, c.path)
}

// TaskFiles are the "tasks" files of the v1 hierarchies (the cgroup2 one, on a hybrid host,
// is CloneDir's).
func (c *V1) TaskFiles() []string {
	var files []string
	for _, mount := range c.mounts() {
		if mount != c.unified {
			files = append(files, filepath.Join(mount, c.path, "tasks"))
		}
	}
	return files
}

func (c *V1) Missing() (missing []string, exists bool) {
	var all []string
	seen := map[string]bool{}
	for _, mount := range c.mounts() {
		dirs := missingDirs(mount, c.path)
		exists = exists || len(dirs) == 0 // the walk starts at the cgroup itself
		for _, p := range dirs {
			if !seen[p] {
				seen[p] = true
				all = append(all, p)
			}
		}
	}
	sort.Strings(all) // parents sort before their children
	return owned(all), exists
}

func (c *V1) Exists() bool {
	for _, mount := range c.mounts() {
		if pathExists(filepath.Join(mount, c.path)) {
			return true
		}
	}
	return false
}

// Create makes the cgroup's directory in every hierarchy. A new cpuset cgroup starts with no
// CPUs and no memory nodes, and a process cannot join it until they are set, so each cpuset
// level starts with its parent's.
func (c *V1) Create(r *specs.LinuxResources) ([]string, error) {
	warnings, err := create(c, c.makeDirs, r)
	c.made = false // processes join it from now on
	return warnings, err
}

func (c *V1) makeDirs() error {
	var made []string
	for _, mount := range c.mounts() {
		dirs, err := mkdirAll(mount, c.path)
		made = append(made, dirs...)
		if errors.Is(err, ErrExists) {
			// Another container's, in this hierarchy and so likely in all: take back only
			// what this call made, in this hierarchy and those before.
			unmake(made)
			return err
		}
		if err == nil && mount == c.hierarchies["cpuset"] {
			err = inheritCpusets(mount, c.path)
		}
		if err != nil {
			return err
		}
	}
	c.made = true
	return nil
}

// inheritCpusets gives every level from the mount down to cgPath the CPUs and memory nodes of
// its parent where it has none. Every level, not only those made here: another container may
// have made a shared parent a moment ago and not yet filled it in.
//
// Usually the cgroup has them already: DefaultParent gets cgroup.clone_children, which makes
// the kernel copy a new child's CPUs and memory nodes from it at mkdir(2) (cgroup-v1/
// cgroups.rst), so two reads show there is nothing to do, instead of eight reads and writes.
// The first container to find a cgroup in DefaultParent empty sets it, after filling it in.
func inheritCpusets(mount, cgPath string) error {
	leaf := filepath.Join(mount, cgPath)
	if hasCpuset(leaf) {
		return nil
	}
	var levels []string
	for p := cgPath; p != "/" && p != "."; p = filepath.Dir(p) {
		levels = append([]string{p}, levels...)
	}
	for _, p := range levels {
		if err := inheritCpuset(filepath.Join(mount, p)); err != nil {
			return err
		}
	}
	if filepath.Dir(cgPath) == DefaultParent {
		// Best effort: without it, the next container fills its cgroup in as this one did.
		writeFile(filepath.Join(mount, DefaultParent), "cgroup.clone_children", "1")
	}
	return nil
}

// hasCpuset reports whether the cpuset cgroup dir has CPUs and memory nodes to run on.
func hasCpuset(dir string) bool {
	cpus, _ := readFile(dir, "cpuset.cpus")
	mems, _ := readFile(dir, "cpuset.mems")
	return cpus != "" && mems != ""
}

// inheritCpuset copies cpuset.cpus and cpuset.mems from the parent of a cpuset cgroup that
// has none.
func inheritCpuset(dir string) error {
	parent := filepath.Dir(dir)
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		if v, _ := readFile(dir, file); v != "" {
			continue
		}
		v, err := readFile(parent, file)
		if err != nil {
			return err
		}
		if err := writeFile(dir, file, v); err != nil {
			return err
		}
	}
	return nil
}

// has reports what the host offers: a controller's hierarchy, the cgroup2 one ("unified"),
// swap accounting ("memsw") or the classic blkio.weight file.
func (c *V1) has(what string) bool {
	switch what {
	case "unified":
		return c.unified != ""
	case "memsw":
		return pathExists(filepath.Join(c.hierarchies["memory"], "memory.memsw.limit_in_bytes"))
	case "blkio.weight", "blkio.leaf_weight":
		return pathExists(filepath.Join(c.hierarchies["blkio"], what))
	}
	_, ok := c.hierarchies[what]
	return ok
}

// Update writes the limits in r to the hierarchies that hold them.
func (c *V1) Update(r *specs.LinuxResources) ([]string, error) {
	l, err := v1Limits(r, c.has)
	if err != nil {
		return nil, err
	}
	if err := c.enableUnified(l.writes); err != nil {
		return nil, err
	}
	l.writes = c.deviceChanges(l.writes)
	var missing []string
	files := &controlFiles{}
	defer files.close()
	for _, w := range l.writes {
		dir, ok := c.dir(w.ctrl)
		if !ok {
			missing = append(missing, w.file)
			continue
		}
		if err := c.write(files, dir, w); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("this host mounts no cgroup hierarchy for %v", missing)
	}
	return l.warnings, nil
}

// deviceChanges replaces the device rules among writes by the changes they make to the
// cgroup's devices.list, when it can (see devices_v1.go): an update then never empties the
// list of the running container. The rules are one run of writes; the changes take their place.
// A cgroup Create just made has no process to keep devices for: its rules go as they are,
// without reading the list.
func (c *V1) deviceChanges(writes []write) []write {
	first := slices.IndexFunc(writes, func(w write) bool { return w.ctrl == "devices" })
	dir, ok := c.dir("devices")
	if first < 0 || !ok || c.made {
		return writes
	}
	end := first + 1
	for end < len(writes) && writes[end].ctrl == "devices" {
		end++
	}
	list, err := readFile(dir, "devices.list")
	if err != nil {
		return writes
	}
	diff, ok := deviceTransition(list, writes[first:end])
	if !ok {
		return writes
	}
	return slices.Concat(writes[:first], diff, writes[end:])
}

// enableUnified enables, in the cgroup2 hierarchy of a hybrid host, the controllers whose files
// the writes name there (hugetlb.2MB.max needs hugetlb): a cgroup2 directory has a
// controller's files only when its parent enabled it, from the hierarchy's root down, as
// config-linux.md asks ("MUST ensure that the needed cgroup controllers are enabled"). Only
// what the limits need, and only when they ask, since enabling one at the root gives every
// top-level cgroup of the host its files too; it stays enabled, as other containers may use it.
func (c *V1) enableUnified(writes []write) error {
	var need []string
	for _, w := range writes {
		ctrl, _, _ := strings.Cut(w.file, ".")
		if w.ctrl == "unified" && ctrl != "cgroup" && !slices.Contains(need, ctrl) {
			need = append(need, ctrl)
		}
	}
	if len(need) == 0 || c.unified == "" {
		return nil
	}
	return enableInAncestors(c.unified, c.path, need)
}

// write writes one limit. The memory limit must stay at or below memory+swap (memsw): a new
// limit above the current memsw first raises memsw by as much, so that the swap the container
// was allowed stays what it was (v2 keeps swap apart; runc fails here instead), and a memsw
// the same update names is written after. A limit below what the container uses now fails
// with EBUSY once the kernel could not reclaim enough: the error says so.
func (c *V1) write(files *controlFiles, dir string, w write) error {
	err := files.write(dir, w.file, w.value)
	if w.file != "memory.limit_in_bytes" {
		return err
	}
	switch {
	case errors.Is(err, unix.EINVAL):
		if memsw, ok := c.raisedMemsw(dir, w.value); ok && files.write(dir, "memory.memsw.limit_in_bytes", memsw) == nil {
			err = files.write(dir, w.file, w.value)
		}
	case errors.Is(err, unix.EBUSY):
		usage, _ := readFile(dir, "memory.usage_in_bytes")
		err = fmt.Errorf("memory limit %s is below what the container uses now (%s bytes), and the kernel could not reclaim enough: %w", w.value, usage, err)
	}
	return err
}

// raisedMemsw is the memsw for a new limit that keeps the current swap allowance (memsw minus
// limit): see memswFor.
func (c *V1) raisedMemsw(dir, newLimit string) (string, bool) {
	limit, err1 := readFile(dir, "memory.limit_in_bytes")
	memsw, err2 := readFile(dir, "memory.memsw.limit_in_bytes")
	l, err3 := strconv.ParseInt(limit, 10, 64)
	m, err4 := strconv.ParseInt(memsw, 10, 64)
	n, err5 := strconv.ParseInt(newLimit, 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || m < l {
		return "", false
	}
	return memswFor(l, m, n), true
}

// v1Unlimited is what a v1 memory limit file reads with no limit: the largest page-aligned
// int64 (PAGE_COUNTER_MAX pages).
const v1Unlimited = math.MaxInt64 &^ 4095

// memswFor is memsw for the new limit n, from the current limit l and memsw m: n plus the
// swap allowed now, or no limit ("-1") when n is none (-1, or the unlimited value read back
// from a file) or the sum would reach it.
func memswFor(l, m, n int64) string {
	if n < 0 || n >= v1Unlimited || n > v1Unlimited-(m-l) {
		return "-1"
	}
	return strconv.FormatInt(n+(m-l), 10)
}

// Pids lists the processes from the first hierarchy that has the cgroup.
func (c *V1) Pids() ([]int, error) {
	var firstErr error
	for _, mount := range c.mounts() {
		pids, err := readPids(filepath.Join(mount, c.path))
		if err == nil {
			return pids, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// Freeze writes freezer.state and waits until it reads back FROZEN (or THAWED): freezing
// goes through FREEZING while the kernel stops each task. A freeze that does not finish (a
// task stuck in the kernel) is undone, as runc does: left FREEZING, some tasks would stay
// stopped in a container that reads as running, which resume would refuse.
func (c *V1) Freeze(freeze bool) error {
	dir, ok := c.dir("freezer")
	if !ok {
		return errors.New("this host mounts no freezer cgroup hierarchy: pause needs it")
	}
	want := map[bool]string{true: "FROZEN", false: "THAWED"}[freeze]
	for deadline := time.Now().Add(freezeTimeout); ; time.Sleep(time.Millisecond) {
		if err := writeFile(dir, "freezer.state", want); err != nil {
			return err
		}
		if state, err := readFile(dir, "freezer.state"); err != nil || state == want {
			return err
		}
		if time.Now().After(deadline) {
			if freeze {
				writeFile(dir, "freezer.state", "THAWED")
			}
			return fmt.Errorf("%s: freezer.state is not %s after %v", dir, want, freezeTimeout)
		}
	}
}

func (c *V1) Frozen() (bool, error) {
	dir, ok := c.dir("freezer")
	if !ok {
		return false, nil
	}
	state, err := readFile(dir, "freezer.state")
	return state == "FROZEN", err
}

// Kill freezes, signals and thaws (v1 has no cgroup.kill). On a hybrid host the cgroup2 part
// may have cgroup.kill, which catches the same processes; a v1-frozen process still cannot
// act on its SIGKILL until it is thawed.
func (c *V1) Kill() error {
	if c.unified != "" {
		dir := filepath.Join(c.unified, c.path)
		if pathExists(filepath.Join(dir, "cgroup.kill")) {
			if err := writeFile(dir, "cgroup.kill", "1"); err != nil {
				return err
			}
			if frozen, _ := c.Frozen(); frozen {
				return c.Freeze(false)
			}
			return nil
		}
	}
	return killFrozen(c)
}

// Destroy removes the cgroup from every hierarchy. A cgroup frozen when its processes were
// killed is thawed first, or they could never exit.
func (c *V1) Destroy(owned []string) error {
	var errs []error
	if frozen, _ := c.Frozen(); frozen {
		if err := c.Freeze(false); err != nil {
			errs = append(errs, fmt.Errorf("thaw before removal: %w", err))
		}
	}
	for _, mount := range c.mounts() {
		errs = append(errs, removeDirs(mount, c.path, owned))
	}
	return errors.Join(errs...)
}

// ensure both drivers satisfy Manager.
var (
	_ Manager = (*V1)(nil)
	_ Manager = (*V2)(nil)
)

// OwnTaskFiles are the "tasks" files of the cgroups the calling thread is in, in each of c's
// v1 hierarchies (from /proc/thread-self/cgroup): where a thread that joined c's cgroups
// with JoinSelf goes back to with JoinSelf again. A hierarchy the thread is in no cgroup of
// (there is none on a v1 host) is left out.
func (c *V1) OwnTaskFiles() ([]string, error) {
	data, err := readFile("/proc/thread-self", "cgroup")
	if err != nil {
		return nil, err
	}
	var files []string
	seen := map[string]bool{}
	for line := range strings.Lines(data) {
		// hierarchy-ID:controller-list:cgroup-path (cgroups(7))
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 || fields[1] == "" {
			continue // cgroup2's line: CloneDir's hierarchy
		}
		for _, ctrl := range strings.Split(fields[1], ",") {
			mount, ok := c.hierarchies[strings.TrimPrefix(ctrl, "name=")]
			if ok && !seen[mount] {
				seen[mount] = true
				files = append(files, filepath.Join(mount, fields[2], "tasks"))
			}
		}
	}
	return files, nil
}
